"""Safety filtering: refuse prompts that fish for secrets; redact secrets and personal data from model output."""

from __future__ import annotations

import logging
import re

from mosaic_diag.platform.redact import redact_text
from mosaic_diag.runtime.text import safe_output

logger = logging.getLogger("api.safety")

_SECRET_WORDS = (r"api[\s_-]?keys?|passwords?|secrets?|tokens?|credentials?|database[\s_]?url"
                 r"|dsn|env(?:ironment)?\s+var(?:iable)?s?|[A-Z][A-Z0-9]*_(?:KEY|SECRET|TOKEN|URL)")
_FISHING = re.compile(
    rf"(?i)\b(?:what|show|tell|give|print|reveal|share|leak|dump|list|display|send)\b.*(?:{_SECRET_WORDS})"
    rf"|(?:{_SECRET_WORDS}).*\b(?:please|now|is|are)\b"
)
REFUSAL = ("I can't share credentials, keys or configuration secrets. I'm here to help with your "
           "career: tell me what you're working on and we'll take the next PS101 step together.")


def asks_for_secret(prompt: str) -> bool:
    """True when the prompt asks the assistant to reveal a key, password or setting."""
    return bool(_FISHING.search(prompt))


def sanitize_output(text: str) -> str:
    """A model answer with secrets and personal data redacted (the runtime kit's output filter:
    the CLI's redactor plus e-mail, card, phone and SSN detectors)."""
    result = safe_output(text)
    if result.changed:
        logger.warning("Redacted from a model answer: %s",
                       ", ".join(f"{n} {kind}" for kind, n in sorted(result.removed.items())))
    return result.text


def sanitize_error(text: str) -> str:
    """Provider error text for a response: secrets masked (the CLI's redactor)."""
    return redact_text(text)
