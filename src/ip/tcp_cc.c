/* tcp_cc.c: RTT estimation and congestion control.
 *
 * RTO: RFC 6298 with millisecond timers: SRTT/RTTVAR in fixed point
 * (Jacobson's ms << 3 and ms << 2), RTO = SRTT + 4 RTTVAR clamped to
 * [TCP_RTO_MIN, TCP_RTO_MAX], doubled per retransmission of the same data
 * (nrtx, 5.5). Samples from timestamps (RFC 7323 4) or from segments
 * never retransmitted (Karn, RFC 6298 3).
 *
 * Congestion: slow start and congestion avoidance (RFC 5681 3.1) with
 * byte counting (RFC 3465, L = 2 SMSS), initial window RFC 6928, fast
 * retransmit after TCP_DUPTHRESH duplicate ACKs, NewReno recovery
 * (RFC 6582) without SACK; with SACK a scoreboard in the send queue
 * (TCPQ_SACKED / TCPQ_LOST) and pipe (RFC 6675 lite) decide what to
 * resend: only the holes. After an RTO everything in flight is marked
 * lost and resent as slow start allows.
 */
#include "ip/tcp_internal.h"

uint32_t tcp_rto(const tern_tcp *pcb) {
  const struct tcp_conn_part *c = &pcb->u.c;
  /* RFC 6298 (2.1); (5.7): 3 s once data flows after a resent SYN
   * (marked by rttvar4 != 0 before the first sample) */
  uint32_t rto = c->rttvar4 ? 3000 : TCP_RTO_INIT;
  if (pcb->rtt_seeded) {
    uint32_t var = c->rttvar4 ? c->rttvar4 : 1; /* max(G, 4 RTTVAR) */
    rto = (c->srtt8 >> 3) + var;
  }
  if (rto < TCP_RTO_MIN) rto = TCP_RTO_MIN;
  for (unsigned i = 0; i < c->nrtx && rto < TCP_RTO_MAX; i++) rto *= 2;
  return rto > TCP_RTO_MAX ? TCP_RTO_MAX : rto;
}

void tcp_rtt_sample(tern_tcp *pcb, uint32_t r) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (r > TCP_RTO_MAX) r = TCP_RTO_MAX;
  if (!pcb->rtt_seeded) { /* RFC 6298 (2.2) */
    c->srtt8 = r << 3;
    c->rttvar4 = (uint16_t)(r << 1); /* RTTVAR = R/2 */
    pcb->rtt_seeded = 1;
    return;
  }
  /* (2.3): RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT + 1/8 R */
  int32_t m = (int32_t)r - (int32_t)(c->srtt8 >> 3);
  c->srtt8 = (uint32_t)((int32_t)c->srtt8 + m);
  if (m < 0) m = -m;
  int32_t v = (int32_t)c->rttvar4 + m - (int32_t)(c->rttvar4 >> 2);
  if (v < 0) v = 0;
  c->rttvar4 = (uint16_t)(v > 0xffff ? 0xffff : v);
}

void tcp_cc_init(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  /* RFC 6928: IW = min(10 MSS, max(2 MSS, 14600)) */
  uint32_t iw = 14600;
  if (iw < 2u * c->mss) iw = 2u * c->mss;
  if (iw > TCP_IW_SEGS * (uint32_t)c->mss) iw = TCP_IW_SEGS * (uint32_t)c->mss;
  c->cwnd = iw;
  c->ssthresh = 0x7fffffff;
  c->recover = c->snd_una - 1;
}

static uint32_t half_flight(const tern_tcp *pcb, uint32_t flight) {
  uint32_t h = flight / 2, m2 = 2u * pcb->u.c.mss;
  return h > m2 ? h : m2; /* RFC 5681 (4) */
}

static void mark_head_lost(tern_tcp *pcb) {
  tern_pbuf *q = pcb->u.c.sndq;
  if (q && !(q->q_flags & TCPQ_SACKED)) q->q_flags |= TCPQ_LOST;
}

static void rexmit_head_lost(tern_tcp *pcb) {
  tern_pbuf *q = pcb->u.c.sndq;
  if (!q || !(q->q_flags & TCPQ_LOST)) return;
  if (tcp_rexmit_head(pcb) == TERN_OK && pcb->sack_on) {
    tcp_stat_sat(&pcb->u.c.n_sack, &pcb->st->stats.tcp_sack_rexmit);
  }
}

static void clear_episode(tern_tcp *pcb) {
  for (tern_pbuf *q = pcb->u.c.sndq; q; q = q->q_next)
    q->q_flags &= (uint16_t)~(TCPQ_LOST | TCPQ_REXMIT);
}

static void grow(tern_tcp *pcb, uint32_t acked) {
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t cap = 2 * tcp_snd_buf(pcb) + 4u * c->mss;
  if (c->cwnd >= cap) return;
  if (c->cwnd < c->ssthresh) {
    /* RFC 3465 2.2: slow start by bytes acked, at most L = 2 SMSS */
    uint32_t l = 2u * c->mss;
    c->cwnd += acked < l ? acked : l;
  } else {
    /* RFC 5681 (3) in bytes: one SMSS per cwnd of data acknowledged */
    /* in 32 bits (no 64-bit division on a microcontroller): a huge
     * stretch ACK halves both terms until mss * acked fits; the ratio,
     * which is all that counts, stays */
    uint32_t a = acked, w = c->cwnd;
    while (a > UINT32_MAX / 65535u) {
      a >>= 1;
      w >>= 1;
    }
    uint32_t inc = w ? c->mss * a / w : c->mss;
    c->cwnd += inc ? inc : 1;
  }
}

void tcp_cc_acked(tern_tcp *pcb, uint32_t acked, uint32_t flight_before) {
  struct tcp_conn_part *c = &pcb->u.c;
  (void)flight_before;
  if (pcb->recovery) {
    if (seq_ge(c->snd_una, c->recover)) {
      /* RFC 6582 3.2 (3): full ACK, deflate */
      uint32_t fl = tcp_flight(pcb);
      uint32_t w = (fl > c->mss ? fl : c->mss) + c->mss;
      c->cwnd = c->ssthresh < w ? c->ssthresh : w;
      pcb->recovery = 0;
      clear_episode(pcb);
      return;
    }
    /* (4) partial ACK: resend the next hole; deflate by what was acked,
     * add back one SMSS */
    if (pcb->sack_on) tcp_sack_mark_lost(pcb);
    mark_head_lost(pcb);
    rexmit_head_lost(pcb); /* RFC 6582 3.2 (5): at once */
    if (!pcb->sack_on) {
      c->cwnd = c->cwnd > acked ? c->cwnd - acked : c->mss;
      if (acked >= c->mss) c->cwnd += c->mss;
    }
    return;
  }
  if (pcb->loss && seq_ge(c->snd_una, c->recover)) {
    pcb->loss = 0;
    clear_episode(pcb);
  }
  grow(pcb, acked);
}

static void enter_recovery(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  tern_stack *st = pcb->st;
  clear_episode(pcb);
  c->ssthresh = half_flight(pcb, tcp_flight(pcb));
  c->recover = c->snd_nxt;
  pcb->recovery = 1;
  /* NewReno inflates by the segments that left (RFC 6582 3.2 (2));
   * with SACK, pipe counts them instead (RFC 6675 5) */
  c->cwnd = pcb->sack_on ? c->ssthresh : c->ssthresh + 3u * c->mss;
  tcp_stat_sat(&c->n_fast, &st->stats.tcp_fast_retrans);
  if (pcb->sack_on) tcp_sack_mark_lost(pcb);
  mark_head_lost(pcb);
  /* RFC 5681 3.2 (2) / RFC 6675 5 (3): the first one goes now, whatever
   * pipe says */
  rexmit_head_lost(pcb);
}

/* RFC 5827 early retransmit: with fewer than 4 segments out and nothing
 * new to send, a loss is declared after (segments - 1) duplicates. */
IP_NOINLINE static uint32_t early_thresh(const tern_tcp *pcb, uint32_t segs) {
  if (pcb->u.c.snd_cur || segs >= TCP_DUPTHRESH + 1 || segs < 2)
    return TCP_DUPTHRESH;
  return segs - 1;
}

static uint32_t inflight_segs(const tern_tcp *pcb) {
  uint32_t n = 0;
  for (const tern_pbuf *q = pcb->u.c.sndq;
       q && seq_lt(q->q_seq, pcb->u.c.snd_nxt) && n <= TCP_DUPTHRESH;
       q = q->q_next)
    n++;
  return n;
}

void tcp_cc_dupack(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (c->dupacks < 15) c->dupacks++;
  if (pcb->recovery) {
    if (!pcb->sack_on) c->cwnd += c->mss; /* RFC 6582 3.2 (3) inflation */
    else tcp_sack_mark_lost(pcb);
    return;
  }
  if (pcb->loss) {
    if (pcb->sack_on) tcp_sack_mark_lost(pcb);
    return;
  }
  bool enough = c->dupacks >= early_thresh(pcb, inflight_segs(pcb));
  if (!enough && pcb->sack_on) {
    /* RFC 6675 5 (b): the scoreboard may say "lost" before 3 dupacks */
    tcp_sack_mark_lost(pcb);
    enough = c->sndq && (c->sndq->q_flags & TCPQ_LOST);
  }
  /* RFC 6582 3.2 (2): no second recovery for the same loss: the ACK
   * must cover recover (SND.NXT when the last one began) */
  if (enough && seq_ge(c->snd_una, c->recover)) {
    enter_recovery(pcb);
  } else if (c->dupacks < TCP_DUPTHRESH) {
    /* RFC 3042 limited transmit: a new segment per duplicate (taken
     * back by tcp_cc_undo_lt when a new ACK comes) */
    c->cwnd += c->mss;
  }
}

void tcp_cc_undo_lt(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (pcb->recovery || pcb->loss || !c->dupacks ||
      c->dupacks >= TCP_DUPTHRESH)
    return;
  uint32_t lt = (uint32_t)c->dupacks * c->mss;
  c->cwnd = c->cwnd > lt + c->mss ? c->cwnd - lt : c->mss;
}

/* RFC 6675: SACK information on any ACK (one with data, or one that
 * advances SND.UNA) feeds the scoreboard; a loss it shows starts recovery
 * as three duplicates would. */
void tcp_cc_sack(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  tcp_sack_mark_lost(pcb);
  if (pcb->recovery || pcb->loss) return;
  if (c->sndq && (c->sndq->q_flags & TCPQ_LOST) &&
      seq_ge(c->snd_una, c->recover))
    enter_recovery(pcb);
}

void tcp_cc_rto(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  /* RFC 5681 (4) and 3.1: ssthresh from the flight, cwnd = 1 SMSS */
  if (!pcb->loss || c->nrtx <= 1) c->ssthresh = half_flight(pcb, tcp_flight(pcb));
  c->cwnd = c->mss;
  pcb->recovery = 0;
  pcb->loss = 1;
  c->recover = c->snd_nxt;
  c->dupacks = 0;
  clear_episode(pcb);
  for (tern_pbuf *q = c->sndq; q && seq_lt(q->q_seq, c->snd_nxt); q = q->q_next)
    if (!(q->q_flags & TCPQ_SACKED)) q->q_flags |= TCPQ_LOST;
}

/* ---- SACK scoreboard (RFC 2018, RFC 6675) ---------------------------------- */

/* Split the sent entry *pp at off (0 < off < q_len) so the scoreboard
 * can follow a SACK block inside a super-segment. Both halves are fresh
 * copies: the old chain may still sit in a frame a driver or ARP holds.
 * false (nothing changed) if the pool cannot hold the copies. */
static bool split_entry(tern_tcp *pcb, tern_pbuf **pp, uint32_t off) {
  struct tcp_conn_part *c = &pcb->u.c;
  tern_pbuf *q = *pp;
  tern_pbuf *a = ip_pbuf_copy_range(pcb->st, q, 0, off, 0);
  tern_pbuf *b = a ? ip_pbuf_copy_range(pcb->st, q, off, q->q_len - off, 0)
                   : NULL;
  if (!b) {
    if (a) tern_pbuf_free(a);
    return false;
  }
  a->q_seq = q->q_seq;
  a->q_len = (uint16_t)off;
  b->q_seq = q->q_seq + off;
  b->q_len = (uint16_t)(q->q_len - off);
  a->q_flags = b->q_flags = q->q_flags;
  if (seq_le(b->q_seq, c->snd_nxt)) a->q_flags |= TCPQ_SENT;
  a->q_time = b->q_time = q->q_time;
  a->q_next = b;
  b->q_next = q->q_next;
  *pp = a;
  if (c->sndq_tail == q) c->sndq_tail = b;
  if (c->snd_cur == q)
    c->snd_cur = seq_ge(c->snd_nxt, b->q_seq) ? b : a;
  q->q_next = NULL;
  tern_pbuf_free(q);
  return true;
}

/* Entries that a block's edge cuts are split there (super-segments). */
static void split_at(tern_tcp *pcb, uint32_t seq) {
  struct tcp_conn_part *c = &pcb->u.c;
  for (tern_pbuf **pp = &c->sndq; *pp && seq_lt((*pp)->q_seq, c->snd_nxt);
       pp = &(*pp)->q_next) {
    tern_pbuf *q = *pp;
    if (seq_gt(q->q_seq, seq)) return;
    if (seq_lt(q->q_seq, seq) && seq_gt(q->q_seq + q->q_len, seq) &&
        seq_le(seq, c->snd_nxt) && q->q_len > c->mss) {
      split_entry(pcb, pp, seq - q->q_seq);
      return;
    }
  }
}

bool tcp_sack_update(tern_tcp *pcb, const tcp_seg *seg) {
  struct tcp_conn_part *c = &pcb->u.c;
  bool news = false;
  for (unsigned i = 0; i < seg->nsack; i++) {
    uint32_t s = seg->sack[i][0], e = seg->sack[i][1];
    /* RFC 2018: blocks must be within what we sent; D-SACKs ignored */
    if (!seq_lt(s, e) || seq_le(e, c->snd_una) || seq_gt(e, c->snd_nxt))
      continue;
    split_at(pcb, s);
    split_at(pcb, e);
    for (tern_pbuf *q = c->sndq; q && seq_lt(q->q_seq, e); q = q->q_next) {
      if (q->q_flags & TCPQ_SACKED) continue;
      if (seq_ge(q->q_seq, s) && seq_le(q->q_seq + q->q_len, e)) {
        q->q_flags = (uint16_t)((q->q_flags | TCPQ_SACKED) & ~TCPQ_LOST);
        news = true;
      }
    }
  }
  return news;
}

/* RFC 6675 IsLost (lite): not SACKed, and at least DupThresh segments or
 * DupThresh * SMSS bytes SACKed above it. */
void tcp_sack_mark_lost(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t tot_b = 0, tot_n = 0, newest = 0, segs = 0;
  for (tern_pbuf *q = c->sndq; q && seq_lt(q->q_seq, c->snd_nxt); q = q->q_next)
    if (++segs && (q->q_flags & TCPQ_SACKED)) {
      tot_b += q->q_len;
      if (!tot_n++ || tcp_tdiff(q->q_time, newest) > 0) newest = q->q_time;
    }
  if (!tot_n) return;
  /* a retransmission is lost too when something sent after it (by more
   * than a reordering allowance) has arrived (RFC 8985's idea) */
  uint32_t reo = (c->srtt8 >> 5) > 1 ? (c->srtt8 >> 5) : 1;
  uint32_t thr = early_thresh(pcb, segs);
  uint32_t seen_b = 0, seen_n = 0;
  for (tern_pbuf *q = c->sndq; q && seq_lt(q->q_seq, c->snd_nxt);
       q = q->q_next) {
    if (q->q_flags & TCPQ_SACKED) {
      seen_b += q->q_len;
      if (++seen_n == tot_n) break;
      continue;
    }
    uint32_t above_b = tot_b - seen_b, above_n = tot_n - seen_n;
    bool enough = above_n >= thr || above_b >= thr * c->mss;
    if (!enough) continue;
    /* (a super-segment entry is SACKed only whole: not re-marked) */
    if (!(q->q_flags & TCPQ_REXMIT) ||
        (q->q_len <= c->mss && tcp_tdiff(newest, q->q_time) >= (int32_t)reo))
      q->q_flags |= TCPQ_LOST;
  }
}

/* RFC 6675 SetPipe, per entry: what is in the network. */
uint32_t tcp_pipe(const tern_tcp *pcb) {
  const struct tcp_conn_part *c = &pcb->u.c;
  if (!pcb->recovery && !pcb->loss) return tcp_flight(pcb);
  uint32_t pipe = 0;
  for (const tern_pbuf *q = c->sndq; q && seq_lt(q->q_seq, c->snd_nxt);
       q = q->q_next) {
    if (q->q_flags & (TCPQ_SACKED | TCPQ_LOST)) continue;
    uint32_t s = seq_lt(q->q_seq, c->snd_una) ? c->snd_una : q->q_seq;
    uint32_t e = q->q_seq + q->q_len;
    if (seq_gt(e, c->snd_nxt)) e = c->snd_nxt;
    if (seq_gt(e, s)) pipe += e - s;
  }
  if (pcb->fin_sent && c->snd_una != c->snd_nxt) pipe++;
  return pipe;
}
