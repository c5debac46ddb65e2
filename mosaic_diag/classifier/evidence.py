"""Evidence: what the classifier looks at, built from a live exception or from log text."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mosaic_diag.classifier import newest_first
from mosaic_diag.classifier.tracebacks import ParsedException, parse_traceback_text
from mosaic_diag.platform.lazyre import LazyPattern

_TRACEBACK_HEADER = "Traceback (most recent call last):"
# the top edge of a Rich traceback box (`╭──── Traceback (most recent call last) ────╮`): where its traceback starts
_RICH_TOP = LazyPattern(r"^[ \t]*╭─*[ ]*Traceback", re.M)
# a terminal's colours and styles in a pasted text (IPython's coloured traceback, a notebook's raw output): CSI and
# OSC sequences and two-byte escapes, as the log reader drops them (`logs.source`)
_ANSI = LazyPattern(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[@-Z\\-_])")

_STATUS_PATTERNS = LazyPattern(
    r"Error code: (\d{3})\b"
    r"|\b(\d{3}) (?:Client|Server) Error\b"
    r"|\b(?:Client|Server) error '(\d{3})\b"
    r"|\bHTTP(?:/\d(?:\.\d)?)?\s+(\d{3})\b"
    r"|\bstatus(?:_code| code)?[=: ]+(\d{3})\b"
    r"|\bresponse[ _]code[=: ]+(\d{3})\b"  # "Response Code: 429" (airbyte_cdk), "response_code=503"
    r"|\bHTTPError: HTTP Error (\d{3})\b"
    r"|\bHTTP code (\d{3}) from API\b"  # openai<1.0's APIError for a body it could not read (an HTML error page)
    r"|\b[Ii]nvalid status code '(\d{3})\b"
    # anthropic>=2: "429 This request would exceed ... (request_id: req_…, path: /v1/messages, type: rate_limit_error)"
    r"|(?:^|:\s)(\d{3}) [^\n]*\((?:request_id: [^,()\n]*, )?path: [^,()\n]*, type: [\w.-]+\)"
    r"|\bAPI error:? (\d{3})\b"
    r"|\b([45]\d\d) (?:Bad Request|Unauthorized|Payment Required|Forbidden|Not Found|Request Timeout|Conflict|Too Many "
    r"Requests|Internal Server Error|Bad Gateway|Service Unavailable|Gateway Time-?out)\b",
    re.IGNORECASE,
)
_BODY_AFTER_CODE = LazyPattern(r"Error code: \d{3} - (\{.*\})\s*$", re.DOTALL)
# quoted JSON / dict fields, also with escaped quotes (a JSON body inside a JSON string)
_CODE_FIELDS = LazyPattern(r"""\\?['"](?:code|type)\\?['"]\s*:\s*\\?['"]([A-Za-z_][\w.-]{2,60})\\?['"]""")
# anthropic>=2 ends its status errors with "(request_id: …, path: …, type: <error type>)"
_TRAILER_TYPE = LazyPattern(r"\((?:request_id: [^,()\n]*, )?path: [^,()\n]*, type: ([A-Za-z_][\w.-]{2,60})\)")
_URL_HOST = LazyPattern(r"\b[a-z][a-z0-9+.-]{0,39}://(?:[^@/\s'\"]*@)?([A-Za-z0-9.-]+)", re.IGNORECASE)
_POOL_HOST = LazyPattern(r"\bhost='([A-Za-z0-9.-]+)'")
# aiohttp's connector errors (`ClientConnectorError` and its certificate / SSL / proxy kinds) name the host they could
# not reach: `Cannot connect to host api.openai.com:443 ssl:default [Connect call failed …]`
_AIOHTTP_HOST = LazyPattern(r"\bCannot connect to host ([A-Za-z0-9.-]+):\d")
_URL = LazyPattern(r"\b[a-z][a-z0-9+.-]{0,39}://\S+", re.IGNORECASE)
# the URL a request went to, as HTTP clients and apps name it: requests' `for url: …`, httpx's `for url '…'`, aiohttp's
# `url='…'` / `url=URL('…')`, a logged `POST http://…` (httpx's `HTTP Request: POST …`, Go's `Post "http://…"`), Node's
# `request to … failed`, an app's `connect to …` / `base_url=…`; not a link in a message's prose (a provider's docs,
# `https://aka.ms/…`) nor a script's URL in a browser's stack frame. (On one line: a URL a terminal wrapped after its
# method is cut, its host unread.)
_REQUEST_URL_HOST = LazyPattern(
    r"(?:\bfor url:? ?|\burl ?[=:] ?(?:URL\()?|\b(?:GET|POST|PUT|PATCH|DELETE)[ \t]+|\brequest to |\bconnect to |"
    r"\bbase_url ?[=:] ?)['\"]?[a-z][a-z0-9+.-]{0,39}://(?:[^@/\s'\"]*@)?([A-Za-z0-9.-]+)", re.IGNORECASE)
# ... and a URL the app's message puts before the error it got (`f"{base_url}: {e}"`, `[local] model at {url}: {e}`):
# the URL's last character right before `: ` (a link in prose is followed by a space, a quote or a bracket)
_URL_BEFORE_ERROR = LazyPattern(r"\b[a-z][a-z0-9+.-]{0,39}://(?:[^@/\s'\"]*@)?([A-Za-z0-9.-]+)[^\s'\"<>()\[\]]*?: ",
                                re.IGNORECASE)

_OPENAI_CODES = frozenset({
    "insufficient_quota", "rate_limit_exceeded", "invalid_api_key", "model_not_found",
    "context_length_exceeded", "content_filter", "content_policy_violation",
    "unsupported_country_region_territory",  # its geo block (403, type request_forbidden)
    "unsupported_parameter", "unsupported_value",  # a parameter or value the model does not take (`max_tokens`)
})
# Anthropic's own error types; its generic `api_error` (a 500) is no evidence alone: OpenAI-compatible
# servers (Ollama, vLLM, proxies) use the same word in OpenAI's {'error': {…}} envelope
_ANTHROPIC_CODES = frozenset({
    "overloaded_error", "authentication_error", "not_found_error", "rate_limit_error", "permission_error",
    "request_too_large",  # its 413 (`RequestTooLargeError`); OpenAI's API has no such type
})
# Anthropic's body envelope {"type": "error", "error": {…}} (JSON, dict, or escaped inside a JSON string)
_ANTHROPIC_ENVELOPE = LazyPattern(
    r"""\\?['"]type\\?['"]\s*:\s*\\?['"]error\\?['"]\s*,\s*\\?['"]error\\?['"]\s*:\s*\{""")
# (chatgpt.com: OpenAI's own, the backend Codex CLI calls with a ChatGPT sign-in: `url: https://chatgpt.com/backend-api/
# codex/responses`)
_PROVIDER_HOSTS = (("openai", LazyPattern(r"(^|\.)(openai\.(com|azure\.com)|chatgpt\.com)$")),
                   ("anthropic", LazyPattern(r"(^|\.)(anthropic\.com|claude\.(com|ai))$")))
# wrappers name the provider: litellm's "AnthropicException - Overloaded", "OpenAIException - Error code: 429", and
# for Azure OpenAI "AzureException - …" (older releases "Azure Exception - …"): OpenAI's models, OpenAI's errors
_WRAPPER_PROVIDER = LazyPattern(r"\b(?:(Anthropic|OpenAI|AzureOpenAI)(?:Exception|Error)|Azure ?Exception) - ")
# a driver error carried by a wrapper: "(psycopg2.errors.UndefinedColumn) column ..." (SQLAlchemy)
_WRAPPED = LazyPattern(r"\((?P<type>[A-Za-z_]\w*(?:\.\w+)*\.[A-Z]\w*)\)\s+(?P<msg>.+)", re.S)
# ... and the driver's own error behind an async adapter's: "(sqlalchemy.dialects.postgresql.asyncpg.IntegrityError)
# <class 'asyncpg.exceptions.UniqueViolationError'>: duplicate key value …" (SQLAlchemy's asyncpg dialect)
_CLASS_REPR = LazyPattern(r"<class '(?P<type>[A-Za-z_]\w*(?:\.\w+)*)'>:\s*(?P<msg>.*)", re.S)
# openai<1.0 raised openai.error.*; the names the rules use are those of openai>=1
_OPENAI_LEGACY = {"Timeout": "APITimeoutError", "InvalidRequestError": "BadRequestError",
                  "ServiceUnavailableError": "InternalServerError", "TryAgain": "InternalServerError",
                  "APIError": "APIError", "SignatureVerificationError": "APIError"}
# the SDK's package in a Node stack frame, a `file://` URL's path too (`at D3.makeRequest (file:///…/node_modules/
# @anthropic-ai/claude-code/cli.js:683:7813)`): the module in the frames, as site-packages' `anthropic/` is Python's
_NODE_PACKAGE = LazyPattern(r"\bnode_modules/(?:(?P<anthropic>@anthropic-ai)|(?P<openai>openai))/")
# (an "OpenAI-compatible" server, provider or API is by its name not OpenAI's: Ollama, vLLM, a proxy; OpenAI's
# embedding models by their names, `text-embedding-3-small`, `-3-large`, `-ada-002`: LM Studio names any embedding model
# it serves `text-embedding-<name>`, `text-embedding-bge-reranker-v2-m3`, `text-embedding-nomic-embed-text-v1.5`)
_PROVIDER_WORDS = (("openai", LazyPattern(r"\b(openai(?![-_ ]?compatible)|gpt-?[34o]\w*"
                                          r"|text-embedding-(?:3-small|3-large|ada-\d{3}))\b", re.I)),
                   ("anthropic", LazyPattern(r"\b(anthropic|claude)\b", re.I)))
# a Claude model's id (`claude-3-5-sonnet-20241022`, litellm's `anthropic/claude-…`, Bedrock's `anthropic.claude-…`):
# weaker than the provider's name (taxonomy rules 7-8, who raised it): gateways and relays answer for Claude models in
# their own words, so the id attributes only when nothing in the event says another server answered (`_RELAYED`)
_CLAUDE_MODEL = LazyPattern(r"\b(?:anthropic[/.])?claude-\w[\w.:-]*", re.I)
# ... an answer in OpenAI's protocol (the openai client's `Error code: 404 - <message>` or `- {'error': {…}}`, which
# Anthropic's API does not send: its body is `{'type': 'error', …}`; an error object's `param` field), or a relay's
# own name or request id (LiteLLM's proxy, OpenRouter, one-api / new-api's `(request id: …)`)
_RELAYED = LazyPattern(
    r"""\bError code: \d{3} - (?!\{\s*\\?['"]type\\?['"]\s*:\s*\\?['"]error\\?['"])"""
    r"""|\\?['"]param\\?['"]\s*:"""
    r"|\b(?:litellm|openrouter|one-api|new-api)\b|\(request id: \w+\)", re.I)
# a provider's name as a folder of a path that is no module's (rule 6: `POST /openai/v1/chat/completions` to a proxy or
# Groq, whose paths OpenAI's API does not have; Vertex AI's resource name `projects/…/publishers/anthropic/models/…`):
# the path names a route or a resource, not who answered. An installed package's folder (`site-packages/openai/`,
# `node_modules/openai/`) is the SDK's module and stays its evidence
_PATH_SEGMENT_WORD = LazyPattern(r"(?<!site-packages)(?<!dist-packages)(?<!node_modules)/(?:openai|anthropic)(?=/)",
                                 re.I)
# pydantic's listing of a model's refused fields (`1 validation error for Settings` then each field's path and
# `Input should be 'anthropic', … [type=…, input_value=…]`): what follows the model's name is data the app was given
_VALIDATION_LISTING = LazyPattern(r"\b\d+ validation errors? for ([\w.\[\]]+)")


@dataclass(frozen=True)
class Frame:
    """One traceback frame."""

    file: str
    line: int
    function: str
    source: str = ""

    @property
    def is_application(self) -> bool:
        f = self.file.replace("\\", "/")
        if "site-packages/" in f or "dist-packages/" in f or f.startswith("<frozen"):
            return False
        return not re.search(r"/lib/python3\.\d+/", f)

    def text(self) -> str:
        return f"{self.file}:{self.function}: {self.source}"


@dataclass(frozen=True)
class ExceptionInfo:
    """One exception of a chain: type as printed, message, HTTP status, provider codes."""

    type: str | None
    message: str
    frames: tuple[Frame, ...] = ()
    status: int | None = None
    codes: frozenset[str] = frozenset()
    provider: str | None = None
    aliases: tuple[str, ...] = ()  # other names of the type: openai<1.0's, a litellm wrapper's


@dataclass(frozen=True)
class Evidence:
    """Everything known about one error event."""

    exceptions: tuple[ExceptionInfo, ...] = ()  # in printed order: root cause first
    logger: str | None = None
    level: str | None = None
    log_message: str | None = None
    kind: str = "error"

    @property
    def frames(self) -> tuple[Frame, ...]:
        return tuple(f for exc in self.exceptions for f in exc.frames)

    @property
    def final(self) -> ExceptionInfo | None:
        return self.exceptions[-1] if self.exceptions else None


def _status_from_text(text: str) -> int | None:
    m = _STATUS_PATTERNS.search(text)
    if not m:
        return None
    value = next(g for g in m.groups() if g)
    return int(value)


def _collect_codes(obj: Any, out: set[str], depth: int = 0) -> None:
    if depth > 4:
        return
    if isinstance(obj, dict):
        for key in ("code", "type"):
            value = obj.get(key)
            if isinstance(value, str) and value and value != "error":
                out.add(value)
        for value in obj.values():
            if isinstance(value, dict | list):
                _collect_codes(value, out, depth + 1)
    elif isinstance(obj, list):
        for value in obj[:5]:
            _collect_codes(value, out, depth + 1)


def codes_from_text(text: str) -> frozenset[str]:
    """Provider error codes/types from an error body in `text` (JSON or Python-dict style).

    The dict style (`{'error': {'code': 'insufficient_quota'}}`) is read with
    `ast.literal_eval`, which only accepts literals and never runs code.
    """
    found: set[str] = set()
    m = _BODY_AFTER_CODE.search(text)
    if m:
        body = m.group(1)
        parsed: Any = None
        try:
            parsed = json.loads(body)
        except ValueError:
            import ast  # (here: most runs read no dict-style body)

            try:
                parsed = ast.literal_eval(body) if len(body) < 20_000 else None
            except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                parsed = None
        _collect_codes(parsed, found)
    if not found:
        found.update(c for c in _CODE_FIELDS.findall(text[:20_000]) if c != "error")
    if not found and "path: " in text:
        found.update(_TRAILER_TYPE.findall(text[:20_000]))
    return frozenset(found)


def hosts_in(text: str) -> tuple[str, ...]:
    """Hosts of URLs (and of urllib3's `host='…'`, aiohttp's `Cannot connect to host …:443`) in `text`, lower case,
    in order."""
    hosts = [h.lower().rstrip(".") for h in _URL_HOST.findall(text)]
    hosts += [h.lower() for h in _POOL_HOST.findall(text)]
    if "Cannot connect to host " in text:
        hosts += [h.lower().rstrip(".") for h in _AIOHTTP_HOST.findall(text)]
    return tuple(dict.fromkeys(hosts))


def request_hosts(text: str) -> tuple[str, ...]:
    """Hosts `text` names as a request's (`_REQUEST_URL_HOST`, `_URL_BEFORE_ERROR`, urllib3's `host='…'`, aiohttp's
    `Cannot connect to host …:443`), lower case, in order."""
    hosts = [h.lower().rstrip(".") for pattern in (_REQUEST_URL_HOST, _URL_BEFORE_ERROR)
             for h in pattern.findall(text)] if "://" in text else []
    hosts += [h.lower() for h in _POOL_HOST.findall(text)]
    if "Cannot connect to host " in text:
        hosts += [h.lower().rstrip(".") for h in _AIOHTTP_HOST.findall(text)]
    return tuple(dict.fromkeys(hosts))


def provider_of_codes(codes: frozenset[str]) -> str | None:
    if codes & _OPENAI_CODES:
        return "openai"
    if codes & _ANTHROPIC_CODES:
        return "anthropic"
    return None


def provider_of_type(type_name: str | None) -> str | None:
    if not type_name:
        return None
    root = type_name.split(".", 1)[0]
    return root if root in ("openai", "anthropic") else None


def provider_of_context(evidence: Evidence) -> str | None:
    """Attribute an event to a provider from frames, logger, hosts and words (URLs ignored)."""
    for frame in reversed(evidence.frames):
        path = frame.file.replace("\\", "/")
        for name in ("openai", "anthropic"):
            if f"/{name}/" in path and ("site-packages" in path or "dist-packages" in path):
                return name
    if evidence.logger:
        for name in ("openai", "anthropic"):
            if re.search(rf"(^|[._]){name}($|[._])", evidence.logger, re.I):
                return name
    texts = [evidence.log_message or ""] + [e.message for e in evidence.exceptions]
    for text in texts:
        if "node_modules/" in text and (m := _NODE_PACKAGE.search(text)):
            return m.lastgroup
    for text in texts:
        for host in hosts_in(text):
            for name, pattern in _PROVIDER_HOSTS:
                if pattern.search(host):
                    return name
    # a request's host left here is not a provider's: the server that answered (a self-hosted or OpenAI-compatible
    # one, a relay). A word (`openai` in an app's message, an OpenAI model's name, `anthropic`) is then no evidence of
    # who answered (taxonomy rule 6): the host is; the client's type, frames, logger, wrapper or body still are (above)
    if any(request_hosts(text) for text in texts):
        return None
    relayed: bool | None = None
    for text in texts:
        bare = _URL.sub(" ", _without_listing(text))
        model = _CLAUDE_MODEL.search(bare)
        if model is not None:  # (blanked, not cut: the other words keep their places)
            bare = _CLAUDE_MODEL.sub(lambda m: " " * len(m.group()), bare)
        if "/" in bare:  # a provider's name as a path's folder is none of its words (rule 6)
            bare = _PATH_SEGMENT_WORD.sub(lambda m: " " * len(m.group()), bare)
        hits = [(m.start(), name) for name, pat in _PROVIDER_WORDS if (m := pat.search(bare))]
        if model is not None:
            if relayed is None:
                relayed = any(hosts_in(t) or _RELAYED.search(t) for t in texts)
            if not relayed:
                hits.append((model.start(), "anthropic"))
        if hits:
            return min(hits)[1]
    return None


def _without_listing(text: str) -> str:
    """`text` up to a pydantic validation listing, and the name of the model it refuses (langchain's `for Anthropic`
    is the client's own class): a provider's name among the refused fields or their values does not attribute."""
    if "validation error" not in text or (m := _VALIDATION_LISTING.search(text)) is None:
        return text
    return f"{text[:m.start()]} {m.group(1)}"


def _aliases(type_name: str | None, wrapper: str | None) -> tuple[str, ...]:
    """Other names of a type: openai<1.0's `openai.error.RateLimitError` is `openai.RateLimitError`;
    a litellm wrapper's `litellm.RateLimitError` about Anthropic is `anthropic.RateLimitError`."""
    if not type_name:
        return ()
    short = type_name.rsplit(".", 1)[-1]
    if type_name.startswith("openai.error."):
        return (f"openai.{_OPENAI_LEGACY.get(short, short)}",)
    if wrapper and not type_name.startswith(f"{wrapper}."):
        return (f"{wrapper}.{short}",)
    return ()


TEXT_CAP = 64 << 10  # what the rules read of one text: its first and its last 64 KiB
LINE_CAP = 16 << 10  # and of one line of it: its first and its last 16 KiB


def _cut_line(line: str) -> str:
    return f"{line[:LINE_CAP]}[... {len(line) - 2 * LINE_CAP:,} characters not read ...]{line[-LINE_CAP:]}"


def bounded(text: str, cap: int = TEXT_CAP) -> str:
    """`text`, or what the rules can read of it in time: the rules search each text dozens of times, so a
    pasted multi-megabyte log or an exception carrying a whole response body took seconds per megabyte.
    A line longer than 2 x `LINE_CAP` keeps its start and end; of more than 2 x `cap` characters, the
    whole lines of the first and the last `cap` are kept, around a line saying what was cut (a cause is at a
    text's start, the record and its message, and at its end, a traceback's last frames and exception)."""
    if len(text) <= 2 * cap and (len(text) <= 2 * LINE_CAP or "\n" in text and
                                 max(map(len, text.split("\n"))) <= 2 * LINE_CAP):
        return text
    lines = [_cut_line(line) if len(line) > 2 * LINE_CAP else line for line in text.split("\n")]
    if sum(map(len, lines)) + len(lines) <= 2 * cap:
        return "\n".join(lines)
    head: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) > cap:
            break
        head.append(line)
        size += len(line) + 1
    tail: list[str] = []
    size = 0
    for line in reversed(lines[len(head):]):
        if size + len(line) > cap:
            break
        tail.append(line)
        size += len(line) + 1
    cut = len(lines) - len(head) - len(tail)
    return "\n".join([*head, f"  [... {cut:,} lines not read ...]", *reversed(tail)])


def exception_info(type_name: str | None, message: str, frames: tuple[Frame, ...] = (),
                   status: int | None = None, codes: frozenset[str] | None = None) -> ExceptionInfo:
    """An ExceptionInfo with status, codes and provider filled in from its own text (at most `bounded`)."""
    message = bounded(message)
    if status is None:
        status = _status_from_text(message)
    if codes is None:
        codes = codes_from_text(message)
    wrapper = None
    if " - " in message:
        m = _WRAPPER_PROVIDER.search(message[:2000])
        if m:
            wrapper = "anthropic" if m.group(1) == "Anthropic" else "openai"
    # a wrapper names its cause's provider (taxonomy rule 7): an openai client's error relaying LiteLLM's
    # `AnthropicException - {…}` is Anthropic's answer, as its text alone reads
    provider = wrapper or provider_of_type(type_name) or provider_of_codes(codes)
    if provider is None and (_ANTHROPIC_ENVELOPE.search(message[:20_000])
                             or ("path: " in message and _TRAILER_TYPE.search(message[:20_000]))):
        provider = "anthropic"  # its body's envelope, or anthropic>=2's "(request_id: …, path: …, type: …)"
    return ExceptionInfo(type_name, message, frames, status, codes, provider, _aliases(type_name, wrapper))


def with_wrapped(infos: tuple[ExceptionInfo, ...]) -> tuple[ExceptionInfo, ...]:
    """`infos` with the driver errors their messages carry (taxonomy rule 7): SQLAlchemy's
    `(psycopg2.errors.UndefinedColumn) column …` is evidence as if that type had been raised, and so is the
    `<class 'asyncpg.exceptions.UniqueViolationError'>: …` its async adapter's error names."""
    out: list[ExceptionInfo] = []
    for info in infos:
        out.append(info)
        if "(" in info.message:
            m = _WRAPPED.search(info.message[:4000])
            if m and m.group("type") != info.type:
                out.append(exception_info(m.group("type"), m.group("msg"), info.frames))
                inner = _CLASS_REPR.match(m.group("msg"))
                if inner:
                    out.append(exception_info(inner.group("type"), inner.group("msg"), info.frames))
    return tuple(out)


def type_name_of(exc: BaseException) -> str:
    """The type as Python prints it in a traceback (`psycopg2.errors.UndefinedColumn`)."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def _live_status_and_codes(exc: BaseException) -> tuple[int | None, frozenset[str]]:
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if not isinstance(status, int):
            status = None
    codes: set[str] = set()
    body = getattr(exc, "body", None)
    _collect_codes(body, codes)
    for attr in ("code", "type"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value and not value.isdigit() and value != "error":
            codes.add(value)
    return status, frozenset(codes)


def evidence_from_exception(exc: BaseException, *, logger: str | None = None,
                            level: str | None = "ERROR", log_message: str | None = None
                            ) -> Evidence:
    """Evidence of a live exception and its `__cause__` / `__context__` chain; an exception group's sub-exceptions
    (and their chains, nested groups too) follow the group, as Python prints them."""
    import traceback

    infos = []
    for item in _printed_order(exc, set()):
        frames = tuple(Frame(fs.filename, fs.lineno or 0, fs.name, (fs.line or "").strip())
                       for fs in traceback.extract_tb(item.__traceback__))
        message = str(item)
        if isinstance(item, KeyError) and item.args:
            message = repr(item.args[0])
        status, codes = _live_status_and_codes(item)
        text_codes = codes_from_text(message)
        infos.append(exception_info(type_name_of(item), message, frames,
                                    status if status is not None else None,
                                    codes | text_codes))
    return Evidence(with_wrapped(tuple(infos)), logger, level, bounded(log_message) if log_message else log_message)


_MAX_LIVE_EXCEPTIONS = 100


def _printed_order(exc: BaseException, seen: set[int]) -> list[BaseException]:
    """`exc`'s chain root cause first, each exception group followed by its sub-exceptions' chains (at most
    `_MAX_LIVE_EXCEPTIONS` in all; each exception once)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    out: list[BaseException] = []
    for item in reversed(chain):
        out.append(item)
        if isinstance(item, BaseExceptionGroup):
            for sub in item.exceptions:
                if len(out) >= _MAX_LIVE_EXCEPTIONS:
                    break
                out += _printed_order(sub, seen)
    return out[:_MAX_LIVE_EXCEPTIONS]


# prefixes a paste may carry on every line: Docker Compose's "web-1  | ", a platform's timestamp
_LINE_PREFIXES = (LazyPattern(r"([A-Za-z0-9][\w.-]{0,62}) +\| ?"),
                  LazyPattern(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) ?"))


def peel_prefixes(text: str) -> str:
    """`text` without a prefix that wraps (nearly) every line of it: a pasted `docker compose logs`
    or Render text export reads like the process's own output."""
    lines = text.splitlines()
    if len(lines) < 2:
        return text
    for rx in _LINE_PREFIXES:
        m = rx.match(lines[0])
        if m is None:
            continue
        hits = [rx.match(line) for line in lines]
        if sum(1 for h in hits if h is not None) * 5 >= len(lines) * 4:
            return "\n".join(line[h.end():] if h is not None else line for line, h in zip(lines, hits, strict=True))
    return text


def in_order(text: str) -> str:
    """`text`, or its lines in the order they were written when it was pasted newest first (`newest_first`: a
    traceback upside down, its exception line above its frames). Looked at only when a frame comes before the first
    traceback header (or there is none)."""
    frame = text.find('File "')
    if frame < 0 or 0 <= text.find(_TRACEBACK_HEADER) < frame:
        return text
    lines = text.splitlines()
    return "\n".join(newest_first.oldest_first(lines)[0]) if newest_first.is_newest_first(lines) else text


def evidence_from_text(text: str, *, logger: str | None = None, level: str | None = None,
                       log_message: str | None = None, kind: str = "error") -> Evidence:
    """Evidence of a traceback, a `module.Type: message` line, or a plain log message (at most `bounded`)."""
    text = bounded(text)
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if log_message is not None:
        log_message = bounded(log_message)
    if text.startswith("==> "):  # a Render platform line pasted as it is
        text, kind, logger = text[4:], "platform", logger or "render"
    if kind == "error" and "\n" in text:
        text = peel_prefixes(in_order(text))
    parsed: list[ParsedException] = parse_traceback_text(text)
    infos = with_wrapped(tuple(
        exception_info(p.type, p.message,
                       tuple(Frame(f.file, f.line, f.function, f.source) for f in p.frames))
        for p in parsed
    ))
    if log_message is None:
        if not infos:
            log_message = text.strip()
        else:  # what was printed before a traceback (a pasted log line, a wrapper's message) is evidence too
            at = text.find(_TRACEBACK_HEADER)
            rich = _RICH_TOP.search(text) if "╭" in text else None
            if rich is not None and not 0 <= at < rich.start():
                at = rich.start()  # a Rich box's header has no colon: the text before its top edge leads
            lead = text[:at].strip() if at > 0 else ""
            if at < 0 and not any(i.frames for i in infos):
                # no traceback: exception lines under the text's own lines (Lambda's `Runtime.ExitError` under
                # `Task timed out …`) leave those lines the text's evidence as well
                lead = text.strip()
            if lead:
                log_message = lead[-4000:]
    return Evidence(infos, logger, level, log_message, kind)
