"""Shapes of round 36 (tests/realworld/README.md, "Held-out round 36"): the data-side labels and their look-alikes.

PostgreSQL names an object that belongs to a relation with the relation (`constraint "…" of relation "…" does not
exist`, SQLSTATE 42704): the relation is there, so it is no missing table, in English and in a translation read back
through the catalogs. A program that prints a one-line error and then lets Rich print the traceback leaves a paste
whose box was cut before its exception line: the line before the box is the evidence.
"""

from __future__ import annotations

import io

import openai
import psycopg2
import psycopg2.errors
import pytest
from rich.console import Console
from rich.traceback import Traceback

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_logs_support import labels_after_error_record


def _clf() -> Classifier:
    return Classifier.default()


def _server_error(dsn: str, *statements: str) -> psycopg2.Error:
    """The error the suite's PostgreSQL raises for the last of `statements` (the ones before set the table up)."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for sql in statements[:-1]:
            cur.execute(sql)
        with pytest.raises(psycopg2.Error) as info:
            cur.execute(statements[-1])
        conn.rollback()
    return info.value


def test_a_constraint_missing_from_an_existing_relation_is_no_missing_table(pg_db: str) -> None:
    exc = _server_error(pg_db, "CREATE TABLE chat_feedback (id int)",
                        "ALTER TABLE chat_feedback DROP CONSTRAINT chat_feedback_chat_message_fkey")
    assert isinstance(exc, psycopg2.errors.UndefinedObject)
    text = f"psycopg2.errors.UndefinedObject: {exc}"
    assert 'of relation "chat_feedback" does not exist' in text
    assert _clf().classify_text(text).label == "UNKNOWN_ERROR"
    assert "MISSING_TABLE" not in labels_after_error_record(text)
    # the onyx paste: the same message in Chinese, read back into English through the catalogs
    assert _clf().classify_text(corpus_text("r36-neg-asyncpg-constraint-missing-chinese")).label == "UNKNOWN_ERROR"


def test_the_relation_itself_missing_is_still_a_missing_table(pg_db: str) -> None:
    """A guard: the same statement against a table that is not there."""
    exc = _server_error(pg_db, "ALTER TABLE chat_feedback DROP CONSTRAINT chat_feedback_chat_message_fkey")
    assert isinstance(exc, psycopg2.errors.UndefinedTable)
    assert _clf().classify_text(f"psycopg2.errors.UndefinedTable: {exc}").label == "MISSING_TABLE"
    # the message alone, as a record's `str(e)`
    assert _clf().classify_text(str(exc).strip()).label == "MISSING_TABLE"


def test_a_column_named_by_its_number_is_a_missing_column(pg_db: str) -> None:
    exc = _server_error(pg_db, "CREATE TABLE t (a int)", "CREATE INDEX t_expr ON t ((a + 1))",
                        "ALTER INDEX t_expr ALTER COLUMN 5 SET STATISTICS 100")
    assert 'column number 5 of relation "t_expr" does not exist' in str(exc)
    assert isinstance(exc, psycopg2.errors.UndefinedColumn)
    assert _clf().classify_text(f"psycopg2.errors.UndefinedColumn: {exc}").label == "MISSING_COLUMN"
    # the message alone (a record's `str(e)`): the column, not the relation it names
    assert _clf().classify_text(str(exc).strip()).label == "MISSING_COLUMN"


def _missing_key_error(monkeypatch: pytest.MonkeyPatch) -> openai.OpenAIError:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    try:
        openai.OpenAI()
    except openai.OpenAIError as exc:
        return exc
    raise AssertionError("the client started without a key")


def test_a_line_before_a_cut_rich_box_is_the_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    """`print(f"Error importing red_team: {e}")`, then Rich's traceback of the same error, the paste cut inside the
    box (no exception line): the line before the box names the missing key."""
    exc = _missing_key_error(monkeypatch)
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(Traceback.from_exception(type(exc), exc, exc.__traceback__))
    box = out.getvalue().splitlines()
    assert box[0].startswith("╭") and "Traceback" in box[0]
    cut_box = box[:next(k for k, line in enumerate(box) if line.startswith("╰"))]
    text = "\n".join([f"Error importing red_team: {exc}", *cut_box])
    assert _clf().classify_text(text).label == "ENV_VAR_MISSING"
    assert _clf().classify_text(corpus_text("r36-env-openai-key-rich-box-import")).label == "ENV_VAR_MISSING"


def test_the_whole_rich_box_still_reads_its_own_exception_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard: a box with its exception line after it, and no line before it."""
    exc = _missing_key_error(monkeypatch)
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(Traceback.from_exception(type(exc), exc, exc.__traceback__))
    got = _clf().classify_text(out.getvalue())
    assert got.label == "ENV_VAR_MISSING" and got.exception_type is not None
