/* idle_conns: hold N idle HTTP keep-alive or WebSocket connections open
 * against a server, for memory measurements (bench/http_ws.sh).
 *
 *   idle_conns http|ws PORT PATH N [PROTOCOL]
 *
 * Opens N connections to 127.0.0.1:PORT. http: one "GET PATH" keep-alive
 * request on each, response read, connection left open. ws: the upgrade
 * handshake on PATH, one 16-byte message echoed, connection left open.
 * Prints "ready N" when all are idle, then waits for a line on stdin,
 * closes them all, prints "closed" and waits for another line (so the
 * driver can measure the server after the close), then exits.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int tries = 0; tries < 50; tries++) {
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) return fd;
    usleep(20000); /* backlog full: let the server catch up */
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
  }
  perror("idle_conns: connect");
  exit(1);
}

/* Read until the head's end (and, for HTTP, a 5+ byte body we ignore). */
static void read_head(int fd, char *buf, size_t cap) {
  size_t got = 0;
  while (got < cap - 1) {
    ssize_t r = read(fd, buf + got, cap - 1 - got);
    if (r <= 0) {
      fprintf(stderr, "idle_conns: server closed during setup\n");
      exit(1);
    }
    got += (size_t)r;
    buf[got] = 0;
    if (strstr(buf, "\r\n\r\n")) return;
  }
}

static void setup_http(int fd, const char *path) {
  char req[256], resp[4096];
  int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
  if (write(fd, req, (size_t)n) != n) exit(1);
  read_head(fd, resp, sizeof(resp));
  if (strncmp(resp, "HTTP/1.1 200", 12)) {
    fprintf(stderr, "idle_conns: bad response: %.60s\n", resp);
    exit(1);
  }
  usleep(0);
}

static void setup_ws(int fd, const char *path, const char *proto) {
  char req[512], resp[4096];
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                   path, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
                   proto ? "\r\n" : "");
  if (write(fd, req, (size_t)n) != n) exit(1);
  read_head(fd, resp, sizeof(resp));
  if (strncmp(resp, "HTTP/1.1 101", 12)) {
    fprintf(stderr, "idle_conns: handshake failed: %.60s\n", resp);
    exit(1);
  }
  unsigned char f[2 + 4 + 16] = {0x82, 0x80 | 16, 1, 2, 3, 4};
  for (int i = 0; i < 16; i++) f[6 + i] = (unsigned char)('x' ^ f[2 + i % 4]);
  if (write(fd, f, sizeof(f)) != (ssize_t)sizeof(f)) exit(1);
  unsigned char echo[64];
  size_t got = 0;
  while (got < 18) {
    ssize_t r = read(fd, echo + got, sizeof(echo) - got);
    if (r <= 0) exit(1);
    got += (size_t)r;
  }
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: idle_conns http|ws PORT PATH N [PROTOCOL]\n");
    return 2;
  }
  int ws = !strcmp(argv[1], "ws"), port = atoi(argv[2]), n = atoi(argv[4]);
  const char *proto = argc > 5 ? argv[5] : NULL;
  struct rlimit rl = {(rlim_t)n + 64, (rlim_t)n + 64};
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    perror("idle_conns: setrlimit");
    return 1;
  }
  int *fds = calloc((size_t)n, sizeof(int));
  for (int i = 0; i < n; i++) {
    fds[i] = dial(port);
    if (ws) setup_ws(fds[i], argv[3], proto);
    else setup_http(fds[i], argv[3]);
  }
  printf("ready %d\n", n);
  fflush(stdout);
  char line[16];
  if (!fgets(line, sizeof(line), stdin)) return 0;
  for (int i = 0; i < n; i++) close(fds[i]);
  printf("closed\n");
  fflush(stdout);
  if (!fgets(line, sizeof(line), stdin)) return 0;
  free(fds);
  return 0;
}
