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
    """What a DSN says, split the way libpq splits it (psycopg2's `parse_dsn`); a URL parser only for
    what libpq refuses (another scheme, a syntax error), so the facts match what a connection would use."""

    scheme: str | None
    host: str
    port: int | None
    dbname: str
    sslmode: str | None
    port_error: str | None = None
    unescaped_at: bool = False  # libpq split at the first `@`: the rest of the password became the host
    url_error: str | None = None  # not even a URL parser can read it

    @property
    def render_internal(self) -> bool:
        return bool(RENDER_INTERNAL.match(self.host))

    @property
    def render_public(self) -> bool:
        return bool(RENDER_PUBLIC.match(self.host))

    @property
    def local(self) -> bool:
        return self.host in LOOPBACK or self.host.startswith("/")


def _port(raw: str | None) -> tuple[int | None, str | None]:
    """(port, error) of libpq's port value (the first of a comma list)."""
    if raw is None or raw == "":
        return None, None
    first = raw.split(",")[0].strip()
    if first.isdigit() and 0 < int(first) < 65536:
        return int(first), None
    return None, f"invalid port {first!r}"


def libpq_split(dsn: str) -> dict[str, str] | None:
    """libpq's own reading of `dsn` (URL or keyword form), or None when libpq refuses it."""
    try:
        from psycopg2.extensions import parse_dsn
    except ImportError:  # pragma: no cover - psycopg2 is a dependency
        return None
    try:
        return dict(parse_dsn(dsn))
    # psycopg2.ProgrammingError: libpq's verdict, reported by the checks
    except Exception:  # noqa: BLE001  # mosaic-diag: ignore[MD006]
        return None


def dsn_facts(dsn: str) -> DsnFacts:
    """Facts of a URL DSN (`postgresql://...`) or a keyword DSN (`host=... dbname=...`)."""
    scheme = dsn.split("://", 1)[0].lower() if "://" in dsn else None
    split = libpq_split(dsn) if scheme in (None, "postgres", "postgresql") else None
    if split is not None:
        host = split.get("host", "").split(",")[0]
        port, port_error = _port(split.get("port"))
        # an '@' in libpq's host is the tail of the password: never shown, the meant host is after the last '@'
        return DsnFacts(scheme, host.rpartition("@")[2], port, split.get("dbname", ""), split.get("sslmode"),
                        port_error, unescaped_at="@" in host)
    if scheme is not None:
        try:
            parts = urlsplit(dsn)
        except ValueError as exc:  # "Invalid IPv6 URL": an unbalanced '[' in the host
            return DsnFacts(scheme, "", None, "", None, url_error=str(exc))
        port, port_error = None, None
        try:
            port = parts.port
        except ValueError as exc:
            port_error = str(exc)
        if port == 0:
            port, port_error = None, "invalid port '0'"
        query = parse_qs(parts.query)
        sslmode = query.get("sslmode", [None])[-1]
        host = parts.hostname or query.get("host", [""])[-1]
        at = parts.netloc.count("@") > 1
        return DsnFacts(scheme, host, port, parts.path.lstrip("/"), sslmode, port_error, unescaped_at=at)
    pairs = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn))
    port, port_error = _port(pairs.get("port"))
    return DsnFacts(None, pairs.get("host", ""), port, pairs.get("dbname", ""), pairs.get("sslmode"), port_error)


UNESCAPED_AT = ("an unescaped '@' in its password (or user name): libpq ends the password at the first '@'; "
                "percent-encode it as %40")


def url_shape_problems(dsn: str) -> tuple[tuple[str, str], ...]:
    """What libpq accepts in a URL DSN but is almost surely a mistake, as (kind, text) pairs that
    name the part, never its value: whitespace in a part (`space`), no database name (`no_database`)."""
    if "://" not in dsn or unescaped_in_userinfo(dsn):
        return ()
    try:
        parts = urlsplit(dsn)
        _ = parts.port
    except ValueError:  # does not split into its parts (a bad port, a stray '['): the shape says nothing
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
    """The first `/` between `://` and the last `@` of a URL DSN: libpq ends the user and password part
    there, so the host, port and database become nonsense; a password holding one must be
    percent-encoded. (`?` and `#` in a password are read as part of it by libpq, as psycopg2's
    `parse_dsn` shows: not a problem for the app, though other URL parsers would split there.)"""
    if "://" not in dsn:
        return None
    rest = dsn.split("://", 1)[1]
    if "@" not in rest:
        return None
    userinfo = rest.rsplit("@", 1)[0]
    return "/" if "/" in userinfo else None
