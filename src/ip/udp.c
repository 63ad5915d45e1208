/* udp.c: UDP (RFC 768, RFC 1122 section 4.1) and its raw API.
 *
 * Demultiplexing picks the most specific pcb: connected to the sender,
 * then bound to the destination address, then bound to any address.
 * Broadcast and multicast datagrams go to every pcb bound to the port.
 * A unicast datagram nobody wants gets ICMP port unreachable (RFC 1122
 * 4.1.3.1).
 */
#include <stdlib.h>

#include "ip/ip_internal.h"

#define EPHEMERAL_LO 49152u /* RFC 6335 section 6 */
#define EPHEMERAL_HI 65535u

struct tern_udp {
  tern_udp *next;
  tern_stack *st;
  uint32_t local_ip, remote_ip;
  uint16_t local_port, remote_port;
  bool bound, connected;
  uint8_t ttl, tos;     /* ttl 0: the stack's */
#if TERN_ENABLE_IGMP
  uint8_t mcast_ttl;    /* to a group [1] */
  bool mcast_loop;      /* [true] */
  uint32_t mcast_if;    /* the netif's address, 0: the route's */
#endif
  tern_udp_recv_fn recv;
  void *arg;
};

struct ip_udp_ctx {
  tern_udp *pcbs;
  uint32_t count;
};

int ip_udp_init(tern_stack *st) {
  st->udp = calloc(1, sizeof *st->udp);
  return st->udp ? TERN_OK : TERN_ENOMEM;
}

void ip_udp_deinit(tern_stack *st) {
  while (st->udp->pcbs) tern_udp_free(st->udp->pcbs);
  free(st->udp);
  st->udp = NULL;
}

tern_udp *tern_udp_new(tern_stack *st) {
  IP_CTX(st);
  if (!st || st->udp->count >= st->opts.max_udp) return NULL;
  tern_udp *pcb = ip_malloc(st, sizeof *pcb);
  if (!pcb) return NULL;
  pcb->st = st;
#if TERN_ENABLE_IGMP
  pcb->mcast_ttl = 1; /* RFC 1112 6.1: a group's datagrams stay on the link */
  pcb->mcast_loop = true;
#endif
  pcb->next = st->udp->pcbs;
  st->udp->pcbs = pcb;
  st->udp->count++;
  st->stats.udp_pcbs = st->udp->count;
  return pcb;
}

void tern_udp_free(tern_udp *pcb) {
  IP_CTX(pcb ? pcb->st : NULL);
  if (!pcb) return;
  tern_stack *st = pcb->st;
  for (tern_udp **pp = &st->udp->pcbs; *pp; pp = &(*pp)->next)
    if (*pp == pcb) {
      *pp = pcb->next;
      break;
    }
  st->udp->count--;
  st->stats.udp_pcbs = st->udp->count;
  ip_free(st, pcb);
}

static bool port_used(const tern_stack *st, uint32_t ip, uint16_t port,
                      const tern_udp *self) {
  for (const tern_udp *u = st->udp->pcbs; u; u = u->next)
    if (u != self && u->bound && u->local_port == port &&
        (!u->local_ip || !ip || u->local_ip == ip))
      return true;
  return false;
}

int tern_udp_bind(tern_udp *pcb, const tern_addr *local) {
  IP_CTX(pcb->st);
  uint32_t ip = 0;
  uint16_t port = 0;
  if (local) {
    if (!ip_addr_from(local, &ip)) return TERN_EAFNOSUPPORT;
    port = local->port;
  }
  tern_stack *st = pcb->st;
  if (ip && !ip4_is_local(st, ip) && (ip >> 28) != 0xe)
    return TERN_EADDRNOTAVAIL; /* a group may be bound: receive it only */
  if (!port) {
    uint32_t span = EPHEMERAL_HI - EPHEMERAL_LO + 1;
    uint32_t start = ip_random32(st) % span;
    for (uint32_t i = 0; i < span; i++) {
      uint16_t cand = (uint16_t)(EPHEMERAL_LO + (start + i) % span);
      if (!port_used(st, ip, cand, pcb)) {
        port = cand;
        break;
      }
    }
    if (!port) return TERN_EADDRINUSE;
  } else if (port_used(st, ip, port, pcb)) {
    return TERN_EADDRINUSE;
  }
  pcb->local_ip = ip;
  pcb->local_port = port;
  pcb->bound = true;
  return TERN_OK;
}

int tern_udp_connect(tern_udp *pcb, const tern_addr *peer) {
  IP_CTX(pcb->st);
  uint32_t ip;
  if (!ip_addr_from(peer, &ip)) return TERN_EAFNOSUPPORT;
  if (!peer->port) return TERN_EINVAL;
  if (!pcb->bound) {
    int err = tern_udp_bind(pcb, NULL);
    if (err) return err;
  }
  pcb->remote_ip = ip;
  pcb->remote_port = peer->port;
  pcb->connected = true;
  return TERN_OK;
}

void tern_udp_disconnect(tern_udp *pcb) {
  pcb->connected = false;
  pcb->remote_ip = 0;
  pcb->remote_port = 0;
}

void tern_udp_recv(tern_udp *pcb, tern_udp_recv_fn fn, void *arg) {
  pcb->recv = fn;
  pcb->arg = arg;
}

void tern_udp_local(const tern_udp *pcb, tern_addr *out) {
  ip_addr_to(pcb->local_ip, pcb->local_port, out);
}

void tern_udp_set_ip(tern_udp *pcb, uint8_t ttl, uint8_t tos) {
  pcb->ttl = ttl;
  pcb->tos = tos;
}

#if TERN_ENABLE_IGMP
int tern_udp_set_mcast(tern_udp *pcb, uint8_t ttl, const tern_addr *ifaddr,
                       bool loop) {
  uint32_t ip = 0;
  if (ifaddr && ifaddr->family && !ip_addr_from(ifaddr, &ip))
    return TERN_EAFNOSUPPORT;
  if (ip && !ip4_is_local(pcb->st, ip)) return TERN_EADDRNOTAVAIL;
  pcb->mcast_ttl = ttl;
  pcb->mcast_if = ip;
  pcb->mcast_loop = loop;
  return TERN_OK;
}
#endif

static int udp_output(tern_udp *pcb, tern_pbuf *p, uint32_t dst,
                      uint16_t dport, tern_netif *nif, uint32_t nexthop);

/* Both sends: the datagram fits in IPv4, the pcb gets a port. */
IP_NOINLINE static int send_check(tern_udp *pcb, const tern_pbuf *p) {
  if (p->tot_len > 65535 - IP_IP_HLEN - IP_UDP_HLEN) return TERN_EMSGSIZE;
  return pcb->bound ? TERN_OK : tern_udp_bind(pcb, NULL);
}

int tern_udp_sendto(tern_udp *pcb, tern_pbuf *p, const tern_addr *to) {
  IP_CTX(pcb->st);
  tern_stack *st = pcb->st;
  uint32_t dst;
  uint16_t dport;
  if (to) {
    if (!ip_addr_from(to, &dst)) return TERN_EAFNOSUPPORT;
    dport = to->port;
  } else {
    if (!pcb->connected) return TERN_ENOTCONN;
    dst = pcb->remote_ip;
    dport = pcb->remote_port;
  }
  if (!dport) return TERN_EINVAL;
  int err = send_check(pcb, p);
  if (err) return err;
  uint32_t nexthop = dst;
  tern_netif *nif = NULL;
#if TERN_ENABLE_IGMP
  if (pcb->mcast_if && (dst >> 28) == 0xe) /* IP_MULTICAST_IF */
    for (nif = st->netifs; nif && nif->ip != pcb->mcast_if; nif = nif->next) {
    }
#endif
  if (!nif) nif = ip4_route(st, dst, &nexthop);
  if (!nif) return TERN_EHOSTUNREACH;
  return udp_output(pcb, p, dst, dport, nif, nexthop);
}

/* RFC 2131 4.1: a DHCP client sends from 0.0.0.0 to 255.255.255.255 out
 * of an interface that has no address yet, which no route leads to: the
 * caller names the netif. Unicast is resolved on that link (through its
 * gateway when off-link and one is set). */
int tern_udp_sendto_netif(tern_udp *pcb, tern_pbuf *p, const tern_addr *to,
                          tern_netif *nif) {
  uint32_t dst;
  if (!nif || !to) return TERN_EINVAL;
  if (!ip_addr_from(to, &dst)) return TERN_EAFNOSUPPORT;
  if (!to->port) return TERN_EINVAL;
  int err = send_check(pcb, p);
  if (err) return err;
  uint32_t nexthop = dst;
  if (nif->ip && nif->gw && !ip4_is_bcast(nif, dst) &&
      (dst & nif->mask) != (nif->ip & nif->mask))
    nexthop = nif->gw;
  return udp_output(pcb, p, dst, to->port, nif, nexthop);
}

/* Push the UDP header, checksum, hand to IPv4 on nif; p is restored. */
static int udp_output(tern_udp *pcb, tern_pbuf *p, uint32_t dst,
                      uint16_t dport, tern_netif *nif, uint32_t nexthop) {
  tern_stack *st = pcb->st;
  /* bound to a group: that is what it receives, not a source */
  uint32_t src = pcb->local_ip && (pcb->local_ip >> 28) != 0xe ? pcb->local_ip
                                                                : nif->ip;

  tern_tx_meta saved;
  tern_pbuf *d = ip_hdr_push(p, IP_UDP_HLEN, IP_HEADROOM_IP, &saved, false);
  if (!d) return TERN_ENOMEM;
  uint8_t *h = d->payload;
  uint32_t len = d->tot_len;
  ip_put16(h, pcb->local_port);
  ip_put16(h + 2, dport);
  ip_put16(h + 4, (uint16_t)len);
  if ((nif->flags & TERN_NETIF_TX_CSUM) && len + IP_IP_HLEN <= nif->mtu) {
    ip_put16(h + 6, ip_chksum_pseudo_partial(IP_PROTO_UDP, len, src, dst));
    d->meta.csum_start = 0;
    d->meta.csum_offset = 6;
    d->meta.hdr_len = IP_UDP_HLEN;
  } else {
    ip_put16(h + 6, 0);
    uint16_t c = ip_chksum_pseudo(d, IP_PROTO_UDP, len, src, dst);
    ip_put16(h + 6, c ? c : 0xffff); /* RFC 768: 0 means "none" */
  }
  ip_stat_inc(&st->stats.udp_out);
  uint8_t ttl = pcb->ttl; /* 0: the stack's, ip4_output_if */
#if TERN_ENABLE_IGMP
  bool group = (dst >> 28) == 0xe;
  if (group) ttl = pcb->mcast_ttl;
#endif
  int err = ip4_output_if(nif, d, src, dst, nexthop, IP_PROTO_UDP, ttl,
                          pcb->tos);
#if TERN_ENABLE_IGMP
  if (group && pcb->mcast_loop && ip_igmp_member(nif, dst))
    ip4_mcast_loop(nif, d, src, dst, IP_PROTO_UDP);
#endif
  ip_hdr_pop(p, d, IP_UDP_HLEN, &saved);
  return err;
}

int tern_udp_send(tern_udp *pcb, tern_pbuf *p) {
  return tern_udp_sendto(pcb, p, NULL);
}

void ip_udp_input(tern_stack *st, tern_pbuf *p, const ip_rx *rx) {
  ip_stat_inc(&st->stats.udp_in);
  if (p->len < IP_UDP_HLEN) goto drop;
  const uint8_t *h = p->payload;
  uint16_t sport = ip_get16(h), dport = ip_get16(h + 2);
  uint16_t ulen = ip_get16(h + 4);
  if (ulen < IP_UDP_HLEN || ulen > p->tot_len) goto drop;
  if (ulen < p->tot_len) ip_pbuf_trim(p, ulen);
  if (ip_get16(h + 6) != 0 && !rx->csum_ok &&
      ip_chksum_pseudo(p, IP_PROTO_UDP, ulen, rx->src, rx->dst) != 0) {
    ip_stat_inc(&st->stats.udp_chksum_err);
    goto drop;
  }
  tern_addr from;
  ip_addr_to(rx->src, sport, &from);

  if (rx->bcast) {
    /* every pcb bound to the port gets its own reference */
    bool any = false;
    ip_pbuf_pull(p, IP_UDP_HLEN);
    for (tern_udp *u = st->udp->pcbs, *next; u; u = next) {
      next = u->next; /* a callback may free its pcb */
      if (!u->bound || u->local_port != dport || !u->recv) continue;
      if (u->local_ip && u->local_ip != rx->dst && rx->dst != 0xffffffffu &&
          u->local_ip != rx->nif->ip)
        continue;
      if (u->connected && (u->remote_ip != rx->src || u->remote_port != sport))
        continue;
      tern_pbuf_ref(p);
      any = true;
      u->recv(u->arg, u, p, &from);
    }
    if (!any) ip_stat_inc(&st->stats.udp_noport);
    tern_pbuf_free(p);
    return;
  }

  tern_udp *best = NULL;
  int best_score = -1;
  for (tern_udp *u = st->udp->pcbs; u; u = u->next) {
    if (!u->bound || u->local_port != dport) continue;
    if (u->local_ip && u->local_ip != rx->dst) continue;
    int score = u->local_ip ? 1 : 0;
    if (u->connected) {
      if (u->remote_ip != rx->src || u->remote_port != sport) continue;
      score += 2;
    }
    if (score > best_score) {
      best = u;
      best_score = score;
    }
  }
  if (!best) {
    ip_stat_inc(&st->stats.udp_noport);
    ip_icmp_unreach(st, p, rx, ICMP_UNREACH_PORT);
    goto drop;
  }
  if (!best->recv) goto drop;
  ip_pbuf_pull(p, IP_UDP_HLEN);
  best->recv(best->arg, best, p, &from);
  return;
drop:
  ip_stat_inc(&st->stats.udp_drop);
  tern_pbuf_free(p);
}
