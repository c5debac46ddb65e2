"""The LLM stand-in, driven by the real openai and anthropic clients: every failure mode raises
the exception class and status code the real providers cause."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from examples.llm_standin import LLMStandIn, ReceivedRequest

ROOT = Path(__file__).resolve().parent.parent
CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "I feel stuck in my career"}]}
MESSAGE = {"model": "claude-3-5-sonnet-latest", "max_tokens": 100,
           "messages": [{"role": "user", "content": "I feel stuck in my career"}]}


def oai(llm: LLMStandIn, key: str = "sk-test-key-0000000000", **kw) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=llm.openai_base_url, max_retries=0, **kw)


def ant(llm: LLMStandIn, key: str = "sk-ant-test-key-000000", **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=llm.anthropic_base_url, max_retries=0, **kw)


OPENAI_FAILURES = [
    ("auth", openai.AuthenticationError, 401, "invalid_api_key", "Incorrect API key provided"),
    ("rate_limit", openai.RateLimitError, 429, "rate_limit_exceeded", "Rate limit reached for gpt-4 in organization"),
    ("quota", openai.RateLimitError, 429, "insufficient_quota", "You exceeded your current quota"),
    ("model_not_found", openai.NotFoundError, 404, "model_not_found", "The model `gpt-4` does not exist"),
    ("context_overflow", openai.BadRequestError, 400, "context_length_exceeded", "maximum context length is 8192"),
    ("server_error", openai.InternalServerError, 500, None, "The server had an error"),
    ("overloaded", openai.InternalServerError, 503, None, "currently overloaded"),
]


@pytest.mark.parametrize(("mode", "exc_type", "status", "code", "text"), OPENAI_FAILURES,
                         ids=[f[0] for f in OPENAI_FAILURES])
def test_openai_chat_failures_raise_the_real_exceptions(llm, mode, exc_type, status, code, text):
    llm.set_failure("openai", mode)
    with pytest.raises(openai.APIStatusError) as info:
        oai(llm).chat.completions.create(**CHAT)
    exc = info.value
    assert type(exc) is exc_type
    assert exc.status_code == status
    assert exc.code == code
    assert str(exc).startswith(f"Error code: {status} - ")
    assert text in str(exc)
    assert exc.request_id and exc.request_id.startswith("req_")
    assert llm.requests[-1].status == status and llm.requests[-1]["provider"] == "openai"


@pytest.mark.parametrize(("mode", "exc_type", "status", "code", "text"),
                         [f for f in OPENAI_FAILURES if f[0] != "context_overflow"],
                         ids=[f[0] for f in OPENAI_FAILURES if f[0] != "context_overflow"])
def test_openai_embeddings_failures(llm, mode, exc_type, status, code, text):
    llm.set_failure("openai", mode, endpoint="embeddings")
    with pytest.raises(exc_type) as info:
        oai(llm).embeddings.create(model="text-embedding-3-small", input="hello")
    assert info.value.status_code == status and info.value.code == code
    assert text.replace("gpt-4", "text-embedding-3-small") in str(info.value)
    # only the embeddings endpoint fails
    assert oai(llm).chat.completions.create(**CHAT).choices[0].finish_reason == "stop"


def test_openai_embeddings_context_overflow_has_the_embeddings_wording(llm):
    llm.set_failure("openai", "context_overflow", endpoint="/v1/embeddings")
    with pytest.raises(openai.BadRequestError, match="however you requested 9000 tokens"):
        oai(llm).embeddings.create(model="text-embedding-3-small", input="hello")


def test_openai_rate_limit_headers(llm):
    llm.set_failure("openai", "rate_limit")
    with pytest.raises(openai.RateLimitError) as info:
        oai(llm).chat.completions.create(**CHAT)
    headers = info.value.response.headers
    assert headers["retry-after"] == "1" and headers["x-ratelimit-remaining-tokens"] == "0"
    assert info.value.type == "tokens"


def test_openai_bad_key_is_masked(llm):
    with pytest.raises(openai.AuthenticationError) as info:
        oai(llm, key="bad-key-123456789").chat.completions.create(**CHAT)
    assert "Incorrect API key provided: bad**********6789." in str(info.value)
    assert "bad-key-123456789" not in str(info.value)


def test_openai_unknown_model(llm):
    with pytest.raises(openai.NotFoundError, match=r"The model `gpt-5-nope` does not exist or you do not have"):
        oai(llm).chat.completions.create(**{**CHAT, "model": "gpt-5-nope"})
    with pytest.raises(openai.NotFoundError):
        oai(llm).models.retrieve("gpt-5-nope")


def test_openai_chat_ok_is_deterministic_and_json_when_asked(llm):
    client = oai(llm)
    first = client.chat.completions.create(**CHAT)
    second = client.chat.completions.create(**CHAT)
    assert first.choices[0].message.content == second.choices[0].message.content
    assert "stuck in my career" in first.choices[0].message.content
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens > 0
    as_json = client.chat.completions.create(**CHAT, response_format={"type": "json_object"})
    data = json.loads(as_json.choices[0].message.content)
    assert set(data) == {"answer", "question"}
    assert [r.json["model"] for r in llm.requests] == ["gpt-4"] * 3


def test_openai_embeddings_are_unit_float_vectors(llm):
    client = oai(llm)
    result = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    vectors = [d.embedding for d in result.data]
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(v) == 1536 and all(isinstance(x, float) for x in v) for v in vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-3 for v in vectors)
    assert vectors[0] != vectors[1]
    again = client.embeddings.create(model="text-embedding-3-small", input="alpha").data[0].embedding
    assert again == vectors[0]
    packed = client.embeddings.create(model="text-embedding-3-small", input="alpha", encoding_format="base64")
    raw = base64.b64decode(packed.data[0].embedding)
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(vectors[0], abs=1e-6)
    small = client.embeddings.create(model="text-embedding-3-small", input="alpha", dimensions=8)
    assert len(small.data[0].embedding) == 8


def test_openai_refusal(llm):
    llm.set_failure("openai", "refusal")
    completion = oai(llm).chat.completions.create(**CHAT)
    assert completion.choices[0].finish_reason == "content_filter"
    with pytest.raises(openai.ContentFilterFinishReasonError):
        oai(llm).chat.completions.parse(**CHAT)


def test_openai_models(llm):
    ids = [m.id for m in oai(llm).models.list()]
    assert "gpt-4" in ids and "text-embedding-3-small" in ids
    assert oai(llm).models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"


def test_openai_slow_times_out_and_then_answers(llm):
    llm.set_failure("openai", "slow", delay=1.0)
    with pytest.raises(openai.APITimeoutError, match="Request timed out"):
        oai(llm, timeout=0.2).chat.completions.create(**CHAT)
    start = time.monotonic()
    assert oai(llm, timeout=5).chat.completions.create(**CHAT).choices[0].finish_reason == "stop"
    assert time.monotonic() - start >= 0.9


def test_openai_connection_error_on_a_closed_port(refused_port):
    client = openai.OpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{refused_port}/v1", max_retries=0)
    with pytest.raises(openai.APIConnectionError, match="Connection error"):
        client.chat.completions.create(**CHAT)


ANTHROPIC_FAILURES = [
    ("auth", anthropic.AuthenticationError, 401, "authentication_error", "invalid x-api-key"),
    ("rate_limit", anthropic.RateLimitError, 429, "rate_limit_error", "would exceed the rate limit"),
    ("quota", anthropic.BadRequestError, 400, "invalid_request_error", "credit balance is too low"),
    ("model_not_found", anthropic.NotFoundError, 404, "not_found_error", "model: claude-3-5-sonnet-latest"),
    ("context_overflow", anthropic.BadRequestError, 400, "invalid_request_error",
     "prompt is too long: 210000 tokens > 200000 maximum"),
    ("server_error", anthropic.InternalServerError, 500, "api_error", "Internal server error"),
    ("overloaded", anthropic.OverloadedError, 529, "overloaded_error", "Overloaded"),
]


@pytest.mark.parametrize(("mode", "exc_type", "status", "error_type", "text"), ANTHROPIC_FAILURES,
                         ids=[f[0] for f in ANTHROPIC_FAILURES])
def test_anthropic_failures_raise_the_real_exceptions(llm, mode, exc_type, status, error_type, text):
    llm.set_failure("anthropic", mode)
    with pytest.raises(anthropic.APIStatusError) as info:
        ant(llm).messages.create(**MESSAGE)
    exc = info.value
    assert type(exc) is exc_type
    assert exc.status_code == status
    assert exc.body == {"type": "error", "error": {"type": error_type, "message": exc.body["error"]["message"]},
                        "request_id": exc.request_id}
    assert text in exc.body["error"]["message"] and text in str(exc)
    # anthropic<2 prints "Error code: 429 - {'type': 'error', …}", anthropic>=2 "429 … (request_id: …, type: …)"
    assert (str(exc).startswith(f"Error code: {status} - {{'type': 'error'")
            or re.fullmatch(rf"{status} .* \(request_id: {exc.request_id}, path: /v1/messages, type: {error_type}\)",
                            str(exc), re.DOTALL)), str(exc)
    assert exc.request_id and exc.request_id.startswith("req_")
    assert llm.requests[-1].provider == "anthropic"


def test_anthropic_server_error_is_not_overloaded(llm):
    llm.set_failure("anthropic", "server_error")
    with pytest.raises(anthropic.InternalServerError) as info:
        ant(llm).messages.create(**MESSAGE)
    assert not isinstance(info.value, anthropic.OverloadedError)


def test_anthropic_bad_key_and_unknown_model(llm):
    with pytest.raises(anthropic.AuthenticationError, match="invalid x-api-key"):
        ant(llm, key="bad-anthropic-key").messages.create(**MESSAGE)
    with pytest.raises(anthropic.NotFoundError, match="model: claude-nope"):
        ant(llm).messages.create(**{**MESSAGE, "model": "claude-nope"})


def test_anthropic_ok_refusal_models_and_timeout(llm):
    client = ant(llm)
    message = client.messages.create(**MESSAGE, system="Reply with a JSON object.")
    assert message.stop_reason == "end_turn" and message.role == "assistant"
    assert set(json.loads(message.content[0].text)) == {"answer", "question"}
    assert message.usage.input_tokens > 0
    assert {m.id for m in client.models.list()} == {"claude-3-5-sonnet-latest", "claude-3-haiku-20240307"}
    assert client.models.retrieve("claude-3-haiku-20240307").id == "claude-3-haiku-20240307"
    llm.set_failure("anthropic", "refusal")
    assert client.messages.create(**MESSAGE).stop_reason == "refusal"
    llm.set_failure("anthropic", "slow", delay=1.0)
    with pytest.raises(anthropic.APITimeoutError, match=r"Request timed out or interrupted|Request to \S+ timed out"):
        ant(llm, timeout=0.2).messages.create(**MESSAGE)
    # the OpenAI side is untouched by Anthropic failures
    assert oai(llm).chat.completions.create(**CHAT).choices[0].finish_reason == "stop"


def test_all_providers_and_clearing(llm):
    llm.set_failure("all", "rate_limit")
    with pytest.raises(openai.RateLimitError):
        oai(llm).chat.completions.create(**CHAT)
    with pytest.raises(anthropic.RateLimitError):
        ant(llm).messages.create(**MESSAGE)
    llm.set_failure("openai", None)
    assert oai(llm).chat.completions.create(**CHAT).choices
    with pytest.raises(anthropic.RateLimitError):
        ant(llm).messages.create(**MESSAGE)
    llm.reset()
    assert ant(llm).messages.create(**MESSAGE).content
    assert len(llm.requests) == 1
    with pytest.raises(ValueError, match="unknown mode"):
        llm.set_failure("openai", "explode")
    with pytest.raises(ValueError, match="unknown provider"):
        llm.set_failure("gemini", "auth")


def test_admin_http_api(llm):
    with httpx.Client(base_url=llm.base_url) as http:
        assert http.post("/_standin/failure", json={"provider": "openai", "mode": "quota"}).status_code == 200
        with pytest.raises(openai.RateLimitError) as info:
            oai(llm).chat.completions.create(**CHAT)
        assert info.value.code == "insufficient_quota"
        logged = http.get("/_standin/requests").json()["requests"]
        assert [(r["method"], r["path"], r["provider"], r["status"]) for r in logged] == [
            ("POST", "/v1/chat/completions", "openai", 429)]
        assert logged[0]["json"]["model"] == "gpt-4"
        assert http.post("/_standin/failure", json={"provider": "x", "mode": "quota"}).status_code == 400
        assert http.post("/_standin/reset").status_code == 200
        assert http.get("/_standin/requests").json() == {"requests": []}
    assert oai(llm).chat.completions.create(**CHAT).choices


def test_a_request_from_before_a_reset_is_never_logged(llm):
    """A request still in flight when a test ends (a client that timed out on a slow answer) belongs to
    the log generation it arrived in: the next test's log never shows it, however late it finishes."""
    arrived_in = llm.epoch
    llm.reset()  # the next test starts
    llm.record(ReceivedRequest("POST", "/v1/chat/completions", "openai", "chat", {"model": "gpt-4"}, 200), arrived_in)
    assert llm.requests == []
    oai(llm).chat.completions.create(**CHAT)
    assert [r["path"] for r in llm.requests] == ["/v1/chat/completions"]


def test_a_handler_error_is_kept_not_printed(llm, capfd):
    """A handler thread that raises prints no traceback into whatever stderr is current (a test's capture)."""
    before = len(llm.server_errors)
    with socket.create_connection(("127.0.0.1", llm.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n")
        while sock.recv(4096):  # the server closes the connection once its error handler ran
            pass
    assert capfd.readouterr().err == ""
    assert any("ValueError" in e for e in llm.server_errors[before:])


def test_cli_starts_with_a_failure():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "examples.llm_standin", "--port", "0",  # (the port it binds)
                             "--fail", "openai=quota", "--fail", "anthropic.messages=overloaded"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = re.search(r"on http://127\.0\.0\.1:(\d+) ", proc.stdout.readline())
        assert said is not None
        port = int(said.group(1))
        client = openai.OpenAI(api_key="sk-x", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
        with pytest.raises(openai.RateLimitError, match="exceeded your current quota"):
            client.chat.completions.create(**CHAT)
        aclient = anthropic.Anthropic(api_key="sk-ant-x", base_url=f"http://127.0.0.1:{port}", max_retries=0)
        with pytest.raises(anthropic.OverloadedError):
            aclient.messages.create(**MESSAGE)
        assert aclient.models.list().data
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_empty_requests_are_rejected_like_the_providers_do(llm):
    with pytest.raises(openai.BadRequestError) as info:
        oai(llm).chat.completions.create(model="gpt-4", messages=[])
    assert info.value.code == "empty_array" and info.value.param == "messages"
    with pytest.raises(openai.BadRequestError, match=r"'\$\.input' is invalid"):
        oai(llm).embeddings.create(model="text-embedding-3-small", input=[])
    with pytest.raises(anthropic.BadRequestError, match="at least one message"):
        ant(llm).messages.create(model="claude-3-5-sonnet-latest", max_tokens=10, messages=[])
