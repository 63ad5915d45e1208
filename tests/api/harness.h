/* harness.h: two stacks joined by the in-memory wire, both driven by ONE
 * tcpip thread (the wire must be delivered by the thread that owns both
 * stacks), for the api layer's tests. Stack a is 10.9.0.1, b 10.9.0.2. */
#ifndef TERN_TEST_API_HARNESS_H
#define TERN_TEST_API_HARNESS_H

#include <string.h>

#include "tern/netconn.h"
#include "tern/port.h"

typedef struct net2 {
  tern_stack *a, *b;
  tern_wire *w;
  tern_netif *na, *nb;
  tern_tcpip *ta, *tb;
} net2;

static inline tern_addr h_addr(const char *ip, uint16_t port) {
  tern_addr a;
  memset(&a, 0, sizeof a);
  tern_addr_parse_ip(ip, strlen(ip), &a);
  a.port = port;
  return a;
}

static inline void net2_up(net2 *n, tern_tcpip_mode mode, uint32_t bufs) {
  memset(n, 0, sizeof *n);
  tern_stack_opts o = {0};
  o.pool_bytes = 8u << 20;
  o.tcp_snd_buf = bufs;
  o.tcp_rcv_wnd = bufs;
  assert_int_equal(tern_stack_new(&n->a, &o), 0);
  assert_int_equal(tern_stack_new(&n->b, &o), 0);
  assert_int_equal(tern_wire_new(&n->w, 7), 0);
  tern_netif_opts no = {0};
  no.flags = TERN_NETIF_ETHERNET;
  no.driver = tern_wire_driver();
  no.prefix_len = 24;
  no.name = "wa";
  memcpy(no.mac, "\x02\x00\x00\x00\x09\x01", 6);
  no.addr = h_addr("10.9.0.1", 0);
  no.driver_state = tern_wire_end(n->w, 0);
  assert_int_equal(tern_netif_add(n->a, &no, &n->na), 0);
  no.name = "wb";
  memcpy(no.mac, "\x02\x00\x00\x00\x09\x02", 6);
  no.addr = h_addr("10.9.0.2", 0);
  no.driver_state = tern_wire_end(n->w, 1);
  assert_int_equal(tern_netif_add(n->b, &no, &n->nb), 0);
  tern_wire_attach(n->w, 0, n->na);
  tern_wire_attach(n->w, 1, n->nb);
  tern_netif_set_up(n->na, true);
  tern_netif_set_up(n->nb, true);
  tern_tcpip_opts to = {.mode = mode, .wire = n->w};
  assert_int_equal(tern_tcpip_new(&n->ta, n->a, &to), 0);
  tern_tcpip_opts tb = {.share = n->ta};
  assert_int_equal(tern_tcpip_new(&n->tb, n->b, &tb), 0);
}

static int h_pool_used(tern_stack *st, void *arg) {
  tern_stack_stats s;
  tern_stack_get_stats(st, &s);
  *(uint32_t *)arg = s.tcp_pcbs + s.udp_pcbs;
  return 0;
}

/* Live pcbs (TCP + UDP) of a stack, read in its stack context. */
static inline uint32_t h_pcbs(tern_tcpip *t) {
  uint32_t n = 0;
  tern_tcpip_call(t, h_pool_used, &n);
  return n;
}

/* Stop the thread and free the stacks; the wire stays (its counters). */
static inline void net2_down_keep_wire(net2 *n) {
  tern_tcpip_free(n->tb);
  tern_tcpip_free(n->ta);
  tern_stack_free(n->a);
  tern_stack_free(n->b);
}

static inline void net2_down(net2 *n) {
  net2_down_keep_wire(n);
  tern_wire_free(n->w);
}

static inline uint64_t h_fnv(uint64_t h, const void *d, size_t n) {
  const uint8_t *p = d;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
#define H_FNV0 1469598103934665603ull

static inline uint8_t h_pat(uint64_t i) {
  return (uint8_t)((i * 7 + i / 4096) & 0xff);
}

#endif
