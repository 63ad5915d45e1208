/* tests/base/guard_page.h: put test input right before an unmapped page,
 * so a parser that reads one byte past the end crashes the test
 * (picohttpparser test.c does the same). Used by test_addr.c and
 * test_url.c. */
#ifndef TERN_TEST_GUARD_PAGE_H
#define TERN_TEST_GUARD_PAGE_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct guard_page {
  char *map;
  size_t page;
} guard_page;

/* Maps two pages and makes the second one inaccessible. */
static inline void guard_page_init(guard_page *g) {
  g->page = (size_t)sysconf(_SC_PAGESIZE);
  g->map = mmap(NULL, 2 * g->page, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(g->map != MAP_FAILED);
  assert_int_equal(mprotect(g->map + g->page, g->page, PROT_NONE), 0);
}

/* Copies s[0..len) so that its last byte is the last readable byte. */
static inline const char *guard_page_put(guard_page *g, const char *s,
                                         size_t len) {
  char *p = g->map + g->page - len;

  assert_true(len <= g->page);
  memcpy(p, s, len);
  return p;
}

static inline void guard_page_free(guard_page *g) {
  munmap(g->map, 2 * g->page);
}

#endif
