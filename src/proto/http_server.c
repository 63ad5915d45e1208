/* http_server.c: HTTP/1.1 server connections: reading requests, limits,
 * routing, keep-alive and pipelining (RFC 9112 9.3), the head timeout.
 *
 * Per connection, one request is handled at a time. Bytes of the next
 * (pipelined) request wait in the connection's receive buffer until the
 * current response is complete, so responses leave in request order and a
 * client cannot make the server queue unbounded work.
 *
 * Zero copy: the parser's views point into the received bytes. A handler
 * that answers before returning never causes a copy; one that keeps the
 * request to answer later gets it copied once (bounded by the limits),
 * because the receive buffer moves on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/http_internal.h"

static const tern_http_opts default_opts = {
    .max_request_line = 8192,
    .max_head = 16384,
    .max_headers = 64,
    .max_body = 1024 * 1024,
    .head_timeout_ms = 10000,
    .keepalive_ms = 30000,
    .max_conns = 10000,
    .server_name = "tern",
};

static void opts_merge(tern_http_opts *dst, const tern_http_opts *src) {
  *dst = default_opts;
  if (src == NULL) return;
#define TAKE(f) if (src->f) dst->f = src->f
  TAKE(max_request_line);
  TAKE(max_head);
  TAKE(max_headers);
  TAKE(max_body);
  TAKE(head_timeout_ms);
  TAKE(keepalive_ms);
  TAKE(max_conns);
  TAKE(server_name);
#undef TAKE
}

static bool process(http_conn *hc);
static int keep_request(http_conn *hc);

/* ---- connections --------------------------------------------------- */

/* Request states kept for reuse: enough for the requests one loop
 * iteration has in flight, so a busy server does not allocate per
 * request, and few enough to be nothing next to the connections. */
#define HTTP_SPARE_REQS 32

static void req_init(http_conn *hc, tern_http_req *r) {
  memset(r, 0, sizeof(*r));
  r->hc = hc;
  tern__http_parser_init(&r->parser, TERN__HTTP_REQUEST,
                         hc->srv->o.max_request_line, hc->srv->o.max_head,
                         hc->srv->o.max_headers);
}

static void req_reset(http_conn *hc) {
  tern_http_req *r = hc->req;
  tern_buf_free(&r->chunked_body);
  free(r->copy);
  req_init(hc, r);
}

/* The connection's request state, made when its first byte arrives. */
static tern_http_req *req_get(http_conn *hc) {
  if (hc->req != NULL) return hc->req;
  tern_http_server *s = hc->srv;
  tern_http_req *r = s->spare;
  if (r != NULL) {
    s->spare = r->next_spare;
    s->nspare--;
  } else if ((r = tern_fi_malloc(TERN__HTTP_FI(s), sizeof(*r))) == NULL) {
    return NULL;
  }
  req_init(hc, r);
  hc->req = r;
  return r;
}

static void req_put(tern_http_server *s, tern_http_req *r) {
  tern_buf_free(&r->chunked_body);
  free(r->copy);
  if (s != NULL && s->nspare < HTTP_SPARE_REQS) {
    r->next_spare = s->spare;
    s->spare = r;
    s->nspare++;
  } else {
    free(r);
  }
}

/* Between requests with nothing buffered: give the state back. Never
 * inside process(), which holds a pointer to it. */
static void req_release_if_idle(http_conn *hc) {
  tern_http_req *r = hc->req;
  if (r == NULL || r->state != REQ_NONE || hc->processing) return;
  if (hc->c != NULL) {
    size_t len;
    tern_conn_rx(hc->c, &len);
    if (len != 0) return; /* part of the next request is here */
  }
  hc->req = NULL;
  req_put(hc->srv, r);
}

static void conn_list_remove(http_conn *hc) {
  tern_http_server *s = hc->srv;
  if (hc->prev) hc->prev->next = hc->next;
  else if (s->conns == hc) s->conns = hc->next;
  if (hc->next) hc->next->prev = hc->prev;
  hc->prev = hc->next = NULL;
  s->nconns--;
}

static http_conn *conn_new(tern_http_server *s, tern_conn *c) {
  http_conn *hc = tern_fi_calloc(TERN__HTTP_FI(s), 1, sizeof(*hc));
  if (hc == NULL) return NULL;
  hc->srv = s;
  hc->c = c;
  hc->next = s->conns;
  if (s->conns) s->conns->prev = hc;
  s->conns = hc;
  s->nconns++;
  /* The receive buffer must hold a whole request (head + body). */
  tern_conn_set_rx_max(c, s->o.max_head + s->o.max_body + 4096);
  tern_conn_set_idle_timeout(c, s->o.keepalive_ms);
  /* A client's FIN ends its requests, not our answers: on_conn closes
   * once what was asked is answered (RFC 9112 9.6). */
  tern_conn_set_half_close(c, true);
  return hc;
}

/* The connection is going away. A request a handler still holds becomes
 * an orphan: it stays allocated until the handler answers (the answer is
 * dropped), so the handler's pointer never dangles. */
static void conn_gone(http_conn *hc) {
  conn_list_remove(hc);
  hc->c = NULL;
  tern_http_req *r = hc->req;
  if (r != NULL && r->state == REQ_BUSY && !r->answered) {
    r->orphan = true;
    /* A streamer waiting for WRITABLE would wait forever: call it once
     * more so it meets TERN_ECLOSED and ends (hc may be freed then). */
    void (*wfn)(tern_http_req *, void *) = r->wfn;
    r->wfn = NULL;
    if (wfn) wfn(r, r->wud);
    return;
  }
  if (r != NULL) req_put(hc->srv, r);
  free(hc);
}

/* The WebSocket layer takes the connection over. */
void tern__http_conn_detach(http_conn *hc) {
  conn_list_remove(hc);
  if (hc->req != NULL) req_put(hc->srv, hc->req);
  free(hc);
}

/* ---- dates --------------------------------------------------------- */

/* RFC 9110 5.6.7 (IMF-fixdate) and 6.6.1 (Date): the fixed start of a
 * 200 response, rebuilt when the second turns. The time is checked
 * against the loop's clock (read once per loop iteration), not the system
 * clock on every response; Date may lag the true second by at most one
 * loop iteration, within what RFC 9110 6.6.1 asks ("best available
 * approximation"). */
void tern__http_head_refresh(tern_http_server *s) {
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char mons[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  uint64_t now_ms = tern_loop_now(tern_mgr_loop(s->mgr));
  if (now_ms < s->date_next) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  time_t now = ts.tv_sec;
  struct tm tm;
  gmtime_r(&now, &tm);
  s->date_next = now_ms + 1000 - (uint64_t)(ts.tv_nsec / 1000000);
  snprintf(s->date, sizeof(s->date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
           days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900,
           tm.tm_hour, tm.tm_min, tm.tm_sec);
  int n = snprintf(s->head, sizeof(s->head),
                   "HTTP/1.1 200 OK\r\nServer: %s\r\nDate: %s\r\n",
                   s->o.server_name, s->date);
  s->common_off = 15; /* after "HTTP/1.1 200 OK" */
  s->head_len = (n > 0 && (size_t)n < sizeof(s->head)) ? (size_t)n : 0;
}

/* ---- routing ------------------------------------------------------- */

static bool path_matches(const http_route *rt, tern_str path) {
  if (rt->prefix)
    return path.len >= rt->path_len && memcmp(path.ptr, rt->path, rt->path_len) == 0;
  return path.len == rt->path_len && memcmp(path.ptr, rt->path, rt->path_len) == 0;
}

static const http_route *route_find(tern_http_server *s,
                                    const tern_http_msg *m, bool *path_seen) {
  /* An absolute-form target without a path ("http://host") means "/". */
  tern_str path = m->path.len ? m->path : (tern_str){"/", 1};
  *path_seen = false;
  for (const http_route *rt = s->routes; rt; rt = rt->next) {
    if (!path_matches(rt, path)) continue;
    *path_seen = true;
    if (rt->method == NULL || tern_str_eq(m->method, rt->method) ||
        (tern_str_eq(m->method, "HEAD") && !strcmp(rt->method, "GET")))
      return rt;
  }
  return NULL;
}

static void reply_405(tern_http_req *r) {
  char allow[256] = "Allow: ";
  size_t n = strlen(allow);
  for (const http_route *rt = r->hc->srv->routes; rt; rt = rt->next) {
    if (!path_matches(rt, r->msg.path) || rt->method == NULL) continue;
    size_t m = strlen(rt->method);
    if (n + m + 5 >= sizeof(allow)) break;
    if (n > 7) allow[n++] = ',', allow[n++] = ' ';
    memcpy(allow + n, rt->method, m);
    n += m;
  }
  memcpy(allow + n, "\r\n", 3);
  tern_http_reply(r, 405, allow, "method not allowed\n", 19);
}

/* Returns true when the connection was handed to the WebSocket layer (the
 * http_conn is gone then). */
static bool dispatch(tern_http_req *r) {
  tern_http_server *s = r->hc->srv;
  bool path_seen;
  s->stats.requests++;
  const http_route *rt = route_find(s, &r->msg, &path_seen);
  r->state = REQ_BUSY;
  if (rt != NULL && rt->ws != NULL) {
    tern_conn *c = r->hc->c;
    if (tern__ws_upgrade(r, rt->ws) != TERN_OK) return false;
    tern_conn_set_half_close(c, false); /* the WebSocket layer's default */
    return true;
  } else if (rt != NULL) {
    rt->fn(r, rt->ud);
  } else if (path_seen) {
    reply_405(r);
  } else {
    tern_http_reply(r, 404, "Content-Type: text/plain\r\n", "not found\n", 10);
  }
  return false;
}

/* ---- reading a request --------------------------------------------- */

static void on_chunk(void *ud, const uint8_t *data, size_t len) {
  tern_http_req *r = ud;
  if (r->chunked_body.len + len > r->chunked_body.max) {
    r->status = 413;
    return;
  }
  if (tern_buf_append(&r->chunked_body, data, len) != TERN_OK) r->status = 500;
}

/* Body bytes: returns 1 when the whole body is here, 0 for more, -1 when
 * the request was refused. */
static int read_body(http_conn *hc, const uint8_t *p, size_t len) {
  tern_http_req *r = hc->req;
  size_t head = r->msg.head_len;
  if (!r->msg.chunked) {
    size_t need = head + (size_t)(r->msg.content_length > 0 ? r->msg.content_length : 0);
    if (len < need) return 0;
    r->body.ptr = (const char *)p + head;
    r->body.len = need - head;
    r->wire_len = need;
    return 1;
  }
  size_t at = head + r->body_scanned;
  long n = tern__chunked_decode(&r->dec, p + at, len - at, on_chunk, r);
  if (n < 0 || r->status) {
    tern__http_refuse(hc, r->status ? r->status : 400,
                      r->dec.error ? r->dec.error : "bad chunked body");
    return -1;
  }
  r->body_scanned += (size_t)n;
  if (!r->dec.done) return 0;
  r->body.ptr = (const char *)r->chunked_body.data;
  r->body.len = r->chunked_body.len;
  r->wire_len = head + r->body_scanned;
  return 1;
}

/* The head is complete: check what the parser leaves to the server. */
static int head_done(http_conn *hc, const uint8_t *p) {
  tern_http_req *r = hc->req;
  tern_http_server *s = hc->srv;
  (void)p;
  r->is_head = tern_str_eq(r->msg.method, "HEAD");
  r->close_after = !r->msg.keep_alive;
  if (r->msg.content_length > (int64_t)s->o.max_body)
    return tern__http_refuse(hc, 413, "body too large");
  if (r->msg.chunked) {
    tern__chunked_init(&r->dec);
    tern_buf_init(&r->chunked_body, s->o.max_body);
  }
  /* RFC 9110 10.1.1: answer 100-continue only when a body is expected. */
  if (r->msg.expect_continue && !r->sent_continue &&
      (r->msg.chunked || r->msg.content_length > 0)) {
    r->sent_continue = true;
    tern_send(hc->c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  }
  r->state = REQ_BODY;
  tern_conn_set_idle_timeout(hc->c, s->o.keepalive_ms);
  return TERN_OK;
}

/* Slow clients: the whole head must arrive within head_timeout_ms of its
 * first byte, however slowly it trickles (an idle timer alone would let a
 * byte every few seconds keep the connection forever). */
static int head_deadline(http_conn *hc) {
  uint64_t now = tern_loop_now(tern_mgr_loop(hc->srv->mgr));
  if (hc->req->state == REQ_NONE) {
    hc->req->state = REQ_HEAD;
    hc->head_start = now;
  }
  uint64_t used = now - hc->head_start, limit = hc->srv->o.head_timeout_ms;
  if (used >= limit) return tern__http_refuse(hc, 408, "head timeout");
  tern_conn_set_idle_timeout(hc->c, (uint32_t)(limit - used));
  return TERN_OK;
}

/* The body is arriving over several reads. The head's views from the
 * first read point into bytes that have since moved (and the header array
 * is the server's scratch, shared by all connections), so parse the head
 * again: it is complete, so this is one pass over it. */
static int reparse_head(http_conn *hc, const uint8_t *p, size_t len) {
  tern_http_req *r = hc->req;
  tern_http_server *s = hc->srv;
  tern__http_parser hp;
  tern_http_msg m;
  tern__http_parser_init(&hp, TERN__HTTP_REQUEST, s->o.max_request_line,
                         s->o.max_head, s->o.max_headers);
  long rc = tern__http_parse(&hp, p, len, &m, s->hdrs, s->o.max_headers);
  if (rc <= 0 || (size_t)rc != r->msg.head_len)
    return tern__http_refuse(hc, 500, "request head changed");
  r->msg = m;
  return TERN_OK;
}

/* Parse and dispatch as many whole requests as are buffered. Returns true
 * if the connection was upgraded (hc is freed). */
static bool process(http_conn *hc) {
  if (hc->processing) return false; /* a handler answered from inside */
  hc->processing = true;
  while (hc->c != NULL && !hc->closing &&
         (hc->req == NULL || hc->req->state != REQ_BUSY)) {
    size_t len;
    const uint8_t *p = tern_conn_rx(hc->c, &len);
    if (len == 0) break;
    tern_http_req *r = req_get(hc);
    if (r == NULL) {
      tern__http_refuse(hc, 503, "out of memory");
      break;
    }
    if (r->state == REQ_NONE) /* its first byte (head timeout, metrics) */
      hc->head_start = tern_loop_now(tern_mgr_loop(hc->srv->mgr));
    if (r->state == REQ_NONE || r->state == REQ_HEAD) {
      long rc = tern__http_parse(&r->parser, p, len, &r->msg, hc->srv->hdrs,
                                 hc->srv->o.max_headers);
      if (rc < 0) {
        tern__http_refuse(hc, r->parser.status, r->parser.error);
        break;
      }
      if (rc == 0) {
        head_deadline(hc);
        break;
      }
      if (head_done(hc, p) != TERN_OK) break;
    } else if (reparse_head(hc, p, len) != TERN_OK) {
      break;
    }
    int b = read_body(hc, p, len);
    if (b <= 0) break;
    if (dispatch(r)) return true;
    if (hc->c != NULL && r->state == REQ_BUSY && keep_request(hc) != TERN_OK)
      break;
  }
  hc->processing = false;
  req_release_if_idle(hc);
  return false;
}

/* ---- connection events --------------------------------------------- */

static void on_conn(tern_conn *c, const tern_event *ev, void *ud);

static void on_listener(tern_conn *c, const tern_event *ev, void *ud) {
  tern_http_server *s = ud;
  if (ev->type == TERN_EV_ACCEPT) {
    http_conn *hc = conn_new(s, c);
    if (hc == NULL) {
      tern_abort(c);
      return;
    }
    s->stats.conns_accepted++;
    tern_conn_set_data(c, hc);
    tern_conn_set_fn(c, on_conn);
  } else if (ev->type == TERN_EV_CLOSE && c == s->listener) {
    s->listener = NULL;
  }
}

static void on_conn(tern_conn *c, const tern_event *ev, void *ud) {
  http_conn *hc = ud;
  (void)c;
  switch (ev->type) {
    case TERN_EV_READ:
      hc->srv->stats.bytes_in += ev->read.fresh;
      if (process(hc)) return; /* upgraded */
      /* The peer is done sending: finish what is buffered, then close
       * (tern drains queued responses first). A request still being
       * handled closes the connection when it is answered. */
      if (!ev->read.eof) break;
      if ((hc->req == NULL || hc->req->state != REQ_BUSY) && hc->c) {
        tern_close(hc->c);
      } else if (hc->c) {
        /* A handler holds a request. If nothing follows it, its answer
         * says close; else the requests behind it are answered first
         * (request_done closes once nothing whole is left). */
        size_t more;
        tern_conn_rx(hc->c, &more);
        if (more == 0) hc->req->close_after = true;
        else hc->peer_eof = true;
      }
      break;
    case TERN_EV_WRITE:
      hc->srv->stats.bytes_out += ev->write.len;
      break;
    case TERN_EV_WRITABLE:
      if (hc->req != NULL && hc->req->wfn) hc->req->wfn(hc->req, hc->req->wud);
      break;
    case TERN_EV_TIMEOUT:
      if (hc->req != NULL && hc->req->state == REQ_HEAD)
        tern__http_refuse(hc, 408, "head timeout");
      break;
    case TERN_EV_CLOSE:
      conn_gone(hc);
      break;
    default:
      break;
  }
}

/* ---- request completion -------------------------------------------- */

static void rebase(tern_str *v, uintptr_t from, size_t n, const uint8_t *to) {
  uintptr_t at = (uintptr_t)v->ptr;
  if (v->ptr != NULL && at >= from && at <= from + n)
    v->ptr = (const char *)to + (at - from);
}

/* The handler returned without answering: copy the head (and a
 * Content-Length body) out of the receive buffer, point the views at the
 * copy, and let the buffer move on. A chunked body is already in its own
 * buffer. The next request is not read until this one is answered. */
static int keep_request(http_conn *hc) {
  tern_http_req *r = hc->req;
  size_t len, nh = r->msg.num_headers;
  const uint8_t *p = tern_conn_rx(hc->c, &len);
  size_t bytes = r->msg.chunked ? r->msg.head_len : r->wire_len;
  size_t hsize = nh * sizeof(tern_http_header);
  r->copy = tern_fi_malloc(TERN__HTTP_FI(hc->srv), hsize + bytes + 1);
  if (r->copy == NULL) return tern__http_refuse(hc, 503, "out of memory");
  tern_http_header *h = (tern_http_header *)(void *)r->copy;
  uint8_t *b = r->copy + hsize;
  memcpy(h, r->msg.headers, hsize);
  memcpy(b, p, bytes);
  uintptr_t from = (uintptr_t)p;
  tern_str *views[] = {&r->msg.method, &r->msg.target, &r->msg.path,
                       &r->msg.query, &r->msg.authority, &r->msg.reason};
  for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
    rebase(views[i], from, bytes, b);
  for (size_t i = 0; i < nh; i++) {
    rebase(&h[i].name, from, bytes, b);
    rebase(&h[i].value, from, bytes, b);
  }
  r->msg.headers = h;
  if (!r->msg.chunked) rebase(&r->body, from, bytes, b);
  tern_conn_consume(hc->c, r->wire_len);
  tern_conn_set_idle_timeout(hc->c, 0); /* the handler is working */
  return TERN_OK;
}

/* A response is complete: release the request, then go on with the next
 * one (pipelining) or close as the request asked. */
void tern__http_request_done(tern_http_req *r) {
  http_conn *hc = r->hc;
  tern_http_server *s = hc->srv;
  r->answered = true;
  if (r->orphan) { /* the connection went away while a handler held it */
    req_put(NULL, r); /* the server may be gone: freed, not kept */
    free(hc);
    return;
  }
  if (r->status >= 100 && r->status < 600) s->stats.status[r->status / 100]++;
  if (tern_mgr_metrics(s->mgr))
    tern__http_mx_request(s, r->msg.method, r->status, hc->head_start);
  bool close = r->close_after;
  if (r->copy == NULL && hc->c) tern_conn_consume(hc->c, r->wire_len);
  req_reset(hc);
  if (hc->c == NULL) return;
  if (close) {
    hc->closing = true;
    tern_close(hc->c);
    return;
  }
  tern_conn_set_idle_timeout(hc->c, s->o.keepalive_ms);
  process(hc); /* from inside process() this returns at once */
  if (hc->peer_eof && hc->c != NULL && !hc->processing &&
      (hc->req == NULL || hc->req->state != REQ_BUSY))
    tern_close(hc->c); /* what the half-closed client sent is answered */
  else
    req_release_if_idle(hc);
}

/* ---- server object ------------------------------------------------- */

int tern_http_server_new(tern_mgr *m, const char *url,
                         const tern_http_opts *opts, tern_http_server **out) {
  if (m == NULL || url == NULL || out == NULL) return TERN_EINVAL;
  tern_http_server *s = calloc(1, sizeof(*s));
  if (s == NULL) return TERN_ENOMEM;
  s->mgr = m;
  opts_merge(&s->o, opts);
  s->hdrs = calloc(s->o.max_headers, sizeof(*s->hdrs));
  if (s->hdrs == NULL) {
    free(s);
    return TERN_ENOMEM;
  }
  int rc = tern_listen(m, url, on_listener, s, &s->listener);
  if (rc != TERN_OK) {
    free(s->hdrs);
    free(s);
    return rc;
  }
  tern_conn_set_max_conns(s->listener, s->o.max_conns);
  *out = s;
  return TERN_OK;
}

void tern_http_server_set_opts(tern_http_server *s, const tern_http_opts *o) {
  size_t want = o && o->max_headers ? o->max_headers : default_opts.max_headers;
  if (want > s->o.max_headers) {
    /* The header scratch must grow. A request parsed into it may still be
     * in use (set_opts called from inside its handler, or a head waiting
     * for its body): move its headers along. A smaller bound keeps the
     * array. */
    size_t used = 0;
    for (http_conn *hc = s->conns; hc; hc = hc->next)
      if (hc->req && hc->req->msg.headers == s->hdrs &&
          hc->req->msg.num_headers > used)
        used = hc->req->msg.num_headers;
    tern_http_header *h = calloc(want > used ? want : used, sizeof(*h));
    if (h == NULL) return;
    if (used) memcpy(h, s->hdrs, used * sizeof(*h));
    for (http_conn *hc = s->conns; hc; hc = hc->next)
      if (hc->req && hc->req->msg.headers == s->hdrs) hc->req->msg.headers = h;
    free(s->hdrs);
    s->hdrs = h;
  }
  opts_merge(&s->o, o);
  if (s->listener) tern_conn_set_max_conns(s->listener, s->o.max_conns);
  /* Open connections take the new limits with their next request, so
   * their receive buffer must fit it (as in conn_new; a smaller bound
   * than what is buffered now is refused and the old one stays). */
  for (http_conn *hc = s->conns; hc; hc = hc->next)
    if (hc->c) tern_conn_set_rx_max(hc->c, s->o.max_head + s->o.max_body + 4096);
}

tern_conn *tern_http_server_listener(tern_http_server *s) {
  return s->listener;
}

void tern_http_server_free(tern_http_server *s) {
  if (s == NULL) return;
  if (s->listener) {
    tern_conn_set_fn(s->listener, NULL);
    tern_close(s->listener);
  }
  while (s->conns) {
    http_conn *hc = s->conns;
    tern_conn_set_fn(hc->c, NULL); /* no events into freed memory */
    tern_abort(hc->c);
    conn_gone(hc); /* a request a handler holds becomes an orphan */
  }
  tern__ws_server_free(s);
  while (s->routes) {
    http_route *rt = s->routes;
    s->routes = rt->next;
    if (rt->ws) tern__ws_route_free(rt->ws);
    free(rt->method);
    free(rt->path);
    free(rt);
  }
  while (s->spare) {
    tern_http_req *r = s->spare;
    s->spare = r->next_spare;
    free(r);
  }
  free(s->hdrs);
  free(s);
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

int tern__http_route_add(tern_http_server *s, const char *method,
                         const char *path, tern_http_handler fn, void *ud,
                         struct ws_route *ws) {
  if (s == NULL || path == NULL || path[0] != '/') return TERN_EINVAL;
  http_route *rt = calloc(1, sizeof(*rt));
  if (rt == NULL) return TERN_ENOMEM;
  rt->path = dup_str(path);
  rt->method = method ? dup_str(method) : NULL;
  if (rt->path == NULL || (method && rt->method == NULL)) {
    free(rt->path);
    free(rt->method);
    free(rt);
    return TERN_ENOMEM;
  }
  rt->path_len = strlen(path);
  if (rt->path_len > 1 && path[rt->path_len - 1] == '*') {
    rt->prefix = true;
    rt->path_len--;
  }
  rt->fn = fn;
  rt->ud = ud;
  rt->ws = ws;
  if (s->routes_tail) s->routes_tail->next = rt;
  else s->routes = rt;
  s->routes_tail = rt;
  return TERN_OK;
}

int tern_http_route(tern_http_server *s, const char *method, const char *path,
                    tern_http_handler fn, void *ud) {
  if (fn == NULL) return TERN_EINVAL;
  return tern__http_route_add(s, method, path, fn, ud, NULL);
}

/* ---- request accessors --------------------------------------------- */

const tern_http_msg *tern_http_req_msg(const tern_http_req *r) {
  return &r->msg;
}
tern_str tern_http_req_body(const tern_http_req *r) { return r->body; }
tern_conn *tern_http_req_conn(const tern_http_req *r) {
  return r->hc ? r->hc->c : NULL;
}
bool tern_http_req_is_head(const tern_http_req *r) { return r->is_head; }

void tern_http_server_stats(const tern_http_server *s, tern_http_stats *out) {
  *out = s->stats;
  out->conns_open = s->nconns;
  out->ws_open = s->nws;
}
