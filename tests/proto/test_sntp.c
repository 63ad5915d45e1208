/* test_sntp.c: SNTP packets (timestamps, checks, offset and delay; RFC
 * 4330, RFC 5905 8) and the client against fake servers in this process
 * whose clocks run a known offset ahead: the offset measured, the best of
 * two servers, kiss-o'-death, forged and unsynchronised replies ignored,
 * timeouts, set_clock only when asked. chrony as a real server:
 * tests/integ/sntp_chrony.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/sntp_msg.h"
#include "tern/tern.h"

/* ---- packets ------------------------------------------------------------- */

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static void test_timestamps(void **state) {
  (void)state;
  /* RFC 5905 6: 1970-01-01 is 2208988800 s after the NTP epoch */
  assert_int_equal(tern__ntp_from_unix_us(0) >> 32, 2208988800u);
  int64_t t = 1795000000LL * 1000000 + 123456; /* 2026 */
  int64_t back = tern__ntp_to_unix_us(tern__ntp_from_unix_us(t));
  assert_true(back >= t - 1 && back <= t + 1);
  /* RFC 4330 3: past 2036-02-07 the seconds wrap, the era follows */
  int64_t after = 2100000000LL * 1000000 + 500000;
  uint64_t ntp = tern__ntp_from_unix_us(after);
  assert_true((ntp >> 63) == 0); /* top bit clear: era 1 */
  back = tern__ntp_to_unix_us(ntp);
  assert_true(back >= after - 1 && back <= after + 1);
}

static void test_offset_math(void **state) {
  (void)state;
  int64_t off, delay;
  /* server 1 s ahead, 20 ms each way, 1 ms inside the server */
  tern__sntp_offset(1000000, 2020000, 2021000, 1041000, &off, &delay);
  assert_int_equal(off, 1000000);
  assert_int_equal(delay, 40000);
  /* the server's own time longer than the round trip: delay 0, not < 0 */
  tern__sntp_offset(0, 10, 500, 100, &off, &delay);
  assert_int_equal(delay, 0);
}

static void reply(uint8_t *p, uint8_t li_vn_mode, uint8_t stratum,
                  uint64_t origin, uint64_t t2, uint64_t t3) {
  memset(p, 0, TERN__SNTP_LEN);
  p[0] = li_vn_mode;
  p[1] = stratum;
  put64(p + 24, origin);
  put64(p + 32, t2);
  put64(p + 40, t3);
}

static void test_reply_checks(void **state) {
  (void)state;
  uint8_t p[TERN__SNTP_LEN], req[TERN__SNTP_LEN];
  tern__sntp_reply r;
  uint64_t x = 0x0123456789abcdefULL, t = tern__ntp_from_unix_us(1795000000LL * 1000000);
  tern__sntp_request(req, x);
  assert_int_equal(req[0], 0x23); /* LI 0, VN 4, mode 3 */
  reply(p, 0x24, 2, x, t, t);
  assert_int_equal(tern__sntp_parse(p, sizeof(p), x, &r), TERN_OK);
  assert_int_equal(r.stratum, 2);
  assert_int_equal(r.t3_us, 1795000000LL * 1000000);
  assert_int_equal(tern__sntp_parse(p, 47, x, &r), TERN_EPROTO);     /* short */
  assert_int_equal(tern__sntp_parse(p, sizeof(p), x + 1, &r), TERN_EPROTO); /* origin */
  reply(p, 0x23, 2, x, t, t); /* mode 3: a client, not a server */
  assert_int_equal(tern__sntp_parse(p, sizeof(p), x, &r), TERN_EPROTO);
  reply(p, 0xe4, 2, x, t, t); /* LI 3: unsynchronised */
  assert_int_equal(tern__sntp_parse(p, sizeof(p), x, &r), TERN_EPROTO);
  reply(p, 0x24, 16, x, t, t); /* stratum 16 */
  assert_int_equal(tern__sntp_parse(p, sizeof(p), x, &r), TERN_EPROTO);
  reply(p, 0x24, 2, x, t, 0); /* no transmit time */
  assert_int_equal(tern__sntp_parse(p, sizeof(p), x, &r), TERN_EPROTO);
  reply(p, 0x0c, 2, x, t, t); /* version 1 */
  assert_int_equal(tern__sntp_parse(p, sizeof(p), x, &r), TERN_EPROTO);
  reply(p, 0x1c, 2, x, t, t); /* version 3 is fine */
  assert_int_equal(tern__sntp_parse(p, sizeof(p), x, &r), TERN_OK);
  reply(p, 0x24, 0, x, 0, 0); /* kiss-o'-death */
  memcpy(p + 12, "RATE", 4);
  assert_int_equal(tern__sntp_parse(p, sizeof(p), x, &r), TERN_EAGAIN);
  assert_string_equal(r.kiss, "RATE");
}

/* ---- the client against fake servers -------------------------------------- */

typedef struct fake {
  tern_conn *c;
  int port;
  int requests;
  int64_t ahead_us;  /* this server's clock minus ours */
  int mode;          /* what it answers */
} fake;
enum { GOOD, SILENT, KISS_DENY, KISS_RATE, FORGE_FIRST, UNSYNC };

static tern_mgr *m;
static fake srv[2];

static void fake_fn(tern_conn *c, const tern_event *ev, void *ud) {
  fake *f = ud;
  if (ev->type != TERN_EV_READ || ev->read.len < TERN__SNTP_LEN) return;
  f->requests++;
  uint64_t origin = 0;
  for (int i = 0; i < 8; i++) origin = origin << 8 | ev->read.data[40 + i];
  tern_conn_consume(c, ev->read.len);
  uint64_t now = tern__ntp_from_unix_us(tern_clock_wall_us() + f->ahead_us);
  uint8_t p[TERN__SNTP_LEN];
  switch (f->mode) {
  case SILENT:
    return;
  case KISS_DENY:
  case KISS_RATE:
    reply(p, 0x24, 0, origin, 0, 0);
    memcpy(p + 12, f->mode == KISS_DENY ? "DENY" : "RATE", 4);
    break;
  case UNSYNC:
    reply(p, 0xe4, 3, origin, now, now);
    break;
  case FORGE_FIRST: /* a reply that does not echo our origin, then the real one */
    reply(p, 0x24, 3, origin ^ 1, now, now);
    tern_send(c, p, sizeof(p));
    /* fall through */
  default:
    reply(p, 0x24, 3, origin, now, now);
  }
  tern_send(c, p, sizeof(p));
}

typedef struct seen {
  int samples, sets;
  tern_sntp_sample last;
  int64_t set_offset;
} seen;
static seen sn;

static void on_sample(tern_sntp *s, const tern_sntp_sample *smp, void *ud) {
  (void)s, (void)ud;
  sn.samples++;
  sn.last = *smp;
}

static void set_clock(int64_t off, void *ud) {
  (void)ud;
  sn.sets++;
  sn.set_offset = off;
}

static int setup(void **state) {
  (void)state;
  memset(srv, 0, sizeof(srv));
  memset(&sn, 0, sizeof(sn));
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(tern_listen(m, "udp://127.0.0.1:0", fake_fn, &srv[i], &srv[i].c),
                     TERN_OK);
    srv[i].port = tern_conn_local(srv[i].c)->port;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tern_mgr_free(m);
  return 0;
}

static tern_sntp *start(const char *fmt, uint32_t timeout_ms, bool set) {
  char servers[128];
  snprintf(servers, sizeof(servers), fmt, srv[0].port, srv[1].port);
  tern_sntp_opts o = {.servers = servers, .timeout_ms = timeout_ms,
                      .on_sample = on_sample, .set_clock = set ? set_clock : NULL};
  tern_sntp *s;
  assert_int_equal(tern_sntp_new(m, &o, &s), TERN_OK);
  return s;
}

static void run_until_samples(int n, int ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  while (sn.samples < n && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(m), 5);
}

static void test_offset_measured(void **state) {
  (void)state;
  srv[0].ahead_us = 2500000; /* 2.5 s ahead of us */
  tern_sntp *s = start("127.0.0.1:%d", 1000, false);
  assert_false(tern_sntp_last(s, NULL));
  run_until_samples(1, 3000);
  assert_int_equal(sn.last.status, TERN_OK);
  assert_true(sn.last.offset_us > 2400000 && sn.last.offset_us < 2600000);
  assert_true(sn.last.delay_us >= 0 && sn.last.delay_us < 100000);
  assert_int_equal(sn.last.stratum, 3);
  assert_int_equal(sn.last.server.port, srv[0].port);
  assert_int_equal(sn.sets, 0); /* report only */
  tern_sntp_sample last;
  assert_true(tern_sntp_last(s, &last));
  assert_int_equal(last.offset_us, sn.last.offset_us);
  tern_sntp_free(s);
}

static void test_set_clock_and_forged(void **state) {
  (void)state;
  srv[0].ahead_us = -700000;
  srv[0].mode = FORGE_FIRST;
  tern_sntp *s = start("127.0.0.1:%d", 1000, true);
  run_until_samples(1, 3000);
  assert_int_equal(sn.last.status, TERN_OK);
  assert_true(sn.last.offset_us < -600000 && sn.last.offset_us > -800000);
  assert_int_equal(sn.sets, 1);
  assert_int_equal(sn.set_offset, sn.last.offset_us);
  tern_sntp_free(s);
}

/* One server denies (never asked again), the other answers. */
static void test_kiss_and_second_server(void **state) {
  (void)state;
  srv[0].mode = KISS_DENY;
  srv[1].ahead_us = 1000000;
  tern_sntp *s = start("127.0.0.1:%d 127.0.0.1:%d", 1000, false);
  run_until_samples(1, 3000);
  assert_int_equal(sn.last.status, TERN_OK);
  assert_int_equal(sn.last.server.port, srv[1].port);
  tern_sntp_sync(s);
  run_until_samples(2, 3000);
  assert_int_equal(sn.samples, 2);
  assert_int_equal(srv[0].requests, 1); /* RFC 4330 8: not asked again */
  assert_int_equal(srv[1].requests, 2);
  tern_sntp_free(s);
}

static void test_all_kissed(void **state) {
  (void)state;
  srv[0].mode = KISS_RATE;
  tern_sntp *s = start("127.0.0.1:%d", 1000, true);
  run_until_samples(1, 3000);
  assert_int_equal(sn.last.status, TERN_EAGAIN);
  tern_sntp_sync(s); /* RATE: left alone now */
  run_until_samples(2, 3000);
  assert_int_equal(sn.last.status, TERN_EAGAIN);
  assert_int_equal(srv[0].requests, 1);
  assert_int_equal(sn.sets, 0);
  tern_sntp_free(s);
}

/* Silent or unsynchronised: three tries (50, 100, 200 ms), then a
 * failure report, no clock set. */
static void test_timeouts(void **state) {
  (void)state;
  srv[0].mode = SILENT;
  srv[1].mode = UNSYNC;
  uint64_t t0 = tern_clock_ms();
  tern_sntp *s = start("127.0.0.1:%d,127.0.0.1:%d", 50, true);
  /* the client's sockets are system connections: a walk over the user's
   * (the two fake servers) does not meet them */
  tern_loop_poll(tern_mgr_loop(m), 5);
  assert_int_equal(tern_mgr_count_system(m), 2);
  assert_int_equal(tern_mgr_count(m), 4);
  run_until_samples(1, 5000);
  uint64_t took = tern_clock_ms() - t0;
  assert_int_equal(sn.last.status, TERN_ETIMEDOUT);
  assert_true(took >= 340 && took < 3000);
  assert_int_equal(srv[0].requests, 3);
  assert_int_equal(srv[1].requests, 3);
  assert_int_equal(sn.sets, 0);
  assert_false(tern_sntp_last(s, NULL));
  tern_sntp_free(s);
}

/* A retry policy spaces the failed syncs: 30 ms, then 60 ms, ... */
static void test_retry_policy(void **state) {
  (void)state;
  static const uint32_t delays[] = {30, 60, 120};
  static const tern_retry_policy p = {delays, 3, 0, 0};
  srv[0].mode = SILENT;
  char servers[64];
  snprintf(servers, sizeof(servers), "127.0.0.1:%d", srv[0].port);
  tern_sntp_opts o = {.servers = servers, .timeout_ms = 10, .attempts = 1,
                      .retry = &p, .on_sample = on_sample};
  tern_sntp *s;
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_sntp_new(m, &o, &s), TERN_OK);
  run_until_samples(3, 3000);
  uint64_t took = tern_clock_ms() - t0;
  /* three failed syncs: 10 ms each, with 30 and 60 ms between them */
  assert_int_equal(sn.samples, 3);
  assert_true(took >= 120 && took < 1500);
  assert_int_equal(srv[0].requests, 3);
  srv[0].mode = GOOD; /* then a good one */
  run_until_samples(4, 3000);
  assert_int_equal(sn.last.status, TERN_OK);
  tern_sntp_free(s);
}

/* Fault injection (tern/fi.h) on the error paths: a lost datagram is
 * retried; a request that cannot be sent is a failed try, the next try
 * uses a new connection; every try lost is a timeout report.
 * The manager's connection count proves nothing is left behind. */
static void test_faults(void **state) {
  (void)state;
  tern_fi *fi;
  size_t base = tern_mgr_count(m); /* the two fake servers */
  /* the first datagram anyone receives is lost: the request */
  assert_int_equal(tern_fi_new("udp/rxdrop(1..1)", &fi), TERN_OK);
  tern_mgr_set_fi(m, fi);
  srv[0].ahead_us = 1000000;
  tern_sntp *s = start("127.0.0.1:%d", 100, false);
  run_until_samples(1, 3000);
  assert_int_equal(sn.last.status, TERN_OK);
  assert_int_equal(tern_fi_fired(fi, "udp/rxdrop"), 1);
  assert_int_equal(srv[0].requests, 1); /* the retry's */
  tern_sntp_free(s);
  tern_mgr_set_fi(m, NULL);
  tern_fi_free(fi);
  /* the first request cannot be sent: the try times out, the next goes */
  assert_int_equal(tern_fi_new("udp/send(1..1)", &fi), TERN_OK);
  tern_mgr_set_fi(m, fi);
  s = start("127.0.0.1:%d", 100, false);
  run_until_samples(2, 3000);
  assert_int_equal(sn.last.status, TERN_OK);
  assert_int_equal(tern_fi_fired(fi, "udp/send"), 1);
  assert_int_equal(srv[0].requests, 2);
  tern_sntp_free(s);
  tern_mgr_set_fi(m, NULL);
  tern_fi_free(fi);
  /* every datagram lost: three tries, a timeout report */
  assert_int_equal(tern_fi_new("udp/rxdrop", &fi), TERN_OK);
  tern_mgr_set_fi(m, fi);
  s = start("127.0.0.1:%d", 30, true);
  run_until_samples(3, 3000);
  assert_int_equal(sn.last.status, TERN_ETIMEDOUT);
  assert_int_equal(tern_fi_fired(fi, "udp/rxdrop"), 3);
  assert_int_equal(sn.sets, 0);
  tern_sntp_free(s);
  tern_mgr_set_fi(m, NULL);
  tern_fi_free(fi);
  for (int i = 0; i < 20 && tern_mgr_count(m) > base; i++)
    tern_loop_poll(tern_mgr_loop(m), 5);
  assert_int_equal(tern_mgr_count(m), base);
}

static void test_bad_options(void **state) {
  (void)state;
  tern_sntp *s;
  tern_sntp_opts o = {0};
  assert_int_equal(tern_sntp_new(m, &o, &s), TERN_EINVAL);
  o.servers = "";
  assert_int_equal(tern_sntp_new(m, &o, &s), TERN_EINVAL);
  o.servers = "::1"; /* IPv6 must be bracketed */
  assert_int_equal(tern_sntp_new(m, &o, &s), TERN_EINVAL);
  o.servers = "[::1]";
  assert_int_equal(tern_sntp_new(m, &o, &s), TERN_OK);
  tern_sntp_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timestamps),
      cmocka_unit_test(test_offset_math),
      cmocka_unit_test(test_reply_checks),
      cmocka_unit_test_setup_teardown(test_offset_measured, setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_clock_and_forged, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kiss_and_second_server, setup, teardown),
      cmocka_unit_test_setup_teardown(test_all_kissed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retry_policy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
