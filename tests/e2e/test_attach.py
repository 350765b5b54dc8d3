#!/usr/bin/env python3
"""`leakscan attach`: a running program analysed through its snapshot
signal, through a core taken with ptrace (--core), and through gdb's
gcore, gives the same groups; what cannot be attached to is refused with a
clear message, and nothing is sent to a program that does not catch the
snapshot signal (SIGUSR2 would kill it).

usage: test_attach.py LEAKSCAN SOUNDNESS_PROGRAM
"""
import ctypes
import glob
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

from checks import check, finish

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
# gdb's gcore writes AddressSanitizer's shadow memory out whole (it ignores
# MADV_DONTDUMP there): tens of TiB. The gcore cases need a plain build.
asan = b"libasan" in subprocess.run(["ldd", program], stdout=subprocess.PIPE).stdout
use_gcore = shutil.which("gcore") and not asan
if asan:
    print("note: the program is built with AddressSanitizer: the gcore cases are left out "
          "(gcore would write its shadow memory whole); the plain build runs them")


def leakscan_run(*args):
    return subprocess.run([leakscan, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)


def summary(p):
    """(tasks, leaked, groups) of a --json run, or the error."""
    if p.returncode not in (0, 1):
        return p.stderr.strip()
    d = json.loads(p.stdout)
    return (d["tasks"], d["leaked"],
            sorted((g["count"], g["wait_reason"], tuple(f.get("function") for f in g["frames"]))
                   for g in d["groups"]))


def gcore_json(where, pid):
    """leakscan --json of a gcore core of pid written in where, or None."""
    subprocess.run(["gcore", "-o", os.path.join(where, "g"), str(pid)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300)
    g = glob.glob(os.path.join(where, "g.*"))
    return leakscan_run("--json", g[0]) if g else None


def start(tmp, *args, **env):
    proc = subprocess.Popen([program, *(args or ("wait-for-core",))], cwd=tmp, stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, LEAKSCAN_DIR=tmp, LRT_PROCS="2", **env))
    check(proc.stdout.readline().strip() == "ready", "the program reached its leaking state")
    return proc


with tempfile.TemporaryDirectory() as tmp:
    proc = start(tmp)
    pid = str(proc.pid)

    by_signal = summary(leakscan_run("attach", "--json", "-q", pid))
    check(isinstance(by_signal, tuple) and by_signal[1] == 101,
          f"attach PID: the snapshot signal's file shows the 101 leaked tasks: {by_signal}")
    check(len(glob.glob(os.path.join(tmp, f"leakscan-{pid}-*.snap"))) == 1,
          "the snapshot stays where the program wrote it (LEAKSCAN_DIR)")
    p = leakscan_run("attach", pid)
    check(p.returncode == 1 and f"process {pid} wrote" in p.stderr and "101 leaked" in p.stdout,
          f"attach says where the snapshot is and reports it: {p.stderr.strip()}")

    by_core = summary(leakscan_run("attach", "--core", "--json", "-q", pid))
    check(by_core == by_signal, f"attach --core (ptrace) gives the same groups:\n  {by_core}\n  {by_signal}")
    kept = os.path.join(tmp, "kept.core")
    p = leakscan_run("attach", "--core", "--output", kept, "-q", pid)
    check(p.returncode == 1 and os.path.isfile(kept)
          and stat.S_IMODE(os.stat(kept).st_mode) == 0o600
          and not glob.glob(kept + ".tmp-*"),
          "attach --core --output keeps the core, mode 0600, no temporary left")
    check(summary(leakscan_run("--json", "-q", kept)) == by_signal, "the kept core reads alone too")
    check(proc.poll() is None, "the program still runs after all that")

    # A program already being traced: ptrace is refused, with a reason.
    libc = ctypes.CDLL(None, use_errno=True)
    PTRACE_ATTACH, PTRACE_DETACH = 16, 17
    if libc.ptrace(PTRACE_ATTACH, proc.pid, None, None) == 0:
        os.waitpid(proc.pid, 0)
        p = leakscan_run("attach", "--core", pid)
        check(p.returncode == 2 and "not permitted" in p.stderr and len(p.stderr.splitlines()) == 1,
              f"ptrace refused (already traced) is one clear line: {p.stderr.strip()}")
        libc.ptrace(PTRACE_DETACH, proc.pid, None, None)
    else:
        check(False, f"the test could not ptrace the program itself (errno {ctypes.get_errno()})")

    # gdb's gcore cannot read around guard regions: every parked stack
    # reads as zeros, nothing could be told apart from a leak, so it is
    # refused, with the remedies.
    if use_gcore:
        subprocess.run(["gcore", "-o", os.path.join(tmp, "g"), pid], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300)
        g = glob.glob(os.path.join(tmp, "g.*"))
        check(len(g) == 1, "gcore wrote a core")
        if g:
            p = leakscan_run(g[0])
            check(p.returncode == 2 and len(p.stderr.splitlines()) == 1 and "read as zeros" in p.stderr
                  and "LRT_STACK_GUARD=page" in p.stderr and "attach --core" in p.stderr
                  and p.stdout == "",
                  f"a gcore core whose parked stacks all read as zeros: exit 2, one line naming the "
                  f"remedies, no report: exit {p.returncode}, {p.stderr.strip()}")
            os.unlink(g[0])
    proc.kill()
    proc.wait()

    # With page guards gcore reads every stack: the same groups.
    page_dir = os.path.join(tmp, "page")
    os.mkdir(page_dir)
    proc = start(page_dir, LRT_STACK_GUARD="page")
    if use_gcore:
        p = gcore_json(page_dir, proc.pid)
        check(p is not None and p.stderr == "" and summary(p) == by_signal,
              f"a gcore core (LRT_STACK_GUARD=page) gives the same groups: {p and summary(p)}")
    elif not asan:
        check(False, "gdb's gcore is missing (scripts/deps installs gdb)")
    proc.kill()
    proc.wait()

    # A program that mallocs a lot (soundness malloc-heavy: 40,000 blocks of
    # every size class, one receiver leaked behind a lost list): its
    # snapshot, a ptrace core and a gcore core (page guards) agree, and so
    # does the memory leaked tasks hold.
    heavy_dir = os.path.join(tmp, "heavy")
    os.mkdir(heavy_dir)
    proc = start(heavy_dir, "malloc-heavy", "wait", LRT_STACK_GUARD="page")

    def heavy(p):
        d = json.loads(p.stdout) if p.returncode in (0, 1) else {}
        return summary(p), d.get("retained_bytes"), d.get("roots_note")
    heavy_signal = heavy(leakscan_run("attach", "--json", "-q", str(proc.pid)))
    want = 0 if heavy_signal[2] else 1
    check(isinstance(heavy_signal[0], tuple) and heavy_signal[0][1] == want,
          f"malloc-heavy: the snapshot shows {want} leaked: {heavy_signal}")
    heavy_core = heavy(leakscan_run("attach", "--core", "--json", "-q", str(proc.pid)))
    check(heavy_core == heavy_signal, f"malloc-heavy: attach --core agrees:\n  {heavy_core}\n  {heavy_signal}")
    if use_gcore:
        p = gcore_json(heavy_dir, proc.pid)
        check(p is not None and p.stderr == "" and heavy(p) == heavy_signal,
              f"malloc-heavy: a gcore core agrees: {p and heavy(p)} {p and p.stderr.strip()}")
    proc.kill()
    proc.wait()

    # The signal trigger, sent by hand: one line on the program's stderr
    # names the file it wrote, by its absolute path.
    sig_dir = os.path.join(tmp, "by-hand")
    os.mkdir(sig_dir)
    with open(os.path.join(tmp, "by-hand.err"), "w+") as err_file:
        proc = subprocess.Popen([program, "wait-for-core"], cwd=sig_dir, stdout=subprocess.PIPE, text=True,
                                stderr=err_file, env=dict(os.environ, LRT_PROCS="2"))
        check(proc.stdout.readline().strip() == "ready", "by hand: the program reached its leaking state")
        os.kill(proc.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline and not lines:
            time.sleep(0.05)
            err_file.seek(0)
            lines = err_file.read().splitlines()
        proc.kill()
        proc.wait()
        written = glob.glob(os.path.join(sig_dir, "leakscan-*.snap"))
        check(len(lines) == 1 and len(written) == 1 and lines[0] == f"leakrt: snapshot {written[0]} written",
              f"the signal trigger writes one line naming the file it wrote: {lines} {written}")

    # Snapshot signal off: attach says to use --core, which works.
    off_dir = os.path.join(tmp, "off")
    os.mkdir(off_dir)
    proc = start(off_dir, LEAKSCAN_SIGNAL="off")
    p = leakscan_run("attach", str(proc.pid))
    check(p.returncode == 2 and "--core" in p.stderr and "off" in p.stderr,
          f"signal off: attach points to --core: {p.stderr.strip()}")
    check(summary(leakscan_run("attach", "--core", "--json", "-q", str(proc.pid))) == by_signal,
          "signal off: attach --core gives the same groups")
    proc.kill()
    proc.wait()

    # A program that dies while attach waits for its snapshot (none can
    # appear: its LEAKSCAN_DIR does not exist) and is left a zombie: attach
    # says it exited, with how, at once, not after its whole timeout.
    proc = subprocess.Popen([program, "wait-for-core"], cwd=tmp, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, LEAKSCAN_DIR=os.path.join(tmp, "missing"), LRT_PROCS="2"))
    check(proc.stdout.readline().strip() == "ready", "the program reached its leaking state")
    started = time.monotonic()
    attach = subprocess.Popen([leakscan, "attach", "--timeout", "20", str(proc.pid)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failed = proc.stderr.readline()          # the signal came: its snapshot failed
    check("snapshot" in failed and "failed" in failed, f"the program got the signal: {failed.strip()}")
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)         # not reaped: a zombie
    try:
        out, err = attach.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        attach.kill()
        out, err = attach.communicate()
    took = time.monotonic() - started
    check(attach.returncode == 2 and took < 10 and "exited" in err and "SIGTERM" in err
          and "no snapshot" not in err and len(err.splitlines()) == 1,
          f"a program that dies while attach waits: exit 2 within seconds, one line saying it "
          f"exited and how (exit {attach.returncode} after {took:.1f} s: {err.strip()})")
    p = leakscan_run("attach", str(proc.pid))
    check(p.returncode == 2 and "exited" in p.stderr and "zombie" in p.stderr
          and len(p.stderr.splitlines()) == 1,
          f"attach to a zombie: exit 2, one line saying it has exited: {p.stderr.strip()}")
    proc.wait()

# As a user without root: /proc/PID/map_files cannot be opened, so attach
# proves the target a libleakrt program through the paths its maps name
# (attach.c maps_debug_root), and the snapshot signal's file is read as
# the root run read it. Program and leakscan run as nobody.
setpriv = shutil.which("setpriv")
if os.geteuid() == 0 and setpriv:
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        nobody_dir = os.path.join(tmp, "nobody")
        os.mkdir(nobody_dir)
        os.chmod(nobody_dir, 0o777)
        # The build tree may be private to root (a clone in a mktemp
        # directory): nobody runs copies of the program, of libleakrt.so
        # when it is linked so (found first through LD_LIBRARY_PATH) and of
        # leakscan, in a directory it can read.
        copies = {}
        for path in (program, leakscan):
            copies[path] = shutil.copy2(path, os.path.join(tmp, os.path.basename(path)))
        for line in subprocess.run(["ldd", program], stdout=subprocess.PIPE, text=True).stdout.splitlines():
            if "libleakrt" in line and "=>" in line:
                lib = line.split("=>")[1].split()[0]
                shutil.copy2(lib, os.path.join(tmp, os.path.basename(lib)))
        nobody_env = dict(os.environ, LEAKSCAN_DIR=nobody_dir, LRT_PROCS="2", LD_LIBRARY_PATH=tmp)
        proc = subprocess.Popen([*as_nobody, copies[program], "wait-for-core"], cwd=nobody_dir,
                                stdout=subprocess.PIPE, text=True, env=nobody_env)
        check(proc.stdout.readline().strip() == "ready", "as nobody: the program reached its leaking state")
        p = subprocess.run([*as_nobody, copies[leakscan], "attach", "--json", "-q", str(proc.pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300, env=nobody_env)
        mapped = subprocess.run([*as_nobody, "cat", f"/proc/{proc.pid}/map_files/"
                                 + open(f"/proc/{proc.pid}/maps").readline().split()[0]],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        check(mapped != 0, "as nobody, /proc/PID/map_files cannot be opened (the fallback is what is tested)")
        check(summary(p) == by_signal, f"attach as nobody (no map_files): the same groups: {summary(p)}")
        proc.kill()
        proc.wait()
else:
    print("skip attach as nobody: needs root to switch to user nobody (setpriv)")

# Not a libleakrt program: nothing sent, the program lives on.
other = subprocess.Popen(["sleep", "60"])
p = leakscan_run("attach", str(other.pid))
check(p.returncode == 2 and "not a libleakrt program" in p.stderr and len(p.stderr.splitlines()) == 1,
      f"a program that does not catch the signal is refused: {p.stderr.strip()}")
check(other.poll() is None, "and it was not signalled (still running)")

# One that catches SIGUSR2 for its own ends (for nginx, unicorn or php-fpm
# it means re-executing itself; here a shell's trap prints): it maps no
# object that defines lrt_debug_root, so it is refused and never signalled.
trapper = subprocess.Popen(["bash", "-c", 'trap "echo got-usr2" USR2; echo ready; '
                            'for i in $(seq 600); do sleep 0.1; done'],
                           stdout=subprocess.PIPE, text=True)
check(trapper.stdout.readline().strip() == "ready", "the shell set its trap")
p = leakscan_run("attach", "--timeout", "2", str(trapper.pid))
check(p.returncode == 2 and "not a libleakrt program" in p.stderr and "lrt_debug_root" in p.stderr
      and f"attach --core {trapper.pid}" in p.stderr and len(p.stderr.splitlines()) == 1,
      f"a shell trapping SIGUSR2 is refused in one line that points to --core: {p.stderr.strip()}")
time.sleep(1)                                # the trap runs between the short sleeps
trapper.kill()
got, _ = trapper.communicate()
check("got-usr2" not in got, f"and its trap never ran: it was not signalled ({got.strip()!r})")
p = leakscan_run("attach", "--core", str(other.pid))
check(p.returncode == 2 and "not a libleakrt program" in p.stderr,
      f"attach --core of it: not a libleakrt program: {p.stderr.strip()}")
check(other.poll() is None, "and it still runs after the ptrace core")
other.kill()
other.wait()

p = leakscan_run("attach", "4194304")
check(p.returncode == 2 and "no process" in p.stderr, f"no such process: {p.stderr.strip()}")
p = leakscan_run("attach", "12abc")
check(p.returncode == 2 and "process id" in p.stderr, f"not a pid: {p.stderr.strip()}")
finish()
