/* tcp.c: TCP control blocks (RFC 9293 3.3.2): allocation and lookup,
 * ports, initial sequence numbers (RFC 6528), bind/listen/connect,
 * close/shutdown/abort, and connection info. The callback wrappers are
 * in tcp_cb.c.
 *
 * Call order: the user creates a pcb (tern_tcp_new), binds, then listens
 * or connects; segments arrive through ip_tcp_input (tcp_in.c) and leave
 * through tcp_output (tcp_out.c); the per-pcb timer (tcp_timer.c) drives
 * retransmission. A pcb is freed by tern_tcp_abort, by close once the
 * connection is over, or by the stack after err().
 *
 * Lifetime: while input or a timer works on a pcb it is `busy`; anything
 * that ends the pcb then (a callback that aborts it, a RST) marks it
 * `dead` and unlinks it, and tcp_unbusy frees it when the stack is done.
 */
#include "ip/tcp_internal.h"

#if UINTPTR_MAX == 0xffffffffu
/* The footprint target on 32-bit targets: lwIP's tcp_pcb is 156 bytes. */
_Static_assert(sizeof(struct tern_tcp) <= 156, "struct tern_tcp too big");
#endif

/* ---- init / deinit --------------------------------------------------------- */

int ip_tcp_init(tern_stack *st) {
  struct tcp_ctx *c = ip_malloc(st, sizeof *c);
  if (!c) return TERN_ENOMEM;
  for (int i = 0; i < 4; i++) c->key[i] = ip_random32(st);
  c->next_port = (uint16_t)(TCP_EPHEMERAL_LO +
                            ip_random32(st) % (65536u - TCP_EPHEMERAL_LO));
  st->tcp = c;
  return TERN_OK;
}

static void free_list(tern_stack *st, tern_tcp *p) {
  while (p) {
    tern_tcp *n = p->next;
    p->busy = 0;
    p->user_closed = 1;
    tcp_pcb_kill(p);
    (void)st;
    p = n;
  }
}

void ip_tcp_deinit(tern_stack *st) {
  struct tcp_ctx *c = st->tcp;
  if (!c) return;
  for (unsigned i = 0; i < TCP_HASH_BUCKETS; i++) free_list(st, c->conns[i]);
  free_list(st, c->listeners);
  free_list(st, c->bound);
  ip_free(st, c);
  st->tcp = NULL;
}

/* ---- allocation and lists ------------------------------------------------- */

void tcp_stat_sat(uint16_t *c, uint64_t *stack_ctr) {
  if (*c != UINT16_MAX) (*c)++;
  (*stack_ctr)++;
}

IP_NOINLINE static uint16_t buf_units(uint32_t bytes) {
  uint32_t u = (bytes + TCP_BUF_UNIT - 1) / TCP_BUF_UNIT;
  if (u < 4) u = 4; /* at least 1 KiB */
  return (uint16_t)(u > UINT16_MAX ? UINT16_MAX : u);
}

tern_tcp *tcp_pcb_alloc(tern_stack *st) {
  struct tcp_ctx *c = st->tcp;
  if (c->n_pcbs >= st->opts.max_tcp) return NULL;
  tern_tcp *pcb = ip_malloc(st, sizeof *pcb);
  if (!pcb) return NULL;
  pcb->st = st;
  pcb->tmr.fn = tcp_timer_fn; /* ip_malloc zeroed the rest: not armed */
  c->n_pcbs++;
  st->stats.tcp_pcbs = c->n_pcbs;
  return pcb;
}

void tcp_init_conn(tern_tcp *pcb, tern_stack *st) {
  pcb->u.c.snd_buf_u = buf_units(st->opts.tcp_snd_buf);
  pcb->u.c.rcv_buf_u = buf_units(st->opts.tcp_rcv_wnd);
  pcb->u.c.mss = TCP_MSS_DEFAULT;
}

IP_NOINLINE
static uint32_t tuple_hash(uint32_t lip, uint16_t lport, uint32_t rip,
                           uint16_t rport) {
  uint32_t h = lip ^ (rip * 2654435761u) ^ ((uint32_t)lport << 16 | rport);
  h ^= h >> 15;
  h *= 2246822519u;
  h ^= h >> 13;
  return h % TCP_HASH_BUCKETS;
}

static tern_tcp **list_head(tern_tcp *pcb, unsigned list) {
  struct tcp_ctx *c = pcb->st->tcp;
  switch (list) {
  case TCP_LIST_CONN:
    return &c->conns[tuple_hash(pcb->local_ip, pcb->local_port,
                                pcb->remote_ip, pcb->remote_port)];
  case TCP_LIST_LISTEN: return &c->listeners;
  case TCP_LIST_BOUND: return &c->bound;
  default: return NULL;
  }
}

void tcp_link(tern_tcp *pcb, unsigned list) {
  tcp_unlink(pcb);
  tern_tcp **h = list_head(pcb, list);
  if (!h) return;
  pcb->next = *h;
  *h = pcb;
  pcb->list = list & 3u;
}

void tcp_unlink(tern_tcp *pcb) {
  tern_tcp **h = list_head(pcb, pcb->list);
  if (!h) return;
  for (; *h; h = &(*h)->next) {
    if (*h == pcb) {
      *h = pcb->next;
      break;
    }
  }
  pcb->next = NULL;
  pcb->list = TCP_LIST_NONE;
}

tern_tcp *tcp_lookup(tern_stack *st, uint32_t lip, uint16_t lport,
                     uint32_t rip, uint16_t rport) {
  tern_tcp *p = st->tcp->conns[tuple_hash(lip, lport, rip, rport)];
  for (; p; p = p->next)
    if (p->local_port == lport && p->remote_port == rport &&
        p->local_ip == lip && p->remote_ip == rip)
      return p;
  return NULL;
}

tern_tcp *tcp_lookup_listener(tern_stack *st, uint32_t lip, uint16_t lport) {
  tern_tcp *any = NULL;
  for (tern_tcp *p = st->tcp->listeners; p; p = p->next) {
    if (p->local_port != lport) continue;
    if (p->local_ip == lip) return p;
    if (p->local_ip == 0) any = p;
  }
  return any;
}

/* ---- ISNs (RFC 6528) ------------------------------------------------------- */

/* ISN = M + F(localip, localport, remoteip, remoteport, secretkey): M a
 * clock ticking every 4 us (from the stack's ms time), F SipHash-2-4
 * keyed with a per-stack secret from ip_random32. */
uint32_t tcp_isn(tern_stack *st, uint32_t lip, uint16_t lport, uint32_t rip,
                 uint16_t rport) {
  uint32_t w[3] = {lip, rip, (uint32_t)lport << 16 | rport};
  uint32_t f = (uint32_t)tcp_siphash(st->tcp->key, w, 3);
  return (uint32_t)(st->now * TCP_ISN_HZ) + f;
}

/* ---- ports ------------------------------------------------------------------ */

static bool port_used_in(tern_tcp *p, uint32_t ip, uint16_t port, bool all) {
  for (; p; p = p->next) {
    if (p->local_port != port) continue;
    if (!all && (p->state == TERN_TCP_TIME_WAIT)) continue;
    if (p->local_ip == ip || !p->local_ip || !ip) return true;
  }
  return false;
}

static bool port_used(tern_stack *st, uint32_t ip, uint16_t port, bool all) {
  struct tcp_ctx *c = st->tcp;
  if (port_used_in(c->listeners, ip, port, all) ||
      port_used_in(c->bound, ip, port, all))
    return true;
  for (unsigned i = 0; i < TCP_HASH_BUCKETS; i++)
    if (port_used_in(c->conns[i], ip, port, all)) return true;
  return false;
}

static uint16_t ephemeral_port(tern_stack *st, uint32_t ip) {
  struct tcp_ctx *c = st->tcp;
  for (uint32_t n = 0; n < 65536u - TCP_EPHEMERAL_LO; n++) {
    uint16_t p = c->next_port;
    c->next_port = (uint16_t)(p == 65535 ? TCP_EPHEMERAL_LO : p + 1);
    if (!port_used(st, ip, p, true)) return p;
  }
  return 0;
}

/* ---- the public API: lifecycle ------------------------------------------------ */

tern_tcp *tern_tcp_new(tern_stack *st) {
  IP_CTX(st);
  if (!st || !st->tcp) return NULL;
  tern_tcp *pcb = tcp_pcb_alloc(st);
  if (!pcb) return NULL;
  tcp_init_conn(pcb, st);
  return pcb;
}

void tern_tcp_set_callbacks(tern_tcp *pcb, const tern_tcp_cbs *cbs,
                            void *arg) {
  pcb->cbs = cbs;
  pcb->arg = arg;
}

void tern_tcp_set_arg(tern_tcp *pcb, void *arg) { pcb->arg = arg; }

int tern_tcp_bind(tern_tcp *pcb, const tern_addr *local) {
  IP_CTX(pcb ? pcb->st : NULL);
  uint32_t ip = 0;
  if (pcb->dead || pcb->state != TERN_TCP_CLOSED || pcb->local_port)
    return TERN_EINVAL;
  if (local && !ip_addr_from(local, &ip)) return TERN_EAFNOSUPPORT;
  if (ip && !ip4_is_local(pcb->st, ip)) return TERN_EADDRNOTAVAIL;
  uint16_t port = local ? local->port : 0;
  if (port == 0) {
    port = ephemeral_port(pcb->st, ip);
    if (!port) return TERN_EADDRINUSE;
  } else if (port_used(pcb->st, ip, port, false)) {
    return TERN_EADDRINUSE;
  }
  pcb->local_ip = ip;
  pcb->local_port = port;
  tcp_link(pcb, TCP_LIST_BOUND);
  return TERN_OK;
}

int tern_tcp_listen(tern_tcp *pcb, uint32_t backlog) {
  IP_CTX(pcb ? pcb->st : NULL);
  if (pcb->dead || pcb->state != TERN_TCP_CLOSED) return TERN_EINVAL;
  if (!pcb->local_port) {
    int err = tern_tcp_bind(pcb, NULL);
    if (err) return err;
  }
  struct tcp_conn_part c = pcb->u.c;
  memset(&pcb->u, 0, sizeof pcb->u);
  pcb->u.l.backlog = (uint16_t)(backlog > UINT16_MAX ? UINT16_MAX : backlog);
  pcb->u.l.snd_buf_u = c.snd_buf_u;
  pcb->u.l.rcv_buf_u = c.rcv_buf_u;
  pcb->u.l.ka_idle_s = c.ka_idle_s;
  pcb->u.l.ka_intvl_s = c.ka_intvl_s;
  pcb->u.l.poll_ms = c.poll_ms;
  pcb->state = TERN_TCP_LISTEN;
  tcp_link(pcb, TCP_LIST_LISTEN);
  return TERN_OK;
}

uint8_t tcp_pick_wscale(uint32_t rcv_buf_u) {
  uint32_t rcv_buf = rcv_buf_u * TCP_BUF_UNIT;
  uint8_t ws = 0;
  while (ws < TCP_MAX_WSCALE && (rcv_buf >> ws) > 0xffffu) ws++;
  /* RFC 7323 2.2: offer scaling even when not needed now, so a window
   * opened later (set_bufs) is not capped: 7 like Linux. */
  return ws < 7 ? 7 : ws;
}

int tern_tcp_connect(tern_tcp *pcb, const tern_addr *peer) {
  IP_CTX(pcb ? pcb->st : NULL);
  uint32_t rip;
  tern_stack *st = pcb->st;
  if (pcb->dead) return TERN_ECLOSED;
  if (pcb->state != TERN_TCP_CLOSED || pcb->remote_port) return TERN_EALREADY;
  if (!peer || !ip_addr_from(peer, &rip)) return TERN_EAFNOSUPPORT;
  if (!peer->port || !rip) return TERN_EINVAL;
  uint32_t src = pcb->local_ip ? pcb->local_ip : ip4_source_for(st, rip);
  if (!src) return TERN_ENETUNREACH;
  uint16_t lport = pcb->local_port;
  if (!lport && !(lport = ephemeral_port(st, src))) return TERN_EADDRINUSE;
  if (tcp_lookup(st, src, lport, rip, peer->port)) return TERN_EADDRINUSE;
  pcb->local_ip = src;
  pcb->local_port = lport;
  pcb->remote_ip = rip;
  pcb->remote_port = peer->port;
  uint32_t iss = tcp_isn(st, src, lport, rip, peer->port);
  pcb->u.c.snd_una = pcb->u.c.snd_nxt = iss;
  pcb->u.c.snd_lbb = iss + 1;
  /* until the SYN-ACK says: our MSS less the timestamp option we offer
   * (data written before then is cut to it) */
  pcb->u.c.mss = (uint16_t)(tcp_mss_for(st, rip) - 12);
  pcb->u.c.rcv_wnd = tcp_rcv_buf(pcb);
  pcb->u.c.rcv_wscale = tcp_pick_wscale(pcb->u.c.rcv_buf_u) & 15u;
  tcp_cc_init(pcb);
  pcb->state = TERN_TCP_SYN_SENT;
  tcp_link(pcb, TCP_LIST_CONN);
  ip_stat_inc(&st->stats.tcp_connects);
  /* A SYN the pool cannot build now goes out when the RTO fires. */
  pcb->u.c.due_ka = tcp_now32(st); /* the SYN's time: an RTT sample */
  tcp_send_ctl(pcb, TCP_SYN);
  pcb->u.c.snd_nxt = iss + 1;
  tcp_set_rtx_rto(pcb);
  return TERN_OK;
}

/* ---- ending ---------------------------------------------------------------- */

void tcp_pcb_purge(tern_tcp *pcb) {
  tern_stack *st = pcb->st;
  ip_timer_stop(st, &pcb->tmr);
  if (pcb->state == TERN_TCP_TIME_WAIT && st->tcp->n_tw) {
    st->tcp->n_tw--;
    st->stats.tcp_time_wait = st->tcp->n_tw;
  }
  if (pcb->state != TERN_TCP_LISTEN) {
    ip_pbuf_free_queue(pcb->u.c.sndq);
    pcb->u.c.sndq = pcb->u.c.sndq_tail = pcb->u.c.snd_cur = NULL;
    if (pcb->state == TERN_TCP_SYN_RCVD && pcb->u.c.u.parent) {
      tern_tcp *l = pcb->u.c.u.parent;
      if (l->u.l.half_open) l->u.l.half_open--;
      pcb->u.c.u.parent = NULL;
    } else {
      tcp_ooseq_free(pcb);
    }
    if (pcb->u.c.refused) tern_pbuf_free(pcb->u.c.refused);
    pcb->u.c.refused = NULL;
    pcb->u.c.snd_lbb = pcb->u.c.snd_una;
  }
  tcp_unlink(pcb);
  pcb->t_rtx = pcb->t_ka = pcb->t_dack = pcb->t_poll = 0;
  pcb->state = TERN_TCP_CLOSED;
}

void tcp_pcb_free(tern_tcp *pcb) {
  tern_stack *st = pcb->st;
  st->tcp->n_pcbs--;
  st->stats.tcp_pcbs = st->tcp->n_pcbs;
  ip_free(st, pcb);
}

/* Abort the listener's half-open children (RST, silently). */
static void kill_children(tern_tcp *l) {
  struct tcp_ctx *c = l->st->tcp;
  for (unsigned i = 0; i < TCP_HASH_BUCKETS; i++) {
    tern_tcp *p = c->conns[i];
    while (p) {
      tern_tcp *n = p->next;
      if (p->state == TERN_TCP_SYN_RCVD && p->u.c.u.parent == l) {
        p->user_closed = 1;
        tcp_send_rst(p);
        tcp_pcb_kill(p);
      }
      p = n;
    }
  }
}

void tcp_pcb_kill(tern_tcp *pcb) {
  if (pcb->state == TERN_TCP_LISTEN) kill_children(pcb);
  tcp_pcb_purge(pcb);
  if (pcb->dead) return;
  pcb->dead = 1;
  if (!pcb->busy) tcp_pcb_free(pcb);
}

void tcp_busy(tern_tcp *pcb) { pcb->busy = 1; }

bool tcp_unbusy(tern_tcp *pcb) {
  pcb->busy = 0;
  if (pcb->dead) {
    tcp_pcb_free(pcb);
    return true;
  }
  return false;
}

void tcp_fail(tern_tcp *pcb, int err) {
  if (pcb->dead) return;
  bool was_busy = pcb->busy;
  pcb->busy = 1; /* hold the memory across err() */
  tcp_pcb_purge(pcb);
  pcb->dead = 1;
  if (!pcb->user_closed) tcp_cb_err(pcb, err);
  pcb->busy = was_busy;
  if (!was_busy) tcp_pcb_free(pcb);
}

void tcp_finished(tern_tcp *pcb) {
  /* The connection is over. A pcb the user still holds stays, CLOSED,
   * until they close or abort it; one they let go is freed. */
  if (pcb->user_closed) {
    tcp_pcb_kill(pcb);
    return;
  }
  tcp_pcb_purge(pcb);
  tcp_link(pcb, TCP_LIST_BOUND);
}

/* RFC 9293 3.10.7.4: TIME-WAIT for 2 MSL. The number of pcbs waiting is
 * bounded (max_time_wait): when full the oldest gives up its place (RFC
 * 6191's spirit: TIME_WAIT protects, but not at any cost). */
void tcp_enter_time_wait(tern_tcp *pcb) {
  tern_stack *st = pcb->st;
  struct tcp_ctx *c = st->tcp;
  if (c->n_tw >= st->opts.max_time_wait) {
    tern_tcp *old = NULL;
    for (unsigned i = 0; i < TCP_HASH_BUCKETS; i++)
      for (tern_tcp *p = c->conns[i]; p; p = p->next)
        if (p->state == TERN_TCP_TIME_WAIT && p != pcb &&
            (!old || tcp_tdiff(p->u.c.due_rtx, old->u.c.due_rtx) < 0))
          old = p;
    if (old) tcp_finished(old);
  }
  /* what is still queued can never be sent now */
  tcp_ooseq_free(pcb);
  pcb->state = TERN_TCP_TIME_WAIT;
  c->n_tw++;
  st->stats.tcp_time_wait = c->n_tw;
  pcb->t_ka = pcb->t_poll = 0;
  pcb->persist = 0;
  tcp_set_rtx(pcb, 2 * st->opts.tcp_msl_ms);
}

void tern_tcp_abort(tern_tcp *pcb) {
  IP_CTX(pcb ? pcb->st : NULL);
  if (!pcb || pcb->dead) return;
  pcb->user_closed = 1;
  switch (pcb->state) {
  case TERN_TCP_SYN_RCVD: case TERN_TCP_ESTABLISHED:
  case TERN_TCP_FIN_WAIT_1: case TERN_TCP_FIN_WAIT_2:
  case TERN_TCP_CLOSE_WAIT: case TERN_TCP_CLOSING: case TERN_TCP_LAST_ACK:
    /* RFC 9293 3.10.5 ABORT: send a reset */
    tcp_send_rst(pcb);
    break;
  default: break;
  }
  tcp_pcb_kill(pcb);
}

static bool has_unread(const tern_tcp *pcb) {
  return pcb->u.c.refused != NULL;
}

/* RFC 9293 3.10.4 CLOSE. */
int tern_tcp_close(tern_tcp *pcb) {
  IP_CTX(pcb ? pcb->st : NULL);
  if (!pcb || pcb->dead) return TERN_ECLOSED;
  switch (pcb->state) {
  case TERN_TCP_CLOSED: case TERN_TCP_LISTEN: case TERN_TCP_SYN_SENT:
    pcb->user_closed = 1;
    tcp_pcb_kill(pcb);
    return TERN_OK;
  case TERN_TCP_SYN_RCVD: case TERN_TCP_ESTABLISHED:
  case TERN_TCP_CLOSE_WAIT:
    if (has_unread(pcb)) { /* data would be lost: tell the peer (RFC 2525) */
      tern_tcp_abort(pcb);
      return TERN_OK;
    }
    pcb->fin_queued = 1;
    pcb->state = pcb->state == TERN_TCP_CLOSE_WAIT ? TERN_TCP_LAST_ACK
                                                   : TERN_TCP_FIN_WAIT_1;
    break;
  case TERN_TCP_FIN_WAIT_2:
    /* orphaned: do not wait for the peer's FIN forever */
    tcp_set_rtx(pcb, 2 * pcb->st->opts.tcp_msl_ms);
    break;
  default: break;
  }
  pcb->user_closed = 1;
  pcb->shut_rx = 1;
  pcb->t_poll = 0;
  if (!pcb->busy) tcp_output(pcb);
  return TERN_OK;
}

int tern_tcp_shutdown(tern_tcp *pcb, bool shut_rx, bool shut_tx) {
  IP_CTX(pcb ? pcb->st : NULL);
  if (!pcb || pcb->dead) return TERN_ECLOSED;
  if (pcb->state == TERN_TCP_LISTEN) {
    return (shut_rx && shut_tx) ? tern_tcp_close(pcb) : TERN_ENOTCONN;
  }
  if (pcb->state == TERN_TCP_CLOSED || pcb->state == TERN_TCP_SYN_SENT)
    return TERN_ENOTCONN;
  if (shut_rx) {
    pcb->shut_rx = 1;
    if (pcb->u.c.refused) tern_pbuf_free(pcb->u.c.refused);
    pcb->u.c.refused = NULL;
    if (pcb->state != TERN_TCP_SYN_RCVD) tcp_ooseq_free(pcb);
  }
  if (shut_tx && !pcb->fin_queued) {
    switch (pcb->state) {
    case TERN_TCP_SYN_RCVD: case TERN_TCP_ESTABLISHED:
      pcb->state = TERN_TCP_FIN_WAIT_1;
      pcb->fin_queued = 1;
      break;
    case TERN_TCP_CLOSE_WAIT:
      pcb->state = TERN_TCP_LAST_ACK;
      pcb->fin_queued = 1;
      break;
    default: break;
    }
    if (!pcb->busy) tcp_output(pcb);
  }
  return TERN_OK;
}

/* ---- facts ---------------------------------------------------------------------- */

tern_tcp_state tern_tcp_get_state(const tern_tcp *pcb) {
  return (tern_tcp_state)pcb->state;
}

void tern_tcp_local(const tern_tcp *pcb, tern_addr *out) {
  ip_addr_to(pcb->local_ip, pcb->local_port, out);
}

void tern_tcp_peer(const tern_tcp *pcb, tern_addr *out) {
  ip_addr_to(pcb->remote_ip, pcb->remote_port, out);
}

void tern_tcp_get_info(const tern_tcp *pcb, tern_tcp_info *out) {
  memset(out, 0, sizeof *out);
  out->state = (tern_tcp_state)pcb->state;
  if (pcb->state == TERN_TCP_LISTEN) return;
  const struct tcp_conn_part *c = &pcb->u.c;
  out->mss = c->mss;
  out->cwnd = c->cwnd;
  out->ssthresh = c->ssthresh;
  out->snd_wnd = c->snd_wnd;
  out->rcv_wnd = c->rcv_wnd;
  out->srtt_us = (c->srtt8 * 1000u) >> 3;
  out->rttvar_us = ((uint32_t)c->rttvar4 * 1000u) >> 2;
  out->rto_ms = tcp_rto(pcb);
  out->snd_wscale = c->snd_wscale;
  out->rcv_wscale = c->rcv_wscale;
  out->ts_on = pcb->ts_on;
  out->sack_on = pcb->sack_on;
  out->retrans = c->n_retrans;
  out->fast_retrans = c->n_fast;
  out->rto_count = c->n_rto;
  out->sack_rexmit = c->n_sack;
}

/* ---- events from the lower layers -------------------------------------------------- */

static tern_tcp *find_conn(tern_stack *st, bool (*match)(tern_tcp *, const void *),
                           const void *arg) {
  struct tcp_ctx *c = st->tcp;
  for (unsigned i = 0; i < TCP_HASH_BUCKETS; i++)
    for (tern_tcp *p = c->conns[i]; p; p = p->next)
      if (match(p, arg)) return p;
  return NULL;
}

static bool match_ip(tern_tcp *p, const void *arg) {
  return p->local_ip == *(const uint32_t *)arg &&
         p->state != TERN_TCP_TIME_WAIT;
}

/* An address went away: connections bound to it cannot continue (lwIP
 * does the same); their owners hear ECONNABORTED. */
void ip_tcp_netif_changed(tern_stack *st, tern_netif *nif, uint32_t old_ip) {
  if (!st->tcp || !old_ip || (nif->ip == old_ip)) return;
  tern_tcp *p;
  while ((p = find_conn(st, match_ip, &old_ip)) != NULL)
    tcp_fail(p, TERN_ECONNABORTED); /* (a busy one is freed when left) */
}

/* RFC 5927 / RFC 1122 4.2.3.9: ICMP errors. Only a hard error
 * (protocol/port unreachable) during SYN_SENT ends a connection; the
 * quoted sequence number must be in flight (RFC 5927 4.1). */
void ip_tcp_icmp_err(tern_stack *st, uint8_t type, uint8_t code,
                     const uint8_t *quote, size_t quote_len) {
  if (!st->tcp || quote_len < 28 || type != 3) return;
  size_t ihl = (size_t)(quote[0] & 15) * 4;
  if (ihl < 20 || quote_len < ihl + 8) return;
  uint32_t src = ip_get32(quote + 12), dst = ip_get32(quote + 16);
  const uint8_t *t = quote + ihl;
  tern_tcp *pcb = tcp_lookup(st, src, ip_get16(t), dst, ip_get16(t + 2));
  if (!pcb || pcb->busy) return;
  uint32_t seq = ip_get32(t + 4);
  if (seq_lt(seq, pcb->u.c.snd_una) || seq_ge(seq, pcb->u.c.snd_nxt)) return;
  if (pcb->state == TERN_TCP_SYN_SENT &&
      (code == ICMP_UNREACH_PROTO || code == ICMP_UNREACH_PORT))
    tcp_fail(pcb, TERN_ECONNREFUSED);
}
