"""`mosaic-diag deploy` checks what it ships: its predeploy step runs on a checkout of the commit it pushes
(real git, a bare remote, Render's stand-in; the CLI as its own process where an app is imported, so that
the import is the process's first). Untracked files take no part; the checkout is gone however it ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mosaic_diag.checks.predeploy import predeploy
from mosaic_diag.manifest.store import FileDeployStore
from mosaic_diag.platform import gitops
from tests import test_deploy
from tests.test_deploy import ROOT, FakeClock, app_log, change, deploy, remote_head
from tests.test_manifest_support import GIT_ENV, commit_all, git, write

# a real MD003 finding (a SQLite placeholder in a PostgreSQL app): the code rules fail on it
VIOLATION = "def load(cur, user_id):\n    cur.execute('SELECT email FROM users WHERE id = ?', (user_id,))\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """test_deploy's: a repository deployed once through Render's stand-in (autodeploy off), recorded good."""
    yield from test_deploy.project.__wrapped__(tmp_path, monkeypatch)


def checkout_gone(work: Path) -> None:
    """No checkout of the deploy's left: neither its directory nor git's registration of it."""
    repo = gitops.open_repo(work)
    assert not gitops.checkout_path(repo).exists()
    listed = [line for line in git(work, "worktree", "list", "--porcelain").splitlines()
              if line.startswith("worktree ")]
    assert listed == [f"worktree {work}"]


def deploy_cli(work: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """`mosaic-diag deploy --format json` as its own process (and process group, as a terminal runs it)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    full.update(GIT_ENV, PYTHONPATH=str(ROOT), MOSAIC_DIAG_RENDER_API_URL=os.environ["MOSAIC_DIAG_RENDER_API_URL"])
    full.update(env)
    return subprocess.Popen([sys.executable, "-m", "mosaic_diag", "deploy", "--log", str(work / "app.log"),
                             "--watch", "2s", "--poll-interval", "1s", "--no-rollback", "--format", "json", *args],
                            cwd=work, env=full, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def finished(proc: subprocess.Popen[str]) -> tuple[int, dict, str]:
    out, err = proc.communicate(timeout=300)
    try:
        return proc.returncode, json.loads(out), err
    except json.JSONDecodeError:
        raise AssertionError(f"exit {proc.returncode}\n{out}\n{err}") from None


def with_example_app(work: Path) -> None:
    """The example app in the repository (as examples/local_render.py seeds it), its predeploy golden case
    in-process: GET /health, which it answers with SQLite and no provider."""
    (work / "examples").mkdir()
    shutil.copy2(ROOT / "examples" / "__init__.py", work / "examples" / "__init__.py")
    shutil.copytree(ROOT / "examples" / "mosaic_app", work / "examples" / "mosaic_app",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    write(work, "golden/health.yml", "cases:\n  - id: health\n    path: /health\n    expect: {status: 200}\n")
    write(work, "pyproject.toml", test_deploy.CONFIG + 'golden_app = "examples.mosaic_app.main:app"\n'
          "timeout = 120\n")
    write(work, ".gitignore", ".mosaic-diag/\napp.log\n__pycache__/\n")


def test_an_untracked_module_the_app_imports_fails_the_golden_check_and_nothing_is_pushed(project, tmp_path):
    """The classic forgotten `git add`: the app imports a new module that is only in the working tree. It
    imported there (and the golden case passed); Render, building the pushed commit, would fail. Deploy's
    predeploy imports the commit's app: MD-GOLDEN002 naming the module, blocked, nothing recorded or pushed.
    Once added and committed, the same deploy goes through. The checkout is gone after either."""
    work, remote, render, first = project
    with_example_app(work)
    main = work / "examples" / "mosaic_app" / "main.py"
    main.write_text(main.read_text().replace(
        "from examples.mosaic_app.metrics import RollingMetrics\n",
        "from examples.mosaic_app.metrics import RollingMetrics\nfrom examples.mosaic_app.quotas import QUOTA\n"))
    second = commit_all(work, "the app reads its quotas")
    write(work, "examples/mosaic_app/quotas.py", "QUOTA = 10\n")  # forgotten: never added
    (work / "app.log").touch()
    env = {"SQLITE_PATH": str(tmp_path / "app.sqlite3")}

    code, report, err = finished(deploy_cli(work, **env))
    step = next(s for s in report["steps"] if s["step"] == "predeploy")
    assert (code, report["verdict"], step["status"]) == (1, "blocked", "failed"), json.dumps(report, indent=1)
    (failure,) = step["details"]["failing"]
    assert failure["id"] == "MD-GOLDEN002"
    assert "No module named 'examples.mosaic_app.quotas'" in failure["message"], failure
    assert "1 untracked file(s) not deployed (examples/mosaic_app/quotas.py)" in err
    assert remote_head(work, remote) == first
    assert [s["step"] for s in report["steps"]] == ["preflight", "predeploy"]  # nothing recorded
    assert [r.commit for r in FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()] == [first]
    checkout_gone(work)

    third = commit_all(work, "add the quotas module")
    assert third != second
    code, report, err = finished(deploy_cli(work, **env))
    step = next(s for s in report["steps"] if s["step"] == "predeploy")
    assert step["status"] == "ok" and step["message"].endswith(f"on a checkout of {third[:12]}"), step
    assert remote_head(work, remote) == third
    checkout_gone(work)


def test_an_untracked_file_with_a_lint_finding_blocks_nothing_and_predeploy_alone_still_reads_it(project):
    """An untracked scratch file is not deployed: its MD003 finding does not block the deploy (it did when
    the working tree was checked); `mosaic-diag predeploy` alone still checks the working tree, and finds it.
    A checkout a killed run left (with a file written in it) is removed first; the new one after the run."""
    work, remote, render, first = project
    second = change(work, "2", "second")
    write(work, "scratch.py", VIOLATION)
    repo = gitops.open_repo(work)
    stale = gitops.checkout_path(repo)
    stale.parent.mkdir(parents=True)
    git(work, "worktree", "add", "--detach", "-q", str(stale), first)  # what a SIGKILL'd deploy leaves
    write(stale, "junk.txt", "left\n")

    alone = predeploy(work, os.environ, only=["lint"])
    assert [r.id for r in alone.failing] == ["MD-LINT001"] and alone.failing[0].location == "scratch.py:2:53"
    clock = FakeClock()
    clock.on_sleep = lambda: app_log(work / "app.log", fail=False)
    report = deploy(work, clock)
    assert (report.verdict, report.exit_code) == ("good", 0), report.to_dict()
    assert remote_head(work, remote) == second
    checkout_gone(work)


def test_the_operators_untracked_config_file_applies_to_the_commits_checkout(project):
    """Settings come from the operator's checkout, as the deploy itself reads them: an untracked
    mosaic-diag.toml (ignoring MD003 there) governs the checks of the commit's checkout; relative paths in it
    name the commit's files, mosaic-diag's own state (deploy store, audit log) stays in the operator's checkout."""
    work, remote, render, first = project
    write(work, "app/db.py", VIOLATION)
    second = change(work, "2", "a query with a SQLite placeholder")
    clock = FakeClock()
    clock.on_sleep = lambda: app_log(work / "app.log", fail=False)
    report = deploy(work, clock)
    assert (report.verdict, report.exit_code) == ("blocked", 1), report.to_dict()
    (failure,) = report.steps[-1].details["failing"]
    assert (failure["id"], failure["location"]) == ("MD-LINT001", "app/db.py:2:53")
    checkout_gone(work)

    write(work, "mosaic-diag.toml", test_deploy.CONFIG.replace("[tool.mosaic-diag]\n", "").replace(
        "[tool.mosaic-diag.predeploy]", "[lint]\nignore = [\"MD003\"]\n[predeploy]"))
    report = deploy(work, FakeClock())
    assert (report.verdict, report.exit_code) == ("good", 0), report.to_dict()
    assert remote_head(work, remote) == second
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert (history[0].commit, history[0].status) == (second, "deployed")
    checkout_gone(work)


def test_ctrl_c_during_the_predeploy_checks_removes_the_checkout(project, tmp_path):
    """Ctrl-C while the checks run on the checkout (the app's import is under way): exit 130 naming the step,
    nothing pushed, and neither the checkout nor its registration is left."""
    work, remote, render, first = project
    marker = tmp_path / "importing"
    write(work, "slowapp.py", f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\ntime.sleep(60)\n"
          "app = None\n")
    write(work, "golden/ping.yml", "cases:\n  - id: ping\n    path: /\n    expect: {status: 200}\n")
    write(work, "pyproject.toml", test_deploy.CONFIG + 'golden_app = "slowapp:app"\ntimeout = 120\n')
    change(work, "2", "a slow app")
    proc = deploy_cli(work)
    while not marker.exists() and proc.poll() is None:
        threading.Event().wait(0.05)
    assert gitops.checkout_path(gitops.open_repo(work)).is_dir()
    os.killpg(proc.pid, signal.SIGINT)
    code, report, err = finished(proc)
    assert code == 130 and report["reason"] == "interrupted during predeploy", json.dumps(report, indent=1)
    assert remote_head(work, remote) == first
    checkout_gone(work)


def test_settings_read_against_a_checkout_move_its_files_not_mosaic_diags_state(tmp_path):
    """`Config.reading_from`: a relative path of the file or the environment names the checkout's file, except
    mosaic-diag's own state (set, from the environment, or by default) and its own playbooks and rules, which
    stay in the operator's checkout; `fixed` wins over both; the operator's settings are left as they were."""
    from mosaic_diag.config import Config

    operator, checkout = tmp_path / "work", tmp_path / "checkout"
    values = {"predeploy": {"schema": "db/schema.sql"}, "audit_log": "logs/audit.log", "lint": {"cache_dir": "c"},
              "playbooks": {"dir": "ops/playbooks"}}
    cfg = Config(root=operator, values=values, env={"MOSAIC_DIAG_DEPLOY_STORE": "store.jsonl",
                                                    "MOSAIC_DIAG_PREDEPLOY_PS101_STEPS": "p.json"})
    moved = cfg.reading_from(checkout, fixed={"lint.cache_dir": str(tmp_path / "cache")})
    assert moved.path("predeploy.schema") == checkout / "db" / "schema.sql"
    assert moved.path("predeploy.ps101_steps") == checkout / "p.json"
    assert moved.path("audit_log") == operator / "logs" / "audit.log"
    assert moved.path("deploy_store") == operator / "store.jsonl"
    assert moved.path("playbooks.state_file") == operator / ".mosaic-diag" / "actions.json"
    assert moved.path("lint.cache_dir") == tmp_path / "cache"
    assert moved.path("playbooks.dir") == operator / "ops" / "playbooks" and moved.path("rules") is None
    assert cfg.values == {"predeploy": {"schema": "db/schema.sql"}, "audit_log": "logs/audit.log",
                          "lint": {"cache_dir": "c"}, "playbooks": {"dir": "ops/playbooks"}}
    assert cfg.path("lint.cache_dir") == operator / "c"


def _shop(work: Path, greeting: str) -> None:
    """A Starlette app `shop:app` whose one route answers the TEXT of module `greeting`, and its golden case."""
    write(work, "shop.py", "from starlette.applications import Starlette\nfrom starlette.responses import "
          f"PlainTextResponse\nfrom starlette.routing import Route\n\nfrom {greeting} import TEXT\n\n\n"
          "async def hello(request):\n    return PlainTextResponse(TEXT)\n\n"
          "app = Starlette(routes=[Route('/', hello)])\n")
    write(work, "golden/hello.yml", "cases:\n  - id: hello\n    path: /\n    expect: {status: 200}\n")
    write(work, "pyproject.toml", test_deploy.CONFIG + 'golden_app = "shop:app"\ntimeout = 60\n')


def test_an_untracked_top_level_module_found_through_the_import_path_is_not_imported(project, tmp_path):
    """`python -m mosaic_diag deploy` in the repository puts its directory first on the import path (and so does
    PYTHONPATH=. or src/): the import path's entries into the working tree point into the checkout while the
    checks run, so a top-level module only in the working tree is not found there either."""
    work, remote, render, first = project
    _shop(work, "greeting")
    change(work, "2", "a shop that greets")
    write(work, "greeting.py", "TEXT = 'hello'\n")  # forgotten: never added
    code, report, err = finished(deploy_cli(work, PYTHONPATH=os.pathsep.join((str(ROOT), str(work)))))
    step = next(s for s in report["steps"] if s["step"] == "predeploy")
    assert (code, report["verdict"]) == (1, "blocked"), json.dumps(report, indent=1)
    (failure,) = step["details"]["failing"]
    assert failure["id"] == "MD-GOLDEN002" and "No module named 'greeting'" in failure["message"], failure
    assert remote_head(work, remote) == first
    checkout_gone(work)


@pytest.mark.parametrize("taken", ["symlink", "file", "parent-symlink"])
def test_a_checkout_path_taken_by_a_link_or_a_file_is_replaced_never_followed(tmp_path, monkeypatch, taken):
    """The checkout's place in the git directory, taken by what no deploy made there: a symlink to a directory of
    the operator's was resolved, then that directory 'removed as a stale checkout' (`rmtree` of its target: the
    operator's files gone); a file made the checkout fail. The link or the file is removed (never followed), the
    checkout made in the git directory, and the link's target keeps its files."""
    from tests.test_manifest_support import set_git_env

    set_git_env(monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    write(work, "app.py", "print('hi')\n")
    sha = commit_all(work, "first")
    victim = tmp_path / "operators-files"
    write(victim, "notes.txt", "precious\n")
    write(victim, "deploy-checkout/keep.txt", "mine\n")
    repo = gitops.open_repo(work)
    place = work / ".git" / "mosaic-diag" / "deploy-checkout"
    if taken == "parent-symlink":
        place.parent.symlink_to(victim, target_is_directory=True)
    else:
        place.parent.mkdir()
        if taken == "symlink":
            place.symlink_to(victim, target_is_directory=True)
        else:
            place.write_text("not a checkout\n")
    with gitops.commit_checkout(repo, sha) as tree:
        assert tree == place and not tree.parent.is_symlink() and not tree.is_symlink()
        assert (tree / "app.py").read_text() == "print('hi')\n"
    assert (victim / "notes.txt").read_text() == "precious\n"
    assert (victim / "deploy-checkout" / "keep.txt").read_text() == "mine\n"
    checkout_gone(work)


@pytest.mark.parametrize("locked", [False, True])
def test_a_checkout_a_killed_run_left_is_unregistered_alone_never_the_operators_other_worktrees(tmp_path, monkeypatch,
                                                                                               locked):
    """A killed run's checkout whose directory is gone but whose registration is left: the next one ran `git worktree
    prune`, which also dropped the registration of every other worktree of the clone whose directory was not there
    just then (one on a disk not mounted, a network share): its files left pointing at nothing (`not a git
    repository`), its branch free to be checked out twice. Only the deploy's own registration goes (a locked one
    too, which `git worktree remove --force` refuses: its administrative directory is removed)."""
    from tests.test_manifest_support import set_git_env

    set_git_env(monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    write(work, "app.py", "print('hi')\n")
    sha = commit_all(work, "first")
    elsewhere = tmp_path / "usb" / "feature-wt"
    git(work, "worktree", "add", "-q", "-b", "feature", str(elsewhere))
    shutil.move(str(tmp_path / "usb"), str(tmp_path / "usb-unmounted"))  # the disk is away for now
    repo = gitops.open_repo(work)
    place = gitops.checkout_path(repo)
    place.parent.mkdir(parents=True)
    git(work, "worktree", "add", "-q", "--detach", str(place), sha)
    if locked:
        git(work, "worktree", "lock", "--reason", "someone's", str(place))
    shutil.rmtree(place)  # what a run killed after removing the directory leaves
    with gitops.commit_checkout(repo, sha) as tree:
        assert (tree / "app.py").read_text() == "print('hi')\n"
    listed = git(work, "worktree", "list", "--porcelain").splitlines()
    assert [line for line in listed if line.startswith("worktree ")] == [f"worktree {work}", f"worktree {elsewhere}"]
    shutil.move(str(tmp_path / "usb-unmounted"), str(tmp_path / "usb"))  # back: it is a worktree as before
    assert git(elsewhere, "rev-parse", "--abbrev-ref", "HEAD") == "feature"


@pytest.mark.slow
def test_a_submodule_the_app_imports_is_in_the_checkout_and_one_not_initialized_is_named(project, tmp_path):
    """The checkout of the commit had no submodule's content (`git worktree add` leaves a gitlink an empty
    directory): an app importing a module of its submodule failed the golden import (MD-GOLDEN002) on a checkout
    of a commit a build that clones the submodules runs. The checkout gets each submodule's files at the commit the
    superproject records, from the operator's clone of it (nested ones too); a submodule the clone never
    initialized is a warning naming it, the check failing as it must without it."""
    work, remote, render, first = project
    lib = tmp_path / "greeting-lib"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "main")
    write(lib, "greeting/__init__.py", "")
    write(lib, "greeting/text.py", "TEXT = 'hello'\n")
    commit_all(lib, "greeting")
    git(work, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendored")
    _shop(work, "vendored.greeting.text")
    second = change(work, "2", "a shop that greets from its submodule")
    code, report, err = finished(deploy_cli(work))
    step = next(s for s in report["steps"] if s["step"] == "predeploy")
    assert step["status"] == "ok" and report["warnings"] == [], json.dumps(report, indent=1)
    assert remote_head(work, remote) == second
    checkout_gone(work)
    assert git(work / "vendored", "status", "--porcelain") == ""  # the submodule's clone as it was

    git(work, "submodule", "deinit", "-q", "--force", "vendored")
    third = change(work, "3", "another")
    code, report, err = finished(deploy_cli(work))
    step = next(s for s in report["steps"] if s["step"] == "predeploy")
    assert (code, report["verdict"]) == (1, "blocked"), json.dumps(report, indent=1)
    (failure,) = step["details"]["failing"]
    assert "No module named 'vendored.greeting'" in failure["message"], failure
    link = git(work, "rev-parse", f"{third}:vendored")
    assert report["warnings"] == [f"submodule vendored (at {link[:12]}) is not initialized in {work}: the checks ran "
                                  "without its content (git submodule update --init, then deploy again)"]
    assert report["warnings"][0] in err
    assert remote_head(work, remote) == second
    checkout_gone(work)


def test_nested_submodules_are_filled_and_one_whose_commit_the_clone_lacks_is_named(tmp_path, monkeypatch):
    """`fill_submodules` on real nested submodules: the checkout gets a submodule's submodule too; a gitlink naming a
    commit the operator's clone of it never fetched is named, its directory left empty."""
    from tests.test_manifest_support import set_git_env

    set_git_env(monkeypatch)
    allow = ("-c", "protocol.file.allow=always")
    for name in ("inner", "mid", "top"):
        git(tmp_path, "init", "-q", "-b", "main", name)
        write(tmp_path / name, f"{name}.txt", f"{name}\n")
    commit_all(tmp_path / "inner", "inner")
    git(tmp_path / "mid", *allow, "submodule", "add", "-q", str(tmp_path / "inner"), "inner")
    commit_all(tmp_path / "mid", "mid")
    top = tmp_path / "top"
    git(top, *allow, "submodule", "add", "-q", str(tmp_path / "mid"), "libs/mid")
    git(top, *allow, "submodule", "update", "-q", "--init", "--recursive")
    sha = commit_all(top, "top")
    repo = gitops.open_repo(top)
    with gitops.commit_checkout(repo, sha) as tree:
        assert gitops.fill_submodules(repo, tree, sha) == []
        assert (tree / "libs" / "mid" / "mid.txt").read_text() == "mid\n"
        assert (tree / "libs" / "mid" / "inner" / "inner.txt").read_text() == "inner\n"
    write(tmp_path / "mid", "mid.txt", "newer\n")
    newer = commit_all(tmp_path / "mid", "newer")  # never fetched into top's clone of it
    git(top, "update-index", "--cacheinfo", f"160000,{newer},libs/mid")
    git(top, "commit", "-q", "-m", "bump")
    sha = git(top, "rev-parse", "HEAD")
    with gitops.commit_checkout(repo, sha) as tree:
        assert gitops.fill_submodules(repo, tree, sha) == [
            f"submodule libs/mid: its clone in {top / 'libs' / 'mid'} lacks the commit {newer[:12]} the superproject "
            "records: the checks ran without its content (git submodule update, then deploy again)"]
        assert list((tree / "libs" / "mid").iterdir()) == []
    assert git(top / "libs" / "mid", "status", "--porcelain") == ""
    checkout_gone(top)
