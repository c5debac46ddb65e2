"""`golden --cache`: answers kept by request (target, method, path, query, headers, body) in one JSON
file, so a re-run of unchanged cases sends nothing. Only 2xx answers are kept; off by default.

The file sits in the repository's state directory, where it can be committed or planted: a crafted one
would pass every case without asking the app. It is signed for the user whose runs wrote it
(`platform.signed`); any other file is not read (and is replaced at the end of the run)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from mosaic_diag.golden.targets import Answer

CACHE_FILE = "golden-cache.json"  # in the state directory (.mosaic-diag/)


class FileCache:
    """A request -> answer map loaded from and saved to `path` (an unreadable file: an empty cache)."""

    def __init__(self, path: Path) -> None:
        from mosaic_diag.platform.signed import read_signed

        self.path = path
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        self.distrusted: str | None = None  # why an existing file was not read (not this user's runs')
        try:
            data = json.loads(read_signed(path))
            self._answers: dict[str, dict[str, Any]] = data["answers"] if isinstance(data.get("answers"), dict) else {}
        except ValueError as exc:  # not signed by this user (planted, copied, damaged) or not JSON
            self._answers = {}
            self.distrusted = str(exc) if "not written by" in str(exc) else None
        except (OSError, AttributeError):
            self._answers = {}

    def get(self, key: str) -> Answer | None:
        with self._lock:
            raw = self._answers.get(key)
            if raw is None:
                self.misses += 1
                return None
            self.hits += 1
        return Answer(int(raw["status"]), str(raw["body"]), dict(raw.get("headers") or {}))

    def put(self, key: str, answer: Answer) -> None:
        with self._lock:
            self._answers[key] = {"status": answer.status, "body": answer.body,
                                  "headers": {k: v for k, v in answer.headers.items()
                                              if k.lower() in ("content-type", "retry-after")}}

    def save(self) -> bool:
        """Write the cache, signed; False when there is no private key to sign it with (nothing written).
        Raises OSError (the state directory cannot be written)."""
        from mosaic_diag.platform.signed import user_key, write_signed

        if user_key(self.path) is None:
            return False
        with self._lock:
            text = json.dumps({"version": 1, "answers": self._answers}, sort_keys=True)
        write_signed(self.path, text + "\n")
        return True
