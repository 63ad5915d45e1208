/* pbuf.c: packet buffers and the block pool that is the stack's memory
 * budget.
 *
 * The pool is one arena cut into equal blocks at creation: a block is a
 * struct tern_pbuf followed by pool_block bytes of data. Free blocks are
 * a singly linked list threaded through the blocks themselves, so taking
 * and returning a block is O(1) and the stack can never hold more packet
 * memory than the arena. A packet larger than one block is a chain.
 * View pbufs (zero-copy) use a block for their header only.
 */
#include <stdlib.h>

#include "ip/ip_internal.h"

#define HDR_SIZE ((sizeof(struct tern_pbuf) + 15u) & ~(size_t)15u)

static uint8_t *block_data(tern_pbuf *p) { return (uint8_t *)p + HDR_SIZE; }

int ip_pool_init(tern_stack *st) {
  size_t data = (st->opts.pool_block + 15u) & ~(size_t)15u;
  st->block_size = (uint32_t)(HDR_SIZE + data);
  size_t count = st->opts.pool_bytes / st->block_size;
  if (count < 4 || count > UINT32_MAX) return TERN_EINVAL;
  if (st->opts.pool_mem) {
    /* Blocks start with a pbuf header (pointers, 32-bit fields): at a
     * misaligned address a Cortex-M faults on LDRD/LDM, and a firmware's
     * `static uint8_t pool[N]` is only byte-aligned by C. */
    if ((uintptr_t)st->opts.pool_mem & 7u) return TERN_EINVAL;
    st->pool_mem = st->opts.pool_mem;
  } else {
    st->pool_mem = malloc(count * st->block_size);
    if (!st->pool_mem) return TERN_ENOMEM;
    st->pool_owned = true;
  }
  st->block_count = (uint32_t)count;
  st->pool_free = NULL;
  for (size_t i = count; i-- > 0;) {
    void **b = (void **)(st->pool_mem + i * st->block_size);
    *b = st->pool_free;
    st->pool_free = b;
  }
  st->stats.pool_blocks = st->block_count;
  return TERN_OK;
}

void ip_pool_deinit(tern_stack *st) {
  if (st->pool_owned) free(st->pool_mem);
  st->pool_mem = NULL;
  st->pool_free = NULL;
}

uint32_t ip_pool_block_size(const tern_stack *st) {
  return st->block_size - (uint32_t)HDR_SIZE;
}

uint32_t ip_pool_free_blocks(const tern_stack *st) {
  return st->block_count - st->stats.pool_used;
}

static tern_pbuf *block_get(tern_stack *st) {
  if (!st->pool_free || ip_alloc_fails(st)) {
    if (!st->pool_free) ip_stat_inc(&st->stats.mem_fail);
    return NULL;
  }
  void **b = st->pool_free;
  st->pool_free = *b;
  if (++st->stats.pool_used > st->stats.pool_high)
    st->stats.pool_high = st->stats.pool_used;
  tern_pbuf *p = (tern_pbuf *)(void *)b;
  memset(p, 0, sizeof *p);
  p->st = st;
  p->ref = 1;
  return p;
}

static void block_put(tern_stack *st, tern_pbuf *p) {
  void **b = (void **)(void *)p;
  *b = st->pool_free;
  st->pool_free = b;
  st->stats.pool_used--;
}

size_t ip_layer_headroom(tern_pbuf_layer layer) {
  switch (layer) {
  case TERN_PBUF_LINK: return IP_HEADROOM_LINK;
  case TERN_PBUF_IP: return IP_HEADROOM_IP;
  case TERN_PBUF_TRANSPORT: return IP_HEADROOM_TRANSPORT;
  default: return 0;
  }
}

tern_pbuf *ip_pbuf_alloc_raw(tern_stack *st, size_t headroom, size_t len) {
  size_t cap = ip_pool_block_size(st);
  if (headroom > cap) return NULL;
  tern_pbuf *head = NULL, *tail = NULL;
  size_t left = len, room = headroom;
  do {
    tern_pbuf *p = block_get(st);
    if (!p) {
      if (head) tern_pbuf_free(head);
      return NULL;
    }
    p->type = PBUF_T_POOL;
    p->payload = block_data(p) + room;
    size_t n = cap - room;
    if (n > left) n = left;
    p->len = (uint32_t)n;
    p->tot_len = (uint32_t)left;
    left -= n;
    room = 0;
    if (tail)
      tail->next = p;
    else
      head = p;
    tail = p;
  } while (left > 0);
  return head;
}

tern_pbuf *tern_pbuf_alloc(tern_stack *st, tern_pbuf_layer layer, size_t len) {
  IP_CTX(st); /* the pool has no lock: only in the stack's context */
  if (!st || len > UINT32_MAX / 2) return NULL;
  return ip_pbuf_alloc_raw(st, ip_layer_headroom(layer), len);
}

tern_pbuf *tern_pbuf_view(tern_stack *st, const void *data, size_t len,
                          void (*done)(void *ud), void *ud) {
  IP_CTX(st);
  if (!st || len > UINT32_MAX / 2) return NULL;
  tern_pbuf *p = block_get(st);
  if (!p) return NULL;
  p->type = PBUF_T_VIEW;
  p->payload = (uint8_t *)(uintptr_t)data;
  p->len = p->tot_len = (uint32_t)len;
  p->done = done;
  p->done_ud = ud;
  return p;
}

void tern_pbuf_ref(tern_pbuf *p) {
  if (p) p->ref++;
}

/* Drop one reference of the head; a pbuf whose count reaches zero is
 * freed and releases its reference of the next one (lwIP's rule). */
void tern_pbuf_free(tern_pbuf *p) {
  while (p) {
    if (--p->ref > 0) return;
    tern_pbuf *next = p->next;
    if (p->type == PBUF_T_VIEW && p->done) p->done(p->done_ud);
    block_put(p->st, p);
    p = next;
  }
}

void *tern_pbuf_data(const tern_pbuf *p) { return p->payload; }
size_t tern_pbuf_len(const tern_pbuf *p) { return p->len; }
size_t tern_pbuf_tot_len(const tern_pbuf *p) { return p->tot_len; }
tern_pbuf *tern_pbuf_next(const tern_pbuf *p) { return p->next; }
const tern_tx_meta *tern_pbuf_tx_meta(const tern_pbuf *p) { return &p->meta; }

size_t tern_pbuf_copy_out(const tern_pbuf *p, size_t off, void *dst,
                          size_t len) {
  size_t done = 0;
  for (; p && done < len; p = p->next) {
    if (off >= p->len) {
      off -= p->len;
      continue;
    }
    size_t n = p->len - off;
    if (n > len - done) n = len - done;
    memcpy((uint8_t *)dst + done, p->payload + off, n);
    done += n;
    off = 0;
  }
  return done;
}

int tern_pbuf_copy_in(tern_pbuf *p, size_t off, const void *src, size_t len) {
  if (!p || off + len > p->tot_len) return TERN_ENOSPC;
  size_t done = 0;
  for (; p && done < len; p = p->next) {
    if (off >= p->len) {
      off -= p->len;
      continue;
    }
    size_t n = p->len - off;
    if (n > len - done) n = len - done;
    memcpy(p->payload + off, (const uint8_t *)src + done, n);
    done += n;
    off = 0;
  }
  return TERN_OK;
}

void tern_pbuf_cat(tern_pbuf *head, tern_pbuf *tail) {
  if (!head || !tail) return;
  tern_pbuf *p = head;
  for (; p->next; p = p->next) p->tot_len += tail->tot_len;
  p->tot_len += tail->tot_len;
  p->next = tail;
}

uint8_t *ip_pbuf_push(tern_pbuf *p, size_t n) {
  if (p->type != PBUF_T_POOL) return NULL;
  if ((size_t)(p->payload - block_data(p)) < n) return NULL;
  p->payload -= n;
  p->len += (uint32_t)n;
  p->tot_len += (uint32_t)n;
  return p->payload;
}

tern_pbuf *ip_hdr_push(tern_pbuf *p, size_t n, size_t room,
                       tern_tx_meta *saved, bool meta) {
  tern_pbuf *f = p;
  *saved = p->meta;
  if (!ip_pbuf_push(p, n)) {
    /* no headroom (a view): a header pbuf in front */
    f = ip_pbuf_alloc_raw(p->st, room, n);
    if (!f) return NULL;
    if (meta) f->meta = p->meta;
    tern_pbuf_ref(p);
    tern_pbuf_cat(f, p);
  }
  if (meta && (f->meta.csum_offset || f->meta.gso_mss)) {
    f->meta.csum_start = (uint16_t)(f->meta.csum_start + n);
    f->meta.hdr_len = (uint16_t)(f->meta.hdr_len + n);
  }
  return f;
}

void ip_hdr_pop(tern_pbuf *p, tern_pbuf *f, size_t n,
                const tern_tx_meta *saved) {
  if (f == p) {
    p->meta = *saved;
    ip_pbuf_pull(p, n);
  } else {
    tern_pbuf_free(f); /* drops our reference of p with it */
  }
}

void ip_pbuf_free_queue(tern_pbuf *q) {
  while (q) {
    tern_pbuf *n = q->q_next;
    q->q_next = NULL;
    tern_pbuf_free(q);
    q = n;
  }
}

void ip_pbuf_pull(tern_pbuf *p, size_t n) {
  if (n > p->len) n = p->len;
  p->payload += n;
  p->len -= (uint32_t)n;
  p->tot_len -= (uint32_t)n;
}

void ip_pbuf_trim(tern_pbuf *p, size_t new_len) {
  if (!p || new_len >= p->tot_len) return;
  size_t left = new_len;
  tern_pbuf *q = p;
  for (;;) {
    q->tot_len = (uint32_t)left;
    if (left <= q->len || !q->next) {
      q->len = (uint32_t)left;
      break;
    }
    left -= q->len;
    q = q->next;
  }
  tern_pbuf *rest = q->next;
  q->next = NULL;
  if (rest) tern_pbuf_free(rest);
}

tern_pbuf *ip_pbuf_copy_range(tern_stack *st, const tern_pbuf *p, size_t off,
                              size_t len, size_t headroom) {
  tern_pbuf *c = ip_pbuf_alloc_raw(st, headroom, len);
  if (!c) return NULL;
  size_t done = 0;
  for (tern_pbuf *q = c; q; q = q->next) {
    tern_pbuf_copy_out(p, off + done, q->payload, q->len);
    done += q->len;
  }
  return c;
}

bool ip_pbuf_make_contig(tern_pbuf **pp, size_t n) {
  tern_pbuf *p = *pp;
  if (p->tot_len < n) return false;
  if (p->len >= n) return true;
  if (n > ip_pool_block_size(p->st)) return false;
  tern_pbuf *c = ip_pbuf_copy_range(p->st, p, 0, p->tot_len, 0);
  if (!c) return false;
  c->flags = p->flags;
  /* the copy packs each block full, so its first block holds n bytes */
  tern_pbuf_free(p);
  *pp = c;
  return true;
}
