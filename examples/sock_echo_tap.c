/* sock_echo_tap: a blocking TCP echo server written with tern's BSD-style
 * sockets (tern/sockets.h), one thread per client, on tern's own stack on
 * a TAP device. The stack runs on its tcpip thread; this program's threads
 * only make blocking socket calls, as code ported from POSIX would. The
 * main thread waits on its listeners with tern_select.
 *
 *   example_sock_echo_tap IFNAME IP/PREFIX [--port N] [--secs S] [--lock]
 *                         [--bytes N] [--dns IP[,IP...]]
 *
 * Ports: N (7) echo; 10 discard (reads until EOF); 19 source (writes
 * --bytes bytes of the tcp_blast pattern, then closes): the sockets side
 * of bench/api_tap.sh, which compares them with the raw-API server;
 * 5300 names: each line a client sends is a name, looked up over the
 * stack with tern_netconn_gethostbyname (servers from --dns) and answered
 * with "ADDR ADDR...\n" or "error NAME\n".
 * --lock runs the calls under the core lock instead of as messages to the
 * stack thread. Prints "ready" once listening and "client bytes=N" when a
 * client leaves; stops on SIGTERM/SIGINT or after --secs. The test is
 * tests/integ/api_sock_echo.sh (nc from the kernel side).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "tern/tern.h"
#include "tap_netif.h"

#define MAX_CLIENTS 64

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static uint64_t source_bytes = 100000000ull;

static uint8_t pat(uint64_t i) { return (uint8_t)((i * 7 + i / 4096) & 0xff); }

#define PERIOD (1u << 20)
static uint8_t pattern[PERIOD + 65536];

typedef struct client {
  tern_tcpip *t;
  int fd, port;
  tern_thread *th;
  volatile int done; /* set by the client thread, read by main */
} client;

/* port 19: the tcp_blast pattern, then close */
/* port 5300: a name per line, its addresses back */
static long names(client *c, char *buf, size_t cap) {
  size_t have = 0;
  long n, total = 0;
  while ((n = tern_sock_recv(c->t, c->fd, buf + have, cap - have - 1, 0)) > 0) {
    total += n;
    have += (size_t)n;
    char *nl;
    while ((nl = memchr(buf, '\n', have))) {
      *nl = 0;
      if (nl > buf && nl[-1] == '\r') nl[-1] = 0;
      tern_addr a[8];
      size_t k = 0;
      int err = tern_netconn_gethostbyname(c->t, buf, a, 8, &k);
      char out[256];
      size_t o = 0;
      for (size_t i = 0; !err && i < k; i++) {
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%u.%u.%u.%u",
                              i ? " " : "", a[i].ip[0], a[i].ip[1],
                              a[i].ip[2], a[i].ip[3]);
      }
      if (err)
        o = (size_t)snprintf(out, sizeof out, "error %s", tern_err_name(err));
      out[o++] = '\n';
      if (tern_sock_send(c->t, c->fd, out, o, 0) < 0) return total;
      have -= (size_t)(nl + 1 - buf);
      memmove(buf, nl + 1, have);
    }
    if (have == cap - 1) break; /* a line too long for a name */
  }
  return total;
}

static long source(client *c) {
  uint64_t off = 0;
  while (off < source_bytes) {
    uint64_t left = source_bytes - off;
    size_t n = left > 65536 ? 65536 : (size_t)left;
    long w = tern_sock_send(c->t, c->fd, pattern + off % PERIOD, n, 0);
    if (w <= 0) break;
    off += (uint64_t)w;
  }
  return (long)off;
}

static void serve(void *arg) {
  client *c = arg;
  static _Thread_local char buf[65536];
  long n, total = 0;
  if (c->port == 5300) {
    total = names(c, buf, 1024);
    goto out;
  }
  if (c->port == 19) {
    total = source(c);
    tern_sock_shutdown(c->t, c->fd, TERN_SHUT_WR); /* EOF for the peer */
    goto out;
  }
  while ((n = tern_sock_recv(c->t, c->fd, buf, sizeof buf, 0)) > 0) {
    if (c->port == 10) {
      total += n;
      continue;
    }
    for (long off = 0; off < n;) {
      long w = tern_sock_send(c->t, c->fd, buf + off, (size_t)(n - off), 0);
      if (w < 0) goto out;
      off += w;
    }
    total += n;
  }
out:
  /* our FIN now: main closes the descriptor only when it next looks (up
   * to 200 ms later), and a peer waiting for the end would wait that long */
  tern_sock_shutdown(c->t, c->fd, TERN_SHUT_WR);
  printf("client bytes=%ld\n", total);
  fflush(stdout);
  /* main closes the descriptor (it may also close it to wake us) */
  __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
}

/* Join and close clients that have finished (all of them if force:
 * closing wakes a thread blocked in recv). */
static void reap(client *cl, bool force) {
  for (int i = 0; i < MAX_CLIENTS; i++) {
    client *c = &cl[i];
    if (!c->th) continue;
    if (!force && !__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) continue;
    if (force) tern_sock_shutdown(c->t, c->fd, TERN_SHUT_RDWR);
    tern_thread_join(c->th);
    tern_sock_close(c->t, c->fd);
    c->th = NULL;
  }
}

static int listen_on(tern_tcpip *t, uint16_t port) {
  int l = tern_socket(t, TERN_AF_INET, TERN_SOCK_STREAM, 0);
  tern_addr any = {.family = TERN_AF_INET, .port = port};
  if (l < 0 || tern_sock_bind(t, l, &any) || tern_sock_listen(t, l, 16)) {
    fprintf(stderr, "listen on %u: errno %d\n", port, tern_errno());
    exit(1);
  }
  return l;
}

static int serve_forever(tern_tcpip *t, uint16_t port, double secs) {
  int ls[4] = {listen_on(t, port), listen_on(t, 10), listen_on(t, 19),
               listen_on(t, 5300)};
  const int ports[4] = {port, 10, 19, 5300};
  printf("ready\n");
  fflush(stdout);
  static client cl[MAX_CLIENTS];
  uint64_t end = tern_clock_ms() + (uint64_t)(secs * 1000);
  while (!stop && tern_clock_ms() < end) {
    reap(cl, false);
    tern_fd_set r;
    tern_fd_zero(&r);
    int maxfd = 0;
    for (int i = 0; i < 4; i++) {
      tern_fd_set_add(ls[i], &r);
      if (ls[i] > maxfd) maxfd = ls[i];
    }
    /* wake up now and then to look at the stop flag */
    if (tern_select(t, maxfd + 1, &r, NULL, NULL, 200) <= 0) continue;
    int which = 0;
    while (!tern_fd_isset(ls[which], &r)) which++;
    int fd = tern_sock_accept(t, ls[which], NULL);
    if (fd < 0) continue;
    int one = 1;
    tern_sock_setsockopt(t, fd, TERN_IPPROTO_TCP, TERN_TCP_NODELAY, &one,
                         sizeof one);
    client *c = NULL;
    for (int i = 0; i < MAX_CLIENTS && !c; i++)
      if (!cl[i].th) c = &cl[i];
    if (!c) {
      tern_sock_close(t, fd);
      continue;
    }
    *c = (client){.t = t, .fd = fd, .port = ports[which]};
    if (tern_thread_new(&c->th, "echo", serve, c)) {
      c->th = NULL;
      tern_sock_close(t, fd);
    }
  }
  reap(cl, true);
  for (int i = 0; i < 4; i++) tern_sock_close(t, ls[i]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3 || !strchr(argv[2], '/')) {
    fprintf(stderr, "usage: example_sock_echo_tap IFNAME IP/PREFIX [--port N] "
                    "[--secs S] [--lock]\n");
    return 2;
  }
  uint16_t port = 7;
  double secs = 600;
  tern_tcpip_mode mode = TERN_TCPIP_MSG;
  const char *dns = NULL;
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc)
      port = (uint16_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--secs") && i + 1 < argc)
      secs = atof(argv[++i]);
    else if (!strcmp(argv[i], "--lock"))
      mode = TERN_TCPIP_CORE_LOCK;
    else if (!strcmp(argv[i], "--dns") && i + 1 < argc)
      dns = argv[++i];
    else if (!strcmp(argv[i], "--bytes") && i + 1 < argc)
      source_bytes = strtoull(argv[++i], NULL, 10);
  }
  for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = pat(i);
  signal(SIGTERM, on_sig);
  signal(SIGINT, on_sig);
  tern_stack *st;
  if (tern_stack_new(&st, NULL)) return 1;
  tern_tap *tap;
  example_tap_netif(st, argv[1], argv[2], false, &tap);
  /* From here on the stack belongs to the tcpip thread. */
  tern_tcpip *t;
  tern_tcpip_opts o = {.mode = mode, .tap = tap};
  if (tern_tcpip_new(&t, st, &o)) return 1;
  if (dns) {
    tern_addr sv[4];
    size_t n = 0;
    for (const char *s = dns; *s && n < 4;) {
      size_t len = strcspn(s, ",");
      if (tern_addr_parse_ip(s, len, &sv[n]) != TERN_OK) {
        fprintf(stderr, "bad --dns address '%.*s'\n", (int)len, s);
        return 2;
      }
      n++;
      s += len + (s[len] == ',');
    }
    if (tern_tcpip_set_dns_servers(t, sv, n)) return 2;
  }
  int rc = serve_forever(t, port, secs);
  tern_tcpip_free(t);
  tern_stack_free(st);
  tern_tap_close(tap);
  return rc;
}
