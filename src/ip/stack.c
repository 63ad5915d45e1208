/* stack.c: the stack instance: options and their defaults, time and the
 * timer heap, counted allocation with injected failures, random numbers.
 */
#include <stdlib.h>

#include "ip/ip_internal.h"
#include "tern/port.h"

#define KIB 1024u

static int default_random(void *ud, void *buf, size_t len) {
  (void)ud;
  return tern_random(buf, len);
}

/* The uint32_t fields from pool_block to reass_timeout_ms, in order (a
 * table and a loop: smaller code than a test per field). */
static const uint32_t u32_defaults[] = {
  1600,       /* pool_block */
  4096,       /* max_tcp */
  512,        /* max_time_wait */
  64,         /* max_udp */
  256 * KIB,  /* tcp_snd_buf */
  256 * KIB,  /* tcp_rcv_wnd */
  0,          /* tcp_ooseq_max: tcp_rcv_wnd, below */
  30000,      /* tcp_msl_ms */
  64,         /* tcp_syn_backlog */
  64,         /* arp_entries */
  4,          /* arp_queue */
  300000,     /* arp_ttl_ms */
  64 * KIB,   /* reass_max_bytes */
  15000,      /* reass_timeout_ms */
};
#define OPT_U32(f) \
  ((offsetof(tern_stack_opts, f) - offsetof(tern_stack_opts, pool_block)) / 4)
_Static_assert(OPT_U32(max_tcp) == 1 && OPT_U32(tcp_ooseq_max) == 6 &&
                   OPT_U32(reass_timeout_ms) == 13 &&
                   sizeof u32_defaults / 4 == 14,
               "u32_defaults follows tern_stack_opts");

static void fill_defaults(tern_stack_opts *o) {
  if (!o->pool_bytes) o->pool_bytes = 4096u * KIB;
  uint32_t *f = (uint32_t *)(void *)((char *)o +
                                     offsetof(tern_stack_opts, pool_block));
  for (unsigned i = 0; i < sizeof u32_defaults / 4; i++)
    if (!f[i]) f[i] = u32_defaults[i];
  if (!o->tcp_ooseq_max) o->tcp_ooseq_max = o->tcp_rcv_wnd;
  if (!o->ttl) o->ttl = 64;
  if (!o->random) o->random = default_random;
}

/* xoshiro128** (Blackman & Vigna): fast, seeded once from the RNG. Used
 * for ephemeral ports, IP ids and jitter; ISNs use a keyed hash (RFC 6528)
 * on top of a secret drawn from it. */
static uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

void ip_stat_inc(uint64_t *c) { (*c)++; }

uint32_t ip_random32(tern_stack *st) {
  uint32_t *s = st->rand_state;
  uint32_t r = rotl(s[1] * 5, 7) * 9;
  uint32_t t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11);
  return r;
}

bool ip_addr_from(const tern_addr *a, uint32_t *ip) {
  if (!a || a->family != TERN_AF_INET) return false;
  *ip = ip_get32(a->ip);
  return true;
}

void ip_addr_to(uint32_t ip, uint16_t port, tern_addr *out) {
  memset(out, 0, sizeof *out);
  out->family = TERN_AF_INET;
  out->port = port;
  ip_put32(out->ip, ip);
}


int tern_stack_new(tern_stack **out, const tern_stack_opts *opts) {
  if (!out) return TERN_EINVAL;
  *out = NULL;
  tern_stack *st = calloc(1, sizeof *st);
  if (!st) return TERN_ENOMEM;
  if (opts) st->opts = *opts;
  fill_defaults(&st->opts);
  int err = TERN_ENOMEM;
  do {
    if (st->opts.random(st->opts.random_ud, st->rand_state,
                        sizeof st->rand_state) != 0) {
      err = TERN_EIO;
      break;
    }
    if (!(st->rand_state[0] | st->rand_state[1] | st->rand_state[2] |
          st->rand_state[3]))
      st->rand_state[0] = 1;
    st->ip_id = (uint16_t)ip_random32(st);
    st->icmp_tokens = IP_ICMP_ERR_BURST;
    st->heap_cap = st->opts.max_tcp + st->opts.max_udp + 64;
    st->heap = calloc(st->heap_cap, sizeof *st->heap);
    if (!st->heap) break;
    if ((err = ip_pool_init(st)) != 0) break;
    if ((err = ip_arp_init(st)) != 0) break;
    if ((err = ip4_reass_init(st)) != 0) break;
    if ((err = ip_udp_init(st)) != 0) break;
    if ((err = ip_tcp_init(st)) != 0) break;
    *out = st;
    return TERN_OK;
  } while (0);
  tern_stack_free(st);
  return err;
}

void tern_stack_free(tern_stack *st) {
  if (!st) return;
  if (st->tcp) ip_tcp_deinit(st);
  if (st->udp) ip_udp_deinit(st);
#if TERN_ENABLE_IP_RAW
  ip_raw_deinit(st);
#endif
  if (st->reass) ip4_reass_deinit(st);
#if TERN_ENABLE_IGMP
  if (st->igmp_fn) st->igmp_fn(st, IP_IGMP_DEINIT, NULL, NULL, NULL);
  ip4_loop_deinit(st);
#endif
  while (st->netifs) tern_netif_remove(st->netifs);
  if (st->arp) ip_arp_deinit(st);
  ip_pool_deinit(st);
  free(st->heap);
  free(st);
}

uint64_t tern_stack_now(const tern_stack *st) { return st->now; }
uint8_t tern_stack_ttl(const tern_stack *st) { return st->opts.ttl; }

void tern_stack_fail_alloc(tern_stack *st, uint64_t nth, bool sticky) {
  st->alloc_count = 0;
  st->fail_nth = nth;
  st->fail_sticky = sticky;
}

bool ip_alloc_fails(tern_stack *st) {
  if (!st->fail_nth) return false;
  st->alloc_count++;
  if (st->alloc_count == st->fail_nth ||
      (st->fail_sticky && st->alloc_count > st->fail_nth)) {
    ip_stat_inc(&st->stats.mem_fail);
    return true;
  }
  return false;
}

/* Small objects (pcbs, table entries) come from the C heap, bounded by
 * the per-kind caps in the options; malloc_live counts them so tests see
 * leaks. */
void *ip_malloc(tern_stack *st, size_t size) {
  if (ip_alloc_fails(st)) return NULL;
  void *p = calloc(1, size);
  if (!p) {
    ip_stat_inc(&st->stats.mem_fail);
    return NULL;
  }
  st->malloc_live++;
  return p;
}

void ip_free(tern_stack *st, void *ptr) {
  if (!ptr) return;
  st->malloc_live--;
  free(ptr);
}

void tern_stack_get_stats(const tern_stack *st, tern_stack_stats *out) {
  *out = st->stats;
  out->pool_blocks = st->block_count;
}

/* ---- the timer heap: a binary min-heap of ip_timer pointers by due ---- */

void ip_timer_init(ip_timer *t, ip_timer_fn fn) {
  t->due = 0;
  t->idx = 0;
  t->fn = fn;
}

static void heap_place(tern_stack *st, uint32_t i, ip_timer *t) {
  st->heap[i] = t;
  t->idx = i + 1;
}

static void heap_up(tern_stack *st, uint32_t i) {
  ip_timer *t = st->heap[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (ip_tdiff(st->heap[parent]->due, t->due) <= 0) break;
    heap_place(st, i, st->heap[parent]);
    i = parent;
  }
  heap_place(st, i, t);
}

static void heap_down(tern_stack *st, uint32_t i) {
  ip_timer *t = st->heap[i];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= st->heap_len) break;
    if (c + 1 < st->heap_len &&
        ip_tdiff(st->heap[c + 1]->due, st->heap[c]->due) < 0)
      c++;
    if (ip_tdiff(st->heap[c]->due, t->due) >= 0) break;
    heap_place(st, i, st->heap[c]);
    i = c;
  }
  heap_place(st, i, t);
}

int ip_timer_set(tern_stack *st, ip_timer *t, uint32_t due) {
  if (t->idx) {
    int32_t d = ip_tdiff(due, t->due);
    t->due = due;
    if (d < 0)
      heap_up(st, t->idx - 1);
    else if (d > 0)
      heap_down(st, t->idx - 1);
    return TERN_OK;
  }
  if (st->heap_len == st->heap_cap) {
    uint32_t cap = st->heap_cap * 2;
    ip_timer **h = realloc(st->heap, cap * sizeof *h);
    if (!h) return TERN_ENOMEM;
    st->heap = h;
    st->heap_cap = cap;
  }
  t->due = due;
  heap_place(st, st->heap_len++, t);
  heap_up(st, st->heap_len - 1);
  return TERN_OK;
}

void ip_timer_stop(tern_stack *st, ip_timer *t) {
  if (!t->idx) return;
  uint32_t i = t->idx - 1;
  t->idx = 0;
  st->heap_len--;
  if (i == st->heap_len) return;
  ip_timer *last = st->heap[st->heap_len];
  heap_place(st, i, last);
  if (i > 0 && ip_tdiff(st->heap[(i - 1) / 2]->due, last->due) > 0)
    heap_up(st, i);
  else
    heap_down(st, i);
}

uint64_t tern_stack_next_due(const tern_stack *st) {
  if (!st->heap_len) return UINT64_MAX;
  /* back to the 64-bit clock: the due time is within 2^31 ms of now */
  return st->now + (uint64_t)(int64_t)ip_tdiff(st->heap[0]->due, ip_now32(st));
}

void tern_stack_advance(tern_stack *st, uint64_t now_ms) {
  if (now_ms > st->now) st->now = now_ms;
  if (st->in_advance) return;
  st->in_advance = true;
  /* A timer re-armed for "now" by its own callback runs on the next
   * advance, not in this one: bound the work per call. */
  uint32_t budget = st->heap_len + 16;
  while (st->heap_len && ip_tdiff(st->heap[0]->due, ip_now32(st)) <= 0 &&
         budget--) {
    ip_timer *t = st->heap[0];
    ip_timer_stop(st, t);
    t->fn(st, t);
  }
  st->in_advance = false;
}

#if TERN_IP_CTX_CHECK
#include <stdio.h>

void tern_stack_set_ctx_check(tern_stack *st, bool (*ok)(void *ud), void *ud) {
  st->ctx_ok = ok;
  st->ctx_ud = ud;
}

void ip_ctx_check(const tern_stack *st, const char *call) {
  if (st && st->ctx_ok && !st->ctx_ok(st->ctx_ud)) {
    fprintf(stderr, "tern: %s called outside the stack's context (not the "
                    "stack thread, stack lock not held)\n", call);
    abort();
  }
}
#else
void tern_stack_set_ctx_check(tern_stack *st, bool (*ok)(void *ud), void *ud) {
  (void)st, (void)ok, (void)ud;
}
#endif
