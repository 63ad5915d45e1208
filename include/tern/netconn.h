/* tern/netconn.h: the sequential API over tern's own stack (lwIP's
 * netconn): blocking calls usable from any thread, and the "tcpip" runner
 * that owns the stack's thread.
 *
 * The stack (tern/ip.h) is single-threaded. A tern_tcpip starts a thread
 * with its own tern loop that drives the stack (its timers, an optional
 * TAP device, an optional in-memory wire) and runs the API calls of other
 * threads in one of two modes, chosen at run time:
 *  - TERN_TCPIP_MSG: a call is packed into a message, posted to the stack
 *    thread (tern_loop_call) and the caller waits on a semaphore until the
 *    stack thread has run it (lwIP's tcpip_thread + api_msg).
 *  - TERN_TCPIP_CORE_LOCK: the caller takes the stack's lock and runs the
 *    operation itself; the stack thread holds the same lock while it
 *    processes input and timers (lwIP's LWIP_TCPIP_CORE_LOCKING).
 * Either way no netconn call ever blocks the stack thread: a call that has
 * to wait (recv, accept, connect, a write into a full send buffer) runs a
 * short non-blocking step in the stack context and then waits in the
 * caller's thread on the netconn's own semaphores, which the stack's
 * callbacks post.
 *
 * Errors are negative tern_err codes (tern/base.h). Calls made while the
 * netconn is being closed by another thread return TERN_ECLOSED.
 *
 * Rules:
 *  - Never call a blocking netconn or socket function from inside a stack
 *    callback or a netconn event callback (they run in the stack context:
 *    it would wait for itself).
 *  - Close every netconn (and socket) before tern_tcpip_free.
 *  - After tern_netconn_close returns, the caller's pointer is invalid;
 *    other threads blocked in the same netconn return TERN_ECLOSED (the
 *    memory is freed by the last thread to leave).
 */
#ifndef TERN_NETCONN_H
#define TERN_NETCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/base.h"
#include "tern/config.h"
#include "tern/ip.h"
#include "tern/ip_drivers.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* The stack thread                                                    */
/* ------------------------------------------------------------------ */

typedef struct tern_tcpip tern_tcpip;

typedef enum tern_tcpip_mode {
  TERN_TCPIP_MSG = 0,       /* calls are messages to the stack thread */
  TERN_TCPIP_CORE_LOCK = 1, /* callers run calls under the stack's lock */
} tern_tcpip_mode;

/* Every field may be left 0. */
typedef struct tern_tcpip_opts {
  tern_tcpip_mode mode;
  /* Watch this TAP device and feed what it reads (tern_tap_attach must
   * already be done). It stays the caller's: close it after the free. */
  tern_tap *tap;
  /* Deliver this in-memory wire's frames from the stack thread (tests:
   * both stacks of the wire must then run on this thread; see share). */
  tern_wire *wire;
  /* Run on share's thread, loop and lock instead of starting a new
   * thread: several stacks on one thread (two stacks joined by a wire).
   * The mode is share's. Free this one before share. */
  tern_tcpip *share;
  /* Calls queued for the stack thread in MSG mode before callers wait for
   * room [4096]. */
  size_t max_calls;
  /* Sockets (tern/sockets.h) open at once on this stack [64]. */
  uint32_t max_sockets;
} tern_tcpip_opts;

/* Start driving st from a new thread (or share's). st belongs to the
 * caller and must not be touched directly any more except through
 * tern_tcpip_call; free it after tern_tcpip_free. */
TERN_API int tern_tcpip_new(tern_tcpip **out, tern_stack *st,
                            const tern_tcpip_opts *opts);
/* Stop the thread (if this one started it) and free. Sockets left open
 * are closed; every netconn of this stack must be closed first, and no
 * thread may still be inside a call on this stack. */
TERN_API void tern_tcpip_free(tern_tcpip *t);
TERN_API tern_stack *tern_tcpip_stack(const tern_tcpip *t);
TERN_API tern_tcpip_mode tern_tcpip_get_mode(const tern_tcpip *t);
/* Run fn(st, arg) in the stack context (on the stack thread, or under the
 * lock) and return what it returns: the way to use the raw API (stats,
 * netif changes, pbuf pools) from another thread. fn must not block. */
TERN_API int tern_tcpip_call(tern_tcpip *t,
                             int (*fn)(tern_stack *st, void *arg), void *arg);

/* Feed one received frame (len bytes, the link header first) to nif from
 * any thread: it is copied into the stack's pool and input in the stack
 * context (lwIP's tcpip_input, for a driver with a receive thread of its
 * own: tern_pbuf_alloc and tern_netif_input are stack-context calls).
 * Waits until the stack has taken it. TERN_ENOMEM: the pool is dry (the
 * frame is dropped). */
TERN_API int tern_tcpip_input(tern_tcpip *t, tern_netif *nif,
                              const void *frame, size_t len, bool csum_ok);

/* ------------------------------------------------------------------ */
/* Network buffers                                                     */
/* ------------------------------------------------------------------ */
/* A netbuf is one received unit: a chain of packet buffers (a TCP
 * segment's data, a UDP datagram) and the address it came from. It
 * belongs to whoever received it; tern_netbuf_free gives its memory back
 * to the stack's pool (it may be called from any thread, also after the
 * netconn was closed, but before tern_tcpip_free). */
typedef struct tern_netbuf tern_netbuf;

/* The current chunk: *data, *len. Returns TERN_OK, or TERN_EINVAL at the
 * end of the chain. Iterate with tern_netbuf_next. */
TERN_API int tern_netbuf_data(const tern_netbuf *nb, void **data, size_t *len);
/* Move to the next chunk: true, or false at the end (the cursor then
 * stays on the last chunk). */
TERN_API bool tern_netbuf_next(tern_netbuf *nb);
/* Back to the first chunk. */
TERN_API void tern_netbuf_first(tern_netbuf *nb);
/* Bytes in the whole chain. */
TERN_API size_t tern_netbuf_len(const tern_netbuf *nb);
/* Copy up to len bytes from chain offset off; returns bytes copied. */
TERN_API size_t tern_netbuf_copy(const tern_netbuf *nb, size_t off, void *dst,
                                 size_t len);
/* The sender (UDP) or the peer (TCP). */
TERN_API const tern_addr *tern_netbuf_from(const tern_netbuf *nb);
TERN_API void tern_netbuf_free(tern_netbuf *nb);

/* ------------------------------------------------------------------ */
/* netconn                                                             */
/* ------------------------------------------------------------------ */

typedef struct tern_netconn tern_netconn;

typedef enum tern_netconn_type {
  TERN_NETCONN_TCP = 1,
  TERN_NETCONN_UDP = 2,
  TERN_NETCONN_RAW = 3, /* raw IPv4 of one protocol (tern_netconn_new_raw) */
} tern_netconn_type;

/* Events (the select() machinery of the sockets layer is built on them).
 * The callback runs in the stack context or in the thread of the call
 * that caused it, with no netconn lock held; it must not block nor call
 * netconn functions. len: bytes concerned (0 if none).
 *   RCVPLUS    one more unit that recv/accept can take without blocking
 *              (data, a datagram, a connection, end of stream)
 *   RCVMINUS   one such unit was taken
 *   SENDPLUS   the send buffer has room again (above the low-water mark)
 *   SENDMINUS  a write found the send buffer full
 *   ERROR      the connection failed (reset, timeout); see
 *              tern_netconn_err */
typedef enum tern_netconn_evt {
  TERN_NETCONN_EVT_RCVPLUS = 0,
  TERN_NETCONN_EVT_RCVMINUS,
  TERN_NETCONN_EVT_SENDPLUS,
  TERN_NETCONN_EVT_SENDMINUS,
  TERN_NETCONN_EVT_ERROR,
} tern_netconn_evt;
typedef void (*tern_netconn_event_fn)(tern_netconn *nc, tern_netconn_evt evt,
                                      size_t len, void *ud);

/* A new TCP or UDP netconn (no pcb state yet: bind, connect or listen). */
TERN_API int tern_netconn_new(tern_netconn **out, tern_tcpip *t,
                              tern_netconn_type type);
/* A raw IPv4 netconn of protocol proto (1 ICMP ...; lwIP's
 * netconn_new_with_proto(NETCONN_RAW)). recv gives whole datagrams, IP
 * header included (a copy of what the stack received; it still does its
 * own handling); send/sendto take the protocol's header and data, the
 * stack adds the IP header. connect sets the default peer (and receives
 * from it only), bind the local address. TERN_ENOTSUP when the stack was
 * built without TERN_ENABLE_IP_RAW. */
TERN_API int tern_netconn_new_raw(tern_netconn **out, tern_tcpip *t,
                                  uint8_t proto);
TERN_API tern_netconn_type tern_netconn_get_type(const tern_netconn *nc);
/* Set the event callback (before other threads use nc). Connections
 * accepted from a listener inherit its callback and ud. */
TERN_API void tern_netconn_set_event_fn(tern_netconn *nc,
                                        tern_netconn_event_fn fn, void *ud);
TERN_API void *tern_netconn_get_ud(const tern_netconn *nc);

/* Port 0 picks an ephemeral port. TERN_EADDRINUSE. */
TERN_API int tern_netconn_bind(tern_netconn *nc, const tern_addr *local);
/* TCP: the three-way handshake; blocks until it completes (send timeout
 * applies, TERN_ETIMEDOUT) or returns TERN_EINPROGRESS on a non-blocking
 * netconn (completion: SENDPLUS, or ERROR). UDP: sets the default peer. */
TERN_API int tern_netconn_connect(tern_netconn *nc, const tern_addr *peer);
/* UDP, RAW: forget the default peer. */
TERN_API int tern_netconn_disconnect(tern_netconn *nc);
/* TCP: become a listener. backlog: connections accepted by the stack but
 * not yet by tern_netconn_accept; beyond it new ones are reset [8]. */
TERN_API int tern_netconn_listen(tern_netconn *nc, uint32_t backlog);
/* Take a connection: blocks (receive timeout: TERN_ETIMEDOUT;
 * non-blocking: TERN_EAGAIN). */
TERN_API int tern_netconn_accept(tern_netconn *nc, tern_netconn **out);

/* Receive one netbuf (a segment's data or a datagram): blocks until
 * there is one (receive timeout: TERN_ETIMEDOUT; non-blocking:
 * TERN_EAGAIN). TERN_ECLOSED after the peer's FIN (TCP, every later call
 * too), or after a close by another thread; the connection's error
 * (TERN_ECONNRESET ...) after it failed. Taking a TCP netbuf opens the
 * window by its size. */
TERN_API int tern_netconn_recv(tern_netconn *nc, tern_netbuf **out);

enum {
  TERN_NETCONN_COPY = 1u << 0,      /* copy the data (the default) */
  TERN_NETCONN_MORE = 1u << 1,      /* more follows: no PSH, Nagle waits */
  TERN_NETCONN_DONTBLOCK = 1u << 2, /* this call does not wait */
  TERN_NETCONN_NOCOPY = 1u << 3,    /* reference the data, do not copy it
                                       (see below); wins over COPY */
};
/* TCP: queue len bytes, waiting for send-buffer room while blocking.
 * Returns TERN_OK when all was queued; *written (may be NULL) says how
 * much was, also on errors (TERN_EAGAIN: non-blocking and the buffer is
 * full; TERN_ETIMEDOUT: the send timeout passed with part written).
 * The data is copied into the stack's buffers unless TERN_NETCONN_NOCOPY
 * is given (lwIP's NETCONN_NOCOPY): then segments point into the
 * caller's memory, which must stay valid and unchanged until the peer
 * has acknowledged it, i.e. until tern_netconn_unacked() is 0 (static or
 * const data is the usual case). tern_netconn_close() of a connection
 * that had no-copy writes waits for that (the linger time when one is
 * set, else up to TERN_NETCONN_NOCOPY_CLOSE_MS) and resets the
 * connection if the time runs out, so once close returns the stack no
 * longer refers to the caller's memory; so does any connection error. */
TERN_API int tern_netconn_write(tern_netconn *nc, const void *data,
                                size_t len, unsigned flags, size_t *written);
#define TERN_NETCONN_NOCOPY_CLOSE_MS 10000
/* TCP: bytes written but not yet acknowledged by the peer (queued and in
 * flight), or a negative error. 0 after the connection ended. */
TERN_API long tern_netconn_unacked(tern_netconn *nc);
/* ------------------------------------------------------------------ */
/* Names (DNS)                                                         */
/* ------------------------------------------------------------------ */
/* The name servers for tern_netconn_gethostbyname on this stack, IPv4,
 * port 0 meaning 53 (at most 4: TERN_ELIMIT; n 0 clears). Typically the
 * DNS servers of a DHCP lease (tern_dhcp_get_lease). Any thread. */
TERN_API int tern_tcpip_set_dns_servers(tern_tcpip *t,
                                        const tern_addr *servers, size_t n);
/* Resolve name to IPv4 addresses (A records, RFC 1035) over this stack,
 * blocking the calling thread (lwIP's netconn_gethostbyname): up to max
 * addresses into out (port 0), their count in *n (may be NULL). IPv4
 * literals and localhost are answered at once. The servers are asked in
 * turn, two rounds, 1 s per try doubling each round (so at most 3 s per
 * server in all); a fresh random source port and id per try; answers
 * are checked against the question; truncated answers are asked again
 * over TCP; CNAME chains are followed. Answers are cached per stack for
 * their TTL (at most 1 h; negative ones at most 5 min; 8 names).
 * Returns TERN_OK, TERN_ERESOLVE (no such name or no A record),
 * TERN_EAGAIN (every server refused or failed), TERN_ETIMEDOUT (none
 * answered), TERN_ENOTCONN (no servers set), TERN_EINVAL (not a name),
 * TERN_EAFNOSUPPORT (an IPv6 literal). Any thread, several at once. */
TERN_API int tern_netconn_gethostbyname(tern_tcpip *t, const char *name,
                                        tern_addr *out, size_t max,
                                        size_t *n);
/* Forget every cached answer. */
TERN_API void tern_tcpip_dns_flush(tern_tcpip *t);
typedef struct tern_netdb_stats {
  uint64_t lookups, cache_hits, queries_sent, answers;
  uint64_t timeouts, server_errors, ignored, tcp_retries;
} tern_netdb_stats;
TERN_API void tern_tcpip_dns_stats(tern_tcpip *t, tern_netdb_stats *out);

/* UDP, RAW: one datagram to the connected peer / to `to`. */
TERN_API int tern_netconn_send(tern_netconn *nc, const void *data, size_t len);
TERN_API int tern_netconn_sendto(tern_netconn *nc, const void *data,
                                 size_t len, const tern_addr *to);
/* TCP half-close: rx drops what is queued and refuses more, tx sends FIN
 * after the queued data. */
TERN_API int tern_netconn_shutdown(tern_netconn *nc, bool rx, bool tx);
/* Close (TCP: graceful, FIN after queued data; RST if received data is
 * left unread) and free. Threads blocked in this netconn wake up with
 * TERN_ECLOSED. nc must not be used after this returns. With a linger
 * time (tern_netconn_set_linger) of 0 the connection is reset instead;
 * with N > 0 close first waits up to N seconds until the peer has
 * acknowledged everything written, then closes as usual (returning
 * TERN_ETIMEDOUT if the time ran out; the FIN still follows the data). */
TERN_API int tern_netconn_close(tern_netconn *nc);
/* Local (local = true) or peer address. TERN_ENOTCONN for a peer that is
 * not known. */
TERN_API int tern_netconn_getaddr(tern_netconn *nc, tern_addr *out,
                                  bool local);
/* The pending error of a failed connection (0 if none); reading clears
 * it when clear is true (SO_ERROR). */
TERN_API int tern_netconn_err(tern_netconn *nc, bool clear);

/* Timeouts in ms; negative: block forever [-1]. */
TERN_API void tern_netconn_set_recvtimeout(tern_netconn *nc, int ms);
TERN_API void tern_netconn_set_sendtimeout(tern_netconn *nc, int ms);
TERN_API int tern_netconn_get_recvtimeout(const tern_netconn *nc);
TERN_API int tern_netconn_get_sendtimeout(const tern_netconn *nc);
TERN_API void tern_netconn_set_nonblocking(tern_netconn *nc, bool on);
/* Linger on close, in seconds: negative off [-1], 0 reset, N wait up to
 * N s for the data to be acknowledged (SO_LINGER). */
TERN_API void tern_netconn_set_linger(tern_netconn *nc, int secs);
TERN_API int tern_netconn_get_linger(const tern_netconn *nc);
TERN_API bool tern_netconn_is_nonblocking(const tern_netconn *nc);
/* Units (segments, datagrams, connections) the receive mailbox holds
 * [32]. A full TCP mailbox leaves the data in the stack (unacknowledged
 * by the window, never dropped); a full UDP one drops datagrams. */
TERN_API void tern_netconn_set_recv_max(tern_netconn *nc, uint32_t n);
/* Bytes waiting in the receive mailbox (FIONREAD). */
TERN_API size_t tern_netconn_rx_bytes(tern_netconn *nc);
/* Units waiting (0: a recv would block, unless an error or EOF). */
TERN_API uint32_t tern_netconn_rx_count(tern_netconn *nc);
/* Room in the TCP send buffer (0 for UDP: always writable). */
TERN_API uint32_t tern_netconn_sndbuf(tern_netconn *nc);

/* TCP buffer sizes in bytes (0: leave as is): the send buffer and the
 * receive window. They take effect for connections made after the call
 * (set them before connect or listen; accepted connections inherit the
 * listener's). */
TERN_API int tern_netconn_set_bufs(tern_netconn *nc, uint32_t snd_buf,
                                   uint32_t rcv_buf);

/* TCP options (any time after new). */
TERN_API int tern_netconn_set_nodelay(tern_netconn *nc, bool on);
TERN_API int tern_netconn_set_keepalive(tern_netconn *nc, uint32_t idle_ms,
                                        uint32_t intvl_ms, uint32_t count);

/* IP header fields of what the netconn sends (any type, any time after
 * new; TCP: also for a connection made later): TTL 1..255 (0: the
 * stack's default) and TOS 0..255; a negative value leaves that one as
 * it is (IP_TTL, IP_TOS). get: the TTL in effect and the TOS. */
TERN_API int tern_netconn_set_ip(tern_netconn *nc, int ttl, int tos);
TERN_API int tern_netconn_get_ip(tern_netconn *nc, int *ttl, int *tos);

/* Multicast on UDP netconns (TERN_ENABLE_IGMP, else TERN_ENOTSUP; other
 * types: TERN_ENOTSUP). Join or leave group on the netif with address
 * ifaddr (NULL or any: the default netif); the stack then receives the
 * group's datagrams, for every UDP netconn bound to their port (as
 * Linux). Closing the netconn leaves what it joined. At most 20 groups
 * per netconn (TERN_ENOSPC); joining one twice: TERN_EADDRINUSE; leaving
 * one not joined: TERN_EADDRNOTAVAIL. (lwIP's netconn_join_leave_group.) */
TERN_API int tern_netconn_join_leave(tern_netconn *nc, const tern_addr *group,
                                     const tern_addr *ifaddr, bool join);
/* Sending to groups: TTL 0..255 [1], the netif by its address (any: the
 * route's choice) [any], loop: a copy to this host's own members [1].
 * Negative ttl/loop or NULL ifaddr leave that one as it is
 * (IP_MULTICAST_TTL, _IF, _LOOP). */
TERN_API int tern_netconn_set_mcast(tern_netconn *nc, int ttl,
                                    const tern_addr *ifaddr, int loop);
TERN_API int tern_netconn_get_mcast(tern_netconn *nc, int *ttl,
                                    tern_addr *ifaddr, bool *loop);

#ifdef __cplusplus
}
#endif
#endif /* TERN_NETCONN_H */
