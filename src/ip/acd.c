/* acd.c: IPv4 address conflict detection (RFC 5227; the API and its
 * timing are described in tern/acd.h).
 *
 *   PROBE --3 probes--> WAIT --ANNOUNCE_WAIT--> (FREE) ANNOUNCE --2--> WATCH
 *   PROBE/WAIT --conflict--> IDLE (IN_USE)
 *   ANNOUNCE/WATCH --conflict--> defend once, --again within 10 s--> IDLE
 *
 * Each handle has one ip_timer and sits on the stack's list (st->acd),
 * to which arp.c's input hands every ARP packet (through st->acd_input,
 * set here, so that a firmware without ACD links none of this file),
 * before it drops those on a netif with no address: probing happens while
 * the address is not yet configured. Handles come from the stack's
 * counted allocator.
 */
#include "tern/acd.h"

#include "ip/ip_internal.h"

#if TERN_IP_ACD

/* RFC 5227 section 1.1, in ms */
#define PROBE_WAIT 1000u
#define PROBE_NUM 3u
#define PROBE_MIN 1000u
#define PROBE_MAX 2000u
#define ANNOUNCE_WAIT 2000u
#define ANNOUNCE_NUM 2u
#define ANNOUNCE_INTERVAL 2000u
#define DEFEND_INTERVAL 10000u

enum { A_IDLE = 0, A_PROBE, A_WAIT, A_ANNOUNCE, A_WATCH };

struct tern_acd {
  tern_acd *next;             /* st->acd */
  tern_stack *st;
  tern_netif *nif;
  ip_timer timer;
  uint32_t ip;
  uint8_t state;
  uint8_t sent;               /* probes or announcements sent so far */
  bool defended;              /* last_defend is valid */
  bool in_cb, free_pending;
  uint64_t last_defend;
  tern_acd_cb cb;
  void *ud;
  tern_acd_stats stats;
};

static tern_acd *from_timer(ip_timer *t) {
  return (tern_acd *)(void *)((char *)t - offsetof(tern_acd, timer));
}

static void arm_in(tern_acd *a, uint32_t ms) {
  (void)ip_timer_set(a->st, &a->timer, ip_now32(a->st) + ms);
}

static uint32_t random_between(tern_acd *a, uint32_t lo, uint32_t hi) {
  return lo + ip_random32(a->st) % (hi - lo + 1);
}

static void really_free(tern_acd *a) {
  tern_acd **pp = &a->st->acd;
  while (*pp && *pp != a) pp = &(*pp)->next;
  if (*pp) *pp = a->next;
  ip_timer_stop(a->st, &a->timer);
  ip_free(a->st, a);
}

/* false if a was freed in the callback (return at once). */
static bool notify(tern_acd *a, tern_acd_event ev, const uint8_t *mac) {
  if (!a->cb) return true;
  a->in_cb = true;
  a->cb(a, ev, mac, a->ud);
  a->in_cb = false;
  if (a->free_pending) {
    really_free(a);
    return false;
  }
  return true;
}

/* RFC 5227 2.3: an ARP request with sender and target IP both ours. */
static void announce(tern_acd *a) {
  a->stats.announces++;
  ip_arp_request_from(a->nif, a->ip, a->ip);
}

static void stop(tern_acd *a) {
  a->state = A_IDLE;
  ip_timer_stop(a->st, &a->timer);
}

static void on_timer(tern_stack *st, ip_timer *t) {
  tern_acd *a = from_timer(t);
  (void)st;
  switch (a->state) {
  case A_PROBE: /* 2.1.1: sender IP 0, target the candidate */
    a->stats.probes++;
    ip_arp_request_from(a->nif, 0, a->ip);
    if (++a->sent < PROBE_NUM) {
      arm_in(a, random_between(a, PROBE_MIN, PROBE_MAX));
    } else {
      a->state = A_WAIT;
      arm_in(a, ANNOUNCE_WAIT);
    }
    return;
  case A_WAIT: { /* nobody answered: free */
    uint32_t before = a->nif->ip;
    a->state = A_ANNOUNCE;
    a->sent = 0;
    if (!notify(a, TERN_ACD_FREE, NULL) || a->state != A_ANNOUNCE) return;
    /* tern_netif_set_addr on an up netif has announced once already */
    if (before != a->ip && a->nif->ip == a->ip && a->nif->up) {
      a->stats.announces++;
      a->sent = 1;
      arm_in(a, ANNOUNCE_INTERVAL);
      return;
    }
  }
    /* fall through */
  case A_ANNOUNCE:
    announce(a);
    if (++a->sent < ANNOUNCE_NUM)
      arm_in(a, ANNOUNCE_INTERVAL);
    else
      a->state = A_WATCH;
    return;
  default:
    return;
  }
}

static void acd_input(tern_netif *nif, uint16_t op, const uint8_t *smac,
                      uint32_t sip, uint32_t tip) {
  tern_stack *st = nif->st;
  if (memcmp(smac, nif->mac, 6) == 0) return; /* our own, looped back */
  for (tern_acd *a = st->acd; a; a = a->next) {
    if (a->nif != nif || a->state == A_IDLE) continue;
    if (a->state == A_PROBE || a->state == A_WAIT) {
      /* 2.1.1: the candidate as sender (a reply, an announcement), or
       * another host probing for it at the same time */
      if (sip != a->ip && !(op == 1 && sip == 0 && tip == a->ip)) continue;
      a->stats.conflicts++;
      stop(a);
      notify(a, TERN_ACD_IN_USE, smac);
      return; /* the list may have changed in the callback */
    }
    if (sip != a->ip) continue;
    /* 2.4: someone else says it has our address */
    a->stats.conflicts++;
    if (a->defended && st->now - a->last_defend < DEFEND_INTERVAL) {
      stop(a);
      notify(a, TERN_ACD_LOST, smac);
      return;
    }
    a->defended = true;
    a->last_defend = st->now;
    announce(a);
    notify(a, TERN_ACD_DEFENDED, smac);
    return;
  }
}

static int start(tern_netif *nif, const tern_addr *addr, tern_acd_cb cb,
                 void *ud, tern_acd **out, bool probe) {
  if (!out) return TERN_EINVAL;
  *out = NULL;
  uint32_t ip = 0;
  if (!nif || !addr || !ip_addr_from(addr, &ip) || !ip ||
      !(nif->flags & TERN_NETIF_ETHERNET))
    return TERN_EINVAL;
  tern_stack *st = nif->st;
  IP_CTX(st);
  tern_acd *a = ip_malloc(st, sizeof *a);
  if (!a) return TERN_ENOMEM;
  a->st = st;
  a->nif = nif;
  a->ip = ip;
  a->cb = cb;
  a->ud = ud;
  ip_timer_init(&a->timer, on_timer);
  a->next = st->acd;
  st->acd = a;
  st->acd_input = acd_input;
  if (probe) { /* 2.1.1: wait a random 0..PROBE_WAIT first */
    a->state = A_PROBE;
    arm_in(a, random_between(a, 0, PROBE_WAIT));
  } else {
    a->state = A_ANNOUNCE;
    arm_in(a, 0);
  }
  *out = a;
  return TERN_OK;
}

int tern_acd_probe(tern_netif *nif, const tern_addr *addr, tern_acd_cb cb,
                   void *ud, tern_acd **out) {
  return start(nif, addr, cb, ud, out, true);
}

int tern_acd_watch(tern_netif *nif, const tern_addr *addr, tern_acd_cb cb,
                   void *ud, tern_acd **out) {
  return start(nif, addr, cb, ud, out, false);
}

void tern_acd_free(tern_acd *a) {
  if (!a) return;
  if (a->in_cb) {
    stop(a);
    a->free_pending = true;
    return;
  }
  really_free(a);
}

void tern_acd_get_stats(const tern_acd *a, tern_acd_stats *out) {
  *out = a->stats;
}

#else /* !TERN_IP_ACD */

int tern_acd_probe(tern_netif *nif, const tern_addr *addr, tern_acd_cb cb,
                   void *ud, tern_acd **out) {
  (void)nif, (void)addr, (void)cb, (void)ud;
  if (out) *out = NULL;
  return TERN_ENOTSUP;
}

int tern_acd_watch(tern_netif *nif, const tern_addr *addr, tern_acd_cb cb,
                   void *ud, tern_acd **out) {
  return tern_acd_probe(nif, addr, cb, ud, out);
}

void tern_acd_free(tern_acd *a) { (void)a; }

void tern_acd_get_stats(const tern_acd *a, tern_acd_stats *out) {
  (void)a;
  memset(out, 0, sizeof *out);
}

#endif /* TERN_IP_ACD */
