/* test_system.c: system connections (tern_conn_set_system): the helpers'
 * own connections are kept apart from the application's: tern_mgr_foreach
 * never visits them, tern_mgr_foreach_system visits only them, accepted
 * connections inherit the mark, and the counts follow connections that
 * end. The DNS client's own connections: tests/proto/test_dns.c. */
#include "net_test.h"

static rec_pool pool;

static int setup(void **state) {
  (void)state;
  memset(&pool, 0, sizeof(pool));
  g_pool = &pool;
  return 0;
}

typedef struct seen {
  tern_conn *c[16];
  int n;
} seen;

static void collect(tern_conn *c, void *arg) {
  seen *s = arg;
  assert_true(s->n < 16);
  s->c[s->n++] = c;
}

static bool has(const seen *s, const tern_conn *c) {
  for (int i = 0; i < s->n; i++)
    if (s->c[i] == c) return true;
  return false;
}

static void close_one(tern_conn *c, void *arg) {
  (void)arg;
  tern_close(c);
}

static int accepted2(void *arg) { return ((rec_pool *)arg)->accepts >= 2; }

static void test_system_apart(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *ul, *sl, *uc, *sc;
  char uurl[64], surl[64];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, rec_new(&pool), &ul), TERN_OK);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, rec_new(&pool), &sl), TERN_OK);
  tern_conn_set_system(sl, true);
  assert_true(tern_conn_is_system(sl));
  assert_false(tern_conn_is_system(ul));
  url_of(ul, "tcp", uurl, sizeof(uurl));
  url_of(sl, "tcp", surl, sizeof(surl));
  assert_int_equal(tern_connect(m, uurl, rec_fn, rec_new(&pool), &uc), TERN_OK);
  assert_int_equal(tern_connect(m, surl, rec_fn, rec_new(&pool), &sc), TERN_OK);
  tern_conn_set_system(sc, true);
  tern_conn_set_system(sc, true); /* idempotent */
  assert_true(run_until(m, accepted2, &pool, 2000));
  assert_int_equal(tern_mgr_count(m), 6);
  assert_int_equal(tern_mgr_count_system(m), 3); /* sl, sc, sl's child */

  seen u = {0}, s = {0};
  tern_mgr_foreach(m, collect, &u);
  tern_mgr_foreach_system(m, collect, &s);
  assert_int_equal(u.n, 3);
  assert_int_equal(s.n, 3);
  assert_true(has(&u, ul) && has(&u, uc) && has(&s, sl) && has(&s, sc));
  for (int i = 0; i < u.n; i++) assert_false(tern_conn_is_system(u.c[i]));
  for (int i = 0; i < s.n; i++) assert_true(tern_conn_is_system(s.c[i]));

  /* a broadcast over user connections closes them and leaves the rest */
  tern_mgr_foreach(m, close_one, NULL);
  run_for(m, 50);
  assert_int_equal(tern_mgr_count(m), 3);
  assert_int_equal(tern_mgr_count_system(m), 3);
  tern_conn_set_system(sc, false); /* back to the user's */
  assert_int_equal(tern_mgr_count_system(m), 2);
  u.n = 0;
  tern_mgr_foreach(m, collect, &u);
  assert_int_equal(u.n, 1);
  assert_ptr_equal(u.c[0], sc);
  tern_abort(sl);
  run_for(m, 50);
  assert_int_equal(tern_mgr_count_system(m), 1); /* the accepted child */
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_system_apart, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
