#!/usr/bin/env bash
# tern's WebSocket server and client against Python `websockets`
# (Debian's python3-websockets, so /usr/bin/python3 explicitly).
#  (a) examples/ws_echo (tern server) with a websockets client
#      (tests/integ/ws_peer.py client): text and binary of 0 .. 1 MiB,
#      fragmented messages, a ping, close 1000; then SIGTERM must stop
#      ws_echo cleanly (exit 0; under ASan the leak check runs at exit).
#  (b) a websockets echo server (ws_peer.py server) with tern's client
#      (examples/ws_client): messages of several sizes up to 1 MiB, a ping
#      each way, close 1000; both sides' counts must agree.
# Usage: ws_interop.sh BUILD_DIR. Exit 77 (skip) if websockets is missing.
set -euo pipefail
bindir=$1
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
if [ ! -x "$py" ] || ! "$py" -c 'import websockets' 2>/dev/null; then
  echo "SKIP: $py cannot import websockets (apt-get install python3-websockets)"
  exit 77
fi
for exe in example_ws_echo example_ws_client; do
  [ -x "$bindir/$exe" ] || { echo "FAIL: $bindir/$exe is not built"; exit 1; }
done
command -v timeout >/dev/null || { echo "SKIP: no timeout(1)"; exit 77; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# wait_line FILE PATTERN: up to 10 s for a line matching PATTERN.
wait_line() {
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

echo "websockets $("$py" -c 'import websockets; print(websockets.__version__)')"

# ---- (a) tern server, websockets client --------------------------------
"$bindir/example_ws_echo" tcp://127.0.0.1:0 >"$work/echo.log" 2>&1 &
echo_pid=$!
pids+=("$echo_pid")
wait_line "$work/echo.log" "listening on" || { cat "$work/echo.log"; echo "FAIL: ws_echo did not start"; exit 1; }
url=$(sed -n 's|^ws_echo: listening on \(ws://[0-9.:]*/echo\)$|\1|p' "$work/echo.log")
[ -n "$url" ] || { cat "$work/echo.log"; echo "FAIL: no URL from ws_echo"; exit 1; }
echo "(a) ws_echo at $url"
if ! timeout 120 "$py" "$here/ws_peer.py" client "$url" >"$work/a.log" 2>&1; then
  cat "$work/a.log" "$work/echo.log"; echo "FAIL: (a) websockets client against tern server"; exit 1
fi
cat "$work/a.log"
grep -q "^ws_peer: client ok messages=18 echoes=18 pong=1 close=1000$" "$work/a.log" \
  || { echo "FAIL: (a) unexpected client summary"; exit 1; }
kill -TERM "$echo_pid"
rc=0
timeout 20 tail --pid="$echo_pid" -f /dev/null || true
wait "$echo_pid" || rc=$?
grep -q "ws_echo: stopped" "$work/echo.log" && [ $rc -eq 0 ] \
  || { cat "$work/echo.log"; echo "FAIL: ws_echo did not stop cleanly (exit $rc)"; exit 1; }

# ---- (b) websockets server, tern client ---------------------------------
timeout 120 "$py" "$here/ws_peer.py" server >"$work/peer.log" 2>&1 &
peer_pid=$!
pids+=("$peer_pid")
wait_line "$work/peer.log" "listening on" || { cat "$work/peer.log"; echo "FAIL: ws_peer server did not start"; exit 1; }
purl=$(sed -n 's|^ws_peer: listening on \(ws://[0-9.:]*/\)$|\1|p' "$work/peer.log")
echo "(b) websockets server at $purl"
sizes="0 1 125 126 127 65535 65536 100000 1048576"
if ! timeout 120 "$bindir/example_ws_client" "$purl" $sizes >"$work/b.log" 2>&1; then
  cat "$work/b.log" "$work/peer.log"; echo "FAIL: (b) tern client against websockets server"; exit 1
fi
cat "$work/b.log"
rc=0
wait "$peer_pid" || rc=$?
cat "$work/peer.log"
[ $rc -eq 0 ] || { echo "FAIL: ws_peer server exit $rc"; exit 1; }
total=0
for s in $sizes; do total=$((total + s)); done
n=$(echo $sizes | wc -w)
grep -q "^ws_client: ok messages=$n bytes=$total pong=1 close=1000$" "$work/b.log" \
  || { echo "FAIL: (b) tern client summary"; exit 1; }
grep -q "^ws_peer: closed code=1000 messages=$n bytes=$total pong=1$" "$work/peer.log" \
  || { echo "FAIL: (b) the websockets server did not see the same traffic"; exit 1; }
echo "PASS: tern server <- websockets client (18 messages up to 1 MiB, fragments, ping, close 1000);" \
     "websockets server <- tern client ($n messages, $total bytes each way, pings both ways, close 1000)"
