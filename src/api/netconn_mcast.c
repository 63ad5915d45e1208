/* netconn_mcast.c: multicast on UDP netconns (lwIP's
 * netconn_join_leave_group and the IP_MULTICAST_* settings): group joins
 * are kept per netconn, so closing it leaves them (as closing a socket
 * does on Linux); the stack counts joins of the same group by several
 * netconns (tern_igmp_join).
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

#if TERN_ENABLE_IGMP

/* Linux's IP_MAX_MEMBERSHIPS. */
#define NC_MSHIPS_MAX 20

typedef struct mc_op {
  tern_netconn *nc;
  const tern_addr *group, *ifaddr;
  bool join;
  int ttl, loop; /* set: negative leaves as is */
  bool set;
} mc_op;

static bool same_addr(const tern_addr *a, const tern_addr *b) {
  /* NULL and any are the same interface choice */
  static const tern_addr none;
  if (!a) a = &none;
  if (!b) b = &none;
  if (!a->family && !b->family) return true;
  return tern_addr_eq(a, b);
}

static int op_join_leave(void *arg) {
  mc_op *o = arg;
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (!nc->udp) return TERN_ECLOSED;
  tern_stack *st = tern__tcpip_stack(nc->t);
  nc_mship **pp = &nc->mships;
  unsigned n = 0;
  for (; *pp; pp = &(*pp)->next, n++)
    if (tern_addr_eq(&(*pp)->group, o->group) &&
        same_addr(&(*pp)->ifaddr, o->ifaddr))
      break;
  if (o->join) {
    if (*pp) return TERN_EADDRINUSE; /* Linux: EADDRINUSE */
    if (n >= NC_MSHIPS_MAX) return TERN_ENOSPC;
    nc_mship *m = calloc(1, sizeof *m);
    if (!m) return TERN_ENOMEM;
    int err = tern_igmp_join(st, o->ifaddr, o->group);
    if (err) {
      free(m);
      return err;
    }
    m->group = *o->group;
    if (o->ifaddr) m->ifaddr = *o->ifaddr;
    *pp = m;
    return TERN_OK;
  }
  nc_mship *m = *pp;
  if (!m) return TERN_EADDRNOTAVAIL;
  *pp = m->next;
  int err = tern_igmp_leave(st, m->ifaddr.family ? &m->ifaddr : NULL,
                            &m->group);
  free(m);
  return err;
}

void tern__nc_mcast_drop(tern_netconn *nc) {
  tern_stack *st = tern__tcpip_stack(nc->t);
  while (nc->mships) {
    nc_mship *m = nc->mships;
    nc->mships = m->next;
    tern_igmp_leave(st, m->ifaddr.family ? &m->ifaddr : NULL, &m->group);
    free(m);
  }
}

static int op_mcast(void *arg) {
  mc_op *o = arg;
  tern_netconn *nc = o->nc;
  tern__tcpip_assert_ctx(nc->t);
  if (!nc->udp) return TERN_ECLOSED;
  if (!o->set) return TERN_OK;
  uint8_t ttl = o->ttl >= 0 ? (uint8_t)o->ttl : nc->mcast_ttl;
  bool loop = o->loop >= 0 ? o->loop != 0 : !nc->mcast_noloop;
  const tern_addr *ifa = o->ifaddr ? o->ifaddr : &nc->mcast_if;
  int err = tern_udp_set_mcast(nc->udp, ttl, ifa, loop);
  if (err) return err;
  nc->mcast_ttl = ttl;
  nc->mcast_noloop = !loop;
  if (o->ifaddr) nc->mcast_if = *o->ifaddr;
  return TERN_OK;
}

static int run_mc(tern_netconn *nc, int (*fn)(void *), mc_op *o) {
  if (!nc) return TERN_EINVAL;
  if (nc->type != TERN_NETCONN_UDP) return TERN_ENOTSUP;
  int err = tern__netconn_hold(nc);
  if (err) return err;
  o->nc = nc;
  err = tern__tcpip_run(nc->t, fn, o);
  tern__netconn_release(nc);
  return err;
}

int tern_netconn_join_leave(tern_netconn *nc, const tern_addr *group,
                            const tern_addr *ifaddr, bool join) {
  if (!group) return TERN_EINVAL;
  mc_op o = {.group = group, .ifaddr = ifaddr, .join = join};
  return run_mc(nc, op_join_leave, &o);
}

int tern_netconn_set_mcast(tern_netconn *nc, int ttl, const tern_addr *ifaddr,
                           int loop) {
  if (ttl > 255) return TERN_EINVAL;
  mc_op o = {.ttl = ttl, .ifaddr = ifaddr, .loop = loop, .set = true};
  return run_mc(nc, op_mcast, &o);
}

/* The settings are the netconn's, changed only in the stack context:
 * read them there too. */
typedef struct mc_get {
  tern_netconn *nc;
  int ttl;
  bool loop;
  tern_addr ifaddr;
} mc_get;

static int op_mcast_get(void *arg) {
  mc_get *g = arg;
  tern__tcpip_assert_ctx(g->nc->t);
  g->ttl = g->nc->mcast_ttl;
  g->loop = !g->nc->mcast_noloop;
  g->ifaddr = g->nc->mcast_if;
  return TERN_OK;
}

int tern_netconn_get_mcast(tern_netconn *nc, int *ttl, tern_addr *ifaddr,
                           bool *loop) {
  if (!nc) return TERN_EINVAL;
  if (nc->type != TERN_NETCONN_UDP) return TERN_ENOTSUP;
  int err = tern__netconn_hold(nc);
  if (err) return err;
  mc_get g = {.nc = nc};
  err = tern__tcpip_run(nc->t, op_mcast_get, &g);
  tern__netconn_release(nc);
  if (err) return err;
  if (ttl) *ttl = g.ttl;
  if (loop) *loop = g.loop;
  if (ifaddr) *ifaddr = g.ifaddr;
  return TERN_OK;
}

#else /* !TERN_ENABLE_IGMP */

void tern__nc_mcast_drop(tern_netconn *nc) { (void)nc; }

int tern_netconn_join_leave(tern_netconn *nc, const tern_addr *group,
                            const tern_addr *ifaddr, bool join) {
  (void)nc, (void)group, (void)ifaddr, (void)join;
  return TERN_ENOTSUP;
}
int tern_netconn_set_mcast(tern_netconn *nc, int ttl, const tern_addr *ifaddr,
                           int loop) {
  (void)nc, (void)ttl, (void)ifaddr, (void)loop;
  return TERN_ENOTSUP;
}
int tern_netconn_get_mcast(tern_netconn *nc, int *ttl, tern_addr *ifaddr,
                           bool *loop) {
  (void)nc, (void)ttl, (void)ifaddr, (void)loop;
  return TERN_ENOTSUP;
}

#endif
