"""One process of the shared-breaker tests: `python -m tests.breaker_worker DSN BASE_URL ACTION [ARG]`.

ACTION `calls N`: N calls through the breaker "openai-shared"; `trial FILE`: one call that waits
for FILE to exist before asking. Prints one JSON line: the outcome of each call.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import openai

from mosaic_diag.runtime import breaker, classify_exception
from mosaic_diag.runtime.breakers import BreakerOpen


def main(dsn: str, base_url: str, action: str, arg: str) -> int:
    client = openai.OpenAI(api_key="sk-test-key", base_url=base_url, max_retries=0, timeout=10)
    shared = breaker("openai-shared", storage=dsn, fail_max=3, reset_timeout=60)

    def ask() -> str:
        if action == "trial":
            deadline = time.monotonic() + 60
            while not Path(arg).exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                                              ).choices[0].message.content or ""

    outcomes = []
    for _ in range(int(arg) if action == "calls" else 1):
        try:
            shared.call(ask)
            outcomes.append("ok")
        except BreakerOpen:
            outcomes.append("open")
        except openai.APIError as exc:
            outcomes.append(classify_exception(exc).label)
    print(json.dumps({"outcomes": outcomes, "state": shared.shared_state}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:5]))
