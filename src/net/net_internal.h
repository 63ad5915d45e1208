/* net_internal.h: the connection core's private structures.
 *
 * Files: mgr.c (manager, lists, the flush that delivers deferred events and
 * frees closed connections), conn.c (the public per-connection calls),
 * conn_core.c (the tern_core_* calls a backend makes), conn_timer.c
 * (deadlines: connect, idle, drain; POLL; the "conn/close" fault),
 * resolve.c (names on a helper thread), happy.c (a client to a name:
 * resolver answers, then racing attempts, RFC 8305), conmon.c (what a
 * client's connect went through, tern/conmon.h), net_metrics.c (the
 * core's metrics and system connections), backend_sock.c (host sockets).
 *
 * Lifetime of a tern_conn:
 *   alloc -> (backend set up) -> linked into mgr->live, OPEN
 *   ... events ...
 *   conn_finish(): F_FINAL set, backend released, timers freed, moved to
 *   mgr->closing; from then on no event but CLOSE is delivered.
 *   mgr flush (from the loop, never inside a user's call): CLOSE, free.
 */
#ifndef TERN_NET_INTERNAL_H
#define TERN_NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/backend.h"
#include "tern/fi.h"
#include "tern/net.h"

enum {
  F_LISTENER = 1u << 0,
  F_UDP = 1u << 1,
  F_CLIENT = 1u << 2,
  F_RESOLVING = 1u << 3,
  F_CONNECTING = 1u << 4,
  F_CONNECTED = 1u << 5,  /* data may flow (accepted, connected, UDP) */
  F_CLOSING = 1u << 6,    /* tern_close: draining the send queue */
  F_SHUT_WANTED = 1u << 7,/* tern_shutdown: FIN after the queue drains */
  F_SHUT_DONE = 1u << 8,
  F_HALF_CLOSE = 1u << 9,
  F_PEER_EOF = 1u << 10,
  F_WANT_WRITABLE = 1u << 11,
  F_FINAL = 1u << 12,     /* finished; only CLOSE remains */
  F_PENDING = 1u << 13,   /* on mgr->pending */
  F_IN_READ = 1u << 14,   /* READ is being delivered from backend bytes */
  F_WRITE_ON = 1u << 15,  /* backend asked for writable notifications */
  F_TIMEOUT_SET = 1u << 16, /* idle timeout set inside a TIMEOUT handler */
  F_ACCEPT_PAUSED = 1u << 17,
  F_BACKEND = 1u << 18,   /* the backend holds resources for this conn */
  F_ABORT = 1u << 19,
  F_RESOLVE_EXT = 1u << 20, /* resolving with mgr->names, not the thread */
  F_ATTEMPT = 1u << 21,   /* a hidden happy-eyeballs attempt (happy.c):
                             never linked, no events, ud is its race */
  F_SYSTEM = 1u << 22,    /* a helper's connection (tern_conn_set_system) */
  F_COUNTED = 1u << 23,   /* counted as opened in mgr->mx */
};

/* Notifications owed to a connection, delivered by the flush. */
enum {
  P_CONNECT = 1u << 0,  /* UDP client: CONNECT */
  P_WRITABLE = 1u << 1, /* WRITABLE */
  P_WRITE = 1u << 2,    /* WRITE with sent_unreported bytes */
  P_COUNT = 1u << 3,    /* count as opened (metrics; after the creating
                           call returned, so tern_conn_set_system counts) */
};

/* net_metrics.c: the core's metrics (tern_mgr_set_metrics), by kind of
 * connection and class (user, system). */
enum { MX_LISTEN, MX_ACCEPTED, MX_CLIENT, MX_UDP, MX_KINDS };
struct tern_metric;
typedef struct tern__net_mx {
  struct tern_metric *opened[MX_KINDS][2], *closed[MX_KINDS][2],
      *active[MX_KINDS][2];
  struct tern_metric *bytes_in[2], *bytes_out[2], *connect_fail[2];
} tern__net_mx;

struct tern_conn {
  tern_conn *prev, *next; /* mgr->live (creation order), or mgr->closing */
  tern_conn *pnext;       /* mgr->pending */
  tern_mgr *mgr;
  tern_conn_fn fn;
  void *ud;
  uint64_t id;
  union { /* one or the other (F_CLIENT tells), to keep the conn small */
    tern_conn *listener; /* accepted conns: the listener while it lives */
    struct tern__happy *happy; /* F_CLIENT to a name: resolving, racing
                                  (the resolver thread's request in it) */
  };
  struct tern_conmon *cm;    /* recording (conmon.c), NULL: not */
  tern_timer *deadline; /* connect / idle / drain; in deadline_mem, made on
                           first use */
  tern_timer *poller;   /* POLL; created on first use */
  tern_buf rx, tx;
  tern_addr local, peer;
  uint64_t last_io;     /* loop ms of the last byte in or out */
  uint64_t start_ms;    /* connect or drain start */
  size_t sent_unreported;
  size_t tx_lowat;
  size_t cb_consumed;   /* tern_conn_consume during a direct READ */
  size_t cb_len;        /* length of that READ's data */
  const uint8_t *cb_data;
  uint32_t idle_ms, poll_ms;
  uint32_t max_conns, nchildren;
  uint32_t flags;
  uint8_t pend;        /* P_* */
  int reason;          /* close reason once F_FINAL */
  tern_timer_storage deadline_mem;
  max_align_t priv[];  /* backend's per-connection area */
};

/* A tern_mgr_foreach in progress: where it goes next. Kept on a list so
 * that unlinking a connection moves every walk past it (nested walks
 * included). */
struct tern__walk {
  tern_conn *next;
  struct tern__walk *up;
};

struct tern_mgr {
  tern_loop *loop;
  int own_loop;
  int freeing;
  const tern_backend *be;
  void *be_state;
  tern_limits lim;
  tern_conn *live_head, *live_tail;
  struct tern__walk *walks; /* tern_mgr_foreach calls in progress */
  tern_conn *closing; /* singly linked through next */
  tern_conn *pending; /* singly linked through pnext */
  tern_timer *flush;
  /* Sends gathered while cork_conn handles READ (conn.c, "corking"). */
  tern_conn *cork_conn;
  uint8_t *cork;       /* TERN_NET_CORK_BYTES, made on first use */
  size_t cork_len;
  size_t count;
  size_t nsystem;     /* live connections flagged F_SYSTEM */
  bool conmon_all;    /* client connections record (tern_mgr_set_conmon) */
  uint64_t next_id;
  struct tern__resolver *resolver;    /* the getaddrinfo thread */
  const tern_name_resolver *names;    /* set: used instead of it */
  tern_fi *fi;                        /* fault injection, NULL: none */
  bool own_fi;                        /* made from TERN_FI: freed with m */
  void *names_ctx;
  struct tern__fi_close *fi_closes;   /* "conn/close" resets due (no room
                                         is taken in every tern_conn) */
  struct tern_metrics *metrics;       /* NULL: none attached */
  tern__net_mx *mx;                   /* its metrics, made on attach */
};

/* mgr.c */
tern_conn *tern__conn_alloc(tern_mgr *m, uint32_t flags, tern_conn_fn fn,
                            void *ud);
void tern__conn_free_unseen(tern_conn *c);
void tern__conn_link(tern_conn *c);
void tern__conn_emit(tern_conn *c, tern_event *ev);
void tern__conn_pend(tern_conn *c, uint8_t what);
void tern__conn_finish(tern_conn *c, int reason);
void tern__conn_fail(tern_conn *c, int err, const char *msg);

void tern__conn_discard(tern_conn *c);
/* net_metrics.c (each a no-op unless mgr->mx) */
void tern__mx_open(tern_conn *c);
void tern__mx_close(tern_conn *c);
void tern__mx_free(tern_mgr *m);
#define TERN__MX_CLASS(c) (((c)->flags & F_SYSTEM) ? 1 : 0)

/* conn.c */
void tern__conn_flush_tx(tern_conn *c);
bool tern__conn_cork(tern_conn *c);
void tern__conn_uncork(tern_conn *c);
void tern__conn_cork_drop(tern_conn *c);
/* RESOLVE, then connect c itself to a (TERN_ECLOSED: the handler ended
 * it); an error leaves c as it was for the next address. */
int tern__conn_start_connect(tern_conn *c, const tern_addr *a);

/* conn_core.c: a connect finished (after fault injection), for c itself */
void tern__conn_connected(tern_conn *c, int err);

/* happy.c: resolving and racing for a client connection to a name. */
#define TERN__HE_PER_FAMILY 8
int tern__happy_new(tern_conn *c, const char *host, size_t len, uint16_t port);
void tern__happy_free(tern_conn *c);
/* family 0: everything (final); else one family's answer. */
void tern__happy_answer(tern_conn *c, int family, int err, const tern_addr *a,
                        size_t n);
/* An attempt (F_ATTEMPT) finished connecting. */
void tern__happy_attempt_done(tern_conn *att, int err);
const char *tern__happy_host(const tern_conn *c);
/* The record was taken: attempts in flight no longer point into it. */
void tern__happy_forget_cm(tern_conn *c);
/* Where the resolver thread's request is kept (NULL: no race state). */
struct tern__resolve_req **tern__happy_resolve_slot(tern_conn *c);

/* conmon.c: recording; every call is made only when c->cm is set. */
int tern__cm_new(tern_conn *c);
void tern__cm_free(tern_conn *c);
void tern__cm_dns(tern_conn *c, int family, int err, const tern_addr *a,
                  size_t n);
int tern__cm_attempt_start(tern_conn *c, const tern_addr *a);
void tern__cm_attempt_end(tern_conn *c, int idx, int result);
void tern__cm_connected(tern_conn *c, int err);
void tern__cm_first_byte(tern_conn *c);

/* conn_timer.c */
void tern__conn_arm_deadline(tern_conn *c);
void tern__conn_timers_free(tern_conn *c);
/* Fault injection "conn/close": an established TCP connection may get a
 * timed reset (a no-op without faults). */
void tern__conn_fi_established(tern_conn *c);

/* A buffer append that fault injection ("mem/alloc") may refuse when the
 * buffer would have to allocate. */
static inline int tern__conn_buf_append(tern_conn *c, tern_buf *b,
                                        const void *p, size_t n) {
  if (c->mgr->fi && b->cap - b->len < n && tern_fi_hit(c->mgr->fi, "mem/alloc"))
    return TERN_ENOMEM;
  return tern_buf_append(b, p, n);
}

/* resolve.c: getaddrinfo on a helper thread, one per manager, lazily;
 * the answer (every address) goes to tern__happy_answer. */
struct tern__resolve_req;
int tern__resolve_start(tern_conn *c, const char *host, size_t host_len,
                        uint16_t port, int udp);
void tern__resolve_cancel(tern_conn *c);
void tern__resolver_free(tern_mgr *m);
int tern__resolve_sync(const char *host, size_t host_len, uint16_t port,
                       int udp, tern_addr *out);


#endif /* TERN_NET_INTERNAL_H */
