#!/usr/bin/env python3
"""`leakscan diff BASE NEW` over two snapshots of samples/soundness: one
with 1 leaked receiver ("first-object"), one with 100 of them and a lone
receiver elsewhere ("counts"). Groups match by symbolised stack.

usage: test_diff.py LEAKSCAN SOUNDNESS_PROGRAM
"""
import os
import re
import subprocess
import sys
import tempfile

from checks import check, finish


def rows(text):
    return [(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4))
            for m in re.finditer(r"^\s*([+-]\d+)\s+(\d+)\s+(\d+)\s+chan receive\s+(\w+)", text, re.M)]


leakscan, program = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as tmp:
    snaps = {}
    for mode in ("first-object", "counts"):
        snaps[mode] = os.path.join(tmp, mode + ".snap")
        subprocess.run([program, mode], env=dict(os.environ, LEAKSCAN_AT_EXIT=snaps[mode], LRT_PROCS="2"),
                       stdout=subprocess.DEVNULL, check=True, timeout=120)
    p = subprocess.run([leakscan, "diff", snaps["first-object"], snaps["counts"]],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    got = sorted(rows(p.stdout))
    check(got == [(1, 0, 1, "lone_receiver"), (99, 1, 100, "receiver")],
          f"grew and appeared: {got}")
    check(p.returncode == 1, "exit 1 when groups grew or appeared")
    p = subprocess.run([leakscan, "diff", snaps["counts"], snaps["first-object"]],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    got = sorted(rows(p.stdout))
    check(got == sorted([(-99, 100, 1, "receiver"), (-1, 1, 0, "lone_receiver")]),
          f"shrank and vanished: {got}")
    check(p.returncode == 0, "exit 0 when nothing grew")
    p = subprocess.run([leakscan, "diff", snaps["counts"]], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    check(p.returncode == 2 and "two snapshots" in p.stderr, "one file is a usage error")
finish()
