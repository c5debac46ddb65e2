"""Actions: a dry run sends nothing and writes nothing; --execute acts, asks first, and audits."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from examples.loopback import QuietServer
from mosaic_diag.cli import main

PLAYBOOK = """\
- id: pg-test
  match: {label: PG_CONNECTION_FAILED}
  severity: critical
  remediate:
    - action: fallback_sqlite
      when: auto
    - action: alert_ops
      when: "rate_5m > 1"
      message: "PostgreSQL failing ({rate_5m}/min)"
    - action: circuit_breaker
      when: "rate_5m > 5"
      params: {disable_feature: user_registration, message: "Registration paused"}
    - action: failover
      when: "count >= 3"
      params: {from: openai, to: anthropic}
    - action: open_incident
      when: always
    - action: retry
      when: "rate_5m > 100"
"""
SECRET = "s3cr3t-pa55"


class Webhook:
    """A loopback HTTP server that records every request it gets."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append({"path": self.path, "body": json.loads(body),
                                       "type": self.headers.get("Content-Type")})
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietServer.start_on_loopback(Handler)
        self.url = self.server.url + "/hooks/ops"

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A target repository dir: playbooks, an incident context, the cwd of the command."""
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "pg.yml").write_text(PLAYBOOK, encoding="utf-8")
    (tmp_path / "incident.json").write_text(json.dumps({
        "stage": "runtime", "rate_5m": 6.5, "count": 4,
        "context": {"env": {"DATABASE_URL": {"value": f"postgresql://mosaic:{SECRET}@dpg-abc-a/mosaic"}}},
    }), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("MOSAIC_DIAG_"):
            monkeypatch.delenv(name)
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run(*extra: str) -> int:
    return main(["playbook", "run", "PG_CONNECTION_FAILED", "--context", "incident.json", "--playbooks", "books",
                 *extra])


def test_dry_run_sends_nothing_and_changes_no_file(workspace: Path, webhook: Webhook,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", webhook.url)
    before = snapshot(workspace)
    assert run() == 0
    assert run("--dry-run", "--format", "json") == 0
    out = capsys.readouterr().out
    assert webhook.requests == []
    assert snapshot(workspace) == before
    assert not (workspace / ".mosaic-diag").exists()
    plan = json.loads(out[out.index("\n{") + 1:])
    steps = {a["action"]: a for a in plan["actions"]}
    assert plan["dry_run"] is True and plan["executed"] == []
    assert steps["alert_ops"]["would_run"] and steps["alert_ops"]["reason"] == "rate_5m 6.5 > 1"
    assert steps["circuit_breaker"]["reason"] == "rate_5m 6.5 > 5"
    assert steps["retry"] == {**steps["retry"], "would_run": False, "reason": "not: rate_5m 6.5 <= 100"}
    assert SECRET not in out


def test_execute_asks_and_a_no_changes_nothing(workspace: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", webhook.url)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    before = snapshot(workspace)
    assert run("--execute") == 1
    err = capsys.readouterr().err
    assert "Execute 5 action(s) of pg-test? [y/N]: " in err and "mosaic-diag: not confirmed: nothing done" in err
    assert webhook.requests == []
    assert snapshot(workspace) == before


class _CtrlC(io.StringIO):
    def readline(self, *args: object) -> str:
        raise KeyboardInterrupt


@pytest.mark.parametrize(("stdin", "code", "said"), [
    (io.StringIO(""), 2, "mosaic-diag: not confirmed: no answer (stdin ended): nothing done; add --yes to act "
                         "without asking"),
    (_CtrlC(), 130, "mosaic-diag: error: interrupted at the confirmation: nothing was done"),
], ids=["stdin-ended", "ctrl-c"])
def test_execute_with_no_answer_or_ctrl_c_at_the_question_does_nothing_and_says_so(
        workspace: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        stdin: io.StringIO, code: int, said: str) -> None:
    """`</dev/null` was a bare "Aborted" (Typer's confirm), Ctrl-C there the same; both act on nothing."""
    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", webhook.url)
    monkeypatch.setattr("sys.stdin", stdin)
    before = snapshot(workspace)
    assert run("--execute") == code
    assert said in capsys.readouterr().err.splitlines()
    assert webhook.requests == []
    assert snapshot(workspace) == before


def test_execute_acts_and_audits(workspace: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", webhook.url)
    flags_file = workspace / ".mosaic-diag" / "flags.json"
    flags_file.parent.mkdir()
    flags_file.write_text(json.dumps({"flags": {"kept": {"enabled": True}}}), encoding="utf-8")
    assert run("--execute", "--yes") == 0
    out = capsys.readouterr().out
    assert "alert_ops: ok: webhook answered 200" in out

    assert len(webhook.requests) == 1
    sent = webhook.requests[0]
    assert sent["path"] == "/hooks/ops" and sent["type"] == "application/json"
    assert sent["body"]["text"] == "[mosaic-diag] PostgreSQL failing (6.5/min)"
    assert sent["body"]["label"] == "PG_CONNECTION_FAILED" and sent["body"]["reason"] == "rate_5m 6.5 > 1"

    flags = json.loads(flags_file.read_text())["flags"]
    assert flags["kept"] == {"enabled": True}
    assert flags["user_registration"]["enabled"] is False
    assert flags["user_registration"]["message"] == "Registration paused"
    assert flags["llm.provider"]["primary"] == "anthropic" and flags["llm.provider"]["disabled"] == ["openai"]
    assert [p.name for p in flags_file.parent.iterdir() if p.name.startswith(".flags")] == []  # no temp left

    notes = list((workspace / ".mosaic-diag" / "incidents").glob("*-PG_CONNECTION_FAILED.md"))
    assert len(notes) == 1
    note = notes[0].read_text()
    assert note.startswith("# PG_CONNECTION_FAILED (critical)")
    assert "dpg-abc-a" in note and SECRET not in note

    audit = [json.loads(line) for line in (workspace / ".mosaic-diag" / "audit.log").read_text().splitlines()]
    actions = ["fallback_sqlite", "alert_ops", "circuit_breaker", "failover", "open_incident"]
    # each action audited before it ran (intent) and after (its result)
    assert [(a["action"], a["outcome"]) for a in audit] == [(x, o) for x in actions for o in ("intent", "ok")]
    assert all(a["label"] == "PG_CONNECTION_FAILED" and a["when"] and a["who"] for a in audit)
    assert audit[4]["params"] == {"disable_feature": "user_registration", "message": "Registration paused"}


def test_failed_actions_are_reported_and_audited(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    hook = Webhook(status=500)
    try:
        monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", hook.url)
        flags_file = workspace / ".mosaic-diag" / "flags.json"
        flags_file.parent.mkdir()
        flags_file.write_text("{not json", encoding="utf-8")
        assert run("--execute", "--yes") == 1
    finally:
        hook.stop()
    out = capsys.readouterr().out
    assert "alert_ops: FAILED: webhook answered 500" in out
    assert "circuit_breaker: FAILED" in out and "left unchanged" in out
    assert flags_file.read_text() == "{not json"
    audit = [json.loads(line) for line in (workspace / ".mosaic-diag" / "audit.log").read_text().splitlines()]
    assert [a["outcome"] for a in audit if a["action"] == "alert_ops"] == ["intent", "failed"]


def test_an_incident_note_shows_a_log_lines_terminal_controls_as_escapes(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A note's title and facts may hold a gathered log line, raw: its clipboard write (OSC 52), title change,
    cursor moves and bidi override played when the note was `cat`; they are written as escapes."""
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "pg.yml").write_text(
        "- id: pg-note\n  match: {label: PG_CONNECTION_FAILED}\n  severity: critical\n  gather:\n"
        "    - log_tail: 50\n  remediate:\n    - action: open_incident\n      when: always\n"
        "      params: {title: 'PostgreSQL down: {log.last_error}'}\n", encoding="utf-8")
    (tmp_path / "app.log").write_bytes(b"2026-12-06T10:00:00Z ERROR app: db failed \x1b]52;c;cm0gLXJmIH4=\x07 "
                                       b"\x1b[1A\x1b[K\x1b]0;owned\x07 \xe2\x80\xaeevil\n")
    monkeypatch.chdir(tmp_path)
    assert main(["playbook", "run", "PG_CONNECTION_FAILED", "--log", "app.log", "--playbooks", "books",
                 "--execute", "--yes"]) == 0
    [note] = (tmp_path / ".mosaic-diag" / "incidents").glob("*.md")
    text = note.read_text(encoding="utf-8")
    assert "db failed \\u001b\\]52;c;cm0gLXJmIH4=\\u0007" in text.splitlines()[0]  # (`]` is Markdown's)
    assert not [c for c in ("\x1b", "\x07", "\u202e") if c in text], text


@pytest.mark.parametrize("url", ["http://[::1/hooks/ops", "http://ops.example.com:8o/hooks/ops"])
def test_a_malformed_webhook_url_is_a_failed_action_not_a_crash(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture, url: str) -> None:
    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", url)
    assert run("--execute", "--yes") == 1
    out, err = capsys.readouterr()
    assert "alert_ops: FAILED: http_post failed: " in out and "Traceback" not in out + err
    assert "circuit_breaker: ok" in out  # the actions after it still ran
    audit = [json.loads(line) for line in (workspace / ".mosaic-diag" / "audit.log").read_text().splitlines()]
    assert [a["outcome"] for a in audit if a["action"] == "alert_ops"] == ["intent", "failed"]


def test_no_webhook_configured_is_said_not_hidden(workspace: Path, capsys: pytest.CaptureFixture) -> None:
    assert run() == 0
    out = capsys.readouterr().out
    assert "cannot run: no webhook configured" in out


def test_bad_context_and_stage(workspace: Path, capsys: pytest.CaptureFixture) -> None:
    (workspace / "bad.json").write_text('{"rate_5m": 1,\n "rate5m": 2}', encoding="utf-8")
    assert main(["playbook", "run", "PG_CONNECTION_FAILED", "--context", "bad.json", "--playbooks", "books"]) == 2
    assert "bad.json: unknown key 'rate5m'" in capsys.readouterr().err
    (workspace / "broken.json").write_text('{"rate_5m": 1,\n oops}', encoding="utf-8")
    assert main(["playbook", "run", "PG_CONNECTION_FAILED", "--context", "broken.json", "--playbooks", "books"]) == 2
    assert "broken.json:2: invalid JSON" in capsys.readouterr().err
    assert run("--stage", "lunch") == 2
    assert "--stage takes one of" in capsys.readouterr().err
    assert main(["playbook", "run", "NOT_A_LABEL", "--playbooks", "books"]) == 2
    assert "unknown label 'NOT_A_LABEL'" in capsys.readouterr().err


# -- audit before acting, once per incident, one run at a time ----------------------------------------------
def test_an_unwritable_audit_log_stops_before_the_first_action(workspace: Path, webhook: Webhook,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", webhook.url)
    (workspace / "blocker").write_text("a file where the audit log's directory should be")
    monkeypatch.setenv("MOSAIC_DIAG_AUDIT_LOG", str(workspace / "blocker" / "audit.log"))
    assert run("--execute", "--yes") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mosaic-diag: error: {workspace / 'blocker' / 'audit.log'}: cannot write the audit log")
    assert "fallback_sqlite and the actions after it were not run (0 ran before" in err
    assert webhook.requests == [] and not (workspace / ".mosaic-diag" / "flags.json").exists()
    assert not (workspace / ".mosaic-diag" / "incidents").exists()


def test_an_audit_log_that_is_a_symlink_is_not_written_through(workspace: Path, webhook: Webhook,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    """A repository that commits `.mosaic-diag/audit.log -> ~/.bashrc`: the audit lines (a playbook's text in
    them) would be appended to that file; the run stops before acting instead."""
    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", webhook.url)
    victim = workspace / "outside" / ".bashrc"
    victim.parent.mkdir()
    victim.write_text("export PATH=$HOME/bin:$PATH\n")
    (workspace / ".mosaic-diag").mkdir()
    (workspace / ".mosaic-diag" / "audit.log").symlink_to(victim)
    assert run("--execute", "--yes") == 2
    err = capsys.readouterr().err
    assert "audit.log: cannot write the audit log (is a symlink" in err, err
    assert victim.read_text() == "export PATH=$HOME/bin:$PATH\n" and webhook.requests == []


def test_three_identical_runs_act_once_within_the_cooldown(workspace: Path, webhook: Webhook,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", webhook.url)
    for _ in range(3):
        assert run("--execute", "--yes") == 0
    out = capsys.readouterr().out
    assert len(webhook.requests) == 1
    assert len(list((workspace / ".mosaic-diag" / "incidents").glob("*.md"))) == 1
    assert out.count("alert_ops: skipped: already done at") == 2 and "cool-down 900s" in out
    audit = [json.loads(line) for line in (workspace / ".mosaic-diag" / "audit.log").read_text().splitlines()]
    assert [a["outcome"] for a in audit if a["action"] == "alert_ops"] == ["intent", "ok", "skipped", "skipped"]
    assert [a["outcome"] for a in audit if a["action"] == "fallback_sqlite"].count("ok") == 3  # changes nothing
    # another incident of the same label (another triage fingerprint) is acted on
    ctx = json.loads((workspace / "incident.json").read_text())
    (workspace / "other.json").write_text(json.dumps({**ctx, "fingerprint": "f00dcafe"}))
    assert main(["playbook", "run", "PG_CONNECTION_FAILED", "--context", "other.json", "--playbooks", "books",
                 "--execute", "--yes"]) == 0
    assert len(webhook.requests) == 2
    # no cool-down: every run acts
    monkeypatch.setenv("MOSAIC_DIAG_PLAYBOOKS_COOLDOWN", "0")
    assert run("--execute", "--yes") == 0
    assert len(webhook.requests) == 3


def test_an_action_recorded_done_far_ahead_of_now_is_not_held_back_until_then(
        workspace: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger's time of a done action is compared with now both ways, as the watch's state is: one recorded a
    year ahead (a clock set wrong then, or another machine's sharing the PostgreSQL ledger) kept the alert of
    that incident skipped for a year and the cool-down; one a few seconds ahead still is within the cool-down."""
    from datetime import UTC, datetime, timedelta

    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", webhook.url)
    assert run("--execute", "--yes") == 0 and len(webhook.requests) == 1
    state = workspace / ".mosaic-diag" / "actions.json"

    def done_at(when: datetime) -> None:
        data = json.loads(state.read_text())
        state.write_text(json.dumps({"done": {k: when.isoformat() for k in data["done"]}}))

    done_at(datetime.now(UTC) + timedelta(seconds=30))  # (a clock a little ahead: the same incident, skipped)
    assert run("--execute", "--yes") == 0 and len(webhook.requests) == 1
    done_at(datetime.now(UTC) + timedelta(days=365))
    assert run("--execute", "--yes") == 0 and len(webhook.requests) == 2


def test_concurrent_runs_wait_for_each_other(workspace: Path, webhook: Webhook) -> None:
    """A run that starts while another holds the ledger waits, then reads the flags file as the other left it:
    no flag update is lost."""
    import os
    import subprocess
    import sys

    from mosaic_diag.playbooks.ledger import open_ledger

    flags_file = workspace / ".mosaic-diag" / "flags.json"
    env = {**os.environ, "MOSAIC_DIAG_WEBHOOK_URL": webhook.url, "PYTHONPATH": ":".join(sys.path)}
    with open_ledger(workspace / ".mosaic-diag" / "actions.json"):  # another run is acting
        proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "playbook", "run", "PG_CONNECTION_FAILED",
                                 "--context", "incident.json", "--playbooks", "books", "--execute", "--yes"],
                                cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=2)  # it cannot finish while the ledger is held
        assert webhook.requests == [] and not flags_file.exists()
        flags_file.write_text(json.dumps({"flags": {"set_by_the_other_run": {"enabled": False}}}))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    flags = json.loads(flags_file.read_text())["flags"]
    assert {"set_by_the_other_run", "user_registration", "llm.provider"} <= set(flags)
    assert len(webhook.requests) == 1


def test_execute_json_asks_on_stderr_and_keeps_the_json_whole(workspace: Path, webhook: Webhook,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    """--format json without --yes asks on stderr (a piped answer is taken, as by rollback --format json): stdout
    holds the JSON alone; stdin at its end acts on nothing (exit 2)."""
    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", webhook.url)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert run("--execute", "--format", "json") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "add --yes" in captured.err and "Execute 5 action(s)" in captured.err
    assert webhook.requests == [] and not (workspace / ".mosaic-diag").exists()
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # not a terminal
    assert run("--execute", "--format", "json") == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert [o["action"] for o in data["executed"]][:2] == ["fallback_sqlite", "alert_ops"]
    assert captured.err.startswith("Execute 5 action(s) of pg-test? [y/N]: y\n") and len(webhook.requests) == 1


def test_the_ledger_lives_in_postgresql_when_database_url_is_set(workspace: Path, webhook: Webhook, pg_db: str,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    import psycopg2

    monkeypatch.setenv("MOSAIC_DIAG_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("DATABASE_URL", pg_db)
    for _ in range(2):
        assert run("--execute", "--yes") == 0
    assert len(webhook.requests) == 1
    assert not (workspace / ".mosaic-diag" / "actions.json").exists()
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT key FROM mosaic_diag_actions ORDER BY key")
        keys = [r[0] for r in cur.fetchall()]
    conn.close()
    assert any(k.startswith("pg-test|PG_CONNECTION_FAILED@runtime|alert_ops|") for k in keys)
    assert "postgresql table mosaic_diag_actions" in (workspace / ".mosaic-diag" / "audit.log").read_text()
    # the database down (the incident itself, perhaps): the file keeps the state, and the run says so
    monkeypatch.setenv("DATABASE_URL", "postgresql://mosaic:pw@127.0.0.1:1/mosaic")
    monkeypatch.setenv("MOSAIC_DIAG_PLAYBOOKS_COOLDOWN", "60")
    capsys.readouterr()
    assert run("--execute", "--yes") == 0
    assert "the database is unreachable" in capsys.readouterr().out
    assert (workspace / ".mosaic-diag" / "actions.json").exists() and len(webhook.requests) == 2


@pytest.mark.parametrize(("template", "facts", "expect"), [
    ("set sslmode=require in DATABASE_URL (now {database_url.sslmode}) and redeploy", {"database_url.sslmode": ""},
     "set sslmode=require in DATABASE_URL and redeploy"),
    ("set sslmode=require in DATABASE_URL (now {database_url.sslmode}) and redeploy",
     {"database_url.sslmode": "disable"}, "set sslmode=require in DATABASE_URL (now disable) and redeploy"),
    ("ANTHROPIC_MODEL ({env.ANTHROPIC_MODEL.value}) does not exist: use a current model id", {},
     "ANTHROPIC_MODEL does not exist: use a current model id"),
    ("fix DATABASE_URL ({database_url.redacted}): {database_url.problem}", {"database_url.redacted": "pg://h/db",
                                                                            "database_url.problem": None},
     "fix DATABASE_URL (pg://h/db)"),
    ("prompts.csv: {prompts.csv_problem}", {}, "prompts.csv"),
    ("First. Then {x} happens. Last.", {}, "First. Last."),
])
def test_fill_leaves_out_what_is_not_known(template: str, facts: dict, expect: str) -> None:
    from mosaic_diag.playbooks.actions import fill

    assert fill(template, facts) == expect


def test_the_action_lock_is_never_opened_through_a_symlink(tmp_path: Path) -> None:
    """A committed dangling `.mosaic-diag/actions.lock -> ~/somewhere` created the link's target (an empty file
    wherever the link pointed) at every `--execute`; now the run stops before anything is done."""
    from mosaic_diag.playbooks.ledger import open_ledger

    state = tmp_path / ".mosaic-diag" / "actions.json"
    state.parent.mkdir()
    state.with_suffix(".lock").symlink_to(tmp_path / "target-of-the-link")
    with pytest.raises(OSError, match=r"cannot open the action lock \(is a symlink"), open_ledger(state):
        raise AssertionError("the block ran")
    assert not (tmp_path / "target-of-the-link").exists()
