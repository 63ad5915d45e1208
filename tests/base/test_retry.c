/* test_retry.c: retry policies: the table, its last entry repeated, the
 * conceal count, jitter within its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tern/retry.h"

static void test_table_and_conceal(void **state) {
  (void)state;
  static const uint32_t t[] = {100, 200, 500};
  tern_retry_policy p = {t, 3, 4, 0};
  uint16_t a = 0;
  bool give_up;
  uint32_t want[] = {100, 200, 500, 500, 500, 500};
  for (int i = 0; i < 6; i++) {
    assert_int_equal(tern_retry_next(&p, &a, &give_up), want[i]);
    assert_int_equal(give_up, i >= 4); /* 4 concealed retries, then tell */
  }
  assert_int_equal(a, 6);
  tern_retry_policy never = {t, 3, 0, 0};
  a = 1000;
  tern_retry_next(&never, &a, &give_up);
  assert_false(give_up);
  tern_retry_policy empty = {NULL, 0, 0, 0};
  assert_int_equal(tern_retry_next(&empty, &a, NULL), 0);
}

static void test_jitter(void **state) {
  (void)state;
  static const uint32_t t[] = {1000};
  tern_retry_policy p = {t, 1, 0, 20};
  uint32_t lo = UINT32_MAX, hi = 0;
  for (int i = 0; i < 2000; i++) {
    uint16_t a = 0;
    uint32_t ms = tern_retry_next(&p, &a, NULL);
    assert_true(ms >= 800 && ms <= 1000);
    if (ms < lo) lo = ms;
    if (ms > hi) hi = ms;
  }
  assert_true(hi - lo > 100); /* actually spread */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_and_conceal),
      cmocka_unit_test(test_jitter),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
