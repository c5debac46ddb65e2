"""Helpers shared by the command modules: config, time arguments, label arguments."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mosaic_diag.config import Config, load_config
from mosaic_diag.errors import UsageError

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def config_here(root: Path | None = None) -> Config:
    """The config of the repository in the current directory (env overrides included)."""
    return load_config(root or Path.cwd(), os.environ)


def parse_time(value: str | None, option: str, *, now: datetime | None = None) -> datetime | None:
    """An ISO-8601 time (naive = UTC) or a duration ago (`30m`, `2h`, `1d`)."""
    if value is None:
        return None
    text = value.strip()
    m = _DURATION.match(text)
    if m:
        now = now or datetime.now(UTC)
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"{option} takes an ISO-8601 time or a duration such as 30m, 2h, 1d; "
                         f"got {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_duration(value: str, option: str) -> float:
    """Seconds of a duration such as `90s`, `30m`, `2h`, `1d` (a bare number is seconds)."""
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        return float(text)
    m = _DURATION.match(text)
    if not m:
        raise UsageError(f"{option} takes a duration such as 90s, 30m, 2h; got {value!r}")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))}).total_seconds()
