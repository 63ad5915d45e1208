/* sys/smd.c: SMD, the system's small-message bus (tern/sys.h).
 *
 * Publishers (any thread) copy the message into a node on a bounded FIFO
 * under the system's mutex and wake the loop; the loop delivers in order
 * to every subscriber whose mask has the class. Publishing a class no
 * subscriber listens to is one atomic load: nothing is allocated or
 * locked. A message that waited longer than the TTL is dropped, not
 * delivered late (a stale "network up" is worse than none).
 */
#include <stdlib.h>
#include <string.h>

#include "sys/sys_internal.h"

static void update_mask(tern_sys *s) {
  uint32_t m = 0;
  for (tern_smd_sub *u = s->subs; u; u = u->next)
    if (!u->removed) m |= u->mask;
  atomic_store(&s->listen_mask, m);
}

static void subs_sweep(tern_sys *s) {
  tern_smd_sub **p = &s->subs;
  while (*p) {
    tern_smd_sub *u = *p;
    if (u->removed) {
      *p = u->next;
      free(u);
    } else {
      p = &u->next;
    }
  }
}

int tern_smd_subscribe(tern_sys *s, uint32_t mask, tern_smd_fn fn, void *ud,
                       tern_smd_sub **out) {
  if (s == NULL || fn == NULL || mask == 0) return TERN_EINVAL;
  tern_smd_sub *u = calloc(1, sizeof(*u));
  if (u == NULL) return TERN_ENOMEM;
  u->s = s;
  u->mask = mask;
  u->fn = fn;
  u->ud = ud;
  tern_smd_sub **p = &s->subs; /* delivery order: subscription order */
  while (*p) p = &(*p)->next;
  *p = u;
  update_mask(s);
  if (out) *out = u;
  return TERN_OK;
}

void tern_smd_unsubscribe(tern_smd_sub *u) {
  if (u == NULL) return;
  tern_sys *s = u->s;
  u->removed = true;
  update_mask(s);
  if (s->delivering == 0) subs_sweep(s); /* else after the delivery */
}

int tern_smd_publish(tern_sys *s, uint32_t cls, const void *payload,
                     size_t len) {
  if (s == NULL || cls == 0 || (payload == NULL && len > 0)) return TERN_EINVAL;
  if (len > TERN_SMD_MAX_PAYLOAD) return TERN_EMSGSIZE;
  if (!(atomic_load(&s->listen_mask) & cls)) {
    tern_mutex_lock(s->mu);
    s->st.unheard++;
    tern_mutex_unlock(s->mu);
    return TERN_OK;
  }
  smd_node *n = malloc(sizeof(*n) + len);
  if (n == NULL) return TERN_ENOMEM;
  n->next = NULL;
  n->cls = cls;
  n->published_ms = tern_clock_ms();
  n->len = len;
  if (len) memcpy(n->payload, payload, len);
  tern_mutex_lock(s->mu);
  int rc = TERN_OK;
  if (s->closing) rc = TERN_ECLOSED;
  else if (s->q_len >= s->o.smd_queue) rc = TERN_ENOSPC;
  else rc = tern__sys_wake_locked(s);
  if (rc == TERN_OK) {
    if (s->q_tail) s->q_tail->next = n;
    else s->q_head = n;
    s->q_tail = n;
    s->q_len++;
    s->st.published++;
  } else if (rc == TERN_ENOSPC) {
    s->st.dropped_full++;
  }
  tern_mutex_unlock(s->mu);
  if (rc != TERN_OK) free(n);
  return rc;
}

static void deliver(tern_sys *s, uint32_t cls, uint64_t published_ms,
                    const void *p, size_t len) {
  tern_smd_msg m = {cls, published_ms, len, p};
  s->delivering++;
  for (tern_smd_sub *u = s->subs; u; u = u->next)
    if (!u->removed && (u->mask & cls)) u->fn(s, &m, u->ud);
  if (--s->delivering == 0) subs_sweep(s);
}

void tern__smd_deliver_now(tern_sys *s, uint32_t cls, const void *p,
                           size_t len) {
  deliver(s, cls, tern_clock_ms(), p, len);
}

/* Too old to deliver? (A message published after this drain began has a
 * time later than now: its age is 0, not a wrapped-around huge one.) */
static bool expired(const tern_sys *s, const smd_node *n, uint64_t now) {
  return now > n->published_ms && now - n->published_ms > s->o.smd_ttl_ms;
}

/* From the loop: deliver what is queued now, in order. */
void tern__smd_drain(tern_sys *s) {
  uint64_t now = tern_clock_ms();
  for (;;) {
    tern_mutex_lock(s->mu);
    smd_node *n = s->closing ? NULL : s->q_head;
    bool old = false;
    if (n) {
      s->q_head = n->next;
      if (s->q_head == NULL) s->q_tail = NULL;
      s->q_len--;
      old = expired(s, n, now);
      if (old) s->st.dropped_ttl++;
      else s->st.delivered++;
    }
    tern_mutex_unlock(s->mu);
    if (n == NULL) return;
    if (!old) deliver(s, n->cls, n->published_ms, n->payload, n->len);
    free(n);
  }
}

void tern__smd_free_all(tern_sys *s) {
  tern_mutex_lock(s->mu);
  smd_node *n = s->q_head;
  s->q_head = s->q_tail = NULL;
  s->q_len = 0;
  tern_mutex_unlock(s->mu);
  while (n) {
    smd_node *next = n->next;
    free(n);
    n = next;
  }
  while (s->subs) {
    tern_smd_sub *u = s->subs;
    s->subs = u->next;
    free(u);
  }
  atomic_store(&s->listen_mask, 0);
}

void tern_smd_get_stats(tern_sys *s, tern_smd_stats *out) {
  tern_mutex_lock(s->mu);
  *out = s->st;
  tern_mutex_unlock(s->mu);
}
