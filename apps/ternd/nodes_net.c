/* nodes_net.c: net/IFNAME, the TAP netif of tern's own stack (--tap):
 * address, mask and gateway, up/down, MTU and counters (TERND_NET_* in
 * tern/ternd_ctl.h). The stack runs on ternd's loop (tap.c), the handlers
 * too, so they call it directly and then kick the host, which re-arms
 * its timer after calls made from outside its own callbacks.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "nodes.h"

int ternd_nodes_net_start(ternd_nodes *nd) {
  char name[64];
  snprintf(name, sizeof(name), "net/%s", tern_netif_name(nd->d->netif));
  return ternd_nodes_attach(nd, &nd->nodes[NODE_NET], name, NODE_NET,
                            0100644);
}

static void fmt4(const tern_addr *a, char *s, size_t n) {
  tern_addr_format(a, false, s, n);
}

size_t ternd_nodes_net_text(tnode *n, char *buf, size_t size) {
  tern_netif *nif = n->nodes->d->netif;
  tern_addr a, gw;
  uint8_t plen;
  char sa[TERN_ADDR_STRLEN], sg[TERN_ADDR_STRLEN];
  tern_netif_stats st;
  tern_netif_get_addr(nif, &a, &plen, &gw);
  tern_netif_get_stats(nif, &st);
  fmt4(&a, sa, sizeof(sa));
  fmt4(&gw, sg, sizeof(sg));
  int k = snprintf(buf, size,
                   "name %s\nup %d\naddr %s/%u\ngw %s\nmtu %u\n"
                   "rx_frames %llu\nrx_bytes %llu\ntx_frames %llu\n"
                   "tx_bytes %llu\nrx_drop %llu\ntx_drop %llu\n",
                   tern_netif_name(nif), tern_netif_is_up(nif) ? 1 : 0, sa,
                   (unsigned)plen, sg, (unsigned)tern_netif_mtu(nif),
                   (unsigned long long)st.rx_frames,
                   (unsigned long long)st.rx_bytes,
                   (unsigned long long)st.tx_frames,
                   (unsigned long long)st.tx_bytes,
                   (unsigned long long)st.rx_drop,
                   (unsigned long long)st.tx_drop);
  return k < 0 ? 0 : (size_t)k;
}

static uint32_t be32(const uint8_t b[4]) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put_be32(uint8_t b[4], uint32_t v) {
  b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16);
  b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
}

/* A contiguous mask's prefix length; -1 for any other mask. */
static int mask_prefix(uint32_t m) {
  int n = 0;
  while (n < 32 && (m & (0x80000000u >> n))) n++;
  uint32_t want = n == 0 ? 0 : ~0u << (32 - n);
  return m == want ? n : -1;
}

static int reply_i32(tern_rm_ctx *ctx, tern_rm_devctl_msg *msg, int32_t v) {
  memcpy(msg->data, &v, sizeof(v));
  return tern_rm_reply_data(ctx, msg->data, sizeof(v));
}

static int set_addr(ternd *d, const tern_rm_devctl_msg *msg) {
  ternd_ctl_ifaddr ia;
  if (msg->nbytes < sizeof(ia)) return TERN_EINVAL;
  memcpy(&ia, msg->data, sizeof(ia));
  int plen = mask_prefix(be32(ia.mask));
  if (plen < 0) return TERN_EINVAL;
  tern_addr a = {.family = TERN_AF_INET}, gw = {.family = TERN_AF_INET};
  memcpy(a.ip, ia.addr, 4);
  memcpy(gw.ip, ia.gw, 4);
  int rc = tern_netif_set_addr(d->netif, &a, (uint8_t)plen, &gw);
  if (rc == TERN_OK) tern_ip_host_kick(d->host);
  return rc;
}

int ternd_nodes_net_devctl(tnode *n, tern_rm_ctx *ctx, tern_rm_devctl_msg *msg,
                           tern_rm_ocb *ocb) {
  ternd *d = n->nodes->d;
  bool wr = (tern_rm_ocb_oflag(ocb) & O_ACCMODE) != O_RDONLY;
  switch (msg->dcmd) {
  case TERND_NET_GET_ADDR: {
    ternd_ctl_ifaddr ia;
    tern_addr a, gw;
    uint8_t plen;
    tern_netif_get_addr(d->netif, &a, &plen, &gw);
    memcpy(ia.addr, a.ip, 4);
    memcpy(ia.gw, gw.ip, 4);
    put_be32(ia.mask, plen == 0 ? 0 : ~0u << (32 - plen));
    memcpy(msg->data, &ia, sizeof(ia));
    return tern_rm_reply_data(ctx, msg->data, sizeof(ia));
  }
  case TERND_NET_SET_ADDR:
    return wr ? set_addr(d, msg) : TERN_EBADF;
  case TERND_NET_GET_UP:
    return reply_i32(ctx, msg, tern_netif_is_up(d->netif) ? 1 : 0);
  case TERND_NET_SET_UP: {
    int32_t v;
    if (!wr) return TERN_EBADF;
    if (msg->nbytes < sizeof(v)) return TERN_EINVAL;
    memcpy(&v, msg->data, sizeof(v));
    tern_netif_set_up(d->netif, v != 0);
    tern_ip_host_kick(d->host);
    return TERN_OK;
  }
  case TERND_NET_GET_STATS: {
    tern_netif_stats st;
    ternd_ctl_ifstats o;
    tern_netif_get_stats(d->netif, &st);
    o = (ternd_ctl_ifstats){st.rx_frames, st.rx_bytes, st.tx_frames,
                            st.tx_bytes,  st.rx_drop,  st.tx_drop};
    memcpy(msg->data, &o, sizeof(o));
    return tern_rm_reply_data(ctx, msg->data, sizeof(o));
  }
  case TERND_NET_GET_MTU:
    return reply_i32(ctx, msg, (int32_t)tern_netif_mtu(d->netif));
  default:
    return TERN_ENOTSUP;
  }
}
