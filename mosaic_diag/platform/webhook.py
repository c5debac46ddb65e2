"""Notifications that arrive: a webhook POST retried with backoff, signed, carrying a dedup key.

- Retries (tenacity): a connection failure, a timeout, a 429 (waiting as its `retry-after` says,
  capped) or a 5xx is tried again with exponential backoff and jitter, `attempts` times in all; a
  4xx other than 429 is final (the URL or the payload is wrong: retrying cannot help).
- Signature: with a secret, `X-Mosaic-Timestamp: <unix seconds>` and `X-Mosaic-Signature:
  sha256=<hex>`, the HMAC-SHA256 of `"<timestamp>.<body>"` with the secret (the timestamp is signed
  so a receiver can refuse replays), like Stripe's and Slack's own request signing.
- Dedup: `X-Mosaic-Dedup-Key` and a `dedup_key` field, the same for every retry and every run that
  reports the same thing, so a receiver can drop repeats.
- Slack: a Slack incoming-webhook URL (`hooks.slack.com`), or `fmt="slack"`, gets Slack's shape
  (`{"text": …, "blocks": [...]}`, `&`, `<`, `>` escaped: a log's text is no mention or link); others get the
  payload as JSON.
- The answer is its status and `retry-after` (NaN or below zero: our own backoff); its body is never read. A 3xx is
  not delivered (never followed: the alert goes to the configured URL only) and not retried.
The URL (for Slack and Teams it is the credential) never appears in what this returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mosaic_diag.platform.redact import redact_text

TIMEOUT = 10.0
MAX_WAIT = 30.0


@dataclass(frozen=True)
class Delivery:
    """What became of one notification."""

    ok: bool
    attempts: int
    status: int | None
    detail: str


class _Transient(Exception):
    def __init__(self, detail: str, status: int | None = None, wait: float | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.wait = wait


def is_slack(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "hooks.slack.com" or host.endswith(".hooks.slack.com")


def slack_text(text: str) -> str:
    """`text` as Slack's mrkdwn shows it as written: `&`, `<`, `>` escaped as Slack asks, so a log's `<!channel>`
    is no mention of everyone and `<https://x|label>` no link whose label hides where it goes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook shape: a `text` fallback and a section block per part, each text escaped."""
    title = slack_text(str(payload.get("text") or payload.get("message") or payload.get("title")
                           or payload.get("label") or "mosaic-diag alert"))
    fields = [f"*{slack_text(str(k))}*: {slack_text(str(v))}" for k, v in payload.items()
              if k not in ("text", "message", "title") and isinstance(v, str | int | float) and v != ""]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": title[:2900]}}]
    if fields:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(fields)[:2900]}})
    return {"text": title[:2900], "blocks": blocks}


def _where(location: str) -> str:
    """The scheme and host of a redirect's `location` (its path and query may carry a token), or what it is."""
    if not location:
        return "nowhere (no location)"
    try:
        parts = urlsplit(location)
        host = parts.hostname
    except ValueError:
        return "an invalid URL"
    return f"{parts.scheme}://{host}" if parts.scheme and host else "a path on the same host"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>")."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def post_webhook(url: str, payload: Mapping[str, Any], *, secret: str | None = None, dedup_key: str | None = None,
                 fmt: str = "auto", attempts: int = 4, timeout: float = TIMEOUT,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> Delivery:
    """POST `payload` (redacted) to `url`; never raises for a delivery problem."""
    import httpx
    from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

    if not url.startswith(("http://", "https://")):
        return Delivery(False, 0, None, "webhook URL must be http(s)")
    data = dict(payload)
    if dedup_key:
        data["dedup_key"] = dedup_key
    shaped = slack_body(data) if fmt == "slack" or (fmt == "auto" and is_slack(url)) else data
    body = redact_text(json.dumps(shaped, default=str, sort_keys=True)).encode()
    base_headers = {"Content-Type": "application/json", "User-Agent": "mosaic-diag"}
    if dedup_key:
        base_headers["X-Mosaic-Dedup-Key"] = dedup_key
    backoff = wait_random_exponential(multiplier=0.5, max=MAX_WAIT)
    tries = 0

    def once(client: Any) -> Delivery:
        nonlocal tries
        tries += 1
        headers = dict(base_headers)
        if secret:
            stamp = str(int(clock()))
            headers["X-Mosaic-Timestamp"] = stamp
            headers["X-Mosaic-Signature"] = sign(secret, stamp, body)
        try:
            with client.stream("POST", url, content=body, headers=headers) as resp:  # the answer's body is not read:
                status, told = resp.status_code, resp.headers.get("retry-after", "")  # only its status counts
                location = resp.headers.get("location", "")
        except httpx.HTTPError as exc:
            raise _Transient(f"webhook unreachable: {redact_text(str(exc)) or type(exc).__name__}") from None
        if status == 429 or status >= 500:
            wait = None
            with contextlib.suppress(ValueError):  # mosaic-diag: ignore[MD006]
                wait = float(told)
            if wait is not None and not 0 <= wait < math.inf:  # NaN or negative: ours to choose (sleep() raised)
                wait = None
            raise _Transient(f"webhook answered {status}", status, wait)
        if status >= 400:
            return Delivery(False, tries, status, f"webhook answered {status} (not retried)")
        if status >= 300:  # not delivered: what it was sent to only points elsewhere (an http:// URL, a moved hook)
            return Delivery(False, tries, status, f"webhook answered {status}, a redirect to {_where(location)}: not "
                            "followed (the alert, its log text and signature go to the configured URL only); "
                            "not delivered: set the webhook URL to where it answers")
        return Delivery(True, tries, status, f"webhook answered {status}")

    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        told = getattr(exc, "wait", None)
        return min(told, MAX_WAIT) if told is not None else backoff(state)

    retrying = Retrying(retry=retry_if_exception_type(_Transient), stop=stop_after_attempt(max(1, attempts)),
                        wait=wait, sleep=sleep)
    with httpx.Client(timeout=timeout) as client:
        try:
            return retrying(once, client)
        except RetryError as err:
            last = err.last_attempt.exception()
            return Delivery(False, tries, getattr(last, "status", None), f"{last} (gave up after {tries} attempts)")
