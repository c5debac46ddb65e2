"""Markdown reports hold hostile text as text: rendered by a real CommonMark parser (markdown-it-py, with
GFM tables), a log line's or an answer's HTML, links, backticks, pipes and line breaks stay what they were."""

from __future__ import annotations

import json
import os
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from examples.loopback import QuietServer
from mosaic_diag.platform.mdtext import md_code, md_fence, md_text
from mosaic_diag.runtime.guard import open_dead_letters
from tests.cli_inproc import run_cli

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ("boom </script><script>alert(1)</script> | pipe || `tick` ``two`` [x](javascript:alert(1)) "
           "![i](http://evil.invalid/p.png) <img src=http://evil.invalid/x.png> **bold** _em_ &lt;b&gt; ~~del~~")


def render(text: str) -> str:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough").render(text)


def assert_inert(html: str) -> None:
    """Nothing in the rendered page but our own markup: no tag, link, image or emphasis from the text."""
    for bad in ("<script", "<img", "href=\"javascript", "<a ", "<strong>bold", "<em>em", "<s>", "<del>",
                "<b>"):
        assert bad not in html, (bad, html)


def run(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return run_cli(args, cwd=cwd, env={"PYTHONPATH": pythonpath, **env})  # (in this process: tests/cli_inproc.py)


@pytest.mark.parametrize("text", [HOSTILE, "# heading\n- item\n> quote\n1. one", "`", "``a`", "| a | b |",
                                  "-", "+ x", "12) x", "a\r\nb\u2028c", "", "___init___"])
def test_each_form_renders_the_text_itself(text: str) -> None:
    one = " ".join(text.split()) if text.strip() else ""
    # inline text in a table cell: one cell, whose text is the input's
    table = render(f"| a | b |\n|---|---|\n| {md_text(text)} | x |\n")
    assert table.count("<td>") == 2, table
    assert_inert(table)
    assert MarkdownIt().parseInline(md_text(text))[0].children is not None
    inline = "".join(t.content for t in MarkdownIt("commonmark").parseInline(md_text(text))[0].children or []
                     if t.type in ("text", "softbreak"))
    assert " ".join(inline.split()) == one
    # a code span holds the text whole (a table cell's `\|` aside)
    [span] = [t for t in MarkdownIt("commonmark").parseInline(md_code(text))[0].children or []
              if t.type == "code_inline"] or [None]
    assert span is not None and span.content.strip() == one.strip()
    # a fenced block holds every line
    [fence] = [t for t in MarkdownIt("commonmark").parse(md_fence(text + "\n```\n````\n# x")) if t.type == "fence"]
    assert fence.content == text.replace("\r\n", "\n") + "\n```\n````\n# x\n"


def test_triage_markdown_of_hostile_log_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(f"2026-12-06T10:00:00Z ERROR app: {HOSTILE}\n"
                   "2026-12-06T10:00:01Z ERROR app: # not a heading\n"
                   "2026-12-06T10:00:02Z ERROR app: ``` fence `<img src=http://evil.invalid/y.png>`\n")
    r = run("triage", str(log), "--format", "markdown", "--no-playbooks")
    assert r.returncode == 1, r.stderr
    html = render(r.stdout)
    assert_inert(html)
    assert html.count("<h1>") == 1 and html.count("<h2>") == 2, html
    rows = [row for row in html.split("<tr>")[2:]]
    assert len(rows) == 3 and all(row.count("<td>") == 7 for row in rows), html
    assert "&lt;/script&gt;&lt;script&gt;" in html and "`tick`" in html, html


class _Hostile(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"a": HOSTILE + "\n# injected heading"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_golden_markdown_of_a_hostile_answer(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {id: hostile, path: /x, expect: {json_path: {$.a: {equals: 1}}}}\n")
    srv = QuietServer.start_on_loopback(_Hostile)
    try:
        r = run("golden", "--url", srv.url, "--cases", str(cases), "--format", "markdown",
                cwd=tmp_path)
    finally:
        srv.stop()
    assert r.returncode == 1, r.stderr
    html = render(r.stdout)
    assert_inert(html)
    assert "<h1>" not in html and html.count("<h2>") == 1, html
    [row] = html.split("<tr>")[2:]
    assert row.count("<td>") == 7, html


def test_dlq_show_markdown_keeps_a_payload_with_fences_in_its_block(tmp_path: Path) -> None:
    db = tmp_path / "d.sqlite"
    store = open_dead_letters(db)
    payload = "```\n# escaped the fence\n<img src=http://evil.invalid/z.png>\n```"
    store.add(payload=payload, error="error\n```\n[x](javascript:alert(1))", label="MODEL_ANSWER_INVALID",
              model="Answer <b>", provider="openai")
    store.close()
    r = run("dlq", "show", "1", "--db", str(db), "--format", "markdown")
    assert r.returncode == 0, r.stderr
    tokens = MarkdownIt("commonmark").parse(r.stdout)
    fences = [t.content for t in tokens if t.type == "fence"]
    assert fences == ["error\n```\n[x](javascript:alert(1))\n", payload + "\n"], r.stdout
    assert_inert(render(r.stdout))


def test_playbook_show_and_run_markdown_of_a_hostile_playbook_file(tmp_path: Path) -> None:
    """`playbook show|run|validate --format markdown` wrote a playbook file's description, recommendations and
    messages as they were: its `[x](javascript:…)` was a link, its `<img>` an image, a `|` or a backtick markup.
    Each is text now, the ids and conditions code spans."""
    books = tmp_path / "books"
    books.mkdir()
    quoted = json.dumps(HOSTILE)
    (books / "p.yml").write_text(
        f"- id: hostile\n  description: {quoted}\n  match: {{label: PG_AUTH_FAILED}}\n"
        f"  diagnose:\n    - name: never\n      check: \"label == 'NOPE'\"\n      fail_label: PG_AUTH_FAILED\n"
        f"      recommendation: {quoted}\n"
        f"  remediate:\n    - action: advise\n      message: {quoted}\n")
    for args in (["show", "PG_AUTH_FAILED"], ["run", "PG_AUTH_FAILED", "--no-gather"]):
        r = run("playbook", *args, "--playbooks", str(books), "--format", "markdown", cwd=tmp_path)
        assert r.returncode == (1 if args[0] == "run" else 0), r.stderr
        html = render(r.stdout)
        assert_inert(html)
        assert html.count("<h1>") == 1 and html.count("&lt;/script&gt;&lt;script&gt;") >= 2, html
        assert "<code>hostile</code>" in html and "`tick` ``two`` [x](javascript:alert(1))" in html, html
    (books / "q.yml").write_text(f"- id: {quoted}\n")  # a problem that quotes the file's text
    (books / "[x](javascript:alert(1)) <img src=x>.yml").write_text("- id: broken\n")
    r = run("playbook", "validate", str(books), "--format", "markdown", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout.count("\n") >= 2, r.stdout
    assert_inert(render(r.stdout))


def test_labels_markdown_of_a_hostile_rules_file(tmp_path: Path) -> None:
    """`labels --format markdown` wrote a rules file's description into its table as it was: a `|` split the row,
    a link or an image was rendered. It is text now, one cell."""
    rules = tmp_path / "rules.yml"
    rules.write_text(f"labels:\n  MY_HOSTILE:\n    category: integration\n    severity: high\n"
                     f"    description: {json.dumps(HOSTILE)}\nrules: []\n")
    r = run("labels", "--rules", str(rules), "--format", "markdown", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    html = render(r.stdout)
    assert_inert(html)
    rows = html.split("<tr>")[2:]
    assert rows and all(row.count("<td>") == 6 for row in rows), html
    assert "&lt;/script&gt;&lt;script&gt;" in html and "<code>MY_HOSTILE</code>" in html, html


ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\x9b6n\u202eevil"


@pytest.mark.parametrize("form", [md_text, md_code, md_fence])
def test_each_form_writes_terminal_controls_as_escapes(form: object) -> None:
    """The Markdown forms wrote a terminal control as it was: a report read with `cat` played a hostile file
    name's or text's escape sequences (a title write, a screen erasure, a bidi override). Shown as `\\u001b`."""
    assert callable(form)
    text = form(f"a {ESCAPES} b")
    assert not any(ch in text for ch in "\x1b\x07\x9b\u202e"), repr(text)
    assert "u001b" in text and "u0007" in text and "u202eevil" in text, text


def test_lint_and_hook_markdown_of_a_hostile_file_name(tmp_path: Path) -> None:
    """`hook run --format markdown` and `lint --format markdown` wrote a staged file's name into the report with its
    escape sequences; they are escapes now, on one table row."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "dev@example.com"],
                 ["config", "user.name", "Dev"]):
        subprocess.run(["git", *args], cwd=repo, check=True, timeout=60)
    name = f"x{ESCAPES}\n.py"
    (repo / name).write_text("def f():\n    try:\n        pass\n    except Exception:\n        pass\n")
    subprocess.run(["git", "add", "--", name], cwd=repo, check=True, timeout=60)
    for args in (["hook", "run"], ["lint", ".", "--no-cache"]):
        r = run(*args, "--format", "markdown", cwd=repo)
        assert r.returncode == 1, r.stderr
        assert "MD006" in r.stdout and "u001b]0;owned" in r.stdout, r.stdout
        assert not any(ch in r.stdout for ch in "\x1b\x07\x9b\u202e"), repr(r.stdout)
        html = render(r.stdout)
        [row] = html.split("<tr>")[2:]
        assert row.count("<td>") == 4, html
