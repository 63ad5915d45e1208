#!/usr/bin/env bash
# The SNTP client (tern/sntp.h, through examples/sntp_query.c) against
# chronyd serving NTP on 127.0.0.1 (its own clock as a stratum-10 local
# reference; -x: chronyd never touches the host clock, and neither does
# the client). Both read the same host clock, so the offset the client
# computes must be about zero and the delay small; the stratum is chrony's.
# Usage: sntp_chrony.sh BUILD_DIR   (exit 77: skipped, chrony missing)
set -euo pipefail
bindir=$1
CHRONYD=$(command -v chronyd || echo /usr/sbin/chronyd)
[ -x "$CHRONYD" ] || {
  echo "SKIP: chrony not installed (tools/bootstrap installs it): SNTP client NOT tested against a real server"
  exit 77
}
[ "$(id -u)" = 0 ] || { echo "SKIP: chronyd needs root here: SNTP client NOT tested against a real server"; exit 77; }
query="$bindir/example_sntp_query"
[ -x "$query" ] || { echo "FAIL: no example_sntp_query in $bindir"; exit 1; }

tmp=$(mktemp -d)
chmod 755 "$tmp"
pid=
# chronyd writes into $tmp while it exits: wait for it, then remove
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  rm -rf "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$tmp/out" 2>/dev/null || true; cat "$tmp/log" 2>/dev/null || true; exit 1; }

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/chrony.conf" <<CONF
port $port
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 10
cmdport 0
pidfile $tmp/chronyd.pid
driftfile $tmp/drift
CONF
# -x: do not control the system clock; -d: foreground, log to stderr;
# -u root: no user switch (the files live in our temp directory)
"$CHRONYD" -x -d -u root -f "$tmp/chrony.conf" >"$tmp/log" 2>&1 &
pid=$!

ok=
for _ in $(seq 50); do
  if "$query" -t 200 "127.0.0.1:$port" >"$tmp/out" 2>&1; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || fail "no answer from chronyd on port $port"
line=$(cat "$tmp/out")
off=$(sed -n 's/.*offset_us=\(-\?[0-9]*\).*/\1/p' <<<"$line")
delay=$(sed -n 's/.*delay_us=\([0-9]*\).*/\1/p' <<<"$line")
stratum=$(sed -n 's/.*stratum=\([0-9]*\).*/\1/p' <<<"$line")
[ "$stratum" = 10 ] || fail "stratum $stratum, expected chrony's local stratum 10"
[ "${off#-}" -lt 50000 ] || fail "offset $off us against a server on the same clock"
[ "$delay" -lt 50000 ] || fail "delay $delay us on loopback"

# a server that does not answer: the client reports a timeout
dead=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if "$query" -t 50 "127.0.0.1:$dead" >"$tmp/out" 2>&1; then fail "answer from a dead port?"; fi
grep -qx 'error TERN_ETIMEDOUT' "$tmp/out" || fail "dead server: $(cat "$tmp/out")"
# ternd --ntp: the dashboard's status shows the sync
if command -v curl >/dev/null && [ -x "$bindir/ternd" ]; then
  "$bindir/ternd" --http 127.0.0.1:0 --ntp "127.0.0.1:$port" >"$tmp/ternd.log" 2>&1 &
  tpid=$!
  addr=
  for _ in $(seq 100); do
    addr=$(sed -n 's|.*listening on http://\([0-9.]*:[0-9]*\)/.*|\1|p' "$tmp/ternd.log")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  synced=
  for _ in $(seq 50); do
    curl -s "http://$addr/api/status" >"$tmp/status" || true
    grep -q '"ntp":{"synced":true' "$tmp/status" && { synced=1; break; }
    sleep 0.1
  done
  kill -TERM "$tpid"; wait "$tpid" || fail "ternd did not stop cleanly"
  [ -n "$synced" ] || { cat "$tmp/status"; fail "ternd --ntp never synced"; }
  grep -q '"stratum":10' "$tmp/status" || fail "ternd status: $(cat "$tmp/status")"
  grep -q '"state":"OPERATIONAL"' "$tmp/status" || fail "ternd not OPERATIONAL after the sync: $(cat "$tmp/status")"
  # a time server that never answers holds ternd before TIME_VALID
  "$bindir/ternd" --http 127.0.0.1:0 --ntp "127.0.0.1:$dead" >"$tmp/ternd2.log" 2>&1 &
  tpid=$!
  addr=
  for _ in $(seq 100); do
    addr=$(sed -n 's|.*listening on http://\([0-9.]*:[0-9]*\)/.*|\1|p' "$tmp/ternd2.log")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  sleep 0.3
  curl -s "http://$addr/api/status" >"$tmp/status" || true
  kill -TERM "$tpid"; wait "$tpid" || fail "ternd (no time) did not stop cleanly"
  grep -q '"state":"CPD"' "$tmp/status" || fail "ternd without time should wait in CPD: $(cat "$tmp/status")"
fi
echo "PASS: SNTP client against chronyd ($line), and ternd --ntp"
