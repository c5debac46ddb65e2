"""Rollback core end to end with real git (a bare deploy remote, a clone, every strategy), and the
error budget of `--auto --log` read from real logs through the shared reader and classifier."""

from __future__ import annotations

import gzip
import json
import sqlite3
import traceback
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from examples.logshapes import access_message, format_record
from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.errors import ConfigError, ExitCode, UnreachableError, UsageError
from mosaic_diag.manifest import generate_manifest
from mosaic_diag.manifest.store import FileDeployStore
from mosaic_diag.platform.gitops import RemoteMoved
from mosaic_diag.platform.render_api import RenderTarget
from mosaic_diag.rollback import execute_rollback, plan_rollback, read_log
from tests.test_manifest_support import commit_all, deploy_repo, git, render_standin, set_git_env, write


@pytest.fixture
def repo(tmp_path, monkeypatch):
    set_git_env(monkeypatch)
    return deploy_repo(tmp_path)


def clock():
    return datetime(2025, 3, 4, 5, 6, tzinfo=UTC)


def audit_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_revert_end_to_end_keeps_history(repo, tmp_path):
    c = repo.commits
    plan = plan_rollback(repo.work, c["c4"])
    assert plan.ok and plan.deployed_sha == c["c5"] and plan.target_sha == c["c4"]
    assert [s.action for s in plan.steps] == ["commit", "push"]
    assert plan.undone == ((c["c5"], "c5 app", "Test Author <author@example.invalid>"),)
    text = "\n".join(plan.describe())
    assert "deployed: origin/main at " + c["c5"][:12] in text and "fast-forward (no force)" in text
    audit = tmp_path / "audit.log"
    result = execute_rollback(plan, audit_path=audit, clock=clock, reason="test")
    head = repo.remote_head()
    assert result.executed and result.remote_sha == head
    assert repo.remote_tree() == repo.tree_of(c["c4"])          # the remote's tree is the target's
    assert git(repo.remote, "rev-parse", f"{head}^") == c["c5"]  # history kept: a new commit on top
    assert git(repo.remote, "log", "-1", "--format=%s", head) == f"Roll back main to {c['c4'][:12]}"
    started, entry = audit_lines(audit)  # the intent before acting, the result after
    assert started["result"] == "started" and started["to"] == c["c4"] and "commit" not in started
    assert entry["action"] == "rollback" and entry["result"] == "done" and entry["strategy"] == "revert"
    assert (entry["from"], entry["to"], entry["commit"]) == (c["c5"], c["c4"], head)
    assert entry["when"] == clock().isoformat()
    assert git(repo.work, "rev-parse", "HEAD") == c["c5"]      # the checkout did not move
    assert git(repo.work, "status", "--porcelain") == ""


def test_dry_run_plan_moves_nothing(repo):
    before = repo.remote_head()
    plan = plan_rollback(repo.work, repo.commits["c4"], strategy="reset")
    assert plan.ok and plan.steps[0].description.startswith("move origin main from")
    assert f"--force-with-lease=refs/heads/main:{repo.commits['c5']}" in plan.steps[0].description
    assert repo.remote_head() == before


def test_schema_change_refused_unless_allowed(repo, tmp_path):
    c = repo.commits
    plan = plan_rollback(repo.work, c["c3"])
    assert [r.code for r in plan.refusals] == ["schema_change"] and plan.refusal_exit_code == ExitCode.FINDINGS
    assert plan.steps == () and "refused: schema changed" in "\n".join(plan.describe())
    with pytest.raises(UsageError):
        execute_rollback(plan, audit_path=tmp_path / "a.log")
    assert repo.remote_head() == c["c5"] and not (tmp_path / "a.log").exists()
    plan = plan_rollback(repo.work, c["c3"], allow_schema_change=True)
    assert plan.ok and plan.warnings and plan.diff.schema_changed
    execute_rollback(plan, audit_path=tmp_path / "a.log")
    assert repo.remote_tree() == repo.tree_of(c["c3"])


def test_reset_end_to_end(repo, tmp_path):
    c = repo.commits
    plan = plan_rollback(repo.work, c["c4"], strategy="reset")
    result = execute_rollback(plan, audit_path=tmp_path / "audit.log")
    assert repo.remote_head() == c["c4"] == result.remote_sha


def concurrent_push(repo, tmp_path) -> str:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo.remote), str(other))
    write(other, "hotfix.txt", "hotfix\n")
    sha = commit_all(other, "hotfix from a colleague")
    git(other, "push", "-q", "origin", "main")
    return sha


@pytest.mark.parametrize("strategy", ["reset", "revert"])
def test_concurrent_push_makes_the_push_fail(repo, tmp_path, strategy):
    plan = plan_rollback(repo.work, repo.commits["c4"], strategy=strategy)
    theirs = concurrent_push(repo, tmp_path)
    audit = tmp_path / "audit.log"
    with pytest.raises(RemoteMoved) as info:
        execute_rollback(plan, audit_path=audit)
    assert info.value.exit_code == ExitCode.FINDINGS
    assert str(info.value) == (f"remote moved: origin main is no longer at {repo.commits['c5'][:12]} (someone "
                               "pushed since the plan was made); nothing changed, look again and re-run")
    assert repo.remote_head() == theirs                      # their push survives
    assert [e["result"] for e in audit_lines(audit)] == ["started", "failed"]


def test_refusals_dirty_unknown_non_ancestor(repo, tmp_path):
    c = repo.commits
    plan = plan_rollback(repo.work, "0123456789abcdef0123456789abcdef01234567")
    assert [r.code for r in plan.refusals] == ["unknown_sha"] and plan.refusal_exit_code == ExitCode.USAGE
    git(repo.work, "checkout", "-q", "-b", "side", c["c2"])
    write(repo.work, "side.txt", "x")
    side = commit_all(repo.work, "side work")
    git(repo.work, "checkout", "-q", "main")
    plan = plan_rollback(repo.work, side)
    assert [r.code for r in plan.refusals] == ["not_ancestor"]
    write(repo.work, "app.py", "dirty\n")
    plan = plan_rollback(repo.work, c["c4"])
    assert [r.code for r in plan.refusals] == ["dirty_tree"] and "app.py" in plan.refusals[0].message
    assert repo.remote_head() == c["c5"]


def test_untracked_files_are_a_note_not_a_refusal_and_stay_as_they_are(repo, tmp_path):
    """The rollback commits the target's tree by its objects and pushes: it never touches the checkout, so an
    untracked file (a scratch note, a local .env, a build output) does not refuse it; the plan names them in a note.
    A change to a tracked file still refuses, counted alone."""
    c = repo.commits
    write(repo.work, "scratch/notes.txt", "what I tried\n")
    write(repo.work, "app.py.orig", "VERSION = 4\n")
    plan = plan_rollback(repo.work, c["c4"])
    assert plan.ok, plan.refusals
    assert plan.notes == ("2 untracked file(s) (app.py.orig, scratch/notes.txt) left as they are: the rollback "
                          "never touches the checkout",)
    assert "note: 2 untracked file(s) (app.py.orig, scratch/notes.txt)" in "\n".join(plan.describe())
    assert plan.to_dict()["notes"] == list(plan.notes)
    execute_rollback(plan, audit_path=tmp_path / "audit.log")
    assert repo.remote_tree() == repo.tree_of(c["c4"])
    assert git(repo.work, "rev-parse", "HEAD") == c["c5"]
    assert (repo.work / "scratch/notes.txt").read_text() == "what I tried\n"
    assert (repo.work / "app.py.orig").read_text() == "VERSION = 4\n"
    assert git(repo.work, "status", "--porcelain", "-uall") == "?? app.py.orig\n?? scratch/notes.txt"
    write(repo.work, "app.py", "local edit\n")  # a tracked file changed: refused, the untracked ones not counted
    plan = plan_rollback(repo.work, c["c3"], allow_schema_change=True)
    assert [r.message for r in plan.refusals] == [
        "the working tree has 1 uncommitted change(s) (app.py); commit or stash them first"]
    assert len(plan.notes) == 1 and plan.notes[0].startswith("2 untracked file(s)")


def test_nothing_to_do(repo, tmp_path):
    plan = plan_rollback(repo.work, "HEAD")
    assert plan.ok and plan.nothing_to_do and plan.describe()[-1].startswith("nothing to do")
    result = execute_rollback(plan, audit_path=tmp_path / "audit.log")
    assert not result.executed and not (tmp_path / "audit.log").exists()


def test_previous_uses_the_recorded_history(repo, tmp_path):
    c = repo.commits
    store = FileDeployStore(tmp_path / "deploys.jsonl")
    plan = plan_rollback(repo.work, previous=True, store=store)
    assert [r.code for r in plan.refusals] == ["no_previous"]
    for ref in ("c2", "c4", "c5"):
        store.record(generate_manifest(repo.work, c[ref], python_version="3.11.9"))
    plan = plan_rollback(repo.work, previous=True, store=store)
    assert plan.target_sha == c["c4"] and plan.target_ref.startswith("previous deploy #2")
    result = execute_rollback(plan, audit_path=tmp_path / "audit.log", store=store)
    statuses = [(r.commit, r.status) for r in store.history()]
    # the commit now deployed is the revert commit (c4's tree): that is what the store records
    assert statuses[:2] == [(result.remote_sha, "rollback"), (c["c5"], "bad")]
    assert repo.tree_of(result.remote_sha) == repo.tree_of(c["c4"])


def test_previous_refuses_a_record_whose_commit_is_a_ref(repo, tmp_path):
    """A store's row is text (PostgreSQL's is anyone's with the database's password): a commit `HEAD~1` was
    resolved by git to whatever it named at rollback time and rolled back to."""
    from mosaic_diag.manifest.store import DeployRecord

    class Rows:  # the rows a PostgresDeployStore would read
        description = "postgresql table deploys"

        def history(self, limit=None):
            return [DeployRecord(2, "2026-12-06T10:00:00+00:00", "HEAD~1", "main", "deployed", None, {})]

    plan = plan_rollback(repo.work, previous=True, store=Rows())
    assert [r.code for r in plan.refusals] == ["bad_record"] and plan.target_sha is None
    assert "deploy #2 in postgresql table deploys records 'HEAD~1', not a full commit id" in plan.refusals[0].message


def test_unreachable_remote(repo):
    git(repo.work, "remote", "set-url", "origin", str(repo.remote.parent / "gone.git"))
    with pytest.raises(UnreachableError, match="git remote 'origin' unreachable"):
        plan_rollback(repo.work, repo.commits["c4"])


@pytest.fixture
def render():
    server = render_standin()
    yield server
    server.stop()


def render_target(render) -> RenderTarget:
    return RenderTarget(render.base_url, render.service_id, render.api_key)


def test_render_api_rolls_back_to_renders_earlier_deploy(repo, tmp_path, render):
    c = repo.commits
    for ref in ("c2", "c4", "c4", "c5"):  # c4 was deployed twice: the newest deploy of it is taken
        render.add_deploy(c[ref])
    wanted = render.deploys[1]
    plan = plan_rollback(repo.work, c["c4"], strategy="render-api", render=render_target(render))
    assert plan.ok and plan.render_deploy_id == wanted["id"]
    assert [s.action for s in plan.steps] == ["render-autodeploy-off", "render-rollback"]
    assert {m for m, _ in render.calls()} == {"GET"}  # planning only reads
    audit = tmp_path / "audit.log"
    render.clear()
    result = execute_rollback(plan, audit_path=audit)
    sid = render.service_id
    assert [(r["method"], r["path"], r["body"]) for r in render.requests] == [
        ("GET", f"/v1/services/{sid}", None),
        ("PATCH", f"/v1/services/{sid}", {"autoDeploy": "no"}),
        ("POST", f"/v1/services/{sid}/rollback", {"deployId": wanted["id"]}),
    ]
    new = render.deploys[0]
    assert new["trigger"] == "rollback" and new["commit"]["id"] == c["c4"] and result.render_deploy == new["id"]
    assert render.autodeploy is False
    assert f"Render rollback to deploy {wanted['id']}" in result.message
    assert "autodeploy was on and is now OFF" in result.message
    assert repo.remote_head() == c["c5"]  # git untouched
    started, done = audit_lines(audit)
    assert (started["result"], done["result"], done["autodeploy_before"]) == ("started", "done", "yes")
    assert render.api_key not in audit.read_text() and done["render_deploy"] == new["id"]


def test_render_api_rebuilds_by_commit_only_without_an_earlier_deploy(repo, tmp_path, render):
    c = repo.commits
    render.add_deploy(c["c4"], "build_failed")  # a failed build is not a deploy to go back to
    render.add_deploy(c["c5"])
    render.autodeploy = False
    plan = plan_rollback(repo.work, c["c4"], strategy="render-api", render=render_target(render))
    assert plan.ok and plan.render_deploy_id is None
    assert [s.action for s in plan.steps] == ["render-autodeploy-off", "render-deploy"]
    assert any("it will be rebuilt by commit" in w for w in plan.warnings)
    result = execute_rollback(plan, audit_path=tmp_path / "audit.log")
    assert ("PATCH", f"/v1/services/{render.service_id}") not in render.calls()  # already off: left alone
    assert render.deploys[0]["trigger"] == "api" and render.deploys[0]["commit"]["id"] == c["c4"]
    assert "rebuild by commit" in result.message and "autodeploy was already off" in result.message


def test_render_api_hand_given_deploy_is_checked_against_the_commit(repo, render):
    c = repo.commits
    d2, d4 = render.add_deploy(c["c2"]), render.add_deploy(c["c4"])
    render.add_deploy(c["c5"])
    target = render_target(render)
    plan = plan_rollback(repo.work, c["c4"], strategy="render-api", render=target, render_deploy_id=d2["id"])
    assert [r.code for r in plan.refusals] == ["render_deploy_mismatch"] and plan.refusal_exit_code == ExitCode.USAGE
    assert f"is of commit {c['c2'][:12]}, not {c['c4'][:12]}" in plan.refusals[0].message
    plan = plan_rollback(repo.work, c["c4"], strategy="render-api", render=target, render_deploy_id=d4["id"])
    assert plan.ok and plan.render_deploy_id == d4["id"]
    with pytest.raises(ConfigError, match="answered 404"):
        plan_rollback(repo.work, c["c4"], strategy="render-api", render=target, render_deploy_id="dep-gone")


def test_render_api_failure_restores_autodeploy_or_says_it_is_off(repo, tmp_path, render):
    c = repo.commits
    render.add_deploy(c["c4"])
    render.add_deploy(c["c5"])
    plan = plan_rollback(repo.work, c["c4"], strategy="render-api", render=render_target(render))
    audit = tmp_path / "audit.log"
    render.fail("POST", "/rollback", 503)
    with pytest.raises(UnreachableError) as info:
        execute_rollback(plan, audit_path=audit)
    assert "answered 503" in str(info.value) and str(info.value).endswith("autodeploy turned back on")
    assert render.autodeploy is True and render.deploys[0]["commit"]["id"] == c["c5"]
    render.fail("POST", "/rollback", 500)
    render.fail("PATCH", "", 502, skip=1)  # turning it off works, turning it back on fails
    with pytest.raises(UnreachableError) as info:
        execute_rollback(plan, audit_path=audit)
    assert f"AUTODEPLOY IS STILL OFF for service {render.service_id}" in str(info.value)
    assert render.autodeploy is False
    assert [e["result"] for e in audit_lines(audit)] == ["started", "failed", "started", "failed"]
    assert "AUTODEPLOY IS STILL OFF" in audit_lines(audit)[-1]["error"]


def test_render_api_connections_closed_with_no_answer(repo, tmp_path, render):
    """A connection Render (or a proxy on the way) closes before answering: the autodeploy read and switches are
    asked again and the rollback goes on (they ended it, "unreachable", exit 3); the rollback's POST is never asked
    twice (the first may have started one): unreachable, and as it may have started, autodeploy is left off and
    said so (it was turned back on: the next push deployed over a rollback Render had started)."""
    c = repo.commits
    render.add_deploy(c["c4"])
    render.add_deploy(c["c5"])
    plan = plan_rollback(repo.work, c["c4"], strategy="render-api", render=render_target(render))
    audit = tmp_path / "audit.log"
    render.clear()
    render.hang_up("GET", "")
    render.hang_up("PATCH", "")
    render.hang_up("POST", "/rollback")
    with pytest.raises(UnreachableError) as info:
        execute_rollback(plan, audit_path=audit)
    assert "Server disconnected without sending a response" in str(info.value)
    assert f"Render may have started it, so AUTODEPLOY IS LEFT OFF for service {render.service_id}" in str(info.value)
    assert render.autodeploy is False and "AUTODEPLOY IS LEFT OFF" in audit_lines(audit)[-1]["error"]
    assert [m for m, _ in render.calls()] == ["GET", "GET", "PATCH", "PATCH", "POST"]
    assert render.deploys[0]["commit"]["id"] == c["c5"]
    render.autodeploy = True  # (the operator turned it back on in Render)
    render.hang_up("GET", "")
    render.hang_up("PATCH", "")
    result = execute_rollback(plan, audit_path=audit)
    assert result.executed and render.deploys[0]["commit"]["id"] == c["c4"] and render.autodeploy is False
    assert [e["result"] for e in audit_lines(audit)] == ["started", "failed", "started", "done"]


def test_render_api_without_its_configuration(repo):
    missing = plan_rollback(repo.work, repo.commits["c4"], strategy="render-api", render_missing=("RENDER_API_KEY",))
    assert [r.code for r in missing.refusals] == ["render_config"]
    assert missing.refusal_exit_code == ExitCode.USAGE


# -- the error budget of a log -------------------------------------------------------------------

T_END = datetime(2026, 3, 2, 9, 40, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
STORAGE_LOGGER = "api.storage"


def real_failures() -> dict[str, BaseException]:
    """Exceptions raised now by the real libraries (their tracebacks go into the logs)."""
    out: dict[str, BaseException] = {}
    try:
        sqlite3.connect(":memory:").execute("SELECT payload FROM sessions WHERE id = ?", (7,))
    except sqlite3.OperationalError as exc:
        out["sqlite"] = exc

    def load_session(text: str) -> object:
        return json.loads(text)

    try:
        load_session('{"user": 7,, "steps": []}')
    except json.JSONDecodeError as exc:
        out["json"] = exc
    return out


def traffic(in_window: tuple[str, ...], before_window: tuple[str, ...] = ()) -> list[tuple[datetime, str | None]]:
    """A request every 30 s for 40 minutes up to T_END; (time, failure key or None) per request.

    `in_window` failures land on every 4th request of the last 15 minutes, `before_window` ones on
    every 4th request of the first 20 minutes.
    """
    start = T_END - timedelta(minutes=40)
    plan: list[tuple[datetime, str | None]] = [(start + timedelta(seconds=30 * i), None) for i in range(81)]
    early = [i for i, (ts, _) in enumerate(plan) if ts < start + timedelta(minutes=20)][::4]
    late = [i for i, (ts, _) in enumerate(plan) if ts >= T_END - WINDOW][1::4]
    for keys, slots in ((before_window, early), (in_window, late)):
        assert len(keys) <= len(slots)
        for key, i in zip(keys, slots, strict=False):
            plan[i] = (plan[i][0], key)
    return plan


def build_log(shape: str, plan: list[tuple[datetime, str | None]]) -> bytes:
    """The app's log for `plan` in `shape`: a failing request logs its real traceback, then answers 500."""
    failures = real_failures()
    lines: list[str] = []
    seq = 0
    for ts, key in plan:
        if key is not None:
            tb = "".join(traceback.format_exception(failures[key]))
            lines += format_record(shape, ts=ts, level="ERROR", logger=STORAGE_LOGGER,
                                   message="session load failed", exc_text=tb, seq=seq)
            seq += 1
        status, phrase = (500, "Internal Server Error") if key else (200, "OK")
        lines += format_record(shape, ts=ts, level="INFO", logger="uvicorn.access",
                               message=access_message("10.0.0.1:40312", "POST", "/wimd/ask", status, phrase),
                               seq=seq)
        seq += 1
    return ("\n".join(lines) + "\n").encode()


def expected_labels(keys) -> dict[str, int]:
    """The labels the classifier gives the live exceptions (what the log pipeline must agree with)."""
    failures = real_failures()
    clf = Classifier.default()
    return dict(Counter(clf.classify_exception(failures[k], logger=STORAGE_LOGGER).label for k in keys))


INCIDENT = ("sqlite", "sqlite", "json", "sqlite", "json", "sqlite", "sqlite")


@pytest.mark.parametrize("shape", ["render-text", "render-api"])
def test_log_budget_counts_the_window_by_label(tmp_path, shape):
    plan = traffic(INCIDENT, before_window=("json", "json", "json"))
    log = tmp_path / "app.log"
    log.write_bytes(build_log(shape, plan))
    reading = read_log(log, budget=0.01, window=WINDOW, min_requests=10)
    in_window = [key for ts, key in plan if ts >= T_END - WINDOW]
    labels = expected_labels(INCIDENT)
    assert labels == {"SQLITE_FALLBACK_ACTIVE": 5, "TYPE_MISMATCH": 2}  # the taxonomy names them so
    assert reading.requests == len(in_window) and reading.errors == len(INCIDENT)
    assert dict(reading.labels) == labels and list(dict(reading.labels)) == ["SQLITE_FALLBACK_ACTIVE", "TYPE_MISMATCH"]
    assert reading.error_rate == pytest.approx(len(INCIDENT) / len(in_window))
    assert (reading.start, reading.end) == (T_END - WINDOW, T_END)
    assert reading.over_budget
    verdict = reading.verdict()
    assert verdict.startswith(f"error rate {len(INCIDENT) / len(in_window):.2%} > budget 1.00% over 15m: "
                              "SQLITE_FALLBACK_ACTIVE 5, TYPE_MISMATCH 2")
    # a window over the whole log takes the reader's own count, the early failures included
    whole = read_log(log, budget=0.01, window=timedelta(hours=2))
    assert whole.requests == len(plan) and whole.errors == len(INCIDENT) + 3
    assert dict(whole.labels) == {"SQLITE_FALLBACK_ACTIVE": 5, "TYPE_MISMATCH": 5}


def test_log_budget_failures_before_the_window_do_not_count(tmp_path):
    plan = traffic((), before_window=("sqlite", "json", "sqlite", "json"))
    log = tmp_path / "app.log.gz"
    log.write_bytes(gzip.compress(build_log("render-text", plan)))
    reading = read_log(log, budget=0.01, window=WINDOW, min_requests=10)
    assert reading.errors == 0 and reading.labels == () and not reading.over_budget
    assert reading.requests == sum(1 for ts, _ in plan if ts >= T_END - WINDOW)
    assert reading.verdict().startswith("error rate 0.00% <= budget 1.00% over 15m (0 error(s) in ")


def test_log_budget_too_few_requests_is_no_verdict(tmp_path):
    plan = traffic(("sqlite", "sqlite"))
    log = tmp_path / "app.log"
    log.write_bytes(build_log("render-api", plan))
    reading = read_log(log, budget=0.01, window=WINDOW, min_requests=1000)
    assert not reading.enough_traffic and not reading.over_budget
    assert reading.verdict().startswith(f"{reading.requests} request(s) in 15m: too few to judge (need 1000)")
    assert "SQLITE_FALLBACK_ACTIVE 2" in reading.verdict()


def test_log_budget_without_timestamps_is_one_window(tmp_path):
    plan = traffic(("json", "sqlite"), before_window=("sqlite",))
    log = tmp_path / "uvicorn.log"
    log.write_bytes(build_log("uvicorn", plan))  # uvicorn's own format has no timestamps
    reading = read_log(log, budget=0.5, window=WINDOW)
    assert reading.requests == len(plan) and reading.errors == 3 and reading.start is None
    assert dict(reading.labels) == {"SQLITE_FALLBACK_ACTIVE": 2, "TYPE_MISMATCH": 1}


def test_log_budget_reads_a_json_document(tmp_path):
    plan = traffic(INCIDENT)
    entries = [json.loads(line) for line in build_log("render-api", plan).decode().splitlines()]
    log = tmp_path / "page.json"
    log.write_text(json.dumps(entries, indent=2))  # a saved API answer: one pretty-printed array
    reading = read_log(log, budget=0.01, window=WINDOW)
    assert reading.requests == sum(1 for ts, _ in plan if ts >= T_END - WINDOW)
    assert dict(reading.labels) == expected_labels(INCIDENT)


def test_log_budget_bad_inputs(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        read_log(tmp_path / "missing.log", budget=0.01, window=WINDOW)
    failures = real_failures()
    lines = format_record("render-text", ts=T_END, level="ERROR", logger=STORAGE_LOGGER, message="boom",
                          exc_text="".join(traceback.format_exception(failures["sqlite"])))
    log = tmp_path / "errors-only.log"
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError, match="no request lines") as info:
        read_log(log, budget=0.01, window=WINDOW)
    assert info.value.path == str(log)
