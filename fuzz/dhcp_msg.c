/* fuzz/dhcp_msg.c: libFuzzer target for the DHCP message parser
 * (src/ip/dhcp_msg.c) and the client state machine (src/ip/dhcp.c).
 *
 * 1. The input is parsed as one message. Checked beyond "no crash":
 *    TERN_OK gives counts within bounds and views inside the input; a
 *    parsed message built again parses to the same fields.
 * 2. The input is cut into up to 6 messages (each: a 2-byte length, a
 *    byte of virtual time in seconds, the bytes); each has the client's
 *    current xid and MAC patched in (so it gets past the first checks)
 *    and is fed to a client on a stack whose netif drops what it sends,
 *    then time moves on (an ACK's address is ARP-probed: nothing answers,
 *    so it binds). The first byte picks the client: bit 0 INIT-REBOOT,
 *    bit 1 a DHCPINFORM client for a static 10.0.0.99/24 (bit 0 then
 *    ignored). The client must survive any sequence; at the
 *    end everything is freed and the stack's allocator is back to zero
 *    (the memory check is ASan's).
 *
 *   make fuzz   (or tools/run-fuzz build/fuzz 60)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ip/dhcp_msg.h"
#include "ip/ip_internal.h"
#include "tern/dhcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

static int drop_output(tern_netif *nif, tern_pbuf *frame) {
  (void)nif, (void)frame;
  return TERN_OK;
}
static const tern_netif_driver drop_driver = {.name = "drop",
                                              .output = drop_output};

static void check_parse(const uint8_t *data, size_t size) {
  tern__dhcp_msg m, again;
  if (tern__dhcp_msg_parse(data, size, &m) != TERN_OK) return;
  CHECK(size >= TERN__DHCP_MIN_LEN);
  CHECK(m.n_dns <= TERN__DHCP_MAX_DNS);
  CHECK(m.hlen <= 16);
  const uint8_t *views[] = {m.client_id, m.hostname, m.params, m.message};
  const uint8_t lens[] = {m.client_id_len, m.hostname_len, m.params_len,
                          m.message_len};
  for (int i = 0; i < 4; i++)
    if (views[i]) CHECK(views[i] >= data && views[i] + lens[i] <= data + size);
  uint8_t buf[2048];
  int n = tern__dhcp_msg_build(&m, buf, sizeof buf);
  if (n < 0) return; /* too many options for the buffer: fine */
  CHECK(tern__dhcp_msg_parse(buf, (size_t)n, &again) == TERN_OK);
  CHECK(again.xid == m.xid && again.type == m.type &&
        again.yiaddr == m.yiaddr && again.server_id == m.server_id &&
        again.lease_s == m.lease_s && again.has_lease == m.has_lease &&
        again.n_dns == m.n_dns && again.subnet == m.subnet &&
        again.client_id_len == m.client_id_len);
}

static void drive_client(const uint8_t *data, size_t size) {
  tern_stack *st;
  if (tern_stack_new(&st, &(tern_stack_opts){.pool_bytes = 256 * 1024}) !=
      TERN_OK)
    return;
  tern_netif_opts no = {.name = "f", .flags = TERN_NETIF_ETHERNET,
                        .mac = {2, 0, 0, 0, 0, 9}, .driver = &drop_driver};
  tern_netif *nif;
  tern_dhcp *d = NULL;
  uint64_t now = 1000;
  if (tern_netif_add(st, &no, &nif) != TERN_OK) goto out;
  tern_netif_set_up(nif, true);
  tern_stack_advance(st, now);
  tern_dhcp_opts o = {.max_tries = 3};
  if (size && (data[0] & 2)) { /* DHCPINFORM for a static address */
    tern_addr a;
    ip_addr_to(0x0a000063u, 0, &a);
    tern_netif_set_addr(nif, &a, 24, NULL);
    if (tern_dhcp_inform(nif, &o, &d) != TERN_OK) goto out;
  } else {
    if (size && (data[0] & 1)) /* half the runs start in INIT-REBOOT */
      ip_addr_to(0x0a000032u, 0, &o.prev_addr);
    if (tern_dhcp_start(nif, &o, &d) != TERN_OK) goto out;
  }
  now += 20000; /* the first DISCOVER/REQUEST goes out */
  tern_stack_advance(st, now);
  size_t i = size ? 1 : 0;
  for (int k = 0; k < 6 && i + 3 <= size; k++) {
    size_t len = (size_t)data[i] << 8 | data[i + 1];
    uint8_t dt = data[i + 2];
    i += 3;
    if (len > size - i) len = size - i;
    uint8_t msg[1500];
    if (len > sizeof msg) len = sizeof msg;
    memcpy(msg, data + i, len);
    i += len;
    if (len >= TERN__DHCP_MIN_LEN) {
      ip_put32(msg + 4, tern__dhcp_xid(d));
      memcpy(msg + 28, no.mac, 6);
      msg[2] = 6;
    }
    tern__dhcp_input(d, msg, len, 0x0a000001u);
    now += (uint64_t)dt * 1000u;
    tern_stack_advance(st, now);
    if (dt == 255) tern_dhcp_renew(d);
  }
  tern_dhcp_lease l;
  if (tern_dhcp_get_lease(d, &l)) CHECK(l.n_dns <= TERN_DHCP_MAX_DNS);
  tern_dhcp_stop(d, true);
  tern_stack_advance(st, now + 2000);
out:
  if (d) tern_dhcp_free(d);
  tern_stack_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_parse(data, size);
  drive_client(data, size);
  return 0;
}
