#!/usr/bin/env python3
"""Post-mortem: the same program state analysed from a snapshot (taken on
LEAKSCAN_SIGNAL) and from the kernel's core dump of the program killed by
SIGABRT reports the same groups. The core has no LEAKSCAN note: leakscan
finds the runtime through the executable's symbol table. The core of a
crash shows the crashing task first; a core cut short by RLIMIT_CORE before
the runtime's tables is refused in one line (no "no leaks" guess). Runs for
both links of the program (static, libleakrt.so).

Skips (exit 77) only when this machine's core_pattern pipes cores to a
program instead of writing a file, and says so.

usage: test_core.py LEAKSCAN SOUNDNESS_PROGRAM
"""
import glob
import json
import re
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

from checks import check, finish

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
# Linked with libleakrt.so (as pkg-config links it) or statically.
shared = b"libleakrt.so" in subprocess.run(["readelf", "-d", program], stdout=subprocess.PIPE).stdout
pattern = open("/proc/sys/kernel/core_pattern").read().strip()
if pattern.startswith("|"):
    print(f"SKIP: core_pattern pipes cores to a program ({pattern!r}); no core file to read")
    sys.exit(77)


def summary(path):
    p = subprocess.run([leakscan, "--json", "-q", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    if p.returncode not in (0, 1):
        return None, p.stderr.strip()
    d = json.loads(p.stdout)
    groups = sorted((g["count"], g["wait_reason"], tuple(f.get("function") for f in g["frames"]))
                    for g in d["groups"])
    return (d["tasks"], d["leaked"], groups), ""


# A program built with AddressSanitizer turns its own core dumps off unless
# told (its shadow memory is left out of them, so the core stays small), and
# takes a SIGSEGV for a report of its own. Told otherwise here, the
# sanitize build writes the cores this test reads.
def extended(name, more):
    old = os.environ.get(name, "")
    return (old + ":" if old else "") + more


program_env = dict(os.environ, LRT_PROCS="2", ASAN_OPTIONS=extended("ASAN_OPTIONS", "disable_coredump=0"))
crash_env = dict(program_env, ASAN_OPTIONS=extended("ASAN_OPTIONS", "disable_coredump=0:handle_segv=0"))

with tempfile.TemporaryDirectory() as tmp:
    def unlimited_core():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    def snapshot_then_core(where, *args):
        """Runs the program with args in where until it is ready, takes a
        snapshot by signal, then kills it with SIGABRT for the kernel's
        core: (the snapshot or None, the core files)."""
        proc = subprocess.Popen([program, *args], cwd=where, stdout=subprocess.PIPE, text=True,
                                env=dict(program_env, LEAKSCAN_DIR=where),
                                preexec_fn=unlimited_core)
        check(proc.stdout.readline().strip() == "ready", f"{' '.join(args)}: the program reached its leaking state")
        # Its main task parks just after it says ready: a snapshot taken
        # before that park would be older than the core's latest park
        # (the waits compared below). 0.2 s is far more than the park takes.
        time.sleep(0.2)
        proc.send_signal(signal.SIGUSR2)
        snap = None
        for _ in range(200):
            found = glob.glob(os.path.join(where, "leakscan-*.snap"))
            if found:
                snap = found[0]
                break
            time.sleep(0.05)
        check(snap is not None, f"{' '.join(args)}: the signal wrote a snapshot")
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=120)
        return snap, [c for c in glob.glob(os.path.join(where, "core*")) if os.path.isfile(c)]

    snap, cores = snapshot_then_core(tmp, "wait-for-core")
    if not cores:
        print(f"SKIP: no core file appeared (core_pattern {pattern!r})")
        sys.exit(77)
    core = cores[0]
    from_snap, err1 = summary(snap) if snap else (None, "no snapshot")
    from_core, err2 = summary(core)
    check(from_core is not None, f"leakscan reads the kernel core without a LEAKSCAN note {err2}")
    check(from_snap is not None and from_snap[1] == 101, f"the snapshot shows the 101 leaked tasks {err1}")
    check(from_snap == from_core, f"snapshot and core report the same groups:\n  {from_snap}\n  {from_core}")

    # Waits in a core: measured to the latest park it holds (the runtime's
    # own clock: the main task parked last, ~20 ms after the receivers), a
    # lower bound of the snapshot's (taken later), and said so.
    def waits(path):
        p = subprocess.run([leakscan, "--json", "-q", path], stdout=subprocess.PIPE, text=True, timeout=300)
        d = json.loads(p.stdout) if p.returncode in (0, 1) else {}
        return d.get("wait_clock"), max((g["wait_ns"]["max"] for g in d.get("groups", [])), default=None)
    snap_clock, snap_wait = waits(snap) if snap else (None, None)
    core_clock, core_wait = waits(core)
    check(snap_clock == "snapshot" and core_clock == "latest park" and core_wait and snap_wait
          and 0 < core_wait <= snap_wait,
          f"a core's waits are measured to its latest park, at most the snapshot's: "
          f"{core_clock} {core_wait} / {snap_clock} {snap_wait}")
    text = subprocess.run([leakscan, core], stdout=subprocess.PIPE, text=True, timeout=300).stdout
    check("note: waits are measured to the latest park the core holds" in text
          and re.search(r"# \[chan receive \(leaked\), \d+", text) is not None,
          "the text report shows the waits, and says what they are measured to")

    # malloc'd memory in a kernel core: a block nothing points to any more,
    # holding the channel a task waits on (soundness malloc-lost), and the
    # same among 40,000 blocks of every size class (malloc-heavy). The core
    # has no note: the debug root's record of whose malloc served is read
    # from memory, and snapshot and core agree (1 leaked when libleakrt's
    # malloc served, else 0 and the same roots note).
    for mode in ("malloc-lost", "malloc-heavy"):
        mdir = os.path.join(tmp, mode)
        os.mkdir(mdir)
        msnap, mcores = snapshot_then_core(mdir, mode, "wait")
        if check(msnap is not None and len(mcores) == 1, f"{mode}: a snapshot and a kernel core"):
            docs = []
            for path in (msnap, mcores[0]):
                p = subprocess.run([leakscan, "--json", "-q", path], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, timeout=300)
                docs.append(json.loads(p.stdout) if p.returncode in (0, 1) else {"error": p.stderr.strip()})
            want = 0 if "roots_note" in docs[0] else 1
            seen = [(d.get("leaked"), d.get("retained_bytes"), d.get("roots_note"), d.get("error")) for d in docs]
            check(all(d.get("leaked") == want and d.get("roots_note") == docs[0].get("roots_note")
                      and d.get("retained_bytes") == docs[0].get("retained_bytes") for d in docs),
                  f"{mode}: snapshot and core both report {want} leaked, the same memory held and the "
                  f"same roots note: {seen}")

    # --exe of another program: refused by build-id, for a snapshot and a core.
    for name, path in (("snapshot", snap), ("core", core)):
        if not path:
            continue
        p = subprocess.run([leakscan, "--exe", leakscan, path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300)
        err = p.stderr.strip()
        check(p.returncode == 2 and "build-id" in err and path in err and leakscan in err
              and len(err.splitlines()) == 1,
              f"--exe of another program is refused for a {name}: {err}")

    # A crash: the kernel's core of a task that wrote through a null
    # pointer shows that task first, with the signal, then the same leaks.
    crash_dir = os.path.join(tmp, "crash")
    os.mkdir(crash_dir)
    proc = subprocess.run([program, "crash-in-task"], cwd=crash_dir, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=crash_env, preexec_fn=unlimited_core,
                          timeout=120)
    check(proc.returncode == -signal.SIGSEGV, f"the crashing sample died of SIGSEGV ({proc.returncode})")
    crash_cores = glob.glob(os.path.join(crash_dir, "core*"))
    check(len(crash_cores) == 1, "the crash left a core")
    if crash_cores:
        p = subprocess.run([leakscan, crash_cores[0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=300)
        lines = p.stdout.splitlines()
        crash_at = next((i for i, l in enumerate(lines) if l.startswith("crashed:")), None)
        group_at = next((i for i, l in enumerate(lines) if " @ 0x" in l), None)
        check(p.returncode == 1 and crash_at is not None and group_at is not None and crash_at < group_at,
              f"the crash comes first, before the leak groups:\n{p.stdout[:600]}{p.stderr}")
        if crash_at is not None:
            check("SIGSEGV" in lines[crash_at] and "address 0x0" in lines[crash_at]
                  and "running task" in lines[crash_at], f"it names the signal, address and task: {lines[crash_at]}")
            check("soundness_crashing_task" in lines[crash_at + 1],
                  f"the crashing task's stack starts in the crashing function: {lines[crash_at + 1]}")
        p = subprocess.run([leakscan, "--json", "-q", crash_cores[0]], stdout=subprocess.PIPE, text=True, timeout=300)
        d = json.loads(p.stdout)
        crash = d.get("crash", {})
        check(crash.get("signal") == signal.SIGSEGV and crash.get("signal_name") == "SIGSEGV"
              and isinstance(crash.get("task"), int)
              and crash.get("frames", [{}])[0].get("function") == "soundness_crashing_task",
              f"--json has the crash: {crash}")
        check(d["leaked"] == 101, f"and the same 101 leaked tasks: {d['leaked']}")

    # A core cut short by RLIMIT_CORE: what can be read is reported, and a
    # warning says the rest is missing.
    cut_dir = os.path.join(tmp, "cut")
    os.mkdir(cut_dir)
    def small_core():
        resource.setrlimit(resource.RLIMIT_CORE, (2 << 20, 2 << 20))
    subprocess.run([program, "crash-in-task"], cwd=cut_dir, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=crash_env, preexec_fn=small_core, timeout=120)
    cut = glob.glob(os.path.join(cut_dir, "core*"))
    check(len(cut) == 1 and os.path.getsize(cut[0]) > 0, "a core cut at 2 MiB was written")
    if cut:
        # Where 2 MiB ends depends on the process's layout. Past the cut is
        # either the runtime's task table (and, linked with libleakrt.so,
        # the library's headers, so nothing says the file on disk is the
        # one that ran): refused, "no leaks" would be a guess; or the heap
        # the tasks wait on: read, and none of the 101 is leaked, each is
        # unknown, with the warning naming the cut.
        p = subprocess.run([leakscan, "--json", cut[0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=300)
        if p.returncode == 2:
            check("cut short" in p.stderr and len(p.stderr.splitlines()) == 1
                  and (not shared or "libleakrt.so" in p.stderr),
                  f"a core cut before the runtime's tables: exit 2, one line naming the cut: {p.stderr.strip()}")
        else:
            d = json.loads(p.stdout) if p.stdout.startswith("{") else {}
            check(p.returncode == 0 and d.get("leaked") == 0 and d.get("unknown") == 101
                  and "cut short" in p.stderr,
                  f"a core cut before the heap: read, 0 leaked and the 101 unknown, the cut named: exit "
                  f"{p.returncode}, leaked {d.get('leaked')}, unknown {d.get('unknown')}, {p.stderr.strip()[:300]}")

    subprocess.run(["gcore", "-o", os.path.join(tmp, "gdbcore"), str(os.getpid())],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    gcores = glob.glob(os.path.join(tmp, "gdbcore.*"))
    if gcores:
        p = subprocess.run([leakscan, gcores[0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=300)
        check(p.returncode == 2 and "not a libleakrt program" in p.stderr,
              f"a core of a program that is not a libleakrt program is a clear error: {p.stderr.strip()}")
finish()
