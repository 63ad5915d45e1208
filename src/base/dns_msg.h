/* dns_msg.h: DNS messages on the wire (RFC 1035 4), the part of the
 * resolver that needs no network: build a query, check and read a
 * response. Both resolvers are built on it: proto's tern_dns (on a loop,
 * over the connection API) and the api layer's blocking lookup for
 * netconn/sockets (src/api/netdb.c). It sits in base because those two
 * layers share it and neither may use the other (DESIGN.md).
 *
 * Internal (tern__ prefix): not installed, used by the resolvers and the
 * tests/fuzz targets.
 */
#ifndef TERN_BASE_DNS_MSG_H
#define TERN_BASE_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/base.h"

/* RFC 1035 3.2.2 / RFC 3596 2.1 */
enum {
  TERN__DNS_A = 1,
  TERN__DNS_CNAME = 5,
  TERN__DNS_SOA = 6,
  TERN__DNS_AAAA = 28,
};

/* RFC 1035 4.1.1 RCODE */
enum {
  TERN__DNS_NOERROR = 0,
  TERN__DNS_FORMERR = 1,
  TERN__DNS_SERVFAIL = 2,
  TERN__DNS_NXDOMAIN = 3,
  TERN__DNS_NOTIMP = 4,
  TERN__DNS_REFUSED = 5,
};

#define TERN__DNS_HEADER 12
#define TERN__DNS_MAX_NAME 255   /* wire octets, RFC 1035 2.3.4 */
#define TERN__DNS_MAX_UDP 512    /* RFC 1035 2.3.4, without EDNS */
#define TERN__DNS_MAX_ADDRS 8    /* addresses kept from one answer */
#define TERN__DNS_MAX_CHAIN 8    /* CNAMEs followed in one answer */

typedef struct tern__dns_result {
  uint8_t rcode;
  bool truncated;     /* TC: the answer did not fit (retry over TCP) */
  bool authoritative; /* AA */
  size_t naddrs;
  tern_addr addrs[TERN__DNS_MAX_ADDRS]; /* in answer order, port 0 */
  /* TERN_OK: the smallest TTL of the records used (CNAMEs included);
   * TERN_ERESOLVE: how long the negative answer may be cached (RFC 2308
   * 5: the SOA's TTL capped by its MINIMUM), 0 without an SOA. Seconds. */
  uint32_t ttl;
  char canon[TERN__DNS_MAX_NAME + 1]; /* owner of the addresses, dotted */
} tern__dns_result;

/* Write a recursive query (RD set) for name (dotted, an optional final
 * dot) and qtype into buf. Returns its length, TERN_EINVAL for a name
 * that cannot be sent (empty label, label over 63 octets, name over 255),
 * TERN_ENOSPC if buf is too small. */
long tern__dns_query_encode(uint8_t *buf, size_t cap, uint16_t id,
                            const char *name, uint16_t qtype);

/* Check that msg answers the query (id, name, qtype) and read it.
 *   TERN_OK        addresses of type qtype in out->addrs (naddrs > 0)
 *   TERN_ERESOLVE  the name has no such records: NXDOMAIN or an empty
 *                  NOERROR answer (out->rcode tells which), out->ttl
 *   TERN_EAGAIN    the server could not answer (SERVFAIL, REFUSED,
 *                  NOTIMP, FORMERR): ask another
 *   TERN_EMSGSIZE  truncated (TC): ask again over TCP
 *   TERN_EPROTO    malformed, or not the answer to this query (wrong id,
 *                  question, or not a response): ignore it, it may be
 *                  forged (RFC 5452 9.1)
 * out is written in every case but TERN_EPROTO leaves it unspecified. */
int tern__dns_response_parse(const uint8_t *msg, size_t len, uint16_t id,
                             const char *name, uint16_t qtype,
                             tern__dns_result *out);

/* True when msg's question name is spelled exactly as name (letter case
 * included; a final dot on name aside): DNS 0x20 needs the server to
 * repeat the question as asked. msg has passed tern__dns_response_parse. */
bool tern__dns_question_exact(const uint8_t *msg, size_t len,
                              const char *name);

/* Read the possibly compressed name at msg[*off] (RFC 1035 4.1.4) as
 * dotted text without a final dot ("" for the root) into out (at least
 * TERN__DNS_MAX_NAME + 1 bytes); *off moves past the name as it appears
 * in place. TERN_OK or TERN_EPROTO. */
int tern__dns_name_read(const uint8_t *msg, size_t len, size_t *off,
                        char *out);

#endif
