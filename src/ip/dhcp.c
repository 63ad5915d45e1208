/* dhcp.c: the DHCPv4 client (RFC 2131; options RFC 2132, dhcp_msg.c).
 *
 * Read first: RFC 2131 section 3.1 (the exchange), 4.1 (retransmission),
 * 4.3.2/4.4 (client states, figure 5), 4.4.5 (T1/T2).
 *
 *   INIT --DISCOVER--> SELECTING --OFFER/REQUEST--> REQUESTING --ACK--> BOUND
 *   BOUND --T1--> RENEWING (REQUEST unicast to the server)
 *         --T2--> REBINDING (REQUEST broadcast) --expiry--> INIT
 *   INIT-REBOOT --REQUEST(prev addr)--> REBOOTING --ACK--> BOUND
 *   any NAK --> INIT
 *   REQUESTING/REBOOTING --ACK--> CHECKING --ARP probe free--> BOUND
 *   CHECKING --address in use--> DECLINE, INIT after >= 10 s (3.1.5)
 *   INFORMING --ACK--> STOPPED (tern_dhcp_inform, 3.4 / 4.4.3)
 *
 * One ip_timer drives everything: in the exchanging states it is the
 * retransmission (4 s, 8 s, ... 64 s, each +-1 s at random, RFC 2131
 * 4.1); in BOUND it is T1; in RENEWING and REBINDING it is the next
 * retransmission, never later than T2 or the lease's end (4.4.5: half
 * the time left, at least 60 s). Times are the stack's (ms).
 *
 * Sending uses tern_udp_sendto_netif: before the lease there is no
 * address and so no route (4.1: source 0.0.0.0, destination
 * 255.255.255.255). Replies come broadcast or unicast to our MAC; the
 * stack takes both while the netif has no address (ipv4.c), so we leave
 * the BROADCAST flag clear unless asked (opts.broadcast_flag).
 *
 * The ARP check of an ACKed address (RFC 2131 2.2, 3.1.5, 4.4.1 SHOULD)
 * is RFC 5227's probe (acd.c, tern/acd.h); while bound the same handle
 * watches the address (RFC 5227 2.4). opts.no_probe skips both.
 *
 * Not done: choosing among several offers (the first is taken), relay
 * agents' giaddr (we are a client), RFC 3396 long options, RFC 4361
 * client ids.
 *
 * No file-scope mutable state: everything is in struct tern_dhcp, which
 * comes from the stack's counted allocator.
 */
#include "tern/dhcp.h"

#include "tern/acd.h"

#include "ip/dhcp_msg.h"
#include "ip/ip_internal.h"

#define DHCP_RTX_FIRST_MS 4000u  /* RFC 2131 4.1: first retransmission */
#define DHCP_RTX_MAX_MS 64000u   /* ... doubling up to 64 s */
#define DHCP_RTX_JITTER_MS 1000u /* ... randomized by +-1 s */
#define DHCP_RENEW_MIN_MS 60000u /* RFC 2131 4.4.5: at least 60 s apart */
#define DHCP_REQUEST_TRIES 4u
#define DHCP_REBOOT_TRIES 2u
/* After DHCPRELEASE the address stays this long so that the ARP exchange
 * the unicast RELEASE may need can finish (arp.c ignores ARP on a netif
 * with no address), then it is removed. */
#define DHCP_RELEASE_LINGER_MS 1000u
/* RFC 2131 3.1.5: after a DECLINE "SHOULD wait a minimum of ten seconds
 * before restarting the configuration process" */
#define DHCP_DECLINE_WAIT_MS 10000u
#define DHCP_INFORM_TRIES 4u

struct tern_dhcp {
  tern_stack *st;
  tern_netif *nif;
  tern_udp *pcb;
  ip_timer timer;
  uint64_t due;                /* when on_timer acts (timer may wake before) */
  tern_dhcp_state state;
  tern_dhcp_cb cb;
  void *ud;
  /* options */
  char hostname[64];
  uint8_t hostname_len;
  uint8_t client_id[32];
  uint8_t client_id_len;
  uint32_t prev_ip;            /* INIT-REBOOT / DISCOVER hint */
  uint32_t max_tries, request_tries, start_delay_max;
  bool bcast_flag;
  bool probe;                  /* !opts.no_probe */
  bool inform;                 /* tern_dhcp_inform's client */
  uint32_t decline_wait;
  tern_acd *acd;               /* CHECKING: the probe; bound: the watch */
  /* the exchange in progress */
  uint32_t xid;
  uint32_t tries;              /* transmissions of the current message */
  uint32_t naks;               /* NAKs in a row (restart backoff) */
  uint64_t cycle_start;        /* for 'secs' (RFC 2131 2) */
  uint16_t discover_secs;      /* REQUEST repeats it (RFC 2131 3.1.3) */
  uint64_t req_first;          /* first REQUEST sent: the lease starts */
  uint32_t offer_ip, offer_server;
  /* the lease (valid in BOUND, RENEWING, REBINDING) */
  uint32_t ip, mask, router, server;
  uint32_t dns[TERN__DHCP_MAX_DNS];
  uint8_t n_dns;
  uint32_t lease_s, t1_s, t2_s;
  uint64_t start, t1_at, t2_at, end_at;
  tern_dhcp_stats stats;
  bool in_cb, free_pending;
  bool releasing;              /* STOPPED, address dropped at the timer */
};

static const char *const state_names[] = {
    "STOPPED",   "INIT",      "SELECTING",   "REQUESTING", "BOUND",
    "RENEWING",  "REBINDING", "INIT_REBOOT", "REBOOTING",
    "CHECKING",  "INFORMING",
};

const char *tern_dhcp_state_name(tern_dhcp_state s) {
  return (unsigned)s < sizeof state_names / sizeof state_names[0]
             ? state_names[s]
             : "?";
}

/* ---- helpers ------------------------------------------------------------ */

static tern_dhcp *from_timer(ip_timer *t) {
  return (tern_dhcp *)(void *)((char *)t - offsetof(tern_dhcp, timer));
}

/* The stack's timers take 32-bit due times less than 2^31 ms ahead; a
 * lease's T1 may be further: the timer then wakes on the way (every 2^30
 * ms) and on_timer re-arms until d->due. */
#define DHCP_TIMER_STEP_MS (1u << 30)
static void arm(tern_dhcp *d, uint64_t due) {
  uint64_t now = d->st->now;
  d->due = due;
  if (due > now && due - now > DHCP_TIMER_STEP_MS)
    due = now + DHCP_TIMER_STEP_MS;
  /* TERN_ENOMEM only if the heap cannot grow: then the client waits for
   * tern_dhcp_renew (nothing else to do without memory) */
  (void)ip_timer_set(d->st, &d->timer, (uint32_t)due);
}

/* RFC 2131 4.1: 4 s before the first retransmission, doubled each time
 * up to 64 s, each randomized by a uniform -1..+1 s. */
static uint32_t backoff_ms(tern_dhcp *d, uint32_t sent) {
  uint32_t base = DHCP_RTX_FIRST_MS;
  for (uint32_t i = 1; i < sent && base < DHCP_RTX_MAX_MS; i++) base *= 2;
  if (base > DHCP_RTX_MAX_MS) base = DHCP_RTX_MAX_MS;
  uint32_t r = ip_random32(d->st) % (2 * DHCP_RTX_JITTER_MS + 1);
  return base - DHCP_RTX_JITTER_MS + r;
}

static uint16_t secs_since(const tern_dhcp *d, uint64_t t0) {
  uint64_t s = (d->st->now - t0) / 1000;
  return s > 0xffff ? 0xffff : (uint16_t)s;
}

static uint8_t prefix_of(uint32_t mask) {
  uint8_t n = 0;
  while (n < 32 && (mask & (0x80000000u >> n))) n++;
  return n;
}

/* Without option 1 (RFC 2132 3.3), the class of the address: what most
 * clients fall back to. */
static uint32_t class_mask(uint32_t ip) {
  if ((ip >> 31) == 0) return 0xff000000u;
  if ((ip >> 30) == 2) return 0xffff0000u;
  return 0xffffff00u;
}

static bool usable_addr(uint32_t ip) {
  return ip != 0 && ip != 0xffffffffu && (ip >> 28) != 0xe &&
         (ip >> 28) != 0xf && (ip >> 24) != 127 && (ip >> 24) != 0;
}

static void fill_lease(const tern_dhcp *d, tern_dhcp_lease *l) {
  memset(l, 0, sizeof *l);
  ip_addr_to(d->ip, 0, &l->addr);
  l->prefix_len = prefix_of(d->mask);
  if (d->router) ip_addr_to(d->router, 0, &l->router);
  for (uint8_t i = 0; i < d->n_dns; i++) ip_addr_to(d->dns[i], 0, &l->dns[i]);
  l->n_dns = d->n_dns;
  if (d->server) ip_addr_to(d->server, 0, &l->server);
  l->lease_s = d->lease_s;
  l->t1_s = d->t1_s;
  l->t2_s = d->t2_s;
  l->start_ms = d->start;
}

static void acd_free(tern_dhcp *d) {
  tern_acd_free(d->acd);
  d->acd = NULL;
}

static void really_free(tern_dhcp *d) {
  acd_free(d);
  ip_timer_stop(d->st, &d->timer);
  tern_udp_free(d->pcb);
  ip_free(d->st, d);
}

/* Run the callback; false if the client was freed inside it (the caller
 * must return at once). Called last in every handler. */
static bool notify(tern_dhcp *d, tern_dhcp_event ev,
                   const tern_dhcp_lease *l) {
  if (!d->cb) return true;
  d->in_cb = true;
  d->cb(d, ev, l, d->ud);
  d->in_cb = false;
  if (d->free_pending) {
    really_free(d);
    return false;
  }
  return true;
}

/* ---- sending ------------------------------------------------------------ */

static void msg_base(tern_dhcp *d, tern__dhcp_msg *m, uint8_t type) {
  static const uint8_t params[] = {
      TERN__DHO_SUBNET, TERN__DHO_ROUTER, TERN__DHO_DNS,
      TERN__DHO_LEASE,  TERN__DHO_T1,     TERN__DHO_T2,
  };
  memset(m, 0, sizeof *m);
  m->op = TERN__BOOTREQUEST;
  m->htype = 1; /* Ethernet (RFC 1700 hardware types) */
  m->hlen = 6;
  m->xid = d->xid;
  memcpy(m->chaddr, d->nif->mac, 6);
  m->type = type;
  m->client_id = d->client_id;
  m->client_id_len = d->client_id_len;
  /* RFC 2131 table 5: nothing else in RELEASE and DECLINE */
  if (type == TERN__DHCPRELEASE || type == TERN__DHCPDECLINE) return;
  m->hostname = (const uint8_t *)d->hostname;
  m->hostname_len = d->hostname_len;
  m->params = params;
  m->params_len = sizeof params;
  /* RFC 2132 9.10: the largest message we take: one unfragmented
   * datagram (the whole IP datagram, as servers read it) */
  uint32_t mtu = d->nif->mtu;
  m->max_size = (uint16_t)(mtu > 65535 ? 65535 : mtu < 576 ? 576 : mtu);
}

static void send_msg(tern_dhcp *d, const tern__dhcp_msg *m, uint32_t dst) {
  uint8_t buf[TERN__DHCP_MAX_SEND];
  int n = tern__dhcp_msg_build(m, buf, sizeof buf);
  if (n < 0) return;
  tern_pbuf *p = tern_pbuf_alloc(d->st, TERN_PBUF_TRANSPORT, (size_t)n);
  if (!p) return; /* the retransmission timer tries again */
  tern_pbuf_copy_in(p, 0, buf, (size_t)n);
  tern_addr to;
  ip_addr_to(dst, TERN__DHCP_SERVER_PORT, &to);
  (void)tern_udp_sendto_netif(d->pcb, p, &to, d->nif);
  tern_pbuf_free(p);
}

static void count_tx(tern_dhcp *d) {
  if (d->tries++) d->stats.retransmits++;
}

static void send_discover(tern_dhcp *d) {
  tern__dhcp_msg m;
  msg_base(d, &m, TERN__DHCPDISCOVER);
  m.secs = d->discover_secs = secs_since(d, d->cycle_start);
  if (d->bcast_flag) m.flags = TERN__DHCP_FLAG_BROADCAST;
  if (d->prev_ip) { /* RFC 2131 4.4.1: MAY suggest the last address */
    m.has_req_ip = true;
    m.req_ip = d->prev_ip;
  }
  count_tx(d);
  d->stats.discover++;
  send_msg(d, &m, 0xffffffffu);
}

/* RFC 2131 4.3.2 / table 5: what a REQUEST carries in each state. */
static void send_request(tern_dhcp *d) {
  tern__dhcp_msg m;
  msg_base(d, &m, TERN__DHCPREQUEST);
  uint32_t dst = 0xffffffffu;
  if (d->tries == 0) d->req_first = d->st->now;
  switch (d->state) {
  case TERN_DHCP_REQUESTING: /* SELECTING: server id + requested IP */
    m.secs = d->discover_secs;
    m.has_server_id = true;
    m.server_id = d->offer_server;
    m.has_req_ip = true;
    m.req_ip = d->offer_ip;
    if (d->bcast_flag) m.flags = TERN__DHCP_FLAG_BROADCAST;
    break;
  case TERN_DHCP_REBOOTING: /* INIT-REBOOT: requested IP, no server id */
    m.secs = secs_since(d, d->cycle_start);
    m.has_req_ip = true;
    m.req_ip = d->prev_ip;
    if (d->bcast_flag) m.flags = TERN__DHCP_FLAG_BROADCAST;
    break;
  case TERN_DHCP_RENEWING: /* ciaddr, unicast to the server */
    dst = d->server;
    /* fall through */
  default:                 /* REBINDING: ciaddr, broadcast */
    m.secs = secs_since(d, d->cycle_start);
    m.ciaddr = d->ip;
    break;
  }
  count_tx(d);
  d->stats.request++;
  send_msg(d, &m, dst);
}

/* RFC 2131 3.4 / 4.4.3 / table 5: INFORM: ciaddr is our address; no
 * requested IP, no server id, no lease time; broadcast. */
static void send_inform(tern_dhcp *d) {
  tern__dhcp_msg m;
  msg_base(d, &m, TERN__DHCPINFORM);
  m.secs = secs_since(d, d->cycle_start);
  m.ciaddr = d->nif->ip;
  count_tx(d);
  d->stats.inform++;
  send_msg(d, &m, 0xffffffffu);
}

/* ---- state changes ------------------------------------------------------- */

static void new_exchange(tern_dhcp *d, tern_dhcp_state s) {
  d->state = s;
  d->xid = ip_random32(d->st);
  d->tries = 0;
  d->cycle_start = d->st->now;
}

static void drop_addr(tern_dhcp *d) {
  tern_netif_set_addr(d->nif, NULL, 0, NULL);
}

/* INIT: the first DISCOVER after delay_ms. */
static void enter_init(tern_dhcp *d, uint32_t delay_ms) {
  new_exchange(d, TERN_DHCP_INIT);
  arm(d, d->st->now + delay_ms);
}

static uint32_t start_delay(tern_dhcp *d) {
  return d->start_delay_max ? ip_random32(d->st) % (d->start_delay_max + 1)
                            : 0;
}

/* After a NAK (RFC 2131 3.1.5, 3.2.3: restart): at once the first time,
 * then backing off so a server that NAKs every REQUEST is not hammered. */
static void restart_after_nak(tern_dhcp *d) {
  uint32_t delay = d->naks > 1 ? backoff_ms(d, d->naks - 1) : start_delay(d);
  enter_init(d, delay);
}

/* RENEWING / REBINDING: the next retransmission (RFC 2131 4.4.5: half the
 * time to T2, or to the lease's end, but not under 60 s), capped there. */
static void arm_renew_rtx(tern_dhcp *d, uint64_t limit) {
  uint64_t now = d->st->now;
  uint64_t half = limit > now ? (limit - now) / 2 : 0;
  if (half < DHCP_RENEW_MIN_MS) half = DHCP_RENEW_MIN_MS;
  arm(d, now + half < limit ? now + half : limit);
}

static void enter_renewing(tern_dhcp *d) {
  new_exchange(d, TERN_DHCP_RENEWING);
  send_request(d);
  arm_renew_rtx(d, d->t2_at);
}

static void enter_rebinding(tern_dhcp *d) {
  uint64_t began = d->cycle_start; /* secs counts from T1 on */
  new_exchange(d, TERN_DHCP_REBINDING);
  d->cycle_start = began;
  send_request(d);
  arm_renew_rtx(d, d->end_at);
}

/* The lease ended (expiry or NAK while bound): drop the address and
 * start over. Returns notify's verdict. */
static bool lose_lease(tern_dhcp *d) {
  tern_dhcp_lease old;
  fill_lease(d, &old);
  acd_free(d);
  d->prev_ip = 0;
  d->ip = 0;
  drop_addr(d);
  d->stats.lost++;
  restart_after_nak(d);
  return notify(d, TERN_DHCP_EV_LOST, &old);
}

/* Exchanging states: retransmit or give up. */
static void rtx_or_give_up(tern_dhcp *d, uint32_t limit,
                           void (*send)(tern_dhcp *)) {
  if (limit && d->tries >= limit) {
    if (d->state == TERN_DHCP_SELECTING || d->state == TERN_DHCP_INFORMING) {
      d->state = TERN_DHCP_STOPPED;
      d->stats.failed++;
      notify(d, TERN_DHCP_EV_FAILED, NULL);
      return;
    }
    /* RFC 2131 3.1.5 / 3.2: no ACK nor NAK: back to INIT */
    d->prev_ip = 0;
    enter_init(d, 0);
    return;
  }
  send(d);
  arm(d, d->st->now + backoff_ms(d, d->tries));
}

static void on_timer(tern_stack *st, ip_timer *t) {
  tern_dhcp *d = from_timer(t);
  if (d->due > st->now) { /* a step towards a far due time */
    arm(d, d->due);
    return;
  }
  switch (d->state) {
  case TERN_DHCP_INIT:
    d->state = TERN_DHCP_SELECTING;
    d->tries = 0;
    /* fall through */
  case TERN_DHCP_SELECTING:
    rtx_or_give_up(d, d->max_tries, send_discover);
    break;
  case TERN_DHCP_INIT_REBOOT:
    d->state = TERN_DHCP_REBOOTING;
    d->tries = 0;
    /* fall through */
  case TERN_DHCP_REBOOTING:
    rtx_or_give_up(d, d->request_tries ? d->request_tries : DHCP_REBOOT_TRIES,
                   send_request);
    break;
  case TERN_DHCP_REQUESTING:
    rtx_or_give_up(d, d->request_tries ? d->request_tries : DHCP_REQUEST_TRIES,
                   send_request);
    break;
  case TERN_DHCP_BOUND:
    enter_renewing(d); /* T1 */
    break;
  case TERN_DHCP_RENEWING:
    if (st->now >= d->t2_at) {
      enter_rebinding(d);
    } else {
      send_request(d);
      arm_renew_rtx(d, d->t2_at);
    }
    break;
  case TERN_DHCP_REBINDING:
    if (st->now >= d->end_at) {
      lose_lease(d); /* RFC 2131 4.4.5: expired, stop using it */
    } else {
      send_request(d);
      arm_renew_rtx(d, d->end_at);
    }
    break;
  case TERN_DHCP_INFORMING:
    rtx_or_give_up(d, d->max_tries ? d->max_tries : DHCP_INFORM_TRIES,
                   send_inform);
    break;
  case TERN_DHCP_CHECKING: /* acd.c drives it */
    break;
  case TERN_DHCP_STOPPED:
    if (d->releasing) {
      d->releasing = false;
      drop_addr(d);
    }
    break;
  }
}

/* ---- receiving ------------------------------------------------------------ */

/* RFC 2131 4.4.1: lease times from the ACK; T1/T2 default to 0.5 and
 * 0.875 of the lease (4.4.5) and must keep T1 < T2 < lease. */
static void take_times(tern_dhcp *d, const tern__dhcp_msg *m) {
  uint32_t lease = m->lease_s;
  d->lease_s = lease;
  d->start = d->req_first;
  if (lease == TERN_DHCP_INFINITE) {
    d->t1_s = d->t2_s = TERN_DHCP_INFINITE;
    d->t1_at = d->t2_at = d->end_at = UINT64_MAX;
    return;
  }
  uint32_t t1 = m->has_t1 ? m->t1_s : lease / 2;
  uint32_t t2 = m->has_t2 ? m->t2_s : (uint32_t)((uint64_t)lease * 7 / 8);
  if (t2 > lease || t1 > t2) {
    t1 = lease / 2;
    t2 = (uint32_t)((uint64_t)lease * 7 / 8);
  }
  d->t1_s = t1;
  d->t2_s = t2;
  d->t1_at = d->start + (uint64_t)t1 * 1000;
  d->t2_at = d->start + (uint64_t)t2 * 1000;
  d->end_at = d->start + (uint64_t)lease * 1000;
}

static void take_config(tern_dhcp *d, const tern__dhcp_msg *m,
                        uint32_t from_ip) {
  d->ip = m->yiaddr;
  d->mask = m->has_subnet && m->subnet ? m->subnet : class_mask(m->yiaddr);
  d->router = m->n_routers ? m->router : 0;
  d->n_dns = m->n_dns;
  for (uint8_t i = 0; i < m->n_dns; i++) d->dns[i] = m->dns[i];
  /* RFC 2131 4.3.1: an ACK carries the server id; else the sender */
  d->server = m->has_server_id ? m->server_id : from_ip;
  take_times(d, m);
}

#if TERN_IP_ACD
static void on_acd(tern_acd *a, tern_acd_event ev, const uint8_t *mac,
                   void *ud);
#endif

/* The configuration in d (from the ACK) goes on the netif: BOUND. */
static bool commit(tern_dhcp *d, bool renewal, uint32_t old_ip,
                   uint32_t old_mask, uint32_t old_router,
                   const tern_dhcp_lease *old) {
  d->prev_ip = d->ip;
  d->naks = 0;
  d->state = TERN_DHCP_BOUND;
  d->tries = 0;
  if (d->t1_at == UINT64_MAX) /* an infinite lease: nothing to renew */
    ip_timer_stop(d->st, &d->timer);
  else
    arm(d, d->t1_at);
  bool same = renewal && old_ip == d->ip;
#if TERN_IP_ACD
  if (renewal && !same && d->acd) { /* the watch follows the address */
    acd_free(d);
    tern_addr a;
    ip_addr_to(d->ip, 0, &a);
    (void)tern_acd_watch(d->nif, &a, on_acd, d, &d->acd);
  }
#endif
  if (!same || old_mask != d->mask || old_router != d->router) {
    tern_addr a, gw;
    ip_addr_to(d->ip, 0, &a);
    ip_addr_to(d->router, 0, &gw);
    tern_netif_set_addr(d->nif, &a, prefix_of(d->mask),
                        d->router ? &gw : NULL);
  }
  tern_dhcp_lease now;
  fill_lease(d, &now);
  if (same) {
    d->stats.renewed++;
    return notify(d, TERN_DHCP_EV_RENEWED, &now);
  }
  if (renewal) { /* the server moved us: the old address is gone */
    d->stats.lost++;
    if (!notify(d, TERN_DHCP_EV_LOST, old)) return false;
    if (d->state != TERN_DHCP_BOUND) return true; /* stopped in the cb */
  }
  d->stats.bound++;
  return notify(d, TERN_DHCP_EV_BOUND, &now);
}

#if TERN_IP_ACD
/* RFC 2131 3.1.5 / 4.4.4: the address is in use: DHCPDECLINE, broadcast
 * from 0.0.0.0, naming the address (option 50) and the server (54), no
 * ciaddr; then INIT after decline_wait. */
static void decline(tern_dhcp *d) {
  tern_dhcp_lease bad;
  fill_lease(d, &bad);
  acd_free(d);
  tern__dhcp_msg m;
  msg_base(d, &m, TERN__DHCPDECLINE);
  m.has_req_ip = true;
  m.req_ip = d->ip;
  m.has_server_id = true;
  m.server_id = d->server;
  static const char why[] = "address in use (ARP)";
  m.message = (const uint8_t *)why; /* table 5: SHOULD */
  m.message_len = sizeof why - 1;
  d->stats.decline++;
  send_msg(d, &m, 0xffffffffu);
  d->ip = 0;
  d->prev_ip = 0;
  enter_init(d, d->decline_wait);
  notify(d, TERN_DHCP_EV_DECLINED, &bad);
}

static void on_acd(tern_acd *a, tern_acd_event ev, const uint8_t *mac,
                   void *ud) {
  tern_dhcp *d = ud;
  (void)a;
  (void)mac;
  switch (ev) {
  case TERN_ACD_FREE:
    if (d->state == TERN_DHCP_CHECKING) commit(d, false, 0, 0, 0, NULL);
    return;
  case TERN_ACD_IN_USE:
    d->stats.conflicts++;
    if (d->state == TERN_DHCP_CHECKING) decline(d);
    return;
  case TERN_ACD_DEFENDED:
    d->stats.conflicts++;
    return;
  case TERN_ACD_LOST: /* RFC 5227 2.4 (b): stop using it, start over */
    d->stats.conflicts++;
    d->naks = 0;
    if (lose_lease(d) && d->state == TERN_DHCP_INIT)
      arm(d, d->st->now + d->decline_wait);
    return;
  }
}
#endif /* TERN_IP_ACD */

static bool apply_lease(tern_dhcp *d, const tern__dhcp_msg *m,
                        uint32_t from_ip) {
  bool renewal = d->state == TERN_DHCP_RENEWING ||
                 d->state == TERN_DHCP_REBINDING;
  uint32_t old_ip = d->ip, old_mask = d->mask, old_router = d->router;
  tern_dhcp_lease old;
  fill_lease(d, &old);
  take_config(d, m, from_ip);
#if TERN_IP_ACD
  if (!renewal && d->probe) { /* RFC 2131 3.1.5: check before use */
    tern_addr a;
    ip_addr_to(d->ip, 0, &a);
    acd_free(d);
    if (tern_acd_probe(d->nif, &a, on_acd, d, &d->acd) == TERN_OK) {
      d->state = TERN_DHCP_CHECKING;
      ip_timer_stop(d->st, &d->timer);
      return true;
    } /* no memory: bind unchecked */
  }
#endif
  return commit(d, renewal, old_ip, old_mask, old_router, &old);
}

static void on_offer(tern_dhcp *d, const tern__dhcp_msg *m) {
  /* RFC 2131 4.4.1: the first acceptable offer is taken; it must name
   * its server (table 3) and an address we could use */
  if (!m->has_server_id || !usable_addr(m->yiaddr)) {
    d->stats.rx_bad++;
    return;
  }
  d->offer_ip = m->yiaddr;
  d->offer_server = m->server_id;
  d->state = TERN_DHCP_REQUESTING;
  d->tries = 0;
  send_request(d);
  arm(d, d->st->now + backoff_ms(d, d->tries));
}

static void on_ack(tern_dhcp *d, const tern__dhcp_msg *m, uint32_t from_ip) {
  /* RFC 2131 table 3: an ACK has a lease time; in REQUESTING it comes
   * from the server we chose and gives the address offered */
  if (!m->has_lease || !usable_addr(m->yiaddr) ||
      (d->state == TERN_DHCP_REQUESTING &&
       ((m->has_server_id && m->server_id != d->offer_server) ||
        m->yiaddr != d->offer_ip))) {
    d->stats.rx_bad++;
    return;
  }
  d->stats.ack++;
  apply_lease(d, m, from_ip);
}

/* RFC 2131 4.3.5: the ACK to an INFORM has no lease time and no yiaddr
 * (neither is checked: a server that sends them still answered). */
static void on_inform_ack(tern_dhcp *d, const tern__dhcp_msg *m,
                          uint32_t from_ip) {
  tern_dhcp_lease l;
  memset(&l, 0, sizeof l);
  ip_addr_to(d->nif->ip, 0, &l.addr);
  l.prefix_len = prefix_of(m->has_subnet && m->subnet ? m->subnet
                                                       : d->nif->mask);
  if (m->n_routers) ip_addr_to(m->router, 0, &l.router);
  for (uint8_t i = 0; i < m->n_dns; i++) ip_addr_to(m->dns[i], 0, &l.dns[i]);
  l.n_dns = m->n_dns;
  ip_addr_to(m->has_server_id ? m->server_id : from_ip, 0, &l.server);
  l.start_ms = d->st->now;
  d->stats.ack++;
  d->state = TERN_DHCP_STOPPED;
  ip_timer_stop(d->st, &d->timer);
  notify(d, TERN_DHCP_EV_INFORMED, &l);
}

static void on_nak(tern_dhcp *d, const tern__dhcp_msg *m) {
  if (d->state == TERN_DHCP_REQUESTING && m->has_server_id &&
      m->server_id != d->offer_server) {
    d->stats.rx_bad++; /* another server's NAK is not about our offer */
    return;
  }
  d->stats.nak++;
  d->naks++;
  if (d->state == TERN_DHCP_RENEWING || d->state == TERN_DHCP_REBINDING) {
    lose_lease(d); /* RFC 2131 4.4.5: NAK: stop using it, INIT */
    return;
  }
  d->prev_ip = 0; /* RFC 2131 3.2.3: REBOOTING NAKed: forget it */
  restart_after_nak(d);
}

void tern__dhcp_input(tern_dhcp *d, const uint8_t *buf, size_t len,
                      uint32_t from_ip) {
  tern__dhcp_msg m;
  if (tern__dhcp_msg_parse(buf, len, &m) != TERN_OK ||
      m.op != TERN__BOOTREPLY || m.xid != d->xid || m.hlen != 6 ||
      memcmp(m.chaddr, d->nif->mac, 6) != 0) {
    d->stats.rx_bad++;
    return;
  }
  switch (m.type) {
  case TERN__DHCPOFFER:
    d->stats.offer++;
    if (d->state == TERN_DHCP_SELECTING) on_offer(d, &m);
    return;
  case TERN__DHCPACK:
    if (d->state == TERN_DHCP_INFORMING) {
      on_inform_ack(d, &m, from_ip);
      return;
    }
    if (d->state == TERN_DHCP_REQUESTING || d->state == TERN_DHCP_REBOOTING ||
        d->state == TERN_DHCP_RENEWING || d->state == TERN_DHCP_REBINDING)
      on_ack(d, &m, from_ip);
    return;
  case TERN__DHCPNAK:
    if (d->state == TERN_DHCP_REQUESTING || d->state == TERN_DHCP_REBOOTING ||
        d->state == TERN_DHCP_RENEWING || d->state == TERN_DHCP_REBINDING)
      on_nak(d, &m);
    return;
  default:
    d->stats.rx_bad++; /* a BOOTP reply, or a type a server never sends */
    return;
  }
}

uint32_t tern__dhcp_xid(const tern_dhcp *d) { return d->xid; }

static void on_udp(void *arg, tern_udp *pcb, tern_pbuf *p,
                   const tern_addr *from) {
  tern_dhcp *d = arg;
  (void)pcb;
  uint32_t from_ip = 0;
  ip_addr_from(from, &from_ip);
  if (from->port != TERN__DHCP_SERVER_PORT ||
      !ip_pbuf_make_contig(&p, p->tot_len)) {
    d->stats.rx_bad++;
    tern_pbuf_free(p);
    return;
  }
  tern__dhcp_input(d, p->payload, p->len, from_ip);
  tern_pbuf_free(p);
}

/* ---- the API ------------------------------------------------------------- */

static void take_opts(tern_dhcp *d, const tern_dhcp_opts *o) {
  if (o->hostname) {
    size_t n = strlen(o->hostname);
    if (n > sizeof d->hostname - 1) n = sizeof d->hostname - 1;
    memcpy(d->hostname, o->hostname, n);
    d->hostname_len = (uint8_t)n;
  }
  if (o->client_id && o->client_id_len >= 2) {
    uint8_t n = o->client_id_len > sizeof d->client_id
                    ? (uint8_t)sizeof d->client_id
                    : o->client_id_len;
    memcpy(d->client_id, o->client_id, n);
    d->client_id_len = n;
  } else { /* RFC 2132 9.14: type 1 (Ethernet) + the MAC */
    d->client_id[0] = 1;
    memcpy(d->client_id + 1, d->nif->mac, 6);
    d->client_id_len = 7;
  }
  ip_addr_from(&o->prev_addr, &d->prev_ip);
  if (!usable_addr(d->prev_ip)) d->prev_ip = 0;
  d->max_tries = o->max_tries;
  d->request_tries = o->request_tries;
  d->start_delay_max = o->start_delay_max_ms;
  d->bcast_flag = o->broadcast_flag;
  d->probe = !o->no_probe;
  d->decline_wait = o->decline_wait_ms ? o->decline_wait_ms
                                       : DHCP_DECLINE_WAIT_MS;
  d->cb = o->cb;
  d->ud = o->ud;
}

static int create(tern_netif *nif, const tern_dhcp_opts *opts,
                  tern_dhcp **out) {
  if (!nif || !out) return TERN_EINVAL;
  *out = NULL;
  tern_stack *st = nif->st;
  tern_dhcp *d = ip_malloc(st, sizeof *d);
  if (!d) return TERN_ENOMEM;
  d->st = st;
  d->nif = nif;
  ip_timer_init(&d->timer, on_timer);
  d->pcb = tern_udp_new(st);
  if (!d->pcb) {
    ip_free(st, d);
    return TERN_ENOMEM;
  }
  tern_addr any;
  ip_addr_to(0, TERN__DHCP_CLIENT_PORT, &any);
  int err = tern_udp_bind(d->pcb, &any);
  if (err) {
    tern_udp_free(d->pcb);
    ip_free(st, d);
    return err;
  }
  tern_udp_recv(d->pcb, on_udp, d);
  tern_dhcp_opts none;
  memset(&none, 0, sizeof none);
  take_opts(d, opts ? opts : &none);
  *out = d;
  return TERN_OK;
}

int tern_dhcp_start(tern_netif *nif, const tern_dhcp_opts *opts,
                    tern_dhcp **out) {
  tern_dhcp *d;
  int err = create(nif, opts, &d);
  if (err) {
    if (out) *out = NULL;
    return err;
  }
  tern_stack *st = d->st;
  drop_addr(d); /* RFC 2131 4.4.2: no address before the ACK */
  if (d->prev_ip) {
    new_exchange(d, TERN_DHCP_INIT_REBOOT);
    arm(d, st->now + start_delay(d));
  } else {
    enter_init(d, start_delay(d));
  }
  *out = d;
  return TERN_OK;
}

static void start_inform(tern_dhcp *d) {
  new_exchange(d, TERN_DHCP_INFORMING);
  arm(d, d->st->now + start_delay(d));
}

int tern_dhcp_inform(tern_netif *nif, const tern_dhcp_opts *opts,
                     tern_dhcp **out) {
  if (out) *out = NULL;
  if (!nif || !nif->ip) return TERN_EINVAL;
  tern_dhcp *d;
  int err = create(nif, opts, &d);
  if (err) return err;
  d->inform = true;
  d->probe = false;
  start_inform(d);
  *out = d;
  return TERN_OK;
}

/* RFC 2131 4.4.6: DHCPRELEASE, unicast to the server, with ciaddr. */
static void send_release(tern_dhcp *d) {
  tern__dhcp_msg m;
  d->xid = ip_random32(d->st);
  msg_base(d, &m, TERN__DHCPRELEASE);
  m.ciaddr = d->ip;
  m.has_server_id = true;
  m.server_id = d->server;
  d->stats.release++;
  send_msg(d, &m, d->server);
}

void tern_dhcp_stop(tern_dhcp *d, bool release) {
  if (!d) return;
  bool leased = d->state == TERN_DHCP_BOUND ||
                d->state == TERN_DHCP_RENEWING ||
                d->state == TERN_DHCP_REBINDING;
  ip_timer_stop(d->st, &d->timer);
  acd_free(d);
  d->state = TERN_DHCP_STOPPED;
  if (d->releasing) { /* stopped again: finish the earlier release now */
    d->releasing = false;
    drop_addr(d);
  }
  if (release && leased) {
    send_release(d);
    d->ip = 0;
    d->prev_ip = 0;
    d->releasing = true;
    arm(d, d->st->now + DHCP_RELEASE_LINGER_MS);
  }
}

void tern_dhcp_free(tern_dhcp *d) {
  if (!d) return;
  tern_dhcp_stop(d, false);
  if (d->in_cb) {
    d->free_pending = true;
    return;
  }
  really_free(d);
}

void tern_dhcp_renew(tern_dhcp *d) {
  if (!d) return;
  switch (d->state) {
  case TERN_DHCP_STOPPED:
    if (d->inform) {
      start_inform(d);
      break;
    }
    d->naks = 0;
    d->ip = 0;
    d->releasing = false;
    drop_addr(d);
    enter_init(d, 0);
    break;
  case TERN_DHCP_BOUND:
    enter_renewing(d);
    break;
  case TERN_DHCP_CHECKING: /* the probe runs its course */
    break;
  default: /* the pending (re)transmission, now */
    arm(d, d->st->now);
    break;
  }
}

tern_dhcp_state tern_dhcp_get_state(const tern_dhcp *d) {
  return d ? d->state : TERN_DHCP_STOPPED;
}

bool tern_dhcp_get_lease(const tern_dhcp *d, tern_dhcp_lease *out) {
  if (!d || !d->ip ||
      (d->state != TERN_DHCP_BOUND && d->state != TERN_DHCP_RENEWING &&
       d->state != TERN_DHCP_REBINDING))
    return false;
  if (out) fill_lease(d, out);
  return true;
}

tern_netif *tern_dhcp_netif(const tern_dhcp *d) { return d->nif; }

void tern_dhcp_get_stats(const tern_dhcp *d, tern_dhcp_stats *out) {
  *out = d->stats;
}
