/* tern/sntp.h: an SNTP client (RFC 4330; RFC 5905 client mode) over the
 * connection API.
 *
 *   tern_sntp_opts o = {.servers = "127.0.0.1:123, ntp.example", .on_sample = f};
 *   tern_sntp *s;
 *   tern_sntp_new(mgr, &o, &s);        // first sync starts at once
 *
 * A sync asks every server at once (each request from a fresh UDP socket
 * with a random transmit timestamp that the reply must echo), waits for
 * the answers or a timeout that doubles per try, and takes the answer
 * with the smallest round-trip delay. Replies are checked (server mode,
 * version, origin, leap alarm, stratum); a kiss-o'-death makes the client
 * leave that server alone (RATE: for four intervals; DENY, RSTR: for
 * good). Syncs repeat every interval_s (retry_s after a failure).
 *
 * The host clock is never touched unless set_clock is given: by default
 * the client only reports (on_sample, tern_sntp_last).
 */
#ifndef TERN_SNTP_H
#define TERN_SNTP_H

#include "tern/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_sntp tern_sntp;

typedef struct tern_sntp_sample {
  /* TERN_OK; TERN_ETIMEDOUT (no usable answer); TERN_EAGAIN (every
   * server said go away, kiss-o'-death) */
  int status;
  int64_t offset_us; /* server clock minus local clock */
  int64_t delay_us;  /* round trip, minus the server's own time */
  uint8_t stratum;
  tern_addr server;
  int64_t at_us;     /* local wall clock (tern_clock_wall_us) of the answer */
} tern_sntp_sample;

typedef struct tern_sntp_opts {
  /* "IP", "IP:port", "[IPv6]:port" or "name[:port]" (port 123 if none),
   * separated by commas or spaces, at most 8. Names are resolved by the
   * manager's resolver (tern_connect). Required. */
  const char *servers;
  uint32_t timeout_ms; /* first try's wait; 0: 1000 */
  uint32_t attempts;   /* tries per sync; 0: 3 */
  uint32_t interval_s; /* between good syncs; 0: 3600 */
  uint32_t retry_s;    /* after a failed sync; 0: 60 */
  /* If set, the waits after failed syncs in a row follow this policy
   * (tern/retry.h) instead of retry_s; a good sync starts it over. */
  const struct tern_retry_policy *retry;
  /* After each sync, good or not (from the loop). */
  void (*on_sample)(tern_sntp *s, const tern_sntp_sample *smp, void *ud);
  /* Step the clock by offset_us after a good sync; NULL: report only. */
  void (*set_clock)(int64_t offset_us, void *ud);
  void *ud;
} tern_sntp_opts;

/* TERN_EINVAL: no servers, or one that cannot be parsed. */
TERN_API int tern_sntp_new(tern_mgr *m, const tern_sntp_opts *opts,
                           tern_sntp **out);
/* Not from inside its own callbacks; before the manager is freed. */
TERN_API void tern_sntp_free(tern_sntp *s);
/* Start a sync now. If one is running, it goes on, and should it fail a
 * new one starts at once instead of after the retry wait (call this when
 * the network comes up). */
TERN_API void tern_sntp_sync(tern_sntp *s);
/* The last good sample; false if there has been none. */
TERN_API bool tern_sntp_last(const tern_sntp *s, tern_sntp_sample *out);

#ifdef __cplusplus
}
#endif

#endif
