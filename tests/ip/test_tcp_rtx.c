/* test_tcp_rtx.c: sending and receiving with crafted segments:
 * retransmission timing (RFC 6298: 1 s initial, doubling, Karn, the
 * SRTT/RTTVAR arithmetic), fast retransmit and NewReno partial ACKs (RFC
 * 5681, 6582), the SACK scoreboard resending only holes (RFC 2018/6675),
 * zero-window probes and window updates (RFC 9293 3.8.6), keepalive,
 * Nagle, delayed ACKs, out-of-order reassembly and its bound, slow start
 * by bytes (RFC 3465).
 */
#include "ip/test_tcp_helper.h"

static tt T;
static rec R;
static uint8_t big[200000];

static void start(const tern_stack_opts *o) {
  memset(&R, 0, sizeof R);
  tt_init_opts(&T, o, 0);
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 31 + 7);
}

static void end_all(void) {
  tern_stack_free(T.st);
  T.st = NULL;
  tt_flush(&T);
}

static tern_stack_stats stats(void) {
  tern_stack_stats s;
  tern_stack_get_stats(T.st, &s);
  return s;
}

/* Established (passive); the peer is at 1001, we at *iss + 1. */
static tern_tcp *estab(uint32_t *iss, unsigned which) {
  tt_listen(&T, &R);
  tseg s;
  tern_tcp *c = tt_passive(&T, &R, 1000, which, iss, &s);
  tern_tcp_set_callbacks(c, &rec_cbs, &R);
  return c;
}

static void ack(uint32_t a, uint16_t wnd) {
  tt_send(&T, 1001, a, TCP_ACK, wnd, NULL, NULL, 0);
}

static void ack_sack(uint32_t a, const uint32_t (*blk)[2], int nb) {
  topts o = {0};
  to_sack(&o, blk, nb);
  tt_send(&T, 1001, a, TCP_ACK, 65535, &o, NULL, 0);
}

static void test_rto_backoff_karn(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tt_hs_rtt = 100; /* the handshake measures 100 ms (RFC 6298 2.2) */
  tern_tcp *c = estab(&iss, TO_MSS);
  tt_hs_rtt = 0;
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.srtt_us, 100000);
  assert_int_equal(info.rttvar_us, 50000);
  assert_int_equal(info.rto_ms, 300); /* SRTT + 4 RTTVAR */
  assert_int_equal(tern_tcp_write(c, big, 100, TERN_TCP_WRITE_COPY), 100);
  tern_tcp_output(c);
  tseg s;
  tt_pop(&T, &s);
  assert_int_equal(s.len, 100);
  /* (5.5): doubling */
  uint64_t gap = 300;
  for (int i = 0; i < 4; i++) {
    tt_advance(&T, gap - 1);
    assert_int_equal(tt_pending(&T), 0);
    tt_advance(&T, 1);
    tt_pop(&T, &s);
    assert_int_equal(s.seq, iss + 1);
    assert_int_equal(s.len, 100);
    gap *= 2;
    tern_tcp_get_info(c, &info);
    assert_int_equal(info.rto_ms, gap);
  }
  assert_int_equal(stats().tcp_rto, 4);
  assert_int_equal(info.rto_count, 4);
  assert_int_equal(info.cwnd, info.mss); /* RFC 5681 (5) */
  /* Karn: the ACK of a retransmitted segment gives no sample */
  tt_advance(&T, 30);
  ack(iss + 101, 65535);
  assert_int_equal(R.sent_bytes, 100);
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.srtt_us, 100000);
  assert_int_equal(info.rto_ms, 300); /* backoff gone */
  /* (2.3): R = 50: RTTVAR = 3/4 50 + 1/4 50 = 50, SRTT = 93.75 */
  tern_tcp_write(c, big, 10, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  tt_pop(&T, &s);
  tt_advance(&T, 50);
  ack(iss + 111, 65535);
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.srtt_us, 93750);
  assert_int_equal(info.rttvar_us, 50000);
  assert_int_equal(info.rto_ms, 93 + 200);
  /* R = 10: RTTVAR = 37.5 + 20.9375, SRTT = 83.28125 */
  tern_tcp_write(c, big, 10, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  tt_pop(&T, &s);
  tt_advance(&T, 10);
  ack(iss + 121, 65535);
  tern_tcp_get_info(c, &info);
  /* fixed point: SRTT8 = 750 + (10 - 93), RTTVAR4 = 200 + 83 - 50 */
  assert_int_equal(info.srtt_us, 83375);
  assert_int_equal(info.rto_ms, 83 + 233);
  end_all();
}

/* RFC 6298 (2.1) without any sample: 1 s; (5.7) 3 s after a lost SYN */
static void test_rto_initial(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tseg s;
  tern_tcp *c = tern_tcp_new(T.st);
  tern_tcp_set_callbacks(c, &rec_cbs, &R);
  tern_addr to;
  ip_addr_to(TT_PEER, T.pport, &to);
  assert_int_equal(tern_tcp_connect(c, &to), TERN_OK);
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.rto_ms, 1000);
  tt_pop(&T, &s);
  T.lport = s.sport;
  iss = s.seq;
  tt_advance(&T, 1000);
  tt_pop(&T, &s); /* the SYN again */
  tt_send(&T, 500, iss + 1, TCP_SYN | TCP_ACK, 65535, NULL, NULL, 0);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_ESTABLISHED);
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.srtt_us, 0); /* Karn: no sample */
  assert_int_equal(info.rto_ms, 3000);
  end_all();
}

static void test_rto_gives_up(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS);
  tern_tcp_write(c, big, 10, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  for (int i = 0; i < 40 && R.n_err == 0; i++) tt_advance(&T, 60000);
  assert_int_equal(R.n_err, 1);
  assert_int_equal(R.err, TERN_ETIMEDOUT);
  assert_int_equal(stats().tcp_rto, TCP_MAX_RETRIES);
  end_all();
}

/* Ten segments out; the peer loses #1 and #3 (0-based). */
static void send_ten(tern_tcp *c, uint32_t *seq) {
  assert_int_equal(tern_tcp_write(c, big, 10 * 1460, TERN_TCP_WRITE_COPY),
                   10 * 1460);
  tern_tcp_output(c);
  tseg s;
  for (int i = 0; i < 10; i++) {
    tt_pop(&T, &s);
    assert_int_equal(s.len, 1460);
    seq[i] = s.seq;
  }
  seq[10] = seq[9] + 1460;
  assert_int_equal(tt_pending(&T), 0);
}

static void test_fast_retransmit_newreno(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss, sq[11];
  tern_tcp *c = estab(&iss, TO_MSS);
  send_ten(c, sq);
  tseg s;
  ack(sq[1], 65535); /* #0 arrived; cwnd grows, nothing left to send */
  assert_int_equal(tt_pending(&T), 0);
  ack(sq[1], 65535);
  ack(sq[1], 65535);
  assert_int_equal(tt_pending(&T), 0);
  ack(sq[1], 65535); /* the third duplicate */
  tt_pop(&T, &s);
  assert_int_equal(s.seq, sq[1]);
  assert_int_equal(s.len, 1460);
  assert_int_equal(stats().tcp_fast_retrans, 1);
  assert_int_equal(stats().tcp_dupack, 3);
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.ssthresh, 9 * 1460 / 2);
  assert_int_equal(info.cwnd, info.ssthresh + 3 * 1460);
  /* partial ACK (#1, #2 arrived, #3 lost): #3 goes at once (RFC 6582) */
  ack(sq[3], 65535);
  tt_pop(&T, &s);
  assert_int_equal(s.seq, sq[3]);
  assert_int_equal(tt_pending(&T), 0);
  /* the full ACK ends recovery, cwnd deflated to <= ssthresh */
  ack(sq[10], 65535);
  tern_tcp_get_info(c, &info);
  assert_true(info.cwnd <= info.ssthresh);
  assert_int_equal(R.sent_bytes, 10 * 1460);
  assert_int_equal(info.fast_retrans, 1);
  assert_int_equal(info.retrans, 2);
  end_all();
}

static void test_sack_only_holes(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss, sq[11];
  tern_tcp *c = estab(&iss, TO_MSS | TO_SACK);
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  assert_true(info.sack_on);
  send_ten(c, sq);
  tseg s;
  ack(sq[1], 65535);
  /* #1 and #4 lost; the SACK blocks grow with each duplicate */
  uint32_t b1[1][2] = {{sq[2], sq[3]}};
  ack_sack(sq[1], b1, 1);
  uint32_t b2[1][2] = {{sq[2], sq[4]}};
  ack_sack(sq[1], b2, 1);
  assert_int_equal(tt_pending(&T), 0);
  uint32_t b3[2][2] = {{sq[5], sq[6]}, {sq[2], sq[4]}};
  ack_sack(sq[1], b3, 2);
  /* #1 has three SACKed segments above it: resent, alone */
  tt_pop(&T, &s);
  assert_int_equal(s.seq, sq[1]);
  assert_int_equal(tt_pending(&T), 0);
  uint32_t b4[2][2] = {{sq[5], sq[8]}, {sq[2], sq[4]}};
  ack_sack(sq[1], b4, 2);
  /* now #4 too; nothing SACKed is ever resent */
  tt_pop(&T, &s);
  assert_int_equal(s.seq, sq[4]);
  uint32_t b5[2][2] = {{sq[5], sq[10]}, {sq[2], sq[4]}};
  ack_sack(sq[1], b5, 2);
  assert_int_equal(tt_pending(&T), 0);
  ack(sq[10], 65535);
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.retrans, 2);
  assert_int_equal(info.sack_rexmit, 2);
  assert_int_equal(stats().tcp_sack_rexmit, 2);
  assert_int_equal(R.sent_bytes, 10 * 1460);
  end_all();
}

static void test_zero_window_probe(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS);
  ack(iss + 1, 0); /* the peer's window closes */
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.snd_wnd, 0);
  tern_tcp_write(c, big, 100, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  assert_int_equal(tt_pending(&T), 0);
  /* persist: one octet after an RTO, then backing off */
  tseg s;
  uint32_t rto = info.rto_ms;
  tt_advance(&T, rto - 1);
  assert_int_equal(tt_pending(&T), 0);
  tt_advance(&T, 1);
  tt_pop(&T, &s);
  assert_int_equal(s.seq, iss + 1);
  assert_int_equal(s.len, 1);
  ack(iss + 1, 0);
  tt_advance(&T, 2 * rto - 1);
  assert_int_equal(tt_pending(&T), 0);
  tt_advance(&T, 1);
  tt_pop(&T, &s);
  assert_int_equal(s.seq, iss + 1);
  assert_int_equal(s.len, 1);
  ack(iss + 1, 0);
  assert_int_equal(R.n_err, 0);
  /* the window opens: the rest flows */
  ack(iss + 1, 65535);
  tt_pop(&T, &s); /* the dropped probe octet again, with the rest */
  assert_int_equal(s.seq, iss + 1);
  assert_int_equal(s.len, 100);
  ack(iss + 101, 65535);
  assert_int_equal(R.sent_bytes, 100);
  end_all();
}

static void test_window_update(void **state) {
  (void)state;
  tern_stack_opts o = {0};
  o.tcp_rcv_wnd = 4096;
  start(&o);
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS | TO_WS);
  R.no_recved = true;
  tseg s;
  tt_send(&T, 1001, iss + 1, TCP_ACK, 65535, NULL, big, 1460);
  tt_send(&T, 2461, iss + 1, TCP_ACK, 65535, NULL, big, 1460);
  tt_pop(&T, &s); /* every second segment */
  assert_int_equal(s.ack, 3921);
  tt_send(&T, 3921, iss + 1, TCP_ACK, 65535, NULL, big, 1176);
  tt_advance(&T, 40);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 5097);
  assert_int_equal(s.wnd, 0); /* full */
  assert_int_equal(R.rx_bytes, 4096);
  /* a zero-window probe: not taken, answered */
  tt_send(&T, 5097, iss + 1, TCP_ACK, 65535, NULL, "p", 1);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 5097);
  assert_int_equal(s.wnd, 0);
  assert_int_equal(R.rx_bytes, 4096);
  /* receiver SWS avoidance (RFC 9293 3.8.6.2.2): 100 bytes free is not
   * worth announcing */
  tern_tcp_recved(c, 100);
  assert_int_equal(tt_pending(&T), 0);
  /* the app reads the rest: a window update at once */
  tern_tcp_recved(c, 3996);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 5097);
  assert_int_equal((uint32_t)s.wnd << 7, 4096);
  end_all();
}

static void test_keepalive(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS);
  tern_tcp_set_keepalive(c, 10000, 2000, 3);
  tseg s;
  tt_advance(&T, 9999);
  assert_int_equal(tt_pending(&T), 0);
  tt_advance(&T, 1);
  tt_pop(&T, &s);
  assert_int_equal(s.seq, iss); /* SND.NXT - 1 */
  assert_int_equal(s.len, 0);
  ack(iss + 1, 65535); /* alive */
  tt_advance(&T, 10000);
  tt_pop(&T, &s);
  tt_advance(&T, 2000);
  tt_pop(&T, &s);
  tt_advance(&T, 2000);
  tt_pop(&T, &s);
  assert_int_equal(R.n_err, 0);
  tt_advance(&T, 2000);
  assert_int_equal(R.n_err, 1);
  assert_int_equal(R.err, TERN_ETIMEDOUT);
  end_all();
}

static void test_nagle(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS);
  tseg s;
  tern_tcp_write(c, "0123456789", 10, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  tt_pop(&T, &s);
  /* small data in flight: the next small write waits for the ACK */
  tern_tcp_write(c, "abc", 3, TERN_TCP_WRITE_COPY);
  tern_tcp_write(c, "def", 3, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  assert_int_equal(tt_pending(&T), 0);
  ack(iss + 11, 65535);
  tt_pop(&T, &s);
  assert_int_equal(s.len, 6); /* coalesced */
  assert_memory_equal(s.data, "abcdef", 6);
  ack(iss + 17, 65535);
  /* TCP_NODELAY */
  tern_tcp_set_nodelay(c, true);
  tern_tcp_write(c, "x", 1, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  tt_pop(&T, &s);
  tern_tcp_write(c, "y", 1, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  tt_pop(&T, &s);
  assert_int_equal(s.data[0], 'y');
  /* WRITE_MORE holds a partial segment */
  tern_tcp_set_nodelay(c, false);
  ack(iss + 19, 65535);
  tern_tcp_write(c, "m", 1, TERN_TCP_WRITE_COPY | TERN_TCP_WRITE_MORE);
  tern_tcp_output(c);
  assert_int_equal(tt_pending(&T), 0);
  tern_tcp_write(c, "n", 1, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  tt_pop(&T, &s);
  assert_int_equal(s.len, 2);
  end_all();
}

static void test_slow_start_abc(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss, sq[11];
  tern_tcp *c = estab(&iss, TO_MSS);
  send_ten(c, sq);
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  uint32_t cw = info.cwnd;
  ack(sq[2], 65535); /* two segments: +2 SMSS */
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.cwnd, cw + 2 * 1460);
  ack(sq[7], 65535); /* five at once: still at most L = 2 SMSS */
  tern_tcp_get_info(c, &info);
  assert_int_equal(info.cwnd, cw + 4 * 1460);
  end_all();
}

static void test_ooseq(void **state) {
  (void)state;
  tern_stack_opts o = {0};
  o.tcp_ooseq_max = 300;
  start(&o);
  uint32_t iss;
  estab(&iss, TO_MSS | TO_SACK);
  tseg s;
  /* beyond a hole: held, a quick ACK with a SACK block */
  tt_send(&T, 1101, iss + 1, TCP_ACK, 65535, NULL, big + 100, 200);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 1001);
  assert_int_equal(s.nsack, 1);
  assert_int_equal(s.sack[0][0], 1101);
  assert_int_equal(s.sack[0][1], 1301);
  assert_int_equal(R.rx_len, 0);
  /* more than tcp_ooseq_max: dropped */
  tt_send(&T, 1401, iss + 1, TCP_ACK, 65535, NULL, big + 400, 200);
  tt_pop(&T, &s);
  assert_int_equal(s.nsack, 1);
  /* a duplicate overlapping the held one */
  tt_send(&T, 1201, iss + 1, TCP_ACK, 65535, NULL, big + 200, 50);
  tt_pop(&T, &s);
  assert_int_equal(stats().tcp_ooseq, 3);
  /* the hole fills: both in order, an ACK at once */
  tt_send(&T, 1001, iss + 1, TCP_ACK, 65535, NULL, big, 100);
  assert_int_equal(R.rx_len, 300);
  assert_memory_equal(R.rx, big, 300);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 1301);
  assert_int_equal(s.nsack, 0);
  /* out of order with a FIN */
  tt_send(&T, 1351, iss + 1, TCP_ACK | TCP_FIN, 65535, NULL, big + 350, 50);
  tt_pop(&T, &s);
  assert_int_equal(R.n_fin, 0);
  tt_send(&T, 1301, iss + 1, TCP_ACK, 65535, NULL, big + 300, 50);
  assert_int_equal(R.rx_len, 400);
  assert_memory_equal(R.rx, big, 400);
  assert_int_equal(R.n_fin, 1);
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 1402);
  end_all();
}

/* data the app refuses (EAGAIN) stays, the window stays closed, and it
 * is offered again from the timer */
static void test_recv_eagain(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss;
  estab(&iss, TO_MSS);
  R.act_recv = ACT_EAGAIN;
  tt_send(&T, 1001, iss + 1, TCP_ACK | TCP_FIN, 65535, NULL, "abc", 3);
  assert_int_equal(R.rx_len, 0);
  assert_int_equal(R.n_fin, 0);
  tt_advance(&T, 300);
  assert_int_equal(R.rx_len, 0);
  R.act_recv = ACT_NONE;
  tt_advance(&T, 300);
  assert_int_equal(R.rx_len, 3);
  assert_int_equal(R.n_fin, 1);
  end_all();
}

/* RFC 3042: each of the first two duplicates lets a new segment out;
 * RFC 6675: SACK blocks on a segment carrying data count for loss
 * detection (bulk both ways has no pure duplicates). */
static void test_limited_transmit_sack_on_data(void **state) {
  (void)state;
  start(NULL);
  uint32_t iss, sq[11];
  tern_tcp *c = estab(&iss, TO_MSS | TO_SACK);
  send_ten(c, sq);
  tern_tcp_write(c, big, 3 * 1460, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  assert_int_equal(tt_pending(&T), 0); /* cwnd full */
  tseg s;
  ack(sq[1], 65535);
  tt_pop(&T, &s); /* the ACK grew cwnd (slow start): new data */
  tt_flush(&T);
  uint32_t b1[1][2] = {{sq[2], sq[3]}};
  ack_sack(sq[1], b1, 1);
  assert_int_equal(tt_pending(&T), 1); /* limited transmit */
  tt_flush(&T);
  /* the peer's data carries the SACK blocks: #1 is lost */
  uint32_t b2[1][2] = {{sq[2], sq[6]}};
  topts o = {0};
  to_sack(&o, b2, 1);
  tt_send(&T, 1001, sq[1], TCP_ACK, 65535, &o, "data", 4);
  assert_int_equal(R.rx_len, 4);
  bool resent = false;
  while (tt_try_pop(&T, &s))
    if (s.seq == sq[1] && s.len == 1460) resent = true;
  assert_true(resent);
  assert_int_equal(stats().tcp_fast_retrans, 1);
  end_all();
}

/* TSO: one super-segment entry; SACK blocks split it so only the hole is
 * resent, one MSS at a time. */
static void test_tso_sack_split(void **state) {
  (void)state;
  memset(&R, 0, sizeof R);
  tt_init_opts(&T, NULL, TERN_NETIF_TX_CSUM | TERN_NETIF_TSO);
  uint32_t iss;
  tern_tcp *c = estab(&iss, TO_MSS | TO_SACK | TO_WS);
  ack(iss + 1, 65535);
  tern_tcp_write(c, big, 10 * 1460, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  tseg s;
  tt_pop(&T, &s);
  assert_int_equal(s.len, 10 * 1460);
  assert_int_equal(T.last_meta.gso_mss, 1460);
  uint32_t b = iss + 1;
  /* #0 and #1 lost, #2..#9 arrived */
  uint32_t blk[1][2] = {{b + 2 * 1460, b + 10 * 1460}};
  ack_sack(b, blk, 1);
  tt_pop(&T, &s);
  assert_int_equal(s.seq, b);
  assert_int_equal(s.len, 1460);
  assert_int_equal(tt_pending(&T), 0);
  ack_sack(b + 1460, blk, 1); /* partial ACK: the next MSS of the hole */
  tt_pop(&T, &s);
  assert_int_equal(s.seq, b + 1460);
  assert_int_equal(s.len, 1460);
  assert_memory_equal(s.data, big + 1460, 1460);
  assert_int_equal(tt_pending(&T), 0);
  ack(b + 10 * 1460, 65535);
  assert_int_equal(R.sent_bytes, 10 * 1460);
  assert_int_equal(tern_tcp_queued(c), 0);
  end_all();
}

/* Zero-copy writes (views of caller memory) and data written before the
 * handshake completes. */
static void test_write_view_early(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *c = tern_tcp_new(T.st);
  tern_tcp_set_callbacks(c, &rec_cbs, &R);
  tern_addr to;
  ip_addr_to(TT_PEER, T.pport, &to);
  assert_int_equal(tern_tcp_write(c, big, 10, 0), TERN_ENOTCONN);
  assert_int_equal(tern_tcp_connect(c, &to), TERN_OK);
  assert_int_equal(tern_tcp_write(c, big, 3000, 0), 3000); /* no COPY */
  assert_int_equal(tern_tcp_write(c, big + 3000, 100, TERN_TCP_WRITE_COPY),
                   100);
  tseg s;
  tt_pop(&T, &s);
  assert_int_equal(s.flags, TCP_SYN);
  assert_int_equal(tt_pending(&T), 0); /* data waits for the handshake */
  T.lport = s.sport;
  uint32_t iss = s.seq;
  topts o = {0};
  to_mss(&o, 1000);
  tt_send(&T, 70, iss + 1, TCP_SYN | TCP_ACK, 65535, &o, NULL, 0);
  tt_pop(&T, &s); /* the ACK */
  assert_int_equal(s.len, 0);
  uint32_t got = 0;
  while (tt_try_pop(&T, &s)) {
    assert_true(s.len <= 1000);
    assert_memory_equal(s.data, big + got, s.len);
    got += s.len;
  }
  /* the last piece is less than an MSS: Nagle holds it for the ACK */
  assert_true(got >= 2000 && got < 3100);
  tt_send(&T, 71, iss + 1 + got, TCP_ACK, 65535, NULL, NULL, 0);
  tt_pop(&T, &s);
  assert_int_equal(s.len, 3100 - got);
  assert_memory_equal(s.data, big + got, s.len);
  tt_send(&T, 71, iss + 1 + 3100, TCP_ACK, 65535, NULL, NULL, 0);
  assert_int_equal(R.sent_bytes, 3100);
  assert_int_equal(tern_tcp_queued(c), 0);
  tern_tcp_abort(c);
  tt_flush(&T);
  tt_check_empty(&T);
  end_all();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rto_backoff_karn),
      cmocka_unit_test(test_rto_gives_up),
      cmocka_unit_test(test_rto_initial),
      cmocka_unit_test(test_fast_retransmit_newreno),
      cmocka_unit_test(test_sack_only_holes),
      cmocka_unit_test(test_zero_window_probe),
      cmocka_unit_test(test_window_update),
      cmocka_unit_test(test_keepalive),
      cmocka_unit_test(test_nagle),
      cmocka_unit_test(test_slow_start_abc),
      cmocka_unit_test(test_ooseq),
      cmocka_unit_test(test_recv_eagain),
      cmocka_unit_test(test_write_view_early),
      cmocka_unit_test(test_limited_transmit_sack_on_data),
      cmocka_unit_test(test_tso_sack_split),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
