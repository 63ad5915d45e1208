/* proto/sntp_msg.c: SNTP packets (see sntp_msg.h).
 *
 * Read first: RFC 4330 3 (timestamps and the 2036 era), 4 (message
 * format), 5 (client operation: what to check in a reply, kiss-o'-death);
 * RFC 5905 7.3 (header fields), 8 (on-wire protocol: offset and delay).
 */
#include <string.h>

#include "proto/sntp_msg.h"

/* Seconds from 1900-01-01 to 1970-01-01. */
#define NTP_UNIX_DELTA 2208988800LL
#define MODE_CLIENT 3
#define MODE_SERVER 4

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

uint64_t tern__ntp_from_unix_us(int64_t us) {
  int64_t sec = us / 1000000, frac_us = us % 1000000;
  if (frac_us < 0) {
    sec--;
    frac_us += 1000000;
  }
  uint64_t ntp_sec = (uint64_t)(sec + NTP_UNIX_DELTA); /* wraps in 2036 */
  uint64_t frac = ((uint64_t)frac_us << 32) / 1000000;
  return (ntp_sec & 0xffffffffu) << 32 | frac;
}

int64_t tern__ntp_to_unix_us(uint64_t ntp) {
  int64_t sec = (int64_t)(ntp >> 32);
  /* RFC 4330 3: top bit clear means era 1 (2036-2104) */
  if (!(sec & 0x80000000LL)) sec += 0x100000000LL;
  uint64_t frac_us = ((ntp & 0xffffffffu) * 1000000) >> 32;
  return (sec - NTP_UNIX_DELTA) * 1000000 + (int64_t)frac_us;
}

void tern__sntp_request(uint8_t out[TERN__SNTP_LEN], uint64_t xmit) {
  memset(out, 0, TERN__SNTP_LEN);
  out[0] = 0 << 6 | 4 << 3 | MODE_CLIENT; /* LI 0, VN 4, client */
  put64(out + 40, xmit);
}

int tern__sntp_parse(const uint8_t *p, size_t len, uint64_t xmit,
                     tern__sntp_reply *r) {
  memset(r, 0, sizeof(*r));
  if (p == NULL || len < TERN__SNTP_LEN) return TERN_EPROTO;
  r->leap = p[0] >> 6;
  r->version = (p[0] >> 3) & 7;
  uint8_t mode = p[0] & 7;
  r->stratum = p[1];
  r->precision = (int8_t)p[3];
  /* RFC 4330 5: a server reply (mode 4) to us: the origin timestamp is
   * the transmit timestamp we sent, else it is late or forged. */
  if (mode != MODE_SERVER || r->version < 3 || r->version > 4 ||
      get64(p + 24) != xmit)
    return TERN_EPROTO;
  if (r->stratum == 0) { /* kiss-o'-death: the code is in the refid */
    memcpy(r->kiss, p + 12, 4);
    for (int i = 0; i < 4; i++)
      if (r->kiss[i] < 0x20 || r->kiss[i] > 0x7e) r->kiss[i] = '?';
    return TERN_EAGAIN;
  }
  uint64_t t2 = get64(p + 32), t3 = get64(p + 40);
  /* LI 3: the server's clock is not synchronised; stratum 16 and up are
   * unsynchronised or reserved (RFC 5905 7.3) */
  if (r->leap == 3 || r->stratum > 15 || t2 == 0 || t3 == 0)
    return TERN_EPROTO;
  r->t2_us = tern__ntp_to_unix_us(t2);
  r->t3_us = tern__ntp_to_unix_us(t3);
  return TERN_OK;
}

void tern__sntp_offset(int64_t t1, int64_t t2, int64_t t3, int64_t t4,
                       int64_t *offset, int64_t *delay) {
  *offset = ((t2 - t1) + (t3 - t4)) / 2;
  int64_t d = (t4 - t1) - (t3 - t2);
  *delay = d < 0 ? 0 : d;
}
