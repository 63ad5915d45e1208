/* tests/proto/test_http_chunked.c: the chunked decoder (RFC 9112 7.1) on
 * tables of valid and malformed bodies. Every valid body is decoded in
 * one call, split in two at every position, and byte by byte, each piece
 * right before a guard page; the data must come out the same every time.
 * Malformed bodies must fail however they are split, with the same reason
 * and after the same data.
 *
 * The bodies double as fuzz seeds in fuzz/corpus/http_chunked/<name>;
 * test_corpus_in_sync checks them (TERN_WRITE_CORPUS=1 rewrites them).
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

#include "proto/http_parse.h"
#include "proto/guard_buf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct sample {
  const char *name; /* also the corpus file name */
  const char *text;
  size_t len;
  const char *data;  /* valid: the decoded data; malformed: data before */
  size_t data_len;
  size_t consumed;   /* valid: bytes that belong to the body (0: all) */
  const char *error; /* NULL: valid */
} sample;

#define OK(name, text, data) \
  {name, text, sizeof(text) - 1, data, sizeof(data) - 1, 0, NULL}
#define OKN(name, text, data, n) \
  {name, text, sizeof(text) - 1, data, sizeof(data) - 1, n, NULL}
#define BAD(name, text, data, why) \
  {name, text, sizeof(text) - 1, data, sizeof(data) - 1, 0, why}

static const sample samples[] = {
    OK("ok-one-chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"),
    OK("ok-empty-body", "0\r\n\r\n", ""),
    OK("ok-zeros-last", "000\r\n\r\n", ""),
    OK("ok-three-chunks", "3\r\nabc\r\n1\r\nd\r\n6\r\nefghij\r\n0\r\n\r\n",
       "abcdefghij"),
    OK("ok-hex-upper", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
    OK("ok-hex-lower", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
    OK("ok-leading-zeros", "0005\r\nhello\r\n0\r\n\r\n", "hello"),
    OK("ok-crlf-in-data", "6\r\n\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n\r\n"),
    OK("ok-binary-data", "4\r\n\0\xff\n\r\r\n0\r\n\r\n", "\0\xff\n\r"),
    OK("ok-extensions",
       "5;a=b;c\r\nhello\r\n0;last=\"yes\"\r\n\r\n", "hello"),
    OK("ok-extension-bws", "5 ; a = b ;c\r\nhello\r\n0\r\n\r\n", "hello"),
    OK("ok-extension-quoted",
       "5;q=\"a;b=\\\"c\\\\ \t\xc3\xa9\"\r\nhello\r\n0\r\n\r\n", "hello"),
    OK("ok-extension-empty-quoted", "5;q=\"\"\r\nhello\r\n0\r\n\r\n", "hello"),
    OK("ok-trailers",
       "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nY:\r\nZ: a b \t\r\n\r\n",
       "hello"),
    OK("ok-trailer-obs-text", "0\r\nX: \xc3\xa9\r\n\r\n", ""),
    OKN("ok-pipelined", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", "abc",
        13),
    BAD("err-no-size", "\r\nhello\r\n0\r\n\r\n", "", "chunk size expected"),
    BAD("err-bad-hex", "g\r\n", "", "chunk size expected"),
    BAD("err-negative", "-5\r\nhello\r\n", "", "chunk size expected"),
    BAD("err-hex-prefix", "0x5\r\nhello\r\n", "", "bad character in chunk size"),
    BAD("err-size-space", "5 \r\nhello\r\n0\r\n\r\n", "", "bad chunk extension"),
    BAD("err-size-overflow", "4000000000000001\r\n", "",
        "chunk size too large"),
    BAD("err-size-2-64", "10000000000000000\r\n", "", "chunk size too large"),
    BAD("err-size-huge", "ffffffffffffffffffffffff\r\n", "",
        "chunk size too large"),
    BAD("err-bare-lf-size", "5\nhello\r\n0\r\n\r\n", "", "bare LF"),
    BAD("err-bare-cr-size", "5\rhello\r\n0\r\n\r\n", "", "bare CR"),
    BAD("err-no-crlf-after-data", "5\r\nhelloX\r\n0\r\n\r\n", "hello",
        "no CRLF after chunk data"),
    BAD("err-lf-after-data", "5\r\nhello\n0\r\n\r\n", "hello",
        "bare LF"),
    BAD("err-cr-cr-after-data", "5\r\nhello\r\r\n0\r\n\r\n", "hello",
        "bare CR"),
    BAD("err-data-too-long", "3\r\nhello\r\n0\r\n\r\n", "hel",
        "no CRLF after chunk data"),
    BAD("err-ext-no-name", "5;\r\nhello\r\n", "", "bad chunk extension"),
    BAD("err-ext-no-value", "5;a=\r\nhello\r\n", "", "bad chunk extension"),
    BAD("err-ext-ctl", "5;a\x01\r\nhello\r\n", "", "bad chunk extension"),
    BAD("err-ext-bad-token", "5;a=b@c\r\nhello\r\n", "", "bad chunk extension"),
    BAD("err-ext-open-quote", "5;a=\"x\r\nhello\r\n", "", "bad chunk extension"),
    BAD("err-ext-bad-qpair", "5;a=\"\\\x01\"\r\nhello\r\n", "",
        "bad chunk extension"),
    BAD("err-ext-after-quote", "5;a=\"x\"y\r\nhello\r\n", "",
        "bad chunk extension"),
    BAD("err-ext-space-cr", "5;a \r\nhello\r\n", "", "bad chunk extension"),
    BAD("err-trailer-obs-fold", "0\r\nX: a\r\n b\r\n\r\n", "",
        "obs-fold in trailer"),
    BAD("err-trailer-space-colon", "0\r\nX : a\r\n\r\n", "",
        "whitespace before colon in trailer"),
    BAD("err-trailer-no-colon", "0\r\nX\r\n\r\n", "", "bad trailer field name"),
    BAD("err-trailer-empty-name", "0\r\n: a\r\n\r\n", "",
        "bad trailer field name"),
    BAD("err-trailer-ctl", "0\r\nX: a\x01\r\n\r\n", "",
        "bad character in trailer value"),
    BAD("err-trailer-bare-lf", "0\r\nX: a\n\r\n", "", "bare LF"),
    BAD("err-final-bare-lf", "0\r\n\n", "", "bare LF"),
    BAD("err-final-cr-x", "0\r\n\rx", "", "bare CR"),
};

static guard_buf G;

/* ---- decoding --------------------------------------------------------- */

typedef struct sink {
  uint8_t data[4096];
  size_t len;
  const uint8_t *in; /* the piece being decoded, to check spans */
  size_t in_len;
  size_t calls;
} sink;

static void on_data(void *ud, const uint8_t *p, size_t n) {
  sink *s = ud;

  /* a view into the piece, never a copy, never empty */
  assert_true(n > 0);
  assert_true(p >= s->in && p + n <= s->in + s->in_len);
  assert_true(s->len + n <= sizeof(s->data));
  memcpy(s->data + s->len, p, n);
  s->len += n;
  s->calls++;
}

typedef struct outcome {
  long rc;        /* < 0 error, else total bytes consumed */
  bool done;
  const char *error;
  sink out;
} outcome;

/* Decode text cut at the given positions (ascending, ending with len),
 * each piece alone right before the guard page. */
static void decode_pieces(const sample *s, const size_t *cuts, size_t ncuts,
                          outcome *o) {
  tern__chunked d;
  size_t from = 0, i;

  memset(o, 0, sizeof(*o));
  tern__chunked_init(&d);
  for (i = 0; i < ncuts; i++) {
    size_t n = cuts[i] - from;
    long rc;
    o->out.in = guard_buf_put(&G, s->text + from, n);
    o->out.in_len = n;
    rc = tern__chunked_decode(&d, o->out.in, n, on_data, &o->out);
    if (rc < 0) {
      o->rc = rc;
      break;
    }
    assert_true((size_t)rc <= n);
    if ((size_t)rc < n) assert_true(d.done); /* all of it unless done */
    o->rc += rc;
    from = cuts[i];
    if (d.done) break;
  }
  o->done = d.done;
  o->error = d.error;
}

static void decode_once(const sample *s, outcome *o) {
  size_t cut = s->len;
  decode_pieces(s, &cut, 1, o);
}

static void assert_same(const sample *s, const outcome *a, const outcome *b,
                        const char *how) {
  if (a->rc != b->rc || a->done != b->done || a->out.len != b->out.len ||
      memcmp(a->out.data, b->out.data, a->out.len) != 0 ||
      strcmp(a->error ? a->error : "", b->error ? b->error : "") != 0)
    fail_msg("%s %s: rc %ld/%ld done %d/%d data %zu/%zu error %s/%s", s->name,
             how, a->rc, b->rc, a->done, b->done, a->out.len, b->out.len,
             a->error ? a->error : "-", b->error ? b->error : "-");
}

static void check_outcome(const sample *s, const outcome *o) {
  if (o->out.len != s->data_len ||
      memcmp(o->out.data, s->data, s->data_len) != 0)
    fail_msg("%s: data \"%.*s\"", s->name, (int)o->out.len, o->out.data);
  if (s->error == NULL) {
    size_t want = s->consumed ? s->consumed : s->len;
    if (o->rc != (long)want || !o->done)
      fail_msg("%s: rc %ld done %d (%s), want %zu", s->name, o->rc, o->done,
               o->error ? o->error : "-", want);
    assert_null(o->error);
    return;
  }
  if (o->rc >= 0 || o->error == NULL || strcmp(o->error, s->error) != 0)
    fail_msg("%s: rc %ld error \"%s\", want \"%s\"", s->name, o->rc,
             o->error ? o->error : "-", s->error);
  assert_false(o->done);
}

static void test_samples(void **state) {
  size_t i, k;

  (void)state;
  for (i = 0; i < N(samples); i++) {
    const sample *s = &samples[i];
    size_t cuts[2], bytes[256];
    outcome one, other;

    decode_once(s, &one);
    check_outcome(s, &one);
    for (k = 0; k <= s->len; k++) {
      cuts[0] = k;
      cuts[1] = s->len;
      decode_pieces(s, cuts, 2, &other);
      assert_same(s, &one, &other, "split");
    }
    assert_true(s->len <= N(bytes));
    for (k = 0; k < s->len; k++) bytes[k] = k + 1;
    decode_pieces(s, bytes, s->len, &other);
    assert_same(s, &one, &other, "byte by byte");
  }
}

/* Names say what to expect. */
static void test_sample_names(void **state) {
  size_t i;

  (void)state;
  for (i = 0; i < N(samples); i++) {
    const char *want = samples[i].error ? "err-" : "ok-";
    assert_true(strncmp(samples[i].name, want, strlen(want)) == 0);
  }
}

/* ---- the corpus files ------------------------------------------------- */

static void corpus_path(char *out, size_t size, const char *name) {
  const char *me = __FILE__, *tail = strstr(me, "tests/proto/");
  int n = tail ? (int)(tail - me) : 0;

  snprintf(out, size, "%.*sfuzz/corpus/http_chunked/%s", n, me, name);
}

static void test_corpus_in_sync(void **state) {
  bool write = getenv("TERN_WRITE_CORPUS") != NULL;
  size_t i;

  (void)state;
  for (i = 0; i < N(samples); i++) {
    char path[1024], got[4096];
    FILE *f;
    size_t n;

    corpus_path(path, sizeof(path), samples[i].name);
    f = fopen(path, write ? "wb" : "rb");
    if (f == NULL)
      fail_msg("%s: %s (TERN_WRITE_CORPUS=1 writes it)", path, strerror(errno));
    if (write) {
      assert_int_equal(fwrite(samples[i].text, 1, samples[i].len, f),
                       samples[i].len);
      fclose(f);
      continue;
    }
    n = fread(got, 1, sizeof(got), f);
    fclose(f);
    if (n != samples[i].len || memcmp(got, samples[i].text, n) != 0)
      fail_msg("%s differs from the table (TERN_WRITE_CORPUS=1 rewrites it)",
               path);
  }
}

/* ---- single behaviours ------------------------------------------------ */

static long decode_str(tern__chunked *d, const char *s, sink *out) {
  size_t n = strlen(s);

  out->in = guard_buf_put(&G, s, n);
  out->in_len = n;
  return tern__chunked_decode(d, out->in, n, on_data, out);
}

static void test_size_bound(void **state) {
  tern__chunked d;
  sink out;

  (void)state;
  memset(&out, 0, sizeof(out));
  tern__chunked_init(&d);
  /* exactly 2^62 is allowed: header accepted, data awaited */
  assert_int_equal(decode_str(&d, "4000000000000000\r\n", &out), 18);
  assert_null(d.error);
  assert_false(d.done);
  assert_true(d.remaining == (uint64_t)1 << 62);
  assert_int_equal(decode_str(&d, "abc", &out), 3);
  assert_true(d.remaining == ((uint64_t)1 << 62) - 3);
  /* leading zeros do not count against the bound */
  tern__chunked_init(&d);
  assert_int_equal(decode_str(&d, "00000000000000000000004000000000000000\r\n",
                              &out), 40);
  assert_null(d.error);
}

static void test_line_limits(void **state) {
  tern__chunked d;
  sink out;
  char line[64];

  (void)state;
  memset(&out, 0, sizeof(out));
  /* size line: max_line bytes including CRLF */
  tern__chunked_init(&d);
  assert_int_equal(d.max_line, 4096);
  assert_int_equal(d.max_trailer, 16384);
  d.max_line = 12;
  assert_int_equal(decode_str(&d, "5;abcdefgh\r\n", &out), 12);
  assert_null(d.error);
  tern__chunked_init(&d);
  d.max_line = 12;
  assert_int_equal(decode_str(&d, "5;abcdefghi\r\n", &out), TERN_ELIMIT);
  assert_string_equal(d.error, "chunk size or trailer line too long");
  /* sticks */
  assert_int_equal(decode_str(&d, "5\r\n", &out), TERN_ELIMIT);
  /* trailer lines and the whole trailer section */
  tern__chunked_init(&d);
  d.max_line = 8;
  assert_int_equal(decode_str(&d, "0\r\nA: 1234\r\n", &out), TERN_ELIMIT);
  tern__chunked_init(&d);
  d.max_trailer = 20;
  snprintf(line, sizeof(line), "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n");
  assert_int_equal(decode_str(&d, line, &out), TERN_ELIMIT);
  assert_string_equal(d.error, "trailer section too large");
  tern__chunked_init(&d);
  d.max_trailer = 20;
  assert_int_equal(decode_str(&d, "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &out),
                   23); /* 20 bytes of trailer section: just fits */
  assert_true(d.done);
}

static void test_done_and_sticky(void **state) {
  tern__chunked d;
  sink out;

  (void)state;
  memset(&out, 0, sizeof(out));
  tern__chunked_init(&d);
  assert_int_equal(decode_str(&d, "0\r\n\r\nXYZ", &out), 5);
  assert_true(d.done);
  assert_int_equal(decode_str(&d, "XYZ", &out), 0); /* not consumed */
  tern__chunked_init(&d);
  assert_int_equal(decode_str(&d, "z", &out), TERN_EPROTO);
  assert_int_equal(decode_str(&d, "0\r\n\r\n", &out), TERN_EPROTO);
  assert_false(d.done);
  /* nothing in, nothing out */
  tern__chunked_init(&d);
  assert_int_equal(tern__chunked_decode(&d, guard_buf_put(&G, "", 0), 0,
                                        on_data, &out), 0);
  /* fn NULL discards the data */
  tern__chunked_init(&d);
  assert_int_equal(tern__chunked_decode(&d, (const uint8_t *)"2\r\nab\r\n0\r\n\r\n",
                                        12, NULL, NULL), 12);
  assert_true(d.done);
}

/* A large chunk comes out as one span per call, without copies. */
static void test_large_chunk(void **state) {
  static uint8_t body[40000];
  tern__chunked d;
  sink out;
  size_t n, i;

  (void)state;
  memset(&out, 0, sizeof(out));
  n = (size_t)sprintf((char *)body, "%x\r\n", 32768);
  for (i = 0; i < 32768; i++) body[n + i] = (uint8_t)i;
  n += 32768;
  memcpy(body + n, "\r\n0\r\n\r\n", 7);
  n += 7;
  tern__chunked_init(&d);
  out.in = guard_buf_put(&G, body, n);
  out.in_len = n;
  {
    /* count spans only: the sink's copy buffer is small */
    long rc;
    sink *s = &out;
    s->len = 0;
    rc = tern__chunked_decode(&d, out.in, 6, on_data, s); /* "8000\r\n" */
    assert_int_equal(rc, 6);
    assert_int_equal(s->calls, 0);
    rc = tern__chunked_decode(&d, out.in + 6, 4000, on_data, s);
    assert_int_equal(rc, 4000);
    assert_int_equal(s->calls, 1);
    assert_int_equal(d.remaining, 32768 - 4000);
    s->len = 0;
    tern__chunked_init(&d); /* the rest in one go, discarding */
    rc = tern__chunked_decode(&d, out.in, n, NULL, NULL);
    assert_int_equal(rc, (long)n);
    assert_true(d.done);
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
      cmocka_unit_test(test_sample_names),
      cmocka_unit_test(test_corpus_in_sync),
      cmocka_unit_test(test_samples),
      cmocka_unit_test(test_size_bound),
      cmocka_unit_test(test_line_limits),
      cmocka_unit_test(test_done_and_sticky),
      cmocka_unit_test(test_large_chunk),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
