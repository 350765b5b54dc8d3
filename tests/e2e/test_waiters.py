#!/usr/bin/env python3
"""`leakscan waiters`: every task blocked on one object, named by a
global's name (the global pointing to it) or by its address, or by any
address inside it; exit 1 when any of them is leaked; an unknown name is
a one-line error.

usage: test_waiters.py LEAKSCAN SOUNDNESS_PROGRAM
"""
import os
import re
import subprocess
import sys
import tempfile

from checks import check, finish

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


def run(*args):
    return subprocess.run([leakscan, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)


def snapshot(mode, path):
    subprocess.run([program, mode], stdout=subprocess.DEVNULL, timeout=120, check=True,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=path, LRT_PROCS="2"))
    return path


with tempfile.TemporaryDirectory() as tmp:
    snap = snapshot("global", os.path.join(tmp, "global.snap"))
    p = run("waiters", "soundness_global_chan", snap)
    check(p.returncode == 0 and "waiters of *soundness_global_chan" in p.stdout
          and p.stdout.count("\ntask ") == 1 and "receiver()" in p.stdout
          and "1 task waits on it, 0 of them leaked" in p.stdout,
          f"by a global pointer's name: its one receiver, not leaked:\n{p.stdout}{p.stderr}")
    m = re.search(r"\((0x[0-9a-f]+), which", p.stdout)
    check(m is not None, "the header gives the object's address")
    if m:
        q = run("waiters", m.group(1), snap)
        check(q.returncode == 0 and q.stdout.split("\n", 1)[1] == p.stdout.split("\n", 1)[1],
              "by that address: the same tasks")

    snap = snapshot("counts", os.path.join(tmp, "counts.snap"))
    traces = run("traces", snap).stdout
    # The 100 receivers share one channel; find it through `why`.
    ids = re.findall(r"^task (\d+) \[chan receive \(leaked\).*\n(?:holds: .*\n)?receiver\(\)", traces, re.M)
    check(len(ids) == 100, f"traces shows the 100 leaked receivers ({len(ids)})")
    if ids:
        why = run("why", ids[0], snap).stdout
        m = re.search(r"^\s+(0x[0-9a-f]+): heap object", why, re.M)
        check(m is not None, f"why names the object it waits on:\n{why}")
        if m:
            p = run("waiters", m.group(1), snap)
            check(p.returncode == 1 and p.stdout.count("\ntask ") == 100
                  and "100 tasks wait on it, 100 of them leaked" in p.stdout,
                  f"by address: all 100 leaked receivers, exit 1: {p.stdout[-80:]}")
            inside = hex(int(m.group(1), 16) + 8)
            q = run("waiters", inside, snap)
            check(q.returncode == 1 and q.stdout.startswith(f"waiters of the heap object {m.group(1)} (")
                  and f"holding {inside}" in q.stdout.splitlines()[0]
                  and q.stdout.split("\n", 1)[1] == p.stdout.split("\n", 1)[1],
                  f"an address inside the object names it: the same 100 tasks: {q.stdout.splitlines()[:1]}")

    p = run("waiters", "no_such_global", snap)
    check(p.returncode == 2 and "no symbol 'no_such_global'" in p.stderr and len(p.stderr.splitlines()) == 1,
          f"an unknown name: one line, exit 2: {p.stderr.strip()}")
    p = run("waiters", "0x1", snap)
    check(p.returncode == 0 and "no task waits on it" in p.stdout, "an address nobody waits on")
finish()
