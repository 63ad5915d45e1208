/* dhcp_msg.c: parse and build DHCPv4 messages (RFC 2131 section 2 for
 * the BOOTP header, section 3 for the magic cookie, RFC 2132 for the
 * options). No state, no allocation: see dhcp_msg.h.
 *
 * The parser reads the network, so it trusts no length: each option's
 * length byte is checked against the bytes left in its field before it is
 * read, and a known option whose length breaks its RFC 2132 rule (an
 * address that is not 4 octets, a list that is not a multiple of 4)
 * rejects the whole message rather than leaving half-read fields behind.
 * Unknown options are skipped by their length.
 *
 * Not done: RFC 3396 long options (an option repeated to carry more than
 * 255 octets is not concatenated: the last copy wins).
 */
#include "ip/dhcp_msg.h"

#include "ip/ip_internal.h"

/* ---- parse ------------------------------------------------------------- */

static bool get_addr(const uint8_t *v, uint8_t n, uint32_t *out, bool *has) {
  if (n != 4) return false;
  *out = ip_get32(v);
  if (has) *has = true;
  return true;
}

static bool get_list(const uint8_t *v, uint8_t n, uint32_t *out, uint8_t max,
                     uint8_t *count) {
  /* RFC 2132 3.5, 3.8: minimum length 4, a multiple of 4 */
  if (n < 4 || n % 4) return false;
  uint8_t k = (uint8_t)(n / 4);
  for (uint8_t i = 0; i < k && i < max; i++) out[i] = ip_get32(v + 4 * i);
  *count = k < max ? k : max;
  return true;
}

static bool get_bytes(const uint8_t *v, uint8_t n, uint8_t min,
                      const uint8_t **out, uint8_t *out_len) {
  if (n < min) return false;
  *out = v;
  *out_len = n;
  return true;
}

/* One option's value; false when its length is invalid. */
static bool take_option(tern__dhcp_msg *m, uint8_t code, const uint8_t *v,
                        uint8_t n, bool in_options) {
  switch (code) {
  case TERN__DHO_SUBNET: return get_addr(v, n, &m->subnet, &m->has_subnet);
  case TERN__DHO_ROUTER: { /* RFC 2132 3.5: in order of preference */
    uint8_t kept;
    if (!get_list(v, n, &m->router, 1, &kept)) return false;
    m->n_routers = (uint8_t)(n / 4);
    return true;
  }
  case TERN__DHO_DNS:
    return get_list(v, n, m->dns, TERN__DHCP_MAX_DNS, &m->n_dns);
  case TERN__DHO_HOSTNAME: /* RFC 2132 3.14: minimum length 1 */
    return get_bytes(v, n, 1, &m->hostname, &m->hostname_len);
  case TERN__DHO_REQ_IP: return get_addr(v, n, &m->req_ip, &m->has_req_ip);
  case TERN__DHO_LEASE: return get_addr(v, n, &m->lease_s, &m->has_lease);
  case TERN__DHO_T1: return get_addr(v, n, &m->t1_s, &m->has_t1);
  case TERN__DHO_T2: return get_addr(v, n, &m->t2_s, &m->has_t2);
  case TERN__DHO_SERVER_ID:
    return get_addr(v, n, &m->server_id, &m->has_server_id);
  case TERN__DHO_OVERLOAD:
    /* RFC 2132 9.3: length 1, value 1..3; only in the options field */
    if (n != 1 || v[0] < 1 || v[0] > 3 || !in_options) return false;
    m->overload = v[0];
    return true;
  case TERN__DHO_MSG_TYPE: /* RFC 2132 9.6: length 1, value 1..8 */
    if (n != 1 || v[0] < 1 || v[0] > 8) return false;
    m->type = v[0];
    return true;
  case TERN__DHO_PARAMS: /* RFC 2132 9.8: minimum length 1 */
    return get_bytes(v, n, 1, &m->params, &m->params_len);
  case TERN__DHO_MESSAGE:
    return get_bytes(v, n, 1, &m->message, &m->message_len);
  case TERN__DHO_MAX_SIZE: /* RFC 2132 9.10: length 2, minimum 576 */
    if (n != 2 || ip_get16(v) < 576) return false;
    m->max_size = ip_get16(v);
    return true;
  case TERN__DHO_CLIENT_ID: /* RFC 2132 9.14: minimum length 2 */
    return get_bytes(v, n, 2, &m->client_id, &m->client_id_len);
  default:
    return true; /* not ours to read: skipped */
  }
}

/* Walk one field of options (the options area, or file/sname when
 * overloaded). Stops at END or at the field's end: RFC 2131 4.1 wants an
 * END, but a field that ends exactly at an option boundary is taken (as
 * most servers and clients do). Running past the field is malformed. */
static bool walk_options(tern__dhcp_msg *m, const uint8_t *p, size_t len,
                         bool in_options) {
  size_t i = 0;
  while (i < len) {
    uint8_t code = p[i++];
    if (code == TERN__DHO_PAD) continue;
    if (code == TERN__DHO_END) return true;
    if (i >= len) return false; /* no length byte */
    uint8_t n = p[i++];
    if (n > len - i) return false; /* value runs past the field */
    if (!take_option(m, code, p + i, n, in_options)) return false;
    i += n;
  }
  return true;
}

int tern__dhcp_msg_parse(const uint8_t *buf, size_t len, tern__dhcp_msg *m) {
  memset(m, 0, sizeof *m);
  if (!buf || len < TERN__DHCP_MIN_LEN) return TERN_EPROTO;
  m->op = buf[0];
  m->htype = buf[1];
  m->hlen = buf[2];
  m->hops = buf[3];
  m->xid = ip_get32(buf + 4);
  m->secs = ip_get16(buf + 8);
  m->flags = ip_get16(buf + 10);
  m->ciaddr = ip_get32(buf + 12);
  m->yiaddr = ip_get32(buf + 16);
  m->siaddr = ip_get32(buf + 20);
  m->giaddr = ip_get32(buf + 24);
  memcpy(m->chaddr, buf + 28, 16);
  if ((m->op != TERN__BOOTREQUEST && m->op != TERN__BOOTREPLY) ||
      m->hlen > 16)
    return TERN_EPROTO;
  if (ip_get32(buf + TERN__DHCP_FIXED_LEN) != TERN__DHCP_MAGIC)
    return TERN_EPROTO; /* RFC 2131 3: not a DHCP message */
  if (!walk_options(m, buf + TERN__DHCP_MIN_LEN, len - TERN__DHCP_MIN_LEN,
                    true))
    return TERN_EPROTO;
  /* RFC 2131 4.1 / RFC 2132 9.3: options in 'file' first, then 'sname' */
  if ((m->overload & 1) && !walk_options(m, buf + 108, 128, false))
    return TERN_EPROTO;
  if ((m->overload & 2) && !walk_options(m, buf + 44, 64, false))
    return TERN_EPROTO;
  return TERN_OK;
}

/* ---- build ------------------------------------------------------------- */

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
  bool full;
} wbuf;

static void put_opt(wbuf *w, uint8_t code, const void *v, size_t n) {
  if (n > 255 || w->cap - w->len < n + 2) {
    w->full = true;
    return;
  }
  w->p[w->len++] = code;
  w->p[w->len++] = (uint8_t)n;
  if (n) memcpy(w->p + w->len, v, n);
  w->len += n;
}

static void put_opt32(wbuf *w, uint8_t code, uint32_t v) {
  uint8_t b[4];
  ip_put32(b, v);
  put_opt(w, code, b, 4);
}

static void put_header(const tern__dhcp_msg *m, uint8_t *b) {
  memset(b, 0, TERN__DHCP_MIN_LEN);
  b[0] = m->op;
  b[1] = m->htype;
  b[2] = m->hlen;
  b[3] = m->hops;
  ip_put32(b + 4, m->xid);
  ip_put16(b + 8, m->secs);
  ip_put16(b + 10, m->flags);
  ip_put32(b + 12, m->ciaddr);
  ip_put32(b + 16, m->yiaddr);
  ip_put32(b + 20, m->siaddr);
  ip_put32(b + 24, m->giaddr);
  memcpy(b + 28, m->chaddr, 16);
  ip_put32(b + TERN__DHCP_FIXED_LEN, TERN__DHCP_MAGIC);
}

static void put_options(const tern__dhcp_msg *m, wbuf *w) {
  /* RFC 2131 4.1: the message type need not come first, but every
   * implementation looks for it early */
  if (m->type) put_opt(w, TERN__DHO_MSG_TYPE, &m->type, 1);
  if (m->client_id_len) put_opt(w, TERN__DHO_CLIENT_ID, m->client_id,
                                m->client_id_len);
  if (m->has_req_ip) put_opt32(w, TERN__DHO_REQ_IP, m->req_ip);
  if (m->has_server_id) put_opt32(w, TERN__DHO_SERVER_ID, m->server_id);
  if (m->has_lease) put_opt32(w, TERN__DHO_LEASE, m->lease_s);
  if (m->has_t1) put_opt32(w, TERN__DHO_T1, m->t1_s);
  if (m->has_t2) put_opt32(w, TERN__DHO_T2, m->t2_s);
  if (m->has_subnet) put_opt32(w, TERN__DHO_SUBNET, m->subnet);
  if (m->n_routers) put_opt32(w, TERN__DHO_ROUTER, m->router);
  if (m->n_dns) {
    uint8_t b[4 * TERN__DHCP_MAX_DNS];
    uint8_t n = m->n_dns > TERN__DHCP_MAX_DNS ? TERN__DHCP_MAX_DNS : m->n_dns;
    for (uint8_t i = 0; i < n; i++) ip_put32(b + 4 * i, m->dns[i]);
    put_opt(w, TERN__DHO_DNS, b, 4u * n);
  }
  if (m->hostname_len) put_opt(w, TERN__DHO_HOSTNAME, m->hostname,
                               m->hostname_len);
  if (m->max_size) {
    uint8_t b[2];
    ip_put16(b, m->max_size);
    put_opt(w, TERN__DHO_MAX_SIZE, b, 2);
  }
  if (m->params_len) put_opt(w, TERN__DHO_PARAMS, m->params, m->params_len);
  if (m->message_len) put_opt(w, TERN__DHO_MESSAGE, m->message,
                              m->message_len);
}

int tern__dhcp_msg_build(const tern__dhcp_msg *m, uint8_t *buf, size_t cap) {
  if (!m || !buf || cap < TERN__DHCP_MIN_LEN + 1) return TERN_ENOSPC;
  put_header(m, buf);
  wbuf w = {buf, TERN__DHCP_MIN_LEN, cap, false};
  put_options(m, &w);
  if (w.full || w.len >= cap) return TERN_ENOSPC;
  buf[w.len++] = TERN__DHO_END;
  while (w.len < TERN__DHCP_PAD_TO && w.len < cap) buf[w.len++] = 0;
  return (int)w.len;
}
