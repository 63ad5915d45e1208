/* tests/port/test_thread.c: tern_thread_new/join/self. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <string.h>

#include "tern/base.h"
#include "tern/port.h"

typedef struct worker {
  int in;
  int out;
  uintptr_t self;
  uintptr_t self_again;
} worker;

static void work(void *arg) {
  worker *w = arg;
  w->out = w->in * 2;
  w->self = tern_thread_self();
  w->self_again = tern_thread_self();
}

static void test_runs_and_joins(void **state) {
  (void)state;
  worker w = {.in = 21};
  tern_thread *t = NULL;
  assert_int_equal(tern_thread_new(&t, "worker", work, &w), TERN_OK);
  assert_non_null(t);
  assert_int_equal(tern_thread_join(t), TERN_OK);
  /* join is a full barrier: the thread's writes are visible. */
  assert_int_equal(w.out, 42);
  assert_true(w.self == w.self_again);
  assert_true(w.self != tern_thread_self());
}

static void test_many_threads(void **state) {
  (void)state;
  enum { N = 16 };
  worker w[N];
  tern_thread *t[N];
  memset(w, 0, sizeof(w));
  for (int i = 0; i < N; i++) {
    w[i].in = i;
    assert_int_equal(tern_thread_new(&t[i], NULL, work, &w[i]), TERN_OK);
  }
  for (int i = 0; i < N; i++)
    assert_int_equal(tern_thread_join(t[i]), TERN_OK);
  for (int i = 0; i < N; i++) {
    assert_int_equal(w[i].out, 2 * i);
    for (int j = 0; j < i; j++) /* concurrently alive: distinct ids */
      assert_true(w[i].self != w[j].self);
  }
}

static void test_long_name_is_cut(void **state) {
  (void)state;
  worker w = {.in = 1};
  tern_thread *t = NULL;
  assert_int_equal(tern_thread_new(&t, "a-name-longer-than-fifteen-bytes",
                                   work, &w),
                   TERN_OK);
  assert_int_equal(tern_thread_join(t), TERN_OK);
  assert_int_equal(w.out, 2);
}

static void test_self_is_stable(void **state) {
  (void)state;
  assert_true(tern_thread_self() == tern_thread_self());
}

static void test_bad_args(void **state) {
  (void)state;
  tern_thread *t = (tern_thread *)&t;
  assert_int_equal(tern_thread_new(NULL, NULL, work, NULL), TERN_EINVAL);
  assert_int_equal(tern_thread_new(&t, NULL, NULL, NULL), TERN_EINVAL);
  assert_null(t);
  assert_int_equal(tern_thread_join(NULL), TERN_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_runs_and_joins),
      cmocka_unit_test(test_many_threads),
      cmocka_unit_test(test_long_name_is_cut),
      cmocka_unit_test(test_self_is_stable),
      cmocka_unit_test(test_bad_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
