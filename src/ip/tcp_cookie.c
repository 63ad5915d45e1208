/* tcp_cookie.c: SipHash-2-4 (Aumasson and Bernstein, 2012) keyed with the
 * stack's secret, for RFC 6528 ISNs and SYN cookies (RFC 4987 3.6).
 *
 * A cookie is our ISN: 5 bits of a 65.5-second counter (ms >> 16), 3 bits of an MSS
 * table index and 24 bits of SipHash over the 4-tuple, the peer's ISN,
 * the counter and the index. A cookie is good for 2 periods (2-3 min).
 * When the SYN had timestamps, our TSval's low 6 bits carry the peer's
 * window scale (4 bits, 0xf: none) and SACK-permitted (1 bit), echoed
 * back in TSecr as Linux does; without timestamps the connection has
 * neither (the price of keeping no state).
 */
#include "ip/tcp_internal.h"

static uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

/* The state in an array and the rounds in one function called in
 * loops: on a 32-bit microcontroller every 64-bit operation is several
 * instructions, and eight inlined rounds cost 1 KB of code. */
static void sip_rounds(uint64_t v[4], int n) {
  while (n-- > 0) {
    v[0] += v[1]; v[1] = rotl64(v[1], 13); v[1] ^= v[0]; v[0] = rotl64(v[0], 32);
    v[2] += v[3]; v[3] = rotl64(v[3], 16); v[3] ^= v[2];
    v[0] += v[3]; v[3] = rotl64(v[3], 21); v[3] ^= v[0];
    v[2] += v[1]; v[1] = rotl64(v[1], 17); v[1] ^= v[2]; v[2] = rotl64(v[2], 32);
  }
}

/* SipHash-2-4 of n 32-bit words (as little-endian bytes). */
uint64_t tcp_siphash(const uint32_t key[4], const uint32_t *w, size_t n) {
  uint64_t k0 = (uint64_t)key[0] | (uint64_t)key[1] << 32;
  uint64_t k1 = (uint64_t)key[2] | (uint64_t)key[3] << 32;
  uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
                   k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
  size_t bytes = n * 4, i = 0;
  for (;; i += 2) {
    uint64_t m;
    bool last = i + 2 > n;
    if (!last)
      m = (uint64_t)w[i] | (uint64_t)w[i + 1] << 32;
    else /* the final block: the length in the top byte */
      m = (uint64_t)(bytes & 0xff) << 56 | (i < n ? w[i] : 0);
    v[3] ^= m;
    sip_rounds(v, 2);
    v[0] ^= m;
    if (last) break;
  }
  v[2] ^= 0xff;
  sip_rounds(v, 4);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static const uint16_t mss_table[8] = {536, 1024, 1220, 1360, 1400,
                                      1440, 1460, 8960};

static uint32_t cookie_hash(tern_stack *st, const ip_rx *rx, uint16_t lport,
                            uint16_t rport, uint32_t peer_isn, uint32_t t,
                            uint32_t idx) {
  uint32_t w[6] = {rx->src, rx->dst, (uint32_t)lport << 16 | rport,
                   peer_isn, t, idx};
  return (uint32_t)tcp_siphash(st->tcp->key, w, 6) & 0xffffff;
}

uint32_t tcp_cookie_make(tern_stack *st, const tcp_seg *seg, const ip_rx *rx,
                         uint16_t lport, uint16_t rport, uint32_t *tsval) {
  uint32_t peer = seg->mss ? seg->mss : TCP_MSS_DEFAULT;
  uint32_t idx = 0;
  for (uint32_t i = 0; i < 8; i++)
    if (mss_table[i] <= peer) idx = i;
  uint32_t t = (uint32_t)(st->now >> 16) /* 65.5 s */;
  if (seg->has_ts) {
    uint32_t o = (seg->wscale == 0xff ? 0xfu : seg->wscale) |
                 (seg->sack_ok ? 0x10u : 0);
    *tsval = (tcp_tsval(st) & ~0x3fu) | o;
  }
  return (t & 0x1f) << 27 | idx << 24 |
         cookie_hash(st, rx, lport, rport, seg->seq, t, idx);
}

bool tcp_cookie_check(tern_stack *st, const tcp_seg *seg, const ip_rx *rx,
                      uint16_t lport, uint16_t rport, uint16_t *mss,
                      uint8_t *wscale, bool *sack) {
  if ((seg->flags & (TCP_SYN | TCP_RST | TCP_ACK)) != TCP_ACK) return false;
  uint32_t cookie = seg->ack - 1, peer_isn = seg->seq - 1;
  uint32_t now_t = (uint32_t)(st->now >> 16) /* 65.5 s */;
  uint32_t age = (now_t - (cookie >> 27)) & 0x1f;
  if (age > 2 || age > now_t) return false;
  uint32_t t = now_t - age, idx = (cookie >> 24) & 7;
  if (cookie_hash(st, rx, lport, rport, peer_isn, t, idx) !=
      (cookie & 0xffffff))
    return false;
  *mss = mss_table[idx];
  *wscale = 0xff;
  *sack = false;
  if (seg->has_ts) {
    uint32_t o = seg->tsecr & 0x3f;
    if ((o & 0xf) != 0xf) *wscale = (uint8_t)((o & 0xf) > 14 ? 14 : (o & 0xf));
    *sack = o & 0x10;
  }
  return true;
}
