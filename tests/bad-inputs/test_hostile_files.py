#!/usr/bin/env python3
"""test_hostile_files.py — a snapshot's NT_FILE note must not make leakscan
copy bytes of an arbitrary file of the analysing machine into a report.

Memory reads fall back, for addresses no core segment holds, to the files
NT_FILE says were mapped there; only files checked to be the objects the
program ran (formats/modules.c: the build-id of the core's own copy of
their ELF headers) may be read. Before that check, a hostile NT_FILE could
name any regular file and get its bytes printed, e.g. as a task's label.
A saved result's frames name their source files themselves: list and html
open only files named like source (a frame "in" id_rsa shows no line).

The hostile copy is made here from a snapshot of `webserver` (whose tasks
carry labels): every leaked task's "request" label value is pointed at an
address no segment holds, and an NT_FILE entry there (rewritten in place,
same path length) names a secret file full of "TOPSECRET". Two variants:
the secret mapped at file offset 0 (a module of its own, with no copy of
its headers in the core) and at a later offset (a mapping of no module).
Every view must then run (exit 0/1, or 2 with one line), never crash,
never print TOPSECRET, and (checked with inotify when it works here) never
even open the secret file. A control first points the label at a string
of a real, matching library the core does not hold, which must be shown:
the label really is read through NT_FILE, so the secret cases test what
they claim to.

usage: test_hostile_files.py LEAKSCAN WEBSERVER
"""
import ctypes
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import elfcore  # noqa: E402
from checks import check, finish  # noqa: E402

SECRET = b"TOPSECRET"


def run(args, timeout=60):
    """(exit status or None on timeout, stdout, stderr) of leakscan ARGS."""
    try:
        p = subprocess.run([leakscan, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, b"", b""
    return p.returncode, p.stdout, p.stderr


class Inotify:
    """IN_OPEN on one file, through libc; `works` is False if this machine
    has no inotify (or no instance left), or if a calibration open by
    another process is not seen."""
    IN_OPEN, IN_NONBLOCK, IN_CLOEXEC = 0x20, 0o4000, 0o2000000

    def __init__(self, path):
        self.fd, self.works = -1, False
        try:
            self.libc = ctypes.CDLL(None, use_errno=True)
            self.fd = self.libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
            if self.fd < 0 or self.libc.inotify_add_watch(self.fd, os.fsencode(path), self.IN_OPEN) < 0:
                return
        except (OSError, AttributeError):
            return
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
        self.works = self.opens() > 0

    def opens(self):
        """IN_OPEN events since the last call (16-byte header + name)."""
        n = 0
        while True:
            try:
                buf = os.read(self.fd, 4096)
            except BlockingIOError:
                return n
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    return n
                raise
            at = 0
            while at + 16 <= len(buf):
                mask = int.from_bytes(buf[at + 4:at + 8], "little")
                n += bool(mask & self.IN_OPEN)
                at += 16 + int.from_bytes(buf[at + 12:at + 16], "little")

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)


def views(path, task):
    return [("default", [path]), ("traces", ["traces", path]), ("traces --all", ["traces", "--all", path]),
            ("--json", ["--json", path]), ("top", ["top", path]), ("html", ["html", path]),
            (f"why {task}", ["why", str(task), path])]


def redirect_labels(good, i, entry, path, offset, delta, slots):
    """A copy of good whose NT_FILE entry i maps entry's range to path at
    offset, and whose tasks at slots have their "request" value at
    entry's start + delta. The address, and the copy."""
    c = elfcore.Core(good.data)
    c.set_file_mapping(i, entry[0], entry[1], offset, path)
    addr = entry[0] + delta
    for slot in slots:
        for pair, key, _value in c.label_pairs(slot):
            if c.cstring(key) == b"request":
                c.put("Q", c.file_offset(pair + 8, 8), addr)
    return addr, c


def main():
    global leakscan
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    leakscan, webserver = (os.path.abspath(a) for a in sys.argv[1:])
    tmp = tempfile.mkdtemp(prefix="lsh", dir="/tmp")    # short: secret paths must fit
    try:
        test(tmp, webserver)
        test_saved_result_sources(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


def test(tmp, webserver):
    snap = os.path.join(tmp, "ws.snap")
    subprocess.run([webserver], stdout=subprocess.DEVNULL, check=True, timeout=120,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))
    good = elfcore.Core(open(snap, "rb").read())
    good.check_layout()
    status, out, _err = run(["--json", snap])
    leaked = json.loads(out)["groups"][0]["tasks"] if status == 1 else []
    if not check(leaked, f"the snapshot of webserver has leaked tasks (exit {status})"):
        return
    id_of = lambda c, s: c.u("Q", c.file_offset(s + c.root("off_task_id", "I"), 8))  # noqa: E731
    slots = [s for s in good.live_task_slots() if id_of(good, s) in leaked]
    labelled = [s for s in slots if any(good.cstring(k) == b"request" for _p, k, _v in good.label_pairs(s))]
    if not check(labelled and len(labelled) == len(slots),
                 f"every leaked task {leaked} has a \"request\" label in the core"):
        return
    task = leaked[0]

    # The entry to rewrite: a later mapping of a module (not its headers)
    # of which the core holds no byte, long enough a path for the secret's.
    maps = good.file_mappings()
    cands = [(len(m[3]), n) for n, m in enumerate(maps)
             if m[2] and m[1] - m[0] >= 3 * 4096 and not good.in_segment(m[0], m[1] - m[0])]
    if not check(cands and max(cands)[0] >= len(tmp) + 4,
                 "NT_FILE has a mapping the core holds no byte of, with a path long enough to rewrite"):
        return
    n = max(cands)[1]
    entry = maps[n]

    # Control: the label pointed at a string of that real file, which the
    # program ran: shown, so labels do reach NT_FILE's files.
    with open(entry[3], "rb") as f:
        f.seek(entry[2])
        region = f.read(entry[1] - entry[0])
    m = re.search(rb"\0([A-Za-z_][A-Za-z0-9_]{5,40})\0", region)
    if check(m, f"{entry[3].decode()} has a string in its mapping at {entry[0]:#x}"):
        _addr, c = redirect_labels(good, n, entry, entry[3], entry[2], m.start(1), slots)
        control = os.path.join(tmp, "control.snap")
        open(control, "wb").write(c.data)
        status, out, err = run(["traces", control])
        check(status == 1 and f'"request":"{m.group(1).decode()}"'.encode() in out,
              f"control: traces shows the label read from {os.path.basename(entry[3].decode())} "
              f"(exit {status}) {err.decode(errors='replace').strip()[:200]}")

    for variant, offset in (("offset-0", 0), ("offset-1-page", 4096)):
        name = variant[0] + "-"
        secret = os.path.join(tmp, name + "s" * (len(entry[3]) - len(tmp) - 1 - len(name)))
        assert len(secret) == len(entry[3])
        with open(secret, "wb") as f:
            f.write((SECRET + b"\0") * 1300)                # past 3 pages
        addr, c = redirect_labels(good, n, entry, os.fsencode(secret), offset, (-offset) % 10, slots)
        hostile = os.path.join(tmp, f"hostile-{variant}.snap")
        open(hostile, "wb").write(c.data)
        check(not c.in_segment(addr, 16) and all(
            v == addr for s in slots for _p, k, v in c.label_pairs(s) if c.cstring(k) == b"request"),
            f"{variant}: the \"request\" labels point at {addr:#x}, which NT_FILE maps to the "
            f"secret and no segment holds")
        watch = Inotify(secret)
        opened = []
        for view, args in views(hostile, task):
            status, out, err = run(args)
            lines = err.decode(errors="replace").splitlines()
            what = f"{variant} {view}: exit {status}"
            if status is None:
                check(False, what + ": no answer in 60 s")
            elif status < 0 or b"Sanitizer" in err or b"runtime error:" in err:
                check(False, what + ": crashed or a sanitizer report: " + err.decode(errors="replace")[:600])
            elif status == 2:
                check(len(lines) == 1, what + f" (refused) with {len(lines)} line(s) on stderr, want 1")
            else:
                check(status in (0, 1), what + (" (read)" if status in (0, 1) else ", want 0, 1 or 2"))
            check(SECRET not in out and SECRET not in err, f"{variant} {view}: TOPSECRET not printed")
            if view == "traces":
                check(all(f"task {t} ".encode() in out for t in leaked),
                      f"{variant} traces: still lists the leaked tasks {leaked} (read, not refused)")
            if watch.works and watch.opens():
                opened.append(view)
        if watch.works:
            check(not opened, f"{variant}: the secret file is never opened (inotify IN_OPEN)"
                  + (f"; opened by: {', '.join(opened)}" if opened else ""))
        else:
            print(f"skip {variant}: inotify does not work here: not checked that the secret is never opened")
        watch.close()


def test_saved_result_sources(tmp):
    """A saved result names its frames' files itself: `list` and `html`
    copy source lines into what people read and share, so they open only
    files named like source (report_list.c is_source_name). A frame "in"
    a secret file shows no line of it; one in a real .c file, same
    content, does (the control)."""
    secret = os.path.join(tmp, "id_rsa")
    source = os.path.join(tmp, "real.c")
    for path in (secret, source):
        with open(path, "wb") as f:
            f.write(b"line one\n" + SECRET + b" second line\n")
    for name, path, shown in (("a secret file", secret, False), ("a .c file", source, True)):
        doc = {"groups": [{"count": 1, "wait_reason": "chan send", "leaked": True, "tasks": [1],
                           "frames": [{"pc": "0x1000", "function": "f", "file": path, "line": 2}]}]}
        result = os.path.join(tmp, "result.json")
        with open(result, "w") as f:
            json.dump(doc, f)
        for view in (["list", "."], ["html"]):
            status, out, err = run([*view, result])
            check(status in (0, 1), f"saved result naming {name}: {view[0]} exit {status} "
                  f"{err.decode(errors='replace').strip()[:200]}")
            check((SECRET in out) == shown, f"saved result naming {name}: {view[0]} "
                  + ("shows its line 2" if shown else "prints no byte of it"))
        if not shown:
            status, out, _err = run(["list", ".", result])
            check(b"not named like a source file" in out, "list says why the secret's lines are not shown")


if __name__ == "__main__":
    main()
