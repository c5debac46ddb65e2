"""Secrets in what HTTP clients and servers print (attack round 18): httpcore's debug log of a response's headers (bytes
tuples), an app's log of httpx's raw request headers, curl's verbose exchange, http.client's debug output, requests'
and httpx's header and cookie-jar reprs, a Digest exchange, a server's access log of a percent-encoded query. Each text
is what the real library prints, against a loopback server; each secret in it is masked and the rest stays."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pytest

from examples.loopback import QuietServer
from mosaic_diag.platform.redact import redact_text

SESSION = "Sess" + "a1b2c3d4e5f6" * 2  # the server's session cookie
CSRF = "Csrf" + "f6e5d4c3b2a1" * 2
ECHOED = "Echo" + "0a9b8c7d6e5f" * 2  # a key the server echoes in a response header
BEARER = "Bear" + "5f6e7d8c9b0a" * 2
API_KEY = "Akey" + "9b0a5f6e7d8c" * 2
PASSWORD = "Pw" + "7d8c9b0a5f6e" * 2
SECRETS = (SESSION, CSRF, ECHOED, BEARER, API_KEY, PASSWORD)


class Answering(BaseHTTPRequestHandler):
    """A login answer (a session cookie, a key echoed in a header); /digest asks for Digest authentication first.
    Its access log (http.server's own lines) and the headers it got are kept on the server."""

    timeout = 30  # (a client that keeps its connection open cannot hold the server's stop for ever)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        self.server.access.append(format % args)  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self.server.seen.append(dict(self.headers))  # type: ignore[attr-defined]
        if self.path.startswith("/digest") and "Authorization" not in self.headers:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Digest realm="app", nonce="6fa9c1e4b2d3", qop="auth", '
                                                 'algorithm=MD5, opaque="5ccc069c403ebaf9"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/expired"):  # RFC 6750's challenge to a token it no longer takes
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="api", error="invalid_token", '
                                                 'error_description="The access token expired"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Set-Cookie", f"sessionid={SESSION}; Path=/; HttpOnly; SameSite=Lax")
        self.send_header("Set-Cookie", f"csrftoken={CSRF}; Path=/; Max-Age=31449600")
        self.send_header("x-api-key", ECHOED)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def server():
    srv = QuietServer.start_on_loopback(Answering)
    srv.access, srv.seen = [], []  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def _masked_all(raw: str, redacted: str) -> None:
    """`raw` showed secrets; `redacted` shows none, and JSON-encoded it stays JSON with none."""
    assert any(s in raw for s in SECRETS), raw
    assert not [s for s in SECRETS if s in redacted], redacted
    encoded = redact_text(json.dumps({"log": raw}))
    assert not [s for s in SECRETS if s in encoded] and json.loads(encoded)["log"]


def test_httpx_and_httpcore_debug_logs_of_headers_are_masked(server) -> None:
    """httpcore logs a response's headers at DEBUG as bytes tuples (`(b'Set-Cookie', b'sessionid=…')`, a key the
    server echoes); an app logging httpx's raw request headers (an event hook) prints them the same way
    (`(b'Authorization', b'Bearer …')`, `(b'x-api-key', b'…')`): the cookies' values and the keys were shown."""
    import httpx

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    loggers = [logging.getLogger(name) for name in ("httpcore", "httpx", "app.http")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    app_log = logging.getLogger("app.http")
    try:
        hooks = {"request": [lambda request: app_log.debug("request headers: %s", request.headers.raw)]}
        with httpx.Client(event_hooks=hooks, cookies={"sessionid": SESSION}) as client:
            answer = client.get(f"{server.url}/login", headers={"Authorization": f"Bearer {BEARER}",
                                                                "x-api-key": API_KEY})
        assert answer.status_code == 200
    finally:
        for lg, level in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)
    raw = buf.getvalue()
    assert f"(b'Set-Cookie', b'sessionid={SESSION}; Path=/" in raw and f"(b'x-api-key', b'{ECHOED}')" in raw, raw
    assert f"(b'Authorization', b'Bearer {BEARER}')" in raw and f"(b'x-api-key', b'{API_KEY}')" in raw, raw
    out = redact_text(raw)
    _masked_all(raw, out)
    assert "(b'Set-Cookie', b'sessionid=***; Path=/; HttpOnly; SameSite=Lax')" in out, out
    assert "(b'Set-Cookie', b'csrftoken=***; Path=/; Max-Age=31449600')" in out, out
    assert "(b'x-api-key', b'***')" in out and "(b'Authorization', b'***')" in out, out
    assert "(b'Content-Length', b'2')" in out and "(b'Host', b'127.0.0.1:" in out, out  # (the rest is kept)
    # (each line alone, as a log reader's lines are redacted)
    assert not [s for line in raw.splitlines() for s in SECRETS if s in redact_text(line)]


def test_curls_verbose_exchange_is_masked(server) -> None:
    """`curl -v` prints the request's `> Authorization: Basic …`, `> Cookie: …` and a proxy's credentials it was given,
    and the answer's `< Set-Cookie: …`."""
    from requests.auth import _basic_auth_str

    done = subprocess.run(["curl", "-sv", "-o", "/dev/null", "-u", f"app:{PASSWORD}", "--cookie",
                           f"sessionid={SESSION}; csrftoken={CSRF}", "-H",
                           f"Proxy-Authorization: {_basic_auth_str('proxy', API_KEY)}", f"{server.url}/login"],
                          capture_output=True, text=True, timeout=60)
    raw = done.stderr
    assert done.returncode == 0 and "> Cookie: sessionid=" in raw and "< Set-Cookie: sessionid=" in raw, raw
    out = redact_text(raw)
    assert "> Authorization: Basic ***" in out and "> Proxy-Authorization: Basic ***" in out, out
    assert "> Cookie: sessionid=***; csrftoken=***" in out and "< Set-Cookie: sessionid=***; Path=/" in out, out
    assert "< x-api-key: ***" in out, out
    seen = server.seen[-1]
    import base64

    for header in ("Authorization", "Proxy-Authorization"):
        assert base64.b64decode(seen[header].split()[1]).decode().split(":")[1] in (PASSWORD, API_KEY)
        assert seen[header].split()[1] not in out
    _masked_all(raw, out)


def test_a_digest_exchange_is_masked(server) -> None:
    """requests' Digest authentication: the `response="…"` of its Authorization header (the hash of the password,
    the nonce and the request: cracked offline, it gives the password) was shown, by the app logging the request's
    headers and by http.client's debug output (`send: b'…Authorization: Digest …'`)."""
    import http.client

    import requests
    from requests.auth import HTTPDigestAuth

    printed = io.StringIO()
    http.client.HTTPConnection.debuglevel = 1
    try:
        with contextlib.redirect_stdout(printed):
            answer = requests.get(f"{server.url}/digest", auth=HTTPDigestAuth("app", PASSWORD), timeout=30)
    finally:
        http.client.HTTPConnection.debuglevel = 0
    assert answer.status_code == 200
    header = server.seen[-1]["Authorization"]
    response = header.split('response="')[1].split('"')[0]
    assert header.startswith('Digest username="app"') and len(response) == 32, header
    logged = f"request headers: {server.seen[-1]}"  # an app logging what it got
    for raw in (logged, printed.getvalue(), f"Authorization: {header}"):
        assert response in raw, raw
        out = redact_text(raw)
        assert response not in out and 'response="***"' in out and 'username="app"' in out, out
    raw = printed.getvalue()
    assert "send: b'GET /digest HTTP/1.1\\r\\n" in raw and f"sessionid={SESSION}" in raw, raw  # (its header lines)
    _masked_all(raw, redact_text(raw))


def test_requests_and_httpx_header_and_cookie_reprs_are_masked() -> None:
    """What an app prints of a request's headers or its client's cookies: requests' headers dict
    (`{'Cookie': 'sessionid=…'}`), httpx's Headers, a cookie jar (`<Cookie sessionid=… for …/>`), a cookie's repr
    (`Cookie(version=0, name='sessionid', value='…', …)`), SimpleCookie's repr and its Set-Cookie output."""
    import http.cookies

    import httpx
    import requests

    cookies = {"sessionid": SESSION, "csrftoken": CSRF}
    prepared = requests.Request("GET", "http://app.example/", cookies=cookies).prepare()
    session = requests.Session()
    session.cookies.set("sessionid", SESSION, domain="app.example")
    jar = httpx.Cookies()
    jar.set("sessionid", SESSION, domain="app.example")
    simple = http.cookies.SimpleCookie()
    simple["sessionid"] = SESSION
    simple["sessionid"]["path"] = "/"
    texts = [repr(prepared.headers), repr(httpx.Request("GET", "http://app.example/", cookies={"sessionid": SESSION},
                                                        headers={"x-api-key": API_KEY}).headers),
             str(session.cookies), repr(next(iter(session.cookies))), repr(jar), repr(simple), simple.output()]
    for raw in texts:
        assert SESSION in raw, raw
        out = redact_text(raw)
        assert SESSION not in out and API_KEY not in out and CSRF not in out and "sessionid" in out, (raw, out)
    assert redact_text(repr(prepared.headers)) == "{'Cookie': 'sessionid=***; csrftoken=***'}"
    assert redact_text(str(session.cookies)) == "<RequestsCookieJar[<Cookie sessionid=*** for app.example/>]>"
    assert redact_text(simple.output()) == "Set-Cookie: sessionid=***; Path=/"
    assert "domain='app.example'" in redact_text(repr(next(iter(session.cookies))))


def test_a_percent_encoded_key_name_in_an_access_log_is_masked(server) -> None:
    """A query's name percent-encoded (`?api%5Fkey=…`, `pass%77ord=…`): the server reads `api_key` and `password`,
    its access log shows them as sent, and no pattern knew the encoded names."""
    import httpx

    with httpx.Client() as client:
        assert client.get(f"{server.url}/login?api%5Fkey={API_KEY}&pass%77ord={PASSWORD}&page=2").status_code == 200
    (line,) = [a for a in server.access if "/login" in a]
    query = parse_qs(urlsplit(line.split()[1]).query)
    assert query == {"api_key": [API_KEY], "password": [PASSWORD], "page": ["2"]}, line  # (what the server read)
    out = redact_text(line)
    assert API_KEY not in out and PASSWORD not in out and "page=2" in out and " 200 " in out + " ", out


def test_a_bearer_token_before_a_quote_is_masked_whole_and_a_challenge_is_no_token(server) -> None:
    """A token that ends a JSON string (loguru's `serialize=True` record of `…Authorization: Bearer <token>`) kept its
    last character shown (`Bearer ***a"`: the pattern gave a character back to pass its look-ahead for a quote);
    curl's `< WWW-Authenticate: Bearer … error_description="…"` had the parameter's name masked as a token."""
    from loguru import logger

    sink = io.StringIO()
    handler = logger.add(sink, serialize=True)
    try:
        logger.error(f"upstream answered 401; sent Authorization: Bearer {BEARER}")
    finally:
        logger.remove(handler)
    raw = sink.getvalue()
    assert f'Bearer {BEARER}"' in raw, raw
    out = redact_text(raw)
    assert '"message": "upstream answered 401; sent Authorization: Bearer ***"' in out, out
    _masked_all(raw, out)
    done = subprocess.run(["curl", "-sv", "-o", "/dev/null", "-H", f"Authorization: Bearer {BEARER}",
                           f"{server.url}/expired"], capture_output=True, text=True, timeout=60)
    assert "< HTTP/1.0 401" in done.stderr, done.stderr
    out = redact_text(done.stderr)
    assert "> Authorization: Bearer ***" in out, out
    assert ('< WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="The access token '
            'expired"') in out, out
    _masked_all(done.stderr, out)
