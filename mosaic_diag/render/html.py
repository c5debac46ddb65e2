"""Self-contained HTML reports (triage, golden, predeploy): one file, inline CSS and SVG.

No script, no font, no image or style is fetched from anywhere (a Content-Security-Policy in the
page says so to the browser too), so the file can be attached to a ticket and opened offline.
Every text that came from a log, an app or a check goes through `redact_text` and HTML escaping.
The charts are plain SVG written here: a stacked error-rate timeline per label with anomalous
windows shaded and deploys marked, sparklines per group, a bar of outcomes.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from mosaic_diag import __version__
from mosaic_diag.platform.redact import redact_text
from mosaic_diag.render.triage import input_line, no_events, sample_where
from mosaic_diag.triage.model import Group, Timeline, TriageReport

# Distinct, print-safe colours (Tableau 10), one per label in order of count; the rest is "other".
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f")
OTHER_COLOUR = "#bab0ac"
SEVERITY_COLOUR = {"critical": "#b91c1c", "high": "#dc2626", "medium": "#b45309", "low": "#0e7490"}
OUTCOME_COLOUR = {"pass": "#15803d", "flaky": "#ca8a04", "fail": "#dc2626", "error": "#7f1d1d",
                  "passed": "#15803d", "warning": "#ca8a04", "failed": "#dc2626", "timeout": "#7f1d1d",
                  "skipped": "#94a3b8"}
MAX_BARS = 120
MAX_SERIES = len(PALETTE)

CSS = """
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#fff;--soft:#f8fafc}
*{box-sizing:border-box}
body{margin:0;background:var(--soft);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}h3{font-size:15px;margin:0 0 6px}
.sub{color:var(--muted);margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card span{color:var(--muted);font-size:12px}
figure{margin:0;background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:12px}
svg.chart{display:block;width:100%;height:auto}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:8px 0 0;padding:0;list-style:none;font-size:12px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
table{border-collapse:collapse;width:100%;background:var(--bg);border:1px solid var(--line)}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f1f5f9;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.sev{display:inline-block;padding:1px 7px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;word-break:break-word;background:var(--soft);border:1px solid var(--line);
border-radius:6px;padding:8px;margin:6px 0}
.group{background:var(--bg);border:1px solid var(--line);border-left:4px solid var(--c,#999);border-radius:6px;
padding:10px 14px;margin:10px 0}
.group ul{margin:6px 0 0;padding-left:0;list-style:none}.group li{padding-left:1.2em;text-indent:-1.2em}
.skip{color:var(--muted)}
.muted{color:var(--muted)}.warn{color:#92400e}
footer{margin:32px 0 8px;color:var(--muted);font-size:12px}
@media (max-width:720px){main{padding:12px}table{display:block;overflow-x:auto}
figure{overflow-x:auto}svg.chart{min-width:800px}}
"""


def _e(value: object) -> str:
    """Redacted, escaped text for the page."""
    return html.escape(redact_text("" if value is None else str(value)), quote=True)


def _page(title: str, body: str) -> str:
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
            f"<footer>mosaic-diag {__version__}: a self-contained report (no scripts, nothing fetched); "
            "secrets redacted; playbook plans are dry runs.</footer>\n</main>\n</body>\n</html>\n")


def _cards(items: Iterable[tuple[str, object]]) -> str:
    return "<div class=\"cards\">" + "".join(
        f"<div class=\"card\"><b>{_e(value)}</b><span>{_e(name)}</span></div>" for name, value in items) + "</div>"


def _badge(text: str, colour: str) -> str:
    return f"<span class=\"sev\" style=\"background:{colour}\">{_e(text)}</span>"


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


# -- the triage report -----------------------------------------------------------------------

def _nice_step(span_minutes: int, ticks: int = 8) -> int:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080):
        if span_minutes / step <= ticks:
            return step
    return max(1, span_minutes // ticks)


def _y_axis(value: int) -> tuple[int, int]:
    """(top of the axis, tick step): whole numbers, at most 5 steps."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000):
        if value <= step * 5:
            return -(-value // step) * step, step
    step = -(-value // 5)
    return step * 5, step


def series_colours(labels: Sequence[str]) -> dict[str, str]:
    """A colour per label, in the given order (most events first); the rest share OTHER."""
    return {label: PALETTE[i] for i, label in enumerate(labels[:MAX_SERIES])}


def timeline_svg(report: TriageReport) -> str:
    """The stacked error-rate timeline: one bar per cell, one colour per label, anomalous windows
    shaded, deploys (dashed) and process starts (ticks) marked."""
    tl = report.timeline
    if not tl.minutes or tl.first_minute is None:
        return "<p class=\"muted\">No timestamps in the input: no timeline.</p>"
    n = tl.cells(MAX_BARS)
    per = tl.cell_minutes(MAX_BARS)
    order = [label for label in report.summary.get("labels", {}) if label in tl.labels] or sorted(tl.labels)
    colours = series_colours(order)
    series: list[tuple[str, str, list[int]]] = [(label, colours[label], tl.buckets(tl.labels[label], n))
                                                for label in order[:MAX_SERIES]]
    rest = order[MAX_SERIES:]
    if rest:
        other = [sum(col) for col in zip(*(tl.buckets(tl.labels[label], n) for label in rest), strict=True)]
        series.append((f"{len(rest)} other labels", OTHER_COLOUR, other))
    totals = [sum(s[2][i] for s in series) for i in range(n)]
    ymax, ystep = _y_axis(max(totals, default=0) or 1)
    width, height, left, right, top, bottom = 960, 320, 48, 16, 34, 44
    pw, ph = width - left - right, height - top - bottom
    span = n * per
    start = tl.start()
    assert start is not None

    def x_at(when: datetime) -> float:
        minutes = (when - start).total_seconds() / 60
        return left + max(0.0, min(float(span), minutes)) / span * pw

    def y_at(value: float) -> float:
        return top + ph - value / ymax * ph

    parts = [f"<svg id=\"timeline\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} "
             f"{height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"Error events per "
             f"{per} minutes by label\">"]
    parts.append(f"<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#fff\"/>")
    for v in range(0, ymax + 1, ystep):  # grid and y labels
        y = y_at(v)
        parts.append(f"<line x1=\"{left}\" x2=\"{width - right}\" y1=\"{y:.1f}\" y2=\"{y:.1f}\" "
                     f"stroke=\"#e5e7eb\"/><text x=\"{left - 6}\" y=\"{y + 4:.1f}\" font-size=\"11\" "
                     f"text-anchor=\"end\" fill=\"#6b7280\">{v:g}</text>")
    for a in report.anomalies:  # behind the bars
        x0, x1 = x_at(a.window_start), x_at(a.window_end)
        parts.append(f"<rect class=\"anomaly\" x=\"{x0:.1f}\" y=\"{top}\" width=\"{max(2.0, x1 - x0):.1f}\" "
                     f"height=\"{ph}\" fill=\"#f59e0b\" fill-opacity=\"0.18\" stroke=\"#f59e0b\" "
                     f"stroke-opacity=\"0.6\"><title>anomaly: {_e(a.label)} {a.window_start:%H:%M}–"
                     f"{a.window_end:%H:%M}, {a.count} events, score {a.score:.1f}</title></rect>")
        parts.append(f"<text x=\"{x0 + 3:.1f}\" y=\"{top - 4}\" font-size=\"10\" fill=\"#92400e\">"
                     f"{_e(a.label)}</text>")
    bw = pw / n
    for i in range(n):
        base = 0
        for label, colour, values in series:
            v = values[i]
            if not v:
                continue
            y1, y0 = y_at(base + v), y_at(base)
            when = start + timedelta(minutes=i * per)
            parts.append(f"<rect x=\"{left + i * bw + 0.5:.1f}\" y=\"{y1:.1f}\" width=\"{max(1.0, bw - 1):.1f}\" "
                         f"height=\"{y0 - y1:.1f}\" fill=\"{colour}\"><title>{when:%H:%M} {_e(label)}: {v}"
                         "</title></rect>")
            base += v
    for m in tl.markers:
        x = x_at(m.timestamp)
        if m.kind == "deploy":
            parts.append(f"<line class=\"deploy\" x1=\"{x:.1f}\" x2=\"{x:.1f}\" y1=\"{top - 14}\" "
                         f"y2=\"{top + ph}\" stroke=\"#7c3aed\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\">"
                         f"<title>{m.timestamp:%H:%M:%S} line {_e(m.where)}: {_e(m.text)}</title></line>"
                         f"<text x=\"{x + 3:.1f}\" y=\"{top - 18}\" font-size=\"11\" fill=\"#7c3aed\">deploy "
                         f"{m.timestamp:%H:%M}</text>")
        else:
            parts.append(f"<path class=\"start\" d=\"M{x:.1f} {top + ph + 1} l-4 7 h8 z\" fill=\"#475569\">"
                         f"<title>{m.timestamp:%H:%M:%S} line {_e(m.where)}: {_e(m.text)}</title></path>")
    parts.append(f"<line x1=\"{left}\" x2=\"{width - right}\" y1=\"{top + ph}\" y2=\"{top + ph}\" stroke=\"#9ca3af\"/>")
    step = _nice_step(span)
    first_tick = -(-tl.first_minute // step) * step
    fmt = "%H:%M" if start.date() == (start + timedelta(minutes=span)).date() else "%m-%d %H:%M"
    for minute in range(first_tick, tl.first_minute + span + 1, step):
        when = start + timedelta(minutes=minute - tl.first_minute)
        x = x_at(when)
        parts.append(f"<line x1=\"{x:.1f}\" x2=\"{x:.1f}\" y1=\"{top + ph}\" y2=\"{top + ph + 4}\" "
                     f"stroke=\"#9ca3af\"/><text x=\"{x:.1f}\" y=\"{top + ph + 22}\" font-size=\"11\" "
                     f"text-anchor=\"middle\" fill=\"#374151\">{when:{fmt}}</text>")
    parts.append(f"<text x=\"{left}\" y=\"{height - 4}\" font-size=\"11\" fill=\"#6b7280\">UTC · error events per "
                 f"{per} min</text></svg>")
    legend = "".join(f"<li><i style=\"background:{c}\"></i>{_e(label)}</li>" for label, c, _ in series)
    if report.anomalies:
        legend += "<li><i style=\"background:#fde7c0;border:1px solid #f59e0b\"></i>anomalous window</li>"
    if any(m.kind == "deploy" for m in tl.markers):
        legend += "<li><i style=\"background:#7c3aed\"></i>deploy (==&gt; Deploying)</li>"
    if any(m.kind == "start" for m in tl.markers):
        legend += "<li><i style=\"background:#475569\"></i>process start</li>"
    return f"<figure>{''.join(parts)}<ul class=\"legend\">{legend}</ul></figure>"


def sparkline_svg(timeline: Timeline, counts: Mapping[int, int], colour: str, cells: int = 60) -> str:
    """A small bar sparkline of one group over the whole time range."""
    n = timeline.cells(cells)
    if not n:
        return ""
    values = timeline.buckets(counts, n)
    top = max(values) or 1
    w, h = 160, 22
    bw = w / n
    bars = "".join(f"<rect x=\"{i * bw:.1f}\" y=\"{h - v / top * h:.1f}\" width=\"{max(1.0, bw - 0.4):.1f}\" "
                   f"height=\"{v / top * h:.1f}\" fill=\"{colour}\"/>" for i, v in enumerate(values) if v)
    return (f"<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" "
            f"height=\"{h}\" role=\"img\" aria-label=\"events over time\"><rect width=\"{w}\" height=\"{h}\" "
            f"fill=\"#f8fafc\"/>{bars}</svg>")


def _plan_items(group: Group) -> list[str]:
    plan = group.plan or {}
    items = []
    for step in plan.get("actions", []) or []:
        action = step.get("action") or "?"
        reason = step.get("reason") or ""
        if step.get("would_run"):
            what = f"{action}: {step['description']}" if step.get("description") else action
            items.append(f"<li>→ {_e(what)}" + (f" <span class=\"muted\">[{_e(reason)}]</span>" if reason else "")
                         + "</li>")
        else:
            items.append(f"<li class=\"skip\">· {_e(action)} skipped: {_e(reason)}</li>")
    return items


def triage_html(report: TriageReport) -> str:
    """The incident report of a triage run."""
    s = report.summary
    tl = report.timeline
    name = s.get("input", "input")
    start, end = tl.start(), tl.end()
    span = f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC" if start and end else "no timestamps"
    stamps = [t for g in report.groups for t in (g.first_seen, g.last_seen) if t is not None]
    one_day = bool(stamps) and min(stamps).date() == max(stamps).date()

    def when(value: datetime | None) -> str:
        return "-" if value is None else f"{value:%H:%M:%S}" if one_day else _ts(value)
    body = [f"<h1>Incident report: {_e(name)}</h1>", f"<p class=\"sub\">{_e(span)}</p>"]
    if s.get("inputs"):
        body.append("<ul class=\"muted\">" + "".join(f"<li>{_e(input_line(item))}</li>" for item in s["inputs"])
                    + "</ul>")
    deploys = sum(1 for m in tl.markers if m.kind == "deploy")
    starts = sum(1 for m in tl.markers if m.kind == "start")
    body.append(_cards([("error events", s.get("events", 0)), ("groups", s.get("groups", 0)),
                        ("labels", len(s.get("labels", {}))), ("anomalies", s.get("anomalies", 0)),
                        ("unknown events", s.get("unknown_events", 0)), ("deploys", deploys),
                        ("process starts", starts), ("lines read", f"{s.get('lines', 0):,}"),
                        *([("corrupt lines", s["corrupt_lines"])] if s.get("corrupt_lines") else []),
                        *([("filtered out", s["filtered_out"])] if s.get("filtered_out") else [])]))
    body.append("<h2>Error rate by label</h2>")
    body.append(timeline_svg(report))
    order = list(s.get("labels", {}))
    colours = series_colours(order)
    if report.anomalies:
        rows = "".join(
            f"<tr><td><code>{_e(a.label)}</code></td><td>{a.window_start:{'%H:%M' if one_day else '%Y-%m-%d %H:%M'}}"
            f" – {a.window_end:%H:%M}</td>"
            f"<td class=\"num\">{a.count}</td><td class=\"num\">{a.baseline_rate:.2f}</td>"
            f"<td class=\"num\">{a.observed_rate:.2f}</td><td class=\"num\">{a.score:.1f}</td></tr>"
            for a in report.anomalies)
        body.append("<h2>Anomalous rates</h2><table><thead><tr><th>Label</th><th>Window</th><th class=\"num\">"
                    "Count</th><th class=\"num\">Baseline /min</th><th class=\"num\">Observed /min</th>"
                    "<th class=\"num\" title=\"standard deviations above the baseline\">Score (σ)</th></tr></thead>"
                    f"<tbody>{rows}</tbody></table>")
    known = [g for g in report.groups if not g.is_candidate]
    if known:
        rows = "".join(
            f"<tr><td>{_badge(g.severity, SEVERITY_COLOUR.get(g.severity, '#6b7280'))}</td>"
            f"<td><code>{_e(g.label)}</code></td><td class=\"num\">{g.count}</td><td>{when(g.first_seen)}</td>"
            f"<td>{when(g.last_seen)}</td>"
            f"<td>{sparkline_svg(tl, tl.groups.get(g.fingerprint, {}), colours.get(g.label, OTHER_COLOUR))}</td>"
            f"<td>{_e(g.playbook or '-')}</td></tr>" for g in known)
        day = f" ({min(stamps):%Y-%m-%d}, UTC)" if one_day else ""
        body.append(f"<h2>Error groups{day}</h2><table><thead><tr><th>Severity</th><th>Label</th><th class=\"num\">"
                    "Count</th><th>First seen</th><th>Last seen</th><th>Over time</th><th>Playbook</th></tr>"
                    f"</thead><tbody>{rows}</tbody></table>")
        body.append("<h2>Samples and playbook plans (dry run)</h2>")
        for g in known:
            colour = SEVERITY_COLOUR.get(g.severity, "#6b7280")
            plan = _plan_items(g)
            events = f"{g.count} event{'' if g.count == 1 else 's'}"
            body.append(
                f"<section class=\"group\" style=\"--c:{colour}\"><h3><code>{_e(g.label)}</code>"
                + (f" → {_e(g.playbook)}" if g.playbook else "")
                + f"</h3><div class=\"muted\">{events} · {_e(g.category)} · {_e(g.severity)} · sample at "
                f"line {_e(g.where)}" + (f" · {_e(g.exception_type)}" if g.exception_type else "") + "</div>"
                f"<pre>{_e(g.message)}</pre>"
                + (f"<ul>{''.join(plan)}</ul>" if plan else "<div class=\"muted\">No playbook plan.</div>")
                + "</section>")
    candidates = [g for g in report.groups if g.is_candidate]
    if candidates:
        rows = "".join(
            f"<tr><td class=\"num\">{g.count}</td><td><code>{_e(g.exception_type or '-')}</code></td>"
            f"<td><code>{_e(g.template)}</code><pre>{_e(g.message)}</pre></td><td class=\"num\">{_e(g.where)}</td>"
            "</tr>" for g in candidates)
        body.append("<h2>Unknown: candidate new failure kinds</h2><p class=\"muted\">No rule labelled these; each "
                    "template is a rule to write.</p><table><thead><tr><th class=\"num\">Count</th><th>Exception"
                    "</th><th>Template and first sample</th><th class=\"num\">First line</th></tr></thead>"
                    f"<tbody>{rows}</tbody></table>")
    notes = [f"<li class=\"warn\">{_e(w)}</li>" for w in s.get("warnings", [])]
    notes += [f"<li class=\"warn\">corrupt line {_e(sample_where(sample))}: {_e(sample[1])}</li>"
              for sample in s.get("corrupt_samples", [])[:10]]
    if notes:
        body.append(f"<h2>Notes on the input</h2><ul>{''.join(notes)}</ul>")
    if not report.groups:
        body.append(f"<p>{_e(no_events(s))}</p>" if s.get("filtered_out") or s.get("not_text_inputs")
                    else "<p>No error events.</p>")
    return _page(f"Incident report: {_e(name)}", "\n".join(body))


# -- golden and predeploy ----------------------------------------------------------------------

def _outcome_bar(counts: Sequence[tuple[str, int]], element_id: str) -> str:
    total = sum(n for _, n in counts) or 1
    width, height = 960, 28
    x = 0.0
    rects = []
    for name, n in counts:
        if not n:
            continue
        w = n / total * width
        rects.append(f"<rect x=\"{x:.1f}\" y=\"0\" width=\"{w:.1f}\" height=\"{height}\" "
                     f"fill=\"{OUTCOME_COLOUR.get(name, '#6b7280')}\"><title>{_e(name)}: {n}</title></rect>")
        if w > 60:
            rects.append(f"<text x=\"{x + 8:.1f}\" y=\"19\" font-size=\"13\" fill=\"#fff\">{_e(name)} {n}</text>")
        x += w
    return (f"<figure><svg id=\"{element_id}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
            f"viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" "
            f"aria-label=\"outcomes\">{''.join(rects)}</svg></figure>")


def golden_html(report: Any) -> str:
    """A golden run: outcomes, every case, why the failing ones failed, their labels and playbooks."""
    s = report.summary
    body = [f"<h1>Golden run: {_e(report.target)}</h1>",
            f"<p class=\"sub\">started {_e(report.started_at)} · {report.duration_ms / 1000:.1f} s</p>",
            _cards([("cases", s["total"]), ("passed", s["passed"]), ("flaky", s["flaky"]), ("failed", s["failed"]),
                    ("errors", s["errors"])]),
            _outcome_bar([("pass", s["passed"]), ("flaky", s["flaky"]), ("fail", s["failed"]),
                          ("error", s["errors"])], "outcomes")]
    rows = "".join(
        f"<tr><td>{_badge(r.outcome, OUTCOME_COLOUR.get(r.outcome, '#6b7280'))}</td><td><code>{_e(r.case_id)}</code>"
        f"</td><td>{_e(r.where)}</td><td class=\"num\">{r.passes}/{r.runs}</td>"
        f"<td class=\"num\">{r.latency_p95_ms:.0f}</td></tr>" for r in report.sorted_results())
    body.append("<h2>Cases</h2><table><thead><tr><th>Result</th><th>Case</th><th>Where</th><th class=\"num\">"
                f"Passes</th><th class=\"num\">p95 ms</th></tr></thead><tbody>{rows}</tbody></table>")
    details = [r for r in report.sorted_results() if r.outcome != "pass"]
    if details:
        body.append("<h2>Why, label and playbook</h2>")
    for r in details:
        labels = r.explanation.all_labels if r.explanation is not None else ()
        items = [f"<li><code>{_e(ref.label)}</code> ({_e(ref.severity)}, {_e(ref.category)})"
                 + (f" → playbook {_e(ref.playbook)}" if ref.playbook else " (no playbook)") + "</li>"
                 for ref in labels]
        items += [f"<li>{_e(msg)}</li>" for msg in r.failures[:10]]
        body.append(f"<section class=\"group\" style=\"--c:{OUTCOME_COLOUR.get(r.outcome, '#999')}\"><h3><code>"
                    f"{_e(r.case_id)}</code> <span class=\"muted\">{_e(r.where)}</span></h3>"
                    f"<ul>{''.join(items)}</ul></section>")
    if report.baseline is not None:
        b = report.baseline
        body.append(f"<h2>Against baseline {_e(b.path)}</h2><ul>"
                    + "".join(f"<li>{_e(name)}: {_e(', '.join(ids) or '-')}</li>" for name, ids in (
                        ("regressions", b.regressions), ("fixes", b.fixes), ("newly flaky", b.newly_flaky),
                        ("known failures", b.known_failures), ("new cases", b.new_cases))) + "</ul>")
    return _page(f"Golden run: {_e(report.target)}", "\n".join(body))


def predeploy_html(report: Any) -> str:
    """A predeploy run: the verdict, every check and its findings with advice and plans."""
    counts: dict[str, int] = {}
    for o in report.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    verdict = "FAILED" if report.exit_code else "passed"
    order = ("passed", "warning", "failed", "timeout", "skipped")
    body = [f"<h1>Predeploy: {_badge(verdict, '#dc2626' if report.exit_code else '#15803d')}</h1>",
            f"<p class=\"sub\">{len(report.failing)} findings at or above {_e(report.fail_level)} · wall time "
            f"{report.wall_time:.2f} s</p>",
            _cards([("checks", len(report.outcomes)), *[(name, counts.get(name, 0)) for name in order]]),
            _outcome_bar([(name, counts.get(name, 0)) for name in order], "checks")]
    rows = []
    for o in report.outcomes:
        badge = _badge(o.status, OUTCOME_COLOUR.get(o.status, "#6b7280"))
        if not o.results:
            rows.append(f"<tr><td>{_e(o.check)}</td><td>{badge}</td><td></td><td>{_e(o.reason or '')}</td><td></td>"
                        f"<td class=\"num\">{o.duration:.2f}</td></tr>")
        for r in o.results:
            advice = r.advice()
            level = "silenced" if r.silenced else r.level
            rows.append(f"<tr><td>{_e(o.check)}</td><td>{badge} <span class=\"muted\">{_e(level)}</span></td>"
                        f"<td><code>{_e(r.id)}</code></td><td>{_e(r.located)}</td>"
                        f"<td>{'<br>'.join(_e(a) for a in advice)}</td><td class=\"num\">{o.duration:.2f}</td></tr>")
    body.append("<h2>Checks</h2><table><thead><tr><th>Check</th><th>Status</th><th>Id</th><th>Message</th>"
                f"<th>Hint / advice</th><th class=\"num\">s</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return _page(f"Predeploy: {verdict}", "\n".join(body))
