"""Live log sources for the reader: a followed file, and the segments a live stream is read in.

A live stream has `read_some(n, timeout)`: what has arrived (at least one byte), None when nothing
arrived within `timeout` seconds (None: wait as long as it takes), b"" once `stop` is set.

The reader closes an event when the next line of its instance comes (a traceback may go on). On a
live stream the next line may be minutes away, so `segments()` cuts the stream into passes of the
reader: a pass ends when the stream has been idle for `idle` seconds at a line boundary, and
ending a pass closes every open event. The next pass goes on where it stopped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mosaic_diag.errors import UsageError, no_such
from mosaic_diag.logs.pieces import Carry

_UNITS = {"utf-16-le": 2, "utf-16-be": 2, "utf-32-le": 4, "utf-32-be": 4}
_BOMS = {b"\xff\xfe\0\0": "utf-32-le", b"\0\0\xfe\xff": "utf-32-be", b"\xff\xfe": "utf-16-le",
         b"\xfe\xff": "utf-16-be"}


def _text_codec(fh: Any) -> tuple[str | None, int]:
    """The UTF-16/32 byte order a file is written in (None: read its bytes as they are) and the length of
    its BOM, from the file's first 256 bytes (`logs.source.utf16_of` without a BOM)."""
    from mosaic_diag.logs.source import utf16_of

    head = os.pread(fh.fileno(), 256, 0)
    for bom, codec in _BOMS.items():  # (UTF-32's BOMs first: UTF-16LE's is their prefix)
        if head.startswith(bom):
            return codec, len(bom)
    found = utf16_of(head)
    return (found, 0) if found in _UNITS else (None, 0)


class FollowStream:
    """`tail -F` as a stream: new bytes of `path` as they are written; a rotated (new inode) or
    truncated file is reopened from its start. `from_start` reads what is already there first. A file
    written in UTF-16 or UTF-32 (PowerShell 5's redirection) is read as UTF-8, from a whole character."""

    def __init__(self, path: Path, stop: threading.Event, *, from_start: bool = False, poll: float = 0.25) -> None:
        self.path = path
        self.stop = stop
        self.poll = poll
        self.rotations = 0
        try:
            self._fh = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        except FileNotFoundError:
            raise no_such(path) from None
        except (IsADirectoryError, PermissionError, OSError) as exc:
            raise UsageError(f"cannot follow: {getattr(exc, 'strerror', None) or exc}", path=str(path)) from None
        self._ino = os.fstat(self._fh.fileno()).st_ino
        self._decoder: Any = None
        self._text(end=not from_start)

    def _text(self, *, end: bool) -> None:
        """Read the file as text of its encoding from its start (after a BOM) or, with `end`, from the
        last whole character (a UTF-16 file's end may hold half of one that is being written)."""
        codec, bom = _text_codec(self._fh)
        self._undecided = os.fstat(self._fh.fileno()).st_size == 0  # (told by its first bytes: `read_some`)
        if codec is None:
            self._decoder = None
            self._fh.seek(0, os.SEEK_END if end else os.SEEK_SET)
            return
        import codecs

        self._decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        size = os.fstat(self._fh.fileno()).st_size if end else 0
        unit = _UNITS[codec]
        self._fh.seek(max(bom, size - (size - bom) % unit))

    def _reopen_if_rotated(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False  # between a rename and the new file: keep reading the old one
        pos = self._fh.tell()
        if st.st_ino != self._ino or st.st_size < pos:
            try:
                fresh = open(self.path, "rb", buffering=0)  # noqa: SIM115 - replaces self._fh
            except OSError:
                return False
            self._fh.close()
            self._fh, self._ino = fresh, os.fstat(fresh.fileno()).st_ino
            self._text(end=False)
            self.rotations += 1
            return True
        return False

    def read_some(self, size: int = -1, timeout: float | None = None) -> bytes | None:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.stop.is_set():
            data = self._fh.read(size if size > 0 else 1 << 20)
            if data and self._undecided:  # a file empty when opened (a rotation's new file): its first bytes
                self._text(end=False)
                data = self._fh.read(size if size > 0 else 1 << 20)
            if data and self._decoder is not None:
                data = self._decoder.decode(data).encode("utf-8", "surrogatepass")  # (b"": half a character)
            if data:
                return data
            if self._reopen_if_rotated():
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return None
            self.stop.wait(self.poll)
        return b""

    def read(self, size: int = -1) -> bytes:
        return self.read_some(size) or b""

    def close(self) -> None:
        self._fh.close()


def _pause_factor(line: bytes) -> int:
    """How many idle periods a pause after `line` must last to end a pass: 10 inside a traceback
    (a header, frame, source, caret or chain line: more is surely coming), 3 after an error record
    (its traceback may follow), else 1."""
    from mosaic_diag.logs.lines import ERROR_LEVELS, SEPARATORS, TRACEBACK_HEADER, parse_line

    try:
        parsed = parse_line(line.decode("utf-8", "replace").rstrip("\r"))
    # a line the reader would count as corrupt: no traceback in it
    except Exception:  # noqa: BLE001  # mosaic-diag: ignore[MD006]
        return 1
    for ln in parsed:
        text = ln.text.rstrip()
        if text.startswith(TRACEBACK_HEADER) or text.endswith(TRACEBACK_HEADER) or text.startswith((" ", "\t")):
            return 10
        if any(text.startswith(sep) for sep in SEPARATORS):
            return 10
        if ln.record and ln.level in ERROR_LEVELS:
            return 3
    return 1


class Segment:
    """One pass of the reader over a live stream: ends at stop, or when idle at a line boundary
    (longer inside a traceback or after an error record: `_pause_factor`)."""

    def __init__(self, live: Any, idle: float, carry: Carry | None = None) -> None:
        self.live = live
        self.idle = idle
        self.carry = carry if carry is not None else Carry()  # what a pass's reader hands the next (`read_events`)
        self.bytes = 0
        self.stopped = False
        self._last = b""
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        while not self._ended:
            at_line_end = self._last.endswith(b"\n")
            wait = None
            if self.bytes and at_line_end:
                last_line = self._last[self._last.rfind(b"\n", 0, len(self._last) - 1) + 1:]
                wait = self.idle * _pause_factor(last_line)
            data = self.live.read_some(size, wait)
            if data is None:
                if wait is None:
                    continue
                self._ended = True  # idle: close this pass's open events
                break
            if not data:
                self._ended = self.stopped = self.carry.ended = True
                break
            self.bytes += len(data)
            self._last = (self._last + data)[-4096:] if len(data) < 4096 else data[-4096:]
            return data
        return b""


def segments(live: Any, idle: float = 2.0) -> Iterator[Segment]:
    """Passes over `live` until it stops (each pass's reader flushes its open events at its end, and hands the
    lines a container runtime split and has not finished to the next pass: `read_events(seg, …, carry=seg.carry)`)."""
    carry = Carry()
    while True:
        seg = Segment(live, idle, carry)
        yield seg
        if seg.stopped:
            return
