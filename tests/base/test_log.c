/* tests/base/test_log.c: levels, overrides, sinks, truncation, threads.
 *
 * Log settings are process-wide, so the tests run in the listed order and
 * each one restores the level and sink it changed. Overrides cannot be
 * removed; the limit test counts the ones made before it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tern/base.h"

typedef struct capture {
  int count;
  tern_log_level level;
  char subsys[64];
  char line[1024];
  size_t line_len;
} capture;

static void capture_sink(tern_log_level level, const char *subsys,
                         const char *line, void *ud) {
  capture *c = ud;

  c->count++;
  c->level = level;
  snprintf(c->subsys, sizeof(c->subsys), "%s", subsys);
  c->line_len = strlen(line);
  snprintf(c->line, sizeof(c->line), "%s", line);
}

static int teardown(void **state) {
  (void)state;
  tern_log_set_sink(NULL, NULL);
  tern_log_set_level(TERN_LOG_WARN);
  return 0;
}

static void test_default_level(void **state) {
  (void)state;
  assert_int_equal(tern_log_get_level(), TERN_LOG_WARN);
  assert_true(tern_log_enabled(TERN_LOG_ERROR, "x"));
  assert_true(tern_log_enabled(TERN_LOG_WARN, "x"));
  assert_false(tern_log_enabled(TERN_LOG_INFO, "x"));
  assert_false(tern_log_enabled(TERN_LOG_TRACE, NULL));
}

static void test_set_level(void **state) {
  (void)state;
  tern_log_set_level(TERN_LOG_DEBUG);
  assert_int_equal(tern_log_get_level(), TERN_LOG_DEBUG);
  assert_true(tern_log_enabled(TERN_LOG_DEBUG, "x"));
  assert_false(tern_log_enabled(TERN_LOG_TRACE, "x"));
  tern_log_set_level(TERN_LOG_ERROR);
  assert_false(tern_log_enabled(TERN_LOG_WARN, "x"));
  tern_log_set_level((tern_log_level)99); /* out of range: clamped */
  assert_int_equal(tern_log_get_level(), TERN_LOG_TRACE);
}

static int side_effects;
static int bump(void) { return ++side_effects; }

static void test_sink_and_macro(void **state) {
  capture c = {0};

  (void)state;
  tern_log_set_sink(capture_sink, &c);
  tern_log(TERN_LOG_WARN, "net", "hello %d %s", 42, "x");
  assert_int_equal(c.count, 1);
  assert_int_equal(c.level, TERN_LOG_WARN);
  assert_string_equal(c.subsys, "net");
  assert_string_equal(c.line, "hello 42 x");
  /* Disabled: the arguments are not even evaluated. */
  tern_log(TERN_LOG_DEBUG, "net", "%d", bump());
  assert_int_equal(side_effects, 0);
  assert_int_equal(c.count, 1);
  tern_log(TERN_LOG_ERROR, "net", "%d", bump());
  assert_int_equal(side_effects, 1);
  assert_string_equal(c.line, "1");
  /* tern_log_write filters too; a NULL subsys is shown as "-". */
  tern_log_write(TERN_LOG_INFO, "net", "no");
  assert_int_equal(c.count, 2);
  tern_log_write(TERN_LOG_ERROR, NULL, "yes");
  assert_int_equal(c.count, 3);
  assert_string_equal(c.subsys, "-");
}

static void test_subsys_override(void **state) {
  capture c = {0};

  (void)state;
  tern_log_set_sink(capture_sink, &c);
  assert_int_equal(tern_log_set_subsys_level("net", TERN_LOG_DEBUG), TERN_OK);
  assert_int_equal(tern_log_set_subsys_level("loop", TERN_LOG_ERROR), TERN_OK);
  assert_true(tern_log_enabled(TERN_LOG_DEBUG, "net"));
  assert_false(tern_log_enabled(TERN_LOG_TRACE, "net"));
  assert_false(tern_log_enabled(TERN_LOG_DEBUG, "netx"));
  assert_false(tern_log_enabled(TERN_LOG_DEBUG, "ne"));
  assert_false(tern_log_enabled(TERN_LOG_WARN, "loop")); /* quieter */
  assert_true(tern_log_enabled(TERN_LOG_WARN, "other"));
  tern_log(TERN_LOG_DEBUG, "net", "dbg");
  tern_log(TERN_LOG_DEBUG, "http", "dbg");
  tern_log(TERN_LOG_WARN, "loop", "warn");
  assert_int_equal(c.count, 1);
  /* Updating an override replaces it rather than adding one. */
  assert_int_equal(tern_log_set_subsys_level("net", TERN_LOG_WARN), TERN_OK);
  assert_false(tern_log_enabled(TERN_LOG_INFO, "net"));
  /* The global level does not change overrides. */
  tern_log_set_level(TERN_LOG_TRACE);
  assert_false(tern_log_enabled(TERN_LOG_WARN, "loop"));
  assert_true(tern_log_enabled(TERN_LOG_TRACE, "other"));
}

static void test_subsys_bad_args(void **state) {
  (void)state;
  assert_int_equal(tern_log_set_subsys_level(NULL, TERN_LOG_INFO), TERN_EINVAL);
  assert_int_equal(tern_log_set_subsys_level("0123456789abcdef", TERN_LOG_INFO),
                   TERN_EINVAL); /* 16 bytes: too long */
  assert_int_equal(tern_log_set_subsys_level("x", (tern_log_level)5),
                   TERN_EINVAL);
  assert_int_equal(tern_log_set_subsys_level("x", (tern_log_level)-1),
                   TERN_EINVAL);
  assert_false(tern_log_enabled(TERN_LOG_INFO, "x"));
}

/* Runs after test_subsys_override made 2 overrides. */
static void test_override_limit(void **state) {
  char name[16];
  int i;

  (void)state;
  for (i = 0; i < 14; i++) {
    snprintf(name, sizeof(name), "sub%d", i);
    assert_int_equal(tern_log_set_subsys_level(name, TERN_LOG_TRACE), TERN_OK);
  }
  assert_int_equal(tern_log_set_subsys_level("one-too-many", TERN_LOG_TRACE),
                   TERN_ENOSPC);
  assert_false(tern_log_enabled(TERN_LOG_INFO, "one-too-many"));
  /* Existing overrides can still be changed when the table is full. */
  assert_int_equal(tern_log_set_subsys_level("sub3", TERN_LOG_ERROR), TERN_OK);
  assert_false(tern_log_enabled(TERN_LOG_WARN, "sub3"));
  assert_true(tern_log_enabled(TERN_LOG_TRACE, "sub13"));
  assert_false(tern_log_enabled(TERN_LOG_DEBUG, "net"));
}

static void test_truncation(void **state) {
  capture c = {0};
  char big[2000];

  (void)state;
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  tern_log_set_sink(capture_sink, &c);
  tern_log_write(TERN_LOG_ERROR, "t", "%s", big);
  assert_int_equal(c.line_len, 512);
  assert_memory_equal(c.line + 509, "...", 4);
  assert_memory_equal(c.line, big, 509);
  big[512] = '\0'; /* exactly 512: kept whole */
  tern_log_write(TERN_LOG_ERROR, "t", "%s", big);
  assert_int_equal(c.line_len, 512);
  assert_int_equal(c.line[511], 'a');
  big[513] = '\0';
  big[512] = 'b'; /* 513: cut */
  tern_log_write(TERN_LOG_ERROR, "t", "%s", big);
  assert_int_equal(c.line_len, 512);
  assert_int_equal(c.line[511], '.');
}

static int reentrant_calls;
static void reentrant_sink(tern_log_level level, const char *subsys,
                           const char *line, void *ud) {
  (void)level;
  (void)subsys;
  (void)line;
  (void)ud;
  reentrant_calls++;
  tern_log_write(TERN_LOG_ERROR, "inner", "dropped"); /* no deadlock */
}

static void test_reentrant_sink(void **state) {
  (void)state;
  tern_log_set_sink(reentrant_sink, NULL);
  tern_log_write(TERN_LOG_ERROR, "outer", "x");
  assert_int_equal(reentrant_calls, 1);
}

/* Redirect stderr to a file, log, and read back what the default sink
 * wrote. */
static size_t run_with_stderr(void (*fn)(void), char *out, size_t size) {
  FILE *tmp = tmpfile();
  int saved = dup(2);
  size_t n;

  assert_non_null(tmp);
  assert_true(saved >= 0);
  fflush(stderr);
  assert_true(dup2(fileno(tmp), 2) >= 0);
  fn();
  fflush(stderr);
  assert_true(dup2(saved, 2) >= 0);
  close(saved);
  rewind(tmp);
  n = fread(out, 1, size - 1, tmp);
  out[n] = '\0';
  fclose(tmp);
  return n;
}

static void log_two_lines(void) {
  char big[1000];

  memset(big, 'z', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  tern_log_write(TERN_LOG_ERROR, "net", "hello %d", 7);
  tern_log_write(TERN_LOG_WARN, "io", "%s", big);
  tern_log_write(TERN_LOG_INFO, "net", "filtered");
}

static void test_stderr_sink(void **state) {
  char out[4096], *nl, *end;
  unsigned long long ms;

  (void)state;
  tern_log_set_sink(NULL, (void *)1);
  run_with_stderr(log_two_lines, out, sizeof(out));
  ms = strtoull(out, &end, 10);
  assert_true(end > out);
  assert_true(ms <= tern_clock_ms());
  nl = strchr(out, '\n');
  assert_non_null(nl);
  *nl = '\0';
  assert_string_equal(end, " ERROR net: hello 7");
  end = strchr(nl + 1, ' ');
  assert_non_null(end);
  assert_memory_equal(end, " WARN io: zzz", 13);
  nl = strchr(end, '\n');
  assert_non_null(nl);
  assert_int_equal(nl - strstr(end, "io: ") - 4, 512); /* truncated */
  assert_memory_equal(nl - 3, "...", 3);
  assert_int_equal(nl[1], '\0'); /* INFO was filtered */
}

enum { THREADS = 4, LINES = 2000 };
static int thread_lines;
static void counting_sink(tern_log_level level, const char *subsys,
                          const char *line, void *ud) {
  (void)level;
  (void)ud;
  /* The sink runs under the log lock: no race on the counter. */
  if (strcmp(subsys, "mt") == 0 && strncmp(line, "line ", 5) == 0)
    thread_lines++;
}

static void *logger(void *arg) {
  int i;

  for (i = 0; i < LINES; i++)
    tern_log(TERN_LOG_ERROR, "mt", "line %d from %p", i, arg);
  return NULL;
}

static void *toggler(void *arg) {
  char name[16];
  int i;

  (void)arg;
  for (i = 0; i < LINES; i++) {
    tern_log_set_level((tern_log_level)(i % 5));
    snprintf(name, sizeof(name), "sub%d", i % 14);
    tern_log_set_subsys_level(name, (tern_log_level)(i % 5));
    (void)tern_log_enabled(TERN_LOG_INFO, name);
  }
  return NULL;
}

static void test_threads(void **state) {
  pthread_t t[THREADS + 1];
  int i;

  (void)state;
  tern_log_set_sink(counting_sink, NULL);
  for (i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, logger, (void *)(intptr_t)i),
                     0);
  assert_int_equal(pthread_create(&t[THREADS], NULL, toggler, NULL), 0);
  for (i = 0; i <= THREADS; i++)
    assert_int_equal(pthread_join(t[i], NULL), 0);
  assert_int_equal(thread_lines, THREADS * LINES); /* ERROR is always on */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_default_level, teardown),
      cmocka_unit_test_teardown(test_set_level, teardown),
      cmocka_unit_test_teardown(test_sink_and_macro, teardown),
      cmocka_unit_test_teardown(test_subsys_override, teardown),
      cmocka_unit_test_teardown(test_subsys_bad_args, teardown),
      cmocka_unit_test_teardown(test_override_limit, teardown),
      cmocka_unit_test_teardown(test_truncation, teardown),
      cmocka_unit_test_teardown(test_reentrant_sink, teardown),
      cmocka_unit_test_teardown(test_stderr_sink, teardown),
      cmocka_unit_test_teardown(test_threads, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
