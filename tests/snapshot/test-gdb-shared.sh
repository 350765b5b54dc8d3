#!/usr/bin/env bash
# gdb on a snapshot of a program linked against libleakrt.so, as
# pkg-config links it: `info sharedlibrary` lists libleakrt and libc (the
# snapshot carries the executable's dynamic section, which RELRO made
# read-only, so DT_DEBUG leads gdb to the dynamic linker's list, and the
# vDSO its list names), and the caller's backtrace is symbolised through
# the library: lrt_snapshot_at_exit in libleakrt's own source.
#   usage: test-gdb-shared.sh SHARED_PROGRAM
set -euo pipefail
prog=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

snap="$scratch/shared.snap"
LEAKSCAN_AT_EXIT="$snap" LRT_PROCS=2 "$prog" counts >/dev/null
[ -s "$snap" ] || fail "no snapshot written"
out=$(timeout 120 gdb -nx -batch -ex "info sharedlibrary" -ex "thread 1" -ex "bt" "$prog" "$snap" 2>&1) ||
    fail "gdb failed: $out"
grep -qE '^0x[0-9a-f]+ +0x[0-9a-f]+ +Yes .*/libleakrt\.so' <<<"$out" ||
    fail "info sharedlibrary does not list libleakrt.so with its symbols read: $out"
grep -qE '^0x[0-9a-f]+ +0x[0-9a-f]+ +Yes .*/libc\.so' <<<"$out" || fail "info sharedlibrary does not list libc: $out"
! grep -q "No shared libraries loaded" <<<"$out" || fail "gdb found no shared libraries: $out"
! grep -q "Can't read pathname for load map" <<<"$out" || fail "gdb could not read a load map's name: $out"
grep -qE 'lrt_snapshot_at_exit \(\) at .*runtime-snapshot/snapshot\.c:[0-9]+' <<<"$out" ||
    fail "the caller's backtrace is not symbolised through libleakrt: $out"
grep -q " in main " <<<"$out" || fail "the backtrace does not reach main: $out"
echo "gdb: libleakrt and libc listed; the caller unwound through libleakrt to main"
