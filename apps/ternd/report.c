/* report.c: ternd's status as JSON (/api/status, the live WebSocket) and
 * as Prometheus text exposition format 0.0.4 (/metrics). */
#include <stdarg.h>
#include <stdio.h>

#include <string.h>

#include "ternd.h"

const char *const ternd_endpoint_names[EP_COUNT] = {
    "/", "/api/status", "/metrics", "/hello", "/echo", "/echo (ws)",
    "/live (ws)", "files"};

typedef struct out {
  char *p;
  size_t len, size;
} out;

static void outf(out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void outf(out *o, const char *fmt, ...) {
  if (o->len >= o->size) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(o->p + o->len, o->size - o->len, fmt, ap);
  va_end(ap);
  if (n > 0) o->len += (size_t)n;
  if (o->len > o->size) o->len = o->size;
}

size_t ternd_status_json(const ternd *d, char *buf, size_t size) {
  tern_http_stats st;
  tern_http_server_stats(d->http, &st);
  out o = {buf, 0, size};
  uint64_t up = tern_clock_ms() - d->started_ms;
  outf(&o, "{\"version\":\"%s\",\"uptime_ms\":%llu,", TERN_VERSION_STRING,
       (unsigned long long)up);
  outf(&o, "\"connections\":{\"http\":%zu,\"ws\":%zu,\"all\":%zu},",
       st.conns_open, st.ws_open, tern_mgr_count(d->mgr));
  outf(&o, "\"accepted\":%llu,\"requests\":%llu,",
       (unsigned long long)st.conns_accepted, (unsigned long long)st.requests);
  outf(&o, "\"responses\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
           "\"4xx\":%llu,\"5xx\":%llu},",
       (unsigned long long)st.status[1], (unsigned long long)st.status[2],
       (unsigned long long)st.status[3], (unsigned long long)st.status[4],
       (unsigned long long)st.status[5]);
  outf(&o, "\"bytes_in\":%llu,\"bytes_out\":%llu,\"ws_messages\":%llu,",
       (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
       (unsigned long long)d->ws_messages);
  if (d->sys)
    outf(&o, "\"state\":\"%s\",", tern_sys_state_name(tern_sys_current(d->sys)));
  tern_sntp_sample smp;
  if (d->sntp && tern_sntp_last(d->sntp, &smp)) {
    char srv[TERN_ADDR_STRLEN];
    tern_addr_format(&smp.server, true, srv, sizeof(srv));
    outf(&o, "\"ntp\":{\"synced\":true,\"offset_us\":%lld,\"delay_us\":%lld,"
             "\"stratum\":%u,\"server\":\"%s\"},",
         (long long)smp.offset_us, (long long)smp.delay_us,
         (unsigned)smp.stratum, srv);
  } else if (d->sntp) {
    outf(&o, "\"ntp\":{\"synced\":false},");
  }
  if (d->dns) {
    tern_dns_stats ds;
    tern_dns_get_stats(d->dns, &ds);
    outf(&o, "\"dns\":{\"lookups\":%llu,\"cache_hits\":%llu,\"queries\":%llu,"
             "\"timeouts\":%llu,\"cached\":%zu},",
         (unsigned long long)ds.lookups, (unsigned long long)ds.cache_hits,
         (unsigned long long)ds.queries_sent, (unsigned long long)ds.timeouts,
         ds.cached);
  }
  outf(&o, "\"endpoints\":{");
  for (int i = 0; i < EP_COUNT; i++)
    outf(&o, "%s\"%s\":%llu", i ? "," : "", ternd_endpoint_names[i],
         (unsigned long long)d->hits[i]);
  outf(&o, "}}\n");
  return o.len;
}

/* The connection core, HTTP, WebSocket and DNS report into the registry
 * themselves (tern_mgr_set_metrics) and the stack's counters are bound to
 * it (tern_metrics_bind_stack); what is left is ternd's own: uptime,
 * hits per endpoint, the system state and the last SNTP sample, brought
 * up to date by this collect callback whenever the registry is exported. */
static void mirror(tern_metric *m, uint64_t v) { /* counters only go up */
  int64_t delta = (int64_t)v - tern_metric_value(m);
  if (delta > 0) tern_metric_add(m, delta);
}

void ternd_metrics_collect(tern_metrics *reg, void *ud) {
  ternd *d = ud;
  char lab[96];
  tern_metric_set(tern_metrics_gauge(reg, "ternd_uptime_seconds", "Time since ternd started.", NULL),
                  (int64_t)((tern_clock_ms() - d->started_ms) / 1000));
  for (int i = 0; i < EP_COUNT; i++) {
    snprintf(lab, sizeof(lab), "endpoint=\"%s\"", ternd_endpoint_names[i]);
    mirror(tern_metrics_counter(reg, "ternd_http_requests_total", "HTTP requests by endpoint.", lab),
           d->hits[i]);
  }
  if (d->sys)
    tern_metric_set(tern_metrics_gauge(reg, "ternd_system_state",
                                       "System state (0 CONTEXT_CREATED .. 10 OPERATIONAL).", NULL),
                    (int64_t)tern_sys_current(d->sys));
  tern_sntp_sample smp;
  if (d->sntp && tern_sntp_last(d->sntp, &smp)) {
    tern_metric_set(tern_metrics_gauge(reg, "ternd_time_offset_us",
                                       "Server time minus local time at the last SNTP sync.", NULL),
                    smp.offset_us);
    tern_metric_set(tern_metrics_gauge(reg, "ternd_time_delay_us",
                                       "Round trip of the last SNTP sync.", NULL),
                    smp.delay_us);
  }
}
