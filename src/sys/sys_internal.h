/* sys_internal.h: the system object shared by sys.c (states, notifiers,
 * attach) and smd.c (the message bus).
 *
 * Threads: fields marked (mu) are shared with other threads and read or
 * written only under mu; the rest belong to the loop thread. Other threads
 * reach the loop through one tern_loop_call at a time (wake_queued), which
 * holds a reference: the object is freed when tern_sys_free has run and
 * no wake is queued, whichever comes last.
 */
#ifndef TERN_SYS_INTERNAL_H
#define TERN_SYS_INTERNAL_H

#include <stdatomic.h>

#include "tern/loop.h"
#include "tern/port.h"
#include "tern/sys.h"

typedef struct attach {
  struct attach *next;
  tern_sys_state state;
  tern_sys_attach_fn fn;
  void *opaque;
} attach;

struct tern_sys_notifier {
  tern_sys_notifier *next;
  tern_sys *s;
  tern_sys_notify_fn fn;
  void *ud;
  bool removed;
};

typedef struct smd_node {
  struct smd_node *next;
  uint32_t cls;
  uint64_t published_ms;
  size_t len;
  uint8_t payload[];
} smd_node;

struct tern_smd_sub {
  tern_smd_sub *next;
  tern_sys *s;
  uint32_t mask;
  tern_smd_fn fn;
  void *ud;
  bool removed;
};

struct tern_sys {
  tern_mgr *m;
  tern_loop *loop;
  tern_sys_opts o;
  /* states */
  tern_sys_state cur, target;
  bool held, resumed, stepping;
  tern_sys_notifier *notifiers;
  attach *waiting; /* taken from pending, waiting for their state */
  /* shared with other threads */
  tern_mutex *mu;
  attach *pending, *pending_tail; /* (mu) */
  smd_node *q_head, *q_tail;      /* (mu) */
  size_t q_len;                   /* (mu) */
  tern_smd_stats st;              /* (mu) */
  bool wake_queued, closing;      /* (mu) */
  int refs;                       /* (mu) */
  size_t nattach;                 /* (mu) pending + waiting, <= max_attach */
  _Atomic uint32_t listen_mask;   /* union of the subscribers' masks */
  /* smd, loop side */
  tern_smd_sub *subs;
  int delivering;                 /* depth of deliveries in progress */
  /* metrics on SMD (metrics_smd.c) */
  struct tern_metrics *mx_reg;
  tern_timer *mx_timer;
};

/* sys.c: ask the loop to run the drain (mu held). */
int tern__sys_wake_locked(tern_sys *s);
/* smd.c */
void tern__smd_drain(tern_sys *s);
void tern__smd_free_all(tern_sys *s);
void tern__smd_deliver_now(tern_sys *s, uint32_t cls, const void *p,
                           size_t len);

/* metrics_smd.c: stop publishing (tern_sys_free). */
void tern__sys_metrics_stop(tern_sys *s);

/* gate.c: a gate holding the step into state until ready(ctx) is true
 * (checked when the step is proposed, then every 100 ms). */
int tern__sys_gate_new(tern_sys *s, tern_sys_state state,
                       bool (*ready)(void *ctx), void *ctx,
                       tern_sys_gate **out);

#endif
