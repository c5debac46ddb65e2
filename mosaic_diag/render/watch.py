"""What `watch` shows: one JSON line per event / alert (anywhere), or a Rich live view (a terminal)."""

from __future__ import annotations

import json
from collections import Counter, deque
from types import TracebackType
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


def status_text(item: dict[str, Any]) -> str:
    """A status, problem or summary item as one line of text (what `--format markdown` writes to stderr)."""
    kind = item.get("type")
    if kind == "status":
        mode = "executing the playbooks' actions" if item.get("execute") else "dry run"
        return f"watching {item['source']} ({mode}; state {item['state']}; pid {item['pid']})"
    if kind == "summary":
        return (f"stopped watching {item['source']}: {_count(item['lines'], 'line')} read, "
                f"{_count(item['events'], 'error event')} in {_count(item['groups'], 'group')}, "
                f"{_count(item['alerts'], 'alert')}" + _syslog_counts(item.get("syslog")))
    if kind == "problem":
        return f"problem: {item['message']}"
    return " ".join(f"{k}={v}" for k, v in item.items())


def _syslog_counts(counts: dict[str, Any] | None) -> str:
    """`; syslog: 3 connections, 120 lines dropped (10.0.0.5: 100, 10.0.0.6: 20), …`: the listener's losses said,
    what it did not lose left out."""
    if not counts:
        return ""
    parts = [_count(counts["connections"], "connection"), _count(counts["messages"], "message")]
    for key, noun, why in (("refused", "connection", "refused: all busy"), ("denied", "connection",
                           "denied: not in --syslog-allow"), ("evicted", "idle connection", "closed"),
                           ("truncated", "frame", "cut short by its sender's close, not read")):
        if counts.get(key):
            parts.append(f"{_count(counts[key], noun)} {why}")
    if counts.get("dropped"):
        by = ", ".join(f"{name}: {n}" for name, n in counts.get("dropped_by", {}).items())
        parts.append(f"{_count(counts['dropped'], 'line')} dropped from the full queue" + (f" ({by})" if by else ""))
    return "; syslog: " + ", ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class LiveView:
    """Groups, counts and the last alerts, redrawn in place (Rich Live) while the watch runs."""

    def __init__(self, source: str) -> None:
        from rich.live import Live

        from mosaic_diag.render.console import out

        self.source = source
        self.counts: Counter[str] = Counter()
        self.last: dict[str, str] = {}
        self.alerts: deque[tuple[str, str]] = deque(maxlen=8)  # (when and what, the message and its playbook)
        self.head = f"watching {source}"
        self.console = out()
        self.live = Live(self._render(), console=self.console, refresh_per_second=2, transient=False)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.live.update(self._render())
        self.live.__exit__(kind, exc, tb)

    def event(self, item: dict[str, Any]) -> None:
        self.counts[item["label"]] += 1
        self.last[item["label"]] = (item.get("timestamp") or "")[11:19]
        self.live.update(self._render())

    def status(self, item: dict[str, Any]) -> None:
        """The watch's status line (source, dry run or not, state file), or a problem among the alerts; the summary
        is printed under the last frame once the view has stopped."""
        text = redact_text(status_text(item))
        if item.get("type") == "summary":
            from rich.text import Text

            self.live.console.print(Text(text))
            return
        if item.get("type") == "problem":
            self.alerts.append(("problem:", text.removeprefix("problem: ")))
        else:
            self.head = text
        self.live.update(self._render())

    def alert(self, item: dict[str, Any]) -> None:
        self.alerts.append((f"{item['at'][11:19]} {item['kind']}", redact_text(f"{item['label']}: {item['message']}"
                                                                            + alert_playbook(item))))
        self.live.update(self._render())

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        from mosaic_diag.render.console import drop_until_fits

        # the source, a problem's message (an API's answer) and labels are text, never Rich markup
        events = sum(self.counts.values())
        head = Text(f"{self.head}: {_count(events, 'error event')} in {_count(len(self.counts), 'label')}")
        table = Table(expand=False)
        table.add_column("Label", no_wrap=True)
        table.add_column("Count", justify="right", no_wrap=True)
        table.add_column("Last seen", no_wrap=True)
        for label, n in self.counts.most_common(12):
            table.add_row(Text(label), str(n), Text(self.last.get(label, "")))
        # a label whole (`OPENAI_RATE_LIM…` at 40 columns): its last time goes first
        drop_until_fits(self.console, table, ("Last seen",))
        # each alert whole, wrapped at words under its message (at 80 columns the line was cut with `…`, its
        # playbook never shown); when and what in a column of their own
        alerts = Table.grid(padding=(0, 1))
        alerts.add_column(no_wrap=True)
        alerts.add_column(overflow="fold")
        for when, what in self.alerts:
            alerts.add_row(Text(when), Text(what))
        return Group(head, table, Text("Alerts:", style="bold"), alerts)


def alert_playbook(item: dict[str, Any]) -> str:
    """What an alert's playbook does about it, as the live view says it: ` -> playbook ID: would run a, b` (a dry
    run), `: ran a (ok), b (failed)` (--execute), `: not run (why)`; nothing without a playbook."""
    playbook = item.get("playbook")
    if not playbook:
        return ""
    ran = [o for o in item.get("executed") or () if not o.get("skipped")]
    if ran:
        what = "ran " + ", ".join(f"{o.get('action')} ({'ok' if o.get('ok') else 'failed'})" for o in ran)
    elif item.get("skipped"):
        what = f"not run ({item['skipped']})"
    else:
        steps = [a.get("action") for a in (item.get("plan") or {}).get("actions") or () if a.get("would_run")]
        what = "would run " + ", ".join(map(str, steps)) if steps else "nothing to run"
    return f" -> playbook {playbook}: {what}"
