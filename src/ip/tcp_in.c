/* tcp_in.c: segment arrival (RFC 9293 3.10.7 "SEGMENT ARRIVES").
 *
 * ip_tcp_input verifies the checksum, parses the header and options and
 * finds the pcb: a connection (tcp_conn_input), a listener
 * (tcp_listen_input, tcp_listen.c) or nobody (a RST, 3.10.7.1). For a
 * connection the steps of 3.10.7.4 run in order, each in its helper:
 * sequence check with PAWS (RFC 7323 5), RST and SYN with the RFC 5961
 * defenses, the ACK (tcp_process_ack, tcp_ack.c), data and reassembly
 * (tcp_data.c), FIN. The pcb is busy throughout; a callback may end it,
 * so after each step the code checks tcp_gone().
 */
#include "ip/tcp_internal.h"

/* ---- parsing ------------------------------------------------------------- */

IP_NOINLINE static void parse_opts(const uint8_t *o, size_t n, tcp_seg *seg) {
  size_t i = 0;
  while (i < n) {
    uint8_t kind = o[i];
    if (kind == TCPOPT_EOL) break;
    if (kind == TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= n) break;
    uint8_t len = o[i + 1];
    if (len < 2 || i + len > n) break; /* malformed: ignore the rest */
    const uint8_t *v = o + i + 2;
    switch (kind) {
    case TCPOPT_MSS:
      if (len == 4) seg->mss = ip_get16(v);
      break;
    case TCPOPT_WS:
      if (len == 3) seg->wscale = v[0] > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : v[0];
      break;
    case TCPOPT_SACK_OK:
      if (len == 2) seg->sack_ok = true;
      break;
    case TCPOPT_TS:
      if (len == 10) {
        seg->has_ts = true;
        seg->tsval = ip_get32(v);
        seg->tsecr = ip_get32(v + 4);
      }
      break;
    case TCPOPT_SACK:
      for (unsigned k = 0; k + 8 <= (unsigned)len - 2 && seg->nsack < 4; k += 8) {
        seg->sack[seg->nsack][0] = ip_get32(v + k);
        seg->sack[seg->nsack][1] = ip_get32(v + k + 4);
        seg->nsack++;
      }
      break;
    default: break;
    }
    i += len;
  }
}

bool tcp_parse(tern_pbuf *p, tcp_seg *seg) {
  memset(seg, 0, sizeof *seg);
  seg->wscale = 0xff;
  if (p->tot_len < TCP_HLEN || p->len < TCP_HLEN) return false;
  const uint8_t *h = p->payload;
  uint8_t hlen = (uint8_t)((h[12] >> 4) * 4);
  if (hlen < TCP_HLEN || hlen > p->tot_len || hlen > p->len) return false;
  seg->sport = ip_get16(h);
  seg->dport = ip_get16(h + 2);
  seg->seq = ip_get32(h + 4);
  seg->ack = ip_get32(h + 8);
  seg->flags = h[13] & 0x3f;
  seg->wnd = ip_get16(h + 14);
  seg->hlen = hlen;
  parse_opts(h + TCP_HLEN, hlen - TCP_HLEN, seg);
  seg->len = p->tot_len - hlen;
  return true;
}

/* ---- entry ---------------------------------------------------------------- */

/* Drop n bytes from the front of a chain; returns the new head. */
tern_pbuf *tcp_chain_pull(tern_pbuf *p, uint32_t n) {
  while (p && (n >= p->len) && p->next) {
    n -= p->len;
    tern_pbuf *q = p->next;
    p->next = NULL;
    p->tot_len = p->len;
    tern_pbuf_free(p);
    p = q;
  }
  if (p && n) ip_pbuf_pull(p, n);
  return p;
}

void ip_tcp_input(tern_stack *st, tern_pbuf *p, const ip_rx *rx) {
  tcp_seg seg;
  ip_stat_inc(&st->stats.tcp_in);
  if (rx->bcast || !st->tcp) goto drop;
  /* RFC 9293 3.1: the checksum covers the pseudo-header */
  if (!rx->csum_ok && !(p->flags & PBUF_F_CSUM_OK) &&
      ip_chksum_pseudo(p, IP_PROTO_TCP, p->tot_len, rx->src, rx->dst) != 0) {
    ip_stat_inc(&st->stats.tcp_chksum_err);
    goto drop;
  }
  if (!tcp_parse(p, &seg)) goto drop;
  uint16_t sport = seg.sport, dport = seg.dport;
  if (!sport || !dport) goto drop;
  p = tcp_chain_pull(p, seg.hlen);
  tern_tcp *pcb = tcp_lookup(st, rx->dst, dport, rx->src, sport);
  if (pcb && pcb->state == TERN_TCP_TIME_WAIT && (seg.flags & TCP_SYN) &&
      !(seg.flags & (TCP_ACK | TCP_RST)) &&
      seq_gt(seg.seq, pcb->u.c.rcv_nxt) &&
      tcp_lookup_listener(st, rx->dst, dport)) {
    /* RFC 9293 3.6.1 / RFC 6191: a new SYN above the old sequence space
     * may reuse a TIME-WAIT 4-tuple. */
    tcp_finished(pcb);
    pcb = NULL;
  }
  if (pcb) {
    tcp_conn_input(pcb, p, &seg);
    return;
  }
  tern_tcp *l = tcp_lookup_listener(st, rx->dst, dport);
  if (l) {
    tcp_listen_input(l, p, &seg, rx);
    return;
  }
  /* RFC 9293 3.10.7.1: CLOSED, a reset answers anything but a reset */
  tcp_send_rst_for(st, &seg, rx, dport, sport);
drop:
  ip_stat_inc(&st->stats.tcp_drop);
  tern_pbuf_free(p);
}

/* ---- RFC 5961 ------------------------------------------------------------ */

void tcp_challenge_ack(tern_tcp *pcb) {
  tern_stack *st = pcb->st;
  struct tcp_ctx *c = st->tcp;
  uint32_t sec = tcp_now32(st) / 1000u; /* 32-bit: only changes matter */
  if (sec != c->challenge_sec) {
    c->challenge_sec = sec;
    c->challenge_cnt = 0;
  }
  if (c->challenge_cnt >= TCP_CHALLENGE_PER_S) return; /* RFC 5961 7 */
  c->challenge_cnt++;
  ip_stat_inc(&st->stats.tcp_challenge_ack);
  tcp_send_ack(pcb);
}

/* A bare RST <SEQ=seq><CTL=RST> on pcb's 4-tuple (an unacceptable ACK,
 * RFC 9293 3.10.7.3 and 3.10.7.4). */
static void rst_at(tern_tcp *pcb, uint32_t seq) {
  ip_stat_inc(&pcb->st->stats.tcp_rst_out);
  tcp_send_raw(pcb->st, pcb->local_ip, pcb->local_port, pcb->remote_ip,
               pcb->remote_port, seq, 0, TCP_RST, 0, NULL, 0, pcb);
}

/* ---- SYN_SENT (RFC 9293 3.10.7.3) ----------------------------------------- */

/* Take the peer's SYN options: MSS (3.7.1), WS and TS (RFC 7323),
 * SACK-permitted (RFC 2018). */
void tcp_take_syn_opts(tern_tcp *pcb, const tcp_seg *seg) {
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t mine = tcp_mss_for(pcb->st, pcb->remote_ip);
  uint32_t peer = seg->mss ? seg->mss : TCP_MSS_DEFAULT;
  uint32_t mss = peer < mine ? peer : mine;
  pcb->ts_on = seg->has_ts;
  if (pcb->ts_on) {
    c->ts_recent = seg->tsval;
    mss -= 12;
  }
  if (mss < 64) mss = 64;
  c->mss = (uint16_t)mss;
  pcb->sack_on = seg->sack_ok;
  if (seg->wscale == 0xff) {
    c->snd_wscale = 0;
    c->rcv_wscale = 0;
  } else {
    c->snd_wscale = seg->wscale & 15u;
  }
}

/* ack: what the segment acknowledges of our SYN (SND.UNA from here). */
static void become_established(tern_tcp *pcb, const tcp_seg *seg,
                               uint32_t ack) {
  struct tcp_conn_part *c = &pcb->u.c;
  pcb->state = TERN_TCP_ESTABLISHED;
  c->snd_una = ack;
  c->snd_wnd = seg->wnd << c->snd_wscale;
  uint32_t now = tcp_tsval(pcb->st);
  if (pcb->ts_on && seg->tsecr && seq_le(seg->tsecr, now))
    tcp_rtt_sample(pcb, now - seg->tsecr); /* RFC 7323 4 */
  else if (c->nrtx == 0) /* our SYN's send time waits in due_ka */
    tcp_rtt_sample(pcb, now - c->due_ka);
  else
    c->rttvar4 = 1; /* RFC 6298 5.7: the SYN was resent: RTO 3 s */
  c->nrtx = 0;
  tcp_cc_init(pcb);
  tcp_stop_rtx(pcb);
  tcp_ka_reset(pcb);
  tcp_poll_reset(pcb);
}

static void syn_sent_input(tern_tcp *pcb, tcp_seg *seg) {
  struct tcp_conn_part *c = &pcb->u.c;
  bool ack_ok = false;
  if (seg->flags & TCP_ACK) {
    if (seq_le(seg->ack, c->snd_una) || seq_gt(seg->ack, c->snd_nxt)) {
      if (!(seg->flags & TCP_RST)) {
        rst_at(pcb, seg->ack);
      }
      return;
    }
    ack_ok = true;
  }
  if (seg->flags & TCP_RST) {
    /* RFC 5961 3.2 is for synchronized states; here the ACK must match */
    if (ack_ok) tcp_fail(pcb, TERN_ECONNREFUSED);
    return;
  }
  if (!(seg->flags & TCP_SYN)) return;
  c->rcv_nxt = seg->seq + 1;
  c->rcv_adv = c->rcv_nxt;
  tcp_take_syn_opts(pcb, seg);
  if (ack_ok) {
    c->snd_wscale = seg->wscale == 0xff ? 0 : c->snd_wscale;
    become_established(pcb, seg, seg->ack);
    /* 7323 2.2: the SYN's window is never scaled */
    c->snd_wnd = seg->wnd;
    pcb->ack_now = 1;
    tcp_send_ack(pcb);
    tcp_cb_connected(pcb);
    return;
  }
  /* RFC 9293 3.10.7.3 / 3.5 figure 7: simultaneous open */
  pcb->state = TERN_TCP_SYN_RCVD;
  c->snd_wnd = seg->wnd;
  if (seg->wscale == 0xff) c->snd_wscale = 15; /* "none" until established */
  c->u.parent = NULL;
  c->nrtx = 0;
  c->due_ka = tcp_now32(pcb->st); /* for the handshake's RTT sample */
  tcp_send_ctl(pcb, TCP_SYN | TCP_ACK);
  tcp_set_rtx_rto(pcb);
}

/* ---- synchronized states (3.10.7.4) ---------------------------------------- */

/* First check: is the segment acceptable (the table of 3.10.7.4)?
 * PAWS (RFC 7323 5.3) runs before it. Trims seg/p to the window.
 * Returns false if the segment is dropped (an ACK may have been owed). */
static bool check_seq(tern_tcp *pcb, tern_pbuf **pp, tcp_seg *seg) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (pcb->ts_on && seg->has_ts && !(seg->flags & TCP_RST) &&
      seq_lt(seg->tsval, c->ts_recent)) {
    pcb->ack_now = 1; /* RFC 7323 5.3 R1: an old duplicate */
    return false;
  }
  uint32_t wnd = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
  if (wnd < c->rcv_wnd && pcb->state != TERN_TCP_SYN_RCVD)
    wnd = c->rcv_wnd;
  uint32_t slen = seg->len + ((seg->flags & TCP_SYN) ? 1u : 0) +
                  ((seg->flags & TCP_FIN) ? 1u : 0);
  uint32_t s = seg->seq;
  bool ok;
  if (slen == 0) /* the right edge itself is fine for an ACK (as Linux:
                    a sender that filled our window sends ACKs from there) */
    ok = seq_ge(s, c->rcv_nxt) && seq_le(s, c->rcv_nxt + wnd);
  else if (wnd == 0)
    ok = false;
  else
    ok = (seq_ge(s, c->rcv_nxt) && seq_lt(s, c->rcv_nxt + wnd)) ||
         (seq_ge(s + slen - 1, c->rcv_nxt) &&
          seq_lt(s + slen - 1, c->rcv_nxt + wnd));
  if (!ok && wnd == 0 && s == c->rcv_nxt && !(seg->flags & (TCP_SYN | TCP_RST))) {
    /* a zero-window probe: its ACK and window count, its data not */
    if (seg->len) ip_pbuf_trim(*pp, 0);
    seg->len = 0;
    seg->flags &= (uint8_t)~TCP_FIN;
    pcb->ack_now = 1;
    return true;
  }
  if (!ok) {
    if (seg->flags & TCP_RST) return false;
    /* 3.10.7.4: answer with an ACK; for a segment without data through
     * the per-stack budget, so two stacks cannot start an ACK war */
    if (slen)
      pcb->ack_now = 1;
    else
      tcp_challenge_ack(pcb);
    return false;
  }
  /* trim the front (already received) ... */
  if (seq_lt(s, c->rcv_nxt)) {
    uint32_t d = c->rcv_nxt - s;
    if (seg->flags & TCP_SYN) {
      seg->flags &= (uint8_t)~TCP_SYN;
      d--;
      seg->seq++;
    }
    if (d > seg->len) d = seg->len;
    *pp = tcp_chain_pull(*pp, d);
    seg->len -= d;
    seg->seq += d;
    pcb->ack_now = 1; /* a retransmission: say where we are */
  }
  /* ... and the tail (beyond the window) */
  uint32_t end = c->rcv_nxt + wnd;
  if (seq_gt(seg->seq + seg->len, end)) {
    seg->len = end - seg->seq;
    ip_pbuf_trim(*pp, seg->len);
    seg->flags &= (uint8_t)~TCP_FIN;
    pcb->ack_now = 1;
  }
  return true;
}

/* RFC 5961 3.2: only a RST exactly at RCV.NXT resets; one elsewhere in
 * the window earns a challenge ACK. */
static void rst_input(tern_tcp *pcb, const tcp_seg *seg) {
  if (seg->seq != pcb->u.c.rcv_nxt) {
    tcp_challenge_ack(pcb);
    return;
  }
  if (pcb->state == TERN_TCP_SYN_RCVD && pcb->u.c.u.parent) {
    /* 3.10.7.4: a passive open goes back to LISTEN: just forget it */
    pcb->user_closed = 1;
    tcp_pcb_kill(pcb);
    return;
  }
  if (pcb->state == TERN_TCP_TIME_WAIT || pcb->state == TERN_TCP_LAST_ACK ||
      pcb->state == TERN_TCP_CLOSING) {
    tcp_finished(pcb);
    return;
  }
  tcp_fail(pcb, TERN_ECONNRESET);
}

/* SYN_RCVD + acceptable ACK: established; a passive open asks accept. */
static bool syn_rcvd_ack(tern_tcp *pcb, const tcp_seg *seg) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (seq_le(seg->ack, c->snd_una) || seq_gt(seg->ack, c->snd_nxt)) {
    rst_at(pcb, seg->ack);
    return false;
  }
  tern_tcp *l = c->u.parent;
  c->u.parent = NULL;
  if (l && l->u.l.half_open) l->u.l.half_open--;
  if (c->snd_wscale == 15) c->snd_wscale = 0;
  /* the SYN; the rest is processed as an ACK */
  become_established(pcb, seg, c->snd_una + 1);
  if (l) {
    if (!tcp_cb_accept(l, pcb)) return false;
  } else if (!tcp_cb_connected(pcb)) {
    return false;
  }
  return true;
}

/* The FIN (step 8): in order, after the data. */
static void fin_input(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  c->rcv_nxt++;
  pcb->fin_rcvd = 1;
  pcb->ack_now = 1;
  bool fin_acked = pcb->fin_sent && c->snd_una == c->snd_nxt;
  switch (pcb->state) {
  case TERN_TCP_SYN_RCVD: case TERN_TCP_ESTABLISHED:
    pcb->state = TERN_TCP_CLOSE_WAIT;
    break;
  case TERN_TCP_FIN_WAIT_1:
    if (fin_acked) {
      tcp_send_ack(pcb);
      tcp_enter_time_wait(pcb);
    } else {
      pcb->state = TERN_TCP_CLOSING;
    }
    break;
  case TERN_TCP_FIN_WAIT_2:
    tcp_send_ack(pcb);
    tcp_enter_time_wait(pcb);
    break;
  default: break;
  }
  pcb->fin_pending = 1;
  tcp_deliver_refused(pcb);
}

/* Step 5 for the closing states: our FIN acknowledged? */
static bool fin_ack_states(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (!pcb->fin_sent || c->snd_una != c->snd_nxt) return true;
  switch (pcb->state) {
  case TERN_TCP_FIN_WAIT_1:
    pcb->state = TERN_TCP_FIN_WAIT_2;
    tcp_stop_rtx(pcb);
    /* an orphan does not wait for the peer's FIN forever */
    if (pcb->user_closed) tcp_set_rtx(pcb, 2 * pcb->st->opts.tcp_msl_ms);
    break;
  case TERN_TCP_CLOSING:
    tcp_enter_time_wait(pcb);
    break;
  case TERN_TCP_LAST_ACK:
    tcp_finished(pcb);
    return false;
  default: break;
  }
  return true;
}

static void time_wait_input(tern_tcp *pcb, const tcp_seg *seg) {
  /* 3.10.7.4: a retransmitted FIN is acknowledged, 2 MSL start again */
  if (seg->flags & TCP_FIN) {
    tcp_send_ack(pcb);
    tcp_set_rtx(pcb, 2 * pcb->st->opts.tcp_msl_ms);
  }
}

static void sync_input(tern_tcp *pcb, tern_pbuf *p, tcp_seg *seg) {
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t rcv_nxt0 = c->rcv_nxt;
  /* SYN_RCVD: the peer's SYN again, our SYN-ACK got lost */
  if (pcb->state == TERN_TCP_SYN_RCVD && (seg->flags & TCP_SYN) &&
      !(seg->flags & (TCP_ACK | TCP_RST)) && seg->seq + 1 == c->rcv_nxt) {
    tcp_send_ctl(pcb, TCP_SYN | TCP_ACK);
    goto done;
  }
  /* simultaneous open (3.5 figure 7): the peer's SYN-ACK repeats the SYN
   * we have; its ACK is what counts */
  if (pcb->state == TERN_TCP_SYN_RCVD &&
      (seg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == (TCP_SYN | TCP_ACK) &&
      seg->seq + 1 == c->rcv_nxt) {
    seg->flags &= (uint8_t)~TCP_SYN;
    seg->seq++;
  }
  /* RFC 5961 4.2: a SYN in a synchronized state, whatever its sequence
   * number: challenge ACK */
  if ((seg->flags & (TCP_SYN | TCP_RST)) == TCP_SYN &&
      pcb->state != TERN_TCP_SYN_RCVD) {
    tcp_challenge_ack(pcb);
    goto done;
  }
  if (!check_seq(pcb, &p, seg)) {
    if (seg->flags & TCP_RST) goto done;
    if (pcb->state == TERN_TCP_TIME_WAIT) time_wait_input(pcb, seg);
    goto done;
  }
  if (seg->flags & TCP_RST) {
    rst_input(pcb, seg);
    goto done;
  }
  if (seg->flags & TCP_SYN) goto done; /* SYN_RCVD: a stray SYN */
  if (!(seg->flags & TCP_ACK)) goto done;
  tcp_ka_reset(pcb);
  if (pcb->state == TERN_TCP_SYN_RCVD && !syn_rcvd_ack(pcb, seg)) goto done;
  if (tcp_gone(pcb)) goto done;
  if (pcb->state == TERN_TCP_TIME_WAIT) {
    time_wait_input(pcb, seg);
    goto done;
  }
  if (!tcp_process_ack(pcb, seg) || tcp_gone(pcb)) goto done;
  /* RFC 7323 4.3: TS.Recent from a segment at or before Last.ACK.sent
   * (RCV.NXT here), once its ACK passed the RFC 5961 check: a blind
   * in-window segment cannot poison PAWS */
  if (pcb->ts_on && seg->has_ts && seq_le(seg->seq, rcv_nxt0))
    c->ts_recent = seg->tsval;
  if (!fin_ack_states(pcb) || tcp_gone(pcb)) goto done;
  /* step 7: data */
  if (seg->len || (seg->flags & TCP_FIN)) {
    switch (pcb->state) {
    case TERN_TCP_ESTABLISHED: case TERN_TCP_FIN_WAIT_1:
    case TERN_TCP_FIN_WAIT_2:
      if (pcb->shut_rx && seg->len) {
        /* RFC 9293 3.6 / RFC 2525: data nobody will read: reset */
        tcp_send_rst(pcb);
        tcp_fail(pcb, TERN_ECONNABORTED);
        goto done;
      }
      if (!tcp_data_input(pcb, p, seg)) return;
      p = NULL;
      break;
    default: /* after a FIN: ignore (3.10.7.4 step 7) */
      break;
    }
  }
done:
  if (p) tern_pbuf_free(p);
}

void tcp_conn_input(tern_tcp *pcb, tern_pbuf *p, tcp_seg *seg) {
  tcp_busy(pcb);
  if (pcb->state == TERN_TCP_SYN_SENT) {
    syn_sent_input(pcb, seg);
    tern_pbuf_free(p);
  } else if (pcb->state == TERN_TCP_CLOSED) {
    /* a pcb the user still holds after the end: like no pcb at all */
    if (!(seg->flags & TCP_RST)) {
      rst_at(pcb, seg->ack);
    }
    tern_pbuf_free(p);
  } else {
    sync_input(pcb, p, seg);
  }
  if (!tcp_gone(pcb)) {
    tcp_deliver_refused(pcb);
    if (!tcp_gone(pcb)) tcp_output(pcb);
  }
  tcp_unbusy(pcb);
}

void tcp_fin_reached(tern_tcp *pcb) { fin_input(pcb); }
