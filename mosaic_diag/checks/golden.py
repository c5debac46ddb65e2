"""Golden dataset: helper C's golden runner against the app (URL or import path), when configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message, Skip
from mosaic_diag.errors import DiagError
from mosaic_diag.redact import redact_text

SHOWN_RECORDS = 3

IDS = (
    CheckId("MD-GOLDEN001", "error", "A golden case failed against the app",
            "run `mosaic-diag golden run` for the whole report and the case's assertions"),
    CheckId("MD-GOLDEN002", "error", "The golden run could not start (app unreachable, invalid cases)",
            "check predeploy.golden_url / predeploy.golden_app and the golden cases"),
    CheckId("MD-GOLDEN003", "info", "The in-process app logged errors while the cases ran",
            "the app's own error records (a provider failover, a fallback); `mosaic-diag golden --app` shows them"),
)


class _AppLog(logging.Handler):
    """Keeps count of the app's ERROR records (and the first few, redacted) instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.errors = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.ERROR:
            return
        self.errors += 1
        if len(self.first) < SHOWN_RECORDS:
            exc = record.exc_info[1] if record.exc_info else None
            why = f" ({type(exc).__module__}.{type(exc).__name__})".replace(" (builtins.", " (") if exc else ""
            self.first.append(redact_text(f"{record.levelname}:{record.name}:{record.getMessage()}{why}")[:300])


@contextmanager
def _app_log_captured() -> Iterator[_AppLog]:
    """The root logger's handlers swapped for a counter while the in-process app runs (so its
    tracebacks do not reach the terminal; an app's `logging.basicConfig` then adds none)."""
    root = logging.getLogger()
    saved = root.handlers[:]
    capture = _AppLog()
    root.handlers = [capture]
    try:
        yield capture
    finally:
        root.handlers = saved


def run(ctx: CheckContext) -> Iterator[Message]:
    url = ctx.config.get("predeploy.golden_url", None) or ctx.env.get("MOSAIC_APP_URL") or None
    app = ctx.config.get("predeploy.golden_app", None)
    if not url and not app:
        raise Skip("no app URL or import path configured (predeploy.golden_url or predeploy.golden_app)")
    cases_dir = ctx.root / str(ctx.config.get("predeploy.golden_cases", "golden"))
    with nullcontext() if url else _app_log_captured() as app_log:
        yield from _run(cases_dir, url, app, ctx, app_log)


def _run(cases_dir: Path, url: str | None, app: object, ctx: CheckContext, app_log: _AppLog | None
         ) -> Iterator[Message]:
    from mosaic_diag.golden import RunOptions, load_cases, open_target, run_cases

    try:
        cases = load_cases([cases_dir])
        target = open_target(url=url if url else None, app=None if url else str(app), app_dir=ctx.root,
                             probe_timeout=min(5.0, ctx.timeout))
    except DiagError as exc:
        where = f"{exc.path}:{exc.line}" if exc.path and exc.line else exc.path
        text = str(exc).removeprefix(f"{where}: ") if where else str(exc)  # the location column shows it
        yield Message("MD-GOLDEN002", text, location=where, exc=exc)
        return
    # the run stops a little before the check's own timeout, so it reports which cases it ran
    budget = max(1.0, ctx.timeout * 0.9)
    try:
        report = run_cases(cases, target, RunOptions(timeout=budget, global_timeout=budget, retries=0))
    finally:
        target.close()
    for result in report.results:
        if result.ok:
            continue
        explanation = result.explanation
        also = f" ({explanation.names})" if explanation and len(explanation.all_labels) > 1 else ""
        yield Message("MD-GOLDEN001", f"case {result.case_id}: {result.outcome}: "
                                      f"{'; '.join(result.failures) or 'failed'}{also}",
                      location=result.where, label=explanation.label if explanation else None)
    if app_log is not None and app_log.errors:
        yield Message("MD-GOLDEN003", f"the app logged {app_log.errors} error record(s) while the cases ran; "
                                      f"first: {' | '.join(app_log.first)}")

CHECK = Check("golden", ("golden",), IDS, run, "The golden cases pass against the app.")
