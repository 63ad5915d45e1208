/* test_sys.c: system states, notifiers holding steps, attach from many
 * threads while the system moves, free with attachments pending, and the
 * SMD bus (order, classes nobody hears, bounded queue, TTL, publishing
 * from threads, unsubscribing inside a callback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tern/tern.h"

static tern_mgr *m;
static tern_sys *sys;

static int setup(void **state) {
  (void)state;
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  assert_int_equal(tern_sys_new(m, NULL, &sys), TERN_OK);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (sys) tern_sys_free(sys);
  sys = NULL;
  tern_mgr_free(m);
  return 0;
}

static void spin(int ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  while (tern_clock_ms() < end) tern_loop_poll(tern_mgr_loop(m), 2);
}

/* ---- states ------------------------------------------------------------- */

static int steps_seen;
static tern_sys_state last_to;

static void on_state_msg(tern_sys *s, const tern_smd_msg *msg, void *ud) {
  (void)s, (void)ud;
  const tern_smd_state *st = msg->payload;
  assert_int_equal(msg->len, sizeof(*st));
  assert_int_equal(st->to, st->from + 1); /* one step at a time, in order */
  if (steps_seen > 0) assert_int_equal(st->from, last_to);
  last_to = (tern_sys_state)st->to;
  steps_seen++;
}

static void test_straight_to_operational(void **state) {
  (void)state;
  steps_seen = 0;
  assert_string_equal(tern_sys_state_name(TERN_SYS_TIME_VALID), "TIME_VALID");
  assert_string_equal(tern_sys_state_name((tern_sys_state)99), "?");
  assert_int_equal(tern_sys_current(sys), TERN_SYS_CONTEXT_CREATED);
  assert_int_equal(tern_smd_subscribe(sys, TERN_SMD_SYSTEM, on_state_msg, NULL, NULL),
                   TERN_OK);
  assert_int_equal(tern_sys_advance(sys, TERN_SYS_OPERATIONAL), TERN_OK);
  assert_int_equal(tern_sys_current(sys), TERN_SYS_OPERATIONAL);
  assert_int_equal(tern_sys_advance(sys, TERN_SYS_DHCP), TERN_OK); /* no way back */
  assert_int_equal(tern_sys_current(sys), TERN_SYS_OPERATIONAL);
  assert_int_equal(tern_sys_advance(sys, TERN_SYS_CONTEXT_DESTROYING), TERN_EINVAL);
  spin(20);
  assert_int_equal(steps_seen, 10);
  assert_int_equal(last_to, TERN_SYS_OPERATIONAL);
}

typedef struct holder {
  tern_sys_state hold; /* the step into this state is held */
  int asked, held;
  bool resume_inside;  /* say "wait" but resume before returning */
} holder;

static bool hold_fn(tern_sys *s, tern_sys_state from, tern_sys_state to,
                    void *ud) {
  holder *h = ud;
  assert_int_equal(to, from + 1);
  h->asked++;
  if (to != h->hold) return true;
  h->held++;
  if (h->resume_inside) {
    tern_sys_resume(s);
    return false; /* resumed already: counts as yes */
  }
  return h->held > 1; /* hold the first time, let it go when asked again */
}

static int attach_ok, attach_cancel;
static void on_attach(tern_sys *s, void *opaque, int status) {
  tern_sys_state want = (tern_sys_state)(uintptr_t)opaque;
  if (status == TERN_OK) {
    assert_true(tern_sys_current(s) >= want);
    attach_ok++;
  } else {
    assert_int_equal(status, TERN_ECANCELED);
    attach_cancel++;
  }
}

static void test_notifier_holds(void **state) {
  (void)state;
  attach_ok = attach_cancel = 0;
  holder dhcp = {.hold = TERN_SYS_DHCP}, other = {.hold = TERN_SYS_STATE_COUNT};
  tern_sys_notifier *n;
  assert_int_equal(tern_sys_notifier_add(sys, hold_fn, &dhcp, &n), TERN_OK);
  assert_int_equal(tern_sys_notifier_add(sys, hold_fn, &other, NULL), TERN_OK);
  assert_int_equal(tern_sys_attach(sys, TERN_SYS_TIME_VALID, on_attach,
                                   (void *)(uintptr_t)TERN_SYS_TIME_VALID),
                   TERN_OK);
  assert_int_equal(tern_sys_attach(sys, TERN_SYS_INITIALIZED, on_attach,
                                   (void *)(uintptr_t)TERN_SYS_INITIALIZED),
                   TERN_OK);
  assert_int_equal(attach_ok, 0); /* never inside tern_sys_attach */
  tern_sys_advance(sys, TERN_SYS_OPERATIONAL);
  assert_int_equal(tern_sys_current(sys), TERN_SYS_IFACE_COLDPLUG);
  spin(20);
  assert_int_equal(attach_ok, 1); /* INITIALIZED only */
  tern_sys_resume(sys);            /* DHCP client: "bound" */
  assert_int_equal(tern_sys_current(sys), TERN_SYS_OPERATIONAL);
  assert_int_equal(attach_ok, 2);
  /* already there: runs from the loop, once */
  assert_int_equal(tern_sys_attach(sys, TERN_SYS_DHCP, on_attach,
                                   (void *)(uintptr_t)TERN_SYS_DHCP),
                   TERN_OK);
  assert_int_equal(attach_ok, 2);
  spin(20);
  assert_int_equal(attach_ok, 3);
  tern_sys_notifier_remove(n);
  assert_int_equal(attach_cancel, 0);
}

static void test_resume_inside_notifier(void **state) {
  (void)state;
  holder h = {.hold = TERN_SYS_CPD, .resume_inside = true};
  assert_int_equal(tern_sys_notifier_add(sys, hold_fn, &h, NULL), TERN_OK);
  tern_sys_advance(sys, TERN_SYS_OPERATIONAL);
  assert_int_equal(tern_sys_current(sys), TERN_SYS_OPERATIONAL);
  assert_int_equal(h.held, 1);
}

/* Free with attachments waiting: each learns it, once. */
static void test_free_cancels(void **state) {
  (void)state;
  attach_ok = attach_cancel = 0;
  for (int i = 0; i < 5; i++)
    assert_int_equal(tern_sys_attach(sys, TERN_SYS_OPERATIONAL, on_attach,
                                     (void *)(uintptr_t)TERN_SYS_OPERATIONAL),
                     TERN_OK);
  spin(10); /* some taken by the loop, waiting for their state */
  for (int i = 0; i < 3; i++) /* some still in the cross-thread list */
    assert_int_equal(tern_sys_attach(sys, TERN_SYS_OPERATIONAL, on_attach,
                                     (void *)(uintptr_t)TERN_SYS_OPERATIONAL),
                     TERN_OK);
  tern_sys_free(sys);
  sys = NULL;
  assert_int_equal(attach_cancel, 8);
  assert_int_equal(attach_ok, 0);
  spin(10); /* the queued wake-up runs and finds the object closing */
}

/* Bounded: attachments beyond max_attach are refused, and the room comes
 * back as they run. */
static void test_attach_bounded(void **state) {
  (void)state;
  tern_sys_free(sys);
  tern_sys_opts o = {.max_attach = 3};
  assert_int_equal(tern_sys_new(m, &o, &sys), TERN_OK);
  attach_ok = attach_cancel = 0;
  void *st = (void *)(uintptr_t)TERN_SYS_INITIALIZED;
  for (int i = 0; i < 3; i++)
    assert_int_equal(tern_sys_attach(sys, TERN_SYS_INITIALIZED, on_attach, st), TERN_OK);
  assert_int_equal(tern_sys_attach(sys, TERN_SYS_INITIALIZED, on_attach, st), TERN_ENOSPC);
  tern_sys_advance(sys, TERN_SYS_INITIALIZED);
  spin(20);
  assert_int_equal(attach_ok, 3);
  assert_int_equal(tern_sys_attach(sys, TERN_SYS_INITIALIZED, on_attach, st), TERN_OK);
  spin(20);
  assert_int_equal(attach_ok, 4);
}

/* ---- attach from many threads while the system moves ------------------- */

#define THREADS 6
#define PER_THREAD 300
static atomic_int th_ok, th_cancel, th_made, th_done;

static void on_th_attach(tern_sys *s, void *opaque, int status) {
  tern_sys_state want = (tern_sys_state)(uintptr_t)opaque;
  if (status == TERN_OK) {
    assert_true(tern_sys_current(s) >= want);
    atomic_fetch_add(&th_ok, 1);
  } else {
    atomic_fetch_add(&th_cancel, 1);
  }
}

static void attacher(void *arg) {
  (void)arg;
  uint32_t r;
  for (int i = 0; i < PER_THREAD; i++) {
    tern_random(&r, sizeof(r));
    tern_sys_state st = (tern_sys_state)(r % (TERN_SYS_OPERATIONAL + 1));
    int rc;
    while ((rc = tern_sys_attach(sys, st, on_th_attach, (void *)(uintptr_t)st)) ==
           TERN_ENOSPC)
      usleep(100);
    if (rc == TERN_OK) atomic_fetch_add(&th_made, 1); /* no cmocka asserts off
                                                          the main thread */
    if (r & 0x100) usleep(r & 0xff);
  }
  atomic_fetch_add(&th_done, 1);
}

/* Every step is held when first proposed and let go when proposed again
 * (after the test's tern_sys_resume): one step per resume. */
static int slow_calls;
static bool slow_fn(tern_sys *s, tern_sys_state from, tern_sys_state to,
                    void *ud) {
  (void)s, (void)from, (void)to, (void)ud;
  return ++slow_calls % 2 == 0;
}

static void test_attach_from_threads(void **state) {
  (void)state;
  atomic_store(&th_ok, 0);
  atomic_store(&th_cancel, 0);
  atomic_store(&th_made, 0);
  atomic_store(&th_done, 0);
  assert_int_equal(tern_sys_notifier_add(sys, slow_fn, NULL, NULL), TERN_OK);
  tern_sys_advance(sys, TERN_SYS_OPERATIONAL);
  tern_thread *t[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(tern_thread_new(&t[i], "attach", attacher, NULL), TERN_OK);
  /* the system moves one step every few milliseconds meanwhile */
  while (tern_sys_current(sys) < TERN_SYS_OPERATIONAL) {
    spin(3);
    tern_sys_resume(sys);
  }
  /* keep the loop running while they attach: with the queue full they
   * wait for the loop to run what is queued (max_attach) */
  uint64_t end = tern_clock_ms() + 20000;
  while (atomic_load(&th_done) < THREADS && tern_clock_ms() < end) spin(2);
  for (int i = 0; i < THREADS; i++) tern_thread_join(t[i]);
  end = tern_clock_ms() + 5000;
  while (atomic_load(&th_ok) < THREADS * PER_THREAD && tern_clock_ms() < end)
    spin(5);
  assert_int_equal(atomic_load(&th_made), THREADS * PER_THREAD);
  assert_int_equal(atomic_load(&th_ok), THREADS * PER_THREAD);
  assert_int_equal(atomic_load(&th_cancel), 0);
}

/* ---- SMD ----------------------------------------------------------------- */

typedef struct rx {
  int n;
  int last_seq[8];
  bool bad_order;
  tern_smd_sub *self;
  bool unsub_on_first;
} rx;

static void on_user(tern_sys *s, const tern_smd_msg *msg, void *ud) {
  rx *r = ud;
  (void)s;
  int v[2];
  assert_int_equal(msg->len, sizeof(v));
  memcpy(v, msg->payload, sizeof(v));
  if (v[1] <= r->last_seq[v[0]]) r->bad_order = true;
  r->last_seq[v[0]] = v[1];
  r->n++;
  if (r->unsub_on_first) tern_smd_unsubscribe(r->self);
}

static atomic_int pub_errors;
static void publisher(void *arg) {
  int id = (int)(uintptr_t)arg;
  for (int i = 1; i <= 200; i++) {
    int v[2] = {id, i}, rc;
    while ((rc = tern_smd_publish(sys, TERN_SMD_USER, v, sizeof(v))) == TERN_ENOSPC)
      usleep(200);
    if (rc != TERN_OK) atomic_fetch_add(&pub_errors, 1);
  }
}

static void test_smd_threads_in_order(void **state) {
  (void)state;
  rx r = {0}, once = {.unsub_on_first = true};
  assert_int_equal(tern_smd_subscribe(sys, TERN_SMD_USER, on_user, &r, NULL), TERN_OK);
  assert_int_equal(tern_smd_subscribe(sys, TERN_SMD_USER | TERN_SMD_NETWORK, on_user,
                                      &once, &once.self),
                   TERN_OK);
  tern_thread *t[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(tern_thread_new(&t[i], "pub", publisher, (void *)(uintptr_t)i),
                     TERN_OK);
  uint64_t end = tern_clock_ms() + 5000;
  while (r.n < 800 && tern_clock_ms() < end) spin(2);
  for (int i = 0; i < 4; i++) tern_thread_join(t[i]);
  assert_int_equal(atomic_load(&pub_errors), 0);
  assert_int_equal(r.n, 800);
  assert_false(r.bad_order); /* each publisher's messages in its order */
  assert_int_equal(once.n, 1);
  tern_smd_stats st;
  tern_smd_get_stats(sys, &st);
  assert_int_equal(st.delivered, 800);
}

static void test_smd_bounds(void **state) {
  (void)state;
  tern_sys_free(sys);
  tern_sys_opts o = {.smd_queue = 4, .smd_ttl_ms = 1};
  assert_int_equal(tern_sys_new(m, &o, &sys), TERN_OK);
  int v[2] = {0, 1};
  /* nobody listens: accepted, nothing queued */
  assert_int_equal(tern_smd_publish(sys, TERN_SMD_USER, v, sizeof(v)), TERN_OK);
  rx r = {0};
  assert_int_equal(tern_smd_subscribe(sys, TERN_SMD_USER, on_user, &r, NULL), TERN_OK);
  char big[TERN_SMD_MAX_PAYLOAD + 1] = {0};
  assert_int_equal(tern_smd_publish(sys, TERN_SMD_USER, big, sizeof(big)), TERN_EMSGSIZE);
  for (int i = 0; i < 4; i++) {
    v[1] = i + 1;
    assert_int_equal(tern_smd_publish(sys, TERN_SMD_USER, v, sizeof(v)), TERN_OK);
  }
  assert_int_equal(tern_smd_publish(sys, TERN_SMD_USER, v, sizeof(v)), TERN_ENOSPC);
  usleep(5000); /* older than the 1 ms TTL when the loop gets to them */
  spin(10);
  assert_int_equal(r.n, 0);
  tern_smd_stats st;
  tern_smd_get_stats(sys, &st);
  assert_int_equal(st.unheard, 1);
  assert_int_equal(st.dropped_full, 1);
  assert_int_equal(st.dropped_ttl, 4);
  assert_int_equal(st.published, 4);
}

/* ---- the TIME_VALID gate -------------------------------------------------- */

static bool ntp_answers;
static void fake_ntp(tern_conn *c, const tern_event *ev, void *ud) {
  (void)ud;
  if (ev->type != TERN_EV_READ || ev->read.len < 48) return;
  uint8_t p[48] = {0x24, 2}; /* LI 0, VN 4, server; stratum 2 */
  memcpy(p + 24, ev->read.data + 40, 8); /* origin = their transmit */
  int64_t now = tern_clock_wall_us();
  uint64_t ntp = ((uint64_t)(now / 1000000 + 2208988800LL) << 32);
  for (int i = 0; i < 8; i++) p[32 + i] = p[40 + i] = (uint8_t)(ntp >> (56 - 8 * i));
  tern_conn_consume(c, ev->read.len);
  if (ntp_answers) tern_send(c, p, sizeof(p));
}

static void test_time_gate(void **state) {
  (void)state;
  tern_conn *srv;
  assert_int_equal(tern_listen(m, "udp://127.0.0.1:0", fake_ntp, NULL, &srv), TERN_OK);
  char servers[64];
  snprintf(servers, sizeof(servers), "127.0.0.1:%d", tern_conn_local(srv)->port);
  tern_sntp_opts o = {.servers = servers, .timeout_ms = 50, .retry_s = 1};
  tern_sntp *sntp;
  assert_int_equal(tern_sntp_new(m, &o, &sntp), TERN_OK);
  tern_sys_gate *g;
  assert_int_equal(tern_sys_gate_time(sys, sntp, &g), TERN_OK);
  ntp_answers = false;
  tern_sys_advance(sys, TERN_SYS_OPERATIONAL);
  assert_int_equal(tern_sys_current(sys), TERN_SYS_CPD); /* waits for time */
  spin(500); /* the first sync fails (no answer) */
  assert_int_equal(tern_sys_current(sys), TERN_SYS_CPD);
  ntp_answers = true; /* the retry (1 s later) succeeds */
  uint64_t end = tern_clock_ms() + 5000;
  while (tern_sys_current(sys) != TERN_SYS_OPERATIONAL && tern_clock_ms() < end)
    spin(20);
  assert_int_equal(tern_sys_current(sys), TERN_SYS_OPERATIONAL);
  tern_sys_gate_free(g);
  tern_sntp_free(sntp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_straight_to_operational, setup, teardown),
      cmocka_unit_test_setup_teardown(test_notifier_holds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_inside_notifier, setup, teardown),
      cmocka_unit_test_setup_teardown(test_free_cancels, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attach_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attach_from_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_smd_threads_in_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_smd_bounds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_time_gate, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
