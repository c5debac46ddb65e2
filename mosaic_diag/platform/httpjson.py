"""GET a JSON document from an app (its /health): the body read at most to a limit, read as RFC 8259 JSON.

An app's answer is not trusted to be small or well-formed: a body that streams forever is cut at the
limit, and NaN / Infinity (which Python's parser takes, so that `rate > budget` is silently False) or
nesting past the parser are "not JSON" like any other text. No credential is sent, so redirects are followed.
"""

from __future__ import annotations

import json
from typing import Any

LIMIT = 1_000_000  # bytes of a /health answer read at most


class NotJson(ValueError):
    """The answer's body is not the JSON document asked for (what it is instead in the message)."""


def refuse_constant(name: str) -> Any:
    """A `parse_constant` for json: NaN, Infinity and -Infinity are not JSON."""
    raise NotJson(f"{name} is not JSON")


def loads_strict(text: str | bytes) -> Any:
    """`text` as JSON; NotJson for what is not (NaN / Infinity and nesting past the parser included)."""
    try:
        return json.loads(text, parse_constant=refuse_constant)
    except NotJson:
        raise
    except RecursionError:
        raise NotJson("nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise NotJson(f"{exc.msg} at char {exc.pos}") from None
    except ValueError as exc:  # bytes that are not UTF-8
        raise NotJson(str(exc)) from None


def check_url(url: str, what: str) -> None:
    """A UsageError naming `what` unless `url` is an http(s) URL with a host that httpx can send to (`http://[::1`
    and `http://host:99999` raise httpx.InvalidURL, which is no httpx.HTTPError: a traceback where it is not
    checked first)."""
    import httpx

    from mosaic_diag.errors import UsageError
    from mosaic_diag.platform.redact import redact_text

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UsageError(f"{what} {redact_text(url)[:200]!r} is not a valid URL ({exc})") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise UsageError(f"{what} {redact_text(url)[:200]!r} is not a valid URL (port {parsed.port} out of range)")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"{what} must be an http:// or https:// URL with a host, got {redact_text(url)[:200]!r}")


def get_json(url: str, *, timeout: float, limit: int = LIMIT) -> tuple[int, Any]:
    """(status, the JSON body) of GET `url`. NotJson when the body is not JSON or longer than `limit`;
    httpx.HTTPError (import it to catch) when nothing answered; UsageError for a URL that is none."""
    import httpx

    check_url(url, "the health URL")
    with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
        return resp.status_code, loads_strict(read_limited(resp, limit))


def read_limited(resp: Any, limit: int) -> bytes:
    """The body of a streamed httpx response, read at most to `limit` bytes (NotJson past it, the rest unread);
    httpx.HTTPError when the connection fails while it is read."""
    parts: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise NotJson(f"the body is longer than {limit:,} bytes")
        parts.append(chunk)
    return b"".join(parts)
