"""Text from a log, an app, a case file or a dead letter put into Markdown as text, never as markup.

A Markdown report is read where it is rendered (a ticket, a PR comment, a CI summary): a log line's `<img
src=...>` would load from its host there, `[x](javascript:...)` would be a link, a backtick would end a code
span and a newline would start a heading, a list or a table row of its own. Three forms:

- `md_text`: inline text on one line; Markdown's and HTML's punctuation backslash-escaped (CommonMark reads
  `\\<` as `<`), a block marker at its start made text; `|` escaped, so it can stand in a table cell;
- `md_code`: an inline code span whose backtick fence is longer than any run of backticks in the text;
- `md_fence`: a fenced code block whose fence is longer than any run of backticks at the start of a line.

In all three a terminal control (an escape sequence, a bell, a bidi override: platform.terminal) is written as
its escape (`\\u001b`): a report is also read with `cat`, and a file name or a log line must not play on the
terminal there.
"""

from __future__ import annotations

import re

from mosaic_diag.platform.lazyre import LazyPattern
from mosaic_diag.platform.terminal import neutralize_controls

# the punctuation that starts inline markup or HTML (`&` an entity; `>` closes a tag only after `<`), and `|`;
# `-`, `#`, `>`, `!` and the like are left alone: they are markup only at the start of a line (_LEAD) or after `[`
_INLINE = LazyPattern(r"([\\`*\[\]<|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")  # `_` within a word is text
_LEAD = LazyPattern(r"^(?:([-+=>#])|(\d+)([.)]))")  # a list, a setext line, a quote, a heading, an ordered list
_LINES = LazyPattern(r"\s*[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")
_TICKS = LazyPattern(r"`+")
_FENCE_TICKS = LazyPattern(r"^ {0,3}(`{3,})", re.M)  # what could close a backtick fence


def one_line(value: object) -> str:
    """The text with its line breaks (any Unicode line separator) as single spaces."""
    return _LINES.sub(" ", "" if value is None else str(value)).strip()


def md_text(value: object) -> str:
    """Inline text, shown as it is: no markup, no HTML, no link, one line, safe in a table cell; its controls as
    escapes, written after the Markdown escaping (a `\\u001b` is what `cat` and a renderer both show: escaped
    first, its backslash was doubled)."""
    text = _INLINE.sub(r"\\\1", one_line(value))
    text = _LEAD.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), text)
    return neutralize_controls(text, keep_csi=False)


def md_code(value: object, *, table: bool = False) -> str:
    """An inline code span of the text (one line); `table`: `|` escaped, as a GFM table cell needs even
    inside a code span."""
    text = neutralize_controls(one_line(value), keep_csi=False)
    longest = max((len(run) for run in _TICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    span = f"{fence}{pad}{text}{pad}{fence}"
    return span.replace("|", "\\|") if table else span


def md_fence(value: object, info: str = "") -> str:
    """A fenced code block holding the text (several lines) whole: its fence is longer than any fence-like
    run of backticks in it, so nothing in the text can close it."""
    text = neutralize_controls("" if value is None else str(value), keep_csi=False)
    longest = max((len(run) for run in _FENCE_TICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"
