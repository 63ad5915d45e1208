/* test_ctx_check.c: tern_stack_set_ctx_check, the debug aid that stops a
 * raw API call made outside the stack's context (another thread without
 * the stack lock: lwIP users' most common misuse). The misuse runs in a
 * forked child, which must die of SIGABRT with the call named; the same
 * calls pass when the checker says yes, and with no checker at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ip/ip_internal.h"

static bool answer;
static bool check(void *ud) {
  (void)ud;
  return answer;
}

static int drop_out(tern_netif *nif, tern_pbuf *frame) {
  (void)nif;
  (void)frame;
  return TERN_OK;
}
static const tern_netif_driver drop_drv = {.name = "drop", .output = drop_out};

static tern_netif *mk_nif(tern_stack *st) {
  tern_netif_opts o = {0};
  o.driver = &drop_drv;
  tern_netif *nif;
  assert_int_equal(tern_netif_add(st, &o, &nif), 0);
  return nif;
}

static tern_stack *mk(void) {
  tern_stack_opts o = {0};
  o.pool_bytes = 64 * 1024;
  tern_stack *st;
  assert_int_equal(tern_stack_new(&st, &o), 0);
  return st;
}

static void test_allowed(void **state) {
  (void)state;
  tern_stack *st = mk();
  tern_tcp *p = tern_tcp_new(st); /* no checker: no check */
  assert_non_null(p);
  tern_tcp_abort(p);
  answer = true;
  tern_stack_set_ctx_check(st, check, NULL);
  p = tern_tcp_new(st);
  assert_non_null(p);
  tern_tcp_abort(p);
  tern_udp *u = tern_udp_new(st);
  assert_non_null(u);
  tern_udp_free(u);
  /* pbufs and input: a driver in the stack's context */
  tern_netif *nif = mk_nif(st);
  tern_netif_set_up(nif, true);
  tern_pbuf *f = tern_pbuf_alloc(st, TERN_PBUF_RAW, 20);
  assert_non_null(f);
  memset(tern_pbuf_data(f), 0, 20);
  tern_netif_input(nif, f, false); /* not IPv4: dropped, freed */
  tern_netif_stats ns;
  tern_netif_get_stats(nif, &ns);
  assert_int_equal(ns.rx_frames, 1);
  tern_stack_free(st);
}

static void test_misuse_aborts(void **state) {
  (void)state;
#if TERN_IP_CTX_CHECK
  for (int which = 0; which < 4; which++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      tern_stack *st = mk();
      tern_netif *nif = mk_nif(st);
      answer = false;
      tern_stack_set_ctx_check(st, check, NULL);
      if (which == 0)
        (void)tern_tcp_new(st);
      else if (which == 1)
        (void)tern_udp_new(st);
      else if (which == 2)
        (void)tern_pbuf_alloc(st, TERN_PBUF_RAW, 10);
      else
        tern_netif_input(nif, NULL, false);
      _exit(0); /* not reached when the check works */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
  }
#else
  skip();
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allowed),
      cmocka_unit_test(test_misuse_aborts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
