"""Text made safe to print: the control characters a hostile log line, commit message or payload could
carry to a terminal (a reset, a title or clipboard write, a status report the terminal types back, a
backspace or a bidi override that hides text) are shown as escapes (`\\u001b`, `\\u009b`, `\\u202e`) instead:
JSON's own escapes, so a JSON document stays valid JSON (a raw control may stand only inside its strings).
So is a lone surrogate (`\\ud800`, which a JSON record can spell): UTF-8 cannot encode it, and printing it
would end the run with a traceback.

Kept as they are: tab, newline, a carriage return before a newline (a Windows line end), and the few CSI
sequences Rich itself writes to a terminal (colours and styles, cursor moves and line erasure of a live view,
cursor show/hide and the alternate screen), which neither report anything nor change the terminal beyond the
screen. The moves and erasures, and a carriage return of its own (back to the line's start), only in what a
renderer of ours wrote (`Rendered`, render.console's consoles, which escape the controls in the text they lay
out): anywhere else a dead letter's or an app's answer could move up a line and erase it, or go back to the
line's start and write over it, hiding what was printed. A file this tool writes keeps none (`keep_csi=False`).
"""

from __future__ import annotations

import re

from mosaic_diag.platform.lazyre import LazyPattern

# C0 controls but tab, newline and carriage return; DEL; C1 controls; bidi embeddings, overrides and isolates;
# surrogates (in a str, always lone: a pair is one code point)
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# and a carriage return of its own (not a CRLF's): back to the line's start, what follows writes over what was
# there (`{"answer": "bad"}\r{"answer": "ok"}` shows the second alone); the lookahead is tried on a match only
_UNSAFE_CR = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff](?!(?<=\r)\n)")
_KEPT_CSI = LazyPattern(r"\x1b\[(?:[0-9;]*[mABCDGHK]|\?(?:25|1049)[hl])")
_KEPT_SGR = LazyPattern(r"\x1b\[[0-9;]*m")  # colours and styles alone


class Rendered(str):
    """Text a renderer of ours wrote (render.console): its cursor moves and erasures are its own."""


def _shown(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def neutralize_controls(text: str, *, keep_csi: bool = True, moves: bool = True) -> str:
    """`text` with every terminal control but the kept ones (see the module doc) written as an escape;
    `moves=False` keeps colours and styles only (a carriage return only before a newline); `keep_csi=False` (a
    file this tool writes: `cat` would play it) keeps none."""
    unsafe = _UNSAFE if moves and keep_csi else _UNSAFE_CR
    if unsafe.search(text) is None:
        return text
    if "\x1b" not in text or not keep_csi:
        return unsafe.sub(_shown, text)
    out: list[str] = []
    pos = 0
    for m in (_KEPT_CSI if moves else _KEPT_SGR).finditer(text):
        out.append(unsafe.sub(_shown, text[pos:m.start()]))
        out.append(m.group())
        pos = m.end()
    out.append(unsafe.sub(_shown, text[pos:]))
    return "".join(out)


# what starts a new line somewhere (a terminal, an editor, a log viewer, a Markdown renderer) and the other
# controls: in a one-line entry, each is shown as an escape
_BREAKING = LazyPattern("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line_escaped(text: str) -> str:
    """`text` on one line: line breaks, tabs and every other control written as an escape (`\\n`, `\\r`,
    `\\t`, `\\u001b`, `\\u2028`), so free text (a note) cannot end or forge the entry it stands in."""
    return _BREAKING.sub(lambda m: _NAMED.get(m.group(), f"\\u{ord(m.group()):04x}"), text)
