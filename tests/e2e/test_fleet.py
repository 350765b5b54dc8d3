#!/usr/bin/env python3
"""Several snapshots of one program in one view, as pprof merges profiles:
groups merge by symbolised stack although each process has its own
addresses (ASLR), each group counts its tasks per file, traces name each
task's file, --group-by and suppressions work on the merged result, the
merged JSON (schema 3) loads again as the same result, --pprof writes one
profile, the order of the files (not of the workers) decides the output,
an unreadable file is named while the others are still reported, each
worker reads its file with the options given, and the interactive prompt
loads them merged too.

usage: test_fleet.py LEAKSCAN WEBSERVER_PROGRAM
"""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

from checks import GO, check, finish, go_env

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


def run(*args):
    return subprocess.run([leakscan, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)


def groups_of(doc):
    return [(g["count"], g["frames"][0].get("function")) for g in doc["groups"]]


with tempfile.TemporaryDirectory() as tmp:
    os.chdir(tmp)
    snaps = []
    for name in ("a.snap", "b.snap"):
        subprocess.run([program], stdout=subprocess.DEVNULL, timeout=120, check=True,
                       env=dict(os.environ, LEAKSCAN_AT_EXIT=os.path.join(tmp, name), LRT_PROCS="2"))
        snaps.append(name)
    one = json.loads(run("--json", "a.snap").stdout)
    two = json.loads(run("--json", "b.snap").stdout)
    pcs = lambda d: {f["pc"] for g in d["groups"] for f in g["frames"]}
    check(pcs(one) != pcs(two), "the two processes have their code at different addresses (ASLR)")

    # The default view: one group per stack, with its count per file.
    p = run("a.snap", "b.snap")
    check(p.returncode == 1, f"exit 1: leaks ({p.returncode}, {p.stderr.strip()})")
    check(p.stdout.startswith("leakscan: a.snap, b.snap\n2 files, taken "),
          f"the header names the files:\n{p.stdout[:200]}")
    check(re.search(r"^2 files, taken .*, 6 leaked in 1 group,", p.stdout, re.M) is not None,
          f"the three leaked backends of each run are one group of 6:\n{p.stdout[:300]}")
    check("# in 2 of 2 files: a.snap 3, b.snap 3\n" in p.stdout, "the group's tasks counted per file")

    # JSON: schema 3, the files table, each task's file; loads again as itself.
    p = run("--json", "a.snap", "b.snap")
    merged = json.loads(p.stdout)
    check(merged["schema"] == 3 and [f["file"] for f in merged["files"]] == snaps,
          f"schema 3 with a files table: {merged['schema']} {merged.get('files')}")
    files = sorted(t["file"] for g in merged["groups"] for t in g["task_info"])
    check(files == [0, 0, 0, 1, 1, 1], f"each task names its file: {files}")
    check(merged["tasks"] == one["tasks"] + two["tasks"] and merged["leaked"] == 6,
          f"counts are the sums: {merged['tasks']} tasks, {merged['leaked']} leaked")
    check(merged["retained_bytes"] == one["retained_bytes"] + two["retained_bytes"],
          "retained memory is the sum")
    with open("merged.json", "w") as f:
        f.write(p.stdout)
    check(run("merged.json").stdout.split("\n", 1)[1] == run("a.snap", "b.snap").stdout.split("\n", 1)[1],
          "the saved merged result shows as the merge itself")
    again = run("--json", "merged.json", "a.snap")
    check([f["file"] for f in json.loads(again.stdout)["files"]] == ["a.snap", "b.snap", "a.snap"],
          "a merged result merged again keeps its files")

    # Every view over the merged result.
    p = run("traces", "a.snap", "b.snap")
    owners = re.findall(r"^task \d+ of (\S+) \[", p.stdout, re.M)
    check(owners == ["a.snap"] * 3 + ["b.snap"] * 3, f"traces name each task's file, in file order: {owners}")
    p = run("top", "a.snap", "b.snap")
    check(re.search(r"^\s+6 100\.00% 100\.00%\s+6 100\.00%\s+3\s+3  query_backend$", p.stdout, re.M) is not None
          and "flat per file: [1] a.snap, [2] b.snap\n" in p.stdout,
          f"top counts the backends of both files, with a column per file:\n{p.stdout}")
    p = run("--json", "--group-by", "label:request", "a.snap", "b.snap")
    keys = sorted((g["group_key"], g["count"]) for g in json.loads(p.stdout)["groups"])
    check(keys == [("request=0", 2), ("request=6", 2), ("request=9", 2)],
          f"--group-by label:request over both files' labels: {keys}")
    p = run("--ignore-top", "query_backend", "a.snap", "b.snap")
    check(p.returncode == 0 and "(and 6 suppressed)" in p.stdout,
          f"a suppression applies once, to the merged result ({p.returncode}):\n{p.stdout[:300]}")
    p = run("html", "a.snap", "b.snap")
    check(p.returncode == 0 and "a.snap, b.snap" in p.stdout, f"html of several files ({p.returncode})")
    profile = os.path.join(tmp, "fleet.pb.gz")
    run("--pprof", profile, "-q", "a.snap", "b.snap")
    p = subprocess.run([GO, "tool", "pprof", "-top", profile], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300, env=go_env(tmp))
    check(re.search(r"accounting for 6(\.0)?, 100% of 6(\.0)? total", p.stdout) is not None,
          f"--pprof writes one profile of both: {p.stdout[:300]} {p.stderr[:200]}")

    # The output is the files' order, whatever order the workers end in.
    outs = {run("-j", str(j), "--json", "a.snap", "b.snap", "a.snap").stdout for j in (1, 2, 3, 3)}
    check(len(outs) == 1, f"-j 1, 2 and 3 give one output ({len(outs)} different)")
    check(run("-j", "0", "a.snap", "b.snap").returncode == 2, "-j 0 is refused")

    # Each worker reads its file with the options given (they reach the
    # program started again for it), and a file named like an option is a file.
    shown = json.loads(run("--json", "--runtime-frames", "a.snap", "b.snap").stdout)
    alone = json.loads(run("--json", "--runtime-frames", "a.snap").stdout)
    names = lambda d: [[f.get("function") for f in g["frames"]] for g in d["groups"]]
    check(names(shown) == names(alone) and names(shown) != names(merged)
          and names(shown)[0][0].startswith("lrt_"),
          f"--runtime-frames reaches the workers: the runtime's frames are in the merged stacks "
          f"({names(shown)} against {names(merged)})")
    os.link("a.snap", "-a.snap")
    p = run("--json", "--", "-a.snap", "b.snap")
    check(p.returncode == 1 and [f["file"] for f in json.loads(p.stdout)["files"]] == ["-a.snap", "b.snap"],
          f"after --, a file named like an option is read as a file ({p.returncode}, {p.stderr.strip()})")

    # Groups merge by code, never by address: the same code at another
    # address merges, other code at the same address does not.
    moved, other = copy.deepcopy(one), copy.deepcopy(one)
    for g in moved["groups"]:
        for f in g["frames"]:
            f["pc"] = hex(int(f["pc"], 16) + 0x1000)
    for g in other["groups"]:
        g["frames"][0]["function"] = "not_" + g["frames"][0]["function"]
    for name, doc in (("moved.json", moved), ("other.json", other), ("one.json", one)):
        with open(name, "w") as f:
            json.dump(doc, f)
    m = json.loads(run("--json", "one.json", "moved.json").stdout)
    check(groups_of(m) == [(6, "query_backend")], f"the same code at other addresses merges: {groups_of(m)}")
    m = json.loads(run("--json", "-q", "one.json", "other.json").stdout)
    check(sorted(groups_of(m)) == [(3, "not_query_backend"), (3, "query_backend")],
          f"other code at the same address stays apart: {groups_of(m)}")
    check(len({g["frames"][0]["pc"] for g in m["groups"]}) == 2,
          "and the two are given different PCs")

    # A file that cannot be read: named, the rest reported, exit 2.
    with open("bad.snap", "w") as f:
        f.write("not a snapshot\n")
    p = run("a.snap", "bad.snap", "missing.snap", "b.snap")
    check(p.returncode == 2, f"exit 2 when a file cannot be read ({p.returncode})")
    check("leakscan: bad.snap: " in p.stderr and "leakscan: missing.snap: cannot open" in p.stderr,
          f"each unreadable file named on stderr:\n{p.stderr}")
    check("2 of 4 files could not be read" in p.stderr, "and counted")
    check("# in 2 of 2 files: a.snap 3, b.snap 3\n" in p.stdout, "the readable ones are still reported")
    p = run("bad.snap", "missing.snap")
    check(p.returncode == 2 and "none of the 2 files could be read" in p.stderr,
          f"none readable: exit 2 ({p.returncode}, {p.stderr.strip()})")

    # The prompt over several files: the merged result; why asks for one file.
    p = subprocess.run([leakscan, "-i", "a.snap", "b.snap"], input="top\nwhy 4\nquit\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    check(re.search(r"^\s+6 100\.00% 100\.00%\s+6 100\.00%\s+3\s+3  query_backend$", p.stdout, re.M) is not None
          and "why: several files merged keep no heap to explain: ask one of them" in p.stdout,
          f"-i over both files ({p.returncode}):\n{p.stdout[-400:]}")

    # why and waiters answer for each file's own tasks, under its name.
    task = one["groups"][0]["tasks"][0]
    p = run("why", str(task), "a.snap", "b.snap")
    check(p.stdout.startswith("== a.snap ==\n") and "\n== b.snap ==\n" in p.stdout,
          f"why answers per file:\n{p.stdout[:200]}")
finish()
