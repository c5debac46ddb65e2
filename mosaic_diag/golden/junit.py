"""JUnit XML for CI: one testcase per golden case, failures with their messages."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from mosaic_diag.golden.report import GoldenReport
from mosaic_diag.platform.atomic import write_atomic


def junit_xml(report: GoldenReport) -> str:
    """The report as a JUnit <testsuites> document."""
    s = report.summary
    suites = ET.Element("testsuites", name="mosaic-diag golden", tests=str(s["total"]),
                        failures=str(s["not_ok"]), time=f"{report.duration_ms / 1000:.3f}")
    suite = ET.SubElement(suites, "testsuite", name="golden", tests=str(s["total"]),
                          failures=str(s["not_ok"]), errors="0", skipped="0",
                          timestamp=report.started_at, time=f"{report.duration_ms / 1000:.3f}")
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="target", value=report.target)
    for r in report.results:
        seconds = sum(a.latency_ms for a in r.attempts) / 1000
        case = ET.SubElement(suite, "testcase", classname=Path(r.file).stem, name=r.case_id,
                             file=r.file, line=str(r.line), time=f"{seconds:.3f}")
        detail = [f"{r.where}: {r.outcome} ({r.passes}/{r.runs} passed, {r.min_pass} required)"]
        detail += [f"  - {msg}" for msg in r.failures]
        if r.explanation:
            detail += [f"  classified: {ref.label} ({ref.category}, {ref.severity}); playbook: "
                       f"{ref.playbook or 'no playbook'}" for ref in r.explanation.all_labels]
        if not r.ok:
            label = f" [{r.explanation.names}]" if r.explanation else ""
            message = (r.failures[0] if r.failures else r.outcome) + label
            failure = ET.SubElement(case, "failure", message=message, type=r.outcome)
            failure.text = "\n".join(detail)
        elif r.outcome == "flaky":
            ET.SubElement(case, "system-out").text = "\n".join(detail)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(report: GoldenReport, path: Path) -> None:
    write_atomic(path, junit_xml(report))
