"""`classify_exception`: the triage classifier on a live exception, cached, with what the runtime
does about its label (retry it? count it toward a breaker? fail over?) read from the taxonomy."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mosaic_diag.classifier import Classifier

_CACHE_LIMIT = 4096
# Long runs that start with a digit (uuids, hex ids, timestamps, addresses), masked in the key: one cheap pass.
# Shorter numbers stay as written, because rules read them: a status in the text (`HTTP 429` against `HTTP 401`),
# counts compared by a rule's `numbers` (psycopg's `the query has 12 placeholders but 11 parameters`), a user
# rule's threshold. A number kept costs a cache miss when it changes, never a wrong label.
_VOLATILE = re.compile(r"[0-9][0-9A-Za-z_.-]{7,}")


@dataclass(frozen=True)
class Verdict:
    """The label of one exception and what the runtime does about it (all taxonomy data)."""

    label: str
    category: str
    severity: str
    retryable: bool        # retrying the same call can help
    provider_wide: bool    # the dependency fails, not this request: a breaker failure, a failover cause
    exception_type: str
    status: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "category": self.category, "severity": self.severity,
                "retryable": self.retryable, "provider_wide": self.provider_wide,
                "exception_type": self.exception_type, "status": self.status}


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries (`status_code`, or its `response.status_code`)."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _qualname(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}".removeprefix("builtins.")


def cache_key(exc: BaseException) -> tuple[object, ...]:
    """Type, status and a digest of the whole message (its long ids masked) of the exception and of its causes:
    the same failure with other ids, uuids or times has the same key."""
    import hashlib

    parts: list[object] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 4:
        seen.add(id(current))
        message = _VOLATILE.sub("#", str(current)).encode("utf-8", "surrogatepass")
        parts += (_qualname(current), status_of(current), hashlib.blake2b(message, digest_size=16).digest())
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return tuple(parts)


class VerdictCache:
    """A bounded, thread-safe cache of verdicts in front of one classifier."""

    def __init__(self, classifier: Classifier | None = None, limit: int = _CACHE_LIMIT, *,
                 loader: Callable[[], Classifier] | None = None) -> None:
        self._classifier = classifier
        self._loader = loader
        self._limit = limit
        self._cache: dict[tuple[object, ...], Verdict] = {}
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def classifier(self) -> Classifier:
        """The classifier, imported and loaded (`loader`, else the shipped taxonomy's) at the first failure or
        by `warm_up()`: once, under a lock, however many threads fail at the same moment."""
        found = self._classifier
        if found is None:
            with self._load_lock:
                if self._classifier is None:
                    self._classifier = self._loader() if self._loader is not None else _default_classifier()
                found = self._classifier
        return found

    def classify(self, exc: BaseException) -> Verdict:
        key = cache_key(exc)
        found = self._cache.get(key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        result = self.classifier.classify_exception(exc)
        label = self.classifier.taxonomy.labels[result.label]
        verdict = Verdict(label.name, label.category, label.severity, label.retryable, label.provider_wide,
                          _qualname(exc), status_of(exc))
        with self._lock:
            if len(self._cache) >= self._limit:
                self._cache.clear()
            self._cache[key] = verdict
        return verdict

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self.hits = self.misses = 0


def _default_classifier() -> Classifier:
    from mosaic_diag.classifier import Classifier

    return Classifier.default()


DEFAULT_CACHE = VerdictCache()


def classify_exception(exc: BaseException) -> Verdict:
    """The taxonomy label of a live exception (its cause chain included), cached by type, normalised
    message and status; with the label's `retryable` and `provider_wide` flags."""
    return DEFAULT_CACHE.classify(exc)


def warm_up() -> None:
    """Load the classifier and the taxonomy now (else the first failure pays for it, ~50 ms, and in async
    code blocks the event loop meanwhile): call it at the app's start-up (a FastAPI lifespan)."""
    DEFAULT_CACHE.classifier.taxonomy.labels  # noqa: B018 - loads on access
