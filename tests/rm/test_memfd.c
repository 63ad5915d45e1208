/* test_memfd.c: reads and writes larger than one message, moved in a
 * sealed memfd (rm_memfd.c): a 4 MiB round trip checked by hash, the
 * sizes at the one-message boundary, the bounds (client's and server's
 * max_memfd), and malformed descriptor messages (none, wrong size,
 * unsealed, not a memfd, two, one on a kind that takes none), each
 * refused with TERN_EPROTO while the connection goes on and the server
 * keeps no descriptor. */
#include <fcntl.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rm/rm_msg.h"
#include "rm/rm_server.h"

#define BIG_CAP (8u << 20)
#define SRV_MAX_MEMFD (6u << 20)

static uint8_t *store; /* the device's bytes */
static size_t store_len;
static int writes;

#define LATER_LEN (3u << 20) /* a read of this size is answered later */

typedef struct later {
  tern_rm_dispatch *d;
  tern_rm_rcvid rcvid;
} later;

static void later_thread(void *arg) {
  later *l = arg;
  struct iovec v = {store, LATER_LEN};
  usleep(10 * 1000);
  tern_rm_reply(l->d, l->rcvid, TERN_OK, 0, &v, 1); /* copied, posted */
}

static int b_read(tern_rm_ctx *ctx, const tern_rm_read_msg *msg,
                  tern_rm_ocb *ocb) {
  if (msg->nbytes == LATER_LEN) { /* NOREPLY, then from another thread */
    static later l;
    tern_thread *th;
    l = (later){tern_rm_ctx_dispatch(ctx), tern_rm_ctx_rcvid(ctx)};
    assert_int_equal(tern_thread_new(&th, "later", later_thread, &l), TERN_OK);
    tern_thread_join(th);
    return TERN_RM_NOREPLY;
  }
  size_t off = (size_t)tern_rm_ocb_offset(ocb);
  size_t n = off < store_len ? store_len - off : 0;
  if (n > msg->nbytes) n = msg->nbytes;
  tern_rm_ocb_set_offset(ocb, (int64_t)(off + n));
  /* two parts, to see them gathered into one memfd */
  struct iovec v[2] = {{store + off, n / 2}, {store + off + n / 2, n - n / 2}};
  return tern_rm_reply_parts(ctx, v, 2);
}

static int b_write(tern_rm_ctx *ctx, const tern_rm_write_msg *msg,
                   tern_rm_ocb *ocb) {
  (void)ocb;
  size_t n = msg->nbytes < BIG_CAP ? msg->nbytes : BIG_CAP;
  memcpy(store, msg->data, n);
  store_len = n;
  writes++;
  tern_rm_ctx_set_value(ctx, (int64_t)n);
  return TERN_OK;
}

static const tern_rm_io_funcs big_iof = {.read = b_read, .write = b_write};
static tern_rm_attr big_attr;
static char *reg;
static test_srv srv;
static tern_rmc_opts copts;
static const tern_rm_opts sopts = {.max_memfd = SRV_MAX_MEMFD};

static void setup_srv(test_srv *s) {
  tern_rm_attr_init(&big_attr, 0, getuid(), getgid());
  s->rc = tern_rm_attach(s->d, "/dev/big", 0, NULL, &big_iof, &big_attr, NULL);
}

static int setup(void **state) {
  (void)state;
  reg = test_registry();
  store = malloc(BIG_CAP);
  store_len = 0;
  writes = 0;
  srv = (test_srv){.registry = reg, .setup = setup_srv, .opts = &sopts};
  assert_int_equal(test_srv_start(&srv), TERN_OK);
  copts = (tern_rmc_opts){.registry = reg, .timeout_ms = 5000};
  return 0;
}

/* the same with the handlers on a thread pool */
static const tern_rm_pool_attr pool2 = {.lo_water = 1, .hi_water = 2};
static int setup_pool(void **state) {
  (void)state;
  reg = test_registry();
  store = malloc(BIG_CAP);
  store_len = 0;
  writes = 0;
  srv = (test_srv){.registry = reg, .setup = setup_srv, .opts = &sopts,
                   .pool = &pool2};
  assert_int_equal(test_srv_start(&srv), TERN_OK);
  copts = (tern_rmc_opts){.registry = reg, .timeout_ms = 5000};
  return 0;
}

static int teardown(void **state) {
  (void)state;
  test_srv_stop(&srv);
  assert_int_equal(big_attr.count, 0);
  free(store);
  test_registry_rm(reg);
  return 0;
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static void fill(uint8_t *p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (uint8_t)(seed >> 16);
  }
}

static int nfds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  while (d && readdir(d)) n++;
  if (d) closedir(d);
  return n;
}

/* The server closes its end when it sees ours closed: a moment later. */
static int nfds_settle(int want) {
  int n = nfds();
  for (int i = 0; i < 200 && n != want; i++) usleep(5000), n = nfds();
  return n;
}

static void test_4mib_round_trip(void **state) {
  (void)state;
  const size_t len = 4u << 20;
  uint8_t *out = malloc(len), *in = malloc(len + 100);
  tern_rmc *h;
  int64_t pos;
  fill(out, len, 7);
  int fds = nfds();
  assert_int_equal(tern_rmc_open(&h, "/dev/big", O_RDWR, &copts), TERN_OK);
  assert_int_equal(tern_rmc_write(h, out, len), (int)len);
  assert_int_equal(store_len, len);
  assert_true(fnv1a(store, len) == fnv1a(out, len)); /* what the handler saw */
  assert_int_equal(tern_rmc_read(h, in, len + 100), (int)len); /* all, no more */
  assert_true(fnv1a(in, len) == fnv1a(out, len));
  /* a read from the middle, smaller than asked for */
  assert_int_equal(tern_rmc_lseek(h, 1000, SEEK_SET, &pos), TERN_OK);
  memset(in, 0, len);
  assert_int_equal(tern_rmc_read(h, in, len), (int)(len - 1000));
  assert_true(fnv1a(in, len - 1000) == fnv1a(out + 1000, len - 1000));
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  assert_int_equal(nfds_settle(fds), fds); /* no memfd kept on either side */
  free(out);
  free(in);
}

static void test_large_reply_from_thread(void **state) {
  (void)state;
  uint8_t *out = malloc(LATER_LEN), *in = malloc(LATER_LEN);
  tern_rmc *h;
  fill(out, LATER_LEN, 11);
  assert_int_equal(tern_rmc_open(&h, "/dev/big", O_RDWR, &copts), TERN_OK);
  assert_int_equal(tern_rmc_write(h, out, LATER_LEN), (int)LATER_LEN);
  assert_int_equal(tern_rmc_read(h, in, LATER_LEN), (int)LATER_LEN);
  assert_true(fnv1a(in, LATER_LEN) == fnv1a(out, LATER_LEN));
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  free(out);
  free(in);
}

static void test_boundary_sizes(void **state) {
  (void)state;
  const size_t room = TERN_RM_MAX_MSG_DEFAULT - 24; /* write's room */
  uint8_t *out = malloc(room + 2), *in = malloc(room + 2);
  tern_rmc *h;
  fill(out, room + 2, 3);
  assert_int_equal(tern_rmc_open(&h, "/dev/big", O_RDWR, &copts), TERN_OK);
  for (size_t n = room - 1; n <= room + 1; n++) { /* inline, inline, memfd */
    int64_t pos;
    assert_int_equal(tern_rmc_write(h, out, n), (int)n);
    assert_int_equal(tern_rmc_lseek(h, 0, SEEK_SET, &pos), TERN_OK);
    assert_int_equal(tern_rmc_read(h, in, n), (int)n);
    assert_memory_equal(in, out, n);
  }
  assert_int_equal(writes, 3);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  free(out);
  free(in);
}

static void test_bounds(void **state) {
  (void)state;
  const size_t len = SRV_MAX_MEMFD + 1;
  uint8_t *p = calloc(1, len);
  tern_rmc *h, *hs;
  assert_int_equal(tern_rmc_open(&h, "/dev/big", O_RDWR, &copts), TERN_OK);
  assert_int_equal(tern_rmc_write(h, p, len), TERN_EMSGSIZE); /* server's bound */
  assert_int_equal(writes, 0);
  assert_int_equal(tern_rmc_write(h, p, SRV_MAX_MEMFD), (int)SRV_MAX_MEMFD);
  int64_t pos;
  store_len = BIG_CAP; /* more than the server may send in one answer */
  assert_int_equal(tern_rmc_lseek(h, 0, SEEK_SET, &pos), TERN_OK);
  assert_int_equal(tern_rmc_read(h, p, len), TERN_EMSGSIZE);
  assert_int_equal(tern_rmc_read(h, p, SRV_MAX_MEMFD), (int)SRV_MAX_MEMFD);
  tern_rmc_opts small = copts;
  small.max_memfd = 1u << 20;
  assert_int_equal(tern_rmc_open(&hs, "/dev/big", O_RDWR, &small), TERN_OK);
  assert_int_equal(tern_rmc_write(hs, p, (1u << 20) + 1), TERN_EMSGSIZE); /* client's */
  assert_int_equal(writes, 1);
  /* a read above the client's bound is cut to it */
  assert_int_equal(tern_rmc_lseek(hs, 0, SEEK_SET, &pos), TERN_OK);
  assert_int_equal(tern_rmc_read(hs, p, 2u << 20), 1 << 20);
  assert_int_equal(tern_rmc_close(hs), TERN_OK);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  free(p);
  /* the server's bound is checked when it starts */
  tern_loop *loop;
  tern_rm_dispatch *d;
  tern_rm_opts bad = {.registry = reg, .max_memfd = (size_t)2 << 30};
  assert_int_equal(tern_loop_new(&loop, NULL), TERN_OK);
  assert_int_equal(tern_rm_dispatch_new(&d, loop, &bad), TERN_EINVAL);
  tern_loop_free(loop);
}

/* ---- malformed descriptor messages, sent raw on an open connection ---- */

static int send_fds(int s, const void *msg, size_t len, const int *fds, int nf) {
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int) * 2)];
  } cb;
  struct iovec v = {(void *)(uintptr_t)msg, len};
  struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1};
  if (nf > 0) {
    memset(&cb, 0, sizeof(cb));
    mh.msg_control = cb.b;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nf);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nf);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nf);
  }
  return sendmsg(s, &mh, 0) == (ssize_t)len ? 0 : -1;
}

/* The status of the reply to rid 1000 on s. */
static int32_t reply_status(int s) {
  uint8_t rep[64];
  ssize_t n = recv(s, rep, sizeof(rep), 0);
  tern__rm_hdr h;
  int32_t st;
  int64_t v;
  assert_true(n >= (ssize_t)(TERN__RM_HDR_LEN + TERN__RM_REPLY_FIXED));
  assert_int_equal(tern__rm_hdr_decode(rep, (size_t)n, &h), TERN_OK);
  assert_int_equal(h.rid, 1000);
  assert_int_equal(tern__rm_reply_decode(rep + TERN__RM_HDR_LEN, &st, &v), TERN_OK);
  return st;
}

static int memfd_of(size_t len, unsigned seals) {
  int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)len), 0);
  if (seals) assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
  return fd;
}

static int32_t try_write_fd(int s, uint32_t nbytes, const int *fds, int nf) {
  uint8_t m[32];
  size_t n = tern__rm_enc_io(m, TERN__RM_T_WRITE_FD, 1000, nbytes, 0, 0);
  assert_int_equal(send_fds(s, m, n, fds, nf), 0);
  return reply_status(s);
}

static void test_malformed_fd_messages(void **state) {
  (void)state;
  const unsigned all = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  tern_rmc *h;
  uint8_t m[64];
  int fds0 = nfds();
  assert_int_equal(tern_rmc_open(&h, "/dev/big", O_RDWR, &copts), TERN_OK);
  int s = tern_rmc_fd(h);
  int good = memfd_of(100000, all), fd;
  /* the well-formed one, to see that the raw path works */
  assert_int_equal(try_write_fd(s, 100000, &good, 1), TERN_OK);
  assert_int_equal(writes, 1);
  assert_int_equal(try_write_fd(s, 100000, NULL, 0), TERN_EPROTO); /* no fd */
  assert_int_equal(try_write_fd(s, 99999, &good, 1), TERN_EPROTO); /* size */
  assert_int_equal(try_write_fd(s, 100001, &good, 1), TERN_EPROTO);
  fd = memfd_of(100000, 0); /* unsealed */
  assert_int_equal(try_write_fd(s, 100000, &fd, 1), TERN_EPROTO);
  close(fd);
  fd = memfd_of(100000, F_SEAL_SHRINK | F_SEAL_GROW); /* still writable */
  assert_int_equal(try_write_fd(s, 100000, &fd, 1), TERN_EPROTO);
  close(fd);
  int pp[2];
  assert_int_equal(pipe(pp), 0); /* not a memfd */
  assert_int_equal(try_write_fd(s, 100000, &pp[0], 1), TERN_EPROTO);
  close(pp[0]), close(pp[1]);
  int two[2] = {good, good};
  assert_int_equal(try_write_fd(s, 100000, two, 2), TERN_EPROTO);
  assert_int_equal(try_write_fd(s, SRV_MAX_MEMFD + 1, &good, 1), TERN_EMSGSIZE);
  /* a descriptor on a kind that takes none */
  size_t n = tern__rm_enc_io(m, TERN__RM_T_WRITE, 1000, 2, 0, 2);
  memcpy(m + n, "ab", 2);
  assert_int_equal(send_fds(s, m, n + 2, &good, 1), 0);
  assert_int_equal(reply_status(s), TERN_EPROTO);
  n = tern__rm_enc_io(m, TERN__RM_T_READ_FD, 1000, 10, 0, 0);
  assert_int_equal(send_fds(s, m, n, &good, 1), 0);
  assert_int_equal(reply_status(s), TERN_EPROTO);
  n = tern__rm_enc_io(m, TERN__RM_T_READ_FD, 1000, 0, 0, 0); /* nbytes 0 */
  assert_int_equal(send_fds(s, m, n, NULL, 0), 0);
  assert_int_equal(reply_status(s), TERN_EPROTO);
  close(good);
  assert_int_equal(writes, 1); /* no handler saw a malformed one */
  /* the connection goes on */
  assert_int_equal(tern_rmc_write(h, "xy", 2), 2);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  assert_int_equal(nfds_settle(fds0), fds0); /* the server kept none */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_4mib_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_reply_from_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_reply_from_thread, setup_pool,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_boundary_sizes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_fd_messages, setup, teardown),
      cmocka_unit_test_setup_teardown(test_4mib_round_trip, setup_pool, teardown),
      cmocka_unit_test_setup_teardown(test_bounds, setup_pool, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_fd_messages, setup_pool,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
