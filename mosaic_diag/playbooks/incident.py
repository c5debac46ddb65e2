"""The incident context file of `playbook run --context`: facts, and optionally pre-gathered context.

    {"label": "OPENAI_RATE_LIMIT", "stage": "runtime", "rate_5m": 3.2, "count": 12,
     "context": {"env": {"ANTHROPIC_API_KEY": {"set": true}}, "postgres.reachable": false}}

Top-level keys are the base facts (rate_1m, rate_5m, rate_15m: per minute; count_1m, count_5m,
count_15m, count: counts; starts: a restart loop's process starts; error_rate, stage, severity, label,
category, fingerprint) and `context`; context keys are gathered names, flat (`postgres.reachable`)
or nested. Any other name is an error (a typo would otherwise silently make a condition unknown).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mosaic_diag.errors import ConfigError, no_such
from mosaic_diag.playbooks.vocabulary import BASE_FACTS, is_name

MAX_BYTES = 2_000_000


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and not is_name(prefix):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value


def _check_base(key: str, value: Any, name: str) -> None:
    """A base fact's value as its type says (vocabulary.BASE_FACTS): a number (finite), a string; `stage` and
    `severity` one of their words, as `--stage` takes (`"stage": "Deploy"` made every `stage == 'deploy'` false, the
    deploy's actions skipped without a word)."""
    from mosaic_diag.classifier.taxonomy import SEVERITIES
    from mosaic_diag.playbooks.model import STAGES
    from mosaic_diag.playbooks.vocabulary import fact

    kind = fact(key).type  # type: ignore[union-attr]  # (a base fact: declared)
    if kind == "number" and (not isinstance(value, int | float) or isinstance(value, bool)
                             or not math.isfinite(value)):
        raise ConfigError(f"{key} must be a number, got {value!r}", path=name)
    if kind == "string" and not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}", path=name)
    words = {"stage": STAGES, "severity": SEVERITIES}.get(key)
    if words is not None and value not in words:
        raise ConfigError(f"{key} takes one of {', '.join(words)}; got {value!r}", path=name)


def parse_incident(data: Any, name: str) -> tuple[str | None, dict[str, Any]]:
    """(label, flat facts) of a decoded incident object; ConfigError naming the bad key."""
    if not isinstance(data, dict):
        raise ConfigError("the context must be a JSON object", path=name)
    base = {f.name for f in BASE_FACTS}
    facts: dict[str, Any] = {}
    for key, value in data.items():
        if key == "context":
            if not isinstance(value, dict):
                raise ConfigError("`context` must be an object of gathered facts", path=name)
            flat: dict[str, Any] = {}
            _flatten("", value, flat)
            for fact, item in flat.items():
                if not is_name(fact):
                    raise ConfigError(f"unknown context fact {fact!r} (see `mosaic-diag playbook show` for "
                                      "the names each gatherer produces)", path=name)
                if isinstance(item, float) and not math.isfinite(item):  # (1e400)
                    raise ConfigError(f"context fact {fact!r} must be a finite number, got {item!r}", path=name)
            facts.update(flat)
        elif key in base:
            _check_base(key, value, name)
            facts[key] = value
        else:
            raise ConfigError(f"unknown key {key!r} (known: {', '.join(sorted(base | {'context'}))})", path=name)
    label = facts.get("label")
    return (str(label) if label else None), facts


class _NotFinite(ValueError):
    """NaN or Infinity in the text: Python's reader takes them, JSON has no such number."""


def _no_constant(word: str) -> Any:
    raise _NotFinite(word)


def load_incident(path: Path) -> tuple[str | None, dict[str, Any]]:
    """Read and check an incident context file."""
    name = str(path)
    try:
        with path.open("rb") as fh:  # read to the limit, whatever it is: a device reports no size (/dev/zero was
            raw = fh.read(MAX_BYTES + 1)  # read without end), a pipe (`--context <(...)`) none either
        if len(raw) > MAX_BYTES:
            raise ConfigError(f"context file larger than {MAX_BYTES} bytes", path=name)
        text = raw.decode("utf-8")
    except FileNotFoundError as exc:
        raise no_such(name, kind=ConfigError) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=name) from exc
    try:
        data = json.loads(text, parse_constant=_no_constant)  # (NaN, Infinity: no JSON, no number a condition holds)
    except RecursionError as exc:
        raise ConfigError("JSON nested too deeply", path=name) from exc
    except _NotFinite as exc:
        raise ConfigError(f"invalid JSON: {exc} is no JSON number (a number is finite)", path=name) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg} (column {exc.colno})", path=name, line=exc.lineno) from exc
    return parse_incident(data, name)
