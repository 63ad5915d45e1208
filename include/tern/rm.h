/* tern/rm.h: the resource manager, server side: QNX-style path attach and
 * message passing on Linux.
 *
 * A server attaches path names ("/dev/sample") to a dispatcher with a
 * table of connect handlers, a table of I/O handlers and an attribute
 * structure (QNX resmgr_attach). Clients (tern/rmc.h) open those names and
 * send messages: read, write, devctl, stat, lseek, dup, close and _IO_MSG.
 * Each open becomes an OCB (open control block), shared by dups and
 * released after the last close.
 *
 * Transport (Linux): a registry directory holds one listening AF_UNIX
 * SOCK_SEQPACKET socket per attached path; a client resolves its path by
 * the longest attached prefix and makes one connection per open. Peer
 * credentials come from the kernel (SO_PEERCRED). The dispatcher is a set
 * of watchers in a tern loop: every handler runs on that loop's thread.
 *
 * Call order (QNX names in brackets):
 *   tern_rm_dispatch_new            [dispatch_create]
 *   tern_rm_attr_init, tern_rm_attach [iofunc_attr_init, resmgr_attach]
 *   ... tern_loop_run ...           [dispatch_block/dispatch_handler]
 *   tern_rm_detach                  [resmgr_detach]
 *   tern_rm_dispatch_free           [dispatch_destroy]
 *
 * Handler return values (QNX in brackets):
 *   TERN_OK            status reply, with the value set by
 *                      tern_rm_ctx_set_value (0 by default) [EOK]
 *   a TERN_E* code     error reply; the client's call returns it [errno]
 *   tern_rm_reply_parts(ctx, ...)  reply with data [_RESMGR_NPARTS]
 *   TERN_RM_DEFAULT    run the default handler for the message
 *                      [_RESMGR_DEFAULT]
 *   TERN_RM_NOREPLY    nothing is sent now; the handler keeps
 *                      tern_rm_ctx_rcvid(ctx) and answers later with
 *                      tern_rm_reply/tern_rm_error, from any callback or
 *                      any thread [_RESMGR_NOREPLY]
 * QNX's EINTR is TERN_ECANCELED here and ENOSYS is TERN_ENOTSUP (tern has
 * one error space, tern_err).
 *
 * Also here: mount types (tern_rm_attach_mount, the connect table's
 * mount handler [io_mount]), reads and writes above one message through
 * sealed memfds (max_memfd), and an optional thread pool
 * (tern_rm_pool_start [thread_pool_create]) on which handlers run instead
 * of the loop thread. Notify lists, pulses, pulse_attach and
 * message_attach are in tern/rm_notify.h (included below; its threading
 * rules cover the pool).
 *
 * The FUSE bridge (apps/ternfs: the ternfs program, or ternd --fuse)
 * mounts a registry so ordinary programs reach these handlers.
 */
#ifndef TERN_RM_H
#define TERN_RM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "tern/config.h"
#include "tern/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_rm_dispatch tern_rm_dispatch;
typedef struct tern_rm_ctx tern_rm_ctx;
typedef struct tern_rm_ocb tern_rm_ocb;
typedef struct tern_rm_attach_h tern_rm_attach_h;
typedef struct tern_rm_notify_msg tern_rm_notify_msg; /* tern/rm_notify.h */
/* Receive id: names one request awaiting its reply (QNX rcvid). Stays
 * unique for the dispatcher's life; a stale one is refused, never
 * misdelivered. */
typedef uint64_t tern_rm_rcvid;

/* Handler results beyond TERN_OK and TERN_E* (positive, so they never
 * collide with an error). */
enum {
  TERN_RM_DEFAULT = 1, /* [_RESMGR_DEFAULT] */
  TERN_RM_NOREPLY = 2, /* [_RESMGR_NOREPLY] */
  TERN_RM_PARTS = 3    /* returned by tern_rm_reply_parts */
};

/* Limits, all settable in tern_rm_opts / tern_rmc_opts. */
#define TERN_RM_MAX_MSG_DEFAULT (64u * 1024u) /* bytes of one message */
#define TERN_RM_MAX_PARTS 8                   /* iov parts of a reply */
#define TERN_RM_MAX_MEMFD_DEFAULT (16u * 1024u * 1024u) /* large read/write */
#define TERN_RM_ENV_DIR "TERN_RM_DIR"         /* registry override */

/* ---- devctl command numbers ------------------------------------------
 * A command is a valid Linux _IOC value, so the same number works as an
 * ioctl through the FUSE bridge: bits 0-7 command, 8-15 class (Linux:
 * type), 16-29 size of the data, 30-31 direction. Direction is Linux's:
 * "to" the device (client -> server) is _IOC_WRITE (bit 30), "from" it is
 * _IOC_READ (bit 31). QNX puts "to" in bit 31 and "from" in bit 30; the
 * __DIO* aliases below keep QNX's names and meaning with Linux's bits, so
 * __DIOT(c, n, int) == _IOW(c, n, int) and __DIOF(c, n, int) ==
 * _IOR(c, n, int). */
#define TERN_DCMD_DIR_NONE 0u
#define TERN_DCMD_DIR_TO 1u   /* Linux _IOC_WRITE */
#define TERN_DCMD_DIR_FROM 2u /* Linux _IOC_READ */
#define TERN_DCMD_DIR_TOFROM 3u
#define TERN_DCMD_SIZE_MAX 0x3fffu
#define TERN_DCMD(dir, cls, cmd, size)                                       \
  ((uint32_t)(((uint32_t)(dir) << 30) | (((uint32_t)(size)&0x3fffu) << 16) | \
              (((uint32_t)(cls)&0xffu) << 8) | ((uint32_t)(cmd)&0xffu)))
#define TERN_DCMD_GET_DIR(d) ((uint32_t)(d) >> 30)
#define TERN_DCMD_GET_SIZE(d) (((uint32_t)(d) >> 16) & 0x3fffu)
#define TERN_DCMD_GET_CLASS(d) (((uint32_t)(d) >> 8) & 0xffu)
#define TERN_DCMD_GET_CMD(d) ((uint32_t)(d)&0xffu)
#define TERN_DIOF(cls, cmd, type) \
  TERN_DCMD(TERN_DCMD_DIR_FROM, cls, cmd, sizeof(type))
#define TERN_DIOT(cls, cmd, type) \
  TERN_DCMD(TERN_DCMD_DIR_TO, cls, cmd, sizeof(type))
#define TERN_DIOTF(cls, cmd, type) \
  TERN_DCMD(TERN_DCMD_DIR_TOFROM, cls, cmd, sizeof(type))
#define TERN_DION(cls, cmd) TERN_DCMD(TERN_DCMD_DIR_NONE, cls, cmd, 0)

/* QNX's names (<devctl.h>). Define TERN_RM_NO_QNX_NAMES to leave them out. */
#ifndef TERN_RM_NO_QNX_NAMES
#ifndef __DIOF
#define __DIOF(cls, cmd, data) TERN_DIOF(cls, cmd, data)
#define __DIOT(cls, cmd, data) TERN_DIOT(cls, cmd, data)
#define __DIOTF(cls, cmd, data) TERN_DIOTF(cls, cmd, data)
#define __DION(cls, cmd) TERN_DION(cls, cmd)
#endif
#endif

/* Classes and the generic commands the default devctl answers
 * (QNX _DCMD_ALL, DCMD_ALL_GETFLAGS/SETFLAGS). Other classes are the
 * application's. */
#define TERN_DCMD_CLASS_ALL 0x01u
#define TERN_DCMD_CLASS_MISC 0x05u
#define TERN_DCMD_ALL_GETFLAGS TERN_DIOF(TERN_DCMD_CLASS_ALL, 1, int32_t)
#define TERN_DCMD_ALL_SETFLAGS TERN_DIOT(TERN_DCMD_CLASS_ALL, 2, int32_t)

/* ---- the attribute structure (QNX iofunc_attr_t) ---------------------
 * One per attached name (or per entry a directory attach serves). The
 * caller owns it and keeps it valid while attached; the rm updates the
 * counters. Embed it in a larger struct for device state. */
typedef struct tern_rm_attr {
  uint32_t mode;       /* file type (S_IF*) and permission bits */
  uint32_t uid, gid;   /* owner, checked against the client's creds */
  uint32_t nlink;
  uint64_t inode;      /* reported by stat */
  uint64_t nbytes;     /* size: stat, default lseek SEEK_END */
  int64_t mtime, atime, ctime; /* seconds since 1970 */
  uint32_t count;      /* open OCBs (the rm keeps this) */
  uint32_t rcount, wcount; /* of them, opened for reading / writing */
  void *notify;        /* the notify lists (tern/rm_notify.h; the rm's) */
  void *data;          /* the application's */
} tern_rm_attr;

/* mode 0 is taken as S_IFCHR | 0666 (QNX iofunc_attr_init uses its own
 * S_IFNAM). Times are
 * set to now, nlink to 1, everything else to 0. */
TERN_API void tern_rm_attr_init(tern_rm_attr *attr, uint32_t mode,
                                uint32_t uid, uint32_t gid);

/* stat's answer (QNX struct stat as iofunc_stat fills it). */
typedef struct tern_rm_stat {
  uint64_t ino, size;
  uint32_t mode, uid, gid, nlink;
  int64_t mtime, atime, ctime;
} tern_rm_stat;

/* The client, from SO_PEERCRED when it connected (QNX _client_info). */
typedef struct tern_rm_cred {
  int32_t pid;
  uint32_t uid, gid;
} tern_rm_cred;

/* ---- messages as handlers see them (QNX io_*_t) ----------------------
 * Views into the dispatcher's receive buffer: valid only during the
 * handler call; copy what you keep (a NOREPLY handler included). */
typedef struct tern_rm_open_msg {
  const char *path;  /* the remainder after the attached name, NUL-ended
                        ("" for the name itself) */
  uint32_t oflag;    /* O_RDONLY/O_WRONLY/O_RDWR | O_APPEND ... (Linux) */
  uint32_t mode;     /* mode for O_CREAT */
} tern_rm_open_msg;

typedef struct tern_rm_read_msg {
  size_t nbytes;     /* at most this many bytes wanted */
} tern_rm_read_msg;

typedef struct tern_rm_write_msg {
  const uint8_t *data;
  size_t nbytes;
} tern_rm_write_msg;

typedef struct tern_rm_devctl_msg {
  uint32_t dcmd;
  /* The data the client sent (nbytes of it) at the start of a writable
   * area of cap = TERN_DCMD_GET_SIZE(dcmd) bytes (zero-filled past
   * nbytes), so a handler may answer in place as QNX's do:
   * return tern_rm_reply_data(ctx, msg->data, n). The client receives at
   * most cap bytes whatever the reply holds. */
  uint8_t *data;
  size_t nbytes, cap;
} tern_rm_devctl_msg;

typedef struct tern_rm_lseek_msg {
  int64_t offset;
  int whence;        /* SEEK_SET, SEEK_CUR, SEEK_END */
} tern_rm_lseek_msg;

/* mount flags (QNX <sys/mount.h> _MOUNT_*; tern's own bit values). */
enum {
  TERN_RM_MOUNT_RDONLY = 1u << 0,   /* [_MOUNT_READONLY] */
  TERN_RM_MOUNT_NOEXEC = 1u << 1,   /* [_MOUNT_NOEXEC] */
  TERN_RM_MOUNT_NOSUID = 1u << 2,   /* [_MOUNT_NOSUID] */
  TERN_RM_MOUNT_NOCREAT = 1u << 3,  /* [_MOUNT_NOCREAT] */
  TERN_RM_MOUNT_REMOUNT = 1u << 16, /* change a mount's options [_MOUNT_REMOUNT] */
  TERN_RM_MOUNT_UNMOUNT = 1u << 17, /* umount [_MOUNT_UNMOUNT] */
  TERN_RM_MOUNT_FORCE = 1u << 18    /* [_MOUNT_FORCE] */
};

/* _IO_CONNECT_MOUNT (QNX io_mount's extra->extra.srv). Strings are
 * NUL-ended views, valid during the call. */
typedef struct tern_rm_mount_msg {
  const char *special; /* the special device ("" if none) */
  const char *dir;     /* the mount point (absolute) */
  const char *type;    /* the mount type ("" when sent to special's or
                          dir's server instead of a type's) */
  uint32_t flags;      /* TERN_RM_MOUNT_* */
  const uint8_t *data; /* the mount options (mount -o), may hold NULs */
  size_t datalen;
} tern_rm_mount_msg;

typedef struct tern_rm_msg_msg { /* _IO_MSG */
  uint16_t mgrid;    /* manager id (QNX _IOMGR_*) */
  uint16_t subtype;
  const uint8_t *data;
  size_t nbytes;
} tern_rm_msg_msg;

/* ---- handler tables (QNX resmgr_connect_funcs_t / resmgr_io_funcs_t) --
 * A NULL entry means TERN_RM_DEFAULT. Every handler runs on the loop
 * thread, or on a pool thread once tern_rm_pool_start has run. ocb is valid for the call; it stays valid until close_ocb has
 * returned. */
typedef struct tern_rm_connect_funcs {
  /* _IO_CONNECT_OPEN. The default (tern_rm_open_default) checks
   * permissions and creates the OCB. A handler that accepts the open must
   * either return TERN_RM_DEFAULT or call tern_rm_open_default itself
   * (then tern_rm_ctx_ocb gives the new OCB to attach data to). attr is
   * the attach's attribute. */
  int (*open)(tern_rm_ctx *ctx, const tern_rm_open_msg *msg,
              tern_rm_attr *attr, void *reserved);
  /* _IO_CONNECT_MOUNT: mount, remount (TERN_RM_MOUNT_REMOUNT) or unmount
   * (TERN_RM_MOUNT_UNMOUNT). Reached through the mount type an attach
   * registered (tern_rm_attach_mount), or through a path attach when the
   * client named no type (the special device's server; for an unmount,
   * the mount point's). NULL: TERN_ENOTSUP. A typical handler attaches
   * a path at msg->dir and detaches it on unmount (from inside a handler
   * of that very attach with tern_rm_detach_later). attr is the attach's.
   * Runs on the loop thread even with a thread pool (attach and detach
   * are loop-thread calls), unless the connection has other messages
   * queued (a client's mount connection has none). */
  int (*mount)(tern_rm_ctx *ctx, const tern_rm_mount_msg *msg,
               tern_rm_attr *attr, void *reserved);
  /* later: unlink, rename, mknod, readlink, link */
} tern_rm_connect_funcs;

typedef struct tern_rm_io_funcs {
  int (*read)(tern_rm_ctx *ctx, const tern_rm_read_msg *msg, tern_rm_ocb *ocb);
  /* set the bytes taken with tern_rm_ctx_set_value; the default
   * (TERN_ENOTSUP after the access check) takes nothing */
  int (*write)(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
               tern_rm_ocb *ocb);
  /* ret_val with tern_rm_ctx_set_value */
  int (*devctl)(tern_rm_ctx *ctx, tern_rm_devctl_msg *msg, tern_rm_ocb *ocb);
  int (*stat)(tern_rm_ctx *ctx, tern_rm_ocb *ocb);
  int (*lseek)(tern_rm_ctx *ctx, const tern_rm_lseek_msg *msg,
               tern_rm_ocb *ocb);
  /* A client dup'ed its handle: the OCB has one more reference. */
  int (*dup)(tern_rm_ctx *ctx, tern_rm_ocb *ocb);
  /* One handle closed (QNX io_close_dup); runs once per open and per dup,
   * also for a client that died. The reply is sent whatever it returns
   * (an error is passed on, the reference is dropped anyway). */
  int (*close_dup)(tern_rm_ctx *ctx, tern_rm_ocb *ocb);
  /* The last handle is gone (QNX io_close_ocb): exactly once per OCB,
   * after every close_dup. Free what you hung on the OCB; the rm frees the
   * OCB itself after this returns. ctx has no request (nothing can be
   * replied); the return value is ignored. */
  int (*close_ocb)(tern_rm_ctx *ctx, tern_rm_ocb *ocb);
  /* _IO_MSG; the default answers TERN_ENOTSUP. */
  int (*msg)(tern_rm_ctx *ctx, const tern_rm_msg_msg *msg, tern_rm_ocb *ocb);
  /* The client of a request still unanswered (NOREPLY) gave up waiting
   * (QNX _PULSE_CODE_UNBLOCK / io_unblock). ctx's rcvid is that request.
   * The result answers it like any handler's (the default replies
   * TERN_ECANCELED, QNX's EINTR); TERN_RM_NOREPLY keeps it pending. */
  int (*unblock)(tern_rm_ctx *ctx, tern_rm_ocb *ocb);
  /* _IO_NOTIFY (QNX io_notify): call tern_rm_notify with the conditions
   * ready now; the default is tern_rm_notify_default. */
  int (*notify)(tern_rm_ctx *ctx, const tern_rm_notify_msg *msg,
                tern_rm_ocb *ocb);
  /* later: space, mmap, chmod, chown, utime, sync, power ... */
} tern_rm_io_funcs;

/* ---- the dispatcher ---------------------------------------------------- */

typedef struct tern_rm_opts {
  /* Registry directory. NULL: $TERN_RM_DIR, else $XDG_RUNTIME_DIR/tern-rm,
   * else /run/tern-rm (created with mode 0755 if missing). */
  const char *registry;
  size_t max_msg;     /* largest message in either direction (64 KiB) */
  size_t max_conns;   /* open connections, all attaches (1024) */
  /* Largest read or write moved through a memfd when it does not fit one
   * message (0: TERN_RM_MAX_MEMFD_DEFAULT; at most 1 GiB). Bigger ones
   * get TERN_EMSGSIZE. */
  size_t max_memfd;
} tern_rm_opts;

/* Create a dispatcher on loop (loop thread only). opts may be NULL. */
TERN_API int tern_rm_dispatch_new(tern_rm_dispatch **out, tern_loop *loop,
                                  const tern_rm_opts *opts);
/* Detach everything (connections closed as if their clients had closed:
 * close_dup for each handle, then close_ocb), then free. Replies posted
 * from other threads after this has begun are dropped; a thread must not
 * call tern_rm_reply once the free has returned. Loop thread only, not
 * from inside a handler. */
TERN_API void tern_rm_dispatch_free(tern_rm_dispatch *d);
TERN_API tern_loop *tern_rm_dispatch_loop(const tern_rm_dispatch *d);
/* The registry directory in use (NUL-ended; valid while d lives). */
TERN_API const char *tern_rm_dispatch_registry(const tern_rm_dispatch *d);

/* Attach flags (QNX _RESMGR_FLAG_*). */
enum {
  /* A directory: also serves every path below the name; open gets the
   * rest of the path (QNX _RESMGR_FLAG_DIR). */
  TERN_RM_ATTACH_DIR = 1u << 0
};

/* Attach path (absolute, no "." or ".." parts, no trailing '/') with the
 * handler tables and attribute; all three must stay valid until detach.
 * A live registry entry for the same path and kind gives TERN_EEXIST; a
 * stale one (socket file nobody listens on) is replaced. TERN_EINVAL for
 * a bad path or one too long for a socket name; TERN_EPERM off the loop
 * thread (a pool thread included). *out identifies the attach for
 * tern_rm_detach (may be NULL if never detached by hand). */
TERN_API int tern_rm_attach(tern_rm_dispatch *d, const char *path,
                            unsigned flags,
                            const tern_rm_connect_funcs *connect_funcs,
                            const tern_rm_io_funcs *io_funcs,
                            tern_rm_attr *attr, tern_rm_attach_h **out);
/* Remove the name (its registry entry) and close the attach's
 * connections as if their clients had closed (close_dup per handle, then
 * close_ocb; requests still unanswered are dropped). QNX's
 * _RESMGR_DETACH_ALL. Not from inside one of this attach's handlers
 * (tern_rm_detach_later is); TERN_EPERM off the loop thread. */
TERN_API int tern_rm_detach(tern_rm_dispatch *d, tern_rm_attach_h *a);

/* Register as the server of mount type (QNX resmgr_attach with
 * _FTYPE_MOUNT and a mount handler): a client's tern_rmc_mount naming
 * type reaches cf->mount on this dispatcher. type: 1..63 bytes of
 * [A-Za-z0-9._-], not starting with '.'. TERN_EEXIST if another live
 * server has the type. Detach with tern_rm_detach. (rm_mount.c) */
TERN_API int tern_rm_attach_mount(tern_rm_dispatch *d, const char *type,
                                  const tern_rm_connect_funcs *cf,
                                  tern_rm_attr *attr, tern_rm_attach_h **out);
/* tern_rm_detach at the start of the loop's next iteration: callable from
 * any thread and from inside a's own handlers (an unmount sent to the
 * mount point's server). Does nothing if a has been detached by then. */
TERN_API int tern_rm_detach_later(tern_rm_dispatch *d, tern_rm_attach_h *a);

/* ---- thread pool (QNX thread_pool_create; rm_pool.c) -------------------
 * Handlers run on pool threads; the loop thread only accepts, receives
 * and hands each message over. One connection's messages are handled one
 * at a time, in order; different connections run in parallel, so handler
 * code that shares state between connections (the attribute, globals)
 * locks it itself (QNX iofunc_attr_lock). tern_rm_reply from a pool
 * thread (NOREPLY answered later) takes the cross-thread path. In pool
 * mode tern_rm_detach and tern_rm_dispatch_free wait for the running
 * handlers of the connections they close; tern_rm_attach stays a
 * loop-thread call (mount handlers run there, see the mount entry).
 * Notify, pulse and private-message handlers run on the pool like the
 * rest; tern/rm_notify.h says which of its calls work from which thread. */
typedef struct tern_rm_pool_attr {
  unsigned lo_water; /* idle threads kept (QNX lo_water); 0: 1 */
  unsigned hi_water; /* threads at most (QNX maximum); 0: 4; >= lo */
  int idle_ms;       /* an idle thread above lo_water exits after this
                        (0: 2000) */
} tern_rm_pool_attr;
/* Start the pool: loop thread (TERN_EPERM elsewhere), before the first
 * connection (TERN_EBUSY after), once (TERN_EALREADY). lo_water threads
 * start now; TERN_EINVAL if lo_water > hi_water or hi_water > 1024. It
 * stops in tern_rm_dispatch_free. */
TERN_API int tern_rm_pool_start(tern_rm_dispatch *d,
                                const tern_rm_pool_attr *attr);
/* Threads now, of them idle (0, 0 without a pool). */
TERN_API void tern_rm_pool_count(tern_rm_dispatch *d, unsigned *threads,
                                 unsigned *idle);

/* ---- inside a handler ----------------------------------------------------
 * A ctx is valid only during the handler call. */
TERN_API tern_rm_dispatch *tern_rm_ctx_dispatch(const tern_rm_ctx *ctx);
TERN_API tern_rm_rcvid tern_rm_ctx_rcvid(const tern_rm_ctx *ctx);
TERN_API const tern_rm_cred *tern_rm_ctx_cred(const tern_rm_ctx *ctx);
/* The OCB of this connection (NULL in open until tern_rm_open_default
 * has made it). */
TERN_API tern_rm_ocb *tern_rm_ctx_ocb(const tern_rm_ctx *ctx);
/* The reply's value: bytes written, devctl ret_val, the new offset (QNX
 * _IO_SET_WRITE_NBYTES, msg->o.ret_val). */
TERN_API void tern_rm_ctx_set_value(tern_rm_ctx *ctx, int64_t value);
/* Reply with data parts. The parts are sent when the handler returns this
 * value (their memory must stay valid until then). At most
 * TERN_RM_MAX_PARTS; returns TERN_EINVAL past that (the handler then
 * returns an error reply). [SETIOV + _RESMGR_NPARTS] */
TERN_API int tern_rm_reply_parts(tern_rm_ctx *ctx, const struct iovec *iov,
                                 int nparts);
/* One part. */
TERN_API int tern_rm_reply_data(tern_rm_ctx *ctx, const void *data,
                                size_t len);

/* ---- replying later (NOREPLY) -------------------------------------------
 * Thread-safe. From the loop thread the reply is sent at once; from
 * another thread its bytes are copied and posted to the loop
 * (tern_loop_call). status is TERN_OK or a TERN_E* code; value as
 * tern_rm_ctx_set_value. Returns TERN_OK when the reply was sent or
 * posted; TERN_ENOENT when rcvid is not awaiting a reply (answered
 * already, unblocked, or its client is gone); TERN_EMSGSIZE if the data
 * exceed max_msg; TERN_ENOSPC/TERN_ECLOSED if the loop refused the post.
 * A posted reply whose client has gone meanwhile is dropped. [MsgReplyv] */
TERN_API int tern_rm_reply(tern_rm_dispatch *d, tern_rm_rcvid rcvid,
                           int status, int64_t value, const struct iovec *iov,
                           int nparts);
/* Error reply. [MsgError] */
TERN_API int tern_rm_error(tern_rm_dispatch *d, tern_rm_rcvid rcvid, int err);

/* ---- the OCB (QNX iofunc_ocb_t) -------------------------------------- */
TERN_API tern_rm_attr *tern_rm_ocb_attr(const tern_rm_ocb *ocb);
TERN_API uint32_t tern_rm_ocb_oflag(const tern_rm_ocb *ocb);
TERN_API int64_t tern_rm_ocb_offset(const tern_rm_ocb *ocb);
TERN_API void tern_rm_ocb_set_offset(tern_rm_ocb *ocb, int64_t off);
/* The path remainder it was opened with ("" for the attached name). */
TERN_API const char *tern_rm_ocb_path(const tern_rm_ocb *ocb);
/* Handles sharing it (the open plus dups not yet closed). */
TERN_API unsigned tern_rm_ocb_refs(const tern_rm_ocb *ocb);
TERN_API void *tern_rm_ocb_data(const tern_rm_ocb *ocb);
TERN_API void tern_rm_ocb_set_data(tern_rm_ocb *ocb, void *data);

/* ---- default handlers (QNX iofunc_*_default) --------------------------
 * Callable from a handler that wants the default behaviour plus its own. */
/* Permission check (QNX iofunc_check_access): root passes; else the
 * owner, group or other bits of attr->mode must allow every access asked
 * (read for O_RDONLY/O_RDWR, write for O_WRONLY/O_RDWR); TERN_EACCES
 * otherwise. */
TERN_API int tern_rm_check_access(const tern_rm_cred *cred,
                                  const tern_rm_attr *attr, uint32_t oflag);
/* Check access, then create the OCB (offset 0, or nbytes with O_APPEND
 * not yet: appends are the write handler's job) and count it in attr.
 * attr becomes the OCB's attribute (QNX iofunc_ocb_attach): a directory
 * attach's open handler passes the entry's own, so stat, the counters and
 * tern_rm_ocb_attr are that entry's. */
TERN_API int tern_rm_open_default(tern_rm_ctx *ctx, const tern_rm_open_msg *msg,
                                  tern_rm_attr *attr, void *reserved);
/* TERN_EBADF unless opened for reading, else end of file (no data). */
TERN_API int tern_rm_read_default(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                                  tern_rm_ocb *ocb);
/* TERN_EBADF unless opened for writing, else TERN_ENOTSUP. */
TERN_API int tern_rm_write_default(tern_rm_ctx *ctx,
                                   const tern_rm_write_msg *msg,
                                   tern_rm_ocb *ocb);
/* Answers TERN_DCMD_ALL_GETFLAGS (the OCB's oflag) and SETFLAGS (changes
 * O_APPEND/O_NONBLOCK only); TERN_RM_DEFAULT for every other command
 * (the dispatcher then replies TERN_ENOTSUP). */
TERN_API int tern_rm_devctl_default(tern_rm_ctx *ctx, tern_rm_devctl_msg *msg,
                                    tern_rm_ocb *ocb);
/* Replies tern_rm_stat filled from the OCB's attribute. */
TERN_API int tern_rm_stat_default(tern_rm_ctx *ctx, tern_rm_ocb *ocb);
/* Moves the OCB's offset (SEEK_END from attr->nbytes); TERN_EINVAL for a
 * negative result or unknown whence. The reply value is the new offset. */
TERN_API int tern_rm_lseek_default(tern_rm_ctx *ctx,
                                   const tern_rm_lseek_msg *msg,
                                   tern_rm_ocb *ocb);
/* Replies TERN_ECANCELED to the request being unblocked. */
TERN_API int tern_rm_unblock_default(tern_rm_ctx *ctx, tern_rm_ocb *ocb);

#ifdef __cplusplus
}
#endif

#include "tern/rm_notify.h"

#endif /* TERN_RM_H */
