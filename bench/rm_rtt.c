/* bench/rm_rtt.c: round-trip latency of a small devctl through the
 * resource manager (client process <-> server process), against the floor:
 * a bare SOCK_SEQPACKET send / receive / reply between two processes with
 * the same message sizes (24-byte request, 36-byte reply).
 *
 *   rm_rtt [-n ROUNDTRIPS] [-p [-H HI]]  (default 20000 each, after 1000
 *                                         warm-up)
 *
 * -p: the server runs its handlers on a thread pool (tern_rm_pool_start,
 * lo_water 1, hi_water HI, default 4): the loop thread receives and hands
 * each message to a pool thread, which answers.
 *
 * Both are measured in alternating batches so that CPU frequency and
 * neighbours affect them alike. Prints one line:
 *   floor_median_us=.. floor_p99_us=.. rm_median_us=.. rm_p99_us=..
 *   ratio_median=.. ratio_p99=..
 * Target (issue 7): ratio_median <= 1.5.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tern/tern.h"

#define GETVAL TERN_DIOF(TERN_DCMD_CLASS_MISC, 1, int32_t)
#define BATCHES 10

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ---- the floor: bare SEQPACKET echo-with-reply ------------------------ */
static void floor_server(int fd) {
  char req[64], rep[36] = {0};
  for (;;) {
    ssize_t n = recv(fd, req, sizeof(req), 0);
    if (n <= 0) _exit(0);
    if (send(fd, rep, sizeof(rep), 0) < 0) _exit(0);
  }
}

static void floor_rt(int fd) {
  char req[24] = {1}, rep[64];
  if (send(fd, req, sizeof(req), 0) < 0 || recv(fd, rep, sizeof(rep), 0) <= 0) {
    fprintf(stderr, "rm_rtt: floor peer gone\n");
    exit(1);
  }
}

/* ---- the resource manager ----------------------------------------------- */
static int32_t value = 42;
static int on_devctl(tern_rm_ctx *ctx, tern_rm_devctl_msg *msg,
                     tern_rm_ocb *ocb) {
  (void)ocb;
  if (msg->dcmd != GETVAL) return TERN_RM_DEFAULT;
  return tern_rm_reply_data(ctx, &value, sizeof(value));
}

static bool use_pool;
static unsigned pool_hi = 4;

static void rm_server(const char *reg, int ready) {
  static const tern_rm_io_funcs io = {.devctl = on_devctl};
  static tern_rm_attr attr;
  tern_loop *loop;
  tern_rm_dispatch *d;
  tern_rm_opts o = {.registry = reg};
  tern_rm_attr_init(&attr, 0, 0, 0);
  if (tern_loop_new(&loop, NULL) != TERN_OK ||
      tern_rm_dispatch_new(&d, loop, &o) != TERN_OK ||
      (use_pool && tern_rm_pool_start(d, &(tern_rm_pool_attr){1, pool_hi, 2000}) != TERN_OK) ||
      tern_rm_attach(d, "/bench/dev", 0, NULL, &io, &attr, NULL) != TERN_OK)
    _exit(1);
  if (write(ready, "r", 1) != 1) _exit(1);
  tern_loop_run(loop);
  _exit(0);
}

static pid_t spawn(void (*fn)(void *), void *arg) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    fn(arg);
    _exit(0);
  }
  return pid;
}

typedef struct rm_args {
  const char *reg;
  int ready;
} rm_args;
static void run_floor_server(void *arg) { floor_server(*(int *)arg); }
static void run_rm_server(void *arg) {
  rm_args *a = arg;
  rm_server(a->reg, a->ready);
}

int main(int argc, char **argv) {
  long n = 20000;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
      n = atol(argv[++i]);
    else if (strcmp(argv[i], "-p") == 0)
      use_pool = true;
    else if (strcmp(argv[i], "-H") == 0 && i + 1 < argc)
      pool_hi = (unsigned)atoi(argv[++i]);
  if (n < BATCHES) n = BATCHES;
  double *fl = malloc(sizeof(double) * (size_t)n);
  double *rm = malloc(sizeof(double) * (size_t)n);

  int sp[2], rp[2];
  char reg[] = "/tmp/tern-rm-bench-XXXXXX";
  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) != 0 || pipe(rp) != 0 ||
      mkdtemp(reg) == NULL) {
    perror("rm_rtt: setup");
    return 1;
  }
  pid_t fpid = spawn(run_floor_server, &sp[1]);
  close(sp[1]);
  rm_args ra = {reg, rp[1]};
  pid_t rpid = spawn(run_rm_server, &ra);
  char c;
  if (read(rp[0], &c, 1) != 1) {
    fprintf(stderr, "rm_rtt: server did not start\n");
    return 1;
  }
  tern_rmc *h;
  tern_rmc_opts o = {.registry = reg};
  int rc = tern_rmc_open(&h, "/bench/dev", O_RDONLY, &o);
  if (rc != TERN_OK) {
    fprintf(stderr, "rm_rtt: open: %s\n", tern_strerror(rc));
    return 1;
  }
  int32_t v;
  for (int i = 0; i < 1000; i++) { /* warm up */
    floor_rt(sp[0]);
    tern_rmc_devctl(h, GETVAL, &v, sizeof(v), NULL);
  }
  long per = n / BATCHES, k = 0;
  for (int b = 0; b < BATCHES; b++) {
    for (long i = 0; i < per; i++) {
      double t0 = now_us();
      floor_rt(sp[0]);
      fl[k + i] = now_us() - t0;
    }
    for (long i = 0; i < per; i++) {
      double t0 = now_us();
      rc = tern_rmc_devctl(h, GETVAL, &v, sizeof(v), NULL);
      rm[k + i] = now_us() - t0;
      if (rc != TERN_OK || v != 42) {
        fprintf(stderr, "rm_rtt: devctl: %s\n", tern_strerror(rc));
        return 1;
      }
    }
    k += per;
  }
  tern_rmc_close(h);
  qsort(fl, (size_t)k, sizeof(double), cmp_d);
  qsort(rm, (size_t)k, sizeof(double), cmp_d);
  double fm = fl[k / 2], f99 = fl[k * 99 / 100], rmm = rm[k / 2],
         r99 = rm[k * 99 / 100];
  printf("mode=%s%s roundtrips=%ld floor_median_us=%.2f floor_p99_us=%.2f "
         "rm_median_us=%.2f rm_p99_us=%.2f ratio_median=%.2f ratio_p99=%.2f\n",
         use_pool ? "pool" : "loop", use_pool && pool_hi == 1 ? "1" : "", k, fm, f99, rmm, r99, rmm / fm, r99 / f99);
  kill(fpid, SIGKILL);
  kill(rpid, SIGKILL);
  waitpid(fpid, NULL, 0);
  waitpid(rpid, NULL, 0);
  char cmd[64];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", reg);
  if (system(cmd) != 0) return 1;
  free(fl);
  free(rm);
  return 0;
}
