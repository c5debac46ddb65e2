"""`golden --cache`: answers kept by request (target, method, path, query, headers, body) in one JSON
file, so a re-run of unchanged cases sends nothing. Only 2xx answers are kept; off by default."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from mosaic_diag.golden.targets import Answer
from mosaic_diag.platform.atomic import write_atomic

CACHE_FILE = "golden-cache.json"  # in the state directory (.mosaic-diag/)


class FileCache:
    """A request -> answer map loaded from and saved to `path` (an unreadable file: an empty cache)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self._answers: dict[str, dict] = data["answers"] if isinstance(data.get("answers"), dict) else {}
        except (OSError, ValueError, AttributeError):
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

    def save(self) -> None:
        with self._lock:
            text = json.dumps({"version": 1, "answers": self._answers}, sort_keys=True)
        write_atomic(self.path, text + "\n")
