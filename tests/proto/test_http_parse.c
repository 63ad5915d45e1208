/* tests/proto/test_http_parse.c: the HTTP/1.1 head parser (RFC 9112,
 * RFC 9110) on tables of readable request and response vectors, each
 * parsed right before a guard page in one call, byte by byte and split in
 * two at every position; the limits at the exact byte that breaks them;
 * the O(n) cost of a byte-at-a-time client; the header helpers.
 *
 * The vectors double as fuzz seeds: fuzz/corpus/http_request/<name> and
 * fuzz/corpus/http_response/<name> hold the same bytes, and
 * test_corpus_in_sync fails when they differ. To rewrite the files after
 * editing a table: TERN_WRITE_CORPUS=1 ./proto_test_http_parse
 *
 * This file compiles the parser itself with TERN_TESTING defined, which
 * adds a counter of the bytes it looks at (http_work) for the O(n) test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TERN_TESTING 1
#include "proto/http_parse.c"

#include "proto/guard_buf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_HDRS 64

typedef struct vec {
  const char *name; /* also the corpus file name; starts with the status */
  const char *text;
  size_t len;
  int status; /* 0: accepted */
} vec;

#define V(name, text, status) {name, text, sizeof(text) - 1, status}

#define BROWSER_GET                                                         \
  "GET /docs/index.html?lang=en&v=2 HTTP/1.1\r\n"                           \
  "Host: www.example.com\r\n"                                               \
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "         \
  "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"                  \
  "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,"          \
  "*/*;q=0.8\r\n"                                                           \
  "Accept-Language: en-US,en;q=0.9\r\n"                                     \
  "Accept-Encoding: gzip, deflate, br\r\n"                                  \
  "Connection: keep-alive\r\n"                                              \
  "\r\n"

#define HOST_A "Host: a\r\n"

static const vec req_vecs[] = {
    /* accepted */
    V("ok-get-minimal", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    V("ok-get-browser", BROWSER_GET, 0),
    V("ok-get-query",
      "GET /search?q=a+b&x=%20 HTTP/1.1\r\nHost: example.com\r\n\r\n", 0),
    V("ok-http10-no-host", "GET / HTTP/1.0\r\n\r\n", 0),
    V("ok-http10-keep-alive",
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0),
    V("ok-post-content-length",
      "POST /form HTTP/1.1\r\n" HOST_A "Content-Length: 5\r\n\r\nhello", 0),
    V("ok-post-chunked",
      "POST /up HTTP/1.1\r\n" HOST_A "Transfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n", 0),
    V("ok-te-case", "POST / HTTP/1.1\r\n" HOST_A
      "Transfer-Encoding: Chunked\r\n\r\n", 0),
    V("ok-te-empty-elements", "POST / HTTP/1.1\r\n" HOST_A
      "Transfer-Encoding: , chunked ,\r\n\r\n", 0),
    V("ok-cl-list-same", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 5, 5\r\n\r\n", 0),
    V("ok-cl-repeated-same", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 0),
    V("ok-cl-zero", "POST / HTTP/1.1\r\n" HOST_A "Content-Length: 0\r\n\r\n",
      0),
    V("ok-cl-max", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 4611686018427387904\r\n\r\n", 0),
    V("ok-cl-leading-zeros", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 007\r\n\r\n", 0),
    V("ok-absolute-form",
      "GET http://example.com:8080/p/q?x=1 HTTP/1.1\r\n"
      "Host: example.com:8080\r\n\r\n", 0),
    V("ok-absolute-no-path",
      "GET HTTP://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", 0),
    V("ok-options-star", "OPTIONS * HTTP/1.1\r\n" HOST_A "\r\n", 0),
    V("ok-connect",
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 0),
    V("ok-connect-ipv6", "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
      0),
    V("ok-upgrade-websocket",
      "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
      "Connection: keep-alive, Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n", 0),
    V("ok-expect-continue", "PUT /f HTTP/1.1\r\n" HOST_A
      "Expect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc", 0),
    V("ok-expect-http10", "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n"
      "Content-Length: 3\r\n\r\nabc", 0),
    V("ok-ows-trim", "GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v a \t\r\n"
      "X-B:\t\r\nX-C:\r\n\r\n", 0),
    V("ok-obs-text", "GET /caf\xc3\xa9 HTTP/1.1\r\n" HOST_A
      "X-Name: caf\xc3\xa9 \xff\r\n\r\n", 0),
    V("ok-empty-host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 0),
    V("ok-leading-crlf", "\r\n\r\nGET / HTTP/1.1\r\n" HOST_A "\r\n", 0),
    V("ok-connection-close", "GET / HTTP/1.1\r\n" HOST_A
      "Connection: close\r\n\r\n", 0),
    V("ok-pipelined", "GET /1 HTTP/1.1\r\n" HOST_A "\r\n"
      "GET /2 HTTP/1.1\r\n" HOST_A "\r\n", 0),
    V("400-star-not-options-ext", "M-SEARCH * HTTP/1.1\r\n" HOST_A "\r\n",
      400),
    V("ok-token-method", "PURGE /cache/x HTTP/1.1\r\n" HOST_A "\r\n", 0),
    V("ok-name-tchars", "GET / HTTP/1.1\r\n" HOST_A
      "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", 0),
    V("ok-value-colons", "GET / HTTP/1.1\r\n" HOST_A "X: a:b: c\r\n\r\n", 0),

    /* line endings (RFC 9112 2.2) */
    V("400-bare-lf-request-line", "GET / HTTP/1.1\n" HOST_A "\r\n", 400),
    V("400-bare-lf-field", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
    V("400-bare-lf-end", "GET / HTTP/1.1\r\n" HOST_A "\n", 400),
    V("400-lf-only", "GET / HTTP/1.1\n\n", 400),
    V("400-bare-lf-leading", "\nGET / HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-bare-cr-field", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
    V("400-bare-cr-request-line", "GET /\r HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-bare-cr-line", "GET / HTTP/1.1\r\n" HOST_A "\r\r\n\r\n", 400),
    /* request line (RFC 9112 3) */
    V("400-bad-method-char", "G(T / HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-leading-space", " GET / HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-two-spaces", "GET  / HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-tab-separator", "GET\t/ HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-no-target", "GET HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-http09", "GET /\r\n\r\n", 400),
    V("400-fragment", "GET /a#b HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-target-ctl", "GET /a\x01 HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-target-del", "GET /a\x7f HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-target-relative", "GET a/b HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-star-not-options", "GET * HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-star-path", "OPTIONS *x HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-connect-origin", "CONNECT / HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-connect-no-port", "CONNECT a.com HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-connect-empty-port", "CONNECT a.com: HTTP/1.1\r\n" HOST_A "\r\n",
      400),
    V("400-connect-empty-host", "CONNECT :443 HTTP/1.1\r\n" HOST_A "\r\n", 400),
    V("400-authority-not-connect", "GET a.com:80 HTTP/1.1\r\n" HOST_A "\r\n",
      400),
    V("400-absolute-userinfo", "GET http://u:p@a/ HTTP/1.1\r\n" HOST_A "\r\n",
      400),
    V("400-absolute-empty-host", "GET http:///x HTTP/1.1\r\n" HOST_A "\r\n",
      400),
    V("400-absolute-bad-scheme", "GET 1http://a/ HTTP/1.1\r\n" HOST_A "\r\n",
      400),
    V("400-version-lowercase", "GET / http/1.1\r\n" HOST_A "\r\n", 400),
    V("400-version-garbage", "GET / HTTP/1.x\r\n" HOST_A "\r\n", 400),
    V("400-version-long", "GET / HTTP/1.10\r\n" HOST_A "\r\n", 400),
    V("400-version-trailing-space", "GET / HTTP/1.1 \r\n" HOST_A "\r\n", 400),
    V("505-http2", "GET / HTTP/2.0\r\n" HOST_A "\r\n", 505),
    V("505-http12", "GET / HTTP/1.2\r\n" HOST_A "\r\n", 505),
    V("505-http09", "GET / HTTP/0.9\r\n" HOST_A "\r\n", 505),
    /* field lines (RFC 9112 5) */
    V("400-space-before-colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    V("400-tab-before-colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
    V("400-obs-fold", "GET / HTTP/1.1\r\n" HOST_A "X: a\r\n b\r\n\r\n", 400),
    V("400-obs-fold-tab", "GET / HTTP/1.1\r\n" HOST_A "X: a\r\n\tb\r\n\r\n",
      400),
    V("400-space-first-field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    V("400-empty-name", "GET / HTTP/1.1\r\n" HOST_A ": a\r\n\r\n", 400),
    V("400-no-colon", "GET / HTTP/1.1\r\n" HOST_A "X-No-Colon\r\n\r\n", 400),
    V("400-bad-name-char", "GET / HTTP/1.1\r\n" HOST_A "X(y): a\r\n\r\n", 400),
    V("400-ctl-in-value", "GET / HTTP/1.1\r\n" HOST_A "X: a\x01z\r\n\r\n", 400),
    V("400-nul-in-value", "GET / HTTP/1.1\r\n" HOST_A "X: a\0z\r\n\r\n", 400),
    V("400-del-in-value", "GET / HTTP/1.1\r\n" HOST_A "X: a\x7fz\r\n\r\n", 400),
    V("400-vt-in-value", "GET / HTTP/1.1\r\n" HOST_A "X: a\vz\r\n\r\n", 400),
    /* Host (RFC 9110 7.2) */
    V("400-no-host", "GET / HTTP/1.1\r\n\r\n", 400),
    V("400-two-hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    V("400-two-hosts-http10", "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",
      400),
    V("400-bad-host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    V("400-host-slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    /* Content-Length (RFC 9112 6.3, RFC 9110 8.6) */
    V("400-cl-differ-list", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 5, 6\r\n\r\n", 400),
    V("400-cl-differ-fields", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 5\r\ncontent-length: 6\r\n\r\n", 400),
    V("400-cl-negative", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: -1\r\n\r\n", 400),
    V("400-cl-plus", "POST / HTTP/1.1\r\n" HOST_A "Content-Length: +5\r\n\r\n",
      400),
    V("400-cl-hex", "POST / HTTP/1.1\r\n" HOST_A "Content-Length: 0x5\r\n\r\n",
      400),
    V("400-cl-space-inside", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 1 2\r\n\r\n", 400),
    V("400-cl-overflow", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 4611686018427387905\r\n\r\n", 400),
    V("400-cl-overflow-huge", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 99999999999999999999999999\r\n\r\n", 400),
    V("400-cl-empty", "POST / HTTP/1.1\r\n" HOST_A "Content-Length: \r\n\r\n",
      400),
    V("400-cl-empty-element", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 5,\r\n\r\n", 400),
    /* Transfer-Encoding (RFC 9112 6.1, 6.3) */
    V("400-te-and-cl", "POST / HTTP/1.1\r\n" HOST_A
      "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    V("400-te-chunked-twice", "POST / HTTP/1.1\r\n" HOST_A
      "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    V("400-te-chunked-twice-fields", "POST / HTTP/1.1\r\n" HOST_A
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    V("400-te-not-final", "POST / HTTP/1.1\r\n" HOST_A
      "Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    V("400-te-gzip-only", "POST / HTTP/1.1\r\n" HOST_A
      "Transfer-Encoding: gzip\r\n\r\n", 400),
    V("400-te-empty", "POST / HTTP/1.1\r\n" HOST_A
      "Transfer-Encoding: \r\n\r\n", 400),
    V("400-te-http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
      400),
    V("400-te-chunked-param", "POST / HTTP/1.1\r\n" HOST_A
      "Transfer-Encoding: chunked;x=1\r\n\r\n", 400),
    V("501-te-gzip-chunked", "POST / HTTP/1.1\r\n" HOST_A
      "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    V("501-te-identity-chunked", "POST / HTTP/1.1\r\n" HOST_A
      "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    /* Expect (RFC 9110 10.1.1) */
    V("417-expect-other", "PUT / HTTP/1.1\r\n" HOST_A
      "Expect: 100-continue, x-foo\r\n\r\n", 417),
    V("417-expect-http10-other", "PUT / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n",
      417),
};

#define RESP_200 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

static const vec resp_vecs[] = {
    V("ok-200", RESP_200, 0),
    V("ok-204-empty-reason", "HTTP/1.1 204 \r\n\r\n", 0),
    V("ok-204-no-reason", "HTTP/1.1 204\r\n\r\n", 0),
    V("ok-404-long-reason", "HTTP/1.1 404 Not Found Here \xe2\x9c\x97\r\n"
      "Content-Length: 0\r\n\r\n", 0),
    V("ok-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n", 0),
    V("ok-te-overrides-cl", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", 0),
    V("ok-101-upgrade", "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", 0),
    V("ok-http10-close", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody", 0),
    V("ok-http10-keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
      "Content-Length: 0\r\n\r\n", 0),
    V("ok-no-host-needed", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
      0),
    V("ok-close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 0),
    V("400-status-99", "HTTP/1.1 099 Low\r\n\r\n", 400),
    V("400-status-600", "HTTP/1.1 600 High\r\n\r\n", 400),
    V("400-status-4-digits", "HTTP/1.1 2000 OK\r\n\r\n", 400),
    V("400-status-2-digits", "HTTP/1.1 20 OK\r\n\r\n", 400),
    V("400-status-letter", "HTTP/1.1 20a OK\r\n\r\n", 400),
    V("400-no-space", "HTTP/1.1200 OK\r\n\r\n", 400),
    V("400-bad-version", "HTTP/1.x 200 OK\r\n\r\n", 400),
    V("505-version", "HTTP/2.0 200 OK\r\n\r\n", 505),
    V("400-bare-lf", "HTTP/1.1 200 OK\n\r\n", 400),
    V("400-leading-crlf", "\r\nHTTP/1.1 200 OK\r\n\r\n", 400),
    V("400-ctl-in-reason", "HTTP/1.1 200 O\x01K\r\n\r\n", 400),
    V("400-obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 400),
    V("400-cl-bad", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 400),
    V("400-cl-differ", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
      "Content-Length: 2\r\n\r\n", 400),
    V("400-te-chunked-twice", "HTTP/1.1 200 OK\r\n"
      "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    V("400-te-http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      400),
    V("501-te-gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    V("501-te-gzip-chunked", "HTTP/1.1 200 OK\r\n"
      "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
};

static guard_buf G;

/* ---- helpers ---------------------------------------------------------- */

typedef struct result {
  long rc;
  int status;
  const char *error;
  tern_http_msg msg;
  tern_http_header hdrs[MAX_HDRS];
  const uint8_t *buf; /* where the parsed bytes were */
} result;

static void parser_init(tern__http_parser *p, uint8_t kind) {
  tern__http_parser_init(p, kind, 0, 0, 0);
}

/* One call with the whole input right before the guard page. */
static void parse_once(uint8_t kind, const void *s, size_t len, result *r) {
  tern__http_parser p;

  parser_init(&p, kind);
  r->buf = guard_buf_put(&G, s, len);
  r->rc = tern__http_parse(&p, r->buf, len, &r->msg, r->hdrs, MAX_HDRS);
  r->status = p.status;
  r->error = p.error;
}

static void parse_req(const char *s, result *r) {
  parse_once(TERN__HTTP_REQUEST, s, strlen(s), r);
}

static void parse_resp(const char *s, result *r) {
  parse_once(TERN__HTTP_RESPONSE, s, strlen(s), r);
}

/* Byte by byte, each prefix copied to the guard page (a new address each
 * time: the parser must keep offsets, not pointers). Stops at the first
 * call that does not ask for more. */
static void parse_bytewise(uint8_t kind, const void *s, size_t len,
                           result *r) {
  tern__http_parser p;
  size_t i, last_scanned = 0;

  parser_init(&p, kind);
  r->rc = 0;
  for (i = 1; i <= len && r->rc == 0; i++) {
    r->buf = guard_buf_put(&G, s, i);
    r->rc = tern__http_parse(&p, r->buf, i, &r->msg, r->hdrs, MAX_HDRS);
    assert_true(p.scanned >= last_scanned);
    last_scanned = p.scanned;
  }
  r->status = p.status;
  r->error = p.error;
}

/* Two calls: s[0, k), then all of it. */
static void parse_split(uint8_t kind, const void *s, size_t len, size_t k,
                        result *r) {
  tern__http_parser p;

  parser_init(&p, kind);
  r->buf = guard_buf_put(&G, s, k);
  r->rc = tern__http_parse(&p, r->buf, k, &r->msg, r->hdrs, MAX_HDRS);
  if (r->rc == 0) {
    r->buf = guard_buf_put(&G, s, len);
    r->rc = tern__http_parse(&p, r->buf, len, &r->msg, r->hdrs, MAX_HDRS);
  }
  r->status = p.status;
  r->error = p.error;
}

static void assert_view(tern_str v, const char *want) {
  if (!tern_str_eq(v, want))
    fail_msg("got \"%.*s\", want \"%s\"", (int)v.len, v.ptr ? v.ptr : "",
             want);
}

/* The view lies inside buf[0, n). */
static void assert_inside(tern_str v, const uint8_t *buf, size_t n) {
  const uint8_t *p = (const uint8_t *)v.ptr;

  assert_non_null(p);
  assert_true(p >= buf && p <= buf + n);
  assert_true(v.len <= (size_t)(buf + n - p));
}

static void assert_msg_inside(const result *r) {
  size_t n = (size_t)r->rc, i;
  const tern_http_msg *m = &r->msg;

  assert_inside(m->method, r->buf, n);
  assert_inside(m->target, r->buf, n);
  assert_inside(m->path, r->buf, n);
  assert_inside(m->query, r->buf, n);
  assert_inside(m->authority, r->buf, n);
  assert_inside(m->reason, r->buf, n);
  assert_true(m->num_headers <= MAX_HDRS);
  for (i = 0; i < m->num_headers; i++) {
    assert_inside(m->headers[i].name, r->buf, n);
    assert_inside(m->headers[i].value, r->buf, n);
  }
}

/* Same view, relative to each result's buffer. */
static void assert_same_view(tern_str a, const uint8_t *abuf, tern_str b,
                             const uint8_t *bbuf) {
  assert_int_equal((const uint8_t *)a.ptr - abuf, (const uint8_t *)b.ptr - bbuf);
  assert_int_equal(a.len, b.len);
}

static void assert_same(const result *a, const result *b) {
  const tern_http_msg *x = &a->msg, *y = &b->msg;
  size_t i;

  assert_int_equal(a->rc, b->rc);
  assert_int_equal(a->status, b->status);
  if (a->rc <= 0) {
    assert_string_equal(a->error ? a->error : "", b->error ? b->error : "");
    return;
  }
  assert_same_view(x->method, a->buf, y->method, b->buf);
  assert_same_view(x->target, a->buf, y->target, b->buf);
  assert_same_view(x->path, a->buf, y->path, b->buf);
  assert_same_view(x->query, a->buf, y->query, b->buf);
  assert_same_view(x->authority, a->buf, y->authority, b->buf);
  assert_same_view(x->reason, a->buf, y->reason, b->buf);
  assert_int_equal(x->status, y->status);
  assert_int_equal(x->version_minor, y->version_minor);
  assert_int_equal(x->num_headers, y->num_headers);
  for (i = 0; i < x->num_headers; i++) {
    assert_same_view(x->headers[i].name, a->buf, y->headers[i].name, b->buf);
    assert_same_view(x->headers[i].value, a->buf, y->headers[i].value, b->buf);
  }
  assert_int_equal(x->content_length, y->content_length);
  assert_int_equal(x->chunked, y->chunked);
  assert_int_equal(x->keep_alive, y->keep_alive);
  assert_int_equal(x->upgrade, y->upgrade);
  assert_int_equal(x->expect_continue, y->expect_continue);
  assert_int_equal(x->head_len, y->head_len);
}

static const vec *find_vec(const vec *v, size_t n, const char *name) {
  size_t i;

  for (i = 0; i < n; i++)
    if (strcmp(v[i].name, name) == 0) return &v[i];
  fail_msg("no vector %s", name);
  return NULL;
}

static void parse_vec(uint8_t kind, const char *name, result *r) {
  const vec *v = kind == TERN__HTTP_REQUEST
                     ? find_vec(req_vecs, N(req_vecs), name)
                     : find_vec(resp_vecs, N(resp_vecs), name);
  parse_once(kind, v->text, v->len, r);
  if (r->rc <= 0) fail_msg("%s: rc %ld, %d %s", name, r->rc, r->status, r->error);
}

/* ---- the tables ------------------------------------------------------- */

/* The head ends at the first CRLF CRLF after the start line. */
static size_t head_end(const char *s, size_t len) {
  size_t i = 0;

  while (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n') i += 2;
  for (; i + 3 < len; i++)
    if (memcmp(s + i, "\r\n\r\n", 4) == 0) return i + 4;
  return 0;
}

static void check_vec(uint8_t kind, const vec *v) {
  result one, other;
  size_t k;

  parse_once(kind, v->text, v->len, &one);
  if (v->status == 0) {
    if (one.rc <= 0)
      fail_msg("%s: refused with %d (%s)", v->name, one.status, one.error);
    assert_int_equal(one.rc, head_end(v->text, v->len));
    assert_int_equal(one.msg.head_len, one.rc);
    assert_int_equal(one.status, 0);
    assert_msg_inside(&one);
  } else {
    if (one.rc >= 0 || one.status != v->status)
      fail_msg("%s: rc %ld status %d (%s), want %d", v->name, one.rc,
               one.status, one.error ? one.error : "-", v->status);
    assert_non_null(one.error);
    assert_int_equal(one.rc, TERN_EPROTO);
  }
  parse_bytewise(kind, v->text, v->len, &other);
  assert_same(&one, &other);
  for (k = 0; k <= v->len; k++) {
    parse_split(kind, v->text, v->len, k, &other);
    assert_same(&one, &other);
  }
}

static void test_request_vectors(void **state) {
  size_t i;

  (void)state;
  for (i = 0; i < N(req_vecs); i++) check_vec(TERN__HTTP_REQUEST, &req_vecs[i]);
}

static void test_response_vectors(void **state) {
  size_t i;

  (void)state;
  for (i = 0; i < N(resp_vecs); i++)
    check_vec(TERN__HTTP_RESPONSE, &resp_vecs[i]);
}

/* Each name starts with the expected status ("ok" or three digits). */
static void test_vector_names(void **state) {
  size_t i;

  (void)state;
  for (i = 0; i < N(req_vecs) + N(resp_vecs); i++) {
    const vec *v = i < N(req_vecs) ? &req_vecs[i] : &resp_vecs[i - N(req_vecs)];
    char want[8];
    if (v->status == 0) snprintf(want, sizeof(want), "ok-");
    else snprintf(want, sizeof(want), "%d-", v->status);
    if (strncmp(v->name, want, strlen(want)) != 0)
      fail_msg("%s: name does not start with %s", v->name, want);
  }
}

/* ---- the corpus files ------------------------------------------------- */

static void corpus_path(char *out, size_t size, const char *dir,
                        const char *name) {
  const char *me = __FILE__, *tail = strstr(me, "tests/proto/");
  int n = tail ? (int)(tail - me) : 0;

  snprintf(out, size, "%.*sfuzz/corpus/%s/%s", n, me, dir, name);
}

static void sync_file(const char *dir, const vec *v, bool write) {
  char path[1024], got[65536];
  FILE *f;
  size_t n;

  corpus_path(path, sizeof(path), dir, v->name);
  f = fopen(path, write ? "wb" : "rb");
  if (f == NULL)
    fail_msg("%s: %s (TERN_WRITE_CORPUS=1 writes it)", path, strerror(errno));
  if (write) {
    assert_int_equal(fwrite(v->text, 1, v->len, f), v->len);
    fclose(f);
    return;
  }
  n = fread(got, 1, sizeof(got), f);
  fclose(f);
  if (n != v->len || memcmp(got, v->text, n) != 0)
    fail_msg("%s differs from the table (TERN_WRITE_CORPUS=1 rewrites it)",
             path);
}

static void test_corpus_in_sync(void **state) {
  bool write = getenv("TERN_WRITE_CORPUS") != NULL;
  size_t i;

  (void)state;
  for (i = 0; i < N(req_vecs); i++) sync_file("http_request", &req_vecs[i], write);
  for (i = 0; i < N(resp_vecs); i++)
    sync_file("http_response", &resp_vecs[i], write);
}

/* ---- character classes ------------------------------------------------ */

static void test_ctype_table(void **state) {
  int c;

  (void)state;
  for (c = 0; c < 256; c++) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool digit = c >= '0' && c <= '9';
    bool vchar = c >= 0x21 && c <= 0x7e, obs = c >= 0x80;
    bool tchar = alpha || digit || (c && strchr("!#$%&'*+-.^_`|~", c));
    bool fval = c == '\t' || c == ' ' || vchar || obs;
    bool target = (vchar && c != '#') || obs;
    bool host = alpha || digit || (c && strchr("-._~%!$&'()*+,;=:[]", c));
    bool qd = c == '\t' || c == ' ' || (vchar && c != '"' && c != '\\') || obs;
    bool hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    int want = (tchar ? 1 : 0) | (fval ? 2 : 0) | (target ? 4 : 0) |
               (host ? 8 : 0) | (qd ? 16 : 0) | (hex ? 32 : 0);
    if (tern__http_ctype[c] != want)
      fail_msg("byte 0x%02x: table %d, want %d", c, tern__http_ctype[c], want);
  }
  /* CR and LF in no class: the parse loops rely on it */
  assert_int_equal(tern__http_ctype['\r'], 0);
  assert_int_equal(tern__http_ctype['\n'], 0);
}

/* The word-at-a-time skip stops exactly where a byte-at-a-time loop does,
 * for every byte value at every position of a word. */
static void test_skip_words(void **state) {
  static const struct {
    uint8_t cls, below, stop;
  } kinds[] = {{TERN__HTTP_C_FVAL, 0x20, 0x7f},
               {TERN__HTTP_C_TARGET, 0x21, '#'}};
  uint8_t buf[40];
  size_t k, pos, b, start;

  (void)state;
  for (k = 0; k < N(kinds); k++)
    for (b = 0; b < 256; b++)
      for (pos = 0; pos < 24; pos++)
        for (start = 0; start < 8; start++) {
          const uint8_t *want = buf + start, *got;
          memset(buf, 'a', sizeof(buf));
          buf[start + pos] = (uint8_t)b;
          buf[36] = '\r';
          buf[37] = '\n';
          while (tern__http_ctype[*want] & kinds[k].cls) want++;
          got = http_skip(buf + start, buf + 38, kinds[k].cls, kinds[k].below,
                          kinds[k].stop);
          if (got != want)
            fail_msg("class %d byte 0x%02zx at %zu+%zu: stopped at %td, want %td",
                     kinds[k].cls, b, start, pos, got - buf, want - buf);
        }
}

/* ---- request fields --------------------------------------------------- */

static void test_browser_get(void **state) {
  result r;
  const tern_http_msg *m = &r.msg;

  (void)state;
  parse_vec(TERN__HTTP_REQUEST, "ok-get-browser", &r);
  assert_view(m->method, "GET");
  assert_view(m->target, "/docs/index.html?lang=en&v=2");
  assert_view(m->path, "/docs/index.html");
  assert_view(m->query, "lang=en&v=2");
  assert_view(m->authority, "");
  assert_int_equal(m->version_minor, 1);
  assert_int_equal(m->num_headers, 6);
  assert_ptr_equal(m->headers, r.hdrs);
  assert_view(m->headers[0].name, "Host");
  assert_view(m->headers[0].value, "www.example.com");
  assert_view(m->headers[5].name, "Connection");
  assert_view(m->headers[5].value, "keep-alive");
  assert_view(tern_http_header_get(m, "accept-encoding"), "gzip, deflate, br");
  assert_int_equal(m->content_length, -1);
  assert_false(m->chunked);
  assert_true(m->keep_alive);
  assert_false(m->upgrade);
  assert_false(m->expect_continue);
  assert_int_equal(m->status, 0);
  assert_ptr_equal(m->method.ptr, r.buf); /* a view, not a copy */
}

static void test_query_and_http10(void **state) {
  result r;

  (void)state;
  parse_vec(TERN__HTTP_REQUEST, "ok-get-query", &r);
  assert_view(r.msg.path, "/search");
  assert_view(r.msg.query, "q=a+b&x=%20");
  parse_req("GET /p? HTTP/1.1\r\nHost: a\r\n\r\n", &r);
  assert_view(r.msg.path, "/p");
  assert_view(r.msg.query, "");
  assert_ptr_equal(r.msg.query.ptr, r.msg.path.ptr + 3);
  parse_req("GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n", &r);
  assert_view(r.msg.path, "/a");
  assert_view(r.msg.query, "b?c"); /* split at the first '?' */
  parse_vec(TERN__HTTP_REQUEST, "ok-http10-no-host", &r);
  assert_int_equal(r.msg.version_minor, 0);
  assert_false(r.msg.keep_alive);
  assert_int_equal(r.msg.num_headers, 0);
}

static void test_target_forms(void **state) {
  result r;

  (void)state;
  parse_vec(TERN__HTTP_REQUEST, "ok-absolute-form", &r);
  assert_view(r.msg.target, "http://example.com:8080/p/q?x=1");
  assert_view(r.msg.authority, "example.com:8080");
  assert_view(r.msg.path, "/p/q");
  assert_view(r.msg.query, "x=1");
  parse_vec(TERN__HTTP_REQUEST, "ok-absolute-no-path", &r);
  assert_view(r.msg.authority, "example.com");
  assert_view(r.msg.path, ""); /* not made up */
  parse_req("GET https://h?q HTTP/1.1\r\nHost: h\r\n\r\n", &r);
  assert_view(r.msg.authority, "h");
  assert_view(r.msg.path, "");
  assert_view(r.msg.query, "q");
  parse_vec(TERN__HTTP_REQUEST, "ok-options-star", &r);
  assert_view(r.msg.method, "OPTIONS");
  assert_view(r.msg.path, "*");
  assert_view(r.msg.authority, "");
  parse_vec(TERN__HTTP_REQUEST, "ok-connect", &r);
  assert_view(r.msg.authority, "example.com:443");
  assert_view(r.msg.path, "");
  assert_view(r.msg.query, "");
  parse_vec(TERN__HTTP_REQUEST, "ok-connect-ipv6", &r);
  assert_view(r.msg.authority, "[::1]:443");
  parse_vec(TERN__HTTP_REQUEST, "ok-token-method", &r);
  assert_view(r.msg.method, "PURGE");
  parse_vec(TERN__HTTP_REQUEST, "ok-obs-text", &r);
  assert_view(r.msg.path, "/caf\xc3\xa9");
  /* methods are case-sensitive (RFC 9110 9.1): "connect" is not CONNECT */
  parse_req("connect / HTTP/1.1\r\nHost: a\r\n\r\n", &r);
  assert_true(r.rc > 0);
  parse_req("options * HTTP/1.1\r\nHost: a\r\n\r\n", &r);
  assert_int_equal(r.status, 400);
}

static void test_field_values(void **state) {
  result r;
  const tern_http_msg *m = &r.msg;

  (void)state;
  parse_vec(TERN__HTTP_REQUEST, "ok-ows-trim", &r);
  assert_int_equal(m->num_headers, 4);
  assert_view(m->headers[0].value, "a");
  assert_view(m->headers[1].name, "X-A");
  assert_view(m->headers[1].value, "v a"); /* inner whitespace kept */
  assert_view(m->headers[2].value, "");
  assert_view(m->headers[3].value, "");
  parse_vec(TERN__HTTP_REQUEST, "ok-obs-text", &r);
  assert_view(tern_http_header_get(m, "x-name"), "caf\xc3\xa9 \xff");
  parse_vec(TERN__HTTP_REQUEST, "ok-name-tchars", &r);
  assert_view(m->headers[1].name, "!#$%&'*+-.^_`|~09azAZ");
  parse_vec(TERN__HTTP_REQUEST, "ok-value-colons", &r);
  assert_view(m->headers[1].value, "a:b: c");
  parse_vec(TERN__HTTP_REQUEST, "ok-empty-host", &r);
  assert_view(m->headers[0].value, "");
}

static void test_refusal_reasons(void **state) {
  static const struct {
    const char *vec, *why;
  } t[] = {
      {"400-bare-lf-field", "bare LF"},
      {"400-bare-cr-field", "bad character in field value"},
      {"400-bare-cr-line", "bare CR"},
      {"400-space-before-colon", "whitespace before colon"},
      {"400-obs-fold", "obs-fold"},
      {"400-space-first-field", "obs-fold"},
      {"400-empty-name", "empty field name"},
      {"400-fragment", "fragment in request-target"},
      {"400-no-host", "missing Host"},
      {"400-two-hosts", "more than one Host"},
      {"400-te-and-cl", "both Transfer-Encoding and Content-Length"},
      {"400-te-chunked-twice", "chunked applied twice"},
      {"400-te-not-final", "chunked is not the final transfer coding"},
      {"400-te-http10", "Transfer-Encoding in HTTP/1.0"},
      {"501-te-gzip-chunked", "unsupported transfer coding"},
      {"400-cl-differ-list", "conflicting Content-Length values"},
      {"400-cl-overflow", "Content-Length too large"},
      {"505-http2", "HTTP version not supported"},
      {"400-absolute-userinfo", "userinfo in request-target"},
      {"400-version-trailing-space", "bad request line"},
      {"400-version-garbage", "bad HTTP version"},
      {"400-bad-host", "bad Host"},
      {"400-two-spaces", "bad request-target"},
      {"400-tab-separator", "bad method"},
      {"400-connect-no-port", "CONNECT needs host:port"},
      {"400-star-not-options", "'*' target is for OPTIONS only"},
      {"417-expect-other", "unsupported expectation"},
  };
  size_t i;

  (void)state;
  for (i = 0; i < N(t); i++) {
    const vec *v = find_vec(req_vecs, N(req_vecs), t[i].vec);
    result r;
    parse_once(TERN__HTTP_REQUEST, v->text, v->len, &r);
    assert_int_equal(r.status, v->status);
    if (strcmp(r.error, t[i].why) != 0)
      fail_msg("%s: \"%s\", want \"%s\"", v->name, r.error, t[i].why);
  }
}

/* ---- framing semantics ------------------------------------------------ */

static void test_content_length(void **state) {
  static const struct {
    const char *fields;
    int64_t cl; /* -2: refused */
  } t[] = {
      {"", -1},
      {"Content-Length: 0\r\n", 0},
      {"Content-Length: 42\r\n", 42},
      {"content-LENGTH:  42 \r\n", 42},
      {"Content-Length: 5, 5\r\n", 5},
      {"Content-Length: 5,5,  5\r\n", 5},
      {"Content-Length: 5\r\nContent-Length: 5, 5\r\n", 5},
      {"Content-Length: 4611686018427387904\r\n", (int64_t)1 << 62},
      {"Content-Length: 4611686018427387905\r\n", -2},
      {"Content-Length: 18446744073709551616\r\n", -2},
      {"Content-Length: 5, 6\r\n", -2},
      {"Content-Length: 5\r\nContent-Length: 6\r\n", -2},
      {"Content-Length: ,5\r\n", -2},
      {"Content-Length: 5 ,, 5\r\n", -2},
      {"Content-Length: 5.0\r\n", -2},
      {"Content-Length: \"5\"\r\n", -2},
  };
  size_t i;

  (void)state;
  for (i = 0; i < N(t); i++) {
    char req[256];
    result r;
    snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: a\r\n%s\r\n",
             t[i].fields);
    parse_req(req, &r);
    if (t[i].cl == -2) {
      if (r.rc >= 0 || r.status != 400) fail_msg("accepted: %s", t[i].fields);
      continue;
    }
    if (r.rc <= 0) fail_msg("refused (%s): %s", r.error, t[i].fields);
    assert_int_equal(r.msg.content_length, t[i].cl);
  }
}

static void test_transfer_encoding(void **state) {
  static const struct {
    const char *fields;
    int status; /* 0: accepted, chunked */
  } t[] = {
      {"Transfer-Encoding: chunked\r\n", 0},
      {"Transfer-Encoding: CHUNKED\r\n", 0},
      {"Transfer-Encoding:  chunked  \r\n", 0},
      {"Transfer-Encoding: ,chunked\r\n", 0},
      {"Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n", 0},
      {"Transfer-Encoding: chunked, chunked\r\n", 400},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", 400},
      {"Transfer-Encoding: chunked, gzip\r\n", 400},
      {"Transfer-Encoding: gzip\r\n", 400},
      {"Transfer-Encoding: identity\r\n", 400},
      {"Transfer-Encoding: chunkedx\r\n", 400},
      {"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", 400},
      {"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400},
      {"Transfer-Encoding: gzip, chunked\r\n", 501},
      {"Transfer-Encoding: identity, chunked\r\n", 501},
      {"Transfer-Encoding: x-custom, chunked\r\n", 501},
  };
  size_t i;

  (void)state;
  for (i = 0; i < N(t); i++) {
    char req[256];
    result r;
    snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: a\r\n%s\r\n",
             t[i].fields);
    parse_req(req, &r);
    if (r.status != t[i].status)
      fail_msg("%s: status %d (%s), want %d", t[i].fields, r.status,
               r.error ? r.error : "-", t[i].status);
    if (t[i].status == 0) {
      assert_true(r.msg.chunked);
      assert_int_equal(r.msg.content_length, -1);
    }
  }
}

static void test_keep_alive(void **state) {
  static const struct {
    const char *version, *fields;
    bool keep_alive;
  } t[] = {
      {"1.1", "", true},
      {"1.1", "Connection: close\r\n", false},
      {"1.1", "Connection: CLOSE\r\n", false},
      {"1.1", "Connection: keep-alive, close\r\n", false},
      {"1.1", "Connection: x\r\nConnection: close\r\n", false},
      {"1.1", "Connection: closed\r\n", true},
      {"1.1", "Connection: keep-alive\r\n", true},
      {"1.0", "", false},
      {"1.0", "Connection: keep-alive\r\n", true},
      {"1.0", "Connection: Keep-Alive\r\n", true},
      {"1.0", "Connection: keep-alive, close\r\n", false},
      {"1.0", "Connection: x, keep-alive \r\n", true},
  };
  size_t i;

  (void)state;
  for (i = 0; i < N(t); i++) {
    char req[256];
    result r;
    snprintf(req, sizeof(req), "GET / HTTP/%s\r\nHost: a\r\n%s\r\n",
             t[i].version, t[i].fields);
    parse_req(req, &r);
    assert_true(r.rc > 0);
    if (r.msg.keep_alive != t[i].keep_alive)
      fail_msg("HTTP/%s %s: keep_alive %d", t[i].version, t[i].fields,
               r.msg.keep_alive);
  }
}

static void test_upgrade_and_expect(void **state) {
  result r;

  (void)state;
  parse_vec(TERN__HTTP_REQUEST, "ok-upgrade-websocket", &r);
  assert_true(r.msg.upgrade);
  assert_true(r.msg.keep_alive);
  /* Upgrade without the Connection option, and the option alone */
  parse_req("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &r);
  assert_false(r.msg.upgrade);
  parse_req("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", &r);
  assert_false(r.msg.upgrade);
  /* RFC 9110 7.8: ignored in HTTP/1.0 */
  parse_req("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
            "\r\n", &r);
  assert_false(r.msg.upgrade);
  parse_vec(TERN__HTTP_REQUEST, "ok-expect-continue", &r);
  assert_true(r.msg.expect_continue);
  assert_int_equal(r.msg.content_length, 3);
  assert_int_equal(r.msg.head_len, r.rc);
  parse_vec(TERN__HTTP_REQUEST, "ok-expect-http10", &r);
  assert_false(r.msg.expect_continue);
  parse_req("PUT / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", &r);
  assert_true(r.rc > 0);
  assert_false(r.msg.expect_continue);
  parse_req("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continuex\r\n\r\n", &r);
  assert_int_equal(r.status, 417);
}

static void test_pipelined_and_leading_crlf(void **state) {
  result r;

  (void)state;
  parse_vec(TERN__HTTP_REQUEST, "ok-pipelined", &r);
  assert_int_equal(r.rc, strlen("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"));
  assert_view(r.msg.path, "/1");
  parse_vec(TERN__HTTP_REQUEST, "ok-leading-crlf", &r);
  assert_view(r.msg.method, "GET");
  assert_int_equal(r.msg.head_len, 4 + strlen("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  parse_vec(TERN__HTTP_REQUEST, "ok-post-chunked", &r);
  assert_true(r.msg.chunked);
  assert_int_equal(r.rc, strlen("POST /up HTTP/1.1\r\nHost: a\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n"));
}

/* ---- responses --------------------------------------------------------- */

static void test_response_fields(void **state) {
  result r;

  (void)state;
  parse_vec(TERN__HTTP_RESPONSE, "ok-200", &r);
  assert_int_equal(r.msg.status, 200);
  assert_view(r.msg.reason, "OK");
  assert_int_equal(r.msg.content_length, 5);
  assert_true(r.msg.keep_alive);
  assert_view(r.msg.method, "");
  assert_view(r.msg.path, "");
  parse_vec(TERN__HTTP_RESPONSE, "ok-204-empty-reason", &r);
  assert_int_equal(r.msg.status, 204);
  assert_view(r.msg.reason, "");
  parse_vec(TERN__HTTP_RESPONSE, "ok-204-no-reason", &r);
  assert_int_equal(r.msg.status, 204);
  parse_vec(TERN__HTTP_RESPONSE, "ok-404-long-reason", &r);
  assert_view(r.msg.reason, "Not Found Here \xe2\x9c\x97");
  parse_vec(TERN__HTTP_RESPONSE, "ok-te-overrides-cl", &r);
  assert_true(r.msg.chunked);
  assert_int_equal(r.msg.content_length, -1); /* RFC 9112 6.3 item 3 */
  parse_vec(TERN__HTTP_RESPONSE, "ok-101-upgrade", &r);
  assert_int_equal(r.msg.status, 101);
  assert_true(r.msg.upgrade);
  parse_vec(TERN__HTTP_RESPONSE, "ok-http10-close", &r);
  assert_int_equal(r.msg.version_minor, 0);
  assert_false(r.msg.keep_alive);
  assert_int_equal(r.msg.content_length, -1);
  parse_vec(TERN__HTTP_RESPONSE, "ok-http10-keep-alive", &r);
  assert_true(r.msg.keep_alive);
  parse_vec(TERN__HTTP_RESPONSE, "ok-close", &r);
  assert_false(r.msg.keep_alive);
  parse_resp("HTTP/1.1 100 Continue\r\n\r\n", &r);
  assert_int_equal(r.msg.status, 100);
  parse_resp("HTTP/1.1 599 x\r\n\r\n", &r);
  assert_int_equal(r.msg.status, 599);
}

/* ---- limits ------------------------------------------------------------ */

/* Feeds s byte by byte with the given limits; returns the length at which
 * the parser stopped asking for more (0 if it never did). */
static size_t feed_until(uint8_t kind, const char *s, size_t len,
                         size_t max_line, size_t max_head, size_t max_headers,
                         size_t max_hdrs, tern__http_parser *p, long *rc) {
  static tern_http_header hdrs[512];
  tern_http_msg m;
  size_t i;

  assert_true(max_hdrs <= N(hdrs));
  tern__http_parser_init(p, kind, max_line, max_head, max_headers);
  for (i = 1; i <= len; i++) {
    const uint8_t *b = guard_buf_put(&G, s, i);
    *rc = tern__http_parse(p, b, i, &m, hdrs, max_hdrs);
    if (*rc != 0) return i;
  }
  return 0;
}

/* A request line of exactly n bytes (without CRLF), a Host, the end. */
static size_t make_request(char *out, size_t size, size_t line_len) {
  size_t n = 0;

  assert_true(line_len >= 16 && line_len + 32 < size);
  memcpy(out, "GET /", 5);
  memset(out + 5, 'a', line_len - 14);
  memcpy(out + line_len - 9, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
  n = line_len + 2 + 9 + 2;
  assert_int_equal(strlen(out), n);
  return n;
}

static void test_limit_request_line(void **state) {
  static char req[1024];
  tern__http_parser p;
  long rc;
  size_t n, at;

  (void)state;
  memset(req, 0, sizeof(req));
  n = make_request(req, sizeof(req), 100);
  at = feed_until(TERN__HTTP_REQUEST, req, n, 100, 0, 0, 64, &p, &rc);
  assert_int_equal(at, n); /* exactly at the limit: fine */
  assert_true(rc > 0);
  memset(req, 0, sizeof(req));
  n = make_request(req, sizeof(req), 101);
  at = feed_until(TERN__HTTP_REQUEST, req, n, 100, 0, 0, 64, &p, &rc);
  /* 101 bytes that cannot end in CR... known once the 101st is not CR;
   * here the 101st byte is '1' of "HTTP/1.1", so the refusal comes there */
  assert_int_equal(at, 101);
  assert_int_equal(rc, TERN_ELIMIT);
  assert_int_equal(p.status, 414);
  assert_string_equal(p.error, "request line too long");
  /* a CR in 101st place might still be the line end: wait for the LF */
  at = feed_until(TERN__HTTP_REQUEST, "GET /aaaaa HTTP/1.1\r\n", 21, 19, 0, 0,
                  64, &p, &rc);
  assert_int_equal(at, 0);
  at = feed_until(TERN__HTTP_REQUEST, "GET /aaaaa HTTP/1.1\rX", 21, 19, 0, 0, 64,
                  &p, &rc);
  assert_int_equal(at, 21);
  assert_int_equal(p.status, 414);
  /* two CRs: the first cannot be the line end any more */
  at = feed_until(TERN__HTTP_REQUEST, "GET /aaaaa HTTP/1.1\r\r\n", 22, 19, 0,
                  0, 64, &p, &rc);
  assert_int_equal(at, 21);
  assert_int_equal(p.status, 414);
  /* the whole line in one call: judged when its LF is found */
  tern__http_parser_init(&p, TERN__HTTP_REQUEST, 100, 0, 0);
  {
    tern_http_msg m;
    tern_http_header h[4];
    rc = tern__http_parse(&p, guard_buf_put(&G, req, n), n, &m, h, 4);
  }
  assert_int_equal(rc, TERN_ELIMIT);
  assert_int_equal(p.status, 414);
  /* responses: 400 */
  at = feed_until(TERN__HTTP_RESPONSE, "HTTP/1.1 200 Very Long Reason", 29, 20,
                  0, 0, 64, &p, &rc);
  assert_int_equal(at, 21);
  assert_int_equal(p.status, 400);
  assert_string_equal(p.error, "status line too long");
}

static void test_limit_head(void **state) {
  static char req[4096];
  tern__http_parser p;
  size_t n = 0, at;
  long rc;

  (void)state;
  n += (size_t)sprintf(req + n, "GET / HTTP/1.1\r\nHost: a\r\n");
  while (n < 1000) n += (size_t)sprintf(req + n, "X-Pad: 0123456789\r\n");
  n += (size_t)sprintf(req + n, "\r\n");
  at = feed_until(TERN__HTTP_REQUEST, req, n, 0, n, 0, 512, &p, &rc);
  assert_int_equal(at, n); /* exactly max_head: fine */
  assert_int_equal(rc, (long)n);
  at = feed_until(TERN__HTTP_REQUEST, req, n, 0, n - 1, 0, 512, &p, &rc);
  assert_int_equal(at, n); /* one over: refused at the byte past the limit */
  assert_int_equal(rc, TERN_ELIMIT);
  assert_int_equal(p.status, 431);
  at = feed_until(TERN__HTTP_REQUEST, req, n, 0, 500, 0, 512, &p, &rc);
  assert_int_equal(at, 501); /* as soon as the limit is broken */
  assert_int_equal(p.status, 431);
  assert_string_equal(p.error, "header section too large");
  /* and in one call */
  tern__http_parser_init(&p, TERN__HTTP_REQUEST, 0, 500, 0);
  {
    tern_http_msg m;
    tern_http_header h[64];
    rc = tern__http_parse(&p, guard_buf_put(&G, req, n), n, &m, h, 64);
  }
  assert_int_equal(rc, TERN_ELIMIT);
  assert_int_equal(p.status, 431);
}

static void test_limit_header_count(void **state) {
  static char req[4096];
  tern__http_parser p;
  size_t n = 0, i, at, ends[12];
  long rc;

  (void)state;
  n += (size_t)sprintf(req + n, "GET / HTTP/1.1\r\n");
  for (i = 0; i < 10; i++) {
    n += (size_t)sprintf(req + n, "X-%zu: v\r\n", i);
    ends[i] = n; /* length up to and including field i's LF */
  }
  n += (size_t)sprintf(req + n, "\r\n");
  /* parse of 10 fields with max_headers 10: fine (Host is missing, but
   * that is judged after the count) */
  at = feed_until(TERN__HTTP_REQUEST, req, n, 0, 0, 10, 64, &p, &rc);
  assert_int_equal(at, n);
  assert_int_equal(p.status, 400);
  assert_string_equal(p.error, "missing Host");
  /* max_headers 9: refused when the 10th field line ends */
  at = feed_until(TERN__HTTP_REQUEST, req, n, 0, 0, 9, 64, &p, &rc);
  assert_int_equal(at, ends[9]);
  assert_int_equal(rc, TERN_ELIMIT);
  assert_int_equal(p.status, 431);
  assert_string_equal(p.error, "too many header fields");
  /* the caller's array is the other bound */
  at = feed_until(TERN__HTTP_REQUEST, req, n, 0, 0, 64, 4, &p, &rc);
  assert_int_equal(at, ends[4]);
  assert_int_equal(p.status, 431);
  at = feed_until(TERN__HTTP_REQUEST, req, n, 0, 0, 64, 0, &p, &rc);
  assert_int_equal(at, ends[0]);
  assert_int_equal(p.status, 431);
}

/* A 16 KiB head fed one byte per call costs O(n): the parser looks at
 * each byte a small constant number of times, not once per call. */
static void test_bytewise_is_linear(void **state) {
  static char req[16384];
  static tern_http_header hdrs[300];
  tern__http_parser p;
  tern_http_msg m;
  size_t n = 0, i, last = 0;
  long rc = 0;

  (void)state;
  n += (size_t)sprintf(req + n, "GET /big HTTP/1.1\r\nHost: a\r\n");
  while (n < sizeof(req) - 100)
    n += (size_t)sprintf(req + n, "X-Field-%zu: %s\r\n", n,
                         "some value that is about sixty bytes long, give or take");
  n += (size_t)sprintf(req + n, "\r\n");
  tern__http_parser_init(&p, TERN__HTTP_REQUEST, 0, sizeof(req), 300);
  http_work = 0;
  for (i = 1; i <= n && rc == 0; i++) {
    rc = tern__http_parse(&p, (const uint8_t *)req, i, &m, hdrs, N(hdrs));
    assert_true(p.scanned >= last);
    last = p.scanned;
  }
  assert_int_equal(rc, (long)n);
  assert_int_equal(i - 1, n);
  /* scan: every byte once; parse: the head once more */
  print_message("head %zu bytes, %zu calls, %zu bytes looked at\n", n, n,
                http_work);
  assert_true(http_work <= 2 * n);
  assert_true(m.num_headers > 200);
}

/* ---- calling conventions ------------------------------------------------ */

static void test_sticky_and_repeat(void **state) {
  tern__http_parser p;
  tern_http_msg m;
  tern_http_header h[8];
  const char *bad = "GET / HTTP/1.1\nHost: a\r\n\r\n";
  const char *good = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET";
  long rc;

  (void)state;
  parser_init(&p, TERN__HTTP_REQUEST);
  rc = tern__http_parse(&p, (const uint8_t *)bad, strlen(bad), &m, h, 8);
  assert_int_equal(rc, TERN_EPROTO);
  rc = tern__http_parse(&p, (const uint8_t *)bad, strlen(bad), &m, h, 8);
  assert_int_equal(rc, TERN_EPROTO);
  assert_int_equal(p.status, 400);
  /* after a complete head, the same bytes give the same head */
  parser_init(&p, TERN__HTTP_REQUEST);
  rc = tern__http_parse(&p, (const uint8_t *)good, strlen(good), &m, h, 8);
  assert_int_equal(rc, 27);
  rc = tern__http_parse(&p, (const uint8_t *)good, strlen(good), &m, h, 8);
  assert_int_equal(rc, 27);
  assert_view(m.path, "/");
  /* fewer bytes than before: not the same message */
  rc = tern__http_parse(&p, (const uint8_t *)good, 10, &m, h, 8);
  assert_int_equal(rc, TERN_EINVAL);
  parser_init(&p, TERN__HTTP_REQUEST);
  rc = tern__http_parse(&p, (const uint8_t *)good, 10, &m, h, 8);
  assert_int_equal(rc, 0);
  rc = tern__http_parse(&p, (const uint8_t *)good, 5, &m, h, 8);
  assert_int_equal(rc, TERN_EINVAL);
  /* nothing yet */
  parser_init(&p, TERN__HTTP_REQUEST);
  assert_int_equal(tern__http_parse(&p, guard_buf_put(&G, "", 0), 0, &m, h, 8),
                   0);
}

static void test_defaults(void **state) {
  tern__http_parser p;

  (void)state;
  tern__http_parser_init(&p, TERN__HTTP_REQUEST, 0, 0, 0);
  assert_int_equal(p.max_line, 8192);
  assert_int_equal(p.max_head, 16384);
  assert_int_equal(p.max_headers, 64);
  tern__http_parser_init(&p, TERN__HTTP_RESPONSE, 1, 2, 3);
  assert_int_equal(p.kind, TERN__HTTP_RESPONSE);
  assert_int_equal(p.max_line, 1);
  assert_int_equal(p.max_head, 2);
  assert_int_equal(p.max_headers, 3);
}

/* ---- helpers ------------------------------------------------------------ */

static tern_str S(const char *s) {
  tern_str v = {s, strlen(s)};
  return v;
}

static void test_find_and_tokens(void **state) {
  result r;
  const tern_http_header *h;
  tern_str none;

  (void)state;
  parse_req("GET / HTTP/1.1\r\nHost: a\r\nX-Dup: 1\r\nx-dup: 2\r\n"
            "X-Empty:\r\n\r\n", &r);
  h = tern__http_find(&r.msg, "X-DUP");
  assert_non_null(h);
  assert_view(h->value, "1"); /* the first */
  assert_null(tern__http_find(&r.msg, "X-Du"));
  assert_null(tern__http_find(&r.msg, "X-Dupe"));
  none = tern_http_header_get(&r.msg, "missing");
  assert_null(none.ptr);
  assert_int_equal(none.len, 0);
  none = tern_http_header_get(&r.msg, "x-empty");
  assert_non_null(none.ptr); /* present but empty */
  assert_int_equal(none.len, 0);

  assert_true(tern__http_has_token(S("close"), "close"));
  assert_true(tern__http_has_token(S("Keep-Alive, Upgrade"), "upgrade"));
  assert_true(tern__http_has_token(S(" a ,\tb\t, c "), "b"));
  assert_true(tern__http_has_token(S(",,x,,"), "x"));
  assert_false(tern__http_has_token(S("closed"), "close"));
  assert_false(tern__http_has_token(S("clos"), "close"));
  assert_false(tern__http_has_token(S("a b"), "a"));
  assert_false(tern__http_has_token(S(""), "close"));
  {
    tern_str null_view = {NULL, 0};
    assert_false(tern__http_has_token(null_view, "close"));
  }
}

static int setup(void **state) {
  (void)state;
  guard_buf_init(&G, 65536);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  guard_buf_free(&G);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vector_names),
      cmocka_unit_test(test_corpus_in_sync),
      cmocka_unit_test(test_ctype_table),
      cmocka_unit_test(test_skip_words),
      cmocka_unit_test(test_request_vectors),
      cmocka_unit_test(test_response_vectors),
      cmocka_unit_test(test_browser_get),
      cmocka_unit_test(test_query_and_http10),
      cmocka_unit_test(test_target_forms),
      cmocka_unit_test(test_field_values),
      cmocka_unit_test(test_refusal_reasons),
      cmocka_unit_test(test_content_length),
      cmocka_unit_test(test_transfer_encoding),
      cmocka_unit_test(test_keep_alive),
      cmocka_unit_test(test_upgrade_and_expect),
      cmocka_unit_test(test_pipelined_and_leading_crlf),
      cmocka_unit_test(test_response_fields),
      cmocka_unit_test(test_limit_request_line),
      cmocka_unit_test(test_limit_head),
      cmocka_unit_test(test_limit_header_count),
      cmocka_unit_test(test_bytewise_is_linear),
      cmocka_unit_test(test_sticky_and_repeat),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_find_and_tokens),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
