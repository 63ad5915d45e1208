/* ternctl: the command-line client of resource-manager nodes (tern/rmc.h).
 *
 *   ternctl [-d REGISTRY] [-t MS] ls
 *   ternctl [-d REGISTRY] [-t MS] cat PATH
 *   ternctl [-d REGISTRY] [-t MS] write PATH DATA [DATA...]  (one write each)
 *   ternctl [-d REGISTRY] [-t MS] devctl PATH CMD [HEXDATA]
 *   ternctl [-d REGISTRY] [-t MS] devctl PATH NAME [ARG...]
 *   ternctl [-d REGISTRY] [-t MS] wait PATH input|output|oob [--timeout MS] [--change]
 *   ternctl [-d REGISTRY] [-t MS] mount [-T TYPE] [-o OPTS] [-r] [-u]
 *                                       SPECIAL MOUNTPOINT
 *   ternctl [-d REGISTRY] [-t MS] umount [-T TYPE] [-f] MOUNTPOINT
 *
 *   -d REGISTRY  registry directory (default: $TERN_RM_DIR, else
 *                $XDG_RUNTIME_DIR/tern-rm, else /run/tern-rm)
 *   -t MS        timeout of each call (default 5000)
 *
 * devctl: CMD is a number (0x... accepted); HEXDATA is sent if CMD says
 * "to"; for "from" the answer (up to CMD's size) is printed in hex after
 * "ret=N". NAME is one of ternd's commands (tern/ternd_ctl.h: getval,
 * setval, setget, count, wait, state, get-level, set-level,
 * set-subsys-level, get-addr, set-addr, get-up, set-up, get-stats,
 * get-mtu, getflags, setflags); its argument is typed and its answer
 * printed by field:
 *   setval 25 | set-level debug | set-subsys-level net debug |
 *   set-addr 10.0.0.3/24 [GW] | set-up 0
 *   -> "ret=0 value=25", "ret=0 level=DEBUG",
 *      "ret=0 addr=10.0.0.3/24 gw=10.0.0.1", "ret=0 rx_frames=.. ..."
 *
 * wait: opens PATH, asks the server whether the condition is ready and
 * arms a notification if not (QNX ionotify _NOTIFY_ACTION_POLLARM), then
 * waits for its pulse, at most --timeout MS (default: for ever). Like
 * poll it is level-triggered: a condition ready already ends it at once.
 * Prints "PATH: input" (the condition) when it is ready. --change waits
 * for the next change instead (_NOTIFY_ACTION_TRANSITION: ternd's state
 * and metrics nodes, always readable, fire on a change).
 *
 * mount (QNX mount): -T the mount type (its server gets the request;
 * without -T the server of SPECIAL does), -o the options passed as the
 * handler's data, -r read-only, -u update an existing mount (QNX mount -u:
 * TERN_RM_MOUNT_REMOUNT). SPECIAL may be "none" with -T. umount (QNX
 * umount): to the server of MOUNTPOINT, or of TYPE with -T; -f force.
 *
 * Exit status: 0 done (wait: the condition is ready), 1 the operation
 * failed (the error is printed with its tern name), 2 usage, 3 wait timed
 * out.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tern/tern.h"
#include "tern/ternd_ctl.h"

static int usage(void) {
  fprintf(stderr,
          "usage: ternctl [-d REGISTRY] [-t MS] ls\n"
          "       ternctl [-d REGISTRY] [-t MS] cat PATH\n"
          "       ternctl [-d REGISTRY] [-t MS] write PATH DATA [DATA...]\n"
          "       ternctl [-d REGISTRY] [-t MS] devctl PATH CMD [HEXDATA]\n"
          "       ternctl [-d REGISTRY] [-t MS] devctl PATH NAME [ARG...]\n"
          "       ternctl [-d REGISTRY] [-t MS] wait PATH input|output|oob "
          "[--timeout MS] [--change]\n"
          "       ternctl [-d REGISTRY] [-t MS] mount [-T TYPE] [-o OPTS] [-r] [-u]"
          " SPECIAL MOUNTPOINT\n"
          "       ternctl [-d REGISTRY] [-t MS] umount [-T TYPE] [-f] MOUNTPOINT\n");
  return 2;
}

static int fail(const char *what, const char *path, int rc) {
  fprintf(stderr, "ternctl: %s %s: %s (%s)\n", what, path, tern_strerror(rc),
          tern_err_name(rc));
  return 1;
}

static void on_entry(const char *path, bool is_dir, bool live, void *ud) {
  (void)ud;
  printf("%s%s%s\n", path, is_dir && strcmp(path, "/") ? "/" : "",
         live ? "" : "  (stale)");
}

static int cmd_cat(const char *path, const tern_rmc_opts *o) {
  tern_rmc *h;
  char buf[4096];
  int rc = tern_rmc_open(&h, path, O_RDONLY, o);
  if (rc != TERN_OK) return fail("open", path, rc);
  while ((rc = tern_rmc_read(h, buf, sizeof(buf))) > 0)
    fwrite(buf, 1, (size_t)rc, stdout);
  tern_rmc_close(h);
  return rc < 0 ? fail("read", path, rc) : 0;
}

/* Each DATA is one write (a message, for a queue like ternd's sample). */
static int cmd_write(const char *path, int n, char **data, const tern_rmc_opts *o) {
  tern_rmc *h;
  int rc = tern_rmc_open(&h, path, O_WRONLY, o);
  if (rc != TERN_OK) return fail("open", path, rc);
  for (int i = 0; i < n && rc >= 0; i++) {
    size_t len = strlen(data[i]), done = 0;
    while (done < len && (rc = tern_rmc_write(h, data[i] + done, len - done)) > 0)
      done += (size_t)rc;
    if (rc >= 0 && done < len) rc = TERN_EIO;
  }
  int crc = tern_rmc_close(h);
  if (rc < 0) return fail("write", path, rc);
  return crc < 0 ? fail("close", path, crc) : 0;
}

static int parse_hex(const char *s, uint8_t *out, size_t cap, size_t *n) {
  size_t len = strlen(s);
  if (len % 2 || len / 2 > cap) return -1;
  for (size_t i = 0; i < len / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (uint8_t)v;
  }
  *n = len / 2;
  return 0;
}

/* ---- ternd's commands by name (tern/ternd_ctl.h) ---------------------- */
enum { K_NONE, K_I32, K_LEVEL, K_SUBSYS, K_IFADDR, K_IFSTATS };
static const struct named {
  const char *name;
  uint32_t dcmd;
  int kind;
} named_cmds[] = {
#define X(n, c, k) {n, c, K_##k},
    TERND_CTL_COMMANDS(X)
#undef X
};
static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG",
                                          "TRACE"};

static int parse_level(const char *s) {
  if (s[0] >= '0' && s[0] <= '4' && s[1] == '\0') return s[0] - '0';
  for (int i = 0; i < 5; i++)
    if (!strcasecmp(s, level_names[i])) return i;
  return -1;
}

static int parse_i32(const char *s, int32_t *v) {
  char *end;
  long x = strtol(s, &end, 0);
  if (*s == '\0' || *end != '\0' || x < INT32_MIN || x > INT32_MAX) return -1;
  *v = (int32_t)x;
  return 0;
}

/* "A.B.C.D/N" [GW] into a ternd_ctl_ifaddr (mask from N). */
static int parse_ifaddr(int argc, char **argv, ternd_ctl_ifaddr *ia) {
  tern_addr a, gw;
  uint8_t plen;
  memset(ia, 0, sizeof(*ia));
  if (argc < 1 || argc > 2 ||
      tern_addr_parse_cidr(argv[0], strlen(argv[0]), &a, &plen) != TERN_OK ||
      a.family != TERN_AF_INET)
    return -1;
  memcpy(ia->addr, a.ip, 4);
  uint32_t m = plen == 0 ? 0 : ~0u << (32 - plen);
  ia->mask[0] = (uint8_t)(m >> 24), ia->mask[1] = (uint8_t)(m >> 16);
  ia->mask[2] = (uint8_t)(m >> 8), ia->mask[3] = (uint8_t)m;
  if (argc == 2) {
    if (tern_addr_parse_ip(argv[1], strlen(argv[1]), &gw) != TERN_OK ||
        gw.family != TERN_AF_INET)
      return -1;
    memcpy(ia->gw, gw.ip, 4);
  }
  return 0;
}

/* The argument of a named command into data; -1 if it does not parse. */
static int named_arg(const struct named *c, int argc, char **argv,
                     uint8_t *data) {
  bool to = TERN_DCMD_GET_DIR(c->dcmd) & TERN_DCMD_DIR_TO;
  if (!to) return argc == 0 ? 0 : -1;
  int32_t v;
  switch (c->kind) {
  case K_I32:
    if (argc != 1 || parse_i32(argv[0], &v)) return -1;
    memcpy(data, &v, sizeof(v));
    return 0;
  case K_LEVEL:
    if (argc != 1 || (v = parse_level(argv[0])) < 0) return -1;
    memcpy(data, &v, sizeof(v));
    return 0;
  case K_SUBSYS: {
    ternd_ctl_log_subsys s;
    memset(&s, 0, sizeof(s));
    if (argc != 2 || strlen(argv[0]) >= sizeof(s.subsys) ||
        (s.level = parse_level(argv[1])) < 0)
      return -1;
    memcpy(s.subsys, argv[0], strlen(argv[0]));
    memcpy(data, &s, sizeof(s));
    return 0;
  }
  case K_IFADDR: {
    ternd_ctl_ifaddr ia;
    if (parse_ifaddr(argc, argv, &ia)) return -1;
    memcpy(data, &ia, sizeof(ia));
    return 0;
  }
  default:
    return -1;
  }
}

static void print_named(const struct named *c, const uint8_t *data) {
  int32_t v;
  memcpy(&v, data, sizeof(v));
  switch (c->kind) {
  case K_I32:
    printf(" value=%d", (int)v);
    break;
  case K_LEVEL:
    if (v >= 0 && v <= 4) printf(" level=%s", level_names[v]);
    else printf(" level=%d", (int)v);
    break;
  case K_IFADDR: {
    ternd_ctl_ifaddr ia;
    memcpy(&ia, data, sizeof(ia));
    unsigned plen = 0;
    while (plen < 32 && (ia.mask[plen / 8] & (0x80u >> (plen % 8)))) plen++;
    printf(" addr=%u.%u.%u.%u/%u gw=%u.%u.%u.%u", ia.addr[0], ia.addr[1],
           ia.addr[2], ia.addr[3], plen, ia.gw[0], ia.gw[1], ia.gw[2],
           ia.gw[3]);
    break;
  }
  case K_IFSTATS: {
    ternd_ctl_ifstats st;
    memcpy(&st, data, sizeof(st));
    printf(" rx_frames=%llu rx_bytes=%llu tx_frames=%llu tx_bytes=%llu "
           "rx_drop=%llu tx_drop=%llu",
           (unsigned long long)st.rx_frames, (unsigned long long)st.rx_bytes,
           (unsigned long long)st.tx_frames, (unsigned long long)st.tx_bytes,
           (unsigned long long)st.rx_drop, (unsigned long long)st.tx_drop);
    break;
  }
  default:
    break;
  }
}

static int cmd_devctl_named(const char *path, const struct named *c, int argc,
                            char **argv, const tern_rmc_opts *o) {
  static uint8_t data[TERN_DCMD_SIZE_MAX];
  size_t size = TERN_DCMD_GET_SIZE(c->dcmd);
  memset(data, 0, size);
  if (named_arg(c, argc, argv, data) != 0) {
    fprintf(stderr, "ternctl: devctl %s: bad argument (see ternctl -h)\n",
            c->name);
    return 2;
  }
  tern_rmc *h;
  int ret = 0, rc = tern_rmc_open(&h, path, O_RDWR, o);
  if (rc != TERN_OK) return fail("open", path, rc);
  rc = tern_rmc_devctl(h, c->dcmd, data, size, &ret);
  tern_rmc_close(h);
  if (rc != TERN_OK) return fail("devctl", path, rc);
  printf("ret=%d", ret);
  if (TERN_DCMD_GET_DIR(c->dcmd) & TERN_DCMD_DIR_FROM) print_named(c, data);
  printf("\n");
  return 0;
}

static int cmd_devctl(const char *path, const char *cmd, const char *hex,
                      const tern_rmc_opts *o) {
  static uint8_t data[TERN_DCMD_SIZE_MAX];
  char *end;
  unsigned long dcmd = strtoul(cmd, &end, 0);
  size_t n = 0;
  if (*cmd == '\0' || *end != '\0' || dcmd > 0xffffffffUL) {
    fprintf(stderr, "ternctl: devctl: bad command number '%s'\n", cmd);
    return 2;
  }
  size_t size = TERN_DCMD_GET_SIZE(dcmd);
  if (hex && parse_hex(hex, data, size, &n) != 0) {
    fprintf(stderr, "ternctl: devctl: HEXDATA must be pairs of hex digits, "
                    "at most %zu bytes (the command's size)\n", size);
    return 2;
  }
  tern_rmc *h;
  int ret = 0, rc = tern_rmc_open(&h, path, O_RDWR, o);
  if (rc != TERN_OK) return fail("open", path, rc);
  rc = tern_rmc_devctl(h, (uint32_t)dcmd, data, size, &ret);
  tern_rmc_close(h);
  if (rc != TERN_OK) return fail("devctl", path, rc);
  printf("ret=%d", ret);
  if (TERN_DCMD_GET_DIR(dcmd) & TERN_DCMD_DIR_FROM) {
    printf(" data=");
    for (size_t i = 0; i < size; i++) printf("%02x", data[i]);
  }
  printf("\n");
  return 0;
}

#define WAIT_CODE 1 /* the pulse code wait asks for */
#define EXIT_TIMEOUT 3

static int cmd_wait(int argc, char **argv, const tern_rmc_opts *o) {
  static const struct { const char *name; uint32_t cond; int oflag; } conds[] = {
      {"input", TERN_RM_NOTIFY_INPUT, O_RDONLY},
      {"output", TERN_RM_NOTIFY_OUTPUT, O_WRONLY},
      {"oob", TERN_RM_NOTIFY_OOB, O_RDONLY}};
  const char *path = argv[1];
  int timeout = TERN_WAIT_FOREVER, which = -1;
  for (int i = 0; i < 3; i++)
    if (strcmp(argv[2], conds[i].name) == 0) which = i;
  if (which < 0) {
    fprintf(stderr, "ternctl: wait: condition must be input, output or oob, "
                    "not '%s'\n", argv[2]);
    return 2;
  }
  int action = TERN_RM_NOTIFY_POLLARM;
  for (int i = 3; i < argc; i++) {
    if (strcmp(argv[i], "--change") == 0) {
      action = TERN_RM_NOTIFY_TRANSITION; /* the next trigger, not a level */
      continue;
    }
    char *end = NULL;
    long ms = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
    if (strcmp(argv[i], "--timeout") != 0 || i + 1 >= argc ||
        *argv[i + 1] == '\0' || *end != '\0' || ms < 0 ||
        ms > 24L * 3600 * 1000) {
      fprintf(stderr, "ternctl: wait: expected [--timeout MS (0..86400000)] "
                      "[--change]\n");
      return 2;
    }
    timeout = (int)ms;
    i++;
  }
  tern_rmc *h;
  int rc = tern_rmc_open(&h, path, conds[which].oflag, o);
  if (rc != TERN_OK) return fail("open", path, rc);
  uint64_t start = tern_clock_ms();
  rc = tern_rmc_notify(h, action, conds[which].cond, NULL, WAIT_CODE, 0);
  while (rc == 0) { /* armed: the pulse says when */
    tern_rm_pulse p;
    int left = timeout;
    if (timeout >= 0) {
      uint64_t spent = tern_clock_ms() - start;
      left = spent >= (uint64_t)timeout ? 0 : timeout - (int)spent;
    }
    int r = tern_rmc_pulse_recv(h, &p, left);
    if (r == TERN_ETIMEDOUT) {
      tern_rmc_close(h);
      fprintf(stderr, "ternctl: wait %s: no %s within %d ms\n", path,
              conds[which].name, timeout);
      return EXIT_TIMEOUT;
    }
    if (r != TERN_OK) rc = r;
    else if (p.code == WAIT_CODE && (p.conds & conds[which].cond)) rc = (int)p.conds;
  }
  tern_rmc_close(h);
  if (rc < 0) return fail("wait", path, rc);
  printf("%s: %s\n", path, conds[which].name);
  return 0;
}

/* mount and umount: argv[0] is the command, options follow it. */
static int cmd_mount(int argc, char **argv, const tern_rmc_opts *o) {
  bool um = strcmp(argv[0], "umount") == 0;
  const char *type = NULL, *data = NULL;
  uint32_t flags = um ? TERN_RM_MOUNT_UNMOUNT : 0;
  int opt;
  optind = 0; /* a new vector for getopt */
  while ((opt = getopt(argc, argv, um ? "+T:f" : "+T:o:ru")) != -1) {
    if (opt == 'T')
      type = optarg;
    else if (opt == 'o')
      data = optarg;
    else if (opt == 'r')
      flags |= TERN_RM_MOUNT_RDONLY;
    else if (opt == 'u')
      flags |= TERN_RM_MOUNT_REMOUNT;
    else if (opt == 'f')
      flags |= TERN_RM_MOUNT_FORCE;
    else
      return usage();
  }
  if (argc - optind != (um ? 1 : 2)) return usage();
  const char *special = um ? NULL : argv[optind];
  const char *dir = argv[argc - 1];
  int rc = tern_rmc_mount(special, dir, flags, type, data,
                          data ? strlen(data) : 0, o);
  if (rc == TERN_OK) return 0;
  const char *what = um ? "umount" : "mount";
  if (type && rc == TERN_ENOTSUP)
    fprintf(stderr, "ternctl: %s %s: no server for mount type '%s', or it "
                    "does not do this (%s)\n", what, dir, type, tern_err_name(rc));
  else if (rc == TERN_EINVAL)
    fprintf(stderr, "ternctl: %s %s: invalid argument (MOUNTPOINT must be an "
                    "absolute path; without -T, %s must be one too) (%s)\n",
            what, dir, um ? "MOUNTPOINT" : "SPECIAL", tern_err_name(rc));
  else if (rc == TERN_ENOENT && !type)
    fprintf(stderr, "ternctl: %s %s: no server for %s (%s)\n", what, dir,
            um ? dir : special, tern_err_name(rc));
  else
    return fail(what, dir, rc);
  return 1;
}

int main(int argc, char **argv) {
  tern_rmc_opts o = {0};
  int opt;
  while ((opt = getopt(argc, argv, "+d:t:h")) != -1) { /* + : stop at the command */
    if (opt == 'd')
      o.registry = optarg;
    else if (opt == 't')
      o.timeout_ms = atoi(optarg);
    else
      return usage();
  }
  argc -= optind;
  argv += optind;
  if (argc < 1) return usage();
  if (strcmp(argv[0], "ls") == 0 && argc == 1) {
    int rc = tern_rmc_list(o.registry, on_entry, NULL);
    return rc == TERN_OK ? 0 : fail("ls", o.registry ? o.registry : "(registry)", rc);
  }
  if (strcmp(argv[0], "cat") == 0 && argc == 2) return cmd_cat(argv[1], &o);
  if (strcmp(argv[0], "write") == 0 && argc >= 3)
    return cmd_write(argv[1], argc - 2, argv + 2, &o);
  if (strcmp(argv[0], "devctl") == 0 && argc >= 3)
    for (size_t i = 0; i < sizeof(named_cmds) / sizeof(named_cmds[0]); i++)
      if (strcmp(argv[2], named_cmds[i].name) == 0)
        return cmd_devctl_named(argv[1], &named_cmds[i], argc - 3, argv + 3, &o);
  if (strcmp(argv[0], "devctl") == 0 && (argc == 3 || argc == 4))
    return cmd_devctl(argv[1], argv[2], argc == 4 ? argv[3] : NULL, &o);
  if (strcmp(argv[0], "wait") == 0 && argc >= 3 && argc <= 6)
    return cmd_wait(argc, argv, &o);
  if (strcmp(argv[0], "mount") == 0 || strcmp(argv[0], "umount") == 0)
    return cmd_mount(argc, argv, &o);
  return usage();
}
