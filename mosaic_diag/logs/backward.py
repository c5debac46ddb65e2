"""A regular file listed newest first, read from its end up by blocks (`os.pread`): its entries in the order they were
written, in constant memory, and the file's line of each line read (`Runs`). See `classifier.newest_first`."""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Iterator

from mosaic_diag.classifier import newest_first

READ_SIZE = 1 << 20


class Runs:
    """The file line of each line read (1-based both), kept as runs of entries of one length that follow one another
    up the file: a run is (first line read, the file line of its first entry's first line, entry length, entries)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.runs: list[tuple[int, int, int, int]] = []
        self.count = 0

    def add(self, file_line: int, length: int) -> None:
        """The next entry read: `length` lines from file line `file_line` on."""
        if self.runs:
            k0, f0, size, n = self.runs[-1]
            if size == length and f0 - n * size == file_line:
                self.runs[-1] = (k0, f0, size, n + 1)
                self.count += length
                return
        self.starts.append(self.count + 1)
        self.runs.append((self.count + 1, file_line, length, 1))
        self.count += length

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> int:
        """The file line of line `index + 1` read."""
        k = index + 1
        k0, f0, size, _ = self.runs[bisect_right(self.starts, k) - 1]
        entry, offset = divmod(k - k0, size)
        return f0 - entry * size + offset


def _line_count(fd: int, size: int) -> int:
    lines, pos, last = 0, 0, b"\n"
    while pos < size:
        chunk = os.pread(fd, min(READ_SIZE, size - pos), pos)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        pos += len(chunk)
        last = chunk[-1:]
    return lines + (last != b"\n")


class ReversedFile:
    """A readable stream of the regular file behind `fd` with its entries in reverse order (`newest_first`): each
    entry is a stamped line and the unstamped lines under it (`by_entry`; else each line is one), an entry of more than
    `newest_first.ENTRY_CAP` lines reversed line by line. `runs` maps the lines read to the file's."""

    def __init__(self, fd: int, size: int, by_entry: bool) -> None:
        self.fd, self.size, self.by_entry = fd, size, by_entry
        self.runs = Runs()
        self._lines = self._reordered()
        self._buf = bytearray()

    def _entries(self) -> Iterator[tuple[int, list[bytes]]]:
        """(the file line of an entry's first line, its lines), from the file's last entry up."""
        fd, pos = self.fd, self.size
        line = _line_count(fd, self.size)  # (the file line of the next line up)
        tail = b""
        pending: list[bytes] = []  # (the lines above the last entry start seen, bottom up)
        first = True
        while pos > 0:
            take = min(READ_SIZE, pos)
            pos -= take
            parts = (os.pread(fd, take, pos) + tail).split(b"\n")
            if first and parts and parts[-1] == b"":
                parts.pop()  # (the file's last newline)
            first = False
            tail = parts.pop(0) if pos > 0 else b""
            for raw in reversed(parts):
                pending.append(raw)
                line -= 1
                if self.by_entry and newest_first.stamp_key(raw[:80].decode("utf-8", "replace")) is not None:
                    yield line + 1, pending[::-1]
                    pending = []
                elif not self.by_entry or len(pending) > newest_first.ENTRY_CAP:
                    for k, one in enumerate(pending):
                        yield line + len(pending) - k, [one]
                    pending = []
        if pending:  # (the lines above the first stamp: one entry)
            yield line + 1, pending[::-1]

    def _reordered(self) -> Iterator[bytes]:
        for file_line, lines in self._entries():
            self.runs.add(file_line, len(lines))
            yield b"\n".join(lines) + b"\n"

    def read(self, size: int = -1) -> bytes:
        buf = self._buf
        while size < 0 or len(buf) < size:
            piece = next(self._lines, None)
            if piece is None:
                break
            buf += piece
        if size < 0 or size >= len(buf):
            out, self._buf = bytes(buf), bytearray()
        else:
            out = bytes(buf[:size])
            del buf[:size]
        return out
