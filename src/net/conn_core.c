/* conn_core.c: the calls a backend makes into the connection core
 * (tern/backend.h): accepted, connected, received, sent, writable, closed.
 *
 * All of them run from the loop (a backend's I/O or timer callback), so
 * they may deliver events directly.
 *
 * Receive path, and why it rarely copies: bytes arrive in the backend's
 * buffer. If nothing older is waiting, READ points straight at them; only
 * what the handler leaves unconsumed is copied into the connection's own
 * buffer (allocated then, released when consumed). An idle connection
 * holds no buffer at all.
 *
 * Send path while READ is delivered: see "corking" in conn.c.
 */
#include <string.h>

#include "net/net_internal.h"
#include "tern/metrics.h"

#define BE(c) ((c)->mgr->be)
#define BS(c) ((c)->mgr->be_state)

void *tern_core_conn_priv(tern_conn *c) { return c->priv; }

void *tern_core_backend_state(const tern_conn *c) { return c->mgr->be_state; }

size_t tern_core_rx_window(const tern_conn *c) { return c->rx.max; }

void tern_core_set_local(tern_conn *c, const tern_addr *a) { c->local = *a; }

void tern_core_set_peer(tern_conn *c, const tern_addr *a) { c->peer = *a; }

tern_conn *tern_core_accept_begin(tern_conn *l) {
  tern_mgr *m = l->mgr;
  if ((l->flags & F_FINAL) || m->freeing || l->nchildren >= l->max_conns)
    return NULL;
  tern_conn *c = tern__conn_alloc(m, l->flags & F_SYSTEM, l->fn, l->ud);
  if (c == NULL) return NULL;
  c->local = l->local;
  c->listener = l; /* counted in tern_core_accept_commit */
  return c;
}

void tern_core_accept_commit(tern_conn *c, bool ok) {
  if (!ok) {
    tern__conn_free_unseen(c);
    return;
  }
  tern_conn *l = c->listener;
  if (++l->nchildren >= l->max_conns && !(l->flags & F_ACCEPT_PAUSED)) {
    l->flags |= F_ACCEPT_PAUSED; /* new peers wait in the backlog */
    BE(l)->pause_accept(BS(l), l, true);
  }
  c->flags |= F_BACKEND | F_CONNECTED;
  tern__conn_link(c);
  tern__conn_arm_deadline(c);
  tern__conn_fi_established(c);
  tern_event ev = {.type = TERN_EV_OPEN};
  tern__conn_emit(c, &ev);
  ev.type = TERN_EV_ACCEPT;
  tern__conn_emit(c, &ev);
}

void tern_core_connected(tern_conn *c, int err) {
  if (c->flags & F_FINAL) return;
  if (err == TERN_OK && tern_fi_hit(c->mgr->fi, "conn/connect"))
    err = TERN_ECONNREFUSED; /* fault injection */
  if (c->flags & F_ATTEMPT) /* one of a happy-eyeballs race (happy.c) */
    tern__happy_attempt_done(c, err);
  else
    tern__conn_connected(c, err);
}

void tern__conn_connected(tern_conn *c, int err) {
  if (c->cm) tern__cm_connected(c, err);
  c->flags &= ~F_CONNECTING;
  if (err != TERN_OK) {
    tern__conn_fail(c, err, "connect failed");
    return;
  }
  c->flags |= F_CONNECTED;
  c->last_io = tern_loop_now(c->mgr->loop);
  tern__conn_arm_deadline(c);
  tern__conn_fi_established(c);
  tern_event ev = {.type = TERN_EV_CONNECT};
  tern__conn_emit(c, &ev);
  if (c->flags & F_FINAL) return;
  if (c->tx.len > 0 || (c->flags & (F_SHUT_WANTED | F_CLOSING)))
    tern__conn_flush_tx(c);
}

/* The peer's FIN: tell the handler, then drain and close unless the user
 * asked for half-close (RFC 9293 3.6: a FIN only ends the peer's side). */
static void received_eof(tern_conn *c) {
  c->flags |= F_PEER_EOF;
  tern_event ev = {.type = TERN_EV_READ};
  ev.read.data = c->rx.data;
  ev.read.len = c->rx.len;
  ev.read.from = &c->peer;
  ev.read.eof = true;
  tern__conn_emit(c, &ev);
  if (!(c->flags & (F_FINAL | F_HALF_CLOSE))) tern_close(c);
  else if ((c->flags & F_HALF_CLOSE) && (c->flags & F_SHUT_DONE) &&
           !(c->flags & F_FINAL))
    tern__conn_finish(c, TERN_OK); /* both directions are done */
}

static void received_datagram(tern_conn *c, const void *data, size_t len,
                              const tern_addr *from) {
  if (c->mgr->fi && (tern_fi_hit(c->mgr->fi, "udp/rxdrop") ||
                     tern_fi_hit(c->mgr->fi, "conn/rxdrop")))
    return; /* fault injection */
  if (from && (c->flags & F_LISTENER)) c->peer = *from;
  tern_event ev = {.type = TERN_EV_READ};
  ev.read.data = data;
  ev.read.len = len;
  ev.read.fresh = len;
  ev.read.from = from ? from : &c->peer;
  tern__conn_emit(c, &ev);
}

/* Nothing older is buffered: deliver straight from the backend's bytes and
 * keep only what the handler did not consume. */
static void received_direct(tern_conn *c, const uint8_t *p, size_t len) {
  tern_event ev = {.type = TERN_EV_READ};
  ev.read.data = p;
  ev.read.len = len;
  ev.read.fresh = len;
  ev.read.from = &c->peer;
  c->flags |= F_IN_READ;
  c->cb_data = p;
  c->cb_len = len;
  c->cb_consumed = 0;
  bool corked = tern__conn_cork(c);
  tern__conn_emit(c, &ev);
  c->flags &= ~F_IN_READ;
  if (corked) tern__conn_uncork(c);
  size_t used = c->cb_consumed;
  if (c->flags & F_FINAL) return;
  if (used < len && tern__conn_buf_append(c, &c->rx, p + used, len - used) != 0) {
    tern__conn_fail(c, TERN_ENOMEM, "no memory for receive buffer");
    return;
  }
  if (used > 0) BE(c)->recved(BS(c), c, used);
}

static void received_buffered(tern_conn *c, const uint8_t *p, size_t len) {
  int rc = tern__conn_buf_append(c, &c->rx, p, len);
  if (rc != TERN_OK) {
    /* The backend overran the window, or rx_max shrank under it. */
    if (rc == TERN_ENOMEM) tern__conn_fail(c, rc, "no memory for receive buffer");
    else tern__conn_fail(c, TERN_ELIMIT, "receive buffer limit exceeded");
    return;
  }
  tern_event ev = {.type = TERN_EV_READ};
  ev.read.data = c->rx.data;
  ev.read.len = c->rx.len;
  ev.read.fresh = len;
  ev.read.from = &c->peer;
  bool corked = tern__conn_cork(c);
  tern__conn_emit(c, &ev);
  if (corked) tern__conn_uncork(c);
}

void tern_core_received(tern_conn *c, const void *data, size_t len,
                        const tern_addr *from) {
  if (c->flags & F_FINAL) return;
  if (c->cm && len > 0) tern__cm_first_byte(c);
  c->last_io = tern_loop_now(c->mgr->loop);
  if (c->mgr->mx) tern_metric_add(c->mgr->mx->bytes_in[TERN__MX_CLASS(c)], (int64_t)len);
  if (c->flags & F_UDP) {
    received_datagram(c, data, len, from);
  } else if (len == 0) {
    received_eof(c);
  } else if (c->flags & F_CLOSING) {
    BE(c)->recved(BS(c), c, len); /* closing: read and discard */
  } else if (c->rx.len == 0) {
    received_direct(c, data, len);
  } else {
    received_buffered(c, data, len);
  }
}

void tern_core_sent(tern_conn *c, size_t n) {
  if ((c->flags & F_FINAL) || n == 0) return;
  if (c->mgr->mx) tern_metric_add(c->mgr->mx->bytes_out[TERN__MX_CLASS(c)], (int64_t)n);
  c->sent_unreported += n;
  tern__conn_pend(c, P_WRITE);
}

void tern_core_writable(tern_conn *c) {
  if (c->flags & F_FINAL) return;
  tern__conn_flush_tx(c);
}

void tern_core_closed(tern_conn *c, int err) {
  if (c->flags & F_FINAL) return;
  if (c->flags & F_ATTEMPT) { /* still connecting: the attempt failed */
    tern__happy_attempt_done(c, err ? err : TERN_ECONNRESET);
    return;
  }
  if (err == TERN_OK) {
    tern__conn_finish(c, TERN_OK);
    return;
  }
  tern__conn_fail(c, err, tern_strerror(err));
}
