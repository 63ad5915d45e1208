/* test_tcp_wire.c: TCP between two stacks joined by the in-memory wire,
 * on a virtual clock (tern_wire_run), through the raw API only.
 *
 * Bulk transfers in both directions at once, with an FNV-1a hash of every
 * byte compared at the receiver, under 0-10 % loss, reordering and
 * duplication and with a 1 ms delay, sweeping send-buffer and window
 * sizes; Ethernet netifs with ARP; after each run both sides close, every
 * pcb ends (TIME_WAIT included) and both pools are back to zero blocks.
 * Also: many connections at once; a receiver that stops reading (zero
 * window, persist probes) and resumes; offloads (the wire cuts TSO
 * super-segments and finishes checksums like a NIC).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tern/ip.h"
#include "tern/ip_drivers.h"

static uint8_t pat(uint64_t i) { return (uint8_t)((i * 7 + i / 4096) & 0xff); }

typedef struct side {
  tern_tcp *pcb;
  uint64_t sent, to_send;   /* bytes written / to write */
  uint64_t rcvd;
  uint64_t fnv_rx;          /* hash of what arrived */
  bool fin_rcvd, closed, err;
  int err_code;
  bool paused;              /* not reading: window closes */
  uint64_t held;            /* bytes received while paused, not recved */
} side;

typedef struct pair {
  tern_stack *a, *b;
  tern_wire *w;
  tern_netif *na, *nb;
  uint64_t now;
  side cs[64], ss[64];      /* client side in a, server side in b */
  int nconn, accepted;
  tern_tcp *listener;
} pair;

static uint64_t fnv_expect(uint64_t n) {
  uint64_t h = 1469598103934665603ull;
  for (uint64_t i = 0; i < n; i++) h = (h ^ pat(i)) * 1099511628211ull;
  return h;
}

static void pump(side *s) {
  static uint8_t buf[16384];
  if (!s->pcb || s->closed) return;
  while (s->sent < s->to_send) {
    uint32_t room = tern_tcp_sndbuf(s->pcb);
    if (!room) break;
    size_t n = s->to_send - s->sent;
    if (n > sizeof buf) n = sizeof buf;
    if (n > room) n = room;
    for (size_t i = 0; i < n; i++) buf[i] = pat(s->sent + i);
    long w = tern_tcp_write(s->pcb, buf, n, TERN_TCP_WRITE_COPY);
    if (w <= 0) break;
    s->sent += (uint64_t)w;
  }
  tern_tcp_output(s->pcb);
}

static int s_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  side *s = arg;
  if (!p) {
    s->fin_rcvd = true;
    return TERN_OK;
  }
  uint64_t h = s->fnv_rx ? s->fnv_rx : 1469598103934665603ull;
  for (tern_pbuf *q = p; q; q = tern_pbuf_next(q)) {
    const uint8_t *d = tern_pbuf_data(q);
    for (size_t i = 0; i < tern_pbuf_len(q); i++)
      h = (h ^ d[i]) * 1099511628211ull;
  }
  s->fnv_rx = h;
  uint32_t n = (uint32_t)tern_pbuf_tot_len(p);
  s->rcvd += n;
  if (s->paused)
    s->held += n;
  else
    tern_tcp_recved(pcb, n);
  tern_pbuf_free(p);
  return TERN_OK;
}

static int s_sent(void *arg, tern_tcp *pcb, uint32_t len) {
  (void)pcb;
  (void)len;
  pump(arg);
  return TERN_OK;
}

static void s_err(void *arg, int err) {
  side *s = arg;
  s->err = true;
  s->err_code = err;
  s->pcb = NULL;
}

static int s_connected(void *arg, tern_tcp *pcb) {
  (void)pcb;
  pump(arg);
  return TERN_OK;
}

static const tern_tcp_cbs side_cbs = {.recv = s_recv,
                                      .sent = s_sent,
                                      .err = s_err,
                                      .connected = s_connected};

static pair *g_pair;
static uint64_t g_server_send;

static int on_accept(void *arg, tern_tcp *newpcb) {
  pair *pr = arg;
  if (pr->accepted >= 64) return TERN_ELIMIT;
  side *s = &pr->ss[pr->accepted++];
  memset(s, 0, sizeof *s);
  s->pcb = newpcb;
  s->to_send = g_server_send;
  tern_tcp_set_callbacks(newpcb, &side_cbs, s);
  pump(s);
  return TERN_OK;
}

static const tern_tcp_cbs listen_cbs = {.accept = on_accept};

static void setup(pair *pr, uint32_t bufs, bool offload, uint64_t seed) {
  memset(pr, 0, sizeof *pr);
  g_pair = pr;
  tern_stack_opts o = {0};
  o.pool_bytes = 8u << 20;
  o.tcp_snd_buf = bufs;
  o.tcp_rcv_wnd = bufs;
  assert_int_equal(tern_stack_new(&pr->a, &o), 0);
  assert_int_equal(tern_stack_new(&pr->b, &o), 0);
  assert_int_equal(tern_wire_new(&pr->w, seed), 0);
  tern_netif_opts no = {0};
  no.flags = TERN_NETIF_ETHERNET |
             (offload ? TERN_NETIF_TX_CSUM | TERN_NETIF_TSO : 0);
  no.driver = tern_wire_driver();
  no.prefix_len = 24;
  no.name = "wa";
  memcpy(no.mac, "\x02\x00\x00\x00\x01\x01", 6);
  tern_addr_parse_ip("10.2.0.1", 8, &no.addr);
  no.driver_state = tern_wire_end(pr->w, 0);
  assert_int_equal(tern_netif_add(pr->a, &no, &pr->na), 0);
  no.name = "wb";
  memcpy(no.mac, "\x02\x00\x00\x00\x01\x02", 6);
  tern_addr_parse_ip("10.2.0.2", 8, &no.addr);
  no.driver_state = tern_wire_end(pr->w, 1);
  assert_int_equal(tern_netif_add(pr->b, &no, &pr->nb), 0);
  tern_wire_attach(pr->w, 0, pr->na);
  tern_wire_attach(pr->w, 1, pr->nb);
  tern_netif_set_up(pr->na, true);
  tern_netif_set_up(pr->nb, true);

  pr->listener = tern_tcp_new(pr->b);
  tern_addr any = {.family = TERN_AF_INET, .port = 80};
  assert_int_equal(tern_tcp_bind(pr->listener, &any), 0);
  tern_tcp_set_callbacks(pr->listener, &listen_cbs, pr);
  assert_int_equal(tern_tcp_listen(pr->listener, 64), 0);
}

static void connect_n(pair *pr, int n, uint64_t client_send) {
  tern_addr to;
  tern_addr_parse_ip("10.2.0.2", 8, &to);
  to.port = 80;
  for (int i = 0; i < n; i++) {
    side *s = &pr->cs[i];
    memset(s, 0, sizeof *s);
    s->to_send = client_send;
    s->pcb = tern_tcp_new(pr->a);
    assert_non_null(s->pcb);
    tern_tcp_set_callbacks(s->pcb, &side_cbs, s);
    assert_int_equal(tern_tcp_connect(s->pcb, &to), 0);
  }
  pr->nconn = n;
}

static bool all_done(void *ud) {
  pair *pr = ud;
  if (pr->accepted < pr->nconn) return false;
  for (int i = 0; i < pr->nconn; i++) {
    side *c = &pr->cs[i], *s = &pr->ss[i];
    if (c->err || s->err) return true; /* fail fast; asserted after */
    if (c->rcvd < s->to_send || s->rcvd < c->to_send) return false;
  }
  return true;
}

static bool all_closed(void *ud) {
  pair *pr = ud;
  tern_stack_stats sa, sb;
  tern_stack_get_stats(pr->a, &sa);
  tern_stack_get_stats(pr->b, &sb);
  return sa.tcp_pcbs == 0 && sb.tcp_pcbs == 1; /* the listener */
}

static void close_all(pair *pr) {
  for (int i = 0; i < pr->nconn; i++) {
    side *sd[2] = {&pr->cs[i], &pr->ss[i]};
    for (int k = 0; k < 2; k++)
      if (sd[k]->pcb && !sd[k]->closed) {
        assert_int_equal(tern_tcp_close(sd[k]->pcb), 0);
        sd[k]->closed = true;
        sd[k]->pcb = NULL;
      }
  }
}

static void teardown_pair(pair *pr) {
  tern_tcp_close(pr->listener);
  tern_stack_stats sa, sb;
  tern_stack_get_stats(pr->a, &sa);
  tern_stack_get_stats(pr->b, &sb);
  assert_int_equal(sa.pool_used, 0);
  assert_int_equal(sb.pool_used, 0);
  tern_stack_free(pr->a);
  tern_stack_free(pr->b);
  tern_wire_free(pr->w);
}

/* One run: n connections, each direction `bytes`, under `imp`. */
static void run_bulk(uint32_t bufs, int n, uint64_t bytes,
                     const tern_wire_impair *imp, bool offload, uint64_t seed) {
  static pair pr;
  setup(&pr, bufs, offload, seed);
  if (imp) {
    tern_wire_set_impair(pr.w, 0, imp);
    tern_wire_set_impair(pr.w, 1, imp);
  }
  g_server_send = bytes;
  connect_n(&pr, n, bytes);
  bool ok = tern_wire_run(pr.w, pr.a, pr.b, &pr.now, pr.now + 600000,
                          all_done, &pr);
  uint64_t want = fnv_expect(bytes);
  for (int i = 0; i < n; i++) {
    if (!ok || pr.cs[i].err || pr.ss[i].err)
      fprintf(stderr, "conn %d: c rcvd %llu err %d, s rcvd %llu err %d\n", i,
              (unsigned long long)pr.cs[i].rcvd, pr.cs[i].err_code,
              (unsigned long long)pr.ss[i].rcvd, pr.ss[i].err_code);
    assert_false(pr.cs[i].err);
    assert_false(pr.ss[i].err);
    assert_int_equal(pr.cs[i].rcvd, bytes);
    assert_int_equal(pr.ss[i].rcvd, bytes);
    if (bytes) {
      assert_true(pr.cs[i].fnv_rx == want);
      assert_true(pr.ss[i].fnv_rx == want);
    }
  }
  assert_true(ok);
  {
    tern_tcp_info ci;
    tern_tcp_get_info(pr.cs[0].pcb, &ci);
    printf("bulk bufs %u n %d bytes %llu loss %.2f: %llu ms virtual, "
           "retrans %llu fast %llu rto %llu sack %llu\n", bufs, n,
           (unsigned long long)bytes, imp ? imp->loss : 0.0,
           (unsigned long long)pr.now, (unsigned long long)ci.retrans,
           (unsigned long long)ci.fast_retrans,
           (unsigned long long)ci.rto_count,
           (unsigned long long)ci.sack_rexmit);
  }
  /* graceful close both ways; everything ends, TIME_WAIT too */
  close_all(&pr);
  assert_true(tern_wire_run(pr.w, pr.a, pr.b, &pr.now, pr.now + 600000,
                            all_closed, &pr));
  for (int i = 0; i < n; i++) {
    assert_false(pr.cs[i].err);
    assert_false(pr.ss[i].err);
  }
  teardown_pair(&pr);
}

static void test_bulk_clean(void **state) {
  (void)state;
  run_bulk(0, 1, 4u << 20, NULL, false, 1);
}

static void test_bulk_buffer_sweep(void **state) {
  (void)state;
  static const uint32_t sizes[] = {2048, 4096, 16384, 65536, 1u << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    run_bulk(sizes[i], 1, 512u << 10, NULL, false, 2 + i);
}

static void test_bulk_impaired(void **state) {
  (void)state;
  static const double rates[] = {0.0, 0.01, 0.05, 0.10};
  for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
    tern_wire_impair imp = {0};
    imp.loss = rates[i];
    imp.reorder = rates[i];
    imp.dup = rates[i];
    imp.delay_ms = 1;
    run_bulk(0, 1, 1u << 20, &imp, false, 100 + i);
    run_bulk(16384, 2, 256u << 10, &imp, false, 200 + i);
  }
}

static void test_bulk_offload(void **state) {
  (void)state;
  tern_wire_impair imp = {0};
  imp.loss = 0.02;
  imp.delay_ms = 1;
  run_bulk(0, 1, 4u << 20, NULL, true, 7);
  run_bulk(0, 1, 1u << 20, &imp, true, 8);
}

static void test_many_connections(void **state) {
  (void)state;
  tern_wire_impair imp = {0};
  imp.loss = 0.02;
  imp.delay_ms = 2;
  run_bulk(32768, 64, 20000, &imp, false, 9);
}

/* The server stops reading: the client's data fills the window, the
 * window closes, the client probes (persist); the server resumes and all
 * of it arrives. */
static void test_zero_window(void **state) {
  (void)state;
  static pair pr;
  setup(&pr, 16384, false, 11);
  g_server_send = 0;
  connect_n(&pr, 1, 200000);
  /* wait for the accept, then pause the server side */
  while (pr.accepted < 1) {
    uint64_t due = tern_stack_next_due(pr.a);
    uint64_t d2 = tern_wire_next_due(pr.w);
    if (d2 < due) due = d2;
    if (due == UINT64_MAX || due < pr.now) due = pr.now;
    pr.now = due;
    tern_stack_advance(pr.a, pr.now);
    tern_stack_advance(pr.b, pr.now);
    tern_wire_deliver(pr.w, pr.now);
  }
  pr.ss[0].paused = true;
  /* what arrived with the handshake (the initial window, consumed) */
  uint64_t before = pr.ss[0].rcvd;
  /* run 30 s of virtual time: the window must close and stay closed */
  tern_wire_run(pr.w, pr.a, pr.b, &pr.now, pr.now + 30000, all_done, &pr);
  assert_true(pr.ss[0].rcvd <= before + 16384 + 1460);
  assert_true(pr.ss[0].rcvd < 200000);
  assert_false(pr.cs[0].err);
  tern_tcp_info info;
  tern_tcp_get_info(pr.cs[0].pcb, &info);
  assert_int_equal(info.snd_wnd, 0);
  /* resume */
  pr.ss[0].paused = false;
  tern_tcp_recved(pr.ss[0].pcb, (uint32_t)pr.ss[0].held);
  pr.ss[0].held = 0;
  assert_true(tern_wire_run(pr.w, pr.a, pr.b, &pr.now, pr.now + 120000,
                            all_done, &pr));
  assert_int_equal(pr.ss[0].rcvd, 200000);
  assert_true(pr.ss[0].fnv_rx == fnv_expect(200000));
  close_all(&pr);
  assert_true(tern_wire_run(pr.w, pr.a, pr.b, &pr.now, pr.now + 600000,
                            all_closed, &pr));
  teardown_pair(&pr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bulk_clean),
      cmocka_unit_test(test_bulk_buffer_sweep),
      cmocka_unit_test(test_bulk_impaired),
      cmocka_unit_test(test_bulk_offload),
      cmocka_unit_test(test_many_connections),
      cmocka_unit_test(test_zero_window),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
