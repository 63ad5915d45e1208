/* fuzz/http_chunked.c: libFuzzer target for the chunked decoder
 * (tern__chunked_decode, RFC 9112 7.1).
 *
 * The whole input is the body, so the seeds are plain chunked bodies. Its
 * length picks the bounds (defaults, or for a quarter of the lengths a
 * 24-byte line and a 64-byte trailer section, so those refusals are
 * reached). It is decoded in one call, in two pieces cut where its last
 * byte says,
 * and byte by byte, each piece in a buffer of exactly its size (ASan
 * catches a read past len); the data handed out, the bytes consumed, done
 * and the error must be the same every time. Every data span must lie
 * inside the piece it came from.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     fuzz/http_chunked.c src/proto/http_chunked.c src/proto/http_parse.c \
 *     src/base/str.c -o /tmp/fuzz_hchunk
 *   /tmp/fuzz_hchunk -dict=fuzz/http_chunked.dict fuzz/corpus/http_chunked
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
  do {              \
    if (!(cond))    \
      abort();      \
  } while (0)

typedef struct run {
  uint8_t *out; /* data handed out; never more than the input */
  size_t out_len;
  const uint8_t *piece; /* the piece being decoded */
  size_t piece_len;
  long consumed; /* or the error code */
  bool done;
  const char *error;
} run;

static void on_data(void *ud, const uint8_t *p, size_t n) {
  run *r = ud;

  CHECK(n > 0 && p >= r->piece && p + n <= r->piece + r->piece_len);
  memcpy(r->out + r->out_len, p, n);
  r->out_len += n;
}

static void decoder_init(tern__chunked *d, bool small) {
  tern__chunked_init(d);
  if (small) {
    d->max_line = 24;
    d->max_trailer = 64;
  }
}

/* Decode s in pieces of at most step bytes, the first of first bytes. */
static void decode(const uint8_t *s, size_t size, bool small, size_t first,
                   size_t step, run *r, uint8_t *out) {
  tern__chunked d;
  size_t at = 0, calls = 0;

  memset(r, 0, sizeof(*r));
  r->out = out;
  decoder_init(&d, small);
  while (at < size && !d.done) {
    size_t n = calls++ == 0 ? first : step;
    uint8_t *copy;
    long rc;

    if (n > size - at) n = size - at;
    copy = malloc(n ? n : 1);
    CHECK(copy != NULL);
    memcpy(copy, s + at, n);
    r->piece = copy;
    r->piece_len = n;
    rc = tern__chunked_decode(&d, copy, n, on_data, r);
    free(copy);
    if (rc < 0) {
      r->consumed = rc;
      break;
    }
    CHECK((size_t)rc == n || ((size_t)rc < n && d.done));
    r->consumed += rc;
    at += (size_t)rc;
  }
  r->done = d.done;
  r->error = d.error;
}

static void check_run(const run *r, const uint8_t *s, size_t size) {
  if (r->consumed < 0) {
    CHECK(r->error != NULL && !r->done);
    CHECK(r->consumed == TERN_EPROTO || r->consumed == TERN_ELIMIT);
    return;
  }
  CHECK(r->error == NULL && (size_t)r->consumed <= size);
  CHECK(r->out_len <= (size_t)r->consumed);
  CHECK(r->done || (size_t)r->consumed == size);
  if (r->done) /* the body ends in the final CRLF */
    CHECK(r->consumed >= 5 &&
          memcmp(s + r->consumed - 2, "\r\n", 2) == 0);
}

static void check_same(const run *a, const run *b) {
  CHECK(a->consumed == b->consumed && a->done == b->done);
  CHECK(a->error == b->error && a->out_len == b->out_len);
  CHECK(memcmp(a->out, b->out, a->out_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *out1, *out2;
  run one, other;
  bool small;
  size_t cut;

  if (size == 0) return 0;
  small = (size & 3) == 3;
  cut = (data[size - 1] * 31u + size) % (size + 1);
  out1 = malloc(size + 1);
  out2 = malloc(size + 1);
  CHECK(out1 != NULL && out2 != NULL);
  decode(data, size, small, size, size, &one, out1);
  check_run(&one, data, size);
  decode(data, size, small, cut, size, &other, out2);
  check_same(&one, &other);
  if (size <= 4096) {
    decode(data, size, small, 1, 1, &other, out2);
    check_same(&one, &other);
  }
  free(out1);
  free(out2);
  return 0;
}
