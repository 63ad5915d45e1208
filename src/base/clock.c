/* base/clock.c: the monotonic clock (POSIX CLOCK_MONOTONIC), and the
 * wall clock for timestamps only.
 *
 * Timers and timeouts use this, never the wall clock, so a clock step
 * (NTP, SNTP, the user) cannot fire or stall them. On bare metal
 * (TERN_NO_SYS) the clock is the application's tick counter instead.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "tern/config.h"

#if TERN_NO_SYS
/* Bare metal: the application's tick (tern_port_clock_ms, tern/port.h);
 * no calendar time until something (SNTP, an RTC) is wired in. */
#include "tern/base.h"
#include "tern/port.h"

uint64_t tern_clock_ms(void) { return tern_port_clock_ms(); }

uint64_t tern_clock_us(void) { return tern_port_clock_ms() * 1000u; }

int64_t tern_clock_wall_us(void) { return 0; }

#else /* !TERN_NO_SYS */
#include <time.h>

#include "tern/base.h"

/* clock_gettime(CLOCK_MONOTONIC) cannot fail on Linux with a valid
 * pointer; if it ever did we report 0 rather than garbage. */
static struct timespec clock_now(void) {
  struct timespec ts;

  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
    ts.tv_sec = 0;
    ts.tv_nsec = 0;
  }
  return ts;
}

uint64_t tern_clock_ms(void) {
  struct timespec ts = clock_now();

  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t tern_clock_us(void) {
  struct timespec ts = clock_now();

  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t tern_clock_wall_us(void) {
  struct timespec ts;

  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
#endif /* TERN_NO_SYS */
