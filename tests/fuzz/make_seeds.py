#!/usr/bin/env python3
"""make_seeds.py — the fuzzers' seed corpus, made from real files at run
time rather than committed: a snapshot of `demo` (LEAKSCAN_AT_EXIT), a
core without a LEAKSCAN note of `soundness` (taken with `leakscan attach
--core`, the no-note path a kernel core takes), and the `--json` result of
the snapshot for fuzz_json.

A snapshot is megabytes, mostly memory the analysis never looks at, and
libFuzzer mutates only the first -max_len bytes of an input. So each file
is shrunk: runs of zero pages are cut out of its segments (bytes past a
segment's file size read as zero: the same memory), then segments are
dropped, largest first, as long as `leakscan --json` still reports the
same thing without them. What is left (the debug root, task and span
tables, heap spans, stacks) is what the loader reads: tens of KiB.

usage: make_seeds.py BUILDDIR LOAD_CORPUS JSON_CORPUS
  BUILDDIR     a build with analyzer/leakscan, samples/demo, samples/soundness,
               samples/webserver
Writes demo.snap and soundness.core into LOAD_CORPUS, demo.json and
webserver.json (labels, parents, ancestry: JSON schema 2) and merged.json
(both merged: schema 3) into
JSON_CORPUS. A core seed that cannot be taken (ptrace not allowed) is
left out with a note on stderr; the snapshot seed is required.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bad-inputs"))
import elfcore  # noqa: E402


def result(leakscan, path):
    """What leakscan makes of path, without the name: the thing kept equal."""
    p = subprocess.run([leakscan, "--json", "-q", path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, timeout=120)
    if p.returncode not in (0, 1):
        return None
    d = json.loads(p.stdout)
    d.pop("file", None)
    return d


def shrink(leakscan, core, tmp):
    """Cuts out zero pages (they read as zero anyway), then drops segments,
    largest first, while the result stays the same."""
    core = core.sparse()
    probe = os.path.join(tmp, "probe")
    open(probe, "wb").write(core.data)
    want = result(leakscan, probe)
    if want is None:
        raise SystemExit("make_seeds: leakscan cannot read the file it is to shrink")
    dropped = set()
    for i, _t, _fl, _off, _va, fs, _ms in sorted(core.loads(), key=lambda p: -p[5]):
        if fs < 1024:
            break
        trial = core.without_segments(dropped | {i})
        open(probe, "wb").write(trial.data)
        if result(leakscan, probe) == want:
            dropped.add(i)
    return core.without_segments(dropped)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    build, load_dir, json_dir = (os.path.abspath(a) for a in sys.argv[1:])
    leakscan = os.path.join(build, "analyzer", "leakscan")
    os.makedirs(load_dir, exist_ok=True)
    os.makedirs(json_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        snap = os.path.join(tmp, "demo.snap")
        subprocess.run([os.path.join(build, "samples", "demo")], stdout=subprocess.DEVNULL,
                       env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"), timeout=120, check=True)
        small = shrink(leakscan, elfcore.Core(open(snap, "rb").read()), tmp)
        out = os.path.join(load_dir, "demo.snap")
        open(out, "wb").write(small.data)
        print(f"make_seeds: {out}: {os.path.getsize(snap)} -> {len(small.data)} bytes")
        p = subprocess.run([leakscan, "--json", "-q", out], stdout=subprocess.PIPE, timeout=120)
        open(os.path.join(json_dir, "demo.json"), "wb").write(p.stdout)
        # A result with labels, parents and creators' creators (schema 2's
        # per-task facts): the webserver sample's.
        web = os.path.join(tmp, "web.snap")
        subprocess.run([os.path.join(build, "samples", "webserver")], stdout=subprocess.DEVNULL,
                       env=dict(os.environ, LEAKSCAN_AT_EXIT=web, LRT_PROCS="2"), timeout=120, check=True)
        p = subprocess.run([leakscan, "--json", "-q", web], stdout=subprocess.PIPE, timeout=120)
        open(os.path.join(json_dir, "webserver.json"), "wb").write(p.stdout)
        # Several files merged (schema 3: the files table, each task's file).
        p = subprocess.run([leakscan, "--json", "-q", web, out], stdout=subprocess.PIPE, timeout=120)
        open(os.path.join(json_dir, "merged.json"), "wb").write(p.stdout)

        # A core without the note, of a program that is still running.
        proc = subprocess.Popen([os.path.join(build, "samples", "soundness"), "wait-for-core"],
                                stdout=subprocess.PIPE, text=True, cwd=tmp,
                                env=dict(os.environ, LRT_PROCS="2", LEAKSCAN_SIGNAL="off"))
        try:
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("make_seeds: soundness wait-for-core did not get ready")
            core = os.path.join(tmp, "soundness.core")
            p = subprocess.run([leakscan, "attach", "--core", "-q", "-o", core, str(proc.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120)
        finally:
            proc.kill()
            proc.wait()
        if not os.path.exists(core):
            print(f"make_seeds: no core seed (leakscan attach --core: {p.stderr.strip()})", file=sys.stderr)
            return
        small = shrink(leakscan, elfcore.Core(open(core, "rb").read()), tmp)
        out = os.path.join(load_dir, "soundness.core")
        open(out, "wb").write(small.data)
        print(f"make_seeds: {out}: {os.path.getsize(core)} -> {len(small.data)} bytes")


if __name__ == "__main__":
    main()
