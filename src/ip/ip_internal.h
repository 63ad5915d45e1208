/* ip_internal.h: the built-in stack's private structures and the calls
 * between its layers. Read this first; tern/ip.h is the public face.
 *
 * Files (one job each):
 *   stack.c     the instance: options, time, the timer heap, allocation
 *               with a budget and injected failures, random numbers, stats
 *   pbuf.c      packet buffers and the block pool (the memory budget)
 *   netif.c     interfaces: add/remove, up/down, input dispatch, routing
 *   chksum.c    the Internet checksum (RFC 1071) and pseudo-headers
 *   eth.c       Ethernet II framing
 *   arp.c       ARP (RFC 826): cache, pending queue, gratuitous ARP
 *   acd.c       address conflict detection (RFC 5227): probe, announce,
 *               defend (tern/acd.h)
 *   ipv4.c      IPv4 input/output (RFC 791), fragmentation on output
 *   ip4_reass.c fragment reassembly with memory and time limits (RFC 791,
 *               RFC 815)
 *   icmp.c      ICMP (RFC 792): echo reply, unreachable errors
 *   udp.c       UDP (RFC 768) and its raw API
 *   tcp*.c      TCP (RFC 9293 and friends); tcp_internal.h
 *   drv_*.c     drivers: in-memory wire, pcap writer; TAP is in
 *               src/ip/linux/ (Linux only)
 *
 * Conventions:
 *   - IPv4 addresses are uint32_t in HOST order (10.0.0.1 == 0x0a000001);
 *     ip_get32/ip_put32 convert at the wire. Ports are host order.
 *   - A packet moving down the stack is a pbuf chain whose payload points
 *     at the current layer's header; each layer pushes its header into
 *     headroom (ip_pbuf_push). Moving up, each layer pulls its header off
 *     (ip_pbuf_pull) before handing the chain on; the bytes stay in front
 *     of payload, so a layer can push back to reach the headers below
 *     (ICMP errors quote the IP header that way).
 *   - Input functions take ownership of the chain they are given.
 *     Output functions do NOT: the caller keeps its reference (TCP keeps
 *     segments for retransmission); a layer that queues a frame (ARP)
 *     takes its own reference.
 *   - The first pbuf of any chain handed to an input function holds the
 *     headers contiguously (tern_netif_input guarantees at least
 *     IP_HDR_CONTIG bytes, or the whole frame if shorter).
 */
#ifndef TERN_IP_INTERNAL_H
#define TERN_IP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ip/ip_symbols.h"
#include "tern/ip.h"

/* ---- byte order at the wire ------------------------------------------ */
/* One load or store and a byte swap where the compiler knows how (GCC and
 * clang: unaligned loads are fine on x86 and Cortex-M3/M4/M7, and memcpy
 * of 2 or 4 bytes compiles to one); byte by byte elsewhere. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline uint16_t ip_get16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}
static inline uint32_t ip_get32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
static inline void ip_put16(uint8_t *p, uint16_t v) {
  v = __builtin_bswap16(v);
  memcpy(p, &v, 2);
}
static inline void ip_put32(uint8_t *p, uint32_t v) {
  v = __builtin_bswap32(v);
  memcpy(p, &v, 4);
}
#else
static inline uint16_t ip_get16(const uint8_t *p) {
  return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t ip_get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}
static inline void ip_put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void ip_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
#endif
/* A helper shared by several callers stays one copy (GCC at -Os may
 * otherwise inline it into each). */
#if defined(__GNUC__)
#define IP_NOINLINE __attribute__((noinline))
#else
#define IP_NOINLINE
#endif

/* tern_addr <-> host-order IPv4. ip_addr_from returns false if a is not
 * an IPv4 address. */
bool ip_addr_from(const tern_addr *a, uint32_t *ip);
void ip_addr_to(uint32_t ip, uint16_t port, tern_addr *out);

/* ---- sizes ------------------------------------------------------------- */
#define IP_ETH_HLEN 14
#define IP_ETH_PAD 2      /* so the IP header is 4-aligned */
#define IP_IP_HLEN 20
#define IP_TCP_HLEN_MAX 60
#define IP_UDP_HLEN 8
#define IP_HEADROOM_LINK (IP_ETH_PAD + IP_ETH_HLEN)            /* 16 */
#define IP_HEADROOM_IP (IP_HEADROOM_LINK + IP_IP_HLEN)         /* 36 */
#define IP_HEADROOM_TRANSPORT (IP_HEADROOM_IP + IP_TCP_HLEN_MAX) /* 96 */
#define IP_HDR_CONTIG 128 /* header bytes contiguous in a received chain */

enum { IP_PROTO_ICMP = 1, IP_PROTO_IGMP = 2, IP_PROTO_TCP = 6,
       IP_PROTO_UDP = 17 };
enum { ETH_TYPE_IP = 0x0800, ETH_TYPE_ARP = 0x0806 };

/* ---- packet buffers ---------------------------------------------------- */
enum {
  PBUF_T_POOL = 0, /* header and data in one pool block */
  PBUF_T_VIEW = 1, /* header in a pool block, data is caller memory */
};
enum {
  PBUF_F_CSUM_OK = 1u << 0, /* L4 checksum already verified (driver) */
  PBUF_F_BCAST = 1u << 1,   /* arrived as link broadcast */
};

struct tern_pbuf {
  tern_pbuf *next;      /* next pbuf of the same packet */
  uint8_t *payload;     /* current start of data */
  uint32_t len;         /* bytes at payload in this pbuf */
  uint32_t tot_len;     /* len + the rest of the chain */
  uint16_t ref;         /* references to THIS pbuf */
  uint8_t type;         /* PBUF_T_* */
  uint8_t flags;        /* PBUF_F_* */
  tern_stack *st;
  tern_tx_meta meta;    /* offload metadata (first pbuf of a frame) */
  /* Free for the layer that currently queues the chain (TCP keeps a
   * segment's sequence number, flags and send time here). */
  uint32_t q_seq;
  uint32_t q_time;
  uint16_t q_len;
  uint16_t q_flags;
  tern_pbuf *q_next;    /* queue link (the layer's list of packets) */
  /* PBUF_T_VIEW */
  void (*done)(void *ud);
  void *done_ud;
};

/* Allocation with explicit headroom (bytes before payload in the first
 * block). len may exceed one block: the chain gets more blocks (without
 * headroom). NULL when the pool is dry or a failure is injected. */
tern_pbuf *ip_pbuf_alloc_raw(tern_stack *st, size_t headroom, size_t len);
size_t ip_layer_headroom(tern_pbuf_layer layer);
/* Move payload back by n bytes (n > 0) into headroom; NULL if there is
 * not enough headroom. Returns the new payload. Updates len/tot_len of p
 * (the first pbuf only; tot_len of the chain head). */
uint8_t *ip_pbuf_push(tern_pbuf *p, size_t n);
/* Put an n-byte header in front of p for output: pushed into p's
 * headroom, else a new pbuf (with `room` headroom) chained in front with a
 * reference of p. meta: the new pbuf takes p's offload metadata and
 * csum_start/hdr_len grow by n (a layer below the transport). *saved keeps
 * p's metadata for ip_hdr_pop. Returns the frame (payload at the new
 * header), NULL if no memory. */
tern_pbuf *ip_hdr_push(tern_pbuf *p, size_t n, size_t room,
                       tern_tx_meta *saved, bool meta);
/* After sending frame f from ip_hdr_push: p as it was (header pulled,
 * metadata restored), or the header pbuf freed. */
void ip_hdr_pop(tern_pbuf *p, tern_pbuf *f, size_t n,
                const tern_tx_meta *saved);
/* Free every packet of a queue linked by q_next (from q on). */
void ip_pbuf_free_queue(tern_pbuf *q);
/* Drop n bytes from the front of the chain's first pbuf (n <= p->len). */
void ip_pbuf_pull(tern_pbuf *p, size_t n);
/* Trim the chain to new_len bytes (freeing pbufs no longer needed). */
void ip_pbuf_trim(tern_pbuf *p, size_t new_len);
/* Copy [off, off+len) of p into a new chain with `headroom`. */
tern_pbuf *ip_pbuf_copy_range(tern_stack *st, const tern_pbuf *p, size_t off,
                              size_t len, size_t headroom);
/* Make the first n bytes contiguous in the first pbuf (copying into a new
 * chain when needed; *pp may change). false if the chain is shorter or
 * no memory. */
bool ip_pbuf_make_contig(tern_pbuf **pp, size_t n);
/* Usable data bytes per pool block. */
uint32_t ip_pool_block_size(const tern_stack *st);
uint32_t ip_pool_free_blocks(const tern_stack *st);
int ip_pool_init(tern_stack *st);
void ip_pool_deinit(tern_stack *st);

/* ---- the timer heap ------------------------------------------------------ */
/* Timers are embedded in the objects that own them (a pcb, the ARP table).
 * One binary heap per stack, ordered by due time; O(log n) set/stop.
 * Due times are the low 32 bits of the ms clock, compared with wrap-around
 * (ip_tdiff): every deadline is far less than 2^31 ms (24 days) away. */
typedef struct ip_timer ip_timer;
typedef void (*ip_timer_fn)(tern_stack *st, ip_timer *t);
struct ip_timer {
  uint32_t due;   /* low 32 bits of the ms clock */
  uint32_t idx;   /* position in the heap + 1; 0 = not armed */
  ip_timer_fn fn;
};
void ip_timer_init(ip_timer *t, ip_timer_fn fn);
/* Arm (or re-arm) at absolute time due (ms). TERN_ENOMEM only if the heap
 * cannot grow (it is sized for max_tcp + max_udp + 64 at creation). */
int ip_timer_set(tern_stack *st, ip_timer *t, uint32_t due);
void ip_timer_stop(tern_stack *st, ip_timer *t);
static inline bool ip_timer_armed(const ip_timer *t) { return t->idx != 0; }
/* a - b for 32-bit ms times, wrap-safe: < 0 when a is before b. */
static inline int32_t ip_tdiff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }
static inline uint32_t ip_now32(const tern_stack *st);

/* ---- small allocations (pcbs, table entries) ------------------------------ */
/* Counted, subject to tern_stack_fail_alloc; NULL on failure. Zeroed. */
void *ip_malloc(tern_stack *st, size_t size);
void ip_free(tern_stack *st, void *ptr);
/* One allocation point: true if it must fail now (injected failure). Pool
 * blocks and ip_malloc both pass here. */
bool ip_alloc_fails(tern_stack *st);
uint32_t ip_random32(tern_stack *st);
/* Count one event (*c)++: out of line, since a 64-bit increment inline at
 * each of the many counting sites costs more code than the call. */
void ip_stat_inc(uint64_t *c);

/* ---- raw API context check (tern_stack_set_ctx_check) -------------------- */
#ifndef TERN_IP_CTX_CHECK
#if defined(NDEBUG) || (defined(TERN_NO_SYS) && TERN_NO_SYS)
#define TERN_IP_CTX_CHECK 0
#else
#define TERN_IP_CTX_CHECK 1
#endif
#endif
#if TERN_IP_CTX_CHECK
void ip_ctx_check(const tern_stack *st, const char *call);
#define IP_CTX(st) ip_ctx_check((st), __func__)
#else
#define IP_CTX(st) ((void)0)
#endif

/* ---- interfaces ---------------------------------------------------------- */
struct tern_netif {
  tern_netif *next;
  tern_stack *st;
  char name[16];
  unsigned flags;       /* TERN_NETIF_* */
  uint8_t mac[6];
  bool up;
  uint32_t mtu;
  uint32_t tso_max;
  uint32_t ip, mask, gw; /* host order; ip 0 = no address yet */
  const tern_netif_driver *drv;
  void *drv_state;
  tern_netif_stats stats;
};

/* Hand a finished frame to nif's driver, counting it (TERN_ENETUNREACH
 * when the netif is down). */
int ip_netif_xmit(tern_netif *nif, tern_pbuf *frame);

/* Routing (RFC 1812 lite): a netif whose subnet holds dst, else the
 * default netif's gateway. *nexthop is the link-level destination. NULL:
 * no route (stats ip_noroute). Loopback 127/8 is not routed. */
tern_netif *ip4_route(tern_stack *st, uint32_t dst, uint32_t *nexthop);
/* The address an outgoing packet to dst uses (0 if no route). */
uint32_t ip4_source_for(tern_stack *st, uint32_t dst);
bool ip4_is_local(const tern_stack *st, uint32_t ip);
bool ip4_is_bcast(const tern_netif *nif, uint32_t ip);

/* ---- layer entry points ---------------------------------------------------- */

/* What IPv4 input learned, for the transport layers. p->payload is at the
 * L4 header; the IP header is the iph_len bytes before it. */
typedef struct ip_rx {
  tern_netif *nif;
  uint32_t src, dst;    /* host order */
  uint8_t proto, ttl, tos;
  uint8_t iph_len;
  bool csum_ok;         /* driver verified the L4 checksum */
  bool bcast;           /* dst is broadcast/multicast */
} ip_rx;

/* Ethernet (eth.c). output: p->payload at the IP header; resolves
 * nexthop through ARP (queueing p when unresolved, taking a reference)
 * and hands the frame to the driver. The caller keeps its reference. */
void ip_eth_input(tern_netif *nif, tern_pbuf *p);
int ip_eth_output(tern_netif *nif, tern_pbuf *p, uint32_t nexthop);
/* Push an Ethernet header and call the driver (no ARP). */
int ip_eth_send(tern_netif *nif, tern_pbuf *p, const uint8_t dst_mac[6],
                uint16_t ethertype);

/* ARP (arp.c). */
int ip_arp_init(tern_stack *st);
void ip_arp_deinit(tern_stack *st);
void ip_arp_input(tern_netif *nif, tern_pbuf *p);
/* Send p (payload at IP header) to nexthop on nif: at once if the MAC is
 * cached, else queue (bounded) and send a request. */
int ip_arp_output(tern_netif *nif, tern_pbuf *p, uint32_t nexthop);
void ip_arp_announce(tern_netif *nif);   /* gratuitous ARP */
/* A broadcast ARP request with the given sender and target IPs (RFC 5227
 * probe: sender 0; announcement: both the address). */
int ip_arp_request_from(tern_netif *nif, uint32_t sip, uint32_t tip);
/* Address conflict detection (acd.c): every ARP packet received on nif,
 * before the cache sees it, goes to st->acd_input when set (by the first
 * tern_acd_probe/watch: a firmware that never calls them links no
 * acd.c). */
typedef void (*ip_acd_input_fn)(tern_netif *nif, uint16_t op,
                                const uint8_t *smac, uint32_t sip,
                                uint32_t tip);
void ip_arp_flush_netif(tern_netif *nif);/* netif removed or down */

/* IPv4 (ipv4.c). input: payload at the IP header. output: p->payload at
 * the L4 header, with headroom; src 0 = the route's address; fragments
 * when larger than the MTU (unless p's meta.gso_mss is set and the netif
 * does TSO). The caller keeps its reference. */
void ip4_input(tern_netif *nif, tern_pbuf *p, bool csum_ok);
int ip4_output(tern_stack *st, tern_pbuf *p, uint32_t src, uint32_t dst,
               uint8_t proto, uint8_t ttl, uint8_t tos);
/* Same, through a known netif and nexthop (TCP caches its route). */
int ip4_output_if(tern_netif *nif, tern_pbuf *p, uint32_t src, uint32_t dst,
                  uint32_t nexthop, uint8_t proto, uint8_t ttl, uint8_t tos);

/* Reassembly (ip4_reass.c): takes a fragment (payload at IP header);
 * returns the whole datagram (payload at the IP header, header rewritten
 * as unfragmented) when complete, else NULL. */
int ip4_reass_init(tern_stack *st);
void ip4_reass_deinit(tern_stack *st);
tern_pbuf *ip4_reass(tern_stack *st, tern_pbuf *p);

/* ICMP (icmp.c). unreach: p is the received datagram with payload at its
 * L4 header (as given to a transport's input), not consumed. */
void ip_icmp_input(tern_stack *st, tern_pbuf *p, const ip_rx *rx);
void ip_icmp_unreach(tern_stack *st, tern_pbuf *p, const ip_rx *rx,
                     uint8_t code);
#define IP_ICMP_ERR_BURST 20 /* ICMP errors sent back to back at most */
enum { ICMP_UNREACH_PROTO = 2, ICMP_UNREACH_PORT = 3,
       ICMP_UNREACH_NEEDFRAG = 4 };

/* UDP (udp.c). */
int ip_udp_init(tern_stack *st);
void ip_udp_deinit(tern_stack *st);
void ip_udp_input(tern_stack *st, tern_pbuf *p, const ip_rx *rx);

/* IGMP (igmp.c). member: does nif receive datagrams to group (224/4)?
 * output_igmp (ipv4.c): p (payload at the IGMP message, 24 bytes of
 * headroom for IP) out of nif with TTL 1 and Router Alert. */
#if TERN_ENABLE_IGMP
bool ip_igmp_member(const tern_netif *nif, uint32_t group);
/* The rest of igmp.c is reached through st->igmp_fn, set by the first
 * join: a firmware that never joins a group links none of it. op: */
enum { IP_IGMP_INPUT, IP_IGMP_NETIF_UP, IP_IGMP_NETIF_GONE, IP_IGMP_DEINIT };
typedef void (*ip_igmp_fn)(tern_stack *st, int op, tern_netif *nif,
                           tern_pbuf *p, const ip_rx *rx);
int ip4_output_igmp(tern_netif *nif, tern_pbuf *p, uint32_t dst);
/* Multicast loopback (ipv4.c): a copy of the datagram p (payload at the
 * L4 header; src, dst, proto for its IP header) is fed back as input of
 * nif from a timer due at once. */
void ip4_mcast_loop(tern_netif *nif, const tern_pbuf *p, uint32_t src,
                    uint32_t dst, uint8_t proto);
void ip4_loop_deinit(tern_stack *st);
#endif

/* Raw pcbs (raw.c). st->raw_in (set by the first tern_raw_new, so a
 * firmware without raw pcbs links no raw input): p->payload at the IP
 * header (not consumed); true if a raw pcb of rx->proto exists (it got a
 * copy). */
#if TERN_ENABLE_IP_RAW
typedef bool (*ip_raw_in_fn)(tern_stack *st, tern_pbuf *p, const ip_rx *rx);
void ip_raw_deinit(tern_stack *st);
#endif

/* TCP (tcp*.c). deinit frees every pcb without callbacks. icmp_err: an
 * ICMP error quoting a TCP segment we sent (quote = the quoted IP header
 * and at least 8 bytes of TCP header). */
int ip_tcp_init(tern_stack *st);
void ip_tcp_deinit(tern_stack *st);
void ip_tcp_input(tern_stack *st, tern_pbuf *p, const ip_rx *rx);
void ip_tcp_icmp_err(tern_stack *st, uint8_t type, uint8_t code,
                     const uint8_t *quote, size_t quote_len);
/* A netif went down or its address changed: pcbs bound to old_ip. */
void ip_tcp_netif_changed(tern_stack *st, tern_netif *nif, uint32_t old_ip);

/* ---- checksums (chksum.c) -------------------------------------------------- */
/* RFC 1071: the ones' complement sum, folded, NOT complemented. */
uint32_t ip_chksum_add(uint32_t sum, const void *data, size_t len);
uint16_t ip_chksum_fold(uint32_t sum);
/* The final checksum of a buffer (complemented). */
uint16_t ip_chksum(const void *data, size_t len);
/* The final checksum of the first len bytes of a chain (ICMP). */
uint16_t ip_chksum_pbuf(const tern_pbuf *p, size_t len);
/* The final TCP/UDP checksum over the IPv4 pseudo-header (RFC 9293 3.1,
 * RFC 768) and len bytes of the chain p. 0 means valid on input. */
uint16_t ip_chksum_pseudo(const tern_pbuf *p, uint8_t proto, uint32_t len,
                          uint32_t src, uint32_t dst);
/* The pseudo-header sum alone, folded but not complemented (what a
 * TX_CSUM driver expects in the checksum field, as Linux does). */
uint16_t ip_chksum_pseudo_partial(uint8_t proto, uint32_t len, uint32_t src,
                                  uint32_t dst);

/* ---- the stack instance ----------------------------------------------------- */
struct ip_arp;   /* arp.c */
struct ip_reass; /* ip4_reass.c */
struct ip_udp_ctx; /* udp.c */
struct ip_igmp;  /* igmp.c */
struct tcp_ctx;  /* tcp_internal.h */

struct tern_stack {
  tern_stack_opts opts;   /* with defaults filled in */
  uint64_t now;           /* ms, from tern_stack_advance */
  tern_stack_stats stats;

  /* the block pool (pbuf.c) */
  uint8_t *pool_mem;
  bool pool_owned;
  uint32_t block_size;    /* bytes per block, header included */
  uint32_t block_count;
  void *pool_free;        /* free list */

  /* the timer heap (stack.c) */
  ip_timer **heap;
  uint32_t heap_len, heap_cap;

  /* allocation failure injection */
  uint64_t alloc_count, fail_nth;
  bool fail_sticky;
  uint32_t malloc_live;   /* ip_malloc blocks alive (leak checks) */

  uint16_t ip_id;         /* next IPv4 identification */
  uint32_t icmp_tokens;   /* ICMP error rate limit (icmp.c), starts full */
  uint64_t icmp_last;
  uint32_t rand_state[4]; /* xoshiro128** seeded from opts.random */

  tern_netif *netifs;
  tern_netif *default_nif;
#if TERN_IP_CTX_CHECK
  bool (*ctx_ok)(void *ud); /* tern_stack_set_ctx_check */
  void *ctx_ud;
#endif

  struct ip_arp *arp;
  struct tern_acd *acd;   /* acd.c: probes and watches, a list */
  ip_acd_input_fn acd_input;
  struct ip_reass *reass;
  struct ip_udp_ctx *udp;
  struct tcp_ctx *tcp;
#if TERN_ENABLE_IGMP
  struct ip_igmp *igmp;   /* igmp.c, made at the first join */
  ip_igmp_fn igmp_fn;     /* igmp.c's entry, set at the first join */
  tern_pbuf *loopq;       /* multicast loopback (ipv4.c), by q_next */
  ip_timer loop_tmr;
#endif
#if TERN_ENABLE_IP_RAW
  tern_raw *raws;         /* raw.c */
  ip_raw_in_fn raw_in;
  uint32_t raw_count;
#endif
  bool in_advance;        /* running timers */
};

static inline uint32_t ip_now32(const tern_stack *st) {
  return (uint32_t)st->now;
}

#endif /* TERN_IP_INTERNAL_H */
