"""Triage reports in each format: a Rich table, streamed JSON, a Markdown incident ticket."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TextIO

from mosaic_diag.triage import ErrorEvent, Group, TriageReport


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _plan_lines(group: Group) -> list[str]:
    """One line per remediation step: what would run and why, or why not."""
    plan = group.plan or {}
    lines = []
    for step in plan.get("actions", []) or []:
        action = step.get("action") or "?"
        reason = step.get("reason") or ""
        if step.get("would_run"):
            what = step.get("description") or action
            lines.append(f"→ {what}  [{reason}]" if reason else f"→ {what}")
        else:
            lines.append(f"· {action} skipped: {reason}")
    return lines


def write_json(events: Iterable[ErrorEvent], finish: Callable[[], TriageReport],
               out: TextIO) -> TriageReport:
    """Stream `{"events": [...], "groups": [...], "anomalies": [...], "summary": {...}}`."""
    out.write('{"events": [')
    first = True
    for event in events:
        out.write("\n  " if first else ",\n  ")
        out.write(json.dumps(event.to_dict(), ensure_ascii=False))
        first = False
    report = finish()
    out.write("\n],\n")
    rest: dict[str, Any] = {
        "groups": [g.to_dict() for g in report.groups],
        "anomalies": [a.to_dict() for a in report.anomalies],
        "summary": dict(report.summary),
    }
    body = json.dumps(rest, indent=2, ensure_ascii=False, default=str)
    out.write(body[1:].lstrip("\n") if body.startswith("{") else body)
    out.write("\n")
    return report


def _clock(value: datetime | None, one_day: bool) -> str:
    if value is None:
        return "-"
    return f"{value:%H:%M:%S}" if one_day else f"{value:%m-%d %H:%M}"


def write_table(report: TriageReport, *, top: int = 30) -> None:
    """Groups by severity and count, their playbook plans, anomalies, candidate new kinds, notes."""
    from rich.table import Table
    from rich.text import Text

    from mosaic_diag.render.console import SEVERITY_STYLE, out

    console = out()
    s = report.summary
    console.print(
        f"[bold]{s.get('input', 'input')}[/]: {s.get('lines', 0):,} lines, "
        f"[bold]{s['events']}[/] error events in {s['groups']} groups, "
        f"{s['anomalies']} anomalies"
        + (f", [yellow]{s['corrupt_lines']} corrupt lines[/]" if s.get("corrupt_lines") else "")
    )
    known = [g for g in report.groups if not g.is_candidate]
    if known:
        stamps = [t for g in known for t in (g.first_seen, g.last_seen) if t is not None]
        one_day = bool(stamps) and min(stamps).date() == max(stamps).date()
        title = "Error groups" + (f" ({min(stamps):%Y-%m-%d}, UTC)" if one_day else "")
        table = Table(title=title, title_justify="left", expand=False)
        narrow = console.width < 100  # the plans below name the playbook in full anyway
        table.add_column("Severity", no_wrap=True)
        table.add_column("Label", no_wrap=True)
        table.add_column("Count", justify="right", no_wrap=True)
        table.add_column("First", no_wrap=True)
        table.add_column("Last", no_wrap=True)
        table.add_column("Line", justify="right", no_wrap=True)
        if not narrow:
            table.add_column("Playbook", no_wrap=True)
        for group in known[:top]:
            cells = [Text(group.severity, style=SEVERITY_STYLE.get(group.severity, "")), group.label,
                     str(group.count), _clock(group.first_seen, one_day), _clock(group.last_seen, one_day),
                     str(group.sample_line)]
            table.add_row(*cells, *([] if narrow else [group.playbook or "-"]))
        console.print(table)
        if len(known) > top:
            console.print(f"… and {len(known) - top} more groups (--top, or --format json)")
        console.print("[bold]Samples and playbook plans (dry run)[/]")
        for group in known[:top]:
            style = SEVERITY_STYLE.get(group.severity, "")
            line = Text.assemble((group.label, f"bold {style}"),
                                 f" → {group.playbook}" if group.playbook else "",
                                 f"  line {group.sample_line}: ", _short(group.message, 160))
            console.print(line)
            for step in _plan_lines(group):
                console.print(Text("    " + step, style="dim" if step.startswith("·") else ""))
    if report.anomalies:
        table = Table(title="Anomalous rates", title_justify="left")
        for name in ("Label", "Window", "Count", "Baseline /min", "Observed /min", "Score"):
            table.add_column(name)
        for a in report.anomalies:
            table.add_row(a.label, f"{a.window_start:%m-%d %H:%M}–{a.window_end:%H:%M}", str(a.count),
                          f"{a.baseline_rate:.2f}", f"{a.observed_rate:.2f}", f"{a.score:.1f}")
        console.print(table)
    candidates = [g for g in report.groups if g.is_candidate]
    if candidates:
        console.print("[bold]Unmatched: candidate new failure kinds[/] (no rule labelled them)")
        for group in candidates[:top]:
            console.print(Text(f"  {group.count} × {group.exception_type or '-'}: {group.template}"
                               f"  (first at line {group.sample_line})"))
    for warning in s.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}")
    for line, reason in s.get("corrupt_samples", [])[:5]:
        console.print(f"[yellow]corrupt line {line}:[/] {reason}")
    if not report.groups:
        console.print("[green]No error events.[/]")


def write_markdown(report: TriageReport, out: TextIO) -> None:
    """An incident ticket: summary, groups with their playbooks and plans, anomalies."""
    s = report.summary
    out.write(f"# Triage: {s.get('input', 'input')}\n\n")
    out.write(f"- Lines read: {s.get('lines', 0)}\n- Error events: {s['events']} in "
              f"{s['groups']} groups\n- Anomalies: {s['anomalies']}\n")
    if s.get("corrupt_lines"):
        out.write(f"- Corrupt lines skipped: {s['corrupt_lines']}\n")
    if report.groups:
        out.write("\n## Groups\n\n| Severity | Label | Count | First seen | Last seen | Sample "
                  "| Playbook |\n|---|---|---|---|---|---|---|\n")
        for g in report.groups:
            msg = _short(g.message, 80).replace("|", "\\|")
            out.write(f"| {g.severity} | `{g.label}` | {g.count} | {_ts(g.first_seen)} | "
                      f"{_ts(g.last_seen)} | line {g.sample_line}: {msg} | {g.playbook or '-'} |\n")
        planned = [g for g in report.groups if _plan_lines(g)]
        if planned:
            out.write("\n## Playbook plans (dry run)\n")
            for g in planned:
                out.write(f"\n### {g.label} — {g.playbook}\n\n")
                for line in _plan_lines(g):
                    out.write(f"- {line}\n")
    if report.anomalies:
        out.write("\n## Anomalous rates\n\n| Label | Window | Count | Baseline /min | Observed /min"
                  " | Score |\n|---|---|---|---|---|---|\n")
        for a in report.anomalies:
            out.write(f"| `{a.label}` | {_ts(a.window_start)} – {a.window_end:%H:%M} | {a.count} | "
                      f"{a.baseline_rate:.2f} | {a.observed_rate:.2f} | {a.score:.1f} |\n")
    candidates = [g for g in report.groups if g.is_candidate]
    if candidates:
        out.write("\n## Candidate new failure kinds\n\n")
        for g in candidates:
            out.write(f"- {g.count} × `{g.exception_type or '-'}`: `{g.template}` "
                      f"(first at line {g.sample_line})\n")
