/* tern/sockets_posix.h: the POSIX socket names on tern's sockets, for code
 * ported from BSD sockets. Off by default: nothing includes it; a file
 * that wants it includes it AFTER the system headers, with
 *
 *   #define TERN_POSIX_TCPIP my_tcpip      (an expression: the tern_tcpip
 *                                           whose stack the calls use)
 *   #define TERN_POSIX_IO_NAMES            (optional: also close, read,
 *                                           write, fcntl, ioctl, select,
 *                                           poll; they then work on tern
 *                                           descriptors ONLY, not files)
 *   #include "tern/sockets_posix.h"
 *
 * socket(), bind(), connect() ... then become tern_sock_* calls: struct
 * sockaddr_in converts to tern_addr, the host's AF_/SOCK_/SO_/TCP_/MSG_
 * constants to tern's, fd_set and struct pollfd to tern's, and a failing
 * call sets errno from tern_errno(). IPv4 only (AF_INET6: EAFNOSUPPORT).
 * The same model as lwIP's LWIP_COMPAT_SOCKETS / LWIP_POSIX_SOCKETS_IO_NAMES.
 */
#ifndef TERN_SOCKETS_POSIX_H
#define TERN_SOCKETS_POSIX_H

#ifndef TERN_POSIX_TCPIP
#error "define TERN_POSIX_TCPIP (the tern_tcpip to use) before including tern/sockets_posix.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "tern/sockets.h"

static inline int tern_px_ret(long r) {
  if (r < 0) errno = tern_errno();
  return (int)r;
}

static inline long tern_px_retl(long r) {
  if (r < 0) errno = tern_errno();
  return r;
}

static inline int tern_px_to_addr(const struct sockaddr *sa, socklen_t len,
                                  tern_addr *out) {
  const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
  if (!sa || len < (socklen_t)sizeof *in) {
    errno = EINVAL;
    return -1;
  }
  if (in->sin_family != AF_INET) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  memset(out, 0, sizeof *out);
  out->family = TERN_AF_INET;
  out->port = ntohs(in->sin_port);
  memcpy(out->ip, &in->sin_addr, 4);
  return 0;
}

static inline void tern_px_from_addr(const tern_addr *a, struct sockaddr *sa,
                                     socklen_t *len) {
  struct sockaddr_in in;
  memset(&in, 0, sizeof in);
  in.sin_family = AF_INET;
  in.sin_port = htons(a->port);
  memcpy(&in.sin_addr, a->ip, 4);
  if (!sa || !len) return;
  memcpy(sa, &in, *len < (socklen_t)sizeof in ? *len : sizeof in);
  *len = (socklen_t)sizeof in;
}

static inline int tern_px_socket(int domain, int type, int protocol) {
  if (domain != AF_INET) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  int nonblock = 0;
#ifdef SOCK_NONBLOCK
  nonblock = type & SOCK_NONBLOCK;
  type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
#endif
  int t = type == SOCK_STREAM ? TERN_SOCK_STREAM
          : type == SOCK_DGRAM ? TERN_SOCK_DGRAM
          : type == SOCK_RAW ? TERN_SOCK_RAW
                               : -1;
  int fd = tern_px_ret(tern_socket(TERN_POSIX_TCPIP, TERN_AF_INET, t, protocol));
  if (fd >= 0 && nonblock)
    tern_sock_fcntl(TERN_POSIX_TCPIP, fd, TERN_F_SETFL, TERN_O_NONBLOCK);
  return fd;
}

static inline int tern_px_bind(int fd, const struct sockaddr *sa,
                               socklen_t len) {
  tern_addr a;
  if (tern_px_to_addr(sa, len, &a)) return -1;
  return tern_px_ret(tern_sock_bind(TERN_POSIX_TCPIP, fd, &a));
}

static inline int tern_px_connect(int fd, const struct sockaddr *sa,
                                  socklen_t len) {
  tern_addr a;
  if (tern_px_to_addr(sa, len, &a)) return -1;
  return tern_px_ret(tern_sock_connect(TERN_POSIX_TCPIP, fd, &a));
}

static inline int tern_px_accept(int fd, struct sockaddr *sa,
                                 socklen_t *len) {
  tern_addr a;
  int c = tern_px_ret(tern_sock_accept(TERN_POSIX_TCPIP, fd, &a));
  if (c >= 0) tern_px_from_addr(&a, sa, len);
  return c;
}

static inline int tern_px_name(int fd, struct sockaddr *sa, socklen_t *len,
                               int peer) {
  tern_addr a;
  int r = peer ? tern_sock_getpeername(TERN_POSIX_TCPIP, fd, &a)
               : tern_sock_getsockname(TERN_POSIX_TCPIP, fd, &a);
  if (r == 0) tern_px_from_addr(&a, sa, len);
  return tern_px_ret(r);
}

static inline int tern_px_flags(int flags) {
  int f = 0;
  if (flags & MSG_DONTWAIT) f |= TERN_MSG_DONTWAIT;
#ifdef MSG_MORE
  if (flags & MSG_MORE) f |= TERN_MSG_MORE;
#endif
  return f; /* MSG_NOSIGNAL: tern never raises SIGPIPE */
}

static inline long tern_px_send(int fd, const void *b, size_t n, int fl) {
  return tern_px_retl(tern_sock_send(TERN_POSIX_TCPIP, fd, b, n,
                                     tern_px_flags(fl)));
}

static inline long tern_px_recv(int fd, void *b, size_t n, int fl) {
  return tern_px_retl(tern_sock_recv(TERN_POSIX_TCPIP, fd, b, n,
                                     tern_px_flags(fl)));
}

static inline long tern_px_sendto(int fd, const void *b, size_t n, int fl,
                                  const struct sockaddr *sa, socklen_t len) {
  tern_addr a;
  if (sa && tern_px_to_addr(sa, len, &a)) return -1;
  return tern_px_retl(tern_sock_sendto(TERN_POSIX_TCPIP, fd, b, n,
                                       tern_px_flags(fl), sa ? &a : NULL));
}

static inline long tern_px_recvfrom(int fd, void *b, size_t n, int fl,
                                    struct sockaddr *sa, socklen_t *len) {
  tern_addr a;
  long r = tern_sock_recvfrom(TERN_POSIX_TCPIP, fd, b, n, tern_px_flags(fl),
                              &a);
  if (r >= 0 && sa) tern_px_from_addr(&a, sa, len);
  return tern_px_retl(r);
}

static inline int tern_px_shutdown(int fd, int how) {
  int h = how == SHUT_RD ? TERN_SHUT_RD
          : how == SHUT_WR ? TERN_SHUT_WR
                           : TERN_SHUT_RDWR;
  return tern_px_ret(tern_sock_shutdown(TERN_POSIX_TCPIP, fd, h));
}

/* Host option level/name to tern's; 0 if unknown. */
static inline int tern_px_opt(int level, int name, int *tl, int *tn) {
  *tl = level == SOL_SOCKET    ? TERN_SOL_SOCKET
        : level == IPPROTO_TCP ? TERN_IPPROTO_TCP
        : level == IPPROTO_IP  ? TERN_IPPROTO_IP
                               : -1;
  *tn = -1;
  if (level == SOL_SOCKET) {
    *tn = name == SO_REUSEADDR  ? TERN_SO_REUSEADDR
          : name == SO_TYPE     ? TERN_SO_TYPE
          : name == SO_ERROR    ? TERN_SO_ERROR
          : name == SO_SNDBUF   ? TERN_SO_SNDBUF
          : name == SO_RCVBUF   ? TERN_SO_RCVBUF
          : name == SO_KEEPALIVE ? TERN_SO_KEEPALIVE
          : name == SO_LINGER   ? TERN_SO_LINGER
          : name == SO_RCVTIMEO ? TERN_SO_RCVTIMEO
          : name == SO_SNDTIMEO ? TERN_SO_SNDTIMEO
                                : -1;
  } else if (level == IPPROTO_TCP) {
    *tn = name == TCP_NODELAY     ? TERN_TCP_NODELAY
          : name == TCP_KEEPIDLE  ? TERN_TCP_KEEPIDLE
          : name == TCP_KEEPINTVL ? TERN_TCP_KEEPINTVL
          : name == TCP_KEEPCNT   ? TERN_TCP_KEEPCNT
                                  : -1;
  } else if (level == IPPROTO_IP) {
    *tn = name == IP_TTL               ? TERN_IP_TTL
          : name == IP_TOS             ? TERN_IP_TOS
          : name == IP_MULTICAST_IF    ? TERN_IP_MULTICAST_IF
          : name == IP_MULTICAST_TTL   ? TERN_IP_MULTICAST_TTL
          : name == IP_MULTICAST_LOOP  ? TERN_IP_MULTICAST_LOOP
          : name == IP_ADD_MEMBERSHIP  ? TERN_IP_ADD_MEMBERSHIP
          : name == IP_DROP_MEMBERSHIP ? TERN_IP_DROP_MEMBERSHIP
                                       : -1;
  }
  if (*tl < 0 || *tn < 0) {
    errno = ENOPROTOOPT;
    return 0;
  }
  return 1;
}

static inline void tern_px_in_addr(const void *in, tern_addr *out) {
  memset(out, 0, sizeof *out);
  out->family = TERN_AF_INET;
  memcpy(out->ip, in, 4);
}

static inline int tern_px_setsockopt(int fd, int level, int name,
                                     const void *val, socklen_t len) {
  int tl, tn;
  if (!tern_px_opt(level, name, &tl, &tn)) return -1;
  if (tn == TERN_IP_MULTICAST_IF || tn == TERN_IP_ADD_MEMBERSHIP ||
      tn == TERN_IP_DROP_MEMBERSHIP) {
    /* struct ip_mreq / ip_mreqn: the group, then the interface address;
     * IP_MULTICAST_IF: a struct in_addr, or one of those */
    const uint8_t *b = (const uint8_t *)val;
    bool one = tn == TERN_IP_MULTICAST_IF && len < 8;
    if (!val || len < (one ? 4 : 8)) {
      errno = EINVAL;
      return -1;
    }
    tern_ip_mreq mr;
    tern_px_in_addr(b, &mr.multiaddr);
    tern_px_in_addr(one ? b : b + 4, &mr.interface);
    if (tn == TERN_IP_MULTICAST_IF)
      return tern_px_ret(tern_sock_setsockopt(TERN_POSIX_TCPIP, fd, tl, tn,
                                              &mr.interface,
                                              sizeof mr.interface));
    return tern_px_ret(
        tern_sock_setsockopt(TERN_POSIX_TCPIP, fd, tl, tn, &mr, sizeof mr));
  }
  return tern_px_ret(
      tern_sock_setsockopt(TERN_POSIX_TCPIP, fd, tl, tn, val, (size_t)len));
}

static inline int tern_px_getsockopt(int fd, int level, int name, void *val,
                                     socklen_t *len) {
  int tl, tn;
  if (!tern_px_opt(level, name, &tl, &tn)) return -1;
  size_t l = len ? (size_t)*len : 0;
  if (tn == TERN_IP_MULTICAST_IF) { /* a struct in_addr */
    tern_addr a;
    size_t al = sizeof a;
    if (!val || l < 4) {
      errno = EINVAL;
      return -1;
    }
    int r = tern_sock_getsockopt(TERN_POSIX_TCPIP, fd, tl, tn, &a, &al);
    if (r == 0) {
      memcpy(val, a.ip, 4);
      *len = 4;
    }
    return tern_px_ret(r);
  }
  int r = tern_sock_getsockopt(TERN_POSIX_TCPIP, fd, tl, tn, val, &l);
  if (r == 0 && len) *len = (socklen_t)l;
  return tern_px_ret(r);
}

static inline int tern_px_fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  int val = cmd == F_SETFL ? va_arg(ap, int) : 0;
  va_end(ap);
  if (cmd == F_GETFL) {
    int r = tern_sock_fcntl(TERN_POSIX_TCPIP, fd, TERN_F_GETFL, 0);
    return r < 0 ? tern_px_ret(r) : (r & TERN_O_NONBLOCK ? O_NONBLOCK : 0) | O_RDWR;
  }
  if (cmd != F_SETFL) {
    errno = EINVAL;
    return -1;
  }
  return tern_px_ret(tern_sock_fcntl(TERN_POSIX_TCPIP, fd, TERN_F_SETFL,
                                     val & O_NONBLOCK ? TERN_O_NONBLOCK : 0));
}

static inline int tern_px_ioctl(int fd, unsigned long req, void *argp) {
  unsigned long r = req == FIONREAD ? TERN_FIONREAD
                    : req == FIONBIO ? TERN_FIONBIO
                                     : 0;
  if (!r) {
    errno = EINVAL;
    return -1;
  }
  return tern_px_ret(tern_sock_ioctl(TERN_POSIX_TCPIP, fd, r, argp));
}

static inline int tern_px_select(int nfds, fd_set *r, fd_set *w, fd_set *e,
                                 struct timeval *tv) {
  fd_set *in[3] = {r, w, e};
  tern_fd_set ts[3];
  tern_fd_set *tp[3];
  if (nfds > TERN_FD_SETSIZE) nfds = TERN_FD_SETSIZE;
  for (int i = 0; i < 3; i++) {
    tp[i] = in[i] ? &ts[i] : NULL;
    tern_fd_zero(&ts[i]);
    for (int fd = 0; in[i] && fd < nfds; fd++)
      if (FD_ISSET(fd, in[i])) tern_fd_set_add(fd, &ts[i]);
  }
  int ms = tv ? (int)(tv->tv_sec * 1000 + tv->tv_usec / 1000) : -1;
  int n = tern_select(TERN_POSIX_TCPIP, nfds, tp[0], tp[1], tp[2], ms);
  if (n < 0) return tern_px_ret(n);
  for (int i = 0; i < 3; i++)
    for (int fd = 0; in[i] && fd < nfds; fd++)
      if (!tern_fd_isset(fd, &ts[i])) FD_CLR(fd, in[i]);
  return n;
}

static inline int tern_px_poll(struct pollfd *fds, nfds_t n, int timeout) {
  tern_pollfd one[64];
  if (n > 64) {
    errno = EINVAL;
    return -1;
  }
  for (nfds_t i = 0; i < n; i++) {
    one[i].fd = fds[i].fd;
    one[i].events = (short)(((fds[i].events & POLLIN) ? TERN_POLLIN : 0) |
                            ((fds[i].events & POLLOUT) ? TERN_POLLOUT : 0));
  }
  int r = tern_poll(TERN_POSIX_TCPIP, one, (size_t)n, timeout);
  if (r < 0) return tern_px_ret(r);
  for (nfds_t i = 0; i < n; i++) {
    short v = one[i].revents;
    fds[i].revents = (short)(((v & TERN_POLLIN) ? POLLIN : 0) |
                             ((v & TERN_POLLOUT) ? POLLOUT : 0) |
                             ((v & TERN_POLLERR) ? POLLERR : 0) |
                             ((v & TERN_POLLHUP) ? POLLHUP : 0) |
                             ((v & TERN_POLLNVAL) ? POLLNVAL : 0));
  }
  return r;
}

/* getaddrinfo over tern_netconn_gethostbyname: IPv4 (AF_INET or
 * AF_UNSPEC), a numeric service only, one entry per address (of the
 * hints' socktype, SOCK_STREAM when it is 0). AI_PASSIVE with a NULL node
 * gives 0.0.0.0, else 127.0.0.1. Entries come from one malloc'd block:
 * freeaddrinfo is free(). */
typedef struct tern_px_ai {
  struct addrinfo ai;
  struct sockaddr_in sin;
} tern_px_ai;

static inline int tern_px_gai_err(int err) {
  switch (err) {
    case TERN_ERESOLVE: return EAI_NONAME;
    case TERN_EAGAIN: case TERN_ETIMEDOUT: return EAI_AGAIN;
    case TERN_ENOMEM: return EAI_MEMORY;
    case TERN_EAFNOSUPPORT: return EAI_FAMILY;
    default: return EAI_FAIL;
  }
}

static inline int tern_px_getaddrinfo(const char *node, const char *service,
                                      const struct addrinfo *hints,
                                      struct addrinfo **res) {
  if (!res || (!node && !service)) return EAI_NONAME;
  *res = NULL;
  int family = hints ? hints->ai_family : AF_UNSPEC;
  if (family != AF_UNSPEC && family != AF_INET) return EAI_FAMILY;
  unsigned long port = 0;
  if (service) {
    char *end;
    port = strtoul(service, &end, 10);
    if (!*service || *end || port > 65535) return EAI_SERVICE;
  }
  tern_addr a[8];
  size_t n = 0;
  if (node) {
    int err = tern_netconn_gethostbyname(TERN_POSIX_TCPIP, node, a, 8, &n);
    if (err) return tern_px_gai_err(err);
  } else {
    bool passive = hints && (hints->ai_flags & AI_PASSIVE);
    tern_addr_parse_ip(passive ? "0.0.0.0" : "127.0.0.1",
                       passive ? 7 : 9, &a[0]);
    n = 1;
  }
  tern_px_ai *v = (tern_px_ai *)calloc(n, sizeof *v);
  if (!v) return EAI_MEMORY;
  int socktype = hints && hints->ai_socktype ? hints->ai_socktype
                                             : SOCK_STREAM;
  for (size_t i = 0; i < n; i++) {
    v[i].sin.sin_family = AF_INET;
    v[i].sin.sin_port = htons((uint16_t)port);
    memcpy(&v[i].sin.sin_addr, a[i].ip, 4);
    v[i].ai.ai_family = AF_INET;
    v[i].ai.ai_socktype = socktype;
    v[i].ai.ai_protocol = hints ? hints->ai_protocol : 0;
    v[i].ai.ai_addrlen = sizeof v[i].sin;
    v[i].ai.ai_addr = (struct sockaddr *)(void *)&v[i].sin;
    v[i].ai.ai_next = i + 1 < n ? &v[i + 1].ai : NULL;
  }
  *res = &v[0].ai;
  return 0;
}

/* res is the first entry of the block (tern_px_ai's first member). */
static inline void tern_px_freeaddrinfo(struct addrinfo *res) { free(res); }

#define socket(d, t, p) tern_px_socket(d, t, p)
#define bind(fd, sa, len) tern_px_bind(fd, sa, len)
#define listen(fd, n) tern_px_ret(tern_sock_listen(TERN_POSIX_TCPIP, fd, n))
#define accept(fd, sa, len) tern_px_accept(fd, sa, len)
#define connect(fd, sa, len) tern_px_connect(fd, sa, len)
#define send(fd, b, n, f) tern_px_send(fd, b, n, f)
#define recv(fd, b, n, f) tern_px_recv(fd, b, n, f)
#define sendto(fd, b, n, f, sa, l) tern_px_sendto(fd, b, n, f, sa, l)
#define recvfrom(fd, b, n, f, sa, l) tern_px_recvfrom(fd, b, n, f, sa, l)
#define shutdown(fd, how) tern_px_shutdown(fd, how)
#define getsockname(fd, sa, l) tern_px_name(fd, sa, l, 0)
#define getpeername(fd, sa, l) tern_px_name(fd, sa, l, 1)
#define setsockopt(fd, lv, nm, v, l) tern_px_setsockopt(fd, lv, nm, v, l)
#define getsockopt(fd, lv, nm, v, l) tern_px_getsockopt(fd, lv, nm, v, l)
#define getaddrinfo(n, s, h, r) tern_px_getaddrinfo(n, s, h, r)
#define freeaddrinfo(r) tern_px_freeaddrinfo(r)

#ifdef TERN_POSIX_IO_NAMES
#define close(fd) tern_px_ret(tern_sock_close(TERN_POSIX_TCPIP, fd))
#define read(fd, b, n) tern_px_recv(fd, b, n, 0)
#define write(fd, b, n) tern_px_send(fd, b, n, 0)
#define fcntl(...) tern_px_fcntl(__VA_ARGS__)
#define ioctl(fd, req, argp) tern_px_ioctl(fd, req, argp)
#define select(n, r, w, e, tv) tern_px_select(n, r, w, e, tv)
#define poll(fds, n, t) tern_px_poll(fds, n, t)
#endif

#endif /* TERN_SOCKETS_POSIX_H */
