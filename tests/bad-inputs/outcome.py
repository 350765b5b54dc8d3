"""outcome.py — how every bad-inputs test judges one leakscan run on a
hostile input, so that the error contract is stated once; and the two
chores the file-making tests share (their command line, writing a case).

  ERROR   exit status exactly 2 and stderr exactly one line
          "leakscan: FILE: ..." that names the problem (a substring);
  LOADS   exit 0 or 1 (what can be read is reported), every stderr line a
          warning about FILE, the case's warning present (a substring);
  EITHER  one of the two (fuzz-found files, whose right answer was not
          known when they were saved: what matters is no crash);
  PARTIAL LOADS, or, when none of the runtime's task slots is in the
          file, ERROR saying so (with no task to look at, "no leaks"
          would be a guess).

Always wrong: no answer in time, a sanitizer report (or the suite's
sanitizer exit codes 98 and 99), death by a signal.
"""

import os
import sys

ERROR, LOADS, EITHER, PARTIAL = "error", "loads", "either", "partial"
NO_TASKS = "none of the runtime's task slots"


def judge(path, kind, expect, status, err):
    """What is wrong with one run (status None: it did not end in time;
    err: its stderr as text), or None when it kept the contract."""
    lines = err.splitlines()
    if status is None:
        return "no answer in time"
    if "Sanitizer" in err or "runtime error:" in err or status in (98, 99):
        return "a sanitizer report (or its memory limit)"
    if status < 0:
        return f"killed by signal {-status} (over a memory limit?)"
    if kind == ERROR or (kind in (EITHER, PARTIAL) and status not in (0, 1)):
        if status != 2:
            return f"exit {status}, want 2"
        if len(lines) != 1:
            return f"{len(lines)} lines on stderr, want 1"
        if not lines[0].startswith(f"leakscan: {path}:"):     # ": " or ":LINE: "
            return "the error does not name the file"
        if kind == ERROR and expect and expect not in lines[0]:
            return f"the error does not say {expect!r}"
        if kind == PARTIAL and NO_TASKS not in lines[0]:
            return f"the error does not say {NO_TASKS!r}"
        return None
    if status not in (0, 1):
        return f"exit {status}, want 0 or 1 (the file is still readable)"
    if any(not line.startswith(f"leakscan: {path}: warning: ") for line in lines):
        return "stderr has a line that is not a warning about the file"
    if expect and expect not in err:
        return f"no warning saying {expect!r}"
    return None


def arguments(doc):
    """(LEAKSCAN, DEMO_PROGRAM, SUBSTRING or None) from `LEAKSCAN
    DEMO_PROGRAM [--only SUBSTRING]`, absolute paths; else exit with doc."""
    args = sys.argv[1:]
    only = None
    if "--only" in args:
        i = args.index("--only")
        if i + 1 >= len(args):
            sys.exit(doc)
        only = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(doc)
    return os.path.abspath(args[0]), os.path.abspath(args[1]), only


def write(tmp, name, data):
    """Writes data to tmp/name; its path."""
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path
