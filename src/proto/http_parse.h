/* http_parse.h: incremental HTTP/1.1 message parser (RFC 9112) and chunked
 * decoder; private to the proto layer.
 *
 * The parser never copies: the message it fills holds views into the
 * caller's bytes. It keeps its position between calls as an offset, so a
 * client that sends one byte at a time costs O(n) in total: each call
 * scans only the new bytes for the end of the head and checks the limits
 * as it goes; the head is parsed in full once, when it is complete.
 *
 * Usage (server):
 *   tern__http_parser p;
 *   tern__http_parser_init(&p, TERN__HTTP_REQUEST, max_line, max_head,
 *                          max_headers);
 *   on every read: rc = tern__http_parse(&p, rxdata, rxlen, &msg, hdrs, n);
 *     rc > 0   head complete, rc is its length (msg.head_len: up to and
 *              including the CRLF CRLF, and any empty lines a request
 *              had before its request line, RFC 9112 2.2); msg filled
 *     rc == 0  need more bytes (call again with the same bytes plus more)
 *     rc < 0   refuse: p.status is the HTTP status to answer (400, 414,
 *              417, 431, 501, 505) and p.error a static reason. rc is
 *              TERN_ELIMIT for 414/431, else TERN_EPROTO. A refusal
 *              sticks: later calls return it again.
 *   the rxdata passed each time must start at the same message start
 *   (its address may change: the parser keeps offsets, not pointers).
 *   After rc > 0 a call with the same bytes parses the head again; for
 *   the next message (pipelining) call tern__http_parser_init again and
 *   pass the bytes from the end of this message's body.
 *   msg is only meaningful after rc > 0. Empty views in it point into buf
 *   (never NULL), so every view lies inside buf[0, rc).
 *   Responses (TERN__HTTP_RESPONSE, for the client): p.status then only
 *   names the fault (400, 501, 505); there is no Host rule, and
 *   Transfer-Encoding overrides Content-Length (RFC 9112 6.3 item 3).
 *
 * Limits are checked as bytes arrive, not only at the end: a start line
 * longer than max_line (CRLF not counted) is 414 (responses: 400), a head
 * longer than max_head (CRLF CRLF counted) 431, more field lines than
 * max_headers or than the caller's array (max_hdrs) 431. Zero limits at
 * init take the server defaults (8192, 16384, 64). See http_parse.c for
 * the RFC 9112 / 9110 rules and where tern is stricter.
 */
#ifndef TERN_PROTO_HTTP_PARSE_H
#define TERN_PROTO_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/http.h"

enum { TERN__HTTP_REQUEST = 0, TERN__HTTP_RESPONSE = 1 };

/* Character classes shared by the head parser and the chunked decoder:
 * tern__http_ctype[byte] & TERN__HTTP_C_x (table in http_parse.c). */
enum {
  TERN__HTTP_C_TCHAR = 1,  /* RFC 9110 5.6.2 tchar */
  TERN__HTTP_C_FVAL = 2,   /* RFC 9110 5.5 field value: HTAB SP VCHAR obs-text */
  TERN__HTTP_C_TARGET = 4, /* request-target: VCHAR but '#', obs-text */
  TERN__HTTP_C_HOST = 8,   /* RFC 3986 3.2.2 host[:port] characters */
  TERN__HTTP_C_QDTEXT = 16, /* RFC 9110 5.6.4 qdtext */
  TERN__HTTP_C_HEX = 32    /* HEXDIG */
};
extern const uint8_t tern__http_ctype[256];

typedef struct tern__http_parser {
  /* settings */
  uint8_t kind;          /* REQUEST or RESPONSE */
  size_t max_line;       /* request line / status line (414 / 400) */
  size_t max_head;       /* whole head incl. request line (431) */
  size_t max_headers;    /* header field count (431) */
  /* resume state */
  size_t scanned;        /* bytes already scanned for the end of head */
  size_t line_start;     /* offset of the line being scanned */
  size_t nlines;         /* complete lines seen (first is the start line) */
  size_t head_len;       /* 0 until the empty line that ends the head */
  /* result */
  int status;            /* on error: 400, 414, 417, 431, 501, 505 */
  const char *error;     /* on error: static reason */
} tern__http_parser;

void tern__http_parser_init(tern__http_parser *p, uint8_t kind,
                            size_t max_line, size_t max_head,
                            size_t max_headers);
/* See the file comment. hdrs/max_hdrs: caller's array for header views. */
long tern__http_parse(tern__http_parser *p, const uint8_t *buf, size_t len,
                      tern_http_msg *msg, tern_http_header *hdrs,
                      size_t max_hdrs);

/* Chunked transfer coding (RFC 9112 7.1), incremental. Input may be split
 * anywhere. Each call reads from in[0..len) and reports the data bytes it
 * found as spans through the callback (views into in: no copy); returns
 * bytes of input consumed (all of it unless done), or a negative value on
 * malformed input (then d->error says why). d->done is set after the last
 * chunk and the trailer section; trailers are checked for syntax and
 * skipped. Chunk extensions are skipped. Sizes are bounded (no overflow):
 * a chunk size over 2^62 is an error. After done, the bytes that follow
 * (a pipelined message) are not consumed and later calls return 0. An
 * error sticks: later calls return it again. fn may be NULL (discard).
 * Returns TERN_EPROTO on malformed input, TERN_ELIMIT when a size or
 * trailer line is longer than max_line or the trailer section longer than
 * max_trailer (both settable after init). */
typedef struct tern__chunked {
  uint8_t state;
  bool done;
  uint64_t remaining; /* data bytes left in the current chunk */
  size_t line_len;    /* bytes in the current size/trailer line */
  size_t max_line;    /* bound for a size or trailer line, CRLF included
                         (4096) */
  size_t trailer_len; /* bytes of the trailer section so far */
  size_t max_trailer; /* bound for the trailer section incl. its final
                         CRLF (16384) */
  const char *error;
} tern__chunked;

typedef void (*tern__chunk_fn)(void *ud, const uint8_t *data, size_t len);
void tern__chunked_init(tern__chunked *d);
long tern__chunked_decode(tern__chunked *d, const uint8_t *in, size_t len,
                          tern__chunk_fn fn, void *ud);

/* Helpers shared by server and client. */
/* Find a header (case-insensitive name); NULL if absent. The first one
 * if the name occurs more than once. */
const tern_http_header *tern__http_find(const tern_http_msg *m,
                                        const char *name);
/* Does a comma-separated header list contain token (case-insensitive)?
 * Elements are compared whole after trimming OWS (RFC 9110 5.6.1). */
bool tern__http_has_token(tern_str list, const char *token);

#endif
