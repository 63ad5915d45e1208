/* rm/rm_dispatch.c: the dispatcher (QNX dispatch_create + resmgr_attach +
 * the MsgReceive/MsgReply loop) as sources in a tern loop.
 *
 * Call order: tern_rm_dispatch_new; tern_rm_attach binds a listening
 * socket per name (rm_registry.c) and watches it; each accepted
 * connection is a tern__rm_conn with its peer's SO_PEERCRED and a watcher;
 * a readable connection gives one datagram = one message, decoded
 * strictly (rm_msg.c) and handed to rm_io.c; replies go back with one
 * sendmsg. A reply from another thread is copied and posted with
 * tern_loop_call.
 *
 * A message that does not decode gets a TERN_EPROTO reply when its
 * header names a request, else the connection is closed. One larger than
 * max_msg gets TERN_EMSGSIZE. Sends never block (MSG_DONTWAIT): a client
 * whose receive queue is full is not reading its replies and is dropped.
 *
 * Two sizes of a read or write: up to max_msg in the message itself,
 * above that through a sealed memfd passed with SCM_RIGHTS (rm_memfd.c),
 * up to max_memfd. With a thread pool (rm_pool.c) the loop thread only
 * receives; tern__rm_conn_input runs on the connection's pool thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rm/rm_internal.h"


/* ---- replies ---------------------------------------------------------------- */

static bool take_locked(tern__rm_conn *c, uint32_t rid, tern__rm_pend *out) {
  for (size_t i = 0; i < c->npending; i++) {
    if (c->pending[i].rid != rid) continue;
    if (out) *out = c->pending[i];
    c->pending[i] = c->pending[--c->npending];
    return true;
  }
  return false;
}

bool tern__rm_pending_take(tern__rm_conn *c, uint32_t rid, tern__rm_pend *out) {
  pthread_mutex_lock(&c->d->lock);
  bool r = take_locked(c, rid, out);
  pthread_mutex_unlock(&c->d->lock);
  return r;
}

bool tern__rm_pending_has(tern__rm_conn *c, uint32_t rid) {
  bool r = false;
  pthread_mutex_lock(&c->d->lock);
  for (size_t i = 0; i < c->npending; i++) r |= c->pending[i].rid == rid;
  pthread_mutex_unlock(&c->d->lock);
  return r;
}

static int add_locked(tern__rm_conn *c, uint32_t rid, uint8_t type,
                      size_t cap) {
  for (size_t i = 0; i < c->npending; i++)
    if (c->pending[i].rid == rid) return TERN_EBUSY; /* rid still live */
  if (c->npending == c->cap_pending) {
    size_t n = c->cap_pending ? c->cap_pending * 2 : 4;
    if (n > TERN__RM_PENDING_MAX) return TERN_EBUSY;
    tern__rm_pend *p = realloc(c->pending, n * sizeof(*p));
    if (p == NULL) return TERN_ENOMEM;
    c->pending = p;
    c->cap_pending = n;
  }
  c->pending[c->npending++] = (tern__rm_pend){rid, type, cap};
  return TERN_OK;
}

int tern__rm_pending_add(tern__rm_conn *c, uint32_t rid, uint8_t type,
                         size_t cap) {
  pthread_mutex_lock(&c->d->lock);
  int rc = add_locked(c, rid, type, cap);
  pthread_mutex_unlock(&c->d->lock);
  return rc;
}

void tern__rm_conn_fail(tern__rm_conn *c) {
  if (c->d->pool) /* the loop sees the end and hands the close over */
    shutdown(c->fd, SHUT_RDWR);
  else if (c->busy) {
    pthread_mutex_lock(&c->d->lock); /* a trigger on another thread reads it */
    c->dead = true;
    pthread_mutex_unlock(&c->d->lock);
  } else
    tern__rm_conn_close(c);
}

void tern__rm_send_reply(tern__rm_conn *c, uint8_t type, uint32_t rid,
                         int status, int64_t value, const struct iovec *iov,
                         int nparts, size_t cap) {
  uint8_t hdr[TERN__RM_REPLY_HDR];
  struct iovec v[TERN_RM_MAX_PARTS + 1];
  size_t total = 0;
  int n = 1;
  if (c->dead) return;
  for (int i = 0; i < nparts && status == TERN_OK; i++) {
    size_t len = iov[i].iov_len;
    if (total + len > cap) len = cap - total; /* the client's buffer */
    if (len == 0) continue;
    v[n].iov_base = iov[i].iov_base;
    v[n++].iov_len = len;
    total += len;
  }
  int mfd = -1;
  if (status == TERN_OK && total + TERN__RM_REPLY_HDR > c->d->max_msg) {
    /* a large read's answer: in a memfd, value says how much */
    if (type == TERN__RM_T_READ_FD && total <= c->d->max_memfd)
      status = tern__rm_memfd_make(v + 1, n - 1, total, &mfd);
    else
      status = TERN_EMSGSIZE;
    if (status == TERN_OK) value = (int64_t)total;
  }
  if (status != TERN_OK || mfd >= 0) n = 1, total = 0;
  if (status != TERN_OK) value = 0;
  v[0].iov_base = hdr;
  v[0].iov_len = tern__rm_enc_reply(hdr, type, rid, status, value, total);
  struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)n};
  ssize_t sent = tern__rm_sendmsg_fd(c->fd, &mh, mfd, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (mfd >= 0) close(mfd);
  if (sent < 0) {
    tern_log(TERN_LOG_DEBUG, "rm", "conn %u: reply failed (errno %d); closing",
             c->id, errno);
    tern__rm_conn_fail(c);
  }
}

/* Under d->lock when d has a pool. */
tern__rm_conn *tern__rm_conn_find(tern_rm_dispatch *d, uint32_t id) {
  for (tern__rm_conn *c = d->conns; c; c = c->next)
    if (c->id == id) return c;
  return NULL;
}

/* The reply for rcvid, on the loop thread. */
static int reply_now(tern_rm_dispatch *d, tern_rm_rcvid rcvid, int status,
                     int64_t value, const struct iovec *iov, int nparts) {
  tern__rm_pend p;
  /* With a pool the lock keeps c from being freed by its thread during
   * the send (a failed send only shuts c down there); without one the
   * send may close c and run its handlers, so it goes unlocked. */
  pthread_mutex_lock(&d->lock);
  tern__rm_conn *c = tern__rm_conn_find(d, (uint32_t)(rcvid >> 32));
  bool ok = c && !c->dead && take_locked(c, (uint32_t)rcvid, &p);
  if (ok && d->pool)
    tern__rm_send_reply(c, p.type, p.rid, status, value, iov, nparts, p.cap);
  pthread_mutex_unlock(&d->lock);
  if (!ok) return TERN_ENOENT;
  if (!d->pool)
    tern__rm_send_reply(c, p.type, p.rid, status, value, iov, nparts, p.cap);
  return TERN_OK;
}

typedef struct posted {
  tern_rm_dispatch *d;
  tern_rm_rcvid rcvid;
  int status;
  int64_t value;
  size_t len;
  uint8_t data[];
} posted;

static void dispatch_release(tern_rm_dispatch *d);

static void on_posted(tern_loop *loop, void *arg, int status) {
  posted *p = arg;
  tern_rm_dispatch *d = p->d;
  (void)loop;
  if (status == TERN_OK && !d->freeing) {
    struct iovec v = {p->data, p->len};
    reply_now(d, p->rcvid, p->status, p->value, &v, p->len ? 1 : 0);
  }
  free(p);
  tern__rm_posted_end(d);
}

void tern__rm_posted_begin(tern_rm_dispatch *d) {
  atomic_fetch_add(&d->posted, 1);
}

void tern__rm_posted_end(tern_rm_dispatch *d) {
  if (atomic_fetch_sub(&d->posted, 1) == 1 && d->freeing) dispatch_release(d);
}

int tern_rm_reply(tern_rm_dispatch *d, tern_rm_rcvid rcvid, int status,
                  int64_t value, const struct iovec *iov, int nparts) {
  size_t len = 0;
  if (d == NULL || status > 0 || nparts < 0 || nparts > TERN_RM_MAX_PARTS)
    return TERN_EINVAL;
  for (int i = 0; i < nparts; i++) len += iov[i].iov_len;
  if (len + TERN__RM_REPLY_HDR > d->max_msg && len > d->max_memfd)
    return TERN_EMSGSIZE;
  if (tern_loop_on_thread(d->loop))
    return reply_now(d, rcvid, status, value, iov, nparts);
  posted *p = malloc(sizeof(*p) + len);
  if (p == NULL) return TERN_ENOMEM;
  *p = (posted){d, rcvid, status, value, len};
  for (int i = 0, off = 0; i < nparts; off += (int)iov[i].iov_len, i++)
    memcpy(p->data + off, iov[i].iov_base, iov[i].iov_len);
  tern__rm_posted_begin(d);
  int rc = tern_loop_call(d->loop, on_posted, p);
  if (rc != TERN_OK) {
    atomic_fetch_sub(&d->posted, 1);
    free(p);
  }
  return rc;
}

int tern_rm_error(tern_rm_dispatch *d, tern_rm_rcvid rcvid, int err) {
  return tern_rm_reply(d, rcvid, err, 0, NULL, 0);
}

/* ---- connections --------------------------------------------------------- */

void tern__rm_conn_close(tern__rm_conn *c) {
  pthread_mutex_lock(&c->d->lock); /* reply_now reads dead */
  c->busy = true; /* handlers below may reply to others; not to us */
  c->dead = true;
  pthread_mutex_unlock(&c->d->lock);
  tern__rm_conn_drop_ocb(c);
  tern__rm_conn_free(c);
}

/* Loop thread, or (pool) c's thread after the loop stopped c->io. */
void tern__rm_conn_free(tern__rm_conn *c) {
  tern_rm_dispatch *d = c->d;
  if (c->io) tern_io_stop(c->io);
  close(c->fd);
  pthread_mutex_lock(&d->lock);
  if (c->prev)
    c->prev->next = c->next;
  else
    d->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  d->nconns--;
  pthread_mutex_unlock(&d->lock);
  free(c->pending);
  free(c);
}

/* One datagram from c, with at most one descriptor (SCM_RIGHTS). */
static void conn_read(tern__rm_conn *c) {
  tern_rm_dispatch *d = c->d;
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int) * 2)];
  } cb;
  struct iovec v = {d->rbuf, d->max_msg};
  struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = cb.b,
                      .msg_controllen = sizeof(cb.b)};
  ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  int fd = -1, extra = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n > 0 && cm;
       cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int f;
      memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(f));
      if (fd < 0)
        fd = f;
      else
        close(f), extra++;
    }
  }
  if (extra || (mh.msg_flags & MSG_CTRUNC)) { /* one descriptor at most */
    if (fd >= 0) close(fd);
    fd = TERN__RM_FD_BAD;
  }
  if (n <= 0) { /* EOF or error: the client is gone */
    if (fd >= 0) close(fd);
    if (d->pool) {
      tern__rm_pool_gone(c);
      return;
    }
    tern__rm_conn_close(c);
    return;
  }
  if (d->pool)
    tern__rm_pool_submit(c, d->rbuf, (size_t)n, fd);
  else
    tern__rm_conn_input(c, d->rbuf, (size_t)n, fd);
}

void tern__rm_conn_input(tern__rm_conn *c, const uint8_t *buf, size_t n,
                         int fd) {
  tern_rm_dispatch *d = c->d;
  void *map = NULL;
  tern__rm_msg m;
  if (n > d->max_msg) { /* cut: answer the rid if the header is whole */
    tern__rm_hdr h;
    tern__rm_hdr_decode(buf, d->max_msg, &h);
    if (fd >= 0) close(fd);
    if (h.rid == 0 || (h.flags & TERN__RM_F_REPLY)) {
      tern__rm_conn_fail(c);
      return;
    }
    tern__rm_send_reply(c, h.type, h.rid, TERN_EMSGSIZE, 0, NULL, 0, 0);
    return;
  }
  int rc = tern__rm_msg_decode(buf, n, &m);
  if (rc == TERN_OK && ((m.h.flags & TERN__RM_F_REPLY) || fd == TERN__RM_FD_BAD))
    rc = TERN_EPROTO;
  if (rc == TERN_OK && m.h.type == TERN__RM_T_WRITE_FD)
    rc = fd < 0 ? TERN_EPROTO : tern__rm_memfd_map(d, &m, fd, &map);
  else if (rc == TERN_OK && m.h.type == TERN__RM_T_READ_FD &&
           m.nbytes > d->max_memfd)
    rc = TERN_EMSGSIZE; /* before the handler moves anything */
  if (rc == TERN_OK && fd != -1 && m.h.type != TERN__RM_T_WRITE_FD)
    rc = TERN_EPROTO; /* only WRITE_FD carries a descriptor */
  if (fd >= 0) close(fd); /* the mapping stays */
  if (rc != TERN_OK || (m.h.rid == 0 && m.h.type != TERN__RM_T_PULSE)) {
    /* a pulse has no rid, and is never answered */
    if (m.h.rid == 0 || n < TERN__RM_HDR_LEN || m.h.type == TERN__RM_T_PULSE) {
      tern__rm_conn_fail(c); /* nothing to answer */
      return;
    }
    tern__rm_send_reply(c, m.h.type, m.h.rid, rc, 0, NULL, 0, 0);
    return;
  }
  tern__rm_handle(c, &m);
  if (map) tern__rm_memfd_unmap(map, m.data_len);
  if (c->dead) tern__rm_conn_close(c);
}

static void on_conn(tern_io *io, unsigned events, void *ud) {
  (void)io;
  if (events & (TERN_IO_READ | TERN_IO_ERROR)) conn_read(ud);
}

static void accept_one(tern_rm_attach_h *a, int fd) {
  tern_rm_dispatch *d = a->d;
  struct ucred uc;
  socklen_t ul = sizeof(uc);
  tern__rm_conn *c = NULL;
  pthread_mutex_lock(&d->lock);
  bool full = d->nconns >= d->max_conns;
  pthread_mutex_unlock(&d->lock);
  if (full ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) != 0 ||
      (c = calloc(1, sizeof(*c))) == NULL) {
    tern_log(TERN_LOG_WARN, "rm", "%s: connection refused (limit %zu)",
             a->path, d->max_conns);
    close(fd);
    return;
  }
  c->d = d;
  c->a = a;
  c->fd = fd;
  c->cred = (tern_rm_cred){uc.pid, uc.uid, uc.gid};
  if (++d->next_conn_id == 0) d->next_conn_id = 1;
  c->id = d->next_conn_id;
  if (tern_io_start(d->loop, &c->io, fd, TERN_IO_READ, on_conn, c) != TERN_OK) {
    close(fd);
    free(c);
    return;
  }
  pthread_mutex_lock(&d->lock);
  c->next = d->conns;
  if (d->conns) d->conns->prev = c;
  d->conns = c;
  d->nconns++;
  pthread_mutex_unlock(&d->lock);
}

static void on_listen(tern_io *io, unsigned events, void *ud) {
  tern_rm_attach_h *a = ud;
  (void)io, (void)events;
  for (int i = 0; i < 64; i++) { /* bounded: let other sources run */
    int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    accept_one(a, fd);
  }
}

/* ---- attach / detach ---------------------------------------------------------- */

int tern_rm_attach(tern_rm_dispatch *d, const char *path, unsigned flags,
                   const tern_rm_connect_funcs *cf, const tern_rm_io_funcs *iof,
                   tern_rm_attr *attr, tern_rm_attach_h **out) {
  if (d == NULL || attr == NULL || !tern__rm_path_valid(path) ||
      (flags & ~(unsigned)TERN_RM_ATTACH_DIR) != 0)
    return TERN_EINVAL;
  return tern__rm_attach_fd(d, path, flags, false, cf, iof, attr, out);
}

int tern__rm_attach_fd(tern_rm_dispatch *d, const char *path, unsigned flags,
                       bool mount_type, const tern_rm_connect_funcs *cf,
                       const tern_rm_io_funcs *iof, tern_rm_attr *attr,
                       tern_rm_attach_h **out) {
  if (!tern_loop_on_thread(d->loop)) return TERN_EPERM; /* a pool thread */
  tern_rm_attach_h *a = calloc(1, sizeof(*a));
  if (a == NULL || (a->path = strdup(path)) == NULL) {
    free(a);
    return TERN_ENOMEM;
  }
  a->d = d;
  a->flags = flags;
  a->cf = cf;
  a->iof = iof;
  a->attr = attr;
  a->mount_type = mount_type;
  a->gen = ++d->next_attach_gen;
  char name[sizeof(a->sockpath)];
  int rc = TERN_OK;
  if (mount_type && snprintf(name, sizeof(name), "m.%s", path) >= (int)sizeof(name))
    rc = TERN_EINVAL;
  if (rc == TERN_OK && mount_type)
    rc = tern__rm_listen_name(d->registry, name, &a->fd, a->sockpath,
                              sizeof(a->sockpath), &a->ino);
  else if (rc == TERN_OK)
    rc = tern__rm_listen(d->registry, path, flags & TERN_RM_ATTACH_DIR, &a->fd,
                         a->sockpath, sizeof(a->sockpath), &a->ino);
  if (rc == TERN_OK) {
    rc = tern_io_start(d->loop, &a->io, a->fd, TERN_IO_READ, on_listen, a);
    if (rc != TERN_OK) {
      tern__rm_unlisten(a->sockpath, a->ino);
      close(a->fd);
    }
  }
  if (rc != TERN_OK) {
    free(a->path);
    free(a);
    return rc;
  }
  a->next = d->attaches;
  d->attaches = a;
  if (out) *out = a;
  return TERN_OK;
}

int tern_rm_detach(tern_rm_dispatch *d, tern_rm_attach_h *a) {
  if (!tern_loop_on_thread(d->loop)) return TERN_EPERM; /* detach_later */
  tern_rm_attach_h **pp = &d->attaches;
  while (*pp && *pp != a) pp = &(*pp)->next;
  if (*pp == NULL) return TERN_ENOENT;
  *pp = a->next;
  tern_io_stop(a->io);
  tern__rm_unlisten(a->sockpath, a->ino);
  close(a->fd);
  if (d->pool)
    tern__rm_pool_close_conns(d, a); /* waits for their handlers */
  for (tern__rm_conn *c = d->conns, *nx; c && !d->pool; c = nx) {
    nx = c->next;
    if (c->a == a) tern__rm_conn_close(c);
  }
  free(a->path);
  free(a);
  return TERN_OK;
}

/* ---- the dispatcher ---------------------------------------------------------- */

int tern_rm_dispatch_new(tern_rm_dispatch **out, tern_loop *loop,
                         const tern_rm_opts *opts) {
  tern_rm_opts o = {0};
  if (out == NULL || loop == NULL) return TERN_EINVAL;
  if (opts) o = *opts;
  if (o.max_msg == 0) o.max_msg = TERN_RM_MAX_MSG_DEFAULT;
  if (o.max_conns == 0) o.max_conns = TERN__RM_MAX_CONNS_DEFAULT;
  if (o.max_memfd == 0) o.max_memfd = TERN_RM_MAX_MEMFD_DEFAULT;
  if (o.max_msg < 256 || o.max_msg > 16u * 1024 * 1024 ||
      o.max_memfd > (size_t)1 << 30)
    return TERN_EINVAL;
  tern_rm_dispatch *d = calloc(1, sizeof(*d));
  if (d == NULL) return TERN_ENOMEM;
  int rc = tern__rm_registry_dir(o.registry, d->registry, sizeof(d->registry));
  if (rc != TERN_OK) {
    free(d);
    return rc;
  }
  d->loop = loop;
  d->max_msg = o.max_msg;
  d->max_conns = o.max_conns;
  d->max_memfd = o.max_memfd;
  /* room for a devctl's whole declared size after its header */
  d->rbuf_len = o.max_msg + TERN_DCMD_SIZE_MAX + 32;
  d->rbuf = malloc(d->rbuf_len);
  if (d->rbuf == NULL) {
    free(d);
    return TERN_ENOMEM;
  }
  atomic_init(&d->posted, 0);
  atomic_init(&d->fi, NULL);
  pthread_mutex_init(&d->lock, NULL);
  *out = d;
  return TERN_OK;
}

static void dispatch_release(tern_rm_dispatch *d) {
  tern__rm_tabs_free(d);
  pthread_mutex_destroy(&d->lock);
  free(d->rbuf);
  free(d);
}

void tern_rm_dispatch_free(tern_rm_dispatch *d) {
  if (d == NULL) return;
  while (d->attaches) tern_rm_detach(d, d->attaches);
  if (d->pool) tern__rm_pool_stop(d);
  d->freeing = true;
  if (atomic_load(&d->posted) == 0) dispatch_release(d);
}

tern_loop *tern_rm_dispatch_loop(const tern_rm_dispatch *d) { return d->loop; }
const char *tern_rm_dispatch_registry(const tern_rm_dispatch *d) {
  return d->registry;
}
