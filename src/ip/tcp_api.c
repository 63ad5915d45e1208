/* tcp_api.c: the raw API's data calls: write, output, recved, and the
 * per-pcb settings.
 *
 * A write is cut into queue entries of at most one MSS (or, on a TSO
 * netif, of many MSS up to the super-segment size) appended to the send
 * queue; a short entry at the tail that was never sent grows with the
 * next write, so small writes coalesce (Nagle then decides when it
 * leaves). COPY writes copy into pool blocks, filling the tail block's
 * free room first; other writes chain a view pbuf of the caller's memory.
 */
#include "ip/tcp_internal.h"

/* Free room after the data of a pool pbuf nobody else references. */
static uint32_t tailroom(const tern_pbuf *p) {
  if (p->type != PBUF_T_POOL || p->ref != 1) return 0;
  const uint8_t *end = (const uint8_t *)p + p->st->block_size;
  const uint8_t *at = p->payload + p->len;
  return at < end ? (uint32_t)(end - at) : 0;
}

static tern_pbuf *last_pbuf(tern_pbuf *p) {
  while (p->next) p = p->next;
  return p;
}

/* Up to n bytes into a new chain (copy or view). */
IP_NOINLINE static tern_pbuf *make_chain(tern_tcp *pcb, const uint8_t *d, uint32_t n,
                             bool copy) {
  if (!copy) return tern_pbuf_view(pcb->st, d, n, NULL, NULL);
  tern_pbuf *p = ip_pbuf_alloc_raw(pcb->st, 0, n);
  if (p) tern_pbuf_copy_in(p, 0, d, n);
  return p;
}

/* Grow the unsent tail entry with up to n bytes; returns bytes taken. */
static uint32_t append_tail(tern_tcp *pcb, const uint8_t *d, uint32_t n,
                            bool copy, uint32_t emax) {
  struct tcp_conn_part *c = &pcb->u.c;
  tern_pbuf *t = c->sndq_tail;
  if (!t || seq_lt(t->q_seq, c->snd_nxt) || (t->q_flags & TCPQ_SENT) ||
      t->q_len >= emax)
    return 0;
  uint32_t room = emax - t->q_len;
  if (n > room) n = room;
  uint32_t took = 0;
  if (copy) {
    tern_pbuf *last = last_pbuf(t);
    uint32_t tr = tailroom(last);
    if (tr) {
      uint32_t k = n < tr ? n : tr;
      memcpy(last->payload + last->len, d, k);
      last->len += k;
      for (tern_pbuf *q = t; q; q = q->next) q->tot_len += k;
      took = k;
    }
  }
  if (took < n) {
    tern_pbuf *p = make_chain(pcb, d + took, n - took, copy);
    if (p) {
      tern_pbuf_cat(t, p);
      took = n;
    }
  }
  t->q_len = (uint16_t)(t->q_len + took);
  return took;
}

long tern_tcp_write(tern_tcp *pcb, const void *data, size_t len,
                    unsigned flags) {
  IP_CTX(pcb ? pcb->st : NULL);
  if (!pcb || pcb->dead || pcb->user_closed) return TERN_ECLOSED;
  switch (pcb->state) {
  case TERN_TCP_SYN_SENT: case TERN_TCP_SYN_RCVD: case TERN_TCP_ESTABLISHED:
  case TERN_TCP_CLOSE_WAIT:
    break;
  case TERN_TCP_CLOSED: case TERN_TCP_LISTEN:
    return TERN_ENOTCONN;
  default:
    return TERN_ECLOSED;
  }
  if (pcb->fin_queued) return TERN_ECLOSED;
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t queued = tern_tcp_queued(pcb);
  uint32_t room = tcp_snd_buf(pcb) > queued ? tcp_snd_buf(pcb) - queued : 0;
  uint32_t n = len > room ? room : (uint32_t)len;
  bool copy = flags & TERN_TCP_WRITE_COPY;
  uint32_t emax = tcp_seg_max(pcb); /* the largest entry */
  const uint8_t *d = data;
  uint32_t done = append_tail(pcb, d, n, copy, emax);
  while (done < n) {
    uint32_t k = n - done < emax ? n - done : emax;
    tern_pbuf *p = make_chain(pcb, d + done, k, copy);
    if (!p) break; /* the pool is dry: fewer bytes, the caller waits */
    p->q_seq = c->snd_lbb + done;
    p->q_len = (uint16_t)k;
    p->q_flags = 0;
    p->q_next = NULL;
    if (c->sndq_tail)
      c->sndq_tail->q_next = p;
    else
      c->sndq = p;
    c->sndq_tail = p;
    if (!c->snd_cur) c->snd_cur = p;
    done += k;
  }
  c->snd_lbb += done;
  if (done) pcb->push = !(flags & TERN_TCP_WRITE_MORE);
  return (long)done;
}

int tern_tcp_output(tern_tcp *pcb) {
  IP_CTX(pcb ? pcb->st : NULL);
  if (!pcb || pcb->dead) return TERN_ECLOSED;
  return tcp_output(pcb);
}

/* RFC 9293 3.8.6.2.2: the window opens as the app consumes; an update
 * goes out when it moves the right edge by min(buffer/2, MSS) or more,
 * or reopens a window that was (nearly) closed. */
void tern_tcp_recved(tern_tcp *pcb, uint32_t n) {
  IP_CTX(pcb ? pcb->st : NULL);
  if (!pcb || pcb->dead || pcb->state == TERN_TCP_LISTEN ||
      pcb->state == TERN_TCP_CLOSED)
    return;
  struct tcp_conn_part *c = &pcb->u.c;
  uint32_t buf = tcp_rcv_buf(pcb);
  c->rcv_wnd = (c->rcv_wnd + n > buf || c->rcv_wnd + n < c->rcv_wnd)
                   ? buf : c->rcv_wnd + n;
  uint32_t right = c->rcv_nxt + c->rcv_wnd;
  uint32_t adv_left = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
  uint32_t step = buf / 2 < c->mss ? buf / 2 : c->mss;
  if (seq_ge(right, c->rcv_adv + step) && (adv_left < c->mss ||
      seq_ge(right, c->rcv_adv + buf / 4) || adv_left < buf / 2)) {
    pcb->ack_now = 1;
    if (!pcb->busy) tcp_output(pcb);
  }
}

void tern_tcp_set_nodelay(tern_tcp *pcb, bool on) { pcb->nodelay = on; }

void tern_tcp_set_ip(tern_tcp *pcb, uint8_t ttl, uint8_t tos) {
  pcb->ttl = ttl;
  pcb->tos = tos;
}

void tern_tcp_set_keepalive(tern_tcp *pcb, uint32_t idle_ms,
                            uint32_t intvl_ms, uint32_t count) {
  uint32_t idle = (idle_ms + 999) / 1000, intvl = (intvl_ms + 999) / 1000;
  uint16_t is = (uint16_t)(idle > 0xffff ? 0xffff : idle);
  uint8_t iv = (uint8_t)(intvl > 0xff ? 0xff : (intvl ? intvl : 1));
  pcb->ka_cnt = (count > 15 ? 15u : count) & 15u;
  if (pcb->state == TERN_TCP_LISTEN) {
    pcb->u.l.ka_idle_s = is;
    pcb->u.l.ka_intvl_s = iv;
    return;
  }
  pcb->u.c.ka_idle_s = is;
  pcb->u.c.ka_intvl_s = iv;
  if (pcb->state >= TERN_TCP_ESTABLISHED) tcp_ka_reset(pcb);
}

void tern_tcp_set_poll(tern_tcp *pcb, uint32_t interval_ms) {
  uint16_t ms = (uint16_t)(interval_ms > 30000 ? 30000 : interval_ms);
  if (pcb->state == TERN_TCP_LISTEN) {
    pcb->u.l.poll_ms = ms;
    return;
  }
  pcb->u.c.poll_ms = ms;
  if (pcb->state >= TERN_TCP_SYN_SENT) tcp_poll_reset(pcb);
}

void tern_tcp_set_bufs(tern_tcp *pcb, uint32_t snd_buf, uint32_t rcv_wnd) {
  uint32_t s = (snd_buf + TCP_BUF_UNIT - 1) / TCP_BUF_UNIT;
  uint32_t r = (rcv_wnd + TCP_BUF_UNIT - 1) / TCP_BUF_UNIT;
  if (s && s < 4) s = 4;
  if (r && r < 4) r = 4;
  if (s > 0xffff) s = 0xffff;
  if (r > 0xffff) r = 0xffff;
  if (pcb->state == TERN_TCP_LISTEN) {
    if (s) pcb->u.l.snd_buf_u = (uint16_t)s;
    if (r) pcb->u.l.rcv_buf_u = (uint16_t)r;
    return;
  }
  if (s) pcb->u.c.snd_buf_u = (uint16_t)s;
  if (r && pcb->state == TERN_TCP_CLOSED) {
    pcb->u.c.rcv_buf_u = (uint16_t)r;
    pcb->u.c.rcv_wnd = r * TCP_BUF_UNIT;
  }
}

uint32_t tern_tcp_sndbuf(const tern_tcp *pcb) {
  if (pcb->state == TERN_TCP_LISTEN) return 0;
  uint32_t q = tern_tcp_queued(pcb);
  return tcp_snd_buf(pcb) > q ? tcp_snd_buf(pcb) - q : 0;
}

uint32_t tern_tcp_queued(const tern_tcp *pcb) {
  if (pcb->state == TERN_TCP_LISTEN) return 0;
  const struct tcp_conn_part *c = &pcb->u.c;
  return seq_gt(c->snd_lbb, c->snd_una) ? c->snd_lbb - c->snd_una : 0;
}
