/* http_static.c: static files under a root directory
 * (tern_http_serve_static), POSIX builds.
 *
 * Read first: RFC 9110 8.8 (validators: Last-Modified, ETag), 13
 * (conditional requests, and 13.2.2 for the order they are evaluated in),
 * 14 (range requests), 15 (status codes), 5.6.7 (HTTP-date); RFC 3986
 * 2.1 (percent-encoding).
 *
 * Call order for one request:
 *   method (GET/HEAD, else 405) -> path_from_request (strip the prefix,
 *   percent-decode, refuse NUL, backslash and ".." with 400) ->
 *   open_beneath (open with O_NOFOLLOW, then realpath() must stay inside
 *   realpath(root) and name the same inode) -> a directory: 301 to add the
 *   slash, index.html, a listing or 403; a regular file: validators ->
 *   preconditions (412 / 304) -> Range (206 / 416 / 200) -> send:
 *   HEAD and 304 send the head only, a body up to SMALL_FILE goes out in
 *   one tern_http_reply, a larger one streams (stream_pump).
 *
 * Streaming: pread() chunks of STREAM_CHUNK into tern_http_write while
 * the connection holds less than STREAM_QUEUE, then wait for
 * tern_http_on_writable. The stream state (fd and chunk buffer) belongs to
 * the request: it is freed, and the fd closed, in exactly one place
 * (stream_finish), right before tern_http_end. If the connection goes
 * away, the server calls the writable callback once more and
 * tern_http_write returns TERN_ECLOSED, which ends the stream the same
 * way; nothing refers to the state after that.
 *
 * Cost of the simple choices: realpath() of the root and of the file on
 * every request (a few system calls each); a directory listing is built
 * in memory (at most LIST_MAX entries).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "proto/http_internal.h"

#define SMALL_FILE (16 * 1024)   /* read whole and sent in one reply */
#define STREAM_CHUNK (64 * 1024) /* one pread / tern_http_write */
#define STREAM_QUEUE (256 * 1024) /* write while less is queued */
#define LIST_MAX 10000           /* directory entries listed */
#define HDRS_MAX 512             /* extra header lines of one response */
#define OPEN_FLAGS (O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

/* ---- replies that carry no file ------------------------------------- */

/* A short plain-text answer: "404 Not Found\n". */
static int reply_status(tern_http_req *r, int status, const char *extra) {
  char body[64], hdrs[256];
  int n = snprintf(body, sizeof(body), "%d %s\n", status,
                   tern__http_reason(status));
  snprintf(hdrs, sizeof(hdrs), "Content-Type: text/plain; charset=utf-8\r\n%s",
           extra ? extra : "");
  return tern_http_reply(r, status, hdrs, body, (size_t)n);
}

/* ---- MIME types ----------------------------------------------------- */

static const struct mime {
  const char *ext, *type;
} mime_table[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/vnd.microsoft.icon"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
};

/* Content-Type by the extension of the last path segment, ignoring case.
 * A .gz file is sent as application/gzip with no Content-Encoding: the
 * client gets the file, not its decompressed content. */
static const char *mime_for(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash : path, '.');
  if (dot != NULL && dot[1] != '\0')
    for (size_t i = 0; i < sizeof(mime_table) / sizeof(mime_table[0]); i++)
      if (strcasecmp(dot + 1, mime_table[i].ext) == 0) return mime_table[i].type;
  return "application/octet-stream";
}

/* ---- HTTP-date (RFC 9110 5.6.7) ------------------------------------- */

static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                        "May", "Jun", "Jul", "Aug",
                                        "Sep", "Oct", "Nov", "Dec"};

/* IMF-fixdate, as tern__http_date writes Date. */
static void date_format(time_t t, char out[64]) {
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                  "Thu", "Fri", "Sat"};
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
           tm.tm_mday, month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
           tm.tm_min, tm.tm_sec);
}

static int month_index(const char *m) {
  for (int i = 0; i < 12; i++)
    if (strcmp(m, month_names[i]) == 0) return i;
  return -1;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar
 * (m 1..12), without timegm(), which POSIX does not have. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* RFC 9110 5.6.7: a two-digit rfc850 year more than 50 years in the
 * future is the most recent past year with the same last two digits. */
static int year_from_2digit(int yy) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  int year = tm.tm_year + 1900, y = year - year % 100 + yy;
  return y > year + 50 ? y - 100 : y;
}

typedef struct date_parts {
  int year, mon, day, hour, min, sec;
} date_parts;

/* The three forms a recipient MUST accept (RFC 9110 5.6.7): IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", rfc850 "Sunday, 06-Nov-94 08:49:37
 * GMT" and asctime "Sun Nov  6 08:49:37 1994". Anything after the date
 * (a second list member) makes it invalid. */
static bool date_scan(const char *s, size_t len, date_parts *p) {
  char wd[16], mon[4];
  int n = 0;
  if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", wd,
             &p->day, mon, &p->year, &p->hour, &p->min, &p->sec, &n) == 7 &&
      (size_t)n == len) {
  } else if (sscanf(s, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", wd,
                    &p->day, mon, &p->year, &p->hour, &p->min, &p->sec,
                    &n) == 7 &&
             (size_t)n == len) {
    p->year = year_from_2digit(p->year);
  } else if (sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", wd, mon,
                    &p->day, &p->hour, &p->min, &p->sec, &p->year, &n) == 7 &&
             (size_t)n == len) {
  } else {
    return false;
  }
  p->mon = month_index(mon);
  return p->mon >= 0;
}

/* Parse an HTTP-date into seconds since the epoch. */
static bool date_parse(tern_str v, int64_t *out) {
  char s[64];
  date_parts p;
  if (v.len == 0 || v.len >= sizeof(s)) return false;
  memcpy(s, v.ptr, v.len);
  s[v.len] = '\0';
  if (!date_scan(s, v.len, &p)) return false;
  if (p.day < 1 || p.day > 31 || p.hour > 23 || p.min > 59 || p.sec > 60 ||
      p.hour < 0 || p.min < 0 || p.sec < 0)
    return false;
  *out = days_from_civil(p.year, p.mon + 1, p.day) * 86400 +
         p.hour * 3600 + p.min * 60 + p.sec;
  return true;
}

/* ---- the request path ----------------------------------------------- */

static int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* RFC 3986 2.1: percent-decode in into out (NUL-terminated). Returns 0 or
 * the status to refuse with: 400 for a broken %xx, a NUL or a backslash
 * (a separator on other systems, never wanted in a name here). */
static int path_decode(const char *in, size_t len, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)in[i];
    if (c == '%') {
      int hi = i + 2 < len ? hex_val(in[i + 1]) : -1;
      int lo = i + 2 < len ? hex_val(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) return 400;
      c = hi * 16 + lo;
      i += 2;
    }
    if (c == '\0' || c == '\\') return 400;
    if (o + 1 >= cap) return 414;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return 0;
}

/* True if any '/'-separated segment of p is "..". */
static bool has_dotdot(const char *p) {
  for (const char *s = p; *s;) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 2 && s[0] == '.' && s[1] == '.') return true;
    s += n + (e != NULL);
  }
  return false;
}

/* The file path for the request: its path after strip_prefix, decoded,
 * always starting with '/'. Returns 0 or the status to answer. Segments
 * of ".." are refused rather than resolved: a client never needs them
 * (RFC 3986 5.2.4 has it remove them before sending). */
static int path_from_request(const tern_http_msg *m, const char *prefix,
                             char *out, size_t cap) {
  tern_str p = m->path;
  size_t plen = prefix ? strlen(prefix) : 0;
  if (p.len < plen || (plen && memcmp(p.ptr, prefix, plen) != 0)) return 404;
  p.ptr += plen;
  p.len -= plen;
  size_t slash = p.len == 0 || p.ptr[0] != '/'; /* "/static" + "x" */
  out[0] = '/';
  int st = path_decode(p.ptr, p.len, out + slash, cap - slash);
  if (st != 0) return st;
  return has_dotdot(out) ? 400 : 0;
}

/* ---- opening under the root ----------------------------------------- */

typedef struct target {
  int fd;
  struct stat st;
  char real[PATH_MAX]; /* resolved path */
} target;

static int status_from_errno(int e) {
  switch (e) {
    case ENOENT: case ENOTDIR: case ELOOP: case ENAMETOOLONG: return 404;
    case EACCES: case EPERM: return 403;
    default: return 500;
  }
}

/* Is real inside root (both resolved)? */
static bool is_beneath(const char *root, const char *real) {
  size_t n = strlen(root);
  if (n == 1 && root[0] == '/') return real[0] == '/';
  return strncmp(real, root, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

/* realpath() resolves every symlink on the way, so a link in the middle
 * of the path that leads out of root is caught; comparing the inode with
 * the open fd makes a swap between open() and realpath() harmless. */
static int check_beneath(const char *root, const char *full, target *t) {
  struct stat again;
  if (realpath(full, t->real) == NULL) return 404;
  if (!is_beneath(root, t->real)) return 404;
  if (stat(t->real, &again) != 0 || again.st_dev != t->st.st_dev ||
      again.st_ino != t->st.st_ino)
    return 404;
  return 0;
}

/* Open root + rel. O_NOFOLLOW refuses a symlink as the last component;
 * O_NONBLOCK keeps a FIFO from blocking the loop in open(). */
static int open_beneath(const char *root, const char *rel, target *t) {
  char rroot[PATH_MAX], full[PATH_MAX];
  t->fd = -1;
  if (realpath(root, rroot) == NULL) {
    tern_log(TERN_LOG_WARN, "http", "static root '%s': %s", root,
             strerror(errno));
    return 500;
  }
  if ((size_t)snprintf(full, sizeof(full), "%s%s", rroot, rel) >= sizeof(full))
    return 404;
  t->fd = open(full, OPEN_FLAGS);
  if (t->fd < 0) return status_from_errno(errno);
  int st = fstat(t->fd, &t->st) != 0 ? 500 : check_beneath(rroot, full, t);
  if (st == 0 && !S_ISREG(t->st.st_mode) && !S_ISDIR(t->st.st_mode)) st = 404;
  if (st != 0) {
    close(t->fd);
    t->fd = -1;
  }
  return st;
}

/* ---- validators (RFC 9110 8.8) -------------------------------------- */

typedef struct file_meta {
  uint64_t size;
  int64_t mtime;      /* Last-Modified, seconds */
  bool mtime_strong;  /* 8.8.2.2: at least a second before Date */
  char etag[80];      /* with its quotes */
  char lastmod[64];
  const char *type;
} file_meta;

/* 8.8.3: a strong ETag changes whenever the content may have: size,
 * modification time to the nanosecond and inode (a replaced file). 8.8.2.1:
 * Last-Modified is never later than the response's Date. */
static void meta_init(file_meta *fm, const struct stat *st, const char *name) {
  int64_t now = (int64_t)time(NULL);
  uint64_t ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u +
                (uint64_t)st->st_mtim.tv_nsec;
  fm->size = (uint64_t)st->st_size;
  fm->mtime = (int64_t)st->st_mtim.tv_sec < now ? (int64_t)st->st_mtim.tv_sec
                                                : now;
  fm->mtime_strong = fm->mtime < now;
  snprintf(fm->etag, sizeof(fm->etag), "\"%llx-%llx-%llx\"",
           (unsigned long long)fm->size, (unsigned long long)ns,
           (unsigned long long)st->st_ino);
  date_format((time_t)fm->mtime, fm->lastmod);
  fm->type = mime_for(name);
}

/* ---- conditional requests (RFC 9110 13) ----------------------------- */

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

/* Next entity-tag of a list (13.1.1 / 13.1.2 syntax): "*", or
 * [W/] DQUOTE etagc* DQUOTE. Sets *tag to the quoted part. Returns false at
 * the end or on bad syntax (then the rest of the field is not used). */
static bool etag_next(tern_str *rest, tern_str *tag, bool *weak, bool *star) {
  const char *p = rest->ptr, *end = p + rest->len;
  while (p < end && (is_ows(*p) || *p == ',')) p++;
  if (p == end) return false;
  *weak = *star = false;
  if (*p == '*') {
    *star = true;
    tag->ptr = p++;
    tag->len = 1;
  } else {
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/') *weak = true, p += 2;
    if (p == end || *p != '"') return false;
    const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
    if (q == NULL) return false;
    tag->ptr = p;
    tag->len = (size_t)(q + 1 - p);
    p = q + 1;
  }
  while (p < end && is_ows(*p)) p++;
  if (p < end && *p != ',') return false;
  rest->ptr = p;
  rest->len = (size_t)(end - p);
  return true;
}

/* Does any field named name list our ETag? strong: 13.1.1 (If-Match)
 * uses the strong comparison, 13.1.2 (If-None-Match) the weak one
 * (8.8.3.2). Every field line of that name counts (5.3: lines combine). */
static bool etag_listed(const tern_http_msg *m, const char *name,
                        const char *etag, bool strong, bool *present) {
  size_t elen = strlen(etag);
  *present = false;
  for (size_t i = 0; i < m->num_headers; i++) {
    if (!tern_str_ieq(m->headers[i].name, name)) continue;
    *present = true;
    tern_str rest = m->headers[i].value, tag;
    bool weak, star;
    while (etag_next(&rest, &tag, &weak, &star)) {
      if (star) return true;
      if (strong && weak) continue;
      if (tag.len == elen && memcmp(tag.ptr, etag, elen) == 0) return true;
    }
  }
  return false;
}

/* 13.2.2: evaluate the preconditions in order; returns 0 to go on, 304 or
 * 412. Steps 1-2 (If-Match, If-Unmodified-Since) are cheap to honour even
 * though GET rarely carries them. */
static int preconditions(const tern_http_msg *m, const file_meta *fm) {
  bool present;
  int64_t t;
  bool match = etag_listed(m, "If-Match", fm->etag, true, &present);
  if (present && !match) return 412; /* 13.1.1 */
  if (!present &&
      date_parse(tern_http_header_get(m, "If-Unmodified-Since"), &t) &&
      fm->mtime > t)
    return 412; /* 13.1.4 */
  if (etag_listed(m, "If-None-Match", fm->etag, false, &present))
    return 304; /* 13.1.2: GET and HEAD get 304 */
  /* 13.1.3: If-Modified-Since only without If-None-Match; an invalid date
   * is ignored. */
  if (!present &&
      date_parse(tern_http_header_get(m, "If-Modified-Since"), &t) &&
      fm->mtime <= t)
    return 304;
  return 0;
}

/* 13.1.5: If-Range holds an entity-tag (strong comparison, so a weak tag
 * never matches) or a date that must equal Last-Modified exactly, and
 * only a strong Last-Modified (8.8.2.2) may be used that way. */
static bool if_range_ok(const tern_http_msg *m, const file_meta *fm) {
  tern_str v = tern_http_header_get(m, "If-Range");
  int64_t t;
  if (v.ptr == NULL) return true;
  if (v.len > 0 && v.ptr[0] == '"') return tern_str_eq(v, fm->etag);
  if (v.len > 1 && v.ptr[0] == 'W' && v.ptr[1] == '/') return false;
  return fm->mtime_strong && date_parse(v, &t) && t == fm->mtime;
}

/* ---- Range (RFC 9110 14) -------------------------------------------- */

enum { RANGE_NONE, RANGE_OK, RANGE_UNSAT };

/* Digits into *v, saturating (a huge last-pos just means "to the end").
 * Returns the count of digits. */
static size_t parse_u64(const char *p, const char *end, uint64_t *v) {
  size_t n = 0;
  *v = 0;
  for (; p + n < end && p[n] >= '0' && p[n] <= '9'; n++) {
    uint64_t d = (uint64_t)(p[n] - '0');
    *v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
  }
  return n;
}

/* One range-spec (14.1.1): int-range "a-b" / "a-", or suffix-range "-n".
 * [*first, *last] inclusive, clipped to size. */
static int range_spec(const char *p, const char *end, uint64_t size,
                      uint64_t *first, uint64_t *last) {
  uint64_t a, b;
  size_t na = parse_u64(p, end, &a);
  if (p + na == end || p[na] != '-') return RANGE_NONE;
  p += na + 1;
  size_t nb = parse_u64(p, end, &b);
  if (p + nb != end || (na == 0 && nb == 0)) return RANGE_NONE;
  if (na == 0) { /* suffix: the last b bytes; 14.1.1 needs b > 0 */
    if (b == 0) return RANGE_UNSAT;
    *first = b < size ? size - b : 0;
    *last = size - 1;
    return RANGE_OK;
  }
  if (nb > 0 && b < a) return RANGE_NONE; /* 14.1.1: invalid, ignored */
  if (a >= size) return RANGE_UNSAT;
  *first = a;
  *last = nb > 0 && b < size ? b : size - 1;
  return RANGE_OK;
}

/* 14.2: "bytes=" and exactly one range-spec is served as 206. Several
 * ranges are served whole (200): a server MAY ignore Range, and this spares
 * multipart/byteranges. Bad syntax or another unit: ignored too. */
static int range_parse(tern_str v, uint64_t size, uint64_t *first,
                       uint64_t *last) {
  const char *p = v.ptr, *end = v.ptr + v.len;
  if (v.len < 6 || strncasecmp(p, "bytes=", 6) != 0) return RANGE_NONE;
  p += 6;
  while (p < end && is_ows(*p)) p++;
  while (end > p && (is_ows(end[-1]) || end[-1] == ',')) end--;
  if (memchr(p, ',', (size_t)(end - p)) != NULL) return RANGE_NONE;
  return range_spec(p, end, size, first, last);
}

/* ---- streaming ------------------------------------------------------ */

typedef struct stream {
  int fd;
  uint64_t off, end; /* bytes [off, end) are still to send */
  size_t chunk;      /* bytes per pread */
  size_t bound;      /* write while queued + chunk <= bound */
  uint8_t buf[];
} stream;

static void stream_pump(tern_http_req *r, stream *s);

static void on_writable(tern_http_req *r, void *ud) { stream_pump(r, ud); }

/* The one place a stream ends: free the state, then answer. A stream cut
 * short (read error, file shrunk, send failed) leaves the client with
 * fewer bytes than Content-Length, so the connection must close (RFC 9112
 * 6.3 lets the client see the message as incomplete). */
static void stream_finish(tern_http_req *r, stream *s, bool complete) {
  close(s->fd);
  free(s);
  if (!complete) r->close_after = true;
  tern_http_end(r);
}

/* Send until the queue is full, the file is done, or the connection is. */
static void stream_pump(tern_http_req *r, stream *s) {
  while (s->off < s->end) {
    if (tern_http_queued(r) + s->chunk > s->bound) {
      tern_http_on_writable(r, on_writable, s);
      return;
    }
    uint64_t left = s->end - s->off;
    size_t want = left < s->chunk ? (size_t)left : s->chunk;
    ssize_t n = pread(s->fd, s->buf, want, (off_t)s->off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    int rc = tern_http_write(r, s->buf, (size_t)n);
    if (rc == TERN_ENOSPC && s->chunk > 1024) {
      s->chunk /= 2; /* this connection's tx_max is below the manager's */
      continue;
    }
    if (rc == TERN_ENOSPC && tern_http_queued(r) > 0) {
      tern_http_on_writable(r, on_writable, s);
      return;
    }
    if (rc != TERN_OK) break; /* TERN_ECLOSED: the client went away */
    s->off += (uint64_t)n;
  }
  stream_finish(r, s, s->off == s->end);
}

/* Queue bound and chunk size from the connection limits, so a write never
 * meets TERN_ENOSPC and WRITABLE (at tx_lowat) always leaves room for a
 * whole chunk. */
static void stream_sizes(tern_http_req *r, stream *s) {
  tern_limits lim;
  tern_mgr_get_limits(tern_conn_mgr(tern_http_req_conn(r)), &lim);
  s->bound = lim.tx_max < STREAM_QUEUE ? lim.tx_max : STREAM_QUEUE;
  size_t room = s->bound > lim.tx_lowat ? s->bound - lim.tx_lowat : s->bound;
  s->chunk = room < STREAM_CHUNK ? room : STREAM_CHUNK;
  if (s->chunk == 0) s->chunk = 1;
}

/* Start a streamed body of bytes [first, first + len) of fd, which the
 * stream now owns. */
static int stream_start(tern_http_req *r, int *fd, int status,
                        const char *hdrs, uint64_t first, uint64_t len) {
  stream *s = malloc(sizeof(*s) + STREAM_CHUNK);
  if (s == NULL) return reply_status(r, 503, NULL);
  s->fd = *fd;
  *fd = -1;
  s->off = first;
  s->end = first + len;
  stream_sizes(r, s);
  int rc = tern_http_begin(r, status, hdrs, (int64_t)len);
  if (rc != TERN_OK) { /* the request is still ours (not orphaned) */
    stream_finish(r, s, false);
    return rc;
  }
  stream_pump(r, s);
  return TERN_OK;
}

/* ---- sending a file ------------------------------------------------- */

/* Bytes [first, first + len) in one reply. */
static int send_small(tern_http_req *r, int fd, int status, const char *hdrs,
                      uint64_t first, size_t len) {
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL) return reply_status(r, 503, NULL);
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, buf + got, len - got, (off_t)(first + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  int rc = got == len ? tern_http_reply(r, status, hdrs, buf, len)
                      : reply_status(r, 500, NULL); /* shrank under us */
  free(buf);
  return rc;
}

/* Head only: HEAD (RFC 9110 9.3.2: the same fields as GET) and 304. */
static int send_head_only(tern_http_req *r, int status, const char *hdrs,
                          uint64_t len) {
  int rc = tern_http_begin(r, status, hdrs, (int64_t)len);
  int rc2 = tern_http_end(r);
  return rc != TERN_OK ? rc : rc2;
}

/* The fields every answer about the file carries. 15.4.5: a 304 has the
 * ETag (and, as this server's cache guide, Last-Modified) but no
 * representation metadata such as Content-Type. */
static void file_headers(char *out, size_t cap, const file_meta *fm,
                         int status, uint64_t first, uint64_t last) {
  int n = snprintf(out, cap, "ETag: %s\r\nLast-Modified: %s\r\n", fm->etag,
                   fm->lastmod);
  if (status == 304 || n < 0 || (size_t)n >= cap) return;
  n += snprintf(out + n, cap - (size_t)n,
                "Content-Type: %s\r\nAccept-Ranges: bytes\r\n"
                "X-Content-Type-Options: nosniff\r\n",
                fm->type);
  if (status == 206 && (size_t)n < cap)
    snprintf(out + n, cap - (size_t)n, "Content-Range: bytes %llu-%llu/%llu\r\n",
             (unsigned long long)first, (unsigned long long)last,
             (unsigned long long)fm->size);
}

/* 14.2 / 15.5.17: which part to send, or the 416 answer. */
static int choose_range(tern_http_req *r, const file_meta *fm, uint64_t *first,
                        uint64_t *last) {
  const tern_http_msg *m = tern_http_req_msg(r);
  tern_str range = tern_http_header_get(m, "Range");
  *first = 0;
  *last = fm->size ? fm->size - 1 : 0;
  /* 14.2: Range is defined for GET only; an empty file has no ranges */
  if (range.ptr == NULL || tern_http_req_is_head(r) || fm->size == 0 ||
      !if_range_ok(m, fm))
    return 200;
  int k = range_parse(range, fm->size, first, last);
  if (k == RANGE_OK) return 206;
  if (k == RANGE_UNSAT) return 416;
  *first = 0;
  *last = fm->size - 1;
  return 200;
}

static int reply_416(tern_http_req *r, const file_meta *fm) {
  char hdrs[128];
  snprintf(hdrs, sizeof(hdrs), "Content-Range: bytes */%llu\r\n",
           (unsigned long long)fm->size);
  return reply_status(r, 416, hdrs);
}

/* A regular file: preconditions, range, then the body. Takes *fd. */
static int serve_file(tern_http_req *r, int *fd, const struct stat *st,
                      const char *name) {
  file_meta fm;
  char hdrs[HDRS_MAX];
  uint64_t first = 0, last = 0;
  meta_init(&fm, st, name);
  int status = preconditions(tern_http_req_msg(r), &fm);
  if (status == 412) return reply_status(r, 412, NULL);
  if (status == 0) status = choose_range(r, &fm, &first, &last);
  if (status == 416) return reply_416(r, &fm);
  file_headers(hdrs, sizeof(hdrs), &fm, status, first, last);
  /* 8.6: a 304 may carry the Content-Length a 200 would have */
  if (status == 304) return send_head_only(r, 304, hdrs, fm.size);
  uint64_t len = fm.size ? last - first + 1 : 0;
  if (tern_http_req_is_head(r)) return send_head_only(r, status, hdrs, len);
  if (len <= SMALL_FILE)
    return send_small(r, *fd, status, hdrs, first, (size_t)len);
  return stream_start(r, fd, status, hdrs, first, len);
}

/* ---- directories ---------------------------------------------------- */

typedef struct out {
  tern_buf b;
  bool failed;
} out;

static void out_put(out *o, const char *s, size_t n) {
  if (!o->failed && tern_buf_append(&o->b, s, n) != TERN_OK) o->failed = true;
}

static void out_str(out *o, const char *s) { out_put(o, s, strlen(s)); }

/* HTML text and attribute values. */
static void out_html(out *o, const char *s) {
  for (; *s; s++) {
    switch (*s) {
      case '&': out_str(o, "&amp;"); break;
      case '<': out_str(o, "&lt;"); break;
      case '>': out_str(o, "&gt;"); break;
      case '"': out_str(o, "&quot;"); break;
      case '\'': out_str(o, "&#39;"); break;
      default: out_put(o, s, 1);
    }
  }
}

/* RFC 3986 2.1/2.3: all but unreserved bytes percent-encoded, so a name
 * never reads as a scheme ("a:b") or a query ("a?b") in a relative link. */
static void out_url(out *o, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out_put(o, s, 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      out_put(o, e, 3);
    }
  }
}

typedef struct entry {
  char *name;
  bool dir;
} entry;

static int entry_cmp(const void *a, const void *b) {
  return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static bool entry_is_dir(DIR *d, const struct dirent *de) {
  struct stat st;
#ifdef DT_DIR
  if (de->d_type != DT_UNKNOWN) return de->d_type == DT_DIR;
#endif
  return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISDIR(st.st_mode);
}

/* Read up to LIST_MAX names ("." and ".." left out), sorted. */
static entry *read_entries(DIR *d, size_t *count) {
  entry *v = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while (n < LIST_MAX && (de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (n == cap) {
      entry *nv = realloc(v, (cap = cap ? cap * 2 : 32) * sizeof(*v));
      if (nv == NULL) break;
      v = nv;
    }
    v[n].name = strdup(de->d_name);
    if (v[n].name == NULL) break;
    v[n].dir = entry_is_dir(d, de);
    n++;
  }
  if (n > 1) qsort(v, n, sizeof(*v), entry_cmp);
  *count = n;
  return v;
}

static void free_entries(entry *v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i].name);
  free(v);
}

/* The page: names HTML-escaped, links percent-encoded and relative. */
static void listing_html(out *o, const char *shown, const entry *v, size_t n) {
  out_str(o, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
             "<title>Index of ");
  out_html(o, shown);
  out_str(o, "</title></head>\n<body><h1>Index of ");
  out_html(o, shown);
  out_str(o, "</h1>\n<ul>\n");
  if (strcmp(shown, "/") != 0) out_str(o, "<li><a href=\"../\">../</a></li>\n");
  for (size_t i = 0; i < n; i++) {
    out_str(o, "<li><a href=\"");
    out_url(o, v[i].name);
    out_str(o, v[i].dir ? "/\">" : "\">");
    out_html(o, v[i].name);
    out_str(o, v[i].dir ? "/</a></li>\n" : "</a></li>\n");
  }
  out_str(o, "</ul>\n</body></html>\n");
}

/* Takes *fd (fdopendir owns it from then on). */
static int serve_listing(tern_http_req *r, int *fd, const char *shown) {
  DIR *d = fdopendir(*fd);
  if (d == NULL) return reply_status(r, 500, NULL);
  *fd = -1;
  size_t n;
  entry *v = read_entries(d, &n);
  closedir(d);
  out o = {.failed = false};
  tern_buf_init(&o.b, SIZE_MAX);
  listing_html(&o, shown, v, n);
  free_entries(v, n);
  int rc = o.failed ? reply_status(r, 503, NULL)
                    : tern_http_reply(r, 200,
                                      "Content-Type: text/html; charset=utf-8\r\n"
                                      "Cache-Control: no-cache\r\n",
                                      o.b.data, o.b.len);
  tern_buf_free(&o.b);
  return rc;
}

/* 15.4.2: a directory asked for without its slash moves there, so that
 * relative links in its index resolve (RFC 3986 5.2). Leading slashes are
 * folded into one: "//host/dir/" would send the client to another site
 * (RFC 3986 4.2, network-path reference). */
static int redirect_slash(tern_http_req *r) {
  const tern_http_msg *m = tern_http_req_msg(r);
  tern_str p = m->path;
  while (p.len > 1 && p.ptr[0] == '/' && p.ptr[1] == '/') p.ptr++, p.len--;
  size_t cap = p.len + m->query.len + 32;
  char *loc = malloc(cap);
  if (loc == NULL) return reply_status(r, 503, NULL);
  int n = snprintf(loc, cap, "Location: %.*s/", (int)p.len, p.ptr);
  if (m->query.len)
    n += snprintf(loc + n, cap - (size_t)n, "?%.*s", (int)m->query.len,
                  m->query.ptr);
  snprintf(loc + n, cap - (size_t)n, "\r\n");
  int rc = reply_status(r, 301, loc);
  free(loc);
  return rc;
}

/* index.html inside, else a listing (list_dirs) or 403. A symlinked or
 * non-regular index.html counts as absent. Takes *fd. */
static int serve_dir(tern_http_req *r, int *fd, const char *shown,
                     const tern_http_static_opts *o) {
  const tern_http_msg *m = tern_http_req_msg(r);
  if (m->path.len == 0 || m->path.ptr[m->path.len - 1] != '/')
    return redirect_slash(r);
  int ifd = openat(*fd, "index.html", OPEN_FLAGS);
  struct stat st;
  if (ifd >= 0 && fstat(ifd, &st) == 0 && S_ISREG(st.st_mode)) {
    int rc = serve_file(r, &ifd, &st, "index.html");
    if (ifd >= 0) close(ifd);
    return rc;
  }
  if (ifd >= 0) close(ifd);
  if (!o->list_dirs) return reply_status(r, 403, NULL);
  return serve_listing(r, fd, shown);
}

/* ---- entry point ---------------------------------------------------- */

static int serve(tern_http_req *r, const tern_http_static_opts *o) {
  const tern_http_msg *m = tern_http_req_msg(r);
  char rel[PATH_MAX];
  target t;
  if (!tern_str_eq(m->method, "GET") && !tern_str_eq(m->method, "HEAD"))
    return reply_status(r, 405, "Allow: GET, HEAD\r\n"); /* 15.5.6 */
  int st = path_from_request(m, o->strip_prefix, rel, sizeof(rel));
  if (st == 0) st = open_beneath(o->root, rel, &t);
  if (st != 0) return reply_status(r, st, NULL);
  int rc = S_ISDIR(t.st.st_mode) ? serve_dir(r, &t.fd, rel, o)
                                 : serve_file(r, &t.fd, &t.st, t.real);
  if (t.fd >= 0) close(t.fd);
  return rc;
}

int tern_http_serve_static(tern_http_req *r, const tern_http_static_opts *o) {
  if (r == NULL || r->answered) return TERN_EINVAL;
  if (o == NULL || o->root == NULL) return reply_status(r, 500, NULL);
  /* Gone already (called late from a timer, say): let the reply path
   * release the orphan, so nothing below meets a dead connection. */
  if (r->orphan || r->hc->c == NULL) return tern_http_reply(r, 500, NULL, NULL, 0);
  return serve(r, o);
}
