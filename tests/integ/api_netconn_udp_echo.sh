#!/usr/bin/env bash
# netconn UDP on tern's own stack against the Linux kernel: the tern side
# is examples/netconn_udp_echo_tap.c (UDP echo with the netconn API, on a
# TAP in a network namespace this test creates), the kernel side nc -u.
# Datagrams of 20 B, 1400 B and 8000 B (IP fragments, reassembled by
# tern) must come back unchanged; in both threading modes.
set -uo pipefail
bindir=$1
tern=$bindir/example_netconn_udp_echo_tap
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for TAP and network namespaces"; exit 77; }
[ -x "$tern" ] || { echo "SKIP: example_netconn_udp_echo_tap not built"; exit 77; }
command -v nc >/dev/null || { echo "SKIP: no nc"; exit 77; }
nc -h 2>&1 | grep -q 'OpenBSD' || { echo "SKIP: OpenBSD netcat needed"; exit 77; }
ns=ternue$$
ip netns add $ns 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
work=$(mktemp -d); pid=
cleanup() {
  [ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
  ip netns del $ns 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/tern" ] && tail -5 "$work/tern"; exit 1; }

start() { # IFNAME SUBNET [--lock]
  ip netns exec $ns "$tern" $1 $2.2/24 --secs 100 ${3:-} > "$work/tern" 2>&1 &
  pid=$!
  for _ in $(seq 100); do ip -n $ns link show $1 >/dev/null 2>&1 && break; sleep 0.05; done
  ip -n $ns addr add $2.1/24 dev $1 && ip -n $ns link set $1 up || fail "TAP $1 did not appear"
  for _ in $(seq 100); do grep -q ready "$work/tern" && break; sleep 0.05; done
  sleep 0.2
}
stop() { kill -TERM $pid; wait $pid || fail "tern side exited with $?"; pid=; }

run() { # SUBNET IFNAME MODE-FLAG LABEL
  start $2 $1 $3
  for size in 20 1400 8000; do
    head -c $size /dev/urandom > "$work/d$size"
    # one datagram out (nc -u sends what it reads in one write), the echo
    # back; -w1 ends nc a second after the last packet
    ip netns exec $ns timeout 10 nc -u -w 1 $1.2 7 < "$work/d$size" > "$work/d$size.out"
    cmp -s "$work/d$size" "$work/d$size.out" || fail "$4: $size-byte datagram: got $(stat -c %s "$work/d$size.out") bytes back, or different ones"
  done
  stop
  grep -q '^datagrams=3$' "$work/tern" || fail "$4: tern counted $(grep datagrams "$work/tern")"
  echo "ok: $4: datagrams of 20, 1400 and 8000 bytes echoed intact"
}

run 10.83.0 tue$$ "" "message passing"
run 10.83.1 tul$$ --lock "core locking"
echo PASS
