/* tests/proto/guard_buf.h: put test input right before an unmapped page,
 * so a parser that reads one byte past the end crashes the test. Like
 * tests/base/guard_page.h, but for inputs larger than one page (HTTP
 * heads up to 64 KiB). Used by test_http_parse.c and test_http_chunked.c. */
#ifndef TERN_TEST_GUARD_BUF_H
#define TERN_TEST_GUARD_BUF_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct guard_buf {
  uint8_t *map;
  size_t size; /* readable bytes before the guard page */
  size_t page;
} guard_buf;

/* Maps room for at least size bytes, then one inaccessible page. */
static inline void guard_buf_init(guard_buf *g, size_t size) {
  void *m;

  g->page = (size_t)sysconf(_SC_PAGESIZE);
  g->size = (size + g->page - 1) / g->page * g->page;
  m = mmap(NULL, g->size + g->page, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(m != MAP_FAILED);
  g->map = m;
  assert_int_equal(mprotect(g->map + g->size, g->page, PROT_NONE), 0);
}

/* Copies s[0..len) so that its last byte is the last readable byte. */
static inline const uint8_t *guard_buf_put(guard_buf *g, const void *s,
                                           size_t len) {
  uint8_t *p = g->map + g->size - len;

  assert_true(len <= g->size);
  if (len > 0) memcpy(p, s, len);
  return p;
}

static inline void guard_buf_free(guard_buf *g) {
  munmap(g->map, g->size + g->page);
}

#endif
