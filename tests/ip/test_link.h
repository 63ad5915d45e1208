/* test_link.h: two stacks with Ethernet netifs joined by a tiny in-test
 * link, for the tests of the stack below TCP (test_lower.c, test_ipext.c):
 * each output() copies the frame into a queue and the test feeds the
 * queue to the other side (no recursion, and the test can reorder or
 * drop). Stack a is 10.1.0.1, b 10.1.0.2. */
#ifndef TERN_TEST_IP_LINK_H
#define TERN_TEST_IP_LINK_H

#include <stdlib.h>
#include <string.h>

#include "ip/ip_internal.h"

#define QMAX 256
typedef struct frame {
  uint8_t *data;
  size_t len;
} frame;

typedef struct link_end {
  frame q[QMAX];
  int n;
  tern_netif *nif;
  bool drop_all;
} link_end;

static inline int link_output(tern_netif *nif, tern_pbuf *p) {
  link_end *e = tern_netif_driver_state(nif);
  if (e->drop_all || e->n == QMAX) return TERN_EAGAIN;
  frame *f = &e->q[e->n++];
  f->len = tern_pbuf_tot_len(p);
  f->data = malloc(f->len);
  tern_pbuf_copy_out(p, 0, f->data, f->len);
  return TERN_OK;
}

#ifndef TEST_LINK_FILTER
#define TEST_LINK_FILTER NULL /* a test may give a MAC filter hook */
#endif
static const tern_netif_driver link_drv = {.name = "testlink",
                                           .output = link_output,
                                           .mcast_filter = TEST_LINK_FILTER};

typedef struct net2 {
  tern_stack *a, *b;
  link_end ea, eb; /* frames sent BY a / BY b */
  uint64_t now;
} net2;

static inline void addr4(tern_addr *a, const char *s, uint16_t port) {
  assert_int_equal(tern_addr_parse_ip(s, strlen(s), a), 0);
  a->port = port;
}

static inline tern_stack *mkstack(size_t pool) {
  tern_stack_opts o = {0};
  o.pool_bytes = pool;
  tern_stack *st;
  assert_int_equal(tern_stack_new(&st, &o), 0);
  return st;
}

static inline void net2_init(net2 *n, size_t pool) {
  memset(n, 0, sizeof *n);
  n->a = mkstack(pool);
  n->b = mkstack(pool);
  tern_netif_opts o = {0};
  o.flags = TERN_NETIF_ETHERNET;
  o.driver = &link_drv;
  o.prefix_len = 24;
  o.name = "a0";
  memcpy(o.mac, "\x02\x00\x00\x00\x00\x0a", 6);
  addr4(&o.addr, "10.1.0.1", 0);
  o.driver_state = &n->ea;
  assert_int_equal(tern_netif_add(n->a, &o, &n->ea.nif), 0);
  o.name = "b0";
  memcpy(o.mac, "\x02\x00\x00\x00\x00\x0b", 6);
  addr4(&o.addr, "10.1.0.2", 0);
  o.driver_state = &n->eb;
  assert_int_equal(tern_netif_add(n->b, &o, &n->eb.nif), 0);
  tern_netif_set_up(n->ea.nif, true);
  tern_netif_set_up(n->eb.nif, true);
}

static inline void q_clear(link_end *e) {
  for (int i = 0; i < e->n; i++) free(e->q[i].data);
  e->n = 0;
}

/* Feed every queued frame of `from` into `to`'s netif. reverse: in the
 * opposite order. */
static inline int q_feed(link_end *from, tern_netif *to, bool reverse) {
  int n = from->n;
  frame fs[QMAX];
  memcpy(fs, from->q, sizeof(frame) * (size_t)n);
  from->n = 0;
  for (int k = 0; k < n; k++) {
    frame *f = &fs[reverse ? n - 1 - k : k];
    tern_pbuf *p = tern_pbuf_alloc(tern_netif_stack(to), TERN_PBUF_RAW, f->len);
    if (p) {
      tern_pbuf_copy_in(p, 0, f->data, f->len);
      tern_netif_input(to, p, false);
    }
    free(f->data);
  }
  return n;
}

/* Exchange until both queues stay empty. */
static inline void pump(net2 *n) {
  for (int i = 0; i < 50; i++) {
    int moved = q_feed(&n->ea, n->eb.nif, false);
    moved += q_feed(&n->eb, n->ea.nif, false);
    if (!moved) return;
  }
}

/* a learns b's MAC (a datagram to a closed port of b and back). */
static inline void prime_arp(net2 *n) {
  tern_udp *u = tern_udp_new(n->a);
  tern_addr to;
  addr4(&to, "10.1.0.2", 1);
  tern_pbuf *p = tern_pbuf_alloc(n->a, TERN_PBUF_TRANSPORT, 1);
  tern_udp_sendto(u, p, &to);
  tern_pbuf_free(p);
  pump(n);
  tern_udp_free(u);
}

static inline void net2_free(net2 *n) {
  q_clear(&n->ea);
  q_clear(&n->eb);
  tern_stack_free(n->a);
  tern_stack_free(n->b);
}

static inline uint32_t pool_used(tern_stack *st) {
  tern_stack_stats s;
  tern_stack_get_stats(st, &s);
  return s.pool_used;
}

#endif
