/* rm/rm_ocb.c: open control blocks and handler contexts (QNX iofunc_ocb_t,
 * iofunc_ocb_attach/detach, resmgr_context_t).
 *
 * An OCB is made by the open (tern_rm_open_default), counted once per
 * handle (the open plus each dup), and released after the last close_dup:
 * the attach's close_ocb handler runs exactly once, then the OCB's
 * counters leave the attribute and its memory is freed.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rm/rm_internal.h"

void tern_rm_attr_init(tern_rm_attr *attr, uint32_t mode, uint32_t uid,
                       uint32_t gid) {
  memset(attr, 0, sizeof(*attr));
  attr->mode = mode ? mode : (uint32_t)(S_IFCHR | 0666);
  attr->uid = uid;
  attr->gid = gid;
  attr->nlink = 1;
  attr->mtime = attr->atime = attr->ctime = (int64_t)time(NULL);
}

static bool acc_read(uint32_t oflag) {
  return (oflag & O_ACCMODE) == O_RDONLY || (oflag & O_ACCMODE) == O_RDWR;
}
static bool acc_write(uint32_t oflag) {
  return (oflag & O_ACCMODE) == O_WRONLY || (oflag & O_ACCMODE) == O_RDWR;
}

int tern__rm_ocb_new(tern__rm_conn *c, const char *path, uint32_t oflag,
                     tern_rm_attr *attr, tern_rm_ocb **out) {
  size_t n = strlen(path);
  tern_rm_ocb *o = calloc(1, sizeof(*o) + n + 1);
  if (o == NULL) return TERN_ENOMEM;
  memcpy(o->path, path, n + 1);
  o->a = c->a;
  o->attr = attr ? attr : c->a->attr;
  o->oflag = oflag;
  o->refs = 1;
  pthread_mutex_lock(&c->d->lock); /* pool threads open in parallel */
  o->attr->count++;
  if (acc_read(oflag)) o->attr->rcount++;
  if (acc_write(oflag)) o->attr->wcount++;
  pthread_mutex_unlock(&c->d->lock);
  *out = o;
  return TERN_OK;
}

void tern__rm_ocb_release(tern_rm_ctx *ctx, tern_rm_ocb *ocb) {
  const tern_rm_io_funcs *f = ocb->a->iof;
  if (f && f->close_ocb) f->close_ocb(ctx, ocb); /* QNX io_close_ocb */
  tern_rm_notify_remove(ctx, ocb->attr); /* QNX iofunc_notify_remove */
  pthread_mutex_lock(&ctx->d->lock);
  ocb->attr->count--;
  if (acc_read(ocb->oflag)) ocb->attr->rcount--;
  if (acc_write(ocb->oflag)) ocb->attr->wcount--;
  pthread_mutex_unlock(&ctx->d->lock);
  free(ocb);
}

void tern__rm_ctx_init(tern_rm_ctx *ctx, tern__rm_conn *c, uint32_t rid,
                       uint8_t type) {
  ctx->d = c->d;
  ctx->c = c;
  ctx->rid = rid;
  ctx->type = type;
  ctx->value = 0;
  ctx->reply_cap = c->d->max_msg - TERN__RM_REPLY_HDR;
  ctx->nparts = 0;
}

/* ---- accessors ----------------------------------------------------------- */

tern_rm_dispatch *tern_rm_ctx_dispatch(const tern_rm_ctx *ctx) { return ctx->d; }

tern_rm_rcvid tern_rm_ctx_rcvid(const tern_rm_ctx *ctx) {
  if (ctx->rid == 0) return 0;
  return (uint64_t)ctx->c->id << 32 | ctx->rid;
}

const tern_rm_cred *tern_rm_ctx_cred(const tern_rm_ctx *ctx) {
  return &ctx->c->cred;
}

tern_rm_ocb *tern_rm_ctx_ocb(const tern_rm_ctx *ctx) { return ctx->c->ocb; }

void tern_rm_ctx_set_value(tern_rm_ctx *ctx, int64_t value) {
  ctx->value = value;
}

int tern_rm_reply_parts(tern_rm_ctx *ctx, const struct iovec *iov,
                        int nparts) {
  if (nparts < 0 || nparts > TERN_RM_MAX_PARTS || (nparts > 0 && !iov))
    return TERN_EINVAL;
  for (int i = 0; i < nparts; i++) ctx->parts[i] = iov[i];
  ctx->nparts = nparts;
  return TERN_RM_PARTS;
}

int tern_rm_reply_data(tern_rm_ctx *ctx, const void *data, size_t len) {
  struct iovec v = {(void *)(uintptr_t)data, len};
  return tern_rm_reply_parts(ctx, &v, len ? 1 : 0);
}

tern_rm_attr *tern_rm_ocb_attr(const tern_rm_ocb *ocb) { return ocb->attr; }
uint32_t tern_rm_ocb_oflag(const tern_rm_ocb *ocb) { return ocb->oflag; }
int64_t tern_rm_ocb_offset(const tern_rm_ocb *ocb) { return ocb->offset; }
void tern_rm_ocb_set_offset(tern_rm_ocb *ocb, int64_t off) { ocb->offset = off; }
const char *tern_rm_ocb_path(const tern_rm_ocb *ocb) { return ocb->path; }
unsigned tern_rm_ocb_refs(const tern_rm_ocb *ocb) { return ocb->refs; }
void *tern_rm_ocb_data(const tern_rm_ocb *ocb) { return ocb->data; }
void tern_rm_ocb_set_data(tern_rm_ocb *ocb, void *data) { ocb->data = data; }
