"""Build logs for the reader tests from examples/logshapes.py and real tracebacks."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

from examples.logshapes import access_message, format_raw, format_record
from mosaic_diag.logs import RawEvent, ReadStats, read_events
from tests.isolation import loggers_kept

T0 = datetime(2026, 11, 27, 14, 3, 11, 123456, tzinfo=UTC)


@dataclass
class Rec:
    level: str
    logger: str
    message: str
    exc: str | None = None
    instance: str = "srv-d0abc-7f9c"
    raw: list[str] | None = None  # raw process lines instead of a logging record


@dataclass
class Span:
    rec: Rec
    line: int
    end_line: int
    ts: datetime


def render(shape: str, recs: list[Rec], *, interleave: bool = False) -> tuple[bytes, list[Span]]:
    """The log text of `recs` in `shape` and where each record landed (1-based lines).

    With `interleave`, the lines of records of different instances alternate one by one (as the
    Render log API returns them); records of one instance stay in order.
    """
    per: dict[str, list[tuple[int, str]]] = {}
    stamps = []
    rendered = []
    for i, rec in enumerate(recs):
        ts = T0 + timedelta(seconds=i)
        stamps.append(ts)
        if rec.raw is not None:
            lines = format_raw(shape, ts=ts, lines=rec.raw, level=rec.level, instance=rec.instance, seq=i)
        else:
            lines = format_record(shape, ts=ts, level=rec.level, logger=rec.logger, message=rec.message,
                                  exc_text=rec.exc, instance=rec.instance, seq=i)
        rendered.append(lines)
        per.setdefault(rec.instance, []).extend((i, ln) for ln in lines)
    out: list[tuple[int, str]] = []
    if interleave:
        queues = [list(reversed(v)) for v in per.values()]
        while any(queues):
            for q in queues:
                if q:
                    out.append(q.pop())
    else:
        for i, lines in enumerate(rendered):
            out.extend((i, ln) for ln in lines)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for n, (i, _) in enumerate(out, 1):
        first.setdefault(i, n)
        last[i] = n
    spans = [Span(rec, first[i], last[i], stamps[i]) for i, rec in enumerate(recs)]
    return ("\n".join(ln for _, ln in out) + "\n").encode(), spans


def read(data: bytes, **kw) -> tuple[list[RawEvent], ReadStats]:
    stats = ReadStats()
    events = list(read_events(io.BytesIO(data), stats, **kw))
    return events, stats


def access(status: int = 500) -> Rec:
    phrase = {200: "OK", 500: "Internal Server Error"}[status]
    return Rec("INFO", "uvicorn.access", access_message("10.0.0.1:51234", "POST", "/wimd/ask", status, phrase))


BLOCKS = (None, 7)  # a text read whole, and in 7-byte blocks


def error_events(text: str, block_size: int | None = None) -> list[RawEvent]:
    """The error events of `text`, in line order (an event is emitted when its stream's next record closes it:
    streams interleave)."""
    kw = {} if block_size is None else {"block_size": block_size}
    events, _ = read(text.encode(), **kw)
    return sorted((e for e in events if e.kind == "error"), key=lambda e: e.line)


def pg_refused() -> Exception:
    """psycopg2's real OperationalError for a loopback port that refuses (held bound while connecting, so no
    other test's server can take it)."""
    import socket

    import psycopg2

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        try:
            psycopg2.connect(host="127.0.0.1", port=s.getsockname()[1], dbname="mosaic", user="mosaic",
                             password="pw", connect_timeout=3)
        except psycopg2.OperationalError as exc:
            return exc
    raise AssertionError("the closed port accepted a connection")


def one_second(handler: logging.Handler) -> logging.Handler:
    """`handler` with every record dated in one second (a clock that stands still: RichHandler leaves the time
    column blank while the second repeats, and a busy machine's second may turn between two records)."""
    def same_second(record: logging.LogRecord) -> bool:
        record.created = 1_796_551_200.25  # 2026-12-06 10:40:00.25 UTC
        return True

    handler.addFilter(same_second)
    return handler


@contextmanager
def logging_to(handler: logging.Handler, name: str, fmt: str | None = None,
               datefmt: str | None = None) -> Iterator[logging.Logger]:
    """The logger `name` writing at INFO and above to `handler` alone (formatted with `fmt` when given), for the
    length of the block; the handler is taken off (and closed) after it."""
    if fmt is not None:
        handler.setFormatter(logging.Formatter(fmt, datefmt))
    with loggers_kept(name) as (log,):  # (its propagation and level put back: a later test may log through it)
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        try:
            yield log
        finally:
            handler.close()


LOGURU = "loguru"  # `logged_records`' fmt for loguru's default format


def logged_records(lines: list[tuple[str, str]], fmt: str | None) -> str:
    """`lines` ((level, message) each) logged one record each through a real formatter: uvicorn's own logging
    config (`fmt` None: its `%(levelprefix)s %(message)s`, `ERROR:    `), a stdlib formatter of `fmt`, or loguru's
    default format (`fmt` LOGURU)."""
    import json
    import logging.config

    out = io.StringIO()
    if fmt == LOGURU:
        from loguru import logger

        sink = logger.add(out, colorize=False)
        try:
            for level, msg in lines:
                logger.log(level, msg)
        finally:
            logger.remove(sink)
        return out.getvalue()
    from uvicorn.config import LOGGING_CONFIG

    config = json.loads(json.dumps(LOGGING_CONFIG))
    config["formatters"]["default"]["use_colors"] = False
    if fmt is not None:
        config["formatters"]["default"] = {"format": fmt}
    config["handlers"]["default"] = {"class": "logging.StreamHandler", "formatter": "default", "stream": out}
    # (propagation said outright: a test before this one in the process may have left it off)
    config["loggers"]["uvicorn.error"] = {"level": "INFO", "propagate": True}
    # the three loggers the config sets (`uvicorn` and `uvicorn.access` made not to propagate, the access one given a
    # handler on the stdout of the moment) put back as they were
    with loggers_kept("uvicorn", "uvicorn.error", "uvicorn.access") as (_, log, _):
        logging.config.dictConfig(config)
        for level, msg in lines:
            log.log(logging.getLevelName(level), msg)
    return out.getvalue()


def logged_error(message: str, logger: str) -> str:
    """`message` as the stdlib logger `logger` writes it at ERROR
    (`%(asctime)s %(levelname)s %(name)s: %(message)s`)."""
    buf = io.StringIO()
    with logging_to(logging.StreamHandler(buf), logger, "%(asctime)s %(levelname)s %(name)s: %(message)s") as log:
        log.error(message)
    return buf.getvalue()


def triage_labels(text: str, classifier: object = None) -> list[str]:
    """The labels triage gives the error and platform events of the log `text`, in order."""
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.triage.events import EventClassifier

    classify = EventClassifier(classifier or Classifier.default())  # type: ignore[arg-type]
    return [classify.event(raw).label for raw in read_events(io.BytesIO(text.encode()), ReadStats())
            if raw.kind in ("error", "platform")]


def labels_after_error_record(text: str) -> list[str]:
    """The labels triage gives the error events of a log where `text` follows an app's ERROR record."""
    return triage_labels("2026-12-07 10:00:00,000 ERROR app.worker: Job failed\n" + text + "\n")


def module_at(path: Path, source: str, name: str) -> ModuleType:
    """The module `name` of `source` written to `path` (its folders made) and imported from there: its frames name
    that path."""
    import importlib.util

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
