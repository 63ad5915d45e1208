/* test_ipopt.c: IP-level features of the sockets and netconn API over two
 * stacks on the in-memory wire: IP_TTL and IP_TOS (get, set, checked on
 * the datagrams and segments as a raw socket of the receiving stack sees
 * them), raw sockets (an ICMP echo through the stack, answered by the
 * peer's stack, the reply read from a SOCK_RAW socket), the multicast
 * options with IGMP membership (joins left at close), and
 * tern_tcpip_input (a frame from a thread outside the stack's context). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/harness.h"
#include "tern/sockets.h"

static int sock(tern_tcpip *t, int type, int proto) {
  int fd = tern_socket(t, TERN_AF_INET, type, proto);
  assert_true(fd >= 0);
  int ms = 3000; /* a failing test does not hang */
  assert_int_equal(tern_sock_setsockopt(t, fd, TERN_SOL_SOCKET,
                                        TERN_SO_RCVTIMEO, &ms, sizeof ms),
                   0);
  return fd;
}

static int getint(tern_tcpip *t, int fd, int level, int name) {
  int v = -12345;
  size_t len = sizeof v;
  assert_int_equal(tern_sock_getsockopt(t, fd, level, name, &v, &len), 0);
  assert_int_equal(len, sizeof v);
  return v;
}

static int setint(tern_tcpip *t, int fd, int level, int name, int v) {
  return tern_sock_setsockopt(t, fd, level, name, &v, sizeof v);
}

static uint16_t csum(const uint8_t *d, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(d[i] << 8 | d[i + 1]);
  if (n & 1) s += (uint32_t)d[n - 1] << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static void test_ttl_tos(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  int ua = sock(n.ta, TERN_SOCK_DGRAM, 0);
  int ub = sock(n.tb, TERN_SOCK_DGRAM, 0);
  int rb = sock(n.tb, TERN_SOCK_RAW, 17); /* b's copy of every UDP datagram */
  tern_addr lb = h_addr("10.9.0.2", 7000);
  assert_int_equal(tern_sock_bind(n.tb, ub, &lb), 0);
  assert_int_equal(getint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_TTL), 64);
  assert_int_equal(getint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_TOS), 0);
  assert_int_equal(setint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_TTL, 0), -1);
  assert_int_equal(tern_errno(), EINVAL);
  assert_int_equal(setint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_TTL, 256), -1);
  assert_int_equal(tern_errno(), EINVAL);
  assert_int_equal(setint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_TTL, 12), 0);
  assert_int_equal(setint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_TOS, 0x48), 0);
  assert_int_equal(setint(n.ta, ua, TERN_IPPROTO_IP, 99, 1), -1);
  assert_int_equal(tern_errno(), ENOPROTOOPT);
  assert_int_equal(getint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_TTL), 12);
  assert_int_equal(getint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_TOS), 0x48);
  assert_int_equal(tern_sock_sendto(n.ta, ua, "ttl?", 4, 0, &lb), 4);
  uint8_t buf[128];
  tern_addr from;
  /* the UDP socket gets its datagram, the raw one a copy with the IP
   * header */
  assert_int_equal(tern_sock_recv(n.tb, ub, buf, sizeof buf, 0), 4);
  assert_int_equal(tern_sock_recvfrom(n.tb, rb, buf, sizeof buf, 0, &from),
                   20 + 8 + 4);
  assert_int_equal(buf[0], 0x45);
  assert_int_equal(buf[1], 0x48);
  assert_int_equal(buf[8], 12);
  assert_int_equal(buf[9], 17);
  assert_memory_equal(buf + 28, "ttl?", 4);
  tern_addr want = h_addr("10.9.0.1", 0);
  assert_true(tern_addr_eq(&from, &want));
  /* -1: the default again */
  assert_int_equal(setint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_TTL, -1), 0);
  assert_int_equal(getint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_TTL), 64);
  assert_int_equal(tern_sock_sendto(n.ta, ua, "ttl!", 4, 0, &lb), 4);
  assert_int_equal(tern_sock_recvfrom(n.tb, rb, buf, sizeof buf, 0, NULL),
                   32);
  assert_int_equal(buf[8], 64);

  /* TCP: set before connect, the SYN carries it (b's raw TCP socket) */
  int rt = sock(n.tb, TERN_SOCK_RAW, 6);
  int l = sock(n.tb, TERN_SOCK_STREAM, 0);
  tern_addr la = h_addr("10.9.0.2", 7001);
  assert_int_equal(tern_sock_bind(n.tb, l, &la), 0);
  assert_int_equal(tern_sock_listen(n.tb, l, 4), 0);
  int c = sock(n.ta, TERN_SOCK_STREAM, 0);
  assert_int_equal(setint(n.ta, c, TERN_IPPROTO_IP, TERN_IP_TTL, 200), 0);
  assert_int_equal(setint(n.ta, c, TERN_IPPROTO_IP, TERN_IP_TOS, 0x10), 0);
  assert_int_equal(tern_sock_connect(n.ta, c, &la), 0);
  assert_true(tern_sock_recv(n.tb, rt, buf, sizeof buf, 0) >= 40);
  assert_int_equal(buf[8], 200);
  assert_int_equal(buf[1], 0x10);
  assert_int_equal(buf[20 + 13], 0x02); /* SYN */
  tern_sock_close(n.ta, c);
  tern_sock_close(n.tb, l);
  tern_sock_close(n.tb, rt);
  tern_sock_close(n.ta, ua);
  tern_sock_close(n.tb, ub);
  tern_sock_close(n.tb, rb);
  net2_down(&n);
}

static void run_ping(tern_tcpip_mode mode) {
  net2 n;
  net2_up(&n, mode, 16384);
  assert_int_equal(tern_socket(n.ta, TERN_AF_INET, TERN_SOCK_RAW, 0), -1);
  assert_int_equal(tern_errno(), EPROTONOSUPPORT);
  int r = sock(n.ta, TERN_SOCK_RAW, 1);
  assert_int_equal(getint(n.ta, r, TERN_SOL_SOCKET, TERN_SO_TYPE),
                   TERN_SOCK_RAW);
  uint8_t req[24] = {8, 0, 0, 0, 0xbe, 0xef, 0, 1};
  memcpy(req + 8, "tern ping data!!", 16);
  uint16_t c = csum(req, sizeof req);
  req[2] = (uint8_t)(c >> 8);
  req[3] = (uint8_t)c;
  tern_addr b = h_addr("10.9.0.2", 0);
  assert_int_equal(tern_sock_sendto(n.ta, r, req, sizeof req, 0, &b),
                   (long)sizeof req);
  uint8_t buf[128];
  tern_addr from;
  long got = tern_sock_recvfrom(n.ta, r, buf, sizeof buf, 0, &from);
  assert_int_equal(got, 20 + (long)sizeof req);
  assert_true(tern_addr_eq(&from, &b));
  assert_int_equal(buf[9], 1);
  assert_int_equal(buf[20], 0); /* echo reply from b's stack */
  assert_memory_equal(buf + 24, req + 4, sizeof req - 4);
  assert_int_equal(csum(buf + 20, sizeof req), 0);
  /* connect: send() to the peer */
  assert_int_equal(tern_sock_connect(n.ta, r, &b), 0);
  assert_int_equal(tern_sock_send(n.ta, r, req, sizeof req, 0),
                   (long)sizeof req);
  assert_int_equal(tern_sock_recv(n.ta, r, buf, sizeof buf, 0),
                   20 + (long)sizeof req);
  tern_sock_close(n.ta, r);
  /* netconn: proto 0 is no protocol */
  tern_netconn *nc;
  assert_int_equal(tern_netconn_new_raw(&nc, n.ta, 0), TERN_EINVAL);
  assert_int_equal(h_pcbs(n.ta), 0);
  net2_down(&n);
}

static void test_raw_ping_msg(void **s) {
  (void)s;
  run_ping(TERN_TCPIP_MSG);
}
static void test_raw_ping_lock(void **s) {
  (void)s;
  run_ping(TERN_TCPIP_CORE_LOCK);
}

static int mreq(tern_tcpip *t, int fd, int name, const char *group) {
  tern_ip_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.multiaddr = h_addr(group, 0);
  return tern_sock_setsockopt(t, fd, TERN_IPPROTO_IP, name, &mr, sizeof mr);
}

/* Datagrams to the group reach b only while b's socket is a member; a
 * later unicast one tells "not received" without waiting for nothing
 * (the wire keeps the order). */
static void test_mcast(void **s) {
  (void)s;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  int ua = sock(n.ta, TERN_SOCK_DGRAM, 0);
  int ub = sock(n.tb, TERN_SOCK_DGRAM, 0);
  int ri = sock(n.ta, TERN_SOCK_RAW, 2); /* a sees b's IGMP messages */
  tern_addr la = h_addr("0.0.0.0", 7100);
  assert_int_equal(tern_sock_bind(n.ta, ua, &la), 0);
  assert_int_equal(tern_sock_bind(n.tb, ub, &la), 0);
  tern_addr grp = h_addr("239.1.2.3", 7100), bu = h_addr("10.9.0.2", 7100);
  char buf[64];
  assert_int_equal(tern_sock_sendto(n.ta, ua, "g1", 2, 0, &grp), 2);
  assert_int_equal(tern_sock_sendto(n.ta, ua, "u1", 2, 0, &bu), 2);
  assert_int_equal(tern_sock_recv(n.tb, ub, buf, sizeof buf, 0), 2);
  assert_memory_equal(buf, "u1", 2); /* not a member: g1 was dropped */

  /* a joins the group and all-routers: its raw IGMP socket then sees
   * b's reports and leaves */
  assert_int_equal(mreq(n.ta, ua, TERN_IP_ADD_MEMBERSHIP, "239.1.2.3"), 0);
  assert_int_equal(mreq(n.ta, ua, TERN_IP_ADD_MEMBERSHIP, "224.0.0.2"), 0);
  assert_int_equal(mreq(n.tb, ub, TERN_IP_ADD_MEMBERSHIP, "239.1.2.3"), 0);
  assert_int_equal(mreq(n.tb, ub, TERN_IP_ADD_MEMBERSHIP, "239.1.2.3"), -1);
  assert_int_equal(tern_errno(), EADDRINUSE);
  assert_int_equal(mreq(n.tb, ub, TERN_IP_ADD_MEMBERSHIP, "10.9.0.7"), -1);
  assert_int_equal(tern_errno(), EINVAL);
  assert_int_equal(mreq(n.tb, ub, TERN_IP_DROP_MEMBERSHIP, "239.9.9.9"), -1);
  assert_int_equal(tern_errno(), EADDRNOTAVAIL);
  uint8_t ig[64];
  assert_int_equal(tern_sock_recv(n.ta, ri, ig, sizeof ig, 0), 24 + 8);
  assert_int_equal(ig[24], 0x16); /* b's v2 report for the group */
  assert_int_equal(ig[8], 1);
  assert_memory_equal(ig + 28, "\xef\x01\x02\x03", 4);

  /* a member now; TTL 1 unless asked, and a's own copy loops back */
  assert_int_equal(getint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_MULTICAST_TTL), 1);
  assert_int_equal(getint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_MULTICAST_LOOP),
                   1);
  assert_int_equal(setint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_MULTICAST_TTL, 5),
                   0);
  assert_int_equal(tern_sock_sendto(n.ta, ua, "g2", 2, 0, &grp), 2);
  assert_int_equal(tern_sock_recv(n.tb, ub, buf, sizeof buf, 0), 2);
  assert_memory_equal(buf, "g2", 2);
  assert_int_equal(tern_sock_recv(n.ta, ua, buf, sizeof buf, 0), 2);
  assert_memory_equal(buf, "g2", 2);
  /* IP_MULTICAST_LOOP off (one byte, as Linux takes it) */
  uint8_t off = 0;
  assert_int_equal(tern_sock_setsockopt(n.ta, ua, TERN_IPPROTO_IP,
                                        TERN_IP_MULTICAST_LOOP, &off, 1),
                   0);
  assert_int_equal(getint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_MULTICAST_LOOP),
                   0);
  assert_int_equal(getint(n.ta, ua, TERN_IPPROTO_IP, TERN_IP_MULTICAST_TTL), 5);
  assert_int_equal(tern_sock_sendto(n.ta, ua, "g3", 2, 0, &grp), 2);
  assert_int_equal(tern_sock_recv(n.tb, ub, buf, sizeof buf, 0), 2);
  assert_int_equal(tern_sock_recv(n.ta, ua, buf, sizeof buf,
                                  TERN_MSG_DONTWAIT), -1);
  /* IP_MULTICAST_IF: an address of ours, or not */
  tern_addr ifa = h_addr("10.9.0.5", 0), got;
  assert_int_equal(tern_sock_setsockopt(n.ta, ua, TERN_IPPROTO_IP,
                                        TERN_IP_MULTICAST_IF, &ifa, sizeof ifa),
                   -1);
  assert_int_equal(tern_errno(), EADDRNOTAVAIL);
  ifa = h_addr("10.9.0.1", 0);
  assert_int_equal(tern_sock_setsockopt(n.ta, ua, TERN_IPPROTO_IP,
                                        TERN_IP_MULTICAST_IF, &ifa, sizeof ifa),
                   0);
  size_t gl = sizeof got;
  assert_int_equal(tern_sock_getsockopt(n.ta, ua, TERN_IPPROTO_IP,
                                        TERN_IP_MULTICAST_IF, &got, &gl),
                   0);
  assert_true(tern_addr_eq(&got, &ifa));

  /* b's socket closes: its membership goes, with a Leave Group */
  tern_sock_close(n.tb, ub);
  long r;
  do { /* skip the repeated report if it came first */
    r = tern_sock_recv(n.ta, ri, ig, sizeof ig, 0);
    assert_int_equal(r, 32);
  } while (ig[24] == 0x16);
  assert_int_equal(ig[24], 0x17);
  assert_memory_equal(ig + 16, "\xe0\x00\x00\x02", 4);
  ub = sock(n.tb, TERN_SOCK_DGRAM, 0);
  assert_int_equal(tern_sock_bind(n.tb, ub, &la), 0);
  assert_int_equal(tern_sock_sendto(n.ta, ua, "g4", 2, 0, &grp), 2);
  assert_int_equal(tern_sock_sendto(n.ta, ua, "u2", 2, 0, &bu), 2);
  assert_int_equal(tern_sock_recv(n.tb, ub, buf, sizeof buf, 0), 2);
  assert_memory_equal(buf, "u2", 2);
  /* streams have none of it */
  int c = sock(n.ta, TERN_SOCK_STREAM, 0);
  assert_int_equal(mreq(n.ta, c, TERN_IP_ADD_MEMBERSHIP, "239.1.2.3"), -1);
  assert_int_equal(tern_errno(), EOPNOTSUPP);
  tern_sock_close(n.ta, c);
  tern_sock_close(n.ta, ua);
  tern_sock_close(n.ta, ri);
  tern_sock_close(n.tb, ub);
  net2_down(&n);
}

/* A driver with a receive thread of its own (here: the test's thread)
 * hands frames over with tern_tcpip_input; tern_pbuf_alloc and
 * tern_netif_input themselves would abort outside the stack's context. */
static void run_input(tern_tcpip_mode mode) {
  net2 n;
  net2_up(&n, mode, 16384);
  int ub = sock(n.tb, TERN_SOCK_DGRAM, 0);
  tern_addr lb = h_addr("10.9.0.2", 7200);
  assert_int_equal(tern_sock_bind(n.tb, ub, &lb), 0);
  uint8_t f[14 + 20 + 8 + 5] = {2, 0, 0, 0, 9, 2, 2, 0, 0, 0, 9, 0x77, 8, 0};
  uint8_t *ip = f + 14;
  ip[0] = 0x45;
  ip[2] = 0;
  ip[3] = 20 + 8 + 5;
  ip[8] = 64;
  ip[9] = 17;
  memcpy(ip + 12, "\x0a\x09\x00\x63\x0a\x09\x00\x02", 8);
  uint16_t c = csum(ip, 20);
  ip[10] = (uint8_t)(c >> 8);
  ip[11] = (uint8_t)c;
  uint8_t *u = ip + 20;
  u[0] = 0x30; /* port 12345 */
  u[1] = 0x39;
  u[2] = 7200 >> 8;
  u[3] = 7200 & 0xff;
  u[5] = 8 + 5;
  memcpy(u + 8, "hello", 5); /* checksum 0: none (RFC 768) */
  assert_int_equal(tern_tcpip_input(n.tb, n.nb, f, sizeof f, false), 0);
  char buf[16];
  tern_addr from;
  assert_int_equal(tern_sock_recvfrom(n.tb, ub, buf, sizeof buf, 0, &from), 5);
  assert_memory_equal(buf, "hello", 5);
  assert_int_equal(from.port, 12345);
  assert_int_equal(tern_tcpip_input(n.tb, NULL, f, sizeof f, false),
                   TERN_EINVAL);
  tern_sock_close(n.tb, ub);
  net2_down(&n);
}

static void test_input_msg(void **s) {
  (void)s;
  run_input(TERN_TCPIP_MSG);
}
static void test_input_lock(void **s) {
  (void)s;
  run_input(TERN_TCPIP_CORE_LOCK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ttl_tos),
      cmocka_unit_test(test_raw_ping_msg),
      cmocka_unit_test(test_raw_ping_lock),
      cmocka_unit_test(test_mcast),
      cmocka_unit_test(test_input_msg),
      cmocka_unit_test(test_input_lock),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
