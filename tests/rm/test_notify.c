/* test_notify.c: notify lists, pulses and private messages of the rm,
 * server on a thread, clients in the test (and a forked child): ionotify
 * POLL/POLLARM/TRANSITION against a message-queue device (QNX's sample of
 * the notify chapter), thresholds, several clients, removal on close and
 * on a client's death, a pulse meeting an outstanding request,
 * pulse_attach with fixed and allocated codes, message_attach ranges,
 * pulses sent from another thread; the new wire kinds decoded strictly
 * and refused malformed at a live server. test_notify_pool.c runs every
 * case again with the dispatcher's thread pool started (TEST_NOTIFY_POOL),
 * plus clients arming, writing, closing and dying in parallel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "rm/rm_internal.h"
#include "rm/rm_server.h"

/* ---- the device: a queue of written items, input ready when not empty -- */

#define QMAX 16
/* Its lock (QNX iofunc_attr_lock) matters with a pool: the handlers of
 * different connections run in parallel. It is held across a state
 * change and its trigger, and across the check and the arm, so an arm
 * never misses a trigger in between (tern/rm_notify.h). */
typedef struct qdev {
  tern_rm_attr attr;
  pthread_mutex_t lock;
  char item[QMAX][32];
  size_t nitems;
} qdev;

static int q_write(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
                   tern_rm_ocb *ocb) {
  qdev *q = tern_rm_ocb_attr(ocb)->data;
  pthread_mutex_lock(&q->lock);
  if (q->nitems == QMAX) {
    pthread_mutex_unlock(&q->lock);
    return TERN_EAGAIN;
  }
  size_t n = msg->nbytes < 31 ? msg->nbytes : 31;
  memcpy(q->item[q->nitems], msg->data, n);
  q->item[q->nitems++][n] = '\0';
  /* the seed's io_write: notify readers waiting for data */
  if (tern_rm_notify_check(&q->attr, TERN_RM_NOTIFY_INPUT, q->nitems))
    tern_rm_notify_trigger(&q->attr, TERN_RM_NOTIFY_INPUT, q->nitems);
  pthread_mutex_unlock(&q->lock);
  tern_rm_ctx_set_value(ctx, (int64_t)msg->nbytes);
  return TERN_OK;
}

static int q_read(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                  tern_rm_ocb *ocb) {
  qdev *q = tern_rm_ocb_attr(ocb)->data;
  static _Thread_local char out[32]; /* sent after we return, on this thread */
  pthread_mutex_lock(&q->lock);
  if (q->nitems == 0) {
    pthread_mutex_unlock(&q->lock);
    return TERN_OK;
  }
  strcpy(out, q->item[0]);
  memmove(q->item[0], q->item[1], (q->nitems - 1) * sizeof(q->item[0]));
  q->nitems--;
  pthread_mutex_unlock(&q->lock);
  size_t n = strlen(out);
  return tern_rm_reply_data(ctx, out, n < msg->nbytes ? n : msg->nbytes);
}

static int q_notify(tern_rm_ctx *ctx, const tern_rm_notify_msg *msg,
                    tern_rm_ocb *ocb) {
  qdev *q = tern_rm_ocb_attr(ocb)->data;
  uint32_t trig = TERN_RM_NOTIFY_OUTPUT; /* writes are always taken */
  pthread_mutex_lock(&q->lock);
  if (q->nitems > 0) trig |= TERN_RM_NOTIFY_INPUT;
  int rc = tern_rm_notify(ctx, msg, ocb, trig);
  pthread_mutex_unlock(&q->lock);
  return rc;
}

static const tern_rm_io_funcs q_iof = {
    .read = q_read, .write = q_write, .notify = q_notify};

/* ---- pulses and private messages --------------------------------------- */

#define PRIV_ECHO 0x5000   /* answers "priv:<type>:<data>" */
#define PRIV_COUNT 0x5001  /* answers the armed count (value) */
#define PRIV_OOB 0x5002    /* triggers OOB with count 1 */
#define PRIV_THREAD 0x5003 /* a thread sends pulse 9 (value 99) */
#define PRIV_OPENS 0x5004  /* answers the OCBs open (value) */
#define PRIV_DETACH 0x5005 /* detaches pulse 5 and PRIV_SOLO */
#define PRIV_LAST 0x5fff
#define PRIV_SOLO 0x7000   /* a one-type range */

static qdev q1;
static int fixed_rc, alloc_rc, alloc2_rc, dup_rc, bad_rc, overlap_rc, solo_rc,
    low_rc;
static atomic_int alloc_pulses;

/* Pulse 5: answer with pulse 6, value + 1, to the sender. */
static void on_pulse5(tern_rm_ctx *ctx, int code, int64_t value, void *opaque) {
  assert_int_equal(code, 5);
  assert_ptr_equal(opaque, &q1);
  assert_int_equal(tern_rm_ctx_rcvid(ctx), 0); /* nothing to reply */
  assert_non_null(tern_rm_ctx_ocb(ctx));
  tern_rm_pulse_send(tern_rm_ctx_dispatch(ctx), tern_rm_ctx_conn_rcvid(ctx), 6,
                     value + 1);
}

static void on_pulse_alloc(tern_rm_ctx *ctx, int code, int64_t value,
                           void *opaque) {
  (void)opaque, (void)value;
  alloc_pulses++;
  tern_rm_pulse_send(tern_rm_ctx_dispatch(ctx), tern_rm_ctx_conn_rcvid(ctx),
                     code, 1000 + code);
}

typedef struct later {
  tern_rm_dispatch *d;
  tern_rm_rcvid rcvid;
} later;

static void pulse_thread(void *arg) {
  later *l = arg;
  assert_int_equal(tern_rm_pulse_send(l->d, l->rcvid, 9, 99), TERN_OK);
  assert_int_equal(tern_rm_pulse_send(l->d, l->rcvid, 200, 1), TERN_EINVAL);
}

static int on_priv(tern_rm_ctx *ctx, const tern_rm_priv_msg *msg, void *opaque) {
  static _Thread_local char out[128];
  qdev *q = opaque;
  switch (msg->type) {
  case PRIV_COUNT:
    tern_rm_ctx_set_value(ctx, (int64_t)tern_rm_notify_count(&q->attr));
    return TERN_OK;
  case PRIV_OPENS:
    tern_rm_ctx_set_value(ctx, q->attr.count);
    return TERN_OK;
  case PRIV_DETACH: {
    tern_rm_dispatch *d = tern_rm_ctx_dispatch(ctx);
    int a = tern_rm_pulse_detach(d, 5), b = tern_rm_message_detach(d, 0x7000);
    if (a != TERN_OK) return a;
    return b;
  }
  case PRIV_OOB:
    tern_rm_ctx_set_value(ctx, tern_rm_notify_trigger(&q->attr,
                                                      TERN_RM_NOTIFY_OOB, 1));
    return TERN_OK;
  case PRIV_THREAD: {
    later l = {tern_rm_ctx_dispatch(ctx), tern_rm_ctx_rcvid(ctx)};
    tern_thread *th;
    assert_int_equal(tern_thread_new(&th, "pulser", pulse_thread, &l), TERN_OK);
    tern_thread_join(th); /* posted: it goes out after this reply */
    return TERN_OK;
  }
  default: {
    int n = snprintf(out, sizeof(out), "priv:%x:%.*s", msg->type,
                     (int)msg->nbytes, (const char *)msg->data);
    return tern_rm_reply_data(ctx, out, (size_t)n);
  }
  }
}

static int on_solo(tern_rm_ctx *ctx, const tern_rm_priv_msg *msg, void *opaque) {
  (void)opaque, (void)msg;
  return tern_rm_reply_data(ctx, "solo", 4);
}

/* ---- fixture ------------------------------------------------------------- */

static char *reg;
static test_srv srv;
static tern_fi *srv_fi; /* given to the dispatcher when set */
static tern_rmc_opts copts;

static void setup_main(test_srv *s) {
  s->rc = tern_rm_attach(s->d, "/dev/q", 0, NULL, &q_iof, &q1.attr, NULL);
  if (s->rc == TERN_OK && srv_fi) s->rc = tern_rm_dispatch_set_fi(s->d, srv_fi);
  if (s->rc != TERN_OK) return;
  fixed_rc = tern_rm_pulse_attach(s->d, 5, on_pulse5, &q1);
  alloc_rc = tern_rm_pulse_attach(s->d, TERN_RM_PULSE_ALLOC, on_pulse_alloc, NULL);
  alloc2_rc = tern_rm_pulse_attach(s->d, TERN_RM_PULSE_ALLOC, on_pulse_alloc, NULL);
  dup_rc = tern_rm_pulse_attach(s->d, 5, on_pulse5, NULL);
  bad_rc = tern_rm_pulse_attach(s->d, 128, on_pulse5, NULL);
  s->rc = tern_rm_message_attach(s->d, PRIV_ECHO, PRIV_LAST, on_priv, &q1);
  overlap_rc = tern_rm_message_attach(s->d, 0x5800, 0x6000, on_solo, NULL);
  solo_rc = tern_rm_message_attach(s->d, PRIV_SOLO, PRIV_SOLO, on_solo, NULL);
  low_rc = tern_rm_message_attach(s->d, 0x100, 0x300, on_solo, NULL);
}

static int setup(void **state) {
  (void)state;
  reg = test_registry();
  memset(&q1, 0, sizeof(q1));
  tern_rm_attr_init(&q1.attr, 0, getuid(), getgid());
  pthread_mutex_init(&q1.lock, NULL);
  q1.attr.data = &q1;
  alloc_pulses = 0;
  srv = (test_srv){.registry = reg, .setup = setup_main};
#ifdef TEST_NOTIFY_POOL
  static const tern_rm_pool_attr pool = {.lo_water = 2, .hi_water = 4};
  srv.pool = &pool;
#endif
  assert_int_equal(test_srv_start(&srv), TERN_OK);
  copts = (tern_rmc_opts){.registry = reg, .timeout_ms = 2000};
  return 0;
}

static int setup_fi(void **state) {
  assert_int_equal(tern_fi_new("rm/notify_arm(1..1),rm/pulse_send(1..1)", &srv_fi),
                   TERN_OK);
  return setup(state);
}

static int teardown(void **state) {
  (void)state;
  test_srv_stop(&srv);
  tern_fi_free(srv_fi);
  srv_fi = NULL;
  assert_int_equal(q1.attr.count, 0);
  assert_null(q1.attr.notify); /* every list freed with its last entry */
  pthread_mutex_destroy(&q1.lock);
  test_registry_rm(reg);
  return 0;
}

static tern_rmc *open_q(void) {
  tern_rmc *h;
  assert_int_equal(tern_rmc_open(&h, "/dev/q", O_RDWR, &copts), TERN_OK);
  return h;
}

/* Armed entries on q1, asked of the server (its thread owns the list). */
static int armed(tern_rmc *h) {
  int64_t v = -1;
  uint8_t head[TERN__RM_HDR_LEN + 4];
  uint32_t rid = tern__rmc_rid(h);
  assert_int_equal(tern__rmc_call(h, rid, head,
                                  tern__rm_enc_priv(head, rid, PRIV_COUNT, 0),
                                  NULL, 0, NULL, 0, &v, NULL),
                   TERN_OK);
  return (int)v;
}

static void put(tern_rmc *h, const char *s) {
  assert_int_equal(tern_rmc_write(h, s, strlen(s)), (int)strlen(s));
}

static void expect_pulse(tern_rmc *h, int code, uint32_t conds, int64_t value) {
  tern_rm_pulse p;
  assert_int_equal(tern_rmc_pulse_recv(h, &p, 2000), TERN_OK);
  assert_int_equal(p.code, code);
  assert_int_equal(p.conds, conds);
  assert_int_equal(p.value, value);
}

static void expect_no_pulse(tern_rmc *h, int ms) {
  tern_rm_pulse p;
  assert_int_equal(tern_rmc_pulse_recv(h, &p, ms), TERN_ETIMEDOUT);
}

/* ---- notify ----------------------------------------------------------------- */

static void test_poll_without_arm(void **state) {
  (void)state;
  tern_rmc *h = open_q();
  const uint32_t io = TERN_RM_NOTIFY_INPUT | TERN_RM_NOTIFY_OUTPUT;
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLL, TERN_RM_NOTIFY_INPUT,
                                   NULL, 1, 0), 0);
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLL, io, NULL, 1, 0),
                   TERN_RM_NOTIFY_OUTPUT);
  assert_int_equal(armed(h), 0); /* POLL never arms */
  put(h, "a");
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLL, io, NULL, 1, 0), (int)io);
  /* POLLARM with the condition ready: answered, not armed */
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLLARM, TERN_RM_NOTIFY_INPUT,
                                   NULL, 1, 0), TERN_RM_NOTIFY_INPUT);
  assert_int_equal(armed(h), 0);
  expect_no_pulse(h, 50);
  /* bad requests refused before sending */
  assert_int_equal(tern_rmc_notify(h, 3, TERN_RM_NOTIFY_INPUT, NULL, 1, 0), TERN_EINVAL);
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLL, 0, NULL, 1, 0), TERN_EINVAL);
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLL, 8, NULL, 1, 0), TERN_EINVAL);
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLL, 1, NULL, 128, 0), TERN_EINVAL);
  uint32_t zero[3] = {0, 1, 1};
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLL, 1, zero, 1, 0), TERN_EINVAL);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

static void test_arm_then_trigger(void **state) {
  (void)state;
  tern_rmc *r = open_q(), *w = open_q();
  assert_int_equal(tern_rmc_notify(r, TERN_RM_NOTIFY_POLLARM,
                                   TERN_RM_NOTIFY_INPUT, NULL, 3, 77), 0);
  assert_int_equal(armed(r), 1);
  expect_no_pulse(r, 50);
  put(w, "x");
  expect_pulse(r, 3, TERN_RM_NOTIFY_INPUT, 77);
  assert_int_equal(armed(r), 0); /* one pulse per arm */
  put(w, "y");
  expect_no_pulse(r, 100);
  assert_int_equal(tern_rmc_pulse_pending(r), 0);
  char b[8];
  assert_int_equal(tern_rmc_read(r, b, sizeof(b)), 1);
  assert_int_equal(b[0], 'x');
  /* re-arming replaces: one entry per connection */
  assert_int_equal(tern_rmc_read(r, b, sizeof(b)), 1);
  assert_int_equal(tern_rmc_notify(r, TERN_RM_NOTIFY_POLLARM, TERN_RM_NOTIFY_INPUT,
                                   NULL, 1, 1), 0);
  assert_int_equal(tern_rmc_notify(r, TERN_RM_NOTIFY_POLLARM, TERN_RM_NOTIFY_INPUT,
                                   NULL, 2, 2), 0);
  assert_int_equal(armed(r), 1);
  put(w, "z");
  expect_pulse(r, 2, TERN_RM_NOTIFY_INPUT, 2);
  expect_no_pulse(r, 50);
  assert_int_equal(tern_rmc_close(r), TERN_OK);
  assert_int_equal(tern_rmc_close(w), TERN_OK);
}

static void test_transition_and_oob(void **state) {
  (void)state;
  tern_rmc *h = open_q();
  put(h, "a"); /* input ready already */
  /* TRANSITION: arms even so, answers nothing ready */
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_TRANSITION,
                                   TERN_RM_NOTIFY_INPUT | TERN_RM_NOTIFY_OOB,
                                   NULL, 4, 40), 0);
  assert_int_equal(armed(h), 1);
  expect_no_pulse(h, 50);
  int64_t sent = 0;
  uint8_t head[TERN__RM_HDR_LEN + 4];
  uint32_t rid = tern__rmc_rid(h);
  assert_int_equal(tern__rmc_call(h, rid, head, tern__rm_enc_priv(head, rid, PRIV_OOB, 0),
                                  NULL, 0, NULL, 0, &sent, NULL), TERN_OK);
  assert_int_equal(sent, 1);
  expect_pulse(h, 4, TERN_RM_NOTIFY_OOB, 40); /* queued during the call */
  assert_int_equal(armed(h), 0);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

static void test_threshold(void **state) {
  (void)state;
  tern_rmc *r = open_q(), *w = open_q();
  uint32_t th[3] = {3, 0, 0};
  assert_int_equal(tern_rmc_notify(r, TERN_RM_NOTIFY_POLLARM,
                                   TERN_RM_NOTIFY_INPUT, th, 1, 5), 0);
  put(w, "1");
  put(w, "2");
  expect_no_pulse(r, 100); /* 2 items < 3 */
  assert_int_equal(armed(r), 1);
  put(w, "3");
  expect_pulse(r, 1, TERN_RM_NOTIFY_INPUT, 5);
  assert_int_equal(tern_rmc_close(r), TERN_OK);
  assert_int_equal(tern_rmc_close(w), TERN_OK);
}

static void test_several_clients(void **state) {
  (void)state;
  tern_rmc *c[3], *w = open_q();
  for (int i = 0; i < 3; i++) {
    c[i] = open_q();
    assert_int_equal(tern_rmc_notify(c[i], TERN_RM_NOTIFY_POLLARM,
                                     TERN_RM_NOTIFY_INPUT, NULL, 10 + i, i), 0);
  }
  assert_int_equal(armed(w), 3);
  put(w, "go");
  for (int i = 0; i < 3; i++) expect_pulse(c[i], 10 + i, TERN_RM_NOTIFY_INPUT, i);
  put(w, "again");
  for (int i = 0; i < 3; i++) {
    expect_no_pulse(c[i], 30); /* exactly one each */
    assert_int_equal(tern_rmc_close(c[i]), TERN_OK);
  }
  assert_int_equal(tern_rmc_close(w), TERN_OK);
}

static void test_remove_on_close(void **state) {
  (void)state;
  tern_rmc *h = open_q(), *d, *w = open_q();
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLLARM,
                                   TERN_RM_NOTIFY_INPUT, NULL, 1, 0), 0);
  assert_int_equal(tern_rmc_dup(h, &d), TERN_OK);
  assert_int_equal(tern_rmc_close(d), TERN_OK);
  assert_int_equal(armed(w), 1); /* the OCB lives on */
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  assert_int_equal(armed(w), 0); /* close_ocb removed it */
  put(w, "nobody");              /* a trigger with nobody armed */
  assert_int_equal(tern_rmc_close(w), TERN_OK);
}

static void test_client_dies_armed(void **state) {
  (void)state;
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    tern_rmc *h;
    if (tern_rmc_open(&h, "/dev/q", O_RDONLY, &copts) != TERN_OK) _exit(1);
    if (tern_rmc_notify(h, TERN_RM_NOTIFY_POLLARM, TERN_RM_NOTIFY_INPUT, NULL,
                        1, 0) != 0)
      _exit(2);
    if (write(ready[1], "k", 1) != 1) _exit(3);
    pause(); /* killed armed, never closing */
    _exit(4);
  }
  char k;
  assert_int_equal(read(ready[0], &k, 1), 1);
  tern_rmc *w = open_q();
  assert_int_equal(armed(w), 1);
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFSIGNALED(st));
  int n = -1;
  for (int i = 0; i < 300 && (n = armed(w)) != 0; i++) usleep(10 * 1000);
  assert_int_equal(n, 0); /* the entry went with the connection */
  put(w, "late");         /* nothing is sent to the dead */
  assert_int_equal(tern_rmc_close(w), TERN_OK);
  close(ready[0]);
  close(ready[1]);
}

/* The server's pulse comes while the client waits for a reply: it is
 * queued, and the reply is still the reply. */
static void test_pulse_during_request(void **state) {
  (void)state;
  tern_rmc *h = open_q();
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLLARM,
                                   TERN_RM_NOTIFY_INPUT, NULL, 8, 800), 0);
  /* its own write triggers: the pulse is sent before the write's reply */
  assert_int_equal(tern_rmc_write(h, "self", 4), 4);
  assert_int_equal(tern_rmc_pulse_pending(h), 1);
  /* the descriptor is quiet: the pulse was taken off it */
  struct pollfd p = {tern_rmc_fd(h), POLLIN, 0};
  assert_int_equal(poll(&p, 1, 0), 0);
  char b[8];
  assert_int_equal(tern_rmc_read(h, b, sizeof(b)), 4);
  assert_memory_equal(b, "self", 4);
  tern_rm_pulse pl;
  assert_int_equal(tern_rmc_pulse_recv(h, &pl, 0), TERN_OK);
  assert_int_equal(pl.code, 8);
  assert_int_equal(pl.value, 800);
  assert_int_equal(tern_rmc_pulse_pending(h), 0);
  assert_int_equal(tern_rmc_pulse_recv(h, &pl, 0), TERN_ETIMEDOUT);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

/* A client waiting in a tern loop: a watcher on tern_rmc_fd, the pulse
 * read without blocking when it fires. */
typedef struct lwait {
  tern_loop *loop;
  tern_rmc *h, *w;
  tern_rm_pulse p;
  int got, rc;
} lwait;

static void on_readable(tern_io *io, unsigned events, void *ud) {
  lwait *l = ud;
  (void)io, (void)events;
  while ((l->rc = tern_rmc_pulse_recv(l->h, &l->p, 0)) == TERN_OK) l->got++;
  if (l->got) tern_loop_stop(l->loop);
}

static void on_write_timer(tern_timer *t, void *ud) {
  lwait *l = ud;
  (void)t;
  put(l->w, "from the loop");
}

static void on_guard(tern_timer *t, void *ud) {
  (void)t;
  tern_loop_stop(((lwait *)ud)->loop);
}

static void test_pulse_in_tern_loop(void **state) {
  (void)state;
  lwait l = {0};
  tern_io *io;
  tern_timer *wt, *guard;
  l.h = open_q();
  l.w = open_q();
  assert_int_equal(tern_rmc_notify(l.h, TERN_RM_NOTIFY_POLLARM,
                                   TERN_RM_NOTIFY_INPUT, NULL, 21, 2100), 0);
  assert_int_equal(tern_rmc_pulse_pending(l.h), 0); /* else drain first */
  assert_int_equal(tern_loop_new(&l.loop, NULL), TERN_OK);
  assert_int_equal(tern_io_start(l.loop, &io, tern_rmc_fd(l.h), TERN_IO_READ,
                                 on_readable, &l), TERN_OK);
  assert_int_equal(tern_timer_new(l.loop, &wt, on_write_timer, &l), TERN_OK);
  assert_int_equal(tern_timer_new(l.loop, &guard, on_guard, &l), TERN_OK);
  tern_timer_start(wt, 20, 0);
  tern_timer_start(guard, 3000, 0);
  tern_loop_run(l.loop);
  assert_int_equal(l.got, 1);
  assert_int_equal(l.rc, TERN_ETIMEDOUT); /* drained: nothing more now */
  assert_int_equal(l.p.code, 21);
  assert_int_equal(l.p.value, 2100);
  assert_int_equal(l.p.conds, TERN_RM_NOTIFY_INPUT);
  tern_io_stop(io);
  tern_timer_free(wt);
  tern_timer_free(guard);
  tern_loop_free(l.loop);
  assert_int_equal(tern_rmc_close(l.h), TERN_OK);
  assert_int_equal(tern_rmc_close(l.w), TERN_OK);
}

/* ---- pulses and private messages ---------------------------------------- */

static void test_pulse_attach(void **state) {
  (void)state;
  assert_int_equal(fixed_rc, 5);
  assert_int_equal(alloc_rc, 0); /* the lowest free */
  assert_int_equal(alloc2_rc, 1);
  assert_int_equal(dup_rc, TERN_EEXIST);
  assert_int_equal(bad_rc, TERN_EINVAL);
  tern_rmc *h = open_q();
  assert_int_equal(tern_rmc_pulse(h, 5, 41), TERN_OK);
  expect_pulse(h, 6, 0, 42);
  assert_int_equal(tern_rmc_pulse(h, alloc_rc, 0), TERN_OK);
  assert_int_equal(tern_rmc_pulse(h, alloc2_rc, 0), TERN_OK);
  expect_pulse(h, 0, 0, 1000);
  expect_pulse(h, 1, 0, 1001);
  assert_int_equal(alloc_pulses, 2);
  assert_int_equal(tern_rmc_pulse(h, 100, 0), TERN_OK); /* unattached: dropped */
  expect_no_pulse(h, 50);
  assert_int_equal(tern_rmc_pulse(h, 128, 0), TERN_EINVAL);
  assert_int_equal(tern_rmc_pulse(h, -1, 0), TERN_EINVAL);
  tern_rm_stat st;
  assert_int_equal(tern_rmc_stat(h, &st), TERN_OK); /* still served */
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

/* A client that never reads its pulses: once its socket is full the
 * server drops the connection (as for replies) and serves the others. */
static void test_unread_pulses_drop_client(void **state) {
  (void)state;
  tern_rmc *h = open_q(), *w = open_q();
  int rc = TERN_OK, sent = 0;
  for (; sent < 20000 && rc == TERN_OK; sent++) rc = tern_rmc_pulse(h, 5, sent);
  int64_t opens = -1;
  for (int i = 0; i < 300; i++) { /* the server reads them all, then drops h */
    uint8_t head[TERN__RM_HDR_LEN + 4];
    uint32_t rid = tern__rmc_rid(w);
    assert_int_equal(tern__rmc_call(w, rid, head,
                                    tern__rm_enc_priv(head, rid, PRIV_OPENS, 0),
                                    NULL, 0, NULL, 0, &opens, NULL), TERN_OK);
    if (opens == 1) break;
    usleep(10 * 1000);
  }
  assert_int_equal(opens, 1);
  /* h learns it (the kernel resets the connection: pulses still in its
   * socket may be lost with it) */
  assert_int_not_equal(rc, TERN_OK);
  tern_rm_stat st;
  assert_int_equal(tern_rmc_stat(h, &st), TERN_ECONNRESET);
  assert_true(tern_rmc_pulse_pending(h) <= 32); /* the queue's bound */
  assert_int_equal(tern_rmc_close(h), TERN_ECONNRESET); /* freed all the same */
  assert_int_equal(tern_rmc_close(w), TERN_OK);
}

/* Fault injection: an arm that cannot be made is refused with its error
 * (nothing armed); a pulse that cannot be sent drops that client. */
static void test_faults(void **state) {
  (void)state;
  tern_rmc *h = open_q(), *w = open_q();
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLLARM,
                                   TERN_RM_NOTIFY_INPUT, NULL, 1, 0), TERN_ENOMEM);
  assert_int_equal(armed(w), 0);
  assert_int_equal(tern_fi_fired(srv_fi, "rm/notify_arm"), 1);
  assert_int_equal(tern_rmc_notify(h, TERN_RM_NOTIFY_POLLARM, /* the next works */
                                   TERN_RM_NOTIFY_INPUT, NULL, 1, 0), 0);
  assert_int_equal(armed(w), 1);
  put(w, "x"); /* its pulse fails: h is dropped, the entry gone */
  tern_rm_pulse p;
  assert_int_equal(tern_rmc_pulse_recv(h, &p, 2000), TERN_ECONNRESET);
  assert_int_equal(armed(w), 0);
  assert_int_equal(tern_rmc_close(h), TERN_ECONNRESET);
  /* w goes on, and so do pulses to it */
  assert_int_equal(tern_rmc_pulse(w, 5, 1), TERN_OK);
  expect_pulse(w, 6, 0, 2);
  assert_int_equal(tern_rmc_close(w), TERN_OK);
}

static void test_detach(void **state) {
  (void)state;
  tern_rmc *h = open_q();
  assert_int_equal(tern_rmc_msgsend_private(h, PRIV_DETACH, NULL, 0, NULL, 0, NULL),
                   TERN_OK);
  assert_int_equal(tern_rmc_msgsend_private(h, PRIV_DETACH, NULL, 0, NULL, 0, NULL),
                   TERN_ENOENT); /* gone already */
  assert_int_equal(tern_rmc_pulse(h, 5, 1), TERN_OK);
  expect_no_pulse(h, 50); /* nobody answers code 5 now */
  assert_int_equal(tern_rmc_msgsend_private(h, 0x7000, NULL, 0, NULL, 0, NULL),
                   TERN_ENOTSUP);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

static void test_pulse_from_thread(void **state) {
  (void)state;
  tern_rmc *h = open_q();
  assert_int_equal(tern_rmc_msgsend_private(h, PRIV_THREAD, NULL, 0, NULL, 0, NULL),
                   TERN_OK);
  expect_pulse(h, 9, 0, 99);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

static void test_message_attach_ranges(void **state) {
  (void)state;
  assert_int_equal(overlap_rc, TERN_EEXIST);
  assert_int_equal(solo_rc, TERN_OK);
  assert_int_equal(low_rc, TERN_EINVAL); /* 0..0x1ff is the system's */
  tern_rmc *h = open_q();
  char out[64];
  size_t n = 0;
  assert_int_equal(tern_rmc_msgsend_private(h, PRIV_ECHO, "ab", 2, out,
                                            sizeof(out), &n), TERN_OK);
  assert_int_equal(n, 12);
  assert_memory_equal(out, "priv:5000:ab", 12);
  assert_int_equal(tern_rmc_msgsend_private(h, PRIV_LAST, "z", 1, out,
                                            sizeof(out), &n), TERN_OK);
  assert_int_equal(n, 11);
  assert_memory_equal(out, "priv:5fff:z", 11);
  assert_int_equal(tern_rmc_msgsend_private(h, PRIV_SOLO, NULL, 0, out,
                                            sizeof(out), &n), TERN_OK);
  assert_memory_equal(out, "solo", 4);
  assert_int_equal(tern_rmc_msgsend_private(h, 0x4fff, NULL, 0, NULL, 0, NULL),
                   TERN_ENOTSUP);
  assert_int_equal(tern_rmc_msgsend_private(h, 0x6000, NULL, 0, NULL, 0, NULL),
                   TERN_ENOTSUP);
  assert_int_equal(tern_rmc_msgsend_private(h, PRIV_SOLO + 1, NULL, 0, NULL, 0, NULL),
                   TERN_ENOTSUP);
  assert_int_equal(tern_rmc_msgsend_private(h, 0x1ff, NULL, 0, NULL, 0, NULL),
                   TERN_EINVAL);
  assert_int_equal(tern_rmc_msgsend_private(h, 0x10000, NULL, 0, NULL, 0, NULL),
                   TERN_EINVAL);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

/* ---- the wire ------------------------------------------------------------------ */

static size_t build(uint8_t *out, int kind) {
  static const uint32_t th[3] = {1, 0, 7};
  size_t n;
  switch (kind) {
  case 0:
    return tern__rm_enc_notify(out, 3, TERN_RM_NOTIFY_POLLARM,
                               TERN_RM_NOTIFY_INPUT | TERN_RM_NOTIFY_OOB, 12, -9, th);
  case 1: return tern__rm_enc_pulse(out, 127, TERN_RM_NOTIFY_OUTPUT, 1ll << 40);
  default:
    n = tern__rm_enc_priv(out, 4, 0x5001, 3);
    memcpy(out + n, "xyz", 3);
    return n + 3;
  }
}

static void test_wire_kinds(void **state) {
  (void)state;
  uint8_t b[128], c[128];
  tern__rm_msg m;
  for (int k = 0; k <= 2; k++) {
    size_t n = build(b, k);
    assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_OK);
    for (size_t cut = 0; cut < n; cut++)
      assert_int_equal(tern__rm_msg_decode(b, cut, &m), TERN_EPROTO);
    memcpy(c, b, n);
    c[n] = 0;
    uint32_t len = (uint32_t)(n + 1 - TERN__RM_HDR_LEN);
    memcpy(c + 8, &len, 4);
    assert_int_equal(tern__rm_msg_decode(c, n + 1, &m),
                     k == 2 ? TERN_OK : TERN_EPROTO); /* PRIV data is free */
  }
  size_t n = build(b, 0);
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_OK);
  assert_int_equal(m.action, TERN_RM_NOTIFY_POLLARM);
  assert_int_equal(m.conds, 5);
  assert_int_equal(m.status, 12);
  assert_int_equal(m.offset, -9);
  assert_int_equal(m.thresh[0], 1);
  assert_int_equal(m.thresh[2], 7);
  /* every field checked: action, conds, code, zeros, thresholds */
  static const struct { size_t off; uint8_t v; } bad[] = {
      {16, 3}, {20, 0}, {20, 8}, {24, 128}, {27, 0x80}, {28, 1}, {44, 1},
      {40, 0}, {48, 0}, {52, 1}};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memcpy(c, b, n);
    c[bad[i].off] = bad[i].v;
    assert_int_equal(tern__rm_msg_decode(c, n, &m), TERN_EPROTO);
  }
  n = build(b, 1);
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_OK);
  assert_int_equal(m.status, 127);
  assert_int_equal(m.conds, TERN_RM_NOTIFY_OUTPUT);
  assert_int_equal(m.offset, 1ll << 40);
  static const struct { size_t off; uint8_t v; } badp[] = {
      {4, 1}, {2, 1}, {16, 128}, {19, 0x80}, {20, 8}};
  for (size_t i = 0; i < sizeof(badp) / sizeof(badp[0]); i++) {
    memcpy(c, b, n);
    c[badp[i].off] = badp[i].v; /* rid != 0, reply flag, code, conds */
    assert_int_equal(tern__rm_msg_decode(c, n, &m), TERN_EPROTO);
  }
  n = build(b, 2);
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_OK);
  assert_int_equal(m.mgrid, 0x5001);
  assert_int_equal(m.data_len, 3);
  memcpy(c, b, n);
  c[17] = 0x01; /* type 0x0101: the system's */
  assert_int_equal(tern__rm_msg_decode(c, n, &m), TERN_EPROTO);
  memcpy(c, b, n);
  c[18] = 1; /* reserved */
  assert_int_equal(tern__rm_msg_decode(c, n, &m), TERN_EPROTO);
  memcpy(c, b, n);
  c[1] = 14; /* kept, not yet a kind */
  assert_int_equal(tern__rm_msg_decode(c, n, &m), TERN_EPROTO);
}

/* Send bytes, read the answer: its status, or 1 if the connection closed. */
static int exchange(int fd, const uint8_t *b, size_t n, uint32_t rid) {
  uint8_t r[256];
  assert_int_equal(send(fd, b, n, 0), (ssize_t)n);
  struct pollfd p = {fd, POLLIN, 0};
  assert_int_equal(poll(&p, 1, 2000), 1);
  ssize_t got = recv(fd, r, sizeof(r), 0);
  if (got == 0) return 1;
  tern__rm_msg m;
  assert_int_equal(tern__rm_msg_decode(r, (size_t)got, &m), TERN_OK);
  assert_true(m.h.flags & TERN__RM_F_REPLY);
  assert_int_equal(m.h.rid, rid);
  return m.status;
}

static void test_malformed_at_server(void **state) {
  (void)state;
  char rest[64];
  int fd;
  uint8_t b[128];
  const uint32_t th[3] = {1, 0, 0};
  assert_int_equal(tern__rm_resolve(reg, "/dev/q", &fd, rest, sizeof(rest)), TERN_OK);
  size_t n = tern__rm_enc_notify(b, 2, 0, TERN_RM_NOTIFY_INPUT, 1, 0, th);
  assert_int_equal(exchange(fd, b, n, 2), TERN_EBADF); /* before OPEN */
  n = tern__rm_enc_open(b, 3, O_RDWR, 0, 0);
  assert_int_equal(exchange(fd, b, n, 3), TERN_OK);
  n = tern__rm_enc_notify(b, 4, 1, TERN_RM_NOTIFY_INPUT, 1, 0, th);
  b[TERN__RM_HDR_LEN + 4] = 9; /* conds with an unknown bit */
  assert_int_equal(exchange(fd, b, n, 4), TERN_EPROTO);
  n = tern__rm_enc_notify(b, 5, 1, TERN_RM_NOTIFY_INPUT, 1, 0, th);
  assert_int_equal(exchange(fd, b, n - 1, 5), TERN_EPROTO); /* cut short */
  n = tern__rm_enc_notify(b, 6, 1, TERN_RM_NOTIFY_OUTPUT, 1, 0, th);
  assert_int_equal(exchange(fd, b, n, 6), TERN_EPROTO); /* threshold mismatch */
  /* a good one after all that: the connection is fine */
  n = tern__rm_enc_notify(b, 7, 0, TERN_RM_NOTIFY_INPUT, 1, 0, th);
  assert_int_equal(exchange(fd, b, n, 7), TERN_OK);
  /* a pulse carrying notify conditions to the server: closed */
  n = tern__rm_enc_pulse(b, 5, TERN_RM_NOTIFY_INPUT, 0);
  assert_int_equal(exchange(fd, b, n, 0), 1);
  close(fd);
  /* a pulse with a rid: never answered (a reply to a pulse does not
   * exist), the connection is closed */
  assert_int_equal(tern__rm_resolve(reg, "/dev/q", &fd, rest, sizeof(rest)), TERN_OK);
  n = tern__rm_enc_pulse(b, 5, 0, 0);
  b[4] = 9;
  assert_int_equal(exchange(fd, b, n, 9), 1);
  close(fd);
  assert_int_equal(tern__rm_resolve(reg, "/dev/q", &fd, rest, sizeof(rest)), TERN_OK);
  n = tern__rm_enc_pulse(b, 5, 0, 0);
  b[TERN__RM_HDR_LEN] = 200; /* code out of range, rid 0: closed */
  assert_int_equal(exchange(fd, b, n, 0), 1);
  close(fd);
  tern_rmc *h = open_q();
  assert_int_equal(armed(h), 0);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

#ifdef TEST_NOTIFY_POOL
/* Readers on their own threads arm, wait for their pulse, read, and now
 * and then close or drop the connection abruptly while armed, while a
 * writer fills the queue: arms, triggers (from write handlers on pool
 * threads) and removals (close, a client's end) in parallel. Every armed
 * wait gets its pulse; nothing is left armed or open. */
#define P_READERS 4
#define P_ROUNDS 40
static atomic_bool p_stop;
static atomic_int p_pulses, p_armed;

static void p_reader(void *arg) {
  int id = (int)(intptr_t)arg;
  tern_rmc *h = open_q();
  char b[32];
  for (int i = 0; i < P_ROUNDS; i++) {
    int r = tern_rmc_notify(h, TERN_RM_NOTIFY_POLLARM, TERN_RM_NOTIFY_INPUT,
                            NULL, 20 + id, i);
    assert_true(r == 0 || r == (int)TERN_RM_NOTIFY_INPUT);
    if (r == 0 && i % 7 == 3) { /* dies armed: the server sees the end */
      shutdown(tern_rmc_fd(h), SHUT_RDWR);
      tern_rmc_close(h);
      h = open_q();
      continue;
    }
    if (r == 0 && i % 5 == 2) { /* closes armed */
      assert_int_equal(tern_rmc_close(h), TERN_OK);
      h = open_q();
      continue;
    }
    if (r == 0) {
      p_armed++;
      tern_rm_pulse p;
      assert_int_equal(tern_rmc_pulse_recv(h, &p, 5000), TERN_OK);
      assert_int_equal(p.code, 20 + id);
      assert_int_equal(p.conds, TERN_RM_NOTIFY_INPUT);
      assert_int_equal(p.value, i);
      p_pulses++;
    }
    int n = tern_rmc_read(h, b, sizeof(b));
    assert_true(n >= 0); /* another reader may have taken it: 0 */
  }
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

static void p_writer(void *arg) {
  (void)arg;
  tern_rmc *w = open_q();
  while (!p_stop) {
    int n = tern_rmc_write(w, "i", 1);
    assert_true(n == 1 || n == TERN_EAGAIN); /* full: the readers lag */
    usleep(500);
  }
  assert_int_equal(tern_rmc_close(w), TERN_OK);
}

static void test_pool_parallel(void **state) {
  (void)state;
  tern_thread *r[P_READERS], *w;
  unsigned threads = 0;
  tern_rm_pool_count(srv.d, &threads, NULL);
  assert_true(threads >= 2); /* lo_water: handlers run on the pool */
  p_stop = false;
  p_pulses = p_armed = 0;
  assert_int_equal(tern_thread_new(&w, "writer", p_writer, NULL), TERN_OK);
  for (int i = 0; i < P_READERS; i++)
    assert_int_equal(tern_thread_new(&r[i], "reader", p_reader,
                                     (void *)(intptr_t)i), TERN_OK);
  for (int i = 0; i < P_READERS; i++) tern_thread_join(r[i]);
  p_stop = true;
  tern_thread_join(w);
  assert_true(p_armed > 0);
  assert_int_equal(p_pulses, p_armed); /* no armed wait missed its pulse */
  tern_rmc *h = open_q();
  int n = -1;
  for (int i = 0; i < 300 && (n = armed(h)) != 0; i++) usleep(10 * 1000);
  assert_int_equal(n, 0); /* the ends and closes took their entries along */
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {
#ifdef TEST_NOTIFY_POOL
      cmocka_unit_test_setup_teardown(test_pool_parallel, setup, teardown),
#endif
      cmocka_unit_test_setup_teardown(test_poll_without_arm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_arm_then_trigger, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transition_and_oob, setup, teardown),
      cmocka_unit_test_setup_teardown(test_threshold, setup, teardown),
      cmocka_unit_test_setup_teardown(test_several_clients, setup, teardown),
      cmocka_unit_test_setup_teardown(test_remove_on_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_dies_armed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pulse_during_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pulse_in_tern_loop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pulse_attach, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pulse_from_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(test_detach, setup, teardown),
      cmocka_unit_test_setup_teardown(test_faults, setup_fi, teardown),
      cmocka_unit_test_setup_teardown(test_unread_pulses_drop_client, setup, teardown),
      cmocka_unit_test_setup_teardown(test_message_attach_ranges, setup, teardown),
      cmocka_unit_test(test_wire_kinds),
      cmocka_unit_test_setup_teardown(test_malformed_at_server, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
