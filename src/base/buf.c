/* base/buf.c: tern_buf, a byte buffer with a hard maximum.
 *
 * Layout: one allocation [base, base + size). Unread bytes are
 * [data, data + len); free space is [data + len, data + cap). Consuming
 * advances data (O(1), no memmove). When an append needs room that is not
 * at the tail, the unread bytes move back to base (compaction) if that
 * leaves at least half the allocation free; otherwise the buffer grows
 * geometrically, never past max. Emptying the buffer by consume frees the
 * allocation, so an idle connection's buffers cost nothing.
 *
 * Cost of the simple choice: a buffer kept more than half full at its
 * maximum pays a memmove of its contents on each append that needs room.
 * Compacting only when half is free keeps every other pattern amortised
 * O(1) per byte.
 */
#include <stdlib.h>
#include <string.h>

#include "tern/base.h"

/* First allocation; small so that short messages cost little. */
#define BUF_MIN_ALLOC 64u

static size_t buf_head(const tern_buf *b) {
  return (size_t)(b->data - b->base);
}

/* Size of the current allocation (0 if none). */
static size_t buf_size(const tern_buf *b) {
  return b->base != NULL ? buf_head(b) + b->cap : 0;
}

static void buf_compact(tern_buf *b) {
  if (b->data != b->base) {
    memmove(b->base, b->data, b->len);
    b->cap += buf_head(b);
    b->data = b->base;
  }
}

/* The next allocation size for need bytes: double, at least need and
 * BUF_MIN_ALLOC, at most max. need <= max is checked by the caller. */
static size_t buf_next_size(const tern_buf *b, size_t need) {
  size_t size = buf_size(b);

  size = size == 0 ? BUF_MIN_ALLOC : (size > b->max / 2 ? b->max : size * 2);
  if (size < need)
    size = need;
  return size < b->max ? size : b->max;
}

/* Move the unread bytes into a new allocation of size bytes. */
static int buf_grow(tern_buf *b, size_t size) {
  uint8_t *p = malloc(size);

  if (p == NULL)
    return TERN_ENOMEM;
  if (b->len > 0)
    memcpy(p, b->data, b->len);
  free(b->base);
  b->base = p;
  b->data = p;
  b->cap = size;
  return TERN_OK;
}

/* Ensure n bytes are free after the unread bytes. */
static int buf_make_room(tern_buf *b, size_t n) {
  size_t need, size;

  if (n > b->max || b->len > b->max - n)
    return TERN_ENOSPC;
  if (b->cap - b->len >= n)
    return TERN_OK;
  need = b->len + n;
  size = buf_size(b);
  if (need <= size && (b->len <= size / 2 || size == b->max)) {
    buf_compact(b);
    return TERN_OK;
  }
  return buf_grow(b, buf_next_size(b, need));
}

void tern_buf_init(tern_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
  b->base = NULL;
}

int tern_buf_append(tern_buf *b, const void *p, size_t n) {
  int r;

  if (n == 0)
    return TERN_OK;
  if (p == NULL)
    return TERN_EINVAL;
  r = buf_make_room(b, n);
  if (r != TERN_OK)
    return r;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return TERN_OK;
}

/* n == 0 is treated as 1: the caller wants somewhere to write. */
uint8_t *tern_buf_reserve(tern_buf *b, size_t n) {
  if (buf_make_room(b, n == 0 ? 1 : n) != TERN_OK)
    return NULL;
  return b->data + b->len;
}

/* Committing more than is free is a caller bug; clamp rather than let
 * len run past the allocation (or past max). */
void tern_buf_commit(tern_buf *b, size_t n) {
  size_t room = b->cap - b->len;

  if (b->max - b->len < room)
    room = b->max - b->len;
  b->len += n < room ? n : room;
}

void tern_buf_consume(tern_buf *b, size_t n) {
  if (n >= b->len) {
    tern_buf_free(b);
    return;
  }
  b->data += n;
  b->len -= n;
  b->cap -= n;
}

void tern_buf_free(tern_buf *b) {
  free(b->base);
  tern_buf_init(b, b->max);
}

/* Shrinking below the allocation moves the bytes to base and gives back
 * the excess, so memory held never exceeds max either. */
int tern_buf_set_max(tern_buf *b, size_t max) {
  uint8_t *p;

  if (b->len > max)
    return TERN_ENOSPC;
  b->max = max;
  if (buf_size(b) <= max)
    return TERN_OK;
  if (b->len == 0) {
    tern_buf_free(b);
    return TERN_OK;
  }
  buf_compact(b);
  p = realloc(b->base, max);
  if (p != NULL)
    b->base = b->data = p;
  b->cap = max; /* if realloc failed the block is larger; use only max */
  return TERN_OK;
}
