"""The fixed vocabulary of conditions: incident facts, and what each gatherer declares it produces.

Kept as data and free of heavy imports: the validator uses it without running anything.
A name segment `*` stands for an UPPER_SNAKE_CASE word (`env.*.set` -> `env.OPENAI_API_KEY.set`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

_WILD = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Fact:
    """A name a condition may read, its type (number, string, bool, list) and what it means."""

    name: str
    type: str
    doc: str

    def matches(self, name: str) -> bool:
        want, got = self.name.split("."), name.split(".")
        if len(want) != len(got):
            return False
        return all(w == g or (w == "*" and bool(_WILD.match(g))) for w, g in zip(want, got, strict=True))


@dataclass(frozen=True)
class GathererSpec:
    """A gatherer: its YAML name (and framework aliases), arguments, default timeout and facts."""

    name: str
    doc: str
    facts: tuple[Fact, ...]
    params: Mapping[str, str] = field(default_factory=dict)  # key -> type (int, number, string, names, bool)
    shorthand: str | None = None  # the param a scalar/list value stands for (`log_tail: 200`)
    aliases: tuple[str, ...] = ()
    timeout: float = 5.0

    def normalize(self, value: Any) -> tuple[dict[str, Any] | None, str | None]:
        """(params, None) or (None, reason) for the YAML value of `- <gatherer>: value`."""
        if value is True or value is None:
            return {}, None
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                kind = {**self.params, "timeout": "number"}.get(str(key))
                if kind is None:
                    known = ", ".join(sorted({*self.params, "timeout"}))
                    return None, f"unknown argument {key!r} of gatherer {self.name} (known: {known})"
                if not _fits(kind, item):
                    return None, f"argument {key!r} of gatherer {self.name} must be {_KIND_TEXT[kind]}"
                out[str(key)] = list(item) if kind == "names" else item
            return out, None
        if self.shorthand is not None and _fits(self.params[self.shorthand], value):
            kind = self.params[self.shorthand]
            return {self.shorthand: list(value) if kind == "names" else value}, None
        want = f"true, {_KIND_TEXT[self.params[self.shorthand]]} or a mapping" if self.shorthand else \
            "true or a mapping"
        return None, f"gatherer {self.name} takes {want}"


_KIND_TEXT = {"int": "a positive integer", "number": "a positive number", "string": "a string",
              "names": "a list of UPPER_SNAKE_CASE names", "bool": "true or false"}


def _fits(kind: str, value: Any) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    if kind == "string":
        return isinstance(value, str) and bool(value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "names":
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) and _WILD.match(v) for v in value)
    return False


def _facts(prefix: str, *items: tuple[str, str, str]) -> tuple[Fact, ...]:
    return (*(Fact(f"{prefix}.{n}", t, d) for n, t, d in items),
            Fact(f"{prefix}.error", "string", "why the gatherer failed (absent when it worked)"))


BASE_FACTS: tuple[Fact, ...] = (
    Fact("rate_1m", "number", "errors of this label per minute: the busiest minute (= count_1m)"),
    Fact("rate_5m", "number", "errors of this label per minute, averaged over the busiest 5 minutes (count_5m / 5)"),
    Fact("rate_15m", "number", "errors of this label per minute, averaged over the busiest 15 minutes "
                               "(count_15m / 15)"),
    Fact("count_1m", "number", "errors of this label in the busiest minute (a count)"),
    Fact("count_5m", "number", "errors of this label in the busiest 5 minutes (a count, not per minute)"),
    Fact("count_15m", "number", "errors of this label in the busiest 15 minutes (a count, not per minute)"),
    Fact("count", "number", "error events of this label in the incident"),
    Fact("starts", "number", "a restart loop (RENDER_RESTART_LOOP): the process starts in its loops, errors between"),
    Fact("fingerprint", "string", "the triage group's fingerprint: executed actions are not repeated for it "
                                  "within the cool-down"),
    Fact("error_rate", "number", "failed requests / all requests (0..1), when known"),
    Fact("stage", "string", "startup, deploy, runtime, predeploy or golden"),
    Fact("severity", "string", "the label's (or playbook's) severity: critical, high, medium, low"),
    Fact("label", "string", "the incident's label"),
    Fact("category", "string", "the label's category"),
)

GATHERERS: tuple[GathererSpec, ...] = (
    GathererSpec(
        "log_tail", "the last lines of the log (the triage input or a file), error lines counted",
        _facts("log", ("lines", "number", "lines read"),
               ("error_lines", "number", "lines at ERROR/CRITICAL or starting a traceback"),
               ("last_error", "string", "the last error line (redacted)"),
               ("source", "string", "the file read")),
        params={"lines": "int", "file": "string"}, shorthand="lines", aliases=("render_logs",), timeout=5.0),
    GathererSpec(
        "env", "presence of environment variables, values redacted",
        (Fact("env.*.set", "bool", "the variable is set and not empty"),
         Fact("env.*.value", "string", "the value, redacted (DSN without password, keys as ***SET***)")),
        params={"names": "names"}, shorthand="names", aliases=("env_vars",), timeout=1.0),
    GathererSpec(
        "database_url", "what DATABASE_URL says, parsed without connecting",
        _facts("database_url", ("set", "bool", "the variable is set"),
               ("scheme", "string", "postgresql, postgres, sqlite, ..."),
               ("host", "string", "the host name"), ("port", "number", "the port (5432 when absent)"),
               ("database", "string", "the database name"),
               ("sslmode", "string", "the sslmode query parameter ('' when absent)"),
               ("ssl", "bool", "sslmode is require, verify-ca or verify-full"),
               ("render_internal", "bool", "the host is Render's internal form dpg-...-a"),
               ("render_public", "bool", "the host is Render's public *.render.com form"),
               ("local", "bool", "the host is loopback or a socket directory"),
               ("redacted", "string", "the URL without its password"),
               ("valid", "bool", "libpq parses it (psycopg2.extensions.parse_dsn) and the port is a number"),
               ("problem", "string", "libpq's reason when it does not parse"),
               ("shape", "string", "ok, or a mistake libpq accepts: space (whitespace in a part), no_database")),
        params={"var": "string"}, shorthand="var", timeout=1.0),
    GathererSpec(
        "postgres", "a real connection attempt (psycopg2, SELECT version()), its failure classified",
        _facts("postgres", ("reachable", "bool", "a connection was made and answered SELECT 1"),
               ("label", "string", "the classifier's label for the failure ('' when reachable)"),
               ("server_version", "string", "the server's version string"),
               ("ssl", "bool", "the connection uses SSL"),
               ("ssl_connects", "bool", "after a `no encryption` pg_hba rejection, sslmode=require connects"),
               ("latency_ms", "number", "time to connect and answer")),
        params={"var": "string"}, shorthand="var", aliases=("postgres_service_status",), timeout=10.0),
    GathererSpec(
        "network", "the database host: Render internal vs public, resolvable or not",
        _facts("network", ("host", "string", "the host looked up"),
               ("internal_host", "bool", "Render's internal host form (dpg-...-a, no domain)"),
               ("public_host", "bool", "Render's public *.render.com host form"),
               ("resolvable", "bool", "getaddrinfo found an address"),
               ("addresses", "list", "the addresses found"),
               ("on_render", "bool", "this process runs on Render (RENDER is set)")),
        params={"host": "string", "var": "string"}, shorthand="host", aliases=("network_config",), timeout=5.0),
    GathererSpec(
        "health", "GET the app's /health and read what it reports",
        _facts("health", ("reachable", "bool", "the URL answered"), ("status", "number", "HTTP status"),
               ("ok", "bool", "HTTP 2xx and the body's ok is not false"),
               ("state", "string", "status of the body: ok, degraded or down (the runtime kit's /health)"),
               ("reasons", "list", "reasons of the body: why it is degraded or down"),
               ("database_connected", "bool", "database.connected of the body, or checks.database.ok (unknown "
                                               "when the check only found the pool full)"),
               ("database_label", "string", "checks.database.label: the taxonomy label of the failed check"),
               ("database_latency_ms", "number", "checks.database.latency_ms: the SELECT 1 round trip"),
               ("pool_in_use", "number", "checks.database.pool.in_use: connections handed out"),
               ("pool_max", "number", "checks.database.pool.max: the pool's size"),
               ("database_type", "string", "database.type of the body (postgresql or sqlite)"),
               ("fallback_active", "bool", "database.fallback_active of the body"),
               ("openai_available", "bool", "ai.openai_available of the body"),
               ("anthropic_available", "bool", "ai.anthropic_available of the body"),
               ("breakers_open", "list", "names of the breakers that are not closed (breakers of the body)"),
               ("error_rate", "number", "metrics.error_rate: failed requests over the window"),
               ("requests_total", "number", "metrics.requests_total: requests over the window"),
               ("p95_latency_ms", "number", "metrics.p95_latency_ms over the window"),
               ("git_commit", "string", "deployment.git_commit_full (else git_commit) of the body"),
               ("manifest_hash", "string", "deployment.manifest_hash of the body"),
               ("url", "string", "the URL asked")),
        params={"url": "string"}, shorthand="url", timeout=5.0),
    GathererSpec(
        "git", "state of the repository: HEAD, branch, dirty",
        _facts("git", ("available", "bool", "a git repository was found"), ("head", "string", "HEAD's sha"),
               ("branch", "string", "the branch ('' when detached)"),
               ("dirty", "bool", "uncommitted changes to tracked files"),
               ("subject", "string", "HEAD's commit subject")),
        params={"path": "string"}, shorthand="path", timeout=5.0),
    GathererSpec(
        "deploys", "recent deploys: the deploy store `rollback` uses (PostgreSQL when DATABASE_URL is set, "
        "else the file), or git log when it holds no record",
        _facts("deploys", ("count", "number", "deploys found"), ("source", "string", "store or git"),
               ("last_commit", "string", "the newest deploy's commit"),
               ("last_at", "string", "when it was recorded/committed (ISO-8601)"),
               ("previous_commit", "string", "the newest good deploy before it (store only): "
                "where `rollback --previous` would go"),
               ("previous_at", "string", "when that deploy was recorded (ISO-8601)"),
               ("recent", "list", "'sha status recorded_at' (store) or 'sha subject' (git) of the newest few")),
        params={"limit": "int", "path": "string"}, shorthand="limit", timeout=5.0),
    GathererSpec(
        "prompts", "do the prompt files parse: prompts.csv and ps101_steps.json",
        _facts("prompts", ("dir", "string", "the prompts directory"),
               ("csv_valid", "bool", "prompts.csv reads as CSV with a header"),
               ("csv_rows", "number", "data rows of prompts.csv"),
               ("csv_problem", "string", "why prompts.csv does not read"),
               ("steps_valid", "bool", "ps101_steps.json parses as a JSON list"),
               ("steps_count", "number", "steps in ps101_steps.json"),
               ("steps_problem", "string", "why ps101_steps.json does not parse")),
        params={"dir": "string"}, shorthand="dir", timeout=5.0),
)

GATHERER_BY_NAME: dict[str, GathererSpec] = {g.name: g for g in GATHERERS}
GATHERER_ALIASES: dict[str, str] = {alias: g.name for g in GATHERERS for alias in g.aliases}


@lru_cache(maxsize=1024)
def gatherer_of(name: str) -> GathererSpec | None:
    """The gatherer that declares fact `name` (None for a base fact or an unknown name)."""
    for spec in GATHERERS:
        if any(f.matches(name) for f in spec.facts):
            return spec
    return None


def fact(name: str) -> Fact | None:
    """The declaration of `name`, base or gathered; None when outside the vocabulary."""
    for f in BASE_FACTS:
        if f.name == name:
            return f
    spec = gatherer_of(name)
    return next((f for f in spec.facts if f.matches(name)), None) if spec else None


def is_name(name: str) -> bool:
    return fact(name) is not None
