/* tern/base.h: errors, logging, clock, byte buffers, addresses and URLs.
 *
 * The base layer is used by every other layer and has no dependencies but
 * the C library (and a monotonic clock from the port layer on bare metal).
 * Nothing here allocates except tern_buf, and tern_buf never grows past the
 * maximum it was given.
 */
#ifndef TERN_BASE_H
#define TERN_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Every tern function that can fail returns 0 (TERN_OK) or one of these
 * negative codes; none also sets errno. Rule (as in libuv): if a call that
 * takes a callback fails, that callback never runs for it.
 *
 * X(NAME, value, message). Values are tern's own, not errno values, so they
 * mean the same thing on a microcontroller; tern_err_from_errno() maps. */
#define TERN_ERR_MAP(X)                                                  \
  X(EINVAL, -1, "invalid argument")                                     \
  X(ENOMEM, -2, "out of memory")                                        \
  X(EAGAIN, -3, "resource temporarily unavailable")                     \
  X(ENOSPC, -4, "no space left in buffer or queue")                     \
  X(ECONNREFUSED, -5, "connection refused")                             \
  X(ECONNRESET, -6, "connection reset by peer")                         \
  X(ECONNABORTED, -7, "connection aborted")                             \
  X(ETIMEDOUT, -8, "timed out")                                         \
  X(EADDRINUSE, -9, "address already in use")                           \
  X(EADDRNOTAVAIL, -10, "address not available")                        \
  X(ENOTCONN, -11, "not connected")                                     \
  X(EPIPE, -12, "broken pipe")                                          \
  X(ECANCELED, -13, "operation canceled")                               \
  X(ECLOSED, -14, "object is closing or closed")                        \
  X(ENOENT, -15, "no such entry")                                       \
  X(EEXIST, -16, "already exists")                                      \
  X(EBUSY, -17, "busy")                                                 \
  X(EMSGSIZE, -18, "message too long")                                  \
  X(EPROTO, -19, "protocol error")                                      \
  X(ENOTSUP, -20, "operation not supported")                            \
  X(ERESOLVE, -21, "name could not be resolved")                        \
  X(EHOSTUNREACH, -22, "host unreachable")                              \
  X(ENETUNREACH, -23, "network unreachable")                            \
  X(EIO, -24, "input/output error")                                     \
  X(EBADF, -25, "bad descriptor")                                       \
  X(EACCES, -26, "permission denied")                                   \
  X(EPERM, -27, "operation not permitted")                              \
  X(EMFILE, -28, "too many open files")                                 \
  X(ERANGE, -29, "value out of range")                                  \
  X(ELIMIT, -30, "configured limit reached")                            \
  X(EURL, -31, "malformed URL or address")                              \
  X(EAFNOSUPPORT, -32, "address family not supported")                  \
  X(EINPROGRESS, -33, "operation in progress")                          \
  X(EALREADY, -34, "operation already in progress")                     \
  X(EUNKNOWN, -35, "unknown error")

typedef enum tern_err {
  TERN_OK = 0,
#define TERN__ERR_ENUM(name, val, msg) TERN_##name = (val),
  TERN_ERR_MAP(TERN__ERR_ENUM)
#undef TERN__ERR_ENUM
} tern_err;

/* Human-readable message for err ("connection refused"); never NULL.
 * Unknown codes give "unknown error". Present in release builds. */
TERN_API const char *tern_strerror(int err);

/* The symbolic name of err ("TERN_ECONNREFUSED", "TERN_OK"); never NULL. */
TERN_API const char *tern_err_name(int err);

/* Maps a positive POSIX errno value to a tern_err (EUNKNOWN if none fits).
 * Available on hosted builds only. */
TERN_API int tern_err_from_errno(int posix_errno);

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

typedef enum tern_log_level {
  TERN_LOG_ERROR = 0,
  TERN_LOG_WARN = 1,
  TERN_LOG_INFO = 2,
  TERN_LOG_DEBUG = 3,
  TERN_LOG_TRACE = 4
} tern_log_level;

/* A sink receives one formatted line (no trailing newline). */
typedef void (*tern_log_sink_fn)(tern_log_level level, const char *subsys,
                                 const char *line, void *ud);

/* Logging is the one process-wide setting in tern (like a syslog mask):
 * the level, per-subsystem overrides and the sink. All setters are
 * thread-safe. Default: level WARN, sink writes to stderr. */
TERN_API void tern_log_set_level(tern_log_level level);
TERN_API tern_log_level tern_log_get_level(void);
/* Override the level for one subsystem ("net", "loop", ...). At most 16
 * overrides (setting an existing one again replaces it); returns
 * TERN_ENOSPC past that, TERN_EINVAL for a NULL name, a name of 16 bytes
 * or more, or a level outside ERROR..TRACE. Overrides cannot be removed. */
TERN_API int tern_log_set_subsys_level(const char *subsys, tern_log_level level);
/* NULL restores the stderr sink, which writes "<ms> LEVEL subsys: line".
 * The sink is called with the log lock held: lines never interleave, and
 * after this returns the old sink is no longer running. A sink must not
 * call the tern_log_set_* functions; tern_log() calls from inside a sink
 * are dropped. Lines longer than 512 bytes are cut and end in "...". */
TERN_API void tern_log_set_sink(tern_log_sink_fn fn, void *ud);
/* Would a message at level for subsys be emitted now? */
TERN_API bool tern_log_enabled(tern_log_level level, const char *subsys);
TERN_API void tern_log_write(tern_log_level level, const char *subsys,
                             const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Use this macro, not tern_log_write: below TERN_LOG_FLOOR it compiles to
 * nothing, and the arguments are not evaluated unless the level is on. */
#if TERN_ENABLE_LOG
#define tern_log(level, subsys, ...)                                    \
  do {                                                                 \
    if ((level) <= TERN_LOG_FLOOR && tern_log_enabled((level), (subsys))) \
      tern_log_write((level), (subsys), __VA_ARGS__);                   \
  } while (0)
#else
#define tern_log(level, subsys, ...) \
  do {                               \
  } while (0)
#endif

/* ------------------------------------------------------------------ */
/* Clock                                                               */
/* ------------------------------------------------------------------ */

/* Monotonic time since an arbitrary origin; never goes backwards. */
TERN_API uint64_t tern_clock_ms(void);
TERN_API uint64_t tern_clock_us(void);
/* Wall-clock time: microseconds since 1970-01-01 UTC (may step). For
 * timestamps such as SNTP's, never for timeouts. */
TERN_API int64_t tern_clock_wall_us(void);

/* ------------------------------------------------------------------ */
/* Byte views and buffers                                              */
/* ------------------------------------------------------------------ */

/* A view of bytes owned by someone else; not NUL-terminated. */
typedef struct tern_str {
  const char *ptr;
  size_t len;
} tern_str;

/* Compare a view with a C string (case-sensitive / ASCII case-insensitive). */
TERN_API bool tern_str_eq(tern_str s, const char *cstr);
TERN_API bool tern_str_ieq(tern_str s, const char *cstr);

/* A growable byte buffer with a hard maximum. The struct is public so it
 * can be embedded; treat the fields as read-only and use the functions.
 * Unread bytes are data[0..len). Storage is allocated on first append and
 * released by tern_buf_free() or when tern_buf_consume() empties it, so an
 * idle buffer costs sizeof(tern_buf) and nothing else. */
typedef struct tern_buf {
  uint8_t *data; /* first unread byte (NULL when nothing is allocated) */
  size_t len;    /* unread bytes */
  size_t cap;    /* bytes available from data onward */
  size_t max;    /* the buffer never holds more than this */
  uint8_t *base; /* start of the allocation */
} tern_buf;

/* Initialise an empty buffer that will never hold more than max bytes. */
TERN_API void tern_buf_init(tern_buf *b, size_t max);
/* Append n bytes. TERN_ENOSPC if len + n > max (nothing is appended),
 * TERN_ENOMEM if growing failed. Growth is geometric. */
TERN_API int tern_buf_append(tern_buf *b, const void *p, size_t n);
/* Make room for at least n more bytes; returns a pointer to the free space
 * (write there, then tern_buf_commit). NULL on ENOSPC/ENOMEM. n == 0 is
 * taken as 1. cap - len bytes may be written, never past max. */
TERN_API uint8_t *tern_buf_reserve(tern_buf *b, size_t n);
TERN_API void tern_buf_commit(tern_buf *b, size_t n);
/* Drop n bytes from the front (n > len drops all). O(1): no memmove;
 * storage is reused or released when the buffer becomes empty. */
TERN_API void tern_buf_consume(tern_buf *b, size_t n);
/* Release storage; the buffer stays usable (empty, same max). */
TERN_API void tern_buf_free(tern_buf *b);
/* Change the maximum; TERN_ENOSPC if the buffer already holds more. */
TERN_API int tern_buf_set_max(tern_buf *b, size_t max);

/* ------------------------------------------------------------------ */
/* Addresses and URLs                                                  */
/* ------------------------------------------------------------------ */

enum { TERN_AF_UNSPEC = 0, TERN_AF_INET = 4, TERN_AF_INET6 = 6 };

/* An IP address and port, independent of any OS socket structs. */
typedef struct tern_addr {
  uint8_t family;    /* TERN_AF_INET or TERN_AF_INET6 */
  uint16_t port;     /* host byte order */
  uint32_t scope_id; /* IPv6 zone index, 0 if none */
  uint8_t ip[16];    /* network order; IPv4 uses ip[0..3] */
} tern_addr;

/* Longest text tern_addr_format writes: "[v6%scope]:port" plus NUL. */
#define TERN_ADDR_STRLEN 64

/* Parse a numeric IP ("10.0.0.1", "::1", "fe80::1%3"), no port. The port
 * of *out is set to 0. TERN_EURL if it is not a numeric address. */
TERN_API int tern_addr_parse_ip(const char *s, size_t len, tern_addr *out);
/* Parse "ADDR/N" (CIDR: "10.0.0.2/24", "fd00::1/64"): the address as
 * tern_addr_parse_ip, the prefix length (decimal, 0..32 for IPv4, 0..128
 * for IPv6) into *prefix. Both parts are required; TERN_EURL otherwise. */
TERN_API int tern_addr_parse_cidr(const char *s, size_t len, tern_addr *out,
                                  uint8_t *prefix);
/* Parse "ip:port" or "[ipv6]:port"; the port (0..65535) is required.
 * IPv4 is strict dotted-quad: "01.2.3.4", "127.1", "0x7f.0.0.1" are
 * TERN_EURL. A zone is numeric only ("fe80::1%2", not "%eth0"). */
TERN_API int tern_addr_parse(const char *s, size_t len, tern_addr *out);
/* Write "1.2.3.4:80" / "[::1]:80" (or without port if with_port is
 * false); returns the length written, or TERN_ENOSPC (TERN_EINVAL if the
 * family is not INET/INET6). Always NUL ends when size > 0. IPv6 is in
 * RFC 5952 canonical form, IPv4-mapped as "::ffff:1.2.3.4". */
TERN_API int tern_addr_format(const tern_addr *a, bool with_port, char *buf,
                              size_t size);
/* Same family, address, port and (IPv6) zone. */
TERN_API bool tern_addr_eq(const tern_addr *a, const tern_addr *b);
/* 0.0.0.0 or :: (any port). */
TERN_API bool tern_addr_is_any(const tern_addr *a);

/* A parsed URL: views into the string that was parsed (no copies). Missing
 * parts have len 0 (and point into the input where they would have been).
 * host has no brackets ("::1" for "[::1]"). */
typedef struct tern_url {
  tern_str scheme;   /* "tcp", "udp", "http", "https", "ws", "wss", ... */
  tern_str userinfo; /* "user:pass" before '@' */
  tern_str host;     /* name or numeric address, brackets removed */
  tern_str path;     /* from the first '/' up to '?' or '#'; "" if absent */
  tern_str query;    /* after '?', without it */
  tern_str fragment; /* after '#', without it */
  uint16_t port;     /* explicit port, else the scheme's default, else 0 */
  bool port_explicit;
  bool host_is_ip;   /* host is a numeric IPv4/IPv6 address */
  bool tls;          /* scheme is https, wss or tls */
  bool udp;          /* scheme is udp */
  const char *error; /* on failure: a static message saying what is wrong */
} tern_url;

/* Parse "scheme://[userinfo@]host[:port][/path][?query][#fragment]".
 * Reads exactly len bytes (no NUL needed). The scheme is required;
 * tcp://, udp:// and tls:// also require a port, and for them port 0
 * (listen on any port) is allowed; other schemes take 1..65535. Returns
 * TERN_OK, or TERN_EURL with out->error set ("missing port", "port out of
 * range", "unterminated '[' in host", "bad character in host", ...) and
 * every other field zero. Control characters and spaces are refused
 * anywhere; a host is a name of [A-Za-z0-9._-], a strict dotted quad, or a
 * bracketed IPv6 address with an optional numeric zone ("[fe80::1%2]").
 * Known schemes (case-insensitive) and default ports: http 80, https 443,
 * ws 80, wss 443, mqtt 1883. */
TERN_API int tern_url_parse(const char *s, size_t len, tern_url *out);

/* ------------------------------------------------------------------ */
/* SHA-1, base64, UTF-8 (for WebSocket and HTTP)                       */
/* ------------------------------------------------------------------ */

/* SHA-1 (FIPS 180-4). Only for protocol uses that require it (RFC 6455
 * Sec-WebSocket-Accept); not for security. */
typedef struct tern_sha1 {
  uint32_t h[5];
  uint64_t len;      /* bytes hashed so far */
  uint8_t block[64]; /* pending partial block */
} tern_sha1;
TERN_API void tern_sha1_init(tern_sha1 *s);
TERN_API void tern_sha1_update(tern_sha1 *s, const void *data, size_t len);
TERN_API void tern_sha1_final(tern_sha1 *s, uint8_t digest[20]);

/* Base64 (RFC 4648 section 4, with padding). encode writes
 * 4*ceil(len/3) chars plus NUL; returns chars written or TERN_ENOSPC.
 * decode rejects bad characters, bad padding and non-zero pad bits;
 * returns bytes written, TERN_EINVAL or TERN_ENOSPC. */
TERN_API int tern_base64_encode(const void *src, size_t len, char *dst,
                                size_t dst_size);
TERN_API int tern_base64_decode(const char *src, size_t len, uint8_t *dst,
                                size_t dst_size);

/* Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). Feed bytes in any split; the state carries a
 * partial sequence across calls. */
typedef struct tern_utf8 {
  uint32_t state; /* 0: at a character boundary */
} tern_utf8;
enum { TERN_UTF8_OK = 0, TERN_UTF8_PARTIAL = 1, TERN_UTF8_BAD = -1 };
/* Returns TERN_UTF8_BAD as soon as the bytes so far cannot be the start
 * of valid UTF-8 (fail fast), TERN_UTF8_PARTIAL if they end inside a
 * character, TERN_UTF8_OK at a boundary. After BAD the state stays bad. */
TERN_API int tern_utf8_feed(tern_utf8 *u, const uint8_t *p, size_t len);
/* One-shot: is the whole string valid UTF-8? */
TERN_API bool tern_utf8_valid(const uint8_t *p, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* TERN_BASE_H */
