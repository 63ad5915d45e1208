#!/usr/bin/env bash
# tests/integ/rm_ternctl.sh BUILD_DIR: ternctl against the example sample
# device (examples/rm_sample.c) in a private registry: ls, write, cat,
# devctl (QNX's GETVAL/SETVAL/SETGET), and the errors and exit codes.
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
echo "rm_ternctl: ok"
