"""`mosaic-diag playbook list|show|validate|run`: the playbook store, checked and dry-run by default.

Exit codes: 0 fine; 1 `run` found failed diagnose checks, an executed action failed, or the
user declined; 2 usage or configuration (a playbook that does not validate, unknown label,
bad context file).
"""

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mosaic_diag.commands._options import FormatOption, OutputFormat

if TYPE_CHECKING:
    from mosaic_diag.playbooks import Plan, PlaybookStore
    from mosaic_diag.playbooks.planner import ActionOutcome

playbook_app = typer.Typer(help="Playbooks: list, show, validate, and run them (dry run by default).",
                           no_args_is_help=True, add_completion=False, rich_markup_mode=None)

PlaybooksOption = Annotated[Path | None, typer.Option("--playbooks", help="Playbook directory (config "
                                                      "playbooks.dir; default: the shipped set).")]


def _store(directory: Path | None) -> "PlaybookStore":
    from mosaic_diag.commands._common import config_here
    from mosaic_diag.playbooks import PlaybookStore

    if directory is None:
        directory = config_here().path("playbooks.dir")
    return PlaybookStore.load(directory)


_WRAP = [False]  # (set per command: a table on a terminal wraps its long lines at words)


def _wrap_for(fmt: OutputFormat) -> None:
    """Long lines of `show` and `run` wrap at words with an indent on a terminal (the terminal cut them mid-word,
    `PG_CONNECTI|ON_FAILED`, back at the left edge); markdown and a pipe get them whole, one item a line."""
    _WRAP[0] = fmt is OutputFormat.table and sys.stdout.isatty()


def _out(text: str = "", hang: int = 2) -> None:
    if not _WRAP[0]:
        sys.stdout.write(text + "\n")
        return
    from rich.text import Text

    from mosaic_diag.render.console import out, print_hanging

    for line in text.split("\n"):
        body = line.lstrip(" ")
        print_hanging(out(), Text(body), indent=len(line) - len(body), hang=hang)


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


@playbook_app.command("list")
def list_cmd(playbooks: PlaybooksOption = None, fmt: FormatOption = OutputFormat.table) -> int:
    """List every playbook: what it matches, its severity and actions."""
    store = _store(playbooks)
    rows = [(pb.id, ", ".join(pb.match.labels) or "category " + ", ".join(pb.match.categories),
             ", ".join(pb.match.stages) or "any", pb.severity, ", ".join(r.action for r in pb.remediate), pb.where)
            for pb in store]
    if fmt is OutputFormat.json:
        _json([pb.to_dict() for pb in store])
    elif fmt is OutputFormat.markdown:
        from mosaic_diag.platform.mdtext import md_code, md_text

        _out("| Playbook | Labels | Stage | Severity | Actions | Source |\n|---|---|---|---|---|---|")
        for row in rows:  # a playbook's id and a file's path are text, never markup (a `|` ended the cell)
            _out("| " + " | ".join(md_code(cell, table=True) if i == 0 else md_text(cell)
                                   for i, cell in enumerate(row)) + " |")
    else:
        from rich.table import Table
        from rich.text import Text

        from mosaic_diag.render.console import SEVERITY_STYLE, out, print_table

        table = Table(title=Text(f"{len(rows)} playbooks in {store.directory}"), title_justify="left")
        for name in ("Playbook", "Labels", "Stage", "Severity", "Actions", "Source"):
            table.add_column(name, overflow="fold")
        for row in rows:  # a playbook file's text and path are text, never Rich markup
            table.add_row(*(Text(cell, SEVERITY_STYLE.get(cell, "") if i == 3 else "") for i, cell in enumerate(row)))
        # (narrower than every column, the least needed go first; below about 70 columns, `Header: value` lines)
        print_table(out(), table, optional=("Source", "Actions", "Stage"))
    return 0


def _find(store: "PlaybookStore", name: str, stage: str | None) -> Any:
    from mosaic_diag.errors import UsageError

    pb = store.get(name)
    if pb is not None:
        return pb
    if not store.taxonomy.is_label(name):
        raise UsageError(f"{name!r} is neither a playbook id nor a label (see `mosaic-diag playbook list`)")
    pb = store.match(name, stage=stage)
    if pb is None:
        raise UsageError(f"no playbook matches {store.taxonomy.resolve(name).name}"
                         + (f" at stage {stage}" if stage else ""))
    return pb


@playbook_app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="A label (aliases accepted) or a playbook id.")],
    stage: Annotated[str | None, typer.Option("--stage", help="The stage, to pick among playbooks.")] = None,
    playbooks: PlaybooksOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Show the playbook that answers a label (or a playbook by id)."""
    from mosaic_diag.playbooks.vocabulary import GATHERER_BY_NAME

    _wrap_for(fmt)
    store = _store(playbooks)
    pb = _find(store, name, stage)
    if fmt is OutputFormat.json:
        _json({**pb.to_dict(), "gathered_names": {g.gatherer: [f.name for f in GATHERER_BY_NAME[g.gatherer].facts]
                                                  for g in pb.gather}})
        return 0
    if fmt is OutputFormat.markdown:
        _out(_show_markdown(pb))
        return 0
    _out(f"{pb.id}  ({pb.where})")
    _out()
    if pb.description:
        _out(pb.description, hang=0)
        _out()
    _out(f"match: labels {', '.join(pb.match.labels) or '-'}; stage {', '.join(pb.match.stages) or 'any'}"
         + (f"; category {', '.join(pb.match.categories)}" if pb.match.categories else ""))
    _out(f"severity: {pb.severity}" + (f"; alert: {pb.alert}" if pb.alert else ""))
    if pb.gather:
        _out("\ngather:")
        for g in pb.gather:
            spec = GATHERER_BY_NAME[g.gatherer]
            args = ", ".join(f"{k}={v}" for k, v in g.params.items())
            _out(f"  {g.gatherer}{f' ({args})' if args else ''}: {spec.doc}")
    if pb.checks:
        _out("\ndiagnose:")
        for c in pb.checks:
            _out(f"  {c.name}: {c.check.source}" + (f" -> {c.fail_label}" if c.fail_label else ""))
            if c.recommendation:
                _out(f"      {c.recommendation}", hang=0)
    _out("\nremediate:")
    for n, r in enumerate(pb.remediate, start=1):
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        _out(f"  {n}. {r.action} when {r.when.source}{f' ({params})' if params else ''}"
             + (f": {r.message or r.log}" if (r.message or r.log) else ""), hang=len(f"{n}. "))
    return 0


def _show_markdown(pb: Any) -> str:
    """`playbook show --format markdown`: a playbook file's text (its description, recommendations, messages, a
    parameter, its path) is text, never markup (md_text); ids, names and conditions are code spans."""
    from mosaic_diag.platform.mdtext import md_code, md_text
    from mosaic_diag.playbooks.vocabulary import GATHERER_BY_NAME

    def codes(names: Any, empty: str) -> str:
        return ", ".join(md_code(name) for name in names) or empty

    lines = [f"# {md_code(pb.id)} ({md_text(pb.where)})", ""]
    if pb.description:
        lines += [md_text(pb.description), ""]
    lines.append(f"- match: labels {codes(pb.match.labels, '-')}; stage {codes(pb.match.stages, 'any')}"
                 + (f"; category {codes(pb.match.categories, '')}" if pb.match.categories else ""))
    lines.append(f"- severity: {md_text(pb.severity)}" + (f"; alert: {md_text(pb.alert)}" if pb.alert else ""))
    if pb.gather:
        lines += ["", "## gather", ""]
        for g in pb.gather:
            args = ", ".join(f"{k}={v}" for k, v in g.params.items())
            lines.append(f"- {md_code(g.gatherer)}{f' ({md_text(args)})' if args else ''}: "
                         f"{md_text(GATHERER_BY_NAME[g.gatherer].doc)}")
    if pb.checks:
        lines += ["", "## diagnose", ""]
        for c in pb.checks:
            lines.append(f"- {md_code(c.name)}: {md_code(c.check.source)}"
                         + (f" -> {md_code(c.fail_label)}" if c.fail_label else ""))
            if c.recommendation:
                lines.append(f"  - {md_text(c.recommendation)}")
    lines += ["", "## remediate", ""]
    for n, r in enumerate(pb.remediate, start=1):
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        lines.append(f"{n}. {md_code(r.action)} when {md_code(r.when.source)}"
                     + (f" ({md_text(params)})" if params else "")
                     + (f": {md_text(r.message or r.log)}" if (r.message or r.log) else ""))
    return "\n".join(lines)


@playbook_app.command("validate")
def validate_cmd(
    paths: Annotated[list[Path] | None, typer.Argument(help="Playbook files or directories (default: the "
                                                       "configured or shipped set).")] = None,
    all_labels: Annotated[bool, typer.Option("--all-labels", help="Also require a playbook for every "
                                             "label of the taxonomy.")] = False,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Validate playbooks; print every problem as `file:line: reason`; exit 2 on any."""
    from mosaic_diag.classifier.taxonomy import load_taxonomy
    from mosaic_diag.commands._common import config_here
    from mosaic_diag.errors import ConfigError
    from mosaic_diag.playbooks import FileProblem, PlaybookStore
    from mosaic_diag.playbooks.files import SHIPPED_DIR

    if not paths:
        paths = [config_here().path("playbooks.dir") or SHIPPED_DIR]
    taxonomy = load_taxonomy()
    issues: list[FileProblem] = []
    found = []
    for path in paths:
        try:
            pbs, problems = PlaybookStore.validate([path], taxonomy=taxonomy)
        except ConfigError as exc:
            problems, pbs = [FileProblem(exc.path or str(path), exc.line, str(exc).split(": ", 1)[-1])], []
        found += pbs
        issues += problems
    if all_labels:
        named = {label for pb in found for label in pb.match.labels}
        issues += [FileProblem(", ".join(map(str, paths)), None, f"no playbook names label {name}")
                   for name in taxonomy.labels if name not in named]
    if fmt is OutputFormat.json:
        _json({"ok": not issues, "playbooks": len(found), "issues": [
            {"path": i.path, "line": i.line, "reason": i.message} for i in issues]})
    else:
        from mosaic_diag.platform.mdtext import md_text
        from mosaic_diag.platform.terminal import one_line_escaped

        # one line each (a newline in a file's name cannot forge another); in markdown, a file's name is text
        for issue in issues:
            _out(f"- {md_text(issue)}" if fmt is OutputFormat.markdown else one_line_escaped(str(issue)))
        if not issues:
            _out(f"{len(found)} playbooks OK")
        else:
            sys.stdout.flush()
            sys.stderr.write(f"mosaic-diag: {len(issues)} problem(s) in playbooks\n")
    return 2 if issues else 0


def _render_plan(plan: "Plan", fmt: OutputFormat, *, dry_run: bool) -> None:
    if fmt is OutputFormat.markdown:
        _out(_plan_markdown(plan, dry_run=dry_run))
        return
    _out(f"Playbook {plan.playbook} ({plan.source}) for {plan.label or '-'}: "
         + ", ".join(([f"stage {plan.stage}"] if plan.stage else [])
                     + [f"severity {plan.severity}"] + ([f"alert {plan.alert}"] if plan.alert else [])))
    if plan.gathered:
        _out("\nGathered")
        for g in plan.gathered:
            state = "ok" if g.ok else f"FAILED: {g.error}"
            _out(f"  {g.gatherer}: {state} ({g.elapsed_ms:.0f} ms)")
            for key, value in g.facts.items():
                _out(f"      {key} = {json.dumps(value, default=str)}")
    if plan.findings:
        _out("\nDiagnosis")
        for f in plan.findings:
            state = {True: "pass", False: "FAIL", None: "unknown"}[f.verdict.value]
            _out(f"  {state:7} {f.name}: {f.verdict.reason}")
            if f.failed:
                _out(f"          -> {f.fail_label or 'finding'}: {f.recommendation}", hang=3)
    _out(f"\nPlan{' (dry run)' if dry_run else ''}")
    for n, a in enumerate(plan.actions, start=1):
        verdict = "would run" if a.would_run else "skipped"
        _out(f"  {n}. {a.action}: {verdict} ({a.reason})", hang=len(f"{n}. "))
        _out(f"       {a.effect.summary}", hang=0)
    if dry_run:
        _out("\nDry run: nothing was done. Re-run with --execute to act.")


def _plan_markdown(plan: "Plan", *, dry_run: bool) -> str:
    """`playbook run --format markdown`: what a playbook file, a gatherer (a log's tail, an app's /health) or a
    check says is text, never markup (md_text); names and values are code spans."""
    from mosaic_diag.platform.mdtext import md_code, md_text

    head = [f"stage {md_text(plan.stage)}"] if plan.stage else []
    head += [f"severity {md_text(plan.severity)}"] + ([f"alert {md_text(plan.alert)}"] if plan.alert else [])
    lines = [f"# Playbook {md_code(plan.playbook)} ({md_text(plan.source)}) for "
             f"{md_code(plan.label) if plan.label else '-'}: {', '.join(head)}"]
    if plan.gathered:
        lines += ["", "## Gathered", ""]
        for g in plan.gathered:
            state = "ok" if g.ok else f"FAILED: {md_text(g.error)}"
            lines.append(f"- {md_code(g.gatherer)}: {state} ({g.elapsed_ms:.0f} ms)")
            lines += [f"  - {md_code(key)} = {md_code(json.dumps(value, default=str))}"
                      for key, value in g.facts.items()]
    if plan.findings:
        lines += ["", "## Diagnosis", ""]
        for f in plan.findings:
            state = {True: "pass", False: "FAIL", None: "unknown"}[f.verdict.value]
            lines.append(f"- {state} {md_code(f.name)}: {md_text(f.verdict.reason)}")
            if f.failed:
                lines.append(f"  - -> {md_code(f.fail_label) if f.fail_label else 'finding'}: "
                             f"{md_text(f.recommendation)}")
    lines += ["", f"## Plan{' (dry run)' if dry_run else ''}", ""]
    for n, a in enumerate(plan.actions, start=1):
        verdict = "would run" if a.would_run else "skipped"
        lines += [f"{n}. {md_code(a.action)}: {verdict} ({md_text(a.reason)})", f"   - {md_text(a.effect.summary)}"]
    if dry_run:
        lines += ["", "Dry run: nothing was done. Re-run with `--execute` to act."]
    return "\n".join(lines)


def _executed(outcomes: "tuple[ActionOutcome, ...]", fmt: OutputFormat) -> None:
    if fmt is OutputFormat.markdown:
        from mosaic_diag.platform.mdtext import md_code, md_text

        _out("\n## Executed\n")
        for o in outcomes:
            state = "skipped" if o.skipped else ("ok" if o.ok else "FAILED")
            _out(f"- {md_code(o.action)}: {state}: {md_text(o.detail)}")
        return
    _out("\nExecuted")
    for o in outcomes:
        state = "skipped" if o.skipped else ("ok" if o.ok else "FAILED")
        _out(f"  {o.action}: {state}: {o.detail}")


@playbook_app.command("run")
def run_cmd(
    label: Annotated[str | None, typer.Argument(help="The label (aliases accepted); default: the context's.")
                     ] = None,
    stage: Annotated[str | None, typer.Option("--stage", help="startup, deploy, runtime, predeploy, golden.")
                     ] = None,
    context: Annotated[Path | None, typer.Option("--context", help="Incident JSON: facts (rate_5m, count, "
                                                 "stage...) and optional pre-gathered `context`.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run/--execute", help="Dry run, or carry out the "
                                          "actions whose `when` holds.")] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --execute: do not ask.")] = False,
    no_gather: Annotated[bool, typer.Option("--no-gather", help="Use only the facts given; run no gatherer.")
                         ] = False,
    log: Annotated[Path | None, typer.Option("--log", help="The log file for the log_tail gatherer.")] = None,
    health_url: Annotated[str | None, typer.Option("--health-url", help="The app URL for the health "
                                                   "gatherer (config playbooks.health_url).")] = None,
    playbooks: PlaybooksOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Run the playbook for LABEL: gather, diagnose, and show (or with --execute, do) the remediation."""
    from mosaic_diag.commands._common import config_here
    from mosaic_diag.errors import UsageError
    from mosaic_diag.playbooks import PlaybookSettings, execute_plan, gather_and_plan
    from mosaic_diag.playbooks.incident import load_incident
    from mosaic_diag.playbooks.model import STAGES
    from mosaic_diag.playbooks.planner import ActionsStopped

    _wrap_for(fmt)
    facts: dict[str, Any] = {}
    ctx_label = None
    if context is not None:
        ctx_label, facts = load_incident(context)
    name = label or ctx_label
    if not name:
        raise UsageError("give a LABEL (or a context file with `label`)")
    if stage is not None:
        if stage not in STAGES:
            raise UsageError(f"--stage takes one of {', '.join(STAGES)}; got {stage!r}")
        facts["stage"] = stage
    store = _store(playbooks)
    resolved = store.taxonomy.resolve(name).name
    facts["label"] = resolved
    pb = store.match(resolved, stage=facts.get("stage") if isinstance(facts.get("stage"), str) else None)
    if pb is None:
        raise UsageError(f"no playbook matches {resolved}" + (f" at stage {facts.get('stage')}"
                                                             if facts.get("stage") else ""))
    cfg = config_here()
    settings = PlaybookSettings.from_config(cfg, os.environ, health_url=health_url, log_file=log)
    plan = gather_and_plan(pb, facts, settings, gather=not no_gather, taxonomy=store.taxonomy)
    outcomes: tuple[ActionOutcome, ...] = ()
    if not dry_run and plan.to_run:
        as_json = fmt is OutputFormat.json
        if not as_json:
            _render_plan(plan, fmt, dry_run=False)
        if not yes:
            from mosaic_diag.commands._common import confirm_destructive

            # (asked on stderr, answered on stdin, a terminal or a pipe: a JSON report on stdout stays whole)
            declined = confirm_destructive(f"Execute {len(plan.to_run)} action(s) of {plan.playbook}?",
                                           nothing="nothing done", act="act")
            if declined is not None:
                return declined[0]
        try:
            outcomes = execute_plan(plan, settings)
        except ActionsStopped as stopped:
            if not as_json:
                _executed(stopped.outcomes, fmt)
            raise
        if not as_json:
            _executed(outcomes, fmt)
            from mosaic_diag.platform.mdtext import md_code

            audit = settings.path(settings.audit_log)
            _out(f"\naudit log: {md_code(audit) if fmt is OutputFormat.markdown else audit}")
    elif fmt is not OutputFormat.json:
        _render_plan(plan, fmt, dry_run=dry_run)
    if fmt is OutputFormat.json:
        _json({**plan.to_dict(), "dry_run": dry_run, "executed": [o.to_dict() for o in outcomes]})
    failed = plan.failed_checks or any(not o.ok for o in outcomes)
    return 1 if failed else 0


def register(app: typer.Typer) -> None:
    app.add_typer(playbook_app, name="playbook")
