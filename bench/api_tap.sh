#!/usr/bin/env bash
# bench/api_tap.sh BUILD_DIR: the cost of the sequential APIs. TCP
# throughput through a TAP device against the Linux kernel, both
# directions, of the same stack used three ways: the raw API in a
# superloop (examples/tap_tcp_server.c), and blocking sockets with a thread
# per connection (examples/sock_echo_tap.c) in each threading mode
# (messages to the stack thread; core locking). Prints MB/s and the
# sockets/raw ratio per direction:
#   raw tx=.. rx=..   msg tx=.. rx=.. ratio_tx=.. ratio_rx=..   lock ...
# (tx: kernel -> tern, into a discard server; rx: tern -> kernel, from a
# source server.) For per-call cost see bench/api_call.c.
#
#   BYTES=200000000 bash bench/api_tap.sh build/release
#
# Needs root and `ip netns`; everything lives in a namespace it creates.
set -uo pipefail
B=${1:-build/release}
BYTES=${BYTES:-200000000}
blast=$B/tcp_blast raw=$B/example_tap_tcp_server sock=$B/example_sock_echo_tap
for f in "$blast" "$raw" "$sock"; do
  [ -x "$f" ] || { echo "api_tap: $f missing (build $B first)"; exit 1; }
done
if [ "$(id -u)" != 0 ] || ! ip netns add ternapib$$ 2>/dev/null; then
  echo "api_tap: SKIP: needs root and network namespaces"; exit 0
fi
ns=ternapib$$ pid=
cleanup() {
  [ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
  ip netns del $ns 2>/dev/null
}
trap cleanup EXIT
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | tail -1; }
export TCP_BLAST_NOHASH=1

# measure LABEL IFNAME SUBNET PROG [EXTRA-ARG]: prints "tx rx"
measure() {
  local tap=$2 net=$3 prog=$4 extra=${5:-}
  ip netns exec $ns "$prog" $tap $net.2/24 --bytes "$BYTES" --secs 600 $extra > /tmp/api_tap.$$ 2>&1 &
  pid=$!
  for _ in $(seq 100); do ip -n $ns link show $tap >/dev/null 2>&1 && break; sleep 0.05; done
  ip -n $ns addr add $net.1/24 dev $tap; ip -n $ns link set $tap up
  sleep 0.5
  local tx rx
  tx=$(ip netns exec $ns timeout 300 "$blast" send $net.2 10 "$BYTES" | field MBps)
  sleep 0.2
  rx=$(ip netns exec $ns timeout 300 "$blast" recv $net.2 19 | field MBps)
  kill -TERM $pid; wait $pid 2>/dev/null; pid=
  echo "$tx $rx"
}

read raw_tx raw_rx < <(measure raw tpr$$ 10.84.0 "$raw")
read msg_tx msg_rx < <(measure msg tpm$$ 10.84.1 "$sock")
read lock_tx lock_rx < <(measure lock tpl$$ 10.84.2 "$sock" --lock)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "raw tx=$raw_tx rx=$raw_rx  msg tx=$msg_tx rx=$msg_rx ratio_tx=$(ratio "$msg_tx" "$raw_tx") ratio_rx=$(ratio "$msg_rx" "$raw_rx")  lock tx=$lock_tx rx=$lock_rx ratio_tx=$(ratio "$lock_tx" "$raw_tx") ratio_rx=$(ratio "$lock_rx" "$raw_rx")"
