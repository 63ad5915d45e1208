/* src/loop/io.c: descriptor watchers (tern_io) and their dispatch.
 *
 * A watcher is in the poller only while it watches something (events !=
 * 0), so "watch nothing for now" costs no wake-ups, not even for hang-ups
 * that epoll and poll report unasked.
 *
 * The poller's reports carry watcher pointers. A callback may stop any
 * watcher, including one reported later in the same batch; such a watcher
 * is marked dead and freed only after the batch, so the pointer in the
 * batch stays valid, is recognised and skipped, and its memory cannot be
 * reused by a new watcher while the batch is being read. Reports are also
 * masked with the watcher's current events: a callback that turned READ
 * off for another watcher is obeyed at once.
 */
#include <stdlib.h>
#include <string.h>

#include "loop_internal.h"

static void tern__io_link(tern_loop *loop, tern_io *io) {
  io->prev = NULL;
  io->next = loop->ios;
  if (loop->ios != NULL)
    loop->ios->prev = io;
  loop->ios = io;
}

static void tern__io_unlink(tern_loop *loop, tern_io *io) {
  if (io->prev != NULL)
    io->prev->next = io->next;
  else
    loop->ios = io->next;
  if (io->next != NULL)
    io->next->prev = io->prev;
  io->prev = io->next = NULL;
}

static bool tern__io_events_ok(unsigned events) {
  return (events & ~(unsigned)(TERN__IO_RW | TERN_IO_ERROR)) == 0;
}

_Static_assert(sizeof(struct tern_io) <= sizeof(tern_io_storage),
               "tern_io_storage is too small for struct tern_io");

static int io_begin(tern_loop *loop, tern_io **out, int fd, unsigned events,
                    tern_io_fn fn) {
  if (out == NULL)
    return TERN_EINVAL;
  *out = NULL;
  if (loop == NULL || fn == NULL || !tern__io_events_ok(events))
    return TERN_EINVAL;
  if (fd < 0)
    return TERN_EBADF;
  if (loop->closing)
    return TERN_ECLOSED;
  return TERN_OK;
}

static int io_init(tern_loop *loop, tern_io *io, int fd, unsigned events,
                   tern_io_fn fn, void *ud) {
  io->loop = loop;
  io->fn = fn;
  io->ud = ud;
  io->fd = fd;
  events &= TERN__IO_RW; /* ERROR is implied, never registered */
  if (events != 0) {
    int rc = tern__poller_add(loop, io, events);
    if (rc != TERN_OK)
      return rc;
  }
  io->events = events;
  tern__io_link(loop, io);
  return TERN_OK;
}

int tern_io_start(tern_loop *loop, tern_io **out, int fd, unsigned events,
                  tern_io_fn fn, void *ud) {
  int rc = io_begin(loop, out, fd, events, fn);
  if (rc != TERN_OK)
    return rc;
  tern_io *io = calloc(1, sizeof(*io));
  if (io == NULL)
    return TERN_ENOMEM;
  rc = io_init(loop, io, fd, events, fn, ud);
  if (rc != TERN_OK) {
    free(io);
    return rc;
  }
  *out = io;
  return TERN_OK;
}

int tern_io_start_in(tern_loop *loop, tern_io_storage *mem, tern_io **out,
                     int fd, unsigned events, tern_io_fn fn, void *ud) {
  if (mem == NULL)
    return TERN_EINVAL;
  int rc = io_begin(loop, out, fd, events, fn);
  if (rc != TERN_OK)
    return rc;
  tern_io *io = (tern_io *)(void *)mem;
  memset(io, 0, sizeof(*io));
  io->embedded = true;
  rc = io_init(loop, io, fd, events, fn, ud);
  if (rc == TERN_OK)
    *out = io;
  return rc;
}

int tern_io_set(tern_io *io, unsigned events) {
  if (io == NULL || !tern__io_events_ok(events))
    return TERN_EINVAL;
  if (io->dead)
    return TERN_ECLOSED;
  events &= TERN__IO_RW;
  if (events == io->events)
    return TERN_OK;
  int rc = TERN_OK;
  if (io->events == 0)
    rc = tern__poller_add(io->loop, io, events);
  else if (events == 0)
    tern__poller_del(io->loop, io);
  else
    rc = tern__poller_mod(io->loop, io, events);
  if (rc == TERN_OK)
    io->events = events;
  return rc;
}

unsigned tern_io_events(const tern_io *io) {
  return io != NULL ? io->events : 0;
}

void tern_io_stop(tern_io *io) {
  if (io == NULL || io->dead)
    return;
  tern_loop *loop = io->loop;
  if (io->events != 0)
    tern__poller_del(loop, io);
  io->events = 0;
  tern__io_unlink(loop, io);
  if (!loop->dispatching) {
    if (!io->embedded)
      free(io);
    return;
  }
  io->dead = true;
  io->next = loop->io_dead;
  loop->io_dead = io;
}

static void tern__io_free_dead(tern_loop *loop) {
  while (loop->io_dead != NULL) {
    tern_io *io = loop->io_dead;
    loop->io_dead = io->next;
    if (!io->embedded)
      free(io);
  }
}

/* On error or hang-up the watched READ/WRITE bits are reported too (as
 * libuv does): a callback that only reads or writes then meets the EOF or
 * the error in its read()/write() instead of spinning on a level-triggered
 * report it ignores. */
static unsigned tern__io_mask(const tern_io *io, unsigned reported) {
  if (io->dead || io->events == 0)
    return 0;
  if (reported & TERN_IO_ERROR)
    reported |= io->events;
  return reported & (io->events | TERN_IO_ERROR);
}

void tern__io_dispatch(tern_loop *loop, size_t n) {
  loop->dispatching = true;
  for (size_t i = 0; i < n; i++) {
    tern_io *io = loop->events[i].io;
    unsigned bits = tern__io_mask(io, loop->events[i].events);
    if (bits != 0)
      io->fn(io, bits, io->ud);
  }
  loop->dispatching = false;
  tern__io_free_dead(loop);
}

/* tern_loop_free: no callbacks, no poller calls (the poller goes next). */
void tern__io_free_all(tern_loop *loop) {
  tern__io_free_dead(loop);
  while (loop->ios != NULL) {
    tern_io *io = loop->ios;
    loop->ios = io->next;
    free(io);
  }
}
