/* fuzz/http_response.c: libFuzzer target for the HTTP/1.1 head parser on
 * responses (status line, no Host rule, Transfer-Encoding overrides
 * Content-Length). The checks are those of fuzz/http_request.c.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     fuzz/http_response.c src/proto/http_parse.c src/base/str.c \
 *     -o /tmp/fuzz_hresp
 *   /tmp/fuzz_hresp -dict=fuzz/http_response.dict fuzz/corpus/http_response
 */
#define FUZZ_KIND TERN__HTTP_RESPONSE
#include "http_request.c"
