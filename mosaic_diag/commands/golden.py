"""`mosaic-diag golden`: run the golden cases (default), `bless` a baseline, `validate` cases."""

import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mosaic_diag.commands._options import (
    FormatOption,
    OutputFileOption,
    OutputFormat,
    QuietOption,
    ReportFormat,
    ReportFormatOption,
)
from mosaic_diag.config import MAX_SECONDS

if TYPE_CHECKING:
    from mosaic_diag.golden.report import GoldenReport

DEFAULT_STATE_DIR = Path(".mosaic-diag")
DEFAULT_BASELINE = DEFAULT_STATE_DIR / "golden-baseline.json"

golden_app = typer.Typer(
                         no_args_is_help=False, invoke_without_command=True)

CasesOption = Annotated[list[Path] | None, typer.Option(
    "--cases", help="Case files or directories (default: golden/); repeatable.")]
StateDirOption = Annotated[Path | None, typer.Option(
    "--state-dir", help="Where the last run is kept (for --only-failed and bless; default: .mosaic-diag at the "
    "repository's top level).")]


def _case_paths(cases: list[Path] | None) -> list[Path]:
    """The flag's paths as given (from the current directory); else `golden.cases`, read from the repository's
    top level whatever subdirectory the command runs in, shown from the current directory (`golden/x.yml` at
    the top, `../golden/x.yml` one level down)."""
    import os

    from mosaic_diag.commands._common import config_here

    if cases:
        return cases
    cfg = config_here()
    listed = cfg.get("golden.cases", ["golden"])
    if not all(isinstance(p, str) and p and "\x00" not in p for p in listed):
        raise cfg.error("golden.cases", f"must be a list of case files or directories, got {listed!r}")
    paths = [Path(p).expanduser() for p in listed]
    return [p if p.is_absolute() else Path(os.path.relpath(cfg.root / p)) for p in paths]


def _state_dir(given: Path | None) -> Path:
    """`--state-dir` as given; else `.mosaic-diag` at the repository's top level (as the config and the cases
    are found), shown from the current directory: a run from a subdirectory keeps its state with the others'."""
    import os

    from mosaic_diag.commands._common import config_here

    return given if given is not None else Path(os.path.relpath(config_here().root / DEFAULT_STATE_DIR))


@golden_app.callback(invoke_without_command=True)
def golden(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="Base URL of a running app.")] = None,
    app: Annotated[str | None, typer.Option(
        "--app", help="Run an ASGI app in-process: module:attr (examples.mosaic_app.main:app).")] = None,
    cases: CasesOption = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Only cases with this tag; "
                                                  "repeatable (any of them).")] = None,
    keyword: Annotated[str | None, typer.Option("-k", help="Only cases whose id or description "
                                                "contains this text.")] = None,
    only_failed: Annotated[bool, typer.Option("--only-failed", help="Only the cases that were not ok "
                                              "in the last run.")] = False,
    repeat: Annotated[int, typer.Option(min=1, max=1000, help="Runs per case.")] = 1,
    min_pass: Annotated[int | None, typer.Option(min=1, help="Runs that must pass (default: all); "
                                                 "fewer passes than runs is reported as flaky.")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=64, help="Requests in flight "
                                                    "(default 4).")] = None,
    timeout: Annotated[float | None, typer.Option(min=0.01, max=MAX_SECONDS, help="Seconds per request "
                                                  "and for the start's probe of /health (default 30; a case's "
                                                  "`timeout` wins).")] = None,
    global_timeout: Annotated[float | None, typer.Option(min=0.01, max=MAX_SECONDS, help="Seconds for the whole "
                                                         "run (default 600).")] = None,
    regex_timeout: Annotated[float | None, typer.Option(
        "--regex-timeout", min=0.001, max=MAX_SECONDS, help="Seconds one regex assertion (or "
        "contains_json's search) may search one answer (default 2; golden.regex_timeout; a case's `regex_timeout` "
        "wins).")] = None,
    retries: Annotated[int, typer.Option(min=0, max=10, help="Retries with backoff of a request "
                                         "answered 429/5xx.")] = 2,
    provider: Annotated[str | None, typer.Option(
        "--provider", help="openai, anthropic or all: each case once per provider, the app told which one to "
        "use (header X-Mosaic-LLM-Provider); an answer from another provider (a failover) fails.")] = None,
    sdk_retries: Annotated[int | None, typer.Option(
        "--sdk-retries", min=0, max=10, help="The in-process app's LLM SDK retries (LLM_MAX_RETRIES; default 0: "
        "a rate limit fails fast instead of multiplying retries).")] = None,
    pass_rate: Annotated[float | None, typer.Option(
        "--pass-rate", min=0.0, max=1.0, help="Pass when the weighted share of ok cases reaches this "
        "(cases' `weight`, default 1); default: every case must be ok.")] = None,
    cache: Annotated[bool, typer.Option(
        "--cache", help="Answer unchanged requests from the response cache (.mosaic-diag/golden-cache.json) "
        "and keep new 2xx answers there.")] = False,
    baseline: Annotated[Path | None, typer.Option(help="Compare with this baseline: fail only on "
                                                  "regressions.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write a JUnit XML report here.")] = None,
    state_dir: StateDirOption = None,
    fmt: ReportFormatOption = ReportFormat.table,
    output: OutputFileOption = None,
    quiet: QuietOption = False,
) -> int:
    """Run the golden cases against --url or --app and report failures first.

    Exit codes: 0 all ok, 1 a case failed (with --baseline: a regression), 2 bad cases or
    options, 3 the app could not be reached.
    """
    if ctx.invoked_subcommand is not None:
        given = [p.opts[0] for p in ctx.command.params if p.name is not None and
                 getattr(ctx.get_parameter_source(p.name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")]
        if given:  # (silently dropped, `golden --cases mine.yml validate` validated golden/ and said ok)
            from mosaic_diag.errors import UsageError

            sub = ctx.invoked_subcommand
            what = "are options" if len(given) > 1 else "is an option"
            raise UsageError(f"{', '.join(given)} before `{sub}` {what} of the golden run, not of `{sub}`: "
                             f"put the ones it takes after it (mosaic-diag golden {sub} --help)")
        return 0
    import dataclasses
    import time

    started = time.monotonic()  # the global timeout counts loading the cases and starting the app too
    from mosaic_diag.commands._common import check_not_inputs, check_output, check_writable, config_here
    from mosaic_diag.errors import UsageError
    from mosaic_diag.golden import load_cases, open_target, run_cases, select
    from mosaic_diag.golden.assertions import REGEX_TIMEOUT
    from mosaic_diag.golden.runner import RunOptions
    from mosaic_diag.golden.state import (
        LAST_RUN,
        compare,
        failed_ids,
        load_baseline,
        load_last_run,
        save_last_run,
    )

    check_output(fmt, output, junit)
    state_dir = _state_dir(state_dir)
    check_writable(state_dir / LAST_RUN)  # (kept at the end of the run: checked before it starts)
    from mosaic_diag.platform.redact import register_env_secrets

    register_env_secrets(os.environ)  # the app (in-process, its env) may echo a key of no known shape
    cfg = config_here()
    if min_pass is not None and min_pass > repeat:
        raise UsageError(f"--min-pass {min_pass} is more than --repeat {repeat}")
    url = url or ((cfg.get("golden.url", "") or None) if app is None else None)  # (a string: "" is unset)
    if url is None and app is None:
        raise UsageError("give --url http://HOST:PORT or --app module:attr (or golden.url in config)")
    all_cases = load_cases(_case_paths(cases))
    check_not_inputs((output, junit), [*dict.fromkeys(c.file for c in all_cases), *([baseline] if baseline else []),
                                       state_dir / LAST_RUN, state_dir / "golden-cache.json"])
    only = failed_ids(load_last_run(state_dir)) if only_failed else None
    chosen = select(all_cases, tags=tag, keyword=keyword, only=only)
    if not chosen:
        if only is not None and not only:
            sys.stderr.write("mosaic-diag: nothing to do: no case failed in the last run\n")
            return 0
        raise UsageError("no case matches the selection (--tag / -k / --only-failed)")
    base = load_baseline(baseline) if baseline is not None else None
    from mosaic_diag.golden.applog import app_log_captured
    from mosaic_diag.golden.cache import CACHE_FILE, FileCache
    from mosaic_diag.golden.runner import PROVIDERS
    from mosaic_diag.golden.targets import app_env, close_within

    chosen_provider = provider or cfg.get("golden.provider", None)
    if provider is None and chosen_provider is not None and chosen_provider not in (*PROVIDERS, "all"):
        raise cfg.error("golden.provider", f"must be openai, anthropic or all, got {chosen_provider!r}")
    if chosen_provider is not None and chosen_provider not in (*PROVIDERS, "all"):
        raise UsageError(f"--provider must be openai, anthropic or all, got {chosen_provider!r}")
    providers = PROVIDERS if chosen_provider == "all" else (chosen_provider,)
    rate = pass_rate if pass_rate is not None else cfg.number("golden.pass_rate", None, minimum=0, maximum=1)
    if rate is not None and not 0 <= float(rate) <= 1:
        raise UsageError(f"--pass-rate must be a number from 0 to 1, got {rate!r}")
    response_cache = FileCache(state_dir / CACHE_FILE) if cache or cfg.get("golden.cache", False) else None
    options = RunOptions(
        concurrency=concurrency or int(cfg.number("golden.concurrency", 4, minimum=1, maximum=64, integer=True) or 4),
        timeout=timeout or cfg.seconds("golden.timeout", 30.0),
        global_timeout=global_timeout or cfg.seconds("golden.global_timeout", 600.0),
        repeat=repeat, min_pass=min_pass, retries=retries, providers=providers, cache=response_cache,
        pass_rate=float(rate) if rate is not None else None,
        regex_timeout=regex_timeout or cfg.seconds("golden.regex_timeout", REGEX_TIMEOUT),
    )
    # the in-process app's SDK retries: 0 unless asked (--sdk-retries, golden.sdk_retries, LLM_MAX_RETRIES)
    wanted = sdk_retries if sdk_retries is not None else cfg.number("golden.sdk_retries", None, minimum=0,
                                                                     integer=True)
    env = {"LLM_MAX_RETRIES": str(int(wanted) if wanted is not None else 0)} if app else {}
    from mosaic_diag.render.progress import progress, progress_wanted

    # the in-process app's own log records are counted, not printed (a failing run's tracebacks would flood
    # the terminal): one line on stderr says what it logged
    with app_env(env, force=sdk_retries is not None), (app_log_captured() if app else nullcontext()) as capture:
        try:
            target = open_target(url=url, app=app, probe_timeout=options.timeout)  # (a waking app is slow)
            for note in getattr(target, "notes", ()):
                sys.stderr.write(f"mosaic-diag: note: {note}\n")
            if capture is not None:
                capture.adopt()  # the app is imported and started: its loggers exist now
            report: GoldenReport | None = None
            try:
                with progress("golden", enabled=progress_wanted(fmt, quiet)) as on_progress:
                    report = run_cases(chosen, target, dataclasses.replace(options, spent=time.monotonic() - started),
                                       on_progress=on_progress)
            finally:  # requests still in flight at the global timeout: do not wait for them
                close_within(target, 1.0 if report is not None and not report.unfinished else 0.2)
        finally:
            if capture is not None and capture.log.records:
                _say_app_log(capture.log)
    if response_cache is not None:
        from mosaic_diag.commands._common import warn

        if response_cache.distrusted:
            warn(f"{response_cache.distrusted}: not used as the response cache (it is replaced)")
        if not response_cache.save():
            warn("no private place for the cache's signing key (MOSAIC_DIAG_CACHE_DIR, XDG_CACHE_HOME or "
                 "~/.cache): the response cache was not written")
    if base is not None:
        report = report.with_baseline(compare(report.results, base, str(baseline)))
    save_last_run(state_dir, report)
    if junit is not None:
        from mosaic_diag.golden.junit import write_junit

        write_junit(report, junit)
    _render(report, fmt, output)
    return report.exit_code


def _render(report: "GoldenReport", fmt: ReportFormat, output: Path | None = None) -> None:
    if fmt is ReportFormat.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return
    if fmt is ReportFormat.html:
        from mosaic_diag.commands._common import write_report
        from mosaic_diag.render.html import golden_html

        write_report(golden_html(report), output)
        return
    if fmt is ReportFormat.markdown:
        from mosaic_diag.golden.markdown import render_markdown

        sys.stdout.write(render_markdown(report))
        return
    from rich.table import Table
    from rich.text import Text

    from mosaic_diag.render.console import SEVERITY_STYLE, out, print_table

    style = {"pass": "green", "flaky": "yellow", "fail": "red", "error": "bold red"}
    s = report.summary
    # Ids and labels are never folded (a grep for them must find them); what does not fit in
    # the table goes to the lines under it, which wrap between words.
    rate = (f", pass rate {s['pass_rate']:.0%} (min {s['pass_rate_min']:.0%})"
            if s["pass_rate_min"] is not None else "")
    table = Table(title=Text(f"golden: {s['passed']} passed, {s['flaky']} flaky, {s['failed']} failed, "
                             f"{s['errors']} errors{rate} ({report.target}, {report.duration_ms / 1000:.1f}s)"),
                  title_justify="left")
    table.add_column("Result", no_wrap=True)
    table.add_column("Case", no_wrap=True)
    table.add_column("Passes", justify="right", no_wrap=True)
    table.add_column("p95 ms", justify="right", no_wrap=True)
    results = report.sorted_results()
    for r in results:
        result = Text(r.outcome.upper() + ("" if r.ok else " ✗"), style=style[r.outcome])
        # a case id is text (`case[openai]` of a provider matrix), never Rich markup
        table.add_row(result, Text(r.case_id), f"{r.passes}/{r.runs}", f"{r.latency_p95_ms:.0f}")
    console = out()
    print_table(console, table)
    details = [r for r in results if r.outcome != "pass"]
    if details:
        console.print("[bold]Why, label and playbook[/]")
    for r in details:
        console.print(Text.assemble((r.case_id, f"bold {style[r.outcome]}"), f"  {r.where}"))
        for ref in r.explanation.all_labels if r.explanation is not None else ():
            console.print(Text.assemble(
                "    ", (ref.label, SEVERITY_STYLE.get(ref.severity, "")), f" ({ref.severity}, {ref.category})",
                f" → playbook {ref.playbook}" if ref.playbook else " (no playbook)"))
        for msg in r.failures[:3]:
            console.print(Text("    · " + _clip(msg)))
        if len(r.failures) > 3:
            console.print(Text(f"    (+{len(r.failures) - 3} more: --format json)", style="dim"))
    if report.baseline is not None:
        b = report.baseline
        console.print(Text.assemble(
            f"baseline {b.path}: ", (f"{len(b.regressions)} regressions", "red"),
            f" {', '.join(b.regressions)}; ", (f"{len(b.fixes)} fixes", "green"),
            f" {', '.join(b.fixes)}; ", (f"{len(b.newly_flaky)} newly flaky", "yellow"),
            f" {', '.join(b.newly_flaky)}"))


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@golden_app.command("validate")
def validate_cmd(
    paths: Annotated[list[Path] | None, typer.Argument(help="Case files or directories "
                                                       "(default: golden/).")] = None,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Check the case files: every problem as file:line: message (exit 2 if any)."""
    from mosaic_diag.errors import ExitCode
    from mosaic_diag.golden import validate

    found, errors = validate(_case_paths(paths))
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({
            "ok": not errors, "cases": len(found),
            "errors": [{"path": e.path, "line": e.line, "message": e.message} for e in errors],
        }, indent=2) + "\n")
    else:
        for e in errors:
            sys.stderr.write(f"{e}\n")
        if not errors:
            files = len({c.file for c in found})
            sys.stdout.write(f"{len(found)} cases in {files} files: ok\n")
    return ExitCode.USAGE if errors else ExitCode.OK


@golden_app.command("bless")
def bless_cmd(
    baseline: Annotated[Path | None, typer.Option(help="The baseline to write (default: "
                                                  "golden-baseline.json in the state directory).")] = None,
    state_dir: StateDirOption = None,
    include_errors: Annotated[bool, typer.Option(
        "--include-errors", help="Bless the cases that got no answer (outcome error) too.")] = False,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Accept the last run's results as the baseline (merged into an existing one). Cases that got no
    answer at all (the app was down, the run timed out) are left out unless --include-errors."""
    from datetime import UTC, datetime

    from mosaic_diag.golden.state import bless, load_last_run

    state_dir = _state_dir(state_dir)
    baseline = baseline if baseline is not None else state_dir / DEFAULT_BASELINE.name
    path, count, skipped = bless(load_last_run(state_dir), baseline, datetime.now(UTC).isoformat(),
                                 include_errors=include_errors)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({"baseline": str(path), "cases": count, "not_blessed": skipped}) + "\n")
    else:
        sys.stdout.write(f"blessed {count} cases into {path}\n")
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        sys.stderr.write(f"mosaic-diag: warning: {len(skipped)} case(s) got no answer in the last run and were "
                         f"not blessed (a known failure would hide their regressions): {shown}; run again, or "
                         "--include-errors\n")
    return 0


def _say_app_log(log: Any) -> None:
    """What the in-process app logged (AppLog), on stderr: one line for a pipe or a CI log; on a terminal, each
    distinct record on a line of its own, wrapped at words under itself (the one line of up to ~1,000 characters
    was broken mid-word by the terminal)."""
    if not sys.stderr.isatty():
        sys.stderr.write(f"golden: {log.note()}\n")
        return
    from rich.text import Text

    from mosaic_diag.render.console import err, print_hanging

    head, *records = log.note_lines()
    print_hanging(err(), Text(f"golden: {head}"), hang=2)
    for record in records:
        print_hanging(err(), Text(record), indent=2, hang=2)


def register(app: typer.Typer) -> None:
    app.add_typer(golden_app, name="golden")
