#!/usr/bin/env bash
# bench/run.sh BUILD_DIR: run tern's benchmarks (make bench builds first).
#
# Builds nothing. Bounded: each program stops itself after 40 s and is
# killed at 50 s; the connection sections normally take ~2 s together.
# Each benchmark is a section: a function bench_<name> that
# runs its programs under a time limit and appends lines to SUMMARY. To add
# one, write the function and add its name to SECTIONS below. A section
# that cannot run (missing program, peer not installed, descriptor limit)
# reports SKIP and the others still run.
#
# Environment: BENCH_ONLY="conn_idle conn_cycle" runs only those sections;
# CONN_IDLE_N (10000), CONN_CYCLE_N (1000), CONN_CYCLE_CYCLES (10),
# RM_RTT_N (20000).
# Results and their meaning: docs/PERFORMANCE.md.
set -u

BUILD=${1:-build/release}
if [ ! -d "$BUILD" ]; then
  echo "bench/run.sh: build directory '$BUILD' not found (run make bench)" >&2
  exit 2
fi
BIN="$BUILD/bench"
[ -d "$BIN" ] || BIN="$BUILD"

SECTIONS=(conn_idle conn_cycle http_ws ip_tap ip_conn_mem rm_rtt)

SUMMARY=()
FAILED=0
RUNNING= # process group of the program running now, if any

# Every program runs in its own process group under timeout(1), so Ctrl-C
# or the end of this script takes down it and the server it forked (which
# also dies with its parent: PR_SET_PDEATHSIG).
cleanup() {
  if [ -n "$RUNNING" ]; then
    kill -TERM -- "-$RUNNING" 2>/dev/null
    RUNNING=
  fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# run_prog SECONDS OUTFILE PROG ARGS...: run with a hard time limit, save
# stdout in OUTFILE and print it; returns the exit status (124: timeout).
run_prog() {
  local secs=$1 out=$2
  shift 2
  setsid -w timeout -k 5 "$secs" "$@" >"$out" &
  RUNNING=$!
  wait "$RUNNING"
  local rc=$?
  RUNNING=
  cat "$out"
  [ $rc -eq 124 ] && echo "(time limit of ${secs}s reached)" >&2
  return $rc
}

# field KEY FILE: value of KEY=... on the last line that has it.
field() {
  grep -o "\b$1=[^ ]*" "$2" | tail -n 1 | cut -d= -f2
}

verdict() { # verdict OK_CONDITION_EXIT_STATUS
  if [ "$1" -eq 0 ]; then echo "PASS"; else echo "MISS"; fi
}

# ---- section: idle connection memory -----------------------------------
bench_conn_idle() {
  local prog="$BIN/conn_idle" out="$TMP/conn_idle.out" rc
  if [ ! -x "$prog" ]; then
    SUMMARY+=("conn_idle: SKIP ($prog not built)")
    return
  fi
  run_prog 50 "$out" "$prog" -n "${CONN_IDLE_N:-10000}" -t 40
  rc=$?
  if [ $rc -eq 77 ]; then
    SUMMARY+=("conn_idle: SKIP (descriptor limit too low)")
    return
  elif [ $rc -ne 0 ]; then
    SUMMARY+=("conn_idle: FAIL (exit $rc)")
    FAILED=1
    return
  fi
  local bpc ratio base trim
  bpc=$(field bytes_per_conn "$out")
  ratio=$(field after_close_ratio "$out")
  base=$(field rss_base_kib "$out")
  trim=$(field rss_after_trim_kib "$out")
  awk -v b="$bpc" 'BEGIN { exit !(b <= 1024) }'
  SUMMARY+=("conn_idle: $(verdict $?) ${bpc} bytes of server RSS per idle connection (target <= 1024); RSS after closing all = ${ratio} x baseline (${trim} KiB after malloc_trim, baseline ${base} KiB)")
}

# ---- section: connect/close cycles --------------------------------------
bench_conn_cycle() {
  local prog="$BIN/conn_cycle" out="$TMP/conn_cycle.out" rc
  if [ ! -x "$prog" ]; then
    SUMMARY+=("conn_cycle: SKIP ($prog not built)")
    return
  fi
  run_prog 50 "$out" "$prog" -n "${CONN_CYCLE_N:-1000}" \
    -c "${CONN_CYCLE_CYCLES:-10}" -t 40
  rc=$?
  if [ $rc -eq 77 ]; then
    SUMMARY+=("conn_cycle: SKIP (descriptor limit too low)")
    return
  elif [ $rc -ne 0 ]; then
    SUMMARY+=("conn_cycle: FAIL (exit $rc)")
    FAILED=1
    return
  fi
  local g hg
  g=$(field growth_kib "$out")
  hg=$(field heap_growth_bytes "$out")
  awk -v g="$g" 'BEGIN { exit !(g < 64) }'
  SUMMARY+=("conn_cycle: $(verdict $?) RSS growth cycle 1 -> last = ${g} KiB (target < 64); malloc in-use growth = ${hg} bytes")
}

# ---- section: HTTP and WebSocket against floor, nginx, libwebsockets ------
bench_http_ws() {
  local out="$TMP/http_ws.out" rc
  # About 5 minutes with the defaults (SECS=10, REPS=3).
  run_prog 900 "$out" bash "$(dirname "$0")/http_ws.sh" "$BUILD"
  rc=$?
  if [ $rc -ne 0 ]; then
    SUMMARY+=("http_ws: FAIL (exit $rc)")
    FAILED=1
    return
  fi
  if grep -q SKIP "$out"; then
    SUMMARY+=("http_ws: $(grep SKIP "$out" | head -n1)")
    return
  fi
  SUMMARY+=("http_ws: see the ratios above (targets: tern >= 0.9x floor per CPU-s on /hello, >= 1.5x libwebsockets on WS echo)")
}

# ---- section: tern's own stack: memory per idle TCP connection -----------
bench_ip_conn_mem() {
  local prog="$BIN/ip_conn_mem" out="$TMP/ip_conn_mem.out" rc
  if [ ! -x "$prog" ]; then
    SUMMARY+=("ip_conn_mem: SKIP ($prog not built)")
    return
  fi
  run_prog 300 "$out" "$prog" -n "${IP_CONN_N:-10000}" -c 3
  rc=$?
  if [ $rc -ne 0 ]; then
    SUMMARY+=("ip_conn_mem: FAIL (exit $rc)")
    FAILED=1
    return
  fi
  local per pool growth ok
  per=$(field per_conn_heap_per_side "$out")
  pool=$(field pool_blocks_idle "$out")
  growth=$(field heap_growth_after_first_cycle "$out")
  ok=$(awk -v p="$per" -v b="$pool" -v g="$growth" 'BEGIN{print (p <= 512 && b == 0 && g < 4096) ? 0 : 1}')
  SUMMARY+=("ip_conn_mem: $per B heap per idle TCP connection per side, $pool pool blocks held idle, growth after the first cycle $growth B: $(verdict "$ok")")
}

# ---- section: tern's own stack through TAP vs the kernel -----------------
bench_ip_tap() {
  local out="$TMP/ip_tap.out" rc
  run_prog 600 "$out" bash "$(dirname "$0")/ip_tap.sh" "$BUILD"
  rc=$?
  if [ $rc -ne 0 ]; then
    SUMMARY+=("ip_tap: FAIL (exit $rc)")
    FAILED=1
    return
  fi
  if grep -q SKIP "$out"; then
    SUMMARY+=("ip_tap: $(grep SKIP "$out" | head -n1)")
    return
  fi
  local tx rx
  tx=$(sed -n 's/.*kernel->tern *\([0-9.]*\) MB.*/\1/p' "$out")
  rx=$(sed -n 's/.*tern->kernel *\([0-9.]*\) MB.*/\1/p' "$out")
  if grep -q "data FAIL" "$out"; then
    SUMMARY+=("ip_tap: FAIL (data differs)")
    FAILED=1
    return
  fi
  # target: 2x lwIP's tuned 180 MB/s through TAP on this machine class
  local ok
  ok=$(awk -v a="$tx" -v b="$rx" 'BEGIN{print (a >= 360 && b >= 360) ? 0 : 1}')
  SUMMARY+=("ip_tap: kernel->tern $tx MB/s, tern->kernel $rx MB/s (target >= 360 MB/s = 2x lwIP tuned): $(verdict "$ok")")
}

# ---- section: resource manager devctl round trip vs bare SEQPACKET ------
bench_rm_rtt() {
  local prog="$BIN/rm_rtt" out="$TMP/rm_rtt.out" rc
  if [ ! -x "$prog" ]; then
    SUMMARY+=("rm_rtt: SKIP ($prog not built)")
    return
  fi
  run_prog 50 "$out" "$prog" -n "${RM_RTT_N:-20000}"
  rc=$?
  if [ $rc -ne 0 ]; then
    SUMMARY+=("rm_rtt: FAIL (exit $rc)")
    FAILED=1
    return
  fi
  local fm rm ratio r99
  fm=$(field floor_median_us "$out")
  rm=$(field rm_median_us "$out")
  ratio=$(field ratio_median "$out")
  r99=$(field ratio_p99 "$out")
  awk -v r="$ratio" 'BEGIN { exit !(r <= 1.5) }'
  SUMMARY+=("rm_rtt: $(verdict $?) devctl round trip median ${rm} us vs bare SEQPACKET ${fm} us = ${ratio}x (p99 ${r99}x; target <= 1.5x)")
  # the same with the server's handlers on a thread pool (informational)
  if run_prog 50 "$out" "$prog" -n "${RM_RTT_N:-20000}" -p; then
    SUMMARY+=("rm_rtt: INFO pool mode median $(field rm_median_us "$out") us, p99 $(field rm_p99_us "$out") us (loop mode ${rm} us)")
  else
    SUMMARY+=("rm_rtt: FAIL (pool mode)")
    FAILED=1
  fi
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tern-bench.XXXXXX")
trap 'cleanup; rm -rf "$TMP"' EXIT

echo "== tern benchmarks ($BUILD) on $(nproc) CPUs, Linux $(uname -r) =="
for s in "${SECTIONS[@]}"; do
  if [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" $s "* ]]; then
    continue
  fi
  echo
  echo "== $s =="
  "bench_$s"
done

echo
echo "== summary =="
echo "targets: <= 1 KiB of server memory per idle connection; no growth after the first cycle"
for line in "${SUMMARY[@]}"; do
  echo "  $line"
done
exit $FAILED
