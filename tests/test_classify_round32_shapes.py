"""Shapes of round 32 (tests/realworld/README.md, "Held-out round 32"): libpq's two attempts in one message, one refused
at the password and one for `no encryption`; libpq's conninfo errors inside a JSON string (PostgREST's `details`); Go's
pgx wordings (the Supabase CLI) and Supavisor's allow list; a connection failure to a provider's host in Node's clients
and a socket's errno under litellm's wrapper; a client's own `OpenAI timed out waiting for response`.

libpq's messages are its own, from psycopg2 against the suite's PostgreSQL (its `mosaic_ssl` database is hostssl only)
or from its conninfo parser (psycopg2's and psycopg 3's), and a socket's refusal is Python's own against a loopback port
that refuses; pgx, Supavisor, node-fetch, undici, litellm and the `chatgpt` npm package are not here, so their texts are
the real users' pastes of the corpus, read by id, and the triage cases put them in a log after the ERROR record that
reported them.
"""

from __future__ import annotations

import json
import socket

import psycopg
import psycopg2
import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_logs_support import labels_after_error_record


def _clf() -> Classifier:
    return Classifier.default()


# -- libpq's two attempts: one refused at the password, one for `no encryption` --------------------------------------


@pytest.mark.parametrize("sslmode", [None, "allow"])  # libpq's `prefer` tries SSL first, `allow` plain first
def test_a_wrong_password_beside_a_no_encryption_refusal_is_the_password(pg, sslmode: str | None) -> None:
    with pytest.raises(psycopg2.OperationalError) as info:
        psycopg2.connect(pg.dsn("mosaic_ssl", sslmode=sslmode, password="not-the-password"))
    text = str(info.value)
    assert "password authentication failed" in text and "no encryption" in text  # (both attempts reported)
    assert _clf().classify_text(text).label == "PG_AUTH_FAILED"
    assert _clf().classify_text(f"psycopg2.OperationalError: {text}").label == "PG_AUTH_FAILED"
    assert labels_after_error_record(text) == ["PG_AUTH_FAILED"]


def test_the_right_password_without_ssl_to_an_ssl_only_database_stays_ssl_required(pg) -> None:
    with pytest.raises(psycopg2.OperationalError) as info:
        psycopg2.connect(pg.dsn("mosaic_ssl", sslmode="disable"))
    assert "authentication failed" not in str(info.value)
    assert _clf().classify_text(str(info.value)).label == "PG_SSL_REQUIRED"


def test_the_pasted_psql_attempts_are_the_password() -> None:
    text = corpus_text("r32-pg-auth-psql-ssl-attempt-then-no-encryption-attempt")
    assert _clf().classify_text(text).label == "PG_AUTH_FAILED"
    assert labels_after_error_record(text) == ["PG_AUTH_FAILED"]


# -- libpq's conninfo errors inside a JSON string ---------------------------------------------------------------------


def _conninfo_error(connect, dsn: str) -> str:
    with pytest.raises(Exception) as info:
        connect(dsn)
    return str(info.value)


@pytest.mark.parametrize(("connect", "dsn"), [
    (psycopg2.connect, "postgres://app:some cool/password@db.internal:5432/app"),  # (a `/` in the password)
    (psycopg.connect, "host=127.0.0.1 port=somecool dbname=app"),  # (psycopg 3: `connection is bad: …`)
    (psycopg.connect, "db_conn"),  # psycopg 3: `missing "=" after "db_conn" …` with no `invalid dsn` before it
])
def test_libpqs_conninfo_error_inside_a_json_string_is_the_url(connect, dsn: str) -> None:
    message = _conninfo_error(connect, dsn)
    body = json.dumps({"details": message, "code": "", "message": "Database connection error"})  # (PostgREST's)
    assert '\\"' in body
    assert _clf().classify_text(message).label == "PG_URL_MALFORMED"
    assert _clf().classify_text(body).label == "PG_URL_MALFORMED"
    assert labels_after_error_record(body) == ["PG_URL_MALFORMED"]


def test_the_pasted_postgrest_details_are_the_url() -> None:
    text = corpus_text("r32-pg-url-postgrest-json-details-port")
    assert _clf().classify_text(text).label == "PG_URL_MALFORMED"
    assert labels_after_error_record(text) == ["PG_URL_MALFORMED"]


# -- Go's pgx, Supavisor's allow list ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "label"), [
    ("r32-pg-net-pgx-dial-io-timeout-pooler", "PG_NETWORK_UNREACHABLE"),
    ("r32-pg-conn-pgx-failed-to-receive-message-timeout", "PG_CONNECTION_FAILED"),
    ("r32-pg-conn-pgx-dial-connection-refused-local", "PG_CONNECTION_FAILED"),
    ("r32-pg-access-supavisor-address-not-in-allow-list", "PG_ACCESS_DENIED"),
])
def test_pgx_and_supavisor_wordings_are_postgresqls(entry: str, label: str) -> None:
    text = corpus_text(entry)
    assert _clf().classify_text(text).label == label
    last = text.splitlines()[-1] if "Try rerunning" not in text else text.splitlines()[-2]
    assert labels_after_error_record(last) == [label]


def test_gos_dialer_words_without_pgxs_prefix_are_no_postgresql_evidence() -> None:
    text = corpus_text("r32-pg-net-pgx-dial-io-timeout-pooler").splitlines()[-1]
    dial = text.split("`: ", 1)[1]  # `dial error (timeout: dial tcp <>: i/o timeout)`: any Go client's
    assert dial.startswith("dial error (")
    assert _clf().classify_text(dial).label == "UNKNOWN_ERROR"
    refused = corpus_text("r32-pg-conn-pgx-dial-connection-refused-local").splitlines()[-2].split("`: ", 1)[1]
    assert _clf().classify_text(refused).label == "UNKNOWN_ERROR"


# -- a connection failure to a provider's host: Node's clients, a socket's errno under litellm -----------------------


@pytest.mark.parametrize("entry", ["r32-oai-conn-node-fetch-connect-etimedout",
                                   "r32-oai-conn-eliza-errors-json-connect-etimedout",
                                   "r32-oai-conn-ai-sdk-connect-timeout-error"])
def test_nodes_connection_failures_to_openais_host_are_its_connection_error(entry: str) -> None:
    text = corpus_text(entry)
    assert "api.openai.com" in text
    assert _clf().classify_text(text).label == "OPENAI_CONNECTION_ERROR"
    assert set(labels_after_error_record(text)) - {"UNKNOWN_ERROR"} == {"OPENAI_CONNECTION_ERROR"}
    # the same failure to another site is no provider's (rule 6)
    other = text.replace("api.openai.com", "api.example.org")
    assert _clf().classify_text(other).label == "UNKNOWN_ERROR"


def test_a_sockets_errno_under_litellms_anthropic_wrapper_is_the_connection(refused_port: int) -> None:
    with socket.socket() as s, pytest.raises(ConnectionRefusedError) as info:
        s.connect(("127.0.0.1", refused_port))
    refused = str(info.value)
    assert refused.startswith("[Errno ")
    pasted = corpus_text("r32-anth-conn-litellm-internalservererror-network-unreachable")
    assert _clf().classify_text(pasted).label == "ANTHROPIC_CONNECTION_ERROR"
    assert set(labels_after_error_record(pasted)) - {"UNKNOWN_ERROR"} == {"ANTHROPIC_CONNECTION_ERROR"}
    text = pasted.replace("[Errno 101] Network is unreachable", refused)
    assert refused in text
    assert _clf().classify_text(text).label == "ANTHROPIC_CONNECTION_ERROR"
    assert _clf().classify_text(f"litellm.InternalServerError: OpenAIException - {refused}").label == (
        "OPENAI_CONNECTION_ERROR")
    # a refused socket alone names no provider (rule 6)
    assert _clf().classify_text(f"ConnectionRefusedError: {refused}").label == "UNKNOWN_ERROR"


# -- a client's own deadline worded as the provider not answering ----------------------------------------------------


def test_a_clients_openai_timed_out_waiting_for_response_is_openais_timeout() -> None:
    text = corpus_text("r32-oai-timeout-chatgpt-npm-p-timeout")
    assert _clf().classify_text(text).label == "OPENAI_TIMEOUT"
    assert labels_after_error_record(text) == ["OPENAI_TIMEOUT"]
