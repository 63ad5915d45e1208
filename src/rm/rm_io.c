/* rm/rm_io.c: one decoded message to its handler and back (QNX's
 * resmgr_handler: the _IO_* switch, the OCB lookup, the fall-through to
 * iofunc_*_default and the reply that follows a handler's return value).
 *
 * Every request is entered in its connection's pending list before its
 * handler runs and leaves it when answered; so a handler that answered
 * already (tern_rm_reply from inside) is not answered twice, a NOREPLY
 * request stays until tern_rm_reply or an unblock, and a reply for a
 * request no longer pending is refused.
 */
#include <string.h>

#include "rm/rm_internal.h"

#define HAVE(c, fn) ((c)->a->iof && (c)->a->iof->fn)

/* Send what the handler's result says, unless it is answered already. */
static void finish(tern_rm_ctx *ctx, int r) {
  tern__rm_pend p;
  if (r == TERN_RM_NOREPLY) return;
  if (!tern__rm_pending_take(ctx->c, ctx->rid, &p)) return;
  if (r == TERN_RM_PARTS)
    r = TERN_OK;
  else
    ctx->nparts = 0;
  if (r == TERN_RM_DEFAULT) r = TERN_ENOTSUP; /* no default does it: ENOSYS */
  if (r > 0) r = TERN_EINVAL;                 /* not a result at all */
  tern__rm_send_reply(ctx->c, p.type, p.rid, r, ctx->value, ctx->parts,
                      ctx->nparts, p.cap);
}

/* _IO_CONNECT (_IO_CONNECT_OPEN). */
static int do_open(tern_rm_ctx *ctx, const tern__rm_msg *m) {
  tern__rm_conn *c = ctx->c;
  char path[TERN__RM_PATH_MAX + 1];
  if (c->ocb) return TERN_EALREADY;
  if (c->a->mount_type) return TERN_ENOTSUP; /* a mount type is no file */
  memcpy(path, m->data, m->data_len);
  path[m->data_len] = '\0';
  tern_rm_open_msg om = {path, m->oflag, m->mode};
  const tern_rm_connect_funcs *cf = c->a->cf;
  int r = (cf && cf->open) ? cf->open(ctx, &om, c->a->attr, NULL)
                           : TERN_RM_DEFAULT;
  if (r == TERN_RM_DEFAULT) r = tern_rm_open_default(ctx, &om, c->a->attr, NULL);
  if ((r == TERN_OK || r == TERN_RM_PARTS) && c->ocb == NULL) {
    int rc = tern__rm_ocb_new(c, path, m->oflag, NULL, &c->ocb); /* handler's say */
    if (rc != TERN_OK) r = rc;
  } else if (r < 0 && c->ocb) { /* made, then refused */
    tern_rm_ocb *o = c->ocb;
    c->ocb = NULL;
    tern__rm_ocb_release(ctx, o);
  }
  return r;
}

static int do_read(tern_rm_ctx *ctx, const tern__rm_msg *m, tern_rm_ocb *o) {
  tern_rm_read_msg rm = {m->nbytes};
  int r = HAVE(ctx->c, read) ? ctx->c->a->iof->read(ctx, &rm, o) : TERN_RM_DEFAULT;
  return r == TERN_RM_DEFAULT ? tern_rm_read_default(ctx, &rm, o) : r;
}

static int do_write(tern_rm_ctx *ctx, const tern__rm_msg *m, tern_rm_ocb *o) {
  tern_rm_write_msg wm = {m->data, m->data_len};
  int r = HAVE(ctx->c, write) ? ctx->c->a->iof->write(ctx, &wm, o)
                              : TERN_RM_DEFAULT;
  return r == TERN_RM_DEFAULT ? tern_rm_write_default(ctx, &wm, o) : r;
}

static int do_devctl(tern_rm_ctx *ctx, const tern__rm_msg *m, tern_rm_ocb *o) {
  size_t cap = TERN_DCMD_GET_SIZE(m->dcmd);
  uint8_t *data = (uint8_t *)(uintptr_t)m->data; /* in the receive buffer */
  memset(data + m->data_len, 0, cap - m->data_len);
  tern_rm_devctl_msg dm = {m->dcmd, data, m->data_len, cap};
  int r = HAVE(ctx->c, devctl) ? ctx->c->a->iof->devctl(ctx, &dm, o)
                               : TERN_RM_DEFAULT;
  return r == TERN_RM_DEFAULT ? tern_rm_devctl_default(ctx, &dm, o) : r;
}

static int do_lseek(tern_rm_ctx *ctx, const tern__rm_msg *m, tern_rm_ocb *o) {
  tern_rm_lseek_msg lm = {m->offset, (int)m->whence};
  int r = HAVE(ctx->c, lseek) ? ctx->c->a->iof->lseek(ctx, &lm, o)
                              : TERN_RM_DEFAULT;
  return r == TERN_RM_DEFAULT ? tern_rm_lseek_default(ctx, &lm, o) : r;
}

/* _IO_DUP: one more handle on the OCB. */
static int do_dup(tern_rm_ctx *ctx, tern_rm_ocb *o) {
  o->refs++;
  int r = HAVE(ctx->c, dup) ? ctx->c->a->iof->dup(ctx, o) : TERN_RM_DEFAULT;
  if (r == TERN_RM_DEFAULT) r = TERN_OK;
  if (r < 0) o->refs--;
  return r;
}

/* _IO_CLOSE: close_dup, and close_ocb after the last one (before the
 * reply, so a client's close returns after the OCB is gone). */
static int do_close(tern_rm_ctx *ctx, tern_rm_ocb *o) {
  tern__rm_conn *c = ctx->c;
  int r = HAVE(c, close_dup) ? c->a->iof->close_dup(ctx, o) : TERN_OK;
  if (r == TERN_RM_DEFAULT || r == TERN_RM_NOREPLY || r == TERN_RM_PARTS)
    r = TERN_OK;
  if (--o->refs == 0) {
    c->ocb = NULL;
    tern__rm_ocb_release(ctx, o);
  }
  return r;
}

static int do_msg(tern_rm_ctx *ctx, const tern__rm_msg *m, tern_rm_ocb *o) {
  tern_rm_msg_msg mm = {m->mgrid, m->h.subtype, m->data, m->data_len};
  return HAVE(ctx->c, msg) ? ctx->c->a->iof->msg(ctx, &mm, o) : TERN_RM_DEFAULT;
}

static int run(tern_rm_ctx *ctx, const tern__rm_msg *m) {
  tern_rm_ocb *o = ctx->c->ocb;
  if (m->h.type == TERN__RM_T_OPEN) return do_open(ctx, m);
  if (m->h.type == TERN__RM_T_PRIV) return tern__rm_do_priv(ctx, m);
  if (m->h.type == TERN__RM_T_MOUNT) return tern__rm_do_mount(ctx, m);
  if (o == NULL) return TERN_EBADF; /* not open, or closed */
  switch (m->h.type) {
  case TERN__RM_T_READ:
  case TERN__RM_T_READ_FD: return do_read(ctx, m, o);
  case TERN__RM_T_WRITE:
  case TERN__RM_T_WRITE_FD: return do_write(ctx, m, o); /* data: the memfd */
  case TERN__RM_T_DEVCTL: return do_devctl(ctx, m, o);
  case TERN__RM_T_STAT: {
    int r = HAVE(ctx->c, stat) ? ctx->c->a->iof->stat(ctx, o) : TERN_RM_DEFAULT;
    return r == TERN_RM_DEFAULT ? tern_rm_stat_default(ctx, o) : r;
  }
  case TERN__RM_T_LSEEK: return do_lseek(ctx, m, o);
  case TERN__RM_T_DUP: return do_dup(ctx, o);
  case TERN__RM_T_CLOSE: return do_close(ctx, o);
  case TERN__RM_T_MSG: return do_msg(ctx, m, o);
  case TERN__RM_T_NOTIFY: return tern__rm_do_notify(ctx, m, o);
  default: return TERN_ENOTSUP;
  }
}

/* The client of a pending request gave up (QNX _PULSE_CODE_UNBLOCK). */
static void do_unblock(tern__rm_conn *c, uint32_t rid) {
  tern_rm_ctx ctx;
  if (!tern__rm_pending_has(c, rid))
    return; /* answered already: the reply is on its way */
  tern__rm_ctx_init(&ctx, c, rid, TERN__RM_T_UNBLOCK);
  int r = HAVE(c, unblock) ? c->a->iof->unblock(&ctx, c->ocb) : TERN_RM_DEFAULT;
  if (r == TERN_RM_DEFAULT) r = tern_rm_unblock_default(&ctx, c->ocb);
  finish(&ctx, r);
}

static size_t reply_cap(const tern__rm_msg *m, size_t dflt) {
  switch (m->h.type) {
  case TERN__RM_T_READ:
  case TERN__RM_T_READ_FD: return m->nbytes;
  case TERN__RM_T_DEVCTL:
    return (TERN_DCMD_GET_DIR(m->dcmd) & TERN_DCMD_DIR_FROM)
               ? TERN_DCMD_GET_SIZE(m->dcmd) : 0;
  case TERN__RM_T_STAT: return TERN__RM_STAT_LEN;
  default: return dflt;
  }
}

void tern__rm_handle(tern__rm_conn *c, tern__rm_msg *m) {
  tern_rm_ctx ctx;
  c->busy = true;
  if (m->h.type == TERN__RM_T_UNBLOCK) {
    do_unblock(c, m->h.rid);
  } else if (m->h.type == TERN__RM_T_PULSE) {
    tern__rm_do_pulse(c, m);
  } else {
    tern__rm_ctx_init(&ctx, c, m->h.rid, m->h.type);
    int rc = tern__rm_pending_add(c, m->h.rid, m->h.type,
                                  reply_cap(m, ctx.reply_cap));
    if (rc != TERN_OK)
      tern__rm_send_reply(c, m->h.type, m->h.rid, rc, 0, NULL, 0, 0);
    else
      finish(&ctx, run(&ctx, m));
  }
  c->busy = false;
}

void tern__rm_conn_drop_ocb(tern__rm_conn *c) {
  tern_rm_ocb *o = c->ocb;
  tern_rm_ctx ctx;
  pthread_mutex_lock(&c->d->lock);
  c->npending = 0; /* their replies can no longer be sent */
  pthread_mutex_unlock(&c->d->lock);
  if (o == NULL) return;
  tern__rm_ctx_init(&ctx, c, 0, TERN__RM_T_CLOSE);
  for (; o->refs > 0; o->refs--)
    if (HAVE(c, close_dup)) c->a->iof->close_dup(&ctx, o);
  c->ocb = NULL;
  tern__rm_ocb_release(&ctx, o);
}
