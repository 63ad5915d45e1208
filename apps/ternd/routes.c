/* routes.c: ternd's endpoints.
 *
 *   GET  /            the dashboard page (built in)
 *   GET  /api/status  status as JSON
 *   GET  /metrics     Prometheus text
 *   GET  /api/metrics the same metrics as JSON
 *   GET  /hello       "hello" (for benchmarks)
 *   POST /echo        the request body back
 *   WS   /echo        every message back as it came (text or binary)
 *   WS   /live        status JSON pushed every second (the dashboard)
 *   GET  /...         files under --root, when given (a prefix route)
 */
#include <stdlib.h>
#include <string.h>

#include "ternd.h"

#define REPORT_MAX 8192
#define METRICS_MAX (1024 * 1024)
#define ECHO_MAX_MESSAGE (16 << 20)

static void on_dashboard(tern_http_req *r, void *ud) {
  ternd *d = ud;
  d->hits[EP_DASHBOARD]++;
  tern_http_reply(r, 200, "Content-Type: text/html; charset=utf-8\r\n"
                          "Cache-Control: no-store\r\n",
                  ternd_dashboard_html, strlen(ternd_dashboard_html));
}

static void on_status(tern_http_req *r, void *ud) {
  ternd *d = ud;
  char buf[REPORT_MAX];
  d->hits[EP_STATUS]++;
  size_t n = ternd_status_json(d, buf, sizeof(buf));
  tern_http_reply(r, 200, "Content-Type: application/json\r\n"
                          "Cache-Control: no-store\r\n", buf, n);
}

/* The size is asked first; new metrics may appear between the two
 * exports (a first request of a kind), hence the slack. */
static void on_metrics(tern_http_req *r, void *ud) {
  ternd *d = ud;
  d->hits[EP_METRICS]++;
  bool json = tern_str_eq(tern_http_req_msg(r)->path, "/api/metrics");
  size_t (*export)(tern_metrics *, char *, size_t) =
      json ? tern_metrics_json : tern_metrics_prometheus;
  size_t cap = export(d->metrics, NULL, 0) + 4096;
  char *buf = cap <= METRICS_MAX ? malloc(cap) : NULL;
  size_t n = buf ? export(d->metrics, buf, cap) : 0;
  if (buf == NULL || n >= cap) {
    tern_http_reply(r, 500, NULL, "metrics too large\n", 18);
  } else {
    tern_http_reply(r, 200,
                    json ? "Content-Type: application/json\r\n"
                         : "Content-Type: text/plain; version=0.0.4\r\n",
                    buf, n);
  }
  free(buf);
}

static void on_hello(tern_http_req *r, void *ud) {
  ternd *d = ud;
  d->hits[EP_HELLO]++;
  tern_http_reply(r, 200, "Content-Type: text/plain\r\n", "hello", 5);
}

static void on_echo(tern_http_req *r, void *ud) {
  ternd *d = ud;
  d->hits[EP_ECHO]++;
  tern_str body = tern_http_req_body(r);
  tern_http_reply(r, 200, "Content-Type: application/octet-stream\r\n",
                  body.ptr, body.len);
}

static void on_files(tern_http_req *r, void *ud) {
  ternd *d = ud;
  d->hits[EP_FILES]++;
  tern_http_static_opts o = {.root = d->root};
  tern_http_serve_static(r, &o);
}

/* WebSocket /echo: messages come back with the type they had. A sender
 * faster than the network gets its messages held back by the send limit:
 * on ENOSPC the connection is closed with 1008 rather than buffering. */
static void ws_echo(tern_ws *ws, tern_ws_reason reason, void *session,
                    const tern_ws_msg *m, void *ud) {
  ternd *d = ud;
  (void)session;
  if (reason == TERN_WS_ESTABLISHED) {
    d->hits[EP_ECHO_WS]++;
    /* Room to echo one message of the largest size accepted. */
    tern_conn_set_tx_max(tern_ws_conn(ws), ECHO_MAX_MESSAGE + 64 * 1024);
  }
  if (reason != TERN_WS_RECEIVE) return;
  d->ws_messages++;
  int rc = tern_ws_send(ws, m->data, m->len,
                        m->binary ? TERN_WS_BINARY : TERN_WS_TEXT);
  if (rc == TERN_ENOSPC) tern_ws_close(ws, 1008, "too fast");
}

/* WebSocket /live: the dashboard's feed. */
typedef struct live {
  uint64_t sent;
} live;

static void ws_live(tern_ws *ws, tern_ws_reason reason, void *session,
                    const tern_ws_msg *m, void *ud) {
  ternd *d = ud;
  live *l = session;
  (void)m;
  if (reason == TERN_WS_ESTABLISHED) d->hits[EP_LIVE_WS]++;
  if (reason == TERN_WS_ESTABLISHED || reason == TERN_WS_WRITEABLE) {
    char buf[REPORT_MAX];
    size_t n = ternd_status_json(d, buf, sizeof(buf));
    if (tern_ws_queued(ws) < 64 * 1024 &&
        tern_ws_send(ws, buf, n, TERN_WS_TEXT) == TERN_OK)
      l->sent++;
  }
}

void ternd_live_push(ternd *d) {
  tern_ws_want_writable_all(d->http, "tern-live");
}

int ternd_routes(ternd *d) {
  static tern_ws_protocol echo_proto = {.fn = ws_echo,
                                        .max_message = ECHO_MAX_MESSAGE};
  static tern_ws_protocol live_proto[2] = {
      {.name = "tern-live", .fn = ws_live, .session_size = sizeof(live),
       .ping_ms = 20000, .pong_timeout_ms = 10000}};
  echo_proto.ud = d;
  live_proto[0].ud = d;
  tern_http_server *s = d->http;
  int rc = TERN_OK;
  if (rc == TERN_OK) rc = tern_http_route(s, "GET", "/", on_dashboard, d);
  if (rc == TERN_OK) rc = tern_http_route(s, "GET", "/api/status", on_status, d);
  if (rc == TERN_OK) rc = tern_http_route(s, "GET", "/metrics", on_metrics, d);
  if (rc == TERN_OK) rc = tern_http_route(s, "GET", "/api/metrics", on_metrics, d);
  if (rc == TERN_OK) rc = tern_http_route(s, "GET", "/hello", on_hello, d);
  if (rc == TERN_OK) rc = tern_ws_route(s, "/echo", &echo_proto, 1);
  if (rc == TERN_OK) rc = tern_http_route(s, "POST", "/echo", on_echo, d);
  if (rc == TERN_OK) rc = tern_ws_route(s, "/live", live_proto, 1);
  if (rc == TERN_OK && d->root) rc = tern_http_route(s, NULL, "/*", on_files, d);
  return rc;
}
