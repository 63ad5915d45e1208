/* linux/tap.c: a Linux TAP device as a netif driver, with the virtio-net
 * header so the kernel and the stack trade TCP super-frames and partial
 * checksums instead of cutting and summing every 1500-byte frame.
 *
 * Open: /dev/net/tun, TUNSETIFF with IFF_TAP | IFF_NO_PI (| IFF_VNET_HDR),
 * TUNSETVNETHDRSZ 12 (struct virtio_net_hdr_mrg_rxbuf, virtio 1.x's
 * virtio_net_hdr_v1; 10 if the kernel refuses), TUNSETOFFLOAD TUN_F_CSUM
 * | TUN_F_TSO4 (the kernel may then hand us up to 64 KiB TCP frames and
 * frames whose checksum is only the pseudo-header sum). Non-blocking.
 * Bringing the link up and addressing the kernel's side is the caller's
 * job (ip link set ...).
 *
 * Receive (tern_tap_poll): each frame is read with readv straight into a
 * chain of pool blocks allocated beforehand (big enough for a TSO frame
 * when the kernel may send one), then trimmed; the first block holds the
 * first IP_HDR_CONTIG bytes, as tern_netif_input wants. The vnet header
 * (virtio 1.1 section 5.1.6.4) says: NEEDS_CSUM, the L4 checksum is
 * partial (only the pseudo-header sum): the frame came from the host's
 * own stack through memory, never a wire, so it is trusted as Linux's
 * virtio-net trusts it (CHECKSUM_PARTIAL) and fed with csum_ok, with no
 * checksum pass over the data; DATA_VALID, the kernel checked it
 * (csum_ok).
 *
 * Send (output): the vnet header comes from the frame's tern_tx_meta
 * (NEEDS_CSUM with csum_start/csum_offset; GSO_TCPV4 with gso_size =
 * gso_mss and hdr_len), then writev over the header and the chain. A
 * full device queue (EAGAIN) drops the frame: TCP retransmits.
 *
 * Byte order of the vnet header: the kernel's native order for a legacy
 * header, little-endian for virtio 1.x: the same on every host Linux
 * runs tern on today (x86, arm64, riscv); a big-endian host would need
 * TUNSETVNETLE.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/virtio_net.h>

#include "ip/drv_internal.h"
#include "ip/ip_internal.h"
#include "tern/ip_drivers.h"
#include "tern/port.h"

#define TAP_RX_BATCH_DEFAULT 64u
#define TAP_IOV_MAX 64u
/* The largest frame the kernel hands over with TSO4: an IP datagram of
 * 64 KiB plus its Ethernet header (and a VLAN tag, to be safe). */
#define TAP_GSO_FRAME_MAX (65535u + IP_ETH_HLEN + 4u)
#define TAP_SCRATCH (TAP_GSO_FRAME_MAX + 16u)

struct tern_tap {
  int fd;
  char name[IFNAMSIZ];
  bool vnet;        /* frames carry a virtio-net header */
  size_t vnet_len;  /* its size: 12 or 10 */
  bool rx_gso;      /* the kernel may send TSO frames (TUN_F_TSO4) */
  uint32_t rx_batch;
  tern_netif *nif;
  uint8_t *scratch; /* linear copy for an over-long chain / software csum */
  /* receive impairments (tests with the kernel as peer) */
  double loss, reorder;
  uint64_t rng;
  tern_tap_stats stats;
};

/* ---- opening ---------------------------------------------------------------- */

static int errno_err(void) { return tern_err_from_errno(errno); }

static int tap_setup_vnet(tern_tap *t) {
  int sz = (int)sizeof(struct virtio_net_hdr_mrg_rxbuf);
  if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0) {
    sz = (int)sizeof(struct virtio_net_hdr);
    if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0) return errno_err();
  }
  t->vnet_len = (size_t)sz;
  /* What we accept from the kernel: partial checksums and TCPv4 TSO. If
   * TSO is refused, partial checksums alone still save the summing. */
  if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4)) == 0)
    t->rx_gso = true;
  else if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) < 0)
    return errno_err();
  return TERN_OK;
}

int tern_tap_open(tern_tap **out, const tern_tap_opts *opts) {
  *out = NULL;
  const char *name = opts && opts->ifname ? opts->ifname : "tern0";
  if (strlen(name) >= IFNAMSIZ) return TERN_EINVAL;
  tern_tap *t = calloc(1, sizeof(*t));
  if (!t) return TERN_ENOMEM;
  t->vnet = !(opts && opts->no_offload);
  t->rx_batch = opts && opts->rx_batch ? opts->rx_batch : TAP_RX_BATCH_DEFAULT;
  t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (t->fd < 0) {
    int err = errno_err();
    free(t);
    return err;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | (t->vnet ? IFF_VNET_HDR : 0));
  memcpy(ifr.ifr_name, name, strlen(name) + 1);
  int rc = TERN_OK;
  if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) rc = errno_err();
  if (rc == TERN_OK && t->vnet) rc = tap_setup_vnet(t);
  if (rc != TERN_OK) {
    close(t->fd);
    free(t);
    return rc;
  }
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  *out = t;
  return TERN_OK;
}

void tern_tap_close(tern_tap *t) {
  if (!t) return;
  if (t->fd >= 0) close(t->fd);
  free(t->scratch);
  free(t);
}

int tern_tap_fd(const tern_tap *t) { return t->fd; }

const char *tern_tap_name(const tern_tap *t) { return t->name; }

void tern_tap_attach(tern_tap *t, tern_netif *nif) { t->nif = nif; }

void tern_tap_set_impair(tern_tap *t, double loss, double reorder,
                         uint64_t seed) {
  t->loss = loss < 0 ? 0 : loss > 1 ? 1 : loss;
  t->reorder = reorder < 0 ? 0 : reorder > 1 ? 1 : reorder;
  t->rng = seed;
}

/* splitmix64, as the wire uses */
static bool tap_chance(tern_tap *t, double p) {
  if (p <= 0) return false;
  uint64_t z = (t->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * (1.0 / 9007199254740992.0) < p;
}

/* ---- receiving ---------------------------------------------------------------- */

/* Read and drop one frame (no pool memory for it): the device must be
 * drained or poll() keeps waking us. */
static ssize_t tap_discard(tern_tap *t) {
  uint8_t junk[64];
  return read(t->fd, junk, sizeof(junk));
}

/* NEEDS_CSUM (trusted, see the top) or DATA_VALID: csum_ok. false: a bad
 * header, drop it. */
static bool tap_rx_vnet(tern_tap *t, tern_pbuf *p,
                        const struct virtio_net_hdr *h, bool *csum_ok) {
  if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE) t->stats.rx_gso++;
  if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    if ((size_t)h->csum_start + h->csum_offset + 2 > tern_pbuf_tot_len(p))
      return false;
    *csum_ok = true;
    t->stats.rx_csum_partial++;
  } else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
    *csum_ok = true;
    t->stats.rx_csum_valid++;
  }
  return true;
}

/* One frame from the device into a pool chain. 1: *out set; 0: nothing
 * waiting; <0: error (TERN_ENOMEM after discarding a frame). */
/* The blocks after the first len bytes of p, cut off (p keeps the rest;
 * the caller trims it). The tail's own lengths stay right: each pbuf's
 * tot_len counts only what follows it. */
static tern_pbuf *cut_tail(tern_pbuf *p, size_t len) {
  size_t acc = 0;
  tern_pbuf *q = p;
  while (q->next && acc + q->len < len) {
    acc += q->len;
    q = q->next;
  }
  tern_pbuf *rest = q->next;
  q->next = NULL;
  return rest;
}

/* A chain able to take max bytes: the spare blocks left by the previous
 * read of this poll call, topped up, or a new one. */
static tern_pbuf *rx_chain(tern_stack *st, tern_pbuf **spare, size_t max,
                           size_t small) {
  tern_pbuf *p = *spare;
  *spare = NULL;
  if (p && p->tot_len < max) {
    tern_pbuf *more = ip_pbuf_alloc_raw(st, 0, max - p->tot_len);
    if (more)
      tern_pbuf_cat(p, more);
    else if (p->tot_len < small) {
      tern_pbuf_free(p);
      p = NULL;
    }
  }
  if (p) return p;
  /* IP_ETH_PAD: the IP header 4-aligned after the 14-byte Ethernet one */
  p = ip_pbuf_alloc_raw(st, IP_ETH_PAD, max);
  if (!p && max > small) p = ip_pbuf_alloc_raw(st, IP_ETH_PAD, small);
  return p;
}

static int tap_read_one(tern_tap *t, tern_pbuf **out, bool *csum_ok,
                        tern_pbuf **spare) {
  tern_stack *st = tern_netif_stack(t->nif);
  size_t small = tern_netif_mtu(t->nif) + IP_ETH_HLEN + 4u;
  size_t max = t->rx_gso ? TAP_GSO_FRAME_MAX : small;
  tern_pbuf *p = rx_chain(st, spare, max, small);
  if (!p) {
    ssize_t n = tap_discard(t);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno_err();
    return TERN_ENOMEM;
  }
  struct virtio_net_hdr_mrg_rxbuf vh;
  memset(&vh, 0, sizeof(vh));
  struct iovec iov[TAP_IOV_MAX + 1];
  unsigned cnt = 0;
  if (t->vnet) iov[cnt++] = (struct iovec){&vh, t->vnet_len};
  size_t cap = 0; /* frame bytes the iovecs can take */
  for (tern_pbuf *q = p; q && cnt <= TAP_IOV_MAX; q = tern_pbuf_next(q)) {
    iov[cnt++] = (struct iovec){tern_pbuf_data(q), tern_pbuf_len(q)};
    cap += tern_pbuf_len(q);
  }
  ssize_t n;
  do {
    n = readv(t->fd, iov, (int)cnt);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno_err();
    *spare = p; /* nothing read: the whole chain serves the next read */
    return err;
  }
  size_t hl = t->vnet ? t->vnet_len : 0;
  /* a runt, or a frame longer than our buffers (tun reports the whole
   * length but copies what fits: a TSO frame when only an MTU-sized
   * chain could be had) */
  if ((size_t)n < hl + IP_ETH_HLEN ||
      (size_t)n - hl > cap) {
    tern_pbuf_free(p);
    return TERN_EPROTO;
  }
  *spare = cut_tail(p, (size_t)n - hl); /* unused blocks: the next read */
  ip_pbuf_trim(p, (size_t)n - hl);
  *csum_ok = false;
  if (t->vnet && !tap_rx_vnet(t, p, &vh.hdr, csum_ok)) {
    tern_pbuf_free(p);
    return TERN_EPROTO;
  }
  *out = p;
  return 1;
}

int tern_tap_poll(tern_tap *t) {
  if (!t || !t->nif) return 0;
  int fed = 0;
  /* reorder: one frame held back goes after the next one; it never
   * outlives this call (its pool may be freed before we are). */
  tern_pbuf *held = NULL;
  bool held_ok = false;
  /* blocks one read did not use go to the next read of this call (a TSO
   * read takes a 64 KiB chain; most frames use one block of it); the
   * rest is freed before returning, so nothing outlives the call */
  tern_pbuf *spare = NULL;
  for (uint32_t i = 0; i < t->rx_batch; i++) {
    tern_pbuf *p = NULL;
    bool ok = false;
    int rc = tap_read_one(t, &p, &ok, &spare);
    if (rc == 0) break;
    if (rc < 0) {
      if (rc == TERN_ENOMEM || rc == TERN_EPROTO) { /* dropped */
        t->stats.rx_drop++;
        continue;
      }
      if (fed == 0 && !held) {
        if (spare) tern_pbuf_free(spare);
        return rc;
      }
      break;
    }
    if (tap_chance(t, t->loss)) {
      tern_pbuf_free(p);
      t->stats.rx_drop++;
      continue;
    }
    if (!held && tap_chance(t, t->reorder)) {
      held = p;
      held_ok = ok;
      continue;
    }
    tern__drv_feed(t->nif, p, ok);
    fed++;
    if (held) {
      tern__drv_feed(t->nif, held, held_ok);
      held = NULL;
      fed++;
    }
  }
  if (held) {
    tern__drv_feed(t->nif, held, held_ok);
    fed++;
  }
  if (spare) tern_pbuf_free(spare);
  t->stats.rx_frames += (uint64_t)fed;
  return fed;
}

/* ---- sending ------------------------------------------------------------------ */

static uint8_t *tap_scratch(tern_tap *t) {
  if (!t->scratch) t->scratch = malloc(TAP_SCRATCH);
  return t->scratch;
}

static int tap_write_done(tern_tap *t, ssize_t n) {
  if (n >= 0) {
    t->stats.tx_frames++;
    return TERN_OK;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
    t->stats.tx_eagain++;
    return TERN_EAGAIN;
  }
  t->stats.tx_err++;
  return errno_err();
}

void tern_tap_get_stats(const tern_tap *t, tern_tap_stats *out) {
  *out = t->stats;
}

/* Without a vnet header nobody finishes a partial checksum: copy the
 * frame (the caller keeps it for retransmission, unchanged) and do it. */
static int tap_output_plain(tern_tap *t, tern_pbuf *frame) {
  const tern_tx_meta *m = tern_pbuf_tx_meta(frame);
  size_t len = tern_pbuf_tot_len(frame);
  if (m->gso_mss && len > (size_t)m->hdr_len + m->gso_mss)
    return TERN_EMSGSIZE; /* no TSO was announced */
  uint8_t *buf = tap_scratch(t);
  if (!buf) return TERN_ENOMEM;
  if (len > TAP_SCRATCH) return TERN_EMSGSIZE;
  tern_pbuf_copy_out(frame, 0, buf, len);
  if (m->csum_offset && !tern__drv_csum_flat(buf, len, m->csum_start,
                                             m->csum_offset))
    return TERN_EINVAL;
  return tap_write_done(t, write(t->fd, buf, len));
}

static void tap_vnet_hdr(const tern_pbuf *frame,
                         struct virtio_net_hdr_mrg_rxbuf *vh) {
  const tern_tx_meta *m = tern_pbuf_tx_meta(frame);
  memset(vh, 0, sizeof(*vh));
  if (m->csum_offset) {
    vh->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh->hdr.csum_start = m->csum_start;
    vh->hdr.csum_offset = m->csum_offset;
  }
  if (m->gso_mss && tern_pbuf_tot_len(frame) > (size_t)m->hdr_len + m->gso_mss) {
    vh->hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    vh->hdr.gso_size = m->gso_mss;
    vh->hdr.hdr_len = m->hdr_len;
  }
}

static int tap_output(tern_netif *nif, tern_pbuf *frame) {
  tern_tap *t = tern_netif_driver_state(nif);
  if (!t->vnet) return tap_output_plain(t, frame);
  struct virtio_net_hdr_mrg_rxbuf vh;
  tap_vnet_hdr(frame, &vh);
  struct iovec iov[TAP_IOV_MAX + 1];
  unsigned cnt = 0;
  iov[cnt++] = (struct iovec){&vh, t->vnet_len};
  const tern_pbuf *q = frame;
  for (; q && cnt <= TAP_IOV_MAX; q = tern_pbuf_next(q))
    if (tern_pbuf_len(q))
      iov[cnt++] = (struct iovec){tern_pbuf_data(q), tern_pbuf_len(q)};
  if (q) { /* a chain longer than the iovec bound: one linear copy */
    size_t len = tern_pbuf_tot_len(frame);
    uint8_t *buf = tap_scratch(t);
    if (!buf) return TERN_ENOMEM;
    if (len > TAP_SCRATCH) return TERN_EMSGSIZE;
    tern_pbuf_copy_out(frame, 0, buf, len);
    iov[1] = (struct iovec){buf, len};
    cnt = 2;
  }
  ssize_t n;
  do {
    n = writev(t->fd, iov, (int)cnt);
  } while (n < 0 && errno == EINTR);
  if (n >= 0 && vh.hdr.gso_type) t->stats.tx_gso++;
  if (n >= 0 && vh.hdr.flags) t->stats.tx_csum_partial++;
  return tap_write_done(t, n);
}

static int tap_drv_poll(tern_netif *nif) {
  return tern_tap_poll(tern_netif_driver_state(nif));
}

static const tern_netif_driver tap_driver = {
    .name = "tap",
    .output = tap_output,
    .poll = tap_drv_poll,
};

void tern_tap_netif_opts(tern_tap *t, tern_netif_opts *opts) {
  opts->driver = &tap_driver;
  opts->driver_state = t;
  opts->flags = TERN_NETIF_ETHERNET;
  if (t->vnet) {
    opts->flags |= TERN_NETIF_TX_CSUM | TERN_NETIF_TSO;
    /* the IP datagram stays under 65535 with the largest headers */
    opts->tso_max = 65535u - IP_IP_HLEN - IP_TCP_HLEN_MAX;
  }
  if (!opts->name) opts->name = t->name;
  static const uint8_t zero[6] = {0};
  if (!memcmp(opts->mac, zero, 6)) {
    /* a random unicast, locally administered address (IEEE 802 U/L bit) */
    if (tern_random(opts->mac, 6) != TERN_OK) memcpy(opts->mac, "\x02tern", 6);
    opts->mac[0] = (uint8_t)((opts->mac[0] & 0xfe) | 0x02);
  }
}
