"""The sqlite3 module's own messages are SQLite evidence (SQLITE_FALLBACK_ACTIVE): with their type
(`sqlite3.ProgrammingError: Cannot operate on a closed database.`) and, as the taxonomy allows for SQLite's own
phrasings, logged without it (a bare `str(e)` under an ERROR record). They are not SQL_DIALECT_ERROR: that label's
scope is SQLite- or MySQL-style SQL reaching PostgreSQL, and a SQLite error means the fallback whatever its text.

Every message is raised here by the real sqlite3 module.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.test_classify_evidence import raised, text_of
from tests.test_logs_support import logged_error, triage_labels

LABEL = "SQLITE_FALLBACK_ACTIVE"


def _closed_database() -> None:
    db = sqlite3.connect(":memory:")
    db.close()
    db.execute("SELECT 1")


def _closed_cursor() -> None:
    cur = sqlite3.connect(":memory:").cursor()
    cur.close()
    cur.execute("SELECT 1")


def _closed_blob() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE files (data BLOB)")
    db.execute("INSERT INTO files VALUES (zeroblob(4))")
    blob = db.blobopen("files", "data", 1)
    blob.close()
    blob.read()


def _sessions() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE sessions (id TEXT, user_data TEXT)")
    return db


def _in_another_thread() -> None:
    db = sqlite3.connect(":memory:")
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: errors.append(raised(lambda: db.execute("SELECT 1"))))
    thread.start()
    thread.join()
    raise errors[0]


def _recursive_cursor() -> None:
    db = sqlite3.connect(":memory:")
    cur = db.cursor()

    class Step:
        pass

    def adapt(_: Step) -> int:
        cur.execute("SELECT 1")
        return 1

    sqlite3.register_adapter(Step, adapt)
    try:
        cur.execute("SELECT ?", (Step(),))
    finally:
        del sqlite3.adapters[(Step, sqlite3.PrepareProtocol)]


CASES: dict[str, Callable[[], object]] = {
    "closed database": _closed_database,
    "closed cursor": _closed_cursor,
    "closed blob": _closed_blob,
    "two statements": lambda: _sessions().execute("DELETE FROM sessions; DELETE FROM users"),
    "too few bindings": lambda: _sessions().execute("INSERT INTO sessions VALUES (?, ?)", ("s1",)),
    "too many bindings": lambda: _sessions().execute("INSERT INTO sessions VALUES (?, ?)", ("s1", "{}", "x")),
    "named binding missing": lambda: _sessions().execute("INSERT INTO sessions VALUES (:id, :data)", {"id": "s1"}),
    "unnamed binding from a dict": lambda: _sessions().execute("INSERT INTO sessions VALUES (?, ?)", {"id": "s1"}),
    "unsupported type": lambda: _sessions().execute("INSERT INTO sessions VALUES (?, ?)", ("s1", {"step": 2})),
    "another thread": _in_another_thread,
    "executemany a query": lambda: _sessions().executemany("SELECT ?", [("s1",)]),
    "recursive cursor": _recursive_cursor,
}


def _logged(message: str, logger: str) -> str:
    return logged_error(message, logger)


def _triage_labels(text: str) -> list[str]:
    return triage_labels(text)


@pytest.mark.parametrize("case", list(CASES))
def test_the_sqlite3_modules_own_messages_are_the_sqlite_fallback(case: str) -> None:
    exc = raised(CASES[case])
    assert type(exc).__module__ == "sqlite3", exc
    clf = Classifier.default()
    assert clf.classify_exception(exc).label == LABEL
    assert clf.classify_text(text_of(exc)).label == LABEL
    # without the type: its message alone, under an ERROR record of any logger, and inside a triaged log
    message = str(exc)
    assert "sqlite" not in message.lower() or case == "another thread", message
    assert clf.classify_text(message).label == LABEL, message
    assert clf.classify_text(f"Saving the session failed: {message}", logger="app.api", level="ERROR").label == LABEL
    assert _triage_labels(_logged(message, "app.storage")) == [LABEL]
    assert _triage_labels(_logged(f"Saving the session failed: {message}", "app.api")) == [LABEL]
