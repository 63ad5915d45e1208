/* ws_echo: a WebSocket echo server.
 *
 *   example_ws_echo [tcp://127.0.0.1:0]
 *
 * Every message on ws://ADDR:PORT/echo comes back with the type it had
 * (text or binary), up to 16 MiB. A plain GET / says how to connect. It
 * prints "ws_echo: listening on ws://IP:PORT/echo" once it listens (port
 * 0 picks a free one, so scripts read the port from that line), and stops
 * cleanly on SIGINT/SIGTERM ("ws_echo: stopped", exit 0).
 *
 * What it shows: tern_http_server + tern_ws_route with one protocol, per
 * session data, sending from the RECEIVE callback, the send limit (the
 * manager's tx_max must hold the largest echo; a client that sends faster
 * than it reads is closed with 1008 instead of buffering without bound),
 * and a signal-safe stop (the handler only sets a flag; the loop checks it).
 */
#define _POSIX_C_SOURCE 200809L /* sigaction under -std=c11 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tern/tern.h"

#define MAX_MESSAGE (16u << 20)

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

typedef struct session {
  unsigned long long messages, bytes;
} session;

static void echo(tern_ws *ws, tern_ws_reason reason, void *sess,
                 const tern_ws_msg *m, void *ud) {
  session *s = sess;
  (void)ud;
  if (reason == TERN_WS_CLOSED) {
    tern_log(TERN_LOG_INFO, "ws_echo", "closed (%u) after %llu messages, %llu bytes",
             m->close_code, s->messages, s->bytes);
    return;
  }
  if (reason != TERN_WS_RECEIVE) return;
  s->messages++;
  s->bytes += m->len;
  int rc = tern_ws_send(ws, m->data, m->len, m->binary ? TERN_WS_BINARY : TERN_WS_TEXT);
  if (rc == TERN_ENOSPC) tern_ws_close(ws, 1008, "sending faster than reading");
}

static void index_page(tern_http_req *r, void *ud) {
  static const char body[] = "WebSocket echo on /echo\n";
  (void)ud;
  tern_http_reply(r, 200, "Content-Type: text/plain\r\n", body, sizeof(body) - 1);
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:0";
  tern_mgr_opts mo = {0};
  mo.limits.tx_max = 2 * MAX_MESSAGE + (1u << 20); /* a whole echo fits */
  tern_mgr *m = NULL;
  tern_http_server *s = NULL;
  static const tern_ws_protocol proto = {.fn = echo,
                                         .session_size = sizeof(session),
                                         .max_message = MAX_MESSAGE};
  int rc = tern_mgr_new(&m, &mo);
  if (rc == TERN_OK) rc = tern_http_server_new(m, url, NULL, &s);
  if (rc == TERN_OK) rc = tern_ws_route(s, "/echo", &proto, 1);
  if (rc == TERN_OK) rc = tern_http_route(s, "GET", "/", index_page, NULL);
  if (rc != TERN_OK) {
    fprintf(stderr, "ws_echo: %s: %s\n", url, tern_strerror(rc));
    if (s) tern_http_server_free(s);
    if (m) tern_mgr_free(m);
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  char addr[TERN_ADDR_STRLEN];
  tern_addr_format(tern_conn_local(tern_http_server_listener(s)), true, addr,
                   sizeof(addr));
  printf("ws_echo: listening on ws://%s/echo\n", addr);
  fflush(stdout);
  while (!stop_signal) tern_loop_poll(tern_mgr_loop(m), 100);
  tern_http_server_free(s); /* open WebSockets get CLOSED */
  tern_mgr_free(m);
  printf("ws_echo: stopped\n");
  return 0;
}
