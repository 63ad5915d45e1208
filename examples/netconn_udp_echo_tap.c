/* netconn_udp_echo_tap: a UDP echo server written with netconn
 * (tern/netconn.h) on tern's own stack on a TAP device: every datagram
 * comes back to its sender, chunk by chunk out of the received netbuf.
 *
 *   example_netconn_udp_echo_tap IFNAME IP/PREFIX [--port N] [--secs S]
 *                                [--lock] [--group A.B.C.D]
 *
 * --group joins that multicast group (IGMP) on the netconn: datagrams
 * sent to the group and port are echoed too (tests/integ/
 * api_mcast_udp.sh).
 *
 * Prints "ready", then "datagrams=N" when it stops (SIGTERM/SIGINT or
 * --secs). The test is tests/integ/api_netconn_udp_echo.sh (nc -u).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"
#include "tap_netif.h"

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static long echo_loop(tern_netconn *nc, double secs) {
  long count = 0;
  uint8_t buf[65536];
  uint64_t end = tern_clock_ms() + (uint64_t)(secs * 1000);
  tern_netconn_set_recvtimeout(nc, 200); /* look at the stop flag */
  while (!stop && tern_clock_ms() < end) {
    tern_netbuf *nb;
    if (tern_netconn_recv(nc, &nb)) continue;
    size_t len = 0;
    tern_netbuf_first(nb);
    do { /* gather the chunks (a datagram may span several pbufs) */
      void *d;
      size_t n;
      tern_netbuf_data(nb, &d, &n);
      if (len + n > sizeof buf) n = sizeof buf - len;
      memcpy(buf + len, d, n);
      len += n;
    } while (tern_netbuf_next(nb));
    tern_addr from = *tern_netbuf_from(nb);
    tern_netbuf_free(nb);
    if (tern_netconn_sendto(nc, buf, len, &from) == 0) count++;
  }
  return count;
}

int main(int argc, char **argv) {
  if (argc < 3 || !strchr(argv[2], '/')) {
    fprintf(stderr, "usage: example_netconn_udp_echo_tap IFNAME IP/PREFIX "
                    "[--port N] [--secs S] [--lock] [--group G]\n");
    return 2;
  }
  uint16_t port = 7;
  double secs = 600;
  tern_tcpip_mode mode = TERN_TCPIP_MSG;
  const char *group = NULL;
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc)
      port = (uint16_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--secs") && i + 1 < argc)
      secs = atof(argv[++i]);
    else if (!strcmp(argv[i], "--lock"))
      mode = TERN_TCPIP_CORE_LOCK;
    else if (!strcmp(argv[i], "--group") && i + 1 < argc)
      group = argv[++i];
  }
  signal(SIGTERM, on_sig);
  signal(SIGINT, on_sig);
  tern_stack *st;
  if (tern_stack_new(&st, NULL)) return 1;
  tern_tap *tap;
  example_tap_netif(st, argv[1], argv[2], false, &tap);
  tern_tcpip *t;
  tern_tcpip_opts o = {.mode = mode, .tap = tap};
  if (tern_tcpip_new(&t, st, &o)) return 1;
  tern_netconn *nc;
  tern_addr any = {.family = TERN_AF_INET, .port = port};
  if (tern_netconn_new(&nc, t, TERN_NETCONN_UDP) ||
      tern_netconn_bind(nc, &any)) {
    fprintf(stderr, "cannot bind UDP port %u\n", port);
    return 1;
  }
  tern_addr g;
  if (group && (tern_addr_parse_ip(group, strlen(group), &g) ||
                tern_netconn_join_leave(nc, &g, NULL, true))) {
    fprintf(stderr, "cannot join group %s\n", group);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  long n = echo_loop(nc, secs);
  printf("datagrams=%ld\n", n);
  tern_netconn_close(nc);
  tern_tcpip_free(t);
  tern_stack_free(st);
  tern_tap_close(tap);
  return 0;
}
