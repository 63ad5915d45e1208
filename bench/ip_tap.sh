#!/usr/bin/env bash
# bench/ip_tap.sh BUILD_DIR: TCP throughput of tern's own stack through a
# TAP device, both directions, against the Linux kernel as the peer, with
# the kernel <-> kernel figure over a veth pair measured in the same run as
# the reference limit. Also ping RTT and tern's CPU seconds per MB.
#
#   BYTES=1000000000 bash bench/ip_tap.sh build/release
#
# Speed is measured without hashing (a byte-at-a-time hash costs more than
# the transfer); integrity is checked by a separate CHECK_BYTES transfer
# each way with an FNV-1a hash of every byte at both ends.
# Needs root and `ip netns`. Everything lives in namespaces this script
# creates and deletes.
set -uo pipefail
B=${1:-build/release}
BYTES=${BYTES:-1000000000}
CHECK_BYTES=${CHECK_BYTES:-64000000}
blast=$B/tcp_blast
tern=$B/example_tap_tcp_server
for f in "$blast" "$tern"; do
  [ -x "$f" ] || { echo "ip_tap: $f missing (build $B first)"; exit 1; }
done
if [ "$(id -u)" != 0 ] || ! ip netns add ternbench_probe$$ 2>/dev/null; then
  echo "ip_tap: SKIP: needs root and network namespaces"; exit 0
fi
ip netns del ternbench_probe$$
ns=ternb$$ nsr=ternbr$$ tap=tapb$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del $ns 2>/dev/null; ip netns del $nsr 2>/dev/null
}
trap cleanup EXIT
ip netns add $ns; ip netns add $nsr
ip -n $ns link set lo up; ip -n $nsr link set lo up
ip link add vb$$ netns $ns type veth peer name vr$$ netns $nsr
ip -n $ns addr add 10.78.0.1/24 dev vb$$; ip -n $ns link set vb$$ up
ip -n $nsr addr add 10.78.0.2/24 dev vr$$; ip -n $nsr link set vr$$ up

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | tail -1; }

# ---- kernel <-> kernel over veth -------------------------------------------
export TCP_BLAST_NOHASH=1
ip netns exec $nsr "$blast" sink 5001 > /tmp/ipb_ref_sink.$$ & pids+=($!)
sleep 0.3
ref_tx=$(ip netns exec $ns "$blast" send 10.78.0.2 5001 "$BYTES" | field MBps)
ip netns exec $nsr "$blast" source 5002 "$BYTES" > /dev/null & pids+=($!)
sleep 0.3
ref_rx=$(ip netns exec $ns "$blast" recv 10.78.0.2 5002 | field MBps)
unset TCP_BLAST_NOHASH
ref_rtt=$(ip netns exec $ns ping -c 20 -i 0.01 -q 10.78.0.2 | sed -n 's/.*= [0-9.]*\/\([0-9.]*\)\/.*/\1/p')

# ---- kernel <-> tern through TAP ---------------------------------------------
out=/tmp/ipb_tern.$$
ip netns exec $ns "$tern" $tap 10.77.0.2/24 --bytes "$BYTES" > $out 2>&1 &
tpid=$!; pids+=($tpid)
for _ in $(seq 50); do ip -n $ns link show $tap >/dev/null 2>&1 && break; sleep 0.1; done
ip -n $ns addr add 10.77.0.1/24 dev $tap; ip -n $ns link set $tap up
sleep 0.3
# speed: discard port 10 / source port 19, no hashing
tx=$(TCP_BLAST_NOHASH=1 ip netns exec $ns timeout 120 "$blast" send 10.77.0.2 10 "$BYTES" | field MBps)
sleep 0.2
cpu0=$(awk '{print $14+$15}' /proc/$tpid/stat)
rx=$(TCP_BLAST_NOHASH=1 ip netns exec $ns timeout 120 "$blast" recv 10.77.0.2 19 | field MBps)
cpu_rx_ticks=$(( $(awk '{print $14+$15}' /proc/$tpid/stat) - cpu0 ))
# integrity: hashed sink port 9, and the source checked at the kernel
kill -TERM $tpid; wait $tpid 2>/dev/null
cpu=$(field cpu_s < $out)
out2=/tmp/ipb_tern2.$$ tap2=tapc$$
ip netns exec $ns "$tern" $tap2 10.77.1.2/24 --bytes "$CHECK_BYTES" > $out2 2>&1 &
tpid=$!; pids+=($tpid)
for _ in $(seq 50); do ip -n $ns link show $tap2 >/dev/null 2>&1 && break; sleep 0.1; done
ip -n $ns addr add 10.77.1.1/24 dev $tap2; ip -n $ns link set $tap2 up
sleep 0.3
tx_fnv=$(ip netns exec $ns timeout 120 "$blast" send 10.77.1.2 9 "$CHECK_BYTES" | field fnv)
sleep 0.2
sink_fnv=$(grep -a '^sink' $out2 | tail -1 | field fnv)
rx_fnv=$(ip netns exec $ns timeout 120 "$blast" recv 10.77.1.2 19 | field fnv)
rtt=$(ip netns exec $ns ping -c 20 -i 0.01 -q 10.77.1.2 | sed -n 's/.*= [0-9.]*\/\([0-9.]*\)\/.*/\1/p')
kill -TERM $tpid; wait $tpid 2>/dev/null

ok_in=FAIL; [ -n "$sink_fnv" ] && [ "$sink_fnv" = "$tx_fnv" ] && ok_in=ok
ok_out=FAIL; [ -n "$rx_fnv" ] && [ "$rx_fnv" = "$tx_fnv" ] && ok_out=ok
mb=$(awk -v b="$BYTES" 'BEGIN{print 2*b/1e6}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a"}'; }
hz=$(getconf CLK_TCK)
echo "ip_tap: bytes per direction: $BYTES (integrity: $CHECK_BYTES, FNV-1a both ends)"
printf "ip_tap: kernel->tern   %8s MB/s   (kernel->kernel veth %8s MB/s, ratio %s)  data %s\n" "$tx" "$ref_tx" "$(ratio "$tx" "$ref_tx")" "$ok_in"
printf "ip_tap: tern->kernel   %8s MB/s   (kernel->kernel veth %8s MB/s, ratio %s)  data %s\n" "$rx" "$ref_rx" "$(ratio "$rx" "$ref_rx")" "$ok_out"
printf "ip_tap: ping rtt avg   %8s ms     (veth %s ms)\n" "$rtt" "$ref_rtt"
printf "ip_tap: tern cpu       %8s s for %s MB both ways: %s ms/MB (sending alone: %s ms/MB)\n" "$cpu" "$mb" \
  "$(awk -v c="$cpu" -v m="$mb" 'BEGIN{ if (m>0) printf "%.3f", c*1000/m}')" \
  "$(awk -v t="$cpu_rx_ticks" -v hz="$hz" -v b="$BYTES" 'BEGIN{ printf "%.3f", t/hz*1000/(b/1e6)}')"
[ "$ok_in$ok_out" = okok ] || { echo "ip_tap: tern side said:"; cat -v $out2; }
rm -f $out $out2 /tmp/ipb_ref_sink.$$
