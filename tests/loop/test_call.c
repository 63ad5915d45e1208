/* tests/loop/test_call.c: tern_loop_defer (order, next-iteration rule) and
 * tern_loop_call (many threads, per-thread order, the bound, cancellation
 * at free), tern_loop_stop and tern_loop_on_thread from other threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "tern/base.h"
#include "tern/loop.h"
#include "tern/port.h"

#define PATIENCE_MS 30000

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static int setup(void **state) {
  tern_loop *loop = NULL;
  if (tern_loop_new(&loop, NULL) != TERN_OK)
    return -1;
  *state = loop;
  return 0;
}

static int teardown(void **state) {
  tern_loop_free(*state);
  return 0;
}

/* ---- deferred calls ------------------------------------------------- */

typedef struct seq_log {
  int v[16];
  int n;
  int bad_status;
} seq_log;

typedef struct seq_item {
  seq_log *log;
  int id;
} seq_item;

static void log_call(tern_loop *loop, void *arg, int status) {
  seq_item *it = arg;
  (void)loop;
  if (status != TERN_OK)
    it->log->bad_status++;
  it->log->v[it->log->n++] = it->id;
}

static void test_defer_order(void **state) {
  tern_loop *loop = *state;
  seq_log log = {.n = 0};
  seq_item it[5];
  for (int i = 0; i < 5; i++) {
    it[i] = (seq_item){&log, i};
    assert_int_equal(tern_loop_defer(loop, log_call, &it[i]), TERN_OK);
  }
  assert_int_equal(log.n, 0); /* nothing runs until the loop does */
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(log.n, 5);
  for (int i = 0; i < 5; i++)
    assert_int_equal(log.v[i], i);
  assert_int_equal(log.bad_status, 0);
  /* Recycled nodes keep the order too. */
  for (int i = 4; i >= 0; i--)
    assert_int_equal(tern_loop_defer(loop, log_call, &it[i]), TERN_OK);
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  for (int i = 0; i < 5; i++)
    assert_int_equal(log.v[5 + i], 4 - i);
}

typedef struct chain {
  int runs;
  int left;
} chain;

static void defer_again(tern_loop *loop, void *arg, int status) {
  chain *c = arg;
  (void)status;
  c->runs++;
  if (c->left-- > 0)
    assert_int_equal(tern_loop_defer(loop, defer_again, c), TERN_OK);
}

static void test_defer_from_defer_runs_next_iteration(void **state) {
  tern_loop *loop = *state;
  chain c = {.left = 3};
  assert_int_equal(tern_loop_defer(loop, defer_again, &c), TERN_OK);
  /* Each run defers the next: one per iteration, and since one is always
   * pending when the wait comes, a long limit does not block (bounded
   * loosely). */
  uint64_t t0 = tern_clock_ms();
  for (int i = 1; i <= 3; i++) {
    assert_int_equal(tern_loop_poll(loop, 10000), TERN_OK);
    assert_int_equal(c.runs, i);
  }
  assert_true(tern_clock_ms() - t0 < 5000);
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(c.runs, 4); /* the last, which defers nothing */
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(c.runs, 4);
}

static void test_bad_args(void **state) {
  tern_loop *loop = *state;
  assert_int_equal(tern_loop_defer(NULL, log_call, NULL), TERN_EINVAL);
  assert_int_equal(tern_loop_defer(loop, NULL, NULL), TERN_EINVAL);
  assert_int_equal(tern_loop_call(NULL, log_call, NULL), TERN_EINVAL);
  assert_int_equal(tern_loop_call(loop, NULL, NULL), TERN_EINVAL);
}

/* ---- many threads -------------------------------------------------- */

enum { THREADS = 8, CALLS = 10000 };

typedef struct many {
  tern_loop *loop;
  long next[THREADS]; /* the sequence number expected from each thread */
  long ran;
  int order_errors;
  int status_errors;
  int thread_errors;
  int post_errors[THREADS];
  long enospc[THREADS];
} many;

/* One per call: the argument says who posted it and in which order. */
typedef struct item {
  many *m;
  int id;
  long seq;
} item;

static void on_call(tern_loop *loop, void *arg, int status) {
  item *it = arg;
  many *m = it->m;
  if (status != TERN_OK)
    m->status_errors++;
  if (!tern_loop_on_thread(loop))
    m->thread_errors++;
  if (it->seq != m->next[it->id])
    m->order_errors++;
  m->next[it->id] = it->seq + 1;
  if (++m->ran == (long)THREADS * CALLS)
    tern_loop_stop(loop);
}

typedef struct poster {
  many *m;
  item *items; /* CALLS of them */
  int id;
} poster;

static void post_many(void *arg) {
  poster *p = arg;
  many *m = p->m;
  if (tern_loop_on_thread(m->loop))
    m->post_errors[p->id]++;
  for (long i = 0; i < CALLS; i++) {
    p->items[i] = (item){m, p->id, i};
    int rc;
    while ((rc = tern_loop_call(m->loop, on_call, &p->items[i])) ==
           TERN_ENOSPC) {
      m->enospc[p->id]++;
      sleep_ms(1);
    }
    if (rc != TERN_OK)
      m->post_errors[p->id]++;
  }
}

/* Ends a run that would otherwise hang, so the test fails instead. */
static void watchdog(tern_timer *t, void *ud) {
  (void)t;
  tern_loop_stop(ud);
}

static void test_calls_from_many_threads(void **state) {
  (void)state;
  /* A small bound so producers really meet TERN_ENOSPC and retry. */
  tern_loop_opts opts = {.max_calls = 256};
  tern_loop *loop = NULL;
  assert_int_equal(tern_loop_new(&loop, &opts), TERN_OK);
  many *m = calloc(1, sizeof(*m));
  assert_non_null(m);
  m->loop = loop;
  item *items = calloc((size_t)THREADS * CALLS, sizeof(*items));
  assert_non_null(items);
  poster p[THREADS];
  tern_thread *t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    p[i] = (poster){m, items + (size_t)i * CALLS, i};
    assert_int_equal(tern_thread_new(&t[i], "poster", post_many, &p[i]),
                     TERN_OK);
  }
  tern_timer *dog = NULL;
  assert_int_equal(tern_timer_new(loop, &dog, watchdog, loop), TERN_OK);
  tern_timer_start(dog, PATIENCE_MS, 0);
  assert_int_equal(tern_loop_run(loop), TERN_OK);
  tern_timer_free(dog);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(tern_thread_join(t[i]), TERN_OK);
  assert_int_equal(m->ran, (long)THREADS * CALLS);
  for (int i = 0; i < THREADS; i++) {
    assert_int_equal(m->next[i], CALLS);
    assert_int_equal(m->post_errors[i], 0);
  }
  assert_int_equal(m->order_errors, 0);
  assert_int_equal(m->status_errors, 0);
  assert_int_equal(m->thread_errors, 0);
  /* Nothing left behind. */
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(m->ran, (long)THREADS * CALLS);
  free(items);
  free(m);
  tern_loop_free(loop);
}

/* ---- the bound ------------------------------------------------------ */

static void count_call(tern_loop *loop, void *arg, int status) {
  (void)loop;
  if (status == TERN_OK)
    (*(int *)arg)++;
}

static void test_bound_returns_enospc(void **state) {
  (void)state;
  tern_loop_opts opts = {.max_calls = 100};
  tern_loop *loop = NULL;
  assert_int_equal(tern_loop_new(&loop, &opts), TERN_OK);
  int ran = 0;
  for (int i = 0; i < 100; i++)
    assert_int_equal(tern_loop_call(loop, count_call, &ran), TERN_OK);
  assert_int_equal(tern_loop_call(loop, count_call, &ran), TERN_ENOSPC);
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(ran, 100); /* the refused one never runs */
  assert_int_equal(tern_loop_call(loop, count_call, &ran), TERN_OK);
  assert_int_equal(tern_loop_poll(loop, 5000), TERN_OK);
  assert_int_equal(ran, 101);
  tern_loop_free(loop);
}

/* A call posted from a call runs in the next iteration, not this one. */
static void call_again(tern_loop *loop, void *arg, int status) {
  chain *c = arg;
  (void)status;
  c->runs++;
  if (c->left-- > 0)
    assert_int_equal(tern_loop_call(loop, call_again, c), TERN_OK);
}

static void test_call_from_call_runs_next_iteration(void **state) {
  tern_loop *loop = *state;
  chain c = {.left = 1};
  assert_int_equal(tern_loop_call(loop, call_again, &c), TERN_OK);
  assert_int_equal(tern_loop_poll(loop, 10000), TERN_OK);
  assert_int_equal(c.runs, 1);
  /* It woke the loop: this wait returns at once. */
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_loop_poll(loop, 10000), TERN_OK);
  assert_int_equal(c.runs, 2);
  assert_true(tern_clock_ms() - t0 < 5000);
}

/* ---- cancellation at free ------------------------------------------ */

typedef struct owned {
  int *cancelled;
  int *ran;
  int *closed_after; /* tern_loop_call from the cancel callback */
  tern_loop *loop;
} owned;

static void owned_call(tern_loop *loop, void *arg, int status) {
  owned *o = arg;
  if (status == TERN_ECANCELED) {
    (*o->cancelled)++;
    if (tern_loop_call(loop, owned_call, NULL) == TERN_ECLOSED &&
        tern_loop_defer(loop, owned_call, NULL) == TERN_ECLOSED)
      (*o->closed_after)++;
  } else {
    (*o->ran)++;
  }
  free(o); /* the call owns its argument: LeakSanitizer checks this */
}

static owned *new_owned(int *cancelled, int *ran, int *closed_after) {
  owned *o = malloc(sizeof(*o));
  assert_non_null(o);
  *o = (owned){cancelled, ran, closed_after, NULL};
  return o;
}

static void test_free_cancels_queued_calls(void **state) {
  (void)state;
  tern_loop *loop = NULL;
  assert_int_equal(tern_loop_new(&loop, NULL), TERN_OK);
  int cancelled = 0, ran = 0, closed_after = 0;
  for (int i = 0; i < 5; i++)
    assert_int_equal(tern_loop_call(loop, owned_call,
                                    new_owned(&cancelled, &ran,
                                              &closed_after)),
                     TERN_OK);
  for (int i = 0; i < 3; i++)
    assert_int_equal(tern_loop_defer(loop, owned_call,
                                     new_owned(&cancelled, &ran,
                                               &closed_after)),
                     TERN_OK);
  tern_loop_free(loop);
  assert_int_equal(ran, 0);
  assert_int_equal(cancelled, 8);
  assert_int_equal(closed_after, 8);
}

/* ---- stop and on_thread from another thread ------------------------ */

typedef struct stopper {
  tern_loop *loop;
  long delay_ms;
  bool on_thread;
} stopper;

static void stop_later(void *arg) {
  stopper *s = arg;
  s->on_thread = tern_loop_on_thread(s->loop);
  sleep_ms(s->delay_ms);
  tern_loop_stop(s->loop);
}

static void test_stop_from_other_thread(void **state) {
  tern_loop *loop = *state;
  assert_true(tern_loop_on_thread(loop)); /* the creating thread */
  stopper s = {.loop = loop, .delay_ms = 100, .on_thread = true};
  tern_thread *t = NULL;
  assert_int_equal(tern_thread_new(&t, "stopper", stop_later, &s), TERN_OK);
  /* Nothing else to do: run blocks until the other thread stops it. */
  assert_int_equal(tern_loop_run(loop), TERN_OK);
  assert_int_equal(tern_thread_join(t), TERN_OK);
  assert_false(s.on_thread);
  /* The stop was consumed: run again and stop it again. */
  s.delay_ms = 10;
  assert_int_equal(tern_thread_new(&t, "stopper", stop_later, &s), TERN_OK);
  assert_int_equal(tern_loop_run(loop), TERN_OK);
  assert_int_equal(tern_thread_join(t), TERN_OK);
}

/* The stopping thread may still be inside tern_loop_stop when run returns
 * and the owner frees the loop; free must wait for it (else ASan sees a
 * use of the freed mutex, and the write could hit a reused descriptor).
 * Many rounds to give the race a chance. */
static void test_stop_then_free_race(void **state) {
  (void)state;
  for (int round = 0; round < 200; round++) {
    tern_loop *loop = NULL;
    assert_int_equal(tern_loop_new(&loop, NULL), TERN_OK);
    stopper s = {.loop = loop, .delay_ms = 0};
    tern_thread *t = NULL;
    assert_int_equal(tern_thread_new(&t, "stopper", stop_later, &s),
                     TERN_OK);
    assert_int_equal(tern_loop_run(loop), TERN_OK);
    assert_int_equal(tern_thread_join(t), TERN_OK);
    tern_loop_free(loop);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_defer_order, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_defer_from_defer_runs_next_iteration, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
      cmocka_unit_test(test_calls_from_many_threads),
      cmocka_unit_test(test_bound_returns_enospc),
      cmocka_unit_test_setup_teardown(test_call_from_call_runs_next_iteration,
                                      setup, teardown),
      cmocka_unit_test(test_free_cancels_queued_calls),
      cmocka_unit_test_setup_teardown(test_stop_from_other_thread, setup,
                                      teardown),
      cmocka_unit_test(test_stop_then_free_race),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
