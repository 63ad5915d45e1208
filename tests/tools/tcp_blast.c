/* tcp_blast: the kernel side of the TCP throughput benchmarks (and the
 * kernel <-> kernel reference): plain BSD sockets, big buffers, one
 * connection, a checksum of the bytes so integrity is compared too.
 *
 *   tcp_blast send HOST PORT BYTES     connect, write BYTES, shut down,
 *                                      wait for the peer to close
 *   tcp_blast recv HOST PORT           connect, read until EOF
 *   tcp_blast sink PORT                accept one, read until EOF
 *   tcp_blast source PORT BYTES        accept one, write BYTES, close
 *
 * Prints one line: "bytes=N secs=S MBps=R fnv=H". The byte pattern is
 * (i * 7 + i / 4096) & 0xff at offset i (period 1 MiB), the same as
 * examples/tap_tcp_server.c. TCP_BLAST_NOHASH=1 skips the hash (fnv=0): hashing
 * a byte at a time costs more than the transfer on a fast link, so the
 * benchmark measures speed without it and integrity with it, separately.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t pat(uint64_t i) { return (uint8_t)((i * 7 + i / 4096) & 0xff); }

#define PERIOD (1u << 20)
static uint8_t pattern[PERIOD + CHUNK];
static int nohash;

static void init_pattern(void) {
  for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = pat(i);
  nohash = getenv("TCP_BLAST_NOHASH") && atoi(getenv("TCP_BLAST_NOHASH"));
}

static int dial(const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &sa.sin_addr);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    perror("connect");
    exit(1);
  }
  return fd;
}

static int accept_one(int port) {
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 1) != 0) {
    perror("bind/listen");
    exit(1);
  }
  printf("listening\n");
  fflush(stdout);
  int fd = accept(l, NULL, NULL);
  close(l);
  return fd;
}

static void report(uint64_t bytes, double t0, uint64_t fnv) {
  double secs = now_s() - t0;
  printf("bytes=%llu secs=%.3f MBps=%.1f fnv=%016llx\n",
         (unsigned long long)bytes, secs, (double)bytes / secs / 1e6,
         (unsigned long long)fnv);
}

static void do_send(int fd, uint64_t total) {
  uint64_t off = 0, fnv = nohash ? 0 : 1469598103934665603ull;
  double t0 = now_s();
  while (off < total) {
    size_t n = total - off < CHUNK ? (size_t)(total - off) : CHUNK;
    const uint8_t *buf = pattern + off % PERIOD;
    if (!nohash)
      for (size_t i = 0; i < n; i++) fnv = (fnv ^ buf[i]) * 1099511628211ull;
    size_t done = 0;
    while (done < n) {
      ssize_t w = write(fd, buf + done, n - done);
      if (w <= 0) {
        perror("write");
        exit(1);
      }
      done += (size_t)w;
    }
    off += n;
  }
  shutdown(fd, SHUT_WR);
  char tmp[64];
  while (read(fd, tmp, sizeof tmp) > 0) {
  }
  report(total, t0, fnv);
}

static void do_recv(int fd) {
  static uint8_t buf[CHUNK];
  uint64_t total = 0, fnv = nohash ? 0 : 1469598103934665603ull;
  double t0 = now_s();
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) {
    if (!nohash)
      for (ssize_t i = 0; i < r; i++) fnv = (fnv ^ buf[i]) * 1099511628211ull;
    total += (uint64_t)r;
  }
  report(total, t0, fnv);
}

int main(int argc, char **argv) {
  init_pattern();
  if (argc >= 5 && !strcmp(argv[1], "send")) {
    do_send(dial(argv[2], atoi(argv[3])), strtoull(argv[4], NULL, 10));
  } else if (argc >= 4 && !strcmp(argv[1], "recv")) {
    do_recv(dial(argv[2], atoi(argv[3])));
  } else if (argc >= 3 && !strcmp(argv[1], "sink")) {
    do_recv(accept_one(atoi(argv[2])));
  } else if (argc >= 4 && !strcmp(argv[1], "source")) {
    do_send(accept_one(atoi(argv[2])), strtoull(argv[3], NULL, 10));
  } else {
    fprintf(stderr, "usage: tcp_blast send HOST PORT BYTES | recv HOST PORT |"
                    " sink PORT | source PORT BYTES\n");
    return 2;
  }
  return 0;
}
