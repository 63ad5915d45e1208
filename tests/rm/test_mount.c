/* test_mount.c: mount (QNX _IO_CONNECT_MOUNT) end to end. A RAM
 * filesystem server registers mount type "tern-ram"; its mount handler
 * attaches a directory at the mount point, so after tern_rmc_mount the
 * mount point's files open, and an unmount (through the type, or through
 * the mount point's own server as QNX umount does) detaches it. Also:
 * remount, the flags and data the handler sees, unknown type, a mount
 * sent to a special device's server, argument and wire errors. */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rm/rm_msg.h"
#include "rm/rm_server.h"

/* ---- the RAM filesystem --------------------------------------------- */

typedef struct ramfile {
  char name[32];
  char data[512];
  size_t len;
  bool used;
} ramfile;

typedef struct ramfs {
  tern_rm_attr attr; /* the directory */
  char dir[64];
  bool active, rdonly;
  tern_rm_attach_h *h;
  ramfile files[4];
} ramfs;

#define NMOUNTS 8
static ramfs mnts[NMOUNTS];
static int nmnts;
static char seen[512]; /* "special|dir|type|flags|data" of the last mount */
static atomic_int nmount_calls;

static const tern_rm_connect_funcs ram_cf;
static const tern_rm_io_funcs ram_iof;

static ramfs *ram_find(const char *dir) {
  for (int i = 0; i < nmnts; i++)
    if (mnts[i].active && strcmp(mnts[i].dir, dir) == 0) return &mnts[i];
  return NULL;
}

static int r_mount(tern_rm_ctx *ctx, const tern_rm_mount_msg *msg,
                   tern_rm_attr *attr, void *reserved) {
  (void)attr, (void)reserved;
  snprintf(seen, sizeof(seen), "%s|%s|%s|%x|%.*s", msg->special, msg->dir,
           msg->type, msg->flags, (int)msg->datalen, (const char *)msg->data);
  nmount_calls++;
  ramfs *m = ram_find(msg->dir);
  if (msg->flags & TERN_RM_MOUNT_UNMOUNT) {
    if (m == NULL) return TERN_ENOENT;
    m->active = false;
    /* later: this may be one of m's own handlers (umount by the dir) */
    return tern_rm_detach_later(tern_rm_ctx_dispatch(ctx), m->h);
  }
  if (msg->flags & TERN_RM_MOUNT_REMOUNT) {
    if (m == NULL) return TERN_ENOENT;
    m->rdonly = (msg->flags & TERN_RM_MOUNT_RDONLY) != 0;
    return TERN_OK;
  }
  if (m) return TERN_EBUSY;
  if (nmnts == NMOUNTS || strlen(msg->dir) >= sizeof(m->dir)) return TERN_ENOSPC;
  m = &mnts[nmnts];
  memset(m, 0, sizeof(*m));
  tern_rm_attr_init(&m->attr, S_IFDIR | 0777, getuid(), getgid());
  m->attr.data = m;
  strcpy(m->dir, msg->dir);
  m->rdonly = (msg->flags & TERN_RM_MOUNT_RDONLY) != 0;
  int rc = tern_rm_attach(tern_rm_ctx_dispatch(ctx), msg->dir,
                          TERN_RM_ATTACH_DIR, &ram_cf, &ram_iof, &m->attr, &m->h);
  if (rc != TERN_OK) return rc;
  m->active = true;
  nmnts++;
  return TERN_OK;
}

static int r_open(tern_rm_ctx *ctx, const tern_rm_open_msg *msg,
                  tern_rm_attr *attr, void *reserved) {
  ramfs *m = attr->data;
  ramfile *f = NULL;
  if (msg->path[0] == '\0' || strchr(msg->path, '/') ||
      strlen(msg->path) >= sizeof(f->name))
    return TERN_ENOENT;
  if (m->rdonly && (msg->oflag & O_ACCMODE) != O_RDONLY) return TERN_EPERM;
  for (int i = 0; i < 4 && !f; i++)
    if (m->files[i].used && strcmp(m->files[i].name, msg->path) == 0)
      f = &m->files[i];
  for (int i = 0; i < 4 && !f && (msg->oflag & O_CREAT); i++)
    if (!m->files[i].used) {
      f = &m->files[i];
      f->used = true;
      f->len = 0;
      strcpy(f->name, msg->path);
    }
  if (f == NULL) return TERN_ENOENT;
  int rc = tern_rm_open_default(ctx, msg, attr, reserved);
  if (rc == TERN_OK) tern_rm_ocb_set_data(tern_rm_ctx_ocb(ctx), f);
  return rc;
}

static int r_read(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                  tern_rm_ocb *ocb) {
  ramfile *f = tern_rm_ocb_data(ocb);
  size_t off = (size_t)tern_rm_ocb_offset(ocb);
  size_t n = off < f->len ? f->len - off : 0;
  if (n > msg->nbytes) n = msg->nbytes;
  tern_rm_ocb_set_offset(ocb, (int64_t)(off + n));
  return tern_rm_reply_data(ctx, f->data + off, n);
}

static int r_write(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
                   tern_rm_ocb *ocb) {
  ramfile *f = tern_rm_ocb_data(ocb);
  size_t off = (size_t)tern_rm_ocb_offset(ocb);
  if (off >= sizeof(f->data)) return TERN_ENOSPC;
  size_t n = msg->nbytes < sizeof(f->data) - off ? msg->nbytes : sizeof(f->data) - off;
  memcpy(f->data + off, msg->data, n);
  if (off + n > f->len) f->len = off + n;
  tern_rm_ocb_set_offset(ocb, (int64_t)(off + n));
  tern_rm_ctx_set_value(ctx, (int64_t)n);
  return TERN_OK;
}

static const tern_rm_connect_funcs ram_cf = {.open = r_open, .mount = r_mount};
static const tern_rm_io_funcs ram_iof = {.read = r_read, .write = r_write};

/* a device that takes mounts without a type (mount -T none /dev/ramctl) */
static tern_rm_attr ctl_attr, plain_attr, type_attr;

static char *reg;
static test_srv srv;
static tern_rmc_opts copts;
static int type_rc, dup_rc, badtype_rc, nomount_rc;

static void setup_srv(test_srv *s) {
  static const tern_rm_connect_funcs no_mount = {0};
  tern_rm_attr_init(&ctl_attr, 0, getuid(), getgid());
  tern_rm_attr_init(&plain_attr, 0, getuid(), getgid());
  tern_rm_attr_init(&type_attr, 0, getuid(), getgid());
  type_rc = tern_rm_attach_mount(s->d, "tern-ram", &ram_cf, &type_attr, NULL);
  dup_rc = tern_rm_attach_mount(s->d, "tern-ram", &ram_cf, &type_attr, NULL);
  badtype_rc = tern_rm_attach_mount(s->d, "bad/type", &ram_cf, &type_attr, NULL);
  nomount_rc = tern_rm_attach_mount(s->d, "x", &no_mount, &type_attr, NULL);
  s->rc = tern_rm_attach(s->d, "/dev/ramctl", 0, &ram_cf, NULL, &ctl_attr, NULL);
  if (s->rc == TERN_OK)
    s->rc = tern_rm_attach(s->d, "/dev/plain", 0, NULL, NULL, &plain_attr, NULL);
}

static int setup(void **state) {
  (void)state;
  reg = test_registry();
  nmnts = 0;
  nmount_calls = 0;
  srv = (test_srv){.registry = reg, .setup = setup_srv};
  assert_int_equal(test_srv_start(&srv), TERN_OK);
  copts = (tern_rmc_opts){.registry = reg, .timeout_ms = 2000};
  return 0;
}

/* the same with a thread pool: mounts still run on the loop thread */
static const tern_rm_pool_attr pool2 = {.lo_water = 1, .hi_water = 2};
static int setup_pool(void **state) {
  (void)state;
  reg = test_registry();
  nmnts = 0;
  nmount_calls = 0;
  srv = (test_srv){.registry = reg, .setup = setup_srv, .pool = &pool2};
  assert_int_equal(test_srv_start(&srv), TERN_OK);
  copts = (tern_rmc_opts){.registry = reg, .timeout_ms = 2000};
  return 0;
}

static int teardown(void **state) {
  (void)state;
  test_srv_stop(&srv);
  for (int i = 0; i < nmnts; i++) assert_int_equal(mnts[i].attr.count, 0);
  test_registry_rm(reg);
  return 0;
}

static int put(const char *path, const char *s) {
  tern_rmc *h;
  int rc = tern_rmc_open(&h, path, O_WRONLY | O_CREAT, &copts);
  if (rc != TERN_OK) return rc;
  rc = tern_rmc_write(h, s, strlen(s));
  tern_rmc_close(h);
  return rc;
}

static int get(const char *path, char *out, size_t cap) {
  tern_rmc *h;
  int rc = tern_rmc_open(&h, path, O_RDONLY, &copts);
  if (rc != TERN_OK) return rc;
  rc = tern_rmc_read(h, out, cap - 1);
  if (rc >= 0) out[rc] = '\0';
  tern_rmc_close(h);
  return rc;
}

/* an unmount by the mount point detaches a moment after its reply */
static int wait_gone(const char *path) {
  char buf[8];
  int rc = TERN_OK;
  for (int i = 0; i < 200; i++) {
    rc = get(path, buf, sizeof(buf));
    if (rc == TERN_ENOENT) return rc;
    usleep(5000);
  }
  return rc;
}

static void test_attach_mount_args(void **state) {
  (void)state;
  assert_int_equal(type_rc, TERN_OK);
  assert_int_equal(dup_rc, TERN_EEXIST); /* the type is taken */
  assert_int_equal(badtype_rc, TERN_EINVAL);
  assert_int_equal(nomount_rc, TERN_EINVAL); /* no mount handler */
  /* the type entry is no path: ls does not show it, open does not find it */
  tern_rmc *h;
  assert_int_equal(tern_rmc_open(&h, "/tern-ram", O_RDONLY, &copts), TERN_ENOENT);
  /* client argument errors */
  assert_int_equal(tern_rmc_mount("none", "mnt/x", 0, "tern-ram", NULL, 0, &copts),
                   TERN_EINVAL);
  assert_int_equal(tern_rmc_mount("none", "/mnt/x",
                                  TERN_RM_MOUNT_REMOUNT | TERN_RM_MOUNT_UNMOUNT,
                                  "tern-ram", NULL, 0, &copts),
                   TERN_EINVAL);
  assert_int_equal(tern_rmc_mount("none", "/mnt/x", 0, "../x", NULL, 0, &copts),
                   TERN_EINVAL);
  assert_int_equal(tern_rmc_mount("none", "/mnt/x", 0, "tern-ram", NULL, 3, &copts),
                   TERN_EINVAL);
  assert_int_equal(nmount_calls, 0);
}

static void test_mount_open_unmount(void **state) {
  (void)state;
  char buf[64];
  assert_int_equal(get("/mnt/x/f", buf, sizeof(buf)), TERN_ENOENT);
  assert_int_equal(tern_rmc_mount("none", "/mnt/x", 0, "tern-ram", "size=4k", 7,
                                  &copts),
                   TERN_OK);
  assert_string_equal(seen, "none|/mnt/x|tern-ram|0|size=4k");
  assert_int_equal(put("/mnt/x/f", "hello"), 5);
  assert_int_equal(get("/mnt/x/f", buf, sizeof(buf)), 5);
  assert_string_equal(buf, "hello");
  assert_int_equal(get("/mnt/x/g", buf, sizeof(buf)), TERN_ENOENT);
  /* the same mount point again: the handler's answer */
  assert_int_equal(tern_rmc_mount("none", "/mnt/x", 0, "tern-ram", NULL, 0, &copts),
                   TERN_EBUSY);
  /* remount read-only: writes refused, reads go on */
  assert_int_equal(tern_rmc_mount("none", "/mnt/x",
                                  TERN_RM_MOUNT_REMOUNT | TERN_RM_MOUNT_RDONLY,
                                  "tern-ram", NULL, 0, &copts),
                   TERN_OK);
  assert_int_equal(put("/mnt/x/f", "x"), TERN_EPERM);
  assert_int_equal(get("/mnt/x/f", buf, sizeof(buf)), 5);
  /* unmount through the type: the path is gone at once */
  assert_int_equal(tern_rmc_mount(NULL, "/mnt/x", TERN_RM_MOUNT_UNMOUNT,
                                  "tern-ram", NULL, 0, &copts),
                   TERN_OK);
  assert_int_equal(wait_gone("/mnt/x/f"), TERN_ENOENT);
  assert_int_equal(tern_rmc_mount(NULL, "/mnt/x", TERN_RM_MOUNT_UNMOUNT,
                                  "tern-ram", NULL, 0, &copts),
                   TERN_ENOENT); /* nothing mounted there any more */
}

static void test_unmount_by_mount_point(void **state) {
  (void)state;
  char buf[64];
  tern_rmc *h;
  assert_int_equal(tern_rmc_mount("", "/mnt/y", TERN_RM_MOUNT_RDONLY, "tern-ram",
                                  NULL, 0, &copts),
                   TERN_OK);
  assert_int_equal(put("/mnt/y/f", "x"), TERN_EPERM); /* mounted read-only */
  assert_int_equal(tern_rmc_mount(NULL, "/mnt/y",
                                  TERN_RM_MOUNT_REMOUNT, "tern-ram", NULL, 0, &copts),
                   TERN_OK);
  assert_int_equal(put("/mnt/y/f", "abc"), 3);
  /* an open handle on the mount while it goes: closed as by its client */
  assert_int_equal(tern_rmc_open(&h, "/mnt/y/f", O_RDONLY, &copts), TERN_OK);
  /* no type: to the server of the mount point (QNX umount) */
  assert_int_equal(tern_rmc_mount(NULL, "/mnt/y", TERN_RM_MOUNT_UNMOUNT, NULL,
                                  NULL, 0, &copts),
                   TERN_OK);
  assert_string_equal(seen, "|/mnt/y||20000|");
  assert_int_equal(wait_gone("/mnt/y/f"), TERN_ENOENT);
  assert_true(tern_rmc_read(h, buf, sizeof(buf)) < 0); /* its server let go */
  tern_rmc_close(h);
  /* nothing serves /mnt/z */
  assert_int_equal(tern_rmc_mount(NULL, "/mnt/z", TERN_RM_MOUNT_UNMOUNT, NULL,
                                  NULL, 0, &copts),
                   TERN_ENOENT);
}

static void test_mount_by_special(void **state) {
  (void)state;
  char buf[16];
  /* no type: sent to the special device's server, type "" */
  assert_int_equal(tern_rmc_mount("/dev/ramctl", "/mnt/s", 0, NULL, "a\0b", 3,
                                  &copts),
                   TERN_OK);
  assert_int_equal(memcmp(seen, "/dev/ramctl|/mnt/s||0|a", 23), 0);
  assert_int_equal(put("/mnt/s/f", "1"), 1);
  assert_int_equal(get("/mnt/s/f", buf, sizeof(buf)), 1);
  /* a server without a mount handler; no server at all */
  assert_int_equal(tern_rmc_mount("/dev/plain", "/mnt/p", 0, NULL, NULL, 0, &copts),
                   TERN_ENOTSUP);
  assert_int_equal(tern_rmc_mount("/dev/none", "/mnt/p", 0, NULL, NULL, 0, &copts),
                   TERN_ENOENT);
  assert_int_equal(tern_rmc_mount("none", "/mnt/p", 0, NULL, NULL, 0, &copts),
                   TERN_EINVAL); /* no type, and special is no path */
  /* unknown type */
  assert_int_equal(tern_rmc_mount("none", "/mnt/p", 0, "nfs", NULL, 0, &copts),
                   TERN_ENOTSUP);
}

/* Raw messages to the type's socket: an OPEN there is refused, a bad
 * MOUNT gets TERN_EPROTO, and the server goes on. */
static int raw_call(const void *msg, size_t len, int32_t *status) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  uint8_t rep[64];
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/m.tern-ram", reg);
  int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) return -1;
  if (send(s, msg, len, 0) != (ssize_t)len) return -1;
  ssize_t n = recv(s, rep, sizeof(rep), 0);
  close(s);
  if (n != TERN__RM_HDR_LEN + TERN__RM_REPLY_FIXED) return -1;
  int64_t v;
  return tern__rm_reply_decode(rep + TERN__RM_HDR_LEN, status, &v);
}

static void test_wire_errors(void **state) {
  (void)state;
  uint8_t m[128];
  int32_t st = 0;
  size_t n = tern__rm_enc_open(m, 1, O_RDONLY, 0, 0);
  assert_int_equal(raw_call(m, n, &st), TERN_OK);
  assert_int_equal(st, TERN_ENOTSUP); /* a mount type is no file */
  n = tern__rm_enc_mount(m, 1, 0, 0, 2, 0, 0);
  memcpy(m + n, "/q", 2);
  m[n + 1] = '\0'; /* NUL inside a string */
  assert_int_equal(raw_call(m, n + 2, &st), TERN_OK);
  assert_int_equal(st, TERN_EPROTO);
  n = tern__rm_enc_mount(m, 1, 1u << 30, 0, 2, 0, 0); /* unknown flag */
  memcpy(m + n, "/q", 2);
  assert_int_equal(raw_call(m, n + 2, &st), TERN_OK);
  assert_int_equal(st, TERN_EPROTO);
  n = tern__rm_enc_mount(m, 1, 0, 0, 2, 0, 0);
  memcpy(m + n, "qq", 2); /* not an absolute path */
  assert_int_equal(raw_call(m, n + 2, &st), TERN_OK);
  assert_int_equal(st, TERN_EINVAL);
  assert_int_equal(nmount_calls, 0);
  assert_int_equal(tern_rmc_mount("none", "/mnt/ok", 0, "tern-ram", NULL, 0, &copts),
                   TERN_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_attach_mount_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mount_open_unmount, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unmount_by_mount_point, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mount_by_special, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wire_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mount_open_unmount, setup_pool, teardown),
      cmocka_unit_test_setup_teardown(test_unmount_by_mount_point, setup_pool,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_mount_by_special, setup_pool, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
