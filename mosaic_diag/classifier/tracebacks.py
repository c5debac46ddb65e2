"""Parse traceback text, as Python prints it, into a chain of exceptions with their frames."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADER = "Traceback (most recent call last):"
_SEPARATORS = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?\s*$')
_MARKER = re.compile(r"^\s*[\^~\-+ ]*[\^~][\^~\-+ ]*$")
_EXC_LINE = re.compile(r"^(?P<type>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?::(?: (?P<msg>.*)|$)|$)")
_EMBEDDED = re.compile(
    r"(?:^|[\s:(\[])(?P<type>[a-z_][\w]*(?:\.[A-Za-z_]\w*)*\.[A-Z]\w*(?:Error|Exception|Timeout|Warning))"
    r"(?::\s(?P<msg>.*)|$)"
)
_EXC_SUFFIX = re.compile(
    r"(Error|Exception|Warning|Exit|Interrupt|Timeout|Iteration|Failure|Fault|Violation|"
    r"Exhausted|Refused|Closed|NotFound|Invalid)$"
)


@dataclass
class ParsedFrame:
    file: str
    line: int
    function: str
    source: str = ""


@dataclass
class ParsedException:
    type: str | None
    message: str
    frames: list[ParsedFrame] = field(default_factory=list)


def looks_like_exception_line(line: str, *, strict: bool = True) -> re.Match[str] | None:
    """`module.Type: message` with a name that looks like an exception type."""
    m = _EXC_LINE.match(line)
    if not m:
        return None
    name = m.group("type")
    if not strict:
        return m
    short = name.rsplit(".", 1)[-1]
    if "." in name and short[:1].isupper() or _EXC_SUFFIX.search(short) and short != "Error":
        return m
    return None


def parse_traceback_text(text: str) -> list[ParsedException]:
    """The exceptions of a traceback, root cause first; [] when `text` holds none.

    Also accepts a bare exception line (`openai.RateLimitError: Error code: 429 - ...`),
    whose following lines are taken as the rest of its message.
    """
    lines = text.splitlines()
    out: list[ParsedException] = []
    i, n = 0, len(lines)
    if not any(line.lstrip().startswith(_HEADER) for line in lines):
        for idx, line in enumerate(lines):
            m = looks_like_exception_line(line.strip())
            rest = "\n".join(lines[idx + 1:]).rstrip()
            if m:
                msg = m.group("msg") or ""
                out.append(ParsedException(m.group("type"), f"{msg}\n{rest}" if rest else msg))
                break
            embedded = _EMBEDDED.search(line)
            if embedded:  # "OpenAI call failed: openai.RateLimitError: Error code: 429 ..."
                msg = embedded.group("msg") or ""
                out.append(ParsedException(embedded.group("type"), f"{msg}\n{rest}" if rest else msg))
                break
        return out
    while i < n:
        if not lines[i].lstrip().startswith(_HEADER):
            i += 1
            continue
        indent = len(lines[i]) - len(lines[i].lstrip())
        i += 1
        frames: list[ParsedFrame] = []
        exc_lines: list[str] = []
        while i < n:
            raw = lines[i]
            line = raw[indent:] if len(raw) >= indent and not raw[:indent].strip() else raw
            stripped = line.strip()
            if exc_lines:
                if stripped in _SEPARATORS or stripped.startswith(_HEADER):
                    break
                exc_lines.append(line)
                i += 1
                continue
            fm = _FRAME.match(line)
            if fm:
                frames.append(ParsedFrame(fm.group("file"), int(fm.group("line")),
                                          (fm.group("func") or "").strip()))
                i += 1
                continue
            if line.startswith(" ") and frames and not stripped.startswith(_HEADER):
                if not _MARKER.match(line) and not frames[-1].source:
                    frames[-1].source = stripped
                i += 1
                continue
            if not stripped:
                i += 1
                continue
            exc_lines.append(line)
            i += 1
        while exc_lines and not exc_lines[-1].strip():
            exc_lines.pop()
        if exc_lines:
            m = looks_like_exception_line(exc_lines[0].strip(), strict=False)
            if m:
                first = m.group("msg") or ""
                etype: str | None = m.group("type")
            else:
                first, etype = exc_lines[0].strip(), None
            message = "\n".join([first, *exc_lines[1:]]).rstrip()
            out.append(ParsedException(etype, message, frames))
        elif frames:
            out.append(ParsedException(None, "", frames))
    return out
