"""Live log sources for the reader: a followed file, and the segments a live stream is read in.

A live stream has `read_some(n, timeout)`: what has arrived (at least one byte), None when nothing
arrived within `timeout` seconds (None: wait as long as it takes), b"" once `stop` is set.

The reader closes an event when the next line of its instance comes (a traceback may go on). On a
live stream the next line may be minutes away, so `segments()` cuts the stream into passes of the
reader: a pass ends when the stream has been idle for `idle` seconds at a line boundary, and
ending a pass closes every open event. The next pass goes on where it stopped.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterator
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


GRACE = 60.0  # seconds a renamed log is read on after the new one has bytes, once quiet that long it is let go
MAX_DRAINING = 8  # renamed logs read on at once (more rotations within the grace: the oldest is read out, let go)
HOLD_CAP = 1 << 20  # bytes of an unfinished line held while lines of two files are read (past it: handed on)
_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}


class _Tail:
    """One open log file read on from where it was read: its text codec, the last bytes read (to tell a cut),
    a hole of NULs to skip after copytruncate, the size it was last seen at, and the end of a line held back."""

    MARK = 64  # the bytes before the read position compared to tell a file cut and written again

    def __init__(self, fh: Any, *, end: bool, now: float) -> None:
        self.fh = fh
        self.ino = os.fstat(fh.fileno()).st_ino
        self.decoder: Any = None
        self.mark = b""  # the last bytes read (`MARK`), as they are in the file
        self.cut = False  # read again from its start after a copytruncate: a hole of NULs at its head is skipped
        self.seen = 0  # the file's size when last looked at (what a cut makes unread: `FollowStream._cut_over`)
        self.held = b""  # the end of a line not finished, while lines of several files are read
        self.open_line = False  # what it handed on last ends inside a line (no other file's line may follow yet)
        self.active = now  # (the stream's clock) when bytes were last read from it
        self.text(end=end)

    def text(self, *, end: bool) -> None:
        """Read the file as text of its encoding from its start (after a BOM) or, with `end`, from the
        last whole character (a UTF-16 file's end may hold half of one that is being written)."""
        codec, bom = _text_codec(self.fh)
        self.undecided = os.fstat(self.fh.fileno()).st_size == 0  # (told by its first bytes: `read`)
        self.unit = _UNITS[codec] if codec is not None else 1  # (bytes of a character's code unit)
        if codec is None:
            self.decoder = None
            self.fh.seek(0, os.SEEK_END if end else os.SEEK_SET)
        else:
            import codecs

            self.decoder = codecs.getincrementaldecoder(codec)(errors="replace")
            size = os.fstat(self.fh.fileno()).st_size if end else 0
            self.fh.seek(max(bom, size - (size - bom) % self.unit))
        pos = self.fh.tell()
        self.mark = os.pread(self.fh.fileno(), min(pos, self.MARK), max(0, pos - self.MARK))
        self.seen = pos

    def rewritten(self) -> bool:
        """Whether the file was cut (copytruncate) since it was read: shorter than where it was read, or the
        bytes before that point are no longer those read (cut, then written again past it). A hole of NULs
        there is a writer without O_APPEND going on at its offset: not cut for the reading. `seen` keeps the
        size of the file before a cut."""
        size, pos, mark = os.fstat(self.fh.fileno()).st_size, self.fh.tell(), self.mark
        if not mark:
            cut = size < pos
        else:
            got = os.pread(self.fh.fileno(), len(mark), pos - len(mark))
            cut = got != mark and (len(got) < len(mark) or got.strip(b"\0") != b"")
        if not cut:
            self.seen = max(size, pos)
        return cut

    def read(self, size: int) -> bytes:
        """The next bytes of the file, as UTF-8 (b"": none, or half a character)."""
        data = self.fh.read(size if size > 0 else 1 << 20)
        if data and self.undecided:  # a file empty when opened (a rotation's new file): its first bytes
            seen = self.seen
            self.text(end=False)
            self.seen = seen
            data = self.fh.read(size if size > 0 else 1 << 20)
        if data:
            self.mark = (self.mark + data)[-self.MARK:]
            self.seen = max(self.seen, self.fh.tell())
        if data and self.cut:
            # a writer without O_APPEND goes on at its offset after copytruncate: the file starts with a hole
            hole = len(data) - len(data.lstrip(b"\0"))
            hole -= hole % self.unit
            self.cut = hole == len(data)
            data = data[hole:]
        if data and self.decoder is not None:
            data = self.decoder.decode(data).encode("utf-8", "surrogatepass")
        return data

    def lines(self, data: bytes, *, hold: bool) -> bytes:
        """What of `data` (after what was held) to hand on: with `hold`, whole lines only, the rest held (up to
        `HOLD_CAP`)."""
        data, self.held = self.held + data, b""
        if hold and data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            if len(data) - cut <= HOLD_CAP:
                data, self.held = data[:cut], data[cut:]
        if data:
            self.open_line = not data.endswith(b"\n")
        return data

    def close(self) -> None:
        self.fh.close()


class FollowStream:
    """`tail -F` as a stream: new bytes of `path` as they are written, across logrotate's two ways of rotating.

    Rename and create: the file renamed is read to its end until the new file at `path` gets its first bytes
    (the app writes to the renamed file until it reopens its log), then the new file from its start, and the
    renamed one read on by its open descriptor until it has been quiet for `grace` seconds (several processes,
    gunicorn's workers, reopen the log one by one: a worker's lines go on in the old file meanwhile); while
    several files are read, each one's lines are handed on whole (an unfinished line held, up to `HOLD_CAP`), and
    a file let go with its last line unfinished has that line ended. At most `MAX_DRAINING` renamed files are
    read on at once.

    Copytruncate: a file cut shorter, or cut and written again past where it was read (the bytes before that point
    changed), is read again from its start; what had not been read before the cut is read first from the rotated
    copy (the newest `NAME.N`, `NAME-DATE`, gzip, bzip2 or xz too, as `logs.source.rotation_name` knows them),
    when its bytes up to where it was read are those read. What is in no copy but was seen in the file before the
    cut (logrotate's gap between its copy and its truncate) is said lost, with its size, through `on_note`. A writer
    without O_APPEND goes on at its offset after a hole of NULs, read on from there (the hole not read).

    `from_start` reads what is already there first. A file written in UTF-16 or UTF-32 (PowerShell 5's
    redirection) is read as UTF-8, from a whole character. `clock` (monotonic seconds) times the grace."""

    MARK = _Tail.MARK

    def __init__(self, path: Path, stop: threading.Event, *, from_start: bool = False, poll: float = 0.25,
                 grace: float = GRACE, on_note: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.stop = stop
        self.poll = poll
        self.grace = grace
        self.on_note = on_note or (lambda _note: None)
        self.clock = clock
        self.rotations = 0
        try:
            fh = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        except FileNotFoundError:
            raise no_such(path) from None
        except (IsADirectoryError, PermissionError, OSError) as exc:
            raise UsageError(f"cannot follow: {getattr(exc, 'strerror', None) or exc}", path=str(path)) from None
        self._cur = _Tail(fh, end=not from_start, now=clock())
        # a name given as a symbolic link (a `current` link a logger repoints) is followed through its links; a file's
        # name never: the new file at it after a rotation is opened without following one
        self._linked = os.path.islink(path)
        self._refused: tuple[int, int] | None = None  # (device, inode) not read (said once)
        self._next: Any = None  # the new file at `path` after a rename, until it has bytes (the old one read first)
        self._old: list[_Tail] = []  # renamed files read on until quiet for `grace`
        self._copy: Any = None  # (file, decoder, offset, size seen) of the rotated copy read first (copytruncate)
        self._gone = False  # the file followed was deleted (said once)

    @property
    def draining(self) -> int:
        """How many renamed files are still read on."""
        return len(self._old)

    def held(self) -> int:
        """Bytes read and held until their line ends (while several files are read)."""
        return len(self._cur.held) + sum(len(t.held) for t in self._old)

    def _renamed(self) -> None:
        """After a rename: open the new file at `path` (when there is one and it is another file) as `_next`."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:  # between a rename and the new file: keep reading the old one
            if not self._gone and os.fstat(self._cur.fh.fileno()).st_nlink == 0:
                self._gone = True  # (deleted, not renamed: said once, the watch would otherwise read it silently)
                self.on_note(f"{self.path} was deleted: what is still written to it is read (by its open "
                             "descriptor) until a new file takes its name")
            return
        if st.st_ino == self._cur.ino or any(t.ino == st.st_ino for t in self._old) or \
                (self._next is not None and os.fstat(self._next.fileno()).st_ino == st.st_ino):
            return
        fresh = self._open_new(st)
        if fresh is None:
            return
        if self._next is not None:
            self._next.close()
        self._next = fresh

    def _open_new(self, st: os.stat_result) -> Any:
        """The new file at `path` after a rotation, opened for reading; None (said once) when what took the name is
        no regular file (a FIFO would block the open for ever, a device is read without end) or a symbolic link put
        at a file's name (the watch would read whatever file it points to): not read, the old file read on."""
        import stat

        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if self._linked else getattr(os, "O_NOFOLLOW", 0))
        try:
            fd = os.open(self.path, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP and not self._linked:
                self._refuse(os.lstat(self.path), "a symbolic link, put where the file was")
            return None
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            os.close(fd)
            self._refuse(found, "not a regular file (a FIFO, a device, a socket)")
            return None
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)

    def _refuse(self, st: os.stat_result, what: str) -> None:
        if self._refused != (st.st_dev, st.st_ino):
            self._refused = (st.st_dev, st.st_ino)
            self.on_note(f"{self.path} was replaced by {what}: not read; the file it replaced is read on (by its "
                         "open descriptor) until a regular file takes its name")

    def _switch(self) -> None:
        """Read the new file from its start; the old one is read on until quiet (`_drained`)."""
        old = self._cur
        self._cur = _Tail(self._next, end=False, now=self.clock())
        self._next = None
        self._old.append(old)
        old.active = self.clock()
        self._gone = False
        self.rotations += 1

    def _cut_over(self) -> None:
        """The file was cut (copytruncate): read it again from its start, after what the rotated copy holds past
        where it was read; what was seen and is in no copy is said lost (`_lost`)."""
        tail = self._cur
        pos, seen, decoder = tail.fh.tell(), tail.seen, tail.decoder
        copy = self._rotated_copy(pos, tail.mark)
        tail.text(end=False)
        tail.cut = True
        self.rotations += 1
        if copy is not None:
            self._copy = (copy, decoder, pos, seen)
        else:
            self._lost(seen - pos)

    def _lost(self, size: int) -> None:
        if size > 0:
            self.on_note(f"{self.path}: cut by logrotate's copytruncate before {size:,} bytes written to it were "
                         "read, and no rotated copy holds them: lost")

    def _rotated_copy(self, pos: int, mark: bytes) -> Any:
        """The newest rotated copy of the file (open at `pos`) whose bytes before `pos` end with `mark` (those
        read); None when there is none."""
        from mosaic_diag.logs.source import rotation_name

        folder, base = self.path.parent, os.path.normpath(str(self.path))
        found = []
        try:
            for entry in os.scandir(folder):
                named = rotation_name(os.path.join(str(folder), entry.name))
                if named is not None and named[0] == base and entry.is_file():
                    found.append((entry.stat().st_mtime_ns, entry.path))
        except OSError:
            return None
        for _, name in sorted(found, reverse=True)[:2]:  # (the copy just made; the one before, if it was just now)
            opened = _open_copy(name)
            if opened is None:
                continue
            try:
                opened.seek(max(0, pos - len(mark)))
                matched = opened.read(len(mark)) == mark and opened.tell() == pos
            except (OSError, EOFError, ValueError):  # a copy that cannot be read back is not the one
                matched = False
            if matched:
                return opened
            opened.close()
        return None

    def _read_copy(self, size: int) -> bytes:
        """The rotated copy's next bytes past where the file had been read; at its end, what is not in it said
        lost."""
        copy, decoder, at, seen = self._copy
        try:
            data = copy.read(size if size > 0 else 1 << 20)
        except (OSError, EOFError, ValueError):
            data = b""
        if not data:
            copy.close()
            self._copy = None
            self._lost(seen - at)
            return b""
        self._copy = (copy, decoder, at + len(data), seen)
        return decoder.decode(data).encode("utf-8", "surrogatepass") if decoder is not None else data

    def _drained(self, size: int, now: float, several: bool) -> bytes:
        """Whole lines of the renamed files read on; those quiet for `grace` (or past `MAX_DRAINING`) let go."""
        out = b""
        for tail in list(self._old):
            data = tail.read(size)
            if data:
                tail.active = now
            blocked = any(t.open_line for t in (self._cur, *self._old) if t is not tail) and \
                len(tail.held) + len(data) <= HOLD_CAP  # (a line left unfinished holds the others' at most this)
            if blocked:  # another file's line goes on first
                tail.held += data
                continue
            out += tail.lines(data, hold=several)
            if not data and now - tail.active >= self.grace or len(self._old) > MAX_DRAINING:
                unfinished = tail.open_line
                rest = tail.lines(b"", hold=False)
                out += rest + (b"\n" if (rest and not rest.endswith(b"\n")) or (not rest and unfinished) else b"")
                tail.close()
                self._old.remove(tail)
        return out

    def _step(self, size: int) -> bytes:
        cur = self._cur
        if cur.rewritten():
            self._cut_over()
        if self._copy is not None:
            data = self._read_copy(size)
            if data:
                return data
        data = cur.read(size)
        if not data:
            self._renamed()
            if self._next is not None and os.fstat(self._next.fileno()).st_size > 0:
                # the app writes the new file now: what it wrote to the old one before is all there
                data = cur.read(size)
                if not data:
                    self._switch()
                    cur = self._cur
                    data = cur.read(size)
        now = self.clock()
        if data:
            cur.active = now
        if not self._old and not cur.held:
            if data:
                cur.open_line = not data.endswith(b"\n")
            return data
        out = self._drained(size, now, several=True)
        if any(t.open_line for t in self._old):
            cur.held += data  # (a renamed file's line goes on first)
            if len(cur.held) > HOLD_CAP:
                out, cur.held = out + cur.held, b""
            return out
        return out + cur.lines(data, hold=bool(self._old))

    def read_some(self, size: int = -1, timeout: float | None = None) -> bytes | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.stop.is_set():
            data = self._step(size)
            if data:
                return data
            if deadline is not None and time.monotonic() >= deadline:
                return None
            self.stop.wait(self.poll)
        return b""

    def read(self, size: int = -1) -> bytes:
        return self.read_some(size) or b""

    def close(self) -> None:
        self._cur.close()
        for tail in self._old:
            tail.close()
        self._old = []
        if self._next is not None:
            self._next.close()
        if self._copy is not None:
            self._copy[0].close()
            self._copy = None


class PipeStream:
    """A pipe, a FIFO or a terminal (`/dev/stdin`, `mkfifo`) as a live stream: read as its bytes come, until its
    writer closes it (b"": the stream ends). It has no start to read again and no rotation. A FIFO with no writer
    yet is waited on (opened without blocking, so that Ctrl-C / SIGTERM still stop the watch)."""

    def __init__(self, path: Path, stop: threading.Event, *, poll: float = 0.25) -> None:
        self.path = path
        self.stop = stop
        self.poll = poll
        self.rotations = 0
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise no_such(path) from None
        except OSError as exc:
            raise UsageError(f"cannot follow: {exc.strerror or exc}", path=str(path)) from None

    def read_some(self, size: int = -1, timeout: float | None = None) -> bytes | None:
        import select

        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.stop.is_set():
            wait = self.poll if deadline is None else max(0.0, min(self.poll, deadline - time.monotonic()))
            if select.select([self._fd], [], [], wait)[0]:
                try:
                    return os.read(self._fd, size if size > 0 else 1 << 20)  # (b"": its writer closed it)
                except BlockingIOError:
                    continue
                except OSError:  # a terminal that went away: the end of its input
                    return b""
            if deadline is not None and time.monotonic() >= deadline:
                return None
        return b""

    def read(self, size: int = -1) -> bytes:
        return self.read_some(size) or b""

    def close(self) -> None:
        """Close the descriptor, once (a second close would close whatever took its number since)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def follow_path(path: Path, stop: threading.Event, **kw: Any) -> FollowStream | PipeStream:
    """The live stream of `path`: a FollowStream for a file, a PipeStream for a pipe, a FIFO or a terminal (which
    cannot be read again nor rotated: `from_start` and rotation do not apply)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = 0  # (FollowStream says why)
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
        return PipeStream(path, stop, **({"poll": kw["poll"]} if "poll" in kw else {}))
    return FollowStream(path, stop, **kw)


def _open_copy(name: str) -> Any:
    """A rotated copy opened for reading (decompressed when its suffix says so); None when it cannot be."""
    import importlib

    module = _COMPRESSED.get(os.path.splitext(name)[1])
    try:
        if module is None:
            return open(name, "rb")  # noqa: SIM115 - the caller closes it
        return importlib.import_module(module).open(name, "rb")
    except OSError:
        return None


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

    def __init__(self, live: Any, idle: float, carry: Carry | None = None,
                 on_quiet: Callable[[], None] | None = None) -> None:
        self.live = live
        self.idle = idle
        self.on_quiet = on_quiet  # called on the reading thread each `idle` seconds that nothing comes before a line
        self.carry = carry if carry is not None else Carry()  # what a pass's reader hands the next (`read_events`)
        self.bytes = 0
        self.stopped = False
        self._last = b""
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        while not self._ended:
            at_line_end = self._last.endswith(b"\n")
            wait = self.idle if self.on_quiet is not None and not self.bytes else None
            if self.bytes and at_line_end:
                last_line = self._last[self._last.rfind(b"\n", 0, len(self._last) - 1) + 1:]
                wait = self.idle * _pause_factor(last_line)
            data = self.live.read_some(size, wait)
            if data is None:
                if wait is None:
                    continue
                if not self.bytes and self.on_quiet is not None:
                    self.on_quiet()
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


def segments(live: Any, idle: float = 2.0, on_quiet: Callable[[], None] | None = None) -> Iterator[Segment]:
    """Passes over `live` until it stops (each pass's reader flushes its open events at its end, and hands the
    lines a container runtime split and has not finished to the next pass: `read_events(seg, …, carry=seg.carry)`);
    `on_quiet` is called each `idle` seconds a pass waits for its first bytes (the watch says its problems then)."""
    carry = Carry()
    while True:
        seg = Segment(live, idle, carry, on_quiet)
        yield seg
        if seg.stopped:
            return
