/* test_tcp_state.c: the TCP state machine with crafted segments (RFC 9293
 * 3.3.2, 3.5, 3.6, 3.10): handshakes both ways, simultaneous open and
 * close, TIME_WAIT and its budget, resets for closed ports, option
 * negotiation (MSS, RFC 7323 WS/TS, RFC 2018 SACK-permitted), the RFC
 * 5961 defenses and their rate limit, PAWS, checksum failures.
 */
#include "ip/test_tcp_helper.h"

static tt T;
static rec R;

static uint64_t base_live;

static void start(const tern_stack_opts *o) {
  memset(&R, 0, sizeof R);
  tt_init_opts(&T, o, 0);
  base_live = T.st->malloc_live;
}

static void finish(void) {
  tt_check_empty(&T);
  assert_int_equal(T.st->malloc_live, base_live);
  tt_done(&T);
}

static tern_stack_stats stats(void) {
  tern_stack_stats s;
  tern_stack_get_stats(T.st, &s);
  return s;
}

static void test_passive_open_close(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *l = tt_listen(&T, &R);
  uint32_t iss;
  tseg s;
  tern_tcp *c = tt_passive(&T, &R, 1000, TO_ALL, &iss, &s);
  /* the SYN-ACK: MSS from the MTU, our scale, SACK-ok, TS echo */
  assert_int_equal(s.mss, 1460);
  assert_true(s.ws >= 0);
  assert_true(s.sackok);
  assert_true(s.ts);
  assert_int_equal(s.tsecr, 1000);
  assert_true(s.csum_ok);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_ESTABLISHED);
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.mss, 1460 - 12);
  assert_int_equal(info.snd_wscale, 2);
  assert_true(info.ts_on && info.sack_on);
  assert_int_equal(info.cwnd, 10 * info.mss); /* RFC 6928 */
  tern_tcp_set_callbacks(c, &rec_cbs, &R);

  /* data: delivered, the ACK is delayed ~40 ms (not consumed yet: a
   * consumed window would move 192 KiB past the SYN-ACK's 64 KiB and
   * earn an immediate window update, as on Linux) */
  R.no_recved = true;
  topts ts = {0};
  to_ts(&ts, 1002, s.tsval);
  tt_send(&T, 1001, iss + 1, TCP_ACK | TCP_PSH, 65535, &ts, "hello", 5);
  assert_int_equal(R.rx_len, 5);
  assert_memory_equal(R.rx, "hello", 5);
  assert_int_equal(tt_pending(&T), 0);
  tt_advance(&T, 39);
  assert_int_equal(tt_pending(&T), 0);
  tt_advance(&T, 1);
  tt_pop(&T, &s);
  assert_int_equal(s.flags, TCP_ACK);
  assert_int_equal(s.ack, 1006);

  /* the peer closes: recv(NULL), CLOSE_WAIT, an immediate ACK */
  tt_send(&T, 1006, iss + 1, TCP_ACK | TCP_FIN, 65535, &ts, NULL, 0);
  assert_int_equal(R.n_fin, 1);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_CLOSE_WAIT);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 1007);
  /* we close: FIN, LAST_ACK; its ACK frees the pcb */
  assert_int_equal(tern_tcp_close(c), TERN_OK);
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_FIN);
  assert_int_equal(s.seq, iss + 1);
  tt_send(&T, 1007, iss + 2, TCP_ACK, 65535, &ts, NULL, 0);
  assert_int_equal(stats().tcp_pcbs, 1);
  assert_int_equal(R.n_err, 0);
  tern_tcp_close(l);
  assert_int_equal(stats().tcp_pcbs, 0);
  finish();
}

static void test_no_options(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *l = tt_listen(&T, &R);
  uint32_t iss;
  tseg s;
  tern_tcp *c = tt_passive(&T, &R, 7, 0, &iss, &s);
  /* nothing offered: nothing answered (RFC 7323 1.3, RFC 2018 2) */
  assert_int_equal(s.ws, -1);
  assert_false(s.sackok);
  assert_false(s.ts);
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.mss, 536); /* RFC 9293 3.7.1 default */
  assert_int_equal(info.snd_wscale, 0);
  assert_int_equal(info.rcv_wscale, 0);
  assert_false(info.ts_on || info.sack_on);
  /* a window field is taken unscaled */
  tt_send(&T, 8, iss + 1, TCP_ACK, 1000, NULL, NULL, 0);
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.snd_wnd, 1000);
  tern_tcp_abort(c);
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_RST);
  tern_tcp_close(l);
  finish();
}

static void test_window_scale(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *l = tt_listen(&T, &R);
  uint32_t iss;
  tseg s;
  tern_tcp *c = tt_passive(&T, &R, 7, TO_MSS | TO_WS, &iss, &s);
  assert_int_equal(s.ws, 7);
  tt_send(&T, 8, iss + 1, TCP_ACK, 1000, NULL, NULL, 0);
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.snd_wnd, 4000); /* RFC 7323 2.3: << 2 */
  /* our window field is scaled by 7 */
  tern_tcp_set_callbacks(c, &rec_cbs, &R);
  tt_send(&T, 8, iss + 1, TCP_ACK, 1000, NULL, "xy", 2);
  tt_advance(&T, 50);
  tt_pop(&T, &s);
  assert_int_equal(s.wnd, (256u * 1024) >> 7); /* recved at once */
  tern_tcp_abort(c);
  tern_tcp_close(l);
  finish();
}

static void test_active_open(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tseg s;
  tern_tcp *c = tt_active(&T, &R, 9000, TO_ALL, &iss, &s);
  assert_int_equal(s.mss, 1460);
  assert_int_equal(s.ws, 7);
  assert_true(s.sackok && s.ts);
  assert_int_equal(R.n_conn, 1);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_ESTABLISHED);
  tt_pop(&T, &s);
  assert_int_equal(s.flags, TCP_ACK);
  assert_int_equal(s.seq, iss + 1);
  assert_int_equal(s.ack, 9001);
  assert_int_equal(stats().tcp_connects, 1);
  /* write + output */
  assert_int_equal(tern_tcp_write(c, "abc", 3, TERN_TCP_WRITE_COPY), 3);
  assert_int_equal(tern_tcp_queued(c), 3);
  tern_tcp_output(c);
  tt_pop(&T, &s);
  assert_int_equal(s.len, 3);
  assert_true(s.flags & TCP_PSH);
  topts ts = {0};
  to_ts(&ts, 5001, s.tsval);
  tt_send(&T, 9001, iss + 4, TCP_ACK, 65535, &ts, NULL, 0);
  assert_int_equal(R.sent_bytes, 3);
  assert_int_equal(tern_tcp_queued(c), 0);
  tern_tcp_abort(c);
  finish();
}

static void test_connect_refused(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *c = tern_tcp_new(T.st);
  tern_tcp_set_callbacks(c, &rec_cbs, &R);
  tern_addr to;
  ip_addr_to(TT_PEER, 5555, &to);
  assert_int_equal(tern_tcp_connect(c, &to), TERN_OK);
  tseg s;
  tt_pop(&T, &s);
  T.lport = s.sport;
  T.pport = 5555;
  /* a RST with a wrong ACK is ignored (3.10.7.3) */
  tt_send(&T, 0, s.seq + 7, TCP_RST | TCP_ACK, 0, NULL, NULL, 0);
  assert_int_equal(R.n_err, 0);
  tt_send(&T, 0, s.seq + 1, TCP_RST | TCP_ACK, 0, NULL, NULL, 0);
  assert_int_equal(R.n_err, 1);
  assert_int_equal(R.err, TERN_ECONNREFUSED);
  finish();
}

static void test_syn_retries_timeout(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *c = tern_tcp_new(T.st);
  tern_tcp_set_callbacks(c, &rec_cbs, &R);
  tern_addr to;
  ip_addr_to(TT_PEER, 5555, &to);
  assert_int_equal(tern_tcp_connect(c, &to), TERN_OK);
  tseg s;
  tt_pop(&T, &s);
  /* RFC 6298 (5.5): 1 s, then doubling */
  uint64_t t0 = T.now, gap = 1000;
  for (int i = 0; i < TCP_SYN_RETRIES; i++) {
    tt_advance(&T, gap - 1);
    assert_int_equal(tt_pending(&T), 0);
    tt_advance(&T, 1);
    tt_pop(&T, &s);
    assert_int_equal(s.flags, TCP_SYN);
    gap *= 2;
  }
  tt_advance(&T, gap);
  assert_int_equal(R.n_err, 1);
  assert_int_equal(R.err, TERN_ETIMEDOUT);
  (void)t0;
  finish();
}

static void test_simultaneous_open(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *c = tern_tcp_new(T.st);
  tern_tcp_set_callbacks(c, &rec_cbs, &R);
  tern_addr to;
  ip_addr_to(TT_PEER, 6000, &to);
  T.pport = 6000;
  assert_int_equal(tern_tcp_connect(c, &to), TERN_OK);
  tseg s;
  tt_pop(&T, &s);
  T.lport = s.sport;
  uint32_t iss = s.seq;
  /* the peer's SYN crosses ours: SYN_RCVD and a SYN-ACK */
  topts o = {0};
  to_mss(&o, 1000);
  tt_send(&T, 300, 0, TCP_SYN, 65535, &o, NULL, 0);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_SYN_RCVD);
  tt_pop(&T, &s);
  assert_int_equal(s.flags, TCP_SYN | TCP_ACK);
  assert_int_equal(s.seq, iss);
  assert_int_equal(s.ack, 301);
  assert_int_equal(s.mss, 1460);
  /* the peer's SYN-ACK: established */
  tt_send(&T, 300, iss + 1, TCP_SYN | TCP_ACK, 65535, &o, NULL, 0);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_ESTABLISHED);
  assert_int_equal(R.n_conn, 1);
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.mss, 1000);
  tern_tcp_abort(c);
  finish();
}

/* Both FINs cross: FIN_WAIT_1 -> CLOSING -> TIME_WAIT -> gone after 2 MSL */
static void test_simultaneous_close(void **state) {
  (void)state;
  tern_stack_opts o = {0};
  o.tcp_msl_ms = 1000;
  start(&o);
  tern_tcp *l = tt_listen(&T, &R);
  uint32_t iss;
  tseg s;
  tern_tcp *c = tt_passive(&T, &R, 50, TO_MSS, &iss, &s);
  assert_int_equal(tern_tcp_close(c), TERN_OK);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_FIN_WAIT_1);
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_FIN);
  /* the peer's FIN, not acking ours */
  tt_send(&T, 51, iss + 1, TCP_ACK | TCP_FIN, 65535, NULL, NULL, 0);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_CLOSING);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 52);
  tt_send(&T, 52, iss + 2, TCP_ACK, 65535, NULL, NULL, 0);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_TIME_WAIT);
  assert_int_equal(stats().tcp_time_wait, 1);
  /* a retransmitted FIN in TIME_WAIT is ACKed again */
  tt_send(&T, 51, iss + 2, TCP_ACK | TCP_FIN, 65535, NULL, NULL, 0);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 52);
  tt_advance(&T, 1999);
  assert_int_equal(stats().tcp_pcbs, 2);
  tt_advance(&T, 1);
  assert_int_equal(stats().tcp_pcbs, 1);
  assert_int_equal(stats().tcp_time_wait, 0);
  assert_int_equal(R.n_err, 0);
  tern_tcp_close(l);
  finish();
}

/* An active close: FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT; the budget. */
static void test_time_wait_budget(void **state) {
  (void)state;
  tern_stack_opts o = {0};
  o.max_time_wait = 2;
  start(&o);
  tern_tcp *l = tt_listen(&T, &R);
  for (int i = 0; i < 3; i++) {
    T.pport = (uint16_t)(41000 + i);
    uint32_t iss;
    tseg s;
    tern_tcp *c = tt_passive(&T, &R, 100, TO_MSS, &iss, &s);
    tern_tcp_close(c);
    tt_pop(&T, &s);
    tt_send(&T, 101, iss + 2, TCP_ACK, 65535, NULL, NULL, 0);
    assert_int_equal(tern_tcp_get_state(c), TERN_TCP_FIN_WAIT_2);
    tt_send(&T, 101, iss + 2, TCP_ACK | TCP_FIN, 65535, NULL, NULL, 0);
    tt_pop(&T, &s);
    assert_int_equal(s.ack, 102);
    tt_advance(&T, 10);
  }
  /* two wait, the oldest made room */
  assert_int_equal(stats().tcp_time_wait, 2);
  assert_int_equal(stats().tcp_pcbs, 3);
  tt_advance(&T, 60000);
  assert_int_equal(stats().tcp_pcbs, 1);
  tern_tcp_close(l);
  finish();
}

/* RFC 9293 3.10.7.1 */
static void test_rst_closed_port(void **state) {
  (void)state;
  start(NULL);
  T.lport = 81;
  tt_send(&T, 1234, 0, TCP_SYN, 65535, NULL, NULL, 0);
  tseg s;
  tt_pop(&T, &s);
  assert_int_equal(s.flags, TCP_RST | TCP_ACK);
  assert_int_equal(s.seq, 0);
  assert_int_equal(s.ack, 1235);
  assert_true(s.csum_ok);
  tt_send(&T, 1, 777, TCP_ACK, 65535, NULL, "zz", 2);
  tt_pop(&T, &s);
  assert_int_equal(s.flags, TCP_RST);
  assert_int_equal(s.seq, 777);
  tt_send(&T, 1, 777, TCP_RST, 65535, NULL, NULL, 0);
  assert_int_equal(tt_pending(&T), 0);
  assert_int_equal(stats().tcp_rst_out, 2);
  finish();
}

static void test_bad_checksum(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *l = tt_listen(&T, &R);
  tern_pbuf *p = tt_build(&T, TT_PEER, T.pport, TT_LOCAL, T.lport, 5, 0,
                          TCP_SYN, 65535, NULL, NULL, 0, true);
  tern_netif_input(T.nif, p, false);
  assert_int_equal(tt_pending(&T), 0);
  assert_int_equal(stats().tcp_chksum_err, 1);
  /* a driver that verified it (csum_ok) is trusted */
  p = tt_build(&T, TT_PEER, T.pport, TT_LOCAL, T.lport, 5, 0, TCP_SYN, 65535,
               NULL, NULL, 0, true);
  tern_netif_input(T.nif, p, true);
  assert_int_equal(tt_pending(&T), 1);
  tern_tcp_close(l);
  finish();
}

/* An established connection with the peer at rcv 1001 / our iss. */
static tern_tcp *estab(uint32_t *iss, unsigned which) {
  tt_listen(&T, &R);
  tseg s;
  tern_tcp *c = tt_passive(&T, &R, 1000, which, iss, &s);
  tern_tcp_set_callbacks(c, &rec_cbs, &R);
  return c;
}

static void end_all(void) {
  tern_stack_free(T.st); /* frees pcbs without callbacks */
  T.st = NULL;
  tt_flush(&T);
}

/* RFC 5961 3.2 */
static void test_rfc5961_rst(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS);
  tseg s;
  /* in the window but not exact: a challenge ACK, nothing else */
  tt_send(&T, 1001 + 100, 0, TCP_RST, 0, NULL, NULL, 0);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_ESTABLISHED);
  tt_pop(&T, &s);
  assert_int_equal(s.flags, TCP_ACK);
  assert_int_equal(s.ack, 1001);
  assert_int_equal(s.seq, iss + 1);
  assert_int_equal(stats().tcp_challenge_ack, 1);
  /* outside the window: silently dropped */
  tt_send(&T, 1001 + 10000000, 0, TCP_RST, 0, NULL, NULL, 0);
  assert_int_equal(tt_pending(&T), 0);
  assert_int_equal(R.n_err, 0);
  /* exactly RCV.NXT: reset */
  tt_send(&T, 1001, 0, TCP_RST, 0, NULL, NULL, 0);
  assert_int_equal(R.n_err, 1);
  assert_int_equal(R.err, TERN_ECONNRESET);
  assert_int_equal(stats().tcp_pcbs, 1);
  end_all();
}

/* RFC 5961 4.2 and 5.2, and blind data outside the window (section 6) */
static void test_rfc5961_syn_ack(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS);
  tseg s;
  tt_send(&T, 5, 0, TCP_SYN, 65535, NULL, NULL, 0);
  tt_pop(&T, &s);
  assert_int_equal(s.flags, TCP_ACK);
  assert_int_equal(s.ack, 1001);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_ESTABLISHED);
  /* an ACK of data never sent: challenge ACK, data dropped */
  tt_send(&T, 1001, iss + 1000, TCP_ACK, 65535, NULL, "evil", 4);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 1001);
  assert_int_equal(R.rx_len, 0);
  /* far below SND.UNA - MAX.SND.WND: the same */
  tt_send(&T, 1001, iss - 1000000, TCP_ACK, 65535, NULL, "evil", 4);
  tt_pop(&T, &s);
  assert_int_equal(R.rx_len, 0);
  assert_int_equal(stats().tcp_challenge_ack, 3);
  /* data beyond the window: not delivered, an ACK says where we are */
  tt_send(&T, 1001 + 300000, iss + 1, TCP_ACK, 65535, NULL, "evil", 4);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 1001);
  assert_int_equal(R.rx_len, 0);
  /* an old segment: the same */
  tt_send(&T, 900, iss + 1, TCP_ACK, 65535, NULL, "old", 3);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 1001);
  assert_int_equal(R.rx_len, 0);
  /* an overlapping one: the new part only */
  tt_send(&T, 999, iss + 1, TCP_ACK, 65535, NULL, "xxgood", 6);
  assert_int_equal(R.rx_len, 4);
  assert_memory_equal(R.rx, "good", 4);
  end_all();
}

/* RFC 5961 7: at most TCP_CHALLENGE_PER_S challenge ACKs a second */
static void test_challenge_rate_limit(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  estab(&iss, TO_MSS);
  for (int i = 0; i < 3 * TCP_CHALLENGE_PER_S; i++)
    tt_send(&T, 1001 + 10 + (uint32_t)i, 0, TCP_RST, 0, NULL, NULL, 0);
  assert_int_equal(tt_pending(&T), TCP_CHALLENGE_PER_S);
  tt_flush(&T);
  tt_advance(&T, 1000);
  tt_send(&T, 1001 + 10, 0, TCP_RST, 0, NULL, NULL, 0);
  assert_int_equal(tt_pending(&T), 1);
  end_all();
}

/* RFC 7323 5: PAWS drops an old timestamp, and ACKs */
static void test_paws(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  estab(&iss, TO_ALL);
  tseg s;
  topts o = {0};
  to_ts(&o, 2000, 1);
  tt_send(&T, 1001, iss + 1, TCP_ACK, 65535, &o, "new", 3);
  assert_int_equal(R.rx_len, 3);
  topts old = {0};
  to_ts(&old, 1500, 1);
  tt_send(&T, 1004, iss + 1, TCP_ACK, 65535, &old, "old", 3);
  assert_int_equal(R.rx_len, 3);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 1004);
  assert_int_equal(s.tsecr, 2000); /* TS.Recent from the good segment */
  end_all();
}

/* Data after the peer's FIN, shutdown RX and close with unread data */
static void test_shutdown_rx_rst(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS);
  assert_int_equal(tern_tcp_shutdown(c, true, false), TERN_OK);
  tt_send(&T, 1001, iss + 1, TCP_ACK, 65535, NULL, "late", 4);
  tseg s;
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_RST);
  assert_int_equal(R.n_err, 1);
  assert_int_equal(R.err, TERN_ECONNABORTED);
  end_all();
}

static void test_shutdown_tx(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS);
  assert_int_equal(tern_tcp_write(c, "data", 4, TERN_TCP_WRITE_COPY), 4);
  assert_int_equal(tern_tcp_shutdown(c, false, true), TERN_OK);
  assert_int_equal(tern_tcp_write(c, "x", 1, TERN_TCP_WRITE_COPY),
                   TERN_ECLOSED);
  tseg s;
  tt_pop(&T, &s);
  assert_int_equal(s.len, 4);
  assert_true(s.flags & TCP_FIN); /* the FIN rides with the data */
  tt_send(&T, 1001, iss + 6, TCP_ACK, 65535, NULL, NULL, 0);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_FIN_WAIT_2);
  /* still receiving */
  tt_send(&T, 1001, iss + 6, TCP_ACK | TCP_FIN, 65535, NULL, "bye", 3);
  assert_int_equal(R.rx_len, 3);
  assert_int_equal(R.n_fin, 1);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_TIME_WAIT);
  /* the user still holds it: after 2 MSL it is CLOSED, not freed */
  tt_advance(&T, 60000);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_CLOSED);
  assert_int_equal(stats().tcp_pcbs, 2);
  assert_int_equal(tern_tcp_close(c), TERN_OK);
  assert_int_equal(stats().tcp_pcbs, 1);
  end_all();
}

/* TX_CSUM: the pseudo-header sum in the field, meta says where; TSO: one
 * super-segment of whole MSS with gso_mss */
static void test_offload_meta(void **state) {
  (void)state;
  memset(&R, 0, sizeof R);
  tt_init_opts(&T, NULL, TERN_NETIF_TX_CSUM | TERN_NETIF_TSO);
  base_live = T.st->malloc_live;
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS | TO_WS);
  tt_send(&T, 1001, iss + 1, TCP_ACK, 65535, NULL, NULL, 0); /* 256 KiB */
  static uint8_t d[40000];
  assert_int_equal(tern_tcp_write(c, d, sizeof d, TERN_TCP_WRITE_COPY),
                   sizeof d);
  tern_tcp_output(c);
  tseg s;
  tt_pop(&T, &s);
  assert_int_equal(s.len, 10 * 1460); /* the initial window, at once */
  assert_int_equal(T.last_meta.gso_mss, 1460);
  assert_int_equal(T.last_meta.csum_offset, 16);
  assert_int_equal(T.last_meta.csum_start, 20);
  assert_int_equal(T.last_meta.hdr_len, 40);
  assert_false(s.csum_ok); /* left to the "hardware" */
  assert_int_equal(tt_pending(&T), 0);
  /* a pure ACK: offloaded checksum, no gso */
  tt_send(&T, 1001, iss + 1, TCP_ACK, 65535, NULL, "x", 1);
  tt_advance(&T, 100);
  while (tt_try_pop(&T, &s))
    if (s.len == 0) break;
  assert_int_equal(s.len, 0);
  assert_int_equal(T.last_meta.gso_mss, 0);
  end_all();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_passive_open_close),
      cmocka_unit_test(test_no_options),
      cmocka_unit_test(test_window_scale),
      cmocka_unit_test(test_active_open),
      cmocka_unit_test(test_connect_refused),
      cmocka_unit_test(test_syn_retries_timeout),
      cmocka_unit_test(test_simultaneous_open),
      cmocka_unit_test(test_simultaneous_close),
      cmocka_unit_test(test_time_wait_budget),
      cmocka_unit_test(test_rst_closed_port),
      cmocka_unit_test(test_bad_checksum),
      cmocka_unit_test(test_rfc5961_rst),
      cmocka_unit_test(test_rfc5961_syn_ack),
      cmocka_unit_test(test_challenge_rate_limit),
      cmocka_unit_test(test_paws),
      cmocka_unit_test(test_shutdown_rx_rst),
      cmocka_unit_test(test_shutdown_tx),
      cmocka_unit_test(test_offload_meta),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
