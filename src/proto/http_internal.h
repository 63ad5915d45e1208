/* http_internal.h: the HTTP server's private structures, shared by
 * http_server.c (connections, parsing, dispatch), http_reply.c
 * (responses), http_static.c (files) and ws.c (the upgrade). */
#ifndef TERN_PROTO_HTTP_INTERNAL_H
#define TERN_PROTO_HTTP_INTERNAL_H

#include "proto/http_parse.h"
#include "tern/http.h"
#include "tern/fi.h"
#include "tern/ws.h"

typedef struct http_route {
  struct http_route *next;
  char *method; /* NULL: any */
  char *path;
  size_t path_len;
  bool prefix;
  tern_http_handler fn;
  void *ud;
  struct ws_route *ws; /* set for tern_ws_route entries */
} http_route;

typedef struct http_conn http_conn;

enum { REQ_NONE, REQ_HEAD, REQ_BODY, REQ_BUSY, REQ_DONE };

struct tern_http_req {
  http_conn *hc;
  tern_http_req *next_spare; /* on the server's spare list */
  tern__http_parser parser;  /* the head being read */
  tern_http_msg msg;
  tern_str body;
  tern_buf chunked_body;  /* decoded chunked body (bounded by max_body) */
  tern__chunked dec;
  size_t wire_len;        /* head + body bytes on the wire */
  size_t body_scanned;    /* chunked: wire bytes of body decoded so far */
  uint8_t *copy;          /* async: the request's own copy of its bytes */
  int64_t out_left;        /* Content-Length streaming: body bytes still
                             owed; -1 for other framings */
  void (*wfn)(tern_http_req *, void *);
  void *wud;
  uint8_t state;
  bool is_head, began, chunked_out, close_after, sent_continue;
  bool answered;          /* response complete */
  bool orphan;            /* connection gone while the handler held it */
  int status;
};

/* An idle keep-alive connection holds only this (and its tern_conn); the
 * request state is taken from the server's spares when bytes arrive and
 * given back when the request is answered and nothing more is buffered. */
struct http_conn {
  http_conn *prev, *next; /* server's list */
  tern_http_server *srv;
  tern_conn *c;
  uint64_t head_start;
  tern_http_req *req; /* NULL when idle; one at a time (pipelining is in
                         order) */
  bool processing;
  bool closing; /* a response said Connection: close, or we refused */
  bool peer_eof; /* the client half-closed behind a request in a handler */
};

#define TERN__HTTP_MX_METHODS 8 /* GET HEAD POST PUT DELETE OPTIONS PATCH other */

struct tern_http_server {
  tern_mgr *mgr;
  tern_conn *listener;
  tern_http_opts o;
  http_route *routes, *routes_tail;
  http_conn *conns;
  size_t nconns;
  struct tern_ws *ws_list; /* established server-side WebSockets */
  size_t nws;
  tern_http_header *hdrs; /* scratch for the request being parsed */
  tern_http_req *spare;   /* request states kept for reuse */
  size_t nspare;
  /* "HTTP/1.1 200 OK\r\nServer: NAME\r\nDate: IMF-fixdate\r\n", rebuilt
   * once a second; the lines after the status line start at common_off.
   * head_len 0: the server name is too long to cache (built each time). */
  char date[64];          /* the IMF-fixdate in head */
  char head[192];
  size_t head_len, common_off;
  uint64_t date_next;     /* loop ms at which the Date goes stale */
  tern_http_stats stats;
  /* metrics (http_metrics.c): made on first use in the manager's registry */
  struct tern_metrics *mx_reg;
  struct tern_metric *mx_req[TERN__HTTP_MX_METHODS][6], *mx_dur;
};

/* http_metrics.c: one request answered (status) or refused, start_ms its
 * first byte's loop time; nothing unless the manager has a registry. */
void tern__http_mx_request(tern_http_server *s, tern_str method, int status,
                           uint64_t start_ms);

/* The server's faults (tern/fi.h: "mem/alloc" at its allocations). */
#define TERN__HTTP_FI(s) tern_mgr_fi((s)->mgr)

/* http_server.c */
int tern__http_route_add(tern_http_server *s, const char *method,
                         const char *path, tern_http_handler fn, void *ud,
                         struct ws_route *ws);
void tern__http_request_done(tern_http_req *r);
void tern__http_head_refresh(tern_http_server *s);
void tern__http_conn_detach(http_conn *hc); /* for the WebSocket upgrade */

/* http_reply.c */
const char *tern__http_reason(int status);
int tern__http_refuse(http_conn *hc, int status, const char *why);

/* ws.c: take over the connection; returns TERN_OK if the upgrade
 * response was sent (the request is done either way). */
int tern__ws_upgrade(tern_http_req *r, struct ws_route *wr);
void tern__ws_server_free(tern_http_server *s);
void tern__ws_route_free(struct ws_route *wr);

#endif
