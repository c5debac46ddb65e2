"""Assemble parsed lines into events: a record with its traceback, chained tracebacks, per instance.

Each stream (a Render instance, a syslog host/app, or the one stream of a plain file) has at most
one open event. A line of that stream either extends it (a traceback line, a chained-exception
separator, a continuation of the record's or the exception's message) or closes it and is looked
at afresh. A line without a record prefix of its stream continues the open record or exception
message (psycopg2's DETAIL:, httpx's "For more information check: …", a pasted multi-line
``str(e)``), up to `MAX_DETAIL_LINES`: a runaway unprefixed block does not swallow a log.
A traceback may start without its header (frames, then ``module.Type: message``) or with a
header glued to the end of another line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from mosaic_diag.classifier.tracebacks import (
    IPY_ARROW,
    IPY_RULE,
    MAX_STAMP,
    MIN_WRAP_WIDTH,
    ipython_header,
    is_ipython_frame,
    join_wrapped_frame,
    looks_like_exception_line,
    stamp_shape,
)
from mosaic_diag.logs.clock import Clock
from mosaic_diag.logs.lines import (
    ERROR_LEVELS,
    PYTEST_BANNER,
    PYTEST_E,
    PYTEST_LOCATION,
    SEPARATORS,
    TRACEBACK_HEADER,
    Line,
    flattened_traceback_at,
    in_group_gutter,
    is_frame,
    is_group_end,
    is_rich_header,
    is_rich_record,
    json_message,
    json_record,
    json_rejoined,
    pytest_key,
    rich_join,
    traceback_at,
)
from mosaic_diag.logs.model import RawEvent, ReadStats
from mosaic_diag.platform.lazyre import LazyPattern

# states of an open event (_RICH: inside a Rich traceback box; _RICH_END: after it, before its exception line; _PYTEST:
# inside a failure section of pytest's report; _IPY: inside an IPython traceback's frames)
_REC, _TB, _EXC, _EXC_BLANK, _CHAIN, _RICH, _RICH_END, _PYTEST, _IPY = range(9)
MAX_STREAMS = 4096  # streams whose last record's logger is remembered (`Assembler.loggerless`)
MAX_PYTEST_TESTS = 4096  # failure sections' tests remembered (their summary lines are no events of their own)
MAX_DETAIL_LINES = 50
MAX_TRACEBACK_LINES = 2000
# a traceback that outgrows MAX_TRACEBACK_LINES (Python's 1000 frames of a mutual recursion, 3000 lines) keeps its first
# lines (its header, the outer frames) and its last ones (the frames nearest the error, the exception line, a chain's
# next traceback): the lines between them go (`_Open.trim`)
_TB_HEAD = MAX_TRACEBACK_LINES // 4
_TB_TAIL = MAX_TRACEBACK_LINES // 2
MAX_BLANKS = 3
# Python's own line before an uncaught exception's traceback when no logging prints it: threading's excepthook
# (`Exception in thread T (f):`), the unraisable hook (`Exception ignored in: <obj>`; 3.13+ `Exception ignored while
# calling deallocator <f>:`), atexit (`Error in atexit._run_exitfuncs:`, Python 2's `Error in sys.exitfunc:`) and
# asyncio's default handler without logging configured (`Task exception was never retrieved`, then `future: <Task …>`)
# and multiprocessing's child process that ends in an exception (`Process Process-1:`, `Process SpawnProcess-2:`: its
# name, written to stderr before the traceback); a thread's name alone (`Thread-8:`) is the rest of threading's line
# when two threads' lines interleave (`Exception in thread Exception in thread Thread-12:`, …, `Thread-8:`)
_PY_INTRO = LazyPattern(r"Exception in thread \S.*:|Exception ignored (?:in: .+|\S.*:)"
                        r"|Error in (?:atexit\._run_exitfuncs|sys\.exitfunc):"
                        r"|(?:Task|Future) exception was never retrieved|Process \S.*:"
                        r"|(?:MainThread|(?:Thread|Dummy)-\d+(?: \([^()\s]+\))?):")
_INTRO_INITIALS = "EFTPMD"
# Django's record of a request's uncaught exception (`django.request`, `log_response`): its default console handler
# prints the message alone, its traceback under it; lines of no record (the app's prints to stdout, which a container's
# log or a terminal merges in line by line) may come between them, up to `_MAX_DJANGO_BETWEEN`
_DJANGO_500 = LazyPattern(r"Internal Server Error: /\S*")
_MAX_DJANGO_BETWEEN = 4
# a record in a format with a time stamp and no level (`[%(asctime)s] %(message)s`, quart's; `%(asctime)s %(message)s`,
# Streamlit's: read as a stamp before a line, `Line.ts`): the bracketed form's stamp and message
_MAX_BOX_MESSAGE = 12  # the lines of an exception's message above Streamlit's `Traceback:` (`Assembler._error_box`)
_BRACKET_STAMPED = LazyPattern(r"\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?\] +(\S.*)")
_ASYNCIO_FUTURE = LazyPattern(r"future: <(?:Task|Future) ")
# faulthandler's dump (`PYTHONFAULTHANDLER`, a crash in a C extension): `Fatal Python error: Segmentation fault`, a
# blank, then a thread's frames under `Current thread 0x… (most recent call first):` (`Thread 0x…`: the other threads)
# the most lines of a cut frame (its source line, 3.11+'s markers, 3.13's `...<N lines>...` call) `_cut_source` takes
_MAX_CUT_SOURCE = 12
_FAULT_INTRO = LazyPattern(r"(?:Fatal )?Python error: \S")
_FAULT_THREAD = LazyPattern(r"(?:Current thread|Thread) 0x[0-9a-fA-F]+ \(most recent call first\):")
# the exception line under a Rich box that came without its top edge: only a type that names itself an error
_RICH_EXC = LazyPattern(r"[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure|Warning)(?::|$)")
# a tool's header of a traceback it printed after the frames it kept (Flyte's `Filtered traceback (most recent call
# last):`): one word before Python's header, lower-cased
_TOOL_HEADER = LazyPattern(r"[A-Z][a-z]+ traceback \(most recent call last\):")
# an exception line's start: a (qualified) class name, then ":" or the line's end (`gunicorn.errors.HaltServer: …`)
_EXC_NAME = LazyPattern(r"(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?::|$)")
# an HTTP server's line for a request it answered (Django's `runserver`: `"GET / HTTP/1.1" 500 145`, maybe behind its
# `[07/Aug/2023 10:00:00] ` stamp): the server's next record, no line of an exception's message
_REQUEST_DONE = LazyPattern(r'(?:\[[^\]\n]{8,40}\] )?"[A-Z]{3,7} \S+ HTTP/\d(?:\.\d)?" \d{3} ')


def _wrapped_intro(line: str, rest: str) -> bool:
    """Whether `rest` is the rest of Python's line before a traceback (`line`) that a terminal broke at its width
    (`Exception ignored in: <bound method C.__del__ of <mod.C object at 0x…>>` at 80 columns): `line` is as wide as
    a terminal and leaves an object's repr open (`<` without its `>`), which `rest` closes."""
    if len(line) < MIN_WRAP_WIDTH or not rest or rest[0] in " \t":
        return False
    opened = line.count("<") - line.count(">")
    return opened > 0 and rest.count(">") - rest.count("<") == opened


def _entries_apart(tb: list[str]) -> bool:
    """A header-less traceback (a cut paste) whose entries are apart by a blank so far: its first frame's entry, then
    each frame after a blank (`"\\n".join(traceback.format_exception(…))`, each entry already ending in a newline, as
    Django's old error reports printed it). With its header it is loguru's case (a blank after the header)."""
    if not tb or not is_frame(tb[0]):
        return False
    return all(not tb[i - 1] for i in range(1, len(tb)) if is_frame(tb[i]))


def _double_spaced(op: _Open) -> bool:
    """A traceback pasted double-spaced, a blank after each of its lines (a web UI's copy; `"\\n".join` of lines that
    keep their ends): no two of its lines so far are next to each other, and a blank parts a frame line from its own
    source line (indented, no frame), which neither Python nor loguru prints. Its exception message's lines are then
    apart by one blank too (`Assembler._extend_line`). Once found, kept (`op.spaced`)."""
    if op.spaced:
        return True
    tb = op.tb
    parted = False
    for i in range(1, len(tb)):
        if tb[i] and tb[i - 1]:
            return False
        if not parted and i >= 2 and not tb[i - 1] and tb[i][:1] in " \t" and is_frame(tb[i - 2]) \
                and tb[i].strip() and not is_frame(tb[i]):
            parted = True
    op.spaced = parted
    return parted


_MAX_CUT_CAUSE = 12  # lines looked back from a chain separator for the exception line of a cause cut off above it


# libpq's lines after an error's message (psycopg2 prints them under its exception line): a paste that starts at one
# of them was cut inside a cause's message, its exception line taken off
_LIBPQ_MORE = LazyPattern(r"(?:DETAIL|HINT|CONTEXT|WHERE|STATEMENT|LINE \d+): ")


# libpq writes its messages `SEVERITY:  text`, two spaces after the colon (uvicorn pads its levels otherwise): a bare
# `FATAL:  ` line right after a line that carries such a message is the next connection attempt's (libpq < 14 prints
# one line per attempt: SSL, then no SSL; several hosts), not a record of its own
_LIBPQ_SEVERITY = LazyPattern(r"(?:ERROR|FATAL|PANIC):  \S")
_LIBPQ_SEVERITY_IN = LazyPattern(r"(?:^|\s)(?:ERROR|FATAL|PANIC):  \S")


def _libpq_next_attempt(op: _Open, ln: Line) -> bool:
    """`ln` is libpq's message of another connection attempt, under the message of the one before it in `op`."""
    if op.state == _EXC:
        before = op.tb[-1] if op.tb and not op.blanks else None
    elif op.state == _REC and not op.blanks:
        before = op.detail[-1] if op.detail else op.message
    else:
        return False
    return before is not None and _LIBPQ_SEVERITY.match(ln.text) is not None \
        and _LIBPQ_SEVERITY_IN.search(before) is not None


def _is_cause_line(t: str) -> bool:
    """An exception line (`module.Type: message`) whose type is no all-capitals word (libpq's `DETAIL:`, `HINT:`)."""
    m = _EXC_NAME.match(t) if t[:1].isalpha() or t[:1] == "_" else None
    return m is not None and not m.group(0).rstrip(":").isupper()


# a traceback logged one line per record (`for line in tb.splitlines(): log.error(line)`; uvicorn's formatter strips
# the lines' indentation): the line that follows its last frame's source, or a frame, is its exception line when it
# reads as one (a dotted name, then ":" or the line's end; a lower-case type, `socket.gaierror`, too)
_REC_EXC = LazyPattern(r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?::|$)")
_REPEATED = "[Previous line repeated "  # (a recursion's frames, as Python folds them)


def _frame_record(s: str) -> bool:
    """A record's message (stripped) that is a traceback's frame line: whole (`File "…", line N, in f`), or cut after
    its file by a terminal's wrap (`File "…", `: the rest on the next, unprefixed line)."""
    return s[:6] == 'File "' and ('", line ' in s or s.endswith('",'))


def _starts_record_traceback(msg: str) -> bool:
    """An error record's message that starts a traceback logged one line per record: its header alone, or a frame (a
    paste cut above it)."""
    s = msg.strip()
    return s == TRACEBACK_HEADER or _frame_record(s)


# a frame line that ends a record's message (whole, or cut after its file by a terminal's wrap): nothing after it
_GLUED_FRAME = LazyPattern(r'File "[^"]+",(?: line \d+(?:, in [^\s"]+)?)?[ \t]*$')


def _glued_record_traceback(msg: str) -> int:
    """Where the first line of a traceback logged one line per record starts inside an error record's message that
    begins with other text (`Request failed: Traceback (most recent call last):`, or a frame: `Request failed:   File
    "…", line 3, in f`, a paste cut above it): the header glued to its end, or a frame after a blank; -1 for none."""
    at = traceback_at(msg)
    if at > 0:
        return at
    at = msg.find('File "', 1)
    return at if at > 0 and msg[at - 1] in " \t" and _GLUED_FRAME.match(msg, at) is not None else -1


# IPython's traceback (`%xmode Context` / `Verbose`, Jupyter's, Spyder's, Colab's): a rule of dashes, a header that
# names the type (`KeyError      Traceback (most recent call last)`), then each frame's line (`Cell In[1], line 4`,
# `File ~/…/mod.py:6, in lookup(d, key)`; IPython 7's `/…/mod.py in lookup(d, key)`, `<ipython-input-1-…> in <module>`)
# with its source around an arrow (`----> 6     return d[key]`) and its values (Verbose), a blank between frames, and
# the exception line last
_IPY_BLANKS = 2  # blanks in a row inside its frames (one between frames; a mail client's copy may double it)
_IPY_CONTEXT = LazyPattern(r"\s+(?:\d+(?: |$)|\(\.\.\.\))")  # a source line around the arrow, or IPython's `(...)`
_IPY_CUT_LINES = 12  # lines looked back from an arrow that starts no event for the frame line it is under
# lines after a frame's or an arrow's line inside its frames: its source and values, the rest of a line a terminal or a
# mail client wrapped, a value's repr over lines under Verbose's `        df = …` (a DataFrame's rows, a wide one's in
# sections); no more (a paste cut before its exception line, then another program's lines, does not swallow them)
_IPY_OTHER_LINES = 200


def _ipy_other(t: str) -> bool:
    """A line an IPython traceback took as other text (not a frame's, an arrow's, a source or value line)."""
    c = t[:1]
    return c not in ("", " ", "\t") and not (c == "-" and IPY_ARROW.match(t)) and not is_ipython_frame(t)


def _ipython_exception(t: str, header: str) -> bool:
    """`t` (unindented) is the exception line of an IPython traceback whose header named `header` ("" for a paste
    cut above its header): that type's line (qualified or not), or one that reads as an exception line."""
    m = _EXC_NAME.match(t)
    if m is None:
        return False
    name = m.group().rstrip(":")
    if header and (name == header or name.rsplit(".", 1)[-1] == header.rsplit(".", 1)[-1]):
        return True
    return looks_like_exception_line(t) is not None


_LOGURU_NOTES = frozenset({"│ ", "└ ", "| ", "->"})  # how loguru's notes of a frame's values start

# a stamp in front of every line of a traceback that varies line by line (`[10:00:01] `, `10:00:01.123 `, `[2024/01/05
# 10:00:01] `, Apache's `[Mon Jun 29 06:14:08.188280 2020] [wsgi:error] [pid 1] `): the text before a header glued to
# the end of a line, when it holds a time of day (`stamp_shape`); the lines after it whose start has its shape go on
# with the traceback without it
_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")


def _stamped_frame(t: str) -> int:
    """Where a frame line starts behind a stamp (`[10:00:01]   File "…", line 3, in f`: a stamped paste whose header was
    cut off), the stamp holding a time of day (`stamp_shape`); -1 for none."""
    at = t.find('  File "', 1, MAX_STAMP + 2) if 'File "' in t else -1
    return at if at > 0 and stamp_shape(t[:at]) is not None and is_frame(t[at:]) else -1


def _is_box_side(t: str) -> bool:
    """A line inside a Rich box: `│ … │`, maybe indented."""
    s = t.strip()
    return len(s) > 2 and s[0] == "│" and s[-1] == "│"


class _Open:
    __slots__ = ("line", "end", "ts", "shape", "stream", "level", "logger", "message", "tb", "detail",
                 "state", "emit", "seen", "blanks", "exc_at", "cont", "headless", "via", "first", "own_tb", "raw",
                 "more", "fault", "runs", "recs", "src", "lead", "stamp", "wrapped", "ipy", "spaced", "bare", "peeled",
                 "site")

    def __init__(self, line: int, end: int, ln: Line, state: int, emit: bool, message: str | None) -> None:
        self.line = line
        self.end = end
        self.ts: datetime | None = None  # set by the assembler (Assembler._when)
        self.shape = ln.shape
        self.stream = ln.stream
        self.level = ln.level
        self.logger = ln.logger
        self.message = message
        self.tb: list[str] = [ln.text] if state == _TB else []
        self.detail: list[str] = []
        self.state = state
        self.emit = emit
        self.seen = end
        self.blanks = 0
        self.exc_at = -1  # index in tb of the last exception line
        self.cont = 0     # continuation lines taken since the last record / exception line
        self.headless = False  # a Rich box whose top (and header) the text does not have, or stamped frames (no header)
        self.via = ln.via      # the logger of the tool's record it came inside (Prefect's), or None
        # a RichHandler record's line (its columns), behind a platform's prefix too (Render's timestamp)
        self.first = ln.text if ln.shape == "rich" or (
            ln.record and ln.text[:1] in " [" and is_rich_record(ln.text)) else None
        self.own_tb: str | None = None  # a JSON record's traceback field: the event's, whatever follows it
        self.raw = ln.raw  # a JSON record that is not one whole line: that line, and the lines after it (`more`)
        self.more: list[str] = []
        self.fault = False  # faulthandler's dump: its threads' frames, blanks and thread headers, no exception line
        self.runs: list[list[str]] = []  # a pytest failure section's runs of `E` lines, each led by its exception type
        self.recs = 0  # a traceback logged one line per record (`Assembler._extend_records`): its records so far
        self.lead: str | None = None  # the message of the record that opened such a traceback (None: attached)
        self.src = -1  # of such a traceback: -1 no frame yet, 0 after a frame line, 1 after its source line
        self.stamp: str | None = None  # the shape of a stamp that varies in front of each line (`stamp_shape`)
        self.wrapped = -1  # len(tb) when its last line was joined to the rest a terminal broke off (once a line)
        self.ipy: str | None = None  # an IPython traceback's: the type its last header named ("" none: cut above it)
        self.spaced = False  # a traceback pasted double-spaced (`_double_spaced`)
        self.bare = False  # its exception line had no time stamp (`Line.ts`) of its own
        self.peeled = False  # a line after its header carried the header's stamp (`stamp`), taken off to read it
        self.site = ln.kind == "python_site"  # Python's site.py line: the exception's line under it is its only one

    def exception(self, text: str, end: int) -> None:
        """`text` is the exception line of the traceback so far (its blanks before it kept)."""
        self.state = _EXC
        self.exc_at = len(self.tb) + self.blanks
        self.cont = 0
        self.add(text, end)

    def add(self, text: str, end: int) -> None:
        if self.blanks:
            self.tb.extend([""] * self.blanks)
            self.blanks = 0
        if len(self.tb) >= MAX_TRACEBACK_LINES:
            self.trim()
        self.tb.append(text)
        self.end = end

    def trim(self) -> None:
        """Drop the lines of `tb` between its first `_TB_HEAD` and its last `_TB_TAIL` (the exception line the
        event's message is taken from kept: a chain's cause whose next traceback is long), the indexes into it
        moved along."""
        tb = self.tb
        cut = len(tb) - _TB_TAIL
        if cut <= _TB_HEAD:
            return
        kept = [tb[self.exc_at]] if _TB_HEAD <= self.exc_at < cut else []
        tb[_TB_HEAD:cut] = kept
        gone = cut - _TB_HEAD - len(kept)
        if self.exc_at >= cut:
            self.exc_at -= gone
        elif self.exc_at >= _TB_HEAD:
            self.exc_at = _TB_HEAD
        self.wrapped = self.wrapped - gone if self.wrapped > cut else -1


def _give_back(op: _Open, t: str) -> bool:
    """Take off the end of `op` the lines the event `t` starts (a traceback's header) begins with (`_ipython_rule`,
    `_python_intro`: IPython's rule above its header, Python's line before a traceback, asyncio's two) when `op` took
    them as other text (`op.cont` of them in a row: an exception's message, the lines under IPython's frames); True
    when the line given back is a record's message (`_message_intro`), which the event `t` starts then starts with."""
    tb, n = op.tb, min(op.cont, len(op.tb))
    take = 0
    if n >= 1 and ipython_header(t) is not None:
        take = 1 if IPY_RULE.fullmatch(tb[-1]) else 0
    elif n >= 1 and traceback_at(t) == 0:
        if _PY_INTRO.fullmatch(tb[-1]):
            take = 1
        elif n >= 2 and _PY_INTRO.fullmatch(tb[-2]) and (_ASYNCIO_FUTURE.match(tb[-1])
                                                         or _wrapped_intro(tb[-2], tb[-1])):
            take = 2
        elif _message_intro(tb[-1]) and op.exc_at < len(tb) - 1:
            take = -1  # (the line a record's message printed alone above its traceback: `_message_intro`)
    if take:
        n = abs(take)
        del tb[-n:]
        op.cont -= n
        op.end -= n
    return take < 0


def _message_intro(t: str) -> bool:
    """Whether `t`, the line right above a traceback's header that took it as the last line of the exception message
    before it, is rather a record's message printed alone above the traceback logging printed under it
    (`logger.exception("Exception on /auth/register [POST]")` with no format: Flask's, on Heroku): a line of text at the
    margin, not a bracket's or parenthesis's (SQLAlchemy's `[SQL: …]`, `(Background on this error at: …)`)."""
    return t[:1] not in ("", " ", "\t", "[", "(", "{", "}", ")", "]", "^", "~") and traceback_at(t) < 0


def _record_gives_back(op: _Open) -> bool:
    """A record's last lines of its own (`op.detail`, right before a traceback's header) are Python's own line before an
    uncaught exception's traceback (`_PY_INTRO`: multiprocessing's `Process granian-worker:`, threading's `Exception in
    thread …:`; asyncio's two): logging prints none, so the traceback is Python's, not the record's. Those lines are
    taken off the record (its event ends before them, the traceback's starts at them, `_python_intro`); True then."""
    d = op.detail
    take = 0
    if _PY_INTRO.fullmatch(d[-1]):
        take = 1
    elif len(d) >= 2 and _PY_INTRO.fullmatch(d[-2]) and (_ASYNCIO_FUTURE.match(d[-1]) or _wrapped_intro(d[-2], d[-1])):
        take = 2
    if not take or take > op.cont:
        return False
    del d[-take:]
    if op.raw is not None:
        del op.more[-take:]
    op.cont -= take
    op.end -= take
    return True


def _same_records(op: _Open, ln: Line) -> bool:
    """`ln` is a record of the same shape, level and logger as the one that opened `op` (of its stream)."""
    return ln.level == op.level and ln.logger == op.logger and ln.shape == op.shape and ln.via == op.via


def _bracket_head(ln: Line) -> bool:
    """The record's logger was read from a `[name] ` in front of its message (it may be the message's own tag)."""
    msg, text = ln.message, ln.text
    if ln.shape == "json" or not msg or not text.endswith(msg):
        return False
    head = text[:len(text) - len(msg)].rstrip(" ")
    return head.endswith("]") and head.endswith(f"[{ln.logger}]")


def _starts_separator(s: str) -> bool:
    """A chain separator, or its start when a narrow terminal wrapped it."""
    return s in SEPARATORS or (len(s) >= 20 and any(sep.startswith(s + " ") for sep in SEPARATORS))


def _separator_so_far(tb: list[str]) -> str:
    """The chain separator at the end of `tb` as far as it goes (a narrow terminal wraps it over lines)."""
    parts: list[str] = []
    for line in reversed(tb[-4:]):
        s = line.strip()
        if not s:
            break
        parts.insert(0, s)
        if _starts_separator(" ".join(parts)):
            return " ".join(parts)
    return ""


def _exception_line(op: _Open) -> str:
    """The last exception line of a traceback (the one its message is about)."""
    tb = op.tb
    if 0 <= op.exc_at < len(tb):
        return tb[op.exc_at].strip()
    for i in range(len(tb) - 1, -1, -1):
        t = tb[i]
        if t and t[0] not in " \t" and t not in SEPARATORS and traceback_at(t) < 0 and not in_group_gutter(t):
            return t
    for t in tb:  # an exception group's lines are all behind its gutter: the group's own exception line
        s = t.lstrip(" ")
        if s[:2] == "| " and _EXC_NAME.match(s, 2):
            return s[2:]
    return tb[-1] if tb else ""


def _rejoin(op: _Open) -> None:
    """A JSON record whose line was cut inside a string and the lines after it that continued it: read as the
    one record they are when together they make one object and nothing follows it (its message and traceback
    whole, a secret in them not split between the record and the lines after it); else left as read (lines after
    the object, a traceback another handler printed, keep their place)."""
    whole = json_rejoined(op.raw or "", op.more)
    if whole is None or whole[1].strip():
        return
    obj, _ = whole
    rec = json_record(obj)
    msg = json_message(obj).rstrip("\n")  # all its lines: the breaks inside it may be a wrap's, not its own
    op.message = msg if rec.message and msg.startswith(rec.message) else rec.message
    op.own_tb = rec.exc
    op.tb = []
    op.detail = []


class Assembler:
    """Feed it lines (`feed`), collect finished events from `out`; `finish` closes what is open."""

    def __init__(self, stats: ReadStats, *, horizon: int = 200) -> None:
        self.stats = stats
        self.horizon = horizon
        self.open: dict[str | None, _Open] = {}
        self.out: list[RawEvent] = []
        self.text_shape = "plain"
        # set by the reader before each feed: returns the lines before the current one, newest first
        self.lookback: Callable[[], Iterator[Line]] | None = None
        # set by the reader: the error record a terminal wrapped over the two lines before the current one
        self.wrapped_record: Callable[[str | None], Line | None] | None = None
        self.clock = Clock()  # the reader's (it dates times of day from the file's other timestamps)
        self.pytest_tests: dict[str, None] = {}  # the tests whose failure section was read (newest last)
        # per stream: whether its last record read whose message began with no bracket had no logger (its format has
        # no logger's column: a `[Tag] ` at the head of a record's message is the message's own, `_tag`)
        self.loggerless: dict[str | None, bool] = {}
        # per stream: the last line of the last event closed on it (the lines an event starts with, looked back on, are
        # after it: a line is one event's, `_back`)
        self.taken: dict[str | None, int] = {}
        # the stream and line of a record's message an exception's message gave back to the traceback under it
        # (`_message_intro`)
        self.gave: tuple[str | None, int] | None = None

    def feed(self, lineno: int, ln: Line, last: int | None = None) -> None:
        last = lineno if last is None else last  # (0 and below: a line of a live stream's pass before)
        stats = self.stats
        shape = ln.shape
        if ln.record:
            if ln.kind == "access":
                stats.levels["access"] += 1
            elif ln.level:
                stats.levels[ln.level] += 1
        stats.shapes[shape or self.text_shape] += 1
        op = self.open.get(ln.stream)
        if op is None and ln.stream is None and self.open and not ln.record and not shape and self._join_wrap(ln, last):
            return
        if op is None and ln.stream is not None and lineno == 2 and None in self.open and not ln.record:
            op = self._column_cut(ln)
        if op is not None:
            if self._extend(op, ln, last):
                op.seen = last
                if op.raw is not None and len(op.more) < MAX_TRACEBACK_LINES:
                    op.more.append(ln.text)
                if ln.record and shape in ("plain", "uvicorn"):
                    self.text_shape = shape
                return
            self._close(op)  # (an event without a shape of its own takes the text's up to its end, not this record's)
        if ln.record and shape in ("plain", "uvicorn"):
            self.text_shape = shape
        self._start(lineno, last, ln)
        if self.open and not lineno & 31:
            self.expire(lineno)

    def _column_cut(self, ln: Line) -> _Open | None:
        """The input's first line is an error record with no stream's prefix, alone, and its second line (`ln`) is a
        traceback's header behind a prefix (Docker Compose's `worker_1  | `): a selection that started past the
        record's column, so the record is that stream's and the traceback its own. The record's event, moved to `ln`'s
        stream (returned); else None."""
        op = self.open[None]
        if len(self.open) != 1 or op.line != 1 or op.end != 1 or op.state != _REC or op.detail or op.blanks \
                or op.raw is not None or self.taken or traceback_at(ln.text) != 0:
            return None
        del self.open[None]
        op.stream = ln.stream
        self.open[ln.stream] = op
        return op

    def _join_wrap(self, ln: Line, last: int) -> bool:
        """A line with no stream's prefix that is the rest of a frame line a terminal broke at its width (Heroku's CLI
        at 80 columns: `… app[web.1]: File "/app/.heroku/python/lib/pytho` / `n3.6/site-packages/…", line 583, in f`),
        joined to the one stream's open traceback that ends with that frame's start (`join_wrapped_frame`); False
        when no stream's frame takes it, or more than one does."""
        t = ln.text
        if t[:1] in ("", " ", "\t"):
            return False
        found: tuple[_Open, str] | None = None
        for op in self.open.values():
            if op.state == _TB and op.tb and not op.blanks and op.raw is None and op.wrapped != len(op.tb):
                joined = join_wrapped_frame(op.tb[-1], t)
                if joined is not None:
                    if found is not None:
                        return False
                    found = (op, joined)
        if found is None:
            return False
        op, found_line = found
        op.tb[-1] = found_line
        op.wrapped = len(op.tb)
        op.end = op.seen = last
        return True

    def frame_cut(self) -> bool:
        """An open traceback (of a named stream) ends with a frame line a terminal may have broken at its width: a line
        with no stream's prefix may be its rest (`_join_wrap`)."""
        for op in self.open.values():
            if op.state == _TB and op.tb and op.wrapped != len(op.tb):
                t = op.tb[-1]
                if 'File "' in t and ('", line ' not in t or len(t) >= MIN_WRAP_WIDTH):
                    return True
        return False

    def rejoining(self, stream: str | None) -> bool:
        """The stream's open event is a JSON record broken over lines, being read on to its end."""
        op = self.open.get(stream)
        return op is not None and op.raw is not None

    def frames_shape(self) -> str | None:
        """The shape of the one stream's open event while it is inside a traceback's frames (the
        reader may then hand it a run of indented lines at once, `extend_frames`), else None (also while a JSON
        record broken over lines is read on: each of its lines is kept to rejoin it, `feed`)."""
        op = self.open.get(None)
        if op is None or op.state != _TB or len(self.open) != 1 or op.raw is not None or op.recs:
            return None
        # (a RichHandler record's traceback is indented as its next records are: read line by line)
        return "rich" if op.first is not None else op.shape

    def frames_stream(self) -> tuple[str, str] | None:
        """(stream, shape) of the only open event when it is inside a traceback's frames and its
        stream is a named one (a Docker Compose service), else None: see `frames_shape`."""
        if len(self.open) != 1:
            return None
        (stream, op), = self.open.items()
        return (stream, op.shape) if stream is not None and op.state == _TB and op.raw is None and not op.recs \
            else None

    def extend_frames(self, texts: list[str], last: int, stream: str | None = None, shape: str | None = None) -> None:
        """Indented, non-blank lines of the one stream (see `frames_shape`): what `feed` would do
        with each in turn (`shape`: what those lines count as, else the event's shape)."""
        op = self.open[stream]
        self.stats.shapes[shape or op.shape or self.text_shape] += len(texts)
        if op.blanks:  # a blank kept inside the traceback (loguru's) goes in before them
            op.tb.extend([""] * op.blanks)
            op.blanks = 0
        tb = op.tb
        if len(tb) + len(texts) <= MAX_TRACEBACK_LINES:
            tb.extend(texts)
        else:  # (trimmed as `add` trims them one by one: the same lines kept however the reader handed them over)
            for text in texts:
                if len(tb) >= MAX_TRACEBACK_LINES:
                    op.trim()
                tb.append(text)
        op.end = op.seen = last

    def record_shape(self) -> str | None:
        """The shape of the one stream's open event while it is its error record alone (no traceback,
        no continuation line yet: the reader may then hand it a traceback header, `header`), else None."""
        op = self.open.get(None)
        return op.shape if op is not None and op.state == _REC and not op.blanks and len(self.open) == 1 \
            and op.raw is None else None

    def header(self, text: str, lineno: int) -> None:
        """A traceback header (its shape's plain line) right after the error record (see `record_shape`):
        what `feed` does with it."""
        op = self.open[None]
        self.stats.shapes[op.shape or self.text_shape] += 1
        op.state = _TB
        op.blanks = 0
        op.add(text, lineno)
        op.seen = lineno

    def exception_line(self, text: str, lineno: int) -> None:
        """The exception line after a traceback's frames (see `frames_shape`; its shape's plain line, not
        blank, not indented): what `feed` does with it."""
        op = self.open[None]
        self.stats.shapes[op.shape or self.text_shape] += 1
        op.exception(text, lineno)
        op.seen = lineno

    def chained(self, exception: str, separator: str, header: str, first: int) -> None:
        """Five lines of the one stream's event while it is inside a traceback's frames (see
        `frames_shape`), its shape's plain lines: the exception line, a blank, a chain `separator`, a
        blank, the next traceback's `header` (lines `first` to `first + 4`): what `feed` does with each."""
        op = self.open[None]
        self.stats.shapes[op.shape or self.text_shape] += 5
        op.exception(exception, first)
        op.state = _EXC_BLANK  # a blank
        op.blanks = 1
        op.state = _CHAIN  # the separator
        op.add(separator, first + 2)
        op.blanks += 1  # a blank
        op.state = _TB  # the header
        op.add(header, first + 4)
        op.seen = first + 4

    def expire(self, lineno: int) -> None:
        """Close events whose stream has been silent for more than `horizon` lines."""
        for op in [op for op in self.open.values() if lineno - op.seen > self.horizon]:
            self._close(op)

    def finish(self) -> None:
        for op in list(self.open.values()):
            self._close(op)

    # -- internals -------------------------------------------------------------------------

    def _extend(self, op: _Open, ln: Line, last: int) -> bool:
        shape = op.stamp
        if shape is not None and not ln.record:
            text = ln.text
            n = len(shape)
            if text[:n].translate(_DIGITS_AS_ZERO) == shape:  # the traceback's stamp in front: read the line without it
                if not op.peeled and op.state in (_EXC, _EXC_BLANK):
                    # the header's stamp again after an exception line, none on the lines between: the header was a
                    # record's (its message a traceback, `%(asctime)s %(message)s`), this line is the next record
                    return False
                message = ln.message
                ln.text = text[n:]
                if message == text:
                    ln.message = ln.text
                if self._extend_line(op, ln, last):
                    op.peeled = True
                    return True
                ln.text, ln.message = text, message  # (a line that starts something else: read as it was)
                return False
        return self._extend_line(op, ln, last)

    def _extend_line(self, op: _Open, ln: Line, last: int) -> bool:
        if op.state == _PYTEST:
            return self._extend_pytest(op, ln, last)
        if op.recs:
            if op.recs > 1 or ln.record or (op.src == 0 and ln.text[:1] not in " \t" and not is_frame(op.tb[-1])):
                return self._extend_records(op, ln, last)  # (the last: a wrap of the frame that opened it)
            # a line without a record prefix under the record that opened it: that record's own lines (its traceback
            # printed under it), read as any record's
            op.recs = 0
            if op.lead is not None:
                op.state, op.tb, op.message, op.src = _REC, [], op.lead, -1
        if ln.record and op.state == _REC and ln.message[:1] == "T" and ln.message.rstrip() == TRACEBACK_HEADER \
                and _same_records(op, ln) and not op.detail and not op.blanks and op.raw is None:
            # the header of a traceback logged one line per record right after the error record (uvicorn's `Exception
            # in ASGI application`, then its traceback's lines as records): the record's traceback
            op.state = _TB
            op.recs = 1
            op.add(TRACEBACK_HEADER, last)
            return True
        if (ln.record and not _libpq_next_attempt(op, ln)) or (ln.via is not None and ln.via != op.via):
            return False  # (a line inside another logger's record of a wrapping tool is not this event's)
        t = ln.text
        st = op.state
        if st == _IPY:
            return self._extend_ipython(op, t, last)
        if st >= _RICH:
            return self._extend_rich(op, t, last)
        if st == _REC:
            if op.site and op.cont:
                return False  # (site.py prints its exception's line alone: what follows is another event's)
            if not t.strip():
                op.blanks += 1
                return op.blanks <= MAX_BLANKS
            # a piece of a JSON record broken over lines (`raw`) holding an escape of its string (`\n`, `\"`): the
            # record's text, whatever it starts with (loguru's `"text"`: a wrap right before `Traceback (most …`)
            piece = op.raw is not None and ("\\n" in t or '\\"' in t)
            if not piece and is_rich_header(t):
                op.state = _RICH
                op.blanks = 0
                op.add(t, last)
                return True
            at = -1 if piece else traceback_at(t)
            if at == 0 and op.detail and not op.blanks and _record_gives_back(op):
                return False  # (Python's own line before the traceback: an uncaught exception's, no part of the record)
            if at >= 0 or (not piece and is_frame(t)):
                op.state = _TB
                op.blanks = 0
                op.add(t[at:] if at > 0 else t, last)
                return True
            named = ipython_header(t) if t[:1] not in " \t" and not piece else None
            if named is not None:  # IPython's traceback under the record (its rule, read as the record's line, first)
                op.state = _IPY
                op.ipy = named
                op.blanks = op.cont = 0
                if op.detail and IPY_RULE.fullmatch(op.detail[-1]):
                    op.add(op.detail.pop(), last)
                op.add(t, last)
                return True
            # a line with no record prefix of its stream right after an error record continues it
            if op.cont < MAX_DETAIL_LINES:
                if op.blanks:
                    op.detail.extend([""] * op.blanks)
                    op.blanks = 0
                op.detail.append(t)
                op.cont += 1
                op.end = last
                return True
            return False
        s = t.strip()
        if st != _TB and s[-1:] == ",":
            # after an exception line: a log viewer's copy that puts "," after every line (Portainer's) leaves
            # the blank and the chain separator of a chained traceback as "," and "During handling …:,"
            s = s[:-1].rstrip()
        blank = not s
        if st == _TB:
            if op.fault:
                if blank:  # (its threads' dumps are apart by a blank)
                    op.blanks += 1
                    return op.blanks <= 1
                if t[0] not in " \t" and not _FAULT_THREAD.fullmatch(t):
                    return False  # no exception line: what follows its frames is another line's
                op.add(t, last)
                return True
            if blank:
                # loguru's tracebacks have a blank line after the header and after each frame (after its
                # variable notes `│ └ value` / `| -> value`, its source line, or the frame line itself when
                # Python has no source for it, `<frozen runpy>`); Python's own have none: a traceback that
                # did not start with loguru's blank ends at a blank, unless it follows loguru's notes
                if not op.blanks and (len(op.tb) == 1 or (len(op.tb) > 1 and not op.tb[1])
                                      or op.tb[-1].lstrip()[:2] in _LOGURU_NOTES):
                    op.blanks = 1
                    return True
                if not op.blanks and _entries_apart(op.tb):
                    op.blanks = 1
                    return True
                if not op.blanks and is_group_end(op.tb[-1]):
                    # an exception group's end: its lines are all indented (a gutter), so no exception line
                    # closed its frames; a chain's separator may follow, as after an exception line
                    op.state = _EXC_BLANK
                    op.blanks = 1
                    return True
                return False
            if op.blanks and t[0] not in " \t" and is_frame(op.tb[0]) and not is_frame(t) and not _EXC_NAME.match(t):
                return False  # (after a blank that parted a header-less traceback's entries: no exception line)
            if t[0] not in " \t" and not is_frame(t) and not in_group_gutter(t) and not t.startswith('File "'):
                # (`File "…` with no `", line N` is the start of a frame line a terminal broke: no exception line)
                joined = join_wrapped_frame(op.tb[-1], t) if not op.blanks and op.wrapped != len(op.tb) else None
                if joined is not None:
                    op.tb[-1] = joined  # the rest of a frame line a terminal broke at its width (once: `wrapped`)
                    op.wrapped = len(op.tb)
                    op.end = last
                    return True
                if t[0] == "[" or t[0].isdigit() or (t[0] in _INTRO_INITIALS and _PY_INTRO.fullmatch(t)) or (
                        t[0] == "-" and IPY_RULE.fullmatch(t)):
                    # no exception line starts so (it names a type; a paste's markdown may wrap it: `**…**`): another
                    # program's line (a progress bar's `[====   32%   ]`, tqdm's `100%|…`), or Python's line before
                    # another traceback, or IPython's rule above its traceback, cut this one before its exception
                    return False
                if t[-1:] == ":" and _TOOL_HEADER.fullmatch(t):
                    # a tool's own header under the frames (Flyte's `Filtered traceback (most recent call last):`, above
                    # the exception line): a line of the traceback, no exception line
                    op.add(t, last)
                    return True
                # (an exception group's lines stay in its traceback, their indentation stripped too)
                op.state = _EXC
                op.exc_at = len(op.tb) + op.blanks
                op.cont = 0
                op.bare = ln.ts is None
            op.add(t, last)
            return True
        if st == _EXC:
            if blank:
                op.state = _EXC_BLANK
                op.blanks = 1
                return True
            if s in SEPARATORS:
                op.state = _CHAIN
                op.add(t, last)
                return True
            if op.stamp is not None and op.bare and ln.ts is None and t[:1] == "T" and t.rstrip() == TRACEBACK_HEADER:
                # a header with no stamp right under the exception line of a traceback whose header was a record's
                # message, behind its stamp ("15:35:23 Traceback (most recent call last):"): the record's text goes on
                # (`logger.error(traceback.format_exc(), exc_info=True)`: logging prints the record's message, the
                # traceback, then the same traceback again from exc_info)
                op.state = _TB
                op.add(t, last)
                return True
            if traceback_at(t) >= 0 or is_rich_header(t) or ipython_header(t) is not None:
                # a new traceback without a separator (Python's, Rich's, IPython's): a new event
                if _give_back(op, t) and traceback_at(t) == 0:
                    self.gave = (ln.stream, op.end + 1)
                return False
            if op.ipy is not None and IPY_RULE.fullmatch(t):
                return False  # (IPython's next traceback, its rule first)
            if t[0] in _INTRO_INITIALS and _PY_INTRO.fullmatch(t):
                return False  # (Python's line before the next uncaught exception's traceback)
            if op.bare and (ln.ts is not None or (t[0] == "[" and _BRACKET_STAMPED.match(t))):
                return False  # (a time-stamped line after an exception line that had none: logging's next record)
            if t[0] in '"[' and _REQUEST_DONE.match(t):
                return False  # (the server's line for the request the exception failed: its next record)
            if op.cont == 0 and op.exc_at > 0 and op.tb[op.exc_at - 1].startswith('File "'):
                # after a frame that lost its indentation (`File "…", line 231, in run`) the "exception line"
                # was that frame's source line (`self.halt(…)`) when a frame or an exception line follows
                if t[0] == "F" and (is_frame(t) or t.startswith('File "')):  # (a frame line, maybe broken)
                    op.state = _TB
                    op.exc_at = -1
                    op.add(t, last)
                    return True
                if _EXC_NAME.match(t):
                    op.exc_at = len(op.tb) + op.blanks
                    op.add(t, last)
                    return True
                if not t.strip("^~ "):  # Python 3.11+'s markers under that source line: still the frame's
                    op.add(t, last)
                    return True
            if op.cont < MAX_DETAIL_LINES:  # the exception message's next line
                op.cont += 1
                op.add(t, last)
                return True
            return False
        if blank:  # _EXC_BLANK / _CHAIN
            op.blanks += 1
            return op.blanks <= MAX_BLANKS
        if st == _EXC_BLANK and _starts_separator(s):
            op.state = _CHAIN
            op.add(t, last)
            return True
        if st == _EXC_BLANK and 0 < op.exc_at <= len(op.tb) - 1 and op.tb[op.exc_at - 1].startswith('File "') \
                and _EXC_NAME.match(t):
            # a traceback whose lines lost their indentation, a blank between them: the "exception line" after
            # its last frame was that frame's source line, this is the exception
            op.exception(t, last)
            return True
        if st == _EXC_BLANK and op.blanks == 1 and op.cont < MAX_DETAIL_LINES and _double_spaced(op):
            # a double-spaced paste: one blank parts its exception message's lines (pydantic's `2 validation errors
            # for Settings`, a blank, `API_ID`, a blank, `  Field required …`); what would end the message ends it
            if traceback_at(t) >= 0 or is_rich_header(t) or ipython_header(t) is not None or (
                    t[0] in _INTRO_INITIALS and _PY_INTRO.fullmatch(t)):
                return False
            op.state = _EXC
            op.cont += 1
            op.add(t, last)
            return True
        if st == _CHAIN and not op.blanks and (so_far := _separator_so_far(op.tb)) and so_far not in SEPARATORS \
                and _starts_separator(f"{so_far} {t.strip()}"):
            op.add(t, last)  # the rest of a separator wrapped to the terminal's width (RichHandler)
            return True
        if st == _CHAIN and traceback_at(t) == 0:  # (an exception group's header too)
            op.state = _TB
            op.add(t, last)
            return True
        if st == _CHAIN and (op.ipy is not None or op.exc_at == 0) and (named := ipython_header(t)) is not None:
            # (IPython's chain: the next traceback's header, no rule above it; after a cause cut above its exception
            # line, `_cut_cause`, whose traceback's layout the text does not show, too)
            op.state = _IPY
            op.ipy = named
            op.cont = 0
            op.add(t, last)
            return True
        if st == _CHAIN and is_rich_header(t):
            op.state = _RICH
            op.add(t, last)
            return True
        return False

    @staticmethod
    def _extend_records(op: _Open, ln: Line, last: int) -> bool:
        """A traceback logged one line per record (`op.recs`): records of its stream, level and logger whose messages
        go on with it (frames, their source and marker lines, the exception line, a chain's blank, separator and next
        header), the indentation each line has in Python's traceback put back (a formatter may strip it); a line
        without a record prefix continues the line before (a terminal's wrap) or the exception's message. Any other
        record, or a line that does not go on with it, ends it."""
        if ln.record:
            if not _same_records(op, ln):
                return False
            op.recs += 1
            m = ln.message
        else:
            m = ln.text
        s = m.strip()
        st = op.state
        if not s:  # (a blank between a chain's exception line, separator and next header)
            if st == _TB or op.blanks >= MAX_BLANKS:
                return False
            op.blanks += 1
            return True
        if not ln.record:
            if op.blanks:
                return False
            if st == _TB and op.src == 0 and m[:1] not in " \t" and not is_frame(op.tb[-1]):
                op.tb[-1] += m  # a terminal wrapped the frame's record (`File "…", ` / `line 138, in embed`)
                op.end = last
                return True
            if st == _EXC and op.cont < MAX_DETAIL_LINES:  # the exception's message went on under its record
                op.cont += 1
                op.add(m.rstrip(), last)
                return True
            if st != _TB or not (is_frame(m) or m[:1] in " \t"):
                return False
        if st == _CHAIN:
            if s == TRACEBACK_HEADER:
                op.state = _TB
                op.src = -1
                op.add(s, last)
                return True
            return False
        if st == _EXC:
            if s in SEPARATORS:
                op.state = _CHAIN
                op.add(s, last)
                return True
            return False  # (a record after the exception line: the traceback was done)
        # _TB: inside the frames
        if _frame_record(s) or s.startswith(_REPEATED):
            op.add("  " + s, last)
            op.src = 0
            return True
        if op.src < 0 or s.startswith(TRACEBACK_HEADER) or s in SEPARATORS:
            return False
        if op.src == 1 and not s.strip("^~ "):  # Python 3.11+'s markers under the source line
            op.add(m if m[:4] == "    " else "    " + s, last)
            return True
        if op.src == 0 and not _REC_EXC.match(s):  # the frame's source line
            op.add(m if m[:4] == "    " else "    " + s, last)
            op.src = 1
            return True
        if not _REC_EXC.match(s):
            return False
        op.exception(s, last)
        return True

    @staticmethod
    def _extend_pytest(op: _Open, ln: Line, last: int) -> bool:
        """A failure section of pytest's report: every line up to the next section, its short summary or a banner
        (its source, frames, captured output after its `E` lines: records and tracebacks of the test's logging too) is
        the event's;
        its `E` lines, in runs (one an exception a chain printed), with the type its location line names, are the
        evidence (`_close`)."""
        if ln.kind in ("pytest_section", "pytest_summary"):
            return False
        t = ln.text
        if t.startswith(PYTEST_BANNER):
            return False
        if last - op.line > MAX_TRACEBACK_LINES:
            # a long run of lines is no section's: a line that only looked like its header, or a section pasted alone
            # whose next section or banner never comes (the log's lines after it)
            return False
        if not op.runs and (ln.record or traceback_at(t) == 0 or is_frame(t)):
            # before its first `E` line: a record or a Python traceback (`--tb=native` prints one under the header: it
            # is the event then; pytest's own frames are `path:N: in f` lines) is no section's (a line that only
            # looked like its header)
            return False
        op.end = last
        if t[:1] == "E":
            m = PYTEST_E.fullmatch(t)
            if m is not None:
                text = (m.group(1) or m.group(2) or "").rstrip()
                if op.cont == 0 or not op.runs:  # (the first `E` line after other lines: a new run)
                    op.runs.append([""])
                if len(op.runs[-1]) <= MAX_DETAIL_LINES:
                    op.runs[-1].append(text)
                op.cont += 1
                return True
        if op.runs and not op.runs[-1][0]:  # the location line under a run (`…/__init__.py:122: OperationalError`)
            m = PYTEST_LOCATION.fullmatch(t)
            if m is not None:
                op.runs[-1][0] = m.group(1)
        op.cont = 0
        return True

    @staticmethod
    def _extend_ipython(op: _Open, t: str, last: int) -> bool:
        """A line inside an IPython traceback's frames (`_IPY`): a blank between frames, a source or value line
        (indented), an arrow's line, a frame's line, Colab's fold of hidden frames; the exception line ends them. A
        line of other text right under a frame's lines is the rest of one a mail client or a terminal wrapped, or of a
        value's repr; after a blank it is another program's: the traceback ends, cut before its exception line, as it
        does at the next traceback's header (Python's, IPython's), right under its frames' lines at IPython's rule or
        Python's line before a traceback, and `_IPY_OTHER_LINES` lines after the last frame's or arrow's line (a
        paste cut before its exception line, then another program's lines, indented or not, blank-free)."""
        if not t.strip():
            op.blanks += 1
            return op.blanks <= _IPY_BLANKS
        c = t[0]
        if (c == "-" and IPY_ARROW.match(t)) or is_ipython_frame(t):
            op.cont = 0
            op.add(t, last)
            return True
        if c not in " \t" and _ipython_exception(t, op.ipy or ""):
            op.exception(t, last)
            return True
        if op.cont >= _IPY_OTHER_LINES:
            return False
        if c not in " \t":
            if op.blanks:
                return False
            if traceback_at(t) >= 0 or ipython_header(t) is not None:
                _give_back(op, t)
                return False
            if (IPY_RULE.fullmatch(t) or (c in _INTRO_INITIALS and _PY_INTRO.fullmatch(t))) \
                    and not _ipy_other(op.tb[-1]):
                return False  # (right under a frame's lines: the next traceback's line)
        op.cont += 1
        op.add(t, last)
        return True

    @staticmethod
    def _extend_rich(op: _Open, t: str, last: int) -> bool:
        """A Rich traceback (`rich.traceback`, RichHandler, structlog's console with Rich installed): a box
        of frames, then the exception line (`JSONDecodeError: ...`, maybe wrapped) after its bottom edge."""
        s = t.strip()
        if op.state == _RICH:
            if not s:
                return False  # a box has no blank line: it was cut
            if op.headless and s[0] not in "│╰":
                return False  # box-like lines that did not end in a traceback's bottom edge
            if s[0] == "╰":
                op.state = _RICH_END
            op.add(t, last)
            return True
        if not s or (op.headless and not _RICH_EXC.match(s)):
            return False
        op.exception(t, last)
        return True

    def _start(self, lineno: int, last: int, ln: Line) -> None:
        kind = ln.kind
        if kind == "pytest_section":
            op = self.open[ln.stream] = _Open(lineno, last, ln, _PYTEST, True, None)
            op.ts = self._when(ln)
            tests = self.pytest_tests
            tests[pytest_key(ln.message)] = None
            if len(tests) > MAX_PYTEST_TESTS:
                del tests[next(iter(tests))]
            return
        if kind == "pytest_summary":
            node = ln.text[ln.text.index(" ") + 1:].split(" - ", 1)[0]
            if pytest_key(node) not in self.pytest_tests:  # (else the echo of a failure section read)
                self._emit("error", lineno, last, ln, ln.message, None)
            return
        if kind == "process_start":
            self._emit("process_start", lineno, last, ln, ln.message, None)
            return
        if kind == "platform_failure":
            self._emit("platform", lineno, last, ln, ln.message, None)
            return
        if kind == "platform":
            if ln.message.startswith("Deploying"):  # a deploy marker for timelines, not an error
                self._emit("deploy", lineno, last, ln, ln.message, None)
            return
        if ln.record or kind == "labelled":
            level = ln.level
            if kind == "access":
                return
            if ln.shape == "json":
                if level in ERROR_LEVELS or (level is None and ln.exc):
                    # open like a text record: lines after it with no record prefix continue it (a traceback
                    # a second handler printed after the JSON, the rest of a record broken over lines)
                    op = self.open[ln.stream] = _Open(lineno, last, ln, _REC, True, ln.message)
                    op.own_tb = ln.exc
                    op.ts = self._when(ln)
                return
            tagged = ln.logger is not None and _bracket_head(ln)
            if level in ERROR_LEVELS:
                msg = ln.message
                if msg[:1] in "TF \t" and _starts_record_traceback(msg):
                    # a traceback logged one line per record: one event, the records' messages its lines
                    op = self.open[ln.stream] = _Open(lineno, last, ln, _TB, True, None)
                    op.recs = 1
                    op.lead = msg
                    op.tb = []
                    s = msg.strip()
                    op.src = 0 if s[:1] == "F" else -1
                    op.tb.append("  " + s if op.src == 0 else s)
                    op.ts = self._when(ln)
                    return
                at = _glued_record_traceback(msg) if 'File "' in msg or msg[-1:] == ":" else -1
                if at > 0:
                    # the same with the traceback's first line glued into the record's own message (`log.error(f"…:
                    # {lines[0]}")`, then the next lines one record each): the record carries it (its message kept);
                    # a record of its own when no record goes on with it
                    op = self.open[ln.stream] = _Open(lineno, last, ln, _TB, True, msg)
                    op.recs = 1
                    op.lead = msg
                    s = msg[at:].strip()
                    op.src = 0 if s[:1] == "F" else -1
                    op.tb = ["  " + s if op.src == 0 else s]
                    op.ts = self._when(ln)
                    return
                op = self.open[ln.stream] = _Open(lineno, last, ln, _REC, True, msg)
                op.ts = self._when(ln)
                if tagged and self._tag(ln):
                    op.logger, op.message = None, f"[{ln.logger}] {ln.message}"
            if not tagged and level is not None:
                if len(self.loggerless) > MAX_STREAMS:
                    self.loggerless.clear()
                self.loggerless[ln.stream] = ln.logger is None
            return
        t = ln.text
        at = traceback_at(t)
        if at < 0 and "Traceback (" in t:
            at = flattened_traceback_at(t)
        rich = at < 0 and is_rich_header(t)
        framed = -1 if at >= 0 or rich or t[:1] in " \t>F|" else _stamped_frame(t)
        if at >= 0 or rich or framed > 0 or is_frame(t):
            # a traceback: its header (maybe glued to the end of another line), or frames without one (behind a stamp:
            # an event only when its exception line follows, as `classify` peels such a paste)
            intro = self._intro(ln.stream)
            # a traceback right after a WARNING record is that record's (logger.warning(..., exc_info=True),
            # a retry notice): not an event. After INFO/DEBUG lines it is taken as a crash of its own
            # (uvicorn prints INFO lines, then an uncaught exception's traceback).
            emit = intro is None or intro.level != "WARNING"
            op = _Open(lineno, last, ln, _TB, emit, None)
            if rich:
                op.state = _RICH
            if at > 0:
                op.tb[0] = t[at:]
                op.stamp = stamp_shape(t[:at])
            elif framed > 0:
                op.tb[0] = t[framed:]
                op.stamp = stamp_shape(t[:framed])
                op.headless = True
            if at == 0 or (at < 0 and not rich and framed < 0):
                # Python's own lines before an uncaught exception's traceback (`_PY_INTRO`) or faulthandler's frames
                # start the event
                lead = self._python_intro(ln, lineno, at == 0)
                if lead:
                    op.line = lineno - len(lead)
                    op.tb[:0] = lead
                    op.fault = at < 0
                    if at == 0 and (len(lead) == 2 or not _PY_INTRO.fullmatch(lead[0])):
                        # asyncio's: the message of the record it logged, its first line; a record's message alone
                        op.message = lead[0]
                elif at < 0 and (lead := self._cut_source(ln, lineno)):
                    # a paste cut inside a frame: its source line (and markers) above the first `File` line
                    op.line = lineno - len(lead)
                    op.tb[:0] = lead
                elif at < 0 and t[:1] == "F" and (lead := self._error_box(ln, lineno)):
                    # Streamlit's error box: the exception line and `Traceback:` above the frames
                    op.line = lineno - len(lead)
                    op.tb[:0] = lead
                    op.exc_at = 0
            op.level = op.logger = None
            stamp = ln
            if intro is None and at == 0 and op.line == lineno and (found := self._django_request(ln, lineno)):
                # Django's request record, its level not printed: the event starts there
                stamp, between = found
                op.line = lineno - len(between) - 1
                op.level, op.logger, op.message = "ERROR", "django.request", stamp.text
                op.detail = between
            if intro is None and at == 0 and op.line == lineno and self.wrapped_record is not None:
                rec = self.wrapped_record(ln.stream)
                if rec is not None:  # the error record before it, wrapped by a terminal: the event starts there
                    op.line = lineno - 2
                    op.level, op.logger, op.message = rec.level, rec.logger, rec.message
            if intro is None and at == 0 and op.line == lineno and ln.ts is None and op.level is None \
                    and (rec_msg := self._stamped_record(ln, lineno)) is not None:
                # a record with a time stamp and no level right above the header, which has none: its record
                stamp, op.message = rec_msg
                op.line = lineno - 1
                op.level = "ERROR"
            op.ts = self._when(stamp) if stamp.ts is not None else self._when(ln)
            self.open[ln.stream] = op
        elif t[:1] not in " \t" and (named := ipython_header(t)) is not None:
            # IPython's traceback: its header names the type; the rule of dashes IPython prints above it starts it
            op = _Open(lineno, last, ln, _IPY, True, None)
            op.ipy = named
            op.tb = [t]
            rule = self._ipython_rule(ln, lineno)
            if rule is not None:
                op.line = lineno - 1
                op.tb.insert(0, rule)
            op.level = op.logger = None
            op.ts = self._when(ln)
            self.open[ln.stream] = op
        elif t[:1] == "-" and IPY_ARROW.match(t) and (lead := self._ipython_cut(ln, lineno)):
            # an IPython traceback cut above its header: the frame line the arrow's source is under starts it; an
            # event only if its exception line follows (see `_close`)
            op = _Open(lineno - len(lead), last, ln, _IPY, True, None)
            op.ipy = ""
            op.tb = [*lead, t]
            op.headless = True
            op.level = op.logger = None
            op.ts = self._when(ln)
            self.open[ln.stream] = op
        elif t[:1] in "DT" and t in SEPARATORS and (lead := self._cut_cause(ln, lineno)):
            # a chained traceback cut inside its cause (a paste that starts at the cause's exception line): the event
            # starts at that line, the cause's exception is evidence
            op = _Open(lineno - len(lead), last, ln, _CHAIN, True, None)
            op.tb = [*lead, t]
            op.exc_at = 0
            op.level = op.logger = None
            op.ts = self._when(ln)
            self.open[ln.stream] = op
        elif _is_box_side(t):
            # a paste or log that starts inside a Rich traceback box (its top edge and header cut off): an
            # event only if the box closes and an exception line follows (see `_close`)
            op = _Open(lineno, last, ln, _TB, True, None)
            op.state = _RICH
            op.headless = True
            op.level = op.logger = None
            op.ts = self._when(ln)
            self.open[ln.stream] = op

    def _tag(self, ln: Line) -> bool:
        """The bracketed name read as the logger of an error record of a text layout (`_bracket_head`) is the
        message's own tag (`[PS101] steps unreadable`): the nearest record of its stream before it whose message began
        with no bracket (in the lines before, else the last one read) had no logger, so its format has no logger's
        column. Without such a record the name stays the logger."""
        if self.lookback is not None:
            for prev in self.lookback():
                if prev.stream == ln.stream and prev.record and prev.level is not None and prev.shape == ln.shape \
                        and not (prev.logger is not None and _bracket_head(prev)):
                    return prev.logger is None
        return self.loggerless.get(ln.stream, False)

    def _back(self, ln: Line, lineno: int) -> Iterator[Line]:
        """`lookback`'s lines before `ln` (at `lineno`), which starts an event, down to the last line of the event
        closed before it on its stream, not further: the lines an event starts with (`_python_intro`, `_ipython_rule`,
        `_ipython_cut`, `_cut_cause`) are none of another event's."""
        room = lineno - 1 - self.taken.get(ln.stream, 0)
        if self.lookback is None or room <= 0:
            return
        for prev in self.lookback():
            yield prev
            room -= 1
            if room <= 0:
                return

    def _cut_source(self, ln: Line, lineno: int) -> list[str]:
        """The lines of a frame cut above `ln`, the first frame line of a traceback without its header, when the
        input starts with them (a paste cut inside a traceback, below a frame's `File` line): that frame's source line
        and the markers under it, indented, of `ln`'s stream; oldest first, [] for none. In a double-spaced paste
        (`_double_spaced`) a blank follows each of them: blanks right above `ln` and between them, one each."""
        if self.lookback is None or not 1 < lineno <= _MAX_CUT_SOURCE + 1 or self.taken.get(ln.stream, 0):
            return []
        before: list[str] = []
        spaced = False
        for prev in self._back(ln, lineno):
            t = prev.text
            if prev.stream != ln.stream or prev.record:
                return []
            if not t.strip():
                if len(before) % 2 or (before and not spaced):
                    return []
                spaced = True
            elif t[:1] not in " \t" or is_frame(t) or (spaced and not len(before) % 2):
                return []
            before.append(t)
        return before[::-1] if len(before) == lineno - 1 and before[-1] else []

    def _django_request(self, ln: Line, lineno: int) -> tuple[Line, list[str]] | None:
        """Django's `django.request` record of an uncaught exception (`Internal Server Error: /path`, at ERROR; its
        default console handler prints the message alone, the traceback under it) of `ln`'s stream above the traceback's
        header `ln`, and the lines between them, oldest first (lines of no record another pipe merged in: the app's
        prints to stdout, at most `_MAX_DJANGO_BETWEEN`); else None."""
        if self.lookback is None:
            return None
        between: list[str] = []
        for prev in self._back(ln, lineno):
            t = prev.text
            if prev.stream != ln.stream or prev.record or t[:1] in ("", " ", "\t"):
                return None
            if t[:1] == "I" and _DJANGO_500.fullmatch(t):
                return prev, between[::-1]
            if len(between) >= _MAX_DJANGO_BETWEEN or traceback_at(t) >= 0:
                return None
            between.append(t)
        return None

    def _stamped_record(self, ln: Line, lineno: int) -> tuple[Line, str] | None:
        """The line of `ln`'s stream right above the traceback's header `ln` (itself with no time stamp) when it is a
        time stamp and a message with no level (`%(asctime)s %(message)s`, Streamlit's console logging; quart's
        `[%(asctime)s] %(message)s`): the record logging printed the traceback under (it stamps the record's line, not
        the traceback's). That line and its message; else None."""
        for prev in self._back(ln, lineno):
            t = prev.text
            if prev.stream != ln.stream or prev.record or prev.kind is not None:
                return None
            msg = ""
            if prev.ts is not None:
                msg = t if t[:1] not in ("", " ", "\t") else ""
            elif t[:1] == "[" and (m := _BRACKET_STAMPED.match(t)):
                msg = m.group(1)
            if not msg or traceback_at(msg) >= 0 or is_frame(msg):
                return None
            return prev, msg
        return None

    def _error_box(self, ln: Line, lineno: int) -> list[str]:
        """Streamlit's error box as the browser shows it (`st.exception`, an uncaught exception in a script): the
        exception line and its message's other lines (at most `_MAX_BOX_MESSAGE`), then `Traceback:` alone, then the
        frames (their lines unindented) from `ln`, the first frame: the lines above it, oldest first; [] for none."""
        lines: list[str] = []
        for prev in self._back(ln, lineno):
            t = prev.text
            if prev.stream != ln.stream or prev.record or not t.strip() or len(lines) > _MAX_BOX_MESSAGE:
                return []
            if not lines:
                if t.rstrip() != "Traceback:":
                    return []
                t = "Traceback:"
            elif t[:1] not in " \t" and _RICH_EXC.match(t):
                return [t, *lines[::-1]]
            lines.append(t)
        return []

    def _python_intro(self, ln: Line, lineno: int, header: bool) -> list[str]:
        """The lines Python printed before a traceback that starts an event (its `header`, else its first frame),
        oldest first: `_PY_INTRO`'s line (asyncio's with its `future: <Task …>` line), or faulthandler's `Fatal Python
        error: …` with the blank and thread line under it; [] for none. Only the lines just before, of its stream."""
        if self.lookback is None:
            return []
        before: list[str] = []
        for prev in self._back(ln, lineno):  # (parsed one at a time: a line further back only when the nearer ones fit)
            if prev.stream != ln.stream or prev.record:
                return []
            t = prev.text
            before.append(t)
            k = len(before)
            if header:
                if _PY_INTRO.fullmatch(t):
                    if k == 1 or _ASYNCIO_FUTURE.match(before[0]) or _wrapped_intro(t, before[0]):
                        return before[::-1]
                    return []
                if k == 1 and (self.gave == (ln.stream, lineno - 1) or (
                        t[-1:] == ":" and t not in SEPARATORS and _message_intro(t[:-1]))):
                    # a record's message above its traceback (`_message_intro`), or a line that introduces it with a
                    # colon (Vercel's `could not import "app/main.py":`): the event's first line and its message
                    return [t]
                if k > 1 or not (_ASYNCIO_FUTURE.match(t) or t[:1] not in " \t"):
                    return []
            else:
                if k == 1 and not _FAULT_THREAD.fullmatch(t):
                    return []
                if k > 1 and _FAULT_INTRO.match(t):
                    return before[::-1]
                if k > 2 or (k == 2 and t.strip()):  # (a blank between them, as faulthandler prints it, or none)
                    return []
        return []

    def _ipython_rule(self, ln: Line, lineno: int) -> str | None:
        """The rule of dashes right above an IPython traceback's header (`ln`), of its stream, else None."""
        if self.lookback is None:
            return None
        for prev in self._back(ln, lineno):
            if prev.stream != ln.stream or prev.record or not IPY_RULE.fullmatch(prev.text):
                return None
            return prev.text
        return None

    def _ipython_cut(self, ln: Line, lineno: int) -> list[str]:
        """The lines of its stream from an IPython frame's line down to its arrow (`ln`), oldest first, when only that
        frame's source lines come between them (a paste cut above the traceback's header); else []."""
        if self.lookback is None:
            return []
        before: list[str] = []
        for prev in self._back(ln, lineno):
            if prev.stream != ln.stream or prev.record or len(before) >= _IPY_CUT_LINES:
                return []
            t = prev.text
            before.append(t)
            if t[:1] not in " \t" and is_ipython_frame(t):
                return before[::-1]
            if not _IPY_CONTEXT.match(t):
                return []
        return []

    def _cut_cause(self, ln: Line, lineno: int) -> list[str]:
        """The lines of its stream before a chain separator that starts no event, oldest first, when they are a cause's
        exception cut off above its line (`psycopg2.errors.UndefinedColumn: …`, its message's lines, blanks) and no
        traceback's frames or header were before it (those would have been an event of their own); else []."""
        if self.lookback is None:
            return []
        before: list[str] = []
        stop: Line | None = None
        for prev in self._back(ln, lineno):
            if prev.stream != ln.stream or prev.record or len(before) >= _MAX_CUT_CAUSE:
                stop = prev
                break
            before.append(prev.text)
        start = next((k for k in range(len(before) - 1, -1, -1) if _is_cause_line(before[k])), -1)
        if start < 0 and before and _LIBPQ_MORE.match(before[-1]) and not any(
                traceback_at(b) >= 0 or is_frame(b) for b in before):
            # cut inside the cause's message: its libpq lines (`DETAIL:  Key (…)=(…) …`) are what is left of it
            start = len(before) - 1
        if start < 0:
            return []
        if start < len(before) - 1:
            older = before[start + 1]
            if older.strip() and (older[:1] in " \t" or traceback_at(older) >= 0):
                return []
        elif stop is not None and stop.stream == ln.stream and not stop.record and (
                stop.text[:1] in " \t" or traceback_at(stop.text) >= 0):
            return []  # (the exception line of a traceback already read, its frames above it)
        return before[start::-1]

    def _when(self, ln: Line) -> datetime | None:
        """The datetime of a line that starts an event, read in order (`clock`). RichHandler leaves its time
        column blank while the second repeats: such a record has the time of the last one written."""
        text = ln.ts
        if text is None and ln.shape == "rich":
            if self.lookback is not None:
                text = next((p.ts for p in self.lookback() if p.stream == ln.stream and p.ts), None)
            if text is None:
                return self.clock.last
        return self.clock.at(text)

    def _intro(self, stream: str | None) -> Line | None:
        """The record of `stream` that a traceback starting now follows: its line just before, or the record whose
        message's lines (indented, or blank) come between them (a Lambda record's message wrapped under it); else
        None."""
        if self.lookback is None:
            return None
        for prev in self.lookback():
            if prev.stream == stream:
                if prev.record or prev.kind == "labelled":
                    return prev
                t = prev.text
                if t[:1] not in ("", " ", "\t") or is_frame(t) or traceback_at(t) >= 0:
                    return None  # (another traceback's frames: that record's lines end there)
        return None

    def _close(self, op: _Open) -> None:
        del self.open[op.stream]
        if len(self.taken) > MAX_STREAMS:
            self.taken.clear()
        self.taken[op.stream] = op.end
        if not op.emit or (op.headless and op.exc_at < 0):
            return
        if op.state == _PYTEST:
            if not op.runs:  # no exception reported under it: a line that only looks like a section's header
                return
            *before, (kind, *lines) = op.runs
            head = lines[0] if lines else ""
            if not kind and head.startswith("assert "):  # (pytest's rewritten assert: `--tb=short` prints no type)
                kind = "AssertionError"
            if kind and not _EXC_NAME.match(head):  # (`assert 1 == 2` under `test_x.py:5: AssertionError`)
                head = f"{kind}: {head}" if head else kind
            op.message = head
            op.detail = [t for run in before for t in run[1:]] + lines[1:]
        if op.raw is not None and op.more:
            _rejoin(op)
        tb = op.own_tb if op.own_tb is not None else "\n".join(op.tb) if op.tb else None
        if op.recs == 1 and op.lead is not None and op.message is not None:
            tb = None  # (a traceback's first line glued into a record's message, no record after it: the record alone)
        if op.message is not None:
            message = op.message
        elif op.state == _IPY and op.ipy:  # (IPython's traceback cut before its exception line: its header's type)
            message = op.ipy
        else:
            message = _exception_line(op)
        if op.first is not None and op.detail and op.message is not None:
            # RichHandler wraps a long message onto the lines under it: one message again
            message = rich_join(op.first or "", message, op.detail)
            op.detail = []
        ts = op.ts
        self.stats.see_ts(ts)
        self.out.append(RawEvent("error", op.line, op.end, ts, op.shape or self.text_shape, op.stream,
                                 op.level, op.logger, message, tb, "\n".join(op.detail) or None))

    def _emit(self, kind: str, lineno: int, last: int, ln: Line, message: str, tb: str | None) -> None:
        ts = self._when(ln)
        self.stats.see_ts(ts)
        self.out.append(RawEvent(kind, lineno, last, ts, ln.shape or self.text_shape, ln.stream, ln.level,
                                 ln.logger, message, tb))
