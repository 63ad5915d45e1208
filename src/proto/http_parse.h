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
 *   tern__http_parser p; tern__http_parser_init(&p, &limits, TERN__HTTP_REQUEST);
 *   on every read: rc = tern__http_parse(&p, rxdata, rxlen, &msg, hdrs, n);
 *     rc > 0   head complete, rc is its length; msg filled
 *     rc == 0  need more bytes (call again with the same bytes plus more)
 *     rc < 0   refuse: p.status is the HTTP status to answer (400, 414,
 *              431, 501, 505) and p.error a static reason
 *   the rxdata passed each time must start at the same message start.
 */
#ifndef TERN_PROTO_HTTP_PARSE_H
#define TERN_PROTO_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/http.h"

enum { TERN__HTTP_REQUEST = 0, TERN__HTTP_RESPONSE = 1 };

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
  /* result */
  int status;            /* on error: 400, 414, 431, 501, 505 */
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
 * a chunk size over 2^62 is an error. */
typedef struct tern__chunked {
  uint8_t state;
  bool done;
  uint64_t remaining; /* data bytes left in the current chunk */
  size_t line_len;    /* bytes in the current size/trailer line */
  size_t max_line;    /* bound for a size line or trailer line (4096) */
  const char *error;
} tern__chunked;

typedef void (*tern__chunk_fn)(void *ud, const uint8_t *data, size_t len);
void tern__chunked_init(tern__chunked *d);
long tern__chunked_decode(tern__chunked *d, const uint8_t *in, size_t len,
                          tern__chunk_fn fn, void *ud);

/* Helpers shared by server and client. */
/* Find a header (case-insensitive name); NULL if absent. */
const tern_http_header *tern__http_find(const tern_http_msg *m,
                                        const char *name);
/* Does a comma-separated header list contain token (case-insensitive)? */
bool tern__http_has_token(tern_str list, const char *token);

#endif
