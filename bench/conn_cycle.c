/* bench/conn_cycle.c: does the server give memory back after connections
 * close? (Same two-process design as conn_idle, see bench_util.h.)
 *
 * After a warm-up connection, repeat C times (default 10): open N
 * connections (default 1000), one 16-byte echo on each, close them all
 * from the client, wait until the server's tern_mgr_count() is back to 1
 * (its listener), then read the server's VmRSS, Private_Dirty and
 * mallinfo2().uordblks (malloc in-use bytes). No malloc_trim(): this is the
 * honest figure; uordblks separates heap growth (a leak or a cache that
 * keeps growing) from RSS noise (free pages glibc keeps).
 *
 * Output:
 *   conn_cycle cycle=0 ...            after the warm-up (baseline)
 *   conn_cycle cycle=K rss_kib=... private_dirty_kib=... heap_inuse_bytes=...
 *              rss_open_kib=...       (K = 1..C; rss_open: with N open)
 *   conn_cycle growth_kib=G ...       VmRSS(cycle C) - VmRSS(cycle 1)
 * Target: growth_kib < 64 (no growth after the first cycle).
 *
 * Usage: conn_cycle [-n N] [-c CYCLES] [-t SECONDS]   (1000, 10, 50)
 * Exit: 0 done, 77 skipped, 1 failure.
 */
#include "bench_util.h"

static void usage(void) {
  fprintf(stderr,
          "usage: conn_cycle [-n CONNECTIONS] [-c CYCLES] [-t TIME_LIMIT_S]\n");
}

int main(int argc, char **argv) {
  bench_prog = "conn_cycle";
  if (argc > 1 && strcmp(argv[1], BENCH_SERVER_ARG) == 0)
    return bench_server_main(argc, argv);

  size_t n = 1000;
  unsigned cycles = 10;
  unsigned limit_s = 50;
  int opt;
  while ((opt = getopt(argc, argv, "n:c:t:h")) != -1) {
    switch (opt) {
    case 'n':
      n = strtoul(optarg, NULL, 10);
      break;
    case 'c':
      cycles = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case 't':
      limit_s = (unsigned)strtoul(optarg, NULL, 10);
      break;
    default:
      usage();
      return opt == 'h' ? 0 : 2;
    }
  }
  if (n == 0 || n > 1000000 || cycles < 2 || cycles > 10000 || limit_s == 0) {
    usage();
    return 2;
  }

  if (bench_raise_nofile((rlim_t)n + 100) != 0) {
    printf("conn_cycle SKIP n=%zu reason=RLIMIT_NOFILE_too_low\n", n);
    fprintf(stderr, "conn_cycle: SKIPPED: need %zu descriptors per process\n",
            n + 100);
    return BENCH_EXIT_SKIP;
  }
  int *fds = calloc(n, sizeof(*fds));
  if (fds == NULL) {
    bench_fail("out of memory");
    return 1;
  }
  for (size_t i = 0; i < n; i++) fds[i] = -1;

  bench_set_alarm(limit_s);
  bench_srv srv;
  if (bench_srv_start(&srv, n + 16) != 0) {
    if (srv.pid > 0) bench_srv_stop(&srv);
    free(fds);
    return 1;
  }
  bench_alarm_child = srv.pid;
  const int wait_ms = 20000;
  int ok = 0;
  bench_stats st, st_first, st_last, st_open;
  bench_mem m, m_first, m_last, m_open;
  long rss_open_max = 0;
  memset(&st_first, 0, sizeof(st_first));
  memset(&m_first, 0, sizeof(m_first));
  memset(&st_last, 0, sizeof(st_last));
  memset(&m_last, 0, sizeof(m_last));

  if (bench_warmup(&srv, wait_ms) != 0) goto out;
  if (bench_srv_wait_count(&srv, 1, wait_ms, &st) != 0) goto out;
  if (bench_read_mem(srv.pid, &m) != 0) {
    bench_fail("cannot read /proc/%d/status", (int)srv.pid);
    goto out;
  }
  printf("conn_cycle cycle=0 n=1 rss_kib=%ld private_dirty_kib=%ld "
         "heap_inuse_bytes=%lld count=%zu\n",
         m.rss_kib, m.private_dirty_kib, st.heap, st.count);
  fflush(stdout);

  for (unsigned k = 1; k <= cycles; k++) {
    if (bench_open_echo(srv.port, fds, n, wait_ms * 2) != 0) goto out;
    if (bench_srv_wait_count(&srv, n + 1, wait_ms, &st_open) != 0) goto out;
    if (bench_read_mem(srv.pid, &m_open) != 0) goto out;
    if (m_open.rss_kib > rss_open_max) rss_open_max = m_open.rss_kib;
    bench_close_all(fds, n);
    if (bench_srv_wait_count(&srv, 1, wait_ms, &st) != 0) goto out;
    if (bench_read_mem(srv.pid, &m) != 0) goto out;
    printf("conn_cycle cycle=%u n=%zu rss_kib=%ld private_dirty_kib=%ld "
           "heap_inuse_bytes=%lld count=%zu rss_open_kib=%ld "
           "heap_open_bytes=%lld\n",
           k, n, m.rss_kib, m.private_dirty_kib, st.heap, st.count,
           m_open.rss_kib, st_open.heap);
    fflush(stdout);
    if (k == 1) {
      st_first = st;
      m_first = m;
    }
    st_last = st;
    m_last = m;
  }
  printf("conn_cycle growth_kib=%ld private_dirty_growth_kib=%ld "
         "heap_growth_bytes=%lld cycles=%u n=%zu rss_first_kib=%ld "
         "rss_last_kib=%ld rss_open_max_kib=%ld server_errors=%llu\n",
         m_last.rss_kib - m_first.rss_kib,
         (m_first.private_dirty_kib >= 0)
             ? m_last.private_dirty_kib - m_first.private_dirty_kib
             : -1L,
         st_first.heap >= 0 ? st_last.heap - st_first.heap : -1LL, cycles, n,
         m_first.rss_kib, m_last.rss_kib, rss_open_max, st_last.errors);
  fflush(stdout);
  ok = 1;
out:
  bench_close_all(fds, n);
  free(fds);
  int rc = bench_srv_stop(&srv);
  alarm(0);
  return ok && rc == 0 ? 0 : 1;
}
