#!/usr/bin/env python3
"""`leakscan run` as a test-suite gate (issue 14): its exit status is the
program's own when the program failed (N, or 128 + the signal, like a
shell), else 1 for leaks and 0 for none, and 2 only for leakscan's own
errors; a failing program still gets its leak report, and a line on
stderr says why the status is what it is. -o FILE, or a LEAKSCAN_AT_EXIT
already set, keeps the snapshot; the private temporary one is removed,
and the report never names a file that is gone.

Killing leakscan (SIGTERM, SIGHUP, or a SIGINT sent to it alone) ends
the program too, removes the private temporary snapshot's directory, and
leakscan exits 128 + the signal (issue 15).

usage: test_run.py LEAKSCAN DEMO_PROGRAM SOUNDNESS_PROGRAM
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from checks import check, finish

leakscan, demo = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
soundness = os.path.abspath(sys.argv[3])
env = dict(os.environ, LRT_PROCS="2")
env.pop("LEAKSCAN_AT_EXIT", None)


def run(*args, environ=None):
    p = subprocess.run([leakscan, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=environ or env, timeout=180)
    return p.returncode, p.stdout, p.stderr


def header(out):
    """The report's first line, `leakscan: ...`, or None."""
    m = re.search(r"^leakscan: .*$", out, re.M)
    return m.group(0) if m else None


def leaked_groups(out):
    return re.findall(r"^5 @ .*\n# \[chan send \(leaked\)", out, re.M)


status_line = f"leakscan run: {demo} exited with status 3"

code, out, err = run("run", "--", demo, "--fixed")
check(code == 0 and "0 leaked" in out, f"a clean program that passes: exit 0 ({code}, {err.strip()[-200:]})")
check("leakscan run:" not in err, "and no line about its status")

code, out, err = run("run", "--", demo)
check(code == 1 and len(leaked_groups(out)) == 1, f"a program that passes and leaks: exit 1 ({code})")

code, out, err = run("run", "--", demo, "--fixed", "--exit", "3")
check(code == 3, f"a program that returns 3 without leaks: exit 3 ({code}, {err.strip()[-200:]})")
check(status_line in err, f"and stderr says it exited with status 3: {err.strip()[-200:]}")
check("0 leaked" in out, "and its (empty) leak report is still printed")

code, out, err = run("run", "--", demo, "--exit", "3")
check(code == 3 and len(leaked_groups(out)) == 1,
      f"a program that returns 3 and leaks: exit 3, the leaks still printed ({code}, {out[:300]})")
check(status_line in err and err.rstrip().endswith(status_line),
      "the status line is the last word on stderr, after the report")

code, out, err = run("run", "--json", "--", demo, "--exit", "3")
check(code == 3 and json.loads(out)["leaked"] == 5, f"with --json as well ({code})")

code, out, err = run("run", "--", demo, "--fixed", "--exit", "2")
check(code == 2 and f"{demo} exited with status 2" in err,
      f"the program's own 2 is passed through as is, and stderr tells it from leakscan's ({code})")

code, out, err = run("run", "--", demo, "--fixed", "--crash")
check(code == 128 + signal.SIGSEGV and "0 leaked" in out,
      f"a program killed by SIGSEGV after its snapshot: exit {128 + signal.SIGSEGV}, report printed ({code})")
check(f"{demo} was killed by SIGSEGV" in err, f"and stderr says so: {err.strip()[-200:]}")

code, out, err = run("run", "--", demo, "--crash")
check(code == 128 + signal.SIGSEGV and len(leaked_groups(out)) == 1,
      f"killed by a signal and leaking: the signal's status, the leaks printed ({code})")

code, out, err = run("run", "--", "/bin/sh", "-c", "exit 3")
check(code == 3, f"a program that fails before any snapshot: its status, not leakscan's 2 ({code})")
check("/bin/sh exited with status 3 and wrote no snapshot" in err, f"and stderr says both: {err.strip()}")

code, out, err = run("run", "--", "/bin/sh", "-c", "kill -TERM $$")
check(code == 128 + signal.SIGTERM and "was killed by SIGTERM and wrote no snapshot" in err,
      f"killed before any snapshot: 128 + the signal ({code}, {err.strip()})")

code, out, err = run("run", "--", "/bin/true")
check(code == 2 and "wrote no snapshot" in err and "libleakrt" in err,
      f"a program that passes but writes no snapshot: leakscan's error, 2 ({code}, {err.strip()})")

code, out, err = run("run", "--", "/nonexistent/program")
check(code == 2 and err.strip() == "leakscan run: cannot run /nonexistent/program: No such file or directory",
      f"a program that cannot be run: 2, one line ({code}, {err.strip()})")

code, out, err = run("run", "--", "/bin/sh", "-c", "exit 127")
check(code == 127 and "cannot run" not in err,
      f"a program that itself exits 127 is not taken for one that could not run ({code}, {err.strip()})")

with tempfile.TemporaryDirectory() as tmp:
    # The private temporary snapshot: the program prints where it was told
    # to write, so the check needs no glob over /tmp (other tests run
    # `leakscan run` at the same time).
    code, out, err = run("run", "--", "/bin/sh", "-c", 'echo "at-exit=$LEAKSCAN_AT_EXIT"; exec "$0"', demo)
    m = re.search(r"^at-exit=(.*)$", out, re.M)
    temporary = m.group(1) if m else ""
    check(code == 1 and temporary.startswith("/tmp/leakscan-run-"),
          f"without -o the snapshot goes to a private /tmp/leakscan-run-* ({code}, {temporary!r})")
    check(temporary and not os.path.exists(temporary) and not os.path.exists(os.path.dirname(temporary)),
          "and neither it nor its directory is left afterwards")
    head, report = header(out), out.replace(m.group(0) if m else "", "")
    check(head is not None and temporary not in report and "not kept" in head and "/bin/sh" in head,
          f"the header names the program and says the snapshot was not kept, not the deleted path: {head}")

    code, out, err = run("run", "--json", "--", demo)
    d = json.loads(out)
    check(code == 1 and d["file"] is None and d["kept"] is False and d["program"] == demo,
          f'--json: "file" is null, "kept" false, "program" the program ({d.get("file")}, {d.get("kept")})')
    check(err.count("request ") == 5, "--json: the program's own output went to stderr")

    # -o FILE / --output FILE: the snapshot is kept for why and traces.
    snap = os.path.join(tmp, "kept.snap")
    code, out, err = run("run", "-o", snap, "--", demo)
    check(code == 1 and os.path.isfile(snap), f"-o FILE keeps the snapshot ({code}, {err.strip()[-200:]})")
    check(header(out) == f"leakscan: {snap}", f"and the header names it: {header(out)}")
    code, out, err = run("traces", snap)
    check(code == 1 and len(re.findall(r"^task \d+ \[chan send \(leaked\)", out, re.M)) == 5,
          f"leakscan traces reads the kept snapshot ({code}, {err.strip()[:200]})")
    snap2 = os.path.join(tmp, "kept2.snap")
    code, out, err = run("run", "--json", "--output", snap2, "--", demo, "--fixed")
    d = json.loads(out)
    check(code == 0 and d["file"] == snap2 and d["kept"] is True and os.path.isfile(snap2),
          f'--output FILE with --json: "file" names the kept file ({code}, {d.get("file")})')

    # A snapshot from before at the kept path is never analysed as this run's.
    code, out, err = run("run", "-o", snap, "--", "/bin/true")
    check(code == 2 and "left from before" in err and os.path.isfile(snap),
          f"a program that writes none over an old file: 2, the old file named and left alone "
          f"({code}, {err.strip()})")

    # LEAKSCAN_AT_EXIT already set: honoured, and the file kept.
    own = os.path.join(tmp, "own.snap")
    code, out, err = run("run", "--", demo, environ=dict(env, LEAKSCAN_AT_EXIT=own))
    check(code == 1 and os.path.isfile(own) and header(out) == f"leakscan: {own}",
          f"LEAKSCAN_AT_EXIT set beforehand: written there, kept, named ({code}, {header(out)})")
    code, out, err = run("traces", own)
    check(code == 1, f"and readable afterwards ({code})")
    code, out, err = run("run", "--json", "--", demo, "--exit", "3", environ=dict(env, LEAKSCAN_AT_EXIT=own))
    d = json.loads(out)
    check(code == 3 and d["file"] == own and d["kept"] is True and os.path.isfile(d["file"]),
          f'"file" names a file that exists afterwards ({code}, {d.get("file")})')


def running(pid):
    """Whether pid is a live process (a zombie is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def at_exit_of(pid):
    """The LEAKSCAN_AT_EXIT leakscan run gave process pid, or None."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for entry in f.read().split(b"\0"):
                if entry.startswith(b"LEAKSCAN_AT_EXIT="):
                    return entry.split(b"=", 1)[1].decode()
    except OSError:
        pass
    return None


def start_waiting_run(ignored=()):
    """`leakscan run` of a program that waits: (the leakscan process, whether
    the program got ready, leakscan's children, the program's pid or None,
    its at-exit snapshot path or None). leakscan starts with the ending
    signals at their defaults, whatever this test inherited (under nohup
    SIGHUP is ignored, and leakscan rightly keeps it so), but those in
    ignored, which it starts with ignored."""
    def dispositions():
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN if sig in ignored else signal.SIG_DFL)
    p = subprocess.Popen([leakscan, "run", "--", soundness, "stack-keeper", "wait"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, preexec_fn=dispositions)
    ready = p.stdout.readline().strip() == "ready"
    try:
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        kids = []
    program = kids[0] if len(kids) == 1 else None
    return p, ready, kids, program, (at_exit_of(program) if program else None)


# Killing leakscan run: the program goes with it, and so does the private
# temporary directory (this run's own, read from the program's environment:
# other tests run `leakscan run` at the same time).
for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    name = signal.Signals(sig).name
    p, ready, kids, program, temporary = start_waiting_run()
    check(ready and program and temporary and temporary.startswith("/tmp/leakscan-run-"),
          f"{name}: the program runs under leakscan run, its snapshot due in /tmp/leakscan-run-* "
          f"({ready}, {kids}, {temporary})")
    os.kill(p.pid, sig)                     # leakscan alone, not its process group
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 5
    while program and running(program) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(p.returncode == 128 + sig, f"{name} to leakscan: it exits {128 + sig} ({p.returncode})")
    check(program and not running(program), f"{name} to leakscan: the program is gone within seconds")
    tmpdir = os.path.dirname(temporary) if temporary else None
    check(tmpdir and not os.path.exists(tmpdir),
          f"{name} to leakscan: its temporary directory {tmpdir} is removed")
    # Whatever failed, leave nothing behind.
    if program and running(program):
        os.kill(program, signal.SIGKILL)
    if p.poll() is None:
        p.kill()
    p.communicate()
    if tmpdir and os.path.isdir(tmpdir):
        shutil.rmtree(tmpdir, ignore_errors=True)

# A signal leakscan's caller ignores stays ignored (nohup's SIGHUP): the
# run goes on; SIGTERM still ends it.
p, ready, kids, program, temporary = start_waiting_run(ignored=(signal.SIGHUP,))
os.kill(p.pid, signal.SIGHUP)
time.sleep(1)
check(ready and p.poll() is None and program and running(program),
      f"SIGHUP ignored by the caller (nohup): leakscan and the program run on ({ready}, {p.poll()})")
os.kill(p.pid, signal.SIGTERM)
try:
    p.wait(timeout=10)
except subprocess.TimeoutExpired:
    p.kill()
check(p.returncode == 128 + signal.SIGTERM, f"and SIGTERM ends it then: {p.returncode}")
deadline = time.monotonic() + 5
while program and running(program) and time.monotonic() < deadline:
    time.sleep(0.05)
if program and running(program):
    os.kill(program, signal.SIGKILL)
p.communicate()
if temporary:
    shutil.rmtree(os.path.dirname(temporary), ignore_errors=True)

# SIGKILL cannot be caught: the program is still ended (the kernel's
# parent-death signal); only the directory, which nothing can remove then,
# is left (removed here).
p, ready, kids, program, temporary = start_waiting_run()
p.kill()
p.wait()                                     # its pipes stay open: the program is not told by them
deadline = time.monotonic() + 5
while program and running(program) and time.monotonic() < deadline:
    time.sleep(0.05)
check(ready and program and not running(program),
      f"SIGKILL to leakscan: the program is gone within seconds too ({ready}, {kids})")
if program and running(program):
    os.kill(program, signal.SIGKILL)
p.communicate()
if temporary:
    shutil.rmtree(os.path.dirname(temporary), ignore_errors=True)
finish()
