/* examples/mcu/superloop.c: tern's TCP/IP stack on a microcontroller with
 * no OS: one thread, a superloop, a static packet pool, a TCP echo server
 * on port 7 with the raw API.
 *
 * Built by `make arm` (tools/arm_build.sh) for a Cortex-M4 with
 * arm-none-eabi-gcc, TERN_NO_SYS=1 and newlib; linked with nosys.specs, so
 * every symbol the stack needs must resolve. It is a template, not a board
 * support package: the "board" below (tick, RNG, Ethernet MAC) is a
 * stand-in whose three pieces a real firmware replaces:
 *
 *   - the tick: SysTick_Handler counts milliseconds; tern_port_clock_ms()
 *     (tern/port.h) extends it to 64 bits for the stack.
 *   - the RNG: board_random() must read the MCU's hardware RNG (STM32
 *     RNG->DR, nRF RNG, ...). The stand-in here is NOT random.
 *   - the MAC: fake_nic_* is a DMA-ring-shaped driver: the receive
 *     interrupt copies a frame into a ring slot, the superloop feeds the
 *     ring to the stack (driver.poll); output copies a frame into the
 *     transmit buffer and "starts DMA".
 *
 * The rule for interrupts: a handler only fills the ring and bumps an
 * index; every tern call happens in the superloop (tern/port.h: nothing in
 * the stack or the nosys port is interrupt-safe).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tern/ip.h"
#include "tern/port.h"

/* ---- board stand-ins ------------------------------------------------- */

static volatile uint32_t board_ticks; /* ms, from SysTick */

void SysTick_Handler(void); /* the vector table's name on CMSIS parts */
void SysTick_Handler(void) { board_ticks++; }

/* Monotonic ms for tern (tern/port.h): the 32-bit tick counter wraps
 * after 49 days, so count the wraps. Only the superloop calls this. */
uint64_t tern_port_clock_ms(void) {
  static uint32_t last;
  static uint64_t high;
  uint32_t now = board_ticks;

  if (now < last)
    high += (uint64_t)1 << 32;
  last = now;
  return high | now;
}

/* STAND-IN: a real firmware reads the hardware RNG here (and returns
 * TERN_EIO if it reports a seed error). This xorshift of the tick is
 * predictable and only lets the example link. */
static int board_random(void *ud, void *buf, size_t len) {
  uint32_t x = 0x9e3779b9u ^ board_ticks;
  uint8_t *p = buf;

  (void)ud;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
  }
  return TERN_OK;
}

static void board_idle(void) {
#if defined(__arm__)
  __asm__ volatile("wfi"); /* sleep until the next interrupt (SysTick) */
#endif
}

/* ---- the fake Ethernet MAC -------------------------------------------- */

#define NIC_FRAME_MAX 1536 /* a full Ethernet frame, rounded */
#define NIC_RX_SLOTS 4     /* a power of two */

typedef struct fake_nic {
  /* receive ring: the interrupt writes slot[head % N], the loop reads
   * slot[tail % N] */
  uint8_t rx[NIC_RX_SLOTS][NIC_FRAME_MAX];
  uint16_t rx_len[NIC_RX_SLOTS];
  volatile uint32_t rx_head, rx_tail;
  uint32_t rx_overrun; /* frames the ring had no room for */
  /* transmit: one frame buffer, as a simple MAC with one descriptor */
  uint8_t tx[NIC_FRAME_MAX];
  uint32_t tx_frames, tx_drop;
} fake_nic;

static fake_nic nic0;

/* Called from the Ethernet receive interrupt with a frame the MAC has
 * received; copies it into the ring (drops it when the ring is full). */
void fake_nic_rx_isr(fake_nic *n, const uint8_t *frame, size_t len);
void fake_nic_rx_isr(fake_nic *n, const uint8_t *frame, size_t len) {
  uint32_t head = n->rx_head;

  if (head - n->rx_tail >= NIC_RX_SLOTS || len > NIC_FRAME_MAX) {
    n->rx_overrun++;
    return;
  }
  memcpy(n->rx[head % NIC_RX_SLOTS], frame, len);
  n->rx_len[head % NIC_RX_SLOTS] = (uint16_t)len;
  n->rx_head = head + 1; /* publish after the copy */
}

void ETH_IRQHandler(void); /* stand-in: a real MAC's receive interrupt */
void ETH_IRQHandler(void) {
  /* A real handler takes the frame from the MAC's DMA descriptor. */
}

/* driver.output: the stack's frame (a pbuf chain) into the transmit
 * buffer. The chain stays the stack's (tern/ip.h), hence the copy. */
static int fake_nic_output(tern_netif *nif, tern_pbuf *frame) {
  fake_nic *n = tern_netif_driver_state(nif);
  size_t len = tern_pbuf_tot_len(frame);

  if (len > sizeof n->tx) {
    n->tx_drop++;
    return TERN_EAGAIN;
  }
  tern_pbuf_copy_out(frame, 0, n->tx, len);
  n->tx_frames++; /* here a real driver hands tx[0..len) to the DMA */
  return TERN_OK;
}

/* driver.poll: feed every frame the interrupt has queued. When the pool
 * is dry the frame stays in the ring for the next round (the MAC drops
 * at the ring, not the stack mid-frame). */
static int fake_nic_poll(tern_netif *nif) {
  fake_nic *n = tern_netif_driver_state(nif);
  tern_stack *st = tern_netif_stack(nif);
  int fed = 0;

  while (n->rx_tail != n->rx_head) {
    uint32_t slot = n->rx_tail % NIC_RX_SLOTS;
    tern_pbuf *p = tern_pbuf_alloc(st, TERN_PBUF_RAW, n->rx_len[slot]);
    if (p == NULL)
      break;
    tern_pbuf_copy_in(p, 0, n->rx[slot], n->rx_len[slot]);
    n->rx_tail++;
    tern_netif_input(nif, p, false);
    fed++;
  }
  return fed;
}

static const tern_netif_driver fake_nic_driver = {
    .name = "fake-mac",
    .output = fake_nic_output,
    .poll = fake_nic_poll,
};

/* ---- TCP echo (RFC 862) on the raw API --------------------------------- */

/* Echo what arrives. Refuse the data (TERN_EAGAIN: the stack offers it
 * again later, the window stays closed) while the send buffer cannot take
 * all of it, so nothing is ever half echoed. */
static int echo_recv(void *arg, tern_tcp *pcb, tern_pbuf *p) {
  (void)arg;
  if (p == NULL) { /* the peer's FIN: close our side too */
    if (tern_tcp_close(pcb) != TERN_OK)
      tern_tcp_abort(pcb);
    return TERN_ECLOSED;
  }
  size_t total = tern_pbuf_tot_len(p);
  if (tern_tcp_sndbuf(pcb) < total)
    return TERN_EAGAIN;
  for (tern_pbuf *q = p; q != NULL; q = tern_pbuf_next(q)) {
    size_t len = tern_pbuf_len(q);
    long n = tern_tcp_write(pcb, tern_pbuf_data(q), len, TERN_TCP_WRITE_COPY);
    if (n < 0 || (size_t)n != len) { /* pool dry: give up on this peer */
      tern_pbuf_free(p);
      tern_tcp_abort(pcb);
      return TERN_ECLOSED;
    }
  }
  tern_tcp_recved(pcb, (uint32_t)total);
  tern_pbuf_free(p);
  return TERN_OK;
}

/* Accepted connections inherit the listener's callbacks (tern/ip.h). */
static int echo_accept(void *arg, tern_tcp *newpcb) {
  (void)arg;
  (void)newpcb;
  return TERN_OK;
}

static const tern_tcp_cbs echo_cbs = {
    .recv = echo_recv,
    .accept = echo_accept,
};

/* ---- memory and configuration ------------------------------------------ */

/* The packet budget: every frame, queued segment and reassembly buffer
 * comes from this array (tern_stack_opts.pool_mem); nothing else grows. */
#define POOL_BYTES (24u * 1024u)
static _Alignas(8) uint8_t packet_pool[POOL_BYTES];

static void addr4(tern_addr *a, uint8_t b0, uint8_t b1, uint8_t b2,
                  uint8_t b3) {
  memset(a, 0, sizeof *a);
  a->family = TERN_AF_INET;
  a->ip[0] = b0;
  a->ip[1] = b1;
  a->ip[2] = b2;
  a->ip[3] = b3;
}

/* Halt on a start-up failure (a real board blinks an LED). */
static void fail(void) {
  for (;;)
    board_idle();
}

int main(void) {
  tern_stack_opts so = {
      .pool_bytes = sizeof packet_pool,
      .pool_mem = packet_pool,
      .pool_block = 1536,
      .max_tcp = 4,
      .max_time_wait = 2,
      .max_udp = 2,
      .tcp_snd_buf = 4096,
      .tcp_rcv_wnd = 4096,
      .tcp_syn_backlog = 4,
      .arp_entries = 8,
      .arp_queue = 2,
      .reass_max_bytes = 4096,
      .random = board_random,
  };
  tern_stack *st;
  if (tern_stack_new(&st, &so) != TERN_OK)
    fail();

  tern_netif_opts no = {
      .name = "eth0",
      .flags = TERN_NETIF_ETHERNET,
      .mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01}, /* locally administered */
      .mtu = 1500,
      .prefix_len = 24,
      .driver = &fake_nic_driver,
      .driver_state = &nic0,
  };
  addr4(&no.addr, 192, 168, 1, 50);
  addr4(&no.gw, 192, 168, 1, 1);
  tern_netif *nif;
  if (tern_netif_add(st, &no, &nif) != TERN_OK)
    fail();
  tern_netif_set_up(nif, true);

  tern_tcp *lis = tern_tcp_new(st);
  tern_addr any;
  addr4(&any, 0, 0, 0, 0);
  any.port = 7;
  if (lis == NULL || tern_tcp_bind(lis, &any) != TERN_OK)
    fail();
  tern_tcp_set_callbacks(lis, &echo_cbs, NULL);
  if (tern_tcp_listen(lis, 2) != TERN_OK)
    fail();

  /* The superloop: tell the stack the time (runs its due timers), feed
   * what the MAC received, sleep until the next interrupt when idle. */
  for (;;) {
    tern_stack_advance(st, tern_port_clock_ms());
    if (fake_nic_driver.poll(nif) == 0)
      board_idle();
  }
}
