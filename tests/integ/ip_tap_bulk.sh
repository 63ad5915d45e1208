#!/usr/bin/env bash
# Bulk TCP through tern's own stack on a TAP device against the Linux
# kernel, in a network namespace this test creates: 32 MB each way with an
# FNV-1a hash of every byte compared at both ends; 16 connections sending
# 2 MB each at once; and 4 MB each way with 1% loss and 1% reordering
# injected in tern's TAP driver. The tern side is examples/tap_tcp_server.c (raw
# TCP API, superloop), the kernel side tests/tools/tcp_blast.c.
set -uo pipefail
bindir=$1
tern=$bindir/example_tap_tcp_server blast=$bindir/tcp_blast
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for TAP and network namespaces"; exit 77; }
[ -x "$tern" ] && [ -x "$blast" ] || { echo "SKIP: tcp_blast or example_tap_tcp_server not built"; exit 77; }
ns=ternk$$
ip netns add $ns 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
work=$(mktemp -d); pid=
cleanup() {
  [ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
  ip netns del $ns 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/tern" ] && tail -5 "$work/tern"; exit 1; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | tail -1; }

# start IFNAME SUBNET BYTES [IMPAIR]: the tern side at SUBNET.2
start() {
  ip netns exec $ns "$tern" $1 $2.2/24 --bytes $3 ${4:+--impair $4} --secs 100 \
    > "$work/tern" 2>&1 &
  pid=$!
  for _ in $(seq 100); do ip -n $ns link show $1 >/dev/null 2>&1 && break; sleep 0.05; done
  ip -n $ns addr add $2.1/24 dev $1 && ip -n $ns link set $1 up || fail "TAP $1 did not appear"
  sleep 0.2
}
stop() { kill -TERM $pid; wait $pid; pid=; }

# send BYTES to sink port 9, fetch BYTES from source port 19; compare
both_ways() {
  local ip=$1 bytes=$2 what=$3 tx rx sink
  tx=$(ip netns exec $ns timeout 60 "$blast" send $ip 9 $bytes) || fail "$what: send"
  sleep 0.2
  sink=$(grep -a '^sink' "$work/tern" | tail -1)
  [ "$(echo "$sink" | field bytes)" = "$bytes" ] || fail "$what: tern got '$sink'"
  [ "$(echo "$sink" | field fnv)" = "$(echo "$tx" | field fnv)" ] || fail "$what: kernel->tern data differs"
  rx=$(ip netns exec $ns timeout 60 "$blast" recv $ip 19) || fail "$what: recv"
  [ "$(echo "$rx" | field bytes)" = "$bytes" ] || fail "$what: kernel got '$rx'"
  [ "$(echo "$rx" | field fnv)" = "$(echo "$tx" | field fnv)" ] || fail "$what: tern->kernel data differs"
  echo "ok: $what: kernel->tern $(echo "$tx" | field MBps) MB/s, tern->kernel $(echo "$rx" | field MBps) MB/s, hashes equal"
}

start tkb$$ 10.81.0 32000000
both_ways 10.81.0.2 32000000 "32 MB each way"
# 16 connections at once into the hashed sink
for i in $(seq 16); do
  ip netns exec $ns timeout 60 "$blast" send 10.81.0.2 9 2000000 > "$work/tx$i" &
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null
sleep 0.3
want=$(field fnv < "$work/tx1")
n=$(grep -a '^sink bytes=2000000 ' "$work/tern" | grep -c "fnv=$want")
[ "$n" = 16 ] || fail "16 concurrent connections: $n of 16 arrived intact"
echo "ok: 16 concurrent connections of 2 MB, all intact"
stop

start tkc$$ 10.81.1 4000000 0.01,0.01
both_ways 10.81.1.2 4000000 "4 MB each way, 1% loss + 1% reordering"
stop
echo PASS
