/* tern/conmon.h: connection monitoring for client connections (the
 * analog of libwebsockets' conmon): where the time of a tern_connect went
 * (DNS, socket connect, TLS, first response), which addresses the name
 * resolved to, and every connection attempt made (happy eyeballs, RFC
 * 8305, races several: the losers are recorded too).
 *
 *   tern_mgr_set_conmon(m, true);           // or tern_conn_conmon_enable(c)
 *   tern_connect(m, "tcp://example.com:80", fn, ud, &c);
 *   ...
 *   case TERN_EV_CLOSE: {                   // or any time before
 *     tern_conmon *cm = tern_conn_conmon_take(c);   // now the caller's
 *     tern_conmon_info i;
 *     tern_conmon_get(cm, &i);
 *     printf("dns %u us, connect %u us\n", i.dns_us, i.connect_us);
 *     tern_conmon_free(cm);
 *   }
 *
 * Ownership: a connection that records owns its tern_conmon until the
 * user takes it (tern_conn_conmon_take); then the user frees it, whenever
 * they like, the connection being gone or not. One not taken is freed
 * with the connection, after its CLOSE handler returns (so taking it in
 * CLOSE is the usual way to keep the whole story). Taking it ends the
 * recording: what happens afterwards (the first byte, say) is not added.
 *
 * Cost: nothing for connections that do not record (a NULL test at the
 * points below); a recording connection holds one allocation of about
 * 1.5 KiB and reads the microsecond clock at each step.
 *
 * Times are microseconds, from tern_connect unless said otherwise, read
 * with tern_clock_us().
 */
#ifndef TERN_CONMON_H
#define TERN_CONMON_H

#include "tern/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_conmon tern_conmon;

#define TERN_CONMON_MAX_ADDRS 16    /* DNS results kept */
#define TERN_CONMON_MAX_ATTEMPTS 16 /* connection attempts kept */

typedef struct tern_conmon_attempt {
  tern_addr addr;    /* with the port */
  uint32_t start_us; /* since tern_connect */
  uint32_t end_us;   /* since tern_connect; 0 while in progress */
  /* TERN_OK: this attempt connected (the winner); TERN_ECANCELED: it
   * lost the race (another connected first) or the connection ended
   * before it finished; TERN_EINPROGRESS: still going when the record was
   * taken; otherwise why it failed (TERN_ECONNREFUSED, ...). */
  int result;
} tern_conmon_attempt;

typedef struct tern_conmon_info {
  const char *host;   /* the name asked; "" for an IP literal */
  /* TERN_OK once connected, TERN_EINPROGRESS before, else the error that
   * ended the connect (TERN_ERESOLVE, TERN_ECONNREFUSED, ...). */
  int result;
  int dns_status;     /* TERN_OK: some addresses; else the resolver's error */
  uint32_t dns_us;    /* tern_connect to the last answer (0: no lookup) */
  uint32_t dns6_us;   /* when the IPv6 (AAAA) answer came, 0: none */
  uint32_t dns4_us;   /* when the IPv4 (A) answer came, 0: none */
  uint32_t connect_us;    /* first attempt started to connected (the
                             whole race, not just the winner's part) */
  uint32_t tls_us;        /* TLS handshake: always 0 (tern has no TLS) */
  uint32_t first_byte_us; /* connected to the first byte received, 0: none
                             yet (the time to the first response) */
  size_t ndns;            /* addresses the name resolved to */
  const tern_addr *dns;   /* in the resolver's order, port 0 */
  size_t nattempts;
  const tern_conmon_attempt *attempts; /* in the order started */
} tern_conmon_info;

/* Client connections made on m from now on record (on: true) or not. */
TERN_API void tern_mgr_set_conmon(tern_mgr *m, bool on);
/* Make this client connection record, e.g. right after tern_connect or
 * in its OPEN handler (steps already behind it are not in the record).
 * TERN_EINVAL: not a client connection, or it has ended; TERN_ENOMEM.
 * Recording already: TERN_OK. */
TERN_API int tern_conn_conmon_enable(tern_conn *c);
/* The record, still the connection's (NULL: not recording). Valid until
 * the connection's CLOSE handler returns or the record is taken. */
TERN_API const tern_conmon *tern_conn_conmon(const tern_conn *c);
/* Take the record: it is the caller's now (free it with
 * tern_conmon_free) and the connection stops recording. NULL: the
 * connection does not record, or it was taken already. */
TERN_API tern_conmon *tern_conn_conmon_take(tern_conn *c);

/* Read a record. The pointers in *out are valid while cm is. */
TERN_API void tern_conmon_get(const tern_conmon *cm, tern_conmon_info *out);
TERN_API void tern_conmon_free(tern_conmon *cm);

#ifdef __cplusplus
}
#endif
#endif /* TERN_CONMON_H */
