"""Golden cases: the YAML format, its validation (every error names file:line), the model.

A case file holds `defaults` (optional) and `cases`:

    defaults:
      path: /wimd/ask
      expect: {status: 200, json_valid: true}
    cases:
      - id: stuck-in-career
        tags: [ps101]
        prompt: "I feel stuck in my career..."
        expect:
          icontains: [PS101, step, question]
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaic_diag.config import MAX_SECONDS
from mosaic_diag.errors import ConfigError, FileProblem, no_such
from mosaic_diag.golden.jsonpath import parse_path
from mosaic_diag.platform.yamlpos import PosDict, line_of, load_yaml

CASE_KEYS = ("id", "description", "tags", "method", "path", "json", "prompt", "headers", "query",
             "timeout", "regex_timeout", "weight", "expect")
DEFAULT_KEYS = ("method", "path", "headers", "query", "timeout", "regex_timeout", "tags", "weight", "expect")
TEXT_KINDS = ("contains", "icontains", "not_contains", "not_icontains")
EXPECT_KEYS = ("status", *TEXT_KINDS, "regex", "json_valid",
               "json_path", "json_schema", "contains_json", "max_chars", "latency_ms")
NUMERIC_OPS = ("gt", "gte", "lt", "lte")
JSON_PATH_OPS = ("exists", "equals", "matches", "not_matches", *NUMERIC_OPS)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_FLOAT_MAX = sys.float_info.max  # a numeric check's bound is compared (and printed) as a float


@dataclass(frozen=True)
class TextCheck:
    """contains / icontains / not_contains / not_icontains with `all` or `any` of the needles."""

    kind: str
    mode: str
    needles: tuple[str, ...]


@dataclass(frozen=True)
class JsonPathCheck:
    path: str
    steps: tuple[str | int, ...]
    op: str
    value: Any


@dataclass(frozen=True)
class ContainsJson:
    """promptfoo's `contains-json`: the text (the body, or the string at `path`) holds a JSON
    object or array somewhere, valid for `schema` when one is given."""

    path: str | None = None
    steps: tuple[str | int, ...] = ()
    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Expect:
    """The assertions of a case (None / empty: not checked)."""

    status: tuple[int, ...] | None = None
    text: tuple[TextCheck, ...] = ()
    regex: tuple[str, ...] = ()
    json_valid: bool | None = None
    json_path: tuple[JsonPathCheck, ...] = ()
    json_schema: Mapping[str, Any] | None = None
    contains_json: ContainsJson | None = None
    max_chars: int | None = None
    latency_ms: tuple[tuple[str, float], ...] = ()

    def names(self) -> list[str]:
        """Which assertions this case makes (for reports)."""
        out = ["status"] + [t.kind for t in self.text]
        out += ["regex"] * bool(self.regex) + ["json_valid"] * (self.json_valid is not None)
        out += ["json_path"] * bool(self.json_path) + ["json_schema"] * (self.json_schema is not None)
        out += ["contains_json"] * (self.contains_json is not None)
        out += ["max_chars"] * (self.max_chars is not None) + ["latency_ms"] * bool(self.latency_ms)
        return out


@dataclass(frozen=True)
class Case:
    """One golden case: a request and what its answer must satisfy."""

    id: str
    file: str
    line: int
    method: str
    path: str
    json: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    timeout: float | None = None
    regex_timeout: float | None = None  # seconds one regex assertion may search one answer (None: the run's)
    expect: Expect = field(default_factory=Expect)
    weight: float = 1.0  # its share of the suite's pass rate (golden --pass-rate)


class _Collector:
    """Collects errors for one file; `at(obj, key)` gives the line of a key or item."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[FileProblem] = []

    def add(self, obj: Any, key: Any, message: str) -> None:
        self.errors.append(FileProblem(self.path, line_of(obj, key), message))


def _unknown_keys(c: _Collector, obj: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    for key in obj:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
            c.add(obj, key, f"unknown key {key!r} in {what}{hint}")


def _str_list(c: _Collector, parent: Any, key: Any, value: Any, what: str) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    c.add(parent, key, f"{what} must be a string or a non-empty list of strings")
    return None


def _text_check(c: _Collector, expect: Any, kind: str) -> TextCheck | None:
    value = expect[kind]
    mode = "any" if kind.startswith("not_") else "all"
    if isinstance(value, dict):
        modes = [m for m in ("all", "any") if m in value]
        extra = [k for k in value if k not in ("all", "any")]
        if len(modes) != 1 or extra:
            c.add(expect, kind, f"{kind} as a mapping takes exactly one of `all:` or `any:`")
            return None
        mode = modes[0]
        value = value[mode]
    needles = _str_list(c, expect, kind, value, kind)
    return TextCheck(kind, mode, needles) if needles else None


def _json_paths(c: _Collector, expect: Any) -> tuple[JsonPathCheck, ...]:
    value = expect["json_path"]
    if not isinstance(value, dict) or not value:
        c.add(expect, "json_path", "json_path must map paths to checks, e.g. "
              "{'$.answer': {exists: true}}")
        return ()
    checks = []
    for path, spec in value.items():
        try:
            steps = parse_path(str(path))
        except ValueError as exc:
            c.add(value, path, str(exc))
            continue
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in JSON_PATH_OPS:
            c.add(value, path, f"json_path {path!r} takes exactly one of {', '.join(JSON_PATH_OPS)}")
            continue
        op, arg = next(iter(spec.items()))
        if op == "exists" and not isinstance(arg, bool):
            c.add(spec, op, "exists takes true or false")
            continue
        if op in ("matches", "not_matches") and not isinstance(arg, str):
            c.add(spec, op, f"{op} takes a regular expression (a string)")
            continue
        if op in ("matches", "not_matches") and not _regex_ok(c, spec, op, arg):
            continue
        if op in NUMERIC_OPS and (isinstance(arg, bool) or not isinstance(arg, int | float)
                                  or not -_FLOAT_MAX <= arg <= _FLOAT_MAX):  # (NaN is within no bound)
            c.add(spec, op, f"{op} takes a number" + (", finite and within a float's range"
                                                      if isinstance(arg, int | float) else ""))
            continue
        if op == "equals" and not _json_ok(c, spec, op, arg, "equals"):
            continue
        checks.append(JsonPathCheck(str(path), steps, op, _plain(arg)))
    return tuple(checks)


SCHEMA_BYTES = 5_000_000  # a case's JSON schema file is read to here (as its YAML is)


def _plain(value: Any) -> Any:
    """Loaded YAML (PosDict/PosList) as plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _not_json(value: Any, where: str = "") -> str | None:
    """What in loaded YAML is no JSON value, or None: a date, a timestamp, binary, a set (YAML's own types, which
    a request cannot send and an answer never equals), NaN or an infinity (no JSON number), a key that is no string
    (an answer's never is). `where` names the place as a JSON path below the value."""
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int | float):
        return None if math.isfinite(value) else f"{value!r} at {where or '$'} is no JSON number"
    if isinstance(value, list):
        return next((why for i, item in enumerate(value) if (why := _not_json(item, f"{where or '$'}[{i}]"))),
                    None)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"the key {key!r} at {where or '$'} is no string (JSON's keys are: quote it)"
            if why := _not_json(item, f"{where or '$'}.{key}"):
                return why
        return None
    kind = {"date": "a date", "datetime": "a timestamp", "bytes": "binary data", "set": "a set"}.get(
        type(value).__name__, type(value).__name__)
    return f"{kind} ({_short_repr(value)}) at {where or '$'} is no JSON value (quote it to send or compare text)"


def _short_repr(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _json_ok(c: _Collector, parent: Any, key: Any, value: Any, what: str) -> bool:
    """True when `value` is JSON; else the first value that is not, named at `parent[key]`'s line."""
    why = _not_json(value)
    if why is not None:
        c.add(parent, key, f"{what}: {why}")
    return why is None


# an HTTP header's name (RFC 9110's token) and value (visible ASCII, spaces and tabs inside: httpx encodes a value as
# ASCII, and a line break or NUL is refused by the client, or sent on by an in-process one)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?|")


def _regex_ok(c: _Collector, parent: Any, key: Any, pattern: str) -> bool:
    import regex  # the engine the assertions search with (golden.assertions: it can be given a deadline)

    try:
        regex.compile(pattern)
    except regex.error as exc:
        c.add(parent, key, f"bad regular expression {pattern!r}: {exc}")
        return False
    return True


def _schema(c: _Collector, expect: Any, base: Path, key: str = "json_schema") -> Mapping[str, Any] | None:
    import json

    import jsonschema

    from mosaic_diag.platform.atomic import read_state

    value = expect[key]
    if isinstance(value, str):
        schema_path = (base / value).resolve()
        try:  # (a regular file, bounded: a committed schema.json -> /dev/zero was read until MemoryError)
            value = json.loads(read_state(schema_path, limit=SCHEMA_BYTES).decode("utf-8"))
        except OSError as exc:
            c.add(expect, key, f"cannot read JSON schema {value!r}: {exc.strerror or exc}")
            return None
        except ValueError as exc:
            c.add(expect, key, f"cannot read JSON schema {value!r}: {exc}")
            return None
        except RecursionError:
            c.add(expect, key, f"cannot read JSON schema {value!r}: nested too deeply")
            return None
    if not isinstance(value, dict):
        c.add(expect, key, f"{key} must be a schema mapping or a path to a JSON file")
        return None
    if not _json_ok(c, expect, key, value, key):  # (a `const: 2024-01-01` no answer equals)
        return None
    try:
        schema = _plain(value)
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        c.add(expect, key, f"invalid JSON schema: {exc.message}")
        return None
    except RecursionError:  # (decoded, but deeper than a walk of it goes)
        c.add(expect, key, "invalid JSON schema: nested too deeply")
        return None
    return schema


def _contains_json(c: _Collector, expect: Any, base: Path) -> ContainsJson | None:
    value = expect["contains_json"]
    if value is True:
        return ContainsJson()
    if not isinstance(value, dict) or not value or any(k not in ("path", "schema") for k in value):
        c.add(expect, "contains_json", "contains_json takes true or {path: $.field, schema: file-or-mapping}")
        return None
    path = value.get("path")
    steps: tuple[str | int, ...] = ()
    if path is not None:
        try:
            steps = parse_path(str(path))
        except ValueError as exc:
            c.add(value, "path", str(exc))
            return None
    schema = _schema(c, value, base, "schema") if "schema" in value else None
    if "schema" in value and schema is None:
        return None
    return ContainsJson(str(path) if path is not None else None, steps, schema)


def _latency(c: _Collector, expect: Any) -> tuple[tuple[str, float], ...]:
    value = expect["latency_ms"]
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return (("p95", float(value)),)
    if isinstance(value, dict) and value and all(k in ("p50", "p95", "max") for k in value):
        out = []
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                c.add(value, k, f"latency_ms.{k} must be a positive number of milliseconds")
            else:
                out.append((str(k), float(v)))
        return tuple(out)
    c.add(expect, "latency_ms", "latency_ms takes a number (p95 limit) or {p50: ms, p95: ms, max: ms}")
    return ()


def _expect(c: _Collector, expect: Any, base: Path) -> Expect:
    if not isinstance(expect, dict):
        c.add(expect, None, "expect must be a mapping of assertions")
        return Expect()
    _unknown_keys(c, expect, EXPECT_KEYS, "expect")
    kw: dict[str, Any] = {}
    if "status" in expect:
        status = expect["status"]
        codes = status if isinstance(status, list) else [status]
        if codes and all(isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599
                         for s in codes):
            kw["status"] = tuple(codes)
        else:
            c.add(expect, "status", "status must be an HTTP status (100-599) or a list of them")
    kw["text"] = tuple(t for t in (_text_check(c, expect, k) for k in TEXT_KINDS if k in expect) if t)
    if "regex" in expect:
        pats = _str_list(c, expect, "regex", expect["regex"], "regex") or ()
        kw["regex"] = tuple(p for p in pats if _regex_ok(c, expect, "regex", p))
    if "json_valid" in expect:
        if isinstance(expect["json_valid"], bool):
            kw["json_valid"] = expect["json_valid"]
        else:
            c.add(expect, "json_valid", "json_valid takes true or false")
    if "json_path" in expect:
        kw["json_path"] = _json_paths(c, expect)
    if "json_schema" in expect:
        kw["json_schema"] = _schema(c, expect, base)
    if "contains_json" in expect:
        kw["contains_json"] = _contains_json(c, expect, base)
    if "max_chars" in expect:
        mc = expect["max_chars"]
        if isinstance(mc, int) and not isinstance(mc, bool) and mc > 0:
            kw["max_chars"] = mc
        else:
            c.add(expect, "max_chars", "max_chars must be a positive integer")
    if "latency_ms" in expect:
        kw["latency_ms"] = _latency(c, expect)
    return Expect(**kw)


def _pairs(c: _Collector, parent: Any, key: str) -> tuple[tuple[str, str], ...]:
    value = parent[key]
    if not isinstance(value, dict) or not all(isinstance(v, str | int | float) and not
                                              isinstance(v, bool) for v in value.values()):
        c.add(parent, key, f"{key} must map names to strings")
        return ()
    pairs = tuple((str(k), str(v)) for k, v in value.items())
    if key == "headers":
        for name, text in pairs:
            if not _HEADER_NAME.fullmatch(name):
                c.add(value, name, f"header name {name!r} is no HTTP token (letters, digits, !#$%&'*+.^_`|~-)")
            elif not _HEADER_VALUE.fullmatch(text):
                c.add(value, name, f"header {name!r}: its value holds a line break, a control or a non-ASCII "
                                   "character, which HTTP does not send as it is")
    return pairs


def _timeout(c: _Collector, parent: Any, key: str = "timeout") -> float | None:
    value = parent[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        c.add(parent, key, f"{key} must be a positive number of seconds, got {value!r}")
        return None
    if value > MAX_SECONDS:  # (past it a deadline overflows a thread's wait; a regex "gave up" at once)
        c.add(parent, key, f"{key} must be at most 100 years ({MAX_SECONDS} s), got {value!r}")
        return None
    return float(value)


def _merge_expect(defaults: Any, case: Any) -> Any:
    """Case assertions override default ones of the same name; the positions stay the case's."""
    if not isinstance(defaults, dict) or not isinstance(case, dict):
        return case if case is not None else defaults
    merged = PosDict(defaults)  # (both loaded mappings: PosDict)
    merged.update(case)
    merged.line = getattr(case, "line", getattr(defaults, "line", 0))
    merged.key_lines = {**getattr(defaults, "key_lines", {}), **getattr(case, "key_lines", {})}
    return merged


def _case(c: _Collector, raw: Any, defaults: Mapping[str, Any], base: Path) -> Case | None:
    if not isinstance(raw, dict):
        c.add(raw, None, "each case must be a mapping with at least `id`")
        return None
    _unknown_keys(c, raw, CASE_KEYS, "a case")
    errors_before = len(c.errors)
    case_id = raw.get("id")
    if not isinstance(case_id, str) or not _ID.match(case_id):
        c.add(raw, "id" if "id" in raw else None,
              "case needs an `id`: letters, digits, `.`, `_`, `-` (e.g. ps101-step-1)")
    path = raw.get("path", defaults.get("path"))
    if not isinstance(path, str) or not path.startswith("/"):
        c.add(raw, "path" if "path" in raw else None,
              "case needs a `path` starting with / (here or in defaults)")
    elif path.startswith("//") or any(ch < " " or ch == "\x7f" for ch in path):
        # (`//host/x` is a URL's host to an HTTP client, its path /x asked for; a control is no URL's)
        c.add(raw, "path" if "path" in raw else None, f"path {path!r} must start with one / and hold no control "
                                                      "character")
    if "json" in raw and "prompt" in raw:
        c.add(raw, "prompt", "give either `json` or `prompt`, not both")
    body = raw.get("json")
    if "json" in raw:
        _json_ok(c, raw, "json", body, "json")
    if "prompt" in raw:
        if not isinstance(raw["prompt"], str) or not raw["prompt"]:
            c.add(raw, "prompt", "prompt must be a non-empty string")
        body = {"prompt": raw["prompt"]}
    method = raw.get("method", defaults.get("method", "POST" if body is not None else "GET"))
    if not isinstance(method, str) or method.upper() not in METHODS:
        c.add(raw, "method" if "method" in raw else None, f"method must be one of {', '.join(METHODS)}")
        method = "GET"
    tags: list[str] = []
    for src in (defaults, raw):
        if "tags" in src:
            tags += _str_list(c, src, "tags", src["tags"], "tags") or ()
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    for src in (defaults, raw):
        if "headers" in src:
            headers.update(_pairs(c, src, "headers"))
        if "query" in src:
            query.update(_pairs(c, src, "query"))
    timeout = regex_timeout = None
    weight = 1.0
    for src in (defaults, raw):
        if "timeout" in src:
            timeout = _timeout(c, src)
        if "regex_timeout" in src:
            regex_timeout = _timeout(c, src, "regex_timeout")
        if "weight" in src:
            w = src["weight"]
            if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
                c.add(src, "weight", "weight must be a number >= 0 (its share of the pass rate)")
            else:
                weight = float(w)
    description = raw.get("description", "")
    if not isinstance(description, str):
        c.add(raw, "description", "description must be a string")
    expect_raw = _merge_expect(defaults.get("expect"), raw.get("expect"))
    expect = _expect(c, expect_raw, base) if expect_raw is not None else Expect()
    if len(c.errors) > errors_before or not isinstance(case_id, str) or not isinstance(path, str):
        return None  # (a bad id or path was reported above)
    return Case(
        id=case_id, file=c.path, line=line_of(raw) or 0, method=method.upper(), path=path,
        json=_plain(body), headers=tuple(headers.items()), query=tuple(query.items()),
        tags=tuple(dict.fromkeys(tags)), description=description, timeout=timeout,
        regex_timeout=regex_timeout, expect=expect,
        weight=weight,
    )


def parse_case_file(path: Path) -> tuple[list[Case], list[FileProblem]]:
    """The cases of one file and every problem found in it."""
    name = str(path)
    try:
        doc = load_yaml(path)
    except ConfigError as exc:
        msg = str(exc).removeprefix(f"{name}:{exc.line}: " if exc.line else f"{name}: ")
        return [], [FileProblem(name, exc.line, msg)]
    c = _Collector(name)
    if not isinstance(doc, dict) or "cases" not in doc:
        c.add(doc, None, "a case file is a mapping with `cases:` (a list) and optional `defaults:`")
        return [], c.errors
    _unknown_keys(c, doc, ("defaults", "cases"), "the file")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        c.add(doc, "defaults", "defaults must be a mapping")
        defaults = {}
    _unknown_keys(c, defaults, DEFAULT_KEYS, "defaults")
    raw_cases = doc["cases"]
    if not isinstance(raw_cases, list) or not raw_cases:
        c.add(doc, "cases", "cases must be a non-empty list")
        return [], c.errors
    cases = [case for case in (_case(c, raw, defaults, path.parent) for raw in raw_cases) if case]
    return cases, c.errors


def case_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories to their *.yml / *.yaml files (sorted); missing paths are errors."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix in (".yml", ".yaml") and q.is_file())
            if not found:
                raise ConfigError("no case files (*.yml) in this directory", path=str(p))
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise no_such(p, "file or directory", ConfigError)
    return files


def validate(paths: Iterable[Path]) -> tuple[list[Case], list[FileProblem]]:
    """All cases of all files, and all errors (duplicate ids across files included)."""
    cases: list[Case] = []
    errors: list[FileProblem] = []
    seen: dict[str, Case] = {}
    for path in case_files(paths):
        found, errs = parse_case_file(path)
        errors += errs
        for case in found:
            if case.id in seen:
                first = seen[case.id]
                errors.append(FileProblem(case.file, case.line, f"duplicate case id {case.id!r} "
                                        f"(first at {first.file}:{first.line})"))
                continue
            seen[case.id] = case
            cases.append(case)
    return cases, errors


def load_cases(paths: Iterable[Path]) -> list[Case]:
    """Every case, or a ConfigError naming the first problem's file:line."""
    cases, errors = validate(paths)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more; run `mosaic-diag golden validate`)" if len(errors) > 1 else ""
        raise ConfigError(first.message + more, path=first.path, line=first.line)
    return cases
