"""JUnit XML for CI: one testcase per golden case; a case that got no answer (outcome `error`:
transport error, timeout, not run) is an <error>, a wrong answer a <failure> (the JUnit XSD's
distinction). Control characters, which XML 1.0 cannot hold, are shown as \\xNN."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from mosaic_diag.golden.report import GoldenReport
from mosaic_diag.platform.atomic import write_atomic
from mosaic_diag.platform.xmltext import xml_safe


def junit_xml(report: GoldenReport) -> str:
    """The report as a JUnit <testsuites> document."""
    s = report.summary
    errors = sum(1 for r in report.results if not r.ok and r.outcome == "error")
    failures = s["not_ok"] - errors
    suites = ET.Element("testsuites", name="mosaic-diag golden", tests=str(s["total"]),
                        failures=str(failures), errors=str(errors), time=f"{report.duration_ms / 1000:.3f}")
    suite = ET.SubElement(suites, "testsuite", name="golden", tests=str(s["total"]),
                          failures=str(failures), errors=str(errors), skipped="0",
                          timestamp=report.started_at[:19], time=f"{report.duration_ms / 1000:.3f}")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="target", value=xml_safe(report.target))
    ET.SubElement(props, "property", name="pass_rate", value=f"{report.pass_rate:.4f}")
    for r in report.results:
        seconds = sum(a.latency_ms for a in r.attempts) / 1000
        # (a case file's name is a repository's text: a control character in it made the document not XML)
        case = ET.SubElement(suite, "testcase", classname=xml_safe(Path(r.file).stem), name=xml_safe(r.case_id),
                             file=xml_safe(r.file), line=str(r.line), time=f"{seconds:.3f}")
        detail = [f"{r.where}: {r.outcome} ({r.passes}/{r.runs} passed, {r.min_pass} required)"]
        detail += [f"  - {msg}" for msg in r.failures]
        if r.explanation:
            detail += [f"  classified: {ref.label} ({ref.category}, {ref.severity}); playbook: "
                       f"{ref.playbook or 'no playbook'}" for ref in r.explanation.all_labels]
        if not r.ok:
            label = f" [{r.explanation.names}]" if r.explanation else ""
            message = (r.failures[0] if r.failures else r.outcome) + label
            node = ET.SubElement(case, "error" if r.outcome == "error" else "failure", message=xml_safe(message),
                                 type=r.explanation.label if r.explanation else r.outcome)
            node.text = xml_safe("\n".join(detail))
        elif r.outcome == "flaky":
            ET.SubElement(case, "system-out").text = xml_safe("\n".join(detail))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(report: GoldenReport, path: Path) -> None:
    write_atomic(path, junit_xml(report), to_device=True)
