"""A traceback whose every line is behind a stamp that varies line by line (`ts`, a CI runner's time column, Apache's
error log for mod_wsgi): the stamp is peeled, in the reader (triage) and in `classify`'s traceback parser.

The traceback is real: psycopg2 refused by a closed loopback port (`tests.test_logs_support.pg_refused`), formatted by
`traceback.format_exception`; the stamps are written per line as those tools write them (the time moves on).
"""

from __future__ import annotations

import tempfile
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.tracebacks import (
    ParsedException,
    join_wrapped_frame,
    join_wrapped_frames,
    parse_traceback_text,
)
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.test_logs_support import BLOCKS, module_at, pg_refused, read

T0 = datetime(2024, 1, 5, 9, 59, 58, 123456)

# how each tool stamps line k (the time moves on by 0.37 s a line: the seconds, the minute and the hour turn)
STAMPS: dict[str, Callable[[datetime], str]] = {
    "bracketed-time": lambda t: t.strftime("[%H:%M:%S] "),
    "time-millis": lambda t: t.strftime("%H:%M:%S.") + f"{t.microsecond // 1000:03d} ",
    "bracketed-slash-date": lambda t: t.strftime("[%Y/%m/%d %H:%M:%S] "),
    "ts-moreutils": lambda t: t.strftime("%b %d %H:%M:%S "),
    "apache-mod-wsgi": lambda t: t.strftime("[%a %b %d %H:%M:%S.%f %Y] ")
    + "[wsgi:error] [pid 27729:tid 140361770776320] [remote 127.0.0.1:52416] ",
}


def _traceback() -> str:
    exc = pg_refused()
    return "".join(traceback.format_exception(exc)).rstrip("\n")


def _stamped(lines: list[str], stamp: Callable[[datetime], str], start: int = 0) -> list[str]:
    return [stamp(T0 + timedelta(microseconds=370_123 * (start + k))) + line for k, line in enumerate(lines)]


def _errors(text: str, block_size: int | None) -> list[RawEvent]:
    kw = {} if block_size is None else {"block_size": block_size}
    return [e for e in read(text.encode(), **kw)[0] if e.kind == "error"]


@pytest.mark.parametrize("block_size", BLOCKS)
@pytest.mark.parametrize("name", list(STAMPS))
def test_a_traceback_behind_a_varying_stamp_is_read_with_its_frames(name: str, block_size: int | None) -> None:
    tb = _traceback().split("\n")
    stamp = STAMPS[name]
    lines = _stamped(["worker started", *tb], stamp)  # (a line after the exception line would go on with its message)
    assert len({line[:len(line) - len(t)] for line, t in zip(lines[1:], tb, strict=True)}) > 1  # (the stamps vary)
    text = "\n".join(lines) + "\n"
    events = _errors(text, block_size)
    assert len(events) == 1, [(e.line, e.message) for e in events]
    (raw,) = events
    assert (raw.line, raw.end_line) == (2, 1 + len(tb))
    assert raw.message.startswith("psycopg2.OperationalError: connection to server at")
    assert (raw.traceback or "").split("\n") == tb  # the stamps peeled: the traceback as Python printed it
    ev = EventClassifier(Classifier.default()).event(raw)
    assert (ev.exception_type, ev.label) == ("psycopg2.OperationalError", "PG_CONNECTION_FAILED")
    # `classify` on the pasted lines reads the same exception and frames as on the bare traceback
    (bare,) = parse_traceback_text("\n".join(tb))
    (pasted,) = parse_traceback_text("\n".join(lines[1:]))
    assert (pasted.type, pasted.message, pasted.frames) == (bare.type, bare.message, bare.frames)
    assert pasted.frames


def test_two_stamped_tracebacks_are_two_events() -> None:
    """A second header behind the stamp after the first traceback's exception line starts an event of its own."""
    tb = _traceback().split("\n")
    stamp = STAMPS["apache-mod-wsgi"]
    text = "\n".join(_stamped([*tb, *tb], stamp)) + "\n"
    events = _errors(text, None)
    assert [(e.line, e.end_line) for e in events] == [(1, len(tb)), (len(tb) + 1, 2 * len(tb))]


@pytest.mark.parametrize("prefixes", [
    ("web.1 | ", "worker | "),             # another writer's column, no stamp: not one shape
    ("[10:00:01] a | ", "[10:00:01] bb | "),  # a stamp, then columns of other lengths
    ("[10:00:01] ", "[10:00:01]  "),        # not one shape: the blanks differ
])
def test_prefixes_of_other_shapes_are_not_peeled(prefixes: tuple[str, str]) -> None:
    """Only a stamp of one shape (a time of day in it, the prefixes the same but for digits) is peeled: prefixes that
    differ otherwise are not one writer's column."""
    tb = _traceback().split("\n")
    lines = [prefixes[k % 2] + line for k, line in enumerate(tb)]
    assert parse_traceback_text("\n".join(lines)) != parse_traceback_text("\n".join(tb))
    (raw, *_) = _errors("\n".join(lines) + "\n", None)
    assert (raw.traceback or "").split("\n") != tb


# -- frames a terminal broke at its width -----------------------------------------------------------------------------

_CALLER = "from tests.test_logs_support import pg_refused\n\n\ndef open_db():\n    raise pg_refused()\n"


def _refused_from(folder: Path) -> str:
    """The traceback of a real psycopg2 refusal raised from `folder`/connect_db.py (made here)."""
    folder.mkdir()
    module = module_at(folder / "connect_db.py", _CALLER, f"connect_db_{abs(hash(str(folder)))}")
    try:
        module.open_db()
    except Exception as exc:  # noqa: BLE001 - the exception is the test's material
        return "".join(traceback.format_exception(exc)).rstrip("\n")
    raise AssertionError("nothing raised")


def _wrapped_traceback(base: Path, width: int, cut: str) -> tuple[str, str]:
    """(the bare traceback, the same broken at `width` columns as a terminal does) of a real psycopg2 refusal raised
    from a module whose path makes its frame line longer than the terminal: cut inside the file's name, right after
    it (`…/connect_db.py", ` / `line 5, in open_db`) or inside the function's name (`…, in op` / `en_db`)."""
    fixed = len('  File "') + len(str(base)) + len("/") + len("/connect_db.py")
    room = width - fixed - {"file-name": 0, "after-file": len('", '), "function-name": len('", line 5, in op')}[cut]
    name = "site_packages_" + "p" * room if cut == "file-name" else "d" * room
    bare = _refused_from(base / name)
    wrapped: list[str] = []
    for line in bare.split("\n"):
        while len(line) > width:  # (a terminal: every line longer than its width goes on on the next line)
            wrapped.append(line[:width])
            line = line[width:]
        wrapped.append(line)
    frame = next(k for k, line in enumerate(wrapped) if line.startswith(f'  File "{base}/'))
    assert wrapped[frame].endswith({"file-name": "pp", "after-file": '", ', "function-name": ", in op"}[cut])
    assert not wrapped[frame + 1].startswith(" ")
    return bare, "\n".join(wrapped)


def _where(exc: ParsedException) -> list[tuple[str, int, str]]:
    return [(f.file, f.line, f.function) for f in exc.frames]


@pytest.mark.parametrize("cut", ["file-name", "after-file", "function-name"])
@pytest.mark.parametrize("width", [80, 120])
def test_a_frame_a_terminal_broke_at_its_width_is_joined(width: int, cut: str) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as base:  # (a short folder: the frame's line fits in 80 columns)
        bare, wrapped = _wrapped_traceback(Path(base), width, cut)
    (want,) = parse_traceback_text(bare)
    assert any(f.function == "open_db" for f in want.frames)
    (got,) = parse_traceback_text(wrapped)  # classify's reading of the paste
    assert (got.type, _where(got)) == (want.type, _where(want))  # (a long source line stays broken)
    for block_size in BLOCKS:
        text = "worker started\n" + wrapped + "\n"
        events = _errors(text, block_size)
        assert len(events) == 1, [(e.line, e.message) for e in events]
        (raw,) = events
        assert (raw.line, raw.end_line) == (2, len(text.splitlines()))
        assert raw.message.startswith("psycopg2.OperationalError: ")  # (no rest of a frame read as its exception)
        (read,) = parse_traceback_text(raw.traceback or "")
        assert (read.type, _where(read)) == (want.type, _where(want))
        ev = EventClassifier(Classifier.default()).event(raw)
        assert (ev.exception_type, ev.label) == ("psycopg2.OperationalError", "PG_CONNECTION_FAILED")


def test_a_frame_line_broken_at_any_column_a_terminal_has_is_joined(tmp_path: Path) -> None:
    """Where a terminal breaks a frame line depends on how long its path is: each break of the checkout's own frame
    lines at any column from MIN_WRAP_WIDTH on (inside the file's name, at its closing quote, inside `", line N, in `,
    right after `in `, inside the function's name, just before one of its blanks) is joined. Breaks inside `", line N,
    in ` and just before the closing quote were not, nor (a checkout at /work/wt-suitespeed) one just before the blank
    of `in f` (`…, line 115, in` / ` _refused_from`, the rest indented by that blank): the test above passed or failed
    by the length of the folder it ran from."""
    from mosaic_diag.classifier.tracebacks import MIN_WRAP_WIDTH

    bare = _refused_from(tmp_path / ("a_rather_long_folder_name_" * 3))
    frames = [line for line in bare.split("\n") if line.startswith('  File "')]
    assert len(frames) >= 3 and any(len(line) > MIN_WRAP_WIDTH + 20 for line in frames)
    for line in frames:
        for k in range(MIN_WRAP_WIDTH, len(line)):
            assert join_wrapped_frame(line[:k], line[k:]) == line, (k, line[:k], line[k:])
        cut = line.rindex(" ")  # (the lines as the reader hands them on: the source line stays its own)
        if cut >= MIN_WRAP_WIDTH:
            assert join_wrapped_frames([line[:cut], line[cut:], "    source()"]) == [line, "    source()"]


@pytest.mark.parametrize(("prev", "line"), [
    ('  File "/srv/app', 'lication/my db.py", line 5, in open_db'),  # (a blank in the rest: no name's rest alone)
    ('  File "/srv/app/db.py", line 5, in open_db', 'line 6, in open_db'),  # (the frame was whole)
    ('  File "/srv/app/db.py", ', 'lines 5 to 9 were skipped'),  # (no `line N` after the file)
    ('    x = open("/srv/app', 'db.py", line 5, in open_db'),  # (no frame's start)
    ('  File "/srv/app/handlers/requests/database/connection_pool/db.py", line 5, in open', 'KeyboardInterrupt'),
    ('  File "/srv/app/db.py", line 5, in open', 'ing_the_pool'),  # (a frame line shorter than a terminal)
    ('  File "/srv/app/handlers/requests/database/connection_pool/db.py", line 5, in', '    open_db()'),  # (source)
    ('  File "/srv/app/handlers/requests/database/connection_pool/db.py", line 5, in open_db', ' x'),  # (was whole)
])
def test_a_line_that_is_no_frame_s_rest_is_not_joined(prev: str, line: str) -> None:
    assert join_wrapped_frame(prev, line) is None


@pytest.mark.parametrize("name", list(STAMPS))
def test_a_stamped_paste_cut_to_its_last_frame_is_read_by_classify(name: str) -> None:
    """One frame behind the stamp (the paste cut above it), then its source and the exception line: the frame and the
    exception are read (the exception line, behind a stamp of the same shape, is the second traceback line)."""
    tb = _traceback().split("\n")
    last = max(k for k, line in enumerate(tb) if line.startswith('  File "'))
    (got,) = parse_traceback_text("\n".join(_stamped(tb[last:], STAMPS[name])))
    (want,) = parse_traceback_text("\n".join(tb[last:]))
    assert (got.type, got.message, got.frames) == (want.type, want.message, want.frames)
    assert got.type == "psycopg2.OperationalError" and [f.function for f in got.frames] == ["connect"]


@pytest.mark.parametrize("block_size", BLOCKS)
@pytest.mark.parametrize("name", list(STAMPS))
def test_a_stamped_paste_that_starts_at_a_frame_is_read_by_the_reader(name: str, block_size: int | None) -> None:
    """A stamped paste cut above its first frame (its header gone) is one event from that frame, the stamps peeled, as
    `classify` reads it; a stamped frame with no exception line after it (a line that only looks so) is none."""
    tb = _traceback().split("\n")
    lines = _stamped(["worker started", *tb[1:]], STAMPS[name])
    events = _errors("\n".join(lines) + "\n", block_size)
    assert [(e.line, e.end_line) for e in events] == [(2, len(tb))]
    (raw,) = events
    assert (raw.traceback or "").split("\n") == tb[1:]
    assert raw.message.startswith("psycopg2.OperationalError: connection to server at")
    ev = EventClassifier(Classifier.default()).event(raw)
    assert (ev.exception_type, ev.label) == ("psycopg2.OperationalError", "PG_CONNECTION_FAILED")
    (pasted,) = parse_traceback_text("\n".join(lines[1:]))
    (read_back,) = parse_traceback_text(raw.traceback or "")
    assert (pasted.type, pasted.frames) == (read_back.type, read_back.frames) and pasted.frames
    if name != "apache-mod-wsgi":  # (Apache's layout reads its line as the app's own: a bare frame, as any)
        lone = _stamped(["worker started", tb[1]], STAMPS[name])
        assert _errors("\n".join(lone) + "\n", block_size) == []
