/* tap.c: ternd on tern's own TCP/IP stack (--tap IFNAME --ip CIDR
 * [--gw IP], or --dhcp): a TAP device, a stack with one Ethernet netif on
 * it, a host that drives the stack from ternd's loop, and the "ip"
 * backend for the manager. Everything else in ternd runs unchanged on
 * top. With --dhcp the netif starts without an address and tern's DHCP
 * client (tern/dhcp.h) leases one; main.c gates the system state on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ternd.h"
#include "tern/ip.h"
#include "tern/dhcp.h"
#include "tern/ip_drivers.h"

/* --ip A.B.C.D/N: IPv4 only (the stack is IPv4) */
static int parse_cidr(const char *s, tern_addr *a, uint8_t *prefix) {
  if (tern_addr_parse_cidr(s, strlen(s), a, prefix) != TERN_OK ||
      a->family != TERN_AF_INET)
    return TERN_EINVAL;
  return TERN_OK;
}

static void print_addr(const char *what, const tern_addr *a) {
  char s[TERN_ADDR_STRLEN];
  if (!a->family) return;
  tern_addr_format(a, false, s, sizeof s);
  printf(" %s %s", what, s);
}

/* Lease events, on the loop thread (the stack runs there). */
static void on_dhcp(tern_dhcp *c, tern_dhcp_event ev, const tern_dhcp_lease *l,
                    void *ud) {
  (void)c;
  static const char *const names[] = {"?",      "lease",    "renewed",
                                      "lost",   "failed",   "declined",
                                      "informed"};
  printf("ternd: DHCP %s", names[ev <= TERN_DHCP_EV_INFORMED ? ev : 0]);
  if (l) {
    char s[TERN_ADDR_STRLEN];
    tern_addr_format(&l->addr, false, s, sizeof s);
    printf(" %s/%u", s, l->prefix_len);
    print_addr("router", &l->router);
    for (uint8_t i = 0; i < l->n_dns; i++) print_addr("dns", &l->dns[i]);
    print_addr("server", &l->server);
    printf(" lease %us t1 %us t2 %us", (unsigned)l->lease_s,
           (unsigned)l->t1_s, (unsigned)l->t2_s);
  }
  printf("\n");
  fflush(stdout);
  if (ev == TERN_DHCP_EV_FAILED) tern_dhcp_renew(c); /* keep trying */
  /* The network is up now: a time sync that failed for want of it (its
   * name could not be resolved, its packets had no route) need not wait
   * for its retry back-off. */
  ternd *d = ud;
  tern_sntp_sample smp;
  if (ev == TERN_DHCP_EV_BOUND && d->sntp && !tern_sntp_last(d->sntp, &smp))
    tern_sntp_sync(d->sntp);
}

static int dhcp_start(ternd *d) {
  /* the stack's clock is the loop's: set it before the client's timers */
  tern_stack_advance(d->stack, tern_loop_now(d->loop));
  tern_dhcp_opts o = {.hostname = "ternd", .cb = on_dhcp, .ud = d};
  int rc = d->tap_dhcp ? tern_dhcp_start(d->netif, &o, &d->dhcp)
                       : tern_dhcp_inform(d->netif, &o, &d->inform);
  if (rc != TERN_OK) {
    fprintf(stderr, "ternd: DHCP client: %s\n", tern_strerror(rc));
    return rc;
  }
  tern_ip_host_kick(d->host);
  return TERN_OK;
}

int ternd_tap_start(ternd *d, tern_mgr_opts *mo) {
  int rc;
  tern_netif_opts no;
  memset(&no, 0, sizeof no);
  if (d->tap_dhcp) {
    /* no address until the lease */
  } else if (parse_cidr(d->tap_ip, &no.addr, &no.prefix_len) != TERN_OK) {
    fprintf(stderr, "ternd: bad --ip '%s' (want A.B.C.D/N)\n", d->tap_ip);
    return TERN_EINVAL;
  }
  if (d->tap_gw && (tern_addr_parse_ip(d->tap_gw, strlen(d->tap_gw),
                                       &no.gw) != TERN_OK ||
                    no.gw.family != TERN_AF_INET)) {
    fprintf(stderr, "ternd: bad --gw '%s'\n", d->tap_gw);
    return TERN_EINVAL;
  }
  if ((rc = tern_loop_new(&d->loop, NULL)) != TERN_OK) return rc;
  if ((rc = tern_stack_new(&d->stack, NULL)) != TERN_OK) return rc;
  tern_tap_opts to = {.ifname = d->tap_name};
  if ((rc = tern_tap_open(&d->tap, &to)) != TERN_OK) {
    fprintf(stderr, "ternd: cannot open TAP '%s': %s\n", d->tap_name,
            tern_strerror(rc));
    return rc;
  }
  no.name = d->tap_name;
  if (d->tap_mac) {
    unsigned m[6];
    char end;
    if (sscanf(d->tap_mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2],
               &m[3], &m[4], &m[5], &end) != 6 ||
        (m[0] & 1)) {
      fprintf(stderr, "ternd: bad --mac '%s'\n", d->tap_mac);
      return TERN_EINVAL;
    }
    for (int i = 0; i < 6; i++) no.mac[i] = (uint8_t)m[i];
  }
  tern_tap_netif_opts(d->tap, &no);
  if ((rc = tern_netif_add(d->stack, &no, &d->netif)) != TERN_OK) return rc;
  tern_tap_attach(d->tap, d->netif);
  /* TERN_TAP_IMPAIR="loss=0.02,reorder=0.01,seed=7": drop and reorder
   * received frames (tests against the kernel; netem is not everywhere) */
  const char *imp = getenv("TERN_TAP_IMPAIR");
  if (imp && *imp) {
    double loss = 0, reorder = 0;
    unsigned long long seed = 1;
    const char *p;
    if ((p = strstr(imp, "loss="))) loss = strtod(p + 5, NULL);
    if ((p = strstr(imp, "reorder="))) reorder = strtod(p + 8, NULL);
    if ((p = strstr(imp, "seed="))) seed = strtoull(p + 5, NULL, 10);
    tern_tap_set_impair(d->tap, loss, reorder, seed);
    printf("ternd: TAP impairments: loss %.3f reorder %.3f seed %llu\n", loss,
           reorder, seed);
  }
  tern_netif_set_up(d->netif, true);
  if ((rc = tern_ip_host_new(&d->host, d->loop, d->stack)) != TERN_OK) return rc;
  if ((rc = tern_ip_host_add_tap(d->host, d->tap)) != TERN_OK) return rc;
  if ((d->tap_dhcp || d->tap_inform) && (rc = dhcp_start(d)) != TERN_OK)
    return rc;
  mo->loop = d->loop;
  mo->backend = tern_backend_ip();
  mo->backend_arg = d->host;
  printf("ternd: on tern's own stack: %s %s\n", d->tap_name,
         d->tap_dhcp ? "(DHCP)" : d->tap_ip);
  return TERN_OK;
}

/* After the manager is freed. */
void ternd_tap_stop(ternd *d) {
  if (d->dhcp) {
    /* RFC 2131 4.4.6: give the lease back (unicast to the server: it goes
     * out now if its MAC is known, as it is after any exchange with it) */
    tern_dhcp_stop(d->dhcp, true);
    tern_dhcp_free(d->dhcp); /* before the stack */
  }
  if (d->inform) tern_dhcp_free(d->inform);
  if (d->host) tern_ip_host_free(d->host);
  if (d->stack) tern_stack_free(d->stack);
  if (d->tap) tern_tap_close(d->tap);
  if (d->loop) tern_loop_free(d->loop);
}
