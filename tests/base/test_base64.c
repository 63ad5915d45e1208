/* tests/base/test_base64.c: tern_base64_encode/decode on the RFC 4648
 * section 10 vectors in both directions, then the refusals: characters
 * outside the alphabet, lengths that are not a multiple of 4, misplaced
 * or excess padding, non-zero pad bits (3.5), and buffers too small by
 * one. Finally every byte value and every length up to 64 round-trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tern/base.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
  const char *raw;
  const char *b64;
} rfc_vectors[] = {
    {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},
    {"foo", "Zm9v"},   {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static int decode(const char *s, uint8_t *out, size_t size) {
  return tern_base64_decode(s, strlen(s), out, size);
}

static void test_rfc4648_encode(void **state) {
  char out[16];
  size_t i;

  (void)state;
  for (i = 0; i < N(rfc_vectors); i++) {
    const char *raw = rfc_vectors[i].raw, *b64 = rfc_vectors[i].b64;

    memset(out, 'X', sizeof(out));
    assert_int_equal(tern_base64_encode(raw, strlen(raw), out, sizeof(out)),
                     (int)strlen(b64));
    assert_string_equal(out, b64);
  }
}

static void test_rfc4648_decode(void **state) {
  uint8_t out[16];
  size_t i;

  (void)state;
  for (i = 0; i < N(rfc_vectors); i++) {
    const char *raw = rfc_vectors[i].raw, *b64 = rfc_vectors[i].b64;

    assert_int_equal(decode(b64, out, sizeof(out)), (int)strlen(raw));
    assert_memory_equal(out, raw, strlen(raw));
    /* An exactly-sized buffer is enough. */
    assert_int_equal(decode(b64, out, strlen(raw)), (int)strlen(raw));
  }
  assert_int_equal(tern_base64_decode(NULL, 0, NULL, 0), 0);
}

static void test_all_alphabet(void **state) {
  static const char all[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint8_t out[48];
  char back[65];

  (void)state;
  assert_int_equal(decode(all, out, sizeof(out)), 48);
  assert_int_equal(tern_base64_encode(out, 48, back, sizeof(back)), 64);
  assert_string_equal(back, all);
}

/* Literal with its real length (some hold a NUL). */
#define L(s) {s, sizeof(s) - 1}

static void test_bad_input(void **state) {
  static const struct {
    const char *s;
    size_t len;
  } bad[] = {
      L("Zg"), L("Zg="), L("Zm9vY"), L("Zm9vYg="), L("Z"), /* len % 4 */
      L("Zm9v!A=="), L("Zm9v YmFy"), L("Zm9v\nYmFy"),    /* not base64 */
      L("Zm9-"), L("Zm9_"),             /* the URL-safe alphabet (5) */
      L("Zm\x80v"), L("Zm9\0"),
      L("Z==="), L("===="), L("=Zm9"), L("Zg=a"), L("Z=g="), /* pads */
      L("Zg==Zg=="), L("Zm8=Zm9v"),     /* padding before the end */
      L("Zh=="), L("Zm9="),             /* 3.5: pad bits not zero */
  };
  uint8_t out[32];
  size_t i;

  (void)state;
  for (i = 0; i < N(bad); i++) {
    if (tern_base64_decode(bad[i].s, bad[i].len, out, sizeof(out)) !=
        TERN_EINVAL)
      fail_msg("accepted \"%s\"", bad[i].s);
    /* Bad input is refused as such even with no room at all. */
    assert_int_equal(tern_base64_decode(bad[i].s, bad[i].len, NULL, 0),
                     TERN_EINVAL);
  }
}

static void test_pad_bits(void **state) {
  uint8_t out[4];
  char c[] = "ZX==";
  int v;

  (void)state;
  /* Of "Z?==" only the second chars with the low 4 bits zero decode. */
  for (v = 0; v < 64; v++) {
    c[1] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        [v];
    assert_int_equal(decode(c, out, sizeof(out)),
                     (v & 15) == 0 ? 1 : TERN_EINVAL);
  }
}

static void test_enospc(void **state) {
  char enc[16];
  uint8_t dec[16];

  (void)state;
  /* encode needs 4*ceil(len/3) + 1 for the NUL. */
  assert_int_equal(tern_base64_encode("foo", 3, enc, 4), TERN_ENOSPC);
  assert_int_equal(tern_base64_encode("foo", 3, enc, 5), 4);
  assert_int_equal(tern_base64_encode("f", 1, enc, 4), TERN_ENOSPC);
  assert_int_equal(tern_base64_encode("", 0, enc, 0), TERN_ENOSPC);
  assert_int_equal(tern_base64_encode("", 0, enc, 1), 0);
  assert_string_equal(enc, "");
  /* decode needs exactly the decoded size. */
  assert_int_equal(decode("Zm9vYmFy", dec, 5), TERN_ENOSPC);
  assert_int_equal(decode("Zm9vYmE=", dec, 4), TERN_ENOSPC);
  assert_int_equal(decode("Zm9vYmE=", dec, 5), 5);
  assert_int_equal(decode("Zg==", dec, 0), TERN_ENOSPC);
  assert_int_equal(decode("Zg==", NULL, 0), TERN_ENOSPC);
}

static void test_roundtrip(void **state) {
  uint8_t raw[64], back[64];
  char enc[4 * 22 + 1];
  size_t len, i;
  int n;

  (void)state;
  for (len = 0; len <= sizeof(raw); len++) {
    for (i = 0; i < len; i++)
      raw[i] = (uint8_t)(i * 37 + len * 11 + 0xA5);
    n = tern_base64_encode(raw, len, enc, sizeof(enc));
    assert_int_equal(n, (int)(4 * ((len + 2) / 3)));
    assert_int_equal(strlen(enc), (size_t)n);
    assert_int_equal(tern_base64_decode(enc, (size_t)n, back, len), (int)len);
    assert_memory_equal(back, raw, len);
  }
  for (i = 0; i < 256; i++) { /* every byte value in every position */
    raw[0] = raw[1] = raw[2] = (uint8_t)i;
    raw[(i % 3)] = (uint8_t)~i;
    assert_int_equal(tern_base64_encode(raw, 3, enc, sizeof(enc)), 4);
    assert_int_equal(tern_base64_decode(enc, 4, back, 3), 3);
    assert_memory_equal(back, raw, 3);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc4648_encode),
      cmocka_unit_test(test_rfc4648_decode),
      cmocka_unit_test(test_all_alphabet),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_pad_bits),
      cmocka_unit_test(test_enospc),
      cmocka_unit_test(test_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
