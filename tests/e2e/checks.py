"""Shared by the end-to-end tests: each check prints one line, `ok` or
`FAIL` and what it checked; finish() exits 1 if any failed. GO and
go_env() are how the tests call `go tool pprof`."""
import os
import subprocess
import sys

# Go by its absolute path, never whichever `go` PATH finds first (an old
# distribution one may come before it).
GO = "/usr/local/go/bin/go"


def go_env(tmp):
    """The environment for GO: HOME in tmp (nothing else written to the
    user's home), and the user's own Go build cache (or LEAKSCAN_GOCACHE):
    since Go 1.25 `go tool pprof` is compiled on first use, a minute or
    two on two busy cores, which a fresh cache per test paid every time,
    past the tests' timeouts. scripts/test builds it there once first."""
    cache = os.environ.get("LEAKSCAN_GOCACHE")
    if not cache:
        p = subprocess.run([GO, "env", "GOCACHE"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
        cache = p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else os.path.join(tmp, "go-cache")
    return dict(os.environ, HOME=tmp, GOCACHE=cache)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


def finish():
    sys.exit(1 if failures else 0)
