/* tests/proto/test_ws_frame.c: the WebSocket frame codec (RFC 6455).
 *
 * Parsing the section 5.7 example frames; headers with 7-, 16- and 64-bit
 * lengths encoded then parsed back (and parsed from every shorter prefix,
 * which must ask for more); the shortest length form on output (5.2);
 * refusals with 1002 for RSV bits, reserved opcodes, fragmented or long
 * control frames and a 64-bit length with its MSB set, each as early as
 * the bytes allow; masking (5.3) against a byte-at-a-time reference at
 * every payload offset, alignment and length, in place and in pieces;
 * the 4.2.2 accept key example; and every close code (7.4).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proto/ws_frame.h"
#include "tern/base.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Parse buf[0..len) and check that every shorter prefix needs more. */
static long parse_all(const uint8_t *buf, size_t len, tern__ws_frame *f) {
  tern__ws_frame g;
  uint16_t code = 0;
  long r = tern__ws_parse_header(buf, len, f, &code);
  size_t k;

  assert_true(r > 0);
  for (k = 0; k < (size_t)r; k++)
    assert_int_equal(tern__ws_parse_header(buf, k, &g, &code), 0);
  assert_int_equal(code, 0);
  return r;
}

/* ---- RFC 6455 5.7 examples ------------------------------------------ */

static void test_rfc_unmasked_text(void **state) {
  static const uint8_t frame[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
  tern__ws_frame f;

  (void)state;
  assert_int_equal(parse_all(frame, sizeof(frame), &f), 2);
  assert_true(f.fin);
  assert_false(f.masked);
  assert_int_equal(f.opcode, TERN__WS_OP_TEXT);
  assert_int_equal(f.payload_len, 5);
  assert_int_equal(f.header_len, 2);
}

static void test_rfc_masked_text(void **state) {
  static const uint8_t frame[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                  0x9f, 0x4d, 0x51, 0x58};
  tern__ws_frame f;
  uint8_t out[5];

  (void)state;
  assert_int_equal(parse_all(frame, sizeof(frame), &f), 6);
  assert_true(f.fin && f.masked);
  assert_int_equal(f.opcode, TERN__WS_OP_TEXT);
  assert_int_equal(f.payload_len, 5);
  assert_memory_equal(f.mask, frame + 2, 4);
  tern__ws_mask(out, frame + 6, 5, f.mask, 0);
  assert_memory_equal(out, "Hello", 5);
}

static void test_rfc_fragments_and_ping(void **state) {
  static const uint8_t first[] = {0x01, 0x03, 'H', 'e', 'l'};
  static const uint8_t last[] = {0x80, 0x02, 'l', 'o'};
  static const uint8_t ping[] = {0x89, 0x05, 'H', 'e', 'l', 'l', 'o'};
  static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  static const uint8_t bin256[] = {0x82, 0x7E, 0x01, 0x00};
  static const uint8_t bin64k[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0};
  tern__ws_frame f;

  (void)state;
  assert_int_equal(parse_all(first, sizeof(first), &f), 2);
  assert_false(f.fin);
  assert_int_equal(f.opcode, TERN__WS_OP_TEXT);
  assert_int_equal(parse_all(last, sizeof(last), &f), 2);
  assert_true(f.fin);
  assert_int_equal(f.opcode, TERN__WS_OP_CONT);
  assert_int_equal(parse_all(ping, sizeof(ping), &f), 2);
  assert_int_equal(f.opcode, TERN__WS_OP_PING);
  assert_int_equal(parse_all(pong, sizeof(pong), &f), 6);
  assert_int_equal(f.opcode, TERN__WS_OP_PONG);
  assert_int_equal(parse_all(bin256, sizeof(bin256), &f), 4);
  assert_int_equal(f.payload_len, 256);
  assert_int_equal(parse_all(bin64k, sizeof(bin64k), &f), 10);
  assert_int_equal(f.payload_len, 65536);
  assert_int_equal(f.opcode, TERN__WS_OP_BINARY);
}

/* ---- encode, then parse back ---------------------------------------- */

static void test_lengths_both_ways(void **state) {
  static const struct {
    uint64_t len;
    size_t hlen; /* unmasked */
    uint8_t b1;  /* the 7-bit length field */
  } v[] = {
      {0, 2, 0},           {1, 2, 1},          {125, 2, 125},
      {126, 4, 126},       {127, 4, 126},      {65535, 4, 126},
      {65536, 10, 127},    {0xFFFFFFFFu, 10, 127},
      {0x100000000ull, 10, 127},  {0x7FFFFFFFFFFFFFFFull, 10, 127},
  };
  static const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
  static const uint8_t ops[] = {TERN__WS_OP_CONT, TERN__WS_OP_TEXT,
                                TERN__WS_OP_BINARY};
  uint8_t out[14];
  tern__ws_frame f;
  size_t i, o, m, n;

  (void)state;
  for (i = 0; i < N(v); i++) {
    for (o = 0; o < N(ops); o++) {
      for (m = 0; m < 2; m++) {
        bool fin = (i + o) % 2 == 0;

        memset(out, 0xAA, sizeof(out));
        n = tern__ws_encode_header(out, fin, ops[o], v[i].len,
                                   m ? mask : NULL);
        assert_int_equal(n, v[i].hlen + (m ? 4 : 0));
        assert_int_equal(out[1] & 0x7F, v[i].b1); /* shortest form */
        assert_int_equal(out[1] >> 7, m);
        assert_int_equal(parse_all(out, n, &f), (long)n);
        assert_int_equal(f.fin, fin);
        assert_int_equal(f.masked, m == 1);
        assert_int_equal(f.opcode, ops[o]);
        assert_int_equal(f.payload_len, v[i].len);
        assert_int_equal(f.header_len, n);
        if (m)
          assert_memory_equal(f.mask, mask, 4);
      }
    }
  }
}

/* The length fields are big-endian (5.2, "network byte order"). */
static void test_length_bytes(void **state) {
  static const uint8_t want16[] = {0x82, 0x7E, 0x12, 0x34};
  static const uint8_t want64[] = {0x02, 0x7F, 0x01, 0x23, 0x45, 0x67,
                                   0x89, 0xAB, 0xCD, 0xEF};
  uint8_t out[14];

  (void)state;
  assert_int_equal(tern__ws_encode_header(out, true, 2, 0x1234, NULL), 4);
  assert_memory_equal(out, want16, 4);
  assert_int_equal(
      tern__ws_encode_header(out, false, 2, 0x0123456789ABCDEFull, NULL), 10);
  assert_memory_equal(out, want64, 10);
  /* Control frames: FIN set, up to 125 in the short form. */
  assert_int_equal(tern__ws_encode_header(out, true, 8, 125, NULL), 2);
  assert_int_equal(out[0], 0x88);
  assert_int_equal(out[1], 125);
}

/* tern does not refuse a longer length form than needed (ws_frame.c
 * says why); the value is what counts. */
static void test_non_minimal_length_accepted(void **state) {
  static const uint8_t h16[] = {0x82, 0x7E, 0x00, 0x05};
  static const uint8_t h64[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x00, 0x7D};
  tern__ws_frame f;

  (void)state;
  assert_int_equal(parse_all(h16, sizeof(h16), &f), 4);
  assert_int_equal(f.payload_len, 5);
  assert_int_equal(parse_all(h64, sizeof(h64), &f), 10);
  assert_int_equal(f.payload_len, 125);
}

/* ---- refusals --------------------------------------------------------- */

/* frame must be refused with 1002 once its first `at` bytes are in (and
 * not before), and with any longer prefix up to its full length. */
static void check_refused(const uint8_t *frame, size_t len, size_t at) {
  tern__ws_frame f;
  uint16_t code;
  size_t k;

  for (k = 0; k <= len; k++) {
    code = 0;
    if (k < at) {
      assert_int_equal(tern__ws_parse_header(frame, k, &f, &code), 0);
      continue;
    }
    assert_int_equal(tern__ws_parse_header(frame, k, &f, &code), -1);
    assert_int_equal(code, TERN__WS_CLOSE_PROTOCOL);
  }
  /* close_code may be NULL. */
  assert_int_equal(tern__ws_parse_header(frame, len, &f, NULL), -1);
}

static void test_rsv_bits(void **state) {
  uint8_t frame[6] = {0, 0x80, 1, 2, 3, 4};
  unsigned rsv, op;

  (void)state;
  for (rsv = 1; rsv < 8; rsv++) {
    for (op = 0; op < 3; op++) {
      frame[0] = (uint8_t)(0x80 | rsv << 4 | op);
      check_refused(frame, sizeof(frame), 1);
    }
  }
}

static void test_reserved_opcodes(void **state) {
  static const uint8_t reserved[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
  uint8_t frame[2];
  size_t i;

  (void)state;
  for (i = 0; i < N(reserved); i++) {
    frame[0] = (uint8_t)(0x80 | reserved[i]);
    frame[1] = 0;
    check_refused(frame, 2, 1);
    frame[0] = reserved[i]; /* without FIN too */
    check_refused(frame, 2, 1);
  }
}

static void test_control_frames(void **state) {
  static const uint8_t ctl[] = {TERN__WS_OP_CLOSE, TERN__WS_OP_PING,
                                TERN__WS_OP_PONG};
  uint8_t frame[10] = {0};
  tern__ws_frame f;
  size_t i;

  (void)state;
  for (i = 0; i < N(ctl); i++) {
    /* 5.5: not fragmented (refused at byte 0) ... */
    frame[0] = ctl[i];
    frame[1] = 0;
    check_refused(frame, 2, 1);
    /* ... and at most 125 bytes of payload (refused at byte 1). */
    frame[0] = (uint8_t)(0x80 | ctl[i]);
    frame[1] = 126;
    frame[2] = 0;
    frame[3] = 126;
    check_refused(frame, 4, 2);
    frame[1] = 127;
    check_refused(frame, 10, 2);
    frame[1] = 0x80 | 126; /* masked makes no difference */
    check_refused(frame, 8, 2);
    frame[1] = 125;
    assert_int_equal(parse_all(frame, 2, &f), 2);
    assert_int_equal(f.payload_len, 125);
  }
}

static void test_length_msb(void **state) {
  uint8_t frame[10] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0};
  tern__ws_frame f;

  (void)state;
  check_refused(frame, 10, 3);
  frame[2] = 0xFF;
  check_refused(frame, 10, 3);
  frame[2] = 0x7F;
  memset(frame + 3, 0xFF, 7);
  assert_int_equal(parse_all(frame, 10, &f), 10);
  assert_int_equal(f.payload_len, 0x7FFFFFFFFFFFFFFFull);
}

/* ---- masking --------------------------------------------------------- */

static void ref_mask(uint8_t *dst, const uint8_t *src, size_t len,
                     const uint8_t mask[4], uint64_t offset) {
  size_t i;

  for (i = 0; i < len; i++)
    dst[i] = src[i] ^ mask[(offset + i) % 4];
}

static void test_mask_every_offset(void **state) {
  static const uint8_t mask[4] = {0x01, 0x23, 0x45, 0x67};
  uint8_t src[96], got[96], want[96], inplace[96];
  size_t a, b, len, i;
  uint64_t off;

  (void)state;
  for (i = 0; i < sizeof(src); i++)
    src[i] = (uint8_t)(i * 29 + 7);
  for (off = 0; off < 8; off++) {
    for (a = 0; a < 8; a++) {           /* source alignment */
      for (b = 0; b < 8; b++) {         /* destination alignment */
        for (len = 0; len <= 80; len++) {
          memset(got, 0xEE, sizeof(got));
          ref_mask(want, src + a, len, mask, off);
          tern__ws_mask(got + b, src + a, len, mask, off);
          assert_memory_equal(got + b, want, len);
          assert_int_equal(got[b + len], 0xEE); /* nothing past the end */
          if (b > 0)
            assert_int_equal(got[b - 1], 0xEE);
        }
      }
      /* in place (dst == src) */
      memcpy(inplace, src, sizeof(src));
      tern__ws_mask(inplace + a, inplace + a, 80, mask, off);
      ref_mask(want, src + a, 80, mask, off);
      assert_memory_equal(inplace + a, want, 80);
    }
  }
  /* Large offsets: only offset mod 4 matters. */
  ref_mask(want, src, 64, mask, 3);
  tern__ws_mask(got, src, 64, mask, 0xFFFFFFFFFFFFFFFFull);
  assert_memory_equal(got, want, 64);
  tern__ws_mask(got, src, 0, mask, 0); /* empty is fine */
  tern__ws_mask(NULL, NULL, 0, mask, 0);
}

/* Unmasking in pieces gives the same as all at once; twice is identity. */
static void test_mask_in_pieces(void **state) {
  static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  uint8_t src[200], whole[200], pieces[200], back[200];
  size_t i, j;

  (void)state;
  for (i = 0; i < sizeof(src); i++)
    src[i] = (uint8_t)(i ^ 0x5A);
  tern__ws_mask(whole, src, sizeof(src), mask, 0);
  for (i = 0; i <= sizeof(src); i++) {
    for (j = i; j <= sizeof(src); j += 13) {
      tern__ws_mask(pieces, src, i, mask, 0);
      tern__ws_mask(pieces + i, src + i, j - i, mask, i);
      tern__ws_mask(pieces + j, src + j, sizeof(src) - j, mask, j);
      assert_memory_equal(pieces, whole, sizeof(src));
    }
  }
  tern__ws_mask(back, whole, sizeof(src), mask, 0);
  assert_memory_equal(back, src, sizeof(src));
}

/* ---- handshake and close codes ----------------------------------------- */

static void test_accept_key(void **state) {
  static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
  char out[29];

  (void)state;
  memset(out, 'X', sizeof(out));
  tern__ws_accept_key(key, strlen(key), out);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static bool close_code_expected(unsigned c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
         (c >= 3000 && c <= 4999);
}

static void test_close_codes(void **state) {
  /* Autobahn 7.7.x (valid) and 7.9.x (invalid), plus the edges. */
  static const uint16_t ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                1010, 1011, 1012, 1013, 1014, 3000, 3999,
                                4000, 4999};
  static const uint16_t bad[] = {0,    999,  1004, 1005, 1006, 1015,
                                 1016, 1100, 2000, 2999, 5000, 65535};
  unsigned c;
  size_t i;

  (void)state;
  for (i = 0; i < N(ok); i++)
    assert_true(tern__ws_close_code_ok(ok[i]));
  for (i = 0; i < N(bad); i++)
    assert_false(tern__ws_close_code_ok(bad[i]));
  for (c = 0; c <= 0xFFFF; c++)
    assert_int_equal(tern__ws_close_code_ok((uint16_t)c),
                     close_code_expected(c));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc_unmasked_text),
      cmocka_unit_test(test_rfc_masked_text),
      cmocka_unit_test(test_rfc_fragments_and_ping),
      cmocka_unit_test(test_lengths_both_ways),
      cmocka_unit_test(test_length_bytes),
      cmocka_unit_test(test_non_minimal_length_accepted),
      cmocka_unit_test(test_rsv_bits),
      cmocka_unit_test(test_reserved_opcodes),
      cmocka_unit_test(test_control_frames),
      cmocka_unit_test(test_length_msb),
      cmocka_unit_test(test_mask_every_offset),
      cmocka_unit_test(test_mask_in_pieces),
      cmocka_unit_test(test_accept_key),
      cmocka_unit_test(test_close_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
