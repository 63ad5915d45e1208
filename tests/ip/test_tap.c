/* test_tap.c: the Linux TAP driver's setup without traffic (traffic with
 * the kernel as the peer is tests/integ/ip_tap_ping.sh): a device is
 * created with and without the vnet header, the netif options it fills
 * in (flags, a locally administered unicast MAC, tso_max), the name the
 * kernel gave, a poll with nothing waiting, and refusals (a name too
 * long). Skipped without access to /dev/net/tun (not root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tern/ip.h"
#include "tern/ip_drivers.h"

static bool can_tap(void) { return access("/dev/net/tun", R_OK | W_OK) == 0; }

static void test_open_offload(void **state) {
  if (!can_tap()) {
    fprintf(stderr, "SKIP: no access to /dev/net/tun\n");
    skip();
  }
  char name[16];
  snprintf(name, sizeof(name), "tt%d", (int)getpid() % 100000);
  tern_tap *t;
  tern_tap_opts o = {.ifname = name};
  assert_int_equal(tern_tap_open(&t, &o), TERN_OK);
  assert_string_equal(tern_tap_name(t), name);
  assert_true(tern_tap_fd(t) >= 0);
  tern_netif_opts no = {0};
  tern_tap_netif_opts(t, &no);
  assert_int_equal(no.flags, TERN_NETIF_ETHERNET | TERN_NETIF_TX_CSUM |
                                 TERN_NETIF_TSO);
  assert_ptr_equal(no.driver_state, t);
  assert_non_null(no.driver);
  assert_non_null(no.driver->output);
  assert_non_null(no.driver->poll);
  assert_int_equal(no.mac[0] & 0x03, 0x02); /* unicast, locally administered */
  assert_true(no.tso_max > 60000 && no.tso_max <= 65535);
  /* a MAC given is kept */
  tern_netif_opts no2 = {0};
  memcpy(no2.mac, "\x02\x11\x22\x33\x44\x55", 6);
  tern_tap_netif_opts(t, &no2);
  assert_memory_equal(no2.mac, "\x02\x11\x22\x33\x44\x55", 6);

  /* a netif on it: nothing waiting (the link is down) */
  tern_stack *st;
  assert_int_equal(tern_stack_new(&st, NULL), TERN_OK);
  assert_int_equal(tern_tap_poll(t), 0); /* not attached yet */
  tern_netif *nif;
  assert_int_equal(tern_netif_add(st, &no, &nif), TERN_OK);
  tern_tap_attach(t, nif);
  assert_int_equal(tern_tap_poll(t), 0);
  tern_tap_set_impair(t, 0.5, 0.5, 1);
  assert_int_equal(tern_tap_poll(t), 0);
  tern_tap_stats ts;
  tern_tap_get_stats(t, &ts);
  assert_int_equal(ts.rx_frames, 0);
  tern_stack_stats ss;
  tern_stack_get_stats(st, &ss);
  assert_int_equal(ss.pool_used, 0); /* the read buffers went back */
  tern_stack_free(st);
  tern_tap_close(t);
}

static void test_open_plain(void **state) {
  if (!can_tap()) skip();
  char name[16];
  snprintf(name, sizeof(name), "tp%d", (int)getpid() % 100000);
  tern_tap *t;
  tern_tap_opts o = {.ifname = name, .no_offload = true, .rx_batch = 4};
  assert_int_equal(tern_tap_open(&t, &o), TERN_OK);
  tern_netif_opts no = {0};
  tern_tap_netif_opts(t, &no);
  assert_int_equal(no.flags, TERN_NETIF_ETHERNET);
  assert_string_equal(no.name, name);
  tern_tap_close(t);
}

static void test_bad_name(void **state) {
  tern_tap *t = NULL;
  tern_tap_opts o = {.ifname = "a-name-much-too-long-for-linux"};
  assert_int_equal(tern_tap_open(&t, &o), TERN_EINVAL);
  assert_null(t);
  tern_tap_close(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_offload),
      cmocka_unit_test(test_open_plain),
      cmocka_unit_test(test_bad_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
