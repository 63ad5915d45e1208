/* src/loop/poller_poll.c: the poll() backend (TERN_LOOP_POLL), for systems
 * without epoll and for testing the loop against a second backend.
 *
 * Registered watchers sit in a dense pollfd array with a parallel array of
 * watcher pointers; each watcher keeps its index (io->slot), so removal is
 * O(1): the last entry moves into the hole. A wait is O(registered fds),
 * the price of poll(). Reports are copied out before any callback runs,
 * so callbacks may add and remove entries freely.
 *
 * If more than max descriptors are ready, the scan resumes next time where
 * it stopped, so the ones at the end of the array are not starved.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "loop_internal.h"

#define TERN__POLL_MIN 16

_Static_assert(sizeof(struct pollfd) % _Alignof(tern_io *) == 0,
               "the watcher array follows the pollfd array in one block");

struct tern__poller {
  struct pollfd *pfd;
  tern_io **io; /* inside the pfd allocation, see tern__poll_resize */
  size_t len;
  size_t cap;
  size_t max;
  size_t next; /* where the next scan for ready entries starts */
};

int tern__poller_init(tern_loop *loop, size_t max_events) {
  struct tern__poller *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return TERN_ENOMEM;
  p->max = max_events;
  loop->poller = p;
  return TERN_OK;
}

void tern__poller_fini(tern_loop *loop) {
  struct tern__poller *p = loop->poller;
  if (p == NULL)
    return;
  free(p->pfd); /* p->io is in the same block */
  free(p);
  loop->poller = NULL;
}

/* Both arrays live in one block ([pollfd x cap][tern_io * x cap]; a pollfd
 * is 8 bytes, so the pointers stay aligned): a resize either happens
 * whole or not at all. */
static int tern__poll_resize(struct tern__poller *p, size_t cap) {
  size_t each = sizeof(struct pollfd) + sizeof(tern_io *);
  if (cap > SIZE_MAX / each)
    return TERN_ENOMEM;
  struct pollfd *pfd = malloc(cap * each);
  if (pfd == NULL)
    return TERN_ENOMEM;
  tern_io **io = (tern_io **)(void *)(pfd + cap);
  if (p->len > 0) {
    memcpy(pfd, p->pfd, p->len * sizeof(*pfd));
    memcpy(io, p->io, p->len * sizeof(*io));
  }
  free(p->pfd);
  p->pfd = pfd;
  p->io = io;
  p->cap = cap;
  return TERN_OK;
}

static short tern__poll_mask(unsigned events) {
  short m = 0;
  if (events & TERN_IO_READ)
    m |= POLLIN;
  if (events & TERN_IO_WRITE)
    m |= POLLOUT;
  return m;
}

int tern__poller_add(tern_loop *loop, tern_io *io, unsigned events) {
  struct tern__poller *p = loop->poller;
  if (p->len == p->cap) {
    int rc = tern__poll_resize(p, p->cap != 0 ? p->cap * 2 : TERN__POLL_MIN);
    if (rc != TERN_OK)
      return rc;
  }
  p->pfd[p->len] = (struct pollfd){.fd = io->fd,
                                   .events = tern__poll_mask(events)};
  p->io[p->len] = io;
  io->slot = p->len++;
  return TERN_OK;
}

int tern__poller_mod(tern_loop *loop, tern_io *io, unsigned events) {
  loop->poller->pfd[io->slot].events = tern__poll_mask(events);
  return TERN_OK;
}

void tern__poller_del(tern_loop *loop, tern_io *io) {
  struct tern__poller *p = loop->poller;
  size_t i = io->slot;
  size_t last = --p->len;
  if (i != last) {
    p->pfd[i] = p->pfd[last];
    p->io[i] = p->io[last];
    p->io[i]->slot = i;
  }
  /* Give memory back after a burst; a failed shrink keeps it. */
  if (p->cap > TERN__POLL_MIN && p->len <= p->cap / 4)
    (void)tern__poll_resize(p, p->cap / 2);
}

static unsigned tern__poll_bits(short re) {
  unsigned bits = 0;
  if (re & POLLIN)
    bits |= TERN_IO_READ;
  if (re & POLLOUT)
    bits |= TERN_IO_WRITE;
  if (re & (POLLERR | POLLHUP | POLLNVAL))
    bits |= TERN_IO_ERROR;
  return bits;
}

int tern__poller_wait(tern_loop *loop, int timeout_ms, tern__event *out,
                      size_t max) {
  struct tern__poller *p = loop->poller;
  int ready = poll(p->pfd, (nfds_t)p->len, timeout_ms);
  if (ready < 0)
    return errno == EINTR ? 0 : tern_err_from_errno(errno);
  if (max > p->max)
    max = p->max;
  size_t n = 0;
  size_t i = p->next < p->len ? p->next : 0;
  for (size_t seen = 0; seen < p->len && n < max && ready > 0; seen++) {
    if (p->pfd[i].revents != 0) {
      out[n].io = p->io[i];
      out[n].events = tern__poll_bits(p->pfd[i].revents);
      n++;
      ready--;
    }
    i = i + 1 == p->len ? 0 : i + 1;
  }
  p->next = i;
  return (int)n;
}
