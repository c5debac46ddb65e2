"""Triage reports in each format: a Rich table, streamed JSON, a Markdown incident ticket."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TextIO

from mosaic_diag.platform.mdtext import md_code, md_text
from mosaic_diag.triage import ErrorEvent, Group, TriageReport
from mosaic_diag.triage.model import Timeline


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
            what = f"{action}: {step['description']}" if step.get("description") else action
            lines.append(f"→ {what}  [{reason}]" if reason else f"→ {what}")
        else:
            lines.append(f"· {action} skipped: {reason}")
    return lines


class _NotPlain(Exception):
    """A field of another type than the dataclass says: the event goes through `json` as a whole."""


class EventLines:
    """The JSON line of an event exactly as `json.dumps(event.to_dict(), ensure_ascii=False)` writes it,
    with the strings that repeat from event to event (label, type, logger, rule, message ...) encoded once
    (a datetime's ISO text holds nothing JSON escapes: it is only quoted)."""

    def __init__(self, limit: int = 20_000) -> None:
        self._encoded: dict[str, str] = {}
        self._limit = limit
        self._encode = json.JSONEncoder(ensure_ascii=False).encode

    def _str(self, value: str | None) -> str:
        if value is None:
            return "null"
        done = self._encoded.get(value)
        if done is None:
            if type(value) is not str:
                raise _NotPlain
            if len(self._encoded) >= self._limit:
                self._encoded.clear()
            done = self._encoded[value] = self._encode(value)
        return done

    def line(self, e: ErrorEvent) -> str:
        ts = e.timestamp
        if type(e.line) is not int or type(e.end_line) is not int or not (ts is None or type(ts) is datetime):
            return self._encode(e.to_dict())
        s = self._str
        stamp = f'"{ts.isoformat()}"' if ts else "null"
        try:
            where = f'"line": {e.line}' if e.source is None else f'"line": {e.line}, "source": {s(e.source)}'
            return (f'{{{where}, "end_line": {e.end_line}, "label": {s(e.label)}, '
                    f'"category": {s(e.category)}, "severity": {s(e.severity)}, '
                    f'"timestamp": {stamp}, '
                    f'"exception_type": {s(e.exception_type)}, "message": {s(e.message)}, '
                    f'"fingerprint": {s(e.fingerprint)}, "rule": {s(e.rule)}, "logger": {s(e.logger)}, '
                    f'"instance": {s(e.instance)}, "shape": {s(e.shape)}}}')
        except _NotPlain:
            return self._encode(e.to_dict())


def write_json(events: Iterable[ErrorEvent], finish: Callable[[], TriageReport],
               out: TextIO) -> TriageReport:
    """Stream `{"events": [...], "groups": [...], "anomalies": [...], "summary": {...}, "timeline": {...}}`."""
    line = EventLines().line
    stream = iter(events)
    head = next(stream, None)  # (input that cannot be read at all raises here: nothing is written)
    out.write('{"events": [')
    if head is not None:
        out.write("\n  " + line(head))
        for event in stream:
            out.write(",\n  ")
            out.write(line(event))
    report = finish()
    out.write("\n],\n")
    rest: dict[str, Any] = {
        "groups": [g.to_dict() for g in report.groups],
        "anomalies": [a.to_dict() for a in report.anomalies],
        "summary": dict(report.summary),
        "timeline": report.timeline.to_dict(),
    }
    body = json.dumps(rest, indent=2, ensure_ascii=False, default=str)
    out.write(body[1:].lstrip("\n") if body.startswith("{") else body)
    out.write("\n")
    return report


def _clock(value: datetime | None, one_day: bool) -> str:
    if value is None:
        return "-"
    return f"{value:%H:%M:%S}" if one_day else f"{value:%m-%d %H:%M}"


SPARK = "▁▂▃▄▅▆▇█"
DEPLOY_MARK, START_MARK = "▼", "↻"
SCORE = "Score (σ)"  # an anomaly's score: standard deviations above its label's baseline
MAX_TIMELINE = 40
MIN_TIMELINE = 10   # cells: narrower, no timeline
WANT_TIMELINE = 20  # cells kept before optional columns come in


def sparkline(values: list[int]) -> str:
    """One cell per value: blank for 0, else ▁..█ scaled to the largest (any error shows)."""
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    steps = len(SPARK)
    return "".join(" " if v <= 0 else SPARK[min(steps - 1, max(0, -(-v * steps // top) - 1))] for v in values)


def marker_track(timeline: Timeline, width: int) -> str:
    """Deploys (▼) and process starts (↻) on the timeline's scale; a deploy wins its cell."""
    cells = [" "] * width
    for m in timeline.markers:
        i = timeline.bucket(m.timestamp, width)
        if m.kind == "deploy" or cells[i] == " ":
            cells[i] = DEPLOY_MARK if m.kind == "deploy" else START_MARK
    return "".join(cells)


def window_track(timeline: Timeline, start: datetime, end: datetime, width: int) -> str:
    """█ over the cells of [start, end), · elsewhere."""
    a = timeline.bucket(start, width)
    b = timeline.bucket(end - timedelta(seconds=1), width)
    return "".join("█" if a <= i <= b else "·" for i in range(width))


def _scale(timeline: Timeline, width: int) -> str:
    start = timeline.start()
    if start is None:
        return ""
    per = timeline.cell_minutes(width)
    end = start + timedelta(minutes=per * width)
    per_text = f"{per} min" if per < 120 or per % 60 else f"{per // 60} h"
    fmt = "%H:%M" if start.date() == (end - timedelta(seconds=1)).date() else "%m-%d %H:%M"
    text = f"Timeline {start:{fmt}}–{end:{fmt}} UTC, {per_text} per cell"
    if timeline.markers:
        text += f"; {DEPLOY_MARK} deploy, {START_MARK} process start"
    return text


def _score(score: float) -> str:
    """An anomaly's score with its unit: standard deviations above its label's baseline."""
    return f"{score:.1f}σ"


def _table_width(widths: list[int]) -> int:
    """Columns of a Rich table with the default box: padding and a rule around each cell."""
    return sum(widths) + 3 * len(widths) + 1


def write_table(report: TriageReport, *, top: int = 30) -> None:
    """Groups by severity and count (each with a sparkline of its rate over the log's time range),
    their playbook plans, anomalies (their window on the same scale), candidate new kinds, notes."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from mosaic_diag.render.console import SEVERITY_STYLE, out, print_hanging, print_table

    console = out()
    timeline = report.timeline
    s = report.summary
    inputs = s.get("inputs")
    console.print(
        (f"[bold]{len(inputs)} files[/]" if inputs else f"[bold]{escape(str(s.get('input', 'input')))}[/]")
        + f": {s.get('lines', 0):,} lines, "
        f"[bold]{s['events']}[/] error events in {s['groups']} groups, "
        f"{s['anomalies']} anomal{'y' if s['anomalies'] == 1 else 'ies'}"
        + (f", [yellow]{s['corrupt_lines']} corrupt lines[/]" if s.get("corrupt_lines") else "")
        + (f", [yellow]{s['filtered_out']} filtered out[/]" if s.get("filtered_out") else "")
    )
    for item in inputs or ():
        console.print(Text(f"  {input_line(item)}"), soft_wrap=True)
    known = [g for g in report.groups if not g.is_candidate]
    shown = known[:top]
    stamps = [t for g in known for t in (g.first_seen, g.last_seen) if t is not None]
    one_day = bool(stamps) and min(stamps).date() == max(stamps).date()
    # Columns by priority: the first four always; the timeline (at least MIN_TIMELINE cells when
    # the log has a time range) before the optional ones, which come in while the width allows.
    # The groups' and the anomalies' timelines share one width, so one scale.
    marks = "deploys" if timeline.markers else ""
    labels_w = max([len(g.label) for g in shown] + [len(a.label) for a in report.anomalies] + [5, len(marks)])
    count_w = max([len(str(g.count)) for g in shown] + [len(str(a.count)) for a in report.anomalies] + [5])
    line_w = max([len(g.where) for g in shown] + [4])
    clock_w = 8 if one_day else 11
    playbook_w = max([len(g.playbook or "-") for g in shown] + [8])
    group_cols = [8, labels_w, count_w, line_w]
    score_w = max([len(_score(a.score)) for a in report.anomalies] + [5])
    anomaly_cols = [labels_w, 11 if one_day else 17, count_w, score_w]
    timed = timeline.minutes > 0
    reserve = (WANT_TIMELINE + 3) if timed else 0

    def fits(cols: list[int], extra: int) -> bool:
        return _table_width(cols + [extra]) + reserve <= console.width

    group_opt: list[str] = []
    for name, w in (("Playbook", playbook_w), ("First", clock_w), ("Last", clock_w)):
        if fits(group_cols, w):  # (a column that fits takes its room before the next one is tried)
            group_cols.append(w)
            group_opt.append(name)
    anomaly_opt = ["Baseline /min", "Observed /min"] if fits(anomaly_cols, 13 + 3 + 13) else []
    anomaly_cols += [13, 13] if anomaly_opt else []
    room = console.width - max(_table_width(group_cols + [0]), _table_width(anomaly_cols + [0]) if
                               report.anomalies else 0)
    width = timeline.cells(min(MAX_TIMELINE, room)) if timed and room >= MIN_TIMELINE else 0
    caption = _scale(timeline, width) if width else None
    track = Text(marker_track(timeline, width), style="magenta") if width and timeline.markers else None
    if known:
        title = "Error groups" + (f" ({min(stamps):%Y-%m-%d}, UTC)" if one_day else "")
        table = Table(title=title, title_justify="left", expand=False, caption=caption, caption_justify="left")
        table.add_column("Severity", no_wrap=True)
        table.add_column("Label", no_wrap=True)
        table.add_column("Count", justify="right", no_wrap=True)
        for name in ("First", "Last"):
            if name in group_opt:
                table.add_column(name, no_wrap=True)
        table.add_column("Line", justify="right", no_wrap=True)
        if width:
            table.add_column("Timeline", no_wrap=True)
        if "Playbook" in group_opt:
            table.add_column("Playbook", no_wrap=True)
        blanks = [""] * sum(1 for n in ("First", "Last") if n in group_opt)
        if track is not None:
            table.add_row("", Text(marks, style="dim"), "", *blanks, "", track,
                          *([""] if "Playbook" in group_opt else []), end_section=True)
        for group in shown:
            cells: list[str | Text] = [Text(group.severity, style=SEVERITY_STYLE.get(group.severity, "")),
                                       Text(group.label), str(group.count)]
            if "First" in group_opt:
                cells.append(_clock(group.first_seen, one_day))
            if "Last" in group_opt:
                cells.append(_clock(group.last_seen, one_day))
            cells.append(Text(group.where))  # a file's name is text, never Rich markup
            if width:
                counts = timeline.groups.get(group.fingerprint, {})
                cells.append(Text(sparkline(timeline.buckets(counts, width)),
                                  style=SEVERITY_STYLE.get(group.severity, "")))
            if "Playbook" in group_opt:
                cells.append(Text(group.playbook or "-"))
            table.add_row(*cells)
        print_table(console, table)
        if len(known) > top:
            console.print(f"… and {len(known) - top} more groups (--top, or --format json)")
        console.print("[bold]Samples and playbook plans (dry run)[/]")
        for group in known[:top]:
            style = SEVERITY_STYLE.get(group.severity, "")
            line = Text.assemble((group.label, f"bold {style}"),
                                 f" → {group.playbook}" if group.playbook else "",
                                 f"  line {group.where}: ", _short(group.message, 160))
            print_hanging(console, line)
            for step in _plan_lines(group):
                print_hanging(console, Text(step, style="dim" if step.startswith("·") else ""), indent=4)
    if report.anomalies:
        table = Table(title="Anomalous rates", title_justify="left", caption=caption, caption_justify="left")
        table.add_column("Label", no_wrap=True)
        table.add_column("Window", no_wrap=True)
        table.add_column("Count", justify="right", no_wrap=True)
        table.add_column("Score", justify="right", no_wrap=True)
        for name in anomaly_opt:
            table.add_column(name, justify="right", no_wrap=True)
        if width:
            table.add_column("Timeline", no_wrap=True)
        if track is not None:
            table.add_row(Text(marks, style="dim"), "", "", "", *[""] * len(anomaly_opt), track, end_section=True)
        for a in report.anomalies:
            window = (f"{a.window_start:%H:%M}–{a.window_end:%H:%M}" if one_day
                      else f"{a.window_start:%m-%d %H:%M}–{a.window_end:%H:%M}")
            cells = [Text(a.label), window, str(a.count), _score(a.score)]
            rates = {"Baseline /min": f"{a.baseline_rate:.2f}", "Observed /min": f"{a.observed_rate:.2f}"}
            cells += [rates[name] for name in anomaly_opt]
            if width:
                cells.append(Text(window_track(timeline, a.window_start, a.window_end, width), style="bold red"))
            table.add_row(*cells)
        print_table(console, table)
    candidates = [g for g in report.groups if g.is_candidate]
    if candidates:
        console.print("[bold]Unmatched: candidate new failure kinds[/] (no rule labelled them)")
        for group in candidates[:top]:
            console.print(Text(f"  {group.count} × {group.exception_type or '-'}: {group.template}"
                               f"  (first at line {group.where})"))
    for warning in s.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(str(warning))}")
    for sample in s.get("corrupt_samples", [])[:5]:
        console.print(f"[yellow]corrupt line {escape(sample_where(sample))}:[/] {escape(str(sample[1]))}")
    if not report.groups:
        console.print(no_events(s) if s.get("filtered_out") or s.get("not_text_inputs")
                      else "[green]No error events.[/]")


def no_events(summary: Mapping[str, Any]) -> str:
    """What an empty report says when the filters left nothing, or an input was not a text log: not an
    all-clear."""
    if summary.get("not_text_inputs"):
        skipped = summary["not_text_inputs"]
        return (f"No error events in the text logs; {len(skipped)} input{'s' if len(skipped) > 1 else ''} not "
                f"judged (not a text log: {', '.join(skipped)}).")
    return (f"No error events match the filters ({summary['filtered_out']} filtered out by --since, --until, "
            "--label, --category or --min-severity).")


def input_line(item: dict[str, Any]) -> str:
    """One input of a run over several files: its name, lines, bytes and time range."""
    first, last = item.get("first_timestamp"), item.get("last_timestamp")
    span = ""
    if first and last:
        a, b = datetime.fromisoformat(first), datetime.fromisoformat(last)
        span = f", {_ts(a)} – {_ts(b) if a.date() != b.date() else f'{b:%H:%M:%S}'}"
    judged = ", not a text log: not judged" if item.get("not_text") else ""
    return f"{item['input']}: {item['lines']:,} lines, {item['bytes']:,} bytes{span}{judged}"


def sample_where(sample: list[Any]) -> str:
    """A corrupt line sample's `LINE`, or `NAME:LINE` in a run over several files."""
    return f"{sample[2]}:{sample[0]}" if len(sample) > 2 else str(sample[0])


def write_markdown(report: TriageReport, out: TextIO) -> None:
    """An incident ticket: summary, groups with their playbooks and plans, anomalies. Every text from the
    log (and the rules and playbooks) is Markdown text or a code span, never markup (platform.mdtext)."""
    s = report.summary
    inputs = s.get("inputs")
    out.write(f"# Triage: {f'{len(inputs)} files' if inputs else md_text(s.get('input', 'input'))}\n\n")
    if inputs:
        out.write("- Inputs, in the order read:\n")
        for item in inputs:
            out.write(f"  - {md_text(input_line(item))}\n")
    out.write(f"- Lines read: {s.get('lines', 0)}\n- Error events: {s['events']} in "
              f"{s['groups']} groups\n- Anomalies: {s['anomalies']}\n")
    if s.get("corrupt_lines"):
        out.write(f"- Corrupt lines skipped: {s['corrupt_lines']}\n")
    if s.get("filtered_out"):
        out.write(f"- Error events filtered out: {s['filtered_out']}\n")
    for name in s.get("not_text_inputs", ()):
        out.write(f"- Not judged: {md_text(next(w for w in s['warnings'] if w.startswith(f'{name}: ')))}\n")
    if not report.groups and (s.get("filtered_out") or s.get("not_text_inputs")):
        out.write(f"\n{md_text(no_events(s))}\n")
    if report.groups:
        out.write("\n## Groups\n\n| Severity | Label | Count | First seen | Last seen | Sample "
                  "| Playbook |\n|---|---|---|---|---|---|---|\n")
        for g in report.groups:
            msg = md_text(_short(g.message, 80))
            out.write(f"| {md_text(g.severity)} | {md_code(g.label, table=True)} | {g.count} | {_ts(g.first_seen)} | "
                      f"{_ts(g.last_seen)} | line {md_text(g.where)}: {msg} | {md_text(g.playbook or '-')} |\n")
        planned = [g for g in report.groups if _plan_lines(g)]
        if planned:
            out.write("\n## Playbook plans (dry run)\n")
            for g in planned:
                out.write(f"\n### {md_text(g.label)} — {md_text(g.playbook)}\n\n")
                for line in _plan_lines(g):
                    out.write(f"- {md_text(line)}\n")
    if report.anomalies:
        out.write("\n## Anomalous rates\n\n| Label | Window | Count | Baseline /min | Observed /min"
                  f" | {SCORE} |\n|---|---|---|---|---|---|\n")
        for a in report.anomalies:
            out.write(f"| {md_code(a.label, table=True)} | {_ts(a.window_start)} – {a.window_end:%H:%M} | {a.count} | "
                      f"{a.baseline_rate:.2f} | {a.observed_rate:.2f} | {a.score:.1f} |\n")
    candidates = [g for g in report.groups if g.is_candidate]
    if candidates:
        out.write("\n## Candidate new failure kinds\n\n")
        for g in candidates:
            out.write(f"- {g.count} × {md_code(g.exception_type or '-')}: {md_code(g.template)} "
                      f"(first at line {md_text(g.where)})\n")
