/* tcp_out.c: building and sending segments (RFC 9293 3.1 header, 3.7
 * segmentation, 3.8.6 windows; RFC 7323 and RFC 2018 options).
 *
 * tcp_output() is the one place data leaves: first segments the
 * scoreboard marks lost (RFC 6675 / after an RTO), then new data as the
 * send window, the congestion window and Nagle (RFC 896) allow, then a
 * lone FIN, then an ACK if one is owed and nothing carried it.
 *
 * A queued entry sent whole goes out zero-copy: a header pbuf with our
 * reference of the data chained behind it. A part of an entry (window
 * limits, retransmission after a partial ACK) is copied into a fresh
 * chain. With TERN_NETIF_TX_CSUM the checksum field gets the
 * pseudo-header sum and pbuf->meta says where it goes; with TERN_NETIF_TSO
 * an entry may hold many MSS and leaves as one super-segment (gso_mss).
 */
#include "ip/tcp_internal.h"


/* RFC 9293 3.7.1: the MSS we announce: the route's MTU minus 40. */
uint16_t tcp_mss_for(tern_stack *st, uint32_t dst) {
  uint32_t nh;
  tern_netif *nif = ip4_route(st, dst, &nh);
  uint32_t mtu = nif && nif->mtu ? nif->mtu : 576;
  if (mtu < 128) mtu = 128;
  uint32_t mss = mtu - IP_IP_HLEN - TCP_HLEN;
  return (uint16_t)(mss > 65495 ? 65495 : mss);
}

/* ---- windows (RFC 9293 3.8.6.2.2, RFC 7323 2.3) ---------------------- */

uint16_t tcp_rcv_wnd_field(tern_tcp *pcb, bool syn) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (syn) { /* RFC 7323 2.2: the window in a SYN is never scaled */
    uint32_t w = c->rcv_wnd > 0xffff ? 0xffff : c->rcv_wnd;
    if (pcb->state == TERN_TCP_SYN_RCVD) c->rcv_adv = c->rcv_nxt + w;
    return (uint16_t)w;
  }
  uint32_t right = c->rcv_nxt + c->rcv_wnd;
  /* receiver SWS avoidance: move the right edge only by a useful amount */
  uint32_t step = tcp_rcv_buf(pcb) / 2;
  if (step > c->mss) step = c->mss;
  if (seq_lt(right, c->rcv_adv + step))
    right = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv : c->rcv_nxt;
  if (seq_lt(right, c->rcv_adv)) right = c->rcv_adv; /* never shrink */
  uint32_t wnd = right - c->rcv_nxt;
  uint32_t field = wnd >> c->rcv_wscale;
  if (field > 0xffff) field = 0xffff;
  /* Scaling rounds down: the peer may see an edge up to 2^ws - 1 bytes
   * left of the one we keep (RFC 7323 2.4); we still accept up to
   * rcv_adv, so nothing it was allowed to send is refused. */
  uint32_t adv = c->rcv_nxt + (field << c->rcv_wscale);
  if (seq_gt(adv, c->rcv_adv)) c->rcv_adv = adv;
  return (uint16_t)field;
}

/* ---- options ------------------------------------------------------------ */

IP_NOINLINE uint8_t tcp_put_ts(uint8_t *o, uint32_t tsval, uint32_t tsecr) {
  o[0] = TCPOPT_NOP;
  o[1] = TCPOPT_NOP;
  o[2] = TCPOPT_TS;
  o[3] = 10;
  ip_put32(o + 4, tsval);
  ip_put32(o + 8, tsecr);
  return 12;
}

uint8_t tcp_put_syn_opts(uint8_t *o, uint16_t mss, uint8_t ws, bool sack,
                         bool ts, uint32_t tsval, uint32_t tsecr) {
  uint8_t n = 4;
  o[0] = TCPOPT_MSS;
  o[1] = 4;
  ip_put16(o + 2, mss);
  if (ws != 0xff) {
    o[n++] = TCPOPT_NOP;
    o[n++] = TCPOPT_WS;
    o[n++] = 3;
    o[n++] = ws;
  }
  if (sack) {
    o[n++] = TCPOPT_NOP;
    o[n++] = TCPOPT_NOP;
    o[n++] = TCPOPT_SACK_OK;
    o[n++] = 2;
  }
  if (ts) n = (uint8_t)(n + tcp_put_ts(o + n, tsval, tsecr));
  return n;
}

/* RFC 9293 3.7.1 MSS, RFC 7323 WS and TS, RFC 2018 SACK-permitted. On a
 * SYN-ACK each is sent only if the peer's SYN had it (the flags in the
 * pcb say so). */
uint8_t tcp_build_syn_opts(tern_tcp *pcb, uint8_t *o, bool synack,
                           uint32_t tsval) {
  return tcp_put_syn_opts(
      o, tcp_mss_for(pcb->st, pcb->remote_ip),
      !synack || pcb->u.c.snd_wscale != 15 ? pcb->u.c.rcv_wscale : 0xff,
      !synack || pcb->sack_on, !synack || pcb->ts_on, tsval,
      synack ? pcb->u.c.ts_recent : 0);
}

/* RFC 2018 4: SACK blocks from the out-of-order queue, the block holding
 * the most recently received segment first. */
static uint8_t put_sack(tern_tcp *pcb, uint8_t *o, unsigned max) {
  uint32_t blk[4][2];
  uint32_t newest[4];
  unsigned nb = 0;
  if (!pcb->sack_on || pcb->state == TERN_TCP_SYN_RCVD) return 0;
  for (tern_pbuf *q = pcb->u.c.u.ooseq; q; q = q->q_next) {
    uint32_t s = q->q_seq, e = q->q_seq + q->q_len;
    if (nb && blk[nb - 1][1] == s) {
      blk[nb - 1][1] = e;
      if (tcp_tdiff(q->q_time, newest[nb - 1]) > 0) newest[nb - 1] = q->q_time;
    } else if (nb < 4) {
      blk[nb][0] = s;
      blk[nb][1] = e;
      newest[nb++] = q->q_time;
    }
  }
  if (!nb) return 0;
  unsigned first = 0;
  for (unsigned i = 1; i < nb; i++)
    if (tcp_tdiff(newest[i], newest[first]) > 0) first = i;
  if (nb > max) nb = max;
  o[0] = TCPOPT_NOP;
  o[1] = TCPOPT_NOP;
  o[2] = TCPOPT_SACK;
  o[3] = (uint8_t)(2 + 8 * nb);
  uint8_t n = 4;
  /* the newest block, then the others in sequence order */
  for (unsigned k = 0, i = 0; k < nb; k++) {
    unsigned b = first;
    if (k) {
      if (i == first) i++;
      b = i++;
    }
    ip_put32(o + n, blk[b][0]);
    ip_put32(o + n + 4, blk[b][1]);
    n = (uint8_t)(n + 8);
  }
  return n;
}

/* ---- the last step: checksum (or its offload) and IP -------------------- */

static int xmit(tern_stack *st, tern_pbuf *p, uint32_t src, uint32_t dst,
                uint16_t hlen, uint16_t gso_mss, const tern_tcp *ipo) {
  uint32_t nh;
  tern_netif *nif = ip4_route(st, dst, &nh);
  if (!nif) return TERN_ENETUNREACH;
  if (!src) src = nif->ip;
  uint8_t *h = p->payload;
  memset(&p->meta, 0, sizeof p->meta);
  if (nif->flags & TERN_NETIF_TX_CSUM) {
    ip_put16(h + 16, ip_chksum_pseudo_partial(IP_PROTO_TCP, p->tot_len, src,
                                              dst));
    p->meta.csum_offset = 16;
    p->meta.hdr_len = hlen;
    if (gso_mss && (nif->flags & TERN_NETIF_TSO) &&
        p->tot_len - hlen > gso_mss)
      p->meta.gso_mss = gso_mss;
  } else {
    ip_put16(h + 16, 0);
    ip_put16(h + 16, ip_chksum_pseudo(p, IP_PROTO_TCP, p->tot_len, src, dst));
  }
  ip_stat_inc(&st->stats.tcp_out);
  return ip4_output_if(nif, p, src, dst, nh, IP_PROTO_TCP, ipo ? ipo->ttl : 0,
                       ipo ? ipo->tos : 0);
}

static tern_pbuf *hdr_alloc(tern_stack *st, uint8_t hlen) {
  tern_pbuf *p = ip_pbuf_alloc_raw(st, IP_HEADROOM_IP, hlen);
  if (p) memset(p->payload, 0, hlen);
  return p;
}

static void fill_hdr(uint8_t *h, uint16_t sport, uint16_t dport, uint32_t seq,
                     uint32_t ack, uint8_t flags, uint16_t wnd, uint8_t hlen) {
  ip_put16(h, sport);
  ip_put16(h + 2, dport);
  ip_put32(h + 4, seq);
  ip_put32(h + 8, (flags & TCP_ACK) ? ack : 0);
  h[12] = (uint8_t)((hlen / 4) << 4);
  h[13] = flags;
  ip_put16(h + 14, wnd);
}

int tcp_send_raw(tern_stack *st, uint32_t src, uint16_t sport, uint32_t dst,
                 uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                 uint16_t wnd, const uint8_t *opts, uint8_t optlen,
                 const tern_tcp *ipo) {
  uint8_t hlen = (uint8_t)(TCP_HLEN + ((optlen + 3u) & ~3u));
  tern_pbuf *p = hdr_alloc(st, hlen);
  if (!p) return TERN_ENOMEM;
  fill_hdr(p->payload, sport, dport, seq, ack, flags, wnd, hlen);
  if (optlen) memcpy(p->payload + TCP_HLEN, opts, optlen);
  int r = xmit(st, p, src, dst, hlen, 0, ipo);
  tern_pbuf_free(p);
  return r;
}

void tcp_send_rst_for(tern_stack *st, const tcp_seg *seg, const ip_rx *rx,
                      uint16_t sport, uint16_t dport) {
  if ((seg->flags & TCP_RST) || rx->bcast) return;
  ip_stat_inc(&st->stats.tcp_rst_out);
  /* <SEQ=SEG.ACK><CTL=RST>, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> */
  uint32_t seq = 0, ack = 0;
  uint8_t flags = TCP_RST;
  if (seg->flags & TCP_ACK) {
    seq = seg->ack;
  } else {
    ack = seg->seq + seg->len + ((seg->flags & TCP_SYN) ? 1 : 0) +
          ((seg->flags & TCP_FIN) ? 1 : 0);
    flags = TCP_RST | TCP_ACK;
  }
  tcp_send_raw(st, rx->dst, sport, rx->src, dport, seq, ack, flags, 0, NULL,
               0, NULL);
}

/* ---- segments of a pcb ------------------------------------------------------ */

/* Build the header (with TS and SACK options as negotiated) in front of
 * data (NULL for none; the chain's reference passes to the result) and
 * send it. Returns the output result; TERN_ENOMEM when nothing left. */
static int send_seg(tern_tcp *pcb, uint32_t seq, uint8_t flags,
                    tern_pbuf *data) {
  tern_stack *st = pcb->st;
  struct tcp_conn_part *c = &pcb->u.c;
  uint8_t opts[40];
  uint8_t optlen = 0;
  bool syn = flags & TCP_SYN;
  if (syn) {
    optlen = tcp_build_syn_opts(pcb, opts, flags & TCP_ACK, tcp_tsval(st));
  } else {
    if (pcb->ts_on) optlen = tcp_put_ts(opts, tcp_tsval(st), c->ts_recent);
    if ((flags & TCP_ACK) && !(flags & TCP_RST))
      optlen = (uint8_t)(optlen + put_sack(pcb, opts + optlen,
                                           pcb->ts_on ? 3 : 4));
  }
  uint8_t hlen = (uint8_t)(TCP_HLEN + optlen);
  tern_pbuf *p = hdr_alloc(st, hlen);
  if (!p) {
    if (data) tern_pbuf_free(data);
    return TERN_ENOMEM;
  }
  uint16_t wnd = tcp_rcv_wnd_field(pcb, syn);
  fill_hdr(p->payload, pcb->local_port, pcb->remote_port, seq, c->rcv_nxt,
           flags, wnd, hlen);
  memcpy(p->payload + TCP_HLEN, opts, optlen);
  if (data) tern_pbuf_cat(p, data);
  if (flags & TCP_ACK) {
    /* this segment carries the ACK we owed */
    pcb->ack_now = pcb->ack_delayed = 0;
    pcb->t_dack = 0;
  }
  int r = xmit(st, p, pcb->local_ip, pcb->remote_ip, hlen, c->mss, pcb);
  tern_pbuf_free(p);
  return r;
}

int tcp_send_ctl(tern_tcp *pcb, uint8_t flags) {
  uint32_t seq = pcb->u.c.snd_nxt;
  if (flags & TCP_SYN) seq = pcb->u.c.snd_una;
  int r = send_seg(pcb, seq, flags, NULL);
  if (r == TERN_ENOMEM && (flags & TCP_ACK) && !(flags & TCP_SYN)) {
    /* no memory for the ACK: the delayed-ACK timer tries again */
    pcb->ack_delayed = 1;
    tcp_set_dack(pcb);
  }
  return r;
}

int tcp_send_ack(tern_tcp *pcb) { return tcp_send_ctl(pcb, TCP_ACK); }

int tcp_send_rst(tern_tcp *pcb) {
  ip_stat_inc(&pcb->st->stats.tcp_rst_out);
  return send_seg(pcb, pcb->u.c.snd_nxt, TCP_RST | TCP_ACK, NULL);
}

/* Data [seq, seq+n) of entry q, as a chain: the entry itself (another
 * reference) when it is the whole entry, else a copy. */
static tern_pbuf *data_range(tern_tcp *pcb, tern_pbuf *q, uint32_t seq,
                             uint32_t n) {
  uint32_t off = seq - q->q_seq;
  if (off == 0 && n == q->q_len) {
    tern_pbuf_ref(q);
    return q;
  }
  return ip_pbuf_copy_range(pcb->st, q, off, n, 0);
}

/* Send [seq, seq+n) from entry q (n may be 0 for a lone FIN). */
static int send_range(tern_tcp *pcb, tern_pbuf *q, uint32_t seq, uint32_t n,
                      bool fin) {
  tern_pbuf *d = NULL;
  if (n) {
    d = data_range(pcb, q, seq, n);
    if (!d) return TERN_ENOMEM;
  }
  uint8_t flags = TCP_ACK;
  if (fin) flags |= TCP_FIN;
  if (n && seq + n == pcb->u.c.snd_lbb && pcb->push) flags |= TCP_PSH;
  int r = send_seg(pcb, seq, flags, d);
  if (r == TERN_ENOMEM) return r;
  return TERN_OK; /* a frame the driver dropped is a loss TCP repairs */
}

static bool fin_goes_with(const tern_tcp *pcb, uint32_t end) {
  return pcb->fin_queued && end == pcb->u.c.snd_lbb;
}

/* The largest (super-)segment: one MSS, or with TSO up to tso_max. */
uint32_t tcp_seg_max(tern_tcp *pcb) {
  uint32_t nh, mss = pcb->u.c.mss;
  tern_netif *nif = ip4_route(pcb->st, pcb->remote_ip, &nh);
  if (!nif || !(nif->flags & TERN_NETIF_TSO) ||
      !(nif->flags & TERN_NETIF_TX_CSUM))
    return mss;
  /* tso_max: set and bounded by the IP length field (tern_netif_add) */
  uint32_t max = nif->tso_max / mss * mss;
  return max > mss ? max : mss;
}

IP_NOINLINE static void after_send(tern_tcp *pcb) {
  if (!pcb->t_rtx) tcp_arm_rtx(pcb);
}

/* Retransmit the part of q in [snd_una, snd_nxt). */
int tcp_rexmit_entry(tern_tcp *pcb, tern_pbuf *q) {
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t s = seq_lt(q->q_seq, c->snd_una) ? c->snd_una : q->q_seq;
  uint32_t e = q->q_seq + q->q_len;
  uint32_t data_end = pcb->fin_sent ? c->snd_nxt - 1 : c->snd_nxt;
  if (seq_gt(e, data_end)) e = data_end;
  /* fast recovery resends one segment from a hole (RFC 6675 NextSeg), not
   * a whole super-segment entry the scoreboard could not split */
  if (pcb->recovery && seq_gt(e, s + c->mss)) e = s + c->mss;
  if (seq_le(e, s)) return TERN_OK;
  bool fin = pcb->fin_sent && e == c->snd_lbb;
  int r = send_range(pcb, q, s, e - s, fin);
  if (r) return r;
  q->q_flags = (uint16_t)((q->q_flags | TCPQ_RTX | TCPQ_REXMIT) & ~TCPQ_LOST);
  q->q_time = tcp_now32(pcb->st);
  tcp_stat_sat(&c->n_retrans, &pcb->st->stats.tcp_retrans);
  return TERN_OK;
}

int tcp_rexmit_head(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  tern_pbuf *q = c->sndq;
  if (q && seq_lt(q->q_seq, c->snd_nxt) &&
      seq_lt(c->snd_una, pcb->fin_sent ? c->snd_nxt - 1 : c->snd_nxt))
    return tcp_rexmit_entry(pcb, q);
  if (pcb->fin_sent && c->snd_una != c->snd_nxt) {
    tcp_stat_sat(&c->n_retrans, &pcb->st->stats.tcp_retrans);
    return send_seg(pcb, c->snd_nxt - 1, TCP_ACK | TCP_FIN, NULL);
  }
  return TERN_OK;
}

/* RFC 9293 3.8.6.1: probe a zero window with one octet of data. */
int tcp_zero_window_probe(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (tcp_flight(pcb)) return tcp_rexmit_head(pcb);
  tern_pbuf *q = c->snd_cur;
  if (!q) return TERN_OK;
  int r = send_range(pcb, q, c->snd_nxt, 1, false);
  if (r) return r;
  c->snd_nxt++;
  if (c->snd_nxt == q->q_seq + q->q_len) c->snd_cur = q->q_next;
  q->q_time = tcp_now32(pcb->st);
  return TERN_OK;
}

/* Lost segments first (RFC 6675 5 (C), go-back after an RTO). */
static bool send_lost(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  bool any = false;
  uint32_t pipe = tcp_pipe(pcb);
  for (tern_pbuf *q = c->sndq; q && seq_lt(q->q_seq, c->snd_nxt);
       q = q->q_next) {
    if (!(q->q_flags & TCPQ_LOST) || (q->q_flags & TCPQ_SACKED)) continue;
    if (pipe >= c->cwnd) break;
    if (tcp_rexmit_entry(pcb, q)) break;
    pipe += q->q_len;
    if (pcb->recovery && pcb->sack_on) {
      tcp_stat_sat(&c->n_sack, &pcb->st->stats.tcp_sack_rexmit);
    }
    any = true;
  }
  return any;
}

/* Nagle (RFC 896, RFC 9293 3.7.4) and sender SWS avoidance (3.8.6.2.1):
 * may n bytes of q at snd_nxt go now? */
static bool may_send(tern_tcp *pcb, tern_pbuf *q, uint32_t n, uint32_t avail,
                     bool wnd_limited) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (n >= c->mss) return true;
  if (n < avail) /* a piece cut by a window */
    return wnd_limited && tcp_flight(pcb) == 0;
  /* the tail of the queue, less than an MSS */
  if (q->q_next) return true;
  if (pcb->fin_queued) return true;
  if (!pcb->push) return false;
  return pcb->nodelay || tcp_flight(pcb) == 0;
}

static bool can_send_data(const tern_tcp *pcb) {
  switch (pcb->state) {
  case TERN_TCP_ESTABLISHED: case TERN_TCP_CLOSE_WAIT:
  case TERN_TCP_FIN_WAIT_1: case TERN_TCP_CLOSING: case TERN_TCP_LAST_ACK:
    return true;
  default: return false;
  }
}

enum { STOP_DONE, STOP_WND, STOP_OTHER, STOP_NOMEM };

static int send_new(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t smax = tcp_seg_max(pcb);
  uint32_t pipe = tcp_pipe(pcb); /* (walks the queue in recovery: once) */
  while (c->snd_cur) {
    tern_pbuf *q = c->snd_cur;
    uint32_t off = seq_gt(c->snd_nxt, q->q_seq) ? c->snd_nxt - q->q_seq : 0;
    uint32_t avail = q->q_len - off;
    uint32_t wnd_room = seq_lt(c->snd_nxt, c->snd_una + c->snd_wnd)
                            ? c->snd_una + c->snd_wnd - c->snd_nxt : 0;
    uint32_t cw_room = c->cwnd > pipe ? c->cwnd - pipe : 0;
    uint32_t n = avail < smax ? avail : smax;
    bool wnd_limited = false;
    if (n > wnd_room) {
      n = wnd_room;
      wnd_limited = true;
    }
    if (n > cw_room) {
      n = cw_room;
      wnd_limited = false;
    }
    if (n == 0 || !may_send(pcb, q, n, avail, wnd_limited))
      return (n < avail && n == wnd_room) ? STOP_WND : STOP_OTHER;
    if (n > c->mss && n < avail) n -= n % c->mss; /* whole MSS per piece */
    bool fin = fin_goes_with(pcb, c->snd_nxt + n) && n == avail &&
               !q->q_next;
    if (send_range(pcb, q, c->snd_nxt, n, fin)) return STOP_NOMEM;
    if (off == 0 && n == q->q_len) q->q_flags |= TCPQ_SENT;
    q->q_time = tcp_now32(pcb->st);
    c->snd_nxt += n;
    if (fin) {
      c->snd_nxt++;
      pcb->fin_sent = 1;
    }
    if (n == avail) c->snd_cur = q->q_next;
    pipe += n;
    after_send(pcb);
  }
  return STOP_DONE;
}

int tcp_output(tern_tcp *pcb) {
  if (pcb->dead) return TERN_ECLOSED;
  struct tcp_conn_part *c = &pcb->u.c;
  if (pcb->state == TERN_TCP_LISTEN) return TERN_OK;
  if (can_send_data(pcb) && !pcb->persist) {
    if (pcb->recovery || pcb->loss) send_lost(pcb);
    int stop = send_new(pcb);
    /* a FIN with nothing left to carry it */
    if (pcb->fin_queued && !pcb->fin_sent && !c->snd_cur &&
        c->snd_nxt == c->snd_lbb) {
      if (send_seg(pcb, c->snd_nxt, TCP_ACK | TCP_FIN, NULL) != TERN_ENOMEM) {
        c->snd_nxt++;
        pcb->fin_sent = 1;
        after_send(pcb);
      } else if (!pcb->t_rtx) {
        tcp_set_rtx(pcb, TCP_RTO_MIN);
      }
    }
    /* RFC 9293 3.8.6.1: data waits for a window that is closed: probe */
    if (c->snd_cur && tcp_flight(pcb) == 0 && !pcb->t_rtx) {
      if (stop == STOP_WND) {
        pcb->persist = 1;
        c->nrtx = 0;
        tcp_set_rtx_rto(pcb);
      } else if (stop == STOP_NOMEM) {
        /* no memory for the segment: try again soon */
        tcp_set_rtx(pcb, TCP_RTO_MIN);
      }
    }
  }
  if (pcb->ack_now) tcp_send_ack(pcb);
  return TERN_OK;
}
