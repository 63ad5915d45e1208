/* ternd: the tern device daemon: HTTP dashboard, JSON and Prometheus
 * status, and echo endpoints (HTTP and WebSocket) over tern's connection
 * API. Routes are listed in routes.c.
 *
 *   ternd [--http ADDR] [--root DIR] [--dns SERVERS] [--ntp SERVERS]
 *         [--tap IFNAME (--ip CIDR [--gw IP] [--dhcp-inform] | --dhcp)
 *          [--mac MAC]] [--fi SPEC] [--metrics-period MS] [-v]
 *         [--rm] [--rm-prefix P] [--rm-dir DIR] [--fuse MNT]
 *     --http ADDR   listen address (default 127.0.0.1:8080; port 0 picks one)
 *     --root DIR    also serve the files under DIR
 *     --dns SERVERS resolve names with tern's DNS client and these servers
 *                   ("IP[:port],...")
 *     --ntp SERVERS keep the time with tern's SNTP client against these
 *                   servers: report only, the clock is never set
 *     --tap IFNAME  run on tern's own TCP/IP stack through a TAP device
 *                   (created if missing; needs CAP_NET_ADMIN), with
 *     --ip CIDR     its address, e.g. 10.0.0.2/24, and optionally
 *     --gw IP       a default gateway; --http then defaults to 0.0.0.0:8080
 *                   on that stack
 *     --dhcp        instead of --ip: lease the address with tern's DHCP
 *                   client; the system state stays before DHCP until the
 *                   lease (so OPERATIONAL waits for it too); the leased
 *                   address is ARP-probed first (RFC 5227) and released
 *                   on SIGTERM (RFC 2131 4.4.6)
 *     --mac MAC     the stack's MAC on the TAP, e.g. 02:00:00:00:00:07
 *                   (default: a random locally administered one)
 *     --dhcp-inform with --ip: ask a DHCP server for the other parameters
 *                   (DHCPINFORM, RFC 2131 3.4) and print them
 *     --fi SPEC     inject faults (tern/fi.h), e.g. 'conn/send(5%),seed=3';
 *                   TERN_FI in the environment does the same
 *                   (TERN_FI_SEED or seed=N in the spec: a repeatable run)
 *     --metrics-period MS  publish the changed metrics on SMD
 *                   (TERN_SMD_METRICS) every MS ms (default 10000; 0: off)
 *     --rm          serve ternd's control nodes (tern/ternd_ctl.h) through
 *                   tern's resource manager: state, status, metrics, log,
 *                   sample and, with --tap, net/IFNAME; off by default (two
 *                   daemons on one registry would fight over the names)
 *     --rm-prefix P where the names go (default /dev/tern); implies --rm
 *     --rm-dir DIR  the registry directory (default: $TERN_RM_DIR, else
 *                   $XDG_RUNTIME_DIR/tern-rm, else /run/tern-rm); implies --rm
 *     --fuse MNT    (builds with libfuse3) mount the registry on MNT through
 *                   the FUSE bridge (apps/ternfs), so cat, echo and ioctl
 *                   reach the nodes; implies --rm
 *     -v            more logging (twice: debug)
 *
 * SIGINT/SIGTERM stop it cleanly: every connection is closed and every
 * allocation freed before it exits 0.
 */
#include <signal.h>
#include <stdio.h> /* first: it defines __GLIBC__ */
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ternd.h"
#ifdef TERND_HAVE_FUSE
#include "ternfs.h"
#endif

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

/* Once a second: stop if a signal came, and push status to /live. The
 * signal is only noted in the handler; acting on it here keeps all work on
 * the loop thread. The tick is 100 ms so a stop is prompt. */
/* After a burst of connections has gone, hand the freed heap back to the
 * system. glibc keeps freed memory inside the process unless the top of
 * the heap is free, and thousands of small per-connection blocks freed in
 * any order rarely leave it so; malloc_trim() also releases free pages in
 * the middle. Done once per second at most, only when the connection count
 * has fallen to half of its peak since the last trim (and the peak was
 * worth it), so a steady server never pays for it. Other C libraries:
 * nothing to do here. */
static void give_memory_back(ternd *d) {
  tern_http_stats st;
  tern_http_server_stats(d->http, &st);
  size_t now = st.conns_open + st.ws_open;
  if (now > d->conns_peak) d->conns_peak = now;
  if (d->conns_peak < 256 || now > d->conns_peak / 2) return;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  d->conns_peak = now;
}

static void on_tick(tern_timer *t, void *ud) {
  ternd *d = ud;
  (void)t;
  if (stop_signal) {
    tern_log(TERN_LOG_INFO, "ternd", "signal %d: stopping", (int)stop_signal);
    tern_mgr_stop(d->mgr);
    return;
  }
  if (++d->ticks % 10 == 0) {
    ternd_live_push(d);
    give_memory_back(d);
  }
}

static void usage(void) {
  fprintf(stderr, "usage: ternd [--http ADDR] [--root DIR] [--dns SERVERS] "
                  "[--ntp SERVERS]\n"
                  "             [--tap IFNAME (--ip CIDR [--gw IP] [--dhcp-inform] | --dhcp)\n"
                  "              [--mac MAC]] [--fi SPEC] [--metrics-period MS] [-v]\n"
                  "             [--rm] [--rm-prefix PREFIX] [--rm-dir DIR] [--fuse MNT]\n");
}

static int parse_args(int argc, char **argv, const char **http, ternd *d,
                      int *verbose) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--http") && i + 1 < argc) *http = argv[++i];
    else if (!strcmp(argv[i], "--root") && i + 1 < argc) d->root = argv[++i];
    else if (!strcmp(argv[i], "--dns") && i + 1 < argc) d->dns_servers = argv[++i];
    else if (!strcmp(argv[i], "--ntp") && i + 1 < argc) d->ntp_servers = argv[++i];
    else if (!strcmp(argv[i], "--fi") && i + 1 < argc) d->fi_spec = argv[++i];
    else if (!strcmp(argv[i], "--metrics-period") && i + 1 < argc)
      d->metrics_period_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--tap") && i + 1 < argc) d->tap_name = argv[++i];
    else if (!strcmp(argv[i], "--ip") && i + 1 < argc) d->tap_ip = argv[++i];
    else if (!strcmp(argv[i], "--gw") && i + 1 < argc) d->tap_gw = argv[++i];
    else if (!strcmp(argv[i], "--dhcp")) d->tap_dhcp = true;
    else if (!strcmp(argv[i], "--dhcp-inform")) d->tap_inform = true;
    else if (!strcmp(argv[i], "--mac") && i + 1 < argc) d->tap_mac = argv[++i];
    else if (!strcmp(argv[i], "--rm")) d->rm = true;
    else if (!strcmp(argv[i], "--rm-prefix") && i + 1 < argc)
      d->rm = true, d->rm_prefix = argv[++i];
    else if (!strcmp(argv[i], "--rm-dir") && i + 1 < argc)
      d->rm = true, d->rm_dir = argv[++i];
    else if (!strcmp(argv[i], "--fuse") && i + 1 < argc)
      d->rm = true, d->fuse_mnt = argv[++i];
    else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "-vv"))
      *verbose += (int)strlen(argv[i]) - 1;
    else return -1;
  }
  /* --tap goes with exactly one of --ip and --dhcp */
  if (d->tap_ip && d->tap_dhcp) return -1;
  if (!d->tap_name != !(d->tap_ip || d->tap_dhcp)) return -1;
  if (d->tap_inform && !d->tap_ip) return -1;
  if (d->tap_mac && !d->tap_name) return -1;
  return 0;
}

/* A daemon serving thousands of connections needs descriptors: raise the
 * soft limit to the hard one (commonly 1024 -> 1048576 on Linux). */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

static int start(ternd *d, const char *http) {
  char url[300], addr[TERN_ADDR_STRLEN];
  tern_mgr_opts mo;
  memset(&mo, 0, sizeof mo);
  int rc;
  if (d->tap_name && (rc = ternd_tap_start(d, &mo)) != TERN_OK) return rc;
  rc = tern_mgr_new(&d->mgr, &mo);
  if (rc != TERN_OK) return rc;
  /* metrics first, so every connection is counted (freed after the mgr) */
  if ((rc = tern_metrics_new(&d->metrics)) != TERN_OK ||
      (rc = tern_mgr_set_metrics(d->mgr, d->metrics)) != TERN_OK ||
      (rc = tern_metrics_on_collect(d->metrics, ternd_metrics_collect, d)) != TERN_OK ||
      (d->stack && (rc = tern_metrics_bind_stack(d->metrics, d->stack)) != TERN_OK))
    return rc;
  if (d->fi_spec) { /* else TERN_FI from the environment, if set */
    if ((rc = tern_fi_new(d->fi_spec, &d->fi)) != TERN_OK) {
      fprintf(stderr, "ternd: bad --fi '%s'\n", d->fi_spec);
      return rc;
    }
    tern_mgr_set_fi(d->mgr, d->fi);
  }
  snprintf(url, sizeof(url), "tcp://%s", http);
  rc = tern_http_server_new(d->mgr, url, NULL, &d->http);
  if (rc != TERN_OK) {
    fprintf(stderr, "ternd: cannot listen on %s: %s\n", http, tern_strerror(rc));
    return rc;
  }
  if ((rc = ternd_routes(d)) != TERN_OK) return rc;
  if (d->dns_servers) { /* before --ntp, so its names use it */
    tern_dns_opts o = {.servers = d->dns_servers};
    if ((rc = tern_dns_new(d->mgr, &o, &d->dns)) != TERN_OK) {
      fprintf(stderr, "ternd: bad --dns '%s'\n", d->dns_servers);
      return rc;
    }
    tern_dns_use_for_connects(d->dns);
  }
  if ((rc = tern_sys_new(d->mgr, NULL, &d->sys)) != TERN_OK) return rc;
  /* on SMD (TERN_SMD_METRICS) for whoever subscribes; costs nothing else */
  if ((rc = tern_sys_metrics_publish(d->sys, d->metrics, d->metrics_period_ms)) != TERN_OK)
    return rc;
  if (d->ntp_servers) {
    tern_sntp_opts o = {.servers = d->ntp_servers, .interval_s = 1024};
    if ((rc = tern_sntp_new(d->mgr, &o, &d->sntp)) != TERN_OK) {
      fprintf(stderr, "ternd: bad --ntp '%s'\n", d->ntp_servers);
      return rc;
    }
    if ((rc = tern_sys_gate_time(d->sys, d->sntp, &d->time_gate)) != TERN_OK)
      return rc;
  }
  /* --dhcp: the step into DHCP (and so OPERATIONAL) waits for a lease */
  if (d->dhcp && (rc = tern_sys_gate_dhcp(d->sys, d->dhcp, &d->dhcp_gate)) !=
                     TERN_OK)
    return rc;
  /* Up as far as the helpers allow: with --ntp, TIME_VALID (and so
   * OPERATIONAL) waits for the first good time sample; with --dhcp, DHCP
   * waits for a lease. */
  tern_sys_advance(d->sys, TERN_SYS_OPERATIONAL);
  if ((rc = tern_timer_new(tern_mgr_loop(d->mgr), &d->tick, on_tick, d)) != TERN_OK)
    return rc;
  tern_timer_start(d->tick, 100, 100);
#ifdef __linux__
  if (d->rm && (rc = ternd_nodes_start(d)) != TERN_OK) return rc;
#else
  if (d->rm) {
    fprintf(stderr, "ternd: --rm: the resource manager is Linux-only\n");
    return TERN_ENOTSUP;
  }
#endif
  if (d->fuse_mnt) {
#ifdef TERND_HAVE_FUSE
    /* the bridge's threads are clients of the nodes just attached */
    ternfs_opts fo = {.registry = d->rm_dir};
    if ((rc = ternfs_start(&d->fuse, d->fuse_mnt, &fo)) != TERN_OK) {
      fprintf(stderr, "ternd: cannot mount %s: %s\n", d->fuse_mnt,
              tern_strerror(rc));
      return rc;
    }
    printf("ternd: registry mounted on %s\n", d->fuse_mnt);
#else
    fprintf(stderr, "ternd: --fuse: built without libfuse3\n");
    return TERN_ENOTSUP;
#endif
  }
  tern_addr_format(tern_conn_local(tern_http_server_listener(d->http)), true,
                   addr, sizeof(addr));
  printf("ternd: listening on http://%s/%s%s\n", addr,
         d->root ? " serving " : "", d->root ? d->root : "");
  return TERN_OK;
}

static void stop(ternd *d) {
#ifdef TERND_HAVE_FUSE
  /* Unmount first, then close the nodes (a bridge thread still waiting on
   * one gets TERN_ECONNRESET at once), then join the bridge's threads. */
  if (d->fuse) ternfs_unmount(d->fuse);
  ternd_nodes_stop(d);
  if (d->fuse) ternfs_free(d->fuse);
#elif defined(__linux__)
  ternd_nodes_stop(d);
#endif
  if (d->time_gate) tern_sys_gate_free(d->time_gate);
  if (d->dhcp_gate) tern_sys_gate_free(d->dhcp_gate);
  if (d->sys) tern_sys_free(d->sys);
  if (d->sntp) tern_sntp_free(d->sntp);
  if (d->dns) tern_dns_free(d->dns);
  if (d->tick) tern_timer_free(d->tick);
  if (d->http) tern_http_server_free(d->http);
  if (d->mgr) tern_mgr_free(d->mgr);
  if (d->metrics) tern_metrics_free(d->metrics); /* the mgr reported into it */
  ternd_tap_stop(d);
  tern_fi_free(d->fi);
}

int main(int argc, char **argv) {
  const char *http = NULL;
  int verbose = 0;
  ternd d;
  memset(&d, 0, sizeof(d));
  d.metrics_period_ms = 10000;
  if (parse_args(argc, argv, &http, &d, &verbose) != 0) {
    usage();
    return 2;
  }
  if (!http) http = d.tap_name ? "0.0.0.0:8080" : "127.0.0.1:8080";
  tern_log_set_level(verbose > 1 ? TERN_LOG_DEBUG
                     : verbose ? TERN_LOG_INFO : TERN_LOG_WARN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  install_signals();
  raise_fd_limit();
  d.started_ms = tern_clock_ms();
  int rc = start(&d, http);
  if (rc == TERN_OK) rc = tern_mgr_run(d.mgr);
  stop(&d);
  printf("ternd: stopped\n");
  return rc == TERN_OK ? 0 : 1;
}
