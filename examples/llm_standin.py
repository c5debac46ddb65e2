"""An offline stand-in for the OpenAI and Anthropic HTTP APIs on one loopback port.

The real `openai` and `anthropic` clients talk to it unchanged (point `base_url` at
`.openai_base_url` / `.anthropic_base_url`). Answers are deterministic; failures are
switched per provider (and optionally per endpoint) and answered with the status, headers
and JSON error bodies the real providers send, so the clients raise their real exceptions.

    standin = LLMStandIn().start()
    standin.set_failure("openai", "rate_limit", endpoint="embeddings")
    ...
    standin.stop()

Out of process: `python -m examples.llm_standin --port 8090 --fail openai=quota` and the
admin API `POST /_standin/failure {"provider", "mode", "endpoint", "delay"}`,
`POST /_standin/reset`, `GET /_standin/requests`.

A failure can be limited to the next `times` requests (then the provider answers again), and
`retry_after_ms` adds the `retry-after-ms` header OpenAI sends next to `retry-after`. Mode
`malformed` answers 200 with text that is not the JSON object the caller asked for; mode `obey`
answers with the user's message as it is (a model following an injected "reply with exactly …").

A request with `"stream": true` (chat, messages) is answered with server-sent events, a word a
chunk, as each provider sends them. Mode `stream_cut` sends the first STREAM_CUT_AFTER chunks, then
closes the connection mid-body; `stream_error` sends them, then the provider's mid-stream error
(OpenAI: a `data: {"error": …}` event of type server_error; Anthropic: `event: error` with an
overloaded_error). A request that does not stream is answered as usual in these two modes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import socket
import struct
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# serve_forever() polls for shutdown(): every 0.5 s by default, which each stop (a test's teardown) then waits
SERVE = {"poll_interval": 0.05}

PROVIDERS = ("openai", "anthropic")
# answer modes: a 200 whose text is not the JSON object asked for (as a real model sometimes answers)
ANSWER_MODES = ("truncated_json", "prose", "json_array", "wrong_shape")
OBEY = "obey"  # the answer is the user's message as it is (a model that follows an injected instruction)
STREAM_MODES = ("stream_cut", "stream_error")  # a stream fails after its first chunks
STREAM_CUT_AFTER = 3
MODES = ("ok", "auth", "rate_limit", "quota", "model_not_found", "context_overflow", "server_error",
         "overloaded", "slow", "refusal", "permission", "malformed", *ANSWER_MODES, OBEY, *STREAM_MODES)
ENDPOINTS = ("chat", "embeddings", "messages", "models")
OPENAI_MODELS = ("gpt-4", "gpt-4o-mini", "text-embedding-3-small", "text-embedding-ada-002")
ANTHROPIC_MODELS = ("claude-3-5-sonnet-latest", "claude-3-haiku-20240307")
EMBEDDING_DIMENSIONS = 1536
ORG = "org-StandIn0000000000000000"
CREATED = 1700000000  # a fixed "created" timestamp: answers are deterministic

_OPENAI_MISSING_KEY = ("You didn't provide an API key. You need to provide your API key in an Authorization header "
                       "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
                       "username) if you're accessing the API from your browser and are prompted for a username and "
                       "password. You can obtain an API key from https://platform.openai.com/account/api-keys.")


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the stand-in answered (also readable as a mapping: `r["path"]`)."""

    method: str
    path: str
    provider: str
    endpoint: str
    json: Any
    status: int

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@dataclass(frozen=True)
class Failure:
    mode: str
    delay: float = 0.0
    times: int | None = None  # None: until cleared; n: the next n requests only


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    events: tuple[tuple[str | None, str], ...] | None = None  # a stream: (event name, data) in order
    cut: bool = False  # the stream's connection is closed after its events, mid-body


def endpoint_of(path: str) -> str:
    """`/v1/chat/completions` -> "chat", `/v1/models/x` -> "models", `/v1/embeddings` -> "embeddings"."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    if parts and parts[0] == "v1":
        parts = parts[1:]
    return {"chat": "chat", "completions": "chat"}.get(parts[0], parts[0]) if parts else ""


def mask_key(key: str) -> str:
    """The way OpenAI echoes a wrong key: a short prefix, stars, the last four characters."""
    if len(key) <= 8:
        return key[:4] + "*" * 4
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def count_tokens(value: Any) -> int:
    """A rough token count (4 characters a token) of every string in a request body."""
    if isinstance(value, str):
        return max(1, math.ceil(len(value) / 4))
    if isinstance(value, dict):
        return sum(count_tokens(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_tokens(v) for v in value)
    return 0


def embedding_vector(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic unit vector derived from the text's SHA-256."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    raw = raw[:dimensions]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


def _request_id(prefix: str, seed: str) -> str:
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:24]


# -- error bodies, as the providers send them -------------------------------------------------

def openai_error(mode: str, *, model: str, endpoint: str, key: str, retry_after: int,
                 retry_after_ms: int | None = None) -> Reply:
    """The OpenAI error reply for a failure mode."""
    def body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
        return {"error": {"message": message, "type": type_, "param": param, "code": code}}

    if mode == "auth":
        if not key:
            return Reply(401, body(_OPENAI_MISSING_KEY, "invalid_request_error", None))
        return Reply(401, body(f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
                               "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                               "invalid_api_key"))
    if mode == "rate_limit":
        limit = 1000000 if endpoint == "embeddings" else 10000
        message = (f"Rate limit reached for {model} in organization {ORG} on tokens per min (TPM): "
                   f"Limit {limit}, Used {limit - 1000}, Requested 2000. Please try again in {retry_after}s. "
                   "Visit https://platform.openai.com/account/rate-limits to learn more.")
        headers = {"retry-after": str(retry_after), "x-ratelimit-limit-tokens": str(limit),
                   "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": f"{retry_after}s"}
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        return Reply(429, body(message, "tokens", "rate_limit_exceeded"), headers)
    if mode == "quota":
        return Reply(429, body("You exceeded your current quota, please check your plan and billing details. "
                               "For more information on this error, read the docs: "
                               "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                               "insufficient_quota", "insufficient_quota"))
    if mode == "model_not_found":
        return Reply(404, body(f"The model `{model}` does not exist or you do not have access to it.",
                               "invalid_request_error", "model_not_found"))
    if mode == "context_overflow":
        if endpoint == "embeddings":
            message = ("This model's maximum context length is 8192 tokens, however you requested 9000 tokens "
                       "(9000 in your prompt; 0 for the completion). Please reduce your prompt; or completion length.")
            return Reply(400, body(message, "invalid_request_error", None))
        message = ("This model's maximum context length is 8192 tokens. However, your messages resulted in "
                   "9000 tokens. Please reduce the length of the messages.")
        return Reply(400, body(message, "invalid_request_error", "context_length_exceeded", "messages"))
    if mode == "overloaded":
        return Reply(503, body("The engine is currently overloaded, please try again later.", "server_error", None))
    if mode == "permission":
        return Reply(403, body("You are not allowed to sample from this model", "invalid_request_error", None))
    return Reply(500, body("The server had an error while processing your request. Sorry about that!",
                           "server_error", None))


def anthropic_error(mode: str, *, model: str, endpoint: str, key: str, retry_after: int,
                    retry_after_ms: int | None = None) -> Reply:
    """The Anthropic error reply for a failure mode."""
    def body(type_: str, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": type_, "message": message}}

    if mode == "auth":
        return Reply(401, body("authentication_error",
                               "invalid x-api-key" if key else "x-api-key header is required"))
    if mode == "rate_limit":
        message = ("This request would exceed the rate limit for your organization "
                   "(00000000-0000-4000-8000-000000000000) of 50,000 input tokens per minute. For details, refer "
                   "to: https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for "
                   "current usage. Please reduce the prompt length or the maximum tokens requested, or try again "
                   "later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your "
                   "options for a rate limit increase.")
        headers = {"retry-after": str(retry_after), "anthropic-ratelimit-input-tokens-limit": "50000",
                   "anthropic-ratelimit-input-tokens-remaining": "0"}
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        return Reply(429, body("rate_limit_error", message), headers)
    if mode == "quota":
        return Reply(400, body("invalid_request_error", "Your credit balance is too low to access the Anthropic "
                               "API. Please go to Plans & Billing to upgrade or purchase credits."))
    if mode == "model_not_found":
        return Reply(404, body("not_found_error", f"model: {model}"))
    if mode == "context_overflow":
        return Reply(400, body("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"))
    if mode == "overloaded":
        return Reply(529, body("overloaded_error", "Overloaded"))
    if mode == "permission":
        return Reply(403, body("permission_error", "Your API key does not have permission to use the specified "
                               "resource."))
    return Reply(500, body("api_error", "Internal server error"))


# -- successful answers -------------------------------------------------------------------------

def _last_user_text(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def answer_text(question: str, *, as_json: bool, shape: str = "ok") -> str:
    """The deterministic answer: a JSON object when the caller asked for JSON; `shape` (an answer
    mode) spoils it: cut off mid-string, prose, an array, an object with other keys; `obey`: the question itself."""
    if shape == "obey":
        return question
    topic = " ".join(question.split())[:120] or "your question"
    answer = (f"Thanks for sharing: \"{topic}\". Let's take one small, concrete step: write down what you "
              "want to change and one experiment you could try this week.")
    follow_up = "What would a good outcome look like for you in three months?"
    if shape == "prose":
        return f"Sure! Here is my advice. {answer} {follow_up}"
    if not as_json:
        return f"{answer} {follow_up}"
    if shape == "truncated_json":  # max_tokens reached inside the answer string
        text = json.dumps({"answer": answer, "question": follow_up})
        return text[: len(text) // 2]
    if shape == "json_array":
        return json.dumps([{"answer": answer, "question": follow_up}])
    if shape == "wrong_shape":
        return json.dumps({"response": answer, "follow_up": [follow_up]})
    return json.dumps({"answer": answer, "question": follow_up})


def _wants_json(body: dict[str, Any], system: str) -> bool:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return True
    return "json" in system.lower()


def openai_chat(body: dict[str, Any], *, refusal: bool, shape: str = "ok") -> dict[str, Any]:
    messages = body.get("messages") or []
    system = " ".join(m.get("content", "") for m in messages
                      if isinstance(m, dict) and m.get("role") in ("system", "developer")
                      and isinstance(m.get("content"), str))
    question = _last_user_text(messages)
    content = "" if refusal else answer_text(question, as_json=_wants_json(body, system), shape=shape)
    prompt_tokens, completion_tokens = count_tokens(messages), count_tokens(content)
    return {
        "id": _request_id("chatcmpl-", json.dumps(body, sort_keys=True)), "object": "chat.completion",
        "created": CREATED, "model": body.get("model"), "system_fingerprint": "fp_standin",
        "choices": [{"index": 0, "logprobs": None,
                     "finish_reason": "content_filter" if refusal else "length" if shape == "truncated_json"
                     else "stop",
                     "message": {"role": "assistant", "content": content, "refusal": None}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def openai_embeddings(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    texts = inputs if isinstance(inputs, list) else [inputs]
    dimensions = body.get("dimensions") or EMBEDDING_DIMENSIONS
    data = []
    for index, text in enumerate(texts):
        vector = embedding_vector(json.dumps(text), int(dimensions))
        if body.get("encoding_format") == "base64":
            encoded: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        else:
            encoded = vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = count_tokens(texts)
    return {"object": "list", "data": data, "model": body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def anthropic_message(body: dict[str, Any], *, refusal: bool, shape: str = "ok") -> dict[str, Any]:
    system = body.get("system") or ""
    if isinstance(system, list):
        system = " ".join(b.get("text", "") for b in system if isinstance(b, dict))
    question = _last_user_text(body.get("messages"))
    text = answer_text(question, as_json="json" in str(system).lower(), shape=shape)
    return {
        "id": _request_id("msg_", json.dumps(body, sort_keys=True)), "type": "message", "role": "assistant",
        "model": body.get("model"), "content": [] if refusal else [{"type": "text", "text": text}],
        "stop_reason": "refusal" if refusal else "max_tokens" if shape == "truncated_json" else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": count_tokens(body.get("messages")) + count_tokens(system),
                  "output_tokens": 0 if refusal else count_tokens(text)},
    }


def _words(text: str) -> list[str]:
    """The text in chunks of one word (its following space kept), as a model streams it."""
    parts = text.split(" ")
    return [p + " " for p in parts[:-1]] + [parts[-1]] if text else []


def stream_reply(provider: str, payload: dict[str, Any], failure: str | None = None) -> Reply:
    """The answer `payload` (a chat completion, a message) as the provider's server-sent events; `failure`
    (a STREAM_MODES mode) ends it after STREAM_CUT_AFTER chunks, cut or with the provider's error event."""
    events: list[tuple[str | None, str]] = []
    if provider == "anthropic":
        def add(name: str, data: dict[str, Any]) -> None:
            events.append((name, json.dumps({"type": name, **data})))

        text = "".join(b.get("text", "") for b in payload["content"])
        head = {**payload, "content": [], "stop_reason": None, "usage": {**payload["usage"], "output_tokens": 1}}
        add("message_start", {"message": head})
        add("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        chunks = [("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": w}})
                  for w in _words(text)]
        tail = [("content_block_stop", {"index": 0}),
                ("message_delta", {"delta": {"stop_reason": payload["stop_reason"], "stop_sequence": None},
                                   "usage": {"output_tokens": payload["usage"]["output_tokens"]}}),
                ("message_stop", {})]
        if failure is not None:
            chunks, tail = chunks[:STREAM_CUT_AFTER], []
        for name, data in chunks + tail:
            add(name, data)
        if failure == "stream_error":
            events.append(("error", json.dumps({"type": "error", "error": {"type": "overloaded_error",
                                                                           "message": "Overloaded"}})))
        return Reply(200, {}, events=tuple(events), cut=failure == "stream_cut")
    choice = payload["choices"][0]
    base = {k: payload[k] for k in ("id", "created", "model", "system_fingerprint")}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
        events.append((None, json.dumps({**base, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})))

    chunk({"role": "assistant", "content": "", "refusal": None})
    words = _words(choice["message"]["content"] or "")
    for word in words[:STREAM_CUT_AFTER] if failure else words:
        chunk({"content": word})
    if failure == "stream_error":
        events.append((None, json.dumps({"error": {"message": "The server had an error while processing your "
                                                              "request. Sorry about that!", "type": "server_error",
                                                   "param": None, "code": None}})))
    elif failure is None:
        chunk({}, choice["finish_reason"])
        events.append((None, "[DONE]"))
    return Reply(200, {}, events=tuple(events), cut=failure == "stream_cut")


def models_list(provider: str) -> dict[str, Any]:
    if provider == "openai":
        return {"object": "list", "data": [_openai_model(m) for m in OPENAI_MODELS]}
    data = [_anthropic_model(m) for m in ANTHROPIC_MODELS]
    return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}


def _openai_model(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": CREATED, "owned_by": "openai"}


def _anthropic_model(model: str) -> dict[str, Any]:
    return {"type": "model", "id": model, "display_name": model.replace("-", " ").title(),
            "created_at": "2024-10-22T00:00:00Z"}


# -- the server ---------------------------------------------------------------------------------

class LLMStandIn:
    """The stand-in server; see the module doc."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, retry_after: int = 1,
                 retry_after_ms: int | None = None) -> None:
        self.host = host
        self.port = port
        self.retry_after = retry_after
        self.retry_after_ms = retry_after_ms
        self._failures: dict[tuple[str, str | None], Failure] = {}
        self._requests: list[ReceivedRequest] = []
        self._epoch = 0  # bumped by reset(): a request is logged only in the epoch it arrived in
        self.server_errors: list[str] = []  # handler exceptions, kept here instead of printed to stderr
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._counter = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LLMStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def start(self) -> LLMStandIn:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.accepted_in = {}  # type: ignore[attr-defined]
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs=SERVE, name="llm-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def set_failure(self, provider: str, mode: str | None, *, endpoint: str | None = None,
                    delay: float = 0.0, times: int | None = None) -> None:
        """Make `provider` ("openai" | "anthropic" | "all") fail with `mode`; None or "ok" clears it.
        With `times`, only the next `times` requests of that provider (and endpoint) fail."""
        providers = PROVIDERS if provider == "all" else (provider,)
        if any(p not in PROVIDERS for p in providers):
            raise ValueError(f"unknown provider {provider!r}: expected openai, anthropic or all")
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        key_endpoint = endpoint_of(endpoint) if endpoint else None
        if key_endpoint is not None and key_endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}: expected one of {', '.join(ENDPOINTS)}")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError(f"times must be a positive integer, got {times!r}")
        with self._lock:
            for p in providers:
                if mode in (None, "ok"):
                    self._failures.pop((p, key_endpoint), None)
                else:
                    self._failures[(p, key_endpoint)] = Failure(mode, float(delay), times)

    def reset(self) -> None:
        """Clear every failure and the request log; a request still in flight from before is never logged."""
        with self._lock:
            self._failures.clear()
            self._requests.clear()
            self._epoch += 1

    @property
    def epoch(self) -> int:
        """The request log's generation: requests are logged only into the generation they arrived in."""
        with self._lock:
            return self._epoch

    def failure_for(self, provider: str, endpoint: str) -> Failure | None:
        """The failure this request gets (a counted one is used up by it)."""
        with self._lock:
            for key in ((provider, endpoint), (provider, None)):
                failure = self._failures.get(key)
                if failure is None:
                    continue
                if failure.times is not None:
                    if failure.times <= 1:
                        del self._failures[key]
                    else:
                        self._failures[key] = Failure(failure.mode, failure.delay, failure.times - 1)
                return failure
            return None

    def record(self, request: ReceivedRequest, epoch: int | None = None) -> None:
        """Log `request`, unless the log was reset since it arrived (`epoch`): no test sees another's request."""
        with self._lock:
            if epoch is None or epoch == self._epoch:
                self._requests.append(request)

    def next_request_id(self) -> str:
        """A request id like the providers' (`req_...`), deterministic per server run."""
        with self._lock:
            self._counter += 1
            return _request_id("req_", str(self._counter))

    def wait(self, seconds: float) -> None:
        """Sleep for a `slow` answer, cut short when the server stops."""
        self._stopping.wait(seconds)

    # -- dispatch ---------------------------------------------------------------------------

    def answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[str, str, Reply]:
        """(provider, endpoint, reply) for one API request."""
        anthropic = "x-api-key" in headers or "anthropic-version" in headers
        provider = "anthropic" if anthropic else "openai"
        endpoint = endpoint_of(path)
        route = path.split("?")[0].rstrip("/")
        bearer = headers.get("authorization", "").removeprefix("Bearer ").strip()
        key = (headers.get("x-api-key", "").strip() or bearer) if anthropic else bearer
        model = (body.get("model") if isinstance(body, dict) else None) or ""
        if endpoint == "models" and route.count("/") == 3:
            model = route.rsplit("/", 1)[1]
        make_error = anthropic_error if anthropic else openai_error

        def error(mode: str) -> Reply:
            return make_error(mode, model=model or "unknown", endpoint=endpoint, key=key,
                              retry_after=self.retry_after, retry_after_ms=self.retry_after_ms)

        known = {"openai": ("/v1/chat/completions", "/v1/embeddings", "/v1/models"),
                 "anthropic": ("/v1/messages", "/v1/models")}[provider]
        if not any(route == k or (k == "/v1/models" and route.startswith(k + "/")) for k in known):
            return provider, endpoint, _not_found(provider, method, route)
        if method == "POST" and not isinstance(body, dict):
            return provider, endpoint, _bad_json(provider)
        if not key or key.startswith("bad"):
            return provider, endpoint, error("auth")
        failure = self.failure_for(provider, endpoint)
        mode = failure.mode if failure else "ok"
        if mode == "slow":
            self.wait(failure.delay if failure else 0.0)
            mode = "ok"
        # "malformed" (half of the JSON answer) is the same as the answer mode truncated_json
        shape = {"malformed": "truncated_json"}.get(mode, mode)
        shape = shape if shape in (*ANSWER_MODES, OBEY) and endpoint in ("chat", "messages") else "ok"
        streaming = isinstance(body, dict) and body.get("stream") is True and endpoint in ("chat", "messages")
        stream_failure = mode if mode in STREAM_MODES and streaming else None
        if mode in (*ANSWER_MODES, OBEY, *STREAM_MODES, "malformed"):
            mode = "ok"
        if mode not in ("ok", "refusal"):
            return provider, endpoint, error(mode)
        invalid = _invalid_request(provider, endpoint, body)
        if invalid is not None:
            return provider, endpoint, invalid
        models = ANTHROPIC_MODELS if anthropic else OPENAI_MODELS
        if model and model not in models:
            return provider, endpoint, error("model_not_found")
        if endpoint == "models":
            payload = models_list(provider) if route == "/v1/models" else (
                _anthropic_model(model) if anthropic else _openai_model(model))
        elif endpoint == "embeddings":
            payload = openai_embeddings(body)
        elif endpoint == "messages":
            payload = anthropic_message(body, refusal=mode == "refusal", shape=shape)
        else:
            payload = openai_chat(body, refusal=mode == "refusal", shape=shape)
        if streaming:
            return provider, endpoint, stream_reply(provider, payload, stream_failure)
        return provider, endpoint, Reply(200, payload)

    def admin(self, method: str, route: str, body: Any) -> Reply:
        """The `/_standin/...` control API."""
        if method == "GET" and route == "/_standin/requests":
            return Reply(200, {"requests": [asdict(r) for r in self.requests]})
        if method == "POST" and route == "/_standin/reset":
            self.reset()
            return Reply(200, {"ok": True})
        if method == "POST" and route == "/_standin/failure" and isinstance(body, dict):
            try:
                self.set_failure(body.get("provider", "all"), body.get("mode"), endpoint=body.get("endpoint"),
                                 delay=float(body.get("delay") or 0.0), times=body.get("times"))
            except (TypeError, ValueError) as exc:
                return Reply(400, {"error": str(exc)})
            return Reply(200, {"ok": True})
        return Reply(404, {"error": f"no admin route {method} {route}"})


def _invalid_request(provider: str, endpoint: str, body: Any) -> Reply | None:
    """The providers' 400 for an empty `messages` / `input` (the only validation the stand-in does)."""
    if not isinstance(body, dict):
        return None
    if endpoint == "chat" and not body.get("messages"):
        return Reply(400, {"error": {"message": "Invalid 'messages': empty array. Expected an array with minimum "
                                                "length 1, but got an empty array instead.",
                                     "type": "invalid_request_error", "param": "messages", "code": "empty_array"}})
    if endpoint == "embeddings" and body.get("input") in ("", [], None):
        return Reply(400, {"error": {"message": "'$.input' is invalid. Please check the API reference: "
                                                "https://platform.openai.com/docs/api-reference.",
                                     "type": "invalid_request_error", "param": None, "code": None}})
    if endpoint == "messages" and not body.get("messages"):
        return Reply(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                      "message": "messages: at least one message is required"}})
    return None


def _not_found(provider: str, method: str, route: str) -> Reply:
    if provider == "anthropic":
        return Reply(404, {"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}})
    return Reply(404, {"error": {"message": f"Invalid URL ({method} {route})", "type": "invalid_request_error",
                                 "param": None, "code": None}})


def _bad_json(provider: str) -> Reply:
    if provider == "anthropic":
        return Reply(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                      "message": "The request body is not valid JSON."}})
    return Reply(400, {"error": {"message": "We could not parse the JSON body of your request.",
                                 "type": "invalid_request_error", "param": None, "code": None}})


class _Server(ThreadingHTTPServer):
    """A threading server whose handler errors are kept on the stand-in, never printed: a client that
    hung up on a slow answer must not put a traceback into whatever stderr is current (a test's capture)."""

    def process_request(self, request: Any, client_address: Any) -> None:
        """Note the log generation at accept time, before the handler thread even starts."""
        self.accepted_in[request] = self.standin.epoch  # type: ignore[attr-defined]
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.accepted_in.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            return
        standin: LLMStandIn = self.standin  # type: ignore[attr-defined]
        with standin._lock:
            standin.server_errors.append(f"{client_address}: {type(exc).__name__}: {exc}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm-standin/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the request log is `LLMStandIn.requests`."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        standin: LLMStandIn = self.server.standin  # type: ignore[attr-defined]
        # the first request of a connection belongs to the generation it was accepted in, later ones
        # (keep-alive) to the one current when they are read
        epoch = self.server.accepted_in.pop(self.request, None)  # type: ignore[attr-defined]
        epoch = standin.epoch if epoch is None else epoch
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        route = self.path.split("?")[0]
        if route.startswith("/_standin/"):
            self._send(standin.admin(method, route, body), "admin")
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        provider, endpoint, reply = standin.answer(method, self.path, headers, body)
        standin.record(ReceivedRequest(method, route, provider, endpoint, body, reply.status), epoch)
        self._send(reply, provider)

    def _send(self, reply: Reply, provider: str) -> None:
        request_id = self.server.standin.next_request_id()  # type: ignore[attr-defined]
        if reply.events is not None:
            self._send_events(reply, provider, request_id)
            return
        body = reply.body
        if provider == "anthropic" and body.get("type") == "error":
            body = {**body, "request_id": request_id}
        data = json.dumps(body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            if provider == "anthropic":
                self.send_header("request-id", request_id)
            if provider == "openai":
                self.send_header("x-request-id", request_id)
                self.send_header("openai-organization", ORG.lower())
                self.send_header("openai-processing-ms", "12")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_events(self, reply: Reply, provider: str, request_id: str) -> None:
        """A stream: one HTTP chunk an event; a `cut` one closes the connection without the last chunk."""
        try:
            self.send_response(reply.status)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("request-id" if provider == "anthropic" else "x-request-id", request_id)
            self.end_headers()
            for name, data in reply.events or ():
                event = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
                raw = event.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
                self.wfile.flush()
            if reply.cut:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.llm_standin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--fail", action="append", default=[], metavar="PROVIDER[.ENDPOINT]=MODE",
                        help="start with a failure, e.g. openai=quota or anthropic.messages=overloaded")
    parser.add_argument("--delay", type=float, default=5.0, help="seconds a `slow` answer waits")
    parser.add_argument("--retry-after", type=int, default=1, help="the `retry-after` seconds of a 429")
    parser.add_argument("--retry-after-ms", type=int, default=None, help="also send `retry-after-ms`")
    args = parser.parse_args(argv)
    standin = LLMStandIn(args.host, args.port, retry_after=args.retry_after, retry_after_ms=args.retry_after_ms)
    for spec in args.fail:
        target, _, mode = spec.partition("=")
        provider, _, endpoint = target.partition(".")
        try:
            standin.set_failure(provider, mode, endpoint=endpoint or None, delay=args.delay)
        except ValueError as exc:
            parser.error(f"--fail {spec}: {exc}")
    standin.start()
    print(f"LLM stand-in on {standin.base_url} (OpenAI base_url {standin.openai_base_url}, "
          f"Anthropic base_url {standin.anthropic_base_url})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
