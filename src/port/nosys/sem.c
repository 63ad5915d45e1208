/* src/port/nosys/sem.c: a counting semaphore for a single-threaded
 * superloop: a count.
 *
 * Waiting cannot block: the only thread that could post is the one that
 * would be waiting. So a wait with count 0 returns TERN_ETIMEDOUT at once
 * for any timeout, TERN_WAIT_FOREVER included (a real block would hang the
 * device; the caller's timeout path is the honest outcome). Not
 * interrupt-safe (tern/port.h).
 */
#include <limits.h>
#include <stdlib.h>

#include "tern/base.h"
#include "tern/port.h"

struct tern_sem {
  unsigned count;
};

int tern_sem_new(tern_sem **out, unsigned initial) {
  if (out == NULL)
    return TERN_EINVAL;
  tern_sem *s = malloc(sizeof(*s));
  *out = s;
  if (s == NULL)
    return TERN_ENOMEM;
  s->count = initial;
  return TERN_OK;
}

void tern_sem_free(tern_sem *s) { free(s); }

void tern_sem_post(tern_sem *s) {
  /* Saturate as the POSIX port does: wrapping to 0 would lose posts. */
  if (s->count < UINT_MAX)
    s->count++;
}

int tern_sem_wait(tern_sem *s, int timeout_ms) {
  (void)timeout_ms;
  if (s->count == 0)
    return TERN_ETIMEDOUT;
  s->count--;
  return TERN_OK;
}
