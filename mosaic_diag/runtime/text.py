"""Context truncation by salience and the output safety filter.

Token estimate (no tokenizer, nothing downloaded): ceil(UTF-8 bytes / 4). OpenAI's and Anthropic's
tokenizers average about 4 bytes of English a token; text in other scripts takes more bytes per
character, so the estimate stays on the safe (high) side for them.

`truncate(text, budget)` splits the text into paragraphs (blank-line separated) and JSON blocks
(a fenced ```json block or a paragraph that parses as a JSON object or array); it keeps the first
and the last segments, then the most salient middle ones (errors, numbers, questions, the
caller's `keep` words) until the budget is spent, in their original order, and marks each gap.
A JSON block is never cut: it is kept whole or left out whole. A single oversized prose segment is
cut in its middle, keeping its head and its tail.

`safe_output(text)` redacts secrets with the CLI's redactor (`mosaic_diag.platform.redact`:
DSN passwords, API keys, bearer tokens, password=...) and personal data by detectors (e-mail
addresses, payment card numbers that pass the Luhn check, phone numbers of 10 to 15 digits,
US social security numbers), and says how many of each kind it removed (never the values).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mosaic_diag.platform.redact import MASK, redact_text

GAP = "[… {n} omitted …]"
_FENCED = re.compile(r"```(?:json)?\s*\n.*?\n```", re.DOTALL | re.IGNORECASE)
_OPENING = re.compile(r"```(?:json)?\s*\n", re.IGNORECASE)
_SALIENT = re.compile(r"(?i)\b(error|exception|failed|failure|traceback|warning|must|never|always)\b|\?|\d")


def estimate_tokens(text: str) -> int:
    """The documented estimate: ceil(UTF-8 bytes / 4)."""
    return math.ceil(len(text.encode("utf-8")) / 4) if text else 0


@dataclass(frozen=True)
class Segment:
    text: str
    json: bool = False


@dataclass(frozen=True)
class Truncated:
    """The truncated text, its estimated tokens and what was left out."""

    text: str
    tokens: int
    dropped: int = 0           # segments left out
    cut: bool = False          # a prose segment was cut in its middle

    @property
    def truncated(self) -> bool:
        return bool(self.dropped or self.cut)


def _is_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True


def segments(text: str) -> list[Segment]:
    """Paragraphs and whole JSON blocks, in order."""
    found: list[Segment] = []
    pos = 0
    for m in _fenced(text):
        found += [Segment(p) for p in _paragraphs(text[pos:m.start()])]
        found.append(Segment(m.group(0), json=True))
        pos = m.end()
    found += [Segment(p) for p in _paragraphs(text[pos:])]
    return [Segment(s.text, s.json or _is_json(s.text)) for s in found]


def _fenced(text: str) -> Iterable[re.Match[str]]:
    """The fenced blocks of `text`, as `_FENCED.finditer` finds them, in linear time: an opening that finds no close
    ends the search (every later opening would look for its close in a part of the same rest), where finditer tried
    again from each later opening, each reading the rest: "x```\\n" 8,000 times (40,000 characters) took 2 s."""
    pos = 0
    while (start := text.find("```", pos)) != -1:
        m = _FENCED.match(text, start)
        if m is not None:
            yield m
            pos = m.end()
        elif _OPENING.match(text, start):
            return
        else:
            pos = start + 1


def _paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def _cut_middle(text: str, budget: int) -> str:
    keep = max(budget * 4 - len(GAP) - 8, 16)
    head = keep * 2 // 3
    raw = text.encode("utf-8")
    first = raw[:head].decode("utf-8", "ignore")
    last = raw[len(raw) - (keep - head):].decode("utf-8", "ignore")
    return f"{first} {GAP.format(n='part')} {last}"


def truncate(text: str, budget: int, *, keep: Iterable[str] = (), sep: str = "\n\n") -> Truncated:
    """`text` within `budget` estimated tokens (see the module doc)."""
    if budget <= 0:
        raise ValueError("truncate: the budget must be a positive number of tokens")
    total = estimate_tokens(text)
    if total <= budget:
        return Truncated(text, total)
    parts = segments(text)
    if not parts:  # blanks only: nothing to keep
        return Truncated("", 0, cut=True)
    words = [w.lower() for w in keep if w]
    cost = [estimate_tokens(p.text + sep) for p in parts]
    gap_cost = estimate_tokens(GAP.format(n=99) + sep)

    def score(i: int) -> tuple[float, int]:
        body = parts[i].text
        salience = len(_SALIENT.findall(body)) / max(len(body), 1) * 100
        salience += sum(5 for w in words if w in body.lower())
        return (salience, -min(i, len(parts) - 1 - i))

    order = [0, len(parts) - 1] if len(parts) > 1 else [0]
    order += sorted(range(1, len(parts) - 1), key=score, reverse=True)
    chosen: set[int] = set()
    spent = 0
    cut = False
    replaced: dict[int, str] = {}
    for i in order:
        need = cost[i] + gap_cost
        if spent + need <= budget:
            chosen.add(i)
            spent += cost[i]
        elif i in (0, len(parts) - 1) and not parts[i].json and not chosen and spent + gap_cost * 2 < budget:
            room = budget - spent - gap_cost * 2
            replaced[i] = _cut_middle(parts[i].text, room)
            chosen.add(i)
            spent += estimate_tokens(replaced[i] + sep)
            cut = True
    out: list[str] = []
    missing = 0
    for i, part in enumerate(parts):
        if i in chosen:
            if missing:
                out.append(GAP.format(n=f"{missing} segment{'s' if missing > 1 else ''}"))
                missing = 0
            out.append(replaced.get(i, part.text))
        else:
            missing += 1
    if missing:
        out.append(GAP.format(n=f"{missing} segment{'s' if missing > 1 else ''}"))
    result = sep.join(out)
    return Truncated(result, estimate_tokens(result), len(parts) - len(chosen), cut)


# -- the output filter --------------------------------------------------------------------------------

# the local part starts where a run of its characters starts (`\b` let it start inside a run, at each `.`, `+` or `-`:
# every start read the run to its end, looking for the `@`: an answer of "a.a.a.…", 64,000 characters, took 6 s)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_PHONE = re.compile(r"(?<![\w+-])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,5}(?![\w-])")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _sub(pattern: re.Pattern[str], mask: str, accept: Callable[[str], bool] = lambda _: True
         ) -> Callable[[str], tuple[str, int]]:
    def run(text: str) -> tuple[str, int]:
        count = 0

        def replace(m: re.Match[str]) -> str:
            nonlocal count
            if not accept(m.group(0)):
                return m.group(0)
            count += 1
            return mask

        return pattern.sub(replace, text), count

    return run


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _secrets(text: str) -> tuple[str, int]:
    redacted = redact_text(text)
    return redacted, max(redacted.count(MASK) - text.count(MASK), 0)


DETECTORS: tuple[tuple[str, Callable[[str], tuple[str, int]]], ...] = (
    ("secret", _secrets),
    ("email", _sub(_EMAIL, "[email]")),
    ("card", _sub(_CARD, "[card]", lambda s: 13 <= len(_digits(s)) <= 19 and _luhn(_digits(s)))),
    ("ssn", _sub(_SSN, "[ssn]")),
    ("phone", _sub(_PHONE, "[phone]", lambda s: 10 <= len(_digits(s)) <= 15)),
)


@dataclass(frozen=True)
class SafeOutput:
    """The filtered text and how many of each kind were removed."""

    text: str
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.removed)


def safe_output(text: str) -> SafeOutput:
    """`text` with secrets and personal data redacted (see the module doc)."""
    removed: dict[str, int] = {}
    for name, detector in DETECTORS:
        text, count = detector(text)
        if count:
            removed[name] = count
    return SafeOutput(text, removed)
