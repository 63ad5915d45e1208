/* tap_tcp_server: tern's own stack on a TAP device, driven by a poll()
 * superloop, serving TCP with the raw API: the tern side of the TAP
 * throughput benchmark (bench/ip_tap.sh) and bulk test
 * (tests/integ/ip_tap_bulk.sh):
 *   port 9   sink: reads until FIN, prints "sink bytes=N fnv=H"
 *   port 10  discard: the same without the hash (speed runs)
 *   port 19  source: writes --bytes N bytes (the tcp_blast pattern), closes
 *   port 7   echo
 *
 *   example_tap_tcp_server IFNAME IP/PREFIX [--bytes N] [--secs S] [--no-offload]
 *                [--impair LOSS,REORDER]   (received frames, e.g. 0.01,0.01)
 *
 * On SIGTERM (or after --secs) prints "cpu_s=U" (user+system seconds of
 * this process) and exits. The kernel side is tests/tools/tcp_blast.c.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tern/tern.h"
#include "tap_netif.h"

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static uint64_t source_bytes = 1000000000ull;

static uint8_t pat(uint64_t i) { return (uint8_t)((i * 7 + i / 4096) & 0xff); }

typedef struct sess {
  uint64_t off, total, fnv;
  int kind; /* 9, 10, 19, 7 */
} sess;

#define PERIOD (1u << 20)
static uint8_t pattern[PERIOD + 65536];

static void sess_err(void *arg, int err) {
  (void)err;
  free(arg);
}

static int sink_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  sess *s = arg;
  if (!p) {
    printf("sink bytes=%llu fnv=%016llx\n", (unsigned long long)s->total,
           (unsigned long long)s->fnv);
    fflush(stdout);
    free(s);
    tern_tcp_close(pcb);
    return TERN_ECLOSED;
  }
  for (tern_pbuf *q = p; q && s->kind == 9; q = tern_pbuf_next(q)) {
    const uint8_t *d = tern_pbuf_data(q);
    size_t n = tern_pbuf_len(q);
    uint64_t h = s->fnv;
    for (size_t i = 0; i < n; i++) h = (h ^ d[i]) * 1099511628211ull;
    s->fnv = h;
  }
  s->total += tern_pbuf_tot_len(p);
  tern_tcp_recved(pcb, (uint32_t)tern_pbuf_tot_len(p));
  tern_pbuf_free(p);
  return TERN_OK;
}

static int source_fill(sess *s, tern_tcp *pcb, bool may_close) {
  while (s->off < s->total) {
    uint32_t room = tern_tcp_sndbuf(pcb);
    if (room == 0) break;
    size_t n = s->total - s->off;
    if (n > 65536) n = 65536;
    if (n > room) n = room;
    long w = tern_tcp_write(pcb, pattern + s->off % PERIOD, n,
                            TERN_TCP_WRITE_COPY);
    if (w <= 0) break;
    s->off += (uint64_t)w;
  }
  tern_tcp_output(pcb);
  if (may_close && s->off >= s->total) {
    free(s);
    tern_tcp_close(pcb);
    return TERN_ECLOSED;
  }
  return TERN_OK;
}

static int source_sent(void *arg, tern_tcp *pcb, uint32_t len) {
  (void)len;
  return source_fill(arg, pcb, true);
}

static int discard_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  (void)arg;
  if (!p) return TERN_OK;
  tern_tcp_recved(pcb, (uint32_t)tern_pbuf_tot_len(p));
  tern_pbuf_free(p);
  return TERN_OK;
}

static int echo_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  if (!p) {
    free(arg);
    tern_tcp_close(pcb);
    return TERN_ECLOSED;
  }
  for (tern_pbuf *q = p; q; q = tern_pbuf_next(q))
    tern_tcp_write(pcb, tern_pbuf_data(q), tern_pbuf_len(q),
                   TERN_TCP_WRITE_COPY);
  tern_tcp_output(pcb);
  tern_tcp_recved(pcb, (uint32_t)tern_pbuf_tot_len(p));
  tern_pbuf_free(p);
  return TERN_OK;
}

static const tern_tcp_cbs sink_cbs = {.recv = sink_recv, .err = sess_err};
static const tern_tcp_cbs source_cbs = {
    .recv = discard_recv, .sent = source_sent, .err = sess_err};
static const tern_tcp_cbs echo_cbs = {.recv = echo_recv, .err = sess_err};

static int on_accept(void *arg, tern_tcp *pcb) {
  int kind = (int)(intptr_t)arg;
  sess *s = calloc(1, sizeof *s);
  if (!s) return TERN_ENOMEM;
  s->kind = kind;
  s->fnv = 1469598103934665603ull;
  tern_tcp_set_nodelay(pcb, kind == 7);
  if (kind == 9 || kind == 10) tern_tcp_set_callbacks(pcb, &sink_cbs, s);
  if (kind == 7) tern_tcp_set_callbacks(pcb, &echo_cbs, s);
  if (kind == 19) {
    s->total = source_bytes;
    tern_tcp_set_callbacks(pcb, &source_cbs, s);
    source_fill(s, pcb, false); /* closes from sent, never in accept */
  }
  return TERN_OK;
}

static const tern_tcp_cbs listen_cbs = {.accept = on_accept};

static void listen_on(tern_stack *st, uint16_t port) {
  tern_tcp *l = tern_tcp_new(st);
  tern_addr a = {.family = TERN_AF_INET, .port = port};
  if (!l || tern_tcp_bind(l, &a) || tern_tcp_listen(l, 16)) {
    fprintf(stderr, "listen %u failed\n", port);
    exit(1);
  }
  tern_tcp_set_callbacks(l, &listen_cbs, (void *)(intptr_t)port);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: example_tap_tcp_server IFNAME IP/PREFIX [--bytes N] "
                    "[--secs S] [--no-offload]\n");
    return 2;
  }
  double secs = 600;
  bool no_offload = false;
  double loss = 0, reorder = 0;
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--bytes") && i + 1 < argc)
      source_bytes = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--secs") && i + 1 < argc)
      secs = atof(argv[++i]);
    else if (!strcmp(argv[i], "--no-offload"))
      no_offload = true;
    else if (!strcmp(argv[i], "--impair") && i + 1 < argc &&
             sscanf(argv[++i], "%lf,%lf", &loss, &reorder) != 2)
      return 2;
  }
  signal(SIGTERM, on_sig);
  signal(SIGINT, on_sig);
  tern_stack *st;
  if (tern_stack_new(&st, NULL)) return 1;
  tern_tap *tap;
  example_tap_netif(st, argv[1], argv[2], no_offload, &tap);
  if (loss > 0 || reorder > 0) tern_tap_set_impair(tap, loss, reorder, 42);
  for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = pat(i);
  listen_on(st, 9);
  listen_on(st, 10);
  listen_on(st, 19);
  listen_on(st, 7);
  printf("ready\n");
  fflush(stdout);
  uint64_t end = tern_clock_ms() + (uint64_t)(secs * 1000);
  struct pollfd pfd = {.fd = tern_tap_fd(tap), .events = POLLIN};
  while (!stop && tern_clock_ms() < end) {
    uint64_t now = tern_clock_ms();
    tern_stack_advance(st, now);
    uint64_t due = tern_stack_next_due(st);
    int timeout = due == UINT64_MAX ? 100 : due <= now ? 0 : (int)(due - now);
    if (timeout > 100) timeout = 100;
    if (poll(&pfd, 1, timeout) > 0) {
      tern_stack_advance(st, tern_clock_ms());
      for (int i = 0; i < 16 && tern_tap_poll(tap) > 0; i++) {
      }
    }
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long long us = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                 (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  printf("cpu_s=%lld.%06lld\n", us / 1000000, us % 1000000);
  tern_stack_free(st);
  tern_tap_close(tap);
  return 0;
}
