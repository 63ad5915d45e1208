/* tap_netif.h: the start the TAP examples share: open TAP device IFNAME
 * and put a netif with address A.B.C.D/N on the stack, attached and up.
 * On failure it says why and exits (2 for a bad address, 1 otherwise),
 * as an example's main would. */
#ifndef TERN_EXAMPLE_TAP_NETIF_H
#define TERN_EXAMPLE_TAP_NETIF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"

static inline tern_netif *example_tap_netif(tern_stack *st, const char *ifname,
                                            const char *cidr, bool no_offload,
                                            tern_tap **tap) {
  tern_tap_opts to = {.ifname = ifname, .no_offload = no_offload};
  if (tern_tap_open(tap, &to)) {
    fprintf(stderr, "cannot open TAP %s\n", ifname);
    exit(1);
  }
  tern_netif_opts no = {0};
  no.name = ifname;
  if (tern_addr_parse_cidr(cidr, strlen(cidr), &no.addr, &no.prefix_len) !=
          TERN_OK ||
      no.addr.family != TERN_AF_INET) {
    fprintf(stderr, "bad address '%s' (want A.B.C.D/N)\n", cidr);
    exit(2);
  }
  tern_tap_netif_opts(*tap, &no);
  tern_netif *nif;
  if (tern_netif_add(st, &no, &nif)) exit(1);
  tern_tap_attach(*tap, nif);
  tern_netif_set_up(nif, true);
  return nif;
}

#endif
