/* ternd: the tern device daemon.
 *
 * Today (foundation): a TCP echo service and a one-line status page. The
 * HTTP/WebSocket dashboard, the built-in stack and the control nodes come
 * with the later issues (see README.md).
 *
 *   ternd [--http ADDR] [--echo ADDR] [--idle MS] [-v]
 *     --http ADDR   status listener (default 127.0.0.1:8080): answers any
 *                   request with one status line, then closes
 *     --echo ADDR   TCP echo (default 127.0.0.1:7007)
 *     --idle MS     close connections idle this long (default 60000)
 *     -v            verbose logging (twice: debug)
 * SIGINT/SIGTERM stop it cleanly (every connection closed, memory freed).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"

typedef struct ternd {
  tern_mgr *mgr;
  uint64_t started_ms;
  uint64_t accepted, bytes_in, bytes_out;
  tern_timer *sigcheck;
} ternd;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static void count_io(ternd *d, const tern_event *ev) {
  if (ev->type == TERN_EV_ACCEPT) d->accepted++;
  if (ev->type == TERN_EV_READ) d->bytes_in += ev->read.fresh;
  if (ev->type == TERN_EV_WRITE) d->bytes_out += ev->write.len;
}

static void echo_fn(tern_conn *c, const tern_event *ev, void *ud) {
  count_io(ud, ev);
  if (ev->type != TERN_EV_READ || ev->read.len == 0) return;
  /* Echo only what fits in the send queue; the rest waits in the receive
   * buffer until WRITABLE, so a peer that does not read cannot grow us. */
  size_t room = 256 * 1024 - tern_conn_queued(c);
  size_t n = ev->read.len < room ? ev->read.len : room;
  if (n > 0 && tern_send(c, ev->read.data, n) == TERN_OK)
    tern_conn_consume(c, n);
  if (n < ev->read.len) tern_conn_want_writable(c);
}

static void echo_writable(tern_conn *c, const tern_event *ev, void *ud) {
  if (ev->type == TERN_EV_WRITABLE) {
    size_t len;
    const uint8_t *p = tern_conn_rx(c, &len);
    tern_event rd = {.type = TERN_EV_READ};
    rd.read.data = p;
    rd.read.len = len;
    echo_fn(c, &rd, ud);
    return;
  }
  echo_fn(c, ev, ud);
}

static void status_fn(tern_conn *c, const tern_event *ev, void *ud) {
  ternd *d = ud;
  count_io(d, ev);
  if (ev->type != TERN_EV_READ) return;
  /* Wait for the end of a request head (or EOF), whatever it is. */
  if (!ev->read.eof && (ev->read.len < 4 ||
      memcmp(ev->read.data + ev->read.len - 4, "\r\n\r\n", 4) != 0)) {
    if (ev->read.len >= 8192) tern_abort(c);
    return;
  }
  char body[256], head[128];
  uint64_t up = (tern_clock_ms() - d->started_ms) / 1000;
  int bn = snprintf(body, sizeof(body),
                    "ternd %s up %llus conns %zu accepted %llu in %llu out %llu\n",
                    TERN_VERSION_STRING, (unsigned long long)up,
                    tern_mgr_count(d->mgr), (unsigned long long)d->accepted,
                    (unsigned long long)d->bytes_in,
                    (unsigned long long)d->bytes_out);
  int hn = snprintf(head, sizeof(head),
                    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                    "Content-Length: %d\r\nConnection: close\r\n\r\n", bn);
  tern_conn_consume(c, ev->read.len);
  tern_send(c, head, (size_t)hn);
  tern_send(c, body, (size_t)bn);
  tern_close(c);
}

static void sigcheck_fn(tern_timer *t, void *ud) {
  ternd *d = ud;
  (void)t;
  if (stop_signal) {
    tern_log(TERN_LOG_INFO, "ternd", "signal %d: stopping", (int)stop_signal);
    tern_mgr_stop(d->mgr);
  }
}

static void usage(void) {
  fprintf(stderr, "usage: ternd [--http ADDR] [--echo ADDR] [--idle MS] [-v]\n");
}

static int listen_on(ternd *d, const char *addr, tern_conn_fn fn,
                     const char *what) {
  char url[300];
  snprintf(url, sizeof(url), "tcp://%s", addr);
  tern_conn *l;
  int rc = tern_listen(d->mgr, url, fn, d, &l);
  if (rc != TERN_OK) {
    fprintf(stderr, "ternd: cannot listen on %s (%s): %s\n", addr, what,
            tern_strerror(rc));
    return rc;
  }
  char buf[TERN_ADDR_STRLEN];
  tern_addr_format(tern_conn_local(l), true, buf, sizeof(buf));
  printf("ternd: %s on %s\n", what, buf);
  return TERN_OK;
}

int main(int argc, char **argv) {
  const char *http = "127.0.0.1:8080", *echo = "127.0.0.1:7007";
  long idle = 60000;
  int verbose = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--http") && i + 1 < argc) http = argv[++i];
    else if (!strcmp(argv[i], "--echo") && i + 1 < argc) echo = argv[++i];
    else if (!strcmp(argv[i], "--idle") && i + 1 < argc) idle = atol(argv[++i]);
    else if (!strcmp(argv[i], "-v")) verbose++;
    else {
      usage();
      return 2;
    }
  }
  tern_log_set_level(verbose > 1 ? TERN_LOG_DEBUG
                     : verbose ? TERN_LOG_INFO : TERN_LOG_WARN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  ternd d = {.started_ms = tern_clock_ms()};
  tern_mgr_opts opts = {.limits = {.idle_ms = (uint32_t)idle}};
  int rc = tern_mgr_new(&d.mgr, &opts);
  if (rc != TERN_OK) {
    fprintf(stderr, "ternd: %s\n", tern_strerror(rc));
    return 1;
  }
  if (listen_on(&d, http, status_fn, "status") != TERN_OK ||
      listen_on(&d, echo, echo_writable, "echo") != TERN_OK) {
    tern_mgr_free(d.mgr);
    return 1;
  }
  tern_timer_new(tern_mgr_loop(d.mgr), &d.sigcheck, sigcheck_fn, &d);
  tern_timer_start(d.sigcheck, 100, 100);
  rc = tern_mgr_run(d.mgr);
  tern_timer_free(d.sigcheck);
  tern_mgr_free(d.mgr);
  printf("ternd: stopped\n");
  return rc == TERN_OK ? 0 : 1;
}
