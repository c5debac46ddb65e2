"""`mosaic-diag manifest generate|diff|record|history`: what is (or would be) deployed."""

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mosaic_diag.commands._options import FormatOption, OutputFormat
from mosaic_diag.platform.atomic import write_atomic

if TYPE_CHECKING:
    from mosaic_diag.manifest import Manifest, ManifestDiff
    from mosaic_diag.manifest.store import DeployStore

manifest_app = typer.Typer(help="Deployment manifest: generate, diff, record, history.", no_args_is_help=True)


@manifest_app.callback()
def _manifest_group() -> None:
    """Deployment manifest: generate, diff, record, history."""
    from mosaic_diag.commands._common import own_repository

    own_repository()


FAIL_LEVELS = ("critical", "high", "medium", "low", "never")

RepoOption = Annotated[Path, typer.Option("--repo", show_default=False,
                                                                   help="The target repository (default: here).")]
LiveOption = Annotated[bool | None, typer.Option(
    "--live-schema/--no-live-schema",
    help="Hash the live database schema (default: when DATABASE_URL is set).")]


def _manifest_for(repo: Path, ref: str | None, live: bool | None) -> "Manifest":
    import platform

    from mosaic_diag.commands._common import config_here
    from mosaic_diag.manifest import ManifestSettings, generate_manifest

    cfg = config_here(repo)
    db = os.environ.get("DATABASE_URL") if live is not False else None
    if live and not db:
        from mosaic_diag.errors import UsageError

        raise UsageError("--live-schema needs DATABASE_URL")
    return generate_manifest(repo, ref, settings=ManifestSettings.from_config(cfg), env=os.environ,
                             python_version=platform.python_version(), database_url=db)


def _warn_dirty(paths: tuple[str, ...], commit: str) -> None:
    """One stderr line: the working tree has changes the manifest of HEAD `commit` does not hold."""
    if paths:
        shown = ", ".join(paths[:5]) + (", …" if len(paths) > 5 else "")
        sys.stderr.write(f"mosaic-diag: warning: dirty tree: {len(paths)} uncommitted change(s) ({shown}) are "
                         f"NOT in this manifest (it describes HEAD {commit[:12]}, not the working tree; HEAD "
                         "is what deploys)\n")


def _own_outputs(out: Path | None) -> set[tuple[int, int]]:
    """(device, inode) of the files this command writes: the `--out` file and the file stdout goes to
    (`manifest generate > manifest.json`: the shell made it before the command ran)."""
    import io
    import stat

    own: set[tuple[int, int]] = set()
    try:
        st = os.fstat(sys.stdout.fileno())
        if stat.S_ISREG(st.st_mode):
            own.add((st.st_dev, st.st_ino))
    except (OSError, ValueError, io.UnsupportedOperation):  # mosaic-diag: ignore[MD006] -- a captured or closed
        pass  # stdout has no file of its own to leave out
    if out is not None and out.is_file():
        st = out.stat()
        own.add((st.st_dev, st.st_ino))
    return own


def _foreign_changes(repo: Path, paths: tuple[str, ...], out: Path | None) -> tuple[str, ...]:
    """`paths` (changes of the working tree) without this command's own output files: what it writes is
    not a change the manifest misses."""
    from mosaic_diag.platform import gitops

    own = _own_outputs(out)
    if not paths or not own:
        return paths
    top = Path(gitops.open_repo(repo).working_tree_dir)

    def is_own(path: str) -> bool:
        try:
            st = (top / path).stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in own

    return tuple(p for p in paths if not is_own(p))


def _without_own_output(m: "Manifest", repo: Path, out: Path | None) -> "Manifest":
    """The manifest without its own output file among the dirty paths (see `_foreign_changes`)."""
    import dataclasses

    kept = _foreign_changes(repo, m.dirty_paths, out)
    return m if kept == m.dirty_paths else dataclasses.replace(m, dirty=bool(kept), dirty_paths=kept)


def _changes_beside(repo: Path, commit: str) -> tuple[str, ...]:
    """The working tree's uncommitted changes when `commit` is its HEAD (a manifest of that commit then
    misses them), else none: the working tree of another commit says nothing about this one."""
    from mosaic_diag.platform import gitops

    r = gitops.open_repo(repo)
    if r.bare or r.head.is_valid() is False or r.head.commit.hexsha != commit:
        return ()
    return gitops.working_tree_state(r).paths


def _manifest_lines(m: "Manifest", fmt: OutputFormat) -> str:
    b = "**" if fmt is OutputFormat.markdown else ""
    bullet = "- " if fmt is OutputFormat.markdown else "  "
    lines = [f"{b}commit{b} {m.commit} ({m.branch or 'detached'}){'  DIRTY' if m.dirty else ''}",
             f"{b}python{b} {m.python_declared or m.python_runtime}",
             f"{b}schema{b} {(m.schema.hash or '(none)')[:16]} from {', '.join(m.schema.source) or '(no declaration)'}"
             + (f"; live {m.schema.live_hash[:16]} ({m.schema.live_tables} tables)" if m.schema.live_hash else ""),
             f"{b}models{b} " + (", ".join(f"{k}={v}" for k, v in sorted(m.models.items())) or "(none pinned)"),
             f"{b}feature flags{b} ({m.flags_source or 'none'}) "
             + ", ".join(f"{k}={v}" for k, v in sorted(m.feature_flags.items())),
             f"{b}golden set{b} {len(m.golden)} file(s) {(m.golden_set_hash or '')[:16]}"]
    for title, files in (("dependencies", m.dependencies), ("prompts", m.prompts)):
        lines.append(f"{b}{title}{b}")
        lines += [f"{bullet}{p}  {h[:16]}" for p, h in sorted(files.items())] or [f"{bullet}(none)"]
    lines.append(f"{b}generated at{b} {m.generated_at}")
    return "\n".join(lines) + "\n"


@manifest_app.command("generate")
def generate_cmd(
    ref: Annotated[str | None, typer.Argument(help="A git ref (default: the working tree's HEAD).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o",
                                             help="Write the JSON here (atomically; `-` is stdout).")] = None,
    repo: RepoOption = Path("."),
    live: LiveOption = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", case_sensitive=False,
                                              help="How the manifest is written (JSON unless asked)."
                                              )] = OutputFormat.json,
) -> int:
    """Print (or --out) the manifest of a ref; exit 1 when the working tree is dirty."""
    from mosaic_diag.commands._common import check_writable

    if out is not None and str(out) == "-":  # stdout, as every `-o -` (not a file named `-`)
        out = None
    if out is not None:
        check_writable(out)  # before the manifest is made (a live schema, a large tree), never after
    m = _without_own_output(_manifest_for(repo, ref, live), repo, out)
    # a ref naming the checked-out commit (`HEAD`, the branch) misses the working tree's changes just the same
    _warn_dirty(m.dirty_paths if ref is None else _foreign_changes(repo, _changes_beside(repo, m.commit), out),
                m.commit)
    if out is not None:
        write_atomic(out, m.to_json(), to_device=True)
        sys.stderr.write(f"mosaic-diag: manifest of {m.commit[:12]} written to {out}\n")
    if out is None or fmt is not OutputFormat.json:
        sys.stdout.write(m.to_json() if fmt is OutputFormat.json else _manifest_lines(m, fmt))
    return 1 if m.dirty else 0


def _load_side(value: str, repo: Path, live: bool | None) -> "Manifest":
    from mosaic_diag.manifest import load_manifest

    p = Path(value)
    if value.endswith(".json") or p.is_file():
        return load_manifest(p)
    return _manifest_for(repo, value, False)


def render_diff(d: "ManifestDiff", fmt: OutputFormat) -> None:
    """Print a manifest diff (shared with the rollback command)."""
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(d.to_dict(), indent=2, sort_keys=True) + "\n")
        return
    if fmt is OutputFormat.markdown:
        from mosaic_diag.platform.mdtext import md_text

        sys.stdout.write(f"### {md_text(d.old_commit[:12])} -> {md_text(d.new_commit[:12])}\n\n")
        for f in d.findings:  # file names and model pins are text, not markup
            sys.stdout.write(f"- **{md_text(f.severity)}** {md_text(f.message)}\n")
        if not d.findings:
            sys.stdout.write("- no differences\n")
        return
    from rich.markup import escape

    from mosaic_diag.render.console import SEVERITY_STYLE, out

    out().print(f"[bold]manifest diff[/] {escape(d.old_commit[:12])} -> {escape(d.new_commit[:12])}")
    for f in d.findings:
        style = SEVERITY_STYLE.get(f.severity, "")
        out().print(f"  [{style}]{f.severity:<8}[/] {escape(f.message)}")
    if not d.findings:
        out().print("  no differences")


@manifest_app.command("diff")
def diff_cmd(
    old: Annotated[str, typer.Argument(help="A git ref or a manifest JSON file (the old side).")],
    new: Annotated[str, typer.Argument(help="A git ref or a manifest JSON file (the new side).")],
    repo: RepoOption = Path("."),
    fail_on: Annotated[str, typer.Option("--fail-on", help="Exit 1 when a finding is at least this severe: "
                                         "critical, high, medium, low or never.")] = "high",
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """What changed between two manifests or refs, with what it means."""
    from mosaic_diag.errors import UsageError
    from mosaic_diag.manifest import diff_manifests
    from mosaic_diag.manifest.diff import SEVERITIES

    if fail_on not in FAIL_LEVELS:
        raise UsageError(f"--fail-on takes one of {', '.join(FAIL_LEVELS)}; got {fail_on!r}")
    d = diff_manifests(_load_side(old, repo, None), _load_side(new, repo, None))
    render_diff(d, fmt)
    if fail_on == "never":
        return 0
    limit = SEVERITIES.index(fail_on)
    return 1 if any(SEVERITIES.index(f.severity) <= limit for f in d.findings) else 0


def open_store_here(repo: Path) -> "DeployStore":
    """The deploy store: PostgreSQL when DATABASE_URL is set, else `deploy_store` (a file under the
    repository's top level, whatever subdirectory `repo` is)."""
    from mosaic_diag.commands._common import config_here
    from mosaic_diag.config import find_root
    from mosaic_diag.manifest.store import configured_store

    config_here(repo)  # its unknown keys warned about, as every command that reads the config does
    return configured_store(find_root(repo), os.environ)


@manifest_app.command("record")
def record_cmd(
    ref: Annotated[str | None, typer.Argument(help="The deployed ref (default: HEAD).")] = None,
    manifest_file: Annotated[Path | None, typer.Option("--manifest", help="Record this manifest file instead.")
                             ] = None,
    status: Annotated[str, typer.Option(help="deployed, pending (not judged yet), rollback, "
                                             "bad, aborted (never pushed), superseded (replaced before "
                                             "it was judged) or unjudged.")] = "deployed",
    note: Annotated[str | None, typer.Option(help="A note kept with the record.")] = None,
    repo: RepoOption = Path("."),
    live: LiveOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Store a manifest as deployed (PostgreSQL if DATABASE_URL is set, else a local file)."""
    from mosaic_diag.manifest import load_manifest

    m = load_manifest(manifest_file) if manifest_file is not None else _manifest_for(repo, ref or "HEAD", live)
    # recorded all the same (HEAD is what a deploy pushes), but never silently: the checkout holds more
    _warn_dirty(m.dirty_paths if manifest_file is not None else _changes_beside(repo, m.commit), m.commit)
    store = open_store_here(repo)
    rec = store.record(m, status=status, note=note)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({**rec.to_dict(), "store": store.description}, sort_keys=True) + "\n")
    else:
        sys.stdout.write(f"recorded #{rec.id}: {rec.commit[:12]} {rec.status} in {store.description}\n")
    return 0


@manifest_app.command("history")
def history_cmd(
    limit: Annotated[int, typer.Option(min=1, help="How many records, newest first.")] = 20,
    repo: RepoOption = Path("."),
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """The recorded deploys, newest first."""
    store = open_store_here(repo)
    records = store.history(limit)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps([r.to_dict() for r in records], indent=2, sort_keys=True) + "\n")
    else:
        from mosaic_diag.platform.mdtext import md_text
        from mosaic_diag.platform.terminal import one_line_escaped

        md = fmt is OutputFormat.markdown
        for r in records:  # a note is free text: its line breaks and controls shown escaped, one entry a line
            note = one_line_escaped(r.note) if r.note else ""
            sys.stdout.write(f"{'- ' if md else ''}#{r.id} {r.recorded_at} {r.commit[:12]} {r.status}"
                             + (f"  {md_text(note) if md else note}" if note else "") + "\n")
        if not records:  # (and how one is: an empty history is where a first user looks for it)
            sys.stdout.write(f"no deploys recorded in {md_text(store.description) if md else store.description}\n"
                             "record one: `mosaic-diag manifest record` after a deploy "
                             "(`deploy` does it itself)\n")
    return 0


def register(app: typer.Typer) -> None:
    app.add_typer(manifest_app, name="manifest")
