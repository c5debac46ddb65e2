# ruff: noqa  -- the framework document's code is copied as it stands
"""The baseline: the framework document's `classify_error`, called on every line of a log.

    python bench/naive.py bench/out/render-text-1M.log

`ErrorCategory` and `classify_error` below are copied as they stand in the framework document
(`spec/self-diagnostic-framework.md`, "Error Classification"); nothing in them was changed. The
loop around them is what "classify every log line" means with that function: each line is wrapped
in an exception (the function takes one) and classified; the labels are counted. Run by hand
(bench/run.py runs it beside `mosaic-diag triage` on the same files), never in tests.
"""

import gzip
import json
import sys
import time
from collections import Counter

# ---- copied from the framework document ---------------------------------------------------
import re
from enum import Enum
from datetime import datetime, timedelta

class ErrorCategory(Enum):
    INFRA = "infrastructure"
    DATA = "data"
    MODEL = "model"
    PROMPT = "prompt"
    INTEGRATION = "integration"

def classify_error(exception: Exception, stage: str) -> tuple[ErrorCategory, str]:
    """Auto-classify errors by type and stage"""

    exc_str = str(exception)
    exc_type = type(exception).__name__

    # Infrastructure
    if "psycopg2" in exc_str or "connection" in exc_str.lower():
        if "password" in exc_str:
            return (ErrorCategory.INFRA, "PG_AUTH_FAILED")
        if "ssl" in exc_str.lower():
            return (ErrorCategory.INFRA, "PG_SSL_REQUIRED")
        if "could not connect" in exc_str:
            return (ErrorCategory.INFRA, "PG_NETWORK_UNREACHABLE")
        return (ErrorCategory.INFRA, "PG_CONNECTION_FAILED")

    if "sqlite" in exc_str.lower() and stage == "startup":
        return (ErrorCategory.INFRA, "SQLITE_FALLBACK_ACTIVE")

    # Model/LLM
    if "openai" in exc_str.lower():
        if "rate_limit" in exc_str or "429" in exc_str:
            return (ErrorCategory.MODEL, "OPENAI_RATE_LIMIT")
        if "quota" in exc_str.lower():
            return (ErrorCategory.MODEL, "OPENAI_QUOTA_EXCEEDED")
        if "context_length" in exc_str or "max_tokens" in exc_str:
            return (ErrorCategory.MODEL, "OPENAI_CONTEXT_OVERFLOW")
        if "invalid_api_key" in exc_str:
            return (ErrorCategory.MODEL, "OPENAI_INVALID_KEY")
        return (ErrorCategory.MODEL, "OPENAI_ERROR")

    if "anthropic" in exc_str.lower():
        if "rate_limit" in exc_str or "429" in exc_str:
            return (ErrorCategory.MODEL, "ANTHROPIC_RATE_LIMIT")
        if "invalid_api_key" in exc_str:
            return (ErrorCategory.MODEL, "ANTHROPIC_INVALID_KEY")
        return (ErrorCategory.MODEL, "ANTHROPIC_ERROR")

    # Data
    if exc_type == "KeyError" and stage in ["session_load", "ps101_flow"]:
        return (ErrorCategory.DATA, "SESSION_DATA_CORRUPT")

    if "FOREIGN KEY constraint" in exc_str:
        return (ErrorCategory.DATA, "SESSION_ORPHANED")

    # Prompt
    if exc_type == "JSONDecodeError" and "ps101" in stage:
        return (ErrorCategory.PROMPT, "PS101_STEP_MALFORMED")

    if exc_type == "csv.Error":
        return (ErrorCategory.PROMPT, "PROMPT_CSV_CORRUPT")

    # Integration
    if exc_type == "HTTPError" and stage.startswith("job_source_"):
        source = stage.replace("job_source_", "")
        return (ErrorCategory.INTEGRATION, f"{source.upper()}_API_ERROR")

    # Default
    return (ErrorCategory.INFRA, "UNKNOWN_ERROR")
# ---- end of the copy ------------------------------------------------------------------------


def main(path: str) -> int:
    t = time.perf_counter()
    labels: Counter[str] = Counter()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            _, label = classify_error(Exception(line.rstrip("\n")), "runtime")
            labels[label] += 1
    print(json.dumps({"seconds": time.perf_counter() - t, "lines": sum(labels.values()),
                      "labels": dict(labels.most_common())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
