"""Lines that a container runtime wrote in pieces: Docker's json-file driver and the CRI log format of
containerd and CRI-O (Kubernetes nodes' `/var/log/containers/*.log`) split an output line longer than 16 KB into
several entries, each but the last marked partial. The reader joins them back (`reader._Reader._joined`)."""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from mosaic_diag.logs.lines import DOCKER_PREFIXES, docker_entry, docker_piece

# containerd / CRI-O: "TIMESTAMP STREAM TAG MESSAGE", the tag `F` (a full line, or a split line's last piece) or `P`
# (a partial one); an empty message leaves "… stdout F" with nothing after it
CRI = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([PF])(?: (.*)|$)",
                 re.S)


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
    if line.startswith(DOCKER_PREFIXES):
        return docker_piece(line)
    m = _cri(line)
    return m is not None and m.group(3) == "P"


def line_of(p: Piece) -> str:
    """The runtime's log line of a whole entry (`p.text` the joined line)."""
    if p.kind == "docker":
        return json.dumps({"log": p.text, "stream": p.stream, "time": p.time})
    return f"{p.time} {p.stream} F {p.text}"
