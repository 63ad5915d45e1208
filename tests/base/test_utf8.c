/* tests/base/test_utf8.c: tern_utf8_feed / tern_utf8_valid.
 *
 * A table of valid and invalid strings covering the categories of the
 * Autobahn WebSocket cases 6.x (Markus Kuhn's UTF-8 decoder stress test:
 * first/last sequence of each length, boundaries U+D7FF, U+E000, U+FFFD,
 * U+10FFFF / U+110000, unexpected continuations, lonely and truncated
 * starts, impossible bytes, overlongs, single and paired surrogates,
 * non-characters). Each invalid entry gives the index of the byte at
 * which a fail-fast validator must say BAD (RFC 3629 section 4 ranges:
 * E0 A0..BF, ED 80..9F, F0 90..BF, F4 80..8F); "truncated" entries
 * never go BAD but end PARTIAL. Every entry is fed whole, byte by byte,
 * and split in two and three at every position, at every alignment and
 * right before a guard page.
 *
 * Then the validator is compared with a second, differently written
 * checker (the Unicode Table 3-7 ranges) on every string of 1 and 2
 * bytes, on 3- and 4-byte strings over a grid of interesting bytes, on
 * every code point, and on long ASCII runs with one odd byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tern/base.h"
#include "guard_page.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

enum { VALID = -1, TRUNC = -2 };

typedef struct vec {
  const char *s;
  size_t len;
  long bad; /* index of the first impossible byte, VALID or TRUNC */
} vec;

#define V(s, bad) {s, sizeof(s) - 1, bad}

static const vec table[] = {
    /* 6.1-6.4: some valid text, and the Autobahn fail-fast examples. */
    V("", VALID),
    V("hello\x24world", VALID),
    V("hello\xC2\xA2world", VALID),
    V("hello\xE2\x82\xACworld", VALID),
    V("hello\xF0\xA4\xAD\xA2world", VALID),
    V("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", VALID), /* kosme */
    V("\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1", VALID),
    V("\x65\x64\x69\x74\x65\x64\xed\xa0\x80", 7),
    V("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
      "\x65\x64\x69\x74\x65\x64", 12),
    V("\xf5", 0),
    /* 2.1 first possible sequence of each length; 5/6-byte forms. */
    V("\x00", VALID),
    V("\xc2\x80", VALID),
    V("\xe0\xa0\x80", VALID),
    V("\xf0\x90\x80\x80", VALID),
    V("\xf8\x88\x80\x80\x80", 0),
    V("\xfc\x84\x80\x80\x80\x80", 0),
    /* 2.2 last possible sequence of each length. */
    V("\x7f", VALID),
    V("\xdf\xbf", VALID),
    V("\xef\xbf\xbf", VALID),
    V("\xf4\x8f\xbf\xbf", VALID), /* U+10FFFF */
    V("\xf7\xbf\xbf\xbf", 0),     /* U+1FFFFF */
    V("\xfb\xbf\xbf\xbf\xbf", 0),
    V("\xfd\xbf\xbf\xbf\xbf\xbf", 0),
    /* 2.3 other boundaries. */
    V("\xed\x9f\xbf", VALID),     /* U+D7FF */
    V("\xee\x80\x80", VALID),     /* U+E000 */
    V("\xef\xbf\xbd", VALID),     /* U+FFFD */
    V("\xf4\x90\x80\x80", 1),     /* U+110000 */
    V("\xf4\xbf\xbf\xbf", 1),
    V("\xe1\x80\x80", VALID),
    V("\xec\xbf\xbf", VALID),
    V("\xf1\x80\x80\x80", VALID),
    V("\xf3\xbf\xbf\xbf", VALID),
    /* 3.1 unexpected continuation bytes. */
    V("\x80", 0),
    V("\xbf", 0),
    V("\x80\xbf", 0),
    V("\x80\xbf\x80", 0),
    V("\x80\xbf\x80\xbf", 0),
    V("\x80\xbf\x80\xbf\x80", 0),
    V("\x80\xbf\x80\xbf\x80\xbf", 0),
    V("a\x80", 1),
    V("\xc2\x80\x80", 2),
    V("\xe2\x82\xac\xbf", 3),
    V("\xf0\x9f\x98\x80\x80", 4),
    /* 3.2 lonely start characters followed by a space (more below). */
    V("\xc0\x20", 0),
    V("\xc2\x20", 1),
    V("\xdf\x20", 1),
    V("\xe0\x20", 1),
    V("\xed\x20", 1),
    V("\xef\x20", 1),
    V("\xf0\x20", 1),
    V("\xf4\x20", 1),
    V("\xf5\x20", 0),
    V("\xf7\x20", 0),
    V("\xf8\x20", 0),
    V("\xfc\x20", 0),
    /* 3.3 sequences with the last continuation byte missing. */
    V("\xc0", 0),
    V("\xe0\x80", 1),
    V("\xf0\x80\x80", 1),
    V("\xf8\x80\x80\x80", 0),
    V("\xfc\x80\x80\x80\x80", 0),
    V("\xdf", TRUNC),
    V("\xef\xbf", TRUNC),
    V("\xf7\xbf\xbf", 0),
    V("\xfb\xbf\xbf\xbf", 0),
    V("\xfd\xbf\xbf\xbf\xbf", 0),
    V("\xc2", TRUNC),
    V("\xe0", TRUNC),
    V("\xe0\xa0", TRUNC),
    V("\xed", TRUNC),
    V("\xed\x9f", TRUNC),
    V("\xf0", TRUNC),
    V("\xf0\x90", TRUNC),
    V("\xf0\x90\x80", TRUNC),
    V("\xf4", TRUNC),
    V("\xf4\x8f\xbf", TRUNC),
    V("abc\xe2\x82", TRUNC),
    /* A sequence cut short by the next character. */
    V("\xc2\x41", 1),
    V("\xe1\x80\x41", 2),
    V("\xf1\x80\x80\x41", 3),
    V("\xe1\x80\xc2\x80", 2),
    V("\xf1\x80\x80\xf1", 3),
    /* 3.4 concatenation of incomplete sequences. */
    V("\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80"
      "\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf", 0),
    V("\xdf\xef\xbf", 1),
    /* 3.5 impossible bytes. */
    V("\xfe", 0),
    V("\xff", 0),
    V("\xfe\xfe\xff\xff", 0),
    /* 4.1 overlong ASCII '/'. */
    V("\xc0\xaf", 0),
    V("\xe0\x80\xaf", 1),
    V("\xf0\x80\x80\xaf", 1),
    V("\xf8\x80\x80\x80\xaf", 0),
    V("\xfc\x80\x80\x80\x80\xaf", 0),
    /* 4.2 maximum overlong sequences. */
    V("\xc1\xbf", 0),
    V("\xe0\x9f\xbf", 1),
    V("\xf0\x8f\xbf\xbf", 1),
    V("\xf8\x87\xbf\xbf\xbf", 0),
    V("\xfc\x83\xbf\xbf\xbf\xbf", 0),
    /* 4.3 overlong NUL. */
    V("\xc0\x80", 0),
    V("\xe0\x80\x80", 1),
    V("\xf0\x80\x80\x80", 1),
    V("\xf8\x80\x80\x80\x80", 0),
    V("\xfc\x80\x80\x80\x80\x80", 0),
    /* 5.1 single UTF-16 surrogates. */
    V("\xed\xa0\x80", 1),
    V("\xed\xad\xbf", 1),
    V("\xed\xae\x80", 1),
    V("\xed\xaf\xbf", 1),
    V("\xed\xb0\x80", 1),
    V("\xed\xbe\x80", 1),
    V("\xed\xbf\xbf", 1),
    V("\xed\xa0", 1),
    V("abc\xed\xbf", 4),
    /* 5.2 paired UTF-16 surrogates. */
    V("\xed\xa0\x80\xed\xb0\x80", 1),
    V("\xed\xa0\x80\xed\xbf\xbf", 1),
    V("\xed\xad\xbf\xed\xb0\x80", 1),
    V("\xed\xad\xbf\xed\xbf\xbf", 1),
    V("\xed\xae\x80\xed\xb0\x80", 1),
    V("\xed\xae\x80\xed\xbf\xbf", 1),
    V("\xed\xaf\xbf\xed\xb0\x80", 1),
    V("\xed\xaf\xbf\xed\xbf\xbf", 1),
    /* 5.3 non-characters and specials are valid UTF-8 (RFC 3629). */
    V("\xef\xbf\xbe", VALID),
    V("\xf0\x9f\xbf\xbe", VALID),
    V("\xf0\xbf\xbf\xbf", VALID),
    V("\xf1\x8f\xbf\xbe", VALID),
    V("\xf3\xbf\xbf\xbf", VALID),
    V("\xf4\x8f\xbf\xbe", VALID),
    V("\xef\xbf\xb9\xef\xbf\xba\xef\xbf\xbb\xef\xbf\xbc", VALID),
    /* Errors after ASCII runs longer than a machine word. */
    V("0123456789abcdefghij\xff", 20),
    V("0123456789abcdef0123456789abcdef\xc0\x80", 32),
    V("0123456789abcdef0123456789abcdef\xe2\x82\xac"
      "0123456789abcdef0123456789abcdef\xed\xa0\x80", 68),
    V("0123456789abcdef0123456789abcdef\xe2\x82\xac"
      "0123456789abcdef0123456789abcdef\xf4\x8f\xbf\xbf.", VALID),
    V("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x90", 11),
};

/* ---- the second checker ------------------------------------------------ */

/* Unicode Table 3-7 read as "how many more bytes, and which range the
 * next one must be in". Returns the index of the first impossible byte,
 * or -1 and *partial (ended inside a character). */
static long ref_check(const uint8_t *p, size_t n, bool *partial) {
  unsigned need = 0, lo = 0x80, hi = 0xBF;
  size_t i;

  for (i = 0; i < n; i++) {
    unsigned b = p[i];

    if (need > 0) {
      if (b < lo || b > hi)
        return (long)i;
      need--;
      lo = 0x80;
      hi = 0xBF;
      continue;
    }
    if (b < 0x80)
      continue;
    if (b >= 0xC2 && b <= 0xDF)
      need = 1;
    else if (b >= 0xE0 && b <= 0xEF)
      need = 2;
    else if (b >= 0xF0 && b <= 0xF4)
      need = 3;
    else
      return (long)i;
    lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
    hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
  }
  *partial = need > 0;
  return -1;
}

/* ---- helpers --------------------------------------------------------- */

static int want_final(long bad) {
  return bad >= 0 ? TERN_UTF8_BAD
                  : bad == TRUNC ? TERN_UTF8_PARTIAL : TERN_UTF8_OK;
}

/* Feed byte by byte: the index of the first BAD (or -1) and the result
 * after the last byte. Also checks BAD stays BAD. */
static long bytewise(const uint8_t *p, size_t n, int *final) {
  tern_utf8 u = {0};
  long first = -1;
  size_t i;
  int r = tern_utf8_feed(&u, p, 0);

  assert_int_equal(r, TERN_UTF8_OK);
  for (i = 0; i < n; i++) {
    r = tern_utf8_feed(&u, p + i, 1);
    if (first >= 0)
      assert_int_equal(r, TERN_UTF8_BAD);
    else if (r == TERN_UTF8_BAD)
      first = (long)i;
  }
  *final = r;
  return first;
}

/* The result of feeding p[0..n) in the pieces cut at i and j. */
static void check_split(const uint8_t *p, size_t n, long bad, size_t i,
                        size_t j) {
  tern_utf8 u = {0};
  int r1 = tern_utf8_feed(&u, p, i);
  int r2 = tern_utf8_feed(&u, p + i, j - i);
  int r3 = tern_utf8_feed(&u, p + j, n - j);

  /* Fail fast: a piece says BAD iff the bad byte is in it or before. */
  assert_int_equal(r1 == TERN_UTF8_BAD, bad >= 0 && (size_t)bad < i);
  assert_int_equal(r2 == TERN_UTF8_BAD, bad >= 0 && (size_t)bad < j);
  assert_int_equal(r3, want_final(bad));
}

static void check_vec(const uint8_t *p, size_t n, long bad) {
  size_t i, j;
  int final;

  assert_int_equal(tern_utf8_valid(p, n), bad == VALID);
  {
    tern_utf8 u = {0};

    assert_int_equal(tern_utf8_feed(&u, p, n), want_final(bad));
  }
  assert_int_equal(bytewise(p, n, &final), bad >= 0 ? bad : -1);
  assert_int_equal(final, want_final(bad));
  for (i = 0; i <= n; i++) {
    for (j = i; j <= n; j += (n <= 40 ? 1 : 7))
      check_split(p, n, bad, i, j);
    check_split(p, n, bad, i, n);
  }
}

/* ---- the table ---------------------------------------------------------- */

static void test_table(void **state) {
  size_t k;

  (void)state;
  for (k = 0; k < N(table); k++) {
    check_vec((const uint8_t *)table[k].s, table[k].len, table[k].bad);
  }
}

/* The table checks the second checker too. */
static void test_reference_on_table(void **state) {
  size_t k;
  bool partial;
  long r;

  (void)state;
  for (k = 0; k < N(table); k++) {
    r = ref_check((const uint8_t *)table[k].s, table[k].len, &partial);
    if (table[k].bad >= 0)
      assert_int_equal(r, table[k].bad);
    else
      assert_true(r == -1 && partial == (table[k].bad == TRUNC));
  }
}

/* Every table entry at 8 alignments and ending right at a guard page, so
 * a word-at-a-time read past the end would crash. */
static void test_alignment_and_guard(void **state) {
  uint8_t buf[128];
  guard_page g;
  const uint8_t *q;
  size_t k, a;

  (void)state;
  guard_page_init(&g);
  for (k = 0; k < N(table); k++) {
    for (a = 0; a < 8; a++) {
      memcpy(buf + a, table[k].s, table[k].len);
      assert_int_equal(tern_utf8_valid(buf + a, table[k].len),
                       table[k].bad == VALID);
    }
    q = (const uint8_t *)guard_page_put(&g, table[k].s, table[k].len);
    check_vec(q, table[k].len, table[k].bad);
  }
  guard_page_free(&g);
}

/* 3.2 in full: every start byte followed by a space, concatenated per
 * Autobahn's ranges (C0..DE, E0..EE, F0..F6, F8..FA, FC). A lead that can
 * never start a character fails at itself, any other at the space. */
static void test_lonely_starts(void **state) {
  static const uint8_t ranges[][2] = {
      {0xC0, 0xDE}, {0xE0, 0xEE}, {0xF0, 0xF6}, {0xF8, 0xFA}, {0xFC, 0xFC}};
  uint8_t s[64], b;
  size_t k, n;
  long bad;

  (void)state;
  for (k = 0; k < N(ranges); k++) {
    n = 0;
    for (b = ranges[k][0]; b <= ranges[k][1]; b++) {
      s[n++] = b;
      s[n++] = 0x20;
    }
    b = ranges[k][0];
    bad = (b == 0xC0 || b >= 0xF5) ? 0 : 1;
    check_vec(s, n, bad);
  }
  for (n = 0x80; n < 0xBF; n++) /* 3.1: all continuation bytes in a row */
    s[n - 0x80] = (uint8_t)n;
  check_vec(s, 0xBF - 0x80, 0);
}

/* ---- comparison with the second checker ------------------------------- */

static void compare(const uint8_t *p, size_t n) {
  bool partial = false;
  long want = ref_check(p, n, &partial), got;
  tern_utf8 u = {0};
  int final, r = tern_utf8_feed(&u, p, n);

  got = bytewise(p, n, &final);
  if (got != want)
    fail_msg("len %zu bytes %02x %02x %02x %02x: BAD at %ld, want %ld", n,
             p[0], n > 1 ? p[1] : 0, n > 2 ? p[2] : 0, n > 3 ? p[3] : 0, got,
             want);
  assert_int_equal(r, final);
  if (want < 0)
    assert_int_equal(r, partial ? TERN_UTF8_PARTIAL : TERN_UTF8_OK);
}

/* Bytes at every range boundary of RFC 3629 section 4. */
static const uint8_t grid[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                               0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
                               0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};

static void test_exhaustive_short(void **state) {
  uint8_t s[4];
  unsigned a, b, c, d;

  (void)state;
  for (a = 0; a < 256; a++) {
    s[0] = (uint8_t)a;
    compare(s, 1);
    for (b = 0; b < 256; b++) {
      s[1] = (uint8_t)b;
      compare(s, 2);
      for (c = 0; c < N(grid); c++) {
        s[2] = grid[c];
        compare(s, 3);
      }
    }
  }
  /* 4 bytes: every second byte after each lead that matters. */
  for (a = 0xE0; a < 0x100; a++) {
    s[0] = (uint8_t)a;
    for (b = 0; b < 256; b++) {
      s[1] = (uint8_t)b;
      for (c = 0; c < N(grid); c++) {
        s[2] = grid[c];
        for (d = 0; d < N(grid); d++) {
          s[3] = grid[d];
          compare(s, 4);
        }
      }
    }
  }
}

/* Encode cp in n bytes (n may be longer than needed: an overlong). */
static size_t encode(uint32_t cp, size_t n, uint8_t *out) {
  static const uint8_t lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
  size_t i;

  if (n == 1) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  for (i = n - 1; i > 0; i--, cp >>= 6)
    out[i] = (uint8_t)(0x80 | (cp & 0x3F));
  out[0] = (uint8_t)(lead[n] | cp);
  return n;
}

static size_t shortest(uint32_t cp) {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static void test_every_code_point(void **state) {
  uint8_t s[4];
  uint32_t cp;
  size_t n, len;
  int final;

  (void)state;
  for (cp = 0; cp < 0x200000; cp++) {
    for (len = shortest(cp); len <= 4; len++) {
      long want;

      n = encode(cp, len, s);
      if (len > shortest(cp)) /* overlong: C0/C1 at once, else at byte 1 */
        want = len == 2 ? 0 : 1;
      else if (cp >= 0xD800 && cp <= 0xDFFF) /* surrogate: ED A0..BF */
        want = 1;
      else if (cp > 0x10FFFF) /* F4 90.. or F5..F7 */
        want = cp < 0x140000 ? 1 : 0;
      else
        want = -1;
      if (bytewise(s, n, &final) != want)
        fail_msg("U+%04X in %zu bytes: want BAD at %ld", (unsigned)cp, len,
                 want);
      assert_int_equal(tern_utf8_valid(s, n), want < 0);
      if (cp > 0x3FFF && len > shortest(cp))
        break; /* the grid above already covers the long overlongs */
    }
  }
}

/* ASCII runs of every length around the 16-byte skip, with one odd
 * sequence at every position, at every alignment. */
static void test_ascii_runs(void **state) {
  static const struct {
    const char *s;
    size_t len;
    long bad; /* relative to the sequence */
  } odd[] = {{"\x80", 1, 0}, {"\xff", 1, 0}, {"\xc3\xa9", 2, VALID},
             {"\xe2\x82\xac", 3, VALID}, {"\xf0\x9f\x98\x80", 4, VALID},
             {"\xed\xa0\x80", 3, 1}, {"\xe2\x82", 2, TRUNC}};
  uint8_t buf[100];
  size_t len, pos, k, a;
  tern_utf8 u;
  long bad;

  (void)state;
  for (len = 0; len <= 70; len++) {
    for (pos = 0; pos <= len; pos++) {
      for (k = 0; k < N(odd); k++) {
        a = (len + pos + k) & 7;
        memset(buf, 'a', sizeof(buf));
        memcpy(buf + a + pos, odd[k].s, odd[k].len);
        bad = odd[k].bad >= 0 ? (long)pos + odd[k].bad : odd[k].bad;
        if (bad == TRUNC && pos < len) /* the ASCII after it cuts it */
          bad = (long)(pos + odd[k].len);
        u.state = 0;
        assert_int_equal(
            tern_utf8_feed(&u, buf + a, len + odd[k].len),
            want_final(bad));
        if ((len + pos) % 5 == 0)
          check_vec(buf + a, len + odd[k].len, bad);
      }
    }
  }
}

/* After BAD every later feed says BAD; empty feeds report the state. */
static void test_sticky_and_empty(void **state) {
  tern_utf8 u = {0};

  (void)state;
  assert_int_equal(tern_utf8_feed(&u, NULL, 0), TERN_UTF8_OK);
  assert_true(tern_utf8_valid(NULL, 0));
  assert_int_equal(tern_utf8_feed(&u, (const uint8_t *)"\xe2\x82", 2),
                   TERN_UTF8_PARTIAL);
  assert_int_equal(tern_utf8_feed(&u, NULL, 0), TERN_UTF8_PARTIAL);
  assert_int_equal(tern_utf8_feed(&u, (const uint8_t *)"\xac", 1),
                   TERN_UTF8_OK);
  assert_int_equal(u.state, 0);
  assert_int_equal(tern_utf8_feed(&u, (const uint8_t *)"\xc0", 1),
                   TERN_UTF8_BAD);
  assert_int_equal(tern_utf8_feed(&u, (const uint8_t *)"abc", 3),
                   TERN_UTF8_BAD);
  assert_int_equal(tern_utf8_feed(&u, NULL, 0), TERN_UTF8_BAD);
  assert_int_equal(
      tern_utf8_feed(&u, (const uint8_t *)"0123456789abcdef0123", 20),
      TERN_UTF8_BAD);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_reference_on_table),
      cmocka_unit_test(test_alignment_and_guard),
      cmocka_unit_test(test_lonely_starts),
      cmocka_unit_test(test_exhaustive_short),
      cmocka_unit_test(test_every_code_point),
      cmocka_unit_test(test_ascii_runs),
      cmocka_unit_test(test_sticky_and_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
