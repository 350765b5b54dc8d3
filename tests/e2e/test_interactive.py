#!/usr/bin/env python3
"""`leakscan -i FILE`: one load, many views. Driven through a pipe, each
command gives what its one-shot twin gives; through a pseudo-terminal,
the prompt completes commands and function names with TAB and keeps a
history in ~/.leakscan_history.

usage: test_interactive.py LEAKSCAN WEBSERVER_PROGRAM
"""
import os
import pty
import select
import subprocess
import sys
import tempfile
import time

from checks import check, finish

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


def one_shot(*args):
    return subprocess.run([leakscan, *args], stdout=subprocess.PIPE, text=True, timeout=300).stdout


with tempfile.TemporaryDirectory() as tmp:
    snap = os.path.join(tmp, "web.snap")
    subprocess.run([program], stdout=subprocess.DEVNULL, timeout=120, check=True,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))

    script = "groups\ntop -cum\nlist query_backend\ntraces\nwhy 999999\nwaiters nosuch\nbogus\nquit\ntop\n"
    p = subprocess.run([leakscan, "-i", snap], input=script, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    out = p.stdout
    check(p.returncode == 1, f"exit 1: the file has leaks ({p.returncode}) {p.stderr}")
    for name, expected in (("groups", one_shot(snap)),
                           ("top -cum", one_shot("top", "--cum", snap)),
                           ("list", one_shot("list", "query_backend", snap)),
                           ("traces", one_shot("traces", snap))):
        check(expected and expected in out, f"{name} prints what its one-shot command prints")
    check("why: " in out and "999999" in out, "why of a missing task is an error line, not an exit")
    check("waiters: " in out and "no symbol 'nosuch'" in out, "so is waiters of an unknown symbol")
    check("unknown command 'bogus'" in out, "an unknown command says so")
    check(out.count("Showing") == 1, "quit stops reading (the top after it never runs)")

    # A terminal: prompt, TAB completion, history.
    master, slave = pty.openpty()
    proc = subprocess.Popen([leakscan, "-i", snap], stdin=slave, stdout=slave, stderr=slave,
                            env=dict(os.environ, HOME=tmp, TERM="dumb"), close_fds=True)
    os.close(slave)
    seen = b""

    def read_until(token, timeout=30):
        global seen
        end = time.time() + timeout
        while token not in seen and time.time() < end:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
        return token in seen

    check(read_until(b"(leakscan) "), "a terminal gets a prompt")
    os.write(master, b"trac\t\n")
    check(read_until(b"created by acceptor"), "TAB completes 'trac' to traces, which runs")
    os.write(master, b"list query_b\t\n")
    check(read_until(b"ROUTINE"), "TAB completes a function name")
    os.write(master, b"quit\n")
    proc.wait(timeout=60)
    os.close(master)
    history = os.path.join(tmp, ".leakscan_history")
    # libedit's format: a header line, spaces written as \040
    saved = open(history).read().replace("\\040", " ") if os.path.exists(history) else ""
    check("traces" in saved and "list query_backend" in saved,
          f"the history is kept in ~/.leakscan_history: {saved!r}")
finish()
