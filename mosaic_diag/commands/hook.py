"""`mosaic-diag hook install|uninstall|run`: the git pre-commit hook that runs the code rules."""

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from mosaic_diag.commands._options import FormatOption, OutputFormat

hook_app = typer.Typer(help="The git pre-commit hook that lints the staged Python and SQL files.", no_args_is_help=True)

RepoOption = Annotated[Path | None, typer.Option("--repo", help="The repository (default: the current one).")]
SharedOption = Annotated[bool, typer.Option(
    "--global-hooks-path",
    help="Act on the hooks directory of a core.hooksPath set globally (~/.gitconfig, system config): "
         "it changes the hook of every repository using that path.")]


def _repo(repo: Path | None) -> Path:
    from mosaic_diag.lint.hook import _git

    base = repo or Path.cwd()
    return Path(_git(base, "rev-parse", "--show-toplevel").decode().strip())


def _report(change: object, fmt: OutputFormat) -> None:
    from dataclasses import asdict

    data = {k: (v if v is None or isinstance(v, bool) else str(v))
            for k, v in asdict(change).items()}  # type: ignore[call-overload]
    if data.get("shared"):  # the user asked for it; still said, on stderr
        sys.stderr.write(f"mosaic-diag: warning: {data['hook']} is in the hooks directory core.hooksPath "
                         f"names in the {data['shared']}: this changes the hook of every repository using it\n")
    if data.get("in_tree"):
        sys.stderr.write(f"mosaic-diag: warning: {data['hook']} is in the working tree and not ignored: `git add -A` "
                         "would commit it, with this machine's interpreter path; add it to .gitignore (or "
                         ".git/info/exclude)\n")
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    line = f"{data['action']}: {data['hook']}"
    if data.get("chained"):
        line += f" (existing hook chained: {data['chained']})"
    sys.stdout.write(("- " if fmt is OutputFormat.markdown else "") + line + "\n")


@hook_app.command("install")
def install(repo: RepoOption = None, shared: SharedOption = False, fmt: FormatOption = OutputFormat.table) -> int:
    """Install the pre-commit hook (idempotent; an existing hook is kept and runs first)."""
    from mosaic_diag.lint.hook import install as do_install

    _report(do_install(_repo(repo), shared_ok=shared), fmt)
    return 0


@hook_app.command("uninstall")
def uninstall(repo: RepoOption = None, shared: SharedOption = False,
              fmt: FormatOption = OutputFormat.table) -> int:
    """Remove the hook and restore the one it chained."""
    from mosaic_diag.lint.hook import uninstall as do_uninstall

    _report(do_uninstall(_repo(repo), shared_ok=shared), fmt)
    return 0


@hook_app.command("run")
def run(repo: RepoOption = None, fmt: FormatOption = OutputFormat.table) -> int:
    """Lint the staged Python and SQL files now, as the hook does (exit 1 on findings)."""
    from mosaic_diag.commands._common import config_here
    from mosaic_diag.lint.hook import run_staged

    root = _repo(repo)
    config_here(root)  # a misspelt lint key is said, not silently ignored
    code, report, errors = run_staged(root, os.environ, fmt.value)
    sys.stdout.write(report)
    for line in errors:
        sys.stderr.write(line + "\n")
    return code


def register(app: typer.Typer) -> None:
    app.add_typer(hook_app, name="hook")
