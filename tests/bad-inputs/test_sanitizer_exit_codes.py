#!/usr/bin/env python3
"""test_sanitizer_exit_codes.py — under the test suite's environment (the
default test setup of the top meson.build), a sanitizer report exits with
a code of its own, never 1, which leakscan and `leakscan run` use for
"leaks found": a test expecting 1 must not pass on a sanitizer report.
Each of sanitizer_probe's deliberate errors is run once: UBSan exits 98
(and prints its stack), ASan and LeakSanitizer 99.

usage: test_sanitizer_exit_codes.py SANITIZER_PROBE
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from checks import check, finish  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    probe = sys.argv[1]
    for kind, code, report in (("ubsan", 98, "runtime error:"), ("asan", 99, "AddressSanitizer"),
                               ("lsan", 99, "LeakSanitizer")):
        p = subprocess.run([probe, kind], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        err = p.stderr.decode(errors="replace")
        check(p.returncode == code and report in err,
              f"{kind}: a report exits {code} (exit {p.returncode}; {report!r} "
              f"{'in' if report in err else 'not in'} stderr)")
    check("halt_on_error=1" in os.environ.get("UBSAN_OPTIONS", "") and
          "print_stacktrace=1" in os.environ.get("UBSAN_OPTIONS", ""),
          f"UBSan halts and prints its stack (UBSAN_OPTIONS={os.environ.get('UBSAN_OPTIONS')!r})")
    finish()


if __name__ == "__main__":
    main()
