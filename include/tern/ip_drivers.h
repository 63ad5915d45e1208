/* tern/ip_drivers.h: network interface drivers for the built-in stack.
 *
 *  - wire: an in-memory Ethernet cable joining two netifs (usually of two
 *    stacks in one process), with impairments for tests: loss,
 *    reordering, duplication, corruption, delay and a rate limit, all
 *    driven by a seeded generator so a failing run can be repeated.
 *  - pcap: wraps any netif's driver and writes every frame in and out to
 *    a pcap file (LINKTYPE_ETHERNET) that Wireshark and tcpdump open.
 *  - tap: a Linux TAP device (/dev/net/tun) with the vnet header, so the
 *    kernel hands over and accepts TCP super-segments with checksums
 *    left to the other side (TSO/checksum offload).
 *
 * All of them run on the stack's thread; none has a thread of its own.
 */
#ifndef TERN_IP_DRIVERS_H
#define TERN_IP_DRIVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/ip.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- in-memory wire ----------------------------------------------------- */

typedef struct tern_wire tern_wire;

/* Impairments of one direction. Probabilities are per frame, 0..1. */
typedef struct tern_wire_impair {
  double loss;        /* drop */
  double dup;         /* deliver twice */
  double reorder;     /* hold back and deliver after the next frame */
  double corrupt;     /* flip one random bit (checksums must catch it) */
  uint32_t delay_ms;  /* one-way latency */
  uint32_t jitter_ms; /* + uniform 0..jitter (may reorder) */
  uint64_t rate_bps;  /* bits per second, 0: unlimited (frames are sent
                         one after another at this rate, then delayed) */
  uint32_t queue_max; /* bytes the wire holds per direction, queued,
                         delayed or held for reordering; a frame beyond
                         it is dropped (tail drop, queue_drop). Default:
                         256 KiB with a rate limit; without one, no queue
                         (only a 64 MiB safety cap) */
} tern_wire_impair;

/* A wire with two ends; tern_wire_end(w, 0/1) are netif drivers to use in
 * tern_netif_opts (driver = tern_wire_driver(), driver_state = the end).
 * seed: for the impairment generator. */
TERN_API int tern_wire_new(tern_wire **out, uint64_t seed);
TERN_API void tern_wire_free(tern_wire *w);
TERN_API const tern_netif_driver *tern_wire_driver(void);
TERN_API void *tern_wire_end(tern_wire *w, int end);
/* Attach the netif of an end (after tern_netif_add with the end's
 * driver_state): frames that reach this end are fed to it. NULL detaches
 * (frames to it are dropped, counted in rx_nomem). Free the stacks, or
 * detach, before tern_wire_free. */
TERN_API void tern_wire_attach(tern_wire *w, int end, tern_netif *nif);
/* Impairments of frames SENT from end `from` (0 or 1). */
TERN_API void tern_wire_set_impair(tern_wire *w, int from,
                                   const tern_wire_impair *imp);
/* Deliver every frame due by now_ms (in both directions, into the
 * attached netifs, each copied into a chain of the receiving stack's
 * pool). Frames sent with no delay are due at once. Frames sent by the
 * receivers while this runs wait for the next call (never delivered from
 * inside a driver call: no recursion between stacks). Returns the number
 * delivered. */
TERN_API int tern_wire_deliver(tern_wire *w, uint64_t now_ms);
/* The earliest time a held frame is due, UINT64_MAX if none. */
TERN_API uint64_t tern_wire_next_due(const tern_wire *w);
/* Frames dropped/duplicated/reordered/corrupted/delivered so far. */
typedef struct tern_wire_stats {
  uint64_t sent, delivered, lost, dup, reordered, corrupted, queue_drop;
  uint64_t rx_nomem;  /* the receiving stack's pool was dry (or no netif
                         attached at that end): dropped at delivery */
  uint64_t gso_segs;  /* segments cut from TSO super-frames */
  uint64_t bytes;     /* bytes delivered */
} tern_wire_stats;
TERN_API void tern_wire_get_stats(const tern_wire *w, int from,
                                  tern_wire_stats *out);

/* Run two stacks joined by a wire until cond(ud) is true (returns true)
 * or the virtual clock would pass limit_ms (returns false, *now_ms =
 * limit_ms) or nothing is due anywhere (returns false, *now_ms is the
 * last event's time). Time jumps to the earliest of both stacks'
 * next_due and the wire's, so a 10 s retransmission test takes
 * milliseconds. cond NULL: run until idle or limit. b may equal a or be
 * NULL. Test helper. */
TERN_API bool tern_wire_run(tern_wire *w, tern_stack *a, tern_stack *b,
                            uint64_t *now_ms, uint64_t limit_ms,
                            bool (*cond)(void *ud), void *ud);

/* ---- pcap writer --------------------------------------------------------- */

typedef struct tern_pcap tern_pcap;
/* Link types of the global header (tcpdump.org/linktypes.html). */
enum {
  TERN_PCAP_ETHERNET = 1, /* LINKTYPE_ETHERNET: Ethernet netifs */
  TERN_PCAP_RAW = 101,    /* LINKTYPE_RAW: bare IP netifs */
};
/* Create (truncate) path and write the global header: magic 0xa1b2c3d4
 * (microsecond timestamps), LINKTYPE_ETHERNET. snaplen 0: 65535. Then
 * wrap a netif's driver with tern_pcap_wrap (frames out and, for the wire
 * and TAP drivers, frames in are recorded), or call tern_pcap_write. */
TERN_API int tern_pcap_open(tern_pcap **out, const char *path,
                            uint32_t snaplen);
/* The same with another link type (TERN_PCAP_RAW for bare IP netifs). */
TERN_API int tern_pcap_open_linktype(tern_pcap **out, const char *path,
                                     uint32_t snaplen, uint32_t linktype);
/* Timestamps are the stack's time (ms) plus offset_us: e.g.
 * tern_clock_wall_us() - tern_clock_us() for wall-clock times when the
 * stack runs on tern_clock_ms(). [0] */
TERN_API void tern_pcap_set_time_offset(tern_pcap *pc, int64_t offset_us);
/* Flush and close. A wrapped netif must be gone first (tern_netif_remove
 * or tern_stack_free): its driver table lives in pc. */
TERN_API void tern_pcap_close(tern_pcap *pc);
/* Push what is buffered to the file; TERN_EIO if a write failed (the
 * writer stops at the first failure: no torn records after it). */
TERN_API int tern_pcap_flush(tern_pcap *pc);
/* Frames recorded so far. */
TERN_API uint64_t tern_pcap_frames(const tern_pcap *pc);
/* Record one frame (direction is not stored in classic pcap). time_us:
 * wall or virtual microseconds for the record header. */
TERN_API void tern_pcap_write(tern_pcap *pc, const tern_pbuf *frame,
                              uint64_t time_us);
/* Make opts->driver record through pc (before tern_netif_add): opts->driver
 * becomes a table inside pc that records each frame out, then calls the
 * original driver; opts->driver_state is left alone, so the original
 * driver finds its state as before. Frames the wire and TAP drivers feed
 * to this netif are recorded too. Timestamps are the stack's time
 * (tern_stack_now). One netif per writer: TERN_EBUSY for a second. */
TERN_API int tern_pcap_wrap(tern_pcap *pc, tern_netif_opts *opts);
/* Feed a received frame to nif, recording it first (for drivers other
 * than the wire and TAP, which do it themselves). */
TERN_API void tern_pcap_input(tern_pcap *pc, tern_netif *nif, tern_pbuf *frame,
                              bool csum_ok);

/* ---- Linux TAP ------------------------------------------------------------- */

typedef struct tern_tap tern_tap;
typedef struct tern_tap_opts {
  const char *ifname;  /* "tern0"; created if missing (needs CAP_NET_ADMIN) */
  bool no_offload;     /* no vnet header: plain frames, no TSO/csum */
  uint32_t rx_batch;   /* frames read per tern_tap_poll call [64] */
} tern_tap_opts;
/* Open /dev/net/tun and create (or attach to) the TAP device, non-
 * blocking, with the vnet header unless no_offload. The link is left as
 * it is (ip link set IFNAME up is the caller's job). */
TERN_API int tern_tap_open(tern_tap **out, const tern_tap_opts *opts);
/* Close the device (it goes away unless made persistent elsewhere). May
 * be called before or after the stack is freed. */
TERN_API void tern_tap_close(tern_tap *t);
/* The file descriptor to watch for reading (loop or select). */
TERN_API int tern_tap_fd(const tern_tap *t);
/* The device's name (the kernel's choice if opts gave a pattern). */
TERN_API const char *tern_tap_name(const tern_tap *t);
/* Fill in opts' driver, driver_state, flags (ETHERNET, plus TX_CSUM and
 * TSO with the vnet header), mac (random locally administered if zero)
 * and tso_max. */
TERN_API void tern_tap_netif_opts(tern_tap *t, tern_netif_opts *opts);
/* After tern_netif_add: the netif frames are fed into. */
TERN_API void tern_tap_attach(tern_tap *t, tern_netif *nif);
/* Read up to rx_batch frames and feed them. Returns frames fed, 0 if
 * none were waiting, or a negative tern_err. */
TERN_API int tern_tap_poll(tern_tap *t);
/* Counters of the device (frames, not bytes). */
typedef struct tern_tap_stats {
  uint64_t rx_frames;       /* fed to the netif */
  uint64_t rx_csum_partial; /* NEEDS_CSUM: finished in software */
  uint64_t rx_csum_valid;   /* DATA_VALID: the kernel checked it */
  uint64_t rx_gso;          /* TCP super-frames (TSO from the kernel) */
  uint64_t rx_drop;         /* no pool memory, runt, bad vnet header,
                               impairment loss */
  uint64_t tx_frames, tx_gso, tx_csum_partial;
  uint64_t tx_eagain;       /* device queue full: dropped */
  uint64_t tx_err;
} tern_tap_stats;
TERN_API void tern_tap_get_stats(const tern_tap *t, tern_tap_stats *out);
/* Impairments applied to received frames (tests with the kernel as the
 * peer: netem is not available everywhere). Only loss and reorder; a
 * frame held back for reordering goes after the next one read in the
 * same tern_tap_poll call (never later: the tap holds no pool memory
 * between calls, so it may be closed after the stack is freed). */
TERN_API void tern_tap_set_impair(tern_tap *t, double loss, double reorder,
                                  uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif /* TERN_IP_DRIVERS_H */
