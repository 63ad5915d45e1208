/* ws_frame.h: WebSocket frame codec (RFC 6455 section 5), private to the
 * proto layer. Pure functions over caller's bytes: no allocation, no I/O.
 * The session logic (fragmentation, control frames, close handshake,
 * UTF-8 of text messages) lives in ws.c. */
#ifndef TERN_PROTO_WS_FRAME_H
#define TERN_PROTO_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
  TERN__WS_OP_CONT = 0x0,
  TERN__WS_OP_TEXT = 0x1,
  TERN__WS_OP_BINARY = 0x2,
  TERN__WS_OP_CLOSE = 0x8,
  TERN__WS_OP_PING = 0x9,
  TERN__WS_OP_PONG = 0xA,
};

/* RFC 6455 7.4.1 close codes used by tern. */
enum {
  TERN__WS_CLOSE_NORMAL = 1000,
  TERN__WS_CLOSE_GOING_AWAY = 1001,
  TERN__WS_CLOSE_PROTOCOL = 1002,
  TERN__WS_CLOSE_UNSUPPORTED = 1003,
  TERN__WS_CLOSE_NO_STATUS = 1005, /* never sent on the wire */
  TERN__WS_CLOSE_ABNORMAL = 1006,  /* never sent on the wire */
  TERN__WS_CLOSE_BAD_DATA = 1007,
  TERN__WS_CLOSE_POLICY = 1008,
  TERN__WS_CLOSE_TOO_BIG = 1009,
  TERN__WS_CLOSE_INTERNAL = 1011,
};

typedef struct tern__ws_frame {
  bool fin;
  bool masked;
  uint8_t opcode;
  uint8_t mask[4];
  uint64_t payload_len;
  size_t header_len; /* 2..14 */
} tern__ws_frame;

/* Parse the frame header at buf. Returns the header length (> 0) once it
 * is complete, 0 if more bytes are needed, or -1 if the header breaks RFC
 * 6455 5.2 (then *close_code is the code to fail with, 1002): any RSV bit
 * set (no extension is negotiated), a reserved opcode (3-7, B-F), a
 * control frame (opcode >= 8) that is fragmented or longer than 125
 * (5.5), a 64-bit length with the most significant bit set. The caller
 * checks the masking direction (5.1). */
long tern__ws_parse_header(const uint8_t *buf, size_t len, tern__ws_frame *f,
                           uint16_t *close_code);

/* XOR len bytes from src into dst with mask, starting at payload offset
 * offset (so a payload may be unmasked in pieces). dst may equal src. */
void tern__ws_mask(uint8_t *dst, const uint8_t *src, size_t len,
                   const uint8_t mask[4], uint64_t offset);

/* Write a frame header for a payload of len bytes into out (at least 14
 * bytes); mask NULL means unmasked. Returns the header length. Uses the
 * shortest length encoding (5.2). */
size_t tern__ws_encode_header(uint8_t *out, bool fin, uint8_t opcode,
                              uint64_t len, const uint8_t *mask);

/* May this close code appear in a Close frame on the wire (7.4.1, 7.4.2)?
 * Yes: 1000-1003, 1007-1014 (1012-1014 are registered with IANA) and
 * 3000-4999. No: below 1000, 1004-1006, 1015 and up to 2999, above 4999. */
bool tern__ws_close_code_ok(uint16_t code);

/* Sec-WebSocket-Accept for a key (4.2.2): base64(SHA-1(key + GUID)).
 * out gets 28 chars plus NUL. */
void tern__ws_accept_key(const char *key, size_t key_len, char out[29]);

#endif
