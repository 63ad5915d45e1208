/* http_reply.c: writing HTTP/1.1 responses (RFC 9112 section 4 and 6,
 * RFC 9110 section 15): whole replies, streaming with Content-Length,
 * chunked or close-delimited framing, and refusals.
 *
 * A response head is built in a stack buffer; a small response (head and
 * body up to 4 KiB) goes out in one tern_send, so one request costs one
 * write system call on the fast path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_internal.h"

#define SMALL_RESPONSE 4096

const char *tern__http_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

/* A small appender that never overflows: on overflow it marks the buffer
 * as failed and the caller falls back to the heap. */
typedef struct wbuf {
  char *p;
  size_t len, cap;
  bool overflow;
} wbuf;

static void put(wbuf *w, const char *s, size_t n) {
  if (w->len + n > w->cap) {
    w->overflow = true;
    return;
  }
  memcpy(w->p + w->len, s, n);
  w->len += n;
}

static void puts_(wbuf *w, const char *s) { put(w, s, strlen(s)); }

static void put_u64(wbuf *w, uint64_t v) {
  char tmp[24];
  size_t i = sizeof(tmp);
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(w, tmp + i, sizeof(tmp) - i);
}

/* RFC 9110 6.4.1 / RFC 9112 6.3: 1xx, 204 and 304 responses have no body
 * (and 204/1xx no Content-Length). */
static bool status_has_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

/* length >= 0: Content-Length; -1: chunked; -2: close-delimited; -3: no
 * framing header at all (1xx, 204, and 304 without a known length). */
#define PUTL(w, lit) put((w), (lit), sizeof(lit) - 1)

static void build_head(tern_http_req *r, int status, const char *extra,
                       int64_t length, wbuf *w) {
  tern_http_server *s = r->hc->srv;
  tern__http_head_refresh(s);
  if (s->head_len == 0) { /* a server name too long for the cache */
    PUTL(w, "HTTP/1.1 ");
    put_u64(w, (uint64_t)status);
    PUTL(w, " ");
    puts_(w, tern__http_reason(status));
    PUTL(w, "\r\nServer: ");
    puts_(w, s->o.server_name);
    PUTL(w, "\r\nDate: ");
    puts_(w, s->date);
    PUTL(w, "\r\n");
  } else if (status == 200) {
    put(w, s->head, s->head_len);
  } else {
    PUTL(w, "HTTP/1.1 ");
    put_u64(w, (uint64_t)status);
    PUTL(w, " ");
    puts_(w, tern__http_reason(status));
    put(w, s->head + s->common_off, s->head_len - s->common_off);
  }
  if (length >= 0 && status >= 200 && status != 204) {
    PUTL(w, "Content-Length: ");
    put_u64(w, (uint64_t)length);
    PUTL(w, "\r\n");
  } else if (length == -1) {
    PUTL(w, "Transfer-Encoding: chunked\r\n");
  }
  if (r->close_after) PUTL(w, "Connection: close\r\n");
  else if (r->msg.version_minor == 0) PUTL(w, "Connection: keep-alive\r\n");
  if (extra) puts_(w, extra);
  PUTL(w, "\r\n");
}

/* Queue the whole response even past the connection's send limit: the
 * caller handed it over in one piece (stream large content instead). */
static int send_all(tern_conn *c, const tern_iov *iov, size_t n) {
  int rc = tern_sendv(c, iov, n);
  if (rc != TERN_ENOSPC) return rc;
  size_t total = tern_conn_queued(c);
  for (size_t i = 0; i < n; i++) total += iov[i].len;
  tern_conn_set_tx_max(c, total);
  return tern_sendv(c, iov, n);
}

/* Write the head (and a body) with the fewest sends. */
static int send_head_body(tern_http_req *r, int status, const char *extra,
                          int64_t length, const void *body, size_t blen) {
  char stack[SMALL_RESPONSE];
  wbuf w = {stack, 0, sizeof(stack), false};
  build_head(r, status, extra, length, &w);
  char *heap = NULL;
  if (w.overflow) { /* very long extra headers */
    size_t cap = 512 + (extra ? strlen(extra) : 0);
    heap = tern_fi_malloc(TERN__HTTP_FI(r->hc->srv), cap);
    if (heap == NULL) return TERN_ENOMEM;
    w = (wbuf){heap, 0, cap, false};
    build_head(r, status, extra, length, &w);
  }
  tern_iov iov[2] = {{w.p, w.len}, {body, blen}};
  size_t n = blen ? 2 : 1;
  if (blen && w.len + blen <= sizeof(stack) && heap == NULL) {
    memcpy(stack + w.len, body, blen); /* one send for small responses */
    iov[0].len += blen;
    n = 1;
  }
  int rc = r->hc->c ? send_all(r->hc->c, iov, n) : TERN_ECLOSED;
  free(heap);
  return rc;
}

/* For the calls that complete a request (reply, end): a request whose
 * connection is gone is released here. */
static int check_open(tern_http_req *r) {
  /* answered once: the struct is reset for the connection's next request
   * (state REQ_NONE), so "answered" alone does not catch a second answer */
  if (r == NULL || r->answered || r->state != REQ_BUSY) return TERN_EINVAL;
  if (r->orphan || r->hc->c == NULL) {
    tern__http_request_done(r); /* frees the orphan */
    return TERN_ECLOSED;
  }
  return TERN_OK;
}

int tern_http_reply(tern_http_req *r, int status, const char *extra,
                    const void *body, size_t len) {
  int rc = check_open(r);
  if (rc != TERN_OK) return rc;
  if (r->began) return TERN_EINVAL;
  int64_t framing = (int64_t)len;
  if (!status_has_body(status)) { /* RFC 9110 8.6, 15.3.5, 15.4.5 */
    len = 0;
    framing = -3;
  }
  r->status = status;
  rc = send_head_body(r, status, extra, framing, r->is_head ? NULL : body,
                      r->is_head ? 0 : len);
  tern__http_request_done(r);
  return rc;
}

/* A streamed response stays alive until tern_http_end, even when the
 * connection went away (TERN_ECLOSED): the caller always ends it. */
int tern_http_begin(tern_http_req *r, int status, const char *extra,
                    int64_t length) {
  if (r == NULL || r->answered || r->began || r->state != REQ_BUSY)
    return TERN_EINVAL;
  r->began = true;
  r->status = status;
  r->out_left = -1;
  if (r->orphan || r->hc->c == NULL) return TERN_ECLOSED;
  if (!status_has_body(status)) {
    /* 304 may carry the representation's length; 1xx/204 nothing. */
    length = status == 304 && length >= 0 ? length : -3;
  } else if (length < 0) {
    if (r->msg.version_minor >= 1) {
      r->chunked_out = true;
      length = -1;
    } else {
      r->close_after = true; /* RFC 9112 6.3 item 8: ends at close */
      length = -2;
    }
  } else if (!r->is_head) {
    r->out_left = length; /* RFC 9112 6.3: exactly this many, no more */
  }
  return send_head_body(r, status, extra, length, NULL, 0);
}

int tern_http_write(tern_http_req *r, const void *data, size_t len) {
  if (r == NULL || !r->began || r->answered) return TERN_EINVAL;
  if (r->orphan || r->hc->c == NULL) return TERN_ECLOSED;
  if (r->is_head || !status_has_body(r->status) || len == 0) return TERN_OK;
  if (r->out_left >= 0) {
    /* More than the Content-Length announced would be read by the client
     * as the start of the next response (RFC 9112 6.3): refuse it. */
    if ((uint64_t)len > (uint64_t)r->out_left) return TERN_ELIMIT;
    int rc = tern_send(r->hc->c, data, len);
    if (rc == TERN_OK) r->out_left -= (int64_t)len;
    return rc;
  }
  if (!r->chunked_out) return tern_send(r->hc->c, data, len);
  char pre[24];
  int pn = snprintf(pre, sizeof(pre), "%zx\r\n", len);
  tern_iov iov[3] = {{pre, (size_t)pn}, {data, len}, {"\r\n", 2}};
  return tern_sendv(r->hc->c, iov, 3);
}

int tern_http_end(tern_http_req *r) {
  if (r == NULL || !r->began || r->answered) return TERN_EINVAL;
  int rc = TERN_OK;
  if (!r->orphan && r->hc->c && r->chunked_out && !r->is_head) {
    tern_iov end = {"0\r\n\r\n", 5};
    rc = send_all(r->hc->c, &end, 1);
  }
  if (r->orphan || r->hc->c == NULL) {
    rc = TERN_ECLOSED;
  } else if (r->out_left > 0) {
    /* Fewer bytes than announced: the client can only see the response
     * end when the connection does (RFC 9112 8: an incomplete message). */
    r->close_after = true;
    rc = TERN_EPROTO;
  }
  tern__http_request_done(r);
  return rc;
}

void tern_http_on_writable(tern_http_req *r,
                           void (*fn)(tern_http_req *, void *), void *ud) {
  r->wfn = fn;
  r->wud = ud;
  if (fn && r->hc->c) tern_conn_want_writable(r->hc->c);
}

size_t tern_http_queued(const tern_http_req *r) {
  return r->hc->c ? tern_conn_queued(r->hc->c) : 0;
}

/* Refuse what a client sent (OpenBSD httpd's server_abort_http): a short
 * plain-text answer, then close. Stops reading further requests. */
int tern__http_refuse(http_conn *hc, int status, const char *why) {
  if (hc->c == NULL || hc->closing) return TERN_EPROTO;
  char buf[512];
  const char *reason = tern__http_reason(status);
  if (why == NULL) why = reason;
  tern__http_head_refresh(hc->srv); /* RFC 9110 6.6.1: Date on 4xx too */
  int n = snprintf(buf, sizeof(buf),
                   "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\n"
                   "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s\n",
                   status, reason, hc->srv->o.server_name, hc->srv->date,
                   strlen(why) + 1, why);
  if (n > 0 && (size_t)n < sizeof(buf)) tern_send(hc->c, buf, (size_t)n);
  hc->srv->stats.status[status / 100]++;
  if (tern_mgr_metrics(hc->srv->mgr))
    tern__http_mx_request(hc->srv, hc->req ? hc->req->msg.method : (tern_str){0},
                          status, hc->req ? hc->head_start : 0);
  hc->closing = true;
  tern_close(hc->c);
  return TERN_EPROTO;
}
