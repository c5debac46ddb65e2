"""The runtime kit: the taxonomy and classifier of triage, inside the app.

    from mosaic_diag.runtime import llm_call, breaker, failover, schema_guard, health_router, instrument

Importing this package is light: no Typer, Rich or CLI, and each part (tenacity, pybreaker,
psycopg2, pydantic, FastAPI) is imported when that part is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "classify_exception": "verdict", "Verdict": "verdict", "status_of": "verdict",
    "llm_call": "retry", "RetryPolicy": "retry", "retry_after": "retry", "SDK_CLIENT_OPTIONS": "retry",
    "breaker": "breakers", "Breaker": "breakers", "BreakerOpen": "breakers", "SharedStorage": "breakers",
    "breaker_states": "breakers",
    "failover": "failovers", "FailoverResult": "failovers", "ProvidersFailed": "failovers",
    "FailoverWindow": "failovers",
    "schema_guard": "guard", "SchemaRejected": "guard", "DeadLetterStore": "guard", "open_dead_letters": "guard",
    "health_router": "health", "HealthConfig": "health",
    "instrument": "instrument", "RequestWindow": "instrument",
    "truncate": "text", "safe_output": "text", "estimate_tokens": "text", "SafeOutput": "text",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mosaic_diag.runtime' has no attribute {name!r}")
    loaded = importlib.import_module(f"mosaic_diag.runtime.{module}")
    return loaded if name == module else getattr(loaded, name)
