/* igmp.c: IPv4 multicast group membership, IGMPv2 host side (RFC 2236;
 * RFC 1112 for the host model and the MAC mapping).
 *
 * A group is joined per netif with a use count (several pcbs or sockets
 * may join the same one). The first join sends an unsolicited Membership
 * Report at once and repeats it once after a random delay up to the
 * Unsolicited Report Interval (RFC 2236 section 3). A query starts, per
 * group it covers, a timer with a random delay up to its Max Response
 * Time; when it fires we report, unless another member's report for the
 * group was heard first (then we stay silent: report suppression). The
 * last leave sends a Leave Group message to all-routers, if we were the
 * last host to report (section 3, "flag"). A version 1 query makes us
 * answer with v1 reports and send no leaves for the Version 1 Router
 * Present Timeout (section 4).
 *
 * The all-systems group 224.0.0.1 is always joined and never reported
 * (section 6). Input of multicast datagrams is filtered by membership
 * (ip_igmp_member); the driver's MAC filter, if it has one, follows the
 * joins (tern_netif_driver.mcast_filter).
 *
 * Every IGMP message goes out with TTL 1 and the Router Alert option
 * (RFC 2236 section 2, RFC 2113): ip4_output_igmp.
 */
#include "ip/ip_internal.h"

#if TERN_ENABLE_IGMP

#define IGMP_QUERY 0x11
#define IGMP_V1_REPORT 0x12
#define IGMP_V2_REPORT 0x16
#define IGMP_LEAVE 0x17
#define IGMP_ALL_SYSTEMS 0xe0000001u /* 224.0.0.1 */
#define IGMP_ALL_ROUTERS 0xe0000002u /* 224.0.0.2 */
#define IGMP_UNSOLICITED_MS 10000u   /* section 8.10 */
#define IGMP_V1_PRESENT_MS 400000u   /* section 8.11 */
#define IGMP_V1_MAX_RESP 100u        /* a v1 query means 10 s (section 4) */

typedef struct ip_igmp_group {
  ip_timer tmr;       /* first: the timer callback finds the group */
  struct ip_igmp_group *next;
  tern_netif *nif;
  uint32_t group;
  uint16_t users;
  bool delaying;      /* Delaying Member: a report is due at tmr */
  bool last_reporter; /* our report was the last one on the link */
} ip_igmp_group;

struct ip_igmp {
  ip_igmp_group *groups;
  uint32_t count;
  uint64_t v1_until;  /* a v1 router was heard: v1 reports, no leaves */
};

static bool is_mcast(uint32_t ip) { return (ip >> 28) == 0xe; }
static void igmp_fn(tern_stack *st, int op, tern_netif *nif, tern_pbuf *p,
                    const ip_rx *rx);

bool ip_igmp_member(const tern_netif *nif, uint32_t group) {
  if (group == IGMP_ALL_SYSTEMS) return true;
  const struct ip_igmp *g = nif->st->igmp;
  if (!g) return false;
  for (const ip_igmp_group *m = g->groups; m; m = m->next)
    if (m->nif == nif && m->group == group) return true;
  return false;
}

static ip_igmp_group *find(tern_stack *st, const tern_netif *nif,
                           uint32_t group) {
  for (ip_igmp_group *m = st->igmp ? st->igmp->groups : NULL; m; m = m->next)
    if (m->nif == nif && m->group == group) return m;
  return NULL;
}

/* One 8-byte IGMP message (section 2) for group to dst. */
static void igmp_send(tern_netif *nif, uint8_t type, uint32_t group,
                      uint32_t dst) {
  tern_stack *st = nif->st;
  tern_pbuf *p = ip_pbuf_alloc_raw(st, IP_HEADROOM_IP + 4, 8);
  if (!p) return;
  uint8_t *h = p->payload;
  h[0] = type;
  h[1] = 0;
  ip_put16(h + 2, 0);
  ip_put32(h + 4, group);
  ip_put16(h + 2, ip_chksum(h, 8));
  ip_stat_inc(&st->stats.igmp_out);
  ip4_output_igmp(nif, p, dst);
  tern_pbuf_free(p);
}

static void report(tern_stack *st, ip_igmp_group *m) {
  bool v1 = st->igmp->v1_until > st->now;
  igmp_send(m->nif, v1 ? IGMP_V1_REPORT : IGMP_V2_REPORT, m->group, m->group);
  m->last_reporter = true;
}

/* A random delay in [0, max_ms], at least 1 ms so a zero Max Response
 * Time still goes through the timer. */
static void delay(tern_stack *st, ip_igmp_group *m, uint32_t max_ms) {
  uint32_t d = max_ms ? ip_random32(st) % max_ms : 0;
  if (!d) d = 1;
  m->delaying = ip_timer_set(st, &m->tmr, ip_now32(st) + d) == TERN_OK;
}

static void on_timer(tern_stack *st, ip_timer *t) {
  ip_igmp_group *m = (ip_igmp_group *)(void *)t;
  m->delaying = false;
  report(st, m);
}

/* Which netif ifaddr names: one with that address; any (or NULL): the
 * default netif, else the first one that is up. */
static tern_netif *pick_netif(tern_stack *st, const tern_addr *ifaddr,
                              int *err) {
  uint32_t ip = 0;
  if (ifaddr && ifaddr->family && !ip_addr_from(ifaddr, &ip)) {
    *err = TERN_EAFNOSUPPORT;
    return NULL;
  }
  tern_netif *pick = ip ? NULL : st->default_nif;
  for (tern_netif *n = st->netifs; n && !pick; n = n->next)
    if (ip ? n->ip == ip : n->up) pick = n;
  *err = pick ? TERN_OK : ip ? TERN_EADDRNOTAVAIL : TERN_ENETUNREACH;
  return pick;
}

static int group_of(const tern_addr *group, uint32_t *g) {
  if (!group || !ip_addr_from(group, g)) return TERN_EAFNOSUPPORT;
  return is_mcast(*g) ? TERN_OK : TERN_EINVAL;
}

static void mac_filter(tern_netif *nif, uint32_t group, bool add) {
  if (!nif->drv->mcast_filter) return;
  uint8_t mac[6] = {0x01, 0x00, 0x5e, (uint8_t)((group >> 16) & 0x7f),
                    (uint8_t)(group >> 8), (uint8_t)group};
  nif->drv->mcast_filter(nif, mac, add);
}

int tern_igmp_join(tern_stack *st, const tern_addr *ifaddr,
                   const tern_addr *group) {
  IP_CTX(st);
  uint32_t g;
  int err = group_of(group, &g);
  if (err) return err;
  tern_netif *nif = pick_netif(st, ifaddr, &err);
  if (!nif) return err;
  ip_igmp_group *m = find(st, nif, g);
  if (m) {
    if (m->users == UINT16_MAX) return TERN_ENOSPC;
    m->users++;
    return TERN_OK;
  }
  if (!st->igmp) {
    st->igmp = ip_malloc(st, sizeof *st->igmp);
    if (!st->igmp) return TERN_ENOMEM;
    st->igmp_fn = igmp_fn;
  }
  if (st->igmp->count >= st->opts.max_udp) return TERN_ENOSPC;
  m = ip_malloc(st, sizeof *m);
  if (!m) return TERN_ENOMEM;
  ip_timer_init(&m->tmr, on_timer);
  m->nif = nif;
  m->group = g;
  m->users = 1;
  m->next = st->igmp->groups;
  st->igmp->groups = m;
  st->igmp->count++;
  mac_filter(nif, g, true);
  if (g != IGMP_ALL_SYSTEMS && nif->up) {
    report(st, m); /* section 3: at once, and once more later */
    delay(st, m, IGMP_UNSOLICITED_MS);
  }
  return TERN_OK;
}

static void drop(tern_stack *st, ip_igmp_group *m, bool leave) {
  for (ip_igmp_group **pp = &st->igmp->groups; *pp; pp = &(*pp)->next)
    if (*pp == m) {
      *pp = m->next;
      break;
    }
  st->igmp->count--;
  ip_timer_stop(st, &m->tmr);
  if (leave && m->last_reporter && m->nif->up &&
      m->group != IGMP_ALL_SYSTEMS && st->igmp->v1_until <= st->now)
    igmp_send(m->nif, IGMP_LEAVE, m->group, IGMP_ALL_ROUTERS);
  if (leave) mac_filter(m->nif, m->group, false);
  ip_free(st, m);
}

int tern_igmp_leave(tern_stack *st, const tern_addr *ifaddr,
                    const tern_addr *group) {
  IP_CTX(st);
  uint32_t g;
  int err = group_of(group, &g);
  if (err) return err;
  tern_netif *nif = pick_netif(st, ifaddr, &err);
  if (!nif) return err;
  ip_igmp_group *m = find(st, nif, g);
  if (!m) return TERN_EADDRNOTAVAIL;
  if (--m->users == 0) drop(st, m, true);
  return TERN_OK;
}

static void igmp_input(tern_stack *st, tern_pbuf *p, const ip_rx *rx) {
  ip_stat_inc(&st->stats.igmp_in);
  /* section 2: 8 bytes, checksum over the whole IGMP message */
  if (p->tot_len < 8 || !ip_pbuf_make_contig(&p, 8) ||
      ip_chksum_pbuf(p, p->tot_len) != 0) {
    ip_stat_inc(&st->stats.ip_drop);
    tern_pbuf_free(p);
    return;
  }
  const uint8_t *h = p->payload;
  uint32_t g = ip_get32(h + 4);
  tern_netif *nif = rx->nif;
  if (h[0] == IGMP_QUERY && st->igmp) {
    uint32_t max = h[1];
    if (!max) { /* a version 1 query (section 4) */
      max = IGMP_V1_MAX_RESP;
      st->igmp->v1_until = st->now + IGMP_V1_PRESENT_MS;
    }
    uint32_t max_ms = max * 100u; /* units of 1/10 second */
    for (ip_igmp_group *m = st->igmp->groups; m; m = m->next) {
      if (m->nif != nif || m->group == IGMP_ALL_SYSTEMS) continue;
      if (g && g != m->group) continue; /* group-specific query */
      /* section 3: start a timer, or restart it when the query's Max
       * Response Time is less than what remains */
      if (!m->delaying ||
          ip_tdiff(m->tmr.due, ip_now32(st) + max_ms) > 0)
        delay(st, m, max_ms);
    }
  } else if ((h[0] == IGMP_V1_REPORT || h[0] == IGMP_V2_REPORT) &&
             st->igmp) {
    /* another member reported: ours is not needed (suppression) */
    ip_igmp_group *m = find(st, nif, g);
    if (m && m->delaying) {
      ip_timer_stop(st, &m->tmr);
      m->delaying = false;
      m->last_reporter = false;
    }
  }
  tern_pbuf_free(p);
}

/* The netif came up: what was joined while it was down is reported now
 * (as a join would have). */
static void netif_up(tern_netif *nif) {
  tern_stack *st = nif->st;
  if (!st->igmp) return;
  for (ip_igmp_group *m = st->igmp->groups; m; m = m->next)
    if (m->nif == nif && m->group != IGMP_ALL_SYSTEMS) {
      report(st, m);
      delay(st, m, IGMP_UNSOLICITED_MS);
    }
}

static void netif_gone(tern_netif *nif) {
  tern_stack *st = nif->st;
  if (!st->igmp) return;
  for (ip_igmp_group *m = st->igmp->groups, *next; m; m = next) {
    next = m->next;
    if (m->nif == nif) drop(st, m, false);
  }
}

static void deinit(tern_stack *st) {
  if (!st->igmp) return;
  while (st->igmp->groups) drop(st, st->igmp->groups, false);
  ip_free(st, st->igmp);
  st->igmp = NULL;
}

static void igmp_fn(tern_stack *st, int op, tern_netif *nif, tern_pbuf *p,
                    const ip_rx *rx) {
  switch (op) {
  case IP_IGMP_INPUT: igmp_input(st, p, rx); break;
  case IP_IGMP_NETIF_UP: netif_up(nif); break;
  case IP_IGMP_NETIF_GONE: netif_gone(nif); break;
  default: deinit(st); break;
  }
}

#else
typedef int ip_igmp_compiled_out; /* ISO C: no empty translation unit */
#endif /* TERN_ENABLE_IGMP */
