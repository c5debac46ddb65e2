"""Message templates and fingerprints: the same failure gets the same key across events."""

from __future__ import annotations

import re

from mosaic_diag.platform.digest import sha1
from mosaic_diag.platform.lazyre import LazyPattern

_RULES: tuple[tuple[LazyPattern[str], str], ...] = (
    (LazyPattern(r"\b[a-z][a-z0-9+.-]{0,39}://\S+", re.I), "<url>"),
    (LazyPattern(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (LazyPattern(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (LazyPattern(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (LazyPattern(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (LazyPattern(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I), "<hex>"),
    (LazyPattern(r"\b(?:req|org|srv|dpg|sess|user|usr|msg|evt|run)[-_][A-Za-z0-9-]{4,}\b"), "<id>"),
    (LazyPattern(r"'[^'\n]{0,200}'"), "'<v>'"),
    (LazyPattern(r'"[^"\n]{0,200}"'), '"<v>"'),
    (LazyPattern(r"`[^`\n]{0,200}`"), "`<v>`"),
    (LazyPattern(r"(?<![A-Za-z0-9_-])\d+(?:\.\d+)?(?![A-Za-z])"), "<n>"),
)
_SPACE = LazyPattern(r"\s+")


def template(message: str, *, limit: int = 300) -> str:
    """The message with numbers, ids, hex, UUIDs, emails, URLs and quoted values replaced."""
    text = message.strip().splitlines()[0] if message.strip() else ""
    text = text[:2000]
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return _SPACE.sub(" ", text)[:limit]


def fingerprint(label: str, exception_type: str | None, message: str, frame: str | None) -> str:
    """A short stable key: label + exception type + message template + innermost app frame."""
    key = "\x1f".join((label, exception_type or "", template(message), frame or ""))
    return sha1(key.encode("utf-8", "replace")).hexdigest()[:12]
