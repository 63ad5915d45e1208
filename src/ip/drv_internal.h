/* drv_internal.h: what the drivers (drv_wire.c, drv_pcap.c, linux/tap.c)
 * share: feeding a received frame (recorded first when the netif is
 * wrapped by a pcap writer) and the checksum a NIC would compute for a
 * frame whose L4 checksum was left partial (virtio NEEDS_CSUM, tern's
 * TX_CSUM offload), done in software.
 *
 * Pure C: the wire and the pcap writer also build for a microcontroller.
 */
#ifndef TERN_IP_DRV_INTERNAL_H
#define TERN_IP_DRV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/ip.h"

/* Feed frame (ours) to nif with tern_netif_input; if nif's driver is a
 * pcap wrapper (tern_pcap_wrap), the frame is recorded first. */
void tern__drv_feed(tern_netif *nif, tern_pbuf *frame, bool csum_ok);

/* RFC 1071 ones' complement sum of len bytes taken as big-endian 16-bit
 * words, added to sum; not folded. */
uint32_t tern__drv_sum(uint32_t sum, const uint8_t *d, size_t len);
/* Fold a 32-bit sum to 16 bits (not complemented). */
uint16_t tern__drv_fold(uint32_t sum);
/* Complete a partial checksum in a flat frame the way virtio's
 * NEEDS_CSUM asks: the field at start+offset holds the pseudo-header sum;
 * the ones' complement of the sum of [start, len) goes there. false if the
 * offsets do not fit in the frame. */
bool tern__drv_csum_flat(uint8_t *frame, size_t len, size_t start,
                         size_t offset);
/* The same over a pbuf chain (the bytes may span several pbufs). */
bool tern__drv_csum_chain(tern_pbuf *frame, size_t start, size_t offset);

#endif /* TERN_IP_DRV_INTERNAL_H */
