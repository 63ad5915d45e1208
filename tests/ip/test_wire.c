/* test_wire.c: the in-memory wire (tern/ip_drivers.h). Two stacks with
 * bare-IP netifs (no Ethernet, no ARP) joined by a wire; stack A sends
 * numbered UDP datagrams to stack B, whose receive callback records each
 * arrival (number, time) and checks every byte. Each impairment is
 * measured over 10000 datagrams: loss, duplication, reordering,
 * corruption (every corrupted frame is caught by a checksum: none reaches
 * the application), delay and jitter, the rate limit and its queue (tail
 * drop) on the virtual clock; the same seed repeats a run exactly; the
 * wire finishes partial checksums and cuts TSO super-frames; a dry pool
 * at the receiver drops frames without harm. Both pools are back to zero
 * blocks at teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ip/ip_internal.h"
#include "tern/ip.h"
#include "tern/ip_drivers.h"

#define N 10000u
#define MAXRX (3u * N)
#define PORT_B 7000

typedef struct rx {
  uint32_t n, bad;
  uint32_t seq[MAXRX];
  uint64_t lat[MAXRX]; /* arrival time - send time, ms */
  uint64_t when[MAXRX];
} rx;

typedef struct fx {
  tern_stack *a, *b;
  tern_wire *w;
  tern_netif *na, *nb;
  tern_udp *ua, *ub;
  tern_addr to;
  uint64_t now;
  rx r;
} fx;

static void addr4(tern_addr *a, const char *s, uint16_t port) {
  assert_int_equal(tern_addr_parse_ip(s, strlen(s), a), TERN_OK);
  a->port = port;
}

/* payload: seq, send time (ms), then a pattern of the seq */
static void fill(uint8_t *d, size_t len, uint32_t seq, uint32_t t) {
  memcpy(d, &seq, 4);
  memcpy(d + 4, &t, 4);
  for (size_t i = 8; i < len; i++) d[i] = (uint8_t)(seq * 7u + i);
}

static bool check(const uint8_t *d, size_t len, uint32_t *seq, uint32_t *t) {
  if (len < 8) return false;
  memcpy(seq, d, 4);
  memcpy(t, d + 4, 4);
  for (size_t i = 8; i < len; i++)
    if (d[i] != (uint8_t)(*seq * 7u + i)) return false;
  return true;
}

static void on_udp(void *arg, tern_udp *pcb, tern_pbuf *p,
                   const tern_addr *from) {
  fx *f = arg;
  uint8_t buf[2048];
  size_t len = tern_pbuf_copy_out(p, 0, buf, sizeof(buf));
  uint32_t seq, t;
  if (!check(buf, len, &seq, &t) || f->r.n >= MAXRX) {
    f->r.bad++;
  } else {
    uint64_t now = tern_stack_now(f->b);
    f->r.seq[f->r.n] = seq;
    f->r.lat[f->r.n] = now - t;
    f->r.when[f->r.n] = now;
    f->r.n++;
  }
  tern_pbuf_free(p);
}

static tern_netif *add_nif(tern_stack *st, tern_wire *w, int end,
                           const char *ip, unsigned flags) {
  tern_netif_opts o = {0};
  o.name = end ? "wb" : "wa";
  o.flags = flags;
  o.driver = tern_wire_driver();
  o.driver_state = tern_wire_end(w, end);
  o.prefix_len = 24;
  addr4(&o.addr, ip, 0);
  tern_netif *nif;
  assert_int_equal(tern_netif_add(st, &o, &nif), TERN_OK);
  tern_wire_attach(w, end, nif);
  tern_netif_set_up(nif, true);
  return nif;
}

static fx *fx_new(uint64_t seed, unsigned flags_a) {
  fx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  tern_stack_opts so = {0};
  so.pool_bytes = 2u << 20;
  assert_int_equal(tern_stack_new(&f->a, &so), TERN_OK);
  assert_int_equal(tern_stack_new(&f->b, &so), TERN_OK);
  assert_int_equal(tern_wire_new(&f->w, seed), TERN_OK);
  f->na = add_nif(f->a, f->w, 0, "10.9.0.1", flags_a);
  f->nb = add_nif(f->b, f->w, 1, "10.9.0.2", 0);
  f->ua = tern_udp_new(f->a);
  f->ub = tern_udp_new(f->b);
  assert_non_null(f->ua);
  assert_non_null(f->ub);
  tern_addr any;
  addr4(&any, "0.0.0.0", PORT_B);
  assert_int_equal(tern_udp_bind(f->ub, &any), TERN_OK);
  tern_udp_recv(f->ub, on_udp, f);
  addr4(&f->to, "10.9.0.2", PORT_B);
  return f;
}

static void fx_free(fx *f) {
  tern_udp_free(f->ua);
  tern_udp_free(f->ub);
  tern_wire_run(f->w, f->a, f->b, &f->now, f->now + 60000, NULL, NULL);
  tern_stack_stats s;
  tern_stack_get_stats(f->a, &s);
  assert_int_equal(s.pool_used, 0);
  tern_stack_get_stats(f->b, &s);
  assert_int_equal(s.pool_used, 0);
  tern_stack_free(f->a);
  tern_stack_free(f->b);
  tern_wire_free(f->w);
  free(f);
}

static void send_one(fx *f, uint32_t seq, size_t len) {
  tern_pbuf *p = tern_pbuf_alloc(f->a, TERN_PBUF_TRANSPORT, len);
  assert_non_null(p);
  uint8_t buf[2048];
  fill(buf, len, seq, (uint32_t)f->now);
  assert_int_equal(tern_pbuf_copy_in(p, 0, buf, len), TERN_OK);
  assert_int_equal(tern_udp_sendto(f->ua, p, &f->to), TERN_OK);
  tern_pbuf_free(p);
}

/* Run until nothing is left to do (or 10 s of virtual time). */
static void settle(fx *f) {
  tern_wire_run(f->w, f->a, f->b, &f->now, f->now + 10000, NULL, NULL);
}

/* n datagrams of len bytes in batches of 50 (the wire holds 256 KiB). */
static void send_many(fx *f, uint32_t n, size_t len) {
  for (uint32_t i = 0; i < n; i++) {
    send_one(f, i, len);
    if (i % 50 == 49) settle(f);
  }
  settle(f);
}

static tern_wire_stats wstats(fx *f) {
  tern_wire_stats s;
  tern_wire_get_stats(f->w, 0, &s);
  return s;
}

static uint32_t inversions(const rx *r) {
  uint32_t inv = 0, max = 0;
  for (uint32_t i = 0; i < r->n; i++) {
    if (i && r->seq[i] < max) inv++;
    if (r->seq[i] > max) max = r->seq[i];
  }
  return inv;
}

static void assert_near(uint64_t got, uint64_t want, uint64_t tol) {
  if (got + tol < want || got > want + tol)
    fail_msg("%llu not within %llu of %llu", (unsigned long long)got,
             (unsigned long long)tol, (unsigned long long)want);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_clean(void **state) {
  fx *f = fx_new(1, 0);
  send_many(f, N, 200);
  assert_int_equal(f->r.n, N);
  assert_int_equal(f->r.bad, 0);
  assert_int_equal(inversions(&f->r), 0);
  for (uint32_t i = 0; i < N; i++) assert_int_equal(f->r.seq[i], i);
  tern_wire_stats s = wstats(f);
  assert_int_equal(s.sent, N);
  assert_int_equal(s.delivered, N);
  assert_int_equal(s.bytes, (uint64_t)N * (200 + 28));
  assert_int_equal(s.lost + s.dup + s.reordered + s.corrupted + s.queue_drop, 0);
  fx_free(f);
}

static void test_loss(void **state) {
  fx *f = fx_new(2, 0);
  tern_wire_impair imp = {.loss = 0.1};
  tern_wire_set_impair(f->w, 0, &imp);
  send_many(f, N, 200);
  tern_wire_stats s = wstats(f);
  assert_near(s.lost, N / 10, 300); /* binomial sd 30 */
  assert_int_equal(f->r.n, N - s.lost);
  assert_int_equal(s.delivered, N - s.lost);
  assert_int_equal(f->r.bad, 0);
  assert_int_equal(inversions(&f->r), 0);
  fx_free(f);
}

static void test_dup(void **state) {
  fx *f = fx_new(3, 0);
  tern_wire_impair imp = {.dup = 0.1};
  tern_wire_set_impair(f->w, 0, &imp);
  send_many(f, N, 200);
  tern_wire_stats s = wstats(f);
  assert_near(s.dup, N / 10, 300);
  assert_int_equal(f->r.n, N + s.dup);
  assert_int_equal(f->r.bad, 0);
  /* every number arrives, once or twice; twins back to back */
  uint8_t *seen = calloc(N, 1);
  uint32_t twice = 0;
  for (uint32_t i = 0; i < f->r.n; i++) {
    uint32_t q = f->r.seq[i];
    assert_true(q < N);
    if (seen[q]++) {
      twice++;
      assert_int_equal(f->r.seq[i - 1], q);
    }
  }
  for (uint32_t q = 0; q < N; q++) assert_true(seen[q] >= 1 && seen[q] <= 2);
  assert_int_equal(twice, s.dup);
  free(seen);
  fx_free(f);
}

static void test_reorder(void **state) {
  fx *f = fx_new(4, 0);
  tern_wire_impair imp = {.reorder = 0.1};
  tern_wire_set_impair(f->w, 0, &imp);
  send_many(f, N, 200);
  tern_wire_stats s = wstats(f);
  assert_int_equal(f->r.n, N); /* nothing lost */
  assert_int_equal(f->r.bad, 0);
  /* one held frame at a time: about p/(1+p) of the frames; each swap is
   * one arrival after a higher number */
  assert_near(s.reordered, 909, 150);
  assert_int_equal(inversions(&f->r), s.reordered);
  fx_free(f);
}

static void test_corrupt(void **state) {
  fx *f = fx_new(5, 0);
  tern_wire_impair imp = {.corrupt = 0.1};
  tern_wire_set_impair(f->w, 0, &imp);
  send_many(f, N, 200);
  tern_wire_stats s = wstats(f);
  assert_near(s.corrupted, N / 10, 300);
  /* one flipped bit is always caught (IP or UDP checksum, RFC 1071) */
  assert_int_equal(f->r.bad, 0);
  assert_int_equal(f->r.n, N - s.corrupted);
  assert_int_equal(s.delivered, N);
  tern_stack_stats bs;
  tern_stack_get_stats(f->b, &bs);
  assert_true(bs.ip_chksum_err + bs.udp_chksum_err + bs.ip_drop >= 1);
  fx_free(f);
}

static void test_delay_jitter(void **state) {
  fx *f = fx_new(6, 0);
  tern_wire_impair imp = {.delay_ms = 50};
  tern_wire_set_impair(f->w, 0, &imp);
  send_many(f, 1000, 100);
  assert_int_equal(f->r.n, 1000);
  for (uint32_t i = 0; i < f->r.n; i++) assert_int_equal(f->r.lat[i], 50);
  assert_int_equal(inversions(&f->r), 0);
  f->r.n = 0;

  imp.jitter_ms = 20;
  tern_wire_set_impair(f->w, 0, &imp);
  /* one datagram per ms so jitter can overtake */
  for (uint32_t i = 0; i < N; i++) {
    send_one(f, i, 100);
    f->now++;
    tern_stack_advance(f->a, f->now);
    tern_stack_advance(f->b, f->now);
    tern_wire_deliver(f->w, f->now);
  }
  settle(f);
  assert_int_equal(f->r.n, N);
  uint64_t sum = 0, lo = UINT64_MAX, hi = 0;
  for (uint32_t i = 0; i < f->r.n; i++) {
    sum += f->r.lat[i];
    if (f->r.lat[i] < lo) lo = f->r.lat[i];
    if (f->r.lat[i] > hi) hi = f->r.lat[i];
  }
  assert_int_equal(lo, 50);
  assert_int_equal(hi, 70);
  assert_near(sum / f->r.n, 60, 1);
  assert_true(inversions(&f->r) > N / 10); /* jitter reorders */
  fx_free(f);
}

static void test_rate(void **state) {
  fx *f = fx_new(7, 0);
  /* 1 Mbit/s: a 1000-byte IP datagram takes 8 ms on the wire */
  tern_wire_impair imp = {.rate_bps = 1000000};
  tern_wire_set_impair(f->w, 0, &imp);
  uint64_t t0 = f->now;
  for (uint32_t i = 0; i < 100; i++) send_one(f, i, 1000 - 28);
  settle(f);
  assert_int_equal(f->r.n, 100);
  for (uint32_t i = 0; i < 100; i++) {
    assert_int_equal(f->r.seq[i], i);
    assert_int_equal(f->r.when[i], t0 + 8u * (i + 1));
  }
  /* the queue holds 10 such frames: the other 90 of a burst are tail
   * dropped; once drained, the link takes frames again */
  imp.queue_max = 10000;
  tern_wire_set_impair(f->w, 0, &imp);
  f->r.n = 0;
  t0 = f->now;
  for (uint32_t i = 0; i < 100; i++) send_one(f, i, 1000 - 28);
  settle(f);
  tern_wire_stats s = wstats(f);
  assert_int_equal(s.queue_drop, 90);
  assert_int_equal(f->r.n, 10);
  assert_int_equal(f->r.when[9], t0 + 80);
  /* a steady 1 frame per 8 ms fits: nothing dropped */
  f->r.n = 0;
  for (uint32_t i = 0; i < 200; i++) {
    send_one(f, i, 1000 - 28);
    uint64_t lim = f->now + 8;
    tern_wire_run(f->w, f->a, f->b, &f->now, lim, NULL, NULL);
    f->now = lim;
    tern_stack_advance(f->a, lim);
  }
  settle(f);
  assert_int_equal(f->r.n, 200);
  assert_int_equal(wstats(f).queue_drop, 90);
  fx_free(f);
}

/* all impairments at once; returns a digest of what arrived and when */
static uint64_t impaired_run(uint64_t seed, tern_wire_stats *st) {
  fx *f = fx_new(seed, 0);
  tern_wire_impair imp = {.loss = 0.05, .dup = 0.05, .reorder = 0.05,
                          .corrupt = 0.05, .delay_ms = 5, .jitter_ms = 5};
  tern_wire_set_impair(f->w, 0, &imp);
  for (uint32_t i = 0; i < 2000; i++) {
    send_one(f, i, 100 + i % 500);
    f->now++;
    tern_wire_run(f->w, f->a, f->b, &f->now, f->now, NULL, NULL);
  }
  settle(f);
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (uint32_t i = 0; i < f->r.n; i++) {
    h = (h ^ f->r.seq[i]) * 1099511628211ull;
    h = (h ^ f->r.when[i]) * 1099511628211ull;
  }
  *st = wstats(f);
  fx_free(f);
  return h;
}

static void test_determinism(void **state) {
  tern_wire_stats s1, s2, s3;
  uint64_t h1 = impaired_run(42, &s1);
  uint64_t h2 = impaired_run(42, &s2);
  uint64_t h3 = impaired_run(43, &s3);
  assert_true(h1 == h2);
  assert_memory_equal(&s1, &s2, sizeof(s1));
  assert_true(h1 != h3);
  assert_true(s1.lost && s1.dup && s1.reordered && s1.corrupted);
}

/* A netif that announces TX_CSUM leaves UDP checksums partial: the wire
 * fills them in as a NIC would, and B (which checks) accepts them. */
static void test_tx_csum(void **state) {
  fx *f = fx_new(8, TERN_NETIF_TX_CSUM);
  send_many(f, 1000, 333);
  assert_int_equal(f->r.n, 1000);
  assert_int_equal(f->r.bad, 0);
  tern_stack_stats bs;
  tern_stack_get_stats(f->b, &bs);
  assert_int_equal(bs.udp_chksum_err, 0);
  fx_free(f);
}

static uint16_t sum16(const uint8_t *d, size_t n, uint32_t s) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(d[i] << 8 | d[i + 1]);
  if (n & 1) s += (uint32_t)(d[n - 1] << 8);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}

/* A TCP super-frame with TSO metadata, handed to the wire driver by hand
 * (no TCP needed): it arrives as gso_mss segments, each with a valid IP
 * and TCP checksum, sequence numbers in step, FIN/PSH on the last only.
 * B's netif records what it receives in a pcap file, which we read. */
static void test_tso(void **state) {
  char path[64];
  snprintf(path, sizeof(path), "/tmp/tern_wire_tso_%d.pcap", (int)getpid());
  tern_stack *a, *b;
  tern_stack_opts so = {0};
  so.pool_bytes = 1u << 20;
  assert_int_equal(tern_stack_new(&a, &so), TERN_OK);
  assert_int_equal(tern_stack_new(&b, &so), TERN_OK);
  tern_wire *w;
  assert_int_equal(tern_wire_new(&w, 9), TERN_OK);
  tern_netif *na = add_nif(a, w, 0, "10.9.0.1", TERN_NETIF_TX_CSUM | TERN_NETIF_TSO);
  tern_pcap *pc;
  assert_int_equal(tern_pcap_open_linktype(&pc, path, 0, TERN_PCAP_RAW), TERN_OK);
  tern_netif_opts o = {0};
  o.name = "wb";
  o.driver = tern_wire_driver();
  o.driver_state = tern_wire_end(w, 1);
  o.prefix_len = 24;
  addr4(&o.addr, "10.9.0.2", 0);
  assert_int_equal(tern_pcap_wrap(pc, &o), TERN_OK);
  assert_int_equal(tern_pcap_wrap(pc, &o), TERN_EBUSY);
  tern_netif *nb;
  assert_int_equal(tern_netif_add(b, &o, &nb), TERN_OK);
  tern_wire_attach(w, 1, nb);
  tern_netif_set_up(nb, true);

  /* IPv4 + TCP (20 + 20) + 3500 bytes, mss 1000: 4 segments */
  enum { PAY = 3500, MSS = 1000, HL = 40 };
  uint8_t fr[HL + PAY];
  memset(fr, 0, sizeof(fr));
  fr[0] = 0x45;
  ip_put16(fr + 2, HL + PAY);
  ip_put16(fr + 4, 0x1234);
  fr[8] = 64;
  fr[9] = 6;
  ip_put32(fr + 12, 0x0a090001);
  ip_put32(fr + 16, 0x0a090002);
  ip_put16(fr + 20, 40000);
  ip_put16(fr + 22, 9); /* nobody listens: B answers RSTs, fine */
  ip_put32(fr + 24, 1000000);
  ip_put32(fr + 28, 1);
  fr[32] = 5 << 4;
  fr[33] = 0x10 | 0x08 | 0x01; /* ACK PSH FIN */
  ip_put16(fr + 34, 65535);
  for (int i = 0; i < PAY; i++) fr[HL + i] = (uint8_t)(i * 13);
  tern_pbuf *p = tern_pbuf_alloc(a, TERN_PBUF_RAW, sizeof(fr));
  assert_non_null(p);
  assert_int_equal(tern_pbuf_copy_in(p, 0, fr, sizeof(fr)), TERN_OK);
  p->meta.csum_start = 20;
  p->meta.csum_offset = 16;
  p->meta.gso_mss = MSS;
  p->meta.hdr_len = HL;
  assert_int_equal(tern_wire_driver()->output(na, p), TERN_OK);
  tern_pbuf_free(p);
  uint64_t now = 0;
  tern_wire_run(w, a, b, &now, 1000, NULL, NULL);
  tern_wire_stats ws;
  tern_wire_get_stats(w, 0, &ws);
  assert_int_equal(ws.gso_segs, 4);
  assert_int_equal(ws.delivered, 4);
  tern_stack_free(a);
  tern_stack_free(b);
  tern_wire_free(w);
  /* B's segments in, and whatever B answered (RSTs) out */
  assert_true(tern_pcap_frames(pc) >= 4);
  tern_pcap_close(pc);

  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  uint8_t gh[24];
  assert_int_equal(fread(gh, 1, 24, fp), 24);
  uint32_t lt;
  memcpy(&lt, gh + 20, 4);
  assert_int_equal(lt, TERN_PCAP_RAW);
  for (int k = 0; k < 4;) {
    uint8_t rh[16], seg[HL + MSS];
    assert_int_equal(fread(rh, 1, 16, fp), 16);
    uint32_t incl;
    memcpy(&incl, rh + 8, 4);
    assert_true(incl <= sizeof(seg));
    assert_int_equal(fread(seg, 1, incl, fp), incl);
    if (ip_get32(seg + 12) != 0x0a090001) continue; /* B's answers */
    size_t pay = k < 3 ? MSS : PAY - 3 * MSS;
    assert_int_equal(incl, HL + pay);
    assert_int_equal(ip_get16(seg + 2), HL + pay);
    assert_int_equal(ip_get16(seg + 4), 0x1234 + k);
    assert_int_equal(sum16(seg, 20, 0), 0xffff); /* IP header checksum */
    assert_int_equal(ip_get32(seg + 24), 1000000 + (uint32_t)k * MSS);
    assert_int_equal(seg[33], k < 3 ? 0x10 : 0x19);
    uint8_t ph[12] = {0};
    memcpy(ph, seg + 12, 8);
    ph[9] = 6;
    ip_put16(ph + 10, (uint16_t)(20 + pay));
    assert_int_equal(sum16(seg + 20, 20 + pay, sum16(ph, 12, 0)), 0xffff);
    assert_memory_equal(seg + HL, fr + HL + k * MSS, pay);
    k++;
  }
  fclose(fp);
  unlink(path);
}

/* B's pool refuses every block: frames are counted and dropped, nothing
 * leaks, and traffic flows again once allocation works. */
static void test_rx_nomem(void **state) {
  fx *f = fx_new(10, 0);
  tern_stack_fail_alloc(f->b, 1, true);
  for (uint32_t i = 0; i < 20; i++) send_one(f, i, 100);
  settle(f);
  assert_int_equal(f->r.n, 0);
  assert_int_equal(wstats(f).rx_nomem, 20);
  tern_stack_fail_alloc(f->b, 0, false);
  for (uint32_t i = 0; i < 20; i++) send_one(f, i, 100);
  settle(f);
  assert_int_equal(f->r.n, 20);
  fx_free(f);
}

/* An end with no netif attached: frames are dropped, not delivered. */
static void test_detached(void **state) {
  fx *f = fx_new(11, 0);
  tern_wire_attach(f->w, 1, NULL);
  for (uint32_t i = 0; i < 5; i++) send_one(f, i, 100);
  settle(f);
  assert_int_equal(f->r.n, 0);
  assert_int_equal(wstats(f).rx_nomem, 5);
  tern_wire_attach(f->w, 1, f->nb);
  fx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clean),        cmocka_unit_test(test_loss),
      cmocka_unit_test(test_dup),          cmocka_unit_test(test_reorder),
      cmocka_unit_test(test_corrupt),      cmocka_unit_test(test_delay_jitter),
      cmocka_unit_test(test_rate),         cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_tx_csum),      cmocka_unit_test(test_tso),
      cmocka_unit_test(test_rx_nomem),     cmocka_unit_test(test_detached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
