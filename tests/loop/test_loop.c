/* tests/loop/test_loop.c: a loop's life cycle: run/poll/stop, the cached
 * time, the documented order inside one iteration, re-entry, and teardown
 * with live watchers, timers and calls (LeakSanitizer checks that nothing
 * is left behind). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tern/base.h"
#include "tern/loop.h"

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

static void make_pipe(int p[2]) {
  assert_int_equal(pipe(p), 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(fcntl(p[i], F_SETFL, O_NONBLOCK), 0);
}

static void test_new_free(void **state) {
  (void)state;
  tern_loop *loop = NULL;
  assert_int_equal(tern_loop_new(NULL, NULL), TERN_EINVAL);
  assert_int_equal(tern_loop_new(&loop, NULL), TERN_OK);
  assert_true(tern_loop_on_thread(loop));
  tern_loop_free(loop);
  tern_loop_opts opts = {.max_calls = 1, .max_events = 1};
  assert_int_equal(tern_loop_new(&loop, &opts), TERN_OK);
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  tern_loop_free(loop);
  tern_loop_free(NULL);
  /* Two loops side by side, no shared state. */
  tern_loop *a = NULL, *b = NULL;
  assert_int_equal(tern_loop_new(&a, NULL), TERN_OK);
  assert_int_equal(tern_loop_new(&b, NULL), TERN_OK);
  assert_int_equal(tern_loop_poll(a, 0), TERN_OK);
  assert_int_equal(tern_loop_poll(b, 0), TERN_OK);
  tern_loop_free(a);
  tern_loop_free(b);
}

static void test_poll_waits_and_now_advances(void **state) {
  tern_loop *loop = *state;
  uint64_t before = tern_loop_now(loop);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_true(tern_clock_ms() - t0 < 5000);
  t0 = tern_clock_ms();
  assert_int_equal(tern_loop_poll(loop, 100), TERN_OK);
  uint64_t took = tern_clock_ms() - t0;
  assert_true(took >= 90 && took < 10000); /* nothing happened: it waited */
  uint64_t after = tern_loop_now(loop);
  assert_true(after >= before + 90);
  /* Cached: it does not move by itself... */
  sleep_ms(30);
  assert_true(tern_loop_now(loop) == after);
  /* ...until refreshed. */
  tern_loop_update_time(loop);
  assert_true(tern_loop_now(loop) >= after + 25);
}

/* poll(-1) with a timer pending returns once the timer has fired. */
static void count_timer(tern_timer *t, void *ud) {
  (void)t;
  (*(int *)ud)++;
}

static void test_poll_forever_bounded_by_timer(void **state) {
  tern_loop *loop = *state;
  int fired = 0;
  tern_timer *t = NULL;
  assert_int_equal(tern_timer_new(loop, &t, count_timer, &fired), TERN_OK);
  tern_timer_start(t, 30, 0);
  /* The wait may end a hair early on a coarse clock; a few rounds. */
  for (int i = 0; i < 5 && fired == 0; i++)
    assert_int_equal(tern_loop_poll(loop, -1), TERN_OK);
  assert_int_equal(fired, 1);
  tern_timer_free(t);
}

/* ---- run and stop ---- */

typedef struct stop_ctx {
  tern_loop *loop;
  int fired;
  int nested_rc;
  int nested_poll_rc;
} stop_ctx;

static void stop_from_timer(tern_timer *t, void *ud) {
  stop_ctx *c = ud;
  (void)t;
  c->fired++;
  c->nested_rc = tern_loop_run(c->loop);
  c->nested_poll_rc = tern_loop_poll(c->loop, 0);
  tern_loop_stop(c->loop);
}

static void test_run_until_stop_from_timer(void **state) {
  tern_loop *loop = *state;
  stop_ctx c = {.loop = loop};
  tern_timer *t = NULL;
  assert_int_equal(tern_timer_new(loop, &t, stop_from_timer, &c), TERN_OK);
  tern_timer_start(t, 20, 20);
  assert_int_equal(tern_loop_run(loop), TERN_OK);
  assert_int_equal(c.fired, 1);
  /* Not re-entrant. */
  assert_int_equal(c.nested_rc, TERN_EBUSY);
  assert_int_equal(c.nested_poll_rc, TERN_EBUSY);
  tern_timer_free(t);
}

static void stop_from_defer(tern_loop *loop, void *arg, int status) {
  (void)status;
  (*(int *)arg)++;
  tern_loop_stop(loop);
}

static void test_stop_from_deferred_call_does_not_block(void **state) {
  tern_loop *loop = *state;
  int ran = 0;
  assert_int_equal(tern_loop_defer(loop, stop_from_defer, &ran), TERN_OK);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_loop_run(loop), TERN_OK);
  assert_int_equal(ran, 1);
  assert_true(tern_clock_ms() - t0 < 5000);
}

static void test_stop_before_run(void **state) {
  tern_loop *loop = *state;
  tern_loop_stop(loop);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_loop_run(loop), TERN_OK); /* one iteration */
  assert_true(tern_clock_ms() - t0 < 5000);
}

/* ---- the order inside one iteration -------------------------------- */

typedef struct order {
  char seen[8];
  int n;
  tern_loop *loop;
  int fd;
} order;

static void note(order *o, char c) {
  if (o->n < 7)
    o->seen[o->n] = c;
  o->n++;
}

static void order_defer(tern_loop *loop, void *arg, int status) {
  (void)loop;
  (void)status;
  note(arg, 'D');
}

static void order_call(tern_loop *loop, void *arg, int status) {
  (void)loop;
  (void)status;
  note(arg, 'C');
}

static void order_timer(tern_timer *t, void *ud) {
  (void)t;
  note(ud, 'T');
}

static void order_io(tern_io *io, unsigned events, void *ud) {
  order *o = ud;
  char c;
  (void)events;
  (void)io;
  if (read(o->fd, &c, 1) == 1)
    note(o, 'I');
}

static void test_iteration_order(void **state) {
  tern_loop *loop = *state;
  order o = {.n = 0, .loop = loop};
  int p[2];
  make_pipe(p);
  o.fd = p[0];
  tern_io *io = NULL;
  tern_timer *t = NULL;
  assert_int_equal(tern_io_start(loop, &io, p[0], TERN_IO_READ, order_io, &o),
                   TERN_OK);
  assert_int_equal(tern_timer_new(loop, &t, order_timer, &o), TERN_OK);
  /* Set everything up in the reverse of the expected order. */
  assert_int_equal(tern_loop_call(loop, order_call, &o), TERN_OK);
  tern_timer_start(t, 0, 0);
  char c = 'x';
  assert_int_equal(write(p[1], &c, 1), 1);
  assert_int_equal(tern_loop_defer(loop, order_defer, &o), TERN_OK);
  assert_int_equal(tern_loop_poll(loop, 1000), TERN_OK);
  assert_int_equal(o.n, 4);
  o.seen[4] = '\0';
  assert_string_equal(o.seen, "DITC");
  tern_io_stop(io);
  tern_timer_free(t);
  close(p[0]);
  close(p[1]);
}

/* ---- teardown with everything live --------------------------------- */

static void never_io(tern_io *io, unsigned events, void *ud) {
  (void)io;
  (void)events;
  (*(int *)ud)++;
}

static void never_timer(tern_timer *t, void *ud) {
  (void)t;
  (*(int *)ud)++;
}

typedef struct boxed {
  int *status_ok;
  int *status_cancel;
} boxed;

static void boxed_call(tern_loop *loop, void *arg, int status) {
  boxed *b = arg;
  (void)loop;
  if (status == TERN_ECANCELED)
    (*b->status_cancel)++;
  else
    (*b->status_ok)++;
  free(b);
}

static void test_teardown_with_live_objects(void **state) {
  (void)state;
  tern_loop *loop = NULL;
  assert_int_equal(tern_loop_new(&loop, NULL), TERN_OK);
  int callbacks = 0, ok = 0, cancelled = 0;
  int p[2];
  make_pipe(p);
  char c = 'x';
  assert_int_equal(write(p[1], &c, 1), 1); /* ready, never dispatched */
  tern_io *io[3];
  assert_int_equal(tern_io_start(loop, &io[0], p[0], TERN_IO_READ, never_io,
                                 &callbacks),
                   TERN_OK);
  assert_int_equal(tern_io_start(loop, &io[1], p[1], TERN_IO_WRITE, never_io,
                                 &callbacks),
                   TERN_OK);
  assert_int_equal(tern_io_start(loop, &io[2], p[1], 0, never_io,
                                 &callbacks),
                   TERN_OK);
  tern_timer *t[40];
  for (int i = 0; i < 40; i++) {
    assert_int_equal(tern_timer_new(loop, &t[i], never_timer, &callbacks),
                     TERN_OK);
    if (i % 4 != 3) /* some stay inactive: they are freed too */
      tern_timer_start(t[i], (uint64_t)i, (uint64_t)(i % 2));
  }
  for (int i = 0; i < 3; i++) {
    boxed *b = malloc(sizeof(*b));
    assert_non_null(b);
    *b = (boxed){&ok, &cancelled};
    assert_int_equal(tern_loop_defer(loop, boxed_call, b), TERN_OK);
    b = malloc(sizeof(*b));
    assert_non_null(b);
    *b = (boxed){&ok, &cancelled};
    assert_int_equal(tern_loop_call(loop, boxed_call, b), TERN_OK);
  }
  tern_loop_free(loop);
  assert_int_equal(callbacks, 0);
  assert_int_equal(ok, 0);
  assert_int_equal(cancelled, 6);
  close(p[0]);
  close(p[1]);
}

/* Objects created and freed across many iterations, with some left live
 * at the end: memory comes back (the heap and poller arrays shrink, the
 * rest is freed by tern_loop_free; LeakSanitizer has the last word). */
static void test_churn_then_teardown(void **state) {
  (void)state;
  tern_loop *loop = NULL;
  assert_int_equal(tern_loop_new(&loop, NULL), TERN_OK);
  int fired = 0, ready = 0;
  int p[2];
  make_pipe(p);
  tern_timer *keep[64];
  tern_io *keep_io[64];
  int fds[64]; /* one registration per descriptor (epoll's rule) */
  for (int i = 0; i < 64; i++)
    assert_true((fds[i] = dup(p[1])) >= 0);
  for (int round = 0; round < 64; round++) {
    /* grow: 64 timers and watchers at once, then back down */
    for (int i = 0; i < 64; i++) {
      assert_int_equal(tern_timer_new(loop, &keep[i], never_timer, &fired),
                       TERN_OK);
      tern_timer_start(keep[i], 0, 0);
      assert_int_equal(tern_io_start(loop, &keep_io[i], fds[i],
                                     TERN_IO_WRITE, never_io, &ready),
                       TERN_OK);
    }
    assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
    int keep_n = round == 63 ? 10 : 0;
    for (int i = keep_n; i < 64; i++) {
      tern_timer_free(keep[i]);
      tern_io_stop(keep_io[i]);
    }
  }
  assert_true(fired >= 64 * 64);
  assert_true(ready >= 64 * 64);
  for (int i = 0; i < 10; i++)
    tern_timer_start(keep[i], 1000, 1000);
  tern_loop_free(loop); /* 10 timers and 10 watchers still live */
  for (int i = 0; i < 64; i++)
    close(fds[i]);
  close(p[0]);
  close(p[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_free),
      cmocka_unit_test_setup_teardown(test_poll_waits_and_now_advances, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_poll_forever_bounded_by_timer,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_run_until_stop_from_timer, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_stop_from_deferred_call_does_not_block, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop_before_run, setup, teardown),
      cmocka_unit_test_setup_teardown(test_iteration_order, setup, teardown),
      cmocka_unit_test(test_teardown_with_live_objects),
      cmocka_unit_test(test_churn_then_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
