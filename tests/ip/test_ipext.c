/* test_ipext.c: the built-in stack's per-pcb IP header fields (TTL and
 * TOS of UDP, TCP and raw pcbs), raw IPv4 pcbs (a copy of each datagram
 * of their protocol, the stack's own handling going on), and IPv4
 * multicast with IGMPv2 (RFC 2236).
 *
 * Two stacks with Ethernet netifs joined by an in-test link (as in
 * test_lower.c): frames are captured as they leave, inspected, and fed to
 * the other side by the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

static int link_output(tern_netif *nif, tern_pbuf *p) {
  link_end *e = tern_netif_driver_state(nif);
  if (e->drop_all || e->n == QMAX) return TERN_EAGAIN;
  frame *f = &e->q[e->n++];
  f->len = tern_pbuf_tot_len(p);
  f->data = malloc(f->len);
  tern_pbuf_copy_out(p, 0, f->data, f->len);
  return TERN_OK;
}

static const tern_netif_driver link_drv = {.name = "testlink",
                                           .output = link_output};

typedef struct net2 {
  tern_stack *a, *b;
  link_end ea, eb; /* frames sent BY a / BY b */
  uint64_t now;
} net2;

static void addr4(tern_addr *a, const char *s, uint16_t port) {
  assert_int_equal(tern_addr_parse_ip(s, strlen(s), a), 0);
  a->port = port;
}

static tern_stack *mkstack(size_t pool) {
  tern_stack_opts o = {0};
  o.pool_bytes = pool;
  tern_stack *st;
  assert_int_equal(tern_stack_new(&st, &o), 0);
  return st;
}

static void net2_init(net2 *n, size_t pool) {
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

static void q_clear(link_end *e) {
  for (int i = 0; i < e->n; i++) free(e->q[i].data);
  e->n = 0;
}

/* Feed every queued frame of `from` into `to`'s netif. reverse: in the
 * opposite order. */
static int q_feed(link_end *from, tern_netif *to, bool reverse) {
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
static void pump(net2 *n) {
  for (int i = 0; i < 50; i++) {
    int moved = q_feed(&n->ea, n->eb.nif, false);
    moved += q_feed(&n->eb, n->ea.nif, false);
    if (!moved) return;
  }
}

/* a learns b's MAC (a datagram to a closed port of b and back). */
static void prime_arp(net2 *n) {
  tern_udp *u = tern_udp_new(n->a);
  tern_addr to;
  addr4(&to, "10.1.0.2", 1);
  tern_pbuf *p = tern_pbuf_alloc(n->a, TERN_PBUF_TRANSPORT, 1);
  tern_udp_sendto(u, p, &to);
  tern_pbuf_free(p);
  pump(n);
  tern_udp_free(u);
}

static void net2_free(net2 *n) {
  q_clear(&n->ea);
  q_clear(&n->eb);
  tern_stack_free(n->a);
  tern_stack_free(n->b);
}

static uint32_t pool_used(tern_stack *st) {
  tern_stack_stats s;
  tern_stack_get_stats(st, &s);
  return s.pool_used;
}

/* The IP header of queued frame i of e (NULL if it is not IPv4). */
static const uint8_t *ip_of(const link_end *e, int i) {
  const frame *f = &e->q[i];
  if (f->len < 14 + 20 || ip_get16(f->data + 12) != ETH_TYPE_IP) return NULL;
  return f->data + 14;
}

/* The first queued IPv4 frame of e with protocol proto: its IP header,
 * checked (version, header checksum); NULL if none. */
static const uint8_t *first_ip(const link_end *e, uint8_t proto) {
  for (int i = 0; i < e->n; i++) {
    const uint8_t *h = ip_of(e, i);
    if (!h || h[9] != proto) continue;
    assert_int_equal(h[0] >> 4, 4);
    assert_int_equal(ip_chksum(h, (size_t)(h[0] & 15) * 4), 0);
    return h;
  }
  return NULL;
}

static void on_udp_count(void *arg, tern_udp *pcb, tern_pbuf *p,
                         const tern_addr *from) {
  (void)pcb;
  (void)from;
  (*(int *)arg)++;
  tern_pbuf_free(p);
}

static void udp_send1(tern_udp *u, tern_stack *st, const char *to,
                      uint16_t port) {
  tern_addr a;
  addr4(&a, to, port);
  tern_pbuf *p = tern_pbuf_alloc(st, TERN_PBUF_TRANSPORT, 4);
  tern_pbuf_copy_in(p, 0, "ping", 4);
  assert_int_equal(tern_udp_sendto(u, p, &a), 0);
  tern_pbuf_free(p);
}

/* ---- TTL and TOS ----------------------------------------------------------- */

static void test_udp_ttl_tos(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  prime_arp(&n);
  q_clear(&n.eb);
  tern_udp *u = tern_udp_new(n.a);
  udp_send1(u, n.a, "10.1.0.2", 9);
  const uint8_t *h = first_ip(&n.ea, IP_PROTO_UDP);
  assert_non_null(h);
  assert_int_equal(h[8], 64); /* the stack's default */
  assert_int_equal(h[1], 0);
  assert_int_equal(tern_stack_ttl(n.a), 64);
  q_clear(&n.ea);
  tern_udp_set_ip(u, 9, 0xb8);
  udp_send1(u, n.a, "10.1.0.2", 9);
  h = first_ip(&n.ea, IP_PROTO_UDP);
  assert_non_null(h);
  assert_int_equal(h[8], 9);
  assert_int_equal(h[1], 0xb8);
  /* the datagram is still good: b's UDP takes it */
  int got = 0;
  tern_udp *ub = tern_udp_new(n.b);
  tern_addr any;
  addr4(&any, "0.0.0.0", 9);
  assert_int_equal(tern_udp_bind(ub, &any), 0);
  tern_udp_recv(ub, on_udp_count, &got);
  pump(&n);
  assert_int_equal(got, 1);
  /* 0: the default again */
  tern_udp_set_ip(u, 0, 0);
  udp_send1(u, n.a, "10.1.0.2", 9);
  h = first_ip(&n.ea, IP_PROTO_UDP);
  assert_int_equal(h[8], 64);
  assert_int_equal(h[1], 0);
  tern_udp_free(u);
  tern_udp_free(ub);
  net2_free(&n);
}

static int tcp_accept_keep(void *arg, tern_tcp *newpcb) {
  *(tern_tcp **)arg = newpcb;
  return TERN_OK;
}
static const tern_tcp_cbs accept_cbs = {.accept = tcp_accept_keep};

static void test_tcp_ttl_tos(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  prime_arp(&n);
  q_clear(&n.eb);
  tern_tcp *child = NULL;
  tern_tcp *l = tern_tcp_new(n.b);
  tern_addr la;
  addr4(&la, "0.0.0.0", 80);
  assert_int_equal(tern_tcp_bind(l, &la), 0);
  tern_tcp_set_ip(l, 33, 0x10); /* before listen: kept across it */
  assert_int_equal(tern_tcp_listen(l, 4), 0);
  tern_tcp_set_callbacks(l, &accept_cbs, &child);

  tern_tcp *c = tern_tcp_new(n.a);
  tern_tcp_set_ip(c, 17, 0x20);
  addr4(&la, "10.1.0.2", 80);
  assert_int_equal(tern_tcp_connect(c, &la), 0);
  const uint8_t *h = first_ip(&n.ea, IP_PROTO_TCP); /* the SYN */
  assert_non_null(h);
  assert_int_equal(h[8], 17);
  assert_int_equal(h[1], 0x20);
  q_feed(&n.ea, n.eb.nif, false);
  h = first_ip(&n.eb, IP_PROTO_TCP); /* the SYN-ACK: the listener's */
  assert_non_null(h);
  assert_int_equal(h[8], 33);
  assert_int_equal(h[1], 0x10);
  pump(&n);
  assert_non_null(child);
  assert_int_equal(tern_tcp_get_state(child), TERN_TCP_ESTABLISHED);
  /* the accepted connection's data carries them too */
  assert_int_equal(tern_tcp_write(child, "hello", 5, TERN_TCP_WRITE_COPY), 5);
  tern_tcp_output(child);
  h = first_ip(&n.eb, IP_PROTO_TCP);
  assert_non_null(h);
  assert_int_equal(h[8], 33);
  assert_int_equal(h[1], 0x10);
  /* and a change applies to the next segment */
  pump(&n);
  tern_tcp_set_nodelay(child, true); /* a's ACK is delayed: no Nagle */
  tern_tcp_set_ip(child, 0, 0);
  assert_int_equal(tern_tcp_write(child, "again", 5, TERN_TCP_WRITE_COPY), 5);
  tern_tcp_output(child);
  h = first_ip(&n.eb, IP_PROTO_TCP);
  assert_non_null(h);
  assert_int_equal(h[8], 64);
  assert_int_equal(h[1], 0);
  tern_tcp_abort(child);
  tern_tcp_abort(c);
  tern_tcp_close(l);
  net2_free(&n);
}

/* ---- raw pcbs ----------------------------------------------------------------- */

typedef struct raw_rx {
  int n;
  uint8_t last[128];
  size_t last_len;
  tern_addr from;
  bool free_self;
} raw_rx;

static void on_raw(void *arg, tern_raw *pcb, tern_pbuf *p,
                   const tern_addr *from) {
  raw_rx *r = arg;
  r->n++;
  r->last_len = tern_pbuf_copy_out(p, 0, r->last, sizeof r->last);
  r->from = *from;
  tern_pbuf_free(p);
  if (r->free_self) tern_raw_free(pcb);
}

/* An ICMP echo request (id 0x1234, seq), checksummed. */
static tern_pbuf *echo_req(tern_stack *st, uint16_t seq) {
  uint8_t msg[40] = {8, 0, 0, 0, 0x12, 0x34, 0, 0};
  ip_put16(msg + 6, seq);
  for (int i = 8; i < 40; i++) msg[i] = (uint8_t)i;
  ip_put16(msg + 2, ip_chksum(msg, sizeof msg));
  tern_pbuf *p = tern_pbuf_alloc(st, TERN_PBUF_IP, sizeof msg);
  assert_non_null(p);
  tern_pbuf_copy_in(p, 0, msg, sizeof msg);
  return p;
}

static void test_raw_icmp_echo(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  prime_arp(&n);
  raw_rx ra = {0}, rb = {0};
  tern_stack_stats st;
  tern_stack_get_stats(n.b, &st);
  uint64_t icmp_out0 = st.icmp_out; /* prime_arp's port unreachable */
  tern_raw *r = tern_raw_new(n.a, IP_PROTO_ICMP);
  tern_raw *s = tern_raw_new(n.b, IP_PROTO_ICMP);
  assert_non_null(r);
  assert_non_null(s);
  tern_raw_recv(r, on_raw, &ra);
  tern_raw_recv(s, on_raw, &rb);
  tern_raw_set_ip(r, 5, 0x04);
  tern_addr to;
  addr4(&to, "10.1.0.2", 0);
  tern_pbuf *p = echo_req(n.a, 7);
  assert_int_equal(tern_raw_sendto(r, p, &to), 0);
  tern_pbuf_free(p);
  /* the stack built the IP header with the pcb's TTL and TOS */
  const uint8_t *h = first_ip(&n.ea, IP_PROTO_ICMP);
  assert_non_null(h);
  assert_int_equal(h[8], 5);
  assert_int_equal(h[1], 0x04);
  assert_int_equal(ip_get32(h + 12), 0x0a010001);
  pump(&n);
  /* b's raw pcb saw the request (IP header first) and b's stack still
   * answered it */
  assert_int_equal(rb.n, 1);
  assert_int_equal(rb.last_len, 20 + 40);
  assert_int_equal(rb.last[0], 0x45);
  assert_int_equal(rb.last[9], IP_PROTO_ICMP);
  assert_int_equal(rb.last[20], 8);
  tern_stack_get_stats(n.b, &st);
  assert_int_equal(st.icmp_out, icmp_out0 + 1);
  /* a's raw pcb got the reply, with the sender */
  assert_int_equal(ra.n, 1);
  assert_int_equal(ra.last[20], 0); /* echo reply */
  assert_int_equal(ip_get16(ra.last + 26), 7);
  char buf[TERN_ADDR_STRLEN];
  tern_addr_format(&ra.from, true, buf, sizeof buf);
  assert_string_equal(buf, "10.1.0.2:0");

  /* connect: the default peer, and a filter on the sender */
  addr4(&to, "10.1.0.9", 0);
  assert_int_equal(tern_raw_connect(r, &to), 0);
  p = echo_req(n.a, 8);
  assert_int_equal(tern_raw_sendto(r, p, NULL), 0); /* to 10.1.0.9: ARP */
  tern_pbuf_free(p);
  q_clear(&n.ea);
  addr4(&to, "10.1.0.2", 0);
  p = echo_req(n.a, 9);
  assert_int_equal(tern_raw_sendto(r, p, &to), 0);
  tern_pbuf_free(p);
  pump(&n);
  assert_int_equal(rb.n, 2);
  assert_int_equal(ra.n, 1); /* the reply came from 10.1.0.2: filtered */
  assert_int_equal(tern_raw_connect(r, NULL), 0);
  /* bind: only datagrams to that address */
  addr4(&to, "10.1.0.7", 0);
  assert_int_equal(tern_raw_bind(r, &to), TERN_EADDRNOTAVAIL);
  addr4(&to, "10.1.0.1", 0);
  assert_int_equal(tern_raw_bind(r, &to), 0);
  p = echo_req(n.a, 10);
  addr4(&to, "10.1.0.2", 0);
  assert_int_equal(tern_raw_sendto(r, p, &to), 0);
  tern_pbuf_free(p);
  pump(&n);
  assert_int_equal(ra.n, 2);
  /* no memory for the copy: the raw pcb misses the datagram, the stack
   * still answers (the copy was the only allocation refused) */
  p = echo_req(n.a, 11);
  assert_int_equal(tern_raw_sendto(r, p, &to), 0);
  tern_pbuf_free(p);
  q_feed(&n.ea, n.eb.nif, false); /* b: copy for s, then the reply */
  tern_stack_fail_alloc(n.a, 1, false);
  q_feed(&n.eb, n.ea.nif, false); /* a: the copy for r fails */
  assert_int_equal(rb.n, 4);
  assert_int_equal(ra.n, 2);
  tern_stack_get_stats(n.a, &st);
  assert_int_equal(st.icmp_in, 4); /* a's stack saw every reply */
  /* errors */
  tern_raw_connect(r, NULL);
  p = echo_req(n.a, 12);
  assert_int_equal(tern_raw_sendto(r, p, NULL), TERN_ENOTCONN);
  addr4(&to, "192.168.5.5", 0);
  assert_int_equal(tern_raw_sendto(r, p, &to), TERN_EHOSTUNREACH);
  tern_pbuf_free(p);
  assert_null(tern_raw_new(n.a, 0));
  tern_raw_free(r);
  tern_raw_free(s);
  assert_int_equal(pool_used(n.b), 0); /* a: ARP holds 10.1.0.9's */
  net2_free(&n);
}

/* A protocol the stack does not know: a raw pcb takes it and no ICMP
 * protocol unreachable goes back; without one, it does. A callback may
 * free its own pcb. */
static void test_raw_unknown_proto(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  prime_arp(&n);
  q_clear(&n.eb);
  tern_raw *r = tern_raw_new(n.a, 253);
  raw_rx rb = {.free_self = true};
  tern_raw *s = tern_raw_new(n.b, 253);
  tern_raw_recv(s, on_raw, &rb);
  tern_addr to;
  addr4(&to, "10.1.0.2", 0);
  tern_pbuf *p = tern_pbuf_alloc(n.a, TERN_PBUF_IP, 3);
  tern_pbuf_copy_in(p, 0, "abc", 3);
  assert_int_equal(tern_raw_sendto(r, p, &to), 0);
  q_feed(&n.ea, n.eb.nif, false);
  assert_int_equal(rb.n, 1);
  assert_int_equal(rb.last_len, 23);
  assert_memory_equal(rb.last + 20, "abc", 3);
  assert_null(first_ip(&n.eb, IP_PROTO_ICMP));
  /* s freed itself: now b answers with protocol unreachable */
  assert_int_equal(tern_raw_sendto(r, p, &to), 0);
  q_feed(&n.ea, n.eb.nif, false);
  assert_int_equal(rb.n, 1);
  const uint8_t *h = first_ip(&n.eb, IP_PROTO_ICMP);
  assert_non_null(h);
  assert_int_equal(h[20], 3);
  assert_int_equal(h[21], ICMP_UNREACH_PROTO);
  tern_pbuf_free(p);
  tern_raw_free(r);
  net2_free(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_udp_ttl_tos),
      cmocka_unit_test(test_tcp_ttl_tos),
      cmocka_unit_test(test_raw_icmp_echo),
      cmocka_unit_test(test_raw_unknown_proto),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
