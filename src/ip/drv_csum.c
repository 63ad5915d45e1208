/* drv_csum.c: the drivers' software checksum offload. A netif that
 * announces TERN_NETIF_TX_CSUM gets frames whose TCP/UDP checksum field
 * holds only the pseudo-header sum (tern_tx_meta, as Linux's
 * CHECKSUM_PARTIAL); the kernel hands a TAP reader the same (virtio
 * NEEDS_CSUM). Where no hardware finishes the job (the in-memory wire, a
 * TAP frame fed into our own stack), these do: the ones' complement of the
 * sum from csum_start to the end of the frame, stored at
 * csum_start + csum_offset (RFC 1071; virtio 1.1 section 5.1.6.2).
 */
#include <string.h>

#include "ip/drv_internal.h"

uint32_t tern__drv_sum(uint32_t sum, const uint8_t *d, size_t len) {
  uint64_t s = sum;
  while (len > 1) {
    s += (uint32_t)((d[0] << 8) | d[1]);
    d += 2;
    len -= 2;
  }
  if (len) s += (uint32_t)(d[0] << 8);
  while (s >> 32) s = (s & 0xffffffffu) + (s >> 32);
  return (uint32_t)s;
}

uint16_t tern__drv_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffffu) + (sum >> 16);
  return (uint16_t)sum;
}

/* RFC 768: a computed UDP checksum of zero is sent as all ones (zero
 * means "no checksum"). The UDP checksum sits at offset 6. */
static uint16_t final_csum(uint32_t sum, size_t offset) {
  uint16_t c = (uint16_t)~tern__drv_fold(sum);
  if (c == 0 && offset == 6) c = 0xffff;
  return c;
}

bool tern__drv_csum_flat(uint8_t *frame, size_t len, size_t start,
                         size_t offset) {
  if (start > len || offset + 2 > len - start) return false;
  uint16_t c = final_csum(tern__drv_sum(0, frame + start, len - start), offset);
  frame[start + offset] = (uint8_t)(c >> 8);
  frame[start + offset + 1] = (uint8_t)c;
  return true;
}

bool tern__drv_csum_chain(tern_pbuf *frame, size_t start, size_t offset) {
  size_t tot = tern_pbuf_tot_len(frame);
  if (start > tot || offset + 2 > tot - start) return false;
  uint32_t sum = 0;
  size_t pos = 0; /* chain offset of q's first byte */
  bool odd = false; /* bytes summed so far are odd: swap the next piece */
  for (const tern_pbuf *q = frame; q; q = tern_pbuf_next(q)) {
    size_t qlen = tern_pbuf_len(q);
    const uint8_t *d = tern_pbuf_data(q);
    size_t skip = pos < start ? start - pos : 0;
    pos += qlen;
    if (skip >= qlen) continue;
    d += skip;
    qlen -= skip;
    uint16_t part = tern__drv_fold(tern__drv_sum(0, d, qlen));
    /* RFC 1071 2(B): a piece that starts on an odd byte contributes its
     * sum byte-swapped. */
    if (odd) part = (uint16_t)((part << 8) | (part >> 8));
    sum += part;
    odd ^= (qlen & 1) != 0;
  }
  uint16_t c = final_csum(sum, offset);
  uint8_t be[2] = {(uint8_t)(c >> 8), (uint8_t)c};
  return tern_pbuf_copy_in(frame, start + offset, be, 2) == TERN_OK;
}
