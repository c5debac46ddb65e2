"""The derived restart loop: a process that starts `count` times within `window` with errors between."""

from __future__ import annotations

from datetime import datetime, timedelta

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.fingerprint import fingerprint
from mosaic_diag.triage.model import RESTART_LABEL, ErrorEvent

# instances followed at once, and loops remembered as reported: a live source names its instances (a syslog
# header's host and app), so one that names a new one per line made these grow for as long as a watch ran
MAX_INSTANCES = 4096
MAX_REPORTED = 4096


class RestartLoops:
    """Per instance: recent process starts and the errors logged after each."""

    def __init__(self, classifier: Classifier, count: int, window: timedelta) -> None:
        self.classifier = classifier
        self.count = count
        self.window = window
        self._starts: dict[str | None, list[tuple[datetime | None, int, int, str | None]]] = {}
        self._reported: dict[tuple[str | None, int, str | None], None] = {}  # (insertion-ordered: oldest first)
        self.source: str | None = None  # the input file read, when a run reads several

    def error_seen(self, instance: str | None) -> None:
        """Count an error event against the instance's latest start."""
        starts = self._starts.get(instance)
        if starts:
            ts, line, errors, source = starts[-1]
            starts[-1] = (ts, line, errors + 1, source)

    def start_seen(self, raw: RawEvent) -> ErrorEvent | None:
        """Note a process start; the restart-loop event when this start completes one."""
        starts = self._starts.pop(raw.instance, None)  # (put back last: the dict is ordered by latest start)
        if starts is None:
            starts = []
            if len(self._starts) >= MAX_INSTANCES:  # the instance whose latest start is oldest is forgotten
                del self._starts[next(iter(self._starts))]
        self._starts[raw.instance] = starts
        starts.append((raw.timestamp, raw.line, 0, self.source))
        if raw.timestamp is not None:
            while starts and starts[0][0] is not None and raw.timestamp - starts[0][0] > self.window:
                starts.pop(0)
        need = self.count
        if len(starts) > need:
            del starts[: len(starts) - need]
        if len(starts) < need:
            return None
        if not all(errors > 0 for _, _, errors, _ in starts[:-1]):
            return None
        _, first_line, _, first_source = starts[0]
        if (raw.instance, first_line, first_source) in self._reported:
            return None
        if len(self._reported) >= MAX_REPORTED:
            del self._reported[next(iter(self._reported))]
        self._reported[(raw.instance, first_line, first_source)] = None
        label = self.classifier.taxonomy.labels[RESTART_LABEL]
        when = "" if raw.timestamp else " (no timestamps: the 10-minute window was not checked)"
        message = (f"process started {need} times with errors between"
                   f"{' on ' + raw.instance if raw.instance else ''}{when}")
        fp = fingerprint(RESTART_LABEL, None, "restart loop", raw.instance)
        starts.clear()
        return ErrorEvent(first_line, raw.end_line, RESTART_LABEL, label.category, label.severity,
                          raw.timestamp, None, message, fp, "derived.restart-loop", raw.logger,
                          raw.instance, raw.shape, first_source)
