"""Render's log API as a source of log entries: `GET /v1/logs`, paged until the window is read.

Query: `ownerId`, `resource` (the service id), `startTime` / `endTime` (RFC 3339), `direction`
(`forward`: oldest first, as a log file reads), `limit`. An answer is `{"logs": [...], "hasMore":
bool, "nextStartTime": ..., "nextEndTime": ...}`; while `hasMore`, the next page asks for the
window `[nextStartTime, nextEndTime]`. A 429 is answered by waiting (`retry-after`, capped), a 5xx
or a connection failure is retried with backoff (tenacity), then reported as unreachable (exit
3); a 401/403 is a one-line configuration error (exit 2), and so is a 3xx (never followed: the key goes to
the configured API only). The key is never printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mosaic_diag.errors import ConfigError, UnreachableError
from mosaic_diag.platform.redact import redact_cut, redact_text
from mosaic_diag.platform.render_settings import RenderSettings, refuse_redirect

PAGE_LIMIT = 100
PAGE_BYTES = 16 << 20  # bytes of one answer read at most (a page of 100 entries is far less)
MAX_PAGES = 10_000


class _Stopped(Exception):
    """`stop` was set while an answer was read or awaited: the poll ends (Ctrl-C / SIGTERM of a watch)."""


class _Retry(Exception):
    """A transient answer: wait `delay` seconds (None: backoff) and ask again."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


def rfc3339(when: datetime) -> str:
    """`when` in UTC with milliseconds and a Z, as Render's API writes times."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


@dataclass
class RenderLogs:
    """Pages of one service's log entries between `start` and `end` (oldest first)."""

    settings: RenderSettings
    start: datetime
    end: datetime
    timeout: float = 15.0
    attempts: int = 5
    max_wait: float = 60.0
    sleep: Callable[[float], None] | None = None  # tests pass their own clock
    stop: Any = None  # a threading.Event: set, the waits and the answer being read end at once (`_Stopped`)
    page_seconds: float = 120.0  # an answer that takes longer to arrive (a byte now and then) is retried
    pages: int = field(default=0, init=False)
    waited: float = field(default=0.0, init=False)

    def _get(self, client: Any, params: Mapping[str, str]) -> dict[str, Any]:
        import httpx

        from mosaic_diag.platform.httpjson import NotJson, loads_strict

        url = f"{self.settings.api_url}/v1/logs"
        headers = {"Authorization": f"Bearer {self.settings.api_key}", "Accept": "application/json"}
        try:
            with client.stream("GET", url, params=dict(params), headers=headers) as resp:
                if resp.status_code == 429:
                    raise _Retry("Render API rate limit (429)", _retry_after(resp.headers))
                if resp.status_code >= 500:
                    raise _Retry(f"Render API GET /v1/logs answered {resp.status_code}")
                refuse_redirect(resp, "Render API GET /v1/logs")
                body = self._body(resp)  # an answer is not trusted to end, nor to be shallow, nor to be quick
        except httpx.HTTPError as exc:
            raise _Retry(f"Render API {self.settings.api_url} unreachable: "
                         f"{redact_text(str(exc)) or type(exc).__name__}") from exc
        except NotJson as exc:
            raise UnreachableError(f"Render API GET /v1/logs answered a page past its bound: {exc}") from None
        try:
            data = loads_strict(body) if body else {}
        except NotJson:
            data = None
        if resp.status_code in (401, 403):
            raise ConfigError(f"Render API refused the key ({resp.status_code}): check RENDER_API_KEY and that it "
                              f"may read service {self.settings.service_id}")
        if resp.status_code >= 400:
            msg = data.get("message") if isinstance(data, dict) else redact_cut(body.decode("utf-8", "replace"), 200)
            raise ConfigError(f"Render API GET /v1/logs answered {resp.status_code}: {redact_text(str(msg))}")
        if not isinstance(data, dict) or not isinstance(data.get("logs", []), list):
            raise UnreachableError("Render API GET /v1/logs answered something that is not a page of logs")
        return data

    def _body(self, resp: Any) -> bytes:
        """The answer's body: at most PAGE_BYTES (NotJson past them), within `page_seconds` (else retried), given up
        as soon as `stop` is set."""
        import time

        from mosaic_diag.platform.httpjson import NotJson

        deadline = time.monotonic() + self.page_seconds
        parts: list[bytes] = []
        size = 0
        for chunk in resp.iter_bytes():
            if self.stop is not None and self.stop.is_set():
                raise _Stopped
            size += len(chunk)
            if size > PAGE_BYTES:
                raise NotJson(f"the body is longer than {PAGE_BYTES:,} bytes")
            if time.monotonic() > deadline:
                raise _Retry(f"Render API GET /v1/logs took more than {self.page_seconds:g}s to answer")
            parts.append(chunk)
        return b"".join(parts)

    def _wait(self, seconds: float) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        elif self.stop is not None:
            if self.stop.wait(seconds):
                raise _Stopped
        else:
            _sleep(seconds)

    def _page(self, client: Any, params: Mapping[str, str]) -> dict[str, Any]:
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        backoff = wait_exponential(multiplier=0.5, max=8)

        def wait(state: Any) -> float:
            exc = state.outcome.exception() if state.outcome else None
            delay = getattr(exc, "delay", None)
            chosen = min(delay, self.max_wait) if delay is not None else backoff(state)
            self.waited += chosen
            return chosen

        retrying = Retrying(retry=retry_if_exception_type(_Retry), stop=stop_after_attempt(self.attempts),
                            wait=wait, sleep=self._wait, reraise=False)
        try:
            return retrying(self._get, client, params)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise UnreachableError(f"{last} (gave up after {self.attempts} attempts)") from None

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry of the window, page after page, oldest first."""
        import httpx

        params = {"resource": str(self.settings.service_id), "direction": "forward", "limit": str(PAGE_LIMIT),
                  "startTime": rfc3339(self.start), "endTime": rfc3339(self.end)}
        if self.settings.owner_id:
            params["ownerId"] = self.settings.owner_id
        # the last time seen and the ids at it (pages overlap there), the set added to in place (a new set an entry,
        # copied from the last, was quadratic: an answer of 500,000 entries at one time took the read a quarter hour)
        edge_time: Any = None
        edge_ids: set[Any] = set()
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                data = self._page(client, params)
                self.pages += 1
                for entry in data.get("logs", []):
                    if not isinstance(entry, dict):
                        continue
                    ts, ident = entry.get("timestamp"), entry_id(entry)
                    if ts != edge_time:
                        edge_time, edge_ids = ts, set()
                    elif ident is not None and ident in edge_ids:
                        continue
                    edge_ids.add(ident)
                    yield entry
                if not data.get("hasMore"):
                    return
                nxt_start, nxt_end = data.get("nextStartTime"), data.get("nextEndTime")
                if not nxt_start or (nxt_start, nxt_end or params["endTime"]) == (params["startTime"],
                                                                                  params["endTime"]):
                    raise UnreachableError("Render API said hasMore without a new window (nextStartTime): "
                                           f"stopped after {self.pages} pages")
                if self.pages >= MAX_PAGES:
                    raise UnreachableError(f"Render API: more than {MAX_PAGES} pages in the window; narrow it "
                                           "with --since/--until")
                params = {**params, "startTime": str(nxt_start), "endTime": str(nxt_end or params["endTime"])}


def entry_id(entry: Mapping[str, Any]) -> str | int | float | None:
    """An entry's `id` as a key for telling entries apart, or None: an answer is not trusted to give a text or a
    number there (a list or an object was unhashable: a TypeError traceback ended the triage or the watch)."""
    ident = entry.get("id")
    return ident if isinstance(ident, str | int | float) and not isinstance(ident, bool) else None


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


_END = object()
IDLE: Any = None  # what poll_entries yields after a poll that read everything there was


class EntryStream:
    """A read-only binary stream of JSON lines, one entry a line, for the log reader. An `IDLE`
    item of the entries (a poll that found nothing more) makes `read_some` answer None."""

    def __init__(self, entries: Iterator[dict[str, Any] | None]) -> None:
        self._entries = entries
        self._buffer = bytearray()
        self._done = False

    def read_some(self, size: int = -1, timeout: float | None = None) -> bytes | None:
        while not self._done and not self._buffer:
            entry = next(self._entries, _END)
            if entry is _END:
                self._done = True
            elif entry is IDLE:
                if timeout is not None:
                    return None
            elif isinstance(entry, dict):
                self._buffer += json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        return self.read(size)

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            entry = next(self._entries, _END)
            if entry is _END:
                self._done = True
                break
            if entry is IDLE:
                if self._buffer:
                    break
                continue
            self._buffer += json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        if size < 0 or size >= len(self._buffer):
            out, self._buffer = bytes(self._buffer), bytearray()
            return out
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


def poll_entries(settings: RenderSettings, since: datetime, stop: Any, *, interval: float = 10.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_problem: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] | None = None) -> Iterator[dict[str, Any] | None]:
    """New entries forever (until `stop`, a threading.Event, is set): every `interval` seconds the
    window from the newest entry seen to now, then `IDLE`. An outage is reported to `on_problem`
    and polled again; a refused key (ConfigError) ends the watch."""
    from collections import deque

    cursor = since
    recent: deque[Any] = deque(maxlen=10_000)  # ids near the cursor: windows overlap at their edge
    seen: set[Any] = set()
    while not stop.is_set():
        end = clock()
        try:
            for entry in RenderLogs(settings, cursor, end, sleep=sleep, stop=stop).entries():
                ident = entry_id(entry)
                if ident is not None:
                    if ident in seen:
                        continue
                    if len(recent) == recent.maxlen:
                        seen.discard(recent[0])
                    recent.append(ident)
                    seen.add(ident)
                ts = entry.get("timestamp")
                if isinstance(ts, str):
                    try:
                        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
                        when = when if when.tzinfo else when.replace(tzinfo=UTC)
                        # never past the window asked for: an entry dated years ahead made every later window
                        # start after its end, and the watch read nothing more, saying nothing
                        cursor = max(cursor, min(when, end))
                    except ValueError:  # mosaic-diag: ignore[MD006]
                        pass
                yield entry
        except UnreachableError as exc:
            if on_problem is not None:
                on_problem(str(exc))
        except _Stopped:
            return
        yield IDLE
        stop.wait(interval)
