/* ternfs.h: the FUSE bridge: mounts a resource-manager registry
 * (tern/rm.h) on a directory so ordinary programs (cat, echo, ioctl)
 * reach the same handlers tern_rmc_* clients do. Used by the ternfs
 * program (main.c) and by `ternd --fuse MNT`; built only with libfuse3
 * (TERN_ENABLE_FUSE).
 *
 * The bridge is a client like any other (tern/rmc.h): one rmc handle per
 * open file, on the bridge's own threads (a small fixed pool reading
 * /dev/fuse), so it never runs on, nor blocks, a server's loop; inside
 * ternd it talks to ternd's dispatcher through the registry's sockets.
 *
 * Mapping (FUSE low-level op -> resource manager):
 *   lookup/getattr  registry list (tern_rmc_list): a path that is a live
 *                   name is a file (open + stat + close on the server; the
 *                   node's mode bits; every non-directory type is shown as
 *                   a regular file, so the kernel never treats it as a
 *                   device number); a path above names, or a directory
 *                   attach, is a directory; a path below a directory
 *                   attach is asked of its server (open + stat).
 *   readdir         the registry's names under the directory (a directory
 *                   attach's own children are unknown: only lookups reach
 *                   them)
 *   open            tern_rmc_open with the caller's O_ACCMODE, O_APPEND,
 *                   O_NONBLOCK; direct I/O (no page cache: every read and
 *                   write reaches the server); a node whose stat type is not
 *                   S_IFREG (e.g. S_IFCHR) is opened non-seekable
 *   read/write      tern_rmc_read/write; the bridge follows the server's
 *                   offset: when the kernel's offset differs from where the
 *                   last call left it (pread, lseek), it first sends
 *                   tern_rmc_lseek(SEEK_SET); never for non-seekable nodes
 *                   or O_APPEND writes. Writes are cut into 32 KiB messages;
 *                   a short take by the server ends the write there.
 *   ioctl           tern_rmc_devctl with the command as is: FUSE's restricted
 *                   ioctl copies _IOC_SIZE(cmd) bytes in for _IOC_WRITE and
 *                   out for _IOC_READ, exactly the devctl's data (tern/rm.h
 *                   numbers are valid _IOC values); the devctl's ret_val is
 *                   ioctl's return value. Refused: 32-bit compat calls
 *                   (ENOSYS), directories (ENOTTY). The VFS answers some
 *                   numbers itself and never forwards them (FIOCLEX,
 *                   FIONBIO, FIOASYNC, FIOQSIZE, FIONREAD, FIGETBSZ, FIFREEZE,
 *                   FS_IOC_* ...: types 'T', 'X', 'f', 0x94).
 *   flush           close(2) of one descriptor: tern_rmc_dup + tern_rmc_close,
 *                   so the server's close_dup runs and the OCB stays
 *   release         the last descriptor: tern_rmc_close (close_dup, then
 *                   close_ocb)
 *   interrupt       tern_rmc_unblock on the handle's call in flight: the
 *                   server's unblock handler answers (TERN_ECANCELED ->
 *                   EINTR)
 *   setattr         size changes (O_TRUNC) and times are accepted and
 *                   ignored; mode/owner changes: EPERM
 *   poll            tern_rmc_notify with the polled events (POLLIN: input,
 *                   POLLOUT: output, POLLPRI: out-of-band); with none
 *                   ready, armed (POLLARM) and the kernel told by
 *                   fuse_lowlevel_notify_poll when the pulse comes; a
 *                   server gone reads as POLLHUP|POLLERR. So poll, select
 *                   and epoll (level-triggered) work on nodes.
 * Not supported: create, mknod, unlink, rename, links, xattrs, mmap of
 * nodes (direct I/O).
 *
 * Permissions: the kernel checks the node's mode against the caller
 * (default_permissions); servers see the bridge's own credentials. The
 * mount is the mounting user's alone unless allow_other is set.
 */
#ifndef TERNFS_H
#define TERNFS_H

#include <stdbool.h>

typedef struct ternfs ternfs;

typedef struct ternfs_opts {
  const char *registry; /* NULL: as tern_rmc_opts.registry */
  int threads;          /* FUSE worker threads [4]; blocking calls beyond
                           threads - 1 wait for a free one */
  int timeout_ms;       /* per call on an open file; 0: none (a blocked
                           reader waits until interrupted, as on QNX) */
  int lookup_timeout_ms; /* lookups/getattr (open + stat) [5000] */
  bool allow_other;     /* -o allow_other (needs user_allow_other or root) */
  bool debug;           /* libfuse's request trace on stderr */
} ternfs_opts;

/* Mount the registry on mnt (an existing directory) and start the
 * threads. TERN_ENOENT: no /dev/fuse; TERN_EIO: the mount failed (libfuse
 * says why on stderr). */
int ternfs_start(ternfs **out, const char *mnt, const ternfs_opts *opts);
/* Unmount (lazily: open files keep working until closed) and tell the
 * threads to stop; does not wait for them. */
void ternfs_unmount(ternfs *fs);
/* ternfs_unmount if not done, wait for the threads, free. */
void ternfs_free(ternfs *fs);

#endif
