/* base/retry.c: retry and backoff policies (tern/retry.h). */
#include "tern/retry.h"

/* Jitter needs spread, not secrecy: the microsecond clock mixed through a
 * 64-bit finaliser (splitmix64) differs from call to call and device to
 * device. (base has no access to the port layer's tern_random.) */
static uint32_t spread(const void *salt) {
  uint64_t x = tern_clock_us() ^ (uint64_t)(uintptr_t)salt;
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return (uint32_t)(x ^ (x >> 31));
}

uint32_t tern_retry_next(const tern_retry_policy *p, uint16_t *attempt,
                         bool *give_up) {
  uint16_t a = *attempt;
  if (a < UINT16_MAX) *attempt = (uint16_t)(a + 1);
  if (give_up) *give_up = p->conceal && a >= p->conceal;
  if (p->table_ms == NULL || p->n == 0) return 0;
  uint32_t ms = p->table_ms[a < p->n ? a : p->n - 1];
  unsigned pct = p->jitter_pct > 100 ? 100 : p->jitter_pct;
  if (pct && ms) {
    uint32_t r = spread(attempt);
    uint64_t span = (uint64_t)ms * pct / 100; /* 0..span off the delay */
    ms -= (uint32_t)(span ? r % (span + 1) : 0);
  }
  return ms;
}
