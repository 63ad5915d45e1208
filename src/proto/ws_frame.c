/* proto/ws_frame.c: the WebSocket frame codec of ws_frame.h.
 *
 * Read RFC 6455 section 5.2 (base framing), 5.3 (masking), 5.5 (control
 * frames), 7.4 (close codes) and 4.2.2 (the accept key) first.
 *
 * Header layout (5.2):
 *   byte 0: FIN, RSV1..3, opcode        byte 1: MASK, payload len (7 bits)
 *   len 126: 16-bit length follows; len 127: 64-bit length follows
 *   then the 4-byte masking key if MASK is set.
 *
 * The parser fails fast: a header is refused as soon as the bytes seen
 * prove it bad (byte 0 for RSV, opcode and fragmented control frames;
 * byte 1 for long control frames; byte 2 for the 64-bit length's MSB),
 * even before the whole header has arrived.
 *
 * Cost of the simple choice: a non-minimal length encoding (e.g. 126
 * with a 16-bit value under 126) is accepted; 5.2 binds the sender, and
 * refusing it would buy nothing.
 */
#include <string.h>

#include "proto/ws_frame.h"
#include "tern/base.h"

#define WS_FIN 0x80u
#define WS_RSV 0x70u
#define WS_OPCODE 0x0Fu
#define WS_MASK 0x80u
#define WS_LEN7 0x7Fu
#define WS_LEN16 126u
#define WS_LEN64 127u
#define WS_MAX_CONTROL 125u

/* RFC 4.2.2 (and 1.3): the GUID appended to Sec-WebSocket-Key. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Is byte 0 acceptable (5.2, 5.5)? */
static bool byte0_ok(uint8_t b0) {
  uint8_t op = b0 & WS_OPCODE;

  if ((b0 & WS_RSV) != 0) /* 5.2: no extension negotiated */
    return false;
  if ((op >= 3 && op <= 7) || op >= 0xB) /* 5.2: reserved opcodes */
    return false;
  /* 5.5: control frames MUST NOT be fragmented. */
  return op < 8 || (b0 & WS_FIN) != 0;
}

/* The length form (7, 16 or 64 bits) and the bytes of header it needs. */
static size_t header_len_for(uint8_t b1) {
  size_t n = 2 + ((b1 & WS_MASK) != 0 ? 4 : 0);

  if ((b1 & WS_LEN7) == WS_LEN16)
    return n + 2;
  if ((b1 & WS_LEN7) == WS_LEN64)
    return n + 8;
  return n;
}

/* Checks every rule the first len bytes can decide; false = refuse. */
static bool prefix_ok(const uint8_t *buf, size_t len) {
  if (len >= 1 && !byte0_ok(buf[0]))
    return false;
  if (len < 2)
    return true;
  /* 5.5: all control frames MUST have a payload length of 125 or less. */
  if ((buf[0] & WS_OPCODE) >= 8 && (buf[1] & WS_LEN7) > WS_MAX_CONTROL)
    return false;
  /* 5.2: the most significant bit of the 64-bit length MUST be 0. */
  if ((buf[1] & WS_LEN7) == WS_LEN64 && len >= 3 && (buf[2] & 0x80) != 0)
    return false;
  return true;
}

static uint64_t load_be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  size_t i;

  for (i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

long tern__ws_parse_header(const uint8_t *buf, size_t len, tern__ws_frame *f,
                           uint16_t *close_code) {
  size_t hlen, ext;
  uint8_t len7;

  if (!prefix_ok(buf, len)) {
    if (close_code != NULL)
      *close_code = TERN__WS_CLOSE_PROTOCOL;
    return -1;
  }
  if (len < 2 || len < (hlen = header_len_for(buf[1])))
    return 0;
  len7 = buf[1] & WS_LEN7;
  ext = len7 == WS_LEN16 ? 2 : len7 == WS_LEN64 ? 8 : 0;
  f->fin = (buf[0] & WS_FIN) != 0;
  f->opcode = buf[0] & WS_OPCODE;
  f->masked = (buf[1] & WS_MASK) != 0;
  f->payload_len = ext > 0 ? load_be(buf + 2, ext) : len7;
  if (f->masked)
    memcpy(f->mask, buf + 2 + ext, 4);
  else
    memset(f->mask, 0, 4);
  f->header_len = hlen;
  return (long)hlen;
}

/* 5.3: octet i of the payload is XORed with mask[i % 4]. Whole 8-byte
 * words are done with a 64-bit mask word (memcpy keeps unaligned access
 * defined); the bytes before and after one by one. */
void tern__ws_mask(uint8_t *dst, const uint8_t *src, size_t len,
                   const uint8_t mask[4], uint64_t offset) {
  /* The key repeated over 8 bytes, starting at the payload offset, is
   * XORed a word at a time (unaligned loads and stores through memcpy,
   * one instruction each where the CPU allows them), then byte-wise for
   * the tail, which starts at a multiple of 8 so rot[i & 7] lines up. */
  uint8_t rot[8];
  uint64_t m, w;
  size_t i = 0;

  for (unsigned k = 0; k < 8; k++)
    rot[k] = mask[(offset + k) & 3u];
  memcpy(&m, rot, 8);
  for (; len - i >= 16; i += 16) {
    uint64_t w2;
    memcpy(&w, src + i, 8);
    memcpy(&w2, src + i + 8, 8);
    w ^= m;
    w2 ^= m;
    memcpy(dst + i, &w, 8);
    memcpy(dst + i + 8, &w2, 8);
  }
  if (len - i >= 8) {
    memcpy(&w, src + i, 8);
    w ^= m;
    memcpy(dst + i, &w, 8);
    i += 8;
  }
  for (; i < len; i++)
    dst[i] = src[i] ^ rot[i & 7u];
}

static void store_be(uint8_t *p, uint64_t v, size_t n) {
  while (n-- > 0) {
    p[n] = (uint8_t)v;
    v >>= 8;
  }
}

/* 5.2: "the minimal number of bytes MUST be used to encode the length". */
size_t tern__ws_encode_header(uint8_t *out, bool fin, uint8_t opcode,
                              uint64_t len, const uint8_t *mask) {
  uint8_t mbit = mask != NULL ? WS_MASK : 0;
  size_t n = 2;

  out[0] = (uint8_t)((fin ? WS_FIN : 0) | (opcode & WS_OPCODE));
  if (len <= WS_MAX_CONTROL) {
    out[1] = (uint8_t)(mbit | len);
  } else if (len <= 0xFFFF) {
    out[1] = (uint8_t)(mbit | WS_LEN16);
    store_be(out + 2, len, 2);
    n += 2;
  } else {
    out[1] = (uint8_t)(mbit | WS_LEN64);
    store_be(out + 2, len, 8);
    n += 8;
  }
  if (mask != NULL) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

/* 7.4.1 defines 1000-1003 and 1007-1011; 1004 is reserved and 1005,
 * 1006, 1015 MUST NOT be sent (7.4.1); 1012-1014 are IANA-registered
 * (7.4.2 registry) and accepted; 3000-4999 are for libraries and
 * applications; the rest of 0-2999 is reserved or unused. */
bool tern__ws_close_code_ok(uint16_t code) {
  if (code >= 1000 && code <= 1003)
    return true;
  if (code >= 1007 && code <= 1014)
    return true;
  return code >= 3000 && code <= 4999;
}

/* 4.2.2 step 5.4: base64(SHA-1(key + GUID)), 20 bytes -> 28 chars. */
void tern__ws_accept_key(const char *key, size_t key_len, char out[29]) {
  tern_sha1 s;
  uint8_t digest[20];

  tern_sha1_init(&s);
  tern_sha1_update(&s, key, key_len);
  tern_sha1_update(&s, ws_guid, sizeof(ws_guid) - 1);
  tern_sha1_final(&s, digest);
  (void)tern_base64_encode(digest, sizeof(digest), out, 29);
}
