/* test_siphash.c: the keyed hash behind TCP's ISNs and SYN cookies
 * (src/ip/tcp_cookie.c) against SipHash-2-4's reference vectors (key
 * 00..0f, messages 00..n-1; 0 and 8 bytes from the paper's list, the
 * rest from an independent implementation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ip/tcp_internal.h"

static void test_vectors(void **state) {
  (void)state;
  uint32_t key[4], w[8];
  for (int i = 0; i < 4; i++)
    key[i] = (uint32_t)(4 * i) | (uint32_t)(4 * i + 1) << 8 |
             (uint32_t)(4 * i + 2) << 16 | (uint32_t)(4 * i + 3) << 24;
  for (int i = 0; i < 8; i++)
    w[i] = (uint32_t)(4 * i) | (uint32_t)(4 * i + 1) << 8 |
           (uint32_t)(4 * i + 2) << 16 | (uint32_t)(4 * i + 3) << 24;
  assert_true(tcp_siphash(key, w, 0) == 0x726fdb47dd0e0e31ull);
  assert_true(tcp_siphash(key, w, 1) == 0xcf2794e0277187b7ull);
  assert_true(tcp_siphash(key, w, 2) == 0x93f5f5799a932462ull);
  assert_true(tcp_siphash(key, w, 3) == 0x751e8fbc860ee5fbull);
  assert_true(tcp_siphash(key, w, 6) == 0xb8ad50c6f649af94ull);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_vectors)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
