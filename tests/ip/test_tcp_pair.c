/* test_tcp_pair.c: two stacks whose bare-IP netifs feed each other
 * through a small queue drained by the test loop (no recursion, no
 * driver): 1 MB each way with default settings and an FNV-1a hash
 * compare, then a close and every pool back to empty; the same with
 * checksum offload and TSO (super-segments arrive whole, csum_ok); and
 * allocation failures on either side during a transfer.
 */
#include "ip/test_tcp_helper.h"

#define QMAX 4096

typedef struct end {
  tern_stack *st;
  tern_netif *nif;
  struct end *peer;
  uint8_t *q[QMAX]; /* frames on their way to this end */
  size_t qn[QMAX];
  unsigned head, tail;
  bool offload;
  uint64_t frames, max_frame;
} end;

typedef struct side {
  tern_tcp *pcb;
  uint64_t sent, to_send, rcvd;
  uint64_t fnv;
  bool fin, err;
} side;

static end A, B;
static side CS, SS; /* client in A, server in B */
static uint64_t NOW;

static uint8_t pat(uint64_t i) { return (uint8_t)((i * 13 + (i >> 11)) & 0xff); }

static uint64_t fnv_of(uint64_t n) {
  uint64_t h = 1469598103934665603ull;
  for (uint64_t i = 0; i < n; i++) h = (h ^ pat(i)) * 1099511628211ull;
  return h;
}

static int q_output(tern_netif *nif, tern_pbuf *p) {
  end *e = tern_netif_driver_state(nif);
  end *to = e->peer;
  if (to->tail - to->head >= QMAX) return TERN_EAGAIN;
  size_t n = tern_pbuf_tot_len(p);
  uint8_t *b = malloc(n);
  tern_pbuf_copy_out(p, 0, b, n);
  if (e->offload) {
    /* what the host side of a TSO link would see: the partial checksum
     * is finished by "hardware"; we trust it (csum_ok on input) */
    const tern_tx_meta *m = tern_pbuf_tx_meta(p);
    assert_int_equal(m->csum_offset, 16);
    if (m->gso_mss) assert_true(n - m->hdr_len > m->gso_mss);
  }
  if (n > e->max_frame) e->max_frame = n;
  to->q[to->tail % QMAX] = b;
  to->qn[to->tail % QMAX] = n;
  to->tail++;
  e->frames++;
  return TERN_OK;
}

static const tern_netif_driver q_driver = {.name = "q", .output = q_output};

static void end_init(end *e, end *peer, uint32_t ip, bool offload,
                     const tern_stack_opts *o) {
  memset(e, 0, sizeof *e);
  e->peer = peer;
  e->offload = offload;
  assert_int_equal(tern_stack_new(&e->st, o), TERN_OK);
  tern_netif_opts no = {0};
  no.name = "q";
  no.flags = offload ? TERN_NETIF_TX_CSUM | TERN_NETIF_TSO : 0;
  no.mtu = 1500;
  no.prefix_len = 24;
  ip_addr_to(ip, 0, &no.addr);
  no.driver = &q_driver;
  no.driver_state = e;
  assert_int_equal(tern_netif_add(e->st, &no, &e->nif), TERN_OK);
  tern_netif_set_up(e->nif, true);
}

/* Deliver what is queued for e; true if anything was. */
static bool drain(end *e) {
  bool any = false;
  unsigned stop = e->tail; /* frames sent meanwhile wait for the next round */
  while (e->head != stop) {
    uint8_t *b = e->q[e->head % QMAX];
    size_t n = e->qn[e->head % QMAX];
    e->head++;
    tern_pbuf *p = tern_pbuf_alloc(e->st, TERN_PBUF_RAW, n);
    if (p) {
      tern_pbuf_copy_in(p, 0, b, n);
      tern_netif_input(e->nif, p, e->peer->offload);
    }
    free(b);
    any = true;
  }
  return any;
}

static void step(void) {
  bool a = drain(&A), b = drain(&B);
  if (a || b) return;
  uint64_t due = tern_stack_next_due(A.st);
  uint64_t d2 = tern_stack_next_due(B.st);
  if (d2 < due) due = d2;
  NOW = due == UINT64_MAX || due <= NOW ? NOW + 1 : due;
  tern_stack_advance(A.st, NOW);
  tern_stack_advance(B.st, NOW);
}

/* ---- the application on both sides ------------------------------------- */

static void pump(side *s) {
  static uint8_t buf[32768];
  if (!s->pcb) return;
  while (s->sent < s->to_send) {
    size_t n = s->to_send - s->sent;
    if (n > sizeof buf) n = sizeof buf;
    uint32_t room = tern_tcp_sndbuf(s->pcb);
    if (n > room) n = room;
    if (!n) break;
    for (size_t i = 0; i < n; i++) buf[i] = pat(s->sent + i);
    long w = tern_tcp_write(s->pcb, buf, n, TERN_TCP_WRITE_COPY);
    if (w <= 0) break;
    s->sent += (uint64_t)w;
  }
  tern_tcp_output(s->pcb);
}

static int p_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  side *s = arg;
  if (!p) {
    s->fin = true;
    return TERN_OK;
  }
  uint64_t h = s->fnv;
  for (tern_pbuf *q = p; q; q = tern_pbuf_next(q)) {
    const uint8_t *d = tern_pbuf_data(q);
    for (size_t i = 0; i < tern_pbuf_len(q); i++) h = (h ^ d[i]) * 1099511628211ull;
  }
  s->fnv = h;
  s->rcvd += tern_pbuf_tot_len(p);
  tern_tcp_recved(pcb, (uint32_t)tern_pbuf_tot_len(p));
  tern_pbuf_free(p);
  return TERN_OK;
}
static int p_sent(void *arg, tern_tcp *pcb, uint32_t len) {
  (void)pcb;
  (void)len;
  pump(arg);
  return TERN_OK;
}
static int p_poll(void *arg, tern_tcp *pcb) {
  (void)pcb;
  pump(arg);
  return TERN_OK;
}
static void p_err(void *arg, int err) {
  side *s = arg;
  (void)err;
  s->err = true;
  s->pcb = NULL;
}
static int p_conn(void *arg, tern_tcp *pcb) {
  (void)pcb;
  pump(arg);
  return TERN_OK;
}
static const tern_tcp_cbs side_cbs = {.recv = p_recv, .sent = p_sent,
                                      .poll = p_poll, .err = p_err,
                                      .connected = p_conn};
static uint64_t g_send;
static int p_accept(void *arg, tern_tcp *pcb) {
  (void)arg;
  if (SS.pcb) return TERN_EBUSY;
  SS.pcb = pcb;
  SS.to_send = g_send;
  tern_tcp_set_callbacks(pcb, &side_cbs, &SS);
  tern_tcp_set_poll(pcb, 200);
  pump(&SS);
  return TERN_OK;
}
static const tern_tcp_cbs listen_cbs = {.accept = p_accept};

static tern_tcp *setup(bool offload, uint64_t bytes, const tern_stack_opts *o) {
  end_init(&A, &B, 0x0a010001, offload, o);
  end_init(&B, &A, 0x0a010002, offload, o);
  memset(&CS, 0, sizeof CS);
  memset(&SS, 0, sizeof SS);
  CS.fnv = SS.fnv = 1469598103934665603ull;
  NOW = 0;
  g_send = bytes;
  tern_tcp *l = tern_tcp_new(B.st);
  tern_addr a;
  ip_addr_to(0, 7000, &a);
  assert_int_equal(tern_tcp_bind(l, &a), TERN_OK);
  tern_tcp_set_callbacks(l, &listen_cbs, NULL);
  assert_int_equal(tern_tcp_listen(l, 4), TERN_OK);
  CS.pcb = tern_tcp_new(A.st);
  CS.to_send = bytes;
  tern_tcp_set_callbacks(CS.pcb, &side_cbs, &CS);
  tern_tcp_set_poll(CS.pcb, 200);
  ip_addr_to(0x0a010002, 7000, &a);
  assert_int_equal(tern_tcp_connect(CS.pcb, &a), TERN_OK);
  return l;
}

static bool done(uint64_t bytes) {
  if (CS.err || SS.err) return true;
  return CS.rcvd >= bytes && SS.rcvd >= bytes;
}

static void run_until(uint64_t bytes, uint64_t limit_ms) {
  while (!done(bytes) && NOW < limit_ms) step();
}

static uint32_t pcbs(tern_stack *st) {
  tern_stack_stats s;
  tern_stack_get_stats(st, &s);
  return s.tcp_pcbs;
}

static void close_and_check(tern_tcp *l) {
  if (CS.pcb) assert_int_equal(tern_tcp_close(CS.pcb), TERN_OK);
  if (SS.pcb) assert_int_equal(tern_tcp_close(SS.pcb), TERN_OK);
  CS.pcb = SS.pcb = NULL;
  assert_int_equal(tern_tcp_close(l), TERN_OK);
  uint64_t limit = NOW + 1200000;
  while ((pcbs(A.st) || pcbs(B.st)) && NOW < limit) step();
  assert_int_equal(pcbs(A.st), 0);
  assert_int_equal(pcbs(B.st), 0);
  while (drain(&A) || drain(&B)) {
  }
  tern_stack_stats sa, sb;
  tern_stack_get_stats(A.st, &sa);
  tern_stack_get_stats(B.st, &sb);
  assert_int_equal(sa.pool_used, 0);
  assert_int_equal(sb.pool_used, 0);
  tern_stack_free(A.st);
  tern_stack_free(B.st);
}

static void transfer(bool offload) {
  const uint64_t n = 1u << 20;
  tern_tcp *l = setup(offload, n, NULL);
  run_until(n, 600000);
  assert_false(CS.err || SS.err);
  assert_int_equal(CS.rcvd, n);
  assert_int_equal(SS.rcvd, n);
  uint64_t want = fnv_of(n);
  assert_true(CS.fnv == want);
  assert_true(SS.fnv == want);
  tern_tcp_info ci;
  tern_tcp_get_info(CS.pcb, &ci);
  printf("%s: 1 MiB each way in %llu ms virtual, %llu + %llu frames, "
         "largest %llu, cwnd %u, retrans %llu\n",
         offload ? "offload" : "plain", (unsigned long long)NOW,
         (unsigned long long)A.frames, (unsigned long long)B.frames,
         (unsigned long long)A.max_frame, ci.cwnd,
         (unsigned long long)ci.retrans);
  assert_int_equal(ci.retrans, 0);
  if (offload) assert_true(A.max_frame > 1500); /* super-segments */
  close_and_check(l);
}

static void test_pair_1mb(void **state) {
  (void)state;
  transfer(false);
}

static void test_pair_1mb_offload(void **state) {
  (void)state;
  transfer(true);
}

/* Fail allocations in one stack mid-transfer (once, or for a while); the
 * transfer must still finish correctly and everything end empty. */
static void test_pair_alloc_failures(void **state) {
  (void)state;
  const uint64_t n = 40000;
  tern_stack_opts o = {0};
  o.pool_bytes = 512u << 10;
  for (uint64_t nth = 1; nth <= 120; nth += 3) {
    for (int mode = 0; mode < 4; mode++) {
      tern_tcp *l = setup(false, n, &o);
      end *e = (mode & 1) ? &B : &A;
      bool sticky = mode & 2;
      tern_stack_fail_alloc(e->st, nth, sticky);
      uint64_t until = NOW + 3000;
      while (!done(n) && NOW < until) step();
      tern_stack_fail_alloc(e->st, 0, false);
      if (CS.pcb && !CS.err) tern_tcp_output(CS.pcb);
      run_until(n, NOW + 900000);
      if (!CS.err && !SS.err && SS.pcb) {
        assert_int_equal(CS.rcvd, n);
        assert_int_equal(SS.rcvd, n);
        assert_true(CS.fnv == fnv_of(n) && SS.fnv == fnv_of(n));
      }
      close_and_check(l);
    }
  }
}

/* A pool far smaller than the default buffers (256 KiB each way): writes
 * take what fits, receivers drop what they cannot hold, and TCP still
 * delivers everything. */
static void test_pair_small_pool(void **state) {
  (void)state;
  const uint64_t n = 300000;
  tern_stack_opts o = {0};
  o.pool_bytes = 96u << 10;
  tern_tcp *l = setup(false, n, &o);
  run_until(n, 600000);
  assert_false(CS.err || SS.err);
  assert_int_equal(CS.rcvd, n);
  assert_int_equal(SS.rcvd, n);
  assert_true(CS.fnv == fnv_of(n) && SS.fnv == fnv_of(n));
  tern_stack_stats sa;
  tern_stack_get_stats(A.st, &sa);
  printf("small pool: %llu ms virtual, pool high %u of %u blocks, "
         "mem_fail %llu\n", (unsigned long long)NOW, sa.pool_high,
         sa.pool_blocks, (unsigned long long)sa.mem_fail);
  close_and_check(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pair_1mb),
      cmocka_unit_test(test_pair_1mb_offload),
      cmocka_unit_test(test_pair_alloc_failures),
      cmocka_unit_test(test_pair_small_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
