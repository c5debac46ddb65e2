"""The forms layouts round 28 found the reader missing, produced by the real libraries in the test run (the `r28l-`
entries of tests/realworld/layouts.yml, and round 31's known miss): a traceback pasted double-spaced, a blank after
each of its lines, whose exception message goes on over lines apart by a blank (pydantic's validation errors)."""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Callable

import pytest
from pydantic import BaseModel, ValidationError

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.triage.events import EventClassifier
from tests.isolation import loggers_kept
from tests.test_logs_support import BLOCKS, error_events


class Settings(BaseModel):
    """A settings model whose two required fields the environment does not give."""

    API_ID: int
    API_HASH: str


def _load() -> Settings:
    return Settings()  # type: ignore[call-arg]


def _chained() -> Settings:
    try:
        return _load()
    except ValidationError as e:
        raise RuntimeError("config unreadable") from e


def _traceback(f: Callable[[], object] = _load) -> list[str]:
    """The lines of the real traceback `f()` raises (pydantic's ValidationError over seven lines, or a chain)."""
    try:
        f()
    except Exception:
        return traceback.format_exc().rstrip("\n").split("\n")
    raise AssertionError("no exception")


def _double(lines: list[str]) -> list[str]:
    """`lines` double-spaced: a blank after each (`"\\n".join` of lines that keep their ends; a web UI's copy)."""
    return "\n".join(line + "\n" for line in lines).rstrip("\n").split("\n")


def _logged(name: str = "bot.config") -> list[str]:
    """What stdlib logging writes for an error record logged with the ValidationError's traceback."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    with loggers_kept(name):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.propagate = False
        try:
            _load()
        except ValidationError:
            log.exception("Settings unreadable")
    return buf.getvalue().rstrip("\n").split("\n")


def test_the_real_traceback_is_what_the_tests_take_it_for() -> None:
    lines = _traceback()
    assert lines[0] == "Traceback (most recent call last):"
    exc = next(i for i, line in enumerate(lines) if line.startswith("pydantic_core._pydantic_core.ValidationError"))
    assert lines[exc].endswith("2 validation errors for Settings") and len(lines) - exc == 7
    assert lines[exc + 1:exc + 3] == ["API_ID", "  Field required [type=missing, input_value={}, input_type=dict]"]
    doubled = _double(lines)
    assert len(doubled) == 2 * len(lines) - 1 and not any(doubled[1::2]) and all(doubled[::2])


def _check(text: str, first: int, last: int, level: str | None) -> None:
    classify = EventClassifier(Classifier.default())
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.level) for e in events] == [(first, last, level)], block
        tb = events[0].traceback or ""
        assert tb.count("Field required") == 2 and "API_HASH" in tb, block
        assert classify.event(events[0]).label == "ENV_VAR_MISSING", block


def test_a_double_spaced_traceback_keeps_its_exception_messages_lines() -> None:
    """Every line of the traceback followed by a blank: one event, to the message's last line (before, the blank
    after `2 validation errors for Settings` ended it: `API_ID` / `Field required` lost, UNKNOWN_ERROR)."""
    lines = _double(_traceback())
    _check("\n".join(lines) + "\n", 1, len(lines), None)


def test_a_double_spaced_paste_cut_inside_its_first_frame_starts_at_its_first_line() -> None:
    """The paste starts at the first frame's source line, a blank under it (`_cut_source` in a double-spaced
    paste): the event starts at line 1."""
    lines = _double(_traceback())
    cut = lines[4:]  # (the first frame's source line, its blank, then the second frame)
    assert cut[0] == "    f()" and not cut[1] and cut[2].startswith('  File "')
    _check("\n".join(cut) + "\n", 1, len(cut), None)


@pytest.mark.parametrize("prefix", ["", "web-1  | "])
def test_a_double_spaced_error_record_keeps_its_tracebacks_message(prefix: str) -> None:
    """A record logged with the traceback, the whole log double-spaced (and behind Docker Compose's prefix): one
    event from the record to the message's last line."""
    lines = [prefix + line for line in _double(_logged())]
    assert "ERROR bot.config: Settings unreadable" in lines[0]
    _check("\n".join(lines) + "\n", 1, len(lines), "ERROR")


def test_a_double_spaced_chain_is_one_event() -> None:
    """A double-spaced chain (`The above exception was the direct cause …` between blanks): one event, the last
    exception's message, the cause's lines in it."""
    lines = _double(_traceback(_chained))
    for block in BLOCKS:
        events = error_events("\n".join(lines) + "\n", block)
        assert [(e.line, e.end_line, e.message) for e in events] == \
            [(1, len(lines), "RuntimeError: config unreadable")], block
        assert (events[0].traceback or "").count("Field required") == 2


def test_a_single_spaced_traceback_still_ends_at_a_blank() -> None:
    """Guard: a traceback printed as Python prints it, a blank, then a line: the line is not its message's."""
    lines = _traceback()
    text = "\n".join([*lines, "", "retrying in 5s"]) + "\n"
    for block in BLOCKS:
        assert [(e.line, e.end_line) for e in error_events(text, block)] == [(1, len(lines))], block


def test_a_double_spaced_traceback_ends_at_an_empty_line_and_before_the_next_traceback() -> None:
    """Guards: in a double-spaced paste an empty line is three blanks: the message ends before them; the next
    traceback's header after one blank is a new event."""
    lines = _double(_traceback())
    text = "\n".join([*lines, "", "", "", "retrying in 5s", "", *lines]) + "\n"
    for block in BLOCKS:
        got = [(e.line, e.end_line) for e in error_events(text, block)]
        assert got == [(1, len(lines)), (len(lines) + 6, 2 * len(lines) + 5)], block


@pytest.mark.parametrize("layout", ["header", "inline", "compose"])
def test_round_31s_double_spaced_paste_is_env_var_missing(layout: str) -> None:
    """MemeFiBot#142's paste (corpus.yml), in the corpus test's three layouts: its first event carries the
    `Field required` lines and is ENV_VAR_MISSING."""
    from tests.realworld import corpus
    from tests.realworld.test_corpus_classify import build_log

    (entry,) = [e for e in corpus.load_corpus() if e.id == "r31-env-settings-docker-blank-line-between-every-line"]
    text, ((first, last),) = build_log([entry], layout)
    classify = EventClassifier(Classifier.default())
    for block in BLOCKS:
        events = [e for e in error_events(text, block) if first <= e.line <= last]
        assert [e.line for e in events] == [first, first + (25 if layout != "inline" else 24)], block
        assert events[0].end_line == first + (23 if layout != "inline" else 22), block
        assert classify.event(events[0]).label == "ENV_VAR_MISSING", block
