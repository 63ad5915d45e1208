/* tcp_ack.c: the ACK field of an arriving segment (RFC 9293 3.10.7.4
 * step 5 in ESTABLISHED and the states after it).
 *
 * Order: the RFC 5961 5.2 range check (challenge ACK outside
 * [SND.UNA - MAX.SND.WND, SND.NXT]), then the send window update (with
 * SND.WL1 approximated, below), then for a new ACK: free acknowledged
 * entries, an RTT sample (RFC 7323 timestamps, else Karn's rule on the
 * entry's send time, RFC 6298 3), congestion control (tcp_cc.c), the
 * retransmission timer (RFC 6298 5.3) and the `sent` callback; for a
 * duplicate ACK (RFC 5681 2) fast retransmit / recovery.
 */
#include "ip/tcp_internal.h"

/* Free entries wholly below snd_una; returns the data bytes released. */
static void free_acked(tern_tcp *pcb, uint32_t *rtt, bool *rtt_ok) {
  struct tcp_conn_part *c = &pcb->u.c;
  while (c->sndq) {
    tern_pbuf *q = c->sndq;
    if (seq_gt(q->q_seq + q->q_len, c->snd_una)) break;
    if (!(q->q_flags & TCPQ_RTX)) { /* Karn: only never-retransmitted */
      *rtt = tcp_now32(pcb->st) - q->q_time;
      *rtt_ok = true;
    }
    c->sndq = q->q_next;
    if (c->snd_cur == q) c->snd_cur = q->q_next;
    if (!c->sndq) c->sndq_tail = NULL;
    q->q_next = NULL;
    tern_pbuf_free(q);
  }
}

/* The window (3.10.7.4 step 5): update from a segment that is not older
 * than the last one used. RFC 9293 keeps SND.WL1/WL2 for that; we keep
 * no WL fields (pcb size) and use: a new ACK, or the same ACK on a
 * segment that is not behind RCV.NXT (an old reordered one would be). */
IP_NOINLINE static void update_wnd(tern_tcp *pcb, const tcp_seg *seg,
                                   bool new_ack) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (!new_ack && !(seg->ack == c->snd_una && seq_ge(seg->seq, c->rcv_nxt)))
    return;
  c->snd_wnd = seg->wnd << c->snd_wscale;
  if (pcb->persist && c->snd_wnd > 0) {
    /* RFC 9293 3.8.6.1: the window opened, probing ends */
    pcb->persist = 0;
    c->nrtx = 0;
    if (!pcb->fin_sent && tcp_flight(pcb) <= 1 && c->sndq) {
      /* the probe octet was dropped by the closed window: send it again
       * with what follows (else Nagle would wait for its RTO) */
      c->snd_nxt = c->snd_una;
      c->snd_cur = c->sndq;
      c->sndq->q_flags &= (uint16_t)~TCPQ_SENT;
    }
    tcp_stop_rtx(pcb);
    if (tcp_flight(pcb)) tcp_set_rtx_rto(pcb);
  }
}

static bool is_dupack(const tern_tcp *pcb, const tcp_seg *seg) {
  const struct tcp_conn_part *c = &pcb->u.c;
  /* RFC 5681 2 "DUPLICATE ACKNOWLEDGMENT" (a) to (e); with SACK a
   * segment carrying new SACK information counts too (RFC 6675). */
  return seg->ack == c->snd_una && tcp_flight(pcb) > 0 && seg->len == 0 &&
         !(seg->flags & (TCP_SYN | TCP_FIN)) &&
         ((seg->wnd << c->snd_wscale) == c->snd_wnd || seg->nsack);
}

bool tcp_process_ack(tern_tcp *pcb, const tcp_seg *seg) {
  struct tcp_conn_part *c = &pcb->u.c;
  tern_stack *st = pcb->st;
  uint32_t maxwnd = c->snd_wnd > 65535 ? c->snd_wnd : 65535;
  if (seq_gt(seg->ack, c->snd_nxt) || seq_lt(seg->ack, c->snd_una - maxwnd)) {
    /* RFC 5961 5.2 (and 3.10.7.4: an ACK of something not yet sent) */
    tcp_challenge_ack(pcb);
    return false;
  }
  if (pcb->persist) c->ka_probes = 0; /* the peer answers our probes */
  bool sacked = pcb->sack_on && seg->nsack && tcp_sack_update(pcb, seg);
  if (seq_le(seg->ack, c->snd_una)) {
    bool dup = is_dupack(pcb, seg);
    update_wnd(pcb, seg, false);
    if (dup) {
      ip_stat_inc(&st->stats.tcp_dupack);
      tcp_cc_dupack(pcb);
    } else if (sacked) {
      tcp_cc_sack(pcb);
    }
    return true;
  }
  /* a new ACK */
  uint32_t flight0 = tcp_flight(pcb);
  uint32_t acked = seg->ack - c->snd_una;
  uint32_t data_end = seq_lt(seg->ack, c->snd_lbb) ? seg->ack : c->snd_lbb;
  uint32_t data_acked =
      seq_gt(data_end, c->snd_una) ? data_end - c->snd_una : 0;
  c->snd_una = seg->ack;
  if (seq_lt(c->snd_nxt, c->snd_una)) c->snd_nxt = c->snd_una;
  uint32_t rtt = 0;
  bool rtt_ok = false;
  free_acked(pcb, &rtt, &rtt_ok);
  if (pcb->ts_on && seg->has_ts && seg->tsecr &&
      seq_le(seg->tsecr, tcp_tsval(st))) {
    rtt = tcp_tsval(st) - seg->tsecr; /* RFC 7323 4.1 */
    rtt_ok = true;
  }
  if (rtt_ok) tcp_rtt_sample(pcb, rtt);
  if (!pcb->persist) c->nrtx = 0; /* RFC 6298 5.7: backoff ends */
  update_wnd(pcb, seg, true);
  tcp_cc_undo_lt(pcb);
  tcp_cc_acked(pcb, acked, flight0);
  c->dupacks = 0;
  if (sacked && !pcb->recovery) tcp_cc_sack(pcb);
  /* RFC 6298 5.2 / 5.3 */
  if (!pcb->persist) {
    if (tcp_flight(pcb) == 0)
      tcp_stop_rtx(pcb);
    else
      tcp_arm_rtx(pcb);
  }
  if (data_acked && !tcp_cb_sent(pcb, data_acked)) return false;
  return true;
}
