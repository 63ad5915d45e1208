/* tern/ternd_ctl.h: ternd's control nodes (resource-manager names served
 * by `ternd --rm`) and their devctl commands, for ternctl and C programs
 * (tern_rmc_devctl, or ioctl() on a node reached through the FUSE bridge:
 * every command is a valid Linux _IOC number, see tern/rm.h).
 *
 * Names, under the prefix given by --rm-prefix (default /dev/tern):
 *   state        read: the system state's name and a newline
 *                ("OPERATIONAL\n"); devctl TERND_STATE_GET
 *   status       read: the JSON of /api/status
 *   metrics      read: the Prometheus text of /metrics
 *   log          read: "level NAME\n"; write a level name ("debug") to set
 *                it; devctls TERND_LOG_*
 *   sample       QNX's sample device (resource-manager guide): an int32
 *                behind GETVAL/SETVAL/SETGET, and a message queue: a write
 *                appends one message (at most TERND_SAMPLE_MSG_MAX bytes
 *                taken per write; TERN_EAGAIN when TERND_SAMPLE_QUEUE_MAX
 *                messages wait), a read pops the oldest (cut to the
 *                reader's buffer, the rest of that message is dropped, as
 *                QNX's sample does). Empty queue: a read returns 0 bytes
 *                (end of data, as QNX's sample), or TERN_EAGAIN if the
 *                node was opened O_NONBLOCK. TERND_SAMPLE_WAIT blocks until
 *                a message is queued (unblockable: a client timeout or a
 *                FUSE interrupt ends it with TERN_ECANCELED).
 *   net/IFNAME   with --tap: the stack's interface; read: a text summary;
 *                devctls TERND_NET_*
 * Text nodes (state, status, metrics, log, net/IFNAME) are made when read at
 * offset 0 (a snapshot per open, like /proc's seq files); later reads
 * continue in that snapshot. Commands that change the system (TERND_LOG_
 * SET_*, TERND_NET_SET_*) need the node opened for writing (TERN_EBADF).
 */
#ifndef TERN_TERND_CTL_H
#define TERN_TERND_CTL_H

#include <stdint.h>

#include "tern/rm.h"

/* Command classes (Linux _IOC_TYPE). 0x01 (ALL) and 0x05 (MISC) are
 * tern/rm.h's. All are far below the types the Linux VFS answers itself
 * ('T' 0x54, 'X' 0x58, 'f' 0x66, 0x94), so the FUSE bridge sees them. */
#define TERND_DCMD_CLASS_SYS 0x06u
#define TERND_DCMD_CLASS_LOG 0x07u
#define TERND_DCMD_CLASS_NET 0x08u

/* ---- sample: the numbers of examples/rm_sample.c ---------------------- */
#define TERND_SAMPLE_GETVAL TERN_DIOF(TERN_DCMD_CLASS_MISC, 1, int32_t)
#define TERND_SAMPLE_SETVAL TERN_DIOT(TERN_DCMD_CLASS_MISC, 2, int32_t)
/* sets the new value, answers the previous one in place */
#define TERND_SAMPLE_SETGET TERN_DIOTF(TERN_DCMD_CLASS_MISC, 3, int32_t)
/* messages queued now */
#define TERND_SAMPLE_COUNT TERN_DIOF(TERN_DCMD_CLASS_MISC, 4, int32_t)
/* wait until a message is queued; answers the count */
#define TERND_SAMPLE_WAIT TERN_DIOF(TERN_DCMD_CLASS_MISC, 5, int32_t)
#define TERND_SAMPLE_MSG_MAX 4096u
#define TERND_SAMPLE_QUEUE_MAX 64u

/* ---- state ------------------------------------------------------------- */
/* the tern_sys_state number (tern/sys.h) */
#define TERND_STATE_GET TERN_DIOF(TERND_DCMD_CLASS_SYS, 1, int32_t)

/* ---- log (tern/base.h logging) ----------------------------------------- */
#define TERND_LOG_GET_LEVEL TERN_DIOF(TERND_DCMD_CLASS_LOG, 1, int32_t)
#define TERND_LOG_SET_LEVEL TERN_DIOT(TERND_DCMD_CLASS_LOG, 2, int32_t)
typedef struct ternd_ctl_log_subsys {
  char subsys[16]; /* NUL-ended, as tern_log_set_subsys_level wants */
  int32_t level;   /* TERN_LOG_ERROR .. TERN_LOG_TRACE */
} ternd_ctl_log_subsys;
#define TERND_LOG_SET_SUBSYS \
  TERN_DIOT(TERND_DCMD_CLASS_LOG, 3, ternd_ctl_log_subsys)

/* ---- net/IFNAME ---------------------------------------------------------- */
typedef struct ternd_ctl_ifaddr { /* network byte order */
  uint8_t addr[4];
  uint8_t mask[4]; /* contiguous, else TERN_EINVAL */
  uint8_t gw[4];   /* 0.0.0.0: none */
} ternd_ctl_ifaddr;
typedef struct ternd_ctl_ifstats {
  uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, rx_drop, tx_drop;
} ternd_ctl_ifstats;
#define TERND_NET_GET_ADDR TERN_DIOF(TERND_DCMD_CLASS_NET, 1, ternd_ctl_ifaddr)
#define TERND_NET_SET_ADDR TERN_DIOT(TERND_DCMD_CLASS_NET, 2, ternd_ctl_ifaddr)
#define TERND_NET_GET_UP TERN_DIOF(TERND_DCMD_CLASS_NET, 3, int32_t)
#define TERND_NET_SET_UP TERN_DIOT(TERND_DCMD_CLASS_NET, 4, int32_t)
#define TERND_NET_GET_STATS \
  TERN_DIOF(TERND_DCMD_CLASS_NET, 5, ternd_ctl_ifstats)
#define TERND_NET_GET_MTU TERN_DIOF(TERND_DCMD_CLASS_NET, 6, int32_t)

/* Every command with the name ternctl knows it by and the kind of its
 * data (for parsing and printing): X(name, number, kind). Kinds: NONE,
 * I32, LEVEL (int32: a level name or number), SUBSYS, IFADDR, IFSTATS. */
#define TERND_CTL_COMMANDS(X)                        \
  X("getval", TERND_SAMPLE_GETVAL, I32)              \
  X("setval", TERND_SAMPLE_SETVAL, I32)              \
  X("setget", TERND_SAMPLE_SETGET, I32)              \
  X("count", TERND_SAMPLE_COUNT, I32)                \
  X("wait", TERND_SAMPLE_WAIT, I32)                  \
  X("state", TERND_STATE_GET, I32)                   \
  X("get-level", TERND_LOG_GET_LEVEL, LEVEL)         \
  X("set-level", TERND_LOG_SET_LEVEL, LEVEL)         \
  X("set-subsys-level", TERND_LOG_SET_SUBSYS, SUBSYS) \
  X("get-addr", TERND_NET_GET_ADDR, IFADDR)          \
  X("set-addr", TERND_NET_SET_ADDR, IFADDR)          \
  X("get-up", TERND_NET_GET_UP, I32)                 \
  X("set-up", TERND_NET_SET_UP, I32)                 \
  X("get-stats", TERND_NET_GET_STATS, IFSTATS)       \
  X("get-mtu", TERND_NET_GET_MTU, I32)               \
  X("getflags", TERN_DCMD_ALL_GETFLAGS, I32)         \
  X("setflags", TERN_DCMD_ALL_SETFLAGS, I32)

#endif /* TERN_TERND_CTL_H */
