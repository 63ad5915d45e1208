/* src/port/nosys/random.c: no portable entropy source on bare metal.
 *
 * tern_random fails (TERN_EIO) rather than return something predictable:
 * TCP initial sequence numbers (RFC 6528) and ephemeral ports must not be
 * guessable. The stack takes its random source per instance
 * (tern_stack_opts.random): a firmware passes the MCU's hardware RNG there.
 * That needs no global registration here, so the port keeps no state.
 */
#include "tern/base.h"
#include "tern/port.h"

int tern_random(void *buf, size_t len) {
  if (len == 0)
    return TERN_OK;
  if (buf == NULL)
    return TERN_EINVAL;
  return TERN_EIO;
}
