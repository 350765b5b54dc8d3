#!/usr/bin/env python3
"""The HTML report's flame graph in headless Chromium, driven as a user
would over the DevTools protocol (on a pipe: --remote-debugging-pipe):
the page loads with no console error; a real mouse click on relay's box
zooms to it (it spans the graph, a sibling hides, the screenshot changes);
typing in the search box highlights the matching boxes only and says how
many tasks they hold; "Reset zoom" restores the widths. Each group lists
its task ids.

usage: test_html_interactive.py LEAKSCAN CHAINS_PROGRAM
"""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

from checks import check, finish

leakscan, program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
chromium = shutil.which("chromium")
if not chromium:
    check(False, "chromium is installed (scripts/deps installs it)")
    finish()


class Browser:
    """Chromium with the protocol on fds 3 (commands) and 4 (replies),
    each message JSON ended by a NUL byte."""

    def __init__(self, tmp):
        cmd_r, self.cmd_w = os.pipe()
        self.resp_r, resp_w = os.pipe()

        def fds():                     # (moved up first: a pipe may already be fd 3 or 4)
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(resp_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-pipe", f"--user-data-dir={tmp}/profile", "--window-size=1300,900",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, close_fds=False)
        os.close(cmd_r)
        os.close(resp_w)
        self.buf, self.next_id, self.events, self.session = b"", 0, [], None

    def _read(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.resp_r], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self.resp_r, 1 << 20)
            if not chunk:
                raise EOFError("Chromium went away")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, timeout=30, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        for i, m in enumerate(self.events):
            if m.get("method") == method:
                return self.events.pop(i)
        while True:
            m = self._read(deadline)
            if m.get("method") == method:
                return m
            self.events.append(m)

    def js(self, expr):
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def click(self, x, y):
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self):
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])

    def close(self):
        try:
            self.session = None
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def centre(b, selector):
    return b.js(f"(function () {{ var r = document.querySelector({json.dumps(selector)})"
                ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")


def width(b, name):
    return float(b.js(f"document.querySelector('g.f[data-n=\"{name}\"] rect').getAttribute('width')"))


def shown(b, name):
    return b.js(f"getComputedStyle(document.querySelector('g.f[data-n=\"{name}\"]')).display") != "none"


with tempfile.TemporaryDirectory() as tmp:
    snap, page = os.path.join(tmp, "chains.snap"), os.path.join(tmp, "report.html")
    subprocess.run([program], stdout=subprocess.DEVNULL, timeout=120, check=True,
                   env=dict(os.environ, LEAKSCAN_AT_EXIT=snap, LRT_PROCS="2"))
    with open(page, "w") as f:
        status = subprocess.run([leakscan, "html", snap], stdout=f, timeout=120).returncode
    check(status == 0, f"leakscan html wrote the page ({status})")
    text = open(page).read()
    check("<p class=\"ids\">tasks " in text, "each group lists its task ids")

    # A stack deeper than the graph's 64 rows: the deeper frames are left
    # out, and the page says so, rather than drawn above the graph.
    doc = json.loads(subprocess.run([leakscan, "--json", snap], stdout=subprocess.PIPE, timeout=120).stdout)
    doc["groups"][0]["frames"] = [{"pc": hex(0x1000 + 16 * k), "function": f"depth_{k}", "offset": 0}
                                  for k in range(100)]
    deep = os.path.join(tmp, "deep.json")
    with open(deep, "w") as f:
        json.dump(doc, f)
    out = subprocess.run([leakscan, "html", deep], stdout=subprocess.PIPE, text=True, timeout=120).stdout
    check('y="-' not in out and "Calls deeper than 63 frames are not drawn" in out
          and 'data-n="depth_99"' in out and 'data-n="depth_36"' not in out,
          "a 100-frame stack: the outermost 63 rows are drawn, none above the graph, and the page says so")

    b = Browser(tmp)
    try:
        target = next(t for t in b.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        b.session = b.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            b.send(domain + ".enable")
        b.send("Page.navigate", url="file://" + page)
        b.wait_event("Page.loadEventFired")
        errors = [m for m in b.events
                  if m.get("method") in ("Runtime.exceptionThrown", "Runtime.consoleAPICalled")
                  or (m.get("method") == "Log.entryAdded" and m["params"]["entry"]["level"] == "error")]
        check(not errors, f"no console error or exception: {errors[:2]}")

        full = float(b.js("document.getElementById('flamegraph').getAttribute('width')"))
        before_relay, before_racer = width(b, "relay"), width(b, "racer")
        check(0 < before_relay < full and shown(b, "racer"), "relay's box is part of the width at first")
        shot_before = b.screenshot()
        b.click(*centre(b, "g.f[data-n=\"relay\"] rect"))
        check(abs(width(b, "relay") - full) < 0.5, f"a click on relay zooms it to the whole width "
              f"({before_relay:.1f} -> {width(b, 'relay'):.1f} of {full:.0f})")
        check(not shown(b, "racer"), "its sibling racer is hidden")
        check(abs(width(b, "all leaked tasks") - full) < 0.5, "its caller still spans the graph")
        check(b.js("document.getElementById('reset').disabled") is False, "Reset zoom is enabled")
        shot_after = b.screenshot()
        check(len(shot_before) > 10000 and shot_before != shot_after,
              "the screenshot after the click differs from the one before")

        b.click(*centre(b, "#reset"))
        check(abs(width(b, "relay") - before_relay) < 0.5 and abs(width(b, "racer") - before_racer) < 0.5
              and shown(b, "racer"), "Reset zoom restores every box")

        b.click(*centre(b, "#search"))
        b.send("Input.insertText", text="cycle_")
        matched = b.js("Array.prototype.map.call(document.querySelectorAll('g.f.match'), "
                       "function (g) { return g.dataset.n; })")
        check(matched == ["cycle_member"], f"the search highlights cycle_member only: {matched}")
        shown_text = b.js("document.getElementById('matched').textContent")
        check(shown_text == "Matched: 3 of 58 tasks (5.2%)", f"and says what it holds: {shown_text!r}")
        fill = b.js("getComputedStyle(document.querySelector('g.f.match rect')).fill")
        other = b.js("getComputedStyle(document.querySelector('g.f[data-n=\"relay\"] rect')).fill")
        check(fill == "rgb(224, 64, 251)" and other != fill, f"in the highlight colour ({fill}, relay {other})")
    except (TimeoutError, EOFError, RuntimeError, StopIteration) as e:
        check(False, f"driving Chromium: {e}")
    finally:
        b.close()
finish()
