#!/usr/bin/env bash
# tests/integ/rm_mount.sh BUILD_DIR: ternctl mount/umount against the RAM
# filesystem example (examples/rm_ramfs.c, mount type "tern-ram") in a
# private registry: mount, files under the mount point, remount
# read-only, umount, and the errors and exit codes.
set -u
B=$1
SRV="$B/example_rm_ramfs"; CTL="$B/ternctl"
for p in "$SRV" "$CTL"; do
  [ -x "$p" ] || { echo "SKIP: $p not built" >&2; exit 77; }
done
REG=$(mktemp -d /tmp/tern-rm-mount.XXXXXX)
"$SRV" -d "$REG" >/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$REG"' EXIT
for _ in $(seq 50); do [ -n "$(ls "$REG")" ] && break; sleep 0.1; done
fail() { echo "FAIL: $*" >&2; exit 1; }
c() { "$CTL" -d "$REG" "$@"; }

c cat /mnt/ram/f >/dev/null 2>&1 && fail "served before the mount"
c mount -T tern-ram -o size=4k none /mnt/ram || fail "mount"
[ "$(c ls)" = "/mnt/ram/" ] || fail "ls: $(c ls)"
c write /mnt/ram/f "hello mount" || fail "write"
[ "$(c cat /mnt/ram/f)" = "hello mount" ] || fail "cat"
out=$(c mount -T tern-ram none /mnt/ram 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *TERN_EBUSY* ]] || fail "mounted twice: rc=$rc $out"
c mount -T tern-ram -u -r none /mnt/ram || fail "remount ro"
out=$(c write /mnt/ram/f x 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *TERN_EPERM* ]] || fail "write on ro: rc=$rc $out"
[ "$(c cat /mnt/ram/f)" = "hello mount" ] || fail "cat on ro"
out=$(c mount -T nfs none /mnt/n 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"no server for mount type 'nfs'"* ]] || fail "unknown type: rc=$rc $out"
out=$(c mount -T tern-ram none mnt/rel 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *TERN_EINVAL* ]] || fail "relative: rc=$rc $out"
out=$(c mount /dev/nothing /mnt/n 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *TERN_ENOENT* ]] || fail "no special: rc=$rc $out"
c mount >/dev/null 2>&1; [ $? -eq 2 ] || fail "usage: no args"
c mount -Z none /mnt/n >/dev/null 2>&1; [ $? -eq 2 ] || fail "usage: bad option"
c umount /mnt/ram /x >/dev/null 2>&1; [ $? -eq 2 ] || fail "usage: umount args"
c umount /mnt/ram || fail "umount"
for _ in $(seq 50); do c cat /mnt/ram/f >/dev/null 2>&1 || break; sleep 0.05; done
out=$(c cat /mnt/ram/f 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *TERN_ENOENT* ]] || fail "after umount: rc=$rc $out"
out=$(c umount /mnt/ram 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *TERN_ENOENT* ]] || fail "umount twice: rc=$rc $out"
c mount -T tern-ram none /mnt/ram2 || fail "mount again"
c umount -T tern-ram /mnt/ram2 || fail "umount by type"
kill $PID; wait $PID
[ -z "$(ls "$REG")" ] || fail "entries left after exit: $(ls "$REG")"
echo "rm_mount: ok"
