/* examples/rm_dir.c: a directory attach (QNX _RESMGR_FLAG_DIR) on tern's
 * rm (tern/rm.h): one name, /dev/tern/regs, serves every path below it;
 * the open handler sees the rest of the path and picks the entry. Here:
 * eight integer registers, /dev/tern/regs/0 .. /dev/tern/regs/7; a read
 * gives the value as text, a write of a number sets it. Each register has
 * its own attribute structure (handed to tern_rm_open_default), so stat
 * tells the directory from its files.
 *
 *   example_rm_dir [-d REGISTRY] [PATH]        (PATH: /dev/tern/regs)
 *
 *   ternctl write /dev/tern/regs/3 42; ternctl cat /dev/tern/regs/3
 *   through the FUSE bridge: echo 42 > MNT/dev/tern/regs/3
 * SIGINT/SIGTERM end it. Linux only (the rm is).
 */
#define _XOPEN_SOURCE 700 /* getopt, sigaction, S_IFDIR under -std=c11 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/tern.h"

#define NREGS 8

typedef struct reg {
  tern_rm_attr attr;
  long value;
} reg;

static tern_rm_attr dir_attr;
static reg regs[NREGS];
static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

/* "" is the directory itself, "0".."7" a register, anything else ENOENT. */
static int r_open(tern_rm_ctx *ctx, const tern_rm_open_msg *msg,
                  tern_rm_attr *attr, void *reserved) {
  const char *p = msg->path;
  if (p[0] == '\0') return tern_rm_open_default(ctx, msg, attr, reserved);
  if (p[0] < '0' || p[0] >= '0' + NREGS || p[1] != '\0') return TERN_ENOENT;
  return tern_rm_open_default(ctx, msg, &regs[p[0] - '0'].attr, reserved);
}

static int r_read(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                  tern_rm_ocb *ocb) {
  static char buf[32];
  reg *r = tern_rm_ocb_attr(ocb)->data;
  if (r == NULL) return TERN_EBADF; /* the directory: no data */
  int n = snprintf(buf, sizeof(buf), "%ld\n", r->value);
  int64_t off = tern_rm_ocb_offset(ocb);
  if (off >= n) return TERN_OK;
  size_t k = (size_t)(n - off) < msg->nbytes ? (size_t)(n - off) : msg->nbytes;
  tern_rm_ocb_set_offset(ocb, off + (int64_t)k);
  return tern_rm_reply_data(ctx, buf + off, k);
}

static int r_write(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
                   tern_rm_ocb *ocb) {
  char buf[32], *end;
  reg *r = tern_rm_ocb_attr(ocb)->data;
  int rc = tern_rm_write_default(ctx, msg, ocb); /* the access check */
  if (rc == TERN_EBADF || r == NULL) return TERN_EBADF;
  if (msg->nbytes == 0 || msg->nbytes >= sizeof(buf)) return TERN_EINVAL;
  memcpy(buf, msg->data, msg->nbytes);
  buf[msg->nbytes] = '\0';
  long v = strtol(buf, &end, 0);
  if (end == buf || (*end != '\0' && *end != '\n')) return TERN_EINVAL;
  r->value = v;
  tern_rm_ctx_set_value(ctx, (int64_t)msg->nbytes);
  return TERN_OK;
}

static void on_tick(tern_timer *t, void *ud) {
  (void)t;
  if (stop) tern_loop_stop(ud);
}

int main(int argc, char **argv) {
  static const tern_rm_connect_funcs cf = {.open = r_open};
  static const tern_rm_io_funcs io = {.read = r_read, .write = r_write};
  tern_rm_opts o = {0};
  const char *path = "/dev/tern/regs";
  int opt;
  while ((opt = getopt(argc, argv, "d:")) != -1) {
    if (opt != 'd') return 2;
    o.registry = optarg;
  }
  if (optind < argc) path = argv[optind];
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  tern_rm_attr_init(&dir_attr, S_IFDIR | 0555, getuid(), getgid());
  for (int i = 0; i < NREGS; i++) {
    tern_rm_attr_init(&regs[i].attr, S_IFREG | 0644, getuid(), getgid());
    regs[i].attr.inode = (uint64_t)i + 1;
    regs[i].attr.data = &regs[i];
  }
  tern_loop *loop;
  tern_rm_dispatch *d;
  tern_timer *tick;
  int rc = tern_loop_new(&loop, NULL);
  if (rc == TERN_OK) rc = tern_rm_dispatch_new(&d, loop, &o);
  if (rc == TERN_OK)
    rc = tern_rm_attach(d, path, TERN_RM_ATTACH_DIR, &cf, &io, &dir_attr, NULL);
  if (rc != TERN_OK) {
    fprintf(stderr, "rm_dir: %s: %s\n", path, tern_strerror(rc));
    return 1;
  }
  tern_timer_new(loop, &tick, on_tick, loop);
  tern_timer_start(tick, 100, 100);
  printf("rm_dir: %s/0..%d attached in %s\n", path, NREGS - 1,
         tern_rm_dispatch_registry(d));
  fflush(stdout);
  tern_loop_run(loop);
  tern_timer_free(tick);
  tern_rm_dispatch_free(d);
  tern_loop_free(loop);
  return 0;
}
