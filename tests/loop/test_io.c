/* tests/loop/test_io.c: descriptor watchers on pipes and socketpairs:
 * readiness, changing the watched set (including to nothing), hang-up,
 * stopping watchers from callbacks, including one the same wait reported.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/base.h"
#include "tern/loop.h"

#define PATIENCE_MS 20000

static int setup(void **state) {
  tern_loop *loop = NULL;
  if (tern_loop_new(&loop, NULL) != TERN_OK)
    return -1;
  *state = loop;
  return 0;
}

static int teardown(void **state) {
  tern_loop_free(*state);
  return 0;
}

static void make_pipe(int p[2]) {
  assert_int_equal(pipe(p), 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(fcntl(p[i], F_SETFL, O_NONBLOCK), 0);
}

static void put_byte(int fd) {
  char c = 'x';
  assert_int_equal(write(fd, &c, 1), 1);
}

typedef struct rec {
  int calls;
  unsigned last;
  int drain_fd; /* >= 0: read what is there */
  long got;     /* bytes read; 0 after a read that saw EOF */
  bool eof;
} rec;

static void record(tern_io *io, unsigned events, void *ud) {
  rec *r = ud;
  (void)io;
  r->calls++;
  r->last = events;
  if (r->drain_fd >= 0 && (events & TERN_IO_READ)) {
    char buf[256];
    ssize_t n = read(r->drain_fd, buf, sizeof(buf));
    if (n > 0)
      r->got += n;
    if (n == 0)
      r->eof = true;
  }
}

static void poll_until(tern_loop *loop, const int *count, int want) {
  uint64_t give_up = tern_clock_ms() + PATIENCE_MS;
  while (*count < want && tern_clock_ms() < give_up)
    assert_int_equal(tern_loop_poll(loop, 50), TERN_OK);
}

static void test_pipe_read_readiness(void **state) {
  tern_loop *loop = *state;
  int p[2];
  make_pipe(p);
  rec r = {.drain_fd = p[0]};
  tern_io *io = NULL;
  assert_int_equal(tern_io_start(loop, &io, p[0], TERN_IO_READ, record, &r),
                   TERN_OK);
  assert_int_equal(tern_io_events(io), TERN_IO_READ);
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(r.calls, 0); /* nothing to read yet */
  put_byte(p[1]);
  poll_until(loop, &r.calls, 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.last, TERN_IO_READ);
  assert_int_equal(r.got, 1);
  /* Drained: level-triggered readiness is gone. */
  assert_int_equal(tern_loop_poll(loop, 20), TERN_OK);
  assert_int_equal(r.calls, 1);
  tern_io_stop(io);
  close(p[0]);
  close(p[1]);
}

/* A watcher in the caller's storage: same behaviour, never freed by the
 * loop (ASan would flag a free of memory malloc did not hand out), and
 * stopping it inside its own callback is safe. */
typedef struct owner {
  tern_io_storage mem;
  tern_io *io;
  rec r;
} owner;

static void record_and_stop(tern_io *io, unsigned events, void *ud) {
  owner *o = ud;
  record(io, events, &o->r);
  tern_io_stop(io);
}

static void test_start_in_caller_storage(void **state) {
  tern_loop *loop = *state;
  int p[2];
  make_pipe(p);
  owner o = {.r = {.drain_fd = p[0]}};
  assert_int_equal(tern_io_start_in(loop, NULL, &o.io, p[0], TERN_IO_READ,
                                    record_and_stop, &o), TERN_EINVAL);
  assert_int_equal(tern_io_start_in(loop, &o.mem, &o.io, p[0], TERN_IO_READ,
                                    record_and_stop, &o), TERN_OK);
  assert_ptr_equal((void *)o.io, (void *)&o.mem);
  put_byte(p[1]);
  poll_until(loop, &o.r.calls, 1);
  assert_int_equal(o.r.calls, 1);
  put_byte(p[1]); /* stopped: no second call */
  assert_int_equal(tern_loop_poll(loop, 20), TERN_OK);
  assert_int_equal(o.r.calls, 1);
  /* Restart in the same storage, stop outside dispatch. */
  assert_int_equal(tern_io_start_in(loop, &o.mem, &o.io, p[0], TERN_IO_READ,
                                    record, &o.r), TERN_OK);
  poll_until(loop, &o.r.calls, 2);
  assert_int_equal(o.r.calls, 2);
  tern_io_stop(o.io);
  close(p[0]);
  close(p[1]);
}

static void test_socketpair_write_readiness(void **state) {
  tern_loop *loop = *state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  rec r = {.drain_fd = -1};
  tern_io *io = NULL;
  assert_int_equal(tern_io_start(loop, &io, sv[0], TERN_IO_READ | TERN_IO_WRITE,
                                 record, &r),
                   TERN_OK);
  poll_until(loop, &r.calls, 1);
  assert_int_equal(r.last, TERN_IO_WRITE); /* writable, nothing to read */
  put_byte(sv[1]);
  int before = r.calls;
  poll_until(loop, &r.calls, before + 1);
  assert_int_equal(r.last, TERN_IO_READ | TERN_IO_WRITE);
  /* Switch to write-only: the pending byte no longer shows. */
  assert_int_equal(tern_io_set(io, TERN_IO_WRITE), TERN_OK);
  before = r.calls;
  poll_until(loop, &r.calls, before + 1);
  assert_int_equal(r.last, TERN_IO_WRITE);
  tern_io_stop(io);
  close(sv[0]);
  close(sv[1]);
}

static void test_set_events_to_zero(void **state) {
  tern_loop *loop = *state;
  int p[2];
  make_pipe(p);
  rec r = {.drain_fd = -1};
  tern_io *io = NULL;
  assert_int_equal(tern_io_start(loop, &io, p[0], TERN_IO_READ, record, &r),
                   TERN_OK);
  put_byte(p[1]);
  assert_int_equal(tern_io_set(io, 0), TERN_OK);
  assert_int_equal(tern_io_events(io), 0);
  assert_int_equal(tern_io_set(io, 0), TERN_OK); /* idempotent */
  assert_int_equal(tern_loop_poll(loop, 30), TERN_OK);
  assert_int_equal(tern_loop_poll(loop, 0), TERN_OK);
  assert_int_equal(r.calls, 0);
  /* Not even a hang-up is reported while nothing is watched. */
  close(p[1]);
  assert_int_equal(tern_loop_poll(loop, 30), TERN_OK);
  assert_int_equal(r.calls, 0);
  assert_int_equal(tern_io_set(io, TERN_IO_READ), TERN_OK);
  poll_until(loop, &r.calls, 1);
  assert_true(r.last & TERN_IO_READ);
  tern_io_stop(io);
  close(p[0]);
}

static void test_start_with_no_events(void **state) {
  tern_loop *loop = *state;
  int p[2];
  make_pipe(p);
  rec r = {.drain_fd = -1};
  tern_io *io = NULL;
  put_byte(p[1]);
  assert_int_equal(tern_io_start(loop, &io, p[0], 0, record, &r), TERN_OK);
  assert_int_equal(tern_loop_poll(loop, 20), TERN_OK);
  assert_int_equal(r.calls, 0);
  assert_int_equal(tern_io_set(io, TERN_IO_READ | TERN_IO_ERROR), TERN_OK);
  assert_int_equal(tern_io_events(io), TERN_IO_READ); /* ERROR is implied */
  poll_until(loop, &r.calls, 1);
  assert_int_equal(r.last, TERN_IO_READ);
  tern_io_stop(io);
  close(p[0]);
  close(p[1]);
}

static void test_hangup_reports_read_and_error(void **state) {
  tern_loop *loop = *state;
  int p[2];
  make_pipe(p);
  rec r = {.drain_fd = p[0]};
  tern_io *io = NULL;
  assert_int_equal(tern_io_start(loop, &io, p[0], TERN_IO_READ, record, &r),
                   TERN_OK);
  close(p[1]);
  poll_until(loop, &r.calls, 1);
  assert_int_equal(r.calls, 1);
  /* A reader learns of the hang-up by reading: READ comes with it. */
  assert_true(r.last & TERN_IO_READ);
  assert_true(r.eof);
  tern_io_stop(io);
  close(p[0]);
}

/* ---- stopping watchers during dispatch ----------------------------- */

enum { PAIRS = 8 };

typedef struct mutual {
  tern_io *io[PAIRS];
  int fd[PAIRS][2];
  int calls[PAIRS];
} mutual;

typedef struct mutual_ref {
  mutual *m;
  int i;
} mutual_ref;

/* Whoever runs first stops every other watcher and then closes their
 * descriptors (the order loop.h asks for); none of those may be called,
 * even though the same wait reported them all readable. */
static void stop_the_others(tern_io *io, unsigned events, void *ud) {
  mutual_ref *ref = ud;
  mutual *m = ref->m;
  (void)io;
  (void)events;
  m->calls[ref->i]++;
  for (int j = 0; j < PAIRS; j++) {
    if (j == ref->i || m->io[j] == NULL)
      continue;
    tern_io_stop(m->io[j]);
    m->io[j] = NULL;
    close(m->fd[j][0]);
    close(m->fd[j][1]);
  }
}

static void test_stop_during_dispatch_same_batch(void **state) {
  tern_loop *loop = *state;
  for (int round = 0; round < 20; round++) {
    mutual m = {0};
    mutual_ref ref[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
      make_pipe(m.fd[i]);
      ref[i] = (mutual_ref){&m, i};
      assert_int_equal(tern_io_start(loop, &m.io[i], m.fd[i][0], TERN_IO_READ,
                                     stop_the_others, &ref[i]),
                       TERN_OK);
    }
    for (int i = 0; i < PAIRS; i++)
      put_byte(m.fd[i][1]); /* all ready before the wait */
    assert_int_equal(tern_loop_poll(loop, 5000), TERN_OK);
    int total = 0, survivor = -1;
    for (int i = 0; i < PAIRS; i++) {
      total += m.calls[i];
      if (m.io[i] != NULL)
        survivor = i;
    }
    assert_int_equal(total, 1);
    assert_true(survivor >= 0);
    assert_int_equal(m.calls[survivor], 1);
    tern_io_stop(m.io[survivor]);
    close(m.fd[survivor][0]);
    close(m.fd[survivor][1]);
  }
}

/* A callback that turns READ off for another watcher is obeyed at once. */
typedef struct silencer {
  tern_io *io[2];
  int calls[2];
} silencer;

typedef struct silencer_ref {
  silencer *s;
  int i;
} silencer_ref;

static void silence_other(tern_io *io, unsigned events, void *ud) {
  silencer_ref *ref = ud;
  (void)io;
  (void)events;
  ref->s->calls[ref->i]++;
  assert_int_equal(tern_io_set(ref->s->io[1 - ref->i], 0), TERN_OK);
}

static void test_set_zero_during_dispatch(void **state) {
  tern_loop *loop = *state;
  int p[2][2];
  silencer s = {0};
  silencer_ref ref[2];
  for (int i = 0; i < 2; i++) {
    make_pipe(p[i]);
    ref[i] = (silencer_ref){&s, i};
    assert_int_equal(tern_io_start(loop, &s.io[i], p[i][0], TERN_IO_READ,
                                   silence_other, &ref[i]),
                     TERN_OK);
    put_byte(p[i][1]);
  }
  assert_int_equal(tern_loop_poll(loop, 5000), TERN_OK);
  assert_int_equal(s.calls[0] + s.calls[1], 1);
  for (int i = 0; i < 2; i++) {
    tern_io_stop(s.io[i]);
    close(p[i][0]);
    close(p[i][1]);
  }
}

/* Stop yourself, then watch the same descriptor again with a new watcher,
 * all inside the callback. */
typedef struct rewatch {
  tern_loop *loop;
  tern_io *io;
  int fd;
  int first;
  int second;
} rewatch;

static void second_watcher(tern_io *io, unsigned events, void *ud) {
  rewatch *rw = ud;
  char c;
  (void)events;
  rw->second++;
  assert_int_equal(read(rw->fd, &c, 1), 1);
  tern_io_stop(io);
  rw->io = NULL;
}

static void first_watcher(tern_io *io, unsigned events, void *ud) {
  rewatch *rw = ud;
  (void)events;
  rw->first++;
  tern_io_stop(io);
  assert_int_equal(tern_io_start(rw->loop, &rw->io, rw->fd, TERN_IO_READ,
                                 second_watcher, rw),
                   TERN_OK);
}

static void test_restart_on_same_fd_in_callback(void **state) {
  tern_loop *loop = *state;
  int p[2];
  make_pipe(p);
  rewatch rw = {.loop = loop, .fd = p[0]};
  assert_int_equal(tern_io_start(loop, &rw.io, p[0], TERN_IO_READ,
                                 first_watcher, &rw),
                   TERN_OK);
  put_byte(p[1]);
  poll_until(loop, &rw.second, 1);
  assert_int_equal(rw.first, 1);
  assert_int_equal(rw.second, 1);
  assert_null(rw.io);
  close(p[0]);
  close(p[1]);
}

/* More ready descriptors than max_events: all are served over a few
 * waits (the remainder is not starved). */
static void test_more_ready_than_max_events(void **state) {
  (void)state;
  tern_loop_opts opts = {.max_events = 1};
  tern_loop *loop = NULL;
  assert_int_equal(tern_loop_new(&loop, &opts), TERN_OK);
  enum { N = 3 };
  int p[N][2];
  rec r[N];
  tern_io *io[N];
  for (int i = 0; i < N; i++) {
    make_pipe(p[i]);
    r[i] = (rec){.drain_fd = -1}; /* never drained: stays ready */
    assert_int_equal(tern_io_start(loop, &io[i], p[i][0], TERN_IO_READ,
                                   record, &r[i]),
                     TERN_OK);
    put_byte(p[i][1]);
  }
  for (int k = 0; k < 4 * N; k++)
    assert_int_equal(tern_loop_poll(loop, 1000), TERN_OK);
  for (int i = 0; i < N; i++) {
    assert_true(r[i].calls >= 1);
    assert_true(r[i].calls <= 4 * N);
  }
  for (int i = 0; i < N; i++) {
    tern_io_stop(io[i]);
    close(p[i][0]);
    close(p[i][1]);
  }
  tern_loop_free(loop);
}

static void test_many_watchers(void **state) {
  tern_loop *loop = *state;
  enum { N = 200 };
  int (*p)[2] = calloc(N, sizeof(*p));
  rec *r = calloc(N, sizeof(*r));
  tern_io **io = calloc(N, sizeof(*io));
  assert_true(p && r && io);
  for (int i = 0; i < N; i++) {
    make_pipe(p[i]);
    r[i].drain_fd = p[i][0];
    assert_int_equal(tern_io_start(loop, &io[i], p[i][0], TERN_IO_READ,
                                   record, &r[i]),
                     TERN_OK);
  }
  /* Remove every third (exercises removal from the middle). */
  for (int i = 0; i < N; i += 3) {
    tern_io_stop(io[i]);
    io[i] = NULL;
  }
  for (int i = 0; i < N; i++)
    put_byte(p[i][1]);
  int want = 0;
  for (int i = 0; i < N; i++)
    want += io[i] != NULL;
  uint64_t give_up = tern_clock_ms() + PATIENCE_MS;
  int got = 0;
  while (got < want && tern_clock_ms() < give_up) {
    assert_int_equal(tern_loop_poll(loop, 50), TERN_OK);
    got = 0;
    for (int i = 0; i < N; i++)
      got += r[i].calls > 0;
  }
  for (int i = 0; i < N; i++) {
    assert_int_equal(r[i].calls, io[i] != NULL ? 1 : 0);
    tern_io_stop(io[i]);
    close(p[i][0]);
    close(p[i][1]);
  }
  free(p);
  free(r);
  free(io);
}

static void test_bad_args(void **state) {
  tern_loop *loop = *state;
  rec r = {.drain_fd = -1};
  tern_io *io = (tern_io *)&io;
  assert_int_equal(tern_io_start(loop, &io, -1, TERN_IO_READ, record, &r),
                   TERN_EBADF);
  assert_null(io);
  assert_int_equal(tern_io_start(loop, &io, 0, 1u << 7, record, &r),
                   TERN_EINVAL);
  assert_int_equal(tern_io_start(loop, &io, 0, TERN_IO_READ, NULL, &r),
                   TERN_EINVAL);
  assert_int_equal(tern_io_start(NULL, &io, 0, TERN_IO_READ, record, &r),
                   TERN_EINVAL);
  assert_int_equal(tern_io_start(loop, NULL, 0, TERN_IO_READ, record, &r),
                   TERN_EINVAL);
  int p[2];
  make_pipe(p);
  assert_int_equal(tern_io_start(loop, &io, p[0], TERN_IO_READ, record, &r),
                   TERN_OK);
  assert_int_equal(tern_io_set(io, 1u << 9), TERN_EINVAL);
  assert_int_equal(tern_io_events(io), TERN_IO_READ);
  tern_io_stop(io);
  tern_io_stop(NULL);
  close(p[0]);
  close(p[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_pipe_read_readiness, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_start_in_caller_storage, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_socketpair_write_readiness, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_set_events_to_zero, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_start_with_no_events, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_hangup_reports_read_and_error,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop_during_dispatch_same_batch,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_zero_during_dispatch, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_restart_on_same_fd_in_callback,
                                      setup, teardown),
      cmocka_unit_test(test_more_ready_than_max_events),
      cmocka_unit_test_setup_teardown(test_many_watchers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
