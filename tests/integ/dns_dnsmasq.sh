#!/usr/bin/env bash
# The DNS client (tern/dns.h, through examples/dns_lookup.c) against
# dnsmasq as a real server on 127.0.0.1: A, AAAA, both, a CNAME, NXDOMAIN
# (negative answer), a name asked twice at once (shared), an answer too
# big for UDP (truncated, then TCP), and failover
# from a server that does not answer (a port nobody listens on... first,
# so the client must time out on it and ask the next) to dnsmasq.
# Usage: dns_dnsmasq.sh BUILD_DIR   (exit 77: skipped, dnsmasq missing)
set -euo pipefail
bindir=$1
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || {
  echo "SKIP: dnsmasq not installed (tools/bootstrap installs dnsmasq-base): DNS client NOT tested against a real server"
  exit 77
}
lookup="$bindir/example_dns_lookup"
[ -x "$lookup" ] || { echo "FAIL: no example_dns_lookup in $bindir"; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$tmp/out" 2>/dev/null || true; cat "$tmp/log" 2>/dev/null || true; exit 1; }

# A port free for both UDP and TCP (dnsmasq listens on both; a TCP test
# running beside this one may hold the same number as an ephemeral port).
free_port() { /usr/bin/python3 -c '
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
'; }
dead=$(free_port)
started=
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  "$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port="$port" --pid-file="$tmp/pid" \
    --local=/test/ --host-record=a.test,10.1.2.3 \
    --host-record=dual.test,10.1.2.4,2001:db8::4 --host-record=v6.test,2001:db8::6 \
    --cname=www.test,dual.test $(for i in $(seq 1 40); do printf -- '--host-record=big.test,10.0.1.%d ' "$i"; done) \
    --log-queries --log-facility="$tmp/log" 2>"$tmp/err" &
  pid=$!
  sleep 0.3
  if kill -0 "$pid" 2>/dev/null; then started=1; break; fi
  pid= # the port was taken after all: another one
done
[ -n "$started" ] || fail "dnsmasq did not start: $(cat "$tmp/err")"
for _ in $(seq 50); do
  "$lookup" -s "127.0.0.1:$port" -t 100 a.test >/dev/null 2>&1 && break
  sleep 0.1
done

"$lookup" -s "127.0.0.1:$port" a.test dual.test www.test www.test v6.test >"$tmp/out" || fail "lookups"
grep -qx 'a.test ok 10.1.2.3' "$tmp/out" || fail "A"
grep -qx 'dual.test ok 2001:db8::4 10.1.2.4' "$tmp/out" || fail "AAAA and A (v6 first)"
[ "$(grep -c '^www.test ok 2001:db8::4 10.1.2.4$' "$tmp/out")" = 2 ] || fail "CNAME"
grep -qx 'v6.test ok 2001:db8::6' "$tmp/out" || fail "AAAA only"
grep -q 'shared=1' "$tmp/out" || fail "www.test asked twice should share one lookup"

"$lookup" -s "127.0.0.1:$port" -4 v6.test nope.test >"$tmp/out" && fail "expected failures"
grep -qx 'v6.test error TERN_ERESOLVE' "$tmp/out" || fail "no A record"
grep -qx 'nope.test error TERN_ERESOLVE' "$tmp/out" || fail "NXDOMAIN"

# 40 A records (640 octets of answers) do not fit a 512-octet UDP reply:
# the truncated answer is asked for again over TCP (RFC 7766)
"$lookup" -s "127.0.0.1:$port" -4 big.test >"$tmp/out" || fail "big answer"
[ "$(head -1 "$tmp/out" | wc -w)" = 10 ] || fail "big.test: 8 addresses expected (the most kept)"
grep -q 'tcp=1' "$tmp/out" || fail "big.test should have gone over TCP"

# failover: the first server never answers
start=$(date +%s%N)
"$lookup" -s "127.0.0.1:$dead,127.0.0.1:$port" -t 200 -4 a.test >"$tmp/out" || fail "failover"
took=$(( ($(date +%s%N) - start) / 1000000 ))
grep -qx 'a.test ok 10.1.2.3' "$tmp/out" || fail "failover answer"
[ "$took" -ge 150 ] || fail "failover took ${took} ms: the dead server was not tried first?"
echo "PASS: DNS client against dnsmasq (failover in ${took} ms)"
