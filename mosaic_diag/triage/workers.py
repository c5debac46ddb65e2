"""gunicorn's kill of a timed-out worker: the arbiter logs `WORKER TIMEOUT (pid:N)`, then `Worker (pid:N)
exited with code 1` or, when the worker does not exit at once, SIGKILLs it and logs `Worker (pid:N) was sent
SIGKILL! Perhaps out of memory?`. That "perhaps" is wrong then: the worker was killed for not answering, so
what the arbiter says of a worker that timed out just before is `APP_TIMEOUT`, not `RENDER_OUT_OF_MEMORY`
(nor an unknown error). A SIGKILL with no timeout before it (the kernel's OOM killer) keeps its label."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.platform.lazyre import LazyPattern
from mosaic_diag.triage.fingerprint import fingerprint
from mosaic_diag.triage.model import ErrorEvent

TIMEOUT_LABEL = "APP_TIMEOUT"
_TIMEOUT = LazyPattern(r"\bWORKER TIMEOUT \(pid:(\d+)\)")
# what the arbiter logs about that worker next: the kill, or its exit code (the worker's own abort)
_KILLED = LazyPattern(r"\bWorker \(pid:(\d+)\) (?:was sent SIG[A-Z]+!|exited with code \d+)")
_AFTERMATH_LABELS = frozenset({"RENDER_OUT_OF_MEMORY", "UNKNOWN_ERROR"})
WINDOW = timedelta(minutes=2)  # gunicorn kills a timed-out worker within its graceful timeout
MAX_PIDS = 1000


class WorkerTimeouts:
    """Per instance: the workers gunicorn's arbiter reported timed out, to relabel their kill."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier
        self._timed_out: dict[tuple[str | None, str], datetime | None] = {}

    def seen(self, event: ErrorEvent) -> ErrorEvent:
        """`event`, or its APP_TIMEOUT reading when it is the SIGKILL of a worker that just timed out."""
        if event.label == TIMEOUT_LABEL:
            m = _TIMEOUT.search(event.message)
            if m:
                if len(self._timed_out) >= MAX_PIDS:
                    self._timed_out.clear()
                self._timed_out[(event.instance, m.group(1))] = event.timestamp
            return event
        m = _KILLED.search(event.message) if event.label in _AFTERMATH_LABELS else None
        if m is None or (event.instance, m.group(1)) not in self._timed_out:
            return event
        when = self._timed_out[(event.instance, m.group(1))]
        if when is not None and event.timestamp is not None and not timedelta(0) <= event.timestamp - when <= WINDOW:
            return event
        label = self.classifier.taxonomy.labels[TIMEOUT_LABEL]
        first_line = event.message.strip().splitlines()[0] if event.message.strip() else ""
        return replace(event, label=TIMEOUT_LABEL, category=label.category, severity=label.severity,
                       rule="derived.gunicorn-timeout-kill",
                       fingerprint=fingerprint(TIMEOUT_LABEL, event.exception_type, first_line, None))
