/* dns_lookup: resolve names with tern's DNS client (tern/dns.h).
 *
 *   example_dns_lookup [-s SERVERS] [-4|-6] [-t MS] [-c PORT] NAME...
 *
 * -c PORT: tern_connect to tcp://NAME:PORT instead, with this client
 * resolving (happy eyeballs races the addresses) and conmon recording;
 * prints "NAME connect ok ADDR" or "NAME connect error ERRNAME", then
 * "conmon NAME dns=US connect=US attempts=ADDR/RESULT,...".
 *
 * Prints one line per name: "NAME ok ADDR ADDR ..." or "NAME error
 * ERRNAME", then "stats sent=N answers=N cache_hits=N shared=N" and
 * exits 0 if every name resolved. The names are looked up together (one
 * lookup each, all in flight at once); a name given twice shares the
 * first one's queries. Used by tests/integ/dns_dnsmasq.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/dns.h"
#include "tern/tern.h"

typedef struct job {
  const char *name;
  int done;
} job;

static int pending, failed;
static tern_mgr *mgr;

static void print_conmon(const char *name, tern_conmon *cm) {
  tern_conmon_info i;
  tern_conmon_get(cm, &i);
  printf("conmon %s dns=%u connect=%u ndns=%zu attempts=", name, i.dns_us,
         i.connect_us, i.ndns);
  for (size_t k = 0; k < i.nattempts; k++) {
    char buf[TERN_ADDR_STRLEN];
    tern_addr_format(&i.attempts[k].addr, false, buf, sizeof(buf));
    printf("%s%s/%s@%u", k ? "," : "", buf,
           tern_err_name(i.attempts[k].result), i.attempts[k].start_us / 1000);
  }
  printf("\n");
  tern_conmon_free(cm);
}

static void on_conn(tern_conn *c, const tern_event *ev, void *ud) {
  job *j = ud;
  char buf[TERN_ADDR_STRLEN];
  switch (ev->type) {
  case TERN_EV_CONNECT:
    tern_addr_format(tern_conn_peer(c), false, buf, sizeof(buf));
    printf("%s connect ok %s\n", j->name, buf);
    tern_close(c);
    break;
  case TERN_EV_ERROR:
    printf("%s connect error %s\n", j->name, tern_err_name(ev->error.err));
    failed++;
    break;
  case TERN_EV_CLOSE:
    print_conmon(j->name, tern_conn_conmon_take(c));
    if (--pending == 0) tern_mgr_stop(mgr);
    break;
  default:
    break;
  }
}

static void on_addrs(tern_dns_query *q, int status, const tern_addr *a,
                     size_t n, void *ud) {
  job *j = ud;
  (void)q;
  j->done = 1;
  if (status != TERN_OK) {
    printf("%s error %s\n", j->name, tern_err_name(status));
    failed++;
  } else {
    printf("%s ok", j->name);
    for (size_t i = 0; i < n; i++) {
      char buf[TERN_ADDR_STRLEN];
      tern_addr_format(&a[i], false, buf, sizeof(buf));
      printf(" %s", buf);
    }
    printf("\n");
  }
  if (--pending == 0) tern_mgr_stop(mgr);
}

int main(int argc, char **argv) {
  tern_dns_opts o = {0};
  int family = 0, i = 1, port = 0;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "-s") && i + 1 < argc) o.servers = argv[++i];
    else if (!strcmp(argv[i], "-t") && i + 1 < argc) o.timeout_ms = (uint32_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "-c") && i + 1 < argc) port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-4")) family = TERN_AF_INET;
    else if (!strcmp(argv[i], "-6")) family = TERN_AF_INET6;
    else break;
  }
  if (i >= argc) {
    fprintf(stderr, "usage: %s [-s SERVERS] [-4|-6] [-t MS] [-c PORT] NAME...\n",
            argv[0]);
    return 2;
  }
  tern_dns *dns;
  if (tern_mgr_new(&mgr, NULL) != TERN_OK || tern_dns_new(mgr, &o, &dns) != TERN_OK) {
    fprintf(stderr, "dns_lookup: cannot start (bad -s?)\n");
    return 2;
  }
  int n = argc - i;
  job *jobs = calloc((size_t)n, sizeof(*jobs));
  for (int k = 0; k < n; k++) {
    jobs[k].name = argv[i + k];
    int rc;
    if (port) {
      char url[320];
      tern_dns_use_for_connects(dns);
      tern_mgr_set_conmon(mgr, true);
      snprintf(url, sizeof(url), "tcp://%s:%d", jobs[k].name, port);
      rc = tern_connect(mgr, url, on_conn, &jobs[k], NULL);
    } else {
      rc = tern_dns_lookup(dns, jobs[k].name, family, on_addrs, &jobs[k], NULL);
    }
    if (rc != TERN_OK) {
      printf("%s error %s\n", jobs[k].name, tern_err_name(rc));
      failed++;
    } else {
      pending++;
    }
  }
  if (pending) tern_mgr_run(mgr);
  tern_dns_stats st;
  tern_dns_get_stats(dns, &st);
  printf("stats sent=%llu answers=%llu cache_hits=%llu shared=%llu timeouts=%llu "
         "tcp=%llu case_mismatch=%llu\n",
         (unsigned long long)st.queries_sent, (unsigned long long)st.answers,
         (unsigned long long)st.cache_hits, (unsigned long long)st.shared,
         (unsigned long long)st.timeouts, (unsigned long long)st.tcp_retries,
         (unsigned long long)st.case_mismatch);
  tern_dns_free(dns);
  tern_mgr_free(mgr);
  free(jobs);
  return failed ? 1 : 0;
}
