#!/usr/bin/env bash
# The DNS client (tern/dns.h, through examples/dns_lookup.c) against
# dnsmasq as a real server on 127.0.0.1: A, AAAA, both, a CNAME, NXDOMAIN
# (negative answer), a name asked twice at once (shared), an answer too
# big for UDP (truncated, then TCP), and failover
# from a server that does not answer (a port nobody listens on... first,
# so the client must time out on it and ask the next) to dnsmasq; DNS 0x20
# (dnsmasq repeats the question's case: no mismatch); and tern_connect to
# a name with A and AAAA records (happy eyeballs, RFC 8305) with conmon:
# ::1 refusing, then ::1 silent (a full accept queue drops the SYNs).
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
# dnsmasq writes its log into $tmp while it exits: wait for it, then remove
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  rm -rf "$tmp" 2>/dev/null || true
}
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
    --host-record=he.test,127.0.0.1,::1 \
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
grep -q 'case_mismatch=0' "$tmp/out" || fail "dnsmasq changed the case of a 0x20 question"
grep -Eq 'query\[A+\] [a-z0-9.]*[A-Z]' "$tmp/log" || fail "no 0x20 (mixed case) query in the dnsmasq log"

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
# happy eyeballs: a TCP listener on 127.0.0.1 at a port nobody uses on
# ::1, where ::1 either refuses (nothing there) or is silent (a listener
# whose accept queue is full: Linux drops the SYNs, the connect hangs)
peer() { # MODE (refuse|silent): prints the port, serves until killed
  /usr/bin/python3 -c '
import socket, sys
while True:
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM); l.bind(("127.0.0.1", 0))
    p = l.getsockname()[1]
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s6.bind(("::1", p)); break
    except OSError:
        l.close()
if sys.argv[1] == "silent":
    s6.listen(0)
    fill = socket.create_connection(("::1", p)) # the queue is now full
else:
    s6.close()
l.listen(16); print(p, flush=True)
while True:
    c, _ = l.accept(); c.close()
' "$1" >"$tmp/hport" &
  hpid=$!
  for _ in $(seq 50); do [ -s "$tmp/hport" ] && break; sleep 0.1; done
  hport=$(cat "$tmp/hport")
  [ -n "$hport" ] || fail "listener for happy eyeballs did not start"
}
hpid=
trap 'cleanup; [ -n "$hpid" ] && kill $hpid 2>/dev/null || true' EXIT
peer refuse
"$lookup" -s "127.0.0.1:$port" -c "$hport" he.test >"$tmp/out" || fail "connect to he.test"
grep -qx 'he.test connect ok 127.0.0.1' "$tmp/out" || fail "he.test: not connected to 127.0.0.1"
grep -Eq '^conmon he.test .*ndns=2 attempts=::1/TERN_ECONNREFUSED@[0-9]+,127.0.0.1/TERN_OK@' "$tmp/out" ||
  fail "he.test: conmon should show ::1 refused, then 127.0.0.1"
kill $hpid; wait $hpid 2>/dev/null || true
# ::1 silent: the IPv4 attempt starts after the 250 ms attempt delay and
# wins; the IPv6 one is cancelled (and recorded)
peer silent
"$lookup" -s "127.0.0.1:$port" -c "$hport" he.test >"$tmp/out" || fail "connect to he.test, ::1 silent"
line=$(grep '^conmon he.test' "$tmp/out")
echo "$line" | grep -Eq 'attempts=::1/TERN_ECANCELED@([0-9]+),127.0.0.1/TERN_OK@([0-9]+)$' ||
  fail "he.test: conmon should show ::1 cancelled, then 127.0.0.1: $line"
t1=$(echo "$line" | sed -E 's/.*::1\/TERN_ECANCELED@([0-9]+),.*/\1/')
t2=$(echo "$line" | sed -E 's/.*127.0.0.1\/TERN_OK@([0-9]+)$/\1/')
[ $((t2 - t1)) -ge 240 ] || fail "he.test: second attempt ${t2} ms after the first at ${t1}: not the 250 ms delay"
echo "PASS: DNS client against dnsmasq (failover in ${took} ms; happy eyeballs: $line)"
