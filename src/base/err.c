/* base/err.c: error messages, error names and the errno mapping.
 *
 * Everything is generated from TERN_ERR_MAP (tern/base.h), so adding an
 * error there is the only edit needed. Values are tern's own (not errno
 * values) so a code means the same on a host and on a microcontroller;
 * tern_err_from_errno() is the one place that translates.
 */
#include <errno.h>

#include "tern/base.h"

const char *tern_strerror(int err) {
  switch (err) {
  case TERN_OK:
    return "success";
#define TERN__ERR_MSG(name, val, msg) \
  case TERN_##name:                   \
    return msg;
    TERN_ERR_MAP(TERN__ERR_MSG)
#undef TERN__ERR_MSG
  default:
    return "unknown error";
  }
}

/* Unknown codes are named "TERN_EUNKNOWN", matching tern_strerror(). */
const char *tern_err_name(int err) {
  switch (err) {
  case TERN_OK:
    return "TERN_OK";
#define TERN__ERR_NAME(name, val, msg) \
  case TERN_##name:                    \
    return "TERN_" #name;
    TERN_ERR_MAP(TERN__ERR_NAME)
#undef TERN__ERR_NAME
  default:
    return "TERN_EUNKNOWN";
  }
}

/* errno values that have a tern code of the same name. Each entry is
 * guarded: a C library for a small target may lack some of them. */
static int err_same_name(int e) {
  switch (e) {
#define TERN__SAME(name)  \
  case name:              \
    return TERN_##name;
    TERN__SAME(EINVAL)
    TERN__SAME(ENOMEM)
    TERN__SAME(EAGAIN)
    TERN__SAME(ENOSPC)
    TERN__SAME(ERANGE)
    TERN__SAME(EPIPE)
    TERN__SAME(ENOENT)
    TERN__SAME(EEXIST)
    TERN__SAME(EBUSY)
    TERN__SAME(EIO)
    TERN__SAME(EBADF)
    TERN__SAME(EACCES)
    TERN__SAME(EPERM)
    TERN__SAME(EMFILE)
#ifdef ECONNREFUSED
    TERN__SAME(ECONNREFUSED)
    TERN__SAME(ECONNRESET)
    TERN__SAME(ECONNABORTED)
    TERN__SAME(ETIMEDOUT)
    TERN__SAME(EADDRINUSE)
    TERN__SAME(EADDRNOTAVAIL)
    TERN__SAME(ENOTCONN)
    TERN__SAME(EMSGSIZE)
    TERN__SAME(EHOSTUNREACH)
    TERN__SAME(ENETUNREACH)
    TERN__SAME(EAFNOSUPPORT)
    TERN__SAME(EINPROGRESS)
    TERN__SAME(EALREADY)
#endif
#ifdef ECANCELED
    TERN__SAME(ECANCELED)
#endif
#ifdef EPROTO
    TERN__SAME(EPROTO)
#endif
#ifdef ENOTSUP
    TERN__SAME(ENOTSUP)
#endif
#undef TERN__SAME
  default:
    return TERN_EUNKNOWN;
  }
}

/* errno values with no tern code of their own: the nearest meaning.
 * Aliases (EWOULDBLOCK == EAGAIN, EOPNOTSUPP == ENOTSUP on Linux) are only
 * listed where they differ, or the switch would have duplicate cases. */
static int err_nearest(int e) {
  switch (e) {
#if defined(EWOULDBLOCK) && EWOULDBLOCK != EAGAIN
  case EWOULDBLOCK:
    return TERN_EAGAIN;
#endif
#if defined(EOPNOTSUPP) && (!defined(ENOTSUP) || EOPNOTSUPP != ENOTSUP)
  case EOPNOTSUPP:
    return TERN_ENOTSUP;
#endif
#ifdef ENOBUFS
  case ENOBUFS:
    return TERN_ENOMEM;
#endif
  case ENFILE:
    return TERN_EMFILE;
  case ENOSYS:
    return TERN_ENOTSUP;
  case EFAULT:
  case ENAMETOOLONG:
    return TERN_EINVAL;
#ifdef ECONNREFUSED
  case EHOSTDOWN:
    return TERN_EHOSTUNREACH;
  case ENETDOWN:
    return TERN_ENETUNREACH;
  case ENETRESET:
    return TERN_ECONNRESET;
  case EISCONN:
    return TERN_EALREADY;
  case EPROTONOSUPPORT:
#ifdef ESOCKTNOSUPPORT /* not in newlib */
  case ESOCKTNOSUPPORT:
#endif
    return TERN_ENOTSUP;
  case EPFNOSUPPORT:
    return TERN_EAFNOSUPPORT;
  case EPROTOTYPE:
  case ENOPROTOOPT:
  case ENOTSOCK:
  case EDESTADDRREQ:
    return TERN_EINVAL;
#ifdef ESHUTDOWN /* not in newlib */
  case ESHUTDOWN:
    return TERN_EPIPE;
#endif
#endif
#ifdef EOVERFLOW
  case EOVERFLOW:
    return TERN_ERANGE;
#endif
#ifdef EBADMSG
  case EBADMSG:
    return TERN_EPROTO;
#endif
  default:
    return TERN_EUNKNOWN;
  }
}

int tern_err_from_errno(int posix_errno) {
  int r;

  if (posix_errno <= 0)
    return TERN_EUNKNOWN;
  r = err_same_name(posix_errno);
  return r != TERN_EUNKNOWN ? r : err_nearest(posix_errno);
}
