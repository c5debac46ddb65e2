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
