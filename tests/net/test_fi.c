/* test_fi.c: the fault points of the connection core: an injected connect
 * failure, send failure and datagram drop each end the way the real
 * failure would, with exactly one CLOSE and nothing leaked. */
#include "net_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/fi.h"

static rec_pool pool;

static int setup(void **state) {
  (void)state;
  memset(&pool, 0, sizeof(pool));
  g_pool = &pool;
  return 0;
}

static void test_connect_fails(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l;
  char url[128];
  tern_fi *fi;
  assert_int_equal(tern_fi_new("conn/connect(1..1)", &fi), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  tern_mgr_set_fi(m, fi);
  rec *lr = rec_new(&pool);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, lr, &l), TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  rec *bad = rec_new(&pool), *good = rec_new(&pool);
  assert_int_equal(tern_connect(m, url, rec_fn, bad, NULL), TERN_OK);
  run_for(m, 200);
  assert_int_equal(bad->closes, 1);
  assert_int_equal(bad->close_reason, TERN_ECONNREFUSED);
  assert_int_equal(bad->events[TERN_EV_CONNECT], 0);
  assert_int_equal(tern_connect(m, url, rec_fn, good, NULL), TERN_OK); /* 2nd: fine */
  run_for(m, 200);
  assert_int_equal(good->events[TERN_EV_CONNECT], 1);
  assert_int_equal(tern_fi_fired(fi, "conn/connect"), 1);
  tern_mgr_free(m);
  tern_fi_free(fi);
  assert_all_closed_once(&pool);
}

static void test_send_fails(void **state) {
  (void)state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  tern_mgr *m;
  tern_fi *fi;
  assert_int_equal(tern_fi_new("conn/send(2..2)", &fi), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  tern_mgr_set_fi(m, fi);
  rec *r = rec_new(&pool);
  tern_conn *c;
  assert_int_equal(tern_adopt(m, sv[0], rec_fn, r, &c), TERN_OK);
  rec *cr = tern_conn_data(c);
  assert_int_equal(tern_send(c, "one", 3), TERN_OK);
  assert_int_equal(tern_send(c, "two", 3), TERN_EPIPE);
  assert_int_equal(tern_send(c, "three", 5), TERN_ECLOSED);
  run_for(m, 100);
  assert_int_equal(cr->closes, 1);
  assert_int_equal(cr->close_reason, TERN_EPIPE);
  char buf[16];
  assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 3); /* "one" only */
  r->closes = 1; /* the listener-role rec of tern_adopt gets no CLOSE */
  tern_mgr_free(m);
  tern_fi_free(fi);
  close(sv[1]);
  assert_all_closed_once(&pool);
}

static int got_dgrams;
static void dgram_fn(tern_conn *c, const tern_event *ev, void *ud) {
  (void)c, (void)ud;
  if (ev->type == TERN_EV_READ) got_dgrams++;
}

static void test_udp_drop(void **state) {
  (void)state;
  tern_mgr *m;
  tern_fi *fi;
  assert_int_equal(tern_fi_new("udp/rxdrop(.X)", &fi), TERN_OK); /* every 2nd */
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  tern_mgr_set_fi(m, fi);
  tern_conn *l;
  got_dgrams = 0;
  assert_int_equal(tern_listen(m, "udp://127.0.0.1:0", dgram_fn, NULL, &l), TERN_OK);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons(tern_conn_local(l)->port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 10; i++)
    sendto(fd, "d", 1, 0, (struct sockaddr *)&a, sizeof(a));
  run_for(m, 200);
  assert_int_equal(got_dgrams, 5);
  assert_int_equal(tern_fi_fired(fi, "udp/rxdrop"), 5);
  close(fd);
  tern_mgr_free(m);
  tern_fi_free(fi);
}

/* conn/close(after=MS): the first established connection is reset MS ms
 * later, not before; both ends get exactly one CLOSE. */
static void test_timed_close(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l;
  char url[128];
  tern_fi *fi;
  assert_int_equal(tern_fi_new("conn/close(1..1,after=150)", &fi), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  tern_mgr_set_fi(m, fi);
  rec *lr = rec_new(&pool);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, lr, &l), TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  rec *cl = rec_new(&pool);
  assert_int_equal(tern_connect(m, url, rec_fn, cl, NULL), TERN_OK);
  run_for(m, 40); /* established, well before the reset is due */
  assert_int_equal(cl->events[TERN_EV_CONNECT], 1);
  assert_int_equal(pool.accepts, 1);
  assert_int_equal(pool.closes, 0);
  assert_int_equal(tern_fi_fired(fi, "conn/close"), 1);
  assert_int_equal(tern_fi_passes(fi, "conn/close"), 2); /* both ends asked */
  for (int i = 0; i < 100 && pool.closes < 2; i++) run_for(m, 10);
  rec *sv = &pool.recs[2];
  assert_int_equal(cl->closes, 1);
  assert_int_equal(sv->closes, 1);
  /* the reset one says so; its peer sees the reset (or the EOF) */
  rec *reset = cl->error == TERN_ECONNRESET && cl->close_reason == TERN_ECONNRESET ? cl : sv;
  assert_int_equal(reset->error, TERN_ECONNRESET);
  assert_int_equal(reset->close_reason, TERN_ECONNRESET);
  tern_close(l);
  run_for(m, 20);
  tern_mgr_free(m);
  tern_fi_free(fi);
  assert_all_closed_once(&pool);
}

/* mem/alloc every 3rd allocation point (connection objects, buffers,
 * the cork) while 40 clients talk to an echo server: some connections
 * never start, some end with TERN_ENOMEM, the rest echo; every one that
 * was opened gets exactly one CLOSE, and LSan finds nothing left. */
static void test_alloc_failures(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l;
  char url[128];
  tern_fi *fi;
  assert_int_equal(tern_fi_new("mem/alloc(..X)", &fi), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, lr, &l), TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  pool.server_echo = 1;
  tern_mgr_set_fi(m, fi);
  rec *cl[40];
  int made = 0, refused = 0;
  for (int i = 0; i < 40; i++) {
    cl[made] = rec_new(&pool);
    cl[made]->consume = 1;
    if (tern_connect(m, url, rec_fn, cl[made], NULL) == TERN_OK) {
      made++;
    } else {
      refused++;
      pool.used--; /* never seen: no events, no CLOSE owed */
    }
  }
  run_for(m, 100);
  for (int i = 0; i < made; i++)
    if (cl[i]->events[TERN_EV_CONNECT] && !cl[i]->closes) tern_send(cl[i]->conn, "hello", 5);
  run_for(m, 200);
  int echoed = 0;
  for (int i = 0; i < made; i++) echoed += cl[i]->bytes_in == 5;
  assert_true(refused > 0); /* the faults fired on every kind of path */
  assert_true(echoed > 0);
  assert_true(tern_fi_fired(fi, "mem/alloc") >= 10);
  tern_mgr_set_fi(m, NULL);
  tern_mgr_free(m);
  tern_fi_free(fi);
  assert_all_closed_once(&pool);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_timed_close, setup),
      cmocka_unit_test_setup(test_alloc_failures, setup),
      cmocka_unit_test_setup(test_connect_fails, setup),
      cmocka_unit_test_setup(test_send_fails, setup),
      cmocka_unit_test_setup(test_udp_drop, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
