/* test_tcp.c: the connection API over host sockets on loopback: echo with
 * hundreds of connections (IPv4 and IPv6), half-close, reset, refused,
 * timeouts, slow reader, writable, listener cap, names. */
#include "net_test.h"

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

typedef struct {
  rec_pool *p;
  int want;
} closes_at_least;

static int cond_closes(void *arg) {
  closes_at_least *w = arg;
  return w->p->closes >= w->want;
}

static tern_conn *listen_echo(tern_mgr *m, const char *url, char *curl,
                              size_t n) {
  tern_conn *l;
  rec *lr = rec_new(&pool);
  pool.server_echo = 1;
  assert_int_equal(tern_listen(m, url, rec_fn, lr, &l), TERN_OK);
  assert_int_equal(lr->events[TERN_EV_OPEN], 1);
  url_of(l, "tcp", curl, n);
  return l;
}

/* N clients each send a distinct message; each gets it back. */
typedef struct {
  rec *clients[512];
  int n;
  size_t want;
} echo_run;

static int cond_echoed(void *arg) {
  echo_run *e = arg;
  for (int i = 0; i < e->n; i++)
    if (e->clients[i]->bytes_in < e->want) return 0;
  return 1;
}

static void echo_many(const char *bind_url, int n) {
  tern_mgr *m;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  tern_conn *l = listen_echo(m, bind_url, url, sizeof(url));
  echo_run e = {.n = n, .want = 1000};
  uint8_t msg[1000];
  for (int i = 0; i < n; i++) {
    rec *r = rec_new(&pool);
    memset(msg, 'a' + i % 26, sizeof(msg));
    e.clients[i] = r;
    assert_int_equal(tern_connect(m, url, rec_fn, r, &r->conn), TERN_OK);
    /* Sending before CONNECT queues the bytes. */
    assert_int_equal(tern_send(r->conn, msg, sizeof(msg)), TERN_OK);
  }
  assert_true(run_until(m, cond_echoed, &e, 20000));
  for (int i = 0; i < n; i++) {
    rec *r = e.clients[i];
    assert_int_equal(r->events[TERN_EV_CONNECT], 1);
    assert_int_equal(r->last[0], 'a' + i % 26);
    assert_int_equal(r->bytes_in, 1000);
  }
  assert_int_equal(pool.accepts, n);
  assert_int_equal(tern_mgr_count(m), (size_t)(2 * n + 1));
  for (int i = 0; i < n; i++) tern_close(e.clients[i]->conn);
  closes_at_least w = {&pool, 2 * n};
  assert_true(run_until(m, cond_closes, &w, 10000));
  for (int i = 0; i < n; i++)
    assert_int_equal(e.clients[i]->close_reason, TERN_OK);
  (void)l;
  tern_mgr_free(m); /* the listener gets its CLOSE here */
  assert_all_closed_once(&pool);
}

static void test_echo_300_v4(void **state) {
  (void)state;
  echo_many("tcp://127.0.0.1:0", 300);
}

static int have_ipv6(void) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
  int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
  close(fd);
  return ok;
}

static void test_echo_100_v6(void **state) {
  (void)state;
  if (!have_ipv6()) {
    fprintf(stderr, "SKIP: no IPv6 loopback on this machine\n");
    skip();
  }
  echo_many("tcp://[::1]:0", 100);
}

/* The client sends and shuts down its side; the server (half-close on)
 * still answers after the FIN, then closes; the client sees the answer
 * and then EOF. */
static void server_half_fn(tern_conn *c, const tern_event *ev, void *ud) {
  rec_fn(c, ev, ud);
  if (ev->type == TERN_EV_ACCEPT) tern_conn_set_half_close(c, true);
  if (ev->type == TERN_EV_READ && ev->read.eof) {
    assert_int_equal(tern_send(c, "bye", 3), TERN_OK);
    tern_close(c);
  }
}

static void test_half_close(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l, *cl;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool), *cr = rec_new(&pool);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", server_half_fn, lr, &l),
                   TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  assert_int_equal(tern_connect(m, url, rec_fn, cr, &cl), TERN_OK);
  assert_int_equal(tern_send(cl, "hello", 5), TERN_OK);
  assert_int_equal(tern_shutdown(cl), TERN_OK);
  assert_int_equal(tern_send(cl, "x", 1), TERN_ECLOSED);
  tern_conn_set_half_close(cl, true);
  cr->half_close = 1; /* close on EOF */
  closes_at_least w = {&pool, 2};
  assert_true(run_until(m, cond_closes, &w, 5000));
  rec *sr = &pool.recs[2];
  assert_int_equal(sr->bytes_in, 5);
  assert_int_equal(sr->eof, 1);
  assert_int_equal(cr->bytes_in, 3);
  assert_memory_equal(cr->last, "bye", 3);
  assert_int_equal(cr->eof, 1);
  assert_int_equal(cr->close_reason, TERN_OK);
  assert_int_equal(sr->close_reason, TERN_OK);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* The server aborts: the client sees a reset, ERROR then CLOSE. */
static void server_abort_fn(tern_conn *c, const tern_event *ev, void *ud) {
  rec_fn(c, ev, ud);
  if (ev->type == TERN_EV_READ) tern_abort(c);
}

static void test_peer_reset(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l, *cl;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool), *cr = rec_new(&pool);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", server_abort_fn, lr, &l),
                   TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  assert_int_equal(tern_connect(m, url, rec_fn, cr, &cl), TERN_OK);
  assert_int_equal(tern_send(cl, "ping", 4), TERN_OK);
  closes_at_least w = {&pool, 2};
  assert_true(run_until(m, cond_closes, &w, 5000));
  rec *sr = &pool.recs[2];
  assert_int_equal(sr->close_reason, TERN_ECONNABORTED);
  assert_int_equal(cr->close_reason, TERN_ECONNRESET);
  assert_int_equal(cr->error, TERN_ECONNRESET);
  assert_int_equal(cr->events[TERN_EV_ERROR], 1);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

static void test_refused(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l, *cl;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool), *cr = rec_new(&pool);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, lr, &l),
                   TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  tern_close(l); /* the port is now closed */
  closes_at_least w = {&pool, 1};
  assert_true(run_until(m, cond_closes, &w, 5000));
  assert_int_equal(tern_connect(m, url, rec_fn, cr, &cl), TERN_OK);
  w.want = 2;
  assert_true(run_until(m, cond_closes, &w, 5000));
  assert_int_equal(cr->error, TERN_ECONNREFUSED);
  assert_int_equal(cr->close_reason, TERN_ECONNREFUSED);
  assert_int_equal(cr->events[TERN_EV_CONNECT], 0);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* A listener whose accept queue is full drops SYNs, so a connect to it
 * hangs: the connect timeout must end it. */
static void test_connect_timeout(void **state) {
  (void)state;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(lfd, 0), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
  int fill[4];
  for (int i = 0; i < 4; i++) { /* fill the accept queue; never accept */
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fill[i], (struct sockaddr *)&a, sizeof(a));
  }
  usleep(100000);
  tern_mgr *m;
  tern_mgr_opts o = {.limits = {.connect_ms = 300}};
  assert_int_equal(tern_mgr_new(&m, &o), TERN_OK);
  char url[64];
  snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", ntohs(a.sin_port));
  rec *cr = rec_new(&pool);
  tern_conn *cl;
  assert_int_equal(tern_connect(m, url, rec_fn, cr, &cl), TERN_OK);
  uint64_t t0 = tern_clock_ms();
  closes_at_least w = {&pool, 1};
  assert_true(run_until(m, cond_closes, &w, 5000));
  uint64_t took = tern_clock_ms() - t0;
  assert_int_equal(cr->events[TERN_EV_TIMEOUT], 1);
  assert_int_equal(cr->events[TERN_EV_CONNECT], 0);
  assert_int_equal(cr->close_reason, TERN_ETIMEDOUT);
  assert_true(took >= 250);
  tern_mgr_free(m);
  for (int i = 0; i < 4; i++) close(fill[i]);
  close(lfd);
  assert_all_closed_once(&pool);
}

/* Idle timeout: the server closes a silent client; a TIMEOUT handler that
 * sets a new timeout keeps the connection once. */
static int g_rearm;
static void server_idle_fn(tern_conn *c, const tern_event *ev, void *ud) {
  rec_fn(c, ev, ud);
  if (ev->type == TERN_EV_ACCEPT) tern_conn_set_idle_timeout(c, 150);
  if (ev->type == TERN_EV_TIMEOUT && g_rearm-- > 0)
    tern_conn_set_idle_timeout(c, 150);
}

static void test_idle_timeout(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l, *cl;
  char url[128];
  g_rearm = 1;
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *lr = rec_new(&pool), *cr = rec_new(&pool);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", server_idle_fn, lr, &l),
                   TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  assert_int_equal(tern_connect(m, url, rec_fn, cr, &cl), TERN_OK);
  uint64_t t0 = tern_clock_ms();
  closes_at_least w = {&pool, 2};
  assert_true(run_until(m, cond_closes, &w, 5000));
  rec *sr = &pool.recs[2];
  assert_int_equal(sr->events[TERN_EV_TIMEOUT], 2);
  assert_int_equal(sr->close_reason, TERN_ETIMEDOUT);
  assert_int_equal(cr->close_reason, TERN_OK); /* it saw a FIN */
  assert_int_equal(cr->eof, 1);
  assert_true(tern_clock_ms() - t0 >= 280);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* Slow reader: the server pushes 8 MiB through a client that reads only
 * when told to. Memory on both sides stays under the configured caps, and
 * every byte arrives in order once the client reads. */
typedef struct {
  size_t sent, total, max_srv_mem, max_cli_mem;
  tern_conn *srv;
  int writable;
  uint8_t next_in;
  size_t got;
} slow;

static slow g_slow;

static void slow_fill(tern_conn *c) {
  uint8_t chunk[16384];
  while (g_slow.sent < g_slow.total && !tern_conn_choked(c)) {
    for (size_t i = 0; i < sizeof(chunk); i++)
      chunk[i] = (uint8_t)(g_slow.sent + i);
    if (tern_send(c, chunk, sizeof(chunk)) != TERN_OK) break;
    g_slow.sent += sizeof(chunk);
  }
  if (g_slow.sent < g_slow.total) tern_conn_want_writable(c);
  else tern_close(c);
  size_t mem = tern_conn_mem(c);
  if (mem > g_slow.max_srv_mem) g_slow.max_srv_mem = mem;
}

static void slow_server_fn(tern_conn *c, const tern_event *ev, void *ud) {
  rec_fn(c, ev, ud);
  if (ev->type == TERN_EV_ACCEPT) {
    g_slow.srv = c;
    slow_fill(c);
  }
  if (ev->type == TERN_EV_WRITABLE) {
    g_slow.writable++;
    slow_fill(c);
  }
}

static int g_reading;
static void slow_client_fn(tern_conn *c, const tern_event *ev, void *ud) {
  rec *r = ud;
  r->consume = 0;
  rec_fn(c, ev, ud);
  size_t mem = tern_conn_mem(c);
  if (mem > g_slow.max_cli_mem) g_slow.max_cli_mem = mem;
  if (ev->type == TERN_EV_READ && g_reading) {
    for (size_t i = 0; i < ev->read.len; i++)
      assert_int_equal(ev->read.data[i], (uint8_t)(g_slow.got + i));
    g_slow.got += ev->read.len;
    tern_conn_consume(c, ev->read.len);
  }
}

static int cond_got_all(void *arg) {
  (void)arg;
  return g_slow.got >= g_slow.total;
}

static void test_slow_reader(void **state) {
  (void)state;
  memset(&g_slow, 0, sizeof(g_slow));
  g_slow.total = 8u << 20;
  g_reading = 0;
  tern_mgr *m;
  tern_conn *l, *cl;
  char url[128];
  tern_mgr_opts o = {.limits = {.rx_max = 32768, .tx_max = 65536,
                                .tx_lowat = 16384}};
  assert_int_equal(tern_mgr_new(&m, &o), TERN_OK);
  rec *lr = rec_new(&pool), *cr = rec_new(&pool);
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", slow_server_fn, lr, &l),
                   TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  assert_int_equal(tern_connect(m, url, slow_client_fn, cr, &cl), TERN_OK);
  run_for(m, 500); /* nobody reads: both sides fill up and stop */
  assert_true(g_slow.sent < g_slow.total);
  assert_true(tern_conn_queued(g_slow.srv) <= 65536);
  size_t buffered;
  tern_conn_rx(cl, &buffered);
  assert_true(buffered <= 32768);
  assert_true(g_slow.max_cli_mem <= 32768 + 1024);
  assert_true(g_slow.max_srv_mem <= 65536 + 16384 + 1024);
  /* Now read: the buffered bytes first, then the rest as it comes. */
  size_t len;
  const uint8_t *p = tern_conn_rx(cl, &len);
  for (size_t i = 0; i < len; i++) assert_int_equal(p[i], (uint8_t)i);
  g_slow.got = len;
  tern_conn_consume(cl, len);
  g_reading = 1;
  assert_true(run_until(m, cond_got_all, NULL, 20000));
  assert_true(g_slow.writable > 0);
  assert_true(g_slow.max_cli_mem <= 32768 + 1024);
  closes_at_least w = {&pool, 2};
  assert_true(run_until(m, cond_closes, &w, 5000));
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* The listener cap: at most 2 accepted connections alive; the others wait
 * in the backlog and are accepted as earlier ones close. */
static void test_listener_cap(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  l = listen_echo(m, "tcp://127.0.0.1:0", url, sizeof(url));
  tern_conn_set_max_conns(l, 2);
  rec *c[5];
  for (int i = 0; i < 5; i++) {
    c[i] = rec_new(&pool);
    assert_int_equal(tern_connect(m, url, rec_fn, c[i], &c[i]->conn), TERN_OK);
  }
  run_for(m, 300);
  assert_int_equal(pool.accepts, 2);
  for (int i = 0; i < 5; i++) tern_close(c[i]->conn);
  closes_at_least w = {&pool, 5 + 5};
  assert_true(run_until(m, cond_closes, &w, 5000));
  assert_int_equal(pool.accepts, 5);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* Names go through the resolver thread: RESOLVE, then CONNECT. */
static void test_resolve_localhost(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l, *cl;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  l = listen_echo(m, "tcp://127.0.0.1:0", url, sizeof(url));
  snprintf(url, sizeof(url), "tcp://localhost:%u", tern_conn_local(l)->port);
  rec *cr = rec_new(&pool);
  assert_int_equal(tern_connect(m, url, rec_fn, cr, &cl), TERN_OK);
  assert_int_equal(tern_send(cl, "abc", 3), TERN_OK);
  echo_run e = {.n = 1, .clients = {cr}, .want = 3};
  assert_true(run_until(m, cond_echoed, &e, 10000));
  assert_int_equal(cr->events[TERN_EV_RESOLVE], 1);
  assert_int_equal(cr->events[TERN_EV_CONNECT], 1);
  /* A name that does not exist: ERROR then CLOSE, never CONNECT. */
  rec *bad = rec_new(&pool);
  assert_int_equal(tern_connect(m, "tcp://no-such-host.invalid:80", rec_fn,
                                bad, NULL), TERN_OK);
  assert_true(run_until(m, cond_closes, &(closes_at_least){&pool, 1}, 20000));
  assert_int_equal(bad->closes, 1);
  assert_int_equal(bad->close_reason, TERN_ERESOLVE);
  /* Closing while a name is being resolved: one CLOSE, no RESOLVE. */
  rec *early = rec_new(&pool);
  tern_conn *ec;
  assert_int_equal(tern_connect(m, url, rec_fn, early, &ec), TERN_OK);
  tern_close(ec);
  tern_mgr_free(m);
  assert_int_equal(early->events[TERN_EV_RESOLVE], 0);
  assert_all_closed_once(&pool);
}

/* Synchronous failures leave nothing behind and fire nothing. */
static void test_sync_failures(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l, *x = NULL;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  rec *r = rec_new(&pool);
  assert_int_equal(tern_connect(m, "tcp//bad", rec_fn, r, &x), TERN_EURL);
  assert_int_equal(tern_connect(m, "tcp://127.0.0.1", rec_fn, r, &x), TERN_EURL);
  assert_int_equal(tern_listen(m, "tcp://[::1", rec_fn, r, &x), TERN_EURL);
  assert_null(x);
  l = listen_echo(m, "tcp://127.0.0.1:0", url, sizeof(url));
  assert_int_equal(tern_listen(m, url, rec_fn, r, &x), TERN_EADDRINUSE);
  assert_null(x);
  assert_int_equal(tern_mgr_count(m), 1);
  run_for(m, 50);
  for (int e = 0; e <= TERN_EV_CLOSE; e++) assert_int_equal(r->events[e], 0);
  (void)l;
  tern_mgr_free(m);
  assert_int_equal(r->closes, 0);
}

/* WRITABLE comes once per request, from the loop, never inside the call. */
static int g_in_call;
static void writable_fn(tern_conn *c, const tern_event *ev, void *ud) {
  assert_int_equal(g_in_call, 0);
  rec_fn(c, ev, ud);
}

static void test_writable_once(void **state) {
  (void)state;
  tern_mgr *m;
  tern_conn *l, *cl;
  char url[128];
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  l = listen_echo(m, "tcp://127.0.0.1:0", url, sizeof(url));
  rec *cr = rec_new(&pool);
  assert_int_equal(tern_connect(m, url, writable_fn, cr, &cl), TERN_OK);
  run_for(m, 100);
  g_in_call = 1;
  tern_conn_want_writable(cl);
  tern_conn_want_writable(cl);
  g_in_call = 0;
  run_for(m, 100);
  assert_int_equal(cr->events[TERN_EV_WRITABLE], 1);
  g_in_call = 1;
  tern_close(cl); /* CLOSE must not arrive inside tern_close */
  g_in_call = 0;
  assert_int_equal(cr->closes, 0);
  run_for(m, 50);
  assert_int_equal(cr->closes, 1);
  (void)l;
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_echo_300_v4, setup),
      cmocka_unit_test_setup(test_echo_100_v6, setup),
      cmocka_unit_test_setup(test_half_close, setup),
      cmocka_unit_test_setup(test_peer_reset, setup),
      cmocka_unit_test_setup(test_refused, setup),
      cmocka_unit_test_setup(test_connect_timeout, setup),
      cmocka_unit_test_setup(test_idle_timeout, setup),
      cmocka_unit_test_setup(test_slow_reader, setup),
      cmocka_unit_test_setup(test_listener_cap, setup),
      cmocka_unit_test_setup(test_resolve_localhost, setup),
      cmocka_unit_test_setup(test_sync_failures, setup),
      cmocka_unit_test_setup(test_writable_once, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
