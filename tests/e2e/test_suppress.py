#!/usr/bin/env python3
"""Suppressions: --ignore-top, --ignore-any and --ignore-creator (globs or
/regex/ over symbolised function names) and suppression files hide known
leaks from every view, `leakscan run` too, and the header counts what was
hidden. On the soundness sample's "counts" mode: 100 tasks leaked in
receiver() and 1 in lone_receiver(), all spawned by run().

usage: test_suppress.py LEAKSCAN SOUNDNESS_PROGRAM
"""
import json
import os
import subprocess
import sys
import tempfile

from checks import check, finish

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


def run(*args):
    return subprocess.run([leakscan, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)


def counts(*args):
    p = run("--json", *args)
    if p.returncode not in (0, 1):
        return p.stderr.strip()
    d = json.loads(p.stdout)
    return d["leaked"], d["suppressed"], p.returncode


with tempfile.TemporaryDirectory() as tmp:
    snap = os.path.join(tmp, "counts.snap")
    subprocess.run([program, "counts"], stdout=subprocess.DEVNULL, timeout=120, check=True,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))
    check(counts(snap) == (101, 0, 1), f"no rules: 101 leaked ({counts(snap)})")
    check(counts("--ignore-top", "receiver", snap) == (1, 100, 1), "ignore-top receiver: 100 hidden")
    check(counts("--ignore-top", "lone_*", snap) == (100, 1, 1), "a glob: lone_* hides the one")
    check(counts("--ignore-top", "lrt_chan_recv", snap) == (101, 0, 1),
          "the top user frame is not the lrt_* call the task blocks in")
    check(counts("--ignore-any", "/receiver$/", snap) == (0, 101, 0),
          "a /regex/ over any frame hides both groups, and the exit status says no leak")
    check(counts("--ignore-creator", "run", snap) == (0, 101, 0), "ignore-creator")
    check(counts("--ignore-creator", "counts_helper", snap) == (101, 0, 1),
          "a creator that is not theirs hides nothing")

    rules = os.path.join(tmp, "known.supp")
    with open(rules, "w") as f:
        f.write("# the pool's idle workers are expected\n\nignore-top   receiver   # 100 of them\n")
    check(counts("--suppressions", rules, snap) == (1, 100, 1), "a suppression file with comments")
    p = run("--suppressions", rules, snap)
    check("1 leaked in 1 group (and 100 suppressed)" in p.stdout, f"the header counts them: {p.stdout[:200]}")
    p = run("top", "--suppressions", rules, snap)
    check("1 leaked task; 100 suppressed" in p.stdout, "so does top")
    p = run("traces", "--suppressions", rules, snap)
    check(p.stdout.count("\ntask ") + p.stdout.startswith("task ") == 1, "traces shows only the one")

    saved = os.path.join(tmp, "result.json")
    with open(saved, "w") as f:
        f.write(run("--json", snap).stdout)
    check(counts("--ignore-top", "receiver", saved) == (1, 100, 1), "a saved JSON result honours them")

    p = subprocess.run([leakscan, "run", "--json", "--suppressions", rules, "--", program, "counts"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300,
                       env=dict(os.environ, LRT_PROCS="2"))
    d = json.loads(p.stdout) if p.returncode in (0, 1) else {}
    check(d.get("leaked") == 1 and d.get("suppressed") == 100, f"leakscan run honours them: {p.stderr[-200:]}")

    # A rule that matches no leaked task (a typo, a leak fixed since): a
    # warning naming it and its line; the rules that match say nothing.
    stale = os.path.join(tmp, "stale.supp")
    with open(stale, "w") as f:
        f.write("ignore-top receiver\nignore-top recevier   # a typo\nignore-any /^pool_/\n")
    p = run("--suppressions", stale, snap)
    warnings = [line for line in p.stderr.splitlines() if "matches no leaked task" in line]
    check(p.returncode == 1 and len(warnings) == 2
          and any("'ignore-top recevier'" in w and f"{stale}:2" in w for w in warnings)
          and any("'ignore-any /^pool_/'" in w and f"{stale}:3" in w for w in warnings),
          f"a rule that matches nothing is named, with its line; the one that matches is not: {warnings}")
    p = run("--ignore-creator", "nobody_spawns", snap)
    check("suppression 'ignore-creator nobody_spawns' matches no leaked task" in p.stderr,
          f"so is one from the command line: {p.stderr.strip()}")
    p = run("-q", "--suppressions", stale, snap)
    check(p.stderr == "", "-q: no warning")
    p = run("--ignore-top", "receiver", "--ignore-any", "/receiver$/", snap)
    check("matches no leaked task" not in p.stderr,
          f"two rules that match the same tasks both count as matching: {p.stderr.strip()}")

    bad = os.path.join(tmp, "bad.supp")
    with open(bad, "w") as f:
        f.write("ignore-top receiver\nignore-everything x\n")
    p = run("--suppressions", bad, snap)
    check(p.returncode == 2 and f"{bad}:2:" in p.stderr and len(p.stderr.splitlines()) == 1,
          f"a bad line is one error naming file:line: {p.stderr.strip()}")
    p = run("--ignore-any", "/(/", snap)
    check(p.returncode == 2 and "regular expression" in p.stderr, f"a bad regex: {p.stderr.strip()}")
finish()
