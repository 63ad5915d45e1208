#!/usr/bin/env bash
# ternd against real peers: curl for /hello, /api/status, /metrics, POST
# /echo (1 MiB, byte-exact), 50 concurrent clients, keep-alive reuse; then
# SIGTERM must stop ternd cleanly (exit 0; under ASan the leak checker runs
# at exit, so a leak fails this test).
set -euo pipefail
bindir=$1
command -v curl >/dev/null || { echo "SKIP: curl not installed (tools/bootstrap installs it)"; exit 77; }
work=$(mktemp -d); pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
"$bindir/ternd" --http 127.0.0.1:0 -v >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.05; done
base=$(sed -n 's|.*listening on \(http://[0-9.:]*\)/.*|\1|p' "$work/log")
[ -n "$base" ] || { cat "$work/log"; echo "FAIL: ternd did not start"; exit 1; }
echo "ternd at $base"

[ "$(curl -sS --max-time 5 $base/hello)" = hello ] || { echo "FAIL: /hello"; exit 1; }
curl -sS --max-time 5 $base/api/status | grep -q '"uptime_ms"' || { echo "FAIL: /api/status"; exit 1; }
curl -sS --max-time 5 $base/metrics | grep -q '^ternd_http_requests_total{endpoint="/hello"} 1$' \
  || { curl -sS $base/metrics; echo "FAIL: /metrics"; exit 1; }
curl -sS --max-time 5 $base/api/metrics | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
hello = [m for m in d["ternd_http_requests_total"] if m["labels"]["endpoint"] == "/hello"]
assert hello and hello[0]["value"] == 1, hello
assert d["ternd_system_state"][0]["value"] == 10, d["ternd_system_state"]  # OPERATIONAL
' || { curl -sS $base/api/metrics; echo "FAIL: /api/metrics"; exit 1; }
# Metrics reported by the sources themselves: GET 2xx grows by exactly the
# requests made in between (each by its own curl, so its own connection),
# the accepted connections too, and /metrics stays valid exposition text.
get2xx() {
  curl -sS --max-time 5 $base/api/metrics | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
v = lambda n, **l: sum(m["value"] for m in d.get(n, []) if all(m["labels"].get(k) == x for k, x in l.items()))
print(v("tern_http_requests_total", method="GET", code="2xx"),
      v("tern_connections_opened_total", kind="tcp_accepted", **{"class": "user"}),
      d["tern_http_request_duration_ms"][0]["count"])'
}
read -r req0 acc0 dur0 < <(get2xx)
for i in 1 2 3; do curl -sS --max-time 5 $base/hello >/dev/null; done
read -r req1 acc1 dur1 < <(get2xx)
# +3 hellos, +1 for the first /api/metrics itself (answered before the next)
[ $((req1 - req0)) -eq 4 ] || { echo "FAIL: GET 2xx went $req0 -> $req1 (want +4)"; exit 1; }
[ $((acc1 - acc0)) -eq 4 ] || { echo "FAIL: accepted went $acc0 -> $acc1 (want +4)"; exit 1; }
[ $((dur1 - dur0)) -eq 4 ] || { echo "FAIL: duration count went $dur0 -> $dur1 (want +4)"; exit 1; }
curl -sS --max-time 5 $base/metrics > "$work/prom"
/usr/bin/python3 - "$work/prom" <<'PY' || { cat "$work/prom"; echo "FAIL: /metrics is not valid exposition text"; exit 1; }
import re, sys
# A strict reading of the text format 0.0.4 (promtool is not installed).
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r"^(%s)(\{%s(?:,%s)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$" % (name, label, label))
types, seen, done, fam = {}, set(), set(), None
text = open(sys.argv[1]).read()
assert text.endswith("\n")
for ln in text[:-1].split("\n"):
    if ln.startswith("# HELP ") or ln.startswith("# TYPE "):
        parts = ln.split(" ", 3)
        assert re.fullmatch(name, parts[2]), ln
        if parts[1] == "TYPE":
            assert parts[2] not in types, "TYPE twice: " + ln
            assert parts[3] in ("counter", "gauge", "histogram"), ln
            types[parts[2]] = parts[3]
        continue
    m = sample.match(ln)
    assert m, "bad sample line: " + ln
    n = m.group(1)
    base = n if n in types else re.sub("_(bucket|sum|count)$", "", n)
    assert base in types, "sample before TYPE: " + ln
    assert n == base or types[base] == "histogram", ln
    if base != fam:
        assert base not in done, "family not contiguous: " + base
        if fam: done.add(fam)
        fam = base
    key = (n, m.group(2))
    assert key not in seen, "series twice: " + ln
    seen.add(key)
assert "tern_http_requests_total" in types and "tern_connections_active" in types
PY
curl -sS --max-time 5 $base/ | grep -q '<title>ternd</title>' || { echo "FAIL: dashboard"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 $base/nope)
[ "$code" = 404 ] || { echo "FAIL: /nope gave $code"; exit 1; }

head -c 1048576 /dev/urandom > "$work/in"
curl -sS --max-time 10 --data-binary @"$work/in" -H 'Content-Type: application/octet-stream' \
  $base/echo -o "$work/out"
cmp "$work/in" "$work/out" || { echo "FAIL: 1 MiB POST /echo differs"; exit 1; }
# Chunked upload (curl sends chunked when told to).
curl -sS --max-time 10 -H 'Transfer-Encoding: chunked' --data-binary @"$work/in" \
  $base/echo -o "$work/out2"
cmp "$work/in" "$work/out2" || { echo "FAIL: chunked POST /echo differs"; exit 1; }

# keep-alive: several URLs on one curl command share a connection.
curl -sS --max-time 5 -v $base/hello $base/hello $base/hello 2>"$work/kv" >/dev/null
grep -q 'Re-using existing connection' "$work/kv" || { cat "$work/kv"; echo "FAIL: no keep-alive reuse"; exit 1; }

pids=()
for i in $(seq 50); do
  ( r=$(curl -sS --max-time 10 --data "client-$i" $base/echo); [ "$r" = "client-$i" ] ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait $p || { echo "FAIL: a concurrent client failed"; exit 1; }; done

kill -TERM $pid
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
if kill -0 $pid 2>/dev/null; then echo "FAIL: ternd did not stop on SIGTERM"; exit 1; fi
rc=0; wait $pid || rc=$?; pid=
grep -q "ternd: stopped" "$work/log" || { cat "$work/log"; echo "FAIL: no clean stop"; exit 1; }
[ $rc -eq 0 ] || { cat "$work/log"; echo "FAIL: exit code $rc"; exit 1; }
# fault injection: the first two responses fail to send (the connection
# drops, as if the peer had gone), then ternd serves normally, and still
# stops cleanly with nothing leaked
TERN_FI='conn/send(1..2)' "$bindir/ternd" --http 127.0.0.1:0 >"$work/log2" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/log2" && break; sleep 0.05; done
base=$(sed -n 's|.*listening on \(http://[0-9.:]*\)/.*|\1|p' "$work/log2")
for i in 1 2; do
  if curl -s --max-time 5 $base/hello >/dev/null; then echo "FAIL: injected send failure $i not seen"; exit 1; fi
done
[ "$(curl -sS --max-time 5 $base/hello)" = hello ] || { echo "FAIL: after the injected faults"; exit 1; }
kill -TERM $pid; rc=0; wait $pid || rc=$?; pid=
[ $rc -eq 0 ] || { cat "$work/log2"; echo "FAIL: ternd with faults: exit code $rc"; exit 1; }
# --fi: one allocation point in ten fails (seeded, so the run repeats):
# some requests fail, ternd survives them, answers again and stops
# cleanly with nothing leaked (LSan at exit under ASan)
"$bindir/ternd" --http 127.0.0.1:0 --fi 'mem/alloc(10%),seed=3' >"$work/log3" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/log3" && break; sleep 0.05; done
base=$(sed -n 's|.*listening on \(http://[0-9.:]*\)/.*|\1|p' "$work/log3")
[ -n "$base" ] || { cat "$work/log3"; echo "FAIL: ternd --fi mem/alloc did not start"; exit 1; }
ok=0
for i in $(seq 40); do
  [ "$(curl -s --max-time 5 $base/hello)" = hello ] && ok=$((ok + 1))
done
[ $ok -gt 0 ] || { echo "FAIL: no request got through 10% allocation failures"; exit 1; }
kill -TERM $pid; rc=0; wait $pid || rc=$?; pid=
[ $rc -eq 0 ] || { cat "$work/log3"; echo "FAIL: ternd --fi mem/alloc: exit code $rc"; exit 1; }
echo "mem/alloc(10%): $ok of 40 requests answered, clean exit"
echo "PASS: /hello /api/status /metrics /api/metrics (source metrics change with requests, valid text) / 404, 1 MiB echo (plain and chunked), keep-alive, 50 concurrent, clean SIGTERM, TERN_FI send faults, --fi allocation failures"
