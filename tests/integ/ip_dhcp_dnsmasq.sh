#!/usr/bin/env bash
# tern's DHCP client (tern/dhcp.h) against dnsmasq as the real server:
# ternd --tap TAP --dhcp runs in a network namespace this test creates;
# the TAP is on a bridge that gets 10.81.0.1/24 and dnsmasq serves a range
# on it with a 2-minute lease (dnsmasq's minimum) and T1 = 20 s, T2 = 40 s
# (options 58/59), so a renewal happens within the test. Checked: ternd
# prints the lease, /hello answers on the leased address, /api/status
# reaches OPERATIONAL (the DHCP gate let bring-up go on), dnsmasq logs
# DISCOVER/OFFER/REQUEST/ACK, and at T1 a unicast renewal is ACKed
# (ternd prints "DHCP renewed", dnsmasq logs a second ACK). SIGTERM stops
# ternd cleanly (ASan checks leaks) and releases the lease (dnsmasq logs
# DHCPRELEASE).
# The ARP check (RFC 2131 3.1.5, RFC 5227): dnsmasq pins ternd's MAC
# (--mac; a DECLINE has no host name to match) to 10.81.0.70, which a second namespace on the same bridge (a
# veth) already has, so its kernel answers tern's ARP probe (the first
# namespace cannot own it: dnsmasq's unicast OFFER would stay local): ternd prints "DHCP declined", dnsmasq
# logs DHCPDECLINE, and after the RFC's 10 s tern DISCOVERs again and gets
# an address of the range (dnsmasq no longer offers a declined static
# address), which it probes and binds.
# DHCPINFORM (RFC 2131 3.4): a second ternd with a static --ip and
# --dhcp-inform gets router and DNS from dnsmasq (DHCPINFORM/DHCPACK in
# its log; the first INFORM may go out before the new TAP is on the
# bridge: then the 4 s retransmission brings the answer).
# Usage: ip_dhcp_dnsmasq.sh BUILD_DIR   (exit 77: skipped, said loudly)
set -uo pipefail
bindir=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for TAP and network namespaces: DHCP client NOT tested against dnsmasq"; exit 77; }
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || { echo "SKIP: dnsmasq not installed (tools/bootstrap installs dnsmasq-base): DHCP client NOT tested against a real server"; exit 77; }
for c in ip curl timeout; do
  command -v $c >/dev/null || { echo "SKIP: $c missing (tools/bootstrap installs it)"; exit 77; }
done
ns=terndh$$ ns2=terndc$$ tap=tapdh$$ br=brdh$$ veth=vdh$$
ip netns add $ns 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
ip netns add $ns2 2>/dev/null || { ip netns del $ns; echo "SKIP: cannot create a second network namespace"; exit 77; }
work=$(mktemp -d); pid=; dpid=
cleanup() {
  [ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
  [ -n "$dpid" ] && kill $dpid 2>/dev/null && wait $dpid 2>/dev/null
  ip netns del $ns 2>/dev/null
  ip netns del $ns2 2>/dev/null
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
# the segment: a bridge with the server's address; the conflicting host
# (10.81.0.70) is the other namespace, through a veth on the bridge
nsx ip link add $br type bridge || fail "cannot create a bridge"
nsx ip addr add 10.81.0.1/24 dev $br
nsx ip link set $br up
nsx ip link add ${veth}a type veth peer name ${veth}b || fail "cannot create a veth pair"
nsx ip link set ${veth}b netns $ns2
nsx ip link set ${veth}a master $br up
ip -n $ns2 addr add 10.81.0.70/24 dev ${veth}b
ip -n $ns2 link set ${veth}b up

# ternd first: it creates the TAP; the kernel side is configured after
mac=02:00:00:81:00:07
ip netns exec $ns "$bindir/ternd" --tap $tap --mac $mac --dhcp -v >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do nsx ip link show $tap >/dev/null 2>&1 && break; sleep 0.05; done
nsx ip link show $tap >/dev/null 2>&1 || fail "ternd did not create $tap"
nsx ip link set $tap master $br up

ip netns exec $ns "$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts \
  --port=0 --interface=$br --bind-interfaces --user=root --group=root \
  --dhcp-range=10.81.0.50,10.81.0.60,255.255.255.0,2m \
  --dhcp-host=$mac,10.81.0.70 \
  --dhcp-option=58,20 --dhcp-option=59,40 --dhcp-option=option:dns-server,10.81.0.1 \
  --dhcp-leasefile="$work/leases" --pid-file="$work/dnsmasq.pid" \
  --log-dhcp --log-facility="$work/dnsmasq.log" 2>"$work/dnsmasq.err" &
dpid=$!
sleep 0.3
kill -0 $dpid 2>/dev/null || fail "dnsmasq did not start: $(cat "$work/dnsmasq.err")"

# the lease: the first DISCOVER went out before dnsmasq listened, so the
# 4 s retransmission (RFC 2131 4.1) brings it; then 10.81.0.70 is probed
# (3..7 s), declined, 10 s pass, and the next address is probed
t0=$(date +%s)
for _ in $(seq 450); do grep -q "DHCP lease" "$work/log" && break; sleep 0.1; done
grep -q "DHCP lease" "$work/log" || fail "no lease within 45 s"
echo "lease after $(( $(date +%s) - t0 )) s"
grep -q "DHCP declined 10.81.0.70/24" "$work/log" || fail "ternd did not decline 10.81.0.70"
grep -q "DHCPDECLINE.*10.81.0.70" "$work/dnsmasq.log" || fail "dnsmasq did not log DHCPDECLINE of 10.81.0.70"
echo "ok: $(grep -m1 "DHCPDECLINE" "$work/dnsmasq.log" | sed 's/^.*dnsmasq-dhcp[^ ]* //')"
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
for _ in $(seq 20); do grep -q "DHCPRELEASE.*$leased" "$work/dnsmasq.log" && break; sleep 0.1; done
grep -q "DHCPRELEASE.*$leased" "$work/dnsmasq.log" || fail "dnsmasq did not log DHCPRELEASE of $leased"
echo "ok: released on SIGTERM"

# DHCPINFORM: a static address asks for the rest. The TAP went with the
# first ternd; the new one joins the bridge.
nlog=$(wc -l <"$work/dnsmasq.log")
ip netns exec $ns "$bindir/ternd" --tap $tap --ip 10.81.0.80/24 --dhcp-inform -v \
  >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do nsx ip link show $tap >/dev/null 2>&1 && break; sleep 0.05; done
nsx ip link show $tap >/dev/null 2>&1 || fail "ternd did not create $tap (inform)"
nsx ip link set $tap master $br up
for _ in $(seq 150); do grep -q "DHCP informed" "$work/log" && break; sleep 0.1; done
grep -q "DHCP informed" "$work/log" || fail "no answer to DHCPINFORM within 15 s"
grep "DHCP informed" "$work/log" | head -1
grep "DHCP informed" "$work/log" | head -1 |
  grep -q "informed 10.81.0.80/24 router 10.81.0.1 dns 10.81.0.1 server 10.81.0.1" ||
  fail "DHCPINFORM details"
tail -n +$((nlog + 1)) "$work/dnsmasq.log" >"$work/dnsmasq2.log"
grep -q "DHCPINFORM.*10.81.0.80" "$work/dnsmasq2.log" || fail "dnsmasq did not log DHCPINFORM"
grep -q "DHCPACK.*10.81.0.80" "$work/dnsmasq2.log" || fail "dnsmasq did not log its DHCPACK to the INFORM"
! grep -q "DHCPDISCOVER\|DHCPREQUEST" "$work/dnsmasq2.log" || fail "an INFORM client asked for a lease"
kill -TERM $pid
wait $pid; rc=$?
pid=
[ $rc = 0 ] || fail "ternd (inform) exited $rc"
echo "ok: DHCPINFORM answered by dnsmasq"
echo "PASS: DHCP client against dnsmasq (decline of a conflicting address, lease $leased, renewal, release; INFORM)"
