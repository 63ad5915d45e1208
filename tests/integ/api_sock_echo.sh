#!/usr/bin/env bash
# The sockets API on tern's own stack against the Linux kernel: the tern
# side is examples/sock_echo_tap.c (a blocking echo server, one thread per
# client, on a TAP in a network namespace this test creates); the kernel
# side is nc. Each run sends data and compares what comes back: a line, 1 MB
# of random bytes, and 4 clients of 256 KB at once; in both threading modes
# (messages to the stack thread, and core locking). Then names: the tern
# side looks names up over its stack (tern_netconn_gethostbyname) from
# dnsmasq on the kernel side: A records, a CNAME, NXDOMAIN, and 40
# records (truncated over UDP, asked again over TCP).
set -uo pipefail
bindir=$1
tern=$bindir/example_sock_echo_tap
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for TAP and network namespaces"; exit 77; }
[ -x "$tern" ] || { echo "SKIP: example_sock_echo_tap not built"; exit 77; }
command -v nc >/dev/null || { echo "SKIP: no nc"; exit 77; }
nc -h 2>&1 | grep -q -- ' -N' || nc -h 2>&1 | grep -q 'OpenBSD' || { echo "SKIP: nc without -N (OpenBSD netcat needed)"; exit 77; }
ns=ternse$$
ip netns add $ns 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
work=$(mktemp -d); pid=; dpid=
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
cleanup() {
  [ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
  [ -n "$dpid" ] && kill $dpid 2>/dev/null && wait $dpid 2>/dev/null
  ip netns del $ns 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/tern" ] && tail -5 "$work/tern"; exit 1; }

# start IFNAME SUBNET [--lock]: the tern side at SUBNET.2
start() {
  ip netns exec $ns "$tern" $1 $2.2/24 --secs 100 --dns $2.1 ${3:-} > "$work/tern" 2>&1 &
  pid=$!
  for _ in $(seq 100); do ip -n $ns link show $1 >/dev/null 2>&1 && break; sleep 0.05; done
  ip -n $ns addr add $2.1/24 dev $1 && ip -n $ns link set $1 up || fail "TAP $1 did not appear"
  for _ in $(seq 100); do grep -q ready "$work/tern" && break; sleep 0.05; done
  sleep 0.2
}
stop() { kill -TERM $pid; wait $pid || fail "tern side exited with $?"; pid=; }

# echo_file IP FILE NAME: send FILE through nc, compare the answer
echo_file() {
  ip netns exec $ns timeout 30 nc -N $1 7 < "$2" > "$work/$3.out" || fail "$3: nc failed"
  cmp -s "$2" "$work/$3.out" || fail "$3: echoed data differs ($(stat -c %s "$work/$3.out") of $(stat -c %s "$2") bytes back)"
}

printf 'hello, tern sockets\n' > "$work/line"
head -c 1000000 /dev/urandom > "$work/big"
for i in 1 2 3 4; do head -c 262144 /dev/urandom > "$work/p$i"; done

run() { # SUBNET IFNAME MODE-FLAG LABEL
  start $2 $1 $3
  echo_file $1.2 "$work/line" line
  echo_file $1.2 "$work/big" big
  for i in 1 2 3 4; do
    ip netns exec $ns timeout 30 nc -N $1.2 7 < "$work/p$i" > "$work/p$i.out" &
  done
  wait $(jobs -p | grep -v "^$pid$") 2>/dev/null
  for i in 1 2 3 4; do
    cmp -s "$work/p$i" "$work/p$i.out" || fail "$4: concurrent client $i: echoed data differs"
  done
  stop
  echo "ok: $4: a line, 1 MB, 4 clients x 256 KB at once, all echoed intact"
}

run 10.82.0 tse$$ "" "message passing"

# names through the stack from dnsmasq in the namespace
if [ -x "$DNSMASQ" ]; then
  start tsd$$ 10.82.2
  ip netns exec $ns "$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts \
    --bind-interfaces --listen-address=10.82.2.1 --port=53 --pid-file="$work/dpid" \
    --local=/test/ --host-record=a.test,10.1.2.3 --cname=www.test,a.test \
    $(for i in $(seq 1 40); do printf -- '--host-record=big.test,10.0.1.%d ' "$i"; done) \
    --log-queries --log-facility="$work/dlog" 2>"$work/derr" &
  dpid=$!
  sleep 0.5
  kill -0 $dpid 2>/dev/null || fail "dnsmasq did not start: $(cat "$work/derr")"
  printf 'a.test\nWWW.test.\nnone.test\nbig.test\n10.9.8.7\n' > "$work/names"
  ip netns exec $ns timeout 30 nc -N 10.82.2.2 5300 < "$work/names" > "$work/names.out" || fail "names: nc failed"
  sed -n 1p "$work/names.out" | grep -qx '10.1.2.3' || fail "A: $(cat "$work/names.out")"
  sed -n 2p "$work/names.out" | grep -qx '10.1.2.3' || fail "CNAME: $(cat "$work/names.out")"
  sed -n 3p "$work/names.out" | grep -qx 'error TERN_ERESOLVE' || fail "NXDOMAIN: $(cat "$work/names.out")"
  sed -n 4p "$work/names.out" | grep -qE '^10\.0\.1\.[0-9]+( 10\.0\.1\.[0-9]+){7}$' || fail "big (TCP): $(cat "$work/names.out")"
  sed -n 5p "$work/names.out" | grep -qx '10.9.8.7' || fail "literal: $(cat "$work/names.out")"
  grep -qi 'query\[A\] big.test' "$work/dlog" || fail "dnsmasq saw no query for big.test"
  stop
  kill $dpid; wait $dpid 2>/dev/null; dpid=
  echo "ok: names over the stack from dnsmasq: A, CNAME, NXDOMAIN, 40 records over TCP"
else
  echo "SKIP (part): dnsmasq not installed: netconn name lookup NOT tested against a real server"
fi
run 10.82.1 tsl$$ --lock "core locking"
echo PASS
