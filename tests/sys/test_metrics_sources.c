/* test_metrics_sources.c: the sources reporting into a registry attached
 * to the manager (tern_mgr_set_metrics): the connection core by kind and
 * class (user, system), HTTP requests by method and status class with
 * their duration, DNS lookups, queries, timeouts and failures on its own
 * "system" connections, failed connects, WebSocket messages, bytes and
 * closes by code, the built-in stack's counters read at export time
 * (tern_metrics_bind_stack); the export checked by a strict
 * Prometheus format checker (prom_check.h) and the JSON by a bracket
 * balance; and the registry published on SMD every period (changed
 * samples only). Nothing counted without a registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "prom_check.h"
#include "tern/dns.h"
#include "tern/fi.h"
#include "tern/http.h"
#include "tern/ip.h"
#include "tern/ws.h"
#include "tern/metrics.h"
#include "tern/sys.h"
#include "tern/tern.h"

static void run_for(tern_mgr *m, int ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  while (tern_clock_ms() < end) tern_loop_poll(tern_mgr_loop(m), 5);
}

static int64_t val(tern_metrics *r, const char *name, const char *labels) {
  /* find (the help text does not matter for a lookup) */
  tern_metric *m = tern_metrics_counter(r, name, "", labels);
  if (m == NULL) m = tern_metrics_gauge(r, name, "", labels);
  if (m == NULL) m = tern_metrics_histogram(r, name, "", labels, NULL, 0);
  assert_non_null(m);
  return tern_metric_value(m);
}

/* A blocking HTTP/1.1 exchange with Connection: close, the server run by
 * this thread's loop meanwhile. Returns the status. */
static int http_ask(tern_mgr *m, uint16_t port, const char *method,
                    const char *path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  char req[256];
  int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                   method, path);
  assert_int_equal(send(fd, req, (size_t)n, 0), n);
  char buf[4096];
  size_t got = 0;
  uint64_t end = tern_clock_ms() + 3000;
  for (;;) {
    tern_loop_poll(tern_mgr_loop(m), 5);
    ssize_t k = recv(fd, buf + got, sizeof buf - 1 - got, MSG_DONTWAIT);
    if (k > 0) got += (size_t)k;
    if (k == 0 || tern_clock_ms() > end) break;
  }
  close(fd);
  buf[got] = 0;
  int status = 0;
  if (sscanf(buf, "HTTP/1.1 %d", &status) != 1) status = -1;
  return status;
}

static void h_ok(tern_http_req *r, void *ud) {
  (void)ud;
  tern_http_reply(r, 200, "Content-Type: text/plain\r\n", "ok", 2);
}

static void check_exports(tern_metrics *reg) {
  size_t need = tern_metrics_prometheus(reg, NULL, 0);
  char *text = malloc(need + 1);
  assert_non_null(text);
  assert_int_equal(tern_metrics_prometheus(reg, text, need + 1), need);
  const char *err = prom_check(text);
  if (err) fprintf(stderr, "%s\n%s", err, text);
  assert_null(err);
  free(text);
  need = tern_metrics_json(reg, NULL, 0);
  char *js = malloc(need + 1);
  assert_non_null(js);
  tern_metrics_json(reg, js, need + 1);
  int depth = 0;
  bool in_str = false;
  for (const char *p = js; *p; p++) {
    if (in_str) {
      if (*p == '\\') p++;
      else if (*p == '"') in_str = false;
      continue;
    }
    if (*p == '"') in_str = true;
    else if (*p == '{' || *p == '[') depth++;
    else if (*p == '}' || *p == ']') assert_true(--depth >= 0);
  }
  assert_int_equal(depth, 0);
  assert_false(in_str);
  free(js);
}

static void test_core_and_http(void **state) {
  (void)state;
  tern_metrics *reg;
  tern_mgr *m;
  tern_http_server *s;
  assert_int_equal(tern_metrics_new(&reg), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  assert_int_equal(tern_mgr_set_metrics(m, reg), TERN_OK);
  assert_ptr_equal(tern_mgr_metrics(m), reg);
  assert_int_equal(tern_http_server_new(m, "tcp://127.0.0.1:0", NULL, &s), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/ok", h_ok, NULL), TERN_OK);
  uint16_t port = tern_conn_local(tern_http_server_listener(s))->port;
  for (int i = 0; i < 3; i++) assert_int_equal(http_ask(m, port, "GET", "/ok"), 200);
  assert_int_equal(http_ask(m, port, "GET", "/missing"), 404);
  assert_int_equal(http_ask(m, port, "POST", "/ok"), 405);
  assert_int_equal(http_ask(m, port, "BREW", "/ok"), 405); /* "other" */
  run_for(m, 50); /* the closes */
  assert_int_equal(val(reg, "tern_http_requests_total", "method=\"GET\",code=\"2xx\""), 3);
  assert_int_equal(val(reg, "tern_http_requests_total", "method=\"GET\",code=\"4xx\""), 1);
  assert_int_equal(val(reg, "tern_http_requests_total", "method=\"POST\",code=\"4xx\""), 1);
  assert_int_equal(val(reg, "tern_http_requests_total", "method=\"other\",code=\"4xx\""), 1);
  assert_int_equal(val(reg, "tern_http_request_duration_ms", NULL), 6);
  const char *acc = "kind=\"tcp_accepted\",class=\"user\"";
  assert_int_equal(val(reg, "tern_connections_opened_total", acc), 6);
  assert_int_equal(val(reg, "tern_connections_closed_total", acc), 6);
  assert_int_equal(val(reg, "tern_connections_active", acc), 0);
  assert_int_equal(val(reg, "tern_connections_active", "kind=\"tcp_listen\",class=\"user\""), 1);
  assert_true(val(reg, "tern_net_bytes_total", "dir=\"in\",class=\"user\"") > 6 * 30);
  assert_true(val(reg, "tern_net_bytes_total", "dir=\"out\",class=\"user\"") > 6 * 40);
  assert_int_equal(val(reg, "tern_net_bytes_total", "dir=\"in\",class=\"system\""), 0);

  /* a system listener: its accepted connections are system too */
  tern_conn *l;
  assert_int_equal(tern_listen(m, "tcp://127.0.0.1:0", NULL, NULL, &l), TERN_OK);
  tern_conn_set_system(l, true);
  assert_true(tern_conn_is_system(l));
  assert_false(tern_conn_is_system(tern_http_server_listener(s)));
  char url[64];
  snprintf(url, sizeof url, "tcp://127.0.0.1:%u", tern_conn_local(l)->port);
  tern_conn *c;
  assert_int_equal(tern_connect(m, url, NULL, NULL, &c), TERN_OK);
  tern_conn_set_system(c, true);
  run_for(m, 50);
  assert_int_equal(val(reg, "tern_connections_active", "kind=\"tcp_listen\",class=\"system\""), 1);
  assert_int_equal(val(reg, "tern_connections_active", "kind=\"tcp_client\",class=\"system\""), 1);
  assert_int_equal(val(reg, "tern_connections_active", "kind=\"tcp_accepted\",class=\"system\""), 1);
  assert_int_equal(val(reg, "tern_connections_opened_total", "kind=\"tcp_client\",class=\"user\""), 0);
  tern_abort(c);
  run_for(m, 50);
  assert_int_equal(val(reg, "tern_connections_active", "kind=\"tcp_client\",class=\"system\""), 0);
  assert_int_equal(val(reg, "tern_connections_active", "kind=\"tcp_accepted\",class=\"system\""), 0);
  assert_int_equal(val(reg, "tern_connect_failures_total", "class=\"system\""), 0);

  /* a refused connect */
  tern_close(l);
  run_for(m, 20);
  assert_int_equal(tern_connect(m, url, NULL, NULL, NULL), TERN_OK);
  run_for(m, 100);
  assert_int_equal(val(reg, "tern_connect_failures_total", "class=\"user\""), 1);
  check_exports(reg);
  tern_http_server_free(s);
  tern_mgr_free(m);
  tern_metrics_free(reg);
}

/* Without a registry nothing is made anywhere. */
static void test_none_attached(void **state) {
  (void)state;
  tern_metrics *reg;
  tern_mgr *m;
  tern_http_server *s;
  assert_int_equal(tern_metrics_new(&reg), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  assert_int_equal(tern_http_server_new(m, "tcp://127.0.0.1:0", NULL, &s), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/ok", h_ok, NULL), TERN_OK);
  uint16_t port = tern_conn_local(tern_http_server_listener(s))->port;
  assert_int_equal(http_ask(m, port, "GET", "/ok"), 200);
  assert_null(tern_mgr_metrics(m));
  char buf[64];
  assert_int_equal(tern_metrics_prometheus(reg, buf, sizeof buf), 0);
  /* attached later: the connections alive then count when they end */
  assert_int_equal(tern_mgr_set_metrics(m, reg), TERN_OK);
  tern_http_server_free(s);
  run_for(m, 20);
  assert_int_equal(val(reg, "tern_connections_closed_total", "kind=\"tcp_listen\",class=\"user\""), 1);
  assert_int_equal(val(reg, "tern_connections_active", "kind=\"tcp_listen\",class=\"user\""), 0);
  assert_int_equal(tern_mgr_set_metrics(m, NULL), TERN_OK);
  tern_mgr_free(m);
  tern_metrics_free(reg);
}

/* DNS over a server that never answers: queries, timeouts, a failure and
 * its latency, on UDP connections labelled system; then an injected
 * failure. */
typedef struct dns_seen {
  int calls, status;
} dns_seen;

static void on_addrs(tern_dns_query *q, int status, const tern_addr *a, size_t n, void *ud) {
  (void)q, (void)a, (void)n;
  dns_seen *d = ud;
  d->calls++;
  d->status = status;
}

static void test_dns(void **state) {
  (void)state;
  tern_metrics *reg;
  tern_mgr *m;
  assert_int_equal(tern_metrics_new(&reg), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  assert_int_equal(tern_mgr_set_metrics(m, reg), TERN_OK);
  tern_conn *mute;
  assert_int_equal(tern_listen(m, "udp://127.0.0.1:0", NULL, NULL, &mute), TERN_OK);
  char srv[64];
  snprintf(srv, sizeof srv, "127.0.0.1:%u", tern_conn_local(mute)->port);
  tern_dns_opts o = {.servers = srv, .timeout_ms = 40, .attempts = 1};
  tern_dns *d;
  assert_int_equal(tern_dns_new(m, &o, &d), TERN_OK);
  dns_seen seen = {0, 0};
  assert_int_equal(tern_dns_lookup(d, "nowhere.test", TERN_AF_INET, on_addrs, &seen, NULL), TERN_OK);
  for (int i = 0; i < 100 && seen.calls == 0; i++) run_for(m, 10);
  assert_int_equal(seen.calls, 1);
  assert_int_equal(seen.status, TERN_ETIMEDOUT);
  run_for(m, 20);
  assert_int_equal(val(reg, "tern_dns_lookups_total", NULL), 1);
  assert_int_equal(val(reg, "tern_dns_queries_total", NULL), 1);
  assert_int_equal(val(reg, "tern_dns_timeouts_total", NULL), 1);
  assert_int_equal(val(reg, "tern_dns_failures_total", NULL), 1);
  assert_int_equal(val(reg, "tern_dns_lookup_duration_ms", NULL), 1);
  assert_int_equal(val(reg, "tern_connections_opened_total", "kind=\"udp\",class=\"system\""), 1);
  assert_int_equal(val(reg, "tern_connections_active", "kind=\"udp\",class=\"system\""), 0);
  assert_int_equal(val(reg, "tern_connections_opened_total", "kind=\"udp\",class=\"user\""), 1); /* mute */
  assert_true(val(reg, "tern_net_bytes_total", "dir=\"out\",class=\"system\"") > 12);
  tern_fi *fi;
  assert_int_equal(tern_fi_new("dns/fail", &fi), TERN_OK);
  tern_mgr_set_fi(m, fi);
  assert_int_equal(tern_dns_lookup(d, "other.test", TERN_AF_INET, on_addrs, &seen, NULL), TERN_OK);
  run_for(m, 20);
  assert_int_equal(seen.calls, 2);
  assert_int_equal(val(reg, "tern_dns_failures_total", NULL), 2);
  assert_int_equal(val(reg, "tern_dns_queries_total", NULL), 1);
  check_exports(reg);
  tern_dns_free(d);
  tern_mgr_free(m);
  tern_fi_free(fi);
  tern_metrics_free(reg);
}

/* A tiny DNS server (RFC 1035 4.1): A questions get 127.0.0.2, TTL 60. */
static int dns_srv_queries;
static void dns_srv_fn(tern_conn *c, const tern_event *ev, void *ud) {
  (void)ud;
  if (ev->type != TERN_EV_READ || ev->read.len < 12 || ev->read.len > 300) return;
  const uint8_t *q = ev->read.data;
  size_t at = 12;
  while (at < ev->read.len && q[at] != 0) at += (size_t)q[at] + 1;
  at += 5; /* the root label, QTYPE, QCLASS */
  if (at > ev->read.len) return;
  dns_srv_queries++;
  uint8_t r[400];
  memcpy(r, q, at);
  r[2] = 0x81, r[3] = 0x80;             /* response, RD, RA, NOERROR */
  r[6] = 0, r[7] = 1, r[8] = r[9] = r[10] = r[11] = 0;
  static const uint8_t ans[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2};
  memcpy(r + at, ans, sizeof ans);
  tern_send(c, r, at + sizeof ans);
}

/* Answers: a lost one is retried (a query and a timeout more), the next
 * lookup of the name is a cache hit. */
static void test_dns_answers(void **state) {
  (void)state;
  tern_metrics *reg;
  tern_mgr *m;
  tern_fi *fi;
  assert_int_equal(tern_metrics_new(&reg), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  assert_int_equal(tern_mgr_set_metrics(m, reg), TERN_OK);
  assert_int_equal(tern_fi_new("dns/drop(1..1)", &fi), TERN_OK);
  tern_mgr_set_fi(m, fi);
  tern_conn *srv;
  assert_int_equal(tern_listen(m, "udp://127.0.0.1:0", dns_srv_fn, NULL, &srv), TERN_OK);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%u", tern_conn_local(srv)->port);
  tern_dns_opts o = {.servers = addr, .timeout_ms = 40, .attempts = 3};
  tern_dns *d;
  assert_int_equal(tern_dns_new(m, &o, &d), TERN_OK);
  dns_seen seen = {0, 0};
  dns_srv_queries = 0;
  assert_int_equal(tern_dns_lookup(d, "a.test", TERN_AF_INET, on_addrs, &seen, NULL), TERN_OK);
  for (int i = 0; i < 200 && seen.calls == 0; i++) run_for(m, 5);
  assert_int_equal(seen.status, TERN_OK);
  assert_int_equal(dns_srv_queries, 2);
  assert_int_equal(tern_fi_fired(fi, "dns/drop"), 1);
  assert_int_equal(val(reg, "tern_dns_queries_total", NULL), 2);
  assert_int_equal(val(reg, "tern_dns_timeouts_total", NULL), 1);
  assert_int_equal(val(reg, "tern_dns_failures_total", NULL), 0);
  assert_int_equal(val(reg, "tern_dns_lookup_duration_ms", NULL), 1);
  assert_int_equal(tern_dns_lookup(d, "a.test", TERN_AF_INET, on_addrs, &seen, NULL), TERN_OK);
  for (int i = 0; i < 100 && seen.calls == 1; i++) run_for(m, 5);
  assert_int_equal(seen.calls, 2);
  assert_int_equal(seen.status, TERN_OK);
  assert_int_equal(val(reg, "tern_dns_cache_hits_total", NULL), 1);
  assert_int_equal(val(reg, "tern_dns_lookups_total", NULL), 2);
  assert_int_equal(val(reg, "tern_dns_queries_total", NULL), 2);
  tern_dns_free(d);
  tern_mgr_free(m);
  tern_fi_free(fi);
  tern_metrics_free(reg);
}

/* ---- SMD ----------------------------------------------------------- */

typedef struct smd_seen {
  int msgs;
  char text[4096];
  size_t len;
  bool too_big;
} smd_seen;

static void on_metrics(tern_sys *s, const tern_smd_msg *msg, void *ud) {
  (void)s;
  smd_seen *g = ud;
  assert_int_equal(msg->cls, TERN_SMD_METRICS);
  if (msg->len > TERN_SMD_MAX_PAYLOAD) g->too_big = true;
  assert_true(msg->len > 0 && ((const char *)msg->payload)[msg->len - 1] == '\n');
  g->msgs++;
  if (g->len + msg->len < sizeof g->text) {
    memcpy(g->text + g->len, msg->payload, msg->len);
    g->len += msg->len;
    g->text[g->len] = 0;
  }
}

static void test_smd_publish(void **state) {
  (void)state;
  tern_metrics *reg;
  tern_mgr *m;
  tern_sys *sys;
  assert_int_equal(tern_metrics_new(&reg), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  assert_int_equal(tern_sys_new(m, NULL, &sys), TERN_OK);
  tern_metric *a = tern_metrics_counter(reg, "a_total", "A.", NULL);
  tern_metric *b = tern_metrics_gauge(reg, "b", "B.", "k=\"v\"");
  tern_metric *h = tern_metrics_histogram(reg, "h_ms", "H.", NULL, NULL, 0);
  char lab[32];
  for (int i = 0; i < 40; i++) { /* enough lines for several messages */
    snprintf(lab, sizeof lab, "n=\"%d\"", i);
    tern_metric_add(tern_metrics_counter(reg, "many_total", "Many.", lab), i);
  }
  assert_int_equal(tern_sys_metrics_publish(sys, reg, 30), TERN_OK);
  smd_seen g;
  memset(&g, 0, sizeof g);
  run_for(m, 80); /* nobody listens: nothing gathered */
  tern_smd_stats st;
  tern_smd_get_stats(sys, &st);
  assert_int_equal(st.published + st.unheard, 0);
  tern_smd_sub *sub;
  assert_int_equal(tern_smd_subscribe(sys, TERN_SMD_METRICS, on_metrics, &g, &sub), TERN_OK);
  tern_metric_add(a, 1);
  tern_metric_set(b, -4);
  tern_metric_observe(h, 3);
  for (int i = 0; i < 100 && g.msgs == 0; i++) run_for(m, 5);
  run_for(m, 10); /* the rest of the first period's messages */
  assert_true(g.msgs >= 3); /* 43 lines do not fit one payload */
  assert_false(g.too_big);
  assert_non_null(strstr(g.text, "a_total 1\n"));
  assert_non_null(strstr(g.text, "b{k=\"v\"} -4\n"));
  assert_non_null(strstr(g.text, "h_ms_count 1\nh_ms_sum 3\n"));
  assert_non_null(strstr(g.text, "many_total{n=\"39\"} 39\n"));
  /* next periods: only what changed */
  memset(&g, 0, sizeof g);
  tern_metric_add(a, 2);
  for (int i = 0; i < 100 && g.msgs == 0; i++) run_for(m, 5);
  assert_int_equal(g.msgs, 1);
  assert_string_equal(g.text, "a_total 3\n");
  memset(&g, 0, sizeof g);
  run_for(m, 100);
  assert_int_equal(g.msgs, 0); /* nothing changed */
  assert_int_equal(tern_sys_metrics_publish(sys, reg, 0), TERN_OK);
  tern_metric_add(a, 1);
  run_for(m, 100);
  assert_int_equal(g.msgs, 0); /* stopped */
  assert_int_equal(tern_sys_metrics_publish(sys, reg, 20), TERN_OK);
  tern_sys_free(sys); /* stops it */
  tern_mgr_free(m);
  tern_metrics_free(reg);
}

/* A collect callback runs at each export, outside the lock. */
static void collect(tern_metrics *reg, void *ud) {
  int *calls = ud;
  (*calls)++;
  tern_metric_set(tern_metrics_gauge(reg, "collected", "From a callback.", NULL), *calls);
}

static void test_collect(void **state) {
  (void)state;
  tern_metrics *reg;
  assert_int_equal(tern_metrics_new(&reg), TERN_OK);
  int calls = 0;
  assert_int_equal(tern_metrics_on_collect(reg, collect, &calls), TERN_OK);
  assert_int_equal(tern_metrics_on_collect(reg, collect, &calls), TERN_OK); /* once */
  char buf[512];
  tern_metrics_prometheus(reg, buf, sizeof buf);
  assert_non_null(strstr(buf, "collected 1\n"));
  tern_metrics_json(reg, buf, sizeof buf);
  assert_non_null(strstr(buf, "\"collected\":[{\"labels\":{},\"value\":2}]"));
  tern_metrics_on_collect_remove(reg, collect, &calls);
  tern_metrics_prometheus(reg, buf, sizeof buf);
  assert_int_equal(calls, 2);
  for (int i = 0; i < TERN_METRICS_MAX_COLLECT; i++)
    assert_int_equal(tern_metrics_on_collect(reg, collect, (char *)&calls + i), TERN_OK);
  assert_int_equal(tern_metrics_on_collect(reg, collect, NULL), TERN_ENOSPC);
  tern_metrics_free(reg);
}

/* The checker itself refuses what it must. */
static void test_checker(void **state) {
  (void)state;
  assert_null(prom_check("# HELP a A.\n# TYPE a counter\na{x=\"1\"} 2\n"));
  assert_non_null(prom_check("a 1\n"));                                /* no TYPE */
  assert_non_null(prom_check("# TYPE a counter\na{x=1} 2\n"));         /* unquoted */
  assert_non_null(prom_check("# TYPE a counter\na 2"));                /* no newline */
  assert_non_null(prom_check("# TYPE a counter\na 2\na 3\n"));         /* twice */
  assert_non_null(prom_check("# TYPE a counter\n# TYPE b gauge\na 1\nb 1\na{x=\"y\"} 1\n"));
  assert_non_null(prom_check("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"));
  assert_non_null(prom_check("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n"));
  assert_null(prom_check("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n"));
}

/* ---- WebSocket ----------------------------------------------------- */

static int ws_client_got, ws_closed;

static void ws_server_fn(tern_ws *ws, tern_ws_reason reason, void *session,
                         const tern_ws_msg *msg, void *ud) {
  (void)session, (void)ud;
  if (reason == TERN_WS_RECEIVE)
    tern_ws_send(ws, msg->data, msg->len, msg->binary ? TERN_WS_BINARY : TERN_WS_TEXT);
  if (reason == TERN_WS_CLOSED) ws_closed++;
}

static void ws_client_fn(tern_ws *ws, tern_ws_reason reason, void *session,
                         const tern_ws_msg *msg, void *ud) {
  (void)session, (void)ud, (void)msg;
  if (reason == TERN_WS_ESTABLISHED) {
    tern_ws_send(ws, "hi", 2, TERN_WS_TEXT);
    tern_ws_send(ws, "\x01\x02\x03", 3, TERN_WS_BINARY);
  } else if (reason == TERN_WS_RECEIVE && ++ws_client_got == 2) {
    tern_ws_close(ws, 1000, "done");
  } else if (reason == TERN_WS_CLOSED) {
    ws_closed++;
  }
}

static void test_ws(void **state) {
  (void)state;
  tern_metrics *reg;
  tern_mgr *m;
  tern_http_server *s;
  assert_int_equal(tern_metrics_new(&reg), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  assert_int_equal(tern_mgr_set_metrics(m, reg), TERN_OK);
  assert_int_equal(tern_http_server_new(m, "tcp://127.0.0.1:0", NULL, &s), TERN_OK);
  tern_ws_protocol sp = {.fn = ws_server_fn}, cp = {.fn = ws_client_fn};
  assert_int_equal(tern_ws_route(s, "/ws", &sp, 1), TERN_OK);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/ws",
           tern_conn_local(tern_http_server_listener(s))->port);
  ws_client_got = ws_closed = 0;
  assert_int_equal(tern_ws_connect(m, url, &cp, NULL), TERN_OK);
  for (int i = 0; i < 200 && ws_closed < 2; i++) run_for(m, 5);
  assert_int_equal(ws_closed, 2);
  assert_int_equal(val(reg, "tern_ws_messages_total", "dir=\"in\""), 4);
  assert_int_equal(val(reg, "tern_ws_messages_total", "dir=\"out\""), 4);
  assert_int_equal(val(reg, "tern_ws_bytes_total", "dir=\"in\""), 10);
  assert_int_equal(val(reg, "tern_ws_bytes_total", "dir=\"out\""), 10);
  assert_int_equal(val(reg, "tern_ws_closes_total", "code=\"1000\""), 2);
  assert_int_equal(val(reg, "tern_http_requests_total", "method=\"GET\",code=\"1xx\""), 1);
  /* the WebSocket client's connection, counted by the core */
  assert_int_equal(val(reg, "tern_connections_opened_total", "kind=\"tcp_client\",class=\"user\""), 1);
  check_exports(reg);
  tern_http_server_free(s);
  tern_mgr_free(m);
  tern_metrics_free(reg);
}

/* ---- the built-in stack, bound at export time -------------------- */

static void test_stack(void **state) {
  (void)state;
  tern_metrics *reg;
  tern_stack *st;
  assert_int_equal(tern_metrics_new(&reg), TERN_OK);
  assert_int_equal(tern_stack_new(&st, NULL), TERN_OK);
  assert_int_equal(tern_metrics_bind_stack(reg, st), TERN_OK);
  tern_stack_fail_alloc(st, 1, false);
  assert_null(tern_pbuf_alloc(st, TERN_PBUF_RAW, 100)); /* refused: counted */
  tern_pbuf *p = tern_pbuf_alloc(st, TERN_PBUF_RAW, 100);
  assert_non_null(p);
  char buf[16384];
  tern_metrics_prometheus(reg, buf, sizeof buf);
  assert_null(prom_check(buf));
  assert_non_null(strstr(buf, "\ntern_ip_alloc_failures_total 1\n"));
  assert_non_null(strstr(buf, "\ntern_ip_pool_blocks{state=\"used\"} 1\n"));
  assert_non_null(strstr(buf, "# TYPE tern_tcp_retransmissions_total counter\n"));
  tern_pbuf_free(p);
  tern_stack_fail_alloc(st, 1, false);
  assert_null(tern_pbuf_alloc(st, TERN_PBUF_RAW, 100));
  tern_metrics_json(reg, buf, sizeof buf);
  assert_non_null(strstr(buf, "\"tern_ip_alloc_failures_total\":[{\"labels\":{},\"value\":2}]"));
  assert_non_null(strstr(buf, "{\"labels\":{\"state\":\"used\"},\"value\":0}"));
  tern_metrics_unbind_stack(reg, st);
  tern_stack_free(st); /* unbound: the next export does not touch it */
  tern_metrics_prometheus(reg, buf, sizeof buf);
  assert_non_null(strstr(buf, "\ntern_ip_alloc_failures_total 2\n"));
  tern_metrics_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_checker),
      cmocka_unit_test(test_core_and_http),
      cmocka_unit_test(test_none_attached),
      cmocka_unit_test(test_dns),
      cmocka_unit_test(test_dns_answers),
      cmocka_unit_test(test_smd_publish),
      cmocka_unit_test(test_collect),
      cmocka_unit_test(test_ws),
      cmocka_unit_test(test_stack),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
