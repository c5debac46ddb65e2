"""The report as Markdown (for PR comments and CI summaries)."""

from __future__ import annotations

from mosaic_diag.golden.report import GoldenReport

ICON = {"pass": "✅ pass", "flaky": "⚠️ flaky", "fail": "❌ fail", "error": "💥 error"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: GoldenReport) -> str:
    s = report.summary
    lines = [f"## Golden cases: {s['passed']} passed, {s['flaky']} flaky, {s['failed']} failed, "
             f"{s['errors']} errors (target `{report.target}`)", ""]
    if report.baseline:
        b = report.baseline
        lines += [f"Baseline `{b.path}`: {len(b.regressions)} regressions, {len(b.fixes)} fixes, "
                  f"{len(b.newly_flaky)} newly flaky.", ""]
        for name, ids in (("Regressions", b.regressions), ("Fixes", b.fixes),
                          ("Newly flaky", b.newly_flaky)):
            if ids:
                lines.append(f"- **{name}**: " + ", ".join(f"`{i}`" for i in ids))
        lines.append("")
    lines += ["| Case | Result | Passes | p95 ms | Why | Label | Playbook |",
              "|---|---|---|---|---|---|---|"]
    for r in report.sorted_results():
        e = r.explanation
        lines.append(
            f"| `{r.case_id}` ({r.where}) | {ICON[r.outcome]}{'' if r.ok else ' (not ok)'} | "
            f"{r.passes}/{r.runs} | {r.latency_p95_ms:.0f} | {_cell('; '.join(r.failures))} | "
            f"{e.names if e else ''} | "
            f"{' + '.join(ref.playbook or 'no playbook' for ref in e.all_labels) if e else ''} |")
    return "\n".join(lines) + "\n"
