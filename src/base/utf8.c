/* base/utf8.c: incremental, fail-fast UTF-8 validation (RFC 3629
 * section 4, the UTF8-octets ABNF; Unicode 15 Table 3-7 gives the same
 * byte ranges as a table).
 *
 * A DFA with one state per "what the next byte must be". Each byte maps
 * to one of 12 classes; each class has a 64-bit row holding, for every
 * state, the next state in a 6-bit field. States are those bit offsets,
 * so a step is next = (row >> state) & 63: the chain from one byte to the
 * next is a shift and a mask, not a dependent table load (the
 * "shift-based DFA" idea).
 * The restrictions of RFC 3629 section 3 live in the second byte of a
 * sequence, so they are caught at that byte:
 *   E0 needs A0..BF (else overlong), ED needs 80..9F (else a surrogate,
 *   U+D800..DFFF), F0 needs 90..BF (else overlong), F4 needs 80..8F
 *   (else above U+10FFFF); C0, C1 and F5..FF can never appear.
 * So tern_utf8_feed says BAD at the first byte that no valid text could
 * continue with, however the input is split (RFC 6455 section 8.1 lets
 * an endpoint fail the connection as soon as that is known; Autobahn
 * cases 6.x check it).
 *
 * Runs of ASCII at a character boundary are skipped 16 bytes at a time.
 * Cost of the simple choice: non-ASCII text goes through the DFA one
 * byte at a time, no SIMD (about 5x slower per byte than ASCII runs).
 */
#include <string.h>

#include "tern/base.h"

/* DFA states, as bit offsets into a row (multiples of 6). The public
 * state word holds one of these; 0 is a character boundary. */
enum {
  S_OK = 0,   /* at a character boundary */
  S_BAD = 6,  /* sticky: the input can never become valid */
  S_C1 = 12,  /* one more continuation byte (80..BF) */
  S_C2 = 18,  /* two more */
  S_C3 = 24,  /* three more */
  S_E0 = 30,  /* after E0: A0..BF, then one more */
  S_ED = 36,  /* after ED: 80..9F, then one more */
  S_F0 = 42,  /* after F0: 90..BF, then two more */
  S_F4 = 48,  /* after F4: 80..8F, then two more */
  S_LAST = S_F4
};

/* Byte classes. */
enum {
  K_ASCII, /* 00..7F */
  K_8X,    /* 80..8F continuation */
  K_9X,    /* 90..9F continuation */
  K_AB,    /* A0..BF continuation */
  K_NEVER, /* C0, C1, F5..FF */
  K_2,     /* C2..DF: lead of 2 */
  K_E0,    /* E0: lead of 3, second byte restricted */
  K_3,     /* E1..EC, EE, EF: lead of 3 */
  K_ED,    /* ED: lead of 3, second byte restricted */
  K_F0,    /* F0: lead of 4, second byte restricted */
  K_4,     /* F1..F3: lead of 4 */
  K_F4,    /* F4: lead of 4, second byte restricted */
  N_CLASSES
};

#define X4(k) k, k, k, k
#define X16(k) X4(k), X4(k), X4(k), X4(k)

static const uint8_t byte_class[256] = {
    X16(K_ASCII), X16(K_ASCII), X16(K_ASCII), X16(K_ASCII), /* 00..3F */
    X16(K_ASCII), X16(K_ASCII), X16(K_ASCII), X16(K_ASCII), /* 40..7F */
    X16(K_8X), X16(K_9X), X16(K_AB), X16(K_AB),             /* 80..BF */
    K_NEVER, K_NEVER, K_2, K_2, X4(K_2), X4(K_2), X4(K_2),  /* C0..CF */
    X16(K_2),                                               /* D0..DF */
    K_E0, K_3, K_3, K_3, X4(K_3), X4(K_3),                  /* E0..EB */
    K_3, K_ED, K_3, K_3,                                    /* EC..EF */
    K_F0, K_4, K_4, K_4, K_F4, K_NEVER, K_NEVER, K_NEVER,   /* F0..F7 */
    X4(K_NEVER), X4(K_NEVER),                               /* F8..FF */
};

/* Rows start with every state going to S_BAD; GO(from, to) changes one
 * field (XOR out BAD, XOR in the target). */
#define FIELD(from, to) ((uint64_t)(to) << (from))
#define GO(from, to) (FIELD(from, S_BAD) ^ FIELD(from, to))
#define ALL_BAD                                                          \
  (FIELD(S_OK, S_BAD) | FIELD(S_BAD, S_BAD) | FIELD(S_C1, S_BAD) |       \
   FIELD(S_C2, S_BAD) | FIELD(S_C3, S_BAD) | FIELD(S_E0, S_BAD) |        \
   FIELD(S_ED, S_BAD) | FIELD(S_F0, S_BAD) | FIELD(S_F4, S_BAD))
/* Any continuation byte moves a plain multi-byte sequence along. */
#define CONT (GO(S_C1, S_OK) ^ GO(S_C2, S_C1) ^ GO(S_C3, S_C2))

static const uint64_t row[N_CLASSES] = {
    [K_ASCII] = ALL_BAD ^ GO(S_OK, S_OK),
    [K_8X] = ALL_BAD ^ CONT ^ GO(S_ED, S_C1) ^ GO(S_F4, S_C2),
    [K_9X] = ALL_BAD ^ CONT ^ GO(S_ED, S_C1) ^ GO(S_F0, S_C2),
    [K_AB] = ALL_BAD ^ CONT ^ GO(S_E0, S_C1) ^ GO(S_F0, S_C2),
    [K_NEVER] = ALL_BAD,
    [K_2] = ALL_BAD ^ GO(S_OK, S_C1),
    [K_E0] = ALL_BAD ^ GO(S_OK, S_E0),
    [K_3] = ALL_BAD ^ GO(S_OK, S_C2),
    [K_ED] = ALL_BAD ^ GO(S_OK, S_ED),
    [K_F0] = ALL_BAD ^ GO(S_OK, S_F0),
    [K_4] = ALL_BAD ^ GO(S_OK, S_C3),
    [K_F4] = ALL_BAD ^ GO(S_OK, S_F4),
};

#define HIGH_BITS 0x8080808080808080ull

/* First byte at or after p that is not ASCII (or end). */
static const uint8_t *skip_ascii(const uint8_t *p, const uint8_t *end) {
  uint64_t a, b;

  while (end - p >= 16) {
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    if (((a | b) & HIGH_BITS) != 0)
      break;
    p += 16;
  }
  while (p < end && *p < 0x80)
    p++;
  return p;
}

int tern_utf8_feed(tern_utf8 *u, const uint8_t *p, size_t len) {
  uint32_t s = u->state;
  const uint8_t *end;

  if (s > S_LAST || s % 6 != 0) /* not a state we wrote */
    s = S_BAD;
  if (len > 0) {
    end = p + len;
    while (p < end && s != S_BAD) {
      if (s == S_OK && (p = skip_ascii(p, end)) == end)
        break;
      s = (uint32_t)(row[byte_class[*p++]] >> s) & 63u;
    }
  }
  u->state = s;
  if (s == S_BAD)
    return TERN_UTF8_BAD;
  return s == S_OK ? TERN_UTF8_OK : TERN_UTF8_PARTIAL;
}

bool tern_utf8_valid(const uint8_t *p, size_t len) {
  tern_utf8 u = {0};

  return tern_utf8_feed(&u, p, len) == TERN_UTF8_OK;
}
