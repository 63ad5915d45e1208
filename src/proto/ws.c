/* ws.c: WebSocket sessions (RFC 6455): the opening handshake on both
 * sides (section 4), reading frames into messages with fragmentation and
 * interleaved control frames (5.4, 5.5), incremental UTF-8 checks of text
 * (8.1), the closing handshake (7), keepalive pings, and sending.
 *
 * Read first: RFC 6455 sections 5.2 (framing), 5.4-5.5, 7.1.7 (failing
 * the connection) and 7.4 (close codes). The frame codec is ws_frame.c.
 *
 * Lifetime: a tern_ws is made when the handshake succeeds (server) or when
 * tern_ws_connect starts (client), together with its session data in one
 * allocation. It is freed after CLOSED, which the connection's CLOSE event
 * triggers exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_internal.h"
#include "proto/ws_frame.h"
#include "tern/metrics.h"
#include "tern/port.h"

#define WS_DEFAULT_MAX_MESSAGE (1024 * 1024)
#define WS_CLOSE_WAIT_MS 5000     /* for the peer's Close after ours */
#define WS_HANDSHAKE_MS 10000     /* client: for the 101 after connecting */
/* A whole one-frame message up to this size that arrived in one piece is
 * unmasked on the stack and handed over without touching the heap. */
#define WS_STACK_MESSAGE 1024

typedef struct ws_route {
  tern_ws_protocol *protos;
  size_t n;
} ws_route;

enum { WS_HANDSHAKE, WS_OPEN, WS_FAILED };

struct tern_ws {
  tern_ws *prev, *next;        /* server's list of established sockets */
  tern_http_server *srv;       /* NULL on the client side */
  tern_conn *c;
  const tern_ws_protocol *proto;
  const char *proto_name;      /* agreed in the handshake, or NULL */
  tern_ws_protocol own;        /* client: its copy of the protocol */
  char *client_head;           /* client: the request, until sent */
  char accept[29];             /* client: the Sec-WebSocket-Accept expected */
  uint8_t state;
  bool client, sent_close, got_close, closed;
  bool in_frame, ping_outstanding;
  uint16_t close_code;
  uint8_t close_reason_len;    /* the peer's Close reason, for CLOSED */
  uint8_t close_reason[123];
  tern__ws_frame f;
  uint64_t frame_got;          /* payload bytes of f read so far */
  uint8_t msg_op;              /* opcode of the message in progress, or 0 */
  uint64_t msg_total;          /* bytes of the message so far */
  tern_utf8 utf8;
  tern_buf msg;                /* reassembly (released after delivery) */
  uint8_t ctrl[125];           /* control frame payload (5.5: <= 125) */
  uint64_t last_rx, ping_at, close_at;
  tern_metric *mx[4];          /* messages in/out, bytes in/out; NULL: none */
  max_align_t session[];
};

enum { MX_MSG_IN, MX_MSG_OUT, MX_BYTES_IN, MX_BYTES_OUT }; /* tern_ws.mx */
static void mx_closed(tern_ws *ws);

static size_t max_message(const tern_ws *ws) {
  return ws->proto->max_message ? ws->proto->max_message
                                : WS_DEFAULT_MAX_MESSAGE;
}

static uint64_t now_ms(tern_ws *ws) {
  return tern_loop_now(tern_mgr_loop(tern_conn_mgr(ws->c)));
}

static void deliver(tern_ws *ws, tern_ws_reason reason, const tern_ws_msg *m) {
  if (ws->closed) return;
  ws->proto->fn(ws, reason, ws->session, m, ws->proto->ud);
}

/* ---- sending ------------------------------------------------------- */

/* One frame, all or nothing. Clients mask (5.3) with a fresh key. */
static int send_frame(tern_ws *ws, uint8_t op, const void *data, size_t len) {
  uint8_t head[14], key[4], stackbuf[2048];
  uint8_t *masked = NULL;
  const void *payload = data;
  if (ws->client) {
    if (tern_random(key, sizeof(key)) != TERN_OK) return TERN_EIO;
    masked = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
    if (masked == NULL) return TERN_ENOMEM;
    tern__ws_mask(masked, data, len, key, 0);
    payload = masked;
  }
  size_t hl = tern__ws_encode_header(head, true, op, len,
                                     ws->client ? key : NULL);
  tern_iov iov[2] = {{head, hl}, {payload, len}};
  int rc = tern_sendv(ws->c, iov, len ? 2 : 1);
  if (masked != stackbuf) free(masked);
  return rc;
}

static void send_close(tern_ws *ws, uint16_t code, const char *reason,
                       size_t rlen) {
  if (ws->sent_close) return;
  ws->sent_close = true;
  ws->close_at = now_ms(ws);
  /* 7.1.1: do not wait forever for a peer that never answers our Close;
   * the idle timer drops the connection (CLOSED then says 1006). */
  tern_conn_set_idle_timeout(ws->c, WS_CLOSE_WAIT_MS);
  uint8_t p[125];
  size_t n = 0;
  if (code != TERN__WS_CLOSE_NO_STATUS) {
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rlen > sizeof(p) - 2) rlen = sizeof(p) - 2;
    if (rlen) memcpy(p + 2, reason, rlen);
    n = 2 + rlen;
  }
  /* The Close must go out even when the queue is at its limit. */
  if (send_frame(ws, TERN__WS_OP_CLOSE, p, n) == TERN_ENOSPC) {
    tern_conn_set_tx_max(ws->c, tern_conn_queued(ws->c) + n + 16);
    send_frame(ws, TERN__WS_OP_CLOSE, p, n);
  }
}

/* 7.1.7 _Fail the WebSocket Connection_: send a Close with the code (if
 * none was sent), drop further input, close the TCP connection. */
static void fail(tern_ws *ws, uint16_t code, const char *why) {
  tern_log(TERN_LOG_DEBUG, "ws", "failing connection: %u %s", code, why);
  if (ws->state == WS_FAILED) return;
  ws->state = WS_FAILED;
  if (!ws->got_close) ws->close_code = TERN__WS_CLOSE_ABNORMAL;
  send_close(ws, code, why, strlen(why));
  tern_close(ws->c);
}

int tern_ws_send(tern_ws *ws, const void *data, size_t len, tern_ws_type type) {
  if (ws == NULL || (data == NULL && len)) return TERN_EINVAL;
  if (ws->state != WS_OPEN || ws->sent_close || ws->closed) return TERN_ECLOSED;
  switch (type) {
    case TERN_WS_TEXT:
      if (!tern_utf8_valid(data, len)) return TERN_EINVAL;
      break;
    case TERN_WS_PING:
    case TERN_WS_PONG_FRAME:
      if (len > 125) return TERN_EMSGSIZE; /* 5.5 */
      break;
    case TERN_WS_BINARY:
      break;
    default:
      return TERN_EINVAL;
  }
  int rc = send_frame(ws, (uint8_t)type, data, len);
  if (rc == TERN_OK && ws->mx[0] && (type == TERN_WS_TEXT || type == TERN_WS_BINARY)) {
    tern_metric_add(ws->mx[MX_MSG_OUT], 1);
    tern_metric_add(ws->mx[MX_BYTES_OUT], (int64_t)len);
  }
  return rc;
}

int tern_ws_close(tern_ws *ws, uint16_t code, const char *reason) {
  if (ws == NULL) return TERN_EINVAL;
  if (ws->sent_close || ws->closed) return TERN_ECLOSED;
  size_t rlen = reason ? strlen(reason) : 0;
  if (!tern__ws_close_code_ok(code) || rlen > 123 ||
      !tern_utf8_valid((const uint8_t *)reason, rlen))
    return TERN_EINVAL;
  if (ws->state == WS_HANDSHAKE) { /* client, no WebSocket yet: a Close
                                      would go out ahead of the request */
    ws->sent_close = true;
    ws->state = WS_FAILED;
    tern_abort(ws->c);
    return TERN_OK;
  }
  send_close(ws, code, reason, rlen);
  return TERN_OK;
}

void tern_ws_want_writable(tern_ws *ws) {
  if (ws && !ws->closed) tern_conn_want_writable(ws->c);
}

size_t tern_ws_queued(const tern_ws *ws) { return tern_conn_queued(ws->c); }
void *tern_ws_session(const tern_ws *ws) { return (void *)ws->session; }
tern_conn *tern_ws_conn(const tern_ws *ws) { return ws->c; }
const char *tern_ws_protocol_name(const tern_ws *ws) {
  return ws->proto_name ? ws->proto_name : "";
}
size_t tern_ws_count(const tern_http_server *s) { return s->nws; }

void tern_ws_want_writable_all(tern_http_server *s, const char *name) {
  for (tern_ws *ws = s->ws_list; ws; ws = ws->next) {
    const char *pn = ws->proto->name;
    if ((name == NULL && pn == NULL) || (name && pn && !strcmp(name, pn)))
      tern_ws_want_writable(ws);
  }
}

/* ---- receiving ----------------------------------------------------- */

/* A control frame is complete (5.5). */
static void on_control(tern_ws *ws) {
  size_t n = (size_t)ws->f.payload_len;
  tern_ws_msg m = {.data = ws->ctrl, .len = n, .first = true, .last = true};
  switch (ws->f.opcode) {
    case TERN__WS_OP_PING: /* 5.5.2: Pong with the same payload */
      if (!ws->sent_close) send_frame(ws, TERN__WS_OP_PONG, ws->ctrl, n);
      return;
    case TERN__WS_OP_PONG:
      ws->ping_outstanding = false;
      deliver(ws, TERN_WS_PONG, &m);
      return;
    default:
      break;
  }
  /* 5.5.1 / 7.1.5: Close. A 1-byte body, a code that may not be sent, or
   * a reason that is not UTF-8 fail the connection. */
  uint16_t code = TERN__WS_CLOSE_NO_STATUS;
  if (n == 1) return fail(ws, TERN__WS_CLOSE_PROTOCOL, "bad close frame");
  if (n >= 2) {
    code = (uint16_t)(ws->ctrl[0] << 8 | ws->ctrl[1]);
    if (!tern__ws_close_code_ok(code))
      return fail(ws, TERN__WS_CLOSE_PROTOCOL, "bad close code");
    if (!tern_utf8_valid(ws->ctrl + 2, n - 2))
      return fail(ws, TERN__WS_CLOSE_BAD_DATA, "bad close reason");
  }
  ws->got_close = true;
  ws->close_code = code;
  if (n > 2) {
    ws->close_reason_len = (uint8_t)(n - 2);
    memcpy(ws->close_reason, ws->ctrl + 2, n - 2);
  }
  send_close(ws, code, (const char *)ws->ctrl + 2, n >= 2 ? n - 2 : 0);
  tern_close(ws->c); /* 7.1.1: the server closes TCP first; a client too,
                        once both Close frames have crossed */
}

/* Checks on a new frame's header against the message state (5.4). */
static int check_frame(tern_ws *ws) {
  const tern__ws_frame *f = &ws->f;
  if (f->masked == ws->client) { /* 5.1: clients mask, servers do not */
    fail(ws, TERN__WS_CLOSE_PROTOCOL, "wrong masking");
    return -1;
  }
  if (f->opcode >= TERN__WS_OP_CLOSE) return 0;
  if (f->opcode == TERN__WS_OP_CONT && ws->msg_op == 0) {
    fail(ws, TERN__WS_CLOSE_PROTOCOL, "continuation without a message");
    return -1;
  }
  if (f->opcode != TERN__WS_OP_CONT && ws->msg_op != 0) {
    fail(ws, TERN__WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
    return -1;
  }
  if (ws->msg_total + f->payload_len > max_message(ws)) {
    fail(ws, TERN__WS_CLOSE_TOO_BIG, "message too big");
    return -1;
  }
  if (f->opcode != TERN__WS_OP_CONT) {
    ws->msg_op = f->opcode;
    memset(&ws->utf8, 0, sizeof(ws->utf8));
  }
  return 0;
}

static void message_done(tern_ws *ws) {
  ws->msg_op = 0;
  ws->msg_total = 0;
  tern_buf_consume(&ws->msg, ws->msg.len); /* releases the storage */
}

/* Payload bytes of a data frame, already unmasked, at dst[0..n). whole:
 * dst is the entire message (not in ws->msg). */
static void on_data(tern_ws *ws, uint8_t *dst, size_t n, bool frame_end,
                    bool whole) {
  bool text = ws->msg_op == TERN__WS_OP_TEXT;
  bool msg_end = frame_end && ws->f.fin;
  if (text) { /* 8.1: fail fast, even inside a fragment */
    int u = tern_utf8_feed(&ws->utf8, dst, n);
    if (u == TERN_UTF8_BAD || (msg_end && u != TERN_UTF8_OK)) {
      fail(ws, TERN__WS_CLOSE_BAD_DATA, "invalid UTF-8");
      return;
    }
  }
  bool first = ws->msg_total == 0;
  ws->msg_total += n;
  if (ws->proto->fragments) {
    tern_ws_msg m = {.data = dst, .len = n, .binary = !text,
                     .first = first, .last = msg_end};
    if (n || msg_end) deliver(ws, TERN_WS_RECEIVE, &m);
    tern_buf_consume(&ws->msg, ws->msg.len);
  } else if (msg_end) {
    tern_ws_msg m = {.data = whole ? dst : ws->msg.data,
                     .len = whole ? n : ws->msg.len,
                     .binary = !text, .first = true, .last = true};
    deliver(ws, TERN_WS_RECEIVE, &m);
  }
  if (msg_end && ws->mx[0]) {
    tern_metric_add(ws->mx[MX_MSG_IN], 1);
    tern_metric_add(ws->mx[MX_BYTES_IN], (int64_t)ws->msg_total);
  }
  if (msg_end) message_done(ws);
}

/* Read payload bytes of the current frame from p[0..len); returns bytes
 * used. */
static size_t read_payload(tern_ws *ws, const uint8_t *p, size_t len) {
  uint64_t left = ws->f.payload_len - ws->frame_got;
  size_t n = left < len ? (size_t)left : len;
  bool control = ws->f.opcode >= TERN__WS_OP_CLOSE;
  uint8_t *dst;
  if (!control && ws->frame_got == 0 && ws->f.fin && ws->msg_total == 0 &&
      n == ws->f.payload_len && n <= WS_STACK_MESSAGE) {
    /* The common case: a small message in one frame, all here. */
    uint8_t tmp[WS_STACK_MESSAGE];
    if (ws->f.masked) tern__ws_mask(tmp, p, n, ws->f.mask, 0);
    else memcpy(tmp, p, n);
    ws->frame_got = n;
    ws->in_frame = false;
    on_data(ws, tmp, n, true, true);
    return n;
  }
  if (control) {
    dst = ws->ctrl + ws->frame_got;
  } else {
    dst = tern_buf_reserve(&ws->msg, n ? n : 1);
    if (dst == NULL) {
      fail(ws, TERN__WS_CLOSE_TOO_BIG, "message too big");
      return len;
    }
  }
  if (ws->f.masked) tern__ws_mask(dst, p, n, ws->f.mask, ws->frame_got);
  else memcpy(dst, p, n);
  ws->frame_got += n;
  bool end = ws->frame_got == ws->f.payload_len;
  if (end) ws->in_frame = false;
  if (control) {
    if (end) on_control(ws);
  } else {
    tern_buf_commit(&ws->msg, n);
    on_data(ws, dst, n, end, false);
  }
  return n;
}

/* Parse as many frames as the buffered bytes hold. */
static void ws_process(tern_ws *ws) {
  size_t len;
  const uint8_t *p = tern_conn_rx(ws->c, &len);
  size_t used = 0;
  while (used < len && ws->state == WS_OPEN && !ws->closed) {
    if (ws->got_close) { /* nothing may follow a Close (5.5.1) */
      used = len;
      break;
    }
    if (!ws->in_frame) {
      uint16_t code = TERN__WS_CLOSE_PROTOCOL;
      long h = tern__ws_parse_header(p + used, len - used, &ws->f, &code);
      if (h == 0) break;
      if (h < 0) {
        fail(ws, code, "bad frame header");
        break;
      }
      used += (size_t)h;
      ws->frame_got = 0;
      ws->in_frame = true;
      if (check_frame(ws) != 0) break;
      if (ws->f.payload_len == 0) {
        ws->in_frame = false;
        if (ws->f.opcode >= TERN__WS_OP_CLOSE) on_control(ws);
        else on_data(ws, (uint8_t *)"", 0, true, false);
        continue;
      }
    }
    used += read_payload(ws, p + used, len - used);
  }
  if (ws->state == WS_FAILED) used = len; /* drop the rest */
  if (!ws->closed) tern_conn_consume(ws->c, used);
}

/* ---- connection events --------------------------------------------- */

static void ws_free(tern_ws *ws) {
  tern_http_server *s = ws->srv;
  if (s) {
    if (ws->prev) ws->prev->next = ws->next;
    else s->ws_list = ws->next;
    if (ws->next) ws->next->prev = ws->prev;
    s->nws--;
  }
  tern_buf_free(&ws->msg);
  free(ws->client_head);
  free(ws);
}

static void on_closed(tern_ws *ws) {
  tern_ws_msg m = {.close_code = ws->got_close ? ws->close_code
                                               : TERN__WS_CLOSE_ABNORMAL};
  if (ws->got_close && ws->close_reason_len) { /* ws.h: data = reason */
    m.data = ws->close_reason;
    m.len = ws->close_reason_len;
  }
  deliver(ws, TERN_WS_CLOSED, &m);
  mx_closed(ws); /* established ones only */
  ws->closed = true;
  ws_free(ws);
}

/* Keepalive: a Ping after ping_ms without input; no Pong within
 * pong_timeout_ms drops the connection (the peer is gone). */
static void on_poll(tern_ws *ws) {
  uint64_t now = now_ms(ws);
  const tern_ws_protocol *p = ws->proto;
  uint32_t limit = p->pong_timeout_ms ? p->pong_timeout_ms : p->ping_ms;
  if (ws->ping_outstanding) {
    if (now - ws->ping_at >= limit) tern_abort(ws->c);
    return;
  }
  if (ws->sent_close) { /* 5.5.1: no Ping after our Close; the peer's Close
                           gets as long as a Pong would */
    if (now - ws->close_at >= limit) tern_abort(ws->c);
    return;
  }
  if (ws->state == WS_OPEN && now - ws->last_rx >= p->ping_ms &&
      send_frame(ws, TERN__WS_OP_PING, "tern", 4) == TERN_OK) {
    ws->ping_outstanding = true;
    ws->ping_at = now;
  }
}

static void client_on_handshake(tern_ws *ws);

static void ws_on_conn(tern_conn *c, const tern_event *ev, void *ud) {
  tern_ws *ws = ud;
  (void)c;
  switch (ev->type) {
    case TERN_EV_CONNECT:
      if (ws->client_head)
        tern_send(ws->c, ws->client_head, strlen(ws->client_head));
      break;
    case TERN_EV_READ:
      ws->last_rx = now_ms(ws);
      if (ws->state == WS_HANDSHAKE) client_on_handshake(ws);
      else if (ws->state == WS_OPEN) ws_process(ws);
      else tern_conn_consume(c, ev->read.len);
      break;
    case TERN_EV_WRITABLE:
      if (ws->state == WS_OPEN && !ws->sent_close)
        deliver(ws, TERN_WS_WRITEABLE, NULL);
      break;
    case TERN_EV_POLL:
      on_poll(ws);
      break;
    case TERN_EV_CLOSE:
      on_closed(ws);
      break;
    default:
      break;
  }
}

static tern_ws *ws_new(tern_conn *c, const tern_ws_protocol *p) {
  tern_fi *fi = c ? tern_mgr_fi(tern_conn_mgr(c)) : NULL; /* client: none yet */
  tern_ws *ws = tern_fi_calloc(fi, 1, sizeof(*ws) + p->session_size);
  if (ws == NULL) return NULL;
  ws->c = c;
  ws->proto = p;
  tern_buf_init(&ws->msg, p->max_message ? p->max_message
                                         : WS_DEFAULT_MAX_MESSAGE);
  return ws;
}

/* ---- metrics (the manager's registry, tern_mgr_set_metrics) -------- */

static void mx_attach(tern_ws *ws) {
  tern_metrics *reg = tern_mgr_metrics(tern_conn_mgr(ws->c));
  if (reg == NULL) return;
  static const char msgs[] = "WebSocket data messages.";
  static const char bytes[] = "WebSocket data message payload bytes.";
  ws->mx[MX_MSG_IN] = tern_metrics_counter(reg, "tern_ws_messages_total", msgs, "dir=\"in\"");
  ws->mx[MX_MSG_OUT] = tern_metrics_counter(reg, "tern_ws_messages_total", msgs, "dir=\"out\"");
  ws->mx[MX_BYTES_IN] = tern_metrics_counter(reg, "tern_ws_bytes_total", bytes, "dir=\"in\"");
  ws->mx[MX_BYTES_OUT] = tern_metrics_counter(reg, "tern_ws_bytes_total", bytes, "dir=\"out\"");
}

/* One close, by the peer's code: 1000, 1001, other 1xxx, 3xxx, 4xxx, or
 * none (the connection ended without a Close from the peer). */
static void mx_closed(tern_ws *ws) {
  tern_metrics *reg = ws->mx[0] ? tern_mgr_metrics(tern_conn_mgr(ws->c)) : NULL;
  if (reg == NULL) return;
  char lab[24];
  uint16_t c = ws->close_code;
  if (!ws->got_close || c == TERN__WS_CLOSE_NO_STATUS) snprintf(lab, sizeof lab, "code=\"none\"");
  else if (c == 1000 || c == 1001) snprintf(lab, sizeof lab, "code=\"%u\"", (unsigned)c);
  else snprintf(lab, sizeof lab, "code=\"%uxxx\"", (unsigned)(c / 1000));
  tern_metric_add(tern_metrics_counter(reg, "tern_ws_closes_total",
                                       "WebSocket connections ended, by the peer's close code.",
                                       lab), 1);
}

static void established(tern_ws *ws) {
  ws->state = WS_OPEN;
  mx_attach(ws);
  ws->last_rx = now_ms(ws);
  tern_conn_set_idle_timeout(ws->c, 0); /* pings watch liveness instead */
  if (ws->proto->ping_ms) tern_conn_set_poll(ws->c, ws->proto->ping_ms / 2 + 1);
  deliver(ws, TERN_WS_ESTABLISHED, NULL);
}

/* ---- server handshake (4.2) ---------------------------------------- */

static const tern_ws_protocol *choose_protocol(const ws_route *wr,
                                               tern_str offered) {
  for (size_t i = 0; i < wr->n; i++)
    if (wr->protos[i].name && tern__http_has_token(offered, wr->protos[i].name))
      return &wr->protos[i];
  for (size_t i = 0; i < wr->n; i++)
    if (wr->protos[i].name == NULL) return &wr->protos[i];
  return &wr->protos[0];
}

/* Why a request cannot be upgraded (4.2.1), or NULL if it can. */
static const char *handshake_problem(const tern_http_msg *m, int *status) {
  *status = 400;
  if (!tern_str_eq(m->method, "GET")) return "WebSocket needs GET";
  if (m->version_minor < 1) return "WebSocket needs HTTP/1.1";
  *status = 426;
  if (!tern__http_has_token(tern_http_header_get(m, "Upgrade"), "websocket") ||
      !tern__http_has_token(tern_http_header_get(m, "Connection"), "upgrade"))
    return "upgrade to websocket required";
  tern_str v = tern_http_header_get(m, "Sec-WebSocket-Version");
  if (!tern_str_eq(v, "13")) return "unsupported WebSocket version";
  *status = 400;
  tern_str key = tern_http_header_get(m, "Sec-WebSocket-Key");
  uint8_t raw[18];
  if (key.len != 24 || tern_base64_decode(key.ptr, key.len, raw, sizeof(raw)) != 16)
    return "bad Sec-WebSocket-Key";
  return NULL;
}

static void refuse_upgrade(tern_http_req *r, int status, const char *why) {
  const char *h = status == 426
      ? "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Content-Type: text/plain\r\n"
      : "Content-Type: text/plain\r\n";
  char body[96];
  int n = snprintf(body, sizeof(body), "%s\n", why);
  tern_http_reply(r, status, h, body, (size_t)n);
}

int tern__ws_upgrade(tern_http_req *r, struct ws_route *wr) {
  int status;
  const tern_http_msg *m = &r->msg;
  const char *why = handshake_problem(m, &status);
  if (why != NULL) {
    refuse_upgrade(r, status, why);
    return TERN_EPROTO;
  }
  tern_str offered = tern_http_header_get(m, "Sec-WebSocket-Protocol");
  const tern_ws_protocol *p = choose_protocol(wr, offered);
  /* 4.2.2: name a subprotocol only if the client offered it (the first
   * protocol serves a client that offered none of them, unnamed). */
  const char *agreed =
      p->name && tern__http_has_token(offered, p->name) ? p->name : NULL;
  http_conn *hc = r->hc;
  tern_conn *c = hc->c;
  tern_ws *ws = ws_new(c, p);
  if (ws == NULL) {
    tern_http_reply(r, 503, NULL, NULL, 0);
    return TERN_ENOMEM;
  }
  ws->proto_name = agreed;
  tern_str key = tern_http_header_get(m, "Sec-WebSocket-Key");
  char accept[29], head[256];
  tern__ws_accept_key(key.ptr, key.len, accept);
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                   accept, agreed ? "Sec-WebSocket-Protocol: " : "",
                   agreed ? agreed : "", agreed ? "\r\n" : "");
  tern_http_server *s = hc->srv;
  s->stats.status[1]++;
  if (tern_mgr_metrics(s->mgr)) /* before the views into rx are consumed */
    tern__http_mx_request(s, r->msg.method, 101, hc->head_start);
  tern_conn_consume(c, r->wire_len);
  tern__http_conn_detach(hc); /* the HTTP side lets go of the connection */
  ws->srv = s;
  ws->next = s->ws_list;
  if (s->ws_list) s->ws_list->prev = ws;
  s->ws_list = ws;
  s->nws++;
  tern_conn_set_data(c, ws);
  tern_conn_set_fn(c, ws_on_conn);
  tern_conn_set_rx_max(c, 64 * 1024);
  tern_send(c, head, (size_t)n);
  established(ws);
  if (!ws->closed) ws_process(ws); /* frames sent right behind the request */
  return TERN_OK;
}

static void ws_route_dummy(tern_http_req *r, void *ud) {
  (void)r;
  (void)ud;
}

int tern_ws_route(tern_http_server *s, const char *path,
                  const tern_ws_protocol *protos, size_t n) {
  if (s == NULL || path == NULL || protos == NULL || n == 0) return TERN_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (protos[i].fn == NULL) return TERN_EINVAL;
  ws_route *wr = calloc(1, sizeof(*wr));
  if (wr == NULL) return TERN_ENOMEM;
  wr->protos = calloc(n, sizeof(*protos));
  if (wr->protos == NULL) {
    free(wr);
    return TERN_ENOMEM;
  }
  memcpy(wr->protos, protos, n * sizeof(*protos));
  wr->n = n;
  int rc = tern__http_route_add(s, "GET", path, ws_route_dummy, NULL, wr);
  if (rc != TERN_OK) tern__ws_route_free(wr);
  return rc;
}

void tern__ws_route_free(struct ws_route *wr) {
  free(wr->protos);
  free(wr);
}

/* Server going away: its sockets are aborted; each still gets CLOSED. */
void tern__ws_server_free(tern_http_server *s) {
  while (s->ws_list) {
    tern_ws *ws = s->ws_list;
    tern_conn *c = ws->c;
    on_closed(ws); /* unlinks and frees */
    tern_conn_set_fn(c, NULL);
    tern_abort(c);
  }
}

/* ---- client handshake (4.1) ---------------------------------------- */

static void client_fail(tern_ws *ws, const char *why) {
  tern_log(TERN_LOG_INFO, "ws", "handshake failed: %s", why);
  ws->state = WS_FAILED;
  tern_abort(ws->c);
}

static const char *check_response(tern_ws *ws, const tern_http_msg *m) {
  if (m->status != 101) return "status is not 101";
  if (!tern__http_has_token(tern_http_header_get(m, "Upgrade"), "websocket"))
    return "no Upgrade: websocket";
  if (!tern__http_has_token(tern_http_header_get(m, "Connection"), "upgrade"))
    return "no Connection: upgrade";
  if (!tern_str_eq(tern_http_header_get(m, "Sec-WebSocket-Accept"), ws->accept))
    return "wrong Sec-WebSocket-Accept";
  tern_str proto = tern_http_header_get(m, "Sec-WebSocket-Protocol");
  if (proto.len && (ws->proto->name == NULL || !tern_str_eq(proto, ws->proto->name)))
    return "server chose a protocol we did not offer";
  ws->proto_name = proto.len ? ws->proto->name : NULL;
  return NULL;
}

static void client_on_handshake(tern_ws *ws) {
  size_t len;
  const uint8_t *p = tern_conn_rx(ws->c, &len);
  tern__http_parser hp;
  tern_http_header hdrs[32];
  tern_http_msg m;
  tern__http_parser_init(&hp, TERN__HTTP_RESPONSE, 8192, 16384, 32);
  long rc = tern__http_parse(&hp, p, len, &m, hdrs, 32);
  if (rc == 0) return; /* head not complete: wait (parsing again is cheap) */
  const char *why = rc < 0 ? "bad response" : check_response(ws, &m);
  if (why) {
    client_fail(ws, why);
    return;
  }
  tern_conn_consume(ws->c, (size_t)rc);
  free(ws->client_head);
  ws->client_head = NULL;
  established(ws);
  if (!ws->closed) ws_process(ws);
}

static int build_client_request(tern_ws *ws, const tern_url *u) {
  uint8_t raw[16];
  char key[25];
  if (tern_random(raw, sizeof(raw)) != TERN_OK) return TERN_EIO;
  tern_base64_encode(raw, sizeof(raw), key, sizeof(key));
  tern__ws_accept_key(key, 24, ws->accept);
  const char *name = ws->proto->name;
  size_t cap = 256 + u->path.len + u->query.len + u->host.len + (name ? strlen(name) : 0);
  ws->client_head = malloc(cap);
  if (ws->client_head == NULL) return TERN_ENOMEM;
  bool v6 = memchr(u->host.ptr, ':', u->host.len) != NULL;
  snprintf(ws->client_head, cap,
           "GET %.*s%s%.*s HTTP/1.1\r\nHost: %s%.*s%s:%u\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
           u->path.len ? (int)u->path.len : 1, u->path.len ? u->path.ptr : "/",
           u->query.len ? "?" : "", (int)u->query.len, u->query.ptr,
           v6 ? "[" : "", (int)u->host.len, u->host.ptr, v6 ? "]" : "", u->port,
           key, name ? "Sec-WebSocket-Protocol: " : "", name ? name : "",
           name ? "\r\n" : "");
  return TERN_OK;
}

int tern_ws_connect(tern_mgr *m, const char *url, const tern_ws_protocol *proto,
                    tern_ws **out) {
  tern_url u;
  if (m == NULL || url == NULL || proto == NULL || proto->fn == NULL)
    return TERN_EINVAL;
  int rc = tern_url_parse(url, strlen(url), &u);
  if (rc != TERN_OK) return rc;
  if (u.tls) return TERN_ENOTSUP;
  if (!tern_str_eq(u.scheme, "ws")) return TERN_EURL;
  tern_ws *ws = ws_new(NULL, proto);
  if (ws == NULL) return TERN_ENOMEM;
  ws->own = *proto;
  ws->proto = &ws->own;
  ws->client = true;
  rc = build_client_request(ws, &u);
  char target[300];
  bool v6 = memchr(u.host.ptr, ':', u.host.len) != NULL;
  snprintf(target, sizeof(target), "tcp://%s%.*s%s:%u", v6 ? "[" : "",
           (int)u.host.len, u.host.ptr, v6 ? "]" : "", u.port);
  if (rc == TERN_OK) rc = tern_connect(m, target, ws_on_conn, ws, &ws->c);
  if (rc != TERN_OK) {
    ws_free(ws);
    return rc;
  }
  /* A server that accepts and never answers the upgrade: give up. */
  tern_conn_set_idle_timeout(ws->c, WS_HANDSHAKE_MS);
  if (out) *out = ws;
  return TERN_OK;
}
