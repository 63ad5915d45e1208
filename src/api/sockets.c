/* sockets.c: BSD-style sockets on netconn (lwIP sockets.c, without its
 * global table): a descriptor table per tcpip, a partly read TCP netbuf
 * kept per socket, POSIX errors in a per-thread tern_errno, and select /
 * poll built on the netconn events.
 *
 * Lifetime: the table holds one reference of each open socket object,
 * every call holds one more while it runs, and the object holds its
 * netconn (tern__netconn_hold). close takes the descriptor out of the
 * table at once and closes the netconn, which wakes blocked calls; the
 * object (and the netconn memory) goes with the last reference.
 *
 * select: every event of every socket on the stack bumps a sequence
 * number and posts each waiting select's semaphore. A select scans the
 * sockets' readiness (tern__netconn_poll: no stack step), and sleeps only
 * if the sequence number has not moved since before its scan, so an event
 * between the scan and the sleep is never lost.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "api/api_internal.h"
#include "tern/sockets.h"

/* The POSIX model needs a per-thread errno; _Thread_local is the one
 * piece of state in tern that is not hung off an object, as errno itself
 * is in libc. */
static _Thread_local int sock_errno;

int tern_errno(void) { return sock_errno; }

int tern_sock_errno_of(int err) {
  switch (err) {
  case TERN_OK: return 0;
  case TERN_EINVAL: return EINVAL;
  case TERN_ENOMEM: return ENOMEM;
  case TERN_EAGAIN: return EAGAIN;
  case TERN_ETIMEDOUT: return ETIMEDOUT;
  case TERN_ENOSPC: return ENOBUFS;
  case TERN_ECONNREFUSED: return ECONNREFUSED;
  case TERN_ECONNRESET: return ECONNRESET;
  case TERN_ECONNABORTED: return ECONNABORTED;
  case TERN_EADDRINUSE: return EADDRINUSE;
  case TERN_EADDRNOTAVAIL: return EADDRNOTAVAIL;
  case TERN_ENOTCONN: return ENOTCONN;
  case TERN_EPIPE: return EPIPE;
  case TERN_ECANCELED: return EINTR;
  case TERN_ECLOSED: return EBADF;
  case TERN_EBADF: return EBADF;
  case TERN_EMSGSIZE: return EMSGSIZE;
  case TERN_ENOTSUP: return EOPNOTSUPP;
  case TERN_EHOSTUNREACH: return EHOSTUNREACH;
  case TERN_ENETUNREACH: return ENETUNREACH;
  case TERN_EMFILE: return EMFILE;
  case TERN_EAFNOSUPPORT: return EAFNOSUPPORT;
  case TERN_EINPROGRESS: return EINPROGRESS;
  case TERN_EALREADY: return EALREADY;
  case TERN_EEXIST: return EISCONN;
  default: return EIO;
  }
}

static int fail_errno(int e) {
  sock_errno = e;
  return -1;
}

static int fail(int err) { return fail_errno(tern_sock_errno_of(err)); }

/* A timeout ending a blocked recv/send is EAGAIN on sockets (SO_RCVTIMEO
 * in POSIX), not ETIMEDOUT (which means the connection timed out). */
static int fail_io(int err) {
  return fail(err == TERN_ETIMEDOUT ? TERN_EAGAIN : err);
}

/* ---- the table ---- */

typedef struct sel_waiter {
  struct sel_waiter *next;
  tern_sem *sem;
} sel_waiter;

typedef struct sock {
  tern_netconn *nc;
  int type;
  unsigned refs;          /* under the table's mutex */
  tern_mutex *rm;         /* serializes receivers: last, last_off */
  tern_pbuf *last;        /* a TCP segment read in part */
  size_t last_off;
  bool reuseaddr, keepalive, nodelay;
  uint32_t keep_idle_s, keep_intvl_s, keep_cnt;
} sock;

typedef struct socks {
  tern_tcpip *t;
  tern_mutex *m;          /* slots, refs, waiters, seq */
  uint32_t max;
  sock **slot;
  sel_waiter *waiters;
  uint64_t seq;
} socks;

static void sock_destroy(sock *k);

/* At tern_tcpip_free (the stack thread still runs): close what the
 * application left open. No thread may still be inside a call. */
static void socks_free(void *p) {
  socks *s = p;
  for (uint32_t i = 0; i < s->max; i++) {
    sock *k = s->slot[i];
    if (!k) continue;
    tern_netconn_close(k->nc);
    if (--k->refs == 0) sock_destroy(k);
  }
  tern_mutex_free(s->m);
  free(s->slot);
  free(s);
}

static void *socks_new(tern_tcpip *t) {
  socks *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->t = t;
  s->max = tern__tcpip_max_sockets(t);
  s->slot = calloc(s->max, sizeof *s->slot);
  if (!s->slot || tern_mutex_new(&s->m)) {
    free(s->slot);
    free(s);
    return NULL;
  }
  return s;
}

static socks *table(tern_tcpip *t, bool create) {
  return t ? tern__tcpip_slot(t, TERN__TCPIP_SOCKETS,
                               create ? socks_new : NULL, socks_free)
           : NULL;
}

/* Any socket's netconn event: wake every select. Stack context or the
 * thread of the call; no netconn lock is held. */
static void on_event(tern_netconn *nc, tern_netconn_evt e, size_t len,
                     void *ud) {
  (void)nc;
  (void)e;
  (void)len;
  socks *s = ud;
  tern_mutex_lock(s->m);
  s->seq++;
  for (sel_waiter *w = s->waiters; w; w = w->next) tern_sem_post(w->sem);
  tern_mutex_unlock(s->m);
}

static void wake_selects(socks *s) { on_event(NULL, 0, 0, s); }

static void sock_destroy(sock *k) {
  if (k->last) tern__netconn_done(k->nc, &k->last, 1, 0);
  tern__netconn_release(k->nc);
  tern_mutex_free(k->rm);
  free(k);
}

/* The socket of fd with a reference, or NULL (errno EBADF). */
static sock *get(tern_tcpip *t, int fd) {
  socks *s = table(t, false);
  sock *k = NULL;
  if (s && fd >= 0 && (uint32_t)fd < s->max) {
    tern_mutex_lock(s->m);
    k = s->slot[fd];
    if (k) k->refs++;
    tern_mutex_unlock(s->m);
  }
  if (!k) fail_errno(EBADF);
  return k;
}

static void put(tern_tcpip *t, sock *k) {
  socks *s = table(t, false);
  tern_mutex_lock(s->m);
  bool last = --k->refs == 0;
  tern_mutex_unlock(s->m);
  if (last) sock_destroy(k);
}

/* Put a netconn into a new descriptor. */
static int install(socks *s, tern_netconn *nc, int type) {
  sock *k = calloc(1, sizeof *k);
  if (!k || tern_mutex_new(&k->rm)) {
    free(k);
    tern_netconn_close(nc);
    return fail(TERN_ENOMEM);
  }
  k->nc = nc;
  k->type = type;
  k->refs = 1;
  k->keep_idle_s = 7200;
  k->keep_intvl_s = 75;
  k->keep_cnt = 9;
  tern__netconn_hold(nc);
  tern_netconn_set_event_fn(nc, on_event, s);
  int fd = -1;
  tern_mutex_lock(s->m);
  for (uint32_t i = 0; i < s->max; i++)
    if (!s->slot[i]) {
      s->slot[i] = k;
      fd = (int)i;
      break;
    }
  tern_mutex_unlock(s->m);
  if (fd < 0) {
    tern_netconn_close(nc);
    sock_destroy(k);
    return fail(TERN_EMFILE);
  }
  return fd;
}

static bool has_room(socks *s) {
  bool room = false;
  tern_mutex_lock(s->m);
  for (uint32_t i = 0; i < s->max && !room; i++) room = !s->slot[i];
  tern_mutex_unlock(s->m);
  return room;
}

/* ---- calls ---- */

int tern_socket(tern_tcpip *t, int domain, int type, int protocol) {
  if (!t) return fail(TERN_EINVAL);
  if (domain != TERN_AF_INET) return fail(TERN_EAFNOSUPPORT);
  if (type != TERN_SOCK_STREAM && type != TERN_SOCK_DGRAM &&
      type != TERN_SOCK_RAW)
    return fail_errno(EPROTONOSUPPORT);
  if (type == TERN_SOCK_RAW ? protocol <= 0 || protocol > 255
                            : protocol && protocol != (type == TERN_SOCK_STREAM
                                                           ? 6
                                                           : 17))
    return fail_errno(EPROTONOSUPPORT);
  socks *s = table(t, true);
  if (!s) return fail(TERN_ENOMEM);
  if (!has_room(s)) return fail(TERN_EMFILE); /* before making a pcb */
  tern_netconn *nc;
  int err = type == TERN_SOCK_RAW
                ? tern_netconn_new_raw(&nc, t, (uint8_t)protocol)
                : tern_netconn_new(&nc, t,
                                   type == TERN_SOCK_STREAM ? TERN_NETCONN_TCP
                                                            : TERN_NETCONN_UDP);
  if (err) return fail(err);
  return install(s, nc, type);
}

#define WITH_SOCK(t, fd, k)        \
  sock *k = get(t, fd);            \
  if (!k) return -1

static int done(tern_tcpip *t, sock *k, int err) {
  put(t, k);
  return err ? fail(err) : 0;
}

int tern_sock_bind(tern_tcpip *t, int fd, const tern_addr *local) {
  WITH_SOCK(t, fd, k);
  return done(t, k, local ? tern_netconn_bind(k->nc, local) : TERN_EINVAL);
}

int tern_sock_listen(tern_tcpip *t, int fd, int backlog) {
  WITH_SOCK(t, fd, k);
  if (k->type != TERN_SOCK_STREAM) return done(t, k, TERN_ENOTSUP);
  int err = tern_netconn_listen(k->nc, backlog > 0 ? (uint32_t)backlog : 1);
  return done(t, k, err);
}

int tern_sock_accept(tern_tcpip *t, int fd, tern_addr *peer) {
  WITH_SOCK(t, fd, k);
  tern_netconn *child;
  int err = tern_netconn_accept(k->nc, &child);
  put(t, k);
  if (err) return fail_io(err);
  if (peer && tern_netconn_getaddr(child, peer, false))
    memset(peer, 0, sizeof *peer);
  return install(table(t, false), child, TERN_SOCK_STREAM);
}

int tern_sock_connect(tern_tcpip *t, int fd, const tern_addr *peer) {
  WITH_SOCK(t, fd, k);
  return done(t, k, peer ? tern_netconn_connect(k->nc, peer) : TERN_EINVAL);
}

long tern_sock_send(tern_tcpip *t, int fd, const void *buf, size_t len,
                    int flags) {
  WITH_SOCK(t, fd, k);
  if (k->type != TERN_SOCK_STREAM) {
    put(t, k);
    return tern_sock_sendto(t, fd, buf, len, flags, NULL);
  }
  unsigned fl = TERN_NETCONN_COPY;
  if (flags & TERN_MSG_DONTWAIT) fl |= TERN_NETCONN_DONTBLOCK;
  if (flags & TERN_MSG_MORE) fl |= TERN_NETCONN_MORE;
  size_t w = 0;
  int err = tern_netconn_write(k->nc, buf, len, fl, &w);
  put(t, k);
  if (w > 0 || (!err && len == 0)) return (long)w;
  return fail_io(err == TERN_ECLOSED ? TERN_EBADF : err);
}

long tern_sock_sendto(tern_tcpip *t, int fd, const void *buf, size_t len,
                      int flags, const tern_addr *to) {
  (void)flags;
  WITH_SOCK(t, fd, k);
  if (k->type == TERN_SOCK_STREAM) {
    put(t, k);
    return tern_sock_send(t, fd, buf, len, flags);
  }
  int err = tern_netconn_sendto(k->nc, buf, len, to);
  put(t, k);
  return err ? fail(err) : (long)len;
}

/* Chains given back to the stack per recv call, in one stack step. */
#define RECV_BATCH 32

/* TCP: copy from the kept segment, then from further ones that are
 * already there, without waiting once something was copied; then one
 * stack step frees what was used up and opens the window by what was
 * taken from the mailbox. k->rm held. */
static long recv_stream(sock *k, uint8_t *buf, size_t len, bool noblock) {
  tern_pbuf *spent[RECV_BATCH];
  size_t got = 0, nspent = 0;
  uint32_t bytes = 0;
  long ret;
  if (tern_netconn_is_nonblocking(k->nc)) noblock = true;
  while (got < len && nspent < RECV_BATCH) {
    if (!k->last) {
      if (got && tern_netconn_rx_count(k->nc) == 0) break;
      int to = noblock || got ? 0 : tern_netconn_get_recvtimeout(k->nc);
      int err = tern__netconn_take(k->nc, to, &k->last, NULL);
      if (err) {
        k->last = NULL;
        if (got) break;
        /* end of stream (FIN, shut down): 0; closed by another thread:
         * EBADF */
        ret = err == TERN_ECLOSED && !tern__netconn_closing(k->nc)
                  ? 0
                  : fail_io(err);
        goto out;
      }
      k->last_off = 0;
      /* taken from the mailbox: the window opens by its size now (as
       * lwIP's netconn_recv does), not when the last byte is copied */
      bytes += (uint32_t)tern_pbuf_tot_len(k->last);
    }
    size_t n = tern_pbuf_copy_out(k->last, k->last_off, buf + got, len - got);
    got += n;
    k->last_off += n;
    if (k->last_off >= tern_pbuf_tot_len(k->last)) {
      spent[nspent++] = k->last;
      k->last = NULL;
    }
  }
  ret = (long)got;
out:
  tern__netconn_done(k->nc, spent, nspent, bytes);
  return ret;
}

long tern_sock_recvfrom(tern_tcpip *t, int fd, void *buf, size_t len,
                        int flags, tern_addr *from) {
  WITH_SOCK(t, fd, k);
  bool noblock = (flags & TERN_MSG_DONTWAIT) != 0;
  tern_mutex_lock(k->rm);
  long r;
  if (k->type == TERN_SOCK_STREAM) {
    r = recv_stream(k, buf, len, noblock);
    if (r >= 0 && from && tern_netconn_getaddr(k->nc, from, false))
      memset(from, 0, sizeof *from);
  } else {
    tern_pbuf *p = NULL;
    tern_addr src;
    int to = noblock || tern_netconn_is_nonblocking(k->nc)
                 ? 0
                 : tern_netconn_get_recvtimeout(k->nc);
    int err = tern__netconn_take(k->nc, to, &p, &src);
    if (err) {
      r = fail_io(err);
    } else {
      r = (long)tern_pbuf_copy_out(p, 0, buf, len);
      if (from) *from = src;
      tern__netconn_done(k->nc, &p, 1, 0);
    }
  }
  tern_mutex_unlock(k->rm);
  put(t, k);
  return r;
}

long tern_sock_recv(tern_tcpip *t, int fd, void *buf, size_t len, int flags) {
  return tern_sock_recvfrom(t, fd, buf, len, flags, NULL);
}

int tern_sock_shutdown(tern_tcpip *t, int fd, int how) {
  WITH_SOCK(t, fd, k);
  if (how < TERN_SHUT_RD || how > TERN_SHUT_RDWR)
    return done(t, k, TERN_EINVAL);
  if (k->type != TERN_SOCK_STREAM) return done(t, k, TERN_ENOTSUP);
  bool rx = how != TERN_SHUT_WR, tx = how != TERN_SHUT_RD;
  return done(t, k, tern_netconn_shutdown(k->nc, rx, tx));
}

int tern_sock_close(tern_tcpip *t, int fd) {
  socks *s = table(t, false);
  sock *k = NULL;
  if (s && fd >= 0 && (uint32_t)fd < s->max) {
    tern_mutex_lock(s->m);
    k = s->slot[fd];
    s->slot[fd] = NULL; /* the table's reference is now ours */
    tern_mutex_unlock(s->m);
  }
  if (!k) return fail_errno(EBADF);
  tern_netconn_close(k->nc); /* wakes every blocked call */
  wake_selects(s);
  put(t, k);
  return 0;
}

static int getaddr(tern_tcpip *t, int fd, tern_addr *out, bool local) {
  WITH_SOCK(t, fd, k);
  return done(t, k, out ? tern_netconn_getaddr(k->nc, out, local)
                        : TERN_EINVAL);
}

int tern_sock_getsockname(tern_tcpip *t, int fd, tern_addr *out) {
  return getaddr(t, fd, out, true);
}

int tern_sock_getpeername(tern_tcpip *t, int fd, tern_addr *out) {
  return getaddr(t, fd, out, false);
}

/* ---- options ---- */

static int opt_ms(const void *val, size_t len, int *ms) {
  if (len == sizeof(struct timeval)) {
    const struct timeval *tv = val;
    long v = (long)tv->tv_sec * 1000 + (long)(tv->tv_usec / 1000);
    *ms = v <= 0 ? -1 : (v > INT32_MAX ? INT32_MAX : (int)v);
    return 0;
  }
  if (len < sizeof(int)) return TERN_EINVAL;
  int v = *(const int *)val;
  *ms = v <= 0 ? -1 : v;
  return 0;
}

static int apply_keepalive(sock *k) {
  if (!k->keepalive) return tern_netconn_set_keepalive(k->nc, 0, 0, 0);
  return tern_netconn_set_keepalive(k->nc, k->keep_idle_s * 1000u,
                                    k->keep_intvl_s * 1000u, k->keep_cnt);
}

/* IP_MULTICAST_* and the memberships (UDP). TTL and LOOP take an int or
 * one byte, as Linux. */
static int setopt_mcast(sock *k, int name, const void *val, size_t len) {
  if (k->type != TERN_SOCK_DGRAM) return TERN_ENOTSUP;
  if (name == TERN_IP_ADD_MEMBERSHIP || name == TERN_IP_DROP_MEMBERSHIP) {
    if (len < sizeof(tern_ip_mreq)) return TERN_EINVAL;
    const tern_ip_mreq *mr = val;
    return tern_netconn_join_leave(k->nc, &mr->multiaddr, &mr->interface,
                                   name == TERN_IP_ADD_MEMBERSHIP);
  }
  if (name == TERN_IP_MULTICAST_IF) {
    if (len < sizeof(tern_addr)) return TERN_EINVAL;
    return tern_netconn_set_mcast(k->nc, -1, val, -1);
  }
  if (!len) return TERN_EINVAL;
  int v = len >= sizeof(int) ? *(const int *)val : *(const uint8_t *)val;
  if (name == TERN_IP_MULTICAST_TTL) {
    if (v == -1) v = 1; /* Linux: -1 is the default */
    if (v < 0 || v > 255) return TERN_EINVAL;
    return tern_netconn_set_mcast(k->nc, v, NULL, -1);
  }
  return tern_netconn_set_mcast(k->nc, -1, NULL, v != 0);
}

static int setopt(sock *k, int level, int name, const void *val, size_t len) {
  int ms;
  if (level == TERN_SOL_SOCKET && (name == TERN_SO_RCVTIMEO ||
                                   name == TERN_SO_SNDTIMEO)) {
    if (opt_ms(val, len, &ms)) return TERN_EINVAL;
    if (name == TERN_SO_RCVTIMEO)
      tern_netconn_set_recvtimeout(k->nc, ms);
    else
      tern_netconn_set_sendtimeout(k->nc, ms);
    return 0;
  }
  if (level == TERN_SOL_SOCKET && name == TERN_SO_LINGER) {
    if (len < sizeof(tern_linger)) return TERN_EINVAL;
    const tern_linger *lg = val;
    if (lg->l_onoff && lg->l_linger < 0) return TERN_EINVAL;
    tern_netconn_set_linger(k->nc, lg->l_onoff ? lg->l_linger : -1);
    return 0;
  }
  if (level == TERN_IPPROTO_IP && name >= TERN_IP_MULTICAST_IF &&
      name <= TERN_IP_DROP_MEMBERSHIP)
    return setopt_mcast(k, name, val, len);
  if (len < sizeof(int)) return TERN_EINVAL;
  int v = *(const int *)val;
  if (level == TERN_SOL_SOCKET && name == TERN_SO_REUSEADDR) {
    k->reuseaddr = v != 0; /* the stack lets a port be bound again while
                              its old connections linger in TIME_WAIT */
    return 0;
  }
  if (level == TERN_IPPROTO_IP && name == TERN_IP_TTL) {
    if (v == -1) v = 0; /* Linux: -1 is the default again */
    if (v < 0 || v > 255 || (v == 0 && *(const int *)val == 0))
      return TERN_EINVAL;
    return tern_netconn_set_ip(k->nc, v, -1);
  }
  if (level == TERN_IPPROTO_IP && name == TERN_IP_TOS)
    return tern_netconn_set_ip(k->nc, -1, v & 0xff);
  if (level == TERN_IPPROTO_IP) return 1;
  if (k->type != TERN_SOCK_STREAM) return TERN_ENOTSUP;
  if (level == TERN_SOL_SOCKET &&
      (name == TERN_SO_SNDBUF || name == TERN_SO_RCVBUF)) {
    if (v <= 0) return TERN_EINVAL;
    return tern_netconn_set_bufs(k->nc,
                                 name == TERN_SO_SNDBUF ? (uint32_t)v : 0,
                                 name == TERN_SO_RCVBUF ? (uint32_t)v : 0);
  }
  if (level == TERN_SOL_SOCKET && name == TERN_SO_KEEPALIVE) {
    k->keepalive = v != 0;
    return apply_keepalive(k);
  }
  if (level != TERN_IPPROTO_TCP) return 1;
  if (name == TERN_TCP_NODELAY) {
    k->nodelay = v != 0;
    return tern_netconn_set_nodelay(k->nc, k->nodelay);
  }
  if (v <= 0) return TERN_EINVAL;
  if (name == TERN_TCP_KEEPIDLE) k->keep_idle_s = (uint32_t)v;
  else if (name == TERN_TCP_KEEPINTVL) k->keep_intvl_s = (uint32_t)v;
  else if (name == TERN_TCP_KEEPCNT) k->keep_cnt = (uint32_t)v;
  else return 1;
  return apply_keepalive(k);
}

int tern_sock_setsockopt(tern_tcpip *t, int fd, int level, int name,
                         const void *val, size_t len) {
  WITH_SOCK(t, fd, k);
  int err = val ? setopt(k, level, name, val, len) : TERN_EINVAL;
  put(t, k);
  if (err == 1) return fail_errno(ENOPROTOOPT);
  return err ? fail(err) : 0;
}

static int getopt_int(sock *k, int level, int name, int *v) {
  if (level == TERN_SOL_SOCKET) {
    switch (name) {
    case TERN_SO_REUSEADDR: *v = k->reuseaddr; return 0;
    case TERN_SO_TYPE: *v = k->type; return 0;
    case TERN_SO_KEEPALIVE: *v = k->keepalive; return 0;
    case TERN_SO_ERROR:
      *v = tern_sock_errno_of(tern_netconn_err(k->nc, true));
      return 0;
    case TERN_SO_SNDBUF:
    case TERN_SO_RCVBUF: {
      uint32_t snd = 0, rcv = 0;
      if (k->type == TERN_SOCK_STREAM) tern__netconn_bufs(k->nc, &snd, &rcv);
      uint32_t b = name == TERN_SO_SNDBUF ? snd : rcv;
      *v = b > INT32_MAX ? INT32_MAX : (int)b;
      return 0;
    }
    default: return 1;
    }
  }
  if (level == TERN_IPPROTO_IP && (name == TERN_IP_MULTICAST_TTL ||
                                   name == TERN_IP_MULTICAST_LOOP)) {
    if (k->type != TERN_SOCK_DGRAM) return TERN_ENOTSUP;
    int ttl = 0;
    bool loop = false;
    int err = tern_netconn_get_mcast(k->nc, &ttl, NULL, &loop);
    *v = name == TERN_IP_MULTICAST_TTL ? ttl : loop;
    return err;
  }
  if (level == TERN_IPPROTO_IP && (name == TERN_IP_TTL || name == TERN_IP_TOS)) {
    int ttl = 0, tos = 0;
    int err = tern_netconn_get_ip(k->nc, &ttl, &tos);
    *v = name == TERN_IP_TTL ? ttl : tos;
    return err;
  }
  if (level == TERN_IPPROTO_TCP && k->type == TERN_SOCK_STREAM) {
    switch (name) {
    case TERN_TCP_NODELAY: *v = k->nodelay; return 0;
    case TERN_TCP_KEEPIDLE: *v = (int)k->keep_idle_s; return 0;
    case TERN_TCP_KEEPINTVL: *v = (int)k->keep_intvl_s; return 0;
    case TERN_TCP_KEEPCNT: *v = (int)k->keep_cnt; return 0;
    default: return 1;
    }
  }
  return 1;
}

int tern_sock_getsockopt(tern_tcpip *t, int fd, int level, int name,
                         void *val, size_t *len) {
  WITH_SOCK(t, fd, k);
  int err = 0;
  if (!val || !len) {
    err = TERN_EINVAL;
  } else if (level == TERN_SOL_SOCKET &&
             (name == TERN_SO_RCVTIMEO || name == TERN_SO_SNDTIMEO)) {
    int ms = name == TERN_SO_RCVTIMEO ? tern_netconn_get_recvtimeout(k->nc)
                                      : tern_netconn_get_sendtimeout(k->nc);
    if (ms < 0) ms = 0;
    if (*len >= sizeof(struct timeval)) {
      struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
      memcpy(val, &tv, sizeof tv);
      *len = sizeof tv;
    } else if (*len >= sizeof(int)) {
      memcpy(val, &ms, sizeof ms);
      *len = sizeof ms;
    } else {
      err = TERN_EINVAL;
    }
  } else if (level == TERN_SOL_SOCKET && name == TERN_SO_LINGER) {
    int secs = tern_netconn_get_linger(k->nc);
    tern_linger lg = {secs >= 0, secs >= 0 ? secs : 0};
    if (*len < sizeof lg) {
      err = TERN_EINVAL;
    } else {
      memcpy(val, &lg, sizeof lg);
      *len = sizeof lg;
    }
  } else if (level == TERN_IPPROTO_IP && name == TERN_IP_MULTICAST_IF) {
    tern_addr a;
    if (k->type != TERN_SOCK_DGRAM) err = TERN_ENOTSUP;
    else if (*len < sizeof a) err = TERN_EINVAL;
    else err = tern_netconn_get_mcast(k->nc, NULL, &a, NULL);
    if (!err) {
      memcpy(val, &a, sizeof a);
      *len = sizeof a;
    }
  } else if (*len < sizeof(int)) {
    err = TERN_EINVAL;
  } else {
    int v = 0;
    err = getopt_int(k, level, name, &v);
    if (!err) {
      memcpy(val, &v, sizeof v);
      *len = sizeof v;
    }
  }
  put(t, k);
  if (err == 1) return fail_errno(ENOPROTOOPT);
  return err ? fail(err) : 0;
}

int tern_sock_fcntl(tern_tcpip *t, int fd, int cmd, int val) {
  WITH_SOCK(t, fd, k);
  int r = 0;
  if (cmd == TERN_F_GETFL)
    r = tern_netconn_is_nonblocking(k->nc) ? TERN_O_NONBLOCK : 0;
  else if (cmd == TERN_F_SETFL)
    tern_netconn_set_nonblocking(k->nc, (val & TERN_O_NONBLOCK) != 0);
  else
    r = fail(TERN_EINVAL);
  put(t, k);
  return r;
}

int tern_sock_ioctl(tern_tcpip *t, int fd, unsigned long req, void *argp) {
  WITH_SOCK(t, fd, k);
  int *ip = argp, err = 0;
  if (!ip) {
    err = TERN_EINVAL;
  } else if (req == TERN_FIONBIO) {
    tern_netconn_set_nonblocking(k->nc, *ip != 0);
  } else if (req == TERN_FIONREAD) {
    tern_mutex_lock(k->rm);
    size_t n = tern_netconn_rx_bytes(k->nc);
    if (k->last) n += tern_pbuf_tot_len(k->last) - k->last_off;
    tern_mutex_unlock(k->rm);
    *ip = n > INT32_MAX ? INT32_MAX : (int)n;
  } else {
    err = TERN_EINVAL;
  }
  put(t, k);
  return err ? fail(err) : 0;
}

/* ---- select and poll ---- */

void tern_fd_zero(tern_fd_set *s) { memset(s, 0, sizeof *s); }
void tern_fd_set_add(int fd, tern_fd_set *s) {
  if (fd >= 0 && fd < TERN_FD_SETSIZE) s->bits[fd / 32] |= 1u << (fd % 32);
}
void tern_fd_clr(int fd, tern_fd_set *s) {
  if (fd >= 0 && fd < TERN_FD_SETSIZE) s->bits[fd / 32] &= ~(1u << (fd % 32));
}
bool tern_fd_isset(int fd, const tern_fd_set *s) {
  return fd >= 0 && fd < TERN_FD_SETSIZE &&
         (s->bits[fd / 32] >> (fd % 32)) & 1u;
}

/* Readiness of fd as TERN_POLL* bits; TERN_POLLNVAL if closed. */
static short ready(tern_tcpip *t, int fd) {
  socks *s = table(t, false);
  sock *k = NULL;
  if (s && fd >= 0 && (uint32_t)fd < s->max) {
    tern_mutex_lock(s->m);
    k = s->slot[fd];
    if (k) k->refs++;
    tern_mutex_unlock(s->m);
  }
  if (!k) return TERN_POLLNVAL;
  bool rd, wr, er;
  tern__netconn_poll(k->nc, &rd, &wr, &er);
  if (k->last) rd = true;
  put(t, k);
  return (short)((rd ? TERN_POLLIN : 0) | (wr ? TERN_POLLOUT : 0) |
                 (er ? TERN_POLLERR : 0));
}

/* One scan: fills the outputs, returns the count or -1 (EBADF). */
typedef int (*scan_fn)(tern_tcpip *t, void *arg);

/* Scan until something is ready, the timeout passes, or an error. */
static int wait_ready(tern_tcpip *t, scan_fn scan, void *arg, int timeout_ms) {
  socks *s = table(t, true);
  if (!s) return fail(TERN_ENOMEM);
  uint64_t dl = timeout_ms < 0 ? 0 : tern_clock_ms() + (uint64_t)timeout_ms;
  sel_waiter w = {NULL, NULL};
  int n;
  for (;;) {
    tern_mutex_lock(s->m);
    uint64_t seq = s->seq;
    tern_mutex_unlock(s->m);
    n = scan(t, arg);
    if (n != 0 || timeout_ms == 0) break;
    int ms = TERN_WAIT_FOREVER;
    if (dl) {
      uint64_t now = tern_clock_ms();
      if (now >= dl) break;
      ms = (int)(dl - now);
    }
    if (!w.sem && !(w.sem = tern__tcpip_sem_get(t))) {
      n = fail(TERN_ENOMEM);
      break;
    }
    tern_mutex_lock(s->m);
    bool moved = s->seq != seq;
    if (!moved) {
      w.next = s->waiters;
      s->waiters = &w;
    }
    tern_mutex_unlock(s->m);
    if (moved) continue;
    tern_sem_wait(w.sem, ms);
    tern_mutex_lock(s->m);
    for (sel_waiter **pp = &s->waiters; *pp; pp = &(*pp)->next)
      if (*pp == &w) {
        *pp = w.next;
        break;
      }
    tern_mutex_unlock(s->m);
    /* drain posts that raced with the unlink, so the cached semaphore
     * starts at zero for its next user */
    while (tern_sem_wait(w.sem, 0) == TERN_OK) {
    }
  }
  if (w.sem) tern__tcpip_sem_put(t, w.sem);
  return n;
}

typedef struct sel_args {
  int nfds;
  tern_fd_set *in[3], out[3];
} sel_args;

static int scan_select(tern_tcpip *t, void *arg) {
  sel_args *a = arg;
  static const short want[3] = {TERN_POLLIN, TERN_POLLOUT, TERN_POLLERR};
  int n = 0;
  for (int i = 0; i < 3; i++) tern_fd_zero(&a->out[i]);
  for (int fd = 0; fd < a->nfds; fd++) {
    bool any = false;
    for (int i = 0; i < 3; i++) any |= a->in[i] && tern_fd_isset(fd, a->in[i]);
    if (!any) continue;
    short r = ready(t, fd);
    if (r & TERN_POLLNVAL) return fail_errno(EBADF);
    for (int i = 0; i < 3; i++)
      if (a->in[i] && tern_fd_isset(fd, a->in[i]) && (r & want[i])) {
        tern_fd_set_add(fd, &a->out[i]);
        n++;
      }
  }
  return n;
}

int tern_select(tern_tcpip *t, int nfds, tern_fd_set *readfds,
                tern_fd_set *writefds, tern_fd_set *exceptfds,
                int timeout_ms) {
  if (!t || nfds < 0 || nfds > TERN_FD_SETSIZE) return fail(TERN_EINVAL);
  sel_args a = {.nfds = nfds, .in = {readfds, writefds, exceptfds}};
  int n = wait_ready(t, scan_select, &a, timeout_ms);
  if (n < 0) return n;
  for (int i = 0; i < 3; i++)
    if (a.in[i]) *a.in[i] = a.out[i];
  return n;
}

typedef struct poll_args {
  tern_pollfd *fds;
  size_t n;
} poll_args;

static int scan_poll(tern_tcpip *t, void *arg) {
  poll_args *a = arg;
  int n = 0;
  for (size_t i = 0; i < a->n; i++) {
    tern_pollfd *p = &a->fds[i];
    p->revents = 0;
    if (p->fd < 0) continue;
    short r = ready(t, p->fd);
    p->revents = (short)(r & (p->events | TERN_POLLERR | TERN_POLLNVAL));
    if (p->revents) n++;
  }
  return n;
}

int tern_poll(tern_tcpip *t, tern_pollfd *fds, size_t nfds, int timeout_ms) {
  if (!t || (!fds && nfds)) return fail(TERN_EINVAL);
  poll_args a = {fds, nfds};
  return wait_ready(t, scan_poll, &a, timeout_ms);
}
