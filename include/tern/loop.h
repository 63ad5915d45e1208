/* tern/loop.h: the event loop: descriptor readiness, timers, deferred
 * calls and calls from other threads.
 *
 * One thread runs a loop (tern_loop_run or tern_loop_poll) and every
 * callback below runs on that thread. The only functions that may be called
 * from another thread are tern_loop_call() and tern_loop_stop().
 *
 * One iteration: run deferred calls, wait for I/O (no longer than the
 * nearest timer, not at all if deferred calls are pending), dispatch I/O,
 * run expired timers, run calls posted by other threads.
 *
 * Backends: epoll (default on Linux) or poll() (TERN_LOOP_POLL at build
 * time). Timers live in a binary heap: start and stop are O(log n), and an
 * iteration looks at the earliest timer only.
 */
#ifndef TERN_LOOP_H
#define TERN_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_loop tern_loop;
typedef struct tern_io tern_io;
typedef struct tern_timer tern_timer;

/* Readiness bits for tern_io. */
enum {
  TERN_IO_READ = 1u << 0,
  TERN_IO_WRITE = 1u << 1,
  /* Error or hang-up. Never needs asking for: reported whenever the
   * watcher watches anything, together with its READ/WRITE bits, so the
   * callback's read() or write() meets the EOF or the error. */
  TERN_IO_ERROR = 1u << 2,
};

/* Bounds for a loop. Zero fields take the defaults shown. */
typedef struct tern_loop_opts {
  size_t max_calls;  /* queued cross-thread calls (4096) */
  size_t max_events; /* descriptors reported per wait (256) */
} tern_loop_opts;

/* Create a loop. opts may be NULL. */
TERN_API int tern_loop_new(tern_loop **out, const tern_loop_opts *opts);
/* Destroy a loop. First deferred calls, then queued cross-thread calls run
 * with status TERN_ECANCELED so they can free what they carry (they may
 * still stop watchers and free timers; new calls and defers now fail with
 * TERN_ECLOSED). Then the remaining tern_io watchers and timers, active or
 * not, are freed without their callbacks running. Must not be called from
 * inside a callback of this loop. */
TERN_API void tern_loop_free(tern_loop *loop);

/* Run until tern_loop_stop(). Returns TERN_OK, or an error if waiting for
 * events failed. Loops are not re-entrant: run and poll return TERN_EBUSY
 * when called from inside a callback of the same loop. */
TERN_API int tern_loop_run(tern_loop *loop);
/* Run one iteration, waiting at most timeout_ms for I/O (-1: until
 * something happens; 0: not at all). For superloops and tests. */
TERN_API int tern_loop_poll(tern_loop *loop, int timeout_ms);
/* Make tern_loop_run() return after the current iteration. Thread-safe.
 * A stop that comes while the loop is not running makes the next run
 * return after one iteration. */
TERN_API void tern_loop_stop(tern_loop *loop);

/* The loop's cached monotonic time in ms, updated once per iteration. */
TERN_API uint64_t tern_loop_now(const tern_loop *loop);
/* Refresh the cached time (after a long callback). */
TERN_API void tern_loop_update_time(tern_loop *loop);

/* ---- descriptor readiness --------------------------------------- */

/* Called with the ready bits (TERN_IO_*). The watcher may be stopped or
 * changed from inside its own callback. */
typedef void (*tern_io_fn)(tern_io *io, unsigned events, void *ud);

/* Watch fd for the given events. The loop never closes fd. One watcher
 * per descriptor (the epoll backend refuses a second with TERN_EEXIST). */
TERN_API int tern_io_start(tern_loop *loop, tern_io **out, int fd,
                           unsigned events, tern_io_fn fn, void *ud);
/* Room for a watcher inside the caller's own object, so an object that
 * owns a descriptor (a connection) is one allocation, not two. */
typedef union tern_io_storage {
  void *align_ptr;
  uint64_t align_u64;
  uint8_t bytes[72];
} tern_io_storage;

/* Like tern_io_start, but the watcher lives in *mem, which the caller
 * owns. tern_io_stop never frees it; mem must stay valid until
 * tern_io_stop has returned and the loop has finished the I/O dispatch it
 * was in (freeing it from a later timer or call, or outside the loop, is
 * safe). */
TERN_API int tern_io_start_in(tern_loop *loop, tern_io_storage *mem,
                              tern_io **out, int fd, unsigned events,
                              tern_io_fn fn, void *ud);

/* Change the watched events (0 is allowed: watch nothing for now). */
TERN_API int tern_io_set(tern_io *io, unsigned events);
TERN_API unsigned tern_io_events(const tern_io *io);
/* Stop watching and free the watcher; its callback will not run again,
 * even if the fd was reported ready earlier in this iteration. Call it
 * before closing fd. */
TERN_API void tern_io_stop(tern_io *io);

/* ---- timers ------------------------------------------------------ */

/* Called on expiry. For a one-shot timer the timer is inactive during and
 * after the call (it may be restarted with tern_timer_start or freed); for
 * a repeating one it has already been rescheduled, repeat_ms after the
 * current loop time. Timers due at the same time fire in the order they
 * were started; a timer started from a timer callback fires no earlier
 * than the next iteration. */
typedef void (*tern_timer_fn)(tern_timer *t, void *ud);

/* Create a timer (inactive). */
TERN_API int tern_timer_new(tern_loop *loop, tern_timer **out,
                            tern_timer_fn fn, void *ud);
/* Room for a timer inside the caller's own object (one allocation for an
 * object that needs a timer, and no small chunk left to fragment the
 * heap). */
typedef union tern_timer_storage {
  void *align_ptr;
  uint64_t align_u64;
  uint8_t bytes[96];
} tern_timer_storage;

/* Like tern_timer_new, but the timer lives in *mem, which the caller
 * owns: tern_timer_free unlinks it and never frees mem. mem must stay
 * valid until tern_timer_free has returned. */
TERN_API int tern_timer_new_in(tern_loop *loop, tern_timer_storage *mem,
                               tern_timer **out, tern_timer_fn fn, void *ud);

/* Arm: first expiry delay_ms after tern_loop_now() (the cached time),
 * then every repeat_ms if non-zero. Re-arming an active timer moves it.
 * Never fails: tern_timer_new reserved the room. */
TERN_API void tern_timer_start(tern_timer *t, uint64_t delay_ms,
                               uint64_t repeat_ms);
TERN_API void tern_timer_stop(tern_timer *t);
TERN_API bool tern_timer_active(const tern_timer *t);
/* Absolute expiry time in loop ms (valid while active). */
TERN_API uint64_t tern_timer_due(const tern_timer *t);
/* Stop and free; safe from inside the timer's own callback. */
TERN_API void tern_timer_free(tern_timer *t);

/* ---- deferred and cross-thread calls ----------------------------- */

/* status is TERN_OK when the call runs normally, TERN_ECANCELED when the
 * loop is being freed (free what arg carries, do nothing else). */
typedef void (*tern_call_fn)(tern_loop *loop, void *arg, int status);

/* Run fn(arg) on the loop thread at the start of the next iteration, in
 * the order deferred. Loop thread only. TERN_ENOMEM if no memory,
 * TERN_ECLOSED if the loop is being freed. */
TERN_API int tern_loop_defer(tern_loop *loop, tern_call_fn fn, void *arg);

/* Thread-safe: queue fn(arg) to run on the loop thread and wake it
 * (eventfd). Calls from one thread run in the order made. TERN_ENOSPC if
 * max_calls are already queued, TERN_ECLOSED if the loop is being freed;
 * in both cases fn will not run. (tern_loop_free waits for threads already
 * inside this function or tern_loop_stop; calling either after the free
 * has returned is a use after free.) */
TERN_API int tern_loop_call(tern_loop *loop, tern_call_fn fn, void *arg);

/* Is the calling thread the one running this loop (or, before the first
 * run, the one that created it)? */
TERN_API bool tern_loop_on_thread(const tern_loop *loop);

#ifdef __cplusplus
}
#endif
#endif /* TERN_LOOP_H */
