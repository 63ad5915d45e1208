#!/usr/bin/env bash
# tests/integ/ternd_nodes.sh BUILD_DIR: ternd's control nodes (--rm,
# tern/ternd_ctl.h) with ternctl, in a private registry:
#   1. host sockets: ls, cat state/status/metrics (the metrics text is the
#      one /metrics serves), log level by write and by devctl (names and
#      numbers), the sample device's devctls and its message queue (FIFO,
#      empty read, full queue, WAIT answered by a write and ended by the
#      client's timeout), notify through ternctl wait (queue input, the
#      metrics' next change, no state change), errors and exit codes, a
#      custom --rm-prefix;
#   2. --tap in a network namespace (root): net/IFNAME: get-addr, set-addr
#      to a new address, then ping and curl that address from the kernel
#      side (the old one stops answering), set-up 0 / 1, get-stats.
# SIGTERM stops ternd cleanly (exit 0, no registry entry left; ASan checks
# leaks).
set -uo pipefail
B=$1
D="$B/ternd"; CTL="$B/ternctl"
for p in "$D" "$CTL"; do
  [ -x "$p" ] || { echo "SKIP: $p not built" >&2; exit 77; }
done
command -v curl >/dev/null || { echo "SKIP: curl missing (tools/bootstrap installs it)"; exit 77; }
work=$(mktemp -d /tmp/tern-nodes.XXXXXX); REG="$work/reg"; pid=; ns=
cleanup() {
  [ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
  [ -n "$ns" ] && ip netns del $ns 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$work/log" ] && cat "$work/log" >&2; exit 1; }
c() { "$CTL" -d "$REG" "$@"; }
wait_started() {
  for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.05; done
  grep -q "listening on" "$work/log" || fail "ternd did not start"
}
stop_ternd() {
  kill -TERM $pid; wait $pid; local rc=$?; pid=
  [ $rc = 0 ] || fail "ternd exited $rc"
  [ -z "$(ls "$REG")" ] || fail "registry entries left: $(ls "$REG")"
}

# ---- 1. host sockets ----------------------------------------------------
"$D" --http 127.0.0.1:0 --rm-dir "$REG" --metrics-period 200 >"$work/log" 2>&1 &
pid=$!
wait_started
port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/log")
want=$(printf '%s\n' /dev/tern/log /dev/tern/metrics /dev/tern/sample /dev/tern/state /dev/tern/status)
[ "$(c ls | sort)" = "$want" ] || fail "ls: $(c ls)"
[ "$(c cat /dev/tern/state)" = OPERATIONAL ] || fail "state: $(c cat /dev/tern/state)"
[ "$(c devctl /dev/tern/state state)" = "ret=0 value=10" ] || fail "state devctl"
c cat /dev/tern/status | /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["state"]=="OPERATIONAL"' \
  || fail "status JSON"
# the same Prometheus text as /metrics (values may move: compare the
# names; one request first, so the HTTP metrics, made on first use, exist
# in both)
curl -sS --max-time 5 -o /dev/null http://127.0.0.1:$port/hello
curl -sS --max-time 5 http://127.0.0.1:$port/metrics | grep '^# TYPE' >"$work/m_http"
c cat /dev/tern/metrics >"$work/m_rm" || fail "cat metrics"
grep '^# TYPE' "$work/m_rm" | cmp -s - "$work/m_http" || fail "metrics differ from /metrics"
grep -q '^ternd_http_requests_total{endpoint="/metrics"} 1$' "$work/m_rm" || fail "metrics counter"
# log level: read, write a name, devctl by name and by number
[ "$(c cat /dev/tern/log)" = "level WARN" ] || fail "log read"
c write /dev/tern/log debug || fail "log write"
[ "$(c devctl /dev/tern/log get-level)" = "ret=0 level=DEBUG" ] || fail "get-level after write"
[ "$(c devctl /dev/tern/log set-level 1)" = "ret=0" ] || fail "set-level 1"
[ "$(c devctl /dev/tern/log 0x80040701)" = "ret=0 data=01000000" ] || fail "GET_LEVEL by number"
[ "$(c devctl /dev/tern/log set-subsys-level rm info)" = "ret=0" ] || fail "set-subsys-level"
out=$(c write /dev/tern/log loud 2>&1); [ $? = 1 ] && [[ $out == *TERN_EINVAL* ]] || fail "bad level: $out"
c devctl /dev/tern/log set-level noisy >/dev/null 2>&1; [ $? = 2 ] || fail "bad level arg: usage"
out=$(c write /dev/tern/state x 2>&1); [ $? = 1 ] || fail "state is read-only: $out"
# sample: QNX's GETVAL/SETVAL/SETGET, by number as examples/rm_sample.c
S=/dev/tern/sample
[ "$(c devctl $S 0x80040501)" = "ret=0 data=00000000" ] || fail "GETVAL"
[ "$(c devctl $S 0x40040502 19000000)" = "ret=0" ] || fail "SETVAL"
[ "$(c devctl $S setget 50)" = "ret=0 value=25" ] || fail "SETGET"
[ "$(c devctl $S getval)" = "ret=0 value=50" ] || fail "GETVAL 2"
# the queue: FIFO, one message per read, empty -> end of data
c write $S first second || fail "sample write"
[ "$(c devctl $S count)" = "ret=0 value=2" ] || fail "count"
[ "$(c cat $S)" = firstsecond ] || fail "sample FIFO"
[ "$(c cat $S)" = "" ] || fail "empty queue reads nothing"
c write $S $(seq 64) || fail "64 writes"
out=$(c write $S overflow 2>&1); [ $? = 1 ] && [[ $out == *TERN_EAGAIN* ]] || fail "full queue: $out"
[ "$(c devctl $S count)" = "ret=0 value=64" ] || fail "count full"
c cat $S >/dev/null
# WAIT: answered by a write from another client ...
c -t 5000 devctl $S wait >"$work/wait" & wpid=$!
sleep 0.3
c write $S wake || fail "write to wake"
wait $wpid || fail "wait devctl failed"
[ "$(cat "$work/wait")" = "ret=0 value=1" ] || fail "wait answer: $(cat "$work/wait")"
# ... or ended by the client's timeout (the unblock reaches the server)
c cat $S >/dev/null
out=$(c -t 300 devctl $S wait 2>&1); [ $? = 1 ] && [[ $out == *TERN_ETIMEDOUT* ]] || fail "wait timeout: $out"
c write $S after || fail "write after an unblocked wait"
[ "$(c cat $S)" = after ] || fail "queue after unblock"
c devctl $S 0x80040599 >/dev/null 2>&1; [ $? = 1 ] || fail "unknown devctl"
# notify (ternctl wait): the queue is readable once a message is in it
c wait $S output --timeout 1000 >/dev/null || fail "sample not writable"
c wait $S input --timeout 3000 >"$work/nw" & wpid=$!
sleep 0.3
kill -0 $wpid 2>/dev/null || fail "wait input returned on an empty queue: $(cat "$work/nw")"
c write $S note || fail "write to notify"
wait $wpid || fail "wait input: exit $?"
[ "$(cat "$work/nw")" = "$S: input" ] || fail "wait input said: $(cat "$work/nw")"
c cat $S >/dev/null
# text nodes are always readable; --change waits for the next change:
# the metrics are published (and so change) every 200 ms, the state not
c wait /dev/tern/state input --timeout 1000 >/dev/null || fail "state not readable"
c wait /dev/tern/metrics input --change --timeout 5000 >/dev/null || fail "no metrics change seen"
c wait /dev/tern/state input --change --timeout 300 >/dev/null 2>&1
[ $? = 3 ] || fail "state changed while OPERATIONAL?"
stop_ternd
# a custom prefix (a trailing / is fine)
"$D" --http 127.0.0.1:0 --rm-dir "$REG" --rm-prefix /srv/t/ >"$work/log" 2>&1 &
pid=$!
wait_started
[ "$(c cat /srv/t/state)" = OPERATIONAL ] || fail "--rm-prefix: $(c ls)"
stop_ternd
echo "ok: host nodes"

# ---- 2. --tap: net/IFNAME -------------------------------------------------
[ "$(id -u)" = 0 ] || { echo "SKIP (part): net node needs root for TAP and netns"; echo PASS; exit 0; }
command -v ip >/dev/null && command -v ping >/dev/null || { echo "SKIP (part): ip/ping missing"; echo PASS; exit 0; }
ns=ternn$$ tap=tapn$$
ip netns add $ns 2>/dev/null || { ns=; echo "SKIP (part): cannot create a network namespace"; echo PASS; exit 0; }
nsx() { ip netns exec $ns "$@"; }
nsx ip link set lo up
ip netns exec $ns "$D" --tap $tap --ip 10.78.0.2/24 --rm-dir "$REG" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do nsx ip link show $tap >/dev/null 2>&1 && break; sleep 0.05; done
wait_started
nsx ip addr add 10.78.0.1/24 dev $tap
nsx ip link set $tap up
N=/dev/tern/net/$tap
[ "$(c devctl $N get-addr)" = "ret=0 addr=10.78.0.2/24 gw=0.0.0.0" ] || fail "get-addr: $(c devctl $N get-addr)"
c cat $N | grep -qx "addr 10.78.0.2/24" || fail "net read: $(c cat $N)"
nsx ping -c 2 -i 0.2 -W 2 10.78.0.2 >/dev/null || fail "ping before the change"
[ "$(c devctl $N set-addr 10.78.0.9/24 10.78.0.1)" = "ret=0" ] || fail "set-addr"
[ "$(c devctl $N get-addr)" = "ret=0 addr=10.78.0.9/24 gw=10.78.0.1" ] || fail "get-addr after set"
nsx ip neigh flush dev $tap
nsx ping -c 2 -i 0.2 -W 2 10.78.0.9 >/dev/null || fail "ping the new address"
[ "$(nsx curl -sS --max-time 5 http://10.78.0.9:8080/hello)" = hello ] || fail "curl the new address"
nsx ping -c 1 -W 1 10.78.0.2 >/dev/null 2>&1 && fail "the old address still answers"
# a bad mask is refused (by number: 0x400c0802 is SET_ADDR, 12 bytes)
out=$(c devctl $N 0x400c0802 0a4e0009ff00ff000a4e0001 2>&1); [ $? = 1 ] && [[ $out == *TERN_EINVAL* ]] || fail "bad mask: $out"
[ "$(c devctl $N set-up 0)" = "ret=0" ] || fail "set-up 0"
[ "$(c devctl $N get-up)" = "ret=0 value=0" ] || fail "get-up 0"
nsx ping -c 1 -W 1 10.78.0.9 >/dev/null 2>&1 && fail "down interface answers"
[ "$(c devctl $N set-up 1)" = "ret=0" ] || fail "set-up 1"
nsx ping -c 2 -i 0.2 -W 2 10.78.0.9 >/dev/null || fail "ping after up"
st=$(c devctl $N get-stats) || fail "get-stats"
[[ $st =~ rx_frames=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] || fail "stats: $st"
[ "$(c devctl $N get-mtu)" = "ret=0 value=1500" ] || fail "get-mtu"
stop_ternd
echo "ok: net node"
echo PASS
