/* test_netconn.c: netconn over two stacks on the in-memory wire, both
 * driven by one tcpip thread, in both threading modes (message passing
 * and core locking): blocking echo with a hash of every byte in both
 * directions at once (full duplex: a reader thread and a writer thread on
 * one connection), accept/connect, receive timeout, non-blocking EAGAIN,
 * close from a third thread waking a blocked reader and a blocked writer,
 * a reset waking a blocked reader with the error, a receive mailbox of 2
 * under a 1 MB transfer (acknowledged data is held in the stack, never
 * dropped), UDP, and 8 threads x 200 request/response operations.
 * ASan/LSan check that every netconn, netbuf and message is freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "api/api_internal.h" /* to see that threads are blocked */
#include "api/harness.h"

static void nap(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static tern_netconn *listen_on(tern_tcpip *t, const char *ip, uint16_t port) {
  tern_netconn *l;
  assert_int_equal(tern_netconn_new(&l, t, TERN_NETCONN_TCP), 0);
  tern_addr a = h_addr(ip, port);
  assert_int_equal(tern_netconn_bind(l, &a), 0);
  assert_int_equal(tern_netconn_listen(l, 16), 0);
  return l;
}

static tern_netconn *connect_to(tern_tcpip *t, const char *ip, uint16_t port) {
  tern_netconn *c;
  assert_int_equal(tern_netconn_new(&c, t, TERN_NETCONN_TCP), 0);
  tern_addr a = h_addr(ip, port);
  assert_int_equal(tern_netconn_connect(c, &a), 0);
  return c;
}

/* A connected pair: client on a, server side on b. */
static void pair_up(net2 *n, uint16_t port, tern_netconn **cl,
                    tern_netconn **sv) {
  tern_netconn *l = listen_on(n->tb, "10.9.0.2", port);
  *cl = connect_to(n->ta, "10.9.0.2", port);
  assert_int_equal(tern_netconn_accept(l, sv), 0);
  assert_int_equal(tern_netconn_close(l), 0);
}

/* ---- echo, full duplex ---- */

typedef struct echo_arg {
  tern_netconn *nc;
  uint64_t total, hash;
  int err;
} echo_arg;

static void echo_server(void *arg) {
  echo_arg *e = arg;
  tern_netbuf *nb;
  while ((e->err = tern_netconn_recv(e->nc, &nb)) == 0) {
    do {
      void *d;
      size_t len;
      tern_netbuf_data(nb, &d, &len);
      size_t w;
      assert_int_equal(tern_netconn_write(e->nc, d, len, TERN_NETCONN_COPY, &w),
                       0);
      assert_int_equal(w, len);
      e->total += len;
    } while (tern_netbuf_next(nb));
    tern_netbuf_free(nb);
  }
  tern_netconn_shutdown(e->nc, false, true);
}

static void reader(void *arg) {
  echo_arg *e = arg;
  tern_netbuf *nb;
  e->hash = H_FNV0;
  while ((e->err = tern_netconn_recv(e->nc, &nb)) == 0) {
    tern_netbuf_first(nb);
    do {
      void *d;
      size_t len;
      tern_netbuf_data(nb, &d, &len);
      e->hash = h_fnv(e->hash, d, len);
      e->total += len;
    } while (tern_netbuf_next(nb));
    tern_netbuf_free(nb);
  }
}

static void run_echo(tern_tcpip_mode mode) {
  net2 n;
  net2_up(&n, mode, 32768);
  tern_netconn *cl, *sv;
  pair_up(&n, 7, &cl, &sv);
  echo_arg se = {.nc = sv}, re = {.nc = cl};
  tern_thread *ts, *tr;
  assert_int_equal(tern_thread_new(&ts, "echo", echo_server, &se), 0);
  assert_int_equal(tern_thread_new(&tr, "reader", reader, &re), 0);
  const size_t total = 1u << 20;
  uint8_t *buf = malloc(total);
  for (size_t i = 0; i < total; i++) buf[i] = h_pat(i);
  uint64_t want = h_fnv(H_FNV0, buf, total);
  for (size_t off = 0; off < total; off += 7001) {
    size_t len = total - off < 7001 ? total - off : 7001, w;
    assert_int_equal(tern_netconn_write(cl, buf + off, len, 0, &w), 0);
    assert_int_equal(w, len);
  }
  assert_int_equal(tern_netconn_shutdown(cl, false, true), 0);
  tern_thread_join(tr);
  tern_thread_join(ts);
  assert_int_equal(se.total, total);
  assert_int_equal(re.total, total);
  assert_true(re.hash == want);
  assert_int_equal(re.err, TERN_ECLOSED);
  assert_int_equal(tern_netconn_close(cl), 0);
  assert_int_equal(tern_netconn_close(sv), 0);
  free(buf);
  net2_down(&n);
}

static void test_echo_msg(void **s) { (void)s; run_echo(TERN_TCPIP_MSG); }
static void test_echo_lock(void **s) { (void)s; run_echo(TERN_TCPIP_CORE_LOCK); }

/* ---- timeouts, non-blocking, errors ---- */

static void test_timeout_nonblock(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  tern_netconn *cl, *sv, *x;
  tern_netbuf *nb;
  pair_up(&n, 8, &cl, &sv);
  tern_netconn_set_recvtimeout(cl, 60);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_netconn_recv(cl, &nb), TERN_ETIMEDOUT);
  assert_true(tern_clock_ms() - t0 >= 60);
  tern_netconn_set_nonblocking(cl, true);
  assert_int_equal(tern_netconn_recv(cl, &nb), TERN_EAGAIN);
  /* the send buffer fills: a non-blocking write stops with a partial
   * count, then EAGAIN */
  static uint8_t big[65536];
  size_t w = 0;
  int err = tern_netconn_write(cl, big, sizeof big, 0, &w);
  assert_int_equal(err, 0);
  assert_true(w < sizeof big);
  assert_int_equal(tern_netconn_write(cl, big, sizeof big, 0, &w),
                   TERN_EAGAIN);
  assert_int_equal(w, 0);
  /* a listener with nothing pending */
  tern_netconn *l = listen_on(n.tb, "10.9.0.2", 9);
  tern_netconn_set_nonblocking(l, true);
  assert_int_equal(tern_netconn_accept(l, &x), TERN_EAGAIN);
  tern_netconn_set_nonblocking(l, false);
  tern_netconn_set_recvtimeout(l, 30);
  assert_int_equal(tern_netconn_accept(l, &x), TERN_ETIMEDOUT);
  /* errors */
  assert_int_equal(tern_netconn_recv(l, &nb), TERN_EINVAL);
  assert_int_equal(tern_netconn_listen(cl, 1) != 0, 1);
  tern_netconn *u;
  assert_int_equal(tern_netconn_new(&u, n.ta, TERN_NETCONN_UDP), 0);
  assert_int_equal(tern_netconn_write(u, "x", 1, 0, NULL), TERN_ENOTSUP);
  assert_int_equal(tern_netconn_close(u), 0);
  /* refused connection */
  tern_netconn *c2;
  assert_int_equal(tern_netconn_new(&c2, n.ta, TERN_NETCONN_TCP), 0);
  tern_addr nowhere = h_addr("10.9.0.2", 4444);
  assert_int_equal(tern_netconn_connect(c2, &nowhere), TERN_ECONNREFUSED);
  assert_int_equal(tern_netconn_close(c2), 0);
  assert_int_equal(tern_netconn_close(l), 0);
  assert_int_equal(tern_netconn_close(cl), 0);
  assert_int_equal(tern_netconn_close(sv), 0);
  net2_down(&n);
}

/* ---- close from a third thread wakes a reader and a writer ---- */

typedef struct blocked {
  tern_netconn *nc;
  int err;
  bool write;
} blocked;

static void block_in(void *arg) {
  blocked *b = arg;
  static uint8_t big[1 << 20];
  tern_netbuf *nb;
  if (b->write)
    b->err = tern_netconn_write(b->nc, big, sizeof big, 0, NULL);
  else
    b->err = tern_netconn_recv(b->nc, &nb);
}

static void run_close_wakes(tern_tcpip_mode mode) {
  net2 n;
  net2_up(&n, mode, 16384);
  tern_netconn *cl, *sv;
  pair_up(&n, 10, &cl, &sv);
  blocked r = {.nc = cl}, w = {.nc = cl, .write = true};
  tern_thread *tr, *tw;
  assert_int_equal(tern_thread_new(&tr, "r", block_in, &r), 0);
  assert_int_equal(tern_thread_new(&tw, "w", block_in, &w), 0);
  /* close only once both are inside (after close returns, cl is gone:
   * a call that starts later would use freed memory, as with any free) */
  for (bool in = false; !in; nap(1)) {
    tern_mutex_lock(cl->m);
    in = cl->rx_waiters == 1 && cl->tx_waiters == 1;
    tern_mutex_unlock(cl->m);
  }
  assert_int_equal(tern_netconn_close(cl), 0);
  tern_thread_join(tr);
  tern_thread_join(tw);
  assert_int_equal(r.err, TERN_ECLOSED);
  assert_int_equal(w.err, TERN_ECLOSED);
  /* the peer's reader meets a reset (unread data) or the end */
  tern_netconn_close(sv);
  net2_down(&n);
}

static void test_close_wakes_msg(void **s) {
  (void)s;
  run_close_wakes(TERN_TCPIP_MSG);
}
static void test_close_wakes_lock(void **s) {
  (void)s;
  run_close_wakes(TERN_TCPIP_CORE_LOCK);
}

/* The peer resets: a blocked reader gets the error. */
static void test_reset_wakes(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  tern_netconn *cl, *sv;
  pair_up(&n, 11, &cl, &sv);
  /* sv gets unread data, so its close is a RST */
  assert_int_equal(tern_netconn_write(cl, "abc", 3, 0, NULL), 0);
  while (tern_netconn_rx_count(sv) == 0) nap(1);
  blocked r = {.nc = cl};
  tern_thread *tr;
  assert_int_equal(tern_thread_new(&tr, "r", block_in, &r), 0);
  nap(50);
  assert_int_equal(tern_netconn_close(sv), 0);
  tern_thread_join(tr);
  assert_int_equal(r.err, TERN_ECONNRESET);
  assert_int_equal(tern_netconn_err(cl, false), TERN_ECONNRESET);
  assert_int_equal(tern_netconn_write(cl, "x", 1, 0, NULL), TERN_ECONNRESET);
  assert_int_equal(tern_netconn_close(cl), 0);
  net2_down(&n);
}

/* ---- a receive mailbox of 2 under 1 MB: nothing lost ---- */

typedef struct writer_arg {
  tern_netconn *nc;
  const uint8_t *buf;
  size_t total;
  int err;
} writer_arg;

static void writer(void *arg) {
  writer_arg *w = arg;
  for (size_t off = 0; off < w->total && !w->err; off += 1000) {
    size_t len = w->total - off < 1000 ? w->total - off : 1000;
    w->err = tern_netconn_write(w->nc, w->buf + off, len, 0, NULL);
  }
  if (!w->err) w->err = tern_netconn_shutdown(w->nc, false, true);
}

static void test_mailbox_full(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_CORE_LOCK, 65536);
  tern_netconn *cl, *sv;
  pair_up(&n, 12, &cl, &sv);
  tern_netconn_set_recv_max(sv, 2);
  echo_arg re = {.nc = sv};
  const size_t total = 1u << 20;
  uint8_t *buf = malloc(total);
  for (size_t i = 0; i < total; i++) buf[i] = h_pat(i * 3);
  uint64_t want = h_fnv(H_FNV0, buf, total);
  writer_arg wa = {.nc = cl, .buf = buf, .total = total};
  tern_thread *tw, *tr;
  assert_int_equal(tern_thread_new(&tw, "w", writer, &wa), 0);
  /* nobody reads: the box fills up, the rest waits in the stack and the
   * window closes; the writer blocks */
  for (int i = 0; i < 5000 && (tern_netconn_rx_count(sv) != 2 ||
                                tern_netconn_sndbuf(cl) != 0); i++)
    nap(1);
  nap(50); /* and it stays so: nothing is dropped to make room */
  assert_int_equal(tern_netconn_rx_count(sv), 2);
  assert_int_equal(tern_netconn_sndbuf(cl), 0);
  assert_int_equal(tern_thread_new(&tr, "r", reader, &re), 0);
  tern_thread_join(tw);
  tern_thread_join(tr);
  assert_int_equal(wa.err, 0);
  assert_int_equal(re.total, total);
  assert_true(re.hash == want);
  assert_int_equal(tern_netconn_close(cl), 0);
  assert_int_equal(tern_netconn_close(sv), 0);
  free(buf);
  net2_down(&n);
}

/* ---- UDP ---- */

static void test_udp(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  tern_netconn *ua, *ub;
  assert_int_equal(tern_netconn_new(&ua, n.ta, TERN_NETCONN_UDP), 0);
  assert_int_equal(tern_netconn_new(&ub, n.tb, TERN_NETCONN_UDP), 0);
  tern_addr la = h_addr("0.0.0.0", 5000), lb = h_addr("0.0.0.0", 5001);
  assert_int_equal(tern_netconn_bind(ua, &la), 0);
  assert_int_equal(tern_netconn_bind(ub, &lb), 0);
  tern_addr to = h_addr("10.9.0.2", 5001);
  assert_int_equal(tern_netconn_sendto(ua, "hello", 5, &to), 0);
  tern_netbuf *nb;
  assert_int_equal(tern_netconn_recv(ub, &nb), 0);
  char got[16] = {0};
  assert_int_equal(tern_netbuf_copy(nb, 0, got, sizeof got), 5);
  assert_string_equal(got, "hello");
  assert_int_equal(tern_netbuf_from(nb)->port, 5000);
  /* reply to the sender through a connected netconn */
  assert_int_equal(tern_netconn_connect(ub, tern_netbuf_from(nb)), 0);
  tern_netbuf_free(nb);
  assert_int_equal(tern_netconn_send(ub, "world!", 6), 0);
  assert_int_equal(tern_netconn_recv(ua, &nb), 0);
  assert_int_equal(tern_netbuf_len(nb), 6);
  tern_netbuf_free(nb);
  tern_addr me;
  assert_int_equal(tern_netconn_getaddr(ua, &me, true), 0);
  assert_int_equal(me.port, 5000);
  tern_netconn_set_recvtimeout(ua, 20);
  assert_int_equal(tern_netconn_recv(ua, &nb), TERN_ETIMEDOUT);
  assert_int_equal(tern_netconn_close(ua), 0);
  assert_int_equal(tern_netconn_close(ub), 0);
  assert_int_equal(h_pcbs(n.ta), 0);
  net2_down(&n);
}

/* ---- contention: 8 threads x 200 request/response ---- */

#define NTHR 8
#define NOPS 200

typedef struct worker {
  net2 *n;
  int id, fails;
  tern_netconn *sv;
} worker;

static void small_echo(void *arg) {
  worker *w = arg;
  tern_netbuf *nb;
  while (tern_netconn_recv(w->sv, &nb) == 0) {
    uint8_t b[64];
    size_t len = tern_netbuf_copy(nb, 0, b, sizeof b);
    tern_netbuf_free(nb);
    if (tern_netconn_write(w->sv, b, len, 0, NULL)) break;
  }
}

static void client(void *arg) {
  worker *w = arg;
  tern_netconn *c;
  tern_addr a = h_addr("10.9.0.2", 20);
  if (tern_netconn_new(&c, w->n->ta, TERN_NETCONN_TCP) ||
      tern_netconn_connect(c, &a)) {
    w->fails = NOPS;
    return;
  }
  for (int i = 0; i < NOPS; i++) {
    uint8_t q[8] = {(uint8_t)w->id, (uint8_t)i, 1, 2, 3, 4, 5, 6}, r[8];
    size_t got = 0;
    if (tern_netconn_write(c, q, sizeof q, 0, NULL)) w->fails++;
    while (got < sizeof r) {
      tern_netbuf *nb;
      if (tern_netconn_recv(c, &nb)) break;
      got += tern_netbuf_copy(nb, 0, r + got, sizeof r - got);
      tern_netbuf_free(nb);
    }
    if (got != sizeof r || memcmp(q, r, sizeof q)) w->fails++;
  }
  tern_netconn_close(c);
}

static void run_contention(tern_tcpip_mode mode) {
  net2 n;
  net2_up(&n, mode, 16384);
  tern_netconn *l = listen_on(n.tb, "10.9.0.2", 20);
  worker w[NTHR];
  tern_thread *tc[NTHR], *ts[NTHR];
  for (int i = 0; i < NTHR; i++) {
    w[i] = (worker){.n = &n, .id = i};
    assert_int_equal(tern_thread_new(&tc[i], "c", client, &w[i]), 0);
  }
  for (int i = 0; i < NTHR; i++) {
    tern_netconn *sv;
    assert_int_equal(tern_netconn_accept(l, &sv), 0);
    worker *x = calloc(1, sizeof *x);
    x->sv = sv;
    w[i].sv = (tern_netconn *)x; /* keep for the free below */
    assert_int_equal(tern_thread_new(&ts[i], "s", small_echo, x), 0);
  }
  for (int i = 0; i < NTHR; i++) tern_thread_join(tc[i]);
  for (int i = 0; i < NTHR; i++) {
    tern_thread_join(ts[i]);
    worker *x = (worker *)w[i].sv;
    tern_netconn_close(x->sv);
    free(x);
    assert_int_equal(w[i].fails, 0);
  }
  assert_int_equal(tern_netconn_close(l), 0);
  net2_down(&n);
}

static void test_contention_msg(void **s) {
  (void)s;
  run_contention(TERN_TCPIP_MSG);
}
static void test_contention_lock(void **s) {
  (void)s;
  run_contention(TERN_TCPIP_CORE_LOCK);
}

/* ---- events ---- */

typedef struct evcount {
  int n[5];
} evcount;

static void on_ev(tern_netconn *nc, tern_netconn_evt e, size_t len, void *ud) {
  (void)nc;
  (void)len;
  evcount *c = ud;
  __atomic_fetch_add(&c->n[e], 1, __ATOMIC_SEQ_CST);
}

static void test_events(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  evcount ec = {{0}};
  tern_netconn *l;
  assert_int_equal(tern_netconn_new(&l, n.tb, TERN_NETCONN_TCP), 0);
  tern_netconn_set_event_fn(l, on_ev, &ec);
  tern_addr a = h_addr("10.9.0.2", 21);
  assert_int_equal(tern_netconn_bind(l, &a), 0);
  assert_int_equal(tern_netconn_listen(l, 4), 0);
  tern_netconn *cl = connect_to(n.ta, "10.9.0.2", 21), *sv;
  assert_int_equal(tern_netconn_accept(l, &sv), 0);
  assert_ptr_equal(tern_netconn_get_ud(sv), &ec); /* inherited */
  assert_int_equal(tern_netconn_write(cl, "hi", 2, 0, NULL), 0);
  tern_netbuf *nb;
  assert_int_equal(tern_netconn_recv(sv, &nb), 0);
  tern_netbuf_free(nb);
  assert_true(ec.n[TERN_NETCONN_EVT_RCVPLUS] >= 2);  /* connection + data */
  assert_true(ec.n[TERN_NETCONN_EVT_RCVMINUS] >= 2);
  assert_int_equal(tern_netconn_close(cl), 0);
  assert_int_equal(tern_netconn_close(sv), 0);
  assert_int_equal(tern_netconn_close(l), 0);
  net2_down(&n);
}

/* ---- linger on close ---- */

static void test_linger(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  tern_netconn *cl, *sv;
  static uint8_t big[65536];
  /* N > 0 and a peer that does not read: close waits N s, then gives up */
  pair_up(&n, 30, &cl, &sv);
  tern_netconn_set_recv_max(sv, 1);
  size_t w;
  tern_netconn_write(cl, big, sizeof big, TERN_NETCONN_DONTBLOCK, &w);
  assert_true(w > 0);
  tern_netconn_set_linger(cl, 1);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_netconn_close(cl), TERN_ETIMEDOUT);
  assert_true(tern_clock_ms() - t0 >= 1000);
  assert_int_equal(tern_netconn_close(sv), 0);
  /* N > 0 and a reader: close returns once all is acknowledged */
  pair_up(&n, 31, &cl, &sv);
  echo_arg re = {.nc = sv};
  tern_thread *tr;
  assert_int_equal(tern_thread_new(&tr, "r", reader, &re), 0);
  assert_int_equal(tern_netconn_write(cl, big, 40000, 0, NULL), 0);
  tern_netconn_set_linger(cl, 5);
  t0 = tern_clock_ms();
  assert_int_equal(tern_netconn_close(cl), 0);
  assert_true(tern_clock_ms() - t0 < 4000);
  tern_thread_join(tr);
  assert_int_equal(re.total, 40000);
  assert_int_equal(re.err, TERN_ECLOSED); /* FIN after the data */
  assert_int_equal(tern_netconn_close(sv), 0);
  /* 0: close resets; the peer's blocked reader sees it */
  pair_up(&n, 32, &cl, &sv);
  blocked r = {.nc = sv};
  assert_int_equal(tern_thread_new(&tr, "r", block_in, &r), 0);
  nap(30);
  tern_netconn_set_linger(cl, 0);
  assert_int_equal(tern_netconn_close(cl), 0);
  tern_thread_join(tr);
  assert_int_equal(r.err, TERN_ECONNRESET);
  assert_int_equal(tern_netconn_close(sv), 0);
  net2_down(&n);
}

/* ---- no-copy writes ---- */

static bool wait_unacked_zero(tern_netconn *nc, int ms) {
  for (int i = 0; i < ms / 5; i++) {
    long u = tern_netconn_unacked(nc);
    assert_true(u >= 0);
    if (u == 0) return true;
    nap(5);
  }
  return false;
}

/* The data leaves from the caller's memory: the reader's hash matches,
 * unacked() falls to 0, and then the buffer may change freely. A close
 * with no-copy data that the peer will not take gives up after the
 * linger time and resets, so the buffer can be freed at once: ASan would
 * report any later read of it by a retransmission. */
static void test_nocopy(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  tern_netconn *cl, *sv;
  pair_up(&n, 40, &cl, &sv);
  echo_arg re = {.nc = sv};
  tern_thread *tr;
  assert_int_equal(tern_thread_new(&tr, "r", reader, &re), 0);
  const size_t total = 300000;
  uint8_t *buf = malloc(total);
  for (size_t i = 0; i < total; i++) buf[i] = h_pat(i);
  uint64_t want = h_fnv(H_FNV0, buf, total);
  for (size_t off = 0; off < total; off += 5000) {
    size_t w;
    assert_int_equal(
        tern_netconn_write(cl, buf + off, 5000, TERN_NETCONN_NOCOPY, &w), 0);
    assert_int_equal(w, 5000);
  }
  assert_true(wait_unacked_zero(cl, 5000));
  memset(buf, 0xEE, total); /* ours again */
  assert_int_equal(tern_netconn_shutdown(cl, false, true), 0);
  tern_thread_join(tr);
  assert_int_equal(re.total, total);
  assert_true(re.hash == want);
  assert_int_equal(tern_netconn_close(cl), 0); /* nothing outstanding */
  assert_int_equal(tern_netconn_close(sv), 0);
  assert_int_equal(tern_netconn_unacked(NULL), TERN_EINVAL);

  /* a peer that does not read: close waits the linger time, resets */
  pair_up(&n, 41, &cl, &sv);
  tern_netconn_set_recv_max(sv, 1);
  size_t w;
  tern_netconn_write(cl, buf, 65536, TERN_NETCONN_NOCOPY | TERN_NETCONN_DONTBLOCK,
                     &w);
  assert_true(w > 0);
  nap(50);
  assert_true(tern_netconn_unacked(cl) > 0);
  tern_netconn_set_linger(cl, 1);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_netconn_close(cl), TERN_ETIMEDOUT);
  assert_true(tern_clock_ms() - t0 >= 1000);
  free(buf);
  /* the peer reads now: the window opens, and a connection still alive
   * would send from the freed buffer; this one was reset */
  echo_arg r2 = {.nc = sv};
  tern_netconn_set_recv_max(sv, 32);
  assert_int_equal(tern_thread_new(&tr, "r2", reader, &r2), 0);
  tern_thread_join(tr);
  assert_int_equal(r2.err, TERN_ECONNRESET);
  assert_true(r2.total < w);
  assert_int_equal(tern_netconn_close(sv), 0);
  net2_down(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echo_msg),
      cmocka_unit_test(test_echo_lock),
      cmocka_unit_test(test_timeout_nonblock),
      cmocka_unit_test(test_close_wakes_msg),
      cmocka_unit_test(test_close_wakes_lock),
      cmocka_unit_test(test_reset_wakes),
      cmocka_unit_test(test_mailbox_full),
      cmocka_unit_test(test_udp),
      cmocka_unit_test(test_contention_msg),
      cmocka_unit_test(test_contention_lock),
      cmocka_unit_test(test_events),
      cmocka_unit_test(test_linger),
      cmocka_unit_test(test_nocopy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
