#!/usr/bin/env bash
# tests/integ/rm_fuse.sh BUILD_DIR: the FUSE bridge (apps/ternfs).
#   1. ternd --rm --fuse MNT: ls of the mounted registry; cat state and
#      metrics; echo > sample and cat (the queue, one message per read);
#      echo > log and the same level through ternctl (same handlers);
#      reads at an offset (dd skip: the bridge's lseek); refused writes
#      and chmod; ioctl from C (tests/tools/rm_fuse_ioctl: QNX's sample
#      devctls, ENOTTY, WAIT woken by a write and interrupted by a signal,
#      the log node's level and EBADF); poll, select and epoll on the
#      queue (the server's notify) from Python; SIGTERM unmounts and exits 0.
#   2. the ternfs program on other servers: examples/rm_sample (a
#      non-seekable node) and examples/rm_dir (a directory attach: paths
#      below it are looked up on its server).
# Skips loudly without /dev/fuse, without fusermount3 when not root, or
# on a build without libfuse3.
set -uo pipefail
B=$1
D="$B/ternd"; CTL="$B/ternctl"; FS="$B/ternfs"; IOC="$B/rm_fuse_ioctl"; SMP="$B/example_rm_sample"; RDIR="$B/example_rm_dir"
for p in "$D" "$CTL" "$IOC" "$SMP" "$RDIR"; do
  [ -x "$p" ] || { echo "SKIP: $p not built" >&2; exit 77; }
done
[ -x "$FS" ] || { echo "SKIP: no FUSE bridge in this build (libfuse3-dev missing; tools/bootstrap installs it)" >&2; exit 77; }
[ -c /dev/fuse ] || { echo "SKIP: /dev/fuse missing (modprobe fuse; in a container: --device /dev/fuse)" >&2; exit 77; }
if [ "$(id -u)" != 0 ] && ! command -v fusermount3 >/dev/null; then
  echo "SKIP: not root and fusermount3 missing (Debian fuse3)" >&2; exit 77
fi
work=$(mktemp -d /tmp/tern-fuse.XXXXXX); REG="$work/reg"; MNT="$work/mnt"; pid=; spid=; rpid=
mkdir -p "$MNT"
cleanup() {
  [ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
  [ -n "$spid" ] && kill $spid 2>/dev/null && wait $spid 2>/dev/null
  [ -n "$rpid" ] && kill $rpid 2>/dev/null && wait $rpid 2>/dev/null
  mountpoint -q "$MNT" && { umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null; }
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$work/log" ] && cat "$work/log" >&2; exit 1; }
c() { "$CTL" -d "$REG" "$@"; }
wait_for() { for _ in $(seq 100); do grep -q "$1" "$work/log" && return 0; sleep 0.05; done; fail "no '$1'"; }

# ---- 1. ternd --fuse ---------------------------------------------------------
"$D" --http 127.0.0.1:0 --rm-dir "$REG" --fuse "$MNT" >"$work/log" 2>&1 &
pid=$!
wait_for "listening on"
grep -q "registry mounted" "$work/log" || fail "not mounted"
T="$MNT/dev/tern"
[ "$(ls "$MNT")" = dev ] || fail "ls of the root: $(ls "$MNT")"
[ "$(ls "$T" | tr '\n' ' ')" = "log metrics sample state status " ] || fail "ls: $(ls "$T")"
[ -d "$MNT/dev" ] && [ -f "$T/state" ] || fail "types"
[ "$(stat -c %a "$T/state")" = 444 ] && [ "$(stat -c %a "$T/sample")" = 666 ] || fail "modes"
[ -e "$T/nothing" ] && fail "a name nobody attached exists"
[ "$(cat "$T/state")" = OPERATIONAL ] || fail "cat state: $(cat "$T/state")"
grep -q '^ternd_uptime_seconds ' "$T/metrics" || fail "cat metrics"
cat "$T/status" | /usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)' || fail "status JSON"
# reads at an offset: dd seeks, the bridge sends an lseek
[ "$(dd if="$T/state" bs=1 skip=2 count=3 status=none)" = ERA ] || fail "dd skip"
# the queue: two writes, one cat (a read per message)
echo hello >"$T/sample" || fail "echo > sample"
echo world >>"$T/sample" || fail "echo >> sample"
[ "$(cat "$T/sample")" = "$(printf 'hello\nworld')" ] || fail "cat sample"
[ -z "$(cat "$T/sample")" ] || fail "empty queue"
# the same handlers as ternctl's
c write /dev/tern/sample from-ternctl || fail "ternctl write"
[ "$(cat "$T/sample")" = from-ternctl ] || fail "ternctl's message through FUSE"
echo debug >"$T/log" || fail "echo > log"
[ "$(c devctl /dev/tern/log get-level)" = "ret=0 level=DEBUG" ] || fail "level via ternctl"
c devctl /dev/tern/log set-level warn >/dev/null
[ "$(cat "$T/log")" = "level WARN" ] || fail "level via FUSE"
echo loud >"$T/log" 2>/dev/null && fail "bad level accepted"
echo x >"$T/state" 2>/dev/null && fail "write to state accepted"
chmod 600 "$T/sample" 2>/dev/null && fail "chmod accepted"
# ioctl from C: devctls, ENOTTY, WAIT by write and by signal (interrupt)
timeout 30 "$IOC" "$T/sample" "$T/log" || fail "rm_fuse_ioctl"
# poll, select and epoll on the queue from Python (the server's notify):
# not readable while empty, readable once another process writes, and a
# text node is always readable
cat "$T/sample" >/dev/null; [ -z "$(cat "$T/sample")" ] || fail "queue not empty before poll"
( sleep 0.4; "$CTL" -d "$REG" write /dev/tern/sample ping ) &
timeout 20 /usr/bin/python3 - "$T/sample" "$T/state" <<'PY' || fail "poll/select/epoll on nodes"
import os, select, sys, time
q, st = sys.argv[1], sys.argv[2]
fd = os.open(q, os.O_RDWR)
p = select.poll(); p.register(fd, select.POLLIN)
assert p.poll(0) == [], "empty queue readable"
t0 = time.time()
r = p.poll(5000)
took = time.time() - t0
assert r and r[0][1] & select.POLLIN, "no POLLIN after the write: %r" % (r,)
assert 0.2 < took < 4, "woke after %.2f s" % took
assert os.read(fd, 100) == b"ping"
# select: writable at once (room in the queue), not readable (empty)
rl, wl, _ = select.select([fd], [fd], [], 0)
assert rl == [] and wl == [fd], (rl, wl)
# epoll: a write through the bridge itself wakes it
ep = select.epoll(); ep.register(fd, select.EPOLLIN)
assert ep.poll(0) == []
os.write(fd, b"pong")
ev = ep.poll(5)
assert ev and ev[0][1] & select.EPOLLIN, ev
assert os.read(fd, 100) == b"pong"
sfd = os.open(st, os.O_RDONLY)
assert select.select([sfd], [], [], 0)[0] == [sfd]
print("poll ok: woke after %.2f s" % took)
PY
# many opens and closes: nothing piles up (the server counts OCBs)
for i in $(seq 50); do cat "$T/state" >/dev/null || fail "cat $i"; done
kill -TERM $pid; wait $pid; rc=$?; pid=
[ $rc = 0 ] || fail "ternd exited $rc"
mountpoint -q "$MNT" && fail "still mounted after ternd exited"
echo "ok: ternd --fuse"

# ---- 2. the ternfs program, another server ---------------------------------
"$SMP" -d "$REG" /dev/x/sample >/dev/null 2>&1 &
spid=$!
for _ in $(seq 50); do [ -n "$(ls "$REG")" ] && break; sleep 0.1; done
"$FS" -d "$REG" "$MNT" >"$work/log" 2>&1 &
pid=$!
wait_for "mounted on"
echo "kept" >"$MNT/dev/x/sample" || fail "ternfs: write"
[ "$(cat "$MNT/dev/x/sample")" = kept ] || fail "ternfs: read"
# the example keeps the last write; its node is S_IFCHR: a regular file
# here, opened non-seekable
[ "$(stat -c %F "$MNT/dev/x/sample")" = "regular empty file" ] || [ "$(stat -c %F "$MNT/dev/x/sample")" = "regular file" ] || fail "ternfs: type"
[ "$(head -c 2 "$MNT/dev/x/sample")" = ke ] || fail "ternfs: head"
/usr/bin/python3 - "$MNT/dev/x/sample" <<'PY' || fail "ternfs: lseek on a non-seekable node"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.lseek(fd, 1, os.SEEK_SET)
    sys.exit("lseek worked")
except OSError as e:
    assert e.errno == errno.ESPIPE, e
assert os.read(fd, 10) == b"kept\n"
os.close(fd)
PY
# a directory attach (examples/rm_dir): the directory, and paths below it
# that only its server knows (no readdir of them: lookups reach them)
"$RDIR" -d "$REG" /dev/r >/dev/null 2>&1 &
rpid=$!
for _ in $(seq 50); do [ "$(ls "$REG" | wc -l)" = 2 ] && break; sleep 0.1; done
[ -d "$MNT/dev/r" ] || fail "ternfs: directory attach is not a directory"
[ "$(cat "$MNT/dev/r/3")" = 0 ] || fail "ternfs: served path"
echo 42 >"$MNT/dev/r/3" || fail "ternfs: write to a served path"
[ "$(cat "$MNT/dev/r/3")" = 42 ] && [ "$(c cat /dev/r/3)" = 42 ] || fail "ternfs: served value"
[ "$(stat -c %a "$MNT/dev/r/3")" = 644 ] || fail "ternfs: served mode"
[ -e "$MNT/dev/r/9" ] && fail "ternfs: a path the server refuses exists"
echo 1x >"$MNT/dev/r/3" 2>/dev/null && fail "ternfs: bad number accepted"
kill $rpid; wait $rpid; rpid=
kill -INT $pid; wait $pid; rc=$?; pid=
[ $rc = 0 ] || fail "ternfs exited $rc"
mountpoint -q "$MNT" && fail "ternfs: still mounted"
echo "ok: ternfs"
echo PASS
