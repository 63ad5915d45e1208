/* rm/rm_mount.c: mount (QNX mount()/umount(), _IO_CONNECT_MOUNT and the
 * resource manager's io_mount connect handler).
 *
 * QNX's mount() sends a connect message with the special device, the
 * mount point, the flags, the type and the option data; a server that
 * attached for _FTYPE_MOUNT with a mount handler answers it, typically
 * by attaching a new path at the mount point (a filesystem server does
 * resmgr_attach(dir)). Here a server registers per type: the registry
 * holds one more socket per type, "m.<type>" (rm_registry.c ignores
 * those entries when resolving paths). The client connects to it, sends
 * MOUNT, reads the answer and closes: a mount is one request on its own
 * connection, with no OCB. Without a type the request goes to the server
 * of the special device, or for an unmount to the server of the mount
 * point (QNX umount resolves the mount point).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rm/rm_internal.h"
#include "tern/port.h"
#include "tern/rmc.h"

bool tern__rm_mount_type_valid(const char *type) {
  size_t n = type ? strlen(type) : 0;
  if (n == 0 || n > TERN__RM_MOUNT_TYPE_MAX || type[0] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)type[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
      return false;
  }
  return true;
}

int tern_rm_attach_mount(tern_rm_dispatch *d, const char *type,
                         const tern_rm_connect_funcs *cf, tern_rm_attr *attr,
                         tern_rm_attach_h **out) {
  if (d == NULL || attr == NULL || cf == NULL || cf->mount == NULL ||
      !tern__rm_mount_type_valid(type))
    return TERN_EINVAL;
  return tern__rm_attach_fd(d, type, 0, true, cf, NULL, attr, out);
}

typedef struct detach_later {
  tern_rm_dispatch *d;
  tern_rm_attach_h *a;
  uint64_t gen; /* a may be freed and its memory reused meanwhile */
} detach_later;

static void on_detach_later(tern_loop *loop, void *arg, int status) {
  detach_later *l = arg;
  tern_rm_dispatch *d = l->d;
  (void)loop;
  if (status == TERN_OK && !d->freeing)
    for (tern_rm_attach_h *a = d->attaches; a; a = a->next)
      if (a == l->a && a->gen == l->gen) {
        tern_rm_detach(d, a);
        break;
      }
  free(l);
  tern__rm_posted_end(d);
}

int tern_rm_detach_later(tern_rm_dispatch *d, tern_rm_attach_h *a) {
  if (d == NULL || a == NULL) return TERN_EINVAL;
  detach_later *l = malloc(sizeof(*l));
  if (l == NULL) return TERN_ENOMEM;
  *l = (detach_later){d, a, a->gen};
  tern__rm_posted_begin(d);
  int rc = tern_loop_on_thread(d->loop)
               ? tern_loop_defer(d->loop, on_detach_later, l)
               : tern_loop_call(d->loop, on_detach_later, l);
  if (rc != TERN_OK) {
    atomic_fetch_sub(&d->posted, 1);
    free(l);
  }
  return rc;
}

/* The server's side: MOUNT to the connect handler. */
int tern__rm_do_mount(tern_rm_ctx *ctx, const tern__rm_msg *m) {
  const tern_rm_connect_funcs *cf = ctx->c->a->cf;
  /* three NUL-ended copies: the wire strings have no NUL */
  char special[TERN__RM_PATH_MAX + 1], dir[TERN__RM_PATH_MAX + 1],
      type[TERN__RM_MOUNT_TYPE_MAX + 1];
  const uint8_t *p = m->data;
  if (cf == NULL || cf->mount == NULL) return TERN_ENOTSUP;
  memcpy(special, p, m->speclen);
  special[m->speclen] = '\0';
  memcpy(dir, p + m->speclen, m->dirlen);
  dir[m->dirlen] = '\0';
  memcpy(type, p + m->speclen + m->dirlen, m->typelen);
  type[m->typelen] = '\0';
  if (!tern__rm_path_valid(dir)) return TERN_EINVAL;
  size_t strs = (size_t)m->speclen + m->dirlen + m->typelen;
  tern_rm_mount_msg mm = {special, dir, type, m->oflag, p + strs,
                          m->data_len - strs};
  int r = cf->mount(ctx, &mm, ctx->c->a->attr, NULL);
  return r == TERN_RM_DEFAULT ? TERN_ENOTSUP : r;
}

/* ---- the client's side ------------------------------------------------- */

static int mount_call(int fd, const struct iovec *v, int n, int timeout_ms) {
  struct msghdr mh = {.msg_iov = (struct iovec *)(uintptr_t)v,
                      .msg_iovlen = (size_t)n};
  uint8_t rep[TERN__RM_REPLY_HDR];
  if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
    return errno == EPIPE ? TERN_ECONNRESET : tern_err_from_errno(errno);
  struct pollfd pf = {fd, POLLIN, 0};
  int r;
  while ((r = poll(&pf, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  if (r == 0) return TERN_ETIMEDOUT;
  ssize_t got = recv(fd, rep, sizeof(rep), MSG_TRUNC);
  if (got < 0) return tern_err_from_errno(errno);
  if (got == 0) return TERN_ECONNRESET;
  tern__rm_hdr h;
  int32_t status;
  int64_t value;
  if ((size_t)got != sizeof(rep) ||
      tern__rm_hdr_decode(rep, sizeof(rep), &h) != TERN_OK ||
      !(h.flags & TERN__RM_F_REPLY) || h.type != TERN__RM_T_MOUNT ||
      h.rid != 1 ||
      tern__rm_reply_decode(rep + TERN__RM_HDR_LEN, &status, &value) != TERN_OK)
    return TERN_EPROTO;
  return status;
}

int tern_rmc_mount(const char *special, const char *dir, uint32_t flags,
                   const char *type, const void *data, size_t datalen,
                   const tern_rmc_opts *opts) {
  tern_rmc_opts o = {0};
  char reg[TERN__RM_DIR_MAX], rest[TERN__RM_PATH_MAX + 1], name[128];
  if (opts) o = *opts;
  if (special == NULL) special = "";
  if (type == NULL) type = "";
  size_t sl = strlen(special), dl = dir ? strlen(dir) : 0, tl = strlen(type);
  size_t max_msg = o.max_msg ? o.max_msg : TERN_RM_MAX_MSG_DEFAULT;
  if (!tern__rm_path_valid(dir) || sl > TERN__RM_PATH_MAX ||
      (tl > 0 && !tern__rm_mount_type_valid(type)) || (data == NULL && datalen) ||
      ((flags & TERN_RM_MOUNT_REMOUNT) && (flags & TERN_RM_MOUNT_UNMOUNT)))
    return TERN_EINVAL;
  if (TERN__RM_HDR_LEN + TERN__RM_MOUNT_FIXED + sl + dl + tl + datalen > max_msg)
    return TERN_EMSGSIZE;
  int fd = -1, rc = tern__rm_registry_dir(o.registry, reg, sizeof(reg));
  if (rc != TERN_OK) return rc;
  if (tl > 0) { /* the type's server */
    snprintf(name, sizeof(name), "m.%s", type);
    rc = tern__rm_connect_name(reg, name, &fd);
    if (rc == TERN_ENOENT) rc = TERN_ENOTSUP; /* nobody mounts this type */
  } else { /* the server of the mount point (unmount) or of special */
    const char *owner = (flags & TERN_RM_MOUNT_UNMOUNT) ? dir : special;
    rc = tern__rm_path_valid(owner)
             ? tern__rm_resolve(reg, owner, &fd, rest, sizeof(rest))
             : TERN_EINVAL;
  }
  if (rc != TERN_OK) return rc;
  uint8_t head[TERN__RM_HDR_LEN + TERN__RM_MOUNT_FIXED];
  tern__rm_enc_mount(head, 1, flags, (uint16_t)sl, (uint16_t)dl, (uint16_t)tl,
                     (uint32_t)datalen);
  struct iovec v[5] = {{head, sizeof(head)},
                       {(void *)(uintptr_t)special, sl},
                       {(void *)(uintptr_t)dir, dl},
                       {(void *)(uintptr_t)type, tl},
                       {(void *)(uintptr_t)data, datalen}};
  int timeout = o.timeout_ms ? o.timeout_ms : 5000;
  rc = mount_call(fd, v, 5, timeout < 0 ? -1 : timeout);
  close(fd);
  return rc;
}
