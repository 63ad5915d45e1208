/* tests/port/test_sync.c: tern_mutex and tern_sem (counts, timeouts,
 * wake-ups across threads). Timing bounds are generous: the machine may
 * be busy, so only "not early" is checked tightly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "tern/base.h"
#include "tern/port.h"

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ---- mutex ---- */

typedef struct counter {
  tern_mutex *mu;
  long value;
  int rounds;
} counter;

static void add_many(void *arg) {
  counter *c = arg;
  for (int i = 0; i < c->rounds; i++) {
    tern_mutex_lock(c->mu);
    long v = c->value; /* a read-modify-write the mutex must protect */
    c->value = v + 1;
    tern_mutex_unlock(c->mu);
  }
}

static void test_mutex_excludes(void **state) {
  (void)state;
  enum { THREADS = 4, ROUNDS = 100000 };
  counter c = {.rounds = ROUNDS};
  assert_int_equal(tern_mutex_new(&c.mu), TERN_OK);
  tern_thread *t[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(tern_thread_new(&t[i], "adder", add_many, &c), TERN_OK);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(tern_thread_join(t[i]), TERN_OK);
  assert_int_equal(c.value, (long)THREADS * ROUNDS);
  tern_mutex_free(c.mu);
}

static void test_mutex_bad_args(void **state) {
  (void)state;
  assert_int_equal(tern_mutex_new(NULL), TERN_EINVAL);
  tern_mutex_free(NULL);
}

/* ---- semaphore ---- */

static void test_sem_initial_count(void **state) {
  (void)state;
  tern_sem *s = NULL;
  assert_int_equal(tern_sem_new(&s, 2), TERN_OK);
  assert_int_equal(tern_sem_wait(s, 0), TERN_OK);
  assert_int_equal(tern_sem_wait(s, 0), TERN_OK);
  assert_int_equal(tern_sem_wait(s, 0), TERN_ETIMEDOUT);
  tern_sem_post(s);
  assert_int_equal(tern_sem_wait(s, 0), TERN_OK);
  assert_int_equal(tern_sem_wait(s, 0), TERN_ETIMEDOUT);
  tern_sem_free(s);
}

static void test_sem_timeout(void **state) {
  (void)state;
  tern_sem *s = NULL;
  assert_int_equal(tern_sem_new(&s, 0), TERN_OK);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_sem_wait(s, 100), TERN_ETIMEDOUT);
  uint64_t took = tern_clock_ms() - t0;
  /* A monotonic deadline never fires early; the slack is for a coarse
   * tern_clock_ms. */
  assert_true(took >= 90);
  assert_true(took < 10000);
  tern_sem_free(s);
}

typedef struct poster {
  tern_sem *s;
  int count;
  long delay_ms;
} poster;

static void post_later(void *arg) {
  poster *p = arg;
  sleep_ms(p->delay_ms);
  for (int i = 0; i < p->count; i++)
    tern_sem_post(p->s);
}

static void test_sem_wakes_forever_waiter(void **state) {
  (void)state;
  poster p = {.count = 1, .delay_ms = 50};
  assert_int_equal(tern_sem_new(&p.s, 0), TERN_OK);
  tern_thread *t = NULL;
  assert_int_equal(tern_thread_new(&t, "poster", post_later, &p), TERN_OK);
  assert_int_equal(tern_sem_wait(p.s, TERN_WAIT_FOREVER), TERN_OK);
  assert_int_equal(tern_thread_join(t), TERN_OK);
  assert_int_equal(tern_sem_wait(p.s, 0), TERN_ETIMEDOUT);
  tern_sem_free(p.s);
}

static void test_sem_post_before_timeout(void **state) {
  (void)state;
  poster p = {.count = 1, .delay_ms = 20};
  assert_int_equal(tern_sem_new(&p.s, 0), TERN_OK);
  tern_thread *t = NULL;
  assert_int_equal(tern_thread_new(&t, "poster", post_later, &p), TERN_OK);
  assert_int_equal(tern_sem_wait(p.s, 30000), TERN_OK);
  assert_int_equal(tern_thread_join(t), TERN_OK);
  tern_sem_free(p.s);
}

static void test_sem_counts_across_threads(void **state) {
  (void)state;
  enum { THREADS = 4, POSTS = 5000 };
  tern_sem *s = NULL;
  assert_int_equal(tern_sem_new(&s, 0), TERN_OK);
  poster p = {.s = s, .count = POSTS, .delay_ms = 0};
  tern_thread *t[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(tern_thread_new(&t[i], "poster", post_later, &p),
                     TERN_OK);
  for (int i = 0; i < THREADS * POSTS; i++)
    assert_int_equal(tern_sem_wait(s, 30000), TERN_OK);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(tern_thread_join(t[i]), TERN_OK);
  assert_int_equal(tern_sem_wait(s, 0), TERN_ETIMEDOUT);
  tern_sem_free(s);
}

typedef struct pingpong {
  tern_sem *ping;
  tern_sem *pong;
  int rounds;
  int failures;
} pingpong;

static void ponger(void *arg) {
  pingpong *pp = arg;
  for (int i = 0; i < pp->rounds; i++) {
    if (tern_sem_wait(pp->ping, 30000) != TERN_OK)
      pp->failures++;
    tern_sem_post(pp->pong);
  }
}

static void test_sem_ping_pong(void **state) {
  (void)state;
  pingpong pp = {.rounds = 10000};
  assert_int_equal(tern_sem_new(&pp.ping, 0), TERN_OK);
  assert_int_equal(tern_sem_new(&pp.pong, 0), TERN_OK);
  tern_thread *t = NULL;
  assert_int_equal(tern_thread_new(&t, "ponger", ponger, &pp), TERN_OK);
  for (int i = 0; i < pp.rounds; i++) {
    tern_sem_post(pp.ping);
    assert_int_equal(tern_sem_wait(pp.pong, 30000), TERN_OK);
  }
  assert_int_equal(tern_thread_join(t), TERN_OK);
  assert_int_equal(pp.failures, 0);
  tern_sem_free(pp.ping);
  tern_sem_free(pp.pong);
}

static void test_sem_bad_args(void **state) {
  (void)state;
  assert_int_equal(tern_sem_new(NULL, 0), TERN_EINVAL);
  tern_sem_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mutex_excludes),
      cmocka_unit_test(test_mutex_bad_args),
      cmocka_unit_test(test_sem_initial_count),
      cmocka_unit_test(test_sem_timeout),
      cmocka_unit_test(test_sem_wakes_forever_waiter),
      cmocka_unit_test(test_sem_post_before_timeout),
      cmocka_unit_test(test_sem_counts_across_threads),
      cmocka_unit_test(test_sem_ping_pong),
      cmocka_unit_test(test_sem_bad_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
