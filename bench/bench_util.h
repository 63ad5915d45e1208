/* bench/bench_util.h: shared parts of the connection-memory benchmarks
 * (conn_idle.c, conn_cycle.c). Header-only (static inline) because every
 * .c file in bench/ becomes its own program; nothing here is a benchmark itself.
 *
 * Process design (both programs):
 *
 *   parent (client, plain non-blocking sockets)
 *     |  socketpair: control channel, one line per answer
 *     +-- child: fork + exec of itself: --bench-server FD MAXCONNS
 *              (its name in ps/top: tern-bench-srv);
 *              a tern echo listener on tcp://127.0.0.1:0, nothing else
 *
 * The child is exec'd (not just forked) so that its address space holds
 * nothing of the parent's: its RSS is tern + libc and nothing shared
 * copy-on-write with the client, and the parent's own activity cannot turn
 * shared pages into the child's Private_Dirty.
 *
 * Control protocol (parent -> child, one byte each):
 *   'c'  child answers one line:
 *        "count=%zu accepted=%llu closed=%llu errors=%llu heap=%lld
 *         conn_mem=%zu\n"
 *        count = tern_mgr_count(), heap = mallinfo2().uordblks (-1 if the
 *        C library has no mallinfo2), conn_mem = sum of tern_conn_mem().
 *   't'  diagnostic only, after the honest measurement: malloc_trim(0),
 *        then the same line as 'c'. Shows whether memory RSS kept after
 *        a close is free inside malloc (reclaimable) or still in use.
 *   'q'  child stops its loop, frees the manager and exits 0.
 *   EOF  (parent gone) same as 'q'. The child also has PDEATHSIG=SIGKILL.
 * The first line the child writes, unasked, is "port=%u\n".
 */
#ifndef TERN_BENCH_UTIL_H
#define TERN_BENCH_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "tern/tern.h"

#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define BENCH_HAVE_MALLINFO2 1
#else
#define BENCH_HAVE_MALLINFO2 0
#endif

#define BENCH_EXIT_SKIP 77 /* automake's "skipped" code; run.sh knows it */
#define BENCH_SERVER_ARG "--bench-server"
#define BENCH_MSG "tern-bench-echo\n" /* 16 bytes, one echo per connection */
#define BENCH_MSG_LEN 16
#define BENCH_BATCH 256 /* connections in flight at once (backlog is 511) */

/* ---- small helpers --------------------------------------------------- */

static const char *bench_prog = "bench";

static inline void bench_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: FAIL: ", bench_prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static inline uint64_t bench_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void bench_sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Raise RLIMIT_NOFILE to at least need. 0 on success; -1 (with a message
 * on stderr) if the hard limit is lower and cannot be raised. */
static inline int bench_raise_nofile(rlim_t need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    fprintf(stderr, "%s: getrlimit(RLIMIT_NOFILE): %s\n", bench_prog,
            strerror(errno));
    return -1;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) return 0;
  struct rlimit want = rl;
  want.rlim_cur = need;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
    want.rlim_max = need; /* needs CAP_SYS_RESOURCE */
  if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
    fprintf(stderr,
            "%s: cannot raise RLIMIT_NOFILE to %llu (soft %llu, hard %llu): "
            "%s\n",
            bench_prog, (unsigned long long)need,
            (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
            strerror(errno));
    return -1;
  }
  return 0;
}

/* ---- the server role (runs in the exec'd child) ---------------------- */

typedef struct bench_srv_state {
  tern_mgr *m;
  tern_io *ctl_io;
  int ctl_fd;
  unsigned long long accepted, closed, errors;
} bench_srv_state;

static inline void bench_srv_echo(tern_conn *c, const tern_event *ev,
                                  void *ud) {
  bench_srv_state *st = ud;
  switch (ev->type) {
  case TERN_EV_ACCEPT:
    st->accepted++;
    break;
  case TERN_EV_READ:
    if (ev->read.len > 0) {
      if (tern_send(c, ev->read.data, ev->read.len) != TERN_OK) {
        tern_abort(c);
        break;
      }
      tern_conn_consume(c, ev->read.len);
    }
    break;
  case TERN_EV_ERROR:
    st->errors++;
    break;
  case TERN_EV_CLOSE:
    if (!tern_conn_is_listener(c)) st->closed++;
    break;
  default:
    break;
  }
}

static inline void bench_srv_sum_mem(tern_conn *c, void *arg) {
  *(size_t *)arg += tern_conn_mem(c);
}

static inline void bench_write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

static inline void bench_srv_ctl(tern_io *io, unsigned events, void *ud) {
  bench_srv_state *st = ud;
  (void)events;
  char cmd[64];
  ssize_t r = read(st->ctl_fd, cmd, sizeof(cmd));
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (r <= 0) { /* parent gone */
    tern_io_set(io, 0);
    tern_mgr_stop(st->m);
    return;
  }
  for (ssize_t i = 0; i < r; i++) {
    if (cmd[i] == 'q') {
      tern_io_set(io, 0);
      tern_mgr_stop(st->m);
      return;
    }
    if (cmd[i] != 'c' && cmd[i] != 't') continue;
#if defined(__GLIBC__)
    if (cmd[i] == 't') malloc_trim(0);
#endif
    long long heap = -1;
#if BENCH_HAVE_MALLINFO2
    struct mallinfo2 mi = mallinfo2();
    heap = (long long)mi.uordblks;
#endif
    size_t conn_mem = 0;
    tern_mgr_foreach(st->m, bench_srv_sum_mem, &conn_mem);
    char line[256];
    int n = snprintf(line, sizeof(line),
                     "count=%zu accepted=%llu closed=%llu errors=%llu "
                     "heap=%lld conn_mem=%zu\n",
                     tern_mgr_count(st->m), st->accepted, st->closed,
                     st->errors, heap, conn_mem);
    bench_write_all(st->ctl_fd, line, (size_t)n);
  }
}

/* Entry point of the child: argv = prog --bench-server FD MAXCONNS. */
static inline int bench_server_main(int argc, char **argv) {
  if (argc < 4) return 2;
  prctl(PR_SET_NAME, "tern-bench-srv");
  bench_srv_state st;
  memset(&st, 0, sizeof(st));
  st.ctl_fd = atoi(argv[2]);
  unsigned long max_conns = strtoul(argv[3], NULL, 10);
  if (bench_raise_nofile((rlim_t)max_conns + 100) != 0) return BENCH_EXIT_SKIP;

  tern_mgr_opts opts;
  memset(&opts, 0, sizeof(opts));
  opts.limits.max_conns = (uint32_t)max_conns;
  int rc = tern_mgr_new(&st.m, &opts);
  if (rc != TERN_OK) {
    fprintf(stderr, "server: tern_mgr_new: %s\n", tern_strerror(rc));
    return 1;
  }
  tern_conn *l = NULL;
  rc = tern_listen(st.m, "tcp://127.0.0.1:0", bench_srv_echo, &st, &l);
  if (rc != TERN_OK) {
    fprintf(stderr, "server: tern_listen: %s\n", tern_strerror(rc));
    return 1;
  }
  rc = tern_io_start(tern_mgr_loop(st.m), &st.ctl_io, st.ctl_fd,
                     TERN_IO_READ, bench_srv_ctl, &st);
  if (rc != TERN_OK) {
    fprintf(stderr, "server: tern_io_start: %s\n", tern_strerror(rc));
    return 1;
  }
  char line[32];
  int n = snprintf(line, sizeof(line), "port=%u\n",
                   (unsigned)tern_conn_local(l)->port);
  bench_write_all(st.ctl_fd, line, (size_t)n);

  rc = tern_mgr_run(st.m);
  if (rc != TERN_OK)
    fprintf(stderr, "server: tern_mgr_run: %s\n", tern_strerror(rc));
  tern_io_stop(st.ctl_io);
  tern_mgr_free(st.m);
  close(st.ctl_fd);
  return rc == TERN_OK ? 0 : 1;
}

/* ---- the parent's handle on the server child ------------------------- */

typedef struct bench_srv {
  pid_t pid;
  int ctl;        /* parent's end of the control socketpair */
  uint16_t port;
  char buf[512];  /* partial control input */
  size_t buflen;
} bench_srv;

typedef struct bench_stats {
  size_t count;
  unsigned long long accepted, closed, errors;
  long long heap; /* mallinfo2().uordblks, -1 if unavailable */
  size_t conn_mem;
} bench_stats;

typedef struct bench_mem {
  long rss_kib;           /* VmRSS */
  long private_dirty_kib; /* smaps_rollup Private_Dirty, -1 if absent */
} bench_mem;

/* Read one '\n'-terminated line from the child within timeout_ms. */
static inline int bench_srv_line(bench_srv *s, char *out, size_t outsz,
                                 int timeout_ms) {
  uint64_t deadline = bench_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    char *nl = memchr(s->buf, '\n', s->buflen);
    if (nl != NULL) {
      size_t len = (size_t)(nl - s->buf);
      if (len >= outsz) len = outsz - 1;
      memcpy(out, s->buf, len);
      out[len] = '\0';
      size_t used = (size_t)(nl - s->buf) + 1;
      memmove(s->buf, s->buf + used, s->buflen - used);
      s->buflen -= used;
      return 0;
    }
    uint64_t now = bench_now_ms();
    if (now >= deadline || s->buflen == sizeof(s->buf)) return -1;
    struct pollfd pf = {.fd = s->ctl, .events = POLLIN};
    int pr = poll(&pf, 1, (int)(deadline - now));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return -1;
    ssize_t r = read(s->ctl, s->buf + s->buflen, sizeof(s->buf) - s->buflen);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1; /* child died */
    s->buflen += (size_t)r;
  }
}

/* fork + exec self as the server; wait for its port. */
static inline int bench_srv_start(bench_srv *s, size_t max_conns) {
  memset(s, 0, sizeof(*s));
  s->pid = -1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    bench_fail("socketpair: %s", strerror(errno));
    return -1;
  }
  /* Exec the real path, not /proc/self/exe, so the child's name (comm) is
   * the program's, not "exe". */
  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (sl <= 0) {
    bench_fail("readlink /proc/self/exe: %s", strerror(errno));
    close(sv[0]);
    close(sv[1]);
    return -1;
  }
  self[sl] = '\0';
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    bench_fail("fork: %s", strerror(errno));
    close(sv[0]);
    close(sv[1]);
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    fcntl(sv[1], F_SETFD, 0); /* keep the child's end across exec */
    char fdarg[16], maxarg[24];
    snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
    snprintf(maxarg, sizeof(maxarg), "%zu", max_conns);
    execl(self, bench_prog, BENCH_SERVER_ARG, fdarg, maxarg, (char *)NULL);
    fprintf(stderr, "%s: exec %s: %s\n", bench_prog, self, strerror(errno));
    _exit(127);
  }
  close(sv[1]);
  s->pid = pid;
  s->ctl = sv[0];
  char line[64];
  unsigned port = 0;
  if (bench_srv_line(s, line, sizeof(line), 10000) != 0 ||
      sscanf(line, "port=%u", &port) != 1 || port == 0 || port > 65535) {
    bench_fail("server child did not report its port");
    return -1;
  }
  s->port = (uint16_t)port;
  return 0;
}

/* Send cmd ('c' or 't') and parse the stats line it answers. */
static inline int bench_srv_cmd(bench_srv *s, char cmd, bench_stats *st) {
  if (write(s->ctl, &cmd, 1) != 1) return -1;
  char line[256];
  if (bench_srv_line(s, line, sizeof(line), 10000) != 0) return -1;
  memset(st, 0, sizeof(*st));
  if (sscanf(line,
             "count=%zu accepted=%llu closed=%llu errors=%llu heap=%lld "
             "conn_mem=%zu",
             &st->count, &st->accepted, &st->closed, &st->errors, &st->heap,
             &st->conn_mem) != 6)
    return -1;
  return 0;
}

static inline int bench_srv_query(bench_srv *s, bench_stats *st) {
  return bench_srv_cmd(s, 'c', st);
}

/* Poll the server until tern_mgr_count() == want and every connection
 * that left the count has had its CLOSE delivered (accepted - closed ==
 * want - 1). The second half matters: the count drops when a connection
 * finishes, but tern frees it only when the manager's next flush delivers
 * CLOSE, so count alone can be reached with connections still allocated. */
static inline int bench_srv_wait_count(bench_srv *s, size_t want,
                                       int timeout_ms, bench_stats *st) {
  uint64_t deadline = bench_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    if (bench_srv_query(s, st) != 0) {
      bench_fail("server child stopped answering");
      return -1;
    }
    if (st->count == want && want >= 1 &&
        st->accepted - st->closed == (unsigned long long)(want - 1))
      return 0;
    if (bench_now_ms() >= deadline) {
      bench_fail("server count is %zu, expected %zu after %d ms "
                 "(accepted=%llu closed=%llu errors=%llu)",
                 st->count, want, timeout_ms, st->accepted, st->closed,
                 st->errors);
      return -1;
    }
    bench_sleep_ms(20);
  }
}

static inline long bench_read_kib_field(const char *path, const char *key) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  char line[256];
  size_t klen = strlen(key);
  long v = -1;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      v = strtol(line + klen + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

static inline int bench_read_mem(pid_t pid, bench_mem *m) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  m->rss_kib = bench_read_kib_field(path, "VmRSS");
  snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
  m->private_dirty_kib = bench_read_kib_field(path, "Private_Dirty");
  return m->rss_kib < 0 ? -1 : 0;
}

/* The server child, for the signal handler below (set once started). */
static pid_t bench_alarm_child = -1;

/* Ask the child to exit; kill it if it does not within 5 s. Returns the
 * child's exit status (0 = clean), or -1 if it crashed or had to be
 * killed. */
static inline int bench_srv_stop(bench_srv *s) {
  if (s->pid <= 0) return 0;
  if (write(s->ctl, "q", 1) != 1) {
  }
  int status = 0;
  uint64_t deadline = bench_now_ms() + 5000;
  int ret = -1;
  for (;;) {
    pid_t w = waitpid(s->pid, &status, WNOHANG);
    if (w == s->pid) {
      bench_alarm_child = -1;
      if (WIFEXITED(status)) {
        ret = WEXITSTATUS(status);
        if (ret != 0) bench_fail("server child exited with %d", ret);
      } else if (WIFSIGNALED(status)) {
        bench_fail("server child killed by signal %d (%s)", WTERMSIG(status),
                   strsignal(WTERMSIG(status)));
      }
      break;
    }
    if (w < 0 && errno != EINTR) break;
    if (bench_now_ms() >= deadline) {
      bench_fail("server child did not exit in 5 s after 'q'; killing it");
      kill(s->pid, SIGKILL);
      waitpid(s->pid, &status, 0);
      bench_alarm_child = -1;
      break;
    }
    bench_sleep_ms(10);
  }
  close(s->ctl);
  s->pid = -1;
  return ret;
}

/* The whole program must end in bounded time: SIGALRM (and SIGINT, SIGTERM,
 * SIGHUP) kill the server child, reap it and exit. */
static inline void bench_on_signal(int sig) {
  if (sig == SIGALRM) {
    static const char msg[] = "bench: FAIL: time limit reached, aborting\n";
    if (write(2, msg, sizeof(msg) - 1) < 0) {
    }
  }
  if (bench_alarm_child > 0) {
    kill(bench_alarm_child, SIGKILL);
    waitpid(bench_alarm_child, NULL, 0);
  }
  _exit(sig == SIGALRM ? 3 : 128 + sig);
}

static inline void bench_set_alarm(unsigned seconds) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = bench_on_signal;
  sigaction(SIGALRM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  alarm(seconds);
}

/* ---- the client side: plain non-blocking sockets ---------------------- */

/* Open n connections to 127.0.0.1:port, BENCH_BATCH in flight at a time;
 * on each send BENCH_MSG and read the echo back, so every connection has
 * been accepted by the server and carried I/O. fds[0..n) receive the
 * sockets (left open, idle). 0 on success, -1 (all opened fds closed). */
static inline int bench_open_echo(uint16_t port, int *fds, size_t n,
                                  int timeout_ms) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  uint64_t deadline = bench_now_ms() + (uint64_t)timeout_ms;
  struct pollfd pf[BENCH_BATCH];
  unsigned char got[BENCH_BATCH];
  size_t opened = 0;

  for (size_t i = 0; i < n; i++) fds[i] = -1;
  for (size_t base = 0; base < n; base += BENCH_BATCH) {
    size_t b = n - base < BENCH_BATCH ? n - base : BENCH_BATCH;
    for (size_t j = 0; j < b; j++) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        bench_fail("socket (connection %zu): %s", base + j, strerror(errno));
        goto fail;
      }
      fds[base + j] = fd;
      opened = base + j + 1;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
          errno != EINPROGRESS) {
        bench_fail("connect (connection %zu): %s", base + j, strerror(errno));
        goto fail;
      }
      pf[j].fd = fd;
      pf[j].events = POLLOUT;
      pf[j].revents = 0;
      got[j] = 0;
    }
    size_t done = 0;
    while (done < b) {
      uint64_t now = bench_now_ms();
      if (now >= deadline) {
        bench_fail("timed out opening connections (%zu of %zu echoed)",
                   base + done, n);
        goto fail;
      }
      int pr = poll(pf, (nfds_t)b, (int)(deadline - now));
      if (pr < 0 && errno != EINTR) {
        bench_fail("poll: %s", strerror(errno));
        goto fail;
      }
      for (size_t j = 0; pr > 0 && j < b; j++) {
        if (pf[j].revents == 0 || pf[j].fd < 0) continue;
        int fd = pf[j].fd;
        if (pf[j].events == POLLOUT) {
          int err = 0;
          socklen_t el = sizeof(err);
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
          if (err != 0) {
            bench_fail("connect (connection %zu): %s", base + j,
                       strerror(err));
            goto fail;
          }
          ssize_t w = send(fd, BENCH_MSG, BENCH_MSG_LEN, MSG_NOSIGNAL);
          if (w != BENCH_MSG_LEN) {
            bench_fail("send (connection %zu): %s", base + j,
                       w < 0 ? strerror(errno) : "short write");
            goto fail;
          }
          pf[j].events = POLLIN;
        } else {
          char buf[BENCH_MSG_LEN];
          ssize_t r = recv(fd, buf, BENCH_MSG_LEN - got[j], 0);
          if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          if (r <= 0) {
            bench_fail("echo (connection %zu): %s", base + j,
                       r < 0 ? strerror(errno) : "closed by server");
            goto fail;
          }
          if (memcmp(buf, &BENCH_MSG[got[j]], (size_t)r) != 0) {
            bench_fail("echo (connection %zu): wrong bytes", base + j);
            goto fail;
          }
          got[j] = (unsigned char)(got[j] + r);
          if (got[j] == BENCH_MSG_LEN) {
            pf[j].fd = -1; /* poll ignores negative fds */
            done++;
          }
        }
        pf[j].revents = 0;
      }
    }
  }
  return 0;
fail:
  for (size_t i = 0; i < opened; i++) {
    if (fds[i] >= 0) close(fds[i]);
    fds[i] = -1;
  }
  return -1;
}

static inline void bench_close_all(int *fds, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (fds[i] >= 0) close(fds[i]);
    fds[i] = -1;
  }
}

/* The warm-up: one connection with one echo, closed, and the server back
 * to just its listener. */
static inline int bench_warmup(bench_srv *s, int timeout_ms) {
  int fd = -1;
  bench_stats st;
  if (bench_open_echo(s->port, &fd, 1, timeout_ms) != 0) return -1;
  close(fd);
  return bench_srv_wait_count(s, 1, timeout_ms, &st);
}

#endif /* TERN_BENCH_UTIL_H */
