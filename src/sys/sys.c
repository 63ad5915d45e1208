/* sys/sys.c: system states, notifiers that hold steps, and attach from
 * any thread (tern/sys.h). The message bus is smd.c.
 *
 * Steps run on the loop thread, one state at a time, each offered to all
 * notifiers in the order they were added. A notifier may call
 * tern_sys_resume or tern_sys_advance from inside its own call; the step
 * loop is not re-entered (stepping), it picks the change up. Attachments
 * from any thread go to a mutex-guarded list and the loop is woken with
 * one tern_loop_call at a time; on the loop they wait on a second list
 * until their state is reached.
 */
#include <stdlib.h>
#include <string.h>

#include "sys/sys_internal.h"

static const char *const state_names[TERN_SYS_STATE_COUNT] = {
    "CONTEXT_CREATED", "INITIALIZED", "IFACE_COLDPLUG", "DHCP",
    "CPD", "TIME_VALID", "POLICY_VALID", "REGISTERED",
    "AUTH1", "AUTH2", "OPERATIONAL", "CONTEXT_DESTROYING"};

const char *tern_sys_state_name(tern_sys_state st) {
  return (unsigned)st < TERN_SYS_STATE_COUNT ? state_names[st] : "?";
}

tern_sys_state tern_sys_current(const tern_sys *s) { return s->cur; }

/* ---- the object and its wake-ups ------------------------------------ */

static void sys_release(tern_sys *s) { /* the last reference is gone */
  tern_mutex_free(s->mu);
  free(s);
}

static void run_ready(tern_sys *s);

static void on_wake(tern_loop *loop, void *arg, int status) {
  tern_sys *s = arg;
  (void)loop;
  tern_mutex_lock(s->mu);
  s->wake_queued = false;
  bool dead = s->closing || status != TERN_OK;
  bool last = --s->refs == 0;
  attach *list = dead ? NULL : s->pending;
  if (!dead) s->pending = s->pending_tail = NULL;
  tern_mutex_unlock(s->mu);
  if (dead) {
    if (last) sys_release(s);
    return;
  }
  /* keep the order attachments were made in */
  attach **tail = &s->waiting;
  while (*tail) tail = &(*tail)->next;
  *tail = list;
  run_ready(s);
  tern__smd_drain(s);
}

int tern__sys_wake_locked(tern_sys *s) {
  if (s->wake_queued) return TERN_OK;
  int rc = tern_loop_call(s->loop, on_wake, s);
  if (rc == TERN_OK) {
    s->wake_queued = true;
    s->refs++;
  }
  return rc;
}

int tern_sys_new(tern_mgr *m, const tern_sys_opts *o, tern_sys **out) {
  if (m == NULL || out == NULL) return TERN_EINVAL;
  tern_sys *s = calloc(1, sizeof(*s));
  if (s == NULL) return TERN_ENOMEM;
  if (tern_mutex_new(&s->mu) != TERN_OK) {
    free(s);
    return TERN_ENOMEM;
  }
  s->m = m;
  s->loop = tern_mgr_loop(m);
  s->o.smd_queue = o && o->smd_queue ? o->smd_queue : 64;
  s->o.smd_ttl_ms = o && o->smd_ttl_ms ? o->smd_ttl_ms : 5000;
  s->o.max_attach = o && o->max_attach ? o->max_attach : 1024;
  s->cur = s->target = TERN_SYS_CONTEXT_CREATED;
  s->refs = 1;
  atomic_init(&s->listen_mask, 0);
  *out = s;
  return TERN_OK;
}

/* ---- steps ----------------------------------------------------------- */

static void notifiers_sweep(tern_sys *s) {
  tern_sys_notifier **p = &s->notifiers;
  while (*p) {
    tern_sys_notifier *n = *p;
    if (n->removed) {
      *p = n->next;
      free(n);
    } else {
      p = &n->next;
    }
  }
}

/* Offer from -> to to every notifier; false if one holds it. */
static bool offer(tern_sys *s, tern_sys_state to) {
  for (tern_sys_notifier *n = s->notifiers; n; n = n->next) {
    if (n->removed) continue;
    s->resumed = false;
    if (!n->fn(s, s->cur, to, n->ud) && !s->resumed) return false;
  }
  return true;
}

static void step_loop(tern_sys *s) {
  if (s->stepping) return; /* the outer loop sees the change */
  s->stepping = true;
  while (s->cur < s->target && !s->held) {
    tern_sys_state from = s->cur, to = (tern_sys_state)(s->cur + 1);
    if (!offer(s, to)) {
      s->held = true;
      break;
    }
    s->cur = to;
    tern_smd_state st = {(uint8_t)from, (uint8_t)to};
    tern_smd_publish(s, TERN_SMD_SYSTEM, &st, sizeof(st));
    run_ready(s);
  }
  s->stepping = false;
  notifiers_sweep(s);
}

int tern_sys_advance(tern_sys *s, tern_sys_state target) {
  if (s == NULL || target >= TERN_SYS_CONTEXT_DESTROYING) return TERN_EINVAL;
  if (target > s->target) s->target = target;
  step_loop(s);
  return TERN_OK;
}

void tern_sys_resume(tern_sys *s) {
  s->resumed = true;
  s->held = false;
  step_loop(s);
}

int tern_sys_notifier_add(tern_sys *s, tern_sys_notify_fn fn, void *ud,
                          tern_sys_notifier **out) {
  if (s == NULL || fn == NULL) return TERN_EINVAL;
  tern_sys_notifier *n = calloc(1, sizeof(*n));
  if (n == NULL) return TERN_ENOMEM;
  n->s = s;
  n->fn = fn;
  n->ud = ud;
  tern_sys_notifier **p = &s->notifiers;
  while (*p) p = &(*p)->next;
  *p = n;
  if (out) *out = n;
  return TERN_OK;
}

void tern_sys_notifier_remove(tern_sys_notifier *n) {
  if (n == NULL) return;
  n->removed = true; /* freed when no step is being offered */
  if (!n->s->stepping) notifiers_sweep(n->s);
}

/* ---- attach ------------------------------------------------------------ */

/* Run the attachments whose state has been reached, in order. */
static void run_ready(tern_sys *s) {
  attach **p = &s->waiting;
  while (*p) {
    attach *a = *p;
    if (a->state > s->cur) {
      p = &a->next;
      continue;
    }
    *p = a->next;
    tern_mutex_lock(s->mu);
    s->nattach--;
    tern_mutex_unlock(s->mu);
    a->fn(s, a->opaque, TERN_OK);
    free(a);
    p = &s->waiting; /* the callback may have changed the list's head */
  }
}

int tern_sys_attach(tern_sys *s, tern_sys_state state, tern_sys_attach_fn fn,
                    void *opaque) {
  if (s == NULL || fn == NULL || (unsigned)state >= TERN_SYS_STATE_COUNT)
    return TERN_EINVAL;
  attach *a = calloc(1, sizeof(*a));
  if (a == NULL) return TERN_ENOMEM;
  a->state = state;
  a->fn = fn;
  a->opaque = opaque;
  tern_mutex_lock(s->mu);
  int rc = s->closing                         ? TERN_ECLOSED
           : s->nattach >= s->o.max_attach ? TERN_ENOSPC
                                             : tern__sys_wake_locked(s);
  if (rc == TERN_OK) {
    s->nattach++;
    if (s->pending_tail) s->pending_tail->next = a;
    else s->pending = a;
    s->pending_tail = a;
  }
  tern_mutex_unlock(s->mu);
  if (rc != TERN_OK) free(a);
  return rc;
}

/* ---- the end --------------------------------------------------------------- */

void tern_sys_free(tern_sys *s) {
  if (s == NULL) return;
  /* the last step: offered for information, it cannot be held */
  tern_sys_state from = s->cur;
  tern__sys_metrics_stop(s);
  s->stepping = true;
  for (tern_sys_notifier *n = s->notifiers; n; n = n->next)
    if (!n->removed) n->fn(s, from, TERN_SYS_CONTEXT_DESTROYING, n->ud);
  s->cur = TERN_SYS_CONTEXT_DESTROYING;
  tern_smd_state st = {(uint8_t)from, TERN_SYS_CONTEXT_DESTROYING};
  tern__smd_deliver_now(s, TERN_SMD_SYSTEM, &st, sizeof(st));
  tern_mutex_lock(s->mu);
  s->closing = true;
  attach *list = s->pending;
  s->pending = s->pending_tail = NULL;
  tern_mutex_unlock(s->mu);
  attach **tail = &s->waiting;
  while (*tail) tail = &(*tail)->next;
  *tail = list;
  while (s->waiting) {
    attach *a = s->waiting;
    s->waiting = a->next;
    a->fn(s, a->opaque, TERN_ECANCELED);
    free(a);
  }
  while (s->notifiers) {
    tern_sys_notifier *n = s->notifiers;
    s->notifiers = n->next;
    free(n);
  }
  tern__smd_free_all(s);
  tern_mutex_lock(s->mu);
  bool last = --s->refs == 0;
  tern_mutex_unlock(s->mu);
  if (last) sys_release(s);
}
