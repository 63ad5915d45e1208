/* base/base64.c: base64 with padding (RFC 4648 section 4), strict.
 *
 * Decoding follows RFC 4648 section 3.3 and 3.5 to the letter: the input
 * length must be a multiple of 4, only the alphabet of section 4 and the
 * final '=' padding are accepted (no whitespace, no URL-safe alphabet),
 * and the pad bits of the last group must be zero, so every byte string
 * has exactly one accepted encoding.
 *
 * Results that would not fit in an int are refused with TERN_ENOSPC.
 * Cost of the simple choice: characters are classified by comparisons,
 * not a 256-entry table; fine for handshake-sized inputs.
 */
#include <limits.h>
#include <string.h>

#include "tern/base.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 4648 section 4, Table 1, read backwards; -1 if not in it. */
static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* One group of up to 3 input bytes to 4 chars, '=' padded (4 (1)-(3)). */
static void encode_group(const uint8_t *in, size_t n, char *out) {
  uint32_t v = (uint32_t)in[0] << 16;

  if (n > 1)
    v |= (uint32_t)in[1] << 8;
  if (n > 2)
    v |= in[2];
  out[0] = b64_alphabet[(v >> 18) & 63];
  out[1] = b64_alphabet[(v >> 12) & 63];
  out[2] = n > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
  out[3] = n > 2 ? b64_alphabet[v & 63] : '=';
}

int tern_base64_encode(const void *src, size_t len, char *dst,
                       size_t dst_size) {
  const uint8_t *p = src;
  size_t groups = len / 3 + (len % 3 != 0), i;

  if (groups > (size_t)(INT_MAX / 4) || groups * 4 >= dst_size)
    return TERN_ENOSPC;
  for (i = 0; i < groups; i++)
    encode_group(p + 3 * i, len - 3 * i < 3 ? len - 3 * i : 3, dst + 4 * i);
  dst[groups * 4] = '\0';
  return (int)(groups * 4);
}

/* Decode the group at in (4 chars; the last one may hold padding) into
 * out; returns the byte count (1..3) or -1. */
static int decode_group(const char *in, bool last, uint8_t out[3]) {
  int v[4] = {0, 0, 0, 0}, i, pads = 0;
  uint32_t bits;

  if (last)
    pads = (in[3] == '=') + (in[3] == '=' && in[2] == '=');
  for (i = 0; i < 4 - pads; i++) {
    if ((v[i] = b64_value(in[i])) < 0)
      return -1;
  }
  /* RFC 4648 3.5: the bits that padding leaves over must be zero. */
  if ((pads == 2 && (v[1] & 15) != 0) || (pads == 1 && (v[2] & 3) != 0))
    return -1;
  for (i = 4 - pads; i < 4; i++)
    v[i] = 0;
  bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
         (uint32_t)v[3];
  out[0] = (uint8_t)(bits >> 16);
  out[1] = (uint8_t)(bits >> 8);
  out[2] = (uint8_t)bits;
  return 3 - pads;
}

int tern_base64_decode(const char *src, size_t len, uint8_t *dst,
                       size_t dst_size) {
  uint8_t tmp[3];
  size_t i, out = 0;
  int n;

  if (len % 4 != 0)
    return TERN_EINVAL;
  if (len / 4 > (size_t)(INT_MAX / 3))
    return TERN_ENOSPC;
  for (i = 0; i < len; i += 4) {
    if ((n = decode_group(src + i, i + 4 == len, tmp)) < 0)
      return TERN_EINVAL;
    if (out + (size_t)n <= dst_size)
      memcpy(dst + out, tmp, (size_t)n);
    out += (size_t)n;
  }
  /* Bad input wins over a short buffer: ENOSPC only for valid input. */
  return out <= dst_size ? (int)out : TERN_ENOSPC;
}
