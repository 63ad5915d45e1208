/* test_tcp_fuzz.c: random segments (flags, sequence and ACK numbers near
 * and far from the connection's, random and malformed options, payloads)
 * thrown at listeners and connections in every state, with the clock
 * moving and the app writing, reading, refusing, closing and aborting at
 * random. Nothing may crash (the sanitizers watch), and after everything
 * is closed and timed out, no pcb, pool block or allocation remains.
 */
#include "ip/test_tcp_helper.h"

static tt T;
static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)rng;
}

static tern_tcp *held[8]; /* pcbs the app holds */
static const tern_tcp_cbs fcbs;

static int f_accept(void *arg, tern_tcp *pcb) {
  (void)arg;
  for (int i = 0; i < 8; i++)
    if (!held[i]) {
      held[i] = pcb;
      tern_tcp_set_callbacks(pcb, &fcbs, &held[i]);
      return TERN_OK;
    }
  return TERN_ELIMIT;
}

/* recv/sent/poll/err with a random act; arg is the held[] slot */
static int f_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  tern_tcp **slot = arg;
  uint32_t r = rnd() % 16;
  if (p && r == 0) return TERN_EAGAIN;
  if (p) {
    tern_tcp_recved(pcb, (uint32_t)tern_pbuf_tot_len(p));
    tern_pbuf_free(p);
  }
  if (r == 1) {
    tern_tcp_abort(pcb);
    *slot = NULL;
    return TERN_ECLOSED;
  }
  if (r == 2) {
    tern_tcp_close(pcb);
    *slot = NULL;
    return TERN_ECLOSED;
  }
  if (r == 3) tern_tcp_write(pcb, "reply", 5, TERN_TCP_WRITE_COPY);
  return TERN_OK;
}
static int f_sent(void *arg, tern_tcp *pcb, uint32_t len) {
  (void)len;
  tern_tcp **slot = arg;
  if (rnd() % 20 == 0) {
    tern_tcp_abort(pcb);
    *slot = NULL;
    return TERN_ECLOSED;
  }
  return TERN_OK;
}
static void f_err(void *arg, int err) {
  (void)err;
  tern_tcp **slot = arg;
  *slot = NULL;
}
static const tern_tcp_cbs fcbs = {.recv = f_recv, .sent = f_sent,
                                  .err = f_err, .accept = f_accept};

static uint32_t base_seq[4], base_ack[4];
static uint64_t tcp_sent_ok;

static void random_segment(void) {
  uint32_t k = rnd() % 4;
  T.pport = (uint16_t)(40000 + k);
  T.lport = rnd() % 10 ? 80 : (uint16_t)(81 + rnd() % 3);
  uint32_t seq = base_seq[k], ackn = base_ack[k];
  switch (rnd() % 4) {
  case 0: seq += rnd() % 3000; break;
  case 1: seq -= rnd() % 3000; break;
  case 2: seq = rnd(); break;
  default: break;
  }
  switch (rnd() % 4) {
  case 0: ackn += rnd() % 3000; break;
  case 1: ackn -= rnd() % 3000; break;
  case 2: ackn = rnd(); break;
  default: break;
  }
  uint8_t flags = (uint8_t)(rnd() & 0x3f);
  if (rnd() % 2) flags = (uint8_t)((flags & ~(TCP_SYN | TCP_RST)) | TCP_ACK);
  topts o = {0};
  uint32_t nopt = rnd() % 5;
  if (nopt == 1) {
    to_mss(&o, (uint16_t)rnd());
    to_ws(&o, (uint8_t)(rnd() % 20));
    to_sackok(&o);
    to_ts(&o, rnd(), rnd());
  } else if (nopt == 2) {
    uint32_t blk[3][2];
    for (int i = 0; i < 3; i++) {
      blk[i][0] = base_ack[k] + rnd() % 5000;
      blk[i][1] = blk[i][0] + rnd() % 3000;
    }
    to_sack(&o, blk, 1 + (int)(rnd() % 3));
  } else if (nopt == 3) {
    o.n = (uint8_t)(rnd() % 40);
    for (unsigned i = 0; i < o.n; i++) o.b[i] = (uint8_t)rnd();
  }
  static uint8_t pay[3000];
  size_t len = rnd() % 3 ? 0 : rnd() % sizeof pay;
  tt_send(&T, seq, ackn, flags, (uint16_t)rnd(), o.n ? &o : NULL, pay, len);
  /* learn from what the stack sends so that some segments hit */
  static tseg s;
  bool tcp;
  while (tt_pop_any(&T, &s, &tcp)) {
    uint32_t j = s.dport - 40000u;
    if (tcp && s.csum_ok) tcp_sent_ok++;
    if (tcp && j < 4) {
      base_seq[j] = s.ack;
      base_ack[j] = s.seq + s.len;
    }
  }
}

static void app_step(void) {
  int i = (int)(rnd() % 8);
  tern_tcp *p = held[i];
  if (!p) return;
  switch (rnd() % 12) {
  case 0:
    tern_tcp_abort(p);
    held[i] = NULL;
    break;
  case 1:
    tern_tcp_close(p);
    held[i] = NULL;
    break;
  case 2: tern_tcp_shutdown(p, rnd() % 2, rnd() % 2); break;
  case 3: tern_tcp_set_keepalive(p, 1000, 500, 2); break;
  default: {
    static uint8_t d[5000];
    tern_tcp_write(p, d, rnd() % sizeof d,
                   rnd() % 2 ? TERN_TCP_WRITE_COPY : TERN_TCP_WRITE_COPY |
                                                         TERN_TCP_WRITE_MORE);
    tern_tcp_output(p);
  }
  }
}

static void test_fuzz(void **state) {
  (void)state;
  for (int round = 0; round < 6; round++) {
    tern_stack_opts o = {0};
    o.pool_bytes = 256u << 10;
    o.tcp_syn_backlog = 2;
    o.max_time_wait = 3;
    o.tcp_ooseq_max = 8000;
    tt_init_opts(&T, &o, 0);
    memset(held, 0, sizeof held);
    uint64_t live = T.st->malloc_live;
    tern_tcp *l = tern_tcp_new(T.st);
    tern_addr a;
    ip_addr_to(0, 80, &a);
    assert_int_equal(tern_tcp_bind(l, &a), TERN_OK);
    tern_tcp_set_callbacks(l, &fcbs, NULL);
    assert_int_equal(tern_tcp_listen(l, 4), TERN_OK);
    for (int i = 0; i < 20000; i++) {
      random_segment();
      if (rnd() % 8 == 0) app_step();
      if (rnd() % 16 == 0) tt_advance(&T, rnd() % 3000);
      if (round % 2 && rnd() % 200 == 0)
        tern_stack_fail_alloc(T.st, 1 + rnd() % 5, rnd() % 2);
      if (rnd() % 300 == 0) tern_stack_fail_alloc(T.st, 0, false);
    }
    tern_stack_fail_alloc(T.st, 0, false);
    tern_stack_stats st;
    tern_stack_get_stats(T.st, &st);
    printf("round %d: in %llu out %llu accepts %llu cookies %llu challenge "
           "%llu rst %llu ooseq %llu retrans %llu\n", round,
           (unsigned long long)st.tcp_in, (unsigned long long)st.tcp_out,
           (unsigned long long)st.tcp_accepts,
           (unsigned long long)st.tcp_syn_cookies,
           (unsigned long long)st.tcp_challenge_ack,
           (unsigned long long)st.tcp_rst_out,
           (unsigned long long)st.tcp_ooseq,
           (unsigned long long)st.tcp_retrans);
    for (int i = 0; i < 8; i++)
      if (held[i]) {
        tern_tcp_abort(held[i]);
        held[i] = NULL;
      }
    tern_tcp_close(l);
    tern_stack_stats s;
    for (int i = 0; i < 4000; i++) {
      tt_advance(&T, 500);
      tt_flush(&T);
      tern_stack_get_stats(T.st, &s);
      if (!s.tcp_pcbs) break;
    }
    assert_int_equal(s.tcp_pcbs, 0);
    assert_int_equal(s.pool_used, 0);
    assert_int_equal(T.st->malloc_live, live);
    tt_done(&T);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fuzz),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
