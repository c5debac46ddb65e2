"""Datetimes for the timestamps of one log read in order, time-only ones included.

Rich's RichHandler writes its time column as `[%x %X]` by default (`[12/06/26 08:29:26]`: month/day/year in
the C locale Python runs in) and, configured with `log_time_format="[%X]"` or in `Console.log`, as a time
of day alone (`[08:29:26]`); it leaves the column blank while the second does not change. A time of day
gets its date from the last timestamp read before it (any line's full timestamp, or an earlier time of day
already dated), on the day that puts it nearest to that timestamp: the next day when it goes back by more
than twelve hours (midnight passed), the day before when it goes forward by more (a line a little out of
order just after midnight), else the same day (no drift into later days; a log in which nothing was read
for more than twelve hours cannot tell). With nothing dated before it, the first time
of day takes the date of the file's last write (its mtime, the local time of this machine, as the app's
local time): the day before when that time of day is later than the write's, since nothing in a file is
written after its mtime. Read from stdin (no mtime), such a log's times of day stay undated: no timestamp.
Naive times are taken as UTC, as everywhere in the reader; a date outside the reader's years (`lines.in_range`)
is no timestamp, so that a day more or less is always one.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from mosaic_diag.logs.lines import in_range, parse_ts
from mosaic_diag.platform.lazyre import LazyPattern

if TYPE_CHECKING:
    from mosaic_diag.logs.source import ByteStream

_TIME_OF_DAY = LazyPattern(r"(\d\d):(\d\d):(\d\d)(?:[.,](\d{1,6}))?")
_DAY = timedelta(days=1)
_BACK = timedelta(hours=12)  # further back than this, a time of day is the next day's (the nearer reading)


def time_of_day(text: str) -> time | None:
    """`08:29:26` / `08:29:26.123` as a time, else None."""
    m = _TIME_OF_DAY.fullmatch(text)
    if m is None:
        return None
    h, mi, s, frac = m.groups()
    if int(h) > 23 or int(mi) > 59 or int(s) > 59:
        return None
    return time(int(h), int(mi), int(s), int(frac.ljust(6, "0")) if frac else 0)


def file_mtime(stream: ByteStream) -> datetime | None:
    """The last write of the regular file behind `stream` (its local time, taken as UTC like a naive
    timestamp), or None (a pipe, stdin, a stream in memory, one with no `fileno`)."""
    fileno = getattr(stream, "fileno", None)
    if fileno is None:
        return None
    try:
        st = os.fstat(fileno())
    except (AttributeError, OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    try:
        return in_range(datetime.fromtimestamp(st.st_mtime).replace(tzinfo=UTC))
    except (OverflowError, OSError, ValueError):  # a write dated outside years 1-9999 (touch -d, a bad clock)
        return None


class Clock:
    """Turns a log's timestamp texts into datetimes, in the order they are read (see the module's text)."""

    __slots__ = ("last", "written")

    def __init__(self, written: datetime | None = None) -> None:
        self.written = written          # the file's mtime, or None
        self.last: datetime | None = None  # the latest timestamp read so far

    def at(self, text: str | None) -> datetime | None:
        """The datetime of a timestamp text read now (a full one, or a time of day: dated as above)."""
        if not text:
            return None
        ts = parse_ts(text)
        if ts is None:
            tod = time_of_day(text)
            if tod is None:
                return None
            ts = in_range(self._dated(tod))  # (times of day going back on every line move on a day each)
            if ts is None:
                return None
        if self.last is None or ts > self.last:
            self.last = ts
        return ts

    def _dated(self, tod: time) -> datetime | None:
        last = self.last
        if last is None:
            written = self.written
            if written is None:
                return None
            ts = datetime.combine(written.date(), tod, UTC)
            return ts - _DAY if ts > written else ts
        ts = datetime.combine(last.date(), tod, last.tzinfo)
        if ts < last - _BACK:
            return ts + _DAY
        return ts - _DAY if ts > last + _BACK else ts
