/* test_fi.c: the fault injection engine: spec parsing (and refusals),
 * always, ranges, patterns, probabilities repeatable with a seed, the
 * counters, and NULL meaning "off". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tern/fi.h"

static void test_rules(void **state) {
  (void)state;
  tern_fi *fi;
  assert_int_equal(tern_fi_new("a, b(3..5), c(..X), d(2..), e(..2)", &fi), TERN_OK);
  int got_b = 0, got_c = 0;
  for (int i = 1; i <= 10; i++) {
    assert_true(tern_fi_hit(fi, "a"));
    bool b = tern_fi_hit(fi, "b");
    assert_int_equal(b, i >= 3 && i <= 5);
    got_b += b;
    bool c = tern_fi_hit(fi, "c");
    assert_int_equal(c, i % 3 == 0);
    got_c += c;
    assert_int_equal(tern_fi_hit(fi, "d"), i >= 2);
    assert_int_equal(tern_fi_hit(fi, "e"), i <= 2);
    assert_false(tern_fi_hit(fi, "not-set"));
  }
  assert_int_equal(tern_fi_passes(fi, "b"), 10);
  assert_int_equal(tern_fi_fired(fi, "b"), got_b);
  assert_int_equal(tern_fi_fired(fi, "c"), got_c);
  assert_int_equal(tern_fi_passes(fi, "not-set"), 0);
  tern_fi_free(fi);
  assert_false(tern_fi_hit(NULL, "a")); /* off */
}

static int run(const char *spec, int n) {
  tern_fi *fi;
  assert_int_equal(tern_fi_new(spec, &fi), TERN_OK);
  int hits = 0;
  for (int i = 0; i < n; i++) hits += tern_fi_hit(fi, "p");
  tern_fi_free(fi);
  return hits;
}

static void test_probability(void **state) {
  (void)state;
  int h = run("p(25%),seed=7", 20000);
  assert_true(h > 4600 && h < 5400); /* about a quarter */
  assert_int_equal(run("p(25%),seed=7", 20000), h); /* same seed, same run */
  assert_true(run("p(25%),seed=8", 20000) != h);
  assert_int_equal(run("p(0%)", 1000), 0);
  assert_int_equal(run("p(100%)", 1000), 1000);
  int tiny = run("p(0.5%),seed=3", 20000);
  assert_true(tiny > 50 && tiny < 150);
}

static void test_refusals(void **state) {
  (void)state;
  tern_fi *fi = NULL;
  const char *bad[] = {"", "a(", "a(5..3)", "a(0..2)", "a(101%)", "a(x%)",
                       "a(abc)", "seed=x", "a(1.2.3%)"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(tern_fi_new(bad[i], &fi), TERN_EINVAL);
  assert_null(fi);
  setenv("TERN_FI", "x(2..2)", 1);
  setenv("TERN_FI_SEED", "5", 1);
  assert_int_equal(tern_fi_from_env(&fi), TERN_OK);
  assert_false(tern_fi_hit(fi, "x"));
  assert_true(tern_fi_hit(fi, "x"));
  tern_fi_free(fi);
  unsetenv("TERN_FI");
  assert_int_equal(tern_fi_from_env(&fi), TERN_OK);
  assert_null(fi);
}

/* after=MS: a parameter, alone or with a rule; and the allocation wrapper */
static void test_after_and_alloc(void **state) {
  (void)state;
  tern_fi *fi;
  assert_int_equal(tern_fi_new("conn/close(after=250),x(2..2,after=7),y", &fi), TERN_OK);
  assert_int_equal(tern_fi_after_ms(fi, "conn/close"), 250);
  assert_int_equal(tern_fi_after_ms(fi, "x"), 7);
  assert_int_equal(tern_fi_after_ms(fi, "y"), 0);
  assert_int_equal(tern_fi_after_ms(fi, "none"), 0);
  assert_int_equal(tern_fi_after_ms(NULL, "x"), 0);
  assert_true(tern_fi_hit(fi, "conn/close")); /* no rule: always */
  assert_false(tern_fi_hit(fi, "x"));
  assert_true(tern_fi_hit(fi, "x"));
  tern_fi_free(fi);
  const char *bad[] = {"a(after=)", "a(after=0)", "a(after=x)", "a(after=1,after=2)",
                       "a(1..2,3..4)", "a(after=5,)", "a()", "a(,after=5)",
                       "a(after=86400001)"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    fi = NULL;
    assert_int_equal(tern_fi_new(bad[i], &fi), TERN_EINVAL);
    assert_null(fi);
  }
  assert_int_equal(tern_fi_new("mem/alloc(.X)", &fi), TERN_OK);
  void *a = tern_fi_malloc(fi, 16), *b = tern_fi_calloc(fi, 2, 8);
  void *c = tern_fi_calloc(fi, 1, 8), *d = tern_fi_malloc(fi, 8);
  assert_non_null(a);
  assert_null(b);
  assert_non_null(c);
  assert_null(d);
  assert_int_equal(tern_fi_fired(fi, "mem/alloc"), 2);
  free(a);
  free(c);
  void *e = tern_fi_malloc(NULL, 4); /* no faults: plain malloc */
  assert_non_null(e);
  free(e);
  tern_fi_free(fi);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_after_and_alloc),
      cmocka_unit_test(test_rules),
      cmocka_unit_test(test_probability),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
