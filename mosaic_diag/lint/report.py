"""Lint output as text (`file:line:col: CODE message`, ruff's and flake8's format), JSON or Markdown; stdlib only."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from mosaic_diag.lint.model import LintResult
from mosaic_diag.platform.mdtext import md_code, md_text


def summary(result: LintResult) -> dict[str, object]:
    return {"files": result.files, "findings": len(result.findings), "unparsable": len(result.failures),
            "by_code": dict(sorted(Counter(f.code for f in result.findings).items()))}


def shown_path(path: str) -> str:
    """A file's name where it starts or stands in a line of text: on one line (a newline, a tab or another
    control in the name written as `\\n`, `\\t`, `\\u001b`: a name cannot end its line and forge the next
    one), and never starting a line with `::` (which a GitHub Actions runner reads as a workflow command)."""
    from mosaic_diag.platform.terminal import one_line_escaped

    shown = one_line_escaped(path)
    return f"./{shown}" if shown.lstrip().startswith("::") else shown


def as_text(result: LintResult) -> str:
    from mosaic_diag.platform.terminal import one_line_escaped

    lines = [f"{shown_path(f.path)}:{f.line}:{f.col}: {f.code} {one_line_escaped(f.message)}" for f in result.findings]
    if result.findings:
        n = len(result.findings)
        lines.append(f"{n} finding{'s' if n != 1 else ''} ({_checked(result.files)})")
    return "\n".join(lines) + ("\n" if lines else "")


def as_json(result: LintResult) -> str:
    data = {"findings": [f.to_dict() for f in result.findings],
            "errors": [{"path": e.path, "line": e.line, "message": e.message} for e in result.failures],
            "summary": summary(result)}
    return json.dumps(data, indent=2) + "\n"


def as_markdown(result: LintResult) -> str:
    if not result.findings:
        return f"No findings ({_checked(result.files)}).\n"
    rows = ["| location | code | rule | message |", "| --- | --- | --- | --- |"]
    for f in result.findings:
        rows.append(f"| {md_code(f'{f.path}:{f.line}:{f.col}', table=True)} | {f.code} | {f.name} | "
                    f"{md_text(f.message)} |")
    return "\n".join(rows) + f"\n\n{len(result.findings)} findings ({_checked(result.files)}).\n"


def _checked(files: int) -> str:
    """How many files were linted (not how many hold a finding: `path:line:col` rows say which)."""
    return f"{files} file{'s' if files != 1 else ''} checked"


def failure_lines(result: LintResult) -> list[str]:
    """One `mosaic-diag: error: file:line: ...` line per file that does not parse."""
    from mosaic_diag.platform.terminal import one_line_escaped

    return [f"mosaic-diag: error: {shown_path(e.path)}:{e.line}: cannot parse: {one_line_escaped(e.message)}"
            for e in result.failures]


def as_statistics(result: LintResult) -> str:
    """ruff's `--statistics`: count, code, `[*]` when `--fix` rewrites every finding of the rule, `[~]` when it
    rewrites some of them (ruff's marks), rule name; most frequent first."""
    counts = Counter((f.code, f.name) for f in result.findings)
    fixable = Counter(f.code for f in result.findings if f.fixes)

    def mark(code: str, n: int) -> str:
        return "" if not fixable[code] else "[*] " if fixable[code] == n else "[~] "

    rows = [f"{n:>5}\t{code}\t{mark(code, n)}{name}"
            for (code, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "\n".join(rows) + ("\n" if rows else "")


def _gh_escape(text: str, *, prop: bool = False) -> str:
    out = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return out.replace(":", "%3A").replace(",", "%2C") if prop else out


def as_github(result: LintResult) -> str:
    """GitHub Actions workflow commands: one `::error file=…,line=…,col=…,title=…::message` each."""
    lines = [f"::error file={_gh_escape(f.path, prop=True)},line={f.line},col={f.col},"
             f"title={_gh_escape(f'{f.code} {f.name}', prop=True)}::{_gh_escape(f'{f.code} {f.message}')}"
             for f in result.findings]
    lines += [f"::error file={_gh_escape(e.path, prop=True)},line={e.line},title=cannot parse::"
              f"{_gh_escape(e.message)}" for e in result.failures]
    return "\n".join(lines) + ("\n" if lines else "")


def artifact_uri(path: str) -> str:
    """A file's SARIF `artifactLocation.uri` (RFC 3986): a relative path percent-encoded (a space, `%`, `#`, a
    non-ASCII or non-UTF-8 name; a `:` too, so `a:b.py` is no URI scheme), an absolute one as a `file://` URI."""
    import os
    from urllib.parse import quote

    if os.sep == "\\":
        path = path.replace("\\", "/")
    if os.path.isabs(path):
        return Path(path).as_uri()
    return quote(os.fsencode(path), safe="/")


def as_sarif(result: LintResult) -> str:
    """SARIF 2.1.0 (GitHub code scanning): the rules that ran as the driver's rules, one result each."""
    from mosaic_diag.lint.rules import all_rules

    rules = [{"id": r.code, "name": r.name, "shortDescription": {"text": r.summary()},
              "fullDescription": {"text": " ".join((r.__doc__ or "").split())},
              "defaultConfiguration": {"level": "error"}} for r in all_rules()]
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = [{
        "ruleId": f.code, "ruleIndex": index.get(f.code, 0), "level": "error",
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(f.path)},
                                            "region": {"startLine": f.line, "startColumn": f.col}}}],
    } for f in result.findings]
    notifications = [{"level": "error", "message": {"text": f"cannot parse: {e.message}"},
                      "locations": [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(e.path)},
                                                          "region": {"startLine": e.line}}}]}
                     for e in result.failures]
    run = {"tool": {"driver": {"name": "mosaic-diag", "informationUri": "https://example.invalid/mosaic-diag",
                               "rules": rules}},
           "results": results,
           "invocations": [{"executionSuccessful": not result.failures,
                            "toolExecutionNotifications": notifications}]}
    data = {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": [run]}
    return json.dumps(data, indent=2) + "\n"


def render(result: LintResult, fmt: str) -> str:
    return {"json": as_json, "markdown": as_markdown, "sarif": as_sarif,
            "github": as_github}.get(fmt, as_text)(result)
