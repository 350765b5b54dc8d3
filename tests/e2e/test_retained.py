#!/usr/bin/env python3
"""Memory held by leaks, exactly, on the soundness sample's "retain" mode:
10 leaked holders each pin three 1,024-byte nodes and a 4,096-byte buffer
(7,168 bytes in 4 objects, nothing else points there), and 2 leaked
sharers pin one 2,048-byte object between them and reach holder 0's first
node, which the larger group already holds: counted once, shown as shared.

usage: test_retained.py LEAKSCAN SOUNDNESS_PROGRAM
"""
import json
import os
import re
import subprocess
import sys
import tempfile

from checks import GO, check, finish, go_env

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


def run(*args):
    return subprocess.run([leakscan, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)


with tempfile.TemporaryDirectory() as tmp:
    snap = os.path.join(tmp, "retain.snap")
    subprocess.run([program, "retain"], stdout=subprocess.DEVNULL, timeout=120, check=True,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))
    d = json.loads(run("--json", snap).stdout)
    groups = {g["frames"][0]["function"]: g for g in d["groups"]}
    check(set(groups) == {"holder", "sharer"} and groups["holder"]["count"] == 10
          and groups["sharer"]["count"] == 2, f"two groups: 10 holders, 2 sharers ({list(groups)})")
    if set(groups) == {"holder", "sharer"}:
        check(groups["holder"]["retained"] == {"bytes": 71680, "objects": 40,
                                              "shared_bytes": 0, "shared_objects": 0},
              f"holders hold 10 x 7,168 bytes in 40 objects: {groups['holder']['retained']}")
        check(groups["sharer"]["retained"] == {"bytes": 2048, "objects": 1,
                                              "shared_bytes": 1024, "shared_objects": 1},
              f"sharers hold their one object once, and share holder 0's node: "
              f"{groups['sharer']['retained']}")
    check(d["retained_bytes"] == 73728 and d["retained_objects"] == 41,
          f"the total counts every object once: {d['retained_bytes']} bytes, {d['retained_objects']}")

    p = run(snap)
    check("holding 73728 bytes in 41 objects" in p.stdout, "the text header shows the total")
    check("# holds 71680 bytes in 40 objects" in p.stdout
          and "(and reaches 1024 bytes in 1 object a group above holds)" in p.stdout,
          "each group shows what it holds and what it shares")

    p = run("traces", snap)
    held = [int(b) for b in re.findall(r"^holds: (\d+) bytes", p.stdout, re.M)]
    check(sorted(held) == [2048] + [7168] * 10,
          f"traces says what each task holds (the sharers' object goes to the first): {sorted(held)}")
    p = run("html", snap)
    check("they hold 73728 bytes in 41 objects" in p.stdout and "holding 71680 bytes in 40 objects" in p.stdout,
          "the HTML page shows them too")
    p = run("top", "--bytes", snap)
    rows = dict((m.group(3), (int(m.group(1)), int(m.group(2))))
                for m in re.finditer(r"^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+(\S+)$",
                                     p.stdout, re.M))
    check("73728 bytes held by leaked tasks" in p.stdout and rows == {"holder": (71680, 71680),
                                                                      "sharer": (2048, 2048)},
          f"top --bytes sorts functions by the bytes their tasks hold: {rows}")

    profile = os.path.join(tmp, "retain.pb.gz")
    run("--pprof", profile, "-q", snap)
    p = subprocess.run([GO, "tool", "pprof", "-sample_index=retained", "-raw", profile],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300,
                       env=go_env(tmp))
    values = sorted(tuple(int(v) for v in m.groups())
                    for m in re.finditer(r"^\s+(\d+)\s+(\d+):", p.stdout, re.M))
    check(values == [(2, 2048), (10, 71680)],
          f"--pprof carries retained/bytes beside the count: {values} {p.stderr[:200]}")

    snap = os.path.join(tmp, "global.snap")
    subprocess.run([program, "global"], stdout=subprocess.DEVNULL, timeout=120, check=True,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))
    d = json.loads(run("--json", snap).stdout)
    check(d["retained_bytes"] == 0, "no leak, nothing held")
finish()
