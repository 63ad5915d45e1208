/* net_metrics.c: the connection core's metrics (tern_mgr_set_metrics).
 *
 * With no registry attached every point is one NULL test. Attached, the
 * core keeps pointers to its metrics (made once here) and updates them
 * with relaxed atomic adds: connections opened, closed and open now by
 * kind and class, bytes in and out, failed connects.
 *
 * A connection made by a user's call (connect, listen, adopt) is counted
 * from the flush, after the call returned, so that a helper's
 * tern_conn_set_system right after tern_connect labels it "system";
 * accepted connections take their listener's class and count at once.
 */
#include <stdio.h>
#include <stdlib.h>

#include "net/net_internal.h"
#include "tern/metrics.h"

static const char *const kind_name[MX_KINDS] = {"tcp_listen", "tcp_accepted",
                                                "tcp_client", "udp"};
static const char *const class_name[2] = {"user", "system"};

static int kind_of(const tern_conn *c) {
  if (c->flags & F_UDP) return MX_UDP;
  if (c->flags & F_LISTENER) return MX_LISTEN;
  return (c->flags & F_CLIENT) ? MX_CLIENT : MX_ACCEPTED;
}

static int mx_make(tern_metrics *r, tern__net_mx *x) {
  char lab[64];
  for (int k = 0; k < MX_KINDS; k++)
    for (int s = 0; s < 2; s++) {
      snprintf(lab, sizeof lab, "kind=\"%s\",class=\"%s\"", kind_name[k],
               class_name[s]);
      x->opened[k][s] = tern_metrics_counter(r, "tern_connections_opened_total",
                                             "Connections opened.", lab);
      x->closed[k][s] = tern_metrics_counter(r, "tern_connections_closed_total",
                                             "Connections closed.", lab);
      x->active[k][s] = tern_metrics_gauge(r, "tern_connections_active",
                                           "Connections open now.", lab);
      if (!x->opened[k][s] || !x->closed[k][s] || !x->active[k][s])
        return TERN_ENOMEM;
    }
  for (int s = 0; s < 2; s++) {
    snprintf(lab, sizeof lab, "dir=\"in\",class=\"%s\"", class_name[s]);
    x->bytes_in[s] = tern_metrics_counter(r, "tern_net_bytes_total",
                                          "Bytes received and sent.", lab);
    snprintf(lab, sizeof lab, "dir=\"out\",class=\"%s\"", class_name[s]);
    x->bytes_out[s] = tern_metrics_counter(r, "tern_net_bytes_total",
                                           "Bytes received and sent.", lab);
    snprintf(lab, sizeof lab, "class=\"%s\"", class_name[s]);
    x->connect_fail[s] = tern_metrics_counter(
        r, "tern_connect_failures_total",
        "Client connects that failed (resolve, refused, timeout).", lab);
    if (!x->bytes_in[s] || !x->bytes_out[s] || !x->connect_fail[s])
      return TERN_ENOMEM;
  }
  return TERN_OK;
}

int tern_mgr_set_metrics(tern_mgr *m, tern_metrics *reg) {
  if (m == NULL) return TERN_EINVAL;
  tern__net_mx *x = NULL;
  if (reg != NULL) {
    if ((x = calloc(1, sizeof *x)) == NULL) return TERN_ENOMEM;
    if (mx_make(reg, x) != TERN_OK) {
      free(x);
      return TERN_ENOMEM;
    }
  }
  tern__mx_free(m);
  m->metrics = reg;
  m->mx = x;
  /* Connections alive now were counted (or not) elsewhere: each counts as
   * opened and closed in the new registry when it ends. */
  for (tern_conn *c = m->live_head; c != NULL; c = c->next)
    c->flags &= ~F_COUNTED;
  return TERN_OK;
}

tern_metrics *tern_mgr_metrics(const tern_mgr *m) { return m->metrics; }

void tern__mx_free(tern_mgr *m) {
  free(m->mx);
  m->mx = NULL;
  m->metrics = NULL;
}

void tern__mx_open(tern_conn *c) {
  tern__net_mx *x = c->mgr->mx;
  if (x == NULL || (c->flags & F_COUNTED)) return;
  c->flags |= F_COUNTED;
  int k = kind_of(c), s = TERN__MX_CLASS(c);
  tern_metric_add(x->opened[k][s], 1);
  tern_metric_add(x->active[k][s], 1);
}

/* From tern__conn_finish: the connection has ended (CLOSE is on its way). */
void tern__mx_close(tern_conn *c) {
  tern__net_mx *x = c->mgr->mx;
  if (x == NULL) return;
  tern__mx_open(c); /* ended before it was counted */
  int k = kind_of(c), s = TERN__MX_CLASS(c);
  tern_metric_add(x->closed[k][s], 1);
  tern_metric_add(x->active[k][s], -1);
  if ((c->flags & F_CLIENT) && !(c->flags & F_CONNECTED) &&
      c->reason != TERN_OK && c->reason != TERN_ECONNABORTED &&
      c->reason != TERN_ECANCELED) /* not ended by the user */
    tern_metric_add(x->connect_fail[s], 1);
}

/* The flag, the manager's count of system connections (tern_mgr_foreach
 * skips them) and, when counted already, the metrics' class. */
void tern_conn_set_system(tern_conn *c, bool on) {
  if (c == NULL || (c->flags & F_FINAL) || on == ((c->flags & F_SYSTEM) != 0))
    return;
  if (on) c->mgr->nsystem++;
  else c->mgr->nsystem--;
  tern__net_mx *x = c->mgr->mx;
  if (x && (c->flags & F_COUNTED)) {
    /* counted already (an accepted one, or set late): move it */
    int k = kind_of(c), s = TERN__MX_CLASS(c);
    tern_metric_add(x->active[k][s], -1);
    tern_metric_add(x->active[k][!s], 1);
  }
  c->flags ^= F_SYSTEM;
}

bool tern_conn_is_system(const tern_conn *c) {
  return c != NULL && (c->flags & F_SYSTEM) != 0;
}
