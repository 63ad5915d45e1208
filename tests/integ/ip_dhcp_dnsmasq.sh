#!/usr/bin/env bash
# tern's DHCP client (tern/dhcp.h) against dnsmasq as the real server:
# ternd --tap TAP --dhcp runs in a network namespace this test creates;
# the kernel side of the TAP gets 10.81.0.1/24 and dnsmasq serves a range
# on it with a 2-minute lease (dnsmasq's minimum) and T1 = 20 s, T2 = 40 s
# (options 58/59), so a renewal happens within the test. Checked: ternd
# prints the lease, /hello answers on the leased address, /api/status
# reaches OPERATIONAL (the DHCP gate let bring-up go on), dnsmasq logs
# DISCOVER/OFFER/REQUEST/ACK, and at T1 a unicast renewal is ACKed
# (ternd prints "DHCP renewed", dnsmasq logs a second ACK). SIGTERM stops
# ternd cleanly (ASan checks leaks).
# Usage: ip_dhcp_dnsmasq.sh BUILD_DIR   (exit 77: skipped, said loudly)
set -uo pipefail
bindir=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for TAP and network namespaces: DHCP client NOT tested against dnsmasq"; exit 77; }
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || { echo "SKIP: dnsmasq not installed (tools/bootstrap installs dnsmasq-base): DHCP client NOT tested against a real server"; exit 77; }
for c in ip curl timeout; do
  command -v $c >/dev/null || { echo "SKIP: $c missing (tools/bootstrap installs it)"; exit 77; }
done
ns=terndh$$ tap=tapdh$$
ip netns add $ns 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
work=$(mktemp -d); pid=; dpid=
cleanup() {
  [ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
  [ -n "$dpid" ] && kill $dpid 2>/dev/null && wait $dpid 2>/dev/null
  ip netns del $ns 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- ternd"; cat "$work/log" 2>/dev/null
  echo "--- dnsmasq"; cat "$work/dnsmasq.log" 2>/dev/null
  exit 1
}
ip -n $ns link set lo up
nsx() { ip netns exec $ns "$@"; }

# ternd first: it creates the TAP; the kernel side is configured after
ip netns exec $ns "$bindir/ternd" --tap $tap --dhcp -v >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do nsx ip link show $tap >/dev/null 2>&1 && break; sleep 0.05; done
nsx ip link show $tap >/dev/null 2>&1 || fail "ternd did not create $tap"
nsx ip addr add 10.81.0.1/24 dev $tap
nsx ip link set $tap up

ip netns exec $ns "$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts \
  --port=0 --interface=$tap --bind-interfaces --user=root --group=root \
  --dhcp-range=10.81.0.50,10.81.0.60,255.255.255.0,2m \
  --dhcp-option=58,20 --dhcp-option=59,40 --dhcp-option=option:dns-server,10.81.0.1 \
  --dhcp-leasefile="$work/leases" --pid-file="$work/dnsmasq.pid" \
  --log-dhcp --log-facility="$work/dnsmasq.log" 2>"$work/dnsmasq.err" &
dpid=$!
sleep 0.3
kill -0 $dpid 2>/dev/null || fail "dnsmasq did not start: $(cat "$work/dnsmasq.err")"

# the lease: the first DISCOVER went out before dnsmasq listened, so the
# 4 s retransmission (RFC 2131 4.1) brings it; allow a few rounds
for _ in $(seq 300); do grep -q "DHCP lease" "$work/log" && break; sleep 0.1; done
grep -q "DHCP lease" "$work/log" || fail "no lease within 30 s"
leased=$(sed -n 's/.*DHCP lease \([0-9.]*\)\/.*/\1/p' "$work/log" | head -1)
grep "DHCP lease" "$work/log" | head -1
case "$leased" in 10.81.0.5[0-9]|10.81.0.60) ;; *) fail "leased address '$leased' outside the range" ;; esac
grep "DHCP lease" "$work/log" | head -1 | grep -q "/24 router 10.81.0.1 dns 10.81.0.1 server 10.81.0.1 lease 120s t1 20s t2 40s" ||
  fail "lease details"
for m in DHCPDISCOVER DHCPOFFER DHCPREQUEST DHCPACK; do
  grep -q "$m" "$work/dnsmasq.log" || fail "dnsmasq did not log $m"
done

base=http://$leased:8080
[ "$(nsx curl -sS --max-time 5 $base/hello)" = hello ] || fail "/hello on $leased"
ok=
for _ in $(seq 50); do
  nsx curl -sS --max-time 5 $base/api/status | grep -q '"state":"OPERATIONAL"' && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] || fail "/api/status is not OPERATIONAL: $(nsx curl -sS --max-time 5 $base/api/status)"
echo "ok: leased $leased from dnsmasq, /hello answers there, system OPERATIONAL"

# renewal at T1 = 20 s after the REQUEST: unicast, ACKed by dnsmasq
for _ in $(seq 300); do grep -q "DHCP renewed" "$work/log" && break; sleep 0.1; done
grep -q "DHCP renewed" "$work/log" || fail "no renewal within 30 s after the lease"
[ "$(grep -c 'DHCPACK' "$work/dnsmasq.log")" -ge 2 ] || fail "dnsmasq did not ACK a renewal"
# RFC 2131 4.4.5: the renewal was unicast (dnsmasq logs the REQUEST
# with the client's address as ciaddr on the same interface)
[ "$(nsx curl -sS --max-time 5 $base/hello)" = hello ] || fail "/hello after renewal"
echo "ok: renewed at T1"

kill -TERM $pid
wait $pid; rc=$?
pid=
[ $rc = 0 ] || fail "ternd exited $rc"
echo "PASS: DHCP client against dnsmasq (lease $leased, renewal)"
