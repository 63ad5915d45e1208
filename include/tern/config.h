/* tern/config.h: compile-time switches and the export macro.
 *
 * Every feature that can be left out of a build has a TERN_ENABLE_* flag
 * here with a one-line reason. A build system may predefine any of them
 * (-DTERN_ENABLE_LOG=0); the defaults are what a Linux host wants.
 * Run-time limits (buffer sizes, timeouts, caps) are NOT here: they are
 * settings with defaults, see tern_limits in net.h.
 */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

/* Bare metal: 1 builds base, the port layer (src/port/nosys/) and the
 * built-in stack for a microcontroller without an OS or POSIX headers,
 * driven by a superloop (make arm). It changes the defaults below: no
 * logging, no host sockets, no resolver thread. The application provides
 * the millisecond clock and the stack's random source (tern/port.h). */
#ifndef TERN_NO_SYS
#define TERN_NO_SYS 0
#endif
#if TERN_NO_SYS
#ifndef TERN_ENABLE_LOG
#define TERN_ENABLE_LOG 0
#endif
#ifndef TERN_ENABLE_SOCK
#define TERN_ENABLE_SOCK 0
#endif
#ifndef TERN_ENABLE_RESOLVER_THREAD
#define TERN_ENABLE_RESOLVER_THREAD 0
#endif
#endif

/* Logging. 0 compiles every tern_log call out (smallest firmware). */
#ifndef TERN_ENABLE_LOG
#define TERN_ENABLE_LOG 1
#endif

/* Lowest log level compiled in (TERN_LOG_ERROR=0 .. TERN_LOG_TRACE=4).
 * Calls below this floor cost nothing at run time. */
#ifndef TERN_LOG_FLOOR
#define TERN_LOG_FLOOR 4
#endif

/* The host-sockets backend of the connection API (needs POSIX sockets). */
#ifndef TERN_ENABLE_SOCK
#define TERN_ENABLE_SOCK 1
#endif

/* Blocking getaddrinfo() on a helper thread for client names. Without it
 * tern_connect() accepts numeric addresses only. */
#ifndef TERN_ENABLE_RESOLVER_THREAD
#define TERN_ENABLE_RESOLVER_THREAD 1
#endif

/* Bytes a connection's sends made while it handles a READ event are
 * gathered into (one buffer per manager), then written with one system
 * call when the handler returns: a handler answering several pipelined
 * requests or WebSocket messages costs one write, not one per answer.
 * 0 turns gathering off. */
#ifndef TERN_NET_CORK_BYTES
#define TERN_NET_CORK_BYTES 4096
#endif

/* Raw IPv4 pcbs in the built-in stack (tern_raw_*, SOCK_RAW, netconn
 * RAW): about 0.5 KB of stack text; 0 leaves them out. */
#ifndef TERN_ENABLE_IP_RAW
#define TERN_ENABLE_IP_RAW 1
#endif

/* IPv4 multicast in the built-in stack: IGMPv2 membership (RFC 2236),
 * receiving datagrams sent to joined groups, the multicast socket
 * options. 0 leaves it out: multicast datagrams are then received like
 * broadcasts (every group) and no reports are sent. */
#ifndef TERN_ENABLE_IGMP
#define TERN_ENABLE_IGMP 1
#endif

/* Export macro: the library is built with -fvisibility=hidden and only
 * functions marked TERN_API are visible in libtern.so. */
#if defined(TERN_BUILDING) && defined(__GNUC__)
#define TERN_API __attribute__((visibility("default")))
#else
#define TERN_API
#endif

#endif /* TERN_CONFIG_H */
