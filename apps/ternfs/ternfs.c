/* ternfs.c: the FUSE bridge (ternfs.h says what maps to what).
 *
 * Inodes: one tnode per path the kernel has looked up, its address as the
 * inode number (libfuse's passthrough_ll does the same), freed when the
 * kernel forgets it; at most NODES_MAX at once. Open files: one tfile
 * (fi->fh) with its rmc handle, a mutex (one call at a time per handle)
 * and the request in flight, for interrupts.
 *
 * Threads: `threads` workers read /dev/fuse (fuse_session_receive_buf)
 * and run each request to its end. A call that blocks in a server holds
 * its worker; the others go on, so the kernel's INTERRUPT for it is read
 * and handled meanwhile. Stopping: fuse_session_exit, unmount, then each
 * worker is woken from its read by SIGURG (a no-op handler installed
 * without SA_RESTART) until it has gone.
 *
 * poll: the kernel's POLL asks the server (tern_rmc_notify) which of the
 * asked conditions are ready; with a poll handle and none ready it arms
 * a notify, keeps the handle in the tfile and adds the connection to the
 * poll thread's epoll set. The pulse is read by the poll thread (when no
 * call holds the handle) or by the call that holds it (rmc queues pulses
 * a call meets; file_leave drains them); either tells the kernel with
 * fuse_lowlevel_notify_poll, and the kernel polls again.
 */
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tern/tern.h"
#include "ternfs.h"

#define NODES_MAX 4096
#define PATH_MAX_RM 1024
#define THREADS_MAX 32
#define WRITE_CHUNK (32u * 1024u) /* well inside one rm message */
#define READ_MAX (60u * 1024u)    /* a read reply fits 64 KiB */
#define ATTR_TIMEOUT 1.0

typedef struct tnode {
  struct tnode *prev, *next;
  uint64_t nlookup;
  char path[]; /* the rm path: "/", "/dev", "/dev/tern/state" */
} tnode;

/* fi->fh holds a tfile (files) or a tdir (directories); the kernel may
 * hand either to getattr, so each starts with its kind. */
enum { FH_FILE = 0x7446494c, FH_DIR = 0x74444952 };

typedef struct tfile {
  uint32_t magic; /* FH_FILE */
  struct tfile *prev, *next; /* ternfs.files */
  tern_rmc *h;
  pthread_mutex_t mu;       /* one call at a time on h */
  _Atomic(fuse_req_t) req;  /* the request whose call is in flight */
  int64_t pos;              /* where the server's offset is now */
  bool seekable, append;
  struct fuse_pollhandle *ph; /* armed poll (mu held), or NULL */
  bool in_ep;                 /* its fd is in the poll thread's set (mu) */
} tfile;

typedef struct tdir { /* a readdir snapshot */
  uint32_t magic; /* FH_DIR */
  size_t n;
  struct {
    char *name;
    bool dir;
  } e[];
} tdir;

struct ternfs {
  struct fuse_session *se;
  tern_rmc_opts ro;   /* for files */
  tern_rmc_opts lo;   /* for lookups */
  char registry[256];
  pthread_mutex_t mu; /* the node list */
  pthread_mutex_t fmu; /* the open files, and interrupts against release */
  tfile *files;
  tnode *nodes;
  size_t nnodes;
  tnode *root;
  pthread_t th[THREADS_MAX];
  int nth;
  atomic_bool stopping;
  bool unmounted;
  int epfd;           /* connections with an armed poll */
  pthread_t pth;      /* the poll thread */
  bool pth_on;
  time_t t0;
};

/* ---- errors ------------------------------------------------------------- */

static int to_errno(int rc) {
  switch (rc) {
  case TERN_OK: return 0;
  case TERN_EINVAL: return EINVAL;
  case TERN_ENOMEM: return ENOMEM;
  case TERN_EAGAIN: return EAGAIN;
  case TERN_ENOSPC: return ENOSPC;
  case TERN_ETIMEDOUT: return ETIMEDOUT;
  case TERN_ECANCELED: return EINTR; /* QNX's EINTR is TERN_ECANCELED */
  case TERN_ENOENT: return ENOENT;
  case TERN_EEXIST: return EEXIST;
  case TERN_EBUSY: return EBUSY;
  case TERN_EMSGSIZE: return EMSGSIZE;
  case TERN_ENOTSUP: return EOPNOTSUPP;
  case TERN_EBADF: return EBADF;
  case TERN_EACCES: return EACCES;
  case TERN_EPERM: return EPERM;
  case TERN_EMFILE: return EMFILE;
  case TERN_ERANGE: return ERANGE;
  case TERN_EALREADY: return EALREADY;
  case TERN_ECONNREFUSED:
  case TERN_ECONNRESET: return ENXIO; /* the server is gone */
  default: return EIO;
  }
}

/* ---- the registry: what is a path? ---------------------------------------- */

enum { P_NONE, P_FILE, P_DIR, P_SERVED };

typedef struct classify {
  const char *path;
  size_t len;
  int kind;      /* best so far */
  size_t served; /* length of the longest directory attach above path */
} classify;

static void on_class(const char *p, bool is_dir, bool live, void *ud) {
  classify *c = ud;
  size_t n = strlen(p);
  if (!live) return;
  if (n == c->len && !memcmp(p, c->path, n)) {
    c->kind = is_dir ? (c->kind == P_FILE ? P_FILE : P_DIR) : P_FILE;
  } else if (n > c->len && !memcmp(p, c->path, c->len) &&
             (c->len == 1 || p[c->len] == '/')) {
    if (c->kind == P_NONE || c->kind == P_SERVED) c->kind = P_DIR;
  } else if (is_dir && n < c->len && !memcmp(p, c->path, n) &&
             (n == 1 || c->path[n] == '/') && n >= c->served) {
    c->served = n;
    if (c->kind == P_NONE) c->kind = P_SERVED;
  }
}

static int path_kind(ternfs *fs, const char *path) {
  if (!strcmp(path, "/")) return P_DIR;
  classify c = {path, strlen(path), P_NONE, 0};
  if (tern_rmc_list(fs->lo.registry, on_class, &c) != TERN_OK) return P_NONE;
  return c.kind;
}

static void dir_attr(ternfs *fs, struct stat *st) {
  memset(st, 0, sizeof(*st));
  st->st_mode = S_IFDIR | 0755;
  st->st_nlink = 2;
  st->st_uid = getuid();
  st->st_gid = getgid();
  st->st_mtime = st->st_atime = st->st_ctime = fs->t0;
}

static void rm_to_stat(const tern_rm_stat *r, struct stat *st) {
  memset(st, 0, sizeof(*st));
  /* any non-directory is a regular file here: an S_IFCHR inode on a FUSE
   * mount would send opens to the kernel's device of that number */
  st->st_mode = (S_ISDIR(r->mode) ? S_IFDIR : S_IFREG) | (r->mode & 07777);
  st->st_nlink = r->nlink ? r->nlink : 1;
  st->st_uid = r->uid;
  st->st_gid = r->gid;
  st->st_size = (off_t)r->size;
  st->st_mtime = (time_t)r->mtime;
  st->st_atime = (time_t)r->atime;
  st->st_ctime = (time_t)r->ctime;
  st->st_blksize = 4096;
}

/* open + stat + close, as QNX's stat() does on a resource manager. */
static int server_stat(ternfs *fs, const char *path, struct stat *st) {
  tern_rmc *h;
  tern_rm_stat r;
  int rc = tern_rmc_open(&h, path, O_RDONLY, &fs->lo);
  if (rc == TERN_EACCES) rc = tern_rmc_open(&h, path, O_WRONLY, &fs->lo);
  if (rc != TERN_OK) return rc;
  rc = tern_rmc_stat(h, &r);
  tern_rmc_close(h);
  if (rc == TERN_OK) rm_to_stat(&r, st);
  return rc;
}

static int path_attr(ternfs *fs, const char *path, struct stat *st) {
  switch (path_kind(fs, path)) {
  case P_DIR:
    dir_attr(fs, st);
    return TERN_OK;
  case P_FILE:
  case P_SERVED:
    return server_stat(fs, path, st);
  default:
    return TERN_ENOENT;
  }
}

/* ---- inodes ------------------------------------------------------------- */

static tnode *node_of(ternfs *fs, fuse_ino_t ino) {
  return ino == FUSE_ROOT_ID ? fs->root : (tnode *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(ternfs *fs, tnode *n) {
  return n == fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

/* The node of path with one more lookup; NULL past NODES_MAX. */
static tnode *node_get(ternfs *fs, const char *path) {
  pthread_mutex_lock(&fs->mu);
  tnode *n;
  for (n = fs->nodes; n; n = n->next)
    if (!strcmp(n->path, path)) break;
  if (n == NULL && fs->nnodes < NODES_MAX &&
      (n = calloc(1, sizeof(*n) + strlen(path) + 1)) != NULL) {
    strcpy(n->path, path);
    n->next = fs->nodes;
    if (fs->nodes) fs->nodes->prev = n;
    fs->nodes = n;
    fs->nnodes++;
  }
  if (n) n->nlookup++;
  pthread_mutex_unlock(&fs->mu);
  return n;
}

static void node_forget(ternfs *fs, tnode *n, uint64_t k) {
  if (n == fs->root) return;
  pthread_mutex_lock(&fs->mu);
  n->nlookup = k >= n->nlookup ? 0 : n->nlookup - k;
  if (n->nlookup == 0) {
    if (n->prev) n->prev->next = n->next;
    else fs->nodes = n->next;
    if (n->next) n->next->prev = n->prev;
    fs->nnodes--;
    free(n);
  }
  pthread_mutex_unlock(&fs->mu);
}

static int join_path(const char *dir, const char *name, char *out, size_t cap) {
  int k = snprintf(out, cap, "%s/%s", strcmp(dir, "/") ? dir : "", name);
  return k > 0 && (size_t)k < cap ? 0 : -1;
}

/* ---- lookups and attributes -------------------------------------------- */

static void tfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  ternfs *fs = fuse_req_userdata(req);
  char path[PATH_MAX_RM];
  struct fuse_entry_param e;
  memset(&e, 0, sizeof(e));
  if (join_path(node_of(fs, parent)->path, name, path, sizeof(path))) {
    fuse_reply_err(req, ENAMETOOLONG);
    return;
  }
  int rc = path_attr(fs, path, &e.attr);
  if (rc != TERN_OK) {
    fuse_reply_err(req, to_errno(rc));
    return;
  }
  tnode *n = node_get(fs, path);
  if (n == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  e.ino = ino_of(fs, n);
  e.attr.st_ino = e.ino;
  e.attr_timeout = e.entry_timeout = ATTR_TIMEOUT;
  if (fuse_reply_entry(req, &e) != 0) node_forget(fs, n, 1);
}

static void tfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  ternfs *fs = fuse_req_userdata(req);
  node_forget(fs, node_of(fs, ino), nlookup);
  fuse_reply_none(req);
}

static void tfs_forget_multi(fuse_req_t req, size_t count,
                             struct fuse_forget_data *f) {
  ternfs *fs = fuse_req_userdata(req);
  for (size_t i = 0; i < count; i++)
    node_forget(fs, node_of(fs, f[i].ino), f[i].nlookup);
  fuse_reply_none(req);
}

static void tfs_getattr(fuse_req_t req, fuse_ino_t ino,
                        struct fuse_file_info *fi) {
  ternfs *fs = fuse_req_userdata(req);
  struct stat st;
  int rc;
  tfile *f = fi ? (tfile *)(uintptr_t)fi->fh : NULL;
  if (f && f->magic == FH_FILE) { /* an open file: ask on its own handle */
    tern_rm_stat r;
    pthread_mutex_lock(&f->mu);
    rc = tern_rmc_stat(f->h, &r);
    pthread_mutex_unlock(&f->mu);
    if (rc == TERN_OK) rm_to_stat(&r, &st);
  } else {
    rc = path_attr(fs, node_of(fs, ino)->path, &st);
  }
  if (rc != TERN_OK) {
    fuse_reply_err(req, to_errno(rc));
    return;
  }
  st.st_ino = ino;
  fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

/* Truncation (O_TRUNC on `echo x > node`) and times mean nothing to a
 * node: accepted and ignored. Mode and owner are the server's. */
static void tfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                        int to_set, struct fuse_file_info *fi) {
  (void)attr;
  if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  tfs_getattr(req, ino, fi);
}

/* ---- directories ------------------------------------------------------------ */

typedef struct dir_build {
  const char *path;
  size_t len;
  tdir *d;
  size_t cap;
  bool oom;
} dir_build;

static void on_dirent(const char *p, bool is_dir, bool live, void *ud) {
  dir_build *b = ud;
  size_t n = strlen(p);
  if (!live || n <= b->len || memcmp(p, b->path, b->len)) return;
  const char *s = p + b->len;
  if (b->len > 1) {
    if (*s != '/') return;
    s++;
  }
  const char *slash = strchr(s, '/');
  size_t k = slash ? (size_t)(slash - s) : strlen(s);
  bool dir = slash != NULL || is_dir;
  for (size_t i = 0; i < b->d->n; i++)
    if (strlen(b->d->e[i].name) == k && !memcmp(b->d->e[i].name, s, k)) {
      b->d->e[i].dir |= dir;
      return;
    }
  if (b->d->n == b->cap) {
    size_t cap = b->cap * 2;
    tdir *g = realloc(b->d, sizeof(*g) + cap * sizeof(g->e[0]));
    if (g == NULL) {
      b->oom = true;
      return;
    }
    b->d = g;
    b->cap = cap;
  }
  char *name = strndup(s, k);
  if (name == NULL) {
    b->oom = true;
    return;
  }
  b->d->e[b->d->n].name = name;
  b->d->e[b->d->n++].dir = dir;
}

static void dir_free(tdir *d) {
  if (d == NULL) return;
  for (size_t i = 0; i < d->n; i++) free(d->e[i].name);
  free(d);
}

static void tfs_opendir(fuse_req_t req, fuse_ino_t ino,
                        struct fuse_file_info *fi) {
  ternfs *fs = fuse_req_userdata(req);
  const char *path = node_of(fs, ino)->path;
  dir_build b = {path, strlen(path), malloc(sizeof(tdir) + 16 * sizeof(b.d->e[0])),
                 16, false};
  if (b.d == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  b.d->n = 0;
  b.d->magic = FH_DIR;
  int rc = tern_rmc_list(fs->lo.registry, on_dirent, &b);
  if (rc != TERN_OK || b.oom) {
    dir_free(b.d);
    fuse_reply_err(req, b.oom ? ENOMEM : to_errno(rc));
    return;
  }
  fi->fh = (uint64_t)(uintptr_t)b.d;
  fuse_reply_open(req, fi);
}

static void tfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                        struct fuse_file_info *fi) {
  tdir *d = (tdir *)(uintptr_t)fi->fh;
  char *buf = malloc(size);
  size_t used = 0;
  (void)ino;
  if (buf == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  /* offsets: 0 ".", 1 "..", 2.. the entries; each entry's off is the next */
  for (size_t i = (size_t)off; i < d->n + 2; i++) {
    struct stat st = {0};
    const char *name = i == 0 ? "." : i == 1 ? ".." : d->e[i - 2].name;
    st.st_mode = (i < 2 || d->e[i - 2].dir) ? S_IFDIR : S_IFREG;
    st.st_ino = i + 1; /* never 0: readdir(3) skips d_ino 0 entries; the
                          kernel looks names up for the real inode */
    size_t k = fuse_add_direntry(req, buf + used, size - used, name, &st,
                                 (off_t)(i + 1));
    if (k > size - used) break;
    used += k;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
}

static void tfs_releasedir(fuse_req_t req, fuse_ino_t ino,
                           struct fuse_file_info *fi) {
  (void)ino;
  dir_free((tdir *)(uintptr_t)fi->fh);
  fuse_reply_err(req, 0);
}

/* ---- files -------------------------------------------------------------- */

/* Is f still open? (fmu held) */
static bool file_live(ternfs *fs, const tfile *f) {
  for (tfile *g = fs->files; g; g = g->next)
    if (g == f) return true;
  return false;
}

/* INTERRUPT for req: if its call is the one in flight, unblock it. Runs
 * on the worker that read the interrupt, under fmu, so f cannot be
 * released meanwhile (req may have been answered and its file closed
 * just before: f is checked to be open still). The interrupt can come
 * between req taking the handle and its message leaving (nothing in
 * flight yet): then it tries again for up to 20 ms while req holds it. */
static void on_interrupt(fuse_req_t req, void *data) {
  ternfs *fs = fuse_req_userdata(req);
  tfile *f = data;
  pthread_mutex_lock(&fs->fmu);
  for (int i = 0; i < 20 && file_live(fs, f) && atomic_load(&f->req) == req;
       i++) {
    if (tern_rmc_unblock(f->h) != TERN_ENOENT) break;
    usleep(1000);
  }
  pthread_mutex_unlock(&fs->fmu);
}

/* Take the handle for req; false (req answered EINTR) if req was
 * interrupted while it waited for the handle. */
static bool file_enter(tfile *f, fuse_req_t req) {
  pthread_mutex_lock(&f->mu);
  atomic_store(&f->req, req);
  fuse_req_interrupt_func(req, on_interrupt, f);
  if (fuse_req_interrupted(req)) {
    atomic_store(&f->req, NULL);
    pthread_mutex_unlock(&f->mu);
    fuse_reply_err(req, EINTR);
    return false;
  }
  return true;
}

/* f->mu held: read the pulses waiting on f's connection; a notify pulse
 * (or a connection gone) tells the kernel to poll again. An armed poll
 * left keeps its fd watched (one-shot: re-armed here). */
static void poll_check(ternfs *fs, tfile *f) {
  if (f->ph == NULL) return;
  tern_rm_pulse p;
  bool fire = false;
  int rc;
  while ((rc = tern_rmc_pulse_recv(f->h, &p, 0)) == TERN_OK) fire = true;
  if (rc != TERN_ETIMEDOUT) fire = true; /* gone: let the poller see it */
  if (fire) {
    fuse_lowlevel_notify_poll(f->ph);
    fuse_pollhandle_destroy(f->ph);
    f->ph = NULL;
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = f};
  int fd = tern_rmc_fd(f->h);
  if (epoll_ctl(fs->epfd, f->in_ep ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) == 0)
    f->in_ep = true;
}

static void file_leave_fs(ternfs *fs, tfile *f) {
  atomic_store(&f->req, NULL);
  poll_check(fs, f);
  pthread_mutex_unlock(&f->mu);
}
#define file_leave(f) file_leave_fs(fuse_req_userdata(req), (f))

/* Take f off the open list: no interrupt can reach it after this. */
static void file_drop(ternfs *fs, tfile *f) {
  pthread_mutex_lock(&fs->fmu);
  if (f->prev) f->prev->next = f->next;
  else fs->files = f->next;
  if (f->next) f->next->prev = f->prev;
  pthread_mutex_unlock(&fs->fmu);
}

static tfile *file_of(struct fuse_file_info *fi) {
  return (tfile *)(uintptr_t)fi->fh;
}

static void tfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  ternfs *fs = fuse_req_userdata(req);
  tfile *f = calloc(1, sizeof(*f));
  tern_rm_stat r;
  if (f == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  int oflag = fi->flags & (O_ACCMODE | O_APPEND | O_NONBLOCK);
  int rc = tern_rmc_open(&f->h, node_of(fs, ino)->path, oflag, &fs->ro);
  if (rc == TERN_OK && (rc = tern_rmc_stat(f->h, &r)) != TERN_OK)
    tern_rmc_close(f->h);
  if (rc != TERN_OK) {
    free(f);
    fuse_reply_err(req, to_errno(rc));
    return;
  }
  tern_rmc_set_timeout(f->h, fs->ro.timeout_ms);
  f->magic = FH_FILE;
  pthread_mutex_init(&f->mu, NULL);
  f->seekable = S_ISREG(r.mode);
  f->append = (oflag & O_APPEND) != 0;
  fi->fh = (uint64_t)(uintptr_t)f;
  fi->direct_io = 1; /* every read and write reaches the server */
  fi->nonseekable = !f->seekable;
  pthread_mutex_lock(&fs->fmu);
  if ((f->next = fs->files) != NULL) f->next->prev = f;
  fs->files = f;
  pthread_mutex_unlock(&fs->fmu);
  if (fuse_reply_open(req, fi) != 0) { /* the opener is gone */
    file_drop(fs, f);
    tern_rmc_close(f->h);
    pthread_mutex_destroy(&f->mu);
    free(f);
  }
}

/* Bring the server's offset to off (seekable nodes only). */
static int seek_to(tfile *f, off_t off) {
  if (!f->seekable || off == f->pos) return TERN_OK;
  int64_t pos;
  int rc = tern_rmc_lseek(f->h, off, SEEK_SET, &pos);
  if (rc == TERN_OK) f->pos = pos;
  return rc;
}

static void tfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  tfile *f = file_of(fi);
  (void)ino;
  if (size > READ_MAX) size = READ_MAX;
  char *buf = malloc(size ? size : 1);
  if (buf == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  if (!file_enter(f, req)) {
    free(buf);
    return;
  }
  int rc = seek_to(f, off);
  if (rc == TERN_OK) rc = tern_rmc_read(f->h, buf, size);
  if (rc >= 0) f->pos = (f->seekable ? off : f->pos) + rc;
  file_leave(f);
  if (rc < 0) fuse_reply_err(req, to_errno(rc));
  else fuse_reply_buf(req, buf, (size_t)rc);
  free(buf);
}

static void tfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                      size_t size, off_t off, struct fuse_file_info *fi) {
  tfile *f = file_of(fi);
  size_t done = 0;
  int rc = TERN_OK;
  (void)ino;
  if (!file_enter(f, req)) return;
  if (!f->append) rc = seek_to(f, off);
  while (rc == TERN_OK && done < size) {
    size_t k = size - done < WRITE_CHUNK ? size - done : WRITE_CHUNK;
    int n = tern_rmc_write(f->h, buf + done, k);
    if (n < 0) {
      rc = n;
      break;
    }
    done += (size_t)n;
    f->pos += n;
    if ((size_t)n < k) break; /* the server took less: a short write */
  }
  file_leave(f);
  if (done == 0 && rc != TERN_OK) fuse_reply_err(req, to_errno(rc));
  else fuse_reply_write(req, done);
}

static void tfs_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
                      void *arg, struct fuse_file_info *fi, unsigned flags,
                      const void *in_buf, size_t in_bufsz, size_t out_bufsz) {
  tfile *f = file_of(fi);
  (void)ino, (void)arg;
  if (flags & FUSE_IOCTL_COMPAT) {
    fuse_reply_err(req, ENOSYS);
    return;
  }
  if (flags & FUSE_IOCTL_DIR) {
    fuse_reply_err(req, ENOTTY);
    return;
  }
  size_t size = _IOC_SIZE(cmd);
  unsigned dir = _IOC_DIR(cmd);
  /* restricted ioctl: the kernel moved exactly what the number declares */
  if (in_bufsz != ((dir & _IOC_WRITE) ? size : 0) ||
      out_bufsz != ((dir & _IOC_READ) ? size : 0)) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  uint8_t *data = calloc(1, size ? size : 1);
  if (data == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  if (in_bufsz) memcpy(data, in_buf, in_bufsz);
  if (!file_enter(f, req)) {
    free(data);
    return;
  }
  int ret = 0, rc = tern_rmc_devctl(f->h, cmd, data, size, &ret);
  file_leave(f);
  if (rc == TERN_ENOTSUP) fuse_reply_err(req, ENOTTY); /* unknown command */
  else if (rc != TERN_OK) fuse_reply_err(req, to_errno(rc));
  else fuse_reply_ioctl(req, ret, out_bufsz ? data : NULL, out_bufsz);
  free(data);
}

/* close(2) of one descriptor: the server's close_dup, the OCB stays. */
static void tfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  tfile *f = file_of(fi);
  tern_rmc *d;
  (void)ino;
  if (!file_enter(f, req)) return;
  int rc = tern_rmc_dup(f->h, &d);
  if (rc == TERN_OK) rc = tern_rmc_close(d);
  file_leave(f);
  fuse_reply_err(req, to_errno(rc));
}

/* The last descriptor: close_dup and close_ocb. */
static void tfs_release(fuse_req_t req, fuse_ino_t ino,
                        struct fuse_file_info *fi) {
  tfile *f = file_of(fi);
  ternfs *fs = fuse_req_userdata(req);
  (void)ino;
  file_drop(fs, f);
  if (f->in_ep) epoll_ctl(fs->epfd, EPOLL_CTL_DEL, tern_rmc_fd(f->h), NULL);
  if (f->ph) fuse_pollhandle_destroy(f->ph);
  tern_rmc_close(f->h);
  pthread_mutex_destroy(&f->mu);
  free(f);
  fuse_reply_err(req, 0);
}

#define POLL_CODE 1 /* the pulse code the bridge's notifies ask for */

/* POLL (poll/select/epoll on a node): the server's ready conditions
 * (QNX ionotify), armed when none is ready and the kernel gave a handle. */
static void tfs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
                     struct fuse_pollhandle *ph) {
  tfile *f = file_of(fi);
  (void)ino;
  uint32_t want = 0;
  if (fi->poll_events & (POLLIN | POLLRDNORM)) want |= TERN_RM_NOTIFY_INPUT;
  if (fi->poll_events & (POLLOUT | POLLWRNORM)) want |= TERN_RM_NOTIFY_OUTPUT;
  if (fi->poll_events & POLLPRI) want |= TERN_RM_NOTIFY_OOB;
  if (want == 0) /* an old kernel does not say: both */
    want = TERN_RM_NOTIFY_INPUT | TERN_RM_NOTIFY_OUTPUT;
  if (!file_enter(f, req)) {
    if (ph) fuse_pollhandle_destroy(ph);
    return;
  }
  int rc = tern_rmc_notify(f->h, ph ? TERN_RM_NOTIFY_POLLARM : TERN_RM_NOTIFY_POLL,
                           want, NULL, POLL_CODE, 0);
  if (rc == 0 && ph) { /* armed: the pulse says when */
    if (f->ph) fuse_pollhandle_destroy(f->ph);
    f->ph = ph;
    ph = NULL;
  }
  file_leave(f);
  if (ph) fuse_pollhandle_destroy(ph);
  if (rc < 0) {
    /* a server gone reads as a hang-up, as a pipe's writer gone does */
    if (rc == TERN_ECONNRESET) fuse_reply_poll(req, POLLHUP | POLLERR);
    else fuse_reply_err(req, to_errno(rc));
    return;
  }
  unsigned rev = 0;
  if (rc & TERN_RM_NOTIFY_INPUT) rev |= POLLIN | POLLRDNORM;
  if (rc & TERN_RM_NOTIFY_OUTPUT) rev |= POLLOUT | POLLWRNORM;
  if (rc & TERN_RM_NOTIFY_OOB) rev |= POLLPRI;
  fuse_reply_poll(req, rev);
}
#define tfs_poll_hook tfs_poll

/* The poll thread: an armed connection became readable (its pulse, or
 * the server going away). A file whose handle a call holds is left to
 * that call's file_leave. */
static void *poll_thread(void *arg) {
  ternfs *fs = arg;
  struct epoll_event ev[16];
  while (!atomic_load(&fs->stopping)) {
    int n = epoll_wait(fs->epfd, ev, 16, 200);
    for (int i = 0; i < n; i++) {
      tfile *f = ev[i].data.ptr;
      pthread_mutex_lock(&fs->fmu); /* f stays open while we look */
      if (file_live(fs, f) && pthread_mutex_trylock(&f->mu) == 0) {
        poll_check(fs, f);
        pthread_mutex_unlock(&f->mu);
      }
      pthread_mutex_unlock(&fs->fmu);
    }
  }
  return NULL;
}

static void tfs_init(void *ud, struct fuse_conn_info *conn) {
  (void)ud;
  /* O_TRUNC comes with open, not as a setattr first */
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
    conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

static const struct fuse_lowlevel_ops tfs_ops = {
    .init = tfs_init,
    .lookup = tfs_lookup,
    .forget = tfs_forget,
    .forget_multi = tfs_forget_multi,
    .getattr = tfs_getattr,
    .setattr = tfs_setattr,
    .opendir = tfs_opendir,
    .readdir = tfs_readdir,
    .releasedir = tfs_releasedir,
    .open = tfs_open,
    .read = tfs_read,
    .write = tfs_write,
    .ioctl = tfs_ioctl,
    .flush = tfs_flush,
    .release = tfs_release,
    .poll = tfs_poll_hook,
};

/* ---- threads ------------------------------------------------------------ */

static void on_wake(int sig) { (void)sig; }

static void *worker(void *arg) {
  ternfs *fs = arg;
  struct fuse_buf buf;
  memset(&buf, 0, sizeof(buf));
  while (!fuse_session_exited(fs->se) && !atomic_load(&fs->stopping)) {
    int r = fuse_session_receive_buf(fs->se, &buf);
    if (r == -EINTR) continue;
    if (r <= 0) break;
    fuse_session_process_buf(fs->se, &buf);
  }
  free(buf.mem);
  return NULL;
}

int ternfs_start(ternfs **out, const char *mnt, const ternfs_opts *opts) {
  ternfs_opts o = {0};
  if (opts) o = *opts;
  if (access("/dev/fuse", R_OK | W_OK) != 0) return TERN_ENOENT;
  ternfs *fs = calloc(1, sizeof(*fs));
  if (fs == NULL) return TERN_ENOMEM;
  fs->t0 = time(NULL);
  if (o.registry) snprintf(fs->registry, sizeof(fs->registry), "%s", o.registry);
  fs->ro.registry = fs->lo.registry = o.registry ? fs->registry : NULL;
  fs->ro.timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : TERN_WAIT_FOREVER;
  fs->lo.timeout_ms = o.lookup_timeout_ms > 0 ? o.lookup_timeout_ms : 5000;
  fs->nth = o.threads > 0 ? (o.threads < THREADS_MAX ? o.threads : THREADS_MAX)
                          : 4;
  pthread_mutex_init(&fs->mu, NULL);
  pthread_mutex_init(&fs->fmu, NULL);
  fs->root = calloc(1, sizeof(tnode) + 2);
  fs->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (fs->root == NULL || fs->epfd < 0) {
    if (fs->epfd >= 0) close(fs->epfd);
    free(fs->root);
    free(fs);
    return TERN_ENOMEM;
  }
  strcpy(fs->root->path, "/");
  char optstr[128];
  snprintf(optstr, sizeof(optstr), "-odefault_permissions,fsname=tern-rm%s",
           o.allow_other ? ",allow_other" : "");
  char *argv[] = {"ternfs", optstr, o.debug ? "-d" : NULL, NULL};
  struct fuse_args args = FUSE_ARGS_INIT(o.debug ? 3 : 2, argv);
  fs->se = fuse_session_new(&args, &tfs_ops, sizeof(tfs_ops), fs);
  fuse_opt_free_args(&args);
  if (fs->se == NULL || fuse_session_mount(fs->se, mnt) != 0) {
    if (fs->se) fuse_session_destroy(fs->se);
    close(fs->epfd);
    free(fs->root);
    free(fs);
    return TERN_EIO;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_wake; /* no SA_RESTART: a read in /dev/fuse ends */
  sigaction(SIGURG, &sa, NULL);
  /* the workers take SIGURG only: the program's own signals (SIGINT ...)
   * go to its other threads */
  sigset_t all, old;
  sigfillset(&all);
  sigdelset(&all, SIGURG);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  for (int i = 0; i < fs->nth; i++)
    if (pthread_create(&fs->th[i], NULL, worker, fs) != 0) {
      fs->nth = i;
      break;
    }
  fs->pth_on = pthread_create(&fs->pth, NULL, poll_thread, fs) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  *out = fs;
  return TERN_OK;
}

void ternfs_unmount(ternfs *fs) {
  if (fs == NULL || fs->unmounted) return;
  fs->unmounted = true;
  atomic_store(&fs->stopping, true);
  fuse_session_exit(fs->se);
  fuse_session_unmount(fs->se);
}

void ternfs_free(ternfs *fs) {
  if (fs == NULL) return;
  ternfs_unmount(fs);
  for (int i = 0; i < fs->nth; i++) {
    for (;;) { /* wake it from its read until it has gone */
      struct timespec ts;
      pthread_kill(fs->th[i], SIGURG);
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 50 * 1000 * 1000;
      if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
      if (pthread_timedjoin_np(fs->th[i], NULL, &ts) == 0) break;
    }
  }
  if (fs->pth_on) pthread_join(fs->pth, NULL); /* stopping: within 200 ms */
  fuse_session_destroy(fs->se);
  while (fs->files) { /* open when the mount went: no release will come */
    tfile *f = fs->files;
    fs->files = f->next;
    if (f->ph) fuse_pollhandle_destroy(f->ph);
    tern_rmc_close(f->h);
    pthread_mutex_destroy(&f->mu);
    free(f);
  }
  while (fs->nodes) {
    tnode *n = fs->nodes;
    fs->nodes = n->next;
    free(n);
  }
  free(fs->root);
  pthread_mutex_destroy(&fs->mu);
  pthread_mutex_destroy(&fs->fmu);
  close(fs->epfd);
  free(fs);
}
