/* test_stress.c: many threads on many connections at once, in both
 * threading modes, with a hash of every byte: per connection a writer
 * and a reader thread on the client (full duplex) and an echo thread on
 * the server, random read and write sizes, and a wire that loses,
 * duplicates and reorders frames. Every byte must come back, in order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/harness.h"
#include "tern/sockets.h"

#define NCONN 8
#define BYTES 300000

typedef struct conn {
  tern_tcpip *ta, *tb;
  int cfd, sfd;
  uint64_t sent_hash, rcvd_hash, rcvd, echoed;
  int werr, rerr;
  uint32_t seed, wseed; /* wseed: the writer's own copy */
} conn;

static uint32_t rnd(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 8;
}

static void c_writer(void *arg) {
  conn *c = arg;
  uint8_t buf[9000];
  uint64_t off = 0, h = H_FNV0;
  while (off < BYTES) {
    size_t len = 1 + rnd(&c->wseed) % sizeof buf;
    if (len > BYTES - off) len = (size_t)(BYTES - off);
    for (size_t i = 0; i < len; i++) buf[i] = h_pat(off + i + c->seed % 7);
    long w = tern_sock_send(c->ta, c->cfd, buf, len, 0);
    if (w <= 0) {
      c->werr = tern_errno();
      return;
    }
    h = h_fnv(h, buf, (size_t)w);
    off += (uint64_t)w;
    /* bytes after w were not sent: the next round regenerates them */
  }
  c->sent_hash = h;
  tern_sock_shutdown(c->ta, c->cfd, TERN_SHUT_WR);
}

static void c_reader(void *arg) {
  conn *c = arg;
  uint8_t buf[5000];
  uint64_t h = H_FNV0;
  uint32_t seed = c->seed ^ 0x5555;
  for (;;) {
    size_t len = 1 + rnd(&seed) % sizeof buf;
    long n = tern_sock_recv(c->ta, c->cfd, buf, len, 0);
    if (n < 0) c->rerr = tern_errno();
    if (n <= 0) break;
    h = h_fnv(h, buf, (size_t)n);
    c->rcvd += (uint64_t)n;
  }
  c->rcvd_hash = h;
}

static void s_echo(void *arg) {
  conn *c = arg;
  uint8_t buf[7000];
  long n;
  while ((n = tern_sock_recv(c->tb, c->sfd, buf, sizeof buf, 0)) > 0) {
    if (tern_sock_send(c->tb, c->sfd, buf, (size_t)n, 0) != n) break;
    c->echoed += (uint64_t)n;
  }
  tern_sock_shutdown(c->tb, c->sfd, TERN_SHUT_WR);
}

typedef struct imp_arg {
  tern_wire *w;
  tern_wire_impair imp;
} imp_arg;

static int set_imp(tern_stack *st, void *arg) {
  (void)st;
  imp_arg *a = arg;
  tern_wire_set_impair(a->w, 0, &a->imp);
  tern_wire_set_impair(a->w, 1, &a->imp);
  return 0;
}

static void run_stress(tern_tcpip_mode mode) {
  net2 n;
  net2_up(&n, mode, 32768);
  /* the wire belongs to the stack thread now: set it from there */
  imp_arg ia = {n.w, {.loss = 0.005, .dup = 0.005, .reorder = 0.01}};
  assert_int_equal(tern_tcpip_call(n.ta, set_imp, &ia), 0);
  int l = tern_socket(n.tb, TERN_AF_INET, TERN_SOCK_STREAM, 0);
  tern_addr la = h_addr("10.9.0.2", 40);
  assert_int_equal(tern_sock_bind(n.tb, l, &la), 0);
  assert_int_equal(tern_sock_listen(n.tb, l, NCONN), 0);
  conn c[NCONN];
  tern_thread *tw[NCONN], *tr[NCONN], *ts[NCONN];
  for (int i = 0; i < NCONN; i++) {
    c[i] = (conn){.ta = n.ta, .tb = n.tb, .seed = (uint32_t)(i * 7919 + 1)};
    c[i].wseed = c[i].seed;
    c[i].cfd = tern_socket(n.ta, TERN_AF_INET, TERN_SOCK_STREAM, 0);
    assert_int_equal(tern_sock_connect(n.ta, c[i].cfd, &la), 0);
    c[i].sfd = tern_sock_accept(n.tb, l, NULL);
    assert_true(c[i].sfd >= 0);
  }
  for (int i = 0; i < NCONN; i++) {
    assert_int_equal(tern_thread_new(&ts[i], "s", s_echo, &c[i]), 0);
    assert_int_equal(tern_thread_new(&tr[i], "r", c_reader, &c[i]), 0);
    assert_int_equal(tern_thread_new(&tw[i], "w", c_writer, &c[i]), 0);
  }
  for (int i = 0; i < NCONN; i++) {
    tern_thread_join(tw[i]);
    tern_thread_join(tr[i]);
    tern_thread_join(ts[i]);
    assert_int_equal(c[i].werr, 0);
    assert_int_equal(c[i].rerr, 0);
    assert_int_equal(c[i].echoed, BYTES);
    assert_int_equal(c[i].rcvd, BYTES);
    assert_true(c[i].rcvd_hash == c[i].sent_hash);
    tern_sock_close(n.ta, c[i].cfd);
    tern_sock_close(n.tb, c[i].sfd);
  }
  tern_sock_close(n.tb, l);
  /* the impairments were really there, and TCP recovered from them */
  tern_wire_stats ws;
  net2_down_keep_wire(&n);
  tern_wire_get_stats(n.w, 0, &ws); /* read after the thread is gone */
  assert_true(ws.lost > 0 && ws.dup > 0 && ws.reordered > 0);
  assert_true(ws.bytes > NCONN * BYTES);
  tern_wire_free(n.w);
}

static void test_stress_msg(void **s) {
  (void)s;
  run_stress(TERN_TCPIP_MSG);
}
static void test_stress_lock(void **s) {
  (void)s;
  run_stress(TERN_TCPIP_CORE_LOCK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stress_msg),
      cmocka_unit_test(test_stress_lock),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
