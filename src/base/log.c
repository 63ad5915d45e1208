/* base/log.c: the process-wide log level, per-subsystem overrides, sink.
 *
 * This file holds tern's only file-scope mutable state, on purpose:
 * logging is a process-wide setting (like a syslog mask), not part of any
 * tern_mgr. Call order: anyone may call anything at any time, from any
 * thread.
 *
 * Concurrency. tern_log_enabled() runs for every tern_log() call, so it
 * takes no lock: levels are C11 atomics, and override slots are published
 * once (name written, then the count raised with release order) and never
 * removed, so a reader that loads the count with acquire order sees
 * complete names. Setters serialise on a mutex. The sink runs with that
 * mutex held: lines from several threads never interleave, and once
 * tern_log_set_sink() returns no thread is still inside the old sink, so
 * its user data may be freed. The cost: a slow sink slows every thread
 * that logs, and a sink must not call tern_log_set_* (it would deadlock);
 * tern_log() calls made from inside a sink are dropped.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "tern/config.h"

#if !TERN_NO_SYS
#include <pthread.h>
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "tern/base.h"

/* Bare metal (TERN_NO_SYS): one thread, so no lock and no thread-local
 * flag, and no stderr: lines go to the sink the application sets (a
 * UART), or nowhere. Logging is compiled out by default there
 * (TERN_ENABLE_LOG=0); this file still builds so a firmware can turn it
 * on. */
#if TERN_NO_SYS
#define LOG_LOCK() ((void)0)
#define LOG_UNLOCK() ((void)0)
#define LOG_THREAD_LOCAL
#else
#define LOG_LOCK() pthread_mutex_lock(&log_lock)
#define LOG_UNLOCK() pthread_mutex_unlock(&log_lock)
#define LOG_THREAD_LOCAL _Thread_local
#endif

#define LOG_MAX_OVERRIDES 16
#define LOG_NAME_MAX 16 /* subsystem name bytes, including the NUL */
#define LOG_LINE_MAX 512 /* longest line handed to a sink, without NUL */

typedef struct log_override {
  char name[LOG_NAME_MAX];
  atomic_int level;
} log_override;

#if !TERN_NO_SYS
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
#endif
static atomic_int log_level = TERN_LOG_WARN;
/* max(log_level, every override): lets tern_log_enabled() say no to
 * most calls with one load. */
static atomic_int log_ceiling = TERN_LOG_WARN;
static log_override log_overrides[LOG_MAX_OVERRIDES];
static atomic_int log_noverrides;
static tern_log_sink_fn log_sink; /* NULL means the stderr sink */
static void *log_sink_ud;
static LOG_THREAD_LOCAL bool log_in_sink;

#if !TERN_NO_SYS
static const char *log_level_name(tern_log_level level) {
  static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG",
                                      "TRACE"};

  return (unsigned)level <= TERN_LOG_TRACE ? names[level] : "?";
}
#endif

static tern_log_level log_clamp(tern_log_level level) {
  return (unsigned)level > TERN_LOG_TRACE ? TERN_LOG_TRACE : level;
}

/* Called with log_lock held. */
static void log_update_ceiling(void) {
  int n = atomic_load(&log_noverrides);
  int max = atomic_load(&log_level);
  int i, v;

  for (i = 0; i < n; i++) {
    v = atomic_load(&log_overrides[i].level);
    if (v > max)
      max = v;
  }
  atomic_store(&log_ceiling, max);
}

/* The override slot for subsys, or NULL. Lock-free (see the top). */
static log_override *log_find(const char *subsys) {
  int n = atomic_load_explicit(&log_noverrides, memory_order_acquire);
  int i;

  for (i = 0; i < n; i++) {
    if (strcmp(log_overrides[i].name, subsys) == 0)
      return &log_overrides[i];
  }
  return NULL;
}

void tern_log_set_level(tern_log_level level) {
  LOG_LOCK();
  atomic_store(&log_level, (int)log_clamp(level));
  log_update_ceiling();
  LOG_UNLOCK();
}

tern_log_level tern_log_get_level(void) {
  return (tern_log_level)atomic_load(&log_level);
}

/* Called with log_lock held. A new slot's name is complete before the
 * count that makes it visible is raised. */
static int log_add_override(const char *subsys, tern_log_level level) {
  int n = atomic_load(&log_noverrides);
  log_override *o;

  if (n >= LOG_MAX_OVERRIDES)
    return TERN_ENOSPC;
  o = &log_overrides[n];
  memcpy(o->name, subsys, strlen(subsys) + 1);
  atomic_store(&o->level, (int)level);
  atomic_store_explicit(&log_noverrides, n + 1, memory_order_release);
  return TERN_OK;
}

/* Names longer than 15 bytes are refused (TERN_EINVAL) rather than
 * truncated, so two long names can never share one override. */
int tern_log_set_subsys_level(const char *subsys, tern_log_level level) {
  log_override *o;
  int r = TERN_OK;

  if (subsys == NULL || strlen(subsys) >= LOG_NAME_MAX ||
      (unsigned)level > TERN_LOG_TRACE)
    return TERN_EINVAL;
  LOG_LOCK();
  o = log_find(subsys);
  if (o != NULL)
    atomic_store(&o->level, (int)level);
  else
    r = log_add_override(subsys, level);
  log_update_ceiling();
  LOG_UNLOCK();
  return r;
}

void tern_log_set_sink(tern_log_sink_fn fn, void *ud) {
  LOG_LOCK();
  log_sink = fn;
  log_sink_ud = fn != NULL ? ud : NULL;
  LOG_UNLOCK();
}

bool tern_log_enabled(tern_log_level level, const char *subsys) {
  const log_override *o;

  if ((int)level > atomic_load_explicit(&log_ceiling, memory_order_relaxed))
    return false;
  o = subsys != NULL ? log_find(subsys) : NULL;
  if (o != NULL)
    return (int)level <= atomic_load(&o->level);
  return (int)level <= atomic_load(&log_level);
}

/* The default sink: "<ms> LEVEL subsys: line" on stderr, one fputs per
 * line so it is not split by other stdio users either. The subsystem is
 * cut at 32 bytes so the whole line always fits out[]. */
static void log_stderr_sink(tern_log_level level, const char *subsys,
                            const char *line, void *ud) {
#if TERN_NO_SYS
  (void)level;
  (void)subsys;
  (void)line;
  (void)ud;
#else
  char out[LOG_LINE_MAX + 64];

  (void)ud;
  snprintf(out, sizeof(out), "%llu %s %.32s: %s\n",
           (unsigned long long)tern_clock_ms(), log_level_name(level),
           subsys, line);
  fputs(out, stderr);
#endif
}

/* Formats into line[LOG_LINE_MAX + 1]; a longer message is cut and ends
 * in "..." so the reader knows. vsnprintf never writes past the end. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 0)))
#endif
static void log_format(char *line, const char *fmt, va_list ap) {
  int n = vsnprintf(line, LOG_LINE_MAX + 1, fmt, ap);

  if (n < 0)
    strcpy(line, "(log format error)");
  else if (n > LOG_LINE_MAX)
    memcpy(line + LOG_LINE_MAX - 3, "...", 4);
}

void tern_log_write(tern_log_level level, const char *subsys,
                    const char *fmt, ...) {
  char line[LOG_LINE_MAX + 1];
  va_list ap;

  if (log_in_sink || fmt == NULL || !tern_log_enabled(level, subsys))
    return;
  if (subsys == NULL)
    subsys = "-";
  va_start(ap, fmt);
  log_format(line, fmt, ap);
  va_end(ap);
  LOG_LOCK();
  log_in_sink = true;
  if (log_sink != NULL)
    log_sink(level, subsys, line, log_sink_ud);
  else
    log_stderr_sink(level, subsys, line, NULL);
  log_in_sink = false;
  LOG_UNLOCK();
}
