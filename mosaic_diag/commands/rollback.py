"""`mosaic-diag rollback [SHA] | --previous | --auto`: go back safely (exit codes: mosaic_diag.rollback)."""

import json
import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mosaic_diag.commands._options import FormatOption, OutputFormat

if TYPE_CHECKING:
    from mosaic_diag.rollback import ErrorBudgetReading, RollbackPlan

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")


def _duration(value: str) -> timedelta:
    from mosaic_diag.commands._common import parse_duration
    from mosaic_diag.errors import UsageError

    m = _DURATION.match(value.strip())
    if not m:
        raise UsageError(f"--window takes a duration such as 15m, 1h; got {value!r}")
    return timedelta(seconds=parse_duration(value, "--window"))


class _Report:
    """Collects what the command says, printed as text as it goes or as one JSON object at the end."""

    def __init__(self, fmt: OutputFormat) -> None:
        self.fmt = fmt
        self.data: dict[str, Any] = {}

    def say(self, text: str) -> None:
        if self.fmt is not OutputFormat.json:
            if self.fmt is OutputFormat.markdown and text:  # commit subjects and authors are text, not markup
                from mosaic_diag.platform.mdtext import md_text

                text = "- " + md_text(text)
            sys.stdout.write(text + "\n")

    def done(self, code: int, **fields: Any) -> int:
        self.data.update(fields)
        if self.fmt is OutputFormat.json:
            self.data["exit_code"] = int(code)
            sys.stdout.write(json.dumps(self.data, indent=2, sort_keys=True, default=str) + "\n")
        return int(code)


def _show_plan(plan: "RollbackPlan", rep: _Report) -> None:
    rep.data["plan"] = plan.to_dict()
    if rep.fmt is OutputFormat.json:
        return
    if plan.diff is not None:
        from mosaic_diag.commands.manifest import render_diff

        render_diff(plan.diff, rep.fmt)
    rep.say(f"plan ({plan.strategy}):")
    for line in plan.describe():
        rep.say(f"  {line}")


def rollback(
    sha: Annotated[str | None, typer.Argument(help="The commit to go back to (HEAD, main~N: read on the remote "
                                              "branch).")] = None,
    previous: Annotated[bool, typer.Option("--previous", help="Go back to the last recorded good deploy.")] = False,
    strategy: Annotated[str, typer.Option(help="revert, reset or render-api.")] = "revert",
    remote: Annotated[str | None, typer.Option(help="The deploy remote: a remote name or URL (config "
                                               "rollback.remote, default origin).")] = None,
    branch: Annotated[str | None, typer.Option(help="The deploy branch (config rollback.branch, "
                                               "default main).")] = None,
    allow_schema_change: Annotated[bool, typer.Option("--allow-schema-change",
                                                      help="Go back across a schema change.")] = False,
    allow_off_branch: Annotated[bool, typer.Option("--allow-off-branch", help="Accept a target that was never "
                                                   "the branch head (reached only through a merge).")] = False,
    allow_recorded_bad: Annotated[bool, typer.Option("--allow-recorded-bad", help="Accept a target the deploy "
                                                     "store records as bad.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    auto: Annotated[bool, typer.Option("--auto", help="Roll back to the previous deploy when the error "
                                       "budget of the deployed head is spent (a dry run unless --execute).")] = False,
    health_url: Annotated[str | None, typer.Option("--health-url", help="The app's /health URL.")] = None,
    log: Annotated[Path | None, typer.Option("--log", help="A log (any shape triage reads, plain or compressed): "
                                             "error events and 5xx per request in the window, by label.")
                   ] = None,
    error_budget: Annotated[float | None, typer.Option("--error-budget", help="Allowed error rate (config "
                                                       "rollback.error_budget, default 0.01).")] = None,
    window: Annotated[str, typer.Option("--window", help="Log window (/health has its own 5m).")
                      ] = "15m",
    min_requests: Annotated[int | None, typer.Option("--min-requests", help="Fewer requests than this: no "
                                                     "verdict (config rollback.min_requests, default 10).")
                            ] = None,
    execute: Annotated[bool, typer.Option("--execute", help="With --auto: really roll back.")] = False,
    render_deploy_id: Annotated[str | None, typer.Option("--render-deploy-id", help="render-api: roll back "
                                                         "to this Render deploy (checked against the commit).")
                                ] = None,
    repo: Annotated[Path, typer.Option("--repo", show_default=False, help="The target repository (default: the one "
                                       "holding the current directory; its top level is used).")] = Path("."),
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Plan, show and (after asking) carry out a safe rollback of the deploy branch."""
    from mosaic_diag.commands._common import (
        config_here,
        confirm_destructive,
        own_repository,
        sigterm_as_interrupt,
    )
    from mosaic_diag.commands.manifest import open_store_here
    from mosaic_diag.errors import ExitCode, Interrupted, UsageError
    from mosaic_diag.manifest import ManifestSettings
    from mosaic_diag.rollback import STRATEGIES, RollbackInterrupted, audit_log_path, execute_rollback, plan_rollback

    if sum((sha is not None, previous, auto)) != 1:
        raise UsageError("give exactly one of SHA, --previous or --auto")
    if strategy not in STRATEGIES:
        raise UsageError(f"--strategy takes one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if auto and (health_url is None) == (log is None):
        raise UsageError("--auto needs one of --health-url or --log")
    if execute and not auto:
        raise UsageError("--execute goes with --auto (otherwise the command asks, or takes --yes)")
    if render_deploy_id is not None and strategy != "render-api":
        raise UsageError("--render-deploy-id goes with --strategy render-api")
    own_repository()
    sigterm_as_interrupt()
    said = {"where": "nothing was changed"}
    try:
        cfg = config_here(repo)
        root = cfg.root  # the repository's top level: config, store and audit log are found from it
        env = os.environ
        rep = _Report(fmt)
        remote = remote or str(cfg.get("rollback.remote", "origin"))
        branch = branch or str(cfg.get("rollback.branch", "main"))
        store = open_store_here(root)

        reading: ErrorBudgetReading | None = None
        judged: str | None = None
        if auto:
            reading, judged = _judge(cfg, root, remote, branch, store, health_url, log, error_budget, min_requests,
                                     window, rep)
            if reading is None:
                return rep.done(ExitCode.FINDINGS, action="refused")
            if not reading.over_budget:
                return rep.done(ExitCode.OK, action="none")
            previous = True

        render = None
        missing: tuple[str, ...] = ()
        if strategy == "render-api":
            from mosaic_diag.platform.render_api import render_target_from

            render, missing_list = render_target_from(cfg, env)
            missing = tuple(missing_list)
        said["where"] = f"nothing was committed or pushed; {remote} {branch} and the checkout are as they were"
        plan = plan_rollback(
            root, sha, previous=previous, strategy=strategy, remote=remote, branch=branch,
            allow_schema_change=allow_schema_change, allow_off_branch=allow_off_branch,
            allow_recorded_bad=allow_recorded_bad, judged_commit=judged, store=store, render=render,
            render_missing=missing, render_deploy_id=render_deploy_id, settings=ManifestSettings.from_config(cfg),
            env=env,
        )
        _show_plan(plan, rep)
        if not plan.ok:
            return rep.done(plan.refusal_exit_code, action="refused")
        if plan.nothing_to_do:
            if auto:  # over budget, and what serves is already the last good deploy's code: no rollback can help
                serving, good = (plan.deployed_sha or "?")[:12], (plan.target_sha or "?")[:12]
                message = (f"over budget, but {serving} already serves the code of the last good deploy ({good}): "
                           "nothing to roll back to; the fault is elsewhere (the database, a provider, the "
                           "configuration)")
                rep.say(message)
                return rep.done(ExitCode.FINDINGS, action="none", message=message)
            return rep.done(ExitCode.OK, action="none")
        if dry_run or (auto and not execute):
            rep.say("dry run: nothing changed" + (" (add --execute to roll back)" if auto else ""))
            return rep.done(ExitCode.FINDINGS if auto else ExitCode.OK, action="dry-run")
        audit = audit_log_path(cfg)  # (an empty `audit_log`: one line, before the question and before acting)
        if not (yes or execute):  # (a plan without refusals has its target)
            declined = confirm_destructive(f"Roll back {plan.remote}/{plan.branch} to {(plan.target_sha or '?')[:12]} "
                                           f"({plan.strategy})?", nothing="nothing changed", act="roll back")
            if declined is not None:
                return rep.done(declined[0], action="declined", message=declined[1])
        reason = reading.verdict() if reading else None
        result = execute_rollback(plan, audit_path=audit, store=store,
                                  reason=reason)
        rep.say(result.message)
        for warning in result.warnings:
            sys.stderr.write(f"mosaic-diag: warning: {warning}\n")
        return rep.done(ExitCode.OK, action="rolled-back", result=result.to_dict())
    except RollbackInterrupted as exc:  # while it acted: its own line says what state things are in
        raise Interrupted(str(exc)) from None
    except KeyboardInterrupt:  # before it acted (reading, judging, planning): nothing was done
        raise Interrupted(f"interrupted before the rollback acted: {said['where']}") from None


def _judge(cfg: Any, root: Path, remote: str, branch: str, store: Any, health_url: str | None, log: Path | None,
           error_budget: float | None, min_requests: int | None, window: str,
           rep: _Report) -> "tuple[ErrorBudgetReading | None, str | None]":
    """The error budget reading of the deployed head and the commit it judged; (None, None) after a
    refusal was reported (the verdict cannot be tied to the remote branch head)."""
    from mosaic_diag.rollback.auto import judge_head

    budget = float(error_budget if error_budget is not None
                   else cfg.number("rollback.error_budget", 0.01, minimum=0, maximum=1))
    floor = int(min_requests if min_requests is not None
                else cfg.number("rollback.min_requests", 10, minimum=0, integer=True))
    rules = cfg.path("rules")
    paths = cfg.get("rollback.health_paths", ["/health", "/healthz"])
    paths = [paths] if isinstance(paths, str) else paths
    if not isinstance(paths, list | tuple) or not all(isinstance(x, str) for x in paths):
        raise cfg.error("rollback.health_paths", f"must be a list of paths, got {paths!r}")
    verdict = judge_head(root, remote, branch, store, budget=budget, min_requests=floor, health_url=health_url,
                         log=log, window=_duration(window), health_paths=tuple(paths),
                         rules=rules)
    if verdict.reading is not None:
        rep.data["reading"] = verdict.reading.to_dict()
        rep.say(verdict.reading.verdict())
    if verdict.refusal is not None:
        rep.say(f"refused: {verdict.refusal.message}")
        rep.data["refusals"] = [verdict.refusal.to_dict()]
        return None, None
    return verdict.reading, verdict.judged_commit


def register(app: typer.Typer) -> None:
    app.command("rollback")(rollback)
