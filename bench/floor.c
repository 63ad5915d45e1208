/* floor: the fastest an HTTP server can be on this machine, as a yardstick.
 *
 *   floor PORT
 *
 * A bare epoll loop on 127.0.0.1:PORT that reads whatever arrives and, for
 * every "\r\n\r\n" it sees, writes one fixed "hello" response. No parsing,
 * no routing, no buffering beyond one read: no real server can do less
 * work per request, so requests per server CPU-second here bound what any
 * server can reach (bench/run.sh reports tern and nginx as ratios to it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char reply[] =
    "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: text/plain\r\n"
    "Content-Length: 5\r\n\r\nhello";

/* Count request ends in buf, remembering a partial "\r\n\r\n" across
 * reads in *state (bytes of the terminator matched so far). */
static int count_requests(const char *buf, ssize_t n, int *state) {
  static const char term[] = "\r\n\r\n";
  int found = 0;
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == term[*state]) {
      if (++*state == 4) {
        found++;
        *state = 0;
      }
    } else {
      *state = buf[i] == '\r' ? 1 : 0;
    }
  }
  return found;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8090;
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1024)) {
    perror("floor: bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  static int state[65536];
  char buf[16384], out[sizeof(reply) * 64];
  printf("floor: listening on 127.0.0.1:%d\n", port);
  fflush(stdout);
  for (;;) {
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (c >= 65536) { close(c); continue; }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          state[c] = 0;
          struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof(buf));
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        close(fd);
        continue;
      }
      int reqs = count_requests(buf, r, &state[fd]);
      if (reqs > 64) reqs = 64;
      for (int k = 0; k < reqs; k++)
        memcpy(out + (size_t)k * (sizeof(reply) - 1), reply, sizeof(reply) - 1);
      if (reqs && write(fd, out, (size_t)reqs * (sizeof(reply) - 1)) < 0) close(fd);
    }
  }
}
