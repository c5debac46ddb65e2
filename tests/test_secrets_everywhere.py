"""One redactor for every output: each kind of secret is planted where a real run would meet it (log lines,
a classified text, the environment predeploy checks, an app's answer to a golden case, a playbook's
incident context and its configured webhook), and every output format is grepped for it: triage,
classify, predeploy and golden as table, JSON and Markdown, the JUnit reports, the audit log, the
incident notes and the webhook bodies."""

from __future__ import annotations

import json
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from examples.loopback import QuietServer
from mosaic_diag.platform.redact import redact_text
from tests.cli_inproc import run_cli

JWT_PAYLOAD = "eyJzdWIiOiJqd3QtdXNlci05OSJ9"
# kind -> (text as it appears in the wild, the part that must never be printed)
SECRETS: dict[str, tuple[str, str]] = {
    "url_basic_auth": ("https://admin:Sup3rS3cretPw@internal.example.com/x", "Sup3rS3cretPw"),
    "url_query_token": ("https://api.example.com/cb?access_token=QtokQueryAbc123xyz&x=1", "QtokQueryAbc123xyz"),
    "url_path_token": ("https://api.example.com/v1/reset/Pth8f7Hk2LmN9pQ4rS6tU1vW3xY5zA0bC",
                       "Pth8f7Hk2LmN9pQ4rS6tU1vW"),
    "json_password": ('{"password": "JsonPw-77x9q", "user": "a"}', "JsonPw-77x9q"),
    "pgpassword": ("PGPASSWORD=PgEnvPw_5521 psql", "PgEnvPw_5521"),
    "aws_access_key": ("AKIAQWERTYUIOPASDFGH", "QWERTYUIOPASDFGH"),
    "aws_secret_key": ("aws_secret_access_key=wJalrXUtnFEMIxK7MDENGxbPxRfiCYzEXAMPLEKEY", "wJalrXUtnFEMIxK7MDENG"),
    "stripe_live": ("sk_live_51HxyzABCDEFGHIJKLMNOPqrstuv", "51HxyzABCDEFGHIJKLMNOPqrstuv"),
    "jwt": (f"eyJhbGciOiJIUzI1NiJ9.{JWT_PAYLOAD}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", JWT_PAYLOAD),
    "github_token": ("ghp_R4nd0mG1tHubT0kenAbCdEfGhIjKlMnOpQr", "R4nd0mG1tHubT0ken"),
    "gitlab_token": ("glpat-Gl4bT0kenXyZ0123456789", "Gl4bT0kenXyZ0123456789"),
    "dsn_password": ("postgresql://mosaic:DsnPw-Zq81x@db.example.com:5432/mosaic", "DsnPw-Zq81x"),
    "openai_key": ("sk-proj-Op3nAiK3yAbCdEfGhIjKlMnOpQrStUv", "Op3nAiK3yAbCdEfGhIjKlMnOpQrStUv"),
}
WEBHOOK_SECRET = "TWhkS3cr3tP4thB0000XyZ"  # the path of the configured webhook: the credential
EVERY_SECRET = [part for _, part in SECRETS.values()] + [WEBHOOK_SECRET]
PLANTED = " ; ".join(text for text, _ in SECRETS.values())


def leaks(text: str) -> list[str]:
    return [s for s in EVERY_SECRET if s in text]


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd=cwd, env=env)  # (in this process, tests/cli_inproc.py: this interpreter's sys.path)


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_the_redactor_masks_each_kind(kind: str) -> None:
    text, part = SECRETS[kind]
    assert part not in redact_text(f"error while calling {text} (retrying)"), kind


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_triage_and_classify(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "app.log"
    lines = [f"2026-01-01 12:00:{n:02d},000 ERROR api.main: request failed: {text}"
             for n, (text, _) in enumerate(SECRETS.values())]
    log.write_text("\n".join(lines) + "\n")
    r = cli("triage", str(log), "--format", fmt, cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    assert "request failed" in r.stdout and leaks(r.stdout + r.stderr) == []
    r = cli("classify", f"RuntimeError: upstream refused {PLANTED}", "--explain", "--format", fmt, cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    assert r.stdout and leaks(r.stdout + r.stderr) == []


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_predeploy_and_its_junit(tmp_path: Path, fmt: str) -> None:
    env = {"DATABASE_URL": SECRETS["dsn_password"][0].replace("db.example.com", "127.0.0.1:1"),
           "OPENAI_API_KEY": SECRETS["openai_key"][0], "MOSAIC_APP_SECRET": PLANTED}
    junit = tmp_path / "predeploy.xml"
    r = cli("predeploy", "--only", "settings,database", "--timeout", "3", "--format", fmt, "--junit", str(junit),
            cwd=tmp_path, env=env)
    assert r.returncode in (0, 1), r.stderr
    out = r.stdout + r.stderr + junit.read_text()
    assert "MD-DB" in out and leaks(out) == []


class _Leaky(BaseHTTPRequestHandler):
    """An app whose answer carries secrets (a debug page, an echoed request)."""

    def do_GET(self) -> None:  # noqa: N802
        data = json.dumps({"a": 2, "debug": PLANTED}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_golden_reports_and_junit(tmp_path: Path) -> None:
    app = QuietServer.start_on_loopback(_Leaky)
    try:
        cases = tmp_path / "cases.yml"
        cases.write_text("cases:\n  - id: leaky\n    path: /debug\n    expect:\n      status: 200\n"
                         "      json_path: {$.a: {equals: 1}}\n      contains: [never-there]\n")
        junit = tmp_path / "golden.xml"
        outs = []
        for fmt in ("table", "json", "markdown"):
            r = cli("golden", "--url", app.url, "--cases", str(cases), "--retries", "0", "--format", fmt,
                    "--junit", str(junit), "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
            assert r.returncode == 1, r.stdout + r.stderr
            outs.append(r.stdout + r.stderr + junit.read_text())
        outs.append((tmp_path / "state" / "golden-last-run.json").read_text()
                    if (tmp_path / "state" / "golden-last-run.json").exists() else "")
    finally:
        app.stop()
    assert "leaky" in outs[0]
    assert [leaks(o) for o in outs] == [[]] * len(outs)


class _Hook(BaseHTTPRequestHandler):
    bodies: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        _Hook.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


PLAYBOOK = """\
- id: leak-test
  match: {label: UNKNOWN_ERROR}
  severity: high
  gather:
    - env: [MOSAIC_APP_SECRET, DATABASE_URL]
  remediate:
    - action: alert_ops
      when: always
      message: "incident: {log.last_error}"
    - action: open_incident
      when: always
    - action: advise
      when: always
      message: "seen: {log.last_error}"
"""


def test_playbook_plan_audit_notes_and_webhook_bodies(tmp_path: Path) -> None:
    _Hook.bodies = []
    hook = QuietServer.start_on_loopback(_Hook)
    try:
        webhook_url = f"{hook.url}/hooks/{WEBHOOK_SECRET}"
        (tmp_path / "books").mkdir()
        (tmp_path / "books" / "leak.yml").write_text(PLAYBOOK)
        (tmp_path / "mosaic-diag.toml").write_text(f'[playbooks]\nwebhook_url = "{webhook_url}"\n')
        (tmp_path / "incident.json").write_text(json.dumps({
            "stage": "runtime", "count": 3, "context": {"log": {"last_error": PLANTED}}}))
        env = {"MOSAIC_APP_SECRET": PLANTED, "DATABASE_URL": SECRETS["dsn_password"][0]}
        outs = []
        for fmt in ("table", "json", "markdown"):
            r = cli("playbook", "run", "UNKNOWN_ERROR", "--context", "incident.json", "--playbooks", "books",
                    "--format", fmt, cwd=tmp_path, env=env)
            assert r.returncode == 0, r.stdout + r.stderr
            outs.append(r.stdout + r.stderr)
        r = cli("playbook", "run", "UNKNOWN_ERROR", "--context", "incident.json", "--playbooks", "books",
                "--execute", "--yes", cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        outs.append(r.stdout + r.stderr)
    finally:
        hook.stop()
    assert "webhook answered 200" in outs[-1]
    assert len(_Hook.bodies) == 1 and "incident:" in _Hook.bodies[0]
    state = tmp_path / ".mosaic-diag"
    audit = (state / "audit.log").read_text()
    notes = [p.read_text() for p in (state / "incidents").glob("*.md")]
    assert len(notes) == 1 and "## Facts" in notes[0]
    assert f"{hook.url.split('//')[1].split(':')[0]}" in outs[0]  # the webhook's host is shown, not its path
    everything = {"plan/table": outs[0], "plan/json": outs[1], "plan/markdown": outs[2], "execute": outs[3],
                  "audit": audit, "note": notes[0], "webhook body": _Hook.bodies[0],
                  "action state": (state / "actions.json").read_text()}  # (its key named the webhook's URL whole)
    assert {name: leaks(text) for name, text in everything.items()} == {name: [] for name in everything}


# generated passwords hold '/', '+', '?', '#' and '@' (base64, pwgen -y): written unescaped in a DSN, libpq reads the
# part after '/' as the path (and may quote the part before as a port), urlsplit does the same
@pytest.mark.parametrize("password", ["Sup3r/Sec+ret9", "Sup3r?Sec+ret9", "Sup3r#Sec+ret9", "Sup3r@Sec+ret9",
                                      "ab/Sec+ret9/xyzw"])
def test_a_dsn_password_with_url_delimiters_is_masked_everywhere(password: str, inproc_cli) -> None:
    from mosaic_diag.manifest.store import PostgresDeployStore
    from mosaic_diag.platform.redact import redact_dsn
    from mosaic_diag.runtime.guard import open_dead_letters
    from mosaic_diag.runtime.health import _database_check

    dsn = f"postgresql://app:{password}@127.0.0.1:1/app"
    pieces = [p for p in password.replace("?", "/").replace("#", "/").replace("@", "/").split("/") if len(p) >= 4]

    def clean(text: str) -> None:
        assert not [p for p in pieces if p in text], text

    clean(redact_text(f"connecting to {dsn} failed"))
    clean(redact_dsn(dsn))
    store = PostgresDeployStore(dsn, timeout=2)
    clean(store.description)
    with pytest.raises(Exception) as caught:
        store.history()
    clean(str(caught.value))
    with pytest.raises(Exception) as caught:
        open_dead_letters(dsn).add(payload="{}", error="e", label="l", model="M")
    clean(str(caught.value))
    clean(json.dumps(_database_check(dsn, 2)))
    code, out, err = inproc_cli(["manifest", "history"], DATABASE_URL=dsn)
    assert code == 3, err
    clean(out + err)


@pytest.fixture
def inproc_cli(monkeypatch, capsys, tmp_path):
    from mosaic_diag.cli import main

    def runner(args: list[str], **env: str) -> tuple[int, str, str]:
        monkeypatch.chdir(tmp_path)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err

    return runner


class _CutAcross(BaseHTTPRequestHandler):
    """An app whose error page holds a secret where the report's excerpt of it ends (`server.secret`: the text
    as it appears, the part that must not show, the number of characters the excerpt keeps)."""

    def do_GET(self) -> None:  # noqa: N802
        text, part, keep = self.server.secret  # type: ignore[attr-defined]
        pad = keep - (text.index(part) + len(part) // 2)  # the cut falls in the middle of the secret
        data = ("x" * pad + f" {text} and more\n").encode()
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_a_secret_across_the_cut_of_a_golden_answers_excerpt_is_masked_whole(tmp_path: Path, kind: str) -> None:
    """A failed case keeps the first 2,000 characters of the answer (`body_excerpt`, in the JSON report and the
    state of the last run): they were cut, then redacted, and a secret across the cut had lost what the
    redactor knows it by (a DSN its `@`, a key its length): its first half was written as it is."""
    from mosaic_diag.golden.runner import EXCERPT_CHARS

    text, part = SECRETS[kind]
    app = QuietServer.start_on_loopback(_CutAcross)
    app.secret = (text, part, EXCERPT_CHARS - 1)  # type: ignore[attr-defined]  # (the pad's space)
    try:
        cases = tmp_path / "cases.yml"
        cases.write_text("cases:\n  - {id: cut, path: /x, expect: {status: 200}}\n")
        r = cli("golden", "--url", app.url, "--cases", str(cases), "--retries", "0", "--format", "json",
                "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
    finally:
        app.stop()
    assert r.returncode == 1, r.stdout + r.stderr
    (attempt,) = json.loads(r.stdout)["cases"][0]["attempts"]
    assert len(attempt["body_excerpt"]) <= EXCERPT_CHARS and attempt["body_excerpt"].startswith("x" * 100)
    half = part[:len(part) // 2]
    for where, out in (("report", r.stdout), ("state", (tmp_path / "state" / "golden-last-run.json").read_text())):
        assert half not in out, (where, half)


def test_a_secret_in_a_config_value_cut_in_its_error_is_masked_whole(tmp_path: Path) -> None:
    """A value where a table is read (`predeploy = "postgresql://…"` in pyproject.toml) is quoted in the error, its
    first 60 characters: cut before the redactor saw them, a Render DSN (user `mosaic_db_user`, a 32-character
    password) lost its `@` and its whole password was printed."""
    password = "Zq81xDsnPwAbCdEfGhIjKlMnOpQrStUv"
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.mosaic-diag]\npredeploy = "postgresql://mosaic_db_user:{password}@dpg-abc.oregon-postgres.render.com'
        '/mosaic"\n')
    r = cli("predeploy", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "predeploy must be a table" in r.stderr and "postgresql://mosaic_db_user:***" in r.stderr, r.stderr
    assert password[:8] not in r.stdout + r.stderr


def test_a_secret_across_the_cut_of_an_in_process_apps_log_record_is_masked_whole(tmp_path: Path) -> None:
    """The note of an in-process app's captured records quotes each one's exception, its first 160 characters:
    cut before the redactor saw them, a DSN in the message lost its `@` and the first half of its password
    showed on stderr."""
    import uuid

    password = "DsnPw-" + "Zq81xAbCdEfGhIjK" * 2
    message = f"cannot connect to postgresql://mosaic:{password}@db.internal:5432/mosaic"
    pad = 160 - (message.index(password) + len(password) // 2)
    module = f"cut_app_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(
        "import json, logging\n\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] == 'lifespan':\n"
        "        while (await receive())['type'] != 'lifespan.shutdown':\n"
        "            await send({'type': 'lifespan.startup.complete'})\n"
        "        await send({'type': 'lifespan.shutdown.complete'})\n"
        "        return\n"
        "    try:\n"
        f"        raise RuntimeError({'x' * pad + ' ' + message!r})\n"
        "    except RuntimeError:\n"
        "        logging.getLogger('api').exception('request failed')\n"
        "    await send({'type': 'http.response.start', 'status': 500, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'{}'})\n")
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {id: cut, path: /x, expect: {status: 200}}\n")
    r = cli("golden", "--app", f"{module}:app", "--cases", str(cases), "--retries", "0", "--format", "json",
            "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "captured, not printed: 1 at ERROR" in r.stderr and "(RuntimeError: xxx" in r.stderr, r.stderr
    assert password[:len(password) // 2 - 1] not in r.stdout + r.stderr, r.stderr


class _EchoingGateway(BaseHTTPRequestHandler):
    """An LLM gateway that refuses the key and quotes it, where the check's line of the error ends (300
    characters of the SDK's `Error code: 401 - <the gateway's message>`)."""

    def do_GET(self) -> None:  # noqa: N802
        key = self.headers["Authorization"].removeprefix("Bearer ")
        pad = 300 - len("Error code: 401 - ") - len(" invalid key ") - 16  # `sk-proj-` and 8 characters kept
        data = json.dumps({"error": {"message": "x" * pad + f" invalid key {key} for this gateway"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_a_key_across_the_cut_of_a_providers_error_line_is_masked_whole(tmp_path: Path) -> None:
    """The provider check's finding quotes the SDK's error, its first 300 characters: cut before the redactor saw
    them, a key the gateway quoted lost its length (`sk-proj-` and 16 characters) and its first part showed."""
    key = SECRETS["openai_key"][0]
    gateway = QuietServer.start_on_loopback(_EchoingGateway)
    try:
        r = cli("predeploy", "--only", "openai", "--format", "json", cwd=tmp_path,
                env={"OPENAI_API_KEY": key, "OPENAI_BASE_URL": gateway.url + "/v1"})
    finally:
        gateway.stop()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "MD-LLM001" in r.stdout and "xxx invalid key " in r.stdout, r.stdout
    assert key[8:16] not in r.stdout + r.stderr, r.stdout


CONDITION_PLAYBOOK = """\
- id: cut-reason
  match: {label: UNKNOWN_ERROR}
  severity: high
  gather:
    - log_tail: {}
  remediate:
    - action: circuit_breaker
      when: 'log.last_error contains "refused"'
      params: {disable_feature: chat}
    - action: open_incident
      when: 'log.last_error contains "refused"'
"""


def test_a_secret_across_the_cut_of_a_conditions_reason_is_masked_whole(tmp_path: Path) -> None:
    """A condition's reason quotes the fact it read, its first 57 characters (`log.last_error 'refused
    postgresql://mosaic:DsnPw…' contains 'refused'`): cut before the redactor saw them, a DSN lost its `@` and the
    first part of its password was written to the plan, the audit log, the incident note and, not redacted at all,
    to the flags file the circuit breaker sets (its `reason`)."""
    password = "DsnPw-" + "Zq81xAbCdEfGhIjK" * 3
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "cut.yml").write_text(CONDITION_PLAYBOOK)
    (tmp_path / "incident.json").write_text(json.dumps({"stage": "runtime", "context": {"log": {
        "last_error": f"refused postgresql://mosaic:{password}@db.example.com:5432/mosaic"}}}))
    r = cli("playbook", "run", "UNKNOWN_ERROR", "--context", "incident.json", "--playbooks", "books", "--execute",
            "--yes", "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    state = tmp_path / ".mosaic-diag"
    (note,) = (state / "incidents").glob("*.md")
    flags = json.loads((state / "flags.json").read_text())
    assert flags["flags"]["chat"]["reason"].startswith("log.last_error 'refused postgresql://mosaic:***@db.")
    written = {"plan": r.stdout + r.stderr, "flags": (state / "flags.json").read_text(),
               "audit": (state / "audit.log").read_text(), "note": note.read_text()}
    assert {where: password[:10] in text for where, text in written.items()} == dict.fromkeys(written, False)
