/* test_lower.c: the built-in stack below TCP: pbufs and the pool,
 * checksums, Ethernet + ARP, IPv4 (checksum, fragmentation, reassembly
 * with its limits), ICMP echo and unreachable, UDP; allocation failures.
 *
 * Two stacks with Ethernet netifs are joined by a tiny in-test link: each
 * output() copies the frame into a queue, and the test feeds the queue to
 * the other side (no recursion, and the test can reorder or drop).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ip/ip_internal.h"

#include "ip/test_link.h"


/* ---- pbufs --------------------------------------------------------------- */

static void test_pbuf_chain(void **state) {
  (void)state;
  tern_stack *st = mkstack(256 * 1024);
  uint32_t bs = ip_pool_block_size(st);
  tern_pbuf *p = tern_pbuf_alloc(st, TERN_PBUF_TRANSPORT, 5000);
  assert_non_null(p);
  assert_int_equal(tern_pbuf_tot_len(p), 5000);
  assert_int_equal(tern_pbuf_len(p), bs - IP_HEADROOM_TRANSPORT);
  assert_non_null(tern_pbuf_next(p));
  uint8_t src[5000], dst[5000];
  for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 7);
  assert_int_equal(tern_pbuf_copy_in(p, 0, src, sizeof src), 0);
  assert_int_equal(tern_pbuf_copy_in(p, 1, src, sizeof src), TERN_ENOSPC);
  assert_int_equal(tern_pbuf_copy_out(p, 0, dst, sizeof dst), 5000);
  assert_memory_equal(src, dst, 5000);
  assert_int_equal(tern_pbuf_copy_out(p, 4990, dst, 100), 10);
  /* headers go into headroom, and come off again */
  uint8_t *h = ip_pbuf_push(p, IP_HEADROOM_TRANSPORT);
  assert_non_null(h);
  assert_null(ip_pbuf_push(p, 1));
  assert_int_equal(tern_pbuf_tot_len(p), 5000 + IP_HEADROOM_TRANSPORT);
  ip_pbuf_pull(p, IP_HEADROOM_TRANSPORT);
  assert_int_equal(tern_pbuf_tot_len(p), 5000);
  ip_pbuf_trim(p, 100);
  assert_int_equal(tern_pbuf_tot_len(p), 100);
  assert_null(tern_pbuf_next(p));
  assert_int_equal(pool_used(st), 1);
  /* references: the chain lives until the last one goes */
  tern_pbuf_ref(p);
  tern_pbuf_free(p);
  assert_int_equal(pool_used(st), 1);
  tern_pbuf_free(p);
  assert_int_equal(pool_used(st), 0);
  tern_stack_free(st);
}

static int view_done_count;
static void view_done(void *ud) {
  (void)ud;
  view_done_count++;
}

static void test_pbuf_view_and_cat(void **state) {
  (void)state;
  tern_stack *st = mkstack(64 * 1024);
  static const char msg[] = "zero copy";
  tern_pbuf *v = tern_pbuf_view(st, msg, 9, view_done, NULL);
  assert_non_null(v);
  assert_null(ip_pbuf_push(v, 1)); /* a view has no headroom */
  tern_pbuf *h = tern_pbuf_alloc(st, TERN_PBUF_RAW, 3);
  tern_pbuf_copy_in(h, 0, "abc", 3);
  tern_pbuf_cat(h, v);
  assert_int_equal(tern_pbuf_tot_len(h), 12);
  char out[12];
  tern_pbuf_copy_out(h, 0, out, 12);
  assert_memory_equal(out, "abczero copy", 12);
  view_done_count = 0;
  tern_pbuf_free(h);
  assert_int_equal(view_done_count, 1);
  assert_int_equal(pool_used(st), 0);
  tern_stack_free(st);
}

static void test_pool_dry_and_injected(void **state) {
  (void)state;
  tern_stack *st = mkstack(16 * 1024); /* a handful of blocks */
  tern_stack_stats s;
  tern_stack_get_stats(st, &s);
  uint32_t blocks = s.pool_blocks;
  assert_true(blocks >= 4);
  tern_pbuf *p = tern_pbuf_alloc(st, TERN_PBUF_RAW,
                                 (size_t)blocks * ip_pool_block_size(st));
  assert_non_null(p);
  assert_null(tern_pbuf_alloc(st, TERN_PBUF_RAW, 1)); /* dry */
  tern_pbuf_free(p);
  /* a chain that cannot be completed gives back what it took */
  assert_null(tern_pbuf_alloc(st, TERN_PBUF_RAW,
                              (size_t)(blocks + 1) * ip_pool_block_size(st)));
  assert_int_equal(pool_used(st), 0);
  tern_stack_fail_alloc(st, 2, false);
  tern_pbuf *a = tern_pbuf_alloc(st, TERN_PBUF_RAW, 10);
  tern_pbuf *b = tern_pbuf_alloc(st, TERN_PBUF_RAW, 10);
  tern_pbuf *c = tern_pbuf_alloc(st, TERN_PBUF_RAW, 10);
  assert_non_null(a);
  assert_null(b);
  assert_non_null(c);
  tern_pbuf_free(a);
  tern_pbuf_free(c);
  tern_stack_fail_alloc(st, 1, true);
  assert_null(tern_pbuf_alloc(st, TERN_PBUF_RAW, 10));
  assert_null(tern_pbuf_alloc(st, TERN_PBUF_RAW, 10));
  tern_stack_fail_alloc(st, 0, false);
  a = tern_pbuf_alloc(st, TERN_PBUF_RAW, 10);
  assert_non_null(a);
  tern_pbuf_free(a);
  tern_stack_get_stats(st, &s);
  assert_true(s.mem_fail >= 4);
  tern_stack_free(st);
}

/* ---- checksums ----------------------------------------------------------- */

static void test_chksum(void **state) {
  (void)state;
  /* RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 */
  const uint8_t v[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  assert_int_equal(ip_chksum_fold(ip_chksum_add(0, v, 8)), 0xddf2);
  assert_int_equal(ip_chksum(v, 8), (uint16_t)~0xddf2);
  /* a chain cut at odd places sums like the flat buffer */
  tern_stack *st = mkstack(64 * 1024);
  uint8_t buf[3001];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 31 + 7);
  uint16_t flat = ip_chksum(buf, sizeof buf);
  tern_pbuf *a = tern_pbuf_alloc(st, TERN_PBUF_RAW, 1);
  tern_pbuf *b = tern_pbuf_alloc(st, TERN_PBUF_RAW, 999);
  tern_pbuf *c = tern_pbuf_alloc(st, TERN_PBUF_RAW, 2001);
  tern_pbuf_copy_in(a, 0, buf, 1);
  tern_pbuf_copy_in(b, 0, buf + 1, 999);
  tern_pbuf_copy_in(c, 0, buf + 1000, 2001);
  tern_pbuf_cat(a, b);
  tern_pbuf_cat(a, c);
  assert_int_equal(ip_chksum_pbuf(a, sizeof buf), flat);
  tern_pbuf_free(a);
  tern_stack_free(st);
}

/* ---- UDP over Ethernet with ARP --------------------------------------------- */

typedef struct rx_log {
  int count;
  size_t last_len;
  uint8_t last[70000];
  tern_addr from;
} rx_log;

static void on_udp(void *arg, tern_udp *pcb, tern_pbuf *p,
                   const tern_addr *from) {
  (void)pcb;
  rx_log *l = arg;
  l->count++;
  l->last_len = tern_pbuf_copy_out(p, 0, l->last, sizeof l->last);
  l->from = *from;
  tern_pbuf_free(p);
}

static int udp_send_bytes(tern_udp *u, tern_stack *st, const void *data,
                          size_t len, const tern_addr *to) {
  tern_pbuf *p = tern_pbuf_alloc(st, TERN_PBUF_TRANSPORT, len);
  if (!p) return TERN_ENOMEM;
  tern_pbuf_copy_in(p, 0, data, len);
  int err = tern_udp_sendto(u, p, to);
  tern_pbuf_free(p);
  return err;
}

static void test_udp_arp(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  pump(&n); /* the gratuitous ARPs of both */
  static rx_log log;
  memset(&log, 0, sizeof log);
  tern_udp *ub = tern_udp_new(n.b);
  tern_addr any = {.family = TERN_AF_INET, .port = 5000};
  assert_int_equal(tern_udp_bind(ub, &any), 0);
  tern_udp_recv(ub, on_udp, &log);
  tern_udp *ua = tern_udp_new(n.a);
  tern_addr to;
  addr4(&to, "10.1.0.2", 5000);
  assert_int_equal(udp_send_bytes(ua, n.a, "hello", 5, &to), 0);
  /* the datagram waits for ARP: only a request went out */
  assert_int_equal(n.ea.n, 1);
  pump(&n);
  assert_int_equal(log.count, 1);
  assert_int_equal(log.last_len, 5);
  assert_memory_equal(log.last, "hello", 5);
  tern_addr la;
  tern_udp_local(ua, &la);
  assert_int_equal(log.from.port, la.port);
  assert_true(la.port >= 49152);
  /* now cached: the next datagram goes straight out */
  assert_int_equal(udp_send_bytes(ua, n.a, "again", 5, &to), 0);
  assert_int_equal(n.ea.n, 1);
  pump(&n);
  assert_int_equal(log.count, 2);
  /* a port already bound */
  tern_udp *u2 = tern_udp_new(n.b);
  assert_int_equal(tern_udp_bind(u2, &any), TERN_EADDRINUSE);
  tern_udp_free(u2);
  /* nobody on port 5001: ICMP port unreachable comes back to a */
  tern_stack_stats sa;
  tern_stack_get_stats(n.a, &sa);
  uint64_t icmp_before = sa.icmp_in;
  to.port = 5001;
  assert_int_equal(udp_send_bytes(ua, n.a, "x", 1, &to), 0);
  pump(&n);
  tern_stack_get_stats(n.a, &sa);
  assert_int_equal(sa.icmp_in, icmp_before + 1);
  tern_udp_free(ua);
  tern_udp_free(ub);
  assert_int_equal(pool_used(n.a), 0);
  assert_int_equal(pool_used(n.b), 0);
  net2_free(&n);
}

static void test_arp_gives_up(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  q_clear(&n.ea);
  tern_udp *ua = tern_udp_new(n.a);
  tern_addr to;
  addr4(&to, "10.1.0.9", 7); /* nobody */
  for (int i = 0; i < 10; i++)
    assert_int_equal(udp_send_bytes(ua, n.a, "q", 1, &to), 0);
  /* one request; the queue is bounded (arp_queue = 4 by default) */
  assert_int_equal(n.ea.n, 1);
  assert_true(pool_used(n.a) <= 4);
  for (uint64_t t = 1000; t <= 5000; t += 1000) tern_stack_advance(n.a, t);
  assert_int_equal(n.ea.n, 3); /* asked three times */
  assert_int_equal(pool_used(n.a), 0); /* then gave up, queue freed */
  assert_int_equal(tern_stack_next_due(n.a), UINT64_MAX);
  tern_udp_free(ua);
  net2_free(&n);
}

/* ---- ICMP echo --------------------------------------------------------------- */

static void test_icmp_echo(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  pump(&n);
  /* a builds an echo request by hand */
  uint8_t msg[64] = {8, 0, 0, 0, 0x12, 0x34, 0, 1};
  for (int i = 8; i < 64; i++) msg[i] = (uint8_t)i;
  ip_put16(msg + 2, ip_chksum(msg, sizeof msg));
  tern_pbuf *p = tern_pbuf_alloc(n.a, TERN_PBUF_TRANSPORT, sizeof msg);
  tern_pbuf_copy_in(p, 0, msg, sizeof msg);
  assert_int_equal(ip4_output(n.a, p, 0, 0x0a010002, IP_PROTO_ICMP, 0, 0), 0);
  tern_pbuf_free(p);
  pump(&n);
  /* the reply reached a; a's stats count it */
  tern_stack_stats s;
  tern_stack_get_stats(n.b, &s);
  assert_int_equal(s.icmp_out, 1);
  tern_stack_get_stats(n.a, &s);
  assert_int_equal(s.icmp_in, 1);
  /* a corrupted echo request is dropped */
  msg[20] ^= 1;
  p = tern_pbuf_alloc(n.a, TERN_PBUF_TRANSPORT, sizeof msg);
  tern_pbuf_copy_in(p, 0, msg, sizeof msg);
  ip4_output(n.a, p, 0, 0x0a010002, IP_PROTO_ICMP, 0, 0);
  tern_pbuf_free(p);
  pump(&n);
  tern_stack_get_stats(n.b, &s);
  assert_int_equal(s.icmp_out, 1);
  net2_free(&n);
}

/* ---- IPv4 header checks -------------------------------------------------------- */

static void test_ip_bad_header(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  pump(&n);
  static rx_log log;
  memset(&log, 0, sizeof log);
  tern_udp *ub = tern_udp_new(n.b);
  tern_addr any = {.family = TERN_AF_INET, .port = 9};
  tern_udp_bind(ub, &any);
  tern_udp_recv(ub, on_udp, &log);
  tern_udp *ua = tern_udp_new(n.a);
  tern_addr to;
  addr4(&to, "10.1.0.2", 9);
  prime_arp(&n);
  const size_t ip_off = IP_ETH_HLEN;
  /* each corruption of a's frame must be dropped by b */
  for (int kind = 0; kind < 5; kind++) {
    udp_send_bytes(ua, n.a, "data", 4, &to);
    assert_int_equal(n.ea.n, 1);
    uint8_t *f = n.ea.q[0].data;
    switch (kind) {
    case 0: f[ip_off + 10] ^= 0xff; break;          /* header checksum */
    case 1: f[ip_off] = 0x65; break;                /* version 6 */
    case 2: f[ip_off] = 0x44; break;                /* ihl 16 bytes */
    case 3: ip_put16(f + ip_off + 2, 2000); break;  /* longer than frame */
    case 4: f[ip_off + 20 + 8] ^= 1; break;         /* UDP payload: udp csum */
    }
    pump(&n);
  }
  assert_int_equal(log.count, 0);
  tern_stack_stats s;
  tern_stack_get_stats(n.b, &s);
  assert_int_equal(s.ip_chksum_err, 1);
  assert_int_equal(s.udp_chksum_err, 1);
  /* and a clean one passes */
  udp_send_bytes(ua, n.a, "data", 4, &to);
  pump(&n);
  assert_int_equal(log.count, 1);
  tern_udp_free(ua);
  tern_udp_free(ub);
  net2_free(&n);
}

/* ---- fragmentation and reassembly -------------------------------------------------- */

static void test_fragments(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 1024 * 1024);
  pump(&n);
  static rx_log log;
  memset(&log, 0, sizeof log);
  tern_udp *ub = tern_udp_new(n.b);
  tern_addr any = {.family = TERN_AF_INET, .port = 7};
  tern_udp_bind(ub, &any);
  tern_udp_recv(ub, on_udp, &log);
  tern_udp *ua = tern_udp_new(n.a);
  tern_addr to;
  addr4(&to, "10.1.0.2", 7);
  static uint8_t big[20000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i ^ (i >> 8));
  prime_arp(&n);

  /* in order */
  assert_int_equal(udp_send_bytes(ua, n.a, big, sizeof big, &to), 0);
  assert_int_equal(n.ea.n, 14); /* 20008 / 1480 -> 14 fragments */
  pump(&n);
  assert_int_equal(log.count, 1);
  assert_int_equal(log.last_len, sizeof big);
  assert_memory_equal(log.last, big, sizeof big);

  /* reversed */
  udp_send_bytes(ua, n.a, big, sizeof big, &to);
  q_feed(&n.ea, n.eb.nif, true);
  assert_int_equal(log.count, 2);
  assert_memory_equal(log.last, big, sizeof big);

  /* a duplicate fragment is ignored */
  udp_send_bytes(ua, n.a, big, 3000, &to);
  assert_int_equal(n.ea.n, 3);
  frame dup = {malloc(n.ea.q[1].len), n.ea.q[1].len};
  memcpy(dup.data, n.ea.q[1].data, dup.len);
  n.ea.q[3] = dup;
  n.ea.n = 4;
  pump(&n);
  assert_int_equal(log.count, 3);
  assert_int_equal(log.last_len, 3000);

  /* a missing fragment: held, then dropped at the timeout, pool freed */
  udp_send_bytes(ua, n.a, big, 3000, &to);
  free(n.ea.q[1].data);
  n.ea.q[1] = n.ea.q[2];
  n.ea.n = 2;
  uint32_t before = pool_used(n.b);
  pump(&n);
  assert_int_equal(log.count, 3);
  assert_true(pool_used(n.b) > before);
  tern_stack_advance(n.b, 15000);
  assert_int_equal(pool_used(n.b), 0);
  tern_stack_stats s;
  tern_stack_get_stats(n.b, &s);
  /* this one, and the late duplicate above, which started a datagram of
   * its own that never completed */
  assert_int_equal(s.ip_reass_drop, 2);

  /* overlapping fragments (teardrop): the datagram is dropped */
  udp_send_bytes(ua, n.a, big, 3000, &to);
  /* shift fragment 2's offset back by 8 bytes into fragment 1 */
  uint8_t *f = n.ea.q[1].data + IP_ETH_HLEN;
  uint16_t fw = ip_get16(f + 6);
  ip_put16(f + 6, (uint16_t)(fw - 1));
  f[10] = f[11] = 0;
  ip_put16(f + 10, ip_chksum(f, 20));
  pump(&n);
  assert_int_equal(log.count, 3);
  /* the fragment after the attack starts a datagram that times out */
  tern_stack_advance(n.b, 40000);
  assert_int_equal(pool_used(n.b), 0);

  tern_udp_free(ua);
  tern_udp_free(ub);
  assert_int_equal(pool_used(n.a), 0);
  net2_free(&n);
}

static void test_reass_memory_limit(void **state) {
  (void)state;
  tern_stack_opts o = {0};
  o.pool_bytes = 1024 * 1024;
  o.reass_max_bytes = 8 * 1024; /* about 4 blocks */
  net2 n;
  memset(&n, 0, sizeof n);
  net2_init(&n, 1024 * 1024);
  n.b->opts.reass_max_bytes = o.reass_max_bytes;
  pump(&n);
  tern_udp *ua = tern_udp_new(n.a);
  tern_addr to;
  addr4(&to, "10.1.0.2", 7);
  static uint8_t big[30000];
  prime_arp(&n);
  /* many incomplete datagrams (first fragments only) */
  for (int i = 0; i < 20; i++) {
    udp_send_bytes(ua, n.a, big, sizeof big, &to);
    for (int k = 1; k < n.ea.n; k++) free(n.ea.q[k].data);
    n.ea.n = 1;
    pump(&n);
    assert_true(pool_used(n.b) * n.b->block_size <= o.reass_max_bytes);
  }
  tern_stack_stats s;
  tern_stack_get_stats(n.b, &s);
  assert_true(s.ip_reass_drop >= 15);
  tern_udp_free(ua);
  net2_free(&n);
}

/* ---- allocation failure at every point ------------------------------------------ */

static void test_alloc_failure_sweep(void **state) {
  (void)state;
  static rx_log log;
  for (uint64_t nth = 1; nth <= 40; nth++) {
    for (int sticky = 0; sticky < 2; sticky++) {
      net2 n;
      net2_init(&n, 256 * 1024);
      memset(&log, 0, sizeof log);
      tern_udp *ub = tern_udp_new(n.b);
      tern_addr any = {.family = TERN_AF_INET, .port = 7};
      tern_udp_bind(ub, &any);
      tern_udp_recv(ub, on_udp, &log);
      tern_udp *ua = tern_udp_new(n.a);
      tern_addr to;
      addr4(&to, "10.1.0.2", 7);
      static uint8_t big[4000];
      tern_stack_fail_alloc(n.a, nth, sticky);
      tern_stack_fail_alloc(n.b, nth, sticky);
      for (int i = 0; i < 4; i++) {
        udp_send_bytes(ua, n.a, big, i & 1 ? sizeof big : 100, &to);
        pump(&n);
      }
      tern_stack_fail_alloc(n.a, 0, false);
      tern_stack_fail_alloc(n.b, 0, false);
      /* the stacks still work afterwards */
      int before = log.count;
      for (int i = 0; i < 3 && log.count == before; i++) {
        udp_send_bytes(ua, n.a, "ok", 2, &to);
        pump(&n);
        tern_stack_advance(n.a, n.now += 1000);
        tern_stack_advance(n.b, n.now);
        pump(&n);
      }
      assert_true(log.count > before);
      tern_stack_advance(n.a, n.now += 20000);
      tern_stack_advance(n.b, n.now);
      tern_udp_free(ua);
      tern_udp_free(ub);
      assert_int_equal(pool_used(n.a), 0);
      assert_int_equal(pool_used(n.b), 0);
      net2_free(&n);
    }
  }
}

/* ---- timers ------------------------------------------------------------------- */

static int fired[8];
static void on_timer(tern_stack *st, ip_timer *t) {
  (void)st;
  fired[t->due % 8]++;
}

static void test_timer_heap(void **state) {
  (void)state;
  tern_stack *st = mkstack(64 * 1024);
  ip_timer t[100];
  for (int i = 0; i < 100; i++) {
    ip_timer_init(&t[i], on_timer);
    ip_timer_set(st, &t[i], (uint64_t)(1000 + (i * 37) % 100 * 8));
  }
  for (int i = 0; i < 100; i += 3) ip_timer_stop(st, &t[i]);
  ip_timer_set(st, &t[1], 5);
  assert_int_equal(tern_stack_next_due(st), 5);
  memset(fired, 0, sizeof fired);
  uint64_t last = 0;
  int count = 0;
  while (tern_stack_next_due(st) != UINT64_MAX) {
    uint64_t due = tern_stack_next_due(st);
    assert_true(due >= last);
    last = due;
    tern_stack_advance(st, due);
    count++;
  }
  assert_int_equal(fired[0] + fired[5], 66);
  (void)count;
  tern_stack_free(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pbuf_chain),
      cmocka_unit_test(test_pbuf_view_and_cat),
      cmocka_unit_test(test_pool_dry_and_injected),
      cmocka_unit_test(test_chksum),
      cmocka_unit_test(test_timer_heap),
      cmocka_unit_test(test_udp_arp),
      cmocka_unit_test(test_arp_gives_up),
      cmocka_unit_test(test_icmp_echo),
      cmocka_unit_test(test_ip_bad_header),
      cmocka_unit_test(test_fragments),
      cmocka_unit_test(test_reass_memory_limit),
      cmocka_unit_test(test_alloc_failure_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
