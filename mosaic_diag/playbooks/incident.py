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
            for fact in flat:
                if not is_name(fact):
                    raise ConfigError(f"unknown context fact {fact!r} (see `mosaic-diag playbook show` for "
                                      "the names each gatherer produces)", path=name)
            facts.update(flat)
        elif key in base:
            numeric = key.startswith(("rate_", "count")) or key in ("error_rate", "starts")
            if numeric and (not isinstance(value, int | float) or isinstance(value, bool)):
                raise ConfigError(f"{key} must be a number, got {value!r}", path=name)
            facts[key] = value
        else:
            raise ConfigError(f"unknown key {key!r} (known: {', '.join(sorted(base | {'context'}))})", path=name)
    label = facts.get("label")
    return (str(label) if label else None), facts


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
        data = json.loads(text)
    except RecursionError as exc:
        raise ConfigError("JSON nested too deeply", path=name) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg} (column {exc.colno})", path=name, line=exc.lineno) from exc
    return parse_incident(data, name)
