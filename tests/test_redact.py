"""Secret redaction: every pattern, with and without the quick pre-check's hints."""

from __future__ import annotations

import json

import pytest

from mosaic_diag.platform.redact import presence, redact_dsn, redact_text

SECRET_TEXTS = [
    ("connect to postgresql://mosaic:hunter2secret@dpg-x-a.oregon-postgres.render.com/mosaic failed",
     "hunter2secret", "postgresql://mosaic:***@dpg-x-a"),
    ("dsn: host=db user=mosaic PASSWORD=hunter2secret dbname=mosaic", "hunter2secret", "PASSWORD=***"),
    ("pwd = 'hunter2 secret' rejected", "hunter2 secret", "pwd=***"),
    ("key sk-ant-api03-abcdefghijklmnop was refused", "abcdefghijklmnop", "sk-***"),
    ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123 invalid", "abcdefghijklmnopqrstuvwxyz0123", "sk-***"),
    ("render token rnd_abcdefghijklmnopqrst expired", "abcdefghijklmnopqrst", "rnd***"),
    ("push with ghp_abcdefghijklmnopqrstuvwxyz0123 denied", "abcdefghijklmnopqrstuvwxyz0123", "ghp***"),
    ("slack xoxb-1234567890-abcdefghij failed", "1234567890-abcdefghij", "xox***"),
    ("header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload sent", "eyJhbGciOiJIUzI1NiJ9", "Bearer ***"),
    ("x-api-key: abcdefghijklmnop rejected", "abcdefghijklmnop", "x-api-key: ***"),
]


@pytest.mark.parametrize(("text", "secret", "shown"), SECRET_TEXTS)
def test_each_kind_of_secret_is_masked(text: str, secret: str, shown: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert shown in out


def test_text_without_secrets_is_returned_unchanged() -> None:
    text = "psycopg2.errors.UndefinedTable: relation \"sessions\" does not exist\nLINE 1: SELECT 1 FROM sessions"
    assert redact_text(text) is text
    assert redact_text("") == ""


def test_dsn_password_is_masked_in_url_and_keyword_forms() -> None:
    assert redact_dsn("postgresql://mosaic:s3cr%40t@localhost:5433/mosaic?sslmode=require") == \
        "postgresql://mosaic:***@localhost:5433/mosaic?sslmode=require"
    assert "s3cret" not in redact_dsn("host=localhost password=s3cret dbname=mosaic")
    assert redact_dsn("postgresql://localhost/mosaic") == "postgresql://localhost/mosaic"
    assert presence("sk-anything") == "***SET***" and presence("") is None


def test_the_configured_webhook_url_is_masked_everywhere_after_registration() -> None:
    from mosaic_diag.platform.redact import redact_url, register_secret

    url = "https://hooks.example.org/incoming/Zx9WebhookPathSecret"
    register_secret(url)
    assert redact_text(f"POST {url} answered 500") == "POST https://hooks.example.org/*** answered 500"
    assert redact_url("https://outlook.office.com/webhook/abc") == "https://outlook.office.com/***"


@pytest.mark.parametrize(("text", "secret"), [
    (r'{"body": "{\"password\": \"Esc4pedPw\"}"}', "Esc4pedPw"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z\nqq\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA0Z"),
    ("https://hooks.slack.com/services/T0AAA/B0BBB/xyzSlackSecret", "xyzSlackSecret"),
    ("clone https://Tok3nAsUserName0123456789@git.example.com/r.git", "Tok3nAsUserName0123456789"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
])
def test_more_kinds(text: str, secret: str) -> None:
    assert secret not in redact_text(text)


@pytest.mark.parametrize(("text", "shown"), [
    # a secret's name spelled with JSON escapes (a hostile app's answer): its value was shown
    ('{"\\u0070assword": "Hunter2Value99", "name": "caf\\u00e9"}', '{"password": "***", "name": "caf\\u00e9"}'),
    ('{"pass\\u0077ord":"Hunter2Value99"}', '{"password":"***"}'),
    # the same quoted in a JSON report (its backslash escaped in turn)
    ('{"log": "{\\"\\\\u0061pi_key\\": \\"Hunter2Value99\\"}"}', '{"log": "{\\"api_key\\": \\"***\\"}"}'),
    # PHP's json_encode writes every `/` as `\/`: a DSN's `://` was no URL to the patterns
    ('{"db": "postgresql:\\/\\/app:Hunter2Value99@db.internal\\/app"}', '{"db": "postgresql://app:***@db.internal/app"}'),
    # a token in a URL that is itself a query's value, percent-encoded (a login's return URL, OAuth's redirect_uri)
    ("GET /login?next=https%3A%2F%2Fapp%2Fcb%3Ftoken%3DHunter2Value99%26s%3D1",
     "GET /login?next=https%3A%2F%2Fapp%2Fcb%3Ftoken%3D***%26s%3D1"),
    ("redirect_uri=https%3A%2F%2Fapp%2Fcb%3Fcode%3DHunter2Value99", "redirect_uri=https%3A%2F%2Fapp%2Fcb%3Fcode%3D***"),
    ("GET /stream?user=radio&pass=Hunter2Value99 200", "GET /stream?user=radio&pass=*** 200"),
    # a logged request's headers, their names' words joined by `-`
    ("Api-Key: Hunter2Value99", "Api-Key: ***"),
    ("x-goog-api-key: Hunter2Value99", "x-goog-api-key: ***"),
    ("Ocp-Apim-Subscription-Key: Hunter2Value99", "Ocp-Apim-Subscription-Key: ***"),
    ("run --api-key=Hunter2Value99", "run --api-key=***"),
])
def test_a_secret_spelled_otherwise_is_masked(text: str, shown: str) -> None:
    """Escapes, percent-encoding and header spellings of what the patterns know (attack round 17): each was shown."""
    assert redact_text(text) == shown


def test_escapes_with_nothing_to_mask_are_left_as_written() -> None:
    for text in ('{"name": "\\u00e9t\\u00e9", "path": "a\\/b", "url": "https:\\/\\/example.com\\/a"}',
                 "C:\\\\Users\\\\u0070ublic", "GET /search?q=a%3Fpage%3D2&x=1", "primary-key: id",
                 "back=https%3A%2F%2Fx%2Fcb%3Fstate%3Dabc", "see --api-key in the docs"):
        assert redact_text(text) == text


@pytest.mark.parametrize("text", [
    "commit 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b at https://github.com/o/r/commit/1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
    "request 123e4567-e89b-12d3-a456-426614174000 at https://api.example.com/v1/items/123e4567-e89b-12d3-a456-426614174000",
    "KeyError: 'OPENAI_API_KEY'",
    "the token expired; token verification failed for user 5",
    "max_tokens: 100 and input_tokens=42",
])
def test_what_is_not_a_secret_stays(text: str) -> None:
    assert redact_text(text) == text


def test_the_memo_gives_redact_texts_answer_and_sees_a_secret_registered_later() -> None:
    from mosaic_diag.platform.redact import RedactMemo, register_secret

    memo = RedactMemo(limit=2)
    texts = ["password=hunter22 rejected", "plain words", "token=abc123def456 rejected", "plain words"]
    for text in texts * 2:
        assert memo(text) == redact_text(text)
    assert "hunter22" not in memo(texts[0])
    later = "connect to Mem0LaterRegisteredValue failed"
    assert memo(later) == later
    register_secret("Mem0LaterRegisteredValue")
    assert "Mem0LaterRegisteredValue" not in memo(later)


@pytest.mark.parametrize("start", ["sk-", "sk-proj-", "sk-ant-", "rnd_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
                                   "github_pat_", "glpat-", "xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-",
                                   "rk_live_", "rk_test_", "sk_live_", "sk_test_", "AKIA", "ASIA",
                                   # (round 18: Slack's app-level token, Stripe's webhook signing secret, a Google API
                                   # key and a Google OAuth access token were shown)
                                   "xapp-1-", "whsec_", "AIza", "ya29."])
def test_every_kind_of_provider_key_is_masked_standing_alone(start: str) -> None:
    """A key in a line with no other hint of a secret (no "token", no other key kind) is masked too: a
    GitHub fine-grained token (`github_pat_…`) alone once came back unchanged."""
    body = "Q7XK2M9ZP4R8T1VW6YB3NC5D" if start in ("AKIA", "ASIA") else "A1b2C3d4E5f6G7h8I9j0K1l2"
    key = start + body[:16] if start in ("AKIA", "ASIA") else start + body
    if start == "AIza":  # (35 characters after its prefix)
        key = start + (body * 2)[:35]
    for text in (key, f"clone failed with {key} at 10:42", f"[{key}]"):
        out = redact_text(text)
        assert body[4:16] not in out, (text, out)
        assert "***" in out


# -- redaction after JSON encoding (the output guard redacts every line written, JSON reports included) ----------
_FRAGMENTS = ["password=", "PGPASSWORD=", "GITHUB_TOKEN=", "?token=", "&api_key=", "hunter2secret", "RUNE-B1A",
              '"', "'", "\\", "\\\\", " ", "=", ":", "@", "postgresql://app:", "@db/x", "Bearer ", "***", "\n", "é",
              "\\u0070ass", "word", "\\/", "%3Ftoken%3D", "Api-Key: ",
              # (round 18's forms)
              "Cookie: ", "sessionid=", "; ", "(b'x-api-key', b'", "')", 'response="', "Digest ", "api%5Fkey=", "pw=",
              "-----BEGIN RSA PRIVATE KEY-----", "\\n", "MIIEowIBAAKCAQEA0Z", "'+811", "<Cookie a=", " for "]


def _secretless(text: str) -> bool:
    return "hunter2secret" not in text and "RUNE-B1A" not in text


@pytest.mark.parametrize("message", [
    'fetch failed path="/jobs?token=RUNE-B1A" status=503',      # a real paste's shape (a Heroku router line)
    'connect password="hunter2secret" host=db',
    'export GITHUB_TOKEN="hunter2secret" done',
    "PGPASSWORD=hunter2secret\\ more",
    'path="/jobs?token=***" status=503',                        # already redacted, then JSON-encoded
])
def test_a_json_line_stays_json_when_redacted(message: str) -> None:
    import json

    line = json.dumps({"message": message})
    out = redact_text(line)
    assert _secretless(out) and json.loads(out)["message"] == redact_text(message)


def test_redacting_any_json_encoded_text_keeps_it_json() -> None:
    import json

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12))
    def check(parts: list[str]) -> None:
        text = "".join(parts)
        json.loads(redact_text(json.dumps({"message": text})))  # never a half-cut escape

    check()


def test_a_file_named_like_a_secret_keeps_its_line_number(tmp_path) -> None:
    """`/etc/passwd: a playbook must be …` (a careless `playbook validate /etc/passwd`) and `token:12: …` are a
    file (and a line), not `passwd: <value>`; a value after the same words is still masked."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "playbook", "validate", "/etc/passwd"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "/etc/passwd: a playbook must be a mapping" in r.stdout, r.stdout + r.stderr
    assert redact_text("deploy/token:12:3: bad value") == "deploy/token:12:3: bad value"
    assert redact_text("token:12: bad value") == "token:12: bad value"
    assert redact_text("PGPASSWORD: 1234 and SECRET=12:34") == "PGPASSWORD: *** and SECRET=***"


@pytest.fixture
def fresh_detectors(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """The detectors' sources found anew (from a private cache directory) in the test, and again after it."""
    from mosaic_diag.platform import redact

    monkeypatch.setenv("MOSAIC_DIAG_CACHE_DIR", str(tmp_path / "cache"))
    redact._detector_sources.cache_clear()
    redact._detector_patterns.cache_clear()
    yield redact
    redact._detector_sources.cache_clear()
    redact._detector_patterns.cache_clear()


def test_the_detectors_patterns_are_cached_as_detect_secrets_gives_them(fresh_detectors) -> None:
    from mosaic_diag.platform import yamlcache

    redact = fresh_detectors
    imported = redact._imported_detector_sources()
    assert imported and all(sources for _, sources in imported)
    assert redact._detector_sources() == imported  # a miss: imported, then kept
    key = redact._detectors_key()
    assert key is not None and yamlcache.get_plain(key) == imported
    sendgrid = "SG." + "a1b2c3d4e5f6g7h8i9j0kl" + "." + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v"
    assert redact_text(f"mail key {sendgrid} refused") == "mail key SG.a*** refused"
    # the kept entry, not detect-secrets, answers the next process: here one without SendGrid's detector
    yamlcache.put_plain(key, tuple(d for d in imported if "sg." not in d[0]))
    redact._detector_sources.cache_clear()
    redact._detector_patterns.cache_clear()
    assert len(redact._detector_sources()) == len(imported) - 1
    assert redact_text(f"mail key {sendgrid} refused") == f"mail key {sendgrid} refused"


def test_the_detectors_key_follows_the_installed_files(fresh_detectors, tmp_path, monkeypatch) -> None:
    import importlib
    import sys

    redact = fresh_detectors
    package = tmp_path / "site" / "detect_secrets"
    (package / "plugins").mkdir(parents=True)
    for name in ("__init__.py", "__version__.py", "plugins/base.py",
                 *(f"plugins/{module}.py" for module, _, _ in redact._DETECTORS)):
        (package / name).write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "detect_secrets", raising=False)  # (find_spec answers from it)
    importlib.invalidate_caches()
    first = redact._detectors_key()
    assert first is not None and first == redact._detectors_key()
    (package / "plugins" / "aws.py").write_text("# another version\n")  # an upgrade rewrites the files
    assert redact._detectors_key() not in (None, first)
    (package / "plugins" / "aws.py").unlink()
    assert redact._detectors_key() is None  # cannot be told: imported, not cached


def test_finding_the_detectors_leaves_the_apps_warnings_as_they_were(tmp_path) -> None:
    """detect-secrets turns on logging.captureWarnings when it is imported: the first redaction that needed its
    detectors (a fresh cache: every deploy of an app using the runtime kit) sent every later warning of the app to
    the `py.warnings` logger. In a fresh interpreter, as an app has it."""
    import os
    import subprocess
    import sys

    key = "'SG.' + 'a1b2c3d4e5f6g7h8i9j0kl' + '.' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v'"
    script = ("import sys, warnings\n"
              "from mosaic_diag.platform.redact import redact_text\n"
              f"print(redact_text('mail key ' + {key}))\n"
              "print('detect_secrets' in sys.modules)\n"
              "warnings.warn('the app still sees this')\n")
    env = {**os.environ, "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["mail key SG.a***", "True"], done.stdout
    assert "UserWarning: the app still sees this" in done.stderr, done.stderr


def test_finding_the_detectors_leaves_the_detect_secrets_logger_as_the_app_configured_it(tmp_path) -> None:
    """detect-secrets' logger module, when imported, empties the handlers of its logger `detect-secrets`, gives it
    one of its own on stderr and sets it to ERROR: an app that had configured that logger (quieted it, sent it to its
    own handler) found it reset at its first redaction on a fresh cache. One the app never configured is detect-secrets'
    own to set up."""
    import os
    import subprocess
    import sys

    key = "'SG.' + 'a1b2c3d4e5f6g7h8i9j0kl' + '.' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v'"
    script = ("import logging, logging.config, sys\n"
              "logging.config.dictConfig({'version': 1, 'disable_existing_loggers': False,\n"
              "    'handlers': {'mine': {'class': 'logging.NullHandler'}},\n"
              "    'loggers': {'detect-secrets': {'level': 'CRITICAL', 'handlers': ['mine'], 'propagate': False}}})\n"
              "from mosaic_diag.platform.redact import redact_text\n"
              f"print(redact_text('mail key ' + {key}))\n"
              "print('detect_secrets' in sys.modules)\n"
              "ds = logging.getLogger('detect-secrets')\n"
              "print(logging.getLevelName(ds.level), [type(h).__name__ for h in ds.handlers], ds.propagate)\n")
    env = {**os.environ, "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["mail key SG.a***", "True", "CRITICAL ['NullHandler'] False"], done.stdout


@pytest.mark.parametrize("escaped", [False, True], ids=["lines", "json-escaped"])
def test_a_masked_private_key_redacted_again_keeps_the_text_after_it(escaped: bool) -> None:
    """The mask of a private key block (`-----BEGIN … PRIVATE KEY----- ***`) has no END line: redacted again (the
    CLI passes all it prints through the redactor: `dlq show` of a stored answer holding a key) it read as a block
    cut by the end of the text, and all after it was masked: `dlq show --format json` printed JSON cut in two."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    body = pem.splitlines()[1]
    text = json.dumps({"answer": pem + "the text after the key"}) if escaped else f"before\n{pem}the text after it\n"
    once = redact_text(text)
    assert body not in once and "-----BEGIN PRIVATE KEY----- ***" in once and "the text after" in once
    assert redact_text(once) == once
    if escaped:
        assert json.loads(once) == {"answer": "-----BEGIN PRIVATE KEY----- ***\nthe text after the key"}


KEY_PIECES = ("sk-proj-Abcdefghijklmnopqr", "stuvwxyz0123456789ABCDEFGH")


@pytest.mark.parametrize("text, kept", [
    ("api_key=sk-abcdefghijklmnopqrstuvwxyz123456\nthree more", "\nthree more"),
    ("api_key=sk-abcdefghijklmnopqrstuvwxyz123456\n  three more", "\n  three more"),
    ("password=hunter2\nnext line", "\nnext line"),
    ("DATABASE_URL=postgresql://app:hunter2@db/app\nTraceback (most recent call last):", "\nTraceback (most"),
    ("OPENAI_API_KEY=sk-proj-abcdefghijklmnop1234567890\nTraceback (most recent call last):", "\nTraceback (most"),
    ("OPENAI_API_KEY=sk-proj-abcdefghijklmnop1234567890\nINFO started\n" + "x" * 90, "\nINFO started\n"),
])
def test_a_secret_that_ends_its_line_leaves_the_next_lines_words(text: str, kept: str) -> None:
    """A line whose secret runs to its end, then a line of words: the first word is not a folded piece of the
    secret (the line is not a console's full width, or a longer line shows the console was wider): it stays."""
    out = redact_text(text)
    assert kept in out and "hunter2" not in out and "abcdefghij" not in out, out


@pytest.mark.parametrize("text, leak", [
    (f"key={KEY_PIECES[0]}\n{KEY_PIECES[1]}", KEY_PIECES[1][:10]),  # the next line is the piece alone
    (f"{'w' * 40} key={KEY_PIECES[0]}\n{KEY_PIECES[1]} and more words", KEY_PIECES[1][:10]),  # a full-width fold
    ("connect to postgresql://app:Hunter2Se\ncretPassword@db.internal/app failed", "cretPass"),
])
def test_a_secret_folded_at_a_consoles_edge_is_still_masked_whole(text: str, leak: str) -> None:
    out = redact_text(text)
    assert leak not in out and "***" in out, out


# -- attack round 18: key names, cookies, headers, private keys in tracebacks ---------------------------------------
V18 = "Hk18" + "c4d5e6f7a8b9" * 2


@pytest.mark.parametrize("text", [
    f"connect user=app pw={V18} host=db", f"mysql --pass={V18} app", f"GET /feed?user=radio&pw={V18} 200",
    json.dumps({"pw": V18}), json.dumps({"pass": V18}), repr({"pw": V18}), json.dumps({"secret_value": V18}),
    json.dumps({"SecretString": V18, "Name": "prod/db"}), f"secretValue={V18}", f"DB_PASS={V18}", f"SMTP_PW={V18}",
    f"db-pass: {V18}", f"TOKEN_VALUE={V18}", json.dumps({"log": json.dumps({"pw": V18})}),
    json.dumps({"Ocp-Apim-Subscription-Key": V18}),
])
def test_short_and_suffixed_secret_names_are_masked(text: str) -> None:
    """`pw`, `pass` as a key's whole name or its last word (`DB_PASS`), and a secret's name followed by a word naming
    its value (`secret_value`, AWS Secrets Manager's `SecretString`): their values were shown."""
    out = redact_text(text)
    assert V18 not in out and "***" in out, out


def test_an_authorization_schemes_credential_is_masked_not_its_name() -> None:
    """A scheme of 8 letters or more (`Negotiate`) was taken for the credential: the scheme was masked, the
    credential (a Kerberos ticket, an NTLM message) shown. As httpx holds and an app logs a request's headers."""
    import base64

    import httpx

    ticket = base64.b64encode(bytes(range(40))).decode()
    for scheme in ("Negotiate", "NTLM", "Basic"):
        request = httpx.Request("GET", "http://app.example/", headers={"Authorization": f"{scheme} {ticket}"})
        line = f"Authorization: {request.headers['authorization']}"
        assert redact_text(line) == f"Authorization: {scheme} ***"
        assert ticket not in redact_text(repr(request.headers.raw))


def test_what_only_looks_like_a_secret_name_stays() -> None:
    """Negative cases: prose, counts and names that merely contain the words."""
    for text in ("all 12 tests passed; pass=12 fail=0 skip=1", "PASS=3 FAIL=0", "bypass=true compass=north",
                 "passing the request on", "the cookie was rejected by the browser", "Invalid cookie: expired",
                 "set cookie consent banner", "<Cookie consent policy>", "sessionid expired",
                 '{"token_count": "1200", "password_length": "12"}', "key_count=3 token_count=1200",
                 "Digest: sha256:0123456789abcdef0123456789abcdef", "response=200 took 12ms",
                 'WWW-Authenticate: Digest realm="app", nonce="6fa9c1e4b2d3"', "authorization: none provided here",
                 "Authorization header missing", "(b'content-type', b'application/json')",
                 "fields = ('password', 'email')", "GET /a%5Bb%5D?x=%40me 200", "GET /caf%C3%A9 200",
                 "see -----BEGIN RSA PRIVATE KEY----- in the docs", "hf_hub_download failed", "AIza is short"):
        assert redact_text(text) == text, text


def test_a_masked_query_value_keeps_the_next_item() -> None:
    """`?password=x&page=2`: masked by the query's pattern, then the keyword pattern took `***&page=2` for the value."""
    assert redact_text("GET /login?password=Hunter2x&page=2 HTTP/1.1") == "GET /login?password=***&page=2 HTTP/1.1"


@pytest.mark.parametrize("text", [
    "GET /cb?code=Hunter2Value99\nworker done", "token=Hunter2Value99\nworker done",
    "GET /login?next=https%3A%2F%2Fapp%2Fcb%3Ftoken%3DHunter2Value99\nworker done",
    "deploy key=sk-proj-Abcdefghijklmnopqrstuvwxyz0123\n  retry 2 of 3",
    "Cookie: sessionid=Hunter2Value99\nAccept: */*", "GET /x?a=1&api_key='Hunter2Value99'+811MIIEowIBAAKCAQEA0Z",
])
def test_redacting_again_changes_nothing(text: str) -> None:
    """The CLI's guard redacts what the core redacted already: a line ending in a mask then a short line was taken for
    a secret folded at a console's edge (`GET /cb?code=***` / `worker done`: `worker` eaten), and a mask glued to text
    (`&api_key=***+811…`) read as part of a value to mask again."""
    once = redact_text(text)
    assert "Hunter2Value99" not in once and redact_text(once) == once, (once, redact_text(once))


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def _load(key: str) -> None:
    raise ValueError("Could not deserialize key data")


def _rich(pem: str, width: int) -> str:
    import io

    from rich.console import Console
    from rich.traceback import Traceback

    console = Console(file=io.StringIO(), width=width)
    try:
        _load(pem)
    except ValueError:
        console.print(Traceback(show_locals=True, width=width))
    return console.file.getvalue()


def _loguru(pem: str) -> str:
    import io

    from loguru import logger

    buf = io.StringIO()
    sink = logger.add(buf, backtrace=True, diagnose=True, colorize=False)
    try:
        try:
            _load(pem)
        except ValueError:
            logger.opt(exception=True).log("ERROR", "loading the signing key failed")
    finally:
        logger.remove(sink)
    return buf.getvalue()


def _stdlib(pem: str) -> str:
    import traceback

    try:
        _load(pem)
    except ValueError as exc:
        return "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    raise AssertionError("not raised")


def _tracebacks(pem: str) -> dict[str, str]:
    """A traceback whose frame holds the key as a local, as rich (show_locals, two console widths), loguru
    (diagnose) and the standard library (capture_locals) print it."""
    return {"rich-100": _rich(pem, 100), "rich-200": _rich(pem, 200), "loguru": _loguru(pem), "stdlib": _stdlib(pem)}


def test_a_private_key_in_a_tracebacks_locals_is_masked_and_the_traceback_kept() -> None:
    """A key held by a local, shown cut short (rich's `'-----BEGIN RSA PRIVATE KEY-----\\nMIIC…'+811`, loguru's
    `…`): with no END line the block ran to the end of the text, and the traceback's error line and all after it were
    masked; at 100 columns rich folds the marker's words over two panel lines, and the key's first line was shown."""
    pem = _pem()
    first = pem.splitlines()[1]
    for name, text in _tracebacks(pem).items():
        text += "INFO worker restarted\n"
        assert first[:24] in text.replace("\\n", "\n"), name  # (the local shows the key's start)
        out = redact_text(text)
        assert first[4:24] not in out, (name, out)
        assert "Could not deserialize key data" in out.splitlines()[-2] and out.endswith("INFO worker restarted\n"), \
            (name, out)
        assert "PRIVATE KEY----- ***" in out, (name, out)


def test_a_pgp_private_key_block_is_masked(tmp_path) -> None:
    """An armored OpenPGP secret key (`-----BEGIN PGP PRIVATE KEY BLOCK-----`): the block's name did not end in
    `PRIVATE KEY-----`, and all of it was shown."""
    import os
    import subprocess

    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    gpg = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        subprocess.run([*gpg, "--quick-gen-key", "Test <test@example.invalid>", "ed25519", "sign", "never"], env=env,
                       check=True, capture_output=True, timeout=120)
        armored = subprocess.run([*gpg, "--armor", "--export-secret-keys"], env=env, check=True, capture_output=True,
                                 text=True, timeout=120).stdout
    finally:  # (gpg started an agent for the home: stopped with it)
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, timeout=60)
    body = [line for line in armored.splitlines() if len(line) == 64]
    assert armored.startswith("-----BEGIN PGP PRIVATE KEY BLOCK-----") and body
    for text in (f"deploy key:\n{armored}done\n", json.dumps({"key": armored, "next": "done"}),
                 "\n".join(f"2026-11-27T00:00:0{i % 10}Z {line}" for i, line in enumerate(armored.splitlines()))):
        out = redact_text(text)
        assert not [line for line in body if line in out], out
        assert "-----BEGIN PGP PRIVATE KEY BLOCK----- ***" in out, out
    assert json.loads(redact_text(json.dumps({"key": armored, "next": "done"})))["next"] == "done"
