"""The action ledger: which effectful action of which playbook ran for which incident, and when.

`playbook run --execute` runs inside `open_ledger(settings)`, which

- serialises concurrent runs of one repository: an exclusive `fcntl` lock on `.mosaic-diag/actions.lock`
  (and, with PostgreSQL, a session advisory lock, so runs on other machines wait too): two runs never
  read-modify-write the flags file at once;
- remembers each executed action under `playbook|fingerprint|action|target` (a webhook's URL as its host and a
  digest), so an action already done within the cool-down (`playbooks.cooldown`, seconds, default 900) is
  skipped: three identical runs post one alert and write one note.

The state lives in a PostgreSQL table (`mosaic_diag_actions`, created idempotently) when `DATABASE_URL`
is set and reachable, else in `.mosaic-diag/actions.json` (config `playbooks.state_file`). A database
that cannot be reached (the very incident being handled, perhaps) falls back to the file, and says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from mosaic_diag.platform.atomic import read_state, write_atomic
from mosaic_diag.platform.digest import key_hash
from mosaic_diag.platform.redact import redact_url, redact_with_dsn

TABLE = "mosaic_diag_actions"
KEEP = timedelta(days=7)  # entries older than this are dropped from the file
DEDUP_KINDS = frozenset({"http_post", "set_flag", "write_note"})  # effects that change something outside
_LOCK_KEY = 0x6D6F7361  # "mosa": the advisory lock of the action ledger


class Ledger(Protocol):
    """Where executed actions are remembered (the caller holds the run lock)."""

    where: str
    note: str | None

    def last_done(self, key: str) -> datetime | None: ...

    def record(self, key: str, when: datetime) -> None: ...


def action_key(playbook: str, fingerprint: str, action: str, target: str | None) -> str:
    """`playbook|fingerprint|action|target`; a URL target (the webhook, whose path is its credential) as its scheme
    and host and a digest of the whole, never as written: the key is kept in `actions.json` and the table."""
    if target and "://" in target:
        target = f"{redact_url(target)}#{key_hash(target.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
    return "|".join((playbook, fingerprint, action, target or ""))


@dataclass
class FileLedger:
    """The JSON state file; read once under the lock, written back atomically after every record."""

    path: Path
    note: str | None = None

    def __post_init__(self) -> None:
        self.where = str(self.path)
        self._done: dict[str, str] = {}
        try:
            data = json.loads(read_state(self.path).decode("utf-8") or "{}")
        except FileNotFoundError:
            data = {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            # a damaged state file must not block the alert about the incident: start afresh, say so
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            self.note = f"{self.path}: unreadable action state ({why}); starting afresh"
            data = {}
        done = data.get("done") if isinstance(data, Mapping) else None
        if isinstance(done, Mapping):
            self._done = {str(k): str(v) for k, v in done.items()}

    def last_done(self, key: str) -> datetime | None:
        return _parse(self._done.get(key))

    def record(self, key: str, when: datetime) -> None:
        self._done[key] = when.isoformat()
        horizon = when - KEEP
        self._done = {k: v for k, v in self._done.items() if (_parse(v) or when) >= horizon}
        write_atomic(self.path, json.dumps({"done": self._done}, indent=2, sort_keys=True) + "\n")


class PgLedger:
    """The PostgreSQL table; one connection for the run, holding the advisory lock until closed."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.where = f"postgresql table {TABLE}"
        self.note: str | None = None
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, done_at TIMESTAMPTZ NOT NULL)")
            cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))

    def last_done(self, key: str) -> datetime | None:
        """When the action of `key` last ran; None when not, or when the table cannot say (a table of that name made
        by someone else: `done_at` a `timestamp` without zone was a naive time, a TypeError traceback at the
        cool-down's test; of text, a string; no such column, a psycopg2 error): as a damaged state file, the run
        goes on afresh and says so, the alert about the incident is not held back."""
        import psycopg2

        try:
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT done_at::timestamptz FROM {TABLE} WHERE key = %s", (key,))
                row = cur.fetchone()
        except psycopg2.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            self.note = f"{self.where}: unreadable action state ({first}); starting afresh"
            return None
        when = row[0] if row else None
        if when is not None and not isinstance(when, datetime):
            self.note = f"{self.where}: unreadable action state (done_at is no time); starting afresh"
            return None
        return when if when is None or when.tzinfo else when.replace(tzinfo=UTC)

    def record(self, key: str, when: datetime) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"INSERT INTO {TABLE} (key, done_at) VALUES (%s, %s) "
                        "ON CONFLICT (key) DO UPDATE SET done_at = EXCLUDED.done_at", (key, when))

    def close(self) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        finally:
            self.conn.close()


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _pg(dsn: str, timeout: float = 5.0) -> tuple[PgLedger | None, str | None]:
    """A PostgreSQL ledger, or (None, why not) when the database cannot be reached."""
    try:
        import psycopg2

        # handed to PgLedger, which open_ledger closes when its block ends
        conn = psycopg2.connect(dsn, connect_timeout=max(2, int(timeout)),  # mosaic-diag: ignore[MD001]
                                application_name="mosaic-diag actions")
        conn.autocommit = True
        return PgLedger(conn), None
    except Exception as exc:  # noqa: BLE001 - psycopg2.Error or a malformed DSN: fall back to the file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return None, redact_with_dsn(first, dsn)


@contextmanager
def open_ledger(state_file: Path, database_url: str | None = None) -> Iterator[Ledger]:
    """The ledger of one `--execute` run, with the run lock held for as long as the block runs."""
    import fcntl

    lock_path = state_file.with_suffix(".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        from mosaic_diag.platform.atomic import open_regular

        lock = open(open_regular(lock_path, os.O_RDWR | os.O_CREAT, what="the action lock"), "a+")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise OSError(exc.errno, f"cannot open the action lock ({exc.strerror})", str(lock_path)) from exc
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # concurrent runs wait here, one after the other
        pg, why = _pg(database_url) if database_url else (None, None)
        if pg is not None:
            try:
                yield pg
            finally:
                pg.close()
            return
        ledger = FileLedger(state_file)
        if why:
            ledger.note = "; ".join(filter(None, (ledger.note, f"action state kept in {state_file}: "
                                                                 f"the database is unreachable ({why})")))
        yield ledger
    finally:
        lock.close()  # closing releases the flock
