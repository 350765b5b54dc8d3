#!/usr/bin/env python3
"""`leakscan why TASK FILE` explains a verdict, on samples/soundness:
  leaked-stack   task leaked: nothing reaches the channel it waits on; the
                 only pointer to it is on its own (leaked) stack
  select-mixed   not leaked: the path from the global that reaches one of
                 the select's channels
  mutex-exited   a mutex's holder named (exited) with where it locked, in
                 traces and why; leaked-stack's holder with what it waits in
  an unknown id  a clear error, exit 2

And names from DWARF, on samples/jobsvc built at -O2 and at -O0:
  leaked         the results channel is named where a stack holds it: the
                 local `results` in handle_batch at the line it waits on
                 (at -O0 its slot in the frame; at -O2 where a callee
                 saved the register it lives in, or else only the frame,
                 never another variable); the struct batch that also
                 points at it, untyped (no path gives its type), bare
  kept           the path from the global: svc.last (struct batch *), the
                 heap object a struct batch, its .results (lrt_chan *),
                 the channel
  leaked-stack   the mutex the locker waits on: `mu` in mutex_owner_leaked

usage: test_why.py LEAKSCAN SOUNDNESS_PROGRAM JOBSVC JOBSVC_O0 JOBSVC_SOURCE
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


leakscan, program, jobsvc, jobsvc_O0, jobsvc_source = sys.argv[1:6]
with open(leakscan, "rb") as f:
    sanitized = b"__asan_init" in f.read()   # a build with ASan (its frames differ)
leak_line = next(n for n, text in enumerate(open(jobsvc_source), 1) if "LEAK(" in text)
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
        check(re.search(rf"stack of task {owner.group(1)} \(leaked\)$", out, re.M) is not None,
              "why lists the task's own leaked stack as the only referrer")
        _, traces, _ = run(leakscan, "traces", snaps["leaked-stack"])
        locker = re.search(r"^task (\d+) \[mutex lock \(leaked\)", traces, re.M)
        if check(locker is not None, "traces finds the locker"):
            _, out, _ = run(leakscan, "why", locker.group(1), snaps["leaked-stack"])
            named = re.search(r"^  0x[0-9a-f]+: mutex mu \(lrt_mutex\) in mutex_owner_leaked \(\S+soundness\.c:\d+\), "
                              rf"the stack of task {owner.group(1)}, which nothing", out, re.M) is not None
            if sanitized:
                # ASan moves locals into redzoned frames whose DWARF location
                # is not the CFA's: the variable may go unnamed, never misnamed.
                check(named or (re.search(rf"^  0x[0-9a-f]+: the stack of task {owner.group(1)}, which nothing",
                                          out, re.M) is not None and "mutex mu" not in out),
                      f"why names the mutex on the owner's stack by its variable, or (ASan) its stack only:\n{out}")
            else:
                check(named, f"why names the mutex on the owner's stack by its variable:\n{out}")

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

    # Names from DWARF: jobsvc at -O0 and at -O2.
    named = re.compile(r"^    0x[0-9a-f]+: ([\w-]+(?: [\w-]+)*) (\w+)(\S*) \((.+)\) in (\w+)(?: \((\S+):(\d+)\))?"
                       r"(, saved in the frame of \w+)?, stack of task (\d+) \(leaked\)$")
    framed = re.compile(r"^    0x[0-9a-f]+ in the frame of \w+, stack of task (\d+) \(leaked\)$")
    for exe, level in ((jobsvc_O0, "-O0"), (jobsvc, "-O2")):
        found = {}
        for mode in ("leaked", "kept"):
            found[mode] = os.path.join(tmp, f"jobsvc{level}-{mode}.snap")
            subprocess.run([exe] + ([mode] if mode == "kept" else []), check=True, timeout=120,
                           env=dict(os.environ, LEAKSCAN_AT_EXIT=found[mode], LRT_PROCS="2"),
                           stdout=subprocess.DEVNULL)
        _, traces, _ = run(leakscan, "traces", found["leaked"])
        handler = re.search(r"^task (\d+) \[chan receive \(leaked\)", traces, re.M)
        if not check(handler is not None, f"{level}: traces finds the leaked handle_batch"):
            continue
        tid = handler.group(1)
        code, out, _ = run(leakscan, "why", tid, found["leaked"])
        lines = out.splitlines()
        stack_lines = [l for l in lines if re.search(rf"stack of task {tid} \(leaked\)$", l)]
        names = [m for m in map(named.match, stack_lines) if m]
        frames = [l for l in stack_lines if framed.match(l)]
        check(code == 1 and stack_lines and len(names) + len(frames) == len(stack_lines),
              f"{level}: every slot of the leaked stack is named by variable or by frame:\n{out}")
        results = [m for m in names if m.group(5) == "handle_batch"]
        check(all(m.group(1, 2, 3, 4) == ("channel", "results", "", "lrt_chan *") and
                  (m.group(6) or "").endswith("jobsvc.c") and int(m.group(7) or 0) == leak_line for m in results),
              f"{level}: a slot of handle_batch is only ever `channel results (lrt_chan *)` at "
              f"jobsvc.c:{leak_line}, never another variable:\n{out}")
        if level == "-O0":
            check(any(not m.group(8) for m in results),
                  f"-O0: the slot of results in handle_batch's frame is named:\n{out}")
        check(re.search(r"^    0x[0-9a-f]+ in heap object 0x[0-9a-f]+ \(\d+ bytes\) \(itself unreachable\)$",
                        out, re.M) is not None,
              f"{level}: the struct batch, which no path types, stays a bare heap object:\n{out}")

        _, traces, _ = run(leakscan, "traces", "--all", found["kept"])
        handler = re.search(r"^task (\d+) \[chan receive, ", traces, re.M)
        if not check(handler is not None, f"{level} kept: traces --all finds handle_batch"):
            continue
        code, out, _ = run(leakscan, "why", handler.group(1), found["kept"])
        path = re.search(r"^    global svc\.last \(struct batch \*\) at 0x[0-9a-f]+\n"
                         r"    -> heap object (0x[0-9a-f]+) \(\d+ bytes\), a struct batch\n"
                         r"    -> \.results \(lrt_chan \*\): heap object (0x[0-9a-f]+) \(80 bytes\), a channel$",
                         out, re.M)
        check(code == 0 and path is not None,
              f"{level} kept: the path names the global's member, the struct it points at and its member:\n{out}")

    code, _, err = run(leakscan, "why", "999999", snaps["select-mixed"])
    check(code == 2 and "no live task 999999" in err, "an unknown task id is a clear error")
finish()
