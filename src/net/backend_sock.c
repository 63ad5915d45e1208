/* backend_sock.c: the connection core over host BSD sockets (non-blocking,
 * readiness from the tern loop). The first implementation of
 * tern/backend.h; the only file of the net layer that calls socket
 * functions.
 *
 * Receive window: the core hands back consumed bytes with recved(); this
 * backend reads only while delivered-but-unconsumed bytes (inflight) are
 * below the connection's rx limit, and stops watching for input when they
 * reach it, so a slow consumer leaves data in the kernel (and TCP's own
 * window pushes back on the peer) instead of growing memory here.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/net_internal.h"

#define SCRATCH_SIZE (64 * 1024)
#define ACCEPTS_PER_WAKE 64
#define READS_PER_WAKE 4
#define DATAGRAMS_PER_WAKE 16
#define EMFILE_RETRY_MS 100

typedef struct sock_conn {
  int fd;
  tern_io *io;      /* points into io_mem: one allocation per connection */
  tern_io_storage io_mem;
  size_t inflight; /* bytes delivered to the core and not yet recved */
  tern_timer *retry; /* listener: resume after EMFILE */
  uint8_t listening, udp, connecting, eof, paused, want_write;
} sock_conn;

typedef struct sock_state {
  tern_mgr *m;
  tern_loop *loop;
  uint8_t scratch[SCRATCH_SIZE];
} sock_state;

static sock_conn *SC(tern_conn *c) { return tern_core_conn_priv(c); }

/* ---- addresses ----------------------------------------------------- */

static socklen_t to_sockaddr(const tern_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  if (a->family == TERN_AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a->port);
    s6->sin6_scope_id = a->scope_id;
    memcpy(&s6->sin6_addr, a->ip, 16);
    return sizeof(*s6);
  }
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  s4->sin_family = AF_INET;
  s4->sin_port = htons(a->port);
  memcpy(&s4->sin_addr, a->ip, 4);
  return sizeof(*s4);
}

static void from_sockaddr(const struct sockaddr_storage *ss, tern_addr *a) {
  memset(a, 0, sizeof(*a));
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    a->family = TERN_AF_INET6;
    a->port = ntohs(s6->sin6_port);
    a->scope_id = s6->sin6_scope_id;
    memcpy(a->ip, &s6->sin6_addr, 16);
  } else if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    a->family = TERN_AF_INET;
    a->port = ntohs(s4->sin_port);
    memcpy(a->ip, &s4->sin_addr, 4);
  }
}

static void fetch_names(tern_conn *c, int fd, bool peer) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  tern_addr a;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
    from_sockaddr(&ss, &a);
    tern_core_set_local(c, &a);
  }
  len = sizeof(ss);
  if (peer && getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
    from_sockaddr(&ss, &a);
    tern_core_set_peer(c, &a);
  }
}

static int err_now(void) { return tern_err_from_errno(errno); }

/* ---- watching ------------------------------------------------------ */

static void update_events(sock_conn *s) {
  unsigned ev = 0;
  if (!s->paused && !s->eof) ev |= TERN_IO_READ;
  if (s->want_write || s->connecting) ev |= TERN_IO_WRITE;
  if (s->io && tern_io_events(s->io) != ev) tern_io_set(s->io, ev);
}

static void on_io(tern_io *io, unsigned events, void *ud);

static int watch(sock_state *st, tern_conn *c, int fd) {
  sock_conn *s = SC(c);
  s->fd = fd;
  int rc = tern_io_start_in(st->loop, &s->io_mem, &s->io, fd, 0, on_io, c);
  if (rc != TERN_OK) return rc;
  update_events(s);
  return TERN_OK;
}

static int new_socket(const tern_addr *a, int type) {
  int domain = a->family == TERN_AF_INET6 ? AF_INET6 : AF_INET;
  return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static void set_int_opt(int fd, int level, int opt, int v) {
  (void)setsockopt(fd, level, opt, &v, sizeof(v));
}

/* ---- operations ---------------------------------------------------- */

static int sock_create(tern_mgr *m, tern_loop *loop, void *arg, void **out) {
  (void)arg;
  sock_state *st = malloc(sizeof(*st));
  if (st == NULL) return TERN_ENOMEM;
  st->m = m;
  st->loop = loop;
  *out = st;
  return TERN_OK;
}

static void sock_destroy(void *state) { free(state); }

static int bind_socket(tern_conn *c, const tern_addr *a, int type, int *fdp) {
  struct sockaddr_storage ss;
  socklen_t len = to_sockaddr(a, &ss);
  int fd = new_socket(a, type);
  if (fd < 0) return err_now();
  set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
    int rc = err_now();
    close(fd);
    return rc;
  }
  fetch_names(c, fd, false);
  *fdp = fd;
  return TERN_OK;
}

static int sock_listen_tcp(void *state, tern_conn *c, const tern_addr *a,
                           uint32_t backlog) {
  int fd = -1, rc = bind_socket(c, a, SOCK_STREAM, &fd);
  if (rc != TERN_OK) return rc;
  if (listen(fd, (int)backlog) != 0) {
    rc = err_now();
    close(fd);
    return rc;
  }
  SC(c)->listening = 1;
  rc = watch(state, c, fd);
  if (rc != TERN_OK) close(fd);
  return rc;
}

static int sock_listen_udp(void *state, tern_conn *c, const tern_addr *a) {
  int fd = -1, rc = bind_socket(c, a, SOCK_DGRAM, &fd);
  if (rc != TERN_OK) return rc;
  SC(c)->udp = 1;
  rc = watch(state, c, fd);
  if (rc != TERN_OK) close(fd);
  return rc;
}

static int start_connect(void *state, tern_conn *c, const tern_addr *a,
                         int type) {
  struct sockaddr_storage ss;
  socklen_t len = to_sockaddr(a, &ss);
  int fd = new_socket(a, type);
  if (fd < 0) return err_now();
  if (type == SOCK_STREAM) set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
    int rc = err_now();
    close(fd);
    return rc;
  }
  sock_conn *s = SC(c);
  s->udp = type == SOCK_DGRAM;
  /* Even an immediate success is reported from the loop, never from
   * inside this call (backend.h rule). */
  s->connecting = type == SOCK_STREAM;
  int rc = watch(state, c, fd);
  if (rc != TERN_OK) {
    close(fd);
    return rc;
  }
  if (s->udp) fetch_names(c, fd, true);
  return TERN_OK;
}

static int sock_connect_tcp(void *state, tern_conn *c, const tern_addr *a) {
  return start_connect(state, c, a, SOCK_STREAM);
}

static int sock_connect_udp(void *state, tern_conn *c, const tern_addr *a) {
  return start_connect(state, c, a, SOCK_DGRAM);
}

static int sock_adopt(void *state, tern_conn *c, intptr_t handle,
                      bool *is_listener, bool *is_udp) {
  int fd = (int)handle, type = 0, acc = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return err_now();
  len = sizeof(acc);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) != 0) acc = 0;
  if (type != SOCK_STREAM && type != SOCK_DGRAM) return TERN_ENOTSUP;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return err_now();
  sock_conn *s = SC(c);
  s->udp = type == SOCK_DGRAM;
  s->listening = acc != 0;
  *is_udp = s->udp;
  *is_listener = s->listening;
  fetch_names(c, fd, !s->listening && !s->udp);
  if (!s->listening && !s->udp) set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  return watch(state, c, fd);
}

static long sock_send(void *state, tern_conn *c, const void *data,
                      size_t len) {
  (void)state;
  ssize_t n = send(SC(c)->fd, data, len, MSG_NOSIGNAL);
  if (n >= 0) {
    tern_core_sent(c, (size_t)n);
    return (long)n;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  return err_now();
}

static long sock_sendv(void *state, tern_conn *c, const tern_iov *iov,
                       size_t n) {
  (void)state;
  struct iovec v[16];
  if (n > 16) n = 16; /* the core queues the rest */
  for (size_t i = 0; i < n; i++) {
    v[i].iov_base = (void *)(uintptr_t)iov[i].base;
    v[i].iov_len = iov[i].len;
  }
  struct msghdr mh = {.msg_iov = v, .msg_iovlen = n};
  ssize_t r = sendmsg(SC(c)->fd, &mh, MSG_NOSIGNAL);
  if (r >= 0) {
    tern_core_sent(c, (size_t)r);
    return (long)r;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  return err_now();
}

static int sock_sendto(void *state, tern_conn *c, const tern_addr *to,
                       const void *data, size_t len) {
  (void)state;
  struct sockaddr_storage ss;
  socklen_t sl = to ? to_sockaddr(to, &ss) : 0;
  ssize_t n = sendto(SC(c)->fd, data, len, MSG_NOSIGNAL,
                     to ? (struct sockaddr *)&ss : NULL, sl);
  if (n >= 0) {
    tern_core_sent(c, (size_t)n);
    return TERN_OK;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
    return TERN_EAGAIN;
  return err_now();
}

static void sock_recved(void *state, tern_conn *c, size_t n) {
  (void)state;
  sock_conn *s = SC(c);
  s->inflight = n > s->inflight ? 0 : s->inflight - n;
  if (s->paused && s->inflight < tern_core_rx_window(c)) {
    s->paused = 0;
    update_events(s);
  }
}

static void sock_want_write(void *state, tern_conn *c, bool on) {
  (void)state;
  sock_conn *s = SC(c);
  s->want_write = on;
  update_events(s);
}

static void sock_pause_accept(void *state, tern_conn *c, bool paused) {
  (void)state;
  sock_conn *s = SC(c);
  s->paused = paused;
  update_events(s);
}

static int sock_shutdown(void *state, tern_conn *c) {
  (void)state;
  if (shutdown(SC(c)->fd, SHUT_WR) != 0 && errno != ENOTCONN) return err_now();
  return TERN_OK;
}

static void sock_close(void *state, tern_conn *c, bool abort) {
  (void)state;
  sock_conn *s = SC(c);
  if (s->retry) tern_timer_free(s->retry);
  s->retry = NULL;
  if (s->io) tern_io_stop(s->io);
  s->io = NULL;
  if (s->fd < 0) return;
  if (abort && !s->udp && !s->listening) {
    /* SO_LINGER with zero timeout: close() sends RST (RFC 9293 3.10.4,
     * ABORT) instead of FIN. */
    struct linger lg = {1, 0};
    (void)setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  close(s->fd);
  s->fd = -1;
}

static int sock_set_nodelay(void *state, tern_conn *c, bool on) {
  (void)state;
  if (setsockopt(SC(c)->fd, IPPROTO_TCP, TCP_NODELAY, &(int){on}, sizeof(int)))
    return err_now();
  return TERN_OK;
}

/* Happy eyeballs: the socket of a won attempt becomes to's. */
static int sock_move(void *state, tern_conn *from, tern_conn *to) {
  sock_conn *a = SC(from), *b = SC(to);
  int fd = a->fd;
  if (a->io) tern_io_stop(a->io);
  a->io = NULL;
  a->fd = -1;
  memset(b, 0, sizeof(*b));
  b->udp = a->udp;
  int rc = watch(state, to, fd);
  if (rc != TERN_OK) {
    close(fd);
    b->fd = -1;
  }
  return rc;
}

/* ---- readiness ----------------------------------------------------- */

static void on_retry(tern_timer *t, void *ud) {
  (void)t;
  sock_pause_accept(NULL, ud, false);
}

/* Out of descriptors: stop accepting for a moment rather than spin on a
 * listener that stays readable. */
static void accept_backoff(sock_state *st, tern_conn *l) {
  sock_conn *s = SC(l);
  tern_log(TERN_LOG_WARN, "net", "accept: out of descriptors, pausing");
  if (s->retry == NULL &&
      tern_timer_new(st->loop, &s->retry, on_retry, l) != TERN_OK)
    return;
  sock_pause_accept(st, l, true);
  tern_timer_start(s->retry, EMFILE_RETRY_MS, 0);
}

static void accept_one(sock_state *st, tern_conn *l, int fd) {
  tern_conn *c = tern_core_accept_begin(l);
  if (c == NULL) {
    close(fd);
    return;
  }
  set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  fetch_names(c, fd, true);
  if (watch(st, c, fd) != TERN_OK) {
    close(fd);
    tern_core_accept_commit(c, false);
    return;
  }
  tern_core_accept_commit(c, true);
}

static void on_accept(sock_state *st, tern_conn *l) {
  sock_conn *s = SC(l);
  for (int i = 0; i < ACCEPTS_PER_WAKE && s->fd >= 0 && !s->paused; i++) {
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      accept_one(st, l, fd);
      continue;
    }
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
        errno == ENOMEM)
      accept_backoff(st, l);
    else if (errno == EINTR || errno == ECONNABORTED)
      continue;
    return; /* EAGAIN or a transient error */
  }
}

static void on_connected(tern_conn *c) {
  sock_conn *s = SC(c);
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == EINPROGRESS) return;
  s->connecting = 0;
  if (err == 0) fetch_names(c, s->fd, true);
  update_events(s);
  tern_core_connected(c, err ? tern_err_from_errno(err) : TERN_OK);
}

static void on_datagrams(sock_state *st, tern_conn *c) {
  sock_conn *s = SC(c);
  for (int i = 0; i < DATAGRAMS_PER_WAKE && s->fd >= 0; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    ssize_t n = recvfrom(s->fd, st->scratch, sizeof(st->scratch), 0,
                         (struct sockaddr *)&ss, &len);
    if (n < 0) {
      /* EAGAIN, or an ICMP error queued on a connected socket
       * (ECONNREFUSED: nobody listens there). recvfrom consumed the error;
       * it is not reported (a datagram socket stays usable, and UDP users
       * time out and retry, as with a lost datagram). */
      return;
    }
    tern_addr from;
    from_sockaddr(&ss, &from);
    tern_core_received(c, st->scratch, (size_t)n, &from);
  }
}

static void on_stream_read(sock_state *st, tern_conn *c) {
  sock_conn *s = SC(c);
  for (int i = 0; i < READS_PER_WAKE && s->fd >= 0 && !s->eof; i++) {
    size_t window = tern_core_rx_window(c);
    size_t room = window > s->inflight ? window - s->inflight : 0;
    if (room > sizeof(st->scratch)) room = sizeof(st->scratch);
    if (room == 0) {
      s->paused = 1; /* recved() resumes */
      update_events(s);
      return;
    }
    ssize_t n = recv(s->fd, st->scratch, room, 0);
    if (n > 0) {
      s->inflight += (size_t)n;
      tern_core_received(c, st->scratch, (size_t)n, NULL);
      if ((size_t)n < room) return; /* drained the socket for now */
    } else if (n == 0) {
      s->eof = 1;
      update_events(s);
      tern_core_received(c, NULL, 0, NULL);
      return;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        tern_core_closed(c, err_now());
      return;
    }
  }
}

/* Error or hang-up that reading did not consume (we are not reading: after
 * FIN, or paused by the window). epoll reports it on every wait, so the
 * connection must end now or the loop would spin. */
static void on_stream_error(tern_conn *c) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(SC(c)->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  tern_core_closed(c, err ? tern_err_from_errno(err) : TERN_ECONNRESET);
}

static void on_io(tern_io *io, unsigned events, void *ud) {
  tern_conn *c = ud;
  sock_conn *s = SC(c);
  sock_state *st = tern_core_backend_state(c);
  (void)io;
  if (s->listening) {
    on_accept(st, c);
    return;
  }
  if (s->connecting) {
    on_connected(c);
    return;
  }
  if (events & (TERN_IO_READ | TERN_IO_ERROR)) {
    if (s->udp) on_datagrams(st, c);
    else on_stream_read(st, c);
  }
  if (s->fd >= 0 && (events & TERN_IO_WRITE) && s->want_write)
    tern_core_writable(c);
  if (s->fd >= 0 && (events & TERN_IO_ERROR) && !s->udp &&
      (s->eof || s->paused))
    on_stream_error(c);
}

static const tern_backend sock_backend = {
    .name = "sock",
    .conn_size = sizeof(sock_conn),
    .create = sock_create,
    .destroy = sock_destroy,
    .listen_tcp = sock_listen_tcp,
    .listen_udp = sock_listen_udp,
    .connect_tcp = sock_connect_tcp,
    .connect_udp = sock_connect_udp,
    .adopt = sock_adopt,
    .send = sock_send,
    .sendv = sock_sendv,
    .sendto = sock_sendto,
    .recved = sock_recved,
    .want_write = sock_want_write,
    .pause_accept = sock_pause_accept,
    .shutdown = sock_shutdown,
    .close = sock_close,
    .set_nodelay = sock_set_nodelay,
    .move = sock_move,
};

const tern_backend *tern_backend_sock(void) { return &sock_backend; }
