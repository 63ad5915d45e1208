/* fuzz/http_request.c: libFuzzer target for the HTTP/1.1 head parser
 * (tern__http_parse) on requests; fuzz/http_response.c includes this file
 * with FUZZ_KIND set to responses.
 *
 * Small limits (start line 256, head 2048, 24 fields, an array of 16) so
 * the limit paths are reached. Every input is parsed in one call, in two
 * calls split at two positions (each prefix copied to a buffer of exactly
 * its size, so ASan catches a read past len), and byte by byte; all must
 * agree. On success we check what the parser promises: every view lies
 * inside the head, the head ends in CRLF CRLF, names are tokens, values
 * are trimmed and hold no CR, LF or NUL, framing fields are consistent.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     fuzz/http_request.c src/proto/http_parse.c src/base/str.c \
 *     -o /tmp/fuzz_hreq
 *   /tmp/fuzz_hreq -dict=fuzz/http.dict fuzz/corpus/http_request
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_parse.h"

#ifndef FUZZ_KIND
#define FUZZ_KIND TERN__HTTP_REQUEST
#endif

#define MAX_LINE 256
#define MAX_HEAD 2048
#define MAX_HEADERS 24
#define MAX_HDRS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
  do {              \
    if (!(cond))    \
      abort();      \
  } while (0)

typedef struct run {
  long rc;
  int status;
  const char *error;
  const uint8_t *buf; /* the bytes the last call saw */
  tern_http_msg m;
  tern_http_header h[MAX_HDRS];
} run;

static void run_init(run *r, tern__http_parser *p) {
  memset(r, 0, sizeof(*r));
  tern__http_parser_init(p, FUZZ_KIND, MAX_LINE, MAX_HEAD, MAX_HEADERS);
}

static void run_call(run *r, tern__http_parser *p, const uint8_t *buf,
                     size_t len) {
  r->buf = buf;
  r->rc = tern__http_parse(p, buf, len, &r->m, r->h, MAX_HDRS);
  r->status = p->status;
  r->error = p->error;
}

/* ---- what a result must satisfy ---------------------------------------- */

static void check_view(tern_str v, const uint8_t *buf, size_t n) {
  const uint8_t *p = (const uint8_t *)v.ptr;
  size_t i;

  CHECK(p != NULL && p >= buf && p <= buf + n);
  CHECK(v.len <= (size_t)(buf + n - p));
  for (i = 0; i < v.len; i++)
    CHECK(p[i] != '\r' && p[i] != '\n' && p[i] != '\0');
}

static bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

/* The last field's name finds a field of that name, at or before it. */
static void check_find(const tern_http_msg *m) {
  static char name[MAX_HEAD + 1];
  const tern_http_header *last = &m->headers[m->num_headers - 1], *h;

  memcpy(name, last->name.ptr, last->name.len);
  name[last->name.len] = '\0';
  h = tern__http_find(m, name);
  CHECK(h != NULL && h <= last && tern_str_ieq(h->name, name));
  CHECK(tern_http_header_get(m, name).ptr == h->value.ptr);
}

static void check_fields(const tern_http_msg *m, const uint8_t *buf,
                         size_t n) {
  size_t i, j;

  CHECK(m->num_headers <= MAX_HDRS && m->num_headers <= MAX_HEADERS);
  CHECK(m->num_headers == 0 || m->headers != NULL);
  for (i = 0; i < m->num_headers; i++) {
    tern_str name = m->headers[i].name, v = m->headers[i].value;
    check_view(name, buf, n);
    check_view(v, buf, n);
    CHECK(name.len > 0);
    for (j = 0; j < name.len; j++)
      CHECK(tern__http_ctype[(uint8_t)name.ptr[j]] & TERN__HTTP_C_TCHAR);
    CHECK(v.len == 0 || (!is_ows(v.ptr[0]) && !is_ows(v.ptr[v.len - 1])));
  }
  if (m->num_headers > 0) check_find(m);
}

static void check_ok(const run *r, size_t size) {
  const tern_http_msg *m = &r->m;
  size_t n = (size_t)r->rc;

  CHECK(n <= size && n <= MAX_HEAD && n >= 4);
  CHECK(r->status == 0 && m->head_len == n);
  CHECK(memcmp(r->buf + n - 4, "\r\n\r\n", 4) == 0);
  check_view(m->method, r->buf, n);
  check_view(m->target, r->buf, n);
  check_view(m->path, r->buf, n);
  check_view(m->query, r->buf, n);
  check_view(m->authority, r->buf, n);
  check_view(m->reason, r->buf, n);
  check_fields(m, r->buf, n);
  CHECK(m->version_minor <= 1);
  CHECK(m->content_length >= -1 && m->content_length <= ((int64_t)1 << 62));
  CHECK(!m->chunked || m->content_length == -1);
  CHECK(!m->upgrade || m->version_minor == 1);
  if (FUZZ_KIND == TERN__HTTP_REQUEST) {
    CHECK(m->method.len > 0 && m->target.len > 0 && m->status == 0);
    CHECK(m->path.len <= m->target.len);
    CHECK(memchr(m->target.ptr, '#', m->target.len) == NULL);
    CHECK(m->version_minor == 1 || !m->chunked);
  } else {
    CHECK(m->status >= 100 && m->status <= 599 && m->method.len == 0);
    CHECK(!m->expect_continue);
  }
}

static void check_result(const run *r, size_t size) {
  if (r->rc > 0) {
    check_ok(r, size);
    return;
  }
  if (r->rc == 0) {
    CHECK(r->status == 0 && r->error == NULL && size <= MAX_HEAD);
    return;
  }
  CHECK(r->error != NULL && r->error[0] != '\0');
  CHECK(r->status == 400 || r->status == 414 || r->status == 417 ||
        r->status == 431 || r->status == 501 || r->status == 505);
  CHECK((r->rc == TERN_ELIMIT) == (r->status == 414 || r->status == 431));
  CHECK(r->rc == TERN_ELIMIT || r->rc == TERN_EPROTO);
}

/* ---- the same answer however the input arrives -------------------------- */

static void same_view(tern_str a, const uint8_t *abuf, tern_str b,
                      const uint8_t *bbuf) {
  CHECK((const uint8_t *)a.ptr - abuf == (const uint8_t *)b.ptr - bbuf);
  CHECK(a.len == b.len);
}

static void check_same(const run *a, const run *b) {
  const tern_http_msg *x = &a->m, *y = &b->m;
  size_t i;

  CHECK(a->rc == b->rc && a->status == b->status && a->error == b->error);
  if (a->rc <= 0) return;
  same_view(x->method, a->buf, y->method, b->buf);
  same_view(x->target, a->buf, y->target, b->buf);
  same_view(x->path, a->buf, y->path, b->buf);
  same_view(x->query, a->buf, y->query, b->buf);
  same_view(x->authority, a->buf, y->authority, b->buf);
  same_view(x->reason, a->buf, y->reason, b->buf);
  CHECK(x->num_headers == y->num_headers);
  for (i = 0; i < x->num_headers; i++) {
    same_view(x->headers[i].name, a->buf, y->headers[i].name, b->buf);
    same_view(x->headers[i].value, a->buf, y->headers[i].value, b->buf);
  }
  CHECK(x->status == y->status && x->version_minor == y->version_minor);
  CHECK(x->content_length == y->content_length && x->chunked == y->chunked);
  CHECK(x->keep_alive == y->keep_alive && x->upgrade == y->upgrade);
  CHECK(x->expect_continue == y->expect_continue);
  CHECK(x->head_len == y->head_len);
}

/* s[0, k) in a buffer of exactly k bytes, then all of s. */
static void parse_split(const uint8_t *s, size_t size, size_t k, run *r) {
  tern__http_parser p;
  uint8_t *copy = malloc(k ? k : 1);

  CHECK(copy != NULL);
  if (k) memcpy(copy, s, k);
  run_init(r, &p);
  run_call(r, &p, copy, k);
  if (r->rc == 0) run_call(r, &p, s, size);
  if (r->buf == copy) r->buf = NULL; /* compare only the full call */
  free(copy);
}

/* One byte more per call, the same buffer each time. */
static void parse_bytewise(const uint8_t *s, size_t size, run *r) {
  tern__http_parser p;
  size_t i;

  run_init(r, &p);
  for (i = 1; i <= size && r->rc == 0; i++) run_call(r, &p, s, i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static run one, other;
  tern__http_parser p;
  size_t k;

  run_init(&one, &p);
  run_call(&one, &p, data, size);
  check_result(&one, size);
  /* split at the middle and at a position the input chooses */
  for (k = 0; k < 2 && size > 0; k++) {
    size_t at = k == 0 ? size / 2 : data[0] % size;
    parse_split(data, size, at, &other);
    if (other.buf == NULL) { /* decided on the prefix */
      CHECK(other.rc != 0 && (other.rc < 0 || one.rc == other.rc));
      CHECK(other.rc > 0 || (other.status == one.status &&
                             other.error == one.error));
      continue;
    }
    check_same(&one, &other);
  }
  if (size <= 4096) {
    parse_bytewise(data, size, &other);
    check_same(&one, &other);
  }
  return 0;
}
