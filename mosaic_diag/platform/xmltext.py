"""Text that XML 1.0 can hold: control characters (even escaped as &#1;) make a document not well-formed."""

from __future__ import annotations

import re

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 forbids shown as `\\xNN` / `\\uNNNN` (tab, LF, CR are kept)."""
    def show(m: re.Match[str]) -> str:
        code = ord(m.group(0))
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _NOT_XML.sub(show, text)
