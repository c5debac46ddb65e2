"""The Rich consoles the commands print to (stdout for reports, stderr for diagnostics), and the one way a
table is printed: as a table where it fits, as stacked `Header: value` lines where it cannot."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from rich.console import Console
from rich.segment import Segment

from mosaic_diag.platform.terminal import Rendered, neutralize_controls


class SafeConsole(Console):
    """A Console whose laid-out text (a log line, an answer, a file's name) has every terminal control written
    as an escape, while its own styles and control codes (a live view's cursor moves) pass; what it writes is
    `Rendered`, so the output guard keeps those moves for it alone."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        safe = (seg if seg.control else Segment(neutralize_controls(seg.text, keep_csi=False), seg.style)
                for seg in buffer)
        return Rendered(super()._render_buffer(safe))


# A column that wraps is still readable this narrow; below it (or a no-wrap column cut at all) it is not.
MIN_WRAP_WIDTH = 10


@lru_cache(maxsize=1)
def out() -> Console:
    return _sized(SafeConsole(highlight=False, soft_wrap=False))


@lru_cache(maxsize=1)
def err() -> Console:
    return _sized(SafeConsole(stderr=True, highlight=False))


def _sized(console: Console) -> Console:
    """Rich takes any TERM=dumb terminal for 80 columns, whatever COLUMNS or the terminal says: a dumb
    terminal keeps its width here (COLUMNS, else the terminal's own; colour stays off)."""
    if console.is_dumb_terminal:
        import shutil

        size = shutil.get_terminal_size((80, 25))  # (COLUMNS / LINES first, then the terminal's own)
        console.size = (size.columns, size.lines)  # (both: with the width alone Rich says 80 again)
    return console


SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def _cell_width(console: Console, cell: Any) -> int:
    """The widest line of a cell as the table would render it (markup read for strings)."""
    if isinstance(cell, str):
        cell = console.render_str(cell)
    plain = getattr(cell, "plain", None)
    if isinstance(plain, str):
        from rich.cells import cell_len

        return max((cell_len(line) for line in plain.split("\n")), default=0)
    return console.measure(cell).maximum


def _longest_word(console: Console, column: Any) -> int:
    """The widest word (a run without spaces: a label, a playbook id, a path) of a column's header and cells."""
    from rich.cells import cell_len

    texts = [column.header, *column._cells]  # (Rich keeps a column's cells in _cells)
    plains = [console.render_str(t).plain if isinstance(t, str) else getattr(t, "plain", "") for t in texts]
    return max((cell_len(word) for plain in plains for word in plain.split()), default=0)


def _least(column: Any, widest: int) -> int:
    """The least width of a wrapping column whose min_width `table_fits` has set: its widest cell, or if that is
    wider, MIN_WRAP_WIDTH or its min_width (its widest word, or more where it was made with more)."""
    return min(widest, max(MIN_WRAP_WIDTH, column.min_width or 0))


def table_fits(console: Console, table: Any) -> bool:
    """Whether `table` fits the console's width with no column cut and no word broken: a no-wrap column needs
    its widest cell, a wrapping one its widest word and at least min(its widest cell, MIN_WRAP_WIDTH or the
    min_width it was made with: a description squeezed to 12 cells is a column of fragments); plus the box's
    rules and padding. A wrapping column is given its widest word as its least width (an identifier is never
    split across lines, `PG_AUTH_FAIL|ED`)."""
    needed = 1
    for column in table.columns:
        widest = max([_cell_width(console, column.header), *(_cell_width(console, c) for c in column._cells)])
        if column.no_wrap:
            needed += widest + 3
            continue
        column.min_width = max(column.min_width or 0, _longest_word(console, column))
        needed += _least(column, widest) + 3
    return needed <= console.width


def drop_until_fits(console: Console, table: Any, optional: Sequence[str]) -> None:
    """Take the columns headed `optional` out of `table`, in that order, while it does not fit the console's
    width: a narrower terminal loses the least needed columns before the table becomes `Header: value` lines."""
    for name in optional:
        if table_fits(console, table):
            return
        table.columns[:] = [c for c in table.columns if str(c.header) != name]


def print_table(console: Console, table: Any, *, optional: Sequence[str] = (), **kwargs: Any) -> None:
    """`table` as a table where it fits, without as many of its `optional` columns (headers, the first to go
    first) as it takes; else (a narrow terminal, COLUMNS=20) its title, then each row as `Header: value` lines
    (every column; empty cells left out; the lines a value wraps or breaks onto indented under it) and a blank line
    between rows, then its caption: every value whole and wrapped at words, where a squeezed table shows `c…` and
    empty columns."""
    from rich.text import Text

    whole = list(table.columns)
    drop_until_fits(console, table, optional)
    if table_fits(console, table):
        _settle_widths(console, table)
        console.print(table, **kwargs)
        return
    markup = kwargs.get("markup", True)

    def text(cell: Any) -> Text:
        if isinstance(cell, Text):
            return cell
        return console.render_str(cell) if markup else Text(str(cell))

    table.columns[:] = whole
    if table.title:
        console.print(text(table.title), soft_wrap=False)
    rows = max((len(c._cells) for c in table.columns), default=0)  # (Rich keeps a column's cells in _cells)
    for i in range(rows):
        if i:
            console.print()
        for column in table.columns:
            cell = text(column._cells[i]) if i < len(column._cells) else Text()
            if not cell.plain.strip():
                continue
            header = text(column.header).plain.strip()
            # its lines after the first (wrapped, or a line break of the value's own: a file's name, a log line) are
            # indented under it: a value cannot start a line as a `Header: value` of its own (`\nStatus: ok`)
            print_hanging(console, Text.assemble((f"{header}: " if header else ""), cell))
    if table.caption:
        console.print(text(table.caption))


def _settle_widths(console: Console, table: Any) -> None:
    """The wrapping columns' widths, when the cells do not fit at their natural width: Rich shaves the widest
    columns evenly, below a column's least width (its widest word), and then lays the table out wider than the
    terminal, whose edge cuts its last column off (`manifest genera`). Each wrapping column gets its least width
    (as `table_fits` counts it) and a share of the rest by how much more it would take."""
    columns = table.columns
    pads = [table._get_padding_width(i) for i in range(len(columns))]  # (Rich's padding of a column, edges too)
    widest = [max([_cell_width(console, c.header), *(_cell_width(console, cell) for cell in c._cells)])
              for c in columns]
    space = console.width - table._extra_width  # (the box's rules)
    if sum(widest) + sum(pads) <= space:
        return
    least = [w if c.no_wrap else _least(c, w) for c, w in zip(columns, widest, strict=True)]
    spare = space - sum(least) - sum(pads)
    wants = [0 if c.no_wrap else w - m for c, w, m in zip(columns, widest, least, strict=True)]
    total = sum(wants)
    if spare < 0 or not total:
        return
    shares = [spare * want // total for want in wants]
    for i in sorted(range(len(columns)), key=lambda i: wants[i] - shares[i], reverse=True)[:spare - sum(shares)]:
        shares[i] += 1  # the remainder of the division, to the columns that want the most
    for column, m, share, want in zip(columns, least, shares, wants, strict=True):
        if not column.no_wrap:
            column.width = m + min(share, want)


def print_hanging(console: Console, text: Any, *, indent: int = 0, hang: int = 2) -> None:
    """`text` wrapped at words to the console's width, its first line `indent` cells in and the lines it wraps
    onto `indent + hang` in: a wrapped line stays under the item it belongs to, never at the left edge where
    the next item starts."""
    from rich.text import Text

    if console.width - indent - hang < MIN_WRAP_WIDTH:  # (a terminal too narrow to indent in)
        indent = hang = 0
    first = text.wrap(console, console.width - indent)[0]  # (the first line the whole width, the rest narrower)
    rest = len(first.plain)
    while rest < len(text.plain) and text.plain[rest].isspace():  # (the space it was broken at)
        rest += 1
    lines = [first, *(text[rest:].wrap(console, console.width - indent - hang) if rest < len(text.plain) else ())]
    for i, line in enumerate(lines):
        line.rstrip()  # (the space a line was broken at)
        console.print(Text.assemble(" " * (indent if i == 0 else indent + hang), line), soft_wrap=True)

