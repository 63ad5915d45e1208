/* fuzz/ip_input.c: libFuzzer target feeding arbitrary Ethernet frames into
 * a built-in stack (src/ip) that has a UDP echo pcb, a TCP listener that
 * echoes, an established client connection, raw pcbs (ICMP, and protocol
 * 253 that the stack does not know) and the multicast group 239.1.2.3
 * joined (IGMP queries and reports, datagrams to the group).
 *
 * Input: a sequence of records
 *   [flags:1][advance_ms:1][len:2 big-endian][frame:len]
 * flags bit 0: fix the IPv4 header checksum and the TCP/UDP/ICMP checksum
 *              before feeding (so the fuzzer gets past them),
 *       bit 1: make a TCP segment for the client connection land in its
 *              window: seq += rcv_nxt, ack += snd_una (the frame's own
 *              fields become offsets),
 *       bit 2: close the client connection gracefully after this frame,
 *       bit 3: write 3000 bytes on the client connection.
 * The stack's time moves by advance_ms * 16 after each frame, so timers
 * (retransmission, TIME_WAIT, ARP, reassembly) run too.
 *
 * Address conflict detection (tern/acd.h) runs too: a watch on the
 * stack's address and a probe for 10.0.0.3, freed when they report a
 * conflict.
 *
 * Checked beyond "no crash": when the layers are torn down every pool
 * block is back and no pcb is left (no leak on any path the input took).
 *
 *   make fuzz   (or tools/run-fuzz build/fuzz 60)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ip/ip_internal.h"
#include "tern/acd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) abort();                                                      \
  } while (0)

typedef struct fz {
  tern_stack *st;
  tern_netif *nif;
  tern_tcp *client;   /* NULL once closed or gone */
  uint8_t last_syn[128];
  size_t last_syn_len;
  uint32_t client_isn;
  uint64_t now;
  tern_acd *watch, *probe; /* NULL once freed */
} fz;

static void on_acd(tern_acd *a, tern_acd_event ev, const uint8_t *mac,
                   void *ud) {
  fz *f = ud;
  (void)mac;
  if (ev != TERN_ACD_IN_USE && ev != TERN_ACD_LOST) return;
  if (a == f->watch) f->watch = NULL;
  if (a == f->probe) f->probe = NULL;
  tern_acd_free(a);
}

static const uint8_t our_mac[6] = {2, 0, 0, 0, 0, 2};
static const uint8_t peer_mac[6] = {2, 0, 0, 0, 0, 1};
#define OUR_IP 0x0a000002u
#define PEER_IP 0x0a000001u

static int det_random(void *ud, void *buf, size_t len) {
  (void)ud;
  for (size_t i = 0; i < len; i++) ((uint8_t *)buf)[i] = (uint8_t)(i * 13 + 7);
  return 0;
}

static int out(tern_netif *nif, tern_pbuf *p) {
  fz *f = tern_netif_driver_state(nif);
  /* remember the client's SYN to answer it */
  uint8_t b[128];
  size_t n = tern_pbuf_copy_out(p, 0, b, sizeof b);
  if (n >= 14 + 20 + 20 && ip_get16(b + 12) == ETH_TYPE_IP && b[23] == 6 &&
      (b[14 + 20 + 13] & 0x12) == 0x02) {
    memcpy(f->last_syn, b, n);
    f->last_syn_len = n;
  }
  return TERN_OK;
}

static const tern_netif_driver drv = {.name = "fuzz", .output = out};

/* ---- TCP echo on the listener -------------------------------------- */

static int echo_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  (void)arg;
  if (!p) {
    tern_tcp_close(pcb);
    return TERN_ECLOSED;
  }
  for (tern_pbuf *q = p; q; q = tern_pbuf_next(q))
    tern_tcp_write(pcb, tern_pbuf_data(q), tern_pbuf_len(q),
                   TERN_TCP_WRITE_COPY);
  tern_tcp_recved(pcb, (uint32_t)tern_pbuf_tot_len(p));
  tern_pbuf_free(p);
  return TERN_OK;
}

static void echo_err(void *arg, int err) {
  (void)arg;
  (void)err;
}

static const tern_tcp_cbs echo_cbs = {.recv = echo_recv, .err = echo_err};

static int on_accept(void *arg, tern_tcp *newpcb) {
  (void)arg;
  tern_tcp_set_callbacks(newpcb, &echo_cbs, NULL);
  return TERN_OK;
}

static const tern_tcp_cbs listen_cbs = {.accept = on_accept, .err = echo_err};

/* ---- the client connection ----------------------------------------- */

static int client_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  (void)arg;
  if (!p) return TERN_OK;
  tern_tcp_recved(pcb, (uint32_t)tern_pbuf_tot_len(p));
  tern_pbuf_free(p);
  return TERN_OK;
}

static void client_err(void *arg, int err) {
  (void)err;
  fz *f = arg;
  f->client = NULL;
}

static const tern_tcp_cbs client_cbs = {.recv = client_recv,
                                        .err = client_err};

static void udp_echo(void *arg, tern_udp *pcb, tern_pbuf *p,
                     const tern_addr *from) {
  (void)arg;
  tern_udp_sendto(pcb, p, from);
  tern_pbuf_free(p);
}

#if TERN_ENABLE_IP_RAW
static void raw_in(void *arg, tern_raw *pcb, tern_pbuf *p,
                   const tern_addr *from) {
  (void)arg;
  (void)from;
  /* echo what came (the IP header is part of it) back to the sender */
  if (tern_pbuf_tot_len(p) > 20) tern_raw_sendto(pcb, p, from);
  tern_pbuf_free(p);
}
#endif

static void feed(fz *f, const uint8_t *frame, size_t len) {
  tern_pbuf *p = tern_pbuf_alloc(f->st, TERN_PBUF_RAW, len);
  if (!p) return;
  tern_pbuf_copy_in(p, 0, frame, len);
  tern_netif_input(f->nif, p, false);
}

static void fix_checksums(uint8_t *b, size_t len) {
  if (len < 14 + 20 || ip_get16(b + 12) != ETH_TYPE_IP) return;
  uint8_t *ip = b + 14;
  size_t ihl = (size_t)(ip[0] & 15) * 4;
  if (ihl < 20 || 14 + ihl > len) return;
  size_t total = ip_get16(ip + 2);
  if (total < ihl || 14 + total > len) total = len - 14;
  ip[10] = ip[11] = 0;
  ip_put16(ip + 10, ip_chksum(ip, ihl));
  uint8_t *l4 = ip + ihl;
  size_t l4len = total - ihl;
  uint32_t src = ip_get32(ip + 12), dst = ip_get32(ip + 16);
  int off = ip[9] == 6    ? 16
            : ip[9] == 17 ? 6
            : ip[9] == 1 || ip[9] == 2 ? 2
                                       : -1;
  if (off < 0 || l4len < (size_t)off + 2) return;
  l4[off] = l4[off + 1] = 0;
  uint32_t sum = ip_chksum_add(0, l4, l4len);
  if (ip[9] != 1 && ip[9] != 2) {
    sum += (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
           ip[9] + (uint32_t)l4len;
  }
  ip_put16(l4 + off, (uint16_t)~ip_chksum_fold(sum));
}

static void make_ip(uint8_t *b, uint8_t proto, size_t l4len) {
  memcpy(b, our_mac, 6);
  memcpy(b + 6, peer_mac, 6);
  ip_put16(b + 12, ETH_TYPE_IP);
  uint8_t *ip = b + 14;
  memset(ip, 0, 20);
  ip[0] = 0x45;
  ip_put16(ip + 2, (uint16_t)(20 + l4len));
  ip[8] = 64;
  ip[9] = proto;
  ip_put32(ip + 12, PEER_IP);
  ip_put32(ip + 16, OUR_IP);
}

static void setup(fz *f) {
  tern_stack_opts o = {0};
  o.pool_bytes = 192 * 1024;
  o.random = det_random;
  o.tcp_snd_buf = 16 * 1024;
  o.tcp_rcv_wnd = 16 * 1024;
  o.max_tcp = 16;
  o.max_time_wait = 4;
  CHECK(tern_stack_new(&f->st, &o) == 0);
  tern_netif_opts no = {0};
  no.flags = TERN_NETIF_ETHERNET;
  no.driver = &drv;
  no.driver_state = f;
  memcpy(no.mac, our_mac, 6);
  ip_addr_to(OUR_IP, 0, &no.addr);
  no.prefix_len = 24;
  CHECK(tern_netif_add(f->st, &no, &f->nif) == 0);
  tern_netif_set_up(f->nif, true);

  /* the peer introduces itself: an ARP request for us */
  uint8_t arp[42] = {0};
  memset(arp, 0xff, 6);
  memcpy(arp + 6, peer_mac, 6);
  ip_put16(arp + 12, ETH_TYPE_ARP);
  uint8_t *a = arp + 14;
  ip_put16(a, 1);
  ip_put16(a + 2, ETH_TYPE_IP);
  a[4] = 6;
  a[5] = 4;
  ip_put16(a + 6, 1);
  memcpy(a + 8, peer_mac, 6);
  ip_put32(a + 14, PEER_IP);
  ip_put32(a + 24, OUR_IP);
  feed(f, arp, sizeof arp);

  tern_addr me;
  ip_addr_to(OUR_IP, 0, &me);
  CHECK(tern_acd_watch(f->nif, &me, on_acd, f, &f->watch) == 0);
  ip_addr_to(OUR_IP + 1, 0, &me);
  CHECK(tern_acd_probe(f->nif, &me, on_acd, f, &f->probe) == 0);

  tern_udp *u = tern_udp_new(f->st);
  tern_addr any = {.family = TERN_AF_INET, .port = 7};
  CHECK(tern_udp_bind(u, &any) == 0);
  tern_udp_recv(u, udp_echo, NULL);
#if TERN_ENABLE_IGMP
  tern_addr g;
  ip_addr_to(0xef010203u, 0, &g); /* 239.1.2.3 */
  CHECK(tern_igmp_join(f->st, NULL, &g) == 0);
#endif
#if TERN_ENABLE_IP_RAW
  tern_raw_recv(tern_raw_new(f->st, IP_PROTO_ICMP), raw_in, NULL);
  tern_raw_recv(tern_raw_new(f->st, 253), raw_in, NULL);
#endif

  tern_tcp *l = tern_tcp_new(f->st);
  CHECK(l);
  any.port = 80;
  CHECK(tern_tcp_bind(l, &any) == 0);
  tern_tcp_set_callbacks(l, &listen_cbs, NULL);
  CHECK(tern_tcp_listen(l, 4) == 0);

  /* the client: connect, and answer its SYN with a SYN-ACK */
  f->client = tern_tcp_new(f->st);
  CHECK(f->client);
  tern_tcp_set_callbacks(f->client, &client_cbs, f);
  tern_addr peer;
  ip_addr_to(PEER_IP, 5000, &peer);
  CHECK(tern_tcp_connect(f->client, &peer) == 0);
  tern_tcp_output(f->client);
  if (f->last_syn_len >= 54) {
    const uint8_t *syn = f->last_syn + 34;
    f->client_isn = ip_get32(syn + 4);
    uint8_t b[14 + 20 + 24];
    make_ip(b, 6, 24);
    uint8_t *t = b + 34;
    memset(t, 0, 24);
    ip_put16(t, 5000);
    ip_put16(t + 2, ip_get16(syn)); /* the client's port */
    ip_put32(t + 4, 1000);
    ip_put32(t + 8, f->client_isn + 1);
    t[12] = 6 << 4;
    t[13] = 0x12; /* SYN|ACK */
    ip_put16(t + 14, 65535);
    t[20] = 2; /* MSS 1460 */
    t[21] = 4;
    ip_put16(t + 22, 1460);
    fix_checksums(b, sizeof b);
    feed(f, b, sizeof b);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static fz f;
  memset(&f, 0, sizeof f);
  setup(&f);
  uint8_t frame[2048];
  while (size >= 4) {
    uint8_t flags = data[0];
    uint32_t adv = data[1];
    size_t len = (size_t)data[2] << 8 | data[3];
    data += 4;
    size -= 4;
    if (len > size) len = size;
    if (len > sizeof frame) len = sizeof frame;
    memcpy(frame, data, len);
    data += len;
    size -= len;
    if ((flags & 2) && f.client && len >= 14 + 20 + 20) {
      /* seq/ack relative to the connection (peer ISN was 1000) */
      tern_tcp_info info;
      tern_tcp_get_info(f.client, &info);
      uint8_t *t = frame + 14 + (size_t)(frame[14] & 15) * 4;
      if (t + 20 <= frame + len) {
        ip_put32(t + 4, ip_get32(t + 4) + 1001);
        ip_put32(t + 8, ip_get32(t + 8) + f.client_isn + 1);
      }
    }
    if (flags & 1) fix_checksums(frame, len);
    feed(&f, frame, len);
    if ((flags & 8) && f.client) {
      static const uint8_t junk[3000];
      tern_tcp_write(f.client, junk, sizeof junk, TERN_TCP_WRITE_COPY);
      tern_tcp_output(f.client);
    }
    if ((flags & 4) && f.client) {
      if (tern_tcp_close(f.client) == TERN_OK) f.client = NULL;
    }
    f.now += adv * 16;
    tern_stack_advance(f.st, f.now);
  }
  /* let every timer run out: TIME_WAIT, retransmissions give up */
  if (f.client) {
    tern_tcp_abort(f.client);
    f.client = NULL;
  }
  for (int i = 0; i < 200 && tern_stack_next_due(f.st) != UINT64_MAX; i++) {
    f.now += 60000;
    tern_stack_advance(f.st, f.now);
  }
  tern_acd_free(f.watch);
  tern_acd_free(f.probe);
  /* Tear the layers down the way tern_stack_free does, then check that
   * nothing is left: every pool block back, no small object but the
   * netif alive. */
  ip_tcp_deinit(f.st);
  f.st->tcp = NULL;
  ip_udp_deinit(f.st);
#if TERN_ENABLE_IP_RAW
  ip_raw_deinit(f.st);
#endif
#if TERN_ENABLE_IGMP
  if (f.st->igmp_fn) f.st->igmp_fn(f.st, IP_IGMP_DEINIT, NULL, NULL, NULL);
  ip4_loop_deinit(f.st);
#endif
  ip4_reass_deinit(f.st);
  ip_arp_flush_netif(f.nif);
  CHECK(f.st->stats.pool_used == 0);
  CHECK(f.st->malloc_live == 1);
  tern_stack_free(f.st);
  return 0;
}
