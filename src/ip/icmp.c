/* icmp.c: ICMP for IPv4 (RFC 792, RFC 1122 section 3.2.2): echo replies,
 * destination-unreachable errors we send, and errors we receive handed to
 * the transport they quote.
 *
 * Errors we send are rate-limited (RFC 1812 section 4.3.2.8): a token
 * bucket of ICMP_ERR_BURST, refilled at ICMP_ERR_PER_SEC. Never an error
 * about an error, a broadcast, or a non-first fragment (RFC 1122
 * 3.2.2).
 */
#include "ip/ip_internal.h"

#define ICMP_ECHO_REPLY 0
#define ICMP_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_ERR_PER_SEC 100
#define ICMP_ERR_BURST IP_ICMP_ERR_BURST
#define ICMP_QUOTE_MAX (576 - IP_IP_HLEN - 8) /* RFC 1812 4.3.2.3 */

static void echo_reply(tern_stack *st, tern_pbuf *p, const ip_rx *rx) {
  if (rx->bcast) return; /* RFC 1122 3.2.2.6 allows silence; we are silent */
  tern_pbuf *r = ip_pbuf_copy_range(st, p, 0, p->tot_len, IP_HEADROOM_IP);
  if (!r) return;
  if (!ip_pbuf_make_contig(&r, 4)) {
    tern_pbuf_free(r);
    return;
  }
  uint8_t *h = r->payload;
  h[0] = ICMP_ECHO_REPLY;
  /* RFC 1624 incremental update: type 8 -> 0 adds 0x0800 to the sum */
  uint32_t sum = (uint32_t)ip_get16(h + 2) + 0x0800u;
  ip_put16(h + 2, (uint16_t)(sum + (sum >> 16)));
  ip_stat_inc(&st->stats.icmp_out);
  ip4_output(st, r, rx->dst, rx->src, IP_PROTO_ICMP, 0, rx->tos);
  tern_pbuf_free(r);
}

void ip_icmp_input(tern_stack *st, tern_pbuf *p, const ip_rx *rx) {
  ip_stat_inc(&st->stats.icmp_in);
  if (p->tot_len < 8 || ip_chksum_pbuf(p, p->tot_len) != 0) {
    ip_stat_inc(&st->stats.ip_drop);
    tern_pbuf_free(p);
    return;
  }
  const uint8_t *h = p->payload;
  switch (h[0]) {
  case ICMP_ECHO:
    echo_reply(st, p, rx);
    break;
  case ICMP_UNREACH:
  case ICMP_TIME_EXCEEDED: {
    /* the quote: IP header of a datagram we sent + 8 bytes of it */
    uint8_t quote[IP_HDR_CONTIG];
    size_t n = tern_pbuf_copy_out(p, 8, quote, sizeof quote);
    if (n >= IP_IP_HLEN + 8 && (quote[0] >> 4) == 4) {
      size_t qihl = (size_t)(quote[0] & 0x0f) * 4;
      if (qihl >= IP_IP_HLEN && n >= qihl + 8 && quote[9] == IP_PROTO_TCP &&
          st->tcp)
        ip_tcp_icmp_err(st, h[0], h[1], quote, n);
    }
    break;
  }
  default:
    break;
  }
  tern_pbuf_free(p);
}

/* The token bucket: ICMP_ERR_PER_SEC tokens a second, ICMP_ERR_BURST at
 * most. */
static bool rate_ok(tern_stack *st) {
  /* 32-bit arithmetic (no 64-bit division on a microcontroller): a gap
   * of a second or more refills the bucket anyway */
  uint64_t gap = st->now - st->icmp_last;
  uint32_t elapsed = gap > 1000 ? 1000u : (uint32_t)gap;
  uint32_t add = elapsed * ICMP_ERR_PER_SEC / 1000u;
  if (add) {
    st->icmp_tokens = st->icmp_tokens + add > ICMP_ERR_BURST
                          ? ICMP_ERR_BURST
                          : st->icmp_tokens + add;
    st->icmp_last = st->now;
  }
  if (!st->icmp_tokens) return false;
  st->icmp_tokens--;
  return true;
}

void ip_icmp_unreach(tern_stack *st, tern_pbuf *p, const ip_rx *rx,
                     uint8_t code) {
  if (rx->bcast || !rx->src) return;
  /* p->payload is at the L4 header; the IP header is just before it */
  const uint8_t *iph = p->payload - rx->iph_len;
  if (ip_get16(iph + 6) & 0x1fff) return; /* not the first fragment */
  if (rx->proto == IP_PROTO_ICMP && p->len >= 1 && p->payload[0] != ICMP_ECHO &&
      p->payload[0] != ICMP_ECHO_REPLY)
    return; /* no error about an error */
  if (!rate_ok(st)) return;
  size_t quote = rx->iph_len + p->tot_len;
  if (quote > ICMP_QUOTE_MAX) quote = ICMP_QUOTE_MAX;
  tern_pbuf *r = ip_pbuf_alloc_raw(st, IP_HEADROOM_IP, 8 + quote);
  if (!r) return;
  uint8_t hdr[8] = {ICMP_UNREACH, code, 0, 0, 0, 0, 0, 0};
  tern_pbuf_copy_in(r, 0, hdr, 8);
  tern_pbuf_copy_in(r, 8, iph, rx->iph_len);
  uint8_t tmp[256];
  size_t done = rx->iph_len;
  while (done < quote) {
    size_t n = quote - done < sizeof tmp ? quote - done : sizeof tmp;
    tern_pbuf_copy_out(p, done - rx->iph_len, tmp, n);
    tern_pbuf_copy_in(r, 8 + done, tmp, n);
    done += n;
  }
  uint16_t c = ip_chksum_pbuf(r, r->tot_len);
  uint8_t cb[2];
  ip_put16(cb, c);
  tern_pbuf_copy_in(r, 2, cb, 2);
  ip_stat_inc(&st->stats.icmp_out);
  ip4_output(st, r, rx->dst, rx->src, IP_PROTO_ICMP, 0, 0);
  tern_pbuf_free(r);
}
