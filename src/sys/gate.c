/* sys/gate.c: bring-up helpers that hold system states until their work
 * is done (tern/sys.h): TIME_VALID waits for the SNTP client's first good
 * sample; DHCP waits for a lease (gate_dhcp.c, built with the ip layer).
 *
 * The helpers know nothing of the system (proto and ip are below sys),
 * so a gate looks: when the step into its state is proposed and the
 * helper is not ready, it holds the step and checks again every 100 ms,
 * then resumes. Bring-up happens once; the check costs nothing afterwards
 * (the timer stops).
 */
#include <stdlib.h>

#include "sys/sys_internal.h"
#include "tern/sntp.h"

#define GATE_CHECK_MS 100

struct tern_sys_gate {
  tern_sys *s;
  tern_sys_state state;      /* the step held */
  bool (*ready)(void *ctx);  /* done yet? */
  void *ctx;
  tern_sys_notifier *n;
  tern_timer *timer;
  bool holding;
};

static void on_check(tern_timer *t, void *ud) {
  tern_sys_gate *g = ud;
  if (!g->ready(g->ctx)) return; /* repeating: look again */
  tern_timer_stop(t);
  g->holding = false;
  tern_sys_resume(g->s);
}

static bool on_step(tern_sys *s, tern_sys_state from, tern_sys_state to,
                    void *ud) {
  tern_sys_gate *g = ud;
  (void)s, (void)from;
  if (to != g->state || g->ready(g->ctx)) return true;
  if (!g->holding) {
    g->holding = true;
    tern_timer_start(g->timer, GATE_CHECK_MS, GATE_CHECK_MS);
  }
  return false;
}

int tern__sys_gate_new(tern_sys *s, tern_sys_state state,
                       bool (*ready)(void *ctx), void *ctx,
                       tern_sys_gate **out) {
  if (s == NULL || ready == NULL || ctx == NULL || out == NULL)
    return TERN_EINVAL;
  tern_sys_gate *g = calloc(1, sizeof(*g));
  if (g == NULL) return TERN_ENOMEM;
  g->s = s;
  g->state = state;
  g->ready = ready;
  g->ctx = ctx;
  int rc = tern_timer_new(s->loop, &g->timer, on_check, g);
  if (rc == TERN_OK) rc = tern_sys_notifier_add(s, on_step, g, &g->n);
  if (rc != TERN_OK) {
    if (g->timer) tern_timer_free(g->timer);
    free(g);
    return rc;
  }
  *out = g;
  return TERN_OK;
}

static bool sntp_ready(void *ctx) { return tern_sntp_last(ctx, NULL); }

int tern_sys_gate_time(tern_sys *s, tern_sntp *sntp, tern_sys_gate **out) {
  if (sntp == NULL) return TERN_EINVAL;
  return tern__sys_gate_new(s, TERN_SYS_TIME_VALID, sntp_ready, sntp, out);
}

void tern_sys_gate_free(tern_sys_gate *g) {
  if (g == NULL) return;
  tern_sys_notifier_remove(g->n);
  tern_timer_free(g->timer);
  bool was_holding = g->holding;
  tern_sys *s = g->s;
  free(g);
  if (was_holding) tern_sys_resume(s); /* no longer anyone's to hold */
}
