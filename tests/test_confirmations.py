"""Every destructive confirmation behaves the same (rollback, `playbook run --execute`, `dlq purge`): the
question on stderr, the answer from stdin whether a terminal or a pipe; a piped "y" acts (0), a piped "n" does
nothing (1), stdin at its end (`</dev/null`, cron, CI) does nothing and names --yes (2). Run through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mosaic_diag.runtime.guard import open_dead_letters
from tests.cli_inproc import run_cli
from tests.test_actions import PLAYBOOK, snapshot
from tests.test_manifest_support import deploy_repo, set_git_env
from tests.test_rollback_cli import cli_env


@dataclass
class Target:
    """One command that asks: its arguments, where it runs, its question, what `nothing` and `act` say, and
    `acted()`, True once it did its destructive work."""

    args: list[str]
    cwd: Path
    env: dict[str, str]
    question: str
    nothing: str
    act: str
    acted: Callable[[], bool]


def _dlq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    db = str(tmp_path / "dlq.sqlite")
    store = open_dead_letters(db)
    for n in range(2):
        store.add(payload=f'{{"n": {n}}}', error="e", label="MODEL_ANSWER_INVALID", model="Answer")
    store.close()

    def acted() -> bool:
        r = run_cli(["dlq", "list", "--db", db, "--format", "json"])
        return json.loads(r.stdout) == []

    return Target(["dlq", "purge", "--older-than", "0s", "--db", db], tmp_path, {}, "delete 2 dead letter(s)",
                  "nothing deleted", "delete them", acted)


def _playbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "pg.yml").write_text(PLAYBOOK.replace("    - action: alert_ops\n      when: \"rate_5m > 1\""
                                                                "\n      message: \"PostgreSQL failing ({rate_5m}"
                                                                "/min)\"\n", ""), encoding="utf-8")
    (tmp_path / "incident.json").write_text(json.dumps({"stage": "runtime", "rate_5m": 6.5, "count": 4}))
    before = snapshot(tmp_path)
    env = {k: "" for k in ("MOSAIC_DIAG_WEBHOOK_URL", "DATABASE_URL")}
    return Target(["playbook", "run", "PG_CONNECTION_FAILED", "--context", "incident.json", "--playbooks", "books",
                   "--execute", "--no-gather"], tmp_path, env, "Execute 4 action(s) of pg-test?", "nothing done",
                  "act", lambda: snapshot(tmp_path) != before and (tmp_path / ".mosaic-diag/audit.log").is_file())


def _rollback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    set_git_env(monkeypatch)
    repo = deploy_repo(tmp_path)
    c = repo.commits
    return Target(["rollback", c["c4"]], repo.work, cli_env(), f"Roll back origin/main to {c['c4'][:12]} (revert)?",
                  "nothing changed", "roll back", lambda: repo.remote_head() != c["c5"])


TARGETS = {"dlq-purge": _dlq, "playbook-execute": _playbook, "rollback": _rollback}


@pytest.mark.parametrize("command", sorted(TARGETS))
@pytest.mark.parametrize(("stdin", "code"), [("y\n", 0), ("n\n", 1), ("", 2), ("maybe\nno\n", 1)],
                         ids=["y", "n", "eof", "retry-then-no"])
def test_a_piped_answer_is_taken_the_same_way_by_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               command: str, stdin: str, code: int) -> None:
    target = TARGETS[command](tmp_path, monkeypatch)
    r = run_cli(target.args, cwd=target.cwd, stdin=stdin, env=target.env, replace_env=command == "rollback")
    assert r.returncode == code, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and f"{target.question}" in r.stderr and "[y/N]: " in r.stderr
    assert target.acted() is (code == 0), (r.stdout, r.stderr)
    if code == 0:
        assert "[y/N]: y\n" in r.stderr and "not confirmed" not in r.stdout + r.stderr  # the piped answer shown
    elif code == 1:
        said = stdin.splitlines()[-1]
        assert r.stderr.endswith(f"[y/N]: {said}\nmosaic-diag: not confirmed: {target.nothing}\n"), r.stderr
        assert "not confirmed" not in r.stdout
    else:
        assert r.stderr.endswith(f"[y/N]: \nmosaic-diag: not confirmed: no answer (stdin ended): {target.nothing}; "
                                 f"add --yes to {target.act} without asking\n"), r.stderr


@pytest.mark.parametrize("command", sorted(TARGETS))
def test_yes_asks_nothing_and_reads_no_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    """--yes: no question, stdin untouched (a piped "n" is not read), the work done."""
    target = TARGETS[command](tmp_path, monkeypatch)
    r = run_cli([*target.args, "--yes"], cwd=target.cwd, stdin="n\n", env=target.env,
                replace_env=command == "rollback")
    assert r.returncode == 0 and "[y/N]" not in r.stderr and target.acted(), (r.stdout, r.stderr)


def test_a_json_report_stays_whole_when_the_answer_is_piped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`echo y | playbook run --execute --format json`: the question and its answer on stderr, the JSON alone on
    stdout, the actions done (it refused a piped answer before, unlike rollback --format json)."""
    target = _playbook(tmp_path, monkeypatch)
    r = run_cli([*target.args, "--format", "json"], cwd=target.cwd, stdin="y\n", env=target.env)
    assert r.returncode == 0, r.stderr
    assert [o["action"] for o in json.loads(r.stdout)["executed"]][:1] == ["fallback_sqlite"]
    assert r.stderr.startswith(f"{target.question} [y/N]: y\n") and target.acted()


def test_an_answer_with_controls_is_shown_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A piped answer is written after the question, one line, its controls as escapes (never sent raw)."""
    target = _dlq(tmp_path, monkeypatch)
    r = run_cli(target.args, cwd=target.cwd, stdin="\x1b[2Jok\nn\n")
    assert r.returncode == 1 and "\x1b" not in r.stderr and "[y/N]: \\u001b[2Jok\nanswer y or n\n" in r.stderr
