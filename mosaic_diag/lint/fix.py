"""`lint --fix` / `--diff`: apply the certainly-safe rewrites the rules attached to their findings."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from mosaic_diag.lint.model import PY_LINE_END, Finding
from mosaic_diag.platform.terminal import one_line_escaped


@dataclass(frozen=True)
class FixedFile:
    """One file's text before and after its fixes, and how many findings they fix."""

    path: str
    before: str
    after: str
    fixed: int

    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
                                            fromfile=f"a/{one_line_escaped(self.path)}",
                                            tofile=f"b/{one_line_escaped(self.path)}"))


def apply_fixes(path: str, text: str, findings: Iterable[Finding]) -> FixedFile:
    """The text with every fix applied whose old text is still where it says, none overlapping."""
    starts = [0] + [m.end() for m in PY_LINE_END.finditer(text)]  # not str.splitlines's
    starts.append(len(text))
    edits: list[tuple[int, int, str, Finding]] = []
    for finding in findings:
        for edit in finding.fixes:
            if not 0 < edit.line < len(starts):
                continue
            offset = starts[edit.line - 1] + edit.col - 1
            if text[offset: offset + len(edit.old)] == edit.old:
                edits.append((offset, offset + len(edit.old), edit.new, finding))
    edits.sort(key=lambda e: e[0], reverse=True)
    out, limit, fixed = text, len(text) + 1, set()
    for start, end, new, finding in edits:
        if end > limit:
            continue  # overlaps an edit already made
        out = out[:start] + new + out[end:]
        limit = start
        fixed.add(finding)
    return FixedFile(path, text, out, len(fixed))

