/* test_rm_msg.c: the rm wire format and registry names: every kind
 * decodes, every truncation and reserved-field change is refused, random
 * bytes never crash; names encode and decode back; and a live server
 * answers malformed messages with TERN_EPROTO (or closes the connection
 * when there is no request id to answer) and goes on serving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rm/rm_internal.h"
#include "rm/rm_server.h"

static size_t build(uint8_t *out, int kind) {
  size_t n;
  switch (kind) {
  case 0:
    n = tern__rm_enc_open(out, 1, O_RDWR, 0, 4);
    memcpy(out + n, "a/bc", 4);
    return n + 4;
  case 1: return tern__rm_enc_io(out, TERN__RM_T_READ, 2, 100, 0, 0);
  case 2:
    n = tern__rm_enc_io(out, TERN__RM_T_WRITE, 3, 3, 0, 3);
    memcpy(out + n, "xyz", 3);
    return n + 3;
  case 3:
    n = tern__rm_enc_io(out, TERN__RM_T_DEVCTL, 4, TERN_DIOT(5, 1, int32_t), 4, 4);
    memset(out + n, 7, 4);
    return n + 4;
  case 4: return tern__rm_enc_empty(out, TERN__RM_T_STAT, 5);
  case 5: return tern__rm_enc_lseek(out, 6, -5, SEEK_END);
  case 6: return tern__rm_enc_empty(out, TERN__RM_T_DUP, 7);
  case 7: return tern__rm_enc_empty(out, TERN__RM_T_CLOSE, 8);
  case 8:
    n = tern__rm_enc_msg(out, 9, 3, 0x77, 2);
    memcpy(out + n, "hi", 2);
    return n + 2;
  case 9: return tern__rm_enc_empty(out, TERN__RM_T_UNBLOCK, 4);
  default:
    n = tern__rm_enc_reply(out, TERN__RM_T_READ, 2, 0, 3, 3);
    memcpy(out + n, "abc", 3);
    return n + 3;
  }
}

static void test_every_kind_decodes(void **state) {
  (void)state;
  uint8_t b[128];
  tern__rm_msg m;
  for (int k = 0; k <= 10; k++) {
    size_t n = build(b, k);
    assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_OK);
    for (size_t cut = 0; cut < n; cut++) /* every truncation refused */
      assert_int_equal(tern__rm_msg_decode(b, cut, &m), TERN_EPROTO);
    uint8_t longer[160];
    memcpy(longer, b, n);
    longer[n] = 0;
    assert_int_equal(tern__rm_msg_decode(longer, n + 1, &m), TERN_EPROTO);
  }
  size_t n = build(b, 3);
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_OK);
  assert_int_equal(m.dcmd, TERN_DIOT(5, 1, int32_t));
  assert_int_equal(m.nbytes, 4);
  n = build(b, 5);
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_OK);
  assert_int_equal(m.offset, -5);
  assert_int_equal(m.whence, SEEK_END);
  n = build(b, 10);
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_OK);
  assert_int_equal(m.offset, 3);
  assert_int_equal(m.data_len, 3);
}

static void test_bad_fields_refused(void **state) {
  (void)state;
  uint8_t b[128];
  tern__rm_msg m;
  size_t n = build(b, 1);
  b[0] = 2; /* version */
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_EPROTO);
  assert_int_equal(m.h.rid, 2); /* still known, for the error reply */
  n = build(b, 1);
  b[14] = 1; /* reserved */
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_EPROTO);
  n = build(b, 1);
  b[1] = 99; /* type */
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_EPROTO);
  n = build(b, 1);
  b[12] = 1; /* subtype on a non-MSG */
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_EPROTO);
  /* devctl data larger than the command's size, or sent "from" only */
  n = tern__rm_enc_io(b, TERN__RM_T_DEVCTL, 4, TERN_DIOT(5, 1, int16_t), 4, 4);
  assert_int_equal(tern__rm_msg_decode(b, n + 4, &m), TERN_EPROTO);
  n = tern__rm_enc_io(b, TERN__RM_T_DEVCTL, 4, TERN_DIOF(5, 1, int32_t), 4, 4);
  assert_int_equal(tern__rm_msg_decode(b, n + 4, &m), TERN_EPROTO);
  /* a path with a NUL */
  n = tern__rm_enc_open(b, 1, O_RDWR, 0, 3);
  memcpy(b + n, "a\0b", 3);
  assert_int_equal(tern__rm_msg_decode(b, n + 3, &m), TERN_EPROTO);
  /* lseek whence */
  n = tern__rm_enc_lseek(b, 6, 0, 3);
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_EPROTO);
  /* a positive status in a reply */
  n = tern__rm_enc_reply(b, 2, 2, 5, 0, 0);
  assert_int_equal(tern__rm_msg_decode(b, n, &m), TERN_EPROTO);
}

static void test_random_bytes(void **state) {
  (void)state;
  uint8_t b[64];
  tern__rm_msg m;
  uint32_t x = 12345;
  for (int i = 0; i < 200000; i++) {
    size_t n = build(b, i % 11);
    x = x * 1103515245u + 12345u;
    b[(x >> 8) % n] ^= (uint8_t)(x >> 20);
    int rc = tern__rm_msg_decode(b, n, &m);
    assert_true(rc == TERN_OK || rc == TERN_EPROTO);
    if (rc == TERN_OK && m.data_len)
      assert_true(m.data >= b && m.data + m.data_len <= b + n);
  }
}

static void test_names(void **state) {
  (void)state;
  char name[256], path[256];
  bool dir;
  assert_int_equal(tern__rm_name_encode("/dev/tern/a b%", true, name, sizeof(name)), TERN_OK);
  assert_string_equal(name, "d.+dev+tern+a%20b%25");
  assert_int_equal(tern__rm_name_decode(name, path, sizeof(path), &dir), TERN_OK);
  assert_string_equal(path, "/dev/tern/a b%");
  assert_true(dir);
  assert_int_equal(tern__rm_name_encode("/", false, name, sizeof(name)), TERN_OK);
  assert_string_equal(name, "f.+");
  assert_int_equal(tern__rm_name_decode("f.+", path, sizeof(path), &dir), TERN_OK);
  assert_string_equal(path, "/");
  assert_false(dir);
  assert_int_equal(tern__rm_name_decode("x.+a", path, sizeof(path), &dir), TERN_EINVAL);
  assert_int_equal(tern__rm_name_decode("f.+a%00", path, sizeof(path), &dir), TERN_EINVAL);
  assert_int_equal(tern__rm_name_decode("f.+a%2", path, sizeof(path), &dir), TERN_EINVAL);
  assert_int_equal(tern__rm_name_decode("f.+a++b", path, sizeof(path), &dir), TERN_EINVAL);
  assert_int_equal(tern__rm_name_decode("f.+..", path, sizeof(path), &dir), TERN_EINVAL);
  assert_int_equal(tern__rm_name_encode("/x", false, name, 4), TERN_EINVAL);
  assert_true(tern__rm_path_valid("/a/b"));
  assert_false(tern__rm_path_valid("a/b"));
  assert_false(tern__rm_path_valid("/a/"));
  assert_false(tern__rm_path_valid("/a//b"));
  assert_false(tern__rm_path_valid("/a/./b"));
  assert_false(tern__rm_path_valid("/a/.."));
  assert_false(tern__rm_path_valid(""));
}

/* ---- malformed messages at a live server --------------------------------- */

static tern_rm_attr attr;
static void setup_srv(test_srv *s) {
  s->rc = tern_rm_attach(s->d, "/m", 0, NULL, NULL, &attr, NULL);
}

/* Send bytes, read the answer: its status, or 1 if the connection closed. */
static int exchange(int fd, const uint8_t *b, size_t n, uint32_t rid) {
  uint8_t r[256];
  assert_int_equal(send(fd, b, n, 0), (ssize_t)n);
  struct pollfd p = {fd, POLLIN, 0};
  assert_int_equal(poll(&p, 1, 2000), 1);
  ssize_t got = recv(fd, r, sizeof(r), 0);
  if (got == 0) return 1;
  tern__rm_msg m;
  assert_int_equal(tern__rm_msg_decode(r, (size_t)got, &m), TERN_OK);
  assert_true(m.h.flags & TERN__RM_F_REPLY);
  assert_int_equal(m.h.rid, rid);
  return m.status;
}

static void test_malformed_at_server(void **state) {
  (void)state;
  char *reg = test_registry(), rest[64];
  tern_rm_attr_init(&attr, 0, 0, 0);
  test_srv s = {.registry = reg, .setup = setup_srv};
  assert_int_equal(test_srv_start(&s), TERN_OK);
  int fd;
  uint8_t b[128];
  assert_int_equal(tern__rm_resolve(reg, "/m", &fd, rest, sizeof(rest)), TERN_OK);
  size_t n = build(b, 1); /* READ before OPEN */
  assert_int_equal(exchange(fd, b, n, 2), TERN_EBADF);
  b[0] = 9; /* bad version */
  assert_int_equal(exchange(fd, b, n, 2), TERN_EPROTO);
  n = build(b, 10); /* a reply sent to the server */
  assert_int_equal(exchange(fd, b, n, 2), TERN_EPROTO);
  n = build(b, 2);
  assert_int_equal(exchange(fd, b, n - 1, 3), TERN_EPROTO); /* cut short */
  n = tern__rm_enc_open(b, 11, O_RDONLY, 0, 0);
  assert_int_equal(exchange(fd, b, n, 11), TERN_OK);
  assert_int_equal(exchange(fd, b, n, 11), TERN_EALREADY); /* open twice */
  n = tern__rm_enc_empty(b, TERN__RM_T_STAT, 0); /* rid 0: unanswerable */
  assert_int_equal(exchange(fd, b, n, 0), 1);
  close(fd);
  assert_int_equal(tern__rm_resolve(reg, "/m", &fd, rest, sizeof(rest)), TERN_OK);
  assert_int_equal(exchange(fd, (const uint8_t *)"\1\2\3\4\5", 5, 0), 1);
  close(fd);
  /* the server goes on */
  tern_rmc *h;
  tern_rmc_opts o = {.registry = reg};
  assert_int_equal(tern_rmc_open(&h, "/m", O_RDONLY, &o), TERN_OK);
  assert_int_equal(tern_rmc_close(h), TERN_OK);
  test_srv_stop(&s);
  assert_int_equal(attr.count, 0);
  test_registry_rm(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_kind_decodes),
      cmocka_unit_test(test_bad_fields_refused),
      cmocka_unit_test(test_random_bytes),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_malformed_at_server),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
