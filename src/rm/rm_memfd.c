/* rm/rm_memfd.c: reads and writes larger than one message.
 *
 * QNX moves a large _IO_WRITE with MsgRead from the client's address
 * space and a large read reply with MsgReply straight into it. Linux
 * processes share no address space, so tern passes the bytes in a memfd
 * (memfd_create(2)) with SCM_RIGHTS (unix(7)): the client of a WRITE_FD
 * fills one, seals it (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE, so its
 * contents and size are fixed while the server reads them) and sends it;
 * the server checks the size against the message and its bound
 * (max_memfd), checks the seals and maps it read-only, and the write
 * handler sees the mapping as msg->data as for any write. A READ_FD's
 * answer comes back the same way when it does not fit one message.
 * One copy each way (into the memfd, out of the mapping).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rm/rm_internal.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int tern__rm_memfd_check(int fd, size_t len) {
  struct stat st;
  int seals = fcntl(fd, F_GET_SEALS); /* EINVAL: not a memfd (or shmem) */
  if (seals < 0 || (seals & SEALS) != SEALS) return TERN_EPROTO;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
      (uint64_t)st.st_size != (uint64_t)len)
    return TERN_EPROTO;
  return TERN_OK;
}

int tern__rm_memfd_make(const struct iovec *iov, int n, size_t total, int *fd) {
  int f = memfd_create("tern-rm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (f < 0) return tern_err_from_errno(errno);
  int rc = ftruncate(f, (off_t)total) == 0 ? TERN_OK : tern_err_from_errno(errno);
  for (int i = 0; i < n && rc == TERN_OK; i++) {
    const uint8_t *p = iov[i].iov_base;
    size_t left = iov[i].iov_len;
    while (left > 0 && rc == TERN_OK) {
      ssize_t w = write(f, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        rc = w < 0 ? tern_err_from_errno(errno) : TERN_EIO;
        break;
      }
      p += w;
      left -= (size_t)w;
    }
  }
  if (rc == TERN_OK && fcntl(f, F_ADD_SEALS, SEALS) != 0)
    rc = tern_err_from_errno(errno);
  if (rc != TERN_OK) {
    close(f);
    return rc;
  }
  *fd = f;
  return TERN_OK;
}

int tern__rm_memfd_map(tern_rm_dispatch *d, tern__rm_msg *m, int fd,
                       void **map) {
  size_t len = m->nbytes;
  if (len > d->max_memfd) return TERN_EMSGSIZE;
  int rc = tern__rm_memfd_check(fd, len);
  if (rc != TERN_OK) return rc;
  void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return tern_err_from_errno(errno);
  *map = p;
  m->data = p;
  m->data_len = len;
  return TERN_OK;
}

void tern__rm_memfd_unmap(void *map, size_t len) { munmap(map, len); }

ssize_t tern__rm_sendmsg_fd(int sock, struct msghdr *mh, int fd, int flags) {
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int))];
  } cb;
  if (fd >= 0) {
    memset(&cb, 0, sizeof(cb));
    mh->msg_control = cb.b;
    mh->msg_controllen = sizeof(cb.b);
    struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
  }
  ssize_t r = sendmsg(sock, mh, flags);
  mh->msg_control = NULL;
  mh->msg_controllen = 0;
  return r;
}
