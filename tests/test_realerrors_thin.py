"""Held-out round 13 (the thin families) on errors the real libraries raise in the test run: the OpenAI and
Anthropic clients refusing to start without credentials, the csv reader's errors, a CSV or a prompt JSON that
does not decode, a ``None`` from ``os.getenv`` used as a value. Each is classified as a live exception, as its
printed traceback, and in the shapes users paste it (a retry line, a Compose prefix, VS Code's banner).
"""

from __future__ import annotations

import csv
import io
import json
import os
import traceback
from pathlib import Path

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.test_classify_evidence import raised


def clf() -> Classifier:
    return Classifier.default()


def text_of(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def shapes(exc: BaseException) -> list[str]:
    """The texts users paste for one exception: its traceback, the same behind a Compose prefix, a retry
    line with str(e), VS Code's `Exception has occurred:` banner."""
    tb = text_of(exc).rstrip("\n")
    return [tb, "\n".join(f"2024-08-10 14:14:27 core-1  | {line}" for line in tb.splitlines()),
            f"Insertion failed, retrying (1/3), error: {exc}",
            f"Exception has occurred: {type(exc).__name__} {exc}"]


def test_openai_client_without_a_key_is_env_var_missing(monkeypatch) -> None:
    openai = pytest.importorskip("openai")
    for name in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    exc = raised(openai.OpenAI)
    assert isinstance(exc, openai.OpenAIError) and "OPENAI_API_KEY" in str(exc)
    c = clf()
    assert c.classify_exception(exc).label == "ENV_VAR_MISSING"
    for text in shapes(exc):
        assert c.classify_text(text).label == "ENV_VAR_MISSING", text


def test_anthropic_client_without_credentials_is_env_var_missing(monkeypatch) -> None:
    """The client raises before it sends anything (a closed loopback port as its base URL, no retries)."""
    anthropic = pytest.importorskip("anthropic")
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    client = anthropic.Anthropic(base_url="http://127.0.0.1:9", max_retries=0)
    exc = raised(lambda: client.messages.create(model="claude-x", max_tokens=1,
                                                messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(exc, TypeError) and "Could not resolve authentication method" in str(exc)
    c = clf()
    assert c.classify_exception(exc).label == "ENV_VAR_MISSING"
    for text in shapes(exc):
        assert c.classify_text(text).label == "ENV_VAR_MISSING", text


def test_a_none_from_getenv_used_as_a_value_is_not_env_var_missing(monkeypatch) -> None:
    """The spec's evidence for a missing setting is the exception's own words; a None's TypeError or
    AttributeError after `os.getenv` names no setting (round 13's negatives, ENV_VAR_MISSING their alternative)."""
    monkeypatch.delenv("INITIAL_PORT", raising=False)
    monkeypatch.delenv("dsl_modes", raising=False)
    c = clf()
    for exc in (raised(lambda: int(os.getenv("INITIAL_PORT"))),  # type: ignore[arg-type]
                raised(lambda: os.getenv("dsl_modes").split(" "))):  # type: ignore[union-attr]  # noqa: SIM112 - munin's name
        assert "NoneType" in str(exc)
        assert c.classify_exception(exc).label == "UNKNOWN_ERROR"
        assert c.classify_text(text_of(exc)).label == "UNKNOWN_ERROR"


def test_the_csv_readers_errors_are_prompt_csv_corrupt() -> None:
    newline = raised(lambda: list(csv.reader(["prompt,text\rmore"])))
    old = csv.field_size_limit(16)
    try:
        big = raised(lambda: list(csv.reader(io.StringIO('"' + "x" * 64 + '"\n'))))
    finally:
        csv.field_size_limit(old)
    assert "new-line character seen in unquoted field" in str(newline)
    assert "field larger than field limit" in str(big)
    c = clf()
    for exc in (newline, big):
        assert c.classify_exception(exc).label == "PROMPT_CSV_CORRUPT"
        assert c.classify_text(text_of(exc)).label == "PROMPT_CSV_CORRUPT"
        # a web framework's wrapper or a py2-style repr around str(e)
        assert c.classify_text(f"CSV parse error - {exc}").label == "PROMPT_CSV_CORRUPT"
        assert c.classify_text(f"Error({str(exc)!r},)").label == "PROMPT_CSV_CORRUPT"


def test_a_csv_or_prompt_json_that_does_not_decode_is_not_a_csv_error(tmp_path: Path) -> None:
    """The codec's UnicodeDecodeError reading a CSV or a prompt JSON, and a prompt JSON with comments that
    json refuses outside PS101 and session/DB code: none is csv's error or PS101's (round 13's negatives)."""
    sheet = tmp_path / "prompts.csv"
    sheet.write_bytes("id,prompt\n1,caf\xe9\n".encode("latin-1"))
    prompt = tmp_path / "joke_prompt.json"
    prompt.write_bytes(b'{"_type": "prompt", "template": "caf\xc3\xa9 \xaf"}')  # UTF-8 and a stray byte
    commented = tmp_path / "adjective_joke_prompt.json"
    commented.write_text('{\n\t# what type of prompt\n\t"_type": "prompt"\n}\n')

    def read_sheet() -> list:
        with sheet.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    def load_prompt(path: Path) -> dict:
        with path.open(encoding="gbk") as f:
            return json.load(f)

    def load_commented() -> dict:
        with commented.open(encoding="utf-8") as f:
            return json.load(f)

    c = clf()
    for exc in (raised(read_sheet), raised(lambda: load_prompt(prompt)), raised(load_commented)):
        assert isinstance(exc, UnicodeDecodeError | json.JSONDecodeError), exc
        assert c.classify_exception(exc).label == "UNKNOWN_ERROR"
        assert c.classify_text(text_of(exc)).label == "UNKNOWN_ERROR"
