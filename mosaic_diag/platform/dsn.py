"""DATABASE_URL sanity without connecting: scheme, port, sslmode, Render internal vs public host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

RENDER_INTERNAL = re.compile(r"^dpg-[a-z0-9]+-a$")
RENDER_PUBLIC = re.compile(r"^dpg-[a-z0-9]+-a\.[a-z0-9-]+-postgres\.render\.com$")
LOOPBACK = {"localhost", "127.0.0.1", "::1", ""}
SSL_ON = {"require", "verify-ca", "verify-full"}


@dataclass(frozen=True)
class DsnFacts:
    """What a DSN says, as far as a URL parser can tell (keyword DSNs: only what libpq parsed)."""

    scheme: str | None
    host: str
    port: int | None
    dbname: str
    sslmode: str | None
    port_error: str | None = None

    @property
    def render_internal(self) -> bool:
        return bool(RENDER_INTERNAL.match(self.host))

    @property
    def render_public(self) -> bool:
        return bool(RENDER_PUBLIC.match(self.host))

    @property
    def local(self) -> bool:
        return self.host in LOOPBACK or self.host.startswith("/")


def dsn_facts(dsn: str) -> DsnFacts:
    """Facts of a URL DSN (`postgresql://...`) or a keyword DSN (`host=... dbname=...`)."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        port, port_error = None, None
        try:
            port = parts.port
        except ValueError as exc:
            port_error = str(exc)
        query = parse_qs(parts.query)
        sslmode = query.get("sslmode", [None])[-1]
        host = parts.hostname or query.get("host", [""])[-1]
        return DsnFacts(parts.scheme.lower(), host, port, parts.path.lstrip("/"), sslmode, port_error)
    pairs = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn))
    raw_port = pairs.get("port")
    port = int(raw_port) if raw_port and raw_port.isdigit() else None
    return DsnFacts(None, pairs.get("host", ""), port, pairs.get("dbname", ""), pairs.get("sslmode"),
                    None if raw_port is None or port is not None else f"invalid port {raw_port!r}")


def url_shape_problems(dsn: str) -> tuple[tuple[str, str], ...]:
    """What libpq accepts in a URL DSN but is almost surely a mistake, as (kind, text) pairs that
    name the part, never its value: whitespace in a part (`space`), no database name (`no_database`)."""
    if "://" not in dsn or unescaped_in_userinfo(dsn):
        return ()
    parts = urlsplit(dsn)
    try:
        _ = parts.port
    except ValueError:  # does not split into its parts: the shape says nothing
        return ()
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    pieces = (("user name", user), ("password", password), ("host", hostport),
              ("database name", parts.path.lstrip("/")), ("query", parts.query), ("scheme", parts.scheme))
    out = [("space", f"whitespace in the {name}") for name, value in pieces if re.search(r"\s", value)]
    if not parts.path.lstrip("/").strip():
        out.append(("no_database", "no database name after the host"))
    return tuple(out)


def retry_with_ssl(dsn: str, timeout: float) -> str | None:
    """After a `no encryption` pg_hba rejection: try once with sslmode=require. None when it connects,
    else the first line of libpq's error (a `no encryption` rejection reads the same whether SSL
    would help or not)."""
    import psycopg2

    try:
        psycopg2.connect(dsn, sslmode="require", connect_timeout=max(2, int(timeout)),
                         application_name="mosaic-diag ssl probe").close()
    except psycopg2.Error as exc:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return None


def needs_ssl_retry(dsn: str, error: str) -> bool:
    """A pg_hba rejection of a connection without encryption, from a DSN that did not ask for SSL."""
    return "pg_hba.conf" in error and "no encryption" in error and (dsn_facts(dsn).sslmode or "") not in SSL_ON


def unescaped_in_userinfo(dsn: str) -> str | None:
    """The first `/`, `?` or `#` between `://` and the last `@` of a URL DSN: a password holding one
    must be percent-encoded, or the URL splits there (the host, port and database become nonsense)."""
    if "://" not in dsn:
        return None
    rest = dsn.split("://", 1)[1]
    if "@" not in rest:
        return None
    userinfo = rest.rsplit("@", 1)[0]
    return next((c for c in userinfo if c in "/?#"), None)
