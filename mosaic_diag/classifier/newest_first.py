"""Logs copied or exported newest first, told by their own evidence and put back in the order they were written.

A log viewer's console (Grafana's Loki panels, LangSmith's, CloudWatch's, Render's dashboard), `journalctl -r` and
the exports of log tools list the newest line first: a Python traceback shows upside down, its exception line above
its frames, `Traceback (most recent call last):` below them. Two kinds of evidence tell such a text from a log in
the order it was written, both read in its first lines (`HEAD_LINES`):

- its lines' time stamps go down, line after line (`MIN_DROPS` drops), and never up: an oldest-first log whose clock
  jumps back once (a DST change, a restart, a rotated file's start, two interleaved hosts) has stamps that go up too;
  this alone decides (a console's multi-line entry keeps its own traceback in Python's order);
- or, with no stamp that goes up (a console's copy gives a traceback's lines one time), tracebacks upside down
  outnumber tracebacks in Python's order: an exception line with a frame's source line, then its `File "…"` line,
  right below it, a header with a frame right above it; against a header with a frame right below it and an
  exception line with a frame right above it.

Reading it in order (`oldest_first`) reverses its entries, not its lines: an entry is a stamped line and the
unstamped lines under it (a console's multi-line entry keeps its own lines in order; a date on a line of its own
starts the entry of the lines under it); a text with no stamped line is reversed line by line.
"""

from __future__ import annotations

from collections.abc import Sequence

from mosaic_diag.platform import recache
from mosaic_diag.platform.lazyre import LazyPattern

HEAD_LINES = 400  # the lines looked at for the evidence
MIN_DROPS = 2  # stamps that go down (and none up) in them, to tell a newest-first text by its stamps alone
ENTRY_CAP = 1000  # an entry of more unstamped lines is no entry: its lines are reversed one by one
_LOOK = 4  # lines looked at around an exception line or a header (caret lines and bare stamps not counted)

_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                       "Dec"), start=1)}
# a stamp at a line's start (maybe in brackets, maybe behind a container's `[name] `): ISO-8601 or `Y/M/D`, syslog's
# and journald's `Mon DD HH:MM:SS`, a console's US `M/D/YYYY, H:MM:SS AM`
_STAMP = recache.compile(
    r"\[?(?:\[[\w.-]{1,64}\] )?(?:"
    r"(?P<y>\d{4})[-/](?P<mo>\d\d)[-/](?P<d>\d\d)[T ](?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?P<f>[.,]\d{1,9})?"
    r"|(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?P<sd>[ \d]\d) (?P<sh>\d\d):(?P<smi>\d\d):(?P<ss>\d\d)"
    r"(?P<sf>\.\d{1,9})?"
    r"|(?P<umo>\d{1,2})/(?P<ud>\d{1,2})/(?P<uy>\d{4}),? (?P<uh>\d{1,2}):(?P<umi>\d\d):(?P<us>\d\d)(?: (?P<ap>[AP]M))?)",
    group="logs")  # (the log reader's bundle of kept patterns: tried on the head of every log)
_HEADER = "Traceback (most recent call last):"
# a frame's line: Python's (`File "…", line N, in f`, maybe cut), IPython's (`File /path:N, in f(…)`, `Cell In[1], line
# 4`, its arrow `----> 4 f()`)
_FRAME = LazyPattern(r'(?:^|\s)File ["/]|Cell In\[\d+\], line \d|(?:^|\s)-+> \d+ ')
# an exception's line: a (dotted) class name that ends as Python's do, then `: ` or the line's end
_EXCEPTION = LazyPattern(r"(?:^|[\s\]])(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Timeout|Group)"
                        r"(?::\s|:?\s*$)")
# Python 3.11's markers under a source line (behind a column of the viewer's, `unk            ^^^^`)
_CARETS = LazyPattern(r"(?:^|\s)[~^]*\^[\s^~]*$")
# a chain's separators; Streamlit's `Traceback:` between its exception line and the frames (in Python's order)
_SEPARATOR = ("above exception", "direct cause of the", "Traceback:")


def stamp_key(line: str) -> tuple[int, ...] | None:
    """A key that orders the stamp at `line`'s start (None: no stamp there; syslog's has no year)."""
    m = _STAMP.match(line)
    if m is None:
        return None
    if m["y"]:
        frac = int((m["f"] or ".0")[1:].ljust(9, "0"))
        return (int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]), int(m["s"]), frac)
    if m["mon"]:
        frac = int((m["sf"] or ".0")[1:].ljust(9, "0"))
        return (0, _MONTHS[m["mon"]], int(m["sd"]), int(m["sh"]), int(m["smi"]), int(m["ss"]), frac)
    hour = int(m["uh"]) % 12 + (12 if m["ap"] == "PM" else 0) if m["ap"] else int(m["uh"])
    return (int(m["uy"]), int(m["umo"]), int(m["ud"]), hour, int(m["umi"]), int(m["us"]), 0)


def _stamp_only(line: str) -> bool:
    m = _STAMP.match(line)
    return m is not None and not line[m.end():].strip(" ]")


def _kind(line: str) -> str:
    """"H" a traceback's header, "F" a frame's line, "E" an exception's line, "S" a chain's separator, "C" carets or
    a bare stamp (passed over), "" anything else (a frame's source line among them)."""
    if _HEADER in line:
        return "H"
    if ("File " in line or "Cell In[" in line or "-> " in line) and _FRAME.search(line):
        return "F"
    if any(s in line for s in _SEPARATOR):
        return "S"
    if "^" in line and _CARETS.search(line) or _stamp_only(line):
        return "C"
    if _EXCEPTION.search(line) and "raise " not in line:
        return "E"
    return ""


def evidence(lines: Sequence[str]) -> tuple[int, int, int, int]:
    """(stamps that go up, stamps that go down, tracebacks' ends upside down, their ends in Python's order) in
    `lines`."""
    ups = downs = 0
    last: tuple[int, ...] | None = None
    for line in lines:
        key = stamp_key(line)
        if key is None:
            continue
        if last is not None and key != last:
            if key > last:
                ups += 1
            else:
                downs += 1
        last = key
    kinds = [k for k in map(_kind, lines) if k != "C"]
    upside = in_order = 0
    for i, k in enumerate(kinds):
        if k not in ("E", "H"):
            continue
        below = _until_stop(kinds[i + 1:i + 1 + _LOOK])
        above = _until_stop(kinds[max(0, i - _LOOK):i][::-1])
        if k == "E":  # (below it, its frame's source line, then the frame's line: Sentry's and Streamlit's
            # exception line over frames in Python's order has the frame's line first)
            upside += below[:2] == ["", "F"]
            in_order += "F" in above
        else:
            upside += "F" in above
            in_order += bool(below) and below[0] == "F"
    return ups, downs, upside, in_order


def _until_stop(kinds: list[str]) -> list[str]:
    """The kinds up to the first header, exception line or separator (the end of this traceback)."""
    for j, k in enumerate(kinds):
        if k in ("H", "E", "S"):
            return kinds[:j]
    return kinds


def is_newest_first(lines: Sequence[str]) -> bool:
    """Whether the text whose first lines are `lines` lists its newest line first (the module's docstring)."""
    last: tuple[int, ...] | None = None
    for line in lines[:HEAD_LINES]:  # (a stamp that goes up decides at once: a log in the order it was written)
        key = stamp_key(line)
        if key is not None:
            if last is not None and key > last:
                return False
            last = key
    ups, downs, upside, in_order = evidence(lines[:HEAD_LINES])
    if ups:
        return False
    return downs >= MIN_DROPS or upside > in_order


def oldest_first(lines: Sequence[str]) -> tuple[list[str], list[int]]:
    """`lines` (newest first) in the order they were written, and each one's index in `lines`: the entries
    reversed, each entry's own lines kept in order (the module's docstring)."""
    starts = [i for i, line in enumerate(lines) if _STAMP.match(line) is not None and stamp_key(line) is not None]
    order: list[int] = []
    if not starts:
        order.extend(range(len(lines) - 1, -1, -1))
        return [lines[i] for i in order], order
    bounds = [*([0] if starts[0] else []), *starts, len(lines)]
    for a, b in zip(bounds[-2::-1], bounds[:0:-1], strict=True):
        order.extend(range(a, b) if b - a <= ENTRY_CAP else range(b - 1, a - 1, -1))
    return [lines[i] for i in order], order
