/* tests/proto/ws_test.h: helpers shared by the WebSocket tests
 * (test_ws_server.c, test_ws_client.c).
 *
 *  - ws_run_until / ws_run_for: drive the loop until a condition or a
 *    deadline (no tight timing).
 *  - raw_ws: a raw-socket WebSocket peer on the same loop (its descriptor
 *    is watched by a tern_io, so tern_loop_poll wakes for it). It writes
 *    any bytes: frames masked or not, with any FIN/RSV/opcode bits, whole
 *    or chopped into pieces; it reads frames back and sees the TCP end
 *    (FIN or RST). A raw_ws with no socket is also a frame buffer
 *    (raw_feed + raw_parse), which the client tests' tern_listen server
 *    uses.
 *  - ws_rec: a recorder for tern_ws callbacks used by both the tern server
 *    (echo) and the tern client. It checks on every callback: session data
 *    zero-filled at ESTABLISHED, the session pointer stable and equal to
 *    tern_ws_session(), ESTABLISHED first, nothing after CLOSED, CLOSED
 *    exactly once (checked at the end by ws_rec_check).
 *  - ws_srv: a tern HTTP server with WebSocket routes for the tests.
 */
#ifndef TERN_TESTS_PROTO_WS_TEST_H
#define TERN_TESTS_PROTO_WS_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/tern.h"

/* Deadlines: generous, a condition ends the wait as soon as it holds. */
#define WS_WAIT 5000
#define WS_WAIT_LONG 30000

/* ---- loop driving ---------------------------------------------------- */

static inline int ws_run_until(tern_mgr *m, int (*cond)(void *), void *arg,
                               int timeout_ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)timeout_ms;
  while (!cond(arg) && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(m), 10);
  return cond(arg);
}

static inline void ws_run_for(tern_mgr *m, int ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  while (tern_clock_ms() < end) tern_loop_poll(tern_mgr_loop(m), 5);
}

/* ---- frame building ------------------------------------------------- */

enum {
  OP_CONT = 0x0, OP_TEXT = 0x1, OP_BIN = 0x2, OP_CLOSE = 0x8,
  OP_PING = 0x9, OP_PONG = 0xA
};
#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

/* Bytes a frame of len payload bytes takes. */
static inline size_t ws_frame_size(size_t len, bool masked) {
  return 2 + (len > 0xFFFF ? 8 : len > 125 ? 2 : 0) + (masked ? 4 : 0) + len;
}

/* Write a frame with first byte b0 (FIN|RSV|opcode, as on the wire) into
 * dst (ws_frame_size bytes); masked frames use key (4 bytes). The length
 * uses the shortest form. Returns the bytes written. */
static inline size_t ws_build_frame(uint8_t *dst, uint8_t b0, bool masked,
                                    const uint8_t key[4], const void *payload,
                                    size_t len) {
  size_t n = 0;
  uint8_t mb = masked ? 0x80 : 0;
  dst[n++] = b0;
  if (len <= 125) {
    dst[n++] = (uint8_t)(mb | len);
  } else if (len <= 0xFFFF) {
    dst[n++] = mb | 126;
    dst[n++] = (uint8_t)(len >> 8);
    dst[n++] = (uint8_t)len;
  } else {
    dst[n++] = mb | 127;
    for (int i = 7; i >= 0; i--) dst[n++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  if (masked) {
    memcpy(dst + n, key, 4);
    n += 4;
  }
  const uint8_t *p = payload;
  if (masked) {
    for (size_t i = 0; i < len; i++) dst[n + i] = p[i] ^ key[i & 3];
  } else if (len) {
    memcpy(dst + n, p, len);
  }
  return n + len;
}

/* ---- the raw peer ---------------------------------------------------- */

typedef struct raw_ws {
  int fd;
  tern_io *io;
  uint8_t *out;          /* bytes to write: out[out_off..out_len) */
  size_t out_len, out_off, out_cap;
  uint8_t *in;           /* bytes read: in[in_off..in_len) unparsed */
  size_t in_len, in_off, in_cap;
  size_t in_total;       /* bytes read since connecting */
  bool eof;              /* the peer sent FIN */
  bool reset;            /* ECONNRESET / EPIPE */
  bool paused;           /* do not read (the peer's queue grows) */
  bool mask;             /* mask frames (client side: true) */
  uint32_t key_seq;      /* varies the masking key */
} raw_ws;

static inline void raw_update_io(raw_ws *r) {
  if (r->io == NULL) return;
  unsigned ev = 0;
  if (!r->paused && !r->eof) ev |= TERN_IO_READ;
  if (r->out_off < r->out_len && !r->reset) ev |= TERN_IO_WRITE;
  tern_io_set(r->io, ev);
}

/* Write what the socket takes and read what it has. */
static inline void raw_pump(raw_ws *r) {
  if (r->fd < 0) return;
  while (r->out_off < r->out_len && !r->reset) {
    ssize_t k = send(r->fd, r->out + r->out_off, r->out_len - r->out_off,
                     MSG_NOSIGNAL);
    if (k > 0) {
      r->out_off += (size_t)k;
    } else if (k < 0 && errno == EINTR) {
      continue;
    } else {
      if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) r->reset = true;
      break;
    }
  }
  if (r->out_off == r->out_len) r->out_off = r->out_len = 0;
  while (!r->paused && !r->eof) {
    if (r->in_off > 0 && r->in_off == r->in_len) r->in_off = r->in_len = 0;
    if (r->in_cap - r->in_len < 65536) {
      if (r->in_off > r->in_cap / 2) { /* compact */
        memmove(r->in, r->in + r->in_off, r->in_len - r->in_off);
        r->in_len -= r->in_off;
        r->in_off = 0;
      } else {
        size_t cap = r->in_cap ? r->in_cap * 2 : 262144;
        r->in = realloc(r->in, cap);
        assert_non_null(r->in);
        r->in_cap = cap;
      }
      continue;
    }
    ssize_t k = recv(r->fd, r->in + r->in_len, r->in_cap - r->in_len, 0);
    if (k > 0) {
      r->in_len += (size_t)k;
      r->in_total += (size_t)k;
    } else if (k == 0) {
      r->eof = true;
    } else if (errno == EINTR) {
      continue;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        r->reset = true;
        r->eof = true; /* nothing more will come */
      }
      break;
    }
  }
  raw_update_io(r);
}

static inline void raw_io_cb(tern_io *io, unsigned events, void *ud) {
  (void)io;
  (void)events;
  raw_pump(ud);
}

static inline void raw_set_fd(raw_ws *r, tern_mgr *m, int fd, bool mask) {
  memset(r, 0, sizeof(*r));
  r->fd = fd;
  r->mask = mask;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
  assert_int_equal(tern_io_start(tern_mgr_loop(m), &r->io, fd, TERN_IO_READ,
                                 raw_io_cb, r),
                   TERN_OK);
}

/* Connect to 127.0.0.1:port (loopback: the kernel accepts at once). A
 * rcvbuf > 0 shrinks the receive buffer (set before connecting). */
static inline void raw_connect_buf(raw_ws *r, tern_mgr *m, uint16_t port,
                                   int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  raw_set_fd(r, m, fd, true);
}

static inline void raw_connect(raw_ws *r, tern_mgr *m, uint16_t port) {
  raw_connect_buf(r, m, port, 0);
}

static inline void raw_close(raw_ws *r) {
  if (r->io) tern_io_stop(r->io);
  r->io = NULL;
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
  free(r->out);
  free(r->in);
  r->out = r->in = NULL;
  r->out_len = r->out_off = r->out_cap = 0;
  r->in_len = r->in_off = r->in_cap = 0;
}

/* Close with a RST (SO_LINGER 0). */
static inline void raw_reset(raw_ws *r) {
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  setsockopt(r->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  raw_close(r);
}

static inline void raw_pause(raw_ws *r, bool on) {
  r->paused = on;
  raw_update_io(r);
  if (!on) raw_pump(r);
}

/* Room for n more bytes of output; returns where to write them. */
static inline uint8_t *raw_out_reserve(raw_ws *r, size_t n) {
  if (r->out_cap - r->out_len < n) {
    size_t cap = r->out_cap ? r->out_cap : 4096;
    while (cap - r->out_len < n) cap *= 2;
    r->out = realloc(r->out, cap);
    assert_non_null(r->out);
    r->out_cap = cap;
  }
  return r->out + r->out_len;
}

/* Queue raw bytes and write what the socket takes now. */
static inline void raw_write(raw_ws *r, const void *p, size_t n) {
  if (n) memcpy(raw_out_reserve(r, n), p, n);
  r->out_len += n;
  raw_pump(r);
}

static inline void raw_next_key(raw_ws *r, uint8_t key[4]) {
  uint32_t k = 0x9e3779b9u * ++r->key_seq;
  key[0] = (uint8_t)(k >> 24), key[1] = (uint8_t)(k >> 16);
  key[2] = (uint8_t)(k >> 8), key[3] = (uint8_t)(k | 1);
}

/* Queue one frame with first byte b0, masked as r->mask says. */
static inline void raw_frame_b0(raw_ws *r, uint8_t b0, const void *p,
                                size_t len) {
  uint8_t key[4];
  raw_next_key(r, key);
  size_t n = ws_frame_size(len, r->mask);
  uint8_t *dst = raw_out_reserve(r, n);
  assert_int_equal(ws_build_frame(dst, b0, r->mask, key, p, len), n);
  r->out_len += n;
  raw_pump(r);
}

static inline void raw_frame(raw_ws *r, bool fin, int op, const void *p,
                             size_t len) {
  raw_frame_b0(r, (uint8_t)((fin ? FIN : 0) | op), p, len);
}

static inline void raw_text(raw_ws *r, const char *s) {
  raw_frame(r, true, OP_TEXT, s, strlen(s));
}

/* A Close frame: code < 0 means no payload at all. */
static inline void raw_close_frame(raw_ws *r, int code, const void *reason,
                                   size_t rlen) {
  uint8_t p[256];
  size_t n = 0;
  if (code >= 0) {
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    n = 2;
  }
  assert_true(rlen + n <= sizeof(p));
  if (rlen) memcpy(p + n, reason, rlen);
  raw_frame(r, true, OP_CLOSE, p, n + rlen);
}

static int raw_cond_flushed(void *arg) {
  raw_ws *r = arg;
  return r->out_len == 0 || r->reset;
}

/* Run the loop until everything queued is written. */
static inline void raw_flush(tern_mgr *m, raw_ws *r) {
  assert_true(ws_run_until(m, raw_cond_flushed, r, WS_WAIT_LONG));
}

/* Write bytes in pieces of chunk, letting the loop run between them so the
 * server sees them in separate reads. */
static inline void raw_write_chopped(tern_mgr *m, raw_ws *r, const void *p,
                                     size_t n, size_t chunk) {
  const uint8_t *b = p;
  for (size_t at = 0; at < n; at += chunk) {
    size_t k = n - at < chunk ? n - at : chunk;
    raw_write(r, b + at, k);
    raw_flush(m, r);
    tern_loop_poll(tern_mgr_loop(m), 0);
    tern_loop_poll(tern_mgr_loop(m), 0);
  }
}

/* A frame as built, for chopped writes: returns a malloc'd buffer. */
static inline uint8_t *raw_build(raw_ws *r, uint8_t b0, const void *p,
                                 size_t len, size_t *n) {
  uint8_t key[4];
  raw_next_key(r, key);
  *n = ws_frame_size(len, r->mask);
  uint8_t *buf = malloc(*n);
  assert_non_null(buf);
  assert_int_equal(ws_build_frame(buf, b0, r->mask, key, p, len), *n);
  return buf;
}

/* ---- reading frames --------------------------------------------------- */

typedef struct raw_frame_in {
  uint8_t b0;
  bool fin, masked;
  int rsv; /* the three bits, as b0 & 0x70 */
  int op;
  size_t hlen, len;
  int len_form; /* 7, 16 or 64: the length encoding used */
  uint8_t *data; /* malloc'd (unmasked), NUL after len */
} raw_frame_in;

static inline void raw_frame_free(raw_frame_in *f) {
  free(f->data);
  f->data = NULL;
}

/* Take one whole frame out of the input if there is one: 1, else 0. */
static inline int raw_parse(raw_ws *r, raw_frame_in *f) {
  const uint8_t *p = r->in + r->in_off;
  size_t n = r->in_len - r->in_off;
  if (n < 2) return 0;
  memset(f, 0, sizeof(*f));
  f->b0 = p[0];
  f->fin = (p[0] & 0x80) != 0;
  f->rsv = p[0] & 0x70;
  f->op = p[0] & 0x0F;
  f->masked = (p[1] & 0x80) != 0;
  size_t h = 2;
  uint64_t len = p[1] & 0x7F;
  f->len_form = 7;
  if (len == 126) {
    if (n < 4) return 0;
    len = (uint64_t)p[2] << 8 | p[3];
    h = 4;
    f->len_form = 16;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
    h = 10;
    f->len_form = 64;
  }
  uint8_t key[4] = {0};
  if (f->masked) {
    if (n < h + 4) return 0;
    memcpy(key, p + h, 4);
    h += 4;
  }
  if (n - h < len) return 0;
  f->hlen = h;
  f->len = (size_t)len;
  f->data = malloc(f->len + 1);
  assert_non_null(f->data);
  for (size_t i = 0; i < f->len; i++) f->data[i] = p[h + i] ^ key[i & 3];
  f->data[f->len] = 0;
  r->in_off += h + f->len;
  return 1;
}

/* Append bytes to the input by hand (a raw_ws used only as a frame
 * buffer, e.g. by a tern_listen server in the client tests). */
static inline void raw_feed(raw_ws *r, const void *p, size_t n) {
  if (n == 0) return;
  if (r->in_cap - r->in_len < n) {
    size_t cap = r->in_cap ? r->in_cap : 4096;
    while (cap - r->in_len < n) cap *= 2;
    r->in = realloc(r->in, cap);
    assert_non_null(r->in);
    r->in_cap = cap;
  }
  memcpy(r->in + r->in_len, p, n);
  r->in_len += n;
  r->in_total += n;
}

typedef struct raw_wait {
  raw_ws *r;
  raw_frame_in *f;
  int got;
} raw_wait;

static int raw_cond_frame(void *arg) {
  raw_wait *w = arg;
  if (!w->got) w->got = raw_parse(w->r, w->f);
  return w->got || w->r->eof;
}

/* Wait for the next frame: 1 with *f filled (free it), 0 if the
 * connection ended first (or the deadline passed). */
static inline int raw_wait_frame_ms(tern_mgr *m, raw_ws *r, raw_frame_in *f,
                                    int ms) {
  raw_wait w = {r, f, 0};
  memset(f, 0, sizeof(*f));
  ws_run_until(m, raw_cond_frame, &w, ms);
  if (!w.got) w.got = raw_parse(r, f);
  return w.got;
}

static inline int raw_wait_frame(tern_mgr *m, raw_ws *r, raw_frame_in *f) {
  return raw_wait_frame_ms(m, r, f, WS_WAIT);
}

/* Wait for one whole data message (frames until FIN; no control frame may
 * come in between). Returns its opcode; *data is malloc'd. */
static inline int raw_recv_msg(tern_mgr *m, raw_ws *r, uint8_t **data,
                               size_t *len) {
  raw_frame_in f;
  int op = -1;
  uint8_t *buf = NULL;
  size_t n = 0;
  for (;;) {
    if (!raw_wait_frame_ms(m, r, &f, WS_WAIT_LONG))
      fail_msg("connection ended (eof %d reset %d) before a message",
               r->eof, r->reset);
    assert_int_equal(f.rsv, 0);
    assert_false(f.masked); /* servers do not mask (5.1) */
    if (op < 0) {
      if (f.op != OP_TEXT && f.op != OP_BIN)
        fail_msg("expected a data frame, got opcode %d (len %zu, code %d)",
                 f.op, f.len, f.len >= 2 ? f.data[0] << 8 | f.data[1] : -1);
      op = f.op;
    } else {
      assert_int_equal(f.op, OP_CONT);
    }
    buf = realloc(buf, n + f.len + 1);
    assert_non_null(buf);
    if (f.len) memcpy(buf + n, f.data, f.len);
    n += f.len;
    buf[n] = 0;
    bool fin = f.fin;
    raw_frame_free(&f);
    if (fin) break;
  }
  *data = buf;
  *len = n;
  return op;
}

/* Expect one message with this opcode and these bytes. */
static inline void raw_expect_msg(tern_mgr *m, raw_ws *r, int op,
                                  const void *p, size_t len) {
  uint8_t *d;
  size_t n;
  int got = raw_recv_msg(m, r, &d, &n);
  assert_int_equal(got, op);
  assert_int_equal(n, len);
  if (len) assert_memory_equal(d, p, len);
  free(d);
}

static inline void raw_expect_text(tern_mgr *m, raw_ws *r, const char *s) {
  raw_expect_msg(m, r, OP_TEXT, s, strlen(s));
}

/* eof is also set by a reset seen while reading: all input was read. */
static int raw_cond_end(void *arg) {
  raw_ws *r = arg;
  return r->eof;
}

/* After a Close from the server: no more frames, and the server closes
 * the TCP connection (FIN or, if it had unread input, RST). */
static inline void raw_expect_tcp_end(tern_mgr *m, raw_ws *r) {
  assert_true(ws_run_until(m, raw_cond_end, r, WS_WAIT));
  raw_frame_in f;
  if (raw_parse(r, &f)) {
    fail_msg("a frame (opcode %d, %zu bytes) after the server's Close", f.op,
             f.len);
  }
  assert_int_equal(r->in_len - r->in_off, 0);
}

/* The next frame is a Close with this code (code < 0: an empty payload;
 * reason NULL: any), then the TCP connection ends with nothing between. */
static inline void raw_expect_close_reason(tern_mgr *m, raw_ws *r, int code,
                                           const char *reason) {
  raw_frame_in f;
  if (!raw_wait_frame(m, r, &f))
    fail_msg("no Close frame (eof %d reset %d)", r->eof, r->reset);
  if (f.op != OP_CLOSE)
    fail_msg("expected Close %d, got opcode %d (%zu bytes)", code, f.op, f.len);
  assert_true(f.fin);
  assert_int_equal(f.rsv, 0);
  assert_false(f.masked);
  if (code < 0) {
    assert_int_equal(f.len, 0);
  } else {
    assert_true(f.len >= 2);
    int got = f.data[0] << 8 | f.data[1];
    if (got != code) fail_msg("Close code %d, expected %d", got, code);
    /* The reason is UTF-8 (7.1.6). */
    assert_true(tern_utf8_valid(f.data + 2, f.len - 2));
    if (reason) {
      assert_int_equal(f.len - 2, strlen(reason));
      assert_memory_equal(f.data + 2, reason, f.len - 2);
    }
  }
  raw_frame_free(&f);
  raw_expect_tcp_end(m, r);
}

static inline void raw_expect_close(tern_mgr *m, raw_ws *r, int code) {
  raw_expect_close_reason(m, r, code, NULL);
}

/* ---- HTTP over the raw peer ------------------------------------------ */

#define WS_TEST_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_TEST_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

typedef struct raw_head_wait {
  raw_ws *r;
  size_t head; /* bytes of head incl. the blank line, once complete */
  bool body;   /* also wait for Content-Length bytes of body */
  size_t total;
} raw_head_wait;

static int raw_cond_head(void *arg) {
  raw_head_wait *w = arg;
  raw_ws *r = w->r;
  const char *p = (const char *)r->in + r->in_off;
  size_t n = r->in_len - r->in_off;
  if (w->head == 0) {
    for (size_t i = 3; i < n; i++)
      if (p[i - 3] == '\r' && p[i - 2] == '\n' && p[i - 1] == '\r' && p[i] == '\n') {
        w->head = i + 1;
        break;
      }
    if (w->head == 0) return r->eof;
  }
  w->total = w->head;
  if (w->body) {
    /* Content-Length, case-insensitively. */
    for (size_t i = 0; i + 16 < w->head; i++)
      if (strncasecmp(p + i, "\r\nContent-Length:", 17) == 0) {
        w->total += (size_t)strtoul(p + i + 17, NULL, 10);
        break;
      }
    return n >= w->total || r->eof;
  }
  return 1;
}

/* Send an HTTP request and wait for the response head (and body if
 * body). The response is copied into resp (NUL-terminated) and taken out
 * of the input; bytes after it stay. Returns the status code. */
static inline int raw_http(tern_mgr *m, raw_ws *r, const char *request,
                           bool body, char *resp, size_t size) {
  raw_write(r, request, strlen(request));
  raw_head_wait w = {r, 0, body, 0};
  ws_run_until(m, raw_cond_head, &w, WS_WAIT);
  if (w.head == 0) fail_msg("no HTTP response head");
  size_t n = w.total <= r->in_len - r->in_off ? w.total : r->in_len - r->in_off;
  assert_true(n < size);
  memcpy(resp, r->in + r->in_off, n);
  resp[n] = 0;
  r->in_off += n;
  int status = 0;
  assert_int_equal(sscanf(resp, "HTTP/1.1 %d", &status), 1);
  return status;
}

/* Case-insensitive search of a header line "Name: value" in a response. */
static inline bool http_has_header(const char *resp, const char *line) {
  size_t n = strlen(line);
  for (const char *p = resp; (p = strstr(p, "\r\n")) != NULL; p += 2)
    if (strncasecmp(p + 2, line, n) == 0 && (p[2 + n] == '\r')) return true;
  return false;
}

/* The upgrade request for path with extra header lines. */
static inline int raw_handshake(tern_mgr *m, raw_ws *r, const char *path,
                                const char *extra, char *resp, size_t size) {
  char req[1024];
  snprintf(req, sizeof(req),
           "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_TEST_KEY "\r\n"
           "Sec-WebSocket-Version: 13\r\n%s\r\n",
           path, extra ? extra : "");
  return raw_http(m, r, req, false, resp, size);
}

/* Connect and upgrade; asserts 101 with the right accept key. */
static inline void raw_open(raw_ws *r, tern_mgr *m, uint16_t port,
                            const char *path) {
  char resp[2048];
  raw_connect(r, m, port);
  int st = raw_handshake(m, r, path, NULL, resp, sizeof(resp));
  if (st != 101) fail_msg("handshake on %s: %s", path, resp);
  assert_true(http_has_header(resp, "Sec-WebSocket-Accept: " WS_TEST_ACCEPT));
  assert_true(http_has_header(resp, "Upgrade: websocket"));
}

/* ---- the tern_ws recorder ------------------------------------------- */

#define WS_MAGIC 0x77737373u
#define WS_SESSION_PAD 200

/* The session data the tests ask for (session_size = sizeof(ws_sess)). */
typedef struct ws_sess {
  uint32_t magic;
  int idx;
  uint8_t pad[WS_SESSION_PAD]; /* must be zero at ESTABLISHED too */
} ws_sess;

typedef struct ws_ent {
  tern_ws *ws;
  void *sess;
  int established, closed, after_closed, bad_order;
  bool no_handshake; /* client: CLOSED came without ESTABLISHED */
  int receives, pongs, writeables;
  uint16_t close_code;
  char close_reason[128];
  size_t close_reason_len;
  char proto[32];
  size_t bytes;
  /* last message (whole, or the pieces so far in fragments mode) */
  uint8_t *last;
  size_t last_len;
  bool last_binary;
  /* fragments mode */
  int pieces, firsts, lasts, bad_flags, msgs_done;
  bool in_msg;
  /* sending */
  int send_errors;
  size_t queued_seen;
  uint8_t pong_data[125];
  size_t pong_len;
} ws_ent;

typedef struct ws_rec ws_rec;
/* A test's hook runs first on every callback; returning true skips the
 * default action (the echo). */
typedef bool (*ws_hook_fn)(ws_rec *rec, ws_ent *e, tern_ws *ws,
                           tern_ws_reason reason, const tern_ws_msg *msg);

struct ws_rec {
  ws_ent *ents;
  int n, cap;
  int established, closed, receives;
  bool echo;          /* send every message back with its type */
  ws_hook_fn hook;
  void *arg;          /* for the hook */
  tern_http_server *srv;
};

static inline void ws_rec_init(ws_rec *rec, bool echo) {
  memset(rec, 0, sizeof(*rec));
  rec->cap = 4096;
  rec->ents = calloc((size_t)rec->cap, sizeof(ws_ent));
  assert_non_null(rec->ents);
  rec->echo = echo;
}

static inline void ws_rec_free(ws_rec *rec) {
  for (int i = 0; i < rec->n; i++) free(rec->ents[i].last);
  free(rec->ents);
  rec->ents = NULL;
}

/* Every connection: ESTABLISHED once, CLOSED once, nothing after it. */
static inline void ws_rec_check(const ws_rec *rec) {
  for (int i = 0; i < rec->n; i++) {
    const ws_ent *e = &rec->ents[i];
    int est = e->no_handshake ? 0 : 1;
    if (e->established != est || e->closed != 1 || e->after_closed ||
        e->bad_order)
      fail_msg("ws %d: established %d closed %d after_closed %d bad_order %d",
               i, e->established, e->closed, e->after_closed, e->bad_order);
  }
}

static inline void ws_ent_keep(ws_ent *e, const tern_ws_msg *m, bool append) {
  size_t base = append ? e->last_len : 0;
  e->last = realloc(e->last, base + m->len + 1);
  assert_non_null(e->last);
  if (m->len) memcpy(e->last + base, m->data, m->len);
  e->last_len = base + m->len;
  e->last[e->last_len] = 0;
  e->last_binary = m->binary;
}

static inline void ws_rec_fn(tern_ws *ws, tern_ws_reason reason, void *session,
                             const tern_ws_msg *m, void *ud) {
  ws_rec *rec = ud;
  ws_sess *s = session;
  ws_ent *e;
  assert_non_null(session);
  assert_ptr_equal(tern_ws_session(ws), session);
  if (s->magic != WS_MAGIC) {
    /* The first callback of a connection: ESTABLISHED, or CLOSED for a
     * client whose handshake failed. Session data zero-filled. */
    for (size_t i = 0; i < sizeof(*s); i++)
      if (((const uint8_t *)session)[i] != 0)
        fail_msg("session data not zero at byte %zu", i);
    assert_true(rec->n < rec->cap);
    e = &rec->ents[rec->n];
    s->magic = WS_MAGIC;
    s->idx = rec->n++;
    e->ws = ws;
    e->sess = session;
    if (reason != TERN_WS_ESTABLISHED && reason != TERN_WS_CLOSED)
      e->bad_order++;
    if (reason == TERN_WS_CLOSED) e->no_handshake = true; /* client */
  } else {
    assert_true(s->idx >= 0 && s->idx < rec->n);
    e = &rec->ents[s->idx];
    assert_ptr_equal(e->ws, ws);
    assert_ptr_equal(e->sess, session);
    if (reason == TERN_WS_ESTABLISHED) e->bad_order++;
  }
  if (e->closed) e->after_closed++;
  switch (reason) {
    case TERN_WS_ESTABLISHED: {
      e->established++;
      rec->established++;
      const char *pn = tern_ws_protocol_name(ws);
      assert_non_null(pn);
      snprintf(e->proto, sizeof(e->proto), "%s", pn);
      assert_non_null(tern_ws_conn(ws));
      break;
    }
    case TERN_WS_RECEIVE:
      assert_non_null(m);
      assert_true(m->data != NULL || m->len == 0);
      e->receives++;
      rec->receives++;
      e->bytes += m->len;
      if (m->first && m->last) {
        ws_ent_keep(e, m, false);
      } else {
        /* fragments mode: first on the first piece only, last on the
         * last only */
        e->pieces++;
        if (m->first) {
          if (e->in_msg) e->bad_flags++;
          e->firsts++;
          e->in_msg = true;
          ws_ent_keep(e, m, false);
        } else {
          if (!e->in_msg) e->bad_flags++;
          ws_ent_keep(e, m, true);
        }
        if (m->last) {
          e->lasts++;
          e->in_msg = false;
        }
      }
      if (m->last) e->msgs_done++;
      break;
    case TERN_WS_PONG:
      assert_non_null(m);
      assert_true(m->len <= 125);
      e->pongs++;
      e->pong_len = m->len;
      if (m->len) memcpy(e->pong_data, m->data, m->len);
      break;
    case TERN_WS_WRITEABLE:
      e->writeables++;
      e->queued_seen = tern_ws_queued(ws);
      break;
    case TERN_WS_CLOSED:
      assert_non_null(m);
      e->closed++;
      rec->closed++;
      e->close_code = m->close_code;
      e->close_reason_len = 0;
      if (m->data && m->len < sizeof(e->close_reason)) {
        memcpy(e->close_reason, m->data, m->len);
        e->close_reason_len = m->len;
      }
      break;
  }
  if (rec->hook && rec->hook(rec, e, ws, reason, m)) return;
  if (reason == TERN_WS_RECEIVE && rec->echo && m->first && m->last) {
    int rc = tern_ws_send(ws, m->data, m->len,
                          m->binary ? TERN_WS_BINARY : TERN_WS_TEXT);
    if (rc != TERN_OK) e->send_errors++;
  }
}

/* ---- the tern server ------------------------------------------------ */

/* Routes: /echo (default max_message, 1 MiB), /big (32 MiB), /frag
 * (fragments on), /proto ("tern-x", "tern-y"), /named (only "tern-x"),
 * /ka (ping_ms 200, pong_timeout_ms 200), plain GET /plain. */
typedef struct ws_srv {
  tern_mgr *m;
  tern_http_server *s;
  uint16_t port;
  ws_rec rec;
  char url[64]; /* ws://127.0.0.1:PORT */
} ws_srv;

static inline void ws_plain(tern_http_req *r, void *ud) {
  (void)ud;
  tern_http_reply(r, 200, "Content-Type: text/plain\r\n", "plain\n", 6);
}

static inline void ws_srv_start(ws_srv *h) {
  memset(h, 0, sizeof(*h));
  ws_rec_init(&h->rec, true);
  tern_mgr_opts o = {0};
  o.limits.tx_max = 64u << 20; /* 16 MiB echoes fit in the send queue */
  assert_int_equal(tern_mgr_new(&h->m, &o), TERN_OK);
  assert_int_equal(tern_http_server_new(h->m, "tcp://127.0.0.1:0", NULL, &h->s),
                   TERN_OK);
  h->rec.srv = h->s;
  tern_ws_protocol base = {.fn = ws_rec_fn, .ud = &h->rec,
                           .session_size = sizeof(ws_sess)};
  tern_ws_protocol p = base;
  assert_int_equal(tern_ws_route(h->s, "/echo", &p, 1), TERN_OK);
  p.max_message = 32u << 20;
  assert_int_equal(tern_ws_route(h->s, "/big", &p, 1), TERN_OK);
  p = base;
  p.fragments = true;
  p.max_message = 32u << 20;
  assert_int_equal(tern_ws_route(h->s, "/frag", &p, 1), TERN_OK);
  tern_ws_protocol two[2] = {base, base};
  two[0].name = "tern-x";
  two[1].name = "tern-y";
  assert_int_equal(tern_ws_route(h->s, "/proto", two, 2), TERN_OK);
  assert_int_equal(tern_ws_route(h->s, "/named", two, 1), TERN_OK);
  p = base;
  p.ping_ms = 200;
  p.pong_timeout_ms = 200;
  assert_int_equal(tern_ws_route(h->s, "/ka", &p, 1), TERN_OK);
  assert_int_equal(tern_http_route(h->s, "GET", "/plain", ws_plain, NULL),
                   TERN_OK);
  h->port = tern_conn_local(tern_http_server_listener(h->s))->port;
  assert_true(h->port != 0);
  snprintf(h->url, sizeof(h->url), "ws://127.0.0.1:%u", h->port);
}

/* Free the server (open WebSockets get CLOSED now) and the manager, then
 * check every connection's callbacks. */
static inline void ws_srv_stop(ws_srv *h) {
  tern_http_server_free(h->s);
  h->s = NULL;
  tern_mgr_free(h->m);
  h->m = NULL;
  ws_rec_check(&h->rec);
  ws_rec_free(&h->rec);
}

typedef struct ws_count_wait {
  int *counter;
  int want;
} ws_count_wait;

static int ws_cond_count(void *arg) {
  ws_count_wait *w = arg;
  return *w->counter >= w->want;
}

/* Run until *counter >= want. */
static inline int ws_wait_count(tern_mgr *m, int *counter, int want, int ms) {
  ws_count_wait w = {counter, want};
  return ws_run_until(m, ws_cond_count, &w, ms);
}

/* A deterministic byte pattern (binary) or ASCII text of n bytes. */
static inline uint8_t *ws_pattern(size_t n, bool text, unsigned seed) {
  uint8_t *p = malloc(n + 1);
  assert_non_null(p);
  uint32_t x = 2463534242u ^ seed;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    p[i] = text ? (uint8_t)(' ' + x % 95) : (uint8_t)x;
  }
  p[n] = 0;
  return p;
}

#endif
