/* base/utf8.c: incremental, fail-fast UTF-8 validation (RFC 3629
 * section 4, the UTF8-octets ABNF; Unicode 15 Table 3-7 gives the same
 * byte ranges as a table).
 *
 * A DFA with one state per "what the next byte must be": each byte is
 * mapped to one of 12 classes, and (state, class) gives the next state.
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
 * byte at a time (two table lookups per byte), no SIMD.
 */
#include <string.h>

#include "tern/base.h"

/* DFA states; the public state word holds one of these (0 = boundary). */
enum {
  S_OK,  /* at a character boundary */
  S_BAD, /* sticky: the input can never become valid */
  S_C1,  /* one more continuation byte (80..BF) */
  S_C2,  /* two more */
  S_C3,  /* three more */
  S_E0,  /* after E0: A0..BF, then one more */
  S_ED,  /* after ED: 80..9F, then one more */
  S_F0,  /* after F0: 90..BF, then two more */
  S_F4,  /* after F4: 80..8F, then two more */
  N_STATES
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

#define B S_BAD
static const uint8_t next_state[N_STATES][N_CLASSES] = {
    /*         ASCII 8X    9X    AB    NEVER 2     E0    3     ED    F0    4     F4 */
    [S_OK] = {S_OK, B, B, B, B, S_C1, S_E0, S_C2, S_ED, S_F0, S_C3, S_F4},
    [S_BAD] = {B, B, B, B, B, B, B, B, B, B, B, B},
    [S_C1] = {B, S_OK, S_OK, S_OK, B, B, B, B, B, B, B, B},
    [S_C2] = {B, S_C1, S_C1, S_C1, B, B, B, B, B, B, B, B},
    [S_C3] = {B, S_C2, S_C2, S_C2, B, B, B, B, B, B, B, B},
    [S_E0] = {B, B, B, S_C1, B, B, B, B, B, B, B, B},
    [S_ED] = {B, S_C1, S_C1, B, B, B, B, B, B, B, B, B},
    [S_F0] = {B, B, S_C2, S_C2, B, B, B, B, B, B, B, B},
    [S_F4] = {B, S_C2, B, B, B, B, B, B, B, B, B, B},
};
#undef B

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
  uint32_t s = u->state < N_STATES ? u->state : S_BAD;
  const uint8_t *end;

  if (len > 0) {
    end = p + len;
    while (p < end && s != S_BAD) {
      if (s == S_OK && *p < 0x80)
        p = skip_ascii(p, end);
      else
        s = next_state[s][byte_class[*p++]];
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
