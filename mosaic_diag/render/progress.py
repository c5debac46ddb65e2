"""Progress on stderr for long work: a Rich bar, only where someone is watching.

The core takes a plain `on_progress(done, total)` callback and knows nothing of Rich; the commands
ask `progress_wanted` whether to draw (table output, no --quiet, stderr a terminal: never in
JSON / markdown / HTML output nor in CI logs) and hand the core the callback `progress` yields, or
None, so the core does not even call it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

ProgressFn = Callable[[int, "int | None"], None]


def progress_wanted(fmt: object, quiet: bool, stream: TextIO | None = None) -> bool:
    """Whether to draw progress: only for the table format, without --quiet, on a terminal."""
    if quiet or str(getattr(fmt, "value", fmt)) != "table":
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


def _BytesOrLines(sizes: Any) -> Any:  # noqa: N802 - a column class, made lazily (Rich is imported here)
    """A column: bytes read of the total, or lines read when there is no total (stdin)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Column(ProgressColumn):
        def render(self, task: Any) -> Text:
            if task.total is None:
                return Text(f"{int(task.completed):,} lines", style="progress.download")
            return sizes.render(task)

    return Column()


@contextmanager
def progress(description: str, *, enabled: bool, unit: str = "items") -> Iterator[ProgressFn | None]:
    """A callback `(done, total)` that moves a transient Rich bar on stderr, or None when disabled.

    `unit` "bytes" shows sizes read of the total, or, with a total of None (stdin), the count
    given as lines read; "items" shows done/total (cases, checks)."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from mosaic_diag.render.console import err

    count = _BytesOrLines(DownloadColumn()) if unit == "bytes" else MofNCompleteColumn()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), count, TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err(), transient=True,
                  refresh_per_second=4) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
