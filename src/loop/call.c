/* src/loop/call.c: deferred calls (loop thread) and calls posted from
 * other threads, with the descriptor that wakes the loop for them.
 *
 * Deferred calls: a singly linked FIFO. Nodes are recycled through a small
 * spare list, so a loop that defers steadily stops allocating.
 *
 * Cross-thread calls: one FIFO under a mutex, so calls made by one thread
 * run in the order made. It is bounded by max_calls (TERN_ENOSPC past it).
 * Only the first call after a drain writes the wake descriptor (an
 * eventfd on Linux, a pipe elsewhere), which the loop watches through its
 * poller like any other descriptor. The loop clears wake_pending and
 * counts the queue under the same lock, so a call that arrives after the
 * count writes the descriptor again and is never stranded.
 *
 * The wake descriptor is written with the mutex held, by tern_loop_call and
 * by tern_loop_stop, and tern_loop_free waits until no thread is inside
 * either function before it closes the descriptor and destroys the mutex:
 * a stop that makes tern_loop_run return (and the owner free the loop)
 * cannot then write into a closed, or reused, descriptor number.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop_internal.h"

#ifdef __linux__
#include <sys/eventfd.h>
#endif

#define TERN__DEFER_SPARE 32
#define TERN__CALL_RING_MIN 64
#define TERN__CALL_BATCH 32

/* ---- deferred calls ------------------------------------------------ */

int tern_loop_defer(tern_loop *loop, tern_call_fn fn, void *arg) {
  if (loop == NULL || fn == NULL)
    return TERN_EINVAL;
  if (loop->closing)
    return TERN_ECLOSED;
  tern__defer *d = loop->defer_spare;
  if (d != NULL) {
    loop->defer_spare = d->next;
    loop->defer_nspare--;
  } else if ((d = malloc(sizeof(*d))) == NULL) {
    return TERN_ENOMEM;
  }
  d->next = NULL;
  d->fn = fn;
  d->arg = arg;
  if (loop->defer_tail != NULL)
    loop->defer_tail->next = d;
  else
    loop->defer_head = d;
  loop->defer_tail = d;
  return TERN_OK;
}

bool tern__defer_pending(const tern_loop *loop) {
  return loop->defer_head != NULL;
}

static void tern__defer_recycle(tern_loop *loop, tern__defer *d) {
  if (loop->defer_nspare >= TERN__DEFER_SPARE) {
    free(d);
    return;
  }
  d->next = loop->defer_spare;
  loop->defer_spare = d;
  loop->defer_nspare++;
}

/* Runs the calls queued now; calls they defer wait for the next round. */
static void tern__defer_drain(tern_loop *loop, int status) {
  tern__defer *d = loop->defer_head;
  loop->defer_head = loop->defer_tail = NULL;
  while (d != NULL) {
    tern__defer *next = d->next;
    tern_call_fn fn = d->fn;
    void *arg = d->arg;
    tern__defer_recycle(loop, d);
    fn(loop, arg, status);
    d = next;
  }
}

void tern__defer_run(tern_loop *loop) { tern__defer_drain(loop, TERN_OK); }

/* ---- the wake descriptor -------------------------------------------- */

static int tern__wake_open(tern__callq *q) {
#ifdef __linux__
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0)
    return tern_err_from_errno(errno);
  q->wake_rfd = q->wake_wfd = fd;
#else
  int p[2];
  if (pipe(p) != 0)
    return tern_err_from_errno(errno);
  for (int i = 0; i < 2; i++) {
    fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
    fcntl(p[i], F_SETFD, FD_CLOEXEC);
  }
  q->wake_rfd = p[0];
  q->wake_wfd = p[1];
#endif
  return TERN_OK;
}

/* EAGAIN means the counter or pipe is already full: the loop will wake. */
static void tern__wake_write(tern__callq *q) {
  uint64_t one = 1; /* an eventfd takes exactly 8 bytes */
  ssize_t n;
  do
    n = write(q->wake_wfd, &one, sizeof(one));
  while (n < 0 && errno == EINTR);
}

/* Runs as an I/O callback: only resets the descriptor. The calls
 * themselves run in their own phase at the end of the iteration. */
static void tern__wake_read(tern_io *io, unsigned events, void *ud) {
  (void)events;
  (void)ud;
  uint8_t buf[64];
  ssize_t n;
  do
    n = read(io->fd, buf, sizeof(buf));
  while (n == (ssize_t)sizeof(buf) || (n < 0 && errno == EINTR));
}

/* ---- cross-thread calls --------------------------------------------- */

int tern__call_init(tern_loop *loop, size_t max_calls) {
  tern__callq *q = &loop->calls;
  q->max = max_calls;
  int rc = tern_mutex_new(&q->mu);
  if (rc == TERN_OK)
    rc = tern__wake_open(q);
  if (rc == TERN_OK)
    rc = tern_io_start(loop, &loop->wake_io, q->wake_rfd, TERN_IO_READ,
                       tern__wake_read, NULL);
  return rc;
}

/* After tern__io_free_all (which freed wake_io). */
void tern__call_fini(tern_loop *loop) {
  tern__callq *q = &loop->calls;
  /* A thread already inside tern_loop_call/stop when the free began got
   * or will get TERN_ECLOSED; let it leave the mutex before it goes. */
  while (atomic_load(&q->inflight) != 0)
    sched_yield();
  if (q->wake_wfd >= 0 && q->wake_wfd != q->wake_rfd)
    close(q->wake_wfd);
  if (q->wake_rfd >= 0)
    close(q->wake_rfd);
  q->wake_rfd = q->wake_wfd = -1;
  tern_mutex_free(q->mu);
  q->mu = NULL;
  free(q->ring);
  q->ring = NULL;
  while (loop->defer_spare != NULL) {
    tern__defer *d = loop->defer_spare;
    loop->defer_spare = d->next;
    free(d);
  }
  loop->defer_nspare = 0;
}

/* Unwrap into a ring twice the size (at most max). With q->mu held. */
static int tern__callq_grow(tern__callq *q) {
  size_t cap = q->cap != 0 ? q->cap * 2 : TERN__CALL_RING_MIN;
  if (cap > q->max)
    cap = q->max;
  if (cap > SIZE_MAX / sizeof(tern__call))
    return TERN_ENOMEM;
  tern__call *ring = malloc(cap * sizeof(*ring));
  if (ring == NULL)
    return TERN_ENOMEM;
  for (size_t i = 0; i < q->len; i++)
    ring[i] = q->ring[(q->head + i) % q->cap];
  free(q->ring);
  q->ring = ring;
  q->cap = cap;
  q->head = 0;
  return TERN_OK;
}

static int tern__callq_push(tern__callq *q, tern_call_fn fn, void *arg) {
  if (q->closed)
    return TERN_ECLOSED;
  if (q->len >= q->max)
    return TERN_ENOSPC;
  if (q->len == q->cap) {
    int rc = tern__callq_grow(q);
    if (rc != TERN_OK)
      return rc;
  }
  q->ring[(q->head + q->len) % q->cap] = (tern__call){fn, arg};
  q->len++;
  if (!q->wake_pending) {
    q->wake_pending = true;
    tern__wake_write(q);
  }
  return TERN_OK;
}

int tern_loop_call(tern_loop *loop, tern_call_fn fn, void *arg) {
  if (loop == NULL || fn == NULL)
    return TERN_EINVAL;
  tern__callq *q = &loop->calls;
  atomic_fetch_add(&q->inflight, 1);
  tern_mutex_lock(q->mu);
  int rc = tern__callq_push(q, fn, arg);
  tern_mutex_unlock(q->mu);
  atomic_fetch_sub(&q->inflight, 1);
  return rc;
}

/* Take up to max calls from the front, under the lock. */
static size_t tern__callq_take(tern__callq *q, tern__call *out, size_t max) {
  tern_mutex_lock(q->mu);
  size_t n = q->len < max ? q->len : max;
  for (size_t i = 0; i < n; i++) {
    out[i] = q->ring[q->head];
    q->head = q->head + 1 == q->cap ? 0 : q->head + 1;
  }
  q->len -= n;
  tern_mutex_unlock(q->mu);
  return n;
}

/* Run `left` calls in batches so callbacks run without the lock held. */
static void tern__callq_run(tern_loop *loop, size_t left, int status) {
  tern__call batch[TERN__CALL_BATCH];
  while (left > 0) {
    size_t n = tern__callq_take(&loop->calls, batch,
                                left < TERN__CALL_BATCH ? left
                                                        : TERN__CALL_BATCH);
    if (n == 0)
      break;
    for (size_t i = 0; i < n; i++)
      batch[i].fn(loop, batch[i].arg, status);
    left -= n;
  }
}

void tern__call_run(tern_loop *loop) {
  tern__callq *q = &loop->calls;
  tern_mutex_lock(q->mu);
  q->wake_pending = false;
  size_t queued = q->len;
  tern_mutex_unlock(q->mu);
  tern__callq_run(loop, queued, TERN_OK);
}

void tern__call_cancel_all(tern_loop *loop) {
  tern__callq *q = &loop->calls;
  tern_mutex_lock(q->mu);
  q->closed = true;
  size_t queued = q->len;
  tern_mutex_unlock(q->mu);
  /* Deferred calls first: they were due before the cross-thread ones. */
  tern__defer_drain(loop, TERN_ECANCELED);
  tern__callq_run(loop, queued, TERN_ECANCELED);
}

void tern__call_stop(tern_loop *loop) {
  tern__callq *q = &loop->calls;
  atomic_fetch_add(&q->inflight, 1);
  tern_mutex_lock(q->mu);
  atomic_store(&loop->stop_req, true);
  /* The loop thread checks the flag before it waits; others must wake it
   * in case it is already waiting. */
  if (!q->closed && !tern_loop_on_thread(loop))
    tern__wake_write(q);
  tern_mutex_unlock(q->mu);
  atomic_fetch_sub(&q->inflight, 1);
}
