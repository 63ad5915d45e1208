/* src/port/posix/random.c: tern_random from the kernel's CSPRNG.
 *
 * getrandom(2) first: no descriptor, works in a chroot, and blocks only
 * until the pool is first seeded at boot (what key generation needs). If
 * the libc or kernel lacks it, or a seccomp filter refuses it, read
 * /dev/urandom instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "tern/base.h"
#include "tern/port.h"

#if defined(__linux__) && defined(__has_include)
#if __has_include(<sys/random.h>)
#include <sys/random.h>
#define TERN__HAVE_GETRANDOM 1
#endif
#endif

#ifdef TERN__HAVE_GETRANDOM
/* Fills as much as getrandom gives; returns the bytes filled. Large
 * requests may come back short or be interrupted, hence the loop. */
static size_t tern__random_getrandom(uint8_t *p, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = getrandom(p + done, len - done, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += (size_t)n;
  }
  return done;
}
#endif

static int tern__random_urandom(uint8_t *p, size_t len) {
  int fd;
  do
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return TERN_EIO;
  int rc = TERN_OK;
  size_t done = 0;
  while (done < len) {
    ssize_t n = read(fd, p + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = TERN_EIO;
      break;
    }
    done += (size_t)n;
  }
  close(fd);
  return rc;
}

int tern_random(void *buf, size_t len) {
  if (len == 0)
    return TERN_OK;
  if (buf == NULL)
    return TERN_EINVAL;
  uint8_t *p = buf;
#ifdef TERN__HAVE_GETRANDOM
  size_t done = tern__random_getrandom(p, len);
  p += done;
  len -= done;
  if (len == 0)
    return TERN_OK;
#endif
  return tern__random_urandom(p, len);
}
