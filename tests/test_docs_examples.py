"""The shell examples of README.md and docs/ that run offline, run as shown: each exits with the code the docs
give it, and the README's sample triage prints what the README shows (a new user's first command)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Every offline example the docs show, with the exit code they document for it.
EXPECTED = {
    # README: "Exit code 1: error events were found."
    "mosaic-diag triage examples/logs/render-sample.log": 1,
    # README, How events are labelled: classify exits 0
    "mosaic-diag classify 'psycopg2.errors.UndefinedColumn: column \"last_login\" does not exist' --explain": 0,
    "mosaic-diag labels --category data": 0,
    "mosaic-diag playbook list": 0,
    "mosaic-diag playbook show PG_CONNECTION_FAILED": 0,
    # README, Playbooks: validate exits 2 on any problem; the shipped set has none
    "mosaic-diag playbook validate playbooks/": 0,
    # README, Playbooks: 1 when a diagnose check fails (`server-answers` without a database)
    "mosaic-diag playbook run PG_CONNECTION_FAILED --stage startup --dry-run": 1,
    # README, lint: the bundled module's MD003, MD004, MD007: exit 1
    "mosaic-diag lint examples/realerrors_api/storage.py": 1,
}
# Subcommands that read only the repository's files: safe to run from a test (others reach a database,
# an app, git remotes or Render, or change files).
OFFLINE = {("triage",), ("classify",), ("labels",), ("playbook", "list"), ("playbook", "show"),
           ("playbook", "validate"), ("playbook", "run"), ("lint",), ("golden", "validate")}
PATHLIKE = re.compile(r"/|\.(?:log|gz|bz2|xz|jsonl?|ya?ml|py|sql|md|txt|csv|xml|html|sarif)$")


def shown_commands() -> list[str]:
    """Each `mosaic-diag …` command of a bash block of the docs, without its comment (the part of a pipeline or
    `&&` chain that is mosaic-diag's)."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"^```(?:bash|sh|shell)\n(.*?)^```", doc.read_text(), re.S | re.M):
            for line in block.splitlines():
                for part in re.split(r"&&|\|", line.split(" #")[0]):
                    part = part.strip()
                    if part.startswith("mosaic-diag "):
                        found.append(part)
    return found


def runs_offline(command: str) -> bool:
    """Offline-safe and runnable as written from the repository top: a read-only subcommand (a playbook run only
    as a dry run; no Render API), no redirection or glob, every file it names is here (`app.log` is a
    placeholder), and not the whole repository (`lint .`, or `lint` without a path)."""
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", command)
    if re.search(r"[<>*?\[\]$`;]", unquoted) or " - " in f"{unquoted} ":
        return False
    words = shlex.split(command)[1:]
    if tuple(words[:1]) not in OFFLINE and tuple(words[:2]) not in OFFLINE:
        return False
    if (words[:2] == ["playbook", "run"] and "--dry-run" not in words) or "--render" in words:
        return False
    paths = [w for w in words[1:] if not w.startswith("-") and (w == "." or PATHLIKE.search(w))
             and " " not in w]
    if any(p == "." or not (ROOT / p).exists() for p in paths):
        return False
    return words[0] != "lint" or bool(paths)


def run(command: str, scratch: Path) -> subprocess.CompletedProcess[str]:
    """The command as a new user runs it from the repository top, with no database, key or config of theirs
    (what it would keep in the repository's `.mosaic-diag/`, the lint cache, kept in `scratch`)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MOSAIC_", "RENDER_", "OPENAI_", "ANTHROPIC_", "CLAUDE_", "DATABASE_URL"))}
    env |= {"COLUMNS": "110", "PYTHONPATH": str(ROOT), "MOSAIC_DIAG_LINT_CACHE_DIR": str(scratch / "lint-cache")}
    argv = [sys.executable, "-m", "mosaic_diag", *shlex.split(command)[1:]]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_every_offline_example_of_the_docs_is_checked_here() -> None:
    """A new offline example gets its documented exit code above; one the docs dropped leaves the list."""
    shown = shown_commands()
    assert len(shown) > 30
    assert {c for c in shown if runs_offline(c)} == set(EXPECTED)


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_an_offline_example_exits_as_documented(command: str, tmp_path: Path) -> None:
    proc = run(command, tmp_path)
    assert proc.returncode == EXPECTED[command], (proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    if command == "mosaic-diag triage examples/logs/render-sample.log":
        readme = (ROOT / "README.md").read_text()
        block = readme.split("```text\n$ " + command + "\n", 1)[1].split("```", 1)[0]
        printed = [line.rstrip() for line in proc.stdout.splitlines()]
        shown = [line.rstrip() for line in block.splitlines() if line != "…"]
        assert len(shown) > 30 and [line for line in shown if line not in printed] == []
        at = 0  # and in the order printed
        for line in shown:
            at = printed.index(line, at) + 1
