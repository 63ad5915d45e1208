/* drv_wire.c: an in-memory Ethernet (or bare IP) cable between two
 * netifs, usually of two stacks in one process, with the impairments a
 * test wants: loss, duplication, reordering, bit corruption, delay with
 * jitter, and a rate limit with a bounded queue (tail drop). Every random
 * choice comes from a generator seeded per direction, so a run repeats
 * exactly for a given seed (smoltcp's FaultInjector, src/phy/
 * fault_injector.rs, does the same job).
 *
 * Call order: tern_wire_new; per end, tern_netif_add with driver =
 * tern_wire_driver(), driver_state = tern_wire_end(w, i), then
 * tern_wire_attach(w, i, nif); tern_wire_set_impair as wanted; then drive
 * time: tern_wire_run (two stacks, virtual clock), or by hand
 * tern_stack_advance + tern_wire_deliver. Free the stacks (or detach the
 * netifs with tern_wire_attach(w, i, NULL)) before tern_wire_free.
 *
 * Sending copies the frame out of the sender's pool into wire memory (a
 * malloc'd record, recycled through a short spare list), so the sender
 * may reuse its pbufs at once (TCP rewrites retransmitted headers). At
 * delivery the bytes are copied into a chain from the RECEIVING stack's
 * pool, which may be another stack. Frames are never delivered from
 * inside output(): that would recurse from one stack into the other.
 *
 * Offload: a sending netif may announce TERN_NETIF_TX_CSUM and
 * TERN_NETIF_TSO; the wire then acts as the NIC would, filling partial
 * checksums and cutting TCP super-frames into gso_mss segments (each
 * segment is then impaired on its own, as on a real link).
 *
 * Memory: bytes held per direction (queued, delayed, held for reordering)
 * never exceed queue_max (with a rate limit [256 KiB], or when set);
 * without either, a 64 MiB safety cap. A frame beyond it is dropped
 * (tail drop, stats queue_drop). An unimpaired wire never drops.
 *
 * Pure C (stdlib, string): this also builds for a microcontroller.
 */
#include <stdlib.h>
#include <string.h>

#include "ip/drv_internal.h"
#include "ip/ip_internal.h"
#include "tern/ip_drivers.h"

#define WIRE_QUEUE_DEFAULT (256u * 1024u)
#define WIRE_INFLIGHT_CAP (64ull << 20) /* no rate limit, no queue_max */
/* A frame held back for reordering waits for the next frame this long at
 * most; then it goes alone (unreordered), so a last frame is never
 * stuck. */
#define WIRE_REORDER_HOLD_MS 20u
#define WIRE_SPARE_MAX 64u
#define WIRE_REC_MIN 1600u
/* tern_wire_run: rounds at one virtual instant before it gives up (two
 * stacks that answer each other forever with no time passing). */
#define WIRE_RUN_MAX_ROUNDS 1000000u

typedef struct wire_frame {
  struct wire_frame *next;
  uint64_t due; /* ms */
  uint64_t seq; /* send order, ties in due */
  uint32_t len, cap;
  uint8_t data[];
} wire_frame;

typedef struct wire_dir {
  tern_wire_impair imp;
  uint64_t rng;          /* splitmix64 state */
  wire_frame *head;      /* in flight, sorted by (due, seq) */
  wire_frame *held;      /* reorder: goes after the next frame */
  uint64_t held_until;
  uint64_t bytes;        /* bytes in head's list and held */
  uint64_t link_free_us; /* rate limit: the link is busy until then */
  tern_wire_stats stats;
} wire_dir;

typedef struct wire_end {
  tern_wire *w;
  int idx;
  tern_netif *nif;
} wire_end;

struct tern_wire {
  wire_dir dir[2];
  wire_end end[2];
  uint64_t seq;
  uint64_t now;
  wire_frame *spare;
  uint32_t nspare;
};

/* ---- the generator: splitmix64 (Steele, Lea, Flood 2014) --------------- */

static uint64_t rng_next(wire_dir *d) {
  uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* true with probability p. No draw when p is 0: an impairment that is
 * off costs nothing; for one seed and one configuration the choices are
 * always the same. */
static bool rng_chance(wire_dir *d, double p) {
  if (p <= 0) return false;
  double u = (double)(rng_next(d) >> 11) * (1.0 / 9007199254740992.0);
  return u < p;
}

static uint64_t rng_below(wire_dir *d, uint64_t n) {
  return n ? rng_next(d) % n : 0;
}

/* ---- frame records -------------------------------------------------------- */

static wire_frame *frame_get(tern_wire *w, size_t len) {
  for (wire_frame **pp = &w->spare; *pp; pp = &(*pp)->next) {
    if ((*pp)->cap >= len) {
      wire_frame *f = *pp;
      *pp = f->next;
      w->nspare--;
      f->next = NULL;
      f->len = (uint32_t)len;
      return f;
    }
  }
  size_t cap = len < WIRE_REC_MIN ? WIRE_REC_MIN : len;
  wire_frame *f = malloc(sizeof(*f) + cap);
  if (!f) return NULL;
  f->next = NULL;
  f->cap = (uint32_t)cap;
  f->len = (uint32_t)len;
  return f;
}

static void frame_put(tern_wire *w, wire_frame *f) {
  if (w->nspare < WIRE_SPARE_MAX) {
    f->next = w->spare;
    w->spare = f;
    w->nspare++;
  } else {
    free(f);
  }
}

static void free_list(wire_frame *f) {
  while (f) {
    wire_frame *n = f->next;
    free(f);
    f = n;
  }
}

/* Insert in (due, seq) order. A linear walk: the list is bounded by
 * queue_max (a few hundred frames); a heap would pay off only for
 * wires holding thousands. */
static void dir_insert(wire_dir *d, wire_frame *f) {
  wire_frame **pp = &d->head;
  while (*pp && ((*pp)->due < f->due ||
                 ((*pp)->due == f->due && (*pp)->seq < f->seq)))
    pp = &(*pp)->next;
  f->next = *pp;
  *pp = f;
}

/* ---- sending ---------------------------------------------------------------- */

/* The bytes a direction may hold. A rate-limited link has a queue in
 * front of it: queue_max [256 KiB]. Without a rate limit nothing waits
 * for the link, so only a queue_max set by the user applies; else a
 * safety cap far above any window a test uses (memory stays bounded). */
static uint64_t wire_qmax(const tern_wire_impair *imp) {
  if (imp->queue_max) return imp->queue_max;
  return imp->rate_bps ? WIRE_QUEUE_DEFAULT : WIRE_INFLIGHT_CAP;
}

/* One frame (already offload-completed) onto the wire from `from`. Takes
 * f. Silent drops return TERN_OK: the sender cannot know, as on a cable. */
static int wire_send(tern_wire *w, int from, wire_frame *f, uint64_t now) {
  wire_dir *d = &w->dir[from];
  const tern_wire_impair *imp = &d->imp;
  uint64_t qmax = wire_qmax(imp);
  d->stats.sent++;
  if (d->bytes + f->len > qmax) { /* tail drop */
    d->stats.queue_drop++;
    frame_put(w, f);
    return TERN_OK;
  }
  uint64_t due_us = now * 1000u;
  if (imp->rate_bps) {
    /* serialization: the link sends one frame after another */
    uint64_t start = d->link_free_us > due_us ? d->link_free_us : due_us;
    d->link_free_us = start + ((uint64_t)f->len * 8000000u) / imp->rate_bps;
    due_us = d->link_free_us;
  }
  if (rng_chance(d, imp->loss)) {
    d->stats.lost++;
    frame_put(w, f);
    return TERN_OK;
  }
  uint64_t due = (due_us + 999u) / 1000u + imp->delay_ms;
  if (imp->jitter_ms) due += rng_below(d, (uint64_t)imp->jitter_ms + 1);
  if (rng_chance(d, imp->corrupt)) {
    uint64_t bit = rng_below(d, (uint64_t)f->len * 8u);
    f->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    d->stats.corrupted++;
  }
  f->due = due;
  f->seq = w->seq++;
  if (rng_chance(d, imp->dup)) {
    wire_frame *g = frame_get(w, f->len);
    if (g && d->bytes + 2u * f->len <= qmax) {
      memcpy(g->data, f->data, f->len);
      g->due = due;
      g->seq = w->seq++;
      d->bytes += g->len;
      dir_insert(d, g);
      d->stats.dup++;
    } else if (g) {
      frame_put(w, g);
    }
  }
  d->bytes += f->len;
  if (d->held) {
    /* the held frame goes right after this one */
    wire_frame *h = d->held;
    d->held = NULL;
    dir_insert(d, f);
    if (h->due < due) h->due = due;
    h->seq = w->seq++;
    dir_insert(d, h);
    d->stats.reordered++;
  } else if (rng_chance(d, imp->reorder)) {
    d->held = f;
    d->held_until = due + WIRE_REORDER_HOLD_MS;
  } else {
    dir_insert(d, f);
  }
  return TERN_OK;
}

/* TSO done by the wire, as a NIC would (virtio GSO_TCPV4): headers copied
 * into each segment; IPv4 total length, identification (+1 per segment)
 * and header checksum rewritten; TCP sequence number advanced, FIN and
 * PSH only on the last segment, CWR only on the first (RFC 3168 6.1.2
 * via Linux's tcp_gso_segment); each TCP checksum computed whole (RFC
 * 9293 3.1 pseudo-header). */
static int wire_gso(tern_wire *w, int from, const wire_frame *sf,
                    size_t ip_off, uint16_t mss, uint64_t now) {
  const uint8_t *b = sf->data;
  size_t len = sf->len;
  if (len < ip_off + IP_IP_HLEN || (b[ip_off] >> 4) != 4) return TERN_EINVAL;
  size_t ihl = (size_t)(b[ip_off] & 0x0f) * 4u;
  size_t tcp = ip_off + ihl;
  if (ihl < IP_IP_HLEN || len < tcp + 20 || b[ip_off + 9] != IP_PROTO_TCP)
    return TERN_EINVAL;
  size_t hlen = tcp + (size_t)(b[tcp + 12] >> 4) * 4u;
  if (hlen > len || hlen < tcp + 20) return TERN_EINVAL;
  size_t payload = len - hlen;
  uint16_t id = ip_get16(b + ip_off + 4);
  uint32_t seq = ip_get32(b + tcp + 4);
  uint8_t flags = b[tcp + 13];
  size_t off = 0, i = 0;
  do {
    size_t chunk = payload - off < mss ? payload - off : mss;
    bool last = off + chunk >= payload;
    wire_frame *f = frame_get(w, hlen + chunk);
    if (!f) return TERN_ENOMEM;
    uint8_t *s = f->data;
    memcpy(s, b, hlen);
    memcpy(s + hlen, b + hlen + off, chunk);
    ip_put16(s + ip_off + 2, (uint16_t)(hlen + chunk - ip_off));
    ip_put16(s + ip_off + 4, (uint16_t)(id + i));
    ip_put16(s + ip_off + 10, 0);
    ip_put16(s + ip_off + 10,
             (uint16_t)~tern__drv_fold(tern__drv_sum(0, s + ip_off, ihl)));
    ip_put32(s + tcp + 4, seq + (uint32_t)off);
    uint8_t fl = flags;
    if (!last) fl &= (uint8_t)~0x09u; /* FIN, PSH */
    if (i) fl &= (uint8_t)~0x80u;     /* CWR */
    s[tcp + 13] = fl;
    size_t tlen = hlen + chunk - tcp;
    uint8_t ph[12];
    memcpy(ph, s + ip_off + 12, 8); /* source, destination */
    ph[8] = 0;
    ph[9] = IP_PROTO_TCP;
    ip_put16(ph + 10, (uint16_t)tlen);
    ip_put16(s + tcp + 16, 0);
    uint32_t sum = tern__drv_sum(tern__drv_sum(0, ph, 12), s + tcp, tlen);
    ip_put16(s + tcp + 16, (uint16_t)~tern__drv_fold(sum));
    w->dir[from].stats.gso_segs++;
    wire_send(w, from, f, now);
    off += chunk;
    i++;
  } while (off < payload);
  return TERN_OK;
}

static int wire_output(tern_netif *nif, tern_pbuf *frame) {
  wire_end *e = tern_netif_driver_state(nif);
  tern_wire *w = e->w;
  uint64_t now = tern_stack_now(tern_netif_stack(nif));
  if (now > w->now) w->now = now;
  size_t len = tern_pbuf_tot_len(frame);
  if (len == 0 || len > UINT32_MAX / 8u) return TERN_EINVAL;
  wire_frame *f = frame_get(w, len);
  if (!f) return TERN_ENOMEM;
  tern_pbuf_copy_out(frame, 0, f->data, len);
  const tern_tx_meta *m = tern_pbuf_tx_meta(frame);
  if (m->gso_mss && len > (size_t)m->hdr_len + m->gso_mss) {
    size_t ip_off = (nif->flags & TERN_NETIF_ETHERNET) ? IP_ETH_HLEN : 0;
    int rc = wire_gso(w, e->idx, f, ip_off, m->gso_mss, now);
    frame_put(w, f);
    return rc;
  }
  if (m->csum_offset &&
      !tern__drv_csum_flat(f->data, len, m->csum_start, m->csum_offset)) {
    frame_put(w, f);
    return TERN_EINVAL;
  }
  return wire_send(w, e->idx, f, now);
}

static const tern_netif_driver wire_driver = {
    .name = "wire",
    .output = wire_output,
};

const tern_netif_driver *tern_wire_driver(void) { return &wire_driver; }

/* ---- delivering ------------------------------------------------------------- */

static void wire_feed(tern_wire *w, int from, wire_frame *f) {
  wire_dir *d = &w->dir[from];
  tern_netif *nif = w->end[1 - from].nif;
  tern_pbuf *p = NULL;
  if (nif) {
    /* Ethernet frames start 2 bytes into the block so that the IP
     * header is 4-aligned (IP_ETH_PAD). */
    size_t pad = (nif->flags & TERN_NETIF_ETHERNET) ? IP_ETH_PAD : 0;
    p = ip_pbuf_alloc_raw(tern_netif_stack(nif), pad, f->len);
  }
  if (!p) {
    d->stats.rx_nomem++;
    frame_put(w, f);
    return;
  }
  tern_pbuf_copy_in(p, 0, f->data, f->len);
  d->stats.delivered++;
  d->stats.bytes += f->len;
  frame_put(w, f);
  tern__drv_feed(nif, p, false);
}

/* The earliest frame due by now that was sent before `cutoff` (frames
 * the receivers send while being fed wait for the next call: one round
 * per call, no recursion between the stacks), unlinked from its list. */
static wire_frame *wire_pop(tern_wire *w, uint64_t now, uint64_t cutoff,
                            int *from) {
  wire_frame **best = NULL;
  for (int i = 0; i < 2; i++) {
    for (wire_frame **pp = &w->dir[i].head; *pp && (*pp)->due <= now;
         pp = &(*pp)->next) {
      if ((*pp)->seq >= cutoff) continue;
      if (!best || (*pp)->due < (*best)->due ||
          ((*pp)->due == (*best)->due && (*pp)->seq < (*best)->seq)) {
        best = pp;
        *from = i;
      }
      break;
    }
  }
  if (!best) return NULL;
  wire_frame *f = *best;
  *best = f->next;
  f->next = NULL;
  w->dir[*from].bytes -= f->len;
  return f;
}

int tern_wire_deliver(tern_wire *w, uint64_t now_ms) {
  if (now_ms > w->now) w->now = now_ms;
  for (int i = 0; i < 2; i++) {
    wire_dir *d = &w->dir[i];
    if (d->held && d->held_until <= now_ms) { /* nothing came after it */
      dir_insert(d, d->held);
      d->held = NULL;
    }
  }
  uint64_t cutoff = w->seq;
  int n = 0, from = 0;
  wire_frame *f;
  while ((f = wire_pop(w, now_ms, cutoff, &from)) != NULL) {
    wire_feed(w, from, f);
    n++;
  }
  return n;
}

uint64_t tern_wire_next_due(const tern_wire *w) {
  uint64_t due = UINT64_MAX;
  for (int i = 0; i < 2; i++) {
    const wire_dir *d = &w->dir[i];
    if (d->head && d->head->due < due) due = d->head->due;
    if (d->held && d->held_until < due) due = d->held_until;
  }
  return due;
}

/* ---- the wire object ------------------------------------------------------- */

int tern_wire_new(tern_wire **out, uint64_t seed) {
  *out = NULL;
  tern_wire *w = calloc(1, sizeof(*w));
  if (!w) return TERN_ENOMEM;
  for (int i = 0; i < 2; i++) {
    w->end[i].w = w;
    w->end[i].idx = i;
    /* distinct streams per direction from one seed */
    w->dir[i].rng = seed ^ (0x6a09e667f3bcc909ull * (uint64_t)(i + 1));
  }
  *out = w;
  return TERN_OK;
}

void tern_wire_free(tern_wire *w) {
  if (!w) return;
  for (int i = 0; i < 2; i++) {
    free_list(w->dir[i].head);
    free(w->dir[i].held);
  }
  free_list(w->spare);
  free(w);
}

void *tern_wire_end(tern_wire *w, int end) {
  return (end == 0 || end == 1) ? &w->end[end] : NULL;
}

void tern_wire_attach(tern_wire *w, int end, tern_netif *nif) {
  if (end == 0 || end == 1) w->end[end].nif = nif;
}

static double clamp01(double p) { return p < 0 ? 0 : p > 1 ? 1 : p; }

void tern_wire_set_impair(tern_wire *w, int from, const tern_wire_impair *imp) {
  if (from != 0 && from != 1) return;
  wire_dir *d = &w->dir[from];
  if (!imp) {
    memset(&d->imp, 0, sizeof(d->imp));
    return;
  }
  d->imp = *imp;
  d->imp.loss = clamp01(imp->loss);
  d->imp.dup = clamp01(imp->dup);
  d->imp.reorder = clamp01(imp->reorder);
  d->imp.corrupt = clamp01(imp->corrupt);
}

void tern_wire_get_stats(const tern_wire *w, int from, tern_wire_stats *out) {
  if (from == 0 || from == 1) *out = w->dir[from].stats;
  else memset(out, 0, sizeof(*out));
}

/* ---- the virtual clock ------------------------------------------------------- */

static uint64_t min3(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t m = a < b ? a : b;
  return m < c ? m : c;
}

bool tern_wire_run(tern_wire *w, tern_stack *a, tern_stack *b,
                   uint64_t *now_ms, uint64_t limit_ms,
                   bool (*cond)(void *ud), void *ud) {
  uint32_t rounds = 0;
  while (!(cond && cond(ud))) {
    uint64_t t = min3(a ? tern_stack_next_due(a) : UINT64_MAX,
                      b ? tern_stack_next_due(b) : UINT64_MAX,
                      tern_wire_next_due(w));
    if (t == UINT64_MAX) return false; /* nothing will ever happen */
    if (t < *now_ms) t = *now_ms;
    if (t > limit_ms) {
      *now_ms = limit_ms;
      if (a) tern_stack_advance(a, limit_ms);
      if (b && b != a) tern_stack_advance(b, limit_ms);
      return false;
    }
    rounds = t == *now_ms ? rounds + 1 : 0;
    if (rounds > WIRE_RUN_MAX_ROUNDS) return false;
    *now_ms = t;
    if (a) tern_stack_advance(a, t);
    if (b && b != a) tern_stack_advance(b, t);
    tern_wire_deliver(w, t);
  }
  return true;
}
