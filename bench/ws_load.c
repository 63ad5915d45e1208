/* ws_load: a WebSocket echo load generator for make bench.
 *
 *   ws_load PORT PATH CONNS INFLIGHT SECONDS [SIZE] [PROTOCOL]
 *
 * Opens CONNS WebSocket connections to 127.0.0.1:PORT/PATH, keeps
 * INFLIGHT binary messages of SIZE bytes (default 64) in flight on each
 * (1 = ping-pong), and counts echoes for SECONDS after a 1 s warm-up.
 * Prints "ws_load msgs=N secs=S rate=R". Frames are masked with a fixed
 * key (the server must unmask all the same); the same prebuilt frame is
 * sent every time, so the generator spends its time on I/O, not on
 * building frames. Plain sockets and epoll: no tern code is measured
 * on the client side.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct wc {
  int fd;
  unsigned char in[65536];
  size_t inlen;
} wc;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    perror("ws_load: connect");
    exit(1);
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

static void handshake(int fd, const char *path, const char *proto) {
  char req[512], resp[4096];
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                   path, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
                   proto ? "\r\n" : "");
  if (write(fd, req, (size_t)n) != n) exit(1);
  size_t got = 0;
  while (got < sizeof(resp) - 1) {
    ssize_t r = read(fd, resp + got, 1); /* byte by byte: stop at the head's end */
    if (r <= 0) break;
    got += (size_t)r;
    resp[got] = 0;
    if (got >= 4 && !memcmp(resp + got - 4, "\r\n\r\n", 4)) break;
  }
  if (strncmp(resp, "HTTP/1.1 101", 12) != 0) {
    fprintf(stderr, "ws_load: handshake failed: %.80s\n", resp);
    exit(1);
  }
}

/* Count whole server frames in c->in, drop them, return the count. */
static int take_frames(wc *c) {
  int msgs = 0;
  size_t at = 0;
  while (c->inlen - at >= 2) {
    const unsigned char *p = c->in + at;
    size_t hl = 2, len = p[1] & 0x7f;
    if (len == 126) {
      if (c->inlen - at < 4) break;
      len = (size_t)p[2] << 8 | p[3];
      hl = 4;
    } else if (len == 127) {
      if (c->inlen - at < 10) break;
      len = 0;
      for (int i = 2; i < 10; i++) len = len << 8 | p[i];
      hl = 10;
    }
    if (c->inlen - at < hl + len) break;
    if ((p[0] & 0x0f) <= 2) msgs++;
    at += hl + len;
  }
  memmove(c->in, c->in + at, c->inlen - at);
  c->inlen -= at;
  return msgs;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: ws_load PORT PATH CONNS INFLIGHT SECONDS [SIZE] [PROTOCOL]\n");
    return 2;
  }
  int port = atoi(argv[1]), conns = atoi(argv[3]), inflight = atoi(argv[4]);
  double secs = atof(argv[5]);
  size_t size = argc > 6 ? (size_t)atol(argv[6]) : 64;
  const char *proto = argc > 7 ? argv[7] : NULL;
  if (size > 65535 || conns < 1 || inflight < 1) return 2;
  unsigned char frame[65536 + 8];
  static const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  size_t fl = 0;
  frame[fl++] = 0x82;
  if (size < 126) frame[fl++] = (unsigned char)(0x80 | size);
  else { frame[fl++] = 0x80 | 126; frame[fl++] = (unsigned char)(size >> 8); frame[fl++] = (unsigned char)size; }
  memcpy(frame + fl, key, 4);
  fl += 4;
  for (size_t i = 0; i < size; i++) frame[fl + i] = (unsigned char)('a' + i % 26) ^ key[i % 4];
  fl += size;

  /* Up to 64 copies back to back, so m echoes cost one write. */
  size_t batch_n = fl <= 1024 ? 64 : 1;
  unsigned char *batch = malloc(fl * batch_n);
  for (size_t i = 0; i < batch_n; i++) memcpy(batch + i * fl, frame, fl);
  int ep = epoll_create1(0);
  wc *cs = calloc((size_t)conns, sizeof(*cs));
  for (int i = 0; i < conns; i++) {
    cs[i].fd = dial(port);
    handshake(cs[i].fd, argv[2], proto);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    for (int k = 0; k < inflight; k++)
      if (write(cs[i].fd, frame, fl) != (ssize_t)fl) return 1;
  }
  double start = now_s(), measure_from = start + 1.0, end = measure_from + secs;
  long long counted = 0;
  while (now_s() < end) {
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, 100);
    double t = now_s();
    for (int i = 0; i < n; i++) {
      wc *c = evs[i].data.ptr;
      ssize_t r = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        fprintf(stderr, "ws_load: server closed a connection\n");
        return 1;
      }
      c->inlen += (size_t)r;
      int m = take_frames(c);
      if (t >= measure_from) counted += m;
      while (m > 0) {
        size_t k = (size_t)m < batch_n ? (size_t)m : batch_n;
        if (write(c->fd, batch, k * fl) != (ssize_t)(k * fl)) return 1;
        m -= (int)k;
      }
    }
  }
  printf("ws_load msgs=%lld secs=%.2f rate=%.0f\n", counted, secs, (double)counted / secs);
  for (int i = 0; i < conns; i++) close(cs[i].fd);
  free(cs);
  free(batch);
  return 0;
}
