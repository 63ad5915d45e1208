/* tests/loop/test_timer.c: timer order, repeat, stop, restart, freeing from
 * callbacks, and 10,000 timers under random start/stop checked against a
 * model (the heap invariant seen through the order of expiry).
 *
 * Timing: only order and "did / did not fire" are asserted; deadlines for
 * "eventually" are many seconds, so a busy machine cannot fail a test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tern/base.h"
#include "tern/loop.h"

#define PATIENCE_MS 20000

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

/* Poll until *count reaches want (or patience runs out). */
static void poll_until(tern_loop *loop, const int *count, int want) {
  uint64_t give_up = tern_clock_ms() + PATIENCE_MS;
  while (*count < want && tern_clock_ms() < give_up)
    assert_int_equal(tern_loop_poll(loop, 50), TERN_OK);
}

/* Poll for at least ms of real time. */
static void poll_for(tern_loop *loop, uint64_t ms) {
  uint64_t end = tern_clock_ms() + ms;
  while (tern_clock_ms() < end)
    assert_int_equal(tern_loop_poll(loop, 10), TERN_OK);
}

/* ---- a log of which timer fired ---- */

typedef struct fire_log {
  int ids[64];
  int n;
} fire_log;

typedef struct tagged {
  fire_log *log;
  int id;
} tagged;

static void log_fire(tern_timer *t, void *ud) {
  tagged *tg = ud;
  (void)t;
  if (tg->log->n < 64)
    tg->log->ids[tg->log->n] = tg->id;
  tg->log->n++;
}

static void test_order(void **state) {
  tern_loop *loop = *state;
  fire_log log = {.n = 0};
  /* delays, with three equal ones that must fire in start order */
  const uint64_t delay[] = {30, 10, 20, 15, 15, 15};
  const int want[] = {1, 3, 4, 5, 2, 0};
  enum { N = 6 };
  tagged tg[N];
  tern_timer *t[N];
  for (int i = 0; i < N; i++) {
    tg[i] = (tagged){&log, i};
    assert_int_equal(tern_timer_new(loop, &t[i], log_fire, &tg[i]), TERN_OK);
    assert_false(tern_timer_active(t[i]));
  }
  for (int i = 0; i < N; i++) {
    tern_timer_start(t[i], delay[i], 0);
    assert_true(tern_timer_active(t[i]));
    assert_true(tern_timer_due(t[i]) == tern_loop_now(loop) + delay[i]);
  }
  poll_until(loop, &log.n, N);
  assert_int_equal(log.n, N);
  for (int i = 0; i < N; i++)
    assert_int_equal(log.ids[i], want[i]);
  for (int i = 0; i < N; i++) {
    assert_false(tern_timer_active(t[i]));
    tern_timer_free(t[i]);
  }
}

static void test_equal_due_fire_in_start_order(void **state) {
  tern_loop *loop = *state;
  fire_log log = {.n = 0};
  enum { N = 40 };
  tagged tg[N];
  tern_timer *t[N];
  for (int i = 0; i < N; i++) {
    tg[i] = (tagged){&log, i};
    assert_int_equal(tern_timer_new(loop, &t[i], log_fire, &tg[i]), TERN_OK);
    tern_timer_start(t[i], 5, 0);
  }
  /* Re-arming moves a timer behind the others due at the same time. */
  tern_timer_start(t[0], 5, 0);
  tern_timer_start(t[7], 5, 0);
  poll_until(loop, &log.n, N);
  assert_int_equal(log.n, N);
  int k = 0;
  for (int i = 0; i < N; i++)
    if (i != 0 && i != 7)
      assert_int_equal(log.ids[k++], i);
  assert_int_equal(log.ids[N - 2], 0);
  assert_int_equal(log.ids[N - 1], 7);
  for (int i = 0; i < N; i++)
    tern_timer_free(t[i]);
}

/* ---- repeat ---- */

typedef struct rep {
  tern_loop *loop;
  int count;
  int stop_at;
  int errors;
} rep;

static void repeat_fire(tern_timer *t, void *ud) {
  rep *r = ud;
  r->count++;
  /* Already rescheduled before the callback. */
  if (!tern_timer_active(t) || tern_timer_due(t) <= tern_loop_now(r->loop))
    r->errors++;
  if (r->count == r->stop_at)
    tern_timer_stop(t);
}

static void test_repeat(void **state) {
  tern_loop *loop = *state;
  rep r = {.loop = loop, .stop_at = 5};
  tern_timer *t = NULL;
  assert_int_equal(tern_timer_new(loop, &t, repeat_fire, &r), TERN_OK);
  tern_timer_start(t, 1, 5);
  poll_until(loop, &r.count, 5);
  assert_int_equal(r.count, 5);
  assert_int_equal(r.errors, 0);
  assert_false(tern_timer_active(t));
  poll_for(loop, 50);
  assert_int_equal(r.count, 5);
  tern_timer_free(t);
}

/* ---- one-shot: inactive in its callback, may restart itself ---- */

typedef struct oneshot {
  int count;
  int restarts;
  int errors;
} oneshot;

static void oneshot_fire(tern_timer *t, void *ud) {
  oneshot *o = ud;
  o->count++;
  if (tern_timer_active(t))
    o->errors++;
  if (o->restarts > 0) {
    o->restarts--;
    tern_timer_start(t, 1, 0);
    if (!tern_timer_active(t))
      o->errors++;
  }
}

static void test_oneshot_restart_from_callback(void **state) {
  tern_loop *loop = *state;
  oneshot o = {.restarts = 3};
  tern_timer *t = NULL;
  assert_int_equal(tern_timer_new(loop, &t, oneshot_fire, &o), TERN_OK);
  tern_timer_start(t, 0, 0);
  poll_until(loop, &o.count, 4);
  assert_int_equal(o.count, 4);
  assert_int_equal(o.errors, 0);
  assert_false(tern_timer_active(t));
  poll_for(loop, 30);
  assert_int_equal(o.count, 4);
  tern_timer_free(t);
}

/* ---- stop and restart ---- */

static void count_fire(tern_timer *t, void *ud) {
  (void)t;
  (*(int *)ud)++;
}

/* A timer in the caller's storage fires like any other; freeing it
 * unlinks it and leaves the storage alone (ASan would catch a free of
 * memory malloc did not hand out); one left linked is not freed by
 * tern_loop_free either (the teardown frees the loop). */
static void test_timer_in_caller_storage(void **state) {
  tern_loop *loop = *state;
  int fired = 0;
  static tern_timer_storage mem[2]; /* [1] outlives this function */
  tern_timer *t = NULL, *u = NULL;
  assert_int_equal(tern_timer_new_in(loop, NULL, &t, count_fire, &fired),
                   TERN_EINVAL);
  assert_int_equal(tern_timer_new_in(loop, &mem[0], &t, count_fire, &fired),
                   TERN_OK);
  assert_ptr_equal((void *)t, (void *)&mem[0]);
  tern_timer_start(t, 5, 5);
  poll_until(loop, &fired, 3);
  assert_true(fired >= 3);
  tern_timer_free(t);
  int before = fired;
  poll_for(loop, 30);
  assert_int_equal(fired, before);
  assert_int_equal(tern_timer_new_in(loop, &mem[1], &u, count_fire, &fired),
                   TERN_OK);
  tern_timer_start(u, 1000, 0);
}

static void test_stop(void **state) {
  tern_loop *loop = *state;
  int fired = 0;
  tern_timer *t = NULL;
  assert_int_equal(tern_timer_new(loop, &t, count_fire, &fired), TERN_OK);
  tern_timer_stop(t); /* inactive: a no-op */
  tern_timer_start(t, 10, 0);
  tern_timer_stop(t);
  assert_false(tern_timer_active(t));
  tern_timer_stop(t);
  poll_for(loop, 60);
  assert_int_equal(fired, 0);
  /* A stopped timer can be started again. */
  tern_timer_start(t, 0, 0);
  poll_until(loop, &fired, 1);
  assert_int_equal(fired, 1);
  tern_timer_free(t);
}

static void test_restart_moves(void **state) {
  tern_loop *loop = *state;
  int fired = 0;
  tern_timer *t = NULL;
  assert_int_equal(tern_timer_new(loop, &t, count_fire, &fired), TERN_OK);
  tern_timer_start(t, 1000000, 0);
  uint64_t far = tern_timer_due(t);
  tern_timer_start(t, 0, 0);
  assert_true(tern_timer_due(t) < far);
  poll_until(loop, &fired, 1);
  assert_int_equal(fired, 1);
  /* ... and the other way: moved later, it does not fire early. */
  tern_timer_start(t, 0, 0);
  tern_timer_start(t, 1000000, 0);
  poll_for(loop, 50);
  assert_int_equal(fired, 1);
  assert_true(tern_timer_active(t));
  tern_timer_free(t); /* active: free stops it */
}

static void test_huge_delay_saturates(void **state) {
  tern_loop *loop = *state;
  int fired = 0;
  tern_timer *t = NULL;
  assert_int_equal(tern_timer_new(loop, &t, count_fire, &fired), TERN_OK);
  tern_timer_start(t, UINT64_MAX, UINT64_MAX);
  assert_true(tern_timer_due(t) == UINT64_MAX);
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(fired, 0);
  tern_timer_free(t);
}

/* ---- freeing from callbacks ---- */

static void free_self(tern_timer *t, void *ud) {
  (*(int *)ud)++;
  tern_timer_free(t);
}

static void test_free_self_in_callback(void **state) {
  tern_loop *loop = *state;
  int fired = 0;
  tern_timer *a = NULL, *b = NULL;
  assert_int_equal(tern_timer_new(loop, &a, free_self, &fired), TERN_OK);
  assert_int_equal(tern_timer_new(loop, &b, free_self, &fired), TERN_OK);
  tern_timer_start(a, 0, 0);
  tern_timer_start(b, 0, 3); /* repeating: rescheduled, then freed */
  poll_until(loop, &fired, 2);
  assert_int_equal(fired, 2);
  poll_for(loop, 30);
  assert_int_equal(fired, 2); /* ASan: no use after free either */
}

typedef struct victim {
  tern_timer *other;
  int first;
  int second;
  int use_free;
} victim;

static void kill_other(tern_timer *t, void *ud) {
  victim *v = ud;
  (void)t;
  v->first++;
  if (v->use_free)
    tern_timer_free(v->other);
  else
    tern_timer_stop(v->other);
  v->other = NULL;
}

static void victim_fire(tern_timer *t, void *ud) {
  (void)t;
  ((victim *)ud)->second++;
}

/* Both due in the same iteration; the first removes the second. */
static void run_victim(tern_loop *loop, int use_free) {
  victim v = {.use_free = use_free};
  tern_timer *a = NULL, *b = NULL;
  assert_int_equal(tern_timer_new(loop, &a, kill_other, &v), TERN_OK);
  assert_int_equal(tern_timer_new(loop, &b, victim_fire, &v), TERN_OK);
  v.other = b;
  tern_timer_start(a, 0, 0);
  tern_timer_start(b, 0, 0);
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(v.first, 1);
  assert_int_equal(v.second, 0);
  poll_for(loop, 20);
  assert_int_equal(v.second, 0);
  if (!use_free) {
    assert_false(tern_timer_active(b));
    tern_timer_free(b);
  }
  tern_timer_free(a);
}

static void test_free_other_due_timer(void **state) {
  run_victim(*state, 1);
}

static void test_stop_other_due_timer(void **state) {
  run_victim(*state, 0);
}

/* A callback that re-arms itself with delay 0 must not hold the loop:
 * it fires again in the next iteration, not the same one. */
static void rearm_zero(tern_timer *t, void *ud) {
  (*(int *)ud)++;
  tern_timer_start(t, 0, 0);
}

static void test_zero_rearm_runs_once_per_iteration(void **state) {
  tern_loop *loop = *state;
  int fired = 0;
  tern_timer *t = NULL;
  assert_int_equal(tern_timer_new(loop, &t, rearm_zero, &fired), TERN_OK);
  tern_timer_start(t, 0, 0);
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(fired, 1);
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(fired, 2);
  tern_timer_free(t);
}

static void test_bad_args(void **state) {
  tern_loop *loop = *state;
  tern_timer *t = (tern_timer *)&t;
  assert_int_equal(tern_timer_new(NULL, &t, count_fire, NULL), TERN_EINVAL);
  assert_null(t);
  assert_int_equal(tern_timer_new(loop, &t, NULL, NULL), TERN_EINVAL);
  assert_int_equal(tern_timer_new(loop, NULL, count_fire, NULL),
                   TERN_EINVAL);
  tern_timer_free(NULL);
  tern_timer_stop(NULL);
  assert_false(tern_timer_active(NULL));
}

/* ---- 10,000 timers against a model --------------------------------- */

enum { MANY = 10000, OPS = 40000 };

typedef struct model model;

typedef struct slot {
  model *m;
  tern_timer *t;
  int index;
  bool active;    /* the model's idea */
  bool fired;
  uint64_t due;   /* expected */
  uint64_t order; /* start order, the tie-break */
} slot;

struct model {
  tern_loop *loop;
  slot s[MANY];
  uint64_t rng;
  uint64_t next_order;
  int expected;   /* active timers that must still fire */
  int fired;
  int errors;
  uint64_t last_due;
  uint64_t last_order;
};

static uint64_t rnd(model *m) { /* xorshift64: reproducible */
  m->rng ^= m->rng << 13;
  m->rng ^= m->rng >> 7;
  m->rng ^= m->rng << 17;
  return m->rng;
}

static void model_start(model *m, slot *s, uint64_t delay) {
  if (!s->active)
    m->expected++;
  tern_timer_start(s->t, delay, 0);
  s->active = true;
  s->due = tern_loop_now(m->loop) + delay;
  s->order = m->next_order++;
  if (tern_timer_due(s->t) != s->due)
    m->errors++;
}

static void model_stop(model *m, slot *s) {
  if (s->active)
    m->expected--;
  tern_timer_stop(s->t);
  s->active = false;
}

static void many_fire(tern_timer *t, void *ud) {
  slot *s = ud;
  model *m = s->m;
  (void)t;
  /* Fired at most once, only if active, and in (due, start order). */
  if (!s->active || s->fired || tern_loop_now(m->loop) < s->due)
    m->errors++;
  if (s->due < m->last_due ||
      (s->due == m->last_due && s->order < m->last_order))
    m->errors++;
  m->last_due = s->due;
  m->last_order = s->order;
  s->fired = true;
  s->active = false;
  m->expected--;
  m->fired++;
  /* Every tenth callback stops another random timer still pending. */
  if (s->index % 10 == 0) {
    slot *o = &m->s[rnd(m) % MANY];
    if (o != s)
      model_stop(m, o);
  }
}

static void test_many_timers_random(void **state) {
  tern_loop *loop = *state;
  model *m = calloc(1, sizeof(*m));
  assert_non_null(m);
  m->loop = loop;
  m->rng = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < MANY; i++) {
    m->s[i] = (slot){.m = m, .index = i};
    assert_int_equal(tern_timer_new(loop, &m->s[i].t, many_fire, &m->s[i]),
                     TERN_OK);
  }
  /* No iteration between these: loop time stands still, so each due time
   * is exact and many coincide (delays 0..199): the tie-break matters. */
  for (int op = 0; op < OPS; op++) {
    slot *s = &m->s[rnd(m) % MANY];
    if (rnd(m) % 3 == 0)
      model_stop(m, s);
    else
      model_start(m, s, rnd(m) % 200);
  }
  int active = m->expected;
  assert_true(active > MANY / 2);
  uint64_t give_up = tern_clock_ms() + PATIENCE_MS;
  while (m->expected > 0 && tern_clock_ms() < give_up)
    assert_int_equal(tern_loop_poll(loop, 50), TERN_OK);
  assert_int_equal(m->expected, 0);
  assert_int_equal(m->errors, 0);
  assert_true(m->fired > MANY / 4);
  assert_true(m->fired <= active);
  for (int i = 0; i < MANY; i++) {
    assert_false(tern_timer_active(m->s[i].t));
    tern_timer_free(m->s[i].t);
  }
  free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer_in_caller_storage, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_equal_due_fire_in_start_order,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_repeat, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oneshot_restart_from_callback,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restart_moves, setup, teardown),
      cmocka_unit_test_setup_teardown(test_huge_delay_saturates, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_free_self_in_callback, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_free_other_due_timer, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_stop_other_due_timer, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_zero_rearm_runs_once_per_iteration,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_timers_random, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
