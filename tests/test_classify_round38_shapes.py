"""Shapes of round 38 (tests/realworld/README.md, "Held-out round 38"): SQLite's words for a function or a virtual
table's module it does not have (a PostgreSQL or MySQL function in SQL sent to SQLite), whoever logged them; a Node
worker thread ended at its heap limit.

The SQLite errors are the sqlite3 module's own, the Node error is Node's own (a worker whose `resourceLimits` its
allocations outgrow); Go's, PHP's PDO's and Postfix's lines of the same SQLite words are the users' pastes of the
corpus, read by id (none of those runtimes is driven here), and the triage cases put the texts in a log after the
ERROR record that reported them.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_logs_support import labels_after_error_record

SQLITE = "SQLITE_FALLBACK_ACTIVE"


def _clf() -> Classifier:
    return Classifier.default()


def _sqlite_error(sql: str) -> sqlite3.OperationalError:
    with sqlite3.connect(":memory:") as conn, pytest.raises(sqlite3.OperationalError) as info:
        conn.execute(sql)
    return info.value


# -- SQLite's `no such function` / `no such module` ------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT now()", "no such function: now"),  # PostgreSQL's / MySQL's function in SQL sent to SQLite
    ("SELECT date_format('2026-12-07', '%Y')", "no such function: date_format"),
    ("CREATE VIRTUAL TABLE t USING nosuchmodule(x)", "no such module: nosuchmodule"),
])
def test_sqlites_words_for_a_missing_function_or_module_are_the_sqlite_fallback(sql: str, message: str) -> None:
    err = _sqlite_error(sql)
    assert str(err) == message
    assert _clf().classify_text(str(err)).label == SQLITE  # (logged without its type: the words are SQLite's)
    assert _clf().classify_exception(err).label == SQLITE
    assert labels_after_error_record(f"Couldn't add follower in DB: {err}") == [SQLITE]


@pytest.mark.parametrize("entry_id", [
    "r38-sqlite-go-log-no-such-function-now",  # Go's log line, no type
    "r38-sqlite-laravel-queryexception-no-such-function",  # PHP's PDO: `General error: 1 no such function: NOW`
    "r38-sqlite-postfix-lookup-no-such-function-now",  # Postfix's SQLite lookup table
])
def test_the_same_words_logged_by_other_runtimes_are_the_sqlite_fallback(entry_id: str) -> None:
    assert _clf().classify_text(corpus_text(entry_id)).label == SQLITE


@pytest.mark.parametrize("entry_id", [
    # PostgreSQL's own words for a function it lacks (MySQL's `date_format()` sent to it) stay no SQLite error
    "r38-neg-pg-server-log-mysql-date-format-function",
    "r38-neg-pg-server-log-mysql-unix-timestamp-function",
])
def test_postgresqls_missing_function_is_not_the_sqlite_fallback(entry_id: str) -> None:
    assert _clf().classify_text(corpus_text(entry_id)).label == "UNKNOWN_ERROR"


# -- a Node worker thread ended at its heap limit --------------------------------------------------------------------

_WORKER = """
const { Worker } = require('worker_threads');
const w = new Worker('const a = []; for (;;) a.push(new Array(1e5).fill(1));',
                     { eval: true, resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 } });
w.on('error', (e) => { console.error(e); process.exitCode = 1; });
"""


@pytest.fixture(scope="module")
def worker_out_of_memory(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Node's own print of the error a worker thread ends with when its allocations outgrow its heap limit."""
    node = shutil.which("node")
    assert node is not None, "the Node runtime is needed to make its worker's out-of-memory error"
    script = Path(tmp_path_factory.mktemp("node")) / "worker.js"
    script.write_text(_WORKER, encoding="utf-8")
    out = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 1
    return out.stderr.strip()


def test_a_node_worker_ended_at_its_heap_limit_is_out_of_memory(worker_out_of_memory: str) -> None:
    text = worker_out_of_memory
    assert text.startswith("Error [ERR_WORKER_OUT_OF_MEMORY]: Worker terminated due to reaching memory limit: JS heap")
    assert _clf().classify_text(text).label == "RENDER_OUT_OF_MEMORY"
    assert labels_after_error_record(text) == ["RENDER_OUT_OF_MEMORY"]
    pasted = corpus_text("r38-render-oom-node-worker-thread-js-heap")  # (a user's paste of Node 18's print)
    assert _clf().classify_text(pasted).label == "RENDER_OUT_OF_MEMORY"


@pytest.mark.parametrize("entry_id", [
    "r38-neg-symfony-messenger-worker-memory-limit-info",  # a queue worker stopping itself at its own limit
    "r38-neg-kubectl-last-state-error-exit-137",  # exit code 137 with reason `Error`, not `OOMKilled`
])
def test_other_workers_memory_notices_are_not_out_of_memory(entry_id: str) -> None:
    assert _clf().classify_text(corpus_text(entry_id)).label == "UNKNOWN_ERROR"
