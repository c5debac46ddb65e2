"""What a watch remembers across restarts: groups seen, alerts sent, actions taken (and when).

One JSON file (default `.mosaic-diag/watch-state.json`), written atomically after each change
that matters and on exit; a lock file keeps a second watch off the same state. Each map keeps its
newest `MAX_KEYS` entries, so the file stays small however long the watch runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mosaic_diag.errors import ConfigError, UsageError
from mosaic_diag.platform.atomic import open_regular, read_state, write_atomic

MAX_KEYS = 5000


@dataclass
class WatchState:
    """Seen fingerprints and the last time each alert / action key fired."""

    path: Path | None = None
    seen: dict[str, str] = field(default_factory=dict)
    alerts: dict[str, str] = field(default_factory=dict)
    acted: dict[str, str] = field(default_factory=dict)
    _lock: Any = None

    @classmethod
    def open(cls, path: Path) -> WatchState:
        """Load (or start) the state at `path` and hold its lock until `close()`."""
        import fcntl

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # never through a link: a committed dangling `watch-state.json.lock -> ~/.profile` made the file it names
            lock = open(open_regular(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT,  # noqa: SIM115
                                     what="the watch's lock"), "a+")  # (held until close())
        except OSError as exc:
            raise UsageError(f"cannot write the watch state: {exc.strerror or exc}",
                             path=exc.filename or str(path)) from None
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise UsageError("another watch is running on this state (its lock is held)", path=str(path)) from None
        state = cls(path=path, _lock=lock)
        try:
            raw = read_state(path)
        except FileNotFoundError:
            raw = None
        except OSError as exc:
            state.close()
            raise ConfigError(f"cannot read the watch state: {exc.strerror or exc}", path=str(path)) from None
        if raw is not None:
            try:
                data = json.loads(raw.decode("utf-8"))
                if not isinstance(data, dict):
                    raise ValueError("not an object")
                for name in ("seen", "alerts", "acted"):
                    value = data.get(name, {})
                    if not isinstance(value, dict):
                        raise ValueError(f"{name} is not an object")
                    setattr(state, name, {str(k): str(v) for k, v in value.items()})
            except (ValueError, OSError, RecursionError) as exc:
                state.close()
                why = "JSON nested too deeply" if isinstance(exc, RecursionError) else exc
                raise ConfigError(f"corrupt watch state ({why}); move it away to start afresh",
                                  path=str(path)) from None
        return state

    def due(self, table: str, key: str, now: datetime, cooldown_s: float) -> bool:
        """True (and recorded) when `key` has not fired within the cool-down."""
        if self.cooling(table, key, now, cooldown_s):
            return False
        values: dict[str, str] = getattr(self, table)
        values.pop(key, None)
        values[key] = now.isoformat()
        _trim(values)
        return True

    def cooling(self, table: str, key: str, now: datetime, cooldown_s: float) -> bool:
        """True when `key` of `table` fired within the cool-down of `now` (`_within`)."""
        last = getattr(self, table).get(key)
        return last is not None and _within(now, last, cooldown_s)

    def recent(self, table: str, prefix: str, now: datetime, window_s: float) -> int:
        """How many keys of `table` starting with `prefix` fired within `window_s` of `now`."""
        return sum(1 for key, last in getattr(self, table).items() if key.startswith(prefix)
                   and _within(now, last, window_s))

    def saw(self, fingerprint: str, when: datetime) -> bool:
        """True when the fingerprint is new (and now recorded). One seen again goes to the end (keeping the time it
        was first seen): those forgotten past `MAX_KEYS` are the ones seen longest ago, never a group that goes on
        recurring (a flood of new ones pushed it out and it was alerted "new" again)."""
        first = self.seen.pop(fingerprint, None)
        if first is not None:
            self.seen[fingerprint] = first
            return False
        self.seen[fingerprint] = when.isoformat()
        _trim(self.seen)
        return True

    def flush(self) -> None:
        if self.path is None:
            return
        text = json.dumps({"seen": self.seen, "alerts": self.alerts, "acted": self.acted}, sort_keys=True)
        try:
            write_atomic(self.path, text + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write the watch state: {exc.strerror or exc}", path=str(self.path)) from None

    def close(self) -> None:
        if self._lock is not None:  # the lock file stays: unlinking it would let two watches lock two files
            self._lock.close()
            self._lock = None


def _within(now: datetime, last: str, window_s: float) -> bool:
    """`last` (ISO time) is less than `window_s` from `now`, before or after it: a time further ahead is none this
    clock wrote within the window (a log's own time, a clock set wrong), and must not hold anything back for years."""
    try:
        return abs((now - datetime.fromisoformat(last)).total_seconds()) < window_s
    except (ValueError, TypeError):
        return False


def _trim(values: dict[str, str]) -> None:
    while len(values) > MAX_KEYS:
        values.pop(next(iter(values)))
