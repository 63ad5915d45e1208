/* fuzz/rm_msg.c: libFuzzer target for the resource manager's message
 * decoder (src/rm/rm_msg.c), the code that reads every byte a peer sends.
 *
 * Checked beyond "no crash": a message that decodes has its data view
 * inside the input and the length the header says; re-encoding its fixed
 * part gives the input's bytes back (so the decoder accepts exactly one
 * spelling of each message); a failed decode is TERN_EPROTO. NOTIFY's
 * fields and thresholds agree, a PULSE has no rid and is never a reply,
 * a PRIV type is >= 0x200; MOUNT's strings hold no NUL and fit its body;
 * WRITE_FD/READ_FD carry no data.
 *
 *   make fuzz   (or tools/run-fuzz build/fuzz 60)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rm/rm_msg.h"
#include "tern/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) abort();                                                      \
  } while (0)

static size_t reencode(const tern__rm_msg *m, uint8_t *out) {
  const tern__rm_hdr *h = &m->h;
  if (h->flags & TERN__RM_F_REPLY)
    return tern__rm_enc_reply(out, h->type, h->rid, m->status, m->offset,
                              m->data_len);
  switch (h->type) {
  case TERN__RM_T_OPEN:
    return tern__rm_enc_open(out, h->rid, m->oflag, m->mode, (uint16_t)m->data_len);
  case TERN__RM_T_READ:
  case TERN__RM_T_WRITE:
    return tern__rm_enc_io(out, h->type, h->rid, m->nbytes, 0, m->data_len);
  case TERN__RM_T_DEVCTL:
    return tern__rm_enc_io(out, h->type, h->rid, m->dcmd, m->nbytes, m->data_len);
  case TERN__RM_T_LSEEK:
    return tern__rm_enc_lseek(out, h->rid, m->offset, m->whence);
  case TERN__RM_T_MSG:
    return tern__rm_enc_msg(out, h->rid, h->subtype, m->mgrid, m->data_len);
  case TERN__RM_T_NOTIFY:
    return tern__rm_enc_notify(out, h->rid, m->action, m->conds, m->status,
                               m->offset, m->thresh);
  case TERN__RM_T_PULSE:
    return tern__rm_enc_pulse(out, m->status, m->conds, m->offset);
  case TERN__RM_T_PRIV:
    return tern__rm_enc_priv(out, h->rid, m->mgrid, m->data_len);
  case TERN__RM_T_MOUNT:
    return tern__rm_enc_mount(out, h->rid, m->oflag, m->speclen, m->dirlen,
                              m->typelen,
                              (uint32_t)(m->data_len - m->speclen - m->dirlen -
                                         m->typelen));
  case TERN__RM_T_WRITE_FD:
  case TERN__RM_T_READ_FD:
    return tern__rm_enc_io(out, h->type, h->rid, m->nbytes, 0, 0);
  default:
    return tern__rm_enc_empty(out, h->type, h->rid);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tern__rm_msg m;
  int rc = tern__rm_msg_decode(data, size, &m);
  if (rc != TERN_OK) {
    CHECK(rc == TERN_EPROTO);
    return 0;
  }
  CHECK(size >= TERN__RM_HDR_LEN && m.h.len == size - TERN__RM_HDR_LEN);
  if (m.data_len) CHECK(m.data >= data && m.data + m.data_len <= data + size);
  uint8_t fixed[TERN__RM_HDR_LEN + TERN__RM_NOTIFY_LEN];
  size_t n = reencode(&m, fixed);
  CHECK(n + m.data_len == size);
  CHECK(memcmp(fixed, data, n) == 0);
  if (m.h.type == TERN__RM_T_DEVCTL && !(m.h.flags & TERN__RM_F_REPLY))
    CHECK(m.nbytes <= TERN_DCMD_GET_SIZE(m.dcmd));
  if (m.h.type == TERN__RM_T_NOTIFY && !(m.h.flags & TERN__RM_F_REPLY)) {
    CHECK(m.conds != 0 && (m.conds & ~TERN_RM_NOTIFY_ALL) == 0);
    CHECK(m.action <= TERN_RM_NOTIFY_TRANSITION);
    CHECK(m.status >= 0 && m.status <= TERN_RM_PULSE_CODE_MAX);
    for (int i = 0; i < TERN_RM_NOTIFY_NLISTS; i++)
      CHECK((((m.conds >> i) & 1u) != 0) == (m.thresh[i] != 0));
  }
  if (m.h.type == TERN__RM_T_PULSE) {
    CHECK(m.h.rid == 0 && !(m.h.flags & TERN__RM_F_REPLY));
    CHECK(m.status >= 0 && m.status <= TERN_RM_PULSE_CODE_MAX);
    CHECK((m.conds & ~TERN_RM_NOTIFY_ALL) == 0);
  }
  if (m.h.type == TERN__RM_T_PRIV && !(m.h.flags & TERN__RM_F_REPLY))
    CHECK(m.mgrid >= TERN_RM_PRIV_MIN);
  if (m.h.type == TERN__RM_T_MOUNT && !(m.h.flags & TERN__RM_F_REPLY)) {
    size_t strs = (size_t)m.speclen + m.dirlen + m.typelen;
    CHECK(m.dirlen > 0 && strs <= m.data_len);
    CHECK(memchr(m.data, 0, strs) == NULL);
  }
  if ((m.h.type == TERN__RM_T_WRITE_FD || m.h.type == TERN__RM_T_READ_FD) &&
      !(m.h.flags & TERN__RM_F_REPLY))
    CHECK(m.nbytes > 0 && m.data_len == 0);
  return 0;
}
