"""Which layouts a block of a log shows: the keys that announce a layout (logfmt's `level=`, supervisord's ` CRIT `,
Heroku's `heroku[`, …), looked for in the whole block through one of their bytes that is rare in the log.

The reader searches some layouts' error lines only in a log that shows the layout (`reader._Finder`'s switches). A
key looked for with `bytes.find` costs about 1 ms per 4 MB block, a few dozen of them more than the rest of a calm
log's reading; looking for one byte costs a tenth of that (memchr). So each key gets an anchor: the byte of it that is
rarest in the log's first `SAMPLE` bytes, one anchor covering as many keys as it can (`Announcer._plan`). A block is
searched once per anchor, each hit checked for the keys around it (as `scan.find` does). A key none of whose bytes
is rare in the log (its words are the log's words), or whose anchor turns out common in a later block, is looked
for only in the block's head and tail (`probe`), as all of them were before: a layout of such keys that starts and
ends inside a block, away from its head and tail, is missed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mosaic_diag.platform import recache

PROBE = 1 << 16
FIRST_PROBE = 1 << 20  # the head of a log probed: all of a log up to 1 MB (a few ms of searches)
SAMPLE = 1 << 16  # the log's first bytes whose byte counts choose the anchors
RARE_SPAN = 8192  # an anchor is rare when the sample holds at most one per this many bytes (and one more)
BUDGET, SPAN = 24, 4096  # hits of an anchor checked in a block: past this many (plus one per SPAN bytes), common


def probe(block: bytes, keys: Iterable[bytes], head: int = PROBE) -> bool:
    """Whether the block's first `head` bytes or its last `PROBE` bytes hold one of `keys` (a layout that starts, or
    has started, in this block)."""
    tail = max(head, len(block) - PROBE)
    return any(block.find(k, 0, head) >= 0 or block.find(k, tail) >= 0 for k in keys)


def head_of(offset: int) -> int:
    """The bytes probed at the head of a block that starts `offset` bytes into the log: the log's first `FIRST_PROBE`
    bytes whatever blocks it was read in (a file's first block, a pipe's short first block and the one after it)."""
    return max(PROBE, FIRST_PROBE - offset)


class Announcer:
    """The layouts (names of `keys`) the blocks of one log have shown so far; a layout once shown stays on."""

    __slots__ = ("counts", "groups", "keys", "on", "probed", "rare", "sample")

    def __init__(self, keys: Mapping[str, tuple[bytes, ...]]) -> None:
        self.keys = {name: tuple(ks) for name, ks in keys.items()}
        self.on: set[str] = set()
        self.sample = b""
        self.counts: dict[int, int] = {}
        self.rare = 0
        self.groups: dict[int, _Group] = {}  # per anchor byte: the keys it finds
        self.probed: dict[str, list[bytes]] = {}  # per layout: its keys looked for in a block's head and tail only

    def start(self, sample: bytes) -> None:
        """Choose the anchors from the log's first bytes."""
        self.sample = sample[:SAMPLE]
        self.rare = len(self.sample) // RARE_SPAN + 1
        for name, ks in self.keys.items():
            self._plan(name, ks)

    def add(self, name: str, keys: tuple[bytes, ...]) -> None:
        """More keys of a layout (PostgreSQL's severities in other languages: loaded once a block shows `:  `)."""
        if name in self.on:
            return
        self.keys[name] = self.keys.get(name, ()) + keys
        self._plan(name, keys)

    def show(self, name: str) -> None:
        """The log has shown layout `name` (a key the caller looks for itself)."""
        self.on.add(name)

    def _count(self, byte: int) -> int:
        n = self.counts.get(byte)
        if n is None:
            n = self.counts[byte] = self.sample.count(bytes((byte,)))
        return n

    def _plan(self, name: str, keys: tuple[bytes, ...]) -> None:
        """Anchors for `keys`: greedily the rare byte (an anchor already searched first) that is in most of the keys
        left; a key with no rare byte is probed."""
        left = [k for k in keys if k]
        while left:
            rare = {b for k in left for b in set(k) if self._count(b) <= self.rare}
            if not rare:
                break
            best = max(rare, key=lambda b: (b in self.groups, sum(b in k for k in left), -self._count(b), -b))
            self.groups.setdefault(best, _Group(best)).add(name, [k for k in left if best in k])
            left = [k for k in left if best not in k]
        if left:
            self.probed.setdefault(name, []).extend(left)

    def seen(self, block: bytes, head: int = PROBE) -> set[str]:
        """The layouts shown so far, this block's among them: a key anywhere in it (anchored keys) or in its first
        `head` and last `PROBE` bytes (the others, and those of an anchor common in this block: probed from then on)."""
        off = set(self.keys) - self.on
        if not off:
            return self.on
        for anchor, group in list(self.groups.items()):
            if not group.names & off:
                del self.groups[anchor]
                continue
            found = group.scan(block, off)
            if found is None:  # common here: its keys are probed from now on
                del self.groups[anchor]
                for k, name in group.names_of.items():
                    self.probed.setdefault(name, []).append(k)
                continue
            self.on |= found
            off -= found
        for name in list(off):
            ks = self.probed.get(name)
            if ks and probe(block, ks, head):
                self.on.add(name)
        return self.on


@dataclass
class _Group:
    """The keys an anchor byte finds: at each of its hits, the keys are looked for around it in one search."""

    anchor: int
    names_of: dict[bytes, str] = field(default_factory=dict)  # each key's layout
    names: set[str] = field(default_factory=set)
    before: int = 0  # the most bytes of a key before its anchor
    after: int = 0  # the most bytes of a key from its anchor on
    # a quick look at a hit: the byte before the anchor in the keys that have one, the byte after it in the others
    prevs: bytes = b""
    nexts: bytes = b""
    rx: re.Pattern[bytes] | None = None

    def add(self, name: str, keys: list[bytes]) -> None:
        for k in keys:
            self.names_of[k] = name
            at = k.index(self.anchor)
            self.before, self.after = max(self.before, at), max(self.after, len(k) - at)
            if at:
                self.prevs += k[at - 1:at]
            else:
                self.nexts += k[at + 1:at + 2] or bytes(range(256))
        self.names.add(name)
        self.rx = None  # (made at the next scan: a group a log's plan adds to twice is compiled once)

    def scan(self, block: bytes, off: set[str]) -> set[str] | None:
        """The layouts among `off` whose keys are in `block`; None when the anchor is common in the block (more hits
        than `BUDGET` and one per `SPAN` bytes)."""
        if self.rx is None:
            # the keys, longest first; kept across runs (`recache`: the same log's plan makes the same patterns)
            self.rx = recache.compile(b"|".join(re.escape(k) for k in sorted(self.names_of, key=len, reverse=True)),
                                      group="announce")
        search, names_of, before, after = self.rx.search, self.names_of, self.before, self.after
        prevs, nexts = self.prevs, self.nexts
        want = self.names & off
        found: set[str] = set()
        a = bytes((self.anchor,))
        j = block.find(a)
        last = len(block) - 1
        for _ in range(BUDGET + len(block) // SPAN):
            if j < 0:
                return found
            if not ((j and block[j - 1] in prevs) or (j < last and block[j + 1] in nexts)):
                j = block.find(a, j + 1)
                continue
            end = j + after
            m = search(block, max(j - before, 0), end)
            while m is not None:
                name = names_of[m.group()]
                if name in want and name not in found:
                    found.add(name)
                    if found == want:
                        return found
                m = search(block, m.start() + 1, end)
            j = block.find(a, j + 1)
        return found if j < 0 else None
