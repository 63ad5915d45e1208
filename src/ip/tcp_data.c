/* tcp_data.c: received data (RFC 9293 3.10.7.4 step 7): in-order data
 * goes to recv (or waits in pcb->refused when the app said EAGAIN), data
 * beyond a hole waits in the out-of-order queue, bounded by
 * opts.tcp_ooseq_max bytes (what does not fit is dropped: the peer sends
 * it again). The ACK policy: RFC 9293 3.8.6.3 / RFC 5681 4.2 (an ACK for
 * at least every second full segment, within TCP_DACK_MS, at once after
 * out-of-order data or when it fills a hole).
 */
#include "ip/tcp_internal.h"

uint32_t tcp_ooseq_bytes(const tern_tcp *pcb) {
  uint32_t n = 0;
  for (const tern_pbuf *q = pcb->u.c.u.ooseq; q; q = q->q_next) n += q->q_len;
  return n;
}

void tcp_ooseq_free(tern_tcp *pcb) {
  if (pcb->state == TERN_TCP_SYN_RCVD || pcb->state == TERN_TCP_LISTEN) return;
  ip_pbuf_free_queue(pcb->u.c.u.ooseq);
  pcb->u.c.u.ooseq = NULL;
}

/* Hand p (in order) to the application, or queue it behind data it
 * refused. false: the pcb is gone. */
static bool deliver(tern_tcp *pcb, tern_pbuf *p) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (c->refused) {
    tern_pbuf_cat(c->refused, p);
    return true;
  }
  bool refused;
  if (!tcp_cb_recv(pcb, p, &refused)) return false;
  if (refused) {
    c->refused = p;
    tcp_poll_reset(pcb); /* offered again from the timer */
  }
  return true;
}

bool tcp_deliver_refused(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (pcb->state == TERN_TCP_LISTEN) return true;
  if (c->refused) {
    tern_pbuf *p = c->refused;
    c->refused = NULL;
    bool refused;
    if (!tcp_cb_recv(pcb, p, &refused)) return false;
    if (refused) {
      c->refused = p;
      return true;
    }
  }
  if (pcb->fin_pending) {
    pcb->fin_pending = 0;
    bool r;
    if (!tcp_cb_recv(pcb, NULL, &r)) return false;
  }
  return true;
}

/* Insert [seq, seq+len) into the sorted, non-overlapping queue. */
static void ooseq_insert(tern_tcp *pcb, tern_pbuf *p, uint32_t seq,
                         uint32_t len, bool fin) {
  struct tcp_conn_part *c = &pcb->u.c;
  tern_stack *st = pcb->st;
  tern_pbuf **pp = &c->u.ooseq;
  /* skip entries that end before us; trim what overlaps a predecessor */
  while (*pp && seq_le((*pp)->q_seq + (*pp)->q_len, seq)) pp = &(*pp)->q_next;
  if (*pp && seq_le((*pp)->q_seq, seq)) {
    uint32_t end = (*pp)->q_seq + (*pp)->q_len;
    uint32_t d = end - seq;
    if (d >= len) { /* wholly a duplicate */
      tern_pbuf_free(p);
      return;
    }
    p = tcp_chain_pull(p, d);
    seq += d;
    len -= d;
    pp = &(*pp)->q_next;
  }
  /* drop entries we cover completely */
  while (*pp && seq_le((*pp)->q_seq + (*pp)->q_len, seq + len)) {
    tern_pbuf *q = *pp;
    *pp = q->q_next;
    q->q_next = NULL;
    tern_pbuf_free(q);
  }
  /* trim our tail against the next one */
  if (*pp && seq_lt((*pp)->q_seq, seq + len)) {
    len = (*pp)->q_seq - seq;
    ip_pbuf_trim(p, len);
    fin = false;
  }
  if (len == 0 && !fin) {
    tern_pbuf_free(p);
    return;
  }
  /* the bound: opts.tcp_ooseq_max bytes, and a reserve of pool blocks so
   * reassembly never starves the rest of the stack */
  if (tcp_ooseq_bytes(pcb) + len > st->opts.tcp_ooseq_max ||
      ip_pool_free_blocks(st) < 8) {
    tern_pbuf_free(p);
    return;
  }
  p->q_seq = seq;
  p->q_len = (uint16_t)len;
  p->q_flags = fin ? TCPQ_FIN : 0;
  p->q_time = ++st->tcp->rx_clock; /* arrival order: RFC 2018 4 */
  p->q_next = *pp;
  *pp = p;
}

/* In-order data at rcv_nxt. Then whatever the ooseq queue has next. */
static bool in_order(tern_tcp *pcb, tern_pbuf *p, uint32_t len, bool fin) {
  struct tcp_conn_part *c = &pcb->u.c;
  bool filled = c->u.ooseq != NULL;
  for (;;) {
    c->rcv_nxt += len;
    c->rcv_wnd -= len < c->rcv_wnd ? len : c->rcv_wnd;
    if (len) {
      if (!deliver(pcb, p)) return false;
    } else {
      tern_pbuf_free(p);
    }
    p = NULL;
    if (fin) {
      tcp_fin_reached(pcb);
      return !tcp_gone(pcb);
    }
    /* the queue: drop what is now old, take what is next */
    tern_pbuf *q;
    while ((q = c->u.ooseq) && seq_le(q->q_seq + q->q_len, c->rcv_nxt) &&
           !((q->q_flags & TCPQ_FIN) && q->q_seq + q->q_len == c->rcv_nxt)) {
      c->u.ooseq = q->q_next;
      q->q_next = NULL;
      tern_pbuf_free(q);
    }
    q = c->u.ooseq;
    if (!q || seq_gt(q->q_seq, c->rcv_nxt)) break;
    c->u.ooseq = q->q_next;
    q->q_next = NULL;
    uint32_t d = c->rcv_nxt - q->q_seq;
    len = q->q_len - d;
    fin = q->q_flags & TCPQ_FIN;
    p = d ? tcp_chain_pull(q, d) : q;
  }
  if (filled) pcb->ack_now = 1; /* RFC 5681 4.2: a hole filled */
  return true;
}

bool tcp_data_input(tern_tcp *pcb, tern_pbuf *p, tcp_seg *seg) {
  struct tcp_conn_part *c = &pcb->u.c;
  bool fin = seg->flags & TCP_FIN;
  if (seg->seq == c->rcv_nxt) {
    /* ACK every second segment (a super-segment counts as two) */
    if (pcb->ack_delayed || seg->len >= 2u * c->mss)
      pcb->ack_now = 1;
    else if (seg->len) {
      pcb->ack_delayed = 1;
      tcp_set_dack(pcb);
    }
    return in_order(pcb, p, seg->len, fin);
  }
  /* beyond a hole: keep it (bounded) and ACK at once (RFC 5681 4.2,
   * RFC 2018: with SACK blocks) */
  ip_stat_inc(&pcb->st->stats.tcp_ooseq);
  pcb->ack_now = 1;
  if (seg->len > 0xffff || pcb->shut_rx) {
    tern_pbuf_free(p);
    return true;
  }
  ooseq_insert(pcb, p, seg->seq, seg->len, fin);
  return true;
}
