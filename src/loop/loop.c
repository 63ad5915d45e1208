/* src/loop/loop.c: a loop's life cycle and one iteration.
 *
 * One iteration, in this order (the order loop.h documents):
 *   1. deferred calls (tern_loop_defer), including ones made before run;
 *   2. wait for I/O: not at all if deferred calls are pending again or a
 *      stop was asked for, else no longer than the earliest timer;
 *   3. refresh the cached time (once per iteration);
 *   4. dispatch I/O readiness;
 *   5. run expired timers (only the heap top is examined);
 *   6. run calls posted by other threads (those queued when the phase
 *      began; calls they post wait for the next iteration).
 * Timers run after I/O so that a callback's reply traffic and a timeout
 * for the same connection see the same fresh clock; cross-thread calls run
 * last so each batch costs one wake-up however many arrived.
 */
#include <limits.h>
#include <stdlib.h>

#include "loop_internal.h"

/* Free whatever tern_loop_new got to; also the tail of tern_loop_free. */
static void tern__loop_release(tern_loop *loop) {
  tern__timer_free_all(loop);
  tern__io_free_all(loop);
  tern__call_fini(loop);
  tern__poller_fini(loop);
  free(loop->events);
  free(loop);
}

int tern_loop_new(tern_loop **out, const tern_loop_opts *opts) {
  if (out == NULL)
    return TERN_EINVAL;
  *out = NULL;
  size_t max_calls = TERN__LOOP_MAX_CALLS;
  size_t max_events = TERN__LOOP_MAX_EVENTS;
  if (opts != NULL && opts->max_calls != 0)
    max_calls = opts->max_calls;
  if (opts != NULL && opts->max_events != 0)
    max_events = opts->max_events;
  if (max_events > INT_MAX)
    max_events = INT_MAX; /* epoll_wait takes an int */

  tern_loop *loop = calloc(1, sizeof(*loop));
  if (loop == NULL)
    return TERN_ENOMEM;
  atomic_init(&loop->stop_req, false);
  atomic_init(&loop->owner, tern_thread_self());
  atomic_init(&loop->calls.inflight, 0);
  loop->calls.wake_rfd = -1;
  loop->calls.wake_wfd = -1;
  loop->now = tern_clock_ms();
  loop->max_events = max_events;
  loop->events = calloc(max_events, sizeof(*loop->events));
  int rc = loop->events == NULL ? TERN_ENOMEM : TERN_OK;
  if (rc == TERN_OK)
    rc = tern__poller_init(loop, max_events);
  if (rc == TERN_OK)
    rc = tern__call_init(loop, max_calls);
  if (rc != TERN_OK) {
    tern__loop_release(loop);
    return rc;
  }
  *out = loop;
  return TERN_OK;
}

void tern_loop_free(tern_loop *loop) {
  if (loop == NULL)
    return;
  loop->closing = true;
  /* Calls first: what they carry may own timers or watchers of this loop,
   * and freeing those is still allowed from a ECANCELED callback. */
  tern__call_cancel_all(loop);
  tern__loop_release(loop);
}

static int tern__loop_wait_ms(tern_loop *loop, int limit, bool in_run) {
  if (limit == 0 || tern__defer_pending(loop))
    return 0;
  if (in_run && atomic_load(&loop->stop_req))
    return 0;
  int t = tern__timer_timeout(loop);
  if (limit < 0)
    return t;
  return t >= 0 && t < limit ? t : limit;
}

static int tern__loop_iterate(tern_loop *loop, int limit, bool in_run) {
  tern__defer_run(loop);
  int wait_ms = tern__loop_wait_ms(loop, limit, in_run);
  int n = tern__poller_wait(loop, wait_ms, loop->events, loop->max_events);
  tern_loop_update_time(loop);
  if (n < 0) {
    tern_log(TERN_LOG_ERROR, "loop", "waiting for events failed: %s",
             tern_strerror(n));
    return n;
  }
  tern__io_dispatch(loop, (size_t)n);
  tern__timer_run(loop);
  tern__call_run(loop);
  return TERN_OK;
}

/* Runs are not re-entrant: the event array and the dispatch state belong
 * to the one iteration in progress. */
static int tern__loop_enter(tern_loop *loop) {
  if (loop == NULL)
    return TERN_EINVAL;
  if (loop->busy || loop->closing)
    return TERN_EBUSY;
  loop->busy = true;
  atomic_store_explicit(&loop->owner, tern_thread_self(),
                        memory_order_relaxed);
  return TERN_OK;
}

int tern_loop_run(tern_loop *loop) {
  int rc = tern__loop_enter(loop);
  if (rc != TERN_OK)
    return rc;
  /* The flag is consumed at the end of an iteration, so a stop that came
   * before run (from another thread racing with startup) is not lost. */
  do
    rc = tern__loop_iterate(loop, -1, true);
  while (rc == TERN_OK && !atomic_exchange(&loop->stop_req, false));
  loop->busy = false;
  return rc;
}

int tern_loop_poll(tern_loop *loop, int timeout_ms) {
  int rc = tern__loop_enter(loop);
  if (rc != TERN_OK)
    return rc;
  rc = tern__loop_iterate(loop, timeout_ms < 0 ? -1 : timeout_ms, false);
  loop->busy = false;
  return rc;
}

void tern_loop_stop(tern_loop *loop) {
  if (loop != NULL)
    tern__call_stop(loop);
}

uint64_t tern_loop_now(const tern_loop *loop) { return loop->now; }

void tern_loop_update_time(tern_loop *loop) {
  uint64_t t = tern_clock_ms();
  if (t > loop->now)
    loop->now = t;
}

bool tern_loop_on_thread(const tern_loop *loop) {
  /* C11 atomic_load wants a non-const object; reading is still a read. */
  tern_loop *l = (tern_loop *)loop;
  return atomic_load_explicit(&l->owner, memory_order_relaxed) ==
         tern_thread_self();
}
