/* netif.c: network interfaces: add/remove, up/down, addresses, the input
 * entry point drivers feed frames into, and routing.
 */
#include "ip/ip_internal.h"

static uint32_t prefix_mask(uint8_t len) {
  return len == 0 ? 0 : len >= 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1);
}

int tern_netif_add(tern_stack *st, const tern_netif_opts *o,
                   tern_netif **out) {
  if (!st || !o || !o->driver || !o->driver->output || !out)
    return TERN_EINVAL;
  tern_netif *nif = ip_malloc(st, sizeof *nif);
  if (!nif) return TERN_ENOMEM;
  nif->st = st;
  if (o->name) {
    size_t n = strlen(o->name);
    if (n >= sizeof nif->name) n = sizeof nif->name - 1;
    memcpy(nif->name, o->name, n);
  }
  nif->flags = o->flags;
  memcpy(nif->mac, o->mac, 6);
  nif->mtu = o->mtu ? o->mtu : 1500;
  if (nif->mtu < 576) nif->mtu = 576; /* RFC 791: every host takes 576 */
  nif->tso_max = (o->flags & TERN_NETIF_TSO) ? (o->tso_max ? o->tso_max
                                                            : 65535)
                                              : 0;
  /* the IP total length field bounds a super-segment */
  if (nif->tso_max > 65535 - IP_IP_HLEN - IP_TCP_HLEN_MAX)
    nif->tso_max = 65535 - IP_IP_HLEN - IP_TCP_HLEN_MAX;
  nif->drv = o->driver;
  nif->drv_state = o->driver_state;
  uint32_t ip = 0, gw = 0;
  ip_addr_from(&o->addr, &ip);
  ip_addr_from(&o->gw, &gw);
  nif->ip = ip;
  nif->mask = prefix_mask(o->prefix_len > 32 ? 32 : o->prefix_len);
  nif->gw = gw;
  nif->next = st->netifs;
  st->netifs = nif;
  if (gw && !st->default_nif) st->default_nif = nif;
  *out = nif;
  return TERN_OK;
}

void tern_netif_remove(tern_netif *nif) {
  if (!nif) return;
  tern_stack *st = nif->st;
  if (nif->up) tern_netif_set_up(nif, false);
  for (tern_netif **pp = &st->netifs; *pp; pp = &(*pp)->next) {
    if (*pp == nif) {
      *pp = nif->next;
      break;
    }
  }
  if (st->default_nif == nif) {
    st->default_nif = NULL;
    for (tern_netif *n = st->netifs; n; n = n->next)
      if (n->gw) {
        st->default_nif = n;
        break;
      }
  }
  if (st->tcp) ip_tcp_netif_changed(st, nif, nif->ip);
#if TERN_ENABLE_IGMP
  if (st->igmp_fn) st->igmp_fn(st, IP_IGMP_NETIF_GONE, nif, NULL, NULL);
#endif
  ip_free(st, nif);
}

void tern_netif_set_up(tern_netif *nif, bool up) {
  if (nif->up == up) return;
  nif->up = up;
  if (nif->drv->set_up) nif->drv->set_up(nif, up);
  if (up) {
    if ((nif->flags & TERN_NETIF_ETHERNET) && nif->ip) ip_arp_announce(nif);
#if TERN_ENABLE_IGMP
    if (nif->st->igmp_fn)
      nif->st->igmp_fn(nif->st, IP_IGMP_NETIF_UP, nif, NULL, NULL);
#endif
  } else {
    if (nif->flags & TERN_NETIF_ETHERNET) ip_arp_flush_netif(nif);
  }
}

bool tern_netif_is_up(const tern_netif *nif) { return nif->up; }

int tern_netif_set_addr(tern_netif *nif, const tern_addr *addr,
                        uint8_t prefix_len, const tern_addr *gw) {
  uint32_t ip = 0, g = 0;
  if (addr && !ip_addr_from(addr, &ip)) return TERN_EAFNOSUPPORT;
  if (gw && gw->family && !ip_addr_from(gw, &g)) return TERN_EAFNOSUPPORT;
  uint32_t old = nif->ip;
  nif->ip = ip;
  nif->mask = prefix_mask(prefix_len > 32 ? 32 : prefix_len);
  nif->gw = g;
  tern_stack *st = nif->st;
  if (g && !st->default_nif) st->default_nif = nif;
  if (old && old != ip && st->tcp) ip_tcp_netif_changed(st, nif, old);
  if (nif->up && ip && (nif->flags & TERN_NETIF_ETHERNET))
    ip_arp_announce(nif);
  return TERN_OK;
}

void tern_netif_get_addr(const tern_netif *nif, tern_addr *addr,
                         uint8_t *prefix_len, tern_addr *gw) {
  /* masks are contiguous (set from a prefix length) */
  if (prefix_len) *prefix_len = (uint8_t)(nif->mask ? 32 - __builtin_ctz(nif->mask) : 0);
  if (addr) ip_addr_to(nif->ip, 0, addr);
  if (gw) ip_addr_to(nif->gw, 0, gw);
}

void *tern_netif_driver_state(const tern_netif *nif) { return nif->drv_state; }
tern_stack *tern_netif_stack(const tern_netif *nif) { return nif->st; }
const char *tern_netif_name(const tern_netif *nif) { return nif->name; }
uint32_t tern_netif_mtu(const tern_netif *nif) { return nif->mtu; }

void tern_netif_get_stats(const tern_netif *nif, tern_netif_stats *out) {
  *out = nif->stats;
}

int ip_netif_xmit(tern_netif *nif, tern_pbuf *frame) {
  if (!nif->up) return TERN_ENETUNREACH;
  ip_stat_inc(&nif->stats.tx_frames);
  nif->stats.tx_bytes += frame->tot_len;
  int err = nif->drv->output(nif, frame);
  if (err) ip_stat_inc(&nif->stats.tx_drop);
  return err;
}

void tern_netif_input(tern_netif *nif, tern_pbuf *p, bool csum_ok) {
  IP_CTX(nif->st); /* lwIP's netif_input asserts the core lock too */
  if (!p) return;
  ip_stat_inc(&nif->stats.rx_frames);
  nif->stats.rx_bytes += p->tot_len;
  if (!nif->up) {
    ip_stat_inc(&nif->stats.rx_drop);
    tern_pbuf_free(p);
    return;
  }
  size_t contig = p->tot_len < IP_HDR_CONTIG ? p->tot_len : IP_HDR_CONTIG;
  if (!ip_pbuf_make_contig(&p, contig)) {
    ip_stat_inc(&nif->stats.rx_drop);
    tern_pbuf_free(p);
    return;
  }
  if (csum_ok) p->flags |= PBUF_F_CSUM_OK;
  if (nif->flags & TERN_NETIF_ETHERNET)
    ip_eth_input(nif, p);
  else
    ip4_input(nif, p, csum_ok);
}

/* ---- routing ---------------------------------------------------------- */

bool ip4_is_local(const tern_stack *st, uint32_t ip) {
  for (const tern_netif *n = st->netifs; n; n = n->next)
    if (n->ip && n->ip == ip) return true;
  return false;
}

bool ip4_is_bcast(const tern_netif *nif, uint32_t ip) {
  if (ip == 0xffffffffu || ip == 0) return true;
  if ((ip >> 28) == 0xe) return true; /* multicast, 224/4 */
  if (nif && nif->mask != 0xffffffffu && nif->ip &&
      (ip & nif->mask) == (nif->ip & nif->mask) &&
      (ip & ~nif->mask) == ~nif->mask)
    return true;
  return false;
}

tern_netif *ip4_route(tern_stack *st, uint32_t dst, uint32_t *nexthop) {
  if ((dst >> 24) == 127) return NULL;
#if TERN_ENABLE_IGMP
  if ((dst >> 28) == 0xe) {
    /* a group is on every link, never behind the gateway: the default
     * netif, else the first one up with an address */
    tern_netif *n = st->default_nif;
    if (!n || !n->up)
      for (n = st->netifs; n && !(n->up && n->ip); n = n->next) {
      }
    if (n) {
      *nexthop = dst;
      return n;
    }
  }
#endif
  for (tern_netif *n = st->netifs; n; n = n->next) {
    if (!n->up || !n->ip) continue;
    if ((dst & n->mask) == (n->ip & n->mask) || dst == 0xffffffffu) {
      *nexthop = dst;
      return n;
    }
  }
  tern_netif *d = st->default_nif;
  if (d && d->up && d->gw) {
    *nexthop = d->gw;
    return d;
  }
  /* A single interface without a gateway: everything is on-link (a
   * point-to-point or bare-IP netif). */
  for (tern_netif *n = st->netifs; n; n = n->next)
    if (n->up && !(n->flags & TERN_NETIF_ETHERNET)) {
      *nexthop = dst;
      return n;
    }
  ip_stat_inc(&st->stats.ip_noroute);
  return NULL;
}

uint32_t ip4_source_for(tern_stack *st, uint32_t dst) {
  uint32_t nh;
  tern_netif *n = ip4_route(st, dst, &nh);
  return n ? n->ip : 0;
}
