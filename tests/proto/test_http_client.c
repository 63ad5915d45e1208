/* test_http_client.c: the HTTP/1.1 client (tern/http.h) against a
 * tern_http_server in the same manager, and against small raw servers
 * written with tern_listen for what a tern server would never send.
 *
 * GET, HEAD, 204; POST and PUT with Content-Length and chunked bodies
 * (the server echoes them); a 1 MiB chunked response streamed in BODY
 * events; keep-alive reuse (one connection for sequential fetches, also
 * one started from a DONE callback), and a new one once the server closed
 * the idle one; a reused connection the server closed gets one retry, a
 * fresh one none; close-delimited responses; 1xx skipped; the exchange
 * timeout; redirect chains (followed, cut at max_redirects, not followed
 * with no_redirects); connection refused; synchronous failures that fire
 * nothing; tern_http_client_free with fetches pending. Every fetch gets
 * exactly one of DONE/FAILED, last, and never from inside tern_http_fetch.
 */
#include "http_test.h"

/* ---- what a fetch saw --------------------------------------------------- */

typedef struct fetch_rec {
  int responses, bodies, done, failed;
  int after_end;       /* events after DONE/FAILED: must stay 0 */
  int in_fetch;        /* events from inside tern_http_fetch: must stay 0 */
  int out_of_order;    /* BODY before RESPONSE, or the head changed */
  int err, status;
  bool keep_alive;
  char location[256], x_method[32], x_framing[32], content_length[32];
  uint8_t *body;
  size_t body_len, body_cap;
  int pattern;         /* 1: byte i must be (uint8_t)i; 2: (uint8_t)(i * 7) */
  size_t pattern_bad;
  uint64_t started, ended;
  /* chain: start this fetch from the DONE callback */
  tern_http_client *chain_cl;
  const tern_http_request *chain_req;
  struct fetch_rec *chain_rec;
  int chain_rc;
} fetch_rec;

static int g_in_fetch;

static void copy_hdr(const tern_http_msg *m, const char *name, char *out,
                     size_t n) {
  tern_str v = tern_http_header_get(m, name);
  size_t k = v.len < n - 1 ? v.len : n - 1;
  if (k) memcpy(out, v.ptr, k);
  out[k] = '\0';
}

static bool hdr_is(const tern_http_msg *m, const char *name, const char *want) {
  tern_str v = tern_http_header_get(m, name);
  return v.len == strlen(want) && (v.len == 0 || memcmp(v.ptr, want, v.len) == 0);
}

static int start_fetch(tern_http_client *cl, const tern_http_request *req,
                       fetch_rec *f);

static void fetch_cb(tern_http_client_ev ev, const tern_http_result *res,
                     void *ud) {
  fetch_rec *f = ud;
  if (g_in_fetch) f->in_fetch++;
  if (f->done || f->failed) f->after_end++;
  switch (ev) {
    case TERN_HTTP_RESPONSE:
      f->responses++;
      assert_non_null(res->msg);
      f->status = res->msg->status;
      f->keep_alive = res->msg->keep_alive;
      copy_hdr(res->msg, "Location", f->location, sizeof(f->location));
      copy_hdr(res->msg, "X-Method", f->x_method, sizeof(f->x_method));
      copy_hdr(res->msg, "X-Framing", f->x_framing, sizeof(f->x_framing));
      copy_hdr(res->msg, "Content-Length", f->content_length,
               sizeof(f->content_length));
      break;
    case TERN_HTTP_BODY:
      f->bodies++;
      if (f->responses != 1 || res->msg == NULL || res->msg->status != f->status)
        f->out_of_order++;
      assert_true(res->len > 0);
      for (size_t i = 0; f->pattern && i < res->len; i++) {
        size_t at = f->body_len + i;
        uint8_t want = f->pattern == 1 ? (uint8_t)at : (uint8_t)(at * 7);
        if (res->data[i] != want) f->pattern_bad++;
      }
      if (!f->pattern) {
        if (f->body_len + res->len + 1 > f->body_cap) {
          f->body_cap = (f->body_len + res->len + 1) * 2;
          f->body = realloc(f->body, f->body_cap);
          assert_non_null(f->body);
        }
        memcpy(f->body + f->body_len, res->data, res->len);
        f->body[f->body_len + res->len] = 0;
      }
      f->body_len += res->len;
      break;
    case TERN_HTTP_DONE:
      f->done++;
      f->ended = tern_clock_ms();
      /* the head is still there, unchanged, at the end */
      if (res->msg == NULL || res->msg->status != f->status ||
          !hdr_is(res->msg, "X-Method", f->x_method) ||
          !hdr_is(res->msg, "Location", f->location))
        f->out_of_order++;
      if (f->chain_req)
        f->chain_rc = start_fetch(f->chain_cl, f->chain_req, f->chain_rec);
      break;
    case TERN_HTTP_FAILED:
      f->failed++;
      f->err = res->err;
      f->ended = tern_clock_ms();
      break;
  }
}

static int start_fetch(tern_http_client *cl, const tern_http_request *req,
                       fetch_rec *f) {
  f->started = tern_clock_ms();
  int was = g_in_fetch;
  g_in_fetch = 1;
  int rc = tern_http_fetch(cl, req, fetch_cb, f);
  g_in_fetch = was;
  return rc;
}

static void rec_free(fetch_rec *f) {
  free(f->body);
  f->body = NULL;
}

static int cond_ended(void *arg) {
  fetch_rec *f = arg;
  return f->done + f->failed > 0;
}

/* Wait for the end of the fetch and check the event rules. */
static void wait_end(tern_mgr *m, fetch_rec *f) {
  assert_true(run_until(m, cond_ended, f, 10000));
  assert_int_equal(f->done + f->failed, 1);
  assert_int_equal(f->after_end, 0);
  assert_int_equal(f->in_fetch, 0);
  assert_int_equal(f->out_of_order, 0);
}

static void expect_done(tern_mgr *m, fetch_rec *f, int status,
                        const char *body) {
  wait_end(m, f);
  if (f->failed)
    fprintf(stderr, "fetch failed: %s\n", tern_err_name(f->err));
  assert_int_equal(f->done, 1);
  assert_int_equal(f->responses, 1);
  assert_int_equal(f->status, status);
  if (body != NULL) {
    assert_int_equal(f->body_len, strlen(body));
    if (f->body_len) assert_memory_equal(f->body, body, f->body_len);
  }
}

static void expect_failed(tern_mgr *m, fetch_rec *f, int err) {
  wait_end(m, f);
  assert_int_equal(f->failed, 1);
  if (f->err != err)
    fprintf(stderr, "failed with %s, wanted %s\n", tern_err_name(f->err),
            tern_err_name(err));
  assert_int_equal(f->err, err);
}

/* ---- the tern server ---------------------------------------------------- */

static uint16_t g_port;

static void h_hello(tern_http_req *r, void *ud) {
  (void)ud;
  tern_http_reply(r, 200, "X-Method: GET\r\n", "hello", 5);
}

/* The request-target as the server got it, and the Host header. */
static void h_target(tern_http_req *r, void *ud) {
  (void)ud;
  const tern_http_msg *m = tern_http_req_msg(r);
  tern_str host = tern_http_header_get(m, "Host");
  char out[512];
  int n = snprintf(out, sizeof(out), "%.*s %.*s host=%.*s", (int)m->method.len,
                   m->method.ptr, (int)m->target.len, m->target.ptr,
                   (int)host.len, host.ptr);
  tern_http_reply(r, 200, NULL, out, (size_t)n);
}

static void h_nocontent(tern_http_req *r, void *ud) {
  (void)ud;
  tern_http_reply(r, 204, NULL, NULL, 0);
}

static void h_echo(tern_http_req *r, void *ud) {
  (void)ud;
  const tern_http_msg *m = tern_http_req_msg(r);
  tern_str b = tern_http_req_body(r);
  char hdr[256];
  snprintf(hdr, sizeof(hdr), "X-Method: %.*s\r\nX-Framing: %s\r\n",
           (int)m->method.len, m->method.ptr,
           m->chunked ? "chunked" : m->content_length >= 0 ? "length" : "none");
  tern_http_reply(r, 200, hdr, b.ptr, b.len);
}

/* /r/<k>/<n>: 302 to k+1 until n (odd hops absolute URLs), then 200. */
static void h_redirect(tern_http_req *r, void *ud) {
  (void)ud;
  const tern_http_msg *m = tern_http_req_msg(r);
  char path[64];
  int k, n;
  snprintf(path, sizeof(path), "%.*s", (int)m->path.len, m->path.ptr);
  assert_int_equal(sscanf(path, "/r/%d/%d", &k, &n), 2);
  char hdr[160], body[32];
  int bl = snprintf(body, sizeof(body), "end %d", k);
  if (k >= n) {
    tern_http_reply(r, 200, NULL, body, (size_t)bl);
    return;
  }
  if (k % 2)
    snprintf(hdr, sizeof(hdr), "Location: http://127.0.0.1:%u/r/%d/%d\r\n",
             g_port, k + 1, n);
  else
    snprintf(hdr, sizeof(hdr), "Location: /r/%d/%d\r\n", k + 1, n);
  tern_http_reply(r, 302, hdr, "moved", 5);
}

typedef struct big_st {
  size_t sent, total;
  int wcalls;
} big_st;

static big_st gb;
static uint8_t big_chunk[16384]; /* byte i is (uint8_t)i */

static void big_more(tern_http_req *r, void *ud) {
  (void)ud;
  gb.wcalls++;
  while (gb.sent < gb.total) {
    if (tern_http_queued(r) >= 65536) {
      tern_http_on_writable(r, big_more, NULL);
      return;
    }
    size_t n = gb.total - gb.sent < sizeof(big_chunk) ? gb.total - gb.sent
                                                      : sizeof(big_chunk);
    if (tern_http_write(r, big_chunk, n) != TERN_OK) break;
    gb.sent += n;
  }
  tern_http_on_writable(r, NULL, NULL);
  tern_http_end(r);
}

static void h_big(tern_http_req *r, void *ud) {
  (void)ud;
  for (size_t i = 0; i < sizeof(big_chunk); i++) big_chunk[i] = (uint8_t)i;
  gb.sent = 0;
  tern_http_begin(r, 200, NULL, -1);
  big_more(r, NULL);
}

typedef struct env {
  tern_mgr *m;
  tern_http_server *s;
  tern_http_client *cl;
  uint16_t port;
  char base[64]; /* "http://127.0.0.1:PORT" */
} env;

static void env_open(env *e, const tern_http_opts *o) {
  memset(e, 0, sizeof(*e));
  assert_int_equal(tern_mgr_new(&e->m, NULL), TERN_OK);
  assert_int_equal(tern_http_server_new(e->m, "tcp://127.0.0.1:0", o, &e->s), TERN_OK);
  e->port = g_port = srv_port(e->s);
  snprintf(e->base, sizeof(e->base), "http://127.0.0.1:%u", e->port);
  assert_int_equal(tern_http_route(e->s, "GET", "/hello", h_hello, NULL), TERN_OK);
  assert_int_equal(tern_http_route(e->s, "GET", "/nocontent", h_nocontent, NULL), TERN_OK);
  assert_int_equal(tern_http_route(e->s, NULL, "/echo", h_echo, NULL), TERN_OK);
  assert_int_equal(tern_http_route(e->s, "GET", "/r/*", h_redirect, NULL), TERN_OK);
  assert_int_equal(tern_http_route(e->s, "GET", "/big", h_big, NULL), TERN_OK);
  assert_int_equal(tern_http_route(e->s, NULL, "/t/*", h_target, NULL), TERN_OK);
  assert_int_equal(tern_http_route(e->s, NULL, "/", h_target, NULL), TERN_OK);
  assert_int_equal(tern_http_client_new(e->m, &e->cl), TERN_OK);
}

static void env_close(env *e) {
  tern_http_client_free(e->cl);
  tern_http_server_free(e->s);
  tern_mgr_free(e->m);
}

static tern_http_stats stats_of(env *e) {
  tern_http_stats st;
  tern_http_server_stats(e->s, &st);
  return st;
}

static char g_url[8][256];
static int g_url_k;

static const char *url(env *e, const char *path) {
  char *u = g_url[g_url_k++ & 7];
  snprintf(u, sizeof(g_url[0]), "%s%s", e->base, path);
  return u;
}

static int setup(void **state) {
  (void)state;
  memset(&gb, 0, sizeof(gb));
  g_in_fetch = 0;
  return 0;
}

/* ---- raw servers (tern_listen): what a tern server would not send ---- */

typedef struct rawsrv rawsrv;
typedef struct rawconn {
  rawsrv *srv;
  int requests;
} rawconn;

struct rawsrv {
  tern_conn *l;
  uint16_t port;
  char url[64];
  const char *reply; /* NULL: never answer */
  size_t extra;      /* then this many bytes, byte i = (uint8_t)(i * 7) */
  bool close_after;  /* close once answered */
  int drop_nth;      /* close without answering the nth request on a conn */
  int accepts, requests, closes;
  rawconn conns[32];
};

static void rawsrv_fn(tern_conn *c, const tern_event *ev, void *ud) {
  if (tern_conn_is_listener(c)) return;
  if (ev->type == TERN_EV_ACCEPT) {
    rawsrv *s = ud;
    assert_true(s->accepts < 32);
    rawconn *rc = &s->conns[s->accepts++];
    rc->srv = s;
    tern_conn_set_data(c, rc);
    return;
  }
  if (ev->type == TERN_EV_OPEN) return; /* ud is still the server's */
  rawconn *rc = ud;
  rawsrv *s = rc->srv;
  if (ev->type == TERN_EV_CLOSE) {
    s->closes++;
    return;
  }
  if (ev->type != TERN_EV_READ) return;
  for (;;) {
    size_t len;
    const uint8_t *p = tern_conn_rx(c, &len);
    const uint8_t *e = len ? memmem(p, len, "\r\n\r\n", 4) : NULL;
    if (e == NULL) return;
    size_t n = (size_t)(e - p) + 4;
    const uint8_t *cl = memmem(p, n, "Content-Length: ", 16);
    if (cl) n += (size_t)strtoul((const char *)cl + 16, NULL, 10);
    if (len < n) return;
    tern_conn_consume(c, n);
    s->requests++;
    rc->requests++;
    if (rc->requests == s->drop_nth) {
      tern_close(c);
      return;
    }
    if (s->reply == NULL) continue;
    assert_int_equal(tern_send(c, s->reply, strlen(s->reply)), TERN_OK);
    if (s->extra) {
      uint8_t *b = malloc(s->extra);
      assert_non_null(b);
      for (size_t i = 0; i < s->extra; i++) b[i] = (uint8_t)(i * 7);
      assert_int_equal(tern_send(c, b, s->extra), TERN_OK);
      free(b);
    }
    if (s->close_after) {
      tern_close(c);
      return;
    }
  }
}

static void rawsrv_open(tern_mgr *m, rawsrv *s) {
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rawsrv_fn, s, &s->l), TERN_OK);
  s->port = tern_conn_local(s->l)->port;
  snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/x", s->port);
}

/* ---- tests -------------------------------------------------------------- */

static void test_get(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  fetch_rec f = {0};
  tern_http_request req = {.url = url(&e, "/hello")};
  assert_int_equal(start_fetch(e.cl, &req, &f), TERN_OK);
  assert_int_equal(f.responses + f.done + f.failed, 0); /* nothing yet */
  expect_done(e.m, &f, 200, "hello");
  assert_string_equal(f.x_method, "GET");
  assert_string_equal(f.content_length, "5");
  assert_true(f.keep_alive);
  /* 404 is a response like any other */
  fetch_rec g = {0};
  req.url = url(&e, "/nope?x=1");
  assert_int_equal(start_fetch(e.cl, &req, &g), TERN_OK);
  expect_done(e.m, &g, 404, "not found\n");
  /* the request line and Host the server saw: path and query as given,
   * "/" for a URL without a path */
  fetch_rec t1 = {0}, t2 = {0}, t3 = {0};
  char want[160];
  req.url = url(&e, "/t/a%20b?x=1&y=%2F");
  assert_int_equal(start_fetch(e.cl, &req, &t1), TERN_OK);
  snprintf(want, sizeof(want), "GET /t/a%%20b?x=1&y=%%2F host=127.0.0.1:%u", e.port);
  expect_done(e.m, &t1, 200, want);
  req.url = url(&e, "");
  assert_int_equal(start_fetch(e.cl, &req, &t2), TERN_OK);
  snprintf(want, sizeof(want), "GET / host=127.0.0.1:%u", e.port);
  expect_done(e.m, &t2, 200, want);
  req = (tern_http_request){.method = "OPTIONS", .url = url(&e, "/t/o"),
                            .headers = "X-A: 1\r\nX-B: 2\r\n"};
  assert_int_equal(start_fetch(e.cl, &req, &t3), TERN_OK);
  snprintf(want, sizeof(want), "OPTIONS /t/o host=127.0.0.1:%u", e.port);
  expect_done(e.m, &t3, 200, want);
  rec_free(&f);
  rec_free(&g);
  rec_free(&t1);
  rec_free(&t2);
  rec_free(&t3);
  env_close(&e);
}

static int have_ipv6(void) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
  int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
  close(fd);
  return ok;
}

/* An IPv6 literal: brackets in the URL, in Host, and in the connect. */
static void test_ipv6(void **state) {
  (void)state;
  if (!have_ipv6()) {
    fprintf(stderr, "SKIP: no IPv6 loopback on this machine\n");
    skip();
  }
  tern_mgr *m;
  tern_http_server *s;
  tern_http_client *cl;
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  assert_int_equal(tern_http_server_new(m, "tcp://[::1]:0", NULL, &s), TERN_OK);
  assert_int_equal(tern_http_route(s, NULL, "/t/*", h_target, NULL), TERN_OK);
  assert_int_equal(tern_http_client_new(m, &cl), TERN_OK);
  char u[96], want[96];
  snprintf(u, sizeof(u), "http://[::1]:%u/t/six", srv_port(s));
  snprintf(want, sizeof(want), "GET /t/six host=[::1]:%u", srv_port(s));
  tern_http_request req = {.url = u};
  fetch_rec f = {0};
  assert_int_equal(start_fetch(cl, &req, &f), TERN_OK);
  expect_done(m, &f, 200, want);
  rec_free(&f);
  tern_http_client_free(cl);
  tern_http_server_free(s);
  tern_mgr_free(m);
}

/* HEAD and 204 have no body; the connection stays good for the next. */
static void test_bodyless(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  fetch_rec f = {0}, g = {0}, h = {0};
  tern_http_request req = {.method = "HEAD", .url = url(&e, "/hello")};
  assert_int_equal(start_fetch(e.cl, &req, &f), TERN_OK);
  expect_done(e.m, &f, 200, "");
  assert_string_equal(f.content_length, "5");
  assert_int_equal(f.bodies, 0);
  req = (tern_http_request){.url = url(&e, "/nocontent")};
  assert_int_equal(start_fetch(e.cl, &req, &g), TERN_OK);
  expect_done(e.m, &g, 204, "");
  req = (tern_http_request){.url = url(&e, "/hello")};
  assert_int_equal(start_fetch(e.cl, &req, &h), TERN_OK);
  expect_done(e.m, &h, 200, "hello");
  assert_int_equal(tern_http_client_conns(e.cl), 1);
  assert_int_equal(stats_of(&e).conns_accepted, 1);
  rec_free(&f);
  rec_free(&g);
  rec_free(&h);
  env_close(&e);
}

static void test_post_put(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  size_t big_len = 100000;
  char *big = malloc(big_len + 1);
  assert_non_null(big);
  for (size_t i = 0; i < big_len; i++) big[i] = (char)('a' + i % 26);
  big[big_len] = 0;
  static const char *methods[] = {"POST", "PUT"};
  for (int mi = 0; mi < 2; mi++) {
    for (int chunked = 0; chunked < 2; chunked++) {
      const char *bodies[] = {"payload", "", big};
      for (int bi = 0; bi < 3; bi++) {
        fetch_rec f = {0};
        tern_http_request req = {.method = methods[mi],
                                 .url = url(&e, "/echo"),
                                 .headers = "X-Extra: 1\r\n",
                                 .body = bodies[bi],
                                 .body_len = strlen(bodies[bi]),
                                 .chunked = chunked};
        assert_int_equal(start_fetch(e.cl, &req, &f), TERN_OK);
        expect_done(e.m, &f, 200, bodies[bi]);
        assert_string_equal(f.x_method, methods[mi]);
        assert_string_equal(f.x_framing, chunked ? "chunked" : "length");
        rec_free(&f);
      }
    }
  }
  /* the caller's strings may go away once fetch returns: they were copied */
  char *ubuf = strdup(url(&e, "/echo")), *bbuf = strdup("copied body");
  char *mbuf = strdup("PUT");
  fetch_rec f = {0};
  tern_http_request req = {.method = mbuf, .url = ubuf, .body = bbuf,
                           .body_len = strlen(bbuf)};
  assert_int_equal(start_fetch(e.cl, &req, &f), TERN_OK);
  memset(ubuf, 'x', strlen(ubuf));
  memset(bbuf, 'x', strlen(bbuf));
  free(ubuf);
  free(bbuf);
  free(mbuf);
  expect_done(e.m, &f, 200, "copied body");
  assert_string_equal(f.x_method, "PUT");
  rec_free(&f);
  /* all on one connection */
  assert_int_equal(tern_http_client_conns(e.cl), 1);
  assert_int_equal(stats_of(&e).conns_accepted, 1);
  free(big);
  env_close(&e);
}

static void test_stream_1mib(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  gb.total = 1u << 20;
  fetch_rec f = {.pattern = 1};
  tern_http_request req = {.url = url(&e, "/big")};
  assert_int_equal(start_fetch(e.cl, &req, &f), TERN_OK);
  expect_done(e.m, &f, 200, NULL);
  assert_int_equal(f.body_len, 1u << 20);
  assert_int_equal(f.pattern_bad, 0);
  assert_true(f.bodies > 1);
  /* the connection is reused after a chunked response */
  fetch_rec g = {0};
  req.url = url(&e, "/hello");
  assert_int_equal(start_fetch(e.cl, &req, &g), TERN_OK);
  expect_done(e.m, &g, 200, "hello");
  assert_int_equal(stats_of(&e).conns_accepted, 1);
  rec_free(&f);
  rec_free(&g);
  env_close(&e);
}

static void test_keepalive_reuse(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  tern_http_request req = {.url = url(&e, "/hello")};
  fetch_rec a = {0}, b = {0}, c = {0};
  assert_int_equal(start_fetch(e.cl, &req, &a), TERN_OK);
  expect_done(e.m, &a, 200, "hello");
  assert_int_equal(tern_http_client_conns(e.cl), 1);
  /* the second one, started from the test, and a third started from the
   * second's DONE callback */
  b.chain_cl = e.cl;
  b.chain_req = &req;
  b.chain_rec = &c;
  assert_int_equal(start_fetch(e.cl, &req, &b), TERN_OK);
  expect_done(e.m, &b, 200, "hello");
  assert_int_equal(b.chain_rc, TERN_OK);
  expect_done(e.m, &c, 200, "hello");
  assert_int_equal(tern_http_client_conns(e.cl), 1);
  tern_http_stats st = stats_of(&e);
  assert_int_equal(st.conns_accepted, 1);
  assert_int_equal(st.requests, 3);
  /* two at once need two connections; both stay for reuse */
  fetch_rec d = {0}, f = {0};
  assert_int_equal(start_fetch(e.cl, &req, &d), TERN_OK);
  assert_int_equal(start_fetch(e.cl, &req, &f), TERN_OK);
  expect_done(e.m, &d, 200, "hello");
  expect_done(e.m, &f, 200, "hello");
  assert_int_equal(tern_http_client_conns(e.cl), 2);
  assert_int_equal(stats_of(&e).conns_accepted, 2);
  rec_free(&a);
  rec_free(&b);
  rec_free(&c);
  rec_free(&d);
  rec_free(&f);
  env_close(&e);
}

static int cond_no_conns(void *arg) {
  env *e = arg;
  return tern_http_client_conns(e->cl) == 0 && stats_of(e).conns_open == 0;
}

/* The server closes the idle connection (keepalive_ms): the client drops
 * it from its pool and the next fetch connects again. */
static void test_server_closes_idle(void **state) {
  (void)state;
  env e;
  tern_http_opts o = {.keepalive_ms = 150};
  env_open(&e, &o);
  tern_http_request req = {.url = url(&e, "/hello")};
  fetch_rec a = {0}, b = {0};
  assert_int_equal(start_fetch(e.cl, &req, &a), TERN_OK);
  expect_done(e.m, &a, 200, "hello");
  assert_true(run_until(e.m, cond_no_conns, &e, 5000));
  assert_int_equal(start_fetch(e.cl, &req, &b), TERN_OK);
  expect_done(e.m, &b, 200, "hello");
  assert_int_equal(stats_of(&e).conns_accepted, 2);
  rec_free(&a);
  rec_free(&b);
  env_close(&e);
}

/* A reused connection the server closes without answering (the race with
 * its keep-alive timeout): one retry on a new connection. */
static void test_retry_reused(void **state) {
  (void)state;
  tern_mgr *m;
  tern_http_client *cl;
  rawsrv s = {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .drop_nth = 2};
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rawsrv_open(m, &s);
  assert_int_equal(tern_http_client_new(m, &cl), TERN_OK);
  tern_http_request req = {.url = s.url};
  fetch_rec a = {0}, b = {0};
  assert_int_equal(start_fetch(cl, &req, &a), TERN_OK);
  expect_done(m, &a, 200, "ok");
  assert_int_equal(start_fetch(cl, &req, &b), TERN_OK);
  expect_done(m, &b, 200, "ok");
  assert_int_equal(s.accepts, 2);
  assert_int_equal(s.requests, 3);
  rec_free(&a);
  rec_free(&b);
  tern_http_client_free(cl);
  tern_mgr_free(m);
}

/* A fresh connection closed without an answer is not retried (the server
 * may have acted on the request: RFC 9110 9.2.2). */
static void test_no_retry_fresh(void **state) {
  (void)state;
  tern_mgr *m;
  tern_http_client *cl;
  rawsrv s = {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .drop_nth = 1};
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rawsrv_open(m, &s);
  assert_int_equal(tern_http_client_new(m, &cl), TERN_OK);
  tern_http_request req = {.method = "POST", .url = s.url, .body = "once", .body_len = 4};
  fetch_rec a = {0};
  assert_int_equal(start_fetch(cl, &req, &a), TERN_OK);
  expect_failed(m, &a, TERN_ECONNRESET);
  assert_int_equal(a.responses, 0);
  run_for(m, 100);
  assert_int_equal(s.accepts, 1);
  assert_int_equal(s.requests, 1);
  rec_free(&a);
  tern_http_client_free(cl);
  tern_mgr_free(m);
}

/* Responses delimited by the close of the connection (HTTP/1.0 style,
 * and 1.1 with Connection: close and no length); a 1xx is skipped. */
static void test_close_delimited(void **state) {
  (void)state;
  static const char *heads[] = {
      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
  };
  for (int i = 0; i < 3; i++) {
    tern_mgr *m;
    tern_http_client *cl;
    rawsrv s = {.reply = heads[i], .extra = 100000, .close_after = true};
    assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
    rawsrv_open(m, &s);
    assert_int_equal(tern_http_client_new(m, &cl), TERN_OK);
    tern_http_request req = {.url = s.url};
    fetch_rec a = {.pattern = 2};
    assert_int_equal(start_fetch(cl, &req, &a), TERN_OK);
    expect_done(m, &a, 200, NULL);
    assert_false(a.keep_alive);
    assert_int_equal(a.body_len, 100000);
    assert_int_equal(a.pattern_bad, 0);
    /* not kept for reuse */
    uint64_t end = tern_clock_ms() + 5000;
    while (tern_http_client_conns(cl) > 0 && tern_clock_ms() < end)
      tern_loop_poll(tern_mgr_loop(m), 10);
    assert_int_equal(tern_http_client_conns(cl), 0);
    rec_free(&a);
    tern_http_client_free(cl);
    tern_mgr_free(m);
  }
}

/* A chunked response with extensions and trailers; the connection is
 * reused after it. */
static void test_chunked_trailers(void **state) {
  (void)state;
  tern_mgr *m;
  tern_http_client *cl;
  rawsrv s = {.reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5;x=y\r\nhello\r\n6;q=\"a b\"\r\n world\r\n0\r\n"
                       "X-T: 1\r\nX-U: 2\r\n\r\n"};
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rawsrv_open(m, &s);
  assert_int_equal(tern_http_client_new(m, &cl), TERN_OK);
  tern_http_request req = {.url = s.url};
  fetch_rec a = {0}, b = {0};
  assert_int_equal(start_fetch(cl, &req, &a), TERN_OK);
  expect_done(m, &a, 200, "hello world");
  assert_int_equal(start_fetch(cl, &req, &b), TERN_OK);
  expect_done(m, &b, 200, "hello world");
  assert_int_equal(s.accepts, 1);
  rec_free(&a);
  rec_free(&b);
  tern_http_client_free(cl);
  tern_mgr_free(m);
}

/* Broken responses fail the fetch, and the connection is not reused. */
static void test_bad_responses(void **state) {
  (void)state;
  static const struct {
    const char *reply;
    bool close_after;
    int err;
    int responses; /* RESPONSE events before the failure */
  } bad[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", false,
       TERN_EPROTO, 0},
      {"SSH-2.0-OpenSSH_9.6\r\n\r\n", false, TERN_EPROTO, 0},
      {"HTTP/1.1 99 Too Low\r\n\r\n", false, TERN_EPROTO, 0},
      {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", false, TERN_EPROTO, 0},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false,
       TERN_EPROTO, 1},
      /* cut short: fewer bytes than Content-Length, a chunked body
       * without its last chunk, a head without its end */
      {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..", true,
       TERN_ECONNRESET, 1},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", true,
       TERN_ECONNRESET, 1},
      {"HTTP/1.1 200 OK\r\nContent-Le", true, TERN_ECONNRESET, 0},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    tern_mgr *m;
    tern_http_client *cl;
    rawsrv s = {.reply = bad[i].reply, .close_after = bad[i].close_after};
    assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
    rawsrv_open(m, &s);
    assert_int_equal(tern_http_client_new(m, &cl), TERN_OK);
    tern_http_request req = {.url = s.url};
    fetch_rec a = {0};
    assert_int_equal(start_fetch(cl, &req, &a), TERN_OK);
    wait_end(m, &a);
    if (a.failed != 1 || a.err != bad[i].err)
      fprintf(stderr, "bad response %zu: done %d failed %d (%s)\n", i, a.done,
              a.failed, tern_err_name(a.err));
    assert_int_equal(a.failed, 1);
    assert_int_equal(a.err, bad[i].err);
    assert_int_equal(a.responses, bad[i].responses);
    uint64_t end = tern_clock_ms() + 5000;
    while (tern_http_client_conns(cl) > 0 && tern_clock_ms() < end)
      tern_loop_poll(tern_mgr_loop(m), 10);
    assert_int_equal(tern_http_client_conns(cl), 0);
    assert_int_equal(s.requests, 1); /* not retried */
    rec_free(&a);
    tern_http_client_free(cl);
    tern_mgr_free(m);
  }
}

/* A response head over max_response_head fails the fetch. */
static void test_response_head_limit(void **state) {
  (void)state;
  tern_mgr *m;
  tern_http_client *cl;
  static char reply[2048];
  int n = snprintf(reply, sizeof(reply), "HTTP/1.1 200 OK\r\nX-Big: ");
  memset(reply + n, 'v', 600);
  snprintf(reply + n + 600, sizeof(reply) - (size_t)n - 600,
           "\r\nContent-Length: 2\r\n\r\nok");
  rawsrv s = {.reply = reply};
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rawsrv_open(m, &s);
  assert_int_equal(tern_http_client_new(m, &cl), TERN_OK);
  tern_http_request req = {.url = s.url, .max_response_head = 512};
  fetch_rec a = {0}, b = {0};
  assert_int_equal(start_fetch(cl, &req, &a), TERN_OK);
  expect_failed(m, &a, TERN_EPROTO);
  req.max_response_head = 1024; /* big enough */
  assert_int_equal(start_fetch(cl, &req, &b), TERN_OK);
  expect_done(m, &b, 200, "ok");
  rec_free(&a);
  rec_free(&b);
  tern_http_client_free(cl);
  tern_mgr_free(m);
}

/* A server that never answers: FAILED with TERN_ETIMEDOUT after
 * timeout_ms, and the connection is let go. */
static void test_timeout(void **state) {
  (void)state;
  tern_mgr *m;
  tern_http_client *cl;
  rawsrv s = {0};
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rawsrv_open(m, &s);
  assert_int_equal(tern_http_client_new(m, &cl), TERN_OK);
  tern_http_request req = {.url = s.url, .timeout_ms = 300};
  fetch_rec a = {0};
  assert_int_equal(start_fetch(cl, &req, &a), TERN_OK);
  expect_failed(m, &a, TERN_ETIMEDOUT);
  uint64_t took = a.ended - a.started;
  assert_true(took >= 250);
  assert_true(took < 5000);
  assert_int_equal(a.responses, 0);
  assert_int_equal(s.requests, 1);
  uint64_t end = tern_clock_ms() + 5000;
  while ((tern_http_client_conns(cl) > 0 || s.closes == 0) && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(m), 10);
  assert_int_equal(tern_http_client_conns(cl), 0);
  assert_int_equal(s.closes, 1);
  rec_free(&a);
  tern_http_client_free(cl);
  tern_mgr_free(m);
}

static void test_redirects(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  /* a chain of 3 is followed to the end */
  fetch_rec a = {0};
  tern_http_request req = {.url = url(&e, "/r/0/3")};
  assert_int_equal(start_fetch(e.cl, &req, &a), TERN_OK);
  expect_done(e.m, &a, 200, "end 3");
  assert_int_equal(stats_of(&e).requests, 4);
  /* a chain of 7 with max_redirects 5: the 6th response, a 302, is
   * delivered as it is */
  fetch_rec b = {0};
  req = (tern_http_request){.url = url(&e, "/r/0/7"), .max_redirects = 5};
  assert_int_equal(start_fetch(e.cl, &req, &b), TERN_OK);
  expect_done(e.m, &b, 302, "moved");
  char want[96];
  snprintf(want, sizeof(want), "%s/r/6/7", e.base); /* odd hops: absolute */
  assert_string_equal(b.location, want);
  assert_int_equal(stats_of(&e).requests, 4 + 6);
  /* the default limit is 5 as well */
  fetch_rec c = {0};
  req = (tern_http_request){.url = url(&e, "/r/0/7")};
  assert_int_equal(start_fetch(e.cl, &req, &c), TERN_OK);
  expect_done(e.m, &c, 302, "moved");
  assert_string_equal(c.location, want);
  /* no_redirects: the first 3xx */
  fetch_rec d = {0};
  req = (tern_http_request){.url = url(&e, "/r/0/3"), .no_redirects = true};
  assert_int_equal(start_fetch(e.cl, &req, &d), TERN_OK);
  expect_done(e.m, &d, 302, "moved");
  assert_string_equal(d.location, "/r/1/3");
  /* max_redirects 1: one hop (to an absolute URL), then the 302 */
  fetch_rec f = {0};
  req = (tern_http_request){.url = url(&e, "/r/1/3"), .max_redirects = 1};
  assert_int_equal(start_fetch(e.cl, &req, &f), TERN_OK);
  expect_done(e.m, &f, 302, "moved");
  assert_string_equal(f.location, "/r/3/3");
  /* POST is not redirected */
  fetch_rec h = {0};
  tern_http_route(e.s, "POST", "/r/*", h_redirect, NULL);
  req = (tern_http_request){.method = "POST", .url = url(&e, "/r/0/3"),
                            .body = "x", .body_len = 1};
  assert_int_equal(start_fetch(e.cl, &req, &h), TERN_OK);
  expect_done(e.m, &h, 302, "moved");
  rec_free(&a);
  rec_free(&b);
  rec_free(&c);
  rec_free(&d);
  rec_free(&f);
  rec_free(&h);
  env_close(&e);
}

static int cond_closed_listener(void *arg) { return *(int *)arg; }

static int g_listener_closed;
static void closing_fn(tern_conn *c, const tern_event *ev, void *ud) {
  (void)c;
  (void)ud;
  if (ev->type == TERN_EV_CLOSE) g_listener_closed = 1;
}

static void test_refused(void **state) {
  (void)state;
  tern_mgr *m;
  tern_http_client *cl;
  tern_conn *l;
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  g_listener_closed = 0;
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", closing_fn, NULL, &l), TERN_OK);
  char u[64];
  snprintf(u, sizeof(u), "http://127.0.0.1:%u/hello", tern_conn_local(l)->port);
  tern_close(l); /* the port is closed now */
  assert_true(run_until(m, cond_closed_listener, &g_listener_closed, 5000));
  assert_int_equal(tern_http_client_new(m, &cl), TERN_OK);
  tern_http_request req = {.url = u};
  fetch_rec a = {0};
  assert_int_equal(start_fetch(cl, &req, &a), TERN_OK);
  expect_failed(m, &a, TERN_ECONNREFUSED);
  assert_int_equal(a.responses, 0);
  run_for(m, 50);
  assert_int_equal(a.after_end, 0);
  assert_int_equal(tern_http_client_conns(cl), 0);
  rec_free(&a);
  tern_http_client_free(cl);
  tern_mgr_free(m);
}

/* Calls that fail at once return the error and never call back. */
static void test_sync_failures(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  fetch_rec a = {0};
  tern_http_request req = {.url = "https://127.0.0.1/x"};
  assert_int_equal(start_fetch(e.cl, &req, &a), TERN_ENOTSUP);
  req.url = "ftp://127.0.0.1/x";
  assert_true(start_fetch(e.cl, &req, &a) < 0);
  req.url = "no scheme";
  assert_true(start_fetch(e.cl, &req, &a) < 0);
  req.url = NULL;
  assert_int_equal(start_fetch(e.cl, &req, &a), TERN_EINVAL);
  req = (tern_http_request){.url = url(&e, "/hello"), .body_len = 3};
  assert_int_equal(start_fetch(e.cl, &req, &a), TERN_EINVAL); /* body NULL */
  assert_int_equal(tern_http_fetch(e.cl, &req, NULL, &a), TERN_EINVAL);
  run_for(e.m, 100);
  assert_int_equal(a.responses + a.bodies + a.done + a.failed, 0);
  assert_int_equal(tern_http_client_conns(e.cl), 0);
  env_close(&e);
}

/* Freeing the client fails what is pending with TERN_ECANCELED, once. */
static void test_free_pending(void **state) {
  (void)state;
  tern_mgr *m;
  tern_http_client *cl;
  rawsrv s = {0}; /* never answers */
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rawsrv_open(m, &s);
  assert_int_equal(tern_http_client_new(m, &cl), TERN_OK);
  tern_http_request req = {.url = s.url};
  fetch_rec a = {0}, b = {0}, c = {0};
  assert_int_equal(start_fetch(cl, &req, &a), TERN_OK);
  assert_int_equal(start_fetch(cl, &req, &b), TERN_OK);
  uint64_t end = tern_clock_ms() + 5000;
  while (s.requests < 2 && tern_clock_ms() < end) tern_loop_poll(tern_mgr_loop(m), 10);
  assert_int_equal(s.requests, 2);
  /* and one that has not even connected yet */
  assert_int_equal(start_fetch(cl, &req, &c), TERN_OK);
  assert_int_equal(tern_http_client_conns(cl), 3);
  tern_http_client_free(cl);
  fetch_rec *all[] = {&a, &b, &c};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(all[i]->failed, 1);
    assert_int_equal(all[i]->done, 0);
    assert_int_equal(all[i]->err, TERN_ECANCELED);
  }
  /* the server sees its connections end; nothing more is delivered */
  end = tern_clock_ms() + 5000;
  while (s.closes < 2 && tern_clock_ms() < end) tern_loop_poll(tern_mgr_loop(m), 10);
  assert_true(s.closes >= 2);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(all[i]->after_end, 0);
    assert_int_equal(all[i]->in_fetch, 0);
    rec_free(all[i]);
  }
  tern_mgr_free(m);
}

/* Many fetches at once, each ending once. */
static void test_many(void **state) {
  (void)state;
  env e;
  env_open(&e, NULL);
  enum { N = 40 };
  fetch_rec f[N];
  memset(f, 0, sizeof(f));
  tern_http_request get = {.url = url(&e, "/hello")};
  tern_http_request post = {.method = "POST", .url = url(&e, "/echo"),
                            .body = "abc", .body_len = 3, .chunked = true};
  for (int i = 0; i < N; i++)
    assert_int_equal(start_fetch(e.cl, i % 2 ? &post : &get, &f[i]), TERN_OK);
  for (int i = 0; i < N; i++) expect_done(e.m, &f[i], 200, i % 2 ? "abc" : "hello");
  run_for(e.m, 50);
  for (int i = 0; i < N; i++) {
    assert_int_equal(f[i].after_end, 0);
    rec_free(&f[i]);
  }
  assert_true(tern_http_client_conns(e.cl) <= N);
  env_close(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_get, setup),
      cmocka_unit_test_setup(test_ipv6, setup),
      cmocka_unit_test_setup(test_bodyless, setup),
      cmocka_unit_test_setup(test_post_put, setup),
      cmocka_unit_test_setup(test_stream_1mib, setup),
      cmocka_unit_test_setup(test_keepalive_reuse, setup),
      cmocka_unit_test_setup(test_server_closes_idle, setup),
      cmocka_unit_test_setup(test_retry_reused, setup),
      cmocka_unit_test_setup(test_no_retry_fresh, setup),
      cmocka_unit_test_setup(test_close_delimited, setup),
      cmocka_unit_test_setup(test_chunked_trailers, setup),
      cmocka_unit_test_setup(test_bad_responses, setup),
      cmocka_unit_test_setup(test_response_head_limit, setup),
      cmocka_unit_test_setup(test_timeout, setup),
      cmocka_unit_test_setup(test_redirects, setup),
      cmocka_unit_test_setup(test_refused, setup),
      cmocka_unit_test_setup(test_sync_failures, setup),
      cmocka_unit_test_setup(test_free_pending, setup),
      cmocka_unit_test_setup(test_many, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
