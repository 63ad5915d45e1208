/* lws_echo: the libwebsockets reference peer for make bench.
 *
 *   lws_echo PORT
 *
 * A libwebsockets (Debian libwebsockets-dev 4.1) server on 127.0.0.1:PORT
 * whose one protocol echoes every message back with its type, the way
 * lws's own minimal examples do: the message is copied into a per-session
 * buffer with LWS_PRE bytes of headroom, and written on the next
 * SERVER_WRITEABLE callback. Messages are small (the benchmark sends 64
 * bytes): a queue of 16 messages of up to 128 bytes per session covers 16
 * in flight and keeps the session small (~2.4 KiB), so the idle-memory
 * comparison is not inflated by this peer. Built by bench/http_ws.sh only
 * (not part of tern).
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define QLEN 16
#define MAXMSG 128

struct msg {
  size_t len;
  int binary;
  unsigned char buf[LWS_PRE + MAXMSG];
};

struct session {
  struct msg q[QLEN];
  unsigned head, tail;
};

static int interrupted;

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
              void *in, size_t len) {
  struct session *s = user;
  switch (reason) {
    case LWS_CALLBACK_RECEIVE: {
      if (len > MAXMSG || s->tail - s->head >= QLEN) return -1;
      struct msg *m = &s->q[s->tail++ % QLEN];
      memcpy(m->buf + LWS_PRE, in, len);
      m->len = len;
      m->binary = lws_frame_is_binary(wsi);
      lws_callback_on_writable(wsi);
      break;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
      while (s->head != s->tail) {
        struct msg *m = &s->q[s->head % QLEN];
        if (lws_write(wsi, m->buf + LWS_PRE, m->len,
                      m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)m->len)
          return -1;
        s->head++;
        if (lws_send_pipe_choked(wsi)) {
          if (s->head != s->tail) lws_callback_on_writable(wsi);
          break;
        }
      }
      break;
    default:
      break;
  }
  return 0;
}

static struct lws_protocols protocols[] = {
    {"echo", cb, sizeof(struct session), MAXMSG, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static void on_sig(int sig) { (void)sig; interrupted = 1; }

int main(int argc, char **argv) {
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = argc > 1 ? atoi(argv[1]) : 7681;
  info.iface = "127.0.0.1";
  info.protocols = protocols;
  info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
  lws_set_log_level(LLL_ERR, NULL);
  signal(SIGINT, on_sig);
  signal(SIGTERM, on_sig);
  struct lws_context *ctx = lws_create_context(&info);
  if (!ctx) return 1;
  printf("lws_echo: listening on 127.0.0.1:%d\n", info.port);
  fflush(stdout);
  while (!interrupted && lws_service(ctx, 0) >= 0) {
  }
  lws_context_destroy(ctx);
  return 0;
}
