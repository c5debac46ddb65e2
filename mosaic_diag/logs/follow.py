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
    """`tail -F` as a stream: new bytes of `path` as they are written, across logrotate's two ways of rotating.
    Rename and create: the file renamed is read to its end until the new file at `path` gets its first bytes
    (the app writes to the renamed file until it reopens its log: nothing it wrote there is lost), then the new
    file from its start. Copytruncate: a file cut shorter, or cut and written again past where it was read
    (the bytes before that point changed), is read again from its start; a writer without O_APPEND goes on at its
    offset after a hole of NULs, read on from there (the hole not read). `from_start` reads what is already there
    first. A file written in UTF-16 or UTF-32 (PowerShell 5's redirection) is read as UTF-8, from a whole character."""

    MARK = 64  # the bytes before the read position compared to tell a file cut and written again

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
        self._next: Any = None  # the new file at `path` after a rename, until it has bytes (the old one read first)
        self._decoder: Any = None
        self._mark = b""  # the last bytes read (`MARK`), as they are in the file
        self._cut = False  # read again from its start after a copytruncate: a hole of NULs at its head is skipped
        self._text(end=not from_start)

    def _text(self, *, end: bool) -> None:
        """Read the file as text of its encoding from its start (after a BOM) or, with `end`, from the
        last whole character (a UTF-16 file's end may hold half of one that is being written)."""
        codec, bom = _text_codec(self._fh)
        self._undecided = os.fstat(self._fh.fileno()).st_size == 0  # (told by its first bytes: `read_some`)
        self._unit = _UNITS[codec] if codec is not None else 1  # (bytes of a character's code unit)
        if codec is None:
            self._decoder = None
            self._fh.seek(0, os.SEEK_END if end else os.SEEK_SET)
        else:
            import codecs

            self._decoder = codecs.getincrementaldecoder(codec)(errors="replace")
            size = os.fstat(self._fh.fileno()).st_size if end else 0
            unit = _UNITS[codec]
            self._fh.seek(max(bom, size - (size - bom) % unit))
        pos = self._fh.tell()
        self._mark = os.pread(self._fh.fileno(), min(pos, self.MARK), max(0, pos - self.MARK))

    def _rewritten(self) -> bool:
        """Whether the file was cut (copytruncate) since it was read: shorter than where it was read, or the
        bytes before that point are no longer those read (cut, then written again past it). A hole of NULs
        there is a writer without O_APPEND going on at its offset: not cut for the reading."""
        mark = self._mark
        if not mark:
            return os.fstat(self._fh.fileno()).st_size < self._fh.tell()
        got = os.pread(self._fh.fileno(), len(mark), self._fh.tell() - len(mark))
        return got != mark and (len(got) < len(mark) or got.strip(b"\0") != b"")

    def _renamed(self) -> None:
        """After a rename: open the new file at `path` (when there is one and it is another file) as `_next`."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return  # between a rename and the new file: keep reading the old one
        if st.st_ino == self._ino or (self._next is not None and os.fstat(self._next.fileno()).st_ino == st.st_ino):
            return
        try:
            fresh = open(self.path, "rb", buffering=0)  # noqa: SIM115 - becomes self._fh (`_switch`)
        except OSError:
            return
        if self._next is not None:
            self._next.close()
        self._next = fresh

    def _switch(self) -> None:
        """Read the new file from its start (the old one read to its end)."""
        self._fh.close()
        self._fh, self._next = self._next, None
        self._ino = os.fstat(self._fh.fileno()).st_ino
        self._text(end=False)
        self._cut = False
        self.rotations += 1

    def _read(self, size: int) -> bytes:
        """The next bytes of the file being read, as UTF-8 (b"": none, or half a character)."""
        data = self._fh.read(size if size > 0 else 1 << 20)
        if data and self._undecided:  # a file empty when opened (a rotation's new file): its first bytes
            self._text(end=False)
            data = self._fh.read(size if size > 0 else 1 << 20)
        if data:
            self._mark = (self._mark + data)[-self.MARK:]
        if data and self._cut:
            # a writer without O_APPEND goes on at its offset after copytruncate: the file starts with a hole
            hole = len(data) - len(data.lstrip(b"\0"))
            hole -= hole % self._unit
            self._cut = hole == len(data)
            data = data[hole:]
        if data and self._decoder is not None:
            data = self._decoder.decode(data).encode("utf-8", "surrogatepass")
        return data

    def read_some(self, size: int = -1, timeout: float | None = None) -> bytes | None:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.stop.is_set():
            if self._rewritten():  # copytruncate: read again from its start
                self._text(end=False)
                self._cut = True
                self.rotations += 1
            data = self._read(size)
            if data:
                return data
            self._renamed()
            if self._next is not None and os.fstat(self._next.fileno()).st_size > 0:
                # the app writes the new file now: what it wrote to the old one before is all there
                data = self._read(size)
                if data:
                    return data
                self._switch()
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return None
            self.stop.wait(self.poll)
        return b""

    def read(self, size: int = -1) -> bytes:
        return self.read_some(size) or b""

    def close(self) -> None:
        self._fh.close()
        if self._next is not None:
            self._next.close()


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
