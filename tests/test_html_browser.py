"""The HTML incident report in a real browser: headless Chromium, driven over the DevTools protocol
on a loopback port (websocket-client).

The report of the bundled sample is opened from a file; the test collects every console message,
exception and log entry the page causes (a blocked fetch, a CSP violation, a script error all land
there), measures the chart element, reads the page's text and takes screenshots. No timing: every
wait is for an event of the browser, with a generous deadline only so a broken browser cannot hang
the run. `.ci/run` installs Chromium from Debian packages when it is missing; without it the test
is skipped with that reason.

MOSAIC_DIAG_WRITE_SCREENSHOT=1 also writes the screenshot to docs/incident-report.png (the README's).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "logs" / "render-sample.log"
DOCS_SHOT = ROOT / "docs" / "incident-report.png"
WIDTH, HEIGHT = 1200, 1500

websocket = pytest.importorskip("websocket", reason="websocket-client is a dev dependency (pip install -e '.[dev]')")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (.ci/run installs it: apt-get install chromium)")


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixels) of an 8-bit RGB/RGBA non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, head = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        pos += 12 + length
    assert head is not None
    width, height, depth, colour, _, _, interlace = head
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    out = bytearray()
    prev = bytearray(stride)
    i = 0
    for _ in range(height):
        kind = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return width, height, channels, bytes(out)


class DevTools:
    """A page of a headless Chromium, over the DevTools protocol (one websocket, loopback)."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        mine = self.next_id
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mine:
                assert "error" not in msg, msg
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method: str) -> dict:
        for i, ev in enumerate(self.events):
            if ev["method"] == method:
                return self.events.pop(i)
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == method:
                return msg
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str) -> object:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in res, res
        return res["result"].get("value")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path):
    exe = chromium()
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--hide-scrollbars", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 60  # only so a broken browser cannot hang the run
    while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Chromium did not start (exit {proc.returncode})")
        time.sleep(0.05)
    port = int(port_file.read_text().split("\n")[0])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:  # noqa: S310 - loopback
        pages = [t for t in json.load(r) if t.get("type") == "page"]
    tools = DevTools(pages[0]["webSocketDebuggerUrl"])
    try:
        yield tools
    finally:
        tools.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_sample_incident_report_renders_in_chromium(browser, tmp_path):
    report = tmp_path / "incident.html"
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(SAMPLE.relative_to(ROOT)), "--format",
                        "html", "-o", str(report)], capture_output=True, timeout=120, cwd=ROOT)
    assert r.returncode == 1, r.stderr
    labels = json.loads(subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(SAMPLE), "--format",
                                        "json"], capture_output=True, timeout=120).stdout)["summary"]["labels"]
    for domain in ("Runtime", "Log", "Page"):
        browser.call(f"{domain}.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", url=report.as_uri())
    browser.wait_for("Page.loadEventFired")

    problems = [ev for ev in browser.events
                if ev["method"] == "Runtime.exceptionThrown"
                or (ev["method"] == "Runtime.consoleAPICalled" and ev["params"]["type"] in ("error", "warning"))
                or (ev["method"] == "Log.entryAdded" and ev["params"]["entry"]["level"] in ("error", "warning"))]
    assert problems == []

    box = browser.evaluate("(() => { const r = document.getElementById('timeline').getBoundingClientRect();"
                           " return {x: r.x, y: r.y, w: r.width, h: r.height}; })()")
    assert isinstance(box, dict) and box["w"] > 600 and box["h"] > 150  # the chart is laid out, not collapsed
    text = browser.evaluate("document.body.innerText")
    assert isinstance(text, str)
    for label in labels:
        assert label in text, label
    assert "Incident report: examples/logs/render-sample.log" in text
    assert "Anomalous rates" in text and "deploy 14:30" in text
    fetched = browser.evaluate("performance.getEntriesByType('resource').length")
    assert fetched == 0  # nothing loaded beside the file itself

    # the chart's pixels: drawn (many colours), not a blank box
    shot = browser.call("Page.captureScreenshot", format="png",
                        clip={"x": box["x"], "y": box["y"], "width": box["w"], "height": box["h"], "scale": 1})
    w, h, ch, pixels = decode_png(base64.b64decode(shot["data"]))
    assert w >= 600 and h >= 150
    colours = {pixels[i:i + 3] for i in range(0, len(pixels), ch * 7)}
    non_white = sum(1 for i in range(0, len(pixels), ch) if pixels[i:i + 3] != b"\xff\xff\xff")
    assert len(colours) > 8 and non_white > w * h // 50

    page = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    pw, ph, _, _ = decode_png(page)
    assert (pw, ph) == (WIDTH, HEIGHT)
    (tmp_path / "incident-report.png").write_bytes(page)
    if os.environ.get("MOSAIC_DIAG_WRITE_SCREENSHOT"):
        DOCS_SHOT.write_bytes(page)


def test_the_report_on_a_phone_keeps_its_page_width_and_a_readable_chart(browser, tmp_path):
    """At a phone's 390 px the tables ran off the page's right edge (the page itself scrolled sideways, the
    anomalies' rates and the groups' first/last seen, timeline and playbook out of sight) and the chart shrank to
    the screen, its axis text 3 px high. Now each table scrolls inside its own box and the chart keeps a
    readable size in a box of its own; the page is as wide as the screen."""
    phone = 390
    report = tmp_path / "incident.html"
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(SAMPLE.relative_to(ROOT)), "--format",
                        "html", "-o", str(report)], capture_output=True, timeout=120, cwd=ROOT)
    assert r.returncode == 1, r.stderr
    browser.call("Page.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=phone, height=800, deviceScaleFactor=1, mobile=True)
    browser.call("Page.navigate", url=report.as_uri())
    browser.wait_for("Page.loadEventFired")
    page = browser.evaluate("document.documentElement.scrollWidth")
    assert page == phone, page
    sizes = browser.evaluate("Array.from(document.querySelectorAll('#timeline text')).map("
                             "t => t.getBoundingClientRect().height)")
    assert isinstance(sizes, list) and sizes and min(sizes) >= 9, sizes  # 11 px text drawn at 9 px or more
    tables = browser.evaluate("Array.from(document.querySelectorAll('table')).map(t => {"
                              " const r = t.getBoundingClientRect(); return [r.right, t.scrollWidth > t.clientWidth];"
                              " })")
    assert isinstance(tables, list) and len(tables) >= 2
    assert all(right <= phone for right, _ in tables), tables  # within the page ...
    assert any(scrolls for _, scrolls in tables), tables  # ... and the wide ones scroll in their box
    last = browser.evaluate("(() => { const t = document.querySelectorAll('table')[1]; t.scrollLeft = 10000;"
                            " const c = t.querySelector('tr td:last-child').getBoundingClientRect();"
                            " return c.right; })()")
    assert isinstance(last, (int, float)) and last <= phone  # its last column can be scrolled into view


def test_a_plan_step_has_one_marker_and_wraps_under_its_text(browser, tmp_path):
    """Each plan step showed two markers, the list's bullet before the step's own arrow (`• → alert_ops`,
    `• · advise skipped`): the arrow or dot is the only marker, and a step that wraps goes on under its text."""
    report = tmp_path / "incident.html"
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(SAMPLE.relative_to(ROOT)), "--format",
                        "html", "-o", str(report)], capture_output=True, timeout=120, cwd=ROOT)
    assert r.returncode == 1, r.stderr
    browser.call("Page.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", url=report.as_uri())
    browser.wait_for("Page.loadEventFired")
    steps = browser.evaluate("Array.from(document.querySelectorAll('.group li')).map(li => {"
                             " const s = getComputedStyle(li);"
                             " return [li.textContent.slice(0, 1), s.listStyleType, parseFloat(s.textIndent)]; })")
    assert isinstance(steps, list) and len(steps) > 20
    assert {marker for marker, *_ in steps} == {"→", "·"}
    assert {kind for _, kind, *_ in steps} == {"none"}, steps[:3]
    assert all(indent < 0 for *_, indent in steps), steps[:3]  # (the first line out by the marker's width)
