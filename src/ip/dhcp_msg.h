/* dhcp_msg.h: DHCPv4 messages (RFC 2131 section 2, options RFC 2132),
 * parsed and built with no state: the client (dhcp.c), its tests, the
 * fake server in the tests and the fuzz target all use these two calls.
 *
 * A parsed message is a view: its byte-string fields (client id, host
 * name, parameter list, message) point into the caller's buffer and live
 * as long as it does. Addresses are host order, like everywhere in
 * src/ip (ip_internal.h).
 */
#ifndef TERN_IP_DHCP_MSG_H
#define TERN_IP_DHCP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TERN__DHCP_SERVER_PORT 67
#define TERN__DHCP_CLIENT_PORT 68
#define TERN__DHCP_FIXED_LEN 236 /* BOOTP header up to the options */
#define TERN__DHCP_MIN_LEN 240   /* + the magic cookie */
/* RFC 2131 section 2: every client accepts 576-octet IP datagrams, so a
 * message of 576 - 20 (IP) - 8 (UDP) octets, and we send no bigger. */
#define TERN__DHCP_MAX_SEND 548
/* RFC 1542 section 3.4: relays may drop BOOTP messages under 300 octets;
 * what we send is padded to that. */
#define TERN__DHCP_PAD_TO 300
#define TERN__DHCP_MAGIC 0x63825363u /* RFC 2131 section 3 */
#define TERN__DHCP_MAX_DNS 3

enum { /* op, RFC 2131 section 2 */
  TERN__BOOTREQUEST = 1,
  TERN__BOOTREPLY = 2,
};

enum { /* option 53 values, RFC 2132 section 9.6 */
  TERN__DHCPDISCOVER = 1,
  TERN__DHCPOFFER = 2,
  TERN__DHCPREQUEST = 3,
  TERN__DHCPDECLINE = 4,
  TERN__DHCPACK = 5,
  TERN__DHCPNAK = 6,
  TERN__DHCPRELEASE = 7,
  TERN__DHCPINFORM = 8,
};

enum { /* option codes, RFC 2132 */
  TERN__DHO_PAD = 0,
  TERN__DHO_SUBNET = 1,
  TERN__DHO_ROUTER = 3,
  TERN__DHO_DNS = 6,
  TERN__DHO_HOSTNAME = 12,
  TERN__DHO_REQ_IP = 50,
  TERN__DHO_LEASE = 51,
  TERN__DHO_OVERLOAD = 52,
  TERN__DHO_MSG_TYPE = 53,
  TERN__DHO_SERVER_ID = 54,
  TERN__DHO_PARAMS = 55,
  TERN__DHO_MESSAGE = 56,
  TERN__DHO_MAX_SIZE = 57,
  TERN__DHO_T1 = 58,
  TERN__DHO_T2 = 59,
  TERN__DHO_CLIENT_ID = 61,
  TERN__DHO_END = 255,
};

/* The BOOTP flags field: bit 15 asks for broadcast replies (RFC 2131
 * section 2, figure 2). */
#define TERN__DHCP_FLAG_BROADCAST 0x8000u

typedef struct tern__dhcp_msg {
  /* BOOTP header */
  uint8_t op, htype, hlen, hops;
  uint32_t xid;
  uint16_t secs, flags;
  uint32_t ciaddr, yiaddr, siaddr, giaddr;
  uint8_t chaddr[16];
  /* options; a has_* flag or a count says whether each was present */
  uint8_t type;            /* 53; 0 when absent (a BOOTP message) */
  uint8_t overload;        /* 52: 1 file, 2 sname, 3 both hold options */
  bool has_server_id, has_lease, has_t1, has_t2, has_subnet, has_req_ip;
  uint32_t server_id, lease_s, t1_s, t2_s, subnet, req_ip;
  uint8_t n_routers;       /* routers in the option (only the first kept) */
  uint32_t router;
  uint8_t n_dns;           /* kept, at most TERN__DHCP_MAX_DNS */
  uint32_t dns[TERN__DHCP_MAX_DNS];
  uint16_t max_size;       /* 57; 0 when absent */
  const uint8_t *client_id, *hostname, *params, *message;
  uint8_t client_id_len, hostname_len, params_len, message_len;
} tern__dhcp_msg;

/* Parse len bytes at buf (RFC 2131 section 2 and 4.1, RFC 2132): the
 * fixed header, the magic cookie, then the options, then those carried
 * in 'file' and 'sname' when option 52 says so (RFC 2132 9.3). Every
 * length is checked against the bytes there; a known option with a
 * length its RFC forbids makes the message invalid. TERN_OK, or
 * TERN_EPROTO for anything malformed (then *m is unspecified). */
int tern__dhcp_msg_parse(const uint8_t *buf, size_t len, tern__dhcp_msg *m);

/* Build m into buf (cap bytes): the header, the cookie, every option
 * whose field is set (type, client id, requested IP, server id, lease,
 * T1, T2, subnet, router, DNS, host name, max size, parameter list,
 * message), END, then zero padding up to TERN__DHCP_PAD_TO. Returns the
 * length, or TERN_ENOSPC. overload is not built. */
int tern__dhcp_msg_build(const tern__dhcp_msg *m, uint8_t *buf, size_t cap);

/* Client hooks (dhcp.c) for the tests and the fuzz target: handle one
 * message as if it had come from from_ip port 67; the xid the client
 * expects now. */
struct tern_dhcp;
void tern__dhcp_input(struct tern_dhcp *d, const uint8_t *buf, size_t len,
                      uint32_t from_ip);
uint32_t tern__dhcp_xid(const struct tern_dhcp *d);

#endif /* TERN_IP_DHCP_MSG_H */
