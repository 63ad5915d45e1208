/* tap_ping: tern's own TCP/IP stack on a Linux TAP device, in a
 * superloop: the kernel (or another host bridged to the TAP) can ping it,
 * fragmented pings included.
 *
 *   example_tap_ping [--pcap FILE] [--udp-echo PORT] IFNAME IP/PREFIX
 *                    [SECONDS]
 *
 * Creates the TAP device IFNAME (needs CAP_NET_ADMIN), gives the stack's
 * netif IP/PREFIX, and runs until SECONDS pass (default 30) or SIGTERM /
 * SIGINT. --pcap records every frame in and out; --udp-echo answers UDP
 * datagrams to PORT with the same bytes (raw UDP API). Bringing the kernel's side up is left to the caller:
 *   ip addr add 10.77.0.1/24 dev IFNAME; ip link set IFNAME up
 * At the end it prints the stack's counters. Used by
 * tests/integ/ip_tap_ping.sh.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction, poll */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"
#include "tern/ip.h"
#include "tern/ip_drivers.h"

/* Set by the signal handler: the only way it can talk to the loop. */
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--pcap FILE] [--udp-echo PORT] IFNAME IP/PREFIX "
          "[SECONDS]\n",
          argv0);
  return 2;
}


/* --udp-echo: send the datagram back where it came from. */
static void on_udp(void *arg, tern_udp *pcb, tern_pbuf *p,
                   const tern_addr *from) {
  (void)arg;
  tern_udp_sendto(pcb, p, from);
  tern_pbuf_free(p);
}

static void print_stats(tern_stack *st, const tern_tap *tap) {
  tern_tap_stats ts;
  tern_tap_get_stats(tap, &ts);
  printf("tap rx=%llu rx_csum_partial=%llu rx_csum_valid=%llu rx_gso=%llu "
         "rx_drop=%llu tx=%llu tx_csum_partial=%llu tx_gso=%llu "
         "tx_eagain=%llu tx_err=%llu\n",
         (unsigned long long)ts.rx_frames,
         (unsigned long long)ts.rx_csum_partial,
         (unsigned long long)ts.rx_csum_valid, (unsigned long long)ts.rx_gso,
         (unsigned long long)ts.rx_drop, (unsigned long long)ts.tx_frames,
         (unsigned long long)ts.tx_csum_partial,
         (unsigned long long)ts.tx_gso, (unsigned long long)ts.tx_eagain,
         (unsigned long long)ts.tx_err);
  tern_stack_stats s;
  tern_stack_get_stats(st, &s);
  printf("eth in=%llu out=%llu drop=%llu; arp in=%llu out=%llu; "
         "ip in=%llu out=%llu drop=%llu frag_in=%llu reass_ok=%llu; "
         "icmp in=%llu out=%llu; pool used=%u high=%u\n",
         (unsigned long long)s.eth_in, (unsigned long long)s.eth_out,
         (unsigned long long)s.eth_drop, (unsigned long long)s.arp_in,
         (unsigned long long)s.arp_out, (unsigned long long)s.ip_in,
         (unsigned long long)s.ip_out, (unsigned long long)s.ip_drop,
         (unsigned long long)s.ip_frag_in, (unsigned long long)s.ip_reass_ok,
         (unsigned long long)s.icmp_in, (unsigned long long)s.icmp_out,
         s.pool_used, s.pool_high);
}

/* Wait for the TAP or the next stack timer, then feed frames and run
 * timers; until the deadline or a signal. */
static void superloop(tern_stack *st, tern_tap *tap, uint64_t end_ms) {
  for (;;) {
    uint64_t now = tern_clock_ms();
    if (stop_flag || now >= end_ms) return;
    uint64_t due = tern_stack_next_due(st);
    uint64_t wait = end_ms - now;
    if (due <= now) wait = 0;
    else if (due - now < wait) wait = due - now;
    if (wait > 1000) wait = 1000;
    struct pollfd pfd = {.fd = tern_tap_fd(tap), .events = POLLIN};
    poll(&pfd, 1, (int)wait);
    if (pfd.revents & POLLIN) {
      int rc = tern_tap_poll(tap);
      if (rc < 0) fprintf(stderr, "tap_ping: read: %s\n", tern_strerror(rc));
    }
    tern_stack_advance(st, tern_clock_ms());
  }
}

int main(int argc, char **argv) {
  const char *pcap_path = NULL;
  long echo_port = 0;
  int i = 1;
  for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
    if (!strcmp(argv[i], "--pcap")) pcap_path = argv[i + 1];
    else if (!strcmp(argv[i], "--udp-echo")) echo_port = strtol(argv[i + 1], NULL, 10);
    else return usage(argv[0]);
  }
  if (argc - i < 2) return usage(argv[0]);
  const char *ifname = argv[i];
  tern_netif_opts no = {0};
  if (tern_addr_parse_cidr(argv[i + 1], strlen(argv[i + 1]), &no.addr,
                           &no.prefix_len) != TERN_OK) {
    fprintf(stderr, "tap_ping: bad address '%s'\n", argv[i + 1]);
    return 2;
  }
  long seconds = argc - i > 2 ? strtol(argv[i + 2], NULL, 10) : 30;

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  tern_tap *tap;
  tern_tap_opts to = {.ifname = ifname};
  int rc = tern_tap_open(&tap, &to);
  if (rc != TERN_OK) {
    fprintf(stderr, "tap_ping: open %s: %s\n", ifname, tern_strerror(rc));
    return 1;
  }
  tern_stack *st;
  if (tern_stack_new(&st, NULL) != TERN_OK) return 1;
  tern_tap_netif_opts(tap, &no);
  tern_pcap *pc = NULL;
  if (pcap_path) {
    if ((rc = tern_pcap_open(&pc, pcap_path, 0)) != TERN_OK ||
        (rc = tern_pcap_wrap(pc, &no)) != TERN_OK) {
      fprintf(stderr, "tap_ping: pcap %s: %s\n", pcap_path, tern_strerror(rc));
      return 1;
    }
    /* the stack runs on the monotonic clock; the capture shows wall time */
    tern_pcap_set_time_offset(pc, tern_clock_wall_us() -
                                      (int64_t)tern_clock_us());
  }
  tern_netif *nif;
  if ((rc = tern_netif_add(st, &no, &nif)) != TERN_OK) {
    fprintf(stderr, "tap_ping: netif: %s\n", tern_strerror(rc));
    return 1;
  }
  tern_tap_attach(tap, nif);
  tern_udp *echo = NULL;
  if (echo_port > 0 && echo_port < 65536) {
    tern_addr any = {.family = TERN_AF_INET, .port = (uint16_t)echo_port};
    echo = tern_udp_new(st);
    if (!echo || tern_udp_bind(echo, &any) != TERN_OK) {
      fprintf(stderr, "tap_ping: cannot bind UDP port %ld\n", echo_port);
      return 1;
    }
    tern_udp_recv(echo, on_udp, NULL);
  }
  tern_stack_advance(st, tern_clock_ms());
  tern_netif_set_up(nif, true);
  printf("tap_ping: %s up, %s\n", tern_tap_name(tap), argv[i + 1]);
  fflush(stdout);

  superloop(st, tap, tern_clock_ms() + (uint64_t)seconds * 1000u);

  print_stats(st, tap);
  tern_udp_free(echo);
  tern_stack_free(st);
  tern_tap_close(tap);
  tern_pcap_close(pc);
  return 0;
}
