/* bench/api_call.c: cost of one sequential-API call in both threading
 * modes of the api layer: a message to the stack thread and a wait on a
 * semaphore (TERN_TCPIP_MSG) against taking the stack's lock and running
 * the step in the caller (TERN_TCPIP_CORE_LOCK).
 *
 *   api_call [-n CALLS] [-t THREADS]   (default 200000 calls, 1 and 4
 *                                       threads)
 *
 * The call is tern_netconn_sndbuf on a connected TCP netconn (one stack
 * step that reads the pcb), so the number is the api layer's overhead
 * per call, not the stack's work. Prints one line per mode and thread
 * count:  mode=msg threads=1 ns_per_call=..
 * The stack runs on its own tcpip thread with the in-memory wire; the
 * connection is between two stacks on that thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tern/tern.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef struct net2 {
  tern_stack *a, *b;
  tern_wire *w;
  tern_tcpip *ta, *tb;
} net2;

static tern_addr addr(const char *ip, uint16_t port) {
  tern_addr a;
  memset(&a, 0, sizeof a);
  tern_addr_parse_ip(ip, strlen(ip), &a);
  a.port = port;
  return a;
}

static int add_netif(tern_stack *st, tern_wire *w, int end, const char *ip) {
  tern_netif_opts no = {0};
  no.flags = TERN_NETIF_ETHERNET;
  no.driver = tern_wire_driver();
  no.prefix_len = 24;
  no.name = end ? "wb" : "wa";
  memcpy(no.mac, end ? "\x02\x00\x00\x00\x07\x02" : "\x02\x00\x00\x00\x07\x01",
         6);
  no.addr = addr(ip, 0);
  no.driver_state = tern_wire_end(w, end);
  tern_netif *nif;
  if (tern_netif_add(st, &no, &nif)) return -1;
  tern_wire_attach(w, end, nif);
  tern_netif_set_up(nif, true);
  return 0;
}

static int up(net2 *n, tern_tcpip_mode mode) {
  memset(n, 0, sizeof *n);
  if (tern_stack_new(&n->a, NULL) || tern_stack_new(&n->b, NULL) ||
      tern_wire_new(&n->w, 1) || add_netif(n->a, n->w, 0, "10.7.0.1") ||
      add_netif(n->b, n->w, 1, "10.7.0.2"))
    return -1;
  tern_tcpip_opts to = {.mode = mode, .wire = n->w};
  if (tern_tcpip_new(&n->ta, n->a, &to)) return -1;
  tern_tcpip_opts tb = {.share = n->ta};
  return tern_tcpip_new(&n->tb, n->b, &tb) ? -1 : 0;
}

static void down(net2 *n) {
  tern_tcpip_free(n->tb);
  tern_tcpip_free(n->ta);
  tern_stack_free(n->a);
  tern_stack_free(n->b);
  tern_wire_free(n->w);
}

typedef struct job {
  tern_netconn *nc;
  long calls;
} job;

static void worker(void *arg) {
  job *j = arg;
  for (long i = 0; i < j->calls; i++) tern_netconn_sndbuf(j->nc);
}

static void run(tern_tcpip_mode mode, int threads, long calls) {
  net2 n;
  if (up(&n, mode)) {
    fprintf(stderr, "setup failed\n");
    exit(1);
  }
  tern_netconn *l, *c, *s;
  tern_addr a = addr("10.7.0.2", 5);
  if (tern_netconn_new(&l, n.tb, TERN_NETCONN_TCP) ||
      tern_netconn_bind(l, &a) || tern_netconn_listen(l, 4) ||
      tern_netconn_new(&c, n.ta, TERN_NETCONN_TCP) ||
      tern_netconn_connect(c, &a) || tern_netconn_accept(l, &s)) {
    fprintf(stderr, "connect failed\n");
    exit(1);
  }
  job j = {c, 1000};
  worker(&j); /* warm up */
  j.calls = calls / threads;
  tern_thread *th[64];
  double t0 = now_ns();
  for (int i = 0; i < threads; i++) tern_thread_new(&th[i], "w", worker, &j);
  for (int i = 0; i < threads; i++) tern_thread_join(th[i]);
  double ns = (now_ns() - t0) / (double)(j.calls * threads);
  printf("mode=%s threads=%d ns_per_call=%.0f\n",
         mode == TERN_TCPIP_MSG ? "msg" : "lock", threads, ns);
  tern_netconn_close(c);
  tern_netconn_close(s);
  tern_netconn_close(l);
  down(&n);
}

int main(int argc, char **argv) {
  long calls = 200000;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "-n")) calls = atol(argv[i + 1]);
    if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
  }
  if (threads < 0 || threads > 64) return 2;
  for (int m = 0; m < 2; m++) {
    tern_tcpip_mode mode = m ? TERN_TCPIP_CORE_LOCK : TERN_TCPIP_MSG;
    if (threads) {
      run(mode, threads, calls);
    } else {
      run(mode, 1, calls);
      run(mode, 4, calls);
    }
  }
  return 0;
}
