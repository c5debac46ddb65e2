"""Safety filtering: refuse prompts that fish for secrets; redact secrets from model output."""

from __future__ import annotations

import re

_SECRET_WORDS = (r"api[\s_-]?keys?|passwords?|secrets?|tokens?|credentials?|database[\s_]?url"
                 r"|dsn|env(?:ironment)?\s+var(?:iable)?s?|[A-Z][A-Z0-9]*_(?:KEY|SECRET|TOKEN|URL)")
_FISHING = re.compile(
    rf"(?i)\b(?:what|show|tell|give|print|reveal|share|leak|dump|list|display|send)\b.*(?:{_SECRET_WORDS})"
    rf"|(?:{_SECRET_WORDS}).*\b(?:please|now|is|are)\b"
)
DENYLIST = (
    re.compile(r"(?i)\b(password|api[_-]?key|secret|token)\s*[:=]\s*\S+"),
    re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bpostgres(?:ql)?://[^\s:@/]+:[^\s@/]+@\S+"),
)
REFUSAL = ("I can't share credentials, keys or configuration secrets. I'm here to help with your "
           "career: tell me what you're working on and we'll take the next PS101 step together.")


def asks_for_secret(prompt: str) -> bool:
    """True when the prompt asks the assistant to reveal a key, password or setting."""
    return bool(_FISHING.search(prompt))


def sanitize_output(text: str) -> str:
    """Replace anything that looks like a credential with [REDACTED]."""
    for pattern in DENYLIST:
        text = pattern.sub("[REDACTED]", text)
    return text
