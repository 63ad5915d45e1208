/* sys/metrics_smd.c: the metrics registry published on SMD every period
 * (tern_sys_metrics_publish in tern/sys.h).
 *
 * A repeating timer on the system's loop asks the registry for what
 * changed since the last period and publishes it in whole-line chunks of
 * at most TERN_SMD_MAX_PAYLOAD bytes. With no subscriber to
 * TERN_SMD_METRICS the timer returns at once: nothing is formatted.
 */
#include "sys/sys_internal.h"
#include "tern/metrics.h"

static void publish_chunk(const char *chunk, size_t len, void *ud) {
  (void)tern_smd_publish(ud, TERN_SMD_METRICS, chunk, len);
}

static void on_period(tern_timer *t, void *ud) {
  tern_sys *s = ud;
  (void)t;
  if (!(atomic_load(&s->listen_mask) & TERN_SMD_METRICS)) return;
  tern_metrics_changes(s->mx_reg, TERN_SMD_MAX_PAYLOAD, publish_chunk, s);
}

void tern__sys_metrics_stop(tern_sys *s) {
  if (s->mx_timer) tern_timer_free(s->mx_timer);
  s->mx_timer = NULL;
  s->mx_reg = NULL;
}

int tern_sys_metrics_publish(tern_sys *s, tern_metrics *reg,
                             uint32_t period_ms) {
  if (s == NULL) return TERN_EINVAL;
  if (reg == NULL || period_ms == 0) {
    tern__sys_metrics_stop(s);
    return TERN_OK;
  }
  if (s->mx_timer == NULL) {
    int rc = tern_timer_new(s->loop, &s->mx_timer, on_period, s);
    if (rc != TERN_OK) return rc;
  }
  s->mx_reg = reg;
  tern_timer_start(s->mx_timer, period_ms, period_ms);
  return TERN_OK;
}
