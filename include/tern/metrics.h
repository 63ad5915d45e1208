/* tern/metrics.h: counters, gauges and histograms with labels, exported as
 * Prometheus text (exposition format 0.0.4) and as JSON.
 *
 *   tern_metrics *reg;
 *   tern_metrics_new(&reg);
 *   tern_metric *req = tern_metrics_counter(reg, "http_requests_total",
 *                                           "Requests answered.", "code=\"2xx\"");
 *   tern_metric_add(req, 1);                    // any thread, lock-free
 *   tern_metrics_prometheus(reg, buf, size);    // for GET /metrics
 *
 * A metric is found or made by (name, labels): asking twice gives the same
 * one. Updates are atomic (relaxed) and may come from any thread; making
 * metrics and exporting take the registry's lock. Metrics live until the
 * registry is freed: keep the pointer, do not look it up per update.
 *
 * Sources that keep their own counters (the built-in stack, say) add a
 * collect callback instead: it runs at the start of every export and
 * brings their metrics up to date, so their hot paths pay nothing.
 */
#ifndef TERN_METRICS_H
#define TERN_METRICS_H

#include "tern/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_metrics tern_metrics;
typedef struct tern_metric tern_metric;

#define TERN_METRICS_MAX_BUCKETS 16

TERN_API int tern_metrics_new(tern_metrics **out);
TERN_API void tern_metrics_free(tern_metrics *reg);

/* name: [a-zA-Z_:][a-zA-Z0-9_:]*; labels: NULL or 'k="v",k2="v2"' as
 * Prometheus writes them (checked). NULL on a bad name or labels, on a
 * name already used with another type, or without memory. */
TERN_API tern_metric *tern_metrics_counter(tern_metrics *reg, const char *name,
                                           const char *help, const char *labels);
TERN_API tern_metric *tern_metrics_gauge(tern_metrics *reg, const char *name,
                                         const char *help, const char *labels);
/* bounds: ascending upper bounds (n <= TERN_METRICS_MAX_BUCKETS), NULL for
 * the default latency buckets in milliseconds (1 2 5 10 25 50 100 250 500
 * 1000 2500 5000). */
TERN_API tern_metric *tern_metrics_histogram(tern_metrics *reg,
                                             const char *name, const char *help,
                                             const char *labels,
                                             const double *bounds, size_t n);

/* counter: add (n >= 0); gauge: add (any sign) or set; histogram: observe */
TERN_API void tern_metric_add(tern_metric *m, int64_t n);
TERN_API void tern_metric_set(tern_metric *m, int64_t v);
TERN_API void tern_metric_observe(tern_metric *m, double v);
TERN_API int64_t tern_metric_value(const tern_metric *m); /* counter, gauge; histogram: count */

/* Write all metrics; returns the length the whole text needs (like
 * snprintf: if it is >= size, the text was cut and the caller may retry
 * with a larger buffer). Always NUL-terminated when size > 0. */
TERN_API size_t tern_metrics_prometheus(tern_metrics *reg, char *buf,
                                        size_t size);
/* {"name":[{"labels":{...},"value":N}, ...], ...}; histograms give
 * "count", "sum" and "buckets":[[bound,count],...]. */
TERN_API size_t tern_metrics_json(tern_metrics *reg, char *buf, size_t size);

/* Collect callbacks (at most TERN_METRICS_MAX_COLLECT): fn(reg, ud) runs
 * at the start of every export (prometheus, json, changes), on the
 * exporting thread, outside the registry's lock (it may make and update
 * metrics). Adding the same (fn, ud) twice is TERN_OK and keeps one. */
#define TERN_METRICS_MAX_COLLECT 8
typedef void (*tern_metrics_collect_fn)(tern_metrics *reg, void *ud);
TERN_API int tern_metrics_on_collect(tern_metrics *reg,
                                     tern_metrics_collect_fn fn, void *ud);
TERN_API void tern_metrics_on_collect_remove(tern_metrics *reg,
                                             tern_metrics_collect_fn fn,
                                             void *ud);

/* The samples that changed since the previous call (all of them the first
 * time), as Prometheus sample lines "name{labels} value\n" (a histogram
 * gives its _count and _sum), packed whole into chunks of at most max
 * bytes (max >= 64; a longer line is left out); fn gets each chunk (not
 * NUL-terminated) with the registry locked: it must not call back into
 * the registry. Returns the number of lines given. For periodic
 * publishing (tern_sys_metrics_publish in tern/sys.h). */
typedef void (*tern_metrics_chunk_fn)(const char *chunk, size_t len, void *ud);
TERN_API size_t tern_metrics_changes(tern_metrics *reg, size_t max,
                                     tern_metrics_chunk_fn fn, void *ud);

/* The built-in TCP/IP stack's counters (tern_stack_get_stats) as metrics
 * tern_ip_* / tern_tcp_* / tern_udp_*, read at export time by a collect
 * callback: the stack itself knows nothing of the registry. Export from
 * the thread that runs the stack (or with it locked). Unbind before the
 * stack is freed. Only in builds with the built-in stack. */
struct tern_stack;
TERN_API int tern_metrics_bind_stack(tern_metrics *reg, struct tern_stack *st);
TERN_API void tern_metrics_unbind_stack(tern_metrics *reg,
                                        struct tern_stack *st);

#ifdef __cplusplus
}
#endif

#endif
