/* test_pool.c: the dispatcher's thread pool (rm_pool.c). Many clients in
 * parallel, each pipelining numbered messages on its connection: every
 * handler sees its connection's numbers in order and never two at once,
 * replies come back in order, and several connections run at the same
 * time (up to hi_water threads). A handler blocked on one connection does
 * not stall another; the pool shrinks back to lo_water when idle; NOREPLY
 * answered from another thread and from the pool thread itself; a server
 * stopped with requests in flight and queued frees everything (LSan). */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rm/rm_msg.h"
#include "rm/rm_server.h"

enum { SEQ = 1, BLOCK, LATER, SLOW, SELF, HANG };
#define MGR 0x51
#define NCLIENTS 8
#define PIPELINE 12 /* more than the pool queues per connection */
#define ROUNDS 15

typedef struct pconn {
  uint32_t expected;
  atomic_int inside;
} pconn;

static atomic_int cur, maxc, bad_order, overlap, opens, closes;
static tern_sem *block_sem;
static atomic_int blocked;

static int p_open(tern_rm_ctx *ctx, const tern_rm_open_msg *msg,
                  tern_rm_attr *attr, void *reserved) {
  int rc = tern_rm_open_default(ctx, msg, attr, reserved);
  if (rc != TERN_OK) return rc;
  tern_rm_ocb_set_data(tern_rm_ctx_ocb(ctx), calloc(1, sizeof(pconn)));
  opens++;
  return TERN_OK;
}

static int p_close_ocb(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  (void)ctx;
  free(tern_rm_ocb_data(ocb));
  closes++;
  return TERN_OK;
}

typedef struct later {
  tern_rm_dispatch *d;
  tern_rm_rcvid rcvid;
  uint32_t v;
} later;

static void later_thread(void *arg) {
  later *l = arg;
  usleep(20 * 1000);
  struct iovec v = {&l->v, sizeof(l->v)};
  tern_rm_reply(l->d, l->rcvid, TERN_OK, 9, &v, 1);
}

static tern_thread *later_th;

static int p_msg(tern_rm_ctx *ctx, const tern_rm_msg_msg *msg,
                 tern_rm_ocb *ocb) {
  pconn *pc = tern_rm_ocb_data(ocb);
  uint32_t v = 0;
  if (msg->mgrid != MGR || msg->nbytes != 4) return TERN_EINVAL;
  memcpy(&v, msg->data, 4);
  if (pc->inside++ != 0) overlap++; /* two of one connection at once */
  int c = ++cur;
  for (int m = maxc; c > m && !atomic_compare_exchange_weak(&maxc, &m, c);) {
  }
  int r = TERN_OK;
  switch (msg->subtype) {
  case SEQ:
    if (v != pc->expected) bad_order++;
    pc->expected = v + 1;
    usleep((useconds_t)(v % 3) * 200); /* let the others overtake */
    break;
  case BLOCK:
    blocked++;
    tern_sem_wait(block_sem, 5000);
    break;
  case SLOW:
    usleep(30 * 1000);
    break;
  case LATER: { /* another thread answers */
    static later l;
    if (later_th) tern_thread_join(later_th);
    l = (later){tern_rm_ctx_dispatch(ctx), tern_rm_ctx_rcvid(ctx), v + 100};
    tern_thread_new(&later_th, "later", later_thread, &l);
    r = TERN_RM_NOREPLY;
    break;
  }
  case HANG: /* never answered */
    r = TERN_RM_NOREPLY;
    break;
  case SELF: { /* this pool thread answers through tern_rm_reply */
    uint32_t w = v + 200;
    struct iovec iov = {&w, 4};
    if (tern_rm_reply(tern_rm_ctx_dispatch(ctx), tern_rm_ctx_rcvid(ctx),
                      TERN_OK, 0, &iov, 1) != TERN_OK)
      bad_order++;
    r = TERN_RM_NOREPLY;
    break;
  }
  }
  cur--;
  pc->inside--;
  if (r != TERN_OK) return r;
  static _Thread_local uint32_t out; /* lives until the reply is sent */
  out = v;
  return tern_rm_reply_data(ctx, &out, 4);
}

static const tern_rm_connect_funcs pool_cf = {.open = p_open};
static const tern_rm_io_funcs pool_iof = {.msg = p_msg, .close_ocb = p_close_ocb};
static tern_rm_attr pattr;
static char *reg;
static test_srv srv;
static tern_rmc_opts copts;
static const tern_rm_pool_attr pool_attr = {.lo_water = 1, .hi_water = 4,
                                            .idle_ms = 150};

static void setup_srv(test_srv *s) {
  tern_rm_attr_init(&pattr, 0, getuid(), getgid());
  s->rc = tern_rm_attach(s->d, "/dev/pool", 0, &pool_cf, &pool_iof, &pattr, NULL);
}

static int setup(void **state) {
  (void)state;
  reg = test_registry();
  cur = maxc = bad_order = overlap = opens = closes = blocked = 0;
  assert_int_equal(tern_sem_new(&block_sem, 0), TERN_OK);
  srv = (test_srv){.registry = reg, .setup = setup_srv, .pool = &pool_attr};
  assert_int_equal(test_srv_start(&srv), TERN_OK);
  copts = (tern_rmc_opts){.registry = reg, .timeout_ms = 5000};
  return 0;
}

static int teardown(void **state) {
  (void)state;
  test_srv_stop(&srv);
  if (later_th) tern_thread_join(later_th);
  later_th = NULL;
  assert_int_equal(pattr.count, 0);
  assert_int_equal(opens, closes);
  tern_sem_free(block_sem);
  test_registry_rm(reg);
  return 0;
}

static int call(tern_rmc *h, int sub, uint32_t v, uint32_t *out) {
  size_t n = 0;
  int rc = tern_rmc_msg(h, MGR, (uint16_t)sub, &v, 4, out, 4, &n);
  return rc == TERN_OK && n != 4 ? TERN_EPROTO : rc;
}

/* PIPELINE requests sent before any reply is read, then the replies. */
static int pipeline(int s, uint32_t base) {
  uint8_t m[64];
  for (uint32_t i = 0; i < PIPELINE; i++) {
    uint32_t v = base + i;
    size_t n = tern__rm_enc_msg(m, 1000 + v, SEQ, MGR, 4);
    memcpy(m + n, &v, 4);
    if (send(s, m, n + 4, 0) != (ssize_t)(n + 4)) return -1;
  }
  for (uint32_t i = 0; i < PIPELINE; i++) {
    ssize_t n = recv(s, m, sizeof(m), 0);
    tern__rm_hdr h;
    uint32_t v;
    if (n != TERN__RM_HDR_LEN + TERN__RM_REPLY_FIXED + 4 ||
        tern__rm_hdr_decode(m, (size_t)n, &h) != TERN_OK || h.rid != 1000 + base + i)
      return -2; /* out of order */
    memcpy(&v, m + n - 4, 4);
    if (v != base + i) return -3;
  }
  return 0;
}

static atomic_int client_fail;

static void client_main(void *arg) {
  (void)arg;
  tern_rmc *h;
  uint32_t out;
  if (tern_rmc_open(&h, "/dev/pool", O_RDWR, &copts) != TERN_OK) {
    client_fail++;
    return;
  }
  for (uint32_t r = 0; r < ROUNDS; r++) {
    if (pipeline(tern_rmc_fd(h), r * PIPELINE) != 0) client_fail++;
  }
  /* and through the client library, numbers going on */
  if (call(h, SEQ, ROUNDS * PIPELINE, &out) != TERN_OK || out != ROUNDS * PIPELINE)
    client_fail++;
  if (tern_rmc_close(h) != TERN_OK) client_fail++;
}

static void test_parallel_order(void **state) {
  (void)state;
  tern_thread *th[NCLIENTS];
  unsigned threads = 0, idle = 0;
  client_fail = 0;
  tern_rm_pool_count(srv.d, &threads, &idle);
  assert_int_equal(threads, 1); /* lo_water */
  /* attach and detach are loop-thread calls: refused from here */
  assert_int_equal(tern_rm_attach(srv.d, "/dev/other", 0, NULL, NULL, &pattr, NULL),
                   TERN_EPERM);
  assert_int_equal(tern_rm_pool_start(srv.d, NULL), TERN_EPERM);
  for (int i = 0; i < NCLIENTS; i++)
    assert_int_equal(tern_thread_new(&th[i], "client", client_main, NULL), TERN_OK);
  for (int i = 0; i < NCLIENTS; i++) tern_thread_join(th[i]);
  assert_int_equal(client_fail, 0);
  assert_int_equal(bad_order, 0);
  assert_int_equal(overlap, 0);
  assert_true(maxc > 1);  /* connections ran in parallel */
  assert_true(maxc <= 4); /* hi_water */
  tern_rm_pool_count(srv.d, &threads, &idle);
  assert_true(threads <= 4); /* maxc > 1 showed it grew */
  /* idle threads above lo_water go after idle_ms */
  for (int i = 0; i < 200 && threads > 1; i++) {
    usleep(10 * 1000);
    tern_rm_pool_count(srv.d, &threads, &idle);
  }
  assert_int_equal(threads, 1);
  assert_int_equal(idle, 1);
}

static tern_rmc *blocked_h;
static int blocked_rc;
static void block_client(void *arg) {
  uint32_t out;
  (void)arg;
  blocked_rc = call(blocked_h, BLOCK, 1, &out);
}

static void test_blocked_connection_does_not_stall(void **state) {
  (void)state;
  tern_rmc *b;
  tern_thread *th;
  uint32_t out = 0;
  assert_int_equal(tern_rmc_open(&blocked_h, "/dev/pool", O_RDWR, &copts), TERN_OK);
  assert_int_equal(tern_rmc_open(&b, "/dev/pool", O_RDWR, &copts), TERN_OK);
  assert_int_equal(tern_thread_new(&th, "blocked", block_client, NULL), TERN_OK);
  for (int i = 0; i < 500 && blocked == 0; i++) usleep(1000);
  assert_int_equal(blocked, 1);
  for (uint32_t i = 0; i < 20; i++) { /* b goes on meanwhile */
    assert_int_equal(call(b, SEQ, i, &out), TERN_OK);
    assert_int_equal(out, i);
  }
  assert_int_equal(blocked, 1);
  tern_sem_post(block_sem);
  tern_thread_join(th);
  assert_int_equal(blocked_rc, TERN_OK);
  assert_int_equal(tern_rmc_close(b), TERN_OK);
  assert_int_equal(tern_rmc_close(blocked_h), TERN_OK);
}

static void test_noreply_under_pool(void **state) {
  (void)state;
  tern_rmc *h;
  uint32_t out = 0;
  assert_int_equal(tern_rmc_open(&h, "/dev/pool", O_RDWR, &copts), TERN_OK);
  for (uint32_t i = 0; i < 5; i++) {
    assert_int_equal(call(h, LATER, i, &out), TERN_OK);
    assert_int_equal(out, i + 100);
    assert_int_equal(call(h, SELF, i, &out), TERN_OK);
    assert_int_equal(out, i + 200);
  }
  assert_int_equal(bad_order, 0);
  /* unblock under the pool: a NOREPLY never answered, the client gives up */
  tern_rmc_set_timeout(h, 100);
  assert_int_equal(call(h, HANG, 1, &out), TERN_ETIMEDOUT);
  tern_rmc_set_timeout(h, 5000);
  assert_int_equal(call(h, SEQ, 0, &out), TERN_OK); /* the connection goes on */
  /* a devctl's answer area beyond what the client sent (the default
   * GETFLAGS; a big declared size the handler does not know) */
  int32_t flags = -1;
  assert_int_equal(tern_rmc_devctl(h, TERN_DCMD_ALL_GETFLAGS, &flags, 4, NULL),
                   TERN_OK);
  assert_int_equal(flags, O_RDWR);
  static uint8_t big[4096];
  assert_int_equal(tern_rmc_devctl(h, TERN_DIOF(TERN_DCMD_CLASS_MISC, 9, big),
                                   big, sizeof(big), NULL),
                   TERN_ENOTSUP);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

/* Requests running (SLOW), queued behind them and unanswered (LATER's
 * thread not yet done) when the server stops: nothing leaks. */
static void test_teardown_in_flight(void **state) {
  (void)state;
  int socks[6];
  tern_rmc *hs[6];
  uint8_t m[64];
  for (int i = 0; i < 6; i++) {
    assert_int_equal(tern_rmc_open(&hs[i], "/dev/pool", O_RDWR, &copts), TERN_OK);
    socks[i] = tern_rmc_fd(hs[i]);
    for (uint32_t k = 0; k < 6; k++) {
      int sub = k == 1 ? HANG : SLOW;
      size_t n = tern__rm_enc_msg(m, 500 + k, (uint16_t)sub, MGR, 4);
      memcpy(m + n, &k, 4);
      assert_int_equal(send(socks[i], m, n + 4, 0), (ssize_t)(n + 4));
    }
  }
  usleep(40 * 1000); /* some running, one unanswered, the rest queued */
  test_srv_stop(&srv); /* waits for the running ones */
  for (int i = 0; i < 6; i++) tern_rmc_close(hs[i]); /* peer gone: error */
  assert_int_equal(overlap, 0);
  assert_true(opens == 6);
}

static int teardown_stopped(void **state) {
  (void)state;
  assert_int_equal(pattr.count, 0);
  assert_int_equal(opens, closes);
  tern_sem_free(block_sem);
  test_registry_rm(reg);
  return 0;
}

/* tern_rm_pool_start's refusals, on a dispatcher of this thread. */
static void test_pool_start_args(void **state) {
  (void)state;
  tern_loop *loop;
  tern_rm_dispatch *d, *d2;
  tern_rm_opts o = {.registry = reg};
  tern_rm_attr a;
  tern_rm_attr_init(&a, 0, getuid(), getgid());
  assert_int_equal(tern_loop_new(&loop, NULL), TERN_OK);
  assert_int_equal(tern_rm_dispatch_new(&d, loop, &o), TERN_OK);
  assert_int_equal(tern_rm_dispatch_new(&d2, loop, &o), TERN_OK);
  tern_rm_pool_attr bad = {.lo_water = 5, .hi_water = 2};
  assert_int_equal(tern_rm_pool_start(d, &bad), TERN_EINVAL);
  assert_int_equal(tern_rm_pool_start(d, NULL), TERN_OK);
  assert_int_equal(tern_rm_pool_start(d, NULL), TERN_EALREADY);
  unsigned t = 0;
  tern_rm_pool_count(d, &t, NULL);
  assert_int_equal(t, 1);
  /* a connection exists already: too late for d2 */
  assert_int_equal(tern_rm_attach(d2, "/dev/pb", 0, NULL, NULL, &a, NULL), TERN_OK);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/f.+dev+pb", reg);
  int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
  tern_loop_poll(loop, 200); /* accepts it */
  assert_int_equal(tern_rm_pool_start(d2, NULL), TERN_EBUSY);
  close(s);
  tern_rm_dispatch_free(d2);
  tern_rm_dispatch_free(d); /* stops its thread */
  tern_loop_free(loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_parallel_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pool_start_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_blocked_connection_does_not_stall,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_noreply_under_pool, setup, teardown),
      cmocka_unit_test_setup_teardown(test_teardown_in_flight, setup,
                                      teardown_stopped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
