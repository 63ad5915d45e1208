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

/* The MAC filter hook: joins and leaves seen by the driver. */
static int filt_adds, filt_dels;
static uint8_t filt_last[6];
static int link_filter(tern_netif *nif, const uint8_t mac[6], bool add) {
  (void)nif;
  memcpy(filt_last, mac, 6);
  if (add)
    filt_adds++;
  else
    filt_dels++;
  return TERN_OK;
}

#define TEST_LINK_FILTER link_filter
#include "ip/test_link.h"


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

#if TERN_ENABLE_IP_RAW
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
  /* no headroom and no memory for a header pbuf: TERN_ENOMEM */
  p = tern_pbuf_alloc(n.a, TERN_PBUF_RAW, 3);
  tern_pbuf_copy_in(p, 0, "xyz", 3);
  tern_stack_fail_alloc(n.a, 1, false);
  assert_int_equal(tern_raw_sendto(r, p, &to), TERN_ENOMEM);
  assert_int_equal(tern_raw_sendto(r, p, &to), 0); /* copied in front */
  tern_pbuf_free(p);
  tern_raw_free(r);
  net2_free(&n);
}

#endif /* TERN_ENABLE_IP_RAW */

#if TERN_ENABLE_IGMP
/* ---- IGMPv2 (RFC 2236) and multicast ----------------------------------------- */

#define G1 0xef010203u /* 239.1.2.3 */
#define G2 0xef090909u /* 239.9.9.9 */

/* The IGMP message of queued frame i of e, checked as RFC 2236 section 2
 * wants it (TTL 1, Router Alert, the group's MAC); NULL if not IGMP. */
static const uint8_t *igmp_of(const link_end *e, int i, uint32_t *ip_dst) {
  const uint8_t *h = ip_of(e, i);
  if (!h || h[9] != IP_PROTO_IGMP) return NULL;
  assert_int_equal(h[0], 0x46);
  assert_int_equal(ip_chksum(h, 24), 0);
  assert_int_equal(h[8], 1);
  assert_int_equal(ip_get32(h + 20), 0x94040000u);
  uint32_t dst = ip_get32(h + 16);
  const uint8_t *eth = e->q[i].data;
  assert_int_equal(eth[0], 0x01);
  assert_int_equal(eth[2], 0x5e);
  assert_int_equal(ip_get16(eth + 4), dst & 0xffff);
  assert_int_equal(ip_chksum(h + 24, 8), 0);
  if (ip_dst) *ip_dst = dst;
  return h + 24;
}

/* Messages of type t for group g queued on e. */
static int count_igmp(const link_end *e, uint8_t t, uint32_t g) {
  int n = 0;
  for (int i = 0; i < e->n; i++) {
    uint32_t dst;
    const uint8_t *m = igmp_of(e, i, &dst);
    if (!m || m[0] != t || ip_get32(m + 4) != g) continue;
    /* reports go to the group, leaves to all-routers (section 3) */
    assert_int_equal(dst, t == 0x17 ? 0xe0000002u : g);
    n++;
  }
  return n;
}

/* Feed nif an IPv4 datagram from src to dst (a group: its MAC) with
 * protocol proto and payload pl (IGMP: its checksum is filled in). */
static void feed_ip(tern_netif *nif, uint32_t src, uint32_t dst, uint8_t proto,
                    const uint8_t *pl, size_t len) {
  uint8_t f[256] = {0x01, 0x00, 0x5e, (uint8_t)((dst >> 16) & 0x7f),
                    (uint8_t)(dst >> 8), (uint8_t)dst,
                    0x02, 0, 0, 0, 0, 0x99, 0x08, 0x00};
  uint8_t *h = f + 14;
  h[0] = 0x45;
  ip_put16(h + 2, (uint16_t)(20 + len));
  h[8] = 1;
  h[9] = proto;
  ip_put32(h + 12, src);
  ip_put32(h + 16, dst);
  ip_put16(h + 10, ip_chksum(h, 20));
  memcpy(h + 20, pl, len);
  tern_pbuf *p = tern_pbuf_alloc(tern_netif_stack(nif), TERN_PBUF_RAW,
                                 14 + 20 + len);
  tern_pbuf_copy_in(p, 0, f, 14 + 20 + len);
  tern_netif_input(nif, p, false);
}

static void feed_igmp(tern_netif *nif, uint8_t type, uint8_t max_resp,
                      uint32_t group, uint32_t dst, bool bad_sum) {
  uint8_t m[8] = {type, max_resp, 0, 0};
  ip_put32(m + 4, group);
  ip_put16(m + 2, ip_chksum(m, 8));
  if (bad_sum) m[3] ^= 1;
  feed_ip(nif, 0x0a010063, dst, IP_PROTO_IGMP, m, 8);
}

static tern_addr grp(uint32_t g) {
  tern_addr a;
  ip_addr_to(g, 0, &a);
  return a;
}

static void advance(net2 *n, tern_stack *st, uint64_t ms) {
  n->now += ms;
  tern_stack_advance(st, n->now);
}

static void test_igmp_join_leave(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  q_clear(&n.ea); /* the gratuitous ARPs */
  q_clear(&n.eb);
  filt_adds = filt_dels = 0;
  tern_addr g = grp(G1), g2 = grp(G2), bad, ifa;
  addr4(&bad, "10.1.0.3", 0);
  assert_int_equal(tern_igmp_join(n.a, NULL, &bad), TERN_EINVAL);
  assert_int_equal(tern_igmp_join(n.a, &bad, &g), TERN_EADDRNOTAVAIL);
  assert_int_equal(tern_igmp_leave(n.a, NULL, &g), TERN_EADDRNOTAVAIL);
  addr4(&ifa, "10.1.0.1", 0);
  assert_int_equal(tern_igmp_join(n.a, &ifa, &g), 0);
  /* section 3: a report at once; the driver lets the MAC in */
  assert_int_equal(count_igmp(&n.ea, 0x16, G1), 1);
  assert_int_equal(n.ea.n, 1);
  assert_int_equal(filt_adds, 1);
  assert_memory_equal(filt_last, "\x01\x00\x5e\x01\x02\x03", 6);
  tern_stack_stats s;
  tern_stack_get_stats(n.a, &s);
  assert_int_equal(s.igmp_out, 1);
  q_clear(&n.ea);
  /* and once more within the Unsolicited Report Interval (10 s) */
  advance(&n, n.a, 10001);
  assert_int_equal(count_igmp(&n.ea, 0x16, G1), 1);
  q_clear(&n.ea);
  /* joins are counted: no new report, no leave until the last */
  assert_int_equal(tern_igmp_join(n.a, NULL, &g), 0);
  assert_int_equal(n.ea.n, 0);
  assert_int_equal(tern_igmp_leave(n.a, NULL, &g), 0);
  assert_int_equal(n.ea.n, 0);
  assert_int_equal(filt_dels, 0);
  assert_int_equal(tern_igmp_leave(n.a, NULL, &g), 0);
  assert_int_equal(count_igmp(&n.ea, 0x17, G1), 1);
  assert_int_equal(filt_dels, 1);
  assert_int_equal(tern_igmp_leave(n.a, NULL, &g), TERN_EADDRNOTAVAIL);
  q_clear(&n.ea);
  /* 224.0.0.1 is never reported */
  tern_addr all = grp(0xe0000001u);
  assert_int_equal(tern_igmp_join(n.a, NULL, &all), 0);
  advance(&n, n.a, 20000);
  assert_int_equal(n.ea.n, 0);
  assert_int_equal(tern_igmp_leave(n.a, NULL, &all), 0);
  assert_int_equal(n.ea.n, 0);
  /* no memory: nothing joined, nothing sent */
  tern_stack_fail_alloc(n.a, 1, true);
  assert_int_equal(tern_igmp_join(n.a, NULL, &g2), TERN_ENOMEM);
  tern_stack_fail_alloc(n.a, 0, false);
  assert_int_equal(n.ea.n, 0);
  assert_int_equal(tern_igmp_leave(n.a, NULL, &g2), TERN_EADDRNOTAVAIL);
  /* joined while the netif is down: reported when it comes up */
  tern_netif_set_up(n.ea.nif, false);
  assert_int_equal(tern_igmp_join(n.a, &ifa, &g2), 0);
  assert_int_equal(n.ea.n, 0);
  tern_netif_set_up(n.ea.nif, true);
  assert_int_equal(count_igmp(&n.ea, 0x16, G2), 1);
  /* no memory for the first report: the join holds, the repeat reports */
  q_clear(&n.ea);
  tern_addr g3 = grp(0xef030303u);
  tern_stack_fail_alloc(n.a, 2, false); /* the group, then the report */
  assert_int_equal(tern_igmp_join(n.a, NULL, &g3), 0);
  assert_int_equal(n.ea.n, 0);
  advance(&n, n.a, 10001);
  assert_int_equal(count_igmp(&n.ea, 0x16, 0xef030303u), 1);
  /* a netif removed takes its groups along (the stack frees the rest) */
  assert_int_equal(tern_igmp_join(n.a, NULL, &g), 0);
  tern_netif_remove(n.ea.nif);
  assert_int_equal(tern_igmp_leave(n.a, &ifa, &g), TERN_EADDRNOTAVAIL);
  advance(&n, n.a, 20000); /* their repeat timers are gone too (ASan) */
  net2_free(&n);
}

static void test_igmp_query(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  tern_addr g = grp(G1), g2 = grp(G2);
  assert_int_equal(tern_igmp_join(n.a, NULL, &g), 0);
  assert_int_equal(tern_igmp_join(n.a, NULL, &g2), 0);
  advance(&n, n.a, 10001); /* the unsolicited reports are done */
  q_clear(&n.ea);
  /* a general query, Max Response Time 2 s: both report within it, not
   * at once */
  feed_igmp(n.ea.nif, 0x11, 20, 0, 0xe0000001u, false);
  assert_int_equal(n.ea.n, 0);
  advance(&n, n.a, 2001);
  assert_int_equal(count_igmp(&n.ea, 0x16, G1), 1);
  assert_int_equal(count_igmp(&n.ea, 0x16, G2), 1);
  assert_int_equal(n.ea.n, 2);
  q_clear(&n.ea);
  /* a group-specific query: that group only */
  feed_igmp(n.ea.nif, 0x11, 10, G2, G2, false);
  advance(&n, n.a, 1001);
  assert_int_equal(count_igmp(&n.ea, 0x16, G2), 1);
  assert_int_equal(n.ea.n, 1);
  q_clear(&n.ea);
  /* a bad checksum: ignored */
  tern_stack_stats s0, s1;
  tern_stack_get_stats(n.a, &s0);
  feed_igmp(n.ea.nif, 0x11, 10, 0, 0xe0000001u, true);
  advance(&n, n.a, 1001);
  assert_int_equal(n.ea.n, 0);
  tern_stack_get_stats(n.a, &s1);
  assert_int_equal(s1.igmp_in, s0.igmp_in + 1);
  assert_int_equal(s1.ip_drop, s0.ip_drop + 1);
  /* suppression: another member's report for G1 before our timer fires;
   * then we are not the last reporter and leave silently */
  feed_igmp(n.ea.nif, 0x11, 100, 0, 0xe0000001u, false);
  feed_igmp(n.ea.nif, 0x16, 0, G1, G1, false);
  advance(&n, n.a, 10001);
  assert_int_equal(count_igmp(&n.ea, 0x16, G1), 0);
  assert_int_equal(count_igmp(&n.ea, 0x16, G2), 1);
  q_clear(&n.ea);
  assert_int_equal(tern_igmp_leave(n.a, NULL, &g), 0);
  assert_int_equal(n.ea.n, 0);
  /* a version 1 query (Max Response 0 = 10 s): a v1 report, and no
   * leave while a v1 router is around (section 4) */
  feed_igmp(n.ea.nif, 0x11, 0, 0, 0xe0000001u, false);
  advance(&n, n.a, 10001);
  assert_int_equal(count_igmp(&n.ea, 0x12, G2), 1);
  q_clear(&n.ea);
  assert_int_equal(tern_igmp_leave(n.a, NULL, &g2), 0);
  assert_int_equal(n.ea.n, 0);
  net2_free(&n);
}

static void test_mcast_udp(void **state) {
  (void)state;
  net2 n;
  net2_init(&n, 512 * 1024);
  int got_b = 0, got_a = 0;
  tern_addr any;
  addr4(&any, "0.0.0.0", 5000);
  tern_udp *ub = tern_udp_new(n.b);
  assert_int_equal(tern_udp_bind(ub, &any), 0);
  tern_udp_recv(ub, on_udp_count, &got_b);
  tern_udp *ua = tern_udp_new(n.a);
  assert_int_equal(tern_udp_bind(ua, &any), 0);
  tern_udp_recv(ua, on_udp_count, &got_a);
  q_clear(&n.ea); /* the gratuitous ARPs */
  q_clear(&n.eb);
  /* not joined: b drops it */
  tern_stack_stats s0, s1;
  tern_stack_get_stats(n.b, &s0);
  udp_send1(ua, n.a, "239.1.2.3", 5000);
  const uint8_t *h = first_ip(&n.ea, IP_PROTO_UDP);
  assert_non_null(h);
  assert_int_equal(h[8], 1); /* RFC 1112 6.1: TTL 1 unless asked */
  assert_memory_equal(n.ea.q[0].data, "\x01\x00\x5e\x01\x02\x03", 6);
  pump(&n);
  assert_int_equal(got_b, 0);
  tern_stack_get_stats(n.b, &s1);
  assert_int_equal(s1.ip_drop, s0.ip_drop + 1);
  /* joined: received by every pcb bound to the port */
  tern_addr g = grp(G1);
  assert_int_equal(tern_igmp_join(n.b, NULL, &g), 0);
  tern_udp *ub2 = tern_udp_new(n.b);
  tern_addr gport = grp(G1);
  gport.port = 5000;
  assert_int_equal(tern_udp_bind(ub2, &gport), TERN_EADDRINUSE);
  gport.port = 5001;
  assert_int_equal(tern_udp_bind(ub2, &gport), 0); /* a group may be bound */
  int got_b2 = 0;
  tern_udp_recv(ub2, on_udp_count, &got_b2);
  q_clear(&n.eb);
  udp_send1(ua, n.a, "239.1.2.3", 5000);
  udp_send1(ua, n.a, "239.1.2.3", 5001);
  pump(&n);
  assert_int_equal(got_b, 1);
  assert_int_equal(got_b2, 1);
  /* a pcb bound to a group sends from its netif's address */
  q_clear(&n.eb);
  udp_send1(ub2, n.b, "239.5.5.5", 9);
  h = first_ip(&n.eb, IP_PROTO_UDP);
  assert_non_null(h);
  assert_int_equal(ip_get32(h + 12), 0x0a010002);
  q_clear(&n.eb);
  /* 224.0.0.1 needs no join */
  udp_send1(ua, n.a, "224.0.0.1", 5000);
  pump(&n);
  assert_int_equal(got_b, 2);
  assert_int_equal(got_a, 0);
  advance(&n, n.a, 0); /* a is in 224.0.0.1 too: its copy loops back */
  assert_int_equal(got_a, 1);
  /* left: dropped again */
  assert_int_equal(tern_igmp_leave(n.b, NULL, &g), 0);
  udp_send1(ua, n.a, "239.1.2.3", 5000);
  pump(&n);
  assert_int_equal(got_b, 2);
  /* IP_MULTICAST_TTL, _IF */
  tern_addr ifa;
  addr4(&ifa, "10.1.0.9", 0);
  assert_int_equal(tern_udp_set_mcast(ua, 4, &ifa, true), TERN_EADDRNOTAVAIL);
  addr4(&ifa, "10.1.0.1", 0);
  assert_int_equal(tern_udp_set_mcast(ua, 4, &ifa, true), 0);
  q_clear(&n.ea);
  udp_send1(ua, n.a, "239.1.2.3", 5000);
  h = first_ip(&n.ea, IP_PROTO_UDP);
  assert_int_equal(h[8], 4);
  q_clear(&n.ea);
  /* loopback: a joined the group, its own pcb gets a copy, from the
   * timer, not inside the send */
  assert_int_equal(tern_igmp_join(n.a, NULL, &g), 0);
  udp_send1(ua, n.a, "239.1.2.3", 5000);
  assert_int_equal(got_a, 1);
  advance(&n, n.a, 0);
  assert_int_equal(got_a, 2);
  assert_int_equal(tern_udp_set_mcast(ua, 1, NULL, false), 0);
  udp_send1(ua, n.a, "239.1.2.3", 5000);
  advance(&n, n.a, 0);
  assert_int_equal(got_a, 2);
  /* loopback copies left queued go with the stack */
  tern_udp_set_mcast(ua, 1, NULL, true);
  udp_send1(ua, n.a, "239.1.2.3", 5000);
  tern_udp_free(ua);
  tern_udp_free(ub);
  tern_udp_free(ub2);
  net2_free(&n);
}
#endif /* TERN_ENABLE_IGMP */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_udp_ttl_tos),
      cmocka_unit_test(test_tcp_ttl_tos),
#if TERN_ENABLE_IP_RAW
      cmocka_unit_test(test_raw_icmp_echo),
      cmocka_unit_test(test_raw_unknown_proto),
#endif
#if TERN_ENABLE_IGMP
      cmocka_unit_test(test_igmp_join_leave),
      cmocka_unit_test(test_igmp_query),
      cmocka_unit_test(test_mcast_udp),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
