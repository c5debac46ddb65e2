"""Find and count byte strings through one of their rare bytes (memchr speed), with a fallback.

`bytes.find` / `bytes.count` of a multi-byte needle run at about 2-3 GB/s; finding one byte runs
at memory speed. When a needle holds a byte that is rare in logs (the ``>`` of ``==> ``, the
``L`` of ``CRITICAL``), looking for that byte and checking the needle around each hit is an
order of magnitude faster. When the byte turns out to be common in the data, the helpers give up
after a few checks and finish with the plain C search, so the worst case stays the plain search.
"""

from __future__ import annotations

from typing import NamedTuple

# checks of anchor hits before falling back to the plain search: a few per call, plus one per
# SPAN bytes looked at (a check costs about what the plain search spends on 1 KB)
BUDGET = 24
SPAN = 2048


class Needle(NamedTuple):
    """A byte string and the offset of its rarest byte (None: plain search only)."""

    text: bytes
    at: int | None = None


def find(block: bytes, needle: Needle, start: int, end: int | None = None) -> int:
    """block.find(needle.text, start, end), through the needle's rare byte when it has one."""
    text, at = needle
    if end is None:
        end = len(block)
    if at is None:
        return block.find(text, start, end)
    anchor = text[at:at + 1]
    j = block.find(anchor, start + at, end)
    for _ in range(BUDGET + (end - start) // SPAN):
        if j < 0:
            return -1
        i = j - at
        if block.startswith(text, i, end):
            return i
        j = block.find(anchor, j + 1, end)
    return -1 if j < 0 else block.find(text, j - at, end)


def count(block: bytes, needle: Needle, start: int, end: int) -> int:
    """block.count(needle.text, start, end), through the needle's rare byte when it has one.

    Needles here never overlap themselves, so counting anchor hits equals the plain count.
    """
    text, at = needle
    if at is None:
        return block.count(text, start, end)
    anchor = text[at:at + 1]
    n = 0
    j = block.find(anchor, start + at, end)
    for _ in range(BUDGET + (end - start) // SPAN):
        if j < 0:
            return n
        if block.startswith(text, j - at, end):
            n += 1
        j = block.find(anchor, j + 1, end)
    return n if j < 0 else n + block.count(text, j - at, end)


def count_each(block: bytes, texts: tuple[bytes, ...], start: int, end: int) -> list[int]:
    """[block.count(t, start, end) for t in texts] in one pass over the hits of their shared first byte
    (a rare one: structlog's "[" of "[warning  ]"), with the same fallback as `count`.

    The texts start with the same byte, none is a prefix of another and none overlaps itself."""
    anchor = texts[0][:1]
    counts = [0] * len(texts)
    j = block.find(anchor, start, end)
    for _ in range(BUDGET + (end - start) // SPAN):
        if j < 0:
            return counts
        if block.startswith(texts, j, end):
            for k, t in enumerate(texts):
                if block.startswith(t, j, end):
                    counts[k] += 1
                    break
        j = block.find(anchor, j + 1, end)
    if j >= 0:
        for k, t in enumerate(texts):
            counts[k] += block.count(t, j, end)
    return counts
