/* fuzz/sntp_msg.c: libFuzzer target for the SNTP reply checks
 * (src/proto/sntp_msg.c). The expected origin is taken from the input's
 * own origin field half the time (so the checks past it are reached) and
 * from its first bytes otherwise.
 *
 * Checked beyond "no crash": TERN_OK means a server reply of version 3 or
 * 4, stratum 1..15, no leap alarm; TERN_EAGAIN means stratum 0 with a
 * printable four-letter kiss code; timestamps convert back and forth.
 *
 *   make fuzz   (or tools/run-fuzz build/fuzz 60)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sntp_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t xmit = size >= 8 ? get64(data) : 0;
  if (size >= TERN__SNTP_LEN && (data[0] & 0x80) == 0) xmit = get64(data + 24);
  tern__sntp_reply r;
  int rc = tern__sntp_parse(data, size, xmit, &r);
  if (rc == TERN_OK) {
    CHECK((data[0] & 7) == 4);
    CHECK(r.version == 3 || r.version == 4);
    CHECK(r.stratum >= 1 && r.stratum <= 15 && r.leap != 3);
    int64_t off, delay;
    tern__sntp_offset(r.t2_us - 1000, r.t2_us, r.t3_us, r.t3_us + 1000, &off, &delay);
    CHECK(delay >= 0);
  } else if (rc == TERN_EAGAIN) {
    CHECK(r.stratum == 0 && strlen(r.kiss) == 4);
    for (int i = 0; i < 4; i++) CHECK(r.kiss[i] >= 0x20 && r.kiss[i] <= 0x7e);
  } else {
    CHECK(rc == TERN_EPROTO);
  }
  if (size >= 8) { /* NTP <-> Unix round trip within a microsecond */
    uint64_t ntp = get64(data);
    int64_t us = tern__ntp_to_unix_us(ntp);
    uint64_t again = tern__ntp_from_unix_us(us);
    int64_t us2 = tern__ntp_to_unix_us(again);
    CHECK(us2 - us <= 1 && us - us2 <= 1);
  }
  return 0;
}
