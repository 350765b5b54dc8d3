"""Shared by the end-to-end tests: each check prints one line, `ok` or
`FAIL` and what it checked; finish() exits 1 if any failed."""
import sys

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


def finish():
    sys.exit(1 if failures else 0)
