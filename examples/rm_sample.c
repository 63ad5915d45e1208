/* examples/rm_sample.c: the sample device of QNX's resource-manager
 * guide, on tern's rm (tern/rm.h): a name whose writes are kept and whose
 * reads return the last write, and an integer behind three devctls.
 *
 *   example_rm_sample [-d REGISTRY] [PATH]      (PATH: /dev/tern/sample)
 *
 *   ternctl write /dev/tern/sample hello; ternctl cat /dev/tern/sample
 *   ternctl devctl /dev/tern/sample 0x80040501            GETVAL
 *   ternctl devctl /dev/tern/sample 0x40040502 19000000   SETVAL 25
 *   ternctl devctl /dev/tern/sample 0xc0040503 32000000   SETGET 50
 * With -q QPATH it also serves QNX's notify-chapter sample at QPATH: a
 * message queue (each write is one item, each read takes the oldest, a
 * full queue refuses writes with TERN_EAGAIN) whose notify handler
 * reports input when items wait and output while there is room, and
 * whose writes trigger input (reads trigger output) for armed clients:
 *
 *   example_rm_sample -q /dev/tern/queue &
 *   ternctl wait /dev/tern/queue input &     (waits for the pulse)
 *   ternctl write /dev/tern/queue hi         (the wait exits 0)
 * SIGINT/SIGTERM end it (the names are removed). Linux only (the rm is).
 */
#define _POSIX_C_SOURCE 200809L /* getopt, sigaction under -std=c11 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tern/tern.h"

#define SAMPLE_GETVAL __DIOF(TERN_DCMD_CLASS_MISC, 1, int32_t)
#define SAMPLE_SETVAL __DIOT(TERN_DCMD_CLASS_MISC, 2, int32_t)
#define SAMPLE_SETGET __DIOTF(TERN_DCMD_CLASS_MISC, 3, int32_t)

typedef struct sample {
  tern_rm_attr attr; /* first: the attr is the device */
  int32_t value;
  char data[4096];
  size_t len;
} sample;

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static int s_read(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                  tern_rm_ocb *ocb) {
  sample *s = tern_rm_ocb_attr(ocb)->data;
  int64_t off = tern_rm_ocb_offset(ocb);
  if (off >= (int64_t)s->len) return TERN_OK; /* end of data */
  size_t n = s->len - (size_t)off;
  if (n > msg->nbytes) n = msg->nbytes;
  tern_rm_ocb_set_offset(ocb, off + (int64_t)n);
  return tern_rm_reply_data(ctx, s->data + off, n);
}

static int s_write(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
                   tern_rm_ocb *ocb) {
  sample *s = tern_rm_ocb_attr(ocb)->data;
  size_t n = msg->nbytes < sizeof(s->data) ? msg->nbytes : sizeof(s->data);
  memcpy(s->data, msg->data, n);
  s->len = s->attr.nbytes = n;
  tern_rm_ctx_set_value(ctx, (int64_t)n);
  return TERN_OK;
}

static int s_devctl(tern_rm_ctx *ctx, tern_rm_devctl_msg *msg,
                    tern_rm_ocb *ocb) {
  sample *s = tern_rm_ocb_attr(ocb)->data;
  int rc = tern_rm_devctl_default(ctx, msg, ocb); /* generic commands first */
  if (rc != TERN_RM_DEFAULT) return rc;
  int32_t prev = s->value;
  switch (msg->dcmd) {
  case SAMPLE_GETVAL:
    return tern_rm_reply_data(ctx, &s->value, sizeof(s->value));
  case SAMPLE_SETVAL:
    memcpy(&s->value, msg->data, sizeof(s->value));
    return TERN_OK;
  case SAMPLE_SETGET:
    memcpy(&s->value, msg->data, sizeof(s->value));
    memcpy(msg->data, &prev, sizeof(prev)); /* answered in place */
    return tern_rm_reply_data(ctx, msg->data, sizeof(prev));
  default:
    return TERN_ENOTSUP;
  }
}

/* ---- the message queue (-q) -------------------------------------------- */

#define QUEUE_ITEMS 32
#define QUEUE_ITEM_MAX 256

typedef struct queue {
  tern_rm_attr attr;
  char item[QUEUE_ITEMS][QUEUE_ITEM_MAX];
  size_t len[QUEUE_ITEMS];
  size_t head, n;
} queue;

static uint32_t q_ready(const queue *q) {
  uint32_t trig = 0;
  if (q->n > 0) trig |= TERN_RM_NOTIFY_INPUT;
  if (q->n < QUEUE_ITEMS) trig |= TERN_RM_NOTIFY_OUTPUT;
  return trig;
}

static int q_write(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
                   tern_rm_ocb *ocb) {
  queue *q = tern_rm_ocb_attr(ocb)->data;
  if (q->n == QUEUE_ITEMS) return TERN_EAGAIN;
  size_t n = msg->nbytes < QUEUE_ITEM_MAX ? msg->nbytes : QUEUE_ITEM_MAX;
  size_t slot = (q->head + q->n++) % QUEUE_ITEMS;
  memcpy(q->item[slot], msg->data, n);
  q->len[slot] = n;
  q->attr.nbytes = q->n;
  /* the seed's io_write: wake the clients waiting for data */
  if (tern_rm_notify_check(&q->attr, TERN_RM_NOTIFY_INPUT, q->n))
    tern_rm_notify_trigger(&q->attr, TERN_RM_NOTIFY_INPUT, q->n);
  tern_rm_ctx_set_value(ctx, (int64_t)msg->nbytes);
  return TERN_OK;
}

static int q_read(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                  tern_rm_ocb *ocb) {
  static char out[QUEUE_ITEM_MAX]; /* the reply is sent before it changes */
  queue *q = tern_rm_ocb_attr(ocb)->data;
  if (q->n == 0) return TERN_OK; /* nothing queued: 0 bytes */
  size_t n = q->len[q->head] < msg->nbytes ? q->len[q->head] : msg->nbytes;
  memcpy(out, q->item[q->head], n); /* the rest of a long item is dropped */
  q->head = (q->head + 1) % QUEUE_ITEMS;
  q->attr.nbytes = --q->n;
  tern_rm_notify_trigger(&q->attr, TERN_RM_NOTIFY_OUTPUT, QUEUE_ITEMS - q->n);
  return tern_rm_reply_data(ctx, out, n);
}

static int q_notify(tern_rm_ctx *ctx, const tern_rm_notify_msg *msg,
                    tern_rm_ocb *ocb) {
  return tern_rm_notify(ctx, msg, ocb, q_ready(tern_rm_ocb_attr(ocb)->data));
}

static void on_tick(tern_timer *t, void *ud) {
  (void)t;
  if (stop) tern_loop_stop(ud);
}

int main(int argc, char **argv) {
  static const tern_rm_io_funcs io = {.read = s_read, .write = s_write,
                                      .devctl = s_devctl};
  static const tern_rm_io_funcs qio = {.read = q_read, .write = q_write,
                                       .notify = q_notify};
  static sample dev;
  static queue q;
  tern_rm_opts o = {0};
  const char *path = "/dev/tern/sample", *qpath = NULL;
  int opt;
  while ((opt = getopt(argc, argv, "d:q:")) != -1) {
    if (opt == 'd')
      o.registry = optarg;
    else if (opt == 'q')
      qpath = optarg;
    else
      return 2;
  }
  if (optind < argc) path = argv[optind];
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  tern_loop *loop;
  tern_rm_dispatch *d;
  tern_timer *tick;
  tern_rm_attr_init(&dev.attr, 0, getuid(), getgid());
  dev.attr.data = &dev;
  int rc = tern_loop_new(&loop, NULL);
  if (rc == TERN_OK) rc = tern_rm_dispatch_new(&d, loop, &o);
  if (rc == TERN_OK) rc = tern_rm_attach(d, path, 0, NULL, &io, &dev.attr, NULL);
  if (rc == TERN_OK && qpath) {
    tern_rm_attr_init(&q.attr, 0, getuid(), getgid());
    q.attr.data = &q;
    rc = tern_rm_attach(d, qpath, 0, NULL, &qio, &q.attr, NULL);
    if (rc != TERN_OK) path = qpath;
  }
  if (rc != TERN_OK) {
    fprintf(stderr, "rm_sample: %s: %s\n", path, tern_strerror(rc));
    return 1;
  }
  tern_timer_new(loop, &tick, on_tick, loop);
  tern_timer_start(tick, 100, 100);
  printf("rm_sample: %s attached in %s\n", path, tern_rm_dispatch_registry(d));
  if (qpath) printf("rm_sample: queue %s attached\n", qpath);
  fflush(stdout);
  tern_loop_run(loop);
  tern_rm_dispatch_free(d);
  tern_loop_free(loop);
  return 0;
}
