/* rm/rm_msg.c: encode and strictly decode the resource manager's messages
 * (layout in rm_msg.h). The decoder is the only code that reads bytes a
 * peer sent; it checks every length against the kind's layout before
 * anything else looks at the message, and it is fuzzed (fuzz/rm_msg.c).
 */
#include <stdbool.h>
#include <string.h>

#include "rm/rm_msg.h"
#include "tern/base.h"

static uint16_t get16(const uint8_t *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}
static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

int tern__rm_hdr_decode(const uint8_t *p, size_t n, tern__rm_hdr *h) {
  memset(h, 0, sizeof(*h));
  if (n < TERN__RM_HDR_LEN) return TERN_EPROTO;
  h->type = p[1];
  h->flags = get16(p + 2);
  h->rid = get32(p + 4);
  h->len = get32(p + 8);
  h->subtype = get16(p + 12);
  if (p[0] != TERN__RM_VERSION || (h->flags & ~TERN__RM_F_REPLY) != 0 ||
      get16(p + 14) != 0 || h->len != n - TERN__RM_HDR_LEN)
    return TERN_EPROTO;
  if (h->type == 0 || (h->type > TERN__RM_T_MAX &&
                        (h->type < TERN__RM_T_EXT_MIN || h->type > TERN__RM_T_EXT_MAX)))
    return TERN_EPROTO;
  /* a pulse answers nothing and is answered by nothing */
  if (h->type == TERN__RM_T_PULSE &&
      (h->rid != 0 || (h->flags & TERN__RM_F_REPLY) != 0))
    return TERN_EPROTO;
  /* only an _IO_MSG request carries a subtype (replies never do) */
  if (h->subtype != 0 &&
      (h->type != TERN__RM_T_MSG || (h->flags & TERN__RM_F_REPLY) != 0))
    return TERN_EPROTO;
  return TERN_OK;
}

static int decode_open(const uint8_t *b, size_t n, tern__rm_msg *m) {
  if (n < TERN__RM_OPEN_FIXED) return TERN_EPROTO;
  m->oflag = get32(b);
  m->mode = get32(b + 4);
  uint16_t plen = get16(b + 12);
  if (get32(b + 8) != 0 || get16(b + 14) != 0) return TERN_EPROTO;
  if (plen > TERN__RM_PATH_MAX || n != TERN__RM_OPEN_FIXED + (size_t)plen)
    return TERN_EPROTO;
  m->data = b + TERN__RM_OPEN_FIXED;
  m->data_len = plen;
  if (plen > 0 && memchr(m->data, 0, plen) != NULL) return TERN_EPROTO;
  return TERN_OK;
}

/* READ, WRITE, DEVCTL: two u32 then data. */
static int decode_io(const uint8_t *b, size_t n, tern__rm_msg *m) {
  if (n < 8) return TERN_EPROTO;
  uint32_t a = get32(b), x = get32(b + 4);
  m->data = b + 8;
  m->data_len = n - 8;
  switch (m->h.type) {
  case TERN__RM_T_READ:
    m->nbytes = a;
    return (x == 0 && n == 8) ? TERN_OK : TERN_EPROTO;
  case TERN__RM_T_WRITE:
    m->nbytes = a;
    return (x == 0 && m->data_len == a) ? TERN_OK : TERN_EPROTO;
  default: /* DEVCTL */
    m->dcmd = a;
    m->nbytes = x;
    if (m->data_len != x || x > TERN_DCMD_GET_SIZE(a)) return TERN_EPROTO;
    if (x > 0 && !(TERN_DCMD_GET_DIR(a) & TERN_DCMD_DIR_TO)) return TERN_EPROTO;
    return TERN_OK;
  }
}

/* MOUNT: the fixed part, then four parts whose lengths must add up. */
static int decode_mount(const uint8_t *b, size_t n, tern__rm_msg *m) {
  const uint32_t known = TERN_RM_MOUNT_RDONLY | TERN_RM_MOUNT_NOEXEC |
                         TERN_RM_MOUNT_NOSUID | TERN_RM_MOUNT_NOCREAT |
                         TERN_RM_MOUNT_REMOUNT | TERN_RM_MOUNT_UNMOUNT |
                         TERN_RM_MOUNT_FORCE;
  if (n < TERN__RM_MOUNT_FIXED) return TERN_EPROTO;
  m->oflag = get32(b);
  m->speclen = get16(b + 4);
  m->dirlen = get16(b + 6);
  m->typelen = get16(b + 8);
  uint32_t datalen = get32(b + 12);
  if (get16(b + 10) != 0 || (m->oflag & ~known) != 0 ||
      ((m->oflag & TERN_RM_MOUNT_REMOUNT) && (m->oflag & TERN_RM_MOUNT_UNMOUNT)))
    return TERN_EPROTO;
  if (m->speclen > TERN__RM_PATH_MAX || m->dirlen == 0 ||
      m->dirlen > TERN__RM_PATH_MAX || m->typelen > TERN__RM_MOUNT_TYPE_MAX)
    return TERN_EPROTO;
  size_t strs = (size_t)m->speclen + m->dirlen + m->typelen;
  if (n - TERN__RM_MOUNT_FIXED != strs + datalen) return TERN_EPROTO;
  m->data = b + TERN__RM_MOUNT_FIXED;
  m->data_len = n - TERN__RM_MOUNT_FIXED;
  if (strs > 0 && memchr(m->data, 0, strs) != NULL) return TERN_EPROTO;
  return TERN_OK;
}

int tern__rm_reply_decode(const uint8_t *b, int32_t *status, int64_t *value) {
  *status = (int32_t)get32(b);
  *value = (int64_t)get64(b + 8);
  return (get32(b + 4) == 0 && *status <= 0) ? TERN_OK : TERN_EPROTO;
}

/* NOTIFY: action, conds, code, zero, value, thresholds, zero. */
static int decode_notify(const uint8_t *b, size_t n, tern__rm_msg *m) {
  if (n != TERN__RM_NOTIFY_LEN) return TERN_EPROTO;
  m->action = get32(b);
  m->conds = get32(b + 4);
  m->status = (int32_t)get32(b + 8);
  m->offset = (int64_t)get64(b + 16);
  if (get32(b + 12) != 0 || get32(b + 36) != 0) return TERN_EPROTO;
  if (m->action > TERN_RM_NOTIFY_TRANSITION || m->conds == 0 ||
      (m->conds & ~TERN_RM_NOTIFY_ALL) != 0 || m->status < 0 ||
      m->status > TERN_RM_PULSE_CODE_MAX)
    return TERN_EPROTO;
  for (int i = 0; i < TERN_RM_NOTIFY_NLISTS; i++) {
    m->thresh[i] = get32(b + 24 + 4 * i);
    bool asked = (m->conds >> i) & 1u;
    if (asked != (m->thresh[i] != 0)) return TERN_EPROTO;
  }
  return TERN_OK;
}

static int decode_pulse(const uint8_t *b, size_t n, tern__rm_msg *m) {
  if (n != TERN__RM_PULSE_LEN) return TERN_EPROTO;
  m->status = (int32_t)get32(b);
  m->conds = get32(b + 4);
  m->offset = (int64_t)get64(b + 8);
  if (m->status < 0 || m->status > TERN_RM_PULSE_CODE_MAX ||
      (m->conds & ~TERN_RM_NOTIFY_ALL) != 0)
    return TERN_EPROTO;
  return TERN_OK;
}

static int decode_body(const uint8_t *b, size_t n, tern__rm_msg *m) {
  if (m->h.flags & TERN__RM_F_REPLY) {
    if (n < TERN__RM_REPLY_FIXED) return TERN_EPROTO;
    m->data = b + TERN__RM_REPLY_FIXED;
    m->data_len = n - TERN__RM_REPLY_FIXED;
    return tern__rm_reply_decode(b, &m->status, &m->offset);
  }
  switch (m->h.type) {
  case TERN__RM_T_OPEN:
    return decode_open(b, n, m);
  case TERN__RM_T_READ:
  case TERN__RM_T_WRITE:
  case TERN__RM_T_DEVCTL:
    return decode_io(b, n, m);
  case TERN__RM_T_LSEEK:
    if (n != 16 || get32(b + 12) != 0) return TERN_EPROTO;
    m->offset = (int64_t)get64(b);
    m->whence = get32(b + 8);
    return m->whence <= 2 ? TERN_OK : TERN_EPROTO;
  case TERN__RM_T_MOUNT:
    return decode_mount(b, n, m);
  case TERN__RM_T_WRITE_FD:
  case TERN__RM_T_READ_FD: /* the data travel in a memfd (rm_memfd.c) */
    if (n != 8 || get32(b + 4) != 0) return TERN_EPROTO;
    m->nbytes = get32(b);
    return m->nbytes > 0 ? TERN_OK : TERN_EPROTO;
  case TERN__RM_T_MSG:
    if (n < 4 || get16(b + 2) != 0) return TERN_EPROTO;
    m->mgrid = get16(b);
    m->data = b + 4;
    m->data_len = n - 4;
    return TERN_OK;
  case TERN__RM_T_NOTIFY:
    return decode_notify(b, n, m);
  case TERN__RM_T_PULSE:
    return decode_pulse(b, n, m);
  case TERN__RM_T_PRIV:
    if (n < 4 || get16(b + 2) != 0 || get16(b) < TERN_RM_PRIV_MIN)
      return TERN_EPROTO;
    m->mgrid = get16(b);
    m->data = b + 4;
    m->data_len = n - 4;
    return TERN_OK;
  default: /* STAT, DUP, CLOSE, UNBLOCK: empty */
    return n == 0 ? TERN_OK : TERN_EPROTO;
  }
}

int tern__rm_msg_decode(const uint8_t *p, size_t n, tern__rm_msg *m) {
  memset(m, 0, sizeof(*m));
  int rc = tern__rm_hdr_decode(p, n, &m->h);
  if (rc != TERN_OK) return rc;
  return decode_body(p + TERN__RM_HDR_LEN, n - TERN__RM_HDR_LEN, m);
}

size_t tern__rm_hdr_encode(uint8_t *out, uint8_t type, uint16_t flags,
                           uint32_t rid, uint32_t len, uint16_t subtype) {
  out[0] = TERN__RM_VERSION;
  out[1] = type;
  put16(out + 2, flags);
  put32(out + 4, rid);
  put32(out + 8, len);
  put16(out + 12, subtype);
  put16(out + 14, 0);
  return TERN__RM_HDR_LEN;
}

size_t tern__rm_enc_open(uint8_t *out, uint32_t rid, uint32_t oflag,
                         uint32_t mode, uint16_t pathlen) {
  uint8_t *b = out + TERN__RM_HDR_LEN;
  tern__rm_hdr_encode(out, TERN__RM_T_OPEN, 0, rid,
                      (uint32_t)TERN__RM_OPEN_FIXED + pathlen, 0);
  put32(b, oflag);
  put32(b + 4, mode);
  put32(b + 8, 0);
  put16(b + 12, pathlen);
  put16(b + 14, 0);
  return TERN__RM_HDR_LEN + TERN__RM_OPEN_FIXED;
}

size_t tern__rm_enc_io(uint8_t *out, uint8_t type, uint32_t rid, uint32_t a,
                       uint32_t b, size_t data_len) {
  tern__rm_hdr_encode(out, type, 0, rid, (uint32_t)(8 + data_len), 0);
  put32(out + TERN__RM_HDR_LEN, a);
  put32(out + TERN__RM_HDR_LEN + 4, b);
  return TERN__RM_HDR_LEN + 8;
}

size_t tern__rm_enc_lseek(uint8_t *out, uint32_t rid, int64_t off,
                          uint32_t whence) {
  tern__rm_hdr_encode(out, TERN__RM_T_LSEEK, 0, rid, 16, 0);
  put64(out + TERN__RM_HDR_LEN, (uint64_t)off);
  put32(out + TERN__RM_HDR_LEN + 8, whence);
  put32(out + TERN__RM_HDR_LEN + 12, 0);
  return TERN__RM_HDR_LEN + 16;
}

size_t tern__rm_enc_msg(uint8_t *out, uint32_t rid, uint16_t subtype,
                        uint16_t mgrid, size_t data_len) {
  tern__rm_hdr_encode(out, TERN__RM_T_MSG, 0, rid, (uint32_t)(4 + data_len),
                      subtype);
  put16(out + TERN__RM_HDR_LEN, mgrid);
  put16(out + TERN__RM_HDR_LEN + 2, 0);
  return TERN__RM_HDR_LEN + 4;
}

size_t tern__rm_enc_notify(uint8_t *out, uint32_t rid, uint32_t action,
                           uint32_t conds, int32_t code, int64_t value,
                           const uint32_t thresh[3]) {
  uint8_t *b = out + TERN__RM_HDR_LEN;
  tern__rm_hdr_encode(out, TERN__RM_T_NOTIFY, 0, rid, TERN__RM_NOTIFY_LEN, 0);
  put32(b, action);
  put32(b + 4, conds);
  put32(b + 8, (uint32_t)code);
  put32(b + 12, 0);
  put64(b + 16, (uint64_t)value);
  for (int i = 0; i < 3; i++) put32(b + 24 + 4 * i, thresh[i]);
  put32(b + 36, 0);
  return TERN__RM_HDR_LEN + TERN__RM_NOTIFY_LEN;
}

size_t tern__rm_enc_pulse(uint8_t *out, int32_t code, uint32_t conds,
                          int64_t value) {
  uint8_t *b = out + TERN__RM_HDR_LEN;
  tern__rm_hdr_encode(out, TERN__RM_T_PULSE, 0, 0, TERN__RM_PULSE_LEN, 0);
  put32(b, (uint32_t)code);
  put32(b + 4, conds);
  put64(b + 8, (uint64_t)value);
  return TERN__RM_HDR_LEN + TERN__RM_PULSE_LEN;
}

size_t tern__rm_enc_priv(uint8_t *out, uint32_t rid, uint16_t type,
                         size_t data_len) {
  tern__rm_hdr_encode(out, TERN__RM_T_PRIV, 0, rid, (uint32_t)(4 + data_len), 0);
  put16(out + TERN__RM_HDR_LEN, type);
  put16(out + TERN__RM_HDR_LEN + 2, 0);
  return TERN__RM_HDR_LEN + 4;
}

size_t tern__rm_enc_mount(uint8_t *out, uint32_t rid, uint32_t flags,
                          uint16_t speclen, uint16_t dirlen, uint16_t typelen,
                          uint32_t datalen) {
  uint8_t *b = out + TERN__RM_HDR_LEN;
  size_t len = TERN__RM_MOUNT_FIXED + (size_t)speclen + dirlen + typelen + datalen;
  tern__rm_hdr_encode(out, TERN__RM_T_MOUNT, 0, rid, (uint32_t)len, 0);
  put32(b, flags);
  put16(b + 4, speclen);
  put16(b + 6, dirlen);
  put16(b + 8, typelen);
  put16(b + 10, 0);
  put32(b + 12, datalen);
  return TERN__RM_HDR_LEN + TERN__RM_MOUNT_FIXED;
}

size_t tern__rm_enc_empty(uint8_t *out, uint8_t type, uint32_t rid) {
  return tern__rm_hdr_encode(out, type, 0, rid, 0, 0);
}

size_t tern__rm_enc_reply(uint8_t *out, uint8_t type, uint32_t rid,
                          int32_t status, int64_t value, size_t data_len) {
  tern__rm_hdr_encode(out, type, TERN__RM_F_REPLY, rid,
                      (uint32_t)(TERN__RM_REPLY_FIXED + data_len), 0);
  put32(out + TERN__RM_HDR_LEN, (uint32_t)status);
  put32(out + TERN__RM_HDR_LEN + 4, 0);
  put64(out + TERN__RM_HDR_LEN + 8, (uint64_t)value);
  return TERN__RM_HDR_LEN + TERN__RM_REPLY_FIXED;
}

void tern__rm_stat_encode(uint8_t *out, const tern_rm_stat *st) {
  put64(out, st->ino);
  put64(out + 8, st->size);
  put32(out + 16, st->mode);
  put32(out + 20, st->uid);
  put32(out + 24, st->gid);
  put32(out + 28, st->nlink);
  put64(out + 32, (uint64_t)st->mtime);
  put64(out + 40, (uint64_t)st->atime);
  put64(out + 48, (uint64_t)st->ctime);
}

void tern__rm_stat_decode(const uint8_t *in, tern_rm_stat *st) {
  st->ino = get64(in);
  st->size = get64(in + 8);
  st->mode = get32(in + 16);
  st->uid = get32(in + 20);
  st->gid = get32(in + 24);
  st->nlink = get32(in + 28);
  st->mtime = (int64_t)get64(in + 32);
  st->atime = (int64_t)get64(in + 40);
  st->ctime = (int64_t)get64(in + 48);
}
