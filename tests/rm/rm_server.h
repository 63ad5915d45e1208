/* tests/rm/rm_server.h: a resource manager in a thread for the rm tests:
 * its own loop and dispatcher, made and run on that thread; the test's
 * setup function attaches names there before the client side starts.
 * Header-only: each test_*.c is its own program. */
#ifndef TERN_TEST_RM_SERVER_H
#define TERN_TEST_RM_SERVER_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "tern/tern.h"

typedef struct test_srv {
  const char *registry;
  void (*setup)(struct test_srv *s); /* on the server thread */
  void *ud;
  const tern_rm_opts *opts;           /* NULL: only the registry */
  const tern_rm_pool_attr *pool;      /* non-NULL: a thread pool */
  tern_loop *loop;
  tern_rm_dispatch *d;
  tern_thread *th;
  tern_sem *ready;
  int rc;
} test_srv;

static void test_srv_main(void *arg) {
  test_srv *s = arg;
  tern_rm_opts o = {.registry = s->registry};
  if (s->opts) o = *s->opts, o.registry = s->registry;
  s->rc = tern_loop_new(&s->loop, NULL);
  if (s->rc == TERN_OK) s->rc = tern_rm_dispatch_new(&s->d, s->loop, &o);
  if (s->rc == TERN_OK && s->pool) s->rc = tern_rm_pool_start(s->d, s->pool);
  if (s->rc == TERN_OK && s->setup) s->setup(s);
  tern_sem_post(s->ready);
  if (s->rc != TERN_OK) return;
  tern_loop_run(s->loop);
  tern_rm_dispatch_free(s->d);
  tern_loop_free(s->loop);
}

static inline int test_srv_start(test_srv *s) {
  if (tern_sem_new(&s->ready, 0) != TERN_OK) return TERN_ENOMEM;
  int rc = tern_thread_new(&s->th, "rm-srv", test_srv_main, s);
  if (rc != TERN_OK) return rc;
  tern_sem_wait(s->ready, TERN_WAIT_FOREVER);
  return s->rc;
}

static inline void test_srv_stop(test_srv *s) {
  if (s->rc == TERN_OK) tern_loop_stop(s->loop);
  tern_thread_join(s->th);
  tern_sem_free(s->ready);
}

/* A fresh registry directory, searchable by everyone (the permission test
 * connects as another uid). */
static inline char *test_registry(void) {
  char *dir = strdup("/tmp/tern-rm-test-XXXXXX");
  if (dir == NULL || mkdtemp(dir) == NULL) abort();
  chmod(dir, 0755);
  return dir;
}

static inline void test_registry_rm(char *dir) {
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) { /* leave it */
  }
  free(dir);
}

#endif
