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


def get_json(url: str, *, timeout: float, limit: int = LIMIT) -> tuple[int, Any]:
    """(status, the JSON body) of GET `url`. NotJson when the body is not JSON or longer than `limit`;
    httpx.HTTPError (import it to catch) when nothing answered."""
    import httpx

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
