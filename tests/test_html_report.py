"""`--format html`: one self-contained file (inline CSS and SVG, no script, nothing fetched), for
triage, golden and predeploy; written atomically with -o, else to stdout; redacted.

The page is parsed with the standard library's HTML parser: what a browser would fetch or run
(script, link, img/src, url(), @import) must not be there; the charts' parts are counted."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections import Counter
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from examples.loopback import SERVE
from tests.cli_inproc import run_cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "logs" / "render-sample.log"


class Page(HTMLParser):
    """Tags (with attributes), classes of SVG elements, and the visible text of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.classes: Counter[tuple[str, str]] = Counter()
        self.text: list[str] = []
        self.style = ""
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("class"):
            self.classes[(tag, a["class"])] += 1
        if tag not in ("meta", "br", "rect", "line", "path"):
            self._in.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_endtag(self, tag):
        while self._in:
            if self._in.pop() == tag:
                break

    def handle_data(self, data):
        if "style" in self._in:
            self.style += data
        elif "title" not in self._in or "svg" in self._in:
            self.text.append(data)

    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


def assert_self_contained(page: Page, raw: str) -> None:
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base"}
    for tag, attrs in page.tags:
        for key in attrs:
            assert not key.startswith("on"), (tag, key)  # no event handlers
            assert key not in ("src", "href", "xlink:href", "srcset", "action"), (tag, key)
    assert "url(" not in page.style and "@import" not in page.style and "@font-face" not in page.style
    csp = [a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    assert raw.startswith("<!doctype html>")


def mosaic(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd=cwd)  # (in this process: tests/cli_inproc.py)


def test_triage_incident_report_of_the_sample(tmp_path):
    out = tmp_path / "reports" / "incident.html"
    r = mosaic("triage", str(SAMPLE), "--format", "html", "-o", str(out))
    assert r.returncode == 1 and r.stdout == "" and r.stderr == ""
    raw = out.read_text()
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # a file to share
    page = Page(raw)
    assert_self_contained(page, raw)
    report = json.loads(mosaic("triage", str(SAMPLE), "--format", "json").stdout)
    text = page.visible()
    for label in report["summary"]["labels"]:  # every label of the incident, in the page text
        assert label in text, label
    # the timeline: one shaded window per anomaly, a dashed line per deploy, a tick per process start
    markers = Counter(m["kind"] for m in report["timeline"]["markers"])
    assert page.classes[("rect", "anomaly")] == len(report["anomalies"]) == 1  # the rate-limit burst
    assert page.classes[("line", "deploy")] == markers["deploy"] == 2
    assert page.classes[("path", "start")] == markers["start"]
    [svg] = [a for t, a in page.tags if t == "svg" and a.get("id") == "timeline"]
    assert int(svg["width"]) > 0 and int(svg["height"]) > 0
    sparks = page.classes[("svg", "spark")]
    assert sparks == len([g for g in report["groups"] if not g["candidate_new_kind"]])
    # groups with their samples and playbook plans
    for group in report["groups"]:
        assert group["playbook"] in text
    assert "post to the ops webhook" in text and "Samples and playbook plans (dry run)" in text
    # the same page on stdout without -o
    again = mosaic("triage", str(SAMPLE), "--format", "html")
    assert again.returncode == 1 and again.stdout == raw


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_unknown_groups_templates_and_redaction(tmp_path):
    log = tmp_path / "u.log"
    log.write_text("2026-11-27T10:00:00Z ERROR:api.billing:Invoice 12345 for ann@example.com could not be rendered\n"
                   "2026-11-27T10:05:00Z ERROR:api.billing:Invoice 99 for bob@example.org could not be rendered\n"
                   "2026-11-27T10:07:00Z ERROR:api.storage:connect failed for "
                   "postgresql://mosaic:hunter2secret@dpg-x-a/mosaic key sk-proj-abcdefghijklmnopqrstuvwxyz012345\n")
    r = mosaic("triage", str(log), "--format", "html")
    assert r.returncode == 1
    page = Page(r.stdout)
    assert_self_contained(page, r.stdout)
    text = page.visible()
    assert "candidate new failure kinds" in text and "Invoice <n> for <email> could not be rendered" in text
    assert "hunter2secret" not in r.stdout and "abcdefghijklmnopqrstuvwxyz012345" not in r.stdout
    assert "<script" not in r.stdout.lower()


def test_markup_in_log_text_stays_text(tmp_path):
    log = tmp_path / "x.log"
    log.write_text('2026-11-27T10:00:00Z ERROR:api.x:bad <script>alert(1)</script> "><img src=x onerror=y>\n')
    r = mosaic("triage", str(log), "--format", "html")
    page = Page(r.stdout)
    assert_self_contained(page, r.stdout)  # no script or img element came out of the log line
    assert "<script>alert(1)</script>" in page.visible()


def test_output_goes_with_html_only_and_bad_paths_are_one_line(tmp_path):
    r = mosaic("triage", str(SAMPLE), "--format", "json", "-o", str(tmp_path / "x.json"))
    assert r.returncode == 2 and "--output/-o is for --format html" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.json").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = mosaic("triage", str(SAMPLE), "--format", "html", "-o", str(blocker / "incident.html"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert str(blocker / "incident.html") in r.stderr or str(blocker) in r.stderr
    r = mosaic("labels", "--format", "html")
    assert r.returncode == 2  # only the commands with a report to share take html



def test_dash_is_stdout_for_output_and_refused_for_junit(tmp_path):
    """`-o -` and `--junit -` wrote a file named `-` in the current directory."""
    r = mosaic("triage", str(SAMPLE), "--format", "html", "-o", "-", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout.startswith("<!doctype html>"), r.stderr
    r = mosaic("predeploy", "--root", str(tmp_path), "--only", "settings", "--junit", "-", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "mosaic-diag: error: --junit takes a file name (`-` is not stdout here: stdout carries " \
                       "the report)\n"
    r = mosaic("golden", "--url", "http://127.0.0.1:9", "--junit", "-", cwd=tmp_path)
    assert r.returncode == 2 and "--junit takes a file name" in r.stderr
    assert list(tmp_path.iterdir()) == []

def test_output_replaces_a_symlink_planted_in_its_place(tmp_path):
    """-o onto a symlink (planted, or left by someone): the link is replaced by the report, the file it
    named is never written through (a shared /tmp path cannot be turned into a write elsewhere)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    out = tmp_path / "incident.html"
    out.symlink_to(victim)
    r = mosaic("triage", str(SAMPLE), "--format", "html", "-o", str(out))
    assert r.returncode == 1, r.stderr
    assert victim.read_text() == "keep me\n"
    assert not out.is_symlink() and out.read_text().startswith("<!doctype html>")


class _App(BaseHTTPRequestHandler):
    def log_message(self, *args):
        return

    def do_GET(self):
        if self.path == "/broken":
            status, body = 500, {"detail": "password=hunter2secret leaked"}
        else:
            status, body = 200, {"a": 1}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def app_url():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs=SERVE, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_golden_html(app_url, tmp_path):
    cases = tmp_path / "cases.yml"
    cases.write_text("defaults:\n  expect:\n    json_path: {$.a: {equals: 1}}\ncases:\n"
                     "  - {id: fine, path: /ok}\n  - {id: broken-case, path: /broken}\n")
    out = tmp_path / "golden.html"
    r = mosaic("golden", "--url", app_url, "--cases", str(cases), "--state-dir", str(tmp_path / "st"),
               "--retries", "0", "--format", "html", "-o", str(out))
    assert r.returncode == 1 and r.stdout == ""
    raw = out.read_text()
    page = Page(raw)
    assert_self_contained(page, raw)
    text = page.visible()
    assert "fine" in text and "broken-case" in text and "Why, label and playbook" in text
    assert [a for t, a in page.tags if t == "svg" and a.get("id") == "outcomes"]
    assert "hunter2secret" not in raw


def test_predeploy_html(tmp_path):
    r = mosaic("predeploy", "--root", str(tmp_path), "--only", "lint,prompts", "--format", "html")
    assert r.returncode in (0, 1)
    page = Page(r.stdout)
    assert_self_contained(page, r.stdout)
    text = page.visible()
    assert "Predeploy" in text and "lint" in text and "prompts" in text
    assert [a for t, a in page.tags if t == "svg" and a.get("id") == "checks"]
