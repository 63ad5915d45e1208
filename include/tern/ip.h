/* tern/ip.h: tern's own TCP/IP stack (IPv4): stack instances, packet
 * buffers, network interfaces, and the raw UDP and TCP callback APIs.
 *
 * The model is lwIP's raw API, without its file-scope state: everything
 * lives in a tern_stack, so two stacks can run in one process (joined by
 * the in-memory wire, tern/ip_drivers.h), which is how most tests run.
 *
 * Threading: a stack is single-threaded. Every call below (except the
 * pbuf accessors on a pbuf you own) must be made on the thread that drives
 * the stack: the one calling tern_stack_input() / tern_stack_advance(), or
 * from inside a callback. Other threads use the api layer (netconn,
 * sockets) or tern_loop_call() when the stack runs under a tern loop.
 *
 * Time: the stack has no clock of its own. Its driver tells it the time in
 * milliseconds with tern_stack_advance(st, now_ms), which also runs every
 * timer that is due; tern_stack_next_due() says when to call it next. A
 * superloop on a microcontroller feeds frames and calls advance; the "ip"
 * backend of the connection API does the same from a tern loop.
 *
 * Addresses in this API are tern_addr (family TERN_AF_INET; the port in
 * host order), as everywhere in tern.
 */
#ifndef TERN_IP_H
#define TERN_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/base.h"
#include "tern/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_stack tern_stack;
typedef struct tern_netif tern_netif;
typedef struct tern_pbuf tern_pbuf;
typedef struct tern_udp tern_udp;
typedef struct tern_tcp tern_tcp;
typedef struct tern_raw tern_raw;

/* ------------------------------------------------------------------ */
/* Stack instances                                                     */
/* ------------------------------------------------------------------ */

/* Every field may be left 0 for its default (given in brackets). */
typedef struct tern_stack_opts {
  /* The packet-buffer budget: one arena of pool_bytes carved into
   * fixed-size blocks at creation; every packet, queued segment and
   * reassembly buffer comes from it, so the stack never uses more. When
   * it runs dry the stack drops frames or refuses writes (TERN_ENOMEM);
   * it never crashes or wedges. [4 MiB] */
  size_t pool_bytes;
  /* Caller-provided memory for the arena (pool_bytes long, 8-aligned),
   * e.g. a static array on a microcontroller. NULL: allocated. */
  void *pool_mem;
  /* Usable bytes per pool block. [1600: one Ethernet frame plus room] */
  uint32_t pool_block;
  /* Protocol control blocks, each a small allocation counted here. */
  uint32_t max_tcp;       /* TCP pcbs, listeners included [4096] */
  uint32_t max_time_wait; /* pcbs in TIME_WAIT, global [512]; when full
                             the oldest is reused (RFC 6191 spirit) */
  uint32_t max_udp;       /* UDP pcbs [64] */
  /* TCP defaults for new pcbs (each settable per pcb). */
  uint32_t tcp_snd_buf;   /* bytes queued for sending per pcb [256 KiB] */
  uint32_t tcp_rcv_wnd;   /* receive window per pcb [256 KiB] */
  uint32_t tcp_ooseq_max; /* out-of-order bytes held per pcb [rcv_wnd] */
  uint32_t tcp_msl_ms;    /* maximum segment lifetime; TIME_WAIT = 2 MSL
                             [30000] */
  uint32_t tcp_syn_backlog; /* half-open connections per listener before
                               SYN cookies take over [64] */
  /* ARP. */
  uint32_t arp_entries;   /* cache size [64] */
  uint32_t arp_queue;     /* packets waiting for one resolution [4] */
  uint32_t arp_ttl_ms;    /* a learned entry lives this long [300000] */
  /* IPv4 fragment reassembly. */
  uint32_t reass_max_bytes;  /* held across all datagrams [64 KiB] */
  uint32_t reass_timeout_ms; /* per datagram [15000] */
  uint8_t ttl;               /* default TTL of sent datagrams [64] */
  /* Random bytes (ISN secret, ephemeral ports, IP ids); NULL: the port
   * layer's tern_random(). On a microcontroller, the hardware RNG. */
  int (*random)(void *ud, void *buf, size_t len);
  void *random_ud;
} tern_stack_opts;

TERN_API int tern_stack_new(tern_stack **out, const tern_stack_opts *opts);
/* Frees every pcb (their err callbacks do NOT run: the owner is tearing
 * down) and every netif's state; the drivers' own resources belong to
 * whoever created them and must be released after this. */
TERN_API void tern_stack_free(tern_stack *st);

/* Set the stack's time (milliseconds, monotonic, any origin) and run every
 * timer due by then: TCP retransmission, delayed ACK, persist, keepalive,
 * TIME_WAIT, ARP and reassembly expiry, the poll callbacks. */
TERN_API void tern_stack_advance(tern_stack *st, uint64_t now_ms);
/* The stack's current time (the last value given to advance). */
TERN_API uint64_t tern_stack_now(const tern_stack *st);
/* The TTL of sent datagrams when a pcb sets none (opts.ttl). */
TERN_API uint8_t tern_stack_ttl(const tern_stack *st);
/* The earliest time a timer is due, UINT64_MAX if none. */
TERN_API uint64_t tern_stack_next_due(const tern_stack *st);

/* Fault injection for tests: the nth allocation from now (1 = the next
 * one; pool blocks and pcbs alike) fails, then every later one too if
 * sticky, else only that one. 0 turns it off. */
TERN_API void tern_stack_fail_alloc(tern_stack *st, uint64_t nth, bool sticky);

/* Debug aid for threaded use (lwIP's LWIP_ASSERT_CORE_LOCKED): ok(ud) is
 * asked at the start of the raw TCP, UDP, raw-IP and IGMP calls, of
 * tern_pbuf_alloc/tern_pbuf_view (the pool has no lock, unlike lwIP's
 * memp) and of tern_netif_input (as lwIP's netif_input); if it says false
 * the program aborts, naming the call. A driver with a receive thread of
 * its own hands frames over with tern_tcpip_input (tern/netconn.h), the
 * way lwIP drivers call tcpip_input. The api layer's stack thread sets it
 * ("am I the stack thread or the lock holder?"). Checked in builds with
 * TERN_IP_CTX_CHECK (default: when NDEBUG is not defined, hosted builds);
 * elsewhere the call does nothing. NULL turns it off. */
TERN_API void tern_stack_set_ctx_check(tern_stack *st, bool (*ok)(void *ud),
                                       void *ud);

/* Counters, read at any time on the stack's thread. */
typedef struct tern_stack_stats {
  uint64_t eth_in, eth_out, eth_drop;
  uint64_t arp_in, arp_out, arp_drop;
  uint64_t ip_in, ip_out, ip_drop, ip_chksum_err, ip_frag_in, ip_reass_ok,
      ip_reass_drop, ip_noroute;
  uint64_t icmp_in, icmp_out;
  uint64_t igmp_in, igmp_out;
  uint64_t udp_in, udp_out, udp_drop, udp_chksum_err, udp_noport;
  uint64_t tcp_in, tcp_out, tcp_drop, tcp_chksum_err, tcp_rst_out,
      tcp_retrans, tcp_fast_retrans, tcp_rto, tcp_ooseq, tcp_dupack,
      tcp_accepts, tcp_connects, tcp_syn_cookies, tcp_challenge_ack,
      tcp_sack_rexmit;
  uint64_t mem_fail;          /* allocations refused (budget or injected) */
  uint32_t pool_blocks;       /* blocks in the arena */
  uint32_t pool_used;         /* blocks in use now */
  uint32_t pool_high;         /* most ever in use */
  uint32_t tcp_pcbs, tcp_time_wait, udp_pcbs; /* in use now */
} tern_stack_stats;
TERN_API void tern_stack_get_stats(const tern_stack *st, tern_stack_stats *out);

/* ------------------------------------------------------------------ */
/* Packet buffers                                                      */
/* ------------------------------------------------------------------ */
/* A packet is a chain of pbufs. Each pbuf has a reference count; a pbuf
 * you are handed in a callback is yours to free (tern_pbuf_free drops one
 * reference of every pbuf in the chain it heads). Data is never copied
 * between layers: headers are added in headroom reserved at allocation. */

typedef enum tern_pbuf_layer {
  TERN_PBUF_RAW = 0,       /* no headroom */
  TERN_PBUF_LINK = 1,      /* room for an Ethernet header */
  TERN_PBUF_IP = 2,        /* room for IP + Ethernet */
  TERN_PBUF_TRANSPORT = 3, /* room for TCP/UDP + IP + Ethernet */
} tern_pbuf_layer;

/* A chain with room for len bytes of data after `layer`'s headroom, from
 * the stack's pool (several blocks when len does not fit in one). NULL
 * when the pool is dry. */
TERN_API tern_pbuf *tern_pbuf_alloc(tern_stack *st, tern_pbuf_layer layer,
                                    size_t len);
/* A zero-copy view of caller memory: the pbuf points at data; when its
 * last reference goes, done(ud) runs (the memory may be reused then).
 * NULL when no pbuf header can be allocated. */
TERN_API tern_pbuf *tern_pbuf_view(tern_stack *st, const void *data,
                                   size_t len, void (*done)(void *ud),
                                   void *ud);
TERN_API void tern_pbuf_ref(tern_pbuf *p);
TERN_API void tern_pbuf_free(tern_pbuf *p);
TERN_API void *tern_pbuf_data(const tern_pbuf *p);
TERN_API size_t tern_pbuf_len(const tern_pbuf *p);      /* this pbuf */
TERN_API size_t tern_pbuf_tot_len(const tern_pbuf *p);  /* whole chain */
TERN_API tern_pbuf *tern_pbuf_next(const tern_pbuf *p);
/* Copy up to len bytes starting at chain offset off into dst; returns the
 * number copied. */
TERN_API size_t tern_pbuf_copy_out(const tern_pbuf *p, size_t off, void *dst,
                                   size_t len);
/* Copy len bytes from src into the chain at offset off; TERN_ENOSPC if the
 * chain is shorter. */
TERN_API int tern_pbuf_copy_in(tern_pbuf *p, size_t off, const void *src,
                               size_t len);
/* Append tail's chain to head's (head takes over the caller's reference
 * of tail). */
TERN_API void tern_pbuf_cat(tern_pbuf *head, tern_pbuf *tail);

/* ------------------------------------------------------------------ */
/* Network interfaces                                                  */
/* ------------------------------------------------------------------ */

/* Without TERN_NETIF_ETHERNET a netif carries bare IPv4 packets (a TUN
 * device, a point-to-point link, unit tests): no link header, no ARP. */
enum {
  TERN_NETIF_ETHERNET = 1u << 0, /* frames have Ethernet headers; ARP runs */
  /* Offloads a driver may announce (TAP with a vnet header does): */
  TERN_NETIF_TX_CSUM = 1u << 1,  /* it fills TCP/UDP checksums on output */
  TERN_NETIF_TSO = 1u << 2,      /* it cuts TCP super-segments at gso_mss */
};

/* A driver: a few functions. output() sends one frame (a pbuf chain with
 * the link header at its start). The chain is the stack's: the driver
 * must neither keep it nor a reference to it past the call (the stack
 * reuses the same pbufs for retransmission); a driver that delivers later
 * copies the bytes. Returns TERN_OK, or TERN_EAGAIN/TERN_ENOMEM when the
 * frame was dropped (TCP retransmits later). */
typedef struct tern_netif_driver {
  const char *name;
  int (*output)(tern_netif *nif, tern_pbuf *frame);
  /* Optional: read and feed frames that have arrived (superloop drivers).
   * Returns the number fed. */
  int (*poll)(tern_netif *nif);
  /* Optional: up/down changed. */
  void (*set_up)(tern_netif *nif, bool up);
  /* Optional (TERN_ENABLE_IGMP): let frames to this multicast MAC in
   * (add) or not any more. Called at the first join and the last leave of
   * each group; two groups may share one MAC (RFC 1112 6.4: 23 bits), so
   * a driver with a hardware filter counts. A driver that receives every
   * multicast frame (TAP) leaves it NULL; the stack filters by group. */
  int (*mcast_filter)(tern_netif *nif, const uint8_t mac[6], bool add);
} tern_netif_driver;

/* Offload metadata of an outgoing frame (TX_CSUM / TSO netifs). A
 * transport that leaves its checksum to the netif stores the
 * pseudo-header sum (folded, not complemented) in the checksum field and
 * sets csum_offset (16 TCP, 6 UDP), csum_start 0 and hdr_len its header
 * length; every layer that pushes a header in front adds its length to
 * csum_start and hdr_len. So a driver sees: csum_start = offset of the L4
 * header in the frame, hdr_len = all headers. csum_offset 0: checksums
 * are complete. */
typedef struct tern_tx_meta {
  uint16_t csum_start;  /* offset of the L4 header in the frame */
  uint16_t csum_offset; /* offset of the checksum field from csum_start */
  uint16_t gso_mss;     /* TCP payload per segment, 0: not a super-seg */
  uint16_t hdr_len;     /* link+IP+TCP header bytes */
} tern_tx_meta;
/* The metadata of a frame handed to output() (zeroed if none). */
TERN_API const tern_tx_meta *tern_pbuf_tx_meta(const tern_pbuf *frame);

typedef struct tern_netif_opts {
  const char *name;         /* "tap0", "wire1"; copied, up to 15 chars */
  unsigned flags;           /* TERN_NETIF_* */
  uint8_t mac[6];
  uint32_t mtu;             /* IP MTU [1500] */
  uint32_t tso_max;         /* largest super-segment with TSO [65535] */
  tern_addr addr;           /* IPv4 address (port ignored) */
  uint8_t prefix_len;       /* netmask as a prefix length, e.g. 24 */
  tern_addr gw;             /* default gateway through this netif, or any */
  const tern_netif_driver *driver;
  void *driver_state;       /* tern_netif_driver_state() returns it */
} tern_netif_opts;

/* Add an interface (down until tern_netif_set_up). The first netif with a
 * gateway is the default route. */
TERN_API int tern_netif_add(tern_stack *st, const tern_netif_opts *opts,
                            tern_netif **out);
TERN_API void tern_netif_remove(tern_netif *nif);
/* Up sends a gratuitous ARP announcement (RFC 5227 section 3). */
TERN_API void tern_netif_set_up(tern_netif *nif, bool up);
TERN_API bool tern_netif_is_up(const tern_netif *nif);
TERN_API int tern_netif_set_addr(tern_netif *nif, const tern_addr *addr,
                                 uint8_t prefix_len, const tern_addr *gw);
/* The address, prefix length and gateway now (0.0.0.0 for none; any of
 * the outputs may be NULL). */
TERN_API void tern_netif_get_addr(const tern_netif *nif, tern_addr *addr,
                                  uint8_t *prefix_len, tern_addr *gw);
TERN_API void *tern_netif_driver_state(const tern_netif *nif);
TERN_API tern_stack *tern_netif_stack(const tern_netif *nif);
TERN_API const char *tern_netif_name(const tern_netif *nif);
TERN_API uint32_t tern_netif_mtu(const tern_netif *nif);
/* Feed one received frame (the stack takes the chain, and frees it). The
 * frame starts with the link header. csum_ok: the driver has verified the
 * L4 checksum (TAP's DATA_VALID), the stack skips it. */
TERN_API void tern_netif_input(tern_netif *nif, tern_pbuf *frame, bool csum_ok);
/* Per-interface counters. */
typedef struct tern_netif_stats {
  uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, rx_drop, tx_drop;
} tern_netif_stats;
TERN_API void tern_netif_get_stats(const tern_netif *nif, tern_netif_stats *out);

/* ------------------------------------------------------------------ */
/* UDP (raw API)                                                       */
/* ------------------------------------------------------------------ */

/* A datagram arrived: p is yours (free it). from: the sender. A
 * broadcast or multicast datagram is one chain shared by every pcb bound
 * to its port (each holds a reference): read it, do not write into it. */
typedef void (*tern_udp_recv_fn)(void *arg, tern_udp *pcb, tern_pbuf *p,
                                 const tern_addr *from);

TERN_API tern_udp *tern_udp_new(tern_stack *st);
TERN_API void tern_udp_free(tern_udp *pcb);
/* Port 0 picks an ephemeral port; TERN_EADDRINUSE if taken. */
TERN_API int tern_udp_bind(tern_udp *pcb, const tern_addr *local);
TERN_API int tern_udp_connect(tern_udp *pcb, const tern_addr *peer);
TERN_API void tern_udp_disconnect(tern_udp *pcb);
TERN_API void tern_udp_recv(tern_udp *pcb, tern_udp_recv_fn fn, void *arg);
/* Send p as one datagram (the caller keeps its reference of p; the stack
 * adds headers in front, so allocate with TERN_PBUF_TRANSPORT or the
 * stack copies). to NULL: the connected peer. */
TERN_API int tern_udp_sendto(tern_udp *pcb, tern_pbuf *p, const tern_addr *to);
TERN_API int tern_udp_send(tern_udp *pcb, tern_pbuf *p);
/* Send out of nif without routing, also when nif has no address yet (the
 * source is then 0.0.0.0): what a DHCP client needs (RFC 2131 4.1). to
 * 255.255.255.255 goes to the link broadcast; a unicast to is resolved
 * with ARP on nif (through nif's gateway when off-link). The source is
 * the pcb's bound address, else nif's. Same ownership as sendto. */
TERN_API int tern_udp_sendto_netif(tern_udp *pcb, tern_pbuf *p,
                                   const tern_addr *to, tern_netif *nif);
TERN_API void tern_udp_local(const tern_udp *pcb, tern_addr *out);
/* The IP TTL (0: the stack's default, opts.ttl) and TOS of the
 * datagrams this pcb sends (IP_TTL, IP_TOS). */
TERN_API void tern_udp_set_ip(tern_udp *pcb, uint8_t ttl, uint8_t tos);

/* ------------------------------------------------------------------ */
/* Raw IPv4 (TERN_ENABLE_IP_RAW; lwIP's raw_pcb)                       */
/* ------------------------------------------------------------------ */
/* A raw pcb sees every IPv4 datagram of its protocol that the stack
 * accepts (addressed to it, a broadcast, a joined group), as a COPY with
 * payload at the IP header, in addition to the stack's own handling (an
 * ICMP echo is still answered by the stack). A protocol the stack does
 * not know gets no ICMP protocol unreachable while a raw pcb takes it.
 * p is yours (free it); from: the sender (port 0). The pcbs count
 * against opts.max_udp. */
typedef void (*tern_raw_recv_fn)(void *arg, tern_raw *pcb, tern_pbuf *p,
                                 const tern_addr *from);
/* proto: the IP protocol number (1 ICMP, 17 UDP ...; not 0). NULL: no
 * memory, or the limit. */
TERN_API tern_raw *tern_raw_new(tern_stack *st, uint8_t proto);
TERN_API void tern_raw_free(tern_raw *pcb);
/* Receive only datagrams to local (one of our addresses) / from peer,
 * and send from local / to peer by default. NULL or any: no filter. */
TERN_API int tern_raw_bind(tern_raw *pcb, const tern_addr *local);
TERN_API int tern_raw_connect(tern_raw *pcb, const tern_addr *peer);
TERN_API void tern_raw_recv(tern_raw *pcb, tern_raw_recv_fn fn, void *arg);
/* Send p (the protocol's header and data: checksums are the caller's)
 * as one datagram; the stack adds the IP header (source: the bound
 * address, else the route's). to NULL: the connected peer. The caller
 * keeps its reference of p (allocate with TERN_PBUF_IP to save a copy). */
TERN_API int tern_raw_sendto(tern_raw *pcb, tern_pbuf *p, const tern_addr *to);
/* TTL (0: the stack's default) and TOS of what the pcb sends. */
TERN_API void tern_raw_set_ip(tern_raw *pcb, uint8_t ttl, uint8_t tos);

/* ------------------------------------------------------------------ */
/* IPv4 multicast (TERN_ENABLE_IGMP; RFC 1112, IGMPv2 RFC 2236)        */
/* ------------------------------------------------------------------ */
/* Join or leave group (224.0.0.0/4) on the netif with address ifaddr
 * (NULL or any: the default netif, else the first one up). Joins are
 * counted: the group stays until as many leaves. The first join reports
 * the membership at once (and once more within 10 s), queries are
 * answered after a random delay, the last leave sends a Leave Group.
 * Multicast datagrams are received only for joined groups (and
 * 224.0.0.1, always joined), by every UDP pcb bound to the port. Errors:
 * TERN_EINVAL (not multicast), TERN_EADDRNOTAVAIL (no such ifaddr; leave:
 * not joined), TERN_ENETUNREACH (no netif), TERN_ENOSPC (more groups
 * than opts.max_udp), TERN_ENOMEM. */
TERN_API int tern_igmp_join(tern_stack *st, const tern_addr *ifaddr,
                            const tern_addr *group);
TERN_API int tern_igmp_leave(tern_stack *st, const tern_addr *ifaddr,
                             const tern_addr *group);
/* Multicast sending of a UDP pcb: the TTL of datagrams to a group [1],
 * the address of the netif they leave by (NULL or any: the route's
 * choice; IP_MULTICAST_IF), and whether a copy comes back to this
 * host's own members of the group [true] (IP_MULTICAST_LOOP; delivered
 * from the stack's next timer run, not inside the send). */
TERN_API int tern_udp_set_mcast(tern_udp *pcb, uint8_t ttl,
                                const tern_addr *ifaddr, bool loop);

/* ------------------------------------------------------------------ */
/* TCP (raw API)                                                       */
/* ------------------------------------------------------------------ */
/* Ownership and lifetime, once for all callbacks:
 *  - recv: p is yours; free it after copying or keep it. Call
 *    tern_tcp_recved(pcb, n) when you have consumed n bytes: that opens
 *    the window. p == NULL means the peer sent FIN (no more data).
 *    Returning TERN_EAGAIN refuses p: the stack keeps it (the window
 *    stays closed) and offers it again from the poll timer or the next
 *    segment. Any other non-OK return means you aborted or closed pcb
 *    inside the callback and it must not be touched any more.
 *  - sent: len bytes you wrote were acknowledged (their send-buffer room
 *    is free again).
 *  - poll: runs every poll interval while the pcb is open.
 *  - err: the pcb is ALREADY FREED (reset by the peer, timed out, aborted
 *    by the stack for lack of memory). It is the last callback; the
 *    pointer must not be used again.
 *  - accept (listeners): a new pcb; it inherits the listener's callbacks
 *    and arg until you set your own. Return TERN_OK to keep it; any other
 *    value and the stack aborts it (no err callback for it), except
 *    TERN_ECLOSED after you tern_tcp_close()d it inside accept: then the
 *    graceful close goes on.
 *  - connected: the handshake completed (err TERN_OK) — if it fails, err
 *    runs instead.
 * After tern_tcp_close() succeeds, or tern_tcp_abort() returns, no
 * callback runs for that pcb again (the stack finishes the close on its
 * own and frees it). Every callback may call any tern_tcp_* on its pcb;
 * a callback that closes or aborts its own pcb returns TERN_ECLOSED
 * (recv, sent, poll, connected) so the stack knows not to touch it. */
typedef struct tern_tcp_cbs {
  int (*recv)(void *arg, tern_tcp *pcb, tern_pbuf *p);
  int (*sent)(void *arg, tern_tcp *pcb, uint32_t len);
  int (*poll)(void *arg, tern_tcp *pcb);
  void (*err)(void *arg, int err);
  int (*accept)(void *arg, tern_tcp *newpcb);
  int (*connected)(void *arg, tern_tcp *pcb);
} tern_tcp_cbs;

typedef enum tern_tcp_state {
  TERN_TCP_CLOSED = 0,
  TERN_TCP_LISTEN,
  TERN_TCP_SYN_SENT,
  TERN_TCP_SYN_RCVD,
  TERN_TCP_ESTABLISHED,
  TERN_TCP_FIN_WAIT_1,
  TERN_TCP_FIN_WAIT_2,
  TERN_TCP_CLOSE_WAIT,
  TERN_TCP_CLOSING,
  TERN_TCP_LAST_ACK,
  TERN_TCP_TIME_WAIT,
} tern_tcp_state;

TERN_API tern_tcp *tern_tcp_new(tern_stack *st);
/* cbs must outlive the pcb (a static table). */
TERN_API void tern_tcp_set_callbacks(tern_tcp *pcb, const tern_tcp_cbs *cbs,
                                     void *arg);
TERN_API void tern_tcp_set_arg(tern_tcp *pcb, void *arg);
TERN_API int tern_tcp_bind(tern_tcp *pcb, const tern_addr *local);
/* The pcb becomes a listener; accept runs per established connection.
 * backlog: kept for the lwIP shape; accept runs at once for each
 * connection, so there is no accept queue. Half-open connections are
 * bounded by opts.tcp_syn_backlog per listener, SYN cookies beyond. */
TERN_API int tern_tcp_listen(tern_tcp *pcb, uint32_t backlog);
TERN_API int tern_tcp_connect(tern_tcp *pcb, const tern_addr *peer);

enum {
  TERN_TCP_WRITE_COPY = 1u << 0, /* copy data (else it must stay valid and
                                    unchanged until acknowledged: sent) */
  TERN_TCP_WRITE_MORE = 1u << 1, /* more follows: no PSH, let Nagle wait */
};
/* Queue up to len bytes. Returns the number queued (0..len; less when the
 * send buffer or the pool is full: wait for sent), or a negative error
 * (TERN_ENOTCONN, TERN_ECLOSED after shutdown). Nothing leaves until
 * tern_tcp_output() or the end of the current callback/input. */
TERN_API long tern_tcp_write(tern_tcp *pcb, const void *data, size_t len,
                             unsigned flags);
/* Send what can be sent now (window, Nagle). */
TERN_API int tern_tcp_output(tern_tcp *pcb);
/* The application consumed n received bytes: open the window. */
TERN_API void tern_tcp_recved(tern_tcp *pcb, uint32_t n);
/* Close both directions gracefully: FIN after queued data. On success no
 * callback runs again. TERN_ENOMEM: try again later (from poll) (the
 * built-in TCP never needs memory to close). Unread data the app refused
 * (recv returned TERN_EAGAIN) turns the close into a RST (RFC 2525). A
 * pcb whose connection ended without close (after shutdown, peer's FIN,
 * TIME_WAIT) stays in TERN_TCP_CLOSED until you close or abort it. */
TERN_API int tern_tcp_close(tern_tcp *pcb);
/* Half-close: shut_rx discards further data (RST if any arrives, RFC 9293
 * 3.6), shut_tx sends FIN after queued data. */
TERN_API int tern_tcp_shutdown(tern_tcp *pcb, bool shut_rx, bool shut_tx);
/* Send RST and free the pcb now; no callback runs (err does not either). */
TERN_API void tern_tcp_abort(tern_tcp *pcb);

TERN_API tern_tcp_state tern_tcp_get_state(const tern_tcp *pcb);
TERN_API void tern_tcp_local(const tern_tcp *pcb, tern_addr *out);
TERN_API void tern_tcp_peer(const tern_tcp *pcb, tern_addr *out);
/* Room left in the send buffer, in bytes. */
TERN_API uint32_t tern_tcp_sndbuf(const tern_tcp *pcb);
/* Bytes written but not yet acknowledged (queued + in flight). */
TERN_API uint32_t tern_tcp_queued(const tern_tcp *pcb);
TERN_API void tern_tcp_set_nodelay(tern_tcp *pcb, bool on);
/* The IP TTL (0: the stack's default) and TOS of every segment the pcb
 * sends (connections accepted from a listener inherit them). */
TERN_API void tern_tcp_set_ip(tern_tcp *pcb, uint8_t ttl, uint8_t tos);
/* Keepalive (RFC 9293 3.8.4): idle ms before the first probe, interval
 * between probes, probes before the connection is dropped. idle 0: off. */
TERN_API void tern_tcp_set_keepalive(tern_tcp *pcb, uint32_t idle_ms,
                                     uint32_t intvl_ms, uint32_t count);
/* poll runs every interval_ms (0: never). */
TERN_API void tern_tcp_set_poll(tern_tcp *pcb, uint32_t interval_ms);
/* Per-pcb buffer sizes (before connect/listen; accepted pcbs inherit). */
TERN_API void tern_tcp_set_bufs(tern_tcp *pcb, uint32_t snd_buf,
                                uint32_t rcv_wnd);

/* Connection facts for tests and monitoring. */
typedef struct tern_tcp_info {
  tern_tcp_state state;
  uint32_t mss;           /* send MSS */
  uint32_t cwnd, ssthresh, snd_wnd, rcv_wnd;
  uint32_t srtt_us, rttvar_us, rto_ms;
  uint8_t snd_wscale, rcv_wscale;
  bool ts_on, sack_on;
  uint64_t retrans, fast_retrans, rto_count, sack_rexmit;
} tern_tcp_info;
TERN_API void tern_tcp_get_info(const tern_tcp *pcb, tern_tcp_info *out);

#ifdef __cplusplus
}
#endif
#endif /* TERN_IP_H */
