"""Parse traceback text, as Python prints it, into a chain of exceptions with their frames."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mosaic_diag.platform.lazyre import LazyPattern

_HEADER = "Traceback (most recent call last):"
_GROUP_HEADER = "Exception Group Traceback (most recent call last):"
# a tool's header of a traceback it printed after the frames it kept (Flyte's `Filtered traceback (most recent call
# last):`, right above the exception line): one word before Python's header, lower-cased
_TOOL_HEADER = LazyPattern(r"[A-Z][a-z]+ traceback \(most recent call last\):")
# PEP 654's exception group, as Python 3.11+ prints it: each line of a group behind a gutter (its depth's indent,
# then `+` or `|` and a space), each sub-exception in a box opened by `+-+---- 1 ----` / `+---- 2 ----` (`...`: the
# sub-exceptions not shown, `and N more exceptions`) and the last one closed by `+------------------------------------`
_GROUP_BOX = LazyPattern(r"\s*(?:\+-)?\+-{3,} (?P<title>\d+|\.\.\.) -{3,}\s*$")
_GROUP_BOX_ANY = LazyPattern(r"^[ \t]*(?:\+-)?\+-{3,} (?:\d+|\.\.\.) -{3,}[ \t]*$", re.M)  # (no \s: not across lines)
_GROUP_END = LazyPattern(r"\s*\+-{20,}\s*$")
_GUTTER = LazyPattern(r"\s*[|+](?: |$)")
_SEPARATORS = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
# (loguru marks the frame where the exception was caught: `> File "…"`)
_FRAME = LazyPattern(r'^\s*(?:> )?File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?\s*$')
# a traceback's first frame further in than Python's two blanks: the traceback stands in a column that its header was
# taken out of (RichHandler's message column, behind the time and level columns' blanks)
_COLUMN_FRAME = LazyPattern(r'( {3,})(?:> )?File(?: "| *$)')
# … a frame line the column broke at its blanks and folded inside its path (`  File` / `"/long/checkout/tests/test_a` /
# `pp.py", line 77, in _failures`: the path too long for the column's width): its pieces, joined without the blanks
_FOLDED_FRAME = LazyPattern(r'(?:> )?File ?"(?P<file>[^"]+)", ?line ?(?P<line>\d+)(?:, ?in ?(?P<func>\S+))?$')
_FUNCTION_NAME = LazyPattern(r"[A-Za-z_<][\w.<>]*$")
_MAX_FOLDS = 12  # pieces of one folded frame line looked at (a path of 4096 bytes in a column 340 wide)
_MARKER = LazyPattern(r"^\s*[\^~\-+ ]*[\^~][\^~\-+ ]*$")
_EXC_LINE = LazyPattern(r"^(?P<type>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?::(?: (?P<msg>.*)|$)|$)")
_EMBEDDED = LazyPattern(
    r"(?:^|[\s:(\[])(?P<type>[a-z_][\w]*(?:\.[A-Za-z_]\w*)*\."
    # a class named as an error, or any class of a module that holds only exceptions (psycopg2.errors.
    # ForeignKeyViolation, asyncpg.exceptions.UniqueViolationError: named after SQLSTATE conditions)
    r"(?:[A-Z]\w*(?:Error|Exception|Timeout|Warning)|(?<=errors\.)[A-Z]\w*|(?<=exceptions\.)[A-Z]\w*))"
    r"(?::\s(?P<msg>.*)|$)"
)
_EXC_SUFFIX = LazyPattern(
    r"(Error|Exception|Warning|Exit|Interrupt|Timeout|Iteration|Failure|Fault|Violation|"
    r"Exhausted|Refused|Closed|NotFound|Invalid)$"
)


@dataclass
class ParsedFrame:
    """One frame of a traceback read from text: its file, line, function and source line."""

    file: str
    line: int
    function: str
    source: str = ""


@dataclass
class ParsedException:
    """One exception of a traceback read from text: its type, message and frames."""

    type: str | None
    message: str
    frames: list[ParsedFrame] = field(default_factory=list)


_CAMEL = LazyPattern(r"[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+$")
_DECORATION = "*`> "  # markdown bold / code / quote marks around a pasted line


def looks_like_exception_line(line: str, *, strict: bool = True) -> re.Match[str] | None:
    """`module.Type: message` with a name that looks like an exception type (qualified, an
    exception-like suffix, or an unqualified CamelCase name such as `UndefinedColumn`)."""
    m = _EXC_LINE.match(line)
    if not m:
        return None
    name = m.group("type")
    if not strict:
        return m
    short = name.rsplit(".", 1)[-1]
    if "." in name and short[:1].isupper() or _EXC_SUFFIX.search(short) and short != "Error":
        return m
    if "." not in name and m.group("msg") and _CAMEL.match(name):
        return m
    return None


# IPython's / Jupyter's frames (its traceback has no `Traceback (most recent call last):` line of Python's): IPython 8's
# `File ~/…/openai/api_requestor.py:687, in APIRequestor._interpret_response_line(self, …)` and `Cell In[3], line 1`
# (8.0-8.5: `Input In [4], in <cell line: 1>()`; `%xmode Plain`: `File ~/…/mod.py:6 in lookup`, no comma; a rendered
# notebook's link: `File [~/…/mod.py:1]`); IPython 7's and Colab's `/usr/…/openai/_base_client.py in _request(self, …)`,
# `<ipython-input-59-ab94…> in <module>` (Colab's copy makes the file a markdown link: `[<ipython-input-…>](https://
# localhost:8080/#) in <cell line: 49>()`, and glues its `12 frames` fold in front of the next frame)
_IPY_FRAME = LazyPattern(r"\s*File \[?(?P<file>[^\s\"\[][^\"]*?):(?P<line>\d+)\]?(?:\([^)\s]*\))?"
                         r"(?:,? in (?P<func>[\w.<>]+)|\s*$)"
                         r"|\s*(?P<cell>(?:Cell In|Input In ?)\[\d+\]), "
                         r"(?:line (?P<cline>\d+)|in <cell line: (?P<cline2>\d+)>|in (?P<cfunc>[\w.<>]+))"
                         r"|(?:\d+ frames?)?\[?(?P<file7>(?:/|~|[A-Za-z]:\\|<ipython-input-)[^\]\n]*?)"
                         r"(?:\]\([^)\s]*\))? in (?P<func7><cell line: \d+>|[\w.<>]+)(?:\(|\s*$)")
# IPython's header (`KeyError                                  Traceback (most recent call last)`: the type, then the
# words right-aligned to the terminal's width up to 75 columns, glued to a type too long for them) under a rule
_IPY_HEADER = LazyPattern(r"(?P<type>[A-Za-z_][\w.]*) *Traceback \(most recent call last\)\s*")
IPY_RULE = LazyPattern(r"-{20,}\s*")
# a frame's current line (`----> 4 mod.lookup(…)`, `--> 346     return …`, `-> 1041     def post(`)
IPY_ARROW = LazyPattern(r"-*> ?\d+(?: |$)")
# Colab's fold of the frames it hides (`17 frames`, glued to the next frame's line in some copies)
_IPY_FOLD = LazyPattern(r"\d+ frames?\b")


def ipython_header(line: str) -> str | None:
    """The exception type named by IPython's traceback header (`KeyError      Traceback (most recent call last)`, no
    colon), else None."""
    m = _IPY_HEADER.fullmatch(line) if "Traceback (most" in line else None
    return m.group("type") if m is not None else None


def is_ipython_frame(line: str) -> bool:
    """An IPython frame line (`_IPY_FRAME`) or Colab's fold of hidden frames (`4 frames`)."""
    return _ipython_frame(line) is not None or (line[:1].isdigit() and _IPY_FOLD.match(line) is not None)


def _ipython_frame(line: str) -> ParsedFrame | None:
    """The frame of an IPython traceback line (`_IPY_FRAME`), else None."""
    if " in " not in line and "Cell In[" not in line and "File " not in line:
        return None
    m = _IPY_FRAME.match(line)
    if m is None:
        return None
    if m.group("cell"):
        cline = m.group("cline") or m.group("cline2") or "0"
        return ParsedFrame(m.group("cell"), int(cline), m.group("cfunc") or "<cell>")
    if m.group("file"):
        return ParsedFrame(m.group("file"), int(m.group("line")), m.group("func") or "<module>")
    return ParsedFrame(m.group("file7"), 0, m.group("func7"))


def _exceptions_in_lines(lines: list[str]) -> list[ParsedException]:
    """Every exception line of a text without a traceback header (a log message, a cut paste, an
    error tracker's page, IPython's traceback), each with the lines after it up to the next exception or
    frame line, and IPython's frames before it (an IPython traceback cut before its exception line: the type its
    header names, with those frames)."""
    found: list[tuple[str, list[str], list[ParsedFrame]]] = []
    current: list[str] | None = None
    frames: list[ParsedFrame] = []
    header: str | None = None  # the type named by the IPython header of the frames so far
    for line in lines:
        stripped = line.strip().strip(_DECORATION)
        if _FRAME.match(line):
            current = None
            continue
        named = ipython_header(stripped)
        if named is not None:
            if header is not None:
                found.append((header, [""], frames))
            header, frames, current = named, [], None
            continue
        frame = _ipython_frame(line)
        if frame is not None:
            frames.append(frame)
            current = None
            continue
        m = looks_like_exception_line(stripped)
        if m is None:
            m = _EMBEDDED.search(line)  # "OpenAI call failed: openai.RateLimitError: Error code: 429 ..."
        if m is not None:
            current = [m.group("msg") or ""]
            found.append((m.group("type"), current, frames))
            frames, header = [], None
        elif current is not None and len(current) < 50:
            current.append(line)
    if header is not None:
        found.append((header, [""], frames))
    return [ParsedException(etype, "\n".join(msg).rstrip(), fr) for etype, msg, fr in found]


def _unglue(lines: list[str]) -> list[str]:
    """Lines with a traceback header glued to the end of another line split in two, and a traceback
    flattened onto its header's line (its line breaks lost) split into its lines again."""
    out = []
    for line in lines:
        at = line.find(_HEADER)
        if at > 0 and line[:at].strip():
            out.append(line[:at])
            line = line[at:]
        if at < 0:
            out.append(line)
            continue
        # a chained traceback flattened too: each traceback of the chain, then its separator line
        for k, part in enumerate(_FLAT_SEPARATOR.split(line)):
            if k % 2:
                out += ["", part, ""]
            elif part.strip():
                out += _unflatten(part.strip())
    return out


_FLAT_SEPARATOR = LazyPattern(r"(?<!\s)\s+(The above exception was the direct cause of the following exception:"
                              r"|During handling of the above exception, another exception occurred:)\s+"
                              r"(?=Traceback \(most recent call last\):)")
# (a split only at the start of a run of blanks: from every blank of a long run the lookahead would be tried
# after each shorter tail of the run, quadratic in the run)
_FLAT_SPLIT = LazyPattern(r'(?<!\s)\s+(?=File "[^"]+", line \d+, in \S)')
_FLAT_FRAME = LazyPattern(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+) ?(?P<rest>.*)')


def _flattened_without_header(line: str) -> bool:
    """A traceback flattened onto one line whose header was cut off (a paste that starts at its first frame):
    `File "a.py", line 1, in f src File … mod.Error: msg`, a chain's separator and next traceback after it
    too. A frame line as Python prints it has nothing after its function name."""
    m = _FLAT_FRAME.match(line.strip())
    if m is None or not m.group("rest").strip():
        return False
    rest = m.group("rest")
    return _FLAT_SPLIT.search(rest) is not None or _EMBEDDED.search(rest) is not None


def _unflatten(line: str) -> list[str]:
    """`Traceback (most recent call last): File "a.py", line 1, in f src File ... mod.Error: msg` as
    the lines Python printed: the header, each frame and its source line, then the exception line
    (found as a qualified `module.Type: message` in the last frame's text)."""
    at = line.find(_HEADER)
    rest = line[at + len(_HEADER):]
    chunks = _FLAT_SPLIT.split(rest)
    if len(chunks) < 2 or chunks[0].strip():
        return [line]
    out = [line[:at + len(_HEADER)]]
    for chunk in chunks[1:]:
        m = _FLAT_FRAME.match(chunk)
        if m is None:
            return [line]
        file, lineno, func = m.group("file", "line", "func")
        out.append(f'  File "{file}", line {lineno}, in {func}')
        source = m.group("rest")
        exc = _EMBEDDED.search(source) if chunk is chunks[-1] else None
        if exc is not None:
            source, exc_line = source[:exc.start("type")], source[exc.start("type"):]
        source = _without_markers(source)  # Python 3.11+'s ^^^^ under the source line
        if source:
            out.append(f"    {source}")
        if exc is not None:
            out.append(exc_line)
    return out


_MARKER_CHARS = frozenset("^~-+")


def _without_markers(source: str) -> str:
    """A flattened frame's source without the words of Python 3.11+'s position markers after it (`^^^^`,
    `~~~^^^`: words of ^ ~ - + holding a ^ or ~, each after a blank), stripped; one pass from the end (a
    pattern of such words repeated is ambiguous: exponential on a hostile run of them)."""
    end = len(source)
    while True:
        while end and source[end - 1].isspace():
            end -= 1
        start = end
        while start and not source[start - 1].isspace():
            start -= 1
        word = source[start:end]
        if not start or not word or not _MARKER_CHARS.issuperset(word) or ("^" not in word and "~" not in word):
            return source[:end].strip()
        end = start


# a frame in a Rich traceback box: "/app/api/x.py:12 in handler", "in load:9" (no file), or the file and
# line alone when the box wrapped the function name onto the next line ("in loads"); the file's path may hold
# blanks (`/home/me/my project/app.py`), never the box's own characters (a source line's gutter, a nested box)
_RICH_FRAME = LazyPattern(r"(?:in (?P<func2>\S+):(?P<line2>\d+)"
                          r"|(?P<file>[^\s│❱](?:[^│❱]*?\S)?):(?P<line>\d+)(?: in(?: (?P<func>\S+))?)?)$")


def _rich_content(line: str) -> tuple[str, bool] | None:
    """The text inside one line of a Rich box and whether it fills the box's width (Rich pads a line to
    the width: a full line was folded inside a word, and its next line goes on without a space); None
    for a line that is not inside a box."""
    s = line.strip()
    if len(s) < 4 or s[0] != "│" or s[-1] != "│":
        return None
    content = s[2:-2]  # "│ " + text padded to the width + " │"
    return content.strip(), bool(content) and not content.endswith(" ")


def _unfold(parts: list[tuple[str, bool]], blank_at: int = -1) -> str:
    """The lines of one paragraph of a Rich box as the one line they were before Rich folded them (`blank_at`: the
    line after which a full line lost a blank, not a fold inside a word)."""
    out = ""
    for k, (text, _) in enumerate(parts):
        out += text if k == 0 or parts[k - 1][1] and k - 1 != blank_at else " " + text
    return out


_LOST_BLANK = LazyPattern(r"(?:.*:\d+|.* in)$")  # a full line that a blank of ` in ` may have ended


def _rich_location(parts: list[tuple[str, bool]]) -> re.Match[str] | None:
    """The frame location (`_RICH_FRAME`) that one paragraph of a Rich box folded over lines reads as, or None. A
    full line is a fold inside a word, or words that filled it up to the blank Rich broke at (`…/app.py:267 in` /
    `handler`, `…/app.py:267` / `in handler`: where depends on how long the path is): when the folds alone make no
    location, the blank is put back after the last full line that ends where a blank of ` in ` stands (only the
    function's name, which has no blank, comes after it)."""
    m = _RICH_FRAME.match(_unfold(parts))
    if m is not None:
        return m
    k = next((k for k in range(len(parts) - 2, -1, -1) if parts[k][1] and _LOST_BLANK.match(parts[k][0])), -1)
    return _RICH_FRAME.match(_unfold(parts, k)) if k >= 0 else None


def _rich_frames(box: list[str]) -> list[ParsedFrame]:
    """The frames of one Rich traceback box: each paragraph (lines between blank ones) that reads as a
    frame's location, `path:line in function` (or `in function:line`), folded over lines or not."""
    frames: list[ParsedFrame] = []
    parts: list[tuple[str, bool]] = []
    for line in [*box, "│  │"]:
        got = _rich_content(line)
        if got is not None and got[0]:
            parts.append(got)
            continue
        m = _rich_location(parts) if parts and not parts[0][0][:1].isdigit() else None
        parts = []
        if m:
            frames.append(ParsedFrame(m.group("file") or "<unknown>", int(m.group("line") or m.group("line2")),
                                      m.group("func") or m.group("func2") or ""))
    return frames


def _parse_rich(lines: list[str]) -> list[ParsedException]:
    """The exceptions of Rich traceback boxes (`╭─ Traceback (most recent call last) ─╮` ... `╰─╯`, then
    the exception line after each box, maybe wrapped), root cause first."""
    out: list[ParsedException] = []
    i, n = 0, len(lines)
    while i < n:
        s = lines[i].strip()
        if not (s.startswith("╭") and "Traceback" in s):
            i += 1
            continue
        i += 1
        top = i
        while i < n and not lines[i].strip().startswith("╰"):
            i += 1
        frames = _rich_frames(lines[top:i])
        i += 1  # the bottom edge
        exc_lines: list[str] = []
        while i < n:
            s = lines[i].strip()
            if not s or s in _SEPARATORS or s.startswith("╭"):
                break
            exc_lines.append(s)
            i += 1
        if exc_lines:
            m = looks_like_exception_line(exc_lines[0].strip(_DECORATION), strict=False)
            first, etype = (m.group("msg") or "", m.group("type")) if m else (exc_lines[0], None)
            # Rich wraps the message to the box's width: its lines are one message again
            out.append(ParsedException(etype, " ".join([first, *exc_lines[1:]]).strip(), frames))
        elif frames:
            out.append(ParsedException(None, "", frames))
    return out


def is_group_text(text: str) -> bool:
    """The text holds an exception group as Python prints it (its header, or a sub-exception's box)."""
    return "Exception Group Traceback" in text or ("---- " in text and _GROUP_BOX_ANY.search(text) is not None)


def _ungroup(lines: list[str]) -> list[str]:
    """An exception group's lines as the plain tracebacks they hold, in printed order: the group's own (its
    header, frames, `ExceptionGroup: … (N sub-exceptions)` line), then each sub-exception's, at any depth (a
    nested group the same way), each starting with a header (one is written for a sub-exception that was
    never raised: its exception line alone). The gutter is taken off; chains inside a box stay chains; the
    `and N more exceptions` box is dropped; lines outside the group (a chain's separator and the traceback
    after it) are kept as they are."""
    out: list[str] = []
    fresh = skip = False  # a box just opened (its first line wants a header); inside the `...` box
    for line in lines:
        box = _GROUP_BOX.match(line)
        if box is not None:
            out.append("")
            fresh, skip = True, box.group("title") == "..."
            continue
        if _GROUP_END.match(line):
            out.append("")
            fresh = skip = False
            continue
        m = _GUTTER.match(line)
        if m is None:
            out.append(line)
            continue
        if skip:
            continue
        content = line[m.end():]
        if content.startswith(_GROUP_HEADER):
            content = _HEADER
            if out and out[-1].strip():
                out.append("")
        if fresh and content.strip():
            if not content.startswith(_HEADER):
                out.append(_HEADER)
            fresh = False
        out.append(content)
    return out


_MAX_PREFIX = 80  # characters of a repeated prefix looked at before a traceback's line (Compose's widest is ~66)
MAX_STAMP = 160  # characters of a per-line stamp (Apache's error log's, with its module, pid, thread, client: ~110)


def _line_prefix(line: str) -> str | None:
    """What stands before `line`'s traceback syntax when it is a traceback's header or frame line (`Traceback (most
    recent call last):`, `  File "…", line N`, the frame maybe wrapped after its file): the text before the header,
    or before a frame's two-blank indent; None for any other line, and "" for a frame without that indent (its lines
    peeled would not be Python's: a source line and the exception line after it could not be told apart)."""
    at = line.find(_HEADER, 0, MAX_STAMP + len(_HEADER))
    if at >= 0:
        return line[:at]
    at = line.find('File "', 0, MAX_STAMP + 8)
    if at < 0:
        return None
    rest = line[at:].rstrip()
    if '", line ' not in rest and not rest.endswith('",'):
        return None
    pre = line[:at]
    return pre[:-2] if pre.endswith("  ") else ""


def _gutter_only(prefix: str) -> bool:
    """A prefix of blanks, or of an exception group's gutter (`  | `, `    + `): Python's own syntax, no paste's."""
    return not prefix.strip() or (prefix[:1].isspace() and not prefix.strip(" \t|+"))


def peel_common_prefix(lines: list[str]) -> list[str]:
    """`lines` without the prefix every traceback line of them carries (uvicorn's `ERROR:    ` level column, a
    logger's or a process's column such as `app.worker | ` or pm2's `2|app  | `, a quote's `> `, a diff's `+ `),
    taken off each line that carries it; `lines` as they are when the header and frame lines do not all carry one
    same prefix that is no part of Python's syntax, or when fewer than two traceback lines (header, frame or `Type:
    message`) carry it. A prefix that varies from line to line is taken off when it is a stamp of one shape (a time of
    day in it, the lines' prefixes the same but for their digits: `[10:00:01] `, `10:00:01.123 `, Apache's `[Mon Jun
    29 06:14:08.188280 2020] [wsgi:error] [pid 1] `, see `stamp_shape`)."""
    prefix: str | None = None
    shape: str | None = None  # a stamp's shape, when the prefixes vary
    count = 0
    for line in lines:
        pre = _line_prefix(line)
        if pre is None or (len(pre) > _MAX_PREFIX and stamp_shape(pre) is None):
            continue
        if prefix is None:
            if _gutter_only(pre):
                return lines
            prefix = pre
        elif pre != prefix:
            if shape is None:
                shape = stamp_shape(prefix)
            if shape is None or len(pre) != len(shape) or stamp_shape(pre) != shape:
                return lines
        count += 1
    if prefix is None:
        return lines
    n = len(prefix)
    if shape is None and count < 2 and (shape := stamp_shape(prefix)) is not None:
        # one frame behind a stamp (a paste cut above it): its exception line behind a stamp of that shape counts
        count += sum(1 for line in lines if line[:n].translate(_DIGITS_AS_ZERO) == shape
                     and looks_like_exception_line(line[n:].rstrip()))
        if count < 2:
            return lines
    if shape is not None:
        return [line[n:] if line[:n].translate(_DIGITS_AS_ZERO) == shape else line for line in lines]
    if count < 2:
        count += sum(1 for line in lines
                     if line.startswith(prefix) and looks_like_exception_line(line[len(prefix):].rstrip()))
        if count < 2:
            return lines
    return [line[n:] if line.startswith(prefix) else line for line in lines]


_TIME_OF_DAY = LazyPattern(r"(?<!\d)\d\d?:\d\d:\d\d(?!\d)")
_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")


def stamp_shape(prefix: str) -> str | None:
    """The shape of a stamp in front of a line (`prefix` with every digit 0), or None when `prefix` holds no time of
    day (or is blank or longer than a stamp)."""
    if len(prefix) > MAX_STAMP or not prefix.strip() or _TIME_OF_DAY.search(prefix) is None:
        return None
    return prefix.translate(_DIGITS_AS_ZERO)


# the rest of a frame line that a terminal broke at its width (Windows' console at 80 columns, a 120-column one): inside
# its file's name (`  File "C:\\…\\site-pack` / `ages\\pydantic\\main.py", line 176, in __init__`), or after the
# file (`  File "…/batch_handler.py", ` / `line 138, in embed`)
_WRAP_IN_FILE = LazyPattern(r'[^\s"]*", line \d+(?:, in \S.*)?$')
_WRAP_AFTER_FILE = LazyPattern(r"line \d+(?:, in \S.*)?$")
# … or inside its function's name (`…", line 120, in _wr` / `apped_traceback`): a rest that no exception line can be
# (it starts with no capital, or it ends a `<module>`), under a frame line as long as a terminal is wide
_WRAP_IN_FUNCTION = LazyPattern(r"[a-z0-9_]\w*>?$|\w*>$")
_WHOLE_FRAME = LazyPattern(r'File "[^"]+", line \d+, in \S+$')
MIN_WRAP_WIDTH = 60  # columns of the narrowest terminal a frame line is taken to be broken by


def _folded_frame(lines: list[str], i: int, indent: int) -> tuple[ParsedFrame, int] | None:
    """The frame line that starts at `lines[i]` inside a column (`indent`) and goes on over the lines after it that
    start at the column's edge (`_FOLDED_FRAME`), and the index after its last piece; else None. Rich breaks a line
    at a blank when the next word does not fit, and folds a word longer than the column in pieces as wide as it: a
    line that ends short of the widest of the lines looked at (the column's width, or less) broke at a blank, kept
    (a path with a blank in it, `/tmp/my checkout/…`, was read without it)."""
    end = min(i + 1 + _MAX_FOLDS, len(lines))
    widest = max(len(line[indent:].rstrip()) for line in lines[i:end] if not line[:indent].strip())
    text = lines[i][indent:].strip()
    short = len(lines[i][indent:].rstrip()) < widest
    for k in range(i + 1, end):
        piece = lines[k][indent:] if not lines[k][:indent].strip() else ""
        if not piece or piece[0] == "\t" or piece[:1] == " " and piece[1:2] in ("", " ", "\t"):
            return None  # (one blank first: Rich's fold put the blank after a piece that filled the column there)
        piece = piece.rstrip()
        text += f" {piece}" if short and piece[:1] != " " else piece
        short = len(piece) < widest
        m = _FOLDED_FRAME.match(text)
        if m is not None:
            return ParsedFrame(m.group("file"), int(m.group("line")), m.group("func") or ""), k + 1
    return None


def join_wrapped_frame(prev: str, line: str) -> str | None:
    """`prev` and `line` as the one frame line they were before a terminal broke it at its width (`prev` a frame's
    start, `File "…` cut inside its file's name, after it or inside its function's name, `line` its unindented rest,
    see `_WRAP_IN_FILE`), else None: only when the rest can be nothing else (no blank inside the cut name and `", line
    N` after it; `line N, in f`; a function name's end that no exception line can be)."""
    if not line or 'File "' not in prev:
        return None
    head = prev.lstrip(" \t>")
    if not head.startswith('File "'):
        return None
    if line[0] in " \t":  # a break just before one of the frame line's blanks (`…, line 115, in` / ` _refused_from`)
        if line[0] == " " and line[1:2] not in ("", " ", "\t") and len(prev) >= MIN_WRAP_WIDTH \
                and not _WHOLE_FRAME.match(head) and _WHOLE_FRAME.match(head + line):
            return prev + line
        return None
    rest = head[6:]
    if '"' not in rest:
        return prev + line if _WRAP_IN_FILE.match(line) else None
    if rest.rstrip().endswith('",') and rest.index('"') == len(rest.rstrip()) - 2 and _WRAP_AFTER_FILE.match(line):
        return prev + line if prev.endswith(" ") else f"{prev} {line}"
    if len(prev) >= MIN_WRAP_WIDTH and _WRAP_IN_FUNCTION.match(line) and _WHOLE_FRAME.match(head):
        return prev + line
    # … or anywhere in between (`….py", line 12` / `1, in _wrapped`, `…", line 121, in ` / `_wrapped_traceback`): a
    # frame's start that is no whole frame, as long as a terminal is wide, and a rest that makes it one
    if len(prev) >= MIN_WRAP_WIDTH and not _WHOLE_FRAME.match(head) and _WHOLE_FRAME.match(head + line):
        return prev + line
    return None


def join_wrapped_frames(lines: list[str]) -> list[str]:
    """`lines` with each frame line a terminal broke at its width joined again (`join_wrapped_frame`), once: a
    joined line takes no further rest (a run of short lines under a long frame would grow it line by line, in time
    quadratic in their number)."""
    out: list[str] = []
    joined_last = False
    for line in lines:
        joined = join_wrapped_frame(out[-1], line) if out and not joined_last and (
            line[:1] not in " \t" or line[:1] == " " and line[1:2] not in " \t") else None
        if joined is None:
            out.append(line)
        else:
            out[-1] = joined
        joined_last = joined is not None
    return out


def parse_traceback_text(text: str) -> list[ParsedException]:
    """The exceptions of a traceback, root cause first; [] when `text` holds none.

    An exception group's exceptions come in printed order: the group's, then its sub-exceptions' (`_ungroup`).
    Also accepts a bare exception line (`openai.RateLimitError: Error code: 429 - ...`), whose
    following lines are taken as the rest of its message, a traceback without its header (frames,
    then the exception line) and exceptions named in the lines before a traceback.
    """
    lines = peel_common_prefix(text.splitlines())
    if 'File "' in text:
        lines = join_wrapped_frames(lines)
    if is_group_text(text):
        lines = _ungroup(lines)
    if "╭" in text and "Traceback" in text:
        rich = _parse_rich(lines)
        if rich:
            # a plain traceback (or an exception line) printed before the first box, as a program that logs the
            # error and then lets Rich print it does: its exceptions are evidence too, printed first
            box = next(k for k, line in enumerate(lines) if line.strip().startswith("╭") and "Traceback" in line)
            return [*parse_traceback_text("\n".join(lines[:box])), *rich] if box else rich
    flat = [_flattened_without_header(line) for line in lines]
    if any(flat):  # read as if its header were there, as a cut traceback of several lines is below
        lines = [_HEADER + " " + line.strip() if f else line for line, f in zip(lines, flat, strict=True)]
    if _HEADER in text or any(flat):
        lines = _unglue(lines)
    start = next((k for k, line in enumerate(lines) if line.lstrip().startswith(_HEADER)), -1)
    # frames without a header, then an exception line: a cut traceback (the whole text, or the first of a chain whose
    # first header was cut or glued into a record's message); read it as if the header were there
    first_frame = next((k for k, line in enumerate(lines[:start] if start >= 0 else lines) if _FRAME.match(line)), -1)
    headless = first_frame >= 0 and any(looks_like_exception_line(line.strip().strip(_DECORATION))
                                        for line in lines[first_frame:start if start >= 0 else None])
    if start < 0 and not headless:
        return _exceptions_in_lines(lines)
    if headless:
        lines = [*lines[:first_frame], _HEADER, *lines[first_frame:]]
        start = first_frame
    out: list[ParsedException] = _exceptions_in_lines(lines[:start]) if start > 0 else []
    i, n = start, len(lines)
    while i < n:
        if not lines[i].lstrip().startswith(_HEADER):
            i += 1
            continue
        indent = len(lines[i]) - len(lines[i].lstrip())
        i += 1
        column = _COLUMN_FRAME.match(lines[i]) if indent == 0 and i < n else None
        if column:  # (the column's lines: dedented as a header's indent dedents the lines under it)
            indent = len(column.group(1)) - 2
        frames: list[ParsedFrame] = []
        exc_lines: list[str] = []
        frame_indent = -1  # the indent of the last `File "…"` line: its source lines are deeper, never shallower
        while i < n:
            raw = lines[i]
            line = raw[indent:] if len(raw) >= indent and not raw[:indent].strip() else raw
            stripped = line.strip()
            if column and not exc_lines and stripped.startswith(("File", "> File")) and not _FRAME.match(line):
                folded = _folded_frame(lines, i, indent)
                if folded is not None:
                    frames.append(folded[0])
                    i = folded[1]
                    continue
            if column and frames and not exc_lines and line[:1] not in (" ", "") and not looks_like_exception_line(
                    stripped.strip(_DECORATION)):
                # the rest of a frame's or source line the column was too narrow for (Rich folds it onto the
                # column's next line): no exception line; right under a frame line that ends in `, in`, its function
                if not frames[-1].function and not frames[-1].source and _FUNCTION_NAME.match(stripped) and \
                        lines[i - 1].rstrip().endswith(", in"):
                    frames[-1].function = stripped
                i += 1
                continue
            if exc_lines:
                if stripped in _SEPARATORS or stripped.startswith(_HEADER):
                    break
                exc_lines.append(line)
                i += 1
                continue
            fm = _FRAME.match(line)
            if fm:
                frames.append(ParsedFrame(fm.group("file"), int(fm.group("line")),
                                          (fm.group("func") or "").strip()))
                frame_indent = len(line) - len(line.lstrip())
                i += 1
                continue
            if line[:2] == "  " and line[2:7] in ("Cell ", "File ") and (ipf := _ipython_frame(line)) is not None:
                frames.append(ipf)  # IPython's `%xmode Plain`: `  Cell In[1], line 4`, `  File ~/…/mod.py:6 in f`
                i += 1
                continue
            # an indented line under the frames is a source line, unless it is shallower than the frame lines and
            # reads as an exception line: a log viewer that re-indents the whole traceback (QGIS's message log puts
            # the frames' source lines level with their `File` lines and the exception line one column left of them)
            if line.startswith(" ") and frames and not stripped.startswith(_HEADER) and not (
                    0 <= len(line) - len(line.lstrip()) < frame_indent
                    and looks_like_exception_line(stripped.strip(_DECORATION))):
                if not _MARKER.match(line) and not frames[-1].source:
                    frames[-1].source = stripped
                i += 1
                continue
            if not stripped or (stripped[-1] == ":" and _TOOL_HEADER.fullmatch(stripped)):
                i += 1  # (a tool's own header under the frames, Flyte's `Filtered traceback …:`: no exception line)
                continue
            exc_lines.append(line)
            i += 1
        while exc_lines and not exc_lines[-1].strip():
            exc_lines.pop()
        if exc_lines:
            m = looks_like_exception_line(exc_lines[0].strip().strip(_DECORATION), strict=False)
            if m:
                first = m.group("msg") or ""
                etype: str | None = m.group("type")
            else:
                first, etype = exc_lines[0].strip(), None
            message = "\n".join([first, *exc_lines[1:]]).rstrip()
            out.append(ParsedException(etype, message, frames))
        elif frames:
            out.append(ParsedException(None, "", frames))
    return out
