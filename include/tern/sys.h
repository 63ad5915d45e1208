/* tern/sys.h: system states with notifiers that may hold a step, attach
 * from any thread until a state is reached, and SMD, a small-message bus
 * (lws_system's shapes, without its caller-supplied locking).
 *
 *   tern_sys *sys;
 *   tern_sys_new(mgr, NULL, &sys);                 // CONTEXT_CREATED
 *   tern_sys_attach(sys, TERN_SYS_OPERATIONAL, when_up, ctx);  // any thread
 *   tern_sys_advance(sys, TERN_SYS_OPERATIONAL);   // step by step
 *
 * States move forward one at a time. Every step is offered to each
 * notifier; one that returns false holds the system in the current state
 * until it calls tern_sys_resume (a DHCP client holds the step into DHCP
 * until it has a lease, an SNTP client TIME_VALID until the time is
 * known). Each completed step is published on SMD (TERN_SMD_SYSTEM) and
 * runs the attachments waiting for it.
 *
 * Threads: tern_sys_attach and tern_smd_publish may be called from any
 * thread (they take a mutex and wake the loop); everything else belongs to
 * the loop thread.
 */
#ifndef TERN_SYS_H
#define TERN_SYS_H

#include "tern/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_sys_state {
  TERN_SYS_CONTEXT_CREATED,
  TERN_SYS_INITIALIZED,
  TERN_SYS_IFACE_COLDPLUG,
  TERN_SYS_DHCP,
  TERN_SYS_CPD,          /* captive portal detection */
  TERN_SYS_TIME_VALID,
  TERN_SYS_POLICY_VALID,
  TERN_SYS_REGISTERED,
  TERN_SYS_AUTH1,
  TERN_SYS_AUTH2,
  TERN_SYS_OPERATIONAL,
  TERN_SYS_CONTEXT_DESTROYING,
  TERN_SYS_STATE_COUNT
} tern_sys_state;

typedef struct tern_sys tern_sys;

typedef struct tern_sys_opts {
  uint32_t smd_queue;  /* messages queued at most; 0: 64 */
  uint32_t smd_ttl_ms; /* a message older than this when its turn comes is
                          dropped; 0: 5000 */
  uint32_t max_attach; /* attachments waiting at once (any thread); more
                          are refused with TERN_ENOSPC; 0: 1024 */
} tern_sys_opts;

/* "OPERATIONAL" etc.; "?" for a value out of range. */
TERN_API const char *tern_sys_state_name(tern_sys_state st);

TERN_API int tern_sys_new(tern_mgr *m, const tern_sys_opts *opts,
                          tern_sys **out);
/* Steps to CONTEXT_DESTROYING (notifiers are told, cannot hold it), then
 * every attachment still waiting runs with TERN_ECANCELED, subscribers
 * are dropped and the object is freed. Loop thread; no tern_sys_attach or
 * tern_smd_publish may start after it has begun (as for tern_loop_call). */
TERN_API void tern_sys_free(tern_sys *s);

TERN_API tern_sys_state tern_sys_current(const tern_sys *s);

/* A step from -> to is proposed: return true to let it happen, false to
 * hold it (then call tern_sys_resume when done). */
typedef bool (*tern_sys_notify_fn)(tern_sys *s, tern_sys_state from,
                                   tern_sys_state to, void *ud);
typedef struct tern_sys_notifier tern_sys_notifier;
TERN_API int tern_sys_notifier_add(tern_sys *s, tern_sys_notify_fn fn,
                                   void *ud, tern_sys_notifier **out);
TERN_API void tern_sys_notifier_remove(tern_sys_notifier *n);

/* Move toward target (never backwards: a target at or before the current
 * state is TERN_OK and does nothing). Steps happen now, inside this call,
 * until a notifier holds one. */
TERN_API int tern_sys_advance(tern_sys *s, tern_sys_state target);
/* A holder is done: propose the held step again and go on. */
TERN_API void tern_sys_resume(tern_sys *s);

/* Run fn(s, opaque, TERN_OK) on the loop thread once the system has
 * reached state (from the loop soon after, if it already has), exactly
 * once; or fn(s, opaque, TERN_ECANCELED) if the system is freed first.
 * Any thread. An error return (TERN_ENOMEM, TERN_ECLOSED while freeing,
 * TERN_ENOSPC if max_attach are waiting or the loop cannot be woken)
 * means fn will not run. */
typedef void (*tern_sys_attach_fn)(tern_sys *s, void *opaque, int status);
TERN_API int tern_sys_attach(tern_sys *s, tern_sys_state state,
                             tern_sys_attach_fn fn, void *opaque);

/* ---- bring-up gates ------------------------------------------------ */

struct tern_sntp;
typedef struct tern_sys_gate tern_sys_gate;
/* Hold the step into TIME_VALID until sntp (tern/sntp.h) has its first
 * good sample. Free the gate before the system and the SNTP client;
 * freeing it lets a held step go. Loop thread. */
TERN_API int tern_sys_gate_time(tern_sys *s, struct tern_sntp *sntp,
                                tern_sys_gate **out);
/* Hold the step into DHCP (an interface is configured) until the DHCP
 * client d (tern/dhcp.h) has a lease; while held the system stays in
 * IFACE_COLDPLUG. The client must run on the system's loop thread
 * (tern_ip_host). Free the gate before the system and the client.
 * Loop thread. Only in builds with the built-in stack. */
struct tern_dhcp;
TERN_API int tern_sys_gate_dhcp(tern_sys *s, struct tern_dhcp *d,
                                tern_sys_gate **out);
TERN_API void tern_sys_gate_free(tern_sys_gate *g);

/* ---- SMD: system message distribution ------------------------------ */

/* Classes (bit masks); users take bits from TERN_SMD_USER up. */
#define TERN_SMD_SYSTEM (1u << 0)      /* state changes: tern_smd_state */
#define TERN_SMD_NETWORK (1u << 1)
#define TERN_SMD_METRICS (1u << 2)
#define TERN_SMD_INTERACTION (1u << 3)
#define TERN_SMD_USER (1u << 8)
#define TERN_SMD_MAX_PAYLOAD 384

typedef struct tern_smd_state {     /* payload of TERN_SMD_SYSTEM */
  uint8_t from, to;                 /* tern_sys_state */
} tern_smd_state;

typedef struct tern_smd_msg {
  uint32_t cls;
  uint64_t published_ms; /* tern_clock_ms() when published */
  size_t len;
  const void *payload;   /* valid during the callback only */
} tern_smd_msg;

typedef void (*tern_smd_fn)(tern_sys *s, const tern_smd_msg *msg, void *ud);
typedef struct tern_smd_sub tern_smd_sub;

/* Loop thread. Messages of any class in mask, in the order published. */
TERN_API int tern_smd_subscribe(tern_sys *s, uint32_t mask, tern_smd_fn fn,
                                void *ud, tern_smd_sub **out);
/* Loop thread; safe from inside a tern_smd_fn (also for another sub). */
TERN_API void tern_smd_unsubscribe(tern_smd_sub *sub);
/* Any thread. The payload (at most TERN_SMD_MAX_PAYLOAD bytes) is copied.
 * TERN_OK also when no one listens to cls (then nothing is queued);
 * TERN_ENOSPC when the queue is full; TERN_EMSGSIZE; TERN_ECLOSED. */
TERN_API int tern_smd_publish(tern_sys *s, uint32_t cls, const void *payload,
                              size_t len);

/* Publish the metrics of reg (tern/metrics.h) on TERN_SMD_METRICS every
 * period_ms (0 stops; reg NULL too): the samples that changed since the
 * last period (all of them the first time), as Prometheus sample lines
 * "name{labels} value\n" packed whole into messages of at most
 * TERN_SMD_MAX_PAYLOAD bytes, in the registry's order; a period's lines
 * arrive in consecutive messages. Nothing is gathered while no one
 * subscribes to TERN_SMD_METRICS. One publisher per registry (it keeps
 * what it last gave in the registry). reg must outlive the publishing.
 * Loop thread. */
struct tern_metrics;
TERN_API int tern_sys_metrics_publish(tern_sys *s, struct tern_metrics *reg,
                                      uint32_t period_ms);

typedef struct tern_smd_stats {
  uint64_t published, delivered, dropped_full, dropped_ttl, unheard;
} tern_smd_stats;
TERN_API void tern_smd_get_stats(tern_sys *s, tern_smd_stats *out);

#ifdef __cplusplus
}
#endif

#endif
