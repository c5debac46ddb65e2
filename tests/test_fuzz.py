"""Property-based fuzzing (hypothesis) of the parsers that read untrusted text: the condition language,
DATABASE_URL and the log line parsers. Whatever the input: a result or the documented error, never a
traceback, never a hang (bounded input sizes and example counts; no timing asserts)."""

from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic_diag.checks.database import sanity
from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.errors import ConfigError
from mosaic_diag.logs.lines import line_timestamp, parse_line
from mosaic_diag.logs.model import ReadStats
from mosaic_diag.logs.reader import read_events
from mosaic_diag.platform.dsn import dsn_facts
from mosaic_diag.platform.redact import redact_dsn, redact_text, redact_with_dsn
from mosaic_diag.platform.yamlpos import load_yaml_text
from mosaic_diag.playbooks.conditions import ConditionError, parse
from mosaic_diag.playbooks.gatherers import GatherContext, gather_database_url
from mosaic_diag.playbooks.settings import PlaybookSettings

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
NAMES = ("rate_5m", "count", "stage", "label", "env.OPENAI_API_KEY.set", "database_url.host")
TOKENS = st.sampled_from([*NAMES, "and", "or", "not", "in", "not in", "==", "!=", "<", "<=", ">", ">=",
                          "startswith", "contains", "(", ")", "[", "]", ",", "1", "-2.5", "1e309", "'x'", '"y\\"',
                          "true", "false", "null", "always", "never", "auto", "__class__", "f(", "unknown.name", "@"])


def _is_name(name: str) -> bool:
    return name in NAMES


def _condition(text: str) -> None:
    try:
        cond = parse(text, _is_name)
    except ConditionError as exc:
        assert "\n" not in str(exc)
        return
    for facts in ({}, {"rate_5m": 3, "count": 1, "stage": "runtime", "label": "X"},
                  {"rate_5m": "high", "count": None, "stage": [1], "env.OPENAI_API_KEY.set": True}):
        verdict = cond.evaluate(facts)
        assert verdict.state in ("true", "false", "unknown") and isinstance(verdict.reason, str)


@FUZZ
@given(st.text(max_size=300))
def test_conditions_from_any_text(text: str) -> None:
    _condition(text)


@FUZZ
@given(st.lists(TOKENS, max_size=60).map(" ".join))
def test_conditions_from_token_soup(text: str) -> None:
    _condition(text)


@FUZZ
@given(st.integers(min_value=1, max_value=2000), st.sampled_from(["(", "[", "not ", "- ", "(x in ["]))
def test_deep_nesting_is_an_error_not_a_recursion(depth: int, opener: str) -> None:
    _condition("rate_5m > 1 and " + opener * depth + "1")


DSN_PART = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)


def _dsn(text: str) -> None:
    facts = dsn_facts(text)
    assert isinstance(facts.host, str) and (facts.port is None or 0 < facts.port < 65536)
    list(sanity(text))
    redact_dsn(text)
    redact_with_dsn(text, text)
    gather_database_url({}, GatherContext(PlaybookSettings(env={"DATABASE_URL": text})))


@FUZZ
@given(st.text(max_size=200))
def test_dsn_from_any_text(text: str) -> None:
    _dsn(text)


@FUZZ
@given(st.sampled_from(["postgresql", "postgres", "mysql", "http", ""]), DSN_PART, DSN_PART, DSN_PART,
       st.one_of(st.none(), st.integers(min_value=-5, max_value=99999).map(str), DSN_PART), DSN_PART, DSN_PART)
def test_dsn_from_url_parts(scheme: str, user: str, password: str, host: str, port: str | None, db: str,
                            query: str) -> None:
    text = f"{scheme}://{user}:{password}@{host}{':' + port if port is not None else ''}/{db}?{query}"
    _dsn(text)


@FUZZ
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$&*+=",
               min_size=6, max_size=30).filter(lambda p: "@" not in p))
def test_a_url_dsn_password_never_shows(password: str) -> None:
    dsn = f"postgresql://mosaic:{password}@db.example.com:5432/mosaic"
    shown = [redact_dsn(dsn), redact_with_dsn(f"could not connect: {dsn}", dsn), redact_text(f"dsn={dsn}")]
    assert all(password not in s for s in shown), shown


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
LOG_KEYS = st.sampled_from(["message", "msg", "level", "levelname", "timestamp", "time", "logger", "exc_info",
                            "exception", "labels", "logs", "stack_trace", "error"])


@FUZZ
@given(st.text(max_size=400))
def test_log_lines_from_any_text(text: str) -> None:
    for line in parse_line(text):
        assert isinstance(line.message, str)
    line_timestamp(text)


@FUZZ
@given(st.dictionaries(LOG_KEYS, JSON_VALUES, max_size=6))
def test_json_log_lines(obj: dict) -> None:
    for line in parse_line(json.dumps(obj)):
        assert isinstance(line.message, str)


@FUZZ
@given(st.integers(min_value=1, max_value=20_000))
def test_deeply_nested_json_lines(depth: int) -> None:
    (line,) = parse_line("{" + '"a":[' * depth + "1" + "]" * depth + "}")
    assert line.message is not None


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=120), st.sampled_from([
    "Traceback (most recent call last):", '  File "x.py", line 1, in <module>', "ValueError: bad",
    "2026-01-01 12:00:00,000 ERROR api: boom", '{"level": "error", "message": "x"}', "<11>1 - - - - - x",
    "During handling of the above exception, another exception occurred:", "    raise X", "LINE 1: SELECT"])),
    max_size=40), st.integers(min_value=16, max_value=4096))
def test_the_reader_over_any_lines(lines: list[str], block_size: int) -> None:
    data = "\n".join(lines).encode("utf-8", "replace")
    stats = ReadStats()
    events = list(read_events(io.BytesIO(data), stats, block_size=block_size))
    classifier = Classifier.default()
    for event in events[:5]:
        classifier.classify_text(getattr(event, "text", "") or "")
    assert stats.lines >= 0


@FUZZ
@given(st.binary(max_size=2000))
def test_the_reader_over_any_bytes(data: bytes) -> None:
    list(read_events(io.BytesIO(data), ReadStats(), block_size=64))


@FUZZ
@given(st.text(max_size=300))
def test_yaml_from_any_text(text: str) -> None:
    try:
        load_yaml_text(text, "f.yml")
    except ConfigError as exc:
        assert str(exc).startswith("f.yml")


@FUZZ
@given(st.integers(min_value=1, max_value=5000),
       st.sampled_from(["2026-01-01 12:00:00 ", "web | ", "2026-01-01T00:00:00Z web-1  | ", "app[web.1]: "]))
def test_lines_of_many_wrappers(n: int, prefix: str) -> None:
    """Thousands of leading timestamps or Compose prefixes: read as text, never a RecursionError."""
    for line in parse_line(prefix * n + "ERROR api: boom"):
        assert isinstance(line.message, str)
