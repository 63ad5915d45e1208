/* test_netdb.c: tern_netconn_gethostbyname against DNS servers written
 * here on the second stack (10.9.0.2), netconns on both sides of the
 * in-memory wire: answers with several records, CNAME chains, NXDOMAIN,
 * a silent server (failover after the try's wait), SERVFAIL (next server
 * at once), a forged answer ahead of the real one (ignored), a truncated
 * answer (asked again over TCP), the cache (no query for a cached name;
 * asked again after the TTL), literals, localhost, bad names, no
 * servers, and eight threads looking up at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "api/harness.h"

enum mode {
  M_ANSWER,   /* two A records, TTL from ttl */
  M_CNAME,    /* name CNAME c.example, c.example A */
  M_NXDOMAIN, /* rcode 3 with an SOA (negative TTL 60) */
  M_SILENT,   /* no answer */
  M_SERVFAIL, /* rcode 2 */
  M_FORGED,   /* an answer with a wrong id, then the right one */
  M_TRUNC,    /* TC set over UDP; the TCP server answers */
};

typedef struct dns_srv {
  tern_tcpip *t;
  uint16_t port;
  _Atomic int mode;
  _Atomic uint32_t ttl;
  atomic_int queries;
  atomic_bool stop;
  tern_netconn *udp;
  tern_thread *thr;
} dns_srv;

static size_t put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
  return 2;
}

static size_t put32(uint8_t *p, uint32_t v) {
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
  return 4;
}

/* An A record for the name at offset 12 (the question's). */
static size_t rr_a(uint8_t *p, uint16_t name_ptr, uint32_t ttl, uint8_t last) {
  size_t o = put16(p, (uint16_t)(0xC000 | name_ptr));
  o += put16(p + o, 1);
  o += put16(p + o, 1);
  o += put32(p + o, ttl);
  o += put16(p + o, 4);
  p[o++] = 192, p[o++] = 0, p[o++] = 2, p[o++] = last;
  return o;
}

/* The reply to query q (header + one question) in out; its length. */
static size_t build_reply(const dns_srv *s, int mode, const uint8_t *q,
                          size_t qlen, uint8_t *out, bool over_tcp) {
  memcpy(out, q, qlen);
  uint32_t ttl = atomic_load(&s->ttl);
  uint16_t flags = 0x8180; /* QR, RD, RA */
  uint16_t an = 0, ns = 0;
  size_t o = qlen;
  switch (mode) {
    case M_ANSWER:
    case M_FORGED:
      o += rr_a(out + o, 12, ttl, 1);
      o += rr_a(out + o, 12, ttl, 2);
      an = 2;
      break;
    case M_TRUNC:
      if (!over_tcp) {
        flags |= 0x0200;
        break;
      }
      o += rr_a(out + o, 12, ttl, 7);
      an = 1;
      break;
    case M_CNAME: {
      o += put16(out + o, 0xC00C);
      o += put16(out + o, 5);
      o += put16(out + o, 1);
      o += put32(out + o, ttl);
      static const uint8_t target[] = "\1c\7example\0";
      o += put16(out + o, sizeof target - 1);
      uint16_t at = (uint16_t)o;
      memcpy(out + o, target, sizeof target - 1);
      o += sizeof target - 1;
      o += rr_a(out + o, at, ttl, 9);
      an = 2;
      break;
    }
    case M_NXDOMAIN: {
      flags |= 3;
      /* SOA for the zone "example": mname/rname as root, MINIMUM 60 */
      static const uint8_t zone[] = "\7example\0";
      memcpy(out + o, zone, sizeof zone - 1);
      o += sizeof zone - 1;
      o += put16(out + o, 6);
      o += put16(out + o, 1);
      o += put32(out + o, 600);
      o += put16(out + o, 2 + 20);
      out[o++] = 0, out[o++] = 0;
      o += put32(out + o, 1);
      o += put32(out + o, 3600);
      o += put32(out + o, 600);
      o += put32(out + o, 86400);
      o += put32(out + o, 60);
      ns = 1;
      break;
    }
    case M_SERVFAIL:
      flags |= 2;
      break;
  }
  put16(out + 2, flags);
  put16(out + 6, an);
  put16(out + 8, ns);
  return o;
}

static void srv_main(void *arg) {
  dns_srv *s = arg;
  tern_netconn_set_recvtimeout(s->udp, 50);
  while (!atomic_load(&s->stop)) {
    tern_netbuf *nb;
    if (tern_netconn_recv(s->udp, &nb)) continue;
    uint8_t q[512], r[1024];
    size_t qlen = tern_netbuf_copy(nb, 0, q, sizeof q);
    tern_addr from = *tern_netbuf_from(nb);
    tern_netbuf_free(nb);
    atomic_fetch_add(&s->queries, 1);
    int mode = atomic_load(&s->mode);
    if (mode == M_SILENT || qlen < 12) continue;
    size_t rlen = build_reply(s, mode, q, qlen, r, false);
    if (mode == M_FORGED) {
      r[0] ^= 0x5a; /* wrong id first */
      tern_netconn_sendto(s->udp, r, rlen, &from);
      r[0] ^= 0x5a;
    }
    tern_netconn_sendto(s->udp, r, rlen, &from);
  }
}

static void srv_start(dns_srv *s, tern_tcpip *t, uint16_t port, int mode) {
  memset(s, 0, sizeof *s);
  s->t = t;
  s->port = port;
  atomic_store(&s->mode, mode);
  atomic_store(&s->ttl, 60);
  assert_int_equal(tern_netconn_new(&s->udp, t, TERN_NETCONN_UDP), 0);
  tern_addr a = h_addr("10.9.0.2", port);
  assert_int_equal(tern_netconn_bind(s->udp, &a), 0);
  assert_int_equal(tern_thread_new(&s->thr, "dns", srv_main, s), 0);
}

static void srv_stop(dns_srv *s) {
  atomic_store(&s->stop, true);
  tern_thread_join(s->thr);
  tern_netconn_close(s->udp);
}

/* DNS over TCP on 10.9.0.2:port for one connection (RFC 7766). */
typedef struct tcp_srv {
  dns_srv *s;
  tern_netconn *l;
  tern_thread *thr;
  int served;
} tcp_srv;

static void tcp_main(void *arg) {
  tcp_srv *ts = arg;
  tern_netconn *c;
  if (tern_netconn_accept(ts->l, &c)) return;
  uint8_t q[600];
  size_t got = 0;
  tern_netconn_set_recvtimeout(c, 3000);
  while (got < 2 || got < 2 + (size_t)(q[0] << 8 | q[1])) {
    tern_netbuf *nb;
    if (tern_netconn_recv(c, &nb)) break;
    got += tern_netbuf_copy(nb, 0, q + got, sizeof q - got);
    tern_netbuf_free(nb);
  }
  if (got >= 14) {
    uint8_t r[1024];
    size_t rlen = build_reply(ts->s, M_TRUNC, q + 2, got - 2, r + 2, true);
    put16(r, (uint16_t)rlen);
    tern_netconn_write(c, r, rlen + 2, TERN_NETCONN_COPY, NULL);
    ts->served++;
  }
  tern_netconn_close(c);
}

static tern_addr srv_addr(uint16_t port) { return h_addr("10.9.0.2", port); }

static void lookup_ok(tern_tcpip *t, const char *name, uint8_t last0,
                      size_t want_n) {
  tern_addr out[4];
  size_t n = 0;
  assert_int_equal(tern_netconn_gethostbyname(t, name, out, 4, &n), 0);
  assert_int_equal(n, want_n);
  assert_int_equal(out[0].family, TERN_AF_INET);
  assert_int_equal(out[0].ip[0], 192);
  assert_int_equal(out[0].ip[3], last0);
}

static void test_answers(void **st) {
  (void)st;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  dns_srv s;
  srv_start(&s, n.tb, 53, M_ANSWER);
  tern_addr sv = srv_addr(0); /* port 0: 53 */
  assert_int_equal(tern_tcpip_set_dns_servers(n.ta, &sv, 1), 0);
  lookup_ok(n.ta, "a.example", 1, 2);
  assert_int_equal(atomic_load(&s.queries), 1);
  /* cached, in any case and with the final dot */
  lookup_ok(n.ta, "A.Example.", 1, 2);
  assert_int_equal(atomic_load(&s.queries), 1);
  /* max limits what is given */
  tern_addr one;
  size_t k;
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "a.example", &one, 1, &k),
                   0);
  assert_int_equal(k, 1);
  /* a CNAME chain */
  atomic_store(&s.mode, M_CNAME);
  lookup_ok(n.ta, "alias.example", 9, 1);
  /* NXDOMAIN, cached for the SOA's negative TTL */
  atomic_store(&s.mode, M_NXDOMAIN);
  tern_addr out[2];
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "no.example", out, 2, &k),
                   TERN_ERESOLVE);
  assert_int_equal(k, 0);
  int q = atomic_load(&s.queries);
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "no.example", out, 2, &k),
                   TERN_ERESOLVE);
  assert_int_equal(atomic_load(&s.queries), q);
  /* a TTL of 1 s: asked again after it */
  atomic_store(&s.mode, M_ANSWER);
  atomic_store(&s.ttl, 1);
  lookup_ok(n.ta, "short.example", 1, 2);
  lookup_ok(n.ta, "short.example", 1, 2);
  q = atomic_load(&s.queries);
  struct timespec ts = {1, 200000000};
  nanosleep(&ts, NULL);
  lookup_ok(n.ta, "short.example", 1, 2);
  assert_int_equal(atomic_load(&s.queries), q + 1);
  /* flush forgets */
  tern_tcpip_dns_flush(n.ta);
  lookup_ok(n.ta, "a.example", 1, 2);
  assert_int_equal(atomic_load(&s.queries), q + 2);
  /* a forged answer first: ignored, the real one taken */
  atomic_store(&s.mode, M_FORGED);
  atomic_store(&s.ttl, 60);
  lookup_ok(n.ta, "forged.example", 1, 2);
  tern_netdb_stats stats;
  tern_tcpip_dns_stats(n.ta, &stats);
  assert_true(stats.ignored >= 1);
  assert_true(stats.cache_hits >= 3);
  srv_stop(&s);
  net2_down(&n);
}

static void test_failover(void **st) {
  (void)st;
  net2 n;
  net2_up(&n, TERN_TCPIP_CORE_LOCK, 16384);
  dns_srv s1, s2;
  srv_start(&s1, n.tb, 53, M_SILENT);
  srv_start(&s2, n.tb, 5353, M_ANSWER);
  tern_addr sv[2] = {srv_addr(53), srv_addr(5353)};
  assert_int_equal(tern_tcpip_set_dns_servers(n.ta, sv, 2), 0);
  /* the first is silent: its try's wait (1 s), then the second */
  uint64_t t0 = tern_clock_ms();
  lookup_ok(n.ta, "a.example", 1, 2);
  uint64_t took = tern_clock_ms() - t0;
  assert_true(took >= 1000 && took < 2500);
  assert_int_equal(atomic_load(&s1.queries), 1);
  /* SERVFAIL moves on at once */
  atomic_store(&s1.mode, M_SERVFAIL);
  t0 = tern_clock_ms();
  lookup_ok(n.ta, "b.example", 1, 2);
  assert_true(tern_clock_ms() - t0 < 900);
  /* both fail: EAGAIN after two rounds (4 queries in all) */
  atomic_store(&s2.mode, M_SERVFAIL);
  int q1 = atomic_load(&s1.queries), q2 = atomic_load(&s2.queries);
  tern_addr out[2];
  size_t k;
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "c.example", out, 2, &k),
                   TERN_EAGAIN);
  assert_int_equal(atomic_load(&s1.queries) - q1, 2);
  assert_int_equal(atomic_load(&s2.queries) - q2, 2);
  /* both silent: ETIMEDOUT after 1+1 s, then 2+2 s */
  atomic_store(&s1.mode, M_SILENT);
  atomic_store(&s2.mode, M_SILENT);
  t0 = tern_clock_ms();
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "d.example", out, 2, &k),
                   TERN_ETIMEDOUT);
  took = tern_clock_ms() - t0;
  assert_true(took >= 6000 && took < 8000);
  srv_stop(&s1);
  srv_stop(&s2);
  net2_down(&n);
}

static void test_truncated(void **st) {
  (void)st;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  dns_srv s;
  srv_start(&s, n.tb, 53, M_TRUNC);
  tcp_srv ts = {.s = &s};
  assert_int_equal(tern_netconn_new(&ts.l, n.tb, TERN_NETCONN_TCP), 0);
  tern_addr a = srv_addr(53);
  assert_int_equal(tern_netconn_bind(ts.l, &a), 0);
  assert_int_equal(tern_netconn_listen(ts.l, 2), 0);
  assert_int_equal(tern_thread_new(&ts.thr, "tcp", tcp_main, &ts), 0);
  assert_int_equal(tern_tcpip_set_dns_servers(n.ta, &a, 1), 0);
  lookup_ok(n.ta, "big.example", 7, 1);
  tern_thread_join(ts.thr);
  assert_int_equal(ts.served, 1);
  tern_netdb_stats stats;
  tern_tcpip_dns_stats(n.ta, &stats);
  assert_int_equal(stats.tcp_retries, 1);
  tern_netconn_close(ts.l);
  srv_stop(&s);
  net2_down(&n);
}

static void test_no_network(void **st) {
  (void)st;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  tern_addr out[2];
  size_t k = 9;
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "10.1.2.3", out, 2, &k), 0);
  assert_int_equal(k, 1);
  assert_int_equal(out[0].ip[3], 3);
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "localhost", out, 2, &k), 0);
  assert_int_equal(out[0].ip[0], 127);
  assert_int_equal(
      tern_netconn_gethostbyname(n.ta, "x.localhost.", out, 2, &k), 0);
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "::1", out, 2, &k),
                   TERN_EAFNOSUPPORT);
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "a.example", out, 2, &k),
                   TERN_ENOTCONN);
  assert_int_equal(k, 0);
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "", out, 2, &k),
                   TERN_EINVAL);
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "a..b", out, 2, &k),
                   TERN_EINVAL);
  char longname[300];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  assert_int_equal(tern_netconn_gethostbyname(n.ta, longname, out, 2, &k),
                   TERN_EINVAL);
  assert_int_equal(tern_netconn_gethostbyname(n.ta, "a.b", out, 0, &k),
                   TERN_EINVAL);
  tern_addr six = h_addr("::1", 0), many[5];
  for (int i = 0; i < 5; i++) many[i] = h_addr("10.9.0.2", 0);
  assert_int_equal(tern_tcpip_set_dns_servers(n.ta, &six, 1),
                   TERN_EAFNOSUPPORT);
  assert_int_equal(tern_tcpip_set_dns_servers(n.ta, many, 5), TERN_ELIMIT);
  net2_down(&n);
}

typedef struct many_arg {
  tern_tcpip *t;
  int i, err;
} many_arg;

static void many_main(void *arg) {
  many_arg *m = arg;
  char name[32];
  snprintf(name, sizeof name, "host%d.example", m->i);
  tern_addr out[2];
  size_t k;
  m->err = tern_netconn_gethostbyname(m->t, name, out, 2, &k);
  if (!m->err && (k != 2 || out[1].ip[3] != 2)) m->err = TERN_EPROTO;
}

static void test_threads(void **st) {
  (void)st;
  net2 n;
  net2_up(&n, TERN_TCPIP_CORE_LOCK, 16384);
  dns_srv s;
  srv_start(&s, n.tb, 53, M_ANSWER);
  tern_addr sv = srv_addr(53);
  assert_int_equal(tern_tcpip_set_dns_servers(n.ta, &sv, 1), 0);
  many_arg m[8];
  tern_thread *th[8];
  for (int i = 0; i < 8; i++) {
    m[i] = (many_arg){.t = n.ta, .i = i};
    assert_int_equal(tern_thread_new(&th[i], "look", many_main, &m[i]), 0);
  }
  for (int i = 0; i < 8; i++) {
    tern_thread_join(th[i]);
    assert_int_equal(m[i].err, 0);
  }
  assert_int_equal(atomic_load(&s.queries), 8);
  srv_stop(&s);
  assert_int_equal(h_pcbs(n.ta), 0); /* every lookup's netconn is gone */
  net2_down(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answers),   cmocka_unit_test(test_failover),
      cmocka_unit_test(test_truncated), cmocka_unit_test(test_no_network),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
