"""`mosaic-diag deploy`: gate, record, push, wait, watch, judge, roll back if bad (exit codes:
mosaic_diag.deploy)."""

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mosaic_diag.commands._options import FormatOption, OutputFormat
from mosaic_diag.platform.mdtext import md_text
from mosaic_diag.platform.terminal import one_line_escaped

if TYPE_CHECKING:
    from mosaic_diag.deploy import DeployOptions

_MARKS = {"ok": "ok", "failed": "FAILED", "skipped": "skipped", "planned": "plan", "running": "..."}


def deploy(
    remote: Annotated[str | None, typer.Option(help="The deploy remote (config deploy.remote, else "
                                               "rollback.remote, else origin).")] = None,
    branch: Annotated[str | None, typer.Option(help="The deploy branch (config deploy.branch, else "
                                               "rollback.branch, else main).")] = None,
    watch: Annotated[str | None, typer.Option("--watch", help="How long to watch the new deploy (default 5m; "
                                              "config deploy.watch).")] = None,
    wait_timeout: Annotated[str | None, typer.Option("--wait-timeout", help="How long the service may take to "
                                                     "run the pushed commit (default 10m).")] = None,
    poll_interval: Annotated[str | None, typer.Option("--poll-interval", help="Between two looks at Render and "
                                                      "/health (default 10s).")] = None,
    health_url: Annotated[str | None, typer.Option("--health-url", help="The app's /health (config "
                                                   "deploy.health_url).")] = None,
    log: Annotated[Path | None, typer.Option("--log", help="Judge from this log (any shape triage reads) "
                                             "instead of Render's log API.")] = None,
    render_service: Annotated[str | None, typer.Option("--render-service", help="The Render service id.")] = None,
    no_rollback: Annotated[bool, typer.Option("--no-rollback", help="A bad deploy is recorded, not rolled "
                                              "back.")] = False,
    strategy: Annotated[str | None, typer.Option(help="Rollback strategy: revert (default), reset or "
                                                 "render-api (config deploy.rollback_strategy).")] = None,
    allow_schema_change: Annotated[bool, typer.Option("--allow-schema-change", help="Roll back across a schema "
                                                      "change.")] = False,
    skip: Annotated[list[str] | None, typer.Option("--skip", help="Predeploy checks, tags or ids to leave out.")
                    ] = None,
    execute_playbooks: Annotated[bool, typer.Option("--execute-playbooks", help="Carry out the playbooks of "
                                                    "the labels found (audited); default: planned only.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; record, push and deploy nothing.")
                       ] = False,
    allow_other_branch: Annotated[bool, typer.Option("--allow-other-branch", help="Deploy HEAD although it is "
                                                     "on another local branch than the deploy branch.")] = False,
    resume_autodeploy: Annotated[bool, typer.Option("--resume-autodeploy", help="When the deploy is judged "
                                                    "good and the Render service's autodeploy is off (a render-api "
                                                    "rollback turned it off), turn it back on (audited).")] = False,
    repo: Annotated[Path, typer.Option("--repo", show_default=False,
                                                       help="The repository to deploy (default: here).")] = Path("."),
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Deploy HEAD: predeploy, record (pending), git push (never forced), wait until the service runs it,
    watch, judge; a bad deploy is rolled back to the last good one unless --no-rollback."""
    from mosaic_diag.commands._common import config_here, own_repository, sigterm_as_interrupt
    from mosaic_diag.deploy import run_deploy

    own_repository()
    sigterm_as_interrupt()
    cfg = config_here(repo)
    env = dict(os.environ)
    if render_service:
        env["RENDER_SERVICE_ID"] = render_service
    opts = _options(cfg, remote, branch, watch, wait_timeout, poll_interval, health_url, log, no_rollback,
                    strategy, allow_schema_change, skip, execute_playbooks, dry_run, allow_other_branch,
                    resume_autodeploy)
    printer = _Printer(fmt)
    printer.header(opts, cfg.root)
    report = run_deploy(cfg.root, env, opts, config=cfg, on_step=printer.step, on_warning=printer.warning)
    printer.done(report)
    return report.exit_code


def _options(cfg: Any, remote: str | None, branch: str | None, watch: str | None, wait_timeout: str | None,
             poll: str | None, health_url: str | None, log: Path | None, no_rollback: bool, strategy: str | None,
             allow_schema_change: bool, skip: list[str] | None, execute_playbooks: bool,
             dry_run: bool, allow_other_branch: bool, resume_autodeploy: bool = False) -> "DeployOptions":
    from mosaic_diag.commands._common import parse_duration
    from mosaic_diag.deploy import DeployOptions
    from mosaic_diag.deploy.model import SEVERITIES
    from mosaic_diag.errors import UsageError, no_such
    from mosaic_diag.rollback import STRATEGIES

    def seconds(flag: str, value: str | None, key: str, default: str) -> float:
        if value is not None:
            got = parse_duration(value, flag)
        else:
            raw = str(cfg.get(key, default))
            try:
                got = parse_duration(raw, key)
            except UsageError:
                raise cfg.error(key, f"takes a duration such as 90s, 30m, 2h; got {raw!r}") from None
        if got < 0:
            raise UsageError(f"{flag} must not be negative")
        return got

    chosen = strategy or str(cfg.get("deploy.rollback_strategy", "revert"))
    if chosen not in STRATEGIES and strategy is None:
        raise cfg.error("deploy.rollback_strategy", f"takes one of {', '.join(STRATEGIES)}; got {chosen!r}")
    if chosen not in STRATEGIES:
        raise UsageError(f"--strategy takes one of {', '.join(STRATEGIES)}; got {chosen!r}")
    severity = str(cfg.get("deploy.fail_severity", "high")).lower()
    if severity not in SEVERITIES:
        raise cfg.error("deploy.fail_severity", f"must be one of {', '.join(SEVERITIES)}; got {severity!r}")
    if log is not None and not log.is_file():
        raise no_such(log)
    poll_s = seconds("--poll-interval", poll, "deploy.poll_interval", "10s")
    if poll_s <= 0:  # (the setting named where it is set: file and line, or its variable)
        raise UsageError("--poll-interval must be positive") if poll is not None else \
            cfg.error("deploy.poll_interval", f"must be a positive duration, got {cfg.get('deploy.poll_interval')!r}")
    config_skip = cfg.get("deploy.skip", [])
    if not isinstance(config_skip, list | tuple) or not all(isinstance(x, str) for x in config_skip):
        raise cfg.error("deploy.skip", f"must be a list of predeploy check ids, got {config_skip!r}")
    return DeployOptions(
        remote=remote or str(cfg.get("deploy.remote", cfg.get("rollback.remote", "origin"))),
        branch=branch or str(cfg.get("deploy.branch", cfg.get("rollback.branch", "main"))),
        watch_s=seconds("--watch", watch, "deploy.watch", "5m"),
        wait_timeout_s=seconds("--wait-timeout", wait_timeout, "deploy.wait_timeout", "10m"),
        poll_s=poll_s,
        health_url=health_url or cfg.get("deploy.health_url") or None,
        log=log, rollback=not no_rollback, strategy=chosen, allow_schema_change=allow_schema_change,
        error_budget=cfg.number("rollback.error_budget", 0.01, minimum=0, maximum=1),
        min_requests=cfg.number("rollback.min_requests", 10, minimum=0, integer=True),
        fail_severity=severity, predeploy_skip=tuple([*config_skip, *(skip or [])]),
        execute_playbooks=execute_playbooks, dry_run=dry_run, allow_other_branch=allow_other_branch,
        resume_autodeploy=resume_autodeploy,
    )


class _Printer:
    """Each step as it starts and ends (table, markdown), or the whole report as one JSON object. A step, a warning
    and the verdict are a line each: a line break in what they say (a committed submodule's path, an app's error)
    is written `\n` (markdown: a space), so it cannot forge a step's line (`[predeploy] ok: ...`)."""

    def __init__(self, fmt: OutputFormat) -> None:
        self.fmt = fmt
        self.tty = sys.stdout.isatty()
        self.pending = ""

    def _say(self, text: str) -> None:
        if self.fmt is not OutputFormat.json:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def header(self, opts: "DeployOptions", root: Path) -> None:
        """Said before the first step (not before an error found while the options are checked)."""
        what = "dry run of a deploy" if opts.dry_run else "deploy"
        where = f"{what} of {root} to {opts.remote}/{opts.branch}"
        self.pending = f"## {md_text(where)}" if self.fmt is OutputFormat.markdown else one_line_escaped(where)

    def step(self, step: Any, event: str) -> None:
        if self.pending:
            self._say(self.pending)
            self.pending = ""
        md = self.fmt is OutputFormat.markdown
        if event == "start":
            if self.tty and not md:
                self._say(f"[{step.name}] ...")
        elif event == "end":
            mark = _MARKS.get(step.status, step.status)
            self._say(f"- **{step.name}** {mark}: {md_text(step.message)}" if md
                      else f"[{step.name}] {mark}: {one_line_escaped(step.message)} ({step.seconds:.1f}s)")
        elif not md:
            self._say(f"[{step.name}]   {one_line_escaped(event)}")

    @staticmethod
    def warning(text: str) -> None:
        """A warning that stops nothing, on stderr as it comes (every format; JSON also has `warnings`)."""
        sys.stderr.write(f"mosaic-diag: warning: {one_line_escaped(text)}\n")
        sys.stderr.flush()

    def done(self, report: Any) -> None:
        if self.fmt is OutputFormat.json:
            sys.stdout.write(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
            return
        verdict = (report.verdict or "?").upper()
        md = self.fmt is OutputFormat.markdown
        reason = md_text(report.reason) if md else one_line_escaped(report.reason)
        self._say(("**" if md else "") + f"verdict: {verdict}" + ("**" if md else "")
                  + f" ({(report.commit or '')[:12]}): {reason} [exit {report.exit_code}]")


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
