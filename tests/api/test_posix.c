/* test_posix.c: code written against POSIX sockets (sockaddr_in, fd_set,
 * struct timeval, errno, fcntl, close/read/write) compiled onto tern's
 * sockets through tern/sockets_posix.h, over two stacks on the in-memory
 * wire; the IP-level options with the host's structs. Each thread picks
 * its stack in a thread-local (test-only) that TERN_POSIX_TCPIP names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "api/harness.h"

static _Thread_local tern_tcpip *cur; /* test only: one stack per thread */
#define TERN_POSIX_TCPIP cur
#define TERN_POSIX_IO_NAMES
#include "tern/sockets_posix.h"

typedef struct srv {
  tern_tcpip *t;
  int err;
  long echoed;
} srv;

/* A plain POSIX echo server. */
static void server(void *arg) {
  srv *s = arg;
  cur = s->t;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(7);
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4)) {
    s->err = errno;
    return;
  }
  struct sockaddr_in peer;
  socklen_t plen = sizeof peer;
  int c = accept(l, (struct sockaddr *)&peer, &plen);
  if (c < 0 || plen != sizeof peer || peer.sin_family != AF_INET) {
    s->err = errno ? errno : -1;
    return;
  }
  char buf[512];
  long n;
  while ((n = read(c, buf, sizeof buf)) > 0) {
    if (write(c, buf, (size_t)n) != n) break;
    s->echoed += n;
  }
  close(c);
  close(l);
}

static void test_posix_echo(void **st) {
  (void)st;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  srv s = {.t = n.tb};
  tern_thread *th;
  assert_int_equal(tern_thread_new(&th, "srv", server, &s), 0);
  cur = n.ta;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(7);
  inet_pton(AF_INET, "10.9.0.2", &a.sin_addr);
  int rc = -1;
  for (int i = 0; i < 200 && rc != 0; i++) { /* until the server listens */
    rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc) {
      close(fd);
      fd = socket(AF_INET, SOCK_STREAM, 0);
      struct timespec ts = {0, 5000000};
      nanosleep(&ts, NULL);
    }
  }
  assert_int_equal(rc, 0);
  struct sockaddr_in me;
  socklen_t len = sizeof me;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &len), 0);
  assert_int_equal(len, sizeof me);
  assert_true(ntohs(me.sin_port) != 0);
  struct timeval tv = {2, 0};
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  int one = 1;
  assert_int_equal(
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
  assert_int_equal(setsockopt(fd, SOL_SOCKET, 9999, &one, sizeof one), -1);
  assert_int_equal(errno, ENOPROTOOPT);
  assert_int_equal(write(fd, "hello posix", 11), 11);
  fd_set r;
  FD_ZERO(&r);
  FD_SET(fd, &r);
  struct timeval wait = {2, 0};
  assert_int_equal(select(fd + 1, &r, NULL, NULL, &wait), 1);
  assert_true(FD_ISSET(fd, &r));
  char buf[32];
  long got = 0;
  while (got < 11) {
    long k = read(fd, buf + got, sizeof buf - (size_t)got);
    assert_true(k > 0);
    got += k;
  }
  assert_memory_equal(buf, "hello posix", 11);
  /* non-blocking through fcntl, poll */
  int fl = fcntl(fd, F_GETFL);
  assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
  assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
  assert_int_equal(recv(fd, buf, sizeof buf, 0), -1);
  assert_int_equal(errno, EAGAIN);
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  assert_int_equal(poll(&p, 1, 0), 1);
  assert_true(p.revents & POLLOUT);
  int avail = -1;
  assert_int_equal(ioctl(fd, FIONREAD, &avail), 0);
  assert_int_equal(avail, 0);
  assert_int_equal(shutdown(fd, SHUT_WR), 0);
  tern_thread_join(th);
  assert_int_equal(s.err, 0);
  assert_int_equal(s.echoed, 11);
  assert_int_equal(close(fd), 0);
  assert_int_equal(close(fd), -1);
  assert_int_equal(errno, EBADF);
  /* UDP with sockaddr */
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  assert_int_equal(socket(AF_INET6, SOCK_STREAM, 0), -1);
  assert_int_equal(errno, EAFNOSUPPORT);
  a.sin_port = htons(9);
  assert_int_equal(sendto(u, "x", 1, 0, (struct sockaddr *)&a, sizeof a), 1);
  assert_int_equal(close(u), 0);
  net2_down(&n);
}

/* getaddrinfo through tern_netconn_gethostbyname (the DNS exchanges
 * themselves are in test_netdb): the shapes POSIX code relies on. */
static void test_posix_getaddrinfo(void **st) {
  (void)st;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  cur = n.ta;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  assert_int_equal(getaddrinfo("10.9.0.2", "53", &hints, &res), 0);
  assert_non_null(res);
  assert_null(res->ai_next);
  assert_int_equal(res->ai_family, AF_INET);
  assert_int_equal(res->ai_socktype, SOCK_DGRAM);
  const struct sockaddr_in *in = (const struct sockaddr_in *)(void *)res->ai_addr;
  assert_int_equal(res->ai_addrlen, sizeof *in);
  assert_int_equal(ntohs(in->sin_port), 53);
  char txt[16];
  inet_ntop(AF_INET, &in->sin_addr, txt, sizeof txt);
  assert_string_equal(txt, "10.9.0.2");
  /* the address works with the other calls */
  int u = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  assert_true(u >= 0);
  assert_int_equal(connect(u, res->ai_addr, res->ai_addrlen), 0);
  assert_int_equal(close(u), 0);
  freeaddrinfo(res);
  hints.ai_flags = AI_PASSIVE;
  hints.ai_socktype = 0;
  assert_int_equal(getaddrinfo(NULL, "8080", &hints, &res), 0);
  in = (const struct sockaddr_in *)(void *)res->ai_addr;
  assert_int_equal(in->sin_addr.s_addr, htonl(INADDR_ANY));
  assert_int_equal(res->ai_socktype, SOCK_STREAM);
  freeaddrinfo(res);
  assert_int_equal(getaddrinfo("localhost", NULL, NULL, &res), 0);
  in = (const struct sockaddr_in *)(void *)res->ai_addr;
  assert_int_equal(in->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  freeaddrinfo(res);
  assert_int_equal(getaddrinfo("10.9.0.2", "http", NULL, &res), EAI_SERVICE);
  assert_int_equal(getaddrinfo("10.9.0.2", "70000", NULL, &res), EAI_SERVICE);
  hints.ai_family = AF_INET6;
  assert_int_equal(getaddrinfo("10.9.0.2", "1", &hints, &res), EAI_FAMILY);
  assert_int_equal(getaddrinfo(NULL, NULL, NULL, &res), EAI_NONAME);
  /* a name with no servers set */
  assert_int_equal(getaddrinfo("a.example", "1", NULL, &res), EAI_FAIL);
  assert_null(res);
  net2_down(&n);
}

/* The IP-level options with the host's names and structs: IP_TTL,
 * struct ip_mreq for the memberships, struct in_addr for
 * IP_MULTICAST_IF, SOCK_RAW. */
static void test_posix_ip_opts(void **st) {
  (void)st;
  net2 n;
  net2_up(&n, TERN_TCPIP_MSG, 16384);
  struct sockaddr_in any, grp;
  memset(&any, 0, sizeof any);
  any.sin_family = AF_INET;
  any.sin_port = htons(7300);
  grp = any;
  inet_pton(AF_INET, "239.1.2.3", &grp.sin_addr);
  cur = n.tb;
  int ub = socket(AF_INET, SOCK_DGRAM, 0);
  assert_int_equal(bind(ub, (struct sockaddr *)&any, sizeof any), 0);
  struct timeval tv = {3, 0};
  assert_int_equal(setsockopt(ub, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  struct ip_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.imr_multiaddr = grp.sin_addr;
  mr.imr_interface.s_addr = htonl(INADDR_ANY);
  assert_int_equal(
      setsockopt(ub, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr), 0);
  assert_int_equal(
      setsockopt(ub, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, 4), -1);
  assert_int_equal(errno, EINVAL);
  int r = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  assert_true(r >= 0);
  assert_int_equal(close(r), 0);

  cur = n.ta;
  int ua = socket(AF_INET, SOCK_DGRAM, 0);
  struct in_addr ifa;
  inet_pton(AF_INET, "10.9.0.1", &ifa);
  assert_int_equal(
      setsockopt(ua, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa), 0);
  struct in_addr back = {0};
  socklen_t bl = sizeof back;
  assert_int_equal(getsockopt(ua, IPPROTO_IP, IP_MULTICAST_IF, &back, &bl), 0);
  assert_int_equal(bl, 4);
  assert_int_equal(back.s_addr, ifa.s_addr);
  int ttl = 3;
  assert_int_equal(setsockopt(ua, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl), 0);
  ttl = 0;
  socklen_t tl = sizeof ttl;
  assert_int_equal(getsockopt(ua, IPPROTO_IP, IP_TTL, &ttl, &tl), 0);
  assert_int_equal(ttl, 3);
  unsigned char mttl = 2; /* one byte, as Linux takes it */
  assert_int_equal(
      setsockopt(ua, IPPROTO_IP, IP_MULTICAST_TTL, &mttl, sizeof mttl), 0);
  assert_int_equal(getsockopt(ua, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, &tl), 0);
  assert_int_equal(ttl, 2);
  assert_int_equal(
      sendto(ua, "grp", 3, 0, (struct sockaddr *)&grp, sizeof grp), 3);

  cur = n.tb;
  char buf[8];
  assert_int_equal(recv(ub, buf, sizeof buf, 0), 3);
  assert_memory_equal(buf, "grp", 3);
  assert_int_equal(
      setsockopt(ub, IPPROTO_IP, IP_DROP_MEMBERSHIP, &mr, sizeof mr), 0);
  assert_int_equal(
      setsockopt(ub, IPPROTO_IP, IP_DROP_MEMBERSHIP, &mr, sizeof mr), -1);
  assert_int_equal(errno, EADDRNOTAVAIL);
  close(ub);
  cur = n.ta;
  close(ua);
  net2_down(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_posix_echo),
      cmocka_unit_test(test_posix_getaddrinfo),
      cmocka_unit_test(test_posix_ip_opts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
