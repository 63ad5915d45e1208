/* src/port/posix/mutex.c: tern_mutex on pthread_mutex_t.
 *
 * Debug builds use PTHREAD_MUTEX_ERRORCHECK, so relocking from the owner
 * or unlocking someone else's mutex aborts with a message instead of
 * deadlocking or corrupting state. Release builds use the default type.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posix_internal.h"
#include "tern/port.h"

struct tern_mutex {
  pthread_mutex_t mu;
};

/* lock/unlock return void: a failure is a bug in the caller. */
static void tern__mutex_fail(const char *op, int rc) {
  fprintf(stderr, "tern: mutex %s failed: %s\n", op, strerror(rc));
  abort();
}

int tern_mutex_new(tern_mutex **out) {
  if (out == NULL)
    return TERN_EINVAL;
  *out = NULL;
  tern_mutex *m = malloc(sizeof(*m));
  if (m == NULL)
    return TERN_ENOMEM;
  pthread_mutexattr_t a;
  int rc = pthread_mutexattr_init(&a);
  if (rc == 0) {
#ifndef NDEBUG
    rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
#endif
    if (rc == 0)
      rc = pthread_mutex_init(&m->mu, &a);
    pthread_mutexattr_destroy(&a);
  }
  if (rc != 0) {
    free(m);
    return tern__posix_err(rc);
  }
  *out = m;
  return TERN_OK;
}

void tern_mutex_free(tern_mutex *m) {
  if (m == NULL)
    return;
  pthread_mutex_destroy(&m->mu);
  free(m);
}

void tern_mutex_lock(tern_mutex *m) {
  int rc = pthread_mutex_lock(&m->mu);
  if (rc != 0)
    tern__mutex_fail("lock", rc);
}

void tern_mutex_unlock(tern_mutex *m) {
  int rc = pthread_mutex_unlock(&m->mu);
  if (rc != 0)
    tern__mutex_fail("unlock", rc);
}
