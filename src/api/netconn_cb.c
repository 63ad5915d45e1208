/* netconn_cb.c: the stack side of netconn: the raw-API callbacks that
 * fill a netconn's receive mailbox and wake its waiters. They run in the
 * stack context (stack thread, or a caller holding the core lock) and
 * take the netconn's mutex only to queue and signal; they never block.
 *
 * Lock order: stack lock, then netconn mutex. The application side never
 * takes the stack lock while it holds a netconn mutex.
 *
 * A full TCP mailbox refuses the segment with TERN_EAGAIN: the stack keeps
 * the bytes (already acknowledged, so they must not be lost), the window
 * stays closed, and the stack offers them again from its retry timer.
 */
#include <stdlib.h>

#include "api/api_internal.h"

/* m held: release one waiter of each kind per post; waiters recheck. */
void tern__nc_wake_all(tern_netconn *nc) {
  for (unsigned i = 0; i < nc->rx_waiters; i++) tern_sem_post(nc->rx_sem);
  for (unsigned i = 0; i < nc->tx_waiters; i++) tern_sem_post(nc->tx_sem);
}

void tern__nc_event(tern_netconn *nc, tern_netconn_evt e, size_t len) {
  if (nc->ev) nc->ev(nc, e, len, nc->ud);
}

static void wake_rx(tern_netconn *nc) {
  if (nc->rx_waiters) tern__tcpip_post_later(nc->t, nc->rx_sem);
}

static void enqueue(tern_netconn *nc, nc_item *it) {
  it->next = NULL;
  if (nc->tail)
    nc->tail->next = it;
  else
    nc->head = it;
  nc->tail = it;
  nc->count++;
  if (it->p) nc->rx_bytes += tern_pbuf_tot_len(it->p);
}

static int on_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  tern_netconn *nc = arg;
  (void)pcb;
  tern_mutex_lock(nc->m);
  if (p && nc->shut_rx) { /* shut down: consume and drop */
    tern_mutex_unlock(nc->m);
    tern_tcp_recved(pcb, (uint32_t)tern_pbuf_tot_len(p));
    tern_pbuf_free(p);
    return TERN_OK;
  }
  if (p && nc->count >= nc->recv_max) {
    tern_mutex_unlock(nc->m);
    return TERN_EAGAIN; /* the stack holds it; the window stays shut */
  }
  nc_item *it = malloc(sizeof *it);
  if (!it) {
    if (!p) { /* no marker, but the flag tells recv the same */
      nc->fin = true;
      wake_rx(nc);
    }
    tern_mutex_unlock(nc->m);
    return p ? TERN_EAGAIN : TERN_OK;
  }
  it->p = p;
  it->child = NULL;
  tern_tcp_peer(pcb, &it->from);
  if (!p) nc->fin = true;
  enqueue(nc, it);
  size_t len = p ? tern_pbuf_tot_len(p) : 0;
  wake_rx(nc);
  tern_mutex_unlock(nc->m);
  tern__nc_event(nc, TERN_NETCONN_EVT_RCVPLUS, len);
  return TERN_OK;
}

static int on_sent(void *arg, tern_tcp *pcb, uint32_t len) {
  tern_netconn *nc = arg;
  (void)len;
  uint32_t room = tern_tcp_sndbuf(pcb);
  tern_mutex_lock(nc->m);
  nc->tx_seq++;
  if (nc->tx_waiters) tern__tcpip_post_later(nc->t, nc->tx_sem);
  bool plus = nc->send_full && room > 0;
  if (plus) nc->send_full = false;
  tern_mutex_unlock(nc->m);
  if (plus) tern__nc_event(nc, TERN_NETCONN_EVT_SENDPLUS, room);
  return TERN_OK;
}

static void on_err(void *arg, int err) {
  tern_netconn *nc = arg;
  nc->tcp = NULL; /* already freed by the stack */
  tern_mutex_lock(nc->m);
  nc->err = err;
  nc->state = NC_DONE;
  tern__nc_wake_all(nc);
  tern_mutex_unlock(nc->m);
  tern__nc_event(nc, TERN_NETCONN_EVT_ERROR, 0);
}

static int on_connected(void *arg, tern_tcp *pcb) {
  tern_netconn *nc = arg;
  (void)pcb;
  tern_mutex_lock(nc->m);
  nc->state = NC_CONNECTED;
  if (nc->tx_waiters) tern_sem_post(nc->tx_sem);
  tern_mutex_unlock(nc->m);
  tern__nc_event(nc, TERN_NETCONN_EVT_SENDPLUS, tern_tcp_sndbuf(pcb));
  return TERN_OK;
}

static int on_accept(void *arg, tern_tcp *newpcb) {
  tern_netconn *ln = arg;
  tern_mutex_lock(ln->m);
  bool full = ln->count >= ln->backlog || ln->closing;
  tern_mutex_unlock(ln->m);
  if (full) return TERN_EAGAIN; /* the stack resets it */
  tern_netconn *nc = tern__nc_alloc(ln->t, TERN_NETCONN_TCP);
  nc_item *it = nc ? malloc(sizeof *it) : NULL;
  if (!it) {
    if (nc) tern__nc_destroy(nc);
    return TERN_ENOMEM;
  }
  nc->tcp = newpcb;
  nc->state = NC_CONNECTED;
  nc->ev = ln->ev;
  nc->ud = ln->ud;
  nc->recv_timeout = ln->recv_timeout;
  nc->send_timeout = ln->send_timeout;
  tern_tcp_set_callbacks(newpcb, &tern__nc_tcp_cbs, nc);
  it->p = NULL;
  it->child = nc;
  tern_tcp_peer(newpcb, &it->from);
  tern_mutex_lock(ln->m);
  enqueue(ln, it);
  wake_rx(ln);
  tern_mutex_unlock(ln->m);
  tern__nc_event(ln, TERN_NETCONN_EVT_RCVPLUS, 0);
  return TERN_OK;
}

const tern_tcp_cbs tern__nc_tcp_cbs = {
    .recv = on_recv,
    .sent = on_sent,
    .err = on_err,
    .accept = on_accept,
    .connected = on_connected,
};

/* A datagram (UDP, raw) into the mailbox. */
static void dgram_in(tern_netconn *nc, tern_pbuf *p, const tern_addr *from) {
  tern_mutex_lock(nc->m);
  nc_item *it = NULL;
  if (nc->count < nc->recv_max && !nc->shut_rx) it = malloc(sizeof *it);
  if (!it) { /* full: UDP drops, as the kernel does */
    tern_mutex_unlock(nc->m);
    tern_pbuf_free(p);
    return;
  }
  it->p = p;
  it->child = NULL;
  it->from = *from;
  enqueue(nc, it);
  size_t len = tern_pbuf_tot_len(p);
  wake_rx(nc);
  tern_mutex_unlock(nc->m);
  tern__nc_event(nc, TERN_NETCONN_EVT_RCVPLUS, len);
}

void tern__nc_udp_recv(void *arg, tern_udp *pcb, tern_pbuf *p,
                       const tern_addr *from) {
  (void)pcb;
  dgram_in(arg, p, from);
}

#if TERN_ENABLE_IP_RAW
void tern__nc_raw_recv(void *arg, tern_raw *pcb, tern_pbuf *p,
                       const tern_addr *from) {
  (void)pcb;
  dgram_in(arg, p, from);
}
#endif

/* Stack context, no waiters left that could look at the queue. */
void tern__nc_drain(tern_netconn *nc) {
  tern_mutex_lock(nc->m);
  nc_item *it = nc->head;
  nc->head = nc->tail = NULL;
  nc->count = 0;
  nc->rx_bytes = 0;
  tern_mutex_unlock(nc->m);
  while (it) {
    nc_item *next = it->next;
    if (it->p) tern_pbuf_free(it->p);
    if (it->child) { /* accepted but never taken: reset it */
      tern__nc_drain(it->child);
      if (it->child->tcp) tern_tcp_abort(it->child->tcp);
      tern__nc_destroy(it->child);
    }
    free(it);
    it = next;
  }
}
