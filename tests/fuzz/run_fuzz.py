#!/usr/bin/env python3
"""run_fuzz.py — one bounded libFuzzer run of the harnesses in a -Dfuzz=true
build: seeds made at run time (make_seeds.py), the fuzz-found regressions
of tests/bad-inputs/found/ replayed first, then fuzzing for the time given,
split evenly between the harnesses. Used by the `fuzz` meson suite (a short
run in CI) and by scripts/fuzz (as long as asked).

A crash, leak, timeout or out-of-memory stops the run with a failure. Its
input is copied into SAVE_DIR (if given) under a name that says which
harness, what went wrong and where, e.g.
  fuzz_load-heap-buffer-overflow-read_task-3f2a9c01
so that tests/bad-inputs/test_bad_inputs.py replays it from then on.

usage: run_fuzz.py BUILDDIR SECONDS [--jobs N] [--save SAVE_DIR]
                   [--work DIR] [HARNESS...]
  HARNESS    fuzz_load, fuzz_json (default: both)
  --work DIR keep the corpus there between runs (default: a temporary one)
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FOUND = os.path.join(HERE, "..", "bad-inputs", "found")
HARNESSES = ("fuzz_load", "fuzz_json")


def describe(log, harness, data):
    """harness-what-where-hash, from the sanitizer's or libFuzzer's summary."""
    what, where = "crash", ""
    m = re.search(r"SUMMARY: \w+Sanitizer: ([\w-]+)", log)
    if m:
        what = m.group(1)
    elif "runtime error:" in log:
        what = "undefined-behaviour"
    elif "ERROR: libFuzzer: timeout" in log:
        what = "timeout"
    elif "out-of-memory" in log or "malloc limit" in log:
        what = "out-of-memory"
    elif "one-line contract" in log:
        what = "error-message-contract"
    # The first frame of ours: "#3 0x... in read_task /.../reader.c:123".
    for fm in re.finditer(r"#\d+ 0x[0-9a-f]+ in (\w+) \S*/(?:formats|analyzer)/", log):
        where = fm.group(1)
        break
    else:   # UBSan prints no stack: "../analyzer/json_load.c:202:59: runtime error"
        fm = re.search(r"(?:formats|analyzer)/(\w+)\.c:(\d+):\d+: runtime error", log)
        if fm:
            where = f"{fm.group(1)}.c-{fm.group(2)}"
    digest = hashlib.sha1(data).hexdigest()[:8]
    return "-".join(p for p in (harness, what, where, digest) if p)


def run(build, harness, seconds, jobs, work, save):
    exe = os.path.join(build, "tests", "fuzz", harness)
    corpus = os.path.join(work, harness, "corpus")
    seeds = os.path.join(work, harness, "seeds")
    artifacts = os.path.join(work, harness, "artifacts") + "/"
    for d in (corpus, seeds, artifacts):
        os.makedirs(d, exist_ok=True)
    for f in os.listdir(artifacts):     # a kept --work dir's old findings were reported then
        os.remove(os.path.join(artifacts, f))
    dirs = [corpus, seeds] + ([FOUND] if os.path.isdir(FOUND) and os.listdir(FOUND) else [])
    args = [exe, f"-max_total_time={seconds}", "-timeout=30", "-rss_limit_mb=2048",
            "-malloc_limit_mb=2048", f"-artifact_prefix={artifacts}", "-print_final_stats=1"]
    if jobs > 1:
        args.append(f"-fork={jobs}")
    print(f"run_fuzz: {harness} for {seconds} s ({' '.join(os.path.relpath(d) for d in dirs)})", flush=True)
    log_path = os.path.join(work, harness, "log")
    with open(log_path, "w") as log:
        p = subprocess.run(args + dirs, stdout=log, stderr=subprocess.STDOUT,
                           timeout=seconds + 300)
    log = open(log_path, errors="replace").read()
    stats = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    units = sum(int(s) for s in stats) if stats else 0
    print(f"run_fuzz: {harness}: exit {p.returncode}, {units} inputs run"
          + (f", coverage {cov[-1][0]} edges / {cov[-1][1]} features" if cov else "")
          + f", corpus {len(os.listdir(corpus))} files", flush=True)
    found = [f for f in sorted(os.listdir(artifacts))
             if f.split("-")[0] in ("crash", "leak", "timeout", "oom", "slow")]
    if p.returncode == 0 and not found:
        return True
    tail = log[-6000:]
    print(f"run_fuzz: {harness} FAILED; the end of its log ({log_path}):\n{tail}", flush=True)
    for f in found:
        data = open(os.path.join(artifacts, f), "rb").read()
        name = describe(log, harness, data)
        if save:
            os.makedirs(save, exist_ok=True)
            dest = os.path.join(save, name)
            shutil.copyfile(os.path.join(artifacts, f), dest)
            print(f"run_fuzz: saved the input as {dest}", flush=True)
        else:
            print(f"run_fuzz: the input is {os.path.join(artifacts, f)} ({name})", flush=True)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("seconds", type=int)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--save")
    ap.add_argument("--work")
    ap.add_argument("harness", nargs="*")
    a = ap.parse_intermixed_args()
    harnesses = a.harness or list(HARNESSES)
    for h in harnesses:
        if h not in HARNESSES:
            sys.exit(f"run_fuzz: no harness {h!r} (there are {', '.join(HARNESSES)})")
    build = os.path.abspath(a.build)
    work = a.work or tempfile.mkdtemp(prefix="leakscan-fuzz-")
    ok = False
    try:
        # Seeds: a snapshot and a core for fuzz_load, a JSON result for fuzz_json.
        seeds = {h: os.path.join(work, h, "seeds") for h in HARNESSES}
        subprocess.run([sys.executable, os.path.join(HERE, "make_seeds.py"), build,
                        seeds["fuzz_load"], seeds["fuzz_json"]], check=True, timeout=600)
        per = max(1, a.seconds // len(harnesses))
        ok = all([run(build, h, per, a.jobs, work, a.save) for h in harnesses])
    except BaseException:
        ok = False
        raise
    finally:
        if not a.work and ok:           # a failed run's artifacts stay, for a look
            shutil.rmtree(work, ignore_errors=True)
        elif not a.work:
            print(f"run_fuzz: kept {work}", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
