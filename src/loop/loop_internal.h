/* src/loop/loop_internal.h: the event loop's private structures and the
 * interface between the loop core and its poller backend.
 *
 * Files: loop.c (life cycle and one iteration), io.c (descriptor watchers
 * and their dispatch), timer.c (the timer heap), call.c (deferred and
 * cross-thread calls, the wake-up descriptor), and exactly one poller:
 * poller_epoll.c or poller_poll.c (CMake option TERN_LOOP_POLL). Like
 * Redis' ae_epoll.c / ae_select.c, each poller defines the same
 * tern__poller_* functions and the build picks one file: no function
 * pointers, and the backend's state is an opaque struct tern__poller.
 *
 * Everything here runs on the loop thread except the parts of tern__callq
 * guarded by its mutex, and stop_req/owner, which are atomics.
 */
#ifndef TERN_LOOP_INTERNAL_H
#define TERN_LOOP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/base.h"
#include "tern/loop.h"
#include "tern/port.h"

#define TERN__LOOP_MAX_CALLS 4096
#define TERN__LOOP_MAX_EVENTS 256
#define TERN__IO_RW (TERN_IO_READ | TERN_IO_WRITE)

/* One readiness report from the poller: the watcher and TERN_IO_* bits. */
typedef struct tern__event {
  tern_io *io;
  unsigned events;
} tern__event;

struct tern_io {
  tern_loop *loop;
  tern_io_fn fn;
  void *ud;
  int fd;
  unsigned events; /* READ|WRITE as registered; 0: not in the poller */
  bool dead;       /* stopped during dispatch: no callback, freed after */
  bool embedded;   /* lives in the caller's tern_io_storage: never freed */
  size_t slot;     /* the poller's index for it (poll: pollfd array) */
  tern_io *prev;   /* loop->ios (dead watchers: loop->io_dead via next) */
  tern_io *next;
};

#define TERN__TIMER_IDLE SIZE_MAX

struct tern_timer {
  tern_loop *loop;
  tern_timer_fn fn;
  void *ud;
  uint64_t due;      /* absolute loop ms */
  uint64_t repeat;   /* 0: one-shot */
  uint64_t seq;      /* start order: equal due times fire first-started first */
  size_t heap_index; /* position in loop->heap, TERN__TIMER_IDLE if inactive */
  bool embedded;     /* lives in the caller's tern_timer_storage */
  tern_timer *prev;  /* loop->timers: every timer, active or not */
  tern_timer *next;
};

typedef struct tern__defer {
  struct tern__defer *next;
  tern_call_fn fn;
  void *arg;
} tern__defer;

typedef struct tern__call {
  tern_call_fn fn;
  void *arg;
} tern__call;

/* Cross-thread calls: a ring that grows geometrically up to max, so an idle
 * loop does not hold max_calls slots. Fields under mu but inflight. */
typedef struct tern__callq {
  tern_mutex *mu;
  tern__call *ring;
  size_t cap;
  size_t head;
  size_t len;
  size_t max;
  bool wake_pending; /* the wake descriptor was written since last drain */
  bool closed;       /* tern_loop_free has begun: refuse new calls */
  int wake_rfd;      /* eventfd (both ends the same) or a pipe */
  int wake_wfd;
  atomic_size_t inflight; /* threads inside tern_loop_call/stop (no lock) */
} tern__callq;

struct tern_loop {
  uint64_t now;
  atomic_bool stop_req;
  _Atomic uintptr_t owner; /* tern_thread_self() of the running thread */
  bool busy;               /* inside run/poll: refuse to re-enter */
  bool closing;            /* inside tern_loop_free */

  struct tern__poller *poller;
  tern__event *events; /* max_events reports from the last wait */
  size_t max_events;
  bool dispatching;    /* io callbacks running: tern_io_stop defers free */
  tern_io *ios;        /* every live watcher */
  tern_io *io_dead;    /* stopped during dispatch, freed after it */

  tern_timer **heap; /* binary min-heap on (due, seq) */
  size_t heap_len;
  size_t heap_cap;   /* >= ntimers, so starting a timer never allocates */
  size_t ntimers;
  uint64_t timer_seq;
  tern_timer *timers;

  tern__defer *defer_head;
  tern__defer *defer_tail;
  tern__defer *defer_spare; /* recycled nodes, at most TERN__DEFER_SPARE */
  size_t defer_nspare;

  tern__callq calls;
  tern_io *wake_io;
};

/* ---- poller backend (poller_epoll.c or poller_poll.c) ------------- */

/* Create loop->poller; max_events bounds the reports per wait. */
int tern__poller_init(tern_loop *loop, size_t max_events);
void tern__poller_fini(tern_loop *loop);
/* Register io->fd for events (READ|WRITE, non-zero); io->events is still
 * the old value (0) during the call. */
int tern__poller_add(tern_loop *loop, tern_io *io, unsigned events);
/* Change a registered watcher to events (non-zero). */
int tern__poller_mod(tern_loop *loop, tern_io *io, unsigned events);
/* Unregister; never fails (a closed fd has already left the set). */
void tern__poller_del(tern_loop *loop, tern_io *io);
/* Wait up to timeout_ms (-1: no limit) and fill out[0..n) with at most
 * max reports; returns n (0 on timeout or EINTR) or a negative tern_err.
 * Error and hang-up are reported as TERN_IO_ERROR. */
int tern__poller_wait(tern_loop *loop, int timeout_ms, tern__event *out,
                      size_t max);

/* ---- io.c ---------------------------------------------------------- */

void tern__io_dispatch(tern_loop *loop, size_t n);
void tern__io_free_all(tern_loop *loop);

/* ---- timer.c ------------------------------------------------------- */

/* Milliseconds until the earliest timer (0 if due), -1 if none. */
int tern__timer_timeout(const tern_loop *loop);
void tern__timer_run(tern_loop *loop);
void tern__timer_free_all(tern_loop *loop);

/* ---- call.c -------------------------------------------------------- */

int tern__call_init(tern_loop *loop, size_t max_calls);
void tern__call_fini(tern_loop *loop);
bool tern__defer_pending(const tern_loop *loop);
void tern__defer_run(tern_loop *loop);
void tern__call_run(tern_loop *loop);
/* tern_loop_free: refuse new calls, run queued ones with ECANCELED. */
void tern__call_cancel_all(tern_loop *loop);
/* tern_loop_stop: set the flag and wake the loop (thread-safe). */
void tern__call_stop(tern_loop *loop);

#endif /* TERN_LOOP_INTERNAL_H */
