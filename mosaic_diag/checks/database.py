"""Database: DATABASE_URL sanity, then a real psycopg2 connection (read-only, with a timeout)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message
from mosaic_diag.platform.dsn import (
    SSL_ON,
    UNESCAPED_AT,
    dsn_facts,
    needs_ssl_retry,
    retry_with_ssl,
    unescaped_in_userinfo,
    url_shape_problems,
)
from mosaic_diag.platform.redact import redact_dsn, redact_text

IDS = (
    CheckId("MD-DB001", "error", "DATABASE_URL is not set: the app would run on the ephemeral SQLite fallback",
            "set DATABASE_URL to the Render PostgreSQL internal URL (Dashboard > PostgreSQL > Connections)"),
    CheckId("MD-DB002", "error", "DATABASE_URL is malformed (scheme, port, syntax)",
            "use postgresql://USER:PASSWORD@HOST:5432/DBNAME?sslmode=require"),
    CheckId("MD-DB003", "warning", "DATABASE_URL does not ask for SSL for a remote host",
            "add ?sslmode=require (Render's external connections require SSL)"),
    CheckId("MD-DB004", "info", "DATABASE_URL uses Render's public host",
            "inside Render, use the internal URL (dpg-xxx-a): private network, no egress; the external URL "
            "is for connecting from outside, with sslmode=require"),
    CheckId("MD-DB005", "warning", "DATABASE_URL uses Render's internal host, which resolves only inside Render",
            "to check from outside Render, run predeploy with the external URL; keep the internal one in the service"),
    CheckId("MD-DB010", "error", "Cannot connect to PostgreSQL", "see the label's playbook"),
)
SCHEMES = {"postgres", "postgresql"}
SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def connect(dsn: str, timeout: float) -> Any:
    """A psycopg2 connection with connect_timeout (libpq's minimum is 2 s), read-only session. The connect
    timeout is half the check's: a server that takes the connection and never answers (a firewall's black hole,
    another service on the port) is a classified `timeout expired` within the check's time, not MD-TIMEOUT.
    Its search_path is pg_catalog alone: the database's or the role's own (`public, pg_catalog`) let a view
    `public.pg_index` or a function or operator of anyone's stand for the catalog's in the checks' queries."""
    import psycopg2

    conn = psycopg2.connect(dsn, connect_timeout=max(2, int(timeout / 2)), application_name="mosaic-diag predeploy")
    try:
        conn.set_session(readonly=True, autocommit=True)
        with conn.cursor() as cursor:
            cursor.execute("SET search_path = pg_catalog")
    except BaseException:
        conn.close()
        raise
    return conn


def db_facts(dsn: str, more: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The playbooks' facts about DATABASE_URL (`env.DATABASE_URL.set`, `database_url.*`, parsed by the
    playbook core's own offline `database_url` gatherer: no connection), plus `more` (`postgres.*`)."""
    from mosaic_diag.playbooks.gatherers import GatherContext, gather_database_url
    from mosaic_diag.playbooks.settings import PlaybookSettings

    ctx = GatherContext(PlaybookSettings(env={"DATABASE_URL": dsn}))
    return {"env.DATABASE_URL.set": bool(dsn.strip()), **gather_database_url({}, ctx),
            **(more or {})}


def sanity(dsn: str) -> Iterator[Message]:
    """The DSN findings that need no connection; MD-DB002 means: do not try to connect."""
    import psycopg2
    import psycopg2.extensions

    facts = dsn_facts(dsn)
    shown = redact_dsn(dsn)
    known = db_facts(dsn)
    if facts.scheme is not None and facts.scheme not in SCHEMES:
        yield Message("MD-DB002", f"DATABASE_URL scheme is {facts.scheme!r}, not postgresql:// ({shown})",
                      label="PG_URL_MALFORMED", facts=known)
        return
    if facts.url_error:
        yield Message("MD-DB002", f"DATABASE_URL does not parse: {facts.url_error} ({shown})",
                      label="PG_URL_MALFORMED", facts=known)
        return
    if facts.unescaped_at:
        yield Message("MD-DB002", f"DATABASE_URL has {UNESCAPED_AT} ({shown})", label="PG_URL_MALFORMED",
                      facts=known)
        return
    bad = unescaped_in_userinfo(dsn)
    if bad:  # the URL does not split: mask everything between the user name and the last @ ourselves
        code = "%2F"
        scheme, rest = dsn.split("://", 1)
        userinfo, host = rest.rsplit("@", 1)
        masked = f"{scheme}://{userinfo.split(':', 1)[0].split('/', 1)[0]}:***@{host}"
        yield Message("MD-DB002", f"DATABASE_URL has an unescaped {bad!r} before the host (in the password?): "
                                  f"the URL splits there; percent-encode it as {code} ({masked})",
                      label="PG_URL_MALFORMED", facts={**known, "database_url.redacted": masked,
                                                       "database_url.problem": f"percent-encode {bad!r} as {code}"})
        return
    if facts.port_error:
        yield Message("MD-DB002", f"DATABASE_URL port is not a number 1-65535 ({shown})", label="PG_URL_MALFORMED",
                      facts=known)
        return
    try:
        psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError as exc:
        yield Message("MD-DB002", f"DATABASE_URL does not parse: {str(exc).strip()} ({shown})", exc=exc,
                      label="PG_URL_MALFORMED", facts=known)
        return
    shape = url_shape_problems(dsn)
    if shape:
        kinds = sorted({kind for kind, _ in shape})
        yield Message("MD-DB002", f"DATABASE_URL is malformed: {'; '.join(text for _, text in shape)} ({shown})",
                      label="PG_URL_MALFORMED",
                      hint="remove the whitespace (a line break or space pasted in) or percent-encode it (%20)"
                      if "space" in kinds else "add the database name after the host and port: ...:5432/DBNAME",
                      facts={**known, "database_url.problem": "; ".join(t for _, t in shape)})
        return
    if facts.sslmode is not None and facts.sslmode not in SSLMODES:
        yield Message("MD-DB002", f"DATABASE_URL has an invalid sslmode value {facts.sslmode!r} ({shown})",
                      label="PG_URL_MALFORMED", facts=known)
        return
    if facts.render_public and facts.sslmode not in SSL_ON:
        yield Message("MD-DB003", f"Render's public host needs sslmode=require, {_sslmode_now(facts.sslmode)} "
                                  f"({shown})", level="error", label="PG_SSL_REQUIRED",
                      facts=known)
    elif not facts.local and not facts.render_internal and facts.sslmode not in SSL_ON:
        yield Message("MD-DB003", f"remote host {facts.host} without sslmode=require ({_sslmode_now(facts.sslmode)})",
                      label="PG_SSL_REQUIRED", facts=known)
    if facts.render_public:
        yield Message("MD-DB004", f"public Render host {facts.host}")
    if facts.render_internal:
        yield Message("MD-DB005", f"internal Render host {facts.host}")


SSL_CONNECTS = "connects with sslmode=require"


def _sslmode_now(sslmode: str | None) -> str:
    return f"got sslmode={sslmode}" if sslmode else "no sslmode set (libpq's default: prefer)"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def confirm_ssl_label(dsn: str, label: str | None, error: str, timeout: float) -> tuple[str | None, str | None]:
    """A `no encryption` pg_hba rejection reads the same whether SSL would help or not: try once more
    with sslmode=require. Rejected again (or no SSL at the server): PG_ACCESS_DENIED. Returns the label
    and a note on what the second attempt showed (None when no second attempt was made)."""
    if label != "PG_SSL_REQUIRED" or not needs_ssl_retry(dsn, error):
        return label, None
    again = retry_with_ssl(dsn, timeout)
    if again is None:
        return label, SSL_CONNECTS
    if "pg_hba.conf" in again or "does not support SSL" in again:
        return "PG_ACCESS_DENIED", "refused with sslmode=require too: not an encryption problem"
    return label, f"with sslmode=require: {again}"


def run(ctx: CheckContext) -> Iterator[Message]:
    dsn = ctx.env.get("DATABASE_URL", "").strip()
    if not dsn:
        yield Message("MD-DB001", "DATABASE_URL is not set: the app would fall back to SQLite (data not persisted)",
                      label="SQLITE_FALLBACK_ACTIVE", facts=db_facts(""))
        return
    found = list(sanity(dsn))
    yield from found
    if any(m.id == "MD-DB002" for m in found):
        return
    import psycopg2

    try:
        conn = connect(dsn, ctx.timeout)
    except psycopg2.Error as exc:
        first = _first_line(exc)
        facts = dsn_facts(dsn)
        hint = None
        if facts.render_internal:
            hint = "the internal Render host resolves only inside Render: check with the external URL from here"
        from mosaic_diag.checks.advice import classify

        label, note = confirm_ssl_label(dsn, classify(exc), str(exc), ctx.timeout)
        more = {"postgres.ssl_connects": note == SSL_CONNECTS}
        if note:
            first = f"{first} ({redact_text(note)})"
        yield Message("MD-DB010", f"cannot connect to {redact_dsn(dsn)}: {first}", exc=exc, hint=hint, label=label,
                      facts=db_facts(dsn, {**more, "postgres.reachable": False, "postgres.label": label or "",
                                           "postgres.error": redact_text(first)}))
        return
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        conn.close()


CHECK = Check("database", ("database", "db"), IDS, run, "DATABASE_URL is sane and PostgreSQL accepts a connection.")
