/* src/port/posix/thread.c: tern_thread on pthreads.
 *
 * The tern_thread object carries fn/arg into the new thread and lives until
 * tern_thread_join(), so the start routine never races with a free.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "posix_internal.h"
#include "tern/port.h"

/* Linux limits thread names to 15 bytes plus NUL; longer ones are cut. */
#define TERN__THREAD_NAME_MAX 16

struct tern_thread {
  pthread_t tid;
  tern_thread_fn fn;
  void *arg;
  char name[TERN__THREAD_NAME_MAX];
};

static void *tern__thread_main(void *p) {
  tern_thread *t = p;
#if defined(__linux__) && defined(_GNU_SOURCE)
  /* Named from inside: naming from the creator would race with exit. */
  if (t->name[0] != '\0')
    (void)pthread_setname_np(pthread_self(), t->name);
#endif
  t->fn(t->arg);
  return NULL;
}

int tern_thread_new(tern_thread **out, const char *name, tern_thread_fn fn,
                    void *arg) {
  if (out == NULL)
    return TERN_EINVAL;
  *out = NULL;
  if (fn == NULL)
    return TERN_EINVAL;
  tern_thread *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return TERN_ENOMEM;
  t->fn = fn;
  t->arg = arg;
  if (name != NULL) {
    size_t n = strnlen(name, sizeof(t->name) - 1);
    memcpy(t->name, name, n);
    t->name[n] = '\0';
  }
  int rc = pthread_create(&t->tid, NULL, tern__thread_main, t);
  if (rc != 0) {
    free(t);
    return tern__posix_err(rc);
  }
  *out = t;
  return TERN_OK;
}

int tern_thread_join(tern_thread *t) {
  if (t == NULL)
    return TERN_EINVAL;
  /* On failure (joining oneself) t stays valid: the thread still runs. */
  int rc = pthread_join(t->tid, NULL);
  if (rc != 0)
    return tern__posix_err(rc);
  free(t);
  return TERN_OK;
}

uintptr_t tern_thread_self(void) {
  /* pthread_t is an integer or a pointer on every POSIX system tern
   * targets; either converts. */
  return (uintptr_t)pthread_self();
}
