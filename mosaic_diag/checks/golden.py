"""Golden dataset: helper C's golden runner against the app (URL or import path), when configured."""

from __future__ import annotations

from collections.abc import Iterator

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message, Skip
from mosaic_diag.errors import DiagError

IDS = (
    CheckId("MD-GOLDEN001", "error", "A golden case failed against the app",
            "run `mosaic-diag golden run` for the whole report and the case's assertions"),
    CheckId("MD-GOLDEN002", "error", "The golden run could not start (app unreachable, invalid cases)",
            "check predeploy.golden_url / predeploy.golden_app and the golden cases"),
)


def run(ctx: CheckContext) -> Iterator[Message]:
    url = ctx.config.get("predeploy.golden_url", None) or ctx.env.get("MOSAIC_APP_URL") or None
    app = ctx.config.get("predeploy.golden_app", None)
    if not url and not app:
        raise Skip("no app URL or import path configured (predeploy.golden_url or predeploy.golden_app)")
    cases_dir = ctx.root / str(ctx.config.get("predeploy.golden_cases", "golden"))
    try:
        from mosaic_diag.golden import RunOptions, load_cases, open_target, run_cases
    except ImportError as exc:
        raise Skip(f"the golden runner is not available ({exc})") from exc
    try:
        cases = load_cases([cases_dir])
        target = open_target(url=url if url else None, app=None if url else str(app), app_dir=ctx.root,
                             probe_timeout=min(5.0, ctx.timeout))
    except DiagError as exc:
        where = f"{exc.path}:{exc.line}" if exc.path and exc.line else exc.path
        text = str(exc).removeprefix(f"{where}: ") if where else str(exc)  # the location column shows it
        yield Message("MD-GOLDEN002", text, location=where, exc=exc)
        return
    try:
        report = run_cases(cases, target, RunOptions(timeout=ctx.timeout, global_timeout=ctx.timeout, retries=0))
    finally:
        target.close()
    for result in report.results:
        if result.ok:
            continue
        explanation = result.explanation
        yield Message("MD-GOLDEN001", f"case {result.case_id}: {result.outcome}: "
                                      f"{'; '.join(result.failures) or 'failed'}",
                      location=result.where, label=explanation.label if explanation else None)


CHECK = Check("golden", ("golden",), IDS, run, "The golden cases pass against the app.")
