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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rm/rm_internal.h"

static void conn_free(tern__rm_conn *c);

/* ---- replies ---------------------------------------------------------------- */

bool tern__rm_pending_take(tern__rm_conn *c, uint32_t rid, tern__rm_pend *out) {
  for (size_t i = 0; i < c->npending; i++) {
    if (c->pending[i].rid != rid) continue;
    if (out) *out = c->pending[i];
    c->pending[i] = c->pending[--c->npending];
    return true;
  }
  return false;
}

int tern__rm_pending_add(tern__rm_conn *c, uint32_t rid, uint8_t type,
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
  if (total + TERN__RM_REPLY_HDR > c->d->max_msg) {
    status = TERN_EMSGSIZE;
  }
  if (status != TERN_OK) n = 1, total = 0, value = 0;
  v[0].iov_base = hdr;
  v[0].iov_len = tern__rm_enc_reply(hdr, type, rid, status, value, total);
  struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)n};
  if (sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    tern_log(TERN_LOG_DEBUG, "rm", "conn %u: reply failed (errno %d); closing",
             c->id, errno);
    if (c->busy)
      c->dead = true;
    else
      tern__rm_conn_close(c);
  }
}

tern__rm_conn *tern__rm_conn_find(tern_rm_dispatch *d, uint32_t id) {
  for (tern__rm_conn *c = d->conns; c; c = c->next)
    if (c->id == id) return c;
  return NULL;
}

/* The reply for rcvid, on the loop thread. */
static int reply_now(tern_rm_dispatch *d, tern_rm_rcvid rcvid, int status,
                     int64_t value, const struct iovec *iov, int nparts) {
  tern__rm_conn *c = tern__rm_conn_find(d, (uint32_t)(rcvid >> 32));
  tern__rm_pend p;
  if (c == NULL || c->dead || !tern__rm_pending_take(c, (uint32_t)rcvid, &p))
    return TERN_ENOENT;
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
  tern__rm_posted_done(d);
}

void tern__rm_posted_done(tern_rm_dispatch *d) {
  if (atomic_fetch_sub(&d->posted, 1) == 1 && d->freeing) dispatch_release(d);
}

int tern_rm_reply(tern_rm_dispatch *d, tern_rm_rcvid rcvid, int status,
                  int64_t value, const struct iovec *iov, int nparts) {
  size_t len = 0;
  if (d == NULL || status > 0 || nparts < 0 || nparts > TERN_RM_MAX_PARTS)
    return TERN_EINVAL;
  for (int i = 0; i < nparts; i++) len += iov[i].iov_len;
  if (len + TERN__RM_REPLY_HDR > d->max_msg) return TERN_EMSGSIZE;
  if (tern_loop_on_thread(d->loop))
    return reply_now(d, rcvid, status, value, iov, nparts);
  posted *p = malloc(sizeof(*p) + len);
  if (p == NULL) return TERN_ENOMEM;
  *p = (posted){d, rcvid, status, value, len};
  for (int i = 0, off = 0; i < nparts; off += (int)iov[i].iov_len, i++)
    memcpy(p->data + off, iov[i].iov_base, iov[i].iov_len);
  atomic_fetch_add(&d->posted, 1);
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
  c->busy = true; /* handlers below may reply to others; not to us */
  c->dead = true;
  tern__rm_conn_drop_ocb(c);
  conn_free(c);
}

static void conn_free(tern__rm_conn *c) {
  tern_rm_dispatch *d = c->d;
  if (c->io) tern_io_stop(c->io);
  close(c->fd);
  if (c->prev)
    c->prev->next = c->next;
  else
    d->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  d->nconns--;
  free(c->pending);
  free(c);
}

/* One datagram from c. */
static void conn_read(tern__rm_conn *c) {
  tern_rm_dispatch *d = c->d;
  struct iovec v = {d->rbuf, d->max_msg};
  struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1};
  ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) { /* EOF or error: the client is gone */
    tern__rm_conn_close(c);
    return;
  }
  tern__rm_msg m;
  if ((size_t)n > d->max_msg) { /* cut: answer the rid if the header is whole */
    tern__rm_hdr h;
    tern__rm_hdr_decode(d->rbuf, d->max_msg, &h);
    if (h.rid == 0 || (h.flags & TERN__RM_F_REPLY)) {
      tern__rm_conn_close(c);
      return;
    }
    tern__rm_send_reply(c, h.type, h.rid, TERN_EMSGSIZE, 0, NULL, 0, 0);
    return;
  }
  int rc = tern__rm_msg_decode(d->rbuf, (size_t)n, &m);
  if (rc != TERN_OK || (m.h.flags & TERN__RM_F_REPLY) ||
      (m.h.rid == 0 && m.h.type != TERN__RM_T_PULSE)) { /* a pulse has none */
    if (m.h.rid == 0 || (size_t)n < TERN__RM_HDR_LEN ||
        m.h.type == TERN__RM_T_PULSE) {
      tern__rm_conn_close(c); /* nothing to answer (a pulse never is) */
      return;
    }
    tern__rm_send_reply(c, m.h.type, m.h.rid, TERN_EPROTO, 0, NULL, 0, 0);
    return;
  }
  tern__rm_handle(c, &m);
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
  if (d->nconns >= d->max_conns ||
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
  c->next = d->conns;
  if (d->conns) d->conns->prev = c;
  d->conns = c;
  d->nconns++;
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
  int rc = tern__rm_listen(d->registry, path, flags & TERN_RM_ATTACH_DIR,
                           &a->fd, a->sockpath, sizeof(a->sockpath), &a->ino);
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
  tern_rm_attach_h **pp = &d->attaches;
  while (*pp && *pp != a) pp = &(*pp)->next;
  if (*pp == NULL) return TERN_ENOENT;
  *pp = a->next;
  tern_io_stop(a->io);
  tern__rm_unlisten(a->sockpath, a->ino);
  close(a->fd);
  for (tern__rm_conn *c = d->conns, *nx; c; c = nx) {
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
  if (o.max_msg < 256 || o.max_msg > 16u * 1024 * 1024) return TERN_EINVAL;
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
  /* room for a devctl's whole declared size after its header */
  d->rbuf_len = o.max_msg + TERN_DCMD_SIZE_MAX + 32;
  d->rbuf = malloc(d->rbuf_len);
  if (d->rbuf == NULL) {
    free(d);
    return TERN_ENOMEM;
  }
  atomic_init(&d->posted, 0);
  *out = d;
  return TERN_OK;
}

static void dispatch_release(tern_rm_dispatch *d) {
  tern__rm_tabs_free(d);
  free(d->rbuf);
  free(d);
}

void tern_rm_dispatch_free(tern_rm_dispatch *d) {
  if (d == NULL) return;
  while (d->attaches) tern_rm_detach(d, d->attaches);
  d->freeing = true;
  if (atomic_load(&d->posted) == 0) dispatch_release(d);
}

tern_loop *tern_rm_dispatch_loop(const tern_rm_dispatch *d) { return d->loop; }
const char *tern_rm_dispatch_registry(const tern_rm_dispatch *d) {
  return d->registry;
}
