/* http_client.c: HTTP/1.1 client (RFC 9112): requests with Content-Length
 * or chunked bodies, responses streamed to the caller as they arrive
 * (Content-Length, chunked, or until close), keep-alive reuse of
 * connections per host:port, redirects (RFC 9110 15.4) for GET/HEAD up to a
 * limit, and a timeout for the whole exchange.
 *
 * An exchange owns a copy of its request and, once it arrives, of the
 * response head, so the caller's strings may go away after
 * tern_http_fetch() and the head stays valid until DONE or FAILED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_parse.h"

#define CLIENT_MAX_IDLE 8       /* idle keep-alive connections kept */
#define CLIENT_IDLE_MS 30000    /* ... for at most this long */
#define CLIENT_MAX_HEADERS 64

typedef struct xchg xchg;

typedef struct cconn {
  struct cconn *next;       /* client's list */
  tern_http_client *cl;
  tern_conn *c;
  char key[280];            /* "host:port" */
  xchg *x;                  /* exchange using it, NULL when idle */
  bool reused;
  bool closing;             /* tern_close/abort called: never reuse it */
} cconn;

enum { X_WAIT_HEAD, X_BODY, X_DONE };

struct xchg {
  xchg *next;               /* client's list */
  tern_http_client *cl;
  cconn *cc;
  tern_http_client_fn fn;
  void *ud;
  tern_http_request req;    /* strings point into own[] */
  char *own;                /* copies of method, url, headers, body */
  char *url;                /* current URL (changes on redirect) */
  tern_timer *timer;
  tern__http_parser parser;
  tern_http_msg msg;
  tern_http_header hdrs[CLIENT_MAX_HEADERS];
  uint8_t *head_copy;
  tern__chunked dec;
  uint64_t body_left;       /* Content-Length framing */
  uint8_t state;
  bool until_close, no_body, retried, got_bytes;
  uint32_t redirects;
};

struct tern_http_client {
  tern_mgr *m;
  cconn *conns;
  xchg *xs;
  size_t nconns;
};

static void cc_on_conn(tern_conn *c, const tern_event *ev, void *ud);
static int start(xchg *x);

/* ---- bookkeeping --------------------------------------------------- */

static void list_remove_cc(tern_http_client *cl, cconn *cc) {
  for (cconn **p = &cl->conns; *p; p = &(*p)->next)
    if (*p == cc) {
      *p = cc->next;
      cl->nconns--;
      return;
    }
}

static void list_remove_x(tern_http_client *cl, xchg *x) {
  for (xchg **p = &cl->xs; *p; p = &(*p)->next)
    if (*p == x) {
      *p = x->next;
      return;
    }
}

static void x_free(xchg *x) {
  list_remove_x(x->cl, x);
  if (x->timer) tern_timer_free(x->timer);
  free(x->head_copy);
  free(x->own);
  free(x->url);
  free(x);
}

/* Detach the exchange from its connection; keep the connection for reuse
 * when the response said so and its framing was complete. */
static void release_conn(xchg *x, bool reusable) {
  cconn *cc = x->cc;
  x->cc = NULL;
  if (cc == NULL) return;
  cc->x = NULL;
  size_t idle = 0;
  for (cconn *o = x->cl->conns; o; o = o->next) idle += o->x == NULL;
  if (reusable && idle <= CLIENT_MAX_IDLE) {
    tern_conn_set_idle_timeout(cc->c, CLIENT_IDLE_MS);
    return;
  }
  cc->closing = true;
  tern_close(cc->c);
}

static void finish(xchg *x, tern_http_client_ev ev, int err) {
  tern_http_result res = {.msg = x->head_copy ? &x->msg : NULL, .err = err};
  bool reusable = ev == TERN_HTTP_DONE && x->msg.keep_alive && !x->until_close;
  x->state = X_DONE;
  release_conn(x, reusable);
  x->fn(ev, &res, x->ud);
  x_free(x);
}

/* ---- request ------------------------------------------------------- */

static int send_request(xchg *x, const tern_url *u) {
  const tern_http_request *r = &x->req;
  bool body = r->body_len > 0 || !strcmp(r->method, "POST") || !strcmp(r->method, "PUT");
  bool v6 = memchr(u->host.ptr, ':', u->host.len) != NULL;
  char head[2048];
  int n = snprintf(head, sizeof(head),
                   "%s %.*s%s%.*s HTTP/1.1\r\nHost: %s%.*s%s:%u\r\n"
                   "User-Agent: tern\r\n",
                   r->method, u->path.len ? (int)u->path.len : 1,
                   u->path.len ? u->path.ptr : "/", u->query.len ? "?" : "",
                   (int)u->query.len, u->query.ptr, v6 ? "[" : "",
                   (int)u->host.len, u->host.ptr, v6 ? "]" : "", u->port);
  if (body && r->chunked)
    n += snprintf(head + n, sizeof(head) - (size_t)n, "Transfer-Encoding: chunked\r\n");
  else if (body)
    n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n",
                  r->body_len);
  if (n <= 0 || (size_t)n >= sizeof(head)) return TERN_EMSGSIZE;
  const char *extra = r->headers ? r->headers : "";
  char pre[24];
  int pn = snprintf(pre, sizeof(pre), "%zx\r\n", r->body_len);
  bool chunk = body && r->chunked;
  tern_iov iov[7] = {{head, (size_t)n}, {extra, strlen(extra)}, {"\r\n", 2},
                     {pre, chunk && r->body_len ? (size_t)pn : 0},
                     {r->body, r->body_len},
                     {"\r\n", chunk && r->body_len ? 2 : 0},
                     {"0\r\n\r\n", chunk ? 5 : 0}};
  tern_conn *c = x->cc->c;
  int rc = tern_sendv(c, iov, 7);
  if (rc == TERN_ENOSPC) { /* the caller handed the body over whole */
    size_t total = 0;
    for (int i = 0; i < 7; i++) total += iov[i].len;
    tern_conn_set_tx_max(c, tern_conn_queued(c) + total);
    rc = tern_sendv(c, iov, 7);
  }
  return rc;
}

static cconn *idle_conn(tern_http_client *cl, const char *key) {
  for (cconn *cc = cl->conns; cc; cc = cc->next)
    if (cc->x == NULL && !cc->closing && !strcmp(cc->key, key)) return cc;
  return NULL;
}

static int connect_new(xchg *x, const tern_url *u, const char *key) {
  cconn *cc = calloc(1, sizeof(*cc));
  if (cc == NULL) return TERN_ENOMEM;
  cc->cl = x->cl;
  snprintf(cc->key, sizeof(cc->key), "%s", key);
  char target[300];
  bool v6 = memchr(u->host.ptr, ':', u->host.len) != NULL;
  snprintf(target, sizeof(target), "tcp://%s%.*s%s:%u", v6 ? "[" : "",
           (int)u->host.len, u->host.ptr, v6 ? "]" : "", u->port);
  int rc = tern_connect(x->cl->m, target, cc_on_conn, cc, &cc->c);
  if (rc != TERN_OK) {
    free(cc);
    return rc;
  }
  cc->next = x->cl->conns;
  x->cl->conns = cc;
  x->cl->nconns++;
  x->cc = cc;
  cc->x = x;
  return TERN_OK;
}

static int start(xchg *x) {
  tern_url u;
  int rc = tern_url_parse(x->url, strlen(x->url), &u);
  if (rc != TERN_OK) return rc;
  if (u.tls) return TERN_ENOTSUP;
  if (!tern_str_eq(u.scheme, "http") || u.host.len == 0) return TERN_EURL;
  char key[280];
  snprintf(key, sizeof(key), "%.*s:%u", (int)u.host.len, u.host.ptr, u.port);
  x->state = X_WAIT_HEAD;
  x->got_bytes = false;
  tern__http_parser_init(&x->parser, TERN__HTTP_RESPONSE, 8192,
                         x->req.max_response_head, CLIENT_MAX_HEADERS);
  cconn *cc = idle_conn(x->cl, key);
  if (cc) {
    cc->x = x;
    cc->reused = true;
    x->cc = cc;
    tern_conn_set_idle_timeout(cc->c, 0);
  } else if ((rc = connect_new(x, &u, key)) != TERN_OK) {
    return rc;
  }
  rc = send_request(x, &u);
  if (rc != TERN_OK) {
    cconn *bad = x->cc;
    x->cc = NULL;
    bad->x = NULL;
    bad->closing = true;
    tern_abort(bad->c);
  }
  return rc;
}

/* ---- response ------------------------------------------------------ */

static void deliver_body(xchg *x, const uint8_t *p, size_t n) {
  if (n == 0) return;
  tern_http_result res = {.msg = &x->msg, .data = p, .len = n};
  x->fn(TERN_HTTP_BODY, &res, x->ud);
}

static void on_chunk(void *ud, const uint8_t *p, size_t n) {
  deliver_body(ud, p, n);
}

/* Keep the head for the rest of the exchange. */
static int copy_head(xchg *x, const uint8_t *p) {
  size_t n = x->msg.head_len;
  x->head_copy = malloc(n);
  if (x->head_copy == NULL) return TERN_ENOMEM;
  memcpy(x->head_copy, p, n);
  uintptr_t from = (uintptr_t)p;
  tern_str *v[] = {&x->msg.reason};
  for (size_t i = 0; i < 1; i++)
    if (v[i]->ptr) v[i]->ptr = (const char *)x->head_copy + ((uintptr_t)v[i]->ptr - from);
  for (size_t i = 0; i < x->msg.num_headers; i++) {
    tern_http_header *h = &x->msg.headers[i];
    h->name.ptr = (const char *)x->head_copy + ((uintptr_t)h->name.ptr - from);
    h->value.ptr = (const char *)x->head_copy + ((uintptr_t)h->value.ptr - from);
  }
  return TERN_OK;
}

/* RFC 9110 15.4: follow 301/302/303/307/308 for GET and HEAD. */
static bool redirect(xchg *x) {
  int s = x->msg.status;
  if ((s != 301 && s != 302 && s != 303 && s != 307 && s != 308) ||
      x->req.no_redirects || x->redirects >= x->req.max_redirects ||
      (strcmp(x->req.method, "GET") && strcmp(x->req.method, "HEAD")))
    return false;
  tern_str loc = tern_http_header_get(&x->msg, "Location");
  if (loc.len == 0 || loc.len > 2000) return false;
  char *next = malloc(loc.len + 300);
  if (next == NULL) return false;
  if (loc.ptr[0] == '/') { /* absolute path on the same origin */
    tern_url u;
    tern_url_parse(x->url, strlen(x->url), &u);
    snprintf(next, loc.len + 300, "http://%.*s:%u%.*s", (int)u.host.len,
             u.host.ptr, u.port, (int)loc.len, loc.ptr);
  } else {
    snprintf(next, loc.len + 300, "%.*s", (int)loc.len, loc.ptr);
  }
  /* The connection carries the rest of this response: do not reuse it. */
  x->until_close = true;
  release_conn(x, false);
  free(x->url);
  x->url = next;
  free(x->head_copy);
  x->head_copy = NULL;
  x->redirects++;
  int rc = start(x);
  if (rc != TERN_OK) finish(x, TERN_HTTP_FAILED, rc);
  return true;
}

/* Returns false when x is done with this connection: finished (and freed)
 * or redirected to another one. */
static bool head_complete(xchg *x, const uint8_t *p) {
  const tern_http_msg *m = &x->msg;
  if (copy_head(x, p) != TERN_OK) {
    finish(x, TERN_HTTP_FAILED, TERN_ENOMEM);
    return false;
  }
  tern_conn_consume(x->cc->c, m->head_len);
  if (redirect(x)) return false;
  bool head = !strcmp(x->req.method, "HEAD");
  x->no_body = head || m->status == 204 || m->status == 304;
  x->until_close = !x->no_body && !m->chunked && m->content_length < 0;
  x->body_left = m->content_length > 0 ? (uint64_t)m->content_length : 0;
  if (m->chunked) tern__chunked_init(&x->dec);
  x->state = X_BODY;
  tern_http_result res = {.msg = &x->msg};
  x->fn(TERN_HTTP_RESPONSE, &res, x->ud);
  return true;
}

/* Body bytes at p[0..len): deliver what belongs to this response. */
static void read_body(xchg *x, const uint8_t *p, size_t len) {
  tern_conn *c = x->cc->c;
  if (x->no_body || (!x->msg.chunked && !x->until_close && x->body_left == 0))
    return finish(x, TERN_HTTP_DONE, TERN_OK);
  if (x->msg.chunked) {
    long n = tern__chunked_decode(&x->dec, p, len, on_chunk, x);
    if (n < 0) return finish(x, TERN_HTTP_FAILED, TERN_EPROTO);
    tern_conn_consume(c, (size_t)n);
    if (x->dec.done) finish(x, TERN_HTTP_DONE, TERN_OK);
    return;
  }
  size_t n = len;
  if (!x->until_close && n > x->body_left) n = (size_t)x->body_left;
  deliver_body(x, p, n);
  if (x->state == X_DONE) return;
  tern_conn_consume(c, n);
  x->body_left -= x->until_close ? 0 : n;
  if (!x->until_close && x->body_left == 0) finish(x, TERN_HTTP_DONE, TERN_OK);
}

static void on_read(xchg *x) {
  size_t len;
  const uint8_t *p = tern_conn_rx(x->cc->c, &len);
  if (len) x->got_bytes = true;
  while (x->state == X_WAIT_HEAD && len > 0) {
    long rc = tern__http_parse(&x->parser, p, len, &x->msg, x->hdrs,
                               CLIENT_MAX_HEADERS);
    if (rc == 0) return;
    if (rc < 0) return finish(x, TERN_HTTP_FAILED, TERN_EPROTO);
    if (x->msg.status >= 100 && x->msg.status < 200) { /* 1xx: skip it */
      tern_conn_consume(x->cc->c, (size_t)rc);
      tern__http_parser_init(&x->parser, TERN__HTTP_RESPONSE, 8192,
                             x->req.max_response_head, CLIENT_MAX_HEADERS);
      p = tern_conn_rx(x->cc->c, &len);
      continue;
    }
    if (!head_complete(x, p) || x->state != X_BODY) return;
    p = tern_conn_rx(x->cc->c, &len);
  }
  if (x->state == X_BODY) read_body(x, p, len);
}

/* The connection ended. Close-delimited bodies end here (RFC 9112 6.3 item
 * 8); a reused connection the server had already closed gets one retry
 * when nothing of the response arrived. */
static void on_conn_closed(cconn *cc, int reason) {
  xchg *x = cc->x;
  bool reused = cc->reused;
  list_remove_cc(cc->cl, cc);
  free(cc);
  if (x == NULL) return;
  x->cc = NULL;
  if (x->state == X_BODY && x->until_close)
    return finish(x, TERN_HTTP_DONE, TERN_OK);
  if (x->state == X_WAIT_HEAD && reused && !x->got_bytes && !x->retried &&
      reason != TERN_ETIMEDOUT) {
    x->retried = true;
    int rc = start(x);
    if (rc == TERN_OK) return;
  }
  finish(x, TERN_HTTP_FAILED, reason ? reason : TERN_ECONNRESET);
}

static void cc_on_conn(tern_conn *c, const tern_event *ev, void *ud) {
  cconn *cc = ud;
  (void)c;
  if (ev->type == TERN_EV_READ) {
    if (cc->x) on_read(cc->x);
    else tern_conn_consume(c, ev->read.len); /* idle: nothing expected */
    if (ev->read.eof && cc->x == NULL) {
      cc->closing = true;
      tern_close(c);
    }
  } else if (ev->type == TERN_EV_CLOSE) {
    on_conn_closed(cc, ev->close.reason);
  }
}

static void on_timeout(tern_timer *t, void *ud) {
  xchg *x = ud;
  (void)t;
  if (x->cc) {
    cconn *cc = x->cc;
    release_conn(x, false);
    tern_abort(cc->c);
  }
  finish(x, TERN_HTTP_FAILED, TERN_ETIMEDOUT);
}

/* ---- public -------------------------------------------------------- */

int tern_http_client_new(tern_mgr *m, tern_http_client **out) {
  if (m == NULL || out == NULL) return TERN_EINVAL;
  tern_http_client *cl = calloc(1, sizeof(*cl));
  if (cl == NULL) return TERN_ENOMEM;
  cl->m = m;
  *out = cl;
  return TERN_OK;
}

size_t tern_http_client_conns(const tern_http_client *cl) { return cl->nconns; }

void tern_http_client_free(tern_http_client *cl) {
  if (cl == NULL) return;
  while (cl->xs) {
    xchg *x = cl->xs;
    release_conn(x, false);
    finish(x, TERN_HTTP_FAILED, TERN_ECANCELED);
  }
  while (cl->conns) {
    cconn *cc = cl->conns;
    cl->conns = cc->next;
    tern_conn_set_fn(cc->c, NULL);
    tern_abort(cc->c);
    free(cc);
  }
  free(cl);
}

/* Copy the request's strings into one allocation. */
static int copy_request(xchg *x, const tern_http_request *r) {
  const char *method = r->method ? r->method : "GET";
  size_t ml = strlen(method) + 1, hl = r->headers ? strlen(r->headers) + 1 : 0;
  x->own = malloc(ml + hl + r->body_len + 1);
  x->url = malloc(strlen(r->url) + 1);
  if (x->own == NULL || x->url == NULL) return TERN_ENOMEM;
  strcpy(x->url, r->url);
  x->req = *r;
  x->req.method = memcpy(x->own, method, ml);
  x->req.headers = hl ? memcpy(x->own + ml, r->headers, hl) : NULL;
  x->req.body = r->body_len ? memcpy(x->own + ml + hl, r->body, r->body_len) : NULL;
  if (!x->req.timeout_ms) x->req.timeout_ms = 30000;
  if (!x->req.max_response_head) x->req.max_response_head = 16384;
  if (r->max_redirects == 0) x->req.max_redirects = 5;
  return TERN_OK;
}

int tern_http_fetch(tern_http_client *cl, const tern_http_request *r,
                    tern_http_client_fn fn, void *ud) {
  if (cl == NULL || r == NULL || r->url == NULL || fn == NULL ||
      (r->body == NULL && r->body_len))
    return TERN_EINVAL;
  xchg *x = calloc(1, sizeof(*x));
  if (x == NULL) return TERN_ENOMEM;
  x->cl = cl;
  x->fn = fn;
  x->ud = ud;
  int rc = copy_request(x, r);
  if (rc == TERN_OK)
    rc = tern_timer_new(tern_mgr_loop(cl->m), &x->timer, on_timeout, x);
  if (rc == TERN_OK) {
    x->next = cl->xs;
    cl->xs = x;
    rc = start(x);
  }
  if (rc != TERN_OK) {
    if (x->cc) release_conn(x, false);
    if (x->timer) tern_timer_free(x->timer);
    x->timer = NULL;
    list_remove_x(cl, x);
    free(x->own);
    free(x->url);
    free(x);
    return rc;
  }
  tern_timer_start(x->timer, x->req.timeout_ms, 0);
  return TERN_OK;
}
