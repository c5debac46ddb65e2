"""`mosaic-diag manifest` and `mosaic-diag rollback` as a user runs them, in a real clone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from examples.loopback import SERVE
from tests.cli_inproc import run_cli
from tests.test_manifest_support import (
    GIT_ENV,
    commit_all,
    deploy_repo,
    git,
    render_standin,
    set_git_env,
    write,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo(tmp_path, monkeypatch):
    set_git_env(monkeypatch)
    return deploy_repo(tmp_path)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOSAIC_DIAG_", "RENDER_")) and k != "DATABASE_URL"}
    env.update(GIT_ENV)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_process(repo, *args: str, stdin: str = "", cwd: Path | None = None,
                **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a whole process, in the clone (or `cwd`), with `cli_env(**env)`."""
    return subprocess.run([sys.executable, "-m", "mosaic_diag", *args], cwd=cwd or repo.work, input=stdin,
                          capture_output=True, text=True, timeout=120, env=cli_env(**env))


def run(repo, *args: str, stdin: str = "", cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """What `run_process` returns, the CLI run in this process (tests/cli_inproc.py): the prompts, the pipes and
    the redirected stdout below keep whole processes, as `run_process` does."""
    return run_cli(args, cwd=cwd or repo.work, stdin=stdin, env=cli_env(**env), replace_env=True)


def test_manifest_generate_into_a_file_of_the_clean_checkout_is_clean(repo):
    """`manifest generate > manifest.json` (README) and `--out` again: the output file is the command's own,
    not a change the manifest misses; any other change still makes it dirty (exit 1)."""
    target = repo.work / "manifest.json"
    for _ in range(2):  # the second time the file is there before the command runs
        with target.open("w") as stdout:
            r = subprocess.run([sys.executable, "-m", "mosaic_diag", "manifest", "generate"], cwd=repo.work,
                               stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120, env=cli_env())
        assert r.returncode == 0 and "dirty" not in r.stderr, r.stderr
        assert json.loads(target.read_text())["git"] == {"commit": repo.commits["c5"], "branch": "main",
                                                         "ref": None, "dirty": False, "dirty_paths": []}
        r = run(repo, "manifest", "generate", "--out", "manifest.json")
        assert r.returncode == 0 and "dirty" not in r.stderr, r.stderr
    (repo.work / "notes.txt").write_text("x\n")
    r = run(repo, "manifest", "generate", "--out", "manifest.json")
    assert r.returncode == 1 and "(notes.txt)" in r.stderr
    assert json.loads(target.read_text())["git"]["dirty_paths"] == ["notes.txt"]


def test_manifest_generate_diff_record_history(repo):
    r = run(repo, "manifest", "generate", "--out", "m5.json")
    assert r.returncode == 0, r.stderr
    m5 = json.loads((repo.work / "m5.json").read_text())
    assert m5["git"]["commit"] == repo.commits["c5"]
    (repo.work / "m5.json").unlink()
    r = run(repo, "manifest", "generate", repo.commits["c2"], OPENAI_MODEL="gpt-4")
    assert r.returncode == 0 and json.loads(r.stdout)["models"] == {"openai": "gpt-4"}
    (repo.work / "m2.json").write_text(r.stdout)
    r = run(repo, "manifest", "diff", "m2.json", "HEAD")
    assert r.returncode == 1  # schema change (critical) and prompt without golden (high)
    assert "prompt ps101_steps.json changed but the golden set did not" in r.stdout
    assert "schema changed: a rollback will not undo the database" in r.stdout
    assert "model pin changed: openai gpt-4 -> (none)" in r.stdout
    r = run(repo, "manifest", "diff", repo.commits["c4"], "HEAD", "--format", "json")
    assert r.returncode == 0 and [f["code"] for f in json.loads(r.stdout)["findings"]] == ["commit_changed"]
    r = run(repo, "manifest", "generate", "--format", "table")
    assert r.returncode == 1 and "mosaic-diag: warning: dirty tree" in r.stderr and "m2.json" in r.stderr
    (repo.work / "m2.json").unlink()
    assert run(repo, "manifest", "record", "HEAD~1").returncode == 0
    r = run(repo, "manifest", "record", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["store"].startswith("file ")
    r = run(repo, "manifest", "history", "--format", "json")
    assert [x["commit"] for x in json.loads(r.stdout)] == [repo.commits["c5"], repo.commits["c4"]]
    r = run(repo, "manifest", "diff", "nope", "HEAD")
    assert r.returncode == 2 and r.stderr.startswith("mosaic-diag: error: unknown git ref 'nope'")


def test_history_shows_superseded_and_unjudged_deploys_and_previous_passes_them_by(repo):
    """Records a deploy closes as superseded or unjudged are listed as such; `rollback --previous` skips them
    (never judged good) and an explicit target of one is not refused as recorded bad."""
    c = repo.commits
    assert run(repo, "manifest", "record", c["c4"]).returncode == 0
    r = run(repo, "manifest", "record", "--status", "superseded", "--note", "replaced by a newer deploy")
    assert r.returncode == 0 and "superseded" in r.stdout, r.stderr
    assert run(repo, "manifest", "record", c["c3"], "--status", "unjudged").returncode == 0
    r = run(repo, "manifest", "history")
    assert [line.split()[3] for line in r.stdout.splitlines()] == ["unjudged", "superseded", "deployed"], r.stdout
    assert "superseded  replaced by a newer deploy" in r.stdout
    r = run(repo, "rollback", "--previous", "--dry-run")
    assert r.returncode == 0 and f"target:   {c['c4'][:12]}" in r.stdout, r.stdout + r.stderr
    r = run(repo, "rollback", c["c3"], "--dry-run", "--allow-schema-change")
    assert r.returncode == 0 and "recorded as bad" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_manifest_record_on_a_dirty_tree_says_so_and_records_head(repo):
    """`manifest record` (and `manifest generate HEAD`) with uncommitted changes: one stderr line naming how
    many and the first paths, that the manifest is HEAD's; HEAD recorded all the same; JSON stdout intact."""
    write(repo.work, "app.py", "VERSION = 6\n")
    for i in range(6):
        write(repo.work, f"new/f{i}.txt", "x\n")
    r = run(repo, "manifest", "record", "--format", "json", "--note", "hotfix")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["commit"] == repo.commits["c5"]
    warning = [line for line in r.stderr.splitlines() if line.startswith("mosaic-diag: warning: ")]
    assert len(warning) == 1 and len(r.stderr.splitlines()) == 1
    assert "7 uncommitted change(s) (app.py, new/f0.txt, new/f1.txt, new/f2.txt, new/f3.txt, …)" in warning[0]
    assert f"describes HEAD {repo.commits['c5'][:12]}, not the working tree" in warning[0]
    r = run(repo, "manifest", "history", "--format", "json")
    assert [x["commit"] for x in json.loads(r.stdout)] == [repo.commits["c5"]]
    for args in (("manifest", "record"), ("manifest", "record", "main"), ("manifest", "generate", "HEAD")):
        r = run(repo, *args)
        assert r.returncode == 0 and "7 uncommitted change(s)" in r.stderr, (args, r.stderr)
    # another commit than the checked-out one: the working tree says nothing about it
    for args in (("manifest", "record", "HEAD~1"), ("manifest", "generate", "HEAD~1")):
        r = run(repo, *args)
        assert r.returncode == 0 and r.stderr == "", (args, r.stderr)


def test_a_note_with_line_breaks_and_controls_stays_on_its_entry_line(repo):
    """A record's note is free text (`--note`, a deploy's): its line breaks, tabs and controls are shown escaped,
    one record a line, in every format; JSON keeps the note itself."""
    note = "first\n#99 2020-01-01 forged deployed\r\tend\x1b[2J\u2028x"
    assert run(repo, "manifest", "record", repo.commits["c4"], "--status", "bad", "--note", note).returncode == 0
    assert run(repo, "manifest", "record", "--note", "plain").returncode == 0
    shown = "first\\n#99 2020-01-01 forged deployed\\r\\tend\\u001b[2J\\u2028x"
    r = run(repo, "manifest", "history")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 2 and lines[0].endswith(" deployed  plain"), r.stdout
    assert lines[1].startswith("#1 ") and lines[1].endswith(f" bad  {shown}"), r.stdout
    r = run(repo, "manifest", "history", "--format", "markdown")
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith("- #1 ") and lines[1].endswith(" bad  " + shown.replace(
        "\\", "\\\\").replace("[", "\\[")), r.stdout
    r = run(repo, "manifest", "history", "--format", "json")
    assert [x["note"] for x in json.loads(r.stdout)] == ["plain", note]
    r = run(repo, "rollback", repo.commits["c4"], "--dry-run")
    refused = [line for line in r.stdout.splitlines() if "is recorded as bad" in line]
    assert r.returncode == 1 and len(refused) == 1 and shown in refused[0], r.stdout


def test_a_commit_subjects_carriage_return_cannot_write_over_the_plans_line(repo):
    """The plan names each commit it undoes by its subject and author, a repository's text: a carriage return in
    them went back to the line's start, so the subject after it wrote over the line it stood in (what the
    confirmation is asked on). It is shown as its escape; the plan keeps one line per commit."""
    write(repo.work, "app.py", "VERSION = 6\n")
    commit_all(repo.work, "drop the users table\r    0000000 typo fix in a comment                 ")
    git(repo.work, "push", "-q", "origin", "HEAD:main")
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "rollback", repo.commits["c5"], "--dry-run"],
                       cwd=repo.work, capture_output=True, timeout=120, env=cli_env())
    out = r.stdout.decode("utf-8")  # (bytes: text=True would read a CR as a line end)
    assert r.returncode == 0, r.stderr
    assert "\r" not in out.replace("\r\n", "\n") + r.stderr.decode("utf-8"), out
    assert "drop the users table\\u000d    0000000 typo fix" in out, out


def test_rollback_dry_run_then_yes(repo):
    c = repo.commits
    r = run(repo, "rollback", c["c4"], "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "plan (revert):" in r.stdout and "dry run: nothing changed" in r.stdout
    assert repo.remote_head() == c["c5"]
    r = run(repo, "rollback", c["c4"])  # asks; no answer on stdin: not confirmed, --yes was needed (2)
    assert r.returncode == 2 and repo.remote_head() == c["c5"]
    assert r.stderr.endswith("mosaic-diag: not confirmed: no answer (stdin ended): nothing changed; add --yes to "
                             "roll back without asking\n"), r.stderr
    r = run(repo, "rollback", c["c4"], stdin="n\n")
    assert r.returncode == 1 and repo.remote_head() == c["c5"]
    assert r.stderr.endswith("mosaic-diag: not confirmed: nothing changed\n") and "not confirmed" not in r.stdout
    r = run(repo, "rollback", c["c4"], stdin="y\n")
    assert r.returncode == 0, r.stderr
    assert repo.remote_tree() == repo.tree_of(c["c4"])
    audit = [json.loads(x) for x in (repo.work / ".mosaic-diag/audit.log").read_text().splitlines()]
    assert [a["result"] for a in audit] == ["started", "done"]
    r = run(repo, "rollback", c["c4"], "--yes", "--format", "json")
    # the remote head is the revert commit, not c4, but it has c4's tree: nothing to do, no empty commit
    assert r.returncode == 0 and json.loads(r.stdout)["action"] == "none"
    assert len(audit) == len((repo.work / ".mosaic-diag/audit.log").read_text().splitlines())


def _prompted(repo, *args: str, stdin: int) -> tuple[subprocess.Popen[bytes], bytes]:
    """The CLI started with `args`, and what it wrote on stderr up to its question's `[y/N]: ` (read as it comes)."""
    import selectors

    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", *args], cwd=repo.work, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    assert proc.stderr is not None
    err = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        while b"[y/N]: " not in err:
            assert sel.select(timeout=120), err  # (a guard against a hang, not a wait)
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, (err, proc.wait(), proc.stdout.read() if proc.stdout else b"")
            err += chunk
    return proc, err


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interruption_at_the_confirmation_says_nothing_was_done(repo, sig):
    """Ctrl-C (or SIGTERM) at the question is not an answer: one line saying nothing was done, exit 130; the remote,
    the checkout and the audit log are as they were."""
    import signal

    c = repo.commits
    before = git(repo.work, "status", "--porcelain", "--branch")
    proc, err = _prompted(repo, "rollback", c["c4"], stdin=subprocess.PIPE)  # (a pipe held open: no answer, no EOF)
    assert f"Roll back origin/main to {c['c4'][:12]} (revert)? [y/N]: " in err.decode()
    proc.send_signal(getattr(signal, sig))
    # stdin stays open until the process has ended: `communicate` closed it at once, and on a busy machine the
    # end of input could reach the question before the signal did ("no answer", exit 2)
    assert proc.stdout is not None and proc.stderr is not None
    proc.wait(timeout=120)
    out, rest = proc.stdout.read(), proc.stderr.read()
    proc.stdin.close()  # type: ignore[union-attr]
    assert proc.returncode == 130, (out, err + rest)
    assert rest.decode() == "\nmosaic-diag: error: interrupted at the confirmation: nothing was done\n", rest
    assert "plan (revert):" in out.decode() and "not confirmed" not in out.decode()
    assert repo.remote_head() == c["c5"]
    assert git(repo.work, "status", "--porcelain", "--branch") == before
    assert not (repo.work / ".mosaic-diag/audit.log").exists()


def test_no_answer_at_the_confirmation_is_a_refusal_naming_yes(repo):
    """stdin at its end (`</dev/null`, a script): nothing to ask; not confirmed, --yes named, exit 2 (as a missing
    flag, and as `dlq purge` and `playbook run --execute` at an ended stdin: tests/test_confirmations.py)."""
    c = repo.commits
    proc, err = _prompted(repo, "rollback", c["c4"], "--format", "json", stdin=subprocess.DEVNULL)
    out, rest = proc.communicate(timeout=120)
    assert proc.returncode == 2, (out, err + rest)
    said = (err + rest).decode()
    assert said.endswith("mosaic-diag: not confirmed: no answer (stdin ended): nothing changed; add --yes to roll back "
                         "without asking\n") and "interrupted" not in said, said
    report = json.loads(out)
    assert report["action"] == "declined" and "--yes" in report["message"] and report["exit_code"] == 2
    assert repo.remote_head() == c["c5"]


def test_refusals_exit_codes(repo):
    c = repo.commits
    r = run(repo, "rollback", c["c3"], "--yes")
    assert r.returncode == 1 and "refused: schema changed" in r.stdout
    r = run(repo, "rollback", "0" * 40, "--yes")
    assert r.returncode == 2 and "unknown commit" in r.stdout
    r = run(repo, "rollback", c["c4"], "--strategy", "sideways")
    assert r.returncode == 2 and r.stderr.startswith("mosaic-diag: error: --strategy takes one of")
    r = run(repo, "rollback")
    assert r.returncode == 2 and "exactly one of SHA, --previous or --auto" in r.stderr
    write(repo.work, "app.py", "local edit\n")
    r = run(repo, "rollback", c["c4"], "--yes", "--format", "json")
    assert r.returncode == 1 and json.loads(r.stdout)["plan"]["refusals"][0]["code"] == "dirty_tree"
    assert repo.remote_head() == c["c5"]
    git(repo.work, "remote", "set-url", "origin", str(repo.remote.parent / "gone.git"))
    git(repo.work, "checkout", "app.py")
    r = run(repo, "rollback", c["c4"], "--yes")
    assert r.returncode == 3 and "git remote 'origin' unreachable" in r.stderr and "Traceback" not in r.stderr


def test_an_empty_audit_log_setting_is_one_line_before_anything_is_done(repo):
    """`audit_log = ""` (or MOSAIC_DIAG_AUDIT_LOG=""): the rollback has nowhere to write its intent: one line naming
    the setting, exit 2, before the question, nothing committed or pushed (it was a traceback, `'NoneType' object has
    no attribute 'parent'`, after the confirmation); a dry run writes no audit log and still plans."""
    c = repo.commits
    said = ("is empty: a rollback or a deploy writes its audit log there before it acts; give a file "
            "(default .mosaic-diag/audit.log) or leave the setting out\n")
    for extra in ((), ("--yes",)):
        r = run(repo, "rollback", c["c4"], *extra, MOSAIC_DIAG_AUDIT_LOG="")
        assert r.returncode == 2, r.stderr
        assert r.stderr == f"mosaic-diag: error: MOSAIC_DIAG_AUDIT_LOG (audit_log) {said}"
    config = repo.work / "mosaic-diag.toml"
    config.write_text('audit_log = ""\n')  # (untracked: a note, not a refusal)
    r = run(repo, "rollback", c["c4"], "--yes")
    assert r.returncode == 2 and r.stderr == f"mosaic-diag: error: {config}:1: audit_log {said}", r.stderr
    assert repo.remote_head() == c["c5"] and not (repo.work / ".mosaic-diag").exists()
    r = run(repo, "rollback", c["c4"], "--dry-run")
    assert r.returncode == 0 and "dry run: nothing changed" in r.stdout, r.stderr


def test_reset_lease_fails_on_a_concurrent_push(repo, tmp_path):
    c = repo.commits
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "rollback", c["c4"], "--strategy", "reset"],
                            cwd=repo.work, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cli_env())
    seen = ""
    while "?" not in seen:  # wait for the question: the plan (with the seen sha) is made
        ch = proc.stderr.read(1)
        assert ch, f"no prompt; stdout={proc.stdout.read()}"
        seen += ch
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo.remote), str(other))
    write(other, "hotfix.txt", "x\n")
    theirs = commit_all(other, "hotfix")
    git(other, "push", "-q", "origin", "main")
    out, err = proc.communicate("y\n", timeout=120)
    assert proc.returncode == 1, (out, err)
    assert err.endswith(f"y\nmosaic-diag: error: remote moved: origin main is no longer at {c['c5'][:12]} (someone "
                        "pushed since the plan was made); nothing changed, look again and re-run\n"), err
    assert err.count("\n") == 2 and repo.remote_head() == theirs
    r = run(repo, "rollback", c["c4"], "--strategy", "reset", "--yes")
    assert r.returncode == 0 and repo.remote_head() == c["c4"]


class _Health:
    def __init__(self, payload: dict) -> None:
        outer = self
        self.payload = payload

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                data = json.dumps(outer.payload).encode()
                self.send_response(200 if self.path == "/health" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, kwargs=SERVE, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def health_payload(rate: float, total: int, commit: str) -> dict:
    return {"ok": True, "metrics": {"requests_total": total, "error_rate": rate, "p95_latency_ms": 12.0,
                                    "invalid_json_rate": 0.0},
            "deployment": {"git_commit": commit[:8], "git_commit_full": commit, "deployed_at": "x"}}


def test_auto_rollback_from_health(repo):
    c = repo.commits
    assert run(repo, "manifest", "record", c["c4"]).returncode == 0
    assert run(repo, "manifest", "record", c["c5"]).returncode == 0
    health = _Health(health_payload(0.004, 500, c["c5"]))
    try:
        r = run(repo, "rollback", "--auto", "--health-url", health.url, "--error-budget", "0.01")
        assert r.returncode == 0 and "error rate 0.40% <= budget 1.00%" in r.stdout
        health.payload = health_payload(0.2, 500, c["c5"])
        r = run(repo, "rollback", "--auto", "--health-url", health.url, "--format", "json")
        data = json.loads(r.stdout)
        assert r.returncode == 1 and data["action"] == "dry-run" and data["reading"]["over_budget"] is True
        assert data["plan"]["target"] == c["c4"] and repo.remote_head() == c["c5"]
        r = run(repo, "rollback", "--auto", "--health-url", health.url, "--execute")
        assert r.returncode == 0, r.stdout + r.stderr
        assert repo.remote_tree() == repo.tree_of(c["c4"])
        audit = json.loads((repo.work / ".mosaic-diag/audit.log").read_text().splitlines()[-1])
        assert audit["reason"].startswith("error rate 20.00% > budget 1.00%")
    finally:
        health.stop()
    r = run(repo, "rollback", "--auto", "--health-url", health.url)
    assert r.returncode == 3 and "health URL" in r.stderr and "unreachable" in r.stderr


def record_deploys(repo, last_at=None) -> None:
    """c4 then c5 recorded as deployed in the file store, c5 an hour before the test logs end
    (T_END; or at `last_at`): log lines after that are c5's."""
    from datetime import timedelta

    from mosaic_diag.manifest import generate_manifest
    from mosaic_diag.manifest.store import FileDeployStore
    from tests.test_rollback import T_END

    last_at = last_at or T_END - timedelta(hours=1)
    for ref, at in (("c4", last_at - timedelta(hours=1)), ("c5", last_at)):
        store = FileDeployStore(repo.work / ".mosaic-diag" / "deploys.jsonl", clock=lambda at=at: at)
        store.record(generate_manifest(repo.work, repo.commits[ref], python_version="3.11.9"))


def audit_entries(repo) -> list[dict]:
    path = repo.work / ".mosaic-diag" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("shape", ["render-text", "render-api"])
def test_auto_rollback_from_a_log_names_what_failed(repo, tmp_path, shape):
    from tests.test_rollback import INCIDENT, T_END, WINDOW, build_log, expected_labels, traffic

    c = repo.commits
    record_deploys(repo)
    plan = traffic(INCIDENT, before_window=("json",))
    log = tmp_path / "incident.log"
    log.write_bytes(build_log(shape, plan))
    requests = sum(1 for ts, _ in plan if ts >= T_END - WINDOW)
    labels = expected_labels(INCIDENT)
    named = ", ".join(f"{k} {v}" for k, v in sorted(labels.items(), key=lambda kv: (-kv[1], kv[0])))
    assert named == "SQLITE_FALLBACK_ACTIVE 5, TYPE_MISMATCH 2"

    # over budget: a dry run that exits 1 and says what failed
    r = run(repo, "rollback", "--auto", "--log", str(log), "--window", "15m")
    assert r.returncode == 1, r.stdout + r.stderr
    rate = len(INCIDENT) / requests
    assert f"error rate {rate:.2%} > budget 1.00% over 15m: {named} ({len(INCIDENT)} error(s) in {requests}" in r.stdout
    assert "dry run: nothing changed (add --execute to roll back)" in r.stdout
    r = run(repo, "rollback", "--auto", "--log", str(log), "--format", "json")
    data = json.loads(r.stdout)
    assert r.returncode == 1 and data["action"] == "dry-run" and data["plan"]["target"] == c["c4"]
    assert data["reading"]["labels"] == labels and data["reading"]["requests"] == requests
    assert data["reading"]["errors"] == len(INCIDENT) and data["reading"]["over_budget"] is True
    assert repo.remote_head() == c["c5"] and audit_entries(repo) == []

    # within budget: exit 0, nothing planned
    r = run(repo, "rollback", "--auto", "--log", str(log), "--error-budget", "0.5", "--format", "json")
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["action"] == "none" and "plan" not in data
    assert data["reading"]["over_budget"] is False and data["reading"]["labels"] == labels

    # too few requests: no verdict, exit 0
    r = run(repo, "rollback", "--auto", "--log", str(log), "--min-requests", str(requests + 1))
    assert r.returncode == 0 and f"{requests} request(s) in 15m: too few to judge (need {requests + 1})" in r.stdout
    assert "plan (" not in r.stdout

    # --execute rolls back, and the audit log says why
    r = run(repo, "rollback", "--auto", "--log", str(log), "--execute")
    assert r.returncode == 0, r.stdout + r.stderr
    assert repo.remote_tree() == repo.tree_of(c["c4"])
    started, entry = audit_entries(repo)
    assert (started["result"], entry["result"]) == ("started", "done")
    assert entry["reason"].startswith(f"error rate {rate:.2%} > budget 1.00% over 15m: {named}")


def test_auto_rollback_from_a_calm_log(repo, tmp_path):
    """Failures long before the window do not spend the budget; /health probes are not requests; a 5xx
    answer without an error record does spend it."""
    from tests.test_rollback import build_log, traffic

    record_deploys(repo)
    plan = traffic((), before_window=("sqlite", "json", "sqlite"))
    log = tmp_path / "calm.log"
    data = build_log("render-text", plan).decode()
    last = data.splitlines()[-1]
    probe = last.replace("POST /wimd/ask", "GET /health")
    assert probe != last
    log.write_text(data + (probe + "\n") * 200)  # 200 health probes: they must not dilute the rate
    r = run(repo, "rollback", "--auto", "--log", str(log), "--window", "15m", "--format", "json")
    reading = json.loads(r.stdout)["reading"]
    assert r.returncode == 0, r.stdout + r.stderr
    assert reading["errors"] == 0 and reading["labels"] == {} and reading["server_errors"] == 0
    requests = reading["requests"]
    assert requests == sum(1 for ts, _ in plan if ts >= plan[-1][0] - timedelta(minutes=15))
    log.write_text(data + (probe + "\n") * 200 + last.replace('" 200 OK', '" 503 Service Unavailable') + "\n")
    r = run(repo, "rollback", "--auto", "--log", str(log), "--window", "15m", "--format", "json")
    reading = json.loads(r.stdout)["reading"]
    assert r.returncode == 1 and reading["server_errors"] == 1 and reading["requests"] == requests + 1
    assert reading["error_rate"] == pytest.approx(1 / (requests + 1)) and reading["over_budget"] is True
    r = run(repo, "rollback", "--auto", "--log", str(log), "--window", "1h")
    assert r.returncode == 1 and "SQLITE_FALLBACK_ACTIVE 2, TYPE_MISMATCH 1" in r.stdout
    assert repo.remote_head() == repo.commits["c5"]


def test_auto_rollback_log_errors(repo, tmp_path):
    record_deploys(repo)
    r = run(repo, "rollback", "--auto", "--log", str(tmp_path / "none.log"))
    assert r.returncode == 2 and r.stderr.startswith(f"mosaic-diag: error: {tmp_path / 'none.log'}: no such file")
    quiet = tmp_path / "no-access.log"
    quiet.write_text("2026-03-02T09:00:00.000000Z INFO:app:started\n")
    r = run(repo, "rollback", "--auto", "--log", str(quiet))
    assert r.returncode == 2 and "no request lines (access log) found" in r.stderr and "Traceback" not in r.stderr
    r = run(repo, "rollback", "--auto", "--log", str(quiet), "--window", "soon")
    assert r.returncode == 2 and "--window takes a duration" in r.stderr


def test_render_api_strategy_from_the_cli(repo):
    server = render_standin()
    try:
        c = repo.commits
        old = server.add_deploy(c["c4"])
        server.add_deploy(c["c5"])
        env = {"RENDER_API_KEY": server.api_key, "RENDER_SERVICE_ID": server.service_id,
               "MOSAIC_DIAG_ROLLBACK_RENDER_API_URL": server.base_url}
        r = run(repo, "predeploy", "--only", "render", "--format", "json", **env)  # autodeploy on: nothing to say
        assert r.returncode == 0 and [o["status"] for o in json.loads(r.stdout)["checks"]] == ["passed"], r.stdout
        r = run(repo, "predeploy", "--only", "render", "--format", "json")  # no service configured: skipped
        [outcome] = json.loads(r.stdout)["checks"]
        assert outcome["status"] == "skipped" and "RENDER_SERVICE_ID" in outcome["reason"]
        r = run(repo, "rollback", c["c4"], "--strategy", "render-api", "--dry-run", **env)
        assert r.returncode == 0 and f'{{"deployId": "{old["id"]}"}}' in r.stdout
        assert {m for m, _ in server.calls()} == {"GET"}
        r = run(repo, "rollback", c["c4"], "--strategy", "render-api", "--yes", **env)
        assert r.returncode == 0, r.stderr
        assert f"Render rollback to deploy {old['id']}" in r.stdout and server.api_key not in r.stdout + r.stderr
        assert "autodeploy was on and is now OFF" in r.stdout
        assert [m for m, _ in server.calls()][-3:] == ["GET", "PATCH", "POST"]
        assert server.deploys[0]["trigger"] == "rollback" and repo.remote_head() == c["c5"]
        # predeploy now warns that a push deploys nothing, naming the rollback that turned autodeploy off
        r = run(repo, "predeploy", "--only", "render", "--format", "json", **env)
        assert r.returncode == 0, r.stderr  # a warning: the default gate passes
        [msg] = [m for o in json.loads(r.stdout)["checks"] for m in o["results"]]
        assert msg["id"] == "MD-RENDER001" and msg["level"] == "warning"
        assert f"turned off by the render-api rollback to {c['c4'][:12]}" in msg["message"]
        assert server.api_key not in r.stdout
        r = run(repo, "predeploy", "--only", "render", "--fail-level", "warning", **env)
        assert r.returncode == 1 and "MD-RENDER001" in r.stdout
        r = run(repo, "rollback", c["c4"], "--strategy", "render-api", "--yes", "--render-deploy-id",
                server.deploys[1]["id"], **env)  # the c5 deploy: not a deploy of c4
        assert r.returncode == 2 and f"is of commit {c['c5'][:12]}, not {c['c4'][:12]}" in r.stdout
        r = run(repo, "rollback", c["c4"], "--render-deploy-id", old["id"], "--yes", **env)
        assert r.returncode == 2 and "--render-deploy-id goes with --strategy render-api" in r.stderr
        r = run(repo, "rollback", c["c4"], "--strategy", "render-api", "--yes",
                MOSAIC_DIAG_ROLLBACK_RENDER_API_URL=server.base_url)
        assert r.returncode == 2 and "needs RENDER_SERVICE_ID and RENDER_API_KEY" in r.stdout
        server.stop()  # Render's API down: predeploy says it could not look, and the gate still passes
        r = run(repo, "predeploy", "--only", "render", "--format", "json", **env)
        [msg] = [m for o in json.loads(r.stdout)["checks"] for m in o["results"]]
        assert r.returncode == 0 and msg["id"] == "MD-RENDER002" and "unreachable" in msg["message"]
    finally:
        server.stop()


def test_record_in_postgres_and_previous_from_it(repo, pg_db):
    c = repo.commits
    for ref in ("c4", "c5"):
        r = run(repo, "manifest", "record", c[ref], "--no-live-schema", "--format", "json", DATABASE_URL=pg_db)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["store"].startswith("postgresql table mosaic_diag_deploys")
    assert pg_db.split("//")[1].split("@")[0].split(":")[1] not in r.stdout  # the password is redacted
    assert not (repo.work / ".mosaic-diag" / "deploys.jsonl").exists()
    r = run(repo, "rollback", "--previous", "--yes", DATABASE_URL=pg_db)
    assert r.returncode == 0, r.stdout + r.stderr
    assert repo.remote_tree() == repo.tree_of(c["c4"])
    r = run(repo, "manifest", "history", "--format", "json", DATABASE_URL=pg_db)
    assert [(x["commit"], x["status"]) for x in json.loads(r.stdout)][:2] == [(repo.remote_head(), "rollback"),
                                                                             (c["c5"], "bad")]


FAKE_SIGNER = """#!/bin/sh
# a gpg that signs anything (git's protocol: the data on stdin, the signature on stdout, status on fd 2)
cat >/dev/null
printf '\\n[GNUPG:] SIG_CREATED D 1 8 00 1700000000 FAKE\\n' >&2
printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nZmFrZQ==\\n-----END PGP SIGNATURE-----\\n'
"""


def test_a_revert_commit_that_cannot_be_signed_is_one_line_and_nothing_is_pushed(repo, tmp_path):
    """commit.gpgSign = true and a gpg.program that fails (`false`): exit 2, one line saying what failed, that
    nothing was pushed and how to go on (a usable key, or signing off for this run: the operator's choice, never
    made here); signing off for the run as the line says goes through; with a signer that works the revert commit
    is signed (git commit-tree alone ignores commit.gpgSign)."""
    c = repo.commits
    git(repo.work, "config", "commit.gpgSign", "true")
    git(repo.work, "config", "gpg.program", "false")
    r = run(repo, "rollback", c["c4"], "--yes")
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mosaic-diag: error: the rollback commit could not be signed"), lines
    assert "gpg failed to sign the data" in lines[0] and "gpg.program is 'false'" in lines[0]
    assert "nothing was committed or pushed" in lines[0] and "Traceback" not in r.stderr
    assert repo.remote_head() == c["c5"]
    audit = [json.loads(line) for line in (repo.work / ".mosaic-diag" / "audit.log").read_text().splitlines()]
    assert audit[-1]["result"] == "failed" and "could not be signed" in audit[-1]["error"]
    # the way out the line names, taken by the operator: signing off for this run only
    r = run(repo, "rollback", c["c4"], "--yes", GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="commit.gpgSign",
            GIT_CONFIG_VALUE_0="false")
    assert r.returncode == 0, r.stderr
    reverted = repo.remote_head()
    assert repo.tree_of(reverted) == repo.tree_of(c["c4"])
    assert "gpgsig" not in git(repo.work, "cat-file", "commit", reverted)
    assert git(repo.work, "config", "commit.gpgSign") == "true"  # the config is left as the operator has it
    # a signer that works: the next revert commit is signed
    signer = tmp_path / "fake-gpg"
    signer.write_text(FAKE_SIGNER)
    signer.chmod(0o755)
    git(repo.work, "config", "gpg.program", str(signer))
    git(repo.work, "merge", "-q", "--ff-only", reverted)
    write(repo.work, "app.py", "VERSION = 6\n")
    sixth = commit_all(repo.work, "c6 app")
    git(repo.work, "push", "-q", "origin", "main")
    r = run(repo, "rollback", reverted, "--yes")
    assert r.returncode == 0, r.stderr
    head = repo.remote_head()
    assert head != sixth and "gpgsig -----BEGIN PGP SIGNATURE-----" in git(repo.work, "cat-file", "commit", head)


def test_untracked_files_do_not_refuse_a_rollback_and_are_named_in_a_note(repo):
    """`rollback --yes` with an untracked file in the checkout (never touched by it): done, exit 0, one note line
    naming it (JSON: the plan's `notes`); a tracked file changed is still the `dirty_tree` refusal, exit 1."""
    c = repo.commits
    write(repo.work, "debug.log", "local run\n")
    r = run(repo, "rollback", c["c4"], "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    notes = [line.strip() for line in r.stdout.splitlines() if line.strip().startswith("note:")]
    assert notes == ["note: 1 untracked file(s) (debug.log) left as they are: the rollback never touches the "
                     "checkout"], r.stdout
    assert repo.remote_tree() == repo.tree_of(c["c4"]) and (repo.work / "debug.log").read_text() == "local run\n"
    write(repo.work, "app.py", "local edit\n")
    r = run(repo, "rollback", c["c5"], "--yes", "--format", "json")  # (c5: also recorded bad now)
    plan = json.loads(r.stdout)["plan"]
    assert r.returncode == 1 and [x["code"] for x in plan["refusals"]] == ["dirty_tree", "recorded_bad"]
    assert "1 uncommitted change(s) (app.py)" in plan["refusals"][0]["message"] and len(plan["notes"]) == 1
