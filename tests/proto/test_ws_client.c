/* tests/proto/test_ws_client.c: the tern WebSocket client (tern_ws_connect)
 * against the tern server (echo routes of ws_test.h) and against a raw
 * server made with tern_listen that speaks the handshake itself and then
 * sends whatever the test wants (masked frames, a wrong accept key, frames
 * right behind the 101, silence).
 *
 * Checked: ESTABLISHED then echoes of text and binary of many sizes, the
 * closing handshake started by either side (codes and reasons both ways),
 * handshake failures (plain HTTP route, 404, refused port, wrong accept,
 * unoffered subprotocol) giving CLOSED 1006 exactly once and no
 * ESTABLISHED, a masked frame from the server failing the client with
 * 1002, keepalive, subprotocols and argument errors. Every client
 * connection's callbacks are checked by the ws_rec recorder (session
 * zero-filled and stable, nothing after CLOSED, CLOSED exactly once).
 */
#include "ws_test.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static ws_srv H;
static ws_rec C; /* the tern clients' callbacks */

static int setup(void **state) {
  (void)state;
  ws_srv_start(&H);
  ws_rec_init(&C, false);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (H.s) tern_http_server_free(H.s);
  H.s = NULL;
  tern_mgr_free(H.m);
  H.m = NULL;
  ws_rec_check(&H.rec);
  ws_rec_check(&C);
  ws_rec_free(&H.rec);
  ws_rec_free(&C);
  return 0;
}

static tern_ws_protocol client_proto(void) {
  tern_ws_protocol p = {.fn = ws_rec_fn, .ud = &C, .session_size = sizeof(ws_sess)};
  return p;
}

static tern_ws *connect_to(const char *path, const tern_ws_protocol *p) {
  char url[128];
  tern_ws *ws = NULL;
  snprintf(url, sizeof(url), "%s%s", H.url, path);
  assert_int_equal(tern_ws_connect(H.m, url, p, &ws), TERN_OK);
  assert_non_null(ws);
  return ws;
}

/* Connect and wait for ESTABLISHED; returns the client's entry. */
static ws_ent *open_client(const char *path, const tern_ws_protocol *p) {
  int want = C.established + 1;
  tern_ws *ws = connect_to(path, p);
  if (!ws_wait_count(H.m, &C.established, want, WS_WAIT))
    fail_msg("client to %s: no ESTABLISHED (closed %d)", path, C.closed);
  ws_ent *e = &C.ents[C.n - 1];
  assert_ptr_equal(e->ws, ws);
  return e;
}

static void ignore_fn(tern_conn *c, const tern_event *ev, void *ud) {
  (void)c, (void)ev, (void)ud;
}

/* ---- echo ------------------------------------------------------------ */

static void test_client_echo_sizes(void **state) {
  (void)state;
  static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 300000,
                                 1u << 20};
  tern_ws_protocol p = client_proto();
  ws_ent *e = open_client("/echo", &p);
  assert_string_equal(tern_ws_protocol_name(e->ws), "");
  assert_int_equal(tern_ws_count(H.s), 1);
  int got = 0;
  for (int bin = 0; bin < 2; bin++) {
    for (size_t i = 0; i < N(sizes); i++) {
      uint8_t *d = ws_pattern(sizes[i], !bin, (unsigned)(i * 2 + bin));
      assert_int_equal(tern_ws_send(e->ws, d, sizes[i],
                                    bin ? TERN_WS_BINARY : TERN_WS_TEXT),
                       TERN_OK);
      got++;
      if (!ws_wait_count(H.m, &e->receives, got, WS_WAIT_LONG))
        fail_msg("no echo of %zu bytes", sizes[i]);
      assert_int_equal(e->last_len, sizes[i]);
      assert_int_equal(e->last_binary, bin);
      if (sizes[i]) assert_memory_equal(e->last, d, sizes[i]);
      free(d);
    }
  }
  /* The server got them all (so they were masked, 5.1). */
  assert_int_equal(H.rec.ents[0].receives, got);
  /* Client-side refusals. */
  assert_int_equal(tern_ws_send(e->ws, "\xed\xa0\x80", 3, TERN_WS_TEXT), TERN_EINVAL);
  uint8_t big[126] = {0};
  assert_int_equal(tern_ws_send(e->ws, big, 126, TERN_WS_PING), TERN_EMSGSIZE);
  assert_int_equal(tern_ws_close(e->ws, 1006, NULL), TERN_EINVAL);
  /* A ping from the client: the server's pong reaches PONG. */
  assert_int_equal(tern_ws_send(e->ws, "cping", 5, TERN_WS_PING), TERN_OK);
  assert_true(ws_wait_count(H.m, &e->pongs, 1, WS_WAIT));
  assert_int_equal(e->pong_len, 5);
  assert_memory_equal(e->pong_data, "cping", 5);
  /* The client closes. */
  assert_int_equal(tern_ws_close(e->ws, 1000, "done"), TERN_OK);
  assert_int_equal(tern_ws_send(e->ws, "x", 1, TERN_WS_TEXT), TERN_ECLOSED);
  assert_int_equal(tern_ws_close(e->ws, 1000, "again"), TERN_ECLOSED);
  assert_true(ws_wait_count(H.m, &C.closed, 1, WS_WAIT));
  assert_true(ws_wait_count(H.m, &H.rec.closed, 1, WS_WAIT));
  assert_int_equal(e->close_code, 1000);          /* the server's echo */
  assert_int_equal(H.rec.ents[0].close_code, 1000);
  assert_int_equal(H.rec.ents[0].close_reason_len, 4);
  assert_memory_equal(H.rec.ents[0].close_reason, "done", 4);
  assert_int_equal(tern_ws_count(H.s), 0);
}

/* Many messages sent in one go come back in order. */
typedef struct seq {
  int next, bad;
} seq;

static bool seq_hook(ws_rec *rec, ws_ent *e, tern_ws *ws, tern_ws_reason reason,
                     const tern_ws_msg *m) {
  seq *s = rec->arg;
  if (reason != TERN_WS_RECEIVE) return false;
  size_t n = (size_t)(s->next * 37 % 5000);
  uint8_t *want = ws_pattern(n, false, (unsigned)s->next);
  if (m->len != n || !m->binary || (n && memcmp(m->data, want, n))) s->bad++;
  free(want);
  s->next++;
  return true;
}

static void test_client_pipelined(void **state) {
  (void)state;
  seq s = {0, 0};
  C.hook = seq_hook;
  C.arg = &s;
  tern_ws_protocol p = client_proto();
  ws_ent *e = open_client("/echo", &p);
  for (int i = 0; i < 300; i++) {
    size_t n = (size_t)(i * 37 % 5000);
    uint8_t *d = ws_pattern(n, false, (unsigned)i);
    assert_int_equal(tern_ws_send(e->ws, d, n, TERN_WS_BINARY), TERN_OK);
    free(d);
  }
  assert_true(ws_wait_count(H.m, &s.next, 300, WS_WAIT_LONG));
  assert_int_equal(s.bad, 0);
  assert_int_equal(tern_ws_close(e->ws, 1001, NULL), TERN_OK);
  assert_true(ws_wait_count(H.m, &C.closed, 1, WS_WAIT));
  assert_int_equal(e->close_code, 1001);
}

/* ---- the server closes ----------------------------------------------- */

static bool srv_bye_hook(ws_rec *rec, ws_ent *e, tern_ws *ws,
                         tern_ws_reason reason, const tern_ws_msg *m) {
  if (reason == TERN_WS_RECEIVE && m->len == 3 && !memcmp(m->data, "bye", 3)) {
    assert_int_equal(tern_ws_close(ws, 4001, "server bye"), TERN_OK);
    return true;
  }
  return false;
}

static void test_client_server_closes(void **state) {
  (void)state;
  H.rec.hook = srv_bye_hook;
  tern_ws_protocol p = client_proto();
  ws_ent *e = open_client("/echo", &p);
  assert_int_equal(tern_ws_send(e->ws, "bye", 3, TERN_WS_TEXT), TERN_OK);
  assert_true(ws_wait_count(H.m, &C.closed, 1, WS_WAIT));
  assert_true(ws_wait_count(H.m, &H.rec.closed, 1, WS_WAIT));
  assert_int_equal(e->close_code, 4001);
  assert_int_equal(e->close_reason_len, 10);
  assert_memory_equal(e->close_reason, "server bye", 10);
  assert_int_equal(H.rec.ents[0].close_code, 4001); /* the client's echo */
  assert_int_equal(e->receives, 0);
}

/* The server goes away (freed): the client sees CLOSED 1006. */
static void test_client_server_freed(void **state) {
  (void)state;
  tern_ws_protocol p = client_proto();
  ws_ent *e = open_client("/echo", &p);
  tern_http_server_free(H.s);
  H.s = NULL;
  assert_int_equal(H.rec.closed, 1);
  assert_true(ws_wait_count(H.m, &C.closed, 1, WS_WAIT));
  assert_int_equal(e->close_code, 1006);
}

/* ---- handshake failures ---------------------------------------------- */

static void expect_handshake_failure(const char *url) {
  tern_ws_protocol p = client_proto();
  tern_ws *ws = NULL;
  int before = C.closed;
  assert_int_equal(tern_ws_connect(H.m, url, &p, &ws), TERN_OK);
  if (!ws_wait_count(H.m, &C.closed, before + 1, WS_WAIT))
    fail_msg("%s: no CLOSED", url);
  ws_run_for(H.m, 50); /* nothing more may come */
  ws_ent *e = &C.ents[C.n - 1];
  assert_ptr_equal(e->ws, ws);
  assert_true(e->no_handshake);
  assert_int_equal(e->established, 0);
  assert_int_equal(e->closed, 1);
  assert_int_equal(e->close_code, 1006);
  assert_int_equal(C.closed, before + 1);
}

static void test_client_handshake_failures(void **state) {
  (void)state;
  char url[128];
  snprintf(url, sizeof(url), "%s/plain", H.url); /* 200, not 101 */
  expect_handshake_failure(url);
  snprintf(url, sizeof(url), "%s/nothing-here", H.url); /* 404 */
  expect_handshake_failure(url);
  /* a refused port: a listener that was closed */
  tern_conn *l;
  assert_int_equal(tern_listen(H.m, "tcp://127.0.0.1:0", ignore_fn, NULL, &l), TERN_OK);
  snprintf(url, sizeof(url), "ws://127.0.0.1:%u/echo", tern_conn_local(l)->port);
  tern_close(l);
  ws_run_for(H.m, 50);
  expect_handshake_failure(url);
  assert_int_equal(C.established, 0);
}

static void test_client_connect_errors(void **state) {
  (void)state;
  tern_ws_protocol p = client_proto();
  tern_ws *ws = NULL;
  assert_int_equal(tern_ws_connect(NULL, "ws://127.0.0.1:1/", &p, &ws), TERN_EINVAL);
  assert_int_equal(tern_ws_connect(H.m, NULL, &p, &ws), TERN_EINVAL);
  assert_int_equal(tern_ws_connect(H.m, "ws://127.0.0.1:1/", NULL, &ws), TERN_EINVAL);
  tern_ws_protocol nofn = {0};
  assert_int_equal(tern_ws_connect(H.m, "ws://127.0.0.1:1/", &nofn, &ws), TERN_EINVAL);
  assert_int_equal(tern_ws_connect(H.m, "wss://127.0.0.1:1/", &p, &ws), TERN_ENOTSUP);
  assert_int_equal(tern_ws_connect(H.m, "http://127.0.0.1:1/", &p, &ws), TERN_EURL);
  assert_int_equal(tern_ws_connect(H.m, "ws://bad host/", &p, &ws), TERN_EURL);
  ws_run_for(H.m, 50);
  assert_int_equal(C.n, 0); /* no callback for a synchronous failure */
}

/* ---- subprotocols ----------------------------------------------------- */

static void test_client_subprotocol(void **state) {
  (void)state;
  tern_ws_protocol p = client_proto();
  p.name = "tern-y";
  ws_ent *e = open_client("/proto", &p);
  assert_string_equal(tern_ws_protocol_name(e->ws), "tern-y");
  assert_string_equal(H.rec.ents[0].proto, "tern-y");
  assert_int_equal(tern_ws_send(e->ws, "sub", 3, TERN_WS_TEXT), TERN_OK);
  assert_true(ws_wait_count(H.m, &e->receives, 1, WS_WAIT));
  /* A protocol the server does not have: no subprotocol agreed. */
  p.name = "nope";
  e = open_client("/proto", &p);
  assert_string_equal(tern_ws_protocol_name(e->ws), "");
  assert_string_equal(H.rec.ents[1].proto, "");
  for (int i = 0; i < C.n; i++) tern_ws_close(C.ents[i].ws, 1000, NULL);
  assert_true(ws_wait_count(H.m, &C.closed, 2, WS_WAIT));
}

/* ---- a raw server ----------------------------------------------------- */

enum {
  RS_NORMAL,     /* 101, then frames as asked */
  RS_BAD_ACCEPT, /* 101 with a wrong Sec-WebSocket-Accept */
  RS_BAD_PROTO,  /* 101 naming a subprotocol nobody offered */
};

typedef struct rsrv {
  tern_conn *c;
  int mode;
  raw_ws in;              /* request bytes, then the client's frames */
  bool upgraded;
  int conn_closes;
  const uint8_t *after;   /* bytes sent in the same write as the 101 */
  size_t after_len;
  /* frames from the client */
  int frames, unmasked, pings, closes;
  int close_code;
  int last_op;
} rsrv;

static void rsrv_frames(rsrv *s) {
  raw_frame_in f;
  while (raw_parse(&s->in, &f)) {
    s->frames++;
    if (!f.masked) s->unmasked++;
    s->last_op = f.op;
    if (f.op == OP_PING) s->pings++;
    if (f.op == OP_CLOSE) {
      s->closes++;
      s->close_code = f.len >= 2 ? f.data[0] << 8 | f.data[1] : -1;
    }
    raw_frame_free(&f);
  }
}

static void rsrv_handshake(rsrv *s, tern_conn *c) {
  raw_ws *b = &s->in;
  const char *p = (const char *)b->in + b->in_off;
  size_t n = b->in_len - b->in_off;
  const char *end = memmem(p, n, "\r\n\r\n", 4);
  if (end == NULL) return;
  size_t head = (size_t)(end + 4 - p);
  char req[4096];
  assert_true(head < sizeof(req));
  memcpy(req, p, head);
  req[head] = 0;
  b->in_off += head;
  assert_non_null(strstr(req, "GET /raw HTTP/1.1\r\n"));
  assert_non_null(strcasestr(req, "\r\nUpgrade: websocket\r\n"));
  assert_non_null(strcasestr(req, "\r\nSec-WebSocket-Version: 13\r\n"));
  const char *k = strcasestr(req, "\r\nSec-WebSocket-Key: ");
  assert_non_null(k);
  k += 21;
  size_t klen = strcspn(k, "\r");
  assert_int_equal(klen, 24);
  uint8_t raw[18];
  assert_int_equal(tern_base64_decode(k, klen, raw, sizeof(raw)), 16);
  /* 4.2.2: base64(SHA-1(key + GUID)) */
  tern_sha1 sh;
  uint8_t dig[20];
  char accept[32];
  tern_sha1_init(&sh);
  tern_sha1_update(&sh, k, klen);
  tern_sha1_update(&sh, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
  tern_sha1_final(&sh, dig);
  assert_int_equal(tern_base64_encode(dig, 20, accept, sizeof(accept)), 28);
  if (s->mode == RS_BAD_ACCEPT) accept[3] = accept[3] == 'A' ? 'B' : 'A';
  char resp[512];
  int m = snprintf(resp, sizeof(resp),
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                   accept,
                   s->mode == RS_BAD_PROTO ? "Sec-WebSocket-Protocol: other\r\n" : "");
  /* the 101 and the first frames in one write: the client must handle
   * frames that arrive with the response */
  uint8_t out[1024];
  assert_true((size_t)m + s->after_len <= sizeof(out));
  memcpy(out, resp, (size_t)m);
  if (s->after_len) memcpy(out + m, s->after, s->after_len);
  assert_int_equal(tern_send(c, out, (size_t)m + s->after_len), TERN_OK);
  s->upgraded = true;
}

static void rsrv_fn(tern_conn *c, const tern_event *ev, void *ud) {
  rsrv *s = ud;
  if (tern_conn_is_listener(c)) return;
  switch (ev->type) {
    case TERN_EV_ACCEPT:
      assert_null(s->c);
      s->c = c;
      break;
    case TERN_EV_READ:
      raw_feed(&s->in, ev->read.data, ev->read.len);
      tern_conn_consume(c, ev->read.len);
      if (!s->upgraded) rsrv_handshake(s, c);
      if (s->upgraded) rsrv_frames(s);
      break;
    case TERN_EV_CLOSE:
      s->conn_closes++;
      s->c = NULL;
      break;
    default:
      break;
  }
}

static uint16_t rsrv_start(rsrv *s, int mode) {
  memset(s, 0, sizeof(*s));
  s->in.fd = -1;
  s->mode = mode;
  tern_conn *l;
  assert_int_equal(tern_listen(H.m, "tcp://127.0.0.1:0", rsrv_fn, s, &l), TERN_OK);
  return tern_conn_local(l)->port;
}

static void rsrv_free(rsrv *s) { raw_close(&s->in); }

static tern_ws *rsrv_connect(uint16_t port, const tern_ws_protocol *p) {
  char url[128];
  tern_ws *ws = NULL;
  snprintf(url, sizeof(url), "ws://127.0.0.1:%u/raw", port);
  assert_int_equal(tern_ws_connect(H.m, url, p, &ws), TERN_OK);
  return ws;
}

static int cond_rs_closed(void *arg) {
  rsrv *s = arg;
  return s->conn_closes > 0;
}

/* 5.1: a masked frame from the server fails the client with 1002. */
static void test_client_masked_server_frame(void **state) {
  (void)state;
  uint8_t fr[64], key[4] = {0x11, 0x22, 0x33, 0x44};
  rsrv s;
  uint16_t port = rsrv_start(&s, RS_NORMAL);
  /* first an ordinary unmasked frame, then a masked one */
  size_t n = ws_build_frame(fr, FIN | OP_TEXT, false, key, "fine", 4);
  n += ws_build_frame(fr + n, FIN | OP_TEXT, true, key, "masked!", 7);
  s.after = fr;
  s.after_len = n;
  tern_ws_protocol p = client_proto();
  tern_ws *ws = rsrv_connect(port, &p);
  assert_true(ws_wait_count(H.m, &C.closed, 1, WS_WAIT));
  assert_true(ws_run_until(H.m, cond_rs_closed, &s, WS_WAIT));
  ws_ent *e = &C.ents[0];
  assert_ptr_equal(e->ws, ws);
  assert_int_equal(e->established, 1);
  assert_int_equal(e->receives, 1); /* "fine", not the masked one */
  assert_string_equal((char *)e->last, "fine");
  assert_int_equal(e->close_code, 1006); /* failed: no Close received */
  /* the client said why, masked as clients must */
  assert_int_equal(s.closes, 1);
  assert_int_equal(s.close_code, 1002);
  assert_int_equal(s.unmasked, 0);
  assert_int_equal(s.last_op, OP_CLOSE); /* nothing after its Close */
  rsrv_free(&s);
}

/* The server's frames come right behind the 101; the server then closes:
 * the client echoes the Close (masked) with the server's code. */
static void test_client_frames_with_101_and_close(void **state) {
  (void)state;
  uint8_t fr[128];
  rsrv s;
  uint16_t port = rsrv_start(&s, RS_NORMAL);
  size_t n = ws_build_frame(fr, OP_TEXT, false, NULL, "hel", 3);
  n += ws_build_frame(fr + n, FIN | OP_PING, false, NULL, "p", 1);
  n += ws_build_frame(fr + n, FIN | OP_CONT, false, NULL, "lo", 2);
  n += ws_build_frame(fr + n, FIN | OP_CLOSE, false, NULL, "\x0b\xb8" "end", 5); /* 3000 */
  s.after = fr;
  s.after_len = n;
  tern_ws_protocol p = client_proto();
  rsrv_connect(port, &p);
  assert_true(ws_wait_count(H.m, &C.closed, 1, WS_WAIT));
  assert_true(ws_run_until(H.m, cond_rs_closed, &s, WS_WAIT));
  ws_ent *e = &C.ents[0];
  assert_int_equal(e->receives, 1);
  assert_string_equal((char *)e->last, "hello");
  assert_int_equal(e->close_code, 3000);
  assert_int_equal(e->close_reason_len, 3);
  assert_memory_equal(e->close_reason, "end", 3);
  assert_int_equal(s.pings, 0);
  assert_int_equal(s.frames, 2); /* the Pong and the Close */
  assert_int_equal(s.closes, 1);
  assert_int_equal(s.close_code, 3000);
  assert_int_equal(s.unmasked, 0);
  rsrv_free(&s);
}

static void test_client_bad_101(void **state) {
  (void)state;
  for (int mode = RS_BAD_ACCEPT; mode <= RS_BAD_PROTO; mode++) {
    rsrv s;
    uint16_t port = rsrv_start(&s, mode);
    tern_ws_protocol p = client_proto();
    int before = C.closed;
    rsrv_connect(port, &p);
    assert_true(ws_wait_count(H.m, &C.closed, before + 1, WS_WAIT));
    assert_true(ws_run_until(H.m, cond_rs_closed, &s, WS_WAIT));
    ws_ent *e = &C.ents[C.n - 1];
    assert_true(e->no_handshake);
    assert_int_equal(e->close_code, 1006);
    assert_int_equal(s.frames, 0);
    rsrv_free(&s);
  }
  assert_int_equal(C.established, 0);
}

/* Keepalive on the client: a server that never answers pings. */
static void test_client_keepalive(void **state) {
  (void)state;
  rsrv s;
  uint16_t port = rsrv_start(&s, RS_NORMAL);
  tern_ws_protocol p = client_proto();
  p.ping_ms = 200;
  p.pong_timeout_ms = 200;
  rsrv_connect(port, &p);
  assert_true(ws_wait_count(H.m, &C.established, 1, WS_WAIT));
  assert_true(ws_wait_count(H.m, &C.closed, 1, WS_WAIT));
  assert_true(ws_run_until(H.m, cond_rs_closed, &s, WS_WAIT));
  assert_int_equal(C.ents[0].close_code, 1006);
  assert_true(s.pings >= 1);
  assert_int_equal(s.unmasked, 0);
  rsrv_free(&s);
}

/* tern_ws_close before the handshake is done: the connection ends with
 * CLOSED exactly once, and no frame goes out ahead of the request. */
static void test_client_close_during_handshake(void **state) {
  (void)state;
  tern_ws_protocol p = client_proto();
  tern_ws *ws = connect_to("/echo", &p);
  tern_ws_close(ws, 1000, NULL);
  assert_true(ws_wait_count(H.m, &C.closed, 1, WS_WAIT));
  ws_run_for(H.m, 100);
  assert_int_equal(C.closed, 1);
  tern_http_stats st;
  tern_http_server_stats(H.s, &st);
  assert_int_equal(st.status[4], 0); /* the server saw no garbage */
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
      T(test_client_echo_sizes),
      T(test_client_pipelined),
      T(test_client_server_closes),
      T(test_client_server_freed),
      T(test_client_handshake_failures),
      T(test_client_connect_errors),
      T(test_client_subprotocol),
      T(test_client_masked_server_frame),
      T(test_client_frames_with_101_and_close),
      T(test_client_bad_101),
      T(test_client_keepalive),
      T(test_client_close_during_handshake),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
