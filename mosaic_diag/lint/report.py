"""Lint output as text (`file:line:col: CODE message`, ruff's and flake8's format), JSON or Markdown; stdlib only."""

from __future__ import annotations

import json
from collections import Counter

from mosaic_diag.lint.model import LintResult


def summary(result: LintResult) -> dict[str, object]:
    return {"files": result.files, "findings": len(result.findings), "unparsable": len(result.failures),
            "by_code": dict(sorted(Counter(f.code for f in result.findings).items()))}


def as_text(result: LintResult) -> str:
    lines = [f.to_text() for f in result.findings]
    if result.findings:
        n = len(result.findings)
        lines.append(f"{n} finding{'s' if n != 1 else ''} in {result.files} file{'s' if result.files != 1 else ''}")
    return "\n".join(lines) + ("\n" if lines else "")


def as_json(result: LintResult) -> str:
    data = {"findings": [f.to_dict() for f in result.findings],
            "errors": [{"path": e.path, "line": e.line, "message": e.message} for e in result.failures],
            "summary": summary(result)}
    return json.dumps(data, indent=2) + "\n"


def as_markdown(result: LintResult) -> str:
    if not result.findings:
        return f"No findings in {result.files} files.\n"
    rows = ["| location | code | rule | message |", "| --- | --- | --- | --- |"]
    for f in result.findings:
        message = f.message.replace("|", "\\|")
        rows.append(f"| `{f.path}:{f.line}:{f.col}` | {f.code} | {f.name} | {message} |")
    return "\n".join(rows) + f"\n\n{len(result.findings)} findings in {result.files} files.\n"


def failure_lines(result: LintResult) -> list[str]:
    """One `mosaic-diag: error: file:line: ...` line per file that does not parse."""
    return [f"mosaic-diag: error: {e.path}:{e.line}: cannot parse: {e.message}" for e in result.failures]


def render(result: LintResult, fmt: str) -> str:
    return {"json": as_json, "markdown": as_markdown}.get(fmt, as_text)(result)
