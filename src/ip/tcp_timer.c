/* tcp_timer.c: the per-pcb timer.
 *
 * Each pcb embeds one ip_timer armed for the earliest of its deadlines:
 *   rtx   retransmission (RFC 6298 5), SYN retries, the persist timer
 *         (RFC 9293 3.8.6.1), TIME-WAIT (2 MSL) and the FIN-WAIT-2 limit
 *         of an orphan: they never run at the same time, so they share it
 *   ka    keepalive (RFC 9293 3.8.4 / RFC 1122 4.2.3.6)
 *   dack  the delayed ACK (RFC 9293 3.8.6.3)
 *   poll  the poll callback, and the retry of data the app refused
 * The pcb is busy while its timer runs; every callback may end it.
 */
#include "ip/tcp_internal.h"

#define TCP_REFUSED_RETRY_MS 250

static int32_t left16(uint16_t due, uint32_t now) {
  return (int16_t)(uint16_t)(due - (uint16_t)now);
}

void tcp_timer_update(tern_tcp *pcb) {
  tern_stack *st = pcb->st;
  if (pcb->dead) return;
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t now = tcp_now32(st);
  int32_t best = INT32_MAX;
  if (pcb->state == TERN_TCP_LISTEN) {
    ip_timer_stop(st, &pcb->tmr);
    return;
  }
  if (pcb->t_rtx && tcp_tdiff(c->due_rtx, now) < best)
    best = tcp_tdiff(c->due_rtx, now);
  if (pcb->t_ka && tcp_tdiff(c->due_ka, now) < best)
    best = tcp_tdiff(c->due_ka, now);
  if (pcb->t_dack && left16(c->due_dack, now) < best)
    best = left16(c->due_dack, now);
  if (pcb->t_poll && left16(c->due_poll, now) < best)
    best = left16(c->due_poll, now);
  if (best == INT32_MAX) {
    ip_timer_stop(st, &pcb->tmr);
    return;
  }
  if (best < 0) best = 0;
  uint32_t due = now + (uint32_t)best;
  if (!ip_timer_armed(&pcb->tmr) || pcb->tmr.due != due)
    ip_timer_set(st, &pcb->tmr, due);
}

void tcp_set_rtx(tern_tcp *pcb, uint32_t ms) {
  pcb->u.c.due_rtx = tcp_now32(pcb->st) + ms;
  pcb->pto = 0;
  pcb->t_rtx = 1;
  tcp_timer_update(pcb);
}

void tcp_set_rtx_rto(tern_tcp *pcb) { tcp_set_rtx(pcb, tcp_rto(pcb)); }

/* RFC 8985 7.2: with SACK and an RTT measured, outside recovery, the
 * timer fires first after PTO = 2 SRTT (plus the peer's delayed ACK when
 * one segment is out) so a lost tail is found without waiting an RTO. */
void tcp_arm_rtx(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t rto = tcp_rto(pcb);
  if (pcb->sack_on && pcb->rtt_seeded && !pcb->recovery && !pcb->loss &&
      !pcb->persist && c->nrtx == 0) {
    uint32_t pto = 2 * (c->srtt8 >> 3);
    if (tcp_flight(pcb) <= c->mss) pto += TCP_DACK_MS;
    if (pto < 10) pto = 10;
    if (pto < rto) {
      tcp_set_rtx(pcb, pto);
      pcb->pto = 1;
      return;
    }
  }
  tcp_set_rtx(pcb, rto);
}

void tcp_stop_rtx(tern_tcp *pcb) {
  if (!pcb->t_rtx) return;
  pcb->t_rtx = 0;
  tcp_timer_update(pcb);
}

void tcp_set_dack(tern_tcp *pcb) {
  if (pcb->t_dack) return;
  pcb->u.c.due_dack = (uint16_t)(tcp_now32(pcb->st) + TCP_DACK_MS);
  pcb->t_dack = 1;
  tcp_timer_update(pcb);
}

/* RFC 1122 4.2.3.6: probes only after an idle interval (ka_idle_s). */
void tcp_ka_reset(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  c->ka_probes = 0;
  if (!c->ka_idle_s || pcb->state == TERN_TCP_TIME_WAIT) {
    if (pcb->t_ka) {
      pcb->t_ka = 0;
      tcp_timer_update(pcb);
    }
    return;
  }
  uint32_t due = tcp_now32(pcb->st) + (uint32_t)c->ka_idle_s * 1000u;
  /* re-arming on every segment would churn the heap: the timer checks
   * again when it fires early */
  if (pcb->t_ka && tcp_tdiff(due, c->due_ka) < 1000 &&
      tcp_tdiff(due, c->due_ka) >= 0) {
    c->due_ka = due;
    return;
  }
  c->due_ka = due;
  pcb->t_ka = 1;
  tcp_timer_update(pcb);
}

void tcp_poll_reset(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t ms = c->poll_ms;
  if (pcb->user_closed) ms = 0;
  if (c->refused && (!ms || ms > TCP_REFUSED_RETRY_MS)) ms = TCP_REFUSED_RETRY_MS;
  if (!ms) {
    if (pcb->t_poll) {
      pcb->t_poll = 0;
      tcp_timer_update(pcb);
    }
    return;
  }
  if (ms > 30000) ms = 30000;
  c->due_poll = (uint16_t)(tcp_now32(pcb->st) + ms);
  pcb->t_poll = 1;
  tcp_timer_update(pcb);
}

/* ---- handlers --------------------------------------------------------------- */

static void syn_timeout(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (++c->nrtx > TCP_SYN_RETRIES) {
    if (pcb->state == TERN_TCP_SYN_RCVD && c->u.parent) {
      pcb->user_closed = 1; /* a half-open child nobody knows of */
      tcp_pcb_kill(pcb);
    } else {
      tcp_fail(pcb, TERN_ETIMEDOUT);
    }
    return;
  }
  ip_stat_inc(&pcb->st->stats.tcp_retrans);
  tcp_send_ctl(pcb, pcb->state == TERN_TCP_SYN_SENT ? TCP_SYN
                                                    : TCP_SYN | TCP_ACK);
  tcp_set_rtx_rto(pcb);
}

/* RFC 9293 3.8.6.1: the persist timer probes a zero window. The probes
 * back off like the RTO; 15 unanswered ones end the connection. */
static void persist_timeout(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  if (c->ka_probes >= 15) {
    tcp_fail(pcb, TERN_ETIMEDOUT);
    return;
  }
  c->ka_probes++;
  tcp_zero_window_probe(pcb);
  if (c->nrtx < 15) c->nrtx++;
  tcp_set_rtx_rto(pcb);
}

/* RFC 6298 5.4-5.7 */
static void rto_timeout(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  tern_stack *st = pcb->st;
  if (tcp_flight(pcb) == 0) { /* nothing in flight: a retry of output */
    tcp_output(pcb);
    return;
  }
  if (c->nrtx >= TCP_MAX_RETRIES) { /* RFC 9293 3.8.3 R2 */
    tcp_fail(pcb, TERN_ETIMEDOUT);
    return;
  }
  c->nrtx++;
  tcp_stat_sat(&c->n_rto, &st->stats.tcp_rto);
  tcp_cc_rto(pcb);
  /* (5.4) retransmit the earliest segment not acknowledged */
  tern_pbuf *q = c->sndq;
  tcp_rexmit_head(pcb);
  (void)q;
  /* (5.5), (5.6) */
  tcp_set_rtx_rto(pcb);
}

/* RFC 8985 7.3: the probe resends the last segment in flight (new data
 * would be sent already if the windows allowed); its ACK, with SACK
 * blocks, lets recovery find a lost tail. Then the RTO runs. */
static void tlp_fire(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  tern_pbuf *last = NULL;
  for (tern_pbuf *q = c->sndq; q && seq_lt(q->q_seq, c->snd_nxt);
       q = q->q_next)
    last = q;
  if (last && !(last->q_flags & TCPQ_SACKED))
    tcp_rexmit_entry(pcb, last);
  else if (!last)
    tcp_rexmit_head(pcb); /* a FIN alone */
  tcp_set_rtx_rto(pcb);
}

static void rtx_due(tern_tcp *pcb) {
  pcb->t_rtx = 0;
  switch (pcb->state) {
  case TERN_TCP_TIME_WAIT:
    tcp_finished(pcb);
    return;
  case TERN_TCP_FIN_WAIT_2:
    if (pcb->user_closed) tcp_finished(pcb);
    return;
  case TERN_TCP_SYN_SENT: case TERN_TCP_SYN_RCVD:
    syn_timeout(pcb);
    return;
  case TERN_TCP_CLOSED: case TERN_TCP_LISTEN:
    return;
  default: break;
  }
  if (pcb->persist)
    persist_timeout(pcb);
  else if (pcb->pto && tcp_flight(pcb))
    tlp_fire(pcb);
  else
    rto_timeout(pcb);
}

static void ka_due(tern_tcp *pcb) {
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t now = tcp_now32(pcb->st);
  pcb->t_ka = 0;
  if (!c->ka_idle_s) return;
  if (pcb->state != TERN_TCP_ESTABLISHED && pcb->state != TERN_TCP_CLOSE_WAIT)
    return;
  if (tcp_flight(pcb) || pcb->persist) { /* not idle: look again later */
    c->due_ka = now + (uint32_t)c->ka_idle_s * 1000u;
    pcb->t_ka = 1;
    return;
  }
  if (c->ka_probes >= (pcb->ka_cnt ? pcb->ka_cnt : 9u)) {
    tcp_fail(pcb, TERN_ETIMEDOUT);
    return;
  }
  c->ka_probes++;
  /* RFC 9293 3.8.4: SEG.SEQ = SND.NXT - 1, no data: the peer ACKs */
  tern_stack *st = pcb->st;
  uint8_t o[12];
  uint8_t n = 0;
  if (pcb->ts_on) n = tcp_put_ts(o, tcp_tsval(st), c->ts_recent);
  tcp_send_raw(st, pcb->local_ip, pcb->local_port, pcb->remote_ip,
               pcb->remote_port, c->snd_nxt - 1, c->rcv_nxt, TCP_ACK,
               tcp_rcv_wnd_field(pcb, false), o, n, pcb);
  c->due_ka = now + (uint32_t)(c->ka_intvl_s ? c->ka_intvl_s : 1) * 1000u;
  pcb->t_ka = 1;
}

static void poll_due(tern_tcp *pcb) {
  pcb->t_poll = 0;
  if (!tcp_deliver_refused(pcb)) return;
  if (pcb->u.c.poll_ms && !tcp_cb_poll(pcb)) return;
  tcp_poll_reset(pcb);
}

void tcp_timer_fn(tern_stack *st, ip_timer *t) {
  tern_tcp *pcb = (tern_tcp *)(void *)((uint8_t *)t - offsetof(tern_tcp, tmr));
  uint32_t now = tcp_now32(st);
  struct tcp_conn_part *c = &pcb->u.c;
  tcp_busy(pcb);
  if (pcb->t_dack && left16(c->due_dack, now) <= 0) {
    pcb->t_dack = 0;
    if (pcb->ack_delayed || pcb->ack_now) pcb->ack_now = 1;
  }
  if (!tcp_gone(pcb) && pcb->t_rtx && tcp_tdiff(c->due_rtx, now) <= 0)
    rtx_due(pcb);
  if (!tcp_gone(pcb) && pcb->t_ka && tcp_tdiff(c->due_ka, now) <= 0)
    ka_due(pcb);
  if (!tcp_gone(pcb) && pcb->t_poll && left16(c->due_poll, now) <= 0)
    poll_due(pcb);
  if (!tcp_gone(pcb) && pcb->state != TERN_TCP_CLOSED &&
      pcb->state != TERN_TCP_LISTEN)
    tcp_output(pcb);
  if (!tcp_gone(pcb)) tcp_timer_update(pcb);
  tcp_unbusy(pcb);
}
