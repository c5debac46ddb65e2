"""What the log readers produce: raw error events and reading statistics."""

from __future__ import annotations

from bisect import insort
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

MAX_CORRUPT_SAMPLES = 20


def _line_of(sample: tuple[int, str]) -> int:
    return sample[0]


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One event of a log, before classification.

    kind: "error" (an ERROR/CRITICAL record, or a traceback block with the line that introduced
    it), "platform" (a Render deploy / health check failure line), "process_start" (uvicorn's
    "Started server process [N]") or "deploy" (Render's "==> Deploying...", a timeline marker).
    `line`/`end_line` are 1-based and inclusive, in the input after gunzip. `message` is the
    record's own message (its first line, prefixes stripped); `traceback`
    the whole traceback as Python printed it (chained parts included), or None; `detail` the
    continuation lines of a multi-line message without traceback (e.g. libpq's second line), or None.
    """

    kind: str
    line: int
    end_line: int
    timestamp: datetime | None
    shape: str
    instance: str | None
    level: str | None
    logger: str | None
    message: str
    traceback: str | None
    detail: str | None = None


@dataclass
class ReadStats:
    """Counters of one read; filled while `read_events` runs (`lines` grows block by block)."""

    lines: int = 0
    bytes: int = 0
    corrupt: int = 0
    not_text: int = 0  # lines with a NUL or another control byte (binary data; a tab, CR or ESC is text)
    corrupt_samples: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    shapes: Counter[str] = field(default_factory=Counter)
    levels: Counter[str] = field(default_factory=Counter)
    first_ts: datetime | None = None
    last_ts: datetime | None = None

    def add_corrupt(self, line: int, reason: str) -> None:
        """Count a corrupt line; the samples are the first `MAX_CORRUPT_SAMPLES` such lines in line order, whatever
        order they were found in (a block's invalid UTF-8 before its NUL bytes, a block's lines before a line the
        parser finds corrupt in it: the same samples however the input was cut into blocks)."""
        self.corrupt += 1
        samples = self.corrupt_samples
        if len(samples) < MAX_CORRUPT_SAMPLES or line < samples[-1][0]:
            insort(samples, (line, reason), key=_line_of)
            del samples[MAX_CORRUPT_SAMPLES:]

    def see_ts(self, ts: datetime | None) -> None:
        if ts is None:
            return
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
