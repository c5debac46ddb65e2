"""Predeploy reports as JSON, Markdown and JUnit XML (stdlib; the table is drawn by the command)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mosaic_diag.checks.model import Report, Result, level_rank
from mosaic_diag.platform.atomic import write_atomic
from mosaic_diag.platform.mdtext import md_text
from mosaic_diag.platform.xmltext import xml_safe

__all__ = ["write_atomic"]  # re-exported: commands write the JUnit report with it


def as_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def _advice(r: Result) -> str:
    parts = [f"label {r.label}" if r.label else "", f"playbook {r.playbook}" if r.playbook else "",
             r.diagnosis or "", r.recommendation or "", *(f"plan {line}" for line in r.plan)]
    return "; ".join(p for p in parts if p)


def as_markdown(report: Report) -> str:
    rows = ["| check | status | id | level | message | where | hint / advice |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for o in report.outcomes:
        if not o.results:
            rows.append(f"| {md_text(o.check)} | {md_text(o.status)} |  |  | {md_text(o.reason or '')} |  |  |")
        for r in o.results:
            status = "silenced" if r.silenced else o.status
            cells = [o.check, status, r.id, r.level, r.message, r.location or "", "; ".join(
                p for p in (r.hint, _advice(r)) if p)]
            rows.append("| " + " | ".join(md_text(c) for c in cells) + " |")
    verdict = "FAILED" if report.exit_code else "passed"
    return "\n".join(rows) + f"\n\n**{verdict}** ({len(report.failing)} at or above {report.fail_level}) " \
                             f"in {report.wall_time:.2f}s\n"


def _xml_text(text: str) -> str:
    """XML 1.0 cannot hold most control characters even escaped: show them as \\xNN."""
    return xml_safe(text)


def as_junit(report: Report) -> str:
    suite = ET.Element("testsuite", name="mosaic-diag predeploy", tests=str(len(report.outcomes)),
                       time=f"{report.wall_time:.3f}")
    failures = skipped = errors = 0
    for o in report.outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"predeploy.{o.check}", name=o.check,
                             time=f"{o.duration:.3f}")
        failing = [r for r in o.results if not r.silenced and level_rank(r.level) >= level_rank(report.fail_level)]
        if o.status == "skipped":
            skipped += 1
            ET.SubElement(case, "skipped", message=_xml_text(o.reason or "skipped"))
        elif o.status == "timeout" and failing:  # the check could not judge: an error, not a failure
            errors += 1
            ET.SubElement(case, "error", message=_xml_text(failing[0].message), type="MD-TIMEOUT")
        elif failing:
            failures += 1
            first = failing[0]
            node = ET.SubElement(case, "failure", message=_xml_text(f"{first.id} {first.message}"),
                                 type=first.label or first.id)
            node.text = _xml_text("\n".join(f"{r.id} [{r.level}] {r.located}"
                                  + (f"\n  hint: {r.hint}" if r.hint else "")
                                  + (f"\n  {_advice(r)}" if _advice(r) else "") for r in failing))
        others = [r for r in o.results if r not in failing]
        if others:
            ET.SubElement(case, "system-out").text = _xml_text("\n".join(
                f"{r.id} [{r.level}{', silenced' if r.silenced else ''}] {r.message}" for r in others))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", str(errors))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
