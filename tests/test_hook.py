"""The git pre-commit hook with real repositories and real `git commit`; the pre-commit framework."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mosaic_diag.lint.hook import script
from tests.cli_inproc import run_cli
from tests.repo_cache import copied_repos

ROOT = Path(__file__).resolve().parent.parent
BAD = "def load(email):\n    conn = get_conn()\n    return conn\n"
GOOD = "def load(email):\n    with get_conn() as conn:\n        return conn.cursor()\n"


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=check, timeout=60)


def diag(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd=repo, env=env, replace_env=env is not None)  # (in this process: tests/cli_inproc.py)


def _build_repo(root: Path) -> None:
    path = root / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "user.name", "Dev")
    (path / "README.md").write_text("x\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "init")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit, a private copy of one built once a process (tests/repo_cache.py)."""
    copied_repos(tmp_path, "test_hook.repo", _build_repo)
    return tmp_path / "repo"


def commit(repo: Path, message: str = "change") -> subprocess.CompletedProcess[str]:
    return git(repo, "commit", "-m", message, check=False)


def test_commit_refused_on_staged_content_then_accepted(repo: Path) -> None:
    r = diag(repo, "hook", "install")
    assert r.returncode == 0 and r.stdout.startswith("installed: ")
    (repo / "api").mkdir()
    (repo / "api" / "storage.py").write_text(BAD)
    git(repo, "add", "api/storage.py")
    r = commit(repo)
    assert r.returncode == 1
    assert "api/storage.py:2:12: MD001 get_conn() used outside `with`" in r.stdout + r.stderr
    assert "commit refused" in r.stderr
    # fixed in the working tree but not staged: the staged blob is what counts
    (repo / "api" / "storage.py").write_text(GOOD)
    assert commit(repo).returncode == 1
    git(repo, "add", "api/storage.py")
    r = commit(repo)
    assert r.returncode == 0, r.stdout + r.stderr
    assert git(repo, "log", "--format=%s", "-1").stdout.strip() == "change"


def test_only_staged_python_files_are_linted(repo: Path) -> None:
    diag(repo, "hook", "install")
    (repo / "notes.txt").write_text("conn = get_conn()\n")
    (repo / "untracked.py").write_text(BAD)
    git(repo, "add", "notes.txt")
    assert commit(repo).returncode == 0
    # a deletion of a bad file is fine too
    (repo / "old.py").write_text("x = 1\n")
    git(repo, "add", "old.py")
    assert commit(repo).returncode == 0


def test_unparsable_staged_file_refuses_with_its_line(repo: Path) -> None:
    diag(repo, "hook", "install")
    (repo / "broken.py").write_text("x = (\n")
    git(repo, "add", "broken.py")
    r = commit(repo)
    assert r.returncode != 0 and "mosaic-diag: error: broken.py:1: cannot parse" in r.stderr


def test_a_staged_file_too_large_to_parse_refuses_with_its_size(repo: Path) -> None:
    from tests.test_lint_hostile import _over_the_limit

    diag(repo, "hook", "install")
    _over_the_limit(repo / "generated.py")
    git(repo, "add", "generated.py")
    r = commit(repo)
    assert r.returncode != 0 and "mosaic-diag: error: generated.py:1: cannot parse: 4.0 MiB, over the 4 MiB" in r.stderr


def test_install_is_idempotent_and_uninstall_removes(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    diag(repo, "hook", "install")
    first = hook.read_text()
    r = diag(repo, "hook", "install", "--format", "json")
    assert json.loads(r.stdout)["action"] == "unchanged" and hook.read_text() == first
    assert os.access(hook, os.X_OK)
    assert not (repo / ".git" / "hooks" / "pre-commit.mosaic-diag-chained").exists()
    r = diag(repo, "hook", "uninstall")
    assert r.returncode == 0 and r.stdout.startswith("uninstalled: ") and not hook.exists()
    assert diag(repo, "hook", "uninstall").stdout.startswith("absent: ")


def test_existing_hook_is_chained_first_and_restored(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    original = "#!/bin/sh\necho ran >> \"$(git rev-parse --show-toplevel)/.git/chained.log\"\nexit 0\n"
    hook.write_text(original)
    hook.chmod(0o755)
    r = diag(repo, "hook", "install")
    assert "existing hook chained" in r.stdout
    (repo / "a.py").write_text(GOOD)
    git(repo, "add", "a.py")
    assert commit(repo).returncode == 0
    assert (repo / ".git" / "chained.log").read_text() == "ran\n"
    # the chained hook's failure refuses the commit although the lint is clean
    chained = repo / ".git" / "hooks" / "pre-commit.mosaic-diag-chained"
    chained.write_text("#!/bin/sh\necho chained says no >&2\nexit 3\n")
    (repo / "b.py").write_text(GOOD)
    git(repo, "add", "b.py")
    r = commit(repo)
    assert r.returncode != 0 and "chained says no" in r.stderr
    chained.write_text(original)
    assert diag(repo, "hook", "install").stdout.startswith("unchanged: ")
    r = diag(repo, "hook", "uninstall")
    assert r.stdout.startswith("restored: ") and hook.read_text() == original and not chained.exists()



# husky's hooks find the team's hook by their own file name: v9 `.husky/_/pre-commit` sources `.husky/_/h`, which
# runs `.husky/<basename "$0">`; v4's `.git/hooks/pre-commit` hands `basename "$0"` to its runner
_BY_NAME_V9 = {"pre-commit": '#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n',
               "h": '#!/usr/bin/env sh\nn=$(basename "$0")\ns=$(dirname "$(dirname "$0")")/$n\n'
                    '[ ! -f "$s" ] && exit 0\nsh -e "$s" "$@"\n'}
_BY_NAME_V4 = {"pre-commit": '#!/bin/sh\nhookName=`basename "$0"`\nhooks="$(git rev-parse --show-toplevel)/.hooks"\n'
                             '[ -f "$hooks/$hookName" ] || exit 0\nsh -e "$hooks/$hookName"\n'}


@pytest.mark.parametrize(("hooks_path", "files", "team_hook"), [
    (".husky/_", _BY_NAME_V9, ".husky/pre-commit"),
    (None, _BY_NAME_V4, ".hooks/pre-commit"),
], ids=["husky-v9", "husky-v4"])
def test_a_hook_that_runs_by_its_own_name_is_not_chained(repo: Path, hooks_path: str | None, files: dict[str, str],
                                                         team_hook: str) -> None:
    """A husky hook moved aside to pre-commit.mosaic-diag-chained looked for the team's hook under that name, found
    none and let every commit through: `hook install` silently turned the team's pre-commit checks off. It is
    refused instead (exit 2), the hook left where it is, still refusing what it refused."""
    if hooks_path is not None:
        git(repo, "config", "core.hooksPath", hooks_path)
    directory = repo / (hooks_path or ".git/hooks")
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
        (directory / name).chmod(0o755)
    (repo / team_hook).parent.mkdir(exist_ok=True)
    (repo / team_hook).write_text("echo the team hook says no >&2\nexit 1\n")
    (repo / "a.py").write_text(GOOD)
    git(repo, "add", "a.py")
    assert "the team hook says no" in commit(repo).stderr
    r = diag(repo, "hook", "install")
    assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
    assert r.stderr.startswith(f"mosaic-diag: error: {directory / 'pre-commit'}: the existing pre-commit hook finds "
                               "what to run by its own file name"), r.stderr
    assert {name: (directory / name).read_text() for name in files} == files
    assert not (directory / "pre-commit.mosaic-diag-chained").exists()
    r = commit(repo)
    assert r.returncode != 0 and "the team hook says no" in r.stderr
    (directory / "pre-commit").rename(directory / "pre-commit.mosaic-diag-chained")  # as an older version left it
    (directory / "pre-commit").write_text(script(sys.executable))
    r = diag(repo, "hook", "install")
    assert r.returncode == 2 and "the chained hook pre-commit.mosaic-diag-chained finds what to run by its own file " \
        "name" in r.stderr, r.stdout + r.stderr
    assert diag(repo, "hook", "uninstall").stdout.startswith("restored: ")
    assert (directory / "pre-commit").read_text() == files["pre-commit"]


def test_a_directory_in_the_hooks_place_is_refused_not_chained(repo: Path) -> None:
    """A directory named pre-commit was moved aside as the chained hook, which the script then ran (`[ -x ]`
    holds for a directory): every commit failed with 'Permission denied'."""
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.mkdir(parents=True)
    r = diag(repo, "hook", "install")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"mosaic-diag: error: {hook}: is a directory, not a hook script: move it away first\n"
    assert hook.is_dir() and not (hook.parent / "pre-commit.mosaic-diag-chained").exists()
    hook.rmdir()
    assert diag(repo, "hook", "install").returncode == 0
    (hook.parent / "pre-commit.mosaic-diag-chained").mkdir()  # one put there later is no hook either
    (repo / "a.py").write_text(GOOD)
    git(repo, "add", "a.py")
    r = commit(repo)
    assert r.returncode == 0, r.stdout + r.stderr

def test_foreign_hook_is_not_uninstalled(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    r = diag(repo, "hook", "uninstall")
    assert r.returncode == 2 and "is not a mosaic-diag hook" in r.stderr and hook.exists()


def test_core_hooks_path_is_honoured(repo: Path) -> None:
    git(repo, "config", "core.hooksPath", ".githooks")
    r = diag(repo, "hook", "install")
    assert (repo / ".githooks" / "pre-commit").is_file(), r.stdout
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    (repo / "bad.py").write_text(BAD)
    git(repo, "add", "bad.py")
    assert commit(repo).returncode == 1


def test_a_hooks_directory_the_repository_tracks_keeps_the_teams_hook(repo: Path) -> None:
    """core.hooksPath .githooks, a directory the team commits: its tracked pre-commit hook was moved aside and
    replaced by ours, and the next `git commit -a` gave every clone our script with this machine's interpreter
    path. Refused (exit 2, the file untouched) with what to add to it instead; a hook written into an untracked,
    unignored directory of the tree is said (`git add -A` would commit it); an ignored one is not."""
    team = "#!/bin/sh\necho team checks\n"
    (repo / ".githooks").mkdir()
    (repo / ".githooks" / "pre-commit").write_text(team)
    (repo / ".githooks" / "pre-commit").chmod(0o755)
    git(repo, "add", ".githooks/pre-commit")
    git(repo, "commit", "-q", "-m", "team hooks")
    git(repo, "config", "core.hooksPath", ".githooks")
    r = diag(repo, "hook", "install")
    assert r.returncode == 2 and "a file this repository tracks" in r.stderr and "mosaic_diag.lint.hook run" in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert (repo / ".githooks" / "pre-commit").read_text() == team
    assert not (repo / ".githooks" / "pre-commit.mosaic-diag-chained").exists()
    assert git(repo, "status", "--porcelain").stdout == ""
    git(repo, "config", "core.hooksPath", "hooks-here")
    r = diag(repo, "hook", "install", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["in_tree"] is True, r.stdout
    assert "hooks-here/pre-commit is in the working tree and not ignored" in r.stderr, r.stderr
    (repo / ".gitignore").write_text("hooks-here/\n")
    r = diag(repo, "hook", "install", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == {
        "action": "unchanged", "hook": str(repo / "hooks-here" / "pre-commit"), "chained": None, "shared": None,
        "in_tree": False}, r.stdout
    assert "warning" not in r.stderr, r.stderr
    git(repo, "config", "--unset", "core.hooksPath")
    r = diag(repo, "hook", "install")
    assert r.returncode == 0 and "warning" not in r.stderr and (repo / ".git" / "hooks" / "pre-commit").is_file()


def test_a_global_core_hooks_path_is_written_only_with_the_explicit_flag(repo: Path, tmp_path: Path) -> None:
    """core.hooksPath set in ~/.gitconfig names a directory every repository runs its hooks from: installing
    there (or uninstalling) changes them all, so it is refused without --global-hooks-path, and said with it.
    The repository's own core.hooksPath is its own business and stays as it was."""
    shared, home = tmp_path / "shared-hooks", tmp_path / "home"
    shared.mkdir()
    home.mkdir()
    cfg = home / ".gitconfig"
    cfg.write_text(f"[core]\n\thooksPath = {shared}\n")
    env = {**os.environ, "HOME": str(home), "GIT_CONFIG_GLOBAL": str(cfg), "GIT_CONFIG_NOSYSTEM": "1"}
    for action in ("install", "uninstall"):
        r = diag(repo, "hook", action, env=env)
        assert r.returncode == 2 and f"set in the global file:{cfg}, not in this repository" in r.stderr, r.stderr
        assert "every repository using that path" in r.stderr and "--global-hooks-path" in r.stderr
        assert not (shared / "pre-commit").exists() and not (repo / ".git" / "hooks" / "pre-commit").exists()
    r = diag(repo, "hook", "install", "--global-hooks-path", "--format", "json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["shared"] == f"global file:{cfg}", r.stderr
    assert "mosaic-diag: warning: " in r.stderr and "every repository using it" in r.stderr
    # installed there, it is every repository's hook: a plain uninstall is refused and leaves it in place
    r = diag(repo, "hook", "uninstall", env=env)
    assert r.returncode == 2 and "uninstalling there" in r.stderr and (shared / "pre-commit").is_file(), r.stderr
    # it is every repository's hook now: another one's commit of a bad file is refused
    other = tmp_path / "other"
    other.mkdir()
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "dev@example.com"],
                 ["config", "user.name", "Dev"]):
        subprocess.run(["git", *args], cwd=other, env=env, check=True, capture_output=True)
    (other / "bad.py").write_text(BAD)
    subprocess.run(["git", "add", "bad.py"], cwd=other, env=env, check=True)
    assert subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=other, env=env, capture_output=True).returncode == 1
    # the repository's own core.hooksPath: installed there without a word, the shared directory untouched
    git(repo, "config", "--local", "core.hooksPath", ".githooks")
    r = diag(repo, "hook", "install", env=env)
    assert r.returncode == 0 and (repo / ".githooks" / "pre-commit").is_file(), r.stderr
    assert "every repository" not in r.stderr and "in the working tree and not ignored" in r.stderr, r.stderr
    git(repo, "config", "--local", "--unset", "core.hooksPath")
    r = diag(repo, "hook", "uninstall", "--global-hooks-path", env=env)
    assert r.returncode == 0 and r.stdout.startswith("uninstalled: ") and not (shared / "pre-commit").exists()


def test_hook_run_command_and_lint_config(repo: Path) -> None:
    (repo / "bad.py").write_text(BAD)
    git(repo, "add", "bad.py")
    r = diag(repo, "hook", "run")
    assert r.returncode == 1 and "bad.py:2:12: MD001" in r.stdout
    r = diag(repo, "hook", "run", "--format", "json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert [(f["path"], f["line"], f["code"]) for f in report["findings"]] == [("bad.py", 2, "MD001")]
    assert "| `bad.py:2:12` | MD001 |" in diag(repo, "hook", "run", "--format", "markdown").stdout
    (repo / "mosaic-diag.toml").write_text('[lint]\nignore = ["MD001"]\n')
    assert diag(repo, "hook", "run").returncode == 0
    clean = diag(repo, "hook", "run", "--format", "json")
    assert clean.returncode == 0 and json.loads(clean.stdout)["summary"]["findings"] == 0


def _project_copy(dest: Path) -> Path:
    """A committed copy of this project (what a user's `repo:` would point at)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("mosaic_diag", "playbooks"):  # the wheel maps playbooks/ into the package
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "-m", "snapshot")
    return dest


def _pre_commit(repo: Path, *args: str, home: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), **extra_env}
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=repo, capture_output=True, text=True,
                          timeout=540, env=env)


@pytest.mark.slow
def test_pre_commit_runs_the_published_hook_from_its_repository(repo: Path, tmp_path: Path) -> None:
    """A user's `repo: <this repository>` / `rev:` entry: pre-commit clones the rev, builds a virtualenv
    (`language: python`) and pip-installs this project into it, once; the second run reuses that environment.
    The virtualenv sees this interpreter's site-packages (virtualenv reads its options from the environment),
    so pip finds the dependencies already there and installs the project alone: the hook's definition and the
    installed copy are what is tested, not the package index (a full install took about 50 s of the suite;
    `try-repo` built the environment anew for each run)."""
    project = _project_copy(tmp_path / "project")
    rev = git(project, "rev-parse", "HEAD").stdout.strip()
    home = tmp_path / "pc-home"
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {json.dumps(str(project))}\n  rev: {rev}\n  hooks:\n  - id: mosaic-diag-lint\n")
    (repo / "bad.py").write_text(BAD)
    git(repo, "add", "bad.py", ".pre-commit-config.yaml")
    r = _pre_commit(repo, "run", "--all-files", home=home, VIRTUALENV_SYSTEM_SITE_PACKAGES="1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "mosaic-diag lint" in r.stdout and "bad.py:2:12: MD001" in r.stdout
    (repo / "bad.py").write_text(GOOD)
    git(repo, "add", "bad.py")
    r = _pre_commit(repo, "run", "--all-files", home=home, VIRTUALENV_SYSTEM_SITE_PACKAGES="1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Installing environment" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_pre_commit_local_system_hook(repo: Path, tmp_path: Path) -> None:
    """The same entry as a `repo: local` / `language: system` hook (offline: no environment to build)."""
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: local\n  hooks:\n  - id: mosaic-diag-lint\n    name: mosaic-diag lint\n"
        f"    entry: {sys.executable} -m mosaic_diag lint\n    language: system\n    types: [python]\n")
    (repo / "bad.py").write_text(BAD)
    git(repo, "add", "bad.py", ".pre-commit-config.yaml")
    r = _pre_commit(repo, "run", "--all-files", home=tmp_path / "pc-home")
    assert r.returncode == 1 and "bad.py:2:12: MD001" in r.stdout, r.stdout + r.stderr
    (repo / "bad.py").write_text(GOOD)
    git(repo, "add", "bad.py")
    assert _pre_commit(repo, "run", "--all-files", home=tmp_path / "pc-home").returncode == 0


INSERT = 'def add(cur, uid):\n    cur.execute("INSERT INTO users (id) VALUES (%s)", (uid,))\n'


def test_md007_never_passes_silently_in_the_hook(repo: Path) -> None:
    """No schema anywhere: the INSERT cannot be judged, and the commit says so and is refused."""
    assert diag(repo, "hook", "install").returncode == 0
    (repo / "app.py").write_text(INSERT)
    git(repo, "add", "app.py")
    assert diag(repo, "hook", "run").returncode == 2
    r = commit(repo)
    assert r.returncode == 1 and git(repo, "rev-list", "--count", "HEAD").stdout.strip() == "1"
    assert "MD007: no schema found" in r.stderr and "cannot judge INSERT INTO users (app.py:2)" in r.stderr
    # the schema found from the repository root (db/schema.sql): judged, a real finding refuses the commit
    (repo / "db").mkdir()
    (repo / "db" / "schema.sql").write_text("CREATE TABLE users (id TEXT PRIMARY KEY);\n")
    r = commit(repo)
    assert r.returncode == 1 and "app.py:2:18: MD007 INSERT INTO users without ON CONFLICT" in r.stdout + r.stderr
    (repo / "app.py").write_text(INSERT.replace("(%s)", "(%s) ON CONFLICT (id) DO NOTHING"))
    git(repo, "add", "app.py")
    assert commit(repo).returncode == 0


def test_staged_sql_files_are_judged_by_postgresqls_parser(repo: Path) -> None:
    (repo / "migrations").mkdir()
    (repo / "migrations" / "001.sql").write_text("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT);\n")
    git(repo, "add", "migrations/001.sql")
    r = diag(repo, "hook", "run")
    assert r.returncode == 1 and "migrations/001.sql:1:40: MD004 SQLite's `AUTOINCREMENT`" in r.stdout


def test_pre_commit_framework_entry_requires_the_schema(repo: Path) -> None:
    """The published entry (`lint --require-schema`) exits 2 instead of passing an unjudged INSERT."""
    (repo / "app.py").write_text(INSERT)
    r = diag(repo, "lint", "--require-schema", "app.py")
    assert r.returncode == 2 and "cannot judge INSERT INTO" in r.stderr
    r = diag(repo, "lint", "app.py")  # by hand: said once, exit code from the findings
    assert r.returncode == 0 and r.stderr.count("no schema found") == 1


def test_hook_run_cache_follows_the_staged_blobs_and_the_config(repo: Path) -> None:
    (repo / "bad.py").write_text(BAD)
    git(repo, "add", "bad.py")
    first = diag(repo, "hook", "run")
    assert first.returncode == 1 and "bad.py:2:12: MD001" in first.stdout
    assert (repo / ".mosaic-diag" / "lint-cache" / "lint-run-1.json").is_file()
    again = diag(repo, "hook", "run")  # the same staged blob: the same answer, replayed
    assert (again.returncode, again.stdout, again.stderr) == (first.returncode, first.stdout, first.stderr)
    (repo / "bad.py").write_text(GOOD)  # changed but not staged: still the staged blob's answer
    assert diag(repo, "hook", "run").returncode == 1
    git(repo, "add", "bad.py")
    assert diag(repo, "hook", "run").returncode == 0
    (repo / "bad.py").write_text(BAD)
    git(repo, "add", "bad.py")
    assert diag(repo, "hook", "run").returncode == 1
    (repo / "mosaic-diag.toml").write_text('[lint]\nignore = ["MD001"]\n')
    assert diag(repo, "hook", "run").returncode == 0


def test_staged_names_are_names_and_only_regular_files_are_python(repo: Path) -> None:
    """A name git holds in non-UTF-8 bytes, a name that is a glob (`[ab].py`), a symlink and a submodule
    named `*.py`: each judged as what it is, through a real `git commit`."""
    diag(repo, "hook", "install")
    (repo / "a.py").write_text(BAD)  # committed past the hook: not part of the next commit
    git(repo, "add", "a.py")
    git(repo, "commit", "-q", "-m", "a", "--no-verify")
    latin = os.fsdecode(b"caf\xe9.py")
    (repo / latin).write_text(BAD)
    (repo / "[ab].py").write_text(GOOD)  # as a pathspec, it would name a.py too
    (repo / "link.py").symlink_to("../some-dir/other-module.py")  # its blob is that text: not Python
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},vendored.py")  # a submodule's gitlink
    git(repo, "--literal-pathspecs", "add", latin, "[ab].py", "link.py")
    r = subprocess.run(["git", "commit", "-m", "x"], cwd=repo, capture_output=True, timeout=60, check=False)
    out = os.fsdecode(r.stdout + r.stderr)
    assert r.returncode == 1, out
    assert "Traceback" not in out and "cannot parse" not in out
    assert out.count("MD001") == 1 and "caf\\udce9.py:2:12: MD001" in out
    git(repo, "--literal-pathspecs", "rm", "-q", "--cached", latin)
    r = commit(repo)
    assert r.returncode == 0, r.stdout + r.stderr
    # a symlink replaced by a file (a type change) is linted
    (repo / "link.py").unlink()
    (repo / "link.py").write_text(BAD)
    git(repo, "add", "link.py")
    r = commit(repo)
    assert r.returncode == 1 and "link.py:2:12: MD001" in r.stdout + r.stderr


def test_the_hook_shows_a_staged_names_escape_sequences_as_text(repo: Path) -> None:
    diag(repo, "hook", "install")
    name = "evil\x1b]0;owned\x07\x1b[2J.py"
    (repo / name).write_text(BAD)
    git(repo, "add", name)
    r = subprocess.run(["git", "commit", "-m", "x"], cwd=repo, capture_output=True, timeout=60, check=False)
    assert r.returncode == 1
    assert b"\x1b" not in r.stdout + r.stderr and b"\x07" not in r.stdout + r.stderr
    assert b"evil\\u001b]0;owned\\u0007" in r.stdout + r.stderr


def test_a_staged_blob_the_repository_lacks_is_one_error_line(repo: Path) -> None:
    diag(repo, "hook", "install")
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{'0123456789' * 4},ghost.py")
    for r in (commit(repo), subprocess.run([sys.executable, "-m", "mosaic_diag.lint.hook", "run"], cwd=repo,
                                           capture_output=True, text=True, timeout=60)):
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        assert f"git cannot read the staged blob {'0123456789' * 4} (missing)" in r.stderr
    assert r.returncode == 2


def test_a_mosaic_diag_package_in_the_repository_is_not_what_the_hook_runs(repo: Path) -> None:
    """The hook ran `python -m mosaic_diag.lint.hook` in the repository's top directory, which `-m` puts first on the
    import path: a `mosaic_diag/` package committed in (or dropped into) the repository was the code every commit
    ran, and its exit code the verdict (a hook in a shared core.hooksPath ran it in every clone). The installed
    one runs: the staged finding refuses the commit."""
    diag(repo, "hook", "install")
    ran = repo / "ran.txt"
    (repo / "mosaic_diag" / "lint").mkdir(parents=True)
    (repo / "mosaic_diag" / "__init__.py").write_text("")
    (repo / "mosaic_diag" / "lint" / "__init__.py").write_text("")
    (repo / "mosaic_diag" / "lint" / "hook.py").write_text(
        f"import pathlib\npathlib.Path({str(ran)!r}).write_text('the repository ran')\nraise SystemExit(0)\n")
    (repo / "storage.py").write_text(BAD)
    git(repo, "add", "storage.py")
    r = commit(repo)
    assert not ran.exists(), "the repository's own mosaic_diag package ran as the hook"
    assert r.returncode == 1 and "storage.py:2:12: MD001" in r.stdout + r.stderr, r.stdout + r.stderr
