#!/usr/bin/env bash
# ternd against real peers: curl reads the status line, nc (netcat-openbsd)
# round-trips bytes through the echo service, 50 concurrent nc clients
# echo at once, then SIGTERM must stop ternd cleanly (exit 0; under ASan
# the leak checker runs at exit, so a leak fails this test).
set -euo pipefail
bindir=$1
for tool in curl nc; do
  command -v $tool >/dev/null || { echo "SKIP: $tool not installed (tools/bootstrap installs it)"; exit 77; }
done
log=$(mktemp); trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
# Ports: let the kernel choose by asking for a free one through python-free means.
pick_port() { local p; for _ in $(seq 50); do p=$((20000 + RANDOM % 20000));
  ! (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null && { echo $p; return; }; done; echo 0; }
hp=$(pick_port); ep=$(pick_port)
"$bindir/ternd" --http 127.0.0.1:$hp --echo 127.0.0.1:$ep -v >"$log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "echo on" "$log" && break; sleep 0.1; done
grep -q "echo on" "$log" || { cat "$log"; echo "FAIL: ternd did not start"; exit 1; }

out=$(curl -sS --max-time 5 http://127.0.0.1:$hp/)
echo "status: $out"
[[ "$out" == ternd\ *up* ]] || { echo "FAIL: unexpected status '$out'"; exit 1; }

msg="tern echo $(date +%s%N)"
got=$(printf '%s' "$msg" | nc -N -w 5 127.0.0.1 $ep)
[ "$got" = "$msg" ] || { echo "FAIL: echo returned '$got'"; exit 1; }

# 1 MiB through the echo, compared byte for byte.
head -c 1048576 /dev/urandom > "$log.in"
nc -N -w 10 127.0.0.1 $ep < "$log.in" > "$log.out"
cmp "$log.in" "$log.out" || { echo "FAIL: 1 MiB echo differs"; exit 1; }
rm -f "$log.in" "$log.out"

# 50 clients at once.
pids=()
for i in $(seq 50); do
  ( r=$(printf 'client-%d' $i | nc -N -w 5 127.0.0.1 $ep); [ "$r" = "client-$i" ] ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait $p || { echo "FAIL: a concurrent echo client failed"; exit 1; }; done

kill -TERM $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then echo "FAIL: ternd did not stop on SIGTERM"; exit 1; fi
wait $pid; rc=$?
grep -q "ternd: stopped" "$log" || { cat "$log"; echo "FAIL: no clean stop"; exit 1; }
[ $rc -eq 0 ] || { cat "$log"; echo "FAIL: exit code $rc"; exit 1; }
echo "PASS: ternd status, echo (small, 1 MiB, 50 concurrent), clean SIGTERM"
