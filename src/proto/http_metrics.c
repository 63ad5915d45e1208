/* http_metrics.c: the HTTP server's metrics, in the registry of its
 * manager (tern_mgr_set_metrics): tern_http_requests_total by method and
 * status class, tern_http_request_duration_ms from a request's first byte
 * to its answer (loop time, so millisecond steps).
 *
 * The metrics are made on first use and their pointers kept, so a request
 * costs a lookup in a small array and two atomic adds; without a registry
 * the server does not come here at all.
 */
#include <stdio.h>
#include <string.h>

#include "proto/http_internal.h"
#include "tern/metrics.h"

static const char *const methods[TERN__HTTP_MX_METHODS] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "other"};

static int method_index(tern_str m) {
  for (int i = 0; i < TERN__HTTP_MX_METHODS - 1; i++)
    if (tern_str_eq(m, methods[i])) return i;
  return TERN__HTTP_MX_METHODS - 1;
}

void tern__http_mx_request(tern_http_server *s, tern_str method, int status,
                           uint64_t start_ms) {
  tern_metrics *reg = tern_mgr_metrics(s->mgr);
  if (reg == NULL || status < 100 || status > 599) return;
  if (s->mx_reg != reg) { /* first use, or another registry: start over */
    memset(s->mx_req, 0, sizeof s->mx_req);
    s->mx_dur = NULL;
    s->mx_reg = reg;
  }
  int mi = method_index(method), cls = status / 100;
  tern_metric **slot = &s->mx_req[mi][cls];
  if (*slot == NULL) {
    char lab[64];
    snprintf(lab, sizeof lab, "method=\"%s\",code=\"%dxx\"", methods[mi], cls);
    *slot = tern_metrics_counter(reg, "tern_http_requests_total",
                                 "HTTP requests answered, by method and status class.",
                                 lab);
  }
  tern_metric_add(*slot, 1);
  if (start_ms == 0) return;
  if (s->mx_dur == NULL)
    s->mx_dur = tern_metrics_histogram(
        reg, "tern_http_request_duration_ms",
        "HTTP requests from their first byte to the answer, in ms.", NULL,
        NULL, 0);
  uint64_t now = tern_loop_now(tern_mgr_loop(s->mgr));
  tern_metric_observe(s->mx_dur, now >= start_ms ? (double)(now - start_ms) : 0);
}
