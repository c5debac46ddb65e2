"""Golden explanations of a failover that failed on both providers: the example app in-process, the
LLM stand-in failing both providers for real, the real openai/anthropic clients, every rendering."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mosaic_diag.cli import main
from mosaic_diag.golden import open_target
from mosaic_diag.golden.explain import error_parts, error_texts, explain
from mosaic_diag.golden.report import Attempt
from mosaic_diag.playbooks import PlaybookStore
from tests.test_example_app import app_env

ROOT = Path(__file__).resolve().parent.parent
CASE = "framework-stuck-in-career"


def golden(tmp_path: Path, fmt: str, *extra: str) -> list[str]:
    return ["golden", "--app", "examples.mosaic_app.main:app", "--cases", str(ROOT / "golden"),
            "--state-dir", str(tmp_path / "state"), "--retries", "0", "-k", CASE, "--format", fmt, *extra]


@pytest.fixture
def env(tmp_path, llm, monkeypatch):
    for key, value in app_env(tmp_path, llm).items():
        monkeypatch.setenv(key, value)
    return llm


@pytest.mark.parametrize(("openai", "anthropic", "want"), [
    # the second provider's error is the more severe one: it comes first
    ("rate_limit", "auth", ["ANTHROPIC_INVALID_KEY", "OPENAI_RATE_LIMIT"]),
    # as severe as each other: first seen first
    ("rate_limit", "overloaded", ["OPENAI_RATE_LIMIT", "ANTHROPIC_OVERLOADED"]),
    ("auth", "rate_limit", ["OPENAI_INVALID_KEY", "ANTHROPIC_RATE_LIMIT"]),
])
def test_every_provider_label_in_json_markdown_and_junit(tmp_path, env, capsys, openai, anthropic, want):
    env.set_failure("openai", openai)
    env.set_failure("anthropic", anthropic)
    store = PlaybookStore.load(None)
    playbooks = [store.match(name).id for name in want]

    assert main(golden(tmp_path, "json", "--junit", str(tmp_path / "g.xml"))) == 1
    (case,) = json.loads(capsys.readouterr().out)["cases"]
    got = case["classification"]
    assert [ref["label"] for ref in got["labels"]] == want
    assert [ref["playbook"] for ref in got["labels"]] == playbooks
    assert all(ref["category"] == "model" and ref["severity"] for ref in got["labels"])
    primary = got["labels"][0]  # the old single-label fields are the primary's
    assert {k: got[k] for k in ("label", "category", "severity", "playbook")} == primary
    assert len(got["explanation"].split(" | ")) == len(want)  # one reason per label
    # the stand-in really answered both providers with the errors
    paths = [r["path"] for r in env.requests]
    assert "/v1/chat/completions" in paths and "/v1/messages" in paths

    failure = next(tc.find("failure") for tc in ET.parse(tmp_path / "g.xml").iter("testcase")
                   if tc.get("name") == CASE)
    assert failure.get("message").endswith(f"[{' + '.join(want)}]")
    for ref in got["labels"]:
        assert (f"classified: {ref['label']} ({ref['category']}, {ref['severity']}); playbook: {ref['playbook']}"
                in failure.text)

    assert main(golden(tmp_path, "markdown")) == 1
    row = next(line for line in capsys.readouterr().out.splitlines() if f"`{CASE}`" in line)
    assert f"| {' + '.join(want)} | {' + '.join(playbooks)} |" in row


def test_one_failing_provider_keeps_one_label(tmp_path, llm, monkeypatch, capsys):
    for key, value in app_env(tmp_path, llm, anthropic=False).items():  # no failover: OpenAI only
        monkeypatch.setenv(key, value)
    for key in ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    llm.set_failure("openai", "rate_limit")
    assert main(golden(tmp_path, "json")) == 1
    (case,) = json.loads(capsys.readouterr().out)["cases"]
    got = case["classification"]
    assert got["label"] == "OPENAI_RATE_LIMIT"
    assert got["labels"] == [{k: got[k] for k in ("label", "category", "severity", "playbook")}]
    assert not any(r["path"] == "/v1/messages" for r in llm.requests)


def test_the_failover_body_splits_into_the_providers_errors_only(tmp_path, env):
    """Each part is one provider's error line of the app's `detail`, not the body's other fields."""
    env.set_failure("openai", "rate_limit")
    env.set_failure("anthropic", "overloaded")
    target = open_target(app="examples.mosaic_app.main:app", app_dir=ROOT)
    try:
        answer = target.send("POST", "/wimd/ask", json={"prompt": "I feel stuck in my career..."},
                             headers={}, params={}, timeout=10)
    finally:
        target.close()
    assert answer.status == 503
    body = json.loads(answer.body)
    texts, is_error = error_texts(Attempt(answer.status, 1.0, ("status",)), answer.body)
    assert is_error and body["ps101"]["title"] in texts  # the other fields are texts of their own
    parts = error_parts(texts)
    assert parts == body["detail"].splitlines()
    assert [p.split(":")[0] for p in parts] == ["openai.RateLimitError", "anthropic.OverloadedError"]
    explanation = explain(Attempt(answer.status, 1.0, ("status",)), answer.body)
    assert explanation is not None and explanation.names == "OPENAI_RATE_LIMIT + ANTHROPIC_OVERLOADED"


def test_the_in_process_apps_log_records_are_counted_not_printed(tmp_path, env, capfd):
    """A failing run's app tracebacks do not reach the terminal: one stderr line counts them and shows the
    first distinct ones; the report on stdout is whole."""
    env.set_failure("openai", "rate_limit")
    env.set_failure("anthropic", "auth")
    capfd.readouterr()
    assert main(golden(tmp_path, "json")) == 1
    out, err = capfd.readouterr()
    assert json.loads(out)["summary"]["not_ok"] == 1
    assert "Traceback" not in err, err
    [line] = err.splitlines()
    assert line.startswith("golden: the app's ") and " log record(s) were captured, not printed: " in line, line
    assert "at ERROR; first 3 distinct: ERROR:" in line and "(openai.RateLimitError: " in line, line
    assert "(anthropic.AuthenticationError: " in line, line


@pytest.mark.parametrize("columns", [40, 80])
@pytest.mark.slow
def test_the_apps_log_records_on_a_terminal_wrap_at_words(tmp_path, llm, columns):
    """On a terminal the note of the app's captured records was one line of ~600 characters, broken mid-word by
    the terminal's edge (`openai.RateLim|itError`): there it is its head, then each distinct record on its own
    line, every line wrapped at words within the width and indented under its record."""
    import fcntl
    import os
    import pty
    import re
    import struct
    import subprocess
    import sys
    import termios

    from tests.ptyread import read_until_closed

    llm.set_failure("openai", "rate_limit")
    llm.set_failure("anthropic", "auth")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**os.environ, **app_env(tmp_path, llm), "COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", *golden(tmp_path, "json"), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL, env=env, cwd=ROOT)
    os.close(slave)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", read_until_closed(master).decode()).replace("\r\n", "\n")
    assert proc.wait(timeout=120) == 1, text
    lines = text[text.index("golden: the app's "):].splitlines()
    assert all(len(line) <= columns for line in lines), lines
    records = [i for i, line in enumerate(lines) if line.startswith("  ERROR:")]
    assert len(records) == 3 and " ".join(lines[0].split()).startswith("golden: the app's"), lines
    assert all(line.startswith("    ") for line in lines[records[0]:] if not line.startswith("  ERROR:")), lines
    words = " ".join(" ".join(lines).split())
    assert "(openai.RateLimitError: " in words and "(anthropic.AuthenticationError: " in words, lines
