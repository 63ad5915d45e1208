/* base/str.c: comparing byte views (tern_str) with C strings.
 *
 * The case-insensitive form folds ASCII only, on purpose: it is for
 * protocol tokens (URL schemes RFC 3986 3.1, HTTP header names RFC 9110
 * 5.1), where locale-dependent folding would be wrong.
 */
#include <string.h>

#include "tern/base.h"

static int ascii_lower(int c) {
  return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

bool tern_str_eq(tern_str s, const char *cstr) {
  if (cstr == NULL || strlen(cstr) != s.len)
    return false;
  return s.len == 0 || memcmp(s.ptr, cstr, s.len) == 0;
}

bool tern_str_ieq(tern_str s, const char *cstr) {
  size_t i;

  if (cstr == NULL || strlen(cstr) != s.len)
    return false;
  for (i = 0; i < s.len; i++) {
    if (ascii_lower((unsigned char)s.ptr[i]) !=
        ascii_lower((unsigned char)cstr[i]))
      return false;
  }
  return true;
}
