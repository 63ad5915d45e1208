/* report.c: ternd's status as JSON (/api/status, the live WebSocket) and
 * as Prometheus text exposition format 0.0.4 (/metrics). */
#include <stdarg.h>
#include <stdio.h>

#include <stddef.h>
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

/* The registry mirrors the counters kept elsewhere (HTTP server, DNS and
 * SNTP clients, the system state): refreshed when asked for, so the hot
 * paths keep their own plain counters. */
static void mirror(tern_metric *m, uint64_t v) { /* counters only go up */
  int64_t delta = (int64_t)v - tern_metric_value(m);
  if (delta > 0) tern_metric_add(m, delta);
}

static tern_metric *counter(ternd *d, const char *name, const char *help,
                            const char *labels) {
  return tern_metrics_counter(d->metrics, name, help, labels);
}

static tern_metric *gauge(ternd *d, const char *name, const char *help,
                          const char *labels) {
  return tern_metrics_gauge(d->metrics, name, help, labels);
}

/* --tap: tern's own TCP/IP stack's counters. */
static void ternd_metrics_stack(ternd *d) {
  tern_stack_stats ss;
  tern_stack_get_stats(d->stack, &ss);
  static const struct {
    const char *name, *labels, *help;
    size_t off;
  } ctr[] = {
#define C(f, n, l, h) {n, l, h, offsetof(tern_stack_stats, f)}
      C(ip_in, "ternd_ip_packets_total", "dir=\"in\"", "IPv4 datagrams."),
      C(ip_out, "ternd_ip_packets_total", "dir=\"out\"", "IPv4 datagrams."),
      C(ip_drop, "ternd_ip_dropped_total", NULL, "IPv4 datagrams dropped."),
      C(tcp_in, "ternd_tcp_segments_total", "dir=\"in\"", "TCP segments."),
      C(tcp_out, "ternd_tcp_segments_total", "dir=\"out\"", "TCP segments."),
      C(tcp_retrans, "ternd_tcp_retransmissions_total", NULL, "TCP segments sent again."),
      C(tcp_fast_retrans, "ternd_tcp_fast_retransmits_total", NULL, "TCP fast retransmits."),
      C(tcp_rto, "ternd_tcp_rto_total", NULL, "TCP retransmission timeouts."),
      C(tcp_accepts, "ternd_tcp_accepts_total", NULL, "TCP connections accepted."),
      C(tcp_syn_cookies, "ternd_tcp_syn_cookies_total", NULL, "SYN cookies sent."),
      C(tcp_challenge_ack, "ternd_tcp_challenge_acks_total", NULL, "RFC 5961 challenge ACKs."),
      C(udp_in, "ternd_udp_datagrams_total", "dir=\"in\"", "UDP datagrams."),
      C(udp_out, "ternd_udp_datagrams_total", "dir=\"out\"", "UDP datagrams."),
      C(mem_fail, "ternd_ip_alloc_failures_total", NULL, "Stack allocations refused."),
#undef C
  };
  for (size_t i = 0; i < sizeof ctr / sizeof ctr[0]; i++) {
    uint64_t v;
    memcpy(&v, (const char *)&ss + ctr[i].off, sizeof v);
    mirror(counter(d, ctr[i].name, ctr[i].help, ctr[i].labels), v);
  }
  tern_metric_set(gauge(d, "ternd_tcp_pcbs", "TCP pcbs in use (TIME_WAIT included).", NULL),
                  ss.tcp_pcbs);
  tern_metric_set(gauge(d, "ternd_ip_pool_blocks", "Packet pool blocks.", "state=\"used\""),
                  ss.pool_used);
  tern_metric_set(gauge(d, "ternd_ip_pool_blocks", "Packet pool blocks.", "state=\"total\""),
                  ss.pool_blocks);
}

void ternd_metrics_refresh(ternd *d) {
  tern_http_stats st;
  tern_http_server_stats(d->http, &st);
  char lab[96];
  tern_metric_set(gauge(d, "ternd_uptime_seconds", "Time since ternd started.", NULL),
                  (int64_t)((tern_clock_ms() - d->started_ms) / 1000));
  tern_metric_set(gauge(d, "ternd_connections", "Connections open now.", "kind=\"http\""),
                  (int64_t)st.conns_open);
  tern_metric_set(gauge(d, "ternd_connections", "Connections open now.", "kind=\"ws\""),
                  (int64_t)st.ws_open);
  mirror(counter(d, "ternd_connections_accepted_total", "Connections accepted.", NULL),
         st.conns_accepted);
  for (int i = 0; i < EP_COUNT; i++) {
    snprintf(lab, sizeof(lab), "endpoint=\"%s\"", ternd_endpoint_names[i]);
    mirror(counter(d, "ternd_http_requests_total", "HTTP requests by endpoint.", lab),
           d->hits[i]);
  }
  for (int c = 1; c <= 5; c++) {
    snprintf(lab, sizeof(lab), "class=\"%dxx\"", c);
    mirror(counter(d, "ternd_http_responses_total", "HTTP responses by status class.", lab),
           st.status[c]);
  }
  mirror(counter(d, "ternd_bytes_total", "Bytes on HTTP connections.", "dir=\"in\""),
         st.bytes_in);
  mirror(counter(d, "ternd_bytes_total", "Bytes on HTTP connections.", "dir=\"out\""),
         st.bytes_out);
  mirror(counter(d, "ternd_ws_messages_total", "WebSocket messages received.", NULL),
         d->ws_messages);
  if (d->sys)
    tern_metric_set(gauge(d, "ternd_system_state",
                          "System state (0 CONTEXT_CREATED .. 10 OPERATIONAL).", NULL),
                    (int64_t)tern_sys_current(d->sys));
  if (d->dns) {
    tern_dns_stats ds;
    tern_dns_get_stats(d->dns, &ds);
    mirror(counter(d, "ternd_dns_lookups_total", "DNS lookups asked for.", NULL), ds.lookups);
    mirror(counter(d, "ternd_dns_cache_hits_total", "DNS lookups answered from the cache.", NULL),
           ds.cache_hits);
    mirror(counter(d, "ternd_dns_queries_total", "DNS queries sent.", NULL), ds.queries_sent);
    mirror(counter(d, "ternd_dns_timeouts_total", "DNS tries without an answer.", NULL),
           ds.timeouts);
  }
  if (d->stack) ternd_metrics_stack(d);
  tern_sntp_sample smp;
  if (d->sntp && tern_sntp_last(d->sntp, &smp)) {
    tern_metric_set(gauge(d, "ternd_time_offset_us",
                          "Server time minus local time at the last SNTP sync.", NULL),
                    smp.offset_us);
    tern_metric_set(gauge(d, "ternd_time_delay_us", "Round trip of the last SNTP sync.", NULL),
                    smp.delay_us);
  }
}
