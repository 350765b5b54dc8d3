#!/usr/bin/env python3
"""Every loaded object is checked, not only the executable. A program
linked with libleakrt.so is snapshotted (and dumps a kernel core); then
the library on disk is replaced by another build of it, as an upgrade
would. leakscan must not symbolise or unwind with the new file: one
warning names it, its frames show as unknown (never as functions of the
other build), and a core, whose runtime is found in that library, is
refused with one line naming it.

usage: test_modules.py LEAKSCAN SOUNDNESS_SHARED LIBLEAKRT_A
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile

from checks import check, finish

leakscan, program, archive = (os.path.abspath(a) for a in sys.argv[1:4])


def leakscan_run(*args):
    return subprocess.run([leakscan, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)


def frames(p):
    """Every frame function of a --json run, or the error."""
    if p.returncode not in (0, 1):
        return p.stderr.strip()
    d = json.loads(p.stdout)
    return d["leaked"], sorted({f.get("function") for g in d["groups"] for f in g["frames"]},
                               key=str)


def program_functions():
    out = subprocess.run(["nm", "--defined-only", program], stdout=subprocess.PIPE, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


with tempfile.TemporaryDirectory() as tmp:
    lib_dir = os.path.join(tmp, "lib")
    os.mkdir(lib_dir)
    lib = os.path.join(lib_dir, "libleakrt.so.0")
    ldd = subprocess.run(["ldd", program], stdout=subprocess.PIPE, text=True).stdout
    original = next(l.split("=>")[1].split()[0] for l in ldd.splitlines() if "libleakrt.so" in l)
    shutil.copy(original, lib)
    env = dict(os.environ, LD_LIBRARY_PATH=lib_dir, LRT_PROCS="2")

    snap = os.path.join(tmp, "counts.snap")
    subprocess.run([program, "counts"], stdout=subprocess.DEVNULL, timeout=120, check=True,
                   env=dict(env, LEAKSCAN_AT_EXIT=snap))

    def unlimited_core():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    core_dir = os.path.join(tmp, "core")
    os.mkdir(core_dir)
    subprocess.run([program, "crash-in-task"], cwd=core_dir, stdout=subprocess.DEVNULL, env=env,
                   preexec_fn=unlimited_core, timeout=120)
    cores = [os.path.join(core_dir, f) for f in os.listdir(core_dir) if f.startswith("core")]

    reference = frames(leakscan_run("--json", snap))
    check(isinstance(reference, tuple) and reference[0] == 101,
          f"with the library the program ran: 101 leaked, frames {reference}")
    p = leakscan_run(snap)
    check(p.stderr == "", f"and no warning: {p.stderr.strip()}")

    # Another build: the same sources linked behind 64 KiB of padding, so
    # every function of the library moved.
    pad = os.path.join(tmp, "pad.c")
    with open(pad, "w") as f:
        f.write('void leakscan_test_padding(void) { __asm__(".fill 65536, 1, 0x90"); }\n')
    rebuilt = os.path.join(tmp, "rebuilt.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", rebuilt, pad, "-Wl,--whole-archive", archive,
                    "-Wl,--no-whole-archive", "-Wl,-soname,libleakrt.so.0", "-lpthread"],
                   check=True, timeout=120)
    os.replace(rebuilt, lib)

    ours = program_functions()
    p = leakscan_run("--json", snap)
    after = frames(p)
    warnings = [l for l in p.stderr.splitlines() if "warning" in l]
    check(len(warnings) == 1 and lib in warnings[0] and "another build" in warnings[0],
          f"the replaced library gets one warning naming it: {p.stderr.strip()}")
    check(isinstance(after, tuple) and after[0] == 101,
          f"the analysis is the same: 101 leaked ({after})")
    check(isinstance(after, tuple) and all(fn is None or fn in ours for fn in after[1]),
          f"no frame is named from the other build (unknown instead): {after}")
    p = leakscan_run("traces", snap)
    check(p.returncode == 1 and not any(w in p.stdout for w in ("local_next", "lrt_", "switch_")),
          "traces names no function of the other build either")

    if not cores:
        print("note: no core appeared (core_pattern pipes cores elsewhere, or the program is "
              "built with AddressSanitizer, which turns core dumps off): the core case is left out")
    else:
        p = leakscan_run(cores[0])
        check(p.returncode == 2 and lib in p.stderr and "another build" in p.stderr
              and "lrt_debug_root" in p.stderr and len(p.stderr.splitlines()) == 1,
              f"a core whose libleakrt.so was replaced: one line naming the library: {p.stderr.strip()}")
        shutil.copy(original, lib)
        p = leakscan_run("--json", cores[0])
        check(p.returncode == 1 and p.stderr == "" and json.loads(p.stdout)["leaked"] == 101,
              f"with the library back the core reads: {p.stderr.strip()}")
finish()
