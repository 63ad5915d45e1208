/* src/port/nosys/mutex.c: tern_mutex for a single-threaded superloop.
 *
 * With one thread and no preemption there is nothing to exclude, so lock
 * and unlock do nothing. The object still exists (a byte) so code written
 * for a threaded port runs unchanged: _new can fail with TERN_ENOMEM and
 * _free releases it, as everywhere.
 */
#include <stdlib.h>

#include "tern/base.h"
#include "tern/port.h"

struct tern_mutex {
  unsigned char unused; /* C needs a member; nothing to keep */
};

int tern_mutex_new(tern_mutex **out) {
  if (out == NULL)
    return TERN_EINVAL;
  *out = malloc(sizeof(**out));
  return *out == NULL ? TERN_ENOMEM : TERN_OK;
}

void tern_mutex_free(tern_mutex *m) { free(m); }

void tern_mutex_lock(tern_mutex *m) { (void)m; }

void tern_mutex_unlock(tern_mutex *m) { (void)m; }
