"""Shapes of round 25 (tests/realworld/README.md, "Held-out round 25"): the Anthropic SDKs' refusal of a long
non-streaming request, libpq's check of a connection option's value, Azure OpenAI's content-filter sentence cut
short, transformers' refusal of a reranker's model id.

The anthropic, psycopg2 and openai errors are raised here by the real libraries (no network: the anthropic guard
fires before any request, libpq checks the options before connecting, the openai client talks to a loopback server
that answers with Azure's body); transformers is not installed, so its message is the real user's paste of the
corpus, read by id.
"""

from __future__ import annotations

import logging
import socket

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_classify_evidence import json_error_server, raised, text_of


def _clf() -> Classifier:
    return Classifier.default()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: nothing listens there


# -- the Anthropic SDKs' long-request guard ---------------------------------------------------------------------


def _long_request_refused() -> BaseException:
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=f"http://127.0.0.1:{_closed_port()}", max_retries=0)
    return raised(lambda: client.messages.create(model="claude-opus-4-20250514", max_tokens=64000,
                                                 messages=[{"role": "user", "content": "hi"}]))


def test_the_sdks_refusal_of_a_long_non_streaming_request_is_anthropics() -> None:
    """A ValueError of the SDK's own wording: `str(e)` logged names Anthropic only by its docs' link."""
    exc = _long_request_refused()
    assert type(exc) is ValueError
    assert "Streaming is required for operations that may take longer than 10 minutes" in str(exc)
    assert _clf().classify_text(f"Code generation failed: {exc}").label == "ANTHROPIC_ERROR"
    assert _clf().classify_text(text_of(exc)).label == "ANTHROPIC_ERROR"
    assert _clf().classify_exception(exc).label == "ANTHROPIC_ERROR"


@pytest.mark.parametrize("entry_id", [
    "r25-anth-streaming-recommended-rich-wrapped",  # the older `strongly recommended`, wrapped by a terminal
    "r25-anth-streaming-recommended-logger-column",
])
def test_the_guards_older_wording_as_pasted(entry_id: str) -> None:
    assert _clf().classify_text(corpus_text(entry_id)).label == "ANTHROPIC_ERROR"


# -- libpq's check of an option's value ---------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["gssencmode", "channel_binding", "target_session_attrs", "load_balance_hosts",
                                    "sslcertmode", "sslnegotiation", "require_auth", "ssl_min_protocol_version"])
def test_libpqs_refusal_of_an_options_value_is_a_malformed_url(option: str) -> None:
    """libpq refuses the value before connecting (`invalid channel_binding value: "bogus"`; PG 13+ quotes some
    names: `invalid "ssl_min_protocol_version" value: …`): the conninfo is wrong, no server was asked."""
    psycopg2 = pytest.importorskip("psycopg2")
    port = _closed_port()
    exc = raised(lambda: psycopg2.connect(f"host=127.0.0.1 port={port} dbname=app {option}=bogus"))
    assert isinstance(exc, psycopg2.OperationalError)
    assert option in str(exc) and ' value: "bogus"' in str(exc)
    assert _clf().classify_exception(exc).label == "PG_URL_MALFORMED"
    assert _clf().classify_text(text_of(exc)).label == "PG_URL_MALFORMED"
    assert _clf().classify_text(f"db connect failed: {exc}").label == "PG_URL_MALFORMED"


def test_an_option_this_libpq_was_built_without_as_pasted() -> None:
    """`sslmode value "verify-full" invalid when SSL support is not compiled in` (libpq built without OpenSSL; the
    test's libpq has it, so the real user's paste is read)."""
    text = corpus_text("r25-pgurl-sslmode-verify-full-not-compiled-in")
    assert _clf().classify_text(text).label == "PG_URL_MALFORMED"


def test_a_valid_option_value_refused_by_the_server_is_no_malformed_url() -> None:
    """The same option with a value libpq accepts reaches the socket: the refusal is the connection's."""
    psycopg2 = pytest.importorskip("psycopg2")
    port = _closed_port()
    exc = raised(lambda: psycopg2.connect(f"host=127.0.0.1 port={port} dbname=app channel_binding=prefer"))
    assert _clf().classify_exception(exc).label == "PG_CONNECTION_FAILED"


# -- Azure OpenAI's content-filter sentence ------------------------------------------------------------------------

_AZURE = ("The response was filtered due to the prompt triggering Azure OpenAI{apostrophe}s content management policy. "
          "Please modify your prompt and retry. To learn more about our content filtering policies please read our "
          "documentation: https://go.microsoft.com/fwlink/?linkid=2198766")


@pytest.mark.parametrize("apostrophe", ["'", "\u2019"])
def test_azures_filter_sentence_cut_by_a_records_length_is_the_content_filter(apostrophe: str) -> None:
    """The real openai client's 400 from a server answering Azure's body, logged through a format that cuts the
    message (`%(message).200s`) before `content filtering`: the sentence's head names the filter."""
    openai = pytest.importorskip("openai")
    error = {"message": _AZURE.format(apostrophe=apostrophe), "type": None, "param": "prompt",
             "code": "content_filter", "status": 400}
    with json_error_server(400, error) as url:
        client = openai.OpenAI(api_key="sk-test", base_url=url, max_retries=0)
        messages = [{"role": "user", "content": "x"}]
        exc = raised(lambda: client.chat.completions.create(model="gpt-4o", messages=messages))
    assert isinstance(exc, openai.BadRequestError)
    record = logging.LogRecord("app.chat", logging.ERROR, __file__, 1, "Request failed: %s", (exc,), None)
    line = logging.Formatter("%(levelname)s %(name)s: %(message).200s").format(record)
    assert "content management policy" in line and "content filtering" not in line and "content_filter" not in line
    assert _clf().classify_text(line).label == "OPENAI_CONTENT_FILTERED"


def test_the_colab_paste_cut_inside_the_sentence() -> None:
    """openai<1.0's `InvalidRequestError` in Colab, the API's `’`, the paste cut at `our conte`."""
    text = corpus_text("r25-oai-content-filter-legacy-colab-frames")
    assert _clf().classify_text(text).label == "OPENAI_CONTENT_FILTERED"


# -- transformers' refusal of a reranker's model id ----------------------------------------------------------------


def test_a_reranker_model_id_that_is_neither_on_disk_nor_on_the_hub() -> None:
    text = corpus_text("r25-reranker-hub-not-valid-model-identifier")
    assert _clf().classify_text(text).label == "RERANKER_UNAVAILABLE"
    # the same refusal of a model id that names no reranker is no reranker's failure
    assert _clf().classify_text(text.replace("zhinao_1-8b_reranking", "zhinao_1-8b_chat")).label == "UNKNOWN_ERROR"
