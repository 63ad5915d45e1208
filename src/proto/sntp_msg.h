/* sntp_msg.h: SNTP/NTP packets on the wire (RFC 4330 4-5, RFC 5905 7.3,
 * 8), the part of the SNTP client that needs no network: build a client
 * request, check a server's reply, and turn the four timestamps into an
 * offset and a round-trip delay. Internal (tern__ prefix).
 */
#ifndef TERN_PROTO_SNTP_MSG_H
#define TERN_PROTO_SNTP_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "tern/base.h"

#define TERN__SNTP_LEN 48

/* A reply, checked. Times are microseconds since 1970 (Unix). */
typedef struct tern__sntp_reply {
  uint8_t leap, version, stratum;
  int8_t precision;
  char kiss[5];        /* stratum 0: the kiss code ("RATE", "DENY"...) */
  int64_t t2_us, t3_us; /* server receive, server transmit */
} tern__sntp_reply;

/* NTP timestamps (RFC 5905 6: seconds since 1900 . 2^-32 fractions) to
 * and from Unix microseconds. Era: RFC 4330 3 (a seconds value with its
 * top bit clear is after 2036-02-07). */
uint64_t tern__ntp_from_unix_us(int64_t us);
int64_t tern__ntp_to_unix_us(uint64_t ntp);

/* Write a client request (mode 3, version 4) whose transmit timestamp is
 * xmit (an NTP timestamp; the reply must echo it as its origin). */
void tern__sntp_request(uint8_t out[TERN__SNTP_LEN], uint64_t xmit);

/* Check a reply to the request whose transmit timestamp was xmit:
 *   TERN_OK      a usable time (r filled)
 *   TERN_EAGAIN  a kiss-o'-death (stratum 0, r->kiss): stop asking this
 *                server for a while (RATE) or for good (DENY, RSTR)
 *   TERN_EPROTO  not a usable answer to our request: short, not a server
 *                reply, origin does not match (late, forged), leap alarm
 *                (unsynchronised), stratum above 15, zero timestamps */
int tern__sntp_parse(const uint8_t *p, size_t len, uint64_t xmit,
                     tern__sntp_reply *r);

/* RFC 4330 5 / RFC 5905 8: from T1 (our send), T2, T3 (the server's
 * receive and transmit) and T4 (our receive), all Unix microseconds:
 * offset = ((T2 - T1) + (T3 - T4)) / 2, delay = (T4 - T1) - (T3 - T2),
 * delay clamped at 0. */
void tern__sntp_offset(int64_t t1, int64_t t2, int64_t t3, int64_t t4,
                       int64_t *offset, int64_t *delay);

#endif
