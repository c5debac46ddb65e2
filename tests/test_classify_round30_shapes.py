"""Shapes of round 30 (tests/realworld/README.md, "Held-out round 30"): a traceback re-indented by a log viewer (QGIS's
message log: the frames' source lines level with their `File` lines, the exception line one column left of them);
Supavisor's refusal of a user name without a tenant; PgBouncer's refusal of a client over `max_client_conn`.

The traceback is psycopg2's own against the test PostgreSQL, re-indented as the pasted log shows it; Supavisor and
PgBouncer are not installed here, so their texts are the real users' pastes of the corpus, read by id, and the triage
cases put them in a log after the ERROR record that reported them.
"""

from __future__ import annotations

import traceback

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_logs_support import labels_after_error_record


def _clf() -> Classifier:
    return Classifier.default()


def _as_the_log_viewer_shows_it(tb: str) -> str:
    """`tb` as QGIS's message log prints it: the header glued to a WARNING line, every frame and source line 14
    columns in, the exception line and the blank lines 13 (the corpus paste of QGEP/QGEP#899)."""
    out = ["2025-09-29T08:02:46     WARNING    " + tb.splitlines()[0]]
    for line in tb.splitlines()[1:]:
        if line.startswith("  "):  # a frame (`  File …`) or its source (`    …`)
            out.append(" " * 14 + line.strip())
        else:  # the exception line, a blank line, a chain's separator or header
            out.append(" " * 13 + line)
    return "\n".join(out)


# -- a re-indented traceback ----------------------------------------------------------------------------------------


def test_an_exception_line_left_of_its_frames_is_the_exception_not_a_source_line(pg_db) -> None:
    import psycopg2

    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t (code varchar(3))")
        try:
            cur.execute("INSERT INTO t VALUES ('toolong')")
        except psycopg2.Error as e:
            tb = "".join(traceback.format_exception(e))
    assert "psycopg2.errors.StringDataRightTruncation: value too long for type character varying(3)" in tb
    shown = _as_the_log_viewer_shows_it(tb)
    assert "\n" + " " * 13 + "psycopg2.errors.StringDataRightTruncation: " in shown
    got = _clf().classify_text(shown)
    assert (got.label, got.exception_type) == ("TYPE_MISMATCH", "psycopg2.errors.StringDataRightTruncation")
    # the pasted one (French server, a chain cut below its second header)
    pasted = _clf().classify_text(corpus_text("r30-data-type-qgis-warning-french-valeur-trop-longue"))
    assert (pasted.label, pasted.exception_type) == ("TYPE_MISMATCH", "psycopg2.errors.StringDataRightTruncation")


class _Holder:
    pass


def _annotated_lookup(holder: _Holder) -> None:
    holder.LookupError: type = {}["missing"]  # a source line that reads like an exception line


def test_a_source_line_level_with_its_frame_line_stays_a_source_line() -> None:
    try:
        _annotated_lookup(_Holder())
    except KeyError as e:
        tb = "".join(traceback.format_exception(e))
    shown = _as_the_log_viewer_shows_it(tb)
    assert "\n" + " " * 14 + 'holder.LookupError: type = {}["missing"]' in shown
    got = _clf().classify_text(shown)
    assert got.exception_type == "KeyError"


# -- Supavisor and PgBouncer ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry_id", ["r30-pg-auth-supavisor-enoidentifier-no-tenant",
                                      "r30-pg-auth-supavisor-enotfound-tenant-user"])
def test_supavisors_refusal_of_a_user_without_its_tenant_is_an_auth_failure(entry_id: str) -> None:
    text = corpus_text(entry_id)
    assert _clf().classify_text(text).label == "PG_AUTH_FAILED"
    assert set(labels_after_error_record(text)) - {"UNKNOWN_ERROR"} == {"PG_AUTH_FAILED"}


@pytest.mark.parametrize("entry_id", ["r30-pg-conn-pgbouncer-max-client-conn",
                                      "r30-pg-conn-pgbouncer-max-client-conn-sqlalchemy-source-line"])
def test_pgbouncers_refusal_over_max_client_conn_is_a_connection_failure(entry_id: str) -> None:
    text = corpus_text(entry_id)
    assert _clf().classify_text(text).label == "PG_CONNECTION_FAILED"
    assert labels_after_error_record(text) == ["PG_CONNECTION_FAILED"]


# -- psycopg 3's operation before libpq's SSL error -----------------------------------------------------------------


def test_psycopg3s_failed_operation_before_libpqs_ssl_error_is_a_connection_failure() -> None:
    text = corpus_text("r30-pg-conn-psycopg3-sending-query-ssl-bad-length")
    assert text.startswith("psycopg.OperationalError: sending query and params failed: SSL error: ")
    assert _clf().classify_text(text).label == "PG_CONNECTION_FAILED"
    assert labels_after_error_record(text) == ["PG_CONNECTION_FAILED"]
    # the same words with no PostgreSQL driver's type are another client's SSL error (rule 6)
    assert _clf().classify_text(text.split(": ", 1)[1]).label == "UNKNOWN_ERROR"
