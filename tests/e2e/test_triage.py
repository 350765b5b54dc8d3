#!/usr/bin/env python3
"""Triage on the webserver sample: `leakscan traces` shows each leaked
task's labels (set by its handler with lrt_label_set, inherited from the
acceptor and the handler) and the whole chain of creators, even though
the handler and the acceptor have exited; --under keeps the leaks whose
chain of creators passes through a function.

usage: test_triage.py LEAKSCAN WEBSERVER_PROGRAM
"""
import json
import os
import re
import subprocess
import sys
import tempfile

from checks import GO, check, finish, go_env

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


with tempfile.TemporaryDirectory() as tmp:
    snap = os.path.join(tmp, "web.snap")
    subprocess.run([program], stdout=subprocess.DEVNULL, timeout=120, check=True,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))
    p = subprocess.run([leakscan, "traces", snap], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=300)
    check(p.returncode == 1, f"traces exits 1: leaks ({p.returncode}, {p.stderr.strip()})")
    tasks = [t for t in p.stdout.split("\n\n") if t.startswith("task ")]
    check(len(tasks) == 3, f"three leaked backends ({len(tasks)})")
    requests = set()
    for t in tasks:
        m = re.search(r'^labels: \{"server":"web", "route":"/search", "request":"(\d+)"\}$', t, re.M)
        check(m is not None, f"labels from the acceptor and the handler:\n{t}")
        if m:
            requests.add(int(m.group(1)))
        chain = re.findall(r"^created by (\w+) in task \d+$", t, re.M)
        check(chain == ["handle_request", "acceptor", "run"],
              f"the chain of creators, the exited ones too: {chain}")
    check(requests == {0, 6, 9}, f"the slow searches are the leaked ones: {sorted(requests)}")

    # --pprof: the labels become sample labels pprof reads (-tags).
    profile = os.path.join(tmp, "web.pb.gz")
    subprocess.run([leakscan, "--pprof", profile, "-q", snap], stdout=subprocess.DEVNULL, timeout=300)
    # Go 1.26 prints counts as integers ("Total 3 of 3 ( 100%)",
    # "3 ( 100%): /search"), earlier releases as floats ("Total 3.0",
    # "3.0 ( 100%): /search"): both pass.
    p = subprocess.run([GO, "tool", "pprof", "-tags", profile], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300,
                       env=go_env(tmp))
    tags = re.sub(r"\s+", " ", p.stdout)
    count = r"{}(?:\.0)?"                   # 3 or 3.0
    check(re.search(r"route: Total " + count.format(3) + r"(?: of 3 \( 100%\))? ", tags)
          and re.search(count.format(3) + r" \( 100%\): /search(?!\S)", tags)
          and all(re.search(count.format(1) + rf" \(33\.33%\): {n}(?!\S)", tags) for n in (0, 6, 9)),
          f"go tool pprof -tags shows the labels: {tags[:300]} {p.stderr[:200]}")

    # --group-by: by a label's value, by creator, by top frame.
    def grouping(mode):
        p = subprocess.run([leakscan, "--json", "--group-by", mode, snap], stdout=subprocess.PIPE,
                           text=True, timeout=300)
        return sorted((g["count"], g.get("group_key")) for g in json.loads(p.stdout)["groups"])
    check(grouping("label:route") == [(3, "route=/search")], f"by label route: {grouping('label:route')}")
    check(grouping("label:request") == [(1, "request=0"), (1, "request=6"), (1, "request=9")],
          f"by label request: {grouping('label:request')}")
    check(grouping("label:missing") == [(3, "missing=(none)")], "by a label nobody has: one group")
    check(grouping("creator") == [(3, "creator handle_request")], f"by creator: {grouping('creator')}")
    check(grouping("top") == [(3, "top query_backend")], f"by top frame: {grouping('top')}")
    check(grouping("stack") == [(3, None)], "by stack (the default): no key")
    p = subprocess.run([leakscan, "--group-by", "label:route", snap], stdout=subprocess.PIPE, text=True,
                       timeout=300)
    check("# grouped by route=/search" in p.stdout, "the text report names the group's key")

    # --under: keep only leaks whose creators pass through a function.
    def counts(*args):
        p = subprocess.run([leakscan, "--json", *args, snap], stdout=subprocess.PIPE, text=True,
                           timeout=300)
        d = json.loads(p.stdout)
        return d["leaked"], d["suppressed"], p.returncode
    check(counts("--under", "handle_request") == (3, 0, 1), "--under the direct creator keeps them")
    check(counts("--under", "acceptor") == (3, 0, 1), "--under the creator's creator keeps them")
    check(counts("--under", "run") == (3, 0, 1), "--under the first creator keeps them")
    check(counts("--under", "unrelated_test") == (0, 3, 0),
          "--under a function not among their creators hides them (counted), exit 0")

    # A saved result (schema 2) keeps each task's labels, wait, creators and
    # what it holds: the views over it say what they say over the snapshot.
    saved = os.path.join(tmp, "web.json")
    with open(saved, "w") as f:
        f.write(subprocess.run([leakscan, "--json", snap], stdout=subprocess.PIPE, text=True).stdout)
    doc = json.load(open(saved))
    check(doc.get("schema") == 2 and len(doc.get("label_sets", [])) == 3 and doc.get("sites")
          and all(len(g["task_info"]) == g["count"] for g in doc["groups"]),
          "the result is of schema 2: label sets, creation sites, and a task_info per task")

    def view(*args, path):
        p = subprocess.run([leakscan, *args, path], stdout=subprocess.PIPE, text=True, timeout=300)
        return p.returncode, p.stdout.split("\n", 1)[1:]        # past the line naming the file
    for args in (("traces",), ("--group-by", "label:request"), ("--group-by", "label:route"),
                 ("--under", "acceptor"), ("--under", "unrelated_test"), ("top", "--bytes"), ()):
        on_snapshot, on_result = view(*args, path=snap), view(*args, path=saved)
        check(on_snapshot == on_result and on_result[1],
              f"{' '.join(args) or 'the default view'}: the saved result says what the snapshot says"
              + ("" if on_snapshot == on_result else f"\n{on_snapshot}\n{on_result}"))
    def reread(path):
        with open(path) as f:
            d = json.load(f)
        return sorted((t["id"], t.get("wait_ns"), t.get("labels"), t.get("parent"))
                      for g in d["groups"] for t in g["task_info"])
    again = os.path.join(tmp, "again.json")
    with open(again, "w") as f:
        f.write(subprocess.run([leakscan, "--json", saved], stdout=subprocess.PIPE, text=True).stdout)
    check(reread(again) == reread(saved), "a result saved again from a result keeps the same per-task facts")
finish()
