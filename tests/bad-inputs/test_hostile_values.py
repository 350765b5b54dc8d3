#!/usr/bin/env python3
"""test_hostile_values.py — values a hostile file can hold that are each
well-formed on their own: numbers at the ends of their types, strings with
markup or terminal control bytes, and inputs that are valid but empty
(issue 15, "Hostile inputs, round two"). What is asserted, per class:

  numbers   wait times are computed saturating (a task waiting since
            INT64_MIN, a snapshot taken at INT64_MAX): no overflow, and the
            views show the saturated wait; a saved result's numbers
            (line, offset, pid, task ids, wait_ns: 1e300, -1e300) are
            clamped when converted; counts a result claims ("leaked") are
            recounted from its groups, so a suppression cannot underflow
            them; several tasks marked main: one warning, the first one is
            the main task, the others are still judged.
  empty     --pprof of a result with no groups writes an empty, valid
            profile and exits 0 (and `run` removes its snapshot).
  markup    `html` escapes every string from the file on every path (a
            long function name truncated in the flame graph too).
  control   no text view prints a byte below 0x20 other than newline and
            tab, nor 0x7f: an ESC or BEL from the file cannot reach the
            terminal, a newline cannot forge a report line. Strings from a
            snapshot (wait reason names, label keys and values, the note's
            reason) and from a saved result are made safe as they load.

Every run must also end without a sanitizer report (the sanitize build's
exit codes are 99 and 98, never 1: tests/README.md).

usage: test_hostile_values.py LEAKSCAN DEMO WEBSERVER
"""
import glob
import gzip
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
from checks import GO, check, finish, go_env  # noqa: E402

INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
FORGED = b"FORGE"          # what an injected newline would start a line with


def run(args, stdin=None, timeout=60):
    """(exit status or None on timeout, stdout, stderr) of leakscan ARGS."""
    try:
        p = subprocess.run([leakscan, *args], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, b"", b""
    return p.returncode, p.stdout, p.stderr


def trouble(status, err):
    """Why a run is not a clean answer (a timeout, a crash, a sanitizer
    report), or None."""
    if status is None:
        return "no answer in 60 s"
    if status < 0:
        return f"killed by signal {-status}"
    if b"Sanitizer" in err or b"runtime error:" in err or status in (98, 99):
        return "a sanitizer report: " + err.decode(errors="replace").strip()[:600]
    return None


def ran_clean(what, status, err, codes=(0, 1)):
    """One check: no trouble and an exit status in codes."""
    why = trouble(status, err) or (None if status in codes else f"exit {status}, want {codes}")
    return check(why is None, what + (f": {why}" if why else f" (exit {status})"))


def unsafe_bytes(out):
    """The control bytes in out other than newline and tab, and the lines
    that start with FORGED (a newline from the file made them)."""
    bad = sorted({b for b in out if (b < 0x20 and b not in (0x0a, 0x09)) or b == 0x7f})
    forged = [line for line in out.split(b"\n") if line.startswith(FORGED)]
    return bad, forged


def check_safe(what, status, out, err):
    if not ran_clean(what + ": runs", status, err, (0, 1, 2)):
        return
    bad, forged = unsafe_bytes(out)
    check(not bad and not forged, f"{what}: no control byte reaches stdout, no forged line"
          + (f" (bytes {[hex(b) for b in bad]}, forged lines {forged[:3]})" if bad or forged else ""))


def task_field(c, slot, field, fmt, value):
    c.put(fmt, c.file_offset(slot + c.root(field, "I"), len(elfcore.struct.pack("<" + fmt, 0))), value)


def slot_u(c, slot, field, fmt="I"):
    return c.u(fmt, c.file_offset(slot + c.root(field, "I"), len(elfcore.struct.pack("<" + fmt, 0))))


def write(tmp, name, data):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def write_json(tmp, name, doc):
    return write(tmp, name, json.dumps(doc).encode())


# -- protobuf, enough to read a profile's top level -------------------------
def varint(data, at):
    v = shift = 0
    while True:
        b = data[at]
        at += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, at


def profile_fields(data):
    """{field number: [values]} of a profile.proto's top level (bytes for
    length-delimited fields, ints for varints)."""
    out, at = {}, 0
    while at < len(data):
        key, at = varint(data, at)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, at = varint(data, at)
        elif wire == 2:
            n, at = varint(data, at)
            v, at = bytes(data[at:at + n]), at + n
        else:
            raise ValueError(f"wire type {wire}")
        out.setdefault(field, []).append(v)
    return out


def check_empty_profile(what, path):
    """A gzip'd profile.proto with its sample types, its string table
    starting with "", and no sample."""
    try:
        fields = profile_fields(gzip.decompress(open(path, "rb").read()))
        strings = fields.get(6, [])
        ok = (len(fields.get(1, [])) == 2 and not fields.get(2) and strings[:1] == [b""]
              and b"goroutineleak" in strings)
        why = f"sample types {len(fields.get(1, []))}, samples {len(fields.get(2, []))}, strings {strings[:6]}"
    except (OSError, ValueError, IndexError, EOFError) as e:
        ok, why = False, f"unreadable: {e}"
    check(ok, f"{what}: an empty valid profile (sample types, no sample) ({why})")
    if not os.path.exists(GO):
        print(f"skip {what}: go tool pprof: no {GO}")
        return
    tmp = os.path.dirname(path)
    try:                                # the first use compiles pprof: minutes on a cold cache
        p = subprocess.run([GO, "tool", "pprof", "-top", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=300, env=go_env(tmp))
    except subprocess.TimeoutExpired:
        print(f"skip {what}: go tool pprof did not answer in 300 s (its first build?)")
        return
    check(p.returncode == 0 and "Type: goroutineleak" in p.stdout,
          f"{what}: go tool pprof -top reads it (exit {p.returncode}; {p.stderr.strip()[:200]})")


def main():
    global leakscan
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    leakscan, demo, webserver = (os.path.abspath(a) for a in sys.argv[1:])
    tmp = tempfile.mkdtemp(prefix="lsv")
    try:
        snap = os.path.join(tmp, "web.snap")
        subprocess.run([webserver], stdout=subprocess.DEVNULL, check=True, timeout=120,
                       env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))
        good = elfcore.Core(open(snap, "rb").read())
        good.check_layout()
        status, out, err = run(["--json", snap])
        if not check(status == 1 and not trouble(status, err), "the snapshot of webserver has leaks"):
            return
        result = json.loads(out)
        numbers(tmp, snap, good, result)
        empty(tmp, demo)
        markup(tmp, result)
        control(tmp, snap, good, result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        finish()


# ---------------------------------------------------------------------------
def numbers(tmp, snap, good, result):
    slots = good.live_task_slots()
    waiting = [s for s in slots if slot_u(good, s, "off_task_state") == 3]
    _hdr, desc, _size = good.leakscan_note()

    def patched(name, fn):
        c = elfcore.Core(good.data)
        fn(c)
        return write(tmp, name, c.data)

    # A wait that began at INT64_MIN, and a snapshot taken at INT64_MAX of
    # a wait that began at -1: both differences overflow int64. Saturated,
    # they are 2^63 - 1 ns, shown as 106751 days.
    since_min = patched("wait-since-min.snap", lambda c: [task_field(c, s, "off_task_wait_since", "q", INT64_MIN)
                                                           for s in waiting])

    def now_max(c):
        c.put("q", desc + elfcore.NOTE["time_monotonic_ns"], INT64_MAX)
        for s in waiting:
            task_field(c, s, "off_task_wait_since", "q", -1)
    taken_max = patched("taken-at-max.snap", now_max)
    for name, path in (("wait_since INT64_MIN", since_min), ("time INT64_MAX, wait_since -1", taken_max)):
        for view, args in (("default", []), ("traces", ["traces"]), ("--json", ["--json"]), ("html", ["html"]),
                           ("top", ["top"])):
            status, out, err = run([*args, path])
            ran_clean(f"{name}: {view}", status, err)
            if view in ("default", "traces"):
                check(b"106751 days" in out, f"{name}: {view} shows the saturated wait (106751 days)")

    # Every task slot marked main: only the first is the main task.
    all_main = patched("all-main.snap", lambda c: [task_field(c, s, "off_task_is_main", "B", 1) for s in slots])
    status, out, err = run([all_main])
    lines = err.decode(errors="replace").splitlines()
    ran_clean("every task marked main: default view", status, err)
    check(len(lines) == 1 and lines[0].startswith(f"leakscan: {all_main}: warning: ") and "main" in lines[0],
          f"every task marked main: one warning line about the main task ({lines})")
    want = result["leaked"] - 1
    header = (out.split(b"\n") + [b"", b""])[1][:160]
    check(f", {want} leaked in".encode() in out,
          f"every task marked main: the first is the main task, the other {want} still leak ({header})")

    # A saved result whose numbers are past every integer type.
    huge = json.loads(json.dumps(result))
    huge["pid"] = -1e300
    g = huge["groups"][0]
    g["wait_ns"] = {"min": 1e300, "max": 1e300}
    g["tasks"] = [1e300, -5, 7.5] + g["tasks"][3:]
    for fr in g["frames"] + [g["created_by"]]:
        fr["line"], fr["offset"] = 1e300, 1e300
    g2 = json.loads(json.dumps(g))
    for fr in g2["frames"] + [g2["created_by"]]:
        fr["line"], fr["offset"] = -1e300, -1e300
    huge["groups"].append(g2)
    path = write_json(tmp, "huge-numbers.json", huge)
    fn = g["frames"][0]["function"]
    for view, args in (("default", []), ("traces", ["traces"]), ("top", ["top"]), ("list", ["list", fn]),
                       ("html", ["html"]), ("--json", ["--json"]),
                       ("--pprof", ["--pprof", os.path.join(tmp, "huge.pb.gz")])):
        status, _out, err = run([*args, path])
        ran_clean(f"numbers 1e300 in a saved result: {view}", status, err)

    # A result that claims fewer (or more) leaks than its groups hold.
    n = sum(len(g["tasks"]) for g in result["groups"])
    for claim in (0, 1e300):
        doc = json.loads(json.dumps(result))
        doc["leaked"] = claim
        path = write_json(tmp, f"leaked-{claim}.json", doc)
        status, out, err = run(["--json", "--ignore-top", fn, path])
        got = json.loads(out) if status in (0, 1) and out else {}
        ran_clean(f'"leaked": {claim} with --ignore-top: runs', status, err)
        check(got.get("leaked") == 0 and got.get("suppressed") == n,
              f'"leaked": {claim} with --ignore-top {fn}: 0 leaked, {n} suppressed (got '
              f'{got.get("leaked")}, {got.get("suppressed")})')
        status, out, err = run([path])
        check(status == 1 and f", {n} leaked in".encode() in out,
              f'"leaked": {claim}: the header counts the {n} leaked tasks of the groups')


# ---------------------------------------------------------------------------
def empty(tmp, demo):
    # `run` of a program without leaks, with --pprof: no group at all. The
    # program is a copy of demo of its own name, so that a snapshot left
    # behind is told apart from other tests' by the path its note names.
    program = os.path.join(tmp, "demo-without-leaks")
    shutil.copy(demo, program)
    profile = os.path.join(tmp, "fixed.pb.gz")
    p = subprocess.run([leakscan, "run", "--pprof", profile, "--", program, "--fixed"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120, env=dict(os.environ, LRT_PROCS="2"))
    ran_clean("run --pprof of a program without leaks", p.returncode, p.stderr, (0,))
    check_empty_profile("run --pprof of a program without leaks", profile)
    left = []
    for snap in glob.glob("/tmp/leakscan-run-*/at-exit.snap"):
        try:
            c = elfcore.Core(open(snap, "rb").read())
            _h, desc, _s = c.leakscan_note()
            at = desc + elfcore.NOTE_HEADER + c.u("I", desc + elfcore.NOTE["build_id_size"])
            if bytes(c.data[at:at + len(program) + 1]) == program.encode() + b"\0":
                left.append(snap)
        except (OSError, ValueError, elfcore.struct.error):
            pass
    check(not left, f"run --pprof removes its temporary snapshot (left: {left})")

    # A saved result with no groups.
    path = write_json(tmp, "no-groups.json", {"file": "x", "pid": 1, "time": "", "reason": "r", "tasks": 0,
                                               "leaked": 0, "groups": []})
    profile = os.path.join(tmp, "none.pb.gz")
    status, _out, err = run(["--pprof", profile, path])
    ran_clean("--pprof of a saved result with no groups", status, err, (0,))
    check_empty_profile("--pprof of a saved result with no groups", profile)


# ---------------------------------------------------------------------------
PAGE_TAGS = {b"html", b"head", b"meta", b"title", b"style", b"body", b"h1", b"h2", b"p", b"strong", b"svg",
             b"g", b"rect", b"text", b"div", b"span", b"table", b"tr", b"td", b"input", b"button", b"script"}


def markup(tmp, result):
    """html over a saved result whose strings are markup: a function name
    long enough to be truncated in the flame graph, quotes, ampersands,
    </script>; none may appear raw."""
    doc = json.loads(json.dumps(result))
    doc["reason"] = "<iframe src=x>"
    doc["unknown"], doc["missing"] = 1, "<marquee>m</marquee>"
    g = doc["groups"][0]
    g["wait_reason"] = "<script>alert(0)</script>"
    long_name = "<img src=x onerror=alert(1)>" + "A" * 200
    g["frames"] = [
        {"pc": "0x1000", "function": long_name, "offset": 1, "file": "</script><script>alert(2)</script>",
         "line": 3},
        {"pc": "0x2000", "function": "q\"uote'd a&b <x-evil>", "offset": 1, "file": "f\"<img src=y>.c", "line": 4},
    ]
    g["created_by"] = {"pc": "0x3000", "function": "<img src=z onerror=alert(3)>", "file": "<x-evil>.c",
                       "line": 5}
    path = write_json(tmp, "markup.json", doc)
    status, out, err = run(["html", path])
    ran_clean("html of a result whose strings are markup: runs", status, err)
    tags = {t.lower() for t in re.findall(rb"</?([A-Za-z][A-Za-z0-9-]*)", out)}
    check(tags <= PAGE_TAGS, f"html: only the page's own tags (also the truncated long name's): "
          f"{sorted(tags - PAGE_TAGS)} came from the file")
    # The page's one script is its own (report_html_script.c): exactly one
    # <script> and one </script>, its end the page's last element's.
    check(b"<img" not in out and out.count(b"<script") == 1 and out.count(b"</script") == 1
          and out.index(b"<script>(function ()") > out.index(b'<div class="group">')
          and out.rstrip().endswith(b"</script>\n</body></html>"),
          "html: no <img, <script or </script> from the file (only the page's own script)")
    check(b'q"uote' not in out and b"uote'd" not in out and b"a&b" not in out,
          "html: quotes and ampersands from the file are escaped")


# ---------------------------------------------------------------------------
def control(tmp, snap, good, result):
    """Every text view over a snapshot and a saved result whose strings
    carry ESC, BEL and newlines."""
    # The snapshot: the leaked tasks' wait reason name (the debug root),
    # the note's reason, a label key and a label value, rewritten in place.
    c = elfcore.Core(good.data)
    slots = [s for s in c.live_task_slots() if slot_u(c, s, "off_task_state") == 3]
    reason = slot_u(c, slots[0], "off_task_wait_reason")
    name_at = c.root_offset() + elfcore.ROOT["reason_names"] + 32 * reason
    payload = b"\x1b]0;pwned\x07\nFORGE <i>1</i>"
    c.data[name_at:name_at + 32] = payload.ljust(32, b"\0")
    _hdr, desc, _size = c.leakscan_note()
    at = desc + elfcore.NOTE_HEADER + c.u("I", desc + elfcore.NOTE["build_id_size"]) + \
        c.u("I", desc + elfcore.NOTE["exe_path_size"])
    size = c.u("I", desc + elfcore.NOTE["reason_size"])
    c.data[at:at + size - 1] = (b"\x1b[2J\nFORGE" * 8)[:size - 1]
    patched = set()
    for s in slots:
        for _pair, key, value in c.label_pairs(s):
            k = c.cstring(key)
            if k in (b"route", b"server"):          # the value of one, the key of the other
                addr = value if k == b"route" else key
                text = c.cstring(addr)
                off = c.file_offset(addr, len(text))
                c.data[off:off + len(text)] = (b"\x07\n" + FORGED + b"\x1b" * 8)[:len(text)]
                patched.add(k)
    hostile = write(tmp, "control-bytes.snap", c.data)
    check(patched == {b"route", b"server"}, f"the webserver's tasks have the labels to rewrite ({patched})")
    task = result["groups"][0]["tasks"][0]
    status, out, _err = run(["why", str(task), snap])
    m = re.search(rb"\n  (0x[0-9a-f]+): ", out)
    obj = m.group(1).decode() if m else "0x0"
    fn = result["groups"][0]["frames"][0]["function"]
    interactive = f"groups\ntop\nlist {fn}\ntraces\nwhy {task}\nwaiters {obj}\nbogus\x1b\n".encode()
    for view, args, stdin in (
            ("default", [hostile], None), ("--all", ["--all", hostile], None),
            ("--group-by label:route", ["--group-by", "label:route", hostile], None),
            ("traces", ["traces", hostile], None), ("traces --all", ["traces", "--all", hostile], None),
            ("top", ["top", hostile], None), ("list", ["list", fn, hostile], None),
            (f"why {task}", ["why", str(task), hostile], None), (f"waiters {obj}", ["waiters", obj, hostile], None),
            ("diff", ["diff", hostile, hostile], None), ("diff against the original", ["diff", snap, hostile], None),
            ("-i", ["-i", hostile], interactive)):
        status, out, err = run(args, stdin)
        check_safe(f"control bytes in a snapshot: {view}", status, out, err)
    status, out, err = run(["html", hostile])
    ran_clean("control bytes in a snapshot: html", status, err)
    check(b"<i>" not in out, "control bytes in a snapshot: html escapes the reason name's markup")

    # The saved result: every string the views print.
    doc = json.loads(json.dumps(result))
    evil = "\x1b]0;pwned\x07\nFORGE \x1b[31m\x7f"
    doc["reason"] = doc["file"] = evil
    doc["unknown"], doc["missing"] = 1, evil
    g = doc["groups"][0]
    g["wait_reason"] = evil
    for fr in g["frames"] + [g["created_by"]]:
        fr["function"], fr["file"], fr["dir"] = fn + evil, evil + ".c", evil
    path = write_json(tmp, "control-bytes.json", doc)
    for view, args, stdin in (
            ("default", [path], None), ("--all", ["--all", path], None),
            ("--group-by top", ["--group-by", "top", path], None),
            ("--group-by creator", ["--group-by", "creator", path], None),
            ("traces", ["traces", path], None), ("top", ["top", path], None), ("list", ["list", fn, path], None),
            ("diff", ["diff", path, path], None), ("diff against the original", ["diff", snap, path], None),
            ("-i", ["-i", path], f"groups\ntop\nlist {fn}\ntraces\n".encode())):
        status, out, err = run(args, stdin)
        check_safe(f"control bytes in a saved result: {view}", status, out, err)


if __name__ == "__main__":
    main()
