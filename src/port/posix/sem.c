/* src/port/posix/sem.c: a counting semaphore from a mutex, a condition
 * variable on CLOCK_MONOTONIC and a count.
 *
 * Not sem_t: sem_timedwait() takes a CLOCK_REALTIME deadline, so a wall
 * clock step would change the length of a timeout (posix_internal.h).
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include "posix_internal.h"
#include "tern/port.h"

struct tern_sem {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned count;
};

int tern_sem_new(tern_sem **out, unsigned initial) {
  if (out == NULL)
    return TERN_EINVAL;
  *out = NULL;
  tern_sem *s = malloc(sizeof(*s));
  if (s == NULL)
    return TERN_ENOMEM;
  int rc = pthread_mutex_init(&s->mu, NULL);
  if (rc == 0) {
    rc = tern__cond_init_mono(&s->cv);
    if (rc != 0)
      pthread_mutex_destroy(&s->mu);
  }
  if (rc != 0) {
    free(s);
    return tern__posix_err(rc);
  }
  s->count = initial;
  *out = s;
  return TERN_OK;
}

void tern_sem_free(tern_sem *s) {
  if (s == NULL)
    return;
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

void tern_sem_post(tern_sem *s) {
  pthread_mutex_lock(&s->mu);
  /* Saturate rather than wrap to 0: 4 billion unconsumed posts is a bug
   * upstream, and wrapping would turn it into a deadlock. */
  if (s->count < UINT_MAX)
    s->count++;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

int tern_sem_wait(tern_sem *s, int timeout_ms) {
  struct timespec deadline = {0, 0};
  if (timeout_ms > 0)
    tern__deadline(&deadline, timeout_ms);
  pthread_mutex_lock(&s->mu);
  int rc = TERN_OK;
  while (s->count == 0 && rc == TERN_OK)
    rc = tern__cond_wait(&s->cv, &s->mu, timeout_ms, &deadline);
  /* A post that raced with the timeout still counts. */
  if (s->count > 0) {
    s->count--;
    rc = TERN_OK;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}
