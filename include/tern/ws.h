/* tern/ws.h: WebSocket (RFC 6455), server and client, on the connection
 * API.
 *
 * Protocols are registered by name with one callback and the size of the
 * per-session data tern allocates for each connection. The callback gets
 * a reason:
 *
 *   reason             when                                   msg
 *   ESTABLISHED        handshake done (first)                  -
 *   RECEIVE            a whole message (or, with fragments on,  data, len,
 *                      each piece of one: first/last tell)      binary, first, last
 *   WRITEABLE          after tern_ws_want_writable(), once the  -
 *                      send queue has room
 *   PONG               a Pong arrived                           data, len
 *   CLOSED             the connection is gone (last, exactly    close_code,
 *                      once, also after a failed handshake on   data = reason
 *                      the client side)
 *
 * Session data: zero-filled once when the connection is accepted (or the
 * client connection made), at the same address until CLOSED returns, then
 * freed. tern_ws_send() takes a pointer and a length (no padding) and may
 * be called several times in one callback; it queues the frame (all or
 * nothing, bounded by the connection's send limit: TERN_ENOSPC when full;
 * check tern_ws_queued()).
 *
 * Protocol errors fail the connection with the close code RFC 6455 names
 * (1002 framing, 1007 invalid UTF-8 in text, 1009 message too big); text
 * messages are validated incrementally and fail as soon as a bad byte
 * arrives, even across fragments.
 */
#ifndef TERN_WS_H
#define TERN_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/http.h"
#include "tern/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_ws tern_ws;

typedef enum tern_ws_reason {
  TERN_WS_ESTABLISHED,
  TERN_WS_RECEIVE,
  TERN_WS_WRITEABLE,
  TERN_WS_PONG,
  TERN_WS_CLOSED
} tern_ws_reason;

typedef enum tern_ws_type {
  TERN_WS_TEXT = 1,
  TERN_WS_BINARY = 2,
  TERN_WS_PING = 9,
  TERN_WS_PONG_FRAME = 10
} tern_ws_type;

typedef struct tern_ws_msg {
  const uint8_t *data;
  size_t len;
  bool binary;
  bool first, last;    /* fragments mode: piece position in the message */
  uint16_t close_code; /* CLOSED: peer's code, or 1006 if none was exchanged */
} tern_ws_msg;

/* session: the per-connection data (session_size bytes). */
typedef void (*tern_ws_fn)(tern_ws *ws, tern_ws_reason reason, void *session,
                           const tern_ws_msg *msg, void *ud);

typedef struct tern_ws_protocol {
  const char *name;        /* Sec-WebSocket-Protocol token, or NULL for none */
  tern_ws_fn fn;
  void *ud;
  size_t session_size;     /* bytes of per-session data */
  size_t max_message;      /* default 1 MiB; more: close 1009 */
  bool fragments;          /* deliver large messages piece by piece */
  uint32_t ping_ms;        /* send a Ping after this long idle (0: never) */
  uint32_t pong_timeout_ms;/* no Pong in time: the connection is dropped */
} tern_ws_protocol;

/* Server: accept upgrades on path ("/echo") for these protocols (copied;
 * the first is used when the client offers none). A GET on path without
 * an upgrade gets 426 (Upgrade Required). */
TERN_API int tern_ws_route(tern_http_server *s, const char *path,
                           const tern_ws_protocol *protos, size_t n);

/* Client: connect to "ws://host:port/path" with one protocol. The
 * callback gets ESTABLISHED, or CLOSED if the handshake fails. */
TERN_API int tern_ws_connect(tern_mgr *m, const char *url,
                             const tern_ws_protocol *proto, tern_ws **out);

/* Send one message. TEXT must be valid UTF-8 (TERN_EINVAL otherwise).
 * TERN_ECLOSED once a Close was sent or received. */
TERN_API int tern_ws_send(tern_ws *ws, const void *data, size_t len,
                          tern_ws_type type);
/* Start the closing handshake with code and reason (<= 123 bytes). */
TERN_API int tern_ws_close(tern_ws *ws, uint16_t code, const char *reason);
/* One WRITEABLE when the send queue is at or below its low-water mark. */
TERN_API void tern_ws_want_writable(tern_ws *ws);
/* WRITEABLE for every established connection of the named protocol on
 * server s (NULL name: the nameless protocol). */
TERN_API void tern_ws_want_writable_all(tern_http_server *s, const char *name);
TERN_API size_t tern_ws_queued(const tern_ws *ws);
TERN_API void *tern_ws_session(const tern_ws *ws);
TERN_API tern_conn *tern_ws_conn(const tern_ws *ws);
/* The protocol chosen in the handshake ("" when none). */
TERN_API const char *tern_ws_protocol_name(const tern_ws *ws);
/* Count of established connections on server s. */
TERN_API size_t tern_ws_count(const tern_http_server *s);

#ifdef __cplusplus
}
#endif
#endif /* TERN_WS_H */
