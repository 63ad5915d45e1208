/* ternd.h: the daemon's parts: main.c (options, signals, start/stop),
 * routes.c (HTTP and WebSocket endpoints), report.c (status as JSON and
 * Prometheus text), dashboard.c (the page built into the binary),
 * nodes.c and nodes_net.c (resource-manager control nodes, --rm), tap.c
 * (tern's own stack, --tap); with libfuse3, ../ternfs/ternfs.c (--fuse). */
#ifndef TERND_H
#define TERND_H

#include <stdint.h>

#include "tern/tern.h"

/* Endpoints counted on the dashboard, in this order. */
enum {
  EP_DASHBOARD,
  EP_STATUS,
  EP_METRICS,
  EP_HELLO,
  EP_ECHO,
  EP_ECHO_WS,
  EP_LIVE_WS,
  EP_FILES,
  EP_COUNT
};

typedef struct ternd {
  tern_mgr *mgr;
  tern_http_server *http;
  tern_timer *tick;       /* 100 ms: signal check; every 10th: live push */
  unsigned ticks;
  uint64_t started_ms;
  uint64_t hits[EP_COUNT];
  uint64_t ws_messages;
  const char *root;       /* --root DIR, or NULL */
  const char *dns_servers; /* --dns SERVERS, or NULL */
  const char *ntp_servers; /* --ntp SERVERS, or NULL */
  const char *fi_spec;     /* --fi SPEC, or NULL */
  tern_fi *fi;
  tern_dns *dns;
  tern_sntp *sntp;
  tern_metrics *metrics;  /* /metrics, /api/metrics and SMD */
  uint32_t metrics_period_ms; /* --metrics-period: on SMD every so often */
  tern_sys *sys;        /* system states: OPERATIONAL once bring-up is done */
  tern_sys_gate *time_gate; /* --ntp: TIME_VALID waits for the first sync */
  /* --tap IFNAME --ip CIDR [--gw IP] | --dhcp: tern's own stack (tap.c) */
  const char *tap_name, *tap_ip, *tap_gw;
  const char *tap_mac;      /* --mac: the netif's MAC (else random) */
  bool tap_dhcp;
  bool tap_inform;          /* --dhcp-inform (with --ip) */
  struct tern_dhcp *dhcp;   /* --dhcp: the client on the TAP netif */
  struct tern_dhcp *inform; /* --dhcp-inform: DHCPINFORM for --ip */
  tern_sys_gate *dhcp_gate; /* --dhcp: DHCP waits for the lease */
  tern_loop *loop;
  struct tern_stack *stack;
  struct tern_tap *tap;
  struct tern_netif *netif;
  tern_ip_host *host;
  /* --rm [--rm-prefix P] [--rm-dir D]: control nodes (nodes.c) */
  bool rm;
  const char *rm_prefix, *rm_dir;
  struct ternd_nodes *nodes;
  const char *fuse_mnt;     /* --fuse MNT (TERN_ENABLE_FUSE builds) */
  struct ternfs *fuse;
  size_t conns_peak;      /* most connections since memory was last given
                             back (see give_memory_back in main.c) */
} ternd;

extern const char *const ternd_endpoint_names[EP_COUNT];

/* routes.c */
int ternd_routes(ternd *d);
void ternd_live_push(ternd *d);

/* report.c: write into buf (at most size bytes); return the length. */
size_t ternd_status_json(const ternd *d, char *buf, size_t size);
/* Collect callback (tern_metrics_on_collect, ud: the ternd): ternd's own
 * metrics, brought up to date at each export. */
void ternd_metrics_collect(tern_metrics *reg, void *ud);

/* dashboard.c */
extern const char ternd_dashboard_html[];

/* nodes.c: attach the control nodes (--rm); stop detaches them */
int ternd_nodes_start(ternd *d);
void ternd_nodes_stop(ternd *d);

/* tap.c */
int ternd_tap_start(ternd *d, tern_mgr_opts *mo);
void ternd_tap_stop(ternd *d);

#endif
