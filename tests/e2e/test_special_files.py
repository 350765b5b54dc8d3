#!/usr/bin/env python3
"""Inputs that are not regular files (issue 15): leakscan opens its input
once and reads from that one descriptor, so a FIFO or a pipe
(`leakscan <(cat result.json)`) holding a saved `--json` result is read
whole, as the file itself would be; a FIFO or pipe cannot hold a snapshot
or core (they are mapped, not read as a stream): refused in one line,
exit 2, never a hang.

usage: test_special_files.py LEAKSCAN DEMO_PROGRAM
"""
import os
import subprocess
import sys
import tempfile
import threading
import time

from checks import check, finish

leakscan, demo = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
env = dict(os.environ, LRT_PROCS="2")
env.pop("LEAKSCAN_AT_EXIT", None)
TIMEOUT = 30


def run(argv, stdin=None):
    """(exit status, stdout, stderr); status None when it did not end in
    TIMEOUT seconds (it hung: killed)."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    try:
        out, err = p.communicate(stdin, timeout=TIMEOUT)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out, err


def body(out):
    """The output without its first line, `leakscan: PATH` (the path the
    input was given by)."""
    return out.split("\n", 1)[1] if out.startswith("leakscan: ") else out


def feed(fifo, data, delay=0.0):
    """Writes data into fifo from a thread (opening it waits for the
    reader), as `cat FILE > FIFO &` would; a reader that goes away early
    is no error here."""
    def write():
        time.sleep(delay)
        try:
            with open(fifo, "wb") as f:
                f.write(data)
        except (BrokenPipeError, OSError):
            pass
    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


def unblock(fifo):
    """Opens fifo for writing without blocking, so a writer thread still
    waiting in open(2) (the reader hung before it came) can end."""
    try:
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    except OSError:
        pass


with tempfile.TemporaryDirectory() as tmp:
    snap, result = os.path.join(tmp, "demo.snap"), os.path.join(tmp, "demo.json")
    code, _, err = run([leakscan, "run", "-q", "-o", snap, "--", demo])
    check(code == 1 and os.path.isfile(snap), f"a snapshot of demo to work from ({code}, {err.strip()[-200:]})")
    code, out, err = run([leakscan, "--json", snap])
    with open(result, "w") as f:
        f.write(out)
    with open(result, "rb") as f:
        json_bytes = f.read()
    with open(snap, "rb") as f:
        snap_bytes = f.read()
    want = run([leakscan, result])
    want_top = run([leakscan, "top", result])
    want_i = run([leakscan, "-i", result], stdin="groups\n")
    check(want[0] == 1 and "5 leaked" in want[1], f"the saved result reads from its file ({want[0]})")

    # A FIFO with a writer that comes first, and one that comes after
    # leakscan has opened it: the result is read whole either way.
    for delay, how in ((0.0, "a writer already there"), (1.0, "a writer that comes a second later")):
        fifo = os.path.join(tmp, f"result-{delay}.fifo")
        os.mkfifo(fifo)
        t = feed(fifo, json_bytes, delay)
        got = run([leakscan, fifo])
        unblock(fifo)
        t.join(5)
        check(got[0] == want[0] and got[1].replace(fifo, result) == want[1] and got[2] == "",
              f"a FIFO holding a JSON result ({how}) reads as the file does "
              f"(exit {got[0]}, {got[2].strip()[:200]})")

    # Process substitution: /dev/fd/N, a pipe.
    got = run(["bash", "-c", 'exec "$0" top <(cat "$1")', leakscan, result])
    check(got[0] == want_top[0] and body(got[1]) == body(want_top[1]) and got[2] == "",
          f"leakscan top <(cat result.json): a pipe reads as the file does (exit {got[0]}, "
          f"{got[2].strip()[:200]})")
    got = run(["bash", "-c", 'exec "$0" -i <(cat "$1")', leakscan, result], stdin="groups\n")
    check(got[0] == want_i[0] and "5 @ " in got[1] and body(got[1]) == body(want_i[1]) and got[2] == "",
          f"leakscan -i <(cat result.json): the prompt loads it from the pipe (exit {got[0]}, "
          f"{got[2].strip()[:200]})")

    # A snapshot through a FIFO or a pipe: refused, one line, no hang.
    fifo = os.path.join(tmp, "snap.fifo")
    os.mkfifo(fifo)
    t = feed(fifo, snap_bytes)
    got = run([leakscan, fifo])
    unblock(fifo)
    t.join(5)
    check(got[0] == 2 and len(got[2].splitlines()) == 1 and got[2].startswith(f"leakscan: {fifo}: ")
          and "FIFO" in got[2] and "save it to a file" in got[2] and got[1] == "",
          f"a snapshot written into a FIFO: exit 2, one line saying it must be a file "
          f"(exit {got[0]}, {got[2].strip()[:300]})")
    got = run(["bash", "-c", 'exec "$0" <(cat "$1")', leakscan, snap])
    check(got[0] == 2 and len(got[2].splitlines()) == 1 and "FIFO or pipe" in got[2]
          and "save it to a file" in got[2],
          f"leakscan <(cat snapshot): exit 2, one line (exit {got[0]}, {got[2].strip()[:300]})")
finish()
