/* fuzz/ws_frame.c: libFuzzer target for the WebSocket frame codec
 * (tern__ws_parse_header, tern__ws_mask, tern__ws_encode_header) and the
 * UTF-8 validator (tern_utf8_feed, tern_utf8_valid).
 *
 * The input is read as a frame: header, then payload. Checked:
 *  - a refusal always comes with close code 1002 (RFC 6455 5.2);
 *  - a complete header is 2..14 bytes, within the input, and encodes
 *    back to a header that parses to the same fields;
 *  - every prefix of the first 14 bytes agrees with the whole: it never
 *    returns a complete header longer than itself, a complete header is
 *    the same one, and a refusal of a prefix is a refusal of the whole;
 *  - unmasking the payload in two pieces (cut at a point the fuzzer
 *    picks with the last input byte) equals unmasking it at once, and
 *    masking again restores it (5.3);
 *  - tern_utf8_feed on the payload and on the raw input gives the same
 *    OK / PARTIAL / BAD whole or split, agrees with tern_utf8_valid, and
 *    fails fast: the first piece says BAD exactly when the byte-by-byte
 *    feed went BAD inside it.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     fuzz/ws_frame.c src/proto/ws_frame.c src/base/\*.c -o /tmp/fuzz_ws
 *   /tmp/fuzz_ws -dict=fuzz/ws_frame.dict fuzz/corpus/ws_frame
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws_frame.h"
#include "tern/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
  do {               \
    if (!(cond))     \
      abort();       \
  } while (0)

/* Byte-by-byte feeds are O(n) calls; keep them to short inputs. */
#define BYTEWISE_MAX 4096

static size_t pick_split(const uint8_t *data, size_t size) {
  return size == 0 ? 0 : (size_t)data[size - 1] * (size + 1) / 256;
}

/* The index at which feeding byte by byte first says BAD, or size. */
static size_t first_bad(const uint8_t *p, size_t n) {
  tern_utf8 u = {0};
  size_t i;

  for (i = 0; i < n; i++) {
    if (tern_utf8_feed(&u, p + i, 1) == TERN_UTF8_BAD)
      return i;
  }
  return n;
}

static void check_utf8(const uint8_t *p, size_t n, size_t split) {
  tern_utf8 whole = {0}, parts = {0};
  int r_whole = tern_utf8_feed(&whole, p, n), r1, r2;

  CHECK(r_whole == TERN_UTF8_OK || r_whole == TERN_UTF8_PARTIAL ||
        r_whole == TERN_UTF8_BAD);
  CHECK(tern_utf8_valid(p, n) == (r_whole == TERN_UTF8_OK));
  r1 = tern_utf8_feed(&parts, p, split);
  r2 = tern_utf8_feed(&parts, p + split, n - split);
  CHECK(r2 == r_whole);
  CHECK(r1 != TERN_UTF8_BAD || r2 == TERN_UTF8_BAD);
  CHECK(parts.state == whole.state);
  if (n <= BYTEWISE_MAX) {
    size_t bad = first_bad(p, n);

    CHECK((r1 == TERN_UTF8_BAD) == (bad < split));
    CHECK((r_whole == TERN_UTF8_BAD) == (bad < n));
  }
}

/* Every prefix of the first 14 bytes against the whole header. */
static void check_prefixes(const uint8_t *data, size_t size, long r,
                           const tern__ws_frame *f) {
  tern__ws_frame g;
  uint16_t code;
  size_t k;
  long rk;

  for (k = 0; k <= size && k <= 14; k++) {
    code = 0;
    rk = tern__ws_parse_header(data, k, &g, &code);
    CHECK(rk >= -1 && rk <= (long)k);
    if (rk == -1)
      CHECK(r == -1 && code == TERN__WS_CLOSE_PROTOCOL);
    if (rk > 0)
      CHECK(rk == r && g.payload_len == f->payload_len &&
            g.opcode == f->opcode && g.fin == f->fin);
    if (r > 0 && k >= (size_t)r)
      CHECK(rk == r);
  }
}

/* Encode the parsed fields again; it must parse to the same frame. */
static void check_reencode(const uint8_t *data, const tern__ws_frame *f) {
  uint8_t out[14];
  tern__ws_frame g;
  uint16_t code = 0;
  size_t n = tern__ws_encode_header(out, f->fin, f->opcode, f->payload_len,
                                    f->masked ? f->mask : NULL);

  CHECK(n >= 2 && n <= f->header_len);
  CHECK(tern__ws_parse_header(out, n, &g, &code) == (long)n);
  CHECK(g.fin == f->fin && g.opcode == f->opcode && g.masked == f->masked &&
        g.payload_len == f->payload_len && g.header_len == n);
  CHECK(!f->masked || memcmp(g.mask, f->mask, 4) == 0);
  /* Same length: the input used the shortest form, so same bytes. */
  if (n == f->header_len)
    CHECK(memcmp(out, data, n) == 0);
}

/* Unmask the payload at once and in two pieces; returns the plain text
 * (caller frees) or NULL if there is none. */
static uint8_t *unmask(const tern__ws_frame *f, const uint8_t *p, size_t n,
                       size_t split) {
  uint8_t *once = malloc(n + 1), *twice = malloc(n + 1);

  CHECK(once != NULL && twice != NULL);
  if (split > n)
    split = n;
  tern__ws_mask(once, p, n, f->mask, 0);
  memcpy(twice, p, n);
  tern__ws_mask(twice, twice, split, f->mask, 0);
  tern__ws_mask(twice + split, twice + split, n - split, f->mask, split);
  CHECK(memcmp(once, twice, n) == 0);
  tern__ws_mask(twice, once, n, f->mask, 0); /* masking is an involution */
  CHECK(memcmp(twice, p, n) == 0);
  free(twice);
  return once;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tern__ws_frame f = {0};
  uint16_t code = 0;
  long r = tern__ws_parse_header(data, size, &f, &code);
  size_t split = pick_split(data, size), n;
  uint8_t *plain;

  CHECK(r >= -1 && r <= 14 && r <= (long)size);
  if (r == -1)
    CHECK(code == TERN__WS_CLOSE_PROTOCOL);
  if (r > 0) {
    CHECK(r >= 2 && f.header_len == (size_t)r);
    CHECK(f.opcode <= 2 || (f.opcode >= 8 && f.opcode <= 0xA));
    CHECK(f.opcode < 8 || (f.fin && f.payload_len <= 125));
    CHECK(f.payload_len < (1ull << 63));
    check_reencode(data, &f);
  }
  check_prefixes(data, size, r, &f);
  check_utf8(data, size, split);
  if (r > 0) {
    n = size - (size_t)r;
    if (f.payload_len < n)
      n = (size_t)f.payload_len;
    plain = unmask(&f, data + r, n, split);
    check_utf8(plain, n, split > n ? n : split);
    free(plain);
  }
  return 0;
}
