/* proto/sntp.c: the SNTP client (tern/sntp.h). Packets: sntp_msg.c.
 *
 * Read first: RFC 4330 5 (client operation), 8 (a client MUST stop
 * sending to a server that sends a kiss-o'-death DENY or RSTR, and should
 * slow down on RATE), 10 (best practice: do not poll more often than
 * needed, back off when a server does not answer).
 *
 * One sync: try 0..attempts-1; each try sends one request to every
 * server not kissed away (a fresh UDP connection each time, so a fresh
 * port, and a random transmit timestamp the reply must echo) and waits
 * timeout << try, or less if every server asked has answered. The first
 * try with any good answer ends the sync: the answer with the smallest
 * delay wins.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/sntp_msg.h"
#include "tern/loop.h"
#include "tern/port.h"
#include "tern/retry.h"
#include "tern/sntp.h"

#define MAX_SERVERS 8
#define URL_MAX 300

typedef struct server {
  struct tern_sntp *s;
  char url[URL_MAX];    /* "udp://host:port" */
  tern_conn *conn;
  uint64_t xmit;        /* transmit timestamp of the request in flight */
  int64_t t1_us;        /* local wall time it was sent */
  bool asked, answered;
  bool denied;          /* DENY/RSTR: never again */
  uint64_t quiet_until; /* RATE: loop ms */
  tern_sntp_sample got; /* this try's answer, if good */
  bool good;
} server;

struct tern_sntp {
  tern_mgr *m;
  tern_loop *loop;
  tern_sntp_opts o;
  server srv[MAX_SERVERS];
  size_t nsrv;
  tern_timer *timer;  /* a try's wait, or the time to the next sync */
  bool syncing;
  bool again;         /* tern_sntp_sync during a sync: go again if it fails */
  unsigned try_no;
  bool kissed_all;    /* this sync: every server asked said go away */
  bool have_last;
  tern_sntp_sample last;
  uint16_t failures;  /* failed syncs in a row (the retry policy's count) */
};

static int servers_parse(tern_sntp *s, const char *list) {
  const char *p = list;
  while (p && *p) {
    while (*p == ',' || *p == ' ' || *p == '\t') p++;
    const char *b = p;
    while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
    size_t n = (size_t)(p - b);
    if (n == 0) break;
    if (s->nsrv == MAX_SERVERS || n > URL_MAX - 16) return TERN_EINVAL;
    /* a port is there if the text ends in ":digits" after any ']' */
    const char *colon = NULL;
    for (const char *q = b; q < p; q++)
      if (*q == ':') colon = q;
    const char *bracket = memchr(b, ']', n);
    bool has_port = colon && (!bracket || colon > bracket) && colon + 1 < p;
    if (!bracket && colon && memchr(b, ':', (size_t)(colon - b)))
      return TERN_EINVAL; /* a bare IPv6 address: write it as [addr] */
    server *sv = &s->srv[s->nsrv++];
    sv->s = s;
    memcpy(sv->url, "udp://", 6);
    memcpy(sv->url + 6, b, n);
    strcpy(sv->url + 6 + n, has_port ? "" : ":123");
    tern_url u;
    if (tern_url_parse(sv->url, strlen(sv->url), &u) != TERN_OK)
      return TERN_EINVAL;
  }
  return s->nsrv ? TERN_OK : TERN_EINVAL;
}

static void server_drop_conn(server *sv) {
  if (sv->conn) {
    tern_conn_set_fn(sv->conn, NULL); /* no event after this */
    tern_abort(sv->conn);
    sv->conn = NULL;
  }
}

static void sync_finish(tern_sntp *s) {
  tern_sntp_sample best = {.status = s->kissed_all ? TERN_EAGAIN : TERN_ETIMEDOUT};
  for (size_t i = 0; i < s->nsrv; i++) {
    server *sv = &s->srv[i];
    server_drop_conn(sv);
    if (sv->good && (best.status != TERN_OK || sv->got.delay_us < best.delay_us))
      best = sv->got;
  }
  s->syncing = false;
  if (best.status == TERN_OK) {
    s->last = best;
    s->have_last = true;
    if (s->o.set_clock) s->o.set_clock(best.offset_us, s->o.ud);
  }
  uint64_t next_ms;
  if (best.status == TERN_OK) {
    s->failures = 0;
    next_ms = (uint64_t)s->o.interval_s * 1000;
  } else if (s->again) {
    next_ms = 0; /* asked again meanwhile (e.g. the network came up) */
  } else if (s->o.retry) {
    next_ms = tern_retry_next(s->o.retry, &s->failures, NULL);
  } else {
    next_ms = (uint64_t)s->o.retry_s * 1000;
  }
  s->again = false;
  tern_timer_start(s->timer, next_ms, 0);
  if (s->o.on_sample) s->o.on_sample(s, &best, s->o.ud);
}

static void on_udp(tern_conn *c, const tern_event *ev, void *ud) {
  server *sv = ud;
  tern_sntp *s = sv->s;
  if (ev->type == TERN_EV_CONNECT) {
    uint8_t req[TERN__SNTP_LEN];
    tern__sntp_request(req, sv->xmit);
    sv->t1_us = tern_clock_wall_us();
    tern_send(c, req, sizeof(req));
    return;
  }
  if (ev->type == TERN_EV_CLOSE) {
    if (sv->conn == c) sv->conn = NULL;
    return;
  }
  if (ev->type != TERN_EV_READ) return;
  int64_t t4 = tern_clock_wall_us();
  tern__sntp_reply r;
  int rc = tern__sntp_parse(ev->read.data, ev->read.len, sv->xmit, &r);
  tern_conn_consume(c, ev->read.len);
  if (rc == TERN_EPROTO || sv->answered) return; /* not for us: wait on */
  sv->answered = true;
  if (rc == TERN_EAGAIN) { /* RFC 4330 8: kiss-o'-death */
    if (!memcmp(r.kiss, "DENY", 4) || !memcmp(r.kiss, "RSTR", 4))
      sv->denied = true;
    else
      sv->quiet_until = tern_loop_now(s->loop) + (uint64_t)s->o.interval_s * 4000;
  } else {
    sv->good = true;
    sv->got.status = TERN_OK;
    tern__sntp_offset(sv->t1_us, r.t2_us, r.t3_us, t4, &sv->got.offset_us,
                      &sv->got.delay_us);
    sv->got.stratum = r.stratum;
    sv->got.server = *tern_conn_peer(c);
    sv->got.at_us = t4;
  }
  server_drop_conn(sv);
  for (size_t i = 0; i < s->nsrv; i++) /* everyone asked has answered? */
    if (s->srv[i].asked && !s->srv[i].answered) return;
  tern_timer_start(s->timer, 0, 0); /* end the try now, from the loop */
}

/* Send this try's requests. False if no server may be asked. */
static bool try_start(tern_sntp *s) {
  uint64_t now = tern_loop_now(s->loop);
  bool any = false;
  for (size_t i = 0; i < s->nsrv; i++) {
    server *sv = &s->srv[i];
    server_drop_conn(sv);
    sv->asked = sv->answered = sv->good = false;
    if (sv->denied || now < sv->quiet_until) continue;
    /* a random transmit timestamp: only the real server's reply echoes it */
    if (tern_random(&sv->xmit, sizeof(sv->xmit)) != TERN_OK || sv->xmit == 0)
      sv->xmit = (uint64_t)tern_clock_us() | 1;
    if (tern_connect(s->m, sv->url, on_udp, sv, &sv->conn) != TERN_OK) {
      sv->conn = NULL;
      continue;
    }
    tern_conn_set_system(sv->conn, true); /* the client's own */
    sv->asked = true;
    any = true;
  }
  return any;
}

/* The timer: a try ended, or it is time for the next sync. */
static void on_timer(tern_timer *t, void *ud) {
  tern_sntp *s = ud;
  (void)t;
  if (!s->syncing) {
    tern_sntp_sync(s);
    return;
  }
  bool good = false, all_kissed = true;
  for (size_t i = 0; i < s->nsrv; i++) {
    server *sv = &s->srv[i];
    good |= sv->good;
    if (sv->asked && !(sv->answered && !sv->good)) all_kissed = false;
  }
  s->kissed_all = all_kissed;
  if (good || ++s->try_no >= s->o.attempts || !try_start(s)) {
    sync_finish(s);
    return;
  }
  tern_timer_start(s->timer, (uint64_t)s->o.timeout_ms << s->try_no, 0);
}

void tern_sntp_sync(tern_sntp *s) {
  if (s->syncing) {
    s->again = true;
    return;
  }
  s->syncing = true;
  s->try_no = 0;
  s->kissed_all = false;
  if (!try_start(s)) { /* nobody to ask: report it from the loop */
    s->kissed_all = true;
    s->try_no = s->o.attempts;
    tern_timer_start(s->timer, 0, 0);
    return;
  }
  tern_timer_start(s->timer, s->o.timeout_ms, 0);
}

int tern_sntp_new(tern_mgr *m, const tern_sntp_opts *o, tern_sntp **out) {
  if (m == NULL || o == NULL || out == NULL) return TERN_EINVAL;
  tern_sntp *s = calloc(1, sizeof(*s));
  if (s == NULL) return TERN_ENOMEM;
  s->m = m;
  s->loop = tern_mgr_loop(m);
  s->o = *o;
  if (!s->o.timeout_ms) s->o.timeout_ms = 1000;
  if (!s->o.attempts) s->o.attempts = 3;
  if (!s->o.interval_s) s->o.interval_s = 3600;
  if (!s->o.retry_s) s->o.retry_s = 60;
  int rc = servers_parse(s, o->servers);
  if (rc == TERN_OK) rc = tern_timer_new(s->loop, &s->timer, on_timer, s);
  if (rc != TERN_OK) {
    free(s);
    return rc;
  }
  s->o.servers = NULL; /* the caller's string is not kept */
  tern_timer_start(s->timer, 0, 0); /* the first sync, from the loop */
  *out = s;
  return TERN_OK;
}

void tern_sntp_free(tern_sntp *s) {
  if (s == NULL) return;
  for (size_t i = 0; i < s->nsrv; i++) server_drop_conn(&s->srv[i]);
  tern_timer_free(s->timer);
  free(s);
}

bool tern_sntp_last(const tern_sntp *s, tern_sntp_sample *out) {
  if (!s->have_last) return false;
  if (out) *out = s->last;
  return true;
}
