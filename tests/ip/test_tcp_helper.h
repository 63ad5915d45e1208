/* test_tcp_helper.h: crafted TCP segments through a fake netif (the lwIP
 * tcp_helper.c idea). One stack, one bare-IP netif 10.0.0.1/24 whose
 * driver captures every packet; the tests play the peer 10.0.0.2 by
 * building IPv4+TCP packets and feeding them with tern_netif_input, on a
 * clock they control. Included by the test_tcp_*.c programs (static
 * functions only).
 */
#ifndef TEST_TCP_HELPER_H
#define TEST_TCP_HELPER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

#include "ip/tcp_internal.h"

#define TT_LOCAL 0x0a000001u /* 10.0.0.1: the stack */
#define TT_PEER 0x0a000002u  /* 10.0.0.2: the test */
#define TT_MAXFR 512

typedef struct tt {
  tern_stack *st;
  tern_netif *nif;
  uint64_t now;
  uint8_t *fr[TT_MAXFR];
  size_t frlen[TT_MAXFR];
  unsigned head, tail; /* ring of captured packets */
  unsigned captured;
  uint16_t lport, pport; /* stack's port, peer's port */
  int out_fail;          /* driver output fails this many times */
  tern_tx_meta last_meta; /* offload metadata of the last packet */
} tt;

/* A parsed packet the stack sent. */
typedef struct tseg {
  uint32_t src, dst;
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags;
  uint16_t wnd;
  uint16_t mss;
  int ws; /* -1: none */
  bool sackok, ts;
  uint32_t tsval, tsecr;
  int nsack;
  uint32_t sack[4][2];
  uint32_t len;
  uint8_t data[65536];
  bool csum_ok;
  uint16_t hlen;
} tseg;

static int tt_output(tern_netif *nif, tern_pbuf *p) {
  tt *t = tern_netif_driver_state(nif);
  if (t->out_fail > 0) {
    t->out_fail--;
    return TERN_EAGAIN;
  }
  size_t n = tern_pbuf_tot_len(p);
  uint8_t *b = malloc(n);
  tern_pbuf_copy_out(p, 0, b, n);
  t->last_meta = *tern_pbuf_tx_meta(p);
  assert_true(t->tail - t->head < TT_MAXFR);
  t->fr[t->tail % TT_MAXFR] = b;
  t->frlen[t->tail % TT_MAXFR] = n;
  t->tail++;
  t->captured++;
  return TERN_OK;
}

static const tern_netif_driver tt_driver = {.name = "tt", .output = tt_output};

static void tt_init_opts(tt *t, const tern_stack_opts *o, unsigned flags) {
  memset(t, 0, sizeof *t);
  tern_stack_opts so = {0};
  if (o) so = *o;
  if (!so.pool_bytes) so.pool_bytes = 2u << 20;
  assert_int_equal(tern_stack_new(&t->st, &so), TERN_OK);
  tern_netif_opts no = {0};
  no.name = "tt0";
  no.flags = flags;
  no.mtu = 1500;
  no.prefix_len = 24;
  ip_addr_to(TT_LOCAL, 0, &no.addr);
  no.driver = &tt_driver;
  no.driver_state = t;
  assert_int_equal(tern_netif_add(t->st, &no, &t->nif), TERN_OK);
  tern_netif_set_up(t->nif, true);
  t->lport = 80;
  t->pport = 40000;
}

static void tt_init(tt *t) { tt_init_opts(t, NULL, 0); }

static unsigned tt_pending(const tt *t) { return t->tail - t->head; }

static void tt_flush(tt *t) {
  while (t->head != t->tail) free(t->fr[t->head++ % TT_MAXFR]);
}

static void tt_check_empty(tt *t) {
  tern_stack_stats s;
  tern_stack_get_stats(t->st, &s);
  assert_int_equal(s.pool_used, 0);
}

/* Free the stack; everything must be back. */
static void tt_done(tt *t) {
  tt_flush(t);
  tern_stack_free(t->st);
  t->st = NULL;
}

static void tt_advance(tt *t, uint64_t ms) {
  t->now += ms;
  tern_stack_advance(t->st, t->now);
}

/* ---- parsing what the stack sent ------------------------------------------ */

static bool tt_parse(const uint8_t *b, size_t n, tseg *s) {
  memset(s, 0, sizeof *s);
  s->ws = -1;
  if (n < 40) return false;
  size_t ihl = (size_t)(b[0] & 15) * 4;
  if (b[9] != IP_PROTO_TCP) return false;
  s->src = ip_get32(b + 12);
  s->dst = ip_get32(b + 16);
  const uint8_t *h = b + ihl;
  size_t tl = n - ihl;
  s->sport = ip_get16(h);
  s->dport = ip_get16(h + 2);
  s->seq = ip_get32(h + 4);
  s->ack = ip_get32(h + 8);
  s->hlen = (uint16_t)((h[12] >> 4) * 4);
  s->flags = h[13];
  s->wnd = ip_get16(h + 14);
  /* checksum over the pseudo-header */
  uint8_t ph[12];
  memcpy(ph, b + 12, 8);
  ph[8] = 0;
  ph[9] = IP_PROTO_TCP;
  ip_put16(ph + 10, (uint16_t)tl);
  uint32_t sum = ip_chksum_add(0, ph, 12);
  sum = ip_chksum_add(sum, h, tl);
  s->csum_ok = ip_chksum_fold(sum) == 0xffff;
  for (size_t i = 20; i < s->hlen;) {
    uint8_t k = h[i];
    if (k == 0) break;
    if (k == 1) {
      i++;
      continue;
    }
    uint8_t l = h[i + 1];
    if (l < 2) break;
    if (k == 2) s->mss = ip_get16(h + i + 2);
    if (k == 3) s->ws = h[i + 2];
    if (k == 4) s->sackok = true;
    if (k == 8) {
      s->ts = true;
      s->tsval = ip_get32(h + i + 2);
      s->tsecr = ip_get32(h + i + 6);
    }
    if (k == 5)
      for (unsigned j = 0; j + 8 <= (unsigned)l - 2 && s->nsack < 4; j += 8) {
        s->sack[s->nsack][0] = ip_get32(h + i + 2 + j);
        s->sack[s->nsack][1] = ip_get32(h + i + 6 + j);
        s->nsack++;
      }
    i += l;
  }
  s->len = (uint32_t)(tl - s->hlen);
  memcpy(s->data, h + s->hlen, s->len);
  return true;
}

/* The next packet the stack sent; fails the test if there is none. */
static void tt_pop(tt *t, tseg *s) {
  assert_true(t->head != t->tail);
  uint8_t *b = t->fr[t->head % TT_MAXFR];
  size_t n = t->frlen[t->head % TT_MAXFR];
  t->head++;
  assert_true(tt_parse(b, n, s));
  free(b);
}

/* The next packet, whatever it is: false if none; *tcp says if it
 * parsed as TCP. */
static bool tt_pop_any(tt *t, tseg *s, bool *tcp) {
  if (t->head == t->tail) return false;
  uint8_t *b = t->fr[t->head % TT_MAXFR];
  size_t n = t->frlen[t->head % TT_MAXFR];
  t->head++;
  *tcp = tt_parse(b, n, s);
  free(b);
  return true;
}

static bool tt_try_pop(tt *t, tseg *s) {
  if (t->head == t->tail) return false;
  tt_pop(t, s);
  return true;
}

/* ---- building what the peer sends ------------------------------------------- */

typedef struct topts {
  uint8_t b[40];
  uint8_t n;
} topts;

static void to_mss(topts *o, uint16_t mss) {
  o->b[o->n++] = 2;
  o->b[o->n++] = 4;
  ip_put16(o->b + o->n, mss);
  o->n += 2;
}
static void to_ws(topts *o, uint8_t ws) {
  o->b[o->n++] = 1;
  o->b[o->n++] = 3;
  o->b[o->n++] = 3;
  o->b[o->n++] = ws;
}
static void to_sackok(topts *o) {
  o->b[o->n++] = 1;
  o->b[o->n++] = 1;
  o->b[o->n++] = 4;
  o->b[o->n++] = 2;
}
static void to_ts(topts *o, uint32_t val, uint32_t ecr) {
  o->b[o->n++] = 1;
  o->b[o->n++] = 1;
  o->b[o->n++] = 8;
  o->b[o->n++] = 10;
  ip_put32(o->b + o->n, val);
  ip_put32(o->b + o->n + 4, ecr);
  o->n += 8;
}
static void to_sack(topts *o, const uint32_t (*blk)[2], int nb) {
  o->b[o->n++] = 1;
  o->b[o->n++] = 1;
  o->b[o->n++] = 5;
  o->b[o->n++] = (uint8_t)(2 + 8 * nb);
  for (int i = 0; i < nb; i++) {
    ip_put32(o->b + o->n, blk[i][0]);
    ip_put32(o->b + o->n + 4, blk[i][1]);
    o->n += 8;
  }
}

/* A packet from (src, sport) to (dst, dport); bad_csum corrupts it. */
static tern_pbuf *tt_build(tt *t, uint32_t src, uint16_t sport, uint32_t dst,
                           uint16_t dport, uint32_t seq, uint32_t ack,
                           uint8_t flags, uint16_t wnd, const topts *o,
                           const void *data, size_t len, bool bad_csum) {
  size_t ol = o ? ((o->n + 3u) & ~3u) : 0;
  size_t hl = 20 + ol, tot = 20 + hl + len;
  uint8_t *b = calloc(1, tot);
  b[0] = 0x45;
  ip_put16(b + 2, (uint16_t)tot);
  b[8] = 64;
  b[9] = IP_PROTO_TCP;
  ip_put32(b + 12, src);
  ip_put32(b + 16, dst);
  ip_put16(b + 10, ip_chksum(b, 20));
  uint8_t *h = b + 20;
  ip_put16(h, sport);
  ip_put16(h + 2, dport);
  ip_put32(h + 4, seq);
  ip_put32(h + 8, ack);
  h[12] = (uint8_t)((hl / 4) << 4);
  h[13] = flags;
  ip_put16(h + 14, wnd);
  if (o) memcpy(h + 20, o->b, o->n);
  if (len) memcpy(h + hl, data, len);
  uint8_t ph[12];
  memcpy(ph, b + 12, 8);
  ph[8] = 0;
  ph[9] = IP_PROTO_TCP;
  ip_put16(ph + 10, (uint16_t)(hl + len));
  uint32_t sum = ip_chksum_add(0, ph, 12);
  sum = ip_chksum_add(sum, h, hl + len);
  uint16_t c = (uint16_t)~ip_chksum_fold(sum);
  if (bad_csum) c ^= 0x5555;
  ip_put16(h + 16, c);
  tern_pbuf *p = tern_pbuf_alloc(t->st, TERN_PBUF_RAW, tot);
  if (p) assert_int_equal(tern_pbuf_copy_in(p, 0, b, tot), TERN_OK);
  free(b);
  return p;
}

/* The peer (10.0.0.2:pport) sends to the stack (10.0.0.1:lport). */
static void tt_send(tt *t, uint32_t seq, uint32_t ack, uint8_t flags,
                    uint16_t wnd, const topts *o, const void *data,
                    size_t len) {
  tern_pbuf *p = tt_build(t, TT_PEER, t->pport, TT_LOCAL, t->lport, seq, ack,
                          flags, wnd, o, data, len, false);
  if (p) tern_netif_input(t->nif, p, false);
}

/* ---- callback recorder ----------------------------------------------------------- */

enum { ACT_NONE = 0, ACT_CLOSE, ACT_ABORT, ACT_EAGAIN, ACT_REJECT };

typedef struct rec {
  int n_recv, n_fin, n_sent, n_err, n_accept, n_conn, n_poll;
  uint64_t rx_bytes, sent_bytes;
  int err;
  tern_tcp *pcb, *accepted;
  uint8_t rx[1 << 16];
  size_t rx_len;
  int act_recv, act_sent, act_poll, act_accept, act_conn; /* ACT_* */
  bool no_recved;
} rec;

static int act_do(tern_tcp *pcb, int act) {
  if (act == ACT_CLOSE) {
    assert_int_equal(tern_tcp_close(pcb), TERN_OK);
    return TERN_ECLOSED;
  }
  if (act == ACT_ABORT) {
    tern_tcp_abort(pcb);
    return TERN_ECLOSED;
  }
  return TERN_OK;
}

static int r_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  rec *r = arg;
  if (!p) {
    r->n_fin++;
    return act_do(pcb, r->act_recv);
  }
  if (r->act_recv == ACT_EAGAIN) return TERN_EAGAIN;
  r->n_recv++;
  size_t n = tern_pbuf_tot_len(p);
  if (r->rx_len + n <= sizeof r->rx) {
    tern_pbuf_copy_out(p, 0, r->rx + r->rx_len, n);
    r->rx_len += n;
  }
  r->rx_bytes += n;
  if (!r->no_recved) tern_tcp_recved(pcb, (uint32_t)n);
  tern_pbuf_free(p);
  return act_do(pcb, r->act_recv);
}
static int r_sent(void *arg, tern_tcp *pcb, uint32_t len) {
  rec *r = arg;
  r->n_sent++;
  r->sent_bytes += len;
  return act_do(pcb, r->act_sent);
}
static int r_poll(void *arg, tern_tcp *pcb) {
  rec *r = arg;
  r->n_poll++;
  return act_do(pcb, r->act_poll);
}
static void r_err(void *arg, int err) {
  rec *r = arg;
  r->n_err++;
  r->err = err;
  r->pcb = NULL;
}
static int r_accept(void *arg, tern_tcp *pcb) {
  rec *r = arg;
  r->n_accept++;
  r->accepted = pcb;
  if (r->act_accept == ACT_REJECT) return TERN_ECONNREFUSED;
  return act_do(pcb, r->act_accept);
}
static int r_conn(void *arg, tern_tcp *pcb) {
  rec *r = arg;
  r->n_conn++;
  return act_do(pcb, r->act_conn);
}

static const tern_tcp_cbs rec_cbs = {.recv = r_recv, .sent = r_sent,
                                     .poll = r_poll, .err = r_err,
                                     .accept = r_accept,
                                     .connected = r_conn};

/* ---- handshakes ------------------------------------------------------------------ */

static tern_tcp *tt_listen(tt *t, rec *r) {
  tern_tcp *l = tern_tcp_new(t->st);
  assert_non_null(l);
  tern_addr a;
  ip_addr_to(0, t->lport, &a);
  assert_int_equal(tern_tcp_bind(l, &a), TERN_OK);
  tern_tcp_set_callbacks(l, &rec_cbs, r);
  assert_int_equal(tern_tcp_listen(l, 8), TERN_OK);
  return l;
}

/* Which options the peer's SYN carries. */
enum { TO_MSS = 1, TO_WS = 2, TO_SACK = 4, TO_TS = 8, TO_ALL = 15 };

static void syn_opts(topts *o, unsigned which, uint32_t tsval) {
  memset(o, 0, sizeof *o);
  if (which & TO_MSS) to_mss(o, 1460);
  if (which & TO_WS) to_ws(o, 2);
  if (which & TO_SACK) to_sackok(o);
  if (which & TO_TS) to_ts(o, tsval, 0);
}

/* The peer connects to a listener: SYN (seq irs), SYN-ACK, ACK. Returns
 * the accepted pcb; *iss gets the stack's ISN. */
static uint64_t tt_hs_rtt; /* ms between our SYN-ACK and the peer's ACK */

static tern_tcp *tt_passive(tt *t, rec *r, uint32_t irs, unsigned which,
                            uint32_t *iss, tseg *synack) {
  topts o;
  syn_opts(&o, which, 1000);
  tt_send(t, irs, 0, TCP_SYN, 65535, &o, NULL, 0);
  tt_pop(t, synack);
  assert_int_equal(synack->flags, TCP_SYN | TCP_ACK);
  assert_int_equal(synack->ack, irs + 1);
  *iss = synack->seq;
  topts a = {0};
  if ((which & TO_TS) && synack->ts) to_ts(&a, 1001, synack->tsval);
  int before = r->n_accept;
  if (tt_hs_rtt) tt_advance(t, tt_hs_rtt);
  tt_send(t, irs + 1, *iss + 1, TCP_ACK, 65535, a.n ? &a : NULL, NULL, 0);
  assert_int_equal(r->n_accept, before + 1);
  return r->accepted;
}

/* The stack connects to the peer; the peer answers. *iss: its ISN. */
static tern_tcp *tt_active(tt *t, rec *r, uint32_t irs, unsigned which,
                           uint32_t *iss, tseg *syn) {
  tern_tcp *c = tern_tcp_new(t->st);
  assert_non_null(c);
  tern_tcp_set_callbacks(c, &rec_cbs, r);
  tern_addr to;
  ip_addr_to(TT_PEER, t->pport, &to);
  assert_int_equal(tern_tcp_connect(c, &to), TERN_OK);
  tt_pop(t, syn);
  assert_int_equal(syn->flags, TCP_SYN);
  t->lport = syn->sport;
  *iss = syn->seq;
  topts o;
  syn_opts(&o, which, 5000);
  if ((which & TO_TS) && syn->ts) {
    memset(&o, 0, sizeof o);
    if (which & TO_MSS) to_mss(&o, 1460);
    if (which & TO_WS) to_ws(&o, 2);
    if (which & TO_SACK) to_sackok(&o);
    to_ts(&o, 5000, syn->tsval);
  }
  tt_send(t, irs, *iss + 1, TCP_SYN | TCP_ACK, 65535, &o, NULL, 0);
  r->pcb = c;
  return c;
}

#endif /* TEST_TCP_HELPER_H */
