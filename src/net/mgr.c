/* mgr.c: the connection manager: its lists, event delivery, and the flush
 * that hands out deferred events (CONNECT of UDP clients, WRITE, WRITABLE)
 * and the one CLOSE of each finished connection, then frees it.
 *
 * Why a flush: a user's call (tern_close inside a READ handler, say) must
 * never re-enter the user's handler with CLOSE, and a connection must not
 * be freed while a caller up the stack still holds it. So finishing only
 * marks and queues; the flush runs from the loop (a zero-delay timer) and
 * delivers in order. The cost is one timer start per iteration with work.
 */
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"

static const tern_limits default_limits = {
    .rx_max = 64 * 1024,
    .tx_max = 256 * 1024,
    .tx_lowat = 16 * 1024,
    .connect_ms = 30000,
    .idle_ms = 0,
    .drain_ms = 10000,
    .max_conns = 10000,
    .backlog = 511,
    .attempt_delay_ms = 250,   /* RFC 8305 5 */
    .resolution_delay_ms = 50, /* RFC 8305 3 */
};

static void limits_merge(tern_limits *dst, const tern_limits *src) {
  *dst = default_limits;
  if (src == NULL) return;
  if (src->rx_max) dst->rx_max = src->rx_max;
  if (src->tx_max) dst->tx_max = src->tx_max;
  if (src->tx_lowat) dst->tx_lowat = src->tx_lowat;
  if (src->connect_ms) dst->connect_ms = src->connect_ms;
  if (src->idle_ms) dst->idle_ms = src->idle_ms;
  if (src->drain_ms) dst->drain_ms = src->drain_ms;
  if (src->max_conns) dst->max_conns = src->max_conns;
  if (src->backlog) dst->backlog = src->backlog;
  if (src->attempt_delay_ms) dst->attempt_delay_ms = src->attempt_delay_ms;
  if (src->resolution_delay_ms)
    dst->resolution_delay_ms = src->resolution_delay_ms;
  /* RFC 8305 5: not below 100 ms (10 ms is the hard floor), not above 2 s */
  if (dst->attempt_delay_ms < 100) dst->attempt_delay_ms = 100;
  if (dst->attempt_delay_ms > 2000) dst->attempt_delay_ms = 2000;
  if (dst->resolution_delay_ms > 1000) dst->resolution_delay_ms = 1000;
}

static void mgr_flush(tern_timer *t, void *ud);

int tern_mgr_new(tern_mgr **out, const tern_mgr_opts *opts) {
  if (out == NULL) return TERN_EINVAL;
  tern_mgr *m = calloc(1, sizeof(*m));
  if (m == NULL) return TERN_ENOMEM;
  limits_merge(&m->lim, opts ? &opts->limits : NULL);
  m->be = (opts && opts->backend) ? opts->backend : tern_backend_sock();
  m->next_id = 1;
  int rc = TERN_OK;
  if (opts && opts->loop) {
    m->loop = opts->loop;
  } else {
    rc = tern_loop_new(&m->loop, NULL);
    m->own_loop = 1;
  }
  if (rc == TERN_OK) rc = tern_timer_new(m->loop, &m->flush, mgr_flush, m);
  if (rc == TERN_OK) { /* TERN_FI in the environment: faults for this run */
    rc = tern_fi_from_env(&m->fi);
    if (rc != TERN_OK)
      tern_log(TERN_LOG_ERROR, "net", "TERN_FI does not parse: '%s'", getenv("TERN_FI"));
    m->own_fi = m->fi != NULL;
  }
  if (rc == TERN_OK)
    rc = m->be->create(m, m->loop, opts ? opts->backend_arg : NULL,
                       &m->be_state);
  if (rc != TERN_OK) {
    if (m->own_fi) tern_fi_free(m->fi);
    if (m->flush) tern_timer_free(m->flush);
    if (m->own_loop && m->loop) tern_loop_free(m->loop);
    free(m);
    return rc;
  }
  *out = m;
  return TERN_OK;
}

void tern_mgr_free(tern_mgr *m) {
  if (m == NULL) return;
  m->freeing = 1;
  while (m->live_head != NULL) tern__conn_finish(m->live_head, TERN_ECANCELED);
  mgr_flush(m->flush, m);
  tern__resolver_free(m);
  m->be->destroy(m->be_state);
  tern_timer_free(m->flush);
  if (m->own_loop) tern_loop_free(m->loop);
  free(m->cork);
  if (m->own_fi) tern_fi_free(m->fi);
  tern__mx_free(m);
  free(m);
}

tern_loop *tern_mgr_loop(tern_mgr *m) { return m->loop; }
int tern_mgr_run(tern_mgr *m) { return tern_loop_run(m->loop); }
void tern_mgr_stop(tern_mgr *m) { tern_loop_stop(m->loop); }
size_t tern_mgr_count(const tern_mgr *m) { return m->count; }

void tern_mgr_set_limits(tern_mgr *m, const tern_limits *lim) {
  limits_merge(&m->lim, lim);
}

void tern_mgr_get_limits(const tern_mgr *m, tern_limits *out) {
  *out = m->lim;
}

/* fn may end any connection, not only the one it is given: conn_unlink
 * moves the walk's cursor past a connection it removes, so the walk never
 * follows a removed connection's links (into the closing list). */
static void walk(tern_mgr *m, void (*fn)(tern_conn *, void *), void *arg,
                 uint32_t system) {
  struct tern__walk w = {m->live_head, m->walks};
  m->walks = &w;
  while (w.next != NULL) {
    tern_conn *c = w.next;
    w.next = c->next;
    if ((c->flags & F_SYSTEM) == system) fn(c, arg);
  }
  m->walks = w.up;
}

void tern_mgr_foreach(tern_mgr *m, void (*fn)(tern_conn *, void *),
                      void *arg) {
  walk(m, fn, arg, 0);
}

void tern_mgr_foreach_system(tern_mgr *m, void (*fn)(tern_conn *, void *),
                             void *arg) {
  walk(m, fn, arg, F_SYSTEM);
}

size_t tern_mgr_count_system(const tern_mgr *m) { return m->nsystem; }

tern_conn *tern_mgr_find(tern_mgr *m, uint64_t id) {
  for (tern_conn *c = m->live_head; c != NULL; c = c->next)
    if (c->id == id) return c;
  return NULL;
}

/* ---- connection objects ------------------------------------------- */

tern_conn *tern__conn_alloc(tern_mgr *m, uint32_t flags, tern_conn_fn fn,
                            void *ud) {
  tern_conn *c = tern_fi_calloc(m->fi, 1, sizeof(*c) + m->be->conn_size);
  if (c == NULL) return NULL;
  c->mgr = m;
  c->fn = fn;
  c->ud = ud;
  c->flags = flags;
  c->id = m->next_id++;
  c->idle_ms = m->lim.idle_ms;
  c->tx_lowat = m->lim.tx_lowat;
  c->max_conns = m->lim.max_conns;
  c->last_io = tern_loop_now(m->loop);
  tern_buf_init(&c->rx, m->lim.rx_max);
  tern_buf_init(&c->tx, m->lim.tx_max);
  return c;
}

/* Free a connection the user never saw (set-up failed before OPEN). */
void tern__conn_free_unseen(tern_conn *c) {
  tern__happy_free(c);
  if (c->cm) tern__cm_free(c);
  tern__conn_timers_free(c);
  tern_buf_free(&c->rx);
  tern_buf_free(&c->tx);
  free(c);
}

void tern__conn_link(tern_conn *c) {
  tern_mgr *m = c->mgr;
  c->prev = m->live_tail;
  c->next = NULL;
  if (m->live_tail) m->live_tail->next = c;
  else m->live_head = c;
  m->live_tail = c;
  m->count++;
  if (c->flags & F_SYSTEM) m->nsystem++;
  if (m->mx == NULL) return;
  if (c->listener) tern__mx_open(c); /* accepted: its class is known */
  else tern__conn_pend(c, P_COUNT);  /* after the creating call returns */
}

static void conn_unlink(tern_conn *c) {
  tern_mgr *m = c->mgr;
  for (struct tern__walk *w = m->walks; w != NULL; w = w->up)
    if (w->next == c) w->next = c->next;
  if (c->prev) c->prev->next = c->next;
  else m->live_head = c->next;
  if (c->next) c->next->prev = c->prev;
  else m->live_tail = c->prev;
  c->prev = c->next = NULL;
  m->count--;
  if (c->flags & F_SYSTEM) m->nsystem--;
}

/* Deliver an event, unless the connection is finished (then only CLOSE,
 * which only the flush sends). */
void tern__conn_emit(tern_conn *c, tern_event *ev) {
  if ((c->flags & F_FINAL) && ev->type != TERN_EV_CLOSE) return;
  if (c->fn) c->fn(c, ev, c->ud);
}

static void schedule_flush(tern_mgr *m) {
  if (!tern_timer_active(m->flush)) tern_timer_start(m->flush, 0, 0);
}

void tern__conn_pend(tern_conn *c, uint8_t what) {
  if (c->flags & F_FINAL) return;
  c->pend |= what;
  if (!(c->flags & F_PENDING)) {
    c->flags |= F_PENDING;
    c->pnext = c->mgr->pending;
    c->mgr->pending = c;
  }
  schedule_flush(c->mgr);
}

/* A listener's children outlive it; forget it so they do not reach back. */
static void listener_orphan_children(tern_conn *l) {
  for (tern_conn *c = l->mgr->live_head; c != NULL; c = c->next)
    if (!(c->flags & F_CLIENT) && c->listener == l) c->listener = NULL;
}

static void child_gone(tern_conn *c) {
  if (c->flags & F_CLIENT) return; /* the union holds its race state */
  tern_conn *l = c->listener;
  if (l == NULL) return;
  c->listener = NULL;
  l->nchildren--;
  if ((l->flags & F_ACCEPT_PAUSED) && l->nchildren < l->max_conns &&
      !(l->flags & F_FINAL)) {
    l->flags &= ~F_ACCEPT_PAUSED;
    l->mgr->be->pause_accept(l->mgr->be_state, l, false);
  }
}

/* End the connection now: release the backend side, timers and the
 * resolver request; CLOSE is delivered by the next flush. */
void tern__conn_finish(tern_conn *c, int reason) {
  if (c->flags & F_FINAL) return;
  tern_mgr *m = c->mgr;
  c->flags |= F_FINAL;
  c->reason = reason;
  if (m->mx) tern__mx_close(c);
  tern__conn_cork_drop(c);
  if (c->flags & F_RESOLVING) {
    if (!(c->flags & F_RESOLVE_EXT)) tern__resolve_cancel(c);
    else if (m->names) m->names->cancel(m->names_ctx, c);
  }
  tern__happy_free(c); /* attempts still racing are cancelled */
  if (c->cm) tern__cm_connected(c, reason ? reason : TERN_ECANCELED);
  tern__conn_timers_free(c);
  if (c->flags & F_BACKEND) {
    c->flags &= ~F_BACKEND;
    m->be->close(m->be_state, c, (c->flags & F_ABORT) != 0);
  }
  if (c->flags & F_LISTENER) listener_orphan_children(c);
  child_gone(c);
  conn_unlink(c);
  c->next = m->closing;
  m->closing = c;
  schedule_flush(m);
}

void tern__conn_fail(tern_conn *c, int err, const char *msg) {
  tern_event ev = {.type = TERN_EV_ERROR};
  ev.error.err = err;
  ev.error.msg = msg;
  tern__conn_emit(c, &ev);
  tern__conn_finish(c, err);
}

static void deliver_pending(tern_conn *c) {
  uint8_t what = c->pend;
  c->pend = 0;
  c->flags &= ~F_PENDING;
  tern_event ev = {.type = TERN_EV_CONNECT};
  if (what & P_COUNT) tern__mx_open(c);
  if (what & P_CONNECT) tern__conn_emit(c, &ev);
  if ((what & P_WRITE) && c->sent_unreported) {
    ev.type = TERN_EV_WRITE;
    ev.write.len = c->sent_unreported;
    c->sent_unreported = 0;
    tern__conn_emit(c, &ev);
  }
  if ((what & P_WRITABLE) && (c->flags & F_WANT_WRITABLE) &&
      c->tx.len <= c->tx_lowat) {
    c->flags &= ~F_WANT_WRITABLE;
    ev.type = TERN_EV_WRITABLE;
    tern__conn_emit(c, &ev);
  }
}

static void deliver_close(tern_conn *c) {
  tern_event ev = {.type = TERN_EV_CLOSE};
  ev.close.reason = c->reason;
  ev.close.unsent = c->tx.len;
  tern_buf_free(&c->rx);
  tern_buf_free(&c->tx);
  tern__conn_emit(c, &ev);
  if (c->cm) tern__cm_free(c); /* not taken, not kept */
  free(c);
}

/* End a connection that was never linked (a happy-eyeballs attempt): its
 * backend resources go now, its memory with the next flush (never inside
 * the backend callback that may be running for it). */
void tern__conn_discard(tern_conn *c) {
  tern_mgr *m = c->mgr;
  c->flags |= F_FINAL;
  c->fn = NULL;
  tern__conn_timers_free(c);
  if (c->flags & F_BACKEND) {
    c->flags &= ~F_BACKEND;
    m->be->close(m->be_state, c, (c->flags & F_ABORT) != 0);
  }
  c->next = m->closing;
  m->closing = c;
  schedule_flush(m);
}

/* Deliver what is owed, then CLOSE and free finished connections. Handlers
 * may add to either list; loop until both are empty. Pending entries are
 * cleared before any free, so no list points at freed memory. */
static void mgr_flush(tern_timer *t, void *ud) {
  tern_mgr *m = ud;
  (void)t;
  while (m->pending != NULL || m->closing != NULL) {
    while (m->pending != NULL) {
      tern_conn *c = m->pending;
      m->pending = c->pnext;
      c->pnext = NULL;
      deliver_pending(c);
    }
    tern_conn *list = m->closing;
    m->closing = NULL;
    while (list != NULL && m->pending == NULL) {
      tern_conn *c = list;
      list = c->next;
      deliver_close(c);
    }
    /* A CLOSE handler made something pending: put the rest back first. */
    while (list != NULL) {
      tern_conn *c = list;
      list = c->next;
      c->next = m->closing;
      m->closing = c;
    }
  }
}

void tern_mgr_set_fi(tern_mgr *m, tern_fi *fi) {
  if (m->own_fi) tern_fi_free(m->fi);
  m->fi = fi;
  m->own_fi = false;
}

tern_fi *tern_mgr_fi(const tern_mgr *m) { return m->fi; }
