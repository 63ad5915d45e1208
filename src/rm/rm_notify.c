/* rm/rm_notify.c: notify lists (QNX iofunc_notify_t, iofunc_notify,
 * iofunc_notify_trigger, iofunc_notify_remove) and the _IO_NOTIFY
 * message to its handler.
 *
 * An attribute's lists live behind attr->notify, made on the first arm
 * and freed when the last entry leaves, so an attribute nobody arms costs
 * nothing and no list outlives its entries. One entry per connection per
 * attribute (re-arming replaces it; QNX keys entries by the client's
 * connection as well) holding the conditions asked for, a threshold per
 * condition and the pulse to send. A trigger sends the pulse to every
 * entry asking for that condition with threshold <= count and removes
 * the entry: one pulse per arm, the client re-arms (QNX's ionotify
 * contract). Entries point at their connection; the OCB's release
 * (close, or the connection's end) removes them before the connection is
 * freed, so an entry never names a gone connection.
 *
 * Threads: with a pool (rm_pool.c) arms and removals run on pool
 * threads, and a trigger may come from any thread. Every list, and every
 * attr->notify pointer, is guarded by one lock, nlock (a trigger names
 * only an attribute, which may be served by any dispatcher, so the lock
 * cannot be a dispatcher's). A trigger sends its pulses holding nlock
 * (and, per pulse, the connection's d->lock): an entry it found keeps its
 * connection alive until nlock is released, because the connection's
 * close removes its entries under nlock before freeing it. Order: nlock,
 * then d->lock; nothing takes nlock under d->lock. No user code runs
 * under either (sending never calls any; the log comes after).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rm/rm_internal.h"

static pthread_mutex_t nlock = PTHREAD_MUTEX_INITIALIZER;

typedef struct nentry {
  tern__rm_conn *c;
  uint32_t conds;
  uint32_t thresh[TERN_RM_NOTIFY_NLISTS];
  int code;
  int64_t value;
} nentry;

typedef struct nlist {
  nentry *e;
  size_t n, cap; /* n <= connections open on the attribute */
} nlist;

/* Under nlock. */
static void list_drop(tern_rm_attr *attr, size_t i) {
  nlist *l = attr->notify;
  l->e[i] = l->e[--l->n];
  if (l->n == 0) {
    free(l->e);
    free(l);
    attr->notify = NULL;
  }
}

/* Under nlock. */
static int arm(tern_rm_attr *attr, tern__rm_conn *c,
               const tern_rm_notify_msg *msg) {
  nlist *l = attr->notify;
  nentry e = {c, msg->conds & TERN_RM_NOTIFY_ALL, {0}, msg->code, msg->value};
  for (int i = 0; i < TERN_RM_NOTIFY_NLISTS; i++)
    if (e.conds & (1u << i))
      e.thresh[i] = msg->thresholds[i] ? msg->thresholds[i] : 1;
  if (l == NULL) {
    if ((l = calloc(1, sizeof(*l))) == NULL) return TERN_ENOMEM;
    attr->notify = l;
  }
  for (size_t i = 0; i < l->n; i++) {
    if (l->e[i].c != c) continue;
    l->e[i] = e; /* re-armed: the new request replaces the old */
    return TERN_OK;
  }
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    nentry *p = realloc(l->e, cap * sizeof(*p));
    if (p == NULL) {
      if (l->n == 0) {
        free(l);
        attr->notify = NULL;
      }
      return TERN_ENOMEM;
    }
    l->e = p;
    l->cap = cap;
  }
  l->e[l->n++] = e;
  return TERN_OK;
}

int tern_rm_notify(tern_rm_ctx *ctx, const tern_rm_notify_msg *msg,
                   tern_rm_ocb *ocb, uint32_t trig) {
  if (ctx == NULL || msg == NULL || ocb == NULL || ctx->c == NULL)
    return TERN_EINVAL;
  uint32_t ready = msg->conds & trig & TERN_RM_NOTIFY_ALL;
  bool want;
  switch (msg->action) {
  case TERN_RM_NOTIFY_POLL:
    want = false;
    break;
  case TERN_RM_NOTIFY_POLLARM:
    want = ready == 0;
    break;
  case TERN_RM_NOTIFY_TRANSITION:
    ready = 0;
    want = true;
    break;
  default:
    return TERN_EINVAL;
  }
  int rc = TERN_OK;
  if (want && tern__rm_fi_hit(ctx->d, "rm/notify_arm")) rc = TERN_ENOMEM;
  if (want && rc == TERN_OK) {
    pthread_mutex_lock(&nlock);
    rc = arm(ocb->attr, ctx->c, msg);
    pthread_mutex_unlock(&nlock);
  }
  if (rc == TERN_OK) tern_rm_ctx_set_value(ctx, ready);
  return rc;
}

int tern_rm_notify_default(tern_rm_ctx *ctx, const tern_rm_notify_msg *msg,
                           tern_rm_ocb *ocb) {
  return tern_rm_notify(ctx, msg, ocb,
                        TERN_RM_NOTIFY_INPUT | TERN_RM_NOTIFY_OUTPUT);
}

static int cond_index(uint32_t cond) {
  switch (cond) {
  case TERN_RM_NOTIFY_INPUT: return TERN_RM_NOTIFY_IDX_INPUT;
  case TERN_RM_NOTIFY_OUTPUT: return TERN_RM_NOTIFY_IDX_OUTPUT;
  case TERN_RM_NOTIFY_OOB: return TERN_RM_NOTIFY_IDX_OOB;
  default: return -1;
  }
}

static bool fires(const nentry *e, uint32_t cond, int idx, uint64_t count) {
  return (e->conds & cond) && count >= e->thresh[idx];
}

int tern_rm_notify_trigger(tern_rm_attr *attr, uint32_t cond, uint64_t count) {
  int idx = cond_index(cond), sent = 0, failed = 0;
  if (attr == NULL || idx < 0) return TERN_EINVAL;
  pthread_mutex_lock(&nlock);
  for (size_t i = 0; attr->notify && i < ((nlist *)attr->notify)->n;) {
    nlist *l = attr->notify;
    nentry e = l->e[i];
    if (!fires(&e, cond, idx, count)) {
      i++;
      continue;
    }
    list_drop(attr, i); /* may free the list: e is a copy */
    /* e.c lives while we hold nlock (its close removes it under nlock
     * first). Sending never closes it (a failed send shuts it down for
     * the loop to close), so the list does not change under us. */
    tern_rm_dispatch *d = e.c->d;
    pthread_mutex_lock(&d->lock);
    int rc = tern__rm_send_pulse(e.c, e.code, cond, e.value);
    pthread_mutex_unlock(&d->lock);
    if (rc == TERN_OK) sent++;
    else if (rc == TERN_ECONNRESET) failed++;
  }
  pthread_mutex_unlock(&nlock);
  if (failed)
    tern_log(TERN_LOG_DEBUG, "rm", "notify: %d pulse(s) not sent; closing",
             failed);
  return sent;
}

bool tern_rm_notify_check(const tern_rm_attr *attr, uint32_t cond,
                          uint64_t count) {
  int idx = cond_index(cond);
  bool r = false;
  if (attr == NULL || idx < 0) return false;
  pthread_mutex_lock(&nlock);
  const nlist *l = attr->notify;
  for (size_t i = 0; l && i < l->n && !r; i++)
    r = fires(&l->e[i], cond, idx, count);
  pthread_mutex_unlock(&nlock);
  return r;
}

void tern_rm_notify_remove(tern_rm_ctx *ctx, tern_rm_attr *attr) {
  if (attr == NULL || ctx == NULL) return;
  pthread_mutex_lock(&nlock);
  nlist *l = attr->notify;
  for (size_t i = 0; l && i < l->n; i++) {
    if (l->e[i].c != ctx->c) continue;
    list_drop(attr, i); /* one entry per connection */
    break;
  }
  pthread_mutex_unlock(&nlock);
}

size_t tern_rm_notify_count(const tern_rm_attr *attr) {
  if (attr == NULL) return 0;
  pthread_mutex_lock(&nlock);
  const nlist *l = attr->notify;
  size_t n = l ? l->n : 0;
  pthread_mutex_unlock(&nlock);
  return n;
}

/* _IO_NOTIFY to the attach's handler or the default. */
int tern__rm_do_notify(tern_rm_ctx *ctx, const tern__rm_msg *m, tern_rm_ocb *o) {
  tern_rm_notify_msg nm = {(int)m->action, m->conds,
                           {m->thresh[0], m->thresh[1], m->thresh[2]},
                           m->status, m->offset};
  const tern_rm_io_funcs *f = ctx->c->a->iof;
  int r = (f && f->notify) ? f->notify(ctx, &nm, o) : TERN_RM_DEFAULT;
  return r == TERN_RM_DEFAULT ? tern_rm_notify_default(ctx, &nm, o) : r;
}
