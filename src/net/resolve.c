/* resolve.c: names for client connections, on a helper thread.
 *
 * getaddrinfo() blocks, so each manager starts one resolver thread on first
 * use; requests go to it through a bounded mailbox and answers come back
 * with tern_loop_call() to happy.c, which races them (RFC 8305). A
 * request carries copies of what the thread needs
 * and a pointer to its connection that only the loop thread touches: closing
 * the connection sets it to NULL, and the answer is then just freed. The
 * async DNS client of the proto layer will replace this for devices.
 *
 * Cost of the simple choice: one request at a time per manager, so a slow
 * name delays the ones behind it (bounded by the mailbox, 64 requests).
 */
#include <netdb.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "net/net_internal.h"
#include "tern/port.h"

#define RESOLVE_QUEUE 64
#define HOST_MAX 255 /* RFC 1035 2.3.4: names are at most 255 octets */
#define ADDRS_MAX (2 * TERN__HE_PER_FAMILY) /* kept for happy eyeballs */

struct tern__resolve_req {
  tern_conn *c; /* loop thread only; NULL once the connection is gone */
  uint16_t port;
  int udp;
  int err;
  size_t naddrs;
  tern_addr addrs[ADDRS_MAX];
  char host[HOST_MAX + 1];
};

struct tern__resolver {
  atomic_int stopping;
  tern_thread *thread;
  tern_mbox *mbox;
  tern_loop *loop;
};

static int addr_from_ai(const struct addrinfo *ai, uint16_t port,
                        tern_addr *out) {
  memset(out, 0, sizeof(*out));
  out->port = port;
  if (ai->ai_family == AF_INET) {
    const struct sockaddr_in *sin = (const void *)ai->ai_addr;
    out->family = TERN_AF_INET;
    memcpy(out->ip, &sin->sin_addr, 4);
    return TERN_OK;
  }
  if (ai->ai_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const void *)ai->ai_addr;
    out->family = TERN_AF_INET6;
    out->scope_id = sin6->sin6_scope_id;
    memcpy(out->ip, &sin6->sin6_addr, 16);
    return TERN_OK;
  }
  return TERN_EAFNOSUPPORT;
}

/* Every address of host (at most max, in getaddrinfo's order, which is
 * RFC 6724's); *n gets how many. */
static int lookup(const char *host, uint16_t port, int udp, tern_addr *out,
                  size_t max, size_t *n) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME) {
    hints.ai_flags = 0; /* loopback-only hosts have no "configured" family */
    rc = getaddrinfo(host, NULL, &hints, &res);
  }
  if (rc != 0 || res == NULL) return rc == EAI_MEMORY ? TERN_ENOMEM : TERN_ERESOLVE;
  *n = 0;
  for (const struct addrinfo *ai = res; ai && *n < max; ai = ai->ai_next)
    if (addr_from_ai(ai, port, &out[*n]) == TERN_OK) (*n)++;
  freeaddrinfo(res);
  return *n ? TERN_OK : TERN_ERESOLVE;
}

int tern__resolve_sync(const char *host, size_t host_len, uint16_t port,
                       int udp, tern_addr *out) {
  char name[HOST_MAX + 1];
  if (host_len == 0 || host_len > HOST_MAX) return TERN_ERESOLVE;
  memcpy(name, host, host_len);
  name[host_len] = '\0';
  size_t n;
  return lookup(name, port, udp, out, 1, &n);
}

static void resolve_done(tern_loop *loop, void *arg, int status) {
  struct tern__resolve_req *req = arg;
  (void)loop;
  if (status == TERN_OK && req->c != NULL) {
    tern_conn *c = req->c;
    struct tern__resolve_req **slot = tern__happy_resolve_slot(c);
    if (slot) *slot = NULL;
    tern__happy_answer(c, 0, req->err, req->addrs, req->naddrs);
  }
  free(req);
}

static void resolver_main(void *arg) {
  struct tern__resolver *r = arg;
  void *msg;
  while (tern_mbox_fetch(r->mbox, &msg, TERN_WAIT_FOREVER) == TERN_OK) {
    struct tern__resolve_req *req = msg;
    if (req == NULL) break; /* stop */
    req->err = lookup(req->host, req->port, req->udp, req->addrs, ADDRS_MAX,
                      &req->naddrs);
    /* The loop's call queue is bounded; wait for room rather than drop. */
    int rc;
    while ((rc = tern_loop_call(r->loop, resolve_done, req)) == TERN_ENOSPC &&
           !atomic_load(&r->stopping)) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
    if (rc != TERN_OK) free(req);
  }
}

static int resolver_get(tern_mgr *m, struct tern__resolver **out) {
  if (m->resolver) {
    *out = m->resolver;
    return TERN_OK;
  }
  struct tern__resolver *r = calloc(1, sizeof(*r));
  if (r == NULL) return TERN_ENOMEM;
  r->loop = m->loop;
  int rc = tern_mbox_new(&r->mbox, RESOLVE_QUEUE);
  if (rc == TERN_OK) rc = tern_thread_new(&r->thread, "tern-resolve",
                                          resolver_main, r);
  if (rc != TERN_OK) {
    if (r->mbox) tern_mbox_free(r->mbox);
    free(r);
    return rc;
  }
  m->resolver = *out = r;
  return TERN_OK;
}

int tern__resolve_start(tern_conn *c, const char *host, size_t host_len,
                        uint16_t port, int udp) {
#if !TERN_ENABLE_RESOLVER_THREAD
  (void)c; (void)host; (void)host_len; (void)port; (void)udp;
  return TERN_ENOTSUP;
#else
  struct tern__resolver *r;
  struct tern__resolve_req **slot = tern__happy_resolve_slot(c);
  if (host_len == 0 || host_len > HOST_MAX) return TERN_EURL;
  if (slot == NULL) return TERN_EINVAL;
  int rc = resolver_get(c->mgr, &r);
  if (rc != TERN_OK) return rc;
  struct tern__resolve_req *req = calloc(1, sizeof(*req));
  if (req == NULL) return TERN_ENOMEM;
  memcpy(req->host, host, host_len);
  req->port = port;
  req->udp = udp;
  req->c = c;
  rc = tern_mbox_trypost(r->mbox, req);
  if (rc != TERN_OK) {
    free(req);
    return TERN_EBUSY; /* too many names being resolved at once */
  }
  *slot = req;
  return TERN_OK;
#endif
}

void tern__resolve_cancel(tern_conn *c) {
  struct tern__resolve_req **slot = tern__happy_resolve_slot(c);
  if (slot && *slot) (*slot)->c = NULL;
  if (slot) *slot = NULL;
  c->flags &= ~F_RESOLVING;
}

/* Stop the thread. Requests it had not started are freed here; answers
 * already posted to the loop find c == NULL and free themselves. */
void tern__resolver_free(tern_mgr *m) {
  struct tern__resolver *r = m->resolver;
  if (r == NULL) return;
  void *msg;
  atomic_store(&r->stopping, 1);
  while (tern_mbox_tryfetch(r->mbox, &msg) == TERN_OK) free(msg);
  tern_mbox_post(r->mbox, NULL, TERN_WAIT_FOREVER);
  tern_thread_join(r->thread);
  while (tern_mbox_tryfetch(r->mbox, &msg) == TERN_OK) free(msg);
  tern_mbox_free(r->mbox);
  free(r);
  m->resolver = NULL;
}
