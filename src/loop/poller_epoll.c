/* src/loop/poller_epoll.c: the epoll backend (Linux, the default).
 *
 * Level-triggered, one registration per watcher with the watcher pointer
 * as the event's data; io.c keeps a watcher stopped mid-batch allocated
 * until the batch is done, so a pointer read from the kernel's report is
 * never dangling. One descriptor can have one watcher: epoll refuses a
 * second registration with TERN_EEXIST. The fd must be unwatched
 * (tern_io_stop) before it is closed, as with any epoll user: a closed
 * descriptor that was dup()ed stays in the set.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop_internal.h"

struct tern__poller {
  int epfd;
  size_t max;
  struct epoll_event ev[]; /* the kernel's reports, max of them */
};

int tern__poller_init(tern_loop *loop, size_t max_events) {
  if (max_events > (SIZE_MAX - sizeof(struct tern__poller)) /
                       sizeof(struct epoll_event))
    return TERN_ENOMEM;
  struct tern__poller *p =
      malloc(sizeof(*p) + max_events * sizeof(struct epoll_event));
  if (p == NULL)
    return TERN_ENOMEM;
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (p->epfd < 0) {
    int rc = tern_err_from_errno(errno);
    free(p);
    return rc;
  }
  p->max = max_events;
  loop->poller = p;
  return TERN_OK;
}

void tern__poller_fini(tern_loop *loop) {
  struct tern__poller *p = loop->poller;
  if (p == NULL)
    return;
  close(p->epfd);
  free(p);
  loop->poller = NULL;
}

static int tern__epoll_ctl(tern_loop *loop, int op, tern_io *io,
                           unsigned events) {
  struct epoll_event e = {0};
  if (events & TERN_IO_READ)
    e.events |= EPOLLIN;
  if (events & TERN_IO_WRITE)
    e.events |= EPOLLOUT;
  e.data.ptr = io;
  if (epoll_ctl(loop->poller->epfd, op, io->fd, &e) != 0)
    return tern_err_from_errno(errno);
  return TERN_OK;
}

int tern__poller_add(tern_loop *loop, tern_io *io, unsigned events) {
  return tern__epoll_ctl(loop, EPOLL_CTL_ADD, io, events);
}

int tern__poller_mod(tern_loop *loop, tern_io *io, unsigned events) {
  return tern__epoll_ctl(loop, EPOLL_CTL_MOD, io, events);
}

void tern__poller_del(tern_loop *loop, tern_io *io) {
  /* Fails only if fd was already closed, which removed it anyway. */
  (void)tern__epoll_ctl(loop, EPOLL_CTL_DEL, io, 0);
}

static unsigned tern__epoll_bits(uint32_t e) {
  unsigned bits = 0;
  if (e & EPOLLIN)
    bits |= TERN_IO_READ;
  if (e & EPOLLOUT)
    bits |= TERN_IO_WRITE;
  if (e & (EPOLLERR | EPOLLHUP))
    bits |= TERN_IO_ERROR;
  return bits;
}

int tern__poller_wait(tern_loop *loop, int timeout_ms, tern__event *out,
                      size_t max) {
  struct tern__poller *p = loop->poller;
  if (max > p->max)
    max = p->max;
  int n = epoll_wait(p->epfd, p->ev, (int)max, timeout_ms);
  if (n < 0)
    return errno == EINTR ? 0 : tern_err_from_errno(errno);
  for (int i = 0; i < n; i++) {
    out[i].io = p->ev[i].data.ptr;
    out[i].events = tern__epoll_bits(p->ev[i].events);
  }
  return n;
}
