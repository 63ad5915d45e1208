/* netconn.c: the application side of netconn. Each call runs its
 * non-blocking step in the stack context (tern__tcpip_run: a message to
 * the stack thread or the core lock) and, when it has to wait, waits in
 * the caller's thread on the netconn's semaphores, which the stack-side
 * callbacks (netconn_cb.c) post. So the stack thread never waits for an
 * application, and one thread may block in recv while another writes.
 *
 * Lifetime: `users` counts the threads inside a call. close marks the
 * netconn closing, wakes every waiter (they return TERN_ECLOSED) and the
 * last thread to leave frees it.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

#define NC_RECV_MAX_DEFAULT 32
#define NC_BACKLOG_DEFAULT 8

typedef struct nc_op {
  int (*fn)(struct nc_op *o);
  tern_netconn *nc;
  const void *data;
  size_t len;
  unsigned flags;
  const tern_addr *addr;
  tern_pbuf *p;
  uint32_t a, b, c;
  bool x, y;
  tern_addr out;
} nc_op;

static int trampoline(void *arg) {
  nc_op *o = arg;
  return o->fn(o);
}

static int run(tern_netconn *nc, int (*fn)(nc_op *), nc_op *op) {
  op->nc = nc;
  op->fn = fn;
  return tern__tcpip_run(nc->t, trampoline, op);
}

/* ---- allocation and lifetime ---- */

tern_netconn *tern__nc_alloc(tern_tcpip *t, tern_netconn_type type) {
  tern_netconn *nc = calloc(1, sizeof *nc);
  if (!nc) return NULL;
  nc->t = t;
  nc->type = type;
  nc->recv_max = NC_RECV_MAX_DEFAULT;
  nc->backlog = NC_BACKLOG_DEFAULT;
  nc->recv_timeout = -1;
  nc->send_timeout = -1;
  nc->linger = -1;
  nc->mcast_ttl = 1;
  if (tern_mutex_new(&nc->m) || tern_sem_new(&nc->rx_sem, 0) ||
      tern_sem_new(&nc->tx_sem, 0)) {
    tern__nc_destroy(nc);
    return NULL;
  }
  return nc;
}

void tern__nc_destroy(tern_netconn *nc) {
  if (nc->m) tern_mutex_free(nc->m);
  if (nc->rx_sem) tern_sem_free(nc->rx_sem);
  if (nc->tx_sem) tern_sem_free(nc->tx_sem);
  free(nc);
}

static int enter(tern_netconn *nc) {
  if (!nc) return TERN_EINVAL;
  tern_mutex_lock(nc->m);
  int err = nc->closing ? TERN_ECLOSED : TERN_OK;
  if (!err) nc->users++;
  tern_mutex_unlock(nc->m);
  return err;
}

static void leave(tern_netconn *nc) {
  tern_mutex_lock(nc->m);
  bool last = --nc->users == 0 && nc->closing;
  tern_mutex_unlock(nc->m);
  if (last) tern__nc_destroy(nc);
}

int tern__netconn_hold(tern_netconn *nc) { return enter(nc); }
void tern__netconn_release(tern_netconn *nc) { leave(nc); }

bool tern__netconn_closing(tern_netconn *nc) {
  tern_mutex_lock(nc->m);
  bool c = nc->closing;
  tern_mutex_unlock(nc->m);
  return c;
}

void tern__netconn_poll(tern_netconn *nc, bool *rd, bool *wr, bool *er) {
  tern_mutex_lock(nc->m);
  bool dead = nc->closing || nc->err || nc->state == NC_DONE;
  *rd = nc->count > 0 || nc->fin || nc->shut_rx || dead;
  *wr = dead || (nc->type != TERN_NETCONN_TCP) ||
        (nc->state == NC_CONNECTED && !nc->send_full && !nc->shut_tx);
  *er = nc->err != 0;
  tern_mutex_unlock(nc->m);
}

static uint64_t deadline_of(int timeout_ms) {
  return timeout_ms < 0 ? 0 : tern_clock_ms() + (uint64_t)timeout_ms;
}

/* m held; returns with m held. TERN_OK when woken (recheck), or
 * TERN_ETIMEDOUT. deadline 0: none. */
static int wait_for(tern_netconn *nc, bool rx, uint64_t deadline) {
  int ms = TERN_WAIT_FOREVER;
  if (deadline) {
    uint64_t now = tern_clock_ms();
    if (now >= deadline) return TERN_ETIMEDOUT;
    uint64_t left = deadline - now;
    ms = left > INT32_MAX ? INT32_MAX : (int)left;
  }
  unsigned *w = rx ? &nc->rx_waiters : &nc->tx_waiters;
  (*w)++;
  tern_mutex_unlock(nc->m);
  int r = tern_sem_wait(rx ? nc->rx_sem : nc->tx_sem, ms);
  tern_mutex_lock(nc->m);
  (*w)--;
  return r == TERN_ETIMEDOUT ? TERN_ETIMEDOUT : TERN_OK;
}

/* ---- stack-side steps ---- */

static int op_new(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  tern_stack *st = tern__tcpip_stack(nc->t);
  if (nc->type == TERN_NETCONN_TCP) {
    nc->tcp = tern_tcp_new(st);
    if (!nc->tcp) return TERN_ENOMEM;
    tern_tcp_set_callbacks(nc->tcp, &tern__nc_tcp_cbs, nc);
    if (nc->nodelay) tern_tcp_set_nodelay(nc->tcp, true);
    if (nc->ttl || nc->tos) tern_tcp_set_ip(nc->tcp, nc->ttl, nc->tos);
    if (nc->snd_buf || nc->rcv_buf)
      tern_tcp_set_bufs(nc->tcp, nc->snd_buf, nc->rcv_buf);
    if (nc->ka_idle)
      tern_tcp_set_keepalive(nc->tcp, nc->ka_idle, nc->ka_intvl, nc->ka_cnt);
    return TERN_OK;
  }
#if TERN_ENABLE_IP_RAW
  if (nc->type == TERN_NETCONN_RAW) {
    nc->raw = tern_raw_new(st, nc->proto);
    if (!nc->raw) return TERN_ENOMEM;
    tern_raw_recv(nc->raw, tern__nc_raw_recv, nc);
    return TERN_OK;
  }
#endif
  nc->udp = tern_udp_new(st);
  if (!nc->udp) return TERN_ENOMEM;
  tern_udp_recv(nc->udp, tern__nc_udp_recv, nc);
  return TERN_OK;
}

/* IP_TTL / IP_TOS: x set (a, b: new values, negative leaves one as it
 * is); the values in effect come back in a (the stack's TTL when the
 * netconn sets none) and b. */
static int op_ipopt(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (o->x) {
    if ((int32_t)o->a >= 0) nc->ttl = (uint8_t)o->a;
    if ((int32_t)o->b >= 0) nc->tos = (uint8_t)o->b;
    if (nc->tcp) tern_tcp_set_ip(nc->tcp, nc->ttl, nc->tos);
    if (nc->udp) tern_udp_set_ip(nc->udp, nc->ttl, nc->tos);
#if TERN_ENABLE_IP_RAW
    if (nc->raw) tern_raw_set_ip(nc->raw, nc->ttl, nc->tos);
#endif
  }
  o->a = nc->ttl ? nc->ttl : tern_stack_ttl(tern__tcpip_stack(nc->t));
  o->b = nc->tos;
  return TERN_OK;
}

static int op_bind(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (nc->tcp) return tern_tcp_bind(nc->tcp, o->addr);
  if (nc->udp) return tern_udp_bind(nc->udp, o->addr);
#if TERN_ENABLE_IP_RAW
  if (nc->raw) return tern_raw_bind(nc->raw, o->addr);
#endif
  return TERN_ECLOSED;
}

static int op_connect(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (nc->udp) {
    int err = tern_udp_connect(nc->udp, o->addr);
    if (!err) nc->state = NC_CONNECTED;
    return err;
  }
#if TERN_ENABLE_IP_RAW
  if (nc->raw) {
    int err = tern_raw_connect(nc->raw, o->addr);
    if (!err) nc->state = NC_CONNECTED;
    return err;
  }
#endif
  if (nc->type != TERN_NETCONN_TCP) return TERN_ECLOSED;
  if (!nc->tcp) { /* an earlier attempt failed: a fresh pcb */
    int err = op_new(o);
    if (err) return err;
  }
  tern_mutex_lock(nc->m);
  nc->state = NC_CONNECTING;
  nc->err = 0;
  tern_mutex_unlock(nc->m);
  int err = tern_tcp_connect(nc->tcp, o->addr);
  if (err) {
    tern_mutex_lock(nc->m);
    nc->state = NC_NEW;
    tern_mutex_unlock(nc->m);
  }
  return err;
}

static int op_disconnect(nc_op *o) {
  tern__tcpip_assert_ctx(o->nc->t);
  if (o->nc->udp) tern_udp_disconnect(o->nc->udp);
#if TERN_ENABLE_IP_RAW
  if (o->nc->raw) tern_raw_connect(o->nc->raw, NULL);
#endif
  o->nc->state = NC_NEW;
  return TERN_OK;
}

static int op_listen(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (!nc->tcp) return TERN_ECLOSED;
  int err = tern_tcp_listen(nc->tcp, o->a);
  if (err) return err;
  tern_mutex_lock(nc->m);
  nc->state = NC_LISTEN;
  nc->backlog = o->a ? o->a : NC_BACKLOG_DEFAULT;
  tern_mutex_unlock(nc->m);
  return TERN_OK;
}

static int op_write(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (!nc->tcp) return nc->err ? nc->err : TERN_ENOTCONN;
  uint32_t room = tern_tcp_sndbuf(nc->tcp);
  size_t n = o->len < room ? o->len : room;
  long w = 0;
  if (n) {
    unsigned fl = (o->flags & TERN_NETCONN_NOCOPY) ? 0 : TERN_TCP_WRITE_COPY;
    if (o->flags & TERN_NETCONN_MORE) fl |= TERN_TCP_WRITE_MORE;
    w = tern_tcp_write(nc->tcp, o->data, n, fl);
    if (w < 0) return (int)w;
    tern_tcp_output(nc->tcp);
  }
  if ((size_t)w < o->len) {
    tern_mutex_lock(nc->m);
    bool first = !nc->send_full;
    nc->send_full = true;
    tern_mutex_unlock(nc->m);
    if (first) tern__nc_event(nc, TERN_NETCONN_EVT_SENDMINUS, 0);
  }
  o->len = (size_t)w;
  return TERN_OK;
}

static int op_sendto(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (!nc->udp && !nc->raw) return TERN_ECLOSED;
  tern_pbuf *p =
      tern_pbuf_alloc(tern__tcpip_stack(nc->t), TERN_PBUF_TRANSPORT, o->len);
  if (!p) return TERN_ENOMEM;
  int err = tern_pbuf_copy_in(p, 0, o->data, o->len);
#if TERN_ENABLE_IP_RAW
  if (!err && nc->raw) err = tern_raw_sendto(nc->raw, p, o->addr);
  else
#endif
  if (!err) err = tern_udp_sendto(nc->udp, p, o->addr);
  tern_pbuf_free(p);
  return err;
}

static int op_shutdown(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (!nc->tcp) return nc->err ? nc->err : TERN_ENOTCONN;
  return tern_tcp_shutdown(nc->tcp, o->x, o->y);
}

static int op_close(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (nc->tcp) {
    /* Closing with received data unread resets the connection, as a
     * kernel socket does (RFC 2525 2.17): the peer learns it was lost.
     * So does a linger time of zero (o->x). */
    if (nc->rx_bytes || o->x) {
      tern_tcp_abort(nc->tcp);
    } else if (tern_tcp_close(nc->tcp) != TERN_OK) {
      tern_tcp_abort(nc->tcp);
    }
    nc->tcp = NULL;
  }
  if (nc->mships) tern__nc_mcast_drop(nc);
  if (nc->udp) tern_udp_free(nc->udp);
  nc->udp = NULL;
#if TERN_ENABLE_IP_RAW
  if (nc->raw) tern_raw_free(nc->raw);
  nc->raw = NULL;
#endif
  tern__nc_drain(nc);
  return TERN_OK;
}

static int op_queued(nc_op *o) {
  tern__tcpip_assert_ctx(o->nc->t);
  o->a = o->nc->tcp ? tern_tcp_queued(o->nc->tcp) : 0;
  return TERN_OK;
}

static int op_getaddr(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  memset(&o->out, 0, sizeof o->out);
  if (nc->udp) {
    if (!o->x) return TERN_ENOTCONN; /* the udp raw API has no peer getter */
    tern_udp_local(nc->udp, &o->out);
    return TERN_OK;
  }
  if (nc->raw) return TERN_ENOTSUP;
  if (!nc->tcp) return nc->err ? nc->err : TERN_ENOTCONN;
  if (o->x) {
    tern_tcp_local(nc->tcp, &o->out);
    return TERN_OK;
  }
  if (nc->state != NC_CONNECTED) return TERN_ENOTCONN;
  tern_tcp_peer(nc->tcp, &o->out);
  return TERN_OK;
}

static int op_sndbuf(nc_op *o) {
  tern__tcpip_assert_ctx(o->nc->t);
  o->a = o->nc->tcp ? tern_tcp_sndbuf(o->nc->tcp) : 0;
  return TERN_OK;
}

static int op_bufs(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (nc->type != TERN_NETCONN_TCP) return TERN_ENOTSUP;
  if (o->x) { /* set */
    if (o->a) nc->snd_buf = o->a;
    if (o->b) nc->rcv_buf = o->b;
    if (nc->tcp) tern_tcp_set_bufs(nc->tcp, nc->snd_buf, nc->rcv_buf);
    return TERN_OK;
  }
  o->a = nc->snd_buf;
  o->b = nc->rcv_buf;
  if (nc->tcp && (!o->a || !o->b)) {
    tern_tcp_info info;
    tern_tcp_get_info(nc->tcp, &info);
    if (!o->a) o->a = tern_tcp_sndbuf(nc->tcp) + tern_tcp_queued(nc->tcp);
    if (!o->b) o->b = info.rcv_wnd + (uint32_t)tern_netconn_rx_bytes(nc);
  }
  return TERN_OK;
}

static int op_tcpopt(nc_op *o) {
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (nc->type != TERN_NETCONN_TCP) return TERN_ENOTSUP;
  if (o->x) {
    nc->nodelay = o->y;
    if (nc->tcp) tern_tcp_set_nodelay(nc->tcp, o->y);
  } else {
    nc->ka_idle = o->a;
    nc->ka_intvl = o->b;
    nc->ka_cnt = o->c;
    if (nc->tcp) tern_tcp_set_keepalive(nc->tcp, o->a, o->b, o->c);
  }
  return TERN_OK;
}

/* ---- public calls ---- */

static int new_nc(tern_netconn **out, tern_tcpip *t, tern_netconn_type type,
                  uint8_t proto) {
  tern_netconn *nc = tern__nc_alloc(t, type);
  if (!nc) return TERN_ENOMEM;
  nc->proto = proto;
  nc_op o = {0};
  int err = run(nc, op_new, &o);
  if (err) {
    tern__nc_destroy(nc);
    return err;
  }
  *out = nc;
  return TERN_OK;
}

int tern_netconn_new(tern_netconn **out, tern_tcpip *t,
                     tern_netconn_type type) {
  if (!out || !t) return TERN_EINVAL;
  if (type != TERN_NETCONN_TCP && type != TERN_NETCONN_UDP)
    return TERN_ENOTSUP;
  return new_nc(out, t, type, 0);
}

int tern_netconn_new_raw(tern_netconn **out, tern_tcpip *t, uint8_t proto) {
  if (!out || !t || !proto) return TERN_EINVAL;
  if (!TERN_ENABLE_IP_RAW) return TERN_ENOTSUP;
  return new_nc(out, t, TERN_NETCONN_RAW, proto);
}

tern_netconn_type tern_netconn_get_type(const tern_netconn *nc) {
  return nc->type;
}

void tern_netconn_set_event_fn(tern_netconn *nc, tern_netconn_event_fn fn,
                               void *ud) {
  tern_mutex_lock(nc->m);
  nc->ev = fn;
  nc->ud = ud;
  tern_mutex_unlock(nc->m);
}

void *tern_netconn_get_ud(const tern_netconn *nc) { return nc->ud; }

static int simple(tern_netconn *nc, int (*fn)(nc_op *), nc_op *o) {
  int err = enter(nc);
  if (err) return err;
  err = run(nc, fn, o);
  leave(nc);
  return err;
}

int tern_netconn_bind(tern_netconn *nc, const tern_addr *local) {
  if (!local) return TERN_EINVAL;
  nc_op o = {.addr = local};
  return simple(nc, op_bind, &o);
}

int tern_netconn_disconnect(tern_netconn *nc) {
  nc_op o = {0};
  if (nc && nc->type == TERN_NETCONN_TCP) return TERN_ENOTSUP;
  return simple(nc, op_disconnect, &o);
}

int tern_netconn_listen(tern_netconn *nc, uint32_t backlog) {
  if (nc && nc->type != TERN_NETCONN_TCP) return TERN_ENOTSUP;
  nc_op o = {.a = backlog};
  return simple(nc, op_listen, &o);
}

/* m held: wait for the handshake. */
static int connect_wait(tern_netconn *nc) {
  uint64_t dl = deadline_of(nc->send_timeout);
  for (;;) {
    if (nc->closing) return TERN_ECLOSED;
    if (nc->state == NC_CONNECTED) return TERN_OK;
    if (nc->state != NC_CONNECTING) {
      int err = nc->err ? nc->err : TERN_ECONNABORTED;
      nc->err = 0; /* reported here, not again by SO_ERROR */
      return err;
    }
    if (nc->nonblocking) return TERN_EINPROGRESS;
    if (wait_for(nc, false, dl) == TERN_ETIMEDOUT) return TERN_ETIMEDOUT;
  }
}

int tern_netconn_connect(tern_netconn *nc, const tern_addr *peer) {
  if (!peer) return TERN_EINVAL;
  int err = enter(nc);
  if (err) return err;
  tern_mutex_lock(nc->m);
  enum nc_state s = nc->state;
  tern_mutex_unlock(nc->m);
  if (nc->type == TERN_NETCONN_TCP && s == NC_CONNECTING)
    err = TERN_EALREADY;
  else if (nc->type == TERN_NETCONN_TCP && s != NC_NEW && s != NC_DONE)
    err = TERN_EEXIST;
  if (!err) {
    nc_op o = {.addr = peer};
    err = run(nc, op_connect, &o);
  }
  if (!err && nc->type == TERN_NETCONN_TCP) {
    tern_mutex_lock(nc->m);
    err = connect_wait(nc);
    tern_mutex_unlock(nc->m);
  }
  leave(nc);
  return err;
}

/* m held: pop the head item. */
static nc_item *pop(tern_netconn *nc) {
  nc_item *it = nc->head;
  nc->head = it->next;
  if (!nc->head) nc->tail = NULL;
  nc->count--;
  if (it->p) nc->rx_bytes -= tern_pbuf_tot_len(it->p);
  return it;
}

/* m held: wait until the mailbox has something or there is nothing to
 * wait for. Returns TERN_OK with an item, or the reason. */
static int wait_item(tern_netconn *nc, int timeout_ms, nc_item **out) {
  uint64_t dl = deadline_of(timeout_ms);
  for (;;) {
    if (nc->closing) return TERN_ECLOSED;
    if (nc->head) {
      *out = pop(nc);
      return TERN_OK;
    }
    if (nc->err) return nc->err;
    if (nc->fin || nc->shut_rx) return TERN_ECLOSED;
    if (nc->type == TERN_NETCONN_TCP && nc->state != NC_CONNECTED &&
        nc->state != NC_LISTEN)
      return TERN_ENOTCONN;
    if (nc->nonblocking || timeout_ms == 0) return TERN_EAGAIN;
    if (wait_for(nc, true, dl) == TERN_ETIMEDOUT) return TERN_ETIMEDOUT;
  }
}

int tern_netconn_accept(tern_netconn *nc, tern_netconn **out) {
  if (!out) return TERN_EINVAL;
  int err = enter(nc);
  if (err) return err;
  nc_item *it = NULL;
  tern_mutex_lock(nc->m);
  err = nc->state == NC_LISTEN ? wait_item(nc, nc->recv_timeout, &it)
                               : TERN_EINVAL;
  tern_mutex_unlock(nc->m);
  if (!err) {
    *out = it->child;
    free(it);
    tern__nc_event(nc, TERN_NETCONN_EVT_RCVMINUS, 0);
  }
  leave(nc);
  return err;
}

static int recv_netbuf(tern_netconn *nc, tern_netbuf **out, int timeout_ms) {
  int err = enter(nc);
  if (err) return err;
  nc_item *it = NULL;
  tern_mutex_lock(nc->m);
  err = nc->state == NC_LISTEN ? TERN_EINVAL : wait_item(nc, timeout_ms, &it);
  tern_mutex_unlock(nc->m);
  nc_op o = {0};
  if (!err) {
    size_t len = it->p ? tern_pbuf_tot_len(it->p) : 0;
    tern__nc_event(nc, TERN_NETCONN_EVT_RCVMINUS, len);
    tern_netbuf *nb = it->p ? malloc(sizeof *nb) : NULL;
    if (!it->p) {
      err = TERN_ECLOSED; /* end of stream */
    } else if (!nb) { /* keep the data: back at the head */
      tern_mutex_lock(nc->m);
      it->next = nc->head;
      nc->head = it;
      if (!nc->tail) nc->tail = it;
      nc->count++;
      nc->rx_bytes += len;
      tern_mutex_unlock(nc->m);
      it = NULL;
      err = TERN_ENOMEM;
    } else {
      nb->t = nc->t;
      nb->p = nb->cur = it->p;
      nb->from = it->from;
      if (nc->type == TERN_NETCONN_TCP) o.a = (uint32_t)len;
      *out = nb;
    }
    free(it);
  }
  /* taking it opens the window (posted: the reader does not wait) */
  if (o.a) tern__netconn_done(nc, NULL, 0, o.a);
  leave(nc);
  return err;
}

int tern__netconn_take(tern_netconn *nc, int timeout_ms, tern_pbuf **p,
                       tern_addr *from) {
  int err = enter(nc);
  if (err) return err;
  nc_item *it = NULL;
  tern_mutex_lock(nc->m);
  err = nc->state == NC_LISTEN ? TERN_EINVAL : wait_item(nc, timeout_ms, &it);
  tern_mutex_unlock(nc->m);
  if (!err) {
    size_t len = it->p ? tern_pbuf_tot_len(it->p) : 0;
    tern__nc_event(nc, TERN_NETCONN_EVT_RCVMINUS, len);
    if (!it->p) err = TERN_ECLOSED; /* end of stream */
    *p = it->p;
    if (from) *from = it->from;
    free(it);
  }
  leave(nc);
  return err;
}

typedef struct done_arg {
  tern_netconn *nc;
  tern_pbuf **ps;
  size_t n;
  uint32_t bytes;
} done_arg;

static int op_done(void *arg) {
  done_arg *d = arg;
  tern__tcpip_assert_ctx(d->nc->t);
  for (size_t i = 0; i < d->n; i++) tern_pbuf_free(d->ps[i]);
  if (d->nc->tcp && d->bytes) tern_tcp_recved(d->nc->tcp, d->bytes);
  return TERN_OK;
}

/* The same step posted without waiting (message passing): the reader
 * goes back to its mailbox at once instead of waiting for the stack
 * thread, which saves a thread wake-up per recv call. The post holds a
 * user reference, so the netconn outlives it even when another thread
 * closes it meanwhile (the pcb may be gone by then: only the pbufs are
 * freed). */
typedef struct done_post {
  tern__tcpip_post p; /* first */
  tern_netconn *nc;
  uint32_t bytes;
  size_t n;
  tern_pbuf *ps[];
} done_post;

static void done_posted(tern__tcpip_post *p, bool in_stack) {
  done_post *d = (done_post *)p;
  if (in_stack) {
    for (size_t i = 0; i < d->n; i++) tern_pbuf_free(d->ps[i]);
    if (d->nc->tcp && d->bytes) tern_tcp_recved(d->nc->tcp, d->bytes);
  } /* else the thread is stopping: the stack and its pool go with it */
  leave(d->nc);
  free(d);
}

void tern__netconn_done(tern_netconn *nc, tern_pbuf **ps, size_t n,
                        uint32_t bytes) {
  if (!n && !bytes) return;
  if (nc->type != TERN_NETCONN_TCP) bytes = 0;
  done_post *d = malloc(sizeof(*d) + n * sizeof(d->ps[0]));
  if (d && enter(nc) == TERN_OK) {
    *d = (done_post){{nc->t, done_posted}, nc, bytes, n};
    if (n) memcpy(d->ps, ps, n * sizeof(d->ps[0]));
    if (tern__tcpip_post_step(&d->p) == TERN_OK) return;
    leave(nc);
  }
  free(d);
  done_arg a = {nc, ps, n, bytes};
  tern__tcpip_run(nc->t, op_done, &a);
}

int tern_netconn_recv(tern_netconn *nc, tern_netbuf **out) {
  if (!out) return TERN_EINVAL;
  *out = NULL;
  return recv_netbuf(nc, out, nc ? nc->recv_timeout : 0);
}

int tern_netconn_write(tern_netconn *nc, const void *data, size_t len,
                       unsigned flags, size_t *written) {
  if (written) *written = 0;
  if (!data && len) return TERN_EINVAL;
  if (nc && nc->type != TERN_NETCONN_TCP) return TERN_ENOTSUP;
  int err = enter(nc);
  if (err) return err;
  size_t total = 0;
  if (flags & TERN_NETCONN_NOCOPY) atomic_store(&nc->nocopy_used, true);
  bool noblock = (flags & TERN_NETCONN_DONTBLOCK) || nc->nonblocking;
  uint64_t dl = deadline_of(nc->send_timeout);
  while (!err && total < len) {
    tern_mutex_lock(nc->m);
    unsigned seq = nc->tx_seq;
    if (nc->closing) err = TERN_ECLOSED;
    else if (nc->err) err = nc->err;
    else if (nc->shut_tx) err = TERN_EPIPE;
    else if (nc->state != NC_CONNECTED) err = TERN_ENOTCONN;
    tern_mutex_unlock(nc->m);
    if (err) break;
    nc_op o = {.data = (const uint8_t *)data + total, .len = len - total,
               .flags = flags};
    err = run(nc, op_write, &o);
    if (err) break;
    total += o.len;
    if (total == len || o.len) continue;
    if (noblock) {
      err = total ? TERN_OK : TERN_EAGAIN;
      break;
    }
    tern_mutex_lock(nc->m);
    while (!err && nc->tx_seq == seq && !nc->closing && !nc->err &&
           nc->state == NC_CONNECTED)
      err = wait_for(nc, false, dl);
    tern_mutex_unlock(nc->m);
  }
  if (written) *written = total;
  leave(nc);
  return err;
}

int tern_netconn_sendto(tern_netconn *nc, const void *data, size_t len,
                        const tern_addr *to) {
  if (!data && len) return TERN_EINVAL;
  if (nc && nc->type == TERN_NETCONN_TCP) return TERN_ENOTSUP;
  if (len > (nc && nc->type == TERN_NETCONN_RAW ? 65515u : 65507u))
    return TERN_EMSGSIZE;
  nc_op o = {.data = data, .len = len, .addr = to};
  return simple(nc, op_sendto, &o);
}

int tern_netconn_send(tern_netconn *nc, const void *data, size_t len) {
  return tern_netconn_sendto(nc, data, len, NULL);
}

int tern_netconn_shutdown(tern_netconn *nc, bool rx, bool tx) {
  if (nc && nc->type != TERN_NETCONN_TCP) return TERN_ENOTSUP;
  int err = enter(nc);
  if (err) return err;
  nc_op o = {.x = rx, .y = tx};
  err = run(nc, op_shutdown, &o);
  if (!err) {
    tern_mutex_lock(nc->m);
    nc->shut_rx |= rx;
    nc->shut_tx |= tx;
    tern__nc_wake_all(nc);
    tern_mutex_unlock(nc->m);
  }
  leave(nc);
  return err;
}

/* Linger: wait until the peer has acknowledged everything written, or
 * ms pass. Every acknowledgment bumps tx_seq. */
static int linger_wait(tern_netconn *nc, int ms) {
  uint64_t dl = deadline_of(ms);
  for (;;) {
    tern_mutex_lock(nc->m);
    unsigned seq = nc->tx_seq;
    tern_mutex_unlock(nc->m);
    nc_op o = {0};
    if (run(nc, op_queued, &o) || o.a == 0) return TERN_OK;
    int err = TERN_OK;
    tern_mutex_lock(nc->m);
    while (!err && nc->tx_seq == seq && !nc->err)
      err = wait_for(nc, false, dl);
    bool failed = nc->err != 0;
    tern_mutex_unlock(nc->m);
    if (err || failed) return err;
  }
}

int tern_netconn_close(tern_netconn *nc) {
  if (!nc) return TERN_EINVAL;
  tern_mutex_lock(nc->m);
  if (nc->closing) {
    tern_mutex_unlock(nc->m);
    return TERN_ECLOSED;
  }
  nc->closing = true;
  nc->users++;
  int linger = nc->linger;
  tern__nc_wake_all(nc);
  tern_mutex_unlock(nc->m);
  int lerr = TERN_OK;
  bool nocopy = nc->type == TERN_NETCONN_TCP && atomic_load(&nc->nocopy_used);
  if (nc->type == TERN_NETCONN_TCP && linger > 0)
    lerr = linger_wait(nc, linger > INT32_MAX / 1000 ? INT32_MAX
                                                     : linger * 1000);
  else if (nocopy && linger != 0)
    lerr = linger_wait(nc, TERN_NETCONN_NOCOPY_CLOSE_MS);
  /* Segments may still point into the caller's memory: after the time
   * ran out, reset (the stack drops them) rather than keep them. */
  nc_op o = {.x = linger == 0 || (nocopy && lerr != TERN_OK)};
  int err = run(nc, op_close, &o);
  leave(nc);
  return err ? err : lerr;
}

long tern_netconn_unacked(tern_netconn *nc) {
  if (nc && nc->type != TERN_NETCONN_TCP) return TERN_ENOTSUP;
  nc_op o = {0};
  int err = simple(nc, op_queued, &o);
  return err ? err : (long)o.a;
}

int tern_netconn_getaddr(tern_netconn *nc, tern_addr *out, bool local) {
  if (!out) return TERN_EINVAL;
  nc_op o = {.x = local};
  int err = simple(nc, op_getaddr, &o);
  if (!err) *out = o.out;
  return err;
}

int tern_netconn_err(tern_netconn *nc, bool clear) {
  tern_mutex_lock(nc->m);
  int err = nc->err;
  if (clear) nc->err = 0;
  tern_mutex_unlock(nc->m);
  return err;
}

void tern_netconn_set_recvtimeout(tern_netconn *nc, int ms) {
  nc->recv_timeout = ms;
}
void tern_netconn_set_sendtimeout(tern_netconn *nc, int ms) {
  nc->send_timeout = ms;
}
int tern_netconn_get_recvtimeout(const tern_netconn *nc) {
  return nc->recv_timeout;
}
int tern_netconn_get_sendtimeout(const tern_netconn *nc) {
  return nc->send_timeout;
}
void tern_netconn_set_linger(tern_netconn *nc, int secs) {
  nc->linger = secs;
}
int tern_netconn_get_linger(const tern_netconn *nc) { return nc->linger; }

void tern_netconn_set_nonblocking(tern_netconn *nc, bool on) {
  nc->nonblocking = on;
}
bool tern_netconn_is_nonblocking(const tern_netconn *nc) {
  return nc->nonblocking;
}

void tern_netconn_set_recv_max(tern_netconn *nc, uint32_t n) {
  tern_mutex_lock(nc->m);
  nc->recv_max = n ? n : 1;
  tern_mutex_unlock(nc->m);
}

size_t tern_netconn_rx_bytes(tern_netconn *nc) {
  tern_mutex_lock(nc->m);
  size_t n = nc->rx_bytes;
  tern_mutex_unlock(nc->m);
  return n;
}

uint32_t tern_netconn_rx_count(tern_netconn *nc) {
  tern_mutex_lock(nc->m);
  uint32_t n = nc->count;
  tern_mutex_unlock(nc->m);
  return n;
}

uint32_t tern_netconn_sndbuf(tern_netconn *nc) {
  nc_op o = {0};
  if (nc->type != TERN_NETCONN_TCP) return 0;
  return simple(nc, op_sndbuf, &o) ? 0 : o.a;
}

int tern_netconn_set_nodelay(tern_netconn *nc, bool on) {
  nc_op o = {.x = true, .y = on};
  return simple(nc, op_tcpopt, &o);
}

int tern_netconn_set_keepalive(tern_netconn *nc, uint32_t idle_ms,
                               uint32_t intvl_ms, uint32_t count) {
  nc_op o = {.a = idle_ms, .b = intvl_ms, .c = count};
  return simple(nc, op_tcpopt, &o);
}

int tern_netconn_set_ip(tern_netconn *nc, int ttl, int tos) {
  if (ttl > 255 || tos > 255) return TERN_EINVAL;
  nc_op o = {.x = true, .a = (uint32_t)ttl, .b = (uint32_t)tos};
  return simple(nc, op_ipopt, &o);
}

int tern_netconn_get_ip(tern_netconn *nc, int *ttl, int *tos) {
  nc_op o = {0};
  int err = simple(nc, op_ipopt, &o);
  if (!err && ttl) *ttl = (int)o.a;
  if (!err && tos) *tos = (int)o.b;
  return err;
}

int tern__netconn_bufs(tern_netconn *nc, uint32_t *snd, uint32_t *rcv) {
  nc_op o = {0};
  int err = simple(nc, op_bufs, &o);
  *snd = o.a;
  *rcv = o.b;
  return err;
}

int tern_netconn_set_bufs(tern_netconn *nc, uint32_t snd_buf,
                          uint32_t rcv_buf) {
  nc_op o = {.x = true, .a = snd_buf, .b = rcv_buf};
  return simple(nc, op_bufs, &o);
}

/* ---- netbufs ---- */

static int op_netbuf_free(void *arg) {
  tern_netbuf *nb = arg;
  tern__tcpip_assert_ctx(nb->t);
  if (nb->p) tern_pbuf_free(nb->p);
  return TERN_OK;
}

/* The chain goes back to the pool in a posted step (no waiting for the
 * stack thread); the netbuf itself is freed with it. */
static void netbuf_posted(tern__tcpip_post *p, bool in_stack) {
  tern_netbuf *nb = (tern_netbuf *)(void *)((char *)p - offsetof(tern_netbuf, post));
  if (in_stack) tern_pbuf_free(nb->p);
  free(nb);
}

void tern_netbuf_free(tern_netbuf *nb) {
  if (!nb) return;
  if (nb->p) {
    nb->post = (tern__tcpip_post){nb->t, netbuf_posted};
    if (tern__tcpip_post_step(&nb->post) == TERN_OK) return;
    tern__tcpip_run(nb->t, op_netbuf_free, nb);
  }
  free(nb);
}

int tern_netbuf_data(const tern_netbuf *nb, void **data, size_t *len) {
  if (!nb || !nb->cur) return TERN_EINVAL;
  *data = tern_pbuf_data(nb->cur);
  *len = tern_pbuf_len(nb->cur);
  return TERN_OK;
}

bool tern_netbuf_next(tern_netbuf *nb) {
  tern_pbuf *n = nb->cur ? tern_pbuf_next(nb->cur) : NULL;
  if (!n) return false;
  nb->cur = n;
  return true;
}

void tern_netbuf_first(tern_netbuf *nb) { nb->cur = nb->p; }

size_t tern_netbuf_len(const tern_netbuf *nb) {
  return nb->p ? tern_pbuf_tot_len(nb->p) : 0;
}

size_t tern_netbuf_copy(const tern_netbuf *nb, size_t off, void *dst,
                        size_t len) {
  return nb->p ? tern_pbuf_copy_out(nb->p, off, dst, len) : 0;
}

const tern_addr *tern_netbuf_from(const tern_netbuf *nb) { return &nb->from; }
