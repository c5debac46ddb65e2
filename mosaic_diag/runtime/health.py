"""`/health` for FastAPI: the deployed commit and manifest, the database, the breakers, the
request window; `ok | degraded | down` with HTTP 200 or 503.

    app.include_router(health_router(database=os.environ.get("DATABASE_URL")))

- `deployment`: `git_commit` (8 characters), `git_commit_full` (the `commit` argument (text or a
  callable), else
  RENDER_GIT_COMMIT), `manifest_hash` (the argument, else MOSAIC_MANIFEST_HASH, else the sha256 of
  the manifest file in MOSAIC_MANIFEST, read again only when that file changed: its inode, size or mtime).
- `checks.database`: `SELECT 1` through the `database` argument (a DSN, a psycopg2 pool, or a
  callable returning either, a DB-API connection (closed after) or None), its latency and, for a
  pool, its size and use; a failure's label (the taxonomy's), its text (hosts, ports, socket paths, roles)
  logged once per change on `mosaic.runtime.health`, not shown: /health answers whoever reaches the app.
- `breakers`: every breaker of `mosaic_diag.runtime.breaker` by name, as stored.
- `metrics`: `requests_total`, `error_rate` (5xx), `p50_latency_ms`, `p95_latency_ms` (see RequestWindow: exact
  up to 2,048 requests in the window, above within ±0.5%) and the
  labels of the failed (5xx) requests, over the instrumentation window (five minutes): what `rollback --auto` reads.
- `failovers`: over the same window, `total` failovers `failover` made, `exhausted` calls every
  provider failed, and `reasons` by "provider LABEL -> next provider" (a failover answers 200: the
  primary's failures show here, not in `metrics`).
- `status`: `down` (HTTP 503) when the database check fails; `degraded` when a breaker is not
  closed, the error rate passes `degraded_error_rate` or p95 passes `degraded_p95_ms`; else `ok`.
  `ok` is true unless down.
- `dead_letters` (given a store of `open_dead_letters`, the schema guard's): the letters kept, the bound the writers
  keep them to, and how many the bound evicted (the oldest first) and when last (read again after `database_ttl`).
- `extra()`: the app's own fields, merged into the body (a mapping merged into a mapping).
- A `breakers()` or `extra()` that raises (or an `extra()` that returns no mapping), or a dead-letter store that cannot
  be read, is no 500: its section (`breakers`, `dead_letters`, else `extra`) is `{"error": {"type"}}`, the status
  `degraded` (unless down) with the reason `breakers() failed: TypeName`, and a warning with its message (redacted) is
  logged once per change.
- With `prometheus-client` installed, `{path}/metrics` serves the same figures for Prometheus.
- The router runs the checks off the event loop, one run at a time whatever the number of probes (a probe that
  comes meanwhile waits for that run), within `timeout` (4 s, under the 5 s Render gives a health check; past it
  `down` with HTTP 503, and while that run is still stuck the next probes are answered so at once); the database
  check is reused for `database_ttl` (1 s): a load balancer polling 50 times a second neither opens 50
  connections a second nor holds the app's threads.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mosaic_diag.platform.redact import redact_text, redact_with_dsn
from mosaic_diag.runtime.failovers import DEFAULT_FAILOVERS, FailoverWindow
from mosaic_diag.runtime.instrument import DEFAULT_WINDOW, RequestWindow
from mosaic_diag.runtime.verdict import classify_exception

logger = logging.getLogger("mosaic.runtime.health")


@dataclass(frozen=True)
class HealthConfig:
    """Thresholds of `degraded`."""

    degraded_error_rate: float = 0.05
    degraded_p95_ms: float | None = None
    min_requests: int = 5          # an error rate over fewer requests does not degrade


# the last manifest hashed: (its path, st_dev, st_ino, st_size, st_mtime_ns) -> its hash (None: not a manifest)
_MANIFEST: tuple[tuple[str, int, int, int, int], str | None] | None = None
_MANIFEST_LOCK = threading.Lock()


def _file_key(path: str) -> tuple[str, int, int, int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # (none there; a NUL in the name)
        return None
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def manifest_hash_of(path: str | Path) -> str | None:
    """The sha256 (16 hex) of a manifest file's canonical JSON, or of its bytes when not JSON (nested past the
    decoder too); None unless it is a regular file of at most 64 MiB (a FIFO would hold each /health request).
    Read again only when the file changed (its device, inode, size or modification time, by `os.stat`: an atomic
    replace is a new inode): /health asked it at every request, up to 64 MiB read and parsed each time."""
    global _MANIFEST
    key = _file_key(str(path))
    if key is None:
        return None
    with _MANIFEST_LOCK:
        if _MANIFEST is not None and _MANIFEST[0] == key:
            return _MANIFEST[1]
    found = _manifest_hash(Path(path))
    if _file_key(str(path)) == key:  # (the file replaced or written while it was read: hashed again next time)
        with _MANIFEST_LOCK:
            _MANIFEST = (key, found)
    return found


def _manifest_hash(path: Path) -> str | None:
    from mosaic_diag.platform import atomic

    try:
        raw = atomic.read_state(path)
    except OSError:
        return None
    with contextlib.suppress(ValueError, RecursionError):  # mosaic-diag: ignore[MD006]
        raw = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _database_check(database: Any, timeout: int) -> dict[str, Any]:
    if callable(database) and not hasattr(database, "getconn"):
        database = database()  # a pool, a DSN, a connection, or None, resolved per request
    if database is None:
        return {"configured": False, "ok": True}
    start = time.perf_counter()
    pool_state: dict[str, Any] | None = None
    conn = None
    put_back: Callable[[Any], None] | None = None
    try:
        if isinstance(database, str):
            import psycopg2

            conn = psycopg2.connect(re.sub(r"^(postgres(?:ql)?)\+[A-Za-z0-9_]+://", r"\1://", database.strip()),
                                    connect_timeout=timeout)  # SQLAlchemy's postgresql+psycopg2:// too
        elif hasattr(database, "getconn"):  # a psycopg2 pool
            pool_state = {"max": getattr(database, "maxconn", None), "min": getattr(database, "minconn", None),
                          "in_use": len(getattr(database, "_used", {}) or {}),
                          "idle": len(getattr(database, "_pool", []) or [])}
            conn = database.getconn()
            put_back = database.putconn
        else:
            conn = database
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchone()
        cur.close()
        result: dict[str, Any] = {"configured": True, "ok": True}
        _logged("database", None, "", "/health: the database check passes again")
    except Exception as exc:  # any driver error: the check reports it, /health answers
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        label = classify_exception(exc).label
        # the driver's text names hosts, ports, socket paths and roles: the app's log has it, /health (which anyone
        # who can reach the app reads) the label only
        detail = redact_with_dsn(first, database) if isinstance(database, str) else redact_text(first)
        _logged("database", f"{label}: {detail}", "/health: the database check failed: %s (the label only in "
                "the document)", "/health: the database check passes again")
        result = {"configured": True, "ok": False, "label": label}
    finally:
        if conn is not None:
            try:
                if put_back is not None:
                    put_back(conn)
                else:
                    conn.close()
            except Exception:  # noqa: S110 - closing a broken connection  # mosaic-diag: ignore[MD006]
                pass
    result["latency_ms"] = round((time.perf_counter() - start) * 1000, 1)
    if pool_state is not None:
        result["pool"] = pool_state
    return result


def health_payload(*, commit: str | Callable[[], str] | None = None, manifest_hash: str | None = None,
                   database: Any = None, breakers: Callable[[], dict[str, str]] | None = None,
                   window: RequestWindow | None = None,
                   config: HealthConfig | None = None, db_timeout: int = 3,
                   extra: Callable[[], dict[str, Any]] | None = None,
                   failovers: FailoverWindow | None = None,
                   database_check: dict[str, Any] | None = None, dead_letters: Any = None,
                   dead_letters_ttl: float = 0.0) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /health (see the module doc); `database_check`: the result of a check already made
    (not made again); `dead_letters`: a DeadLetterStore, its stats read again after `dead_letters_ttl` seconds."""
    from mosaic_diag.runtime.breakers import breaker_states

    cfg = config or HealthConfig()
    full = (commit() if callable(commit) else commit) or os.environ.get("RENDER_GIT_COMMIT") or "unknown"
    manifest = manifest_hash or os.environ.get("MOSAIC_MANIFEST_HASH") or (
        manifest_hash_of(os.environ["MOSAIC_MANIFEST"]) if os.environ.get("MOSAIC_MANIFEST") else None)
    db = database_check if database_check is not None else _database_check(database, db_timeout)
    failed: dict[str, dict[str, str]] = {}  # the app's callables that raised: section -> their error
    try:
        states: dict[str, Any] = dict((breakers or breaker_states)())
    except Exception as exc:  # reported in the document, not a 500
        failed["breakers"] = _section_error("breakers", exc)
        states = {"error": failed["breakers"]}
    else:
        _section_error("breakers", None)
    letters: dict[str, Any] | None = None
    if dead_letters is not None:
        try:
            letters = dead_letters.stats(max_age=dead_letters_ttl).to_dict()
        except Exception as exc:  # (a store that cannot be read is one that cannot be written: degraded)
            failed["dead_letters"] = _section_error("dead_letters", exc)
            letters = {"error": failed["dead_letters"]}
        else:
            _section_error("dead_letters", None)
    stats = (window or DEFAULT_WINDOW).stats()
    reasons: list[str] = []
    if not db["ok"]:
        reasons.append(f"database: {db.get('label')}")
    status = "down" if reasons else "ok"
    extras: Any = {}
    try:
        extras = dict((extra() if extra else {}).items())
    except Exception as exc:
        failed["extra"] = _section_error("extra", exc)
        extras = {"extra": {"error": failed["extra"]}}
    else:
        _section_error("extra", None)
    if status == "ok":
        reasons += [f"{section}() failed: {error['type']}" for section, error in failed.items()]
        reasons += [f"breaker {name} {state}" for name, state in states.items()
                    if state != "closed" and "breakers" not in failed]
        if stats.requests_total >= cfg.min_requests and stats.error_rate > cfg.degraded_error_rate:
            reasons.append(f"error rate {stats.error_rate:.1%}")
        if cfg.degraded_p95_ms is not None and stats.p95_latency_ms > cfg.degraded_p95_ms:
            reasons.append(f"p95 {stats.p95_latency_ms:.0f} ms")
        if reasons:
            status = "degraded"
    body = {
        "status": status, "ok": status != "down", "reasons": reasons,
        "timestamp": datetime.now(UTC).isoformat(),
        "deployment": {"git_commit": full[:8], "git_commit_full": full, "manifest_hash": manifest},
        "checks": {"database": db},
        "breakers": states,
        "metrics": stats.to_dict(),
        "failovers": (failovers or DEFAULT_FAILOVERS).stats(),
        **({"dead_letters": letters} if letters is not None else {}),
    }
    for key, value in extras.items():
        current = body.get(key)
        body[key] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
    return (503 if status == "down" else 200), body


_FAILED: dict[str, str | None] = {}  # section -> the failure last logged (logged once per change)
_FAILED_LOCK = threading.Lock()


def _logged(section: str, seen: str | None, failed: str, recovered: str) -> None:
    """Log the failure `seen` of a section (`failed % seen`) when it differs from the last one logged (a poll each
    second logs a failure once), and its recovery (`recovered`, `seen` None) likewise."""
    with _FAILED_LOCK:
        before = _FAILED.get(section)
        _FAILED[section] = seen
    if seen is not None and seen != before:
        logger.warning(failed, seen)
    elif seen is None and before is not None:
        logger.warning(recovered)


def _section_error(section: str, exc: Exception | None) -> dict[str, str]:
    """`{"type"}` of an app callable (`breakers()`, `extra()`) that raised: its message (file paths, hosts, what
    the app put in it) goes to the app's log only, redacted and cut, logged when it differs from the last one of
    that section, and its recovery likewise."""
    error: dict[str, str] = {}
    seen = None
    if exc is not None:
        first = (str(exc).strip().splitlines() or [""])[0]
        error = {"type": type(exc).__name__}
        seen = f"{error['type']}: {redact_text(first)[:300]}"
    _logged(section, seen, f"/health: {section}() raised %s: the type only in the document, status degraded",
            f"/health: {section}() answers again")
    return error


def _prometheus(body: dict[str, Any]) -> str | None:
    try:
        from prometheus_client import CollectorRegistry, Gauge, generate_latest
    except ImportError:
        return None
    registry = CollectorRegistry()
    metrics = body["metrics"]
    for name, key in (("requests", "requests_total"), ("error_rate", "error_rate"),
                      ("p50_latency_ms", "p50_latency_ms"), ("p95_latency_ms", "p95_latency_ms")):
        Gauge(f"mosaic_{name}", f"{key} over the window", registry=registry).set(metrics[key])
    up = Gauge("mosaic_up", "1 unless /health is down", registry=registry)
    up.set(0 if body["status"] == "down" else 1)
    breaker = Gauge("mosaic_breaker_open", "1 when the breaker is not closed", ["name"], registry=registry)
    for name, state in body["breakers"].items():
        if not isinstance(state, str):  # {"error": …}: breakers() raised
            continue
        breaker.labels(name=name).set(0 if state == "closed" else 1)
    return generate_latest(registry).decode()


class _Checks:
    """The checks of /health, shared by the probes of one router: one run at a time, on a thread of its own (a probe
    that arrives meanwhile waits for that run), each given `timeout` seconds (past it: `down`, and the probes that
    come while the run is still stuck are answered so at once: no thread of the app waits on a stuck database); the
    database's result reused for `database_ttl` seconds (a load balancer's polls do not open a connection each)."""

    def __init__(self, run: Callable[[dict[str, Any] | None], tuple[int, dict[str, Any]]],
                 check_database: Callable[[], dict[str, Any]], *, timeout: float, database_ttl: float,
                 window: RequestWindow | None) -> None:
        self._run = run
        self._check_database = check_database
        self.timeout = timeout
        self.database_ttl = database_ttl
        self._window = window
        self._lock = threading.Lock()
        self._current: tuple[float, concurrent.futures.Future[tuple[int, dict[str, Any]]]] | None = None
        self._database: tuple[float, dict[str, Any]] | None = None

    def _payload(self) -> tuple[int, dict[str, Any]]:
        now = time.monotonic()
        if self._database is None or now - self._database[0] >= self.database_ttl:  # one run at a time: no lock
            self._database = (now, self._check_database())
        return self._run(self._database[1])

    def _started(self) -> tuple[float, concurrent.futures.Future[tuple[int, dict[str, Any]]]]:
        with self._lock:
            if self._current is None or self._current[1].done():
                future: concurrent.futures.Future[tuple[int, dict[str, Any]]] = concurrent.futures.Future()

                def run() -> None:
                    try:
                        future.set_result(self._payload())
                    except BaseException as exc:  # the probe that waits raises it
                        future.set_exception(exc)

                self._current = (time.monotonic(), future)
                threading.Thread(target=run, name="mosaic-health", daemon=True).start()
            return self._current

    async def answer(self) -> tuple[int, dict[str, Any]]:
        import asyncio

        began, future = self._started()
        left = self.timeout - (time.monotonic() - began)
        if future.done() or left > 0:
            try:
                return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), max(left, 0))
            except TimeoutError:
                logger.warning("/health: the checks did not finish within %g s (database, breakers or extra() "
                               "stuck): answered down", self.timeout)
        return 503, {"status": "down", "ok": False,
                     "reasons": [f"health checks did not finish within {self.timeout:g} s"],
                     "timestamp": datetime.now(UTC).isoformat(),
                     "checks": {"timed_out": {"ok": False, "running_s": round(time.monotonic() - began, 1)}},
                     "metrics": (self._window or DEFAULT_WINDOW).stats().to_dict()}


# a health or metrics answer is of its moment: a cache between the prober and the app (a CDN, a proxy) must not serve
# an old `ok` for a service that is down now, or an old `down` after it recovered
_NO_STORE = {"Cache-Control": "no-store"}


def health_router(*, path: str = "/health", commit: str | Callable[[], str] | None = None,
                  manifest_hash: str | None = None, database: Any = None,
                  breakers: Callable[[], dict[str, str]] | None = None,
                  window: RequestWindow | None = None, config: HealthConfig | None = None,
                  extra: Callable[[], dict[str, Any]] | None = None, failovers: FailoverWindow | None = None,
                  timeout: float = 4.0, database_ttl: float = 1.0, db_timeout: int = 3,
                  dead_letters: Any = None) -> Any:
    """A FastAPI APIRouter serving `path` (and `{path}/metrics` with prometheus-client). The checks run off the
    event loop, one run at a time for every probe, within `timeout` seconds (else `down`); the database check is
    reused for `database_ttl` seconds (see `_Checks`)."""
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse, PlainTextResponse

    router = APIRouter()

    def run(database_check: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        return health_payload(commit=commit, manifest_hash=manifest_hash, database=database, breakers=breakers,
                              window=window, config=config, extra=extra, failovers=failovers, db_timeout=db_timeout,
                              database_check=database_check, dead_letters=dead_letters,
                              dead_letters_ttl=database_ttl)

    checks = _Checks(run, lambda: _database_check(database, db_timeout), timeout=timeout, database_ttl=database_ttl,
                     window=window)

    @router.get(path, include_in_schema=False)
    async def health() -> JSONResponse:
        code, body = await checks.answer()
        return JSONResponse(body, status_code=code, headers=_NO_STORE)

    @router.get(path.rstrip("/") + "/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        code, body = await checks.answer()
        text = _prometheus(body) if "breakers" in body else None
        if text is None:
            if "breakers" not in body:
                return PlainTextResponse(f"{body['reasons'][0]}\n", status_code=code, headers=_NO_STORE)
            return PlainTextResponse("prometheus-client is not installed\n", status_code=404)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4", headers=_NO_STORE)

    return router
