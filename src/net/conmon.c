/* conmon.c: connection monitoring records (tern/conmon.h).
 *
 * A record is one allocation, bounded (TERN_CONMON_MAX_ADDRS DNS results,
 * TERN_CONMON_MAX_ATTEMPTS attempts; more are not kept). The connection
 * core calls the tern__cm_* hooks only when c->cm is set, so a connection
 * that does not record pays one pointer test per hook. Times come from
 * tern_clock_us(), relative to t0 (tern_connect, or when recording began).
 */
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"
#include "tern/conmon.h"

struct tern_conmon {
  uint64_t t0;             /* tern_clock_us() at the start */
  uint64_t connected_at;   /* since t0; 0: not connected */
  int result, dns_status;
  uint32_t dns_us, dns6_us, dns4_us, connect_us, first_byte_us;
  size_t ndns, natt;
  tern_addr dns[TERN_CONMON_MAX_ADDRS];
  tern_conmon_attempt att[TERN_CONMON_MAX_ATTEMPTS];
  char host[256];
};

static uint32_t since(const tern_conmon *cm) {
  uint64_t d = tern_clock_us() - cm->t0;
  if (d == 0) d = 1; /* 0 means "not yet" in the record */
  return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

int tern__cm_new(tern_conn *c) {
  if (c->cm) return TERN_OK;
  tern_conmon *cm = calloc(1, sizeof(*cm));
  if (cm == NULL) return TERN_ENOMEM;
  cm->t0 = tern_clock_us();
  cm->result = TERN_EINPROGRESS;
  cm->dns_status = TERN_OK;
  const char *h = tern__happy_host(c);
  size_t n = strlen(h);
  if (n >= sizeof(cm->host)) n = sizeof(cm->host) - 1;
  memcpy(cm->host, h, n);
  c->cm = cm;
  return TERN_OK;
}

void tern__cm_free(tern_conn *c) {
  free(c->cm);
  c->cm = NULL;
}

void tern__cm_dns(tern_conn *c, int family, int err, const tern_addr *a,
                  size_t n) {
  tern_conmon *cm = c->cm;
  uint32_t now = since(cm);
  cm->dns_us = now;
  if (family != TERN_AF_INET) cm->dns6_us = now;
  if (family != TERN_AF_INET6) cm->dns4_us = now;
  /* One family failing is no failure if the other has addresses. */
  if (err != TERN_OK && (cm->ndns == 0 || family == 0)) cm->dns_status = err;
  if (err == TERN_OK && n > 0) cm->dns_status = TERN_OK;
  for (size_t i = 0; a && err == TERN_OK && i < n &&
                     cm->ndns < TERN_CONMON_MAX_ADDRS; i++) {
    cm->dns[cm->ndns] = a[i];
    cm->dns[cm->ndns++].port = 0;
  }
}

int tern__cm_attempt_start(tern_conn *c, const tern_addr *a) {
  tern_conmon *cm = c->cm;
  if (cm->natt == TERN_CONMON_MAX_ATTEMPTS) return -1;
  tern_conmon_attempt *t = &cm->att[cm->natt];
  t->addr = *a;
  t->start_us = since(cm);
  t->end_us = 0;
  t->result = TERN_EINPROGRESS;
  return (int)cm->natt++;
}

void tern__cm_attempt_end(tern_conn *c, int idx, int result) {
  tern_conmon *cm = c->cm;
  if (idx < 0 || (size_t)idx >= cm->natt) return;
  tern_conmon_attempt *t = &cm->att[idx];
  if (t->result != TERN_EINPROGRESS) return;
  t->end_us = since(cm);
  t->result = result;
}

/* The connect is over (err: TERN_OK or why not). An attempt still marked
 * in progress is the connection's own (no race): it ends the same way. */
void tern__cm_connected(tern_conn *c, int err) {
  tern_conmon *cm = c->cm;
  if (cm->result != TERN_EINPROGRESS) return;
  for (size_t i = 0; i < cm->natt; i++)
    tern__cm_attempt_end(c, (int)i, err == TERN_OK ? TERN_OK : err);
  cm->result = err;
  if (err == TERN_OK) {
    cm->connected_at = since(cm);
    cm->connect_us = cm->natt ? (uint32_t)(cm->connected_at -
                                           cm->att[0].start_us)
                              : 0;
  }
}

void tern__cm_first_byte(tern_conn *c) {
  tern_conmon *cm = c->cm;
  if (cm->first_byte_us || cm->connected_at == 0) return;
  uint32_t d = (uint32_t)(since(cm) - cm->connected_at);
  cm->first_byte_us = d ? d : 1;
}

/* ---- public -------------------------------------------------------- */

void tern_mgr_set_conmon(tern_mgr *m, bool on) { m->conmon_all = on; }

int tern_conn_conmon_enable(tern_conn *c) {
  if (c == NULL || !(c->flags & F_CLIENT) || (c->flags & F_FINAL))
    return TERN_EINVAL;
  if (c->cm) return TERN_OK;
  int rc = tern__cm_new(c);
  /* A numeric connect is under way already: its one attempt, from now. */
  if (rc == TERN_OK && (c->flags & F_CONNECTING) && c->happy == NULL)
    tern__cm_attempt_start(c, &c->peer);
  return rc;
}

const tern_conmon *tern_conn_conmon(const tern_conn *c) { return c->cm; }

tern_conmon *tern_conn_conmon_take(tern_conn *c) {
  tern_conmon *cm = c->cm;
  c->cm = NULL;
  tern__happy_forget_cm(c);
  return cm;
}

void tern_conmon_get(const tern_conmon *cm, tern_conmon_info *out) {
  memset(out, 0, sizeof(*out));
  out->host = cm->host;
  out->result = cm->result;
  out->dns_status = cm->dns_status;
  out->dns_us = cm->dns_us;
  out->dns6_us = cm->dns6_us;
  out->dns4_us = cm->dns4_us;
  out->connect_us = cm->connect_us;
  out->tls_us = 0; /* no TLS in tern yet */
  out->first_byte_us = cm->first_byte_us;
  out->ndns = cm->ndns;
  out->dns = cm->dns;
  out->nattempts = cm->natt;
  out->attempts = cm->att;
}

void tern_conmon_free(tern_conmon *cm) { free(cm); }
