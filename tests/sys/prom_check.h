/* prom_check.h: a strict checker of the Prometheus text exposition
 * format 0.0.4, written from the format's description (not from tern's
 * writer), for tests where promtool is not at hand:
 *  - every line ends in \n; no blank lines; comments are "# HELP name
 *    text" or "# TYPE name counter|gauge|histogram", each at most once per
 *    name and TYPE before the name's first sample;
 *  - a sample is name{label="value",...} value, names [a-zA-Z_:][a-zA-Z0-9_:]*,
 *    label names [a-zA-Z_][a-zA-Z0-9_]*, values with only \\ \" \n escapes,
 *    the value a decimal number or +Inf/-Inf/NaN;
 *  - the samples of one family are contiguous; no series twice;
 *  - a histogram's _bucket lines carry le, are cumulative (never
 *    decreasing), end with le="+Inf" whose count equals _count, and the
 *    family has _sum and _count.
 * Returns NULL when the text is valid, else a static message naming the
 * line. */
#ifndef TERN_TESTS_SYS_PROM_CHECK_H
#define TERN_TESTS_SYS_PROM_CHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC_MAX 512

static bool pc_name(const char **p, char *out, size_t n, bool colon) {
  size_t i = 0;
  const char *s = *p;
  while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
         (colon && *s == ':') || (i > 0 && *s >= '0' && *s <= '9')) {
    if (i + 1 >= n) return false;
    out[i++] = *s++;
  }
  out[i] = 0;
  *p = s;
  return i > 0;
}

static const char *prom_check(const char *text) {
  static char msg[256];
  static char typed[PC_MAX][128], helped[PC_MAX][128], series[PC_MAX * 4][256];
  static char type_of[PC_MAX][16];
  int ntyped = 0, nhelped = 0, nseries = 0, lineno = 0;
  char family[128] = "", done_fams[PC_MAX][128];
  int ndone = 0;
  double last_bucket = -1, inf_bucket = -1, count = -1;
  bool saw_sum = false, in_hist = false;
  const char *p = text;
#define PC_FAIL(...)                                             \
  do {                                                           \
    int k_ = snprintf(msg, sizeof msg, "line %d: ", lineno);     \
    snprintf(msg + k_, sizeof msg - (size_t)k_, __VA_ARGS__);    \
    return msg;                                                  \
  } while (0)
  while (*p) {
    lineno++;
    const char *eol = strchr(p, '\n');
    if (eol == NULL) PC_FAIL("no final newline");
    if (eol == p) PC_FAIL("blank line");
    char name[128];
    if (*p == '#') {
      const char *s = p + 1;
      bool help = strncmp(s, " HELP ", 6) == 0, type = strncmp(s, " TYPE ", 6) == 0;
      if (!help && !type) PC_FAIL("comment neither HELP nor TYPE");
      s += 6;
      if (!pc_name(&s, name, sizeof name, true)) PC_FAIL("bad name in comment");
      if (*s != ' ') PC_FAIL("no text after the name");
      s++;
      if (help) {
        for (int i = 0; i < nhelped; i++)
          if (!strcmp(helped[i], name)) PC_FAIL("HELP twice for %s", name);
        for (const char *h = s; h < eol; h++)
          if (*h == '\\' && h[1] != '\\' && h[1] != 'n') PC_FAIL("bad escape in HELP");
          else if (*h == '\\') h++;
        snprintf(helped[nhelped++], 128, "%s", name);
      } else {
        for (int i = 0; i < ntyped; i++)
          if (!strcmp(typed[i], name)) PC_FAIL("TYPE twice for %s", name);
        size_t tl = (size_t)(eol - s);
        if (!((tl == 7 && !strncmp(s, "counter", 7)) || (tl == 5 && !strncmp(s, "gauge", 5)) ||
              (tl == 9 && !strncmp(s, "histogram", 9))))
          PC_FAIL("bad type");
        snprintf(typed[ntyped], 128, "%s", name);
        snprintf(type_of[ntyped++], 16, "%.*s", (int)tl, s);
      }
      if (ntyped >= PC_MAX || nhelped >= PC_MAX) PC_FAIL("too many families");
      p = eol + 1;
      continue;
    }
    /* a sample */
    const char *s = p;
    if (!pc_name(&s, name, sizeof name, true)) PC_FAIL("bad metric name");
    char labels[256] = "", le[64] = "";
    size_t ll = 0;
    if (*s == '{') {
      s++;
      while (*s != '}') {
        char ln[64];
        if (!pc_name(&s, ln, sizeof ln, false)) PC_FAIL("bad label name");
        if (s[0] != '=' || s[1] != '"') PC_FAIL("label without =\"");
        s += 2;
        const char *v = s;
        while (*s != '"') {
          if (*s == '\n' || *s == 0) PC_FAIL("unterminated label value");
          if (*s == '\\') {
            if (s[1] != '\\' && s[1] != '"' && s[1] != 'n') PC_FAIL("bad escape");
            s++;
          }
          s++;
        }
        if (!strcmp(ln, "le")) snprintf(le, sizeof le, "%.*s", (int)(s - v), v);
        else ll += (size_t)snprintf(labels + ll, sizeof labels - ll, "%s=%.*s,", ln, (int)(s - v), v);
        s++;
        if (*s == ',') s++;
        else if (*s != '}') PC_FAIL("labels not separated by ,");
      }
      s++;
    }
    if (*s != ' ') PC_FAIL("no space before the value");
    s++;
    char val[64];
    size_t vl = (size_t)(eol - s);
    if (vl == 0 || vl >= sizeof val || memchr(s, ' ', vl)) PC_FAIL("bad value field");
    memcpy(val, s, vl);
    val[vl] = 0;
    char *end;
    double v = strtod(val, &end);
    if (*end && strcmp(val, "+Inf") && strcmp(val, "-Inf") && strcmp(val, "NaN"))
      PC_FAIL("value not a number: %s", val);
    /* which family */
    char fam[128];
    snprintf(fam, sizeof fam, "%s", name);
    const char *type = NULL;
    for (int i = 0; i < ntyped; i++)
      if (!strcmp(typed[i], fam)) type = type_of[i];
    const char *suffix = "";
    if (type == NULL) {
      static const char *suf[] = {"_bucket", "_sum", "_count"};
      for (int k = 0; k < 3 && !type; k++) {
        size_t nl = strlen(name), sl = strlen(suf[k]);
        if (nl > sl && !strcmp(name + nl - sl, suf[k])) {
          snprintf(fam, sizeof fam, "%.*s", (int)(nl - sl), name);
          for (int i = 0; i < ntyped; i++)
            if (!strcmp(typed[i], fam) && !strcmp(type_of[i], "histogram")) {
              type = type_of[i];
              suffix = suf[k];
            }
        }
      }
    }
    if (type == NULL) PC_FAIL("sample %s before its TYPE", name);
    bool hist = !strcmp(type, "histogram");
    if (hist && !*suffix) PC_FAIL("histogram sample without _bucket/_sum/_count");
    if (*le && strcmp(suffix, "_bucket")) PC_FAIL("le outside a bucket");
    if (strcmp(fam, family) != 0) { /* a new family starts */
      if (in_hist && (inf_bucket < 0 || count < 0 || !saw_sum || inf_bucket != count))
        PC_FAIL("histogram %s incomplete (+Inf %g count %g)", family, inf_bucket, count);
      for (int i = 0; i < ndone; i++)
        if (!strcmp(done_fams[i], fam)) PC_FAIL("family %s not contiguous", fam);
      if (*family) snprintf(done_fams[ndone++], 128, "%s", family);
      snprintf(family, sizeof family, "%s", fam);
      in_hist = hist;
      last_bucket = inf_bucket = count = -1;
      saw_sum = false;
    }
    if (hist) { /* one labelled histogram at a time in tern's output */
      if (!strcmp(suffix, "_bucket")) {
        if (!*le) PC_FAIL("bucket without le");
        if (inf_bucket >= 0 && count >= 0) { /* next label set: reset */
          if (inf_bucket != count) PC_FAIL("+Inf bucket != count");
          last_bucket = inf_bucket = count = -1;
          saw_sum = false;
        }
        if (v < last_bucket) PC_FAIL("buckets not cumulative");
        last_bucket = v;
        if (!strcmp(le, "+Inf")) inf_bucket = v;
      } else if (!strcmp(suffix, "_count")) {
        count = v;
        if (inf_bucket < 0 || inf_bucket != v) PC_FAIL("_count without matching +Inf bucket");
      } else {
        saw_sum = true;
      }
    }
    char key[512];
    snprintf(key, sizeof key, "%s{%s%s%s}", name, labels, *le ? "le=" : "", le);
    for (int i = 0; i < nseries; i++)
      if (!strcmp(series[i], key)) PC_FAIL("series twice: %s", key);
    if (nseries >= PC_MAX * 4) PC_FAIL("too many series");
    snprintf(series[nseries++], 256, "%.255s", key);
    p = eol + 1;
  }
  if (in_hist && (inf_bucket < 0 || count < 0 || !saw_sum))
    PC_FAIL("last histogram incomplete");
  return NULL;
#undef PC_FAIL
}

#endif
