/* examples/rm_ramfs.c: a RAM filesystem behind a mount type, as a QNX
 * filesystem server (devf-ram, fs-*) answers mount requests: it
 * registers mount type "tern-ram" (tern_rm_attach_mount); each mount
 * attaches a directory at the mount point whose files live in memory, a
 * remount (mount -u) changes read-only, an unmount detaches it.
 *
 *   example_rm_ramfs [-d REGISTRY] [-T TYPE]
 *
 *   ternctl mount -T tern-ram none /mnt/ram
 *   ternctl write /mnt/ram/notes hello; ternctl cat /mnt/ram/notes
 *   ternctl mount -T tern-ram -u -r none /mnt/ram     (now read-only)
 *   ternctl umount /mnt/ram
 * Opening a missing file for writing creates it (16 files of 4 KiB per
 * mount, 8 mounts). -o ro mounts read-only. SIGINT/SIGTERM end it.
 */
#define _POSIX_C_SOURCE 200809L /* getopt, sigaction under -std=c11 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/tern.h"

#define NFILES 16
#define NMOUNTS 8

typedef struct ramfile {
  char name[64];
  char data[4096];
  size_t len;
  bool used;
} ramfile;

typedef struct ramfs {
  tern_rm_attr attr; /* the directory */
  char dir[256];
  bool active, rdonly;
  tern_rm_attach_h *h;
  ramfile files[NFILES];
} ramfs;

static ramfs mounts[NMOUNTS];
static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static const tern_rm_connect_funcs ram_cf;
static const tern_rm_io_funcs ram_iof;

static ramfs *find(const char *dir) {
  for (int i = 0; i < NMOUNTS; i++)
    if (mounts[i].active && strcmp(mounts[i].dir, dir) == 0) return &mounts[i];
  return NULL;
}

static bool opt_ro(const tern_rm_mount_msg *msg) {
  return (msg->flags & TERN_RM_MOUNT_RDONLY) ||
         (msg->datalen == 2 && memcmp(msg->data, "ro", 2) == 0);
}

/* io_mount: mount, remount, unmount. */
static int r_mount(tern_rm_ctx *ctx, const tern_rm_mount_msg *msg,
                   tern_rm_attr *attr, void *reserved) {
  ramfs *m = find(msg->dir);
  (void)attr, (void)reserved;
  if (msg->flags & TERN_RM_MOUNT_UNMOUNT) {
    if (m == NULL) return TERN_ENOENT;
    m->active = false; /* its slot is free once the detach has run */
    printf("unmounted %s\n", msg->dir);
    return tern_rm_detach_later(tern_rm_ctx_dispatch(ctx), m->h);
  }
  if (msg->flags & TERN_RM_MOUNT_REMOUNT) {
    if (m == NULL) return TERN_ENOENT;
    m->rdonly = opt_ro(msg);
    return TERN_OK;
  }
  if (m) return TERN_EBUSY;
  for (int i = 0; i < NMOUNTS && !m; i++)
    if (!mounts[i].active && mounts[i].h == NULL) m = &mounts[i];
  if (m == NULL || strlen(msg->dir) >= sizeof(m->dir)) return TERN_ENOSPC;
  memset(m, 0, sizeof(*m));
  tern_rm_attr_init(&m->attr, S_IFDIR | 0777, getuid(), getgid());
  m->attr.data = m;
  snprintf(m->dir, sizeof(m->dir), "%s", msg->dir);
  m->rdonly = opt_ro(msg);
  int rc = tern_rm_attach(tern_rm_ctx_dispatch(ctx), msg->dir,
                          TERN_RM_ATTACH_DIR, &ram_cf, &ram_iof, &m->attr, &m->h);
  if (rc != TERN_OK) {
    m->h = NULL;
    return rc;
  }
  m->active = true;
  printf("mounted %s on %s\n", msg->special, msg->dir);
  return TERN_OK;
}

static int r_open(tern_rm_ctx *ctx, const tern_rm_open_msg *msg,
                  tern_rm_attr *attr, void *reserved) {
  ramfs *m = attr->data;
  ramfile *f = NULL;
  bool wr = (msg->oflag & O_ACCMODE) != O_RDONLY;
  if (!m->active) return TERN_ENOENT; /* unmounted, detach pending */
  if (msg->path[0] == '\0' || strchr(msg->path, '/') ||
      strlen(msg->path) >= sizeof(f->name))
    return TERN_ENOENT;
  if (wr && m->rdonly) return TERN_EPERM;
  for (int i = 0; i < NFILES && !f; i++)
    if (m->files[i].used && strcmp(m->files[i].name, msg->path) == 0)
      f = &m->files[i];
  for (int i = 0; i < NFILES && !f && wr; i++)
    if (!m->files[i].used) {
      f = &m->files[i];
      f->used = true;
      snprintf(f->name, sizeof(f->name), "%s", msg->path);
    }
  if (f == NULL) return wr ? TERN_ENOSPC : TERN_ENOENT;
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
  size_t room = sizeof(f->data) - off;
  size_t n = msg->nbytes < room ? msg->nbytes : room;
  memcpy(f->data + off, msg->data, n);
  f->len = off + n; /* a write ends the file (no O_TRUNC here) */
  tern_rm_ocb_set_offset(ocb, (int64_t)(off + n));
  tern_rm_ctx_set_value(ctx, (int64_t)n);
  return TERN_OK;
}

static const tern_rm_connect_funcs ram_cf = {.open = r_open, .mount = r_mount};
static const tern_rm_io_funcs ram_iof = {.read = r_read, .write = r_write};

static void on_tick(tern_timer *t, void *ud) {
  (void)t;
  if (stop) tern_loop_stop(ud);
  /* an unmounted slot is reused once its deferred detach has run (the
   * loop ran since) and no OCB is left */
  for (int i = 0; i < NMOUNTS; i++)
    if (!mounts[i].active && mounts[i].h && mounts[i].attr.count == 0)
      mounts[i].h = NULL;
}

int main(int argc, char **argv) {
  tern_rm_opts o = {0};
  const char *type = "tern-ram";
  int opt;
  while ((opt = getopt(argc, argv, "d:T:")) != -1) {
    if (opt == 'd')
      o.registry = optarg;
    else if (opt == 'T')
      type = optarg;
    else {
      fprintf(stderr, "usage: example_rm_ramfs [-d REGISTRY] [-T TYPE]\n");
      return 2;
    }
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  tern_loop *loop;
  tern_rm_dispatch *d;
  tern_timer *tick;
  static tern_rm_attr type_attr;
  tern_rm_attr_init(&type_attr, 0, getuid(), getgid());
  int rc = tern_loop_new(&loop, NULL);
  if (rc == TERN_OK) rc = tern_rm_dispatch_new(&d, loop, &o);
  if (rc == TERN_OK) rc = tern_rm_attach_mount(d, type, &ram_cf, &type_attr, NULL);
  if (rc != TERN_OK) {
    fprintf(stderr, "example_rm_ramfs: %s: %s\n", type, tern_strerror(rc));
    return 1;
  }
  tern_timer_new(loop, &tick, on_tick, loop);
  tern_timer_start(tick, 100, 100);
  printf("serving mount type %s\n", type);
  tern_loop_run(loop);
  tern_timer_free(tick);
  tern_rm_dispatch_free(d);
  tern_loop_free(loop);
  return 0;
}
