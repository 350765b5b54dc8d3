#!/usr/bin/env python3
"""The command line as the tools people know have it (issue 17):

  - options may follow the positional arguments, as GNU getopt and pprof
    allow, and -- ends them (a file named like an option);
  - a bare `leakscan` prints a short usage (five lines at most) that points
    to --help and the man page, exit 2;
  - html exits 0 when it wrote the page, leaks or not; 2 on error;
  - --help and the man page document every option and every subcommand's
    exit status, and agree on the options;
  - counts are singular or plural as they should be, and with --all the
    header counts the leaked groups apart from all groups;
  - diff with nothing changed says so.

usage: test_cli.py LEAKSCAN SOUNDNESS_PROGRAM MAN_PAGE
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from checks import check, finish

leakscan, program, man_page = (os.path.abspath(a) for a in sys.argv[1:4])


def run(*args):
    p = subprocess.run([leakscan, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


with tempfile.TemporaryDirectory() as tmp:
    # soundness first-object: 1 leaked task in 1 group, holding 1 object
    # (in every build: no malloc involved, which a sanitizer would serve).
    snap = os.path.join(tmp, "one.snap")
    subprocess.run([program, "first-object"], env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"),
                   stdout=subprocess.DEVNULL, check=True, timeout=120)

    code, out, err = run()
    lines = err.splitlines()
    check(code == 2 and out == "" and 2 <= len(lines) <= 5 and "--help" in err and "man leakscan" in err,
          f"a bare leakscan: a short usage on stderr pointing to --help and man, exit 2 ({code}, {len(lines)} lines)")
    code, _, err = run("--json")
    check(code == 2 and len(err.splitlines()) <= 5, f"options but no FILE: the short usage too ({code})")

    before = run("--json", snap)
    after = run(snap, "--json")
    check(before[0] == after[0] == 1 and before[1] == after[1] and after[1].startswith("{"),
          "an option after FILE works as before it (leakscan FILE --json)")
    code, out, _ = run("list", "receiver", "--source-path", tmp, snap)
    check(code == 1 and "ROUTINE" in out, "list REGEX --source-path DIR FILE: options between positionals")
    code, out, _ = run("top", snap, "--nodecount", "1", "--cum")
    check(code == 1 and out.splitlines()[1].startswith("Showing 1 of"), "top FILE --nodecount 1 --cum")

    dashed = os.path.join(tmp, "-dashed.snap")
    shutil.copy(snap, dashed)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        code, out, err = run("--", "-dashed.snap")
        check(code == 1 and "1 leaked" in out, f"-- ends the options: a file named -dashed.snap ({code}, {err.strip()})")
        code, _, err = run("-dashed.snap")
        check(code == 2 and "try 'leakscan --help'" in err, f"without --, it is an unknown option ({code})")
    finally:
        os.chdir(cwd)

    # Counts: singular where one.
    code, out, _ = run(snap)
    header = out.splitlines()[1] if len(out.splitlines()) > 1 else ""
    check("1 leaked in 1 group," in header and "in 1 object" in header and "groups" not in header
          and "objects" not in header, f"one group, one object, in the singular: {header}")
    # stack-keeper: 2 leaked in 2 groups among tasks that are not.
    keeper = os.path.join(tmp, "keeper.snap")
    subprocess.run([program, "stack-keeper"], env=dict(os.environ, LEAKSCAN_AT_EXIT=keeper, LRT_PROCS="2"),
                   stdout=subprocess.DEVNULL, check=True, timeout=120)
    code, out, _ = run("--all", keeper)
    header = out.splitlines()[1] if len(out.splitlines()) > 1 else ""
    m = re.search(r"(\d+) tasks in (\d+) groups, 2 leaked in 2 groups", header)
    check(m is not None and int(m.group(2)) > 2,
          f"--all: the header counts all groups and, apart, the leaked ones: {header}")

    # html: a page written is success, leaks or not; an error is 2.
    code, out, _ = run("html", snap)
    check(code == 0 and out.lower().startswith("<!doctype html"),
          f"html with leaks: the page, exit 0 ({code})")
    code, out, err = run("html", os.path.join(tmp, "missing.snap"))
    check(code == 2 and out == "" and len(err.splitlines()) == 1, f"html of a missing file: exit 2, one line ({code})")

    # diff of a file with itself: nothing changed, and it says so.
    code, out, _ = run("diff", snap, snap)
    check(code == 0 and "No change: the same 1 leaked task in the same 1 group." in out,
          f"diff with nothing changed says so: {out.splitlines()[-1:]}")

    # Paths: absolute where the compilation directory makes them so, never
    # relative to the build directory (../samples/soundness.c).
    text = run(snap)[1] + run("traces", snap)[1]
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "samples")
    check("../" not in text and f"{src}/soundness.c:" in text,
          f"reports name source files by absolute path ({src}/soundness.c), never ../: "
          f"{[l for l in text.splitlines() if 'soundness.c' in l][:1]}")
    result = json.loads(run("--json", snap)[1])
    frame = result["groups"][0]["frames"][0]
    check(frame["file"].startswith("../") and frame.get("dir"),
          f"--json keeps the line table's file and its directory apart, as documented: {frame.get('file')}")
    for d, f, shown in (("/a/b", "../../../x.c", "/x.c"), ("/a", "./b/../c.c", "/a/c.c"),
                        ("/a//b/", "c.c", "/a/b/c.c"), ("relative/dir", "d.c", "d.c")):
        doc = dict(result)
        doc["groups"] = [dict(result["groups"][0], frames=[dict(frame, dir=d, file=f)])]
        path = os.path.join(tmp, "paths.json")
        with open(path, "w") as out:
            json.dump(doc, out)
        traces = run("traces", path)[1]
        check(f"\t{shown}:" in traces, f"{d} + {f} is shown as {shown}: "
              f"{[l for l in traces.splitlines() if l.startswith(chr(9))][:1]}")

    # --help and the man page: every option, every exit status.
    code, helptext, _ = run("--help")
    check(code == 0, "--help exits 0")
    options = sorted(set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", helptext, re.M)))
    page = subprocess.run(["man", "-l", "-P", "cat", man_page], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, env=dict(os.environ, MANWIDTH="100")).stdout
    check(len(options) > 20 and page, f"--help lists the options ({len(options)}) and the man page renders")
    missing = [o for o in options if o not in page]
    check(not missing, f"the man page documents every option --help lists (missing: {missing})")
    page_options = set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", page, re.M))
    extra = sorted(page_options - set(options))
    check(not extra, f"and no option --help lacks (extra: {extra})")
    for text, name in ((helptext, "--help"), (page, "the man page")):
        status = text[text.lower().index("exit status"):] if "exit status" in text.lower() else ""
        named = [c for c in ("html", "diff", "why", "waiters", "run", "top", "list", "attach") if c in status]
        check(len(named) == 8, f"{name} gives the exit status of each subcommand ({named})")
finish()
