/* tcp_echo: the smallest complete tern program: a TCP echo server.
 *
 *   example_tcp_echo [tcp://127.0.0.1:7000]
 *
 * What it shows: one manager, one listener, READ handled by sending the
 * bytes back and consuming them, backpressure respected (bytes that do not
 * fit in the send queue stay in the receive buffer until WRITABLE).
 */
#include <stdio.h>

#include "tern/tern.h"

static void echo(tern_conn *c, const tern_event *ev, void *ud) {
  (void)ud;
  if (ev->type != TERN_EV_READ && ev->type != TERN_EV_WRITABLE) return;
  size_t len;
  const uint8_t *data = tern_conn_rx(c, &len);
  if (len == 0) return;
  if (tern_send(c, data, len) == TERN_OK) tern_conn_consume(c, len);
  else tern_conn_want_writable(c); /* queue full: try again later */
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:7000";
  tern_mgr *m;
  tern_conn *l;
  int rc = tern_mgr_new(&m, NULL);
  if (rc == TERN_OK) rc = tern_listen(m, url, echo, NULL, &l);
  if (rc != TERN_OK) {
    fprintf(stderr, "tcp_echo: %s\n", tern_strerror(rc));
    return 1;
  }
  printf("echo on %s\n", url);
  tern_mgr_run(m);
  tern_mgr_free(m);
  return 0;
}
