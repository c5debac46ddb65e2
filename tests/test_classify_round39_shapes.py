"""Shapes of round 39 (tests/realworld/README.md, "Held-out round 39"): PostgreSQL ending an idle session itself, the
openai SDK's finish-reason sentences logged without their types, OpenAI's codes for a parameter its model does not take.

The PostgreSQL errors are a real server's (idle_in_transaction_session_timeout, idle_session_timeout) through psycopg 3
and psycopg2; the openai errors are the real client's against the LLM stand-in (a completion cut at `max_tokens`, one
filtered) and against a loopback answering the body a user pasted (corpus entry by id). The triage cases put the texts
in a log after the ERROR record that reported them.
"""

from __future__ import annotations

import json
import select
import time

import pytest
from pydantic import BaseModel

from examples.llm_standin import LLMStandIn
from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_classify_evidence import answering_server, raised
from tests.test_logs_support import labels_after_error_record

PG = "PG_CONNECTION_FAILED"


def _clf() -> Classifier:
    return Classifier.default()


# -- the server ends an idle session ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "autocommit", "type_name", "message"), [
    ("idle_in_transaction_session_timeout", False, "IdleInTransactionSessionTimeout",
     "terminating connection due to idle-in-transaction timeout"),
    ("idle_session_timeout", True, "IdleSessionTimeout", "terminating connection due to idle-session timeout"),
])
def test_a_session_the_server_ended_for_idling_is_a_connection_failure(
        pg_db: str, setting: str, autocommit: bool, type_name: str, message: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    conn = psycopg.connect(pg_db, autocommit=autocommit)
    try:
        conn.execute(f"SET {setting} = '100ms'")
        time.sleep(0.5)
        err = raised(lambda: conn.execute("SELECT 1"))
    finally:
        conn.close()
    assert type(err).__name__ == type_name and str(err) == message, (type(err), str(err))
    assert _clf().classify_exception(err).label == PG
    assert _clf().classify_text(str(err)).label == PG  # (logged without its type)
    assert _clf().classify_text(f"psycopg2.OperationalError: {err}").label == PG  # (the Nominatim paste's shape)
    assert labels_after_error_record(f"DB call failed: {err}") == [PG]


def test_psycopg2s_notice_of_the_servers_fatal_is_a_connection_failure(pg_db: str) -> None:
    """psycopg2 keeps the server's last words as a notice once it reads them (`conn.poll()`): an app logs them."""
    import psycopg2

    conn = psycopg2.connect(pg_db)
    try:
        conn.cursor().execute("SET idle_in_transaction_session_timeout = '100ms'")
        select.select([conn], [], [], 5)
        conn.poll()
        notices = list(conn.notices)
    finally:
        conn.close()
    assert notices == ["FATAL:  terminating connection due to idle-in-transaction timeout\n"], notices
    assert _clf().classify_text(notices[0]).label == PG


def test_the_users_paste_of_the_idle_in_transaction_timeout() -> None:
    assert _clf().classify_text(corpus_text("r39-pg-idle-in-transaction-timeout-alone")).label == PG


def test_a_statement_timeout_and_an_aborted_transaction_stay_unknown(pg_db: str) -> None:
    """The server cancelling a statement or refusing commands in a failed transaction ends no connection (guards)."""
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(pg_db) as conn:
        conn.execute("SET statement_timeout = '50ms'")
        timeout = raised(lambda: conn.execute("SELECT pg_sleep(1)"))
        aborted = raised(lambda: conn.execute("SELECT 1"))
    assert str(timeout) == "canceling statement due to statement timeout", str(timeout)
    assert str(aborted) == "current transaction is aborted, commands ignored until end of transaction block"
    for err in (timeout, aborted):
        assert _clf().classify_exception(err).label == "UNKNOWN_ERROR", err


# -- the openai SDK's finish-reason sentences ------------------------------------------------------------------------


class _Answer(BaseModel):
    answer: str
    question: str


def _parse_error(llm: LLMStandIn, mode: str) -> BaseException:
    openai = pytest.importorskip("openai")
    llm.set_failure("openai", mode, endpoint="chat")
    client = openai.OpenAI(base_url=llm.openai_base_url, api_key="sk-test", max_retries=0)
    return raised(lambda: client.chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Reply in JSON: what next?"}],
        response_format=_Answer))


def test_a_parse_cut_at_max_tokens_logged_without_its_type_is_openais(llm: LLMStandIn) -> None:
    err = _parse_error(llm, "truncated_json")
    assert type(err).__name__ == "LengthFinishReasonError", type(err)
    assert str(err).startswith("Could not parse response content as the length limit was reached - "), str(err)
    assert _clf().classify_exception(err).label == "OPENAI_ERROR"
    for text in (str(err), f"OpenAI Error: {err}"):  # deepeval's wording (corpus entry below)
        assert _clf().classify_text(text).label == "OPENAI_ERROR", text
        assert labels_after_error_record(f"Evaluation failed: {text}") == ["OPENAI_ERROR"], text
    assert _clf().classify_text(corpus_text("r39-openai-length-finish-reason-no-type")).label == "OPENAI_ERROR"


def test_a_filtered_parse_logged_without_its_type_is_openais_content_filter(llm: LLMStandIn) -> None:
    err = _parse_error(llm, "refusal")
    assert type(err).__name__ == "ContentFilterFinishReasonError", type(err)
    assert _clf().classify_text(str(err)).label == "OPENAI_CONTENT_FILTERED", str(err)
    assert labels_after_error_record(f"Scrape failed: {err}") == ["OPENAI_CONTENT_FILTERED"]


# -- OpenAI's code for a parameter its model does not take -------------------------------------------------------------


def _unsupported_parameter() -> BaseException:
    """The real client's error for the body ITSpecialist111/ai_automation_suggester#38 pasted (from a loopback)."""
    openai = pytest.importorskip("openai")
    body = json.loads(corpus_text("r39-openai-unsupported-parameter-json-body"))
    with answering_server(400, json.dumps(body).encode(), "application/json") as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0)
        err = raised(lambda: client.chat.completions.create(
            model="gpt-5.4-mini", max_tokens=16, messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(err, openai.BadRequestError), err
    # (openai>=2 prints the message alone: `Error code: 400 - Unsupported parameter: …`, rule 5's current style)
    assert "Unsupported parameter: 'max_tokens' is not supported with this model." in str(err), str(err)
    return err


def test_openais_unsupported_parameter_code_attributes_a_body_without_host_or_type() -> None:
    """The body as the app logs the response it got (`response.text`), with no host or type: its code is OpenAI's."""
    err = _unsupported_parameter()
    assert _clf().classify_exception(err).label == "OPENAI_ERROR"
    response = err.response  # type: ignore[attr-defined]
    for text in (response.text, f"Request failed (HTTP {response.status_code}): {response.text}"):
        assert _clf().classify_text(text).label == "OPENAI_ERROR", text
        assert labels_after_error_record(f"Suggestion failed: {text}") == ["OPENAI_ERROR"], text


@pytest.mark.parametrize("entry_id", [
    "r39-openai-unsupported-parameter-json-body",  # the body alone
    "r39-openai-unsupported-parameter-http-400-prefix",  # a widget's `Request failed (HTTP 400): {…}`
    "r39-openai-unsupported-parameter-status-line-no-type",  # the client's `Error code: 400 - {…}` without its type
])
def test_the_users_pastes_of_the_unsupported_parameter_body(entry_id: str) -> None:
    assert _clf().classify_text(corpus_text(entry_id)).label == "OPENAI_ERROR"


def test_the_same_sentence_from_copilots_api_behind_a_proxy_stays_unknown() -> None:
    """GitHub Copilot's API echoes OpenAI's sentence with a code of its own (`invalid_request_body`): no attribution."""
    assert _clf().classify_text(corpus_text("r39-neg-copilot-proxy-unsupported-parameter")).label == "UNKNOWN_ERROR"
