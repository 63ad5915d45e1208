/* http_test.h: helpers shared by the HTTP server and client tests.
 *
 * - Loop drivers: run the manager's loop until a condition or a deadline
 *   (never a tight timing assumption: conditions are polled, deadlines are
 *   generous upper bounds).
 * - A raw client: a plain non-blocking socket whose readiness is watched
 *   by the manager's own loop, so the test sends exact bytes (all at once,
 *   or one byte per loop iteration) and collects every byte that comes
 *   back while the server runs in the same thread.
 * - A small HTTP/1.1 response parser written independently of tern's
 *   (strict enough for tests): splits what the raw client collected into
 *   responses framed by Content-Length, chunked coding or the close, with
 *   1xx, 204/304 and answers to HEAD taken as bodiless.
 */
#ifndef TERN_TESTS_PROTO_HTTP_TEST_H
#define TERN_TESTS_PROTO_HTTP_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/tern.h"

/* ---- loop drivers -------------------------------------------------- */

/* Run the loop until cond(arg) or timeout_ms; returns cond's value. */
static inline int run_until(tern_mgr *m, int (*cond)(void *), void *arg,
                            int timeout_ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)timeout_ms;
  while (!cond(arg) && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(m), 10);
  return cond(arg);
}

static inline void run_for(tern_mgr *m, int ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  while (tern_clock_ms() < end) tern_loop_poll(tern_mgr_loop(m), 5);
}

static inline uint16_t srv_port(tern_http_server *s) {
  return tern_conn_local(tern_http_server_listener(s))->port;
}

/* ---- responses ------------------------------------------------------ */

typedef struct http_resp {
  int status;
  int minor;
  char *head;      /* NUL-terminated copy of the head (incl. CRLF CRLF) */
  size_t head_len;
  uint8_t *body;   /* decoded body, NUL-terminated (never NULL once parsed) */
  size_t body_len;
  bool chunked, has_length, close_delimited;
  size_t start, wire_len; /* where it was in the raw client's bytes */
} http_resp;

static inline void resp_clear(http_resp *r) {
  free(r->head);
  free(r->body);
  memset(r, 0, sizeof(*r));
}

/* Value of the first header called name in head (case-insensitive),
 * copied to out (NUL-terminated, OWS trimmed); false if absent. */
static inline bool head_get(const char *head, const char *name, char *out,
                            size_t n) {
  size_t nl = strlen(name);
  const char *line = strstr(head, "\r\n");
  while (line != NULL && line[2] != '\r') {
    const char *s = line + 2, *e = strstr(s, "\r\n");
    if (e == NULL) break;
    if ((size_t)(e - s) > nl && s[nl] == ':' && strncasecmp(s, name, nl) == 0) {
      const char *v = s + nl + 1;
      while (v < e && (*v == ' ' || *v == '\t')) v++;
      const char *ve = e;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      size_t k = (size_t)(ve - v);
      if (k >= n) k = n - 1;
      memcpy(out, v, k);
      out[k] = '\0';
      return true;
    }
    line = e;
  }
  return false;
}

/* How many header lines called name the head has. */
static inline int head_count(const char *head, const char *name) {
  size_t nl = strlen(name);
  int count = 0;
  const char *line = strstr(head, "\r\n");
  while (line != NULL && line[2] != '\r') {
    const char *s = line + 2;
    if (strncasecmp(s, name, nl) == 0 && s[nl] == ':') count++;
    line = strstr(s, "\r\n");
  }
  return count;
}

/* Header value as a string in one of a few rotating static buffers ("" if
 * absent), for use inside assertions. */
static inline const char *resp_hdr(const http_resp *r, const char *name) {
  static char bufs[8][2048];
  static int k;
  char *b = bufs[k++ & 7];
  if (r->head == NULL || !head_get(r->head, name, b, sizeof(bufs[0])))
    b[0] = '\0';
  return b;
}

static inline bool resp_has(const http_resp *r, const char *name) {
  char tmp[8];
  return r->head != NULL && head_get(r->head, name, tmp, sizeof(tmp));
}

/* Decode a chunked body at p[0..n). Returns the wire bytes it took, 0 if
 * incomplete, -1 if malformed; the data goes to *out. */
static inline long chunked_parse(const uint8_t *p, size_t n, uint8_t **out,
                                 size_t *out_len) {
  size_t at = 0, cap = 256, len = 0;
  uint8_t *b = malloc(cap);
  assert_non_null(b);
  for (;;) {
    const uint8_t *e = memmem(p + at, n - at, "\r\n", 2);
    if (e == NULL) goto incomplete;
    size_t size = 0, i = at;
    int digits = 0;
    for (; p + i < e; i++, digits++) {
      int c = p[i], v;
      if (c >= '0' && c <= '9') v = c - '0';
      else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') v = (c | 0x20) - 'a' + 10;
      else break;
      size = size * 16 + (size_t)v;
    }
    if (digits == 0 || (p + i < e && p[i] != ';')) goto bad;
    at = (size_t)(e - p) + 2;
    if (size == 0) break;
    if (n - at < size + 2) goto incomplete;
    if (memcmp(p + at + size, "\r\n", 2) != 0) goto bad;
    if (len + size + 1 > cap) {
      while (len + size + 1 > cap) cap *= 2;
      b = realloc(b, cap);
      assert_non_null(b);
    }
    memcpy(b + len, p + at, size);
    len += size;
    at += size + 2;
  }
  for (;;) { /* trailer fields, then the empty line */
    const uint8_t *e = memmem(p + at, n - at, "\r\n", 2);
    if (e == NULL) goto incomplete;
    bool empty = e == p + at;
    at = (size_t)(e - p) + 2;
    if (empty) break;
  }
  b[len] = 0;
  *out = b;
  *out_len = len;
  return (long)at;
incomplete:
  free(b);
  return 0;
bad:
  free(b);
  return -1;
}

/* Parse one response at p[0..n). no_body: it answers a HEAD. eof: no more
 * bytes will come (ends a close-delimited body). Returns its wire length,
 * 0 when incomplete, -1 when malformed. */
static inline long resp_parse(const uint8_t *p, size_t n, bool no_body,
                              bool eof, http_resp *o) {
  memset(o, 0, sizeof(*o));
  const uint8_t *e = memmem(p, n, "\r\n\r\n", 4);
  if (e == NULL) return 0;
  size_t hl = (size_t)(e - p) + 4;
  if (hl < 16 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
      (p[12] != ' ' && p[12] != '\r'))
    return -1;
  o->minor = p[7] - '0';
  o->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  o->head = malloc(hl + 1);
  assert_non_null(o->head);
  memcpy(o->head, p, hl);
  o->head[hl] = '\0';
  o->head_len = hl;
  char v[64];
  long long cl = -1;
  if (head_get(o->head, "Content-Length", v, sizeof(v))) {
    o->has_length = true;
    cl = strtoll(v, NULL, 10);
  }
  if (head_get(o->head, "Transfer-Encoding", v, sizeof(v)))
    o->chunked = strstr(v, "chunked") != NULL;
  bool bodyless = no_body || o->status < 200 || o->status == 204 ||
                  o->status == 304;
  long total;
  if (bodyless) {
    o->body = calloc(1, 1);
    total = (long)hl;
  } else if (o->chunked) {
    long k = chunked_parse(p + hl, n - hl, &o->body, &o->body_len);
    if (k <= 0) {
      resp_clear(o);
      return k;
    }
    total = (long)hl + k;
  } else if (cl >= 0) {
    if (n - hl < (size_t)cl) {
      resp_clear(o);
      return 0;
    }
    o->body = malloc((size_t)cl + 1);
    assert_non_null(o->body);
    memcpy(o->body, p + hl, (size_t)cl);
    o->body[cl] = 0;
    o->body_len = (size_t)cl;
    total = (long)(hl + (size_t)cl);
  } else {
    if (!eof) {
      resp_clear(o);
      return 0;
    }
    o->close_delimited = true;
    o->body_len = n - hl;
    o->body = malloc(o->body_len + 1);
    assert_non_null(o->body);
    memcpy(o->body, p + hl, o->body_len);
    o->body[o->body_len] = 0;
    total = (long)n;
  }
  o->wire_len = (size_t)total;
  return total;
}

/* ---- raw client ------------------------------------------------------ */

#define RAW_MAX_RESP 32

typedef struct raw {
  tern_mgr *m;
  int fd;
  tern_io *io;
  uint8_t *buf; /* every byte received, in order */
  size_t len, cap;
  bool eof, reset;
  uint64_t closed_at; /* tern_clock_ms() when EOF or reset was seen */
  uint32_t head_mask; /* bit i: response i answers a HEAD request */
  http_resp resp[RAW_MAX_RESP];
  int nresp;
  bool bad;           /* something that is not a response arrived */
  size_t parsed;      /* bytes taken by the responses in resp[] */
} raw;

static inline void raw_recv(raw *r) {
  for (;;) {
    if (r->cap - r->len < 65536) {
      r->cap = r->cap ? r->cap * 2 : 131072;
      r->buf = realloc(r->buf, r->cap);
      assert_non_null(r->buf);
    }
    ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len - 1, 0);
    if (n > 0) {
      r->len += (size_t)n;
      r->buf[r->len] = 0;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) r->eof = true;
    else r->reset = true;
    if (r->closed_at == 0) r->closed_at = tern_clock_ms();
    if (r->io) tern_io_set(r->io, 0); /* nothing more to read */
    return;
  }
}

static inline void raw_on_io(tern_io *io, unsigned events, void *ud) {
  (void)io;
  (void)events;
  raw_recv(ud);
}

/* Connect to 127.0.0.1:port (blocking connect: loopback completes it in
 * the kernel's backlog), then go non-blocking, Nagle off. */
static inline raw *raw_open(tern_mgr *m, uint16_t port) {
  raw *r = calloc(1, sizeof(*r));
  assert_non_null(r);
  r->m = m;
  r->fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(r->fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(r->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  int one = 1;
  setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
  assert_int_equal(tern_io_start(tern_mgr_loop(m), &r->io, r->fd,
                                 TERN_IO_READ, raw_on_io, r),
                   TERN_OK);
  return r;
}

static inline void raw_free(raw *r) {
  if (r == NULL) return;
  for (int i = 0; i < r->nresp; i++) resp_clear(&r->resp[i]);
  if (r->io) tern_io_stop(r->io);
  if (r->fd >= 0) close(r->fd);
  free(r->buf);
  free(r);
}

/* Close with a RST (SO_LINGER 0) instead of a FIN. */
static inline void raw_abort(raw *r) {
  struct linger l = {1, 0};
  setsockopt(r->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  tern_io_stop(r->io);
  r->io = NULL;
  close(r->fd);
  r->fd = -1;
}

/* One loop iteration (waiting up to ms), then read what arrived. */
static inline void raw_pump(raw *r, int ms) {
  tern_loop_poll(tern_mgr_loop(r->m), ms);
  if (r->fd >= 0 && !r->eof && !r->reset && r->io != NULL &&
      tern_io_events(r->io) != 0)
    raw_recv(r);
}

/* Split what arrived into responses (again from the start). */
static inline void raw_parse(raw *r) {
  for (int i = 0; i < r->nresp; i++) resp_clear(&r->resp[i]);
  r->nresp = 0;
  r->bad = false;
  size_t at = 0;
  while (at < r->len && r->nresp < RAW_MAX_RESP) {
    bool no_body = (r->head_mask >> r->nresp) & 1u;
    http_resp *o = &r->resp[r->nresp];
    long n = resp_parse(r->buf + at, r->len - at, no_body, r->eof || r->reset, o);
    if (n == 0) break;
    if (n < 0) {
      r->bad = true;
      break;
    }
    o->start = at;
    at += (size_t)n;
    r->nresp++;
  }
  r->parsed = at;
}

/* Send every byte, running the loop while the socket is full. False if
 * the connection broke. */
static inline bool raw_send(raw *r, const void *data, size_t n) {
  const uint8_t *p = data;
  uint64_t end = tern_clock_ms() + 10000;
  while (n > 0) {
    ssize_t k = send(r->fd, p, n, MSG_NOSIGNAL);
    if (k > 0) {
      p += k;
      n -= (size_t)k;
      continue;
    }
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      assert_true(tern_clock_ms() < end);
      raw_pump(r, 5);
      continue;
    }
    return false;
  }
  return true;
}

static inline bool raw_sends(raw *r, const char *s) {
  return raw_send(r, s, strlen(s));
}

/* One byte per send, a loop iteration after each, so the server gets the
 * bytes in as many reads as the kernel allows. */
static inline bool raw_send_bytewise(raw *r, const void *data, size_t n) {
  const uint8_t *p = data;
  for (size_t i = 0; i < n; i++) {
    if (!raw_send(r, p + i, 1)) return false;
    raw_pump(r, 0);
  }
  return true;
}

static inline bool raw_closed(const raw *r) { return r->eof || r->reset; }

/* Stop reading (the server's sends back up), or read again. */
static inline void raw_pause(raw *r, bool paused) {
  if (r->io != NULL && !raw_closed(r))
    tern_io_set(r->io, paused ? 0 : TERN_IO_READ);
}


/* Run until n responses have arrived (true), or the deadline, or the
 * connection ended with fewer (false). */
static inline bool raw_wait_resp(raw *r, int n, int timeout_ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)timeout_ms;
  size_t seen = (size_t)-1;
  for (;;) {
    if (r->len != seen || raw_closed(r)) {
      seen = r->len;
      raw_parse(r);
      if (r->nresp >= n || r->bad) return r->nresp >= n;
      if (raw_closed(r)) return false;
    }
    if (tern_clock_ms() >= end) return false;
    raw_pump(r, 10);
  }
}

/* Run until the server closed the connection (EOF or reset). */
static inline bool raw_wait_closed(raw *r, int timeout_ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)timeout_ms;
  while (!raw_closed(r) && tern_clock_ms() < end) raw_pump(r, 10);
  raw_parse(r);
  return raw_closed(r);
}

/* Run until the bytes received contain needle. */
static inline bool raw_wait_bytes(raw *r, const char *needle, int timeout_ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)timeout_ms;
  size_t nl = strlen(needle);
  for (;;) {
    if (r->len >= nl && memmem(r->buf, r->len, needle, nl) != NULL) return true;
    if (raw_closed(r) || tern_clock_ms() >= end) return false;
    raw_pump(r, 10);
  }
}

/* Run for ms, reading whatever comes. */
static inline void raw_idle(raw *r, int ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  while (tern_clock_ms() < end) raw_pump(r, 5);
}

/* Assert the i-th response has this status and body (body may be NULL:
 * not checked). */
static inline void assert_resp(const raw *r, int i, int status,
                               const char *body) {
  assert_true(i < r->nresp);
  const http_resp *o = &r->resp[i];
  if (o->status != status)
    fprintf(stderr, "response %d: got head:\n%s\n", i, o->head);
  assert_int_equal(o->status, status);
  if (body != NULL) {
    if (o->body_len != strlen(body) || memcmp(o->body, body, o->body_len))
      fprintf(stderr, "response %d: body \"%s\", wanted \"%s\"\n", i,
              (const char *)o->body, body);
    assert_int_equal(o->body_len, strlen(body));
    assert_memory_equal(o->body, body, o->body_len);
  }
}

#endif
