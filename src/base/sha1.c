/* base/sha1.c: SHA-1 (FIPS 180-4 section 6.1), used for the RFC 6455
 * section 4.2.2 Sec-WebSocket-Accept value. Not for security.
 *
 * Call order: tern_sha1_init, tern_sha1_update any number of times with
 * any split, tern_sha1_final (which leaves the context to be re-inited).
 * Input is buffered in s->block until 64 bytes are there; whole blocks
 * straight from the caller's data are hashed without a copy.
 *
 * Cost of the simple choice: the 80 rounds are a plain loop with a
 * 16-word rolling schedule, not unrolled; SHA-1 is only used on
 * 60-byte handshake keys here.
 */
#include <string.h>

#include "tern/base.h"

static uint32_t rol32(uint32_t x, unsigned n) {
  return (x << n) | (x >> (32u - n));
}

static uint32_t load_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* FIPS 180-4 4.1.1: f and K for round t (Ch, Parity, Maj, Parity). */
static uint32_t round_f(unsigned t, uint32_t b, uint32_t c, uint32_t d) {
  if (t < 20)
    return ((b & c) | (~b & d)) + 0x5A827999u;
  if (t < 40)
    return (b ^ c ^ d) + 0x6ED9EBA1u;
  if (t < 60)
    return ((b & c) | (b & d) | (c & d)) + 0x8F1BBCDCu;
  return (b ^ c ^ d) + 0xCA62C1D6u;
}

/* FIPS 180-4 6.1.2: process one 512-bit block. The message schedule W
 * is kept as 16 words, W[t] computed in place for t >= 16. */
static void sha1_block(uint32_t h[5], const uint8_t *blk) {
  uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], tmp;
  unsigned t;

  for (t = 0; t < 16; t++)
    w[t] = load_be32(blk + 4 * t);
  for (t = 0; t < 80; t++) {
    if (t >= 16)
      w[t & 15] = rol32(w[(t - 3) & 15] ^ w[(t - 8) & 15] ^
                            w[(t - 14) & 15] ^ w[t & 15], 1);
    tmp = rol32(a, 5) + round_f(t, b, c, d) + e + w[t & 15];
    e = d;
    d = c;
    c = rol32(b, 30);
    b = a;
    a = tmp;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

/* FIPS 180-4 5.3.1: initial hash value. */
void tern_sha1_init(tern_sha1 *s) {
  s->h[0] = 0x67452301u;
  s->h[1] = 0xEFCDAB89u;
  s->h[2] = 0x98BADCFEu;
  s->h[3] = 0x10325476u;
  s->h[4] = 0xC3D2E1F0u;
  s->len = 0;
}

void tern_sha1_update(tern_sha1 *s, const void *data, size_t len) {
  const uint8_t *p = data;
  size_t used = (size_t)(s->len & 63u), take;

  if (len == 0)
    return;
  s->len += len;
  if (used > 0) {
    take = 64 - used < len ? 64 - used : len;
    memcpy(s->block + used, p, take);
    p += take;
    len -= take;
    if (used + take < 64)
      return;
    sha1_block(s->h, s->block);
  }
  for (; len >= 64; p += 64, len -= 64)
    sha1_block(s->h, p);
  if (len > 0)
    memcpy(s->block, p, len);
}

/* FIPS 180-4 5.1.1: append 0x80, zeros to 56 mod 64, then the message
 * length in bits as a 64-bit big-endian number. */
void tern_sha1_final(tern_sha1 *s, uint8_t digest[20]) {
  uint64_t bits = s->len * 8u;
  size_t used = (size_t)(s->len & 63u);
  unsigned i;

  s->block[used++] = 0x80;
  if (used > 56) {
    memset(s->block + used, 0, 64 - used);
    sha1_block(s->h, s->block);
    used = 0;
  }
  memset(s->block + used, 0, 56 - used);
  store_be32(s->block + 56, (uint32_t)(bits >> 32));
  store_be32(s->block + 60, (uint32_t)bits);
  sha1_block(s->h, s->block);
  for (i = 0; i < 5; i++)
    store_be32(digest + 4 * i, s->h[i]);
}
