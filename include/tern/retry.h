/* tern/retry.h: retry and backoff policies, shared by the helpers (DNS,
 * SNTP, later DHCP and reconnecting clients) and open to users.
 *
 *   static const uint32_t delays[] = {1000, 2000, 5000, 10000, 30000};
 *   static const tern_retry_policy p = {delays, 5, 3, 20};
 *   uint16_t attempt = 0;                      // per thing being retried
 *   bool give_up;
 *   uint32_t ms = tern_retry_next(&p, &attempt, &give_up);
 *
 * The n-th retry waits table[n] (the last entry again once the table is
 * used up), less up to jitter_pct percent at random so many devices that
 * failed together do not retry together. conceal: how many retries may
 * happen before the failure is worth telling anyone about (give_up turns
 * true on the retry after that; 0: never).
 */
#ifndef TERN_RETRY_H
#define TERN_RETRY_H

#include "tern/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_retry_policy {
  const uint32_t *table_ms;
  uint16_t n;
  uint16_t conceal;
  uint8_t jitter_pct; /* 0..100 */
} tern_retry_policy;

/* The delay before the next retry; *attempt counts up. */
TERN_API uint32_t tern_retry_next(const tern_retry_policy *p, uint16_t *attempt,
                                  bool *give_up);

#ifdef __cplusplus
}
#endif

#endif
