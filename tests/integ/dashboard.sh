#!/usr/bin/env bash
# ternd's dashboard in headless Chromium (Debian's chromium): the page must
# connect its WebSocket to /live and show values that change. A screenshot
# is kept as a test artifact in BUILD_DIR/artifacts/dashboard.png.
set -euo pipefail
bindir=$1
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
  echo "SKIP: chromium not installed (tools/bootstrap installs it)"; exit 77
fi
if ! /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks websockets (Debian python3-websockets)"; exit 77
fi
work=$(mktemp -d); tpid=; cpid=
cleanup() {
  [ -n "$cpid" ] && kill $cpid 2>/dev/null; [ -n "$tpid" ] && kill $tpid 2>/dev/null
  wait 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT
"$bindir/ternd" --http 127.0.0.1:0 >"$work/ternd.log" 2>&1 &
tpid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/ternd.log" && break; sleep 0.05; done
base=$(sed -n 's|.*listening on \(http://[0-9.:]*\)/.*|\1|p' "$work/ternd.log")
[ -n "$base" ] || { cat "$work/ternd.log"; echo "FAIL: ternd did not start"; exit 1; }
# Flags as this workplace's machines need them: no sandbox as root, and no
# background networking (the network is closed).
"$chrome" --headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-dev-shm-usage --user-data-dir="$work/profile" --remote-debugging-port=0 \
  --window-size=1100,800 about:blank >"$work/chrome.log" 2>&1 &
cpid=$!
for _ in $(seq 200); do [ -s "$work/profile/DevToolsActivePort" ] && break; sleep 0.05; done
[ -s "$work/profile/DevToolsActivePort" ] || { tail "$work/chrome.log"; echo "FAIL: chromium did not start"; exit 1; }
port=$(head -n1 "$work/profile/DevToolsActivePort")
mkdir -p "$bindir/artifacts"
/usr/bin/python3 "$(dirname "$0")/dashboard_cdp.py" "$port" "$base/" "$bindir/artifacts/dashboard.png"
echo "PASS: dashboard shows live values over WebSocket; screenshot in $bindir/artifacts/dashboard.png"
