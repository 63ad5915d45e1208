/* ternfs: mount a resource-manager registry with FUSE (ternfs.h), so
 * every server's names (examples/rm_sample, ternd --rm, ...) are files.
 *
 *   ternfs [-d REGISTRY] [-j THREADS] [-t MS] [-o allow_other] [-D] MNT
 *     -d REGISTRY  registry directory (default as ternctl's)
 *     -j THREADS   FUSE worker threads (default 4)
 *     -t MS        timeout of each call on an open file (default: none)
 *     -o allow_other  let other users in (the kernel checks node modes)
 *     -D           libfuse's request trace
 * Runs in the foreground until SIGINT/SIGTERM, then unmounts. `ternd
 * --fuse MNT` does the same inside ternd.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tern/tern.h"
#include "ternfs.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

int main(int argc, char **argv) {
  ternfs_opts o = {0};
  int opt;
  while ((opt = getopt(argc, argv, "d:j:t:o:D")) != -1) {
    if (opt == 'd') o.registry = optarg;
    else if (opt == 'j') o.threads = atoi(optarg);
    else if (opt == 't') o.timeout_ms = atoi(optarg);
    else if (opt == 'o' && !strcmp(optarg, "allow_other")) o.allow_other = true;
    else if (opt == 'D') o.debug = true;
    else goto usage;
  }
  if (optind + 1 != argc) goto usage;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  ternfs *fs;
  int rc = ternfs_start(&fs, argv[optind], &o);
  if (rc != TERN_OK) {
    fprintf(stderr, "ternfs: cannot mount %s: %s\n", argv[optind],
            rc == TERN_ENOENT ? "no /dev/fuse" : tern_strerror(rc));
    return 1;
  }
  printf("ternfs: mounted on %s\n", argv[optind]);
  fflush(stdout);
  while (!stop) pause();
  ternfs_free(fs);
  printf("ternfs: unmounted\n");
  return 0;
usage:
  fprintf(stderr, "usage: ternfs [-d REGISTRY] [-j THREADS] [-t MS] "
                  "[-o allow_other] [-D] MNT\n");
  return 2;
}
