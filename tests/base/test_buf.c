/* tests/base/test_buf.c: tern_buf limits, growth, consume, reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "tern/base.h"

/* Under ASan a huge malloc must return NULL (as libc does) instead of
 * aborting, so the ENOMEM path can be tested. */
const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *
__asan_default_options(void) {
  return "allocator_may_return_null=1";
}

static uint8_t pattern[4096];

static int setup(void **state) {
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(pattern); i++)
    pattern[i] = (uint8_t)(i * 7 + 3);
  return 0;
}

static void assert_empty(const tern_buf *b, size_t max) {
  assert_null(b->data);
  assert_null(b->base);
  assert_int_equal(b->len, 0);
  assert_int_equal(b->cap, 0);
  assert_int_equal(b->max, max);
}

/* The invariants every operation keeps. */
static void assert_sane(const tern_buf *b) {
  assert_true(b->len <= b->cap);
  assert_true(b->len <= b->max);
  if (b->base == NULL) {
    assert_null(b->data);
    assert_int_equal(b->cap, 0);
  } else {
    assert_true(b->data >= b->base);
    assert_true((size_t)(b->data - b->base) + b->cap <= b->max);
  }
}

static void test_init_and_empty_append(void **state) {
  tern_buf b;

  (void)state;
  memset(&b, 0xa5, sizeof(b));
  tern_buf_init(&b, 100);
  assert_empty(&b, 100);
  assert_int_equal(tern_buf_append(&b, pattern, 0), TERN_OK);
  assert_int_equal(tern_buf_append(&b, NULL, 0), TERN_OK);
  assert_empty(&b, 100); /* nothing appended, nothing allocated */
  assert_int_equal(tern_buf_append(&b, NULL, 1), TERN_EINVAL);
  assert_empty(&b, 100);
}

static void test_append_and_read(void **state) {
  tern_buf b;

  (void)state;
  tern_buf_init(&b, 1000);
  assert_int_equal(tern_buf_append(&b, "hello ", 6), TERN_OK);
  assert_int_equal(tern_buf_append(&b, "world", 5), TERN_OK);
  assert_int_equal(b.len, 11);
  assert_memory_equal(b.data, "hello world", 11);
  assert_sane(&b);
  tern_buf_free(&b);
  assert_empty(&b, 1000);
}

static void test_max_enforced(void **state) {
  tern_buf b;

  (void)state;
  tern_buf_init(&b, 100);
  assert_int_equal(tern_buf_append(&b, pattern, 101), TERN_ENOSPC);
  assert_empty(&b, 100);
  assert_int_equal(tern_buf_append(&b, pattern, 60), TERN_OK);
  assert_int_equal(tern_buf_append(&b, pattern + 60, 41), TERN_ENOSPC);
  assert_int_equal(b.len, 60); /* nothing of the refused append */
  assert_memory_equal(b.data, pattern, 60);
  assert_int_equal(tern_buf_append(&b, pattern + 60, 40), TERN_OK);
  assert_int_equal(b.len, 100);
  assert_memory_equal(b.data, pattern, 100);
  assert_int_equal(tern_buf_append(&b, pattern, 1), TERN_ENOSPC);
  assert_null(tern_buf_reserve(&b, 1));
  assert_int_equal(b.cap, 100); /* growth capped at max */
  assert_sane(&b);
  tern_buf_free(&b);
}

static void test_max_zero(void **state) {
  tern_buf b;

  (void)state;
  tern_buf_init(&b, 0);
  assert_int_equal(tern_buf_append(&b, pattern, 0), TERN_OK);
  assert_int_equal(tern_buf_append(&b, pattern, 1), TERN_ENOSPC);
  assert_null(tern_buf_reserve(&b, 0));
  assert_empty(&b, 0);
}

/* len + n must not wrap around SIZE_MAX into a small number. */
static void test_overflow_safe(void **state) {
  tern_buf b;

  (void)state;
  tern_buf_init(&b, SIZE_MAX);
  assert_int_equal(tern_buf_append(&b, pattern, 10), TERN_OK);
  assert_int_equal(tern_buf_append(&b, pattern, SIZE_MAX), TERN_ENOSPC);
  assert_int_equal(tern_buf_append(&b, pattern, SIZE_MAX - 9), TERN_ENOSPC);
  assert_null(tern_buf_reserve(&b, SIZE_MAX - 5));
  assert_int_equal(b.len, 10);
  assert_memory_equal(b.data, pattern, 10);
  tern_buf_free(&b);

  tern_buf_init(&b, SIZE_MAX - 1);
  assert_int_equal(tern_buf_append(&b, pattern, 1), TERN_OK);
  assert_int_equal(tern_buf_append(&b, pattern, SIZE_MAX - 1), TERN_ENOSPC);
  tern_buf_free(&b);
}

/* A failed allocation reports ENOMEM and leaves the buffer as it was. */
static void test_enomem(void **state) {
  tern_buf b;
  uint8_t *data;

  (void)state;
  tern_buf_init(&b, SIZE_MAX);
  assert_int_equal(tern_buf_append(&b, pattern, 5), TERN_OK);
  data = b.data;
  assert_null(tern_buf_reserve(&b, SIZE_MAX / 2));
  assert_int_equal(tern_buf_append(&b, pattern, SIZE_MAX / 2), TERN_ENOMEM);
  assert_ptr_equal(b.data, data);
  assert_int_equal(b.len, 5);
  assert_memory_equal(b.data, pattern, 5);
  tern_buf_free(&b);
}

static void test_consume_o1(void **state) {
  tern_buf b;
  uint8_t *base, *data;

  (void)state;
  tern_buf_init(&b, 1000);
  assert_int_equal(tern_buf_append(&b, pattern, 50), TERN_OK);
  base = b.base;
  data = b.data;
  tern_buf_consume(&b, 0);
  assert_ptr_equal(b.data, data);
  tern_buf_consume(&b, 20);
  assert_ptr_equal(b.base, base); /* no move: data just advances */
  assert_ptr_equal(b.data, data + 20);
  assert_int_equal(b.len, 30);
  assert_memory_equal(b.data, pattern + 20, 30);
  assert_sane(&b);
  tern_buf_consume(&b, 30); /* exactly empty: storage released */
  assert_empty(&b, 1000);
  tern_buf_free(&b);
}

static void test_consume_beyond_len(void **state) {
  tern_buf b;

  (void)state;
  tern_buf_init(&b, 1000);
  tern_buf_consume(&b, 5); /* empty buffer: no-op */
  assert_empty(&b, 1000);
  assert_int_equal(tern_buf_append(&b, pattern, 10), TERN_OK);
  tern_buf_consume(&b, 11);
  assert_empty(&b, 1000);
  assert_int_equal(tern_buf_append(&b, pattern, 10), TERN_OK);
  tern_buf_consume(&b, SIZE_MAX);
  assert_empty(&b, 1000);
}

/* Appending one byte at a time costs O(log n) allocations. */
static void test_growth_geometric(void **state) {
  tern_buf b;
  uint8_t *last = NULL;
  size_t i, allocs = 0;

  (void)state;
  tern_buf_init(&b, 1 << 20);
  for (i = 0; i < 100000; i++) {
    uint8_t c = pattern[i % sizeof(pattern)];
    assert_int_equal(tern_buf_append(&b, &c, 1), TERN_OK);
    if (b.base != last) {
      allocs++;
      last = b.base;
    }
  }
  assert_true(allocs <= 13); /* 64, 128, ... 131072 */
  assert_int_equal(b.len, 100000);
  assert_true(b.cap >= 100000 && b.cap <= 2 * 100000);
  for (i = 0; i < 100000; i += 997)
    assert_int_equal(b.data[i], pattern[i % sizeof(pattern)]);
  assert_sane(&b);
  tern_buf_free(&b);
}

static void test_growth_sizes(void **state) {
  tern_buf b;

  (void)state;
  tern_buf_init(&b, 150);
  assert_int_equal(tern_buf_append(&b, pattern, 1), TERN_OK);
  assert_int_equal(b.cap, 64);
  assert_int_equal(tern_buf_append(&b, pattern, 64), TERN_OK);
  assert_int_equal(b.cap, 128);
  assert_int_equal(tern_buf_append(&b, pattern, 64), TERN_OK);
  assert_int_equal(b.cap, 150); /* doubling would pass max */
  assert_int_equal(b.len, 129);
  tern_buf_free(&b);

  tern_buf_init(&b, 10000);
  assert_int_equal(tern_buf_append(&b, pattern, 1000), TERN_OK);
  assert_int_equal(b.cap, 1000); /* a big first append gets what it needs */
  tern_buf_free(&b);
}

/* At max, room at the front is reused by moving the bytes back. */
static void test_compaction_at_max(void **state) {
  tern_buf b;
  uint8_t *base;

  (void)state;
  tern_buf_init(&b, 64);
  assert_int_equal(tern_buf_append(&b, pattern, 64), TERN_OK);
  base = b.base;
  tern_buf_consume(&b, 40);
  assert_int_equal(tern_buf_append(&b, pattern + 64, 40), TERN_OK);
  assert_ptr_equal(b.base, base);
  assert_ptr_equal(b.data, base);
  assert_int_equal(b.len, 64);
  assert_memory_equal(b.data, pattern + 40, 64);
  assert_int_equal(tern_buf_append(&b, pattern, 1), TERN_ENOSPC);
  assert_sane(&b);
  tern_buf_free(&b);
}

/* Below max, compaction happens only when it frees half the block;
 * otherwise the buffer grows (keeps appends amortised O(1)). */
static void test_compaction_half_rule(void **state) {
  tern_buf b;
  uint8_t *base;

  (void)state;
  tern_buf_init(&b, 4096);
  assert_int_equal(tern_buf_append(&b, pattern, 64), TERN_OK);
  base = b.base;
  tern_buf_consume(&b, 40); /* 24 left: compaction frees > half */
  assert_int_equal(tern_buf_append(&b, pattern + 64, 40), TERN_OK);
  assert_ptr_equal(b.data, base);
  assert_int_equal(b.cap, 64);
  assert_memory_equal(b.data, pattern + 40, 64);
  tern_buf_consume(&b, 10); /* 54 left: more than half, so grow */
  assert_int_equal(tern_buf_append(&b, pattern, 20), TERN_OK);
  assert_int_equal(b.cap, 128);
  assert_ptr_equal(b.data, b.base);
  assert_memory_equal(b.data, pattern + 50, 54);
  assert_memory_equal(b.data + 54, pattern, 20);
  assert_sane(&b);
  tern_buf_free(&b);
}

/* A stream through a small buffer: content stays in order. */
static void test_stream_fifo(void **state) {
  tern_buf b;
  size_t in = 0, out = 0, step;

  (void)state;
  tern_buf_init(&b, 300);
  for (step = 1; out < 200000; step = step % 97 + 1) {
    size_t n = step * 3 % 250 + 1;
    if (b.len + n <= b.max) {
      uint8_t tmp[256];
      size_t i;
      for (i = 0; i < n; i++)
        tmp[i] = pattern[(in + i) % sizeof(pattern)];
      assert_int_equal(tern_buf_append(&b, tmp, n), TERN_OK);
      in += n;
    } else {
      assert_int_equal(tern_buf_append(&b, pattern, n), TERN_ENOSPC);
    }
    n = step * 5 % 200;
    if (n > b.len)
      n = b.len;
    if (n > 0)
      assert_int_equal(b.data[0], pattern[out % sizeof(pattern)]);
    tern_buf_consume(&b, n);
    out += n;
    assert_sane(&b);
  }
  tern_buf_free(&b);
}

static void test_reserve_commit(void **state) {
  tern_buf b;
  uint8_t *p;

  (void)state;
  tern_buf_init(&b, 100);
  p = tern_buf_reserve(&b, 10);
  assert_non_null(p);
  assert_true(b.cap - b.len >= 10);
  memcpy(p, "0123456789", 10);
  tern_buf_commit(&b, 4);
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.data, "0123", 4);
  p = tern_buf_reserve(&b, 0); /* treated as 1 */
  assert_non_null(p);
  assert_ptr_equal(p, b.data + 4);
  assert_null(tern_buf_reserve(&b, 97));
  assert_int_equal(b.len, 4);
  p = tern_buf_reserve(&b, 96);
  assert_non_null(p);
  tern_buf_commit(&b, 1000); /* caller bug: clamped, never past max */
  assert_true(b.len <= b.max);
  assert_true(b.len <= b.cap);
  assert_sane(&b);
  tern_buf_free(&b);
}

static void test_reuse_after_free(void **state) {
  tern_buf b;
  int round;

  (void)state;
  tern_buf_init(&b, 200);
  for (round = 0; round < 5; round++) {
    assert_int_equal(tern_buf_append(&b, pattern, 150), TERN_OK);
    assert_memory_equal(b.data, pattern, 150);
    tern_buf_free(&b);
    assert_empty(&b, 200);
    tern_buf_free(&b); /* twice is fine */
  }
}

static void test_set_max(void **state) {
  tern_buf b;

  (void)state;
  tern_buf_init(&b, 1000);
  assert_int_equal(tern_buf_append(&b, pattern, 500), TERN_OK);
  assert_int_equal(tern_buf_set_max(&b, 499), TERN_ENOSPC);
  assert_int_equal(b.max, 1000);
  tern_buf_consume(&b, 100);
  assert_int_equal(tern_buf_set_max(&b, 450), TERN_OK);
  assert_int_equal(b.max, 450);
  assert_true(b.cap <= 450); /* the block shrank with the maximum */
  assert_int_equal(b.len, 400);
  assert_memory_equal(b.data, pattern + 100, 400);
  assert_int_equal(tern_buf_append(&b, pattern, 51), TERN_ENOSPC);
  assert_int_equal(tern_buf_append(&b, pattern, 50), TERN_OK);
  assert_sane(&b);
  assert_int_equal(tern_buf_set_max(&b, 5000), TERN_OK);
  assert_int_equal(tern_buf_append(&b, pattern, 1000), TERN_OK);
  assert_int_equal(b.len, 1450);
  tern_buf_consume(&b, 1450);
  assert_int_equal(tern_buf_set_max(&b, 0), TERN_OK);
  assert_empty(&b, 0);
}

static void test_set_max_empty_with_storage(void **state) {
  tern_buf b;

  (void)state;
  tern_buf_init(&b, 1000);
  assert_non_null(tern_buf_reserve(&b, 500)); /* allocated, len 0 */
  assert_int_equal(tern_buf_set_max(&b, 10), TERN_OK);
  assert_empty(&b, 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_and_empty_append),
      cmocka_unit_test(test_append_and_read),
      cmocka_unit_test(test_max_enforced),
      cmocka_unit_test(test_max_zero),
      cmocka_unit_test(test_overflow_safe),
      cmocka_unit_test(test_enomem),
      cmocka_unit_test(test_consume_o1),
      cmocka_unit_test(test_consume_beyond_len),
      cmocka_unit_test(test_growth_geometric),
      cmocka_unit_test(test_growth_sizes),
      cmocka_unit_test(test_compaction_at_max),
      cmocka_unit_test(test_compaction_half_rule),
      cmocka_unit_test(test_stream_fifo),
      cmocka_unit_test(test_reserve_commit),
      cmocka_unit_test(test_reuse_after_free),
      cmocka_unit_test(test_set_max),
      cmocka_unit_test(test_set_max_empty_with_storage),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
