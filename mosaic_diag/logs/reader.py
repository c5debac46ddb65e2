"""Stream error events out of a log: fast block scan, Python parsing only around candidate lines.

The input is read in big blocks of whole lines. A handful of `bytes.find` calls locate candidate
lines (ERROR / CRITICAL / FATAL, a traceback header, a JSON ``"error"`` level, Render's ``==>``
lines, uvicorn's "Started server process"); lines between candidates are only counted (newlines,
a level regex for the statistics). From a candidate on, lines are parsed one by one for as long as
an event is open on any stream; then the scan jumps to the next candidate.
"""

from __future__ import annotations

import csv
import dataclasses
import heapq
import json
import os
import re
import stat
from array import array
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import AnyStr

from mosaic_diag.classifier import newest_first
from mosaic_diag.logs import announce, backward, pieces, scan
from mosaic_diag.logs.assemble import Assembler
from mosaic_diag.logs.clock import Clock, file_mtime
from mosaic_diag.logs.lines import (
    ANY_LINE_FAILURES,
    DOCUMENT_ARRAYS,
    ENVELOPES,
    ERROR_LEVELS,
    LOGFMT_LEVEL_KEYS,
    MAX_VALUE_LINES,
    RECORD_INITIALS,
    RECORD_KEYS,
    SITE_ERROR_KEY,
    CsvColumns,
    Line,
    csv_header,
    csv_row_lines,
    entry_lines,
    fluent_bit_more,
    fluent_bit_open,
    json_cut_document,
    parse_line,
    parse_ts,
    traceback_at,
)
from mosaic_diag.logs.model import RawEvent, ReadStats
from mosaic_diag.logs.scan import Needle
from mosaic_diag.logs.source import BLOCK_SIZE, LINE_CAP, ByteStream, UnreadableInput, iter_blocks
from mosaic_diag.platform import recache
from mosaic_diag.platform.lazyre import LazyPattern


def _kept(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """A pattern tried on every line, compiled at import (a plain compiled pattern, no LazyPattern) from the code kept
    for the log reader's patterns (`recache`, group "logs": a small bundle of their own)."""
    return recache.compile(pattern, flags, group="logs")


# candidates of every shape; the JSON levels from the log's first JSON line on (`_json_start`)
TEXT_NEEDLES = (Needle(b"ERROR", 1), Needle(b"CRITICAL", 7), Needle(b"Traceback (most recent call last)"),
                Needle(b"==> ", 2), Needle(b"Started server process"), Needle(b'File "'),
                Needle(b"FATAL", 4), Needle(b"[error", 0), Needle(b"[critical", 0),  # (structlog's console)
                Needle("│ ".encode(), 0),  # a Rich traceback box's side, its top maybe cut off (its lead byte: rare)
                Needle(b"above exception", 7),  # a chain's separator: a paste cut inside its cause starts before it
                Needle(b"-> ", 1))  # IPython's arrow (`----> 4 f()`): a traceback pasted without its header
# Render's failure sentences without the "==> " marker (dashboard events, notification e-mails: texts of their
# own, pasted or saved): each a search of the whole block, made from the first block that shows one of them on
# (`LAYOUT_KEYS`)
WORDING_NEEDLES = (Needle(b" your code"), Needle(b"Port scan timeout reached"), Needle(b"Deploy failed for "),
                   *(Needle(k.encode()) for k in ANY_LINE_FAILURES),  # (the kernel's OOM kill, Lambda's timeout)
                   Needle(b"\tStatus: timeout"),  # (a newer Lambda runtime's REPORT line of a timeout)
                   Needle(SITE_ERROR_KEY.encode()))  # (Python's site.py: `Error in sitecustomize; set PYTHONVERBOSE …`)
_WORDING = tuple(k.text for k in WORDING_NEEDLES)
# (structlog's `dict_tracebacks`: a record cut before its level is still one with a traceback, `json_exception`)
JSON_NEEDLES = (Needle(b'"error"'), Needle(b'"critical"'), Needle(b'"exc_type": "'))
# the same levels of a JSON record written inside another JSON line's string (an app's JSON record in the `log` of
# Docker's json-file driver, in a CloudWatch event's `message`): searched only in blocks that hold such a string
ESCAPED_JSON_NEEDLES = (Needle(b'\\"error\\"', 0), Needle(b'\\"critical\\"', 0))
_ESCAPED_JSON = b'"{\\"'  # a JSON string that starts with an object's `{"`
# a JSON record behind a line prefix (a platform's timestamp, a Compose service's `web-1  | `, journald's, CRI's
# `stdout F `): the JSON levels are searched from the first line that shows one on (`_json_start`)
_PREFIXED_JSON = b' {"'
# supervisord's own log writes its levels in four letters ("… CRIT Supervisor running as root", "… ERRO …"): each
# needle a search of the whole block, made from the first block that shows (`LAYOUT_KEYS`) supervisord's
# log (one of its level words) on
SUPERVISORD_NEEDLES = (Needle(b" CRIT "), Needle(b" ERRO "))
_SUPERVISORD = (b" CRIT ", b" ERRO ", b" DEBG ", b" INFO spawned: ")
# "%(levelname)-5.5s [%(name)s] %(message)s" (Alembic's default) writes CRITICAL as "CRITI [": a search of the whole
# block, made from the first block that shows (`LAYOUT_KEYS`) that layout's other levels on
FIVE_LETTER_NEEDLES = (Needle(b"CRITI ["),)
_FIVE_LETTER = (b"INFO  [", b"WARNI [")
# Heroku's own error lines carry no level word (`heroku[router]: at=error code=H12 …`, `heroku[web.1]: Error R14 (Memory
# quota exceeded)`): each needle a search of the whole block, made from the first block that shows (`LAYOUT_KEYS`)
# shows Heroku's log (its `heroku[…]` source, a syslog drain's `heroku/…` tag) on
HEROKU_NEEDLES = (Needle(b"at=error code="), Needle(b"Error H"), Needle(b"Error R1"), Needle(b"Error L1"))
_HEROKU = (b"heroku[", b" heroku/")
# Apache's error log writes its levels lower-case after the module (`[wsgi:error]`, `[core:crit]`, `[:error]`; 2.2's
# `[error]` is a candidate anyway): each needle a search of the whole block, made from the first block that shows
# (`LAYOUT_KEYS`) Apache's error log (its process or client column) on
APACHE_NEEDLES = (Needle(b":error] "), Needle(b":crit] "), Needle(b":alert] "), Needle(b":emerg] "),
                  Needle(b"[crit] "), Needle(b"[alert] "), Needle(b"[emerg] "))
_APACHE = (b"] [pid ", b"] [client ")
# klog's / glog's error and fatal lines (`E1218 10:39:50.481923       1 mysql.go:62] …`: the level's initial, then the
# month, 01-12): each needle a search of the whole block, made from the first block that shows (`LAYOUT_KEYS`) a Go
# source's `file.go:line` (klog's location column) on
KLOG_NEEDLES = (Needle(b"E0"), Needle(b"E1"), Needle(b"F0"), Needle(b"F1"))
_KLOG = (b".go:",)
# logfmt's lower-case error levels (`level=error`, `lvl=crit`, `severity="error"`, `level=ERR`): each needle is a
# search of the whole block, made from the first block that has a logfmt level key (`LAYOUT_KEYS`) on
LOGFMT_NEEDLES = (Needle(b"=err"), Needle(b'="err'), Needle(b"=crit"), Needle(b'="crit'), Needle(b"=fatal"),
                  Needle(b"=ERR"))
# pytest's report in a CI job's log: its failure sections' headers (`____ test_db ____`) end in an underscore, its short
# summary's lines start with `FAILED ` (its `ERROR ` lines and `____ ERROR at setup of … ____` headers are candidates
# anyway): each needle a search of the whole block, made from the first block that shows (`LAYOUT_KEYS`) one of
# pytest's banners on, or a test's node id in the log's first megabyte (`tests/x.py::test_db`: a pasted summary; a
# short key, slower to search for), or a failure section's header of a test named as pytest collects them
# (`____ test_db ____`, `____ TestX.test_y ____`: one section pasted alone, no banner) on
PYTEST_NEEDLES = (Needle(b"_\n"), Needle(b"_\r\n"), Needle(b"FAILED ", 0))
_PYTEST = (b"= FAILURES =", b" short test summary info ", b"_ test", b"_ Test")
_PYTEST_FIRST = (b".py::",)
def pg_error_needles() -> tuple[Needle, ...]:
    """PostgreSQL's error severities in the catalogs' other languages as its lines write them (`FEHLER:  `,
    `致命错误:  `): needles (and keys, `announce.Announcer`) of a log from the first block that shows one on, loaded
    once a block's head or tail shows `:  ` (`l10n.severity_words`, generated from PostgreSQL's message catalogs,
    loaded once)."""
    global _PG_ERROR_NEEDLES
    if _PG_ERROR_NEEDLES is None:
        from mosaic_diag.classifier.l10n import ERROR_SEVERITIES, severity_words

        words = sorted({w for w, en in severity_words().items() if en in ERROR_SEVERITIES and w not in
                        ERROR_SEVERITIES})
        _PG_ERROR_NEEDLES = tuple(Needle(f"{w}:  ".encode()) for w in words)
    return _PG_ERROR_NEEDLES


_PG_ERROR_NEEDLES: tuple[Needle, ...] | None = None
_LOGFMT_KEYS = tuple(sorted(f"{k}=".encode() for k in LOGFMT_LEVEL_KEYS))  # the keys the parser reads a level from
# the keys that announce each layout whose error lines are candidates only in a log that shows it: looked for in the
# whole of each block through a byte of theirs that is rare in the log, else in a block's head and tail
# (`announce.Announcer`)
LAYOUT_KEYS = {"logfmt": _LOGFMT_KEYS, "wording": _WORDING, "supervisord": _SUPERVISORD, "heroku": _HEROKU,
               "apache": _APACHE, "five_letter": _FIVE_LETTER, "pytest": _PYTEST, "klog": _KLOG}
_probe = announce.probe


_JSON_LINE = Needle(b"\n{", 1)
_INF = 1 << 62
LOOKBACK_LINES = 32
STAMP_LINES = 100  # the log's first and last lines looked at for its first and last timestamps
# a JSON document is decoded from memory this many bytes at a time (about 3 times that in memory: the bytes, their
# text, the blocks read): an entry cut off by a window goes in front of the next one (`_Reader._documents`)
DOCUMENT_CAP = 32 << 20
TAIL_BYTES = 8192
NEWEST_FIRST_HEAD = 64 << 10  # the bytes of a text's head whose lines tell whether it is listed newest first
NEWEST_FIRST_NOTE = "the log lists its newest line first (a console's copy, `journalctl -r`): read from its end up"
REORDER_CAP = 16 << 20  # the bytes of a text listed newest first read back in order in memory
CSV_ROWS = 100_000  # rows of a CSV export held to read it oldest first (as many as Datadog exports at once)

# the payload of a wrapped record in a pretty-printed document (`lines.ENVELOPES`): its message's key
_PAYLOAD = LazyPattern(r'"(?:_source|jsonPayload)"\s*:\s*\{(?:[^{}]|\{[^{}]*\})*?"(?:message|log|msg|textPayload)"\s*:')
_CTRL = LazyPattern(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")
# a JSON-looking line that does not end with "}" (before its CR of a CRLF line): cut off or otherwise not one whole
# object (a line of a log cut without its newline too)
_CUT_JSON = LazyPattern(rb"\n\{[^\n]*+(?:(?<![\s}])|(?<=[^\s}]\r))(?=\n|\Z)")
# statistics of the lines that are only counted (no candidate in them): a level word anywhere in
# a line counts (such lines hold no error candidate), upper-case or structlog's bracketed lower-case one;
# text lines with none of these are INFO
_WARN, _DEBUG, _ACCESS = Needle(b"WARN", 0), Needle(b"DEBUG", 2), Needle(b" HTTP/1.")
# structlog's console renderer writes its levels lower-case in brackets ("[warning  ]", "[debug    ]")
_BRACKET_LOWER = (b"[warn", b"[debug")
# a JSON record's level value; Render API entries carry lower-case level labels (and their message
# may start with the process's own "WARNING:", not counted twice)
_JSON_WARN = (Needle(b'"warn'), Needle(b'"WARN', 1))  # "warning", "WARN", ... (a value starting so)
_JSON_DEBUG = (Needle(b'"debug"'), Needle(b'"DEBUG"', 3))
_API_WARN, _API_DEBUG = (Needle(b'"warning"'),), (Needle(b'"debug"'),)
_RENDER_TEXT_START = _kept(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_NOT_BLANK = _kept(rb"[^\r\n]")
_UVICORN_START = LazyPattern(rb"[A-Z]+:  ")
# a run of indented, non-blank lines (traceback frames) of a Render text export / of a bare log
# (the lines of one traceback mostly share their timestamp: after the first line of a run the pattern
# compares the same text again instead of reading a timestamp, and a run goes on across a new timestamp
# by matching again from there)
_FRAMES_RENDER_TEXT = _kept(
    rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) [ \t]+\S[^\n]*\n(?:\1 [ \t]+\S[^\n]*\n)*")
_FRAMES_BARE = LazyPattern(rb"(?:[ \t]+\S[^\n]*\n)+")
# what follows the frames of a chained traceback in a Render text export, under one timestamp: the
# exception line (a plain line: its first character cannot start a record), a blank, a chain separator, a
# blank and the next traceback's header
_CHAIN_RENDER_TEXT = _kept(
    rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ([^\x00-\x20\x7f-\xff0-9DIWECF\[=ah|+][^\n\r]*)\n"
    rb"\1 ?\n"
    rb"\1 (During handling of the above exception, another exception occurred:"
    rb"|The above exception was the direct cause of the following exception:)\n"
    rb"\1 ?\n"
    rb"\1 (Traceback \(most recent call last\):[^\n\r]*)\n")
# the last exception line after the frames (a plain line, as above), and a traceback's header right after
# the error record it belongs to
# (a line that cannot start a record, `lines.RECORD_INITIALS`: right after a traceback's frames such a line is
# its exception line, even one that starts like Render's failure sentences; not an exception group's line whose
# indentation was stripped, `|` / `+`: read one by one, `lines.in_group_gutter`)
_EXCEPTION_RENDER_TEXT = _kept(
    rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) ([^\x00-\x20\x7f-\xff0-9|+"
    + re.escape("".join(sorted(RECORD_INITIALS))).encode() + rb"][^\n\r]*)\n")
_HEADER_RENDER_TEXT = _kept(
    rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) (Traceback \(most recent call last\):[^\n\r]*)\n")


class _Finder:
    """The next position of any needle at or after `pos`, with one search per needle and hit."""

    __slots__ = ("block", "needles", "next")

    def __init__(self, block: bytes, json_from: int, escaped_from: int, logfmt: bool, wording: bool = False,
                 supervisord: bool = False, heroku: bool = False, five_letter: bool = False,
                 pytest: bool = False, pg_local: bool = False, apache: bool = False, klog: bool = False) -> None:
        """`json_from` / `escaped_from`: the offset from which the JSON levels / the escaped ones are candidates
        (-1: nowhere in the block)."""
        self.block = block
        needles: tuple[Needle, ...] = TEXT_NEEDLES + JSON_NEEDLES if json_from >= 0 else TEXT_NEEDLES
        needles = needles + ESCAPED_JSON_NEEDLES if escaped_from >= 0 else needles
        needles = needles + LOGFMT_NEEDLES if logfmt else needles
        needles = needles + WORDING_NEEDLES if wording else needles
        needles = needles + SUPERVISORD_NEEDLES if supervisord else needles
        needles = needles + FIVE_LETTER_NEEDLES if five_letter else needles
        needles = needles + PYTEST_NEEDLES if pytest else needles
        needles = needles + pg_error_needles() if pg_local else needles
        needles = needles + APACHE_NEEDLES if apache else needles
        needles = needles + KLOG_NEEDLES if klog else needles
        self.needles = needles + HEROKU_NEEDLES if heroku else needles
        self.next = nxt = [-1] * len(self.needles)
        at = len(TEXT_NEEDLES)
        for start, group in ((json_from, JSON_NEEDLES), (escaped_from, ESCAPED_JSON_NEEDLES)):
            if start > 0:  # (the hits before it are none: each needle's first hit from there)
                for i in range(at, at + len(group)):
                    p = scan.find(block, self.needles[i], start)
                    nxt[i] = _INF if p < 0 else p
            at += len(group)

    def search(self, pos: int) -> int:
        nxt = self.next
        best = _INF
        for i, p in enumerate(nxt):
            if p < pos:
                p = scan.find(self.block, self.needles[i], pos)
                if p < 0:
                    p = _INF
                nxt[i] = p
            if p < best:
                best = p
        return best


def _has_json_lines(block: bytes, start: int = 0) -> bool:
    """Whether a line of the block (from the line at `start` on) starts with "{" (a JSON record or a Render API
    entry)."""
    return (start == 0 and block[:1] == b"{") or scan.find(block, _JSON_LINE, max(start - 1, 0)) >= 0


def _json_start(block: bytes) -> int:
    """The offset of the block's first line that starts with "{" or holds a JSON record behind a line prefix
    (`_PREFIXED_JSON`), or -1: one pass over the block's "{" (rare in most logs), given up for the plain searches as
    `scan.find` does."""
    if block[:1] == b"{":
        return 0
    j = block.find(b"{")
    for _ in range(scan.BUDGET + len(block) // scan.SPAN):
        if j < 0:
            return -1
        before = block[j - 1]  # (j > 0)
        if before == 10:  # "\n"
            return j
        if before == 32 and block.startswith(b'"', j + 1):
            return block.rfind(b"\n", 0, j) + 1
        j = block.find(b"{", j + 1)
    if j < 0:
        return -1
    line = block.find(b"\n{", j - 1)
    at = block.find(_PREFIXED_JSON, j - 1, len(block) if line < 0 else line)
    return block.rfind(b"\n", 0, at) + 1 if at >= 0 else line + 1 if line >= 0 else -1


_QUOTE_MARGIN = _kept(rb"^>(?: |(?=\r?$))", re.M)  # markdown's quote: `> ` before a line, `>` alone on a blank
# a console that marks a process's output with `>  ` before each of its lines (the Firebase emulator's: its own lines
# behind `i  `, `⚠  `, `✔  `)
_OUTPUT_MARGIN = re.compile(rb"^>  (?=\S)", re.M)
# a terminal pane's copy (k9s's log view): `│ ` before each line (or the space that followed a left border the copy
# lost), the line padded to the pane's width, then `│`; the borders to take off each line, and its first line's form
_PANE = _kept(rb"^(?:\xe2\x94\x82 | )| *\xe2\x94\x82 *(?=\r?$)", re.M)
# (tried only on a first line that starts and ends with a border: rare, compiled at first use)
_PANE_LINE = LazyPattern(r"(│ | (?=\S))(\S.*?) {2,}│ *")
# a buildpack's build or deploy output (Heroku's, dokku's: `-----> ` before each step): the lines under a step, a
# command's or a container's output among them, are indented by the arrow's width
_STEP_ARROW = "-----> "
_STEP_MARGIN = _kept(rb"^ {7}", re.M)


def _margin(first: bytes) -> re.Pattern[bytes] | None:
    """The margin of a paste quoted or indented as a whole, as a pattern to take off each line, from the log's
    first line; else None. Markdown's quote (`> ` then the line, `>` alone on a blank line: a first line `> ` then
    no blank, as pytest's `>       ` source marker is not), or the first line's indentation when the line, read
    without it, is a log record and with it is none (RichHandler's record whose time column is blank is one)."""
    nl = first.find(b"\n", 0, LINE_CAP)
    line = first[: nl if nl >= 0 else LINE_CAP].decode("utf-8", "replace").rstrip("\r")
    c = line[:1]
    if c in " │" and line[-1:] in " │" and (m := _PANE_LINE.fullmatch(line)) is not None and (
            c == " " or traceback_at(m.group(2)) == 0 or any(ln.record for ln in parse_line(m.group(2)))):
        # a pane's copy: its left border lost, or a traceback's header or a record between its borders (a Rich box's
        # sides hold neither: its header is in its top edge)
        return _PANE
    if c == "-" and line.startswith(_STEP_ARROW):
        return _STEP_MARGIN
    if c == ">":
        if line[1:3] == "  " and line[3:4].strip() and any(ln.record for ln in parse_line(line[3:])):
            return _OUTPUT_MARGIN  # (the Firebase emulator's console: a function's output behind `>  `)
        return _QUOTE_MARGIN if line[1:2] == " " and line[2:3].strip() else None
    if c not in (" ", "\t"):
        return None
    inner = line.lstrip(" \t")
    if not inner or any(ln.record for ln in parse_line(line)) or not any(ln.record for ln in parse_line(inner)):
        return None
    indent = line[: len(line) - len(inner)].encode()
    return re.compile(rb"^" + re.escape(indent), re.M)


def _glued_fence(first: bytes) -> bool:
    """Whether the log's first line is markdown's opening fence glued to a record (```` ```2021-01-20 08:25:21,186
    daphne.server ERROR … ````): the line read without the three backticks is a record, with them none."""
    nl = first.find(b"\n", 0, LINE_CAP)
    line = first[3: nl if nl >= 0 else LINE_CAP].decode("utf-8", "replace").rstrip("\r")
    return line[:1] not in ("`", " ", "\t", "") and any(ln.record for ln in parse_line(line))


def _check_utf8(block: bytes, step: int = 1 << 18) -> None:
    """Raise UnicodeDecodeError unless `block` is valid UTF-8: decoded a piece of whole lines at a time (no
    sequence spans a newline), so that one emoji makes a small piece four bytes a character, not the block."""
    view = memoryview(block)
    n = len(block)
    start = 0
    while start < n:
        nl = block.find(b"\n", start + step)
        end = n if nl < 0 else nl + 1
        str(view[start:end], "utf-8")
        start = end


def _sniff(block: bytes, a: int, b: int) -> str | None:
    """The shape of the first line of block[a:b] that is not blank, None when all are (for the per-shape statistics
    of counted lines: a run that starts with a blank line, at a block's start or after a traceback, is the shape of
    its lines)."""
    c = block[a:a + 1]
    if c in b"\r\n":
        m = _NOT_BLANK.search(block, a, b)
        if m is None:
            return None
        a = m.start()
        c = block[a:a + 1]
    if c == b"{":
        end = block.find(b"\n", a)
        return "render-api" if block.find(b'"labels"', a, end if end >= 0 else len(block)) >= 0 else "json"
    if c == b"<":
        return "syslog"
    if _RENDER_TEXT_START.match(block, a):
        return "render-text"
    if _UVICORN_START.match(block, a):
        return "uvicorn"
    return "plain"


@dataclass
class Handover:
    """What the read of one file of several read as one log (logrotate's app.log.1, then app.log) hands the read of
    the next, so that a record or traceback that rotation cut goes on in the next file's leading lines as in the
    files joined: the assembler with its open events, the closed events waiting for them, the last lines (looked
    back on). The lines handed on are numbered from the next file's start (0: the last line of the file before,
    and below); a last line without a newline stays a line of its own. `more`: set by the caller, another file
    follows this read (else the read closes what is open)."""

    more: bool = False
    asm: Assembler | None = None
    held: list[tuple[int, int, RawEvent]] = field(default_factory=list)
    tail: bytes = b""
    seq: int = 0

    def keep(self, asm: Assembler, held: list[tuple[int, int, RawEvent]], tail: bytes, lines: int, seq: int) -> None:
        """Keep what a read of `lines` lines ends with, renumbered from the next read's start."""
        for op in asm.open.values():
            op.line -= lines
            op.end -= lines
            op.seen -= lines
        asm.taken = {stream: end - lines for stream, end in asm.taken.items()}
        asm.gave = None
        self.asm, self.tail, self.seq = asm, tail, seq
        self.held = [(line - lines, n, replace(ev, line=ev.line - lines, end_line=ev.end_line - lines))
                     for line, n, ev in held]  # (the same shift for all: still a heap)


class _Reader:
    def __init__(self, stream: ByteStream, stats: ReadStats, block_size: int, line_cap: int, horizon: int,
                 carry: pieces.Carry | None = None, handover: Handover | None = None) -> None:
        self.stream = stream
        self.stats = stats
        self.block_size = block_size
        self.line_cap = line_cap
        self.handover = handover
        kept = handover.asm if handover is not None else None
        if kept is not None:
            kept.stats = stats
        self.asm = kept if kept is not None else Assembler(stats, horizon=horizon)
        self.asm.lookback = self._lookback
        self.asm.wrapped_record = self._wrapped_record
        self.clock = self.asm.clock = Clock(file_mtime(stream))
        self.lineno = 0
        self.prev_tail = b""
        self.block = b""
        self.cur = 0               # start of the line being parsed (for lookback)
        self.bad: dict[int, str] = {}
        self.levels: Counter[str] = Counter()
        self._pending_lines = 0
        # the run of lines passed over last (`_skip`): the line after it, its shape (None: blank lines so far), the
        # blank lines that start it while its shape is not known
        self._run_end = -1
        self._run_shape: str | None = None
        self._run_blanks = 0
        self._needle_keys: tuple[str | None, ...] = ()
        self._service_rx: dict[str, re.Pattern[bytes]] = {}
        self._needles: list[bytes] = []
        # per stream: the first line of a line that a container runtime split, and its pieces so far joined
        # (`_joined`)
        self.pieces: dict[str, tuple[int, pieces.Piece]] = {} if carry is None else carry.take()
        self.carry = carry
        # a Fluent Bit record's value that went on past its line: its stream and how many more lines it may take
        self.value: tuple[str, int] | None = None
        self.held: list[tuple[int, int, RawEvent]] = []  # closed events waiting for an earlier one (`_release`)
        self._seq = 0
        self._head_left = STAMP_LINES  # lines of the log's head still looked at for its first timestamp
        self._last_stamp: tuple[int, datetime] | None = None  # the last timestamp of a block's last lines, its line
        # a text read newest first put back in order (`_arrange`): the file's line of each line read, or None
        self.order: array[int] | backward.Runs | None = None
        if kept is not None and handover is not None:  # (the lines of the file before: `Handover`)
            self.held, self.prev_tail, self._seq = handover.held, handover.tail, handover.seq
            handover.asm, handover.held, handover.tail = None, [], b""

    # -- main loop ----------------------------------------------------------------------------

    def events(self) -> Iterator[RawEvent]:
        stats = self.stats
        blocks = iter_blocks(self.stream, stats, block_size=self.block_size, line_cap=self.line_cap,
                             lines_read=lambda: self.lineno + self._pending_lines)
        first = next(blocks, None)
        if first is None:
            if self.pieces:  # a live stream that stopped with no more lines: the pieces an earlier pass handed on
                self._end_pieces()
            yield from self._end()  # (an empty file among several: what the one before handed on goes on)
            return
        margin = _margin(first)
        if margin is not None:  # a paste quoted or indented as a whole: its lines without the margin
            first = margin.sub(b"", first)
            blocks = (margin.sub(b"", b) for b in blocks)
        elif first[:3] == b"```" and _glued_fence(first):  # a paste's opening fence typed on its first line
            first = first[3:]
        nl = first.find(b"\n", 0, 4096)
        cols = csv_header(first[:nl].decode("utf-8", "replace")) if nl > 0 and first.find(b",", 0, nl) > 0 else None
        if cols is not None:  # a log tool's CSV export: read row by row
            yield from self._csv(_chain(first, blocks), cols)
            self._finish_stats()
            return
        if self._looks_like_document(first):
            rest = yield from self._documents(first, blocks)
            if rest is None:
                self._finish_stats()
                return
            blocks = _chain(rest, blocks)
        else:
            if self.carry is None and self.handover is None:  # (a live stream, files read as one: their order)
                first, blocks = self._arrange(first, blocks)
            blocks = _chain(first, blocks)
        self._first_ts(first)
        asm = self.asm
        out = asm.out
        # the layouts whose error lines are candidates from the first block that shows them on (`LAYOUT_KEYS`):
        # logfmt's lower-case levels, Render's failure sentences, supervisord's four-letter levels, Heroku's platform
        # error lines, Apache's lower-case levels, "CRITI [" of five-letter levels, pytest's failure sections and
        # summary lines, klog's error lines; PostgreSQL's error severities in another language (`FEHLER:  `) once a
        # block shows `:  `
        shown = announce.Announcer(LAYOUT_KEYS)
        colon = False  # `:  ` seen: PostgreSQL's translated severities are keys from then on (their words loaded then)
        # the JSON levels are candidates from the log's first JSON line on (or its first JSON record behind a line
        # prefix, `_PREFIXED_JSON`), the escaped ones from its first JSON string that starts with an object
        # (`_ESCAPED_JSON`) on: the same lines whatever blocks the log was cut in
        json_seen = escaped_seen = False
        offset = 0  # the bytes of the log before the block
        for block in blocks:
            if json_seen:
                json_from = 0
                json_lines = _has_json_lines(block)
            else:
                json_from = _json_start(block)
                json_seen = json_from >= 0
                json_lines = json_seen and _has_json_lines(block, json_from)
            if self._head_left and block is not first:  # (a first block of fewer lines: the next ones)
                self._first_ts(block)
            self._check_block(block, json_lines)
            if escaped_seen:
                escaped_from = 0
            else:
                escaped_from = -1 if json_from < 0 else block.find(_ESCAPED_JSON, json_from)
                if escaped_from >= 0:
                    escaped_seen = True
                    escaped_from = block.rfind(b"\n", 0, escaped_from) + 1
            self.block = block
            n = len(block)
            pos = 0
            head = announce.head_of(offset)
            if not offset:
                shown.start(block)
            if not colon and _probe(block, (b":  ",), head):
                colon = True
                shown.add("pg_local", tuple(n.text for n in pg_error_needles()))
            on = shown.seen(block, head)
            if offset < announce.FIRST_PROBE and "pytest" not in on and _probe(block, _PYTEST_FIRST, head):
                shown.show("pytest")  # (a test's node id in the log's first megabyte: a pasted summary)
            offset += n
            finder = _Finder(block, json_from, escaped_from, "logfmt" in on, "wording" in on, "supervisord" in on,
                             "heroku" in on, "five_letter" in on, "pytest" in on, "pg_local" in on, "apache" in on,
                             "klog" in on)
            run = runlines = -1     # start of a run of lines passed over while events are open
            while pos < n:
                opened = asm.open
                if self.pieces or self.value:  # a split line is being joined, a value read on: every line is read
                    pass
                elif not opened:
                    if run >= 0:
                        self._skip(block, run, pos)
                        run = -1
                    hit = finder.search(pos)
                    if hit >= n:
                        self._skip(block, pos, n)
                        break
                    ls = block.rfind(b"\n", pos, hit)
                    ls = pos if ls < 0 else ls + 1
                    if ls > pos:
                        self._skip(block, pos, ls)
                    pos = ls
                elif None not in opened:
                    # only instances have open events: a line that names none of them and holds no
                    # candidate cannot change anything, so it is only counted
                    nl = block.find(b"\n", pos)
                    end = n if nl < 0 else nl
                    if finder.search(pos) > end and not any(
                            block.find(k, pos, end) >= 0 for k in self._stream_needles(opened)) \
                            and not asm.frame_cut():  # (else it may be a broken frame line's rest, `_join_wrap`)
                        if run < 0:
                            run, runlines = pos, 0
                        pos = end + 1
                        runlines += 1
                        # count what was passed over, let silent instances expire: on the lines `Assembler.feed` lets
                        # them expire on (every 32nd), whatever blocks the log was cut in
                        if not (self.lineno + runlines) & 31:
                            self._skip(block, run, pos)
                            run = -1
                            asm.expire(self.lineno)
                        continue
                if run >= 0:
                    self._skip(block, run, pos)
                    run = -1
                shape = asm.frames_shape()
                if shape == "render-text":
                    end = self._render_text_traceback(block, pos)
                    if end > pos:
                        pos = end
                        continue
                elif shape is not None:
                    end = self._frames(block, pos, shape)
                    if end > pos:
                        pos = end
                        continue
                elif asm.record_shape() == "render-text":
                    m = _HEADER_RENDER_TEXT.match(block, pos)
                    if m is not None and m.end() - pos <= self.line_cap:
                        self.lineno += 1
                        asm.header(m.group(1).decode("utf-8", "replace"), self.lineno)
                        # the event is inside the traceback's frames now: what the next turn would take
                        pos = self._render_text_traceback(block, m.end())
                        continue
                elif opened and None not in opened:  # (the one unnamed stream has no named frames)
                    named = asm.frames_stream()
                    if named is not None:
                        end = self._service_frames(block, pos, *named)
                        if end > pos:
                            pos = end
                            continue
                pos = self._parse_line(block, pos, n)
                if out:
                    yield from self._release(out)
            if run >= 0:
                self._skip(block, run, n)
            self._keep_pieces(block)
            self._last_ts(block)
            stats.lines = self.lineno  # lines so far (progress on stdin); final in _finish_stats
            self.prev_tail = _tail(block if len(block) >= TAIL_BYTES else self.prev_tail + block)
        if self._last_stamp is not None and self._last_stamp[0] > self.lineno - STAMP_LINES:
            stats.see_ts(self._last_stamp[1])
        self._end_pieces()
        yield from self._end()
        self._finish_stats()

    def _end(self) -> Iterator[RawEvent]:
        """At the end of the input: close the open events and release every event; or, when another file of the
        same log follows (`Handover.more`), release those that can be and hand the rest on to its read (the open
        events, and the assembler and last lines whatever is open: the next file reads as in the files joined)."""
        ho, asm = self.handover, self.asm
        if ho is not None and ho.more:
            yield from self._release(asm.out)
            tail = self.prev_tail
            if tail and not tail.endswith(b"\n"):  # (the last line without a newline: a line of its own)
                tail += b"\n"
            ho.keep(asm, self.held, tail, self.lineno, self._seq)
            self.held = []
            return
        asm.finish()
        yield from self._release(asm.out, final=True)

    def _end_pieces(self) -> None:
        """At the end of the input: the lines a container runtime split and has not finished, read as they are (a log
        that ends in the middle of a split line), or handed on to the next pass over a live stream (`carry`)."""
        if self.carry is not None and not self.carry.ended:
            self.carry.keep(self.pieces, self.lineno)
        else:
            for first, p in self.pieces.values():
                self._feed(pieces.line_of(p), first, self.lineno)
        self.pieces.clear()

    def _release(self, out: list[RawEvent], final: bool = False) -> Iterator[RawEvent]:
        """The events closed so far (`out`, emptied) in the order of their first lines: an event that closed while
        one that started before it is still open (another stream's, interleaved; a split line being joined) waits
        for it. What waits is bounded: an open event closes once its stream is silent for the assembler's horizon,
        and what one record absorbs is capped."""
        held = self.held
        if final:
            mark = _INF
        else:
            mark = min((op.line for op in self.asm.open.values()), default=_INF)
            if self.pieces:
                mark = min(mark, *(first for first, _ in self.pieces.values()))
        if not held and len(out) == 1 and out[0].line < mark:  # (the common case: nothing to wait for)
            yield out[0]
            out.clear()
            return
        for ev in out:
            heapq.heappush(held, (ev.line, self._seq, ev))
            self._seq += 1
        out.clear()
        while held and held[0][0] < mark:
            yield heapq.heappop(held)[2]

    def _parse_line(self, block: bytes, pos: int, n: int) -> int:
        nl = block.find(b"\n", pos)
        end = n if nl < 0 else nl
        self.lineno += 1
        lineno = self.lineno
        raw = block[pos:end] if end - pos <= self.line_cap else block[pos:pos + self.line_cap]
        text = raw.decode("utf-8", "replace")
        if text.endswith("\r"):
            text = text[:-1]
        self.cur = pos
        first = lineno
        if self.pieces or ((text[:1] == "{" or text.find(" std", 19, 40) >= 0)  # (Docker's, CRI's, cheaply)
                           and (pieces.partial(text) or (pieces.may_be_piece(text) and self._piece_before()))):
            joined = self._joined(text, lineno)
            if joined is None:
                return end + 1
            text, first = joined
        self._feed(text, first, lineno)
        return end + 1

    def _piece_before(self) -> bool:
        """Whether one of the few lines before the current one may be a piece of a split line."""
        return any(pieces.partial(t) for t in self._texts_before(4))

    def _joined(self, text: str, lineno: int) -> tuple[str, int] | None:
        """A line longer than 16 KB that a container runtime (Docker's json-file driver, containerd, CRI-O) split
        into entries marked partial but the last: the text of the whole entry and the line of its first piece (kept
        from the lines read before, or found on the lines just before it: a piece with no candidate in it was
        passed over); None while the line is a piece that the next entry of its stream goes on. The joined line
        keeps its first `line_cap` characters, as a long line does."""
        p = pieces.piece(text)
        if p is None:
            return text, lineno
        kept = self.pieces.pop(p.stream, None)
        head: pieces.Piece | None
        if kept is not None:
            first, head = kept
        else:
            first, head = self._pieces_before(lineno, p.stream).get(p.stream, (lineno, None))
        if head is not None:  # (the time the runtime read the line's first piece)
            joined = head.text + p.text if len(head.text) < self.line_cap else head.text
            p = p._replace(text=joined[: self.line_cap], time=head.time)
        if not p.whole:
            self.pieces[p.stream] = (first, p)
            return None
        return (text if head is None else pieces.line_of(p)), first

    def _pieces_before(self, lineno: int, only: str | None = None) -> dict[str, tuple[int, pieces.Piece]]:
        """Per stream (or stream `only`), the pieces of a split line on the lines before the current one `lineno`
        (passed over by the scan, their statistics taken back; none of a stream being joined), joined, and the
        line of the first: those after the stream's last whole entry among the `LOOKBACK_LINES` lines before."""
        found: dict[str, tuple[int, list[pieces.Piece]]] = {}
        closed: set[str] = set()
        for back, prev in enumerate(self._texts_before(LOOKBACK_LINES), 1):
            p = pieces.piece(prev)
            if p is None:
                break
            std = p.stream
            if std in closed or std in self.pieces or (only is not None and std != only):
                continue
            if p.whole:
                if std == only:
                    break
                closed.add(std)
                continue
            older = found[std][1] if std in found else []
            older.append(p)
            found[std] = (lineno - back, older)
            self._uncount(prev)
        return {std: (first, ps[-1]._replace(text="".join(q.text for q in reversed(ps))[: self.line_cap]))
                for std, (first, ps) in found.items()}

    def _keep_pieces(self, block: bytes) -> None:
        """At a block's end: the pieces of split lines that end it (each stream's not already being joined) are
        kept for the next block, whose lines before a candidate `_texts_before` cannot reach."""
        nl = block.rfind(b"\n", 0, len(block) - 1) + 1
        if pieces.partial(block[nl:].decode("utf-8", "replace").rstrip("\r\n")):
            self.cur = len(block)
            self.pieces.update(self._pieces_before(self.lineno + 1))

    def _feed(self, text: str, first: int, lineno: int) -> None:
        """Parse one line's text and feed its parts to the assembler (`first`: the line it starts on)."""
        if self.value is not None:  # the next line of a Fluent Bit value: the app's line, in the record's stream
            stream, left = self.value
            more, closed = fluent_bit_more(text, stream)
            self.value = None if closed or left <= 1 else (stream, left - 1)
            for ln in more:
                self.asm.feed(first, ln, lineno)
            return
        if text[:1] == "[" and "=>" in text:
            value_stream = fluent_bit_open(text)
            if value_stream is not None:
                self.value = (value_stream, MAX_VALUE_LINES)
        for ln in parse_line(text):
            if ln.stream is not None and not ln.record and ln.stream not in self.asm.open \
                    and self.asm.rejoining(None):
                # a piece of a JSON record broken over lines that looks like another stream's line ("n     | …": a
                # wrap before a Rich-style "|" column) is the record's next line
                self.asm.feed(lineno, Line("", None, None, None, None, text, text, False))
                continue
            if ln.shape == "json" and ln.level is None and ln.stream in self.asm.open \
                    and self.asm.open[ln.stream].shape != "json" and (
                    ln.corrupt is not None or (ln.exc is None and (not ln.message or ln.ts is None))):
                # a "{" line inside a text record's message (a pasted error body, a dict; an API's error body has a
                # `message` but no level and no time, as no log record has): not a JSON record
                raw_text = text if ln.stream is None else text.split("| ", 1)[-1]  # behind a compose prefix
                if self.bad.pop(lineno, None) is not None:  # the block scan took it for a cut-off JSON line
                    stats = self.stats
                    stats.corrupt -= 1
                    stats.corrupt_samples[:] = [c for c in stats.corrupt_samples if c[0] != lineno]
                self.asm.feed(lineno, Line("", ln.stream, None, None, None, raw_text, raw_text, False))
                continue
            if ln.corrupt is not None:
                if lineno not in self.bad:
                    self.bad[lineno] = ln.corrupt
                    self.stats.add_corrupt(lineno, ln.corrupt)
                if ln.level is None and ln.exc is None:  # (a cut-off JSON record whose first pairs give its level,
                    if self.asm.rejoining(ln.stream):     # or a traceback, is still read)
                        # a piece of the JSON record being read on that starts with "{" (a terminal's wrap before
                        # a nested object): the record's next line, not a record of its own
                        self.asm.feed(lineno, Line("", ln.stream, None, None, None, text, text, False))
                    continue
            self.asm.feed(first, ln, lineno)

    def _render_text_traceback(self, block: bytes, pos: int) -> int:
        """While the one stream's event of a Render text export is inside a traceback's frames: its frames,
        the lines chaining the next traceback, its frames ... its exception line, each handed to the event as
        the reader's loop would take them one step a turn (none of them closes an event); the end of them."""
        asm = self.asm
        end = self._frames(block, pos, "render-text")
        while True:
            after = self._chain(block, end)
            if after == end:
                return end
            end = after
            if asm.frames_shape() is None:  # the exception line: the traceback is done
                return end
            after = self._frames(block, end, "render-text")
            if after == end:
                return end
            end = after

    def _frames(self, block: bytes, pos: int, shape: str) -> int:
        """Hand a run of traceback frame lines at `pos` to the open event at once; the run's end."""
        if shape == "render-text":
            # the first space of such a line ends its timestamp and an indent follows it: a line that is
            # no frame (the exception line after the frames) is told without running the pattern
            sp = block.find(b" ", pos)
            if sp < 0 or block[sp + 1:sp + 2] not in b" \t" or sp + 1 >= len(block):
                return pos
            m = _FRAMES_RENDER_TEXT.match(block, pos)
            if m is None:
                return pos
            stamp = m.group(1)
            end = m.end()
            m = _FRAMES_RENDER_TEXT.match(block, end)
            if m is None and self.line_cap >= end - pos and block.find(b"\r", pos, end) < 0:
                # one timestamp on every line (the usual case): cut it off all of them at once
                run = block[pos + len(stamp) + 1:end - 1].replace(b"\n" + stamp + b" ", b"\n")
                lines = run.decode("utf-8", "replace").split("\n")
                self.lineno += len(lines)
                self.asm.extend_frames(lines, self.lineno)
                return end
            while m is not None:
                end = m.end()
                m = _FRAMES_RENDER_TEXT.match(block, end)
        elif shape in ("", "plain", "uvicorn"):
            if block[pos:pos + 1] not in b" \t" or pos >= len(block):
                return pos
            m = _FRAMES_BARE.match(block, pos)
            if m is None:
                return pos
            end = m.end()
        else:
            return pos
        lines = block[pos:end - 1].decode("utf-8", "replace").split("\n")
        cap = self.line_cap
        if shape == "render-text":
            lines = [t[t.index(" ") + 1:] for t in lines]
        if cap < end - pos:
            lines = [t[:cap] for t in lines]
        lines = [t[:-1] if t[-1:] == "\r" else t for t in lines]
        self.lineno += len(lines)
        self.asm.extend_frames(lines, self.lineno)
        return end

    def _chain(self, block: bytes, pos: int) -> int:
        """After a frame run of a Render text export: hand the five lines that chain it to the next
        traceback to the open event at once (`Assembler.chained`), or else its exception line
        (`Assembler.exception_line`); the end of them, or `pos`."""
        m = _CHAIN_RENDER_TEXT.match(block, pos)
        if m is None or m.end() - pos > self.line_cap:
            m = _EXCEPTION_RENDER_TEXT.match(block, pos)
            if m is None or m.end() - pos > self.line_cap:
                return pos
            self.lineno += 1
            self.asm.exception_line(m.group(1).decode("utf-8", "replace"), self.lineno)
            return m.end()
        first = self.lineno + 1
        self.lineno += 5
        self.asm.chained(m.group(2).decode("utf-8", "replace"), m.group(3).decode(),
                          m.group(4).decode("utf-8", "replace"), first)
        return m.end()

    def _service_frames(self, block: bytes, pos: int, stream: str, shape: str) -> int:
        """`_frames` for a Docker Compose service's stream: a run of `web-1  |   File ...` lines."""
        if shape not in ("plain", "uvicorn", "compose") or "/" in stream:
            return pos
        rx = self._service_rx.get(stream)
        if rx is None:
            if len(self._service_rx) > 64:
                self._service_rx.clear()
            rx = self._service_rx[stream] = re.compile(
                rb"(?:" + re.escape(stream.encode()) + rb" +\| [ \t]+\S[^\n]*\n)+")
        m = rx.match(block, pos)
        if m is None:
            return pos
        end = m.end()
        lines = block[pos:end - 1].decode("utf-8", "replace").split("\n")
        lines = [t[t.index("|", len(stream)) + 2:] for t in lines]  # (pm2's "0|app  | ": past the name's own "|")
        cap = self.line_cap
        if cap < end - pos:
            lines = [t[:cap] for t in lines]
        lines = [t[:-1] if t[-1:] == "\r" else t for t in lines]
        self.lineno += len(lines)
        self.asm.extend_frames(lines, self.lineno, stream, "compose")
        return end

    def _stream_needles(self, opened: Mapping[str | None, object]) -> list[bytes]:
        keys = tuple(opened)
        if keys != self._needle_keys:
            self._needle_keys = keys
            self._needles = [k.split("/", 1)[0].encode() for k in keys if k]
        return self._needles

    def _skip(self, block: bytes, a: int, b: int) -> None:
        """Count the lines of block[a:b] without parsing them. The lines passed over between two lines read are one
        run, whatever blocks it was cut into (a run that goes on from the last one counted goes on in its shape)."""
        k = block.count(b"\n", a, b)
        if a < b == len(block) and block[-1:] != b"\n":
            k += 1
        if not k:
            return
        start = self.lineno
        self.lineno += k
        if start == self._run_end:  # (nothing read since the lines counted last: the same run)
            shape = self._run_shape
        else:
            self._end_run()
            shape = None
        self._run_end = self.lineno
        if shape is None:
            shape = _sniff(block, a, b)
            if shape is None:  # blank lines only, so far: the shape of the run's first line that is not blank
                self._run_blanks += k
                self.levels["INFO"] += k
                return
            self._run_shape = shape
            if self._run_blanks:
                self.stats.shapes[shape] += self._run_blanks
                self._run_blanks = 0
        self.stats.shapes[shape] += k
        self._count(block, a, b, k, shape)

    def _end_run(self) -> None:
        """The run of lines passed over has ended: blank lines alone in it are plain ones."""
        if self._run_blanks:
            self.stats.shapes["plain"] += self._run_blanks
            self._run_blanks = 0
        self._run_shape = None

    def _count(self, block: bytes, a: int, b: int, k: int, shape: str, sign: int = 1) -> None:
        """The levels of `k` lines passed over, of a run of `shape` (`sign` -1: taken back, `_uncount`). INFO is the
        lines without a level word, summed over all runs (a line with two of them takes one more off; the sum is
        never below 0, `_finish_stats`): the same sum however the runs were cut."""
        levels = self.levels
        if shape == "render-api" or shape == "json":  # quoted levels (a level field or Render's label)
            api = shape == "render-api"
            warn = sum(scan.count(block, nd, a, b) for nd in (_API_WARN if api else _JSON_WARN))
            debug = sum(scan.count(block, nd, a, b) for nd in (_API_DEBUG if api else _JSON_DEBUG))
        else:
            warn, debug = scan.count_each(block, _BRACKET_LOWER, a, b)
            warn += scan.count(block, _WARN, a, b)
            debug += scan.count(block, _DEBUG, a, b)
        access = block.count(_ACCESS.text, a, b)
        if warn:
            levels["WARNING"] += sign * warn
        if debug:
            levels["DEBUG"] += sign * debug
        if access:
            levels["access"] += sign * access
        levels["INFO"] += sign * (k - warn - debug - access)

    def _uncount(self, text: str) -> None:
        """Take back what `_skip` counted for a line it passed over that is now read (a piece of a split line)."""
        raw = text.encode("utf-8", "replace")
        shape = _sniff(raw, 0, len(raw)) or "plain"
        self.stats.shapes[shape] -= 1
        self._count(raw, 0, len(raw), 1, shape, -1)

    # -- statistics and corruption ----------------------------------------------------------

    def _check_block(self, block: bytes, json_lines: bool) -> None:
        """Count corrupt lines of a block: invalid UTF-8, NUL / control bytes, cut-off JSON lines."""
        base = self.lineno
        self.bad = bad = {}
        where = [0, base + 1]  # last offset looked up, its line

        def mark(off: int, reason: str, data: bytes | str = block) -> None:
            if off < where[0]:
                where[0], where[1] = 0, base + 1
            where[1] += data.count("\n", where[0], off) if isinstance(data, str) else data.count(b"\n", where[0], off)
            where[0] = off
            if where[1] not in bad:
                bad[where[1]] = reason
                self.stats.add_corrupt(where[1], reason)

        clean = block.isascii()
        if not clean:
            try:
                _check_utf8(block)
                clean = True
            except UnicodeDecodeError:
                text = block.decode("utf-8", "replace")
                idx = text.find("\ufffd")
                while idx >= 0:
                    mark(idx, "invalid UTF-8", text)
                    nl = text.find("\n", idx)
                    idx = text.find("\ufffd", nl + 1) if nl >= 0 else -1
                where[0], where[1] = 0, base + 1
        # control bytes are looked for only where the block is not clean text already (ASCII or
        # valid UTF-8 without NUL)
        m = _CTRL.search(block) if not clean or block.find(b"\0") >= 0 else None
        while m:
            off = m.start()
            mark(off, "NUL byte" if block[off] == 0 else "binary data")
            self.stats.not_text += 1  # (a line of legacy-encoded text, invalid UTF-8 only, is text)
            nl = block.find(b"\n", off)
            if nl < 0:
                break
            m = _CTRL.search(block, nl + 1)
        if block[:1] == b"{":  # (the block's first line, as the pattern reads those after a newline)
            end = block.find(b"\n")
            if _CUT_JSON.match(b"\n" + block[:end if end >= 0 else len(block)]):
                mark(0, "JSON line cut off or not one object")
        for m in _CUT_JSON.finditer(block) if json_lines else ():
            mark(m.start() + 1, "JSON line cut off or not one object")

    def _first_ts(self, block: bytes) -> None:
        """The first timestamp of the log's first `STAMP_LINES` lines, looked for in the block's lines among them
        (`_head_left`: blocks of a few lines are looked at one after another)."""
        pos = 0
        while self._head_left > 0:
            self._head_left -= 1
            nl = block.find(b"\n", pos)
            end = len(block) if nl < 0 else nl
            ts = self._stamp(block[pos:min(end, pos + self.line_cap)].decode("utf-8", "replace"))
            if ts is not None:
                self.stats.see_ts(ts)
                self._head_left = 0
                return
            if nl < 0 or nl + 1 == len(block):
                return
            pos = nl + 1

    def _last_ts(self, block: bytes) -> None:
        """The last timestamp among the block's last `STAMP_LINES` lines and its line, kept (`_last_stamp`) until a
        later block has one: at the end, the last timestamp of the log's last `STAMP_LINES` lines, however the log
        was cut into blocks."""
        end = len(block) - 1 if block.endswith(b"\n") else len(block)
        for back in range(STAMP_LINES):
            start = block.rfind(b"\n", 0, end) + 1
            ts = self._stamp(block[start:min(end, start + self.line_cap)].decode("utf-8", "replace"))
            if ts is not None:
                self._last_stamp = (self.lineno - back, ts)
                return
            if start == 0:
                return
            end = start - 1

    def _stamp(self, text: str) -> datetime | None:
        """The timestamp of a line of any shape (a time of day dated by the clock), or None."""
        for ln in parse_line(text):
            if ln.ts:
                return self.clock.at(ln.ts)
        return None

    def _finish_stats(self) -> None:
        stats = self.stats
        stats.lines = self.lineno
        self._end_run()
        if self.levels["INFO"] < 0:  # (lines of more level words than lines)
            self.levels["INFO"] = 0
        stats.levels.update(self.levels)
        for name in [k for k, v in stats.levels.items() if v <= 0]:
            del stats.levels[name]

    # -- lookback for a traceback without an ERROR record before it ---------------------------

    def _lookback(self) -> Iterator[Line]:
        """The lines before the current one, newest first, each parsed only when asked for (callers stop at the
        first line of their stream: a traceback header on every line parses one line back, not 32)."""
        for text in self._texts_before(LOOKBACK_LINES):
            yield from reversed(parse_line(text))

    def _texts_before(self, count: int) -> Iterator[str]:
        """The texts of up to `count` lines before the current one, newest first."""
        block, end = self.block, self.cur
        while count > 0:
            if end <= 0:
                if block is self.prev_tail or not self.prev_tail:
                    break
                block, end = self.prev_tail, len(self.prev_tail)
                continue
            start = block.rfind(b"\n", 0, end - 1) + 1
            raw = block[start:end - 1] if block[end - 1:end] == b"\n" else block[start:end]
            yield raw[: self.line_cap].decode("utf-8", "replace").rstrip("\r")
            count -= 1
            end = start

    def _wrapped_record(self, stream: str | None) -> Line | None:
        """The record that a terminal wrapped over the two lines before the current one, else None: the older
        line has its stream's prefix but reads as no record, the newer one has no prefix at all, and the two
        joined are an error record of that stream (Heroku's CLI at 80 columns: `… app[web.1]: [2021-01-11
        15:02:54 +0000] [10] [E` / `RROR] Exception in worker process`)."""
        texts = list(self._texts_before(2))
        if len(texts) < 2 or not texts[0][:1].strip():
            return None
        newer, older = (parse_line(t) for t in texts)
        if len(newer) != 1 or len(older) != 1 or newer[0].record or newer[0].shape or older[0].record \
                or not older[0].shape or older[0].stream != stream:
            return None
        joined = parse_line(texts[1] + texts[0])
        if len(joined) == 1 and joined[0].record and joined[0].level in ERROR_LEVELS and joined[0].stream == stream:
            return joined[0]
        return None

    # -- a text listed newest first ------------------------------------------------------------

    def _arrange(self, first: bytes, blocks: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
        """`first` and `blocks`, or the text put back in the order it was written when its first lines show it
        listed newest first (`classifier.newest_first`): a text of up to `REORDER_CAP` bytes (a paste, a viewer's copy)
        is reordered in memory, each line's file line kept in `order`; a longer one: `_backward`."""
        held = [first]
        # (a short text: its last line, without its end, comes as a block of its own)
        size = self._hold(held, blocks, lambda size: size < NEWEST_FIRST_HEAD)
        head = b"".join(held)[:NEWEST_FIRST_HEAD] if len(held) > 1 else first[:NEWEST_FIRST_HEAD]
        if not newest_first.is_newest_first(head.decode("utf-8", "replace").split("\n")[:newest_first.HEAD_LINES]):
            return first, _chain_all(held[1:], blocks) if len(held) > 1 else blocks
        # (up to `REORDER_CAP` bytes held; a longer text: `_backward`)
        size = self._hold(held, blocks, lambda size: size <= REORDER_CAP)
        if size > REORDER_CAP:
            return self._backward(held, blocks, head)
        first = b"".join(held)
        lines = first.split(b"\n")
        ended = not lines[-1]
        if ended:
            lines.pop()
        texts, order = newest_first.oldest_first([x.decode("utf-8", "surrogateescape") for x in lines])
        self.order = array("l", (i + 1 for i in order))
        self.stats.warnings.append(NEWEST_FIRST_NOTE)
        return "\n".join(texts).encode("utf-8", "surrogateescape") + (b"\n" if ended else b""), iter(())

    def _hold(self, held: list[bytes], blocks: Iterator[bytes], more: Callable[[int], bool]) -> int:
        """Append blocks to `held` while `more(bytes held)`; the bytes held. The lines of the blocks held count as
        read while the next is taken (`iter_blocks` numbers a line it cuts by them)."""
        pending = self._pending_lines
        size = sum(len(b) for b in held)
        counted = pending + sum(b.count(b"\n") for b in held)
        while more(size):
            self._pending_lines = counted
            block = next(blocks, None)
            if block is None:
                break
            held.append(block)
            size += len(block)
            counted += block.count(b"\n")
        self._pending_lines = pending
        return size

    def _backward(self, held: list[bytes], blocks: Iterator[bytes], head: bytes) -> tuple[bytes, Iterator[bytes]]:
        """A text listed newest first longer than `REORDER_CAP`: a regular file whose bytes are the text's (no
        compression, no margin taken off) is read from its end up (`backward.ReversedFile`, constant memory); any
        other (a pipe, stdin) is read as it is, from the blocks held on."""
        fileno = getattr(self.stream, "fileno", None)
        try:
            fd = fileno() if fileno is not None else -1
            st = os.fstat(fd)
            plain = stat.S_ISREG(st.st_mode) and os.pread(fd, len(held[0][:4096]), 0) == held[0][:4096]
        except (OSError, ValueError, AttributeError):
            plain = False
        if not plain:
            return held[0], _chain_all(held[1:], blocks)
        by_entry = any(newest_first.stamp_key(t) is not None
                       for t in head.decode("utf-8", "replace").split("\n")[:newest_first.HEAD_LINES])
        rev = backward.ReversedFile(fd, st.st_size, by_entry)
        self.order = rev.runs
        self.stats.bytes = 0  # (counted again as the file is read from its end)
        self.stats.warnings.append(NEWEST_FIRST_NOTE)
        again = iter_blocks(rev, self.stats, block_size=self.block_size, line_cap=self.line_cap,
                            lines_read=lambda: self.lineno + self._pending_lines)
        return next(again, b""), again

    def in_file_order(self) -> Iterator[RawEvent]:
        """`events`, their lines the file's when the text was read in another order (`_arrange`): an event spans the
        file's lines from the first to the last of the lines it was read from."""
        for ev in self.events():
            order = self.order
            if order is None or ev.line < 1 or ev.end_line > len(order):
                yield ev
                continue
            lines = [order[k - 1] for k in range(ev.line, ev.end_line + 1)]
            yield dataclasses.replace(ev, line=min(lines), end_line=max(lines))

    # -- a log tool's CSV export ---------------------------------------------------------------

    def _csv(self, blocks: Iterator[bytes], cols: CsvColumns) -> Iterator[RawEvent]:
        """Events of a CSV export (`lines.csv_header`): each row's message cell read as lines (`csv_row_lines`), a
        quoted cell's lines on the file's lines that hold them (a traceback in one cell is one event). The log tools
        export newest first (Datadog's Log Explorer; Logs Insights' default `sort @timestamp desc`): an export whose
        first row is not older than its last is read from its last row up (its events' lines as the file's)."""
        stats = self.stats
        reader = csv.reader(_text_lines(blocks))
        # (the row's first line, its lines and theirs); held up to `CSV_ROWS`
        rows: list[tuple[int, list[tuple[int, Line]]]] = []
        try:
            _csv_next(reader)  # (the header)
        except (StopIteration, csv.Error):
            return
        done = reader.line_num
        while True:
            try:
                row = _csv_next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # (a NUL byte, a cell past the limit): that row is lost
                stats.add_corrupt(done + 1, f"CSV row not read: {exc}")
                done = reader.line_num
                continue
            first, done = done + 1, reader.line_num
            if not row:
                continue
            lines = list(csv_row_lines(row, cols))
            if lines:
                ln = lines[0][1]
                self.levels[ln.level or "INFO"] += 1
                stats.shapes["csv"] += 1
                if ln.ts:
                    stats.see_ts(parse_ts(ln.ts))
            rows.append((first, [(first + off, x) for off, x in lines]))
            if len(rows) > CSV_ROWS:  # (too long an export to hold: read in the file's order from here)
                yield from self._csv_feed(rows)
                rows = []
                cols = cols._replace(time=-1)
        self.lineno = done
        stamps = [parse_ts(r[1][0][1].ts) for r in (rows[:1] + rows[-1:]) if r[1] and r[1][0][1].ts] \
            if cols.time >= 0 and len(rows) > 1 else []
        head_ts, tail_ts = stamps if len(stamps) == 2 else (None, None)  # (the first row's, the last row's)
        if head_ts is not None and tail_ts is not None and head_ts >= tail_ts:
            rows.reverse()
            for row_lines in rows:
                row_lines[1].reverse()
            yield from self._csv_feed(rows, newest_first=True)
        else:
            yield from self._csv_feed(rows)
        self.asm.finish()
        yield from self._release(self.asm.out, final=True)

    def _csv_feed(self, rows: list[tuple[int, list[tuple[int, Line]]]],
                  newest_first: bool = False) -> Iterator[RawEvent]:
        """Feed the rows' lines to the assembler; read newest first, each event's first and last lines swapped
        back (it was read from its last line up) and the events released at the end in the file's order."""
        asm = self.asm
        for _, lines in rows:
            for line, ln in lines:
                asm.feed(line, ln, line)
            if asm.out and not newest_first:
                yield from self._release(asm.out)
        if newest_first:
            asm.finish()
            asm.out[:] = sorted((dataclasses.replace(ev, line=min(ev.line, ev.end_line),
                                                     end_line=max(ev.line, ev.end_line)) for ev in asm.out),
                                key=lambda ev: ev.line)
            yield from self._release(asm.out, final=True)

    # -- a pretty-printed JSON document (an API page or an array of entries) -------------------

    @staticmethod
    def _looks_like_document(block: bytes) -> bool:
        head = block.lstrip()
        end = head.find(b"\n")
        first = head[: end if end >= 0 else len(head)].rstrip()
        if first in (b"[", b"{"):
            return True
        return first.startswith(b"{") and not first.endswith(b"}") \
            and first[1:].lstrip().startswith(tuple(f'"{k}"'.encode() for k in DOCUMENT_ARRAYS))

    def _documents(self, first: bytes, blocks: Iterator[bytes]) -> Generator[RawEvent, None, bytes | None]:
        """Events of a JSON document (`_document`) decoded from memory `DOCUMENT_CAP` bytes at a time: a window's
        last entry cut off goes in front of the next window (read as a record of its own, an array's entry too;
        the array's end then stops the document: read as lines). Returns None when all of the input was one, else
        the bytes from which the rest is read as lines (an entry longer than a window, a document broken)."""
        carry = first
        while True:
            data = [carry]
            size = len(carry)
            self._pending_lines = carry.count(b"\n")  # read ahead, not counted yet
            more = False
            for b in blocks:
                data.append(b)
                size += len(b)
                self._pending_lines += b.count(b"\n")
                if size > len(carry) + DOCUMENT_CAP:  # (an entry cut off by the last window, and as much again)
                    more = True
                    break
            self._pending_lines = 0
            window = b"".join(data)
            del data
            rest = yield from self._document(window)
            if rest == 0 and not more and (yield from self._cut_document(window)):
                return None
            if rest == 0:  # no entry decodes there: lines
                return window
            if rest is None and not more:
                self.lineno += window.count(b"\n") + (0 if window.endswith(b"\n") or not window else 1)
                self.asm.finish()
                yield from self._release(self.asm.out, final=True)
                return None
            rest = len(window) if rest is None else rest
            self.lineno += window.count(b"\n", 0, rest)
            if not more:  # a document, then lines that are not one: read from where it stopped decoding
                if rest == len(window) and not window.endswith(b"\n"):
                    self.lineno += 1  # (cut after an entry of its last line: nothing left to count that line)
                return window[rest:]
            carry = window[rest:]

    def _cut_document(self, data: bytes) -> Generator[RawEvent, None, bool]:
        """The record of a whole input that is one pretty-printed JSON object cut before its end (a paste cut
        inside it: `lines.json_cut_document`), on its first line to the input's last; False when it is none."""
        text = data.decode("utf-8", "replace")
        obj = json_cut_document(text)
        if obj is None or not RECORD_KEYS & obj.keys():
            return False
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        at = self.lineno + 1 + text.count("\n", 0, len(text) - len(text.lstrip()))
        for ln in entry_lines(obj, None):
            self.asm.feed(at, ln, self.lineno + lines)
            if ln.ts:
                self.stats.see_ts(parse_ts(ln.ts))
        self.lineno += lines
        self.asm.finish()
        yield from self._release(self.asm.out, final=True)
        return True

    def _document(self, data: bytes) -> Generator[RawEvent, None, int | None]:
        """Events of a whole JSON document: an array of entries, objects that wrap one (`DOCUMENT_ARRAYS`:
        API pages, exports), or records pretty-printed one after another (`jq .`'s output), read one entry at
        a time, numbered on from `self.lineno`. Returns None when all of `data` was one; else the byte offset from
        which the rest is to be read as lines (0: no document at all, nothing yielded)."""
        text = data.decode("utf-8", "replace")
        stats, asm = self.stats, self.asm
        line, last_pos, started = self.lineno + 1, 0, False
        items = _document_items(text)
        while True:
            try:
                start, end, obj, key = next(items)
            except StopIteration:
                break
            except _NotDocument as exc:
                # read as lines from where decoding stopped (not its line's start: entries before it on its line
                # were read)
                return _byte_offset(data, text, exc.pos) if started else 0
            started = True
            if start >= last_pos:
                line += text.count("\n", last_pos, start)
            else:  # (an object after the entries of its own list: the record they were a field of)
                line -= text.count("\n", start, last_pos)
            end_line = line + text.count("\n", start, end)
            last_pos = start
            if not isinstance(obj, dict):
                stats.add_corrupt(line, "JSON entry is not an object")
                continue
            at = line
            if any(isinstance(obj.get(k), dict) for k in ENVELOPES):
                # a search hit's (a platform entry's) record stands on its payload's line, not on the hit's `{`
                m = _PAYLOAD.search(text, start, end)
                if m is not None:
                    at = line + text.count("\n", start, m.end())
            for ln in entry_lines(obj, key):
                asm.feed(at, ln, end_line)
                if ln.ts:
                    stats.see_ts(parse_ts(ln.ts))
            if asm.out:
                yield from self._release(asm.out)
        return None


Item = tuple[int, int, object, str | None]  # an entry of a JSON document: start, end, value, the array's key


class _NotDocument(Exception):  # noqa: N818  (a signal: where a JSON document stops decoding)
    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


def _document_items(text: str) -> Iterator[Item]:
    """The entries of a JSON document (see `_Reader._document`), one at a time: the values of a top-level
    array, of an object's array under a `DOCUMENT_ARRAYS` key (an array of objects, before any key of a
    record), or an object of its own (a record). Raises _NotDocument(position of the top-level value that
    does not decode) where the text stops being one."""
    dec = json.JSONDecoder()
    n = len(text)
    pos = _skip_space(text, 0)
    while pos < n:
        top = pos
        try:
            if text[pos] == "[":
                pos = yield from _array_items(text, pos + 1, dec, None)
            elif text[pos] == "{":
                pos = yield from _object_items(text, pos, dec)
            else:
                raise ValueError("not an array or an object")
        except (ValueError, IndexError, RecursionError) as exc:
            raise _NotDocument(top) from exc
        pos = _skip_space(text, pos)


def _skip_space(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n,":
        pos += 1
    return pos


def _ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _array_items(text: str, pos: int, dec: json.JSONDecoder, key: str | None) -> Generator[Item, None, int]:
    """The values of the array whose `[` is just before `pos`; returns the position after its `]`."""
    while True:
        try:
            pos = _skip_space(text, pos)
            if text[pos] == "]":
                return pos + 1
            obj, end = dec.raw_decode(text, pos)
        except (ValueError, IndexError, RecursionError) as exc:
            raise _NotDocument(pos) from exc  # the values before it were entries
        yield pos, end, obj, key
        pos = end


def _object_items(text: str, start: int, dec: json.JSONDecoder) -> Generator[Item, None, int]:
    """The entries of the top-level object at `start`: those of its wrapped array, or the object itself (after
    them too when it has a record's keys: the array was a field of a record); returns the position after its
    `}`. Its pairs are decoded one by one, so that a wrapped array of any length is never held whole."""
    obj: dict[str, object] = {}
    wrapped = False
    pos = start + 1
    try:
        pos = _ws(text, pos)
        while text[pos] != "}":
            key, pos = dec.raw_decode(text, pos)
            if not isinstance(key, str):
                raise ValueError("an object's key is not a string")
            pos = _ws(text, pos)
            if text[pos] != ":":
                raise ValueError("':' expected")
            pos = _ws(text, pos + 1)
            if not wrapped and key in DOCUMENT_ARRAYS and text[pos] == "[" and text[_ws(text, pos + 1)] in "{]" \
                    and not RECORD_KEYS & obj.keys():
                pos = yield from _array_items(text, pos + 1, dec, key)
                wrapped = True
            else:
                obj[key], pos = dec.raw_decode(text, pos)
            pos = _ws(text, pos)
            if text[pos] == ",":
                pos = _ws(text, pos + 1)
            elif text[pos] != "}":
                raise ValueError("',' or '}' expected")
    except (ValueError, IndexError, RecursionError) as exc:
        raise _NotDocument(pos if wrapped else start) from exc  # after its entries, or the object as lines
    pos += 1
    if not wrapped or RECORD_KEYS & obj.keys():
        # a record of its own; one whose list came before its own keys (`sort_keys`: "entries" < "event") too
        yield start, pos, obj, None
    return pos


def _byte_offset(data: bytes, text: str, pos: int) -> int:
    """The offset in `data` of character `pos` of `text`, `data` decoded with errors replaced (the newlines are
    the same: found from the start of its line)."""
    at = text.rfind("\n", 0, pos) + 1
    start = _line_offset(data, text.count("\n", 0, at))
    head = text[at:pos].encode()
    if data.startswith(head, start):
        return start + len(head)
    # invalid UTF-8 before it on its line (a U+FFFD each): the longest prefix of the line's bytes that decodes to no
    # more characters than come before it (a longer one holds some of its bytes: one character more at least)
    end = data.find(b"\n", start)
    want = pos - at
    lo, hi = 0, (len(data) if end < 0 else end) - start + 1  # the first length that decodes to more, or past the line
    while lo < hi:
        mid = (lo + hi) // 2
        if len(data[start:start + mid].decode("utf-8", "replace")) > want:
            hi = mid
        else:
            lo = mid + 1
    return start + lo - 1


def _line_offset(data: bytes, lines: int) -> int:
    """The byte offset of line `lines` + 1 of `data` (after its `lines`-th newline)."""
    pos = 0
    for _ in range(lines):
        pos = data.index(b"\n", pos) + 1
    return pos


def _tail(data: bytes) -> bytes:
    """The whole lines in the last `TAIL_BYTES` of `data` (the last block read, and the ones before when blocks
    are small: stdin, a follow), kept for the lookback across a block's start: a line cut at the front would
    be read from its middle (a `WARNING:` inside a long line taken for the record a traceback belongs to)."""
    if len(data) <= TAIL_BYTES:
        return data
    tail = data[-TAIL_BYTES:]
    if data[-TAIL_BYTES - 1:-TAIL_BYTES] == b"\n":
        return tail
    nl = tail.find(b"\n")
    return b"" if nl < 0 else tail[nl + 1:]


def _text_lines(blocks: Iterator[bytes]) -> Iterator[str]:
    """The lines of `blocks` (whole lines each), decoded, their line ends kept (for `csv.reader`)."""
    for block in blocks:
        yield from block.decode("utf-8", "replace").splitlines(keepends=True)


def _csv_next(reader: Iterator[list[str]]) -> list[str]:
    """The next row of `reader`, a cell as long as a log's line may be (a traceback in one cell: `csv`'s default
    limit is 128 KB). The limit is the process's: it is raised for this row only and put back, so that nothing
    else in the process (an app's own `csv` reading, which imports the reader) sees it changed."""
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, DOCUMENT_CAP))
    try:
        return next(reader)
    finally:
        csv.field_size_limit(old)


def _chain_all(held: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from held
    yield from rest


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def first_timestamp(src: ByteStream, head: int = 64 << 10) -> datetime | None:
    """The first timestamp of the log in `src` (plain or compressed, as `read_events` reads it) in its first
    `head` bytes of text (a file cut mid-traceback by `copytruncate` starts with lines without one), dated as
    the reader dates it; None when they hold none. Raises UnreadableInput (no path) for a compression
    without a codec here."""
    from mosaic_diag.logs.source import _ANSI, Input

    clock = Clock(file_mtime(src))
    block = next(Input(src, head).chunks(), b"")[:head]
    if b"\x1b" in block:
        block = _ANSI.sub(b"", block)
    for raw in block.split(b"\n"):
        for ln in parse_line(raw[:LINE_CAP].decode("utf-8", "replace")):
            if ln.ts:
                ts = clock.at(ln.ts)
                if ts is not None:
                    return ts
    return None


def read_events(src: ByteStream, stats: ReadStats, *, name: str = "-", block_size: int = BLOCK_SIZE,
                line_cap: int = LINE_CAP, horizon: int = 200, carry: pieces.Carry | None = None,
                handover: Handover | None = None) -> Iterator[RawEvent]:
    """The events of the log in `src` (a binary stream, plain or gzip), in the order they close.

    `stats` is filled as reading goes (complete when the iterator is exhausted). `name` is only
    used in messages. `block_size` / `line_cap` / `horizon` (lines an open event of one instance
    waits for that instance's next line) are tuning knobs; tests use a tiny `block_size`.
    `carry`: `src` is one pass over a live stream (`logs.follow.segments`): a line a container runtime split
    whose last piece has not come yet is handed on to the next pass (its line numbered from this one's
    end, 0 and below), not read as it is.
    `handover`: `src` is one of several files read as one log, one after another (`Handover`): an event still open
    at the end of the file before goes on in this one's leading lines (its lines 0 and below: the file before's).
    """
    return _named(_Reader(src, stats, block_size, line_cap, horizon, carry, handover).in_file_order(), name)


class NotTextLog(UnreadableInput):
    """An input whose lines are mostly not text and that gave no event (a binary file): not a log, so its
    "no error events" would be an all-clear on something never judged."""


def not_a_text_log(stats: ReadStats, events_read: bool) -> str | None:
    """Why an input read whole is not a text log (more than half of its lines are not text, `ReadStats.not_text`:
    a NUL or another control byte in them, and it gave no event), or None. A log with a few such lines, one in a
    legacy encoding (invalid UTF-8 but no control bytes), or one with an event read, is a log."""
    if events_read or stats.not_text * 2 <= stats.lines:
        return None
    return f"not a text log ({stats.not_text:,} of {stats.lines:,} lines are not text)"


def text_log(events: Iterator[RawEvent], stats: ReadStats, name: str) -> Iterator[RawEvent]:
    """`events`; NotTextLog naming the input when it is not a text log (`not_a_text_log`)."""
    read = False
    for event in events:
        read = True
        yield event
    why = not_a_text_log(stats, read)
    if why is not None:
        raise NotTextLog(f"{why}; nothing was judged", path="<stdin>" if name == "-" else name)


def _named(events: Iterator[RawEvent], name: str) -> Iterator[RawEvent]:
    """`events`; input that cannot be read at all (a compression without a codec here) is a one-line
    error naming the input (events carry line numbers; only this error needs the name)."""
    try:
        yield from events
    except UnreadableInput as exc:
        if exc.path is None:
            raise UnreadableInput(str(exc), path="<stdin>" if name == "-" else name) from None
        raise
