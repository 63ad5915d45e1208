/* fuzz/url.c: libFuzzer target for tern_url_parse, tern_addr_parse and
 * tern_addr_parse_ip.
 *
 * The input is the exact bytes libFuzzer gives (not NUL-terminated), so
 * ASan catches any read past len. On success we check what the parsers
 * promise: every URL view lies inside the input, a host flagged as an IP
 * parses as one, and an address formats to text that parses back to the
 * same address and formats identically (RFC 5952 canonical form is a
 * fixed point).
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/url.c \
 *     src/base/\*.c -o /tmp/fuzz_url
 *   /tmp/fuzz_url -dict=fuzz/url.dict fuzz/corpus/url
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

static void check_view(tern_str v, const char *s, size_t len) {
  CHECK(v.ptr != NULL);
  CHECK(v.ptr >= s && v.ptr <= s + len);
  CHECK(v.len <= (size_t)(s + len - v.ptr));
}

static void check_url(const char *s, size_t len) {
  tern_url u;
  tern_addr a;
  int r = tern_url_parse(s, len, &u);

  if (r != TERN_OK) {
    CHECK(r == TERN_EURL && u.error != NULL && u.error[0] != '\0');
    return;
  }
  CHECK(u.error == NULL);
  check_view(u.scheme, s, len);
  check_view(u.userinfo, s, len);
  check_view(u.host, s, len);
  check_view(u.path, s, len);
  check_view(u.query, s, len);
  check_view(u.fragment, s, len);
  CHECK(u.scheme.len > 0 && u.host.len > 0);
  CHECK(u.path.len == 0 || u.path.ptr[0] == '/');
  CHECK(u.host_is_ip ==
        (tern_addr_parse_ip(u.host.ptr, u.host.len, &a) == TERN_OK));
  CHECK(!u.udp || tern_str_ieq(u.scheme, "udp"));
  CHECK(u.port != 0 || !tern_str_ieq(u.scheme, "http"));
}

/* format -> parse -> equal, and formatting again gives the same text. */
static void check_roundtrip(const tern_addr *a, bool with_port) {
  char t1[TERN_ADDR_STRLEN], t2[TERN_ADDR_STRLEN];
  tern_addr b;
  int n1, n2;

  n1 = tern_addr_format(a, with_port, t1, sizeof(t1));
  CHECK(n1 > 0 && (size_t)n1 == strlen(t1));
  if (with_port)
    CHECK(tern_addr_parse(t1, (size_t)n1, &b) == TERN_OK);
  else
    CHECK(tern_addr_parse_ip(t1, (size_t)n1, &b) == TERN_OK);
  CHECK(tern_addr_eq(a, &b));
  n2 = tern_addr_format(&b, with_port, t2, sizeof(t2));
  CHECK(n1 == n2 && memcmp(t1, t2, (size_t)n1 + 1) == 0);
  /* One byte short must be refused, not overflow. */
  CHECK(tern_addr_format(a, with_port, t2, (size_t)n1) == TERN_ENOSPC);
}

static void check_addr(const char *s, size_t len) {
  tern_addr a;

  if (tern_addr_parse_ip(s, len, &a) == TERN_OK) {
    CHECK(a.family == TERN_AF_INET || a.family == TERN_AF_INET6);
    CHECK(a.port == 0);
    check_roundtrip(&a, false);
    check_roundtrip(&a, true);
  } else {
    CHECK(a.family == TERN_AF_UNSPEC);
  }
  if (tern_addr_parse(s, len, &a) == TERN_OK)
    check_roundtrip(&a, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;

  check_url(s, size);
  check_addr(s, size);
  return 0;
}
