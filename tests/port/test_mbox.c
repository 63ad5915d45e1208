/* tests/port/test_mbox.c: tern_mbox bounds, order, blocking with
 * timeouts, and many producers / many consumers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

#include "tern/base.h"
#include "tern/port.h"

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

#define MSG(n) ((void *)(uintptr_t)(n))

static void test_bad_args(void **state) {
  (void)state;
  tern_mbox *mb = (tern_mbox *)&mb;
  assert_int_equal(tern_mbox_new(&mb, 0), TERN_EINVAL);
  assert_null(mb);
  assert_int_equal(tern_mbox_new(NULL, 4), TERN_EINVAL);
  assert_int_equal(tern_mbox_new(&mb, SIZE_MAX), TERN_ENOMEM);
  assert_int_equal(tern_mbox_trypost(NULL, NULL), TERN_EINVAL);
  tern_mbox_free(NULL);
}

static void test_bounds_and_order(void **state) {
  (void)state;
  tern_mbox *mb = NULL;
  assert_int_equal(tern_mbox_new(&mb, 4), TERN_OK);
  void *m = NULL;
  assert_int_equal(tern_mbox_tryfetch(mb, &m), TERN_EAGAIN);
  /* Wrap the ring several times. */
  for (uintptr_t round = 0; round < 3; round++) {
    for (uintptr_t i = 1; i <= 4; i++)
      assert_int_equal(tern_mbox_trypost(mb, MSG(round * 10 + i)), TERN_OK);
    assert_int_equal(tern_mbox_count(mb), 4);
    assert_int_equal(tern_mbox_trypost(mb, MSG(99)), TERN_ENOSPC);
    assert_int_equal(tern_mbox_count(mb), 4);
    for (uintptr_t i = 1; i <= 3; i++) {
      assert_int_equal(tern_mbox_tryfetch(mb, &m), TERN_OK);
      assert_ptr_equal(m, MSG(round * 10 + i));
    }
    assert_int_equal(tern_mbox_trypost(mb, MSG(round * 10 + 5)), TERN_OK);
    assert_int_equal(tern_mbox_fetch(mb, &m, 0), TERN_OK);
    assert_ptr_equal(m, MSG(round * 10 + 4));
    assert_int_equal(tern_mbox_fetch(mb, NULL, 0), TERN_OK); /* dropped */
    assert_int_equal(tern_mbox_count(mb), 0);
  }
  /* NULL is a message like any other. */
  assert_int_equal(tern_mbox_post(mb, NULL, 0), TERN_OK);
  m = MSG(1);
  assert_int_equal(tern_mbox_fetch(mb, &m, 0), TERN_OK);
  assert_null(m);
  tern_mbox_free(mb);
}

static void test_timeouts(void **state) {
  (void)state;
  tern_mbox *mb = NULL;
  assert_int_equal(tern_mbox_new(&mb, 1), TERN_OK);
  void *m = NULL;
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_mbox_fetch(mb, &m, 100), TERN_ETIMEDOUT);
  uint64_t took = tern_clock_ms() - t0;
  assert_true(took >= 90 && took < 10000);
  assert_int_equal(tern_mbox_post(mb, MSG(1), 0), TERN_OK);
  assert_int_equal(tern_mbox_post(mb, MSG(2), 0), TERN_ETIMEDOUT);
  t0 = tern_clock_ms();
  assert_int_equal(tern_mbox_post(mb, MSG(2), 100), TERN_ETIMEDOUT);
  took = tern_clock_ms() - t0;
  assert_true(took >= 90 && took < 10000);
  assert_int_equal(tern_mbox_count(mb), 1);
  tern_mbox_free(mb); /* still holds a message: dropped, not leaked */
}

typedef struct helper {
  tern_mbox *mb;
  long delay_ms;
  void *msg;
  int rc;
} helper;

static void fetch_later(void *arg) {
  helper *h = arg;
  sleep_ms(h->delay_ms);
  h->rc = tern_mbox_fetch(h->mb, &h->msg, 30000);
}

static void post_later(void *arg) {
  helper *h = arg;
  sleep_ms(h->delay_ms);
  h->rc = tern_mbox_post(h->mb, h->msg, 30000);
}

static void test_blocking_post_unblocks(void **state) {
  (void)state;
  helper h = {.delay_ms = 50, .rc = -1000};
  assert_int_equal(tern_mbox_new(&h.mb, 2), TERN_OK);
  assert_int_equal(tern_mbox_trypost(h.mb, MSG(1)), TERN_OK);
  assert_int_equal(tern_mbox_trypost(h.mb, MSG(2)), TERN_OK);
  tern_thread *t = NULL;
  assert_int_equal(tern_thread_new(&t, "fetcher", fetch_later, &h), TERN_OK);
  assert_int_equal(tern_mbox_post(h.mb, MSG(3), TERN_WAIT_FOREVER), TERN_OK);
  assert_int_equal(tern_thread_join(t), TERN_OK);
  assert_int_equal(h.rc, TERN_OK);
  assert_ptr_equal(h.msg, MSG(1));
  void *m = NULL;
  assert_int_equal(tern_mbox_tryfetch(h.mb, &m), TERN_OK);
  assert_ptr_equal(m, MSG(2));
  assert_int_equal(tern_mbox_tryfetch(h.mb, &m), TERN_OK);
  assert_ptr_equal(m, MSG(3));
  tern_mbox_free(h.mb);
}

static void test_blocking_fetch_unblocks(void **state) {
  (void)state;
  helper h = {.delay_ms = 50, .msg = MSG(7), .rc = -1000};
  assert_int_equal(tern_mbox_new(&h.mb, 2), TERN_OK);
  tern_thread *t = NULL;
  assert_int_equal(tern_thread_new(&t, "poster", post_later, &h), TERN_OK);
  void *m = NULL;
  assert_int_equal(tern_mbox_fetch(h.mb, &m, TERN_WAIT_FOREVER), TERN_OK);
  assert_ptr_equal(m, MSG(7));
  assert_int_equal(tern_thread_join(t), TERN_OK);
  assert_int_equal(h.rc, TERN_OK);
  tern_mbox_free(h.mb);
}

/* ---- many producers, many consumers -------------------------------- */

enum { PRODUCERS = 4, CONSUMERS = 4, PER_PRODUCER = 20000, CAP = 16 };
#define STOP_MSG MSG(UINTPTR_MAX)

typedef struct producer {
  tern_mbox *mb;
  uintptr_t id;
  int failures;
} producer;

typedef struct consumer {
  tern_mbox *mb;
  unsigned char *seen; /* PRODUCERS * PER_PRODUCER flags, shared */
  int received;
  int failures;
  long last[PRODUCERS]; /* FIFO: each producer's messages in order */
} consumer;

static void produce(void *arg) {
  producer *p = arg;
  for (uintptr_t i = 0; i < PER_PRODUCER; i++) {
    /* Alternate blocking and non-blocking posts to cover both paths. */
    void *m = MSG(p->id * PER_PRODUCER + i);
    if (i % 2 == 0) {
      if (tern_mbox_post(p->mb, m, 30000) != TERN_OK)
        p->failures++;
    } else {
      int rc;
      while ((rc = tern_mbox_trypost(p->mb, m)) == TERN_ENOSPC)
        sleep_ms(0);
      if (rc != TERN_OK)
        p->failures++;
    }
  }
}

static void consume(void *arg) {
  consumer *c = arg;
  for (int i = 0; i < PRODUCERS; i++)
    c->last[i] = -1;
  for (;;) {
    void *m = NULL;
    if (tern_mbox_fetch(c->mb, &m, 30000) != TERN_OK) {
      c->failures++;
      return;
    }
    if (m == STOP_MSG)
      return;
    uintptr_t n = (uintptr_t)m;
    uintptr_t prod = n / PER_PRODUCER;
    long seq = (long)(n % PER_PRODUCER);
    if (prod >= PRODUCERS || seq <= c->last[prod] || c->seen[n]) {
      c->failures++;
      continue;
    }
    c->last[prod] = seq;
    c->seen[n] = 1; /* distinct n per message: no two threads share a byte */
    c->received++;
  }
}

static void test_many_producers_consumers(void **state) {
  (void)state;
  tern_mbox *mb = NULL;
  assert_int_equal(tern_mbox_new(&mb, CAP), TERN_OK);
  unsigned char *seen = calloc(PRODUCERS * PER_PRODUCER, 1);
  assert_non_null(seen);
  producer p[PRODUCERS];
  consumer c[CONSUMERS];
  tern_thread *pt[PRODUCERS], *ct[CONSUMERS];
  for (int i = 0; i < CONSUMERS; i++) {
    c[i] = (consumer){.mb = mb, .seen = seen};
    assert_int_equal(tern_thread_new(&ct[i], "consumer", consume, &c[i]),
                     TERN_OK);
  }
  for (int i = 0; i < PRODUCERS; i++) {
    p[i] = (producer){.mb = mb, .id = (uintptr_t)i};
    assert_int_equal(tern_thread_new(&pt[i], "producer", produce, &p[i]),
                     TERN_OK);
  }
  for (int i = 0; i < PRODUCERS; i++) {
    assert_int_equal(tern_thread_join(pt[i]), TERN_OK);
    assert_int_equal(p[i].failures, 0);
  }
  for (int i = 0; i < CONSUMERS; i++)
    assert_int_equal(tern_mbox_post(mb, STOP_MSG, 30000), TERN_OK);
  int total = 0;
  for (int i = 0; i < CONSUMERS; i++) {
    assert_int_equal(tern_thread_join(ct[i]), TERN_OK);
    assert_int_equal(c[i].failures, 0);
    total += c[i].received;
  }
  assert_int_equal(total, PRODUCERS * PER_PRODUCER);
  for (size_t i = 0; i < PRODUCERS * PER_PRODUCER; i++)
    assert_int_equal(seen[i], 1);
  assert_int_equal(tern_mbox_count(mb), 0);
  free(seen);
  tern_mbox_free(mb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_bounds_and_order),
      cmocka_unit_test(test_timeouts),
      cmocka_unit_test(test_blocking_post_unblocks),
      cmocka_unit_test(test_blocking_fetch_unblocks),
      cmocka_unit_test(test_many_producers_consumers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
