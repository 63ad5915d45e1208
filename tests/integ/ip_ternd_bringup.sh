#!/usr/bin/env bash
# A device coming up by itself on tern's own stack: ternd --tap --dhcp
# --dns --ntp NAME inside a network namespace, where dnsmasq answers DHCP
# and DNS (ntp.test -> the host side) and chronyd serves NTP. ternd must
# get a lease, resolve the time server's name and sync over UDP through the
# ip backend, and reach OPERATIONAL (held in CPD until the time is known).
set -uo pipefail
bindir=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for TAP and network namespaces: bring-up NOT tested"; exit 77; }
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
CHRONYD=$(command -v chronyd || echo /usr/sbin/chronyd)
for x in "$DNSMASQ" "$CHRONYD"; do
  [ -x "$x" ] || { echo "SKIP: $x missing (tools/bootstrap installs dnsmasq-base and chrony): bring-up NOT tested"; exit 77; }
done
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
ns=terndb$$ tap=tapdb$$
ip netns add $ns 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
work=$(mktemp -d); chmod 755 "$work"; pid=; dpid=; cpid=
cleanup() {
  for p in $pid $dpid $cpid; do kill $p 2>/dev/null && wait $p 2>/dev/null; done
  ip netns del $ns 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- ternd"; cat "$work/log" 2>/dev/null
  echo "--- dnsmasq"; tail -20 "$work/dnsmasq.log" 2>/dev/null
  echo "--- chronyd"; tail -5 "$work/chrony.log" 2>/dev/null
  exit 1
}
ip -n $ns link set lo up
nsx() { ip netns exec $ns "$@"; }

ip netns exec $ns "$bindir/ternd" --tap $tap --dhcp --dns 10.82.0.1 --ntp ntp.test \
  -v >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do nsx ip link show $tap >/dev/null 2>&1 && break; sleep 0.05; done
nsx ip link show $tap >/dev/null 2>&1 || fail "ternd did not create $tap"
nsx ip addr add 10.82.0.1/24 dev $tap
nsx ip link set $tap up

cat >"$work/chrony.conf" <<CONF
port 123
bindaddress 10.82.0.1
allow 10.82.0.0/24
local stratum 10
cmdport 0
pidfile $work/chronyd.pid
driftfile $work/drift
CONF
ip netns exec $ns "$CHRONYD" -x -d -u root -f "$work/chrony.conf" >"$work/chrony.log" 2>&1 &
cpid=$!
ip netns exec $ns "$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts \
  --interface=$tap --bind-interfaces --user=root --group=root \
  --address=/ntp.test/10.82.0.1 \
  --dhcp-range=10.82.0.50,10.82.0.60,255.255.255.0,10m \
  --dhcp-leasefile="$work/leases" --pid-file="$work/dnsmasq.pid" \
  --log-queries --log-dhcp --log-facility="$work/dnsmasq.log" 2>"$work/dnsmasq.err" &
dpid=$!
sleep 0.3
kill -0 $dpid 2>/dev/null || fail "dnsmasq did not start: $(cat "$work/dnsmasq.err")"
kill -0 $cpid 2>/dev/null || fail "chronyd did not start"

t0=$(date +%s.%N)
for _ in $(seq 300); do grep -q "DHCP lease" "$work/log" && break; sleep 0.1; done
echo "lease after $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
leased=$(sed -n 's/.*DHCP lease \([0-9.]*\)\/.*/\1/p' "$work/log" | head -1)
[ -n "$leased" ] || fail "no lease within 30 s"
base=http://$leased:8080
ok=
# the lease kicks the time sync (tern_sntp_sync): no 60 s retry wait
for _ in $(seq 150); do
  nsx curl -sS --max-time 2 $base/api/status >"$work/status" 2>/dev/null &&
    grep -q '"state":"OPERATIONAL"' "$work/status" && { ok=1; break; }
  sleep 0.1
done
echo "OPERATIONAL after $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
[ -n "$ok" ] || fail "not OPERATIONAL within 15 s of the lease: $(cat "$work/status")"
grep -q '"ntp":{"synced":true' "$work/status" || fail "status without an NTP sync: $(cat "$work/status")"
grep -q '"stratum":10' "$work/status" || fail "not chrony's stratum: $(cat "$work/status")"
grep -qi "query\[A\] ntp.test" "$work/dnsmasq.log" || fail "dnsmasq saw no query for ntp.test"
echo "ok: lease $leased, ntp.test resolved by dnsmasq, synced with chronyd, OPERATIONAL"
kill -TERM $pid
wait $pid; rc=$?
pid=
[ $rc = 0 ] || fail "ternd exited $rc"
echo "PASS: bring-up on tern's own stack (DHCP, DNS, SNTP over the ip backend)"
