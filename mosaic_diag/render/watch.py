"""What `watch` shows: one JSON line per event / alert (anywhere), or a Rich live view (a terminal)."""

from __future__ import annotations

import json
from collections import Counter, deque
from typing import Any, TextIO

from mosaic_diag.platform.mdtext import md_code, md_text
from mosaic_diag.platform.redact import redact_text


def json_line(item: dict[str, Any], out: TextIO) -> None:
    """One object a line, flushed (a pipe reader sees each alert as it happens)."""
    out.write(redact_text(json.dumps(item, default=str, sort_keys=True)) + "\n")
    out.flush()


def markdown_line(item: dict[str, Any], out: TextIO) -> None:
    if item.get("type") == "alert":
        plan = f" -> playbook {md_code(item['playbook'])}" if item.get("playbook") else ""
        out.write(redact_text(f"- **{md_text(item['kind'])}** {md_code(item['label'])} {md_text(item['at'])}: "
                              f"{md_text(item['message'])}{plan}") + "\n")
        out.flush()


class LiveView:
    """Groups, counts and the last alerts, redrawn in place (Rich Live) while the watch runs."""

    def __init__(self, source: str) -> None:
        from rich.live import Live

        from mosaic_diag.render.console import out

        self.source = source
        self.counts: Counter[str] = Counter()
        self.last: dict[str, str] = {}
        self.alerts: deque[str] = deque(maxlen=8)
        self.status = "waiting for lines"
        self.live = Live(self._render(), console=out, refresh_per_second=2, transient=False)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._render())
        self.live.__exit__(*exc)

    def event(self, item: dict[str, Any]) -> None:
        self.counts[item["label"]] += 1
        self.last[item["label"]] = (item.get("timestamp") or "")[11:19]
        self.status = f"{sum(self.counts.values())} error events"
        self.live.update(self._render())

    def alert(self, item: dict[str, Any]) -> None:
        self.alerts.append(redact_text(f"{item['at'][11:19]} {item['kind']:<12} {item['label']}: {item['message']}"))
        self.live.update(self._render())

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"watch {self.source}: {self.status}", expand=False)
        table.add_column("Label")
        table.add_column("Count", justify="right")
        table.add_column("Last")
        for label, n in self.counts.most_common(12):
            table.add_row(label, str(n), self.last.get(label, ""))
        lines = [Text("Alerts:", style="bold")] + [Text(a, overflow="ellipsis", no_wrap=True) for a in self.alerts]
        return Group(table, *lines)
