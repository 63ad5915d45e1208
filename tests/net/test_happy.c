/* test_happy.c: happy eyeballs (RFC 8305) for tern_connect to a name, and
 * the conmon records (tern/conmon.h) that show what happened.
 *
 * Names are resolved by a resolver the test drives (tern_mgr_set_resolver)
 * so each answer comes exactly when the test says; the addresses are ::1
 * and 127.0.0.1 on loopback. A refusing address is a port nobody listens
 * on; a silent one (SYN into the void) is the "conn/blackhole" fault,
 * which makes chosen attempts never finish: deterministic, no timing luck.
 * Timing checks compare conmon's own stamps with the configured delays
 * (lower bounds only, plus "well before the delay" for "at once"). */
#include "net_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static rec_pool pool;

/* ---- a resolver the test answers by hand ------------------------------ */

typedef struct fake_res {
  tern_conn *c;     /* waiting for an answer */
  int starts, cancels;
  char host[64];
} fake_res;

static int fr_start(void *ctx, tern_conn *c, const char *host, size_t len,
                    uint16_t port) {
  fake_res *f = ctx;
  (void)port;
  f->c = c;
  f->starts++;
  snprintf(f->host, sizeof(f->host), "%.*s", (int)len, host);
  return TERN_OK;
}

static void fr_cancel(void *ctx, tern_conn *c) {
  fake_res *f = ctx;
  if (f->c == c) f->c = NULL;
  f->cancels++;
}

static const tern_name_resolver fr_ops = {fr_start, fr_cancel};

static tern_addr v6lo, v4lo;

static int setup(void **state) {
  (void)state;
  memset(&pool, 0, sizeof(pool));
  g_pool = &pool;
  assert_int_equal(tern_addr_parse_ip("::1", 3, &v6lo), TERN_OK);
  assert_int_equal(tern_addr_parse_ip("127.0.0.1", 9, &v4lo), TERN_OK);
  return 0;
}

static tern_mgr *mgr_new(uint32_t attempt_ms, uint32_t connect_ms) {
  tern_mgr *m;
  tern_mgr_opts o = {0};
  o.limits.attempt_delay_ms = attempt_ms;
  o.limits.connect_ms = connect_ms;
  assert_int_equal(tern_mgr_new(&m, &o), TERN_OK);
  return m;
}

/* A port with a TCP listener on 127.0.0.1 (and on ::1 too if both) and
 * nothing on the other family's loopback. */
static uint16_t listen_port(tern_mgr *m, bool v4, bool v6) {
  for (int tries = 0; tries < 50; tries++) {
    tern_conn *l4 = NULL, *l6 = NULL;
    char url[64];
    assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", rec_fn, rec_new(&pool), &l4), TERN_OK);
    uint16_t port = tern_conn_local(l4)->port;
    /* the port must be free on ::1 (for a listener, or for a refusal) */
    snprintf(url, sizeof(url), "tcp://[::1]:%u", port);
    rec *r6 = rec_new(&pool);
    int rc = tern_listen(m, url, rec_fn, r6, &l6);
    if (rc != TERN_OK) {
      r6->closes = 1; /* never opened */
      tern_abort(l4);
      run_for(m, 5);
      continue;
    }
    if (!v6) tern_abort(l6);
    if (!v4) tern_abort(l4);
    run_for(m, 5);
    return port;
  }
  fail_msg("no port free on both loopbacks");
  return 0;
}

static tern_addr with_port(tern_addr a, uint16_t port) {
  a.port = port;
  return a;
}

static int connected(void *arg) {
  rec *r = arg;
  return r->events[TERN_EV_CONNECT] || r->closes;
}

static int closed(void *arg) { return ((rec *)arg)->closes; }


/* Connect to "dual.test" and wait for the resolver to be asked. */
static tern_conn *start(tern_mgr *m, fake_res *f, uint16_t port, rec *r) {
  char url[64];
  tern_conn *c;
  snprintf(url, sizeof(url), "tcp://dual.test:%u", port);
  assert_int_equal(tern_connect(m, url, rec_fn, r, &c), TERN_OK);
  assert_int_equal(tern_conn_conmon_enable(c), TERN_OK);
  assert_ptr_equal(f->c, c);
  assert_string_equal(f->host, "dual.test");
  return c;
}

static void both(tern_conn *c, uint16_t port) {
  tern_addr a[2] = {with_port(v6lo, port), with_port(v4lo, port)};
  tern_conn_resolved_family(c, 0, TERN_OK, a, 2);
}

/* The record, taken from the connection (it is ours afterwards). */
static tern_conmon_info take_info(tern_conn *c, tern_conmon **cm) {
  tern_conmon_info i;
  *cm = tern_conn_conmon_take(c);
  assert_non_null(*cm);
  assert_null(tern_conn_conmon(c));
  assert_null(tern_conn_conmon_take(c));
  tern_conmon_get(*cm, &i);
  return i;
}

/* ::1 refuses: the IPv4 attempt starts at once (not after the 2 s delay)
 * and wins; the connection works through the winner's socket. */
static void test_refused_then_next_at_once(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(2000, 0);
  fake_res f = {0};
  tern_mgr_set_resolver(m, &fr_ops, &f);
  pool.server_echo = 1;
  uint16_t port = listen_port(m, true, false);
  rec *r = rec_new(&pool);
  tern_conn *c = start(m, &f, port, r);
  run_for(m, 5);
  assert_int_equal(r->events[TERN_EV_RESOLVE], 0); /* nothing before */
  both(c, port);
  assert_true(run_until(m, connected, r, 1500));
  assert_int_equal(r->events[TERN_EV_CONNECT], 1);
  assert_int_equal(r->events[TERN_EV_RESOLVE], 2); /* one per attempt */
  assert_int_equal(tern_conn_peer(c)->family, TERN_AF_INET);
  assert_int_equal(tern_conn_local(c)->family, TERN_AF_INET);
  assert_int_equal(tern_send(c, "ping", 4), TERN_OK);
  for (int i = 0; i < 100 && r->bytes_in < 4; i++) run_for(m, 5);
  assert_int_equal(r->bytes_in, 4);
  assert_memory_equal(r->last, "ping", 4);

  tern_conmon *cm;
  tern_conmon_info i = take_info(c, &cm);
  assert_int_equal(i.result, TERN_OK);
  assert_string_equal(i.host, "dual.test");
  assert_int_equal(i.ndns, 2);
  assert_int_equal(i.dns[0].family, TERN_AF_INET6);
  assert_int_equal(i.nattempts, 2);
  assert_int_equal(i.attempts[0].addr.family, TERN_AF_INET6); /* 6 first */
  assert_int_equal(i.attempts[0].result, TERN_ECONNREFUSED);
  assert_int_equal(i.attempts[1].addr.family, TERN_AF_INET);
  assert_int_equal(i.attempts[1].addr.port, port);
  assert_int_equal(i.attempts[1].result, TERN_OK);
  assert_true(i.attempts[1].start_us >= i.attempts[0].end_us);
  assert_true(i.attempts[1].start_us - i.attempts[0].end_us < 1000000);
  assert_true(i.connect_us > 0 && i.dns_us > 0);
  assert_int_equal(i.tls_us, 0);
  assert_true(i.first_byte_us > 0); /* the echo came back */
  tern_mgr_free(m);
  /* the record outlives the connection and its manager */
  assert_int_equal(i.attempts[1].result, TERN_OK);
  tern_conmon_free(cm);
  assert_all_closed_once(&pool);
}

/* ::1 never answers: after the Connection Attempt Delay the IPv4 attempt
 * starts and wins; the lost attempt is recorded as cancelled. */
static void test_silent_then_delay(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(100, 0);
  tern_fi *fi;
  assert_int_equal(tern_fi_new("conn/blackhole(..1)", &fi), TERN_OK);
  tern_mgr_set_fi(m, fi);
  fake_res f = {0};
  tern_mgr_set_resolver(m, &fr_ops, &f);
  uint16_t port = listen_port(m, true, false);
  rec *r = rec_new(&pool);
  tern_conn *c = start(m, &f, port, r);
  both(c, port);
  assert_true(run_until(m, connected, r, 1500));
  assert_int_equal(r->events[TERN_EV_CONNECT], 1);
  assert_int_equal(tern_fi_fired(fi, "conn/blackhole"), 1);
  tern_conmon *cm;
  tern_conmon_info i = take_info(c, &cm);
  assert_int_equal(i.nattempts, 2);
  assert_int_equal(i.attempts[0].addr.family, TERN_AF_INET6);
  assert_int_equal(i.attempts[0].result, TERN_ECANCELED); /* lost */
  assert_true(i.attempts[0].end_us >= i.attempts[1].end_us);
  assert_int_equal(i.attempts[1].result, TERN_OK);
  /* RFC 8305 5: the second started one delay after the first (the loop's
   * millisecond clock may round down by one) */
  assert_true(i.attempts[1].start_us - i.attempts[0].start_us >= 99000);
  tern_conmon_free(cm);
  tern_mgr_free(m);
  tern_fi_free(fi);
  assert_all_closed_once(&pool);
}

/* Both work: IPv6 is tried first and wins alone. */
static void test_v6_first(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(0, 0);
  fake_res f = {0};
  tern_mgr_set_resolver(m, &fr_ops, &f);
  uint16_t port = listen_port(m, true, true);
  rec *r = rec_new(&pool);
  tern_conn *c = start(m, &f, port, r);
  tern_addr a[2] = {with_port(v4lo, port), with_port(v6lo, port)};
  tern_conn_resolved_family(c, 0, TERN_OK, a, 2); /* v4 listed first */
  assert_true(run_until(m, connected, r, 1500));
  assert_int_equal(r->events[TERN_EV_CONNECT], 1);
  assert_int_equal(tern_conn_peer(c)->family, TERN_AF_INET6);
  const tern_conmon *cm = tern_conn_conmon(c);
  tern_conmon_info i;
  tern_conmon_get(cm, &i);
  assert_int_equal(i.nattempts, 1);
  assert_int_equal(i.attempts[0].result, TERN_OK);
  assert_int_equal(i.ndns, 2);
  tern_mgr_free(m); /* the record not taken is freed with it (LSan) */
  assert_all_closed_once(&pool);
}

/* RFC 8305 3: an A answer before the AAAA one waits resolution_delay_ms;
 * the AAAA answer in that time starts the race with IPv6 at once. */
static void test_resolution_delay(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(0, 0);
  fake_res f = {0};
  tern_mgr_set_resolver(m, &fr_ops, &f);
  uint16_t port = listen_port(m, true, true);
  tern_addr a4 = with_port(v4lo, port), a6 = with_port(v6lo, port);

  /* the AAAA answer never comes: IPv4 after the delay */
  rec *r = rec_new(&pool);
  tern_conn *c = start(m, &f, port, r);
  tern_conn_resolved_family(c, TERN_AF_INET, TERN_OK, &a4, 1);
  assert_true(run_until(m, connected, r, 1500));
  assert_int_equal(tern_conn_peer(c)->family, TERN_AF_INET);
  tern_conmon *cm;
  tern_conmon_info i = take_info(c, &cm);
  assert_int_equal(i.nattempts, 1);
  assert_true(i.dns4_us > 0);
  assert_int_equal(i.dns6_us, 0);
  assert_true(i.attempts[0].start_us - i.dns4_us >= 45000); /* 50 ms */
  tern_conmon_free(cm);
  assert_int_equal(f.cancels, 1); /* the AAAA answer is not wanted now */

  /* the AAAA answer comes 10 ms after the A one, within the resolution
   * delay (1 s here, so a busy machine cannot make the test late): IPv6
   * first, at once */
  tern_limits lim;
  tern_mgr_get_limits(m, &lim);
  lim.resolution_delay_ms = 1000;
  tern_mgr_set_limits(m, &lim);
  r = rec_new(&pool);
  c = start(m, &f, port, r);
  tern_conn_resolved_family(c, TERN_AF_INET, TERN_OK, &a4, 1);
  run_for(m, 10);
  assert_int_equal(r->events[TERN_EV_RESOLVE], 0); /* still waiting */
  tern_conn_resolved_family(c, TERN_AF_INET6, TERN_OK, &a6, 1);
  assert_int_equal(r->events[TERN_EV_RESOLVE], 1); /* at once */
  assert_true(run_until(m, connected, r, 1500));
  assert_int_equal(tern_conn_peer(c)->family, TERN_AF_INET6);
  i = take_info(c, &cm);
  assert_int_equal(i.attempts[0].addr.family, TERN_AF_INET6);
  assert_true(i.attempts[0].start_us >= i.dns6_us);
  assert_true(i.attempts[0].start_us - i.dns6_us < 100000);
  assert_int_equal(i.ndns, 2);
  tern_conmon_free(cm);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* RFC 8305 3: addresses that come after the race began join it. */
static void test_late_answer_joins(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(100, 0);
  tern_fi *fi;
  assert_int_equal(tern_fi_new("conn/blackhole(X.)", &fi), TERN_OK);
  tern_mgr_set_fi(m, fi); /* every other attempt, the IPv4 ones, hangs */
  fake_res f = {0};
  tern_mgr_set_resolver(m, &fr_ops, &f);
  uint16_t port = listen_port(m, false, true);
  tern_addr a4 = with_port(v4lo, port), a6 = with_port(v6lo, port);
  rec *r = rec_new(&pool);
  tern_conn *c = start(m, &f, port, r);
  tern_conn_resolved_family(c, TERN_AF_INET, TERN_OK, &a4, 1);
  for (int k = 0; k < 100 && r->events[TERN_EV_RESOLVE] == 0; k++)
    run_for(m, 5);
  assert_int_equal(r->events[TERN_EV_RESOLVE], 1); /* IPv4, blackholed */
  tern_conn_resolved_family(c, TERN_AF_INET6, TERN_OK, &a6, 1);
  assert_true(run_until(m, connected, r, 1500));
  assert_int_equal(r->events[TERN_EV_CONNECT], 1);
  assert_int_equal(tern_conn_peer(c)->family, TERN_AF_INET6);
  tern_conmon *cm;
  tern_conmon_info i = take_info(c, &cm);
  assert_int_equal(i.nattempts, 2);
  assert_int_equal(i.attempts[0].addr.family, TERN_AF_INET);
  assert_int_equal(i.attempts[0].result, TERN_ECANCELED);
  assert_int_equal(i.attempts[1].result, TERN_OK);
  /* the IPv4 attempt started at the delay after the A answer's wait, the
   * IPv6 one no sooner than a Connection Attempt Delay after it */
  assert_true(i.attempts[1].start_us - i.attempts[0].start_us >= 99000);
  tern_conmon_free(cm);

  /* the AAAA answer comes when the delay is long over (the IPv4 attempt
   * still hanging): its attempt starts at once */
  r = rec_new(&pool);
  c = start(m, &f, port, r);
  tern_conn_resolved_family(c, TERN_AF_INET, TERN_OK, &a4, 1);
  run_for(m, 300);
  assert_int_equal(r->events[TERN_EV_RESOLVE], 1);
  assert_int_equal(r->events[TERN_EV_CONNECT], 0);
  tern_conn_resolved_family(c, TERN_AF_INET6, TERN_OK, &a6, 1);
  assert_true(run_until(m, connected, r, 1500));
  assert_int_equal(r->events[TERN_EV_CONNECT], 1);
  i = take_info(c, &cm);
  assert_int_equal(i.nattempts, 2);
  assert_true(i.attempts[1].start_us >= i.dns6_us);
  assert_true(i.attempts[1].start_us - i.dns6_us < 50000);
  tern_conmon_free(cm);
  tern_mgr_free(m);
  tern_fi_free(fi);
  assert_all_closed_once(&pool);
}

/* Every address refuses: one ERROR with the last failure, one CLOSE. */
static void test_all_refuse(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(2000, 0);
  fake_res f = {0};
  tern_mgr_set_resolver(m, &fr_ops, &f);
  uint16_t port = listen_port(m, false, false);
  rec *r = rec_new(&pool);
  tern_conn *c = start(m, &f, port, r);
  both(c, port);
  /* taken in CLOSE: the whole story */
  assert_true(run_until(m, closed, r, 1500));
  assert_int_equal(r->error, TERN_ECONNREFUSED);
  assert_int_equal(r->close_reason, TERN_ECONNREFUSED);
  assert_int_equal(r->events[TERN_EV_CONNECT], 0);
  assert_int_equal(tern_mgr_count(m), 0);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* The record of a failed connect, taken in the CLOSE handler. */
static tern_conmon *g_taken;
static void take_in_close(tern_conn *c, const tern_event *ev, void *ud) {
  rec_fn(c, ev, ud);
  if (ev->type == TERN_EV_CLOSE) g_taken = tern_conn_conmon_take(c);
}

static void test_take_in_close(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(2000, 0);
  tern_mgr_set_conmon(m, true);
  fake_res f = {0};
  tern_mgr_set_resolver(m, &fr_ops, &f);
  uint16_t port = listen_port(m, false, false);
  rec *r = rec_new(&pool);
  char url[64];
  tern_conn *c;
  snprintf(url, sizeof(url), "tcp://both.test:%u", port);
  assert_int_equal(tern_connect(m, url, take_in_close, r, &c), TERN_OK);
  both(c, port);
  g_taken = NULL;
  assert_true(run_until(m, closed, r, 1500));
  assert_non_null(g_taken);
  tern_mgr_free(m);
  tern_conmon_info i;
  tern_conmon_get(g_taken, &i);
  assert_int_equal(i.result, TERN_ECONNREFUSED);
  assert_int_equal(i.nattempts, 2);
  assert_int_equal(i.attempts[0].result, TERN_ECONNREFUSED);
  assert_int_equal(i.attempts[1].result, TERN_ECONNREFUSED);
  assert_string_equal(i.host, "both.test");
  assert_int_equal(i.first_byte_us, 0);
  tern_conmon_free(g_taken);
  assert_all_closed_once(&pool);
}

/* The resolver fails both families: the connect fails with its error. */
static void test_resolve_fails(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(0, 0);
  fake_res f = {0};
  tern_mgr_set_resolver(m, &fr_ops, &f);
  rec *r = rec_new(&pool);
  tern_conn *c = start(m, &f, 80, r);
  tern_conn_resolved_family(c, TERN_AF_INET6, TERN_ERESOLVE, NULL, 0);
  run_for(m, 5);
  assert_int_equal(r->closes, 0); /* the A answer may still come */
  tern_conn_resolved_family(c, TERN_AF_INET, TERN_ETIMEDOUT, NULL, 0);
  tern_conmon *cm = tern_conn_conmon_take(c);
  assert_true(run_until(m, closed, r, 500));
  assert_int_equal(r->close_reason, TERN_ETIMEDOUT);
  tern_conmon_info i;
  tern_conmon_get(cm, &i);
  assert_int_equal(i.dns_status, TERN_ETIMEDOUT);
  assert_int_equal(i.nattempts, 0);
  assert_int_equal(i.ndns, 0);
  tern_conmon_free(cm);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* Closing, or the connect timeout, in the middle of a race: every
 * attempt is cancelled, one CLOSE, nothing leaks (ASan). */
static void test_end_during_race(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(100, 250);
  tern_fi *fi;
  assert_int_equal(tern_fi_new("conn/blackhole", &fi), TERN_OK);
  tern_mgr_set_fi(m, fi);
  tern_mgr_set_conmon(m, true);
  fake_res f = {0};
  tern_mgr_set_resolver(m, &fr_ops, &f);
  uint16_t port = listen_port(m, true, true);

  rec *r = rec_new(&pool);
  tern_conn *c = start(m, &f, port, r);
  both(c, port);
  run_for(m, 150); /* both attempts running */
  assert_int_equal(r->events[TERN_EV_RESOLVE], 2);
  /* taken mid-race: what it says then; a new record starts afterwards */
  tern_conmon *cm;
  tern_conmon_info i = take_info(c, &cm);
  assert_int_equal(i.result, TERN_EINPROGRESS);
  assert_int_equal(i.nattempts, 2);
  assert_int_equal(i.attempts[0].result, TERN_EINPROGRESS);
  assert_int_equal(i.attempts[1].result, TERN_EINPROGRESS);
  assert_int_equal(i.attempts[1].end_us, 0);
  assert_int_equal(tern_conn_conmon_enable(c), TERN_OK);
  tern_close(c);
  assert_true(run_until(m, closed, r, 500));
  assert_int_equal(r->close_reason, TERN_OK);
  assert_int_equal(i.attempts[0].result, TERN_EINPROGRESS); /* untouched */
  tern_conmon_free(cm);

  r = rec_new(&pool); /* now the 250 ms connect timeout ends it */
  c = start(m, &f, port, r);
  both(c, port);
  assert_true(run_until(m, closed, r, 1500));
  assert_int_equal(r->events[TERN_EV_TIMEOUT], 1);
  assert_int_equal(r->close_reason, TERN_ETIMEDOUT);
  assert_int_equal(tern_fi_fired(fi, "conn/blackhole"), 4);
  tern_mgr_free(m);
  tern_fi_free(fi);
  assert_all_closed_once(&pool);
}

/* A numeric connect records one attempt, no DNS, and the first byte. */
static void greet(tern_conn *c, const tern_event *ev, void *ud) {
  rec_fn(c, ev, ud);
  if (ev->type == TERN_EV_ACCEPT) tern_send(c, "hello", 5);
}

static void test_numeric_record(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(0, 0);
  tern_conn *l, *c;
  char url[64];
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", greet, rec_new(&pool), &l), TERN_OK);
  url_of(l, "tcp", url, sizeof(url));
  rec *r = rec_new(&pool);
  assert_int_equal(tern_connect(m, url, rec_fn, r, &c), TERN_OK);
  assert_int_equal(tern_conn_conmon_enable(c), TERN_OK);
  assert_int_equal(tern_conn_conmon_enable(l), TERN_EINVAL); /* not a client */
  assert_null(tern_conn_conmon(l));
  for (int k = 0; k < 200 && r->bytes_in < 5; k++) run_for(m, 5);
  assert_int_equal(r->bytes_in, 5);
  tern_conmon *cm;
  tern_conmon_info i = take_info(c, &cm);
  assert_int_equal(i.result, TERN_OK);
  assert_string_equal(i.host, "");
  assert_int_equal(i.dns_us, 0);
  assert_int_equal(i.ndns, 0);
  assert_int_equal(i.nattempts, 1);
  assert_int_equal(i.attempts[0].result, TERN_OK);
  assert_true(i.first_byte_us > 0);
  tern_conmon_free(cm);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* The getaddrinfo thread hands every address over too: "localhost" with
 * a listener on 127.0.0.1 only connects whatever /etc/hosts lists. */
static void test_thread_resolver(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(0, 0);
  tern_mgr_set_conmon(m, true);
  uint16_t port = listen_port(m, true, false);
  char url[64];
  snprintf(url, sizeof(url), "tcp://localhost:%u", port);
  rec *r = rec_new(&pool);
  tern_conn *c;
  assert_int_equal(tern_connect(m, url, rec_fn, r, &c), TERN_OK);
  assert_true(run_until(m, connected, r, 3000));
  assert_int_equal(r->events[TERN_EV_CONNECT], 1);
  tern_conmon_info i;
  tern_conmon_get(tern_conn_conmon(c), &i);
  assert_true(i.ndns >= 1);
  assert_true(i.nattempts >= 1);
  assert_int_equal(i.attempts[i.nattempts - 1].result, TERN_OK);
  assert_string_equal(i.host, "localhost");
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* UDP to a name: no race; the first address of the order that connects
 * at once. An IPv6 link-local address without a zone cannot be connected
 * to (EINVAL, at once): the IPv4 one is taken. */
static void test_udp_first_usable(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(0, 0);
  tern_mgr_set_conmon(m, true);
  fake_res f = {0};
  tern_mgr_set_resolver(m, &fr_ops, &f);
  tern_addr ll;
  assert_int_equal(tern_addr_parse_ip("fe80::1", 7, &ll), TERN_OK);
  rec *r = rec_new(&pool);
  tern_conn *c;
  assert_int_equal(tern_connect(m, "udp://dual.test:9", rec_fn, r, &c), TERN_OK);
  tern_addr a[2] = {ll, v4lo};
  tern_conn_resolved_family(c, 0, TERN_OK, a, 2);
  assert_true(run_until(m, connected, r, 1000));
  assert_int_equal(r->events[TERN_EV_CONNECT], 1);
  assert_int_equal(r->events[TERN_EV_RESOLVE], 2);
  assert_int_equal(tern_conn_peer(c)->family, TERN_AF_INET);
  assert_int_equal(tern_conn_peer(c)->port, 9);
  tern_conmon *cm;
  tern_conmon_info i = take_info(c, &cm);
  assert_int_equal(i.result, TERN_OK);
  assert_int_equal(i.nattempts, 2);
  assert_int_not_equal(i.attempts[0].result, TERN_OK);
  assert_int_not_equal(i.attempts[0].result, TERN_EINPROGRESS);
  assert_int_equal(i.attempts[1].result, TERN_OK);
  tern_conmon_free(cm);
  /* both unusable: ERROR, one CLOSE */
  r = rec_new(&pool);
  assert_int_equal(tern_connect(m, "udp://dual.test:9", rec_fn, r, &c), TERN_OK);
  tern_conn_resolved_family(c, 0, TERN_OK, &ll, 1);
  assert_true(run_until(m, closed, r, 1000));
  assert_int_not_equal(r->error, TERN_OK);
  tern_mgr_free(m);
  assert_all_closed_once(&pool);
}

/* The delays are clamped to RFC 8305's bounds. */
static void test_limits_clamped(void **state) {
  (void)state;
  tern_mgr *m = mgr_new(5, 0);
  tern_limits l;
  tern_mgr_get_limits(m, &l);
  assert_int_equal(l.attempt_delay_ms, 100);
  assert_int_equal(l.resolution_delay_ms, 50);
  l.attempt_delay_ms = 60000;
  l.resolution_delay_ms = 60000;
  tern_mgr_set_limits(m, &l);
  tern_mgr_get_limits(m, &l);
  assert_int_equal(l.attempt_delay_ms, 2000);
  assert_int_equal(l.resolution_delay_ms, 1000);
  tern_mgr_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_refused_then_next_at_once, setup),
      cmocka_unit_test_setup(test_silent_then_delay, setup),
      cmocka_unit_test_setup(test_v6_first, setup),
      cmocka_unit_test_setup(test_resolution_delay, setup),
      cmocka_unit_test_setup(test_late_answer_joins, setup),
      cmocka_unit_test_setup(test_all_refuse, setup),
      cmocka_unit_test_setup(test_take_in_close, setup),
      cmocka_unit_test_setup(test_resolve_fails, setup),
      cmocka_unit_test_setup(test_end_during_race, setup),
      cmocka_unit_test_setup(test_numeric_record, setup),
      cmocka_unit_test_setup(test_thread_resolver, setup),
      cmocka_unit_test_setup(test_udp_first_usable, setup),
      cmocka_unit_test_setup(test_limits_clamped, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
