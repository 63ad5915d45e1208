/* backend_ip.c: the connection API over tern's own TCP/IP stack (the "ip"
 * backend), through the raw TCP and UDP APIs of tern/ip.h.
 *
 * Mapping:
 *   tern_conn TCP   <-> a tern_tcp pcb; recv -> tern_core_received, the
 *                       core's recved() opens the TCP window, sent ->
 *                       tern_core_sent (+ writable when the core waits)
 *   tern_conn UDP   <-> a tern_udp pcb
 *   listener        <-> a listening pcb; accept -> tern_core_accept_*
 * Receive window: the core may hold up to tern_core_rx_window(c) bytes
 * unconsumed (`inflight`), and that limit can grow at run time (the HTTP
 * server raises it for a body). The pcb's window is fixed at creation
 * (`wnd`), so the backend keeps back from TCP (`held`: delivered, not yet
 * returned with tern_tcp_recved) just enough that what the peer may still
 * send fits in what the core may still take:
 *     wnd - held <= rx_window - inflight.
 * With rx_window == wnd that is "return bytes as the core consumes them";
 * with a larger rx_window TCP's window stays open while the core buffers.
 *
 * Lifetime: the pcb pointer in the connection's priv area is cleared when
 * the stack reports the pcb gone (err callback) or when the core closes
 * the connection; a stack callback that finds the connection closed by
 * the user during that same callback returns TERN_ECLOSED, as the raw API
 * asks.
 */
#include <stdlib.h>
#include <string.h>

#include "tern/backend.h"
#include "tern/ip.h"

typedef struct ipb_state {
  tern_mgr *m;
  tern_loop *loop;
  tern_ip_host *host;
  tern_stack *st;
  tern_tcp *closed_pcb;  /* closed by the core inside a stack callback */
  uint8_t *scratch;      /* one datagram, flattened (UDP) */
} ipb_state;

typedef struct ipb_conn {
  tern_tcp *tcp;
  tern_udp *udp;
  tern_conn *c;
  bool listening;
  bool connecting;
  bool want_write;
  bool accept_paused;
  uint32_t wnd;     /* the pcb's receive window (buffer) */
  size_t inflight;  /* delivered to the core, not consumed by it */
  size_t held;      /* delivered, not returned to TCP */
} ipb_conn;

#define SCRATCH 65536

static ipb_conn *PC(tern_conn *c) { return tern_core_conn_priv(c); }

static void addr_local_tcp(tern_conn *c, tern_tcp *pcb) {
  tern_addr a;
  tern_tcp_local(pcb, &a);
  tern_core_set_local(c, &a);
}

/* Return to TCP what the window rule above allows. */
static void settle(tern_conn *c, ipb_conn *ic) {
  if (!ic->tcp) return;
  size_t rxw = tern_core_rx_window(c);
  size_t slack = rxw > ic->wnd ? rxw - ic->wnd : 0;
  size_t target = ic->inflight > slack ? ic->inflight - slack : 0;
  if (ic->held > target) {
    size_t n = ic->held - target;
    ic->held = target;
    while (n > 0) {
      uint32_t k = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
      tern_tcp_recved(ic->tcp, k);
      n -= k;
    }
  }
}

/* ---- stack -> core --------------------------------------------------- */

static int cb_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  tern_conn *c = arg;
  ipb_state *s = tern_core_backend_state(c);
  s->closed_pcb = NULL;
  if (!p) {
    tern_core_received(c, NULL, 0, NULL); /* FIN */
  } else {
    ipb_conn *ic = PC(c);
    for (tern_pbuf *q = p; q && s->closed_pcb != pcb; q = tern_pbuf_next(q)) {
      size_t n = tern_pbuf_len(q);
      if (!n) continue;
      ic->inflight += n; /* before: the core may consume (recved) at once */
      ic->held += n;
      tern_core_received(c, tern_pbuf_data(q), n, NULL);
    }
    tern_pbuf_free(p);
    if (s->closed_pcb != pcb) settle(c, ic);
  }
  if (s->closed_pcb == pcb) {
    s->closed_pcb = NULL;
    return TERN_ECLOSED;
  }
  return TERN_OK;
}

static int cb_sent(void *arg, tern_tcp *pcb, uint32_t len) {
  tern_conn *c = arg;
  ipb_state *s = tern_core_backend_state(c);
  s->closed_pcb = NULL;
  tern_core_sent(c, len);
  ipb_conn *ic = PC(c);
  if (s->closed_pcb != pcb && ic->want_write && tern_tcp_sndbuf(pcb) > 0)
    tern_core_writable(c);
  if (s->closed_pcb == pcb) {
    s->closed_pcb = NULL;
    return TERN_ECLOSED;
  }
  return TERN_OK;
}

static void cb_err(void *arg, int err) {
  tern_conn *c = arg;
  ipb_conn *ic = PC(c);
  ic->tcp = NULL; /* already freed by the stack */
  if (ic->connecting) {
    ic->connecting = false;
    tern_core_connected(c, err);
  } else {
    tern_core_closed(c, err);
  }
}

static int cb_connected(void *arg, tern_tcp *pcb) {
  tern_conn *c = arg;
  ipb_state *s = tern_core_backend_state(c);
  ipb_conn *ic = PC(c);
  ic->connecting = false;
  addr_local_tcp(c, pcb);
  s->closed_pcb = NULL;
  tern_core_connected(c, TERN_OK);
  if (s->closed_pcb == pcb) {
    s->closed_pcb = NULL;
    return TERN_ECLOSED;
  }
  return TERN_OK;
}

static int cb_accept(void *arg, tern_tcp *newpcb);

static const tern_tcp_cbs conn_cbs = {
    .recv = cb_recv,
    .sent = cb_sent,
    .err = cb_err,
    .connected = cb_connected,
};

static const tern_tcp_cbs listen_cbs = {
    .accept = cb_accept,
    .err = cb_err,
};

static int cb_accept(void *arg, tern_tcp *newpcb) {
  tern_conn *l = arg;
  ipb_conn *il = PC(l);
  if (il->accept_paused) return TERN_ELIMIT;
  tern_conn *c = tern_core_accept_begin(l);
  if (!c) return TERN_ELIMIT; /* the stack aborts it */
  ipb_conn *ic = PC(c);
  ic->tcp = newpcb;
  ic->c = c;
  ic->wnd = il->wnd; /* inherited from the listener */
  tern_tcp_set_callbacks(newpcb, &conn_cbs, c);
  tern_addr a;
  tern_tcp_peer(newpcb, &a);
  tern_core_set_peer(c, &a);
  addr_local_tcp(c, newpcb);
  tern_core_accept_commit(c, true);
  return TERN_OK;
}

static void cb_udp(void *arg, tern_udp *pcb, tern_pbuf *p,
                   const tern_addr *from) {
  (void)pcb;
  tern_conn *c = arg;
  ipb_state *s = tern_core_backend_state(c);
  size_t len = tern_pbuf_tot_len(p);
  const void *data = tern_pbuf_data(p);
  if (tern_pbuf_next(p)) {
    len = tern_pbuf_copy_out(p, 0, s->scratch, SCRATCH);
    data = s->scratch;
  }
  tern_core_received(c, data, len, from);
  tern_pbuf_free(p);
}

/* ---- core -> stack ------------------------------------------------------ */

static int ipb_create(tern_mgr *m, tern_loop *loop, void *arg, void **out) {
  tern_ip_host *h = arg;
  if (!h) return TERN_EINVAL;
  ipb_state *s = calloc(1, sizeof *s);
  if (!s) return TERN_ENOMEM;
  s->scratch = malloc(SCRATCH);
  if (!s->scratch) {
    free(s);
    return TERN_ENOMEM;
  }
  s->m = m;
  s->loop = loop;
  s->host = h;
  s->st = tern_ip_host_stack(h);
  *out = s;
  return TERN_OK;
}

static void ipb_destroy(void *state) {
  ipb_state *s = state;
  free(s->scratch);
  free(s);
}

static void kick(ipb_state *s) { tern_ip_host_kick(s->host); }

static void sync_time(ipb_state *s) {
  tern_stack_advance(s->st, tern_loop_now(s->loop));
}

static int new_tcp(ipb_state *s, tern_conn *c, ipb_conn *ic) {
  ic->c = c;
  ic->tcp = tern_tcp_new(s->st);
  if (!ic->tcp) return TERN_ENOMEM;
  size_t win = tern_core_rx_window(c);
  if (win > 1u << 30) win = 1u << 30;
  ic->wnd = (uint32_t)win;
  tern_tcp_set_bufs(ic->tcp, 0, ic->wnd);
  return TERN_OK;
}

static int ipb_listen_tcp(void *state, tern_conn *c, const tern_addr *addr,
                          uint32_t backlog) {
  ipb_state *s = state;
  ipb_conn *ic = PC(c);
  sync_time(s);
  int err = new_tcp(s, c, ic);
  if (err) return err;
  tern_tcp_set_callbacks(ic->tcp, &listen_cbs, c);
  if ((err = tern_tcp_bind(ic->tcp, addr)) != 0 ||
      (err = tern_tcp_listen(ic->tcp, backlog)) != 0) {
    tern_tcp_abort(ic->tcp);
    ic->tcp = NULL;
    return err;
  }
  ic->listening = true;
  addr_local_tcp(c, ic->tcp);
  kick(s);
  return TERN_OK;
}

static int ipb_connect_tcp(void *state, tern_conn *c, const tern_addr *addr) {
  ipb_state *s = state;
  ipb_conn *ic = PC(c);
  sync_time(s);
  int err = new_tcp(s, c, ic);
  if (err) return err;
  tern_tcp_set_callbacks(ic->tcp, &conn_cbs, c);
  ic->connecting = true;
  if ((err = tern_tcp_connect(ic->tcp, addr)) != 0) {
    ic->connecting = false;
    tern_tcp_abort(ic->tcp);
    ic->tcp = NULL;
    return err;
  }
  tern_core_set_peer(c, addr);
  addr_local_tcp(c, ic->tcp);
  kick(s);
  return TERN_OK;
}

static int new_udp(ipb_state *s, tern_conn *c, ipb_conn *ic,
                   const tern_addr *local) {
  ic->c = c;
  ic->udp = tern_udp_new(s->st);
  if (!ic->udp) return TERN_ENOMEM;
  int err = tern_udp_bind(ic->udp, local);
  if (err) {
    tern_udp_free(ic->udp);
    ic->udp = NULL;
    return err;
  }
  tern_udp_recv(ic->udp, cb_udp, c);
  tern_addr a;
  tern_udp_local(ic->udp, &a);
  tern_core_set_local(c, &a);
  return TERN_OK;
}

static int ipb_listen_udp(void *state, tern_conn *c, const tern_addr *addr) {
  return new_udp(state, c, PC(c), addr);
}

static int ipb_connect_udp(void *state, tern_conn *c, const tern_addr *addr) {
  ipb_conn *ic = PC(c);
  int err = new_udp(state, c, ic, NULL);
  if (err) return err;
  if ((err = tern_udp_connect(ic->udp, addr)) != 0) {
    tern_udp_free(ic->udp);
    ic->udp = NULL;
    return err;
  }
  tern_core_set_peer(c, addr);
  return TERN_OK;
}

static long ipb_send(void *state, tern_conn *c, const void *data, size_t len) {
  ipb_state *s = state;
  ipb_conn *ic = PC(c);
  if (!ic->tcp) return TERN_EPIPE;
  long n = tern_tcp_write(ic->tcp, data, len, TERN_TCP_WRITE_COPY);
  if (n < 0) return n == TERN_ENOTCONN ? TERN_EPIPE : n;
  if (n > 0) {
    sync_time(s);
    tern_tcp_output(ic->tcp);
    kick(s);
  }
  return n;
}

static long ipb_sendv(void *state, tern_conn *c, const tern_iov *iov,
                      size_t n) {
  ipb_state *s = state;
  ipb_conn *ic = PC(c);
  if (!ic->tcp) return TERN_EPIPE;
  long total = 0;
  for (size_t i = 0; i < n; i++) {
    if (!iov[i].len) continue;
    long k = tern_tcp_write(ic->tcp, iov[i].base, iov[i].len,
                            TERN_TCP_WRITE_COPY |
                                (i + 1 < n ? TERN_TCP_WRITE_MORE : 0));
    if (k < 0) {
      if (total) break;
      return k == TERN_ENOTCONN ? TERN_EPIPE : k;
    }
    total += k;
    if ((size_t)k < iov[i].len) break;
  }
  if (total > 0) {
    sync_time(s);
    tern_tcp_output(ic->tcp);
    kick(s);
  }
  return total;
}

static int ipb_sendto(void *state, tern_conn *c, const tern_addr *to,
                      const void *data, size_t len) {
  ipb_state *s = state;
  ipb_conn *ic = PC(c);
  if (!ic->udp) return TERN_EPIPE;
  tern_pbuf *p = tern_pbuf_alloc(s->st, TERN_PBUF_TRANSPORT, len);
  if (!p) return TERN_EAGAIN;
  tern_pbuf_copy_in(p, 0, data, len);
  sync_time(s);
  int err = tern_udp_sendto(ic->udp, p, to);
  tern_pbuf_free(p);
  kick(s);
  return err;
}

static void ipb_recved(void *state, tern_conn *c, size_t n) {
  ipb_state *s = state;
  ipb_conn *ic = PC(c);
  ic->inflight = n > ic->inflight ? 0 : ic->inflight - n;
  if (!ic->tcp) return;
  settle(c, ic);
  kick(s);
}

static void ipb_want_write(void *state, tern_conn *c, bool on) {
  (void)state;
  PC(c)->want_write = on;
}

static void ipb_pause_accept(void *state, tern_conn *c, bool paused) {
  (void)state;
  PC(c)->accept_paused = paused;
}

static int ipb_shutdown(void *state, tern_conn *c) {
  ipb_state *s = state;
  ipb_conn *ic = PC(c);
  if (!ic->tcp) return TERN_ENOTCONN;
  sync_time(s);
  int err = tern_tcp_shutdown(ic->tcp, false, true);
  kick(s);
  return err;
}

static void ipb_close(void *state, tern_conn *c, bool abort) {
  ipb_state *s = state;
  ipb_conn *ic = PC(c);
  sync_time(s);
  if (ic->udp) {
    tern_udp_free(ic->udp);
    ic->udp = NULL;
  }
  if (ic->tcp) {
    tern_tcp *pcb = ic->tcp;
    ic->tcp = NULL;
    s->closed_pcb = pcb; /* a stack callback on this pcb must stop */
    if (abort || ic->listening || tern_tcp_close(pcb) != TERN_OK)
      tern_tcp_abort(pcb);
  }
  kick(s);
}

/* Happy eyeballs: the pcb of a won attempt becomes to's. */
static int ipb_move(void *state, tern_conn *from, tern_conn *to) {
  (void)state;
  ipb_conn *a = PC(from), *b = PC(to);
  *b = *a;
  b->c = to;
  if (b->tcp) tern_tcp_set_arg(b->tcp, to);
  memset(a, 0, sizeof(*a));
  return TERN_OK;
}

static int ipb_set_nodelay(void *state, tern_conn *c, bool on) {
  (void)state;
  ipb_conn *ic = PC(c);
  if (!ic->tcp) return TERN_ENOTCONN;
  tern_tcp_set_nodelay(ic->tcp, on);
  return TERN_OK;
}

static const tern_backend ip_backend = {
    .name = "ip",
    .conn_size = sizeof(ipb_conn),
    .create = ipb_create,
    .destroy = ipb_destroy,
    .listen_tcp = ipb_listen_tcp,
    .listen_udp = ipb_listen_udp,
    .connect_tcp = ipb_connect_tcp,
    .connect_udp = ipb_connect_udp,
    .adopt = NULL,
    .send = ipb_send,
    .sendv = ipb_sendv,
    .sendto = ipb_sendto,
    .recved = ipb_recved,
    .want_write = ipb_want_write,
    .pause_accept = ipb_pause_accept,
    .shutdown = ipb_shutdown,
    .close = ipb_close,
    .set_nodelay = ipb_set_nodelay,
    .move = ipb_move,
};

const tern_backend *tern_backend_ip(void) { return &ip_backend; }
