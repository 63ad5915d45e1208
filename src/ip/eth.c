/* eth.c: Ethernet II framing (IEEE 802.3 with EtherType, RFC 894).
 *
 * Output restores the caller's pbuf on return (payload, lengths and
 * offload metadata as they were): the caller keeps its reference and may
 * send the same chain again (TCP retransmits). */
#include "ip/ip_internal.h"

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void ip_eth_input(tern_netif *nif, tern_pbuf *p) {
  tern_stack *st = nif->st;
  ip_stat_inc(&st->stats.eth_in);
  if (p->len < IP_ETH_HLEN) goto drop;
  const uint8_t *h = p->payload;
  bool group = (h[0] & 1) != 0; /* broadcast or multicast */
  if (!group && memcmp(h, nif->mac, 6) != 0) goto drop;
  uint16_t type = ip_get16(h + 12);
  if (group) p->flags |= PBUF_F_BCAST;
  ip_pbuf_pull(p, IP_ETH_HLEN);
  switch (type) {
  case ETH_TYPE_IP:
    ip4_input(nif, p, (p->flags & PBUF_F_CSUM_OK) != 0);
    return;
  case ETH_TYPE_ARP:
    ip_arp_input(nif, p);
    return;
  default:
    break; /* IPv6 and the rest: not ours (yet) */
  }
drop:
  ip_stat_inc(&st->stats.eth_drop);
  tern_pbuf_free(p);
}

int ip_eth_send(tern_netif *nif, tern_pbuf *p, const uint8_t dst_mac[6],
                uint16_t ethertype) {
  tern_stack *st = nif->st;
  tern_tx_meta saved;
  tern_pbuf *frame = ip_hdr_push(p, IP_ETH_HLEN, IP_ETH_PAD, &saved, true);
  if (!frame) {
    ip_stat_inc(&st->stats.eth_drop);
    ip_stat_inc(&nif->stats.tx_drop);
    return TERN_ENOMEM;
  }
  uint8_t *h = frame->payload;
  memcpy(h, dst_mac, 6);
  memcpy(h + 6, nif->mac, 6);
  ip_put16(h + 12, ethertype);
  int err = TERN_ENETUNREACH;
  if (nif->up) {
    ip_stat_inc(&st->stats.eth_out);
    err = ip_netif_xmit(nif, frame);
  }
  ip_hdr_pop(p, frame, IP_ETH_HLEN, &saved);
  return err;
}

int ip_eth_output(tern_netif *nif, tern_pbuf *p, uint32_t nexthop) {
  if (ip4_is_bcast(nif, nexthop)) {
    uint8_t mac[6];
    if ((nexthop >> 28) == 0xe) {
      /* RFC 1112 section 6.4: 01:00:5e + low 23 bits of the group */
      mac[0] = 0x01;
      mac[1] = 0x00;
      mac[2] = 0x5e;
      mac[3] = (uint8_t)((nexthop >> 16) & 0x7f);
      mac[4] = (uint8_t)(nexthop >> 8);
      mac[5] = (uint8_t)nexthop;
    } else {
      memcpy(mac, bcast_mac, 6);
    }
    return ip_eth_send(nif, p, mac, ETH_TYPE_IP);
  }
  return ip_arp_output(nif, p, nexthop);
}
