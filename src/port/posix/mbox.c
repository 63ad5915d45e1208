/* src/port/posix/mbox.c: a bounded FIFO of pointers for many producers and
 * many consumers.
 *
 * A ring of `cap` slots allocated once with the mailbox (post never
 * allocates), one mutex, and two condition variables so producers waiting
 * for room and consumers waiting for messages wake only each other's
 * counterpart. Every state change signals one waiter of the other kind; a
 * waiter whose timed wait raced with a signal re-checks the ring before
 * reporting a timeout, so no wake-up is lost.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "posix_internal.h"
#include "tern/port.h"

struct tern_mbox {
  pthread_mutex_t mu;
  pthread_cond_t not_empty;
  pthread_cond_t not_full;
  size_t cap;
  size_t head; /* index of the oldest message */
  size_t len;  /* messages held */
  void *slot[];
};

static int tern__mbox_sync_init(tern_mbox *mb) {
  int rc = pthread_mutex_init(&mb->mu, NULL);
  if (rc != 0)
    return rc;
  rc = tern__cond_init_mono(&mb->not_empty);
  if (rc == 0) {
    rc = tern__cond_init_mono(&mb->not_full);
    if (rc != 0)
      pthread_cond_destroy(&mb->not_empty);
  }
  if (rc != 0)
    pthread_mutex_destroy(&mb->mu);
  return rc;
}

int tern_mbox_new(tern_mbox **out, size_t capacity) {
  if (out == NULL)
    return TERN_EINVAL;
  *out = NULL;
  if (capacity == 0)
    return TERN_EINVAL;
  if (capacity > (SIZE_MAX - sizeof(tern_mbox)) / sizeof(void *))
    return TERN_ENOMEM;
  tern_mbox *mb = malloc(sizeof(*mb) + capacity * sizeof(void *));
  if (mb == NULL)
    return TERN_ENOMEM;
  int rc = tern__mbox_sync_init(mb);
  if (rc != 0) {
    free(mb);
    return tern__posix_err(rc);
  }
  mb->cap = capacity;
  mb->head = 0;
  mb->len = 0;
  *out = mb;
  return TERN_OK;
}

void tern_mbox_free(tern_mbox *mb) {
  if (mb == NULL)
    return;
  pthread_cond_destroy(&mb->not_full);
  pthread_cond_destroy(&mb->not_empty);
  pthread_mutex_destroy(&mb->mu);
  free(mb);
}

/* post/fetch with TERN_ETIMEDOUT for "no room / nothing in time"; the try
 * variants translate that to their own codes. */
static int tern__mbox_put(tern_mbox *mb, void *msg, int timeout_ms) {
  struct timespec deadline = {0, 0};
  if (timeout_ms > 0)
    tern__deadline(&deadline, timeout_ms);
  pthread_mutex_lock(&mb->mu);
  int rc = TERN_OK;
  while (mb->len == mb->cap && rc == TERN_OK)
    rc = tern__cond_wait(&mb->not_full, &mb->mu, timeout_ms, &deadline);
  if (mb->len < mb->cap) {
    size_t tail = mb->head + mb->len;
    mb->slot[tail < mb->cap ? tail : tail - mb->cap] = msg;
    mb->len++;
    pthread_cond_signal(&mb->not_empty);
    rc = TERN_OK;
  }
  pthread_mutex_unlock(&mb->mu);
  return rc;
}

static int tern__mbox_get(tern_mbox *mb, void **msg, int timeout_ms) {
  struct timespec deadline = {0, 0};
  if (timeout_ms > 0)
    tern__deadline(&deadline, timeout_ms);
  pthread_mutex_lock(&mb->mu);
  int rc = TERN_OK;
  while (mb->len == 0 && rc == TERN_OK)
    rc = tern__cond_wait(&mb->not_empty, &mb->mu, timeout_ms, &deadline);
  if (mb->len > 0) {
    void *m = mb->slot[mb->head];
    mb->head = mb->head + 1 == mb->cap ? 0 : mb->head + 1;
    mb->len--;
    if (msg != NULL)
      *msg = m;
    pthread_cond_signal(&mb->not_full);
    rc = TERN_OK;
  }
  pthread_mutex_unlock(&mb->mu);
  return rc;
}

int tern_mbox_post(tern_mbox *mb, void *msg, int timeout_ms) {
  if (mb == NULL)
    return TERN_EINVAL;
  return tern__mbox_put(mb, msg, timeout_ms);
}

int tern_mbox_trypost(tern_mbox *mb, void *msg) {
  if (mb == NULL)
    return TERN_EINVAL;
  int rc = tern__mbox_put(mb, msg, 0);
  return rc == TERN_ETIMEDOUT ? TERN_ENOSPC : rc;
}

int tern_mbox_fetch(tern_mbox *mb, void **msg, int timeout_ms) {
  if (mb == NULL)
    return TERN_EINVAL;
  return tern__mbox_get(mb, msg, timeout_ms);
}

int tern_mbox_tryfetch(tern_mbox *mb, void **msg) {
  if (mb == NULL)
    return TERN_EINVAL;
  int rc = tern__mbox_get(mb, msg, 0);
  return rc == TERN_ETIMEDOUT ? TERN_EAGAIN : rc;
}

size_t tern_mbox_count(tern_mbox *mb) {
  if (mb == NULL)
    return 0;
  pthread_mutex_lock(&mb->mu);
  size_t n = mb->len;
  pthread_mutex_unlock(&mb->mu);
  return n;
}
