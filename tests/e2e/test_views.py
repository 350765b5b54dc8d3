#!/usr/bin/env python3
"""The views over one snapshot of samples/chains (58 leaked tasks: 50
relays, 4 racers, 3 cycle members, 1 double sender):

  leakscan top      pprof's columns, --cum, --nodecount, --focus, --ignore
  leakscan traces   one entry per leaked task, with its creator
  --pprof OUT       a profile `go tool pprof -top` reads and agrees with
                    `leakscan top` on, with a wait_reason tag
  leakscan list     source lines with flat and cum counts
  a --json result   every view reads it as well as the snapshot (why
                    excepted: it needs the heap)

usage: test_views.py LEAKSCAN CHAINS_PROGRAM
"""
import os
import re
import subprocess
import sys
import tempfile

from checks import GO, check, finish, go_env


def leakscan(*args):
    p = subprocess.run([LEAKSCAN] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def top_rows(text):
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)\s+([\d.]+)%\s+([\d.]+)%\s+(\d+)\s+([\d.]+)%\s+(\S+)$", line)
        if m:
            rows[m.group(6)] = (int(m.group(1)), int(m.group(4)))
    return rows


LEAKSCAN, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
with tempfile.TemporaryDirectory() as tmp:
    snap = os.path.join(tmp, "chains.snap")
    subprocess.run([program], env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"),
                   stdout=subprocess.DEVNULL, check=True, timeout=120)

    code, out, _ = leakscan("top", snap)
    rows = top_rows(out)
    check(code == 1, "top exits 1 when tasks leaked")
    check("58 leaked tasks" in out, "top counts 58 leaked tasks")
    check(rows == {"relay": (50, 50), "racer": (4, 4), "cycle_member": (3, 3), "double_sender": (1, 1)},
          f"flat is where the user's code blocks, libleakrt's frames hidden (got {rows})")
    check(list(rows) == ["relay", "racer", "cycle_member", "double_sender"], "rows sorted by flat")

    code, out, _ = leakscan("top", "--runtime-frames", snap)
    rows = top_rows(out)
    check(rows.get("relay") == (0, 50), f"--runtime-frames: relay flat 0, cum 50 (got {rows.get('relay')})")
    check(rows.get("lrt_chan_recv") == (53, 53), f"--runtime-frames: lrt_chan_recv flat 53 (got {rows.get('lrt_chan_recv')})")
    check(rows.get("lrt_chan_send") == (5, 5), f"--runtime-frames: lrt_chan_send flat 5 (got {rows.get('lrt_chan_send')})")

    code, out, _ = leakscan("top", "--cum", "--runtime-frames", "--nodecount", "3", snap)
    rows = top_rows(out)
    check(len(rows) == 3 and list(rows)[:2] == ["lrt_chan_recv", "relay"],
          f"--cum --nodecount 3: three rows by cum (got {list(rows)})")

    code, out, _ = leakscan("top", "--focus", "^racer$", snap)
    check("4 of 58 leaked tasks (6.90%) after --focus/--ignore" in out and top_rows(out).get("racer") == (4, 4),
          f"--focus keeps the 4 racers, and says of how many: {out.splitlines()[1:2]}")
    racer = next((line for line in out.splitlines() if line.endswith(" racer")), "")
    check(racer.split()[1:3] == ["6.90%", "6.90%"],
          f"--focus: percentages are of all 58 leaked tasks, as pprof's (4/58): {racer}")
    code, out, _ = leakscan("top", "--ignore", "relay|racer", snap)
    check("4 of 58 leaked tasks" in out and "relay" not in top_rows(out),
          "--ignore drops relays and racers (3 cycle members + 1 double sender left)")
    code, out, _ = leakscan("top", "--all", snap)
    check(code == 1 and re.search(r"; \d+ tasks$", out.splitlines()[1]) and top_rows(out).get("relay") == (50, 50),
          f"top --all counts every task (not only the leaked): {out.splitlines()[1:2]}")
    code, _, err = leakscan("top", "--all", "--bytes", snap)
    check(code == 2 and "--bytes" in err and "--all" in err and len(err.splitlines()) == 1,
          f"top --all --bytes is refused in one line: {err.strip()}")
    code, _, err = leakscan("top", "--focus", "(", snap)
    check(code == 2 and "--focus" in err, "a bad --focus regex is an error (exit 2)")

    code, out, _ = leakscan("traces", snap)
    headers = re.findall(r"^task (\d+) \[(.+?)\]:$", out, re.M)
    check(code == 1, "traces exits 1 when tasks leaked")
    check(len(headers) == 58 and all("(leaked)" in h[1] for h in headers),
          f"traces shows the 58 leaked tasks (got {len(headers)})")
    ids = [int(h[0]) for h in headers]
    check(ids == sorted(ids), "traces lists tasks by id")
    creators = re.findall(r"^created by (\w+) in task 1$", out, re.M)
    check(len(creators) == 58 and set(creators) <= {"run", "daisy_chain"},
          f"each trace names its creator, run or daisy_chain, in task 1 (got {sorted(set(creators))})")
    check(re.search(r"^relay\(\)\n\t.*chains\.c:\d+ \+0x[0-9a-f]+$", out, re.M) is not None,
          "frames are printed as function() and file:line +offset")

    code, out, _ = leakscan("list", "^relay$", snap)
    check(code == 1 and re.search(r"^ROUTINE =+ relay in \S*samples/chains\.c$", out, re.M) is not None,
          "list heads the function with its source file")
    check(re.search(r"^\s+50\s+50\s+\d+:\s+if \(lrt_chan_recv\(l->in, &v\)\)", out, re.M) is not None,
          "list shows relay's 50 tasks blocked at its receive line")
    code, out, _ = leakscan("list", "--runtime-frames", "^relay$", snap)
    check(re.search(r"^\s+0\s+50\s+\d+:\s+if \(lrt_chan_recv\(l->in, &v\)\)", out, re.M) is not None,
          "with --runtime-frames they pass through it (flat in lrt_chan_recv)")
    check(re.search(r"^\s+\.\s+\.\s+\d+:.*count the hops", out, re.M) is not None,
          "lines without tasks show dots")
    numbered = [line for line in out.splitlines() if re.match(r"^\s+(\d+|\.)\s+(\d+|\.)\s+\d+: ", line)]
    check(numbered and numbered[0].endswith(": static void relay(void *arg)") and numbered[-1].endswith(": }"),
          f"list shows the function whole, from its declaration to its closing brace, as pprof -list: "
          f"{numbered[:1]} .. {numbered[-1:]}")
    check(re.search(r"^\s+0\s+50 \(flat, cum\) 86\.21% of 58 leaked tasks$", out, re.M) is not None,
          "list gives the function's own flat and cum totals, of all leaked tasks (--runtime-frames: 0, 50)")
    code, out, _ = leakscan("list", "--all", "^relay$", snap)
    check(code == 1 and re.search(r"^\s+\d+\s+50 \(flat, cum\) [\d.]+% of \d+ tasks$", out, re.M) is not None,
          "list --all counts every task")
    code, out, _ = leakscan("list", "^no_such_function$", snap)
    check("no leaked task passes through" in out, "list says when nothing matches")

    profile = os.path.join(tmp, "chains.pb.gz")
    code, _, err = leakscan("--pprof", profile, "-q", snap)
    check(code == 1 and os.path.getsize(profile) > 0, "--pprof writes a profile")
    env = go_env(tmp)
    p = subprocess.run([GO, "tool", "pprof", "-top", profile], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    theirs = {}
    for line in p.stdout.splitlines():
        m = re.match(r"\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+(\S+)$", line)
        if m:
            theirs[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    _, out, _ = leakscan("top", snap)
    ours = top_rows(out)
    check(p.returncode == 0 and theirs == ours,
          f"go tool pprof -top agrees with leakscan top (pprof: {theirs}, ours: {ours}; {p.stderr.strip()[:200]})")
    p = subprocess.run([GO, "tool", "pprof", "-list", "^relay$", profile], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    check(re.search(r"^\s+50\s+50\s+\d+:\s+if \(lrt_chan_recv", p.stdout, re.M) is not None,
          f"go tool pprof -list shows relay's 50 tasks on its receive line, as leakscan list does "
          f"({p.stderr.strip()[:200]})")
    p = subprocess.run([GO, "tool", "pprof", "-tags", profile], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    check("wait_reason" in p.stdout and "chan receive" in p.stdout,
          "the profile tags samples with their wait reason")

    result = os.path.join(tmp, "chains.json")
    code, out, _ = leakscan("--json", snap)
    with open(result, "w") as f:
        f.write(out)
    check(top_rows(leakscan("top", result)[1]) == top_rows(leakscan("top", snap)[1]),
          "top over the JSON result equals top over the snapshot")
    code, out, _ = leakscan("traces", result)
    check(code == 1 and len(re.findall(r"^task \d+ \[.*\(leaked\)", out, re.M)) == 58,
          "traces over the JSON result shows the 58 tasks")
    code, out, _ = leakscan("list", "^relay$", result)
    check(re.search(r"^\s+50\s+50\s+\d+:\s+if \(lrt_chan_recv", out, re.M) is not None,
          "list over the JSON result finds the source through the recorded directory")
    import json as _json
    stripped = os.path.join(tmp, "nodir.json")
    doc = _json.loads(open(result).read())
    for g in doc["groups"]:
        for fr in g["frames"]:
            fr.pop("dir", None)
    with open(stripped, "w") as f:
        f.write(_json.dumps(doc))
    p = subprocess.run([LEAKSCAN, "list", "^relay$", stripped], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, cwd="/", timeout=120)
    check("source not found" in p.stdout and "--source-path" in p.stdout,
          "list says when it cannot find a source file, and how to help it")
    srcdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "samples")
    p = subprocess.run([LEAKSCAN, "list", "--source-path", srcdir, "^relay$", stripped],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/", timeout=120)
    check(re.search(r"^\s+50\s+50\s+\d+:\s+if \(lrt_chan_recv", p.stdout, re.M) is not None,
          "--source-path finds it")

    code, out, _ = leakscan("diff", snap, result)
    check(code == 0 and not re.search(r"^\s*[+-]\d+\s", out, re.M),
          "diff between a snapshot and its own JSON result finds no change")
    code, out, _ = leakscan("html", result)
    check(code == 0 and '<svg id="flamegraph"' in out, "html over the JSON result has the flame graph (exit 0: a page written)")
    code, _, err = leakscan("why", "2", result)
    check(code == 2 and "give the snapshot" in err, "why over a JSON result says it needs the snapshot")

finish()
