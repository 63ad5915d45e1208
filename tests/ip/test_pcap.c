/* test_pcap.c: the pcap writer (tern/ip_drivers.h). Frames written by
 * hand (one small, one spanning several pool blocks, one cut by the
 * snaplen) are read back: the global header (magic 0xa1b2c3d4, version
 * 2.4, snaplen, LINKTYPE_ETHERNET), each record header (seconds,
 * microseconds, captured and original lengths) and the bytes. Then a
 * wrapped netif on a wire: frames out and in are both recorded, and the
 * wrapped driver still works. A path that cannot be created is an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tern/ip.h"
#include "tern/ip_drivers.h"

static void tmp_path(char *buf, size_t n, const char *tag) {
  snprintf(buf, n, "/tmp/tern_pcap_%s_%d.pcap", tag, (int)getpid());
}

static uint32_t u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint16_t u16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t *buf = malloc(1 << 20);
  *len = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

static tern_pbuf *frame(tern_stack *st, size_t len, uint8_t seed) {
  tern_pbuf *p = tern_pbuf_alloc(st, TERN_PBUF_RAW, len);
  assert_non_null(p);
  uint8_t *tmp = malloc(len);
  for (size_t i = 0; i < len; i++) tmp[i] = (uint8_t)(seed + i * 3);
  assert_int_equal(tern_pbuf_copy_in(p, 0, tmp, len), TERN_OK);
  free(tmp);
  return p;
}

static void check_bytes(const uint8_t *d, size_t len, uint8_t seed) {
  for (size_t i = 0; i < len; i++)
    if (d[i] != (uint8_t)(seed + i * 3)) fail_msg("byte %zu differs", i);
}

static void test_write_read(void **state) {
  char path[80];
  tmp_path(path, sizeof(path), "rw");
  tern_stack *st;
  assert_int_equal(tern_stack_new(&st, NULL), TERN_OK);
  tern_pcap *pc;
  assert_int_equal(tern_pcap_open(&pc, path, 0), TERN_OK);
  tern_pbuf *a = frame(st, 60, 1), *b = frame(st, 5000, 2);
  assert_non_null(tern_pbuf_next(b)); /* a chain of several blocks */
  tern_pcap_write(pc, a, 1500000);      /* 1.5 s */
  tern_pcap_write(pc, b, 123456789012u); /* 123456 s + 789012 us */
  assert_int_equal(tern_pcap_frames(pc), 2);
  assert_int_equal(tern_pcap_flush(pc), TERN_OK);
  tern_pcap_close(pc);

  size_t len;
  uint8_t *d = slurp(path, &len);
  assert_int_equal(len, 24 + 16 + 60 + 16 + 5000);
  assert_int_equal(u32(d), 0xa1b2c3d4u);
  assert_int_equal(u16(d + 4), 2);
  assert_int_equal(u16(d + 6), 4);
  assert_int_equal(u32(d + 8), 0);
  assert_int_equal(u32(d + 12), 0);
  assert_int_equal(u32(d + 16), 65535);
  assert_int_equal(u32(d + 20), 1); /* LINKTYPE_ETHERNET */
  const uint8_t *r = d + 24;
  assert_int_equal(u32(r), 1);
  assert_int_equal(u32(r + 4), 500000);
  assert_int_equal(u32(r + 8), 60);
  assert_int_equal(u32(r + 12), 60);
  check_bytes(r + 16, 60, 1);
  r += 16 + 60;
  assert_int_equal(u32(r), 123456);
  assert_int_equal(u32(r + 4), 789012);
  assert_int_equal(u32(r + 8), 5000);
  assert_int_equal(u32(r + 12), 5000);
  check_bytes(r + 16, 5000, 2);
  free(d);

  /* snaplen 100: the big frame is cut, its original length kept */
  assert_int_equal(tern_pcap_open_linktype(&pc, path, 100, TERN_PCAP_RAW),
                   TERN_OK);
  tern_pcap_write(pc, b, 7);
  tern_pcap_write(pc, a, 8);
  tern_pcap_close(pc);
  d = slurp(path, &len);
  assert_int_equal(len, 24 + 16 + 100 + 16 + 60);
  assert_int_equal(u32(d + 16), 100);
  assert_int_equal(u32(d + 20), 101);
  r = d + 24;
  assert_int_equal(u32(r), 0);
  assert_int_equal(u32(r + 4), 7);
  assert_int_equal(u32(r + 8), 100);
  assert_int_equal(u32(r + 12), 5000);
  check_bytes(r + 16, 100, 2);
  r += 16 + 100;
  assert_int_equal(u32(r + 8), 60);
  check_bytes(r + 16, 60, 1);
  free(d);

  tern_pbuf_free(a);
  tern_pbuf_free(b);
  tern_stack_stats s;
  tern_stack_get_stats(st, &s);
  assert_int_equal(s.pool_used, 0);
  tern_stack_free(st);
  unlink(path);
}

static void test_bad_path(void **state) {
  tern_pcap *pc = (tern_pcap *)1;
  assert_int_equal(tern_pcap_open(&pc, "/nonexistent-dir/x.pcap", 0),
                   TERN_EIO);
  assert_null(pc);
  tern_pcap_close(NULL);
}

static int udp_got;
static void on_udp(void *arg, tern_udp *pcb, tern_pbuf *p,
                   const tern_addr *from) {
  udp_got++;
  tern_pbuf_free(p);
}

/* Ethernet netifs on a wire, A's wrapped: A's ARP request and datagram
 * (out) and B's ARP reply (in) are all in the file, Ethernet framed. */
static void test_wrap(void **state) {
  char path[80];
  tmp_path(path, sizeof(path), "wrap");
  tern_stack *a, *b;
  assert_int_equal(tern_stack_new(&a, NULL), TERN_OK);
  assert_int_equal(tern_stack_new(&b, NULL), TERN_OK);
  tern_wire *w;
  assert_int_equal(tern_wire_new(&w, 1), TERN_OK);
  tern_pcap *pc;
  assert_int_equal(tern_pcap_open(&pc, path, 0), TERN_OK);
  tern_netif_opts o = {0};
  o.flags = TERN_NETIF_ETHERNET;
  o.prefix_len = 24;
  o.driver = tern_wire_driver();
  tern_netif *na, *nb;
  o.name = "a";
  memcpy(o.mac, "\x02\x00\x00\x00\x00\x0a", 6);
  assert_int_equal(tern_addr_parse_ip("10.8.0.1", 8, &o.addr), TERN_OK);
  o.driver_state = tern_wire_end(w, 0);
  assert_int_equal(tern_pcap_wrap(pc, &o), TERN_OK);
  assert_ptr_not_equal(o.driver, tern_wire_driver());
  assert_ptr_equal(o.driver_state, tern_wire_end(w, 0));
  assert_int_equal(tern_netif_add(a, &o, &na), TERN_OK);
  o.name = "b";
  o.driver = tern_wire_driver();
  memcpy(o.mac, "\x02\x00\x00\x00\x00\x0b", 6);
  assert_int_equal(tern_addr_parse_ip("10.8.0.2", 8, &o.addr), TERN_OK);
  o.driver_state = tern_wire_end(w, 1);
  assert_int_equal(tern_netif_add(b, &o, &nb), TERN_OK);
  tern_wire_attach(w, 0, na);
  tern_wire_attach(w, 1, nb);
  tern_netif_set_up(na, true);
  tern_netif_set_up(nb, true);
  uint64_t now = 0;
  tern_wire_run(w, a, b, &now, 100, NULL, NULL);
  uint64_t before = tern_pcap_frames(pc);
  assert_true(before >= 1); /* A's gratuitous ARP at least */

  tern_udp *ub = tern_udp_new(b), *ua = tern_udp_new(a);
  tern_addr to;
  assert_int_equal(tern_addr_parse("10.8.0.2:9000", 13, &to), TERN_OK);
  assert_int_equal(tern_udp_bind(ub, &to), TERN_OK);
  tern_udp_recv(ub, on_udp, NULL);
  tern_pbuf *p = tern_pbuf_alloc(a, TERN_PBUF_TRANSPORT, 32);
  memset(tern_pbuf_data(p), 'x', 32);
  assert_int_equal(tern_udp_sendto(ua, p, &to), TERN_OK);
  tern_pbuf_free(p);
  tern_wire_run(w, a, b, &now, 1000, NULL, NULL);
  assert_int_equal(udp_got, 1);
  uint64_t n = tern_pcap_frames(pc);
  tern_udp_free(ua);
  tern_udp_free(ub);
  tern_stack_free(a);
  tern_stack_free(b);
  tern_wire_free(w);
  tern_pcap_close(pc);

  /* walk the records: ARP both ways and our datagram, all Ethernet */
  size_t len;
  uint8_t *d = slurp(path, &len);
  size_t off = 24;
  unsigned recs = 0, arp_out = 0, arp_in = 0, udp_out = 0;
  while (off + 16 <= len) {
    uint32_t incl = u32(d + off + 8);
    const uint8_t *f = d + off + 16;
    assert_true(off + 16 + incl <= len);
    assert_true(incl >= 14);
    uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
    bool from_a = !memcmp(f + 6, "\x02\x00\x00\x00\x00\x0a", 6);
    if (type == 0x0806) from_a ? arp_out++ : arp_in++;
    if (type == 0x0800 && from_a && f[14 + 9] == 17) {
      udp_out++;
      assert_int_equal(incl, 14 + 20 + 8 + 32);
      assert_memory_equal(f + 14 + 28, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 32);
    }
    off += 16 + incl;
    recs++;
  }
  assert_int_equal(off, len);
  assert_int_equal(recs, n);
  assert_true(arp_out >= 1);
  assert_true(arp_in >= 1); /* recorded on the way in */
  assert_int_equal(udp_out, 1);
  free(d);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_read),
      cmocka_unit_test(test_bad_path),
      cmocka_unit_test(test_wrap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
