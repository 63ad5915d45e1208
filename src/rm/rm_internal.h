/* rm/rm_internal.h: the resource manager's private structures, shared by
 * rm_registry.c (names <-> sockets), rm_dispatch.c (connections, receive,
 * reply), rm_ocb.c (OCBs and handler contexts), rm_default.c (QNX's
 * iofunc_*_default) and rmc.c (the client).
 */
#ifndef TERN_RM_INTERNAL_H
#define TERN_RM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "rm/rm_msg.h"
#include "tern/base.h"
#include "tern/loop.h"
#include "tern/rm.h"

#define TERN__RM_DIR_MAX 108         /* a registry dir fits a sun_path */
#define TERN__RM_PENDING_MAX 64      /* unanswered requests per connection */
#define TERN__RM_MAX_CONNS_DEFAULT 1024
#define TERN__RM_REPLY_HDR (TERN__RM_HDR_LEN + TERN__RM_REPLY_FIXED)

/* ---- registry (rm_registry.c) ---------------------------------------- */

/* The registry directory: given, else $TERN_RM_DIR, else
 * $XDG_RUNTIME_DIR/tern-rm, else /run/tern-rm. TERN_EINVAL if too long. */
int tern__rm_registry_dir(const char *given, char *out, size_t cap);
/* Absolute, no empty/"."/".." parts, no trailing '/' (but "/" itself). */
bool tern__rm_path_valid(const char *path);
/* Socket file name of an attach: "f." or "d." then the path with '/' as
 * '+' and every byte outside [A-Za-z0-9._-] as %XX. */
int tern__rm_name_encode(const char *path, bool dir, char *out, size_t cap);
int tern__rm_name_decode(const char *name, char *path, size_t cap, bool *dir);
/* Bind and listen on the attach's socket, replacing a stale entry.
 * TERN_EEXIST if someone listens there. *ino identifies our file. */
int tern__rm_listen(const char *dir, const char *path, bool isdir, int *fd,
                    char *sockpath, size_t cap, uint64_t *ino);
/* The same for an entry already named (name: a file name in dir). */
int tern__rm_listen_name(const char *dir, const char *name, int *fd,
                         char *sockpath, size_t cap, uint64_t *ino);
/* Connect to the entry name in dir: TERN_OK, TERN_ENOENT if none lives. */
int tern__rm_connect_name(const char *dir, const char *name, int *fd);
/* tern_rm_attach's second half: a listening fd into an attach. */
int tern__rm_attach_fd(tern_rm_dispatch *d, const char *path, unsigned flags,
                       bool mount_type, const tern_rm_connect_funcs *cf,
                       const tern_rm_io_funcs *iof, tern_rm_attr *attr,
                       tern_rm_attach_h **out);
/* Unlink sockpath if it is still the file we bound (ino). */
void tern__rm_unlisten(const char *sockpath, uint64_t ino);
/* Longest-prefix resolution and connect (SOCK_CLOEXEC, blocking).
 * rest gets the remainder of path for the attach found. TERN_ENOENT if
 * no live entry covers path. */
int tern__rm_resolve(const char *dir, const char *path, int *fd, char *rest,
                     size_t cap);
typedef void (*tern__rm_list_fn)(const char *path, bool isdir, bool live,
                                 void *ud);
int tern__rm_registry_list(const char *dir, tern__rm_list_fn fn, void *ud);

/* ---- server structures --------------------------------------------------- */

typedef struct tern__rm_conn tern__rm_conn;

/* A request awaiting its reply. */
typedef struct tern__rm_pend {
  uint32_t rid;
  uint8_t type;
  size_t cap; /* data the client takes (read nbytes, devctl size) */
} tern__rm_pend;

struct tern_rm_attach_h {
  tern_rm_dispatch *d;
  tern_rm_attach_h *next;
  char *path;
  unsigned flags;
  const tern_rm_connect_funcs *cf;
  const tern_rm_io_funcs *iof;
  tern_rm_attr *attr;
  bool mount_type; /* a mount type's entry (rm_mount.c), path is the type */
  uint64_t gen;    /* unique per dispatcher: tern_rm_detach_later's check */
  int fd;
  tern_io *io;
  uint64_t ino;
  char sockpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct tern_rm_ocb {
  tern_rm_attach_h *a;
  tern_rm_attr *attr;
  uint32_t oflag;
  int64_t offset;
  unsigned refs;
  void *data;
  char path[]; /* remainder it was opened with */
};

/* One client connection = one open (and its dups). */
struct tern__rm_conn {
  tern_rm_dispatch *d;
  tern__rm_conn *prev, *next;
  tern_rm_attach_h *a;
  uint32_t id;
  int fd;
  tern_io *io;
  tern_rm_cred cred;
  tern_rm_ocb *ocb;
  tern__rm_pend *pending; /* requests awaiting a reply */
  size_t npending, cap_pending;
  bool busy;         /* a handler of this connection is running */
  bool dead;         /* close when the handler returns */
  /* pool mode (rm_pool.c), under d->lock */
  struct tern__rm_job *jq_head, *jq_tail; /* received, not yet handled */
  unsigned njobs;
  tern__rm_conn *rq_next; /* in the pool's run queue */
  bool queued, running, gone, throttled;
};

struct tern_rm_ctx {
  tern_rm_dispatch *d;
  tern__rm_conn *c;
  uint32_t rid;       /* 0: no request (close on death) */
  uint8_t type;
  int64_t value;
  size_t reply_cap;   /* the client takes at most this much data */
  struct iovec parts[TERN_RM_MAX_PARTS];
  int nparts;
  uint8_t scratch[64]; /* small replies built by default handlers */
};

struct tern_rm_dispatch {
  tern_loop *loop;
  char registry[TERN__RM_DIR_MAX];
  size_t max_msg, max_conns, nconns;
  uint8_t *rbuf;
  size_t rbuf_len;
  tern_rm_attach_h *attaches;
  tern__rm_conn *conns;
  uint32_t next_conn_id;
  uint64_t next_attach_gen;
  atomic_uint posted; /* cross-thread replies (and pulses) still queued */
  struct tern__rm_tabs *tabs; /* pulse_attach, message_attach (rm_pulse.c);
                                 the pointer and the tables under lock */
  _Atomic(tern_fi *) fi;      /* tern_rm_dispatch_set_fi */
  bool freeing;
  size_t max_memfd;
  /* guards conns, nconns, pending lists, attr counters and the pool's
   * queues (rm_pool.c); never held while a handler runs */
  pthread_mutex_t lock;
  struct tern__rm_pool *pool; /* NULL: handlers run on the loop thread */
};

/* ---- rm_ocb.c ----------------------------------------------------------- */
/* attr: the OCB's attribute (QNX iofunc_ocb_attach's); NULL: the attach's */
int tern__rm_ocb_new(tern__rm_conn *c, const char *path, uint32_t oflag,
                     tern_rm_attr *attr, tern_rm_ocb **out);
/* close_ocb handler, counters, free. */
void tern__rm_ocb_release(tern_rm_ctx *ctx, tern_rm_ocb *ocb);
void tern__rm_ctx_init(tern_rm_ctx *ctx, tern__rm_conn *c, uint32_t rid,
                       uint8_t type);

/* ---- rm_dispatch.c --------------------------------------------------------- */
/* Send a reply on c now. Data beyond ctx-less cap is cut. A failed send
 * marks the connection dead (closed now, or after its handler returns). */
void tern__rm_send_reply(tern__rm_conn *c, uint8_t type, uint32_t rid,
                         int status, int64_t value, const struct iovec *iov,
                         int nparts, size_t cap);
/* Drop rid from c's pending list into *out; false if it was not there. */
bool tern__rm_pending_take(tern__rm_conn *c, uint32_t rid, tern__rm_pend *out);
int tern__rm_pending_add(tern__rm_conn *c, uint32_t rid, uint8_t type,
                         size_t cap);
void tern__rm_conn_close(tern__rm_conn *c);
tern__rm_conn *tern__rm_conn_find(tern_rm_dispatch *d, uint32_t id);

/* One datagram received on c (n bytes, of which min(n, max_msg) are in
 * buf; fd: a descriptor passed with it, or -1), decoded, handled and
 * answered; owns fd. Loop thread, or c's pool thread. */
void tern__rm_conn_input(tern__rm_conn *c, const uint8_t *buf, size_t n,
                         int fd);
#define TERN__RM_FD_BAD (-2) /* fd: descriptors came, but not one alone */
/* c cannot go on (undecodable, a failed send): closed now in loop mode,
 * shut down in pool mode (the loop then sees its end). */
void tern__rm_conn_fail(tern__rm_conn *c);
void tern__rm_conn_free(tern__rm_conn *c);
bool tern__rm_pending_has(tern__rm_conn *c, uint32_t rid);
/* Count a call posted to the loop (tern_loop_call) / its end; the
 * dispatcher outlives its posted calls. */
void tern__rm_posted_begin(tern_rm_dispatch *d);
void tern__rm_posted_end(tern_rm_dispatch *d);

/* ---- rm_memfd.c: large buffers ---------------------------------------------- */
/* fd is a memfd of exactly len bytes sealed against shrinking, growing
 * and writing: TERN_OK, else TERN_EPROTO. */
int tern__rm_memfd_check(int fd, size_t len);
/* A sealed memfd holding the parts (total bytes). */
int tern__rm_memfd_make(const struct iovec *iov, int n, size_t total, int *fd);
/* WRITE_FD on the server: check fd against m, map it read-only and point
 * m->data at it. TERN_EMSGSIZE past max_memfd, TERN_EPROTO if malformed. */
int tern__rm_memfd_map(tern_rm_dispatch *d, tern__rm_msg *m, int fd,
                       void **map);
void tern__rm_memfd_unmap(void *map, size_t len);
/* sendmsg with fd (>= 0) as SCM_RIGHTS. Returns sendmsg's result. */
ssize_t tern__rm_sendmsg_fd(int sock, struct msghdr *mh, int fd, int flags);

/* ---- rm_mount.c -------------------------------------------------------------- */
int tern__rm_do_mount(tern_rm_ctx *ctx, const tern__rm_msg *m);
bool tern__rm_mount_type_valid(const char *type);

/* ---- rm_pool.c ------------------------------------------------------------------ */
/* Pool mode: queue a received datagram on c (copied) / c's end. Loop
 * thread. */
void tern__rm_pool_submit(tern__rm_conn *c, const uint8_t *buf, size_t n,
                          int fd);
void tern__rm_pool_gone(tern__rm_conn *c);
/* Close the connections of a (all if NULL) and wait for them. */
void tern__rm_pool_close_conns(tern_rm_dispatch *d, tern_rm_attach_h *a);
void tern__rm_pool_stop(tern_rm_dispatch *d);

/* ---- rm_io.c: one received message to its handler ---------------------------- */
void tern__rm_handle(tern__rm_conn *c, tern__rm_msg *m);
/* A connection goes away: close_dup per handle, close_ocb. */
void tern__rm_conn_drop_ocb(tern__rm_conn *c);

/* ---- rm_notify.c, rm_pulse.c: notify lists, pulses, private messages -- */
int tern__rm_do_notify(tern_rm_ctx *ctx, const tern__rm_msg *m, tern_rm_ocb *o);
int tern__rm_do_priv(tern_rm_ctx *ctx, const tern__rm_msg *m);
/* A client's PULSE (no reply), on c's thread like its requests; a
 * malformed one fails c (tern__rm_conn_fail). */
void tern__rm_do_pulse(tern__rm_conn *c, const tern__rm_msg *m);
/* One PULSE to c's client, under c->d->lock (any thread; never closes c,
 * never logs). TERN_ENOENT if c is dead; a failed send shuts the socket
 * down so the loop closes the connection (TERN_ECONNRESET). */
int tern__rm_send_pulse(tern__rm_conn *c, int code, uint32_t conds,
                        int64_t value);
void tern__rm_tabs_free(tern_rm_dispatch *d);
/* A fault point of tern_rm_dispatch_set_fi's fi (false without one). */
bool tern__rm_fi_hit(tern_rm_dispatch *d, const char *name);

/* ---- rmc.c for rmc_notify.c (the client's notify, pulses, private) ---- */
typedef struct tern_rmc tern_rmc;
uint32_t tern__rmc_rid(tern_rmc *h);
/* A request and its reply: the transport's error, else the server's
 * status; *value and *out_len (may be NULL) from the reply. */
int tern__rmc_call(tern_rmc *h, uint32_t rid, uint8_t *head, size_t head_len,
                   const void *data, size_t data_len, void *out, size_t cap,
                   int64_t *value, size_t *out_len);
/* One datagram, no reply (PULSE). */
int tern__rmc_send(tern_rmc *h, uint8_t *buf, size_t len);
/* The queue of pulses that came while a call waited for its reply. */
bool tern__rmc_pulse_pop(tern_rmc *h, tern_rm_pulse *out);
size_t tern__rmc_pulse_count(const tern_rmc *h);

#endif /* TERN_RM_INTERNAL_H */
