/* tcpip.c: the stack thread. A tern loop on its own thread drives one or
 * more stacks (a timer per stack at tern_stack_next_due, a TAP watcher, an
 * in-memory wire) and runs the api layer's calls of other threads.
 *
 * The stack thread holds the stack lock whenever it touches a stack
 * (input, timers, wire delivery, a posted call). In MSG mode nobody else
 * takes it, so it costs an uncontended lock; in CORE_LOCK mode callers
 * take it and run their step themselves. After a caller's step the timer
 * may need to move earlier (a write armed the retransmission timer):
 * timers belong to the loop thread, so a caller posts one "rearm" call
 * (at most one queued at a time) instead of touching the timer.
 */
#include <assert.h>
#include <stdlib.h>

#include "api/api_internal.h"
#include "tern/backend.h"

#define TCPIP_SEM_CACHE 32
/* Wire delivery rounds per wakeup: answers to delivered frames are due at
 * once, so a few rounds let a handshake finish in one wakeup. */
#define TCPIP_WIRE_ROUNDS 16
#define TCPIP_TAP_ROUNDS 8
/* Wake-ups held back until the stack lock is released (see post_later). */
#define TCPIP_PEND_MAX 64

struct tern_tcpip {
  tern_tcpip *owner;      /* the one that owns thread, loop and lock */
  tern_tcpip *next;       /* owner's list of stacks on its thread */
  tern_stack *st;
  tern_tcpip_mode mode;
  tern_tap *tap;
  tern_io *tap_io;
  tern_wire *wire;
  tern_timer *timer;
  void *slot[TERN__TCPIP_SLOTS]; /* sockets table, netdb: on first use */
  void (*slot_free[TERN__TCPIP_SLOTS])(void *);
  uint32_t max_sockets;
  uint64_t armed;         /* due time the timer is set for, or
                             UINT64_MAX: not armed */
  /* Owner only. */
  tern_loop *loop;
  tern_thread *thr;
  tern_mutex *lock;
  _Atomic uintptr_t holder; /* thread holding lock */
  tern_sem *pend[TCPIP_PEND_MAX]; /* posts held until unlock (lock held) */
  int npend;
  atomic_bool rearm_queued;
  tern_mutex *sem_m;
  tern_sem *sems[TCPIP_SEM_CACHE];
  int nsems;
};

static void lock_stack(tern_tcpip *o) {
  tern_mutex_lock(o->lock);
  atomic_store(&o->holder, tern_thread_self());
}

/* The held-back posts go out before the lock is released: once it is,
 * a core-locking caller may close a netconn and free its semaphores. */
static void unlock_stack(tern_tcpip *o) {
  for (int i = 0; i < o->npend; i++) tern_sem_post(o->pend[i]);
  o->npend = 0;
  atomic_store(&o->holder, (uintptr_t)0);
  tern_mutex_unlock(o->lock);
}

/* A burst of input (a TAP batch, a wire delivery) would wake a reader
 * per segment, and it would go back to sleep in between: each wake-up is
 * a context switch. Posts made in the stack context are held until the
 * lock is released, once per semaphore, so the reader wakes once per
 * burst and takes all of it. The semaphore's owner cannot be freed
 * before that: freeing a netconn needs a stack step of its own, which
 * needs the lock. */
void tern__tcpip_post_later(tern_tcpip *t, tern_sem *s) {
  tern_tcpip *o = t->owner;
  for (int i = 0; i < o->npend; i++)
    if (o->pend[i] == s) return;
  if (o->npend == TCPIP_PEND_MAX) {
    tern_sem_post(s);
    return;
  }
  o->pend[o->npend++] = s;
}

void tern__tcpip_assert_ctx(const tern_tcpip *t) {
#ifndef NDEBUG
  assert(atomic_load(&t->owner->holder) == tern_thread_self() &&
         "raw stack API used outside the stack context");
#else
  (void)t;
#endif
}

tern_stack *tern__tcpip_stack(const tern_tcpip *t) { return t->st; }

void *tern__tcpip_slot(tern_tcpip *t, int which,
                       void *(*create)(tern_tcpip *t), void (*destroy)(void *)) {
  tern_tcpip *o = t->owner;
  tern_mutex_lock(o->sem_m);
  if (!t->slot[which] && create) {
    t->slot[which] = create(t);
    t->slot_free[which] = destroy;
  }
  void *s = t->slot[which];
  tern_mutex_unlock(o->sem_m);
  return s;
}

uint32_t tern__tcpip_max_sockets(const tern_tcpip *t) {
  return t->max_sockets ? t->max_sockets : 64;
}
tern_stack *tern_tcpip_stack(const tern_tcpip *t) { return t->st; }
tern_tcpip_mode tern_tcpip_get_mode(const tern_tcpip *t) {
  return t->owner->mode;
}

/* ---- timers (loop thread, lock held) ---- */

static uint64_t next_due(tern_tcpip *t) {
  uint64_t due = tern_stack_next_due(t->st);
  if (t->wire) {
    uint64_t w = tern_wire_next_due(t->wire);
    if (w < due) due = w;
  }
  return due;
}

static void rearm(tern_tcpip *t) {
  uint64_t due = next_due(t);
  if (due == t->armed) return;
  t->armed = due;
  if (due == UINT64_MAX) {
    tern_timer_stop(t->timer);
    return;
  }
  uint64_t now = tern_loop_now(t->owner->loop);
  tern_timer_start(t->timer, due > now ? due - now : 0, 0);
}

static void rearm_all(tern_tcpip *o) {
  for (tern_tcpip *t = o; t; t = t->next) rearm(t);
}

/* fired's timer went off: bring every stack on the thread to the loop's
 * time, deliver the wires, re-arm. */
static void service(tern_tcpip *o, tern_tcpip *fired) {
  lock_stack(o);
  fired->armed = UINT64_MAX; /* read by core-locking callers: under lock */
  uint64_t now = tern_loop_now(o->loop);
  for (tern_tcpip *t = o; t; t = t->next) tern_stack_advance(t->st, now);
  for (tern_tcpip *t = o; t; t = t->next)
    for (int i = 0; t->wire && i < TCPIP_WIRE_ROUNDS; i++)
      if (tern_wire_deliver(t->wire, now) <= 0) break;
  rearm_all(o);
  unlock_stack(o);
}

static void on_timer(tern_timer *tm, void *ud) {
  (void)tm;
  tern_tcpip *t = ud;
  service(t->owner, t);
}

static void on_tap(tern_io *io, unsigned events, void *ud) {
  (void)io;
  (void)events;
  tern_tcpip *t = ud;
  tern_tcpip *o = t->owner;
  lock_stack(o);
  tern_stack_advance(t->st, tern_loop_now(o->loop));
  for (int i = 0; i < TCPIP_TAP_ROUNDS; i++)
    if (tern_tap_poll(t->tap) <= 0) break;
  rearm_all(o);
  unlock_stack(o);
}

static void on_rearm(tern_loop *loop, void *arg, int status) {
  (void)loop;
  tern_tcpip *o = arg;
  atomic_store(&o->rearm_queued, false);
  if (status != TERN_OK) return;
  lock_stack(o);
  rearm_all(o);
  unlock_stack(o);
}

/* ---- running calls ---- */

typedef struct call_msg {
  tern_tcpip *t;
  int (*fn)(void *arg);
  void *arg;
  int ret;
  tern_sem *done;
} call_msg;

static void on_call(tern_loop *loop, void *arg, int status) {
  (void)loop;
  call_msg *m = arg;
  tern_tcpip *o = m->t->owner;
  if (status != TERN_OK) {
    m->ret = TERN_ECLOSED;
  } else {
    lock_stack(o);
    tern_stack_advance(m->t->st, tern_loop_now(o->loop));
    m->ret = m->fn(m->arg);
    rearm_all(o);
    unlock_stack(o);
  }
  tern_sem_post(m->done);
}

tern_sem *tern__tcpip_sem_get(tern_tcpip *t) {
  tern_tcpip *o = t->owner;
  tern_sem *s = NULL;
  tern_mutex_lock(o->sem_m);
  if (o->nsems) s = o->sems[--o->nsems];
  tern_mutex_unlock(o->sem_m);
  if (!s && tern_sem_new(&s, 0) != TERN_OK) return NULL;
  return s;
}

void tern__tcpip_sem_put(tern_tcpip *t, tern_sem *s) {
  tern_tcpip *o = t->owner;
  tern_mutex_lock(o->sem_m);
  if (o->nsems < TCPIP_SEM_CACHE) {
    o->sems[o->nsems++] = s;
    s = NULL;
  }
  tern_mutex_unlock(o->sem_m);
  if (s) tern_sem_free(s);
}

/* Post m to the loop, waiting for room in its bounded call queue. */
static int post_call(tern_tcpip *o, call_msg *m) {
  for (;;) {
    int err = tern_loop_call(o->loop, on_call, m);
    if (err != TERN_ENOSPC) return err;
    /* a 1 ms nap through the port layer: nobody posts m->done before
     * the call is queued */
    tern_sem_wait(m->done, 1);
  }
}

static void on_post(tern_loop *loop, void *arg, int status) {
  (void)loop;
  tern__tcpip_post *p = arg;
  tern_tcpip *o = p->t->owner;
  if (status != TERN_OK) {
    p->fn(p, false);
    return;
  }
  lock_stack(o);
  tern_stack_advance(p->t->st, tern_loop_now(o->loop));
  p->fn(p, true);
  rearm_all(o);
  unlock_stack(o);
}

int tern__tcpip_post_step(tern__tcpip_post *p) {
  tern_tcpip *o = p->t->owner;
  if (o->mode != TERN_TCPIP_MSG ||
      atomic_load(&o->holder) == tern_thread_self())
    return TERN_ENOTSUP;
  return tern_loop_call(o->loop, on_post, p);
}

/* Runs fn on the loop thread whatever the mode (setup and teardown). */
static int run_on_loop(tern_tcpip *t, int (*fn)(void *arg), void *arg) {
  tern_tcpip *o = t->owner;
  call_msg m = {t, fn, arg, 0, tern__tcpip_sem_get(t)};
  if (!m.done) return TERN_ENOMEM;
  int err = post_call(o, &m);
  if (err == TERN_OK) {
    tern_sem_wait(m.done, TERN_WAIT_FOREVER);
    err = m.ret;
  }
  tern__tcpip_sem_put(t, m.done);
  return err;
}

int tern__tcpip_run(tern_tcpip *t, int (*fn)(void *arg), void *arg) {
  tern_tcpip *o = t->owner;
  /* Already in the stack context (a stack or event callback freeing a
   * netbuf): run it here; the lock is not recursive. */
  if (atomic_load(&o->holder) == tern_thread_self()) return fn(arg);
  if (o->mode == TERN_TCPIP_MSG) return run_on_loop(t, fn, arg);
  lock_stack(o);
  int ret = fn(arg);
  /* The loop thread owns the timers: ask it to move one that must fire
   * earlier now (a write armed retransmission, a frame waits on the
   * wire). At most one such call is queued. */
  bool need = false;
  for (tern_tcpip *s = o; s && !need; s = s->next) {
    uint64_t due = next_due(s);
    need = due < s->armed;
  }
  unlock_stack(o);
  if (need && !atomic_exchange(&o->rearm_queued, true))
    if (tern_loop_call(o->loop, on_rearm, o) != TERN_OK)
      atomic_store(&o->rearm_queued, false);
  return ret;
}

typedef struct user_call {
  tern_tcpip *t;
  int (*fn)(tern_stack *st, void *arg);
  void *arg;
} user_call;

static int do_user_call(void *arg) {
  user_call *u = arg;
  return u->fn(u->t->st, u->arg);
}

int tern_tcpip_call(tern_tcpip *t, int (*fn)(tern_stack *st, void *arg),
                    void *arg) {
  if (!t || !fn) return TERN_EINVAL;
  user_call u = {t, fn, arg};
  return tern__tcpip_run(t, do_user_call, &u);
}

typedef struct input_call {
  tern_tcpip *t;
  tern_netif *nif;
  const void *frame;
  size_t len;
  bool csum_ok;
} input_call;

static int do_input(void *arg) {
  input_call *c = arg;
  tern__tcpip_assert_ctx(c->t);
  tern_pbuf *p = tern_pbuf_alloc(c->t->st, TERN_PBUF_RAW, c->len);
  if (!p) return TERN_ENOMEM;
  tern_pbuf_copy_in(p, 0, c->frame, c->len);
  tern_netif_input(c->nif, p, c->csum_ok);
  return TERN_OK;
}

int tern_tcpip_input(tern_tcpip *t, tern_netif *nif, const void *frame,
                     size_t len, bool csum_ok) {
  if (!t || !nif || (!frame && len)) return TERN_EINVAL;
  input_call c = {t, nif, frame, len, csum_ok};
  return tern__tcpip_run(t, do_input, &c);
}

/* ---- setup and teardown ---- */

static void thread_main(void *arg) {
  tern_tcpip *o = arg;
  tern_loop_run(o->loop);
}

/* The raw API's context check (tern_stack_set_ctx_check): the caller
 * must hold the stack lock, as the stack thread does while it works. */
static bool ctx_ok(void *ud) {
  tern_tcpip *o = ud;
  return atomic_load(&o->holder) == tern_thread_self();
}

static int setup_on_loop(void *arg) {
  tern_tcpip *t = arg;
  tern_tcpip *o = t->owner;
  int err = tern_timer_new(o->loop, &t->timer, on_timer, t);
  if (err) return err;
  if (t->tap) {
    err = tern_io_start(o->loop, &t->tap_io, tern_tap_fd(t->tap),
                        TERN_IO_READ, on_tap, t);
    if (err) {
      tern_timer_free(t->timer);
      t->timer = NULL;
      return err;
    }
  }
  if (t != o) { /* join the owner's list */
    t->next = o->next;
    o->next = t;
  }
  tern_stack_set_ctx_check(t->st, ctx_ok, o);
  rearm(t);
  return TERN_OK;
}

static int teardown_on_loop(void *arg) {
  tern_tcpip *t = arg;
  tern_tcpip *o = t->owner;
  tern_stack_set_ctx_check(t->st, NULL, NULL);
  if (t->tap_io) tern_io_stop(t->tap_io);
  if (t->timer) tern_timer_free(t->timer);
  t->tap_io = NULL;
  t->timer = NULL;
  for (tern_tcpip **pp = &o->next; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  return TERN_OK;
}

static void free_owner_parts(tern_tcpip *o) {
  if (o->loop) tern_loop_free(o->loop);
  if (o->lock) tern_mutex_free(o->lock);
  for (int i = 0; i < o->nsems; i++) tern_sem_free(o->sems[i]);
  if (o->sem_m) tern_mutex_free(o->sem_m);
}

static int owner_init(tern_tcpip *t, const tern_tcpip_opts *opts) {
  tern_loop_opts lo = {.max_calls = opts->max_calls};
  int err = tern_loop_new(&t->loop, &lo);
  if (!err) err = tern_mutex_new(&t->lock);
  if (!err) err = tern_mutex_new(&t->sem_m);
  if (!err) err = tern_thread_new(&t->thr, "tern-tcpip", thread_main, t);
  return err;
}

int tern_tcpip_new(tern_tcpip **out, tern_stack *st,
                   const tern_tcpip_opts *opts) {
  static const tern_tcpip_opts defaults;
  if (!out || !st) return TERN_EINVAL;
  if (!opts) opts = &defaults;
  tern_tcpip *t = calloc(1, sizeof *t);
  if (!t) return TERN_ENOMEM;
  t->st = st;
  t->armed = UINT64_MAX;
  t->max_sockets = opts->max_sockets;
  t->tap = opts->tap;
  t->wire = opts->wire;
  t->owner = opts->share ? opts->share->owner : t;
  t->mode = t->owner == t ? opts->mode : t->owner->mode;
  int err = t->owner == t ? owner_init(t, opts) : TERN_OK;
  if (!err) err = run_on_loop(t, setup_on_loop, t);
  if (err) {
    if (t->thr) {
      tern_loop_stop(t->loop);
      tern_thread_join(t->thr);
    }
    if (t->owner == t) free_owner_parts(t);
    free(t);
    return err;
  }
  *out = t;
  return TERN_OK;
}

void tern_tcpip_free(tern_tcpip *t) {
  if (!t) return;
  for (int i = 0; i < TERN__TCPIP_SLOTS; i++) /* closes sockets left open */
    if (t->slot[i]) t->slot_free[i](t->slot[i]);
  run_on_loop(t, teardown_on_loop, t);
  if (t->owner == t) {
    tern_loop_stop(t->loop);
    tern_thread_join(t->thr);
    free_owner_parts(t);
  }
  free(t);
}
