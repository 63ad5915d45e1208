/* tests/proto/test_ws_server.c: the tern WebSocket server (tern_http_server
 * + tern_ws_route, an echo protocol) against a raw-socket client that can
 * send any bytes.
 *
 * The conformance cases follow the intent of the Autobahn|Testsuite
 * fuzzingclient cases (numbers in the test names):
 *   1.x  text/binary of 0..1 MiB (7/16/64-bit lengths), whole and chopped
 *   2.x  ping/pong: payloads 0..125, 126 refused, unsolicited pongs,
 *        pings inside a fragmented message
 *   3.x  RSV bits on every kind of frame
 *   4.x  reserved opcodes 3-7, B-F
 *   5.x  fragmentation, continuation rules, fragmented control frames
 *   6.x  UTF-8: valid texts whole and split at every byte, invalid ones
 *        (Kuhn's table) whole and split, fail-fast inside a message and
 *        inside a frame
 *   7.x  closing handshake, close payloads and codes
 *   9.x  16 MiB messages, max_message
 *   10.x fragments mode (tern's variant: pieces with first/last)
 * and then the tern API around it: masking, handshake refusals,
 * subprotocols, session data and CLOSED for every ending, sending from
 * callbacks, send queue and WRITEABLE, keepalive.
 */
#include "ws_test.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static ws_srv H;

static int setup(void **state) {
  (void)state;
  ws_srv_start(&H);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (H.s) tern_http_server_free(H.s);
  H.s = NULL;
  if (H.m) {
    tern_mgr_free(H.m);
    H.m = NULL;
    ws_rec_check(&H.rec);
  }
  ws_rec_free(&H.rec);
  return 0;
}

static void wopen(raw_ws *r, const char *path) { raw_open(r, H.m, H.port, path); }

/* Open with a Sec-WebSocket-Protocol offer. */
static void wopen_offer(raw_ws *r, const char *path, const char *offer) {
  char resp[2048], extra[256];
  raw_connect(r, H.m, H.port);
  snprintf(extra, sizeof(extra), "Sec-WebSocket-Protocol: %s\r\n", offer);
  assert_int_equal(raw_handshake(H.m, r, path, extra, resp, sizeof(resp)), 101);
}

/* Close normally from the client and check the echo and the TCP end. */
static void close_normally(raw_ws *r) {
  raw_close_frame(r, 1000, "done", 4);
  raw_expect_close_reason(H.m, r, 1000, NULL);
  raw_close(r);
}

/* Wait until the server has seen n CLOSED in all. */
static void wait_closed(int n) {
  if (!ws_wait_count(H.m, &H.rec.closed, n, WS_WAIT))
    fail_msg("server saw %d CLOSED, expected %d", H.rec.closed, n);
}

/* A connection that must fail with code: open, send what fn sends, expect
 * the Close (and only it, after the expected echoes) then the TCP end. */
static ws_ent *last_ent(void) {
  assert_true(H.rec.n > 0);
  return &H.rec.ents[H.rec.n - 1];
}

/* ---- 1.x: messages of every length form --------------------------- */

static const size_t sizes_1x[] = {0, 125, 126, 127, 128, 65535, 65536, 1u << 20};

static int len_form(size_t n) { return n <= 125 ? 7 : n <= 65535 ? 16 : 64; }

static void expect_echo_frame(raw_ws *r, int op, const uint8_t *p, size_t n) {
  raw_frame_in f;
  assert_true(raw_wait_frame_ms(H.m, r, &f, WS_WAIT_LONG));
  assert_int_equal(f.op, op);
  assert_true(f.fin);
  assert_int_equal(f.rsv, 0);
  assert_false(f.masked);
  assert_int_equal(f.len, n);
  assert_int_equal(f.len_form, len_form(n)); /* shortest form (5.2) */
  if (n) assert_memory_equal(f.data, p, n);
  raw_frame_free(&f);
}

static void test_1_text_lengths(void **state) {
  (void)state;
  raw_ws r;
  wopen(&r, "/echo");
  for (size_t i = 0; i < N(sizes_1x); i++) {
    uint8_t *p = ws_pattern(sizes_1x[i], true, (unsigned)i);
    raw_frame(&r, true, OP_TEXT, p, sizes_1x[i]);
    expect_echo_frame(&r, OP_TEXT, p, sizes_1x[i]);
    free(p);
  }
  close_normally(&r);
  wait_closed(1);
  ws_ent *e = last_ent();
  assert_int_equal(e->receives, (int)N(sizes_1x));
  assert_int_equal(e->send_errors, 0);
  assert_int_equal(e->close_code, 1000);
}

/* Binary: all frames written back to back, then all echoes read. */
static void test_1_binary_lengths_pipelined(void **state) {
  (void)state;
  raw_ws r;
  uint8_t *p[N(sizes_1x)];
  wopen(&r, "/echo");
  for (size_t i = 0; i < N(sizes_1x); i++) {
    p[i] = ws_pattern(sizes_1x[i], false, 100 + (unsigned)i);
    raw_frame(&r, true, OP_BIN, p[i], sizes_1x[i]);
  }
  for (size_t i = 0; i < N(sizes_1x); i++) {
    expect_echo_frame(&r, OP_BIN, p[i], sizes_1x[i]);
    free(p[i]);
  }
  close_normally(&r);
}

/* 1.1.7 / 1.2.7: a 64 KiB frame written in chops of 997 bytes; 1.x.8: a
 * small frame byte by byte. */
static void test_1_chopped(void **state) {
  (void)state;
  raw_ws r;
  size_t n;
  wopen(&r, "/echo");
  uint8_t *p = ws_pattern(65536, true, 7);
  uint8_t *fr = raw_build(&r, FIN | OP_TEXT, p, 65536, &n);
  raw_write_chopped(H.m, &r, fr, n, 997);
  expect_echo_frame(&r, OP_TEXT, p, 65536);
  free(fr);
  free(p);
  p = ws_pattern(200, false, 8);
  fr = raw_build(&r, FIN | OP_BIN, p, 200, &n);
  raw_write_chopped(H.m, &r, fr, n, 1);
  expect_echo_frame(&r, OP_BIN, p, 200);
  free(fr);
  free(p);
  close_normally(&r);
}

/* ---- 2.x: ping and pong ------------------------------------------- */

static void expect_pong(raw_ws *r, const void *p, size_t n) {
  raw_frame_in f;
  assert_true(raw_wait_frame(H.m, r, &f));
  if (f.op != OP_PONG) fail_msg("expected a Pong, got opcode %d", f.op);
  assert_true(f.fin);
  assert_int_equal(f.rsv, 0);
  assert_int_equal(f.len, n);
  if (n) assert_memory_equal(f.data, p, n);
  raw_frame_free(&f);
}

static void test_2_ping_pong(void **state) {
  (void)state;
  raw_ws r;
  size_t n;
  wopen(&r, "/echo");
  /* 2.1 empty, 2.2 text payload, 2.3 binary payload, 2.4 125 bytes */
  raw_frame(&r, true, OP_PING, "", 0);
  expect_pong(&r, "", 0);
  raw_frame(&r, true, OP_PING, "Hello, world!", 13);
  expect_pong(&r, "Hello, world!", 13);
  static const uint8_t bin[] = {0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff};
  raw_frame(&r, true, OP_PING, bin, sizeof(bin));
  expect_pong(&r, bin, sizeof(bin));
  uint8_t big[125];
  memset(big, 0xfe, sizeof(big));
  raw_frame(&r, true, OP_PING, big, sizeof(big));
  expect_pong(&r, big, sizeof(big));
  /* 2.6: 125 bytes, written byte by byte */
  uint8_t *fr = raw_build(&r, FIN | OP_PING, big, sizeof(big), &n);
  raw_write_chopped(H.m, &r, fr, n, 1);
  free(fr);
  expect_pong(&r, big, sizeof(big));
  /* 2.7-2.9: unsolicited pongs get no answer; the next frame is the pong
   * for the ping after them. */
  raw_frame(&r, true, OP_PONG, "", 0);
  raw_frame(&r, true, OP_PONG, "unsolicited pong payload", 24);
  raw_frame(&r, true, OP_PING, "ping payload", 12);
  expect_pong(&r, "ping payload", 12);
  /* 2.10: ten pings back to back, ten pongs in order; 2.11: one by one */
  char pl[16];
  for (int i = 0; i < 10; i++) {
    snprintf(pl, sizeof(pl), "payload-%d", i);
    raw_frame(&r, true, OP_PING, pl, strlen(pl));
  }
  for (int i = 0; i < 10; i++) {
    snprintf(pl, sizeof(pl), "payload-%d", i);
    expect_pong(&r, pl, strlen(pl));
  }
  for (int i = 0; i < 10; i++) {
    snprintf(pl, sizeof(pl), "one-%d", i);
    raw_frame(&r, true, OP_PING, pl, strlen(pl));
    expect_pong(&r, pl, strlen(pl));
  }
  /* A ping while a fragmented message is in progress. */
  raw_frame(&r, false, OP_TEXT, "Hello, ", 7);
  raw_frame(&r, true, OP_PING, "mid", 3);
  raw_frame(&r, true, OP_CONT, "world", 5);
  expect_pong(&r, "mid", 3);
  raw_expect_text(H.m, &r, "Hello, world");
  close_normally(&r);
  wait_closed(1);
  ws_ent *e = last_ent();
  /* The unsolicited pongs reached the application as PONG. */
  assert_int_equal(e->pongs, 2);
  assert_int_equal(e->pong_len, 24);
  assert_memory_equal(e->pong_data, "unsolicited pong payload", 24);
  assert_int_equal(e->receives, 1);
}

/* 2.5: a ping with 126 bytes is a protocol error (5.5). */
static void test_2_5_ping_126(void **state) {
  (void)state;
  raw_ws r;
  uint8_t big[126];
  memset(big, 0xfe, sizeof(big));
  wopen(&r, "/echo");
  raw_frame(&r, true, OP_PING, big, sizeof(big));
  raw_expect_close(H.m, &r, 1002);
  raw_close(&r);
  wait_closed(1);
  assert_int_equal(last_ent()->close_code, 1006); /* no Close received */
}

/* ---- 3.x: RSV bits ------------------------------------------------- */

/* For each RSV value 1..7 and each kind of frame: a valid text first (it
 * must be echoed), then the bad frame, then a ping: close 1002, no pong,
 * nothing else. Odd cases wait for the echo before sending the bad frame
 * (3.3), the case with rsv 3 is written byte by byte (3.4). */
static void test_3_rsv(void **state) {
  (void)state;
  enum { K_TEXT, K_BIN, K_PING, K_PONG, K_CLOSE, K_CONT, K_KINDS };
  int conns = 0;
  for (int rsv = 1; rsv <= 7; rsv++) {
    for (int k = 0; k < K_KINDS; k++) {
      raw_ws r;
      size_t n;
      wopen(&r, "/echo");
      conns++;
      raw_text(&r, "hello");
      if (k % 2) raw_expect_text(H.m, &r, "hello");
      uint8_t b0 = (uint8_t)(rsv << 4);
      const char *pl = "bad";
      size_t plen = 3;
      switch (k) {
        case K_TEXT: b0 |= FIN | OP_TEXT; break;
        case K_BIN: b0 |= FIN | OP_BIN; break;
        case K_PING: b0 |= FIN | OP_PING; break;
        case K_PONG: b0 |= FIN | OP_PONG; break;
        case K_CLOSE: b0 |= FIN | OP_CLOSE; pl = "\x03\xe8"; plen = 2; break;
        case K_CONT: /* inside a fragmented message */
          raw_frame(&r, false, OP_TEXT, "frag", 4);
          b0 |= FIN | OP_CONT;
          break;
      }
      if (rsv == 3) {
        uint8_t *fr = raw_build(&r, b0, pl, plen, &n);
        raw_write_chopped(H.m, &r, fr, n, 1);
        free(fr);
      } else {
        raw_frame_b0(&r, b0, pl, plen);
      }
      raw_frame(&r, true, OP_PING, "after", 5);
      if (k % 2 == 0) raw_expect_text(H.m, &r, "hello");
      raw_expect_close(H.m, &r, 1002);
      raw_close(&r);
    }
  }
  wait_closed(conns);
  for (int i = 0; i < H.rec.n; i++) {
    assert_int_equal(H.rec.ents[i].receives, 1);
    assert_int_equal(H.rec.ents[i].pongs, 0);
    assert_int_equal(H.rec.ents[i].close_code, 1006);
  }
}

/* ---- 4.x: reserved opcodes ----------------------------------------- */

static void test_4_reserved_opcodes(void **state) {
  (void)state;
  static const int ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
  int conns = 0;
  for (size_t i = 0; i < N(ops); i++) {
    for (int variant = 0; variant < 3; variant++) {
      raw_ws r;
      wopen(&r, "/echo");
      conns++;
      if (variant == 0) { /* 4.x.1: the bad frame alone, empty */
        raw_frame(&r, true, ops[i], "", 0);
      } else { /* 4.x.2-3: with payload, after a text and before a ping */
        raw_text(&r, "hello");
        if (variant == 2) raw_expect_text(H.m, &r, "hello");
        raw_frame(&r, true, ops[i], "reserved", 8);
        raw_frame(&r, true, OP_PING, "after", 5);
        if (variant == 1) raw_expect_text(H.m, &r, "hello");
      }
      raw_expect_close(H.m, &r, 1002);
      raw_close(&r);
    }
  }
  wait_closed(conns);
}

/* ---- 5.x: fragmentation -------------------------------------------- */

/* Frames to send in one case. */
typedef struct fr {
  bool fin;
  int op;
  const char *p;
} fr;

/* mode 0: all at once; 1: frame by frame with the loop running between;
 * 2: every byte separately. */
static void send_frames(raw_ws *r, const fr *f, size_t n, int mode) {
  for (size_t i = 0; i < n; i++) {
    if (mode == 2) {
      size_t k;
      uint8_t *b = raw_build(r, (uint8_t)((f[i].fin ? FIN : 0) | f[i].op), f[i].p,
                             strlen(f[i].p), &k);
      raw_write_chopped(H.m, r, b, k, 1);
      free(b);
    } else {
      raw_frame(r, f[i].fin, f[i].op, f[i].p, strlen(f[i].p));
      if (mode == 1) ws_run_for(H.m, 20);
    }
  }
}

static void test_5_fragmentation_ok(void **state) {
  (void)state;
  for (int mode = 0; mode < 3; mode++) {
    raw_ws r;
    wopen(&r, "/echo");
    /* 5.3-5.5: text in two fragments */
    static const fr two[] = {{false, OP_TEXT, "fragment1"}, {true, OP_CONT, "fragment2"}};
    send_frames(&r, two, N(two), mode);
    raw_expect_text(H.m, &r, "fragment1fragment2");
    /* 5.6-5.8: a ping between the fragments */
    static const fr withping[] = {{false, OP_TEXT, "fragment1"},
                                  {true, OP_PING, "ping payload"},
                                  {true, OP_CONT, "fragment2"}};
    send_frames(&r, withping, N(withping), mode);
    expect_pong(&r, "ping payload", 12);
    raw_expect_text(H.m, &r, "fragment1fragment2");
    /* 5.19-5.20: five fragments, two pings in between */
    static const fr five[] = {
        {false, OP_TEXT, "fragment1"}, {false, OP_CONT, "fragment2"},
        {true, OP_PING, "pongme 1!"},  {false, OP_CONT, "fragment3"},
        {false, OP_CONT, "fragment4"}, {true, OP_PING, "pongme 2!"},
        {true, OP_CONT, "fragment5"}};
    send_frames(&r, five, N(five), mode);
    expect_pong(&r, "pongme 1!", 9);
    expect_pong(&r, "pongme 2!", 9);
    raw_expect_text(H.m, &r, "fragment1fragment2fragment3fragment4fragment5");
    /* binary in three fragments */
    static const fr bin[] = {{false, OP_BIN, "\x01\x02"}, {false, OP_CONT, "\x03"},
                             {true, OP_CONT, "\x04\x05"}};
    send_frames(&r, bin, N(bin), mode);
    raw_expect_msg(H.m, &r, OP_BIN, "\x01\x02\x03\x04\x05", 5);
    /* 6.1.2-6.1.3: empty fragments */
    static const fr empty[] = {{false, OP_TEXT, ""}, {false, OP_CONT, ""},
                               {true, OP_CONT, ""}};
    send_frames(&r, empty, N(empty), mode);
    raw_expect_text(H.m, &r, "");
    static const fr middle[] = {{false, OP_TEXT, ""}, {false, OP_CONT, "middle"},
                                {true, OP_CONT, ""}};
    send_frames(&r, middle, N(middle), mode);
    raw_expect_text(H.m, &r, "middle");
    close_normally(&r);
  }
}

/* Many tiny fragments: 2000 one-byte continuation frames. */
static void test_5_many_tiny_fragments(void **state) {
  (void)state;
  raw_ws r;
  enum { K = 2000 };
  uint8_t *p = ws_pattern(K, false, 55);
  wopen(&r, "/echo");
  for (int i = 0; i < K; i++)
    raw_frame(&r, i == K - 1, i == 0 ? OP_BIN : OP_CONT, p + i, 1);
  raw_expect_msg(H.m, &r, OP_BIN, p, K);
  /* and text in empty and one-byte fragments */
  for (int i = 0; i < K; i++)
    raw_frame(&r, i == K - 1, i == 0 ? OP_TEXT : OP_CONT, "x", (size_t)(i % 2));
  char *want = malloc(K / 2 + 1);
  memset(want, 'x', K / 2);
  want[K / 2] = 0;
  raw_expect_text(H.m, &r, want);
  free(want);
  free(p);
  close_normally(&r);
}

typedef struct bad_case {
  const char *name;
  fr f[8];
  size_t n;
  const char *echo; /* text echoed before the close, or NULL */
} bad_case;

static void test_5_fragmentation_errors(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"5.1 fragmented ping", {{false, OP_PING, "fragment1"}, {true, OP_CONT, "fragment2"}}, 2, NULL},
      {"5.2 fragmented pong", {{false, OP_PONG, "fragment1"}, {true, OP_CONT, "fragment2"}}, 2, NULL},
      {"fragmented close", {{false, OP_CLOSE, "\x03\xe8"}, {true, OP_CONT, ""}}, 2, NULL},
      {"5.9 continuation (FIN) without start",
       {{true, OP_CONT, "fragment1"}, {false, OP_TEXT, "fragment2"}, {true, OP_CONT, "fragment3"}}, 3, NULL},
      {"5.12 continuation (no FIN) without start",
       {{false, OP_CONT, "fragment1"}, {false, OP_TEXT, "fragment2"}, {true, OP_CONT, "fragment3"}}, 3, NULL},
      {"5.15 new message after a finished one, inside a new fragmented one",
       {{false, OP_TEXT, "fragment1"}, {true, OP_CONT, "fragment2"},
        {false, OP_CONT, "fragment3"}, {true, OP_TEXT, "fragment4"}}, 4, "fragment1fragment2"},
      {"5.16 continuations around messages",
       {{false, OP_CONT, "fragment1"}, {false, OP_TEXT, "fragment2"}, {true, OP_CONT, "fragment3"},
        {false, OP_CONT, "fragment4"}, {false, OP_TEXT, "fragment5"}, {true, OP_CONT, "fragment6"}}, 6, NULL},
      {"5.18 text inside a fragmented text",
       {{false, OP_TEXT, "fragment1"}, {true, OP_TEXT, "fragment2"}}, 2, NULL},
      {"binary inside a fragmented text",
       {{false, OP_TEXT, "fragment1"}, {true, OP_BIN, "fragment2"}}, 2, NULL},
      {"text after binary start",
       {{false, OP_BIN, "fragment1"}, {false, OP_TEXT, "fragment2"}, {true, OP_CONT, "x"}}, 3, NULL},
  };
  int conns = 0;
  for (size_t i = 0; i < N(cases); i++) {
    for (int mode = 0; mode < 3; mode++) {
      raw_ws r;
      wopen(&r, "/echo");
      conns++;
      send_frames(&r, cases[i].f, cases[i].n, mode);
      raw_frame(&r, true, OP_PING, "after", 5);
      if (cases[i].echo) raw_expect_text(H.m, &r, cases[i].echo);
      raw_frame_in f;
      if (!raw_wait_frame(H.m, &r, &f)) fail_msg("%s: no Close", cases[i].name);
      if (f.op != OP_CLOSE || f.len < 2 || (f.data[0] << 8 | f.data[1]) != 1002)
        fail_msg("%s (mode %d): got opcode %d len %zu instead of Close 1002",
                 cases[i].name, mode, f.op, f.len);
      raw_frame_free(&f);
      raw_expect_tcp_end(H.m, &r);
      raw_close(&r);
    }
  }
  wait_closed(conns);
}

/* ---- 6.x: UTF-8 ------------------------------------------------------ */

typedef struct u8s {
  const char *s;
  size_t len;
} u8s;
#define U8(lit) {lit, sizeof(lit) - 1}

static const u8s valid_utf8[] = {
    U8("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"),
    U8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), /* kosme */
    U8("a\x00" "b"),                /* NUL is a character */
    U8("\xc2\x80"),                 /* U+0080 */
    U8("\xdf\xbf"),                 /* U+07FF */
    U8("\xe0\xa0\x80"),             /* U+0800 */
    U8("\xed\x9f\xbf"),             /* U+D7FF */
    U8("\xee\x80\x80"),             /* U+E000 */
    U8("\xef\xbb\xbf"),             /* U+FEFF */
    U8("\xef\xbf\xbd"),             /* U+FFFD */
    U8("\xef\xbf\xbe\xef\xbf\xbf"), /* U+FFFE U+FFFF (noncharacters: valid) */
    U8("\xf0\x90\x80\x80"),         /* U+10000 */
    U8("\xf0\x9f\x98\x80 smile"),   /* U+1F600 */
    U8("\xf4\x8f\xbf\xbf"),         /* U+10FFFF */
    U8("\x7f\xc2\x80\xe0\xa0\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xdf\xbf"),
};

static const u8s invalid_utf8[] = {
    /* 6.3.1: kosme with a surrogate inside */
    U8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"),
    /* continuation bytes alone */
    U8("\x80"), U8("\xbf"), U8("\x80\xbf"), U8("\x80\xbf\x80\xbf"),
    U8("Hello\x80World"),
    /* lonely start bytes */
    U8("\xc0\x20"), U8("\xdf\x20"), U8("\xe0\x20"), U8("\xef\x20"), U8("\xf0\x20"),
    /* sequences with the last byte missing (at the end of the message) */
    U8("\xc2"), U8("\xdf"), U8("\xe0\xa0"), U8("\xef\xbf"), U8("\xf0\x90\x80"),
    U8("\xf4\x8f\xbf"), U8("ok\xe2\x82"),
    /* impossible bytes */
    U8("\xfe"), U8("\xff"), U8("\xfe\xfe\xff\xff"), U8("\xf8\x88\x80\x80\x80"),
    U8("\xfc\x84\x80\x80\x80\x80"),
    /* overlong forms */
    U8("\xc0\xaf"), U8("\xe0\x80\xaf"), U8("\xf0\x80\x80\xaf"), U8("\xc1\xbf"),
    U8("\xe0\x9f\xbf"), U8("\xf0\x8f\xbf\xbf"), U8("\xc0\x80"), U8("\xe0\x80\x80"),
    /* UTF-16 surrogates */
    U8("\xed\xa0\x80"), U8("\xed\xad\xbf"), U8("\xed\xae\x80"), U8("\xed\xaf\xbf"),
    U8("\xed\xb0\x80"), U8("\xed\xbe\x80"), U8("\xed\xbf\xbf"),
    U8("\xed\xa0\x80\xed\xb0\x80"),
    /* above U+10FFFF */
    U8("\xf4\x90\x80\x80"), U8("\xf5\x80\x80\x80"), U8("\xf7\xbf\xbf\xbf"),
};

static void test_6_valid_utf8(void **state) {
  (void)state;
  raw_ws r;
  wopen(&r, "/echo");
  for (size_t i = 0; i < N(valid_utf8); i++) {
    const u8s *t = &valid_utf8[i];
    /* whole */
    raw_frame(&r, true, OP_TEXT, t->s, t->len);
    raw_expect_msg(H.m, &r, OP_TEXT, t->s, t->len);
    /* two fragments, split at every byte boundary */
    for (size_t k = 0; k <= t->len; k++) {
      raw_frame(&r, false, OP_TEXT, t->s, k);
      raw_frame(&r, true, OP_CONT, t->s + k, t->len - k);
      raw_expect_msg(H.m, &r, OP_TEXT, t->s, t->len);
    }
    /* one byte per frame */
    for (size_t k = 0; k < t->len; k++)
      raw_frame(&r, k + 1 == t->len, k ? OP_CONT : OP_TEXT, t->s + k, 1);
    raw_expect_msg(H.m, &r, OP_TEXT, t->s, t->len);
    /* the same text in one frame, written byte by byte */
    size_t n;
    uint8_t *fr = raw_build(&r, FIN | OP_TEXT, t->s, t->len, &n);
    raw_write_chopped(H.m, &r, fr, n, 1);
    free(fr);
    raw_expect_msg(H.m, &r, OP_TEXT, t->s, t->len);
  }
  /* Binary messages are not checked as text. */
  raw_frame(&r, true, OP_BIN, "\xff\xfe\xc0", 3);
  raw_expect_msg(H.m, &r, OP_BIN, "\xff\xfe\xc0", 3);
  close_normally(&r);
}

/* Every invalid text, whole and split into two fragments at every byte:
 * close 1007 and nothing echoed. */
static void test_6_invalid_utf8(void **state) {
  (void)state;
  int conns = 0;
  for (size_t i = 0; i < N(invalid_utf8); i++) {
    const u8s *t = &invalid_utf8[i];
    for (size_t k = 0; k <= t->len; k++) {
      raw_ws r;
      wopen(&r, "/echo");
      conns++;
      if (k == t->len) {
        raw_frame(&r, true, OP_TEXT, t->s, t->len);
      } else {
        raw_frame(&r, false, OP_TEXT, t->s, k);
        raw_frame(&r, true, OP_CONT, t->s + k, t->len - k);
      }
      raw_frame_in f;
      if (!raw_wait_frame(H.m, &r, &f)) fail_msg("invalid #%zu: no Close", i);
      if (f.op != OP_CLOSE || f.len < 2 || (f.data[0] << 8 | f.data[1]) != 1007)
        fail_msg("invalid #%zu split %zu: opcode %d len %zu instead of Close 1007",
                 i, k, f.op, f.len);
      raw_frame_free(&f);
      raw_expect_tcp_end(H.m, &r);
      raw_close(&r);
    }
  }
  wait_closed(conns);
  for (int i = 0; i < H.rec.n; i++) assert_int_equal(H.rec.ents[i].receives, 0);
}

/* 6.4.x FAIL-FAST: the Close 1007 must come while the rest of the message
 * (or of the frame) has not been sent yet. */
static void test_6_4_fail_fast(void **state) {
  (void)state;
  static const char kosme[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
  raw_ws r;
  raw_frame_in f;
  /* 6.4.1: fragment 1 valid, fragment 2 invalid (no FIN), wait */
  wopen(&r, "/echo");
  raw_frame(&r, false, OP_TEXT, kosme, 11);
  raw_frame(&r, false, OP_CONT, "\xf4\x90\x80\x80", 4);
  raw_expect_close(H.m, &r, 1007);
  raw_frame(&r, true, OP_CONT, "edited", 6); /* too late: ignored */
  raw_close(&r);
  /* 6.4.2: the first fragment ends in the byte that makes it invalid */
  wopen(&r, "/echo");
  raw_frame(&r, false, OP_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90", 13);
  raw_expect_close(H.m, &r, 1007);
  raw_close(&r);
  /* The first fragment, alone and without FIN, has the invalid byte. */
  wopen(&r, "/echo");
  raw_frame(&r, false, OP_TEXT, "abc\xff", 4);
  raw_expect_close(H.m, &r, 1007);
  raw_close(&r);
  /* 6.4.3: one frame; its header and the payload up to the invalid bytes
   * are sent, the rest is held back. */
  static const char whole[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80" "edited";
  size_t n;
  wopen(&r, "/echo");
  uint8_t *fr = raw_build(&r, FIN | OP_TEXT, whole, sizeof(whole) - 1, &n);
  size_t upto = n - 6; /* everything but "edited" */
  raw_write(&r, fr, upto);
  raw_expect_close(H.m, &r, 1007);
  free(fr);
  raw_close(&r);
  /* 6.4.4: same, the invalid byte (0x90 after 0xf4) arrives alone */
  wopen(&r, "/echo");
  fr = raw_build(&r, FIN | OP_TEXT, whole, sizeof(whole) - 1, &n);
  size_t hdr = n - (sizeof(whole) - 1);
  raw_write(&r, fr, hdr + 12); /* kosme + 0xf4: still valid so far */
  ws_run_for(H.m, 50);
  assert_int_equal(r.in_len - r.in_off, 0); /* nothing yet */
  raw_write(&r, fr + hdr + 12, 1); /* 0x90 */
  raw_expect_close(H.m, &r, 1007);
  free(fr);
  raw_close(&r);
  /* Across fragments: a sequence split between fragments is fine when
   * valid, fails when not. */
  wopen(&r, "/echo");
  raw_frame(&r, false, OP_TEXT, "\xce", 1);
  raw_frame(&r, true, OP_CONT, "\xba", 1);
  raw_expect_msg(H.m, &r, OP_TEXT, "\xce\xba", 2);
  raw_frame(&r, false, OP_TEXT, "\xed", 1);
  raw_frame(&r, false, OP_CONT, "\xa0", 1);
  assert_true(raw_wait_frame(H.m, &r, &f));
  assert_int_equal(f.op, OP_CLOSE);
  assert_int_equal(f.data[0] << 8 | f.data[1], 1007);
  raw_frame_free(&f);
  raw_expect_tcp_end(H.m, &r);
  raw_close(&r);
  wait_closed(6);
}

/* ---- 7.x: the closing handshake ------------------------------------ */

static void test_7_1_close_basics(void **state) {
  (void)state;
  raw_ws r;
  /* 7.1.1: echo, then close 1000 with a reason: the same code comes back
   * and the server closes TCP. */
  wopen(&r, "/echo");
  raw_text(&r, "Hello World!");
  raw_expect_text(H.m, &r, "Hello World!");
  raw_close_frame(&r, 1000, "bye now", 7);
  raw_expect_close(H.m, &r, 1000);
  raw_close(&r);
  wait_closed(1);
  ws_ent *e = last_ent();
  assert_int_equal(e->close_code, 1000);
  /* ws.h: CLOSED carries the peer's reason in data */
  assert_int_equal(e->close_reason_len, 7);
  assert_memory_equal(e->close_reason, "bye now", 7);
  /* 7.1.2: close twice: one Close back */
  wopen(&r, "/echo");
  raw_close_frame(&r, 1000, NULL, 0);
  raw_close_frame(&r, 1000, NULL, 0);
  raw_expect_close(H.m, &r, 1000);
  raw_close(&r);
  /* 7.1.3: close then ping: no pong */
  wopen(&r, "/echo");
  raw_close_frame(&r, 1000, NULL, 0);
  raw_frame(&r, true, OP_PING, "Hello World!", 12);
  raw_expect_close(H.m, &r, 1000);
  raw_close(&r);
  /* 7.1.4: close then text: nothing echoed */
  wopen(&r, "/echo");
  raw_close_frame(&r, 1000, NULL, 0);
  raw_text(&r, "Hello World!");
  raw_expect_close(H.m, &r, 1000);
  raw_close(&r);
  /* 7.1.5: first fragment, close, last fragment: nothing echoed */
  wopen(&r, "/echo");
  raw_frame(&r, false, OP_TEXT, "fragment1", 9);
  raw_close_frame(&r, 1000, NULL, 0);
  raw_frame(&r, true, OP_CONT, "fragment2", 9);
  raw_expect_close(H.m, &r, 1000);
  raw_close(&r);
  /* 7.1.6: a 256 KiB text, a close, a ping: the echo, the Close, no pong */
  wopen(&r, "/echo");
  uint8_t *big = ws_pattern(256 * 1024, true, 9);
  raw_frame(&r, true, OP_TEXT, big, 256 * 1024);
  raw_close_frame(&r, 1000, NULL, 0);
  raw_frame(&r, true, OP_PING, "Hello World!", 12);
  raw_expect_msg(H.m, &r, OP_TEXT, big, 256 * 1024);
  raw_expect_close(H.m, &r, 1000);
  free(big);
  raw_close(&r);
  wait_closed(6);
  /* Nothing after a Close reached the application. */
  assert_int_equal(H.rec.ents[1].receives + H.rec.ents[2].receives +
                       H.rec.ents[3].receives + H.rec.ents[4].receives,
                   0);
  assert_int_equal(H.rec.ents[5].receives, 1);
}

static void test_7_3_close_payloads(void **state) {
  (void)state;
  raw_ws r;
  char reason[125];
  /* 7.3.1: empty close: an empty Close back; the code is 1005 */
  wopen(&r, "/echo");
  raw_close_frame(&r, -1, NULL, 0);
  raw_expect_close(H.m, &r, -1);
  raw_close(&r);
  wait_closed(1);
  assert_int_equal(last_ent()->close_code, 1005);
  /* 7.3.2: one byte: 1002 */
  wopen(&r, "/echo");
  raw_frame(&r, true, OP_CLOSE, "\x03", 1);
  raw_expect_close(H.m, &r, 1002);
  raw_close(&r);
  /* 7.3.3: 1000, no reason */
  wopen(&r, "/echo");
  raw_close_frame(&r, 1000, NULL, 0);
  raw_expect_close_reason(H.m, &r, 1000, NULL);
  raw_close(&r);
  /* 7.3.4: 1000 with a reason */
  wopen(&r, "/echo");
  raw_close_frame(&r, 1000, "Hello World!", 12);
  raw_expect_close(H.m, &r, 1000);
  raw_close(&r);
  /* 7.3.5: 1000 with a 123-byte reason (payload 125) */
  memset(reason, '*', sizeof(reason));
  wopen(&r, "/echo");
  raw_close_frame(&r, 1000, reason, 123);
  raw_expect_close(H.m, &r, 1000);
  raw_close(&r);
  /* 7.3.6: 1000 with a 124-byte reason (payload 126): 1002 */
  wopen(&r, "/echo");
  raw_close_frame(&r, 1000, reason, 124);
  raw_expect_close(H.m, &r, 1002);
  raw_close(&r);
  /* 7.5.1: a reason that is not UTF-8: 1007 */
  wopen(&r, "/echo");
  raw_close_frame(&r, 1000, invalid_utf8[0].s, invalid_utf8[0].len);
  raw_expect_close(H.m, &r, 1007);
  raw_close(&r);
  wait_closed(7);
}

static void test_7_close_codes(void **state) {
  (void)state;
  static const int valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                              1011, 3000, 3999, 4000, 4999};
  static const int invalid[] = {0,    999,  1004, 1005, 1006, 1015, 1016,
                                1100, 2000, 2999, 5000, 65535};
  int conns = 0;
  for (size_t i = 0; i < N(valid); i++) {
    raw_ws r;
    wopen(&r, "/echo");
    conns++;
    raw_close_frame(&r, valid[i], NULL, 0);
    raw_expect_close(H.m, &r, valid[i]);
    raw_close(&r);
    wait_closed(conns);
    assert_int_equal(last_ent()->close_code, valid[i]);
  }
  for (size_t i = 0; i < N(invalid); i++) {
    raw_ws r;
    wopen(&r, "/echo");
    conns++;
    raw_close_frame(&r, invalid[i], NULL, 0);
    raw_frame_in f;
    assert_true(raw_wait_frame(H.m, &r, &f));
    if (f.op != OP_CLOSE || f.len < 2 || (f.data[0] << 8 | f.data[1]) != 1002)
      fail_msg("close code %d: opcode %d len %zu code %d instead of 1002",
               invalid[i], f.op, f.len, f.len >= 2 ? f.data[0] << 8 | f.data[1] : -1);
    raw_frame_free(&f);
    raw_expect_tcp_end(H.m, &r);
    raw_close(&r);
  }
  wait_closed(conns);
}

/* The server starts the closing handshake (tern_ws_close on "close-me"):
 * afterwards sends fail with TERN_ECLOSED; the client's late data is not
 * echoed; the server closes TCP after the client's Close; CLOSED has the
 * client's code. */
static bool close_me_hook(ws_rec *rec, ws_ent *e, tern_ws *ws,
                          tern_ws_reason reason, const tern_ws_msg *m) {
  if (reason != TERN_WS_RECEIVE) return false;
  if (m->len == 8 && !memcmp(m->data, "close-me", 8)) {
    /* argument checks first */
    assert_int_equal(tern_ws_close(ws, 1005, NULL), TERN_EINVAL);
    assert_int_equal(tern_ws_close(ws, 999, NULL), TERN_EINVAL);
    char longr[130];
    memset(longr, 'r', sizeof(longr));
    longr[124] = 0;
    assert_int_equal(tern_ws_close(ws, 1000, longr), TERN_EINVAL);
    assert_int_equal(tern_ws_close(ws, 1000, "\xff"), TERN_EINVAL);
    longr[123] = 0; /* 123 bytes: fine */
    (void)longr;
    assert_int_equal(tern_ws_close(ws, 1001, "going"), TERN_OK);
    assert_int_equal(tern_ws_close(ws, 1001, "again"), TERN_ECLOSED);
    assert_int_equal(tern_ws_send(ws, "x", 1, TERN_WS_TEXT), TERN_ECLOSED);
    return true;
  }
  return false;
}

static void test_7_server_close(void **state) {
  (void)state;
  raw_ws r;
  raw_frame_in f;
  H.rec.hook = close_me_hook;
  wopen(&r, "/echo");
  raw_text(&r, "close-me");
  assert_true(raw_wait_frame(H.m, &r, &f));
  assert_int_equal(f.op, OP_CLOSE);
  assert_int_equal(f.len, 7);
  assert_memory_equal(f.data, "\x03\xe9going", 7);
  raw_frame_free(&f);
  /* late data: the server must not answer it (no echo, no pong) */
  raw_text(&r, "late");
  raw_frame(&r, true, OP_PING, "late ping", 9);
  ws_run_for(H.m, 100);
  assert_false(r.eof); /* the server waits for our Close */
  raw_close_frame(&r, 1001, NULL, 0);
  raw_expect_tcp_end(H.m, &r); /* no frame after the server's Close */
  raw_close(&r);
  wait_closed(1);
  assert_int_equal(last_ent()->close_code, 1001);
}

/* With keepalive on, a server that sent its Close still sends nothing
 * more while it waits for the client's Close. */
static void test_7_no_frame_after_close_keepalive(void **state) {
  (void)state;
  raw_ws r;
  raw_frame_in f;
  H.rec.hook = close_me_hook;
  wopen(&r, "/ka");
  raw_text(&r, "close-me");
  assert_true(raw_wait_frame(H.m, &r, &f));
  assert_int_equal(f.op, OP_CLOSE);
  raw_frame_free(&f);
  /* Several ping periods, the client stays silent: no Ping follows the
   * Close, and the server gives up on the client's Close after the pong
   * timeout and drops the connection. */
  assert_true(ws_run_until(H.m, raw_cond_end, &r, WS_WAIT));
  if (raw_parse(&r, &f)) {
    int op = f.op;
    raw_frame_free(&f);
    fail_msg("server sent a frame (opcode %d) after its Close", op);
  }
  raw_close(&r);
  wait_closed(1);
  assert_int_equal(last_ent()->close_code, 1006);
}

/* ---- 9.x: big messages --------------------------------------------- */

static void test_9_16mib(void **state) {
  (void)state;
  raw_ws r;
  const size_t big = 16u << 20;
  uint8_t *p = ws_pattern(big, false, 16);
  wopen(&r, "/big");
  /* 9.2.6-ish: one frame */
  raw_frame(&r, true, OP_BIN, p, big);
  expect_echo_frame(&r, OP_BIN, p, big);
  /* 9.4.x-ish: 64 KiB fragments */
  const size_t frag = 64 * 1024;
  for (size_t at = 0; at < big; at += frag)
    raw_frame(&r, at + frag >= big, at ? OP_CONT : OP_BIN, p + at, frag);
  raw_expect_msg(H.m, &r, OP_BIN, p, big);
  /* 9.1.x-ish: a 4 MiB text in one frame */
  uint8_t *t = ws_pattern(4u << 20, true, 17);
  raw_frame(&r, true, OP_TEXT, t, 4u << 20);
  expect_echo_frame(&r, OP_TEXT, t, 4u << 20);
  free(t);
  close_normally(&r);
  free(p);
}

/* max_message (1 MiB on /echo): exactly 1 MiB passes (1.x), more is
 * refused with 1009 as soon as the header says so, or as soon as the
 * fragments add up to more. */
static void test_9_max_message(void **state) {
  (void)state;
  raw_ws r;
  const size_t big = 16u << 20;
  /* one 16 MiB frame: only the header and 64 KiB are sent */
  uint8_t *p = ws_pattern(64 * 1024, false, 1);
  size_t n;
  wopen(&r, "/echo");
  uint8_t hdr[14], key[4] = {1, 2, 3, 4};
  n = ws_build_frame(hdr, FIN | OP_BIN, true, key, NULL, 0);
  hdr[1] = 0x80 | 127;
  for (int i = 0; i < 8; i++) hdr[2 + i] = (uint8_t)((uint64_t)big >> (56 - 8 * i));
  memcpy(hdr + 10, key, 4);
  raw_write(&r, hdr, 14);
  raw_write(&r, p, 64 * 1024);
  raw_expect_close(H.m, &r, 1009);
  raw_close(&r);
  (void)n;
  /* 1 MiB + 1 in one frame */
  uint8_t *q = ws_pattern((1u << 20) + 1, false, 2);
  wopen(&r, "/echo");
  raw_frame(&r, true, OP_BIN, q, (1u << 20) + 1);
  raw_expect_close(H.m, &r, 1009);
  raw_close(&r);
  /* fragments that add up to more than 1 MiB */
  wopen(&r, "/echo");
  for (int i = 0; i < 17; i++)
    raw_frame(&r, false, i ? OP_CONT : OP_BIN, q, 64 * 1024);
  raw_expect_close(H.m, &r, 1009);
  raw_close(&r);
  free(q);
  free(p);
  wait_closed(3);
  for (int i = 0; i < H.rec.n; i++) assert_int_equal(H.rec.ents[i].receives, 0);
}

/* ---- 10.x: fragments mode ------------------------------------------ */

static void test_10_fragments_mode(void **state) {
  (void)state;
  raw_ws r;
  wopen(&r, "/frag");
  ws_ent *e = last_ent();
  /* A binary message in fragments of assorted sizes, some empty. */
  static const size_t parts[] = {1, 1000, 0, 70000, 5, 0, 3};
  size_t total = 0;
  for (size_t i = 0; i < N(parts); i++) total += parts[i];
  uint8_t *p = ws_pattern(total, false, 10);
  size_t at = 0;
  for (size_t i = 0; i < N(parts); i++) {
    raw_frame(&r, i + 1 == N(parts), i ? OP_CONT : OP_BIN, p + at, parts[i]);
    at += parts[i];
  }
  assert_true(ws_wait_count(H.m, &e->msgs_done, 1, WS_WAIT));
  assert_int_equal(e->firsts, 1);
  assert_int_equal(e->lasts, 1);
  assert_int_equal(e->bad_flags, 0);
  assert_true(e->pieces >= 5);
  assert_true(e->last_binary);
  assert_int_equal(e->last_len, total);
  assert_memory_equal(e->last, p, total);
  free(p);
  /* One 1 MiB frame: delivered in several pieces as it arrives. */
  int pieces0 = e->pieces;
  p = ws_pattern(1u << 20, false, 11);
  raw_frame(&r, true, OP_BIN, p, 1u << 20);
  assert_true(ws_wait_count(H.m, &e->msgs_done, 2, WS_WAIT_LONG));
  assert_true(e->pieces - pieces0 > 1);
  assert_int_equal(e->firsts, 2);
  assert_int_equal(e->lasts, 2);
  assert_int_equal(e->bad_flags, 0);
  assert_int_equal(e->last_len, 1u << 20);
  assert_memory_equal(e->last, p, 1u << 20);
  free(p);
  /* Text: multi-byte characters split between fragments. */
  const u8s *t = &valid_utf8[0];
  raw_frame(&r, false, OP_TEXT, t->s, 7);
  raw_frame(&r, false, OP_CONT, t->s + 7, 4);
  raw_frame(&r, true, OP_CONT, t->s + 11, t->len - 11);
  assert_true(ws_wait_count(H.m, &e->msgs_done, 3, WS_WAIT));
  assert_false(e->last_binary);
  assert_int_equal(e->last_len, t->len);
  assert_memory_equal(e->last, t->s, t->len);
  assert_int_equal(e->bad_flags, 0);
  /* A small whole message comes as one piece, first and last; the echo
   * (whole messages only) sends it back. */
  raw_text(&r, "whole");
  raw_expect_text(H.m, &r, "whole");
  assert_int_equal(e->msgs_done, 4);
  /* Invalid UTF-8 still fails fast with 1007. */
  raw_frame(&r, false, OP_TEXT, "ok\xff", 3);
  raw_expect_close(H.m, &r, 1007);
  raw_close(&r);
  wait_closed(1);
}

/* ---- masking, handshake, subprotocols ------------------------------- */

static void test_unmasked_client_frame(void **state) {
  (void)state;
  raw_ws r;
  wopen(&r, "/echo");
  r.mask = false;
  raw_text(&r, "not masked");
  raw_expect_close(H.m, &r, 1002);
  raw_close(&r);
  /* an unmasked control frame too */
  wopen(&r, "/echo");
  raw_text(&r, "masked");
  raw_expect_text(H.m, &r, "masked");
  r.mask = false;
  raw_frame(&r, true, OP_PING, "", 0);
  raw_expect_close(H.m, &r, 1002);
  raw_close(&r);
  wait_closed(2);
  assert_int_equal(H.rec.ents[0].receives, 0);
}

/* 5.2: a 64-bit length with its most significant bit set: 1002, as soon
 * as the length's first byte is in. */
static void test_length_msb(void **state) {
  (void)state;
  raw_ws r;
  wopen(&r, "/echo");
  static const uint8_t hdr[] = {FIN | OP_BIN, 0x80 | 127, 0x80};
  raw_write(&r, hdr, sizeof(hdr));
  raw_expect_close(H.m, &r, 1002);
  raw_close(&r);
  wait_closed(1);
}

/* Frames written in the same packet as the upgrade request are handled
 * (the server reads them right after the handshake). */
static void test_frames_behind_request(void **state) {
  (void)state;
  raw_ws r;
  char resp[2048];
  static const char req[] =
      "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_TEST_KEY "\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  uint8_t buf[sizeof(req) + 64];
  size_t n = sizeof(req) - 1;
  uint8_t key[4] = {9, 8, 7, 6};
  memcpy(buf, req, n);
  n += ws_build_frame(buf + n, FIN | OP_TEXT, true, key, "first", 5);
  n += ws_build_frame(buf + n, FIN | OP_PING, true, key, "p", 1);
  raw_connect(&r, H.m, H.port);
  buf[n] = 0;
  /* raw_http sends a C string: the frames have no NUL bytes here */
  assert_int_equal(strlen((char *)buf), n);
  assert_int_equal(raw_http(H.m, &r, (char *)buf, false, resp, sizeof(resp)), 101);
  raw_expect_text(H.m, &r, "first");
  expect_pong(&r, "p", 1);
  close_normally(&r);
}

static int refused(const char *req, char *resp, size_t size) {
  raw_ws r;
  raw_connect(&r, H.m, H.port);
  int st = raw_http(H.m, &r, req, true, resp, size);
  raw_close(&r);
  return st;
}

static void test_handshake_refusals(void **state) {
  (void)state;
  char resp[4096];
  /* a plain GET on the WebSocket path */
  assert_int_equal(refused("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp)),
                   426);
  assert_true(http_has_header(resp, "Sec-WebSocket-Version: 13"));
  /* Upgrade missing */
  assert_int_equal(refused("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: " WS_TEST_KEY "\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n",
                           resp, sizeof(resp)),
                   426);
  assert_true(http_has_header(resp, "Sec-WebSocket-Version: 13"));
  /* Connection: upgrade missing */
  assert_int_equal(refused("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                           "Sec-WebSocket-Key: " WS_TEST_KEY "\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n",
                           resp, sizeof(resp)),
                   426);
  /* version 8 */
  assert_int_equal(refused("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_TEST_KEY "\r\n"
                           "Sec-WebSocket-Version: 8\r\n\r\n",
                           resp, sizeof(resp)),
                   426);
  assert_true(http_has_header(resp, "Sec-WebSocket-Version: 13"));
  /* bad keys: too short, 18 bytes, not base64, missing */
  static const char *keys[] = {"Sec-WebSocket-Key: c2hvcnQ=\r\n",
                               "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\n",
                               "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n", ""};
  for (size_t i = 0; i < N(keys); i++) {
    char req[512];
    snprintf(req, sizeof(req),
             "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\n%sSec-WebSocket-Version: 13\r\n\r\n",
             keys[i]);
    assert_int_equal(refused(req, resp, sizeof(resp)), 400);
  }
  /* POST on the WebSocket path */
  assert_int_equal(refused("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
                           resp, sizeof(resp)),
                   405);
  assert_true(http_has_header(resp, "Allow: GET"));
  /* After a refusal the connection still serves a proper upgrade. */
  raw_ws r;
  raw_connect(&r, H.m, H.port);
  assert_int_equal(raw_http(H.m, &r, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", true,
                            resp, sizeof(resp)),
                   426);
  assert_int_equal(raw_handshake(H.m, &r, "/echo", NULL, resp, sizeof(resp)), 101);
  raw_text(&r, "after 426");
  raw_expect_text(H.m, &r, "after 426");
  close_normally(&r);
  wait_closed(1);
  assert_int_equal(H.rec.established, 1);
}

static void subproto(const char *path, const char *offer, const char *want) {
  raw_ws r;
  char resp[2048], extra[256] = "";
  raw_connect(&r, H.m, H.port);
  if (offer) snprintf(extra, sizeof(extra), "Sec-WebSocket-Protocol: %s\r\n", offer);
  assert_int_equal(raw_handshake(H.m, &r, path, extra, resp, sizeof(resp)), 101);
  if (want) {
    char line[128];
    snprintf(line, sizeof(line), "Sec-WebSocket-Protocol: %s", want);
    if (!http_has_header(resp, line)) fail_msg("offer '%s': %s", offer, resp);
  } else if (strcasestr(resp, "Sec-WebSocket-Protocol") != NULL) {
    /* 4.2.2: none of the offered ones (or none offered): no header */
    fail_msg("offer '%s' on %s: the server answered a subprotocol:\n%s",
             offer ? offer : "(none)", path, resp);
  }
  raw_text(&r, "hi");
  raw_expect_text(H.m, &r, "hi");
  close_normally(&r);
  int n = H.rec.n;
  wait_closed(n);
  assert_string_equal(H.rec.ents[n - 1].proto, want ? want : "");
}

static void test_subprotocols(void **state) {
  (void)state;
  subproto("/proto", "a, tern-x", "tern-x");
  subproto("/proto", "tern-y", "tern-y");
  subproto("/proto", "b, tern-y, tern-x", "tern-x"); /* server's order */
  subproto("/proto", "tern-y,tern-x", "tern-x");
  subproto("/echo", NULL, NULL);
  subproto("/echo", "a, b", NULL);
}

/* A route whose protocols all have names: a client that offers none, or
 * none of them, must not get a Sec-WebSocket-Protocol header back. */
static void test_subprotocol_not_offered(void **state) {
  (void)state;
  subproto("/named", "tern-x", "tern-x");
  subproto("/named", NULL, NULL);
  subproto("/named", "zzz", NULL);
}

/* ---- sessions and CLOSED for every ending ---------------------------- */

static void test_closed_once_every_ending(void **state) {
  (void)state;
  raw_ws a, b, c, d, e;
  H.rec.hook = close_me_hook;
  wopen(&a, "/echo");
  wopen(&b, "/echo");
  wopen(&c, "/echo");
  wopen(&d, "/echo");
  wopen(&e, "/echo");
  assert_int_equal(H.rec.established, 5);
  assert_int_equal(tern_ws_count(H.s), 5);
  tern_http_stats st;
  tern_http_server_stats(H.s, &st);
  assert_int_equal(st.ws_open, 5);
  /* each echoes once first, so each has had several callbacks */
  raw_ws *all[] = {&a, &b, &c, &d, &e};
  for (int i = 0; i < 5; i++) {
    raw_text(all[i], "x");
    raw_expect_text(H.m, all[i], "x");
  }
  /* a: the client closes */
  raw_close_frame(&a, 1000, NULL, 0);
  raw_expect_close(H.m, &a, 1000);
  /* b: the server closes */
  raw_text(&b, "close-me");
  raw_frame_in f;
  assert_true(raw_wait_frame(H.m, &b, &f));
  assert_int_equal(f.op, OP_CLOSE);
  raw_frame_free(&f);
  raw_close_frame(&b, 3001, NULL, 0);
  raw_expect_tcp_end(H.m, &b);
  /* c: a protocol failure */
  raw_frame_b0(&c, FIN | RSV1 | OP_TEXT, "x", 1);
  raw_expect_close(H.m, &c, 1002);
  /* d: TCP reset from the client */
  raw_reset(&d);
  wait_closed(4);
  assert_int_equal(tern_ws_count(H.s), 1);
  assert_int_equal(H.rec.ents[0].close_code, 1000);
  assert_int_equal(H.rec.ents[1].close_code, 3001);
  assert_int_equal(H.rec.ents[2].close_code, 1006);
  assert_int_equal(H.rec.ents[3].close_code, 1006);
  /* e: the server is freed with the connection open */
  tern_http_server_free(H.s);
  H.s = NULL;
  assert_int_equal(H.rec.closed, 5);
  assert_int_equal(H.rec.ents[4].close_code, 1006);
  ws_run_for(H.m, 50);
  ws_rec_check(&H.rec);
  /* the client sees the TCP connection end */
  assert_true(ws_run_until(H.m, raw_cond_end, &e, WS_WAIT));
  for (int i = 0; i < 5; i++) raw_close(all[i]);
}

/* Session data written in one callback is there in the next ones (the
 * recorder checks the pointer on every call); a 1-byte session and a
 * 0-byte one work too. */
typedef struct big_sess {
  uint8_t bytes[4096];
  int calls;
} big_sess;

static int big_calls, big_closed, big_bad;
static void big_fn(tern_ws *ws, tern_ws_reason reason, void *session,
                   const tern_ws_msg *m, void *ud) {
  (void)ud;
  big_sess *s = session;
  if (reason == TERN_WS_ESTABLISHED) {
    for (size_t i = 0; i < sizeof(*s); i++)
      if (((uint8_t *)s)[i]) big_bad++;
    memset(s->bytes, 0xA5, sizeof(s->bytes));
  } else {
    for (size_t i = 0; i < sizeof(s->bytes); i++)
      if (s->bytes[i] != 0xA5) big_bad++;
  }
  if (s->calls++ != big_calls) big_bad++;
  big_calls++;
  if (reason == TERN_WS_RECEIVE) tern_ws_send(ws, m->data, m->len, TERN_WS_TEXT);
  if (reason == TERN_WS_CLOSED) big_closed++;
}

static void test_session_big(void **state) {
  (void)state;
  tern_ws_protocol p = {.fn = big_fn, .session_size = sizeof(big_sess)};
  assert_int_equal(tern_ws_route(H.s, "/bigsess", &p, 1), TERN_OK);
  big_calls = big_closed = big_bad = 0;
  raw_ws r;
  wopen(&r, "/bigsess");
  for (int i = 0; i < 5; i++) {
    raw_text(&r, "s");
    raw_expect_text(H.m, &r, "s");
  }
  close_normally(&r);
  assert_true(ws_wait_count(H.m, &big_closed, 1, WS_WAIT));
  assert_int_equal(big_bad, 0);
  assert_int_equal(big_calls, 7);
}

/* ---- sending from callbacks ---------------------------------------- */

static bool multi_hook(ws_rec *rec, ws_ent *e, tern_ws *ws,
                       tern_ws_reason reason, const tern_ws_msg *m) {
  if (reason == TERN_WS_ESTABLISHED) {
    assert_int_equal(tern_ws_send(ws, "welcome", 7, TERN_WS_TEXT), TERN_OK);
    return true;
  }
  if (reason != TERN_WS_RECEIVE || m->len != 5 || memcmp(m->data, "multi", 5))
    return false;
  assert_int_equal(tern_ws_send(ws, "one", 3, TERN_WS_TEXT), TERN_OK);
  assert_int_equal(tern_ws_send(ws, "two", 3, TERN_WS_TEXT), TERN_OK);
  assert_int_equal(tern_ws_send(ws, "\x00\x01\x02", 3, TERN_WS_BINARY), TERN_OK);
  assert_int_equal(tern_ws_send(ws, "", 0, TERN_WS_TEXT), TERN_OK);
  assert_int_equal(tern_ws_send(ws, NULL, 0, TERN_WS_BINARY), TERN_OK);
  assert_int_equal(tern_ws_send(ws, "srv-ping", 8, TERN_WS_PING), TERN_OK);
  /* refusals */
  assert_int_equal(tern_ws_send(ws, "\xc0\xaf", 2, TERN_WS_TEXT), TERN_EINVAL);
  uint8_t big[126] = {0};
  assert_int_equal(tern_ws_send(ws, big, 126, TERN_WS_PING), TERN_EMSGSIZE);
  assert_int_equal(tern_ws_send(ws, big, 1, (tern_ws_type)8), TERN_EINVAL);
  assert_int_equal(tern_ws_send(ws, NULL, 1, TERN_WS_BINARY), TERN_EINVAL);
  assert_int_equal(tern_ws_send(ws, "last", 4, TERN_WS_TEXT), TERN_OK);
  return true;
}

static void test_send_several_in_callback(void **state) {
  (void)state;
  raw_ws r;
  raw_frame_in f;
  H.rec.hook = multi_hook;
  wopen(&r, "/echo");
  raw_expect_text(H.m, &r, "welcome");
  raw_text(&r, "multi");
  raw_expect_text(H.m, &r, "one");
  raw_expect_text(H.m, &r, "two");
  raw_expect_msg(H.m, &r, OP_BIN, "\x00\x01\x02", 3);
  raw_expect_text(H.m, &r, "");
  raw_expect_msg(H.m, &r, OP_BIN, "", 0);
  assert_true(raw_wait_frame(H.m, &r, &f));
  assert_int_equal(f.op, OP_PING);
  assert_string_equal((char *)f.data, "srv-ping");
  raw_frame_free(&f);
  raw_expect_text(H.m, &r, "last");
  /* answer the ping: PONG reaches the application */
  raw_frame(&r, true, OP_PONG, "srv-ping", 8);
  ws_ent *e = last_ent();
  assert_true(ws_wait_count(H.m, &e->pongs, 1, WS_WAIT));
  assert_int_equal(e->pong_len, 8);
  close_normally(&r);
}

/* ---- send queue, WRITEABLE ----------------------------------------- */

typedef struct flood {
  size_t base; /* bytes the client had read before the flood */
  int sent, enospc;
  size_t q_first, q_max;
  int want_writable_done;
} flood;
static flood FL;

static bool flood_hook(ws_rec *rec, ws_ent *e, tern_ws *ws,
                       tern_ws_reason reason, const tern_ws_msg *m) {
  if (reason == TERN_WS_ESTABLISHED) {
    assert_int_equal(tern_conn_set_tx_max(tern_ws_conn(ws), 1u << 20), TERN_OK);
    return true;
  }
  if (reason == TERN_WS_RECEIVE && m->len == 5 && !memcmp(m->data, "flood", 5)) {
    static uint8_t chunk[64 * 1024];
    for (int i = 0; i < 100000; i++) {
      int rc = tern_ws_send(ws, chunk, sizeof(chunk), TERN_WS_BINARY);
      size_t q = tern_ws_queued(ws);
      if (rc == TERN_ENOSPC) {
        FL.enospc++;
        break;
      }
      assert_int_equal(rc, TERN_OK);
      FL.sent++;
      if (q > 0 && FL.q_first == 0) FL.q_first = q;
      if (q > FL.q_max) FL.q_max = q;
    }
    tern_ws_want_writable(ws);
    FL.want_writable_done = 1;
    return true;
  }
  return false;
}

static int cond_bytes(void *arg) {
  raw_ws *r = arg;
  return r->in_total - FL.base >= (size_t)FL.sent * ws_frame_size(64 * 1024, false);
}

static void test_queue_grows_and_writeable(void **state) {
  (void)state;
  raw_ws r;
  memset(&FL, 0, sizeof(FL));
  H.rec.hook = flood_hook;
  raw_connect_buf(&r, H.m, H.port, 4096);
  char resp[1024];
  assert_int_equal(raw_handshake(H.m, &r, "/echo", NULL, resp, sizeof(resp)), 101);
  FL.base = r.in_total;
  raw_pause(&r, true);
  raw_text(&r, "flood");
  ws_ent *e = last_ent();
  assert_true(ws_run_until(H.m, ws_cond_count,
                           &(ws_count_wait){&FL.want_writable_done, 1}, WS_WAIT));
  assert_int_equal(FL.enospc, 1);
  assert_true(FL.q_first > 0);
  assert_true(FL.q_max > FL.q_first);          /* it grew */
  assert_true(FL.q_max > 512 * 1024);          /* up to the 1 MiB limit */
  assert_true(FL.q_max <= 1u << 20);
  /* The client still does not read: no WRITEABLE. */
  ws_run_for(H.m, 100);
  assert_int_equal(e->writeables, 0);
  /* It reads: the queue drains, WRITEABLE comes once. */
  raw_pause(&r, false);
  assert_true(ws_wait_count(H.m, &e->writeables, 1, WS_WAIT_LONG));
  assert_true(e->queued_seen <= 16 * 1024); /* at or below low water */
  assert_true(ws_run_until(H.m, cond_bytes, &r, WS_WAIT_LONG));
  ws_run_for(H.m, 50);
  raw_frame_in f;
  int frames = 0;
  while (raw_parse(&r, &f)) {
    assert_int_equal(f.op, OP_BIN);
    assert_int_equal(f.len, 64 * 1024);
    raw_frame_free(&f);
    frames++;
  }
  assert_int_equal(frames, FL.sent);
  assert_int_equal(e->writeables, 1);
  assert_int_equal(r.in_total - FL.base, (size_t)FL.sent * ws_frame_size(64 * 1024, false));
  close_normally(&r);
}

static int writeables_total(void) {
  int n = 0;
  for (int i = 0; i < H.rec.n; i++) n += H.rec.ents[i].writeables;
  return n;
}

static int cond_writeables(void *arg) { return writeables_total() >= *(int *)arg; }

/* Wait for want WRITEABLE in all, then a little more for any extra. */
static void wait_writeables(int want) {
  assert_true(ws_run_until(H.m, cond_writeables, &want, WS_WAIT));
  ws_run_for(H.m, 50);
  assert_int_equal(writeables_total(), want);
}

static void test_want_writable_all(void **state) {
  (void)state;
  raw_ws r[5];
  wopen(&r[0], "/echo");
  wopen(&r[1], "/echo");
  wopen(&r[2], "/echo");
  wopen_offer(&r[3], "/proto", "tern-x");
  wopen_offer(&r[4], "/proto", "tern-x");
  assert_true(ws_wait_count(H.m, &H.rec.established, 5, WS_WAIT));
  tern_ws_want_writable_all(H.s, NULL); /* the nameless protocol: /echo */
  wait_writeables(3);
  for (int i = 0; i < 5; i++)
    assert_int_equal(H.rec.ents[i].writeables, i < 3 ? 1 : 0);
  tern_ws_want_writable_all(H.s, "tern-x");
  wait_writeables(5);
  for (int i = 0; i < 5; i++) assert_int_equal(H.rec.ents[i].writeables, 1);
  tern_ws_want_writable_all(H.s, "nobody");
  /* and the single-connection form */
  tern_ws_want_writable(H.rec.ents[1].ws);
  wait_writeables(6);
  for (int i = 0; i < 5; i++)
    assert_int_equal(H.rec.ents[i].writeables, i == 1 ? 2 : 1);
  for (int i = 0; i < 5; i++) close_normally(&r[i]);
}

/* ---- keepalive ------------------------------------------------------- */

static void test_keepalive(void **state) {
  (void)state;
  raw_ws r;
  raw_frame_in f;
  /* A client that answers pings stays connected. */
  wopen(&r, "/ka");
  int pings = 0;
  uint64_t end = tern_clock_ms() + 1200;
  while (tern_clock_ms() < end) {
    if (raw_wait_frame_ms(H.m, &r, &f, 50)) {
      assert_int_equal(f.op, OP_PING);
      pings++;
      raw_frame(&r, true, OP_PONG, f.data, f.len);
      raw_frame_free(&f);
    }
    assert_false(r.eof);
  }
  assert_true(pings >= 2);
  assert_int_equal(H.rec.closed, 0);
  ws_ent *e = last_ent();
  /* the answers reach the application as PONG */
  assert_true(ws_wait_count(H.m, &e->pongs, pings, WS_WAIT));
  assert_int_equal(e->pongs, pings);
  /* Now it stops answering: dropped, CLOSED with 1006. */
  uint64_t t0 = tern_clock_ms();
  assert_true(ws_run_until(H.m, raw_cond_end, &r, WS_WAIT));
  uint64_t took = tern_clock_ms() - t0;
  assert_true(took < 3000);
  /* what came before the end: at most a ping */
  while (raw_parse(&r, &f)) {
    assert_int_equal(f.op, OP_PING);
    raw_frame_free(&f);
  }
  raw_close(&r);
  wait_closed(1);
  assert_int_equal(e->close_code, 1006);
  /* A client that never answers from the start. */
  wopen(&r, "/ka");
  assert_true(raw_wait_frame(H.m, &r, &f));
  assert_int_equal(f.op, OP_PING);
  raw_frame_free(&f);
  assert_true(ws_run_until(H.m, raw_cond_end, &r, WS_WAIT));
  raw_close(&r);
  wait_closed(2);
  assert_int_equal(last_ent()->close_code, 1006);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
      T(test_1_text_lengths),
      T(test_1_binary_lengths_pipelined),
      T(test_1_chopped),
      T(test_2_ping_pong),
      T(test_2_5_ping_126),
      T(test_3_rsv),
      T(test_4_reserved_opcodes),
      T(test_5_fragmentation_ok),
      T(test_5_many_tiny_fragments),
      T(test_5_fragmentation_errors),
      T(test_6_valid_utf8),
      T(test_6_invalid_utf8),
      T(test_6_4_fail_fast),
      T(test_7_1_close_basics),
      T(test_7_3_close_payloads),
      T(test_7_close_codes),
      T(test_7_server_close),
      T(test_7_no_frame_after_close_keepalive),
      T(test_9_16mib),
      T(test_9_max_message),
      T(test_10_fragments_mode),
      T(test_unmasked_client_frame),
      T(test_length_msb),
      T(test_frames_behind_request),
      T(test_handshake_refusals),
      T(test_subprotocols),
      T(test_subprotocol_not_offered),
      T(test_closed_once_every_ending),
      T(test_session_big),
      T(test_send_several_in_callback),
      T(test_queue_grows_and_writeable),
      T(test_want_writable_all),
      T(test_keepalive),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
