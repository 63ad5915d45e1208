/* base/fi.c: fault injection (tern/fi.h).
 *
 * A fault is a name and a rule: always, a probability, a range of passes
 * or a repeating pattern. Each pass takes a number with one atomic add,
 * and the probability draws from a shared xorshift64* generator advanced
 * by compare-and-swap, so several threads may pass the same point and a
 * run with the same seed and the same order of passes repeats exactly.
 * In base (not sys) because every layer has points to inject at.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tern/fi.h"

enum { R_ALWAYS, R_PROB, R_RANGE, R_PATTERN };

typedef struct fault {
  char name[48];
  int rule;
  uint32_t prob;         /* R_PROB: out of 2^32 */
  uint64_t lo, hi;       /* R_RANGE: passes lo..hi (1-based, inclusive) */
  char pattern[64];      /* R_PATTERN: '.' pass, 'X' fail */
  size_t plen;
  uint32_t after_ms;     /* after=MS: the fault's delay (timed close) */
  _Atomic uint64_t passes, fired;
} fault;

struct tern_fi {
  size_t n;
  fault f[TERN_FI_MAX];
  _Atomic uint64_t rng;
};

static bool digits(const char *s, size_t n, uint64_t *out) {
  uint64_t v = 0;
  if (n == 0 || n > 18) return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

/* "25%", "2.5%": out of 2^32 */
static bool percent(const char *s, size_t n, uint32_t *out) {
  if (n < 2 || s[n - 1] != '%') return false;
  n--;
  const char *dot = memchr(s, '.', n);
  uint64_t whole, frac = 0, scale = 1;
  size_t wn = dot ? (size_t)(dot - s) : n;
  if (!digits(s, wn, &whole)) return false;
  if (dot) {
    size_t fn = n - wn - 1;
    if (!digits(dot + 1, fn, &frac) || fn > 6) return false;
    for (size_t i = 0; i < fn; i++) scale *= 10;
  }
  /* p = (whole + frac/scale) / 100, as a fraction of 2^32 */
  long double p = ((long double)whole + (long double)frac / (long double)scale) / 100.0L;
  if (p > 1.0L) return false;
  *out = p >= 1.0L ? UINT32_MAX : (uint32_t)(p * 4294967296.0L);
  return true;
}

static bool rule_parse(fault *f, const char *r, size_t n) {
  const char *dots = NULL;
  for (size_t i = 0; i + 1 < n; i++)
    if (r[i] == '.' && r[i + 1] == '.' && (i == 0 || r[i - 1] != '.')) {
      dots = r + i;
      break;
    }
  if (n > 0 && r[n - 1] == '%') {
    f->rule = R_PROB;
    return percent(r, n, &f->prob);
  }
  bool is_pattern = n > 0;
  for (size_t i = 0; i < n; i++)
    if (r[i] != '.' && r[i] != 'X') is_pattern = false;
  if (is_pattern && memchr(r, 'X', n)) {
    if (n >= sizeof(f->pattern)) return false;
    f->rule = R_PATTERN;
    memcpy(f->pattern, r, n);
    f->plen = n;
    return true;
  }
  if (dots) { /* A..B, A.., ..B */
    size_t an = (size_t)(dots - r), bn = n - an - 2;
    f->rule = R_RANGE;
    f->lo = 1;
    f->hi = UINT64_MAX;
    if (an && !digits(r, an, &f->lo)) return false;
    if (bn && !digits(dots + 2, bn, &f->hi)) return false;
    return f->lo >= 1 && f->lo <= f->hi;
  }
  return false;
}

/* The parenthesised part: comma-separated, at most one rule and one
 * after=MS (a delay in ms, 1..86400000). */
static bool args_parse(fault *f, const char *r, size_t n) {
  bool have_rule = false, have_after = false;
  while (n > 0) {
    const char *comma = memchr(r, ',', n);
    size_t k = comma ? (size_t)(comma - r) : n;
    uint64_t ms;
    if (k > 6 && strncmp(r, "after=", 6) == 0) {
      if (have_after || !digits(r + 6, k - 6, &ms) || ms == 0 || ms > 86400000)
        return false;
      f->after_ms = (uint32_t)ms;
      have_after = true;
    } else {
      if (have_rule || !rule_parse(f, r, k)) return false;
      have_rule = true;
    }
    if (!comma) return true;
    r += k + 1;
    n -= k + 1;
    if (n == 0) return false; /* a trailing comma */
  }
  return false; /* "()" */
}

int tern_fi_new(const char *spec, tern_fi **out) {
  if (spec == NULL || out == NULL) return TERN_EINVAL;
  tern_fi *fi = calloc(1, sizeof(*fi));
  if (fi == NULL) return TERN_ENOMEM;
  atomic_init(&fi->rng, 1);
  const char *p = spec;
  while (*p) {
    while (*p == ',' || *p == ' ') p++;
    if (!*p) break;
    const char *b = p;
    while (*p && *p != '(' && *p != ',' && *p != ' ') p++;
    size_t nn = (size_t)(p - b);
    if (nn > 5 && strncmp(b, "seed=", 5) == 0) {
      uint64_t seed;
      if (!digits(b + 5, nn - 5, &seed)) goto bad;
      atomic_store(&fi->rng, seed ? seed : 1);
      continue;
    }
    if (nn == 0 || fi->n == TERN_FI_MAX) goto bad;
    fault *f = &fi->f[fi->n];
    if (nn >= sizeof(f->name)) goto bad;
    memcpy(f->name, b, nn);
    f->rule = R_ALWAYS;
    if (*p == '(') { /* RULE, after=MS, or both: "RULE,after=MS" */
      const char *r = ++p;
      while (*p && *p != ')') p++;
      if (*p != ')' || !args_parse(f, r, (size_t)(p - r))) goto bad;
      p++;
    }
    fi->n++;
  }
  if (fi->n == 0) goto bad;
  *out = fi;
  return TERN_OK;
bad:
  free(fi);
  return TERN_EINVAL;
}

int tern_fi_from_env(tern_fi **out) {
  *out = NULL;
  const char *spec = getenv("TERN_FI");
  if (spec == NULL || !*spec) return TERN_OK;
  int rc = tern_fi_new(spec, out);
  const char *seed = getenv("TERN_FI_SEED");
  uint64_t s;
  if (rc == TERN_OK && seed && digits(seed, strlen(seed), &s))
    atomic_store(&(*out)->rng, s ? s : 1);
  return rc;
}

void tern_fi_free(tern_fi *fi) { free(fi); }

static fault *find(tern_fi *fi, const char *name) {
  for (size_t i = 0; i < fi->n; i++)
    if (strcmp(fi->f[i].name, name) == 0) return &fi->f[i];
  return NULL;
}

/* xorshift64*: small, fast, good enough to decide "fail or not" */
static uint32_t draw(tern_fi *fi) {
  uint64_t x = atomic_load(&fi->rng), y;
  do {
    y = x;
    y ^= y >> 12;
    y ^= y << 25;
    y ^= y >> 27;
  } while (!atomic_compare_exchange_weak(&fi->rng, &x, y));
  return (uint32_t)((y * 0x2545F4914F6CDD1DULL) >> 32);
}

bool tern_fi_hit(tern_fi *fi, const char *name) {
  if (fi == NULL) return false;
  fault *f = find(fi, name);
  if (f == NULL) return false;
  uint64_t pass = atomic_fetch_add(&f->passes, 1) + 1; /* 1-based */
  bool hit;
  switch (f->rule) {
  case R_PROB: hit = f->prob == UINT32_MAX || draw(fi) < f->prob; break;
  case R_RANGE: hit = pass >= f->lo && pass <= f->hi; break;
  case R_PATTERN: hit = f->pattern[(pass - 1) % f->plen] == 'X'; break;
  default: hit = true;
  }
  if (hit) atomic_fetch_add(&f->fired, 1);
  return hit;
}

uint64_t tern_fi_passes(tern_fi *fi, const char *name) {
  fault *f = fi ? find(fi, name) : NULL;
  return f ? atomic_load(&f->passes) : 0;
}

uint64_t tern_fi_fired(tern_fi *fi, const char *name) {
  fault *f = fi ? find(fi, name) : NULL;
  return f ? atomic_load(&f->fired) : 0;
}

uint32_t tern_fi_after_ms(tern_fi *fi, const char *name) {
  fault *f = fi ? find(fi, name) : NULL;
  return f ? f->after_ms : 0;
}

void *tern_fi_malloc(tern_fi *fi, size_t n) {
  if (fi && tern_fi_hit(fi, "mem/alloc")) return NULL;
  return malloc(n);
}

void *tern_fi_calloc(tern_fi *fi, size_t n, size_t size) {
  if (fi && tern_fi_hit(fi, "mem/alloc")) return NULL;
  return calloc(n, size);
}
