/* test_lifecycle.c: UDP, adopt, manager teardown, calls from other
 * threads, and two managers on two threads side by side. */
#include "net_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static rec_pool pool;

static int setup(void **state) {
  (void)state;
  memset(&pool, 0, sizeof(pool));
  g_pool = &pool;
  return 0;
}

/* ---- UDP ---------------------------------------------------------- */

static int g_udp_got;
static void udp_server_fn(tern_conn *c, const tern_event *ev, void *ud) {
  rec_fn(c, ev, ud);
  if (ev->type == TERN_EV_READ) {
    assert_non_null(ev->read.from);
    assert_int_equal(tern_sendto(c, ev->read.from, ev->read.data,
                                 ev->read.len), TERN_OK);
  }
}

static void udp_client_fn(tern_conn *c, const tern_event *ev, void *ud) {
  rec_fn(c, ev, ud);
  if (ev->type == TERN_EV_READ) {
    assert_int_equal(ev->read.len, 4);
    g_udp_got++;
  }
}

static int cond_udp(void *arg) { return g_udp_got >= *(int *)arg; }

static void test_udp_echo(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l, *cl;
  char url[128];
  g_udp_got = 0;
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool), *cr = rec_new(&pool);
  assert_int_equal(tern_listen(m, "udp://127.0.0.1:0", udp_server_fn, lr, &l),
                   TERN_OK);
  assert_true(tern_conn_is_udp(l));
  url_of(l, "udp", url, sizeof(url));
  assert_int_equal(tern_connect(m, url, udp_client_fn, cr, &cl), TERN_OK);
  int want = 50;
  for (int i = 0; i < want; i++)
    assert_int_equal(tern_send(cl, "dgrm", 4), TERN_OK);
  assert_true(run_until(m, cond_udp, &want, 5000));
  assert_int_equal(cr->events[TERN_EV_CONNECT], 1);
  assert_int_equal(lr->events[TERN_EV_READ], want);
  tern_mgr_free(m);
  assert_int_equal(lr->close_reason, TERN_ECANCELED);
  assert_all_closed_once(&pool);
}

/* ---- adopt -------------------------------------------------------- */

static void test_adopt_socketpair(void **state) {
  (void)state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  tern_mgr *m;
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool);
  pool.server_echo = 1;
  tern_conn *c;
  assert_int_equal(tern_adopt(m, sv[0], rec_fn, lr, &c), TERN_OK);
  /* OPEN went to the given data; the ACCEPT handler gave the connection a
   * rec of its own, as for an accepted connection. */
  assert_int_equal(lr->events[TERN_EV_OPEN], 1);
  assert_int_equal(pool.accepts, 1);
  rec *r = tern_conn_data(c);
  assert_ptr_equal(r, &pool.recs[1]);
  assert_int_equal(r->events[TERN_EV_ACCEPT], 1);
  lr->closes = 1; /* the listener-role rec never gets a CLOSE of its own */
  assert_int_equal(write(sv[1], "adopted", 7), 7);
  uint64_t end = tern_clock_ms() + 5000;
  char buf[16];
  ssize_t got = 0;
  while (got < 7 && tern_clock_ms() < end) {
    tern_loop_poll(tern_mgr_loop(m), 10);
    ssize_t n = recv(sv[1], buf + got, sizeof(buf) - (size_t)got, MSG_DONTWAIT);
    if (n > 0) got += n;
  }
  assert_int_equal(got, 7);
  assert_memory_equal(buf, "adopted", 7);
  close(sv[1]); /* peer goes away: EOF, then one CLOSE */
  uint64_t end2 = tern_clock_ms() + 5000;
  while (r->closes == 0 && tern_clock_ms() < end2)
    tern_loop_poll(tern_mgr_loop(m), 10);
  assert_int_equal(r->closes, 1);
  assert_int_equal(r->eof, 1);
  assert_int_equal(tern_adopt(m, -1, rec_fn, r, NULL), TERN_EINVAL);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* A listening socket made elsewhere: adopted, it accepts as tern's own. */
static void test_adopt_listener(void **state) {
  (void)state;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(lfd, 16), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
  tern_mgr *m;
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool);
  pool.server_echo = 1;
  tern_conn *l;
  assert_int_equal(tern_adopt(m, lfd, rec_fn, lr, &l), TERN_OK);
  assert_true(tern_conn_is_listener(l));
  assert_int_equal(tern_conn_local(l)->port, ntohs(a.sin_port));
  char url[64];
  snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", ntohs(a.sin_port));
  rec *cr = rec_new(&pool);
  tern_conn *cl;
  assert_int_equal(tern_connect(m, url, rec_fn, cr, &cl), TERN_OK);
  assert_int_equal(tern_send(cl, "via adopted listener", 20), TERN_OK);
  uint64_t end = tern_clock_ms() + 5000;
  while (cr->bytes_in < 20 && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(m), 10);
  assert_int_equal(cr->bytes_in, 20);
  assert_int_equal(pool.accepts, 1);
  tern_mgr_free(m); /* closes lfd too */
  assert_int_equal(close(lfd), -1);
  assert_all_closed_once(&pool);
}

/* An idle accepted connection holds only its object: no buffers, and the
 * object is small (the budget is 1 KiB per idle connection, kernel aside). */
static void test_idle_conn_is_small(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l, *cl;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool), *cr = rec_new(&pool);
  pool.server_echo = 1;
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, lr, &l),
                   TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  assert_int_equal(tern_connect(m, url, rec_fn, cr, &cl), TERN_OK);
  uint8_t big[100000];
  memset(big, 7, sizeof(big));
  assert_int_equal(tern_send(cl, big, sizeof(big)), TERN_OK);
  uint64_t end = tern_clock_ms() + 5000;
  while (cr->bytes_in < sizeof(big) && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(m), 10);
  assert_int_equal(cr->bytes_in, sizeof(big));
  run_for(m, 50);
  tern_conn *srv = pool.recs[2].conn;
  size_t mem = tern_conn_mem(srv);
  fprintf(stderr, "idle accepted connection: %zu bytes in user space\n", mem);
  assert_true(mem <= 512);
  assert_int_equal(tern_conn_mem(cl), mem);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* ---- teardown ----------------------------------------------------- */

static void test_teardown_closes_everything(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool);
  pool.server_echo = 1;
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, lr, &l),
                   TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  for (int i = 0; i < 20; i++) {
    rec *r = rec_new(&pool);
    assert_int_equal(tern_connect(m, url, rec_fn, r, NULL), TERN_OK);
    tern_send(r->conn, "queued", 6);
  }
  run_for(m, 200);
  assert_int_equal(pool.accepts, 20);
  tern_mgr_free(m);
  /* 1 listener + 20 clients + 20 accepted, each closed exactly once with
   * the teardown reason. */
  assert_int_equal(pool.closes, 41);
  for (int i = 0; i < pool.used; i++)
    assert_int_equal(pool.recs[i].close_reason, TERN_ECANCELED);
  assert_all_closed_once(&pool);
}

/* ---- walking the connections ----------------------------------------- */

static tern_conn *walk_conns[10];
static int walk_visits[10], walk_nested;

static void count_one(tern_conn *c, void *arg) {
  (void)c;
  (*(int *)arg)++;
}

/* Visiting connection i closes i+1 (not yet visited) and, once, walks all
 * connections again from inside the walk. */
static void walk_fn(tern_conn *c, void *arg) {
  (void)arg;
  for (int i = 0; i < 10; i++) {
    if (walk_conns[i] != c) continue;
    walk_visits[i]++;
    if (i + 1 < 10) tern_close(walk_conns[i + 1]);
    if (i == 0) tern_mgr_foreach(tern_conn_mgr(c), count_one, &walk_nested);
  }
}

static void test_foreach_closing_others(void **state) {
  (void)state;
  tern_mgr *m;
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  for (int i = 0; i < 10; i++)
    assert_int_equal(tern_listen(m, "udp://127.0.0.1:0", NULL, NULL, &walk_conns[i]),
                     TERN_OK);
  tern_mgr_foreach(m, walk_fn, NULL);
  /* 0 closed 1, 2 closed 3, ...: the closed ones are skipped, the walk
   * does not stop at them */
  for (int i = 0; i < 10; i++) assert_int_equal(walk_visits[i], i % 2 == 0);
  assert_int_equal(walk_nested, 9); /* 1 was closed by then */
  int alive = 0;
  tern_mgr_foreach(m, count_one, &alive);
  assert_int_equal(alive, 5);
  tern_mgr_free(m);
}

/* ---- cross-thread calls ------------------------------------------- */

typedef struct {
  tern_mgr *m;
  uint64_t conn_id;
  atomic_int posted;
  atomic_int ran;
} xt;

static void xt_send(tern_loop *loop, void *arg, int status) {
  xt *x = arg;
  (void)loop;
  if (status != TERN_OK) return;
  tern_conn *c = tern_mgr_find(x->m, x->conn_id);
  assert_non_null(c);
  assert_int_equal(tern_send(c, "x", 1), TERN_OK);
  atomic_fetch_add(&x->ran, 1);
}

static void *xt_thread(void *arg) {
  xt *x = arg;
  for (int i = 0; i < 500; i++) {
    while (tern_loop_call(tern_mgr_loop(x->m), xt_send, x) == TERN_ENOSPC)
      usleep(100);
    atomic_fetch_add(&x->posted, 1);
  }
  return NULL;
}

static int cond_bytes(void *arg) {
  rec *r = arg;
  return r->bytes_in >= 2000;
}

static void test_cross_thread_calls(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l, *cl;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool), *cr = rec_new(&pool);
  pool.server_echo = 1;
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, lr, &l),
                   TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  assert_int_equal(tern_connect(m, url, rec_fn, cr, &cl), TERN_OK);
  xt x = {.m = m, .conn_id = tern_conn_id(cl)};
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, xt_thread, &x);
  assert_true(run_until(m, cond_bytes, cr, 20000));
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  assert_int_equal(atomic_load(&x.ran), 2000);
  assert_int_equal(cr->bytes_in, 2000);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* ---- two managers on two threads ---------------------------------- */

typedef struct {
  rec_pool pool; /* each thread records into its own pool */
  size_t echoed;
  int ok;
} twin;

static _Thread_local twin *t_twin;

static void twin_fn(tern_conn *c, const tern_event *ev, void *ud) {
  (void)ud;
  if (ev->type == TERN_EV_READ && tern_conn_is_client(c)) {
    t_twin->echoed += ev->read.len;
    tern_conn_consume(c, ev->read.len);
  } else if (ev->type == TERN_EV_READ) {
    tern_send(c, ev->read.data, ev->read.len);
    tern_conn_consume(c, ev->read.len);
  }
  if (ev->type == TERN_EV_CLOSE) t_twin->pool.closes++;
}

static void *twin_main(void *arg) {
  twin *t = arg;
  t_twin = t;
  tern_mgr *m;
  tern_conn *l;
  char url[128];
  if (tern_mgr_new(&m, NULL) != TERN_OK) return NULL;
  tern_listen(m, "tcp://127.0.0.1:0", twin_fn, NULL, &l);
  char a[TERN_ADDR_STRLEN];
  tern_addr_format(tern_conn_local(l), true, a, sizeof(a));
  snprintf(url, sizeof(url), "tcp://%s", a);
  for (int i = 0; i < 50; i++) {
    tern_conn *c;
    if (tern_connect(m, url, twin_fn, NULL, &c) == TERN_OK)
      tern_send(c, "0123456789", 10);
  }
  uint64_t end = tern_clock_ms() + 10000;
  while (t->echoed < 500 && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(m), 10);
  tern_mgr_free(m);
  t->ok = t->echoed == 500 && t->pool.closes == 101;
  return NULL;
}

static void test_two_managers(void **state) {
  (void)state;
  twin a, b;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  pthread_t ta, tb;
  pthread_create(&ta, NULL, twin_main, &a);
  pthread_create(&tb, NULL, twin_main, &b);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  assert_int_equal(a.echoed, 500);
  assert_int_equal(b.echoed, 500);
  assert_true(a.ok);
  assert_true(b.ok);
}

/* ---- POLL ----------------------------------------------------------- */

static void test_poll_events(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l;
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, lr, &l),
                   TERN_OK);
  assert_int_equal(tern_conn_set_poll(l, 20), TERN_OK);
  run_for(m, 250);
  assert_true(lr->events[TERN_EV_POLL] >= 5);
  assert_int_equal(tern_conn_set_poll(l, 0), TERN_OK);
  int before = lr->events[TERN_EV_POLL];
  run_for(m, 100);
  assert_int_equal(lr->events[TERN_EV_POLL], before);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_udp_echo, setup),
      cmocka_unit_test_setup(test_adopt_socketpair, setup),
      cmocka_unit_test_setup(test_adopt_listener, setup),
      cmocka_unit_test_setup(test_idle_conn_is_small, setup),
      cmocka_unit_test_setup(test_teardown_closes_everything, setup),
      cmocka_unit_test_setup(test_foreach_closing_others, setup),
      cmocka_unit_test_setup(test_cross_thread_calls, setup),
      cmocka_unit_test_setup(test_two_managers, setup),
      cmocka_unit_test_setup(test_poll_events, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
