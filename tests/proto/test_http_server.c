/* test_http_server.c: the HTTP/1.1 server (tern/http.h) over loopback,
 * driven by a raw-socket client that sends exact bytes (http_test.h).
 *
 * Keep-alive (1.1, 1.0 with and without keep-alive, the idle timeout),
 * pipelining (one send, byte by byte), chunked request bodies with
 * extensions and trailers, streamed responses (chunked wire format, known
 * length, close-delimited for 1.0, HEAD, 16 MiB paced by
 * tern_http_on_writable), Expect: 100-continue, HEAD, absolute-form
 * targets, routing (exact, prefix, 404, 405 with Allow), one answer per
 * request, every refusal (400/413/414/417/431/501/505), each followed by
 * a good request on a new connection, limits set at creation and at run
 * time (each just below and just above its bound), the head timeout
 * against a slow client, clients that half-close, async replies
 * (pipelined requests wait behind them; the request's fields are copied;
 * a client gone before the answer, by FIN or by reset), heads whose body
 * comes later while other connections parse, the memory an idle
 * keep-alive connection holds, the listener's connection cap, and freeing
 * a busy server. ASan/LSan check that nothing leaks on any of these paths.
 */
#include "http_test.h"

/* ---- what the handlers saw ------------------------------------------ */

typedef struct srv_seen {
  int hello_calls, echo_calls, headers_calls;
  bool last_is_head;
  uint64_t last_conn_id;
  int stream_rc[8];
  int nstream_rc;
} srv_seen;

static srv_seen g;

static void note_rc(int rc) {
  if (g.nstream_rc < 8) g.stream_rc[g.nstream_rc++] = rc;
}

static void h_hello(tern_http_req *r, void *ud) {
  (void)ud;
  g.hello_calls++;
  g.last_is_head = tern_http_req_is_head(r);
  assert_non_null(tern_http_req_conn(r));
  g.last_conn_id = tern_conn_id(tern_http_req_conn(r));
  assert_int_equal(tern_http_reply(r, 200, "Content-Type: text/plain\r\n",
                                   "hello", 5),
                   TERN_OK);
}

/* Answers twice: the second answer must be refused, not sent in the
 * place of the next request's. */
static int g_twice_rc[4];
static void h_twice(tern_http_req *r, void *ud) {
  (void)ud;
  g_twice_rc[0] = tern_http_reply(r, 200, NULL, "first", 5);
  g_twice_rc[1] = tern_http_reply(r, 200, NULL, "second", 6);
  g_twice_rc[2] = tern_http_begin(r, 200, NULL, -1);
  g_twice_rc[3] = tern_http_end(r);
}

static void h_hello_post(tern_http_req *r, void *ud) {
  (void)ud;
  tern_http_reply(r, 200, NULL, "posted", 6);
}

/* Echo the body; say how it was framed. */
static void h_echo(tern_http_req *r, void *ud) {
  (void)ud;
  const tern_http_msg *m = tern_http_req_msg(r);
  tern_str b = tern_http_req_body(r);
  char hdr[512];
  g.echo_calls++;
  g.last_conn_id = tern_conn_id(tern_http_req_conn(r));
  snprintf(hdr, sizeof(hdr), "X-Method: %.*s\r\nX-Framing: %s\r\n",
           (int)m->method.len, m->method.ptr,
           m->chunked ? "chunked" : m->content_length >= 0 ? "length" : "none");
  assert_int_equal(tern_http_reply(r, 200, hdr, b.ptr, b.len), TERN_OK);
}

/* "METHOD target path=P query=Q auth=A body=B" */
static void h_path(tern_http_req *r, void *ud) {
  (void)ud;
  const tern_http_msg *m = tern_http_req_msg(r);
  tern_str b = tern_http_req_body(r);
  char out[1024];
  int n = snprintf(out, sizeof(out), "%.*s %.*s path=%.*s query=%.*s auth=%.*s body=%.*s",
                   (int)m->method.len, m->method.ptr, (int)m->target.len,
                   m->target.ptr, (int)m->path.len, m->path.ptr,
                   (int)m->query.len, m->query.ptr, (int)m->authority.len,
                   m->authority.ptr, (int)b.len, b.ptr);
  assert_true(n > 0 && (size_t)n < sizeof(out));
  tern_http_reply(r, 200, NULL, out, (size_t)n);
}

/* "n=<headers> last=<X-Last>" */
static void h_headers(tern_http_req *r, void *ud) {
  (void)ud;
  const tern_http_msg *m = tern_http_req_msg(r);
  tern_str last = tern_http_header_get(m, "x-last");
  char out[256];
  g.headers_calls++;
  int n = snprintf(out, sizeof(out), "n=%zu last=%.*s", m->num_headers,
                   (int)last.len, last.ptr ? last.ptr : "");
  tern_http_reply(r, 200, NULL, out, (size_t)n);
}

/* Unknown length: chunked on 1.1, close-delimited on 1.0. An empty write
 * must not end the chunked body early. */
static void h_stream(tern_http_req *r, void *ud) {
  (void)ud;
  note_rc(tern_http_begin(r, 200, "Content-Type: text/plain\r\n", -1));
  note_rc(tern_http_write(r, "hello", 5));
  note_rc(tern_http_write(r, "", 0));
  note_rc(tern_http_write(r, " world", 6));
  note_rc(tern_http_end(r));
}

static void h_stream_len(tern_http_req *r, void *ud) {
  (void)ud;
  note_rc(tern_http_begin(r, 200, NULL, 11));
  note_rc(tern_http_write(r, "hello", 5));
  note_rc(tern_http_write(r, " world", 6));
  note_rc(tern_http_end(r));
}

/* Declared Content-Length is enforced both ways. */
static int g_cl_rc[6];
static void h_cl_over(tern_http_req *r, void *ud) {
  (void)ud;
  g_cl_rc[0] = tern_http_begin(r, 200, NULL, 5);
  g_cl_rc[1] = tern_http_write(r, "abcdef", 6); /* one too many */
  g_cl_rc[2] = tern_http_write(r, "abcde", 5);
  g_cl_rc[3] = tern_http_write(r, "x", 1);      /* past the end */
  g_cl_rc[4] = tern_http_end(r);
}

static void h_cl_short(tern_http_req *r, void *ud) {
  (void)ud;
  tern_http_begin(r, 200, NULL, 10);
  tern_http_write(r, "abc", 3);
  g_cl_rc[5] = tern_http_end(r);
}

static void h_files(tern_http_req *r, void *ud) {
  (void)ud;
  const tern_http_msg *m = tern_http_req_msg(r);
  char out[256];
  int n = snprintf(out, sizeof(out), "files:%.*s", (int)m->path.len, m->path.ptr);
  tern_http_reply(r, 200, NULL, out, (size_t)n);
}

static void h_special(tern_http_req *r, void *ud) {
  (void)ud;
  tern_http_reply(r, 200, NULL, "special", 7);
}

static void h_any(tern_http_req *r, void *ud) {
  (void)ud;
  const tern_http_msg *m = tern_http_req_msg(r);
  char out[64];
  int n = snprintf(out, sizeof(out), "any:%.*s", (int)m->method.len, m->method.ptr);
  tern_http_reply(r, 200, NULL, out, (size_t)n);
}

/* ---- async replies ---------------------------------------------------- */

typedef struct async_st {
  tern_http_req *held;
  tern_timer *timer;
  bool auto_timer;    /* answer 100 ms after the handler returns */
  bool stream;        /* h_async_stream: begun, one piece written */
  int calls, answered;
  int rc_reply, rc_write, rc_end;
  uint64_t conn_id;
} async_st;

static async_st ga;

/* The timer answers with what the request says, read at answer time. */
static void async_answer(tern_timer *t, void *ud) {
  (void)t;
  (void)ud;
  tern_http_req *r = ga.held;
  assert_non_null(r);
  ga.held = NULL;
  ga.answered++;
  if (ga.stream) {
    ga.rc_write = tern_http_write(r, "part2", 5);
    ga.rc_end = tern_http_end(r);
    return;
  }
  const tern_http_msg *m = tern_http_req_msg(r);
  if (tern_http_req_conn(r) == NULL) { /* the client went away */
    ga.rc_reply = tern_http_reply(r, 200, NULL, "late", 4);
    return;
  }
  tern_str b = tern_http_req_body(r);
  tern_str tag = tern_http_header_get(m, "X-Tag");
  char out[512], sum[64];
  if (b.len > 64) { /* long bodies: their length and a checksum */
    unsigned x = 0;
    for (size_t i = 0; i < b.len; i++) x = x * 31 + (uint8_t)b.ptr[i];
    snprintf(sum, sizeof(sum), "len=%zu sum=%08x", b.len, x);
    b.ptr = sum;
    b.len = strlen(sum);
  }
  int n = snprintf(out, sizeof(out), "%.*s %.*s query=%.*s tag=%.*s host=%.*s hdrs=%zu body=%.*s",
                   (int)m->method.len, m->method.ptr, (int)m->path.len,
                   m->path.ptr, (int)m->query.len, m->query.ptr, (int)tag.len,
                   tag.ptr ? tag.ptr : "", (int)tern_http_header_get(m, "host").len,
                   tern_http_header_get(m, "host").ptr, m->num_headers,
                   (int)b.len, b.ptr);
  ga.rc_reply = tern_http_reply(r, 200, NULL, out, (size_t)n);
}

static void h_async(tern_http_req *r, void *ud) {
  (void)ud;
  assert_null(ga.held); /* one request at a time per connection */
  ga.held = r;
  ga.calls++;
  ga.conn_id = tern_conn_id(tern_http_req_conn(r));
  if (ga.auto_timer) tern_timer_start(ga.timer, 100, 0);
}

static void h_async_stream(tern_http_req *r, void *ud) {
  (void)ud;
  ga.held = r;
  ga.calls++;
  ga.stream = true;
  assert_int_equal(tern_http_begin(r, 200, NULL, -1), TERN_OK);
  assert_int_equal(tern_http_write(r, "part1", 5), TERN_OK);
}

/* ---- a long stream with backpressure ------------------------------------ */

typedef struct big_st {
  size_t sent, total, max_queued;
  int wcalls, ended, write_rc, end_rc;
} big_st;

static big_st gb;
static uint8_t big_chunk[16384]; /* byte i is i & 0xff; 16384 % 256 == 0 */

/* Write while the queue is short, then wait for WRITABLE; a failed write
 * ends the response. */
static void big_more(tern_http_req *r, void *ud) {
  (void)ud;
  gb.wcalls++;
  while (gb.sent < gb.total) {
    size_t q = tern_http_queued(r);
    if (q > gb.max_queued) gb.max_queued = q;
    if (q >= 65536) {
      tern_http_on_writable(r, big_more, NULL);
      return;
    }
    size_t n = gb.total - gb.sent < sizeof(big_chunk) ? gb.total - gb.sent
                                                      : sizeof(big_chunk);
    gb.write_rc = tern_http_write(r, big_chunk, n);
    if (gb.write_rc != TERN_OK) break;
    gb.sent += n;
  }
  tern_http_on_writable(r, NULL, NULL);
  gb.end_rc = tern_http_end(r);
  gb.ended++;
}

static void h_big(tern_http_req *r, void *ud) {
  (void)ud;
  for (size_t i = 0; i < sizeof(big_chunk); i++) big_chunk[i] = (uint8_t)i;
  gb.sent = 0;
  assert_int_equal(tern_http_begin(r, 200, NULL, -1), TERN_OK);
  big_more(r, NULL);
}

/* ---- the server under test ------------------------------------------ */

typedef struct env {
  tern_mgr *m;
  tern_http_server *s;
  uint16_t port;
} env;

static void env_open(env *e, const tern_http_opts *o) {
  assert_int_equal(tern_mgr_new(&e->m, NULL), TERN_OK);
  assert_int_equal(tern_http_server_new(e->m, "tcp://127.0.0.1:0", o, &e->s),
                   TERN_OK);
  e->port = srv_port(e->s);
  tern_http_server *s = e->s;
  assert_int_equal(tern_http_route(s, "GET", "/hello", h_hello, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "POST", "/hello", h_hello_post, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, NULL, "/echo", h_echo, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, NULL, "/p/*", h_path, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/headers", h_headers, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/stream", h_stream, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/stream-len", h_stream_len, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/cl-over", h_cl_over, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/cl-short", h_cl_short, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/files/*", h_files, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/files/special", h_special, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "PUT", "/files/*", h_files, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, NULL, "/any", h_any, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "POST", "/async", h_async, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "PUT", "/async", h_async, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/async-stream", h_async_stream, NULL),
                   TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/big", h_big, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/twice", h_twice, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/", h_path, NULL), TERN_OK);
  /* bad routes are refused */
  assert_int_equal(tern_http_route(s, "GET", "nope", h_hello, NULL), TERN_EINVAL);
  assert_int_equal(tern_http_route(s, "GET", "/x", NULL, NULL), TERN_EINVAL);
}

static void env_close(env *e) {
  if (ga.timer) tern_timer_free(ga.timer);
  ga.timer = NULL;
  tern_http_server_free(e->s);
  tern_mgr_free(e->m);
}

static int setup(void **state) {
  (void)state;
  memset(&g, 0, sizeof(g));
  memset(&ga, 0, sizeof(ga));
  memset(&gb, 0, sizeof(gb));
  return 0;
}

static tern_http_stats stats_of(env *e) {
  tern_http_stats st;
  tern_http_server_stats(e->s, &st);
  return st;
}

#define HELLO "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"

/* Send req on a new connection; wait for n responses. Caller frees. */
static raw *exchange_n(env *e, const void *req, size_t len, int n,
                       uint32_t head_mask) {
  raw *r = raw_open(e->m, e->port);
  r->head_mask = head_mask;
  assert_true(raw_send(r, req, len));
  if (!raw_wait_resp(r, n, 5000)) {
    fprintf(stderr, "wanted %d responses, got %d; bytes:\n%.*s\n", n, r->nresp,
            (int)r->len, (const char *)r->buf);
    fail();
  }
  return r;
}

static raw *exchange(env *e, const char *req) {
  return exchange_n(e, req, strlen(req), 1, 0);
}

/* The server still serves: a good request on a new connection. */
static void assert_serves(env *e) {
  raw *r = exchange(e, HELLO);
  assert_resp(r, 0, 200, "hello");
  raw_free(r);
}

/* A refusal: one response with this status and Connection: close, then
 * the server closes the connection; a good request pipelined behind the
 * bad one is not answered; a new connection is served. */
static void expect_refusal(env *e, const char *name, const void *req,
                           size_t len, int status) {
  raw *r = raw_open(e->m, e->port);
  char *both = malloc(len + sizeof(HELLO));
  assert_non_null(both);
  memcpy(both, req, len);
  memcpy(both + len, HELLO, sizeof(HELLO) - 1);
  assert_true(raw_send(r, both, len + sizeof(HELLO) - 1));
  free(both);
  bool closed = raw_wait_closed(r, 5000);
  if (!closed || r->nresp != 1 || r->resp[0].status != status) {
    fprintf(stderr, "refusal \"%s\": closed=%d, %d responses, bytes:\n%.*s\n",
            name, closed, r->nresp, (int)r->len, (const char *)r->buf);
  }
  assert_true(closed);
  assert_int_equal(r->nresp, 1);
  assert_resp(r, 0, status, NULL);
  assert_string_equal(resp_hdr(&r->resp[0], "Connection"), "close");
  assert_int_equal(r->parsed, r->len); /* nothing after it */
  raw_free(r);
  assert_serves(e);
}

static void expect_refusal_s(env *e, const char *name, const char *req,
                             int status) {
  expect_refusal(e, name, req, strlen(req), status);
}

/* ---- keep-alive --------------------------------------------------- */

static void test_keepalive(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);

  /* 1.1: several requests on one connection, which stays open */
  raw *r = raw_open(e.m, e.port);
  for (int i = 0; i < 5; i++) {
    assert_true(raw_sends(r, HELLO));
    assert_true(raw_wait_resp(r, i + 1, 5000));
    assert_resp(r, i, 200, "hello");
    const http_resp *o = &r->resp[i];
    assert_int_equal(o->minor, 1);
    assert_string_equal(resp_hdr(o, "Content-Length"), "5");
    assert_string_equal(resp_hdr(o, "Content-Type"), "text/plain");
    assert_string_equal(resp_hdr(o, "Server"), "tern");
    assert_true(strlen(resp_hdr(o, "Date")) == 29); /* IMF-fixdate */
    assert_string_equal(resp_hdr(o, "Connection"), "");
  }
  raw_idle(r, 100);
  assert_false(raw_closed(r));
  tern_http_stats st = stats_of(&e);
  assert_int_equal(st.conns_accepted, 1);
  assert_int_equal(st.conns_open, 1);
  assert_int_equal(st.requests, 5);
  assert_int_equal(st.status[2], 5);
  assert_true(st.bytes_in >= 5 * strlen(HELLO));
  assert_true(st.bytes_out > 5 * 5);
  /* Connection: close from a 1.1 client: answered, then closed; what it
   * sent after that is not answered */
  assert_true(raw_sends(r, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" HELLO));
  assert_true(raw_wait_closed(r, 5000));
  assert_int_equal(r->nresp, 6);
  assert_resp(r, 5, 200, "hello");
  assert_string_equal(resp_hdr(&r->resp[5], "Connection"), "close");
  raw_free(r);

  /* 1.0 without keep-alive: Connection: close, closed after the response */
  r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, "GET /hello HTTP/1.0\r\n\r\n"));
  assert_true(raw_wait_closed(r, 5000));
  assert_int_equal(r->nresp, 1);
  assert_resp(r, 0, 200, "hello");
  assert_string_equal(resp_hdr(&r->resp[0], "Connection"), "close");
  raw_free(r);

  /* 1.0 with Connection: keep-alive stays open (and says so) */
  r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  assert_true(raw_wait_resp(r, 1, 5000));
  assert_resp(r, 0, 200, "hello");
  assert_string_equal(resp_hdr(&r->resp[0], "Connection"), "keep-alive");
  raw_idle(r, 150);
  assert_false(raw_closed(r));
  assert_true(raw_sends(r, "GET /hello HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
  assert_true(raw_wait_resp(r, 2, 5000));
  assert_resp(r, 1, 200, "hello");
  assert_false(raw_closed(r));
  /* ... until a 1.0 request without it */
  assert_true(raw_sends(r, "GET /hello HTTP/1.0\r\n\r\n"));
  assert_true(raw_wait_closed(r, 5000));
  assert_int_equal(r->nresp, 3);
  assert_resp(r, 2, 200, "hello");
  raw_free(r);

  assert_int_equal(g.hello_calls, 5 + 1 + 1 + 3);
  env_close(&e);
}

/* An idle keep-alive connection is closed after keepalive_ms. */
static void test_keepalive_timeout(void **state) {
  (void)state;
  env e;
  tern_http_opts o = {.keepalive_ms = 200};
  env_open(&e, &o);
  raw *r = exchange(&e, HELLO);
  uint64_t t0 = tern_clock_ms();
  assert_true(raw_wait_closed(r, 5000));
  uint64_t took = r->closed_at - t0;
  assert_true(took >= 150);
  assert_true(took < 4000);
  assert_int_equal(r->nresp, 1);
  raw_free(r);
  assert_serves(&e);
  env_close(&e);
}

/* ---- pipelining ------------------------------------------------------- */

static const char pipe3[] =
    "GET /p/one HTTP/1.1\r\nHost: t\r\n\r\n"
    "POST /p/two?x=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
    "PUT /p/three HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    "2\r\nde\r\n1\r\nf\r\n0\r\n\r\n";

static void check_pipe3(raw *r, int at) {
  assert_resp(r, at + 0, 200, "GET /p/one path=/p/one query= auth= body=");
  assert_resp(r, at + 1, 200, "POST /p/two?x=2 path=/p/two query=x=2 auth= body=abc");
  assert_resp(r, at + 2, 200, "PUT /p/three path=/p/three query= auth= body=def");
}

static void test_pipelining(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);

  /* three requests in one send */
  raw *r = exchange_n(&e, pipe3, strlen(pipe3), 3, 0);
  check_pipe3(r, 0);
  assert_int_equal(r->parsed, r->len);
  /* and again on the same connection, byte by byte */
  assert_true(raw_send_bytewise(r, pipe3, strlen(pipe3)));
  assert_true(raw_wait_resp(r, 6, 5000));
  check_pipe3(r, 3);
  assert_false(raw_closed(r));
  raw_free(r);

  /* byte by byte on a fresh connection, with a HEAD in the middle and
   * a Connection: close at the end */
  r = raw_open(e.m, e.port);
  r->head_mask = 1u << 1;
  const char *mix = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                    "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"
                    "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  assert_true(raw_send_bytewise(r, mix, strlen(mix)));
  assert_true(raw_wait_closed(r, 5000));
  assert_int_equal(r->nresp, 4);
  assert_resp(r, 0, 200, "hello");
  assert_resp(r, 1, 200, "");
  assert_string_equal(resp_hdr(&r->resp[1], "Content-Length"), "5");
  assert_resp(r, 2, 200, "body");
  assert_resp(r, 3, 200, "hello");
  assert_int_equal(r->parsed, r->len);
  raw_free(r);

  /* many small requests in one send */
  char many[32 * sizeof(HELLO)];
  size_t n = 0;
  for (int i = 0; i < 30; i++) {
    memcpy(many + n, HELLO, sizeof(HELLO) - 1);
    n += sizeof(HELLO) - 1;
  }
  r = exchange_n(&e, many, n, 30, 0);
  for (int i = 0; i < 30; i++) assert_resp(r, i, 200, "hello");
  raw_free(r);
  assert_int_equal(stats_of(&e).conns_accepted, 3);
  env_close(&e);
}

/* ---- chunked and streamed bodies -------------------------------------- */

static const char chunked_req[] =
    "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value\r\nhello\r\n"
    "6 ; a=\"quoted;\\\"str\" ;b\r\n world\r\n"
    "00;last\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n";

static void test_chunked_request(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  raw *r = exchange(&e, chunked_req);
  assert_resp(r, 0, 200, "hello world");
  assert_string_equal(resp_hdr(&r->resp[0], "X-Framing"), "chunked");
  assert_string_equal(resp_hdr(&r->resp[0], "Content-Length"), "11");
  /* the connection goes on after the trailers */
  assert_true(raw_sends(r, HELLO));
  assert_true(raw_wait_resp(r, 2, 5000));
  assert_resp(r, 1, 200, "hello");
  /* the same body byte by byte, then another request */
  assert_true(raw_send_bytewise(r, chunked_req, sizeof(chunked_req) - 1));
  assert_true(raw_sends(r, HELLO));
  assert_true(raw_wait_resp(r, 4, 5000));
  assert_resp(r, 2, 200, "hello world");
  assert_resp(r, 3, 200, "hello");
  raw_free(r);

  /* coding names are case-insensitive */
  r = exchange(&e, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n"
                   "3\r\nabc\r\n0\r\n\r\n");
  assert_resp(r, 0, 200, "abc");
  raw_free(r);
  /* an empty chunked body */
  r = exchange(&e, "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  assert_resp(r, 0, 200, "");
  assert_string_equal(resp_hdr(&r->resp[0], "X-Method"), "PUT");
  raw_free(r);
  assert_int_equal(g.echo_calls, 4);
  env_close(&e);
}

static void test_streamed_response(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  const char *wire = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

  /* chunked on 1.1: exactly this on the wire after the head */
  raw *r = exchange(&e, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
  http_resp *o = &r->resp[0];
  assert_resp(r, 0, 200, "hello world");
  assert_true(o->chunked);
  assert_false(o->has_length);
  assert_int_equal(head_count(o->head, "Transfer-Encoding"), 1);
  assert_string_equal(resp_hdr(o, "Transfer-Encoding"), "chunked");
  assert_string_equal(resp_hdr(o, "Content-Type"), "text/plain");
  assert_int_equal(o->wire_len, o->head_len + strlen(wire));
  assert_memory_equal(r->buf + o->start + o->head_len, wire, strlen(wire));
  for (int i = 0; i < g.nstream_rc; i++) assert_int_equal(g.stream_rc[i], TERN_OK);
  /* the connection is still good */
  assert_true(raw_sends(r, HELLO));
  assert_true(raw_wait_resp(r, 2, 5000));
  assert_resp(r, 1, 200, "hello");
  raw_free(r);

  /* known length: no chunk framing */
  g.nstream_rc = 0;
  r = exchange(&e, "GET /stream-len HTTP/1.1\r\nHost: t\r\n\r\n");
  o = &r->resp[0];
  assert_resp(r, 0, 200, "hello world");
  assert_false(o->chunked);
  assert_string_equal(resp_hdr(o, "Content-Length"), "11");
  assert_int_equal(o->wire_len, o->head_len + 11);
  for (int i = 0; i < g.nstream_rc; i++) assert_int_equal(g.stream_rc[i], TERN_OK);
  raw_free(r);

  /* a declared length is a promise: extra bytes are refused, the
   * connection stays usable */
  r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, "GET /cl-over HTTP/1.1\r\nHost: t\r\n\r\n" HELLO));
  assert_true(raw_wait_resp(r, 2, 5000));
  assert_resp(r, 0, 200, "abcde");
  assert_resp(r, 1, 200, "hello");
  assert_int_equal(g_cl_rc[0], TERN_OK);
  assert_int_equal(g_cl_rc[1], TERN_ELIMIT);
  assert_int_equal(g_cl_rc[2], TERN_OK);
  assert_int_equal(g_cl_rc[3], TERN_ELIMIT);
  assert_int_equal(g_cl_rc[4], TERN_OK);
  raw_free(r);
  /* ... and too few bytes end the connection, the only way the client
   * can see the response is incomplete */
  r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, "GET /cl-short HTTP/1.1\r\nHost: t\r\n\r\n" HELLO));
  assert_true(raw_wait_closed(r, 5000));
  assert_int_equal(g_cl_rc[5], TERN_EPROTO);
  assert_int_equal(r->nresp, 0); /* 3 of 10 body bytes: never complete */
  assert_true(r->len > 3 && memcmp(r->buf + r->len - 3, "abc", 3) == 0);
  raw_free(r);

  /* HEAD of a streamed response: the head only, no chunks; the next
   * response on the connection follows at once */
  r = exchange_n(&e, "HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n" HELLO,
                 strlen("HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n" HELLO), 2, 1);
  assert_resp(r, 0, 200, "");
  assert_int_equal(r->resp[0].wire_len, r->resp[0].head_len);
  assert_resp(r, 1, 200, "hello");
  assert_int_equal(r->parsed, r->len);
  raw_free(r);

  /* HTTP/1.0: close-delimited, even when it asked for keep-alive */
  const char *v10[] = {"GET /stream HTTP/1.0\r\n\r\n",
                       "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"};
  for (int i = 0; i < 2; i++) {
    r = raw_open(e.m, e.port);
    assert_true(raw_sends(r, v10[i]));
    assert_true(raw_wait_closed(r, 5000));
    assert_int_equal(r->nresp, 1);
    o = &r->resp[0];
    assert_resp(r, 0, 200, "hello world");
    assert_true(o->close_delimited);
    assert_false(o->has_length);
    assert_false(resp_has(o, "Transfer-Encoding"));
    assert_string_equal(resp_hdr(o, "Connection"), "close");
    raw_free(r);
  }
  env_close(&e);
}

/* ---- Expect: 100-continue ----------------------------------------------- */

static void test_expect_continue(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

  /* 100 comes before the body is sent; the handler runs after it */
  raw *r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                           "Expect: 100-continue\r\n\r\n"));
  assert_true(raw_wait_bytes(r, "\r\n\r\n", 5000));
  assert_int_equal(r->len, sizeof(cont) - 1);
  assert_memory_equal(r->buf, cont, sizeof(cont) - 1);
  assert_int_equal(g.echo_calls, 0);
  assert_true(raw_sends(r, "hello"));
  assert_true(raw_wait_resp(r, 2, 5000));
  assert_resp(r, 0, 100, "");
  assert_resp(r, 1, 200, "hello");
  /* chunked with Expect on the same connection */
  assert_true(raw_sends(r, "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                           "Expect: 100-Continue\r\n\r\n"));
  assert_true(raw_wait_resp(r, 3, 5000));
  assert_resp(r, 2, 100, "");
  assert_true(raw_sends(r, "3\r\nabc\r\n0\r\n\r\n"));
  assert_true(raw_wait_resp(r, 4, 5000));
  assert_resp(r, 3, 200, "abc");
  /* no body expected (Content-Length: 0): no 100 */
  assert_true(raw_sends(r, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
                           "Expect: 100-continue\r\n\r\n"));
  assert_true(raw_wait_resp(r, 5, 5000));
  assert_resp(r, 4, 200, "");
  raw_free(r);

  /* too large: 413 straight away, never 100 */
  r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n"
                           "Expect: 100-continue\r\n\r\n"));
  assert_true(raw_wait_closed(r, 5000));
  assert_int_equal(r->nresp, 1);
  assert_resp(r, 0, 413, NULL);
  assert_null(memmem(r->buf, r->len, "100 Continue", 12));
  raw_free(r);
  assert_int_equal(g.echo_calls, 3);
  assert_serves(&e);
  env_close(&e);
}

/* ---- HEAD, absolute-form ------------------------------------------------ */

static void test_head(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  const char *req = "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n" HELLO;
  raw *r = exchange_n(&e, req, strlen(req), 2, 1);
  http_resp *o = &r->resp[0];
  assert_resp(r, 0, 200, "");
  assert_string_equal(resp_hdr(o, "Content-Length"), "5");
  assert_int_equal(o->wire_len, o->head_len); /* no body bytes */
  assert_resp(r, 1, 200, "hello");
  assert_int_equal(r->parsed, r->len);
  assert_false(g.last_is_head); /* the last call was the GET */
  raw_free(r);
  /* HEAD of a route that only has GET is routed to it */
  r = exchange_n(&e, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n",
                 strlen("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"), 1, 1);
  assert_true(g.last_is_head);
  raw_free(r);
  /* HEAD of an unknown path: 404 with its length, no body */
  r = exchange_n(&e, "HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n" HELLO,
                 strlen("HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n" HELLO), 2, 1);
  assert_resp(r, 0, 404, "");
  assert_int_equal(r->resp[0].wire_len, r->resp[0].head_len);
  assert_resp(r, 1, 200, "hello");
  raw_free(r);
  env_close(&e);
}

static void test_absolute_form(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  raw *r = exchange(&e, "GET http://host.example/hello HTTP/1.1\r\nHost: host.example\r\n\r\n");
  assert_resp(r, 0, 200, "hello");
  raw_free(r);
  r = exchange(&e, "GET HTTP://h.example:8080/p/abs?q=1 HTTP/1.1\r\nHost: h.example:8080\r\n\r\n");
  assert_resp(r, 0, 200,
              "GET HTTP://h.example:8080/p/abs?q=1 path=/p/abs query=q=1 "
              "auth=h.example:8080 body=");
  raw_free(r);
  /* no path: it means "/" (RFC 9110 4.2.3) */
  r = exchange(&e, "GET http://h.example HTTP/1.1\r\nHost: h.example\r\n\r\n");
  assert_resp(r, 0, 200, "GET http://h.example path= query= auth=h.example body=");
  raw_free(r);
  r = exchange(&e, "GET http://h.example?q HTTP/1.1\r\nHost: h.example\r\n\r\n");
  assert_resp(r, 0, 200, "GET http://h.example?q path= query=q auth=h.example body=");
  raw_free(r);
  env_close(&e);
}

/* ---- routing ---------------------------------------------------------- */

static void test_routing(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  static const struct {
    const char *req;
    int status;
    const char *body;
  } cases[] = {
      {"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, "hello"},
      {"GET /hello?a=b HTTP/1.1\r\nHost: t\r\n\r\n", 200, "hello"},
      {"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 200, "posted"},
      {"GET /hello/ HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL},   /* exact */
      {"GET /hell HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL},
      {"GET /HELLO HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL},    /* case */
      {"GET /files/a/b.txt HTTP/1.1\r\nHost: t\r\n\r\n", 200, "files:/files/a/b.txt"},
      {"GET /files/ HTTP/1.1\r\nHost: t\r\n\r\n", 200, "files:/files/"},
      {"GET /files HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL},    /* prefix "/files/" */
      /* first match in registration order wins */
      {"GET /files/special HTTP/1.1\r\nHost: t\r\n\r\n", 200, "files:/files/special"},
      {"PUT /files/x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 200, "files:/files/x"},
      {"GET /any HTTP/1.1\r\nHost: t\r\n\r\n", 200, "any:GET"},
      {"BREW /any HTTP/1.1\r\nHost: t\r\n\r\n", 200, "any:BREW"},
      {"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL},
      {"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, "not found\n"},
  };
  raw *r = raw_open(e.m, e.port);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_true(raw_sends(r, cases[i].req));
    assert_true(raw_wait_resp(r, (int)i + 1, 5000));
    if (r->resp[i].status != cases[i].status)
      fprintf(stderr, "case %zu: %s", i, cases[i].req);
    assert_resp(r, (int)i, cases[i].status, cases[i].body);
  }
  /* 404 and 405 keep the connection */
  assert_false(raw_closed(r));
  raw_free(r);

  /* 405 with Allow listing the methods of the routes for that path */
  r = exchange(&e, "DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  assert_resp(r, 0, 405, NULL);
  assert_string_equal(resp_hdr(&r->resp[0], "Allow"), "GET, POST");
  raw_free(r);
  r = exchange(&e, "DELETE /files/a HTTP/1.1\r\nHost: t\r\n\r\n");
  assert_resp(r, 0, 405, NULL);
  assert_string_equal(resp_hdr(&r->resp[0], "Allow"), "GET, PUT");
  raw_free(r);
  tern_http_stats st = stats_of(&e);
  assert_int_equal(st.status[4], 8);
  env_close(&e);
}

/* A request is answered once: later calls fail and send nothing. */
static void test_answer_once(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  const char *req = "GET /twice HTTP/1.1\r\nHost: t\r\n\r\n" HELLO;
  raw *r = exchange_n(&e, req, strlen(req), 2, 0);
  raw_idle(r, 50);
  raw_parse(r);
  assert_int_equal(r->nresp, 2);
  assert_resp(r, 0, 200, "first");
  assert_resp(r, 1, 200, "hello");
  assert_int_equal(r->parsed, r->len);
  assert_int_equal(g_twice_rc[0], TERN_OK);
  assert_int_equal(g_twice_rc[1], TERN_EINVAL);
  assert_int_equal(g_twice_rc[2], TERN_EINVAL);
  assert_int_equal(g_twice_rc[3], TERN_EINVAL);
  raw_free(r);
  env_close(&e);
}

/* ---- refusals ---------------------------------------------------------- */

#define NUL_REQ "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\0z\r\n\r\n"

static void test_refusals(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  static const struct {
    const char *name;
    const char *req;
    size_t len; /* 0: strlen */
    int status;
  } bad[] = {
      {"two spaces", "GET  /hello HTTP/1.1\r\nHost: t\r\n\r\n", 0, 400},
      {"no version", "GET /hello\r\nHost: t\r\n\r\n", 0, 400},
      {"junk after version", "GET /hello HTTP/1.1 x\r\nHost: t\r\n\r\n", 0, 400},
      {"lower-case version", "GET /hello http/1.1\r\nHost: t\r\n\r\n", 0, 400},
      {"not HTTP", "\x16\x03\x01\x02\x03\r\n\r\n", 0, 400},
      {"no method", " /hello HTTP/1.1\r\nHost: t\r\n\r\n", 0, 400},
      {"HTTP/2.0", "GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 0, 505},
      {"HTTP/1.9", "GET /hello HTTP/1.9\r\nHost: t\r\n\r\n", 0, 505},
      {"fragment", "GET /hello#x HTTP/1.1\r\nHost: t\r\n\r\n", 0, 400},
      {"userinfo", "GET http://u@h/hello HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
      {"space before colon", "GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 0, 400},
      {"tab before colon", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A\t: 1\r\n\r\n", 0, 400},
      {"obs-fold", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 0, 400},
      {"obs-fold (tab)", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\n\r\n", 0, 400},
      {"space first line", "GET /hello HTTP/1.1\r\n Host: t\r\n\r\n", 0, 400},
      {"CTL in value", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x01z\r\n\r\n", 0, 400},
      {"ESC in value", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x1b[0m\r\n\r\n", 0, 400},
      {"DEL in value", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x7fz\r\n\r\n", 0, 400},
      {"NUL in value", NUL_REQ, sizeof(NUL_REQ) - 1, 400},
      {"bare CR in value", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\rz\r\n\r\n", 0, 400},
      {"bare LF", "GET /hello HTTP/1.1\nHost: t\n\n", 0, 400},
      {"empty name", "GET /hello HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n", 0, 400},
      {"missing Host", "GET /hello HTTP/1.1\r\n\r\n", 0, 400},
      {"two Hosts", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 0, 400},
      {"bad Host", "GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n", 0, 400},
      {"conflicting Content-Length",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
       0, 400},
      {"Content-Length list", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!",
       0, 400},
      {"negative Content-Length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
       0, 400},
      {"hex Content-Length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x5\r\n\r\nhello",
       0, 400},
      {"huge Content-Length",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0, 400},
      {"Content-Length + Transfer-Encoding",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n", 0, 400},
      {"Transfer-Encoding + Content-Length",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
       "0\r\n\r\n", 0, 400},
      /* RFC 9112 6.1: a coding the server does not know: 501 */
      {"gzip, chunked", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
       "0\r\n\r\n", 0, 501},
      {"x-custom then chunked", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: x-custom\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 501},
      /* RFC 9112 6.3 item 4: chunked is not the final coding: the length
       * cannot be known; 400 and close (a MUST, ahead of 6.1's SHOULD) */
      {"gzip alone", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 0, 400},
      {"chunked, gzip", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       0, 400},
      {"chunked twice", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
       "0\r\n\r\n", 0, 400},
      {"Transfer-Encoding in 1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n", 0, 400},
      {"bad chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "zz\r\nhello\r\n0\r\n\r\n", 0, 400},
      {"chunk data too long", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\r\nhello\r\n0\r\n\r\n", 0, 400},
      {"bad chunk extension", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3;=x\r\nabc\r\n0\r\n\r\n", 0, 400},
      {"obs-fold in trailer", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\r\nabc\r\n0\r\nX-T: a\r\n b\r\n\r\n", 0, 400},
      {"unknown expectation", "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n"
       "Content-Length: 1\r\n\r\nx", 0, 417},
      {"request line too long (default 8192)", NULL, 0, 414},
      {"too many headers (default 64)", NULL, 0, 431},
      {"head too large (default 16384)", NULL, 0, 431},
      {"body too large (default 1 MiB)", "POST /echo HTTP/1.1\r\nHost: t\r\n"
       "Content-Length: 1048577\r\n\r\n", 0, 413},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *gen = NULL;
    const char *req = bad[i].req;
    size_t len = bad[i].len ? bad[i].len : req ? strlen(req) : 0;
    if (req == NULL) { /* the default limits */
      gen = malloc(40000);
      assert_non_null(gen);
      if (bad[i].status == 414) {
        len = (size_t)sprintf(gen, "GET /p/");
        memset(gen + len, 'a', 8200);
        len += 8200;
        len += (size_t)sprintf(gen + len, " HTTP/1.1\r\nHost: t\r\n\r\n");
      } else if (strstr(bad[i].name, "many")) {
        len = (size_t)sprintf(gen, "GET /hello HTTP/1.1\r\nHost: t\r\n");
        for (int k = 0; k < 64; k++)
          len += (size_t)sprintf(gen + len, "X-H%d: %d\r\n", k, k);
        len += (size_t)sprintf(gen + len, "\r\n");
      } else {
        len = (size_t)sprintf(gen, "GET /hello HTTP/1.1\r\nHost: t\r\n");
        for (int k = 0; k < 10; k++) {
          len += (size_t)sprintf(gen + len, "X-Big%d: ", k);
          memset(gen + len, 'v', 2000);
          len += 2000;
          len += (size_t)sprintf(gen + len, "\r\n");
        }
        len += (size_t)sprintf(gen + len, "\r\n");
      }
      req = gen;
    }
    expect_refusal(&e, bad[i].name, req, len, bad[i].status);
    free(gen);
  }
  assert_int_equal(g.echo_calls, 0);
  tern_http_stats st = stats_of(&e);
  assert_int_equal(st.status[4] + st.status[5], sizeof(bad) / sizeof(bad[0]));
  uint64_t end = tern_clock_ms() + 5000;
  while (stats_of(&e).conns_open > 0 && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(e.m), 10);
  assert_int_equal(stats_of(&e).conns_open, 0);
  env_close(&e);
}

/* The same refusals, byte by byte: the answer does not depend on how the
 * bytes were split. */
static void test_refusals_bytewise(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  static const struct {
    const char *req;
    int status;
  } bad[] = {
      {"GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400},
      {"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\nX", 400}, /* refused at the X */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    raw *r = raw_open(e.m, e.port);
    assert_true(raw_send_bytewise(r, bad[i].req, strlen(bad[i].req)));
    assert_true(raw_wait_closed(r, 5000));
    assert_int_equal(r->nresp, 1);
    assert_resp(r, 0, bad[i].status, NULL);
    raw_free(r);
    assert_serves(&e);
  }
  env_close(&e);
}

/* ---- limits set at run time ------------------------------------------- */

static const tern_http_opts small_limits = {
    .max_request_line = 64,
    .max_head = 512,
    .max_headers = 4,
    .max_body = 100,
};

/* A request line of exactly len bytes (CRLF not counted). */
static char *line_of(size_t len) {
  char *s = malloc(len + 64);
  assert_non_null(s);
  size_t pre = strlen("GET /p/"), post = strlen(" HTTP/1.1");
  assert_true(len > pre + post);
  memcpy(s, "GET /p/", pre);
  memset(s + pre, 'a', len - pre - post);
  memcpy(s + len - post, " HTTP/1.1\r\nHost: t\r\n\r\n", post + 13);
  s[len + 13] = '\0';
  return s;
}

/* A head of exactly len bytes (with the final CRLF CRLF). */
static char *head_of(size_t len) {
  const char *pre = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Pad: ";
  size_t pl = strlen(pre);
  char *s = malloc(len + 1);
  assert_non_null(s);
  assert_true(len > pl + 5);
  memcpy(s, pre, pl);
  memset(s + pl, 'p', len - pl - 4);
  memcpy(s + len - 4, "\r\n\r\n", 5);
  assert_int_equal(strlen(s), len);
  return s;
}

static char *body_req(size_t n, bool chunked) {
  char *s = malloc(n + 256);
  assert_non_null(s);
  size_t len;
  if (!chunked) {
    len = (size_t)sprintf(s, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
    memset(s + len, 'b', n);
    s[len + n] = '\0';
  } else { /* in two chunks */
    size_t a = n / 2;
    len = (size_t)sprintf(s, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n", a);
    memset(s + len, 'b', a);
    len += a;
    len += (size_t)sprintf(s + len, "\r\n%zx\r\n", n - a);
    memset(s + len, 'b', n - a);
    len += n - a;
    sprintf(s + len, "\r\n0\r\n\r\n");
  }
  return s;
}

static void expect_ok(env *e, char *req) {
  raw *r = exchange(e, req);
  assert_resp(r, 0, 200, NULL);
  raw_free(r);
  free(req);
}

static void expect_refused(env *e, const char *name, char *req, int status) {
  expect_refusal_s(e, name, req, status);
  free(req);
}

/* The small limits hold: each one just below and just above its bound. */
static void check_small_limits(env *e) {
  expect_ok(e, line_of(64));
  expect_refused(e, "line 65", line_of(65), 414);
  expect_refused(e, "line 500", line_of(500), 414);
  /* 4 header fields are fine, 5 are too many */
  raw *r = exchange(e, "GET /headers HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nX-Last: 4\r\n\r\n");
  assert_resp(r, 0, 200, "n=4 last=4");
  raw_free(r);
  expect_refusal_s(e, "5 headers",
                   "GET /headers HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nX-Last: 5\r\n\r\n",
                   431);
  expect_ok(e, head_of(512));
  expect_refused(e, "head 513", head_of(513), 431);
  expect_refused(e, "head 3000", head_of(3000), 431);
  expect_ok(e, body_req(100, false));
  expect_refused(e, "body 101", body_req(101, false), 413);
  expect_ok(e, body_req(100, true));
  expect_refused(e, "chunked body 101", body_req(101, true), 413);
}

static void test_limits_at_creation(void **state) {
  (void)state;
  env e;
  env_open(&e, &small_limits);
  check_small_limits(&e);
  env_close(&e);
}

static void test_limits_set_opts(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  /* the defaults take all of these */
  expect_ok(&e, line_of(65));
  expect_ok(&e, head_of(3000));
  expect_ok(&e, body_req(101, false));
  expect_ok(&e, body_req(101, true));
  raw *r = exchange(&e, "GET /headers HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nX-Last: 5\r\n\r\n");
  assert_resp(r, 0, 200, "n=5 last=5");
  /* this connection stays open across the change */
  tern_http_server_set_opts(e.s, &small_limits);
  check_small_limits(&e);
  /* back to the defaults */
  tern_http_server_set_opts(e.s, NULL);
  expect_ok(&e, line_of(65));
  expect_ok(&e, body_req(101, true));
  /* the connection opened before the changes still works */
  assert_true(raw_sends(r, HELLO));
  assert_true(raw_wait_resp(r, 2, 5000));
  assert_resp(r, 1, 200, "hello");
  raw_free(r);
  env_close(&e);
}

/* Raising max_body at run time applies to connections already open too:
 * their receive buffer must be able to hold the larger request. */
static void test_set_opts_open_conn(void **state) {
  (void)state;
  env e;
  tern_http_opts o = {.max_body = 1000};
  env_open(&e, &o);
  raw *r = exchange(&e, HELLO); /* opened under the small limit */
  tern_http_opts big = {.max_body = 200000};
  tern_http_server_set_opts(e.s, &big);
  char *req = body_req(100000, false);
  assert_true(raw_sends(r, req));
  free(req);
  bool ok = raw_wait_resp(r, 2, 5000);
  if (!ok) fprintf(stderr, "no answer to a 100000-byte body on the old connection\n");
  assert_true(ok);
  assert_resp(r, 1, 200, NULL);
  assert_int_equal(r->resp[1].body_len, 100000);
  raw_free(r);
  env_close(&e);
}

/* A handler that changes the limits (an admin endpoint, say) still reads
 * its own request's headers afterwards. */
static tern_http_server *g_srv;
static void h_reconfigure(tern_http_req *r, void *ud) {
  (void)ud;
  tern_http_opts o = {.max_headers = (size_t)atoi(tern_http_header_get(tern_http_req_msg(r),
                                                                      "X-Max").ptr)};
  tern_http_server_set_opts(g_srv, &o);
  const tern_http_msg *m = tern_http_req_msg(r);
  tern_str a = tern_http_header_get(m, "X-A");
  char out[64];
  int n = snprintf(out, sizeof(out), "n=%zu a=%.*s", m->num_headers, (int)a.len,
                   a.ptr ? a.ptr : "");
  tern_http_reply(r, 200, NULL, out, (size_t)n);
}

static void test_set_opts_in_handler(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  g_srv = e.s;
  assert_int_equal(tern_http_route(e.s, "GET", "/reconf", h_reconfigure, NULL), TERN_OK);
  /* grow (a new array), shrink (kept), grow again */
  static const char *reqs[] = {
      "GET /reconf HTTP/1.1\r\nHost: t\r\nX-Max: 100\r\nX-A: one\r\n\r\n",
      "GET /reconf HTTP/1.1\r\nHost: t\r\nX-Max: 3\r\nX-A: two\r\n\r\n",
      "GET /reconf HTTP/1.1\r\nHost: t\r\nX-Max: 200\r\nX-A: three\r\n\r\n",
  };
  static const char *want[] = {"n=3 a=one", "n=3 a=two", "n=3 a=three"};
  for (int i = 0; i < 3; i++) {
    raw *r = exchange(&e, reqs[i]);
    assert_resp(r, 0, 200, want[i]);
    raw_free(r);
  }
  assert_serves(&e);
  env_close(&e);
}

/* ---- slow client ------------------------------------------------------ */

static void test_slow_client(void **state) {
  (void)state;
  env e;
  tern_http_opts o = {.head_timeout_ms = 1000};
  env_open(&e, &o);
  raw *slow = raw_open(e.m, e.port);
  uint64_t t0 = tern_clock_ms();
  assert_true(raw_sends(slow, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: "));
  int sent = 0, served = 0;
  /* one byte every 300 ms, each one before any deadline an idle timer
   * would have; another client is served meanwhile */
  while (!raw_closed(slow) && slow->len == 0 && tern_clock_ms() - t0 < 5000) {
    raw_idle(slow, 300);
    if (raw_closed(slow) || slow->len > 0) break;
    if (!raw_send(slow, "x", 1)) break;
    sent++;
    if (sent == 2) {
      assert_serves(&e);
      served++;
    }
  }
  assert_true(raw_wait_closed(slow, 5000));
  uint64_t took = slow->closed_at - t0;
  fprintf(stderr, "slow client: closed after %llu ms, %d bytes trickled\n",
          (unsigned long long)took, sent);
  assert_int_equal(served, 1);
  assert_true(took >= 900);
  assert_true(took <= 2500);
  assert_int_equal(slow->nresp, 1);
  assert_resp(slow, 0, 408, NULL);
  assert_int_equal(g.hello_calls, 1);
  raw_free(slow);

  /* a head arriving whole in time is served */
  assert_serves(&e);
  env_close(&e);
}

/* ---- async replies ----------------------------------------------------- */

static void test_async_reply(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  assert_int_equal(tern_timer_new(tern_mgr_loop(e.m), &ga.timer, async_answer, NULL),
                   TERN_OK);
  ga.auto_timer = true;
  raw *r = raw_open(e.m, e.port);
  uint64_t t0 = tern_clock_ms();
  /* the async request with a body, a sync one pipelined behind it */
  assert_true(raw_sends(r, "POST /async?q=1 HTTP/1.1\r\nHost: h1\r\nX-Tag: one\r\n"
                           "Content-Length: 7\r\n\r\npayload"
                           "GET /p/mid HTTP/1.1\r\nHost: t\r\n\r\n"));
  /* wait for the handler, then pipeline another async one (chunked) */
  uint64_t end = tern_clock_ms() + 5000;
  while (ga.calls == 0 && tern_clock_ms() < end) raw_pump(r, 10);
  assert_int_equal(ga.calls, 1);
  assert_int_equal(r->len, 0);
  assert_true(raw_sends(r, "PUT /async HTTP/1.1\r\nHost: h3\r\nX-Tag: three\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
                           HELLO));
  assert_true(raw_wait_resp(r, 1, 5000));
  uint64_t first = tern_clock_ms() - t0;
  assert_true(first >= 90);
  assert_true(raw_wait_resp(r, 4, 5000));
  assert_resp(r, 0, 200, "POST /async query=q=1 tag=one host=h1 hdrs=3 body=payload");
  assert_resp(r, 1, 200, "GET /p/mid path=/p/mid query= auth= body=");
  assert_resp(r, 2, 200, "PUT /async query= tag=three host=h3 hdrs=3 body=abcdefg");
  assert_resp(r, 3, 200, "hello");
  assert_int_equal(ga.calls, 2);
  assert_int_equal(ga.answered, 2);
  assert_int_equal(ga.rc_reply, TERN_OK);
  assert_false(raw_closed(r));
  raw_free(r);
  env_close(&e);
}

/* The client sends its requests and half-closes (shutdown(SHUT_WR), as
 * some HTTP/1.0 clients do): what it asked for is still answered, in
 * order, an async answer included, then the server closes. */
static void test_client_half_close(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  raw *r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, pipe3));
  assert_true(raw_sends(r, HELLO));
  assert_int_equal(shutdown(r->fd, SHUT_WR), 0);
  assert_true(raw_wait_closed(r, 5000));
  assert_int_equal(r->nresp, 4);
  check_pipe3(r, 0);
  assert_resp(r, 3, 200, "hello");
  raw_free(r);
  /* an async answer is still delivered */
  assert_int_equal(tern_timer_new(tern_mgr_loop(e.m), &ga.timer, async_answer, NULL),
                   TERN_OK);
  ga.auto_timer = true;
  r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, "POST /async HTTP/1.1\r\nHost: h\r\nX-Tag: hc\r\n"
                           "Content-Length: 2\r\n\r\nhi"));
  assert_int_equal(shutdown(r->fd, SHUT_WR), 0);
  assert_true(raw_wait_closed(r, 5000));
  assert_int_equal(r->nresp, 1);
  assert_resp(r, 0, 200, "POST /async query= tag=hc host=h hdrs=3 body=hi");
  assert_string_equal(resp_hdr(&r->resp[0], "Connection"), "close");
  raw_free(r);
  /* requests pipelined behind an async one are answered too, in order */
  r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, "POST /async HTTP/1.1\r\nHost: h\r\nX-Tag: p1\r\n"
                           "Content-Length: 2\r\n\r\nhi" HELLO));
  assert_int_equal(shutdown(r->fd, SHUT_WR), 0);
  assert_true(raw_wait_closed(r, 5000));
  assert_int_equal(r->nresp, 2);
  assert_resp(r, 0, 200, "POST /async query= tag=p1 host=h hdrs=3 body=hi");
  assert_resp(r, 1, 200, "hello");
  raw_free(r);
  /* a half-sent request is dropped with the connection */
  r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, HELLO "GET /hello HTTP/1.1\r\nHo"));
  assert_int_equal(shutdown(r->fd, SHUT_WR), 0);
  assert_true(raw_wait_closed(r, 5000));
  assert_int_equal(r->nresp, 1);
  assert_int_equal(r->parsed, r->len);
  raw_free(r);
  env_close(&e);
}

/* An async request with a large Content-Length body: the body is copied
 * whole, and the bytes behind it are the next request. */
static void test_async_big_body(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  assert_int_equal(tern_timer_new(tern_mgr_loop(e.m), &ga.timer, async_answer, NULL),
                   TERN_OK);
  ga.auto_timer = true;
  size_t n = 200000;
  char *req = malloc(n + 256);
  assert_non_null(req);
  int k = sprintf(req, "POST /async HTTP/1.1\r\nHost: h\r\nX-Tag: big\r\n"
                       "Content-Length: %zu\r\n\r\n", n);
  unsigned x = 0;
  for (size_t i = 0; i < n; i++) {
    req[k + i] = (char)('A' + i % 61);
    x = x * 31 + (uint8_t)req[k + i];
  }
  memcpy(req + k + n, HELLO, sizeof(HELLO));
  raw *r = exchange_n(&e, req, k + n + strlen(HELLO), 2, 0);
  char want[160];
  snprintf(want, sizeof(want), "POST /async query= tag=big host=h hdrs=3 body=len=%zu sum=%08x",
           n, x);
  assert_resp(r, 0, 200, want);
  assert_resp(r, 1, 200, "hello");
  raw_free(r);
  free(req);
  env_close(&e);
}

/* The header array is shared by all connections: a head whose body comes
 * later is not disturbed by other connections' requests in between. */
static void h_tag(tern_http_req *r, void *ud) {
  (void)ud;
  const tern_http_msg *m = tern_http_req_msg(r);
  tern_str tag = tern_http_header_get(m, "X-Tag");
  tern_str b = tern_http_req_body(r);
  char out[256];
  int n = snprintf(out, sizeof(out), "%.*s %.*s n=%zu body=%.*s", (int)m->method.len,
                   m->method.ptr, (int)tag.len, tag.ptr ? tag.ptr : "",
                   m->num_headers, (int)b.len, b.ptr);
  tern_http_reply(r, 200, NULL, out, (size_t)n);
}

static void test_interleaved_conns(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  assert_int_equal(tern_http_route(e.s, NULL, "/tag", h_tag, NULL), TERN_OK);
  raw *a = raw_open(e.m, e.port), *b = raw_open(e.m, e.port);
  raw *c = raw_open(e.m, e.port);
  assert_true(raw_sends(a, "PUT /tag HTTP/1.1\r\nHost: a\r\nX-Tag: aaa\r\n"
                           "Content-Length: 6\r\n\r\nab"));
  assert_true(raw_sends(c, "POST /tag HTTP/1.1\r\nHost: c\r\nX-Tag: ccc\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n2\r\nc1\r\n"));
  raw_idle(a, 50);
  const char *breq = "GET /tag HTTP/1.1\r\nHost: b\r\nX-One: 1\r\nX-Two: 2\r\n"
                     "X-Tag: bbb\r\nX-Three: 3\r\n\r\n";
  assert_true(raw_sends(b, breq));
  assert_true(raw_wait_resp(b, 1, 5000));
  assert_resp(b, 0, 200, "GET bbb n=5 body=");
  assert_true(raw_sends(a, "cd"));
  raw_idle(a, 20);
  assert_true(raw_sends(b, breq));
  assert_true(raw_wait_resp(b, 2, 5000));
  assert_true(raw_sends(c, "2\r\nc2\r\n"));
  raw_idle(c, 20);
  assert_true(raw_send_bytewise(a, "ef", 2));
  assert_true(raw_send_bytewise(c, "0\r\n\r\n", 5));
  assert_true(raw_wait_resp(a, 1, 5000));
  assert_true(raw_wait_resp(c, 1, 5000));
  assert_resp(a, 0, 200, "PUT aaa n=3 body=abcdef");
  assert_resp(c, 0, 200, "POST ccc n=3 body=c1c2");
  raw_free(a);
  raw_free(b);
  raw_free(c);
  env_close(&e);
}

/* The client goes away before the answer. A reset is seen at once: the
 * connection closes, the later answer gets TERN_ECLOSED and frees the
 * request (LSan checks). A plain close() is a FIN, which the server cannot
 * tell from a half-close: it answers (TERN_OK: the bytes are queued), then
 * closes; nothing leaks either way. */
static void async_gone(bool rst, bool stream) {
  env e;
  env_open(&e, NULL);
  assert_int_equal(tern_timer_new(tern_mgr_loop(e.m), &ga.timer, async_answer, NULL),
                   TERN_OK);
  raw *r = raw_open(e.m, e.port);
  if (stream) {
    assert_true(raw_sends(r, "GET /async-stream HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_true(raw_wait_bytes(r, "part1", 5000));
  } else {
    assert_true(raw_sends(r, "POST /async HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"));
    uint64_t end = tern_clock_ms() + 5000;
    while (ga.calls == 0 && tern_clock_ms() < end) raw_pump(r, 10);
  }
  assert_int_equal(ga.calls, 1);
  assert_non_null(ga.held);
  if (rst) raw_abort(r);
  raw_free(r);
  uint64_t end;
  if (rst) { /* the server sees the reset */
    end = tern_clock_ms() + 5000;
    while (stats_of(&e).conns_open > 0 && tern_clock_ms() < end)
      tern_loop_poll(tern_mgr_loop(e.m), 10);
    assert_int_equal(stats_of(&e).conns_open, 0);
  } else {
    run_for(e.m, 100); /* the FIN arrives */
  }
  /* now the handler answers, from a timer */
  tern_timer_start(ga.timer, 10, 0);
  end = tern_clock_ms() + 5000;
  while (ga.answered == 0 && tern_clock_ms() < end) tern_loop_poll(tern_mgr_loop(e.m), 10);
  assert_int_equal(ga.answered, 1);
  int want = rst ? TERN_ECLOSED : TERN_OK;
  if (stream && !rst) {
    /* the first bytes written after the FIN go out and the peer answers
     * them with a reset, so the write (its pieces are separate sends)
     * may already meet it: then it fails and the end says closed */
    if (ga.rc_write != TERN_OK) {
      assert_true(ga.rc_write == TERN_EPIPE || ga.rc_write == TERN_ECONNRESET ||
                  ga.rc_write == TERN_ECLOSED);
      assert_int_equal(ga.rc_end, TERN_ECLOSED);
    } else {
      assert_true(ga.rc_end == TERN_OK || ga.rc_end == TERN_ECLOSED ||
                  ga.rc_end == TERN_EPIPE || ga.rc_end == TERN_ECONNRESET);
    }
  } else if (stream) {
    assert_int_equal(ga.rc_write, want);
    assert_int_equal(ga.rc_end, want);
  } else {
    assert_int_equal(ga.rc_reply, want);
  }
  /* either way the connection is gone in the end */
  end = tern_clock_ms() + 5000;
  while (stats_of(&e).conns_open > 0 && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(e.m), 10);
  assert_int_equal(stats_of(&e).conns_open, 0);
  assert_serves(&e);
  env_close(&e);
}

static void test_async_client_gone(void **state) {
  (void)state;
  async_gone(false, false);
}

static void test_async_client_reset(void **state) {
  (void)state;
  async_gone(true, false);
}

static void test_async_stream_client_gone(void **state) {
  (void)state;
  async_gone(false, true);
}

static void test_async_stream_client_reset(void **state) {
  (void)state;
  async_gone(true, true);
}

/* Freeing the server while a handler holds a request, a streamer waits
 * for WRITABLE, a head is half there and a keep-alive connection idles:
 * the held request stays valid and its answer gets TERN_ECLOSED; the
 * streamer is told at once; nothing leaks. */
static void test_free_busy_server(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  assert_int_equal(tern_timer_new(tern_mgr_loop(e.m), &ga.timer, async_answer, NULL),
                   TERN_OK);
  gb.total = (size_t)1 << 30; /* never reached */
  raw *a = raw_open(e.m, e.port), *b = raw_open(e.m, e.port);
  raw *c = exchange(&e, HELLO), *d = raw_open(e.m, e.port);
  assert_true(raw_sends(a, "POST /async HTTP/1.1\r\nHost: t\r\nX-Tag: x\r\n"
                           "Content-Length: 2\r\n\r\nhi"));
  assert_true(raw_sends(b, "GET /hello HTTP/1.1\r\nHo"));
  assert_true(raw_sends(d, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  assert_true(raw_wait_bytes(d, "\r\n\r\n", 5000));
  raw_pause(d, true);
  uint64_t end = tern_clock_ms() + 10000;
  int calls = -1;
  while (tern_clock_ms() < end) { /* until the streamer waits */
    calls = gb.wcalls;
    run_for(e.m, 200);
    if (gb.wcalls == calls) break;
  }
  assert_int_equal(ga.calls, 1);
  assert_int_equal(gb.ended, 0);
  assert_int_equal(stats_of(&e).conns_open, 4);
  tern_http_server_free(e.s);
  e.s = NULL;
  assert_int_equal(gb.ended, 1);
  assert_int_equal(gb.write_rc, TERN_ECLOSED);
  assert_int_equal(gb.end_rc, TERN_ECLOSED);
  /* the held request is still readable, and answering it fails */
  assert_non_null(ga.held);
  assert_null(tern_http_req_conn(ga.held));
  assert_true(tern_str_eq(tern_http_header_get(tern_http_req_msg(ga.held), "X-Tag"), "x"));
  tern_timer_start(ga.timer, 10, 0);
  end = tern_clock_ms() + 5000;
  while (ga.answered == 0 && tern_clock_ms() < end) tern_loop_poll(tern_mgr_loop(e.m), 10);
  assert_int_equal(ga.answered, 1);
  assert_int_equal(ga.rc_reply, TERN_ECLOSED);
  /* every client sees its connection end */
  raw_pause(d, false);
  assert_true(raw_wait_closed(a, 5000));
  assert_true(raw_wait_closed(b, 5000));
  assert_true(raw_wait_closed(c, 5000));
  assert_true(raw_wait_closed(d, 5000));
  raw_free(a);
  raw_free(b);
  raw_free(c);
  raw_free(d);
  tern_timer_free(ga.timer);
  ga.timer = NULL;
  tern_mgr_free(e.m);
}

/* A 16 MiB chunked stream paced by tern_http_on_writable: the queue stays
 * short and every byte arrives in order. */
static void test_stream_backpressure(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  gb.total = 16u << 20;
  raw *r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  uint64_t end = tern_clock_ms() + 20000;
  while (!(r->len > 5 && memcmp(r->buf + r->len - 5, "0\r\n\r\n", 5) == 0) &&
         !raw_closed(r) && tern_clock_ms() < end)
    raw_pump(r, 10);
  raw_parse(r);
  assert_int_equal(r->nresp, 1);
  assert_resp(r, 0, 200, NULL);
  assert_true(r->resp[0].chunked);
  assert_int_equal(r->resp[0].body_len, gb.total);
  for (size_t i = 0; i < gb.total; i++)
    if (r->resp[0].body[i] != (uint8_t)i) fail_msg("byte %zu differs", i);
  assert_int_equal(gb.ended, 1);
  assert_int_equal(gb.end_rc, TERN_OK);
  assert_true(gb.wcalls > 1);
  assert_true(gb.max_queued < 65536 + sizeof(big_chunk) + 64);
  /* the connection goes on */
  assert_true(raw_sends(r, HELLO));
  assert_true(raw_wait_resp(r, 2, 5000));
  assert_resp(r, 1, 200, "hello");
  raw_free(r);
  env_close(&e);
}

/* The client stops reading, then goes away while the streamer waits for
 * WRITABLE: the streamer is told (its write fails with TERN_ECLOSED), ends
 * the response, and nothing leaks. */
static void test_stream_client_gone(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  gb.total = (size_t)1 << 30; /* never reached */
  raw *r = raw_open(e.m, e.port);
  assert_true(raw_sends(r, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  assert_true(raw_wait_bytes(r, "\r\n\r\n", 5000));
  raw_pause(r, true);
  /* run until the server has been waiting for a while */
  uint64_t end = tern_clock_ms() + 10000;
  int calls = -1;
  while (tern_clock_ms() < end) {
    calls = gb.wcalls;
    run_for(e.m, 200);
    if (gb.wcalls == calls) break;
  }
  assert_int_equal(gb.wcalls, calls); /* stuck: nobody reads */
  assert_int_equal(gb.ended, 0);
  raw_free(r); /* unread data: the kernel resets the connection */
  end = tern_clock_ms() + 5000;
  while (gb.ended == 0 && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(e.m), 10);
  assert_int_equal(gb.ended, 1);
  assert_int_equal(gb.write_rc, TERN_ECLOSED);
  assert_int_equal(gb.end_rc, TERN_ECLOSED);
  assert_serves(&e);
  env_close(&e);
}

/* ---- memory ------------------------------------------------------------- */

static size_t idle_mem(env *e, raw *r) {
  raw_idle(r, 50); /* let the response drain */
  tern_conn *c = tern_mgr_find(e->m, g.last_conn_id);
  assert_non_null(c);
  return tern_conn_mem(c);
}

static void test_idle_memory(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  raw *r = exchange(&e, HELLO);
  size_t mem = idle_mem(&e, r);
  fprintf(stderr, "idle keep-alive connection after one request: %zu bytes\n", mem);
  assert_true(mem < 1024);
  /* after a large body in and out, and after a pipelined pair */
  char *big = body_req(60000, false);
  assert_true(raw_sends(r, big));
  free(big);
  assert_true(raw_wait_resp(r, 2, 5000));
  assert_int_equal(r->resp[1].body_len, 60000);
  mem = idle_mem(&e, r);
  fprintf(stderr, "... after a 60000-byte echo: %zu bytes\n", mem);
  assert_true(mem < 1024);
  assert_true(raw_sends(r, HELLO HELLO));
  assert_true(raw_wait_resp(r, 4, 5000));
  mem = idle_mem(&e, r);
  assert_true(mem < 1024);
  /* after a chunked body that came in pieces */
  big = body_req(30000, true);
  size_t bl = strlen(big);
  assert_true(raw_send(r, big, bl / 2));
  raw_idle(r, 20);
  assert_true(raw_send(r, big + bl / 2, bl - bl / 2));
  free(big);
  assert_true(raw_wait_resp(r, 5, 5000));
  assert_int_equal(r->resp[4].body_len, 30000);
  mem = idle_mem(&e, r);
  assert_true(mem < 1024);
  raw_free(r);
  env_close(&e);
}

/* ---- byte-by-byte 2 KiB head ------------------------------------------ */

static void test_bytewise_big_head(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  char req[4096];
  size_t n = (size_t)sprintf(req, "GET /headers HTTP/1.1\r\nHost: t\r\n");
  for (int i = 0; i < 40; i++)
    n += (size_t)sprintf(req + n, "X-Hdr-%02d: value-%02d-abcdefghijklmnopqrstuvwxyz0123\r\n", i, i);
  n += (size_t)sprintf(req + n, "X-Last: end-of-head\r\n\r\n");
  assert_true(n >= 2048);
  raw *r = raw_open(e.m, e.port);
  assert_true(raw_send_bytewise(r, req, n));
  assert_true(raw_wait_resp(r, 1, 5000));
  assert_resp(r, 0, 200, "n=42 last=end-of-head");
  /* twice more on the same connection, pipelined, byte by byte */
  char two[8192];
  memcpy(two, req, n);
  memcpy(two + n, req, n);
  assert_true(raw_send_bytewise(r, two, 2 * n));
  assert_true(raw_wait_resp(r, 3, 5000));
  assert_resp(r, 1, 200, "n=42 last=end-of-head");
  assert_resp(r, 2, 200, "n=42 last=end-of-head");
  assert_int_equal(g.headers_calls, 3);
  raw_free(r);
  env_close(&e);
}

/* ---- connection cap ----------------------------------------------------- */

static void test_max_conns(void **state) {
  (void)state;
  env e;
  tern_http_opts o = {.max_conns = 1};
  env_open(&e, &o);
  raw *a = exchange(&e, HELLO);
  raw *b = raw_open(e.m, e.port); /* waits in the backlog */
  assert_true(raw_sends(b, HELLO));
  raw_idle(b, 200);
  assert_int_equal(b->len, 0);
  assert_int_equal(stats_of(&e).conns_accepted, 1);
  raw_free(a); /* its slot frees up: b is accepted and served */
  assert_true(raw_wait_resp(b, 1, 5000));
  assert_resp(b, 0, 200, "hello");
  raw_free(b);
  env_close(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_keepalive, setup),
      cmocka_unit_test_setup(test_keepalive_timeout, setup),
      cmocka_unit_test_setup(test_pipelining, setup),
      cmocka_unit_test_setup(test_chunked_request, setup),
      cmocka_unit_test_setup(test_streamed_response, setup),
      cmocka_unit_test_setup(test_expect_continue, setup),
      cmocka_unit_test_setup(test_head, setup),
      cmocka_unit_test_setup(test_absolute_form, setup),
      cmocka_unit_test_setup(test_routing, setup),
      cmocka_unit_test_setup(test_answer_once, setup),
      cmocka_unit_test_setup(test_refusals, setup),
      cmocka_unit_test_setup(test_refusals_bytewise, setup),
      cmocka_unit_test_setup(test_limits_at_creation, setup),
      cmocka_unit_test_setup(test_limits_set_opts, setup),
      cmocka_unit_test_setup(test_set_opts_open_conn, setup),
      cmocka_unit_test_setup(test_set_opts_in_handler, setup),
      cmocka_unit_test_setup(test_slow_client, setup),
      cmocka_unit_test_setup(test_async_reply, setup),
      cmocka_unit_test_setup(test_client_half_close, setup),
      cmocka_unit_test_setup(test_async_big_body, setup),
      cmocka_unit_test_setup(test_interleaved_conns, setup),
      cmocka_unit_test_setup(test_async_client_gone, setup),
      cmocka_unit_test_setup(test_async_client_reset, setup),
      cmocka_unit_test_setup(test_async_stream_client_gone, setup),
      cmocka_unit_test_setup(test_async_stream_client_reset, setup),
      cmocka_unit_test_setup(test_free_busy_server, setup),
      cmocka_unit_test_setup(test_stream_backpressure, setup),
      cmocka_unit_test_setup(test_stream_client_gone, setup),
      cmocka_unit_test_setup(test_idle_memory, setup),
      cmocka_unit_test_setup(test_bytewise_big_head, setup),
      cmocka_unit_test_setup(test_max_conns, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
