#!/usr/bin/env python3
"""`leakscan why TASK FILE` explains a verdict, on samples/soundness:
  leaked-stack   task leaked: nothing reaches the channel it waits on; the
                 only pointer to it is on its own (leaked) stack
  select-mixed   not leaked: the path from the global that reaches one of
                 the select's channels
  mutex-exited   a mutex's holder named (exited) with where it locked, in
                 traces and why; leaked-stack's holder with what it waits in
  an unknown id  a clear error, exit 2

usage: test_why.py LEAKSCAN SOUNDNESS_PROGRAM
"""
import os
import re
import subprocess
import sys
import tempfile

from checks import check, finish


def run(*args):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


leakscan, program = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as tmp:
    snaps = {}
    for mode in ("leaked-stack", "select-mixed"):
        snaps[mode] = os.path.join(tmp, mode + ".snap")
        subprocess.run([program, mode], env=dict(os.environ, LEAKSCAN_AT_EXIT=snaps[mode], LRT_PROCS="2"),
                       stdout=subprocess.DEVNULL, check=True, timeout=120)

    _, traces, _ = run(leakscan, "traces", snaps["leaked-stack"])
    owner = re.search(r"^task (\d+) \[chan receive \(leaked\)", traces, re.M)
    check(owner is not None, "traces finds the leaked owner task")
    if owner:
        code, out, _ = run(leakscan, "why", owner.group(1), snaps["leaked-stack"])
        check(code == 1 and "mutex_owner_leaked" in out and ": leaked" in out,
              "why names the leaked task's function and verdict (exit 1)")
        check("which nothing that can run reaches" in out, "why says nothing that can run reaches the channel")
        check(re.search(rf"in the stack of task {owner.group(1)} \(leaked\)", out) is not None,
              "why lists the task's own leaked stack as the only referrer")

    _, traces, _ = run(leakscan, "traces", "--all", snaps["select-mixed"])
    sel = re.search(r"^task (\d+) \[select", traces, re.M)
    check(sel is not None, "traces --all finds the selecting task")
    if sel:
        code, out, _ = run(leakscan, "why", sel.group(1), snaps["select-mixed"])
        check(code == 0 and "blocked, not leaked" in out, "why says the select is not leaked (exit 0)")
        check("global soundness_global_chan" in out and "reachable from a root" in out,
              "why shows the path from the global")

    # A mutex's holder: who holds it and where it locked, a task that has
    # exited (mutex-exited) or one that still lives (leaked-stack).
    exited = os.path.join(tmp, "mutex-exited.snap")
    subprocess.run([program, "mutex-exited"], env=dict(os.environ, LEAKSCAN_AT_EXIT=exited, LRT_PROCS="2"),
                   stdout=subprocess.DEVNULL, check=True, timeout=120)
    _, traces, _ = run(leakscan, "traces", exited)
    waiter = re.search(r"^task (\d+) \[mutex lock \(leaked\).*\nmutex held by task (\d+) \(exited\) "
                       r"since (\S+):(\d+) \(in lock_and_exit\)$", traces, re.M)
    check(waiter is not None, f"traces names the exited holder and where it locked:\n{traces}")
    if waiter:
        src = open(waiter.group(3)).read().splitlines()
        check("SOUNDNESS-LOCKED-HERE" in src[int(waiter.group(4)) - 1],
              f"the lock site is the line that locked: {src[int(waiter.group(4)) - 1].strip()}")
        code, out, _ = run(leakscan, "why", waiter.group(1), exited)
        check(code == 1 and f"the mutex is held by task {waiter.group(2)} (exited) since" in out,
              f"why says it too: {out[:300]}")
    _, traces, _ = run(leakscan, "traces", snaps["leaked-stack"])
    check(re.search(r"^mutex held by task \d+ \(in chan receive, leaked\) since \S+soundness\.c:\d+ "
                    r"\(in mutex_owner_leaked\)$", traces, re.M) is not None,
          "a holder that lives is named with what it waits in and its verdict")

    code, _, err = run(leakscan, "why", "999999", snaps["select-mixed"])
    check(code == 2 and "no live task 999999" in err, "an unknown task id is a clear error")
finish()
