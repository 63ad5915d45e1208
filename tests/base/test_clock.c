/* tests/base/test_clock.c: the monotonic clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <time.h>

#include "tern/base.h"

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0) {
  }
}

static void test_never_backwards(void **state) {
  uint64_t prev_ms = tern_clock_ms(), prev_us = tern_clock_us();
  int i;

  (void)state;
  for (i = 0; i < 100000; i++) {
    uint64_t ms = tern_clock_ms(), us = tern_clock_us();
    assert_true(ms >= prev_ms);
    assert_true(us >= prev_us);
    prev_ms = ms;
    prev_us = us;
  }
}

static void test_advances_with_sleep(void **state) {
  uint64_t ms0 = tern_clock_ms(), us0 = tern_clock_us();
  uint64_t dms, dus;

  (void)state;
  sleep_ms(50);
  dms = tern_clock_ms() - ms0;
  dus = tern_clock_us() - us0;
  assert_true(dms >= 49);
  assert_true(dms < 5000);
  assert_true(dus >= 49000);
  assert_true(dus < 5000000);
}

/* ms and us read the same clock. */
static void test_units_agree(void **state) {
  uint64_t us = tern_clock_us(), ms = tern_clock_ms();

  (void)state;
  assert_true(ms >= us / 1000);
  assert_true(ms - us / 1000 < 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_never_backwards),
      cmocka_unit_test(test_advances_with_sleep),
      cmocka_unit_test(test_units_agree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
