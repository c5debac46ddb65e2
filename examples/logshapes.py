"""Writers for the log shapes mosaic-diag reads (contract 3 of the shared fixtures).

`format_record` renders ONE log record (its message line and, when given, the traceback that
`traceback.format_exception` printed for it) as the lines it takes in a given shape:

- ``render-text``: Render's text export, every line prefixed with an ISO-8601 timestamp.
- ``plain``: stdlib logging, ``2026-11-27 14:03:11,123 ERROR api.storage: msg`` (with asctime, when
  `ts` is given) or ``ERROR:api.storage:msg`` (basicConfig's default format, when `ts` is None).
- ``uvicorn``: uvicorn's own formatter: ``ERROR:    Exception in ASGI application``, access lines
  ``INFO:     10.0.0.1:51234 - "POST /wimd/ask HTTP/1.1" 500 Internal Server Error``; no timestamp.
- ``json``: one object a line, in three dialects chosen by `seq` % 3: structlog (``event``,
  ``exception``), python-json-logger (``message``, ``exc_info``) and a ``severity``/``stack_trace`` one.
- ``render-api``: Render's log API entries (``GET /v1/logs``, ``render logs -o json``): ``id``,
  ``timestamp``, ``message``, ``labels`` (resource, instance, type, level); one entry per output line,
  so a traceback takes one entry per line.
- ``syslog``: Render log streams, RFC 5424 ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG``, one
  message per output line; HOST is the instance, APP is ``app``.

Inside the process (render-text, render-api, syslog) records of uvicorn's loggers are printed the way
uvicorn prints them, others the way ``logging.basicConfig()`` does (``LEVEL:logger:message``).
`make_tracebacks` produces real traceback texts by raising real exceptions.
"""

from __future__ import annotations

import json
import traceback
import zlib
from datetime import UTC, datetime

SHAPES = ("render-text", "plain", "uvicorn", "json", "render-api", "syslog")

# RFC 5424 severities; facility local0 (16) like Render's log streams.
_SYSLOG_SEVERITY = {"CRITICAL": 2, "ERROR": 3, "WARNING": 4, "INFO": 6, "DEBUG": 7}
_FACILITY = 16


def iso(ts: datetime) -> str:
    """ISO-8601 in UTC with microseconds and a ``Z`` (the way Render prints timestamps)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def asctime(ts: datetime) -> str:
    """logging's default asctime: ``2026-11-27 14:03:11,123``."""
    return ts.strftime("%Y-%m-%d %H:%M:%S") + f",{ts.microsecond // 1000:03d}"


def uvicorn_prefix(level: str) -> str:
    """uvicorn's `levelprefix` plus the space of its format: ``INFO:     ``, ``ERROR:    ``."""
    return f"{level}:" + " " * (8 - len(level)) + " "


def access_message(client: str, method: str, path: str, status: int, phrase: str) -> str:
    """The message of a uvicorn access record: ``10.0.0.1:51234 - "GET / HTTP/1.1" 200 OK``."""
    return f'{client} - "{method} {path} HTTP/1.1" {status} {phrase}'


def _exc_lines(exc_text: str | None) -> list[str]:
    if not exc_text:
        return []
    return exc_text.rstrip("\n").split("\n")


def _process_line(level: str, logger: str, message: str) -> str:
    """The line a process inside Render prints for a record (no timestamp: Render adds one)."""
    if logger.startswith("uvicorn"):
        return uvicorn_prefix(level) + message
    return f"{level}:{logger}:{message}"


def _need_ts(shape: str, ts: datetime | None) -> datetime:
    if ts is None:
        raise ValueError(f"shape {shape!r} needs a timestamp")
    return ts


def format_record(shape: str, *, ts: datetime | None, level: str, logger: str, message: str,
                  exc_text: str | None = None, instance: str = "srv-d0abc-7f9c", seq: int = 0) -> list[str]:
    """The lines (without newlines) that one log record takes in `shape`."""
    level = level.upper()
    if shape == "plain":
        first = f"{asctime(ts)} {level} {logger}: {message}" if ts is not None else f"{level}:{logger}:{message}"
        return [first, *_exc_lines(exc_text)]
    if shape == "uvicorn":
        return [uvicorn_prefix(level) + message, *_exc_lines(exc_text)]
    if shape == "json":
        return [_json_record(ts, level, logger, message, exc_text, seq)]
    lines = [_process_line(level, logger, message), *_exc_lines(exc_text)]
    return format_raw(shape, ts=ts, lines=lines, level=level, instance=instance, seq=seq)


def format_raw(shape: str, *, ts: datetime | None, lines: list[str], level: str = "INFO",
               instance: str = "srv-d0abc-7f9c", seq: int = 0) -> list[str]:
    """Raw output lines of a process (or of Render itself, e.g. ``==> Exited with status 1``) in `shape`.

    For ``plain``, ``uvicorn`` and ``json`` (no wrapper around a process's own line) the lines are
    returned as they are.
    """
    level = level.upper()
    if shape in ("plain", "uvicorn", "json"):
        return list(lines)
    if shape == "render-text":
        stamp = iso(_need_ts(shape, ts))
        return [f"{stamp} {line}" for line in lines]
    if shape == "render-api":
        stamp = iso(_need_ts(shape, ts))
        resource = instance.rsplit("-", 1)[0]
        labels = [{"name": "resource", "value": resource}, {"name": "instance", "value": instance},
                  {"name": "type", "value": "app"}, {"name": "level", "value": level.lower()}]
        return [json.dumps({"id": f"{seq:08x}-{i:04x}-4c1d-9a7e-{zlib.crc32(instance.encode()):012d}",
                            "timestamp": stamp, "message": line, "labels": labels},
                           ensure_ascii=False, separators=(",", ":"))
                for i, line in enumerate(lines)]
    if shape == "syslog":
        stamp = iso(ts) if ts is not None else "-"
        pri = _FACILITY * 8 + _SYSLOG_SEVERITY.get(level, 6)
        procid = 10 + sum(map(ord, instance)) % 90
        return [f"<{pri}>1 {stamp} {instance} app {procid} - - {line}" for line in lines]
    raise ValueError(f"unknown shape {shape!r} (known: {', '.join(SHAPES)})")


def _json_record(ts: datetime | None, level: str, logger: str, message: str, exc_text: str | None,
                 seq: int) -> str:
    dialect = seq % 3
    obj: dict[str, object]
    if dialect == 0:  # structlog: JSONRenderer after add_log_level, TimeStamper(fmt="iso"), format_exc_info
        obj = {"event": message, "logger": logger, "level": level.lower()}
        if ts is not None:
            obj["timestamp"] = iso(ts)
        if exc_text:
            obj["exception"] = exc_text.rstrip("\n")
    elif dialect == 1:  # python-json-logger with "%(asctime)s %(levelname)s %(name)s %(message)s"
        obj = {}
        if ts is not None:
            obj["asctime"] = asctime(ts)
        obj.update({"levelname": level, "name": logger, "message": message})
        if exc_text:
            obj["exc_info"] = exc_text.rstrip("\n")
    else:  # a "severity" / "stack_trace" dialect (GCP-style structured logging)
        obj = {"severity": level, "logger": logger, "msg": message}
        if ts is not None:
            obj["time"] = iso(ts)
        if exc_text:
            obj["stack_trace"] = exc_text.rstrip("\n")
    return json.dumps(obj, ensure_ascii=False)


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def make_tracebacks(*, closed_port: int | None = None) -> dict[str, str]:
    """Real traceback texts, produced by raising real exceptions now.

    Keys: ``json_decode`` (json.loads of bad text), ``chained_from`` (``raise X from e``),
    ``chained_during`` (an exception while handling another), ``key_error`` (``os.environ[...]``),
    ``psycopg2_refused`` (psycopg2.connect to a closed loopback port; `closed_port` or a port just
    freed), ``zero_division`` (with a Python 3.11 ``^^^^`` marker line).
    """
    import os
    import socket

    out: dict[str, str] = {}

    def load_steps(text: str) -> object:
        return json.loads(text)

    try:
        load_steps('{"steps": [1, 2,, 3]}')
    except json.JSONDecodeError as e:
        out["json_decode"] = _format(e)

    def save_session(data: dict[str, object]) -> None:
        try:
            data["user"]["id"]  # type: ignore[index]
        except KeyError as e:
            raise RuntimeError("session save failed") from e

    try:
        save_session({})
    except RuntimeError as e:
        out["chained_from"] = _format(e)

    try:
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            [][3]  # noqa: B018
    except IndexError as e:
        out["chained_during"] = _format(e)

    try:
        os.environ["MOSAIC_DIAG_SURELY_MISSING_VAR"]  # noqa: B018
    except KeyError as e:
        out["key_error"] = _format(e)

    def ratio(a: int, b: int) -> float:
        return a / b + a * b

    try:
        ratio(1, 0)
    except ZeroDivisionError as e:
        out["zero_division"] = _format(e)

    import psycopg2

    with socket.socket() as held:  # a port bound and never listening refuses, and no other server can take it
        if closed_port is None:
            held.bind(("127.0.0.1", 0))
            closed_port = held.getsockname()[1]
        try:
            psycopg2.connect(host="127.0.0.1", port=closed_port, dbname="mosaic", user="mosaic",
                             password="x", connect_timeout=3)
        except psycopg2.OperationalError as e:
            out["psycopg2_refused"] = _format(e)
    return out
