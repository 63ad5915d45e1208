/* tests/port/test_random.c: tern_random. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tern/base.h"
#include "tern/port.h"

static void test_zero_length(void **state) {
  (void)state;
  assert_int_equal(tern_random(NULL, 0), TERN_OK);
  assert_int_equal(tern_random(NULL, 1), TERN_EINVAL);
}

static void test_fills_and_differs(void **state) {
  (void)state;
  uint8_t a[64], b[64], zero[64];
  memset(a, 0, sizeof(a));
  memset(b, 0, sizeof(b));
  memset(zero, 0, sizeof(zero));
  assert_int_equal(tern_random(a, sizeof(a)), TERN_OK);
  assert_int_equal(tern_random(b, sizeof(b)), TERN_OK);
  /* Each holds with probability 1 - 2^-512. */
  assert_memory_not_equal(a, zero, sizeof(a));
  assert_memory_not_equal(a, b, sizeof(a));
}

static void test_exact_length(void **state) {
  (void)state;
  uint8_t buf[48];
  memset(buf, 0xA5, sizeof(buf));
  assert_int_equal(tern_random(buf + 8, 32), TERN_OK);
  for (int i = 0; i < 8; i++) {
    assert_int_equal(buf[i], 0xA5);
    assert_int_equal(buf[40 + i], 0xA5);
  }
}

/* Large requests may come back from the kernel in pieces. Every byte value
 * should appear in 1 MiB (missing one has probability ~ 256 * e^-4096). */
static void test_large_buffer(void **state) {
  (void)state;
  size_t len = 1u << 20;
  uint8_t *buf = calloc(len, 1);
  assert_non_null(buf);
  assert_int_equal(tern_random(buf, len), TERN_OK);
  unsigned count[256] = {0};
  for (size_t i = 0; i < len; i++)
    count[buf[i]]++;
  for (int v = 0; v < 256; v++)
    assert_true(count[v] > 0);
  /* The tail was written too, not only the first chunk. */
  size_t zeros = 0;
  for (size_t i = len - 4096; i < len; i++)
    zeros += buf[i] == 0;
  assert_true(zeros < 200); /* expected 16 */
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_zero_length),
      cmocka_unit_test(test_fills_and_differs),
      cmocka_unit_test(test_exact_length),
      cmocka_unit_test(test_large_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
