/* tern/fi.h: fault injection: named faults that make chosen calls fail,
 * so tests (and people) can walk the error paths on purpose.
 *
 * A spec lists faults, comma-separated; each is a name with an optional
 * rule in parentheses:
 *
 *   conn/connect               always
 *   dns/drop(25%)              with probability 25 % (decimals allowed)
 *   conn/send(3..5)            the 3rd, 4th and 5th passes (3.. : from the
 *                              3rd on; ..2 : the first two)
 *   udp/rxdrop(..X)            a pattern, repeated: '.' passes, 'X' fails
 *   seed=42                    the random generator's seed (default 1), so
 *                              a run can be repeated exactly
 *   conn/close(after=200)      a parameter: the delay of a timed fault in
 *   conn/close(50%,after=200)  ms, alone or with a rule
 *
 *   TERN_FI='dns/drop(10%),conn/send(5..)' TERN_FI_SEED=7 ./app
 *
 * Faults wired in so far (each named where it acts):
 *   conn/connect  a TCP connect fails (TERN_ECONNREFUSED, asynchronously)
 *   conn/blackhole  a happy-eyeballs connect attempt (tern_connect to a
 *                 name, TCP) never finishes, as if its SYN went nowhere
 *   conn/send     tern_send/tern_sendv fail and the connection ends
 *                 (TERN_EPIPE), as if the peer had gone
 *   conn/close    (after=MS, default 1000) a TCP connection, once
 *                 established (accepted or connected), is reset MS ms
 *                 later: ERROR then CLOSE with TERN_ECONNRESET; the rule
 *                 picks which connections
 *   mem/alloc     an allocation of the core fails as if malloc returned
 *                 NULL: connection objects, their receive and send
 *                 buffers, the cork; the HTTP server's per-connection and
 *                 per-request state and request copies; WebSocket objects
 *                 (each point goes through tern_fi_malloc/calloc)
 *   udp/rxdrop    a received datagram is dropped
 *   udp/send      sending a datagram fails (TERN_ENETUNREACH); the
 *                 connection stays
 *   conn/rxdrop   the same, under the name the examples use (a
 *                 TCP byte stream is never cut: use the built-in stack's
 *                 link impairments for segment loss)
 *   dns/drop      a DNS answer is lost (the client retries)
 *   dns/fail      a DNS lookup fails at once (TERN_ERESOLVE)
 *   rm/notify_arm an rm notify arm fails (TERN_ENOMEM to the client)
 *   rm/pulse_send an rm pulse to a client fails; the client is dropped
 *                 (both: tern_rm_dispatch_set_fi)
 *
 * Unset, it costs a NULL pointer test at each point. Thread-safe.
 */
#ifndef TERN_FI_H
#define TERN_FI_H

#include "tern/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_fi tern_fi;

#define TERN_FI_MAX 16

/* TERN_EINVAL for a spec that does not parse (and *out untouched). */
TERN_API int tern_fi_new(const char *spec, tern_fi **out);
/* From TERN_FI (and TERN_FI_SEED): *out NULL when TERN_FI is unset. */
TERN_API int tern_fi_from_env(tern_fi **out);
TERN_API void tern_fi_free(tern_fi *fi);

/* One pass of the named point: true if it must fail now. fi may be NULL. */
TERN_API bool tern_fi_hit(tern_fi *fi, const char *name);
/* How often the fault has been passed / has fired. */
TERN_API uint64_t tern_fi_passes(tern_fi *fi, const char *name);
TERN_API uint64_t tern_fi_fired(tern_fi *fi, const char *name);
/* The fault's after=MS, 0 if it has none (or fi is NULL, or no such). */
TERN_API uint32_t tern_fi_after_ms(tern_fi *fi, const char *name);

/* The allocation wrapper: NULL when "mem/alloc" fires, else malloc's /
 * calloc's answer. fi may be NULL (then exactly malloc / calloc). */
TERN_API void *tern_fi_malloc(tern_fi *fi, size_t n);
TERN_API void *tern_fi_calloc(tern_fi *fi, size_t n, size_t size);

#ifdef __cplusplus
}
#endif

#endif
