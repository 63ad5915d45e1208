/* net_test.h: helpers shared by the connection API tests: an event
 * recorder per connection that checks the lifetime rules on every event
 * (user data never changes, nothing after CLOSE, exactly one CLOSE), and
 * a loop driver that runs until a condition or a deadline. */
#ifndef TERN_TESTS_NET_TEST_H
#define TERN_TESTS_NET_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"

#define REC_MAX 1024

/* What one connection saw. One rec per connection, used as its user data. */
typedef struct rec {
  void *self;           /* must equal the ud of every event */
  tern_conn *conn;
  int events[TERN_EV_CLOSE + 1];
  int closes;
  int after_close;      /* events seen after CLOSE: must stay 0 */
  int close_reason;
  int error;
  int eof;
  size_t bytes_in, bytes_out;
  int echo;             /* server side: echo what arrives */
  int consume;          /* consume what arrives (default 1) */
  int half_close;
  uint8_t last[256];
  size_t last_len;
  struct rec *next_free;
} rec;

/* A pool of recs so accepted connections can get one of their own. */
typedef struct rec_pool {
  rec recs[REC_MAX];
  int used;
  int closes;  /* total CLOSE events */
  int opens;   /* total OPEN events */
  int accepts;
  int server_echo;
} rec_pool;

static inline rec *rec_new(rec_pool *p) {
  assert_true(p->used < REC_MAX);
  rec *r = &p->recs[p->used++];
  memset(r, 0, sizeof(*r));
  r->self = r;
  r->consume = 1;
  return r;
}

static rec_pool *g_pool; /* the pool the recording handler files into */

/* Record an event and check the lifetime rules. Servers: accepted
 * connections start with the listener's rec; the ACCEPT handler gives them
 * one of their own (tern_conn_set_data), which must stick. */
static inline void rec_fn(tern_conn *c, const tern_event *ev, void *ud) {
  rec *r = ud;
  assert_non_null(r);
  if (ev->type == TERN_EV_ACCEPT) {
    rec *child = rec_new(g_pool);
    child->echo = g_pool->server_echo;
    child->conn = c;
    child->events[TERN_EV_OPEN] = 1; /* OPEN went to the listener's rec */
    tern_conn_set_data(c, child);
    g_pool->accepts++;
    r = child;
  }
  assert_ptr_equal(r->self, r);
  assert_ptr_equal(tern_conn_data(c), r);
  if (r->conn == NULL) r->conn = c;
  if (r->closes) r->after_close++;
  if (ev->type != TERN_EV_ACCEPT || r->events[TERN_EV_ACCEPT] == 0)
    r->events[ev->type]++;
  switch (ev->type) {
    case TERN_EV_OPEN:
      g_pool->opens++;
      break;
    case TERN_EV_READ:
      if (ev->read.eof) r->eof++;
      r->bytes_in += ev->read.fresh;
      if (ev->read.len) {
        size_t n = ev->read.len < sizeof(r->last) ? ev->read.len : sizeof(r->last);
        memcpy(r->last, ev->read.data, n);
        r->last_len = n;
      }
      if (r->echo && ev->read.len &&
          tern_send(c, ev->read.data, ev->read.len) == TERN_OK)
        tern_conn_consume(c, ev->read.len);
      else if (r->consume && !r->echo)
        tern_conn_consume(c, ev->read.len);
      if (ev->read.eof && r->half_close) tern_close(c);
      break;
    case TERN_EV_WRITE:
      r->bytes_out += ev->write.len;
      break;
    case TERN_EV_ERROR:
      r->error = ev->error.err;
      break;
    case TERN_EV_CLOSE:
      r->closes++;
      r->close_reason = ev->close.reason;
      g_pool->closes++;
      break;
    default:
      break;
  }
}

/* Run the loop until cond(arg) or timeout_ms; returns cond's value. */
static inline int run_until(tern_mgr *m, int (*cond)(void *), void *arg,
                            int timeout_ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)timeout_ms;
  while (!cond(arg) && tern_clock_ms() < end)
    tern_loop_poll(tern_mgr_loop(m), 10);
  return cond(arg);
}

static inline void run_for(tern_mgr *m, int ms) {
  uint64_t end = tern_clock_ms() + (uint64_t)ms;
  while (tern_clock_ms() < end) tern_loop_poll(tern_mgr_loop(m), 5);
}

/* "tcp://127.0.0.1:PORT" of a listener. */
static inline void url_of(tern_conn *l, const char *scheme, char *buf,
                          size_t n) {
  char a[TERN_ADDR_STRLEN];
  assert_true(tern_addr_format(tern_conn_local(l), true, a, sizeof(a)) > 0);
  snprintf(buf, n, "%s://%s", scheme, a);
}

/* Every rec in the pool got exactly one CLOSE and nothing after it. */
static inline void assert_all_closed_once(rec_pool *p) {
  for (int i = 0; i < p->used; i++) {
    assert_int_equal(p->recs[i].closes, 1);
    assert_int_equal(p->recs[i].after_close, 0);
  }
}

#endif
