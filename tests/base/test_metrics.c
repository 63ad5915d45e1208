/* test_metrics.c: the metrics registry: find-or-make by name and labels,
 * type clashes and bad names refused, exact Prometheus text and JSON,
 * histograms (cumulative buckets, sum, count), export into a short
 * buffer, and counters updated from several threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tern/tern.h"
#include "tern/metrics.h"

static void test_registry(void **state) {
  (void)state;
  tern_metrics *r;
  assert_int_equal(tern_metrics_new(&r), TERN_OK);
  tern_metric *a = tern_metrics_counter(r, "req_total", "Requests.", "code=\"2xx\"");
  tern_metric *b = tern_metrics_counter(r, "req_total", "Requests.", "code=\"4xx\"");
  assert_non_null(a);
  assert_non_null(b);
  assert_ptr_equal(tern_metrics_counter(r, "req_total", "x", "code=\"2xx\""), a);
  assert_null(tern_metrics_gauge(r, "req_total", "x", NULL)); /* type clash */
  assert_null(tern_metrics_counter(r, "9bad", "x", NULL));
  assert_null(tern_metrics_counter(r, "bad-name", "x", NULL));
  assert_null(tern_metrics_counter(r, "ok", "x", "code=2xx"));        /* unquoted */
  assert_null(tern_metrics_counter(r, "ok", "x", "code=\"a\"b=\"c\"")); /* no comma */
  assert_null(tern_metrics_counter(r, "ok", "x", "code=\"a\nb\""));     /* raw newline */
  assert_non_null(tern_metrics_counter(r, "ok", "x", "path=\"/a\\\"b\",m=\"GET\""));
  double bad[] = {5, 1};
  assert_null(tern_metrics_histogram(r, "h", "x", NULL, bad, 2));
  tern_metric_add(a, 3);
  tern_metric_add(a, -1); /* counters only go up */
  assert_int_equal(tern_metric_value(a), 3);
  tern_metric *g = tern_metrics_gauge(r, "conns", "Open connections.", NULL);
  tern_metric_set(g, 10);
  tern_metric_add(g, -3);
  assert_int_equal(tern_metric_value(g), 7);
  tern_metrics_free(r);
}

static void test_exports(void **state) {
  (void)state;
  tern_metrics *r;
  assert_int_equal(tern_metrics_new(&r), TERN_OK);
  tern_metric *a = tern_metrics_counter(r, "req_total", "Requests\nanswered.", "code=\"2xx\"");
  tern_metric *g = tern_metrics_gauge(r, "conns", "Open.", NULL);
  tern_metric *b = tern_metrics_counter(r, "req_total", "Requests.", "code=\"4xx\"");
  double bounds[] = {10, 100};
  tern_metric *h = tern_metrics_histogram(r, "lat_ms", "Latency.", "op=\"dns\"", bounds, 2);
  tern_metric_add(a, 5);
  tern_metric_add(b, 1);
  tern_metric_set(g, 2);
  tern_metric_observe(h, 3);
  tern_metric_observe(h, 50);
  tern_metric_observe(h, 500);
  char buf[2048];
  size_t n = tern_metrics_prometheus(r, buf, sizeof(buf));
  const char *want =
      "# HELP req_total Requests\\nanswered.\n"
      "# TYPE req_total counter\n"
      "req_total{code=\"2xx\"} 5\n"
      "req_total{code=\"4xx\"} 1\n"
      "# HELP conns Open.\n"
      "# TYPE conns gauge\n"
      "conns 2\n"
      "# HELP lat_ms Latency.\n"
      "# TYPE lat_ms histogram\n"
      "lat_ms_bucket{op=\"dns\",le=\"10\"} 1\n"
      "lat_ms_bucket{op=\"dns\",le=\"100\"} 2\n"
      "lat_ms_bucket{op=\"dns\",le=\"+Inf\"} 3\n"
      "lat_ms_sum{op=\"dns\"} 553\n"
      "lat_ms_count{op=\"dns\"} 3\n";
  assert_string_equal(buf, want);
  assert_int_equal(n, strlen(want));
  /* a short buffer: cut, NUL-terminated, and the length needed returned */
  char small[16];
  assert_int_equal(tern_metrics_prometheus(r, small, sizeof(small)), strlen(want));
  assert_int_equal(strlen(small), sizeof(small) - 1);
  n = tern_metrics_json(r, buf, sizeof(buf));
  assert_string_equal(buf,
      "{\"req_total\":[{\"labels\":{\"code\":\"2xx\"},\"value\":5},"
      "{\"labels\":{\"code\":\"4xx\"},\"value\":1}],"
      "\"conns\":[{\"labels\":{},\"value\":2}],"
      "\"lat_ms\":[{\"labels\":{\"op\":\"dns\"},\"count\":3,\"sum\":553,"
      "\"buckets\":[[10,1],[100,2]]}]}");
  assert_int_equal(n, strlen(buf));
  tern_metrics_free(r);
  /* empty registry */
  assert_int_equal(tern_metrics_new(&r), TERN_OK);
  tern_metrics_json(r, buf, sizeof(buf));
  assert_string_equal(buf, "{}");
  assert_int_equal(tern_metrics_prometheus(r, buf, sizeof(buf)), 0);
  tern_metrics_free(r);
}

static tern_metric *shared;
static void adder(void *arg) {
  (void)arg;
  for (int i = 0; i < 100000; i++) tern_metric_add(shared, 1);
}

static void test_threads(void **state) {
  (void)state;
  tern_metrics *r;
  assert_int_equal(tern_metrics_new(&r), TERN_OK);
  shared = tern_metrics_counter(r, "n", "n", NULL);
  tern_thread *t[4];
  for (int i = 0; i < 4; i++) assert_int_equal(tern_thread_new(&t[i], "add", adder, NULL), TERN_OK);
  for (int i = 0; i < 4; i++) tern_thread_join(t[i]);
  assert_int_equal(tern_metric_value(shared), 400000);
  tern_metrics_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry),
      cmocka_unit_test(test_exports),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
