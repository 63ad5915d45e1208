/* tcp_cb.c: the callback wrappers that keep the lifetime rules of
 * tern/ip.h (see tcp_internal.h): no call into a dead or user-closed pcb,
 * err last, accept with the listener held busy, and after every callback
 * the caller learns whether the pcb is still there for the stack.
 */
#include "ip/tcp_internal.h"

/* Each wrapper: no call into a dead or user-closed pcb; afterwards the
 * caller learns whether the pcb is still alive for the stack. */

static bool cb_ok(const tern_tcp *pcb) {
  return !pcb->dead && !pcb->user_closed && pcb->cbs;
}

bool tcp_cb_recv(tern_tcp *pcb, tern_pbuf *p, bool *refused) {
  *refused = false;
  if (!cb_ok(pcb) || !pcb->cbs->recv) {
    /* nobody reads: consume (data) so the window stays open */
    if (p) {
      if (!pcb->dead && pcb->state != TERN_TCP_LISTEN)
        tern_tcp_recved(pcb, (uint32_t)p->tot_len);
      tern_pbuf_free(p);
    }
    return !pcb->dead;
  }
  int r = pcb->cbs->recv(pcb->arg, pcb, p);
  if (pcb->dead) return false;
  if (r == TERN_EAGAIN && p && !pcb->user_closed) *refused = true;
  return true;
}

bool tcp_cb_sent(tern_tcp *pcb, uint32_t len) {
  if (cb_ok(pcb) && pcb->cbs->sent) pcb->cbs->sent(pcb->arg, pcb, len);
  return !pcb->dead;
}

bool tcp_cb_poll(tern_tcp *pcb) {
  if (cb_ok(pcb) && pcb->cbs->poll) pcb->cbs->poll(pcb->arg, pcb);
  return !pcb->dead;
}

bool tcp_cb_connected(tern_tcp *pcb) {
  if (cb_ok(pcb) && pcb->cbs->connected) pcb->cbs->connected(pcb->arg, pcb);
  return !pcb->dead;
}

/* The child is busy (the caller frees it if it dies); the listener is
 * held busy across the call so closing it inside accept is safe. */
bool tcp_cb_accept(tern_tcp *l, tern_tcp *child) {
  int r = TERN_ECONNABORTED;
  tern_stack *st = child->st;
  child->cbs = l->cbs;
  child->arg = l->arg;
  if (cb_ok(l) && l->state == TERN_TCP_LISTEN && l->cbs->accept) {
    bool lb = l->busy;
    l->busy = 1;
    r = l->cbs->accept(l->arg, child);
    l->busy = lb;
    if (!lb && l->dead) tcp_pcb_free(l);
  }
  if (child->dead) return false;
  /* closed gracefully inside accept (returning TERN_ECLOSED): the close
   * goes on by itself; any other refusal aborts (no err: the user never
   * took it) */
  if (r == TERN_ECLOSED && child->user_closed) return false;
  if (r != TERN_OK) {
    tern_tcp_abort(child);
    return false;
  }
  ip_stat_inc(&st->stats.tcp_accepts);
  return true;
}

void tcp_cb_err(tern_tcp *pcb, int err) {
  if (!pcb->user_closed && pcb->cbs && pcb->cbs->err) {
    pcb->user_closed = 1; /* err is the last callback */
    pcb->cbs->err(pcb->arg, err);
  }
  pcb->user_closed = 1;
}

