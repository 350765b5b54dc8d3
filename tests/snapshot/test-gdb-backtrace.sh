#!/usr/bin/env bash
# gdb shows where a parked task blocked: each parked task is a pseudo-thread
# of the snapshot ("LWP 1000000000 + task id", formats/README.md), so
# `thread apply all bt` on the pool sample shows each leaked worker's stack,
# lrt_chan_recv (libleakrt's source) then worker at the line its LEAK
# comment marks, for the static and the shared link. leakscan's report is
# unchanged by them: the same as for a snapshot taken without any
# (LRT_SNAPSHOT_GDB_TASKS=0), which gdb shows none of, and the leaked count
# the sample's comment says; and pseudo-threads a hostile file made up
# (tasks that do not exist, garbage registers) change nothing either.
#   usage: test-gdb-backtrace.sh LEAKSCAN POOL_SOURCE PROGRAM...
set -euo pipefail
leakscan=$1 src=$2
shift 2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

line=$(grep -n 'LEAK(chan receive, count=' "$src" | cut -d: -f1)
count=$(sed -n 's/.*LEAK(chan receive, count=\([0-9]*\)).*/\1/p' "$src")
[ -n "$line" ] && [ -n "$count" ] || fail "no LEAK(chan receive, count=N) comment in $src"

# The pseudo-threads of gdb's `thread apply all bt` whose stack has
# lrt_chan_recv (in chan.c) and, further out, worker at pool.c:$line.
blocked_in_worker() {
    awk -v line="$line" '
        /^Thread [0-9]+ \((Thread 0x[0-9a-f]+ \()?LWP [0-9]+\)/ {
            lwp = $0; sub(/.*LWP /, "", lwp); sub(/\).*/, "", lwp)
            pseudo = lwp + 0 >= 1000000000; recv = 0; next
        }
        pseudo && / lrt_chan_recv \(.*\) at .*runtime-snapshot\/chan\.c:[0-9]+$/ { recv = 1 }
        pseudo && recv && $0 ~ (" worker \\(.*\\) at .*samples/pool\\.c:" line "$") { n++; recv = 0 }
        END { print n + 0 }'
}

# leakscan's verdicts and groups, without what differs between two runs.
# Its exit status is 1 when it finds leaks.
report() {
    local json status=0
    json=$("$leakscan" --json "$1") || status=$?
    [ "$status" -le 1 ] || return "$status"
    python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["leaked"], r["tasks"])
for g in r["groups"]:
    print(g["count"], g["wait_reason"], [(f.get("function"), f.get("line")) for f in g["frames"]])' <<<"$json"
}

# A copy of snapshot $1 in $2 whose pseudo-threads are hostile: each names
# a task that does not exist and holds garbage registers. Prints how many.
forge() {
    python3 - "$1" "$2" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
phoff, = struct.unpack_from("<Q", data, 32)
ptype, = struct.unpack_from("<I", data, phoff)
assert ptype == 4, "the first program header is not PT_NOTE"
off, filesz = struct.unpack_from("<Q16xQ", data, phoff + 8)
at, end, n = off, off + filesz, 0
while at + 12 <= end:
    namesz, descsz, ntype = struct.unpack_from("<III", data, at)
    name = bytes(data[at + 12:at + 12 + namesz])
    desc = at + 12 + (namesz + 3 & ~3)
    if name == b"LEAKSCAN\0" and ntype == 1:
        struct.pack_into("<i", data, desc + 32, 1000000000 + 999999 + n)   # pr_pid
        data[desc + 112:desc + 112 + 27 * 8] = b"\x41" * (27 * 8)         # pr_reg
        n += 1
    at = desc + (descsz + 3 & ~3)
open(sys.argv[2], "wb").write(data)
print(n)
PY
}

for prog in "$@"; do
    name=$(basename "$prog")
    snap="$scratch/$name.snap" bare="$scratch/$name.bare.snap"
    LEAKSCAN_AT_EXIT="$snap" LRT_PROCS=2 "$prog" >/dev/null
    LEAKSCAN_AT_EXIT="$bare" LRT_PROCS=2 LRT_SNAPSHOT_GDB_TASKS=0 "$prog" >/dev/null
    [ -s "$snap" ] && [ -s "$bare" ] || fail "$name: no snapshot written"

    out=$(timeout 120 gdb -nx -batch -ex "info threads" -ex "thread apply all bt" "$prog" "$snap" 2>&1) ||
        fail "$name: gdb failed: $out"
    n=$(blocked_in_worker <<<"$out")
    [ "$n" -eq "$count" ] ||
        fail "$name: gdb shows $n parked tasks in lrt_chan_recv from worker at pool.c:$line, expected $count: $out"
    # The real threads are still there, the snapshot's caller first.
    grep -qE '^\* 1 +(Thread 0x[0-9a-f]+ \()?LWP [0-9]{1,9}\)? ' <<<"$out" ||
        fail "$name: thread 1 is not a real thread: $out"
    # `thread N` then `bt`, as a user would: the first pseudo-thread.
    id=$(grep -oE '^  +[0-9]+ +LWP 1[0-9]{9} ' <<<"$out" | awk 'NR == 1 { print $1 }')
    [ -n "$id" ] || fail "$name: info threads lists no pseudo-thread: $out"
    one=$(timeout 120 gdb -nx -batch -ex "thread $id" -ex "bt" "$prog" "$snap" 2>&1) ||
        fail "$name: gdb failed: $one"
    grep -qE " worker \(.*\) at .*samples/pool\.c:$line$" <<<"$one" ||
        fail "$name: thread $id's backtrace does not reach worker at pool.c:$line: $one"

    bare_out=$(timeout 120 gdb -nx -batch -ex "info threads" "$prog" "$bare" 2>&1) ||
        fail "$name: gdb failed: $bare_out"
    ! grep -qE 'LWP 1[0-9]{9}' <<<"$bare_out" ||
        fail "$name: LRT_SNAPSHOT_GDB_TASKS=0 still wrote pseudo-threads: $bare_out"

    with=$(report "$snap") || fail "$name: leakscan failed on $snap"
    without=$(report "$bare") || fail "$name: leakscan failed on $bare"
    [ "$(head -1 <<<"$with" | cut -d' ' -f1)" -eq "$count" ] ||
        fail "$name: leakscan reports $(head -1 <<<"$with" | cut -d' ' -f1) leaked, expected $count"
    [ "$with" = "$without" ] ||
        fail "$name: leakscan's report differs with pseudo-threads: $with
without: $without"
    forged=$(forge "$snap" "$scratch/$name.forged.snap") || fail "$name: cannot forge pseudo-threads"
    [ "$forged" -eq "$n" ] || fail "$name: $forged pseudo-thread notes in the file, gdb showed $n"
    hostile=$(report "$scratch/$name.forged.snap") || fail "$name: leakscan failed on forged pseudo-threads"
    [ "$hostile" = "$with" ] ||
        fail "$name: pseudo-threads naming no task changed leakscan's report: $hostile"
    echo "$name: gdb shows $n parked tasks blocked in lrt_chan_recv from worker at pool.c:$line;" \
         "leakscan: $count leaked, as without pseudo-threads or with forged ones"
done
