/* base/url.c: tern_url_parse, "scheme://[userinfo@]host[:port][/path]
 * [?query][#fragment]" into views of the caller's bytes.
 *
 * Read first: RFC 3986 sections 3.1 (scheme), 3.2 (authority), 3.2.2
 * (host, IP literals in brackets), 3.2.3 (port); RFC 3696 section 2 (a
 * top-level domain is never all-numeric).
 *
 * Call order: one call; nothing is allocated and the input is read only
 * within [s, s + len), which need not be NUL-terminated. Every part of
 * *out points into the input (a missing part has len 0 and points where
 * it would have been).
 *
 * Choices (stricter than RFC 3986 where a URL names a network peer):
 * - Control characters and spaces are refused anywhere (RFC 3986 has no
 *   place for them unencoded; they are how request lines get split).
 * - A host name is letters, digits, '-', '.', '_'. Percent-encoding and
 *   the other RFC 3986 sub-delims are refused: no resolver wants them.
 * - A host whose last label is numeric must be a strict dotted quad
 *   (see addr.c): "127.1" or "0x7f.1" would mean one thing to us and
 *   another to getaddrinfo(), so they are refused instead of passed on.
 * - A zone in a bracketed IPv6 host is raw and numeric, "[fe80::1%2]".
 *   The RFC 6874 "%25" encoding is not decoded: "%25" is zone 25.
 * - An empty port ("host:") means no port (RFC 3986 3.2.3).
 * - tcp://, udp:// and tls:// name a transport with no default port, so
 *   they need one; for them port 0 is allowed (listen on any free port).
 *   For every other scheme the port is 1..65535.
 */
#include <string.h>

#include "tern/base.h"

typedef struct url_scheme_info {
  const char *name;
  uint16_t port; /* default port, 0 if none */
  bool tls;
  bool udp;
  bool transport; /* needs an explicit port; 0 is allowed */
} url_scheme_info;

static const url_scheme_info url_schemes[] = {
    {"http", 80, false, false, false},  {"https", 443, true, false, false},
    {"ws", 80, false, false, false},    {"wss", 443, true, false, false},
    {"mqtt", 1883, false, false, false}, {"tcp", 0, false, false, true},
    {"udp", 0, false, true, true},      {"tls", 0, true, false, true},
};

static bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static bool is_scheme_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
}

static bool is_host_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_';
}

static tern_str url_view(const char *p, size_t len) {
  tern_str v = {p, len};
  return v;
}

/* The first of any byte in set within s[from..len), or len. */
static size_t url_find(const char *s, size_t len, size_t from,
                       const char *set) {
  while (from < len && strchr(set, s[from]) == NULL)
    from++;
  return from;
}

static const char *url_check_chars(const char *s, size_t len) {
  size_t i;

  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c == 0x7f)
      return "control character or space in URL";
  }
  return NULL;
}

/* ---- scheme ------------------------------------------------------------- */

static const url_scheme_info *url_scheme_lookup(tern_str scheme) {
  size_t i;

  for (i = 0; i < sizeof(url_schemes) / sizeof(url_schemes[0]); i++) {
    if (tern_str_ieq(scheme, url_schemes[i].name))
      return &url_schemes[i];
  }
  return NULL;
}

/* "scheme://"; *next is the index after it. */
static const char *url_scheme(const char *s, size_t len, tern_url *u,
                              size_t *next) {
  const char *colon = memchr(s, ':', len);
  size_t n = colon != NULL ? (size_t)(colon - s) : 0;
  size_t i;

  if (n == 0)
    return "missing scheme";
  for (i = 0; i < n; i++) {
    if (!is_scheme_char(s[i]) || (i == 0 && !is_alpha(s[0])))
      return "bad character in scheme";
  }
  if (len - n < 3 || s[n + 1] != '/' || s[n + 2] != '/')
    return "missing '//' after scheme";
  u->scheme = url_view(s, n);
  *next = n + 3;
  return NULL;
}

/* ---- port --------------------------------------------------------------- */

/* Decimal digits; the range rules per scheme are applied at the end. */
static const char *url_port(const char *p, size_t len, tern_url *u) {
  uint32_t v = 0;
  size_t i;

  if (len == 0)
    return NULL; /* RFC 3986 3.2.3: an empty port is no port */
  for (i = 0; i < len; i++) {
    if (!is_digit(p[i]))
      return "bad port";
  }
  for (i = 0; i < len; i++) {
    v = v * 10 + (uint32_t)(p[i] - '0');
    if (v > 65535)
      return "port out of range";
  }
  u->port = (uint16_t)v;
  u->port_explicit = true;
  return NULL;
}

/* ---- host --------------------------------------------------------------- */

/* RFC 3696 section 2: a real top-level domain is never all-numeric, so a
 * last label of digits (or "0x" + hex) means the user meant an IPv4
 * address. One trailing dot (the root) is ignored. */
static bool host_looks_numeric(const char *h, size_t len) {
  size_t start, i;

  if (len > 0 && h[len - 1] == '.')
    len--;
  start = len;
  while (start > 0 && h[start - 1] != '.')
    start--;
  if (start == len)
    return false;
  if (len - start >= 2 && h[start] == '0' && (h[start + 1] | 0x20) == 'x')
    return true;
  for (i = start; i < len; i++) {
    if (!is_digit(h[i]))
      return false;
  }
  return true;
}

/* A registered name or IPv4 address, then an optional ":port". */
static const char *url_host_name(const char *h, size_t len, tern_url *u) {
  const char *colon = memchr(h, ':', len);
  size_t hlen = colon != NULL ? (size_t)(colon - h) : len;
  tern_addr ip;
  size_t i;

  if (hlen == 0)
    return "missing host";
  for (i = 0; i < hlen; i++) {
    if (!is_host_char(h[i]))
      return "bad character in host";
  }
  u->host = url_view(h, hlen);
  u->host_is_ip = tern_addr_parse_ip(h, hlen, &ip) == TERN_OK;
  if (!u->host_is_ip && host_looks_numeric(h, hlen))
    return "bad IPv4 address in host";
  return colon != NULL ? url_port(colon + 1, len - hlen - 1, u) : NULL;
}

/* RFC 3986 3.2.2: IP-literal = "[" IPv6address "]", then ":port". */
static const char *url_host_v6(const char *h, size_t len, tern_url *u) {
  const char *close = memchr(h, ']', len);
  size_t hlen, rest;
  tern_addr ip;

  if (close == NULL)
    return "unterminated '[' in host";
  hlen = (size_t)(close - h) - 1;
  if (tern_addr_parse_ip(h + 1, hlen, &ip) != TERN_OK ||
      ip.family != TERN_AF_INET6)
    return "bad IPv6 address in host";
  u->host = url_view(h + 1, hlen);
  u->host_is_ip = true;
  rest = len - hlen - 2;
  if (rest == 0)
    return NULL;
  if (close[1] != ':')
    return "unexpected character after ']'";
  return url_port(close + 2, rest - 1, u);
}

/* "[userinfo@]host[:port]". The last '@' ends the userinfo, as browsers
 * do, so the host is always what follows every '@'. */
static const char *url_authority(const char *a, size_t len, tern_url *u) {
  size_t at = len;

  while (at > 0 && a[at - 1] != '@')
    at--;
  u->userinfo = url_view(a, at > 0 ? at - 1 : 0);
  a += at;
  len -= at;
  if (len == 0)
    return "missing host";
  return a[0] == '[' ? url_host_v6(a, len, u) : url_host_name(a, len, u);
}

/* ---- path, query, fragment ---------------------------------------------- */

static void url_tail(const char *s, size_t len, size_t from, tern_url *u) {
  size_t q = url_find(s, len, from, "?#");
  size_t f = url_find(s, len, q, "#");

  u->path = url_view(s + from, q - from);
  u->query = q < f ? url_view(s + q + 1, f - q - 1) : url_view(s + f, 0);
  u->fragment = f < len ? url_view(s + f + 1, len - f - 1)
                        : url_view(s + len, 0);
}

/* Default ports and the flags that follow from the scheme. */
static const char *url_apply_scheme(tern_url *u) {
  const url_scheme_info *si = url_scheme_lookup(u->scheme);

  if (si != NULL && si->transport && !u->port_explicit)
    return "missing port";
  if (u->port_explicit && u->port == 0 && (si == NULL || !si->transport))
    return "port out of range";
  if (si == NULL)
    return NULL;
  if (!u->port_explicit)
    u->port = si->port;
  u->tls = si->tls;
  u->udp = si->udp;
  return NULL;
}

static const char *url_parse(const char *s, size_t len, tern_url *u) {
  const char *err;
  size_t start = 0, end;

  if (s == NULL || len == 0)
    return "empty URL";
  err = url_check_chars(s, len);
  if (err == NULL)
    err = url_scheme(s, len, u, &start);
  if (err != NULL)
    return err;
  end = url_find(s, len, start, "/?#");
  err = url_authority(s + start, end - start, u);
  if (err != NULL)
    return err;
  url_tail(s, len, end, u);
  return url_apply_scheme(u);
}

int tern_url_parse(const char *s, size_t len, tern_url *out) {
  const char *err;

  if (out == NULL)
    return TERN_EINVAL;
  memset(out, 0, sizeof(*out));
  err = url_parse(s, len, out);
  if (err == NULL)
    return TERN_OK;
  memset(out, 0, sizeof(*out));
  out->error = err;
  return TERN_EURL;
}
