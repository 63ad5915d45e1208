#!/usr/bin/env bash
# bench/http_ws.sh BUILD_DIR: tern against its reference peers, in one run
# on 127.0.0.1 (issue 3's measurements). Servers run on CPU 0, load
# generators on CPU 1, so each side has a core.
#
#   HTTP: wrk -t1 -c50 -d10s and -c200 on GET /hello: floor (bench/floor.c,
#         a bare epoll loop), ternd, nginx (Debian, 1 worker).
#   WS:   64-byte binary echo over 10 connections, ping-pong and 16 in
#         flight, 10 s: ternd /echo and libwebsockets (bench/peers/lws_echo.c).
#   RSS:  per idle keep-alive HTTP connection and per idle WebSocket
#         connection with N (10,000) open, and after they all close.
#
# Reported: requests (messages) per second and per server CPU-second
# (utime+stime from /proc/PID/stat, all the server's processes), median of
# REPS (3) interleaved runs, and ratios. Absolute numbers on a shared machine are noise;
# the ratios within one run are the result. Environment: SECS, REPS, N.
set -euo pipefail
bdir=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECS:-10}; REPS=${REPS:-3}; N=${N:-10000}
bb="$bdir/bench"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
need() { command -v "$1" >/dev/null || { echo "http_ws: SKIP: $1 not installed (TERN_BOOTSTRAP_BENCH=1 tools/bootstrap)"; exit 0; }; }
need wrk; need nginx; need taskset
pkg-config --exists libwebsockets || { echo "http_ws: SKIP: libwebsockets-dev not installed"; exit 0; }

cc -O2 -o "$work/lws_echo" "$top/bench/peers/lws_echo.c" $(pkg-config --cflags --libs libwebsockets)
hz=$(getconf CLK_TCK)

# CPU seconds (utime+stime) used so far by the processes given.
cpu_of() { local t=0 p; for p in "$@"; do
    t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done
  echo "$t"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_floor() { taskset -c 0 "$bb/floor" "$1" >/dev/null & pids+=($!); echo $!; }
start_ternd() { taskset -c 0 "$bdir/ternd" --http "127.0.0.1:$1" >/dev/null & pids+=($!); echo $!; }
start_lws() { taskset -c 0 "$work/lws_echo" "$1" >/dev/null & pids+=($!); echo $!; }
start_nginx() {
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log crit;
events { worker_connections 20000; }
worker_rlimit_nofile 30000;
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$1; location /hello { default_type text/plain; return 200 "hello"; } }
}
EOF
  taskset -c 0 nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" >/dev/null 2>&1 & pids+=($!)
  echo $!
}
all_pids() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"; } # nginx: master + worker
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# One wrk run: prints "req_per_s req_per_cpu_s".
http_run() { local port=$1 conns=$2; shift 2; local c0 c1 out rps
  c0=$(cpu_of "$@")
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${SECS}s" "http://127.0.0.1:$port/hello")
  c1=$(cpu_of "$@")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  awk -v r="$rps" -v d=$((c1 - c0)) -v s="$SECS" -v hz="$hz" \
    'BEGIN { printf "%.0f %.0f\n", r, (d > 0 ? r * s / (d / hz) : 0) }'; }

ws_run() { local port=$1 path=$2 inflight=$3 proto=$4; shift 4; local c0 c1 out rate
  c0=$(cpu_of "$@")
  out=$(taskset -c 1 "$bb/ws_load" "$port" "$path" 10 "$inflight" "$SECS" 64 $proto)
  c1=$(cpu_of "$@")
  rate=$(echo "$out" | sed -n 's/.*rate=\([0-9]*\).*/\1/p')
  awk -v r="$rate" -v d=$((c1 - c0)) -v s="$SECS" -v hz="$hz" \
    'BEGIN { printf "%.0f %.0f\n", r, (d > 0 ? r * (s + 1) / (d / hz) : 0) }'; }

# Runs are interleaved (rep 1 of every server, then rep 2, ...) so a slow
# spell on the shared machine hits all servers alike, not one of them.
declare -A RES RAW
run_one() { local key=$1; shift; read -r x y < <("$@")
  RAW[$key.rate]+="$x "; RAW[$key.cpu]+="$y "; }
report() { local key
  for key in "$@"; do
    RES[$key.rate]=$(printf '%s\n' ${RAW[$key.rate]} | median)
    RES[$key.cpu]=$(printf '%s\n' ${RAW[$key.cpu]} | median)
    printf '  %-22s %10s /s  %10s per CPU-s   (runs: %s)\n' "$key" \
      "${RES[$key.rate]}" "${RES[$key.cpu]}" "${RAW[$key.cpu]% }"
  done; }
ratio() { awk -v a="${RES[$1]}" -v b="${RES[$2]}" 'BEGIN { printf (b > 0 ? "%.2f" : "n/a"), a / b }'; }

echo "== HTTP: wrk -t1, ${SECS}s, GET /hello, median of $REPS (server CPU 0, wrk CPU 1) =="
pf=$(free_port); pt=$(free_port); pn=$(free_port)
fpid=$(start_floor "$pf"); tpid=$(start_ternd "$pt"); npid=$(start_nginx "$pn")
wait_port "$pf"; wait_port "$pt"; wait_port "$pn"; sleep 0.3
npids=$(all_pids "$npid")
for c in 50 200; do
  for _ in $(seq "$REPS"); do
    run_one "floor.c$c" http_run "$pf" "$c" "$fpid"
    run_one "tern.c$c" http_run "$pt" "$c" "$tpid"
    run_one "nginx.c$c" http_run "$pn" "$c" $npids
  done
  report "floor.c$c" "tern.c$c" "nginx.c$c"
done
for c in 50 200; do
  echo "  c=$c: tern/floor per CPU-s $(ratio tern.c$c.cpu floor.c$c.cpu), nginx/floor $(ratio nginx.c$c.cpu floor.c$c.cpu), tern/nginx $(ratio tern.c$c.cpu nginx.c$c.cpu); req/s tern/nginx $(ratio tern.c$c.rate nginx.c$c.rate)"
done
kill "$fpid" $npids 2>/dev/null || true

echo "== WebSocket echo: 64-byte binary, 10 connections, ${SECS}s, median of $REPS =="
pl=$(free_port); lpid=$(start_lws "$pl"); wait_port "$pl"; sleep 0.2
for inflight in 1 16; do
  for _ in $(seq "$REPS"); do
    run_one "tern.ws.if$inflight" ws_run "$pt" /echo "$inflight" "" "$tpid"
    run_one "lws.ws.if$inflight" ws_run "$pl" / "$inflight" echo "$lpid"
  done
  report "tern.ws.if$inflight" "lws.ws.if$inflight"
done
for inflight in 1 16; do
  echo "  in flight $inflight: tern/lws msgs/s $(ratio tern.ws.if$inflight.rate lws.ws.if$inflight.rate), per CPU-s $(ratio tern.ws.if$inflight.cpu lws.ws.if$inflight.cpu)"
done

echo "== Memory: $N idle connections (RSS of the server process) =="
idle_mem() { local label=$1 pid=$2 mode=$3 port=$4 path=$5 proto=${6:-}; local base idle after
  base=$(rss_kib "$pid")
  coproc IC { "$bb/idle_conns" "$mode" "$port" "$path" "$N" $proto; }
  read -r line <&"${IC[0]}"
  sleep 1; idle=$(rss_kib "$pid")
  echo go >&"${IC[1]}"; read -r line <&"${IC[0]}"
  sleep 2; after=$(rss_kib "$pid")
  echo done >&"${IC[1]}"; wait "$IC_PID" 2>/dev/null || true
  awk -v l="$label" -v b="$base" -v i="$idle" -v a="$after" -v n="$N" 'BEGIN {
    printf "  %-26s base %7d KiB  idle %7d KiB  = %6.0f B/conn  after close %7d KiB (%+.1f%% of base)\n",
      l, b, i, (i - b) * 1024 / n, a, (a - b) * 100 / b }'; }
# A fresh server for each measurement, so one does not reuse the other's
# freed heap; each on a new port, so the old one cannot answer wait_port.
kill "$tpid"; pt=$(free_port); tpid=$(start_ternd "$pt"); wait_port "$pt"; sleep 0.3
idle_mem "tern HTTP keep-alive" "$tpid" http "$pt" /hello
kill "$tpid"; pt=$(free_port); tpid=$(start_ternd "$pt"); wait_port "$pt"; sleep 0.3
idle_mem "tern WebSocket" "$tpid" ws "$pt" /echo
kill "$tpid"; pn=$(free_port); npid=$(start_nginx "$pn"); wait_port "$pn"; sleep 0.3
idle_mem "nginx HTTP keep-alive" "$(pgrep -P "$npid" | head -n1)" http "$pn" /hello
kill "$lpid"; pl=$(free_port); lpid=$(start_lws "$pl"); wait_port "$pl"; sleep 0.3
idle_mem "lws WebSocket" "$lpid" ws "$pl" / echo
