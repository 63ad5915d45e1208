/* test_msg_ext.c: the strict decoding of the wire kinds from 16 on
 * (rm_msg.c): MOUNT, WRITE_FD, READ_FD. Every field that could be
 * spelled two ways or point outside the message is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rm/rm_msg.h"
#include "tern/base.h"

static size_t mount_msg(uint8_t *m, uint32_t flags, const char *spec,
                        const char *dir, const char *type, const char *data) {
  size_t sl = strlen(spec), dl = strlen(dir), tl = strlen(type), al = strlen(data);
  size_t n = tern__rm_enc_mount(m, 5, flags, (uint16_t)sl, (uint16_t)dl,
                                (uint16_t)tl, (uint32_t)al);
  memcpy(m + n, spec, sl);
  memcpy(m + n + sl, dir, dl);
  memcpy(m + n + sl + dl, type, tl);
  memcpy(m + n + sl + dl + tl, data, al);
  return n + sl + dl + tl + al;
}

static void test_mount_ok(void **state) {
  (void)state;
  uint8_t m[256];
  tern__rm_msg d;
  size_t n = mount_msg(m, TERN_RM_MOUNT_RDONLY | TERN_RM_MOUNT_REMOUNT,
                       "/dev/ram0", "/mnt/x", "tern-ram", "size=1");
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_OK);
  assert_int_equal(d.h.type, TERN__RM_T_MOUNT);
  assert_int_equal(d.oflag, TERN_RM_MOUNT_RDONLY | TERN_RM_MOUNT_REMOUNT);
  assert_int_equal(d.speclen, 9);
  assert_int_equal(d.dirlen, 6);
  assert_int_equal(d.typelen, 8);
  assert_int_equal(d.data_len, 9 + 6 + 8 + 6);
  assert_memory_equal(d.data, "/dev/ram0/mnt/xtern-ramsize=1", d.data_len);
  n = mount_msg(m, TERN_RM_MOUNT_UNMOUNT, "", "/m", "", ""); /* minimal */
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_OK);
}

static void test_mount_refused(void **state) {
  (void)state;
  uint8_t m[256];
  tern__rm_msg d;
  size_t n = mount_msg(m, 0, "s", "/d", "t", "x");
  /* one byte less or more than the parts add up to */
  uint8_t cut[256];
  memcpy(cut, m, n);
  cut[8] = (uint8_t)(n - TERN__RM_HDR_LEN - 1); /* header len, message shorter */
  assert_int_equal(tern__rm_msg_decode(cut, n - 1, &d), TERN_EPROTO);
  m[TERN__RM_HDR_LEN + 12] = 2; /* datalen 2, one byte there */
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
  m[TERN__RM_HDR_LEN + 12] = 1;
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_OK);
  m[TERN__RM_HDR_LEN + 10] = 1; /* reserved */
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
  m[TERN__RM_HDR_LEN + 10] = 0;
  n = mount_msg(m, 1u << 5, "s", "/d", "t", ""); /* unknown flag */
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
  n = mount_msg(m, TERN_RM_MOUNT_REMOUNT | TERN_RM_MOUNT_UNMOUNT, "", "/d", "", "");
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
  n = mount_msg(m, 0, "s", "", "t", ""); /* no mount point */
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
  char longtype[65];
  memset(longtype, 'a', 64);
  longtype[64] = '\0';
  n = mount_msg(m, 0, "", "/d", longtype, "");
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
  longtype[63] = '\0'; /* 63 is the most */
  n = mount_msg(m, 0, "", "/d", longtype, "");
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_OK);
  n = mount_msg(m, 0, "ab", "/d", "t", "a\0b"); /* NUL in data: fine */
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_OK);
  m[n - 3] = '\0'; /* NUL in the type: refused */
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
  n = mount_msg(m, 0, "ab", "/d", "t", "");
  m[TERN__RM_HDR_LEN + TERN__RM_MOUNT_FIXED] = '\0'; /* in special */
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
  n = tern__rm_enc_mount(m, 5, 0, 0, 2, 0, 0); /* fixed part cut */
  assert_int_equal(tern__rm_msg_decode(m, TERN__RM_HDR_LEN, &d), TERN_EPROTO);
}

static void test_fd_kinds(void **state) {
  (void)state;
  uint8_t m[64];
  tern__rm_msg d;
  for (uint8_t t = TERN__RM_T_WRITE_FD; t <= TERN__RM_T_READ_FD; t++) {
    size_t n = tern__rm_enc_io(m, t, 3, 4u << 20, 0, 0);
    assert_int_equal(n, TERN__RM_HDR_LEN + 8);
    assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_OK);
    assert_int_equal(d.nbytes, 4u << 20);
    assert_int_equal(d.data_len, 0);
    m[TERN__RM_HDR_LEN + 4] = 1; /* reserved */
    assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
    n = tern__rm_enc_io(m, t, 3, 0, 0, 0); /* nothing to move */
    assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
    n = tern__rm_enc_io(m, t, 3, 5, 0, 1); /* inline data too */
    m[n] = 'x';
    assert_int_equal(tern__rm_msg_decode(m, n + 1, &d), TERN_EPROTO);
  }
  /* past the kinds this branch knows */
  size_t n = tern__rm_enc_empty(m, TERN__RM_T_EXT_MAX + 1, 3);
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_EPROTO);
  /* the header check: 1..13 (with notify, pulses, PRIV) and 16..18 known,
   * 0, 14, 15 and 19.. refused; a PULSE only with rid 0 */
  tern__rm_hdr h;
  for (unsigned t = 0; t < 256; t++) {
    bool known = (t >= 1 && t <= 13) || (t >= 16 && t <= 18);
    tern__rm_hdr_encode(m, (uint8_t)t, 0, t == TERN__RM_T_PULSE ? 0 : 3, 0, 0);
    assert_int_equal(tern__rm_hdr_decode(m, TERN__RM_HDR_LEN, &h),
                     known ? TERN_OK : TERN_EPROTO);
  }
  tern__rm_hdr_encode(m, TERN__RM_T_PULSE, 0, 3, 0, 0);
  assert_int_equal(tern__rm_hdr_decode(m, TERN__RM_HDR_LEN, &h), TERN_EPROTO);
  /* a reply of the new kinds has the usual reply layout */
  n = tern__rm_enc_reply(m, TERN__RM_T_READ_FD, 3, 0, 4 << 20, 0);
  assert_int_equal(tern__rm_msg_decode(m, n, &d), TERN_OK);
  assert_int_equal(d.offset, 4 << 20);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mount_ok),
      cmocka_unit_test(test_mount_refused),
      cmocka_unit_test(test_fd_kinds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
