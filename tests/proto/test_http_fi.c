/* test_http_fi.c: the HTTP server's error paths walked by fault injection.
 *
 * "mem/alloc" fails every Nth allocation point (N = 2, 3, 5, 7) of the
 * connection core and the server (connection objects, buffers, per-
 * connection and per-request state, the copy of a request a handler keeps
 * to answer later) while clients send single, pipelined and deferred
 * requests. Whatever failed: every client's connection ends (no hang),
 * the server's count of open connections returns to 0, the core counts
 * as many closes as opens for the accepted connections (one CLOSE each),
 * some requests still got their 200, and LSan finds nothing left.
 * "conn/close(after=MS)" resets keep-alive connections mid-life: the
 * server lets go of each exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/fi.h"
#include "tern/http.h"
#include "tern/metrics.h"
#include "tern/tern.h"

#define NCLIENTS 24
#define MAX_HELD 64

static tern_http_req *held[MAX_HELD];
static int nheld;

static void h_ok(tern_http_req *r, void *ud) {
  (void)ud;
  tern_http_reply(r, 200, "Content-Type: text/plain\r\n", "ok", 2);
}

/* Answers later, from the test's loop: the server copies the request. */
static void h_later(tern_http_req *r, void *ud) {
  (void)ud;
  if (nheld < MAX_HELD) held[nheld++] = r;
  else tern_http_reply(r, 200, NULL, "ok", 2);
}

static void answer_held(void) {
  for (int i = 0; i < nheld; i++) tern_http_reply(held[i], 200, NULL, "ok", 2);
  nheld = 0;
}

typedef struct client {
  int fd;
  bool done;
  size_t got;
  char buf[2048];
} client;

static int open_client(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

static int count_200(const char *s) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, "HTTP/1.1 200 ")) != NULL; p++) n++;
  return n;
}

static int64_t metric(tern_metrics *reg, const char *name, const char *labels) {
  tern_metric *m = strstr(name, "active") ? tern_metrics_gauge(reg, name, "", labels)
                                          : tern_metrics_counter(reg, name, "", labels);
  assert_non_null(m);
  return tern_metric_value(m);
}

/* One round: NCLIENTS connections, each with a single, a pipelined or a
 * deferred request; returns how many 200s came back. */
static int round_with(const char *spec, int *fired) {
  tern_metrics *reg;
  tern_mgr *m;
  tern_http_server *s;
  tern_fi *fi;
  assert_int_equal(tern_metrics_new(&reg), TERN_OK);
  assert_int_equal(tern_mgr_new(&m, NULL), TERN_OK);
  assert_int_equal(tern_mgr_set_metrics(m, reg), TERN_OK);
  assert_int_equal(tern_http_server_new(m, "tcp://127.0.0.1:0", NULL, &s), TERN_OK);
  assert_int_equal(tern_http_route(s, "GET", "/ok", h_ok, NULL), TERN_OK);
  assert_int_equal(tern_http_route(s, "POST", "/later", h_later, NULL), TERN_OK);
  uint16_t port = tern_conn_local(tern_http_server_listener(s))->port;
  assert_int_equal(tern_fi_new(spec, &fi), TERN_OK);
  tern_mgr_set_fi(m, fi); /* from here on: the listener exists */
  client c[NCLIENTS];
  memset(c, 0, sizeof c);
  for (int i = 0; i < NCLIENTS; i++) {
    c[i].fd = open_client(port);
    const char *req;
    switch (i % 3) {
      case 0:
        req = "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        break;
      case 1: /* pipelined */
        req = "GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
              "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        break;
      default: /* deferred, with a body */
        req = "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
              "Connection: close\r\n\r\nhello";
        break;
    }
    assert_int_equal(send(c[i].fd, req, strlen(req), 0), (ssize_t)strlen(req));
  }
  uint64_t end = tern_clock_ms() + 5000;
  int open = NCLIENTS;
  while (open > 0 && tern_clock_ms() < end) {
    tern_loop_poll(tern_mgr_loop(m), 5);
    answer_held();
    for (int i = 0; i < NCLIENTS; i++) {
      if (c[i].done) continue;
      ssize_t k = recv(c[i].fd, c[i].buf + c[i].got, sizeof c[i].buf - 1 - c[i].got, MSG_DONTWAIT);
      if (k > 0) {
        c[i].got += (size_t)k;
        c[i].buf[c[i].got] = 0;
      } else if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        c[i].done = true; /* closed (FIN or reset) */
        open--;
      }
    }
  }
  assert_int_equal(open, 0); /* nobody left hanging */
  for (int i = 0; i < 20; i++) tern_loop_poll(tern_mgr_loop(m), 5); /* the closes */
  int oks = 0;
  for (int i = 0; i < NCLIENTS; i++) {
    oks += count_200(c[i].buf);
    close(c[i].fd);
  }
  tern_http_stats st;
  tern_http_server_stats(s, &st);
  assert_int_equal(st.conns_open, 0);
  const char *acc = "kind=\"tcp_accepted\",class=\"user\"";
  assert_int_equal(metric(reg, "tern_connections_opened_total", acc),
                   metric(reg, "tern_connections_closed_total", acc));
  assert_int_equal(metric(reg, "tern_connections_active", acc), 0);
  *fired = (int)tern_fi_fired(fi, "mem/alloc") + (int)tern_fi_fired(fi, "conn/close");
  tern_http_server_free(s);
  tern_mgr_free(m);
  tern_fi_free(fi);
  tern_metrics_free(reg);
  return oks;
}

static void test_alloc_every_nth(void **state) {
  (void)state;
  static const char *specs[] = {"mem/alloc(.X)", "mem/alloc(..X)", "mem/alloc(....X)",
                                "mem/alloc(......X)"};
  int total_ok = 0;
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    int fired = 0;
    int ok = round_with(specs[i], &fired);
    assert_true(fired > 0);
    total_ok += ok;
  }
  assert_true(total_ok > 0); /* not everything failed */
  int fired = 0;
  /* no faults: all 40 answers (8 single + 8 x 3 pipelined + 8 deferred) */
  assert_int_equal(round_with("mem/alloc(0%)", &fired), NCLIENTS / 3 * 5);
  assert_int_equal(fired, 0);
}

static void test_timed_close(void **state) {
  (void)state;
  int fired = 0;
  /* every connection is reset 1 ms after it is accepted: some answers may
   * go first, but each connection ends once */
  round_with("conn/close(after=1)", &fired);
  assert_true(fired >= NCLIENTS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alloc_every_nth),
      cmocka_unit_test(test_timed_close),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
