/* tern/acd.h: IPv4 address conflict detection (RFC 5227) on the built-in
 * stack's Ethernet netifs: probe an address before using it, announce it
 * once it is taken, and watch for another host claiming it afterwards.
 *
 *   tern_acd *a;
 *   tern_acd_probe(nif, &addr, on_acd, app, &a);  // nif up, addr not set
 *   ...  on_acd(a, TERN_ACD_FREE, NULL, app): set the address now
 *   ...  on_acd(a, TERN_ACD_IN_USE, mac, app): pick another, free a
 *   tern_acd_free(a);                              // before tern_stack_free
 *
 * Probing (RFC 5227 2.1): after a random 0..PROBE_WAIT (1 s), PROBE_NUM
 * (3) ARP probes (sender IP 0.0.0.0, target the candidate) PROBE_MIN..
 * PROBE_MAX (1..2 s) apart; ANNOUNCE_WAIT (2 s) after the last one the
 * address is free. From the start until then, any ARP packet whose sender
 * IP is the candidate, or any probe for the candidate, from another MAC
 * is a conflict (2.1.1). Once free: ANNOUNCE_NUM (2) announcements
 * ANNOUNCE_INTERVAL (2 s) apart (2.3; when the callback configured the
 * address on an up netif, the netif's own gratuitous ARP counts as the
 * first), then the watch (2.4): an ARP packet from another MAC with our
 * address as sender is a conflict; the first is defended with one
 * announcement, a second within DEFEND_INTERVAL (10 s) means the address
 * is lost (2.4 (b)).
 *
 * Every timer is on the stack's timer heap (tern_stack_advance's clock).
 * Threading: the stack's thread only; callbacks run from inside
 * tern_stack_advance or frame input. Not done: the MAX_CONFLICTS /
 * RATE_LIMIT_INTERVAL limit of 2.1.1 (a caller that picks addresses
 * itself, link-local style, must pace its retries; the DHCP client waits
 * 10 s after a DECLINE), 2.4 (c) (defend forever).
 *
 * Compiled only with TERN_IP_ACD (default 1); with 0 the calls return
 * TERN_ENOTSUP and ARP input has no hook (about 1 KB less on a Cortex-M4).
 */
#ifndef TERN_ACD_H
#define TERN_ACD_H

#include <stdint.h>

#include "tern/base.h"
#include "tern/ip.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TERN_IP_ACD
#define TERN_IP_ACD 1
#endif

typedef struct tern_acd tern_acd;

typedef enum tern_acd_event {
  /* Probing found nobody: configure the address now (in the callback is
   * best). Announcements and the watch follow. mac: NULL. */
  TERN_ACD_FREE = 1,
  /* Probing: another host uses or probes for the address (mac is its
   * MAC). The probe stopped; free the handle. */
  TERN_ACD_IN_USE,
  /* Watching: another host claimed the address; one announcement went
   * out to defend it. The address may still be used. */
  TERN_ACD_DEFENDED,
  /* Watching: a second claim within DEFEND_INTERVAL: stop using the
   * address (RFC 5227 2.4 (b)). The watch stopped; free the handle. */
  TERN_ACD_LOST,
} tern_acd_event;

/* mac (6 bytes) is valid during the call only. The callback may call
 * tern_acd_free on a (finished when it returns). */
typedef void (*tern_acd_cb)(tern_acd *a, tern_acd_event ev,
                            const uint8_t *mac, void *ud);

/* Probe addr (IPv4) on nif (an Ethernet netif, which should be up).
 * Errors: TERN_EINVAL (no netif, not IPv4, 0.0.0.0, not Ethernet),
 * TERN_ENOMEM, TERN_ENOTSUP (compiled out). No callback on error. */
TERN_API int tern_acd_probe(tern_netif *nif, const tern_addr *addr,
                            tern_acd_cb cb, void *ud, tern_acd **out);
/* No probe: announce addr (already configured, e.g. a static address
 * that must come up at once) and watch it, as after TERN_ACD_FREE. */
TERN_API int tern_acd_watch(tern_netif *nif, const tern_addr *addr,
                            tern_acd_cb cb, void *ud, tern_acd **out);
/* Stop and free (NULL is fine). Before the netif is removed. */
TERN_API void tern_acd_free(tern_acd *a);

/* Counters of one handle. */
typedef struct tern_acd_stats {
  uint32_t probes, announces, conflicts;
} tern_acd_stats;
TERN_API void tern_acd_get_stats(const tern_acd *a, tern_acd_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* TERN_ACD_H */
