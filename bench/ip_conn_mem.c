/* ip_conn_mem: memory of tern's own stack per idle TCP connection, and
 * growth across connect/disconnect cycles. Two stacks joined by the
 * in-memory wire on a virtual clock; N connections from A to B's
 * listener, all established and idle; the heap in use (mallinfo2) and
 * the pool blocks in use are read before and after.
 *
 *   ip_conn_mem [-n N] [-c CYCLES]
 *
 * Prints "pcb_bytes=... per_conn_heap=... pool_blocks_idle=... growth=..."
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"

static int accepted;
static int on_accept(void *arg, tern_tcp *pcb) {
  (void)arg;
  (void)pcb;
  accepted++;
  return TERN_OK;
}
static int connected;
static int on_connected(void *arg, tern_tcp *pcb) {
  (void)arg;
  (void)pcb;
  connected++;
  return TERN_OK;
}
static void on_err(void *arg, int err) {
  (void)arg;
  (void)err;
}
static int srv_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  (void)arg;
  if (p) {
    tern_tcp_recved(pcb, (uint32_t)tern_pbuf_tot_len(p));
    tern_pbuf_free(p);
    return TERN_OK;
  }
  tern_tcp_close(pcb); /* the peer is done: so are we */
  return TERN_ECLOSED;
}
static const tern_tcp_cbs lcbs = {
    .accept = on_accept, .recv = srv_recv, .err = on_err};
static bool never(void *ud) {
  (void)ud;
  return false;
}
static const tern_tcp_cbs ccbs = {.connected = on_connected, .err = on_err};

static int want;
static bool all_up(void *ud) {
  (void)ud;
  return connected >= want && accepted >= want;
}
static tern_stack *A, *B;
static bool all_gone(void *ud) {
  (void)ud;
  tern_stack_stats sa, sb;
  tern_stack_get_stats(A, &sa);
  tern_stack_get_stats(B, &sb);
  return sa.tcp_pcbs == 0 && sb.tcp_pcbs == 1;
}

static size_t heap(void) { return mallinfo2().uordblks; }

int main(int argc, char **argv) {
  int n = 10000, cycles = 5;
  for (int i = 1; i + 1 < argc; i++) {
    if (!strcmp(argv[i], "-n")) n = atoi(argv[++i]);
    if (!strcmp(argv[i], "-c")) cycles = atoi(argv[++i]);
  }
  tern_stack_opts o = {0};
  o.pool_bytes = 16u << 20;
  o.max_tcp = (uint32_t)n + 16;
  o.max_time_wait = (uint32_t)n + 16;
  tern_wire *w;
  if (tern_stack_new(&A, &o) || tern_stack_new(&B, &o) || tern_wire_new(&w, 1))
    return 1;
  tern_netif_opts no = {0};
  tern_netif *na, *nb;
  no.flags = TERN_NETIF_ETHERNET;
  no.driver = tern_wire_driver();
  no.prefix_len = 16;
  memcpy(no.mac, "\x02\0\0\0\0\x01", 6);
  tern_addr_parse_ip("10.9.0.1", 8, &no.addr);
  no.driver_state = tern_wire_end(w, 0);
  tern_netif_add(A, &no, &na);
  memcpy(no.mac, "\x02\0\0\0\0\x02", 6);
  tern_addr_parse_ip("10.9.0.2", 8, &no.addr);
  no.driver_state = tern_wire_end(w, 1);
  tern_netif_add(B, &no, &nb);
  tern_wire_attach(w, 0, na);
  tern_wire_attach(w, 1, nb);
  tern_netif_set_up(na, true);
  tern_netif_set_up(nb, true);
  tern_tcp *l = tern_tcp_new(B);
  tern_addr any = {.family = TERN_AF_INET, .port = 80};
  tern_tcp_bind(l, &any);
  tern_tcp_set_callbacks(l, &lcbs, NULL);
  tern_tcp_listen(l, 1024);
  tern_addr to;
  tern_addr_parse_ip("10.9.0.2", 8, &to);
  to.port = 80;
  uint64_t now = 0;
  tern_tcp **pcbs = calloc((size_t)n, sizeof *pcbs);
  size_t base = 0, after_first = 0, idle_heap = 0;
  uint32_t idle_pool = 0;
  for (int c = 0; c < cycles; c++) {
    size_t h0 = heap();
    connected = accepted = 0;
    want = n;
    for (int i = 0; i < n; i++) {
      pcbs[i] = tern_tcp_new(A);
      tern_tcp_set_callbacks(pcbs[i], &ccbs, NULL);
      if (tern_tcp_connect(pcbs[i], &to)) return 1;
    }
    if (!tern_wire_run(w, A, B, &now, now + 600000, all_up, NULL)) {
      fprintf(stderr, "only %d/%d up\n", connected, n);
      return 1;
    }
    /* let delayed ACKs and the like settle */
    tern_wire_run(w, A, B, &now, now + 1000, never, NULL);
    if (c == 0) {
      tern_stack_stats sa, sb;
      tern_stack_get_stats(A, &sa);
      tern_stack_get_stats(B, &sb);
      idle_heap = heap() - h0;
      idle_pool = sa.pool_used + sb.pool_used;
    }
    for (int i = 0; i < n; i++) tern_tcp_close(pcbs[i]);
    /* B's side closes on FIN (srv_recv); A's pcbs pass TIME_WAIT */
    if (!tern_wire_run(w, A, B, &now, now + 600000, all_gone, NULL)) {
      tern_stack_stats sa, sb;
      tern_stack_get_stats(A, &sa);
      tern_stack_get_stats(B, &sb);
      fprintf(stderr, "cycle %d: pcbs left a=%u b=%u\n", c, sa.tcp_pcbs,
              sb.tcp_pcbs);
      return 1;
    }
    malloc_trim(0);
    if (c == 0) {
      base = h0;
      after_first = heap();
    }
  }
  size_t end = heap();
  printf("conns=%d per_conn_heap_both_sides=%.0f per_conn_heap_per_side=%.0f "
         "pool_blocks_idle=%u heap_growth_after_first_cycle=%ld "
         "heap_after_vs_before=%ld\n",
         n, (double)idle_heap / n, (double)idle_heap / n / 2, idle_pool,
         (long)end - (long)after_first, (long)end - (long)base);
  tern_tcp_close(l);
  tern_stack_free(A);
  tern_stack_free(B);
  tern_wire_free(w);
  free(pcbs);
  return 0;
}
