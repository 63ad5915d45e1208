/* tern/rm_notify.h: the resource manager's notify lists, pulses and
 * private messages, server side (included by tern/rm.h; the client's
 * half is in tern/rmc.h).
 *
 * Notify (QNX ionotify/select/poll, io_notify, iofunc_notify*): a client
 * asks which conditions (input, output, out-of-band) are ready and may
 * arm a notification for later. An armed client gets a PULSE on its
 * connection when the server triggers a condition it asked for with a
 * count reaching the client's threshold; the notification is then
 * disarmed (one pulse per arm; QNX removes the entry from the one list
 * that fired, tern from all three). Entries are per connection and per
 * attribute; re-arming replaces the connection's entry. They go away on
 * close (close_ocb, or a client that died) without any handler code.
 *
 * Pulses (QNX MsgSendPulse, pulse_attach, MsgDeliverEvent): small
 * fire-and-forget messages, code 0..127 and a 64-bit value. A client's
 * pulse runs the handler attached to its code (unattached codes are
 * dropped); a server sends pulses to a client by any rcvid of its
 * connection.
 *
 * Private messages (QNX message_attach): request types 0x200..0xffff
 * (QNX keeps 0..0x1ff for the system) in ranges attached to a
 * dispatcher; the handler answers like any I/O handler (TERN_OK, error,
 * data parts, NOREPLY). A type in no range gets TERN_ENOTSUP (ENOSYS).
 *
 * Threads. Without a pool every handler runs on the loop thread; with
 * one (tern_rm_pool_start) the notify, PRIV and pulse handlers run on
 * pool threads like every other message of their connection: one at a
 * time per connection, in the order the client sent them (a client's
 * pulse is handled in order with its requests, never on the loop
 * thread). So, in both modes:
 *  - tern_rm_notify and tern_rm_notify_remove: from a handler (any
 *    thread it runs on). tern_rm_notify_trigger, _check and _count: from
 *    any thread, inside a handler or not (a write handler on one pool
 *    thread may trigger entries armed from others). The lists are under
 *    one internal lock, held briefly and never while user code runs; a
 *    trigger sends its pulses with it held, so a connection closing at
 *    the same time either gets its pulse or is gone first, never freed
 *    under the send. The application's own state behind "what is ready"
 *    is the application's to lock (QNX iofunc_attr_lock): hold that lock
 *    across its notify call and across the state change + trigger, so an
 *    arm cannot miss a trigger between its check and its entry.
 *  - tern_rm_pulse_attach/detach, tern_rm_message_attach/detach: any
 *    thread (the tables are under the dispatcher's lock). A detach does
 *    not wait for a handler already running on a pool thread.
 *  - tern_rm_pulse_send: any thread; from the loop thread it is sent at
 *    once, from any other (a pool thread too) posted to the loop like
 *    tern_rm_reply, so it keeps its order with posted replies.
 *  - tern_rm_dispatch_set_fi: any thread.
 */
#ifndef TERN_RM_NOTIFY_H
#define TERN_RM_NOTIFY_H

#include "tern/fi.h"
#include "tern/rm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Conditions (QNX _NOTIFY_COND_INPUT/OUTPUT/OBAND) and their list
 * indexes (QNX IOFUNC_NOTIFY_INPUT/OUTPUT/OBAND). */
#define TERN_RM_NOTIFY_INPUT 0x1u
#define TERN_RM_NOTIFY_OUTPUT 0x2u
#define TERN_RM_NOTIFY_OOB 0x4u
#define TERN_RM_NOTIFY_ALL 0x7u
enum { TERN_RM_NOTIFY_IDX_INPUT, TERN_RM_NOTIFY_IDX_OUTPUT,
       TERN_RM_NOTIFY_IDX_OOB, TERN_RM_NOTIFY_NLISTS };

/* Actions (QNX _NOTIFY_ACTION_*). */
enum {
  /* Answer the conditions ready now; arm nothing. */
  TERN_RM_NOTIFY_POLL = 0,
  /* Answer the conditions ready now; arm only if none of those asked
   * for is ready. */
  TERN_RM_NOTIFY_POLLARM = 1,
  /* Arm whatever is ready; answer nothing ready (0): the pulse comes on
   * the next trigger (an edge, not a level). */
  TERN_RM_NOTIFY_TRANSITION = 2
};

/* Pulse codes: applications use 0..127 (QNX _PULSE_CODE_MINAVAIL..
 * MAXAVAIL). TERN_RM_PULSE_ALLOC asks pulse_attach for a free one
 * (QNX MSG_FLAG_ALLOC_PULSE). */
#define TERN_RM_PULSE_CODE_MAX 127
#define TERN_RM_PULSE_ALLOC (-1)
/* Private message types (QNX: 0..0x1ff belong to the system). */
#define TERN_RM_PRIV_MIN 0x200u
#define TERN_RM_PRIV_MAX 0xffffu

/* _IO_NOTIFY as a handler sees it. thresholds: per condition (index as
 * above) the count a trigger must reach; 0 for a condition not asked. */
struct tern_rm_notify_msg {
  int action;
  uint32_t conds;
  uint32_t thresholds[TERN_RM_NOTIFY_NLISTS];
  int code;      /* the pulse the client wants (its sigevent) */
  int64_t value;
};

/* A pulse as received (client side, tern_rmc_pulse_recv) or handled. */
typedef struct tern_rm_pulse {
  int code;
  uint32_t conds; /* notify pulses: the condition that fired; else 0 */
  int64_t value;
} tern_rm_pulse;

/* iofunc_notify: trig is the set of conditions ready now. POLL answers
 * msg->conds & trig; POLLARM does the same and arms the connection on
 * ocb's attribute when that is 0; TRANSITION arms and answers 0. Return
 * its result from the notify handler: the reply's value is the answer.
 * TERN_ENOMEM if the entry cannot be made. */
TERN_API int tern_rm_notify(tern_rm_ctx *ctx, const tern_rm_notify_msg *msg,
                            tern_rm_ocb *ocb, uint32_t trig);
/* The default notify handler: a name that cannot block is always ready
 * for input and output (POSIX select on a regular file), so it answers
 * INPUT|OUTPUT and never arms. A device with a queue has its own handler
 * calling tern_rm_notify with what is ready. */
TERN_API int tern_rm_notify_default(tern_rm_ctx *ctx,
                                    const tern_rm_notify_msg *msg,
                                    tern_rm_ocb *ocb);
/* iofunc_notify_trigger: every connection armed on attr for cond (one
 * TERN_RM_NOTIFY_* bit) whose threshold is <= count gets its pulse
 * (conds = cond) and is disarmed. Returns how many were sent. */
TERN_API int tern_rm_notify_trigger(tern_rm_attr *attr, uint32_t cond,
                                    uint64_t count);
/* IOFUNC_NOTIFY_*_CHECK: would a trigger of cond with count send any? */
TERN_API bool tern_rm_notify_check(const tern_rm_attr *attr, uint32_t cond,
                                   uint64_t count);
/* iofunc_notify_remove: drop ctx's connection's entry from attr (done
 * for you when the OCB is released). */
TERN_API void tern_rm_notify_remove(tern_rm_ctx *ctx, tern_rm_attr *attr);
/* Connections armed on attr (tests, diagnostics). */
TERN_API size_t tern_rm_notify_count(const tern_rm_attr *attr);

/* ---- pulses and private messages ------------------------------------- */

/* A client's pulse. ctx names the sending connection (its OCB, creds);
 * there is no request: tern_rm_ctx_rcvid gives 0 and nothing is replied.
 * tern_rm_ctx_conn_rcvid (below) still identifies the connection. */
typedef void (*tern_rm_pulse_fn)(tern_rm_ctx *ctx, int code, int64_t value,
                                 void *opaque);
/* code 0..127 or TERN_RM_PULSE_ALLOC. Returns the code (>= 0), or
 * TERN_EEXIST (taken), TERN_EINVAL, TERN_ENOSPC (none free).
 * [pulse_attach] */
TERN_API int tern_rm_pulse_attach(tern_rm_dispatch *d, int code,
                                  tern_rm_pulse_fn fn, void *opaque);
TERN_API int tern_rm_pulse_detach(tern_rm_dispatch *d, int code);

typedef struct tern_rm_priv_msg {
  uint16_t type;
  const uint8_t *data; /* view into the receive buffer, as io messages */
  size_t nbytes;
} tern_rm_priv_msg;
/* The result answers the request as an I/O handler's does. */
typedef int (*tern_rm_message_fn)(tern_rm_ctx *ctx, const tern_rm_priv_msg *msg,
                                  void *opaque);
/* Types lo..hi (within TERN_RM_PRIV_MIN..MAX, lo <= hi) go to fn.
 * TERN_EEXIST if the range overlaps one attached. [message_attach] */
TERN_API int tern_rm_message_attach(tern_rm_dispatch *d, unsigned lo,
                                    unsigned hi, tern_rm_message_fn fn,
                                    void *opaque);
/* The range starting at lo. */
TERN_API int tern_rm_message_detach(tern_rm_dispatch *d, unsigned lo);

/* An id of ctx's connection for tern_rm_pulse_send: the request's rcvid,
 * or for a pulse handler (no request) one that names only the
 * connection. */
TERN_API tern_rm_rcvid tern_rm_ctx_conn_rcvid(const tern_rm_ctx *ctx);
/* Send a pulse to the client of rcvid's connection (any rcvid of it,
 * answered or not) [MsgDeliverEvent]. Thread-safe: from another thread
 * it is posted to the loop. TERN_ENOENT if that connection is gone (from
 * the loop thread; a posted pulse to a gone client is dropped),
 * TERN_EINVAL for a code outside 0..127. A client not reading its pulses
 * whose socket is full is dropped, as for replies. */
TERN_API int tern_rm_pulse_send(tern_rm_dispatch *d, tern_rm_rcvid rcvid,
                                int code, int64_t value);

/* Fault injection (tern/fi.h) for these paths: "rm/notify_arm" (an arm
 * fails TERN_ENOMEM, the client's notify gets it) and "rm/pulse_send" (a
 * pulse to a client fails as if its socket were full: the connection is
 * dropped). fi stays the caller's; NULL turns it off. Any thread. */
TERN_API int tern_rm_dispatch_set_fi(tern_rm_dispatch *d, tern_fi *fi);

#ifdef __cplusplus
}
#endif
#endif /* TERN_RM_NOTIFY_H */
