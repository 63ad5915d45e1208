/* tests/base/test_sha1.c: tern_sha1 on the FIPS 180-2 appendix A
 * vectors ("abc", the 448-bit "abcdbcde..." and the million 'a'), the
 * empty string, the 896-bit vector, and messages whose length straddles
 * the padding boundaries (55/56/63/64 bytes ...; digests from Python's
 * hashlib). Every message is also hashed in two and three pieces split
 * at every offset, and byte by byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/base.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void hex(const uint8_t d[20], char out[41]) {
  size_t i;

  for (i = 0; i < 20; i++)
    snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void digest_of(const void *p, size_t len, char out[41]) {
  tern_sha1 s;
  uint8_t d[20];

  tern_sha1_init(&s);
  tern_sha1_update(&s, p, len);
  tern_sha1_final(&s, d);
  hex(d, out);
}

/* Hash p in pieces [0,i) [i,j) [j,len). */
static void digest_split(const uint8_t *p, size_t len, size_t i, size_t j,
                         char out[41]) {
  tern_sha1 s;
  uint8_t d[20];

  tern_sha1_init(&s);
  tern_sha1_update(&s, p, i);
  tern_sha1_update(&s, p + i, j - i);
  tern_sha1_update(&s, p + j, len - j);
  tern_sha1_final(&s, d);
  hex(d, out);
}

static void check_splits(const uint8_t *p, size_t len, const char *want) {
  char got[41];
  size_t i, j;

  for (i = 0; i <= len; i++) {
    digest_split(p, len, i, i, got);
    assert_string_equal(got, want);
    /* Three pieces: every j for short messages, a few for long ones. */
    for (j = i; j <= len; j += (len <= 130 ? 1 : 61)) {
      digest_split(p, len, i, j, got);
      assert_string_equal(got, want);
    }
  }
}

static void check_bytewise(const uint8_t *p, size_t len, const char *want) {
  tern_sha1 s;
  uint8_t d[20];
  char got[41];
  size_t i;

  tern_sha1_init(&s);
  for (i = 0; i < len; i++)
    tern_sha1_update(&s, p + i, 1);
  tern_sha1_final(&s, d);
  hex(d, got);
  assert_string_equal(got, want);
}

static void check(const char *msg, const char *want) {
  char got[41];

  digest_of(msg, strlen(msg), got);
  assert_string_equal(got, want);
  check_splits((const uint8_t *)msg, strlen(msg), want);
  check_bytewise((const uint8_t *)msg, strlen(msg), want);
}

static void test_empty(void **state) {
  char got[41];

  (void)state;
  check("", "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  digest_of(NULL, 0, got); /* NULL with length 0 is fine */
  assert_string_equal(got, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

static void test_abc(void **state) {
  (void)state;
  check("abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
}

static void test_448_bits(void **state) {
  (void)state;
  check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_896_bits(void **state) {
  (void)state;
  check("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
        "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "a49b2446a02c645bf419f995b67091253a04a259");
}

static void test_million_a(void **state) {
  static const char want[] = "34aa973cd4c4daa4f61eeb2bdbad27316534016f";
  uint8_t *p = malloc(1000000);
  tern_sha1 s;
  uint8_t d[20];
  char got[41];
  size_t i;

  (void)state;
  assert_non_null(p);
  memset(p, 'a', 1000000);
  digest_of(p, 1000000, got);
  assert_string_equal(got, want);
  /* Odd-sized pieces that never line up with a block. */
  tern_sha1_init(&s);
  for (i = 0; i < 1000000; i += 997)
    tern_sha1_update(&s, p + i, 1000000 - i < 997 ? 1000000 - i : 997);
  tern_sha1_final(&s, d);
  hex(d, got);
  assert_string_equal(got, want);
  free(p);
}

/* Lengths around the padding boundaries (56 and 64 mod 64). */
static void test_boundaries(void **state) {
  static const struct {
    size_t len;
    const char *want;
  } v[] = {
      {55, "8829dc293fb52f1477aa7323310a5bcf949ce4f8"},
      {56, "3c440665799f6f245108a068a11e59507d4f9e2c"},
      {57, "ee3bd3dcaf8c3f17b919ec48238c7109187f6292"},
      {63, "5e2cdca8ef9552e40ad2228153e778e586eebc50"},
      {64, "24d0ab86ac7542b26241687c97b79ae2cc22ac90"},
      {65, "f71ba60012ec8015b3d5ba56798c4ff43aeb8beb"},
      {119, "ea44537c014a6f0d332e845ed7f9331ae45440c5"},
      {120, "939b2cbff515552d0bc4cfa0c332a57f9fce7736"},
      {127, "f5b00f038e9a8ef4711336bba10726c553d46063"},
      {128, "0a1d410f25f3840e4498a2ad922fea55bb4b79da"},
      {129, "d615ade267f1b3e48fc1360286ef4761a3e803c5"},
      {1000, "576418509284cbe426fa53fa4aa8da5fee1ab095"},
  };
  uint8_t buf[1000];
  char got[41];
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(buf); i++)
    buf[i] = (uint8_t)((i * 7 + 3) % 251);
  for (i = 0; i < N(v); i++) {
    digest_of(buf, v[i].len, got);
    assert_string_equal(got, v[i].want);
    check_splits(buf, v[i].len, v[i].want);
    check_bytewise(buf, v[i].len, v[i].want);
  }
}

/* init after final starts a fresh hash. */
static void test_reuse(void **state) {
  tern_sha1 s;
  uint8_t d[20];
  char got[41];

  (void)state;
  tern_sha1_init(&s);
  tern_sha1_update(&s, "garbage", 7);
  tern_sha1_final(&s, d);
  tern_sha1_init(&s);
  tern_sha1_update(&s, "abc", 3);
  tern_sha1_final(&s, d);
  hex(d, got);
  assert_string_equal(got, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),      cmocka_unit_test(test_abc),
      cmocka_unit_test(test_448_bits),   cmocka_unit_test(test_896_bits),
      cmocka_unit_test(test_million_a),  cmocka_unit_test(test_boundaries),
      cmocka_unit_test(test_reuse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
