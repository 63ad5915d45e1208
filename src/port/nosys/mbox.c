/* src/port/nosys/mbox.c: a bounded FIFO of pointers for a single-threaded
 * superloop: a ring of `cap` slots allocated with the mailbox (post never
 * allocates).
 *
 * As with the semaphore, nothing can drain a full mailbox or fill an empty
 * one while the only thread waits, so post and fetch never block: they
 * return TERN_ETIMEDOUT at once for any timeout, and the try variants
 * their own codes (TERN_ENOSPC, TERN_EAGAIN), as in the POSIX port. Not
 * interrupt-safe (tern/port.h).
 */
#include <stdint.h>
#include <stdlib.h>

#include "tern/base.h"
#include "tern/port.h"

struct tern_mbox {
  size_t cap;
  size_t head; /* index of the oldest message */
  size_t len;  /* messages held */
  void *slot[];
};

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
  mb->cap = capacity;
  mb->head = 0;
  mb->len = 0;
  *out = mb;
  return TERN_OK;
}

void tern_mbox_free(tern_mbox *mb) { free(mb); }

int tern_mbox_trypost(tern_mbox *mb, void *msg) {
  if (mb == NULL)
    return TERN_EINVAL;
  if (mb->len == mb->cap)
    return TERN_ENOSPC;
  size_t tail = mb->head + mb->len;
  mb->slot[tail < mb->cap ? tail : tail - mb->cap] = msg;
  mb->len++;
  return TERN_OK;
}

int tern_mbox_post(tern_mbox *mb, void *msg, int timeout_ms) {
  (void)timeout_ms;
  int rc = tern_mbox_trypost(mb, msg);
  return rc == TERN_ENOSPC ? TERN_ETIMEDOUT : rc;
}

int tern_mbox_tryfetch(tern_mbox *mb, void **msg) {
  if (mb == NULL)
    return TERN_EINVAL;
  if (mb->len == 0)
    return TERN_EAGAIN;
  void *m = mb->slot[mb->head];
  mb->head = mb->head + 1 == mb->cap ? 0 : mb->head + 1;
  mb->len--;
  if (msg != NULL)
    *msg = m;
  return TERN_OK;
}

int tern_mbox_fetch(tern_mbox *mb, void **msg, int timeout_ms) {
  (void)timeout_ms;
  int rc = tern_mbox_tryfetch(mb, msg);
  return rc == TERN_EAGAIN ? TERN_ETIMEDOUT : rc;
}

size_t tern_mbox_count(tern_mbox *mb) { return mb == NULL ? 0 : mb->len; }
