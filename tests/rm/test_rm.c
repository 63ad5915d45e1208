/* test_rm.c: the resource manager end to end, server on a thread, client
 * in the test (and in forked children): every message kind with its
 * handler and its default, dup/close counting, a client killed
 * mid-request, NOREPLY answered from another thread, unblock on a client
 * timeout, permission refusal for another uid, longest-prefix resolution
 * over two servers with directory attaches, stale registry entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rm/rm_server.h"

/* ---- the sample device (QNX's /dev/sample of the devctl chapter) ---- */

#define MY_GETVAL __DIOF(TERN_DCMD_CLASS_MISC, 1, int32_t)
#define MY_SETVAL __DIOT(TERN_DCMD_CLASS_MISC, 2, int32_t)
#define MY_SETGET __DIOTF(TERN_DCMD_CLASS_MISC, 3, int32_t)
#define MY_LATER __DIOF(TERN_DCMD_CLASS_MISC, 4, int32_t)  /* thread replies */
#define MY_HANG __DION(TERN_DCMD_CLASS_MISC, 5)            /* never replied */
#define MY_BIG __DIOF(TERN_DCMD_CLASS_MISC, 6, int64_t)    /* replies 16 bytes */

typedef struct dev {
  tern_rm_attr attr;
  const char *name;
  int32_t val;
  char buf[256];
  size_t len;
  atomic_int opens, dups, close_dups, close_ocbs, unblocks, hangs;
} dev;

static int d_open(tern_rm_ctx *ctx, const tern_rm_open_msg *msg,
                  tern_rm_attr *attr, void *reserved) {
  dev *v = attr->data;
  int rc = tern_rm_open_default(ctx, msg, attr, reserved);
  if (rc == TERN_OK) v->opens++;
  return rc;
}

static int d_read(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                  tern_rm_ocb *ocb) {
  dev *v = tern_rm_ocb_attr(ocb)->data;
  int64_t off = tern_rm_ocb_offset(ocb);
  if (off >= (int64_t)v->len) return TERN_OK; /* EOF */
  size_t n = v->len - (size_t)off;
  if (n > msg->nbytes) n = msg->nbytes;
  tern_rm_ocb_set_offset(ocb, off + (int64_t)n);
  return tern_rm_reply_data(ctx, v->buf + off, n);
}

static int d_write(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
                   tern_rm_ocb *ocb) {
  dev *v = tern_rm_ocb_attr(ocb)->data;
  size_t n = msg->nbytes < sizeof(v->buf) ? msg->nbytes : sizeof(v->buf);
  memcpy(v->buf, msg->data, n);
  v->len = n;
  tern_rm_ocb_attr(ocb)->nbytes = n;
  tern_rm_ctx_set_value(ctx, (int64_t)n);
  return TERN_OK;
}

typedef struct later {
  tern_rm_dispatch *d;
  tern_rm_rcvid rcvid;
} later;

static void later_thread(void *arg) {
  later *l = arg;
  usleep(50 * 1000);
  int32_t v = 4242;
  struct iovec iov = {&v, sizeof(v)};
  tern_rm_reply(l->d, l->rcvid, TERN_OK, 7, &iov, 1);
  free(l);
}

static int d_devctl(tern_rm_ctx *ctx, tern_rm_devctl_msg *msg,
                    tern_rm_ocb *ocb) {
  dev *v = tern_rm_ocb_attr(ocb)->data;
  int rc = tern_rm_devctl_default(ctx, msg, ocb);
  if (rc != TERN_RM_DEFAULT) return rc;
  int32_t prev = v->val;
  switch (msg->dcmd) {
  case MY_GETVAL:
    memcpy(msg->data, &v->val, 4);
    return tern_rm_reply_data(ctx, msg->data, 4);
  case MY_SETVAL:
    memcpy(&v->val, msg->data, 4);
    tern_rm_ctx_set_value(ctx, 1);
    return TERN_OK;
  case MY_SETGET:
    memcpy(&v->val, msg->data, 4);
    memcpy(msg->data, &prev, 4);
    return tern_rm_reply_data(ctx, msg->data, 4);
  case MY_LATER: {
    later *l = malloc(sizeof(*l));
    tern_thread *th;
    *l = (later){tern_rm_ctx_dispatch(ctx), tern_rm_ctx_rcvid(ctx)};
    assert_int_equal(tern_thread_new(&th, "later", later_thread, l), TERN_OK);
    tern_thread_join(th); /* the reply is posted, not sent, from there */
    return TERN_RM_NOREPLY;
  }
  case MY_HANG:
    v->hangs++;
    return TERN_RM_NOREPLY;
  case MY_BIG: {
    static const char big[16] = "0123456789abcdef";
    return tern_rm_reply_data(ctx, big, sizeof(big)); /* cut to 8 */
  }
  default:
    return TERN_RM_DEFAULT;
  }
}

static int d_dup(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  (void)ctx;
  ((dev *)tern_rm_ocb_attr(ocb)->data)->dups++;
  return TERN_OK;
}
static int d_close_dup(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  (void)ctx;
  ((dev *)tern_rm_ocb_attr(ocb)->data)->close_dups++;
  return TERN_RM_DEFAULT;
}
static int d_close_ocb(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  dev *v = tern_rm_ocb_attr(ocb)->data;
  (void)ctx;
  assert_int_equal(tern_rm_ocb_refs(ocb), 0);
  v->close_ocbs++;
  return TERN_OK;
}
static int d_unblock(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  ((dev *)tern_rm_ocb_attr(ocb)->data)->unblocks++;
  (void)ctx;
  return TERN_RM_DEFAULT;
}
/* _IO_MSG: answers "<server name>:<open path>:<data>" */
static int d_msg(tern_rm_ctx *ctx, const tern_rm_msg_msg *msg,
                 tern_rm_ocb *ocb) {
  static char out[512];
  dev *v = tern_rm_ocb_attr(ocb)->data;
  if (msg->mgrid != 0x77) return TERN_ENOTSUP;
  int n = snprintf(out, sizeof(out), "%s:%s:%u:%.*s", v->name,
                   tern_rm_ocb_path(ocb), msg->subtype, (int)msg->nbytes,
                   (const char *)msg->data);
  return tern_rm_reply_data(ctx, out, (size_t)n);
}

static const tern_rm_connect_funcs dev_cf = {.open = d_open};
static const tern_rm_io_funcs dev_iof = {
    .read = d_read, .write = d_write, .devctl = d_devctl, .dup = d_dup,
    .close_dup = d_close_dup, .close_ocb = d_close_ocb, .unblock = d_unblock,
    .msg = d_msg};

/* ---- fixture ------------------------------------------------------------- */

static char *reg;
static test_srv srv;
static dev dev1, dev_plain;
static tern_rmc_opts copts;

static void dev_init(dev *v, const char *name, uint32_t mode) {
  memset(v, 0, sizeof(*v));
  tern_rm_attr_init(&v->attr, mode, getuid(), getgid());
  v->attr.data = v;
  v->attr.inode = 42;
  v->name = name;
  strcpy(v->buf, "hello\n");
  v->len = 6;
  v->attr.nbytes = 100;
}

static void setup_main(test_srv *s) {
  s->rc = tern_rm_attach(s->d, "/dev/sample", 0, &dev_cf, &dev_iof, &dev1.attr, NULL);
  if (s->rc == TERN_OK)
    s->rc = tern_rm_attach(s->d, "/dev/plain", 0, NULL, NULL, &dev_plain.attr, NULL);
}

static int setup(void **state) {
  (void)state;
  reg = test_registry();
  dev_init(&dev1, "main", S_IFCHR | 0666);
  dev_init(&dev_plain, "plain", S_IFCHR | 0644);
  srv = (test_srv){.registry = reg, .setup = setup_main};
  assert_int_equal(test_srv_start(&srv), TERN_OK);
  copts = (tern_rmc_opts){.registry = reg, .timeout_ms = 2000};
  return 0;
}

static int teardown(void **state) {
  (void)state;
  test_srv_stop(&srv);
  assert_int_equal(dev1.attr.count, 0); /* every OCB released */
  assert_int_equal(dev_plain.attr.count, 0);
  test_registry_rm(reg);
  return 0;
}

static bool wait_for(atomic_int *v, int want, int ms) {
  for (int i = 0; i < ms && *v != want; i++) usleep(1000);
  return *v == want;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_read_write_stat_lseek(void **state) {
  (void)state;
  tern_rmc *h;
  char buf[64];
  tern_rm_stat st;
  int64_t pos;
  assert_int_equal(tern_rmc_open(&h, "/dev/sample", O_RDWR, &copts), TERN_OK);
  assert_int_equal(dev1.opens, 1);
  assert_int_equal(tern_rmc_read(h, buf, 3), 3);
  assert_memory_equal(buf, "hel", 3);
  assert_int_equal(tern_rmc_read(h, buf, sizeof(buf)), 3); /* rest */
  assert_int_equal(tern_rmc_read(h, buf, sizeof(buf)), 0); /* EOF */
  assert_int_equal(tern_rmc_write(h, "abcdefgh", 8), 8);
  assert_int_equal(tern_rmc_lseek(h, 2, SEEK_SET, &pos), TERN_OK);
  assert_int_equal(pos, 2);
  assert_int_equal(tern_rmc_read(h, buf, sizeof(buf)), 6);
  assert_memory_equal(buf, "cdefgh", 6);
  assert_int_equal(tern_rmc_lseek(h, -3, SEEK_END, &pos), TERN_OK);
  assert_int_equal(pos, 5); /* nbytes is 8 now */
  assert_int_equal(tern_rmc_lseek(h, -10, SEEK_CUR, &pos), TERN_EINVAL);
  assert_int_equal(tern_rmc_stat(h, &st), TERN_OK); /* default: the attr */
  assert_int_equal(st.ino, 42);
  assert_int_equal(st.size, 8);
  assert_int_equal(st.mode, S_IFCHR | 0666);
  assert_int_equal(st.uid, getuid());
  assert_int_equal(st.nlink, 1);
  assert_int_equal(dev1.attr.count, 1);
  assert_int_equal(dev1.attr.rcount, 1);
  assert_int_equal(dev1.attr.wcount, 1);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  assert_int_equal(dev1.close_dups, 1);
  assert_int_equal(dev1.close_ocbs, 1);
}

static void test_defaults(void **state) {
  (void)state;
  tern_rmc *h;
  char buf[16];
  int32_t flags = 0;
  int ret = -1;
  tern_rm_stat st;
  int64_t pos;
  assert_int_equal(tern_rmc_open(&h, "/dev/plain", O_RDONLY, &copts), TERN_OK);
  assert_int_equal(tern_rmc_read(h, buf, sizeof(buf)), 0);          /* EOF */
  assert_int_equal(tern_rmc_write(h, "x", 1), TERN_EBADF);          /* O_RDONLY */
  assert_int_equal(tern_rmc_devctl(h, TERN_DCMD_ALL_GETFLAGS, &flags, 4, &ret),
                   TERN_OK);
  assert_int_equal(flags, O_RDONLY);
  flags = O_APPEND | O_RDWR; /* only O_APPEND/O_NONBLOCK change */
  assert_int_equal(tern_rmc_devctl(h, TERN_DCMD_ALL_SETFLAGS, &flags, 4, NULL), TERN_OK);
  assert_int_equal(tern_rmc_devctl(h, TERN_DCMD_ALL_GETFLAGS, &flags, 4, NULL), TERN_OK);
  assert_int_equal(flags, O_RDONLY | O_APPEND);
  assert_int_equal(tern_rmc_devctl(h, MY_GETVAL, &flags, 4, NULL), TERN_ENOTSUP);
  assert_int_equal(tern_rmc_stat(h, &st), TERN_OK);
  assert_int_equal(st.mode, S_IFCHR | 0644);
  assert_int_equal(tern_rmc_lseek(h, 7, SEEK_SET, &pos), TERN_OK);
  assert_int_equal(tern_rmc_lseek(h, 1, SEEK_CUR, &pos), TERN_OK);
  assert_int_equal(pos, 8);
  assert_int_equal(tern_rmc_msg(h, 0x77, 1, "a", 1, buf, sizeof(buf), NULL),
                   TERN_ENOTSUP);
  tern_rmc *d;
  assert_int_equal(tern_rmc_dup(h, &d), TERN_OK); /* default dup */
  assert_int_equal(tern_rmc_close(d), TERN_OK);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  assert_int_equal(tern_rmc_open(&h, "/dev/plain", O_WRONLY, &copts), TERN_OK);
  assert_int_equal(tern_rmc_read(h, buf, sizeof(buf)), TERN_EBADF);
  assert_int_equal(tern_rmc_write(h, "x", 1), TERN_ENOTSUP);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

static void test_devctl(void **state) {
  (void)state;
  /* tern's numbers are Linux ioctl numbers; QNX's names keep QNX's sense */
  assert_int_equal(MY_GETVAL, _IOR(TERN_DCMD_CLASS_MISC, 1, int32_t));
  assert_int_equal(MY_SETVAL, _IOW(TERN_DCMD_CLASS_MISC, 2, int32_t));
  assert_int_equal(MY_SETGET, _IOWR(TERN_DCMD_CLASS_MISC, 3, int32_t));
  assert_int_equal(MY_HANG, _IO(TERN_DCMD_CLASS_MISC, 5));
  assert_int_equal(TERN_DCMD_GET_SIZE(MY_SETGET), 4);
  assert_int_equal(TERN_DCMD_GET_CLASS(MY_SETGET), TERN_DCMD_CLASS_MISC);
  assert_int_equal(TERN_DCMD_GET_CMD(MY_SETGET), 3);
  tern_rmc *h;
  int32_t v = -1;
  int ret = -1;
  assert_int_equal(tern_rmc_open(&h, "/dev/sample", O_RDWR, &copts), TERN_OK);
  assert_int_equal(tern_rmc_devctl(h, MY_GETVAL, &v, sizeof(v), &ret), TERN_OK);
  assert_int_equal(v, 0);
  assert_int_equal(ret, 0);
  v = 25;
  assert_int_equal(tern_rmc_devctl(h, MY_SETVAL, &v, sizeof(v), &ret), TERN_OK);
  assert_int_equal(ret, 1);
  v = 50;
  assert_int_equal(tern_rmc_devctl(h, MY_SETGET, &v, sizeof(v), NULL), TERN_OK);
  assert_int_equal(v, 25);
  assert_int_equal(tern_rmc_devctl(h, MY_GETVAL, &v, sizeof(v), NULL), TERN_OK);
  assert_int_equal(v, 50);
  uint8_t big[16] = {0};
  assert_int_equal(tern_rmc_devctl(h, MY_BIG, big, sizeof(big), NULL), TERN_OK);
  assert_memory_equal(big, "01234567", 8); /* cut to the declared size */
  assert_int_equal(big[8], 0);
  assert_int_equal(tern_rmc_devctl(h, MY_GETVAL, &v, 2, NULL), TERN_OK); /* short buffer */
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

static void test_msg(void **state) {
  (void)state;
  tern_rmc *h;
  char out[64];
  size_t n = 0;
  assert_int_equal(tern_rmc_open(&h, "/dev/sample", O_RDONLY, &copts), TERN_OK);
  assert_int_equal(tern_rmc_msg(h, 0x77, 9, "ping", 4, out, sizeof(out), &n), TERN_OK);
  assert_int_equal(n, strlen("main::9:ping"));
  assert_memory_equal(out, "main::9:ping", n);
  assert_int_equal(tern_rmc_msg(h, 0x78, 9, "ping", 4, out, sizeof(out), &n),
                   TERN_ENOTSUP);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

static void test_dup_close_counting(void **state) {
  (void)state;
  tern_rmc *h, *d1, *d2;
  char c;
  assert_int_equal(tern_rmc_open(&h, "/dev/sample", O_RDONLY, &copts), TERN_OK);
  assert_int_equal(tern_rmc_dup(h, &d1), TERN_OK);
  assert_int_equal(tern_rmc_dup(d1, &d2), TERN_OK);
  assert_int_equal(dev1.dups, 2);
  assert_int_equal(dev1.attr.count, 1); /* one OCB */
  assert_int_equal(tern_rmc_read(d1, &c, 1), 1); /* shared offset */
  assert_int_equal(tern_rmc_read(d2, &c, 1), 1);
  assert_int_equal(c, 'e');
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  assert_int_equal(tern_rmc_close(d2), TERN_OK);
  assert_int_equal(dev1.close_dups, 2);
  assert_int_equal(dev1.close_ocbs, 0);
  assert_int_equal(tern_rmc_read(d1, &c, 1), 1);
  assert_int_equal(c, 'l');
  assert_int_equal(tern_rmc_close(d1), TERN_OK);
  assert_int_equal(dev1.close_dups, 3);
  assert_int_equal(dev1.close_ocbs, 1);
  assert_int_equal(dev1.attr.count, 0);
}

static void test_client_killed(void **state) {
  (void)state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    tern_rmc *h, *d;
    if (tern_rmc_open(&h, "/dev/sample", O_RDWR, &copts) != TERN_OK) _exit(1);
    if (tern_rmc_dup(h, &d) != TERN_OK) _exit(2);
    tern_rmc_set_timeout(h, TERN_WAIT_FOREVER);
    tern_rmc_devctl(h, MY_HANG, NULL, 0, NULL); /* blocks until killed */
    _exit(3);
  }
  assert_true(wait_for(&dev1.hangs, 1, 3000));
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFSIGNALED(st));
  assert_true(wait_for(&dev1.close_ocbs, 1, 3000));
  assert_int_equal(dev1.close_dups, 2); /* the open and the dup */
  assert_int_equal(dev1.unblocks, 0);
  assert_int_equal(dev1.attr.count, 0);
}

static void test_noreply_from_thread(void **state) {
  (void)state;
  tern_rmc *h;
  int32_t v = 0;
  int ret = 0;
  assert_int_equal(tern_rmc_open(&h, "/dev/sample", O_RDWR, &copts), TERN_OK);
  assert_int_equal(tern_rmc_devctl(h, MY_LATER, &v, sizeof(v), &ret), TERN_OK);
  assert_int_equal(v, 4242);
  assert_int_equal(ret, 7);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

static void test_unblock_on_timeout(void **state) {
  (void)state;
  tern_rmc *h;
  int32_t v = 0;
  assert_int_equal(tern_rmc_open(&h, "/dev/sample", O_RDWR, &copts), TERN_OK);
  tern_rmc_set_timeout(h, 100);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_rmc_devctl(h, MY_HANG, NULL, 0, NULL), TERN_ETIMEDOUT);
  assert_true(tern_clock_ms() - t0 < 1000);
  assert_int_equal(dev1.unblocks, 1);
  /* the connection goes on */
  assert_int_equal(tern_rmc_devctl(h, MY_GETVAL, &v, sizeof(v), NULL), TERN_OK);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

/* tern_rmc_unblock from another thread (the FUSE bridge's INTERRUPT):
 * the waiting call ends with the unblock handler's answer, at once. */
typedef struct unblocker {
  tern_rmc *h;
  int rc;
} unblocker;

static void unblock_thread(void *arg) {
  unblocker *u = arg;
  assert_true(wait_for(&dev1.hangs, 1, 3000));
  u->rc = tern_rmc_unblock(u->h);
}

static void test_unblock_from_thread(void **state) {
  (void)state;
  tern_rmc *h;
  tern_thread *th;
  int32_t v = 0;
  assert_int_equal(tern_rmc_open(&h, "/dev/sample", O_RDWR, &copts), TERN_OK);
  unblocker u = {h, -1};
  assert_int_equal(tern_rmc_unblock(h), TERN_ENOENT); /* nothing in flight */
  tern_rmc_set_timeout(h, 10000);
  assert_int_equal(tern_thread_new(&th, "unblock", unblock_thread, &u), TERN_OK);
  uint64_t t0 = tern_clock_ms();
  assert_int_equal(tern_rmc_devctl(h, MY_HANG, NULL, 0, NULL), TERN_ECANCELED);
  assert_true(tern_clock_ms() - t0 < 5000);
  tern_thread_join(th);
  assert_int_equal(u.rc, TERN_OK);
  assert_int_equal(dev1.unblocks, 1);
  assert_int_equal(tern_rmc_unblock(h), TERN_ENOENT);
  assert_int_equal(tern_rmc_devctl(h, MY_GETVAL, &v, sizeof(v), NULL), TERN_OK);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

static void test_permission_other_uid(void **state) {
  (void)state;
  tern_rmc *h;
  /* as the owner: 0644 lets us write; a file we do not own refuses */
  assert_int_equal(tern_rmc_open(&h, "/dev/plain", O_RDWR, &copts), TERN_OK);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  tern_rm_attr a;
  tern_rm_attr_init(&a, S_IFCHR | 0640, 1234, 1234);
  tern_rm_cred me = {1, 1000, 1000}, root = {1, 0, 0}, grp = {1, 1000, 1234};
  assert_int_equal(tern_rm_check_access(&me, &a, O_RDONLY), TERN_EACCES);
  assert_int_equal(tern_rm_check_access(&grp, &a, O_RDONLY), TERN_OK);
  assert_int_equal(tern_rm_check_access(&grp, &a, O_RDWR), TERN_EACCES);
  assert_int_equal(tern_rm_check_access(&root, &a, O_RDWR), TERN_OK);
  if (getuid() != 0) {
    print_message("not root: the other-uid client part is skipped\n");
    return;
  }
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) { /* nobody: 0644 reads, does not write */
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
    if (tern_rmc_open(&h, "/dev/plain", O_RDWR, &copts) != TERN_EACCES) _exit(1);
    if (tern_rmc_open(&h, "/dev/plain", O_WRONLY, &copts) != TERN_EACCES) _exit(2);
    if (tern_rmc_open(&h, "/dev/plain", O_RDONLY, &copts) != TERN_OK) _exit(3);
    tern_rmc_close(h);
    _exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_message_too_large(void **state) {
  (void)state;
  tern_rmc *h;
  size_t big = TERN_RM_MAX_MSG_DEFAULT;
  char *p = calloc(1, big + 200);
  tern_rmc_opts small = copts;
  small.max_memfd = 1000; /* no memfd for this one: too big */
  assert_int_equal(tern_rmc_open(&h, "/dev/sample", O_RDWR, &small), TERN_OK);
  assert_int_equal(tern_rmc_write(h, p, big), TERN_EMSGSIZE);  /* client side */
  tern_rmc_opts o = copts;
  o.max_msg = 2 * big; /* a client that thinks messages may be bigger */
  tern_rmc *h2;
  assert_int_equal(tern_rmc_open(&h2, "/dev/sample", O_RDWR, &o), TERN_OK);
  assert_int_equal(tern_rmc_write(h2, p, big + 100), TERN_EMSGSIZE); /* server */
  assert_int_equal(tern_rmc_write(h2, p, 10), 10); /* still served */
  assert_int_equal(tern_rmc_close(h2), TERN_OK);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  free(p);
}

/* ---- two servers, prefixes, stale entries ---------------------------------- */

static dev dev_a, dev_b1, dev_b2;
static void setup_a(test_srv *s) {
  s->rc = tern_rm_attach(s->d, "/dev/tern", TERN_RM_ATTACH_DIR, NULL, &dev_iof,
                         &dev_a.attr, NULL);
}
static void setup_b(test_srv *s) {
  s->rc = tern_rm_attach(s->d, "/dev/tern/net/eth0", 0, NULL, &dev_iof,
                         &dev_b1.attr, NULL);
  if (s->rc == TERN_OK)
    s->rc = tern_rm_attach(s->d, "/dev", TERN_RM_ATTACH_DIR, NULL, &dev_iof,
                           &dev_b2.attr, NULL);
}

static void expect_owner(const char *path, const char *want) {
  tern_rmc *h;
  char out[128];
  size_t n = 0;
  int rc = tern_rmc_open(&h, path, O_RDONLY, &copts);
  if (want == NULL) {
    assert_int_equal(rc, TERN_ENOENT);
    return;
  }
  assert_int_equal(rc, TERN_OK);
  assert_int_equal(tern_rmc_msg(h, 0x77, 0, "", 0, out, sizeof(out) - 1, &n), TERN_OK);
  out[n] = '\0';
  assert_string_equal(out, want);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
}

/* bind a socket file and close it without listening: a stale entry */
static void make_stale(const char *name) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", reg, name);
  int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(s);
}

static void test_prefix_two_servers(void **state) {
  (void)state;
  test_srv a = {.registry = reg, .setup = setup_a};
  test_srv b = {.registry = reg, .setup = setup_b};
  dev_init(&dev_a, "A", 0);
  dev_init(&dev_b1, "B1", 0);
  dev_init(&dev_b2, "B2", 0);
  assert_int_equal(test_srv_start(&a), TERN_OK);
  assert_int_equal(test_srv_start(&b), TERN_OK);
  expect_owner("/dev/tern/net/eth0", "B1::0:");
  expect_owner("/dev/tern/net/eth1", "A:net/eth1:0:");
  expect_owner("/dev/tern", "A::0:");
  expect_owner("/dev/tern/log", "A:log:0:");
  expect_owner("/dev/ternx", "B2:ternx:0:");
  expect_owner("/dev/tern/net/eth0/x", "A:net/eth0/x:0:"); /* eth0 is no dir */
  expect_owner("/dev", "B2::0:");
  expect_owner("/devx", NULL);
  expect_owner("/etc/passwd", NULL);
  tern_rmc *h;
  assert_int_equal(tern_rmc_open(&h, "dev/x", O_RDONLY, &copts), TERN_EINVAL);
  assert_int_equal(tern_rmc_open(&h, "/dev/../x", O_RDONLY, &copts), TERN_EINVAL);
  /* a stale, longer entry is skipped */
  make_stale("d.+dev+tern+log");
  expect_owner("/dev/tern/log/x", "A:log/x:0:");
  test_srv_stop(&b);
  expect_owner("/dev/tern/net/eth0", "A:net/eth0:0:"); /* B's entries gone */
  expect_owner("/dev/other", NULL);
  test_srv_stop(&a);
}

/* A directory attach whose open handler gives each entry its own
 * attribute (QNX: iofunc_open_default with the entry's attr). */
static dev dev_dir, dev_e1;
static int dir_open(tern_rm_ctx *ctx, const tern_rm_open_msg *msg,
                    tern_rm_attr *attr, void *reserved) {
  if (!strcmp(msg->path, "e1")) attr = &dev_e1.attr;
  else if (msg->path[0]) return TERN_ENOENT;
  return tern_rm_open_default(ctx, msg, attr, reserved);
}
static const tern_rm_connect_funcs dir_cf = {.open = dir_open};
static void setup_dir(test_srv *s) {
  s->rc = tern_rm_attach(s->d, "/dev/dir", TERN_RM_ATTACH_DIR, &dir_cf, NULL,
                         &dev_dir.attr, NULL);
}

static void test_dir_entry_attr(void **state) {
  (void)state;
  test_srv s = {.registry = reg, .setup = setup_dir};
  dev_init(&dev_dir, "dir", S_IFDIR | 0755);
  dev_init(&dev_e1, "e1", S_IFREG | 0600);
  dev_e1.attr.inode = 7;
  assert_int_equal(test_srv_start(&s), TERN_OK);
  tern_rmc *h, *d;
  tern_rm_stat st;
  assert_int_equal(tern_rmc_open(&h, "/dev/dir/e1", O_RDONLY, &copts), TERN_OK);
  assert_int_equal(tern_rmc_stat(h, &st), TERN_OK);
  assert_int_equal(st.mode, S_IFREG | 0600);
  assert_int_equal(st.ino, 7);
  assert_int_equal(tern_rmc_open(&d, "/dev/dir", O_RDONLY, &copts), TERN_OK);
  assert_int_equal(tern_rmc_stat(d, &st), TERN_OK);
  assert_int_equal(st.mode, S_IFDIR | 0755);
  assert_int_equal(dev_e1.attr.count, 1); /* each OCB counts in its own */
  assert_int_equal(dev_dir.attr.count, 1);
  tern_rmc *x;
  assert_int_equal(tern_rmc_open(&x, "/dev/dir/e2", O_RDONLY, &copts), TERN_ENOENT);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  assert_int_equal(tern_rmc_close(d), TERN_OK);
  assert_int_equal(dev_e1.attr.count, 0);
  assert_int_equal(dev_dir.attr.count, 0);
  test_srv_stop(&s);
}

static tern_rm_attach_h *stale_h;
static int stale_rc;
static void setup_stale(test_srv *s) {
  stale_rc = tern_rm_attach(s->d, "/dev/stale", 0, NULL, NULL, &dev_plain.attr,
                            &stale_h);
  s->rc = TERN_OK;
}

static void test_stale_entry_replaced(void **state) {
  (void)state;
  make_stale("f.+dev+stale");
  tern_rmc *h;
  expect_owner("/dev/stale", NULL); /* nobody listens there */
  test_srv s = {.registry = reg, .setup = setup_stale};
  assert_int_equal(test_srv_start(&s), TERN_OK);
  assert_int_equal(stale_rc, TERN_OK);
  assert_int_equal(tern_rmc_open(&h, "/dev/stale", O_RDONLY, &copts), TERN_OK);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  /* a live entry is not taken over */
  test_srv s2 = {.registry = reg, .setup = setup_stale};
  assert_int_equal(test_srv_start(&s2), TERN_OK);
  assert_int_equal(stale_rc, TERN_EEXIST);
  test_srv_stop(&s2);
  assert_int_equal(tern_rmc_open(&h, "/dev/stale", O_RDONLY, &copts), TERN_OK);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  test_srv_stop(&s);
  assert_int_equal(tern_rmc_open(&h, "/dev/stale", O_RDONLY, &copts), TERN_ENOENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_read_write_stat_lseek, setup, teardown),
      cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_devctl, setup, teardown),
      cmocka_unit_test_setup_teardown(test_msg, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dup_close_counting, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_killed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_noreply_from_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unblock_on_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unblock_from_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(test_permission_other_uid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_message_too_large, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prefix_two_servers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_entry_replaced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dir_entry_attr, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
