/* tests/base/test_addr.c: IPv4/IPv6 parsing, RFC 5952 formatting,
 * comparison. Every input is also parsed right before a guard page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "guard_page.h"
#include "tern/base.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int parse_ip(const char *s, tern_addr *a) {
  return tern_addr_parse_ip(s, strlen(s), a);
}

static int parse(const char *s, tern_addr *a) {
  return tern_addr_parse(s, strlen(s), a);
}

static const char *fmt(const tern_addr *a, bool port) {
  static char buf[TERN_ADDR_STRLEN];
  int n = tern_addr_format(a, port, buf, sizeof(buf));

  assert_true(n > 0);
  assert_int_equal((size_t)n, strlen(buf));
  return buf;
}

/* ---- IPv4 ------------------------------------------------------------- */

static void test_v4_good(void **state) {
  static const struct {
    const char *in;
    uint8_t ip[4];
  } cases[] = {
      {"0.0.0.0", {0, 0, 0, 0}},
      {"255.255.255.255", {255, 255, 255, 255}},
      {"1.2.3.4", {1, 2, 3, 4}},
      {"10.0.0.1", {10, 0, 0, 1}},
      {"192.168.100.200", {192, 168, 100, 200}},
      {"9.99.199.249", {9, 99, 199, 249}},
  };
  tern_addr a;
  size_t i;

  (void)state;
  for (i = 0; i < N(cases); i++) {
    memset(&a, 0xee, sizeof(a));
    assert_int_equal(parse_ip(cases[i].in, &a), TERN_OK);
    assert_int_equal(a.family, TERN_AF_INET);
    assert_int_equal(a.port, 0);
    assert_int_equal(a.scope_id, 0);
    assert_memory_equal(a.ip, cases[i].ip, 4);
    assert_string_equal(fmt(&a, false), cases[i].in);
  }
}

/* Strict dotted quad: no leading zeros, no short forms, no hex. */
static const char *const v4_bad[] = {
    "",           "1",
    "1.2.3",      "1.2.3.4.5",
    "01.2.3.4",   "1.2.3.04",
    "00.0.0.0",   "1.2.3.000",
    "256.0.0.0",  "1.2.3.256",
    "1.2.3.-1",   "1..3.4",
    ".1.2.3",     "1.2.3.4.",
    "1.2.3.4 ",   " 1.2.3.4",
    "0x7f.0.0.1", "127.1",
    "1.2.3.1000", "1.2.3.4%1",
    "a.b.c.d",    "1.2.3.4/8",
    "1.2.3.+4",   "1.2.3.",
    "....",       "4294967297.1.1.1",
};

static void test_v4_bad(void **state) {
  tern_addr a;
  size_t i;

  (void)state;
  for (i = 0; i < N(v4_bad); i++) {
    memset(&a, 0xee, sizeof(a));
    if (parse_ip(v4_bad[i], &a) != TERN_EURL)
      fail_msg("accepted \"%s\"", v4_bad[i]);
    assert_int_equal(a.family, TERN_AF_UNSPEC);
  }
}

/* Only len bytes are read: no NUL needed, and none looked for. */
static void test_len_respected(void **state) {
  tern_addr a;

  (void)state;
  assert_int_equal(tern_addr_parse_ip("1.2.3.45", 7, &a), TERN_OK);
  assert_memory_equal(a.ip, "\1\2\3\4", 4);
  assert_int_equal(tern_addr_parse_ip("1.2.3.4", 5, &a), TERN_EURL);
  assert_int_equal(tern_addr_parse_ip("::1x", 3, &a), TERN_OK);
  assert_int_equal(tern_addr_parse_ip(NULL, 0, &a), TERN_EURL);
  assert_int_equal(tern_addr_parse_ip("1.2.3.4", 7, NULL), TERN_EINVAL);
  assert_int_equal(tern_addr_parse("1.2.3.4:80", 10, NULL), TERN_EINVAL);
  assert_int_equal(tern_addr_parse("1.2.3.4:801", 10, &a), TERN_OK);
  assert_int_equal(a.port, 80);
}

/* ---- IPv6 ------------------------------------------------------------- */

static const struct {
  const char *in, *canon;
} v6_good[] = {
    {"::", "::"},
    {"::1", "::1"},
    {"1::", "1::"},
    {"2001:db8::1", "2001:db8::1"},
    {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
    {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
    {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},    /* RFC 5952 4.2.3 tie */
    {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"}, /* 4.2.2: one 0 */
    {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},          /* 4.2.3 longest */
    {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
    {"0:0:0:0:0:0:0:0", "::"},
    {"1:0:0:0:0:0:0:0", "1::"},
    {"0:0:0:0:0:0:0:1", "::1"},
    {"1:0:2:0:0:3:0:0", "1:0:2::3:0:0"},
    {"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"},
    {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
    {"FFFF:ffff:FfFf:ffff:ffff:ffff:ffff:ffff",
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"::ffff:1.2.3.4", "::ffff:1.2.3.4"}, /* RFC 5952 section 5 */
    {"::FFFF:0102:0304", "::ffff:1.2.3.4"},
    {"0:0:0:0:0:ffff:10.0.0.1", "::ffff:10.0.0.1"},
    {"::ffff:0.0.0.0", "::ffff:0.0.0.0"},
    {"::1.2.3.4", "::102:304"},
    {"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"},
    {"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
    {"fe80::1%2", "fe80::1%2"},
    {"fe80::1%0", "fe80::1"},
    {"fe80::1%007", "fe80::1%7"},
    {"fe80::1%4294967295", "fe80::1%4294967295"},
    {"::%1", "::%1"},
    {"a:b:c:d:e:f:0:0", "a:b:c:d:e:f::"},
    {"0:0:a:b:c:d:e:f", "::a:b:c:d:e:f"},
    {"0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"},
};

static void test_v6_good(void **state) {
  tern_addr a, b;
  size_t i;

  (void)state;
  for (i = 0; i < N(v6_good); i++) {
    memset(&a, 0xee, sizeof(a));
    if (parse_ip(v6_good[i].in, &a) != TERN_OK)
      fail_msg("refused \"%s\"", v6_good[i].in);
    assert_int_equal(a.family, TERN_AF_INET6);
    assert_int_equal(a.port, 0);
    assert_string_equal(fmt(&a, false), v6_good[i].canon);
    assert_int_equal(parse_ip(v6_good[i].canon, &b), TERN_OK);
    assert_true(tern_addr_eq(&a, &b));
  }
}

static void test_v6_bytes(void **state) {
  static const uint8_t db8[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                  0,    0,    0,    0,    0, 0, 0, 1};
  static const uint8_t mapped[16] = {0, 0, 0,    0,    0,   0, 0, 0,
                                     0, 0, 0xff, 0xff, 192, 0, 2, 1};
  tern_addr a;

  (void)state;
  assert_int_equal(parse_ip("2001:db8::1", &a), TERN_OK);
  assert_memory_equal(a.ip, db8, 16);
  assert_int_equal(parse_ip("::ffff:192.0.2.1", &a), TERN_OK);
  assert_memory_equal(a.ip, mapped, 16);
  assert_int_equal(parse_ip("fe80::1%42", &a), TERN_OK);
  assert_int_equal(a.scope_id, 42);
}

static const char *const v6_bad[] = {
    ":",
    ":::",
    "1:2",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8",
    "1::2::3",
    "1::2::",
    ":1::",
    ":1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:",
    "1::2:",
    "12345::",
    "00000::1",
    "g::",
    "::1.2.3",
    "::1.2.3.4.5",
    "::01.2.3.4",
    "::256.1.1.1",
    "1:2:3:4:5:6:7:1.2.3.4",
    "::1.2.3.4:5",
    "::1.2.3.4::",
    "1.2.3.4::",
    "::ffff:1.2.3.256",
    "fe80::1%",
    "fe80::1%eth0",
    "fe80::1%4294967296",
    "fe80::1%-1",
    "fe80::1%+1",
    "fe80::1%1%2",
    "fe80::1% 1",
    "%1",
    "[::1]",
    "::1 ",
    " ::1",
    "::1/128",
    "1:2:3:4:5:6:7:8%",
    "::-1",
    "::0x1",
};

static void test_v6_bad(void **state) {
  tern_addr a;
  size_t i;

  (void)state;
  for (i = 0; i < N(v6_bad); i++) {
    memset(&a, 0xee, sizeof(a));
    if (parse_ip(v6_bad[i], &a) != TERN_EURL)
      fail_msg("accepted \"%s\"", v6_bad[i]);
    assert_int_equal(a.family, TERN_AF_UNSPEC);
  }
}

/* ---- with ports --------------------------------------------------------- */

static const struct {
  const char *in;
  uint16_t port;
  const char *out; /* formatted with the port */
} port_good[] = {
    {"1.2.3.4:80", 80, "1.2.3.4:80"},
    {"0.0.0.0:0", 0, "0.0.0.0:0"},
    {"255.255.255.255:65535", 65535, "255.255.255.255:65535"},
    {"10.0.0.1:0080", 80, "10.0.0.1:80"},
    {"[::1]:443", 443, "[::1]:443"},
    {"[fe80::1%2]:9000", 9000, "[fe80::1%2]:9000"},
    {"[::ffff:1.2.3.4]:1", 1, "[::ffff:1.2.3.4]:1"},
    {"[2001:DB8::0:1]:8080", 8080, "[2001:db8::1]:8080"},
};

static void test_parse_with_port(void **state) {
  tern_addr a, b;
  size_t i;

  (void)state;
  for (i = 0; i < N(port_good); i++) {
    if (parse(port_good[i].in, &a) != TERN_OK)
      fail_msg("refused \"%s\"", port_good[i].in);
    assert_int_equal(a.port, port_good[i].port);
    assert_string_equal(fmt(&a, true), port_good[i].out);
    assert_int_equal(parse(port_good[i].out, &b), TERN_OK);
    assert_true(tern_addr_eq(&a, &b));
  }
}

static const char *const port_bad[] = {
    "",
    "1.2.3.4",
    "1.2.3.4:",
    "1.2.3.4:65536",
    "1.2.3.4:-1",
    "1.2.3.4:+80",
    "1.2.3.4:8a",
    "1.2.3.4:80:80",
    "1.2.3.4: 80",
    "::1:80",
    "[::1]",
    "[::1]:",
    "[::1]80",
    "[1.2.3.4]:80",
    "[::1:80",
    "::1]:80",
    "localhost:80",
    ":80",
    "[]:80",
    "[::1]:99999999999",
    "01.2.3.4:80",
    "[::1]]:80",
    "[[::1]:80",
    "[fe80::1%x]:80",
    "1.2.3.4:80 ",
};

static void test_parse_with_port_bad(void **state) {
  tern_addr a;
  size_t i;

  (void)state;
  for (i = 0; i < N(port_bad); i++) {
    memset(&a, 0xee, sizeof(a));
    if (parse(port_bad[i], &a) != TERN_EURL)
      fail_msg("accepted \"%s\"", port_bad[i]);
    assert_int_equal(a.family, TERN_AF_UNSPEC);
  }
}

/* ---- format ---------------------------------------------------------------
 */

/* Every buffer too small gives ENOSPC and an empty string; never more
 * than size bytes are written. */
static void test_format_sizes(void **state) {
  static const char *const ins[] = {"[fe80::1%4294967295]:65535",
                                    "255.255.255.255:65535"};
  char buf[TERN_ADDR_STRLEN + 8];
  tern_addr a;
  size_t i, size, want;

  (void)state;
  for (i = 0; i < N(ins); i++) {
    assert_int_equal(parse(ins[i], &a), TERN_OK);
    want = strlen(ins[i]);
    for (size = 0; size <= want + 1; size++) {
      memset(buf, 'X', sizeof(buf));
      int n = tern_addr_format(&a, true, buf, size);
      if (size <= want) {
        assert_int_equal(n, TERN_ENOSPC);
        if (size > 0)
          assert_int_equal(buf[0], '\0');
      } else {
        assert_int_equal(n, (int)want);
        assert_string_equal(buf, ins[i]);
      }
      assert_int_equal(buf[size], 'X');
    }
  }
}

/* The longest output fits TERN_ADDR_STRLEN. */
static void test_format_longest(void **state) {
  char buf[TERN_ADDR_STRLEN];
  tern_addr a;

  (void)state;
  assert_int_equal(
      parse("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535", &a),
      TERN_OK);
  assert_int_equal(tern_addr_format(&a, true, buf, sizeof(buf)), 58);
  assert_int_equal(tern_addr_format(&a, false, buf, sizeof(buf)), 50);
  assert_string_equal(buf,
                      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295");
}

static void test_format_bad(void **state) {
  char buf[16] = "junk";
  tern_addr a;

  (void)state;
  memset(&a, 0, sizeof(a));
  assert_int_equal(tern_addr_format(&a, true, buf, sizeof(buf)), TERN_EINVAL);
  assert_string_equal(buf, "");
  a.family = 5;
  assert_int_equal(tern_addr_format(&a, false, buf, sizeof(buf)), TERN_EINVAL);
  assert_int_equal(tern_addr_format(NULL, false, buf, sizeof(buf)),
                   TERN_EINVAL);
  a.family = TERN_AF_INET;
  assert_int_equal(tern_addr_format(&a, false, NULL, 0), TERN_EINVAL);
  assert_int_equal(tern_addr_format(&a, false, buf, 0), TERN_ENOSPC);
}

/* ---- compare --------------------------------------------------------------
 */

static void test_eq(void **state) {
  tern_addr a, b;

  (void)state;
  assert_int_equal(parse("1.2.3.4:80", &a), TERN_OK);
  assert_int_equal(parse("1.2.3.4:80", &b), TERN_OK);
  assert_true(tern_addr_eq(&a, &b));
  b.ip[7] = 9; /* bytes past an IPv4 address do not count */
  assert_true(tern_addr_eq(&a, &b));
  b.port = 81;
  assert_false(tern_addr_eq(&a, &b));
  assert_int_equal(parse("1.2.3.5:80", &b), TERN_OK);
  assert_false(tern_addr_eq(&a, &b));
  assert_int_equal(parse("[::ffff:1.2.3.4]:80", &b), TERN_OK);
  assert_false(tern_addr_eq(&a, &b)); /* different families */
  assert_int_equal(parse("[fe80::1%1]:80", &a), TERN_OK);
  assert_int_equal(parse("[fe80::1%2]:80", &b), TERN_OK);
  assert_false(tern_addr_eq(&a, &b));
  assert_int_equal(parse("[fe80::0:1%1]:80", &b), TERN_OK);
  assert_true(tern_addr_eq(&a, &b));
}

static void test_is_any(void **state) {
  static const char *const any[] = {"0.0.0.0", "::", "0:0:0:0:0:0:0:0", "::%3"};
  static const char *const not_any[] = {"0.0.0.1", "::1", "::ffff:0.0.0.0",
                                        "1::"};
  tern_addr a;
  size_t i;

  (void)state;
  for (i = 0; i < N(any); i++) {
    assert_int_equal(parse_ip(any[i], &a), TERN_OK);
    assert_true(tern_addr_is_any(&a));
  }
  for (i = 0; i < N(not_any); i++) {
    assert_int_equal(parse_ip(not_any[i], &a), TERN_OK);
    assert_false(tern_addr_is_any(&a));
  }
  memset(&a, 0, sizeof(a));
  assert_false(tern_addr_is_any(&a)); /* AF_UNSPEC */
  assert_int_equal(parse("0.0.0.0:8080", &a), TERN_OK);
  assert_true(tern_addr_is_any(&a));
}

/* ---- over-reads ------------------------------------------------------------
 */

/* Each input, and each of its prefixes, ends at a guard page: any read
 * past len faults. Results must match the normal parse. */
static void guarded(guard_page *g, const char *s) {
  size_t len = strlen(s), k;
  tern_addr a, b;

  for (k = 0; k <= len; k++) {
    const char *p = guard_page_put(g, s, k);
    int r1 = tern_addr_parse_ip(p, k, &a);
    int r2 = tern_addr_parse_ip(s, k, &b);
    assert_int_equal(r1, r2);
    r1 = tern_addr_parse(p, k, &a);
    r2 = tern_addr_parse(s, k, &b);
    assert_int_equal(r1, r2);
  }
}

static void test_guard_page(void **state) {
  guard_page g;
  size_t i;

  (void)state;
  guard_page_init(&g);
  for (i = 0; i < N(v4_bad); i++)
    guarded(&g, v4_bad[i]);
  for (i = 0; i < N(v6_good); i++)
    guarded(&g, v6_good[i].in);
  for (i = 0; i < N(v6_bad); i++)
    guarded(&g, v6_bad[i]);
  for (i = 0; i < N(port_good); i++)
    guarded(&g, port_good[i].in);
  for (i = 0; i < N(port_bad); i++)
    guarded(&g, port_bad[i]);
  guard_page_free(&g);
}

static void test_parse_cidr(void **state) {
  (void)state;
  tern_addr a;
  uint8_t pl = 99;
  assert_int_equal(tern_addr_parse_cidr("10.77.0.2/24", 12, &a, &pl), TERN_OK);
  assert_int_equal(a.family, TERN_AF_INET);
  assert_int_equal(pl, 24);
  assert_memory_equal(a.ip, "\x0a\x4d\x00\x02", 4);
  assert_int_equal(tern_addr_parse_cidr("0.0.0.0/0", 9, &a, &pl), TERN_OK);
  assert_int_equal(pl, 0);
  assert_int_equal(tern_addr_parse_cidr("fd00::1/128", 11, &a, &pl), TERN_OK);
  assert_int_equal(a.family, TERN_AF_INET6);
  assert_int_equal(pl, 128);
  /* length bounds the parse: "/24" past len is not seen */
  assert_int_equal(tern_addr_parse_cidr("10.0.0.1/24", 8, &a, &pl), TERN_EURL);
  static const char *const bad[] = {"10.0.0.1", "10.0.0.1/", "10.0.0.1/33",
                                    "10.0.0.1/2a", "10.0.0.1/-1", "/24",
                                    "fd00::1/129", "10.0.0.1/0024",
                                    "10.0.0.256/24", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pl = 77;
    assert_int_equal(tern_addr_parse_cidr(bad[i], strlen(bad[i]), &a, &pl),
                     TERN_EURL);
    assert_int_equal(pl, 77);
  }
  assert_int_equal(tern_addr_parse_cidr("1.2.3.4/8", 9, NULL, &pl), TERN_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_cidr),
      cmocka_unit_test(test_v4_good),
      cmocka_unit_test(test_v4_bad),
      cmocka_unit_test(test_len_respected),
      cmocka_unit_test(test_v6_good),
      cmocka_unit_test(test_v6_bytes),
      cmocka_unit_test(test_v6_bad),
      cmocka_unit_test(test_parse_with_port),
      cmocka_unit_test(test_parse_with_port_bad),
      cmocka_unit_test(test_format_sizes),
      cmocka_unit_test(test_format_longest),
      cmocka_unit_test(test_format_bad),
      cmocka_unit_test(test_eq),
      cmocka_unit_test(test_is_any),
      cmocka_unit_test(test_guard_page),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
