"""Golden dataset: helper C's golden runner against the app (URL or import path), when configured."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message, Skip
from mosaic_diag.errors import DiagError
from mosaic_diag.platform.redact import redact_text

SHOWN_RECORDS = 3

IDS = (
    CheckId("MD-GOLDEN001", "error", "A golden case failed against the app",
            "run `mosaic-diag golden run` for the whole report and the case's assertions"),
    CheckId("MD-GOLDEN002", "error", "The golden run could not start (app unreachable, invalid cases)",
            "check predeploy.golden_url / predeploy.golden_app and the golden cases"),
    CheckId("MD-GOLDEN003", "info", "The in-process app logged errors while the cases ran",
            "the app's own error records (a provider failover, a fallback); `mosaic-diag golden --app` shows them"),
)


# the in-process app's environment while the cases run, unless the user set the variable: no
# provider SDK retries (the example app's LLM_MAX_RETRIES; the SDKs default to 2, and a rate
# limit's retry-after then eats the check's timeout; the golden runner has its own retries)
APP_ENV_DEFAULTS = {"LLM_MAX_RETRIES": "0"}


class _AppLog(logging.Handler):
    """Keeps count of the app's ERROR records (and the first few distinct lines, redacted, each
    with its count) instead of printing them.

    mosaic-diag's own records are passed on to the handlers the root logger had before.
    """

    def __init__(self, passthrough: list[logging.Handler]) -> None:
        super().__init__(logging.DEBUG)
        self.errors = 0
        self.first: dict[str, int] = {}  # line -> how many records had it
        self._passthrough = passthrough

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.partition(".")[0] == "mosaic_diag":
            for handler in self._passthrough:
                if record.levelno >= handler.level:
                    handler.handle(record)
            return
        if record.levelno < logging.ERROR:
            return
        self.errors += 1  # under the handler's lock: the app logs from several threads
        line = _record_line(record)
        if line in self.first or len(self.first) < SHOWN_RECORDS:
            self.first[line] = self.first.get(line, 0) + 1

    def summary(self) -> str:
        """`the app logged 13 error record(s) ...: line (6x) | line`."""
        lines = [f"{line} ({n}x)" if n > 1 else line for line, n in self.first.items()]
        return (f"the app logged {self.errors} error record(s) while the cases ran; "
                f"first {len(lines)} distinct: {' | '.join(lines)}")


def _record_line(record: logging.LogRecord) -> str:
    """`ERROR:api.ai_clients:message (openai.RateLimitError: first line of its message)`, redacted."""
    line = f"{record.levelname}:{record.name}:{record.getMessage()}"
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None:
        name = f"{type(exc).__module__}.{type(exc).__name__}".removeprefix("builtins.")
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        line += f" ({name}: {text[:160]})" if text else f" ({name})"
    return redact_text(line)[:300]


class _LogCapture:
    """While the in-process app runs: the root logger's handlers swapped for an `_AppLog` (so the
    app's tracebacks do not reach the terminal; an app's `logging.basicConfig` then adds none),
    the root level at most ERROR (so no error record is lost), and the loggers that have handlers
    of their own or do not propagate made to propagate to it. `restore` puts everything back."""

    def __init__(self) -> None:
        root = logging.getLogger()
        self._root_handlers = root.handlers[:]
        self._root_level = root.level
        self.log = _AppLog(self._root_handlers)
        self._saved: dict[str, tuple[list[logging.Handler], bool]] = {}
        root.handlers = [self.log]
        if root.level > logging.ERROR:
            root.setLevel(logging.ERROR)
        self.adopt()

    def adopt(self) -> None:
        """Route the loggers that exist now (the app's, once imported) to the capture."""
        logging.getLogger().handlers = [self.log]  # an app's basicConfig(force=True) replaced it
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if not isinstance(logger, logging.Logger) or name in self._saved or name.startswith("mosaic_diag"):
                continue
            if logger.handlers or not logger.propagate:
                self._saved[name] = (logger.handlers[:], logger.propagate)
                logger.handlers, logger.propagate = [], True

    def restore(self) -> None:
        root = logging.getLogger()
        root.handlers = self._root_handlers
        root.setLevel(self._root_level)
        for name, (handlers, propagate) in self._saved.items():
            logger = logging.getLogger(name)
            logger.handlers, logger.propagate = handlers, propagate


@contextmanager
def _app_log_captured() -> Iterator[_LogCapture]:
    capture = _LogCapture()
    try:
        yield capture
    finally:
        capture.restore()


@contextmanager
def _app_env(env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """`APP_ENV_DEFAULTS` in os.environ (which the in-process app reads) for the duration, except
    the variables the user set (in the process or predeploy's environment); yields those set."""
    ours = {k: v for k, v in APP_ENV_DEFAULTS.items() if k not in os.environ and k not in env}
    os.environ.update(ours)
    try:
        yield ours
    finally:
        for key, value in ours.items():
            if os.environ.get(key) == value:  # still ours: not changed meanwhile
                del os.environ[key]


def run(ctx: CheckContext) -> Iterator[Message]:
    url = ctx.config.get("predeploy.golden_url", None) or ctx.env.get("MOSAIC_APP_URL") or None
    app = ctx.config.get("predeploy.golden_app", None)
    if not url and not app:
        raise Skip("no app URL or import path configured (predeploy.golden_url, MOSAIC_APP_URL or "
                   "predeploy.golden_app)")
    cases_dir = ctx.root / str(ctx.config.get("predeploy.golden_cases", "golden"))
    if url:
        yield from _run(cases_dir, url, app, ctx, None)
        return
    with _app_env(ctx.env), _app_log_captured() as capture:
        yield from _run(cases_dir, url, app, ctx, capture)


def _run(cases_dir: Path, url: str | None, app: object, ctx: CheckContext, capture: _LogCapture | None
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
    if capture is not None:
        capture.adopt()  # the app is imported and started: its loggers exist now
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
    if capture is not None and capture.log.errors:
        yield Message("MD-GOLDEN003", capture.log.summary())

CHECK = Check("golden", ("golden",), IDS, run, "The golden cases pass against the app.")
