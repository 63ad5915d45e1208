/* tests/base/test_url.c: tern_url_parse on the documented examples, the
 * scheme rules, and a table of refusals with their messages. Every input
 * (and every prefix of it) is also parsed right before a guard page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "guard_page.h"
#include "tern/base.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int parse(const char *s, tern_url *u) {
  return tern_url_parse(s, strlen(s), u);
}

static void assert_view(tern_str v, const char *want) {
  if (!tern_str_eq(v, want))
    fail_msg("got \"%.*s\", want \"%s\"", (int)v.len, v.ptr ? v.ptr : "", want);
}

/* ---- the examples from the design ------------------------------------ */

static void test_tcp_any(void **state) {
  const char *s = "tcp://0.0.0.0:8080";
  tern_url u;

  (void)state;
  assert_int_equal(parse(s, &u), TERN_OK);
  assert_null(u.error);
  assert_view(u.scheme, "tcp");
  assert_view(u.host, "0.0.0.0");
  assert_view(u.userinfo, "");
  assert_view(u.path, "");
  assert_view(u.query, "");
  assert_view(u.fragment, "");
  assert_int_equal(u.port, 8080);
  assert_true(u.port_explicit);
  assert_true(u.host_is_ip);
  assert_false(u.tls);
  assert_false(u.udp);
  assert_ptr_equal(u.host.ptr, s + 6); /* a view, not a copy */
}

static void test_udp_v6(void **state) {
  tern_url u;

  (void)state;
  assert_int_equal(parse("udp://[::1]:53", &u), TERN_OK);
  assert_view(u.scheme, "udp");
  assert_view(u.host, "::1"); /* brackets removed */
  assert_int_equal(u.port, 53);
  assert_true(u.host_is_ip);
  assert_true(u.udp);
  assert_false(u.tls);
}

static void test_tcp_name(void **state) {
  tern_url u;

  (void)state;
  assert_int_equal(parse("tcp://localhost:80", &u), TERN_OK);
  assert_view(u.host, "localhost");
  assert_int_equal(u.port, 80);
  assert_false(u.host_is_ip);
  assert_false(u.udp);
}

static void test_http_full(void **state) {
  tern_url u;

  (void)state;
  assert_int_equal(parse("http://user:pw@example.com/a/b?x=1#f", &u), TERN_OK);
  assert_view(u.scheme, "http");
  assert_view(u.userinfo, "user:pw");
  assert_view(u.host, "example.com");
  assert_view(u.path, "/a/b");
  assert_view(u.query, "x=1");
  assert_view(u.fragment, "f");
  assert_int_equal(u.port, 80);
  assert_false(u.port_explicit);
  assert_false(u.host_is_ip);
  assert_false(u.tls);
}

static void test_ws_zone(void **state) {
  tern_url u;
  tern_addr a;

  (void)state;
  assert_int_equal(parse("ws://[fe80::1%2]:9000/chat", &u), TERN_OK);
  assert_view(u.scheme, "ws");
  assert_view(u.host, "fe80::1%2");
  assert_view(u.path, "/chat");
  assert_int_equal(u.port, 9000);
  assert_true(u.host_is_ip);
  assert_int_equal(tern_addr_parse_ip(u.host.ptr, u.host.len, &a), TERN_OK);
  assert_int_equal(a.scope_id, 2);
}

/* ---- schemes and ports ----------------------------------------------------
 */

static void test_default_ports(void **state) {
  static const struct {
    const char *in;
    uint16_t port;
    bool tls;
  } cases[] = {
      {"http://h", 80, false},    {"https://h", 443, true},
      {"ws://h", 80, false},      {"wss://h", 443, true},
      {"mqtt://h", 1883, false},  {"HTTPS://h", 443, true},
      {"WsS://h/", 443, true},    {"foo+bar.baz-1://h", 0, false},
      {"http://h:", 80, false},   {"https://h:8443", 8443, true},
      {"tls://h:853", 853, true},
  };
  tern_url u;
  size_t i;

  (void)state;
  for (i = 0; i < N(cases); i++) {
    if (parse(cases[i].in, &u) != TERN_OK)
      fail_msg("refused \"%s\": %s", cases[i].in, u.error);
    assert_int_equal(u.port, cases[i].port);
    assert_int_equal(u.tls, cases[i].tls);
    assert_false(u.udp);
  }
}

static void test_port_edges(void **state) {
  tern_url u;

  (void)state;
  assert_int_equal(parse("tcp://h:0", &u), TERN_OK); /* listen on any */
  assert_int_equal(u.port, 0);
  assert_true(u.port_explicit);
  assert_int_equal(parse("udp://0.0.0.0:0", &u), TERN_OK);
  assert_int_equal(parse("http://h:1", &u), TERN_OK);
  assert_int_equal(u.port, 1);
  assert_int_equal(parse("http://h:65535", &u), TERN_OK);
  assert_int_equal(u.port, 65535);
  assert_int_equal(parse("http://h:000080", &u), TERN_OK);
  assert_int_equal(u.port, 80);
}

static void test_parts(void **state) {
  static const struct {
    const char *in, *user, *host, *path, *query, *frag;
  } cases[] = {
      {"http://h?q", "", "h", "", "q", ""},
      {"http://h#f?x", "", "h", "", "", "f?x"},
      {"http://h/p?q?r#f#g", "", "h", "/p", "q?r", "f#g"},
      {"http://h/?", "", "h", "/", "", ""},
      {"http://h/#", "", "h", "/", "", ""},
      {"http://a@b@h/", "a@b", "h", "/", "", ""},
      {"http://@h", "", "h", "", "", ""},
      {"http://u:@[::1]:1/x", "u:", "::1", "/x", "", ""},
      {"http://h//x/%20y", "", "h", "//x/%20y", "", ""},
      {"http://h./", "", "h.", "/", "", ""},
      {"http://a_b-c.example/", "", "a_b-c.example", "/", "", ""},
      {"http://1.2.3.4/", "", "1.2.3.4", "/", "", ""},
      {"http://v1.2.3.4a/", "", "v1.2.3.4a", "/", "", ""},
      {"http://h/caf\xc3\xa9", "", "h", "/caf\xc3\xa9", "", ""},
  };
  tern_url u;
  size_t i;

  (void)state;
  for (i = 0; i < N(cases); i++) {
    if (parse(cases[i].in, &u) != TERN_OK)
      fail_msg("refused \"%s\": %s", cases[i].in, u.error);
    assert_view(u.userinfo, cases[i].user);
    assert_view(u.host, cases[i].host);
    assert_view(u.path, cases[i].path);
    assert_view(u.query, cases[i].query);
    assert_view(u.fragment, cases[i].frag);
  }
}

/* ---- refusals -------------------------------------------------------------
 */

static const struct {
  const char *in, *error;
} bad[] = {
    {"", "empty URL"},
    {"localhost", "missing scheme"},
    {"://h:1", "missing scheme"},
    {"/path", "missing scheme"},
    {"1tcp://h:1", "bad character in scheme"},
    {"ht_tp://h", "bad character in scheme"},
    {"[::1]:80", "bad character in scheme"},
    {"localhost:80", "missing '//' after scheme"},
    {"http:/h", "missing '//' after scheme"},
    {"http:", "missing '//' after scheme"},
    {"mailto:a@b", "missing '//' after scheme"},
    {"http://", "missing host"},
    {"http:///path", "missing host"},
    {"http://:80", "missing host"},
    {"http://user@", "missing host"},
    {"http://user@:80/", "missing host"},
    {"http://h o", "control character or space in URL"},
    {"http://h/a b", "control character or space in URL"},
    {"http://h/\t", "control character or space in URL"},
    {"http://h/\x7f", "control character or space in URL"},
    {"http://h\r\nHost: x", "control character or space in URL"},
    {"http://[::1", "unterminated '[' in host"},
    {"http://[::1:80/x", "unterminated '[' in host"},
    {"http://[]", "bad IPv6 address in host"},
    {"http://[1.2.3.4]/", "bad IPv6 address in host"},
    {"http://[::g]/", "bad IPv6 address in host"},
    {"ws://[fe80::1%eth0]:9000/", "bad IPv6 address in host"},
    {"http://[fe80::1%25eth0]/", "bad IPv6 address in host"},
    {"http://[::1]x", "unexpected character after ']'"},
    {"http://[::1]]:80", "unexpected character after ']'"},
    {"http://a<b/", "bad character in host"},
    {"http://a%41/", "bad character in host"},
    {"http://a!b/", "bad character in host"},
    {"http://caf\xc3\xa9/", "bad character in host"},
    {"http://::1/", "missing host"},
    {"http://1.2.3.256/", "bad IPv4 address in host"},
    {"http://01.2.3.4/", "bad IPv4 address in host"},
    {"http://127.1/", "bad IPv4 address in host"},
    {"http://0x7f.0.0.1/", "bad IPv4 address in host"},
    {"http://a.0x7f/", "bad IPv4 address in host"},
    {"http://a.0X/", "bad IPv4 address in host"},
    {"http://2130706433/", "bad IPv4 address in host"},
    {"http://1.2.3.4./", "bad IPv4 address in host"},
    {"http://h:8x", "bad port"},
    {"http://h:-1", "bad port"},
    {"http://h:+80", "bad port"},
    {"http://h:80:80", "bad port"},
    {"http://h:0", "port out of range"},
    {"http://h:65536", "port out of range"},
    {"http://h:99999999999999999999", "port out of range"},
    {"tcp://h:65536", "port out of range"},
    {"tcp://host", "missing port"},
    {"tcp://host:", "missing port"},
    {"tcp://host/x", "missing port"},
    {"udp://[::1]", "missing port"},
    {"TCP://1.2.3.4", "missing port"},
    {"tls://h", "missing port"},
};

static void test_bad(void **state) {
  tern_url u;
  size_t i;

  (void)state;
  for (i = 0; i < N(bad); i++) {
    memset(&u, 0xee, sizeof(u));
    if (parse(bad[i].in, &u) != TERN_EURL)
      fail_msg("accepted \"%s\"", bad[i].in);
    if (u.error == NULL || strcmp(u.error, bad[i].error) != 0)
      fail_msg("\"%s\": error \"%s\", want \"%s\"", bad[i].in,
               u.error ? u.error : "(null)", bad[i].error);
    /* On failure nothing but the error is left set. */
    assert_int_equal(u.host.len, 0);
    assert_int_equal(u.port, 0);
    assert_false(u.host_is_ip);
  }
}

static void test_bad_args(void **state) {
  tern_url u;

  (void)state;
  assert_int_equal(tern_url_parse("http://h", 8, NULL), TERN_EINVAL);
  assert_int_equal(tern_url_parse(NULL, 0, &u), TERN_EURL);
  assert_string_equal(u.error, "empty URL");
  assert_int_equal(tern_url_parse(NULL, 5, &u), TERN_EURL);
  /* A NUL byte is a control character, not the end. */
  assert_int_equal(tern_url_parse("http://h\0/", 10, &u), TERN_EURL);
  assert_string_equal(u.error, "control character or space in URL");
}

/* len bytes only: the rest of the C string is not part of the URL. */
static void test_len_respected(void **state) {
  tern_url u;

  (void)state;
  assert_int_equal(tern_url_parse("tcp://h:8080garbage", 12, &u), TERN_OK);
  assert_int_equal(u.port, 8080);
  assert_int_equal(tern_url_parse("http://[::1]:80", 11, &u), TERN_EURL);
  assert_string_equal(u.error, "unterminated '[' in host");
}

/* ---- over-reads ------------------------------------------------------------
 */

static const char *const guard_inputs[] = {
    "tcp://0.0.0.0:8080",
    "udp://[::1]:53",
    "tcp://localhost:80",
    "http://user:pw@example.com/a/b?x=1#f",
    "ws://[fe80::1%2]:9000/chat",
    "https://h:/",
    "http://a.0x7f",
    "x://h.",
};

/* Every prefix of s, placed so its last byte is the last readable one.
 * The result must equal parsing the same bytes from ordinary memory. */
static void guarded(guard_page *g, const char *s) {
  size_t len = strlen(s), k;
  tern_url a, b;

  for (k = 0; k <= len; k++) {
    const char *p = guard_page_put(g, s, k);
    int r1 = tern_url_parse(p, k, &a);
    int r2 = tern_url_parse(s, k, &b);
    assert_int_equal(r1, r2);
    assert_int_equal(a.port, b.port);
    assert_int_equal(a.host.len, b.host.len);
    if (r1 != TERN_OK)
      assert_string_equal(a.error, b.error);
  }
}

static void test_guard_page(void **state) {
  guard_page g;
  size_t i;

  (void)state;
  guard_page_init(&g);
  for (i = 0; i < N(guard_inputs); i++)
    guarded(&g, guard_inputs[i]);
  for (i = 0; i < N(bad); i++)
    guarded(&g, bad[i].in);
  guard_page_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tcp_any),
      cmocka_unit_test(test_udp_v6),
      cmocka_unit_test(test_tcp_name),
      cmocka_unit_test(test_http_full),
      cmocka_unit_test(test_ws_zone),
      cmocka_unit_test(test_default_ports),
      cmocka_unit_test(test_port_edges),
      cmocka_unit_test(test_parts),
      cmocka_unit_test(test_bad),
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_len_respected),
      cmocka_unit_test(test_guard_page),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
