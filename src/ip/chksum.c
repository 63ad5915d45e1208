/* chksum.c: the Internet checksum (RFC 1071) and the TCP/UDP
 * pseudo-header (RFC 9293 section 3.1, RFC 768).
 *
 * Sums are kept in 32 bits, 16-bit words big-endian; odd-length pieces of
 * a chain are handled by swapping the partial sum (RFC 1071 section 2(B):
 * the sum is byte-order independent up to a swap).
 */
#include "ip/ip_internal.h"

uint32_t ip_chksum_add(uint32_t sum, const void *data, size_t len) {
  const uint8_t *p = data;
  uint64_t acc = sum;
  /* 8 bytes per step, carries collected in the upper half. */
  while (len >= 8) {
    acc += ((uint32_t)p[0] << 8 | p[1]) + ((uint32_t)p[2] << 8 | p[3]) +
           ((uint32_t)p[4] << 8 | p[5]) + ((uint32_t)p[6] << 8 | p[7]);
    p += 8;
    len -= 8;
  }
  while (len >= 2) {
    acc += (uint32_t)p[0] << 8 | p[1];
    p += 2;
    len -= 2;
  }
  if (len) acc += (uint32_t)p[0] << 8;
  while (acc >> 32) acc = (acc & 0xffffffffu) + (acc >> 32);
  uint32_t s = (uint32_t)acc;
  /* keep headroom for further adds: fold to 17 bits */
  s = (s & 0xffffu) + (s >> 16);
  return s;
}

uint16_t ip_chksum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffffu) + (sum >> 16);
  return (uint16_t)sum;
}

uint16_t ip_chksum(const void *data, size_t len) {
  return (uint16_t)~ip_chksum_fold(ip_chksum_add(0, data, len));
}

static uint32_t swap16(uint32_t s) {
  uint16_t f = ip_chksum_fold(s);
  return (uint32_t)(uint16_t)((f << 8) | (f >> 8));
}

IP_NOINLINE static uint32_t pseudo_sum(uint8_t proto, uint32_t len, uint32_t src,
                           uint32_t dst) {
  return (src >> 16) + (src & 0xffffu) + (dst >> 16) + (dst & 0xffffu) +
         proto + (len >> 16) + (len & 0xffffu);
}

static uint32_t chain_sum(const tern_pbuf *p, size_t len) {
  uint32_t sum = 0;
  bool odd = false; /* the bytes summed so far are odd in number */
  size_t left = len;
  for (; p && left; p = p->next) {
    size_t n = p->len < left ? p->len : left;
    uint32_t part = ip_chksum_add(0, p->payload, n);
    sum += odd ? swap16(part) : part;
    sum = (sum & 0xffffu) + (sum >> 16);
    if (n & 1) odd = !odd;
    left -= n;
  }
  return sum;
}

uint16_t ip_chksum_pbuf(const tern_pbuf *p, size_t len) {
  return (uint16_t)~ip_chksum_fold(chain_sum(p, len));
}

uint16_t ip_chksum_pseudo(const tern_pbuf *p, uint8_t proto, uint32_t len,
                          uint32_t src, uint32_t dst) {
  uint32_t sum = chain_sum(p, len) + pseudo_sum(proto, len, src, dst);
  return (uint16_t)~ip_chksum_fold(sum);
}

uint16_t ip_chksum_pseudo_partial(uint8_t proto, uint32_t len, uint32_t src,
                                  uint32_t dst) {
  return ip_chksum_fold(pseudo_sum(proto, len, src, dst));
}
