"""Open a log input (path or stdin) and read it as blocks of whole lines, decompressing when needed.

Gzip, bzip2 and xz are detected by their magic bytes, not by the file name (zstd, zip, 7z and lz4 are
named in a one-line error); UTF-16 and UTF-32 text is re-encoded as UTF-8. A truncated or corrupt
compressed stream ends the input with a warning; what was read before stays. Over-long lines are cut (the rest of
the line is skipped, not kept in memory) so a 10 MB line costs neither memory nor time. Terminal
colour codes (ANSI escape sequences) are removed.
"""

from __future__ import annotations

import os
import stat
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, Protocol

from mosaic_diag.errors import UsageError
from mosaic_diag.logs.model import ReadStats
from mosaic_diag.platform.lazyre import LazyPattern

GZIP_MAGIC = b"\x1f\x8b"
# terminal colours and styles (uvicorn's and loguru's coloured levels, `docker compose logs` of a service
# with a tty): CSI sequences, OSC sequences (hyperlinks) and two-byte escapes; a log is read without them
_ANSI = LazyPattern(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[@-Z\\-_])")
BLOCK_SIZE = 4 << 20
LINE_CAP = 64 << 10


# a log file's name as rotation leaves it: the log's name, then a rotation's number or date and a compression's suffix
_ROTATED = LazyPattern(r"(.+?\.(?:log|txt|out|err|json|jsonl))(?:[.-]\d[\d-]*)?(?:\.(?:gz|bz2|xz|zst|zip))?")


# a rotated file's name as logrotate leaves it: NAME.N (higher N older) or NAME-YYYYMMDD (dateext; a later date
# newer), then a compression's suffix (NAME.N.gz); the bare NAME is the newest of its set
_ROTATION = LazyPattern(r"(.+?)(?:\.(\d{1,6})|-(\d{4}-?\d{2}-?\d{2}(?:-?\d{2,6})?))(?:\.(?:gz|bz2|xz|zst|zip))?")


def rotation_name(path: str) -> tuple[str, int | None, str | None] | None:
    """`path` as logrotate names a rotated file: (the log's path, its number, its date digits), one of the two set;
    None when the name shows no rotation (the bare NAME, the newest, is told by another file naming it)."""
    m = _ROTATION.fullmatch(os.path.normpath(path))
    if m is None:
        return None
    base, number, date = m.groups()
    return base, int(number) if number is not None else None, date.replace("-", "") if date else None


def _directory_hint(path: str, most: int = 3) -> str:
    """For a directory given as a log: how to give its logs, each one's files (`app.log*`), as the shell names
    them: a directory may hold several logs (the app's, its access log), which are not one log read in turn."""
    try:
        names = sorted(e.name for e in os.scandir(path) if e.is_file())
    except OSError:
        return ""
    logs = sorted({m.group(1) for m in map(_ROTATED.fullmatch, names) if m is not None})
    if not logs:
        return " (it holds no log files)"
    shown = " or ".join(f"{os.path.join(path, name)}*" for name in logs[:most])
    return f" (give one log's files, e.g. {shown}{' …' if len(logs) > most else ''})"


def stdin_bytes() -> BinaryIO:
    """The process's stdin as bytes; a UsageError when it was started with stdin closed (`<&-`, a daemon's
    closed fd 0: Python has no `sys.stdin` then), not an AttributeError."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        raise UsageError("stdin is closed: nothing to read (pipe the text in, or give a file)", path="-")
    return buffer


PASTE_CAP = 4 << 20  # what `classify -` keeps of its input: its first and its last 4 MiB


def read_paste(stream: BinaryIO, cap: int = PASTE_CAP, chunk: int = 1 << 16) -> str:
    """The text of `stream` (one pasted error, read to its end) in memory bounded by about 2 x `cap`: of a longer
    input (a whole log piped in) the whole lines of its first and its last `cap` bytes, around a line saying how
    many bytes were not read; the classifier reads no more than a text's start and end (`evidence.bounded`).
    Invalid UTF-8 is replaced, as the reader does."""
    head = bytearray()
    tail: list[bytes] = []
    kept = skipped = 0
    while True:
        data = stream.read(chunk)
        if not data:
            break
        if len(head) < cap:
            room = cap - len(head)
            head += data[:room]
            data = data[room:]
            if not data:
                continue
        tail.append(data)
        kept += len(data)
        while kept - len(tail[0]) >= cap:
            skipped += len(tail[0])
            kept -= len(tail.pop(0))
    if not skipped:
        return (bytes(head) + b"".join(tail)).decode("utf-8", "replace")
    rest = b"".join(tail)
    cut = head.rfind(b"\n") + 1 or len(head)  # whole lines: the cut partial lines count as not read
    start = rest.find(b"\n") + 1
    skipped += len(head) - cut + start
    return (bytes(head[:cut]) + f"[... {skipped:,} bytes not read ...]\n".encode() + rest[start:]).decode(
        "utf-8", "replace")


@contextmanager
def open_source(path: str, *, stdin: BinaryIO | None = None) -> Iterator[BinaryIO]:
    """A binary stream for `path`, or for stdin when `path` is "-" (not closed on exit).

    Raises UsageError (naming the path) for a missing file, a directory or an unreadable file.
    """
    if path == "-":
        yield stdin if stdin is not None else stdin_bytes()
        return
    if os.path.isdir(path):
        raise UsageError("is a directory, not a log file" + _directory_hint(path), path=path)
    try:
        f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise UsageError("no such file", path=path) from None
    except PermissionError:
        raise UsageError("permission denied", path=path) from None
    except OSError as e:
        raise UsageError(f"cannot open: {e.strerror or e}", path=path) from None
    try:
        yield f
    finally:
        f.close()


class ByteStream(Protocol):
    """What the reader reads a log from: a binary file or pipe, or a stream that only reads (`Rewindable`,
    `ProgressStream`, a pass over a live stream: `logs.follow.Segment`); a file's `fileno()`, where it has one,
    gives its mtime (`logs.clock.file_mtime`)."""

    def read(self, size: int = -1, /) -> bytes: ...


class ProgressStream:
    """A binary stream that reports `on_progress(bytes read, total or None)` after each read.

    The total is the size of a regular file (None for a pipe, a terminal or stdin); one call per
    read, and the readers read big blocks, so the cost does not show."""

    def __init__(self, stream: BinaryIO, on_progress: Callable[[int, int | None], None]) -> None:
        self.stream = stream
        self.on_progress = on_progress
        self.done = 0
        self.total: int | None = None
        self.ended = False
        try:
            st = os.fstat(stream.fileno())
            if stat.S_ISREG(st.st_mode):
                self.total = st.st_size - stream.tell()
        except (AttributeError, OSError, ValueError):
            self.total = None

    def fileno(self) -> int:
        """The file descriptor of the stream read (the reader asks a file's mtime through it)."""
        return self.stream.fileno()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if data:
            self.done += len(data)
            self.on_progress(self.done, self.total)
        elif not self.ended:  # once more at the end: what was read before it is now counted
            self.ended = True
            self.on_progress(self.done, self.total)
        return data


class UnreadableInput(UsageError):
    """Input this reader cannot read (a compression it has no codec for): one line, exit 2."""


def _decompressor(packed: str) -> tuple[Any, tuple[type[Exception], ...]]:
    """A new decompressor for `packed` (bzip2 or xz) and the errors it raises on corrupt data."""
    if packed == "bzip2":
        import bz2

        return bz2.BZ2Decompressor(), (OSError, EOFError)
    import lzma

    return lzma.LZMADecompressor(), (lzma.LZMAError, EOFError)


_UNPACK = {"zstd": "zstd -dc", "zip": "unzip -p", "7z": "7z x -so", "lz4": "lz4 -dc"}


def compression_of(head: bytes) -> str | None:
    """The compression a stream starting with `head` is in, by its magic bytes (not its name): gzip,
    bzip2 and xz are read; zstd, zip, 7z and lz4 are named so that the error can say how to read them."""
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if head[:4] == b"\x04\x22\x4d\x18":
        return "lz4"
    return None


class Input:
    """Decoded (gunzipped) chunks of a binary stream; `problem` tells why it ended early."""

    def __init__(self, stream: ByteStream, chunk_size: int = BLOCK_SIZE) -> None:
        self.stream = stream
        self.chunk_size = chunk_size
        self.problem: str | None = None
        self.packed: str | None = None  # the compression read through: gzip, bzip2, xz

    def _read(self) -> bytes:
        try:
            return self.stream.read(self.chunk_size) or b""
        except OSError as e:
            self.problem = f"read error: {e.strerror or e}"
            return b""

    def chunks(self) -> Iterator[bytes]:
        first = self._read()
        while 0 < len(first) < 256:  # enough to tell gzip and UTF-16 (without a BOM) from the first chunk
            more = self._read()
            if not more:
                break
            first += more
        packed = compression_of(first)
        if packed is None:
            yield from _as_utf8(first, iter(self._read, b""))
            return
        if packed in _UNPACK:
            raise UnreadableInput(f"{packed}-compressed: decompress it first (for example "
                                  f"`{_UNPACK[packed]} FILE | mosaic-diag triage -`)")
        self.packed = packed
        unpacked = self._gunzip(first) if packed == "gzip" else self._unpack(first, packed)
        head = next(unpacked, b"")
        if not head and self.problem:  # not one byte of it: an error, not a log without errors
            raise UnreadableInput(f"{self.problem}: nothing of it could be read")
        yield from _as_utf8(head, unpacked)

    def _unpack(self, data: bytes, packed: str) -> Iterator[bytes]:
        """bzip2 or xz, decompressed in pieces of at most a chunk (constant memory); concatenated streams
        are read on, a corrupt or truncated one ends the input with its `problem`."""
        size = self.chunk_size
        d, errors = _decompressor(packed)
        while True:
            if d.needs_input and not data:
                data = self._read()
                if not data:
                    self.problem = f"truncated {packed}"
                    return
            try:
                out = d.decompress(data, size)
            except errors as e:
                self.problem = f"corrupt {packed} data ({e})"
                return
            data = b""
            if out:
                yield out
            if d.eof:
                data = d.unused_data
                while len(data) < 10 and (more := self._read()):
                    data += more
                if not data:
                    return
                if compression_of(data) != packed:
                    if data.strip(b"\0"):
                        self.problem = f"trailing data after the {packed} stream ignored"
                    return
                d, errors = _decompressor(packed)

    def _gunzip(self, data: bytes) -> Iterator[bytes]:
        size = self.chunk_size
        d = zlib.decompressobj(31)
        started = False         # the current member has had input
        while True:
            if not data:
                data = self._read()
                if not data:
                    break
            started = True
            try:
                out = d.decompress(data, size)
            except zlib.error as e:
                self.problem = f"corrupt gzip data ({e})"
                return
            if out:
                yield out
            if d.eof:  # end of a member: another one may follow
                data = d.unused_data
                while len(data) < 2 and (more := self._read()):  # (a short read may end inside the next one's magic)
                    data += more
                d = zlib.decompressobj(31)
                started = False
                if data and data[:2] != GZIP_MAGIC:
                    if data.strip(b"\0"):
                        self.problem = "trailing data after the gzip stream ignored"
                    return
            else:
                data = d.unconsumed_tail
        if started:
            try:
                out = d.flush()
            except zlib.error:
                out = b""
            if out:
                yield out
            if not d.eof:
                self.problem = "truncated gzip"


def utf16_of(head: bytes) -> str | None:
    """The codec of a log written in UTF-16 (PowerShell 5's `>` and `Out-File` write UTF-16LE with a BOM:
    `docker logs web > web.log` on Windows), else None: a BOM, or, without one, the first 256 bytes read as
    lines of mostly Latin text whose every other byte is NUL."""
    if head[:4] in (b"\xff\xfe\0\0", b"\0\0\xfe\xff"):
        return "utf-32"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    sample = head[:256]
    if len(sample) < 16 or len(sample) % 2:
        sample = sample[:len(sample) - len(sample) % 2]
        if len(sample) < 16:
            return None
    even, odd = sample[0::2], sample[1::2]
    for text, high, codec in ((even, odd, "utf-16-le"), (odd, even, "utf-16-be")):
        # the high bytes of Latin text are NUL; its low bytes never are
        if high.count(0) >= 0.8 * len(high) and text.count(0) <= len(text) // 50:
            return codec
    return None


def _as_utf8(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """`first` and the chunks after it, re-encoded as UTF-8 when they are UTF-16 or UTF-32 (decoded
    incrementally: a character split between chunks is whole in the output); else as they are."""
    if first[:1] in (b"\xff", b"\xfe", b"\0") or first[1:2] == b"\0":
        while len(first) < 256 and (more := next(rest, b"")):  # (a small first chunk: gunzipped in pieces)
            first += more
        codec = utf16_of(first)
    else:
        codec = None
    if codec is None:
        if first:
            yield first
        yield from rest
        return
    import codecs
    import itertools

    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    for chunk in itertools.chain((first,), rest):
        text = decoder.decode(chunk)
        if text:
            yield text.encode("utf-8", "surrogatepass")
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail.encode("utf-8", "surrogatepass")


def _carried(rest: bytes, line_cap: int, cut_from: int) -> tuple[bytes, int, bool]:
    """The start of a line not ended yet, carried to the next chunk: (its head, the length it was cut from or
    `cut_from` unchanged, whether the rest of it is skipped) - cut at `line_cap` bytes, on a character's end."""
    if len(rest) > line_cap:
        return rest[:_char_end(rest, line_cap)], len(rest), True
    return rest, cut_from, False


def _char_end(data: bytes, end: int) -> int:
    """`end`, or the start of the UTF-8 character that `end` falls inside (a long line is cut between characters: a
    cut never makes a line invalid UTF-8)."""
    for back in range(4):  # (a character takes up to 4 bytes: up to 3 continuation bytes after its first)
        if (data[end - back:end - back + 1] or b"\0")[0] & 0xC0 != 0x80:
            return end - back
    return end  # (not UTF-8 there anyway)


def _cut_long_lines(block: bytes, line_cap: int, cut: Callable[[int, int], None]) -> bytes:
    """`block` (whole lines) with each line longer than `line_cap` bytes cut to its first `line_cap` bytes, as a line
    that goes on past a block's end is (`cut(its line in the block from 1, its length)` for each): the same
    lines whatever size the blocks are read in. One backward search for a newline per `line_cap` bytes."""
    n = len(block)
    parts: list[bytes] = []
    kept = 0  # the end of what `parts` holds
    p = 0  # the start of a line; the lines before it are cut where needed
    while p + line_cap < n:
        r = block.rfind(b"\n", p, p + line_cap + 1)
        if r >= 0:
            p = r + 1
            continue
        end = block.find(b"\n", p)
        end = n if end < 0 else end
        cut(block.count(b"\n", 0, p) + 1, end - p)
        parts.append(block[kept:_char_end(block, p + line_cap)])
        kept = p = end
    if not parts:
        return block
    parts.append(block[kept:])
    return b"".join(parts)


def iter_blocks(stream: ByteStream, stats: ReadStats, *, block_size: int = BLOCK_SIZE,
                line_cap: int = LINE_CAP, lines_read: Callable[[], int] | None = None) -> Iterator[bytes]:
    """Blocks of whole lines (each block ends with b"\\n", except maybe the very last one).

    Adds to `stats.bytes` and `stats.warnings` (cut lines, truncated gzip); line numbers in the
    warnings count the newlines of the blocks yielded so far: `lines_read()` when the consumer
    counts them anyway (it is asked when the next block is wanted), else counted here.
    """
    src = Input(stream, block_size)
    carry = b""
    skipping = False        # inside an over-long line, discarding until its newline
    cut_from = 0            # length of the line being cut
    lines_before = 0
    cuts = 0

    def cut(line: int, length: int) -> None:  # (an over-long line inside a block: `_cut_long_lines`)
        nonlocal cuts
        cuts += 1
        if cuts <= 5:
            stats.warnings.append(f"line {lines_before + line} is {length} bytes long: kept the first {line_cap} bytes")

    for chunk in src.chunks():
        stats.bytes += len(chunk)
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                cut_from += len(chunk)
                continue
            cut_from += nl
            skipping = False
            cuts += 1
            if cuts <= 5:
                stats.warnings.append(f"line {lines_before + 1} is {cut_from} bytes long: kept the first "
                                      f"{line_cap} bytes")
            chunk = chunk[nl:]  # the kept head of the long line (carry) goes in front of its end
        last_nl = chunk.rfind(b"\n")
        if last_nl < 0:
            carry, cut_from, skipping = _carried(carry + chunk, line_cap, cut_from)
            continue
        if carry:  # one copy: the carried head and the chunk up to its last newline
            block = b"".join((carry, memoryview(chunk)[:last_nl + 1]))
        else:
            block = chunk if last_nl + 1 == len(chunk) else chunk[:last_nl + 1]
        carry, cut_from, skipping = _carried(chunk[last_nl + 1:], line_cap, cut_from)
        if len(block) > line_cap + 1:
            block = _cut_long_lines(block, line_cap, cut)
        if b"\x1b" in block:
            block = _ANSI.sub(b"", block)
        if lines_read is None:
            lines_before += block.count(b"\n")
            yield block
        else:
            yield block
            lines_before = lines_read()
    if skipping:
        cuts += 1
        if cuts <= 5:
            stats.warnings.append(f"line {lines_before + 1} is {cut_from} bytes long: kept the first "
                                  f"{line_cap} bytes")
    if cuts > 5:
        stats.warnings.append(f"{cuts} lines longer than {line_cap} bytes were cut")
    if carry:
        yield _ANSI.sub(b"", carry) if b"\x1b" in carry else carry
        lines_before += 1
    if src.problem:
        what = f"{src.packed} input" if src.packed else "input"
        stats.warnings.append(f"{src.problem} after line {lines_before}: {what} read up to there")


class Rewindable:
    """A binary stream (stdin) whose first bytes can be read twice: what is read before `rewind()` is kept
    and read again after it, then the rest of the stream (a peek at a pipe's head without losing it)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.kept = bytearray()
        self.recording = True

    def rewind(self) -> None:
        self.recording = False

    def fileno(self) -> int:
        return self.stream.fileno()

    def tell(self) -> int:
        return self.stream.tell() - (0 if self.recording else len(self.kept))

    def read(self, size: int = -1) -> bytes:
        if self.recording:
            data = self.stream.read(size) or b""
            self.kept += data
            return data
        if self.kept:
            n = len(self.kept) if size < 0 else min(size, len(self.kept))
            data = bytes(self.kept[:n])
            del self.kept[:n]
            return data
        return self.stream.read(size) or b""
