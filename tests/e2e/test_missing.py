#!/usr/bin/env python3
"""Missing memory never becomes a leak. samples/soundness stack-keeper: a
sleeping task's stack holds the only pointer to a channel three receivers
wait on (not leaked); a receiver on a channel nobody holds and one on a nil
channel are leaked. The snapshot is then copied without the keeper's
stack, as a core that lacks memory would be: the three receivers and the
lone one could be woken by what is missing, so they are unknown — counted
in the header and in JSON, listed with --all — and only the nil-channel
receiver, which nothing can wake, stays a certain leak (exit 1).

The same with a core: a ptrace core (`attach --core`) of the program, the
keeper's stack then overwritten with zeros as gdb's gcore writes a stack it
cannot read. leakscan notices the zeroed stack, warns, and gives the same
verdicts — whether the keeper was parked when the core was taken or
running on a worker (its stack pointer is then its thread's).

usage: test_missing.py LEAKSCAN SOUNDNESS_PROGRAM
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bad-inputs"))
import elfcore  # noqa: E402
from checks import check, finish  # noqa: E402

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
KEEPER_TAG = struct.pack("<Q", 0x0021524550454B4B)      # samples/soundness.c


def run(*args):
    return subprocess.run([leakscan, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)


with tempfile.TemporaryDirectory() as tmp:
    snap = os.path.join(tmp, "keeper.snap")
    subprocess.run([program, "stack-keeper"], stdout=subprocess.DEVNULL, timeout=120, check=True,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))
    p = run("--json", snap)
    whole = json.loads(p.stdout)
    check(p.returncode == 1 and whole["leaked"] == 2 and whole["unknown"] == 0,
          f"the whole snapshot: 2 leaked, none unknown ({whole['leaked']}, {whole['unknown']})")

    core = elfcore.Core(open(snap, "rb").read())
    keeper = [s[0] for s in core.segments() if s[1] == elfcore.PT_LOAD and KEEPER_TAG in s[4]]
    check(len(keeper) == 1, f"one segment holds the keeper's stack: {keeper}")
    cut = os.path.join(tmp, "no-keeper.snap")
    with open(cut, "wb") as f:
        f.write(core.without_segments(set(keeper)).data)

    p = run("--json", cut)
    d = json.loads(p.stdout) if p.returncode in (0, 1) else {}
    check(d.get("leaked") == 1 and d.get("unknown") == 4 and p.returncode == 1,
          f"without the keeper's stack: the nil-channel receiver leaked, 4 unknown, exit 1: "
          f"leaked {d.get('leaked')}, unknown {d.get('unknown')}, exit {p.returncode} {p.stderr.strip()}")
    check([g["wait_reason"] for g in d.get("groups", [])] == ["chan receive (nil chan)"],
          f"only the certain leak is a leak group: {[g['wait_reason'] for g in d.get('groups', [])]}")
    check(bool(d.get("missing")), f"JSON says what memory is missing: {d.get('missing')}")

    p = run(cut)
    header = p.stdout.splitlines()[1] if len(p.stdout.splitlines()) > 1 else ""
    check("1 leaked" in header and "4 unknown" in header,
          f"the header counts the unknown tasks apart: {header}")

    p = run("--json", "--all", cut)
    d = json.loads(p.stdout)
    unknown = sum(g["count"] for g in d["groups"] if g.get("verdict") == "unknown")
    check(unknown == 4 and all(not g["leaked"] for g in d["groups"] if g.get("verdict") == "unknown"),
          f"--all lists them with their own verdict, not as leaked: {unknown}")

    p = run("traces", "--all", cut)
    check(p.stdout.count("(unknown)") == 4, f"traces --all marks them unknown: {p.stdout.count('(unknown)')}")

    saved = os.path.join(tmp, "saved.json")
    with open(saved, "w") as f:
        f.write(run("--json", "--all", cut).stdout)
    p = run("top", saved)
    check("4 unknown" in p.stdout, f"a saved result keeps the count: {p.stdout.splitlines()[:2]}")


def zeroed_keeper(tmp, mode):
    """A core whose keeper stack reads as zeros (gcore's way of missing it),
    the keeper parked in its sleep loop or running."""
    proc = subprocess.Popen([program, mode, "wait"], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, LRT_PROCS="2"))
    check(proc.stdout.readline().strip() == "ready", f"{mode}: the program reached its state")
    whole_core = os.path.join(tmp, f"{mode}.core")
    p = run("attach", "--core", "-o", whole_core, "-q", str(proc.pid))
    proc.kill()
    proc.wait()
    check(p.returncode == 1 and os.path.isfile(whole_core), f"{mode}: attach --core kept a core: {p.stderr.strip()}")
    d = json.loads(run("--json", "--all", whole_core).stdout)
    check(d["leaked"] == 2 and d["unknown"] == 0, f"{mode}: the whole core: 2 leaked ({d['leaked']}, {d['unknown']})")
    if mode.endswith("running"):
        reasons = [g["wait_reason"] for g in d["groups"]]
        check("running" in reasons, f"{mode}: the keeper is running in the core: {reasons}")
    core = elfcore.Core(open(whole_core, "rb").read())
    hits = [(off, va, fs) for _i, t, _fl, off, va, fs, _ms in core.phdrs()
            if t == elfcore.PT_LOAD and KEEPER_TAG in core.data[off:off + fs]]
    check(len(hits) == 1, f"{mode}: one segment holds the keeper's tag: {len(hits)}")
    if not hits:
        return
    off, va, fs = hits[0]
    at = core.data.index(KEEPER_TAG, off, off + fs) - off
    # The keeper's used stack: the pages around its frame, its top
    # included (a stack's neighbours are guard pages and unused bottoms).
    lo, hi = max(0, (at & ~4095) - 4096), min(fs, (at & ~4095) + 8192)
    core.data[off + lo:off + hi] = bytes(hi - lo)
    zeroed = os.path.join(tmp, f"{mode}-zeroed.core")
    with open(zeroed, "wb") as f:
        f.write(core.data)
    p = run("--json", zeroed)
    d = json.loads(p.stdout) if p.returncode in (0, 1) else {}
    check("read as zeros" in p.stderr and "1 of" in p.stderr,
          f"{mode}: a warning names the stack that reads as zeros: {p.stderr.strip()}")
    # A running keeper's thread may still hold the channel in a scratch
    # register (left there by lrt_go): its 3 receivers are then reachable,
    # not unknown. The lone receiver is unknown either way, and only the
    # nil-channel receiver is leaked.
    unknown = (1, 4) if mode.endswith("running") else (4,)
    check(d.get("leaked") == 1 and d.get("unknown") in unknown and p.returncode == 1,
          f"{mode}: with the keeper's stack zeroed: 1 leaked, {' or '.join(map(str, unknown))} unknown, "
          f"exit 1: leaked {d.get('leaked')}, unknown {d.get('unknown')}, exit {p.returncode}")


with tempfile.TemporaryDirectory() as tmp:
    zeroed_keeper(tmp, "stack-keeper")
    zeroed_keeper(tmp, "stack-keeper-running")
finish()
