"""The report as Markdown (for PR comments and CI summaries); every text from a case file or an answer is
Markdown text or a code span, never markup (platform.mdtext)."""

from __future__ import annotations

from mosaic_diag.golden.report import GoldenReport
from mosaic_diag.platform.mdtext import md_code, md_text

ICON = {"pass": "✅ pass", "flaky": "⚠️ flaky", "fail": "❌ fail", "error": "💥 error"}


def render_markdown(report: GoldenReport) -> str:
    s = report.summary
    lines = [f"## Golden cases: {s['passed']} passed, {s['flaky']} flaky, {s['failed']} failed, "
             f"{s['errors']} errors (target {md_code(report.target)})", ""]
    if report.baseline:
        b = report.baseline
        lines += [f"Baseline {md_code(b.path)}: {len(b.regressions)} regressions, {len(b.fixes)} fixes, "
                  f"{len(b.newly_flaky)} newly flaky.", ""]
        for name, ids in (("Regressions", b.regressions), ("Fixes", b.fixes),
                          ("Newly flaky", b.newly_flaky)):
            if ids:
                lines.append(f"- **{name}**: " + ", ".join(md_code(i) for i in ids))
        lines.append("")
    lines += ["| Case | Result | Passes | p95 ms | Why | Label | Playbook |",
              "|---|---|---|---|---|---|---|"]
    for r in report.sorted_results():
        e = r.explanation
        lines.append(
            f"| {md_code(r.case_id, table=True)} ({md_text(r.where)}) | "
            f"{ICON[r.outcome]}{'' if r.ok else ' (not ok)'} | "
            f"{r.passes}/{r.runs} | {r.latency_p95_ms:.0f} | {md_text('; '.join(r.failures))} | "
            f"{md_text(e.names) if e else ''} | "
            f"{md_text(' + '.join(ref.playbook or 'no playbook' for ref in e.all_labels)) if e else ''} |")
    return "\n".join(lines) + "\n"
