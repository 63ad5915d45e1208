#!/usr/bin/env bash
# ternd on tern's own TCP/IP stack (--tap), with the Linux kernel as the
# real peer, inside a network namespace this test creates:
#   ping; curl /hello, /api/status and /metrics (the stack's counters); POST /echo of 1 MiB both ways with a
#   byte compare (bulk in both directions); 200 concurrent connections; a
#   WebSocket echo with Python's websockets; then the same bulk transfer
#   with 2% loss and 2% reordering injected in tern's TAP driver
#   (TERN_TAP_IMPAIR); SIGTERM stops ternd cleanly (ASan checks leaks).
set -uo pipefail
bindir=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for TAP and network namespaces"; exit 77; }
for c in ip curl ping; do
  command -v $c >/dev/null || { echo "SKIP: $c missing (tools/bootstrap installs it)"; exit 77; }
done
ns=ternt$$ tap=tapt$$
ip netns add $ns 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
work=$(mktemp -d); pid=
cleanup() {
  [ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
  ip netns del $ns 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ip -n $ns link set lo up
nsx() { ip netns exec $ns "$@"; }

start_ternd() {
  ip netns exec $ns env TERN_TAP_IMPAIR="${1:-}" "$bindir/ternd" --tap $tap --ip 10.79.0.2/24 -v \
    >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do nsx ip link show $tap >/dev/null 2>&1 && break; sleep 0.05; done
  for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.05; done
  grep -q "listening on" "$work/log" || { cat "$work/log"; echo "FAIL: ternd did not start"; exit 1; }
  ip -n $ns addr add 10.79.0.1/24 dev $tap 2>/dev/null
  ip -n $ns link set $tap up
}
stop_ternd() {
  kill -TERM $pid
  wait $pid; rc=$?
  pid=
  [ $rc = 0 ] || { cat "$work/log"; echo "FAIL: ternd exited $rc"; exit 1; }
}
base=http://10.79.0.2:8080

start_ternd
nsx ping -c 3 -i 0.2 -W 2 10.79.0.2 >/dev/null || { echo "FAIL: ping"; exit 1; }
[ "$(nsx curl -sS --max-time 5 $base/hello)" = hello ] || { cat "$work/log"; echo "FAIL: /hello"; exit 1; }
nsx curl -sS --max-time 5 $base/api/status | grep -q '"uptime_ms"' || { echo "FAIL: /api/status"; exit 1; }
# the stack's counters reach the metrics registry
nsx curl -sS --max-time 5 $base/metrics | grep -q '^tern_tcp_segments_total{dir="in"} [1-9]' \
  || { nsx curl -sS $base/metrics | grep tern_tcp; echo "FAIL: stack counters in /metrics"; exit 1; }
head -c 1048576 /dev/urandom > "$work/in"
bulk() {
  nsx curl -sS --max-time 60 --data-binary @"$work/in" \
    -H 'Content-Type: application/octet-stream' $base/echo -o "$work/out" &&
    cmp -s "$work/in" "$work/out"
}
bulk || { echo "FAIL: 1 MiB POST /echo through the stack differs"; exit 1; }
echo "ok: ping, /hello, /api/status, 1 MiB echo both ways"

# many concurrent connections, each a keep-alive client doing 5 requests
nsx /usr/bin/python3 - <<'PY' || { echo "FAIL: 200 concurrent connections"; exit 1; }
import socket, threading
N, errors = 200, []
def client():
    try:
        s = socket.create_connection(("10.79.0.2", 8080), timeout=20)
        for _ in range(5):
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            buf = b""
            while not buf.endswith(b"hello"):
                d = s.recv(4096)
                if not d: raise RuntimeError("closed")
                buf += d
        s.close()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=client) for _ in range(N)]
[t.start() for t in ts]; [t.join() for t in ts]
assert not errors, errors[:3]
PY
echo "ok: 200 concurrent keep-alive connections"

if /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
  nsx /usr/bin/python3 - <<'PY' || { echo "FAIL: WebSocket echo over the stack"; exit 1; }
import asyncio, websockets
async def main():
    async with websockets.connect("ws://10.79.0.2:8080/echo") as ws:
        for n in (1, 125, 126, 65536, 200000):
            msg = bytes(range(256)) * (n // 256) + bytes(n % 256)
            await ws.send(msg)
            assert await ws.recv() == msg
asyncio.run(main())
PY
  echo "ok: WebSocket echo"
else
  echo "SKIP (part): python3-websockets missing"
fi
stop_ternd

# loss and reordering, injected in tern's TAP driver on receive
start_ternd "loss=0.02,reorder=0.02,seed=7"
bulk || { cat "$work/log"; echo "FAIL: 1 MiB echo under 2% loss + 2% reordering differs"; exit 1; }
echo "ok: 1 MiB echo both ways under 2% loss and 2% reordering"
stop_ternd
echo "PASS"
