/* arp.c: the Address Resolution Protocol (RFC 826) for IPv4 over
 * Ethernet: a cache with timeouts, a bounded queue of packets waiting for
 * a resolution, and gratuitous announcements (RFC 5227 section 3).
 *
 * The cache is a fixed array (opts.arp_entries) allocated once; when it is
 * full the oldest stable entry is replaced. A pending entry holds at most
 * opts.arp_queue packets (copies: the caller keeps and may reuse its own
 * chain) and asks again every second, three times, then gives up and
 * drops them. One timer serves the whole table.
 */
#include <stdlib.h>

#include "ip/ip_internal.h"
#include "tern/acd.h" /* TERN_IP_ACD */

enum { E_FREE = 0, E_PENDING, E_STABLE };

#define ARP_HLEN 28
#define ARP_RETRY_MS 1000
#define ARP_TRIES 3

typedef struct arp_entry {
  uint32_t ip;
  uint8_t mac[6];
  uint8_t state;
  uint8_t tries;
  uint16_t qlen;
  tern_netif *nif;
  uint32_t expires;     /* stable: forget; pending: ask again (ms, low
                           32 bits, compared with ip_tdiff) */
  tern_pbuf *q_head, *q_tail;
} arp_entry;

struct ip_arp {
  ip_timer timer;
  uint32_t n;
  arp_entry e[];
};

static void arp_tick(tern_stack *st, ip_timer *t);

int ip_arp_init(tern_stack *st) {
  uint32_t n = st->opts.arp_entries;
  st->arp = calloc(1, sizeof *st->arp + n * sizeof(arp_entry));
  if (!st->arp) return TERN_ENOMEM;
  st->arp->n = n;
  ip_timer_init(&st->arp->timer, arp_tick);
  return TERN_OK;
}

static void entry_clear(tern_stack *st, arp_entry *e) {
  ip_pbuf_free_queue(e->q_head);
  memset(e, 0, sizeof *e);
  (void)st;
}

void ip_arp_deinit(tern_stack *st) {
  struct ip_arp *a = st->arp;
  for (uint32_t i = 0; i < a->n; i++) entry_clear(st, &a->e[i]);
  ip_timer_stop(st, &a->timer);
  free(a);
  st->arp = NULL;
}

static void arm(tern_stack *st) {
  struct ip_arp *a = st->arp;
  arp_entry *next = NULL;
  for (uint32_t i = 0; i < a->n; i++)
    if (a->e[i].state != E_FREE &&
        (!next || ip_tdiff(a->e[i].expires, next->expires) < 0))
      next = &a->e[i];
  if (!next)
    ip_timer_stop(st, &a->timer);
  else
    ip_timer_set(st, &a->timer, next->expires);
}

static int arp_send_from(tern_netif *nif, uint16_t op, const uint8_t *dst_mac,
                         uint32_t sender_ip, const uint8_t *target_mac,
                         uint32_t target_ip) {
  tern_stack *st = nif->st;
  tern_pbuf *p = ip_pbuf_alloc_raw(st, IP_HEADROOM_LINK, ARP_HLEN);
  if (!p) return TERN_ENOMEM;
  uint8_t *h = p->payload;
  ip_put16(h, 1);             /* hardware: Ethernet */
  ip_put16(h + 2, ETH_TYPE_IP);
  h[4] = 6;
  h[5] = 4;
  ip_put16(h + 6, op);
  memcpy(h + 8, nif->mac, 6);
  ip_put32(h + 14, sender_ip);
  memcpy(h + 18, target_mac, 6);
  ip_put32(h + 24, target_ip);
  ip_stat_inc(&st->stats.arp_out);
  int err = ip_eth_send(nif, p, dst_mac, ETH_TYPE_ARP);
  tern_pbuf_free(p);
  return err;
}

static int arp_send(tern_netif *nif, uint16_t op, const uint8_t *dst_mac,
                    const uint8_t *target_mac, uint32_t target_ip) {
  return arp_send_from(nif, op, dst_mac, nif->ip, target_mac, target_ip);
}

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero_mac[6] = {0};

static int arp_request(tern_netif *nif, uint32_t ip) {
  return arp_send(nif, 1, bcast, zero_mac, ip);
}

#if TERN_IP_ACD
int ip_arp_request_from(tern_netif *nif, uint32_t sip, uint32_t tip) {
  return arp_send_from(nif, 1, bcast, sip, zero_mac, tip);
}
#endif

void ip_arp_announce(tern_netif *nif) {
  /* RFC 5227 section 3: an ARP request with sender and target both our
   * address; hosts with a stale entry for us update it. */
  arp_request(nif, nif->ip);
}

IP_NOINLINE static arp_entry *find(struct ip_arp *a, tern_netif *nif,
                                   uint32_t ip) {
  for (uint32_t i = 0; i < a->n; i++)
    if (a->e[i].state != E_FREE && a->e[i].ip == ip && a->e[i].nif == nif)
      return &a->e[i];
  return NULL;
}

/* A free entry, else the stable one that expires first. Pending entries
 * are never evicted (their packets would be lost mid-resolution). */
static arp_entry *take(tern_stack *st) {
  struct ip_arp *a = st->arp;
  arp_entry *victim = NULL;
  for (uint32_t i = 0; i < a->n; i++) {
    arp_entry *e = &a->e[i];
    if (e->state == E_FREE) return e;
    if (e->state == E_STABLE &&
        (!victim || ip_tdiff(e->expires, victim->expires) < 0))
      victim = e;
  }
  if (victim) entry_clear(st, victim);
  return victim;
}

static void flush_queue(tern_netif *nif, arp_entry *e) {
  while (e->q_head) {
    tern_pbuf *p = e->q_head;
    e->q_head = p->q_next;
    p->q_next = NULL;
    ip_eth_send(nif, p, e->mac, ETH_TYPE_IP);
    tern_pbuf_free(p);
  }
  e->q_tail = NULL;
  e->qlen = 0;
}

static void learn(tern_netif *nif, uint32_t ip, const uint8_t *mac,
                  bool create) {
  tern_stack *st = nif->st;
  arp_entry *e = find(st->arp, nif, ip);
  if (!e) {
    if (!create) return;
    e = take(st);
    if (!e) return;
    e->ip = ip;
    e->nif = nif;
  }
  memcpy(e->mac, mac, 6);
  e->state = E_STABLE;
  e->tries = 0;
  e->expires = ip_now32(st) + st->opts.arp_ttl_ms;
  flush_queue(nif, e);
  arm(st);
}

void ip_arp_input(tern_netif *nif, tern_pbuf *p) {
  tern_stack *st = nif->st;
  ip_stat_inc(&st->stats.arp_in);
  if (p->len < ARP_HLEN) goto drop;
  const uint8_t *h = p->payload;
  if (ip_get16(h) != 1 || ip_get16(h + 2) != ETH_TYPE_IP || h[4] != 6 ||
      h[5] != 4)
    goto drop;
  uint16_t op = ip_get16(h + 6);
  uint8_t smac[6];
  memcpy(smac, h + 8, 6);
  uint32_t sip = ip_get32(h + 14);
  uint32_t tip = ip_get32(h + 24);
  if (smac[0] & 1) goto drop; /* a group address is nobody's MAC */
#if TERN_IP_ACD
  if (st->acd) st->acd_input(nif, op, smac, sip, tip);
#endif
  if (!nif->ip) goto drop;
  bool for_us = tip == nif->ip;
  /* RFC 826 "merge": update an entry we have; create one only when the
   * packet is addressed to us (we will talk back). A sender of 0.0.0.0
   * is a probe (RFC 5227) and teaches nothing. */
  if (sip && sip != nif->ip) learn(nif, sip, smac, for_us);
  if (op == 1 && for_us && sip != tip) arp_send(nif, 2, smac, smac, sip);
  tern_pbuf_free(p);
  return;
drop:
  ip_stat_inc(&st->stats.arp_drop);
  tern_pbuf_free(p);
}

int ip_arp_output(tern_netif *nif, tern_pbuf *p, uint32_t nexthop) {
  tern_stack *st = nif->st;
  arp_entry *e = find(st->arp, nif, nexthop);
  if (e && e->state == E_STABLE) return ip_eth_send(nif, p, e->mac, ETH_TYPE_IP);
  if (!e) {
    e = take(st);
    if (!e) {
      ip_stat_inc(&st->stats.arp_drop);
      return TERN_ENOMEM;
    }
    e->ip = nexthop;
    e->nif = nif;
    e->state = E_PENDING;
    e->tries = 1;
    e->expires = ip_now32(st) + ARP_RETRY_MS;
    arp_request(nif, nexthop);
    arm(st);
  }
  if (e->qlen >= st->opts.arp_queue) {
    /* keep the newest: drop the oldest waiting packet */
    tern_pbuf *old = e->q_head;
    e->q_head = old->q_next;
    if (!e->q_head) e->q_tail = NULL;
    old->q_next = NULL;
    tern_pbuf_free(old);
    e->qlen--;
    ip_stat_inc(&st->stats.arp_drop);
  }
  tern_pbuf *c = ip_pbuf_copy_range(st, p, 0, p->tot_len, IP_HEADROOM_LINK);
  if (!c) {
    ip_stat_inc(&st->stats.arp_drop);
    return TERN_ENOMEM;
  }
  c->meta = p->meta;
  if (e->q_tail)
    e->q_tail->q_next = c;
  else
    e->q_head = c;
  e->q_tail = c;
  e->qlen++;
  return TERN_OK;
}

void ip_arp_flush_netif(tern_netif *nif) {
  struct ip_arp *a = nif->st->arp;
  if (!a) return;
  for (uint32_t i = 0; i < a->n; i++)
    if (a->e[i].state != E_FREE && a->e[i].nif == nif)
      entry_clear(nif->st, &a->e[i]);
  arm(nif->st);
}

static void arp_tick(tern_stack *st, ip_timer *t) {
  (void)t;
  struct ip_arp *a = st->arp;
  for (uint32_t i = 0; i < a->n; i++) {
    arp_entry *e = &a->e[i];
    if (e->state == E_FREE || ip_tdiff(e->expires, ip_now32(st)) > 0)
      continue;
    if (e->state == E_STABLE || e->tries >= ARP_TRIES) {
      if (e->state == E_PENDING) st->stats.arp_drop += e->qlen;
      entry_clear(st, e);
      continue;
    }
    e->tries++;
    e->expires = ip_now32(st) + ARP_RETRY_MS;
    arp_request(e->nif, e->ip);
  }
  arm(st);
}
