/* tern/sockets.h: BSD-style sockets over tern's own stack, built on
 * netconn (tern/netconn.h), usable from any thread.
 *
 * The calls mirror POSIX: they return -1 (or a count) and leave the
 * reason in tern_errno(), a per-thread value with the host's <errno.h>
 * numbers (EAGAIN, ECONNRESET ...; the table is at tern_sock_errno_of).
 * Descriptors are small integers in a table per stack (per tern_tcpip),
 * which is why every call takes the tcpip: two stacks in one process have
 * separate descriptor spaces and no global table exists. Addresses are
 * tern_addr (IPv4; port in host order) rather than struct sockaddr.
 *
 * Blocking calls wait in the caller's thread; close from another thread
 * wakes them (they fail with EBADF), as does a connection error (with
 * that error). Timeouts (SO_RCVTIMEO/SO_SNDTIMEO) end a blocked recv or
 * send with EAGAIN, as on Linux.
 *
 * Example:
 *   int fd = tern_socket(t, TERN_AF_INET, TERN_SOCK_STREAM, 0);
 *   tern_addr a; tern_addr_parse_ip("10.0.0.1", 8, &a); a.port = 7;
 *   if (tern_sock_connect(t, fd, &a) < 0) fail(tern_errno());
 *   tern_sock_send(t, fd, "hi", 2, 0);
 *   tern_sock_close(t, fd);
 */
#ifndef TERN_SOCKETS_H
#define TERN_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/netconn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Types (domain is TERN_AF_INET from tern/base.h). */
enum { TERN_SOCK_STREAM = 1, TERN_SOCK_DGRAM = 2,
       TERN_SOCK_RAW = 3 /* raw IPv4 (protocol 1..255): recv gives the IP
                            header too, send takes what follows it */ };

/* Option levels and names (Linux's values, for familiarity). */
enum {
  TERN_SOL_SOCKET = 1,
  TERN_IPPROTO_IP = 0,
  TERN_IPPROTO_TCP = 6,
};
enum {
  TERN_SO_REUSEADDR = 2, /* int; accepted and reported (see .c) */
  TERN_SO_TYPE = 3,      /* int, get only */
  TERN_SO_ERROR = 4,     /* int errno value, get only; reading clears */
  TERN_SO_SNDBUF = 7,    /* int bytes: TCP send buffer (set before
                            connect/listen); FIONREAD gives bytes waiting */
  TERN_SO_RCVBUF = 8,    /* int bytes: TCP receive window (same); get
                            without a set: the window now (0 before the
                            connection exists) */
  TERN_SO_KEEPALIVE = 9, /* int bool */
  TERN_SO_LINGER = 13,   /* tern_linger: off; on with 0: close resets;
                            on with N: close waits up to N s for the data
                            to be acknowledged */
  TERN_SO_RCVTIMEO = 20, /* struct-free: int ms, or a struct timeval
                            when optlen is sizeof(struct timeval) */
  TERN_SO_SNDTIMEO = 21,
};
enum { /* level TERN_IPPROTO_IP, any socket type */
  TERN_IP_TOS = 1,       /* int 0..255: the TOS byte of what is sent */
  TERN_IP_TTL = 2,       /* int 1..255, -1: the stack's default again */
  /* UDP sockets (TERN_ENABLE_IGMP): */
  TERN_IP_MULTICAST_IF = 32,   /* tern_addr: the netif to send by (any) */
  TERN_IP_MULTICAST_TTL = 33,  /* int 0..255 [1] (or one byte) */
  TERN_IP_MULTICAST_LOOP = 34, /* int bool [1] (or one byte) */
  TERN_IP_ADD_MEMBERSHIP = 35, /* tern_ip_mreq, set only */
  TERN_IP_DROP_MEMBERSHIP = 36,
};

/* A group and the address of the netif to join it on (any: default). */
typedef struct tern_ip_mreq {
  tern_addr multiaddr;
  tern_addr interface;
} tern_ip_mreq;
enum {
  TERN_TCP_NODELAY = 1,  /* int bool */
  TERN_TCP_KEEPIDLE = 4, /* int seconds before the first probe [7200] */
  TERN_TCP_KEEPINTVL = 5, /* int seconds between probes [75] */
  TERN_TCP_KEEPCNT = 6,  /* int probes [9] */
};

typedef struct tern_linger {
  int l_onoff;
  int l_linger; /* seconds */
} tern_linger;

/* send/recv flags. */
enum {
  TERN_MSG_DONTWAIT = 0x40, /* this call does not block */
  TERN_MSG_MORE = 0x8000,   /* more follows (no PSH, Nagle may wait) */
};

/* shutdown how. */
enum { TERN_SHUT_RD = 0, TERN_SHUT_WR = 1, TERN_SHUT_RDWR = 2 };

/* fcntl and ioctl. */
enum { TERN_F_GETFL = 3, TERN_F_SETFL = 4 };
#define TERN_O_NONBLOCK 04000
#define TERN_FIONREAD 0x541B /* int *: bytes readable now */
#define TERN_FIONBIO 0x5421  /* int *: non-blocking on/off */

/* The calling thread's error of the last failed call (0 if none yet). */
TERN_API int tern_errno(void);
/* The errno value a tern_err code maps to (EIO for unknown ones). */
TERN_API int tern_sock_errno_of(int tern_err);

/* A socket: TCP (TERN_SOCK_STREAM), UDP (TERN_SOCK_DGRAM) or raw IPv4
 * (TERN_SOCK_RAW with the protocol; tern_netconn_new_raw). Returns the
 * descriptor or -1 (EAFNOSUPPORT, EPROTONOSUPPORT, EMFILE, ENOMEM). */
TERN_API int tern_socket(tern_tcpip *t, int domain, int type, int protocol);
TERN_API int tern_sock_bind(tern_tcpip *t, int fd, const tern_addr *local);
TERN_API int tern_sock_listen(tern_tcpip *t, int fd, int backlog);
/* A connected socket, or -1 (EAGAIN when non-blocking or after
 * SO_RCVTIMEO). peer may be NULL. */
TERN_API int tern_sock_accept(tern_tcpip *t, int fd, tern_addr *peer);
/* TCP: blocks until connected (-1 EINPROGRESS when non-blocking: select
 * for writing, then SO_ERROR). UDP: sets the default peer. */
TERN_API int tern_sock_connect(tern_tcpip *t, int fd, const tern_addr *peer);
/* Bytes sent/received, or -1. recv returns 0 at the end of the stream. A
 * blocking TCP send returns after all of len is queued; a non-blocking
 * one may queue part (the count), or none (-1 EAGAIN). recv returns what
 * is there without waiting for len. */
TERN_API long tern_sock_send(tern_tcpip *t, int fd, const void *buf,
                             size_t len, int flags);
TERN_API long tern_sock_recv(tern_tcpip *t, int fd, void *buf, size_t len,
                             int flags);
/* UDP: one datagram (to NULL: the connected peer). recvfrom truncates a
 * datagram longer than len (the rest is dropped). from may be NULL. */
TERN_API long tern_sock_sendto(tern_tcpip *t, int fd, const void *buf,
                               size_t len, int flags, const tern_addr *to);
TERN_API long tern_sock_recvfrom(tern_tcpip *t, int fd, void *buf, size_t len,
                                 int flags, tern_addr *from);
TERN_API int tern_sock_shutdown(tern_tcpip *t, int fd, int how);
/* Close: the descriptor is free again at once; threads blocked in it
 * return -1 EBADF. */
TERN_API int tern_sock_close(tern_tcpip *t, int fd);
TERN_API int tern_sock_getsockname(tern_tcpip *t, int fd, tern_addr *out);
TERN_API int tern_sock_getpeername(tern_tcpip *t, int fd, tern_addr *out);
/* Options above; -1 ENOPROTOOPT for others, EINVAL for a short optlen. */
TERN_API int tern_sock_setsockopt(tern_tcpip *t, int fd, int level, int name,
                                  const void *val, size_t len);
TERN_API int tern_sock_getsockopt(tern_tcpip *t, int fd, int level, int name,
                                  void *val, size_t *len);
/* F_GETFL / F_SETFL with TERN_O_NONBLOCK. */
TERN_API int tern_sock_fcntl(tern_tcpip *t, int fd, int cmd, int val);
/* FIONREAD, FIONBIO (argp: int *). */
TERN_API int tern_sock_ioctl(tern_tcpip *t, int fd, unsigned long req,
                             void *argp);

/* ---- readiness ---- */

#define TERN_FD_SETSIZE 1024
typedef struct tern_fd_set {
  uint32_t bits[TERN_FD_SETSIZE / 32];
} tern_fd_set;
TERN_API void tern_fd_zero(tern_fd_set *s);
TERN_API void tern_fd_set_add(int fd, tern_fd_set *s);
TERN_API void tern_fd_clr(int fd, tern_fd_set *s);
TERN_API bool tern_fd_isset(int fd, const tern_fd_set *s);

/* select over tern descriptors below nfds: waits up to timeout_ms (-1:
 * forever, 0: poll) until one is readable (data, a connection to accept,
 * end of stream, an error), writable (connected with send room, UDP) or
 * has an error (exceptfds). Sets are rewritten to the ready ones; returns
 * how many bits are set, 0 on timeout, -1 EBADF for a closed descriptor.
 * Woken by the netconn events of the sockets; any set may be NULL. */
TERN_API int tern_select(tern_tcpip *t, int nfds, tern_fd_set *readfds,
                         tern_fd_set *writefds, tern_fd_set *exceptfds,
                         int timeout_ms);

enum {
  TERN_POLLIN = 0x001,
  TERN_POLLOUT = 0x004,
  TERN_POLLERR = 0x008,
  TERN_POLLHUP = 0x010,
  TERN_POLLNVAL = 0x020,
};
typedef struct tern_pollfd {
  int fd;
  short events, revents;
} tern_pollfd;
/* poll over tern descriptors (negative fd: ignored). Returns the number
 * of entries with revents set, 0 on timeout. */
TERN_API int tern_poll(tern_tcpip *t, tern_pollfd *fds, size_t nfds,
                       int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* TERN_SOCKETS_H */
