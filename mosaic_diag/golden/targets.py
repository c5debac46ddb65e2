"""Where the cases go: an app at a URL (httpx) or an ASGI app in this process (TestClient)."""

from __future__ import annotations

import importlib
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mosaic_diag.errors import UnreachableError, UsageError


def startup_label(exc: BaseException) -> str:
    """` [label X, playbook P]` for an app's start-up exception (the shared classifier), or ``."""
    try:
        from mosaic_diag.classifier.classify import Classifier
        from mosaic_diag.golden.explain import playbook_for

        label = Classifier.default().classify_exception(exc).label
        playbook = playbook_for(label)
    except Exception:  # noqa: BLE001 - the label is a help, the failure is reported anyway  # mosaic-diag: ignore[MD006]
        return ""
    return f" [label {label}" + (f", playbook {playbook}" if playbook else "") + "]"


@contextmanager
def app_env(values: Mapping[str, str], *, force: bool = False) -> Iterator[dict[str, str]]:
    """`values` in os.environ (which an in-process app reads at start-up) for the duration, except the
    variables already set (unless `force`); yields those it set. The previous values come back."""
    ours = {k: v for k, v in values.items() if force or k not in os.environ}
    before = {k: os.environ.get(k) for k in ours}
    os.environ.update(ours)
    try:
        yield ours
    finally:
        for key, value in ours.items():
            if os.environ.get(key) == value:  # still ours: not changed meanwhile
                if before[key] is None:
                    del os.environ[key]
                else:
                    os.environ[key] = before[key]  # type: ignore[assignment]


class AppTimeoutError(TimeoutError):
    """The harness's own request got no answer in time (taxonomy: APP_TIMEOUT)."""

    def __init__(self, timeout: float, what: str = "") -> None:
        super().__init__(f"the app did not answer within {timeout:g}s" + (f" ({what})" if what else ""))


MAX_ANSWER_BYTES = 16 * 2**20  # an answer body read at most (decoded): an app that answers forever is cut here


class AnswerTooLarge(Exception):
    """The app's answer went on past MAX_ANSWER_BYTES: not read further, the connection closed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit // 2**20} MiB: not read further")


def read_capped(chunks: Iterator[bytes], *, limit: int, deadline: float, timeout: float) -> bytes:
    """The body from `chunks`, at most `limit` bytes (AnswerTooLarge past it), and only until `deadline`
    (AppTimeoutError: a body that trickles in forever ends the read too, not just the wait for it)."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(limit)
        if time.monotonic() > deadline:
            raise AppTimeoutError(timeout, "the answer was still coming")
        parts.append(chunk)
    return b"".join(parts)


def decode_answer(body: bytes, charset: str | None) -> str:
    """The answer's text in the charset its Content-Type names (invalid bytes replaced), UTF-8 when that is no
    encoding text is read in: `charset=rot13`, `hex`, `idna`, `punycode`, `undefined` (codecs Python knows, so httpx
    keeps them) raise LookupError or UnicodeError, and the app's answer was reported as none (the harness's own error,
    its status lost)."""
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except (LookupError, UnicodeError):
        return body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: Mapping[str, str]


class Target(Protocol):
    """Something that answers HTTP requests; `send` may be called from several threads."""

    name: str

    def probe(self, path: str, timeout: float) -> None: ...

    def send(self, method: str, path: str, *, json: Any, headers: Mapping[str, str],
             params: Mapping[str, str], timeout: float) -> Answer: ...

    def close(self) -> None: ...


def split_query(path: str, params: Mapping[str, str], base: Any = None) -> tuple[str, Any]:
    """A case's path without its query (nor a fragment), and the query to send (an httpx.QueryParams): `base` (the
    --url's own, `?token=…`), then the path's (`/search?q=engineer`), then the case's `query`, a name given later
    replacing an earlier one. httpx replaces a URL's query with the `params` of a request, empty ones too: a case's
    `path: /search?q=engineer` asked for /search."""
    import httpx

    path = path.partition("#")[0]
    path, _, own = path.partition("?")
    return path, httpx.QueryParams(base or "").merge(httpx.QueryParams(own)).merge(dict(params))


class _ClientTarget:
    """Shared by both targets: an httpx.Client (TestClient is one)."""

    name = ""
    _client: Any

    def send(self, method: str, path: str, *, json: Any, headers: Mapping[str, str],
             params: Mapping[str, str], timeout: float) -> Answer:
        path, query = split_query(path, params)
        response = self._client.request(method, path, json=json, headers=dict(headers),
                                        params=query, timeout=timeout)
        return Answer(response.status_code, response.text, dict(response.headers))

    def close(self) -> None:
        self._client.close()


class UrlTarget(_ClientTarget):
    """An app already running at `base_url`."""

    def __init__(self, base_url: str) -> None:
        import httpx

        from mosaic_diag.platform.httpjson import check_url

        if not base_url.startswith(("http://", "https://")):
            raise UsageError(f"--url must start with http:// or https://, got {base_url!r}")
        from mosaic_diag.platform.redact import redact_text

        check_url(base_url, "--url")
        # what the reports, the JUnit file and the last run's state name: never the URL's password (`user:pw@`) or
        # a token in its query, which go to the app only
        self.name = redact_text(base_url.rstrip("/"))
        # a query of the URL's (`?token=…`) goes with every request, the case's path before it: httpx appends a
        # request's path to the base URL's raw path, which holds the query (`/?token=abc/health`: every case got the
        # app's / with the token's value spoiled); a case's query of the same name wins
        url = httpx.URL(base_url)
        self._query = url.params
        self._client = httpx.Client(base_url=str(url.copy_with(query=None, fragment=None)).rstrip("/"),
                                    follow_redirects=False)

    def send(self, method: str, path: str, *, json: Any, headers: Mapping[str, str],
             params: Mapping[str, str], timeout: float) -> Answer:
        """The answer, its body read as it streams in: at most MAX_ANSWER_BYTES, within `timeout` in all."""
        deadline = time.monotonic() + timeout
        path, query = split_query(path, params, self._query)
        with self._client.stream(method, path, json=json, headers=dict(headers), params=query,
                                 timeout=timeout) as response:
            body = read_capped(response.iter_bytes(), limit=MAX_ANSWER_BYTES, deadline=deadline, timeout=timeout)
            return Answer(response.status_code, decode_answer(body, response.encoding), dict(response.headers))

    def probe(self, path: str, timeout: float) -> None:
        """UnreachableError unless something answers HTTP at the base URL (any status will do; its body
        is not read)."""
        import httpx

        path, query = split_query(path, {}, self._query)
        try:
            with self._client.stream("GET", path, params=query, timeout=timeout):
                pass
        except httpx.TimeoutException as exc:  # (a sleeping free-tier instance wakes in tens of seconds)
            self._client.close()
            raise UnreachableError(f"cannot reach {self.name}: the app did not answer within {timeout:g}s "
                                   f"(GET {path}, {type(exc).__name__}; --timeout sets it)") from exc
        except httpx.TransportError as exc:
            self._client.close()
            raise UnreachableError(f"cannot reach {self.name}: {type(exc).__name__}: {exc}") from exc


ASGIApp = Any  # (scope, receive, send) -> awaitable


def lifespan_auto(app: ASGIApp, notes: list[str]) -> ASGIApp:
    """`app` with the ASGI lifespan protocol as uvicorn's `--lifespan auto` (its default, Render's too) runs it: an
    app that raises or returns before it answers the start-up (a bare ASGI app that serves `http` only) is run
    without one, and `notes` says so; an app that answered (a FastAPI app whose start-up failed) is as it says.
    Starlette's test client, which runs the app in-process, only knows `--lifespan on`: such an app failed to
    start with `TypeError: 'NoneType' object is not subscriptable`."""

    async def run(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "lifespan":
            await app(scope, receive, send)
            return
        answered, asked = [False], []

        async def receive_(*args: Any) -> Any:
            message = await receive(*args)
            asked.append(message.get("type") if isinstance(message, dict) else None)
            return message

        async def send_(message: Any) -> None:
            answered[0] = True
            await send(message)

        why = "it returned"
        try:
            await app(scope, receive_, send_)
        except Exception as exc:
            if answered[0]:
                raise
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if answered[0]:
            return
        notes.append(f"the app does not take part in the ASGI lifespan protocol ({why} before its start-up): run "
                     "without one, as uvicorn's --lifespan auto does")
        if "lifespan.startup" not in asked:
            await receive()
        await send({"type": "lifespan.startup.complete"})
        if "lifespan.shutdown" not in asked:
            await receive()
        await send({"type": "lifespan.shutdown.complete"})

    return run


class AppTarget(_ClientTarget):
    """An ASGI app imported from `module:attr`, run in-process with its lifespan (`lifespan_auto`)."""

    def __init__(self, spec: str, app_dir: Path) -> None:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise UsageError(f"--app takes module:attribute (e.g. examples.mosaic_app.main:app), "
                             f"got {spec!r}")
        if str(app_dir) not in sys.path:
            sys.path.insert(0, str(app_dir))
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # any import-time failure of the user's app is a usage error
            # the app's own code failing at import (a required setting read at module level) is classified
            # as a start-up failure is; a module that is not there is only a bad --app
            label = "" if isinstance(exc, ImportError) and exc.name == module_name else startup_label(exc)
            raise UsageError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}{label}") from exc
        app = getattr(module, attr, None)
        if app is None:
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}")
        try:
            from starlette.testclient import TestClient
        except ImportError as exc:
            raise UsageError("--app needs starlette (pip install 'mosaic-diag[example]')") from exc
        import logging

        # the in-process client's per-request INFO lines, quiet until close()
        self._levels = {name: logging.getLogger(name).level for name in ("httpx", "httpx2")}
        for name, level in self._levels.items():
            if level < logging.WARNING:
                logging.getLogger(name).setLevel(logging.WARNING)
        self.name = f"app:{spec}"
        self.notes: list[str] = []  # what the command says on stderr (an app run without a lifespan)
        self._client = TestClient(lifespan_auto(app, self.notes), raise_server_exceptions=False)

    def send(self, method: str, path: str, *, json: Any, headers: Mapping[str, str],
             params: Mapping[str, str], timeout: float) -> Answer:
        """As over HTTP: the body read as the app sends it, at most MAX_ANSWER_BYTES (the app stopped there),
        but without `timeout`: the in-process client cannot enforce one (Starlette deprecates passing it);
        --global-timeout still bounds the run."""
        path, query = split_query(path, params)
        with self._client.stream(method, path, json=json, headers=dict(headers), params=query) as response:
            body = read_capped(response.iter_bytes(), limit=MAX_ANSWER_BYTES, deadline=math.inf, timeout=timeout)
            return Answer(response.status_code, decode_answer(body, response.encoding), dict(response.headers))

    def probe(self, path: str, timeout: float) -> None:
        """Start the app (its lifespan); UnreachableError if it fails to start."""
        try:
            self._client.__enter__()
        except Exception as exc:  # the app's own startup error, reported as "cannot start", classified
            self._restore_levels()  # no close() follows a failed start
            raise UnreachableError(f"the app failed to start: {type(exc).__name__}: {exc}"
                                   f"{startup_label(exc)}") from exc

    def close(self) -> None:
        try:
            self._client.__exit__(None, None, None)
        finally:
            self._restore_levels()

    def _restore_levels(self) -> None:
        import logging

        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)


def close_within(target: Target, seconds: float) -> None:
    """Close `target`, waiting at most `seconds`: requests still in flight at the global timeout must not
    hold the run (an in-process app's shutdown waits for them; the close goes on in a daemon thread)."""
    import threading

    closer = threading.Thread(target=target.close, daemon=True, name="golden-close")
    closer.start()
    closer.join(seconds)
