/* conn.c: the connection API's public calls: making connections, sending,
 * consuming, closing, and per-connection settings.
 *
 * Every call here runs on the manager's loop thread. None of them delivers
 * CLOSE (the flush in mgr.c does), and a call that fails leaves no
 * connection behind and fires no event.
 */
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"

#define BE(c) ((c)->mgr->be)
#define BS(c) ((c)->mgr->be_state)

static void emit_simple(tern_conn *c, tern_ev type) {
  tern_event ev = {.type = type};
  tern__conn_emit(c, &ev);
}

/* Parse the URL and pick the transport. Names are resolved later (connect)
 * or now (listen, where they are local names such as "localhost"). */
static int parse_target(const char *url, tern_url *u, int *udp) {
  if (url == NULL) return TERN_EINVAL;
  int rc = tern_url_parse(url, strlen(url), u);
  if (rc != TERN_OK) {
    tern_log(TERN_LOG_WARN, "net", "bad URL '%s': %s", url, u->error);
    return rc;
  }
  if (u->tls) return TERN_ENOTSUP; /* TLS is a later layer */
  if (u->port == 0 && !u->udp && !tern_str_eq(u->scheme, "tcp"))
    return TERN_EURL;
  *udp = u->udp;
  return TERN_OK;
}

static int host_addr(const tern_url *u, tern_addr *a) {
  int rc = tern_addr_parse_ip(u->host.ptr, u->host.len, a);
  a->port = u->port;
  return rc;
}

int tern_listen(tern_mgr *m, const char *url, tern_conn_fn fn, void *ud,
                tern_conn **out) {
  tern_url u;
  tern_addr a;
  int udp = 0;
  if (m == NULL || m->freeing) return m ? TERN_ECLOSED : TERN_EINVAL;
  int rc = parse_target(url, &u, &udp);
  if (rc != TERN_OK) return rc;
  if (host_addr(&u, &a) != TERN_OK) {
    rc = tern__resolve_sync(u.host.ptr, u.host.len, u.port, udp, &a);
    if (rc != TERN_OK) return rc;
  }
  tern_conn *c = tern__conn_alloc(m, F_LISTENER | (udp ? F_UDP : 0), fn, ud);
  if (c == NULL) return TERN_ENOMEM;
  c->local = a;
  rc = udp ? BE(c)->listen_udp(BS(c), c, &a)
           : BE(c)->listen_tcp(BS(c), c, &a, m->lim.backlog);
  if (rc != TERN_OK) {
    tern__conn_free_unseen(c);
    return rc;
  }
  c->flags |= F_BACKEND | (udp ? F_CONNECTED : 0);
  tern__conn_link(c);
  if (out) *out = c;
  emit_simple(c, TERN_EV_OPEN);
  return TERN_OK;
}

/* Start the backend's connect to a known address (after a resolve, or at
 * once for numeric hosts). Returns a tern_err; nothing is emitted. */
static int backend_connect(tern_conn *c, const tern_addr *a) {
  c->peer = *a;
  int idx = c->cm ? tern__cm_attempt_start(c, a) : -1;
  int rc = (c->flags & F_UDP) ? BE(c)->connect_udp(BS(c), c, a)
                              : BE(c)->connect_tcp(BS(c), c, a);
  if (rc != TERN_OK) {
    if (c->cm) tern__cm_attempt_end(c, idx, rc);
    return rc;
  }
  c->flags |= F_BACKEND;
  if (c->flags & F_UDP) {
    c->flags |= F_CONNECTED;
    if (c->cm) tern__cm_connected(c, TERN_OK);
    tern__conn_pend(c, P_CONNECT);
  } else {
    c->flags |= F_CONNECTING;
  }
  return TERN_OK;
}

int tern__conn_start_connect(tern_conn *c, const tern_addr *a) {
  tern_event ev = {.type = TERN_EV_RESOLVE};
  ev.resolve.addr = a;
  tern__conn_emit(c, &ev);
  if (c->flags & F_FINAL) return TERN_ECLOSED;
  return backend_connect(c, a);
}

void tern_mgr_set_resolver(tern_mgr *m, const tern_name_resolver *r,
                           void *ctx) {
  m->names = r;
  m->names_ctx = r ? ctx : NULL;
}

int tern_connect(tern_mgr *m, const char *url, tern_conn_fn fn, void *ud,
                 tern_conn **out) {
  tern_url u;
  tern_addr a;
  int udp = 0;
  if (m == NULL || m->freeing) return m ? TERN_ECLOSED : TERN_EINVAL;
  int rc = parse_target(url, &u, &udp);
  if (rc != TERN_OK) return rc;
  if (u.port == 0) return TERN_EURL;
  tern_conn *c = tern__conn_alloc(m, F_CLIENT | (udp ? F_UDP : 0), fn, ud);
  if (c == NULL) return TERN_ENOMEM;
  c->start_ms = tern_loop_now(m->loop);
  bool numeric = host_addr(&u, &a) == TERN_OK;
  /* a name: resolving and racing (happy.c) */
  rc = numeric ? TERN_OK
               : tern__happy_new(c, u.host.ptr, u.host.len, u.port);
  if (rc == TERN_OK && m->conmon_all) rc = tern__cm_new(c);
  if (rc == TERN_OK && numeric) {
    rc = backend_connect(c, &a);
  } else if (rc == TERN_OK) {
    rc = m->names ? m->names->start(m->names_ctx, c, u.host.ptr, u.host.len,
                                    u.port)
                  : tern__resolve_start(c, u.host.ptr, u.host.len, u.port, udp);
    if (rc == TERN_OK) c->flags |= F_RESOLVING | (m->names ? F_RESOLVE_EXT : 0);
  }
  if (rc != TERN_OK) {
    tern__conn_free_unseen(c);
    return rc;
  }
  tern__conn_link(c);
  tern__conn_arm_deadline(c);
  if (out) *out = c;
  emit_simple(c, TERN_EV_OPEN);
  return TERN_OK;
}

int tern_adopt(tern_mgr *m, int fd, tern_conn_fn fn, void *ud,
               tern_conn **out) {
  if (m == NULL || fd < 0) return TERN_EINVAL;
  if (m->freeing) return TERN_ECLOSED;
  if (m->be->adopt == NULL) return TERN_ENOTSUP;
  tern_conn *c = tern__conn_alloc(m, 0, fn, ud);
  if (c == NULL) return TERN_ENOMEM;
  bool listener = false, udp = false;
  int rc = m->be->adopt(m->be_state, c, fd, &listener, &udp);
  if (rc != TERN_OK) {
    tern__conn_free_unseen(c);
    return rc;
  }
  c->flags |= F_BACKEND | (listener ? F_LISTENER : 0) | (udp ? F_UDP : 0);
  if (!listener || udp) c->flags |= F_CONNECTED;
  tern__conn_link(c);
  tern__conn_arm_deadline(c);
  if (!listener && !udp) tern__conn_fi_established(c);
  if (out) *out = c;
  emit_simple(c, TERN_EV_OPEN);
  if (!listener && !udp) emit_simple(c, TERN_EV_ACCEPT);
  return TERN_OK;
}

/* ---- sending ------------------------------------------------------- */

static void want_write(tern_conn *c, bool on) {
  if (on == ((c->flags & F_WRITE_ON) != 0)) return;
  c->flags ^= F_WRITE_ON;
  BE(c)->want_write(BS(c), c, on);
}

/* The queue is empty: do what was waiting for that. */
static void tx_drained(tern_conn *c) {
  want_write(c, false);
  if (c->flags & F_CLOSING) {
    tern__conn_finish(c, TERN_OK);
    return;
  }
  if ((c->flags & F_SHUT_WANTED) && !(c->flags & F_SHUT_DONE)) {
    c->flags |= F_SHUT_DONE;
    int rc = BE(c)->shutdown(BS(c), c);
    if (rc != TERN_OK) tern__conn_fail(c, rc, "shutdown failed");
    else if (c->flags & F_PEER_EOF) tern__conn_finish(c, TERN_OK);
  }
}

/* Hand the queue to the backend until it takes no more. */
void tern__conn_flush_tx(tern_conn *c) {
  while (c->tx.len > 0 && !(c->flags & F_FINAL)) {
    long n = BE(c)->send(BS(c), c, c->tx.data, c->tx.len);
    if (n < 0) {
      tern__conn_fail(c, (int)n, "send failed");
      return;
    }
    if (n == 0) {
      want_write(c, true);
      return;
    }
    tern_buf_consume(&c->tx, (size_t)n);
    c->last_io = tern_loop_now(c->mgr->loop);
  }
  if (c->flags & F_FINAL) return;
  if (c->flags & F_WANT_WRITABLE) tern__conn_pend(c, P_WRITABLE);
  tx_drained(c);
}

/* ---- corking -------------------------------------------------------
 *
 * While a connection handles READ, what it sends is gathered in the
 * manager's cork buffer and written in one go when the handler returns
 * (tern__conn_uncork, from conn_core.c): a handler that answers several
 * pipelined requests, or echoes a burst of WebSocket messages, costs one
 * system call instead of one per answer. Only an empty send queue is
 * corked (otherwise bytes are queued anyway), only one connection at a
 * time (a READ delivered inside another's handler is not corked), and
 * only up to TERN_NET_CORK_BYTES: a send that does not fit first writes
 * what is gathered, then goes its usual way, so order is kept. Anything
 * that needs the true queue (close, shutdown) writes the cork out first;
 * a connection that ends without that (abort, error) drops it. */

static size_t cork_held(const tern_conn *c) {
  return c->mgr->cork_conn == c ? c->mgr->cork_len : 0;
}

bool tern__conn_cork(tern_conn *c) {
  tern_mgr *m = c->mgr;
  if (TERN_NET_CORK_BYTES == 0 || m->cork_conn != NULL || c->tx.len != 0 ||
      (c->flags & (F_UDP | F_FINAL)))
    return false;
  if (m->cork == NULL && (m->cork = tern_fi_malloc(m->fi, TERN_NET_CORK_BYTES)) == NULL)
    return false;
  m->cork_conn = c;
  m->cork_len = 0;
  return true;
}

void tern__conn_cork_drop(tern_conn *c) {
  if (c->mgr->cork_conn != c) return;
  c->mgr->cork_conn = NULL;
  c->mgr->cork_len = 0;
}

static int push_stream(tern_conn *c, const uint8_t *p, size_t len);

/* Stop gathering and hand what was gathered on (send, or queue). */
static int cork_release(tern_conn *c) {
  tern_mgr *m = c->mgr;
  size_t len = m->cork_len;
  m->cork_conn = NULL;
  m->cork_len = 0;
  if (len == 0 || (c->flags & F_FINAL)) return TERN_OK;
  return push_stream(c, m->cork, len);
}

void tern__conn_uncork(tern_conn *c) {
  if (c->mgr->cork_conn != c) return;
  int rc = cork_release(c);
  /* Bytes the user was told were taken could not be queued: the stream
   * is broken, so the connection ends with the error. */
  if (rc != TERN_OK && !(c->flags & F_FINAL))
    tern__conn_fail(c, rc, "no memory for the send queue");
}

/* Hand bytes to the network, or queue what it does not take now. The
 * caller has checked that they fit in the queue. */
static int push_stream(tern_conn *c, const uint8_t *p, size_t len) {
  tern_mgr *m = c->mgr;
  if (m->cork_conn == c) {
    if (c->tx.len == 0 && len <= TERN_NET_CORK_BYTES - m->cork_len) {
      memcpy(m->cork + m->cork_len, p, len);
      m->cork_len += len;
      return TERN_OK;
    }
    int rc = cork_release(c);
    if (rc != TERN_OK) return rc;
    if (c->flags & F_FINAL) return TERN_ECLOSED;
  }
  size_t want = len;
  if (c->tx.len == 0 && (c->flags & F_CONNECTED)) {
    /* Fast path: nothing queued, try the network first (no copy). */
    long n = BE(c)->send(BS(c), c, p, len);
    if (n < 0) {
      tern__conn_finish(c, (int)n);
      return (int)n;
    }
    p += n;
    len -= (size_t)n;
    if (n > 0) c->last_io = tern_loop_now(c->mgr->loop);
  }
  if (len == 0) return TERN_OK;
  int rc = tern__conn_buf_append(c, &c->tx, p, len);
  if (rc != TERN_OK) {
    /* No memory for the rest: if part went out, the stream is broken. */
    if (len != want) tern__conn_finish(c, rc);
    return rc;
  }
  if (c->flags & F_CONNECTED) want_write(c, true);
  return TERN_OK;
}

static bool fits(const tern_conn *c, size_t len) {
  size_t q = c->tx.len + cork_held(c);
  return q + len <= c->tx.max && q + len >= len;
}

static int stream_ok(const tern_conn *c) {
  if (c->flags & (F_FINAL | F_CLOSING | F_SHUT_WANTED)) return TERN_ECLOSED;
  if (c->flags & (F_LISTENER | F_UDP)) return TERN_ENOTSUP;
  return TERN_OK;
}

int tern_sendv(tern_conn *c, const tern_iov *iov, size_t n) {
  if (c == NULL || (iov == NULL && n > 0)) return TERN_EINVAL;
  int rc = stream_ok(c);
  size_t total = 0;
  for (size_t i = 0; i < n && rc == TERN_OK; i++) {
    if (total + iov[i].len < total) return TERN_ENOSPC;
    total += iov[i].len;
  }
  if (rc != TERN_OK) return rc;
  if (!fits(c, total)) return TERN_ENOSPC;
  if (tern_fi_hit(c->mgr->fi, "conn/send")) { /* as if the peer had gone */
    tern__conn_finish(c, TERN_EPIPE);
    return TERN_EPIPE;
  }
  size_t i = 0, off = 0; /* first byte not yet handed over: iov[i] + off */
  tern_mgr *m = c->mgr;
  if (m->cork_conn == c) {
    if (c->tx.len == 0 && total <= TERN_NET_CORK_BYTES - m->cork_len) {
      for (; i < n; i++) { /* gathered whole */
        if (iov[i].len) memcpy(m->cork + m->cork_len, iov[i].base, iov[i].len);
        m->cork_len += iov[i].len;
      }
      return TERN_OK;
    }
    rc = cork_release(c); /* too big to gather: write the rest, then this */
    if (rc != TERN_OK) return rc;
    if (c->flags & F_FINAL) return TERN_ECLOSED;
  }
  if (c->tx.len == 0 && (c->flags & F_CONNECTED) && BE(c)->sendv && n > 1 &&
      m->cork_conn != c) {
    /* Fast path: one gathered write for all pieces (one system call, one
     * segment for a frame header and its payload); queue what is left. */
    long sent = BE(c)->sendv(BS(c), c, iov, n);
    if (sent < 0) {
      tern__conn_finish(c, (int)sent);
      return (int)sent;
    }
    if (sent > 0) c->last_io = tern_loop_now(c->mgr->loop);
    size_t left = (size_t)sent;
    while (i < n && left >= iov[i].len) left -= iov[i++].len;
    off = left;
  }
  bool handed = i > 0 || off > 0; /* part of this frame is on its way */
  for (; i < n && rc == TERN_OK; i++, off = 0)
    if (iov[i].len > off) {
      rc = push_stream(c, (const uint8_t *)iov[i].base + off, iov[i].len - off);
      if (rc == TERN_OK) handed = true;
    }
  /* A piece could not be queued after others were: the frame is cut. */
  if (rc != TERN_OK && handed && !(c->flags & F_FINAL)) tern__conn_finish(c, rc);
  return rc;
}

int tern_send(tern_conn *c, const void *data, size_t len) {
  if (c == NULL || (data == NULL && len > 0)) return TERN_EINVAL;
  if (c->flags & (F_FINAL | F_CLOSING | F_SHUT_WANTED)) return TERN_ECLOSED;
  if (c->flags & F_UDP) {
    if (!(c->flags & F_CONNECTED)) return TERN_ENOTCONN;
    if (tern_fi_hit(c->mgr->fi, "udp/send")) return TERN_ENETUNREACH;
    return BE(c)->sendto(BS(c), c, (c->flags & F_LISTENER) ? &c->peer : NULL,
                         data, len);
  }
  if (c->flags & F_LISTENER) return TERN_ENOTCONN;
  if (!fits(c, len)) return TERN_ENOSPC;
  if (tern_fi_hit(c->mgr->fi, "conn/send")) { /* as if the peer had gone */
    tern__conn_finish(c, TERN_EPIPE);
    return TERN_EPIPE;
  }
  return push_stream(c, data, len);
}

int tern_sendto(tern_conn *c, const tern_addr *addr, const void *data,
                size_t len) {
  if (c == NULL || addr == NULL || (data == NULL && len > 0))
    return TERN_EINVAL;
  if (!(c->flags & F_UDP)) return TERN_ENOTSUP;
  if (c->flags & (F_FINAL | F_CLOSING)) return TERN_ECLOSED;
  if (tern_fi_hit(c->mgr->fi, "udp/send")) return TERN_ENETUNREACH;
  return BE(c)->sendto(BS(c), c, addr, data, len);
}

/* ---- receiving ----------------------------------------------------- */

void tern_conn_consume(tern_conn *c, size_t n) {
  if (c == NULL || n == 0) return;
  if (c->flags & F_IN_READ) {
    /* Bytes still in the backend's buffer; conn_core.c settles this. */
    size_t left = c->cb_len - c->cb_consumed;
    c->cb_consumed += n < left ? n : left;
    return;
  }
  if (n > c->rx.len) n = c->rx.len;
  if (n == 0) return;
  tern_buf_consume(&c->rx, n);
  if (!(c->flags & F_FINAL)) BE(c)->recved(BS(c), c, n);
}

const uint8_t *tern_conn_rx(const tern_conn *c, size_t *len) {
  if (c->flags & F_IN_READ) {
    *len = c->cb_len - c->cb_consumed;
    return c->cb_data + c->cb_consumed;
  }
  *len = c->rx.len;
  return c->rx.data;
}

/* ---- ending -------------------------------------------------------- */

void tern_close(tern_conn *c) {
  if (c == NULL || (c->flags & (F_FINAL | F_CLOSING))) return;
  tern__conn_uncork(c);
  if (c->flags & F_FINAL) return; /* the gathered bytes failed to go */
  if (c->tx.len == 0 || !(c->flags & F_CONNECTED) ||
      (c->flags & (F_LISTENER | F_UDP))) {
    tern__conn_finish(c, TERN_OK);
    return;
  }
  c->flags |= F_CLOSING;
  c->start_ms = tern_loop_now(c->mgr->loop);
  tern__conn_arm_deadline(c);
}

void tern_abort(tern_conn *c) {
  if (c == NULL || (c->flags & F_FINAL)) return;
  c->flags |= F_ABORT;
  tern__conn_finish(c, TERN_ECONNABORTED);
}

int tern_shutdown(tern_conn *c) {
  if (c == NULL) return TERN_EINVAL;
  if (c->flags & (F_FINAL | F_CLOSING)) return TERN_ECLOSED;
  if (c->flags & (F_UDP | F_LISTENER)) return TERN_ENOTSUP;
  tern__conn_uncork(c);
  if (c->flags & F_FINAL) return TERN_ECLOSED;
  c->flags |= F_SHUT_WANTED;
  if ((c->flags & F_CONNECTED) && c->tx.len == 0) tx_drained(c);
  return TERN_OK;
}

/* ---- flow control and properties ---------------------------------- */

size_t tern_conn_queued(const tern_conn *c) {
  return c->tx.len + cork_held(c);
}

bool tern_conn_choked(const tern_conn *c) {
  return tern_conn_queued(c) > c->tx_lowat;
}

void tern_conn_want_writable(tern_conn *c) {
  if (c == NULL || (c->flags & F_FINAL)) return;
  c->flags |= F_WANT_WRITABLE;
  if (tern_conn_queued(c) <= c->tx_lowat && (c->flags & F_CONNECTED))
    tern__conn_pend(c, P_WRITABLE);
}

uint64_t tern_conn_id(const tern_conn *c) { return c->id; }
tern_mgr *tern_conn_mgr(const tern_conn *c) { return c->mgr; }
void *tern_conn_data(const tern_conn *c) { return c->ud; }
void tern_conn_set_data(tern_conn *c, void *ud) { c->ud = ud; }
void tern_conn_set_fn(tern_conn *c, tern_conn_fn fn) { c->fn = fn; }
const tern_addr *tern_conn_local(const tern_conn *c) { return &c->local; }
const tern_addr *tern_conn_peer(const tern_conn *c) { return &c->peer; }
bool tern_conn_is_listener(const tern_conn *c) {
  return (c->flags & F_LISTENER) != 0;
}
bool tern_conn_is_udp(const tern_conn *c) { return (c->flags & F_UDP) != 0; }
bool tern_conn_is_client(const tern_conn *c) {
  return (c->flags & F_CLIENT) != 0;
}

void tern_conn_set_half_close(tern_conn *c, bool on) {
  if (on) c->flags |= F_HALF_CLOSE;
  else c->flags &= ~F_HALF_CLOSE;
}

int tern_conn_set_rx_max(tern_conn *c, size_t max) {
  if (max == 0) return TERN_EINVAL;
  return tern_buf_set_max(&c->rx, max);
}

int tern_conn_set_tx_max(tern_conn *c, size_t max) {
  if (max == 0) return TERN_EINVAL;
  tern__conn_uncork(c); /* the limit applies to the true queue */
  return tern_buf_set_max(&c->tx, max);
}

void tern_conn_set_max_conns(tern_conn *l, uint32_t max) {
  l->max_conns = max ? max : 1;
  bool full = l->nchildren >= l->max_conns;
  bool paused = (l->flags & F_ACCEPT_PAUSED) != 0;
  if (!(l->flags & F_LISTENER) || (l->flags & F_FINAL) || full == paused)
    return;
  l->flags ^= F_ACCEPT_PAUSED;
  BE(l)->pause_accept(BS(l), l, full);
}

int tern_conn_set_nodelay(tern_conn *c, bool on) {
  if (c->flags & (F_FINAL | F_UDP | F_LISTENER)) return TERN_EINVAL;
  if (BE(c)->set_nodelay == NULL) return TERN_ENOTSUP;
  return BE(c)->set_nodelay(BS(c), c, on);
}

size_t tern_conn_mem(const tern_conn *c) {
  return sizeof(*c) + c->mgr->be->conn_size + c->rx.cap + c->tx.cap +
         (size_t)(c->rx.data ? c->rx.data - c->rx.base : 0) +
         (size_t)(c->tx.data ? c->tx.data - c->tx.base : 0);
}
