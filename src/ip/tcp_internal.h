/* tcp_internal.h: TCP's private structures and the calls between its files.
 *
 * Files (one job each):
 *   tcp.c        pcbs: allocation, the lookup tables, ports, ISNs
 *                (RFC 6528), bind/listen/connect, close/abort/shutdown,
 *                info
 *   tcp_cb.c     the callback wrappers (the lifetime rules)
 *   tcp_api.c    the raw API's data calls (write, recved, options)
 *   tcp_in.c     segment input (RFC 9293 3.10.7): demux, checks, the
 *                per-state handlers
 *   tcp_listen.c LISTEN: SYN, half-open children, SYN cookies
 *   tcp_ack.c    ACK processing: acknowledged data, RTT, windows
 *   tcp_data.c   received data: delivery, reassembly (ooseq), FIN
 *   tcp_cc.c     congestion control (RFC 5681, 6582, 3465, 6928), RTT
 *                (RFC 6298, 7323), SACK scoreboard (RFC 2018, 6675)
 *   tcp_out.c    segment building (options, offloads) and output
 *   tcp_timer.c  the per-pcb timer: RTO, persist, delayed ACK,
 *                keepalive, TIME_WAIT, poll
 *   tcp_cookie.c SYN cookies and the keyed hash (SipHash-2-4)
 *
 * Read first: RFC 9293 (3.3.2 states, 3.10 event processing), RFC 6298,
 * RFC 5681, RFC 7323, RFC 2018, RFC 5961.
 *
 * Callbacks (the user's contract is in tern/ip.h; how this code keeps it):
 *   - Every callback goes through a tcp_cb_* wrapper (tcp.c). A wrapper
 *     never calls into a pcb that is dead (aborted, reset, freed by the
 *     stack) or user_closed (tern_tcp_close succeeded): no callback after
 *     the user was told the pcb is gone.
 *   - While the stack works on a pcb (input, its timer) the pcb is
 *     `busy`: an abort or a final close from inside a callback only
 *     marks it dead and unlinks it; the stack frees it when it leaves
 *     (tcp_unbusy). After every callback the caller checks tcp_gone().
 *   - recv: the pbuf is the user's (they free it) unless they return
 *     TERN_EAGAIN: then the stack keeps it (pcb->refused) and offers it
 *     again later. recv(NULL) = FIN, once.
 *   - err: the pcb is already unlinked and marked dead; it is the last
 *     callback. The memory is freed right after (or when the stack
 *     leaves the pcb).
 *   - accept: runs with the listener's arg; the child inherits cbs/arg.
 *     Non-OK: the child is aborted silently (RST, no err).
 *
 * Memory: queued data are pbuf chains in the pool. The send queue holds
 * one entry per (super-)segment: a chain of data-only pbufs with q_seq
 * (first sequence number), q_len (bytes) and q_flags (TCPQ_*). The
 * out-of-order queue uses the same fields. pcbs come from ip_malloc.
 */
#ifndef TERN_IP_TCP_INTERNAL_H
#define TERN_IP_TCP_INTERNAL_H

#include "ip/ip_internal.h"

/* ---- protocol constants -------------------------------------------------- */
#define TCP_HLEN 20
#define TCP_MSS_DEFAULT 536      /* RFC 9293 3.7.1: no MSS option seen */
#define TCP_RTO_INIT 1000        /* RFC 6298 (2.1) */
#define TCP_RTO_MIN 200          /* Linux's floor (RFC 6298 says 1 s) */
#define TCP_RTO_MAX 60000        /* RFC 6298 (2.5) */
#define TCP_SYN_RETRIES 6
#define TCP_MAX_RETRIES 12       /* RFC 9293 3.8.3 R2: about 15 minutes */
#define TCP_DACK_MS 40           /* delayed ACK (RFC 9293 3.8.6.3: < 0.5 s) */
#define TCP_IW_SEGS 10           /* RFC 6928 */
#define TCP_DUPTHRESH 3          /* RFC 5681 3.2 */
#define TCP_PERSIST_MIN 200
#define TCP_CHALLENGE_PER_S 100  /* RFC 5961 7: per-stack ACK limit */
#define TCP_ISN_HZ 250           /* RFC 6528: the clock M ticks each 4 us */
#define TCP_MAX_WSCALE 14        /* RFC 7323 2.3 */
#define TCP_EPHEMERAL_LO 49152   /* RFC 6335 */
#define TCP_HASH_BUCKETS 256

/* header flags */
enum {
  TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08,
  TCP_ACK = 0x10, TCP_URG = 0x20,
};

/* option kinds */
enum {
  TCPOPT_EOL = 0, TCPOPT_NOP = 1, TCPOPT_MSS = 2, TCPOPT_WS = 3,
  TCPOPT_SACK_OK = 4, TCPOPT_SACK = 5, TCPOPT_TS = 8,
};

/* q_flags of a queued segment */
enum {
  TCPQ_SENT = 1u << 0,     /* transmitted at least once (wholly) */
  TCPQ_RTX = 1u << 1,      /* retransmitted (Karn: no RTT sample) */
  TCPQ_SACKED = 1u << 2,   /* covered by a SACK block (RFC 6675 scoreboard) */
  TCPQ_LOST = 1u << 3,     /* deemed lost, to be retransmitted */
  TCPQ_FIN = 1u << 4,      /* (ooseq) the segment carried FIN */
  TCPQ_PSH = 1u << 5,      /* push at its end */
  TCPQ_REXMIT = 1u << 6,   /* retransmitted in this recovery episode */
};

/* Which list a pcb is on. */
enum { TCP_LIST_NONE = 0, TCP_LIST_CONN, TCP_LIST_LISTEN, TCP_LIST_BOUND };

/* ---- the pcb ----------------------------------------------------------- */
/* Deadlines are the low 32 bits of the stack's ms clock (compared with
 * wrap-around, tcp_tdiff), each valid when its t_* bit is set; the one
 * embedded ip_timer is armed for the earliest. dack and poll are 16-bit
 * (they are never more than 32 s ahead). */
struct tern_tcp {
  tern_tcp *next;               /* hash bucket / listener / bound list */
  tern_stack *st;
  const tern_tcp_cbs *cbs;
  void *arg;
  ip_timer tmr;
  uint32_t local_ip, remote_ip; /* host order */
  uint16_t local_port, remote_port;
  /* state and flags. The state and the most tested flags are bytes of
   * their own (a byte load or store is smaller code than a bitfield's);
   * they fill the word after the ports. */
  uint8_t state;                /* tern_tcp_state */
  bool dead;                    /* unlinked; free when not busy */
  bool fin_sent;                /* FIN was sent (snd_nxt counts it) */
  bool user_closed;             /* close() succeeded: no callbacks */
  uint32_t list : 2;            /* TCP_LIST_* */
  uint32_t busy : 1;            /* the stack is working on it */
  uint32_t shut_rx : 1;         /* data arriving now gets a RST */
  uint32_t fin_queued : 1;      /* FIN follows the queued data */
  uint32_t fin_rcvd : 1;        /* FIN in order received */
  uint32_t fin_pending : 1;     /* recv(NULL) not delivered yet */
  uint32_t ack_now : 1;         /* an ACK must go out */
  uint32_t ack_delayed : 1;     /* an ACK is owed (t_dack runs) */
  uint32_t nodelay : 1;         /* Nagle off */
  uint32_t ts_on : 1;           /* RFC 7323 timestamps negotiated */
  uint32_t sack_on : 1;         /* RFC 2018 SACK negotiated */
  uint32_t recovery : 1;        /* fast recovery (RFC 6582/6675) */
  uint32_t loss : 1;            /* after an RTO: go back over the lost */
  uint32_t persist : 1;         /* zero-window probing */
  uint32_t t_rtx : 1, t_ka : 1, t_dack : 1, t_poll : 1;
  uint32_t rtt_seeded : 1;      /* srtt holds a measurement */
  uint32_t ka_cnt : 4;          /* keepalive probes before dropping */
  uint32_t push : 1;            /* PSH at the end of the queued data */
  uint32_t pto : 1;             /* the rtx deadline is a tail loss probe */
  union {
    struct tcp_conn_part {
      uint32_t snd_una, snd_nxt; /* snd_nxt: highest sent + 1 (SND.MAX) */
      uint32_t snd_lbb;          /* after the last byte queued */
      uint32_t snd_wnd;          /* peer's window, scaled */
      uint32_t rcv_nxt;
      uint32_t rcv_adv;          /* right edge we advertised */
      uint32_t rcv_wnd;          /* free receive buffer */
      uint32_t cwnd, ssthresh, recover;
      uint32_t srtt8;            /* RFC 6298 SRTT, ms << 3 */
      uint32_t ts_recent;        /* RFC 7323 TS.Recent */
      uint32_t due_rtx;          /* RTO, persist, TIME_WAIT, FIN_WAIT_2 */
      uint32_t due_ka;           /* keepalive; in SYN states the time
                                    our SYN left (an RTT sample) */
      uint16_t due_dack, due_poll;
      tern_pbuf *sndq, *sndq_tail; /* written, not yet acknowledged */
      tern_pbuf *snd_cur;        /* first entry not wholly sent */
      union {
        tern_pbuf *ooseq;        /* out-of-order segments, sorted */
        tern_tcp *parent;        /* SYN_RCVD: the listener */
      } u;
      tern_pbuf *refused;        /* data the app refused (EAGAIN) */
      uint16_t rttvar4;          /* RFC 6298 RTTVAR, ms << 2; the RTO is
                                    computed from both, << nrtx */
      uint16_t mss;              /* send MSS */
      uint16_t snd_buf_u, rcv_buf_u; /* buffer sizes, 256-byte units */
      uint16_t ka_idle_s;        /* keepalive idle, s (0: off) */
      uint16_t poll_ms;
      uint8_t ka_intvl_s;
      uint8_t dupacks : 4;       /* saturating */
      uint8_t ka_probes : 4;
      uint8_t nrtx;              /* retransmissions of the head / probes
                                    (at most 15: a byte of its own, which
                                    is smaller code than a bitfield) */
      uint8_t snd_wscale : 4, rcv_wscale : 4;
      uint16_t n_retrans, n_fast, n_rto, n_sack; /* saturating */
    } c;
    struct tcp_listen_part {
      uint16_t backlog, half_open;
      uint16_t snd_buf_u, rcv_buf_u; /* inherited by children */
      uint16_t ka_idle_s, poll_ms;
      uint8_t ka_intvl_s;
    } l;
  } u;
  /* Rarely read (once per segment built), so after the union: the hot
   * fields keep offsets short loads reach. */
  uint8_t ttl, tos;             /* IP TTL (0: the stack's) and TOS of
                                   every segment (IP_TTL, IP_TOS) */
};

#define TCP_BUF_UNIT 256u

/* The per-stack TCP state (st->tcp). */
struct tcp_ctx {
  tern_tcp *conns[TCP_HASH_BUCKETS]; /* by 4-tuple */
  tern_tcp *listeners;
  tern_tcp *bound;                   /* bound, closed, not yet anything */
  uint32_t key[4];                   /* SipHash key (ISN, cookies) */
  uint32_t n_pcbs, n_tw;
  uint16_t next_port;
  uint32_t challenge_sec, challenge_cnt; /* RFC 5961 7 rate limit */
  uint32_t rx_clock;                 /* orders out-of-order arrivals */
};

/* A parsed incoming segment. */
typedef struct tcp_seg {
  uint32_t seq, ack;
  uint32_t len;          /* payload bytes */
  uint32_t wnd;          /* raw window field */
  uint8_t flags, hlen;
  uint16_t sport, dport;
  /* options */
  uint16_t mss;          /* 0: none */
  uint8_t wscale;        /* 0xff: none */
  bool sack_ok, has_ts;
  uint32_t tsval, tsecr;
  uint8_t nsack;
  uint32_t sack[4][2];
} tcp_seg;

/* ---- sequence arithmetic (RFC 9293 3.4) --------------------------------- */
static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t tcp_now32(const tern_stack *st) { return (uint32_t)st->now; }
static inline int32_t tcp_tdiff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }
static inline uint32_t tcp_snd_buf(const tern_tcp *pcb) {
  return (uint32_t)pcb->u.c.snd_buf_u * TCP_BUF_UNIT;
}
static inline uint32_t tcp_rcv_buf(const tern_tcp *pcb) {
  return (uint32_t)pcb->u.c.rcv_buf_u * TCP_BUF_UNIT;
}
static inline uint32_t tcp_flight(const tern_tcp *pcb) {
  return pcb->u.c.snd_nxt - pcb->u.c.snd_una;
}

/* ---- tcp.c --------------------------------------------------------------- */
tern_tcp *tcp_pcb_alloc(tern_stack *st);
void tcp_link(tern_tcp *pcb, unsigned list);
void tcp_unlink(tern_tcp *pcb);
tern_tcp *tcp_lookup(tern_stack *st, uint32_t lip, uint16_t lport,
                     uint32_t rip, uint16_t rport);
tern_tcp *tcp_lookup_listener(tern_stack *st, uint32_t lip, uint16_t lport);
uint32_t tcp_isn(tern_stack *st, uint32_t lip, uint16_t lport, uint32_t rip,
                 uint16_t rport);
/* Release every queue and the timer; state CLOSED; unlink. */
void tcp_pcb_purge(tern_tcp *pcb);
/* The pcb dies now: purge, mark dead, free unless busy. */
void tcp_pcb_kill(tern_tcp *pcb);
/* Return the memory (the pcb is unlinked and dead). */
void tcp_pcb_free(tern_tcp *pcb);
/* The stack ends the connection: err(code) unless the user closed it,
 * then the pcb dies. */
void tcp_fail(tern_tcp *pcb, int err);
/* A graceful end (TIME_WAIT over, LAST_ACK acknowledged). */
void tcp_finished(tern_tcp *pcb);
void tcp_enter_time_wait(tern_tcp *pcb);
void tcp_busy(tern_tcp *pcb);
/* Leave the pcb; frees it if it died meanwhile. Returns true if freed. */
bool tcp_unbusy(tern_tcp *pcb);
static inline bool tcp_gone(const tern_tcp *pcb) { return pcb->dead; }
/* Callback wrappers: false if the pcb is gone afterwards. */
bool tcp_cb_recv(tern_tcp *pcb, tern_pbuf *p, bool *refused);
bool tcp_cb_sent(tern_tcp *pcb, uint32_t len);
bool tcp_cb_poll(tern_tcp *pcb);
bool tcp_cb_connected(tern_tcp *pcb);
/* Child established: run the listener's accept. false: child gone. */
bool tcp_cb_accept(tern_tcp *lpcb, tern_tcp *child);
void tcp_cb_err(tern_tcp *pcb, int err);
/* Copy a listener's (or defaults') settings into a new pcb. */
void tcp_init_conn(tern_tcp *pcb, tern_stack *st);
/* The window scale we offer for a receive buffer of rcv_buf_u units. */
uint8_t tcp_pick_wscale(uint32_t rcv_buf_u);
/* Count an event in the pcb's saturating counter and the stack's. */
void tcp_stat_sat(uint16_t *c, uint64_t *stack_ctr);

/* ---- tcp_in.c ------------------------------------------------------------ */
bool tcp_parse(tern_pbuf *p, tcp_seg *seg);
/* Take the peer's SYN options: MSS, WS, TS, SACK-permitted (no WS: both
 * scales 0). */
void tcp_take_syn_opts(tern_tcp *pcb, const tcp_seg *seg);
/* Offer data the app refused before (and a pending FIN). false: gone. */
bool tcp_deliver_refused(tern_tcp *pcb);
bool tcp_process_ack(tern_tcp *pcb, const tcp_seg *seg);
void tcp_listen_input(tern_tcp *lpcb, tern_pbuf *p, tcp_seg *seg,
                      const ip_rx *rx);
void tcp_conn_input(tern_tcp *pcb, tern_pbuf *p, tcp_seg *seg);
bool tcp_data_input(tern_tcp *pcb, tern_pbuf *p, tcp_seg *seg);
void tcp_ooseq_free(tern_tcp *pcb);
/* The FIN is next in sequence: RFC 9293 3.10.7.4 step 8. */
void tcp_fin_reached(tern_tcp *pcb);
tern_pbuf *tcp_chain_pull(tern_pbuf *p, uint32_t n);
uint32_t tcp_ooseq_bytes(const tern_tcp *pcb);
/* RFC 5961 7: a challenge ACK unless the per-stack budget is spent. */
void tcp_challenge_ack(tern_tcp *pcb);

/* ---- tcp_cc.c ------------------------------------------------------------ */
void tcp_rtt_sample(tern_tcp *pcb, uint32_t rtt_ms);
/* RFC 6298 (2.2, 2.3, 5.5): the current RTO with backoff, ms. */
uint32_t tcp_rto(const tern_tcp *pcb);
void tcp_cc_init(tern_tcp *pcb);
void tcp_cc_acked(tern_tcp *pcb, uint32_t acked, uint32_t flight_before);
void tcp_cc_dupack(tern_tcp *pcb);
void tcp_cc_sack(tern_tcp *pcb);
void tcp_cc_undo_lt(tern_tcp *pcb);
void tcp_cc_rto(tern_tcp *pcb);
/* Apply SACK blocks to the scoreboard; true if new data was SACKed. */
bool tcp_sack_update(tern_tcp *pcb, const tcp_seg *seg);
uint32_t tcp_pipe(const tern_tcp *pcb);
/* Mark holes below the highest SACKed as lost (RFC 6675 IsLost, lite). */
void tcp_sack_mark_lost(tern_tcp *pcb);

/* ---- tcp_out.c ----------------------------------------------------------- */
/* Send what windows and Nagle allow; ACK if one is owed. */
int tcp_output(tern_tcp *pcb);
int tcp_send_ctl(tern_tcp *pcb, uint8_t flags);      /* SYN, SYN|ACK, ACK... */
int tcp_send_ack(tern_tcp *pcb);
/* A segment with seq/ack given, no pcb (RST replies, cookies). */
int tcp_send_raw(tern_stack *st, uint32_t src, uint16_t sport, uint32_t dst,
                 uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                 uint16_t wnd, const uint8_t *opts, uint8_t optlen,
                 const tern_tcp *ipo);
/* (ipo: the pcb whose TTL and TOS the segment takes; NULL: defaults) */
/* RFC 9293 3.10.7.1: reset for a segment that has no connection. */
void tcp_send_rst_for(tern_stack *st, const tcp_seg *seg, const ip_rx *rx,
                      uint16_t sport, uint16_t dport);
int tcp_send_rst(tern_tcp *pcb);
/* Retransmit the first unacknowledged segment now. */
int tcp_rexmit_head(tern_tcp *pcb);
/* Retransmit what of entry q is in flight. */
int tcp_rexmit_entry(tern_tcp *pcb, tern_pbuf *q);
int tcp_zero_window_probe(tern_tcp *pcb);
uint16_t tcp_rcv_wnd_field(tern_tcp *pcb, bool syn);
uint16_t tcp_mss_for(tern_stack *st, uint32_t dst);
/* The largest (super-)segment, and send queue entry: one MSS, or with TSO
 * up to the netif's tso_max. */
uint32_t tcp_seg_max(tern_tcp *pcb);
uint8_t tcp_build_syn_opts(tern_tcp *pcb, uint8_t *o, bool synack,
                           uint32_t tsval);
/* The options of a SYN or SYN-ACK into o: MSS, then WS (ws 0xff: none),
 * SACK-permitted, TS (RFC 9293 3.7.1, RFC 7323, RFC 2018). Returns the
 * length. */
uint8_t tcp_put_syn_opts(uint8_t *o, uint16_t mss, uint8_t ws, bool sack,
                         bool ts, uint32_t tsval, uint32_t tsecr);
/* NOP NOP TS (RFC 7323 3.2, the layout of RFC 7323 appendix A): 12. */
uint8_t tcp_put_ts(uint8_t *o, uint32_t tsval, uint32_t tsecr);
/* RFC 7323 TSval: the ms clock (a load, inline). */
static inline uint32_t tcp_tsval(const tern_stack *st) {
  return (uint32_t)st->now;
}

/* ---- tcp_timer.c --------------------------------------------------------- */
void tcp_timer_fn(tern_stack *st, ip_timer *t);
/* Re-arm the embedded timer for the earliest deadline. */
void tcp_timer_update(tern_tcp *pcb);
void tcp_set_rtx(tern_tcp *pcb, uint32_t ms);
/* tcp_set_rtx(pcb, tcp_rto(pcb)): one call for a frequent pair. */
void tcp_set_rtx_rto(tern_tcp *pcb);
/* The retransmission timer for data in flight: RTO, or first a tail loss
 * probe (RFC 8985 7). */
void tcp_arm_rtx(tern_tcp *pcb);
void tcp_stop_rtx(tern_tcp *pcb);
void tcp_set_dack(tern_tcp *pcb);
void tcp_ka_reset(tern_tcp *pcb);
void tcp_poll_reset(tern_tcp *pcb);

/* ---- tcp_cookie.c -------------------------------------------------------- */
uint64_t tcp_siphash(const uint32_t key[4], const uint32_t *w, size_t n);
/* RFC 4987 3.6: a SYN cookie for seg (the ISN of our SYN-ACK); *tsval
 * gets the options encoded (wscale, SACK-ok) when timestamps are used. */
uint32_t tcp_cookie_make(tern_stack *st, const tcp_seg *seg, const ip_rx *rx,
                         uint16_t lport, uint16_t rport, uint32_t *tsval);
/* Check the ACK completing a cookie handshake; fills mss, wscale (0xff:
 * none) and sack. */
bool tcp_cookie_check(tern_stack *st, const tcp_seg *seg, const ip_rx *rx,
                      uint16_t lport, uint16_t rport, uint16_t *mss,
                      uint8_t *wscale, bool *sack);

#endif /* TERN_IP_TCP_INTERNAL_H */
