/* base/metrics.c: the metrics registry (tern/metrics.h).
 *
 * Read first: the Prometheus text exposition format 0.0.4 (HELP and TYPE
 * lines once per metric name, label values escaped with \\ \" \n, a
 * histogram as cumulative _bucket{le=...} lines plus _sum and _count).
 *
 * Updates are relaxed atomics on the metric itself, so a hot path pays
 * one atomic add; a histogram's sum is a double updated by compare-and-
 * swap. The registry's list (and so creation and export) is under a
 * lock; metrics with the same name are kept next to each other so the
 * export writes each name's HELP and TYPE once.
 *
 * In base (DESIGN.md lists metrics under sys) for the reason fault
 * injection is: every layer reports into it (the connection core, the
 * protocols), and a layer uses only those below it. So the lock is a
 * spin lock on an atomic flag, not port's mutex: it is taken to make a
 * metric (once per metric) and to export (a scrape now and then), never
 * on an update, so waiting on it is rare and short.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/metrics.h"

enum { T_COUNTER, T_GAUGE, T_HISTOGRAM };

struct tern_metric {
  tern_metric *next;
  int type;
  char *name, *help, *labels; /* labels: "" when none */
  _Atomic int64_t v;          /* counter, gauge; histogram: count */
  size_t nb;
  double bounds[TERN_METRICS_MAX_BUCKETS];
  _Atomic uint64_t bucket[TERN_METRICS_MAX_BUCKETS]; /* not cumulative */
  _Atomic uint64_t sum_bits;  /* a double */
  int64_t last_v;             /* (mu) value at the last tern_metrics_changes */
  uint64_t last_sum;          /* (mu) histogram sum bits then */
  bool seen;                  /* (mu) given by tern_metrics_changes once */
};

typedef struct collector {
  tern_metrics_collect_fn fn;
  void *ud;
} collector;

typedef struct lock {
  atomic_flag f;
} lock;

static void lock_take(lock *l) {
  while (atomic_flag_test_and_set_explicit(&l->f, memory_order_acquire)) {
  }
}

static void lock_give(lock *l) {
  atomic_flag_clear_explicit(&l->f, memory_order_release);
}

struct tern_metrics {
  lock mu;
  tern_metric *head;
  collector col[TERN_METRICS_MAX_COLLECT]; /* (mu) */
  size_t ncol;                             /* (mu) */
};

static const double default_bounds[] = {1, 2, 5, 10, 25, 50, 100, 250,
                                        500, 1000, 2500, 5000};

int tern_metrics_new(tern_metrics **out) {
  tern_metrics *r = calloc(1, sizeof(*r));
  if (r == NULL) return TERN_ENOMEM;
  atomic_flag_clear(&r->mu.f);
  *out = r;
  return TERN_OK;
}

static void metric_free(tern_metric *m) {
  free(m->name);
  free(m->help);
  free(m->labels);
  free(m);
}

void tern_metrics_free(tern_metrics *r) {
  if (r == NULL) return;
  while (r->head) {
    tern_metric *m = r->head;
    r->head = m->next;
    metric_free(m);
  }
  free(r);
}

/* ---- names and labels ------------------------------------------------- */

static bool name_ok(const char *s) {
  if (s == NULL || !*s) return false;
  for (size_t i = 0; s[i]; i++) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

/* k="v"(,k="v")*: label names [a-zA-Z_][a-zA-Z0-9_]*, values with \\ \"
 * \n escapes and no control characters (so the JSON export can copy
 * them). */
static bool labels_ok(const char *s) {
  if (s == NULL || !*s) return true;
  for (;;) {
    size_t i = 0;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           s[i] == '_' || (i > 0 && s[i] >= '0' && s[i] <= '9'))
      i++;
    if (i == 0 || s[i] != '=' || s[i + 1] != '"') return false;
    s += i + 2;
    while (*s != '"') {
      if ((unsigned char)*s < 0x20) return false; /* includes the end */
      if (*s == '\\') {
        if (s[1] != '\\' && s[1] != '"' && s[1] != 'n') return false;
        s++;
      }
      s++;
    }
    s++;
    if (*s == '\0') return true;
    if (*s++ != ',') return false;
  }
}

static char *dup_or_empty(const char *s) {
  s = s ? s : "";
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static tern_metric *get(tern_metrics *r, int type, const char *name,
                        const char *help, const char *labels,
                        const double *bounds, size_t nb) {
  if (r == NULL || !name_ok(name) || !labels_ok(labels)) return NULL;
  const char *lab = labels ? labels : "";
  lock_take(&r->mu);
  tern_metric *found = NULL, *last_same = NULL;
  bool clash = false;
  for (tern_metric *m = r->head; m; m = m->next) {
    if (strcmp(m->name, name) != 0) continue;
    last_same = m;
    if (m->type != type) clash = true;
    if (strcmp(m->labels, lab) == 0) found = m;
  }
  if (found || clash) {
    lock_give(&r->mu);
    return clash ? NULL : found;
  }
  tern_metric *m = calloc(1, sizeof(*m));
  if (m) {
    m->type = type;
    m->name = dup_or_empty(name);
    m->help = dup_or_empty(help);
    m->labels = dup_or_empty(lab);
    m->nb = nb;
    if (nb) memcpy(m->bounds, bounds, nb * sizeof(double));
    if (!m->name || !m->help || !m->labels) {
      metric_free(m);
      m = NULL;
    }
  }
  if (m) { /* next to its name's others, else at the end */
    tern_metric **p = &r->head;
    if (last_same) p = &last_same->next;
    else
      while (*p) p = &(*p)->next;
    m->next = *p;
    *p = m;
  }
  lock_give(&r->mu);
  return m;
}

tern_metric *tern_metrics_counter(tern_metrics *r, const char *name,
                                  const char *help, const char *labels) {
  return get(r, T_COUNTER, name, help, labels, NULL, 0);
}

tern_metric *tern_metrics_gauge(tern_metrics *r, const char *name,
                                const char *help, const char *labels) {
  return get(r, T_GAUGE, name, help, labels, NULL, 0);
}

tern_metric *tern_metrics_histogram(tern_metrics *r, const char *name,
                                    const char *help, const char *labels,
                                    const double *bounds, size_t n) {
  if (bounds == NULL) {
    bounds = default_bounds;
    n = sizeof(default_bounds) / sizeof(default_bounds[0]);
  }
  if (n == 0 || n > TERN_METRICS_MAX_BUCKETS) return NULL;
  for (size_t i = 0; i < n; i++) /* finite (JSON has no inf), ascending */
    if (!(bounds[i] > -1e300 && bounds[i] < 1e300) ||
        (i > 0 && !(bounds[i] > bounds[i - 1])))
      return NULL;
  return get(r, T_HISTOGRAM, name, help, labels, bounds, n);
}

/* ---- updates ------------------------------------------------------------ */

void tern_metric_add(tern_metric *m, int64_t n) {
  if (m == NULL || m->type == T_HISTOGRAM) return;
  if (m->type == T_COUNTER && n < 0) return; /* counters only go up */
  atomic_fetch_add_explicit(&m->v, n, memory_order_relaxed);
}

void tern_metric_set(tern_metric *m, int64_t v) {
  if (m == NULL || m->type != T_GAUGE) return;
  atomic_store_explicit(&m->v, v, memory_order_relaxed);
}

void tern_metric_observe(tern_metric *m, double v) {
  if (m == NULL || m->type != T_HISTOGRAM || v != v) return; /* not NaN */
  size_t i = 0;
  while (i < m->nb && v > m->bounds[i]) i++;
  if (i < m->nb) atomic_fetch_add_explicit(&m->bucket[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->v, 1, memory_order_relaxed);
  uint64_t old = atomic_load_explicit(&m->sum_bits, memory_order_relaxed), nw;
  do {
    double d;
    memcpy(&d, &old, sizeof(d));
    d += v;
    memcpy(&nw, &d, sizeof(nw));
  } while (!atomic_compare_exchange_weak_explicit(&m->sum_bits, &old, nw,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed));
}

int64_t tern_metric_value(const tern_metric *m) {
  return m ? atomic_load_explicit(&((tern_metric *)m)->v, memory_order_relaxed) : 0;
}

/* ---- collect callbacks -------------------------------------------------- */

int tern_metrics_on_collect(tern_metrics *r, tern_metrics_collect_fn fn,
                            void *ud) {
  if (r == NULL || fn == NULL) return TERN_EINVAL;
  int rc = TERN_OK;
  lock_take(&r->mu);
  size_t i = 0;
  while (i < r->ncol && !(r->col[i].fn == fn && r->col[i].ud == ud)) i++;
  if (i == r->ncol) {
    if (r->ncol == TERN_METRICS_MAX_COLLECT) rc = TERN_ENOSPC;
    else r->col[r->ncol++] = (collector){fn, ud};
  }
  lock_give(&r->mu);
  return rc;
}

void tern_metrics_on_collect_remove(tern_metrics *r, tern_metrics_collect_fn fn,
                                    void *ud) {
  if (r == NULL) return;
  lock_take(&r->mu);
  for (size_t i = 0; i < r->ncol; i++)
    if (r->col[i].fn == fn && r->col[i].ud == ud) {
      memmove(&r->col[i], &r->col[i + 1], (r->ncol - i - 1) * sizeof(collector));
      r->ncol--;
      break;
    }
  lock_give(&r->mu);
}

/* Run the collect callbacks, unlocked (they make and update metrics). */
static void collect(tern_metrics *r) {
  collector col[TERN_METRICS_MAX_COLLECT];
  lock_take(&r->mu);
  size_t n = r->ncol;
  memcpy(col, r->col, n * sizeof(collector));
  lock_give(&r->mu);
  for (size_t i = 0; i < n; i++) col[i].fn(r, col[i].ud);
}

/* ---- export ----------------------------------------------------------- */

typedef struct out {
  char *p;
  size_t size, len; /* len: what the whole text needs */
} out;

static void outf(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(out *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = o->len < o->size ? o->size - o->len : 0;
  int n = vsnprintf(room ? o->p + o->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0) o->len += (size_t)n;
}

static size_t finish(out *o) {
  if (o->size) o->p[o->len < o->size ? o->len : o->size - 1] = '\0';
  return o->len;
}

static double sum_of(tern_metric *m) {
  uint64_t b = atomic_load_explicit(&m->sum_bits, memory_order_relaxed);
  double d;
  memcpy(&d, &b, sizeof(d));
  return d;
}

static const char *type_name(int t) {
  return t == T_COUNTER ? "counter" : t == T_GAUGE ? "gauge" : "histogram";
}

/* "{labels}" or "{labels,extra}" or "{extra}" or "" */
static void label_block(out *o, const char *labels, const char *extra) {
  if (!*labels && !extra) return;
  outf(o, "{%s%s%s}", labels, *labels && extra ? "," : "", extra ? extra : "");
}

size_t tern_metrics_prometheus(tern_metrics *r, char *buf, size_t size) {
  out o = {buf, size, 0};
  collect(r);
  lock_take(&r->mu);
  const char *prev = NULL;
  for (tern_metric *m = r->head; m; m = m->next) {
    if (prev == NULL || strcmp(prev, m->name) != 0) {
      outf(&o, "# HELP %s ", m->name);
      for (const char *h = m->help; *h; h++) /* escape \ and newline */
        outf(&o, "%s", *h == '\\' ? "\\\\" : *h == '\n' ? "\\n" : (char[]){*h, 0});
      outf(&o, "\n# TYPE %s %s\n", m->name, type_name(m->type));
      prev = m->name;
    }
    if (m->type != T_HISTOGRAM) {
      outf(&o, "%s", m->name);
      label_block(&o, m->labels, NULL);
      outf(&o, " %lld\n", (long long)tern_metric_value(m));
      continue;
    }
    uint64_t cum = 0;
    char le[48];
    for (size_t i = 0; i < m->nb; i++) {
      cum += atomic_load_explicit(&m->bucket[i], memory_order_relaxed);
      snprintf(le, sizeof(le), "le=\"%g\"", m->bounds[i]);
      outf(&o, "%s_bucket", m->name);
      label_block(&o, m->labels, le);
      outf(&o, " %llu\n", (unsigned long long)cum);
    }
    int64_t count = tern_metric_value(m);
    outf(&o, "%s_bucket", m->name);
    label_block(&o, m->labels, "le=\"+Inf\"");
    outf(&o, " %lld\n%s_sum", (long long)count, m->name);
    label_block(&o, m->labels, NULL);
    outf(&o, " %g\n%s_count", sum_of(m), m->name);
    label_block(&o, m->labels, NULL);
    outf(&o, " %lld\n", (long long)count);
  }
  lock_give(&r->mu);
  return finish(&o);
}

/* k="v",k2="v2" -> "k":"v","k2":"v2" (the escapes are JSON's too) */
static void labels_json(out *o, const char *s) {
  outf(o, "{");
  while (*s) {
    const char *eq = strchr(s, '=');
    outf(o, "\"%.*s\":\"", (int)(eq - s), s);
    s = eq + 2;
    const char *v = s;
    while (*s != '"') s += (*s == '\\') ? 2 : 1;
    outf(o, "%.*s\"", (int)(s - v), v);
    s++;
    if (*s == ',') {
      outf(o, ",");
      s++;
    }
  }
  outf(o, "}");
}

size_t tern_metrics_json(tern_metrics *r, char *buf, size_t size) {
  out o = {buf, size, 0};
  collect(r);
  lock_take(&r->mu);
  outf(&o, "{");
  const char *prev = NULL;
  for (tern_metric *m = r->head; m; m = m->next) {
    bool first_of_name = prev == NULL || strcmp(prev, m->name) != 0;
    if (first_of_name) outf(&o, "%s\"%s\":[", prev ? "]," : "", m->name);
    else outf(&o, ",");
    prev = m->name;
    outf(&o, "{\"labels\":");
    labels_json(&o, m->labels);
    if (m->type != T_HISTOGRAM) {
      outf(&o, ",\"value\":%lld}", (long long)tern_metric_value(m));
      continue;
    }
    outf(&o, ",\"count\":%lld,\"sum\":%g,\"buckets\":[",
         (long long)tern_metric_value(m), sum_of(m));
    uint64_t cum = 0;
    for (size_t i = 0; i < m->nb; i++) {
      cum += atomic_load_explicit(&m->bucket[i], memory_order_relaxed);
      outf(&o, "%s[%g,%llu]", i ? "," : "", m->bounds[i], (unsigned long long)cum);
    }
    outf(&o, "]}");
  }
  outf(&o, "%s}", prev ? "]" : "");
  lock_give(&r->mu);
  return finish(&o);
}

/* ---- changes ------------------------------------------------------------ */

typedef struct chunker {
  char *buf;
  size_t max, len;
  tern_metrics_chunk_fn fn;
  void *ud;
} chunker;

static void chunk_line(chunker *k, const char *line, size_t n) {
  if (n > k->max) return; /* cannot be given whole */
  if (k->len + n > k->max) {
    k->fn(k->buf, k->len, k->ud);
    k->len = 0;
  }
  memcpy(k->buf + k->len, line, n);
  k->len += n;
}

size_t tern_metrics_changes(tern_metrics *r, size_t max,
                            tern_metrics_chunk_fn fn, void *ud) {
  if (r == NULL || fn == NULL || max < 64) return 0;
  char *buf = malloc(max);
  if (buf == NULL) return 0;
  chunker k = {buf, max, 0, fn, ud};
  size_t lines = 0;
  char line[1024];
  collect(r);
  lock_take(&r->mu);
  for (tern_metric *m = r->head; m; m = m->next) {
    int64_t v = tern_metric_value(m);
    uint64_t sb = atomic_load_explicit(&m->sum_bits, memory_order_relaxed);
    if (m->seen && v == m->last_v && sb == m->last_sum) continue;
    m->seen = true;
    m->last_v = v;
    m->last_sum = sb;
    out o = {line, sizeof(line), 0};
    outf(&o, "%s%s", m->name, m->type == T_HISTOGRAM ? "_count" : "");
    label_block(&o, m->labels, NULL);
    outf(&o, " %lld\n", (long long)v);
    if (m->type == T_HISTOGRAM) {
      outf(&o, "%s_sum", m->name);
      label_block(&o, m->labels, NULL);
      outf(&o, " %g\n", sum_of(m));
    }
    if (o.len < sizeof(line)) {
      chunk_line(&k, line, o.len);
      lines += o.len <= max;
    }
  }
  if (k.len) fn(buf, k.len, ud);
  lock_give(&r->mu);
  free(buf);
  return lines;
}
