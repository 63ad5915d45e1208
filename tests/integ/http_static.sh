#!/usr/bin/env bash
# Static files (tern_http_serve_static) against curl, through
# ternd --root: a whole file byte for byte, HEAD, a range (206 and
# Content-Range), a 304 for If-None-Match with the ETag the server gave,
# a directory redirect and its index.html, traversal attempts sent as they
# are (--path-as-is) that must never return the file outside the root,
# and a client that drops a large download half way. Then SIGTERM must
# stop ternd cleanly (exit 0; under ASan the leak checker runs at exit, so
# a stream, descriptor or connection left behind fails this test).
# Usage: http_static.sh BUILD_DIR   (exit 77: skipped, curl missing)
set -euo pipefail
bindir=$1
command -v curl >/dev/null || {
  echo "SKIP: curl not installed (tools/bootstrap installs it): static files NOT tested"
  exit 77
}
[ -x "$bindir/ternd" ] || { echo "FAIL: no ternd in $bindir"; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/log" ] && cat "$tmp/log"; exit 1; }

root=$tmp/root
mkdir -p "$root/sub"
echo "top secret" > "$tmp/secret"
printf 'hello, static\n' > "$root/hello.txt"
printf '<p>index</p>\n' > "$root/sub/index.html"
head -c 3000000 /dev/urandom > "$root/big.bin"
truncate -s 64M "$root/huge.bin" # sparse: more than socket buffers hold
ln -s ../secret "$root/link_out"

"$bindir/ternd" --http 127.0.0.1:0 --root "$root" >"$tmp/log" 2>&1 &
pid=$!
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's|.*listening on http://\([0-9.]*:[0-9]*\)/.*|\1|p' "$tmp/log")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || fail "ternd did not start"
base=http://$addr
c() { curl -sS --max-time 10 "$@"; }

# A whole file, byte for byte.
code=$(c -o "$tmp/got" -D "$tmp/h" -w '%{http_code}' "$base/big.bin")
[ "$code" = 200 ] || fail "big.bin: status $code"
cmp "$root/big.bin" "$tmp/got" || fail "big.bin differs"
grep -qi '^accept-ranges: bytes' "$tmp/h" || fail "no Accept-Ranges"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$tmp/h")
[ -n "$etag" ] || fail "no ETag"
code=$(c -o "$tmp/got" -w '%{http_code}' "$base/hello.txt")
[ "$code" = 200 ] && [ "$(cat "$tmp/got")" = "hello, static" ] || fail "hello.txt"

# HEAD: the same fields, no body.
c -I "$base/big.bin" > "$tmp/h"
grep -qi '^content-length: 3000000' "$tmp/h" || fail "HEAD Content-Length"

# A range.
code=$(c -r 1000-1999 -o "$tmp/got" -D "$tmp/h" -w '%{http_code}' "$base/big.bin")
[ "$code" = 206 ] || fail "range: status $code"
grep -qi '^content-range: bytes 1000-1999/3000000' "$tmp/h" || fail "Content-Range"
dd if="$root/big.bin" of="$tmp/want" bs=1000 skip=1 count=1 2>/dev/null
cmp "$tmp/want" "$tmp/got" || fail "range bytes"
code=$(c -r 5000000- -o /dev/null -w '%{http_code}' "$base/big.bin")
[ "$code" = 416 ] || fail "unsatisfiable range: status $code"

# Conditional: the ETag we were given means 304, no body.
rm -f "$tmp/got"
code=$(c -H "If-None-Match: $etag" -o "$tmp/got" -w '%{http_code}' "$base/big.bin")
[ "$code" = 304 ] && [ ! -s "$tmp/got" ] || fail "If-None-Match: status $code"
code=$(c -H 'If-None-Match: "other"' -o /dev/null -w '%{http_code}' "$base/big.bin")
[ "$code" = 200 ] || fail "If-None-Match other: status $code"

# Directories.
code=$(c -o /dev/null -D "$tmp/h" -w '%{http_code}' "$base/sub")
[ "$code" = 301 ] && grep -qi '^location: /sub/' "$tmp/h" || fail "dir redirect"
[ "$(c -L "$base/sub")" = "<p>index</p>" ] || fail "index.html"

# Traversal, sent as-is: refused, and never the secret.
for path in "/../secret" "/%2e%2e/secret" "/sub/../../secret" "/sub/%2E%2E/%2e%2e/secret" \
            "/a%00b" "/link_out"; do
  rm -f "$tmp/got"
  code=$(c --path-as-is -o "$tmp/got" -w '%{http_code}' "$base$path")
  case $code in 400|403|404) ;; *) fail "traversal $path: status $code" ;; esac
  ! grep -qs secret "$tmp/got" || fail "traversal $path returned the secret"
done

# A client that gives up half way through 64 MiB.
c "$base/huge.bin" 2>/dev/null | head -c 200000 > /dev/null || true
code=$(c -o /dev/null -w '%{http_code}' "$base/hello.txt")
[ "$code" = 200 ] || fail "serving after a dropped download: status $code"

kill -TERM $pid
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && fail "ternd did not stop on SIGTERM"
rc=0
wait $pid || rc=$?
pid=
[ $rc -eq 0 ] || fail "ternd exit code $rc"
echo "PASS: static files: whole, HEAD, range, 416, 304, redirect, index, traversal refused, dropped download, clean stop"
