/* rm/rmc_notify.c: the client's notify, pulses and private messages (QNX
 * ionotify, MsgSendPulse, a pulse's MsgReceive, MsgSend of a private
 * message type).
 *
 * Requests go through rmc.c's call (so their replies are matched by rid
 * and pulses met on the way are queued there); tern_rmc_pulse_recv takes
 * the queue first and then reads the connection itself, dropping the late
 * replies of calls that gave up.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "rm/rm_internal.h"
#include "tern/port.h"
#include "tern/rmc.h"

int tern_rmc_notify(tern_rmc *h, int action, uint32_t conds,
                    const uint32_t *thresholds, int code, int64_t value) {
  uint32_t th[TERN_RM_NOTIFY_NLISTS] = {0};
  if (h == NULL || action < TERN_RM_NOTIFY_POLL ||
      action > TERN_RM_NOTIFY_TRANSITION || conds == 0 ||
      (conds & ~TERN_RM_NOTIFY_ALL) != 0 || code < 0 ||
      code > TERN_RM_PULSE_CODE_MAX)
    return TERN_EINVAL;
  for (int i = 0; i < TERN_RM_NOTIFY_NLISTS; i++) {
    if (!(conds & (1u << i))) continue;
    th[i] = thresholds ? thresholds[i] : 1;
    if (th[i] == 0) return TERN_EINVAL;
  }
  uint8_t head[TERN__RM_HDR_LEN + TERN__RM_NOTIFY_LEN];
  uint32_t rid = tern__rmc_rid(h);
  int64_t ready = 0;
  int rc = tern__rmc_call(h, rid, head,
                          tern__rm_enc_notify(head, rid, (uint32_t)action, conds,
                                              code, value, th),
                          NULL, 0, NULL, 0, &ready, NULL);
  if (rc != TERN_OK) return rc;
  if (ready < 0 || ((uint64_t)ready & ~(uint64_t)conds) != 0) return TERN_EPROTO;
  return (int)ready;
}

int tern_rmc_pulse_recv(tern_rmc *h, tern_rm_pulse *out, int timeout_ms) {
  uint8_t b[TERN__RM_HDR_LEN + TERN__RM_PULSE_LEN];
  if (h == NULL || out == NULL) return TERN_EINVAL;
  uint64_t end = timeout_ms < 0 ? 0 : tern_clock_ms() + (uint64_t)timeout_ms;
  for (;;) {
    if (tern__rmc_pulse_pop(h, out)) return TERN_OK;
    int wait = -1;
    if (end) {
      uint64_t now = tern_clock_ms();
      wait = now >= end ? 0 : (int)(end - now);
    }
    struct pollfd p = {tern_rmc_fd(h), POLLIN, 0};
    int r = poll(&p, 1, wait);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return tern_err_from_errno(errno);
    if (r == 0) return TERN_ETIMEDOUT;
    ssize_t n = recv(p.fd, b, sizeof(b), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) return tern_err_from_errno(errno);
    if (n == 0) return TERN_ECONNRESET;
    tern__rm_hdr hd;
    if ((size_t)n > sizeof(b)) n = (ssize_t)sizeof(b); /* a long late reply */
    tern__rm_msg m;
    if ((size_t)n == sizeof(b) && tern__rm_msg_decode(b, sizeof(b), &m) == TERN_OK &&
        m.h.type == TERN__RM_T_PULSE) {
      *out = (tern_rm_pulse){m.status, m.conds, m.offset};
      return TERN_OK;
    }
    tern__rm_hdr_decode(b, (size_t)n, &hd);
    if ((size_t)n < TERN__RM_HDR_LEN || !(hd.flags & TERN__RM_F_REPLY))
      return TERN_EPROTO; /* neither a pulse nor a late reply */
  }
}

size_t tern_rmc_pulse_pending(const tern_rmc *h) {
  return h ? tern__rmc_pulse_count(h) : 0;
}

int tern_rmc_pulse(tern_rmc *h, int code, int64_t value) {
  uint8_t b[TERN__RM_HDR_LEN + TERN__RM_PULSE_LEN];
  if (h == NULL || code < 0 || code > TERN_RM_PULSE_CODE_MAX) return TERN_EINVAL;
  return tern__rmc_send(h, b, tern__rm_enc_pulse(b, code, 0, value));
}

int tern_rmc_msgsend_private(tern_rmc *h, unsigned type, const void *in,
                             size_t in_len, void *out, size_t out_cap,
                             size_t *out_len) {
  if (h == NULL || type < TERN_RM_PRIV_MIN || type > TERN_RM_PRIV_MAX ||
      (in == NULL && in_len) || (out == NULL && out_cap))
    return TERN_EINVAL;
  uint8_t head[TERN__RM_HDR_LEN + 4];
  uint32_t rid = tern__rmc_rid(h);
  return tern__rmc_call(h, rid, head,
                        tern__rm_enc_priv(head, rid, (uint16_t)type, in_len), in,
                        in_len, out, out_cap, NULL, out_len);
}
