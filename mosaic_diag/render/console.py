"""The Rich consoles the commands print to (stdout for reports, stderr for diagnostics)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

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


@lru_cache(maxsize=1)
def out() -> Console:
    return SafeConsole(highlight=False, soft_wrap=False)


@lru_cache(maxsize=1)
def err() -> Console:
    return SafeConsole(stderr=True, highlight=False)


SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}
