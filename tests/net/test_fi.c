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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_connect_fails, setup),
      cmocka_unit_test_setup(test_send_fails, setup),
      cmocka_unit_test_setup(test_udp_drop, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
