"""The forms layouts round 32 found the reader missing: journald's prefix under a Chinese, Japanese or Korean locale
(`12月 21 22:22:36 host tag[pid]: `), markdown's opening fence glued to a paste's first record, the Firebase emulator's
`>  ` before a function's output, and a record's message printed alone right above its traceback (logging with no
format) after another traceback's exception line, or a line that introduces a traceback with a colon (Vercel's `could
not import "app/main.py":`). The excerpts are the pasted ones (`layouts.yml`); the message-above-traceback form is also
written by stdlib logging in the test run, under a real pydantic ValidationError whose message runs over lines."""

from __future__ import annotations

import io
import logging
import traceback

import pydantic

from tests.isolation import loggers_kept
from tests.test_logs_support import BLOCKS, error_events


def _spans(text: str) -> list[list[tuple[int, int, str | None, str]]]:
    return [[(e.line, e.end_line, e.level, e.message) for e in error_events(text, block)] for block in BLOCKS]


def _excerpt(entry: str) -> str:
    from tests.realworld.test_layouts_corpus import load_layouts

    (ex,) = [e for e in load_layouts() if e.id == entry]
    return ex.text


class _Job(pydantic.BaseModel):
    attempts: int


def _validation_error() -> pydantic.ValidationError:
    try:
        _Job.model_validate({"attempts": "many"})
    except pydantic.ValidationError as e:
        return e
    raise AssertionError("no ValidationError")


def _printed_then_logged(intro: bool) -> list[str]:
    """A real ValidationError's traceback printed to a stream, then (`intro`) a record logged with `log.exception` in
    logging's bare `%(message)s` format to the same stream (its message alone above its traceback), else the same
    exception's traceback printed again."""
    buf = io.StringIO()
    buf.write("".join(traceback.format_exception(_validation_error())))
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(message)s"))
    with loggers_kept("app.jobs"):
        log = logging.getLogger("app.jobs")
        log.handlers[:] = [handler]
        log.propagate = False
        log.setLevel(logging.INFO)
        if intro:
            try:
                _Job.model_validate({"attempts": "none"})
            except pydantic.ValidationError:
                log.exception("Exception on /jobs [POST]")
        else:
            buf.write("".join(traceback.format_exception(_validation_error())))
    return buf.getvalue().rstrip("\n").split("\n")


def test_the_real_lines_are_what_the_tests_take_them_for() -> None:
    lines = _printed_then_logged(intro=True)
    exc = [i for i, t in enumerate(lines) if t.startswith("pydantic_core._pydantic_core.ValidationError: ")]
    assert len(exc) == 2
    first = exc[0]
    assert lines[first + 1] == "attempts"  # (the message's next line at the margin)
    assert lines[first + 3].startswith("    For further information visit https://errors.pydantic.dev/")
    assert lines[first + 4] == "Exception on /jobs [POST]" and lines[first + 5] == "Traceback (most recent call last):"
    again = _printed_then_logged(intro=False)
    assert again[first + 4] == "Traceback (most recent call last):"


def test_a_record_message_alone_above_its_traceback_after_an_exception_message_starts_its_event() -> None:
    lines = _printed_then_logged(intro=True)
    text = "\n".join(lines)
    first_exc = next(i for i, t in enumerate(lines) if t.startswith("pydantic_core._pydantic_core.ValidationError"))
    second_exc = max(i for i, t in enumerate(lines) if t.startswith("pydantic_core._pydantic_core.ValidationError"))
    want = [(1, first_exc + 4, None, lines[first_exc]),
            (first_exc + 5, second_exc + 4, None, "Exception on /jobs [POST]")]
    assert _spans(text) == [want, want]


def test_a_traceback_right_under_an_exception_message_takes_none_of_it() -> None:
    # (the message's last line is indented: it stays the first exception's, the second traceback starts at its header)
    lines = _printed_then_logged(intro=False)
    text = "\n".join(lines)
    excs = [i for i, t in enumerate(lines) if t.startswith("pydantic_core._pydantic_core.ValidationError")]
    want = [(1, excs[0] + 4, None, lines[excs[0]]), (excs[0] + 5, excs[1] + 4, None, lines[excs[1]])]
    assert _spans(text) == [want, want]


def test_flask_exception_record_after_a_logging_error_on_heroku() -> None:
    text = _excerpt("r32l-heroku-logging-handler-error-logged-from-file-then-flask-exception")
    want = [(1, 5, None, "TypeError: sequence item 0: expected string, NoneType found"),
            (6, 9, None, "Exception on /auth/register [POST]")]
    assert _spans(text) == [want, want]


def test_a_line_that_introduces_a_traceback_with_a_colon_starts_its_event() -> None:
    text = _excerpt("r32l-vercel-could-not-import-unindented-frames-py313-markers-cut")
    assert [[e[:3] for e in spans] for spans in _spans(text)] == [[(1, 31, None)]] * 2
    assert all(spans[0][3] == 'could not import "app/main.py":' for spans in _spans(text))


def test_journald_under_a_cjk_locale() -> None:
    text = _excerpt("r32l-journal-cjk-month-gunicorn-modulenotfound-systemd-failed")
    want = [(4, 7, None, "ModuleNotFoundError: No module named 'gunicorn'")]
    assert _spans(text) == [want, want]


def test_a_line_that_only_starts_like_a_cjk_journal_line_is_text() -> None:
    # (no host, tag and colon after the time: no journald prefix; the traceback under it starts at its header)
    text = "12月 21 22:22:36 重启\n" + "".join(traceback.format_exception(_validation_error())).rstrip("\n")
    spans = _spans(text)
    assert [[e[:2] for e in s] for s in spans] == [[(2, len(text.splitlines()))]] * 2


def test_a_markdown_fence_glued_to_the_first_record() -> None:
    text = _excerpt("r32l-daphne-server-record-glued-to-fence-redis-connect-call-failed-cut")
    for spans in _spans(text):
        assert [(e[0], e[1], e[2]) for e in spans] == [(1, 12, "ERROR")]
        assert spans[0][3].startswith("Exception inside application: [Errno 111] Connect call failed")


def test_a_fence_with_a_language_tag_is_no_record() -> None:
    body = "".join(traceback.format_exception(_validation_error())).rstrip("\n")
    text = "```python\n" + body
    assert [[e[:2] for e in s] for s in _spans(text)] == [[(2, len(text.splitlines()))]] * 2


def test_the_firebase_emulators_output_margin() -> None:
    text = _excerpt("r32l-firebase-emulator-prefixed-root-error-unhandled-error")
    for spans in _spans(text):
        assert [(e[0], e[2], e[3]) for e in spans] == [(1, "ERROR", "Unhandled error: list index out of range")]
