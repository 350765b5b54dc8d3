#!/usr/bin/env python3
"""Stripped executables symbolise as well as unstripped ones when their
debug information is found: beside them through .gnu_debuglink, or under
--debug-dir by build-id (DIR/.build-id/xx/rest.debug). A core of a stripped
program finds lrt_debug_root in that debug file too.

usage: test_debuginfo.py LEAKSCAN SOUNDNESS_PROGRAM
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile

from checks import check, finish

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
# Linked with libleakrt.so (as pkg-config links it) or statically.
shared = b"libleakrt.so" in subprocess.run(["readelf", "-d", program], stdout=subprocess.PIPE).stdout


def groups(snapshot, *options):
    p = subprocess.run([leakscan, "--json", "-q", *options, snapshot], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    if p.returncode not in (0, 1):
        return p.stderr.strip()
    d = json.loads(p.stdout)
    return sorted((g["count"], g["wait_reason"],
                   tuple((f.get("function"), f.get("file"), f.get("line")) for f in g["frames"]))
                  for g in d["groups"])


def snapshot_of(exe, path, mode="counts"):
    subprocess.run([exe, mode], cwd=os.path.dirname(exe), stdout=subprocess.DEVNULL, timeout=120,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=path, LRT_PROCS="2"), check=True)
    return path


def run(*cmd):
    subprocess.run(cmd, check=True, timeout=120)


build_id = subprocess.run(["readelf", "-n", program], stdout=subprocess.PIPE, text=True).stdout
build_id = next(line.split()[-1] for line in build_id.splitlines() if "Build ID" in line)

with tempfile.TemporaryDirectory() as tmp:
    reference = groups(snapshot_of(program, os.path.join(tmp, "full.snap")))
    check(isinstance(reference, list) and sum(g[0] for g in reference) == 101
          and all(f[0] and f[1] and f[2] for g in reference for f in g[2]),
          f"the unstripped program: 101 leaked, every frame with function, file and line")

    # A: stripped, with .gnu_debuglink to a debug file beside it.
    linked = os.path.join(tmp, "linked")
    os.mkdir(linked)
    exe = os.path.join(linked, "soundness")
    run("objcopy", "--only-keep-debug", program, exe + ".debug")
    run("strip", "--strip-all", "-o", exe, program)
    run("objcopy", "--add-gnu-debuglink=" + exe + ".debug", exe)
    nm = subprocess.run(["nm", exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check("no symbols" in nm.stderr, "the copy is stripped")
    linked_groups = groups(snapshot_of(exe, os.path.join(tmp, "linked.snap")))
    check(linked_groups == reference,
          f"stripped + .gnu_debuglink: the same groups, frames and lines"
          f"{'' if linked_groups == reference else ': ' + repr(linked_groups) + ' against ' + repr(reference)}")

    # B: stripped, no link; the debug file under a build-id directory.
    bare = os.path.join(tmp, "bare")
    debug_dir = os.path.join(tmp, "debug")
    os.makedirs(os.path.join(debug_dir, ".build-id", build_id[:2]))
    os.mkdir(bare)
    exe = os.path.join(bare, "soundness")
    run("strip", "--strip-all", "-o", exe, program)
    shutil.copy(os.path.join(linked, "soundness.debug"),
                os.path.join(debug_dir, ".build-id", build_id[:2], build_id[2:] + ".debug"))
    snap = snapshot_of(exe, os.path.join(tmp, "bare.snap"))
    without = groups(snap)
    check(isinstance(without, list) and sum(g[0] for g in without) == 101
          and not any(f[0] for g in without for f in g[2]),
          "stripped, debug file not found: still 101 leaked, frames without names")
    check(groups(snap, "--debug-dir", debug_dir) == reference,
          "stripped + --debug-dir (by build-id): the same groups, frames and lines")

    # A kernel core of the stripped program: lrt_debug_root is only in
    # the debug file.
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    if pattern.startswith("|"):
        print(f"note: core_pattern pipes cores to a program ({pattern!r}): the core case is left out")
    else:
        def unlimited_core():
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        subprocess.run([exe, "crash-in-task"], cwd=bare, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, LRT_PROCS="2"), preexec_fn=unlimited_core, timeout=120)
        cores = [os.path.join(bare, f) for f in os.listdir(bare) if f.startswith("core")]
        if not cores:
            print("note: no core appeared (a program built with AddressSanitizer turns its "
                  "core dumps off): the core case is left out")
        else:
            if shared:
                # lrt_debug_root is in libleakrt.so, which is not stripped:
                # the core reads, only the program's own frames lack names.
                bare_core = groups(cores[0])
                check(isinstance(bare_core, list) and sum(g[0] for g in bare_core) == 101
                      and not any(f[0] for g in bare_core for f in g[2]),
                      f"a stripped program's core, linked with libleakrt.so: the runtime is found "
                      f"in the library, 101 leaked, frames without names: {bare_core}")
            else:
                p = subprocess.run([leakscan, cores[0]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, timeout=300)
                check(p.returncode == 2 and "--debug-dir" in p.stderr and len(p.stderr.splitlines()) == 1,
                      f"a stripped program's core without its debug file: one line naming --debug-dir: "
                      f"{p.stderr.strip()}")
            found = groups(cores[0], "--debug-dir", debug_dir)
            check(found == reference, f"with --debug-dir the core gives the same groups: {found}")
finish()
