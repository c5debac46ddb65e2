"""Gatherers: each collects facts for conditions, within a timeout; a failure is data, never an exception.

Facts are flat dotted names declared in `vocabulary.GATHERERS`. Every gatherer runs on its
own daemon thread, so a stuck DNS lookup or socket cannot hold the run past its timeout.
"""

from __future__ import annotations

import csv
import json
import re
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaic_diag.platform.redact import presence, redact_dsn, redact_text, redact_with_dsn
from mosaic_diag.playbooks.model import GatherResult, GatherStep
from mosaic_diag.playbooks.settings import PlaybookSettings
from mosaic_diag.playbooks.vocabulary import GATHERER_BY_NAME

_ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|FATAL)\b|^Traceback \(most recent call last\)")
_URLISH = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class GatherContext:
    """What gatherers may look at: settings (root, env, URLs), and optionally log lines already read."""

    settings: PlaybookSettings
    log_lines: tuple[str, ...] | None = None
    classify: Callable[[BaseException], str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def env(self) -> Mapping[str, str]:
        return self.settings.env


class GatherFailed(Exception):
    """A gatherer could not do its job; the message becomes `<prefix>.error`."""


def _short(text: str, width: int = 300) -> str:
    text = redact_text(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 3] + "..."


# -- the gatherers ----------------------------------------------------------------------------------
def gather_log_tail(params: Mapping[str, Any], ctx: GatherContext) -> dict[str, Any]:
    n = int(params.get("lines", 200))
    source = params.get("file") or (str(ctx.settings.log_file) if ctx.settings.log_file else None)
    if ctx.log_lines is not None and not params.get("file"):
        lines, source = list(ctx.log_lines)[-n:], source or "the triage input"
    elif source:
        path = ctx.settings.path(Path(source))
        if path.exists() and not path.is_file():  # /dev/zero: one endless line (all memory); a FIFO: no end
            raise GatherFailed(f"cannot read {path}: not a regular file")
        try:
            if path.suffix == ".gz":
                import gzip

                with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
                    lines = list(deque(_bounded_lines(fh), maxlen=n))
            else:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    lines = list(deque(_bounded_lines(fh), maxlen=n))
        except (OSError, EOFError) as exc:
            raise GatherFailed(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    else:
        raise GatherFailed("no log to read (give --log FILE or `log_tail: {file: ...}`)")
    errors = [line for line in lines if _ERROR_LINE.search(line)]
    out: dict[str, Any] = {"log.lines": len(lines), "log.error_lines": len(errors), "log.source": str(source)}
    if errors:
        out["log.last_error"] = _short(errors[-1])
    return out


MAX_LINE_CHARS = 64 * 1024


def _bounded_lines(fh: Any) -> Iterator[str]:
    """A text file's lines, each cut at MAX_LINE_CHARS (the rest of a longer one is skipped: a file without
    a newline is not read into memory whole)."""
    cut = False
    while chunk := fh.readline(MAX_LINE_CHARS):
        whole = chunk.endswith("\n")
        if not cut:
            yield chunk.rstrip("\n")
        cut = not whole


def _shown_value(value: str) -> str:
    return redact_dsn(value) if _URLISH.match(value) else (presence(value) or "")


def gather_env(params: Mapping[str, Any], ctx: GatherContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in params.get("names", ()):
        value = ctx.env.get(name)
        out[f"env.{name}.set"] = bool(value)
        if value:
            out[f"env.{name}.value"] = _shown_value(value)
    return out


def gather_database_url(params: Mapping[str, Any], ctx: GatherContext) -> dict[str, Any]:
    from mosaic_diag.platform.dsn import RENDER_INTERNAL, RENDER_PUBLIC, SSL_ON, UNESCAPED_AT, dsn_facts

    var = params.get("var", "DATABASE_URL")
    dsn = ctx.env.get(var) or ""
    if not dsn:
        return {"database_url.set": False}
    f = dsn_facts(dsn)
    out: dict[str, Any] = {
        "database_url.set": True, "database_url.scheme": f.scheme or "", "database_url.host": f.host,
        "database_url.port": f.port or 5432, "database_url.database": f.dbname,
        "database_url.sslmode": f.sslmode or "", "database_url.ssl": (f.sslmode or "") in SSL_ON,
        "database_url.render_internal": bool(RENDER_INTERNAL.match(f.host)),
        "database_url.render_public": bool(RENDER_PUBLIC.match(f.host)) or f.host.endswith(".render.com"),
        "database_url.local": f.local, "database_url.redacted": redact_with_dsn(redact_dsn(dsn), dsn),
    }
    out.update(_url_shape(dsn))
    try:
        from psycopg2.extensions import parse_dsn

        parse_dsn(dsn)
        problem = f.url_error or (UNESCAPED_AT if f.unescaped_at else f.port_error)
        out["database_url.valid"] = problem is None
        if problem:
            out["database_url.problem"] = problem
    except Exception as exc:  # psycopg2.ProgrammingError: libpq's own verdict on the DSN
        out["database_url.valid"] = False
        out["database_url.problem"] = _short(redact_with_dsn(str(exc), dsn))
    return out


def _url_shape(dsn: str) -> dict[str, Any]:
    """`database_url.shape`: what libpq accepts but is a mistake (whitespace in a part, no database)."""
    from mosaic_diag.platform.dsn import url_shape_problems

    problems = url_shape_problems(dsn)
    return {"database_url.shape": problems[0][0] if problems else "ok"}


def gather_postgres(params: Mapping[str, Any], ctx: GatherContext, timeout: float = 10.0) -> dict[str, Any]:
    var = params.get("var", "DATABASE_URL")
    dsn = ctx.env.get(var)
    if not dsn:
        return {"postgres.reachable": False, "postgres.label": "ENV_VAR_MISSING",
                "postgres.error": f"{var} is not set"}
    import psycopg2

    start = time.perf_counter()
    try:
        conn = psycopg2.connect(dsn, connect_timeout=max(1, int(timeout)))
    except Exception as exc:  # psycopg2.Error, or ValueError-ish DSN problems: all classified
        label = ctx.classify(exc) if ctx.classify else _default_classify(exc)
        return {"postgres.reachable": False, "postgres.label": label,
                "postgres.error": _short(redact_with_dsn(str(exc), dsn)),
                "postgres.ssl_connects": _ssl_connects(dsn, str(exc), timeout)}
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version()")
            version = cur.fetchone()[0]
        ssl = bool(conn.info.ssl_in_use)
    finally:
        conn.close()
    return {"postgres.reachable": True, "postgres.label": "", "postgres.server_version": str(version),
            "postgres.ssl": ssl, "postgres.latency_ms": round((time.perf_counter() - start) * 1000, 1)}


def _ssl_connects(dsn: str, error: str, timeout: float) -> bool:
    """After a `no encryption` pg_hba rejection: does sslmode=require connect?"""
    from mosaic_diag.platform.dsn import needs_ssl_retry, retry_with_ssl

    return needs_ssl_retry(dsn, error) and retry_with_ssl(dsn, timeout) is None


def _default_classify(exc: BaseException) -> str:
    from mosaic_diag.classifier.classify import Classifier

    return Classifier.default().classify_exception(exc).label


def gather_network(params: Mapping[str, Any], ctx: GatherContext) -> dict[str, Any]:
    from mosaic_diag.platform.dsn import RENDER_INTERNAL, RENDER_PUBLIC, dsn_facts

    host = params.get("host")
    if not host:
        dsn = ctx.env.get(params.get("var", "DATABASE_URL")) or ""
        if not dsn:
            raise GatherFailed(f"no host: {params.get('var', 'DATABASE_URL')} is not set")
        host = dsn_facts(dsn).host or "localhost"
    out: dict[str, Any] = {
        "network.host": host, "network.internal_host": bool(RENDER_INTERNAL.match(host)),
        "network.public_host": bool(RENDER_PUBLIC.match(host)) or host.endswith(".render.com"),
        "network.on_render": ctx.env.get("RENDER", "").lower() == "true" or bool(ctx.env.get("RENDER_SERVICE_ID")),
    }
    if host.startswith("/"):
        out.update({"network.resolvable": Path(host).is_dir(), "network.addresses": [host]})
        return out
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        out.update({"network.resolvable": False, "network.addresses": [], "network.error": str(exc)})
        return out
    out.update({"network.resolvable": True, "network.addresses": sorted({i[4][0] for i in infos})})
    return out


def gather_health(params: Mapping[str, Any], ctx: GatherContext, timeout: float = 5.0) -> dict[str, Any]:
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit, urlunsplit

    url = params.get("url") or ctx.settings.health_url or ctx.env.get("MOSAIC_DIAG_HEALTH_URL")
    if not url:
        raise GatherFailed("no health URL (playbooks.health_url, MOSAIC_DIAG_HEALTH_URL or `health: URL`)")
    if not url.startswith(("http://", "https://")):
        raise GatherFailed(f"health URL must be http(s): {url}")
    parts = urlsplit(url)
    if parts.path in ("", "/"):  # (the path, not the end of the text: `/?token=…` + `/health` was the query's)
        url = urlunsplit(parts._replace(path="/health"))
    out: dict[str, Any] = {"health.url": redact_dsn(url)}
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            status, raw = resp.status, resp.read(1_000_000)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(1_000_000)
    except (urllib.error.URLError, OSError) as exc:
        out.update({"health.reachable": False, "health.ok": False,
                    "health.error": _short(str(getattr(exc, "reason", exc)))})
        return out
    from mosaic_diag.platform.httpjson import loads_strict

    try:
        body = loads_strict(raw or b"{}")  # NaN / Infinity, too deep: not JSON, so no facts (never a NaN rate)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    out.update({"health.reachable": True, "health.status": status,
                "health.ok": 200 <= status < 300 and body.get("ok") is not False})
    out.update({f"health.{fact}": value for fact, value in _health_facts(body).items() if value is not None})
    return out


def _health_facts(body: Mapping[str, Any]) -> dict[str, Any]:
    """What a /health body says, in the framework document's shape (`database`, `ai`, `deployment`) or the
    runtime kit's (`status`, `reasons`, `checks.database`, `breakers`, `metrics`, `deployment`); a value of
    the wrong type is left out."""
    def table(obj: Any, key: str) -> Mapping[str, Any]:
        value = obj.get(key) if isinstance(obj, Mapping) else None
        return value if isinstance(value, Mapping) else {}

    def typed(value: Any, *kinds: type) -> Any:
        return value if isinstance(value, kinds) and not (bool not in kinds and isinstance(value, bool)) else None

    db, ai, dep, metrics = (table(body, k) for k in ("database", "ai", "deployment", "metrics"))
    check = table(table(body, "checks"), "database")
    pool = table(check, "pool")
    connected = typed(db.get("connected"), bool)
    if connected is None and check.get("configured") is True and check.get("label") != "PG_POOL_EXHAUSTED":
        connected = typed(check.get("ok"), bool)  # a full pool says nothing about the database itself
    breakers = table(body, "breakers")
    reasons = body.get("reasons")
    return {
        "state": typed(body.get("status"), str),
        "reasons": [str(r) for r in reasons] if isinstance(reasons, list) else None,
        "database_connected": connected,
        "database_label": typed(check.get("label"), str),
        "database_latency_ms": typed(check.get("latency_ms"), int, float),
        "pool_in_use": typed(pool.get("in_use"), int),
        "pool_max": typed(pool.get("max"), int),
        "database_type": typed(db.get("type"), str),
        "fallback_active": typed(db.get("fallback_active"), bool),
        "openai_available": typed(ai.get("openai_available"), bool),
        "anthropic_available": typed(ai.get("anthropic_available"), bool),
        "breakers_open": sorted(str(n) for n, st in breakers.items() if isinstance(st, str) and st != "closed")
        if breakers else None,  # ({"error": {…}}: the app's breakers() raised, no breaker named so)
        "error_rate": typed(metrics.get("error_rate"), int, float),
        "requests_total": typed(metrics.get("requests_total"), int),
        "p95_latency_ms": typed(metrics.get("p95_latency_ms"), int, float),
        "git_commit": typed(dep.get("git_commit_full") or dep.get("git_commit"), str),
        "manifest_hash": typed(dep.get("manifest_hash"), str),
    }


# a playbook's `git: {path: …}` may name a directory the repository ships: a bare repository committed there
# (HEAD, objects/, refs/, a config with core.worktree and core.fsmonitor = <command>) would be found by git and
# its config obeyed, the command run by a mere dry run's `git status`; so git uses none found implicitly, and
# runs no fsmonitor
_GIT_SAFE = ("-c", "safe.bareRepository=explicit", "-c", "core.fsmonitor=false")


def _git(path: Path, *args: str, timeout: float) -> str:
    proc = subprocess.run(["git", *_GIT_SAFE, "-C", str(path), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise GatherFailed(_short(proc.stderr or f"git {args[0]} failed") or "git failed")
    return proc.stdout.strip()


def gather_git(params: Mapping[str, Any], ctx: GatherContext, timeout: float = 5.0) -> dict[str, Any]:
    path = ctx.settings.path(Path(params.get("path", ".")))
    try:
        head = _git(path, "rev-parse", "HEAD", timeout=timeout)
    except GatherFailed as exc:
        return {"git.available": False, "git.error": str(exc)}
    except FileNotFoundError:
        return {"git.available": False, "git.error": "git is not installed"}
    try:
        branch = _git(path, "symbolic-ref", "--short", "-q", "HEAD", timeout=timeout)
    except GatherFailed:
        branch = ""
    status = _git(path, "status", "--porcelain", "--untracked-files=no", timeout=timeout)
    subject = _git(path, "log", "-1", "--format=%s", timeout=timeout)
    return {"git.available": True, "git.head": head, "git.branch": branch, "git.dirty": bool(status),
            "git.subject": _short(subject, 120)}


def gather_deploys(params: Mapping[str, Any], ctx: GatherContext, timeout: float = 5.0) -> dict[str, Any]:
    """The deploy store `mosaic-diag rollback` uses (PostgreSQL when DATABASE_URL is set, else the
    file), or git log when the store holds no record. Read only: a missing table reads as empty.
    PostgreSQL is given `timeout` (connect and query); its failures are one redacted line."""
    from mosaic_diag.errors import DiagError
    from mosaic_diag.manifest.store import configured_store, previous_deploy

    limit = int(params.get("limit", 5))
    root = ctx.settings.root
    try:
        store = configured_store(root, ctx.env, path=Path(params["path"]) if params.get("path") else None,
                                 timeout=timeout)
        records = store.history()
    except DiagError as exc:
        raise GatherFailed(_short(str(exc))) from None
    if records:
        recent = [f"{r.commit[:8]} {r.status} {r.recorded_at}" for r in records[:limit]]
        out: dict[str, Any] = {"deploys.source": "store", "deploys.count": len(records), "deploys.recent": recent}
        last = next((r for r in records if r.status != "bad"), None)  # a `bad` record marks, it does not deploy
        if last is not None:
            out.update({"deploys.last_commit": last.commit, "deploys.last_at": last.recorded_at})
        prev = previous_deploy(records, last.commit if last else None)
        if prev is not None:
            out.update({"deploys.previous_commit": prev.commit, "deploys.previous_at": prev.recorded_at})
        return out
    try:
        text = _git(root, "log", f"-n{limit}", "--format=%H%x09%cI%x09%s", timeout=timeout)
    except FileNotFoundError as exc:
        raise GatherFailed("no deploy recorded and git is not installed") from exc
    rows = [line.split("\t", 2) for line in text.splitlines() if line.count("\t") >= 2]
    out = {"deploys.source": "git", "deploys.count": len(rows),
           "deploys.recent": [f"{sha[:8]} {_short(subject, 80)}" for sha, _, subject in rows]}
    if rows:
        out.update({"deploys.last_commit": rows[0][0], "deploys.last_at": rows[0][1]})
    return out


def _regular(path: Path) -> None:
    """OSError for a path that is there but no regular file (a link to /dev/zero is read without end)."""
    if path.exists() and not path.is_file():
        raise OSError(f"{path}: not a regular file")


def gather_prompts(params: Mapping[str, Any], ctx: GatherContext) -> dict[str, Any]:
    directory = ctx.settings.path(Path(params.get("dir") or ctx.env.get("MOSAIC_PROMPTS_DIR") or "prompts"))
    out: dict[str, Any] = {"prompts.dir": str(directory)}
    csv_path = directory / "prompts.csv"
    try:
        _regular(csv_path)
        with open(csv_path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, strict=True))
        out.update({"prompts.csv_valid": True, "prompts.csv_rows": len(rows)})
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        out.update({"prompts.csv_valid": False, "prompts.csv_problem": _short(f"{type(exc).__name__}: {exc}")})
    steps_path = directory / "ps101_steps.json"
    try:
        _regular(steps_path)
        steps = json.loads(steps_path.read_text(encoding="utf-8"))
        if not isinstance(steps, list):
            raise ValueError("not a JSON list")
        out.update({"prompts.steps_valid": True, "prompts.steps_count": len(steps)})
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        out.update({"prompts.steps_valid": False, "prompts.steps_problem": _short(f"{type(exc).__name__}: {exc}")})
    return out


GATHER_FUNCTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "log_tail": gather_log_tail, "env": gather_env, "database_url": gather_database_url,
    "postgres": gather_postgres, "network": gather_network, "health": gather_health, "git": gather_git,
    "deploys": gather_deploys, "prompts": gather_prompts,
}
_TAKES_TIMEOUT = {"postgres", "health", "git", "deploys"}
_PREFIX = {"log_tail": "log"}


# -- running them ------------------------------------------------------------------------------------
def _timeout_of(step: GatherStep, settings: PlaybookSettings) -> float:
    if "timeout" in step.params:
        return float(step.params["timeout"])
    return settings.gather_timeout or GATHERER_BY_NAME[step.gatherer].timeout


def run_gatherers(steps: tuple[GatherStep, ...], ctx: GatherContext) -> tuple[GatherResult, ...]:
    """Run every step in parallel, each bounded by its timeout; results in step order."""
    slots: list[dict[str, Any]] = [{} for _ in steps]
    threads = []

    def work(i: int, step: GatherStep, timeout: float) -> None:
        fn = GATHER_FUNCTIONS[step.gatherer]
        start = time.perf_counter()
        try:
            facts = fn(step.params, ctx, timeout) if step.gatherer in _TAKES_TIMEOUT else fn(step.params, ctx)
            slots[i].update(facts=facts, error=None, ok=True)
        except GatherFailed as exc:
            slots[i].update(facts={}, error=str(exc), ok=False)
        except Exception as exc:  # a failure is data: report it and keep the run going
            slots[i].update(facts={}, error=_short(f"{type(exc).__name__}: {exc}"), ok=False)
        slots[i]["elapsed"] = (time.perf_counter() - start) * 1000

    timeouts = [_timeout_of(step, ctx.settings) for step in steps]
    for i, step in enumerate(steps):
        t = threading.Thread(target=work, args=(i, step, timeouts[i]), daemon=True,
                             name=f"mosaic-diag-gather-{step.gatherer}")
        t.start()
        threads.append(t)
    started = time.perf_counter()
    results = []
    for i, (step, thread) in enumerate(zip(steps, threads, strict=True)):
        thread.join(max(0.0, timeouts[i] + 0.5 - (time.perf_counter() - started)))
        prefix = _PREFIX.get(step.gatherer, step.gatherer)
        slot = slots[i]
        if thread.is_alive() or "ok" not in slot:
            error = f"timed out after {timeouts[i]:g}s"
            results.append(GatherResult(step.gatherer, False, {f"{prefix}.error": error}, error,
                                        (time.perf_counter() - started) * 1000))
            continue
        facts = dict(slot["facts"])
        if slot["error"] and f"{prefix}.error" not in facts:
            facts[f"{prefix}.error"] = slot["error"]
        results.append(GatherResult(step.gatherer, slot["ok"], facts, slot["error"], slot["elapsed"]))
    return tuple(results)
