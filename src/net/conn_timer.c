/* conn_timer.c: a connection's deadlines (connect, idle, drain) and its
 * POLL ticks.
 *
 * One timer per connection covers every deadline, created only when a
 * deadline exists. Activity does not touch the timer: I/O only stores
 * last_io, and when the timer fires early it re-arms for the remainder.
 * So a busy connection costs no heap operation per read or write, at the
 * price of at most one spurious wake-up per idle period.
 */
#include <stdlib.h>

#include "net/net_internal.h"

/* The connection's current deadline in loop ms, 0 if none. */
static uint64_t conn_due(const tern_conn *c) {
  const tern_limits *lim = &c->mgr->lim;
  if (c->flags & (F_RESOLVING | F_CONNECTING))
    return c->start_ms + lim->connect_ms;
  if (c->flags & F_CLOSING) return c->start_ms + lim->drain_ms;
  if (c->idle_ms && !(c->flags & F_LISTENER))
    return c->last_io + c->idle_ms;
  return 0;
}

static void on_deadline(tern_timer *t, void *ud);

void tern__conn_arm_deadline(tern_conn *c) {
  if (c->flags & F_FINAL) return;
  uint64_t due = conn_due(c);
  if (due == 0) {
    if (c->deadline) tern_timer_stop(c->deadline);
    return;
  }
  if (c->deadline == NULL &&
      tern_timer_new_in(c->mgr->loop, &c->deadline_mem, &c->deadline,
                        on_deadline, c) != TERN_OK) {
    c->deadline = NULL; /* no memory: the deadline is not enforced */
    tern_log(TERN_LOG_WARN, "net", "conn %llu: no memory for its timer",
             (unsigned long long)c->id);
    return;
  }
  uint64_t now = tern_loop_now(c->mgr->loop);
  if (!tern_timer_active(c->deadline) || tern_timer_due(c->deadline) > due)
    tern_timer_start(c->deadline, due > now ? due - now : 0, 0);
}

static void on_deadline(tern_timer *t, void *ud) {
  tern_conn *c = ud;
  uint64_t due = conn_due(c), now = tern_loop_now(c->mgr->loop);
  if (due == 0) return;
  if (now < due) {
    tern_timer_start(t, due - now, 0);
    return;
  }
  tern_event ev = {.type = TERN_EV_TIMEOUT};
  if (c->flags & F_CLOSING) {
    /* Drain took too long: drop what is left (RFC 9293 3.10.4 allows
     * ABORT in place of a CLOSE that cannot complete). */
    c->flags |= F_ABORT;
    tern__conn_finish(c, TERN_ETIMEDOUT);
    return;
  }
  c->flags &= ~F_TIMEOUT_SET;
  tern__conn_emit(c, &ev);
  if (c->flags & F_FINAL) return;
  if (!(c->flags & F_TIMEOUT_SET) || (c->flags & (F_RESOLVING | F_CONNECTING)))
    tern__conn_finish(c, TERN_ETIMEDOUT);
}

int tern_conn_set_idle_timeout(tern_conn *c, uint32_t ms) {
  if (c == NULL) return TERN_EINVAL;
  if (c->flags & F_FINAL) return TERN_ECLOSED;
  c->idle_ms = ms;
  c->flags |= F_TIMEOUT_SET;
  c->last_io = tern_loop_now(c->mgr->loop);
  /* A timer already due no later than the new deadline stays: it re-arms
   * for the remainder when it fires (on_deadline), so a server that sets
   * the same keep-alive timeout after every request does no heap work.
   * An earlier deadline is armed by tern__conn_arm_deadline; no deadline
   * at all stops the timer. */
  tern__conn_arm_deadline(c);
  return TERN_OK;
}

static void on_poll(tern_timer *t, void *ud) {
  tern_conn *c = ud;
  (void)t;
  tern_event ev = {.type = TERN_EV_POLL};
  tern__conn_emit(c, &ev);
}

int tern_conn_set_poll(tern_conn *c, uint32_t ms) {
  if (c == NULL) return TERN_EINVAL;
  if (c->flags & F_FINAL) return TERN_ECLOSED;
  c->poll_ms = ms;
  if (ms == 0) {
    if (c->poller) tern_timer_stop(c->poller);
    return TERN_OK;
  }
  if (c->poller == NULL) {
    int rc = tern_timer_new(c->mgr->loop, &c->poller, on_poll, c);
    if (rc != TERN_OK) {
      c->poller = NULL;
      return rc;
    }
  }
  tern_timer_start(c->poller, ms, ms);
  return TERN_OK;
}

/* ---- fault injection: "conn/close" --------------------------------
 * The resets due are on a list in the manager, so a connection carries
 * nothing for them; a connection that ends first takes its entry off. */

struct tern__fi_close {
  struct tern__fi_close *next;
  tern_conn *c;
  tern_timer *t;
};

static void fi_close_drop(tern_conn *c) {
  struct tern__fi_close **p = &c->mgr->fi_closes;
  while (*p) {
    struct tern__fi_close *f = *p;
    if (f->c != c) {
      p = &f->next;
      continue;
    }
    *p = f->next;
    tern_timer_free(f->t);
    free(f);
  }
}

void tern__conn_timers_free(tern_conn *c) {
  if (c->deadline) tern_timer_free(c->deadline);
  if (c->poller) tern_timer_free(c->poller);
  c->deadline = c->poller = NULL;
  if (c->mgr->fi_closes) fi_close_drop(c);
}

static void on_fi_close(tern_timer *t, void *ud) {
  tern_conn *c = ud;
  (void)t;
  fi_close_drop(c); /* frees t: safe from its own callback */
  if (c->flags & F_FINAL) return;
  c->flags |= F_ABORT; /* the peer sees a reset too */
  tern__conn_fail(c, TERN_ECONNRESET, "fault injection: timed close");
}

void tern__conn_fi_established(tern_conn *c) {
  tern_fi *fi = c->mgr->fi;
  if (fi == NULL || (c->flags & (F_UDP | F_FINAL)) ||
      !tern_fi_hit(fi, "conn/close"))
    return;
  struct tern__fi_close *f = malloc(sizeof *f);
  if (f == NULL) return;
  if (tern_timer_new(c->mgr->loop, &f->t, on_fi_close, c) != TERN_OK) {
    free(f);
    return;
  }
  f->c = c;
  f->next = c->mgr->fi_closes;
  c->mgr->fi_closes = f;
  uint32_t ms = tern_fi_after_ms(fi, "conn/close");
  tern_timer_start(f->t, ms ? ms : 1000, 0);
}
