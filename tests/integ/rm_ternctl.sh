#!/usr/bin/env bash
# tests/integ/rm_ternctl.sh BUILD_DIR: ternctl against the example sample
# device (examples/rm_sample.c) in a private registry: ls, write, cat,
# devctl (QNX's GETVAL/SETVAL/SETGET), and the errors and exit codes;
# then `ternctl wait` against the sample's message queue (-q): the wait
# ends on the server's notify pulse after a write, times out with exit 3,
# and ends at once when the condition is ready.
set -u
B=$1
SRV="$B/example_rm_sample"; CTL="$B/ternctl"
for p in "$SRV" "$CTL"; do
  [ -x "$p" ] || { echo "SKIP: $p not built" >&2; exit 77; }
done
REG=$(mktemp -d /tmp/tern-rm-integ.XXXXXX)
"$SRV" -d "$REG" >/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$REG"' EXIT
for _ in $(seq 50); do [ -n "$(ls "$REG")" ] && break; sleep 0.1; done
fail() { echo "FAIL: $*" >&2; exit 1; }
c() { "$CTL" -d "$REG" "$@"; }

[ "$(c ls)" = "/dev/tern/sample" ] || fail "ls: $(c ls)"
c write /dev/tern/sample "hello rm" || fail "write"
[ "$(c cat /dev/tern/sample)" = "hello rm" ] || fail "cat"
[ "$(c devctl /dev/tern/sample 0x80040501)" = "ret=0 data=00000000" ] || fail "GETVAL"
[ "$(c devctl /dev/tern/sample 0x40040502 19000000)" = "ret=0" ] || fail "SETVAL"
[ "$(c devctl /dev/tern/sample 0xc0040503 32000000)" = "ret=0 data=19000000" ] || fail "SETGET"
[ "$(c devctl /dev/tern/sample 0x80040501)" = "ret=0 data=32000000" ] || fail "GETVAL 2"
out=$(c cat /dev/tern/nothing 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *TERN_ENOENT* ]] || fail "missing path: rc=$rc $out"
out=$(c devctl /dev/tern/sample 0x80040509 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *TERN_ENOTSUP* ]] || fail "unknown devctl: rc=$rc $out"
c devctl /dev/tern/sample 0x40040502 zz >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad hex"
c frob >/dev/null 2>&1; [ $? -eq 2 ] || fail "usage"
kill $PID; wait $PID
[ -z "$(ls "$REG")" ] || fail "entry left after exit"

# ---- ternctl wait on the message queue (notify) ----
REG2=$(mktemp -d /tmp/tern-rm-integ.XXXXXX)
"$SRV" -d "$REG2" -q /dev/tern/queue >/dev/null &
PID2=$!
trap 'kill $PID2 2>/dev/null; wait $PID2 2>/dev/null; rm -rf "$REG" "$REG2"' EXIT
for _ in $(seq 50); do [ "$(ls "$REG2" | wc -l)" -eq 2 ] && break; sleep 0.1; done
q() { "$CTL" -d "$REG2" "$@"; }
OUT=$(mktemp /tmp/tern-rm-wait.XXXXXX)
q wait /dev/tern/queue input --timeout 5000 >"$OUT" 2>&1 &
WPID=$!
sleep 0.3   # let it arm (a write before the arm would end it at once too)
kill -0 $WPID 2>/dev/null || fail "wait ended before any input: $(cat "$OUT")"
q write /dev/tern/queue "one" || fail "queue write"
wait $WPID; rc=$?
[ $rc -eq 0 ] && [ "$(cat "$OUT")" = "/dev/tern/queue: input" ] || fail "wait input: rc=$rc $(cat "$OUT")"
# ready already: at once (level-triggered, as poll)
q wait /dev/tern/queue input --timeout 0 >/dev/null || fail "wait with data queued"
[ "$(q cat /dev/tern/queue)" = "one" ] || fail "queue read"
# empty again: times out with exit 3 and says so
out=$(q wait /dev/tern/queue input --timeout 200 2>&1); rc=$?
[ $rc -eq 3 ] && [[ "$out" == *"no input within 200 ms"* ]] || fail "wait timeout: rc=$rc $out"
q wait /dev/tern/queue output --timeout 0 >/dev/null || fail "wait output (room)"
out=$(q wait /dev/tern/nothing input 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *TERN_ENOENT* ]] || fail "wait missing: rc=$rc $out"
q wait /dev/tern/queue sideways >/dev/null 2>&1; [ $? -eq 2 ] || fail "wait bad cond"
q wait /dev/tern/queue input --timeout x >/dev/null 2>&1; [ $? -eq 2 ] || fail "wait bad timeout"
# the server going away ends a wait with an error, not a timeout
q wait /dev/tern/queue input --timeout 5000 >"$OUT" 2>&1 &
WPID=$!
sleep 0.3
kill $PID2; wait $PID2
wait $WPID; rc=$?
[ $rc -eq 1 ] && grep -q TERN_ECONNRESET "$OUT" || fail "wait, server gone: rc=$rc $(cat "$OUT")"
rm -f "$OUT"
echo "rm_ternctl: ok"
