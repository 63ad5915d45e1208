/* rm/rmc.c: the resource manager's client (QNX's libc side: open's name
 * resolution and ConnectAttach, then MsgSend of _IO_* messages).
 *
 * Call order: tern_rmc_open resolves the path in the registry
 * (rm_registry.c), connects and sends OPEN; each call after that sends
 * one request with a fresh request id and waits (poll) for the reply with
 * that id, dropping late replies to earlier calls that timed out. On a
 * timeout it sends UNBLOCK for the request, as QNX's kernel sends the
 * server an unblock pulse when a blocked client is interrupted, and waits
 * unblock_grace_ms for the answer. A read or write larger than one
 * message moves its data in a sealed memfd (rm_memfd.c).
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rm/rm_internal.h"
#include "tern/port.h"
#include "tern/rmc.h"

#define PULSES_MAX 32 /* queued while calls wait; more are dropped */

typedef struct rmc_conn { /* shared by a handle and its dups */
  int fd;
  unsigned refs;
  uint32_t rid;
  atomic_uint inflight; /* rid of the call waiting now, 0: none */
  size_t max_msg;
  int grace_ms;
  /* pulses that came while a call waited for its reply (rmc_notify.c) */
  tern_rm_pulse pq[PULSES_MAX];
  size_t pq_head, pq_n;
  size_t max_memfd;
  int out_fd; /* passed with the next request (WRITE_FD), or -1 */
  int in_fd;  /* came with the last reply (READ_FD), or -1 */
} rmc_conn;

struct tern_rmc {
  rmc_conn *c;
  int timeout_ms;
};

typedef struct rmc_reply {
  int32_t status;
  int64_t value;
  size_t len; /* data bytes placed in the caller's buffer */
} rmc_reply;

static uint32_t next_rid(rmc_conn *c) {
  if (++c->rid == 0) c->rid = 1; /* 0 means "no request" to the server */
  return c->rid;
}

/* ms left before end (end 0: forever -> -1). */
static int left_ms(uint64_t end) {
  if (end == 0) return -1;
  uint64_t now = tern_clock_ms();
  return now >= end ? 0 : (int)(end - now);
}

static int send_all(rmc_conn *c, struct iovec *v, int n, uint64_t end) {
  struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)n};
  for (;;) {
    if (tern__rm_sendmsg_fd(c->fd, &mh, c->out_fd, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
      c->out_fd = -1; /* sent once */
      return TERN_OK;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return errno == EPIPE ? TERN_ECONNRESET
                                                : tern_err_from_errno(errno);
    struct pollfd p = {c->fd, POLLOUT, 0};
    int r = poll(&p, 1, left_ms(end));
    if (r == 0) return TERN_ETIMEDOUT;
  }
}

/* A server's pulse among the replies: queued for tern_rmc_pulse_recv
 * (the newest dropped past PULSES_MAX). false: not a (valid) pulse. */
static bool queue_pulse(rmc_conn *c, const uint8_t *b, size_t n) {
  tern__rm_msg m;
  if (n != TERN__RM_HDR_LEN + TERN__RM_PULSE_LEN ||
      tern__rm_msg_decode(b, n, &m) != TERN_OK || m.h.type != TERN__RM_T_PULSE)
    return false;
  if (c->pq_n < PULSES_MAX)
    c->pq[(c->pq_head + c->pq_n++) % PULSES_MAX] =
        (tern_rm_pulse){m.status, m.conds, m.offset};
  return true;
}

bool tern__rmc_pulse_pop(tern_rmc *h, tern_rm_pulse *out) {
  rmc_conn *c = h->c;
  if (c->pq_n == 0) return false;
  *out = c->pq[c->pq_head];
  c->pq_head = (c->pq_head + 1) % PULSES_MAX;
  c->pq_n--;
  return true;
}

size_t tern__rmc_pulse_count(const tern_rmc *h) { return h->c->pq_n; }

/* Wait for the reply to rid until end. TERN_ETIMEDOUT if none came. */
static int wait_reply(rmc_conn *c, uint32_t rid, uint64_t end, void *out,
                      size_t cap, rmc_reply *rep) {
  uint8_t fixed[TERN__RM_REPLY_HDR];
  for (;;) {
    struct pollfd p = {c->fd, POLLIN, 0};
    int r = poll(&p, 1, left_ms(end));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return r == 0 ? TERN_ETIMEDOUT : tern_err_from_errno(errno);
    struct iovec v[2] = {{fixed, sizeof(fixed)}, {out, cap}};
    union {
      struct cmsghdr h;
      char b[CMSG_SPACE(sizeof(int) * 2)];
    } cb;
    struct msghdr mh = {.msg_iov = v, .msg_iovlen = cap ? 2 : 1,
                        .msg_control = cb.b, .msg_controllen = sizeof(cb.b)};
    ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) return tern_err_from_errno(errno);
    int fd = -1; /* a large read's answer, else closed */
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
      for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
        int f;
        memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(f));
        if (fd >= 0) close(fd);
        fd = f;
      }
    }
    if (n == 0) {
      if (fd >= 0) close(fd);
      return TERN_ECONNRESET;
    }
    tern__rm_hdr h;
    if ((size_t)n == sizeof(fixed) && queue_pulse(c, fixed, sizeof(fixed))) {
      if (fd >= 0) close(fd); /* a pulse carries none */
      continue; /* unsolicited: not our reply */
    }
    if ((size_t)n < sizeof(fixed) ||
        tern__rm_hdr_decode(fixed, (size_t)n, &h) != TERN_OK ||
        !(h.flags & TERN__RM_F_REPLY)) {
      if (fd >= 0) close(fd);
      return TERN_EPROTO;
    }
    if (h.rid != rid) { /* late answer to a call that gave up */
      if (fd >= 0) close(fd);
      continue;
    }
    if (c->in_fd >= 0) close(c->in_fd);
    c->in_fd = fd;
    if (tern__rm_reply_decode(fixed + TERN__RM_HDR_LEN, &rep->status,
                              &rep->value) != TERN_OK)
      return TERN_EPROTO;
    /* A longer answer than the buffer is cut, as MsgSend cuts a reply to
     * the receive buffer it was given. */
    rep->len = (size_t)n - sizeof(fixed);
    if (rep->len > cap) rep->len = cap;
    return TERN_OK;
  }
}

/* One request (head + optional data) and its reply. Returns the transport
 * result; rep->status is the server's. */
static int call(tern_rmc *h, uint32_t rid, uint8_t *head, size_t head_len,
                const void *data, size_t data_len, void *out, size_t cap,
                rmc_reply *rep) {
  rmc_conn *c = h->c;
  uint64_t end = h->timeout_ms < 0 ? 0 : tern_clock_ms() + (uint64_t)h->timeout_ms;
  struct iovec v[2] = {{head, head_len}, {(void *)(uintptr_t)data, data_len}};
  if (head_len + data_len > c->max_msg) return TERN_EMSGSIZE;
  if (c->in_fd >= 0) close(c->in_fd);
  c->in_fd = -1;
  atomic_store(&c->inflight, rid);
  int rc = send_all(c, v, data_len ? 2 : 1, end);
  c->out_fd = -1; /* never again with the unblock */
  if (rc == TERN_OK) rc = wait_reply(c, rid, end, out, cap, rep);
  if (rc != TERN_ETIMEDOUT) {
    atomic_store(&c->inflight, 0u);
    return rc;
  }
  atomic_store(&c->inflight, 0u);
  /* Unblock (QNX _PULSE_CODE_UNBLOCK): the server answers or lets go. */
  uint8_t ub[TERN__RM_HDR_LEN];
  struct iovec uv = {ub, tern__rm_enc_empty(ub, TERN__RM_T_UNBLOCK, rid)};
  uint64_t grace = tern_clock_ms() + (uint64_t)c->grace_ms;
  if (send_all(c, &uv, 1, grace) != TERN_OK) return TERN_ETIMEDOUT;
  rc = wait_reply(c, rid, grace, out, cap, rep);
  if (rc == TERN_OK && rep->status == TERN_ECANCELED) return TERN_ETIMEDOUT;
  return rc == TERN_OK ? TERN_OK : TERN_ETIMEDOUT;
}

/* call + the server's status as the result. */
static int call_status(tern_rmc *h, uint32_t rid, uint8_t *head,
                       size_t head_len, const void *data, size_t data_len,
                       void *out, size_t cap, rmc_reply *rep) {
  int rc = call(h, rid, head, head_len, data, data_len, out, cap, rep);
  return rc != TERN_OK ? rc : rep->status;
}

uint32_t tern__rmc_rid(tern_rmc *h) { return next_rid(h->c); }

int tern__rmc_call(tern_rmc *h, uint32_t rid, uint8_t *head, size_t head_len,
                   const void *data, size_t data_len, void *out, size_t cap,
                   int64_t *value, size_t *out_len) {
  rmc_reply rep;
  int rc = call_status(h, rid, head, head_len, data, data_len, out, cap, &rep);
  if (rc == TERN_OK && value) *value = rep.value;
  if (rc == TERN_OK && out_len) *out_len = rep.len;
  return rc;
}

int tern__rmc_send(tern_rmc *h, uint8_t *buf, size_t len) {
  struct iovec v = {buf, len};
  uint64_t end = h->timeout_ms < 0 ? 0 : tern_clock_ms() + (uint64_t)h->timeout_ms;
  return send_all(h->c, &v, 1, end);
}

int tern_rmc_open(tern_rmc **out, const char *path, int oflag,
                  const tern_rmc_opts *opts) {
  tern_rmc_opts o = {0};
  char dir[TERN__RM_DIR_MAX], rest[TERN__RM_PATH_MAX + 1];
  uint8_t head[TERN__RM_HDR_LEN + TERN__RM_OPEN_FIXED];
  int fd;
  if (out == NULL || path == NULL) return TERN_EINVAL;
  if (opts) o = *opts;
  int rc = tern__rm_registry_dir(o.registry, dir, sizeof(dir));
  if (rc == TERN_OK) rc = tern__rm_resolve(dir, path, &fd, rest, sizeof(rest));
  if (rc != TERN_OK) return rc;
  tern_rmc *h = calloc(1, sizeof(*h));
  rmc_conn *c = calloc(1, sizeof(*c));
  if (h == NULL || c == NULL) {
    free(h), free(c), close(fd);
    return TERN_ENOMEM;
  }
  *c = (rmc_conn){.fd = fd, .refs = 1,
                  .max_msg = o.max_msg ? o.max_msg : TERN_RM_MAX_MSG_DEFAULT,
                  .grace_ms = o.unblock_grace_ms > 0 ? o.unblock_grace_ms : 500,
                  .max_memfd = o.max_memfd ? o.max_memfd : TERN_RM_MAX_MEMFD_DEFAULT,
                  .out_fd = -1, .in_fd = -1};
  *h = (tern_rmc){c, o.timeout_ms ? o.timeout_ms : 5000};
  size_t plen = strlen(rest);
  uint32_t rid = next_rid(c);
  rmc_reply rep;
  rc = call_status(h, rid, head,
                   tern__rm_enc_open(head, rid, (uint32_t)oflag, 0, (uint16_t)plen),
                   rest, plen, NULL, 0, &rep);
  if (rc != TERN_OK) {
    if (c->in_fd >= 0) close(c->in_fd);
    close(fd), free(c), free(h);
    return rc;
  }
  *out = h;
  return TERN_OK;
}

int tern_rmc_close(tern_rmc *h) {
  if (h == NULL) return TERN_EINVAL;
  rmc_conn *c = h->c;
  uint8_t head[TERN__RM_HDR_LEN];
  uint32_t rid = next_rid(c);
  rmc_reply rep;
  int rc = call_status(h, rid, head, tern__rm_enc_empty(head, TERN__RM_T_CLOSE, rid),
                       NULL, 0, NULL, 0, &rep);
  if (--c->refs == 0) {
    if (c->in_fd >= 0) close(c->in_fd);
    close(c->fd);
    free(c);
  }
  free(h);
  return rc;
}

int tern_rmc_dup(tern_rmc *h, tern_rmc **out) {
  if (h == NULL || out == NULL) return TERN_EINVAL;
  uint8_t head[TERN__RM_HDR_LEN];
  uint32_t rid = next_rid(h->c);
  rmc_reply rep;
  tern_rmc *n = malloc(sizeof(*n));
  if (n == NULL) return TERN_ENOMEM;
  int rc = call_status(h, rid, head, tern__rm_enc_empty(head, TERN__RM_T_DUP, rid),
                       NULL, 0, NULL, 0, &rep);
  if (rc != TERN_OK) {
    free(n);
    return rc;
  }
  *n = *h;
  h->c->refs++;
  *out = n;
  return TERN_OK;
}

/* A read above one message's room: READ_FD, the answer inline or in a
 * memfd of exactly value bytes. */
static int read_big(tern_rmc *h, void *buf, size_t len) {
  rmc_conn *c = h->c;
  uint8_t head[TERN__RM_HDR_LEN + 8];
  uint32_t rid = next_rid(c);
  rmc_reply rep;
  if (len > c->max_memfd) len = c->max_memfd;
  if (len > INT32_MAX) len = INT32_MAX;
  int rc = call_status(h, rid, head,
                       tern__rm_enc_io(head, TERN__RM_T_READ_FD, rid, (uint32_t)len, 0, 0),
                       NULL, 0, buf, len, &rep);
  if (rc != TERN_OK) return rc;
  int fd = c->in_fd;
  c->in_fd = -1;
  if (fd < 0) return (int)rep.len; /* it fitted one message */
  if (rep.len != 0 || rep.value <= 0 || (uint64_t)rep.value > len ||
      tern__rm_memfd_check(fd, (size_t)rep.value) != TERN_OK) {
    close(fd);
    return TERN_EPROTO;
  }
  size_t got = 0, want = (size_t)rep.value;
  while (got < want) {
    ssize_t r = pread(fd, (uint8_t *)buf + got, want - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      close(fd);
      return r < 0 ? tern_err_from_errno(errno) : TERN_EPROTO;
    }
    got += (size_t)r;
  }
  close(fd);
  return (int)want;
}

int tern_rmc_read(tern_rmc *h, void *buf, size_t len) {
  if (h == NULL || (buf == NULL && len)) return TERN_EINVAL;
  size_t room = h->c->max_msg - TERN__RM_REPLY_HDR;
  if (len > room) return read_big(h, buf, len);
  uint8_t head[TERN__RM_HDR_LEN + 8];
  uint32_t rid = next_rid(h->c);
  rmc_reply rep;
  int rc = call_status(h, rid, head,
                       tern__rm_enc_io(head, TERN__RM_T_READ, rid, (uint32_t)len, 0, 0),
                       NULL, 0, buf, len, &rep);
  return rc != TERN_OK ? rc : (int)rep.len;
}

int tern_rmc_write(tern_rmc *h, const void *buf, size_t len) {
  if (h == NULL || (buf == NULL && len)) return TERN_EINVAL;
  uint8_t head[TERN__RM_HDR_LEN + 8];
  uint32_t rid = next_rid(h->c);
  rmc_reply rep;
  int rc;
  if (len + sizeof(head) > h->c->max_msg) { /* WRITE_FD: a sealed memfd */
    struct iovec v = {(void *)(uintptr_t)buf, len};
    int fd;
    if (len > h->c->max_memfd || len > INT32_MAX) return TERN_EMSGSIZE;
    rc = tern__rm_memfd_make(&v, 1, len, &fd);
    if (rc != TERN_OK) return rc;
    h->c->out_fd = fd;
    rc = call_status(h, rid, head,
                     tern__rm_enc_io(head, TERN__RM_T_WRITE_FD, rid, (uint32_t)len, 0, 0),
                     NULL, 0, NULL, 0, &rep);
    h->c->out_fd = -1;
    close(fd);
  } else {
    rc = call_status(h, rid, head,
                     tern__rm_enc_io(head, TERN__RM_T_WRITE, rid, (uint32_t)len, 0, len),
                     buf, len, NULL, 0, &rep);
  }
  if (rc != TERN_OK) return rc;
  return (rep.value < 0 || (uint64_t)rep.value > len) ? TERN_EPROTO : (int)rep.value;
}

int tern_rmc_devctl(tern_rmc *h, uint32_t dcmd, void *data, size_t nbytes,
                    int *ret_val) {
  if (h == NULL || (data == NULL && nbytes)) return TERN_EINVAL;
  size_t size = TERN_DCMD_GET_SIZE(dcmd), lim = nbytes < size ? nbytes : size;
  size_t to = (TERN_DCMD_GET_DIR(dcmd) & TERN_DCMD_DIR_TO) ? lim : 0;
  size_t from = (TERN_DCMD_GET_DIR(dcmd) & TERN_DCMD_DIR_FROM) ? lim : 0;
  uint8_t head[TERN__RM_HDR_LEN + 8];
  uint32_t rid = next_rid(h->c);
  rmc_reply rep;
  int rc = call_status(h, rid, head,
                       tern__rm_enc_io(head, TERN__RM_T_DEVCTL, rid, dcmd, (uint32_t)to, to),
                       data, to, data, from, &rep);
  if (rc == TERN_OK && ret_val) *ret_val = (int)rep.value;
  return rc;
}

int tern_rmc_stat(tern_rmc *h, tern_rm_stat *st) {
  if (h == NULL || st == NULL) return TERN_EINVAL;
  uint8_t head[TERN__RM_HDR_LEN], buf[TERN__RM_STAT_LEN];
  uint32_t rid = next_rid(h->c);
  rmc_reply rep;
  int rc = call_status(h, rid, head, tern__rm_enc_empty(head, TERN__RM_T_STAT, rid),
                       NULL, 0, buf, sizeof(buf), &rep);
  if (rc != TERN_OK) return rc;
  if (rep.len != sizeof(buf)) return TERN_EPROTO;
  tern__rm_stat_decode(buf, st);
  return TERN_OK;
}

int tern_rmc_lseek(tern_rmc *h, int64_t offset, int whence, int64_t *pos) {
  if (h == NULL || whence < 0 || whence > 2) return TERN_EINVAL;
  uint8_t head[TERN__RM_HDR_LEN + 16];
  uint32_t rid = next_rid(h->c);
  rmc_reply rep;
  int rc = call_status(h, rid, head,
                       tern__rm_enc_lseek(head, rid, offset, (uint32_t)whence),
                       NULL, 0, NULL, 0, &rep);
  if (rc == TERN_OK && pos) *pos = rep.value;
  return rc;
}

int tern_rmc_msg(tern_rmc *h, uint16_t mgrid, uint16_t subtype, const void *in,
                 size_t in_len, void *out, size_t out_cap, size_t *out_len) {
  if (h == NULL || (in == NULL && in_len) || (out == NULL && out_cap))
    return TERN_EINVAL;
  uint8_t head[TERN__RM_HDR_LEN + 4];
  uint32_t rid = next_rid(h->c);
  rmc_reply rep;
  int rc = call_status(h, rid, head, tern__rm_enc_msg(head, rid, subtype, mgrid, in_len),
                       in, in_len, out, out_cap, &rep);
  if (rc == TERN_OK && out_len) *out_len = rep.len;
  return rc;
}

int tern_rmc_unblock(tern_rmc *h) {
  if (h == NULL) return TERN_EINVAL;
  uint32_t rid = atomic_load(&h->c->inflight);
  if (rid == 0) return TERN_ENOENT;
  uint8_t ub[TERN__RM_HDR_LEN];
  size_t n = tern__rm_enc_empty(ub, TERN__RM_T_UNBLOCK, rid);
  /* one datagram: atomic next to the waiting thread's own traffic */
  if (send(h->c->fd, ub, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
    return errno == EPIPE ? TERN_ECONNRESET : tern_err_from_errno(errno);
  return TERN_OK;
}

void tern_rmc_set_timeout(tern_rmc *h, int timeout_ms) {
  h->timeout_ms = timeout_ms ? timeout_ms : 5000;
}

int tern_rmc_fd(const tern_rmc *h) { return h->c->fd; }

typedef struct list_ctx {
  tern_rmc_list_fn fn;
  void *ud;
} list_ctx;

static void list_one(const char *path, bool isdir, bool live, void *ud) {
  list_ctx *l = ud;
  l->fn(path, isdir, live, l->ud);
}

int tern_rmc_list(const char *registry, tern_rmc_list_fn fn, void *ud) {
  char dir[TERN__RM_DIR_MAX];
  if (fn == NULL) return TERN_EINVAL;
  int rc = tern__rm_registry_dir(registry, dir, sizeof(dir));
  list_ctx l = {fn, ud};
  return rc != TERN_OK ? rc : tern__rm_registry_list(dir, list_one, &l);
}
