"""The in-process app's own log records while golden cases run: counted, the first few distinct error lines
kept (redacted), never printed (a failing run's tracebacks would flood the terminal)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from mosaic_diag.platform.redact import redact_cut, redact_text

SHOWN_RECORDS = 3


class AppLog(logging.Handler):
    """Keeps count of the app's ERROR records (and the first few distinct lines, redacted, each
    with its count) instead of printing them.

    mosaic-diag's own records are passed on to the handlers the root logger had before.
    """

    def __init__(self, passthrough: list[logging.Handler]) -> None:
        super().__init__(logging.DEBUG)
        self.records = 0  # every record of the app's that reached the capture (WARNING and up, by default)
        self.errors = 0
        self.first: dict[str, int] = {}  # line -> how many records had it
        self._passthrough = passthrough

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.partition(".")[0] == "mosaic_diag":
            for handler in self._passthrough:
                if record.levelno >= handler.level:
                    handler.handle(record)
            return
        self.records += 1
        if record.levelno < logging.ERROR:
            return
        self.errors += 1  # under the handler's lock: the app logs from several threads
        line = record_line(record)
        if line in self.first or len(self.first) < SHOWN_RECORDS:
            self.first[line] = self.first.get(line, 0) + 1

    def _lines(self) -> list[str]:
        return [f"{line} ({n}x)" if n > 1 else line for line, n in self.first.items()]

    def _distinct(self) -> str:
        lines = self._lines()
        return f"first {len(lines)} distinct: {' | '.join(lines)}"

    def summary(self) -> str:
        """`the app logged 13 error record(s) ...: line (6x) | line`."""
        return f"the app logged {self.errors} error record(s) while the cases ran; {self._distinct()}"

    def note(self) -> str:
        """`the app's 40 log record(s) were captured, not printed: 13 at ERROR; first 3 distinct: ...`."""
        head, *records = self.note_lines()
        return " ".join([head, " | ".join(records)]) if records else head

    def note_lines(self) -> list[str]:
        """The note as its head (`...: 13 at ERROR; first 3 distinct:`) and each distinct error record (for a
        terminal, one under another)."""
        text = f"the app's {self.records} log record(s) were captured, not printed: {self.errors} at ERROR"
        if not self.errors:
            return [text]
        lines = self._lines()
        return [f"{text}; first {len(lines)} distinct:", *lines]


def record_line(record: logging.LogRecord) -> str:
    """`ERROR:api.ai_clients:message (openai.RateLimitError: first line of its message)`, redacted."""
    line = f"{record.levelname}:{record.name}:{record.getMessage()}"
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None:
        name = f"{type(exc).__module__}.{type(exc).__name__}".removeprefix("builtins.")
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        line += f" ({name}: {redact_cut(text, 160)})" if text else f" ({name})"
    return redact_text(line)[:300]


class LogCapture:
    """While the in-process app runs: the root logger's handlers swapped for an `AppLog` (so the
    app's tracebacks do not reach the terminal; an app's `logging.basicConfig` then adds none),
    the root level at most ERROR (so no error record is lost), and the loggers that have handlers
    of their own or do not propagate made to propagate to it. `restore` puts everything back."""

    def __init__(self) -> None:
        root = logging.getLogger()
        self._root_handlers = root.handlers[:]
        self._root_level = root.level
        self.log = AppLog(self._root_handlers)
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
def app_log_captured() -> Iterator[LogCapture]:
    capture = LogCapture()
    try:
        yield capture
    finally:
        capture.restore()
