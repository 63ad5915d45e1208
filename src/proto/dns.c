/* proto/dns.c: the asynchronous DNS client (tern/dns.h) over the
 * connection API. Messages are built and checked by dns_msg.c.
 *
 * Read first: RFC 1035 4.2.1 (UDP, retransmission), RFC 1536 (common
 * resolver mistakes: fixed ports and ids, no backoff), RFC 5452 (random
 * id and source port, accept only the answer to the question), RFC 2308
 * (negative caching), RFC 6761 6.3 (localhost), resolv.conf(5).
 *
 * Shapes:
 * - A lookup (one name, one family) has one sub-query per record type
 *   (AAAA, A). Lookups asked again while in flight gain a waiter instead
 *   of sending again.
 * - A sub-query makes tries: try k goes to server k % nservers from a
 *   fresh UDP connection (fresh random port) with a fresh random id, and
 *   waits what the retry policy (tern/retry.h) says for try k: by default
 *   timeout << (k / nservers), attempts rounds over the servers. SERVFAIL,
 *   REFUSED and truncated answers move on to the next try at once; an
 *   answer that does not match is counted and ignored. After the last
 *   try: TERN_ETIMEDOUT.
 * - DNS 0x20 (draft-vixie-dnsext-dns0x20): each try spells the name with
 *   random letter case, and the answer's question must repeat it exactly
 *   (a forger must guess the case too, about one bit per letter). A server
 *   that answers with the case changed is noted and asked without it from
 *   then on (the fallback: some servers lowercase the question); that
 *   answer itself is not used and the next try starts at once.
 * - Answers (and negative answers with an SOA) go to an LRU cache keyed by
 *   (lowercased name, type), bounded by cache_max per type.
 * - Callbacks run from the loop only: answers known at once (cache, IP
 *   literals, localhost) wait on a ready list for a zero-delay timer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dns_msg.h"
#include "tern/dns.h"
#include "tern/fi.h"
#include "tern/loop.h"
#include "tern/metrics.h"
#include "tern/port.h"
#include "tern/retry.h"

#define MAX_SERVERS 8
#define MAX_TRIES 64 /* entries of the default retry table */
#define MAX_OUT (2 * TERN__DNS_MAX_ADDRS)

typedef struct cache_entry {
  struct cache_entry *prev, *next; /* LRU: head is the most recent */
  uint16_t qtype;
  int status;                      /* TERN_OK or TERN_ERESOLVE */
  uint64_t expires;                /* loop ms */
  size_t naddrs;
  tern_addr addrs[TERN__DNS_MAX_ADDRS];
  char name[TERN__DNS_MAX_NAME + 1];
} cache_entry;

struct lookup;

typedef struct subq {
  struct lookup *lk;
  uint16_t qtype;
  bool done;
  int status;
  size_t naddrs;
  tern_addr addrs[TERN__DNS_MAX_ADDRS];
  uint16_t id;
  bool mixed;          /* the current try's name has random case (0x20) */
  unsigned tries;
  unsigned refusals;   /* tries answered SERVFAIL, REFUSED, truncated */
  size_t srv;          /* server of the current try */
  bool tcp;            /* the current try went over to TCP (truncated) */
  tern_conn *conn;
  tern_timer *timer;
  size_t qlen;
  uint8_t query[TERN__DNS_HEADER + TERN__DNS_MAX_NAME + 8];
  char qname[TERN__DNS_MAX_NAME + 1]; /* as sent, case and all */
} subq;

typedef struct lookup {
  struct lookup *next; /* d->inflight */
  tern_dns *d;
  int family;
  bool finishing;      /* delivering: cancel must not free it */
  unsigned nsq;
  subq sq[2];
  tern_dns_query *waiters;
  uint64_t start_ms;   /* loop time it began (the latency metric) */
  char name[TERN__DNS_MAX_NAME + 1]; /* lowercased, no final dot */
} lookup;

struct tern_dns_query {
  tern_dns_query *next;
  lookup *lk;          /* NULL: on the ready list */
  tern_dns *d;
  tern_dns_fn fn;
  void *ud;
  int status;          /* ready list: the answer */
  size_t n;
  tern_addr addrs[MAX_OUT];
};

enum { MX_LOOKUPS, MX_CACHE_HITS, MX_QUERIES, MX_TIMEOUTS, MX_FAILURES,
       MX_LATENCY, MX_COUNT };

struct tern_dns {
  tern_mgr *m;
  tern_loop *loop;
  tern_addr servers[MAX_SERVERS];
  bool no0x20[MAX_SERVERS]; /* answered with the case changed: plain */
  size_t nservers;
  bool case_random;         /* DNS 0x20 on */
  tern_retry_policy retry;  /* the user's, or the default below */
  uint32_t table[MAX_TRIES];
  uint32_t timeout_ms, attempts, cache_max, max_ttl;
  lookup *inflight;
  size_t ninflight;   /* bounded by max_inflight */
  uint32_t max_inflight;
  tern_dns_query *ready, *ready_tail;
  tern_timer *ready_timer;
  cache_entry *lru_head, *lru_tail;
  size_t ncache;
  struct conn_req *conn_reqs; /* tern_connect names being resolved */
  bool for_connects;
  tern_dns_stats st;
  tern_metrics *mx_reg; /* the manager's registry the mx are in */
  tern_metric *mx[MX_COUNT];
};

/* ---- metrics (the manager's registry, tern_mgr_set_metrics) -------------- */

/* Count one event (v: the latency for MX_LATENCY); a NULL test without a
 * registry. The metrics are made on first use. */
static void mx(tern_dns *d, int which, double v) {
  tern_metrics *reg = tern_mgr_metrics(d->m);
  if (reg == NULL) return;
  if (reg != d->mx_reg) {
    memset(d->mx, 0, sizeof d->mx);
    d->mx_reg = reg;
  }
  if (d->mx[which] == NULL) {
    static const char *const name[MX_COUNT][2] = {
        {"tern_dns_lookups_total", "DNS lookups asked for."},
        {"tern_dns_cache_hits_total", "DNS lookups answered from the cache."},
        {"tern_dns_queries_total", "DNS queries sent."},
        {"tern_dns_timeouts_total", "DNS tries without an answer."},
        {"tern_dns_failures_total", "DNS lookups that gave no address."},
        {"tern_dns_lookup_duration_ms", "DNS lookups sent to a server, until the answer, in ms."}};
    d->mx[which] = which == MX_LATENCY
                       ? tern_metrics_histogram(reg, name[which][0], name[which][1], NULL, NULL, 0)
                       : tern_metrics_counter(reg, name[which][0], name[which][1], NULL);
  }
  if (which == MX_LATENCY) tern_metric_observe(d->mx[which], v);
  else tern_metric_add(d->mx[which], 1);
}

/* A tern_connect waiting for its name: an AAAA and an A lookup, each
 * handed to the connection as it comes (happy eyeballs, RFC 8305 3). */
typedef struct conn_req {
  struct conn_req *next;
  tern_dns *d;
  tern_conn *c;
  tern_dns_query *q6, *q4; /* NULL once answered */
} conn_req;

/* ---- configuration ------------------------------------------------------ */

/* "IP", "IP:port", "[IPv6]" or "[IPv6]:port". */
static int server_parse(const char *s, size_t n, tern_addr *out) {
  if (tern_addr_parse(s, n, out) == TERN_OK) return TERN_OK;
  if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
    s++;
    n -= 2;
  }
  if (tern_addr_parse_ip(s, n, out) != TERN_OK) return TERN_EINVAL;
  out->port = 53;
  return TERN_OK;
}

static int servers_from_list(tern_dns *d, const char *list) {
  const char *p = list;
  while (*p) {
    while (*p == ',' || *p == ' ' || *p == '\t') p++;
    const char *s = p;
    while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
    if (p == s) break;
    if (d->nservers == MAX_SERVERS) return TERN_EINVAL;
    if (server_parse(s, (size_t)(p - s), &d->servers[d->nservers]) != TERN_OK)
      return TERN_EINVAL;
    d->nservers++;
  }
  return d->nservers ? TERN_OK : TERN_EINVAL;
}

/* resolv.conf(5): "nameserver IP" lines; "options timeout:n attempts:n"
 * where the caller left them unset. A missing file is no error. */
static void servers_from_resolv_conf(tern_dns *d, const char *path,
                                     bool timeout_set, bool attempts_set) {
  FILE *f = fopen(path ? path : "/etc/resolv.conf", "r");
  if (f == NULL) return;
  char line[512];
  while (fgets(line, sizeof(line), f) != NULL) {
    char *save = NULL, *w = strtok_r(line, " \t\r\n", &save);
    if (w == NULL || w[0] == '#' || w[0] == ';') continue;
    if (strcmp(w, "nameserver") == 0) {
      char *ip = strtok_r(NULL, " \t\r\n", &save);
      if (ip && d->nservers < MAX_SERVERS &&
          tern_addr_parse_ip(ip, strlen(ip), &d->servers[d->nservers]) ==
              TERN_OK) {
        d->servers[d->nservers].port = 53;
        d->nservers++;
      }
    } else if (strcmp(w, "options") == 0) {
      char *o;
      while ((o = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
        unsigned v;
        if (!timeout_set && sscanf(o, "timeout:%u", &v) == 1 && v > 0)
          d->timeout_ms = v * 1000;
        else if (!attempts_set && sscanf(o, "attempts:%u", &v) == 1 && v > 0)
          d->attempts = v;
      }
    }
  }
  fclose(f);
}

/* ---- the cache ---------------------------------------------------------- */

static void lru_unlink(tern_dns *d, cache_entry *e) {
  if (e->prev) e->prev->next = e->next;
  else d->lru_head = e->next;
  if (e->next) e->next->prev = e->prev;
  else d->lru_tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push(tern_dns *d, cache_entry *e) {
  e->prev = NULL;
  e->next = d->lru_head;
  if (d->lru_head) d->lru_head->prev = e;
  d->lru_head = e;
  if (d->lru_tail == NULL) d->lru_tail = e;
}

static void cache_drop(tern_dns *d, cache_entry *e) {
  lru_unlink(d, e);
  d->ncache--;
  free(e);
}

/* A fresh entry for (name, qtype), moved to the front; NULL if none. */
static cache_entry *cache_get(tern_dns *d, const char *name, uint16_t qtype) {
  uint64_t now = tern_loop_now(d->loop);
  for (cache_entry *e = d->lru_head; e != NULL; e = e->next) {
    if (e->qtype != qtype || strcmp(e->name, name) != 0) continue;
    if (now >= e->expires) {
      cache_drop(d, e);
      return NULL;
    }
    lru_unlink(d, e);
    lru_push(d, e);
    return e;
  }
  return NULL;
}

static void cache_put(tern_dns *d, const char *name, const subq *sq,
                      uint32_t ttl) {
  if (ttl > d->max_ttl) ttl = d->max_ttl;
  if (ttl == 0 || d->cache_max == 0) return;
  cache_entry *e = cache_get(d, name, sq->qtype);
  if (e == NULL) {
    if (d->ncache >= d->cache_max * 2) cache_drop(d, d->lru_tail);
    if ((e = calloc(1, sizeof(*e))) == NULL) return; /* just not cached */
    memcpy(e->name, name, strlen(name) + 1);
    e->qtype = sq->qtype;
    lru_push(d, e);
    d->ncache++;
  }
  e->status = sq->status;
  e->naddrs = sq->naddrs;
  memcpy(e->addrs, sq->addrs, sq->naddrs * sizeof(tern_addr));
  e->expires = tern_loop_now(d->loop) + (uint64_t)ttl * 1000;
}

void tern_dns_flush(tern_dns *d) {
  while (d->lru_head) cache_drop(d, d->lru_head);
}

/* ---- answers ------------------------------------------------------------ */

static void ready_push(tern_dns *d, tern_dns_query *q) {
  q->next = NULL;
  if (d->ready_tail) d->ready_tail->next = q;
  else d->ready = q;
  d->ready_tail = q;
  if (!tern_timer_active(d->ready_timer)) tern_timer_start(d->ready_timer, 0, 0);
}

static void on_ready(tern_timer *t, void *ud) {
  tern_dns *d = ud;
  (void)t;
  /* One at a time from the list (a callback may cancel another), and only
   * those there now: ones added by callbacks wait for the next run. */
  size_t n = 0;
  for (tern_dns_query *q = d->ready; q; q = q->next) n++;
  while (n-- > 0 && d->ready != NULL) {
    tern_dns_query *q = d->ready;
    d->ready = q->next;
    if (d->ready == NULL) d->ready_tail = NULL;
    q->fn(q, q->status, q->addrs, q->n, q->ud);
    free(q);
  }
  if (d->ready) tern_timer_start(d->ready_timer, 0, 0);
}

/* Collect a record type's addresses into out (AAAA before A). */
static void add_addrs(tern_addr *out, size_t *n, const tern_addr *a, size_t k) {
  for (size_t i = 0; i < k && *n < MAX_OUT; i++) out[(*n)++] = a[i];
}

/* End the current try's connection; no event reaches sq afterwards. */
static void subq_drop_conn(subq *sq) {
  if (sq->conn == NULL) return;
  tern_conn_set_fn(sq->conn, NULL);
  tern_abort(sq->conn);
  sq->conn = NULL;
}

static void subq_stop(subq *sq) {
  subq_drop_conn(sq);
  if (sq->timer) {
    tern_timer_free(sq->timer);
    sq->timer = NULL;
  }
}

static void lookup_unlink(lookup *lk) {
  tern_dns *d = lk->d;
  for (lookup **p = &d->inflight; *p; p = &(*p)->next)
    if (*p == lk) {
      *p = lk->next;
      d->ninflight--;
      break;
    }
}

static void lookup_free(lookup *lk) {
  for (unsigned i = 0; i < lk->nsq; i++) subq_stop(&lk->sq[i]);
  free(lk);
}

static void lookup_finish(lookup *lk) {
  tern_addr out[MAX_OUT];
  size_t n = 0;
  bool negative = false, refused = true;
  for (unsigned i = 0; i < lk->nsq; i++) {
    add_addrs(out, &n, lk->sq[i].addrs, lk->sq[i].naddrs);
    negative |= lk->sq[i].status == TERN_ERESOLVE;
    refused &= lk->sq[i].status == TERN_EAGAIN;
  }
  int status = n          ? TERN_OK
               : negative ? TERN_ERESOLVE
               : refused  ? TERN_EAGAIN
                          : TERN_ETIMEDOUT;
  lookup_unlink(lk);
  if (status != TERN_OK) mx(lk->d, MX_FAILURES, 0);
  mx(lk->d, MX_LATENCY, (double)(tern_loop_now(lk->d->loop) - lk->start_ms));
  lk->finishing = true;
  tern_dns_query *q;
  while ((q = lk->waiters) != NULL) { /* a callback may cancel the rest */
    lk->waiters = q->next;
    q->fn(q, status, out, n, q->ud);
    free(q);
  }
  lookup_free(lk);
}

static void subq_done(subq *sq, int status) {
  subq_stop(sq);
  sq->done = true;
  sq->status = status;
  lookup *lk = sq->lk;
  for (unsigned i = 0; i < lk->nsq; i++)
    if (!lk->sq[i].done) return;
  lookup_finish(lk);
}

/* ---- one try ------------------------------------------------------------ */

static void subq_try(subq *sq);

static void subq_tcp(subq *sq);

/* An answer (from UDP, or the length-framed one from TCP). */
static void on_answer(subq *sq, const uint8_t *p, size_t len) {
  tern_dns *d = sq->lk->d;
  tern__dns_result r;
  int rc = tern__dns_response_parse(p, len, sq->id, sq->lk->name, sq->qtype, &r);
  if (rc != TERN_EPROTO && sq->mixed &&
      !tern__dns_question_exact(p, len, sq->qname)) {
    /* Our question, but not spelled as asked: a server that does not
     * keep the case (or a forger who could not guess it). The answer is
     * not used; that server is asked without 0x20 from now on. */
    d->st.case_mismatch++;
    d->no0x20[sq->srv] = true;
    sq->refusals++;
    subq_try(sq);
    return;
  }
  switch (rc) {
  case TERN_OK:
  case TERN_ERESOLVE:
    d->st.answers++;
    sq->naddrs = r.naddrs;
    memcpy(sq->addrs, r.addrs, r.naddrs * sizeof(tern_addr));
    sq->status = rc;
    cache_put(d, sq->lk->name, sq, r.ttl);
    subq_done(sq, rc);
    return;
  case TERN_EMSGSIZE: /* RFC 7766 5: truncated over UDP: ask again over TCP */
    if (!sq->tcp) {
      d->st.tcp_retries++;
      subq_tcp(sq);
      return;
    }
    d->st.server_errors++; /* truncated even over TCP: as a refusal */
    sq->refusals++;
    subq_try(sq);
    return;
  case TERN_EAGAIN: /* SERVFAIL, REFUSED, ...: the next server */
    d->st.server_errors++;
    sq->refusals++;
    subq_try(sq);
    return;
  default: /* not the answer to this question: keep waiting */
    d->st.ignored++;
    return;
  }
}

static void on_udp(tern_conn *c, const tern_event *ev, void *ud) {
  subq *sq = ud;
  tern_dns *d = sq->lk->d;
  if (ev->type == TERN_EV_CONNECT) {
    if (tern_send(c, sq->query, sq->qlen) == TERN_OK) d->st.queries_sent++, mx(d, MX_QUERIES, 0);
    return;
  }
  if (ev->type == TERN_EV_CLOSE) {
    if (sq->conn == c) sq->conn = NULL; /* the timer moves on */
    return;
  }
  if (ev->type != TERN_EV_READ) return;
  tern_conn_consume(c, ev->read.len);
  if (tern_fi_hit(tern_mgr_fi(d->m), "dns/drop")) return; /* a lost answer */
  on_answer(sq, ev->read.data, ev->read.len);
}

/* RFC 1035 4.2.2 / RFC 7766: over TCP each message has a two-octet length
 * in front. */
static void on_tcp(tern_conn *c, const tern_event *ev, void *ud) {
  subq *sq = ud;
  tern_dns *d = sq->lk->d;
  if (ev->type == TERN_EV_CONNECT) {
    uint8_t len[2] = {(uint8_t)(sq->qlen >> 8), (uint8_t)sq->qlen};
    tern_iov iov[2] = {{len, 2}, {sq->query, sq->qlen}};
    if (tern_sendv(c, iov, 2) == TERN_OK) d->st.queries_sent++, mx(d, MX_QUERIES, 0);
    return;
  }
  if (ev->type == TERN_EV_CLOSE) {
    if (sq->conn == c) sq->conn = NULL; /* the timer moves on */
    return;
  }
  if (ev->type != TERN_EV_READ || ev->read.len < 2) return;
  size_t need = (size_t)ev->read.data[0] << 8 | ev->read.data[1];
  if (ev->read.len < 2 + need) return; /* the rest is on its way */
  tern_conn_consume(c, 2 + need);
  on_answer(sq, ev->read.data + 2, need);
}

/* Ask the server of the current try again, over TCP. */
static void subq_tcp(subq *sq) {
  tern_dns *d = sq->lk->d;
  subq_drop_conn(sq);
  sq->tcp = true;
  char url[TERN_ADDR_STRLEN + 8];
  memcpy(url, "tcp://", 6);
  if (tern_addr_format(&d->servers[sq->srv], true, url + 6, sizeof(url) - 6) < 0 ||
      tern_connect(d->m, url, on_tcp, sq, &sq->conn) != TERN_OK) {
    sq->conn = NULL;
    tern_timer_start(sq->timer, 0, 0); /* the next try, from the loop */
    return;
  }
  tern_conn_set_system(sq->conn, true);
  tern_timer_start(sq->timer, d->timeout_ms, 0);
}

static void on_try_timeout(tern_timer *t, void *ud) {
  subq *sq = ud;
  (void)t;
  sq->lk->d->st.timeouts++;
  mx(sq->lk->d, MX_TIMEOUTS, 0);
  subq_try(sq);
}

/* draft-vixie-dnsext-dns0x20 4: each letter upper or lower case at
 * random (one random bit per letter). */
static bool spell_random(char *out, const char *name) {
  uint8_t bits[32];
  size_t n = strlen(name);
  if (tern_random(bits, sizeof(bits)) != TERN_OK) {
    memcpy(out, name, n + 1);
    return false; /* no entropy: the plain name */
  }
  for (size_t i = 0; i <= n; i++) {
    char ch = name[i];
    if (ch >= 'a' && ch <= 'z' && (bits[(i / 8) % 32] >> (i % 8) & 1))
      ch = (char)(ch - 32);
    out[i] = ch;
  }
  return true;
}

static void subq_try(subq *sq) {
  lookup *lk = sq->lk;
  tern_dns *d = lk->d;
  subq_drop_conn(sq);
  /* the policy's table gives each try's wait; conceal bounds the retries
   * (0: as many tries as the table has entries) */
  unsigned last = d->retry.conceal ? d->retry.conceal : d->retry.n - 1u;
  if (sq->tries > last) { /* every try refused, or some not answered */
    subq_done(sq, sq->refusals == sq->tries ? TERN_EAGAIN : TERN_ETIMEDOUT);
    return;
  }
  uint16_t k = sq->tries > UINT16_MAX ? UINT16_MAX : (uint16_t)sq->tries;
  uint64_t wait = tern_retry_next(&d->retry, &k, NULL);
  sq->srv = sq->tries % d->nservers;
  const tern_addr *srv = &d->servers[sq->srv];
  sq->tries++;
  sq->tcp = false;
  /* RFC 5452 9.2: an unpredictable id; the port comes from a new socket */
  if (tern_random(&sq->id, sizeof(sq->id)) != TERN_OK) sq->id ^= 0x5a5a;
  sq->mixed = d->case_random && !d->no0x20[sq->srv] &&
              spell_random(sq->qname, lk->name);
  if (!sq->mixed) memcpy(sq->qname, lk->name, strlen(lk->name) + 1);
  long n = tern__dns_query_encode(sq->query, sizeof(sq->query), sq->id,
                                  sq->qname, sq->qtype);
  char url[TERN_ADDR_STRLEN + 8];
  memcpy(url, "udp://", 6);
  if (n <= 0 || tern_addr_format(srv, true, url + 6, sizeof(url) - 6) < 0 ||
      tern_connect(d->m, url, on_udp, sq, &sq->conn) != TERN_OK) {
    sq->conn = NULL; /* cannot ask this one: the next try, from the loop */
    wait = 0;
  }
  if (sq->conn) tern_conn_set_system(sq->conn, true); /* the helper's own */
  sq->qlen = n > 0 ? (size_t)n : 0;
  tern_timer_start(sq->timer, wait, 0);
}

/* ---- the calls ---------------------------------------------------------- */

int tern_dns_new(tern_mgr *m, const tern_dns_opts *o, tern_dns **out) {
  if (m == NULL || out == NULL) return TERN_EINVAL;
  tern_dns *d = calloc(1, sizeof(*d));
  if (d == NULL) return TERN_ENOMEM;
  d->m = m;
  d->loop = tern_mgr_loop(m);
  d->timeout_ms = o && o->timeout_ms ? o->timeout_ms : 1000;
  d->attempts = o && o->attempts ? o->attempts : 2;
  d->cache_max = o && o->cache_max ? o->cache_max : 128;
  d->max_ttl = o && o->max_ttl ? o->max_ttl : 3600;
  d->max_inflight = o && o->max_inflight ? o->max_inflight : 64;
  d->case_random = !(o && o->no_case_random);
  int rc = TERN_OK;
  if (o && o->servers) {
    rc = servers_from_list(d, o->servers);
  } else {
    servers_from_resolv_conf(d, o ? o->resolv_conf : NULL,
                             o && o->timeout_ms, o && o->attempts);
    if (d->nservers == 0) {
      tern_addr_parse("127.0.0.1:53", 12, &d->servers[0]);
      d->nservers = 1;
    }
  }
  if (rc == TERN_OK && o && o->retry) {
    if (o->retry->table_ms == NULL || o->retry->n == 0) rc = TERN_EINVAL;
    else d->retry = *o->retry;
  } else if (rc == TERN_OK) {
    /* the default: attempts rounds over the servers, each round's wait
     * twice the last (RFC 1035 4.2.1, RFC 1536 1), no jitter */
    uint64_t tries = (uint64_t)d->attempts * d->nservers;
    if (tries > MAX_TRIES) tries = MAX_TRIES;
    for (size_t k = 0; k < tries; k++) {
      size_t round = k / d->nservers;
      uint64_t w = (uint64_t)d->timeout_ms << (round < 6 ? round : 6);
      d->table[k] = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
    }
    d->retry = (tern_retry_policy){d->table, (uint16_t)tries,
                                   (uint16_t)(tries - 1), 0};
  }
  if (rc == TERN_OK) rc = tern_timer_new(d->loop, &d->ready_timer, on_ready, d);
  if (rc != TERN_OK) {
    free(d);
    return rc;
  }
  *out = d;
  return TERN_OK;
}

void tern_dns_free(tern_dns *d) {
  if (d == NULL) return;
  if (d->for_connects) /* waiting connects fail below, with ECANCELED */
    tern_mgr_set_resolver(d->m, NULL, NULL);
  while (d->inflight) {
    lookup *lk = d->inflight;
    d->inflight = lk->next;
    d->ninflight--;
    tern_dns_query *q;
    while ((q = lk->waiters) != NULL) {
      lk->waiters = q->next;
      q->fn(q, TERN_ECANCELED, NULL, 0, q->ud);
      free(q);
    }
    lookup_free(lk);
  }
  while (d->ready) {
    tern_dns_query *q = d->ready;
    d->ready = q->next;
    q->fn(q, TERN_ECANCELED, NULL, 0, q->ud);
    free(q);
  }
  tern_timer_free(d->ready_timer);
  tern_dns_flush(d);
  free(d);
}

/* RFC 6761 6.3: "localhost" and names under it are the loopback host. */
static bool is_localhost(const char *name) {
  size_t n = strlen(name);
  return strcmp(name, "localhost") == 0 ||
         (n > 10 && strcmp(name + n - 10, ".localhost") == 0);
}

static int answer_now(tern_dns *d, tern_dns_query *q, int family,
                      const tern_addr *a, size_t n) {
  q->n = 0;
  for (size_t i = 0; i < n; i++)
    if (family == 0 || a[i].family == family) q->addrs[q->n++] = a[i];
  q->status = q->n ? TERN_OK : TERN_ERESOLVE;
  ready_push(d, q);
  return TERN_OK;
}

int tern_dns_lookup(tern_dns *d, const char *name, int family, tern_dns_fn fn,
                    void *ud, tern_dns_query **out) {
  if (d == NULL || name == NULL || fn == NULL ||
      (family != 0 && family != TERN_AF_INET && family != TERN_AF_INET6))
    return TERN_EINVAL;
  /* A name that can be sent (the check is the encoder's), lowercased,
   * without its final dot. */
  uint8_t probe[TERN__DNS_HEADER + TERN__DNS_MAX_NAME + 8];
  size_t len = strlen(name);
  tern_addr lit;
  bool literal = tern_addr_parse_ip(name, len, &lit) == TERN_OK;
  if (!literal && tern__dns_query_encode(probe, sizeof(probe), 0, name, 1) < 0)
    return TERN_EINVAL;
  char key[TERN__DNS_MAX_NAME + 1];
  if (len > TERN__DNS_MAX_NAME) return TERN_EINVAL;
  for (size_t i = 0; i <= len; i++)
    key[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
  if (len > 0 && key[len - 1] == '.') key[--len] = '\0';

  tern_dns_query *q = calloc(1, sizeof(*q));
  if (q == NULL) return TERN_ENOMEM;
  q->d = d;
  q->fn = fn;
  q->ud = ud;
  if (out) *out = q;
  d->st.lookups++;
  mx(d, MX_LOOKUPS, 0);

  if (literal) return answer_now(d, q, family, &lit, 1);
  if (tern_fi_hit(tern_mgr_fi(d->m), "dns/fail")) { /* fault injection */
    mx(d, MX_FAILURES, 0);
    return answer_now(d, q, family, NULL, 0);
  }
  if (is_localhost(key)) {
    tern_addr lo[2];
    tern_addr_parse_ip("::1", 3, &lo[0]);
    tern_addr_parse_ip("127.0.0.1", 9, &lo[1]);
    return answer_now(d, q, family, lo, 2);
  }

  uint16_t types[2];
  unsigned nt = 0;
  if (family != TERN_AF_INET) types[nt++] = TERN__DNS_AAAA;
  if (family != TERN_AF_INET6) types[nt++] = TERN__DNS_A;

  /* All of it cached? */
  cache_entry *hit[2] = {NULL, NULL};
  unsigned nhit = 0;
  for (unsigned i = 0; i < nt; i++)
    if ((hit[i] = cache_get(d, key, types[i])) != NULL) nhit++;
  if (nhit == nt) {
    d->st.cache_hits++;
    mx(d, MX_CACHE_HITS, 0);
    q->n = 0;
    for (unsigned i = 0; i < nt; i++) add_addrs(q->addrs, &q->n, hit[i]->addrs, hit[i]->naddrs);
    q->status = q->n ? TERN_OK : TERN_ERESOLVE;
    ready_push(d, q);
    return TERN_OK;
  }

  /* The same question in flight: wait for its answer. */
  for (lookup *lk = d->inflight; lk != NULL; lk = lk->next) {
    if (lk->family == family && strcmp(lk->name, key) == 0) {
      d->st.shared++;
      q->lk = lk;
      q->next = lk->waiters;
      lk->waiters = q;
      return TERN_OK;
    }
  }

  if (d->ninflight >= d->max_inflight) { /* bounded: refuse, do not queue */
    free(q);
    return TERN_EBUSY;
  }
  lookup *lk = calloc(1, sizeof(*lk));
  if (lk == NULL) {
    free(q);
    return TERN_ENOMEM;
  }
  lk->d = d;
  lk->family = family;
  lk->start_ms = tern_loop_now(d->loop);
  memcpy(lk->name, key, len + 1);
  lk->nsq = nt;
  for (unsigned i = 0; i < nt; i++) {
    subq *sq = &lk->sq[i];
    sq->lk = lk;
    sq->qtype = types[i];
    if (hit[i] != NULL) { /* this half is known */
      sq->done = true;
      sq->status = hit[i]->status;
      sq->naddrs = hit[i]->naddrs;
      memcpy(sq->addrs, hit[i]->addrs, hit[i]->naddrs * sizeof(tern_addr));
    } else if (tern_timer_new(d->loop, &sq->timer, on_try_timeout, sq) != TERN_OK) {
      lookup_free(lk);
      free(q);
      return TERN_ENOMEM;
    }
  }
  q->lk = lk;
  lk->waiters = q;
  lk->next = d->inflight;
  d->inflight = lk;
  d->ninflight++;
  /* Cannot finish here (a failed connect retries from the timer), so no
   * callback runs inside this call. */
  for (unsigned i = 0; i < nt; i++)
    if (!lk->sq[i].done) subq_try(&lk->sq[i]);
  return TERN_OK;
}

void tern_dns_cancel(tern_dns_query *q) {
  if (q == NULL) return;
  tern_dns *d = q->d;
  if (q->lk == NULL) { /* on the ready list */
    tern_dns_query **p = &d->ready;
    d->ready_tail = NULL;
    for (; *p; p = &(*p)->next) {
      if (*p == q) {
        *p = q->next;
        break;
      }
    }
    for (tern_dns_query *r = d->ready; r; r = r->next) d->ready_tail = r;
    free(q);
    return;
  }
  lookup *lk = q->lk;
  for (tern_dns_query **p = &lk->waiters; *p; p = &(*p)->next)
    if (*p == q) {
      *p = q->next;
      break;
    }
  free(q);
  if (lk->waiters == NULL && !lk->finishing) { /* nobody wants it now */
    lookup_unlink(lk);
    lookup_free(lk);
  }
}

void tern_dns_get_stats(const tern_dns *d, tern_dns_stats *out) {
  *out = d->st;
  out->cached = d->ncache;
}

/* ---- resolving for tern_connect ------------------------------------------ */

static void conn_req_unlink(conn_req *r) {
  for (conn_req **p = &r->d->conn_reqs; *p; p = &(*p)->next)
    if (*p == r) {
      *p = r->next;
      return;
    }
}

static void conn_answer(tern_dns_query *q, int status, const tern_addr *a,
                        size_t n, void *ud) {
  conn_req *r = ud;
  tern_conn *c = r->c;
  int family = q == r->q6 ? TERN_AF_INET6 : TERN_AF_INET;
  if (family == TERN_AF_INET6) r->q6 = NULL;
  else r->q4 = NULL;
  if (r->q6 == NULL && r->q4 == NULL) {
    conn_req_unlink(r);
    free(r);
  }
  if (status == TERN_EAGAIN) status = TERN_ERESOLVE;
  /* may end c, whose cancel then finds r gone or the other query */
  tern_conn_resolved_family(c, family, status, a, status == TERN_OK ? n : 0);
}

static conn_req *conn_req_find(tern_dns *d, tern_conn *c) {
  for (conn_req *r = d->conn_reqs; r; r = r->next)
    if (r->c == c) return r;
  return NULL;
}

static void conn_resolve_cancel(void *ctx, tern_conn *c) {
  conn_req *r = conn_req_find(ctx, c);
  if (r == NULL) return;
  conn_req_unlink(r);
  if (r->q6) tern_dns_cancel(r->q6);
  if (r->q4) tern_dns_cancel(r->q4);
  free(r);
}

static int conn_resolve_start(void *ctx, tern_conn *c, const char *host,
                              size_t len, uint16_t port) {
  tern_dns *d = ctx;
  char name[TERN__DNS_MAX_NAME + 1];
  (void)port; /* the connection puts it on the addresses */
  if (len > TERN__DNS_MAX_NAME) return TERN_EINVAL;
  memcpy(name, host, len);
  name[len] = '\0';
  conn_req *r = calloc(1, sizeof(*r));
  if (r == NULL) return TERN_ENOMEM;
  r->d = d;
  r->c = c;
  int rc = tern_dns_lookup(d, name, TERN_AF_INET6, conn_answer, r, &r->q6);
  if (rc == TERN_OK) {
    rc = tern_dns_lookup(d, name, TERN_AF_INET, conn_answer, r, &r->q4);
    if (rc != TERN_OK) tern_dns_cancel(r->q6);
  }
  if (rc != TERN_OK) {
    free(r);
    return rc == TERN_EINVAL ? TERN_ERESOLVE : rc;
  }
  r->next = d->conn_reqs;
  d->conn_reqs = r;
  return TERN_OK;
}

static const tern_name_resolver dns_names = {
    .start = conn_resolve_start,
    .cancel = conn_resolve_cancel,
};

void tern_dns_use_for_connects(tern_dns *d) {
  d->for_connects = true;
  tern_mgr_set_resolver(d->m, &dns_names, d);
}
