/* rm/rm_registry.c: path names <-> listening sockets (QNX's process
 * manager keeps this table in the kernel's path space; tern keeps it in a
 * directory).
 *
 * Each attach is one AF_UNIX SOCK_SEQPACKET socket file in the registry
 * directory, named after its path ("f." for a name, "d." for a directory
 * attach, then the path encoded so it is one file name). A client lists
 * the directory, keeps the entries whose path is its path (f.) or a prefix
 * of it at a '/' boundary (d.), and connects to the longest; an entry
 * that refuses the connection (ECONNREFUSED: the file outlived its
 * server) is skipped, as QNX's resolver tries the next manager. The cost
 * of the simple choice: a readdir per open, O(entries).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rm/rm_internal.h"

#define RM_SUN_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

int tern__rm_registry_dir(const char *given, char *out, size_t cap) {
  const char *env = getenv(TERN_RM_ENV_DIR), *xdg = getenv("XDG_RUNTIME_DIR");
  int n;
  if (given && given[0])
    n = snprintf(out, cap, "%s", given);
  else if (env && env[0])
    n = snprintf(out, cap, "%s", env);
  else if (xdg && xdg[0])
    n = snprintf(out, cap, "%s/tern-rm", xdg);
  else
    n = snprintf(out, cap, "/run/tern-rm");
  return (n > 0 && (size_t)n < cap) ? TERN_OK : TERN_EINVAL;
}

bool tern__rm_path_valid(const char *path) {
  if (path == NULL || path[0] != '/') return false;
  if (path[1] == '\0') return true;
  if (strlen(path) > TERN__RM_PATH_MAX) return false;
  const char *p = path;
  while (*p == '/') {
    const char *s = ++p;
    while (*p && *p != '/') p++;
    size_t n = (size_t)(p - s);
    if (n == 0 || (n == 1 && s[0] == '.') ||
        (n == 2 && s[0] == '.' && s[1] == '.'))
      return false;
  }
  return *p == '\0';
}

static bool plain(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

int tern__rm_name_encode(const char *path, bool dir, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  if (cap < 3) return TERN_EINVAL;
  out[o++] = dir ? 'd' : 'f';
  out[o++] = '.';
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if (o + 4 > cap) return TERN_EINVAL;
    if (*p == '/') {
      out[o++] = '+';
    } else if (plain(*p)) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = '\0';
  return TERN_OK;
}

static int unhex(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

int tern__rm_name_decode(const char *name, char *path, size_t cap,
                         bool *dir) {
  size_t o = 0;
  if ((name[0] != 'f' && name[0] != 'd') || name[1] != '.' || name[2] != '+')
    return TERN_EINVAL;
  *dir = name[0] == 'd';
  for (const char *p = name + 2; *p; p++) {
    if (o + 1 >= cap) return TERN_EINVAL;
    if (*p == '+') {
      path[o++] = '/';
    } else if (*p == '%') {
      int hi = unhex(p[1]), lo = hi < 0 ? -1 : unhex(p[2]);
      if (lo < 0 || (hi == 0 && lo == 0)) return TERN_EINVAL;
      path[o++] = (char)(hi << 4 | lo);
      p += 2;
    } else if (plain((unsigned char)*p)) {
      path[o++] = *p;
    } else {
      return TERN_EINVAL;
    }
  }
  path[o] = '\0';
  return tern__rm_path_valid(path) ? TERN_OK : TERN_EINVAL;
}

static int make_addr(const char *dir, const char *name, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  int n = snprintf(sa->sun_path, RM_SUN_MAX, "%s/%s", dir, name);
  return (n > 0 && (size_t)n < RM_SUN_MAX) ? TERN_OK : TERN_EINVAL;
}

static int mkdirs(const char *dir) {
  char tmp[TERN__RM_DIR_MAX];
  snprintf(tmp, sizeof(tmp), "%s", dir);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return tern_err_from_errno(errno);
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return tern_err_from_errno(errno);
  return TERN_OK;
}

/* Connect to sa: TERN_OK with *fd, or the reason (ECONNREFUSED: stale). */
static int try_connect(const struct sockaddr_un *sa, int *fd) {
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return tern_err_from_errno(errno);
  if (connect(s, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
    int e = errno;
    close(s);
    return tern_err_from_errno(e);
  }
  *fd = s;
  return TERN_OK;
}

static int bind_listen(const struct sockaddr_un *sa, int *fd) {
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return tern_err_from_errno(errno);
  if (bind(s, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
    int e = errno;
    close(s);
    return e == EADDRINUSE ? TERN_EADDRINUSE : tern_err_from_errno(e);
  }
  /* Anyone may connect; the open handler's check (attr mode) decides. */
  chmod(sa->sun_path, 0666);
  if (listen(s, 128) != 0) {
    int e = errno;
    close(s);
    unlink(sa->sun_path);
    return tern_err_from_errno(e);
  }
  *fd = s;
  return TERN_OK;
}

int tern__rm_listen(const char *dir, const char *path, bool isdir, int *fd,
                    char *sockpath, size_t cap, uint64_t *ino) {
  char name[RM_SUN_MAX];
  int rc = tern__rm_name_encode(path, isdir, name, sizeof(name));
  return rc != TERN_OK ? rc
                       : tern__rm_listen_name(dir, name, fd, sockpath, cap, ino);
}

int tern__rm_listen_name(const char *dir, const char *name, int *fd,
                         char *sockpath, size_t cap, uint64_t *ino) {
  struct sockaddr_un sa;
  struct stat st;
  int rc = make_addr(dir, name, &sa);
  if (rc == TERN_OK) rc = mkdirs(dir);
  if (rc != TERN_OK) return rc;
  rc = bind_listen(&sa, fd);
  if (rc == TERN_EADDRINUSE) { /* live or stale? */
    int probe = -1;
    rc = try_connect(&sa, &probe);
    if (rc == TERN_OK) {
      close(probe);
      return TERN_EEXIST;
    }
    if (rc != TERN_ECONNREFUSED) return rc;
    unlink(sa.sun_path); /* stale: its server is gone */
    rc = bind_listen(&sa, fd);
  }
  if (rc != TERN_OK) return rc;
  if (stat(sa.sun_path, &st) != 0) st.st_ino = 0;
  *ino = (uint64_t)st.st_ino;
  snprintf(sockpath, cap, "%s", sa.sun_path);
  return TERN_OK;
}

int tern__rm_connect_name(const char *dir, const char *name, int *fd) {
  struct sockaddr_un sa;
  int rc = make_addr(dir, name, &sa);
  if (rc == TERN_OK) rc = try_connect(&sa, fd);
  return rc == TERN_ECONNREFUSED ? TERN_ENOENT : rc; /* stale: none */
}

void tern__rm_unlisten(const char *sockpath, uint64_t ino) {
  struct stat st;
  if (stat(sockpath, &st) == 0 && (uint64_t)st.st_ino == ino) unlink(sockpath);
}

/* Does attach (apath, isdir) cover path? Returns the remainder or NULL. */
static const char *covers(const char *apath, bool isdir, const char *path) {
  size_t n = strlen(apath);
  if (strcmp(apath, path) == 0) return path + n;
  if (!isdir) return NULL;
  if (n == 1) return path + 1; /* "/" covers everything */
  if (strncmp(apath, path, n) == 0 && path[n] == '/') return path + n + 1;
  return NULL;
}

typedef struct cand {
  char name[256];
  size_t plen;
  bool isdir;
} cand;

static int cand_cmp(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->plen != y->plen) return x->plen < y->plen ? 1 : -1;
  return (int)x->isdir - (int)y->isdir; /* a name before a dir of the same */
}

/* Entries covering path, longest first. *out is malloc'ed. */
static int candidates(const char *dir, const char *path, cand **out,
                      size_t *n) {
  DIR *dp = opendir(dir);
  cand *v = NULL;
  size_t cnt = 0, cap = 0;
  if (dp == NULL) return errno == ENOENT ? TERN_ENOENT : tern_err_from_errno(errno);
  for (struct dirent *e; (e = readdir(dp)) != NULL;) {
    char apath[TERN__RM_PATH_MAX + 1];
    bool isdir;
    if (strlen(e->d_name) >= sizeof(v->name)) continue;
    if (tern__rm_name_decode(e->d_name, apath, sizeof(apath), &isdir) != TERN_OK)
      continue;
    if (covers(apath, isdir, path) == NULL) continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 8;
      cand *nv = realloc(v, cap * sizeof(*v));
      if (nv == NULL) {
        free(v);
        closedir(dp);
        return TERN_ENOMEM;
      }
      v = nv;
    }
    snprintf(v[cnt].name, sizeof(v[cnt].name), "%s", e->d_name);
    v[cnt].plen = strlen(apath);
    v[cnt].isdir = isdir;
    cnt++;
  }
  closedir(dp);
  if (cnt > 1) qsort(v, cnt, sizeof(*v), cand_cmp);
  *out = v;
  *n = cnt;
  return TERN_OK;
}

int tern__rm_resolve(const char *dir, const char *path, int *fd, char *rest,
                     size_t cap) {
  cand *v = NULL;
  size_t n = 0;
  if (!tern__rm_path_valid(path)) return TERN_EINVAL;
  int rc = candidates(dir, path, &v, &n);
  if (rc != TERN_OK) return rc;
  rc = TERN_ENOENT;
  for (size_t i = 0; i < n && rc == TERN_ENOENT; i++) {
    struct sockaddr_un sa;
    if (make_addr(dir, v[i].name, &sa) != TERN_OK) continue;
    int r = try_connect(&sa, fd);
    if (r == TERN_ECONNREFUSED || r == TERN_ENOENT) continue; /* stale */
    if (r != TERN_OK) {
      rc = r;
      break;
    }
    const char *rem = path + v[i].plen;
    while (*rem == '/') rem++;
    if ((size_t)snprintf(rest, cap, "%s", rem) >= cap) {
      close(*fd);
      rc = TERN_EINVAL;
      break;
    }
    rc = TERN_OK;
  }
  free(v);
  return rc;
}

int tern__rm_registry_list(const char *dir, tern__rm_list_fn fn, void *ud) {
  DIR *dp = opendir(dir);
  if (dp == NULL) return errno == ENOENT ? TERN_ENOENT : tern_err_from_errno(errno);
  for (struct dirent *e; (e = readdir(dp)) != NULL;) {
    char apath[TERN__RM_PATH_MAX + 1];
    struct sockaddr_un sa;
    bool isdir;
    int fd = -1;
    if (tern__rm_name_decode(e->d_name, apath, sizeof(apath), &isdir) != TERN_OK ||
        make_addr(dir, e->d_name, &sa) != TERN_OK)
      continue;
    bool live = try_connect(&sa, &fd) == TERN_OK;
    if (live) close(fd);
    fn(apath, isdir, live, ud);
  }
  closedir(dp);
  return TERN_OK;
}
