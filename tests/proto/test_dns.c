/* test_dns.c: the DNS client (tern/dns.h) against fake servers in the same
 * process (UDP listeners on 127.0.0.1 whose answers depend on the name
 * asked): answers, the cache (positive and negative), failover after
 * SERVFAIL, timeouts with backoff, forged answers ignored, lookups in
 * flight shared, cancel, free with lookups pending, literals and
 * localhost, and that no callback runs inside tern_dns_lookup. dnsmasq as
 * a real server: tests/integ/dns_dnsmasq.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "base/dns_msg.h"
#include "tern/tern.h"

/* ---- fake servers ------------------------------------------------------- */

typedef struct fake {
  tern_conn *c;
  int port;
  int queries;
  bool servfail_all; /* this server answers SERVFAIL to everything */
  bool lower_reply;  /* repeats the question in lower case (no 0x20) */
  char asked[TERN__DNS_MAX_NAME + 1]; /* the last name, as spelled */
} fake;

static tern_mgr *m;
static tern_dns *dns;
static fake srv[2];

static void u16(uint8_t *b, size_t *n, unsigned v) {
  b[(*n)++] = (uint8_t)(v >> 8);
  b[(*n)++] = (uint8_t)v;
}
static void u32(uint8_t *b, size_t *n, uint32_t v) {
  u16(b, n, v >> 16);
  u16(b, n, v & 0xffff);
}

/* Answer the query q (qlen bytes) the way its name asks. */
static void fake_answer(fake *f, const uint8_t *q, size_t qlen) {
  char name[TERN__DNS_MAX_NAME + 1];
  size_t off = 12;
  if (qlen < 12 || tern__dns_name_read(q, qlen, &off, name) != TERN_OK ||
      qlen < off + 4)
    return;
  /* decide on the lower-case name; the reply repeats the question as
   * it came (DNS 0x20), unless lower_reply */
  memcpy(f->asked, name, sizeof(name));
  for (char *p = name; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
  unsigned id = (unsigned)(q[0] << 8 | q[1]);
  unsigned qtype = (unsigned)(q[off] << 8 | q[off + 1]);
  size_t qend = off + 4;
  uint8_t b[512];
  size_t n = 0;
  unsigned rcode = 0, an = 0, ns = 0;
  bool addr = false, soa = false;
  if (f->servfail_all || strncmp(name, "servfail.", 9) == 0) rcode = 2;
  else if (strncmp(name, "silent.", 7) == 0) return;
  else if (strncmp(name, "nx.", 3) == 0) rcode = 3, soa = true;
  else if (qtype == TERN__DNS_A) addr = true;
  else if (strncmp(name, "lo.", 3) == 0) addr = true; /* ::1 */
  else soa = true; /* NODATA for AAAA */
  if (strncmp(name, "spoof.", 6) == 0) { /* a forged answer first */
    uint8_t bad[512];
    memcpy(bad, q, qend);
    bad[0] ^= 0x55;
    bad[2] = 0x81;
    bad[3] = 0x80;
    tern_send(f->c, bad, qend);
  }
  an = addr ? 1 : 0;
  ns = soa ? 1 : 0;
  u16(b, &n, id);
  u16(b, &n, 0x8180 | rcode);
  u16(b, &n, 1);
  u16(b, &n, an);
  u16(b, &n, ns);
  u16(b, &n, 0);
  memcpy(b + n, q + 12, qend - 12);
  if (f->lower_reply)
    for (size_t i = n; i < n + qend - 12 - 4; i++)
      if (b[i] >= 'A' && b[i] <= 'Z') b[i] = (uint8_t)(b[i] + 32);
  n += qend - 12;
  if (addr && qtype == TERN__DNS_AAAA) { /* lo.*: ::1 */
    u16(b, &n, 0xC00C);
    u16(b, &n, TERN__DNS_AAAA);
    u16(b, &n, 1);
    u32(b, &n, 60);
    u16(b, &n, 16);
    memset(b + n, 0, 15);
    b[n + 15] = 1;
    n += 16;
  } else if (addr) {
    u16(b, &n, 0xC00C);
    u16(b, &n, TERN__DNS_A);
    u16(b, &n, 1);
    u32(b, &n, 60);
    u16(b, &n, 4);
    if (strncmp(name, "lo.", 3) == 0) { /* 127.0.0.1: a real listener */
      memcpy(b + n, "\x7f\x00\x00\x01", 4);
      n += 4;
    } else {
      b[n++] = 10;
      b[n++] = 0;
      b[n++] = 0;
      b[n++] = (uint8_t)(f == &srv[0] ? 1 : 2); /* which server answered */
    }
  }
  if (soa) {
    u16(b, &n, 0xC00C);
    u16(b, &n, TERN__DNS_SOA);
    u16(b, &n, 1);
    u32(b, &n, 30);
    u16(b, &n, 2 + 2 + 20);
    u16(b, &n, 0xC00C);
    u16(b, &n, 0xC00C);
    for (int i = 0; i < 4; i++) u32(b, &n, 1);
    u32(b, &n, 300); /* MINIMUM: the SOA TTL (30) is smaller */
  }
  tern_send(f->c, b, n);
}

static void fake_fn(tern_conn *c, const tern_event *ev, void *ud) {
  fake *f = ud;
  if (ev->type != TERN_EV_READ) return;
  f->queries++;
  fake_answer(f, ev->read.data, ev->read.len);
  tern_conn_consume(c, ev->read.len);
}

/* ---- fixture ------------------------------------------------------------ */

typedef struct got {
  int calls;
  int status;
  size_t n;
  tern_addr a[16];
} got;

static bool in_lookup;

static void on_addrs(tern_dns_query *q, int status, const tern_addr *a,
                     size_t n, void *ud) {
  got *g = ud;
  (void)q;
  assert_false(in_lookup); /* never from inside tern_dns_lookup */
  g->calls++;
  g->status = status;
  g->n = n;
  if (n) memcpy(g->a, a, n * sizeof(*a));
}

static int lookup(const char *name, int family, got *g, tern_dns_query **q) {
  in_lookup = true;
  int rc = tern_dns_lookup(dns, name, family, on_addrs, g, q);
  in_lookup = false;
  return rc;
}

static void run_until(int *calls, int want, int ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  while (*calls < want && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(m), 5);
}

static int open_dns(const char *servers_fmt, uint32_t timeout_ms) {
  char servers[128];
  snprintf(servers, sizeof(servers), servers_fmt, srv[0].port, srv[1].port);
  tern_dns_opts o = {.servers = servers, .timeout_ms = timeout_ms};
  return tern_dns_new(m, &o, &dns);
}

static int setup(void **state) {
  (void)state;
  memset(srv, 0, sizeof(srv));
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(tern_listen(m, "udp://127.0.0.1:0", fake_fn, &srv[i], &srv[i].c),
                     TERN_OK);
    srv[i].port = tern_conn_local(srv[i].c)->port;
  }
  return open_dns("127.0.0.1:%d", 1000);
}

static int teardown(void **state) {
  (void)state;
  tern_dns_free(dns);
  tern_mgr_free(m);
  return 0;
}

static tern_dns_stats stats(void) {
  tern_dns_stats st;
  tern_dns_get_stats(dns, &st);
  return st;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_answer_then_cache(void **state) {
  (void)state;
  got g = {0};
  assert_int_equal(lookup("ok.test", TERN_AF_INET, &g, NULL), TERN_OK);
  run_until(&g.calls, 1, 3000);
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.status, TERN_OK);
  assert_int_equal(g.n, 1);
  assert_memory_equal(g.a[0].ip, "\x0a\x00\x00\x01", 4);
  assert_int_equal(srv[0].queries, 1);
  /* again, in another case and with a final dot: from the cache */
  got g2 = {0};
  assert_int_equal(lookup("OK.test.", TERN_AF_INET, &g2, NULL), TERN_OK);
  assert_int_equal(g2.calls, 0);
  run_until(&g2.calls, 1, 3000);
  assert_int_equal(g2.status, TERN_OK);
  assert_int_equal(srv[0].queries, 1);
  assert_int_equal(stats().cache_hits, 1);
  tern_dns_flush(dns);
  got g3 = {0};
  assert_int_equal(lookup("ok.test", TERN_AF_INET, &g3, NULL), TERN_OK);
  run_until(&g3.calls, 1, 3000);
  assert_int_equal(srv[0].queries, 2);
}

/* Both families: AAAA has no data (an SOA), A has one address. */
static void test_both_families(void **state) {
  (void)state;
  got g = {0};
  assert_int_equal(lookup("ok.test", 0, &g, NULL), TERN_OK);
  run_until(&g.calls, 1, 3000);
  assert_int_equal(g.status, TERN_OK);
  assert_int_equal(g.n, 1);
  assert_int_equal(g.a[0].family, TERN_AF_INET);
  assert_int_equal(srv[0].queries, 2);
  /* only AAAA: no such address, cached as negative (SOA TTL 30) */
  got g6 = {0};
  assert_int_equal(lookup("ok.test", TERN_AF_INET6, &g6, NULL), TERN_OK);
  run_until(&g6.calls, 1, 3000);
  assert_int_equal(g6.status, TERN_ERESOLVE);
  assert_int_equal(srv[0].queries, 2); /* both halves were cached */
}

static void test_nxdomain_cached(void **state) {
  (void)state;
  got g = {0}, g2 = {0};
  assert_int_equal(lookup("nx.test", TERN_AF_INET, &g, NULL), TERN_OK);
  run_until(&g.calls, 1, 3000);
  assert_int_equal(g.status, TERN_ERESOLVE);
  assert_int_equal(lookup("nx.test", TERN_AF_INET, &g2, NULL), TERN_OK);
  run_until(&g2.calls, 1, 3000);
  assert_int_equal(g2.status, TERN_ERESOLVE);
  assert_int_equal(srv[0].queries, 1);
}

/* SERVFAIL from the first server: the second is asked at once. */
static void test_failover(void **state) {
  (void)state;
  tern_dns_free(dns);
  assert_int_equal(open_dns("127.0.0.1:%d, 127.0.0.1:%d", 5000), TERN_OK);
  srv[0].servfail_all = true;
  got g = {0};
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(lookup("ok.test", TERN_AF_INET, &g, NULL), TERN_OK);
  run_until(&g.calls, 1, 3000);
  assert_int_equal(g.status, TERN_OK);
  assert_int_equal(g.a[0].ip[3], 2); /* the second server's answer */
  assert_true(tern_clock_ms() - t0 < 2000); /* not after a timeout */
  assert_int_equal(stats().server_errors, 1);
  /* both refuse: TERN_EAGAIN after every try, no timeout wait */
  srv[1].servfail_all = true;
  got g2 = {0};
  assert_int_equal(lookup("other.test", TERN_AF_INET, &g2, NULL), TERN_OK);
  run_until(&g2.calls, 1, 3000);
  assert_int_equal(g2.status, TERN_EAGAIN);
}

/* Nobody answers: two rounds, the second waiting twice as long. */
static void test_timeout_backoff(void **state) {
  (void)state;
  tern_dns_free(dns);
  assert_int_equal(open_dns("127.0.0.1:%d", 60), TERN_OK);
  got g = {0};
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(lookup("silent.test", TERN_AF_INET, &g, NULL), TERN_OK);
  run_until(&g.calls, 1, 5000);
  uint64_t took = tern_clock_ms() - t0;
  assert_int_equal(g.status, TERN_ETIMEDOUT);
  assert_int_equal(srv[0].queries, 2);
  assert_true(took >= 170 && took < 2000); /* 60 + 120 */
  assert_int_equal(stats().timeouts, 2);
}

/* RFC 5452: an answer with the wrong id is ignored, the right one taken. */
static void test_forged_ignored(void **state) {
  (void)state;
  got g = {0};
  assert_int_equal(lookup("spoof.test", TERN_AF_INET, &g, NULL), TERN_OK);
  run_until(&g.calls, 1, 3000);
  assert_int_equal(g.status, TERN_OK);
  assert_int_equal(stats().ignored, 1);
}

static void test_shared_in_flight(void **state) {
  (void)state;
  got g[3] = {{0}};
  for (int i = 0; i < 3; i++)
    assert_int_equal(lookup("ok.test", TERN_AF_INET, &g[i], NULL), TERN_OK);
  run_until(&g[2].calls, 1, 3000);
  run_until(&g[0].calls, 1, 3000);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(g[i].calls, 1);
    assert_int_equal(g[i].status, TERN_OK);
  }
  assert_int_equal(srv[0].queries, 1);
  assert_int_equal(stats().shared, 2);
}

static void test_cancel_and_free(void **state) {
  (void)state;
  got g = {0}, g2 = {0}, g3 = {0};
  tern_dns_query *q, *q2;
  /* one of two waiters cancels: the other still gets the answer */
  assert_int_equal(lookup("ok.test", TERN_AF_INET, &g, &q), TERN_OK);
  assert_int_equal(lookup("ok.test", TERN_AF_INET, &g2, NULL), TERN_OK);
  tern_dns_cancel(q);
  run_until(&g2.calls, 1, 3000);
  assert_int_equal(g.calls, 0);
  assert_int_equal(g2.calls, 1);
  /* a cached answer waiting to be delivered can be cancelled too */
  assert_int_equal(lookup("ok.test", TERN_AF_INET, &g3, &q2), TERN_OK);
  tern_dns_cancel(q2);
  tern_loop_poll(tern_mgr_loop(m), 20);
  assert_int_equal(g3.calls, 0);
  /* the only waiter cancels: the lookup stops */
  assert_int_equal(lookup("silent.test", TERN_AF_INET, &g, &q), TERN_OK);
  tern_dns_cancel(q);
  tern_loop_poll(tern_mgr_loop(m), 20);
  assert_int_equal(g.calls, 0);
  /* freed with lookups pending: each gets TERN_ECANCELED, once */
  got p1 = {0}, p2 = {0};
  assert_int_equal(lookup("silent.test", TERN_AF_INET, &p1, NULL), TERN_OK);
  assert_int_equal(lookup("127.0.0.1", 0, &p2, NULL), TERN_OK);
  tern_dns_free(dns);
  dns = NULL;
  assert_int_equal(p1.calls, 1);
  assert_int_equal(p1.status, TERN_ECANCELED);
  assert_int_equal(p2.calls, 1);
  assert_int_equal(p2.status, TERN_ECANCELED);
  assert_int_equal(open_dns("127.0.0.1:%d", 1000), TERN_OK); /* for teardown */
}

static void test_no_network_names(void **state) {
  (void)state;
  got g = {0}, g2 = {0}, g3 = {0}, g4 = {0};
  assert_int_equal(lookup("192.0.2.7", 0, &g, NULL), TERN_OK);
  assert_int_equal(lookup("localhost", TERN_AF_INET, &g2, NULL), TERN_OK);
  assert_int_equal(lookup("db.localhost", 0, &g3, NULL), TERN_OK);
  assert_int_equal(lookup("::1", TERN_AF_INET, &g4, NULL), TERN_OK);
  run_until(&g4.calls, 1, 1000);
  assert_int_equal(g.status, TERN_OK);
  assert_memory_equal(g.a[0].ip, "\xc0\x00\x02\x07", 4);
  assert_int_equal(g2.n, 1);
  assert_memory_equal(g2.a[0].ip, "\x7f\x00\x00\x01", 4);
  assert_int_equal(g3.n, 2);
  assert_int_equal(g3.a[0].family, TERN_AF_INET6);
  assert_int_equal(g4.status, TERN_ERESOLVE); /* a v6 literal, v4 asked */
  assert_int_equal(srv[0].queries, 0);
  /* refused synchronously, and then never called */
  got bad = {0};
  assert_int_equal(lookup("a..b", 0, &bad, NULL), TERN_EINVAL);
  assert_int_equal(lookup("x.test", 5, &bad, NULL), TERN_EINVAL);
  tern_loop_poll(tern_mgr_loop(m), 20);
  assert_int_equal(bad.calls, 0);
  tern_dns *d2;
  tern_dns_opts o = {.servers = "not-an-ip"};
  assert_int_equal(tern_dns_new(m, &o, &d2), TERN_EINVAL);
}

/* Bounded: more different names at once than max_inflight are refused
 * (TERN_EBUSY, no callback); the same name joins its lookup. */
static void test_inflight_bounded(void **state) {
  (void)state;
  tern_dns_free(dns);
  char servers[64];
  snprintf(servers, sizeof(servers), "127.0.0.1:%d", srv[0].port);
  tern_dns_opts o = {.servers = servers, .timeout_ms = 50, .attempts = 1,
                     .max_inflight = 2};
  assert_int_equal(tern_dns_new(m, &o, &dns), TERN_OK);
  got g[4] = {{0}};
  assert_int_equal(lookup("silent.a.test", TERN_AF_INET, &g[0], NULL), TERN_OK);
  assert_int_equal(lookup("silent.b.test", TERN_AF_INET, &g[1], NULL), TERN_OK);
  assert_int_equal(lookup("silent.c.test", TERN_AF_INET, &g[2], NULL), TERN_EBUSY);
  assert_int_equal(lookup("silent.a.test", TERN_AF_INET, &g[3], NULL), TERN_OK);
  run_until(&g[1].calls, 1, 3000);
  run_until(&g[3].calls, 1, 3000);
  assert_int_equal(g[2].calls, 0);
  assert_int_equal(g[0].status, TERN_ETIMEDOUT);
  assert_int_equal(g[3].status, TERN_ETIMEDOUT);
  got again = {0}; /* the room came back */
  assert_int_equal(lookup("ok.test", TERN_AF_INET, &again, NULL), TERN_OK);
  run_until(&again.calls, 1, 3000);
  assert_int_equal(again.status, TERN_OK);
}

/* Fault injection: a lost answer is retried; an injected failure fails
 * the lookup at once, once. */
static void test_faults(void **state) {
  (void)state;
  tern_fi *fi;
  assert_int_equal(tern_fi_new("dns/drop(1..1),dns/fail(2..2)", &fi), TERN_OK);
  tern_mgr_set_fi(m, fi);
  tern_dns_free(dns);
  assert_int_equal(open_dns("127.0.0.1:%d", 50), TERN_OK);
  got g = {0}, g2 = {0}, g3 = {0};
  assert_int_equal(lookup("ok.test", TERN_AF_INET, &g, NULL), TERN_OK); /* fail pass 1 */
  run_until(&g.calls, 1, 3000);
  assert_int_equal(g.status, TERN_OK);
  assert_int_equal(srv[0].queries, 2); /* the first answer was "lost" */
  assert_int_equal(stats().timeouts, 1);
  assert_int_equal(lookup("other.test", TERN_AF_INET, &g2, NULL), TERN_OK); /* fail pass 2 */
  run_until(&g2.calls, 1, 3000);
  assert_int_equal(g2.status, TERN_ERESOLVE);
  assert_int_equal(srv[0].queries, 2); /* never asked */
  assert_int_equal(lookup("other.test", TERN_AF_INET, &g3, NULL), TERN_OK);
  run_until(&g3.calls, 1, 3000);
  assert_int_equal(g3.status, TERN_OK);
  tern_dns_free(dns);
  dns = NULL;
  tern_mgr_set_fi(m, NULL);
  tern_fi_free(fi);
  assert_int_equal(open_dns("127.0.0.1:%d", 1000), TERN_OK);
}

/* DNS 0x20: the name goes out in random case, and the answer, repeating
 * it exactly, is taken. */
static bool is_lower(const char *p) {
  for (; *p; p++)
    if (*p >= 'A' && *p <= 'Z') return false;
  return true;
}

#define LONG_NAME "abcdefghijklmnopqrstuvwxyz.test"

static void test_case_random(void **state) {
  (void)state;
  got g = {0}, g2 = {0};
  char first[TERN__DNS_MAX_NAME + 1];
  assert_int_equal(lookup(LONG_NAME, TERN_AF_INET, &g, NULL), TERN_OK);
  run_until(&g.calls, 1, 3000);
  assert_int_equal(g.status, TERN_OK);
  assert_true(strcasecmp(srv[0].asked, LONG_NAME) == 0);
  assert_false(is_lower(srv[0].asked)); /* all 26 lower: 2^-26 */
  strcpy(first, srv[0].asked);
  tern_dns_flush(dns);
  assert_int_equal(lookup(LONG_NAME, TERN_AF_INET, &g2, NULL), TERN_OK);
  run_until(&g2.calls, 1, 3000);
  assert_int_equal(g2.status, TERN_OK);
  assert_string_not_equal(first, srv[0].asked); /* a new spelling */
  assert_int_equal(stats().case_mismatch, 0);
}

/* A server that lowercases the question: that answer is not used, the
 * server is asked again at once without 0x20, and stays so. */
static void test_case_fallback(void **state) {
  (void)state;
  srv[0].lower_reply = true;
  got g = {0}, g2 = {0};
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(lookup(LONG_NAME, TERN_AF_INET, &g, NULL), TERN_OK);
  run_until(&g.calls, 1, 3000);
  assert_int_equal(g.status, TERN_OK);
  assert_true(tern_clock_ms() - t0 < 900); /* not after the 1 s timeout */
  assert_int_equal(srv[0].queries, 2);
  assert_true(is_lower(srv[0].asked));
  assert_int_equal(stats().case_mismatch, 1);
  assert_int_equal(lookup("zyxwvutsrqponmlkjihgfedcba.test", TERN_AF_INET, &g2, NULL),
                   TERN_OK);
  run_until(&g2.calls, 1, 3000);
  assert_int_equal(g2.status, TERN_OK);
  assert_int_equal(srv[0].queries, 3);
  assert_true(is_lower(srv[0].asked));
  assert_int_equal(stats().case_mismatch, 1);
}

static void test_case_off(void **state) {
  (void)state;
  tern_dns_free(dns);
  char servers[64];
  snprintf(servers, sizeof(servers), "127.0.0.1:%d", srv[0].port);
  tern_dns_opts o = {.servers = servers, .no_case_random = true};
  assert_int_equal(tern_dns_new(m, &o, &dns), TERN_OK);
  got g = {0};
  assert_int_equal(lookup(LONG_NAME, TERN_AF_INET, &g, NULL), TERN_OK);
  run_until(&g.calls, 1, 3000);
  assert_int_equal(g.status, TERN_OK);
  assert_string_equal(srv[0].asked, LONG_NAME);
}

/* A retry policy (tern/retry.h): its table gives each try's wait, conceal
 * the number of retries; tries alternate over the servers. */
static void test_retry_policy(void **state) {
  (void)state;
  tern_dns_free(dns);
  static const uint32_t table[] = {30, 60, 90};
  tern_retry_policy p = {table, 3, 2, 0};
  char servers[64];
  snprintf(servers, sizeof(servers), "127.0.0.1:%d,127.0.0.1:%d", srv[0].port,
           srv[1].port);
  tern_dns_opts o = {.servers = servers, .retry = &p};
  assert_int_equal(tern_dns_new(m, &o, &dns), TERN_OK);
  got g = {0};
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(lookup("silent.test", TERN_AF_INET, &g, NULL), TERN_OK);
  run_until(&g.calls, 1, 5000);
  uint64_t took = tern_clock_ms() - t0;
  assert_int_equal(g.status, TERN_ETIMEDOUT);
  assert_int_equal(srv[0].queries, 2); /* tries 0 and 2 */
  assert_int_equal(srv[1].queries, 1); /* try 1 */
  assert_int_equal(stats().timeouts, 3);
  assert_true(took >= 170 && took < 2000); /* 30 + 60 + 90 */
  /* conceal 0: as many tries as the table has entries (one here) */
  tern_dns_free(dns);
  static const uint32_t one[] = {20};
  tern_retry_policy p2 = {one, 1, 0, 0};
  o.retry = &p2;
  assert_int_equal(tern_dns_new(m, &o, &dns), TERN_OK);
  got g2 = {0};
  assert_int_equal(lookup("silent.other.test", TERN_AF_INET, &g2, NULL), TERN_OK);
  run_until(&g2.calls, 1, 3000);
  assert_int_equal(g2.status, TERN_ETIMEDOUT);
  assert_int_equal(srv[0].queries + srv[1].queries, 4);
  tern_dns_free(dns);
  tern_retry_policy bad = {NULL, 0, 0, 0};
  o.retry = &bad;
  assert_int_equal(tern_dns_new(m, &o, &dns), TERN_EINVAL);
  assert_int_equal(open_dns("127.0.0.1:%d", 1000), TERN_OK); /* for teardown */
}

/* The client's own connections are system ones: a walk over the user's
 * connections (here the two fake servers) does not see them. */
static void count_one(tern_conn *c, void *arg) {
  (void)c;
  (*(int *)arg)++;
}

static void test_system_conns(void **state) {
  (void)state;
  got g = {0};
  assert_int_equal(lookup("silent.test", 0, &g, NULL), TERN_OK);
  int user = 0, sys = 0;
  tern_mgr_foreach(m, count_one, &user);
  tern_mgr_foreach_system(m, count_one, &sys);
  assert_int_equal(user, 2);
  assert_int_equal(sys, 2); /* AAAA and A, one try each */
  assert_int_equal(tern_mgr_count_system(m), 2);
  assert_int_equal(tern_mgr_count(m), 4);
}

/* tern_connect to a name, resolved by this client. */
typedef struct cstate {
  int connects, errors, closes, err;
} cstate;

static void conn_fn(tern_conn *c, const tern_event *ev, void *ud) {
  cstate *st = ud;
  (void)c;
  if (ev->type == TERN_EV_CONNECT) st->connects++;
  if (ev->type == TERN_EV_ERROR) {
    st->errors++;
    st->err = ev->error.err;
  }
  if (ev->type == TERN_EV_CLOSE) st->closes++;
}

static void listener_fn(tern_conn *c, const tern_event *ev, void *ud) {
  (void)c, (void)ev, (void)ud;
}

/* static: connections still open at the end get their CLOSE in teardown */
static cstate ok, nx, gone, wait, lo;

static void test_connects(void **state) {
  (void)state;
  tern_conn *l;
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", listener_fn, NULL, &l), TERN_OK);
  char url[64];
  tern_dns_use_for_connects(dns);
  /* a name the fake server maps to ::1 and 127.0.0.1, with a listener
   * on 127.0.0.1 only: happy eyeballs tries ::1 first (refused), then
   * 127.0.0.1 at once; conmon records both and the DNS answers */
  snprintf(url, sizeof(url), "tcp://lo.test:%d", tern_conn_local(l)->port);
  tern_conn *oc;
  assert_int_equal(tern_connect(m, url, conn_fn, &ok, &oc), TERN_OK);
  assert_int_equal(tern_conn_conmon_enable(oc), TERN_OK);
  run_until(&ok.connects, 1, 3000);
  assert_int_equal(ok.connects, 1);
  assert_int_equal(srv[0].queries, 2); /* A and AAAA */
  assert_int_equal(tern_conn_peer(oc)->family, TERN_AF_INET);
  tern_conmon *cm = tern_conn_conmon_take(oc);
  tern_conmon_info ci;
  tern_conmon_get(cm, &ci);
  assert_int_equal(ci.result, TERN_OK);
  assert_string_equal(ci.host, "lo.test");
  assert_int_equal(ci.ndns, 2);
  assert_true(ci.dns6_us > 0 && ci.dns4_us > 0);
  assert_int_equal(ci.nattempts, 2);
  assert_int_equal(ci.attempts[0].addr.family, TERN_AF_INET6);
  assert_int_equal(ci.attempts[0].result, TERN_ECONNREFUSED);
  assert_int_equal(ci.attempts[1].result, TERN_OK);
  tern_conmon_free(cm);
  /* no such name: ERROR with TERN_ERESOLVE, then one CLOSE */
  assert_int_equal(tern_connect(m, "tcp://nx.test:80", conn_fn, &nx, NULL), TERN_OK);
  run_until(&nx.closes, 1, 3000);
  assert_int_equal(nx.errors, 1);
  assert_int_equal(nx.err, TERN_ERESOLVE);
  assert_int_equal(nx.closes, 1);
  /* closed while its name is being resolved: just one CLOSE */
  tern_conn *gc;
  assert_int_equal(tern_connect(m, "tcp://silent.test:80", conn_fn, &gone, &gc), TERN_OK);
  tern_close(gc);
  run_until(&gone.closes, 1, 3000);
  assert_int_equal(gone.closes, 1);
  assert_int_equal(gone.connects, 0);
  /* the client freed while a connect waits for it: ECANCELED, one CLOSE */
  assert_int_equal(tern_connect(m, "tcp://silent.test:81", conn_fn, &wait, NULL), TERN_OK);
  tern_dns_free(dns);
  dns = NULL;
  run_until(&wait.closes, 1, 3000);
  assert_int_equal(wait.err, TERN_ECANCELED);
  assert_int_equal(wait.closes, 1);
  /* then back to the default resolver: numeric and localhost still work */
  snprintf(url, sizeof(url), "tcp://localhost:%d", tern_conn_local(l)->port);
  assert_int_equal(tern_connect(m, url, conn_fn, &lo, NULL), TERN_OK);
  run_until(&lo.connects, 1, 5000);
  assert_int_equal(lo.connects, 1);
  assert_int_equal(open_dns("127.0.0.1:%d", 1000), TERN_OK); /* for teardown */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_answer_then_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_both_families, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nxdomain_cached, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timeout_backoff, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forged_ignored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shared_in_flight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_and_free, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_network_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connects, setup, teardown),
      cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_inflight_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_case_random, setup, teardown),
      cmocka_unit_test_setup_teardown(test_case_fallback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_case_off, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retry_policy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_system_conns, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
