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
    plan = group.plan or {}
    lines = []
    for step in plan.get("actions", []) or []:
        verdict = "would run" if step.get("would_run") else "skipped"
        reason = step.get("reason") or ""
        what = step.get("description") or step.get("action")
        lines.append(f"{step.get('action')}: {verdict}{f' ({reason})' if reason else ''}"
                     f"{f' — {what}' if what and what != step.get('action') else ''}")
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


def write_table(report: TriageReport, *, top: int = 30) -> None:
    """Groups by severity and count, anomalies, candidate new failure kinds, reader notes."""
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
        table = Table(title="Error groups", title_justify="left", show_lines=False)
        for name in ("Severity", "Label", "Count", "First seen", "Last seen", "Sample", "Playbook"):
            table.add_column(name, overflow="fold", no_wrap=name in ("Label", "Severity"))
        for group in known[:top]:
            plan = "\n".join(_plan_lines(group))
            playbook = (group.playbook or "-") + (f"\n{plan}" if plan else "")
            table.add_row(
                Text(group.severity, style=SEVERITY_STYLE.get(group.severity, "")),
                group.label, str(group.count), _ts(group.first_seen), _ts(group.last_seen),
                f"line {group.sample_line}: {_short(group.message, 70)}", playbook)
        console.print(table)
        if len(known) > top:
            console.print(f"… and {len(known) - top} more groups (--top, or --format json)")
    if report.anomalies:
        table = Table(title="Anomalous rates", title_justify="left")
        for name in ("Label", "Window", "Count", "Baseline /min", "Observed /min", "Score"):
            table.add_column(name)
        for a in report.anomalies:
            table.add_row(a.label, f"{_ts(a.window_start)} → {a.window_end:%H:%M}", str(a.count),
                          f"{a.baseline_rate:.2f}", f"{a.observed_rate:.2f}", f"{a.score:.1f}")
        console.print(table)
    candidates = [g for g in report.groups if g.is_candidate]
    if candidates:
        table = Table(title="Unmatched: candidate new failure kinds", title_justify="left")
        for name in ("Count", "Exception", "Message template", "First line"):
            table.add_column(name, overflow="fold")
        for group in candidates[:top]:
            table.add_row(str(group.count), group.exception_type or "-", group.template,
                          str(group.sample_line))
        console.print(table)
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
