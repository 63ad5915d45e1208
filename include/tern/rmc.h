/* tern/rmc.h: the resource manager, client side: open a name a server
 * attached (tern/rm.h) and send it messages, like QNX's open/read/write/
 * devctl/lseek/fstat/dup/close/MsgSend(_IO_MSG) on a resource manager.
 *
 * A handle is one open: one SEQPACKET connection to the server that owns
 * the longest attached prefix of the path. Every call is blocking with
 * the handle's timeout and returns 0 (or a count) or a negative TERN_E*:
 * the server's error (TERN_EACCES, TERN_EBADF, TERN_ENOTSUP ...) or the
 * transport's (TERN_ENOENT: no server has the name; TERN_ECONNRESET: the
 * server went away; TERN_ETIMEDOUT; TERN_EMSGSIZE: the message would pass
 * max_msg). On a timeout the client sends an unblock request for the call
 * (the server's unblock handler sees it) and waits a short grace for the
 * answer; the call then returns TERN_ETIMEDOUT unless the server answered
 * for real meanwhile.
 *
 * A handle is used by one thread at a time (one request in flight per
 * connection), except tern_rmc_unblock, which any thread may call.
 *
 * Notify and pulses (QNX ionotify, MsgSendPulse, MsgReceive of a pulse):
 * the server may send pulses on a handle's connection at any time
 * (notify events, tern_rm_pulse_send). A call waiting for its reply
 * queues those it meets (up to 32; more are dropped) and goes on waiting,
 * so a pulse is never taken for a reply. To wait for pulses with
 * poll/epoll or a tern loop on tern_rmc_fd(): first drain
 * tern_rmc_pulse_recv(h, &p, 0) (a queued pulse leaves the descriptor
 * unreadable), then wait for POLLIN and call it again.
 */
#ifndef TERN_RMC_H
#define TERN_RMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/config.h"
#include "tern/rm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_rmc tern_rmc;

typedef struct tern_rmc_opts {
  const char *registry; /* NULL: as tern_rm_opts.registry */
  int timeout_ms;       /* per call; 0: 5000; TERN_WAIT_FOREVER (-1): none */
  int unblock_grace_ms; /* wait for the unblock's answer; 0: 500 */
  size_t max_msg;       /* 0: TERN_RM_MAX_MSG_DEFAULT; match the server's */
  /* A read or write that does not fit one message goes through a sealed
   * memfd (SCM_RIGHTS) up to this size (0: TERN_RM_MAX_MEMFD_DEFAULT;
   * the server has its own bound). */
  size_t max_memfd;
} tern_rmc_opts;

/* Open path (absolute) with oflag (O_RDONLY, O_WRONLY, O_RDWR, ...).
 * opts may be NULL. TERN_ENOENT if no live server covers path; the
 * server's open handler's error otherwise (TERN_EACCES ...).
 * Example: tern_rmc_open(&h, "/dev/sample", O_RDWR, NULL). */
TERN_API int tern_rmc_open(tern_rmc **out, const char *path, int oflag,
                           const tern_rmc_opts *opts);
/* Close this handle (QNX close: the server's close_dup runs, and
 * close_ocb after the last handle of the OCB). The handle is freed
 * whatever the result. */
TERN_API int tern_rmc_close(tern_rmc *h);
/* Another handle on the same OCB (QNX dup: shared offset and flags). Both
 * must be closed. */
TERN_API int tern_rmc_dup(tern_rmc *h, tern_rmc **out);

/* Up to len bytes; returns the count (0: end of data). len is cut to
 * max_memfd; above one message's room the answer may come in a memfd. */
TERN_API int tern_rmc_read(tern_rmc *h, void *buf, size_t len);
/* Returns the count the server took. A len that does not fit one message
 * (max_msg less 24 bytes of headers) is sent in a sealed memfd;
 * TERN_EMSGSIZE past max_memfd (or the server's bound). */
TERN_API int tern_rmc_write(tern_rmc *h, const void *buf, size_t len);
/* devctl (QNX devctl): data goes to the server if dcmd says "to" (at most
 * its declared size, and at most nbytes), and the answer comes back into
 * data if it says "from" (at most both again). ret_val (may be NULL)
 * gets the server's return value. */
TERN_API int tern_rmc_devctl(tern_rmc *h, uint32_t dcmd, void *data,
                             size_t nbytes, int *ret_val);
TERN_API int tern_rmc_stat(tern_rmc *h, tern_rm_stat *st);
/* whence: SEEK_SET/CUR/END; *pos (may be NULL) gets the new offset. */
TERN_API int tern_rmc_lseek(tern_rmc *h, int64_t offset, int whence,
                            int64_t *pos);
/* _IO_MSG: a message outside the I/O kinds, to the OCB's handler. The
 * answer (up to out_cap bytes) goes to out; *out_len (may be NULL) gets
 * its size. */
TERN_API int tern_rmc_msg(tern_rmc *h, uint16_t mgrid, uint16_t subtype,
                          const void *in, size_t in_len, void *out,
                          size_t out_cap, size_t *out_len);

/* ionotify: action TERN_RM_NOTIFY_POLL / POLLARM / TRANSITION, conds a
 * non-empty set of TERN_RM_NOTIFY_INPUT/OUTPUT/OOB. thresholds (may be
 * NULL: 1 each) per condition index: the count the server's trigger must
 * reach. When armed, the server sends pulse (code 0..127, value) with
 * conds = the condition that fired, once; re-arm after it. Returns the
 * conditions asked for that are ready now (>= 0; POLLARM armed iff 0,
 * TRANSITION always answers 0), or an error. */
TERN_API int tern_rmc_notify(tern_rmc *h, int action, uint32_t conds,
                             const uint32_t *thresholds, int code,
                             int64_t value);
/* The next pulse: a queued one, else wait up to timeout_ms (0: do not
 * wait; TERN_WAIT_FOREVER). Late replies met meanwhile are dropped.
 * TERN_ETIMEDOUT if none came, TERN_ECONNRESET if the server is gone. */
TERN_API int tern_rmc_pulse_recv(tern_rmc *h, tern_rm_pulse *out,
                                 int timeout_ms);
/* Pulses queued (received while a call waited). */
TERN_API size_t tern_rmc_pulse_pending(const tern_rmc *h);
/* Send a pulse (code 0..127) to the server: nothing is answered; the
 * handler attached to code runs, if any. [MsgSendPulse] */
TERN_API int tern_rmc_pulse(tern_rmc *h, int code, int64_t value);
/* A private message (type in a range the server gave to message_attach,
 * TERN_RM_PRIV_MIN..MAX). The answer (up to out_cap bytes) goes to out;
 * *out_len (may be NULL) gets its size; TERN_ENOTSUP if no range holds
 * type. [MsgSend of a private message] */
TERN_API int tern_rmc_msgsend_private(tern_rmc *h, unsigned type,
                                      const void *in, size_t in_len, void *out,
                                      size_t out_cap, size_t *out_len);

/* Ask the server to give up the call another thread is waiting in on
 * this handle (or a dup of it), as a signal interrupting a blocked QNX
 * client makes the kernel send the server an unblock pulse: the server's
 * unblock handler runs and the call returns its answer, TERN_ECANCELED by
 * default (or the real answer, if that was already on its way). Returns
 * TERN_ENOENT when no call is in flight; an unblock that arrives after
 * the call's reply is ignored by the server. Thread-safe; it does not
 * wait. Used by the FUSE bridge for the kernel's INTERRUPT. */
TERN_API int tern_rmc_unblock(tern_rmc *h);

/* mount (QNX mount()): sent to the server of type when type is given
 * (TERN_ENOTSUP if none is attached: unknown mount type); else to the
 * server of dir for TERN_RM_MOUNT_UNMOUNT (QNX umount) and to the server
 * of special otherwise (TERN_ENOENT if none). special may be NULL or ""
 * with a type. The result is the mount handler's. data (datalen bytes,
 * may be NULL) are the options. opts as for tern_rmc_open. */
TERN_API int tern_rmc_mount(const char *special, const char *dir,
                            uint32_t flags, const char *type,
                            const void *data, size_t datalen,
                            const tern_rmc_opts *opts);

TERN_API void tern_rmc_set_timeout(tern_rmc *h, int timeout_ms);
/* The connection's descriptor (for poll; do not read or close it). */
TERN_API int tern_rmc_fd(const tern_rmc *h);

/* Every registry entry: fn(path, is_dir, live, ud) per attach (live:
 * something accepts connections there). registry as in tern_rmc_opts.
 * TERN_ENOENT if the registry directory does not exist. */
typedef void (*tern_rmc_list_fn)(const char *path, bool is_dir, bool live,
                                 void *ud);
TERN_API int tern_rmc_list(const char *registry, tern_rmc_list_fn fn,
                           void *ud);

#ifdef __cplusplus
}
#endif
#endif /* TERN_RMC_H */
