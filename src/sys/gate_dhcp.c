/* sys/gate_dhcp.c: the DHCP bring-up gate (tern/sys.h): the step into
 * TERN_SYS_DHCP ("an interface is configured", as in lws_system) is held
 * until the client (tern/dhcp.h) has a lease. Built only with the ip
 * layer (CMakeLists.txt leaves it out when TERN_ENABLE_IP is off).
 *
 * Threads: the client lives on the stack's thread and the system on its
 * loop's; the gate reads the client from the loop's timer, so the two
 * must be one thread (tern_ip_host drives the stack from that loop).
 */
#include "sys/sys_internal.h"
#include "tern/dhcp.h"

static bool dhcp_ready(void *ctx) { return tern_dhcp_get_lease(ctx, NULL); }

int tern_sys_gate_dhcp(tern_sys *s, struct tern_dhcp *d, tern_sys_gate **out) {
  if (d == NULL) return TERN_EINVAL;
  return tern__sys_gate_new(s, TERN_SYS_DHCP, dhcp_ready, d, out);
}
