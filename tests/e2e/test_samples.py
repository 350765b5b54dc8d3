#!/usr/bin/env python3
"""End-to-end: each sample program, run under `leakscan run --json`, leaks
exactly what its source says, and its fixed twin (--fixed) leaks nothing.

A sample marks the line where its leaked tasks block with a comment
`LEAK(reason, count=N)`; leakscan must report a group of N tasks waiting
for that reason whose stack passes through that line. Samples without
markers (the documented blind spots) must report nothing.

usage: test_samples.py LEAKSCAN SOURCE_DIR NAME=PROGRAM...
"""
import json
import os
import re
import subprocess
import sys

MARKER = re.compile(r"LEAK\(([^,]+), count=(\d+)\)")


def markers(source):
    found = []
    with open(source) as f:
        for number, text in enumerate(f, 1):
            m = MARKER.search(text)
            if m:
                found.append((m.group(1), int(m.group(2)), number))
    return found


def run(leakscan, program, args):
    env = dict(os.environ, LRT_PROCS="2")
    p = subprocess.run([leakscan, "run", "--json", "--", program] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                       timeout=120, text=True)
    if p.returncode not in (0, 1):
        raise AssertionError(f"leakscan exited {p.returncode}: {p.stderr}")
    result = json.loads(p.stdout)
    expected_status = 1 if result["leaked"] else 0
    if p.returncode != expected_status:
        raise AssertionError(f"exit status {p.returncode} with {result['leaked']} leaked")
    return result


def check(name, leakscan, program, source):
    failures = []
    want = markers(source)
    base = os.path.basename(source)
    got = run(leakscan, program, [])
    total = sum(count for _, count, _ in want)
    if got["leaked"] != total:
        failures.append(f"{name}: leaked {got['leaked']}, expected {total} (of {got.get('tasks')} tasks; "
                        f"unknown {got.get('unknown')}, main_blocked {got.get('main_blocked')}, "
                        f"roots_note {got.get('roots_note')!r}, missing {got.get('missing')!r})")
    for reason, count, line in want:
        match = [g for g in got["groups"]
                 if g["wait_reason"] == reason and g["count"] == count and
                 any(f.get("file", "").endswith(base) and f.get("line") == line
                     for f in g["frames"])]
        if not match:
            failures.append(f"{name}: no group of {count} in '{reason}' at {base}:{line}; "
                            f"got {[(g['count'], g['wait_reason'], [(f.get('function'), f.get('line')) for f in g['frames']]) for g in got['groups']]}")
    if len(got["groups"]) != len(want):
        failures.append(f"{name}: {len(got['groups'])} groups, expected {len(want)}")
    if want:
        fixed = run(leakscan, program, ["--fixed"])
        if fixed["leaked"] != 0:
            failures.append(f"{name} --fixed: leaked {fixed['leaked']}, expected none: "
                            f"{[(g['count'], g['wait_reason']) for g in fixed['groups']]}")
    return failures


def main():
    leakscan, source_dir = sys.argv[1], sys.argv[2]
    failures = []
    for spec in sys.argv[3:]:
        name, program = spec.split("=", 1)
        source = os.path.join(source_dir, "samples", name + ".c")
        try:
            problems = check(name, leakscan, program, source)
        except Exception as e:             # a crash or bad JSON is a failure too
            problems = [f"{name}: {e}"]
        print(f"{'FAIL' if problems else 'ok  '} {name}")
        failures += problems
    for f in failures:
        print("  " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
