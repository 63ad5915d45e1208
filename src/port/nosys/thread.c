/* src/port/nosys/thread.c: no threads on bare metal (TERN_NO_SYS).
 *
 * A superloop has one thread of control; creating another is not
 * something this port can do, so it says so (TERN_ENOTSUP) instead of
 * running fn inline, which would change the caller's ordering assumptions.
 * An RTOS port would map these to its tasks.
 */
#include "tern/base.h"
#include "tern/port.h"

int tern_thread_new(tern_thread **out, const char *name, tern_thread_fn fn,
                    void *arg) {
  (void)name;
  (void)fn;
  (void)arg;
  if (out != NULL)
    *out = NULL;
  return TERN_ENOTSUP;
}

int tern_thread_join(tern_thread *t) {
  return t == NULL ? TERN_EINVAL : TERN_ENOTSUP;
}

/* The one thread. Never 0, so "no owner yet" stays distinguishable. */
uintptr_t tern_thread_self(void) { return 1; }
