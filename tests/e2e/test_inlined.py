#!/usr/bin/env python3
"""Inlined code (issue 14): samples/inlined.c built at -O2, where gcc inlines
the once-called static compute() and send_result() into worker(), so the
3 leaked workers' one user PC stands for worker -> compute -> send_result
(-> lrt_chan_send). Every view expands that PC into its three functions,
from DWARF's inline scopes:

  text        a frame line each, the same PC, each with its own file:line
  --json      "inlined": true on the inlined frames, read back from a saved result
  top         send_result flat, compute and worker cum
  list        send_result's own lines with counts
  suppress    --ignore-top / --ignore-any name the inlined functions
  --pprof     one Location with a Line per function: pprof shows them

usage: test_inlined.py LEAKSCAN INLINED_PROGRAM INLINED_SOURCE
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from checks import GO, check, finish, go_env

LEAKSCAN, program, source = (os.path.abspath(a) for a in sys.argv[1:4])


def leakscan(*args):
    p = subprocess.run([LEAKSCAN] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def line_of(text):
    """The number of the source line that holds text."""
    with open(source) as f:
        for number, line in enumerate(f, 1):
            if text in line:
                return number
    raise AssertionError(f"{text!r} not in {source}")


def frames(report):
    """(pc, function, line) of each `#\\t0xPC\\tfunc+0xOFF\\tfile:line` line."""
    return [(m.group(1), m.group(2), int(m.group(3)))
            for m in re.finditer(r"^#\t(0x[0-9a-f]+)\t(\w+)\+0x[0-9a-f]+\t\S*inlined\.c:(\d+)$",
                                 report, re.M)]


def top_rows(text):
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+(\S+)", line)
        if m:
            rows[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return rows


def counts(*args):
    code, out, err = leakscan("--json", *args)
    if code not in (0, 1):
        return err.strip()
    d = json.loads(out)
    return d["leaked"], d["suppressed"], code


LEAK = line_of("LEAK(chan send")                  # in send_result
CALL_SEND = line_of("send_result(j->results")     # in compute
CALL_COMPUTE = line_of("compute(arg)")            # in worker

nm = shutil.which("nm")
if nm:
    symbols = subprocess.run([nm, program], stdout=subprocess.PIPE, text=True).stdout
    names = set(line.split()[-1] for line in symbols.splitlines() if line.strip())
    check("worker" in names and not {"compute", "send_result"} & names,
          "the sample at -O2: compute and send_result have no out-of-line copy, worker has")

with tempfile.TemporaryDirectory() as tmp:
    snap = os.path.join(tmp, "inlined.snap")
    subprocess.run([program], stdout=subprocess.DEVNULL, timeout=120, check=True,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))

    code, out, _ = leakscan(snap)
    got = frames(out)
    want = [("send_result", LEAK), ("compute", CALL_SEND), ("worker", CALL_COMPUTE)]
    check(code == 1 and [(f, l) for _, f, l in got] == want and len({pc for pc, _, _ in got}) == 1
          and re.search(r"^3 @ " + (got[0][0] if got else "x") + "$", out, re.M) is not None,
          f"the report has send_result, compute and worker at one PC, each at its own line "
          f"(want {want}, got {got})")
    check("created by fastest_answer at" in out,
          "the creator is the function inlined deepest at the lrt_go (fastest_answer, inlined into run)")

    code, out, _ = leakscan("traces", snap)
    check(re.search(r"^send_result\(\)\n\t\S*inlined\.c:%d\ncompute\(\)\n\t\S*inlined\.c:%d\n"
                    r"worker\(\)\n\t\S*inlined\.c:%d \+0x" % (LEAK, CALL_SEND, CALL_COMPUTE),
                    out, re.M) is not None,
          "traces prints the inlined frames, without an offset as Go does")

    code, out, _ = leakscan("--json", snap)
    result = os.path.join(tmp, "inlined.json")
    with open(result, "w") as f:
        f.write(out)
    doc = json.loads(out)
    js = [(fr.get("function"), fr.get("line"), fr.get("inlined", False))
          for g in doc["groups"] for fr in g["frames"]]
    check(js == [("send_result", LEAK, True), ("compute", CALL_SEND, True),
                 ("worker", CALL_COMPUTE, False)],
          f"--json: \"inlined\": true on send_result and compute, not on worker ({js})")

    code, out, _ = leakscan("top", snap)
    ours = top_rows(out)
    check(ours == {"send_result": (3, 3), "compute": (0, 3), "worker": (0, 3)},
          f"top: send_result flat 3, compute and worker cum 3 ({ours})")
    saved = top_rows(leakscan("top", result)[1])
    check(saved == ours and "send_result" in saved,
          f"top over the saved JSON result is the same ({saved})")
    code, out, _ = leakscan(result)
    check([(f, l) for _, f, l in frames(out)] == want,
          "the default report over the saved result has the inlined frames too")

    code, out, _ = leakscan("list", "^send_result$", snap)
    check(re.search(r"^\s+3\s+3\s+%d:.*LEAK\(chan send" % LEAK, out, re.M) is not None,
          f"list send_result: its send line has the 3 tasks, flat and cum:\n{out}")
    code, out, _ = leakscan("list", "^compute$", snap)
    check(re.search(r"^\s+0\s+3\s+%d:\s+send_result\(" % CALL_SEND, out, re.M) is not None,
          "list compute: its call of send_result has the 3 tasks, cum")

    check(counts("--ignore-top", "send_result", snap) == (0, 3, 0),
          "--ignore-top send_result: the inlined top user frame hides the group (3 suppressed)")
    check(counts("--ignore-top", "worker", snap) == (0, 3, 0),
          "--ignore-top worker: the real function at that PC still matches (rules written "
          "before the helpers were inlined keep working)")
    check(counts("--ignore-any", "compute", snap) == (0, 3, 0),
          "--ignore-any compute: an inlined frame hides it too")
    check(counts("--ignore-creator", "run", snap) == (0, 3, 0),
          "--ignore-creator run: the function the creating helper was inlined into matches too")
    check(counts("--under", "fastest_answer", snap) == (3, 0, 1),
          "--under fastest_answer: an inlined creator keeps them")

    profile = os.path.join(tmp, "inlined.pb.gz")
    code, _, _ = leakscan("--pprof", profile, "-q", snap)
    p = subprocess.run([GO, "tool", "pprof", "-traces", profile], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=go_env(tmp), timeout=300)
    trace = [line.split()[-2 if line.strip().endswith("(inline)") else -1]
             for line in p.stdout.splitlines() if re.match(r"^\s+(\d+\s+)?\w+( \(inline\))?$", line)]
    check(p.returncode == 0 and trace == ["send_result", "compute", "worker"]
          and "send_result (inline)" in p.stdout and "compute (inline)" in p.stdout,
          f"go tool pprof -traces shows send_result and compute inlined into worker "
          f"({trace}; {p.stderr.strip()[:200]})")

finish()
