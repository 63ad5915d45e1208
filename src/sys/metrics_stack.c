/* sys/metrics_stack.c: the built-in stack's counters as metrics
 * (tern_metrics_bind_stack in tern/metrics.h).
 *
 * The stack keeps plain counters (tern_stack_stats) and knows nothing of
 * the registry, so it builds for a microcontroller without it; a collect
 * callback copies them into the registry when it is exported. Counters
 * only go up, so each export adds the difference. Only in builds with the
 * stack (CMakeLists.txt leaves this file out otherwise).
 */
#include <stddef.h>
#include <string.h>

#include "tern/ip.h"
#include "tern/metrics.h"

static const struct {
  const char *name, *labels, *help;
  size_t off;
} counters[] = {
#define C(f, n, l, h) {n, l, h, offsetof(tern_stack_stats, f)}
    C(eth_in, "tern_eth_frames_total", "dir=\"in\"", "Ethernet frames."),
    C(eth_out, "tern_eth_frames_total", "dir=\"out\"", "Ethernet frames."),
    C(eth_drop, "tern_eth_dropped_total", NULL, "Ethernet frames dropped."),
    C(arp_in, "tern_arp_packets_total", "dir=\"in\"", "ARP packets."),
    C(arp_out, "tern_arp_packets_total", "dir=\"out\"", "ARP packets."),
    C(ip_in, "tern_ip_packets_total", "dir=\"in\"", "IPv4 datagrams."),
    C(ip_out, "tern_ip_packets_total", "dir=\"out\"", "IPv4 datagrams."),
    C(ip_drop, "tern_ip_dropped_total", "why=\"any\"", "IPv4 datagrams dropped."),
    C(ip_chksum_err, "tern_ip_dropped_total", "why=\"checksum\"", "IPv4 datagrams dropped."),
    C(ip_noroute, "tern_ip_dropped_total", "why=\"noroute\"", "IPv4 datagrams dropped."),
    C(ip_reass_ok, "tern_ip_reassembled_total", NULL, "IPv4 datagrams reassembled."),
    C(icmp_in, "tern_icmp_packets_total", "dir=\"in\"", "ICMP messages."),
    C(icmp_out, "tern_icmp_packets_total", "dir=\"out\"", "ICMP messages."),
    C(udp_in, "tern_udp_datagrams_total", "dir=\"in\"", "UDP datagrams."),
    C(udp_out, "tern_udp_datagrams_total", "dir=\"out\"", "UDP datagrams."),
    C(udp_drop, "tern_udp_dropped_total", "why=\"any\"", "UDP datagrams dropped."),
    C(udp_noport, "tern_udp_dropped_total", "why=\"noport\"", "UDP datagrams dropped."),
    C(tcp_in, "tern_tcp_segments_total", "dir=\"in\"", "TCP segments."),
    C(tcp_out, "tern_tcp_segments_total", "dir=\"out\"", "TCP segments."),
    C(tcp_drop, "tern_tcp_dropped_total", NULL, "TCP segments dropped."),
    C(tcp_rst_out, "tern_tcp_resets_sent_total", NULL, "TCP RSTs sent."),
    C(tcp_retrans, "tern_tcp_retransmissions_total", NULL, "TCP segments sent again."),
    C(tcp_fast_retrans, "tern_tcp_fast_retransmits_total", NULL, "TCP fast retransmits (RFC 5681)."),
    C(tcp_rto, "tern_tcp_rto_total", NULL, "TCP retransmission timeouts (RFC 6298)."),
    C(tcp_ooseq, "tern_tcp_out_of_order_total", NULL, "TCP segments received out of order."),
    C(tcp_dupack, "tern_tcp_dupacks_total", NULL, "TCP duplicate ACKs received."),
    C(tcp_accepts, "tern_tcp_accepts_total", NULL, "TCP connections accepted."),
    C(tcp_connects, "tern_tcp_connects_total", NULL, "TCP connections opened actively."),
    C(tcp_syn_cookies, "tern_tcp_syn_cookies_total", NULL, "SYN cookies sent."),
    C(tcp_challenge_ack, "tern_tcp_challenge_acks_total", NULL, "RFC 5961 challenge ACKs."),
    C(mem_fail, "tern_ip_alloc_failures_total", NULL, "Stack allocations refused."),
#undef C
};

static void collect_stack(tern_metrics *reg, void *ud) {
  tern_stack_stats ss;
  tern_stack_get_stats(ud, &ss);
  for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
    uint64_t v;
    memcpy(&v, (const char *)&ss + counters[i].off, sizeof v);
    tern_metric *m = tern_metrics_counter(reg, counters[i].name,
                                          counters[i].help, counters[i].labels);
    int64_t delta = (int64_t)v - tern_metric_value(m);
    if (delta > 0) tern_metric_add(m, delta);
  }
  static const char pool[] = "Packet pool blocks.";
  tern_metric_set(tern_metrics_gauge(reg, "tern_ip_pool_blocks", pool, "state=\"used\""),
                  ss.pool_used);
  tern_metric_set(tern_metrics_gauge(reg, "tern_ip_pool_blocks", pool, "state=\"total\""),
                  ss.pool_blocks);
  tern_metric_set(tern_metrics_gauge(reg, "tern_ip_pool_blocks", pool, "state=\"high\""),
                  ss.pool_high);
  static const char pcbs[] = "Protocol control blocks in use.";
  tern_metric_set(tern_metrics_gauge(reg, "tern_ip_pcbs", pcbs, "proto=\"tcp\""),
                  ss.tcp_pcbs);
  tern_metric_set(tern_metrics_gauge(reg, "tern_ip_pcbs", pcbs, "proto=\"tcp_time_wait\""),
                  ss.tcp_time_wait);
  tern_metric_set(tern_metrics_gauge(reg, "tern_ip_pcbs", pcbs, "proto=\"udp\""),
                  ss.udp_pcbs);
}

int tern_metrics_bind_stack(tern_metrics *reg, tern_stack *st) {
  if (reg == NULL || st == NULL) return TERN_EINVAL;
  return tern_metrics_on_collect(reg, collect_stack, st);
}

void tern_metrics_unbind_stack(tern_metrics *reg, tern_stack *st) {
  tern_metrics_on_collect_remove(reg, collect_stack, st);
}
