#!/usr/bin/env python3
"""test_amplification.py — small inputs that used to cost a great deal
(issue 15, "Amplification: small input, huge cost"). The rule each case
holds leakscan to: an input of size S costs O(S log S) time and O(S)
memory at most, and nothing a file *claims* sizes an allocation or a loop.

Each case is one leakscan run, bounded: a wall time of 20 s (every case
took 15-70 s, or gigabytes, before its fix; each runs well under a second
or two after it) and memory — RLIMIT_AS of 1 GiB in a plain build (a case
that asked for more failed, or was killed, before its fix); in a sanitize
build, whose shadow memory rules out an address-space limit, ASan's own
hard_rss_limit_mb. The outcome is as in test_bad_inputs.py: read (exit 0
or 1, every stderr line a warning about the file, the expected one
present) or refused (exit 2, one line `leakscan: FILE: problem`).

  snapshots (a snapshot of demo, rewritten with elfcore.py):
    span-npages-2^30        a span of 2^30 pages in a 2^44-byte arena, 2^43
                            of it in use: the loader's flat page index took
                            4 bytes per claimed page (4.2 GB, 15 s)
    arena-used-2^62         2^62 bytes of arena in use: the index asked
                            the allocator for 2^51 bytes (refused, "out of
                            memory")
    stacks-share-a-segment  16,384 runnable task slots whose stacks all
                            cover one 12.6 MB segment: each byte was scanned
                            once per task (67 s)
    why-65536-waits         `why` of a task waiting on 65,536 addresses
                            (the list in an internal segment): the whole
                            file was rescanned per address (72 s)
    labels-65536-sets       65,536 task slots, each with its own 64-pair
                            label set, every key and value one 256-byte
                            string: read and copied 8 million times
                            (27 s, 2.3 GB)
  saved results (--json documents written here):
    json-3M-task-ids        3 million task ids in 6 MB (1.7 GB; 4 million in
                            8 MB took 2.3 GB)
    json-100000-groups      100,000 one-task groups, each its own function:
                            the default view (51 s), top (19 s), --pprof
                            (25 s), html (40 s), list . (94 s), diff of
                            50,000 groups (25 s)
    json-300000-frames      html of one group of 300,000 frames: a crash
                            (the flame graph recursed per frame)
    json-300000-colliding-pcs  one-frame groups whose PCs differ only above
                            bit 32, which an unkeyed hash put in one run;
                            `list .` of their 300,000 lines of one function
    json-source-is-*        a frame whose source file is /dev/zero (list and
                            html read it for its line 2^31 - 1, forever) or
                            a FIFO (they waited for a writer)
  rule files and history:
    suppressions /dev/zero  grew without bound (3 GB in 15 s); a directory
                            was silently no rules; a 5 KiB line; 129
                            patterns (at most 128 globs or regexes: each is
                            tried on every distinct function name)
    rules-1MiB              55,000 rules over 20,000 groups of 16 frames:
                            every rule was matched against every frame of
                            every task (hours)
    ~/.leakscan_history     pointing at /dev/zero: libedit read it into a
                            2.2 GB history (`-i` on a terminal, a pty here)

usage: test_amplification.py LEAKSCAN DEMO_PROGRAM [--only SUBSTRING]
"""
import json
import os
import pty
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import elfcore  # noqa: E402
from outcome import ERROR, LOADS, arguments, judge, write  # noqa: E402

TIMEOUT = 20
MEMORY = 1 << 30                     # RLIMIT_AS, plain builds
RSS_MB = 1536                        # hard_rss_limit_mb, sanitize builds
failures = []
ran = 0


def limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def environment(extra=None):
    env = dict(os.environ, **(extra or {}))
    if sanitized:
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                     f"hard_rss_limit_mb={RSS_MB}"]))
    return env


def outcome(name, path, kind, expect, status, err, seconds):
    """Checks one run's status and stderr against kind/expect."""
    global ran
    ran += 1
    lines = err.splitlines()
    why = f"no answer in {TIMEOUT} s" if status is None else judge(path, kind, expect, status, err)
    if why:
        failures.append(name)
        print(f"FAIL {name}: {why} ({seconds:.1f} s)\n     {err.strip()[:600]}")
    else:
        print(f"ok   {name}: exit {status} in {seconds:.1f} s: {lines[0][:120] if lines else '(no message)'}")


def run(argv, env=None):
    """(exit status or None on timeout, stderr, seconds) of one leakscan
    run within the limits."""
    start = time.monotonic()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=TIMEOUT, env=environment(env), preexec_fn=None if sanitized else limits)
        status, text = p.returncode, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        status, text = None, ""
    return status, text, time.monotonic() - start


def check(name, path, kind, expect, args=(), env=None):
    """Runs `leakscan ARGS PATH` within the limits."""
    status, err, seconds = run([leakscan, *args, path], env)
    outcome(name, path, kind, expect, status, err, seconds)


def high_water_mib(pid):
    """The peak resident memory of process pid so far (VmHWM), in MiB;
    0 if it cannot be read. (Not the rusage of the child: a child forked
    from this test counts the test's own memory until it execs.)"""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def check_tty(name, path, home, rss_mb):
    """`leakscan -i PATH` on a terminal (a pty) with HOME=home: it must
    show its prompt and exit on `quit`, within the time limit, and its
    peak memory at the prompt (the history is read before it) must be at
    most rss_mb."""
    global ran
    ran += 1
    start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        if not sanitized:
            limits()
        os.execve(leakscan, [leakscan, "-i", path], environment({"HOME": home}))
    out, sent, status, rss = b"", False, None, 0
    while time.monotonic() < start + TIMEOUT and status is None:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                pass
        if not sent and b"(leakscan)" in out:
            rss = high_water_mib(pid)
            os.write(fd, b"quit\n")
            sent = True
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(st)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(fd)
    seconds = time.monotonic() - start
    text = out.decode("utf-8", "replace").replace("\r", "")
    if status is None:
        why = f"no answer in {TIMEOUT} s"
    elif "Sanitizer" in text or "runtime error:" in text or status in (98, 99):
        why = "a sanitizer report (or its memory limit)"
    elif not sent:
        why = f"exit {status} before its prompt"
    elif status not in (0, 1):
        why = f"exit {status}, want 0 or 1"
    elif rss > rss_mb:
        why = f"{rss} MiB of memory, want at most {rss_mb}"
    else:
        why = None
    if why:
        failures.append(name)
        print(f"FAIL {name}: {why} ({seconds:.1f} s, {rss} MiB)\n     {text.strip()[-600:]}")
    else:
        said = [l for l in text.splitlines() if l.startswith("leakscan: ")]
        print(f"ok   {name}: exit {status} in {seconds:.1f} s, {rss} MiB: {said[0] if said else '(no message)'}")


# -- snapshots ----------------------------------------------------------------
def slot_field(c, slot_at, field, fmt, value):
    """Writes a task field of the slot whose bytes start at slot_at (a
    bytearray offset)."""
    struct.pack_into("<" + fmt, c.data, slot_at + c.root(field, "I"), value)


def replace_segment(c, index, data, memsz=None):
    """A new core with segment `index`'s data (and memsz) replaced."""
    segs = []
    for i, t, fl, va, d, ms, al in c.segments():
        if i == index:
            d, ms = data, memsz if memsz is not None else len(data)
        segs.append((i, t, fl, va, d, ms, al))
    return c.rebuild(segs)


def with_segment(c, vaddr, data, memsz=None):
    """A new core with one more PT_LOAD (read-write) at vaddr."""
    segs = c.segments() + [(None, elfcore.PT_LOAD, 6, vaddr, data, memsz or len(data), 4096)]
    return c.rebuild(segs)


def table_segment(c):
    """The index of the segment holding the task table, its vaddr."""
    tasks = c.root("tasks")
    seg = next(p for p in c.loads() if p[4] <= tasks < p[4] + p[6])
    return seg[0], seg[4]


def new_tasks(c, n, make):
    """A table of n slots (the first live slot, made runnable with no
    waits, ancestry, labels or main flag), each then passed to
    make(i, table, offset) for its stack and the rest."""
    stride = c.root("task_stride", "I")
    first = c.live_task_slots()[0]
    at = c.file_offset(first, stride)
    slot = bytearray(c.data[at:at + stride])
    off = lambda f: c.root(f, "I")  # noqa: E731
    struct.pack_into("<I", slot, off("off_task_state"), 1)
    struct.pack_into("<I", slot, off("off_task_wait_count"), 0)
    struct.pack_into("<B", slot, off("off_task_is_main"), 0)
    if c.root("ancestry_max", "I"):
        struct.pack_into("<I", slot, off("off_task_ancestry_count"), 0)
    if c.root("off_task_labels", "I"):
        struct.pack_into("<Q", slot, off("off_task_labels"), 0)
    table = bytearray(bytes(slot) * n)
    sp_at = off("off_task_regs") + c.u("H", c.root_offset() + elfcore.ROOT["regs"] + 2)
    for i in range(n):
        o = i * stride
        struct.pack_into("<Q", table, o + off("off_task_id"), i + 1)
        make(i, table, o, sp_at)
    return table


def snapshot_cases(tmp, good):
    cases = []
    stride = good.root("task_stride", "I")
    off = lambda f: good.root(f, "I")  # noqa: E731

    def mutated(fn):
        c = elfcore.Core(good.data)
        out = fn(c)
        return bytes((out or c).data)

    # A span of 2^30 pages (npages is 32 bits) in an arena made big enough
    # for it, 2^43 bytes of it in use (the arena ends where the runtime's
    # internal regions begin).
    spans, sstride = good.root("spans"), good.root("span_stride", "I")

    def huge_span(c, used):
        c.set_root("arena_size", max(used, 2**44))
        c.set_root("arena_used", used)
        c.put("I", c.file_offset(spans + sstride + c.root("off_span_npages", "I"), 4), 2**30)
    cases.append(("span-npages-2^30", write(tmp, "span-npages", mutated(lambda c: huge_span(c, 2**43))),
                  LOADS, None, ()))
    cases.append(("arena-used-2^62", write(tmp, "arena-used", mutated(lambda c: huge_span(c, 2**62))),
                  LOADS, None, ()))

    # 16,384 runnable slots whose stacks are the whole task table (12.6 MB).
    n = 16384
    index, base = table_segment(good)

    def shared_stack(i, table, o, sp_at):
        struct.pack_into("<Q", table, o + off("off_task_stack_lo"), base)
        struct.pack_into("<Q", table, o + off("off_task_stack_hi"), base + n * stride)
        struct.pack_into("<Q", table, o + sp_at, base)

    def stacks(c):
        c = replace_segment(c, index, bytes(new_tasks(c, n, shared_stack)))
        c.set_root("task_count", n)
        return c
    cases.append(("stacks-share-a-segment", write(tmp, "stacks", mutated(stacks)), LOADS, "overlap", ()))

    # A leaked task waiting on its object 65,536 times (the most a task may
    # wait on), the list after the task table, in its internal segment.
    slots = good.live_task_slots()
    waiting = [s for s in slots if good.u("I", good.file_offset(s + off("off_task_state"), 4)) == 3]
    w0 = waiting[0]
    wid = good.u("Q", good.file_offset(w0 + off("off_task_id"), 8))
    addrs = good.u("Q", good.file_offset(w0 + off("off_task_wait_addrs"), 8))
    obj = good.u("Q", good.file_offset(addrs, 8))
    seg = next(p for p in good.loads() if p[0] == index)

    def many_waits(c):
        c.put("Q", c.file_offset(w0 + off("off_task_wait_addrs"), 8), base + seg[5])
        c.put("I", c.file_offset(w0 + off("off_task_wait_count"), 4), 65536)
        old = bytes(c.data[seg[3]:seg[3] + seg[5]])
        return replace_segment(c, index, old + struct.pack("<Q", obj) * 65536)
    cases.append(("why-65536-waits", write(tmp, "why-waits", mutated(many_waits)), LOADS, None,
                  ("why", str(wid))))

    # 65,536 slots, each with its own label set of 64 pairs: set i at
    # L + 16 i, so the sets overlap and share their pairs; every key and
    # value is one string of 256 bytes, at an address whose high 32 bits
    # are 64 (a pair's key pointer is the next set's count, 64). Stacks:
    # 4 KiB each in a segment's zero tail.
    n = 65536
    if off("off_task_labels") and off("off_labels_count") == 4 and off("off_labels_pairs") == 16:
        string_at = 64 << 32
        stacks_at = 0x100000000000
        labels_at = base + n * stride

        def labelled(i, table, o, sp_at):
            lo = stacks_at + i * 4096
            struct.pack_into("<Q", table, o + off("off_task_stack_lo"), lo)
            struct.pack_into("<Q", table, o + off("off_task_stack_hi"), lo + 4096)
            struct.pack_into("<Q", table, o + sp_at, lo + 4096 - 64)
            struct.pack_into("<Q", table, o + off("off_task_labels"), labels_at + 16 * i)

        def labels(c):
            table = new_tasks(c, n, labelled)
            sets = struct.pack("<QQ", string_at, string_at) * (n + 65)
            c = replace_segment(c, index, bytes(table) + sets)
            c.set_root("task_count", n)
            c = with_segment(c, string_at, b"L" * 256 + b"\0")
            return with_segment(c, stacks_at, b"", n * 4096)
        cases.append(("labels-65536-sets", write(tmp, "labels", mutated(labels)), LOADS, None, ()))
    # 100,000 threads (NT_PRSTATUS notes) and 8,192 workers, each running
    # one of 16,384 tasks: every thread was looked up among all workers
    # (is it the runtime's?), and every running task's thread among all
    # threads.
    n, nthreads, nworkers = 16384, 100000, 8192
    wstride = 16

    def running(i, table, o, sp_at):
        lo = 0x100000000000 + i * 4096
        struct.pack_into("<I", table, o + off("off_task_state"), 2)
        struct.pack_into("<Q", table, o + off("off_task_stack_lo"), lo)
        struct.pack_into("<Q", table, o + off("off_task_stack_hi"), lo + 4096)

    def threads(c):
        table = new_tasks(c, n, running)
        workers = b"".join(struct.pack("<IIQ", 1000 + w, 0, base + w * stride) for w in range(nworkers))
        c = replace_segment(c, index, bytes(table) + workers)
        c.set_root("task_count", n)
        c.set_root("workers", base + n * stride)
        c.set_root("worker_count", nworkers, "I")
        c.set_root("worker_stride", wstride, "I")
        c.put("I", c.root_offset() + 1480, 0)           # off_worker_tid
        c.put("I", c.root_offset() + 1484, 8)           # off_worker_current
        c = with_segment(c, 0x100000000000, b"", n * 4096)
        note = bytearray(356)
        struct.pack_into("<III", note, 0, 5, 336, elfcore.NT_PRSTATUS)
        note[12:17] = b"CORE\0"
        notes = bytearray()
        for t in range(nthreads):
            struct.pack_into("<i", note, 20 + 32, 200000 + t)   # pr_pid: no worker's
            notes += note
        segs = c.segments() + [(None, elfcore.PT_NOTE, 4, 0, bytes(notes), 0, 4)]
        return c.rebuild(segs)
    cases.append(("threads-100000-workers-8192", write(tmp, "threads", mutated(threads)), LOADS, None, ()))
    return cases


# -- saved results ------------------------------------------------------------
def json_cases(tmp):
    cases = []
    ids = b"[" + b"1," * (3 << 20) + b"1]"
    doc = (b'{"groups": [{"count": 1, "wait_reason": "chan send", "leaked": true, "tasks": ' + ids +
           b', "frames": [{"pc": "0x1000", "function": "f", "file": "f.c", "line": 1}]}]}')
    path = write(tmp, "json-3M-task-ids", doc)
    cases.append(("json-3M-task-ids", path, LOADS, None, ()))

    def groups(n):
        return {"file": "x", "pid": 1, "tasks": n, "leaked": n, "groups": [
            {"count": 1, "wait_reason": "chan send", "leaked": True, "verdict": "leaked", "tasks": [i + 1],
             "frames": [{"pc": hex(0x1000 + 16 * i), "function": f"fn_{i}", "offset": 0,
                         "file": f"src/file_{i}.c", "line": i + 1}],
             "created_by": {"pc": hex(0x900000 + 16 * i), "function": f"creator_{i}", "offset": 0,
                            "file": f"src/c_{i}.c", "line": 1}} for i in range(n)]}
    many = write(tmp, "json-100000-groups", json.dumps(groups(100000)).encode())
    cases.append(("json-100000-groups", many, LOADS, None, ()))
    cases.append(("json-100000-groups (top)", many, LOADS, None, ("top",)))
    cases.append(("json-100000-groups (--pprof)", many, LOADS, None,
                  ("--pprof", os.path.join(tmp, "out.pb.gz"))))
    cases.append(("json-100000-groups (html)", many, LOADS, None, ("html",)))
    cases.append(("json-100000-groups (list .)", many, LOADS, None, ("list", ".")))
    half = write(tmp, "json-50000-groups", json.dumps(groups(50000)).encode())
    cases.append(("json-50000-groups (diff)", half, LOADS, None, ("diff", half)))
    # One group of 300,000 frames: html's flame graph recursed once per
    # frame (a crash: the C stack overflowed).
    deep = {"groups": [{"count": 1, "wait_reason": "chan send", "leaked": True, "tasks": [1],
                        "frames": [{"pc": hex(0x1000 + 16 * i), "function": f"f{i}"} for i in range(300000)]}]}
    cases.append(("json-300000-frames (html)", write(tmp, "json-deep", json.dumps(deep).encode()), LOADS, None,
                  ("html",)))
    # 300,000 one-frame groups whose PCs differ only above bit 32: the
    # groups' hash table (unkeyed) put them all in one run. Each frame on
    # its own line of one function: list searched its lines for each.
    collide = b'{"groups": [' + b", ".join(
        b'{"tasks": [%d], "frames": [{"pc": "0x%x", "function": "f", "file": "nowhere/f.c", "line": %d}]}'
        % (i + 1, 0x1000 + (i << 32), i + 1) for i in range(300000)) + b"]}"
    collide = write(tmp, "json-collide", collide)
    cases.append(("json-300000-colliding-pcs", collide, LOADS, None, ()))
    cases.append(("json-300000-lines (list .)", collide, LOADS, None, ("list", ".")))
    # Source files a result names: /dev/zero is one endless line, and
    # opening a FIFO waits for a writer. Only regular files are read.
    fifo = os.path.join(tmp, "source-fifo")
    os.mkfifo(fifo)
    for name, source in (("dev-zero", "/dev/zero"), ("fifo", fifo)):
        doc = {"groups": [{"count": 1, "wait_reason": "chan send", "leaked": True, "tasks": [1],
                           "frames": [{"pc": "0x1000", "function": "f", "file": source,
                                       "line": 2**31 - 1}]}]}
        path = write(tmp, f"json-source-{name}", json.dumps(doc).encode())
        cases.append((f"json-source-is-{name} (list .)", path, LOADS, None, ("list", ".")))
        cases.append((f"json-source-is-{name} (html)", path, LOADS, None, ("html",)))
    return cases


def rules_cases(tmp):
    """A rule file of 1 MiB over a result of 20,000 one-task groups of 16
    frames, every function its own: each rule was matched against every
    frame of every task (55,000 x 320,000, hours). Now a plain name is a
    hash lookup, a function is judged once, and at most 128 patterns are
    tried on each distinct name."""
    doc = {"groups": [{"count": 1, "wait_reason": "chan send", "leaked": True, "tasks": [i + 1],
                       "frames": [{"pc": hex(0x1000 + 16 * (16 * i + k)), "function": f"fn_{i}_{k}"}
                                  for k in range(16)]} for i in range(20000)]}
    result = write(tmp, "json-20000-groups-16-frames", json.dumps(doc).encode())
    lines, size, k = [], 0, 0
    for k in range(128):
        lines.append(b"ignore-any nomatch_%d_*\n" % k)
    while size < (1 << 20) - 64:
        line = b"ignore-any name_%d\n" % k
        lines.append(line)
        size += len(line)
        k += 1
    rules = write(tmp, "rules-1MiB.supp", b"".join(lines)[:(1 << 20)].rsplit(b"\n", 1)[0] + b"\n")
    return [("rules-1MiB (55,000 rules, 128 patterns) over 320,000 frames", result, LOADS, None,
             ("--suppressions", rules))]


def main():
    global leakscan, sanitized
    leakscan, demo, only = arguments(__doc__)
    with open(leakscan, "rb") as f:
        sanitized = b"__asan_init" in f.read()
    with tempfile.TemporaryDirectory(dir=os.environ.get("AMP_TMP")) as tmp:
        snap = os.path.join(tmp, "demo.snap")
        subprocess.run([demo], stdout=subprocess.DEVNULL, check=True, timeout=120,
                       env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))
        good = elfcore.Core(open(snap, "rb").read())
        good.check_layout()
        cases = []

        def want(name):
            return not only or only in name
        if any(want(n) for n in ("span-npages-2^30", "arena-used-2^62", "stacks-share-a-segment",
                                 "why-65536-waits", "labels-65536-sets", "threads-100000-workers-8192")):
            cases += [c for c in snapshot_cases(tmp, good) if want(c[0])]
        if not only or "json" in only:
            cases += [c for c in json_cases(tmp) if want(c[0])]
        # Rule files: regular files of lines of at most 4 KiB.
        os.mkdir(os.path.join(tmp, "rules-dir"))
        long_line = write(tmp, "long-line.supp", b"ignore-top " + b"f" * 5000 + b"\n")
        too_many = write(tmp, "patterns.supp", b"".join(b"ignore-any p%d_*\n" % k for k in range(129)))
        for name, rules, expect in (("suppressions /dev/zero", "/dev/zero", "not a regular file"),
                                    ("suppressions a directory", os.path.join(tmp, "rules-dir"),
                                     "not a regular file"),
                                    ("suppressions a 5 KiB line", long_line, "longer than"),
                                    ("suppressions 129 patterns", too_many, "more than 128 rules")):
            if want(name):
                cases.append((name, snap, ERROR, expect, ("--suppressions", rules)))
        if want("rules-1MiB"):
            cases += rules_cases(tmp)
        for name, path, kind, expect, extra in cases:
            if name.startswith("suppressions"):
                # The error names the rule file, not the snapshot.
                check_rules(name, path, expect, extra)
            else:
                check(name, path, kind, expect, extra)
        if want("history"):
            home = os.path.join(tmp, "home")
            os.mkdir(home)
            os.symlink("/dev/zero", os.path.join(home, ".leakscan_history"))
            check_tty("history is /dev/zero (-i on a terminal)", snap, home, 256)
    print(f"{ran - len(failures)} of {ran} amplification cases bounded")
    if failures:
        print("failed: " + ", ".join(failures))
        sys.exit(1)
    if ran == 0:
        sys.exit("no case ran")


def check_rules(name, snap, expect, extra):
    """A refused rule file: exit 2, one line naming the rule file."""
    status, err, seconds = run([leakscan, *extra, snap])
    outcome(name, extra[1], ERROR, expect, status, err, seconds)


if __name__ == "__main__":
    main()
