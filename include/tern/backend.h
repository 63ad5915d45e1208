/* tern/backend.h: the interface between the connection core and a network.
 *
 * The core (src/net/conn.c) never calls a socket function. It talks to a
 * backend through the operations below, and the backend reports back by
 * calling the tern_core_* functions. Two backends ship: "sock" (host BSD
 * sockets, src/net/backend_sock.c) and "ip" (tern's own TCP/IP stack).
 * A third (an RTOS's stack) implements the same table.
 *
 * Per-connection state: the core allocates each tern_conn with conn_size
 * extra bytes for the backend (one allocation per connection); the backend
 * reaches them with tern_core_conn_priv(c).
 *
 * Rules:
 *  - Everything runs on the manager's loop thread.
 *  - Receive window: the backend delivers at most `window` unconsumed
 *    bytes (tern_core_received), where window starts at the rx limit the
 *    core passes; the core returns consumed bytes with recved(), which
 *    opens the window again (a TCP backend advertises it; the sock backend
 *    resumes reading).
 *  - After close() returns, the backend never calls the core for that
 *    connection again and must not touch its priv area.
 *  - tern_core_closed() reports that the network ended the connection
 *    (reset, error); the core then calls close() to release it.
 */
#ifndef TERN_BACKEND_H
#define TERN_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/base.h"
#include "tern/loop.h"
#include "tern/net.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tern_backend {
  const char *name;
  size_t conn_size; /* bytes of per-connection state the backend needs */

  /* Create the backend's instance for a manager; *state is passed to every
   * operation. arg is tern_mgr_opts.backend_arg. */
  int (*create)(tern_mgr *m, tern_loop *loop, void *arg, void **state);
  /* Called after every connection of the manager is closed. */
  void (*destroy)(void *state);

  /* Bind and listen. addr's port may be 0. On success the local address
   * is known (tern_core_set_local). */
  int (*listen_tcp)(void *state, tern_conn *c, const tern_addr *addr,
                    uint32_t backlog);
  int (*listen_udp)(void *state, tern_conn *c, const tern_addr *addr);
  /* Start connecting; completion is reported with tern_core_connected(),
   * never from inside this call. */
  int (*connect_tcp)(void *state, tern_conn *c, const tern_addr *addr);
  /* UDP "connect": fixes the peer; ready at once (no callback). */
  int (*connect_udp)(void *state, tern_conn *c, const tern_addr *addr);
  /* Take over an OS handle (host sockets only; may be NULL). Sets
   * *is_listener / *is_udp from what the handle is. */
  int (*adopt)(void *state, tern_conn *c, intptr_t handle, bool *is_listener,
               bool *is_udp);

  /* Hand up to len bytes to the network. Returns the number taken (the
   * caller keeps the rest and retries after tern_core_writable()), or a
   * negative tern_err if the connection is broken. */
  long (*send)(void *state, tern_conn *c, const void *data, size_t len);
  /* Optional: like send for several pieces in order (a gathered write).
   * NULL: the core calls send for each piece. */
  long (*sendv)(void *state, tern_conn *c, const tern_iov *iov, size_t n);
  /* One datagram; TERN_EAGAIN if there is no room for it now. */
  int (*sendto)(void *state, tern_conn *c, const tern_addr *to,
                const void *data, size_t len);
  /* The core has consumed n bytes: open the receive window by n. */
  void (*recved)(void *state, tern_conn *c, size_t n);
  /* The core wants (or no longer wants) tern_core_writable() calls. */
  void (*want_write)(void *state, tern_conn *c, bool on);
  /* Listener: stop or resume accepting (connection cap reached). */
  void (*pause_accept)(void *state, tern_conn *c, bool paused);
  /* Send FIN once everything handed over has been sent. */
  int (*shutdown)(void *state, tern_conn *c);
  /* Release the connection; abort: send RST instead of FIN. */
  void (*close)(void *state, tern_conn *c, bool abort);
  /* Options (may be NULL: not supported). */
  int (*set_nodelay)(void *state, tern_conn *c, bool on);
  /* Optional: hand the resources of connection from (a TCP client just
   * connected) over to connection to (whose priv area is zeroed): from
   * then on the backend reports for to, and from holds nothing (closing
   * it is a no-op). Called from inside tern_core_connected(from). Happy
   * eyeballs (RFC 8305) needs it to race attempts for one connection;
   * NULL: connects to a name try the first address only. */
  int (*move)(void *state, tern_conn *from, tern_conn *to);
};

/* The backend of host BSD sockets. */
TERN_API const tern_backend *tern_backend_sock(void);

/* ---- tern's own TCP/IP stack under a tern loop (TERN_ENABLE_IP) ----- */
/* A tern_ip_host drives a tern_stack (tern/ip.h) from a loop: a timer at
 * the stack's next deadline, and a read watcher per TAP device feeding
 * frames in. The "ip" backend then runs connections on that stack:
 * tern_mgr_opts.backend = tern_backend_ip(), backend_arg = the host. The
 * host, stack and TAP belong to the caller; free the manager first, then
 * the host, then the stack and the TAP. */
typedef struct tern_stack tern_stack;
typedef struct tern_tap tern_tap;
typedef struct tern_ip_host tern_ip_host;
TERN_API int tern_ip_host_new(tern_ip_host **out, tern_loop *loop,
                              tern_stack *st);
TERN_API void tern_ip_host_free(tern_ip_host *h);
/* Watch the TAP's descriptor and feed what it reads. */
TERN_API int tern_ip_host_add_tap(tern_ip_host *h, tern_tap *tap);
/* Re-arm the timer after calling into the stack directly (raw API) from
 * outside the host's own callbacks. */
TERN_API void tern_ip_host_kick(tern_ip_host *h);
TERN_API tern_stack *tern_ip_host_stack(const tern_ip_host *h);
TERN_API const tern_backend *tern_backend_ip(void);

/* ---- calls from a backend into the core ---------------------------- */

/* The backend's per-connection area (conn_size bytes, zeroed at creation). */
TERN_API void *tern_core_conn_priv(tern_conn *c);
/* The state the backend's create() made for this connection's manager. */
TERN_API void *tern_core_backend_state(const tern_conn *c);
/* The receive window the connection starts with (its rx limit). */
TERN_API size_t tern_core_rx_window(const tern_conn *c);
TERN_API void tern_core_set_local(tern_conn *c, const tern_addr *a);
TERN_API void tern_core_set_peer(tern_conn *c, const tern_addr *a);

/* A listener has a new connection. Returns the child connection (its
 * priv area zeroed) for the backend to fill in, or NULL when it must be
 * refused (cap reached, no memory); then call tern_core_accept_commit(). */
TERN_API tern_conn *tern_core_accept_begin(tern_conn *listener);
/* ok=false: the backend could not set the child up; it is freed silently
 * (the user never saw it). ok=true: OPEN and ACCEPT fire. */
TERN_API void tern_core_accept_commit(tern_conn *child, bool ok);
/* Connection attempt finished: err is TERN_OK or the reason it failed. */
TERN_API void tern_core_connected(tern_conn *c, int err);
/* Bytes arrived (TCP) or one datagram (UDP, from = sender). len 0 with
 * data NULL on TCP means the peer sent FIN. */
TERN_API void tern_core_received(tern_conn *c, const void *data, size_t len,
                                 const tern_addr *from);
/* n bytes handed over earlier have left (were sent or acknowledged). */
TERN_API void tern_core_sent(tern_conn *c, size_t n);
/* The backend can take more data (after send() took less than offered). */
TERN_API void tern_core_writable(tern_conn *c);
/* The network ended the connection (err: TERN_ECONNRESET, ...). */
TERN_API void tern_core_closed(tern_conn *c, int err);

#ifdef __cplusplus
}
#endif
#endif /* TERN_BACKEND_H */
