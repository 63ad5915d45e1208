/* sntp_query: one SNTP sync with tern's client (tern/sntp.h), report only.
 *
 *   example_sntp_query [-t MS] SERVERS
 *
 * Prints "ok offset_us=N delay_us=N stratum=N server=ADDR" (exit 0) or
 * "error ERRNAME" (exit 1). The host clock is not touched. Used by
 * tests/integ/sntp_chrony.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"

static int result = 1;

static void on_sample(tern_sntp *s, const tern_sntp_sample *smp, void *ud) {
  tern_mgr *m = ud;
  (void)s;
  if (smp->status == TERN_OK) {
    char addr[TERN_ADDR_STRLEN];
    tern_addr_format(&smp->server, true, addr, sizeof(addr));
    printf("ok offset_us=%lld delay_us=%lld stratum=%u server=%s\n",
           (long long)smp->offset_us, (long long)smp->delay_us,
           (unsigned)smp->stratum, addr);
    result = 0;
  } else {
    printf("error %s\n", tern_err_name(smp->status));
  }
  tern_mgr_stop(m);
}

int main(int argc, char **argv) {
  tern_sntp_opts o = {.on_sample = on_sample};
  int i = 1;
  if (i + 1 < argc && !strcmp(argv[i], "-t")) {
    o.timeout_ms = (uint32_t)atoi(argv[i + 1]);
    i += 2;
  }
  if (i >= argc) {
    fprintf(stderr, "usage: %s [-t MS] SERVERS\n", argv[0]);
    return 2;
  }
  o.servers = argv[i];
  tern_mgr *m;
  tern_sntp *s;
  if (tern_mgr_new(&m, NULL) != TERN_OK) return 2;
  o.ud = m;
  if (tern_sntp_new(m, &o, &s) != TERN_OK) {
    fprintf(stderr, "sntp_query: bad servers '%s'\n", o.servers);
    tern_mgr_free(m);
    return 2;
  }
  tern_mgr_run(m);
  tern_sntp_free(s);
  tern_mgr_free(m);
  return result;
}
