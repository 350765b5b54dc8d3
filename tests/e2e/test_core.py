#!/usr/bin/env python3
"""Post-mortem: the same program state analysed from a snapshot (taken on
LEAKSCAN_SIGNAL) and from the kernel's core dump of the program killed by
SIGABRT reports the same groups. The core has no LEAKSCAN note: leakscan
finds the runtime through the executable's symbol table.

Skips (exit 77) only when this machine's core_pattern pipes cores to a
program instead of writing a file, and says so.

usage: test_core.py LEAKSCAN SOUNDNESS_PROGRAM
"""
import glob
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
pattern = open("/proc/sys/kernel/core_pattern").read().strip()
if pattern.startswith("|"):
    print(f"SKIP: core_pattern pipes cores to a program ({pattern!r}); no core file to read")
    sys.exit(77)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def summary(path):
    p = subprocess.run([leakscan, "--json", "-q", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    if p.returncode not in (0, 1):
        return None, p.stderr.strip()
    d = json.loads(p.stdout)
    groups = sorted((g["count"], g["wait_reason"], tuple(f.get("function") for f in g["frames"]))
                    for g in d["groups"])
    return (d["tasks"], d["leaked"], groups), ""


with tempfile.TemporaryDirectory() as tmp:
    def unlimited_core():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    proc = subprocess.Popen([program, "wait-for-core"], cwd=tmp, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, LEAKSCAN_DIR=tmp, LRT_PROCS="2"),
                            preexec_fn=unlimited_core)
    check(proc.stdout.readline().strip() == "ready", "the program reached its leaking state")
    proc.send_signal(signal.SIGUSR2)
    snap = None
    for _ in range(200):
        found = glob.glob(os.path.join(tmp, "leakscan-*.snap"))
        if found:
            snap = found[0]
            break
        time.sleep(0.05)
    check(snap is not None, "the signal wrote a snapshot")
    proc.send_signal(signal.SIGABRT)
    proc.wait(timeout=120)
    cores = [c for c in glob.glob(os.path.join(tmp, "core*")) if os.path.isfile(c)]
    if not cores:
        print(f"SKIP: no core file appeared (core_pattern {pattern!r}; a program built "
              "with AddressSanitizer turns its own core dumps off)")
        sys.exit(77)
    core = cores[0]
    from_snap, err1 = summary(snap) if snap else (None, "no snapshot")
    from_core, err2 = summary(core)
    check(from_core is not None, f"leakscan reads the kernel core without a LEAKSCAN note {err2}")
    check(from_snap is not None and from_snap[1] == 101, f"the snapshot shows the 101 leaked tasks {err1}")
    check(from_snap == from_core, f"snapshot and core report the same groups:\n  {from_snap}\n  {from_core}")

    subprocess.run(["gcore", "-o", os.path.join(tmp, "gdbcore"), str(os.getpid())],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    gcores = glob.glob(os.path.join(tmp, "gdbcore.*"))
    if gcores:
        p = subprocess.run([leakscan, gcores[0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=300)
        check(p.returncode == 2 and "not a libleakrt program" in p.stderr,
              f"a core of a program that is not a libleakrt program is a clear error: {p.stderr.strip()}")
sys.exit(1 if failures else 0)
