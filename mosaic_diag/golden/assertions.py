"""Check one answer against a case's assertions; check latency over all of a case's answers."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from mosaic_diag.golden.cases import ContainsJson, Expect, JsonPathCheck, TextCheck
from mosaic_diag.golden.jsonpath import MISSING, resolve
from mosaic_diag.platform.httpjson import loads_strict, refuse_constant
from mosaic_diag.platform.redact import redact_text

_NO_JSON = object()
# how long one regex assertion may search one answer: a case file's pattern can backtrack catastrophically
# (`(a+)+$` on a long run of `a`s), which would hold the run until --global-timeout
REGEX_TIMEOUT = 2.0


class _RegexTimeout(Exception):
    """A case's regular expression gave up on an answer (its deadline passed)."""


def _search(pattern: str, text: str, timeout: float) -> bool:
    """Whether `pattern` matches somewhere in `text`, searched for at most `timeout` seconds (the third-party
    `regex` engine: the stdlib's `re` cannot be stopped), else _RegexTimeout."""
    import regex

    try:
        return regex.search(pattern, text, timeout=timeout) is not None
    except TimeoutError:
        raise _RegexTimeout from None


def _gave_up(what: str, pattern: str, text: str, timeout: float, where: str) -> str:
    return (f"{what}: /{pattern}/ gave up after {timeout:g}s on {len(text):,} chars (catastrophic backtracking?)"
            + (f" [{where}]" if where else ""))


def _short(value: Any, limit: int = 80) -> str:
    """A value of the answer as quoted in a failure: redacted, then cut (a cut first could fall inside a DSN's
    password, leaving it nothing the redactor knows for a secret)."""
    text = redact_text(json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(check: TextCheck, body: str) -> str | None:
    fold = "icontains" in check.kind
    hay = body.lower() if fold else body
    present = [n for n in check.needles if (n.lower() if fold else n) in hay]
    missing = [n for n in check.needles if n not in present]
    if check.kind.startswith("not_"):
        bad = present if check.mode == "any" else (present if not missing else [])
        return f"{check.kind}: found {', '.join(map(repr, bad))}" if bad else None
    if check.mode == "all" and missing:
        return f"{check.kind}: missing {', '.join(map(repr, missing))}"
    if check.mode == "any" and not present:
        return f"{check.kind}: none of {', '.join(map(repr, check.needles))}"
    return None


def _json_path(check: JsonPathCheck, data: Any, timeout: float, where: str) -> str | None:
    value = resolve(data, check.steps) if data is not _NO_JSON else MISSING
    if check.op == "exists":
        if (value is not MISSING) != check.value:
            return f"json_path {check.path}: {'missing' if check.value else 'present'}"
        return None
    if value is MISSING:
        return f"json_path {check.path}: missing"
    if check.op == "equals" and value != check.value:
        return f"json_path {check.path}: {_short(value)} != {_short(check.value)}"
    if check.op in ("matches", "not_matches"):
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        try:
            found = _search(check.value, text, timeout)
        except _RegexTimeout:
            return _gave_up(f"json_path {check.path} {check.op}", check.value, text, timeout, where)
        if check.op == "matches" and not found:
            return f"json_path {check.path}: {_short(text)} does not match /{check.value}/"
        if check.op == "not_matches" and found:
            return f"json_path {check.path}: {_short(text)} matches /{check.value}/"
    if check.op in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"json_path {check.path}: {_short(value)} is not a number ({check.op} {check.value:g})"
        symbol, holds = _NUMERIC[check.op]
        if not holds(value, check.value):
            return f"json_path {check.path}: {value:g} is not {symbol} {check.value:g}"
    return None


_NUMERIC: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "gt": (">", lambda a, b: a > b), "gte": (">=", lambda a, b: a >= b),
    "lt": ("<", lambda a, b: a < b), "lte": ("<=", lambda a, b: a <= b)}


# JSON as RFC 8259 has it: Python's parser takes NaN and Infinity, which a browser's JSON.parse (and most
# parsers) refuse, so an answer holding them is not the JSON a client can read
_STRICT = json.JSONDecoder(parse_constant=refuse_constant)


def find_json(text: str, timeout: float | None = None) -> Any:
    """The first JSON object or array inside `text` (prose around it allowed), or _NO_JSON; with `timeout`, searched
    for at most that many seconds (_RegexTimeout past them): each bracket is a start the decoder reads on from, to
    the end of the text in the worst case (`[1,1,…[1,1,…`: 400 brackets in 1.6 MB took 15 s, an answer of 16 MiB
    hours, the run's CPU held after its global timeout)."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    for match in re.finditer(r"[\[{]", text):
        if deadline is not None and time.monotonic() > deadline:
            raise _RegexTimeout
        try:
            return _STRICT.raw_decode(text, match.start())[0]
        except ValueError:  # mosaic-diag: ignore[MD006]
            continue
        except RecursionError:  # nested past the parser here, so at each bracket inside too: no JSON
            return _NO_JSON
    return _NO_JSON


def _contains_json(check: ContainsJson, body: str, data: Any, timeout: float | None = None,
                   where_case: str = "") -> list[str]:
    where = "the body"
    text: Any = body
    if check.path is not None:
        where = check.path
        text = resolve(data, check.steps) if data is not _NO_JSON else MISSING
        if text is MISSING:
            return [f"contains_json: {where}: missing"]
        if not isinstance(text, str):
            text = json.dumps(text)
    try:
        found = find_json(text, timeout)
    except _RegexTimeout:
        return [f"contains_json: the search for JSON in {where} gave up after {timeout:g}s on {len(text):,} chars"
                + (f" [{where_case}]" if where_case else "")]
    if found is _NO_JSON:
        return [f"contains_json: no JSON object or array in {where}"]
    if check.schema is not None:
        return [m.replace("json_schema:", f"contains_json ({where}):", 1) for m in _schema_errors(check.schema, found)]
    return []


def _regex_failures(patterns: Sequence[str], body: str, timeout: float, where: str) -> list[str]:
    out = []
    for p in patterns:
        try:
            if not _search(p, body, timeout):
                out.append(f"regex: no match for /{p}/")
        except _RegexTimeout:
            out.append(_gave_up("regex", p, body, timeout, where))
    return out


def check_answer(expect: Expect, status: int, body: str, *, regex_timeout: float = REGEX_TIMEOUT,
                 where: str = "") -> tuple[str, ...]:
    """Every failed assertion of one answer, as short messages (empty: it passed). Each regular expression
    searches for at most `regex_timeout` seconds; one that gives up is a failure naming `where` (FILE:LINE)."""
    failures: list[str] = []
    if expect.status is not None:
        if status not in expect.status:
            want = " or ".join(map(str, expect.status))
            failures.append(f"status: got {status}, want {want}")
    elif not 200 <= status < 300:
        failures.append(f"status: got {status}, want 2xx")
    failures += [msg for msg in (_text(t, body) for t in expect.text) if msg]
    failures += _regex_failures(expect.regex, body, regex_timeout, where)
    data: Any = _NO_JSON
    if expect.json_valid is not None or expect.json_path or expect.json_schema is not None or \
            (expect.contains_json is not None and expect.contains_json.path is not None):
        try:
            data = loads_strict(body)
        except ValueError as exc:
            if expect.json_valid is not False:
                failures.append(f"json_valid: the body is not JSON ({exc})")
        else:
            if expect.json_valid is False:
                failures.append("json_valid: the body is JSON, expected it not to be")
    failures += [msg for msg in (_json_path(j, data, regex_timeout, where) for j in expect.json_path) if msg]
    if expect.json_schema is not None and data is not _NO_JSON:
        failures += _schema_errors(expect.json_schema, data)
    if expect.contains_json is not None:
        failures += _contains_json(expect.contains_json, body, data, regex_timeout, where)
    if expect.max_chars is not None and len(body) > expect.max_chars:
        failures.append(f"max_chars: {len(body)} > {expect.max_chars}")
    return tuple(failures)


def _schema_errors(schema: Any, data: Any) -> list[str]:
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    out = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))[:3]:
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        out.append(f"json_schema: {where}: {err.message}")
    return out


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)) - 1, 0)]


def check_latency(expect: Expect, latencies: Sequence[float]) -> tuple[str, ...]:
    """latency_ms limits over the latencies of every answer of a case."""
    failures = []
    for name, limit in expect.latency_ms:
        observed = max(latencies) if name == "max" else percentile(latencies, float(name[1:]))
        if latencies and observed > limit:
            failures.append(f"latency_ms: {name} {observed:.0f} ms > {limit:.0f} ms "
                            f"over {len(latencies)} answer(s)")
    return tuple(failures)
