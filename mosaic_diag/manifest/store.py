"""Manifest history: which commit was deployed when, and which ones were rolled away from.

Two stores with one interface: PostgreSQL (a table created idempotently, used when
`DATABASE_URL` is set) and a JSON-lines file (default `.mosaic-diag/deploys.jsonl`, config
`deploy_store`). Records are only ever appended; a rollback appends a `bad` record for the
commit it left, so `previous()` skips it. `mosaic-diag deploy` records `pending` before it pushes,
then `deployed` (judged good) or `bad`, `superseded` (a newer deploy replaced it before it was judged) or
`unjudged` (never seen serving within the wait, or nothing could judge it); only `deployed` and `rollback`
records are rollback targets, and only `bad` ones are refused as targets.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from mosaic_diag.errors import ConfigError, UnreachableError
from mosaic_diag.manifest.model import Manifest, full_sha
from mosaic_diag.platform.redact import redact_dsn, redact_text, redact_with_dsn

DEFAULT_FILE = Path(".mosaic-diag/deploys.jsonl")
TABLE = "mosaic_diag_deploys"
STATUSES = ("pending", "deployed", "rollback", "bad", "aborted", "superseded", "unjudged")
GOOD_STATUSES = ("deployed", "rollback")  # what served and was not rolled away from: a rollback target
CREATE_SQL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id BIGSERIAL PRIMARY KEY,
    recorded_at TIMESTAMPTZ NOT NULL,
    commit_sha TEXT NOT NULL,
    branch TEXT,
    status TEXT NOT NULL,
    note TEXT,
    manifest JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_recorded_at ON {TABLE} (recorded_at DESC, id DESC);
"""

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class DeployRecord:
    """One line of deploy history."""

    id: int
    recorded_at: str
    commit: str
    branch: str | None
    status: str
    note: str | None
    manifest: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "recorded_at": self.recorded_at, "commit": self.commit, "branch": self.branch,
                "status": self.status, "note": self.note}


class DeployStore(Protocol):
    """Where deploy records live."""

    description: str

    def record(self, manifest: Manifest, *, status: str = "deployed", note: str | None = None) -> DeployRecord: ...

    def history(self, limit: int | None = None) -> list[DeployRecord]: ...


def previous_deploy(records: Iterable[DeployRecord], current_commit: str | None) -> DeployRecord | None:
    """The newest good record (`deployed` or `rollback`: not `bad`; not `pending`, `superseded` or `unjudged`,
    deploys never judged; not `aborted`, one never pushed; not the current commit); records newest first."""
    records = list(records)
    bad = {r.commit for r in records if r.status == "bad"}
    for r in records:
        if r.status in GOOD_STATUSES and r.commit not in bad and r.commit != current_commit:
            return r
    return None


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ConfigError(f"unknown deploy status {status!r}; one of {', '.join(STATUSES)}")


def checked_record(row: Mapping[str, Any], *, names: Mapping[str, str] | None = None,
                   null: str = "not text") -> DeployRecord:
    """The DeployRecord of one stored row (a JSON line's object, a table row by column), or a ValueError saying
    what is wrong with it, one line: a missing or NULL field, a field of the wrong type, a commit that is no full
    commit id, a time that is none, a status no version ever wrote (a hand-typed `Bad` misread as a good deploy
    is worse than a refusal). `names` gives the fields' names in the store (`commit` is `commit_sha` in the
    table); `null` is how a missing required value is said there."""
    def name(key: str) -> str:
        return (names or {}).get(key, key)

    missing = [name(k) for k in ("id", "recorded_at", "commit", "status") if k not in row]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    try:
        rec_id = int(row["id"])
    except (TypeError, ValueError):
        raise ValueError(f"{name('id')} {str(row['id'])[:40]!r} is not a whole number") from None
    when = row["recorded_at"]
    if isinstance(when, datetime):
        when = when.isoformat()
    for key in ("recorded_at", "commit", "status", "branch", "note"):
        value = when if key == "recorded_at" else row.get(key)
        if not isinstance(value, str) and (value is not None or key not in ("branch", "note")):
            raise ValueError(f"{name(key)} is {null if value is None else 'not text'}")
    try:
        datetime.fromisoformat(when)
    except ValueError:  # (history is ordered by it: a garbled time would put an old deploy first)
        raise ValueError(f"{name('recorded_at')} {when[:80]!r} is not an ISO-8601 time") from None
    commit, status = row["commit"], row["status"]
    if not full_sha(commit):  # (a ref, `main~1`, would be rolled back to as whatever it names then)
        raise ValueError(f"{name('commit')} {commit[:80]!r} is not a full commit id (40 or 64 hex digits)")
    if status not in STATUSES:
        raise ValueError(f"{name('status')} {status[:80]!r} is not one of {', '.join(STATUSES)}")
    manifest = row.get("manifest")
    if isinstance(manifest, str | bytes):  # (a text column of a table made by hand)
        try:
            manifest = json.loads(manifest)
        except ValueError:
            raise ValueError(f"{name('manifest')} is not JSON") from None
        except RecursionError:
            raise ValueError(f"{name('manifest')} is JSON nested too deeply") from None
    if not isinstance(manifest or {}, dict):
        raise ValueError(f"{name('manifest')} is not a mapping")
    return DeployRecord(rec_id, when, commit, row.get("branch"), status, row.get("note"), manifest or {})


def _drop_torn_tail(fh: Any) -> None:
    """Cut a last line without its newline (a write cut off by a crash) from the file open for appending
    (the caller holds its lock), so that the next record is not glued to it."""
    size = fh.seek(0, 2)
    if size == 0:
        return
    fd = fh.fileno()
    if os.pread(fd, 1, size - 1) == b"\n":
        return
    pos = size
    while pos > 0:
        start = max(0, pos - 65536)
        nl = os.pread(fd, pos - start, start).rfind(b"\n")
        if nl >= 0:
            fh.truncate(start + nl + 1)
            return
        pos = start
    fh.truncate(0)


class FileDeployStore:
    """Deploy history in a JSON-lines file (one `write` per record, append only, under an exclusive lock; a
    last line cut off by a crash is no record, and the next write drops it)."""

    def __init__(self, path: Path, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.path = path
        self.clock = clock
        self.description = f"file {path}"

    def _read(self) -> list[DeployRecord]:
        from mosaic_diag.platform.atomic import read_state

        out = []
        try:
            data = read_state(self.path)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ConfigError(f"cannot read the deploy history: {exc.strerror or exc}", path=str(self.path)) from None
        lines = data.split(b"\n")
        lines.pop()  # after the last newline: nothing, or a write cut off (or under way): a record is a whole line
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line.decode("utf-8"))
                if not isinstance(d, dict):
                    raise ValueError("not a JSON object")
                out.append(checked_record(d))
            except UnicodeDecodeError as exc:
                raise ConfigError(f"bad deploy record: not UTF-8 text ({exc.reason})", path=str(self.path),
                                  line=n) from exc
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"bad deploy record: {exc}", path=str(self.path), line=n) from exc
            except RecursionError as exc:
                raise ConfigError("bad deploy record: JSON nested too deeply", path=str(self.path), line=n) from exc
        return out

    def record(self, manifest: Manifest, *, status: str = "deployed", note: str | None = None) -> DeployRecord:
        import fcntl

        _check_status(status)
        from mosaic_diag.platform.atomic import open_regular, synced

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(open_regular(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, what="the deploy history"),
                  "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # concurrent writers: one read-then-append at a time
            _drop_torn_tail(fh)
            existing = self._read()
            rec = DeployRecord(max((r.id for r in existing), default=0) + 1, self.clock().isoformat(),
                               manifest.commit, manifest.branch, status, redact_text(note) if note else None,
                               manifest.to_dict())
            line = json.dumps({**rec.to_dict(), "manifest": dict(rec.manifest)}, sort_keys=True)
            fh.write((line + "\n").encode("utf-8"))
            synced(fh)
        return rec

    def history(self, limit: int | None = None) -> list[DeployRecord]:
        records = sorted(self._read(), key=lambda r: (r.recorded_at, r.id), reverse=True)
        return records[:limit] if limit else records


class PostgresDeployStore:
    """Deploy history in a PostgreSQL table (created on first use, idempotently)."""

    def __init__(self, dsn: str, clock: Clock = lambda: datetime.now(UTC), *, timeout: float | None = None) -> None:
        """`timeout` (seconds) bounds connecting and each statement; None: a 5 s connect timeout only."""
        self.dsn = dsn
        self.clock = clock
        self.timeout = timeout
        self.shown_dsn = redact_with_dsn(redact_dsn(dsn), dsn)
        self.description = f"postgresql table {TABLE} at {self.shown_dsn}"

    def _run(self, sql: str, params: tuple[Any, ...] = (), fetch: bool = False,
             create: bool = True) -> list[tuple[Any, ...]]:
        """Run one statement; with `create`, make the table first, else a missing table reads as empty.

        Every database error becomes a one-line DiagError that never shows the DSN's password."""
        import psycopg2
        import psycopg2.errors

        conn = None
        start = time.monotonic()
        try:
            conn = psycopg2.connect(self.dsn, connect_timeout=max(1, int(self.timeout)) if self.timeout else 5)
            with conn, conn.cursor() as cur:
                if self.timeout:
                    left_ms = int((self.timeout - (time.monotonic() - start)) * 1000)
                    cur.execute("SET LOCAL statement_timeout = %s", (max(100, left_ms),))
                if create:
                    cur.execute(CREATE_SQL)
                cur.execute(sql, params)
                return cur.fetchall() if fetch else []
        except psycopg2.errors.UndefinedTable:
            if create:
                raise
            return []
        except psycopg2.OperationalError as exc:
            raise UnreachableError(f"deploy store {self.shown_dsn} unreachable: {self._first_line(exc)}") from None
        except psycopg2.Error as exc:
            if conn is None:  # libpq refused the DSN itself (and quotes it)
                raise ConfigError(f"deploy store: not a valid PostgreSQL connection string (DATABASE_URL): "
                                  f"{self._first_line(exc)}") from None
            raise ConfigError(f"deploy store {self.shown_dsn}: {self._first_line(exc)}") from None
        finally:
            if conn is not None:
                conn.close()

    def _first_line(self, exc: BaseException) -> str:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return redact_with_dsn(first, self.dsn)

    def record(self, manifest: Manifest, *, status: str = "deployed", note: str | None = None) -> DeployRecord:
        _check_status(status)
        when = self.clock()
        note = redact_text(note) if note else None
        rows = self._run(
            f"INSERT INTO {TABLE} (recorded_at, commit_sha, branch, status, note, manifest) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (when, manifest.commit, manifest.branch, status, note, json.dumps(manifest.to_dict(), sort_keys=True)),
            fetch=True)
        return DeployRecord(int(rows[0][0]), when.isoformat(), manifest.commit, manifest.branch, status, note,
                            manifest.to_dict())

    def history(self, limit: int | None = None) -> list[DeployRecord]:
        rows = self._run(f"SELECT id, recorded_at, commit_sha, branch, status, note, manifest FROM {TABLE} "
                         "ORDER BY recorded_at DESC, id DESC" + (" LIMIT %s" if limit else ""),
                         (limit,) if limit else (), fetch=True, create=False)
        out = []
        for r in rows:  # (a row written by hand or by an older version is checked as a file line is)
            row = dict(zip(("id", "recorded_at", "commit", "branch", "status", "note", "manifest"), r, strict=True))
            try:
                out.append(checked_record(row, names={"commit": "commit_sha"}, null="NULL"))
            except ValueError as exc:
                shown = f"id {row['id']}" if isinstance(row["id"], int) else f"{len(out) + 1} in history order"
                raise ConfigError(f"deploy store {self.description}: row {shown}: bad deploy record: {exc}; fix or "
                                  "delete that row") from None
        return out


def configured_store(root: Path, env: Mapping[str, str], *, path: Path | None = None,
                     clock: Clock | None = None, timeout: float | None = None) -> DeployStore:
    """The store `mosaic-diag manifest record` / `rollback` use for the repository at `root`:
    PostgreSQL when DATABASE_URL is set, else the file of config `deploy_store` (or `path`)."""
    from mosaic_diag.config import load_config

    if path is None:  # (Config.path: a NUL is a ConfigError at its file:line, not a ValueError at the first read)
        config = load_config(root, env)
        path = config.path("deploy_store", str(DEFAULT_FILE))
        if path is None:
            raise config.error("deploy_store", f"is empty: give a file (default {DEFAULT_FILE}) or leave the "
                               "setting out")
    file = path
    kw = {"clock": clock} if clock is not None else {}
    return open_store(root, database_url=env.get("DATABASE_URL") or None, path=file, timeout=timeout, **kw)


def open_store(root: Path, *, database_url: str | None = None, path: Path | None = None,
               clock: Clock = lambda: datetime.now(UTC), timeout: float | None = None) -> DeployStore:
    """PostgreSQL when a database URL is given (`timeout`: see PostgresDeployStore), else the file store
    under `root`."""
    if database_url:
        return PostgresDeployStore(database_url, clock, timeout=timeout)
    p = path or DEFAULT_FILE
    return FileDeployStore(p if p.is_absolute() else root / p, clock)
