"""A traceback logged one line per record (`for line in tb.splitlines(): log.error(line)`, as some servers do) is one
event: its records' messages joined, its exception and frames read, at its first record's line.

The tracebacks are real (`traceback.format_exception` of exceptions raised here); the lines are written by real
formatters: uvicorn's own `LOGGING_CONFIG` (`ERROR:    `, the traceback's indentation stripped from the message),
stdlib `logging` formats and loguru's default format.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.tracebacks import parse_traceback_text
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.test_classify_evidence import embedding_traceback
from tests.test_logs_support import BLOCKS, LOGURU, logged_records, read

UVICORN = None  # uvicorn's LOGGING_CONFIG formatter
FORMATS = (UVICORN, "%(asctime)s %(levelname)s %(name)s: %(message)s",
           "%(asctime)s - %(name)s - %(levelname)s - %(message)s", LOGURU)
FORMAT_IDS = ("uvicorn", "stdlib-name-colon", "stdlib-dashed", "loguru")


def _raised(fn: Callable[[], object]) -> str:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the exception is the test's material
        return "".join(traceback.format_exception(exc))
    raise AssertionError("nothing raised")


def _embedding_traceback(tmp_path, monkeypatch) -> str:
    """A real traceback whose frames name the embedding call and whose exception says nothing of embeddings: only
    frames read make it EMBEDDING_GENERATION_FAILED."""
    return embedding_traceback(tmp_path, monkeypatch, "embedding_engine_records")


def _env_chain() -> str:
    """A real chained traceback (a blank, the separator, a blank, the next header): an environment variable missing."""
    def settings() -> str:
        try:
            return os.environ["MOSAIC_TEST_UNSET_DATABASE_URL"]
        except KeyError as exc:
            raise RuntimeError("settings could not be loaded") from exc

    os.environ.pop("MOSAIC_TEST_UNSET_DATABASE_URL", None)
    return _raised(settings)


_logged = logged_records


def _per_line(tb: str) -> list[tuple[str, str]]:
    return [("ERROR", line) for line in tb.rstrip("\n").split("\n")]


def _errors(text: str, block_size: int | None) -> list[RawEvent]:
    kw = {} if block_size is None else {"block_size": block_size}
    return [e for e in read(text.encode(), **kw)[0] if e.kind == "error"]


def _bare(tb: str) -> tuple[str | None, str]:
    """(exception type, label) of the same traceback in a log as Python prints it (one event, its lines bare)."""
    (raw,) = _errors(tb, None)
    ev = EventClassifier(Classifier.default()).event(raw)
    return ev.exception_type, ev.label


def _line_of(text: str, needle: str) -> int:
    return next(k for k, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("block_size", BLOCKS)
@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_a_traceback_logged_line_by_line_is_one_event_with_its_frames(tmp_path, monkeypatch, fmt, block_size) -> None:
    tb = _embedding_traceback(tmp_path, monkeypatch)
    text = _logged([("INFO", "Started server process [7]"), *_per_line(tb),
                    ("INFO", "Application startup complete.")], fmt)
    assert len(text.splitlines()) == len(tb.rstrip("\n").split("\n")) + 2, text
    events = _errors(text, block_size)
    assert len(events) == 1, [e.message for e in events]
    (raw,) = events
    assert raw.line == _line_of(text, "Traceback (most recent call last):")
    assert raw.end_line == _line_of(text, "RuntimeError: the loaded model")
    assert raw.level == "ERROR"
    parsed = parse_traceback_text(raw.traceback or "")
    assert [(p.type, [f.function for f in p.frames][-2:]) for p in parsed] == [("RuntimeError", ["embed", "_handler"])]
    ev = EventClassifier(Classifier.default()).event(raw)
    assert (ev.exception_type, ev.label) == ("RuntimeError", "EMBEDDING_GENERATION_FAILED") == _bare(tb)


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_a_chained_traceback_logged_line_by_line_is_one_event(fmt) -> None:
    """The chain's blank records, its separator and the next header go on with the event; its label is the
    chain's (the missing environment variable under the wrapper)."""
    tb = _env_chain()
    assert "The above exception was the direct cause" in tb
    text = _logged([*_per_line(tb), ("INFO", "Shutting down")], fmt)
    for block_size in BLOCKS:
        events = _errors(text, block_size)
        assert len(events) == 1, [e.message for e in events]
        (raw,) = events
        assert raw.line == 1 and raw.end_line == _line_of(text, "RuntimeError: settings could not be loaded")
        parsed = parse_traceback_text(raw.traceback or "")
        assert [p.type for p in parsed] == ["KeyError", "RuntimeError"]
        assert all(p.frames for p in parsed)
        ev = EventClassifier(Classifier.default()).event(raw)
        assert (ev.exception_type, ev.label) == ("KeyError", "ENV_VAR_MISSING") == _bare(tb)  # (the root cause's)


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_the_error_record_before_it_carries_the_traceback(tmp_path, monkeypatch, fmt) -> None:
    """uvicorn's `Exception in ASGI application`, then the traceback's lines as records of the same logger and
    level: one event, the record's message, the traceback its evidence."""
    tb = _embedding_traceback(tmp_path, monkeypatch)
    text = _logged([("ERROR", "Exception in ASGI application"), *_per_line(tb)], fmt)
    (raw,) = _errors(text, None)
    assert (raw.line, raw.message) == (1, "Exception in ASGI application")
    assert EventClassifier(Classifier.default()).event(raw).label == "EMBEDDING_GENERATION_FAILED"


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_another_record_between_its_lines_ends_it(tmp_path, monkeypatch, fmt) -> None:
    """A record of other content after the exception line, or an INFO record inside the frames, is no line of the
    traceback: it ends the event there."""
    tb = _per_line(_embedding_traceback(tmp_path, monkeypatch))
    text = _logged([*tb, ("ERROR", "Application startup failed. Exiting."), ("ERROR", 'File "prompts.csv" not found')],
                   fmt)
    events = _errors(text, None)
    assert [e.message for e in events] == [tb[-1][1], "Application startup failed. Exiting.",
                                           'File "prompts.csv" not found']  # (no frame: a record of its own)
    assert [e.traceback is None for e in events] == [False, True, True]
    cut = 3  # the header and the first frame with its source line
    text = _logged([*tb[:cut], ("INFO", "Waiting for application startup."), *tb[cut:]], fmt)
    events = _errors(text, None)
    assert events[0].line == 1 and events[0].end_line == cut, [(e.line, e.message) for e in events]
    assert len(events) > 1


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_a_recursion_logged_line_by_line_is_one_event(fmt) -> None:
    """A real RecursionError (its repeated frames folded into `[Previous line repeated N more times]`)."""
    def down(n: int) -> int:
        return down(n + 1)

    tb = _raised(lambda: down(0))
    assert "[Previous line repeated" in tb
    text = _logged(_per_line(tb), fmt)
    (raw,) = _errors(text, None)
    (parsed,) = parse_traceback_text(raw.traceback or "")
    assert parsed.type == "RecursionError" and parsed.frames


@pytest.mark.parametrize("block_size", BLOCKS)
@pytest.mark.parametrize("cut", [0, 1], ids=["header", "first-frame"])
@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_the_first_line_glued_into_the_record_s_message_is_the_traceback_s(fmt, cut: int, block_size) -> None:
    """`log.error(f"Request failed: {lines[0]}")`, then the traceback's next lines one record each (the corpus test's
    inline layout, a paste cut above its header too): one event at that record, its message kept, its traceback from
    the glued line on: the first frame is read, the chain's label is the bare traceback's."""
    tb = _env_chain()
    lines = tb.rstrip("\n").split("\n")[cut:]
    text = _logged([("ERROR", f"Request failed: {lines[0]}"), *_per_line("\n".join(lines[1:])),
                    ("INFO", "Shutting down")], fmt)
    events = _errors(text, block_size)
    assert len(events) == 1, [(e.line, e.message) for e in events]
    (raw,) = events
    assert (raw.line, raw.end_line) == (1, _line_of(text, "RuntimeError: settings could not be loaded"))
    assert raw.message == f"Request failed: {lines[0]}"
    parsed = parse_traceback_text(raw.traceback or "")
    bare = parse_traceback_text("\n".join(lines))
    assert [(p.type, [(f.file, f.line, f.function) for f in p.frames]) for p in parsed] == \
        [(p.type, [(f.file, f.line, f.function) for f in p.frames]) for p in bare]
    assert parsed[0].frames[0].function == "settings"  # (the frame glued into the record's message)
    ev = EventClassifier(Classifier.default()).event(raw)
    assert (ev.exception_type, ev.label) == ("KeyError", "ENV_VAR_MISSING")


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_a_record_that_ends_with_a_traceback_s_first_line_and_nothing_after_is_a_record(fmt) -> None:
    """No record of its logger goes on with it (another level's record follows): the record as it is, no traceback;
    with the traceback printed under it (no record prefix), that traceback is the record's as before."""
    first = _env_chain().split("\n")[0]
    text = _logged([("ERROR", f"Request failed: {first}"), ("INFO", "Shutting down")], fmt)
    (raw,) = _errors(text, None)
    assert (raw.line, raw.end_line, raw.message, raw.traceback) == (1, 1, f"Request failed: {first}", None)
    tb = _env_chain().rstrip("\n").split("\n")
    text = _logged([("ERROR", f"Request failed: {tb[0]}")], fmt) + "\n".join(tb[1:]) + "\n"
    (raw,) = _errors(text, None)
    assert (raw.line, raw.end_line, raw.message) == (1, len(tb), f"Request failed: {tb[0]}")
    assert [p.type for p in parse_traceback_text(raw.traceback or "")] == ["KeyError", "RuntimeError"]
