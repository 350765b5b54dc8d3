#!/usr/bin/env bash
# `leakscan html` renders in headless Chromium: the page loads with no
# console error, its DOM has the summary, the flame graph and every group,
# and a screenshot of it is written (it shows the flame graph).
#   usage: test-html.sh LEAKSCAN CHAINS_PROGRAM
set -euo pipefail
leakscan=$1 program=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
chromium=$(command -v chromium || true)
[ -n "$chromium" ] || fail "chromium is not installed (scripts/deps installs it)"

LEAKSCAN_AT_EXIT="$scratch/chains.snap" LRT_PROCS=2 "$program" >/dev/null
status=0
"$leakscan" html "$scratch/chains.snap" > "$scratch/report.html" || status=$?
[ $status = 0 ] || fail "leakscan html exited $status, expected 0 (it wrote the page; leaks or not)"
grep -q '<svg id="flamegraph"' "$scratch/report.html" || fail "no flame graph in the page"
if grep -Eq '(src|href)="https?:' "$scratch/report.html"; then
    fail "the page loads something from the network"
fi

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$scratch/profile" --window-size=1300,900)
dom=$(timeout 120 "$chromium" "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom \
      "file://$scratch/report.html" 2>"$scratch/console.log") || fail "chromium could not load the page"
if grep -E 'CONSOLE|Uncaught' "$scratch/console.log"; then
    fail "the page logged to the console"
fi
grep -q '58 leaked' <<<"$dom" || fail "the summary is missing from the rendered page"
[ "$(grep -o 'class="group"' <<<"$dom" | wc -l)" -eq 4 ] || fail "the page does not show the 4 groups"
grep -q '<title>relay (50 tasks)</title>' <<<"$dom" || fail "the flame graph has no box for relay's 50 tasks"
grep -q 'LEAK(chan receive, count=50)' <<<"$dom" || fail "the source lines are missing"

timeout 120 "$chromium" "${flags[@]}" --screenshot="$scratch/report.png" \
    "file://$scratch/report.html" >/dev/null 2>&1 || fail "chromium could not take a screenshot"
size=$(stat -c %s "$scratch/report.png")
[ "$size" -gt 20000 ] || fail "the screenshot is suspiciously small ($size bytes)"
echo "html: rendered in headless Chromium, no console output, screenshot $size bytes"
