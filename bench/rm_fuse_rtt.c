/* rm_fuse_rtt: what the FUSE bridge costs. The same devctl (ternd's
 * sample GETVAL, 4 bytes back) sent to a running `ternd --rm --fuse MNT`
 * two ways, in alternating batches: tern_rmc_devctl on an rmc handle, and
 * ioctl(2) on MNT's file (kernel -> ternfs worker -> rmc -> ternd).
 *
 *   ternd --rm-dir REG --fuse MNT &
 *   rm_fuse_rtt -d REG -m MNT [-n N]      (N round trips each, 20000)
 * Prints the medians and p99 of both and their ratio. Not in bench/run.sh
 * (it needs root or fusermount3 and /dev/fuse).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tern/tern.h"
#include "tern/ternd_ctl.h"

#define BATCH 500

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p) {
  qsort(v, n, sizeof(*v), cmp_u64);
  return (double)v[(size_t)(p * (double)(n - 1))] / 1000.0;
}

int main(int argc, char **argv) {
  const char *reg = NULL, *mnt = NULL;
  size_t n = 20000;
  int opt;
  while ((opt = getopt(argc, argv, "d:m:n:")) != -1) {
    if (opt == 'd') reg = optarg;
    else if (opt == 'm') mnt = optarg;
    else if (opt == 'n') n = strtoul(optarg, NULL, 10);
    else return 2;
  }
  if (mnt == NULL || n < BATCH) {
    fprintf(stderr, "usage: rm_fuse_rtt [-d REGISTRY] -m MNT [-n N]\n");
    return 2;
  }
  char path[512];
  snprintf(path, sizeof(path), "%s/dev/tern/sample", mnt);
  tern_rmc_opts o = {.registry = reg};
  tern_rmc *h;
  int fd = open(path, O_RDWR);
  if (fd < 0 || tern_rmc_open(&h, "/dev/tern/sample", O_RDWR, &o) != TERN_OK) {
    fprintf(stderr, "rm_fuse_rtt: cannot open the sample node both ways\n");
    return 1;
  }
  uint64_t *a = calloc(n, sizeof(*a)), *b = calloc(n, sizeof(*b));
  if (a == NULL || b == NULL) return 1;
  int32_t v;
  for (size_t i = 0; i < n; i += BATCH) {
    for (size_t k = i; k < i + BATCH && k < n; k++) {
      uint64_t t0 = now_ns();
      if (tern_rmc_devctl(h, TERND_SAMPLE_GETVAL, &v, sizeof(v), NULL)) return 1;
      a[k] = now_ns() - t0;
    }
    for (size_t k = i; k < i + BATCH && k < n; k++) {
      uint64_t t0 = now_ns();
      if (ioctl(fd, TERND_SAMPLE_GETVAL, &v) != 0) return 1;
      b[k] = now_ns() - t0;
    }
  }
  double am = pct(a, n, 0.5), a99 = pct(a, n, 0.99);
  double bm = pct(b, n, 0.5), b99 = pct(b, n, 0.99);
  printf("rmc devctl: median %.1f us p99 %.1f us\n", am, a99);
  printf("FUSE ioctl: median %.1f us p99 %.1f us\n", bm, b99);
  printf("ratio: median %.2fx p99 %.2fx\n", bm / am, b99 / a99);
  tern_rmc_close(h);
  close(fd);
  free(a);
  free(b);
  return 0;
}
