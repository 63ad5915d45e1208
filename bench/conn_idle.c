/* bench/conn_idle.c: server memory per idle connection.
 *
 * A tern echo server (exec'd child, see bench_util.h) and a client
 * (this process, plain non-blocking sockets):
 *   1. warm-up: one connection, one echo, closed; server back to count 1;
 *      baseline = the server's VmRSS / Private_Dirty / malloc in-use.
 *   2. open N connections, one 16-byte echo on each (so each one was
 *      accepted and did I/O), leave them idle; wait for
 *      tern_mgr_count() == N+1 (listener included); measure.
 *   3. close them all from the client side; wait for count == 1 and every
 *      CLOSE delivered; measure.
 *   4. diagnostic only, after the honest numbers: ask the server to run
 *      malloc_trim(0) and measure again (rss_after_trim_kib). If that is
 *      near the baseline, what stayed after the close was free memory that
 *      malloc kept, not memory tern still holds.
 *
 * Output (one line each, key=value):
 *   conn_idle phase=base|idle|closed|trimmed ...   raw readings
 *   conn_idle n=N rss_base_kib= rss_idle_kib= bytes_per_conn= ...  result
 * bytes_per_conn = (VmRSS_idle - VmRSS_base) * 1024 / N. Kernel socket
 * memory is not in the process RSS and is not counted.
 *
 * Usage: conn_idle [-n N] [-t SECONDS]   (defaults 10000, 50)
 * Exit: 0 done (whatever the numbers), 77 skipped (descriptor limit),
 * 1 failure (server crash, connections not accepted or not closed...).
 */
#include "bench_util.h"

static void usage(void) {
  fprintf(stderr, "usage: conn_idle [-n CONNECTIONS] [-t TIME_LIMIT_S]\n");
}

static void print_phase(const char *phase, size_t n, const bench_stats *st,
                        const bench_mem *mem) {
  printf("conn_idle phase=%s n=%zu count=%zu rss_kib=%ld "
         "private_dirty_kib=%ld heap_inuse_bytes=%lld conn_mem_bytes=%zu\n",
         phase, n, st->count, mem->rss_kib, mem->private_dirty_kib, st->heap,
         st->conn_mem);
  fflush(stdout);
}

static double per_conn(long long after, long long before, long long scale,
                       size_t n) {
  return n ? (double)(after - before) * (double)scale / (double)n : 0.0;
}

int main(int argc, char **argv) {
  bench_prog = "conn_idle";
  if (argc > 1 && strcmp(argv[1], BENCH_SERVER_ARG) == 0)
    return bench_server_main(argc, argv);

  size_t n = 10000;
  unsigned limit_s = 50;
  int opt;
  while ((opt = getopt(argc, argv, "n:t:h")) != -1) {
    switch (opt) {
    case 'n':
      n = strtoul(optarg, NULL, 10);
      break;
    case 't':
      limit_s = (unsigned)strtoul(optarg, NULL, 10);
      break;
    default:
      usage();
      return opt == 'h' ? 0 : 2;
    }
  }
  if (n == 0 || n > 1000000 || limit_s == 0) {
    usage();
    return 2;
  }

  if (bench_raise_nofile((rlim_t)n + 100) != 0) {
    printf("conn_idle SKIP n=%zu reason=RLIMIT_NOFILE_too_low\n", n);
    fprintf(stderr,
            "conn_idle: SKIPPED: need %zu descriptors per process; raise the "
            "hard limit (ulimit -Hn) or run with a smaller -n\n",
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
  bench_stats st_base, st_idle, st_closed;
  bench_mem m_base, m_idle, m_closed;

  if (bench_warmup(&srv, wait_ms) != 0) goto out;
  if (bench_srv_wait_count(&srv, 1, wait_ms, &st_base) != 0) goto out;
  if (bench_read_mem(srv.pid, &m_base) != 0) {
    bench_fail("cannot read /proc/%d/status", (int)srv.pid);
    goto out;
  }
  print_phase("base", 0, &st_base, &m_base);

  uint64_t t0 = bench_now_ms();
  if (bench_open_echo(srv.port, fds, n, wait_ms * 2) != 0) goto out;
  uint64_t t_open = bench_now_ms() - t0;
  if (bench_srv_wait_count(&srv, n + 1, wait_ms, &st_idle) != 0) goto out;
  if (bench_read_mem(srv.pid, &m_idle) != 0) goto out;
  print_phase("idle", n, &st_idle, &m_idle);

  t0 = bench_now_ms();
  bench_close_all(fds, n);
  if (bench_srv_wait_count(&srv, 1, wait_ms, &st_closed) != 0) goto out;
  uint64_t t_close = bench_now_ms() - t0;
  if (bench_read_mem(srv.pid, &m_closed) != 0) goto out;
  print_phase("closed", 0, &st_closed, &m_closed);

  bench_stats st_trim;
  bench_mem m_trim;
  if (bench_srv_cmd(&srv, 't', &st_trim) != 0 ||
      bench_read_mem(srv.pid, &m_trim) != 0) {
    bench_fail("server child stopped answering");
    goto out;
  }
  print_phase("trimmed", 0, &st_trim, &m_trim);

  printf("conn_idle n=%zu rss_base_kib=%ld rss_idle_kib=%ld "
         "bytes_per_conn=%.0f private_dirty_bytes_per_conn=%.0f "
         "heap_bytes_per_conn=%.0f tern_conn_mem_per_conn=%.0f "
         "rss_after_close_kib=%ld after_close_ratio=%.3f "
         "heap_after_close_delta_bytes=%lld rss_after_trim_kib=%ld "
         "server_errors=%llu open_ms=%llu close_ms=%llu\n",
         n, m_base.rss_kib, m_idle.rss_kib,
         per_conn(m_idle.rss_kib, m_base.rss_kib, 1024, n),
         m_base.private_dirty_kib >= 0
             ? per_conn(m_idle.private_dirty_kib, m_base.private_dirty_kib,
                        1024, n)
             : -1.0,
         st_base.heap >= 0 ? per_conn(st_idle.heap, st_base.heap, 1, n) : -1.0,
         (double)st_idle.conn_mem / (double)n, m_closed.rss_kib,
         m_base.rss_kib > 0 ? (double)m_closed.rss_kib / (double)m_base.rss_kib
                            : 0.0,
         st_base.heap >= 0 ? st_closed.heap - st_base.heap : -1LL,
         m_trim.rss_kib,
         st_closed.errors, (unsigned long long)t_open,
         (unsigned long long)t_close);
  fflush(stdout);
  ok = 1;
out:
  bench_close_all(fds, n);
  free(fds);
  int rc = bench_srv_stop(&srv);
  alarm(0);
  return ok && rc == 0 ? 0 : 1;
}
