"""A small JSON path: `$`, `$.a.b`, `$.items[0].title`, `$["odd key"]` (no wildcards)."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r'\.([A-Za-z_][\w-]*)|\[(-?\d+)\]|\["([^"]*)"\]|\[\'([^\']*)\'\]')
MISSING = object()


def parse_path(path: str) -> tuple[str | int, ...]:
    """The steps of a path; ValueError when it is not one."""
    text = path.strip()
    if not text.startswith("$"):
        text = "$." + text if text and not text.startswith("[") else "$" + text
    pos, steps = 1, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"bad JSON path {path!r} at character {pos}: expected .name, [index] "
                             'or ["key"]')
        name, index, dq, sq = m.groups()
        steps.append(int(index) if index is not None else (name or dq or sq or ""))
        pos = m.end()
    return tuple(steps)


def resolve(data: Any, steps: tuple[str | int, ...]) -> Any:
    """The value at `steps`, or MISSING."""
    node = data
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return MISSING
            node = node[step]
    return node
