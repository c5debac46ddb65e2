"""Shapes of round 35 (tests/realworld/README.md, "Held-out round 35"): PostgreSQL behind hosted databases' proxies.

Neon's proxy refuses a plain connection in its own words (`connection is insecure (try using `sslmode=require`)`) and
an encrypted one without SNI for its routing (`Endpoint ID is not specified`); AWS RDS before PostgreSQL 12 refuses an
IAM token at its PAM check on the SSL attempt and the plain attempt with `pg_hba.conf rejects connection … SSL off`;
a server that answers libpq's SSLRequest with no makes `sslmode=require` fail with `server does not support SSL, but SSL
was required`.

No hosted server is reachable from the test run, so a loopback server (`Refuser`) speaks just enough of PostgreSQL's
protocol to answer as those servers do: the SSLRequest with yes (TLS with the suite's server certificate) or no, then
an ErrorResponse for the startup message. The messages are libpq's own, built by psycopg2 from those answers (its
connection prefix, both attempts of `sslmode=prefer` in one message).
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator

import psycopg2
import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_logs_support import labels_after_error_record

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
Refusal = tuple[str, str, str]  # severity, SQLSTATE, message


def _clf() -> Classifier:
    return Classifier.default()


def _exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the client hung up")
        data += chunk
    return data


class Refuser:
    """A loopback server that answers libpq's SSLRequest with `ssl_answer` (b"S": TLS with `tls`) and every startup
    message with the ErrorResponse `refuse(encrypted)` gives, then hangs up."""

    def __init__(self, ssl_answer: bytes, refuse: Callable[[bool], Refusal], tls: ssl.SSLContext | None = None) -> None:
        self.ssl_answer, self.refuse, self.tls = ssl_answer, refuse, tls
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True, name="refuser").start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        encrypted = False
        try:
            while True:
                (length,) = struct.unpack("!i", _exact(conn, 4))
                body = _exact(conn, length - 4)
                (code,) = struct.unpack("!i", body[:4])
                if code == GSSENC_REQUEST:
                    conn.sendall(b"N")
                elif code == SSL_REQUEST:
                    conn.sendall(self.ssl_answer)
                    if self.ssl_answer == b"S" and self.tls is not None:
                        conn = self.tls.wrap_socket(conn, server_side=True)
                        encrypted = True
                else:
                    break  # the startup message
            severity, sqlstate, message = self.refuse(encrypted)
            fields = b"".join(key + value.encode() + b"\0" for key, value in (
                (b"S", severity), (b"V", severity), (b"C", sqlstate), (b"M", message))) + b"\0"
            conn.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
        except (OSError, ConnectionError):
            pass
        finally:
            conn.close()

    def dsn(self, sslmode: str) -> str:
        return (f"host=127.0.0.1 port={self.port} user=app password=token dbname=app sslmode={sslmode} "
                "gssencmode=disable connect_timeout=10")

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def tls(pg) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pg.ca_file, pg.ca_file.with_name("server.key"))
    return ctx


@pytest.fixture
def refuser() -> Iterator[Callable[..., Refuser]]:
    made: list[Refuser] = []

    def make(ssl_answer: bytes, refuse: Callable[[bool], Refusal], tls: ssl.SSLContext | None = None) -> Refuser:
        made.append(Refuser(ssl_answer, refuse, tls))
        return made[-1]

    yield make
    for server in made:
        server.close()


def _libpq_error(dsn: str) -> str:
    with pytest.raises(psycopg2.OperationalError) as info:
        psycopg2.connect(dsn)
    return str(info.value)


SSL_OFF = 'pg_hba.conf rejects connection for host "127.0.0.1", user "app", database "app", SSL off'
INSECURE = "connection is insecure (try using `sslmode=require`)"
NO_SNI = ("Endpoint ID is not specified. Either please upgrade the postgres client library (libpq) for SNI support or "
          "pass the endpoint ID (first part of the domain name) as a parameter: '?options=endpoint%3D<endpoint-id>'. "
          "See more at https://neon.tech/sni")


# -- Neon's proxy: a plain connection refused in its own words ---------------------------------------------------------


def test_a_proxy_that_refuses_a_plain_connection_as_insecure_is_ssl_required(refuser) -> None:
    server = refuser(b"N", lambda encrypted: ("ERROR", "08P01", INSECURE))
    text = _libpq_error(server.dsn("disable"))
    assert f"failed: ERROR:  {INSECURE}" in text  # (libpq's prefix, the proxy's words)
    assert _clf().classify_text(text).label == "PG_SSL_REQUIRED"
    assert _clf().classify_text(f"psycopg2.OperationalError: {text}").label == "PG_SSL_REQUIRED"
    assert labels_after_error_record(text) == ["PG_SSL_REQUIRED"]
    # the proxy's sentence as Go's lib/pq and a user's paste give it, without libpq's prefix
    assert _clf().classify_text(corpus_text("r35-pg-ssl-neon-go-pq-insecure")).label == "PG_SSL_REQUIRED"
    assert labels_after_error_record(corpus_text("r35-pg-ssl-neon-go-pq-insecure")) == ["PG_SSL_REQUIRED"]


def test_the_encrypted_attempt_refused_for_its_routing_beside_the_plain_one_is_the_routing(refuser, tls) -> None:
    # sslmode=prefer: the SSL attempt (a client without SNI) refused for the endpoint, the plain one as insecure
    server = refuser(b"S", lambda encrypted: ("ERROR", "08P01", NO_SNI if encrypted else INSECURE), tls)
    text = _libpq_error(server.dsn("prefer"))
    assert "Endpoint ID is not specified" in text and INSECURE in text  # (both attempts reported)
    assert _clf().classify_text(text).label == "PG_CONNECTION_FAILED"
    assert labels_after_error_record(text) == ["PG_CONNECTION_FAILED"]
    assert _clf().classify_text(corpus_text("r35-pg-neon-psql-endpoint-id-then-insecure")).label == \
        "PG_CONNECTION_FAILED"


# -- AWS RDS's IAM token refused at its PAM check, the plain attempt for `SSL off` -------------------------------------


def test_a_pam_failure_beside_an_ssl_off_rejection_is_the_credentials(refuser, tls) -> None:
    def refuse(encrypted: bool) -> Refusal:
        if encrypted:
            return "FATAL", "28P01", 'PAM authentication failed for user "app"'
        return "FATAL", "28000", SSL_OFF

    server = refuser(b"S", refuse, tls)
    text = _libpq_error(server.dsn("prefer"))
    assert "PAM authentication failed" in text and "SSL off" in text  # (both attempts reported)
    assert _clf().classify_text(text).label == "PG_AUTH_FAILED"
    assert _clf().classify_text(f"psycopg2.OperationalError: {text}").label == "PG_AUTH_FAILED"
    assert labels_after_error_record(text) == ["PG_AUTH_FAILED"]
    for entry in ("r35-pg-auth-rds-iam-psql-pam-then-ssl-off", "r35-pg-auth-rds-iam-rpostgres-pam-then-ssl-off"):
        assert _clf().classify_text(corpus_text(entry)).label == "PG_AUTH_FAILED"


def test_an_ssl_off_rejection_alone_stays_ssl_required(refuser) -> None:
    server = refuser(b"N", lambda encrypted: ("FATAL", "28000", SSL_OFF))
    text = _libpq_error(server.dsn("disable"))
    assert "authentication failed" not in text
    assert _clf().classify_text(text).label == "PG_SSL_REQUIRED"


# -- sslmode=require to a server without SSL ---------------------------------------------------------------------------


def test_a_server_without_ssl_under_sslmode_require_is_a_connection_failure(refuser) -> None:
    server = refuser(b"N", lambda encrypted: ("FATAL", "28000", "never sent"))
    text = _libpq_error(server.dsn("require"))
    assert "server does not support SSL, but SSL was required" in text
    assert _clf().classify_text(text).label == "PG_CONNECTION_FAILED"
    assert labels_after_error_record(text) == ["PG_CONNECTION_FAILED"]
    assert _clf().classify_text(corpus_text("r35-pg-conn-neon-psql-server-does-not-support-ssl")).label == \
        "PG_CONNECTION_FAILED"
