/* netdb.c: names to addresses for the sequential APIs: a blocking
 * DNS client (RFC 1035) over netconns, run in the caller's thread,
 * with a small cache shared by every thread using the stack.
 *
 * lwIP runs its DNS client on the tcpip thread and netconn_gethostbyname
 * waits for it; here the waiting thread does the work itself with a UDP
 * netconn, so the stack thread never blocks and lookups of different
 * threads run side by side. Messages are built and checked by the codec
 * the loop-side resolver (tern_dns) uses, base/dns_msg: the same checks
 * (id, question, response bit; RFC 5452 9.1), fuzzed by fuzz/dns_msg.
 *
 * Per lookup: a fresh UDP netconn on a random ephemeral port (the stack
 * picks ports at random) and a random id (RFC 5452 4, 9.2); the servers
 * in turn, NETDB_ROUNDS rounds, the wait per try doubling each round
 * (RFC 1035 4.2.1: retransmit with backoff, do not hammer one server);
 * SERVFAIL/REFUSED moves to the next server at once; a datagram that
 * does not answer our question is ignored and the wait goes on; a
 * truncated answer is asked again over TCP (RFC 7766 5). Answers are
 * cached for their TTL (capped), NXDOMAIN and empty answers for the
 * SOA's negative TTL (RFC 2308 5, capped); least recently used out.
 *
 * The stack is IPv4: only A records are asked for.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "base/dns_msg.h"

#define NETDB_MAX_SERVERS 4
#define NETDB_CACHE 8
#define NETDB_ROUNDS 2
#define NETDB_TRY_MS 1000   /* first wait per server; doubles per round */
#define NETDB_MAX_TTL 3600  /* seconds an answer is kept at most */
#define NETDB_NEG_TTL 300   /* ... a negative one */
#define NETDB_PORT 53

typedef struct netdb_entry {
  char name[TERN__DNS_MAX_NAME + 1]; /* lower case, no final dot; "" free */
  int status;                        /* TERN_OK or TERN_ERESOLVE */
  size_t n;
  tern_addr a[TERN__DNS_MAX_ADDRS];
  uint64_t expires, used;            /* ms; use order for eviction */
} netdb_entry;

typedef struct netdb {
  tern_mutex *m;
  tern_addr servers[NETDB_MAX_SERVERS];
  size_t nservers;
  netdb_entry cache[NETDB_CACHE];
  uint64_t tick;
  tern_netdb_stats stats;
} netdb;

static void *netdb_create(tern_tcpip *t) {
  (void)t;
  netdb *d = calloc(1, sizeof *d);
  if (d && tern_mutex_new(&d->m)) {
    free(d);
    d = NULL;
  }
  return d;
}

static void netdb_destroy(void *p) {
  netdb *d = p;
  tern_mutex_free(d->m);
  free(d);
}

static netdb *netdb_of(tern_tcpip *t) {
  return tern__tcpip_slot(t, TERN__TCPIP_NETDB, netdb_create, netdb_destroy);
}

int tern_tcpip_set_dns_servers(tern_tcpip *t, const tern_addr *servers,
                               size_t n) {
  if (!t || (n && !servers)) return TERN_EINVAL;
  if (n > NETDB_MAX_SERVERS) return TERN_ELIMIT;
  for (size_t i = 0; i < n; i++)
    if (servers[i].family != TERN_AF_INET) return TERN_EAFNOSUPPORT;
  netdb *d = netdb_of(t);
  if (!d) return TERN_ENOMEM;
  tern_mutex_lock(d->m);
  for (size_t i = 0; i < n; i++) {
    d->servers[i] = servers[i];
    if (!d->servers[i].port) d->servers[i].port = NETDB_PORT;
  }
  d->nservers = n;
  tern_mutex_unlock(d->m);
  return TERN_OK;
}

void tern_tcpip_dns_flush(tern_tcpip *t) {
  netdb *d = t ? netdb_of(t) : NULL;
  if (!d) return;
  tern_mutex_lock(d->m);
  memset(d->cache, 0, sizeof d->cache);
  tern_mutex_unlock(d->m);
}

void tern_tcpip_dns_stats(tern_tcpip *t, tern_netdb_stats *out) {
  memset(out, 0, sizeof *out);
  netdb *d = t ? netdb_of(t) : NULL;
  if (!d) return;
  tern_mutex_lock(d->m);
  *out = d->stats;
  tern_mutex_unlock(d->m);
}

/* ---- the cache (d->m held) ---- */

static netdb_entry *cache_find(netdb *d, const char *key, uint64_t now) {
  for (int i = 0; i < NETDB_CACHE; i++) {
    netdb_entry *e = &d->cache[i];
    if (!e->name[0] || strcmp(e->name, key)) continue;
    if (now >= e->expires) {
      e->name[0] = 0;
      return NULL;
    }
    e->used = ++d->tick;
    return e;
  }
  return NULL;
}

static void cache_put(netdb *d, const char *key, int status,
                      const tern__dns_result *r, uint64_t now) {
  uint32_t cap = status == TERN_OK ? NETDB_MAX_TTL : NETDB_NEG_TTL;
  uint32_t ttl = r->ttl < cap ? r->ttl : cap;
  if (!ttl) return; /* TTL 0: use once, keep nothing (RFC 1035 3.2.1) */
  netdb_entry *e = &d->cache[0];
  for (int i = 0; i < NETDB_CACHE; i++) {
    netdb_entry *c = &d->cache[i];
    if (!c->name[0] || !strcmp(c->name, key)) {
      e = c;
      break;
    }
    if (c->used < e->used) e = c;
  }
  memset(e, 0, sizeof *e);
  memcpy(e->name, key, strlen(key) + 1);
  e->status = status;
  e->n = status == TERN_OK ? r->naddrs : 0;
  memcpy(e->a, r->addrs, e->n * sizeof e->a[0]);
  e->expires = now + (uint64_t)ttl * 1000u;
  e->used = ++d->tick;
}

/* ---- one exchange ---- */

/* Wait for the answer to (id, name) on a UDP netconn until ms pass.
 * Returns the parse result of the first datagram that answers us, or
 * TERN_ETIMEDOUT. */
static int udp_wait(tern_netconn *nc, uint16_t id, const char *name,
                    int ms, tern__dns_result *r, netdb *d) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  uint8_t msg[TERN__DNS_MAX_UDP];
  for (;;) {
    uint64_t now = tern_clock_ms();
    if (now >= end) return TERN_ETIMEDOUT;
    tern_netconn_set_recvtimeout(nc, (int)(end - now));
    tern_netbuf *nb;
    int err = tern_netconn_recv(nc, &nb);
    if (err) return err;
    size_t len = tern_netbuf_copy(nb, 0, msg, sizeof msg);
    bool whole = tern_netbuf_len(nb) <= sizeof msg;
    tern_netbuf_free(nb);
    err = whole ? tern__dns_response_parse(msg, len, id, name, TERN__DNS_A, r)
                : TERN_EPROTO;
    if (err != TERN_EPROTO) return err;
    tern_mutex_lock(d->m);
    d->stats.ignored++;
    tern_mutex_unlock(d->m);
  }
}

static int udp_try(tern_tcpip *t, const tern_addr *server, const uint8_t *q,
                   size_t qlen, uint16_t id, const char *name, int ms,
                   tern__dns_result *r, netdb *d) {
  tern_netconn *nc;
  int err = tern_netconn_new(&nc, t, TERN_NETCONN_UDP);
  if (err) return err;
  /* connected: the stack drops datagrams from anyone but the server */
  err = tern_netconn_connect(nc, server);
  if (!err) err = tern_netconn_send(nc, q, qlen);
  if (!err) err = udp_wait(nc, id, name, ms, r, d);
  tern_netconn_close(nc);
  return err;
}

/* Read one length-prefixed message (at most cap bytes with the length)
 * into buf; its body's length in *n. */
static int read_framed(tern_netconn *nc, uint8_t *buf, size_t cap, size_t *n,
                       uint64_t end) {
  size_t got = 0;
  for (;;) {
    if (got >= 2) {
      *n = (size_t)buf[0] << 8 | buf[1];
      if (*n + 2 > cap) return TERN_EPROTO;
      if (got >= *n + 2) return TERN_OK;
    }
    uint64_t now = tern_clock_ms();
    if (now >= end) return TERN_ETIMEDOUT;
    tern_netconn_set_recvtimeout(nc, (int)(end - now));
    tern_netbuf *nb;
    int err = tern_netconn_recv(nc, &nb);
    if (err) return err == TERN_ECLOSED ? TERN_EPROTO : err;
    got += tern_netbuf_copy(nb, 0, buf + got, cap - got);
    tern_netbuf_free(nb);
  }
}

/* RFC 7766 / RFC 1035 4.2.2: the same question over TCP, each message
 * behind a two-byte length. */
static int tcp_try(tern_tcpip *t, const tern_addr *server, const uint8_t *q,
                   size_t qlen, uint16_t id, const char *name, int ms,
                   tern__dns_result *r) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  tern_netconn *nc;
  int err = tern_netconn_new(&nc, t, TERN_NETCONN_TCP);
  if (err) return err;
  tern_netconn_set_sendtimeout(nc, ms);
  uint8_t len2[2] = {(uint8_t)(qlen >> 8), (uint8_t)qlen};
  size_t cap = 2 + 65535, n = 0;
  uint8_t *buf = malloc(cap);
  err = buf ? tern_netconn_connect(nc, server) : TERN_ENOMEM;
  if (!err)
    err = tern_netconn_write(nc, len2, 2, TERN_NETCONN_MORE, NULL);
  if (!err) err = tern_netconn_write(nc, q, qlen, 0, NULL);
  if (!err) err = read_framed(nc, buf, cap, &n, end);
  if (!err)
    err = tern__dns_response_parse(buf + 2, n, id, name, TERN__DNS_A, r);
  if (err == TERN_EMSGSIZE) err = TERN_EPROTO; /* TC over TCP: broken */
  free(buf);
  tern_netconn_close(nc);
  return err;
}

/* ---- the lookup ---- */

/* Lower case, without the final dot; TERN_EINVAL if it is no name. */
static int make_key(const char *name, char *key) {
  size_t n = strlen(name);
  if (n && name[n - 1] == '.') n--;
  if (!n || n > TERN__DNS_MAX_NAME - 2) return TERN_EINVAL;
  for (size_t i = 0; i < n; i++)
    key[i] = (char)tolower((unsigned char)name[i]);
  key[n] = 0;
  return TERN_OK;
}

static size_t give(const tern_addr *a, size_t n, tern_addr *out, size_t max) {
  size_t k = n < max ? n : max;
  memcpy(out, a, k * sizeof *out);
  return k;
}

static int ask_servers(tern_tcpip *t, netdb *d, const char *key,
                       tern__dns_result *r) {
  tern_addr servers[NETDB_MAX_SERVERS];
  tern_mutex_lock(d->m);
  size_t ns = d->nservers;
  memcpy(servers, d->servers, sizeof servers);
  tern_mutex_unlock(d->m);
  if (!ns) return TERN_ENOTCONN;
  int last = TERN_ETIMEDOUT;
  for (int round = 0; round < NETDB_ROUNDS; round++) {
    for (size_t s = 0; s < ns; s++) {
      uint16_t id;
      if (tern_random(&id, sizeof id)) return TERN_EIO;
      uint8_t q[TERN__DNS_MAX_UDP];
      long qlen = tern__dns_query_encode(q, sizeof q, id, key, TERN__DNS_A);
      if (qlen < 0) return (int)qlen;
      int ms = NETDB_TRY_MS << round;
      tern_mutex_lock(d->m);
      d->stats.queries_sent++;
      tern_mutex_unlock(d->m);
      int err = udp_try(t, &servers[s], q, (size_t)qlen, id, key, ms, r, d);
      if (err == TERN_EMSGSIZE) {
        tern_mutex_lock(d->m);
        d->stats.tcp_retries++;
        tern_mutex_unlock(d->m);
        err = tcp_try(t, &servers[s], q, (size_t)qlen, id, key, ms, r);
      }
      if (err == TERN_OK || err == TERN_ERESOLVE) return err;
      if (err == TERN_ENOMEM) return err;
      tern_mutex_lock(d->m);
      if (err == TERN_ETIMEDOUT) d->stats.timeouts++;
      else d->stats.server_errors++;
      tern_mutex_unlock(d->m);
      /* a refusal or failure (EAGAIN) wins over a silent server */
      if (last == TERN_ETIMEDOUT) last = err == TERN_ETIMEDOUT ? err : TERN_EAGAIN;
    }
  }
  return last;
}

int tern_netconn_gethostbyname(tern_tcpip *t, const char *name,
                               tern_addr *out, size_t max, size_t *n) {
  if (n) *n = 0;
  if (!t || !name || !out || !max) return TERN_EINVAL;
  /* an address literal, and localhost (RFC 6761 6.3), need no network */
  tern_addr lit;
  memset(&lit, 0, sizeof lit);
  if (tern_addr_parse_ip(name, strlen(name), &lit) == TERN_OK) {
    if (lit.family != TERN_AF_INET) return TERN_EAFNOSUPPORT;
    lit.port = 0;
    *out = lit;
    if (n) *n = 1;
    return TERN_OK;
  }
  char key[TERN__DNS_MAX_NAME + 1];
  int err = make_key(name, key);
  if (err) return err;
  if (!strcmp(key, "localhost") ||
      (strlen(key) > 10 && !strcmp(key + strlen(key) - 10, ".localhost"))) {
    tern_addr_parse_ip("127.0.0.1", 9, out);
    if (n) *n = 1;
    return TERN_OK;
  }
  uint8_t probe[TERN__DNS_MAX_UDP]; /* a name the query cannot carry */
  long ql = tern__dns_query_encode(probe, sizeof probe, 0, key, TERN__DNS_A);
  if (ql < 0) return ql == TERN_ENOSPC ? TERN_EINVAL : (int)ql;
  netdb *d = netdb_of(t);
  if (!d) return TERN_ENOMEM;
  tern_mutex_lock(d->m);
  d->stats.lookups++;
  netdb_entry *e = cache_find(d, key, tern_clock_ms());
  if (e) {
    d->stats.cache_hits++;
    err = e->status;
    size_t k = err == TERN_OK ? give(e->a, e->n, out, max) : 0;
    tern_mutex_unlock(d->m);
    if (n) *n = k;
    return err;
  }
  tern_mutex_unlock(d->m);
  tern__dns_result *r = malloc(sizeof *r); /* ~400 bytes: not the stack */
  if (!r) return TERN_ENOMEM;
  err = ask_servers(t, d, key, r);
  if (err == TERN_OK || err == TERN_ERESOLVE) {
    tern_mutex_lock(d->m);
    d->stats.answers++;
    cache_put(d, key, err, r, tern_clock_ms());
    tern_mutex_unlock(d->m);
  }
  if (err == TERN_OK) {
    size_t k = give(r->addrs, r->naddrs, out, max);
    if (n) *n = k;
  }
  free(r);
  return err;
}
