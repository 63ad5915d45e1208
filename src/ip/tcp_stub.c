/* tcp_stub.c: TEMPORARY: lets the lower layers link before tcp.c exists.
 * CMake leaves it out as soon as src/ip/tcp.c is there; delete it then. */
#include "ip/ip_internal.h"
int ip_tcp_init(tern_stack *st) { (void)st; return 0; }
void ip_tcp_deinit(tern_stack *st) { (void)st; }
void ip_tcp_input(tern_stack *st, tern_pbuf *p, const ip_rx *rx) { (void)st; (void)rx; tern_pbuf_free(p); }
void ip_tcp_icmp_err(tern_stack *st, uint8_t type, uint8_t code, const uint8_t *q, size_t n) {(void)st;(void)type;(void)code;(void)q;(void)n;}
void ip_tcp_netif_changed(tern_stack *st, tern_netif *nif, uint32_t old_ip) {(void)st;(void)nif;(void)old_ip;}
