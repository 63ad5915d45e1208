#!/usr/bin/env bash
# IPv4 multicast on tern's own stack against the Linux kernel: the tern
# side is examples/netconn_udp_echo_tap.c --group 239.1.2.3 (a UDP echo
# netconn that joined the group) on a TAP in a network namespace this test
# creates; the kernel side is /usr/bin/python3 with plain sockets:
#  - an IGMP general query (raw IGMP socket) must bring tern's IGMPv2
#    report for 239.1.2.3 (RFC 2236) within the Max Response Time;
#  - a datagram to 239.1.2.3:7 must be echoed back;
#  - one to 239.1.2.4:7 (not joined) must not be.
# In both threading modes.
set -uo pipefail
bindir=$1
tern=$bindir/example_netconn_udp_echo_tap
py=/usr/bin/python3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for TAP and network namespaces"; exit 77; }
[ -x "$tern" ] || { echo "SKIP: example_netconn_udp_echo_tap not built"; exit 77; }
[ -x "$py" ] || { echo "SKIP: no $py"; exit 77; }
ns=ternmc$$
ip netns add $ns 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
work=$(mktemp -d); pid=
cleanup() {
  [ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
  ip netns del $ns 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/tern" ] && tail -5 "$work/tern"; exit 1; }

cat > "$work/peer.py" <<'EOF'
import socket, struct, sys, time
me, group, other, ifname = sys.argv[1:5]

def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

# 1. a general query (Max Response Time 1 s); tern's report must follow.
# The kernel delivers IGMP for groups it has not joined to no socket:
# watch the TAP with a packet socket instead.
sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
sniff.bind((ifname, 0))
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
r.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(me))
r.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
q = struct.pack('!BBH4s', 0x11, 10, 0, bytes(4))
q = q[:2] + struct.pack('!H', csum(q)) + q[4:]
r.sendto(q, ('224.0.0.1', 0))
sniff.settimeout(0.5)
deadline, seen = time.time() + 3, False
while time.time() < deadline and not seen:
    try:
        pkt = sniff.recv(256)[14:]
    except socket.timeout:
        continue
    if len(pkt) < 20 or pkt[9] != 2 or socket.inet_ntoa(pkt[12:16]) == me:
        continue
    ihl = (pkt[0] & 15) * 4
    m = pkt[ihl:ihl + 8]
    if len(m) == 8 and m[0] == 0x16 and socket.inet_ntoa(m[4:8]) == group:
        if pkt[8] != 1 or csum(m) != 0:
            print('bad report: ttl %d' % pkt[8]); sys.exit(1)
        seen = True
if not seen:
    print('no IGMPv2 report for %s after a query' % group); sys.exit(1)
print('report ok')

# 2. data to the group comes back, to another group does not
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(me))
u.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
u.bind((me, 0))
u.settimeout(2)
u.sendto(b'to the group', (group, 7))
try:
    d, src = u.recvfrom(100)
except socket.timeout:
    print('no echo of the datagram sent to %s' % group); sys.exit(1)
if d != b'to the group':
    print('echo differs: %r' % d); sys.exit(1)
print('group echo ok from', src[0])
u.settimeout(1)
u.sendto(b'elsewhere', (other, 7))
try:
    d, src = u.recvfrom(100)
    print('a datagram to %s (not joined) was echoed' % other); sys.exit(1)
except socket.timeout:
    pass
print('other group ignored ok')
EOF

run() { # SUBNET IFNAME MODE-FLAG LABEL
  ip netns exec $ns "$tern" $2 $1.2/24 --secs 100 --group 239.1.2.3 ${3:-} \
    > "$work/tern" 2>&1 &
  pid=$!
  for _ in $(seq 100); do ip -n $ns link show $2 >/dev/null 2>&1 && break; sleep 0.05; done
  ip -n $ns addr add $1.1/24 dev $2 && ip -n $ns link set $2 up &&
    ip -n $ns link set $2 allmulticast on || fail "TAP $2 did not appear"
  ip -n $ns route add 224.0.0.0/4 dev $2 2>/dev/null
  for _ in $(seq 100); do grep -q ready "$work/tern" && break; sleep 0.05; done
  sleep 0.2
  ip netns exec $ns timeout 20 $py "$work/peer.py" $1.1 239.1.2.3 239.1.2.4 $2 \
    > "$work/py" 2>&1 || { cat "$work/py"; fail "$4"; }
  kill -TERM $pid; wait $pid || fail "$4: tern side exited with $?"; pid=
  grep -q '^datagrams=1$' "$work/tern" || fail "$4: tern counted $(grep datagrams "$work/tern")"
  echo "ok: $4: $(tr '\n' ';' < "$work/py")"
}

run 10.84.0 tme$$ "" "message passing"
run 10.84.1 tml$$ --lock "core locking"
echo PASS
