/* rm/rm_default.c: the default handlers (QNX iofunc_*_default), run when a
 * handler table has no entry or a handler returns TERN_RM_DEFAULT. Each
 * names the QNX function whose behaviour it recreates.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "rm/rm_internal.h"

/* iofunc_check_access: owner, then group, then other bits. */
int tern_rm_check_access(const tern_rm_cred *cred, const tern_rm_attr *attr,
                         uint32_t oflag) {
  unsigned need = 0, have;
  if ((oflag & O_ACCMODE) == O_RDONLY || (oflag & O_ACCMODE) == O_RDWR) need |= 4;
  if ((oflag & O_ACCMODE) == O_WRONLY || (oflag & O_ACCMODE) == O_RDWR) need |= 2;
  if ((oflag & O_ACCMODE) == O_ACCMODE) return TERN_EINVAL;
  if (cred->uid == 0) return TERN_OK;
  if (cred->uid == attr->uid)
    have = (attr->mode >> 6) & 7;
  else if (cred->gid == attr->gid)
    have = (attr->mode >> 3) & 7;
  else
    have = attr->mode & 7;
  return (have & need) == need ? TERN_OK : TERN_EACCES;
}

/* iofunc_open_default = iofunc_open (access) + iofunc_ocb_attach. */
int tern_rm_open_default(tern_rm_ctx *ctx, const tern_rm_open_msg *msg,
                         tern_rm_attr *attr, void *reserved) {
  (void)reserved;
  if (ctx->c->ocb != NULL) return TERN_EALREADY;
  int rc = tern_rm_check_access(&ctx->c->cred, attr, msg->oflag);
  if (rc != TERN_OK) return rc;
  return tern__rm_ocb_new(ctx->c, msg->path, msg->oflag, attr, &ctx->c->ocb);
}

/* iofunc_read_verify; no data: end of file. */
int tern_rm_read_default(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                         tern_rm_ocb *ocb) {
  (void)ctx, (void)msg;
  if ((ocb->oflag & O_ACCMODE) == O_WRONLY) return TERN_EBADF;
  return TERN_OK;
}

/* iofunc_write_verify, then ENOSYS. */
int tern_rm_write_default(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
                          tern_rm_ocb *ocb) {
  (void)ctx, (void)msg;
  if ((ocb->oflag & O_ACCMODE) == O_RDONLY) return TERN_EBADF;
  return TERN_ENOTSUP;
}

/* iofunc_devctl_default: DCMD_ALL_GETFLAGS / DCMD_ALL_SETFLAGS. */
int tern_rm_devctl_default(tern_rm_ctx *ctx, tern_rm_devctl_msg *msg,
                           tern_rm_ocb *ocb) {
  const uint32_t settable = O_APPEND | O_NONBLOCK;
  int32_t v;
  switch (msg->dcmd) {
  case TERN_DCMD_ALL_GETFLAGS:
    v = (int32_t)ocb->oflag;
    memcpy(msg->data, &v, sizeof(v));
    return tern_rm_reply_data(ctx, msg->data, sizeof(v));
  case TERN_DCMD_ALL_SETFLAGS:
    if (msg->nbytes < sizeof(v)) return TERN_EINVAL;
    memcpy(&v, msg->data, sizeof(v));
    ocb->oflag = (ocb->oflag & ~settable) | ((uint32_t)v & settable);
    return TERN_OK;
  default:
    return TERN_RM_DEFAULT;
  }
}

/* iofunc_stat_default (iofunc_stat from the attribute). */
int tern_rm_stat_default(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  const tern_rm_attr *a = ocb->attr;
  tern_rm_stat st = {a->inode, a->nbytes, a->mode, a->uid, a->gid,
                     a->nlink, a->mtime, a->atime, a->ctime};
  uint8_t *out = ctx->scratch; /* lives until the reply is sent */
  tern__rm_stat_encode(out, &st);
  return tern_rm_reply_data(ctx, out, TERN__RM_STAT_LEN);
}

/* iofunc_lseek_default: the OCB's offset. */
int tern_rm_lseek_default(tern_rm_ctx *ctx, const tern_rm_lseek_msg *msg,
                          tern_rm_ocb *ocb) {
  int64_t base;
  switch (msg->whence) {
  case SEEK_SET: base = 0; break;
  case SEEK_CUR: base = ocb->offset; break;
  case SEEK_END: base = (int64_t)ocb->attr->nbytes; break;
  default: return TERN_EINVAL;
  }
  if ((msg->offset > 0 && base > INT64_MAX - msg->offset) ||
      base + msg->offset < 0)
    return TERN_EINVAL;
  ocb->offset = base + msg->offset;
  tern_rm_ctx_set_value(ctx, ocb->offset);
  return TERN_OK;
}

/* iofunc_unblock_default: the blocked client gets EINTR. */
int tern_rm_unblock_default(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  (void)ctx, (void)ocb;
  return TERN_ECANCELED;
}
