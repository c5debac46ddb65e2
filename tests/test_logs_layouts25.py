"""Layouts whose error lines are candidates only once the reader has seen the layout (logfmt's lower-case levels,
supervisord's `CRIT`, Heroku's router and dyno errors, Apache's `[wsgi:error]`, Alembic's `CRITI [`, pytest's
sections and summary, Render's and Lambda's failure sentences, PostgreSQL's severities in another language): a run
of such lines in the middle of a long calm log, far from any block's head or tail, read from a file or a pipe,
gives the events it gives as a log of its own (the real pastes of tests/realworld/layouts.yml, and records written
by the real libraries in the test run)."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog

from examples.logshapes import access_message, uvicorn_prefix
from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.cli_inproc import run_cli
from tests.realworld.test_layouts_corpus import load_layouts
from tests.test_classify_l10n import _error, l10n_pg, session  # noqa: F401  (fixtures: a server that speaks German)
from tests.test_logs_support import logging_to, read

MB = 1 << 20


def _calm(nbytes: int, start: int = 0) -> str:
    """uvicorn's access lines (its own `INFO:     ` prefix), `nbytes` of them or a little more: a calm log."""
    out: list[str] = []
    size = 0
    n = start
    while size < nbytes:
        n += 1
        line = uvicorn_prefix("INFO") + access_message(f"10.0.{n % 200}.{n % 250}:{40000 + n % 20000}",
                                                       ("GET", "POST")[n % 2], ("/health", "/wimd/ask")[n % 3 == 0],
                                                       200, "OK")
        out.append(line + "\n")
        size += len(line) + 1
    return "".join(out)


def _inside(text: str, before: int, after: int) -> tuple[str, int]:
    """`text` with `before` bytes of calm lines in front of it and `after` bytes after it, and the lines in front."""
    head = _calm(before)
    return head + text.rstrip("\n") + "\n" + _calm(after, 1 << 20), head.count("\n")


def _seen(events: list[RawEvent], shift: int = 0) -> list[tuple[int, int | None, str | None, str, str | None]]:
    classify = EventClassifier(Classifier.default())
    return [(e.line - shift, e.end_line - shift if e.end_line is not None else None, e.level, e.message,
             classify.event(e).label) for e in events if e.kind in ("error", "platform")]


def _events(text: str, **kw: int) -> list[RawEvent]:
    return read(text.encode(), **kw)[0]


EXCERPTS = (  # (the layout a run of lines switches on: ids in tests/realworld/layouts.yml)
    "supervisord-crit-then-debg-records",  # supervisord's `CRIT`
    "r23l-supervisord-warn-exits-crit-running-as-root",
    "r25l-config-dump-then-supervisord-crit-record-cut",  # (a config's dump, then supervisord's log)
    "heroku-router-h12-four-timeouts",  # Heroku's router (`at=error code=H12`)
    "heroku-r14-two-lines-django",  # Heroku's dyno manager (`Error R14`)
    "heroku-syslog-drain-r14-log-runtime-metrics",
    "r22-apache-mod-wsgi-importerror-then-next-request-records",  # Apache's `[wsgi:error]`
    "r23l-pytest-summary-lines-after-captured-debug-cut",  # pytest's sections and `FAILED ` lines
    "r21-render-notification-deploy-failed-exited-while-building",  # Render's sentences without `==> `
    "r20-lambda-task-timed-out-ts-request-id",  # Lambda's timeout
)


@pytest.mark.parametrize("entry", EXCERPTS)
def test_a_pasted_layout_in_the_middle_of_a_long_calm_log(entry: str) -> None:
    """The excerpt 2 MB into a 5 MB log (inside the first 4 MB block, far from its head and tail): the events it gives
    as a log of its own, on the same lines after the calm ones, labelled alike."""
    (ex,) = [e for e in load_layouts() if e.id == entry]
    alone = _seen(_events(ex.text))
    assert alone, entry
    text, shift = _inside(ex.text, 2 * MB, 3 * MB)
    assert _seen(_events(text), shift) == alone


def _logfmt_records() -> str:
    """structlog's LogfmtRenderer: an INFO record, a real sqlite3 error logged at error, a critical record."""
    out = io.StringIO()
    log = structlog.wrap_logger(structlog.PrintLogger(out), processors=[
        structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.LogfmtRenderer(key_order=["timestamp", "level", "event"])])
    log.info("worker started", queue="jobs")
    try:
        sqlite3.connect(":memory:").execute("SELECT * FROM sessions")
    except sqlite3.Error as exc:
        log.error("loading sessions failed", error=str(exc))
    log.critical("no database left to fall back to")
    log.info("worker stopped")
    return out.getvalue()


def _five_letter_records() -> str:
    """Alembic's default layout (`%(levelname)-5.5s [%(name)s] %(message)s`) through stdlib logging: INFO and WARNI
    records, a real sqlite3 error logged at CRITICAL (`CRITI [`)."""
    out = io.StringIO()
    with logging_to(logging.StreamHandler(out), "test.layouts25.alembic", "%(levelname)-5.5s [%(name)s] %(message)s"
                    ) as log:
        log.info("Context impl SQLiteImpl.")
        log.warning("Revision abc123 is present more than once")
        try:
            sqlite3.connect(":memory:").execute("SELECT * FROM alembic_version")
        except sqlite3.Error as exc:
            log.critical("migration failed: %s", exc)
        log.info("done")
    return out.getvalue()


@pytest.mark.parametrize("records", [_logfmt_records, _five_letter_records])
def test_records_of_a_library_s_layout_in_the_middle_of_a_long_calm_log(records: Callable[[], str]) -> None:
    text = records()
    alone = _seen(_events(text))
    assert len(alone) in (1, 2) and all(level in ("ERROR", "CRITICAL") for _, _, level, _, _ in alone)
    assert any("no such table" in message for _, _, _, message, _ in alone), alone
    big, shift = _inside(text, 2 * MB, 3 * MB)
    assert _seen(_events(big), shift) == alone


def _german_server_log(pg: object, conn: object) -> str:
    """The lines a real PostgreSQL server logs for a session's error in German (`… FEHLER:  Relation »…« existiert
    nicht`, the statement after it)."""
    import time

    table = "missing_layouts25"
    conn.cursor().execute("SET lc_messages TO 'de_DE.UTF-8'")  # type: ignore[attr-defined]
    _error(conn, f"SELECT * FROM {table}")
    for _ in range(100):  # the logging collector writes it a moment later
        log = pg.log_file.read_text(encoding="utf-8", errors="replace")  # type: ignore[attr-defined]
        if table in log:
            break
        time.sleep(0.05)
    lines = log.splitlines()
    at = next(i for i, line in enumerate(lines) if table in line)
    return "\n".join(lines[at:at + 2]) + "\n"


def test_a_server_log_in_another_language_in_the_middle_of_a_long_calm_log(l10n_pg, session) -> None:  # noqa: F811
    text = _german_server_log(l10n_pg, session)
    assert "FEHLER:  " in text and "ERROR:" not in text, text
    alone = _seen(_events(text))
    assert [(line, level, label) for line, _, level, _, label in alone] == [(1, "ERROR", "MISSING_TABLE")]
    big, shift = _inside(text, 2 * MB, 3 * MB)
    assert _seen(_events(big), shift) == alone


def _triage(args: list[str], stdin: bytes | None = None) -> list[tuple[int, int, str, str]]:
    r = run_cli(["triage", *args, "--format", "json"], stdin=stdin)
    assert r.returncode in (0, 1), r.stderr
    return [(e["line"], e["end_line"], e["message"], e["label"]) for e in json.loads(r.stdout)["events"]]


def _worded(nbytes: int) -> str:
    """Calm lines whose bytes are every byte of supervisord's keys (` CRIT `, ` DEBG `, ` INFO spawned: `), none of
    the keys: the keys have no byte rare in the log, and are looked for in a block's head and tail only."""
    out: list[str] = []
    size = n = 0
    while size < nbytes:
        n += 1
        line = (f"2026-11-27T14:{n // 60 % 60:02d}:{n % 60:02d}Z INFO: CRITERIA FOR TRACK {n} RECORDED, DEBUGGING "
                f"BEGAN; workers spawned: {n % 7}\n")
        out.append(line)
        size += len(line)
    return "".join(out)


@pytest.mark.parametrize("calm", [_calm, _worded])
@pytest.mark.parametrize("entry", ["supervisord-crit-then-debg-records", "heroku-router-h12-four-timeouts",
                                   "r23l-pytest-summary-lines-after-captured-debug-cut"])
def test_a_pipe_and_a_file_give_the_same_events(tmp_path: Path, entry: str, calm: Callable[[int], str]) -> None:
    """triage of the log's file and of the same bytes on stdin (`-` among several inputs: its head read twice, its
    first block a short one): the same events, for the excerpt half a megabyte in (inside the log's first megabyte,
    probed whole) and 5 MB in (inside the second 4 MB block)."""
    (ex,) = [e for e in load_layouts() if e.id == entry]
    n_alone = len([e for e in _events(ex.text) if e.kind in ("error", "platform")])
    text = calm(MB // 2) + ex.text + "\n" + calm(9 * MB // 2) + ex.text + "\n" + calm(MB)
    if calm is _worded:  # (supervisord's keys are probed only: the log's first megabyte is probed whole)
        from mosaic_diag.logs.announce import Announcer
        from mosaic_diag.logs.reader import LAYOUT_KEYS

        shown = Announcer(LAYOUT_KEYS)
        shown.start(text.encode())
        assert len(shown.probed["supervisord"]) == len(LAYOUT_KEYS["supervisord"])
    log, rest = tmp_path / "app.log", tmp_path / "rest.log"
    log.write_text(text, encoding="utf-8")
    rest.write_text(_calm(1000), encoding="utf-8")
    from_file = _triage([str(log), str(rest)])
    assert len(from_file) == 2 * n_alone, from_file
    assert _triage(["-", str(rest)], stdin=text.encode()) == from_file
