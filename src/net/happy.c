/* happy.c: a client connection to a name, from the resolver's answers to
 * connected: happy eyeballs, RFC 8305.
 *
 * Read first: RFC 8305 3 (resolution delay: an A answer waits briefly for
 * the AAAA one), 4 (interleave the families, IPv6 first, "First Address
 * Family Count" 1), 5 (a new attempt every Connection Attempt Delay, or
 * at once when one fails; the first to connect wins, the rest are
 * cancelled).
 *
 * Shape: the user's tern_conn c owns one struct tern__happy while it
 * resolves and races. Each attempt is a hidden tern_conn (F_ATTEMPT: not
 * linked into the manager's lists, never counted, no events, ud = the
 * race) with its own backend resources. The winner's resources move into
 * c with the backend's move() and c goes on as if it had connected
 * itself; losers are aborted. Hidden connections are freed by the
 * manager's flush (tern__conn_discard), never inside a backend callback.
 *
 * A backend without move(), and UDP, take the first address of the order
 * that connects at once (a later failure does not move on) and connect
 * c itself.
 *
 * Fault injection: "conn/blackhole" makes an attempt never finish (its
 * SYN goes nowhere), so tests can race a dead address deterministically.
 */
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"

#define HE_MAX (2 * TERN__HE_PER_FAMILY)
#define HE_HOST_MAX 255

enum { ANS6 = 1, ANS4 = 2, ANS_ALL = 3 };

struct tern__happy {
  tern_conn *c;
  struct tern__resolve_req *resolve; /* resolve.c's request, if any */
  tern_timer *timer; /* resolution delay, then attempt delay */
  tern_addr v6[TERN__HE_PER_FAMILY], v4[TERN__HE_PER_FAMILY];
  uint8_t n6, n4, i6, i4; /* addresses, and the next untried of each */
  uint8_t answered;       /* ANS6 | ANS4 */
  uint8_t last_family;    /* of the last attempt started */
  bool racing;            /* attempts have begun (resolution delay over) */
  bool in_rd;             /* the timer runs the resolution delay */
  int err;                /* the last failure, reported if all fail */
  int dns_err;
  uint16_t port;
  uint8_t natt;
  tern_conn *att[HE_MAX];  /* attempts in progress */
  int att_cm[HE_MAX];      /* their conmon index (-1: none) */
  tern_timer_storage timer_mem;
  char host[HE_HOST_MAX + 1];
};

static void on_timer(tern_timer *t, void *ud);

static bool can_race(const tern_conn *c) {
  return !(c->flags & F_UDP) && c->mgr->be->move != NULL;
}

int tern__happy_new(tern_conn *c, const char *host, size_t len,
                    uint16_t port) {
  struct tern__happy *he = calloc(1, sizeof(*he));
  if (he == NULL) return TERN_ENOMEM;
  if (tern_timer_new_in(c->mgr->loop, &he->timer_mem, &he->timer, on_timer, he) !=
      TERN_OK) {
    free(he);
    return TERN_ENOMEM;
  }
  he->c = c;
  he->port = port;
  he->err = TERN_ECONNREFUSED;
  he->dns_err = TERN_ERESOLVE;
  if (len > HE_HOST_MAX) len = HE_HOST_MAX;
  memcpy(he->host, host, len);
  c->happy = he;
  return TERN_OK;
}

void tern__happy_forget_cm(tern_conn *c) {
  struct tern__happy *he = (c->flags & F_CLIENT) ? c->happy : NULL;
  for (unsigned i = 0; he && i < he->natt; i++) he->att_cm[i] = -1;
}

const char *tern__happy_host(const tern_conn *c) {
  return (c->flags & F_CLIENT) && c->happy ? c->happy->host : "";
}

struct tern__resolve_req **tern__happy_resolve_slot(tern_conn *c) {
  return (c->flags & F_CLIENT) && c->happy ? &c->happy->resolve : NULL;
}

static void attempt_cancel(struct tern__happy *he, unsigned i, int why) {
  tern_conn *a = he->att[i];
  if (he->c->cm && he->att_cm[i] >= 0)
    tern__cm_attempt_end(he->c, he->att_cm[i], why);
  he->att[i] = he->att[he->natt - 1];
  he->att_cm[i] = he->att_cm[he->natt - 1];
  he->natt--;
  a->flags |= F_ABORT;
  tern__conn_discard(a);
}

void tern__happy_free(tern_conn *c) {
  if (!(c->flags & F_CLIENT)) return; /* the union holds a listener */
  struct tern__happy *he = c->happy;
  if (he == NULL) return;
  c->happy = NULL;
  while (he->natt) attempt_cancel(he, he->natt - 1, TERN_ECANCELED);
  tern_timer_free(he->timer);
  free(he);
}

/* The resolver is not needed any more (a winner before every answer). */
static void resolver_stop(tern_conn *c) {
  if (!(c->flags & F_RESOLVING)) return;
  tern_mgr *m = c->mgr;
  if (!(c->flags & F_RESOLVE_EXT)) tern__resolve_cancel(c);
  else if (m->names) m->names->cancel(m->names_ctx, c);
  c->flags &= ~(F_RESOLVING | F_RESOLVE_EXT);
}

/* RFC 8305 4: alternate families, starting with IPv6; when one family is
 * used up, the other's addresses follow. NULL when none is left. */
static const tern_addr *next_addr(struct tern__happy *he) {
  bool have6 = he->i6 < he->n6, have4 = he->i4 < he->n4;
  if (!have6 && !have4) return NULL;
  bool six = have6 && (!have4 || he->last_family != TERN_AF_INET6);
  he->last_family = six ? TERN_AF_INET6 : TERN_AF_INET;
  return six ? &he->v6[he->i6++] : &he->v4[he->i4++];
}

static bool all_answered(const struct tern__happy *he) {
  return he->answered == ANS_ALL;
}

/* Nothing left to try, nothing in flight, no answer to wait for: the
 * connect fails with the last error seen. */
static void maybe_fail(struct tern__happy *he) {
  tern_conn *c = he->c;
  if (he->natt || !all_answered(he) || he->i6 < he->n6 || he->i4 < he->n4)
    return;
  bool any = he->n6 || he->n4;
  int err = any ? he->err : he->dns_err;
  if (c->cm) tern__cm_connected(c, err);
  tern__conn_fail(c, err, any ? "connect failed" : "name resolution failed");
}

/* Start attempts until one is under way (or none is left). Returns false
 * when c has ended (the RESOLVE handler closed it, say): he is gone. */
static bool start_next(struct tern__happy *he) {
  tern_conn *c = he->c;
  tern_mgr *m = c->mgr;
  const tern_addr *pa;
  while ((pa = next_addr(he)) != NULL) {
    tern_addr a = *pa;
    tern_event ev = {.type = TERN_EV_RESOLVE};
    ev.resolve.addr = &a;
    tern__conn_emit(c, &ev);
    if (c->flags & F_FINAL) return false;
    int idx = c->cm ? tern__cm_attempt_start(c, &a) : -1;
    tern_conn *t = tern__conn_alloc(m, F_CLIENT | F_ATTEMPT, NULL, he);
    int rc = t ? TERN_OK : TERN_ENOMEM;
    if (t) {
      t->id = 0; /* hidden: no id of its own */
      m->next_id--;
      t->peer = a;
    }
    if (rc == TERN_OK && !tern_fi_hit(m->fi, "conn/blackhole")) {
      rc = m->be->connect_tcp(m->be_state, t, &a);
      if (rc == TERN_OK) t->flags |= F_BACKEND;
    }
    if (rc != TERN_OK) { /* this address cannot even be tried: the next */
      if (t) tern__conn_discard(t);
      if (idx >= 0) tern__cm_attempt_end(c, idx, rc);
      he->err = rc;
      continue;
    }
    t->flags |= F_CONNECTING;
    he->att[he->natt] = t;
    he->att_cm[he->natt] = idx;
    he->natt++;
    c->flags |= F_CONNECTING;
    tern_timer_start(he->timer, m->lim.attempt_delay_ms, 0);
    return true;
  }
  tern_timer_stop(he->timer);
  maybe_fail(he);
  return !(c->flags & F_FINAL);
}

/* No race (UDP, or a backend that cannot move): c connects itself to the
 * first address of the order that it can connect to at once (a UDP
 * socket, or an address family with no route, fails right there). */
static void connect_first(struct tern__happy *he) {
  tern_conn *c = he->c;
  const tern_addr *pa;
  while ((pa = next_addr(he)) != NULL) {
    tern_addr a = *pa;
    int rc = tern__conn_start_connect(c, &a); /* conmon records it */
    if (c->flags & F_FINAL) return;
    if (rc == TERN_OK) {
      resolver_stop(c);
      tern__happy_free(c);
      return;
    }
    he->err = rc;
  }
  maybe_fail(he);
}

/* The next step of the race, or of the plain connect. */
static void advance(struct tern__happy *he) {
  if (can_race(he->c)) start_next(he);
  else connect_first(he);
}

static void begin(struct tern__happy *he) {
  he->racing = true;
  he->in_rd = false;
  if (he->natt == 0) advance(he);
}

static void on_timer(tern_timer *t, void *ud) {
  struct tern__happy *he = ud;
  (void)t;
  if (he->in_rd) {
    begin(he); /* RFC 8305 3: the AAAA answer did not come in time */
    return;
  }
  advance(he); /* RFC 8305 5: the Connection Attempt Delay is over */
}

static void take(tern_addr *dst, uint8_t *n, const tern_addr *a, size_t k,
                 int family, uint16_t port) {
  for (size_t i = 0; i < k && *n < TERN__HE_PER_FAMILY; i++) {
    if (a[i].family != family) continue;
    dst[*n] = a[i];
    dst[*n].port = port;
    (*n)++;
  }
}

void tern__happy_answer(tern_conn *c, int family, int err, const tern_addr *a,
                        size_t n) {
  struct tern__happy *he = (c->flags & F_CLIENT) ? c->happy : NULL;
  if (he == NULL) return;
  uint8_t bit = family == TERN_AF_INET6 ? ANS6
                : family == TERN_AF_INET ? ANS4
                                         : ANS_ALL;
  if ((he->answered & bit) == bit) return; /* answered already */
  he->answered |= bit;
  if (c->cm) tern__cm_dns(c, family, err, a, n);
  if (err != TERN_OK) {
    he->dns_err = err;
  } else if (a != NULL) {
    if (bit & ANS6) take(he->v6, &he->n6, a, n, TERN_AF_INET6, he->port);
    if (bit & ANS4) take(he->v4, &he->n4, a, n, TERN_AF_INET, he->port);
  }
  if (all_answered(he)) c->flags &= ~(F_RESOLVING | F_RESOLVE_EXT);
  if (he->racing) { /* RFC 8305 3: late addresses join the race */
    if (!tern_timer_active(he->timer)) advance(he); /* delay is over */
    else maybe_fail(he);
    return;
  }
  if (he->n6 || all_answered(he)) {
    begin(he); /* IPv6 addresses, or every answer: go */
    return;
  }
  if (he->n4 && !he->in_rd) { /* A before AAAA: wait a little for it */
    he->in_rd = true;
    tern_timer_start(he->timer, c->mgr->lim.resolution_delay_ms, 0);
  }
}

void tern_conn_resolved_family(tern_conn *c, int family, int err,
                               const tern_addr *a, size_t n) {
  if (c == NULL || !(c->flags & F_RESOLVING) || (c->flags & F_FINAL)) return;
  if (family != 0 && family != TERN_AF_INET && family != TERN_AF_INET6) return;
  if (err == TERN_OK && a == NULL && n > 0) err = TERN_EINVAL;
  tern__happy_answer(c, family, err, a, n);
}

void tern_conn_resolved(tern_conn *c, int err, const tern_addr *a) {
  if (c == NULL || !(c->flags & F_RESOLVING) || (c->flags & F_FINAL)) return;
  if (err == TERN_OK && a == NULL) err = TERN_EINVAL;
  tern__happy_answer(c, 0, err, a, err == TERN_OK ? 1 : 0);
}

/* An attempt is over. Called from tern_core_connected (a backend
 * callback): the attempt is discarded, not freed, here. */
void tern__happy_attempt_done(tern_conn *t, int err) {
  struct tern__happy *he = t->ud;
  tern_conn *c = he->c;
  unsigned i = 0;
  while (i < he->natt && he->att[i] != t) i++;
  if (i == he->natt) return; /* not ours any more */
  int idx = he->att_cm[i];
  he->att[i] = he->att[he->natt - 1];
  he->att_cm[i] = he->att_cm[he->natt - 1];
  he->natt--;
  t->flags &= ~F_CONNECTING;
  if (err != TERN_OK) {
    if (c->cm && idx >= 0) tern__cm_attempt_end(c, idx, err);
    he->err = err;
    tern__conn_discard(t);
    start_next(he); /* RFC 8305 5: a failure starts the next one now */
    return;
  }
  /* The winner: RFC 8305 5 "cancel all other attempts". */
  if (c->cm && idx >= 0) tern__cm_attempt_end(c, idx, TERN_OK);
  tern_mgr *m = c->mgr;
  int rc = m->be->move(m->be_state, t, c);
  t->flags &= ~F_BACKEND;
  if (rc == TERN_OK) {
    c->flags |= F_BACKEND;
    c->local = t->local;
    c->peer = t->peer;
  }
  tern__conn_discard(t);
  resolver_stop(c);
  tern__happy_free(c); /* cancels the losers */
  tern__conn_connected(c, rc);
}
