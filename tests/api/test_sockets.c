/* test_sockets.c: the BSD-style sockets over two stacks on the in-memory
 * wire (one tcpip thread drives both): a blocking echo server with one
 * thread per client and four clients at once (hash of every byte), in both
 * threading modes; SO_RCVTIMEO; non-blocking accept/recv/connect through
 * fcntl and select + SO_ERROR; close from another thread waking a blocked
 * recv; end of stream; UDP sendto/recvfrom; select and poll over many
 * sockets; options; error cases (EBADF, ENOPROTOOPT, ECONNREFUSED ...). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <cmocka.h>

#include "api/harness.h"
#include "tern/sockets.h"

static void nap(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int listen_fd(tern_tcpip *t, uint16_t port) {
  int l = tern_socket(t, TERN_AF_INET, TERN_SOCK_STREAM, 0);
  assert_true(l >= 0);
  int one = 1;
  assert_int_equal(tern_sock_setsockopt(t, l, TERN_SOL_SOCKET,
                                        TERN_SO_REUSEADDR, &one, sizeof one),
                   0);
  tern_addr a = h_addr("10.9.0.2", port);
  assert_int_equal(tern_sock_bind(t, l, &a), 0);
  assert_int_equal(tern_sock_listen(t, l, 8), 0);
  return l;
}

static int connect_fd(tern_tcpip *t, uint16_t port) {
  int c = tern_socket(t, TERN_AF_INET, TERN_SOCK_STREAM, 0);
  assert_true(c >= 0);
  tern_addr a = h_addr("10.9.0.2", port);
  assert_int_equal(tern_sock_connect(t, c, &a), 0);
  return c;
}

/* ---- echo: one thread per client ---- */

typedef struct conn_arg {
  tern_tcpip *t;
  int fd;
  uint64_t bytes, hash;
  int id;
} conn_arg;

static void serve_client(void *arg) {
  conn_arg *c = arg;
  char buf[3000];
  long n;
  while ((n = tern_sock_recv(c->t, c->fd, buf, sizeof buf, 0)) > 0) {
    long off = 0;
    while (off < n) {
      long w = tern_sock_send(c->t, c->fd, buf + off, (size_t)(n - off), 0);
      if (w <= 0) return;
      off += w;
    }
    c->bytes += (uint64_t)n;
  }
  tern_sock_close(c->t, c->fd);
}

#define NCLIENTS 4
#define CLIENT_BYTES 200000

static void run_client(void *arg) {
  conn_arg *c = arg;
  c->fd = connect_fd(c->t, 7);
  uint8_t *out = malloc(CLIENT_BYTES), in[4096];
  for (size_t i = 0; i < CLIENT_BYTES; i++) out[i] = h_pat(i + (size_t)c->id);
  /* send all, then read all back: the echo's buffers plus the windows
   * hold it (the reader below would otherwise run in a second thread) */
  size_t sent = 0;
  c->hash = H_FNV0;
  while (sent < CLIENT_BYTES || c->bytes < CLIENT_BYTES) {
    if (sent < CLIENT_BYTES) {
      size_t len = CLIENT_BYTES - sent < 5000 ? CLIENT_BYTES - sent : 5000;
      long w = tern_sock_send(c->t, c->fd, out + sent, len, TERN_MSG_DONTWAIT);
      if (w > 0) sent += (size_t)w;
    }
    long n = tern_sock_recv(c->t, c->fd, in, sizeof in, TERN_MSG_DONTWAIT);
    if (n > 0) {
      c->hash = h_fnv(c->hash, in, (size_t)n);
      c->bytes += (uint64_t)n;
    } else if (n < 0 && tern_errno() == EAGAIN) {
      tern_fd_set r, w;
      tern_fd_zero(&r);
      tern_fd_zero(&w);
      tern_fd_set_add(c->fd, &r);
      if (sent < CLIENT_BYTES) tern_fd_set_add(c->fd, &w);
      tern_select(c->t, c->fd + 1, &r, &w, NULL, 1000);
    } else {
      break;
    }
  }
  if (c->hash != h_fnv(H_FNV0, out, CLIENT_BYTES)) c->bytes = 0;
  free(out);
  tern_sock_close(c->t, c->fd);
}

static void run_echo(tern_tcpip_mode mode) {
  net2 n;
  net2_up(&n, mode, 32768);
  int l = listen_fd(n.tb, 7);
  conn_arg cl[NCLIENTS], sv[NCLIENTS];
  tern_thread *tc[NCLIENTS], *ts[NCLIENTS];
  for (int i = 0; i < NCLIENTS; i++) {
    cl[i] = (conn_arg){.t = n.ta, .id = i};
    assert_int_equal(tern_thread_new(&tc[i], "cl", run_client, &cl[i]), 0);
  }
  for (int i = 0; i < NCLIENTS; i++) {
    tern_addr peer;
    int fd = tern_sock_accept(n.tb, l, &peer);
    assert_true(fd >= 0);
    assert_int_equal(peer.port != 0, 1);
    sv[i] = (conn_arg){.t = n.tb, .fd = fd};
    assert_int_equal(tern_thread_new(&ts[i], "sv", serve_client, &sv[i]), 0);
  }
  for (int i = 0; i < NCLIENTS; i++) {
    tern_thread_join(tc[i]);
    tern_thread_join(ts[i]);
    assert_int_equal(cl[i].bytes, CLIENT_BYTES);
    assert_int_equal(sv[i].bytes, CLIENT_BYTES);
  }
  assert_int_equal(tern_sock_close(n.tb, l), 0);
  net2_down(&n);
}

static void test_echo_msg(void **s) { (void)s; run_echo(TERN_TCPIP_MSG); }
static void test_echo_lock(void **s) {
  (void)s;
  run_echo(TERN_TCPIP_CORE_LOCK);
}

/* ---- blocking behaviour, timeouts, non-blocking ---- */

static void test_timeouts_nonblock(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  int l = listen_fd(n.tb, 8);
  /* non-blocking accept */
  assert_int_equal(tern_sock_fcntl(n.tb, l, TERN_F_SETFL, TERN_O_NONBLOCK), 0);
  assert_int_equal(tern_sock_fcntl(n.tb, l, TERN_F_GETFL, 0), TERN_O_NONBLOCK);
  assert_int_equal(tern_sock_accept(n.tb, l, NULL), -1);
  assert_int_equal(tern_errno(), EAGAIN);
  /* non-blocking connect: EINPROGRESS, writable, SO_ERROR 0 */
  int c = tern_socket(n.ta, TERN_AF_INET, TERN_SOCK_STREAM, 0);
  int on = 1;
  assert_int_equal(tern_sock_ioctl(n.ta, c, TERN_FIONBIO, &on), 0);
  tern_addr a = h_addr("10.9.0.2", 8);
  /* (0 if the handshake won the race with the check, as POSIX allows) */
  if (tern_sock_connect(n.ta, c, &a) != 0)
    assert_int_equal(tern_errno(), EINPROGRESS);
  tern_fd_set w;
  tern_fd_zero(&w);
  tern_fd_set_add(c, &w);
  assert_int_equal(tern_select(n.ta, c + 1, NULL, &w, NULL, 2000), 1);
  assert_true(tern_fd_isset(c, &w));
  int soerr = -1;
  size_t len = sizeof soerr;
  assert_int_equal(tern_sock_getsockopt(n.ta, c, TERN_SOL_SOCKET,
                                        TERN_SO_ERROR, &soerr, &len), 0);
  assert_int_equal(soerr, 0);
  assert_int_equal(tern_sock_connect(n.ta, c, &a), -1);
  assert_int_equal(tern_errno(), EISCONN);
  /* the listener is readable now */
  tern_fd_set r;
  tern_fd_zero(&r);
  tern_fd_set_add(l, &r);
  assert_int_equal(tern_select(n.tb, l + 1, &r, NULL, NULL, 2000), 1);
  int sv = tern_sock_accept(n.tb, l, NULL);
  assert_true(sv >= 0);
  /* non-blocking recv: EAGAIN */
  char buf[64];
  assert_int_equal(tern_sock_recv(n.ta, c, buf, sizeof buf, 0), -1);
  assert_int_equal(tern_errno(), EAGAIN);
  /* SO_RCVTIMEO on a blocking socket: EAGAIN after the time */
  struct timeval tv = {0, 50000};
  assert_int_equal(tern_sock_setsockopt(n.tb, sv, TERN_SOL_SOCKET,
                                        TERN_SO_RCVTIMEO, &tv, sizeof tv), 0);
  struct timeval back;
  len = sizeof back;
  assert_int_equal(tern_sock_getsockopt(n.tb, sv, TERN_SOL_SOCKET,
                                        TERN_SO_RCVTIMEO, &back, &len), 0);
  assert_int_equal(back.tv_usec, 50000);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_sock_recv(n.tb, sv, buf, sizeof buf, 0), -1);
  assert_int_equal(tern_errno(), EAGAIN);
  assert_true(tern_clock_ms() - t0 >= 50);
  /* data, FIONREAD, partial reads, then end of stream */
  assert_int_equal(tern_sock_send(n.ta, c, "hello world", 11, 0), 11);
  int avail = 0;
  for (int i = 0; i < 1000 && avail < 11; i++) {
    tern_sock_ioctl(n.tb, sv, TERN_FIONREAD, &avail);
    nap(1);
  }
  assert_int_equal(avail, 11);
  assert_int_equal(tern_sock_recv(n.tb, sv, buf, 5, 0), 5);
  tern_sock_ioctl(n.tb, sv, TERN_FIONREAD, &avail);
  assert_int_equal(avail, 6);
  assert_int_equal(tern_sock_recv(n.tb, sv, buf + 5, sizeof buf - 5, 0), 6);
  assert_memory_equal(buf, "hello world", 11);
  assert_int_equal(tern_sock_shutdown(n.ta, c, TERN_SHUT_WR), 0);
  tv.tv_usec = 0;
  tv.tv_sec = 5;
  tern_sock_setsockopt(n.tb, sv, TERN_SOL_SOCKET, TERN_SO_RCVTIMEO, &tv,
                       sizeof tv);
  assert_int_equal(tern_sock_recv(n.tb, sv, buf, sizeof buf, 0), 0);
  assert_int_equal(tern_sock_recv(n.tb, sv, buf, sizeof buf, 0), 0);
  /* names */
  tern_addr me, peer;
  assert_int_equal(tern_sock_getsockname(n.tb, sv, &me), 0);
  assert_int_equal(me.port, 8);
  assert_int_equal(tern_sock_getpeername(n.tb, sv, &peer), 0);
  assert_int_equal(tern_sock_getsockname(n.ta, c, &me), 0);
  assert_int_equal(peer.port, me.port);
  assert_int_equal(tern_sock_close(n.ta, c), 0);
  assert_int_equal(tern_sock_close(n.tb, sv), 0);
  assert_int_equal(tern_sock_close(n.tb, l), 0);
  net2_down(&n);
}

/* ---- errors ---- */

static void test_errors(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_CORE_LOCK, 16384);
  char b[4];
  assert_int_equal(tern_sock_recv(n.ta, 3, b, 4, 0), -1);
  assert_int_equal(tern_errno(), EBADF);
  assert_int_equal(tern_sock_close(n.ta, -1), -1);
  assert_int_equal(tern_errno(), EBADF);
  assert_int_equal(tern_socket(n.ta, 99, TERN_SOCK_STREAM, 0), -1);
  assert_int_equal(tern_errno(), EAFNOSUPPORT);
  assert_int_equal(tern_socket(n.ta, TERN_AF_INET, 9, 0), -1);
  assert_int_equal(tern_errno(), EPROTONOSUPPORT);
  int c = tern_socket(n.ta, TERN_AF_INET, TERN_SOCK_STREAM, 0);
  int v = 0;
  size_t len = sizeof v;
  assert_int_equal(tern_sock_getsockopt(n.ta, c, TERN_SOL_SOCKET, 12345, &v,
                                        &len), -1);
  assert_int_equal(tern_errno(), ENOPROTOOPT);
  assert_int_equal(tern_sock_send(n.ta, c, "x", 1, 0), -1);
  assert_int_equal(tern_errno(), ENOTCONN);
  assert_int_equal(tern_sock_getpeername(n.ta, c, &(tern_addr){0}), -1);
  assert_int_equal(tern_errno(), ENOTCONN);
  tern_addr a = h_addr("10.9.0.2", 4321);
  assert_int_equal(tern_sock_connect(n.ta, c, &a), -1);
  assert_int_equal(tern_errno(), ECONNREFUSED);
  /* options */
  int one = 1;
  assert_int_equal(tern_sock_setsockopt(n.ta, c, TERN_IPPROTO_TCP,
                                        TERN_TCP_NODELAY, &one, sizeof one), 0);
  assert_int_equal(tern_sock_setsockopt(n.ta, c, TERN_SOL_SOCKET,
                                        TERN_SO_KEEPALIVE, &one, sizeof one), 0);
  int idle = 30;
  assert_int_equal(tern_sock_setsockopt(n.ta, c, TERN_IPPROTO_TCP,
                                        TERN_TCP_KEEPIDLE, &idle, sizeof idle),
                   0);
  len = sizeof v;
  assert_int_equal(tern_sock_getsockopt(n.ta, c, TERN_IPPROTO_TCP,
                                        TERN_TCP_KEEPIDLE, &v, &len), 0);
  assert_int_equal(v, 30);
  assert_int_equal(tern_sock_getsockopt(n.ta, c, TERN_SOL_SOCKET,
                                        TERN_SO_TYPE, &v, &len), 0);
  assert_int_equal(v, TERN_SOCK_STREAM);
  assert_int_equal(tern_sock_setsockopt(n.ta, c, TERN_SOL_SOCKET,
                                        TERN_SO_KEEPALIVE, &one, 1), -1);
  assert_int_equal(tern_errno(), EINVAL);
  int c2 = tern_socket(n.ta, TERN_AF_INET, TERN_SOCK_STREAM, 0), sz = 50000;
  assert_int_equal(tern_sock_setsockopt(n.ta, c2, TERN_SOL_SOCKET,
                                        TERN_SO_SNDBUF, &sz, sizeof sz), 0);
  len = sizeof v;
  assert_int_equal(tern_sock_getsockopt(n.ta, c2, TERN_SOL_SOCKET,
                                        TERN_SO_SNDBUF, &v, &len), 0);
  assert_int_equal(v, 50000);
  sz = 40000;
  assert_int_equal(tern_sock_setsockopt(n.ta, c2, TERN_SOL_SOCKET,
                                        TERN_SO_RCVBUF, &sz, sizeof sz), 0);
  assert_int_equal(tern_sock_getsockopt(n.ta, c2, TERN_SOL_SOCKET,
                                        TERN_SO_RCVBUF, &v, &len), 0);
  assert_int_equal(v, 40000);
  tern_sock_close(n.ta, c2);
  tern_linger lg = {1, 3}, lg2 = {0, 0};
  assert_int_equal(tern_sock_setsockopt(n.ta, c, TERN_SOL_SOCKET,
                                        TERN_SO_LINGER, &lg, sizeof lg), 0);
  len = sizeof lg2;
  assert_int_equal(tern_sock_getsockopt(n.ta, c, TERN_SOL_SOCKET,
                                        TERN_SO_LINGER, &lg2, &len), 0);
  assert_int_equal(lg2.l_onoff, 1);
  assert_int_equal(lg2.l_linger, 3);
  assert_int_equal(tern_sock_close(n.ta, c), 0);
  assert_int_equal(tern_sock_close(n.ta, c), -1);
  assert_int_equal(tern_errno(), EBADF);
  /* descriptors run out at max_sockets (64 by default) */
  int fds[64], nf = 0;
  while (nf < 64 &&
         (fds[nf] = tern_socket(n.ta, TERN_AF_INET, TERN_SOCK_DGRAM, 0)) >= 0)
    nf++;
  assert_int_equal(nf, 64);
  assert_int_equal(tern_socket(n.ta, TERN_AF_INET, TERN_SOCK_DGRAM, 0), -1);
  assert_int_equal(tern_errno(), EMFILE);
  for (int i = 0; i < nf; i++) tern_sock_close(n.ta, fds[i]);
  assert_int_equal(h_pcbs(n.ta), 0);
  /* a socket left open is closed by tern_tcpip_free (LSan checks) */
  assert_true(tern_socket(n.ta, TERN_AF_INET, TERN_SOCK_STREAM, 0) >= 0);
  net2_down(&n);
}

/* ---- close wakes a blocked recv ---- */

typedef struct blk {
  tern_tcpip *t;
  int fd;
  long r;
  int e;
} blk;

static void blocked_recv(void *arg) {
  blk *b = arg;
  char buf[16];
  b->r = tern_sock_recv(b->t, b->fd, buf, sizeof buf, 0);
  b->e = tern_errno();
}

static void test_close_wakes(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  int l = listen_fd(n.tb, 9);
  int c = connect_fd(n.ta, 9);
  int sv = tern_sock_accept(n.tb, l, NULL);
  blk b = {.t = n.ta, .fd = c};
  tern_thread *th;
  assert_int_equal(tern_thread_new(&th, "r", blocked_recv, &b), 0);
  nap(50);
  assert_int_equal(tern_sock_close(n.ta, c), 0);
  tern_thread_join(th);
  assert_int_equal(b.r, -1);
  assert_int_equal(b.e, EBADF);
  /* the peer sees the end of the stream */
  char buf[4];
  assert_int_equal(tern_sock_recv(n.tb, sv, buf, sizeof buf, 0), 0);
  tern_sock_close(n.tb, sv);
  tern_sock_close(n.tb, l);
  net2_down(&n);
}

/* ---- UDP ---- */

static void test_udp(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  int ua = tern_socket(n.ta, TERN_AF_INET, TERN_SOCK_DGRAM, 0);
  int ub = tern_socket(n.tb, TERN_AF_INET, TERN_SOCK_DGRAM, 17);
  tern_addr la = h_addr("0.0.0.0", 6000), lb = h_addr("10.9.0.2", 6001);
  assert_int_equal(tern_sock_bind(n.ta, ua, &la), 0);
  assert_int_equal(tern_sock_bind(n.tb, ub, &lb), 0);
  assert_int_equal(tern_sock_sendto(n.ta, ua, "ping", 4, 0, &lb), 4);
  char buf[3];
  tern_addr from;
  assert_int_equal(tern_sock_recvfrom(n.tb, ub, buf, sizeof buf, 0, &from),
                   3); /* truncated */
  assert_memory_equal(buf, "pin", 3);
  assert_int_equal(from.port, 6000);
  assert_int_equal(tern_sock_connect(n.tb, ub, &from), 0);
  assert_int_equal(tern_sock_send(n.tb, ub, "pong", 4, 0), 4);
  char b2[16];
  assert_int_equal(tern_sock_recv(n.ta, ua, b2, sizeof b2, 0), 4);
  assert_int_equal(tern_sock_recv(n.ta, ua, b2, sizeof b2, TERN_MSG_DONTWAIT),
                   -1);
  assert_int_equal(tern_errno(), EAGAIN);
  tern_sock_close(n.ta, ua);
  tern_sock_close(n.tb, ub);
  net2_down(&n);
}

/* ---- select and poll over many sockets ---- */

#define NSEL 10

static void test_select_many(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_CORE_LOCK, 16384);
  int l = listen_fd(n.tb, 11);
  int c[NSEL], sv[NSEL];
  for (int i = 0; i < NSEL; i++) {
    c[i] = connect_fd(n.ta, 11);
    sv[i] = tern_sock_accept(n.tb, l, NULL);
    assert_true(sv[i] >= 0);
  }
  tern_fd_set r;
  tern_fd_zero(&r);
  int maxfd = 0;
  for (int i = 0; i < NSEL; i++) {
    tern_fd_set_add(sv[i], &r);
    if (sv[i] > maxfd) maxfd = sv[i];
  }
  tern_fd_set r0 = r;
  assert_int_equal(tern_select(n.tb, maxfd + 1, &r, NULL, NULL, 0), 0);
  r = r0;
  assert_int_equal(tern_select(n.tb, maxfd + 1, &r, NULL, NULL, 30), 0);
  /* data on two of them while select waits in another thread's view */
  assert_int_equal(tern_sock_send(n.ta, c[3], "a", 1, 0), 1);
  assert_int_equal(tern_sock_send(n.ta, c[7], "b", 1, 0), 1);
  int got = 0;
  for (int tries = 0; tries < 200 && got < 2; tries++) {
    r = r0;
    got = tern_select(n.tb, maxfd + 1, &r, NULL, NULL, 1000);
    if (got < 2) nap(5); /* returns as soon as the first is readable */
  }
  assert_int_equal(got, 2);
  assert_true(tern_fd_isset(sv[3], &r));
  assert_true(tern_fd_isset(sv[7], &r));
  assert_false(tern_fd_isset(sv[0], &r));
  /* poll: the same, plus POLLOUT everywhere */
  tern_pollfd p[NSEL];
  for (int i = 0; i < NSEL; i++)
    p[i] = (tern_pollfd){.fd = sv[i], .events = TERN_POLLIN};
  assert_int_equal(tern_poll(n.tb, p, NSEL, 0), 2);
  assert_int_equal(p[3].revents, TERN_POLLIN);
  assert_int_equal(p[0].revents, 0);
  p[0].events = TERN_POLLOUT;
  assert_int_equal(tern_poll(n.tb, p, NSEL, 0), 3);
  assert_int_equal(p[0].revents, TERN_POLLOUT);
  /* a closed descriptor: select EBADF, poll POLLNVAL */
  tern_sock_close(n.tb, sv[0]);
  r = r0;
  assert_int_equal(tern_select(n.tb, maxfd + 1, &r, NULL, NULL, 0), -1);
  assert_int_equal(tern_errno(), EBADF);
  assert_int_equal(tern_poll(n.tb, p, 1, 0), 1);
  assert_int_equal(p[0].revents, TERN_POLLNVAL);
  for (int i = 0; i < NSEL; i++) {
    tern_sock_close(n.ta, c[i]);
    if (i) tern_sock_close(n.tb, sv[i]);
  }
  tern_sock_close(n.tb, l);
  net2_down(&n);
}

/* A select blocked in one thread is woken by data from another. */
typedef struct selw {
  tern_tcpip *t;
  int fd, n;
} selw;

static void select_waiter(void *arg) {
  selw *w = arg;
  tern_fd_set r;
  tern_fd_zero(&r);
  tern_fd_set_add(w->fd, &r);
  w->n = tern_select(w->t, w->fd + 1, &r, NULL, NULL, 5000);
}

static void test_select_wakes(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  int l = listen_fd(n.tb, 12);
  int c = connect_fd(n.ta, 12);
  int sv = tern_sock_accept(n.tb, l, NULL);
  selw w = {.t = n.tb, .fd = sv};
  tern_thread *th;
  assert_int_equal(tern_thread_new(&th, "sel", select_waiter, &w), 0);
  nap(30);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_sock_send(n.ta, c, "z", 1, 0), 1);
  tern_thread_join(th);
  assert_int_equal(w.n, 1);
  assert_true(tern_clock_ms() - t0 < 2000);
  tern_sock_close(n.ta, c);
  tern_sock_close(n.tb, sv);
  tern_sock_close(n.tb, l);
  net2_down(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echo_msg),
      cmocka_unit_test(test_echo_lock),
      cmocka_unit_test(test_timeouts_nonblock),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_close_wakes),
      cmocka_unit_test(test_udp),
      cmocka_unit_test(test_select_many),
      cmocka_unit_test(test_select_wakes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
