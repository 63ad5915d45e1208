/* api_internal.h: what the api layer's files share (tcpip.c, netconn.c,
 * netconn_cb.c, sockets.c). Not installed. */
#ifndef TERN_API_INTERNAL_H
#define TERN_API_INTERNAL_H

#include <stdatomic.h>

#include "tern/loop.h"
#include "tern/netconn.h"
#include "tern/port.h"

/* Run fn(arg) in the stack context of t (message or core lock), then
 * re-arm the stack's timer. Returns fn's value, or TERN_ECLOSED when the
 * stack thread is gone. */
int tern__tcpip_run(tern_tcpip *t, int (*fn)(void *arg), void *arg);
/* A step that need not be waited for (message-passing mode, called
 * outside the stack context): p (the caller's allocation, first member
 * of its own struct) is queued and p->fn(p, true) runs later in the
 * stack context, or p->fn(p, false) outside it if the thread is stopping;
 * fn frees p. TERN_ENOTSUP in core-locking mode or from the stack
 * context, TERN_ENOSPC when the queue is full: run the step with
 * tern__tcpip_run instead. */
typedef struct tern__tcpip_post {
  tern_tcpip *t;
  void (*fn)(struct tern__tcpip_post *p, bool in_stack);
} tern__tcpip_post;
int tern__tcpip_post_step(tern__tcpip_post *p);
/* Debug builds: abort unless the calling thread is in t's stack context
 * (holds its lock). Called at the top of every stack-side step of the api
 * layer; the same check belongs at the raw API's entry points (later:
 * src/ip is not this layer's). */
void tern__tcpip_assert_ctx(const tern_tcpip *t);
tern_stack *tern__tcpip_stack(const tern_tcpip *t);
/* Stack context: post s when the stack lock is released (once, however
 * often this is called before). */
void tern__tcpip_post_later(tern_tcpip *t, tern_sem *s);
/* The sockets table of t, made by create on first use (NULL: do not
 * make it); destroy runs at tern_tcpip_free. */
/* Per-stack state of the layers on netconn, made on first use (create
 * NULL: only look) and freed with t: the sockets table, the name
 * lookup's cache and servers. */
enum { TERN__TCPIP_SOCKETS, TERN__TCPIP_NETDB, TERN__TCPIP_SLOTS };
void *tern__tcpip_slot(tern_tcpip *t, int which,
                       void *(*create)(tern_tcpip *t), void (*destroy)(void *));
uint32_t tern__tcpip_max_sockets(const tern_tcpip *t);
/* A semaphore for one wait, from a small per-tcpip cache. */
tern_sem *tern__tcpip_sem_get(tern_tcpip *t);
void tern__tcpip_sem_put(tern_tcpip *t, tern_sem *s);

/* One unit in a netconn's receive mailbox. */
typedef struct nc_item {
  struct nc_item *next;
  tern_pbuf *p;         /* data (NULL: end of stream) */
  tern_netconn *child;  /* listeners: an accepted connection */
  tern_addr from;
} nc_item;

/* A multicast group a UDP netconn joined (netconn_mcast.c). */
typedef struct nc_mship {
  struct nc_mship *next;
  tern_addr group, ifaddr;
} nc_mship;

enum nc_state { NC_NEW, NC_CONNECTING, NC_CONNECTED, NC_LISTEN, NC_DONE };

struct tern_netconn {
  tern_tcpip *t;
  tern_netconn_type type;
  /* Stack side: touched only in the stack context. */
  tern_tcp *tcp;
  tern_udp *udp;
  tern_raw *raw;
  uint8_t proto;             /* RAW: the IP protocol */
  /* Shared: under m. */
  tern_mutex *m;
  tern_sem *rx_sem, *tx_sem; /* posted for waiters (condvar emulation) */
  unsigned rx_waiters, tx_waiters;
  unsigned tx_seq;           /* bumped by every sent callback */
  unsigned users;            /* threads inside a call; the last frees */
  enum nc_state state;
  int err;                   /* pending error of the connection */
  bool closing, fin, shut_rx, shut_tx, send_full;
  atomic_bool nocopy_used;   /* a TERN_NETCONN_NOCOPY write happened */
  nc_item *head, *tail;
  uint32_t count, recv_max, backlog;
  size_t rx_bytes;
  /* Settings any thread may change while others block: atomics. */
  _Atomic int recv_timeout, send_timeout;
  _Atomic int linger;        /* seconds; negative: off */
  atomic_bool nonblocking;
  /* TCP options, kept to apply to a pcb made later (after a failed
   * connect): stack side. */
  bool nodelay;
  uint32_t ka_idle, ka_intvl, ka_cnt;
  uint32_t snd_buf, rcv_buf; /* 0: the stack's defaults */
  uint8_t ttl, tos;          /* IP_TTL (0: the stack's), IP_TOS */
  /* Multicast (UDP): stack side. */
  nc_mship *mships;
  uint8_t mcast_ttl;         /* [1] */
  bool mcast_noloop;
  tern_addr mcast_if;
  tern_netconn_event_fn ev;
  void *ud;
};

struct tern_netbuf {
  tern_tcpip *t;
  tern_pbuf *p, *cur;
  tern_addr from;
  tern__tcpip_post post; /* tern_netbuf_free's posted step */
};

/* Stack-side callbacks (netconn_cb.c). */
extern const tern_tcp_cbs tern__nc_tcp_cbs;
void tern__nc_udp_recv(void *arg, tern_udp *pcb, tern_pbuf *p,
                       const tern_addr *from);
void tern__nc_raw_recv(void *arg, tern_raw *pcb, tern_pbuf *p,
                       const tern_addr *from);
/* Leave every group nc joined (stack context, at close). */
void tern__nc_mcast_drop(tern_netconn *nc);
/* Wake every waiter (m held). */
void tern__nc_wake_all(tern_netconn *nc);
void tern__nc_event(tern_netconn *nc, tern_netconn_evt e, size_t len);
/* A netconn for a pcb (accepted); NULL when out of memory. */
tern_netconn *tern__nc_alloc(tern_tcpip *t, tern_netconn_type type);
void tern__nc_destroy(tern_netconn *nc);
/* Free every queued item (stack context). */
void tern__nc_drain(tern_netconn *nc);

/* For sockets, which batch the stack steps of receiving: take one unit
 * from the mailbox without a stack step (TERN_ECLOSED at end of stream),
 * then give back consumed chains and open the window by `bytes` in one
 * step for many units. done works also on a closing netconn the caller
 * still holds (tern__netconn_hold). */
int tern__netconn_take(tern_netconn *nc, int timeout_ms, tern_pbuf **p,
                       tern_addr *from);
void tern__netconn_done(tern_netconn *nc, tern_pbuf **ps, size_t n,
                        uint32_t bytes);
/* Keep nc's memory alive across calls (a socket holds its netconn);
 * hold fails with TERN_ECLOSED once it is closing. */
int tern__netconn_hold(tern_netconn *nc);
void tern__netconn_release(tern_netconn *nc);
/* TCP buffer sizes: the configured ones, else what the pcb has now
 * (send buffer: room + queued; receive: window + bytes in the mailbox). */
int tern__netconn_bufs(tern_netconn *nc, uint32_t *snd, uint32_t *rcv);
/* Is nc being closed (tern_netconn_close called)? */
bool tern__netconn_closing(tern_netconn *nc);
/* Readiness for select/poll, without a stack step: readable (data, a
 * connection, end of stream, error, closed), writable (connected with
 * send-buffer room, or UDP), error pending. */
void tern__netconn_poll(tern_netconn *nc, bool *rd, bool *wr, bool *er);

#endif
