/* ip_host.c: drive a tern_stack from a tern loop: one loop timer kept at
 * the stack's next deadline, and a read watcher per TAP device.
 *
 * The stack has no clock: before it does anything (frames in, timers) the
 * host gives it the loop's time with tern_stack_advance. After anything
 * that may have armed a stack timer (input, a raw API call) the host
 * re-arms its loop timer: tern_ip_host_kick. The ip backend kicks after
 * every operation.
 */
#include <stdlib.h>

#include "tern/backend.h"
#include "tern/ip.h"
#include "tern/ip_drivers.h"

#define HOST_MAX_TAPS 4
/* Frames taken from one TAP per wakeup, in tern_tap_poll batches, before
 * the loop gets to run other work. */
#define HOST_POLL_ROUNDS 8

struct tap_watch {
  tern_tap *tap;
  tern_io *io;
};

struct tern_ip_host {
  tern_loop *loop;
  tern_stack *st;
  tern_timer *timer;
  uint64_t armed;          /* due time the loop timer is set for, or 0 */
  struct tap_watch taps[HOST_MAX_TAPS];
  int ntaps;
};

static void on_timer(tern_timer *t, void *ud) {
  (void)t;
  tern_ip_host *h = ud;
  h->armed = 0;
  tern_stack_advance(h->st, tern_loop_now(h->loop));
  tern_ip_host_kick(h);
}

void tern_ip_host_kick(tern_ip_host *h) {
  uint64_t due = tern_stack_next_due(h->st);
  if (due == h->armed) return;
  if (due == UINT64_MAX) {
    tern_timer_stop(h->timer);
    h->armed = 0;
    return;
  }
  uint64_t now = tern_loop_now(h->loop);
  tern_timer_start(h->timer, due > now ? due - now : 0, 0);
  h->armed = due;
}

static void tap_ready(tern_ip_host *h, struct tap_watch *w) {
  tern_stack_advance(h->st, tern_loop_now(h->loop));
  for (int i = 0; i < HOST_POLL_ROUNDS; i++)
    if (tern_tap_poll(w->tap) <= 0) break;
  tern_ip_host_kick(h);
}

static void on_tap_io(tern_io *io, unsigned events, void *ud) {
  (void)io;
  (void)events;
  tern_ip_host *h = ud;
  for (int i = 0; i < h->ntaps; i++)
    if (h->taps[i].io == io) tap_ready(h, &h->taps[i]);
}

int tern_ip_host_new(tern_ip_host **out, tern_loop *loop, tern_stack *st) {
  if (!out || !loop || !st) return TERN_EINVAL;
  tern_ip_host *h = calloc(1, sizeof *h);
  if (!h) return TERN_ENOMEM;
  h->loop = loop;
  h->st = st;
  int err = tern_timer_new(loop, &h->timer, on_timer, h);
  if (err) {
    free(h);
    return err;
  }
  tern_stack_advance(st, tern_loop_now(loop));
  tern_ip_host_kick(h);
  *out = h;
  return TERN_OK;
}

void tern_ip_host_free(tern_ip_host *h) {
  if (!h) return;
  for (int i = 0; i < h->ntaps; i++) tern_io_stop(h->taps[i].io);
  tern_timer_free(h->timer);
  free(h);
}

int tern_ip_host_add_tap(tern_ip_host *h, tern_tap *tap) {
  if (h->ntaps == HOST_MAX_TAPS) return TERN_ENOSPC;
  struct tap_watch *w = &h->taps[h->ntaps];
  int err = tern_io_start(h->loop, &w->io, tern_tap_fd(tap), TERN_IO_READ,
                          on_tap_io, h);
  if (err) return err;
  w->tap = tap;
  h->ntaps++;
  return TERN_OK;
}

tern_stack *tern_ip_host_stack(const tern_ip_host *h) { return h->st; }
