"""libpq's client-side TLS set-up failing (sslmode verify-ca / verify-full, sslrootcert, sslcert, sslkey).

The texts are libpq's own, raised by psycopg2 and psycopg 3 against the test server's SSL-only database
(`examples/pgtemp.SSL_DB`). taxonomy.md's reading: libpq reads these files only after the server answered its
SSLRequest (a refused port says `Connection refused` first, checked below), so "a server or port was reached but no
usable connection resulted": PG_CONNECTION_FAILED. Not PG_SSL_REQUIRED (the server demanding encryption the client
did not use: here the client asked for more), not PG_URL_MALFORMED (the conninfo parsed), and an HTTP client's
certificate failure is no PostgreSQL evidence (rule 6). A conninfo whose sslmode cannot go with `sslrootcert=system`
is refused before any connection, as an invalid sslmode value: PG_URL_MALFORMED.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from examples.pgtemp import SSL_DB, TempPostgres
from mosaic_diag.classifier.classify import Classifier
from tests.test_classify_evidence import raised


def _label(text: str, **kw: Any) -> str:
    return Classifier.default().classify_text(text, **kw).label


def _other_ca(directory: Path) -> Path:
    """A self-signed certificate that did not sign the server's (a wrong `sslrootcert`)."""
    crt = directory / "other-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(directory / "other-ca.key"), "-out", str(crt), "-days", "2", "-subj", "/CN=other"],
                   capture_output=True, check=True, timeout=60)
    return crt


def _cases(pg: TempPostgres, tmp: Path) -> dict[str, tuple[dict[str, str], str]]:
    """name -> (connection options, a phrase the real message must hold)."""
    missing = tmp / "missing"
    garbage = tmp / "garbage.crt"
    garbage.write_text("not a certificate\n")
    open_key = tmp / "open.key"
    open_key.write_text("not a key\n")
    open_key.chmod(0o644)
    bad_key = tmp / "bad.key"
    bad_key.write_text("not a key\n")
    bad_key.chmod(0o600)
    crt = str(pg.ca_file)
    return {
        "default root.crt missing": ({"sslmode": "verify-full"}, "root certificate file"),
        "sslrootcert missing": ({"sslmode": "verify-ca", "sslrootcert": str(missing / "root.crt")}, "does not exist"),
        "sslrootcert not a certificate": ({"sslmode": "verify-ca", "sslrootcert": str(garbage)},
                                          "could not read root certificate file"),
        "sslrootcert a folder": ({"sslmode": "verify-ca", "sslrootcert": str(tmp)},
                                 "could not read root certificate file"),
        "sslrootcert another CA": ({"sslmode": "verify-ca", "sslrootcert": str(_other_ca(tmp))},
                                   "SSL error: certificate verify failed"),
        "host name mismatch": ({"sslmode": "verify-full", "sslrootcert": crt, "host": "db.internal",
                                "hostaddr": "127.0.0.1"}, 'does not match host name "db.internal"'),
        "sslcert not a certificate": ({"sslmode": "require", "sslcert": str(garbage), "sslkey": str(bad_key)},
                                      "could not read certificate file"),
        "sslkey missing": ({"sslmode": "require", "sslcert": crt, "sslkey": str(missing / "client.key")},
                           "certificate present, but not private key file"),
        "sslkey readable by others": ({"sslmode": "require", "sslcert": crt, "sslkey": str(open_key)},
                                      "has group or world access"),
        "sslkey not a key": ({"sslmode": "require", "sslcert": crt, "sslkey": str(bad_key)},
                             "could not load private key file"),
        "sslkey a folder": ({"sslmode": "require", "sslcert": crt, "sslkey": str(tmp)}, "is not a regular file"),
    }


@pytest.fixture(scope="module")
def ssl_errors(pg: TempPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BaseException]]:
    """psycopg2's error for each case (HOME is an empty folder: libpq's default ~/.postgresql files are absent)."""
    import psycopg2

    tmp = tmp_path_factory.mktemp("ssl-client")
    home = tmp / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        for var in ("PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGSSLCRL"):
            mp.delenv(var, raising=False)
        out: dict[str, BaseException] = {}
        for name, (options, phrase) in _cases(pg, tmp).items():
            exc = raised(lambda options=options: psycopg2.connect(pg.dsn(SSL_DB, sslmode=None), connect_timeout=10,
                                                                   **options))
            assert isinstance(exc, psycopg2.OperationalError) and phrase in str(exc), (name, str(exc))
            out[name] = exc
    yield out  # (HOME and the PGSSL* variables back as they were: the module's other tests run with the user's)


def test_libpq_client_tls_setup_failures_are_connection_failures(ssl_errors: dict[str, BaseException]) -> None:
    c = Classifier.default()
    for name, exc in ssl_errors.items():
        text = "".join(traceback.format_exception(exc))
        got = {c.classify_exception(exc).label, c.classify_text(text).label,
               # logged as `str(e)` by the app (rule 4), and behind SQLAlchemy's wrapper (rule 7)
               c.classify_text(f"Database init failed: {exc}", logger="api.storage", level="ERROR").label,
               c.classify_text(f"sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) {exc}").label}
        assert got == {"PG_CONNECTION_FAILED"}, (name, str(exc), got)


def test_the_certificate_is_read_only_after_a_server_answered(pg: TempPostgres, refused_port: int,
                                                               tmp_path: Path) -> None:
    """The reading above: with nothing listening the same conninfo fails on the socket, before any certificate."""
    import psycopg2

    exc = raised(lambda: psycopg2.connect(pg.dsn(SSL_DB, sslmode=None, port=refused_port), connect_timeout=10,
                                           sslmode="verify-full", sslrootcert=str(tmp_path / "root.crt")))
    assert "Connection refused" in str(exc) and "certificate" not in str(exc)
    assert _label(str(exc)) == "PG_CONNECTION_FAILED"


def test_a_weak_sslmode_with_the_system_roots_is_a_malformed_url(pg: TempPostgres) -> None:
    import psycopg2

    exc = raised(lambda: psycopg2.connect(pg.dsn(SSL_DB, sslmode="require"), connect_timeout=10,
                                           sslrootcert="system"))
    if "system" not in str(exc):  # libpq < 16 knows no `system`: it looks for a file of that name
        pytest.skip(f"libpq {psycopg2.__libpq_version__} predates sslrootcert=system")
    assert "may not be used with sslrootcert=system" in str(exc)
    assert _label("".join(traceback.format_exception(exc))) == "PG_URL_MALFORMED"


def test_psycopg3_says_the_same(pg: TempPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    psycopg = pytest.importorskip("psycopg")
    monkeypatch.setenv("HOME", str(tmp_path))
    exc = raised(lambda: psycopg.connect(pg.dsn(SSL_DB, sslmode="verify-full"), connect_timeout=10))
    assert "root certificate file" in str(exc)
    assert _label("".join(traceback.format_exception(exc))) == "PG_CONNECTION_FAILED"


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_an_http_clients_certificate_failure_is_not_postgres(pg: TempPostgres, tmp_path: Path) -> None:
    """requests against a loopback HTTPS server whose certificate no trusted root signed, and with a CA bundle
    path that does not exist: the same words (`certificate verify failed`, a missing root file), no libpq."""
    requests = pytest.importorskip("requests")
    assert pg.dir is not None
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pg.ca_file, pg.dir / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}/jobs"
    try:
        verify = raised(lambda: requests.get(url, timeout=10))
        bundle = raised(lambda: requests.get(url, timeout=10, verify=str(tmp_path / "root.crt")))
    finally:
        server.shutdown()
        server.server_close()
    assert "certificate verify failed" in str(verify)
    assert "invalid path" in str(bundle)
    for exc in (verify, bundle):
        text = "".join(traceback.format_exception(exc))
        assert _label(text) == "UNKNOWN_ERROR", text
        assert _label(f"Health check failed: {exc}", logger="api.health", level="ERROR") == "UNKNOWN_ERROR"
