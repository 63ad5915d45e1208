/* test_http_static.c: tern_http_serve_static over loopback. A tern_http
 * server runs on this thread (driven by tern_loop_poll); clients are plain
 * blocking sockets on helper threads that send raw requests and return
 * the raw bytes they got, which are parsed here.
 *
 * Files (a fresh mkdtemp tree, mtimes set to 2020-01-01T00:00:00Z):
 *   base/secret               outside root
 *   base/outdir/secret2       outside root, reached through root/mid
 *   base/root/small.txt       "hello, static world\n"
 *   base/root/big.bin         1 MiB of random bytes
 *   base/root/huge.bin        8 MiB of random bytes
 *   base/root/empty.txt, style.CSS, data.xyz, "name with spaces é.txt"
 *   base/root/sub/index.html
 *   base/root/nodir/{a.txt, b&<c>.txt, zdir/}   (no index.html)
 *   base/root/link_out -> ../secret, base/root/mid -> ../outdir
 *   base/root/pipe (FIFO), base/root/locked.txt (mode 000)
 *
 * Every test ends with no HTTP connection open and as many descriptors
 * open as before it; under ASan/LSan a leak fails the run at exit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "tern/tern.h"

#define BIG_SIZE (1024 * 1024)
#define HUGE_SIZE (8 * 1024 * 1024) /* more than the kernel buffers hold */
#define MTIME_2020 1577836800 /* Wed, 01 Jan 2020 00:00:00 GMT */
#define LM_2020 "Wed, 01 Jan 2020 00:00:00 GMT"

static const char small_body[] = "hello, static world\n";

static struct {
  char base[64], root[96];
  uint8_t *big, *huge;
  tern_mgr *mgr;
  tern_http_server *srv;
  uint16_t port;
  int fds; /* descriptors open when a test starts */
} g;

/* ---- files ---------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const void *p,
                       size_t n) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  fclose(f);
  struct timespec ts[2] = {{MTIME_2020, 0}, {MTIME_2020, 0}};
  assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void make_dir(const char *dir, const char *name) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  assert_int_equal(mkdir(path, 0755), 0);
}

static void make_tree(void) {
  char p[512];
  strcpy(g.base, "/tmp/tern_static_XXXXXX");
  assert_non_null(mkdtemp(g.base));
  snprintf(g.root, sizeof(g.root), "%s/root", g.base);
  assert_int_equal(mkdir(g.root, 0755), 0);
  write_file(g.base, "secret", "top secret\n", 11);
  make_dir(g.base, "outdir");
  write_file(g.base, "outdir/secret2", "also secret\n", 12);
  write_file(g.root, "small.txt", small_body, sizeof(small_body) - 1);
  g.big = malloc(BIG_SIZE);
  assert_non_null(g.big);
  for (size_t i = 0; i < BIG_SIZE; i++) g.big[i] = (uint8_t)(rand() >> 7);
  write_file(g.root, "big.bin", g.big, BIG_SIZE);
  g.huge = malloc(HUGE_SIZE);
  assert_non_null(g.huge);
  for (size_t i = 0; i < HUGE_SIZE; i++) g.huge[i] = (uint8_t)(rand() >> 5);
  write_file(g.root, "huge.bin", g.huge, HUGE_SIZE);
  write_file(g.root, "empty.txt", "", 0);
  write_file(g.root, "style.CSS", "a{}", 3);
  write_file(g.root, "data.xyz", "xyz", 3);
  write_file(g.root, "name with spaces \xc3\xa9.txt", "utf8 name\n", 10);
  make_dir(g.root, "sub");
  write_file(g.root, "sub/index.html", "<p>index</p>\n", 13);
  make_dir(g.root, "nodir");
  write_file(g.root, "nodir/a.txt", "a", 1);
  write_file(g.root, "nodir/b&<c>.txt", "b", 1);
  make_dir(g.root, "nodir/zdir");
  snprintf(p, sizeof(p), "%s/link_out", g.root);
  assert_int_equal(symlink("../secret", p), 0);
  snprintf(p, sizeof(p), "%s/mid", g.root);
  assert_int_equal(symlink("../outdir", p), 0);
  snprintf(p, sizeof(p), "%s/pipe", g.root);
  assert_int_equal(mkfifo(p, 0644), 0);
  write_file(g.root, "locked.txt", "locked", 6);
  snprintf(p, sizeof(p), "%s/locked.txt", g.root);
  assert_int_equal(chmod(p, 0), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (d == NULL) return -1;
  while (readdir(d) != NULL) n++;
  closedir(d);
  return n;
}

/* ---- the server ----------------------------------------------------- */

static tern_http_static_opts opts_static, opts_list, opts_any, opts_noprefix;

static void on_static(tern_http_req *r, void *ud) {
  assert_int_equal(tern_http_serve_static(r, ud), TERN_OK);
}

static int group_setup(void **state) {
  (void)state;
  srand(42);
  make_tree();
  opts_static = (tern_http_static_opts){.root = g.root, .strip_prefix = "/static"};
  opts_any = (tern_http_static_opts){.root = g.root, .strip_prefix = "/any"};
  opts_noprefix = (tern_http_static_opts){.root = g.root};
  opts_list = (tern_http_static_opts){
      .root = g.root, .strip_prefix = "/list", .list_dirs = true};
  assert_int_equal(tern_mgr_new(&g.mgr, NULL), TERN_OK);
  assert_int_equal(tern_http_server_new(g.mgr, "tcp://127.0.0.1:0", NULL, &g.srv),
                   TERN_OK);
  assert_int_equal(tern_http_route(g.srv, "GET", "/static", on_static, &opts_static), TERN_OK);
  assert_int_equal(tern_http_route(g.srv, "GET", "/static/*", on_static, &opts_static), TERN_OK);
  assert_int_equal(tern_http_route(g.srv, "GET", "/list/*", on_static, &opts_list), TERN_OK);
  assert_int_equal(tern_http_route(g.srv, NULL, "/any/*", on_static, &opts_any), TERN_OK);
  /* no strip_prefix: the whole path names the file */
  assert_int_equal(tern_http_route(g.srv, "GET", "//*", on_static, &opts_noprefix), TERN_OK);
  g.port = tern_conn_local(tern_http_server_listener(g.srv))->port;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  char p[512];
  tern_http_server_free(g.srv);
  tern_mgr_free(g.mgr);
  snprintf(p, sizeof(p), "%s/locked.txt", g.root);
  chmod(p, 0644);
  nftw(g.base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(g.big);
  free(g.huge);
  return 0;
}

static size_t conns_open(void) {
  tern_http_stats st;
  tern_http_server_stats(g.srv, &st);
  return st.conns_open;
}

static int setup(void **state) {
  (void)state;
  g.fds = count_fds();
  return 0;
}

/* No connection left and no descriptor leaked. */
static int teardown(void **state) {
  (void)state;
  uint64_t end = tern_clock_ms() + 5000;
  while (conns_open() > 0 && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(g.mgr), 5);
  assert_int_equal(conns_open(), 0);
  assert_int_equal(count_fds(), g.fds);
  return 0;
}

/* ---- clients -------------------------------------------------------- */

typedef struct job {
  char req[2048];
  size_t stop_after; /* > 0: close after this many bytes (a broken download) */
  bool close_at_once; /* close right after sending */
  bool half_close;    /* shutdown(SHUT_WR) after sending, then read all */
  int rcvbuf;         /* > 0: SO_RCVBUF, so the server's queue fills */
  int pause_ms;       /* stop reading this long before closing */
  uint8_t *data;     /* everything received */
  size_t len, cap;
  atomic_int done;
  pthread_t thread;
} job;

static int client_connect(int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd >= 0 && rcvbuf > 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g.port)};
  struct timeval tv = {10, 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void *client_main(void *arg) {
  job *j = arg;
  int fd = client_connect(j->rcvbuf);
  size_t n = strlen(j->req);
  if (fd >= 0 && send(fd, j->req, n, MSG_NOSIGNAL) == (ssize_t)n &&
      !j->close_at_once) {
    if (j->half_close) shutdown(fd, SHUT_WR);
    for (;;) {
      if (j->len == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 65536;
        j->data = realloc(j->data, j->cap);
      }
      ssize_t got = recv(fd, j->data + j->len, j->cap - j->len, 0);
      if (got <= 0) break;
      j->len += (size_t)got;
      if (j->stop_after && j->len >= j->stop_after) break;
    }
  }
  if (j->pause_ms) usleep((useconds_t)j->pause_ms * 1000);
  if (fd >= 0) close(fd);
  atomic_store(&j->done, 1);
  return NULL;
}

static void job_start(job *j) {
  atomic_store(&j->done, 0);
  assert_int_equal(pthread_create(&j->thread, NULL, client_main, j), 0);
}

/* Drive the server until the jobs are done. */
static void jobs_wait(job *jobs, int n) {
  uint64_t end = tern_clock_ms() + 30000;
  for (int i = 0; i < n; i++) {
    while (!atomic_load(&jobs[i].done) && tern_clock_ms() < end)
      tern_loop_poll(tern_mgr_loop(g.mgr), 5);
    assert_true(atomic_load(&jobs[i].done));
    pthread_join(jobs[i].thread, NULL);
  }
}

/* ---- responses ------------------------------------------------------ */

typedef struct resp {
  int status;
  char head[4096];
  const uint8_t *body;
  size_t body_len;
  long long clen; /* Content-Length, -1 if none */
} resp;

/* A header's value (first occurrence) or NULL; copied to a static slot. */
static const char *hdr(const resp *r, const char *name) {
  static char val[8][512];
  static int slot;
  size_t n = strlen(name);
  for (const char *l = strstr(r->head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
    const char *s = l + 2;
    if (strncasecmp(s, name, n) == 0 && s[n] == ':') {
      s += n + 1;
      while (*s == ' ') s++;
      const char *e = strstr(s, "\r\n");
      char *v = val[slot++ % 8];
      snprintf(v, 512, "%.*s", (int)(e - s), s);
      return v;
    }
  }
  return NULL;
}

/* One response at data[*at]; no_body for HEAD and 304. */
static void parse_resp(const job *j, size_t *at, bool no_body, resp *r) {
  const uint8_t *p = j->data + *at;
  size_t left = j->len - *at;
  const uint8_t *e = memmem(p, left, "\r\n\r\n", 4);
  assert_non_null(e);
  size_t hl = (size_t)(e - p) + 4;
  assert_true(hl < sizeof(r->head));
  memcpy(r->head, p, hl);
  r->head[hl] = '\0';
  assert_int_equal(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1);
  const char *cl = hdr(r, "Content-Length");
  r->clen = cl ? atoll(cl) : -1;
  no_body = no_body || r->status == 304; /* RFC 9112 6.3 */
  r->body = p + hl;
  r->body_len = no_body ? 0 : (size_t)(r->clen > 0 ? r->clen : 0);
  assert_true(hl + r->body_len <= left);
  *at += hl + r->body_len;
}

/* Send one request with Connection: close and parse the one response;
 * nothing may follow it (a HEAD or 304 with a body fails here). */
static void fetch(const char *method, const char *target, const char *extra,
                  job *j, resp *r) {
  memset(j, 0, sizeof(*j));
  snprintf(j->req, sizeof(j->req),
           "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n", method,
           target, extra ? extra : "");
  job_start(j);
  jobs_wait(j, 1);
  size_t at = 0;
  parse_resp(j, &at, !strcmp(method, "HEAD"), r);
  assert_int_equal(at, j->len);
}

static int get_status(const char *method, const char *target,
                      const char *extra) {
  job j;
  resp r;
  fetch(method, target, extra, &j, &r);
  free(j.data);
  return r.status;
}

static void expect_body(const resp *r, const void *p, size_t n) {
  assert_int_equal(r->body_len, n);
  assert_int_equal(r->clen, (long long)n);
  if (n) assert_memory_equal(r->body, p, n);
}

/* ---- tests: plain files --------------------------------------------- */

static void test_small_file(void **state) {
  (void)state;
  job j;
  resp r;
  fetch("GET", "/static/small.txt", NULL, &j, &r);
  assert_int_equal(r.status, 200);
  expect_body(&r, small_body, sizeof(small_body) - 1);
  assert_string_equal(hdr(&r, "Content-Type"), "text/plain; charset=utf-8");
  assert_string_equal(hdr(&r, "Accept-Ranges"), "bytes");
  assert_string_equal(hdr(&r, "Last-Modified"), LM_2020);
  const char *etag = hdr(&r, "ETag");
  assert_non_null(etag);
  char a[32], b[32], c[32];
  assert_int_equal(sscanf(etag, "\"%31[0-9a-f]-%31[0-9a-f]-%31[0-9a-f]\"", a, b, c), 3);
  assert_int_equal(etag[strlen(etag) - 1], '"');
  free(j.data);
}

static void test_big_file(void **state) {
  (void)state;
  job j;
  resp r;
  fetch("GET", "/static/big.bin", NULL, &j, &r);
  assert_int_equal(r.status, 200);
  expect_body(&r, g.big, BIG_SIZE);
  assert_string_equal(hdr(&r, "Content-Type"), "application/octet-stream");
  free(j.data);
}

/* HTTP/1.0: still Content-Length framing, then close. */
static void test_big_file_http10(void **state) {
  (void)state;
  job j;
  resp r;
  memset(&j, 0, sizeof(j));
  strcpy(j.req, "GET /static/big.bin HTTP/1.0\r\n\r\n");
  job_start(&j);
  jobs_wait(&j, 1);
  size_t at = 0;
  parse_resp(&j, &at, false, &r);
  assert_int_equal(r.status, 200);
  expect_body(&r, g.big, BIG_SIZE);
  assert_int_equal(at, j.len);
  free(j.data);
}

/* More than the socket buffers take: the server waits for WRITABLE,
 * many times, while a client with a small receive buffer reads. */
static void test_huge_file(void **state) {
  (void)state;
  job j;
  resp r;
  memset(&j, 0, sizeof(j));
  strcpy(j.req, "GET /static/huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  j.rcvbuf = 8192;
  job_start(&j);
  jobs_wait(&j, 1);
  size_t at = 0;
  parse_resp(&j, &at, false, &r);
  assert_int_equal(r.status, 200);
  expect_body(&r, g.huge, HUGE_SIZE);
  assert_int_equal(at, j.len);
  free(j.data);
}

/* RFC 9112 9.6: a client may half-close after its request; the whole
 * response must still arrive. Skipped until http_server.c keeps the
 * connection open after the peer's FIN (tern_conn_set_half_close): today
 * the net layer starts a graceful close at the FIN, tern_http_write then
 * returns TERN_ECLOSED and a streamed body is cut short. */
static void test_half_close_client(void **state) {
  (void)state;
  if (getenv("TERN_TEST_HALF_CLOSE") == NULL) {
    print_message("SKIP: streamed response to a half-closed client "
                  "(http_server.c does not enable half-close yet)\n");
    skip();
  }
  job j;
  resp r;
  memset(&j, 0, sizeof(j));
  strcpy(j.req, "GET /static/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  j.half_close = true;
  j.rcvbuf = 8192;
  job_start(&j);
  jobs_wait(&j, 1);
  size_t at = 0;
  parse_resp(&j, &at, false, &r);
  assert_int_equal(r.status, 200);
  expect_body(&r, g.huge, HUGE_SIZE);
  free(j.data);
}

static void test_parallel_big(void **state) {
  (void)state;
  job jobs[4];
  memset(jobs, 0, sizeof(jobs));
  for (int i = 0; i < 4; i++) {
    snprintf(jobs[i].req, sizeof(jobs[i].req),
             "GET /static/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    job_start(&jobs[i]);
  }
  jobs_wait(jobs, 4);
  for (int i = 0; i < 4; i++) {
    resp r;
    size_t at = 0;
    parse_resp(&jobs[i], &at, false, &r);
    assert_int_equal(r.status, 200);
    expect_body(&r, g.big, BIG_SIZE);
    free(jobs[i].data);
  }
}

static void test_head(void **state) {
  (void)state;
  job j;
  resp r, g2;
  fetch("HEAD", "/static/big.bin", NULL, &j, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.clen, BIG_SIZE);
  assert_int_equal(r.body_len, 0); /* and nothing followed: see fetch */
  assert_string_equal(hdr(&r, "Accept-Ranges"), "bytes");
  char etag[128];
  snprintf(etag, sizeof(etag), "%s", hdr(&r, "ETag"));
  free(j.data);
  fetch("HEAD", "/static/small.txt", NULL, &j, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.clen, (long long)sizeof(small_body) - 1);
  free(j.data);
  fetch("GET", "/static/big.bin", NULL, &j, &g2);
  assert_string_equal(hdr(&g2, "ETag"), etag);
  free(j.data);
}

/* Keep-alive: HEAD of a big file, a big GET, then a small one, pipelined on
 * one connection; each response is framed exactly. */
static void test_pipelined(void **state) {
  (void)state;
  job j;
  resp r;
  size_t at = 0;
  memset(&j, 0, sizeof(j));
  snprintf(j.req, sizeof(j.req),
           "HEAD /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /static/small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  job_start(&j);
  jobs_wait(&j, 1);
  parse_resp(&j, &at, true, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.clen, BIG_SIZE);
  parse_resp(&j, &at, false, &r);
  expect_body(&r, g.big, BIG_SIZE);
  parse_resp(&j, &at, false, &r);
  expect_body(&r, small_body, sizeof(small_body) - 1);
  assert_int_equal(at, j.len);
  free(j.data);
}

static void test_mime(void **state) {
  (void)state;
  static const struct {
    const char *path, *type;
  } cases[] = {
      {"/static/style.CSS", "text/css; charset=utf-8"},
      {"/static/data.xyz", "application/octet-stream"},
      {"/static/sub/index.html", "text/html; charset=utf-8"},
      {"/static/small.txt", "text/plain; charset=utf-8"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    job j;
    resp r;
    fetch("GET", cases[i].path, NULL, &j, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(hdr(&r, "Content-Type"), cases[i].type);
    free(j.data);
  }
}

static void test_odd_names_and_empty(void **state) {
  (void)state;
  job j;
  resp r;
  fetch("GET", "/static/name%20with%20spaces%20%C3%A9.txt", NULL, &j, &r);
  assert_int_equal(r.status, 200);
  expect_body(&r, "utf8 name\n", 10);
  free(j.data);
  fetch("GET", "/static/empty.txt", "Range: bytes=0-5\r\n", &j, &r);
  assert_int_equal(r.status, 200); /* an empty file has no ranges */
  expect_body(&r, "", 0);
  free(j.data);
}

/* ---- tests: refusals ------------------------------------------------ */

static void test_traversal(void **state) {
  (void)state;
  assert_int_equal(get_status("GET", "/static/../secret", NULL), 400);
  assert_int_equal(get_status("GET", "/static/%2e%2e/secret", NULL), 400);
  assert_int_equal(get_status("GET", "/static/%2E%2E/secret", NULL), 400);
  assert_int_equal(get_status("GET", "/static/sub/..%2f..%2fsecret", NULL), 400);
  assert_int_equal(get_status("GET", "/static/..", NULL), 400);
  assert_int_equal(get_status("GET", "/static/a%00b", NULL), 400);
  assert_int_equal(get_status("GET", "/static/..\\secret", NULL), 400);
  assert_int_equal(get_status("GET", "/static/%5c..%5csecret", NULL), 400);
  assert_int_equal(get_status("GET", "/static/%zz", NULL), 400);
  assert_int_equal(get_status("GET", "/static/%4", NULL), 400);
  /* symlinks: the last component never, one in the middle not out of root */
  assert_int_equal(get_status("GET", "/static/link_out", NULL), 404);
  assert_int_equal(get_status("GET", "/static/mid/secret2", NULL), 404);
  assert_int_equal(get_status("GET", "/static/mid/", NULL), 404);
  /* a dot segment that stays inside is fine */
  assert_int_equal(get_status("GET", "/static/./small.txt", NULL), 200);
}

static void test_not_found_and_forbidden(void **state) {
  (void)state;
  assert_int_equal(get_status("GET", "/static/nope.txt", NULL), 404);
  assert_int_equal(get_status("GET", "/static/small.txt/x", NULL), 404);
  assert_int_equal(get_status("GET", "/static/pipe", NULL), 404);
  assert_int_equal(get_status("GET", "/static/nodir/", NULL), 403);
  assert_int_equal(get_status("GET", "/static/", NULL), 403);
  if (geteuid() != 0) /* root reads mode-000 files */
    assert_int_equal(get_status("GET", "/static/locked.txt", NULL), 403);
}

static void test_method(void **state) {
  (void)state;
  job j;
  resp r;
  fetch("POST", "/any/small.txt", "Content-Length: 0\r\n", &j, &r);
  assert_int_equal(r.status, 405);
  assert_string_equal(hdr(&r, "Allow"), "GET, HEAD");
  free(j.data);
  assert_int_equal(get_status("DELETE", "/any/small.txt", NULL), 405);
  assert_int_equal(get_status("GET", "/any/small.txt", NULL), 200);
}

/* ---- tests: directories --------------------------------------------- */

static void test_dir_redirect_and_index(void **state) {
  (void)state;
  job j;
  resp r;
  fetch("GET", "/static/sub", NULL, &j, &r);
  assert_int_equal(r.status, 301);
  assert_string_equal(hdr(&r, "Location"), "/static/sub/");
  free(j.data);
  fetch("GET", "/static/sub?x=1", NULL, &j, &r);
  assert_int_equal(r.status, 301);
  assert_string_equal(hdr(&r, "Location"), "/static/sub/?x=1");
  free(j.data);
  fetch("GET", "/static", NULL, &j, &r);
  assert_int_equal(r.status, 301);
  assert_string_equal(hdr(&r, "Location"), "/static/");
  free(j.data);
  /* a network-path reference would leave the site */
  fetch("GET", "//sub", NULL, &j, &r);
  assert_int_equal(r.status, 301);
  assert_string_equal(hdr(&r, "Location"), "/sub/");
  free(j.data);
  fetch("GET", "//sub/index.html", NULL, &j, &r);
  expect_body(&r, "<p>index</p>\n", 13);
  free(j.data);
  fetch("GET", "/static/sub/", NULL, &j, &r);
  assert_int_equal(r.status, 200);
  expect_body(&r, "<p>index</p>\n", 13);
  assert_string_equal(hdr(&r, "Content-Type"), "text/html; charset=utf-8");
  assert_non_null(hdr(&r, "ETag"));
  free(j.data);
}

static void test_listing(void **state) {
  (void)state;
  job j;
  resp r;
  fetch("GET", "/list/nodir/", NULL, &j, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(hdr(&r, "Content-Type"), "text/html; charset=utf-8");
  char *page = strndup((const char *)r.body, r.body_len);
  const char *a = strstr(page, ">a.txt</a>");
  const char *b = strstr(page, "<a href=\"b%26%3Cc%3E.txt\">b&amp;&lt;c&gt;.txt</a>");
  const char *z = strstr(page, "<a href=\"zdir/\">zdir/</a>");
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(z);
  assert_true(a < b && b < z); /* sorted */
  assert_null(strstr(page, "<c>"));
  assert_non_null(strstr(page, "href=\"../\""));
  free(page);
  free(j.data);
  /* the top of the tree has no parent link; symlinks are listed but not
   * served */
  fetch("GET", "/list/", NULL, &j, &r);
  assert_int_equal(r.status, 200);
  page = strndup((const char *)r.body, r.body_len);
  assert_null(strstr(page, "href=\"../\""));
  assert_non_null(strstr(page, "name%20with%20spaces%20%C3%A9.txt"));
  free(page);
  free(j.data);
  /* a directory with index.html still serves it */
  fetch("GET", "/list/sub/", NULL, &j, &r);
  expect_body(&r, "<p>index</p>\n", 13);
  free(j.data);
  assert_int_equal(get_status("HEAD", "/list/nodir/", NULL), 200);
}

/* ---- tests: conditional requests ------------------------------------ */

static void etag_of(const char *path, char *out, size_t n) {
  job j;
  resp r;
  fetch("HEAD", path, NULL, &j, &r);
  snprintf(out, n, "%s", hdr(&r, "ETag"));
  free(j.data);
}

static void test_if_none_match(void **state) {
  (void)state;
  char etag[128], h[512];
  job j;
  resp r;
  etag_of("/static/big.bin", etag, sizeof(etag));
  snprintf(h, sizeof(h), "If-None-Match: %s\r\n", etag);
  fetch("GET", "/static/big.bin", h, &j, &r);
  assert_int_equal(r.status, 304);
  assert_string_equal(hdr(&r, "ETag"), etag);
  assert_string_equal(hdr(&r, "Last-Modified"), LM_2020);
  assert_null(hdr(&r, "Content-Type"));
  free(j.data); /* fetch checked that no body followed */
  fetch("HEAD", "/static/big.bin", h, &j, &r);
  assert_int_equal(r.status, 304);
  free(j.data);
  /* weak comparison, lists, several field lines, "*" */
  snprintf(h, sizeof(h), "If-None-Match: W/%s\r\n", etag);
  assert_int_equal(get_status("GET", "/static/big.bin", h), 304);
  snprintf(h, sizeof(h), "If-None-Match: \"a\", W/\"b\" ,%s\r\n", etag);
  assert_int_equal(get_status("GET", "/static/big.bin", h), 304);
  snprintf(h, sizeof(h), "If-None-Match: \"a\"\r\nIf-None-Match: %s\r\n", etag);
  assert_int_equal(get_status("GET", "/static/big.bin", h), 304);
  assert_int_equal(get_status("GET", "/static/big.bin", "If-None-Match: *\r\n"), 304);
  assert_int_equal(get_status("GET", "/static/big.bin", "If-None-Match: \"nope\"\r\n"), 200);
  /* another file's tag does not match */
  snprintf(h, sizeof(h), "If-None-Match: %s\r\n", etag);
  assert_int_equal(get_status("GET", "/static/small.txt", h), 200);
}

static void test_if_modified_since(void **state) {
  (void)state;
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "If-Modified-Since: " LM_2020 "\r\n"), 304);
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "If-Modified-Since: Thu, 02 Jan 2020 00:00:00 GMT\r\n"), 304);
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "If-Modified-Since: Tue, 31 Dec 2019 23:59:59 GMT\r\n"), 200);
  /* the obsolete forms (RFC 9110 5.6.7) */
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "If-Modified-Since: Wednesday, 01-Jan-20 00:00:00 GMT\r\n"), 304);
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "If-Modified-Since: Wed Jan  1 00:00:00 2020\r\n"), 304);
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "If-Modified-Since: yesterday\r\n"), 200);
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "If-Modified-Since: " LM_2020 ", " LM_2020 "\r\n"), 200);
  /* ignored when If-None-Match is present (RFC 9110 13.1.3) */
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "If-None-Match: \"x\"\r\n"
                              "If-Modified-Since: " LM_2020 "\r\n"), 200);
}

static void test_if_match(void **state) {
  (void)state;
  char etag[128], h[256];
  etag_of("/static/small.txt", etag, sizeof(etag));
  snprintf(h, sizeof(h), "If-Match: %s\r\n", etag);
  assert_int_equal(get_status("GET", "/static/small.txt", h), 200);
  snprintf(h, sizeof(h), "If-Match: W/%s\r\n", etag); /* strong only */
  assert_int_equal(get_status("GET", "/static/small.txt", h), 412);
  assert_int_equal(get_status("GET", "/static/small.txt", "If-Match: \"x\"\r\n"), 412);
  assert_int_equal(get_status("GET", "/static/small.txt", "If-Match: *\r\n"), 200);
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "If-Unmodified-Since: Tue, 31 Dec 2019 00:00:00 GMT\r\n"), 412);
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "If-Unmodified-Since: " LM_2020 "\r\n"), 200);
}

/* ---- tests: ranges -------------------------------------------------- */

static void expect_range(const char *path, const char *range, uint64_t first,
                         uint64_t last, uint64_t size, const uint8_t *file) {
  char h[256], cr[128];
  job j;
  resp r;
  snprintf(h, sizeof(h), "Range: %s\r\n", range);
  fetch("GET", path, h, &j, &r);
  assert_int_equal(r.status, 206);
  snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)first,
           (unsigned long long)last, (unsigned long long)size);
  assert_string_equal(hdr(&r, "Content-Range"), cr);
  expect_body(&r, file + first, (size_t)(last - first + 1));
  free(j.data);
}

static void test_range(void **state) {
  (void)state;
  const uint8_t *s = (const uint8_t *)small_body;
  uint64_t n = sizeof(small_body) - 1;
  expect_range("/static/small.txt", "bytes=0-4", 0, 4, n, s);
  expect_range("/static/small.txt", "bytes=7-", 7, n - 1, n, s);
  expect_range("/static/small.txt", "bytes=-6", n - 6, n - 1, n, s);
  expect_range("/static/small.txt", "bytes=-1000", 0, n - 1, n, s);
  expect_range("/static/small.txt", "bytes=3-1000", 3, n - 1, n, s);
  expect_range("/static/small.txt", "BYTES=2-3", 2, 3, n, s); /* 14.1 */
  expect_range("/static/small.txt", "bytes= 2-3 ,", 2, 3, n, s);
}

static void test_range_big(void **state) {
  (void)state;
  expect_range("/static/big.bin", "bytes=100000-899999", 100000, 899999,
               BIG_SIZE, g.big);
  expect_range("/static/big.bin", "bytes=1048000-", 1048000, BIG_SIZE - 1,
               BIG_SIZE, g.big);
  expect_range("/static/big.bin", "bytes=0-99999999999999999999999", 0,
               BIG_SIZE - 1, BIG_SIZE, g.big);
  expect_range("/static/big.bin", "bytes=-20000", BIG_SIZE - 20000,
               BIG_SIZE - 1, BIG_SIZE, g.big);
}

static void test_range_refused_or_ignored(void **state) {
  (void)state;
  job j;
  resp r;
  fetch("GET", "/static/big.bin", "Range: bytes=1048576-\r\n", &j, &r);
  assert_int_equal(r.status, 416);
  assert_string_equal(hdr(&r, "Content-Range"), "bytes */1048576");
  free(j.data);
  assert_int_equal(get_status("GET", "/static/small.txt", "Range: bytes=-0\r\n"), 416);
  /* several ranges, bad syntax, other units: the whole file (RFC 9110 14.2) */
  fetch("GET", "/static/big.bin", "Range: bytes=0-0,5-6\r\n", &j, &r);
  assert_int_equal(r.status, 200);
  expect_body(&r, g.big, BIG_SIZE);
  free(j.data);
  assert_int_equal(get_status("GET", "/static/small.txt", "Range: bytes=5-2\r\n"), 200);
  assert_int_equal(get_status("GET", "/static/small.txt", "Range: bytes=x-2\r\n"), 200);
  assert_int_equal(get_status("GET", "/static/small.txt", "Range: items=0-2\r\n"), 200);
  assert_int_equal(get_status("GET", "/static/small.txt", "Range: bytes=-\r\n"), 200);
  /* HEAD ignores Range */
  fetch("HEAD", "/static/big.bin", "Range: bytes=0-9\r\n", &j, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.clen, BIG_SIZE);
  free(j.data);
  /* a precondition comes first */
  char etag[128], h[256];
  etag_of("/static/small.txt", etag, sizeof(etag));
  snprintf(h, sizeof(h), "If-None-Match: %s\r\nRange: bytes=0-1\r\n", etag);
  assert_int_equal(get_status("GET", "/static/small.txt", h), 304);
}

static void test_if_range(void **state) {
  (void)state;
  char etag[128], h[256];
  etag_of("/static/small.txt", etag, sizeof(etag));
  snprintf(h, sizeof(h), "Range: bytes=0-1\r\nIf-Range: %s\r\n", etag);
  assert_int_equal(get_status("GET", "/static/small.txt", h), 206);
  snprintf(h, sizeof(h), "Range: bytes=0-1\r\nIf-Range: W/%s\r\n", etag);
  assert_int_equal(get_status("GET", "/static/small.txt", h), 200);
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n"), 200);
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "Range: bytes=0-1\r\nIf-Range: " LM_2020 "\r\n"), 206);
  assert_int_equal(get_status("GET", "/static/small.txt",
                              "Range: bytes=0-1\r\nIf-Range: Thu, 02 Jan 2020 00:00:00 GMT\r\n"), 200);
  /* If-Range without Range changes nothing */
  assert_int_equal(get_status("GET", "/static/small.txt", "If-Range: \"old\"\r\n"), 200);
}

/* ---- tests: clients that go away ------------------------------------ */

/* Read part of the 1 MiB body, then close: the server must close the
 * file and free the stream (fds and LSan checked by teardown/at exit),
 * and go on serving. The clients with a small receive buffer that stop
 * reading for a while leave the server waiting for WRITABLE with a full
 * queue when they go; the others close while it is still writing, or
 * before the response starts. */
static void test_disconnect_mid_download(void **state) {
  (void)state;
  enum { N = 6 };
  job jobs[N];
  memset(jobs, 0, sizeof(jobs));
  for (int i = 0; i < N; i++) {
    snprintf(jobs[i].req, sizeof(jobs[i].req),
             "GET /static/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    jobs[i].stop_after = (size_t)(i + 1) * 30000;
    jobs[i].rcvbuf = i < 4 ? 4096 : 0;
    jobs[i].pause_ms = i < 4 ? 300 : 0;
  }
  jobs[N - 1].close_at_once = true;
  for (int i = 0; i < N; i++) job_start(&jobs[i]);
  jobs_wait(jobs, N);
  for (int i = 0; i < N; i++) free(jobs[i].data);
  uint64_t end = tern_clock_ms() + 5000;
  while (conns_open() > 0 && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(g.mgr), 5);
  assert_int_equal(conns_open(), 0);
  assert_int_equal(get_status("GET", "/static/small.txt", NULL), 200);
}

/* Same, with a range streamed over keep-alive. */
static void test_disconnect_mid_range(void **state) {
  (void)state;
  job j;
  memset(&j, 0, sizeof(j));
  snprintf(j.req, sizeof(j.req),
           "GET /static/huge.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-\r\n\r\n");
  j.stop_after = 70000;
  j.rcvbuf = 4096;
  j.pause_ms = 300;
  job_start(&j);
  jobs_wait(&j, 1);
  free(j.data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_small_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_big_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_big_file_http10, setup, teardown),
      cmocka_unit_test_setup_teardown(test_huge_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_half_close_client, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parallel_big, setup, teardown),
      cmocka_unit_test_setup_teardown(test_head, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mime, setup, teardown),
      cmocka_unit_test_setup_teardown(test_odd_names_and_empty, setup, teardown),
      cmocka_unit_test_setup_teardown(test_traversal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_found_and_forbidden, setup, teardown),
      cmocka_unit_test_setup_teardown(test_method, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dir_redirect_and_index, setup, teardown),
      cmocka_unit_test_setup_teardown(test_listing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_if_none_match, setup, teardown),
      cmocka_unit_test_setup_teardown(test_if_modified_since, setup, teardown),
      cmocka_unit_test_setup_teardown(test_if_match, setup, teardown),
      cmocka_unit_test_setup_teardown(test_range, setup, teardown),
      cmocka_unit_test_setup_teardown(test_range_big, setup, teardown),
      cmocka_unit_test_setup_teardown(test_range_refused_or_ignored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_if_range, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disconnect_mid_download, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disconnect_mid_range, setup, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
