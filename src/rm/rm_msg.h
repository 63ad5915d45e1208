/* rm/rm_msg.h: the resource manager's wire format (private).
 *
 * QNX passes C structs (struct _io_read, _io_devctl ...) between processes
 * of one machine with MsgSend/MsgReceive/MsgReply. tern sends the same
 * messages over one AF_UNIX SOCK_SEQPACKET connection per open, so every
 * datagram is exactly one message. Each starts with a fixed 16-byte
 * little-endian header:
 *
 *   0  u8  version   TERN__RM_VERSION (1); others are refused
 *   1  u8  type      TERN__RM_T_* (the QNX _IO_* message it recreates)
 *   2  u16 flags     TERN__RM_F_REPLY on replies; other bits must be 0
 *   4  u32 rid       request id, chosen by the client; a reply carries it
 *   8  u32 len       body bytes after the header: exactly the rest
 *   12 u16 subtype   _IO_MSG subtype (0 for other kinds)
 *   14 u16 zero      must be 0
 *
 * Bodies (all little-endian; "data" is whatever follows, len says how much):
 *   OPEN    u32 oflag, u32 mode, u32 zero, u16 pathlen, u16 zero, path
 *           (_IO_CONNECT/_IO_CONNECT_OPEN; path is the remainder after
 *           the attached name, no NUL bytes)
 *   READ    u32 nbytes, u32 xtype(0)                       (_IO_READ)
 *   WRITE   u32 nbytes, u32 xtype(0), data[nbytes]         (_IO_WRITE)
 *   DEVCTL  u32 dcmd, u32 nbytes, data[nbytes]             (_IO_DEVCTL)
 *           nbytes <= the size in dcmd, and 0 unless dcmd says "to"
 *   STAT    empty                                          (_IO_STAT)
 *   LSEEK   i64 offset, u32 whence (0..2), u32 zero        (_IO_LSEEK)
 *   DUP     empty                                          (_IO_DUP)
 *   CLOSE   empty                              (_IO_CLOSE: close_dup)
 *   MSG     u16 mgrid, u16 zero, data                      (_IO_MSG)
 *   UNBLOCK empty; rid names the request to unblock
 *           (the kernel's unblock pulse, _PULSE_CODE_UNBLOCK)
 *   REPLY   i32 status (tern_err), u32 zero, i64 value, data
 *           (MsgReply/MsgError: value is the return value: bytes
 *           written, the new offset, devctl's ret_val; for NOTIFY the
 *           conditions ready now)
 *   NOTIFY  u32 action (0 POLL, 1 POLLARM, 2 TRANSITION), u32 conds,
 *           i32 code (0..127), u32 zero, i64 value,
 *           u32 threshold[3] (input, output, oob), u32 zero  (_IO_NOTIFY)
 *           conds is a non-empty subset of TERN_RM_NOTIFY_ALL; the
 *           threshold of a condition asked for is >= 1, of one not asked
 *           for 0; code/value are the pulse the client wants (sigevent)
 *   PULSE   i32 code (0..127), u32 conds, i64 value     (MsgSendPulse,
 *           MsgDeliverEvent). rid must be 0 and it is never a reply: no
 *           answer is sent. Both ways: client -> server for pulse_attach
 *           (conds 0), server -> client unsolicited (conds: the notify
 *           conditions that fired, a subset of TERN_RM_NOTIFY_ALL)
 *   PRIV    u16 type (0x200..0xffff), u16 zero, data
 *           (a private message of a range given to message_attach)
 *   MOUNT   u32 flags (TERN_RM_MOUNT_*), u16 speclen, u16 dirlen,
 *           u16 typelen, u16 zero, u32 datalen, then special[speclen],
 *           dir[dirlen], type[typelen], data[datalen]
 *           (_IO_CONNECT_MOUNT; strings without NUL bytes, dir not empty,
 *           typelen <= 63, at most one of REMOUNT and UNMOUNT)
 *   WRITE_FD u32 nbytes (> 0), u32 zero; the data is a sealed memfd of
 *           exactly nbytes passed with SCM_RIGHTS        (large _IO_WRITE)
 *   READ_FD  u32 nbytes (> 0), u32 zero                  (large _IO_READ)
 *           the reply carries its data inline or, when bigger than one
 *           message, as a sealed memfd (SCM_RIGHTS) of value bytes
 * Every request but PULSE has rid != 0 (the dispatcher drops a connection
 * that sends rid 0).
 *
 * Types 1..13 and 16..18 are known; 14 and 15 are kept for notify/pulse
 * growth and get TERN_EPROTO like any unknown type.
 */
#ifndef TERN_RM_MSG_H
#define TERN_RM_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "tern/rm.h"

#define TERN__RM_VERSION 1
#define TERN__RM_HDR_LEN 16
#define TERN__RM_F_REPLY 0x0001u
#define TERN__RM_REPLY_FIXED 16 /* status, zero, value */
#define TERN__RM_OPEN_FIXED 16
#define TERN__RM_PATH_MAX 1024 /* longest path carried in OPEN */

enum {
  TERN__RM_T_OPEN = 1,
  TERN__RM_T_READ = 2,
  TERN__RM_T_WRITE = 3,
  TERN__RM_T_DEVCTL = 4,
  TERN__RM_T_STAT = 5,
  TERN__RM_T_LSEEK = 6,
  TERN__RM_T_DUP = 7,
  TERN__RM_T_CLOSE = 8,
  TERN__RM_T_MSG = 9,
  TERN__RM_T_UNBLOCK = 10,
  TERN__RM_T_NOTIFY = 11,
  TERN__RM_T_PULSE = 12,
  TERN__RM_T_PRIV = 13,
  TERN__RM_T_MAX = 13,
  /* 16.. (14 and 15 are kept for notify/pulse growth) */
  TERN__RM_T_MOUNT = 16,
  TERN__RM_T_WRITE_FD = 17,
  TERN__RM_T_READ_FD = 18,
  TERN__RM_T_EXT_MIN = 16,
  TERN__RM_T_EXT_MAX = 18
};
#define TERN__RM_MOUNT_FIXED 16
#define TERN__RM_MOUNT_TYPE_MAX 63

#define TERN__RM_NOTIFY_LEN 40 /* NOTIFY body */
#define TERN__RM_PULSE_LEN 16  /* PULSE body */

typedef struct tern__rm_hdr {
  uint8_t type;
  uint16_t flags;
  uint32_t rid;
  uint32_t len;
  uint16_t subtype;
} tern__rm_hdr;

/* A decoded message: views into the caller's bytes, never copies. */
typedef struct tern__rm_msg {
  tern__rm_hdr h;
  uint32_t oflag, mode;   /* OPEN */
  uint32_t nbytes;        /* READ, WRITE, DEVCTL */
  uint32_t dcmd;          /* DEVCTL */
  int64_t offset;         /* LSEEK; REPLY, NOTIFY, PULSE value */
  uint32_t whence;        /* LSEEK */
  uint16_t mgrid;         /* MSG; PRIV: the private type */
  int32_t status;         /* REPLY; PULSE, NOTIFY: code */
  uint32_t action, conds; /* NOTIFY; PULSE: conds */
  uint32_t thresh[3];     /* NOTIFY */
  const uint8_t *data;    /* OPEN path, WRITE/DEVCTL/MSG/REPLY/PRIV data;
                             MOUNT: special, dir, type, data in a row */
  size_t data_len;
  uint16_t speclen, dirlen, typelen; /* MOUNT (flags in oflag) */
} tern__rm_msg;

/* Header only: TERN_OK when n >= 16 and version, flags, zero and len
 * (== n - 16) are right; TERN_EPROTO otherwise. h is filled whenever
 * n >= 16, even on error, so a server can answer the rid. */
int tern__rm_hdr_decode(const uint8_t *p, size_t n, tern__rm_hdr *h);
/* Whole message, strict: every length is checked against the kind's
 * layout, reserved fields must be 0. TERN_OK or TERN_EPROTO (with m->h
 * filled as above). */
int tern__rm_msg_decode(const uint8_t *p, size_t n, tern__rm_msg *m);

/* Writers: the fixed part of a message into out (room for
 * TERN__RM_HDR_LEN + 16 bytes); returns the bytes written. data_len is
 * the variable part the caller sends after it (gathered with an iovec). */
size_t tern__rm_hdr_encode(uint8_t *out, uint8_t type, uint16_t flags,
                           uint32_t rid, uint32_t len, uint16_t subtype);
size_t tern__rm_enc_open(uint8_t *out, uint32_t rid, uint32_t oflag,
                         uint32_t mode, uint16_t pathlen);
size_t tern__rm_enc_io(uint8_t *out, uint8_t type, uint32_t rid, uint32_t a,
                       uint32_t b, size_t data_len);
size_t tern__rm_enc_lseek(uint8_t *out, uint32_t rid, int64_t off,
                          uint32_t whence);
size_t tern__rm_enc_msg(uint8_t *out, uint32_t rid, uint16_t subtype,
                        uint16_t mgrid, size_t data_len);
size_t tern__rm_enc_mount(uint8_t *out, uint32_t rid, uint32_t flags,
                          uint16_t speclen, uint16_t dirlen, uint16_t typelen,
                          uint32_t datalen);
size_t tern__rm_enc_empty(uint8_t *out, uint8_t type, uint32_t rid);
size_t tern__rm_enc_reply(uint8_t *out, uint8_t type, uint32_t rid,
                          int32_t status, int64_t value, size_t data_len);

/* NOTIFY, PULSE, PRIV. */
size_t tern__rm_enc_notify(uint8_t *out, uint32_t rid, uint32_t action,
                           uint32_t conds, int32_t code, int64_t value,
                           const uint32_t thresh[3]);
size_t tern__rm_enc_pulse(uint8_t *out, int32_t code, uint32_t conds,
                          int64_t value);
size_t tern__rm_enc_priv(uint8_t *out, uint32_t rid, uint16_t type,
                         size_t data_len);

/* The fixed part of a reply (16 bytes after the header): TERN_OK or
 * TERN_EPROTO (non-zero reserved field, positive status). */
int tern__rm_reply_decode(const uint8_t *fixed, int32_t *status,
                          int64_t *value);

/* tern_rm_stat on the wire: 56 bytes. */
#define TERN__RM_STAT_LEN 56
void tern__rm_stat_encode(uint8_t *out, const tern_rm_stat *st);
void tern__rm_stat_decode(const uint8_t *in, tern_rm_stat *st);

#endif /* TERN_RM_MSG_H */
