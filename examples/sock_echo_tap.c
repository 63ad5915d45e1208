/* sock_echo_tap: a blocking TCP echo server written with tern's BSD-style
 * sockets (tern/sockets.h), one thread per client, on tern's own stack on
 * a TAP device. The stack runs on its tcpip thread; this program's threads
 * only make blocking socket calls, as code ported from POSIX would.
 *
 *   example_sock_echo_tap IFNAME IP/PREFIX [--port N] [--secs S] [--lock]
 *
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

#define MAX_CLIENTS 64

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

typedef struct client {
  tern_tcpip *t;
  int fd;
  tern_thread *th;
  volatile int done; /* set by the client thread, read by main */
} client;

static void serve(void *arg) {
  client *c = arg;
  char buf[4096];
  long n, total = 0;
  while ((n = tern_sock_recv(c->t, c->fd, buf, sizeof buf, 0)) > 0) {
    for (long off = 0; off < n;) {
      long w = tern_sock_send(c->t, c->fd, buf + off, (size_t)(n - off), 0);
      if (w < 0) goto out;
      off += w;
    }
    total += n;
  }
out:
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

static int serve_forever(tern_tcpip *t, uint16_t port, double secs) {
  int l = tern_socket(t, TERN_AF_INET, TERN_SOCK_STREAM, 0);
  tern_addr any = {.family = TERN_AF_INET, .port = port};
  if (l < 0 || tern_sock_bind(t, l, &any) || tern_sock_listen(t, l, 16)) {
    fprintf(stderr, "listen: errno %d\n", tern_errno());
    return 1;
  }
  /* wake up now and then to look at the stop flag */
  struct timeval tv = {0, 200000};
  tern_sock_setsockopt(t, l, TERN_SOL_SOCKET, TERN_SO_RCVTIMEO, &tv,
                       sizeof tv);
  printf("ready\n");
  fflush(stdout);
  static client cl[MAX_CLIENTS];
  uint64_t end = tern_clock_ms() + (uint64_t)(secs * 1000);
  while (!stop && tern_clock_ms() < end) {
    reap(cl, false);
    int fd = tern_sock_accept(t, l, NULL);
    if (fd < 0) continue; /* EAGAIN: the timeout */
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
    *c = (client){.t = t, .fd = fd};
    if (tern_thread_new(&c->th, "echo", serve, c)) {
      c->th = NULL;
      tern_sock_close(t, fd);
    }
  }
  reap(cl, true);
  tern_sock_close(t, l);
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
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc)
      port = (uint16_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--secs") && i + 1 < argc)
      secs = atof(argv[++i]);
    else if (!strcmp(argv[i], "--lock"))
      mode = TERN_TCPIP_CORE_LOCK;
  }
  signal(SIGTERM, on_sig);
  signal(SIGINT, on_sig);
  tern_stack *st;
  if (tern_stack_new(&st, NULL)) return 1;
  tern_tap *tap;
  tern_tap_opts to = {.ifname = argv[1]};
  if (tern_tap_open(&tap, &to)) {
    fprintf(stderr, "cannot open TAP %s\n", argv[1]);
    return 1;
  }
  tern_netif_opts no = {0};
  no.name = argv[1];
  const char *slash = strchr(argv[2], '/');
  tern_addr_parse_ip(argv[2], (size_t)(slash - argv[2]), &no.addr);
  no.prefix_len = (uint8_t)atoi(slash + 1);
  tern_tap_netif_opts(tap, &no);
  tern_netif *nif;
  if (tern_netif_add(st, &no, &nif)) return 1;
  tern_tap_attach(tap, nif);
  tern_netif_set_up(nif, true);
  /* From here on the stack belongs to the tcpip thread. */
  tern_tcpip *t;
  tern_tcpip_opts o = {.mode = mode, .tap = tap};
  if (tern_tcpip_new(&t, st, &o)) return 1;
  int rc = serve_forever(t, port, secs);
  tern_tcpip_free(t);
  tern_stack_free(st);
  tern_tap_close(tap);
  return rc;
}
