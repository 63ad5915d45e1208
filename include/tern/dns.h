/* tern/dns.h: an asynchronous DNS client (stub resolver, RFC 1035) over the
 * connection API, so it runs on host sockets and on tern's own stack.
 *
 *   tern_dns *dns;
 *   tern_dns_new(mgr, NULL, &dns);           // servers from resolv.conf
 *   tern_dns_lookup(dns, "example.com", 0, on_addrs, ud, NULL);
 *
 *   static void on_addrs(tern_dns_query *q, int status,
 *                        const tern_addr *addrs, size_t n, void *ud);
 *
 * What it does: A and AAAA queries over UDP to the configured servers in
 * turn (each try from a fresh socket, so a fresh random source port, with
 * a random id: RFC 5452, and the name in random letter case: DNS 0x20),
 * a timeout per try from a retry policy (default: doubling each round), the
 * next server at once when one answers SERVFAIL or REFUSED; answers are
 * checked against the question asked and anything else is ignored. CNAME
 * chains are followed. Answers are cached for their TTL (capped), negative
 * answers for the SOA's negative TTL (RFC 2308); the cache is bounded and
 * evicts the least recently used name. Lookups of the same name and family
 * in flight at once share one set of queries. IP literals and "localhost"
 * (RFC 6761 6.3) are answered without the network.
 *
 * A truncated answer is asked for again over TCP from the same server
 * (RFC 7766). Not done (yet): DNSSEC, search domains, EDNS.
 */
#ifndef TERN_DNS_H
#define TERN_DNS_H

#include "tern/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_dns tern_dns;
typedef struct tern_dns_query tern_dns_query;

typedef struct tern_dns_opts {
  /* Servers, "IP" or "IP:port" or "[IPv6]:port", separated by commas or
   * spaces (at most 8). NULL: the nameserver lines of resolv_conf, or
   * 127.0.0.1 if it names none. */
  const char *servers;
  const char *resolv_conf; /* NULL: /etc/resolv.conf */
  uint32_t timeout_ms;     /* first try per server; 0: 1000 */
  uint32_t attempts;       /* rounds over all servers; 0: 2 */
  uint32_t cache_max;      /* names (per family) kept; 0: 128 */
  uint32_t max_ttl;        /* seconds an answer is kept at most; 0: 3600 */
  uint32_t max_inflight;   /* different names being looked up at once (a
                              name asked again joins its lookup); 0: 64 */
  /* Retries (tern/retry.h): try k (0 first) waits table_ms[k] for an
   * answer (the last entry again past the table, less jitter_pct % at
   * random) and goes to server k % nservers; after try conceal (0: the
   * table's last entry) the lookup fails. The policy is copied; its
   * table must outlive the client. NULL: from timeout_ms and attempts
   * (attempts rounds over the servers, the wait doubling each round). */
  const struct tern_retry_policy *retry;
  /* DNS 0x20 (draft-vixie-dnsext-dns0x20) is on unless this is set: each
   * try spells the name with random letter case and only an answer that
   * repeats the question exactly is taken. A server that changes the case
   * is asked without it from then on (stats: case_mismatch). */
  bool no_case_random;
} tern_dns_opts;

/* The outcome of a lookup, called once, from the loop, never from inside
 * tern_dns_lookup. status: TERN_OK with n >= 1 addresses (port 0; for
 * family 0 the IPv6 ones first), TERN_ERESOLVE (no such name, or no
 * address of that family), TERN_EAGAIN (every server refused or failed:
 * SERVFAIL, REFUSED), TERN_ETIMEDOUT (no usable answer in time),
 * TERN_ECANCELED (the client was freed). q is invalid after the call. */
typedef void (*tern_dns_fn)(tern_dns_query *q, int status,
                            const tern_addr *addrs, size_t n, void *ud);

/* The servers are read now (a bad server string is TERN_EINVAL). */
TERN_API int tern_dns_new(tern_mgr *m, const tern_dns_opts *opts,
                          tern_dns **out);
/* Lookups still pending get TERN_ECANCELED before it returns, and so do
 * connections waiting for a name (see below). Not from inside a
 * tern_dns_fn; before the manager is freed. */
TERN_API void tern_dns_free(tern_dns *d);

/* Make this client resolve the names of the manager's tern_connect calls
 * (instead of the getaddrinfo thread) until it is freed. Both families
 * are asked (AAAA and A apart, each answer handed on as it comes), and
 * the connection races the addresses (happy eyeballs, RFC 8305: see
 * tern_name_resolver in tern/net.h). A name that cannot be resolved
 * fails the connect with the lookup's status. */
TERN_API void tern_dns_use_for_connects(tern_dns *d);

/* family: TERN_AF_INET (A), TERN_AF_INET6 (AAAA) or 0 (both). On an
 * error return (TERN_EINVAL: not a name that can be sent; TERN_ENOMEM) fn
 * will not be called; TERN_EBUSY: max_inflight lookups are running. *out (may be NULL) can be given to tern_dns_cancel
 * until fn runs. */
TERN_API int tern_dns_lookup(tern_dns *d, const char *name, int family,
                             tern_dns_fn fn, void *ud, tern_dns_query **out);
/* fn will not be called. */
TERN_API void tern_dns_cancel(tern_dns_query *q);

typedef struct tern_dns_stats {
  uint64_t lookups, cache_hits, shared; /* shared: joined one in flight */
  uint64_t queries_sent, answers, timeouts, server_errors, ignored;
  uint64_t tcp_retries;                 /* truncated over UDP, asked over TCP */
  uint64_t case_mismatch;               /* answers with the 0x20 case changed */
  size_t cached;                        /* entries in the cache now */
} tern_dns_stats;
TERN_API void tern_dns_get_stats(const tern_dns *d, tern_dns_stats *out);

/* Forget every cached answer. */
TERN_API void tern_dns_flush(tern_dns *d);

#ifdef __cplusplus
}
#endif

#endif
