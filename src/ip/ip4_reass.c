/* ip4_reass.c: IPv4 fragment reassembly (RFC 791 section 3.2, with the
 * hole bookkeeping of RFC 815 reduced to a sorted list), bounded in memory
 * and time.
 *
 * Limits: all held fragments together stay under opts.reass_max_bytes
 * (counted as whole pool blocks, since that is what they pin); when a new
 * fragment would pass it, the oldest datagram is dropped first. Each
 * datagram lives opts.reass_timeout_ms from its first fragment. A
 * fragment that overlaps another differently is treated as an attack
 * (RFC 5722 spirit, "teardrop"): the whole datagram is dropped; an exact
 * duplicate is ignored.
 */
#include <stdlib.h>

#include "ip/ip_internal.h"

#define REASS_MAX_DGRAMS 16

typedef struct reass_dgram {
  uint32_t src, dst;
  uint16_t id;
  uint8_t proto;
  bool used;
  bool have_last;
  uint32_t end;        /* payload length, known with the last fragment */
  uint32_t held;       /* bytes charged for this datagram */
  uint32_t expires; /* ms, low 32 bits (ip_tdiff) */
  tern_pbuf *frags;    /* sorted by offset (q_seq), linked by q_next */
} reass_dgram;

struct ip_reass {
  ip_timer timer;
  uint32_t held;       /* bytes charged, all datagrams */
  reass_dgram d[REASS_MAX_DGRAMS];
};

static void reass_tick(tern_stack *st, ip_timer *t);

int ip4_reass_init(tern_stack *st) {
  st->reass = calloc(1, sizeof *st->reass);
  if (!st->reass) return TERN_ENOMEM;
  ip_timer_init(&st->reass->timer, reass_tick);
  return TERN_OK;
}

static void dgram_drop(tern_stack *st, reass_dgram *d, bool count) {
  ip_pbuf_free_queue(d->frags);
  st->reass->held -= d->held;
  if (count) ip_stat_inc(&st->stats.ip_reass_drop);
  memset(d, 0, sizeof *d);
}

void ip4_reass_deinit(tern_stack *st) {
  for (int i = 0; i < REASS_MAX_DGRAMS; i++)
    if (st->reass->d[i].used) dgram_drop(st, &st->reass->d[i], false);
  ip_timer_stop(st, &st->reass->timer);
  free(st->reass);
  st->reass = NULL;
}

static void arm(tern_stack *st) {
  reass_dgram *next = NULL;
  for (int i = 0; i < REASS_MAX_DGRAMS; i++)
    if (st->reass->d[i].used &&
        (!next || ip_tdiff(st->reass->d[i].expires, next->expires) < 0))
      next = &st->reass->d[i];
  if (!next)
    ip_timer_stop(st, &st->reass->timer);
  else
    ip_timer_set(st, &st->reass->timer, next->expires);
}

static void reass_tick(tern_stack *st, ip_timer *t) {
  (void)t;
  for (int i = 0; i < REASS_MAX_DGRAMS; i++) {
    reass_dgram *d = &st->reass->d[i];
    if (d->used && ip_tdiff(d->expires, ip_now32(st)) <= 0)
      dgram_drop(st, d, true);
  }
  arm(st);
}

static uint32_t charge(const tern_stack *st, const tern_pbuf *p) {
  uint32_t n = 0;
  for (; p; p = p->next) n++;
  return n * st->block_size;
}

static reass_dgram *oldest(struct ip_reass *r) {
  reass_dgram *o = NULL;
  for (int i = 0; i < REASS_MAX_DGRAMS; i++)
    if (r->d[i].used && (!o || ip_tdiff(r->d[i].expires, o->expires) < 0))
      o = &r->d[i];
  return o;
}

/* All fragments present: copy them into one chain behind the first
 * fragment's header, now unfragmented. */
static tern_pbuf *assemble(tern_stack *st, reass_dgram *d) {
  tern_pbuf *first = d->frags;
  uint8_t ihl = (uint8_t)((first->payload[0] & 0x0f) * 4);
  tern_pbuf *out = ip_pbuf_alloc_raw(st, IP_HEADROOM_LINK, ihl + d->end);
  if (!out) return NULL;
  tern_pbuf_copy_in(out, 0, first->payload, ihl);
  for (tern_pbuf *f = d->frags; f; f = f->q_next) {
    uint8_t fihl = (uint8_t)((f->payload[0] & 0x0f) * 4);
    uint8_t tmp[256];
    size_t done = 0;
    while (done < f->q_len) {
      size_t n = f->q_len - done < sizeof tmp ? f->q_len - done : sizeof tmp;
      tern_pbuf_copy_out(f, fihl + done, tmp, n);
      tern_pbuf_copy_in(out, ihl + f->q_seq + done, tmp, n);
      done += n;
    }
  }
  uint8_t *h = out->payload;
  ip_put16(h + 2, (uint16_t)(ihl + d->end));
  ip_put16(h + 6, 0);
  h[10] = h[11] = 0;
  ip_put16(h + 10, ip_chksum(h, ihl));
  return out;
}

tern_pbuf *ip4_reass(tern_stack *st, tern_pbuf *p) {
  struct ip_reass *r = st->reass;
  const uint8_t *h = p->payload;
  uint8_t ihl = (uint8_t)((h[0] & 0x0f) * 4);
  uint16_t fw = ip_get16(h + 6);
  uint32_t off = (uint32_t)(fw & 0x1fff) * 8;
  bool more = (fw & 0x2000) != 0;
  uint32_t len = p->tot_len - ihl;
  uint32_t src = ip_get32(h + 12), dst = ip_get32(h + 16);
  uint16_t id = ip_get16(h + 4);
  /* every fragment but the last carries a multiple of 8 bytes; nothing
   * may reach past 65535 */
  if ((more && (len & 7)) || off + len + ihl > 65535 || (more && !len))
    goto drop;

  reass_dgram *d = NULL, *free_d = NULL;
  for (int i = 0; i < REASS_MAX_DGRAMS; i++) {
    reass_dgram *c = &r->d[i];
    if (!c->used) {
      if (!free_d) free_d = c;
      continue;
    }
    if (c->src == src && c->dst == dst && c->id == id && c->proto == h[9]) {
      d = c;
      break;
    }
  }
  uint32_t cost = charge(st, p);
  if (cost > st->opts.reass_max_bytes) goto drop;
  /* make room: the oldest datagrams go first (but not the one this
   * fragment belongs to) */
  while (r->held + cost > st->opts.reass_max_bytes) {
    reass_dgram *o = oldest(r);
    if (!o || o == d) goto drop;
    dgram_drop(st, o, true);
    if (!free_d) free_d = o;
  }
  if (!d) {
    if (!free_d) {
      free_d = oldest(r);
      dgram_drop(st, free_d, true);
    }
    d = free_d;
    d->used = true;
    d->src = src;
    d->dst = dst;
    d->id = id;
    d->proto = h[9];
    d->expires = ip_now32(st) + st->opts.reass_timeout_ms;
  }
  if (!more) {
    if (d->have_last && d->end != off + len) goto attack;
    d->have_last = true;
    d->end = off + len;
  }
  if (d->have_last && off + len > d->end) goto attack;

  /* sorted insert; overlaps are refused */
  tern_pbuf **pp = &d->frags;
  while (*pp && (*pp)->q_seq < off) pp = &(*pp)->q_next;
  tern_pbuf *prev = NULL;
  for (tern_pbuf *f = d->frags; f && f != *pp; f = f->q_next) prev = f;
  if (*pp && (*pp)->q_seq == off && (*pp)->q_len == len) goto drop; /* dup */
  if (prev && prev->q_seq + prev->q_len > off) goto attack;
  if (*pp && off + len > (*pp)->q_seq) goto attack;
  p->q_seq = off;
  p->q_len = (uint16_t)len;
  p->q_next = *pp;
  *pp = p;
  d->held += cost;
  r->held += cost;

  /* complete? contiguous from 0 to end */
  if (d->have_last) {
    uint32_t want = 0;
    tern_pbuf *f = d->frags;
    for (; f && f->q_seq == want; f = f->q_next) want += f->q_len;
    if (!f && want == d->end) {
      tern_pbuf *whole = assemble(st, d);
      dgram_drop(st, d, whole == NULL);
      arm(st);
      if (whole) ip_stat_inc(&st->stats.ip_reass_ok);
      return whole;
    }
  }
  arm(st);
  return NULL;

attack:
  dgram_drop(st, d, true);
  arm(st);
drop:
  ip_stat_inc(&st->stats.ip_drop);
  tern_pbuf_free(p);
  return NULL;
}
