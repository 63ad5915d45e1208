/* fuzz/dns_msg.c: libFuzzer target for the DNS message reader
 * (src/proto/dns_msg.c): tern__dns_response_parse as the answer to
 * "example.com" A and AAAA (the id is taken from the input, so the checks
 * past it are reached), tern__dns_question_exact (DNS 0x20),
 * tern__dns_name_read at every offset, and
 * tern__dns_query_encode on the input as a name.
 *
 * Checked beyond "no crash": what a parse promises. TERN_OK means 1..8
 * addresses of the asked family and a canonical name of printable text;
 * a name read moves the offset forward and stays inside the message.
 *
 *   make fuzz   (or tools/run-fuzz build/fuzz 60 dns_msg)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

static void check_result(int rc, const tern__dns_result *r, uint8_t family) {
  if (rc != TERN_OK) {
    CHECK(rc == TERN_ERESOLVE || rc == TERN_EAGAIN || rc == TERN_EMSGSIZE ||
          rc == TERN_EPROTO);
    return;
  }
  CHECK(r->naddrs >= 1 && r->naddrs <= TERN__DNS_MAX_ADDRS);
  for (size_t i = 0; i < r->naddrs; i++) CHECK(r->addrs[i].family == family);
  size_t n = strlen(r->canon);
  CHECK(n <= TERN__DNS_MAX_NAME);
  for (size_t i = 0; i < n; i++)
    CHECK(r->canon[i] >= 0x21 && r->canon[i] <= 0x7e);
  CHECK(r->ttl <= 0x7fffffffu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tern__dns_result r;
  uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
  check_result(tern__dns_response_parse(data, size, id, "example.com",
                                        TERN__DNS_A, &r),
               &r, TERN_AF_INET);
  int rc6 = tern__dns_response_parse(data, size, id, "ExAmple.cOm",
                                     TERN__DNS_AAAA, &r);
  check_result(rc6, &r, TERN_AF_INET6);
  /* DNS 0x20: the exact-spelling check of the question: true only when
   * the question reads back as that very spelling (so never for another
   * case of the same name) */
  if (tern__dns_question_exact(data, size, "ExAmple.cOm")) {
    char q[TERN__DNS_MAX_NAME + 1];
    size_t off = TERN__DNS_HEADER;
    CHECK(tern__dns_name_read(data, size, &off, q) == TERN_OK);
    CHECK(strcmp(q, "ExAmple.cOm") == 0);
    CHECK(!tern__dns_question_exact(data, size, "example.com"));
    CHECK(tern__dns_question_exact(data, size, "ExAmple.cOm."));
  }

  char name[TERN__DNS_MAX_NAME + 1];
  for (size_t at = 0; at < size && at < 600; at++) {
    size_t off = at;
    if (tern__dns_name_read(data, size, &off, name) == TERN_OK) {
      CHECK(off > at && off <= size);
      CHECK(strlen(name) <= TERN__DNS_MAX_NAME);
    }
  }

  if (size < 400) {
    char text[400];
    memcpy(text, data, size);
    text[size] = '\0';
    uint8_t q[TERN__DNS_HEADER + TERN__DNS_MAX_NAME + 8];
    long n = tern__dns_query_encode(q, sizeof(q), id, text, TERN__DNS_A);
    CHECK(n == TERN_EINVAL || (n > TERN__DNS_HEADER && (size_t)n <= sizeof(q)));
    if (n > 0) { /* what we send reads back as the name we were given */
      size_t off = TERN__DNS_HEADER;
      char back[TERN__DNS_MAX_NAME + 1];
      if (tern__dns_name_read(q, (size_t)n, &off, back) == TERN_OK) {
        size_t l = strlen(text);
        if (l > 0 && text[l - 1] == '.') l--;
        CHECK(strlen(back) == l && memcmp(back, text, l) == 0);
      }
    }
  }
  return 0;
}
