"""Golden dataset: helper C's golden runner against the app (URL or import path), when configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message, Skip
from mosaic_diag.errors import DiagError
from mosaic_diag.golden.applog import LogCapture, app_log_captured

IDS = (
    CheckId("MD-GOLDEN001", "error", "A golden case failed against the app",
            "run `mosaic-diag golden run` for the whole report and the case's assertions"),
    CheckId("MD-GOLDEN002", "error", "The golden run could not start (app unreachable, invalid cases)",
            "check predeploy.golden_url / predeploy.golden_app and the golden cases"),
    CheckId("MD-GOLDEN003", "info", "The in-process app logged errors while the cases ran",
            "the app's own error records (a provider failover, a fallback), counted and the first distinct ones "
            "shown; run the app and `mosaic-diag golden --url` to see them whole"),
)


# the in-process app's environment while the cases run, unless the user set the variable: no
# provider SDK retries (the example app's LLM_MAX_RETRIES; the SDKs default to 2, and a rate
# limit's retry-after then eats the check's timeout; the golden runner has its own retries)
APP_ENV_DEFAULTS = {"LLM_MAX_RETRIES": "0"}


def run(ctx: CheckContext) -> Iterator[Message]:
    import time

    started = time.monotonic()  # the run's budget counts importing the runner and starting the app too
    url = ctx.config.get("predeploy.golden_url", "") or ctx.env.get("MOSAIC_APP_URL") or None  # (strings, checked)
    app = ctx.config.get("predeploy.golden_app", "") or None
    if not url and not app:
        raise Skip("no app URL or import path configured (predeploy.golden_url, MOSAIC_APP_URL or "
                   "predeploy.golden_app)")
    cases_dir = ctx.config.path("predeploy.golden_cases", "golden") or ctx.root / "golden"
    if url:
        yield from _run(cases_dir, url, app, ctx, None, started)
        return
    from mosaic_diag.golden.targets import app_env

    # (a variable the user set, in the process or in predeploy's environment, is left alone)
    with app_env({k: v for k, v in APP_ENV_DEFAULTS.items() if k not in ctx.env}), app_log_captured() as capture:
        yield from _run(cases_dir, url, app, ctx, capture, started)


def _run(cases_dir: Path, url: str | None, app: object, ctx: CheckContext, capture: LogCapture | None,
         started: float) -> Iterator[Message]:
    import threading
    import time

    from mosaic_diag.golden import RunOptions, load_cases, open_target, run_cases
    from mosaic_diag.golden.assertions import REGEX_TIMEOUT
    from mosaic_diag.golden.explain import warm_up
    from mosaic_diag.golden.targets import close_within

    # the failed cases are explained after the run's end: the classifier loads meanwhile, not then
    threading.Thread(target=warm_up, daemon=True, name="golden-explain-warm-up").start()
    # (a configuration value that cannot be used is the command's error, exit 2, not a golden finding)
    regex_timeout = ctx.config.seconds("golden.regex_timeout", REGEX_TIMEOUT)
    # the golden command's own limits, when set, hold here too: the whole run, and one request
    run_limit = ctx.config.seconds("golden.global_timeout", ctx.timeout)
    request_limit = ctx.config.seconds("golden.timeout", ctx.timeout)
    try:
        cases = load_cases([cases_dir])
        target = open_target(url=url if url else None, app=None if url else str(app), app_dir=ctx.root,
                             probe_timeout=min(5.0, ctx.timeout))
    except DiagError as exc:
        where = f"{exc.path}:{exc.line}" if exc.path and exc.line else exc.path
        text = str(exc).removeprefix(f"{where}: ") if where else str(exc)  # the location column shows it
        yield Message("MD-GOLDEN002", text, location=where, exc=exc)
        return
    if capture is not None:
        capture.adopt()  # the app is imported and started: its loggers exist now
    # the run stops a little before the check's own timeout, so it reports which cases it ran; a request still
    # in flight then is not waited for (closing an in-process app waits for it: the check timed out, its
    # report lost)
    # (the rest, a fifth and at least 2 s: judging and explaining, closing; a tenth and 1 s was overrun on a machine
    # whose two cores ran four busy processes: MD-TIMEOUT, the report lost)
    budget = max(1.0, ctx.timeout - max(2.0, ctx.timeout * 0.2))
    budget = min(budget, run_limit)
    request = min(budget, request_limit)
    report = None
    try:
        report = run_cases(cases, target, RunOptions(timeout=request, global_timeout=budget, retries=0,
                                                     regex_timeout=regex_timeout, spent=time.monotonic() - started))
    finally:
        if report is not None and not report.unfinished:
            target.close()
        else:
            close_within(target, min(0.2, 0.05 * ctx.timeout))
    for result in report.results:
        if result.ok:
            continue
        explanation = result.explanation
        also = f" ({explanation.names})" if explanation and len(explanation.all_labels) > 1 else ""
        yield Message("MD-GOLDEN001", f"case {result.case_id}: {result.outcome}: "
                                      f"{'; '.join(result.failures) or 'failed'}{also}",
                      location=result.where, label=explanation.label if explanation else None)
    if capture is not None and capture.log.errors:
        yield Message("MD-GOLDEN003", capture.log.summary())

CHECK = Check("golden", ("golden",), IDS, run, "The golden cases pass against the app.")
