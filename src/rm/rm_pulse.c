/* rm/rm_pulse.c: pulses both ways and private message ranges (QNX
 * pulse_attach, message_attach, MsgSendPulse's receiving end and
 * MsgDeliverEvent).
 *
 * The tables hang off the dispatcher (made on the first attach, freed
 * with it): one handler slot per pulse code 0..127 and a short list of
 * non-overlapping type ranges. A client's pulse runs its code's handler
 * with a request-less ctx; an unattached code is dropped (QNX's
 * dispatch_handler ignores it too). A PRIV request goes to the range
 * holding its type and is answered like an I/O message.
 *
 * A pulse to a client is one PULSE datagram (rid 0) sent with
 * MSG_DONTWAIT. It must not close the connection on the spot (a trigger
 * walks a notify list whose entries the close would remove), so a failed
 * send shuts the socket down and the loop's next read closes it.
 *
 * Threads (a pool runs handlers off the loop thread): the tables are
 * read and written under d->lock; a handler's fn and opaque are copied
 * out under it and called after it is released. A pulse is sent with
 * d->lock held (it reads c->dead, which a closing thread writes under it,
 * and the lock keeps a pool thread from freeing c meanwhile); sending
 * never calls user code or closes anything.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rm/rm_internal.h"
#include "tern/fi.h"

#define RANGES_MAX 64 /* message_attach ranges per dispatcher */

typedef struct prange {
  unsigned lo, hi;
  tern_rm_message_fn fn;
  void *opaque;
} prange;

struct tern__rm_tabs {
  struct {
    tern_rm_pulse_fn fn;
    void *opaque;
  } pulse[TERN_RM_PULSE_CODE_MAX + 1];
  prange ranges[RANGES_MAX];
  size_t nranges;
};

/* Under d->lock. */
static struct tern__rm_tabs *tabs(tern_rm_dispatch *d) {
  if (d->tabs == NULL) d->tabs = calloc(1, sizeof(*d->tabs));
  return d->tabs;
}

int tern_rm_dispatch_set_fi(tern_rm_dispatch *d, tern_fi *fi) {
  if (d == NULL) return TERN_EINVAL;
  atomic_store(&d->fi, fi);
  return TERN_OK;
}

bool tern__rm_fi_hit(tern_rm_dispatch *d, const char *name) {
  tern_fi *fi = atomic_load(&d->fi);
  return fi && tern_fi_hit(fi, name); /* tern_fi is thread-safe */
}

void tern__rm_tabs_free(tern_rm_dispatch *d) {
  free(d->tabs);
  d->tabs = NULL;
}

/* ---- pulse_attach / message_attach ----------------------------------- */

int tern_rm_pulse_attach(tern_rm_dispatch *d, int code, tern_rm_pulse_fn fn,
                         void *opaque) {
  if (d == NULL || fn == NULL ||
      (code != TERN_RM_PULSE_ALLOC && (code < 0 || code > TERN_RM_PULSE_CODE_MAX)))
    return TERN_EINVAL;
  pthread_mutex_lock(&d->lock);
  struct tern__rm_tabs *t = tabs(d);
  int rc = code;
  if (t == NULL) {
    rc = TERN_ENOMEM;
  } else if (code == TERN_RM_PULSE_ALLOC) { /* MSG_FLAG_ALLOC_PULSE: lowest free */
    for (rc = 0; rc <= TERN_RM_PULSE_CODE_MAX && t->pulse[rc].fn; rc++) {
    }
    if (rc > TERN_RM_PULSE_CODE_MAX) rc = TERN_ENOSPC;
  } else if (t->pulse[code].fn) {
    rc = TERN_EEXIST;
  }
  if (rc >= 0) {
    t->pulse[rc].fn = fn;
    t->pulse[rc].opaque = opaque;
  }
  pthread_mutex_unlock(&d->lock);
  return rc;
}

int tern_rm_pulse_detach(tern_rm_dispatch *d, int code) {
  if (d == NULL || code < 0 || code > TERN_RM_PULSE_CODE_MAX) return TERN_EINVAL;
  int rc = TERN_ENOENT;
  pthread_mutex_lock(&d->lock);
  if (d->tabs && d->tabs->pulse[code].fn) {
    d->tabs->pulse[code].fn = NULL;
    d->tabs->pulse[code].opaque = NULL;
    rc = TERN_OK;
  }
  pthread_mutex_unlock(&d->lock);
  return rc;
}

int tern_rm_message_attach(tern_rm_dispatch *d, unsigned lo, unsigned hi,
                           tern_rm_message_fn fn, void *opaque) {
  if (d == NULL || fn == NULL || lo < TERN_RM_PRIV_MIN || hi > TERN_RM_PRIV_MAX ||
      lo > hi)
    return TERN_EINVAL;
  pthread_mutex_lock(&d->lock);
  struct tern__rm_tabs *t = tabs(d);
  int rc = t ? TERN_OK : TERN_ENOMEM;
  for (size_t i = 0; t && i < t->nranges && rc == TERN_OK; i++)
    if (lo <= t->ranges[i].hi && t->ranges[i].lo <= hi) rc = TERN_EEXIST;
  if (rc == TERN_OK && t->nranges == RANGES_MAX) rc = TERN_ENOSPC;
  if (rc == TERN_OK) t->ranges[t->nranges++] = (prange){lo, hi, fn, opaque};
  pthread_mutex_unlock(&d->lock);
  return rc;
}

int tern_rm_message_detach(tern_rm_dispatch *d, unsigned lo) {
  int rc = TERN_ENOENT;
  if (d == NULL) return rc;
  pthread_mutex_lock(&d->lock);
  struct tern__rm_tabs *t = d->tabs;
  for (size_t i = 0; t && i < t->nranges; i++) {
    if (t->ranges[i].lo != lo) continue;
    t->ranges[i] = t->ranges[--t->nranges];
    rc = TERN_OK;
    break;
  }
  pthread_mutex_unlock(&d->lock);
  return rc;
}

/* ---- receiving ------------------------------------------------------- */

void tern__rm_do_pulse(tern__rm_conn *c, const tern__rm_msg *m) {
  tern_rm_dispatch *d = c->d;
  int code = m->status;
  if (m->conds != 0) { /* notify conditions only flow to clients */
    tern__rm_conn_fail(c);
    return;
  }
  pthread_mutex_lock(&d->lock);
  tern_rm_pulse_fn fn = d->tabs ? d->tabs->pulse[code].fn : NULL;
  void *opaque = d->tabs ? d->tabs->pulse[code].opaque : NULL;
  pthread_mutex_unlock(&d->lock);
  if (fn == NULL) {
    tern_log(TERN_LOG_DEBUG, "rm", "conn %u: pulse %d unattached; dropped",
             c->id, code);
    return;
  }
  tern_rm_ctx ctx;
  tern__rm_ctx_init(&ctx, c, 0, TERN__RM_T_PULSE);
  fn(&ctx, code, m->offset, opaque);
}

int tern__rm_do_priv(tern_rm_ctx *ctx, const tern__rm_msg *m) {
  tern_rm_dispatch *d = ctx->d;
  prange r = {0, 0, NULL, NULL};
  pthread_mutex_lock(&d->lock);
  for (size_t i = 0; d->tabs && i < d->tabs->nranges; i++) {
    if (m->mgrid < d->tabs->ranges[i].lo || m->mgrid > d->tabs->ranges[i].hi)
      continue;
    r = d->tabs->ranges[i];
    break;
  }
  pthread_mutex_unlock(&d->lock);
  if (r.fn == NULL) return TERN_ENOTSUP; /* QNX: ENOSYS for a type nobody attached */
  tern_rm_priv_msg pm = {m->mgrid, m->data, m->data_len};
  return r.fn(ctx, &pm, r.opaque);
}

/* ---- sending ---------------------------------------------------------- */

/* Under d->lock: logs nothing (a log sink is user code). */
int tern__rm_send_pulse(tern__rm_conn *c, int code, uint32_t conds,
                        int64_t value) {
  uint8_t b[TERN__RM_HDR_LEN + TERN__RM_PULSE_LEN];
  if (c->dead) return TERN_ENOENT;
  size_t n = tern__rm_enc_pulse(b, code, conds, value);
  if (!tern__rm_fi_hit(c->d, "rm/pulse_send") && /* as if the socket were full */
      send(c->fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n)
    return TERN_OK;
  shutdown(c->fd, SHUT_RDWR); /* the loop sees the end and closes it */
  return TERN_ECONNRESET;
}

tern_rm_rcvid tern_rm_ctx_conn_rcvid(const tern_rm_ctx *ctx) {
  return (uint64_t)ctx->c->id << 32 | ctx->rid;
}

/* Loop thread; a pool thread may free a connection meanwhile, so the
 * lookup and the send are under d->lock. */
static int pulse_now(tern_rm_dispatch *d, tern_rm_rcvid rcvid, int code,
                     int64_t value) {
  uint32_t id = (uint32_t)(rcvid >> 32);
  pthread_mutex_lock(&d->lock);
  tern__rm_conn *c = tern__rm_conn_find(d, id);
  int rc = c ? tern__rm_send_pulse(c, code, 0, value) : TERN_ENOENT;
  pthread_mutex_unlock(&d->lock);
  if (rc == TERN_ECONNRESET)
    tern_log(TERN_LOG_DEBUG, "rm", "conn %u: pulse not sent; closing", id);
  return rc;
}

typedef struct posted_pulse {
  tern_rm_dispatch *d;
  tern_rm_rcvid rcvid;
  int code;
  int64_t value;
} posted_pulse;

static void on_posted_pulse(tern_loop *loop, void *arg, int status) {
  posted_pulse *p = arg;
  tern_rm_dispatch *d = p->d;
  (void)loop;
  if (status == TERN_OK && !d->freeing) pulse_now(d, p->rcvid, p->code, p->value);
  free(p);
  tern__rm_posted_end(d);
}

int tern_rm_pulse_send(tern_rm_dispatch *d, tern_rm_rcvid rcvid, int code,
                       int64_t value) {
  if (d == NULL || code < 0 || code > TERN_RM_PULSE_CODE_MAX) return TERN_EINVAL;
  if (tern_loop_on_thread(d->loop)) return pulse_now(d, rcvid, code, value);
  posted_pulse *p = malloc(sizeof(*p));
  if (p == NULL) return TERN_ENOMEM;
  *p = (posted_pulse){d, rcvid, code, value};
  tern__rm_posted_begin(d);
  int rc = tern_loop_call(d->loop, on_posted_pulse, p);
  if (rc != TERN_OK) {
    atomic_fetch_sub(&d->posted, 1);
    free(p);
  }
  return rc;
}
