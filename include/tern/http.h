/* tern/http.h: HTTP/1.1 server and client (RFC 9110, RFC 9112) on the
 * connection API, so it runs unchanged on any backend.
 *
 * Server: routes by method and path; a handler gets a request whose
 * fields are views into the receive buffer (no copy) and answers at once
 * (tern_http_reply) or later, or streams (tern_http_begin / write / end).
 * Keep-alive and pipelining are automatic: requests on one connection are
 * handled one at a time, in order, so responses come out in order.
 * Limits (request line, head, header count, body, head timeout) are
 * run-time settings; breaking one gets the refusal RFC 9110 names
 * (400/413/414/431/501/505) and the server goes on serving others.
 *
 * Example:
 *   static void hello(tern_http_req *r, void *ud) {
 *     tern_http_reply(r, 200, "Content-Type: text/plain\r\n", "hello", 5);
 *   }
 *   tern_http_server *s;
 *   tern_http_server_new(mgr, "tcp://127.0.0.1:8080", NULL, &s);
 *   tern_http_route(s, "GET", "/hello", hello, NULL);
 */
#ifndef TERN_HTTP_H
#define TERN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/base.h"
#include "tern/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_http_header {
  tern_str name;
  tern_str value; /* leading/trailing whitespace removed */
} tern_http_header;

/* A parsed request or response head. Every tern_str points into the
 * bytes that were parsed. */
typedef struct tern_http_msg {
  tern_str method;    /* request: "GET" ... */
  tern_str target;    /* request-target as sent */
  tern_str path;      /* target's path ("/" for "*" is not made up: "*") */
  tern_str query;     /* after '?', without it */
  tern_str authority; /* absolute-form target's host[:port], else empty */
  int status;         /* response: 100..599 */
  tern_str reason;    /* response reason phrase */
  uint8_t version_minor; /* HTTP/1.<minor>: 0 or 1 */
  tern_http_header *headers;
  size_t num_headers;
  int64_t content_length; /* -1 when absent */
  bool chunked;         /* Transfer-Encoding ends in chunked */
  bool keep_alive;      /* per version and Connection */
  bool upgrade;         /* Connection: upgrade with an Upgrade header */
  bool expect_continue; /* Expect: 100-continue */
  size_t head_len;      /* bytes of the head, including the blank line */
} tern_http_msg;

/* Case-insensitive header lookup; an empty view if absent. */
TERN_API tern_str tern_http_header_get(const tern_http_msg *m,
                                       const char *name);

/* ---- server ------------------------------------------------------ */

typedef struct tern_http_server tern_http_server;
typedef struct tern_http_req tern_http_req;

/* Server settings; zero fields take the defaults shown. */
typedef struct tern_http_opts {
  size_t max_request_line; /* 8192: longer gets 414 */
  size_t max_head;         /* 16384: request line + headers, else 431 */
  size_t max_headers;      /* 64 header fields, else 431 */
  size_t max_body;         /* 1 MiB request body, else 413 */
  uint32_t head_timeout_ms;  /* 10000: head not complete in time: dropped */
  uint32_t keepalive_ms;     /* 30000: idle keep-alive connection closed */
  uint32_t max_conns;        /* 10000 connections */
  const char *server_name;   /* "Server:" value; default "tern" */
} tern_http_opts;

/* Called once per request whose head and body have arrived. The request
 * lives until it is answered (tern_http_reply, or tern_http_end after
 * tern_http_begin) or its connection closes; the handler may return
 * before answering and answer later from any loop callback. */
typedef void (*tern_http_handler)(tern_http_req *req, void *ud);

TERN_API int tern_http_server_new(tern_mgr *m, const char *url,
                                  const tern_http_opts *opts,
                                  tern_http_server **out);
/* Close the listener and every connection of the server, then free it.
 * Requests that handlers still hold stay valid until answered (the answer
 * is dropped and returns TERN_ECLOSED). */
TERN_API void tern_http_server_free(tern_http_server *s);
TERN_API tern_conn *tern_http_server_listener(tern_http_server *s);
TERN_API void tern_http_server_set_opts(tern_http_server *s,
                                        const tern_http_opts *opts);

/* Counters of a server since it was made. */
typedef struct tern_http_stats {
  uint64_t requests;      /* requests dispatched */
  uint64_t status[6];     /* responses by class: [2] = 2xx ... [5] = 5xx */
  uint64_t conns_accepted;
  uint64_t bytes_in, bytes_out;
  size_t conns_open;      /* HTTP connections open now */
  size_t ws_open;         /* WebSocket connections open now */
} tern_http_stats;
TERN_API void tern_http_server_stats(const tern_http_server *s,
                                     tern_http_stats *out);

/* Route method (NULL: any) and path to fn. path is exact ("/hello"), or a
 * prefix when it ends in '*' ("/static/" followed by a star). First match in order of
 * registration wins; no match: 404; path matches but method does not: 405
 * with Allow. Strings are copied. */
TERN_API int tern_http_route(tern_http_server *s, const char *method,
                             const char *path, tern_http_handler fn,
                             void *ud);

/* The request. Views are valid until the request is answered. */
TERN_API const tern_http_msg *tern_http_req_msg(const tern_http_req *r);
TERN_API tern_str tern_http_req_body(const tern_http_req *r);
TERN_API tern_conn *tern_http_req_conn(const tern_http_req *r);
/* True when the request was HEAD (replies omit the body automatically). */
TERN_API bool tern_http_req_is_head(const tern_http_req *r);

/* Whole response. extra_headers: "Name: value\r\n" lines or NULL.
 * Content-Length, Date-less minimal framing and Connection are added. */
TERN_API int tern_http_reply(tern_http_req *r, int status,
                             const char *extra_headers, const void *body,
                             size_t len);
/* Streaming response: length < 0 means unknown (chunked on HTTP/1.1,
 * close-delimited on 1.0). With a length, tern_http_write refuses bytes
 * past it (TERN_ELIMIT, nothing sent), and tern_http_end before all of it
 * was written returns TERN_EPROTO and closes the connection once the
 * queue drains, since the client cannot otherwise tell where the response
 * ends. */
TERN_API int tern_http_begin(tern_http_req *r, int status,
                             const char *extra_headers, int64_t length);
TERN_API int tern_http_write(tern_http_req *r, const void *data, size_t len);
TERN_API int tern_http_end(tern_http_req *r);
/* Streaming: call fn once the connection's send queue has drained below
 * its low-water mark (backpressure for long responses). If the connection
 * closes first, fn runs once more and tern_http_write then returns
 * TERN_ECLOSED: call tern_http_end to release the request. The same holds
 * after TERN_ECLOSED from tern_http_begin. */
TERN_API void tern_http_on_writable(tern_http_req *r,
                                    void (*fn)(tern_http_req *r, void *ud),
                                    void *ud);
/* Bytes queued on the request's connection. */
TERN_API size_t tern_http_queued(const tern_http_req *r);

/* Static files under root (POSIX builds): GET/HEAD, ETag, Last-Modified,
 * If-None-Match, If-Modified-Since, single Range, MIME types by extension,
 * index.html for directories, no path traversal (".." segments, NUL and
 * symlinks out of root are refused), no listing unless list_dirs. The
 * request's path after strip_prefix is the file path. */
typedef struct tern_http_static_opts {
  const char *root;
  const char *strip_prefix; /* e.g. "/static" */
  bool list_dirs;
} tern_http_static_opts;
TERN_API int tern_http_serve_static(tern_http_req *r,
                                    const tern_http_static_opts *o);

/* ---- client ------------------------------------------------------ */

typedef struct tern_http_client tern_http_client;

typedef enum tern_http_client_ev {
  TERN_HTTP_RESPONSE, /* head arrived: msg set */
  TERN_HTTP_BODY,     /* a piece of the body: data/len */
  TERN_HTTP_DONE,     /* the whole response arrived (last event) */
  TERN_HTTP_FAILED    /* err set (last event) */
} tern_http_client_ev;

typedef struct tern_http_result {
  const tern_http_msg *msg; /* RESPONSE (and BODY/DONE: the same head) */
  const uint8_t *data;      /* BODY */
  size_t len;
  int err; /* FAILED: tern_err */
} tern_http_result;

typedef void (*tern_http_client_fn)(tern_http_client_ev ev,
                                    const tern_http_result *res, void *ud);

typedef struct tern_http_request {
  const char *method;        /* default "GET" */
  const char *url;           /* http://host[:port]/path?query */
  const char *headers;       /* extra "Name: value\r\n" lines, or NULL */
  const void *body;
  size_t body_len;
  bool chunked;              /* send the body with chunked coding */
  uint32_t timeout_ms;       /* whole exchange (default 30000) */
  uint32_t max_redirects;    /* followed for GET/HEAD (0: the default, 5) */
  bool no_redirects;         /* deliver 3xx responses as they are */
  size_t max_response_head;  /* default 16384 */
} tern_http_request;

/* A client keeps idle keep-alive connections per host:port for reuse. */
TERN_API int tern_http_client_new(tern_mgr *m, tern_http_client **out);
/* Fails pending requests (FAILED with TERN_ECANCELED), closes its
 * connections and frees it. */
TERN_API void tern_http_client_free(tern_http_client *c);
/* Start a request; fn gets RESPONSE, BODY..., then DONE or FAILED
 * (exactly one of those two, never from inside this call). The request
 * struct and its strings are copied. */
TERN_API int tern_http_fetch(tern_http_client *c, const tern_http_request *req,
                             tern_http_client_fn fn, void *ud);
/* Connections currently open (idle in the pool or busy). */
TERN_API size_t tern_http_client_conns(const tern_http_client *c);

#ifdef __cplusplus
}
#endif
#endif /* TERN_HTTP_H */
