/* tern/dhcp.h: the DHCPv4 client of the built-in stack (RFC 2131, options
 * RFC 2132). One client configures one netif: it finds a server, leases
 * an address, sets the netif's address, prefix and gateway itself, renews
 * the lease at T1 (unicast to the server) and T2 (broadcast), and drops
 * the address when the lease runs out.
 *
 *   tern_dhcp_opts o = {.hostname = "sensor-7", .cb = on_lease, .ud = app};
 *   tern_dhcp *d;
 *   tern_dhcp_start(nif, &o, &d);   // the netif is up, address 0.0.0.0
 *   ...                             // on_lease(d, TERN_DHCP_EV_BOUND, &lease)
 *   tern_dhcp_free(d);              // before tern_stack_free
 *
 * Threading: like everything in tern/ip.h, the stack's thread only; the
 * callback runs there, from inside tern_stack_advance (timers) or frame
 * input. It uses only the raw UDP API and the stack's timers, so it runs
 * on a microcontroller's superloop as on a tern loop (tern_ip_host).
 *
 * One client per stack: it binds UDP port 68 on all addresses.
 * Before the address is used it is ARP-probed (RFC 2131 3.1.5 / RFC 5227,
 * tern/acd.h; 3..7 s; opts.no_probe skips it): an address in use is
 * DECLINEd. tern_dhcp_inform asks for parameters only (DHCPINFORM).
 * Related: tern_sys_gate_dhcp (tern/sys.h) holds system bring-up until a
 * lease; docs/CONFORMANCE.md lists what of RFC 2131 is implemented.
 */
#ifndef TERN_DHCP_H
#define TERN_DHCP_H

#include <stdbool.h>
#include <stdint.h>

#include "tern/base.h"
#include "tern/ip.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_dhcp tern_dhcp;

/* RFC 2131 figure 5, plus STOPPED (not started, stopped, or gave up),
 * CHECKING (an ACK came; the address is being probed with ARP before use,
 * RFC 2131 3.1.5 / RFC 5227) and INFORMING (tern_dhcp_inform). */
typedef enum tern_dhcp_state {
  TERN_DHCP_STOPPED = 0,
  TERN_DHCP_INIT,
  TERN_DHCP_SELECTING,
  TERN_DHCP_REQUESTING,
  TERN_DHCP_BOUND,
  TERN_DHCP_RENEWING,
  TERN_DHCP_REBINDING,
  TERN_DHCP_INIT_REBOOT,
  TERN_DHCP_REBOOTING,
  TERN_DHCP_CHECKING,
  TERN_DHCP_INFORMING,
} tern_dhcp_state;

/* "BOUND" etc.; "?" out of range. */
TERN_API const char *tern_dhcp_state_name(tern_dhcp_state s);

#define TERN_DHCP_MAX_DNS 3
#define TERN_DHCP_INFINITE 0xffffffffu /* lease time that never ends */

/* A lease, as the server gave it. Addresses are TERN_AF_INET; a router or
 * server that was not sent has family 0. */
typedef struct tern_dhcp_lease {
  tern_addr addr;
  uint8_t prefix_len;        /* from option 1, else the address class */
  tern_addr router;          /* the first of option 3 */
  tern_addr dns[TERN_DHCP_MAX_DNS];
  uint8_t n_dns;
  tern_addr server;          /* server identifier (option 54) */
  uint32_t lease_s;          /* option 51; TERN_DHCP_INFINITE: forever */
  uint32_t t1_s, t2_s;       /* renew / rebind after, from option 58/59 or
                                RFC 2131 4.4.5's defaults 0.5 / 0.875 */
  uint64_t start_ms;         /* stack time the lease counts from (when its
                                REQUEST was sent, RFC 2131 4.4.1) */
} tern_dhcp_lease;

typedef enum tern_dhcp_event {
  /* A lease was obtained (first time, or after it was lost, or with a new
   * address): the netif now has it. */
  TERN_DHCP_EV_BOUND = 1,
  /* The lease was extended (RENEWING or REBINDING got an ACK for the
   * same address). */
  TERN_DHCP_EV_RENEWED,
  /* The lease ended: expired, NAKed, or the server at renewal gave
   * another address (then EV_BOUND follows at once). The netif's address
   * is already 0.0.0.0; the client starts over (INIT). lease: the old. */
  TERN_DHCP_EV_LOST, /* also: a conflict on the address that could not be
                        defended (RFC 5227 2.4 (b)); INIT then waits
                        opts.decline_wait_ms */
  /* opts.max_tries transmissions went unanswered: the client stopped
   * (STOPPED); tern_dhcp_renew starts it again. lease: NULL. */
  TERN_DHCP_EV_FAILED,
  /* The ARP probe found the ACKed address in use (RFC 2131 3.1.5): a
   * DHCPDECLINE went out and the client starts over (INIT) after
   * opts.decline_wait_ms. lease: the declined one (never applied). */
  TERN_DHCP_EV_DECLINED,
  /* tern_dhcp_inform got its ACK: lease has the netif's address and the
   * server's options (router, DNS, prefix from option 1 or the netif's);
   * lease_s, t1_s, t2_s are 0. The client is STOPPED; tern_dhcp_renew
   * asks again. */
  TERN_DHCP_EV_INFORMED,
} tern_dhcp_event;

/* lease is valid during the call only. The callback may call
 * tern_dhcp_get_lease, tern_dhcp_renew, tern_dhcp_stop and tern_dhcp_free
 * on d (a free inside the callback is finished when it returns). */
typedef void (*tern_dhcp_cb)(tern_dhcp *d, tern_dhcp_event ev,
                             const tern_dhcp_lease *lease, void *ud);

/* Every field may be left 0. */
typedef struct tern_dhcp_opts {
  const char *hostname;      /* option 12, copied (at most 63 chars) */
  const uint8_t *client_id;  /* option 61, copied (2..32 octets, the
                                first is the type); NULL: 1 + the MAC
                                (RFC 2132 9.14) */
  uint8_t client_id_len;
  /* A previous address to ask for again (INIT-REBOOT, RFC 2131 3.2 and
   * 4.3.2): family 0 to start with DISCOVER. */
  tern_addr prev_addr;
  /* Transmissions of one message before giving up. A DISCOVER cycle that
   * gets no offer after max_tries sends reports TERN_DHCP_EV_FAILED and
   * stops; 0: never (the RFC 2131 4.1 default, 64 s apart at most). */
  uint32_t max_tries;
  /* REQUESTs in REQUESTING and REBOOTING before going back to INIT [4;
   * 2 when rebooting] (RFC 2131 3.1.5 / 3.2.3 leave the count open). */
  uint32_t request_tries;
  /* RFC 2131 4.4.1 SHOULD wait 1..10 s before the first DISCOVER so that
   * devices powered on together do not talk together: the first one
   * goes out after a random 0..start_delay_max_ms. [0: at once] */
  uint32_t start_delay_max_ms;
  /* Ask servers to broadcast replies (the BROADCAST flag, RFC 2131
   * 4.1). Not needed by this stack: before it has an address it takes
   * UDP sent to its MAC (ipv4.c), so the flag is clear by default. */
  bool broadcast_flag;
  /* Skip the ARP probe of an ACKed address (RFC 2131 3.1.5 SHOULD, RFC
   * 5227 2.1): bound at the ACK, 3..7 s sooner, but a duplicate address
   * goes unnoticed. [false: probe, and watch the address while bound
   * (RFC 5227 2.4): a conflict that cannot be defended drops the lease] */
  bool no_probe;
  /* After a DECLINE, wait this long before the next DISCOVER [10000: RFC
   * 2131 3.1.5 "SHOULD wait a minimum of ten seconds"; less only for
   * tests]. Also the wait after a lease lost to an address conflict. */
  uint32_t decline_wait_ms;
  tern_dhcp_cb cb;
  void *ud;
} tern_dhcp_opts;

/* Start a client on nif (which should be up; frames go out as soon as it
 * is). With opts->prev_addr it starts in INIT-REBOOT, else INIT. The
 * netif's address is set to 0.0.0.0 until a lease is bound (RFC 2131
 * 4.4.2: no address is used before the ACK). Errors: TERN_EINVAL, TERN_ENOMEM, TERN_EADDRINUSE (port 68 is
 * taken: one client per stack). On error the callback never runs. */
TERN_API int tern_dhcp_start(tern_netif *nif, const tern_dhcp_opts *opts,
                             tern_dhcp **out);
/* DHCPINFORM (RFC 2131 3.4, 4.4.3): nif has a static address (set, not
 * 0.0.0.0) and wants the other parameters: the client sends DHCPINFORM
 * with ciaddr = that address (broadcast), retransmits as RFC 2131 4.1 says
 * (opts->max_tries transmissions [4]), and reports the server's ACK as
 * TERN_DHCP_EV_INFORMED (or TERN_DHCP_EV_FAILED). No lease: the netif is
 * not touched (apply router and DNS yourself). Binds port 68 like
 * tern_dhcp_start (one client per stack). Errors as tern_dhcp_start;
 * TERN_EINVAL also when nif has no address. */
TERN_API int tern_dhcp_inform(tern_netif *nif, const tern_dhcp_opts *opts,
                              tern_dhcp **out);
/* Stop the state machine (timers, retransmissions). release: send
 * DHCPRELEASE (RFC 2131 4.4.6) when a lease is held and remove the
 * address from the netif (1 s later, so the unicast RELEASE can resolve
 * the server's MAC; at once if the client is freed first); otherwise the address stays (a later start
 * with prev_addr asks for it again). No callback. */
TERN_API void tern_dhcp_stop(tern_dhcp *d, bool release);
/* Stop (without release) and free. Before tern_stack_free. */
TERN_API void tern_dhcp_free(tern_dhcp *d);
/* Renew now: BOUND goes to RENEWING at once; a stopped client starts
 * over (INIT; an INFORM client sends a new DHCPINFORM); CHECKING lets the
 * probe finish; in the other states the pending retransmission is sent
 * now. */
TERN_API void tern_dhcp_renew(tern_dhcp *d);
TERN_API tern_dhcp_state tern_dhcp_get_state(const tern_dhcp *d);
/* The current lease into *out: true in BOUND, RENEWING and REBINDING
 * (the address is in use), false otherwise. */
TERN_API bool tern_dhcp_get_lease(const tern_dhcp *d, tern_dhcp_lease *out);
TERN_API tern_netif *tern_dhcp_netif(const tern_dhcp *d);

/* Counters for tests and monitoring. */
typedef struct tern_dhcp_stats {
  uint64_t discover, request, release, offer, ack, nak;
  uint64_t decline, inform;
  uint64_t retransmits;   /* transmissions after the first of a message */
  uint64_t rx_bad;        /* malformed, or not for us (xid, chaddr, op) */
  uint64_t bound, renewed, lost, failed;
  uint64_t conflicts;     /* ARP conflicts: probes that found the address
                             in use, and claims while bound */
} tern_dhcp_stats;
TERN_API void tern_dhcp_get_stats(const tern_dhcp *d, tern_dhcp_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* TERN_DHCP_H */
