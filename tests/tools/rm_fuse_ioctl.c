/* rm_fuse_ioctl: ioctl(2) on ternd's sample node through the FUSE bridge
 * (tests/integ/rm_fuse.sh). The devctl numbers of tern/ternd_ctl.h are
 * Linux _IOC values, so a plain ioctl reaches the server's devctl:
 *   GETVAL/SETVAL/SETGET (QNX's sample), an unknown command (ENOTTY),
 *   WAIT answered by a write from another process, WAIT ended by a signal
 *   (the kernel's INTERRUPT -> the bridge's unblock -> EINTR), and, given
 *   the log node too, GET_LEVEL.
 *   rm_fuse_ioctl MNT/dev/tern/sample [MNT/dev/tern/log]
 * Prints "ok" and exits 0, or says what failed and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tern/ternd_ctl.h"

_Static_assert(TERND_SAMPLE_GETVAL == _IOR(5, 1, int32_t), "GETVAL is _IOR");
_Static_assert(TERND_SAMPLE_SETVAL == _IOW(5, 2, int32_t), "SETVAL is _IOW");
_Static_assert(TERND_SAMPLE_SETGET == _IOWR(5, 3, int32_t), "SETGET is _IOWR");
_Static_assert(TERND_LOG_GET_LEVEL == _IOR(7, 1, int32_t), "GET_LEVEL");

#define CHECK(cond, ...)                                  \
  do {                                                    \
    if (!(cond)) {                                        \
      fprintf(stderr, "rm_fuse_ioctl: " __VA_ARGS__);     \
      fprintf(stderr, " (errno %s)\n", strerror(errno)); \
      return 1;                                           \
    }                                                     \
  } while (0)

static void on_alarm(int sig) { (void)sig; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: rm_fuse_ioctl SAMPLE [LOG]\n");
    return 2;
  }
  int fd = open(argv[1], O_RDWR);
  CHECK(fd >= 0, "open %s", argv[1]);
  int32_t v = -1;
  CHECK(ioctl(fd, TERND_SAMPLE_SETVAL, &(int32_t){7}) == 0, "SETVAL 7");
  CHECK(ioctl(fd, TERND_SAMPLE_GETVAL, &v) == 0 && v == 7, "GETVAL %d", v);
  v = 25;
  CHECK(ioctl(fd, TERND_SAMPLE_SETVAL, &v) == 0, "SETVAL 25");
  v = 50;
  CHECK(ioctl(fd, TERND_SAMPLE_SETGET, &v) == 0 && v == 25, "SETGET %d", v);
  CHECK(ioctl(fd, TERND_SAMPLE_GETVAL, &v) == 0 && v == 50, "GETVAL 50: %d", v);
  /* close(2) of a dup is a flush (the server's close_dup): the open file
   * and its OCB live on */
  int fd2 = dup(fd);
  CHECK(fd2 >= 0 && close(fd2) == 0, "dup + close");
  CHECK(ioctl(fd, TERND_SAMPLE_GETVAL, &v) == 0 && v == 50, "GETVAL after a dup closed");
  /* a command the node does not know: ENOTTY, as for any device */
  CHECK(ioctl(fd, _IOR(5, 0x99, int32_t), &v) == -1 && errno == ENOTTY,
        "unknown command");

  /* drain the queue, then WAIT: a child's write answers it */
  char buf[64];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
  CHECK(ioctl(fd, TERND_SAMPLE_COUNT, &v) == 0 && v == 0, "COUNT 0: %d", v);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    usleep(200 * 1000);
    int w = open(argv[1], O_WRONLY);
    _exit(w >= 0 && write(w, "wake", 4) == 4 ? 0 : 1);
  }
  v = -1;
  CHECK(ioctl(fd, TERND_SAMPLE_WAIT, &v) == 0 && v == 1, "WAIT by write: %d", v);
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer child");
  ssize_t n = read(fd, buf, sizeof(buf));
  CHECK(n == 4 && !memcmp(buf, "wake", 4), "read the message: %zd", n);

  /* WAIT with nothing coming: a signal interrupts it (FUSE INTERRUPT ->
   * tern_rmc_unblock -> the node's unblock handler -> EINTR) */
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_alarm; /* no SA_RESTART */
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 0}, {0, 300 * 1000}};
  setitimer(ITIMER_REAL, &it, NULL);
  double t0 = now_s();
  int r = ioctl(fd, TERND_SAMPLE_WAIT, &v);
  double dt = now_s() - t0;
  CHECK(r == -1 && errno == EINTR, "WAIT interrupted: r=%d", r);
  CHECK(dt > 0.2 && dt < 3.0, "WAIT interrupted after %.2f s", dt);
  /* the node and this descriptor go on */
  CHECK(ioctl(fd, TERND_SAMPLE_COUNT, &v) == 0 && v == 0, "COUNT after: %d", v);
  CHECK(write(fd, "again", 5) == 5, "write after the interrupt");
  CHECK(ioctl(fd, TERND_SAMPLE_WAIT, &v) == 0 && v == 1, "WAIT ready: %d", v);
  CHECK(close(fd) == 0, "close");

  if (argc > 2) {
    int lf = open(argv[2], O_RDONLY);
    CHECK(lf >= 0, "open %s", argv[2]);
    CHECK(ioctl(lf, TERND_LOG_GET_LEVEL, &v) == 0 && v >= 0 && v <= 4,
          "GET_LEVEL %d", v);
    /* SET needs the node open for writing */
    CHECK(ioctl(lf, TERND_LOG_SET_LEVEL, &v) == -1 && errno == EBADF,
          "SET_LEVEL on a read-only descriptor");
    close(lf);
  }
  printf("ok\n");
  return 0;
}
