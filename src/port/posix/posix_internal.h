/* src/port/posix/posix_internal.h: helpers shared by the POSIX port's
 * blocking primitives (sem.c, mbox.c).
 *
 * Timed waits run on CLOCK_MONOTONIC (a condattr), not on the realtime
 * clock that sem_timedwait() and a default pthread_cond_timedwait() use:
 * someone setting the wall clock (NTP step, SNTP on a device that boots in
 * 1970) must neither stretch nor cut short a timeout.
 */
#ifndef TERN_PORT_POSIX_INTERNAL_H
#define TERN_PORT_POSIX_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "tern/base.h"

/* pthread functions return an errno value; map the few they use. Local to
 * the port so it needs nothing from base but the codes. */
static inline int tern__posix_err(int e) {
  switch (e) {
  case 0: return TERN_OK;
  case ENOMEM: return TERN_ENOMEM;
  case EAGAIN: return TERN_EAGAIN;
  case ETIMEDOUT: return TERN_ETIMEDOUT;
  case EINVAL: return TERN_EINVAL;
  case EBUSY: return TERN_EBUSY;
  case EPERM: return TERN_EPERM;
  case EDEADLK: return TERN_EBUSY;
  default: return TERN_EUNKNOWN;
  }
}

static inline int tern__cond_init_mono(pthread_cond_t *c) {
  pthread_condattr_t a;
  int rc = pthread_condattr_init(&a);
  if (rc != 0)
    return rc;
  rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  if (rc == 0)
    rc = pthread_cond_init(c, &a);
  pthread_condattr_destroy(&a);
  return rc;
}

/* The absolute CLOCK_MONOTONIC time timeout_ms (> 0) from now. Computed
 * once per call so spurious wake-ups do not restart the timeout. */
static inline void tern__deadline(struct timespec *ts, int timeout_ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += timeout_ms / 1000;
  ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec += 1;
    ts->tv_nsec -= 1000000000L;
  }
}

/* One wait for a caller that loops on its own predicate with m held.
 * timeout_ms < 0 waits without limit, 0 does not wait, > 0 waits until
 * *deadline. Returns TERN_ETIMEDOUT once the time is up; the caller must
 * still re-check its predicate (a wake-up and the timeout can race). */
static inline int tern__cond_wait(pthread_cond_t *c, pthread_mutex_t *m,
                                  int timeout_ms,
                                  const struct timespec *deadline) {
  if (timeout_ms == 0)
    return TERN_ETIMEDOUT;
  if (timeout_ms < 0) {
    pthread_cond_wait(c, m);
    return TERN_OK;
  }
  if (pthread_cond_timedwait(c, m, deadline) == ETIMEDOUT)
    return TERN_ETIMEDOUT;
  return TERN_OK;
}

#endif /* TERN_PORT_POSIX_INTERNAL_H */
