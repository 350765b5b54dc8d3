#!/usr/bin/env bash
# A snapshot opens in the standard tools as any core does: eu-readelf lists
# its notes, gdb loads it and prints every thread's backtrace, eu-stack
# unwinds it.
#   usage: test-compat.sh PROGRAM
set -euo pipefail
prog=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

snap="$scratch/demo.snap"
LEAKSCAN_AT_EXIT="$snap" "$prog" >/dev/null
[ -s "$snap" ] || fail "no snapshot written"

notes=$(eu-readelf --notes "$snap") || fail "eu-readelf cannot read the snapshot"
for want in PRSTATUS PRPSINFO AUXV FILE LEAKSCAN; do
    grep -q "$want" <<<"$notes" || fail "eu-readelf shows no $want note"
done
echo "eu-readelf: notes PRSTATUS PRPSINFO AUXV FILE LEAKSCAN"

bt=$(timeout 120 gdb -nx -batch -ex "info threads" -ex "thread apply all bt" "$prog" "$snap" 2>&1) ||
    fail "gdb failed: $bt"
grep -q "lrt_snapshot_at_exit" <<<"$bt" || fail "gdb shows no lrt_snapshot_at_exit frame: $bt"
grep -q "in lrt_main" <<<"$bt" || fail "gdb shows no lrt_main frame: $bt"
# The rows of `info threads`: "LWP n", or "Thread 0x... (LWP n)" where gdb
# found the dynamic linker's list and with it libthread_db. The parked
# tasks are pseudo-threads, "LWP 1000000000 + id", which only gdb reads
# (a LEAKSCAN note): eu-stack shows the real threads.
threads=$(grep -cE '^[* ] +[0-9]+ +(Thread 0x[0-9a-f]+ \()?LWP [0-9]{1,9}\b' <<<"$bt")
[ "$threads" -ge 3 ] || fail "gdb shows $threads threads, expected the caller, the poller and the workers"
tasks=$(grep -cE '^[* ] +[0-9]+ +LWP 1[0-9]{9} ' <<<"$bt" || true)
[ "$tasks" -ge 5 ] || fail "gdb shows $tasks parked tasks, expected demo's 5 leaked ones at least"
echo "gdb: $threads threads and $tasks parked tasks with backtraces"

st=$(timeout 120 eu-stack --core "$snap" -e "$prog" 2>&1 || true)
grep -q "lrt_main" <<<"$st" || fail "eu-stack does not unwind to lrt_main: $st"
tids=$(grep -c '^TID ' <<<"$st")
[ "$tids" -eq "$threads" ] || fail "eu-stack shows $tids threads, gdb $threads: $st"
echo "eu-stack: $tids threads, the caller unwound to lrt_main"
