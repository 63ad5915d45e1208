/* test_cork.c: sends made while a connection handles READ are gathered and
 * written with one backend call when the handler returns (conn.c,
 * "corking"), without changing what the peer receives, the order, the
 * queue the user sees, or what close, shutdown and abort do.
 *
 * The host-sockets backend is wrapped so each send/sendv is counted; the
 * peer is the other end of a socketpair, read directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/tern.h"
#include "tern/backend.h"

static tern_backend counting;
static const tern_backend *real;
static int backend_sends;

static long count_send(void *st, tern_conn *c, const void *d, size_t n) {
  backend_sends++;
  return real->send(st, c, d, n);
}

static long count_sendv(void *st, tern_conn *c, const tern_iov *iov,
                        size_t n) {
  backend_sends++;
  return real->sendv(st, c, iov, n);
}

/* What the handler does with each READ. */
enum { DO_ECHO_WORDS, DO_SMALL_THEN_BIG, DO_CLOSE, DO_ABORT, DO_SHUTDOWN,
       DO_QUEUE, DO_LIMIT };

typedef struct fixture {
  tern_mgr *m;
  tern_conn *c;
  int peer;
  int mode;
  int closes;
  int reason;
  size_t queued_seen;
  int limit_rc;
  uint8_t big[64 * 1024];
} fixture;

static fixture fx;

static void on_conn(tern_conn *c, const tern_event *ev, void *ud) {
  fixture *f = ud;
  if (ev->type == TERN_EV_CLOSE) {
    f->closes++;
    f->reason = ev->close.reason;
    return;
  }
  if (ev->type != TERN_EV_READ || ev->read.len == 0) return;
  size_t len = ev->read.len;
  const uint8_t *p = ev->read.data;
  switch (f->mode) {
  case DO_ECHO_WORDS: /* one send per byte, one sendv per pair */
    for (size_t i = 0; i < len; i++) {
      if (i + 1 < len) {
        tern_iov iov[2] = {{p + i, 1}, {p + i + 1, 1}};
        assert_int_equal(tern_sendv(c, iov, 2), TERN_OK);
        i++;
      } else {
        assert_int_equal(tern_send(c, p + i, 1), TERN_OK);
      }
    }
    break;
  case DO_SMALL_THEN_BIG: /* gathered bytes must precede the big send */
    assert_int_equal(tern_send(c, "head:", 5), TERN_OK);
    assert_int_equal(tern_send(c, f->big, sizeof(f->big)), TERN_OK);
    assert_int_equal(tern_send(c, ":tail", 5), TERN_OK);
    break;
  case DO_CLOSE:
    assert_int_equal(tern_send(c, "bye", 3), TERN_OK);
    tern_close(c);
    break;
  case DO_ABORT:
    assert_int_equal(tern_send(c, "lost", 4), TERN_OK);
    tern_abort(c);
    break;
  case DO_SHUTDOWN:
    assert_int_equal(tern_send(c, "fin", 3), TERN_OK);
    assert_int_equal(tern_shutdown(c), TERN_OK);
    break;
  case DO_QUEUE:
    assert_int_equal(tern_send(c, "12345", 5), TERN_OK);
    f->queued_seen = tern_conn_queued(c);
    break;
  case DO_LIMIT: /* the send limit (8, set before) counts gathered bytes */
    assert_int_equal(tern_send(c, "12345", 5), TERN_OK);
    f->limit_rc = tern_send(c, "6789", 4);
    break;
  }
  tern_conn_consume(c, len);
}

static int setup(void **state) {
  (void)state;
  memset(&fx, 0, sizeof(fx));
  for (size_t i = 0; i < sizeof(fx.big); i++) fx.big[i] = (uint8_t)(i * 7);
  real = tern_backend_sock();
  counting = *real;
  counting.send = count_send;
  counting.sendv = count_sendv;
  backend_sends = 0;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  tern_mgr_opts o = {.backend = &counting};
  assert_int_equal(tern_mgr_new(&fx.m, &o), TERN_OK);
  assert_int_equal(tern_adopt(fx.m, sv[0], on_conn, &fx, &fx.c), TERN_OK);
  fx.peer = sv[1];
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tern_mgr_free(fx.m);
  close(fx.peer);
  return 0;
}

/* Run the loop until n bytes came to the peer (or it saw EOF); returns
 * the count. */
static size_t peer_read(uint8_t *buf, size_t n, int ms) {
  size_t got = 0;
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  while (got < n && tern_clock_ms() < end) {
    tern_loop_poll(tern_mgr_loop(fx.m), 5);
    ssize_t r = recv(fx.peer, buf + got, n - got, MSG_DONTWAIT);
    if (r == 0) break;
    if (r > 0) got += (size_t)r;
  }
  return got;
}

static void run_until_closed(int ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  while (fx.closes == 0 && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(fx.m), 5);
}

static void test_many_sends_one_write(void **state) {
  (void)state;
  fx.mode = DO_ECHO_WORDS;
  const char *msg = "the quick brown fox jumps over the lazy dog";
  size_t n = strlen(msg);
  assert_int_equal(write(fx.peer, msg, n), (ssize_t)n);
  uint8_t buf[64];
  assert_int_equal(peer_read(buf, n, 3000), n);
  assert_memory_equal(buf, msg, n);
  /* 22 sends and sendvs in the handler, one write to the network */
  assert_int_equal(backend_sends, 1);
}

static void test_order_kept_past_cork_size(void **state) {
  (void)state;
  fx.mode = DO_SMALL_THEN_BIG;
  assert_int_equal(write(fx.peer, "x", 1), 1);
  static uint8_t buf[5 + sizeof(fx.big) + 5];
  assert_int_equal(peer_read(buf, sizeof(buf), 5000), sizeof(buf));
  assert_memory_equal(buf, "head:", 5);
  assert_memory_equal(buf + 5, fx.big, sizeof(fx.big));
  assert_memory_equal(buf + 5 + sizeof(fx.big), ":tail", 5);
  assert_int_equal(fx.closes, 0);
}

static void test_close_sends_gathered(void **state) {
  (void)state;
  fx.mode = DO_CLOSE;
  assert_int_equal(write(fx.peer, "x", 1), 1);
  uint8_t buf[8];
  assert_int_equal(peer_read(buf, sizeof(buf), 3000), 3); /* then EOF */
  assert_memory_equal(buf, "bye", 3);
  run_until_closed(3000);
  assert_int_equal(fx.closes, 1);
  assert_int_equal(fx.reason, TERN_OK);
}

static void test_abort_drops_gathered(void **state) {
  (void)state;
  fx.mode = DO_ABORT;
  assert_int_equal(write(fx.peer, "x", 1), 1);
  run_until_closed(3000);
  assert_int_equal(fx.closes, 1);
  assert_int_equal(fx.reason, TERN_ECONNABORTED);
  uint8_t buf[8];
  assert_int_equal(peer_read(buf, sizeof(buf), 200), 0);
  assert_int_equal(backend_sends, 0);
}

static void test_shutdown_after_gathered(void **state) {
  (void)state;
  fx.mode = DO_SHUTDOWN;
  assert_int_equal(write(fx.peer, "x", 1), 1);
  uint8_t buf[8];
  assert_int_equal(peer_read(buf, sizeof(buf), 3000), 3); /* then EOF */
  assert_memory_equal(buf, "fin", 3);
}

static void test_queue_counts_gathered(void **state) {
  (void)state;
  fx.mode = DO_QUEUE;
  assert_int_equal(write(fx.peer, "x", 1), 1);
  uint8_t buf[8];
  assert_int_equal(peer_read(buf, 5, 3000), 5);
  assert_int_equal(fx.queued_seen, 5);
  assert_int_equal(tern_conn_queued(fx.c), 0);
}

static void test_limit_counts_gathered(void **state) {
  (void)state;
  fx.mode = DO_LIMIT;
  assert_int_equal(tern_conn_set_tx_max(fx.c, 8), TERN_OK);
  assert_int_equal(write(fx.peer, "x", 1), 1);
  uint8_t buf[8];
  assert_int_equal(peer_read(buf, 5, 3000), 5);
  assert_int_equal(fx.limit_rc, TERN_ENOSPC);
  assert_memory_equal(buf, "12345", 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_many_sends_one_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_order_kept_past_cork_size, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_sends_gathered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_drops_gathered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_after_gathered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_counts_gathered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_limit_counts_gathered, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
