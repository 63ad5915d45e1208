/* tests/base/test_err.c: tern_strerror, tern_err_name, tern_err_from_errno. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "tern/base.h"

static void test_messages(void **state) {
  (void)state;
  assert_string_equal(tern_strerror(TERN_OK), "success");
  assert_string_equal(tern_strerror(TERN_ECONNREFUSED), "connection refused");
  assert_string_equal(tern_strerror(TERN_EURL), "malformed URL or address");
  assert_string_equal(tern_strerror(TERN_EUNKNOWN), "unknown error");
}

static void test_unknown_codes(void **state) {
  static const int odd[] = {1, 12345, -36, -1000, INT32_MIN, INT32_MAX};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
    assert_string_equal(tern_strerror(odd[i]), "unknown error");
    assert_string_equal(tern_err_name(odd[i]), "TERN_EUNKNOWN");
  }
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(tern_err_name(TERN_OK), "TERN_OK");
  assert_string_equal(tern_err_name(TERN_EINVAL), "TERN_EINVAL");
  assert_string_equal(tern_err_name(TERN_ECONNREFUSED), "TERN_ECONNREFUSED");
  assert_string_equal(tern_err_name(TERN_EUNKNOWN), "TERN_EUNKNOWN");
}

/* Every code in the map has a distinct name and a real message. */
static void test_every_code(void **state) {
  static const int codes[] = {
#define X(name, val, msg) TERN_##name,
      TERN_ERR_MAP(X)
#undef X
  };
  size_t i, j;

  (void)state;
  for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    assert_true(codes[i] < 0);
    assert_non_null(tern_strerror(codes[i]));
    assert_int_equal(strncmp(tern_err_name(codes[i]), "TERN_E", 6), 0);
    if (codes[i] != TERN_EUNKNOWN)
      assert_string_not_equal(tern_strerror(codes[i]), "unknown error");
    for (j = 0; j < i; j++)
      assert_string_not_equal(tern_err_name(codes[i]), tern_err_name(codes[j]));
  }
}

static void test_from_errno(void **state) {
  (void)state;
  assert_int_equal(tern_err_from_errno(EINVAL), TERN_EINVAL);
  assert_int_equal(tern_err_from_errno(ENOMEM), TERN_ENOMEM);
  assert_int_equal(tern_err_from_errno(EAGAIN), TERN_EAGAIN);
  assert_int_equal(tern_err_from_errno(EWOULDBLOCK), TERN_EAGAIN);
  assert_int_equal(tern_err_from_errno(ECONNREFUSED), TERN_ECONNREFUSED);
  assert_int_equal(tern_err_from_errno(ECONNRESET), TERN_ECONNRESET);
  assert_int_equal(tern_err_from_errno(ETIMEDOUT), TERN_ETIMEDOUT);
  assert_int_equal(tern_err_from_errno(EADDRINUSE), TERN_EADDRINUSE);
  assert_int_equal(tern_err_from_errno(EPIPE), TERN_EPIPE);
  assert_int_equal(tern_err_from_errno(EINPROGRESS), TERN_EINPROGRESS);
  assert_int_equal(tern_err_from_errno(EMFILE), TERN_EMFILE);
  assert_int_equal(tern_err_from_errno(ENFILE), TERN_EMFILE);
  assert_int_equal(tern_err_from_errno(ENOBUFS), TERN_ENOMEM);
  assert_int_equal(tern_err_from_errno(EOPNOTSUPP), TERN_ENOTSUP);
  assert_int_equal(tern_err_from_errno(ENETDOWN), TERN_ENETUNREACH);
  assert_int_equal(tern_err_from_errno(ECANCELED), TERN_ECANCELED);
}

static void test_from_errno_refusals(void **state) {
  (void)state;
  assert_int_equal(tern_err_from_errno(0), TERN_EUNKNOWN);
  assert_int_equal(tern_err_from_errno(-EINVAL), TERN_EUNKNOWN);
  assert_int_equal(tern_err_from_errno(EINTR), TERN_EUNKNOWN);
  assert_int_equal(tern_err_from_errno(100000), TERN_EUNKNOWN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_messages),
      cmocka_unit_test(test_unknown_codes),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_every_code),
      cmocka_unit_test(test_from_errno),
      cmocka_unit_test(test_from_errno_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
