/* tcp_listen.c: segments for a listener (RFC 9293 3.10.7.2).
 *
 * A SYN makes a half-open child in SYN_RCVD while the listener has fewer
 * than opts.tcp_syn_backlog of them; beyond that (or when no pcb can be
 * allocated) the SYN-ACK carries a SYN cookie (RFC 4987 3.6) and no state
 * is kept: a later ACK with a valid cookie creates the connection
 * directly in ESTABLISHED. A RST is ignored; any other ACK gets a RST.
 */
#include "ip/tcp_internal.h"

static void listener_defaults(tern_tcp *child, const tern_tcp *l) {
  struct tcp_conn_part *c = &child->u.c;
  c->snd_buf_u = l->u.l.snd_buf_u;
  c->rcv_buf_u = l->u.l.rcv_buf_u;
  c->ka_idle_s = l->u.l.ka_idle_s;
  c->ka_intvl_s = l->u.l.ka_intvl_s;
  c->poll_ms = l->u.l.poll_ms;
  child->ka_cnt = l->ka_cnt;
  child->nodelay = l->nodelay;
  child->ttl = l->ttl;
  child->tos = l->tos;
  child->cbs = l->cbs;
  child->arg = l->arg;
}

static tern_tcp *new_child(tern_tcp *l, const ip_rx *rx, uint16_t rport) {
  tern_tcp *child = tcp_pcb_alloc(l->st);
  if (!child) return NULL;
  listener_defaults(child, l);
  child->local_ip = rx->dst;
  child->local_port = l->local_port;
  child->remote_ip = rx->src;
  child->remote_port = rport;
  child->u.c.mss = TCP_MSS_DEFAULT;
  child->u.c.rcv_wnd = tcp_rcv_buf(child);
  return child;
}

/* The options of our cookie SYN-ACK: what the peer offered. */
static void cookie_synack(tern_tcp *l, const tcp_seg *seg, const ip_rx *rx,
                          uint16_t rport) {
  tern_stack *st = l->st;
  uint32_t tsval = 0;
  uint32_t isn = tcp_cookie_make(st, seg, rx, l->local_port, rport, &tsval);
  uint8_t o[40];
  /* WS and SACK-permitted only with timestamps (the cookie keeps them in
   * our TSval) */
  uint8_t n = tcp_put_syn_opts(
      o, tcp_mss_for(st, rx->src),
      seg->wscale != 0xff && seg->has_ts
          ? tcp_pick_wscale(l->u.l.rcv_buf_u)
          : 0xff,
      seg->sack_ok && seg->has_ts, seg->has_ts, tsval, seg->tsval);
  uint32_t buf = (uint32_t)l->u.l.rcv_buf_u * TCP_BUF_UNIT;
  ip_stat_inc(&st->stats.tcp_syn_cookies);
  tcp_send_raw(st, rx->dst, l->local_port, rx->src, rport, isn, seg->seq + 1,
               TCP_SYN | TCP_ACK, (uint16_t)(buf > 0xffff ? 0xffff : buf), o,
               n, l);
}

static void syn_input(tern_tcp *l, const tcp_seg *seg, const ip_rx *rx,
                      uint16_t rport) {
  tern_stack *st = l->st;
  tern_tcp *child = NULL;
  if (l->u.l.half_open < st->opts.tcp_syn_backlog)
    child = new_child(l, rx, rport);
  if (!child) { /* backlog full or no memory: keep no state */
    cookie_synack(l, seg, rx, rport);
    return;
  }
  struct tcp_conn_part *c = &child->u.c;
  uint32_t iss = tcp_isn(st, rx->dst, l->local_port, rx->src, rport);
  c->snd_una = iss;
  c->snd_nxt = iss + 1;
  c->snd_lbb = iss + 1;
  c->rcv_nxt = seg->seq + 1;
  c->rcv_adv = c->rcv_nxt;
  c->rcv_wscale = tcp_pick_wscale(c->rcv_buf_u) & 15u;
  tcp_take_syn_opts(child, seg);
  if (seg->wscale == 0xff)
    c->snd_wscale = 15; /* none: the SYN-ACK offers none either */
  c->snd_wnd = seg->wnd;
  c->u.parent = l;
  l->u.l.half_open++;
  child->state = TERN_TCP_SYN_RCVD;
  tcp_link(child, TCP_LIST_CONN);
  tcp_cc_init(child);
  c->due_ka = tcp_now32(st); /* the SYN-ACK's time: an RTT sample */
  tcp_send_ctl(child, TCP_SYN | TCP_ACK);
  tcp_set_rtx_rto(child);
}

/* An ACK that may complete a cookie handshake. */
static void cookie_ack(tern_tcp *l, tern_pbuf *p, tcp_seg *seg,
                       const ip_rx *rx, uint16_t rport) {
  tern_stack *st = l->st;
  uint16_t mss;
  uint8_t ws;
  bool sack;
  if (!tcp_cookie_check(st, seg, rx, l->local_port, rport, &mss, &ws, &sack)) {
    tcp_send_rst_for(st, seg, rx, l->local_port, rport);
    ip_stat_inc(&st->stats.tcp_drop);
    tern_pbuf_free(p);
    return;
  }
  tern_tcp *child = new_child(l, rx, rport);
  if (!child) {
    ip_stat_inc(&st->stats.tcp_drop);
    tern_pbuf_free(p);
    return;
  }
  struct tcp_conn_part *c = &child->u.c;
  c->snd_una = c->snd_nxt = c->snd_lbb = seg->ack;
  c->rcv_nxt = seg->seq;
  child->ts_on = seg->has_ts;
  c->ts_recent = seg->tsval;
  child->sack_on = sack;
  uint32_t mine = tcp_mss_for(st, rx->src);
  uint32_t m = mss < mine ? mss : mine;
  if (child->ts_on) m -= 12;
  c->mss = (uint16_t)m;
  if (ws != 0xff) {
    c->snd_wscale = ws & 15u;
    c->rcv_wscale = tcp_pick_wscale(c->rcv_buf_u) & 15u;
  }
  uint32_t buf = tcp_rcv_buf(child);
  c->rcv_adv = c->rcv_nxt + (buf > 0xffff ? 0xffff : buf);
  c->snd_wnd = seg->wnd << c->snd_wscale;
  child->state = TERN_TCP_ESTABLISHED;
  tcp_link(child, TCP_LIST_CONN);
  tcp_cc_init(child);
  tcp_ka_reset(child);
  tcp_poll_reset(child);
  tcp_busy(child);
  if (!tcp_cb_accept(l, child)) {
    if (!tcp_gone(child)) tcp_output(child); /* closed inside accept */
    tcp_unbusy(child);
    tern_pbuf_free(p);
    return;
  }
  child->busy = 0;
  /* the rest of the segment (data, FIN) as for any connection */
  if (seg->len || (seg->flags & TCP_FIN))
    tcp_conn_input(child, p, seg);
  else
    tern_pbuf_free(p);
}

void tcp_listen_input(tern_tcp *l, tern_pbuf *p, tcp_seg *seg,
                      const ip_rx *rx) {
  uint16_t rport = seg->sport;
  if (seg->flags & TCP_RST) goto drop; /* 3.10.7.2: ignore a RST */
  if (seg->flags & TCP_ACK) {
    if (!(seg->flags & TCP_SYN)) {
      cookie_ack(l, p, seg, rx, rport);
      return;
    }
    tcp_send_rst_for(l->st, seg, rx, l->local_port, rport);
    goto drop;
  }
  if (seg->flags & TCP_SYN) {
    /* data in a SYN waits for the retransmission (we ACK only the SYN) */
    syn_input(l, seg, rx, rport);
    tern_pbuf_free(p);
    return;
  }
drop:
  ip_stat_inc(&l->st->stats.tcp_drop);
  tern_pbuf_free(p);
}
