#!/usr/bin/env bash
# tern's own stack on a TAP device, pinged by the Linux kernel: ARP, ICMP
# echo, and a 4000-byte ping that the kernel fragments (the stack
# reassembles it, answers, and fragments its answer). Everything happens
# in a fresh network namespace, so the host's interfaces are untouched.
# Runs examples/tap_ping.c, with --pcap so the capture is checked too,
# and --udp-echo: UDP datagrams from a kernel socket reach us with partial
# checksums (virtio NEEDS_CSUM), which the driver finishes; the capture
# must show them valid, and the echoes must come back intact.
# Usage: ip_tap_ping.sh BUILD_DIR   (exit 77: skipped, no root / netns /
# /dev/net/tun / ping)
set -euo pipefail
bindir=$1
skip() { echo "SKIP: $*: the TAP driver is NOT tested against the kernel"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (TAP device and network namespace)"
command -v ip >/dev/null || skip "no ip(8) (iproute2)"
command -v ping >/dev/null || skip "no ping (iputils-ping)"
PY=$(command -v /usr/bin/python3 || command -v python3) || skip "no python3"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
prog="$bindir/example_tap_ping"
[ -x "$prog" ] || { echo "FAIL: no example_tap_ping in $bindir"; exit 1; }

ns="tern_ping_$$"
dev="tern$$"
dev=${dev:0:15}
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns" 2>/dev/null || skip "ip netns add failed (no namespaces here)"
fail() {
  echo "FAIL: $*"
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  pid=
  echo "--- tap_ping output:"; cat "$tmp/out" 2>/dev/null || true
  exit 1
}

ip netns exec "$ns" "$prog" --pcap "$tmp/cap.pcap" --udp-echo 7 "$dev" 10.77.0.2/24 20 \
  >"$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 50); do
  ip -n "$ns" link show "$dev" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || fail "tap_ping exited early"
  sleep 0.1
done
ip -n "$ns" link show "$dev" >/dev/null 2>&1 || fail "device $dev did not appear"
ip -n "$ns" addr add 10.77.0.1/24 dev "$dev"
ip -n "$ns" link set "$dev" up

ip netns exec "$ns" ping -c 5 -i 0.2 -W 2 10.77.0.2 >"$tmp/ping1" 2>&1 ||
  { cat "$tmp/ping1"; fail "ping 10.77.0.2"; }
grep -q " 0% packet loss" "$tmp/ping1" || { cat "$tmp/ping1"; fail "ping lost packets"; }
# 4000 bytes: three fragments each way (MTU 1500)
ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 -s 4000 10.77.0.2 >"$tmp/ping2" 2>&1 ||
  { cat "$tmp/ping2"; fail "ping -s 4000 (fragmented) 10.77.0.2"; }
grep -q "4008 bytes from 10.77.0.2" "$tmp/ping2" || { cat "$tmp/ping2"; fail "no full-size echo reply"; }
# the kernel learned our MAC through ARP
ip -n "$ns" neigh show 10.77.0.2 | grep -q lladdr || fail "no ARP entry for 10.77.0.2"

# UDP echo: sizes around the offload limit and one that is fragmented
ip netns exec "$ns" "$PY" - >"$tmp/udp" 2>&1 <<'PYEOF' || { cat "$tmp/udp"; fail "UDP echo"; }
import socket, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for n in (1, 100, 1000, 1472, 3000):
    data = os.urandom(n)
    for attempt in range(3):
        s.sendto(data, ("10.77.0.2", 7))
        try:
            got, _ = s.recvfrom(65536)
            break
        except socket.timeout:
            got = None
    assert got == data, "echo of %d bytes: %r" % (n, None if got is None else len(got))
print("udp echo ok")
PYEOF

kill -TERM "$pid"
wait "$pid" || fail "tap_ping exit status $?"
pid=
cat "$tmp/out"
grep -q "reass_ok=[1-9]" "$tmp/out" || fail "no reassembled datagram counted"
# the capture: a pcap file with records in it (24-byte header + records)
size=$(stat -c %s "$tmp/cap.pcap")
[ "$size" -gt 1000 ] || fail "pcap capture only $size bytes"
magic=$(od -An -tx4 -N4 "$tmp/cap.pcap" | tr -d ' ')
[ "$magic" = a1b2c3d4 ] || fail "pcap magic $magic"
# every UDP datagram the kernel sent (src 10.77.0.1) is recorded after the
# driver finished its checksum: all must verify (RFC 768)
"$PY" - "$tmp/cap.pcap" >"$tmp/csum" 2>&1 <<'PYEOF' || { cat "$tmp/csum"; fail "UDP checksums in the capture"; }
import struct, sys
d = open(sys.argv[1], "rb").read()
off, checked = 24, 0
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return s
while off + 16 <= len(d):
    incl = struct.unpack("=I", d[off + 8:off + 12])[0]
    f = d[off + 16:off + 16 + incl]
    off += 16 + incl
    if len(f) < 42 or f[12:14] != b"\x08\x00" or f[23] != 17: continue
    ihl = (f[14] & 15) * 4
    frag = struct.unpack("!H", f[20:22])[0]
    if frag & 0x3fff: continue            # fragments: checked after reassembly
    if f[26:30] != bytes([10, 77, 0, 1]): continue  # ours go out partial
    ip = f[14:14 + struct.unpack("!H", f[16:18])[0]]
    udp = ip[ihl:]
    ph = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
    # complete, or partial (the pseudo-header sum alone, as the kernel
    # hands it over with NEEDS_CSUM: trusted, like virtio-net does)
    field = struct.unpack("!H", udp[6:8])[0]
    ok = csum(ph + udp) == 0xffff or field == csum(ph)
    assert ok, "bad UDP checksum in record at %d" % off
    checked += 1
assert checked >= 4, "only %d UDP datagrams from the kernel recorded" % checked
print("udp checksums ok:", checked)
PYEOF
cat "$tmp/csum"
grep -q "rx_csum_partial=[1-9]" "$tmp/out" || echo "note: the kernel sent no partial checksums (no TX offload on this TAP?)"
echo "PASS: ping, fragmented ping and ARP through tern's stack on TAP $dev"
