/* tern/net.h: the connection API.
 *
 * A tern_mgr owns connections (tern_conn) and runs on one loop thread. A
 * connection is a TCP stream (listener, accepted or client) or a UDP
 * socket, IPv4 or IPv6, over a backend: host sockets by default, tern's
 * own stack when built with it. Protocols (HTTP, WebSocket, DNS ...) are
 * written against this API only, so they run unchanged on either backend.
 *
 * Lifetime rules (each has a test in tests/integ/):
 *  - Every connection gets exactly one TERN_EV_CLOSE, whatever ended it:
 *    peer close, reset, error, timeout, tern_close, tern_abort or
 *    tern_mgr_free. No event is delivered after it; the tern_conn pointer
 *    is invalid once the CLOSE callback returns.
 *  - CLOSE is never delivered from inside a tern_* call the user made; it
 *    arrives from the loop, so code after tern_close(c) may still use c.
 *  - The user data pointer is the one given to tern_listen/tern_connect/
 *    tern_adopt (accepted connections start with their listener's) and
 *    changes only when the user calls tern_conn_set_data().
 *  - A call that fails synchronously never fires the callback it was given.
 *
 * Example (echo server):
 *   static void echo(tern_conn *c, const tern_event *ev, void *ud) {
 *     if (ev->type == TERN_EV_READ) {
 *       tern_send(c, ev->read.data, ev->read.len);
 *       tern_conn_consume(c, ev->read.len);
 *     }
 *   }
 *   tern_mgr *m; tern_mgr_new(&m, NULL);
 *   tern_listen(m, "tcp://127.0.0.1:7000", echo, NULL, NULL);
 *   tern_mgr_run(m);
 */
#ifndef TERN_NET_H
#define TERN_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/base.h"
#include "tern/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_mgr tern_mgr;
typedef struct tern_conn tern_conn;
typedef struct tern_backend tern_backend; /* see tern/backend.h */

/* Events and their payload (the union member of tern_event to read). */
typedef enum tern_ev {
  TERN_EV_OPEN,     /* -              connection object created (first) */
  TERN_EV_RESOLVE,  /* resolve        name resolved, about to connect */
  TERN_EV_CONNECT,  /* -              client connection established */
  TERN_EV_ACCEPT,   /* -              accepted connection (on the child) */
  TERN_EV_READ,     /* read           bytes (or a datagram) arrived */
  TERN_EV_WRITE,    /* write          bytes handed to the network */
  TERN_EV_WRITABLE, /* -              send queue at or below low water,
                                      after tern_conn_want_writable() */
  TERN_EV_POLL,     /* -              periodic, see tern_conn_set_poll() */
  TERN_EV_TIMEOUT,  /* -              idle or connect timeout expired */
  TERN_EV_ERROR,    /* error          something failed; CLOSE follows */
  TERN_EV_CLOSE     /* close          last event; the conn is going away */
} tern_ev;

typedef struct tern_event {
  tern_ev type;
  union {
    struct {
      const tern_addr *addr; /* the address about to be tried */
    } resolve;
    struct {
      /* TCP: every byte received and not yet consumed (the new ones are
       * at the end); call tern_conn_consume() for what you used, the rest
       * stays buffered (up to the rx limit; reading pauses when full).
       * UDP: one datagram; it is dropped after the callback. */
      const uint8_t *data;
      size_t len;
      size_t fresh;          /* how many of len arrived just now */
      const tern_addr *from; /* UDP: sender; TCP: the peer */
      bool eof;              /* TCP: peer sent FIN; no more data will come */
    } read;
    struct {
      size_t len; /* bytes just accepted by the network */
    } write;
    struct {
      int err;         /* tern_err */
      const char *msg; /* static text, for logs */
    } error;
    struct {
      int reason;    /* TERN_OK for a clean close, else the tern_err */
      size_t unsent; /* bytes still queued that will never be sent */
    } close;
  };
} tern_event;

/* Event handler. Runs on the manager's loop thread. ud is the connection's
 * current user data. The event and everything it points to is valid only
 * during the call. */
typedef void (*tern_conn_fn)(tern_conn *c, const tern_event *ev, void *ud);

/* Limits that apply to each new connection (each is settable at run time;
 * zero fields take the default shown). */
typedef struct tern_limits {
  size_t rx_max;       /* bytes buffered unconsumed before reading pauses (64 KiB) */
  size_t tx_max;       /* bytes queued for sending; more is refused (256 KiB) */
  size_t tx_lowat;     /* WRITABLE fires at or below this (16 KiB) */
  uint32_t connect_ms; /* resolve + connect timeout (30000) */
  uint32_t idle_ms;    /* close after this long without I/O; 0 = never (0) */
  uint32_t drain_ms;   /* tern_close waits this long for the queue (10000) */
  uint32_t max_conns;  /* per listener, accepted connections alive (10000) */
  uint32_t backlog;    /* listen backlog (511) */
  /* Happy eyeballs (RFC 8305) for client connects to a name: */
  uint32_t attempt_delay_ms;    /* start the next address's attempt after
                                   this long without an answer (250;
                                   clamped to 100..2000, RFC 8305 5) */
  uint32_t resolution_delay_ms; /* an IPv4 answer first waits this long
                                   for the IPv6 one (50; at most 1000,
                                   RFC 8305 3) */
} tern_limits;

typedef struct tern_mgr_opts {
  tern_loop *loop;               /* run on this loop; NULL: own loop */
  const tern_backend *backend;   /* NULL: host sockets */
  void *backend_arg;             /* passed to the backend's create */
  tern_limits limits;            /* zero fields: defaults */
} tern_mgr_opts;

/* ---- manager ----------------------------------------------------- */

/* Create a manager. opts may be NULL. The thread that runs its loop owns
 * it. Example: tern_mgr *m; int rc = tern_mgr_new(&m, NULL); */
TERN_API int tern_mgr_new(tern_mgr **out, const tern_mgr_opts *opts);
/* Close every connection (each gets CLOSE with reason TERN_ECANCELED,
 * queued data is dropped), then free the manager and, if it made it, its
 * loop. Must not be called from inside one of its callbacks. */
TERN_API void tern_mgr_free(tern_mgr *m);
TERN_API tern_loop *tern_mgr_loop(tern_mgr *m);
/* Run the loop until tern_mgr_stop(); thread-safe stop. */
TERN_API int tern_mgr_run(tern_mgr *m);
TERN_API void tern_mgr_stop(tern_mgr *m);
/* Change the limits for connections made from now on. */
TERN_API void tern_mgr_set_limits(tern_mgr *m, const tern_limits *lim);
TERN_API void tern_mgr_get_limits(const tern_mgr *m, tern_limits *out);
/* Connections not yet finished, listeners included. A connection leaves
 * this count when it ends; its memory is released right after its CLOSE
 * event, which the loop delivers in the same or the next iteration. */
TERN_API size_t tern_mgr_count(const tern_mgr *m);
/* Call fn for each user connection alive (system ones, see
 * tern_conn_set_system, are skipped), in creation order. fn may close or
 * abort any connection (a closed one not yet visited is skipped) and may
 * call tern_mgr_foreach again; connections opened meanwhile are visited
 * too. */
TERN_API void tern_mgr_foreach(tern_mgr *m,
                               void (*fn)(tern_conn *c, void *arg), void *arg);
/* The same over the system connections only. */
TERN_API void tern_mgr_foreach_system(tern_mgr *m,
                                      void (*fn)(tern_conn *c, void *arg),
                                      void *arg);
/* System connections alive (tern_mgr_count counts them too). */
TERN_API size_t tern_mgr_count_system(const tern_mgr *m);
/* Find a connection by id (O(n); for cross-thread hand-offs). */
TERN_API tern_conn *tern_mgr_find(tern_mgr *m, uint64_t id);

/* ---- making connections ------------------------------------------ */

/* Listen on "tcp://ADDR:PORT" or "udp://ADDR:PORT" (ADDR numeric or a
 * name; port 0 picks a free one, see tern_conn_local()). OPEN fires on the
 * listener before this returns; each accepted TCP connection gets OPEN then
 * ACCEPT and starts with fn and ud. A UDP listener receives datagrams as
 * READ events with read.from set. *out (may be NULL) gets the listener. */
TERN_API int tern_listen(tern_mgr *m, const char *url, tern_conn_fn fn,
                         void *ud, tern_conn **out);

/* Connect to "tcp://HOST:PORT" or "udp://HOST:PORT". Returns once the
 * connection object exists (OPEN has fired); RESOLVE (for names), then
 * CONNECT or ERROR+CLOSE follow from the loop. */
TERN_API int tern_connect(tern_mgr *m, const char *url, tern_conn_fn fn,
                          void *ud, tern_conn **out);

/* Take over a connected or listening socket descriptor made elsewhere
 * (host-sockets backend; TERN_ENOTSUP on others). It is made
 * non-blocking and tern closes it when the connection closes. OPEN fires
 * (and ACCEPT for a connected stream) before this returns. */
TERN_API int tern_adopt(tern_mgr *m, int fd, tern_conn_fn fn, void *ud,
                        tern_conn **out);

/* ---- data -------------------------------------------------------- */

/* Queue len bytes for sending; the bytes are copied (or sent at once), so
 * data may be reused when this returns. All or nothing: TERN_ENOSPC if the
 * queue would exceed tx_max (check tern_conn_queued()), TERN_ECLOSED after
 * tern_close/tern_shutdown. UDP: one datagram to the connected peer, or on
 * a listener to the sender of the last datagram; TERN_EAGAIN if the network
 * has no room for it now (it is not queued). */
TERN_API int tern_send(tern_conn *c, const void *data, size_t len);
/* A piece of data for tern_sendv. */
typedef struct tern_iov {
  const void *base;
  size_t len;
} tern_iov;

/* TCP: queue several pieces as one all-or-nothing send (a protocol frame's
 * header and payload, say): TERN_ENOSPC if they do not all fit. */
TERN_API int tern_sendv(tern_conn *c, const tern_iov *iov, size_t n);

/* UDP: send one datagram to addr. */
TERN_API int tern_sendto(tern_conn *c, const tern_addr *addr,
                         const void *data, size_t len);
/* Mark n received bytes as used: they leave the receive buffer and the
 * reading window opens by n. Callable inside READ or any time later. */
TERN_API void tern_conn_consume(tern_conn *c, size_t n);
/* The received bytes not yet consumed (e.g. to resume parsing later). */
TERN_API const uint8_t *tern_conn_rx(const tern_conn *c, size_t *len);

/* ---- ending ------------------------------------------------------ */

/* Graceful close: stop reading, send what is queued (up to drain_ms), then
 * close; CLOSE follows from the loop. Idempotent. */
TERN_API void tern_close(tern_conn *c);
/* Immediate close: queued data is dropped, TCP peers get a RST. CLOSE
 * follows from the loop with reason TERN_ECONNABORTED. Idempotent. */
TERN_API void tern_abort(tern_conn *c);
/* Half-close: send FIN after the queue drains; reading goes on. */
TERN_API int tern_shutdown(tern_conn *c);

/* ---- flow control ------------------------------------------------ */

/* Bytes queued and not yet handed to the network. */
TERN_API size_t tern_conn_queued(const tern_conn *c);
/* True when the queue is above tx_lowat: the peer is not keeping up. */
TERN_API bool tern_conn_choked(const tern_conn *c);
/* Ask for one WRITABLE event as soon as the queue is at or below tx_lowat
 * (on the next loop iteration if it already is). */
TERN_API void tern_conn_want_writable(tern_conn *c);

/* ---- properties -------------------------------------------------- */

TERN_API uint64_t tern_conn_id(const tern_conn *c); /* unique per manager, never 0 */
TERN_API tern_mgr *tern_conn_mgr(const tern_conn *c);
TERN_API void *tern_conn_data(const tern_conn *c);
TERN_API void tern_conn_set_data(tern_conn *c, void *ud);
/* Replace the handler (protocol upgrades). The new one gets the next event. */
TERN_API void tern_conn_set_fn(tern_conn *c, tern_conn_fn fn);
TERN_API const tern_addr *tern_conn_local(const tern_conn *c);
TERN_API const tern_addr *tern_conn_peer(const tern_conn *c);
TERN_API bool tern_conn_is_listener(const tern_conn *c);
TERN_API bool tern_conn_is_udp(const tern_conn *c);
TERN_API bool tern_conn_is_client(const tern_conn *c);
/* Idle timeout in ms (0: none); counts from the last I/O. On expiry a
 * TIMEOUT event fires; unless the handler sets a new timeout the
 * connection is then closed with reason TERN_ETIMEDOUT. */
TERN_API int tern_conn_set_idle_timeout(tern_conn *c, uint32_t ms);
/* Deliver POLL every ms (0: stop). */
TERN_API int tern_conn_set_poll(tern_conn *c, uint32_t ms);
/* Keep the connection open after the peer's FIN (half-close): READ with
 * eof=true still fires, but tern does not close; call tern_close() when
 * done. Default off: the peer's FIN makes tern drain and close. */
TERN_API void tern_conn_set_half_close(tern_conn *c, bool on);
/* Per-connection limits (TERN_ENOSPC if more is already buffered). */
TERN_API int tern_conn_set_rx_max(tern_conn *c, size_t max);
TERN_API int tern_conn_set_tx_max(tern_conn *c, size_t max);
/* Listener: cap on accepted connections alive; accepting pauses at the
 * cap (new peers wait in the backlog) and resumes when one closes. */
TERN_API void tern_conn_set_max_conns(tern_conn *listener, uint32_t max);
/* System connections (the analog of lws's "system" vhost): the helpers'
 * own connections (the DNS client's queries, SNTP) mark themselves so, and
 * so may an application's housekeeping. tern_mgr_foreach never visits
 * them (tern_mgr_foreach_system does), and their metrics carry the label
 * class="system". Set it right after the call that made the connection
 * (before returning to the loop) so it is counted as system from the
 * start. Accepted connections inherit their listener's mark. */
TERN_API void tern_conn_set_system(tern_conn *c, bool on);
TERN_API bool tern_conn_is_system(const tern_conn *c);
/* TCP_NODELAY on/off (on by default for tern's connections). */
TERN_API int tern_conn_set_nodelay(tern_conn *c, bool on);

/* Bytes of memory this connection holds in user space right now
 * (object + buffers), for accounting and tests. */
TERN_API size_t tern_conn_mem(const tern_conn *c);

/* ---- fault injection (tern/fi.h) --------------------------------- */

struct tern_fi;
/* The manager's faults: from TERN_FI at tern_mgr_new (owned, freed with
 * the manager), or set here (not owned: free it after the manager; NULL
 * turns injection off). */
TERN_API void tern_mgr_set_fi(tern_mgr *m, struct tern_fi *fi);
TERN_API struct tern_fi *tern_mgr_fi(const tern_mgr *m);

/* ---- metrics (tern/metrics.h) ------------------------------------- */

struct tern_metrics;
/* Report into reg (not owned; it must outlive the manager, even when
 * replaced or detached with NULL, since WebSockets alive then keep
 * reporting into it): tern_connections_opened_total, _closed_total and
 * tern_connections_active by kind (tcp_listen, tcp_accepted, tcp_client,
 * udp) and class (user, system), tern_net_bytes_total by dir and class,
 * tern_connect_failures_total by class. The protocols on this manager
 * (HTTP, WebSocket, DNS) report into it too. Unset, each point costs a
 * NULL test. TERN_ENOMEM if the metrics cannot be made (nothing
 * changes then). Loop thread. */
TERN_API int tern_mgr_set_metrics(tern_mgr *m, struct tern_metrics *reg);
TERN_API struct tern_metrics *tern_mgr_metrics(const tern_mgr *m);

/* ---- name resolution for tern_connect ---------------------------- */

/* Who turns the host of a tern_connect URL into addresses. By default a
 * getaddrinfo() call on a helper thread (TERN_ENABLE_RESOLVER_THREAD);
 * tern_dns_use_for_connects() (tern/dns.h) installs the DNS client.
 *
 * With the addresses, a TCP connect to a name races attempts (happy
 * eyeballs, RFC 8305): IPv6 and IPv4 addresses interleaved, IPv6 first
 * (4); the next attempt starts after attempt_delay_ms or as soon as one
 * fails (5); the first to connect wins and the others are cancelled. An
 * IPv4 answer that comes before the IPv6 one waits resolution_delay_ms
 * for it (3); addresses that come later join the race. TERN_EV_RESOLVE
 * fires before each attempt with its address. UDP connects use the first
 * address of that order. */
typedef struct tern_name_resolver {
  /* Resolve host (not NUL-terminated) for c. Later, from the loop and
   * never inside start, call tern_conn_resolved exactly once unless
   * cancel comes first. An error return fails the connect at once. */
  int (*start)(void *ctx, tern_conn *c, const char *host, size_t len,
               uint16_t port);
  /* c is going away before its answer: forget it, do not call back. */
  void (*cancel)(void *ctx, tern_conn *c);
} tern_name_resolver;

/* r NULL: back to the default. Connections already resolving finish with
 * the resolver they started with: remove a resolver only after failing
 * its pending requests (tern_conn_resolved with an error). */
TERN_API void tern_mgr_set_resolver(tern_mgr *m, const tern_name_resolver *r,
                                    void *ctx);
/* The answer for a connection being resolved: err TERN_OK and the address
 * (with the port) to connect to, or the error that fails the connect. */
TERN_API void tern_conn_resolved(tern_conn *c, int err, const tern_addr *a);
/* The answer for one family as soon as it is known, so happy eyeballs
 * can start early: family TERN_AF_INET6 or TERN_AF_INET, each exactly
 * once (err or n 0: none of that family), in either order; or family 0:
 * every address at once (the answer is complete). Ports are taken from
 * the URL; at most 8 addresses per family are used. */
TERN_API void tern_conn_resolved_family(tern_conn *c, int family, int err,
                                        const tern_addr *a, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* TERN_NET_H */
