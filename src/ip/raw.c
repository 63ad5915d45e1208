/* raw.c: raw IPv4 pcbs (lwIP's raw_pcb; what a SOCK_RAW socket stands
 * on): every datagram of one IP protocol that the stack accepts is
 * COPIED to each raw pcb of that protocol, IP header included, before the
 * protocol's own handling, which goes on as usual (an ICMP echo request
 * is still answered by the stack, as Linux and lwIP do). Sending: the
 * caller gives the protocol's header and data, the stack adds the IP
 * header (no IP_HDRINCL).
 *
 * Copies, not shared references: the transports move the payload pointer
 * and trim the chain they are given. A raw pcb costs nothing when there
 * is none (one pointer test per datagram).
 */
#include "ip/ip_internal.h"

#if TERN_ENABLE_IP_RAW

static bool raw_input(tern_stack *st, tern_pbuf *p, const ip_rx *rx);

struct tern_raw {
  tern_raw *next;
  tern_stack *st;
  uint32_t local_ip, remote_ip; /* 0: any */
  uint8_t proto;
  uint8_t ttl, tos;             /* ttl 0: the stack's */
  tern_raw_recv_fn recv;
  void *arg;
};

tern_raw *tern_raw_new(tern_stack *st, uint8_t proto) {
  IP_CTX(st);
  if (!st || !proto || st->raw_count >= st->opts.max_udp) return NULL;
  tern_raw *pcb = ip_malloc(st, sizeof *pcb);
  if (!pcb) return NULL;
  pcb->st = st;
  pcb->proto = proto;
  st->raw_in = raw_input;
  pcb->next = st->raws;
  st->raws = pcb;
  st->raw_count++;
  return pcb;
}

void tern_raw_free(tern_raw *pcb) {
  if (!pcb) return;
  tern_stack *st = pcb->st;
  IP_CTX(st);
  for (tern_raw **pp = &st->raws; *pp; pp = &(*pp)->next)
    if (*pp == pcb) {
      *pp = pcb->next;
      break;
    }
  st->raw_count--;
  ip_free(st, pcb);
}

int tern_raw_bind(tern_raw *pcb, const tern_addr *local) {
  IP_CTX(pcb->st);
  uint32_t ip = 0;
  if (local && local->family && !ip_addr_from(local, &ip))
    return TERN_EAFNOSUPPORT;
  if (ip && !ip4_is_local(pcb->st, ip)) return TERN_EADDRNOTAVAIL;
  pcb->local_ip = ip;
  return TERN_OK;
}

int tern_raw_connect(tern_raw *pcb, const tern_addr *peer) {
  IP_CTX(pcb->st);
  uint32_t ip = 0;
  if (peer && peer->family && !ip_addr_from(peer, &ip))
    return TERN_EAFNOSUPPORT;
  pcb->remote_ip = ip;
  return TERN_OK;
}

void tern_raw_recv(tern_raw *pcb, tern_raw_recv_fn fn, void *arg) {
  pcb->recv = fn;
  pcb->arg = arg;
}

void tern_raw_set_ip(tern_raw *pcb, uint8_t ttl, uint8_t tos) {
  pcb->ttl = ttl;
  pcb->tos = tos;
}

int tern_raw_sendto(tern_raw *pcb, tern_pbuf *p, const tern_addr *to) {
  tern_stack *st = pcb->st;
  IP_CTX(st);
  uint32_t dst = pcb->remote_ip;
  if (to && !ip_addr_from(to, &dst)) return TERN_EAFNOSUPPORT;
  if (!dst) return to ? TERN_EINVAL : TERN_ENOTCONN;
  if (p->tot_len > 65535 - IP_IP_HLEN) return TERN_EMSGSIZE;
  uint32_t nexthop;
  tern_netif *nif = ip4_route(st, dst, &nexthop);
  if (!nif) return TERN_EHOSTUNREACH;
  return ip4_output_if(nif, p, pcb->local_ip, dst, nexthop, pcb->proto,
                       pcb->ttl ? pcb->ttl : st->opts.ttl, pcb->tos);
}

static bool raw_input(tern_stack *st, tern_pbuf *p, const ip_rx *rx) {
  bool any = false;
  for (tern_raw *r = st->raws, *next; r; r = next) {
    next = r->next; /* a callback may free its pcb */
    if (r->proto != rx->proto || !r->recv) continue;
    if (r->local_ip && r->local_ip != rx->dst) continue;
    if (r->remote_ip && r->remote_ip != rx->src) continue;
    any = true;
    tern_pbuf *c = ip_pbuf_copy_range(st, p, 0, p->tot_len, 0);
    if (!c) continue; /* no memory: this pcb misses it, as on overflow */
    tern_addr from;
    ip_addr_to(rx->src, 0, &from);
    r->recv(r->arg, r, c, &from);
  }
  return any;
}

void ip_raw_deinit(tern_stack *st) {
  while (st->raws) tern_raw_free(st->raws);
}

#else
typedef int ip_raw_compiled_out; /* ISO C: no empty translation unit */
#endif /* TERN_ENABLE_IP_RAW */
