/* src/loop/timer.c: timers in a binary min-heap of pointers.
 *
 * Each timer stores its heap index, so stop and re-arm find it in O(1) and
 * fix the heap in O(log n); an iteration only looks at heap[0]. Order is
 * (due, seq): seq is a counter taken at every start, so timers due at the
 * same millisecond fire in the order they were started, and a timer
 * started (or a repeating one rescheduled) while timers are running gets a
 * seq past the run's limit and waits for the next iteration even if it is
 * already due; a callback that re-arms itself with delay 0 cannot hold the
 * loop forever.
 *
 * The heap array always has room for every timer that exists (grown in
 * tern_timer_new, which can fail), so tern_timer_start, which returns
 * void, never allocates. The cost is one pointer per idle timer.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "loop_internal.h"

#define TERN__HEAP_MIN 16

static bool tern__timer_before(const tern_timer *a, const tern_timer *b) {
  if (a->due != b->due)
    return a->due < b->due;
  return a->seq < b->seq;
}

static void tern__heap_put(tern_loop *loop, size_t i, tern_timer *t) {
  loop->heap[i] = t;
  t->heap_index = i;
}

static void tern__heap_up(tern_loop *loop, size_t i) {
  tern_timer *t = loop->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!tern__timer_before(t, loop->heap[parent]))
      break;
    tern__heap_put(loop, i, loop->heap[parent]);
    i = parent;
  }
  tern__heap_put(loop, i, t);
}

static void tern__heap_down(tern_loop *loop, size_t i) {
  tern_timer *t = loop->heap[i];
  size_t n = loop->heap_len;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && tern__timer_before(loop->heap[c + 1], loop->heap[c]))
      c++;
    if (!tern__timer_before(loop->heap[c], t))
      break;
    tern__heap_put(loop, i, loop->heap[c]);
    i = c;
  }
  tern__heap_put(loop, i, t);
}

static void tern__heap_push(tern_loop *loop, tern_timer *t) {
  size_t i = loop->heap_len++;
  tern__heap_put(loop, i, t);
  tern__heap_up(loop, i);
}

/* Move the last timer into the hole and let it rise or sink. */
static void tern__heap_remove(tern_loop *loop, tern_timer *t) {
  size_t i = t->heap_index;
  size_t last = --loop->heap_len;
  t->heap_index = TERN__TIMER_IDLE;
  if (i == last)
    return;
  tern__heap_put(loop, i, loop->heap[last]);
  if (i > 0 && tern__timer_before(loop->heap[i], loop->heap[(i - 1) / 2]))
    tern__heap_up(loop, i);
  else
    tern__heap_down(loop, i);
}

static int tern__heap_reserve(tern_loop *loop, size_t n) {
  if (n <= loop->heap_cap)
    return TERN_OK;
  size_t cap = loop->heap_cap != 0 ? loop->heap_cap * 2 : TERN__HEAP_MIN;
  if (cap > SIZE_MAX / sizeof(tern_timer *))
    return TERN_ENOMEM;
  tern_timer **h = realloc(loop->heap, cap * sizeof(*h));
  if (h == NULL)
    return TERN_ENOMEM;
  loop->heap = h;
  loop->heap_cap = cap;
  return TERN_OK;
}

/* Give memory back after a burst of timers; failure just keeps it. */
static void tern__heap_shrink(tern_loop *loop) {
  if (loop->heap_cap <= TERN__HEAP_MIN || loop->ntimers > loop->heap_cap / 4)
    return;
  size_t cap = loop->heap_cap / 2;
  tern_timer **h = realloc(loop->heap, cap * sizeof(*h));
  if (h != NULL) {
    loop->heap = h;
    loop->heap_cap = cap;
  }
}

static uint64_t tern__sat_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

_Static_assert(sizeof(struct tern_timer) <= sizeof(tern_timer_storage),
               "tern_timer_storage is too small for struct tern_timer");

static int timer_check(tern_loop *loop, tern_timer **out, tern_timer_fn fn) {
  if (out == NULL)
    return TERN_EINVAL;
  *out = NULL;
  if (loop == NULL || fn == NULL)
    return TERN_EINVAL;
  if (loop->closing)
    return TERN_ECLOSED;
  if (tern__heap_reserve(loop, loop->ntimers + 1) != TERN_OK)
    return TERN_ENOMEM;
  return TERN_OK;
}

static void timer_link(tern_loop *loop, tern_timer *t, tern_timer_fn fn,
                       void *ud) {
  t->loop = loop;
  t->fn = fn;
  t->ud = ud;
  t->heap_index = TERN__TIMER_IDLE;
  t->next = loop->timers;
  if (loop->timers != NULL)
    loop->timers->prev = t;
  loop->timers = t;
  loop->ntimers++;
}

int tern_timer_new(tern_loop *loop, tern_timer **out, tern_timer_fn fn,
                   void *ud) {
  int rc = timer_check(loop, out, fn);
  if (rc != TERN_OK)
    return rc;
  tern_timer *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return TERN_ENOMEM;
  timer_link(loop, t, fn, ud);
  *out = t;
  return TERN_OK;
}

int tern_timer_new_in(tern_loop *loop, tern_timer_storage *mem,
                      tern_timer **out, tern_timer_fn fn, void *ud) {
  if (mem == NULL)
    return TERN_EINVAL;
  int rc = timer_check(loop, out, fn);
  if (rc != TERN_OK)
    return rc;
  tern_timer *t = (tern_timer *)(void *)mem;
  memset(t, 0, sizeof(*t));
  t->embedded = true;
  timer_link(loop, t, fn, ud);
  *out = t;
  return TERN_OK;
}

void tern_timer_start(tern_timer *t, uint64_t delay_ms, uint64_t repeat_ms) {
  if (t == NULL)
    return;
  tern_loop *loop = t->loop;
  if (t->heap_index != TERN__TIMER_IDLE)
    tern__heap_remove(loop, t);
  t->due = tern__sat_add(loop->now, delay_ms);
  t->repeat = repeat_ms;
  t->seq = loop->timer_seq++;
  tern__heap_push(loop, t);
}

void tern_timer_stop(tern_timer *t) {
  if (t != NULL && t->heap_index != TERN__TIMER_IDLE)
    tern__heap_remove(t->loop, t);
}

bool tern_timer_active(const tern_timer *t) {
  return t != NULL && t->heap_index != TERN__TIMER_IDLE;
}

uint64_t tern_timer_due(const tern_timer *t) { return t != NULL ? t->due : 0; }

void tern_timer_free(tern_timer *t) {
  if (t == NULL)
    return;
  tern_loop *loop = t->loop;
  tern_timer_stop(t);
  if (t->prev != NULL)
    t->prev->next = t->next;
  else
    loop->timers = t->next;
  if (t->next != NULL)
    t->next->prev = t->prev;
  loop->ntimers--;
  if (!t->embedded)
    free(t);
  tern__heap_shrink(loop);
}

int tern__timer_timeout(const tern_loop *loop) {
  if (loop->heap_len == 0)
    return -1;
  /* The live clock, not loop->now: callbacks since the last refresh have
   * used up part of the wait. */
  uint64_t now = tern_clock_ms();
  uint64_t due = loop->heap[0]->due;
  if (due <= now)
    return 0;
  return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

/* The callback is the last thing that touches t, so it may free t, and it
 * may stop or free any other timer (they only leave the heap). */
void tern__timer_run(tern_loop *loop) {
  uint64_t now = loop->now;
  uint64_t limit = loop->timer_seq;
  while (loop->heap_len > 0) {
    tern_timer *t = loop->heap[0];
    if (t->due > now || t->seq >= limit)
      break;
    tern__heap_remove(loop, t);
    if (t->repeat != 0) {
      /* From now, not from the old due time: a loop that fell behind
       * fires once, not once per missed period. */
      t->due = tern__sat_add(now, t->repeat);
      t->seq = loop->timer_seq++;
      tern__heap_push(loop, t);
    }
    t->fn(t, t->ud);
  }
}

void tern__timer_free_all(tern_loop *loop) {
  while (loop->timers != NULL) {
    tern_timer *t = loop->timers;
    loop->timers = t->next;
    if (!t->embedded)
      free(t);
  }
  free(loop->heap);
  loop->heap = NULL;
  loop->heap_len = loop->heap_cap = loop->ntimers = 0;
}
