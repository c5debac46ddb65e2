"""The core's notes of a run (a user rule skipped...): WARNINGs of one logger, `logging` imported only when a note is
emitted. Importing `logging` (and the `traceback`, `linecache`, `tokenize` and `string` it imports) was a twentieth
of a small triage's instructions, for notes most runs never emit.

A handler the CLI wants on that logger (`commands/guard`: the notes as lines on stderr) is attached at once when
`logging` is imported already, else just before the first note (`when_logging`): every note reaches it either way."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

LOGGER = "mosaic_diag.classifier"  # the core's notes

_waiting: list[Callable[[], None]] = []
_lock = threading.Lock()


def when_logging(attach: Callable[[], Callable[[], None]]) -> Callable[[], None]:
    """Run `attach` (it attaches a handler and returns what detaches it) now when `logging` is imported, else before
    the first note; returns what undoes it (detaches the handler, or takes `attach` off the waiting list)."""
    if "logging" in sys.modules:
        return attach()
    detach: list[Callable[[], None]] = []

    def run() -> None:
        detach.append(attach())

    with _lock:
        _waiting.append(run)

    def undo() -> None:
        with _lock:
            if run in _waiting:
                _waiting.remove(run)
        for done in detach:
            done()

    return undo


def note(line: str) -> None:
    """Emit `line` as a WARNING of the LOGGER, after attaching the handlers waiting for `logging`."""
    import logging

    if _waiting:
        with _lock:  # (a handler is off the list only once attached: a note of another thread waits here for it)
            while _waiting:
                _waiting[0]()
                _waiting.pop(0)
    logging.getLogger(LOGGER).warning("%s", line)
