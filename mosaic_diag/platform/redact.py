"""Secret redaction for every output: DSN passwords, API keys, bearer tokens."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"

# the password runs to the LAST '@' of the authority: an unescaped '@' in it must not leave its tail showing
_URL_PASSWORD = re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)(?P<pw>[^/?#\s]+)(?=@[^@/?#\s]*)")
# libpq's error about a DSN with an unescaped '@': `could not translate host name "TAIL@host"`
_HOST_WITH_AT = re.compile(r'(host name ")[^"\s]*@')
_USERINFO_PASSWORD = re.compile(r":([^:@/\s]+)@")  # `user:pw@host`, with or without a scheme
_KEYWORD_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd)\s*=\s*('[^']*'|\"[^\"]*\"|[^\s'\"]+)")
_API_KEYS = re.compile(
    r"\b(sk-ant-[A-Za-z0-9_\-]{6,}|sk-(?:proj-)?[A-Za-z0-9_\-]{16,}|rnd_[A-Za-z0-9]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9\-]{10,})"
)
_BEARER = re.compile(r"(?i)\b(bearer|x-api-key:?)\s+([A-Za-z0-9._\-]{8,})")
# text none of the patterns above can match (one search instead of four substitutions)
_MAYBE_SECRET = re.compile(r"(?i)://|pass|pwd|sk-|rnd_|gh[pousr]_|xox|bearer|x-api-key|host name")


def redact_text(text: str) -> str:
    """Mask passwords in URLs and key=value pairs, API keys and bearer tokens in free text."""
    if not text or not _MAYBE_SECRET.search(text):
        return text
    text = _URL_PASSWORD.sub(lambda m: m.group("pre") + MASK, text)
    text = _HOST_WITH_AT.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _KEYWORD_PASSWORD.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _API_KEYS.sub(lambda m: m.group(1)[:3] + MASK, text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def redact_dsn(dsn: str) -> str:
    """`postgresql://user:pw@host/db` -> `postgresql://user:***@host/db` (keyword DSNs too)."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return redact_text(dsn)
    if parts.scheme and parts.password is not None:
        user = parts.username or ""
        host = parts.hostname or ""
        netloc = f"{user}:{MASK}@{host}"
        try:
            port = parts.port
        except ValueError:
            port = None
        if port:
            netloc += f":{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return redact_text(dsn)


def redact_with_dsn(text: str, dsn: str) -> str:
    """`text` with the passwords written in `dsn` masked, even when `dsn` does not parse: libpq quotes a
    malformed DSN in its errors, and without `scheme://` `redact_text` cannot tell a password there."""
    found = {m.group(1) for m in _USERINFO_PASSWORD.finditer(dsn)}
    found |= {m.group(2).strip("'\"") for m in _KEYWORD_PASSWORD.finditer(dsn)}
    for secret in sorted(filter(None, found | {unquote(s) for s in found}), key=len, reverse=True):
        # a very short password is masked where a DSN writes it, not in every word that contains it
        text = text.replace(secret, MASK) if len(secret) >= 4 else text.replace(f":{secret}@", f":{MASK}@")
    return redact_text(text)


def presence(value: str | None) -> str | None:
    """How an API key is shown: `***SET***` or None."""
    return "***SET***" if value else None
