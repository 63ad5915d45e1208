/* drv_pcap.c: a pcap writer for any netif. The classic libpcap format
 * (https://wiki.wireshark.org/Development/LibpcapFileFormat): a 24-byte
 * global header (magic 0xa1b2c3d4 in the writer's byte order, so readers
 * know it and know the timestamps are in microseconds; version 2.4;
 * snaplen; link type), then per frame a 16-byte record header (seconds,
 * microseconds, bytes captured, bytes on the wire) and the bytes.
 *
 * Call order: tern_pcap_open, tern_pcap_wrap(pc, &opts) before
 * tern_netif_add; frames out are recorded then passed to the wrapped
 * driver; frames the wire and TAP drivers feed in are recorded too
 * (tern__drv_feed), others go through tern_pcap_input. tern_pcap_close
 * after the netif is gone (tern_netif_remove or tern_stack_free).
 *
 * The wrapper keeps the netif's driver_state untouched (the wrapped
 * driver still finds its own state); the pcap writer finds itself from
 * the driver table, which it embeds. Frames with offload metadata are
 * recorded as they are (partial checksums, TSO super-frames), as
 * tcpdump shows them on a Linux host.
 *
 * stdio only: this also builds for a microcontroller with newlib.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip/drv_internal.h"
#include "ip/ip_internal.h"
#include "tern/ip_drivers.h"

#define PCAP_MAGIC 0xa1b2c3d4u
#define PCAP_SNAPLEN_DEFAULT 65535u

struct tern_pcap {
  FILE *f;
  uint32_t snaplen;
  bool failed;                   /* a write failed: stop writing */
  bool wrapped;
  tern_netif_driver drv;         /* the wrapper put in the netif */
  const tern_netif_driver *orig; /* the driver it passes frames to */
  uint64_t frames;
  int64_t time_offset_us; /* added to the stack's time */
};

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static int write_global_header(tern_pcap *pc, uint32_t linktype) {
  uint8_t h[24];
  put_u32(h, PCAP_MAGIC);
  put_u16(h + 4, 2); /* version 2.4 */
  put_u16(h + 6, 4);
  put_u32(h + 8, 0);  /* thiszone: UTC */
  put_u32(h + 12, 0); /* sigfigs */
  put_u32(h + 16, pc->snaplen);
  put_u32(h + 20, linktype);
  return fwrite(h, 1, sizeof(h), pc->f) == sizeof(h) ? TERN_OK : TERN_EIO;
}

int tern_pcap_open_linktype(tern_pcap **out, const char *path,
                            uint32_t snaplen, uint32_t linktype) {
  *out = NULL;
  if (!path) return TERN_EINVAL;
  tern_pcap *pc = calloc(1, sizeof(*pc));
  if (!pc) return TERN_ENOMEM;
  pc->snaplen = snaplen ? snaplen : PCAP_SNAPLEN_DEFAULT;
  pc->f = fopen(path, "wb");
  if (!pc->f) {
    free(pc);
    return TERN_EIO;
  }
  if (write_global_header(pc, linktype) != TERN_OK) {
    fclose(pc->f);
    free(pc);
    return TERN_EIO;
  }
  *out = pc;
  return TERN_OK;
}

int tern_pcap_open(tern_pcap **out, const char *path, uint32_t snaplen) {
  return tern_pcap_open_linktype(out, path, snaplen, TERN_PCAP_ETHERNET);
}

void tern_pcap_close(tern_pcap *pc) {
  if (!pc) return;
  if (pc->f) fclose(pc->f);
  free(pc);
}

int tern_pcap_flush(tern_pcap *pc) {
  if (pc->failed) return TERN_EIO;
  return fflush(pc->f) == 0 ? TERN_OK : TERN_EIO;
}

uint64_t tern_pcap_frames(const tern_pcap *pc) { return pc->frames; }

void tern_pcap_write(tern_pcap *pc, const tern_pbuf *frame, uint64_t time_us) {
  if (!pc || pc->failed || !frame) return;
  size_t tot = tern_pbuf_tot_len(frame);
  size_t cap = tot < pc->snaplen ? tot : pc->snaplen;
  uint8_t h[16];
  put_u32(h, (uint32_t)(time_us / 1000000u));
  put_u32(h + 4, (uint32_t)(time_us % 1000000u));
  put_u32(h + 8, (uint32_t)cap);
  put_u32(h + 12, (uint32_t)tot);
  bool ok = fwrite(h, 1, sizeof(h), pc->f) == sizeof(h);
  for (const tern_pbuf *q = frame; ok && q && cap; q = tern_pbuf_next(q)) {
    size_t n = tern_pbuf_len(q) < cap ? tern_pbuf_len(q) : cap;
    ok = fwrite(tern_pbuf_data(q), 1, n, pc->f) == n;
    cap -= n;
  }
  if (!ok) pc->failed = true; /* a torn record: nothing after it */
  else pc->frames++;
}

/* ---- the wrapping driver ------------------------------------------------ */

/* The wrapper table is embedded in the tern_pcap, so the netif's driver
 * pointer leads back to it. */
static tern_pcap *pcap_of(const tern_netif *nif) {
  return (tern_pcap *)(void *)((char *)(uintptr_t)nif->drv -
                               offsetof(tern_pcap, drv));
}

void tern_pcap_set_time_offset(tern_pcap *pc, int64_t offset_us) {
  pc->time_offset_us = offset_us;
}

static uint64_t now_us(const tern_pcap *pc, const tern_netif *nif) {
  uint64_t t = tern_stack_now(tern_netif_stack(nif)) * 1000u;
  return t + (uint64_t)pc->time_offset_us; /* modulo 2^64: a negative
                                              offset subtracts */
}

static int pcap_output(tern_netif *nif, tern_pbuf *frame) {
  tern_pcap *pc = pcap_of(nif);
  tern_pcap_write(pc, frame, now_us(pc, nif));
  return pc->orig->output(nif, frame);
}

static int pcap_poll(tern_netif *nif) {
  tern_pcap *pc = pcap_of(nif);
  return pc->orig->poll ? pc->orig->poll(nif) : 0;
}

static void pcap_set_up(tern_netif *nif, bool up) {
  tern_pcap *pc = pcap_of(nif);
  if (pc->orig->set_up) pc->orig->set_up(nif, up);
}

int tern_pcap_wrap(tern_pcap *pc, tern_netif_opts *opts) {
  if (!pc || !opts || !opts->driver || !opts->driver->output)
    return TERN_EINVAL;
  if (pc->wrapped) return TERN_EBUSY; /* one netif per writer */
  pc->orig = opts->driver;
  pc->drv.name = pc->orig->name;
  pc->drv.output = pcap_output;
  pc->drv.poll = pcap_poll;
  pc->drv.set_up = pcap_set_up;
  pc->wrapped = true;
  opts->driver = &pc->drv;
  return TERN_OK;
}

void tern_pcap_input(tern_pcap *pc, tern_netif *nif, tern_pbuf *frame,
                     bool csum_ok) {
  tern_pcap_write(pc, frame, now_us(pc, nif));
  tern_netif_input(nif, frame, csum_ok);
}

void tern__drv_feed(tern_netif *nif, tern_pbuf *frame, bool csum_ok) {
  if (nif->drv && nif->drv->output == pcap_output) {
    tern_pcap *pc = pcap_of(nif);
    tern_pcap_write(pc, frame, now_us(pc, nif));
  }
  tern_netif_input(nif, frame, csum_ok);
}
