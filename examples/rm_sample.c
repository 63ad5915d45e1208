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
 * SIGINT/SIGTERM end it (the name is removed). Linux only (the rm is).
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

static void on_tick(tern_timer *t, void *ud) {
  (void)t;
  if (stop) tern_loop_stop(ud);
}

int main(int argc, char **argv) {
  static const tern_rm_io_funcs io = {.read = s_read, .write = s_write,
                                      .devctl = s_devctl};
  static sample dev;
  tern_rm_opts o = {0};
  const char *path = "/dev/tern/sample";
  int opt;
  while ((opt = getopt(argc, argv, "d:")) != -1) {
    if (opt != 'd') return 2;
    o.registry = optarg;
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
  if (rc != TERN_OK) {
    fprintf(stderr, "rm_sample: %s: %s\n", path, tern_strerror(rc));
    return 1;
  }
  tern_timer_new(loop, &tick, on_tick, loop);
  tern_timer_start(tick, 100, 100);
  printf("rm_sample: %s attached in %s\n", path, tern_rm_dispatch_registry(d));
  fflush(stdout);
  tern_loop_run(loop);
  tern_rm_dispatch_free(d);
  tern_loop_free(loop);
  return 0;
}
