#!/usr/bin/env bash
# tools/arm_build.sh [OUTDIR] [--size]: build tern's built-in TCP/IP stack
# for a Cortex-M4 without an OS (TERN_NO_SYS=1), link the superloop
# firmware of examples/mcu/ against newlib's nosys stubs, and report code
# size. `make arm` runs it; `make arm-size` adds the per-object table.
#
# What is compiled (each with -Werror, so the build cannot rot):
#   stack    src/ip/*.c but the drivers (and tcp_stub.c once tcp.c exists,
#            as CMakeLists.txt does); never src/ip/linux/
#   drivers  src/ip/drv_*.c (the in-memory wire and the pcap writer are
#            plain C; they are compiled and sized, the firmware needs none)
#   base     the files a firmware needs: errors, clock, log, addresses,
#            buffers
#   port     src/port/nosys/*.c
#   app      examples/mcu/*.c
#   api      src/api/*.c and the DNS codec they use (src/base/dns_msg.c):
#            netconn/sockets need threads, so they need an RTOS port
#            (tern/port.h); they are compiled (TERN_NO_SYS=0) and sized,
#            not linked
# The link (--specs=nosys.specs, --gc-sections) fails on any symbol that
# bare metal does not provide (a POSIX call, a missing function).
#
# ARM_DEFS adds compiler options, e.g. the switches of a smaller build:
#   ARM_DEFS="-DTERN_ENABLE_IGMP=0 -DTERN_ENABLE_IP_RAW=0 -DTERN_IP_ACD=0" \
#     bash tools/arm_build.sh build/arm-min
# (use a separate OUTDIR: objects are rebuilt only when sources change).
#
# Without arm-none-eabi-gcc it says so loudly and exits 0 (make test on a
# machine that has not run tools/bootstrap); TERN_ARM_REQUIRED=1 makes
# that an error instead.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=build/arm
SIZE_TABLE=0
for a in "$@"; do
  case "$a" in
  --size) SIZE_TABLE=1 ;;
  -*) echo "arm_build.sh: unknown option $a" >&2; exit 2 ;;
  *) OUT=$a ;;
  esac
done

CC=${ARM_CC:-arm-none-eabi-gcc}
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "#####################################################################"
  echo "# arm: SKIPPED: $CC not found, the Cortex-M4 build did not run."
  echo "# Install it with: make bootstrap (gcc-arm-none-eabi,"
  echo "# libnewlib-arm-none-eabi)."
  echo "#####################################################################"
  [ "${TERN_ARM_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
fi
PREFIX=${CC%gcc}
SIZE=${PREFIX}size
NM=${PREFIX}nm

CPU_FLAGS=(-mcpu=cortex-m4 -mthumb)
CFLAGS=("${CPU_FLAGS[@]}" -Os -g -ffunction-sections -fdata-sections
  -std=c11 -DTERN_NO_SYS=1 -DNDEBUG
  -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion
  -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla
  -Wdouble-promotion -Werror
  -Iinclude -Isrc ${ARM_DEFS:-})
LDFLAGS=("${CPU_FLAGS[@]}" --specs=nano.specs --specs=nosys.specs
  -Wl,--gc-sections -Wl,--no-warn-rwx-segments)

# ---- the file lists ------------------------------------------------------
STACK=()
for f in src/ip/*.c; do
  case "$(basename "$f")" in
  drv_*) ;;
  tcp_stub.c) [ -e src/ip/tcp.c ] || STACK+=("$f") ;;
  *) STACK+=("$f") ;;
  esac
done
DRIVERS=(src/ip/drv_*.c)
# The stack itself needs no base object: only its header.
BASE=(src/base/err.c src/base/clock.c src/base/log.c src/base/addr.c src/base/buf.c)
PORT=(src/port/nosys/*.c)
APP=(examples/mcu/*.c)
API=(src/api/*.c src/base/dns_msg.c)

# ---- compile (two at a time: the machine is shared) ----------------------
mkdir -p "$OUT/obj"
# This linker flag is newer than some binutils; drop it where unknown.
if ! "$CC" "${CPU_FLAGS[@]}" -Wl,--no-warn-rwx-segments -x c -c /dev/null \
  -o "$OUT/probe.o" >/dev/null 2>&1 ||
  ! echo 'int main(void){return 0;}' | "$CC" "${LDFLAGS[@]}" -x c - \
    -o "$OUT/probe.elf" >/dev/null 2>&1; then
  LDFLAGS=("${CPU_FLAGS[@]}" --specs=nano.specs --specs=nosys.specs
    -Wl,--gc-sections)
fi
rm -f "$OUT/probe.o" "$OUT/probe.elf"

obj_of() { # src/ip/tcp.c -> OUT/obj/ip_tcp.o
  local s=${1#src/}
  s=${s#examples/}
  echo "$OUT/obj/$(echo "${s%.c}" | tr '/' '_').o"
}

ALL=("${STACK[@]}" "${DRIVERS[@]}" "${BASE[@]}" "${PORT[@]}" "${APP[@]}"
  "${API[@]}")
is_api() { case " ${API[*]} " in *" $1 "*) return 0 ;; esac; return 1; }
echo "arm: $CC $("$CC" -dumpversion), ${#ALL[@]} files -> $OUT"
fail=0
pids=()
for f in "${ALL[@]}"; do
  o=$(obj_of "$f")
  if [ ! -e "$o" ] || [ "$f" -nt "$o" ] || [ -n "$(find include src/ip \
    src/base src/api src/port/nosys -name '*.h' -newer "$o" -print -quit)" ]; then
    flags=("${CFLAGS[@]}")
    if is_api "$f"; then flags=("${CFLAGS[@]/-DTERN_NO_SYS=1/-DTERN_NO_SYS=0}"); fi
    ( "$CC" "${flags[@]}" -c "$f" -o "$o.tmp" 2>"$o.log" && mv "$o.tmp" "$o" ) &
    pids+=("$!:$f")
  fi
  if [ ${#pids[@]} -ge 2 ]; then
    p=${pids[0]}
    pids=("${pids[@]:1}")
    wait "${p%%:*}" || { fail=1; echo "arm: FAILED: ${p#*:}"; cat "$(obj_of "${p#*:}").log"; }
  fi
done
for p in "${pids[@]}"; do
  wait "${p%%:*}" || { fail=1; echo "arm: FAILED: ${p#*:}"; cat "$(obj_of "${p#*:}").log"; }
done
[ "$fail" = 0 ] || { echo "arm: compile errors (above)"; exit 1; }

objs() { for f in "$@"; do obj_of "$f"; done; }

# ---- link the firmware ---------------------------------------------------
FW=$OUT/superloop.elf
mapfile -t LINK_OBJS < <(objs "${APP[@]}" "${STACK[@]}" "${PORT[@]}" "${BASE[@]}")
"$CC" "${LDFLAGS[@]}" -Wl,-Map="$OUT/superloop.map" "${LINK_OBJS[@]}" \
  -o "$FW"
# --gc-sections drops unreachable functions before it looks for their
# symbols, so that link only checks what the example calls. Link every
# object again with nothing dropped: any function anywhere in the stack,
# the drivers, base or port that calls something bare metal lacks fails
# here. (newlib's nosys stubs satisfy the pcap writer's stdio; they fail
# at run time, which is what a firmware without a file system expects.)
mapfile -t EVERY_OBJ < <(objs "${APP[@]}" "${STACK[@]}" "${PORT[@]}" \
  "${BASE[@]}" "${DRIVERS[@]}")
LDFLAGS_ALL=()
for f in "${LDFLAGS[@]}"; do
  [ "$f" = -Wl,--gc-sections ] || LDFLAGS_ALL+=("$f")
done
"$CC" "${LDFLAGS_ALL[@]}" "${EVERY_OBJ[@]}" \
  -o "$OUT/all_objects.elf" 2>"$OUT/all_objects.log" || {
  cat "$OUT/all_objects.log"
  echo "arm: FAILED: linking every object without --gc-sections"
  exit 1
}

# ---- sizes -----------------------------------------------------------------
# The pcb and other structures as laid out on this 32-bit target: each is
# the size of an array in a generated object (no code runs on the target).
cat >"$OUT/sizeof.c" <<'EOF'
#include "ip/ip_internal.h"
#include "ip/tcp_internal.h"
char tern_sizeof_tcp[sizeof(struct tern_tcp)];
char tern_sizeof_pbuf[sizeof(struct tern_pbuf)];
char tern_sizeof_pool_block_hdr[(sizeof(struct tern_pbuf) + 15u) & ~15u];
char tern_sizeof_netif[sizeof(struct tern_netif)];
char tern_sizeof_stack[sizeof(struct tern_stack)];
char tern_sizeof_tcp_ctx[sizeof(struct tcp_ctx)];
EOF
"$CC" "${CFLAGS[@]}" -Wno-missing-variable-declarations -c "$OUT/sizeof.c" \
  -o "$OUT/sizeof.o"
sizeof() { # name -> decimal bytes
  local hex
  hex=$("$NM" -S "$OUT/sizeof.o" | awk -v s="tern_sizeof_$1" '$4 == s { print $2 }')
  echo $((16#$hex))
}

# The map's kept input sections summed by group (no strtonum: mawk).
map_sum_awk() {
  cat <<'AWK'
# Sum the sizes of input sections kept in a GNU ld map, by group.
function grp(f,   b) {
  b = f; sub(/.*\//, "", b)
  if (f ~ /\/obj\/ip_tcp/) return "tcp"
  if (f ~ /\/obj\/ip_/) return "stack"
  if (f ~ /\/obj\/port_/) return "port"
  if (f ~ /\/obj\/base_/) return "base"
  if (f ~ /\/obj\/mcu_/) return "app"
  return "libc"
}
function hex(h,   i, c, v) {
  v = 0; h = tolower(h); sub(/^0x/, "", h)
  for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
  return v
}
function add(sec, size, file,   k) {
  if (file == "" || size == 0) return
  k = (out ~ /^\.(bss|noinit)/) ? "bss" : (out ~ /^\.data/) ? "data" : "text"
  if (out ~ /^\.(debug|comment|ARM\.attributes|stab)/) return
  sum[grp(file), k] += size
}
/^Linker script and memory map/ { on = 1; next }
!on { next }
/^\.[A-Za-z_]/ { out = $1; pend = ""; next }
/^ \*fill\*/ { next }
/^ [.A-Za-z_]/ && $1 !~ /^\*/ {
  if (NF >= 4 && $2 ~ /^0x/) { add($1, hex($3), $4); pend = "" }
  else if (NF == 1) pend = $1
  next
}
pend != "" && /^ +0x/ && NF >= 3 { add(pend, hex($2), $3); pend = ""; next }
{ pend = "" }
END {
  n = split("stack tcp port base app libc", g, " ")
  names["stack"] = "stack without TCP"; names["tcp"] = "TCP (tcp*.c)"
  names["port"] = "port"; names["base"] = "base"; names["app"] = "app"
  names["libc"] = "newlib-nano, libgcc, crt"
  for (i = 1; i <= n; i++)
    printf "%s|%d|%d|%d\n", names[g[i]], sum[g[i], "text"], sum[g[i], "data"], sum[g[i], "bss"]
}
AWK
}

# text/data/bss of a group of objects: the table (with --size) and a total.
group() { # title objs...
  local title=$1
  shift
  if [ "$SIZE_TABLE" = 1 ]; then
    echo "-- $title"
    "$SIZE" "$@" | awk 'NR == 1 { printf "%8s %6s %6s  %s\n", "text", "data", "bss", "object"; next }
      { n = split($6, p, "/"); printf "%8d %6d %6d  %s\n", $1, $2, $3, p[n] }'
  fi
  "$SIZE" -t "$@" | awk -v t="$title" 'END { printf "%-34s text %7d  data %5d  bss %5d  (%.1f KB text)\n", t, $1, $2, $3, $1 / 1024 }'
}

echo
echo "== arm: code size, Cortex-M4 Thumb-2, -Os, per object before --gc-sections"
# The stack proper (what lwIP's "ARP/IPv4/ICMP/UDP/TCP" figure covers);
# DHCP and the optional modules (conflict detection, IGMP, raw pcbs:
# lwIP's AUTOIP/ACD, IGMP and RAW options) are reported on their own.
optional() { case "$1" in src/ip/dhcp*|src/ip/acd.c|src/ip/igmp.c|src/ip/raw.c) return 0 ;; esac; return 1; }
mapfile -t O_STACK < <(for f in "${STACK[@]}"; do optional "$f" || obj_of "$f"; done)
mapfile -t O_HELPERS < <(for f in "${STACK[@]}"; do case "$f" in src/ip/dhcp*) obj_of "$f" ;; esac; done)
mapfile -t O_OPT < <(for f in "${STACK[@]}"; do case "$f" in src/ip/acd.c|src/ip/igmp.c|src/ip/raw.c) obj_of "$f" ;; esac; done)
mapfile -t O_TCP < <(for f in "${STACK[@]}"; do case "$f" in src/ip/tcp*) obj_of "$f" ;; esac; done)
mapfile -t O_DRV < <(objs "${DRIVERS[@]}")
mapfile -t O_BASE < <(objs "${BASE[@]}")
mapfile -t O_PORT < <(objs "${PORT[@]}")
mapfile -t O_APP < <(objs "${APP[@]}")
group "stack (eth arp ipv4 icmp udp tcp)" "${O_STACK[@]}"
[ ${#O_TCP[@]} -gt 0 ] && group "  of which TCP (tcp*.c)" "${O_TCP[@]}"
[ ${#O_HELPERS[@]} -gt 0 ] && group "bring-up helpers (DHCP)" "${O_HELPERS[@]}"
[ ${#O_OPT[@]} -gt 0 ] && group "optional (acd igmp raw)" "${O_OPT[@]}"
group "drivers (wire, pcap, csum)" "${O_DRV[@]}"
group "base (clock log addr buf)" "${O_BASE[@]}"
group "port (nosys)" "${O_PORT[@]}"
group "example app (superloop.c)" "${O_APP[@]}"
mapfile -t O_API < <(for f in "${API[@]}"; do case "$f" in src/api/netdb.c|src/base/*) ;; *) obj_of "$f" ;; esac; done)
mapfile -t O_NETDB < <(for f in "${API[@]}"; do case "$f" in src/api/netdb.c|src/base/*) obj_of "$f" ;; esac; done)
group "api (netconn sockets tcpip; RTOS)" "${O_API[@]}"
group "api names (netdb + DNS codec)" "${O_NETDB[@]}"
echo "   (for scale, lwIP's netconn + sockets: ~11.7 KB text)"
echo "-- linked into the example firmware (after --gc-sections: only what a"
echo "   TCP echo server reaches; from $OUT/superloop.map):"
awk -f <(map_sum_awk) "$OUT/superloop.map" | while IFS="|" read -r g t d b; do
  printf '%-34s text %7d  data %5d  bss %5d\n' "   $g" "$t" "$d" "$b"
done
"$SIZE" "$FW" | awk 'NR == 2 { printf "%-34s text %7d  data %5d  bss %5d\n", "superloop.elf (whole image)", $1, $2, $3 }'
echo "   (app bss is its 24 KiB packet pool and the fake MAC's rings)"
echo "-- structures on 32-bit:"
printf '   struct tern_tcp (pcb) %4d bytes   struct tern_pbuf %3d (pool block header %d)\n' \
  "$(sizeof tcp)" "$(sizeof pbuf)" "$(sizeof pool_block_hdr)"
printf '   struct tern_netif     %4d bytes   struct tern_stack %d, struct tcp_ctx %d\n' \
  "$(sizeof netif)" "$(sizeof stack)" "$(sizeof tcp_ctx)"
echo "   (for scale, lwIP 2.x on Cortex-M4: about 23.6 KB text for the same"
echo "   layers, a 156-byte tcp_pcb)"
echo "arm: OK"
