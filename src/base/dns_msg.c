/* proto/dns_msg.c: DNS queries and responses on the wire.
 *
 * Read first: RFC 1035 4.1 (message format), 4.1.4 (name compression),
 * 2.3.4 (size limits); RFC 1034 3.6.2 (CNAME); RFC 2181 8 (TTL) and 10.1
 * (CNAME chains); RFC 2308 5 (negative caching TTL); RFC 3596 (AAAA);
 * RFC 4343 (names compare without regard to ASCII case); RFC 5452 9.1
 * (accept only the answer to the question asked).
 *
 * Everything read from the network is bounds-checked against the message
 * length before use. Compression pointers must point strictly before
 * every position the name has visited, which makes every walk finite
 * without a jump counter. Only names that are compared (question, owners
 * in the answer, CNAME targets) are turned into text, and those must be
 * printable ASCII without '.' inside a label: a hostname answer never
 * needs more, and anything else is refused rather than escaped.
 */
#include <string.h>

#include "base/dns_msg.h"

#define CLASS_IN 1
#define FLAG_QR 0x8000u
#define FLAG_AA 0x0400u
#define FLAG_TC 0x0200u
#define FLAG_RD 0x0100u
#define MAX_ANSWERS 64 /* answer records looked at; more are ignored */

static uint16_t get16(const uint8_t *p) {
  return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/* RFC 2181 8: a TTL with the top bit set is taken as zero. */
static uint32_t ttl_of(const uint8_t *p) {
  uint32_t t = get32(p);
  return t > 0x7fffffffu ? 0 : t;
}

/* ---- names ------------------------------------------------------------ */

/* Walk the name at msg[*off]; with out, write it as dotted text. */
static int name_walk(const uint8_t *msg, size_t len, size_t *off, char *out) {
  size_t pos = *off, lowest = *off, o = 0, wire = 1;
  bool jumped = false;

  for (;;) {
    if (pos >= len) return TERN_EPROTO;
    uint8_t b = msg[pos];
    if ((b & 0xC0) == 0xC0) { /* 4.1.4: pointer to a prior occurrence */
      if (pos + 1 >= len) return TERN_EPROTO;
      size_t to = (size_t)(b & 0x3F) << 8 | msg[pos + 1];
      if (!jumped) *off = pos + 2;
      if (to >= lowest) return TERN_EPROTO; /* forward or a loop */
      jumped = true;
      lowest = pos = to;
      continue;
    }
    if (b & 0xC0) return TERN_EPROTO; /* 01 and 10: no such label types */
    pos++;
    if (b == 0) break;
    if (b > len - pos) return TERN_EPROTO;
    wire += (size_t)b + 1;
    if (wire > TERN__DNS_MAX_NAME) return TERN_EPROTO;
    if (out != NULL) {
      if (o != 0) out[o++] = '.';
      for (size_t i = 0; i < b; i++) {
        uint8_t c = msg[pos + i];
        if (c < 0x21 || c > 0x7e || c == '.') return TERN_EPROTO;
        out[o++] = (char)c;
      }
    }
    pos += b;
  }
  if (!jumped) *off = pos;
  if (out != NULL) out[o] = '\0';
  return TERN_OK;
}

int tern__dns_name_read(const uint8_t *msg, size_t len, size_t *off,
                        char *out) {
  return name_walk(msg, len, off, out);
}

/* RFC 4343: ASCII case does not matter; one final dot on b is allowed. */
static bool name_eq(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (nb > 0 && b[nb - 1] == '.') nb--;
  if (na != nb) return false;
  for (size_t i = 0; i < na; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
    if (x != y) return false;
  }
  return true;
}

bool tern__dns_question_exact(const uint8_t *msg, size_t len,
                              const char *name) {
  char text[TERN__DNS_MAX_NAME + 1];
  size_t off = TERN__DNS_HEADER;
  if (msg == NULL || name == NULL || len < TERN__DNS_HEADER ||
      name_walk(msg, len, &off, text) != TERN_OK)
    return false;
  size_t nt = strlen(text), nn = strlen(name);
  if (nn > 0 && name[nn - 1] == '.') nn--;
  return nt == nn && memcmp(text, name, nn) == 0;
}

/* ---- the query ---------------------------------------------------------- */

long tern__dns_query_encode(uint8_t *buf, size_t cap, uint16_t id,
                            const char *name, uint16_t qtype) {
  if (buf == NULL || name == NULL || name[0] == '\0' ||
      (name[0] == '.' && name[1] == '\0'))
    return TERN_EINVAL;
  size_t n = strlen(name);
  if (name[n - 1] == '.') n--;
  /* labels: each 1..63 octets (2.3.4), the name at most 255 on the wire */
  size_t wire = n + 2;
  if (wire > TERN__DNS_MAX_NAME) return TERN_EINVAL;
  if (cap < TERN__DNS_HEADER + wire + 4) return TERN_ENOSPC;
  uint8_t *p = buf;
  memset(p, 0, TERN__DNS_HEADER);
  p[0] = (uint8_t)(id >> 8);
  p[1] = (uint8_t)id;
  p[2] = (uint8_t)(FLAG_RD >> 8); /* 4.1.1: a standard query, recursion */
  p[5] = 1;                       /* QDCOUNT */
  p += TERN__DNS_HEADER;
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && name[i] != '.') continue;
    size_t l = i - start;
    if (l == 0 || l > 63) return TERN_EINVAL;
    *p++ = (uint8_t)l;
    memcpy(p, name + start, l);
    p += l;
    start = i + 1;
  }
  *p++ = 0;
  *p++ = (uint8_t)(qtype >> 8);
  *p++ = (uint8_t)qtype;
  *p++ = 0;
  *p++ = CLASS_IN;
  return (long)(p - buf);
}

/* ---- the response ------------------------------------------------------- */

typedef struct rr {
  size_t owner;   /* offset of the owner name */
  uint16_t type, class_;
  uint32_t ttl;
  size_t rdata;   /* offset of RDATA */
  uint16_t rdlen;
} rr;

/* One resource record at *off (4.1.3); *off moves past it. */
static int rr_read(const uint8_t *msg, size_t len, size_t *off, rr *r) {
  r->owner = *off;
  if (name_walk(msg, len, off, NULL) != TERN_OK) return TERN_EPROTO;
  if (len - *off < 10) return TERN_EPROTO;
  const uint8_t *p = msg + *off;
  r->type = get16(p);
  r->class_ = get16(p + 2);
  r->ttl = ttl_of(p + 4);
  r->rdlen = get16(p + 8);
  r->rdata = *off + 10;
  if (r->rdlen > len - r->rdata) return TERN_EPROTO;
  *off = r->rdata + r->rdlen;
  return TERN_OK;
}

/* RFC 2308 5: a negative answer may be cached for the SOA record's TTL,
 * at most its MINIMUM field. 0 when the authority section has no SOA. */
static uint32_t negative_ttl(const uint8_t *msg, size_t len, size_t off,
                             unsigned nscount) {
  for (unsigned i = 0; i < nscount; i++) {
    rr r;
    if (rr_read(msg, len, &off, &r) != TERN_OK) return 0;
    if (r.type != TERN__DNS_SOA || r.class_ != CLASS_IN) continue;
    size_t p = r.rdata, end = r.rdata + r.rdlen;
    if (name_walk(msg, end, &p, NULL) != TERN_OK || /* MNAME */
        name_walk(msg, end, &p, NULL) != TERN_OK || /* RNAME */
        end - p < 20)
      return 0;
    uint32_t minimum = ttl_of(msg + p + 16);
    return r.ttl < minimum ? r.ttl : minimum;
  }
  return 0;
}

int tern__dns_response_parse(const uint8_t *msg, size_t len, uint16_t id,
                             const char *name, uint16_t qtype,
                             tern__dns_result *out) {
  char text[TERN__DNS_MAX_NAME + 1];
  if (msg == NULL || name == NULL || out == NULL) return TERN_EINVAL;
  memset(out, 0, sizeof(*out));
  if (len < TERN__DNS_HEADER) return TERN_EPROTO;
  unsigned flags = get16(msg + 2);
  unsigned qd = get16(msg + 4), an = get16(msg + 6), ns = get16(msg + 8);
  /* RFC 5452 9.1: the id, a response, the one question we asked */
  if (get16(msg) != id || !(flags & FLAG_QR) || ((flags >> 11) & 0xF) != 0 ||
      qd != 1)
    return TERN_EPROTO;
  size_t off = TERN__DNS_HEADER;
  if (name_walk(msg, len, &off, text) != TERN_OK || !name_eq(text, name) ||
      len - off < 4 || get16(msg + off) != qtype ||
      get16(msg + off + 2) != CLASS_IN)
    return TERN_EPROTO;
  off += 4;
  out->rcode = (uint8_t)(flags & 0xF);
  out->authoritative = (flags & FLAG_AA) != 0;
  out->truncated = (flags & FLAG_TC) != 0;
  if (out->truncated) return TERN_EMSGSIZE;
  if (out->rcode != TERN__DNS_NOERROR && out->rcode != TERN__DNS_NXDOMAIN)
    return TERN_EAGAIN;

  /* The answer section, kept as offsets. */
  rr ans[MAX_ANSWERS];
  size_t nans = 0;
  for (unsigned i = 0; i < an; i++) {
    rr r;
    if (rr_read(msg, len, &off, &r) != TERN_OK) return TERN_EPROTO;
    if (nans < MAX_ANSWERS) ans[nans++] = r;
  }
  size_t auth = off;

  /* RFC 1034 3.6.2 / RFC 2181 10.1: follow CNAMEs from the name asked,
   * whatever order the records come in. */
  char cur[TERN__DNS_MAX_NAME + 1];
  size_t ql = strlen(name);
  if (ql > TERN__DNS_MAX_NAME) return TERN_EPROTO;
  memcpy(cur, name, ql + 1);
  if (ql > 0 && cur[ql - 1] == '.') cur[ql - 1] = '\0';
  uint32_t ttl = UINT32_MAX;
  for (int hop = 0;; hop++) {
    size_t i;
    for (i = 0; i < nans; i++) {
      size_t o = ans[i].owner;
      if (ans[i].type != TERN__DNS_CNAME || ans[i].class_ != CLASS_IN)
        continue;
      if (name_walk(msg, len, &o, text) != TERN_OK) return TERN_EPROTO;
      if (name_eq(text, cur)) break;
    }
    if (i == nans) break;
    if (hop == TERN__DNS_MAX_CHAIN) { /* a loop, or too long to trust */
      out->ttl = 0;
      return TERN_ERESOLVE;
    }
    size_t t = ans[i].rdata;
    if (name_walk(msg, ans[i].rdata + ans[i].rdlen, &t, cur) != TERN_OK)
      return TERN_EPROTO;
    if (ans[i].ttl < ttl) ttl = ans[i].ttl;
  }
  memcpy(out->canon, cur, strlen(cur) + 1);

  /* The addresses of the chain's end (RFC 3596 2.2: AAAA is 16 octets). */
  size_t want = qtype == TERN__DNS_AAAA ? 16 : 4;
  for (size_t i = 0; i < nans && out->naddrs < TERN__DNS_MAX_ADDRS; i++) {
    size_t o = ans[i].owner;
    if (ans[i].type != qtype || ans[i].class_ != CLASS_IN) continue;
    if (name_walk(msg, len, &o, text) != TERN_OK) return TERN_EPROTO;
    if (!name_eq(text, cur)) continue;
    if (ans[i].rdlen != want) return TERN_EPROTO;
    tern_addr *a = &out->addrs[out->naddrs++];
    memset(a, 0, sizeof(*a));
    a->family = want == 16 ? TERN_AF_INET6 : TERN_AF_INET;
    memcpy(a->ip, msg + ans[i].rdata, want);
    if (ans[i].ttl < ttl) ttl = ans[i].ttl;
  }
  if (out->naddrs == 0) { /* NXDOMAIN, or NODATA (RFC 2308 2.2) */
    out->ttl = negative_ttl(msg, len, auth, ns);
    return TERN_ERESOLVE;
  }
  out->ttl = ttl;
  return TERN_OK;
}
