/* test_tcp_cb.c: the callback contract of tern/ip.h: close and abort from
 * inside every callback type are safe and end the callbacks; err is last;
 * a refused accept aborts silently; SYN cookies when the half-open
 * backlog is full; allocation failure at every point of a handshake and
 * a small transfer (nothing crashes, leaks or wedges); the pcb footprint.
 */
#include "ip/test_tcp_helper.h"

static tt T;
static rec R;

static void start(const tern_stack_opts *o) {
  memset(&R, 0, sizeof R);
  tt_init_opts(&T, o, 0);
}

static tern_stack_stats stats(void) {
  tern_stack_stats s;
  tern_stack_get_stats(T.st, &s);
  return s;
}

/* Everything ends: the listener closed, timers run out, pools empty. */
static void finish(tern_tcp *l) {
  if (l) assert_int_equal(tern_tcp_close(l), TERN_OK);
  for (int i = 0; i < 2400 && stats().tcp_pcbs; i++) tt_advance(&T, 500);
  assert_int_equal(stats().tcp_pcbs, 0);
  tt_flush(&T);
  tt_check_empty(&T);
  tt_done(&T);
}

static tern_tcp *estab(tern_tcp **l, uint32_t *iss) {
  *l = tt_listen(&T, &R);
  tseg s;
  tern_tcp *c = tt_passive(&T, &R, 1000, TO_MSS, iss, &s);
  tern_tcp_set_callbacks(c, &rec_cbs, &R);
  return c;
}

static void test_close_in_recv(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *l;
  uint32_t iss;
  estab(&l, &iss);
  R.act_recv = ACT_CLOSE;
  tt_send(&T, 1001, iss + 1, TCP_ACK, 65535, NULL, "hi", 2);
  assert_int_equal(R.n_recv, 1);
  tseg s;
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_FIN);
  assert_int_equal(s.ack, 1003);
  /* nothing reaches the user any more; late data earns a RST */
  tt_send(&T, 1003, iss + 2, TCP_ACK, 65535, NULL, "more", 4);
  assert_int_equal(R.n_recv, 1);
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_RST);
  assert_int_equal(R.n_err, 0);
  finish(l);
}

static void test_abort_in_recv(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *l;
  uint32_t iss;
  estab(&l, &iss);
  R.act_recv = ACT_ABORT;
  /* data and FIN in one segment: recv aborts, no recv(NULL) follows */
  tt_send(&T, 1001, iss + 1, TCP_ACK | TCP_FIN, 65535, NULL, "hi", 2);
  assert_int_equal(R.n_recv, 1);
  assert_int_equal(R.n_fin, 0);
  tseg s;
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_RST);
  assert_int_equal(stats().tcp_pcbs, 1);
  assert_int_equal(R.n_err, 0);
  finish(l);
}

static void test_close_in_fin(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *l;
  uint32_t iss;
  estab(&l, &iss);
  R.act_recv = ACT_CLOSE;
  tt_send(&T, 1001, iss + 1, TCP_ACK | TCP_FIN, 65535, NULL, NULL, 0);
  assert_int_equal(R.n_fin, 1);
  tseg s;
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_FIN);
  assert_int_equal(s.ack, 1002);
  tt_send(&T, 1002, iss + 2, TCP_ACK, 65535, NULL, NULL, 0);
  assert_int_equal(stats().tcp_pcbs, 1);
  finish(l);
}

static void test_abort_in_sent(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *l;
  uint32_t iss;
  tern_tcp *c = estab(&l, &iss);
  R.act_sent = ACT_ABORT;
  tern_tcp_write(c, "abc", 3, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  tseg s;
  tt_pop(&T, &s);
  tt_send(&T, 1001, iss + 4, TCP_ACK, 65535, NULL, "x", 1);
  assert_int_equal(R.n_sent, 1);
  assert_int_equal(R.n_recv, 0); /* aborted before the data */
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_RST);
  finish(l);
}

static void test_close_in_sent(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *l;
  uint32_t iss;
  tern_tcp *c = estab(&l, &iss);
  R.act_sent = ACT_CLOSE;
  tern_tcp_write(c, "abc", 3, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  tseg s;
  tt_pop(&T, &s);
  tt_send(&T, 1001, iss + 4, TCP_ACK, 65535, NULL, NULL, 0);
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_FIN);
  tt_send(&T, 1001, iss + 5, TCP_ACK | TCP_FIN, 65535, NULL, NULL, 0);
  assert_int_equal(R.n_fin, 0); /* closed: no recv(NULL) */
  tt_pop(&T, &s);
  assert_int_equal(s.ack, 1002);
  finish(l);
}

static void test_poll_close_abort(void **state) {
  (void)state;
  for (int act = ACT_CLOSE; act <= ACT_ABORT; act++) {
    start(NULL);
    tern_tcp *l;
    uint32_t iss;
    tern_tcp *c = estab(&l, &iss);
    tern_tcp_set_poll(c, 500);
    tt_advance(&T, 500);
    assert_int_equal(R.n_poll, 1);
    R.act_poll = act;
    tt_advance(&T, 500);
    assert_int_equal(R.n_poll, 2);
    tt_advance(&T, 5000);
    assert_int_equal(R.n_poll, 2);
    tseg s;
    tt_pop(&T, &s);
    assert_true(s.flags & (act == ACT_CLOSE ? TCP_FIN : TCP_RST));
    finish(l);
  }
}

static void test_connected_close_abort(void **state) {
  (void)state;
  for (int act = ACT_CLOSE; act <= ACT_ABORT; act++) {
    start(NULL);
    R.act_conn = act;
    uint32_t iss;
    tseg s;
    tt_active(&T, &R, 9000, TO_MSS, &iss, &s);
    assert_int_equal(R.n_conn, 1);
    tt_pop(&T, &s);
    assert_int_equal(s.flags, TCP_ACK); /* the handshake's third */
    tt_pop(&T, &s);
    if (act == ACT_ABORT) {
      assert_true(s.flags & TCP_RST);
    } else {
      assert_true(s.flags & (TCP_ACK | TCP_FIN));
      if (!(s.flags & TCP_FIN)) tt_pop(&T, &s);
      assert_true(s.flags & TCP_FIN);
    }
    assert_int_equal(R.n_err, 0);
    finish(NULL);
  }
}

static void test_accept_variants(void **state) {
  (void)state;
  static const int acts[] = {ACT_REJECT, ACT_ABORT, ACT_CLOSE};
  for (int i = 0; i < 3; i++) {
    start(NULL);
    R.act_accept = acts[i];
    tern_tcp *l = tt_listen(&T, &R);
    uint32_t iss;
    tseg s;
    tt_passive(&T, &R, 1000, TO_MSS, &iss, &s);
    tt_pop(&T, &s);
    if (acts[i] == ACT_CLOSE) {
      assert_true(s.flags & TCP_FIN);
      assert_int_equal(stats().tcp_pcbs, 2);
    } else {
      assert_true(s.flags & TCP_RST);
      assert_int_equal(stats().tcp_pcbs, 1);
    }
    assert_int_equal(R.n_err, 0);
    finish(l);
  }
}

/* The listener closed from inside its own accept. */
static int close_listener_accept(void *arg, tern_tcp *pcb) {
  rec *r = arg;
  r->n_accept++;
  r->accepted = pcb;
  tern_tcp_set_callbacks(pcb, &rec_cbs, r);
  assert_int_equal(tern_tcp_close(r->pcb), TERN_OK);
  return TERN_OK;
}

static void test_close_listener_in_accept(void **state) {
  (void)state;
  start(NULL);
  static const tern_tcp_cbs lc = {.accept = close_listener_accept};
  tern_tcp *l = tt_listen(&T, &R);
  tern_tcp_set_callbacks(l, &lc, &R);
  R.pcb = l;
  /* a second half-open child is aborted with the listener */
  T.pport = 40001;
  tt_send(&T, 5000, 0, TCP_SYN, 65535, NULL, NULL, 0);
  tseg s2;
  tt_pop(&T, &s2);
  T.pport = 40000;
  uint32_t iss;
  tseg s;
  tern_tcp *c = tt_passive(&T, &R, 1000, TO_MSS, &iss, &s);
  assert_non_null(c);
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_ESTABLISHED);
  assert_int_equal(stats().tcp_pcbs, 1); /* listener and half-open gone */
  tt_pop(&T, &s);
  assert_true(s.flags & TCP_RST); /* to the half-open one */
  assert_int_equal(s.dport, 40001);
  tern_tcp_abort(c);
  finish(NULL);
}

/* Peer resets: err is the last callback, after it nothing */
static void test_err_is_last(void **state) {
  (void)state;
  start(NULL);
  tern_tcp *l;
  uint32_t iss;
  estab(&l, &iss);
  tern_tcp_set_poll(R.accepted, 100);
  tt_send(&T, 1001, iss + 1, TCP_RST, 0, NULL, NULL, 0);
  assert_int_equal(R.n_err, 1);
  int polls = R.n_poll;
  tt_advance(&T, 10000);
  assert_int_equal(R.n_poll, polls);
  finish(l);
}

/* RFC 4987 3.6: beyond tcp_syn_backlog half-open, SYN cookies */
static void test_syn_cookies(void **state) {
  (void)state;
  tern_stack_opts o = {0};
  o.tcp_syn_backlog = 2;
  start(&o);
  tern_tcp *l = tt_listen(&T, &R);
  tseg s;
  topts so;
  syn_opts(&so, TO_ALL, 777);
  for (int i = 0; i < 2; i++) {
    T.pport = (uint16_t)(42000 + i);
    tt_send(&T, 100, 0, TCP_SYN, 65535, &so, NULL, 0);
    tt_pop(&T, &s);
  }
  assert_int_equal(stats().tcp_pcbs, 3);
  T.pport = 42010;
  tt_send(&T, 5000, 0, TCP_SYN, 65535, &so, NULL, 0);
  tt_pop(&T, &s);
  assert_int_equal(s.flags, TCP_SYN | TCP_ACK);
  assert_int_equal(s.ack, 5001);
  assert_int_equal(s.mss, 1460);
  assert_true(s.ts && s.sackok && s.ws == 7);
  assert_int_equal(stats().tcp_syn_cookies, 1);
  assert_int_equal(stats().tcp_pcbs, 3); /* no state kept */
  uint32_t cookie = s.seq;
  /* a forged ACK: RST, no connection */
  topts a = {0};
  to_ts(&a, 778, s.tsval);
  tt_send(&T, 5001, cookie + 2, TCP_ACK, 1000, &a, NULL, 0);
  tseg r;
  tt_pop(&T, &r);
  assert_true(r.flags & TCP_RST);
  assert_int_equal(R.n_accept, 0);
  /* the real one, with data: accepted, options from the timestamp */
  tt_advance(&T, 100);
  tt_send(&T, 5001, cookie + 1, TCP_ACK, 1000, &a, "data", 4);
  assert_int_equal(R.n_accept, 1);
  tern_tcp *c = R.accepted;
  assert_int_equal(tern_tcp_get_state(c), TERN_TCP_ESTABLISHED);
  tern_tcp_info info;
  tern_tcp_get_info(c, &info);
  assert_true(info.ts_on && info.sack_on);
  assert_int_equal(info.snd_wscale, 2);
  assert_int_equal(info.snd_wnd, 4000);
  assert_int_equal(info.mss, 1460 - 12);
  assert_int_equal(R.rx_len, 4);
  tern_tcp_write(c, "resp", 4, TERN_TCP_WRITE_COPY);
  tern_tcp_output(c);
  do /* a window update first: 64 KiB announced, 256 KiB free */
    tt_pop(&T, &r);
  while (r.len == 0);
  assert_int_equal(r.seq, cookie + 1);
  assert_int_equal(r.ack, 5005);
  assert_int_equal(r.len, 4);
  /* an old cookie (3 periods later) is refused */
  T.pport = 42011;
  tt_send(&T, 9000, 0, TCP_SYN, 65535, &so, NULL, 0);
  tt_pop(&T, &s);
  tt_advance(&T, 4 * 64000);
  tt_flush(&T);
  tt_send(&T, 9001, s.seq + 1, TCP_ACK, 1000, NULL, NULL, 0);
  assert_int_equal(R.n_accept, 1);
  tern_tcp_abort(c);
  finish(l);
}

/* Fail the Nth allocation (once, or from then on) during a handshake and a
 * small transfer both ways; then the peer keeps retrying for a while. */
static void alloc_run(uint64_t nth, bool sticky) {
  start(NULL);
  tern_tcp *l = tt_listen(&T, &R);
  tern_stack_fail_alloc(T.st, nth, sticky);
  uint32_t iss = 0;
  topts so;
  syn_opts(&so, TO_ALL, 100);
  tseg s;
  for (int tries = 0; tries < 4 && R.n_accept == 0; tries++) {
    tt_send(&T, 1000, 0, TCP_SYN, 65535, &so, NULL, 0);
    while (tt_try_pop(&T, &s))
      if (s.flags == (TCP_SYN | TCP_ACK)) iss = s.seq;
    if (iss) tt_send(&T, 1001, iss + 1, TCP_ACK, 65535, NULL, NULL, 0);
    tt_advance(&T, 1000);
  }
  tern_tcp *c = R.n_accept && !R.n_err ? R.accepted : NULL;
  if (c) {
    tern_tcp_set_callbacks(c, &rec_cbs, &R);
    long w = tern_tcp_write(c, "abcdef", 6, TERN_TCP_WRITE_COPY);
    assert_true(w >= 0 && w <= 6);
    tern_tcp_output(c);
    for (int i = 0; i < 5; i++) {
      tt_send(&T, 1001, iss + 1, TCP_ACK | TCP_PSH, 65535, NULL, "xyz", 3);
      tt_advance(&T, 300);
    }
    if (R.n_err == 0) assert_int_equal(tern_tcp_close(c), TERN_OK);
  }
  tern_stack_fail_alloc(T.st, 0, false);
  finish(l);
  assert_int_equal(T.st, NULL);
}

static void test_alloc_failures(void **state) {
  (void)state;
  for (uint64_t n = 1; n <= 40; n++) {
    alloc_run(n, false);
    alloc_run(n, true);
  }
}

static void test_sizeof(void **state) {
  (void)state;
  printf("sizeof(struct tern_tcp) = %zu bytes on this host (<= 156 "
         "enforced on 32-bit targets)\n", sizeof(struct tern_tcp));
  assert_true(sizeof(struct tern_tcp) <= 256);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_close_in_recv),
      cmocka_unit_test(test_abort_in_recv),
      cmocka_unit_test(test_close_in_fin),
      cmocka_unit_test(test_abort_in_sent),
      cmocka_unit_test(test_close_in_sent),
      cmocka_unit_test(test_poll_close_abort),
      cmocka_unit_test(test_connected_close_abort),
      cmocka_unit_test(test_accept_variants),
      cmocka_unit_test(test_close_listener_in_accept),
      cmocka_unit_test(test_err_is_last),
      cmocka_unit_test(test_syn_cookies),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_sizeof),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
