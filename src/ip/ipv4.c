/* ipv4.c: IPv4 input and output (RFC 791, with RFC 1122 section 3.2.1
 * checks and RFC 1812 where a host needs it).
 *
 * A host, not a router: datagrams not addressed to one of our addresses
 * (or a broadcast/multicast the netif receives) are dropped, never
 * forwarded. Options are accepted and skipped. Output fragments datagrams
 * larger than the MTU (RFC 791 section 3.2, "fragmentation"); TCP sizes
 * its segments to fit, so that is UDP's and ICMP's path.
 */
#include "ip/ip_internal.h"

/* ---- input ------------------------------------------------------------- */

void ip4_input(tern_netif *nif, tern_pbuf *p, bool csum_ok) {
  tern_stack *st = nif->st;
  ip_stat_inc(&st->stats.ip_in);
  if (p->len < IP_IP_HLEN) goto drop;
  const uint8_t *h = p->payload;
  uint8_t ihl = (uint8_t)((h[0] & 0x0f) * 4);
  uint16_t total = ip_get16(h + 2);
  if ((h[0] >> 4) != 4 || ihl < IP_IP_HLEN || ihl > p->len || total < ihl ||
      total > p->tot_len)
    goto drop;
  if (ip_chksum(h, ihl) != 0) {
    ip_stat_inc(&st->stats.ip_chksum_err);
    goto drop;
  }
  /* Ethernet pads short frames: the IP length is the truth. */
  if (total < p->tot_len) ip_pbuf_trim(p, total);

  uint32_t src = ip_get32(h + 12), dst = ip_get32(h + 16);
  /* RFC 1122 3.2.1.3: a source that is broadcast, multicast or loopback
   * is silently discarded. */
  if (src == 0xffffffffu || (src >> 28) == 0xe || (src >> 24) == 127)
    goto drop;
  bool bcast = ip4_is_bcast(nif, dst);
#if TERN_ENABLE_IGMP
  /* RFC 1112 section 7.2: a group this netif has not joined is not ours */
  if ((dst >> 28) == 0xe && !ip_igmp_member(nif, dst)) goto drop;
#endif
  bool ours = dst == nif->ip || ip4_is_local(st, dst);
  /* No address yet (DHCP): take what is sent to us by MAC. */
  if (!ours && !bcast && nif->ip) goto drop;
  if (!ours && !bcast && !nif->ip && !(p->flags & PBUF_F_BCAST) &&
      h[9] != IP_PROTO_UDP)
    goto drop;

  uint16_t frag = ip_get16(h + 6);
  if (frag & 0x3fff) { /* MF set or offset non-zero */
    ip_stat_inc(&st->stats.ip_frag_in);
    p = ip4_reass(st, p);
    if (!p) return; /* held, or dropped by reassembly */
    h = p->payload;
    ihl = (uint8_t)((h[0] & 0x0f) * 4);
    csum_ok = false; /* the driver's verdict was per fragment */
  }

  ip_rx rx = {
      .nif = nif,
      .src = src,
      .dst = dst,
      .proto = h[9],
      .ttl = h[8],
      .tos = h[1],
      .iph_len = ihl,
      .csum_ok = csum_ok,
      .bcast = bcast,
  };
  bool raw = false;
#if TERN_ENABLE_IP_RAW
  if (st->raws) raw = st->raw_in(st, p, &rx);
#endif
  ip_pbuf_pull(p, ihl);
  switch (rx.proto) {
  case IP_PROTO_TCP:
    if (bcast) break; /* RFC 1122 4.2.3.10: no TCP to broadcast */
    ip_tcp_input(st, p, &rx);
    return;
  case IP_PROTO_UDP:
    ip_udp_input(st, p, &rx);
    return;
  case IP_PROTO_ICMP:
    ip_icmp_input(st, p, &rx);
    return;
#if TERN_ENABLE_IGMP
  case IP_PROTO_IGMP:
    if (!st->igmp_fn) break; /* nothing joined: nothing to answer */
    st->igmp_fn(st, IP_IGMP_INPUT, nif, p, &rx);
    return;
#endif
  default:
    if (raw) { /* a raw pcb took it: not unknown */
      tern_pbuf_free(p);
      return;
    }
    if (!bcast) ip_icmp_unreach(st, p, &rx, ICMP_UNREACH_PROTO);
    break;
  }
drop:
  ip_stat_inc(&st->stats.ip_drop);
  tern_pbuf_free(p);
}

/* ---- output ------------------------------------------------------------- */

IP_NOINLINE static int link_out(tern_netif *nif, tern_pbuf *p,
                                uint32_t nexthop) {
  if (nif->flags & TERN_NETIF_ETHERNET) return ip_eth_output(nif, p, nexthop);
  return ip_netif_xmit(nif, p);
}

static void fill_header(uint8_t *h, uint32_t total, uint16_t id, uint16_t frag,
                        uint8_t ttl, uint8_t tos, uint8_t proto, uint32_t src,
                        uint32_t dst) {
  h[0] = 0x45;
  h[1] = tos;
  ip_put16(h + 2, (uint16_t)total);
  ip_put16(h + 4, id);
  ip_put16(h + 6, frag);
  h[8] = ttl;
  h[9] = proto;
  h[10] = h[11] = 0;
  ip_put32(h + 12, src);
  ip_put32(h + 16, dst);
  ip_put16(h + 10, ip_chksum(h, IP_IP_HLEN));
}

/* Finish a checksum left to the netif: on a copy of the datagram (the
 * caller's chain stays as it was). */
static tern_pbuf *complete_csum(tern_stack *st, const tern_pbuf *p) {
  tern_pbuf *c = ip_pbuf_copy_range(st, p, 0, p->tot_len, IP_HEADROOM_IP);
  if (!c) return NULL;
  uint16_t off = p->meta.csum_offset;
  /* the field holds the pseudo-header sum: summing everything including
   * it gives the final value */
  uint8_t b[2];
  ip_put16(b, ip_chksum_pbuf(c, c->tot_len));
  tern_pbuf_copy_in(c, off, b, 2);
  return c;
}

/* RFC 791 section 3.2: cut the payload at multiples of 8 bytes; every
 * fragment but the last has MF. Each fragment is a fresh chain. */
static int fragment(tern_netif *nif, const tern_pbuf *p, uint32_t src,
                    uint32_t dst, uint32_t nexthop, uint8_t proto, uint8_t ttl,
                    uint8_t tos) {
  tern_stack *st = nif->st;
  uint32_t per = (nif->mtu - IP_IP_HLEN) & ~7u;
  uint32_t total = p->tot_len;
  if (total + IP_IP_HLEN > 65535) return TERN_EMSGSIZE;
  uint16_t id = st->ip_id++;
  int err = TERN_OK;
  for (uint32_t off = 0; off < total; off += per) {
    uint32_t n = total - off < per ? total - off : per;
    tern_pbuf *f = ip_pbuf_copy_range(st, p, off, n, IP_HEADROOM_IP);
    if (!f) return TERN_ENOMEM;
    uint8_t *h = ip_pbuf_push(f, IP_IP_HLEN);
    uint16_t flags = (uint16_t)((off / 8) | (off + n < total ? 0x2000 : 0));
    fill_header(h, n + IP_IP_HLEN, id, flags, ttl, tos, proto, src, dst);
    ip_stat_inc(&st->stats.ip_out);
    err = link_out(nif, f, nexthop);
    tern_pbuf_free(f);
    if (err) break;
  }
  return err;
}

int ip4_output_if(tern_netif *nif, tern_pbuf *p, uint32_t src, uint32_t dst,
                  uint32_t nexthop, uint8_t proto, uint8_t ttl, uint8_t tos) {
  tern_stack *st = nif->st;
  if (!src) src = nif->ip;
  if (!ttl) ttl = st->opts.ttl; /* a pcb's 0: the stack's (IP_TTL unset) */
  bool tso = p->meta.gso_mss && (nif->flags & TERN_NETIF_TSO);
  if (p->tot_len + IP_IP_HLEN > nif->mtu && !tso) {
    if (p->meta.csum_offset) {
      tern_pbuf *c = complete_csum(st, p);
      if (!c) return TERN_ENOMEM;
      int err = fragment(nif, c, src, dst, nexthop, proto, ttl, tos);
      tern_pbuf_free(c);
      return err;
    }
    return fragment(nif, p, src, dst, nexthop, proto, ttl, tos);
  }
  if (p->tot_len + IP_IP_HLEN > 65535) return TERN_EMSGSIZE;
  if (p->meta.csum_offset && !(nif->flags & TERN_NETIF_TX_CSUM)) {
    /* the transport counted on an offload this netif lacks */
    tern_pbuf *c = complete_csum(st, p);
    if (!c) return TERN_ENOMEM;
    c->meta.csum_offset = 0;
    c->meta.gso_mss = 0;
    int err = ip4_output_if(nif, c, src, dst, nexthop, proto, ttl, tos);
    tern_pbuf_free(c);
    return err;
  }

  tern_tx_meta saved;
  tern_pbuf *pkt = ip_hdr_push(p, IP_IP_HLEN, IP_HEADROOM_LINK, &saved, true);
  if (!pkt) return TERN_ENOMEM;
  fill_header(pkt->payload, pkt->tot_len, st->ip_id++, 0, ttl, tos, proto, src, dst);
  ip_stat_inc(&st->stats.ip_out);
  int err = link_out(nif, pkt, nexthop);
  ip_hdr_pop(p, pkt, IP_IP_HLEN, &saved);
  return err;
}

#if TERN_ENABLE_IGMP
/* RFC 2236 section 2: TTL 1 and the IP Router Alert option (RFC 2113),
 * which makes the header 24 bytes; TOS "internetwork control" as Linux. */
int ip4_output_igmp(tern_netif *nif, tern_pbuf *p, uint32_t dst) {
  tern_stack *st = nif->st;
  uint8_t *h = ip_pbuf_push(p, IP_IP_HLEN + 4);
  if (!h) return TERN_ENOMEM;
  fill_header(h, p->tot_len, st->ip_id++, 0, 1, 0xc0, IP_PROTO_IGMP, nif->ip,
              dst);
  h[0] = 0x46;
  ip_put32(h + IP_IP_HLEN, 0x94040000u);
  ip_put16(h + 10, 0);
  ip_put16(h + 10, ip_chksum(h, IP_IP_HLEN + 4));
  ip_stat_inc(&st->stats.ip_out);
  return link_out(nif, p, dst);
}

/* ---- multicast loopback (IP_MULTICAST_LOOP) ------------------------------ */
/* A datagram sent to a group this host has joined on the netif is also
 * received by this host (RFC 1112 section 6.1). Not inside the send (a
 * receive callback could then run inside a send call): the copy waits
 * in st->loopq for a timer due at once; q_seq holds the netif's address
 * (the netif may be gone by then). */
#define IP_LOOPQ_MAX 16

static void loop_run(tern_stack *st, ip_timer *t) {
  (void)t;
  tern_pbuf *q = st->loopq;
  st->loopq = NULL;
  while (q) {
    tern_pbuf *next = q->q_next;
    q->q_next = NULL;
    tern_netif *nif = st->netifs;
    while (nif && nif->ip != q->q_seq) nif = nif->next;
    if (nif && nif->up)
      ip4_input(nif, q, true);
    else
      tern_pbuf_free(q);
    q = next;
  }
}

void ip4_mcast_loop(tern_netif *nif, const tern_pbuf *p, uint32_t src,
                    uint32_t dst, uint8_t proto) {
  tern_stack *st = nif->st;
  unsigned n = 0;
  tern_pbuf **tail = &st->loopq;
  for (; *tail; tail = &(*tail)->q_next) n++;
  if (!nif->ip || n >= IP_LOOPQ_MAX || p->tot_len + IP_IP_HLEN > 65535)
    return;
  /* a checksum left to the netif is completed in the copy */
  tern_pbuf *c = p->meta.csum_offset
                     ? complete_csum(st, p)
                     : ip_pbuf_copy_range(st, p, 0, p->tot_len,
                                          IP_HEADROOM_IP);
  if (!c) return;
  uint8_t *h = ip_pbuf_push(c, IP_IP_HLEN);
  fill_header(h, c->tot_len, 0, 0, 1, 0, proto, src, dst);
  c->q_seq = nif->ip;
  *tail = c;
  if (!ip_timer_armed(&st->loop_tmr)) {
    ip_timer_init(&st->loop_tmr, loop_run);
    ip_timer_set(st, &st->loop_tmr, ip_now32(st));
  }
}

void ip4_loop_deinit(tern_stack *st) {
  if (ip_timer_armed(&st->loop_tmr)) ip_timer_stop(st, &st->loop_tmr);
  ip_pbuf_free_queue(st->loopq);
  st->loopq = NULL;
}
#endif

int ip4_output(tern_stack *st, tern_pbuf *p, uint32_t src, uint32_t dst,
               uint8_t proto, uint8_t ttl, uint8_t tos) {
  uint32_t nexthop;
  tern_netif *nif = ip4_route(st, dst, &nexthop);
  if (!nif) {
    ip_stat_inc(&st->stats.ip_drop);
    return TERN_EHOSTUNREACH;
  }
  return ip4_output_if(nif, p, src, dst, nexthop, proto, ttl, tos);
}
