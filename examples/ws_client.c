/* ws_client: a WebSocket client that checks an echo server.
 *
 *   example_ws_client ws://HOST:PORT/PATH [SIZE...]
 *
 * Connects, sends one message per SIZE (default: 0 1 125 126 65535 65536
 * 1048576; even ones text, odd ones binary) one after the other, checks
 * that each comes back byte for byte with its type, sends a Ping and waits
 * for the Pong, then closes with 1000 and waits for the server's Close.
 * Prints "ws_client: ok messages=N bytes=B pong=1 close=1000" and exits 0
 * on success; anything else (handshake refused, wrong echo, a code other
 * than 1000, 30 s without progress) prints the reason and exits 1.
 *
 * What it shows: tern_ws_connect, the callback's reasons in order
 * (ESTABLISHED, RECEIVE, PONG, CLOSED), sending from callbacks, and sizing
 * the send limit and max_message for the largest message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"

#define MAX_SIZES 64
#define STALL_MS 30000

typedef struct run {
  size_t sizes[MAX_SIZES];
  int n, next;          /* messages in all, index of the one in flight */
  uint8_t *payload;     /* the message in flight */
  unsigned long long bytes;
  int pong, done, failed;
  uint16_t close_code;
  uint64_t progress_at; /* last time something happened */
} run;

static void fail(run *r, tern_ws *ws, const char *why) {
  fprintf(stderr, "ws_client: %s\n", why);
  r->failed = 1;
  if (ws) tern_ws_close(ws, 1011, "check failed");
}

/* The i-th message: text (printable ASCII) for even i, binary for odd. */
static void send_next(run *r, tern_ws *ws) {
  if (r->next == r->n) { /* all echoed: ping, then close after the pong */
    if (tern_ws_send(ws, "ws_client-ping", 14, TERN_WS_PING) != TERN_OK)
      fail(r, ws, "cannot send the ping");
    return;
  }
  size_t len = r->sizes[r->next];
  free(r->payload);
  r->payload = malloc(len ? len : 1);
  if (r->payload == NULL) {
    fail(r, ws, "out of memory");
    return;
  }
  uint32_t x = 0x12345678u + (uint32_t)r->next;
  bool text = r->next % 2 == 0;
  for (size_t i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    r->payload[i] = text ? (uint8_t)(' ' + (x >> 16) % 95) : (uint8_t)(x >> 16);
  }
  int rc = tern_ws_send(ws, r->payload, len, text ? TERN_WS_TEXT : TERN_WS_BINARY);
  if (rc != TERN_OK) fail(r, ws, tern_strerror(rc));
}

static void on_ws(tern_ws *ws, tern_ws_reason reason, void *sess,
                  const tern_ws_msg *m, void *ud) {
  run *r = ud;
  (void)sess;
  r->progress_at = tern_clock_ms();
  switch (reason) {
    case TERN_WS_ESTABLISHED:
      printf("ws_client: connected (subprotocol '%s')\n", tern_ws_protocol_name(ws));
      send_next(r, ws);
      break;
    case TERN_WS_RECEIVE: {
      if (r->failed) break;
      if (r->next >= r->n) {
        fail(r, ws, "a message nobody asked for");
        break;
      }
      size_t len = r->sizes[r->next];
      if (m->len != len || m->binary != (r->next % 2 == 1) ||
          (len && memcmp(m->data, r->payload, len) != 0)) {
        fprintf(stderr, "ws_client: message %d (%zu bytes): echo differs (%zu bytes)\n",
                r->next, len, m->len);
        fail(r, ws, "wrong echo");
        break;
      }
      r->bytes += len;
      r->next++;
      send_next(r, ws);
      break;
    }
    case TERN_WS_PONG:
      if (m->len == 14 && !memcmp(m->data, "ws_client-ping", 14) && !r->pong) {
        r->pong = 1;
        if (tern_ws_close(ws, 1000, "done") != TERN_OK) fail(r, ws, "cannot close");
      }
      break;
    case TERN_WS_CLOSED:
      r->close_code = m->close_code;
      r->done = 1;
      break;
    case TERN_WS_WRITEABLE:
      break;
  }
}

int main(int argc, char **argv) {
  static const size_t defaults[] = {0, 1, 125, 126, 65535, 65536, 1048576};
  run r;
  memset(&r, 0, sizeof(r));
  if (argc < 2 || strncmp(argv[1], "ws://", 5) != 0) {
    fprintf(stderr, "usage: %s ws://HOST:PORT/PATH [SIZE...]\n", argv[0]);
    return 2;
  }
  size_t max = 0;
  for (int i = 2; i < argc && r.n < MAX_SIZES; i++) {
    char *end;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (*end != 0 || v > (256u << 20)) {
      fprintf(stderr, "ws_client: bad size '%s'\n", argv[i]);
      return 2;
    }
    r.sizes[r.n++] = (size_t)v;
  }
  if (r.n == 0)
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
      r.sizes[r.n++] = defaults[i];
  for (int i = 0; i < r.n; i++) max = r.sizes[i] > max ? r.sizes[i] : max;

  tern_mgr_opts mo = {0};
  mo.limits.tx_max = max + (1u << 20); /* one whole message fits */
  tern_mgr *m;
  tern_ws *ws;
  tern_ws_protocol proto = {.fn = on_ws, .ud = &r,
                            .max_message = max > (1u << 20) ? max : 0};
  int rc = tern_mgr_new(&m, &mo);
  if (rc == TERN_OK) rc = tern_ws_connect(m, argv[1], &proto, &ws);
  if (rc != TERN_OK) {
    fprintf(stderr, "ws_client: %s: %s\n", argv[1], tern_strerror(rc));
    return 1;
  }
  r.progress_at = tern_clock_ms();
  while (!r.done && tern_clock_ms() - r.progress_at < STALL_MS)
    tern_loop_poll(tern_mgr_loop(m), 100);
  tern_mgr_free(m); /* a connection still open gets CLOSED here */
  free(r.payload);
  if (!r.done || r.failed || r.next != r.n || !r.pong || r.close_code != 1000) {
    fprintf(stderr,
            "ws_client: FAILED: %d/%d echoes, pong %d, close %u%s\n", r.next,
            r.n, r.pong, r.close_code, r.done ? "" : ", stalled");
    return 1;
  }
  printf("ws_client: ok messages=%d bytes=%llu pong=1 close=%u\n", r.n, r.bytes,
         r.close_code);
  return 0;
}
