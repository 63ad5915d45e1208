/* proto/http_chunked.c: decoder for the chunked transfer coding, RFC 9112
 * section 7.1, incremental: input may be split anywhere.
 *
 * Read first: RFC 9112 7.1 (chunked-body grammar), 7.1.1 (chunk
 * extensions), 7.1.2 (trailer section); RFC 9110 5.6.2 (token), 5.6.4
 * (quoted-string).
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk   = 1*("0") [ chunk-ext ] CRLF
 *   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 *
 * Data bytes are handed to the callback in spans (views into the input);
 * everything else goes through a byte-at-a-time state machine, which only
 * ever sees short lines. Extensions are checked against the grammar, then
 * skipped; trailer fields are checked like header fields (no obs-fold, no
 * whitespace before the colon, no CTLs), then dropped (RFC 9112 7.1.2
 * allows discarding them). Line ends are CRLF only: a bare CR or LF is an
 * error, as in the head parser.
 */
#include <string.h>

#include "proto/http_parse.h"

#define CK_DEFAULT_MAX_LINE 4096
#define CK_DEFAULT_MAX_TRAILER 16384
#define CK_MAX_SIZE ((uint64_t)1 << 62)

#define IS(c, cls) (tern__http_ctype[(uint8_t)(c)] & TERN__HTTP_C_##cls)
#define IS_OWS(c) ((c) == ' ' || (c) == '\t')

enum {
  CK_SIZE,          /* chunk-size digits */
  CK_SIZE_BWS,      /* BWS after the size: only ';' may follow */
  CK_NAME_BWS,      /* after ';': BWS, then ext-name */
  CK_NAME,          /* ext-name */
  CK_NAME_END,      /* BWS after ext-name: '=' or ';' */
  CK_VAL_BWS,       /* after '=': BWS, then token or quoted-string */
  CK_VAL_TOKEN,     /* ext-val as a token */
  CK_VAL_QUOTED,    /* inside a quoted-string */
  CK_VAL_QPAIR,     /* after a backslash in a quoted-string */
  CK_VAL_END,       /* after the closing quote */
  CK_SIZE_LF,       /* CR of the size line seen */
  CK_DATA,          /* chunk-data */
  CK_DATA_CR,       /* CRLF after chunk-data */
  CK_DATA_LF,
  CK_TRAILER,       /* start of a trailer line (or the final CRLF) */
  CK_TRAILER_NAME,  /* field-name */
  CK_TRAILER_VALUE, /* after ':' */
  CK_TRAILER_LF,    /* CR of a trailer line seen */
  CK_END_LF,        /* CR of the final CRLF seen */
  CK_DONE
};

void tern__chunked_init(tern__chunked *d) {
  memset(d, 0, sizeof(*d));
  d->state = CK_SIZE;
  d->max_line = CK_DEFAULT_MAX_LINE;
  d->max_trailer = CK_DEFAULT_MAX_TRAILER;
}

static int ck_fail(tern__chunked *d, const char *why) {
  d->error = why;
  return -1;
}

static unsigned ck_hex(uint8_t c) {
  if (c <= '9') return (unsigned)(c - '0');
  return (unsigned)((c | 0x20) - 'a' + 10);
}

/* chunk-size = 1*HEXDIG, at most 2^62 whatever the leading zeros. */
static int ck_size(tern__chunked *d, uint8_t c) {
  unsigned v;

  if (!IS(c, HEX)) {
    if (d->line_len == 1) return ck_fail(d, "chunk size expected");
    if (c == '\r') return CK_SIZE_LF;
    if (c == ';') return CK_NAME_BWS;
    if (IS_OWS(c)) return CK_SIZE_BWS;
    return ck_fail(d, "bad character in chunk size");
  }
  v = ck_hex(c);
  if (d->remaining > (CK_MAX_SIZE - v) / 16)
    return ck_fail(d, "chunk size too large");
  d->remaining = d->remaining * 16 + v;
  return CK_SIZE;
}

/* RFC 9112 7.1.1: chunk-ext, one byte at a time. CR may follow only a
 * complete extension (a name, a token value or a closing quote). */
static int ck_ext(tern__chunked *d, uint8_t c) {
  switch (d->state) {
  case CK_SIZE_BWS:
    if (IS_OWS(c)) return CK_SIZE_BWS;
    if (c == ';') return CK_NAME_BWS;
    break;
  case CK_NAME_BWS:
    if (IS_OWS(c)) return CK_NAME_BWS;
    if (IS(c, TCHAR)) return CK_NAME;
    break;
  case CK_NAME:
    if (IS(c, TCHAR)) return CK_NAME;
    if (IS_OWS(c)) return CK_NAME_END;
    /* fall through */
  case CK_NAME_END:
    if (IS_OWS(c)) return CK_NAME_END;
    if (c == '=') return CK_VAL_BWS;
    if (c == ';') return CK_NAME_BWS;
    if (c == '\r' && d->state == CK_NAME) return CK_SIZE_LF;
    break;
  case CK_VAL_BWS:
    if (IS_OWS(c)) return CK_VAL_BWS;
    if (c == '"') return CK_VAL_QUOTED;
    if (IS(c, TCHAR)) return CK_VAL_TOKEN;
    break;
  case CK_VAL_TOKEN:
    if (IS(c, TCHAR)) return CK_VAL_TOKEN;
    /* fall through */
  case CK_VAL_END:
    if (IS_OWS(c)) return CK_SIZE_BWS;
    if (c == ';') return CK_NAME_BWS;
    if (c == '\r') return CK_SIZE_LF;
    break;
  case CK_VAL_QUOTED:
    if (c == '"') return CK_VAL_END;
    if (c == '\\') return CK_VAL_QPAIR;
    if (IS(c, QDTEXT)) return CK_VAL_QUOTED;
    break;
  case CK_VAL_QPAIR: /* RFC 9110 5.6.4: quoted-pair */
    if (IS(c, FVAL)) return CK_VAL_QUOTED;
    break;
  default:
    break;
  }
  return ck_fail(d, "bad chunk extension");
}

/* RFC 9112 7.1.2: trailer-section = *( field-line CRLF ), checked like
 * header fields (RFC 9112 5), then dropped. */
static int ck_trailer(tern__chunked *d, uint8_t c) {
  switch (d->state) {
  case CK_TRAILER:
    if (c == '\r') return CK_END_LF;
    if (IS(c, TCHAR)) return CK_TRAILER_NAME;
    if (IS_OWS(c)) return ck_fail(d, "obs-fold in trailer");
    return ck_fail(d, "bad trailer field name");
  case CK_TRAILER_NAME:
    if (IS(c, TCHAR)) return CK_TRAILER_NAME;
    if (c == ':') return CK_TRAILER_VALUE;
    if (IS_OWS(c)) return ck_fail(d, "whitespace before colon in trailer");
    return ck_fail(d, "bad trailer field name");
  case CK_TRAILER_VALUE:
    if (IS(c, FVAL)) return CK_TRAILER_VALUE;
    if (c == '\r') return CK_TRAILER_LF;
    return ck_fail(d, "bad character in trailer value");
  default:
    return ck_fail(d, "bad chunked state");
  }
}

/* A LF that must follow a CR. */
static int ck_lf(tern__chunked *d, uint8_t c) {
  if (c != '\n') return ck_fail(d, "bare CR");
  d->line_len = 0;
  switch (d->state) {
  case CK_SIZE_LF:
    return d->remaining > 0 ? CK_DATA : CK_TRAILER;
  case CK_DATA_LF:
    return CK_SIZE;
  case CK_TRAILER_LF:
    return CK_TRAILER;
  default: /* CK_END_LF */
    d->done = true;
    return CK_DONE;
  }
}

/* One byte outside chunk-data. Returns the next state, or -1. */
static int ck_step(tern__chunked *d, uint8_t c) {
  if (d->state >= CK_TRAILER && ++d->trailer_len > d->max_trailer)
    return ck_fail(d, "trailer section too large");
  if (d->state != CK_DATA_CR && d->state != CK_DATA_LF &&
      ++d->line_len > d->max_line)
    return ck_fail(d, "chunk size or trailer line too long");
  if (c == '\n' && d->state != CK_SIZE_LF && d->state != CK_DATA_LF &&
      d->state != CK_TRAILER_LF && d->state != CK_END_LF)
    return ck_fail(d, "bare LF");
  switch (d->state) {
  case CK_SIZE:
    return ck_size(d, c);
  case CK_SIZE_LF:
  case CK_DATA_LF:
  case CK_TRAILER_LF:
  case CK_END_LF:
    return ck_lf(d, c);
  case CK_DATA_CR: /* RFC 9112 7.1: chunk-data is followed by CRLF */
    if (c != '\r') return ck_fail(d, "no CRLF after chunk data");
    return CK_DATA_LF;
  case CK_TRAILER:
  case CK_TRAILER_NAME:
  case CK_TRAILER_VALUE:
    return ck_trailer(d, c);
  default:
    return ck_ext(d, c);
  }
}

/* Hand over as much of the current chunk's data as in[0, len) holds. */
static size_t ck_data(tern__chunked *d, const uint8_t *in, size_t len,
                      tern__chunk_fn fn, void *ud) {
  size_t n = d->remaining < len ? (size_t)d->remaining : len;

  if (fn != NULL) fn(ud, in, n);
  d->remaining -= n;
  if (d->remaining == 0) d->state = CK_DATA_CR;
  return n;
}

/* The return value for the error in d->error: a broken bound or not. The
 * counters are left as they were when it happened. */
static long ck_rc(const tern__chunked *d) {
  if (d->line_len > d->max_line || d->trailer_len > d->max_trailer)
    return TERN_ELIMIT;
  return TERN_EPROTO;
}

long tern__chunked_decode(tern__chunked *d, const uint8_t *in, size_t len,
                          tern__chunk_fn fn, void *ud) {
  size_t i = 0;

  if (d->error != NULL) return ck_rc(d); /* errors stick */
  while (i < len && !d->done) {
    int next;

    if (d->state == CK_DATA) {
      i += ck_data(d, in + i, len - i, fn, ud);
      continue;
    }
    next = ck_step(d, in[i]);
    if (next < 0) return ck_rc(d);
    d->state = (uint8_t)next;
    i++;
  }
  return (long)i;
}
