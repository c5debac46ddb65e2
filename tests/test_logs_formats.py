"""stdlib logging's records in the formats apps configure (another `datefmt`, a zone after a space, the level
first as in Django's "verbose" format, a time of day alone, bracketed levels): each record is read as a record, so
that an exception's traceback ends where the next record starts. The records and tracebacks are real: written by
`logging` around a real psycopg2 refusal."""

from __future__ import annotations

import io
import logging

import pytest

from tests.test_logs_support import BLOCKS, logging_to, read

FORMATS = [
    ("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z", True),
    ("%(asctime)s [%(levelname)s] %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S %z", True),
    ("[%(asctime)s] %(levelname)s in %(module)s: %(message)s", "%d/%b/%Y %H:%M:%S", True),
    ("%(asctime)s - %(levelname)s - %(name)s - %(message)s", None, True),
    ("%(levelname)s %(asctime)s %(module)s %(process)d %(thread)d %(message)s", None, True),  # Django's "verbose"
    ("%(asctime)s.%(msecs)03d %(levelname)-8s %(message)s", "%H:%M:%S", False),
    ("%(asctime)s [%(levelname)-8s] %(name)s - %(message)s", "%Y/%m/%d %H:%M:%S", True),
]


def _log(fmt: str, datefmt: str | None, port: int) -> str:
    import psycopg2

    buf = io.StringIO()
    with logging_to(logging.StreamHandler(buf), "test_logs_formats", fmt, datefmt) as log:
        log.info("serving")
        try:
            psycopg2.connect(host="127.0.0.1", port=port, dbname="m", user="u", password="p", connect_timeout=5)
        except psycopg2.OperationalError:
            log.exception("session store unavailable")
        log.warning("falling back to SQLite")
    return buf.getvalue()


@pytest.mark.parametrize("block_size", BLOCKS)
@pytest.mark.parametrize(("fmt", "datefmt", "dated"), FORMATS)
def test_records_of_configured_formats(fmt: str, datefmt: str | None, dated: bool, block_size: int | None,
                                       refused_port: int) -> None:
    text = _log(fmt, datefmt, refused_port)
    lines = text.splitlines()
    warning = next(i for i, ln in enumerate(lines, 1) if "falling back to SQLite" in ln)
    events, stats = read(text.encode(), **({} if block_size is None else {"block_size": block_size}))
    (e,) = [e for e in events if e.kind == "error"]
    assert (e.line, e.level) == (2, "ERROR") and e.end_line < warning
    assert e.message.endswith("session store unavailable")
    assert e.traceback is not None and "psycopg2.OperationalError: connection to server at" in e.traceback
    assert "falling back" not in e.traceback
    assert stats.levels["INFO"] == 1 and stats.levels["WARNING"] == 1 and stats.levels["ERROR"] == 1
    assert (e.timestamp is not None) or not dated
