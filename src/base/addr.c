/* base/addr.c: numeric IPv4/IPv6 addresses: parse, format, compare.
 *
 * Read first: RFC 4291 section 2.2 (IPv6 text forms), RFC 5952 (the one
 * canonical form we print), RFC 4007 section 11 (zone indices "%N"),
 * RFC 6943 section 3.1.1 (why the IPv4 parser is strict).
 *
 * Our own parsers rather than inet_pton(): they take a length (input need
 * not be NUL-terminated) and run where there is no libc networking.
 *
 * Choices:
 * - IPv4 is strict dotted-quad: exactly four decimal parts 0..255 and no
 *   leading zeros ("01" is refused, not read as decimal 1 or octal 1).
 *   inet_aton() reads "010" as 8 and accepts "127.1" and "0x7f.1"; a name
 *   that two parsers read differently is how allow-lists get bypassed
 *   (RFC 6943 3.1.1), so anything but the one plain form is EURL.
 * - A zone is decimal digits only ("fe80::1%2"); interface names
 *   ("%eth0") are EURL, since resolving them needs the OS.
 */
#include <stdio.h>
#include <string.h>

#include "tern/base.h"

/* ---- small scanners --------------------------------------------------- */

static int hex_val(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Decimal digits s[0..len) into *out, refusing values above max. */
static bool parse_dec(const char *s, size_t len, uint32_t max, uint32_t *out) {
  uint32_t v = 0;
  size_t i;

  if (len == 0)
    return false;
  for (i = 0; i < len; i++) {
    if (!is_digit(s[i]) || v > (max - (uint32_t)(s[i] - '0')) / 10)
      return false;
    v = v * 10 + (uint32_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

/* ---- IPv4 ------------------------------------------------------------- */

/* One part of a dotted quad: 1-3 digits, no leading zero unless "0". */
static bool parse_v4_part(const char *s, size_t len, uint8_t *out) {
  uint32_t v;

  if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
    return false;
  if (!parse_dec(s, len, 255, &v))
    return false;
  *out = (uint8_t)v;
  return true;
}

/* Exactly "a.b.c.d" in s[0..len) into out[0..4). */
static bool parse_v4(const char *s, size_t len, uint8_t out[4]) {
  size_t i = 0, start;
  int part;

  for (part = 0; part < 4; part++) {
    start = i;
    while (i < len && s[i] != '.')
      i++;
    if (!parse_v4_part(s + start, i - start, &out[part]))
      return false;
    if (part < 3 && i++ == len)
      return false; /* fewer than four parts */
  }
  return i == len; /* i < len: a fifth part or trailing garbage */
}

/* ---- IPv6 (RFC 4291 2.2) ---------------------------------------------- */

typedef struct v6_parse {
  const char *s;
  size_t len, i;
  uint16_t words[8];
  int n;   /* words parsed */
  int gap; /* word index where "::" stood, -1 if none */
} v6_parse;

/* An embedded IPv4 tail (form 3 of RFC 4291 2.2): only at the end and
 * only where two words still fit. */
static bool v6_tail_v4(v6_parse *p, size_t start) {
  uint8_t b[4];

  if (p->n > 6 || !parse_v4(p->s + start, p->len - start, b))
    return false;
  p->words[p->n++] = (uint16_t)(b[0] << 8 | b[1]);
  p->words[p->n++] = (uint16_t)(b[2] << 8 | b[3]);
  p->i = p->len;
  return true;
}

/* One group of 1-4 hex digits, or the IPv4 tail. */
static bool v6_group(v6_parse *p) {
  size_t start = p->i;
  uint32_t v = 0;

  while (p->i < p->len && hex_val(p->s[p->i]) >= 0) {
    v = (v << 4 | (uint32_t)hex_val(p->s[p->i])) & 0xfffffu;
    p->i++;
  }
  if (p->i < p->len && p->s[p->i] == '.')
    return v6_tail_v4(p, start);
  if (p->i == start || p->i - start > 4 || p->n >= 8)
    return false;
  p->words[p->n++] = (uint16_t)v;
  return true;
}

/* After a group: end, ":" then a group, or "::" (once). */
static bool v6_separator(v6_parse *p) {
  if (p->s[p->i] != ':')
    return false;
  p->i++;
  if (p->i < p->len && p->s[p->i] == ':') {
    if (p->gap >= 0)
      return false;
    p->gap = p->n;
    p->i++;
    return true;
  }
  return p->i < p->len; /* a single ':' may not end the address */
}

/* Expand "::" to the zero words it stands for. RFC 4291 2.2: "::"
 * is one or more groups of zeros, so with "::" at most 7 are written. */
static bool v6_finish(const v6_parse *p, uint8_t out[16]) {
  uint16_t w[8] = {0};
  int i, tail;

  if (p->gap < 0 ? p->n != 8 : p->n > 7)
    return false;
  tail = p->gap < 0 ? 0 : p->n - p->gap;
  for (i = 0; i < p->n - tail; i++)
    w[i] = p->words[i];
  for (i = 0; i < tail; i++)
    w[8 - tail + i] = p->words[p->gap + i];
  for (i = 0; i < 8; i++) {
    out[2 * i] = (uint8_t)(w[i] >> 8);
    out[2 * i + 1] = (uint8_t)w[i];
  }
  return true;
}

/* The address part of an IPv6 literal (no zone, no brackets). */
static bool parse_v6(const char *s, size_t len, uint8_t out[16]) {
  v6_parse p = {.s = s, .len = len, .gap = -1};

  if (len >= 2 && s[0] == ':' && s[1] == ':') {
    p.gap = 0;
    p.i = 2;
  }
  while (p.i < len) {
    if (!v6_group(&p))
      return false;
    if (p.i < len && !v6_separator(&p))
      return false;
  }
  return v6_finish(&p, out);
}

/* ---- parse -------------------------------------------------------------- */

static void addr_clear(tern_addr *a, uint8_t family) {
  memset(a, 0, sizeof(*a));
  a->family = family;
}

/* "v6" or "v6%zone" (RFC 4007 section 11, numeric zones only). */
static int parse_ip6_zone(const char *s, size_t len, tern_addr *out) {
  const char *pct = memchr(s, '%', len);
  size_t alen = pct != NULL ? (size_t)(pct - s) : len;
  uint32_t zone = 0;

  addr_clear(out, TERN_AF_INET6);
  if (!parse_v6(s, alen, out->ip))
    return TERN_EURL;
  if (pct != NULL && !parse_dec(pct + 1, len - alen - 1, UINT32_MAX, &zone))
    return TERN_EURL;
  out->scope_id = zone;
  return TERN_OK;
}

int tern_addr_parse_ip(const char *s, size_t len, tern_addr *out) {
  int r = TERN_EURL;

  if (out == NULL)
    return TERN_EINVAL;
  if (s != NULL && len > 0 && memchr(s, ':', len) != NULL) {
    r = parse_ip6_zone(s, len, out);
  } else if (s != NULL && len > 0) {
    addr_clear(out, TERN_AF_INET);
    r = parse_v4(s, len, out->ip) ? TERN_OK : TERN_EURL;
  }
  if (r != TERN_OK)
    addr_clear(out, TERN_AF_UNSPEC);
  return r;
}

int tern_addr_parse_cidr(const char *s, size_t len, tern_addr *out,
                         uint8_t *prefix) {
  if (out == NULL || prefix == NULL) return TERN_EINVAL;
  const char *slash = s != NULL ? memchr(s, '/', len) : NULL;
  size_t digits = slash != NULL ? len - (size_t)(slash - s) - 1 : 0;
  if (slash == NULL || digits == 0 || digits > 3) return TERN_EURL;
  unsigned v = 0;
  for (size_t i = 0; i < digits; i++) {
    char c = slash[1 + i];
    if (c < '0' || c > '9') return TERN_EURL;
    v = v * 10 + (unsigned)(c - '0');
  }
  int r = tern_addr_parse_ip(s, (size_t)(slash - s), out);
  if (r != TERN_OK) return r;
  if (v > (out->family == TERN_AF_INET ? 32u : 128u)) {
    addr_clear(out, TERN_AF_UNSPEC);
    return TERN_EURL;
  }
  *prefix = (uint8_t)v;
  return TERN_OK;
}

/* Port 0..65535, decimal. 0 is allowed here: binding to port 0 asks the
 * OS for any free port. */
static bool parse_port(const char *s, size_t len, uint16_t *out) {
  uint32_t v;

  if (!parse_dec(s, len, 65535, &v))
    return false;
  *out = (uint16_t)v;
  return true;
}

/* "ip:port" with IPv4, or "[ipv6]:port". A bare IPv6 with a port
 * ("::1:80") is ambiguous and refused. The port is required. */
int tern_addr_parse(const char *s, size_t len, tern_addr *out) {
  const char *host = s, *colon;
  size_t hlen;
  uint16_t port;
  int r;

  if (out == NULL)
    return TERN_EINVAL;
  addr_clear(out, TERN_AF_UNSPEC);
  if (s == NULL || len < 3)
    return TERN_EURL;
  if (s[0] == '[') {
    colon = memchr(s, ']', len);
    if (colon == NULL || (size_t)(colon - s) + 1 >= len || colon[1] != ':')
      return TERN_EURL;
    host = s + 1;
    hlen = (size_t)(colon - host);
    colon++;
  } else {
    colon = memchr(s, ':', len);
    hlen = colon != NULL ? (size_t)(colon - s) : 0;
    if (colon == NULL || memchr(colon + 1, ':', len - hlen - 1) != NULL)
      return TERN_EURL;
  }
  if (!parse_port(colon + 1, len - (size_t)(colon + 1 - s), &port))
    return TERN_EURL;
  r = tern_addr_parse_ip(host, hlen, out);
  if (r == TERN_OK && (s[0] == '[') != (out->family == TERN_AF_INET6))
    r = TERN_EURL; /* "[1.2.3.4]:80" */
  if (r != TERN_OK) {
    addr_clear(out, TERN_AF_UNSPEC);
    return TERN_EURL;
  }
  out->port = port;
  return TERN_OK;
}

/* ---- format (RFC 5952) ------------------------------------------------ */

/* RFC 5952 section 5: ::ffff:0:0/96 is shown with a dotted IPv4 tail. */
static bool is_v4_mapped(const uint8_t ip[16]) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

  return memcmp(ip, prefix, sizeof(prefix)) == 0;
}

/* RFC 5952 4.2.2-4.2.3: the longest run of two or more zero words, the
 * first one on a tie. *start = -1 if there is none. */
static void v6_zero_run(const uint16_t w[8], int *start, int *count) {
  int i, j;

  *start = -1;
  *count = 1; /* a run must beat 1: a single zero is not compressed */
  for (i = 0; i < 8; i = j + 1) {
    for (j = i; j < 8 && w[j] == 0;)
      j++;
    if (j - i > *count) {
      *start = i;
      *count = j - i;
    }
  }
}

static size_t fmt_v4(char *out, const uint8_t ip[4]) {
  return (size_t)sprintf(out, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
}

/* RFC 5952 4.1 (no leading zeros), 4.2 ("::"), 4.3 (lowercase). */
static size_t fmt_v6(char *out, const uint8_t ip[16]) {
  uint16_t w[8];
  int i, zs, zn;
  size_t n = 0;

  if (is_v4_mapped(ip)) {
    memcpy(out, "::ffff:", 7);
    return 7 + fmt_v4(out + 7, ip + 12);
  }
  for (i = 0; i < 8; i++)
    w[i] = (uint16_t)(ip[2 * i] << 8 | ip[2 * i + 1]);
  v6_zero_run(w, &zs, &zn);
  for (i = 0; i < 8; i++) {
    if (i == zs) {
      n += (size_t)sprintf(out + n, "::");
      i += zn - 1;
      continue;
    }
    if (i > 0 && i != zs + zn)
      out[n++] = ':';
    n += (size_t)sprintf(out + n, "%x", (unsigned)w[i]);
  }
  out[n] = '\0';
  return n;
}

/* Formats into tmp, which TERN_ADDR_STRLEN always fits: the longest is
 * "[" + 39 + "%4294967295" + "]:65535" = 58 bytes. */
static size_t fmt_addr(char *tmp, const tern_addr *a, bool with_port) {
  bool br = with_port && a->family == TERN_AF_INET6;
  size_t n = 0;

  if (br)
    tmp[n++] = '[';
  if (a->family == TERN_AF_INET)
    n += fmt_v4(tmp + n, a->ip);
  else
    n += fmt_v6(tmp + n, a->ip);
  if (a->family == TERN_AF_INET6 && a->scope_id != 0)
    n += (size_t)sprintf(tmp + n, "%%%lu", (unsigned long)a->scope_id);
  if (br)
    tmp[n++] = ']';
  if (with_port)
    n += (size_t)sprintf(tmp + n, ":%u", (unsigned)a->port);
  tmp[n] = '\0';
  return n;
}

/* TERN_EINVAL for an address of no known family. */
int tern_addr_format(const tern_addr *a, bool with_port, char *buf,
                     size_t size) {
  char tmp[TERN_ADDR_STRLEN];
  size_t n;

  if (buf != NULL && size > 0)
    buf[0] = '\0';
  if (a == NULL || buf == NULL ||
      (a->family != TERN_AF_INET && a->family != TERN_AF_INET6))
    return TERN_EINVAL;
  n = fmt_addr(tmp, a, with_port);
  if (n >= size)
    return TERN_ENOSPC;
  memcpy(buf, tmp, n + 1);
  return (int)n;
}

/* ---- compare ------------------------------------------------------------ */

static size_t addr_ip_len(const tern_addr *a) {
  return a->family == TERN_AF_INET ? 4 : 16;
}

/* Same family, port, zone and address bytes. */
bool tern_addr_eq(const tern_addr *a, const tern_addr *b) {
  if (a->family != b->family || a->port != b->port)
    return false;
  if (a->family == TERN_AF_INET6 && a->scope_id != b->scope_id)
    return false;
  return memcmp(a->ip, b->ip, addr_ip_len(a)) == 0;
}

/* 0.0.0.0 or :: (the wildcard a listener binds to); the port is not
 * looked at. */
bool tern_addr_is_any(const tern_addr *a) {
  static const uint8_t zero[16];

  if (a->family != TERN_AF_INET && a->family != TERN_AF_INET6)
    return false;
  return memcmp(a->ip, zero, addr_ip_len(a)) == 0;
}
