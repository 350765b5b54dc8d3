#!/usr/bin/env python3
"""malloc memory is judged like the tracked heap (issue 16): in
samples/jobs.c each worker's argument is a malloc'd struct holding the
channel it answers on; six late workers block in `chan send` forever.

  - libleakrt serving malloc: the six are leaked, in one group at the send,
    and the report has no note about roots;
  - LRT_MALLOC=off (glibc serves malloc, its memory scanned as a root): 0
    leaked, and every header says why (text, --json "roots_note", html, a
    saved result read back);
  - --fixed: no leak, no note;
  - a build whose program runs under a sanitizer: the sanitizer's allocator
    serves (malloc.c gives way to it), so this is the LRT_MALLOC=off case
    with the note naming the sanitizer; checked as such.

usage: test_malloc.py LEAKSCAN JOBS_PROGRAM
"""
import json
import os
import subprocess
import sys
import tempfile

from checks import check, finish

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


def run(*args, env=None, program_args=()):
    e = dict(os.environ, LRT_PROCS="2")
    e.pop("LRT_MALLOC", None)
    e.update(env or {})
    return subprocess.run([leakscan, "run", *args, "--", program, *program_args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=e, timeout=120)


p = run("--json")
doc = json.loads(p.stdout) if p.stdout.startswith("{") else {}
note = doc.get("roots_note")
if note and "sanitizer" in note:
    print("note: the program runs under a sanitizer, whose allocator serves malloc: "
          "checked as the fallback it is")
    check(p.returncode == 0 and doc.get("leaked") == 0, f"sanitizer: 0 leaked (exit {p.returncode})")
    text = run().stdout
    check("note: malloc memory was scanned as a root (a sanitizer" in text, "sanitizer: the header says why")
    finish()

check(p.returncode == 1 and doc.get("leaked") == 6, f"tracked: 6 leaked (exit {p.returncode}, {doc.get('leaked')})")
groups = doc.get("groups", [])
check(len(groups) == 1 and groups[0].get("wait_reason") == "chan send"
      and any(f.get("function") == "worker" and f.get("file", "").endswith("jobs.c") for f in groups[0]["frames"]),
      "tracked: one group, the workers blocked in chan send in worker()")
check(note is None, f"tracked: no note about roots ({note!r})")
check(doc.get("retained_objects", 0) >= 12,
      f"tracked: the malloc'd job structs count in memory held by leaks ({doc.get('retained_objects')} objects)")

off = {"LRT_MALLOC": "off"}
p = run("--json", env=off)
d = json.loads(p.stdout)
check(p.returncode == 0 and d["leaked"] == 0, f"LRT_MALLOC=off: 0 leaked (exit {p.returncode})")
check("LRT_MALLOC=off" in (d.get("roots_note") or ""), f"LRT_MALLOC=off: --json says why: {d.get('roots_note')!r}")
text = run(env=off).stdout
lines = text.splitlines()
pid_line = next((i for i, line in enumerate(lines) if line.startswith("pid ")), -2)
check(pid_line + 1 < len(lines) and
      lines[pid_line + 1].startswith("note: malloc memory was scanned as a root (LRT_MALLOC=off)"),
      "LRT_MALLOC=off: the line after the text header's counts says why")
with tempfile.TemporaryDirectory() as tmp:
    result = os.path.join(tmp, "r.json")
    with open(result, "w") as f:
        f.write(p.stdout)
    back = subprocess.run([leakscan, result], stdout=subprocess.PIPE, text=True).stdout
    check("LRT_MALLOC=off" in back, "a saved result read back keeps the note")
    html = subprocess.run([leakscan, "html", result], stdout=subprocess.PIPE, text=True).stdout
    check("Note: malloc memory was scanned as a root (LRT_MALLOC=off)" in html, "html says it too")

p = run("--json", program_args=("--fixed",))
d = json.loads(p.stdout)
check(p.returncode == 0 and d["leaked"] == 0 and "roots_note" not in d, "--fixed: no leak, no note")
finish()
