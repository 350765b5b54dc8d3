"""outcome.py — how every bad-inputs test judges one leakscan run on a
hostile input, so that the error contract is stated once.

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
