/* test_dns_msg.c: DNS query encoding and response checking (RFC 1035 4,
 * RFC 2181, RFC 2308, RFC 3596, RFC 5452 9.1), on messages built here
 * byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/dns_msg.h"

/* ---- a message builder ------------------------------------------------ */

typedef struct msg {
  uint8_t b[1024];
  size_t n;
} msg;

static void put(msg *m, const void *p, size_t n) {
  memcpy(m->b + m->n, p, n);
  m->n += n;
}
static void u8(msg *m, unsigned v) { m->b[m->n++] = (uint8_t)v; }
static void u16(msg *m, unsigned v) {
  u8(m, v >> 8);
  u8(m, v & 0xff);
}
static void u32(msg *m, uint32_t v) {
  u16(m, v >> 16);
  u16(m, v & 0xffff);
}

/* A dotted name, uncompressed. */
static void name(msg *m, const char *s) {
  while (*s) {
    const char *dot = strchr(s, '.');
    size_t l = dot ? (size_t)(dot - s) : strlen(s);
    u8(m, (unsigned)l);
    put(m, s, l);
    s += l + (dot ? 1 : 0);
  }
  u8(m, 0);
}

static void ptr(msg *m, unsigned off) { u16(m, 0xC000u | off); }

/* Header and the question (name at offset 12). */
static void head(msg *m, unsigned id, unsigned flags, unsigned an,
                 unsigned ns, const char *q, unsigned qtype) {
  m->n = 0;
  u16(m, id);
  u16(m, flags);
  u16(m, 1);
  u16(m, an);
  u16(m, ns);
  u16(m, 0);
  name(m, q);
  u16(m, qtype);
  u16(m, 1);
}

/* A record header after its owner: type, class IN, ttl, rdlength. */
static void rrh(msg *m, unsigned type, uint32_t ttl, unsigned rdlen) {
  u16(m, type);
  u16(m, 1);
  u32(m, ttl);
  u16(m, rdlen);
}

static void a_rr(msg *m, uint32_t ttl, uint8_t a, uint8_t b, uint8_t c,
                 uint8_t d) {
  rrh(m, TERN__DNS_A, ttl, 4);
  u8(m, a);
  u8(m, b);
  u8(m, c);
  u8(m, d);
}

#define RESP 0x8180u /* QR, RD, RA, NOERROR */

static tern__dns_result res;

static int parse(const msg *m, unsigned id, const char *q, unsigned qtype) {
  return tern__dns_response_parse(m->b, m->n, (uint16_t)id, q,
                                  (uint16_t)qtype, &res);
}

/* ---- queries ------------------------------------------------------------- */

static void test_query_bytes(void **state) {
  (void)state;
  uint8_t b[512];
  static const uint8_t want[] = {
      0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, /* RD, one question */
      7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
      0, 1, 0, 1}; /* A, IN */
  assert_int_equal(tern__dns_query_encode(b, sizeof(b), 0x1234, "example.com",
                                          TERN__DNS_A),
                   sizeof(want));
  assert_memory_equal(b, want, sizeof(want));
  /* a final dot is the same name */
  assert_int_equal(tern__dns_query_encode(b, sizeof(b), 0x1234, "example.com.",
                                          TERN__DNS_A),
                   sizeof(want));
  assert_memory_equal(b, want, sizeof(want));
  assert_int_equal(tern__dns_query_encode(b, sizeof(b), 1, "a", TERN__DNS_AAAA),
                   12 + 3 + 4);
  assert_int_equal(b[12 + 3 + 1], TERN__DNS_AAAA);
}

static void test_query_refusals(void **state) {
  (void)state;
  uint8_t b[512];
  char label64[70], long_name[300];
  memset(label64, 'a', 64);
  label64[64] = '\0';
  /* 128 labels "a": 257 octets on the wire, two too many */
  for (int i = 0; i < 128; i++) memcpy(long_name + 2 * i, "a.", 2);
  long_name[256] = '\0';
  const char *bad[] = {"", ".", "a..b", ".a", "a.b..", label64, long_name};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(tern__dns_query_encode(b, sizeof(b), 1, bad[i], 1),
                     TERN_EINVAL);
  label64[63] = '\0'; /* 63 is the most a label may have */
  assert_true(tern__dns_query_encode(b, sizeof(b), 1, label64, 1) > 0);
  long_name[254] = '\0'; /* 127 labels: 255 on the wire, the most */
  assert_true(tern__dns_query_encode(b, sizeof(b), 1, long_name, 1) > 0);
  assert_int_equal(tern__dns_query_encode(b, 20, 1, "example.com", 1),
                   TERN_ENOSPC);
}

/* ---- answers ------------------------------------------------------------- */

static void test_simple_answer(void **state) {
  (void)state;
  msg m;
  head(&m, 7, RESP | 0x0400, 2, 0, "example.com", TERN__DNS_A);
  ptr(&m, 12); /* owner: the question's name */
  a_rr(&m, 300, 192, 0, 2, 1);
  ptr(&m, 12);
  a_rr(&m, 100, 192, 0, 2, 2);
  assert_int_equal(parse(&m, 7, "example.com", TERN__DNS_A), TERN_OK);
  assert_int_equal(res.naddrs, 2);
  assert_int_equal(res.addrs[0].family, TERN_AF_INET);
  assert_memory_equal(res.addrs[0].ip, "\xc0\x00\x02\x01", 4);
  assert_memory_equal(res.addrs[1].ip, "\xc0\x00\x02\x02", 4);
  assert_int_equal(res.ttl, 100); /* the smallest */
  assert_true(res.authoritative);
  assert_string_equal(res.canon, "example.com");
  /* RFC 4343: the server may echo the name in another case */
  assert_int_equal(parse(&m, 7, "EXAMPLE.Com.", TERN__DNS_A), TERN_OK);
}

static void test_aaaa(void **state) {
  (void)state;
  msg m;
  head(&m, 9, RESP, 1, 0, "v6.test", TERN__DNS_AAAA);
  ptr(&m, 12);
  rrh(&m, TERN__DNS_AAAA, 60, 16);
  put(&m, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
  assert_int_equal(parse(&m, 9, "v6.test", TERN__DNS_AAAA), TERN_OK);
  assert_int_equal(res.naddrs, 1);
  assert_int_equal(res.addrs[0].family, TERN_AF_INET6);
  assert_int_equal(res.addrs[0].ip[15], 1);
  /* an AAAA of the wrong size is a broken message */
  m.b[m.n - 17] = 15;
  m.n--;
  assert_int_equal(parse(&m, 9, "v6.test", TERN__DNS_AAAA), TERN_EPROTO);
}

/* RFC 2181 10.1: the chain is followed whatever the record order; records
 * for other names are left alone. */
static void test_cname_chain(void **state) {
  (void)state;
  msg m;
  head(&m, 1, RESP, 4, 0, "www.a.test", TERN__DNS_A);
  size_t cdn = m.n;
  name(&m, "edge.cdn.test"); /* the chain's end, first in the message */
  a_rr(&m, 50, 10, 0, 0, 9);
  name(&m, "other.test"); /* not on the chain */
  a_rr(&m, 5, 10, 9, 9, 9);
  ptr(&m, 12);
  size_t mid_rd = m.n + 10;
  rrh(&m, TERN__DNS_CNAME, 3600, 0); /* www.a.test -> lb.a.test */
  name(&m, "lb.a.test");
  m.b[mid_rd - 1] = (uint8_t)(m.n - mid_rd);
  name(&m, "lb.a.test");
  size_t rd = m.n + 10;
  rrh(&m, TERN__DNS_CNAME, 30, 0); /* lb.a.test -> edge.cdn.test */
  ptr(&m, (unsigned)cdn);
  m.b[rd - 1] = (uint8_t)(m.n - rd);
  assert_int_equal(parse(&m, 1, "www.a.test", TERN__DNS_A), TERN_OK);
  assert_int_equal(res.naddrs, 1);
  assert_memory_equal(res.addrs[0].ip, "\x0a\x00\x00\x09", 4);
  assert_string_equal(res.canon, "edge.cdn.test");
  assert_int_equal(res.ttl, 30);
}

static void test_cname_loop(void **state) {
  (void)state;
  msg m;
  head(&m, 1, RESP, 2, 0, "a.test", TERN__DNS_A);
  ptr(&m, 12);
  rrh(&m, TERN__DNS_CNAME, 60, 8);
  name(&m, "b.test");
  size_t b_at = m.n - 8;
  ptr(&m, (unsigned)b_at);
  rrh(&m, TERN__DNS_CNAME, 60, 2);
  ptr(&m, 12);
  assert_int_equal(parse(&m, 1, "a.test", TERN__DNS_A), TERN_ERESOLVE);
  assert_int_equal(res.naddrs, 0);
}

/* RFC 2308 5: NXDOMAIN and NODATA are cached for min(SOA TTL, MINIMUM). */
static void soa(msg *m, uint32_t ttl, uint32_t minimum) {
  name(m, "test");
  size_t rd = m->n + 10;
  rrh(m, TERN__DNS_SOA, ttl, 0);
  name(m, "ns.test");
  name(m, "admin.test");
  u32(m, 1);
  u32(m, 2);
  u32(m, 3);
  u32(m, 4);
  u32(m, minimum);
  m->b[rd - 1] = (uint8_t)(m->n - rd);
}

static void test_negative(void **state) {
  (void)state;
  msg m;
  head(&m, 3, RESP | TERN__DNS_NXDOMAIN, 0, 1, "nope.test", TERN__DNS_A);
  soa(&m, 900, 60);
  assert_int_equal(parse(&m, 3, "nope.test", TERN__DNS_A), TERN_ERESOLVE);
  assert_int_equal(res.rcode, TERN__DNS_NXDOMAIN);
  assert_int_equal(res.ttl, 60);
  /* NODATA: the name exists, no record of that type */
  head(&m, 3, RESP, 0, 1, "v4only.test", TERN__DNS_AAAA);
  soa(&m, 30, 600);
  assert_int_equal(parse(&m, 3, "v4only.test", TERN__DNS_AAAA), TERN_ERESOLVE);
  assert_int_equal(res.rcode, TERN__DNS_NOERROR);
  assert_int_equal(res.ttl, 30);
  /* without an SOA: not cached */
  head(&m, 3, RESP | TERN__DNS_NXDOMAIN, 0, 0, "nope.test", TERN__DNS_A);
  assert_int_equal(parse(&m, 3, "nope.test", TERN__DNS_A), TERN_ERESOLVE);
  assert_int_equal(res.ttl, 0);
}

static void test_server_trouble(void **state) {
  (void)state;
  msg m;
  unsigned codes[] = {TERN__DNS_SERVFAIL, TERN__DNS_REFUSED, TERN__DNS_NOTIMP,
                      TERN__DNS_FORMERR, 9};
  for (size_t i = 0; i < 5; i++) {
    head(&m, 4, RESP | codes[i], 0, 0, "x.test", TERN__DNS_A);
    assert_int_equal(parse(&m, 4, "x.test", TERN__DNS_A), TERN_EAGAIN);
    assert_int_equal(res.rcode, codes[i]);
  }
  head(&m, 4, RESP | 0x0200, 0, 0, "x.test", TERN__DNS_A); /* TC */
  assert_int_equal(parse(&m, 4, "x.test", TERN__DNS_A), TERN_EMSGSIZE);
  assert_true(res.truncated);
}

/* RFC 5452 9.1: anything but the answer to our question is ignored. */
static void test_not_our_answer(void **state) {
  (void)state;
  msg m;
  head(&m, 5, RESP, 1, 0, "x.test", TERN__DNS_A);
  ptr(&m, 12);
  a_rr(&m, 60, 1, 2, 3, 4);
  assert_int_equal(parse(&m, 5, "x.test", TERN__DNS_A), TERN_OK);
  assert_int_equal(parse(&m, 6, "x.test", TERN__DNS_A), TERN_EPROTO);
  assert_int_equal(parse(&m, 5, "y.test", TERN__DNS_A), TERN_EPROTO);
  assert_int_equal(parse(&m, 5, "x.test.evil", TERN__DNS_A), TERN_EPROTO);
  assert_int_equal(parse(&m, 5, "x.test", TERN__DNS_AAAA), TERN_EPROTO);
  m.b[2] &= 0x7f; /* a query, not a response */
  assert_int_equal(parse(&m, 5, "x.test", TERN__DNS_A), TERN_EPROTO);
  m.b[2] |= 0x80;
  m.b[5] = 2; /* two questions */
  assert_int_equal(parse(&m, 5, "x.test", TERN__DNS_A), TERN_EPROTO);
  m.b[5] = 1;
  m.b[2] |= 0x08; /* opcode 1 */
  assert_int_equal(parse(&m, 5, "x.test", TERN__DNS_A), TERN_EPROTO);
}

static void test_malformed(void **state) {
  (void)state;
  msg m;
  /* a pointer to itself, and one pointing forward */
  head(&m, 1, RESP, 1, 0, "x.test", TERN__DNS_A);
  size_t at = m.n;
  ptr(&m, (unsigned)at);
  a_rr(&m, 60, 1, 2, 3, 4);
  assert_int_equal(parse(&m, 1, "x.test", TERN__DNS_A), TERN_EPROTO);
  m.b[at + 1] = (uint8_t)(at + 2);
  assert_int_equal(parse(&m, 1, "x.test", TERN__DNS_A), TERN_EPROTO);
  /* two pointers chasing each other */
  head(&m, 1, RESP, 1, 0, "x.test", TERN__DNS_A);
  at = m.n;
  u8(&m, 1);
  u8(&m, 'a');
  ptr(&m, (unsigned)at);
  a_rr(&m, 60, 1, 2, 3, 4);
  assert_int_equal(parse(&m, 1, "x.test", TERN__DNS_A), TERN_EPROTO);
  /* reserved label types 01 and 10 */
  head(&m, 1, RESP, 0, 0, "x.test", TERN__DNS_A);
  m.b[12] = 0x41;
  assert_int_equal(parse(&m, 1, "x.test", TERN__DNS_A), TERN_EPROTO);
  m.b[12] = 0x81;
  assert_int_equal(parse(&m, 1, "x.test", TERN__DNS_A), TERN_EPROTO);
  /* a record cut short, at every length */
  head(&m, 1, RESP, 1, 0, "x.test", TERN__DNS_A);
  ptr(&m, 12);
  a_rr(&m, 60, 1, 2, 3, 4);
  size_t whole = m.n;
  for (size_t n = 0; n < whole; n++) {
    m.n = n;
    int rc = parse(&m, 1, "x.test", TERN__DNS_A);
    assert_true(rc == TERN_EPROTO);
  }
  m.n = whole;
  assert_int_equal(parse(&m, 1, "x.test", TERN__DNS_A), TERN_OK);
  /* an A of the wrong size */
  m.b[whole - 5] = 5;
  u8(&m, 0);
  assert_int_equal(parse(&m, 1, "x.test", TERN__DNS_A), TERN_EPROTO);
  /* a label with a dot or a control byte is not a hostname we compare */
  head(&m, 1, RESP, 0, 0, "x.test", TERN__DNS_A);
  m.b[13] = '.';
  assert_int_equal(parse(&m, 1, "x.test", TERN__DNS_A), TERN_EPROTO);
}

/* RFC 2181 8: a TTL with the top bit set counts as 0; at most
 * TERN__DNS_MAX_ADDRS addresses are kept. */
static void test_ttl_and_bounds(void **state) {
  (void)state;
  msg m;
  head(&m, 2, RESP, 12, 0, "many.test", TERN__DNS_A);
  for (int i = 0; i < 12; i++) {
    ptr(&m, 12);
    a_rr(&m, i == 3 ? 0x80000000u : 3600, 10, 0, 0, (uint8_t)i);
  }
  assert_int_equal(parse(&m, 2, "many.test", TERN__DNS_A), TERN_OK);
  assert_int_equal(res.naddrs, TERN__DNS_MAX_ADDRS);
  assert_int_equal(res.ttl, 0);
  assert_int_equal(res.addrs[7].ip[3], 7);
}

static void test_name_read(void **state) {
  (void)state;
  msg m;
  char out[TERN__DNS_MAX_NAME + 1];
  head(&m, 1, RESP, 0, 0, "Mixed.Case.test", TERN__DNS_A);
  size_t off = 12;
  assert_int_equal(tern__dns_name_read(m.b, m.n, &off, out), TERN_OK);
  assert_string_equal(out, "Mixed.Case.test");
  assert_int_equal(off, 12 + 17);
  size_t p = m.n;
  u8(&m, 3);
  put(&m, "www", 3);
  ptr(&m, 12 + 6); /* -> "Case.test" */
  off = p;
  assert_int_equal(tern__dns_name_read(m.b, m.n, &off, out), TERN_OK);
  assert_string_equal(out, "www.Case.test");
  assert_int_equal(off, m.n); /* moved past the pointer, not its target */
  m.n = 0;
  u8(&m, 0);
  off = 0;
  assert_int_equal(tern__dns_name_read(m.b, m.n, &off, out), TERN_OK);
  assert_string_equal(out, ""); /* the root */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query_bytes),     cmocka_unit_test(test_query_refusals),
      cmocka_unit_test(test_simple_answer),   cmocka_unit_test(test_aaaa),
      cmocka_unit_test(test_cname_chain),     cmocka_unit_test(test_cname_loop),
      cmocka_unit_test(test_negative),        cmocka_unit_test(test_server_trouble),
      cmocka_unit_test(test_not_our_answer),  cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_ttl_and_bounds),  cmocka_unit_test(test_name_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
