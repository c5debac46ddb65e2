"""Lines that a container runtime wrote in pieces: Docker's json-file driver and the CRI log format of
containerd and CRI-O (Kubernetes nodes' `/var/log/containers/*.log`) split an output line longer than 16 KB into
several entries, each but the last marked partial. The reader joins them back (`reader._Reader._joined`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mosaic_diag.logs.lines import CRI_REST, is_docker_json
from mosaic_diag.platform.lazyre import LazyPattern

# containerd / CRI-O: "TIMESTAMP STREAM TAG MESSAGE" (an empty message leaves "… stdout F" with nothing after it)
CRI = LazyPattern(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) " + CRI_REST.pattern, re.S)
# Docker's json-file driver writes `log` first, then `stream`: a whole line's `log` ends with the escaped newline
DOCKER_PREFIXES = ('{"log":', '{"log": ')
_DOCKER_WHOLE = ('\\n","stream"', '\\n", "stream"')


def docker_entry(text: str) -> dict[str, Any] | None:
    """The entry of a line Docker's json-file driver wrote (`{"log":"…","stream":"stderr","time":"…"}`), else None."""
    if not text.startswith(DOCKER_PREFIXES):
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) and is_docker_json(obj) else None


def _cri(line: str) -> re.Match[str] | None:
    """The CRI match of a line (a substring test first: most lines that start with a digit are other layouts')."""
    return CRI.match(line) if line[:1].isdigit() and line.find(" std", 19, 40) >= 0 else None


class Piece(NamedTuple):
    """One entry of a container runtime's log: its stream, its part of the line, whether the line ends with it,
    when the runtime read it, and which runtime's layout it has (`docker` | `cri`)."""

    stream: str
    text: str
    whole: bool
    time: str | None
    kind: str


def piece(line: str) -> Piece | None:
    """The entry a runtime's log line holds, else None."""
    if line.startswith(DOCKER_PREFIXES):
        obj = docker_entry(line)
        if obj is None:
            return None
        log = obj["log"]
        return Piece(obj["stream"], log, log.endswith("\n"), obj.get("time"), "docker")
    m = _cri(line)
    return None if m is None else Piece(m.group(2), m.group(4) or "", m.group(3) == "F", m.group(1), "cri")


def may_be_piece(line: str) -> bool:
    """Whether a line is in one of the runtimes' layouts (cheap: no decoding)."""
    return line.startswith(DOCKER_PREFIXES) or _cri(line) is not None


def partial(line: str) -> bool:
    """Whether a line may be a piece that the next entry of its stream goes on (cheap: a Docker entry is decoded
    by `piece` only when its text does not show the newline at the end of its `log`)."""
    if line.startswith(DOCKER_PREFIXES):  # (false for certain only where the text shows the newline before `stream`)
        return not any(w in line for w in _DOCKER_WHOLE)
    m = _cri(line)
    return m is not None and m.group(3) == "P"


def line_of(p: Piece) -> str:
    """The runtime's log line of a whole entry (`p.text` the joined line)."""
    if p.kind == "docker":
        return json.dumps({"log": p.text, "stream": p.stream, "time": p.time})
    return f"{p.time} {p.stream} F {p.text}"


@dataclass
class Carry:
    """The split lines still being joined when one read of a live stream ends (`logs.follow.segments`: a pass ends
    when the stream is idle), handed to the next read instead of read as they are: per stream its pieces so far,
    joined up to the line cap as a read keeps them, and the line of the first (counted from the next read's
    start: 0 is the last line of the read before). `ended`: the stream stopped, the last read reads them."""

    pending: dict[str, tuple[int, Piece]] = field(default_factory=dict)
    ended: bool = False

    def take(self) -> dict[str, tuple[int, Piece]]:
        """The pieces a read starts with (and no longer here)."""
        pending, self.pending = self.pending, {}
        return pending

    def keep(self, pending: dict[str, tuple[int, Piece]], lines: int) -> None:
        """The pieces a read of `lines` lines ends with, for the next read."""
        self.pending = {std: (first - lines, p) for std, (first, p) in pending.items()}
