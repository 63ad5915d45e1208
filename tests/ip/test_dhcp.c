/* test_dhcp.c: the DHCP client (src/ip/dhcp.c) and its messages
 * (src/ip/dhcp_msg.c).
 *
 * Messages: build/parse round trips, option overload (RFC 2132 9.3),
 * malformed input (short, bad cookie, lengths past the end, lengths the
 * RFC forbids), every truncation and every single-byte corruption of a
 * valid message (ASan watches).
 *
 * The client: two stacks on the in-memory wire with a virtual clock
 * (tern_wire_run); the second runs a tiny DHCP server on the raw UDP API.
 * The client's netif driver records every frame it sends (time, Ethernet
 * and IP destination, the DHCP message), so the tests check the exchange
 * as RFC 2131 words it: DISCOVER/OFFER/REQUEST/ACK, retransmission
 * timing (4.1), NAK (3.1.5), renewal at T1 unicast and rebinding at T2
 * broadcast (4.4.5), expiry, INIT-REBOOT (3.2). Also
 * tern_udp_sendto_netif (broadcast from 0.0.0.0, routing unchanged).
 * The ARP check of an ACKed address (RFC 2131 3.1.5, RFC 5227 via
 * tern/acd.h): probe count and timing, conflict by a reply and by a
 * competing probe or announcement -> DECLINE and a restart after >= 10 s,
 * defence while bound; DHCPINFORM (3.4) with retransmission. The driver
 * also records ARP frames.
 * Every test ends with both pools and the allocator back to zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ip/dhcp_msg.h"
#include "ip/ip_internal.h"
#include "tern/acd.h"
#include "tern/dhcp.h"
#include "tern/ip_drivers.h"

#define IP(a, b, c, d) \
  (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

/* ---- messages ------------------------------------------------------------ */

static void fill_reply(tern__dhcp_msg *m) {
  static const uint8_t cid[] = {1, 2, 0, 0, 0, 0, 2};
  static const char host[] = "dev-7";
  memset(m, 0, sizeof *m);
  m->op = TERN__BOOTREPLY;
  m->htype = 1;
  m->hlen = 6;
  m->xid = 0xdeadbeef;
  m->secs = 7;
  m->flags = TERN__DHCP_FLAG_BROADCAST;
  m->yiaddr = IP(10, 0, 0, 50);
  m->siaddr = IP(10, 0, 0, 1);
  memcpy(m->chaddr, "\x02\x00\x00\x00\x00\x02", 6);
  m->type = TERN__DHCPACK;
  m->has_server_id = true;
  m->server_id = IP(10, 0, 0, 1);
  m->has_lease = true;
  m->lease_s = 3600;
  m->has_t1 = true;
  m->t1_s = 1800;
  m->has_t2 = true;
  m->t2_s = 3150;
  m->has_subnet = true;
  m->subnet = 0xffffff00u;
  m->n_routers = 1;
  m->router = IP(10, 0, 0, 1);
  m->n_dns = 3;
  m->dns[0] = IP(10, 0, 0, 53);
  m->dns[1] = IP(10, 0, 0, 54);
  m->dns[2] = IP(8, 8, 8, 8);
  m->client_id = cid;
  m->client_id_len = sizeof cid;
  m->hostname = (const uint8_t *)host;
  m->hostname_len = 5;
  m->max_size = 1500;
}

static void test_msg_roundtrip(void **state) {
  (void)state;
  tern__dhcp_msg m, p;
  fill_reply(&m);
  uint8_t buf[TERN__DHCP_MAX_SEND];
  int n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  assert_true(n >= TERN__DHCP_PAD_TO);
  assert_int_equal(tern__dhcp_msg_parse(buf, (size_t)n, &p), TERN_OK);
  assert_int_equal(p.op, TERN__BOOTREPLY);
  assert_int_equal(p.xid, 0xdeadbeef);
  assert_int_equal(p.secs, 7);
  assert_int_equal(p.flags, TERN__DHCP_FLAG_BROADCAST);
  assert_int_equal(p.yiaddr, IP(10, 0, 0, 50));
  assert_int_equal(p.siaddr, IP(10, 0, 0, 1));
  assert_memory_equal(p.chaddr, m.chaddr, 16);
  assert_int_equal(p.type, TERN__DHCPACK);
  assert_true(p.has_server_id && p.has_lease && p.has_t1 && p.has_t2 &&
              p.has_subnet);
  assert_int_equal(p.server_id, IP(10, 0, 0, 1));
  assert_int_equal(p.lease_s, 3600);
  assert_int_equal(p.t1_s, 1800);
  assert_int_equal(p.t2_s, 3150);
  assert_int_equal(p.subnet, 0xffffff00u);
  assert_int_equal(p.n_routers, 1);
  assert_int_equal(p.router, IP(10, 0, 0, 1));
  assert_int_equal(p.n_dns, 3);
  assert_int_equal(p.dns[2], IP(8, 8, 8, 8));
  assert_int_equal(p.client_id_len, 7);
  assert_memory_equal(p.client_id, m.client_id, 7);
  assert_int_equal(p.hostname_len, 5);
  assert_memory_equal(p.hostname, "dev-7", 5);
  assert_int_equal(p.max_size, 1500);
  assert_false(p.has_req_ip);
  /* a request with a parameter list and requested IP */
  static const uint8_t params[] = {1, 3, 6};
  memset(&m, 0, sizeof m);
  m.op = TERN__BOOTREQUEST;
  m.hlen = 6;
  m.type = TERN__DHCPREQUEST;
  m.has_req_ip = true;
  m.req_ip = IP(192, 168, 1, 9);
  m.params = params;
  m.params_len = 3;
  n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  assert_int_equal(tern__dhcp_msg_parse(buf, (size_t)n, &p), TERN_OK);
  assert_true(p.has_req_ip);
  assert_int_equal(p.req_ip, IP(192, 168, 1, 9));
  assert_int_equal(p.params_len, 3);
  assert_memory_equal(p.params, params, 3);
  /* too small a buffer */
  assert_int_equal(tern__dhcp_msg_build(&m, buf, 250), TERN_ENOSPC);
}

/* A hand-made reply: header, cookie, then the given option bytes. */
static size_t raw_msg(uint8_t *buf, const uint8_t *opts, size_t n) {
  memset(buf, 0, 240);
  buf[0] = TERN__BOOTREPLY;
  buf[1] = 1;
  buf[2] = 6;
  ip_put32(buf + 236, TERN__DHCP_MAGIC);
  memcpy(buf + 240, opts, n);
  return 240 + n;
}

static void test_msg_overload(void **state) {
  (void)state;
  uint8_t buf[600];
  /* options say: file and sname carry more (52 = 3) */
  static const uint8_t opts[] = {53, 1, TERN__DHCPOFFER, 52, 1, 3, 255};
  size_t n = raw_msg(buf, opts, sizeof opts);
  /* file (offset 108): server id; sname (offset 44): lease, then END */
  static const uint8_t file[] = {54, 4, 10, 0, 0, 1, 0, 0, 255};
  static const uint8_t sname[] = {51, 4, 0, 0, 0x0e, 0x10, 255};
  memcpy(buf + 108, file, sizeof file);
  memcpy(buf + 44, sname, sizeof sname);
  tern__dhcp_msg p;
  assert_int_equal(tern__dhcp_msg_parse(buf, n, &p), TERN_OK);
  assert_int_equal(p.type, TERN__DHCPOFFER);
  assert_int_equal(p.overload, 3);
  assert_true(p.has_server_id);
  assert_int_equal(p.server_id, IP(10, 0, 0, 1));
  assert_true(p.has_lease);
  assert_int_equal(p.lease_s, 3600);
  /* without the overload option, file and sname are not options */
  static const uint8_t plain[] = {53, 1, TERN__DHCPOFFER, 255};
  n = raw_msg(buf, plain, sizeof plain);
  memcpy(buf + 108, file, sizeof file);
  assert_int_equal(tern__dhcp_msg_parse(buf, n, &p), TERN_OK);
  assert_false(p.has_server_id);
  /* an option in 'file' running past its 128 octets */
  n = raw_msg(buf, opts, sizeof opts);
  buf[108 + 126] = 12;
  buf[108 + 127] = 9;
  assert_int_equal(tern__dhcp_msg_parse(buf, n, &p), TERN_EPROTO);
  /* pad options are skipped, no END at the very end is taken */
  static const uint8_t padded[] = {0, 0, 53, 1, TERN__DHCPNAK, 0};
  n = raw_msg(buf, padded, sizeof padded);
  assert_int_equal(tern__dhcp_msg_parse(buf, n, &p), TERN_OK);
  assert_int_equal(p.type, TERN__DHCPNAK);
  /* more routers and DNS servers than kept */
  static const uint8_t many[] = {3, 8, 1, 1, 1, 1, 2, 2, 2, 2,
                                 6, 16, 1, 0, 0, 1, 1, 0, 0, 2,
                                 1, 0, 0, 3, 1, 0, 0, 4, 255};
  n = raw_msg(buf, many, sizeof many);
  assert_int_equal(tern__dhcp_msg_parse(buf, n, &p), TERN_OK);
  assert_int_equal(p.n_routers, 2);
  assert_int_equal(p.router, IP(1, 1, 1, 1));
  assert_int_equal(p.n_dns, 3);
  assert_int_equal(p.dns[2], IP(1, 0, 0, 3));
}

static void test_msg_malformed(void **state) {
  (void)state;
  uint8_t buf[600];
  tern__dhcp_msg p;
  static const uint8_t ok[] = {53, 1, 2, 255};
  size_t n = raw_msg(buf, ok, sizeof ok);
  assert_int_equal(tern__dhcp_msg_parse(buf, n, &p), TERN_OK);
  assert_int_equal(tern__dhcp_msg_parse(buf, 239, &p), TERN_EPROTO);
  assert_int_equal(tern__dhcp_msg_parse(NULL, 0, &p), TERN_EPROTO);
  buf[236] ^= 1; /* cookie */
  assert_int_equal(tern__dhcp_msg_parse(buf, n, &p), TERN_EPROTO);
  n = raw_msg(buf, ok, sizeof ok);
  buf[0] = 3; /* op */
  assert_int_equal(tern__dhcp_msg_parse(buf, n, &p), TERN_EPROTO);
  n = raw_msg(buf, ok, sizeof ok);
  buf[2] = 17; /* hlen */
  assert_int_equal(tern__dhcp_msg_parse(buf, n, &p), TERN_EPROTO);
  static const struct {
    uint8_t len;
    uint8_t b[12];
  } bad[] = {
      {2, {53, 1}},                   /* value missing */
      {1, {53}},                      /* length missing */
      {3, {53, 2, 1}},                /* past the end */
      {4, {53, 2, 1, 1}},             /* type length 2 */
      {3, {53, 1, 9}},                /* type 9 */
      {3, {53, 1, 0}},                /* type 0 */
      {5, {54, 3, 1, 2, 3}},          /* server id of 3 */
      {7, {1, 5, 1, 2, 3, 4, 5}},     /* subnet of 5 */
      {5, {3, 3, 1, 2, 3}},           /* router list not 4n */
      {2, {6, 0}},                    /* empty DNS list */
      {4, {57, 2, 0x01, 0x00}},       /* max size 256 < 576 */
      {3, {57, 1, 9}},                /* max size length 1 */
      {3, {52, 1, 4}},                /* overload 4 */
      {3, {61, 1, 1}},                /* client id of 1 */
      {2, {12, 0}},                   /* empty host name */
      {6, {51, 5, 0, 0, 1, 0xff}},    /* lease: one byte past */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = raw_msg(buf, bad[i].b, bad[i].len);
    /* no END: the bytes end exactly where the option does */
    int rc = tern__dhcp_msg_parse(buf, n, &p);
    if (rc != TERN_EPROTO) fail_msg("case %zu accepted", i);
  }
  /* unknown options are skipped by length, also a 0-length one */
  static const uint8_t unk[] = {200, 0, 201, 3, 1, 2, 3, 53, 1, 5, 255};
  n = raw_msg(buf, unk, sizeof unk);
  assert_int_equal(tern__dhcp_msg_parse(buf, n, &p), TERN_OK);
  assert_int_equal(p.type, TERN__DHCPACK);
}

/* Every prefix and every one-byte change of a full message: parse must
 * not read outside (ASan) and must either fail or give sane counts. */
static void test_msg_truncate_corrupt(void **state) {
  (void)state;
  tern__dhcp_msg m, p;
  fill_reply(&m);
  uint8_t buf[TERN__DHCP_MAX_SEND];
  int n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  for (int len = 0; len <= n; len++) {
    uint8_t *c = malloc((size_t)len + 1); /* exact size: ASan sees over-reads */
    memcpy(c, buf, (size_t)len);
    int rc = tern__dhcp_msg_parse(c, (size_t)len, &p);
    assert_true(rc == TERN_OK || rc == TERN_EPROTO);
    if (len < 240) assert_int_equal(rc, TERN_EPROTO);
    free(c);
  }
  for (int i = 0; i < n; i++) {
    for (int bit = 0; bit < 8; bit++) {
      uint8_t *c = malloc((size_t)n);
      memcpy(c, buf, (size_t)n);
      c[i] ^= (uint8_t)(1u << bit);
      if (tern__dhcp_msg_parse(c, (size_t)n, &p) == TERN_OK) {
        assert_true(p.n_dns <= TERN__DHCP_MAX_DNS);
        if (p.client_id)
          assert_true(p.client_id >= c && p.client_id + p.client_id_len <= c + n);
        if (p.hostname)
          assert_true(p.hostname >= c && p.hostname + p.hostname_len <= c + n);
      }
      free(c);
    }
  }
}

/* ---- two stacks, a fake server -------------------------------------------- */

enum { SRV_NORMAL, SRV_SILENT, SRV_NAK_ONCE, SRV_NAK, SRV_OTHER_ADDR,
       SRV_CONFLICT_ONCE /* offers its own address until DECLINEd */ };

typedef struct sent { /* one DHCP message the client sent */
  uint64_t t;
  uint8_t type;
  bool eth_bcast;
  uint32_t ip_src, ip_dst;
  uint32_t xid, ciaddr, req_ip, server_id;
  bool has_req_ip, has_server_id;
  uint16_t secs, flags;
  uint8_t params_len, hostname_len, message_len;
  uint16_t max_size;
} sent;

typedef struct arp_sent { /* one ARP packet the client sent */
  uint64_t t;
  uint16_t op;
  bool eth_bcast;
  uint32_t sip, tip;
  uint8_t smac[6], tmac[6];
} arp_sent;

typedef struct fx {
  tern_stack *c, *s;
  tern_wire *w;
  tern_netif *nc, *ns;
  tern_udp *srv;
  tern_dhcp *d;
  uint64_t now;
  int mode;
  uint32_t lease, t1, t2; /* what the server gives; t1/t2 0: not sent */
  uint32_t yiaddr;
  int acks, naks, offers;
  sent tx[128];
  int ntx;
  arp_sent arp[64];
  int narp;
  int declines;
  uint32_t decline_req_ip, decline_server_id;
  tern_dhcp_event ev[32];
  tern_dhcp_lease ev_lease[32];
  uint64_t ev_t[32];
  uint32_t ev_nif_ip[32]; /* the netif's address when the event ran */
  int nev;
  bool probe; /* start() leaves the ARP check on */
  bool free_in_cb;
  uint64_t live0; /* client stack allocations before the test */
} fx;

static fx *g_fx;

static int rec_output(tern_netif *nif, tern_pbuf *frame) {
  fx *f = g_fx;
  uint8_t b[700];
  size_t n = tern_pbuf_copy_out(frame, 0, b, sizeof b);
  if (n > 14 + 20 + 8 && ip_get16(b + 12) == 0x0800 && b[14 + 9] == 17) {
    size_t ihl = (size_t)(b[14] & 15) * 4;
    const uint8_t *u = b + 14 + ihl;
    tern__dhcp_msg m;
    if (ip_get16(u + 2) == 67 &&
        tern__dhcp_msg_parse(u + 8, n - 14 - ihl - 8, &m) == TERN_OK &&
        f->ntx < 128) {
      sent *s = &f->tx[f->ntx++];
      s->t = tern_stack_now(f->c);
      s->type = m.type;
      s->eth_bcast = memcmp(b, "\xff\xff\xff\xff\xff\xff", 6) == 0;
      s->ip_src = ip_get32(b + 14 + 12);
      s->ip_dst = ip_get32(b + 14 + 16);
      s->xid = m.xid;
      s->ciaddr = m.ciaddr;
      s->req_ip = m.req_ip;
      s->has_req_ip = m.has_req_ip;
      s->server_id = m.server_id;
      s->has_server_id = m.has_server_id;
      s->secs = m.secs;
      s->flags = m.flags;
      s->params_len = m.params_len;
      s->hostname_len = m.hostname_len;
      s->message_len = m.message_len;
      s->max_size = m.max_size;
    }
  }
  if (n >= 14 + 28 && ip_get16(b + 12) == 0x0806 && f->narp < 64) {
    arp_sent *a = &f->arp[f->narp++];
    a->t = tern_stack_now(f->c);
    a->op = ip_get16(b + 14 + 6);
    a->eth_bcast = memcmp(b, "\xff\xff\xff\xff\xff\xff", 6) == 0;
    memcpy(a->smac, b + 14 + 8, 6);
    a->sip = ip_get32(b + 14 + 14);
    memcpy(a->tmac, b + 14 + 18, 6);
    a->tip = ip_get32(b + 14 + 24);
  }
  return tern_wire_driver()->output(nif, frame);
}

static const tern_netif_driver rec_driver = {.name = "rec",
                                             .output = rec_output};

static void srv_reply(fx *f, const tern__dhcp_msg *rq, uint8_t type) {
  tern__dhcp_msg m;
  memset(&m, 0, sizeof m);
  m.op = TERN__BOOTREPLY;
  m.htype = 1;
  m.hlen = 6;
  m.xid = rq->xid;
  memcpy(m.chaddr, rq->chaddr, 16);
  m.type = type;
  m.has_server_id = true;
  m.server_id = IP(10, 0, 0, 1);
  if (type != TERN__DHCPNAK) {
    /* RFC 2131 4.3.5: the ACK to an INFORM has no address, no lease */
    bool inform = rq->type == TERN__DHCPINFORM;
    m.yiaddr = inform ? 0 : f->yiaddr;
    m.has_lease = !inform;
    m.lease_s = f->lease;
    if (f->t1) m.has_t1 = true, m.t1_s = f->t1;
    if (f->t2) m.has_t2 = true, m.t2_s = f->t2;
    m.has_subnet = true;
    m.subnet = 0xffffff00u;
    m.n_routers = 1;
    m.router = IP(10, 0, 0, 1);
    m.n_dns = 2;
    m.dns[0] = IP(10, 0, 0, 53);
    m.dns[1] = IP(10, 0, 0, 54);
  }
  uint8_t buf[TERN__DHCP_MAX_SEND];
  int n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  assert_true(n > 0);
  tern_pbuf *p = tern_pbuf_alloc(f->s, TERN_PBUF_TRANSPORT, (size_t)n);
  tern_pbuf_copy_in(p, 0, buf, (size_t)n);
  tern_addr to;
  /* RFC 2131 4.1: to ciaddr when the client has one, else broadcast */
  ip_addr_to(rq->ciaddr ? rq->ciaddr : 0xffffffffu, 68, &to);
  assert_int_equal(tern_udp_sendto(f->srv, p, &to), 0);
  tern_pbuf_free(p);
}

static void srv_recv(void *arg, tern_udp *pcb, tern_pbuf *p,
                     const tern_addr *from) {
  fx *f = arg;
  (void)pcb;
  (void)from;
  uint8_t buf[1500];
  size_t n = tern_pbuf_copy_out(p, 0, buf, sizeof buf);
  tern_pbuf_free(p);
  tern__dhcp_msg m;
  if (tern__dhcp_msg_parse(buf, n, &m) != TERN_OK) return;
  if (f->mode == SRV_SILENT) return;
  if (m.type == TERN__DHCPDECLINE) {
    f->declines++;
    f->decline_req_ip = m.has_req_ip ? m.req_ip : 0;
    f->decline_server_id = m.has_server_id ? m.server_id : 0;
    if (f->mode == SRV_CONFLICT_ONCE) f->yiaddr = IP(10, 0, 0, 50);
  } else if (m.type == TERN__DHCPINFORM) {
    f->acks++;
    srv_reply(f, &m, TERN__DHCPACK);
  } else if (m.type == TERN__DHCPDISCOVER) {
    f->offers++;
    srv_reply(f, &m, TERN__DHCPOFFER);
  } else if (m.type == TERN__DHCPREQUEST) {
    if (f->mode == SRV_NAK || (f->mode == SRV_NAK_ONCE && f->naks == 0)) {
      f->naks++;
      srv_reply(f, &m, TERN__DHCPNAK);
      return;
    }
    if (f->mode == SRV_OTHER_ADDR) f->yiaddr = IP(10, 0, 0, 77);
    f->acks++;
    srv_reply(f, &m, TERN__DHCPACK);
  }
}

static void on_dhcp(tern_dhcp *d, tern_dhcp_event ev,
                    const tern_dhcp_lease *l, void *ud) {
  fx *f = ud;
  if (f->nev < 32) {
    f->ev_t[f->nev] = tern_stack_now(f->c);
    f->ev_nif_ip[f->nev] = f->nc->ip;
    f->ev[f->nev] = ev;
    if (l) f->ev_lease[f->nev] = *l;
    f->nev++;
  }
  if (f->free_in_cb) {
    tern_dhcp_free(d);
    f->d = NULL;
  }
}

static void fx_setup(fx *f) {
  memset(f, 0, sizeof *f);
  g_fx = f;
  f->mode = SRV_NORMAL;
  f->lease = 3600;
  f->yiaddr = IP(10, 0, 0, 50);
  tern_stack_opts o = {0};
  o.pool_bytes = 1u << 20;
  assert_int_equal(tern_stack_new(&f->c, &o), 0);
  assert_int_equal(tern_stack_new(&f->s, &o), 0);
  assert_int_equal(tern_wire_new(&f->w, 7), 0);
  tern_netif_opts no = {0};
  no.flags = TERN_NETIF_ETHERNET;
  no.name = "client";
  memcpy(no.mac, "\x02\x00\x00\x00\x00\x02", 6);
  no.driver = &rec_driver;
  no.driver_state = tern_wire_end(f->w, 0);
  assert_int_equal(tern_netif_add(f->c, &no, &f->nc), 0);
  no.name = "server";
  no.driver = tern_wire_driver();
  memcpy(no.mac, "\x02\x00\x00\x00\x00\x01", 6);
  ip_addr_to(IP(10, 0, 0, 1), 0, &no.addr);
  no.prefix_len = 24;
  no.driver_state = tern_wire_end(f->w, 1);
  assert_int_equal(tern_netif_add(f->s, &no, &f->ns), 0);
  tern_wire_attach(f->w, 0, f->nc);
  tern_wire_attach(f->w, 1, f->ns);
  tern_netif_set_up(f->nc, true);
  tern_netif_set_up(f->ns, true);
  f->srv = tern_udp_new(f->s);
  tern_addr a;
  ip_addr_to(0, 67, &a);
  assert_int_equal(tern_udp_bind(f->srv, &a), 0);
  tern_udp_recv(f->srv, srv_recv, f);
  /* start at a time that is not 0 */
  f->now = 1000;
  tern_stack_advance(f->c, f->now);
  tern_stack_advance(f->s, f->now);
  f->live0 = f->c->malloc_live;
}

static void fx_teardown(fx *f) {
  if (f->d) tern_dhcp_free(f->d);
  tern_udp_free(f->srv);
  tern_stack_stats sc, ss;
  tern_stack_get_stats(f->c, &sc);
  tern_stack_get_stats(f->s, &ss);
  assert_int_equal(sc.udp_pcbs, 0);
  assert_int_equal(ss.udp_pcbs, 0);
  assert_int_equal(f->c->malloc_live, f->live0);
  assert_int_equal(sc.pool_used, 0);
  assert_int_equal(ss.pool_used, 0);
  tern_stack_free(f->c);
  tern_stack_free(f->s);
  tern_wire_free(f->w);
}

static void start(fx *f, const tern_dhcp_opts *extra) {
  tern_dhcp_opts o;
  if (extra)
    o = *extra;
  else
    memset(&o, 0, sizeof o);
  o.cb = on_dhcp;
  o.ud = f;
  /* the tests of the exchange itself skip the ARP check (3..7 s) */
  if (!f->probe) o.no_probe = true;
  assert_int_equal(tern_dhcp_start(f->nc, &o, &f->d), 0);
}

static int want_state;
static bool in_state(void *ud) {
  fx *f = ud;
  return f->d && (int)tern_dhcp_get_state(f->d) == want_state;
}
static int want_ntx;
static bool ntx_reached(void *ud) { return ((fx *)ud)->ntx >= want_ntx; }
static int want_nev;
static bool nev_reached(void *ud) { return ((fx *)ud)->nev >= want_nev; }

static bool run_until_state(fx *f, tern_dhcp_state s, uint64_t limit) {
  want_state = (int)s;
  return tern_wire_run(f->w, f->c, f->s, &f->now, f->now + limit, in_state, f);
}

static void expect_lease(const tern_dhcp_lease *l, uint32_t ip) {
  uint32_t v;
  assert_true(ip_addr_from(&l->addr, &v));
  assert_int_equal(v, ip);
  assert_int_equal(l->prefix_len, 24);
  assert_true(ip_addr_from(&l->router, &v));
  assert_int_equal(v, IP(10, 0, 0, 1));
  assert_true(ip_addr_from(&l->server, &v));
  assert_int_equal(v, IP(10, 0, 0, 1));
  assert_int_equal(l->n_dns, 2);
  assert_true(ip_addr_from(&l->dns[1], &v));
  assert_int_equal(v, IP(10, 0, 0, 54));
}

static void test_bind(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  tern_dhcp_opts o = {0};
  o.hostname = "tern-test";
  start(&f, &o);
  assert_int_equal(f.nc->ip, 0);
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 60000));
  assert_int_equal(f.ntx, 2);
  sent *dis = &f.tx[0], *req = &f.tx[1];
  /* RFC 2131 4.1 / 4.4.1: DISCOVER broadcast from 0.0.0.0 */
  assert_int_equal(dis->type, TERN__DHCPDISCOVER);
  assert_true(dis->eth_bcast);
  assert_int_equal(dis->ip_src, 0);
  assert_int_equal(dis->ip_dst, 0xffffffffu);
  assert_int_equal(dis->ciaddr, 0);
  assert_int_equal(dis->flags, 0); /* our stack takes unicast replies */
  /* 3.1.3: REQUEST: same xid and secs, server id and requested IP */
  assert_int_equal(req->type, TERN__DHCPREQUEST);
  assert_true(req->eth_bcast);
  assert_int_equal(req->ip_src, 0);
  assert_int_equal(req->xid, dis->xid);
  assert_int_equal(req->secs, dis->secs);
  assert_true(req->has_server_id && req->has_req_ip);
  assert_int_equal(req->server_id, IP(10, 0, 0, 1));
  assert_int_equal(req->req_ip, IP(10, 0, 0, 50));
  assert_int_equal(req->ciaddr, 0);
  /* the netif is configured, the callback saw the lease */
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 50));
  assert_int_equal(f.nc->mask, 0xffffff00u);
  assert_int_equal(f.nc->gw, IP(10, 0, 0, 1));
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.ev[0], TERN_DHCP_EV_BOUND);
  expect_lease(&f.ev_lease[0], IP(10, 0, 0, 50));
  tern_dhcp_lease l;
  assert_true(tern_dhcp_get_lease(f.d, &l));
  assert_int_equal(l.lease_s, 3600);
  assert_int_equal(l.t1_s, 1800); /* RFC 2131 4.4.5 defaults */
  assert_int_equal(l.t2_s, 3150);
  assert_int_equal(l.start_ms, req->t);
  /* the client is reachable: the server pings it over UDP */
  tern_dhcp_stats st;
  tern_dhcp_get_stats(f.d, &st);
  assert_int_equal(st.bound, 1);
  assert_int_equal(st.offer, 1);
  assert_int_equal(st.ack, 1);
  assert_int_equal(st.retransmits, 0);
  /* release: RELEASE unicast to the server, address gone */
  tern_dhcp_stop(f.d, true);
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 2000, NULL, NULL);
  assert_int_equal(f.tx[f.ntx - 1].type, TERN__DHCPRELEASE);
  assert_int_equal(f.tx[f.ntx - 1].ip_dst, IP(10, 0, 0, 1));
  assert_int_equal(f.tx[f.ntx - 1].ciaddr, IP(10, 0, 0, 50));
  assert_int_equal(f.nc->ip, 0);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_STOPPED);
  assert_false(tern_dhcp_get_lease(f.d, &l));
  fx_teardown(&f);
}

/* RFC 2131 4.1: 4, 8, 16, 32, 64, 64 s, each +-1 s; same xid; secs grows;
 * max_tries ends the cycle with FAILED. */
static void test_retransmit(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  f.mode = SRV_SILENT;
  tern_dhcp_opts o = {0};
  o.max_tries = 7;
  start(&f, &o);
  want_nev = 1;
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 600000, nev_reached, &f);
  assert_int_equal(f.ntx, 7);
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.ev[0], TERN_DHCP_EV_FAILED);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_STOPPED);
  static const uint64_t base[] = {4000, 8000, 16000, 32000, 64000, 64000};
  for (int i = 0; i < 6; i++) {
    uint64_t gap = f.tx[i + 1].t - f.tx[i].t;
    if (gap + 1000 < base[i] || gap > base[i] + 1000)
      fail_msg("gap %d: %llu ms", i, (unsigned long long)gap);
    assert_int_equal(f.tx[i + 1].type, TERN__DHCPDISCOVER);
    assert_int_equal(f.tx[i + 1].xid, f.tx[0].xid);
    assert_true(f.tx[i + 1].secs > f.tx[i].secs);
  }
  assert_int_equal(f.tx[0].secs, 0);
  /* the last try also waited its time before FAILED */
  assert_true(f.now - f.tx[6].t >= 63000);
  tern_dhcp_stats st;
  tern_dhcp_get_stats(f.d, &st);
  assert_int_equal(st.retransmits, 6);
  assert_int_equal(st.failed, 1);
  /* renew starts it again; the server answers now */
  f.mode = SRV_NORMAL;
  tern_dhcp_renew(f.d);
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 60000));
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 50));
  fx_teardown(&f);
}

/* A REQUEST that goes unanswered is retransmitted, then the client goes
 * back to INIT (RFC 2131 3.1.5). */
static void test_request_timeout(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  start(&f, NULL);
  want_ntx = 1;
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 60000, ntx_reached, &f);
  f.mode = SRV_SILENT; /* the OFFER is on its way; the ACK never comes */
  want_ntx = 6;
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 600000, ntx_reached, &f);
  assert_int_equal(f.tx[1].type, TERN__DHCPREQUEST);
  for (int i = 2; i <= 4; i++) {
    assert_int_equal(f.tx[i].type, TERN__DHCPREQUEST);
    assert_int_equal(f.tx[i].xid, f.tx[1].xid);
  }
  assert_int_equal(f.tx[5].type, TERN__DHCPDISCOVER);
  assert_true(f.tx[5].xid != f.tx[1].xid);
  fx_teardown(&f);
}

static void test_nak(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  f.mode = SRV_NAK_ONCE;
  start(&f, NULL);
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 60000));
  /* DISCOVER, REQUEST (NAKed), DISCOVER (a new xid), REQUEST, bound */
  assert_int_equal(f.ntx, 4);
  assert_int_equal(f.tx[0].type, TERN__DHCPDISCOVER);
  assert_int_equal(f.tx[1].type, TERN__DHCPREQUEST);
  assert_int_equal(f.tx[2].type, TERN__DHCPDISCOVER);
  assert_int_equal(f.tx[3].type, TERN__DHCPREQUEST);
  assert_true(f.tx[2].xid != f.tx[0].xid);
  assert_int_equal(f.naks, 1);
  tern_dhcp_stats st;
  tern_dhcp_get_stats(f.d, &st);
  assert_int_equal(st.nak, 1);
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.ev[0], TERN_DHCP_EV_BOUND);
  /* a server that NAKs everything: restarts back off, not a storm */
  f.mode = SRV_NAK;
  f.ntx = 0;
  tern_dhcp_stop(f.d, true);
  tern_dhcp_renew(f.d);
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 120000, NULL, NULL);
  assert_true(f.ntx >= 4);
  assert_true(f.ntx < 20);
  fx_teardown(&f);
}

/* RFC 2131 4.4.5 with lease 1000 s, T1 500, T2 875: renew unicast at T1,
 * retransmit at half the time to T2 (>= 60 s), rebind broadcast at T2,
 * retransmit at half the time to the end, expire, start over. */
static void test_renew_rebind_expire(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  f.lease = 1000;
  start(&f, NULL);
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 60000));
  uint64_t t0 = f.tx[1].t; /* the lease counts from the REQUEST */
  /* T1: RENEWING, unicast to the server, with ciaddr, answered */
  want_nev = 2;
  assert_true(tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 600000,
                            nev_reached, &f));
  assert_int_equal(f.ev[1], TERN_DHCP_EV_RENEWED);
  sent *rn = &f.tx[2];
  assert_int_equal(rn->type, TERN__DHCPREQUEST);
  assert_int_equal(rn->t, t0 + 500000);
  assert_false(rn->eth_bcast);
  assert_int_equal(rn->ip_dst, IP(10, 0, 0, 1));
  assert_int_equal(rn->ip_src, IP(10, 0, 0, 50));
  assert_int_equal(rn->ciaddr, IP(10, 0, 0, 50));
  assert_false(rn->has_server_id); /* RFC 2131 4.3.2: not when renewing */
  assert_false(rn->has_req_ip);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_BOUND);
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 50));
  /* now the server goes quiet: the next T1 is 500 s after this REQUEST */
  f.mode = SRV_SILENT;
  uint64_t t1 = rn->t;
  want_nev = 3;
  assert_true(tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 2000000,
                            nev_reached, &f));
  assert_int_equal(f.ev[2], TERN_DHCP_EV_LOST);
  /* expected transmissions after t1 (ms after the renewal's start) */
  static const struct {
    uint64_t at;
    bool bcast;
  } want[] = {
      {500000, false},          /* T1 */
      {500000 + 187500, false}, /* half of 375 s */
      {500000 + 281250, false}, /* half of 187.5 s */
      {500000 + 341250, false}, /* 60 s (half is 46.9 s) */
      {875000, true},           /* T2: REBINDING, broadcast */
      {875000 + 62500, true},   /* half of 125 s */
      {875000 + 122500, true},  /* 60 s minimum (half is 31.25 s) */
      /* 2.5 s left: 60 s minimum, capped at the end: expiry, no send */
  };
  int base = 3;
  for (int i = 0; i < 7; i++) {
    sent *s = &f.tx[base + i];
    assert_int_equal(s->type, TERN__DHCPREQUEST);
    if (s->t != t1 + want[i].at)
      fail_msg("send %d at +%llu, want +%llu", i,
               (unsigned long long)(s->t - t1), (unsigned long long)want[i].at);
    assert_int_equal(s->eth_bcast, want[i].bcast);
    assert_int_equal(s->ip_dst, want[i].bcast ? 0xffffffffu : IP(10, 0, 0, 1));
    assert_int_equal(s->ciaddr, IP(10, 0, 0, 50));
  }
  /* expiry at the lease's end: address dropped, INIT, DISCOVER at once */
  assert_int_equal(f.nc->ip, 0);
  assert_int_equal(f.tx[base + 7].type, TERN__DHCPDISCOVER);
  assert_int_equal(f.tx[base + 7].t, t1 + 1000000);
  assert_int_equal(f.tx[base + 7].ip_src, 0);
  expect_lease(&f.ev_lease[2], IP(10, 0, 0, 50));
  /* the server is back: a new lease */
  f.mode = SRV_NORMAL;
  want_nev = 4;
  assert_true(tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 200000,
                            nev_reached, &f));
  assert_int_equal(f.ev[3], TERN_DHCP_EV_BOUND);
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 50));
  fx_teardown(&f);
}

/* Forced renew; the server gives another address on renewal: LOST then
 * BOUND; NAK while renewing: LOST, address dropped. Server T1/T2 used. */
static void test_renew_forced(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  f.t1 = 100;
  f.t2 = 200;
  start(&f, NULL);
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 60000));
  tern_dhcp_lease l;
  tern_dhcp_get_lease(f.d, &l);
  assert_int_equal(l.t1_s, 100);
  assert_int_equal(l.t2_s, 200);
  f.mode = SRV_OTHER_ADDR;
  tern_dhcp_renew(f.d);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_RENEWING);
  want_nev = 3;
  assert_true(tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 10000,
                            nev_reached, &f));
  assert_int_equal(f.ev[1], TERN_DHCP_EV_LOST);
  assert_int_equal(f.ev[2], TERN_DHCP_EV_BOUND);
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 77));
  /* NAK while renewing */
  f.mode = SRV_NAK;
  tern_dhcp_renew(f.d);
  want_nev = 4;
  assert_true(tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 10000,
                            nev_reached, &f));
  assert_int_equal(f.ev[3], TERN_DHCP_EV_LOST);
  assert_int_equal(f.nc->ip, 0);
  assert_true(tern_dhcp_get_state(f.d) == TERN_DHCP_INIT ||
              tern_dhcp_get_state(f.d) == TERN_DHCP_SELECTING ||
              tern_dhcp_get_state(f.d) == TERN_DHCP_REQUESTING);
  fx_teardown(&f);
}

/* RFC 2131 3.2: INIT-REBOOT asks for the previous address at once */
static void test_init_reboot(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  tern_dhcp_opts o = {0};
  ip_addr_to(IP(10, 0, 0, 50), 0, &o.prev_addr);
  start(&f, &o);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_INIT_REBOOT);
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 60000));
  assert_int_equal(f.ntx, 1);
  assert_int_equal(f.tx[0].type, TERN__DHCPREQUEST);
  assert_true(f.tx[0].eth_bcast);
  assert_int_equal(f.tx[0].ip_src, 0);
  assert_true(f.tx[0].has_req_ip);
  assert_int_equal(f.tx[0].req_ip, IP(10, 0, 0, 50));
  assert_false(f.tx[0].has_server_id);
  assert_int_equal(f.tx[0].ciaddr, 0);
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 50));
  tern_dhcp_free(f.d);
  f.d = NULL;
  /* NAKed (another network): forget it, DISCOVER */
  f.mode = SRV_NAK_ONCE;
  f.ntx = 0;
  f.nev = 0;
  ip_addr_to(IP(192, 168, 9, 9), 0, &o.prev_addr);
  start(&f, &o);
  assert_int_equal(f.nc->ip, 0);
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 60000));
  assert_int_equal(f.tx[0].type, TERN__DHCPREQUEST);
  assert_int_equal(f.tx[0].req_ip, IP(192, 168, 9, 9));
  assert_int_equal(f.tx[1].type, TERN__DHCPDISCOVER);
  assert_false(f.tx[1].has_req_ip);
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 50));
  /* unanswered: after two REQUESTs back to INIT (DISCOVER) */
  tern_dhcp_free(f.d);
  f.d = NULL;
  f.mode = SRV_SILENT;
  f.ntx = 0;
  start(&f, &o);
  want_ntx = 3;
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 60000, ntx_reached, &f);
  assert_int_equal(f.tx[0].type, TERN__DHCPREQUEST);
  assert_int_equal(f.tx[1].type, TERN__DHCPREQUEST);
  assert_int_equal(f.tx[2].type, TERN__DHCPDISCOVER);
  fx_teardown(&f);
}

/* Replies that are not for us are ignored; a free inside the callback. */
static void test_foreign_and_free_in_cb(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  start(&f, NULL);
  want_ntx = 1;
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 60000, ntx_reached, &f);
  f.mode = SRV_SILENT;
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 100, NULL, NULL);
  /* while REQUESTING (offer taken), feed replies directly */
  tern__dhcp_msg m;
  fill_reply(&m);
  m.xid = tern__dhcp_xid(f.d) + 1; /* wrong xid */
  m.yiaddr = IP(10, 0, 0, 50);
  uint8_t buf[TERN__DHCP_MAX_SEND];
  int n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  tern__dhcp_input(f.d, buf, (size_t)n, IP(10, 0, 0, 1));
  m.xid = tern__dhcp_xid(f.d);
  m.chaddr[5] ^= 1; /* another client's */
  n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  tern__dhcp_input(f.d, buf, (size_t)n, IP(10, 0, 0, 1));
  m.chaddr[5] ^= 1;
  m.server_id = IP(10, 0, 0, 9); /* not the server we chose */
  n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  tern__dhcp_input(f.d, buf, (size_t)n, IP(10, 0, 0, 9));
  m.server_id = IP(10, 0, 0, 1);
  m.has_lease = false; /* an ACK without a lease time */
  n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  tern__dhcp_input(f.d, buf, (size_t)n, IP(10, 0, 0, 1));
  tern__dhcp_input(f.d, buf, 100, IP(10, 0, 0, 1)); /* truncated */
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_REQUESTING);
  tern_dhcp_stats st;
  tern_dhcp_get_stats(f.d, &st);
  assert_int_equal(st.rx_bad, 5);
  /* the right ACK binds; the callback frees the client */
  m.has_lease = true;
  n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  f.free_in_cb = true;
  tern__dhcp_input(f.d, buf, (size_t)n, IP(10, 0, 0, 1));
  assert_null(f.d);
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 50));
  fx_teardown(&f);
  /* with the ARP check: the callback runs (and frees the client) from
   * inside the probe's callback */
  fx_setup(&f);
  f.probe = true;
  f.free_in_cb = true;
  start(&f, NULL);
  want_nev = 1;
  assert_true(tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 60000,
                            nev_reached, &f));
  assert_null(f.d);
  assert_int_equal(f.ev[0], TERN_DHCP_EV_BOUND);
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 50));
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 10000, NULL, NULL);
  fx_teardown(&f);
}

/* tern_udp_sendto_netif: broadcast from 0.0.0.0 out of a netif without an
 * address; plain sendto still needs a route. */
typedef struct got {
  int n;
  tern_addr from;
  size_t len;
} got;

static void got_recv(void *arg, tern_udp *pcb, tern_pbuf *p,
                     const tern_addr *from) {
  got *g = arg;
  (void)pcb;
  g->n++;
  g->from = *from;
  g->len = tern_pbuf_tot_len(p);
  tern_pbuf_free(p);
}

static void test_udp_sendto_netif(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  tern_udp_free(f.srv);
  f.srv = tern_udp_new(f.s);
  tern_addr a;
  ip_addr_to(0, 67, &a);
  tern_udp_bind(f.srv, &a);
  got g = {0};
  tern_udp_recv(f.srv, got_recv, &g);
  tern_udp *u = tern_udp_new(f.c);
  ip_addr_to(0, 68, &a);
  assert_int_equal(tern_udp_bind(u, &a), 0);
  tern_pbuf *p = tern_pbuf_alloc(f.c, TERN_PBUF_TRANSPORT, 10);
  memset(tern_pbuf_data(p), 'x', 10);
  tern_addr to;
  ip_addr_to(0xffffffffu, 67, &to);
  /* no address, no route: the routed call refuses as before */
  assert_int_equal(tern_udp_sendto(u, p, &to), TERN_EHOSTUNREACH);
  assert_int_equal(tern_udp_sendto_netif(u, p, &to, NULL), TERN_EINVAL);
  assert_int_equal(tern_udp_sendto_netif(u, p, &to, f.nc), TERN_OK);
  assert_int_equal(tern_pbuf_tot_len(p), 10); /* restored */
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 100, NULL, NULL);
  assert_int_equal(g.n, 1);
  assert_int_equal(g.len, 10);
  uint32_t from;
  ip_addr_from(&g.from, &from);
  assert_int_equal(from, 0);
  assert_int_equal(g.from.port, 68);
  /* with an address: unicast resolved on the link, source the address */
  ip_addr_to(IP(10, 0, 0, 9), 0, &a);
  tern_netif_set_addr(f.nc, &a, 24, NULL);
  ip_addr_to(IP(10, 0, 0, 1), 67, &to);
  assert_int_equal(tern_udp_sendto_netif(u, p, &to, f.nc), TERN_OK);
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 100, NULL, NULL);
  assert_int_equal(g.n, 2);
  ip_addr_from(&g.from, &from);
  assert_int_equal(from, IP(10, 0, 0, 9));
  /* the routed call works as before */
  assert_int_equal(tern_udp_sendto(u, p, &to), TERN_OK);
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 100, NULL, NULL);
  assert_int_equal(g.n, 3);
  tern_pbuf_free(p);
  tern_udp_free(u);
  fx_teardown(&f);
}

/* ---- the ARP check (RFC 2131 3.1.5, RFC 5227) ------------------------------ */

static bool is_probe(const arp_sent *a, uint32_t ip) {
  return a->op == 1 && a->sip == 0 && a->tip == ip;
}
static bool is_announce(const arp_sent *a, uint32_t ip) {
  return a->op == 1 && a->sip == ip && a->tip == ip;
}

/* An ARP packet from another host, fed to the client's netif. */
static void inject_arp(fx *f, uint16_t op, const char *smac, uint32_t sip,
                       uint32_t tip) {
  uint8_t b[42];
  memset(b, 0, sizeof b);
  memset(b, 0xff, 6);
  memcpy(b + 6, smac, 6);
  ip_put16(b + 12, 0x0806);
  ip_put16(b + 14, 1);
  ip_put16(b + 16, 0x0800);
  b[18] = 6;
  b[19] = 4;
  ip_put16(b + 20, op);
  memcpy(b + 22, smac, 6);
  ip_put32(b + 28, sip);
  ip_put32(b + 38, tip);
  tern_pbuf *p = tern_pbuf_alloc(f->c, TERN_PBUF_RAW, sizeof b);
  assert_non_null(p);
  tern_pbuf_copy_in(p, 0, b, sizeof b);
  tern_netif_input(f->nc, p, false);
}

#define OTHER_MAC "\x02\x00\x00\x00\x00\x09"

/* No conflict: three probes 1..2 s apart after 0..1 s, bound 2 s after
 * the last, the address unused until then, two announcements 2 s apart;
 * on stop, RELEASE names the server. */
static void test_probe_bind(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  f.probe = true;
  start(&f, NULL);
  assert_true(run_until_state(&f, TERN_DHCP_CHECKING, 60000));
  uint64_t ack_t = f.now;
  assert_int_equal(f.nc->ip, 0);
  assert_false(tern_dhcp_get_lease(f.d, NULL));
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 60000));
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.ev[0], TERN_DHCP_EV_BOUND);
  const uint32_t ip = IP(10, 0, 0, 50);
  arp_sent *pr[8];
  int np = 0;
  for (int i = 0; i < f.narp; i++)
    if (is_probe(&f.arp[i], ip) && np < 8) pr[np++] = &f.arp[i];
  assert_int_equal(np, 3);
  for (int i = 0; i < np; i++) {
    assert_true(pr[i]->eth_bcast);
    assert_memory_equal(pr[i]->tmac, "\0\0\0\0\0\0", 6);
    assert_memory_equal(pr[i]->smac, "\x02\x00\x00\x00\x00\x02", 6);
  }
  assert_true(pr[0]->t >= ack_t && pr[0]->t <= ack_t + 1000);
  for (int i = 1; i < np; i++) {
    uint64_t gap = pr[i]->t - pr[i - 1]->t;
    if (gap < 1000 || gap > 2000) fail_msg("probe gap %llu", (unsigned long long)gap);
  }
  assert_int_equal(f.ev_t[0], pr[2]->t + 2000); /* ANNOUNCE_WAIT */
  assert_int_equal(f.nc->ip, ip);
  /* announcements: the netif's at once, the second 2 s later, no more */
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 20000, NULL, NULL);
  uint64_t at[8];
  int na = 0;
  for (int i = 0; i < f.narp; i++)
    if (is_announce(&f.arp[i], ip) && na < 8) at[na++] = f.arp[i].t;
  assert_int_equal(na, 2);
  assert_int_equal(at[0], f.ev_t[0]);
  assert_int_equal(at[1], f.ev_t[0] + 2000);
  tern_dhcp_stats st;
  tern_dhcp_get_stats(f.d, &st);
  assert_int_equal(st.conflicts, 0);
  assert_int_equal(st.decline, 0);
  /* RFC 2131 4.4.6: RELEASE with ciaddr and the server id, unicast */
  tern_dhcp_stop(f.d, true);
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 2000, NULL, NULL);
  sent *rl = &f.tx[f.ntx - 1];
  assert_int_equal(rl->type, TERN__DHCPRELEASE);
  assert_int_equal(rl->ciaddr, ip);
  assert_true(rl->has_server_id);
  assert_int_equal(rl->server_id, IP(10, 0, 0, 1));
  assert_false(rl->has_req_ip);
  assert_int_equal(rl->params_len, 0);
  assert_int_equal(f.nc->ip, 0);
  fx_teardown(&f);
}

/* The server offers an address its own host has: that host answers the
 * probe; the client DECLINEs (RFC 2131 3.1.5 / 4.4.4: broadcast from
 * 0.0.0.0, requested IP and server id, no ciaddr) and DISCOVERs again no
 * sooner than 10 s later; the next address is probed and bound. */
static void test_probe_conflict_reply(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  f.probe = true;
  f.mode = SRV_CONFLICT_ONCE;
  f.yiaddr = IP(10, 0, 0, 1);
  start(&f, NULL);
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 120000));
  assert_int_equal(f.ntx, 5);
  assert_int_equal(f.tx[0].type, TERN__DHCPDISCOVER);
  assert_int_equal(f.tx[1].type, TERN__DHCPREQUEST);
  sent *dc = &f.tx[2];
  assert_int_equal(dc->type, TERN__DHCPDECLINE);
  assert_true(dc->eth_bcast);
  assert_int_equal(dc->ip_src, 0);
  assert_int_equal(dc->ip_dst, 0xffffffffu);
  assert_int_equal(dc->ciaddr, 0);
  assert_true(dc->has_req_ip);
  assert_int_equal(dc->req_ip, IP(10, 0, 0, 1));
  assert_true(dc->has_server_id);
  assert_int_equal(dc->server_id, IP(10, 0, 0, 1));
  assert_int_equal(dc->params_len, 0); /* table 5: MUST NOT */
  assert_int_equal(dc->hostname_len, 0);
  assert_int_equal(dc->max_size, 0);
  assert_true(dc->message_len > 0);    /* table 5: SHOULD */
  assert_int_equal(f.declines, 1);
  assert_int_equal(f.decline_req_ip, IP(10, 0, 0, 1));
  assert_int_equal(f.decline_server_id, IP(10, 0, 0, 1));
  /* the declined address was never configured */
  assert_int_equal(f.ev[0], TERN_DHCP_EV_DECLINED);
  assert_int_equal(f.ev_nif_ip[0], 0);
  uint32_t v;
  assert_true(ip_addr_from(&f.ev_lease[0].addr, &v));
  assert_int_equal(v, IP(10, 0, 0, 1));
  /* RFC 2131 3.1.5: at least ten seconds before starting over */
  assert_int_equal(f.tx[3].type, TERN__DHCPDISCOVER);
  assert_true(f.tx[3].t >= dc->t + 10000);
  assert_true(f.tx[3].xid != f.tx[0].xid);
  assert_int_equal(f.tx[4].type, TERN__DHCPREQUEST);
  assert_int_equal(f.tx[4].req_ip, IP(10, 0, 0, 50));
  assert_int_equal(f.nev, 2);
  assert_int_equal(f.ev[1], TERN_DHCP_EV_BOUND);
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 50));
  /* the second address was probed too */
  int np = 0;
  for (int i = 0; i < f.narp; i++) np += is_probe(&f.arp[i], IP(10, 0, 0, 50));
  assert_int_equal(np, 3);
  tern_dhcp_stats st;
  tern_dhcp_get_stats(f.d, &st);
  assert_int_equal(st.decline, 1);
  assert_int_equal(st.conflicts, 1);
  assert_int_equal(st.bound, 1);
  fx_teardown(&f);
}

/* RFC 5227 2.1.1: another host's probe for the address, or any packet
 * with it as sender, is a conflict; our own MAC and other addresses are
 * not. The knob decline_wait_ms sets the wait. */
static void conflict_by(int kind) {
  fx f;
  fx_setup(&f);
  f.probe = true;
  tern_dhcp_opts o = {0};
  o.decline_wait_ms = 15000;
  start(&f, &o);
  assert_true(run_until_state(&f, TERN_DHCP_CHECKING, 60000));
  const uint32_t ip = IP(10, 0, 0, 50);
  /* not conflicts: our own probe looped back, a request for another
   * address, a probe for another address */
  inject_arp(&f, 1, "\x02\x00\x00\x00\x00\x02", 0, ip);
  inject_arp(&f, 1, OTHER_MAC, IP(10, 0, 0, 7), IP(10, 0, 0, 1));
  inject_arp(&f, 1, OTHER_MAC, 0, IP(10, 0, 0, 51));
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_CHECKING);
  f.yiaddr = IP(10, 0, 0, 51);
  if (kind == 0)
    inject_arp(&f, 1, OTHER_MAC, 0, ip);  /* a competing probe */
  else if (kind == 1)
    inject_arp(&f, 1, OTHER_MAC, ip, ip); /* an announcement */
  else
    inject_arp(&f, 2, OTHER_MAC, ip, IP(10, 0, 0, 1)); /* a reply */
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_INIT);
  sent *dc = &f.tx[f.ntx - 1];
  assert_int_equal(dc->type, TERN__DHCPDECLINE);
  assert_int_equal(dc->req_ip, ip);
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.ev[0], TERN_DHCP_EV_DECLINED);
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 120000));
  assert_true(f.tx[3].t >= dc->t + 15000);
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 51));
  fx_teardown(&f);
}

static void test_probe_conflict_other(void **state) {
  (void)state;
  conflict_by(0);
  conflict_by(1);
  conflict_by(2);
}

/* RFC 5227 2.4 (b): while bound a claim is defended with one
 * announcement; another after DEFEND_INTERVAL is defended again; a second
 * one within it loses the lease and the client starts over after 10 s. */
static void test_defend(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  f.probe = true;
  start(&f, NULL);
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 60000));
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 5000, NULL, NULL);
  const uint32_t ip = IP(10, 0, 0, 50);
  int na0 = 0;
  for (int i = 0; i < f.narp; i++) na0 += is_announce(&f.arp[i], ip);
  inject_arp(&f, 2, OTHER_MAC, ip, IP(10, 0, 0, 1));
  int na1 = 0;
  for (int i = 0; i < f.narp; i++) na1 += is_announce(&f.arp[i], ip);
  assert_int_equal(na1, na0 + 1);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_BOUND);
  assert_int_equal(f.nev, 1);
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 10001, NULL, NULL);
  inject_arp(&f, 1, OTHER_MAC, ip, ip);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_BOUND);
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 3000, NULL, NULL);
  uint64_t lost_t = f.now;
  inject_arp(&f, 2, OTHER_MAC, ip, IP(10, 0, 0, 1));
  assert_int_equal(f.nev, 2);
  assert_int_equal(f.ev[1], TERN_DHCP_EV_LOST);
  assert_int_equal(f.nc->ip, 0);
  tern_dhcp_stats st;
  tern_dhcp_get_stats(f.d, &st);
  assert_int_equal(st.conflicts, 3);
  int ntx = f.ntx;
  assert_true(run_until_state(&f, TERN_DHCP_BOUND, 120000));
  assert_int_equal(f.tx[ntx].type, TERN__DHCPDISCOVER);
  assert_true(f.tx[ntx].t >= lost_t + 10000);
  fx_teardown(&f);
}

/* tern_acd on its own: argument errors, no memory, free while probing
 * (no callback after), watch (two announcements), free in the callback. */
static int acd_events;
static tern_acd_event acd_last;
static bool acd_free_in_cb;
static void on_acd_ev(tern_acd *a, tern_acd_event ev, const uint8_t *mac,
                      void *ud) {
  (void)mac;
  (void)ud;
  acd_events++;
  acd_last = ev;
  if (acd_free_in_cb) tern_acd_free(a);
}

static void test_acd_api(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  tern_acd *a;
  tern_addr addr, v6;
  ip_addr_to(IP(10, 0, 0, 70), 0, &addr);
  memset(&v6, 0, sizeof v6);
  v6.family = TERN_AF_INET6;
  tern_addr zero;
  ip_addr_to(0, 0, &zero);
  assert_int_equal(tern_acd_probe(NULL, &addr, on_acd_ev, NULL, &a), TERN_EINVAL);
  assert_int_equal(tern_acd_probe(f.nc, &v6, on_acd_ev, NULL, &a), TERN_EINVAL);
  assert_int_equal(tern_acd_probe(f.nc, &zero, on_acd_ev, NULL, &a), TERN_EINVAL);
  assert_int_equal(tern_acd_probe(f.nc, &addr, on_acd_ev, NULL, NULL), TERN_EINVAL);
  tern_stack_fail_alloc(f.c, 1, false);
  assert_int_equal(tern_acd_probe(f.nc, &addr, on_acd_ev, NULL, &a), TERN_ENOMEM);
  assert_null(a);
  tern_stack_fail_alloc(f.c, 0, false);
  /* freed while probing: no callback, no more probes */
  acd_events = 0;
  assert_int_equal(tern_acd_probe(f.nc, &addr, on_acd_ev, NULL, &a), TERN_OK);
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 2500, NULL, NULL);
  tern_acd_stats as;
  tern_acd_get_stats(a, &as);
  assert_true(as.probes >= 1 && as.probes <= 2);
  tern_acd_free(a);
  int narp = f.narp;
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 10000, NULL, NULL);
  assert_int_equal(f.narp, narp);
  assert_int_equal(acd_events, 0);
  /* watch: two announcements 2 s apart, then quiet; a conflict is
   * defended; freed in the callback of a second one (LOST) */
  assert_int_equal(tern_acd_watch(f.nc, &addr, on_acd_ev, NULL, &a), TERN_OK);
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 10000, NULL, NULL);
  int na = 0;
  uint64_t t[4];
  for (int i = narp; i < f.narp; i++)
    if (is_announce(&f.arp[i], IP(10, 0, 0, 70)) && na < 4) t[na++] = f.arp[i].t;
  assert_int_equal(na, 2);
  assert_int_equal(t[1] - t[0], 2000);
  inject_arp(&f, 2, OTHER_MAC, IP(10, 0, 0, 70), 0);
  assert_int_equal(acd_last, TERN_ACD_DEFENDED);
  acd_free_in_cb = true;
  inject_arp(&f, 2, OTHER_MAC, IP(10, 0, 0, 70), 0);
  acd_free_in_cb = false;
  assert_int_equal(acd_last, TERN_ACD_LOST);
  assert_int_equal(acd_events, 2);
  /* a probe answered, freed in the callback */
  acd_free_in_cb = true;
  assert_int_equal(tern_acd_probe(f.nc, &addr, on_acd_ev, NULL, &a), TERN_OK);
  inject_arp(&f, 2, OTHER_MAC, IP(10, 0, 0, 70), 0);
  acd_free_in_cb = false;
  assert_int_equal(acd_last, TERN_ACD_IN_USE);
  assert_int_equal(acd_events, 3);
  /* DHCP with no memory for the probe binds unchecked */
  f.probe = true;
  start(&f, NULL);
  want_ntx = 1;
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 60000, ntx_reached, &f);
  f.mode = SRV_SILENT; /* the OFFER is on its way, the ACK comes by hand */
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 100, NULL, NULL);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_REQUESTING);
  tern__dhcp_msg m;
  fill_reply(&m);
  m.xid = tern__dhcp_xid(f.d);
  m.yiaddr = IP(10, 0, 0, 50);
  uint8_t buf[TERN__DHCP_MAX_SEND];
  int n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  tern_stack_fail_alloc(f.c, 1, false); /* the next allocation: the acd */
  tern__dhcp_input(f.d, buf, (size_t)n, IP(10, 0, 0, 1));
  tern_stack_fail_alloc(f.c, 0, false);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_BOUND);
  tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 10000, NULL, NULL);
  int np = 0;
  for (int i = 0; i < f.narp; i++) np += is_probe(&f.arp[i], IP(10, 0, 0, 50));
  assert_int_equal(np, 0);
  fx_teardown(&f);
}

/* ---- DHCPINFORM (RFC 2131 3.4, 4.4.3) --------------------------------------- */

static void test_inform(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  tern_dhcp_opts o = {0};
  o.cb = on_dhcp;
  o.ud = &f;
  /* no address: nothing to inform about */
  assert_int_equal(tern_dhcp_inform(f.nc, &o, &f.d), TERN_EINVAL);
  assert_null(f.d);
  tern_addr a;
  ip_addr_to(IP(10, 0, 0, 60), 0, &a);
  assert_int_equal(tern_netif_set_addr(f.nc, &a, 24, NULL), 0);
  assert_int_equal(tern_dhcp_inform(f.nc, &o, &f.d), TERN_OK);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_INFORMING);
  want_nev = 1;
  assert_true(tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 60000,
                            nev_reached, &f));
  assert_int_equal(f.ntx, 1);
  sent *in = &f.tx[0];
  assert_int_equal(in->type, TERN__DHCPINFORM);
  assert_int_equal(in->ciaddr, IP(10, 0, 0, 60));
  assert_int_equal(in->ip_src, IP(10, 0, 0, 60));
  assert_int_equal(in->ip_dst, 0xffffffffu);
  assert_false(in->has_req_ip);   /* table 5: MUST NOT */
  assert_false(in->has_server_id); /* table 5: MUST NOT */
  assert_true(in->params_len > 0);
  assert_int_equal(f.ev[0], TERN_DHCP_EV_INFORMED);
  tern_dhcp_lease *l = &f.ev_lease[0];
  expect_lease(l, IP(10, 0, 0, 60));
  assert_int_equal(l->lease_s, 0);
  /* no lease: the netif is as it was, the client stopped */
  assert_int_equal(f.nc->ip, IP(10, 0, 0, 60));
  assert_int_equal(f.nc->gw, 0);
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_STOPPED);
  assert_false(tern_dhcp_get_lease(f.d, NULL));
  /* a silent server: 4 transmissions (4.1 back-off), then FAILED */
  f.mode = SRV_SILENT;
  f.ntx = 0;
  tern_dhcp_renew(f.d);
  want_nev = 2;
  assert_true(tern_wire_run(f.w, f.c, f.s, &f.now, f.now + 600000,
                            nev_reached, &f));
  assert_int_equal(f.ev[1], TERN_DHCP_EV_FAILED);
  assert_int_equal(f.ntx, 4);
  static const uint64_t base[] = {4000, 8000, 16000};
  for (int i = 0; i < 3; i++) {
    uint64_t gap = f.tx[i + 1].t - f.tx[i].t;
    if (gap + 1000 < base[i] || gap > base[i] + 1000)
      fail_msg("gap %d: %llu ms", i, (unsigned long long)gap);
    assert_int_equal(f.tx[i + 1].type, TERN__DHCPINFORM);
    assert_int_equal(f.tx[i + 1].xid, f.tx[0].xid);
  }
  tern_dhcp_stats st;
  tern_dhcp_get_stats(f.d, &st);
  assert_int_equal(st.inform, 5);
  assert_int_equal(st.retransmits, 3);
  assert_int_equal(st.failed, 1);
  /* an ACK with the wrong xid is not the answer; the right one is */
  f.mode = SRV_NORMAL;
  tern_dhcp_renew(f.d);
  tern__dhcp_msg m;
  fill_reply(&m);
  m.has_lease = false;
  m.yiaddr = 0;
  m.xid = tern__dhcp_xid(f.d) + 1;
  uint8_t buf[TERN__DHCP_MAX_SEND];
  int n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  tern__dhcp_input(f.d, buf, (size_t)n, IP(10, 0, 0, 1));
  assert_int_equal(tern_dhcp_get_state(f.d), TERN_DHCP_INFORMING);
  m.xid = tern__dhcp_xid(f.d);
  n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  tern__dhcp_input(f.d, buf, (size_t)n, IP(10, 0, 0, 1));
  assert_int_equal(f.nev, 3);
  assert_int_equal(f.ev[2], TERN_DHCP_EV_INFORMED);
  assert_int_equal(f.ev_lease[2].n_dns, 3);
  fx_teardown(&f);
}


/* Port 68 taken: the start fails and the callback never runs. */
/* Fault injection on the error paths: the Nth allocation of the client's
 * stack fails (a pbuf for a message or a probe, the pcb, the ACD state),
 * N = 1..40, with and without the ARP check: a start that fails says
 * TERN_ENOMEM and leaves nothing; a lost send is retransmitted, so the
 * client still binds; fx_teardown checks that nothing leaked. */
static void test_alloc_faults(void **state) {
  (void)state;
  int hurt = 0; /* runs where the failure cost a start or a message */
  for (int probe = 0; probe < 2; probe++) {
    for (uint64_t n = 1; n <= 40; n++) {
      fx f;
      fx_setup(&f);
      f.probe = probe;
      tern_stack_fail_alloc(f.c, n, false);
      tern_dhcp_opts o = {0};
      o.cb = on_dhcp;
      o.ud = &f;
      o.no_probe = !probe;
      int rc = tern_dhcp_start(f.nc, &o, &f.d);
      if (rc != TERN_OK) {
        assert_int_equal(rc, TERN_ENOMEM);
        assert_null(f.d);
        assert_int_equal(tern_dhcp_start(f.nc, &o, &f.d), TERN_OK);
      }
      if (!run_until_state(&f, TERN_DHCP_BOUND, 120000))
        fail_msg("alloc %llu (probe %d): not bound, state %s",
                 (unsigned long long)n, probe,
                 tern_dhcp_state_name(tern_dhcp_get_state(f.d)));
      assert_int_equal(f.nc->ip, IP(10, 0, 0, 50));
      tern_dhcp_stats st;
      tern_dhcp_get_stats(f.d, &st);
      if (rc != TERN_OK || st.retransmits > 0) hurt++;
      tern_stack_fail_alloc(f.c, 0, false);
      fx_teardown(&f);
    }
  }
  print_message("alloc faults: %d of 80 runs needed a retry\n", hurt);
  assert_true(hurt >= 10); /* the sweep reached the exchange itself */
}

static void test_start_errors(void **state) {
  (void)state;
  fx f;
  fx_setup(&f);
  assert_int_equal(tern_dhcp_start(NULL, NULL, &f.d), TERN_EINVAL);
  tern_udp *u = tern_udp_new(f.c);
  tern_addr a;
  ip_addr_to(0, 68, &a);
  tern_udp_bind(u, &a);
  assert_int_equal(tern_dhcp_start(f.nc, NULL, &f.d), TERN_EADDRINUSE);
  assert_null(f.d);
  tern_udp_free(u);
  tern_stack_fail_alloc(f.c, 1, false);
  assert_int_equal(tern_dhcp_start(f.nc, NULL, &f.d), TERN_ENOMEM);
  tern_stack_fail_alloc(f.c, 2, false);
  assert_int_equal(tern_dhcp_start(f.nc, NULL, &f.d), TERN_ENOMEM);
  tern_stack_fail_alloc(f.c, 0, false);
  assert_string_equal(tern_dhcp_state_name(TERN_DHCP_REBINDING), "REBINDING");
  assert_string_equal(tern_dhcp_state_name((tern_dhcp_state)99), "?");
  fx_teardown(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_msg_roundtrip),
      cmocka_unit_test(test_msg_overload),
      cmocka_unit_test(test_msg_malformed),
      cmocka_unit_test(test_msg_truncate_corrupt),
      cmocka_unit_test(test_udp_sendto_netif),
      cmocka_unit_test(test_bind),
      cmocka_unit_test(test_retransmit),
      cmocka_unit_test(test_request_timeout),
      cmocka_unit_test(test_nak),
      cmocka_unit_test(test_renew_rebind_expire),
      cmocka_unit_test(test_renew_forced),
      cmocka_unit_test(test_init_reboot),
      cmocka_unit_test(test_foreign_and_free_in_cb),
      cmocka_unit_test(test_start_errors),
      cmocka_unit_test(test_alloc_faults),
      cmocka_unit_test(test_probe_bind),
      cmocka_unit_test(test_probe_conflict_reply),
      cmocka_unit_test(test_probe_conflict_other),
      cmocka_unit_test(test_defend),
      cmocka_unit_test(test_acd_api),
      cmocka_unit_test(test_inform),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
