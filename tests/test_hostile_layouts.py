"""Hostile input for the reader's newer layouts: RichHandler records and their time-only stamps, Prefect 1's
prefix, loguru's custom formats, a traceback flattened onto one line. Pathological lines are read in linear
time (sizes at which a quadratic or exponential pattern takes hours; the suite's timeout is the bound, no
test measures time), timestamps at the edge of what a datetime holds never crash the reader or the report,
and a secret inside each layout is redacted in every output."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mosaic_diag.classifier.tracebacks import parse_traceback_text
from mosaic_diag.logs.clock import Clock, file_mtime
from mosaic_diag.logs.lines import parse_line, parse_ts
from tests.cli_inproc import run_cli
from tests.isolation import loggers_kept
from tests.test_logs_support import read

HEADER = "Traceback (most recent call last):"
DSN_PASSWORD = "Hunter2SecretPasswordLong"
DSN = f"postgresql://app:{DSN_PASSWORD}@db.internal.example.com:5432/app"
KEY_TAIL = "Abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
KEY = f"sk-proj-{KEY_TAIL}"
HOOK_TAIL = "AbCdEfGhIjKlMnOpQrStUvWx"
HOOK = f"https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEF2/{HOOK_TAIL}"
SECRETS = f"{DSN} key={KEY} hook={HOOK}"
# what may not be shown of them (pieces a fold or a split could leave behind too)
LEAKS = (DSN_PASSWORD[:8], DSN_PASSWORD[-6:], KEY_TAIL[:10], KEY_TAIL[-10:], HOOK_TAIL[:10])


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI run in this process (tests/cli_inproc.py); the FIFO and stdin cases below run it as a whole process."""
    return run_cli(args, stdin=stdin)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback (most recent call last)" not in r.stderr and "Error:" not in r.stderr, r.stderr


# -- pathological lines: linear in their length ------------------------------------------------------
def test_a_rich_record_with_a_megabyte_run_of_spaces_is_one_pass() -> None:
    # a lazy message before an optional source column and trailing spaces tried every position of the run
    # against the rest of it: hours for this line
    for lead in ("[12/06/26 08:29:26]", " " * 19):
        (ln,) = parse_line(f"{lead} ERROR    boom" + " " * (1 << 20) + "tail")
        assert ln.level == "ERROR" and ln.message.startswith("boom ") and ln.message.endswith(" tail")
        (ln,) = parse_line(f"{lead} ERROR    boom" + " " * (1 << 20) + "app.py:15" + " " * 1000)
        assert ln.message == "boom"  # the source column cut off, as before


def test_a_flattened_traceback_with_a_megabyte_of_blanks_is_one_pass() -> None:
    # a split before each frame tried from every blank of a run: quadratic in the run
    text = HEADER + ' File "app.py", line 1, in f' + " " * (1 << 20) + "x = 1" + " " * (1 << 20) + \
        'File "db.py", line 2, in connect raise X psycopg2.OperationalError: could not connect'
    (exc,) = parse_traceback_text(text)
    assert exc.type == "psycopg2.OperationalError" and exc.message == "could not connect"
    assert [(f.file, f.source) for f in exc.frames] == [("app.py", "x = 1"), ("db.py", "raise X")]


def test_position_markers_repeated_in_a_flattened_traceback_are_one_pass() -> None:
    # words of ^ ~ - + with a ^ in them, repeated: a pattern of them repeated was exponential (2**60 here)
    text = HEADER + ' File "app.py", line 1, in f x = g()' + " ^^" * 60 + " ~~^^" * 60 + \
        ' File "g.py", line 9, in g y' + " ^^ " * 60 + "z mod.BadError: no"
    (exc,) = parse_traceback_text(text)
    assert [f.source for f in exc.frames] == ["x = g()", "y" + " ^^ " * 60 + "z"]  # (not at the end: kept)
    assert (exc.type, exc.message) == ("mod.BadError", "no")


def test_many_unclosed_file_quotes_and_nested_prefixes_are_one_pass() -> None:
    (exc,) = parse_traceback_text(HEADER + ' File "a' * 200_000 + " mod.BadError: x") or [None]
    assert exc is None or exc.type == "mod.BadError"
    prefect = "[2026-12-06 08:00:00,123] INFO - prefect.ShellTask | "
    (ln,) = parse_line(prefect * 100_000 + "ERROR:app:deep")  # unwrapped 4 deep, then read as text
    assert ln.via == "prefect.ShellTask" and ln.level == "INFO"


def test_frame_paths_repeating_an_http_client_package_are_one_pass() -> None:
    """The rule that tells an HTTP client's DNS failure from PostgreSQL's looked for `/requests/…/x.py:` from every
    `/requests/` of a frame's path to the path's end: 20 seconds a 250 KB path, minutes for these frames."""
    from mosaic_diag.classifier import Classifier

    path = "/requests" * 28000 + "/x"
    frames = "".join(f'  File "{path}{i}", line {i}, in f\n    x()\n' for i in range(20))
    text = f"{HEADER}\n{frames}socket.gaierror: [Errno -2] Name or service not known\n"
    assert Classifier.default().classify_text(text).label == "PG_NETWORK_UNREACHABLE"
    # (a frame of the package is still one: an HTTP client's failure, not PostgreSQL's)
    text = text.replace(f"{path}19", "/usr/lib/python3/site-packages/requests/adapters.py")
    assert Classifier.default().classify_text(text).label != "PG_NETWORK_UNREACHABLE"


def test_a_frame_source_of_many_quotes_after_execute_is_one_pass() -> None:
    """Rule data.dialect-source (a TypeError or SyntaxError whose frame runs SQLite's SQL: `execute(` then a quote then
    `?` / AUTOINCREMENT / PRAGMA) tried every quote of a source line with every position after it: a minute a 64 KB
    line of quotes, minutes for these frames."""
    from mosaic_diag.classifier import Classifier

    source = "cur.execute(" + "' x" * 21000
    frames = "".join(f'  File "a.py", line {i}, in f\n    {source}\n' for i in range(5))
    assert Classifier.default().classify_text(f"{HEADER}\n{frames}TypeError: boom\n").label == "UNKNOWN_ERROR"
    sqlite = '  File "db.py", line 9, in save\n    cur.execute("INSERT OR IGNORE INTO t VALUES (?)", (1,))\n'
    text = f"{HEADER}\n{frames}{sqlite}psycopg2.errors.SyntaxError: syntax error at or near \"OR\"\n"
    assert Classifier.default().classify_text(text).label == "SQL_DIALECT_ERROR"


def test_a_message_of_many_key_value_brackets_is_one_pass() -> None:
    """PostgreSQL's `DETAIL:  Key (col)=(val) is not present in table` / `already exists` (rules data.foreign-key and
    data.unique) was read trying every `)=(` with every position after it: 5 s a 64 KB line, minutes this one."""
    from mosaic_diag.classifier import Classifier

    line = "DETAIL:  Key (" + ")=(" * 170000
    assert Classifier.default().classify_text(line).label == "UNKNOWN_ERROR"
    for detail, label in (('Key (session_id)=(7) is not present in table "sessions".', "SESSION_ORPHANED"),
                          ("Key (email)=(a@b.c) already exists.", "DUPLICATE_KEY")):
        assert Classifier.default().classify_text(f"{line}\nERROR: boom DETAIL:  {detail}").label == label


def test_a_run_of_short_lines_under_a_wide_frame_is_joined_once_in_one_pass() -> None:
    """The rest of a frame line a terminal broke is joined to it once: each of a million short lines under a wide
    frame was joined to it in turn (the line grew with each, every join a scan of it: quadratic, half an hour here),
    in classify's parser and in the reader."""
    frame = '  File "/app/.heroku/python/lib/python3.6/site-packages/requests/adapters.py", line 583, in f'
    text = f"2026-12-06T10:00:00Z ERROR boom\n{HEADER}\n{frame}\n" + "a\n" * 1_000_000 + "ValueError: x\n"
    (exc,) = parse_traceback_text(text.partition("\n")[2])
    assert [f.function for f in exc.frames] == ["fa"]  # (one rest joined: `in f` broken before `a`)
    events, _ = read(text.encode())
    assert events[0].traceback is not None
    assert events[0].traceback.splitlines()[1] == frame + "a"


def test_hostile_layouts_through_triage_stay_bounded(tmp_path: Path) -> None:
    """Lines of every hostile kind at the reader's line cap (64 KiB), a line of megabytes without a newline,
    NUL bytes, invalid UTF-8 and CRLF: triage reports them (minutes each before the patterns were linear)."""
    big = 60_000
    lines = [f"[12/06/26 08:29:{i:02}] ERROR    rich {i}" + " " * big + "y" for i in range(6)]
    lines += [f"2026-12-06 08:30:0{i} ERROR app: failed {HEADER} " + 'File "a.py", line 1, in f' + " " * big +
              "x psycopg2.OperationalError: down" for i in range(6)]
    lines += [f"2026-12-06 08:31:00 ERROR app: {HEADER} " + 'File "a.py", line 1, in f x' + " ^^" * 50 + " x"]
    data = "\n".join(lines).encode() + b"\r\nERROR boom\x00\n\xff\xfe ERROR bad\r\n" + \
        b"[2026-12-06 08:00:00] INFO - prefect.ShellTask | " * 100_000  # 5 MB, no newline at the end
    path = tmp_path / "hostile.log"
    path.write_bytes(data)
    r = cli("triage", "--format", "json", str(path))
    no_traceback(r)
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    lines_of = {e["line"] for e in report["events"]}
    assert set(range(1, 14)) <= lines_of
    assert report["summary"]["corrupt_lines"] >= 2 and report["summary"]["warnings"]  # (the 5 MB line cut)


def test_a_prefect_command_output_opens_no_unbounded_event() -> None:
    """A structlog error inside Prefect's ShellTask record and then 100 000 lines of its output: the event
    takes the reader's bound of continuation lines (50), not the log."""
    prefect = "[2026-12-06 08:00:01,123] INFO - prefect.ShellTask | "
    text = prefect + "2026-12-06 08:00:00 [error    ] connect failed\n" + \
        "".join(f"{prefect}  continuation {i}\n" for i in range(100_000))
    events, stats = read(text.encode())
    assert len(events) == 1 and events[0].end_line - events[0].line <= 50
    assert stats.lines == 100_001


# -- timestamps at the edges --------------------------------------------------------------------------
def test_timestamps_at_the_edge_of_a_datetime_are_no_timestamps() -> None:
    assert parse_ts("0001-01-01T00:00:00+01:00") is None  # astimezone raised OverflowError
    assert parse_ts("9999-12-31T23:59:59-01:00") is None
    assert parse_ts("9999-12-31T23:59:59Z") is None and parse_ts("0001-01-01T00:00:00") is None
    assert parse_ts("9998-12-31T23:59:59Z") == datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert parse_ts("13/45/26 08:00:00") is None and parse_ts("12/06/26 08:00:00") is not None
    clock = Clock()
    assert clock.at("12/31/9998 23:59:59") is not None
    assert clock.at("00:00:01") is None  # the next day is 9999's: no timestamp (it raised OverflowError)
    assert clock.at("99:99:99") is None


def test_times_of_day_going_back_on_every_line_never_overflow() -> None:
    clock = Clock(datetime(9990, 1, 1, 12, tzinfo=UTC))
    dated = [clock.at("12:00:00" if i % 2 else "10:00:00") for i in range(2 * 366 * 10)]
    assert set(dated) == {datetime(9990, 1, 1, 10, tzinfo=UTC), datetime(9990, 1, 1, 12, tzinfo=UTC)}  # no drift
    # a clock eight hours on at every line: a day every three lines, up to the reader's last year
    clock = Clock(datetime(9990, 1, 1, 12, tzinfo=UTC))
    dated = [clock.at(("00:00:00", "08:00:00", "16:00:00")[i % 3]) for i in range(3 * 366 * 10)]
    assert dated[:4] == [datetime(9990, 1, 1, h, tzinfo=UTC) for h in (0, 8, 16)] + [datetime(9990, 1, 2, tzinfo=UTC)]
    assert None in dated[-3:] and all(d is None or 1 < d.year < 9999 for d in dated)  # (its last day, at most)


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "html"])
def test_a_log_dated_at_year_9999_is_reported(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "far.log"
    rich = ["[12/31/9998 23:59:59] ERROR    rich one          app.py:1"]
    rich += [f"[{'00:30:00' if i % 2 else '22:00:00'}] ERROR    rich {i}          app.py:2" for i in range(4)]
    path.write_text("2026-12-06T08:00:00Z ERROR:app:boom\n9999-12-31T23:59:59Z ERROR:app:boom2\n"
                    "0001-01-01T00:00:00+01:00 ERROR:app:boom3\n" + "\n".join(rich) + "\n")
    r = cli("triage", "--format", fmt, str(path))
    no_traceback(r)
    assert r.returncode == 1 and "boom2" in r.stdout, r.stderr


def _mtime_file(tmp_path: Path, when: float) -> Path | None:
    """A file whose mtime is `when`, on a file system that keeps it (tmpfs does; ext4 stops at 2446)."""
    for base in (Path("/dev/shm"), tmp_path):
        if not base.is_dir() or not os.access(base, os.W_OK):
            continue
        path = base / f"mosaic-hostile-{os.getpid()}-{int(when)}.log"
        path.write_text("[23:30:00] ERROR    late          app.py:1\n[00:10:00] ERROR    early          app.py:1\n")
        try:
            os.utime(path, (0, when))
        except (OverflowError, OSError, ValueError):
            path.unlink()
            continue
        if path.stat().st_mtime == when:
            return path
        path.unlink()
    return None


@pytest.mark.parametrize("when", [0.0, -1e10, 1e13])
def test_a_file_dated_anywhere_dates_its_times_of_day_or_leaves_them(tmp_path: Path, when: float) -> None:
    path = _mtime_file(tmp_path, when)
    if path is None:
        pytest.skip("no file system here keeps such an mtime")
    try:
        with path.open("rb") as f:
            written = file_mtime(f)  # 1e13 (year 318857) raised ValueError
        assert (written is None) == (when > 1e12)
        r = cli("triage", "--format", "json", str(path))
        no_traceback(r)
        stamps = [e["timestamp"] for e in json.loads(r.stdout)["events"]]
        assert len(stamps) == 2 and (stamps[0] is None) == (when > 1e12)
    finally:
        path.unlink()


# -- wrong data and odd files -------------------------------------------------------------------------
def test_broken_prefect_and_rich_records_are_events_not_errors(tmp_path: Path) -> None:
    text = ("[2026-12-06 08:00:00,123] ERROR - prefect.TaskRunner | \n"
            "[2026-12-06 08:00:01,123] ERROR - | no logger\n"
            "[2026-12-06 08:00:02,123] INFO - prefect.ShellTask | [error    \n"
            "[2026-12-06 08:00:03,123] INFO - prefect.ShellTask | 2026-12-06 08:27:44.208 | ERROR    | \n"
            "[13/45/26 08:00:00] ERROR    a month 13          app.py:1\n"
            "[99:99:99] ERROR    no time of day          app.py:1\n")
    events, _ = read(text.encode())
    assert [e.line for e in events] == [1, 2, 4, 5, 6]
    assert events[3].timestamp is None and events[3].message == "a month 13"


def test_odd_files_for_triage(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    r = cli("triage", str(empty))
    assert r.returncode == 0 and "0 lines" in " ".join(r.stdout.split()), r.stdout + r.stderr  # (a long path wraps)
    folder = tmp_path / "dir.log"
    folder.mkdir()
    r = cli("triage", str(folder))
    assert r.returncode == 2 and "dir.log" in one_error_line(r.stderr)
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "triage", "--format", "json", str(fifo)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with fifo.open("w") as w:  # a pipe has no mtime: its times of day stay undated
        w.write("[23:30:00] ERROR    late          app.py:1\n[00:10:00] ERROR    early          app.py:1\n")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert [e["timestamp"] for e in json.loads(out)["events"]] == [None, None]


# -- secrets inside every new layout ------------------------------------------------------------------
def _rich_wrapped(**options: object) -> str:
    from rich.console import Console
    from rich.logging import RichHandler

    buf = io.StringIO()
    handler = RichHandler(console=Console(file=buf, width=80, color_system=None), **options)
    with loggers_kept(f"hostile.rich.{sorted(options.items())}") as (log,):
        log.handlers[:] = [handler]
        log.propagate = False
        log.error(f"connection failed for {DSN} and {KEY} then {HOOK}")
        log.error("abc def ghi jkl mno pqr stu vwx yza bcd efg hij klm nop qrs tuv wxy zab cde fgh ijk lmn opq")
    return buf.getvalue()


LAYOUTS = {
    "prefect": "[2026-12-06 08:00:00,123] INFO - prefect.ShellTask | "
               f"2026-12-06 08:00:00 [error    ] failed {SECRETS}\n"
               f"[2026-12-06 08:00:01,123] INFO - prefect.ShellTask | {HEADER}\n"
               '[2026-12-06 08:00:01,123] INFO - prefect.ShellTask |   File "a.py", line 1, in f\n'
               f"[2026-12-06 08:00:01,123] INFO - prefect.ShellTask | psycopg2.OperationalError: down {SECRETS}\n"
               f"[2026-12-06 08:00:02,123] ERROR - prefect.TaskRunner | Task failed {SECRETS}\n",
    "flattened": f'2026-12-06 08:00:00,000 ERROR app: failed {HEADER} File "a.py", line 1, in f conn = connect("{DSN}")'
                 f' File "b.py", line 2, in connect raise X psycopg2.OperationalError: could not connect {SECRETS}\n',
    "loguru": f"2026-12-06 08:27:44.208 | ERROR    | api.storage:save:42 - db:5432 - {SECRETS}\n"
              f'2026-12-06 08:27:45.208 | ERROR    | "./app/llm.py:294": generate - {KEY} - {SECRETS}\n',
    "rich": f"[12/06/26 08:29:26] ERROR    failed {SECRETS}          app.py:15\n"
            f"[08:29:27] ERROR    failed {SECRETS}          app.py:15\n"
            f"                    ERROR    again {SECRETS}          app.py:15\n",
}


def _layout(name: str) -> str:
    if name.startswith("rich-wrapped"):
        options = {"rich-wrapped": {}, "rich-wrapped-nopath": {"show_path": False},
                   "rich-wrapped-time": {"log_time_format": "[%X]"}}[name]
        text = _rich_wrapped(**options)
        return "\n".join(line.rstrip() for line in text.splitlines()) if name.endswith("time") else text
    return LAYOUTS[name]


ALL_LAYOUTS = [*LAYOUTS, "rich-wrapped", "rich-wrapped-nopath", "rich-wrapped-time"]


@pytest.mark.parametrize("fmt", ["json", "table", "markdown", "html"])
@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_secrets_in_every_layout_are_redacted_in_triage(tmp_path: Path, layout: str, fmt: str) -> None:
    """RichHandler folds a word longer than its message column (a DSN, a key) onto the next lines: its
    pieces were joined with a space, and neither piece was a whole secret for the redactor."""
    path = tmp_path / "secrets.log"
    path.write_text(_layout(layout))
    r = cli("triage", "--format", fmt, str(path))
    no_traceback(r)
    assert r.returncode == 1, r.stderr
    shown = r.stdout + r.stderr
    assert not [leak for leak in LEAKS if leak in shown], shown


def test_a_folded_rich_message_is_one_message_again(tmp_path: Path) -> None:
    for options in ({}, {"show_path": False}, {"log_time_format": "[%X]"}):
        text = _rich_wrapped(**options)
        for data in (text, "\n".join(line.rstrip() for line in text.splitlines())):
            events, _ = read(data.encode())
            assert [e.message for e in events] == [
                f"connection failed for {DSN} and {KEY} then {HOOK}",
                "abc def ghi jkl mno pqr stu vwx yza bcd efg hij klm nop qrs tuv wxy zab cde fgh ijk lmn opq"]


@pytest.mark.parametrize("fmt", ["json", "table", "markdown"])
@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_secrets_in_every_layout_are_redacted_by_classify_explain(layout: str, fmt: str) -> None:
    """`classify -` echoes the text it read: a word folded over lines (RichHandler) is redacted whole there
    too (the redactor joins a line's last word with the next lines' first words to look for a secret)."""
    r = cli("classify", "--explain", "--format", fmt, "-", stdin=_layout(layout))
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert not [leak for leak in LEAKS if leak in r.stdout + r.stderr], r.stdout


# -- the layouts added with the held-out rounds: logfmt, Celery, FastChat, cut JSON, wrapped records -------------
def test_a_logfmt_line_of_one_long_word_is_one_pass() -> None:
    # a key tried at every character of a word ran to the word's end from each: hours for a megabyte
    for text in ("level=error msg=x " + "a" * (1 << 20), "level=error " + "a1." * (1 << 18) + " msg=late"):
        (ln,) = parse_line(text)
        assert ln.level == "ERROR"
    assert ln.message == "late"


@pytest.mark.parametrize("block_size", [1 << 20, 7])
def test_logfmt_error_records_of_lower_case_levels_are_events(block_size: int) -> None:
    """`level=error` has no upper-case ERROR for the block scan to find: its own candidates (in blocks from the
    first whose head or tail has a logfmt level key); a `level=error` inside a quoted message, or after the record's own
    level, is no error record. A log of other lines first (a megabyte) finds them too."""
    text = ("time=2026-12-06T08:00:00Z level=info msg=started\n"
            'time=2026-12-06T08:00:01Z level=error msg="db down" err=timeout\n'
            'time=2026-12-06T08:00:02Z level=info msg="user set level=error in config"\n'
            "level=info msg=payload level=error\n"
            'time=2026-12-06T08:00:03Z lvl=crit msg="disk full"\n'
            'severity="error" message="quoted level"\n')
    events, _ = read(text.encode(), block_size=block_size)
    assert [(e.line, e.level, e.message) for e in events] == [
        (2, "ERROR", "db down: timeout"), (5, "CRITICAL", "disk full"), (6, "ERROR", "quoted level")]
    if block_size > 7:
        events, _ = read(b"plain line of text\n" * 60_000 + text.encode(), block_size=block_size)
        assert [(e.line, e.level) for e in events] == [(60_002, "ERROR"), (60_005, "CRITICAL"), (60_006, "ERROR")]


@pytest.mark.parametrize("block_size", [1 << 20, 7])
def test_render_wording_after_a_megabyte_of_other_lines_is_an_event(block_size: int) -> None:
    """Render's failure sentences are candidates from the first block whose head or tail holds one (a search
    of every block for them cost every log three passes): at the end of a long log, and first in a block."""
    said = b"Exited with status 1 while running your code.\n"
    n = 60_000 if block_size > 7 else 2_000  # (a block of 7 bytes is a line: each is probed whole)
    for data, line in ((b"plain line of text\n" * n + said, n + 1), (said + b"plain line of text\n" * n, 1)):
        events, _ = read(data, block_size=block_size)
        assert [e.line for e in events] == [line]


def test_a_traceback_after_every_record_parses_a_line_a_few_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before a traceback's header the assembler looks back for its record (and a wrapped one): it stops at
    the first line of its stream, so the lines before are parsed when asked for, not 32 of them each time (a
    log of a traceback after every record was read 10x slower). Counted through the real parser."""
    from mosaic_diag.logs import reader

    calls = [0]
    real = reader.parse_line

    def counted(text: str, _depth: int = 0) -> list:
        calls[0] += 1
        return real(text, _depth)

    monkeypatch.setattr(reader, "parse_line", counted)
    n = 500
    text = "".join(f'INFO:app:step {i}\n{HEADER}\n  File "a.py", line 1, in f\nValueError: v{i}\n' for i in range(n))
    events, _ = read(text.encode())
    assert len(events) == n and calls[0] <= 8 * n


@pytest.mark.parametrize("block_size", [1 << 20, 8224])
def test_the_lookback_across_a_block_start_reads_whole_lines_only(block_size: int) -> None:
    """The lookback keeps the last 8 KB of the block before: a long line cut at its front was read from its
    middle, and a `WARNING:` there was taken for the record of the traceback after it (no event). At 8224 bytes
    the first block ends right after that line."""
    intro = "WARNING:app:fake intro "
    head = "INFO:app:start\n" + "INFO:app:payload " + intro + "z" * (8192 - len(intro) - 1) + "\n"
    assert len(head) == 8224 and head.encode()[-8192:].startswith(intro.encode())
    events, _ = read((head + f'{HEADER}\n  File "a.py", line 1, in f\nValueError: boom\n').encode(),
                     block_size=block_size)
    assert [(e.line, e.message) for e in events] == [(3, "ValueError: boom")]


SPLIT_DSN = ("postgresql://app:Hunter2Secret", "PasswordLong@db.internal.example.com:5432/app")


@pytest.mark.parametrize("key", ["message", "exc_info"])
@pytest.mark.parametrize("fmt", ["json", "markdown", "html"])
def test_a_json_record_broken_inside_a_secret_is_read_whole(tmp_path: Path, key: str, fmt: str) -> None:
    """A JSON record broken over two lines inside a string, in the middle of a DSN's password: its first line was
    read by its first pairs (the message or traceback ending `app:Hunter2Secret`) and the second line kept apart
    as detail, so no field held the DSN whole for the redactor. Together the lines are one object: read whole."""
    value = f"connection to {SPLIT_DSN[0]}\n{SPLIT_DSN[1]} failed"
    if key == "exc_info":
        value = f'{HEADER}\\n  File \\"a.py\\", line 1, in f\\npsycopg2.OperationalError: {value}\\n'
    text = '{"level": "error", "message": "db failed", "' + key + '": "' + value + '", "x": 1}\n'
    if key == "message":
        text = text.replace('"message": "db failed", ', "")
    path = tmp_path / "split.log"
    path.write_text(text)
    r = cli("triage", "--format", fmt, str(path))
    no_traceback(r)
    assert r.returncode == 1, r.stderr
    assert "Hunter2S" not in r.stdout and "ordLong" not in r.stdout and "db.internal" in r.stdout, r.stdout


@pytest.mark.parametrize("fmt", ["json", "table", "markdown"])
def test_classify_redacts_its_message_where_it_stands_in_the_text(fmt: str) -> None:
    """`classify -` of a JSON record broken inside a DSN's password: the message it took out of the text starts
    with the password's second half, which alone is no secret for the redactor; redacted with the line before."""
    text = ('{"level": "error", "message": "db failed", "exc_info": "' + HEADER + '\\n  File \\"a.py\\", line 1, in f'
            f'\\npsycopg2.OperationalError: connection to {SPLIT_DSN[0]}\n{SPLIT_DSN[1]} failed\\n", "x": 1}}\n')
    r = cli("classify", "--explain", "--format", fmt, "-", stdin=text)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "Hunter2S" not in r.stdout and "ordLong" not in r.stdout, r.stdout


def test_a_broken_json_record_with_a_traceback_after_it_keeps_that_traceback() -> None:
    """A cut JSON record whose next line closes it, then a traceback another handler printed: the record is
    not read whole over the traceback's lines (they stay its traceback, bounded as ever)."""
    text = '{"level": "error", "message": "cut here\n still", "x": 1}\n' + \
        "".join(f'  File "a.py", line {i}, in f\n' for i in range(3000))
    (event,) = read(text.encode())[0]
    assert event.message == "cut here" and event.traceback is not None
    assert event.traceback.count("\n") + 1 <= 2000 and event.traceback.startswith('  File "a.py", line 0,')


# -- JSON documents and platform entries (CloudWatch, Cloud Logging, Docker json-file) -----------------------------
def test_a_docker_entry_of_odd_types_is_a_json_record_not_a_crash(tmp_path: Path) -> None:
    """A Docker json-file look-alike whose `stream` is a list or an object (unhashable) was looked up in a set of
    stream names: a TypeError out of the reader, a traceback printed by `triage`."""
    lines = ['{"log": "ERROR:app:boom\\n", "stream": ["stderr"], "time": "2024-01-01T00:00:00Z", "level": "error"}',
             '{"log": "ERROR:app:boom\\n", "stream": {"a": 1}, "time": "2024-01-01T00:00:00Z", "level": "error"}']
    for text in lines:
        (ln,) = parse_line(text)
        assert (ln.shape, ln.level) == ("json", "ERROR")
    path = tmp_path / "docker.log"
    path.write_text("\n".join(lines) + "\n")
    r = cli("triage", "--format", "json", str(path))
    no_traceback(r)
    assert r.returncode == 1 and len(json.loads(r.stdout)["events"]) == 2, r.stderr


@pytest.mark.parametrize("key", ["entries", "events", "logs"])
@pytest.mark.parametrize("block_size", [None, 7])
def test_a_record_with_a_field_named_like_a_page_of_entries_is_a_record(key: str, block_size: int | None) -> None:
    """An error record carrying a list under `entries` / `events` / `logs` (structlog's `log.error("batch failed",
    entries=[...])`) was read as an API page: its items became the records, the error itself was lost. One per
    line, and pretty-printed with sorted keys (`JSONRenderer(indent=2, sort_keys=True)`, `jq -S .`), where the
    list comes before the record's keys."""
    record = {"event": "batch failed", "level": "error", "timestamp": "2026-12-06T08:00:00Z", key: [{"id": 1}]}
    after = {"event": "ok", "level": "info"}
    kw = {} if block_size is None else {"block_size": block_size}
    one_line = json.dumps(record) + "\n" + json.dumps(after) + "\n"
    pretty = json.dumps(record, indent=2, sort_keys=True) + "\n" + json.dumps(after, indent=2)
    for text, lines in ((one_line, (1, 1)), (pretty, (1, pretty.splitlines().index("}") + 1))):
        events, stats = read(text.encode(), **kw)
        assert [(e.line, e.end_line, e.level, e.message) for e in events] == [(*lines, "ERROR", "batch failed")], text
        assert stats.corrupt == 0


_STOPS_MID_LINE = {  # a document that stops decoding in a line after entries of that same line
    "array": b'[\n{"level": "error", "message": "a"}, {"level": "error", "message": "b"}, oops\n]\n'
             b"ERROR:app:after\n",
    "invalid UTF-8": b'[\n{"level": "error", "message": "a \xff\xfe"}, {"level": "error", "message": "b \xc3\xa9"}, '
                     b"\xff oops\n]\nERROR:app:after\n",
    "records": b'{\n  "level": "error", "message": "a"\n}\n{"level": "error", "message": "b"} '
               b'{"level": "error", "message": "c"\nERROR:app:after\n',
}


@pytest.mark.parametrize("block_size", [None, 7, 64])
@pytest.mark.parametrize("name", list(_STOPS_MID_LINE))
def test_a_document_that_stops_mid_line_reads_each_entry_once(name: str, block_size: int | None) -> None:
    """The rest of a document that stops decoding was read from the start of the line where it stopped: the entries
    already read on that line were read again (an event twice, its line counted twice)."""
    data = _STOPS_MID_LINE[name]
    events, stats = read(data, **({} if block_size is None else {"block_size": block_size}))
    got = [(e.line, e.message.split(" ")[0]) for e in events]
    if name == "records":
        assert got == [(1, "a"), (4, "b"), (4, "c"), (5, "after")]
    else:
        assert got == [(2, "a"), (2, "b"), (4, "after")]
    assert stats.lines == data.count(b"\n")


@pytest.mark.parametrize("block_size", [None, 7])
def test_a_document_cut_after_an_entry_counts_its_last_line(block_size: int | None) -> None:
    """A document cut off after an entry of its last line, with no newline at its end: nothing was left to read as
    lines, and that line went uncounted (an event on line 2 of a log of 1 line)."""
    for data in (b'[\n{"level": "error", "message": "a"}', b'[\n{"level": "error", "message": "a"}, ',
                 b'{\n"events": [{"timestamp": 1, "message": "ERROR:app:a", "eventId": "1"}]'):
        events, stats = read(data, **({} if block_size is None else {"block_size": block_size}))
        assert [(e.line, e.message) for e in events] == [(2, "a")] and stats.lines == 2, data


def test_a_document_that_stops_mid_line_over_stdin_reports_each_entry_once() -> None:
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", "--format", "json", "-"], capture_output=True,
                       input=_STOPS_MID_LINE["invalid UTF-8"], timeout=120)
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert [e["line"] for e in report["events"]] == [2, 2, 4] and report["summary"]["lines"] == 4


def _documents_over_the_cap() -> dict[str, bytes]:
    recs = [{"level": "error", "message": f"m{i}", "timestamp": f"2026-12-06T08:00:{i:02d}Z"} for i in range(40)]
    events = [{"timestamp": 1765008000000 + i, "message": f"[ERROR]\t2026-12-06T08:00:{i:02d}.000Z\tid\tm{i}\n",
               "ingestionTime": 1765008000000 + i, "eventId": str(i)} for i in range(40)]
    return {"pretty records": "".join(json.dumps(r, indent=2) + "\n" for r in recs).encode(),
            "array": json.dumps(recs, indent=2).encode() + b"\n",
            "cloudwatch": json.dumps({"events": events, "nextForwardToken": "f/1"}, indent=4).encode() + b"\n"}


@pytest.mark.parametrize("block_size", [7, 64])
@pytest.mark.parametrize("name", list(_documents_over_the_cap()))
def test_a_document_over_the_size_read_whole_loses_no_entry(monkeypatch: pytest.MonkeyPatch, name: str,
                                                            block_size: int) -> None:
    """A JSON document is decoded from memory up to `DOCUMENT_CAP` bytes. Past it, the rest was read as
    lines (a pretty-printed entry's lines are no records: lost, counted corrupt) or, when the cap fell between two
    records, not read at all (every line after it lost, silently). The cap is made small here to reach it (above
    an entry's size: a longer entry is read as lines)."""
    import mosaic_diag.logs.reader as reader

    data = _documents_over_the_cap()[name]
    for cap in range(300, 1500, 23):
        monkeypatch.setattr(reader, "DOCUMENT_CAP", cap)
        events, stats = read(data, block_size=block_size)
        assert [e.message.split("\t")[-1] for e in events] == [f"m{i}" for i in range(40)], cap
        assert stats.lines == data.count(b"\n") and stats.corrupt == 0, cap


def _todays_layouts() -> dict[str, str]:
    """A secret in each layout of the hosting platforms (Fly.io, pm2, journald in German, supervisord, Azure, Lambda,
    Docker json-file, Cloud Logging's textPayload, a traceback inside a JSON message, the kernel's OOM line), and
    in CloudWatch / Cloud Logging documents (a DSN and a key split over three CloudWatch events)."""
    tb = [HEADER, '  File "a.py", line 1, in f', f'    connect("{DSN}")', f"psycopg2.OperationalError: no {SECRETS}"]
    docker = [{"log": f"ERROR:app:failed {SECRETS}\n", "stream": "stderr", "time": "2026-12-06T08:00:00.1Z"}] + [
        {"log": t + "\n", "stream": "stderr", "time": "2026-12-06T08:00:00.2Z"} for t in tb]
    text = "".join([
        f"2026-12-06T08:00:00Z app[e784079b] ams [info]ERROR failed {SECRETS}\n",
        *(f"2026-12-06T08:00:00Z app[e784079b] ams [info]{t}\n" for t in tb),
        f"2026-12-06T08:00:01.123 app[e784079c] ams [error] failed {SECRETS}\n",
        f"0|api  | ERROR:app:failed {SECRETS}\n", *(f"0|api  | {t}\n" for t in tb),
        f"Dez 06 08:00:02 host app[12]: ERROR:app:failed {SECRETS}\n",
        f"2026-12-06 08:00:03,470 CRIT failed {SECRETS}\n",
        f"2026-12-06T08:00:04.469Z ERROR - Container failed {SECRETS}\n",
        f"[ERROR]\t2026-12-06T08:00:05.000Z\t8f5e-11\tfailed {SECRETS}\n",
        *(json.dumps(d) + "\n" for d in docker),
        json.dumps({"textPayload": f"failed {SECRETS}\n" + "\n".join(tb), "severity": "ERROR"}) + "\n",
        json.dumps({"level": "error", "message": f"main failed {SECRETS}\n" + "\n".join(tb)}) + "\n",
        f"[  12.345678] Out of memory: Killed process 4242 (python) {SECRETS}\n"])
    cut = [f"[ERROR]\t2026-12-06T08:00:06.000Z\t8f5e-12\tfailed postgresql://app:{DSN_PASSWORD[:12]}",
           f"{DSN_PASSWORD[12:]}@db.internal.example.com:5432/app key={KEY[:15]}", f"{KEY[15:]} hook={HOOK}"]
    cloudwatch = {"events": [{"timestamp": 1765008006000, "message": m, "ingestionTime": 1765008006100,
                              "eventId": str(i)} for i, m in enumerate(cut)]}
    entries = {"entries": [{"textPayload": f"failed {SECRETS}", "severity": "ERROR", "logName": "projects/p/logs/x"}]}
    return {"text": text, "cloudwatch": json.dumps(cloudwatch, indent=2) + "\n",
            "cloud-logging": json.dumps(entries, indent=2) + "\n"}


@pytest.mark.parametrize("fmt", ["json", "table", "markdown", "html"])
def test_secrets_in_the_platforms_layouts_are_redacted_in_triage(tmp_path: Path, fmt: str) -> None:
    for name, text in _todays_layouts().items():
        path = tmp_path / f"{name}.log"
        path.write_text(text)
        r = cli("triage", "--format", fmt, str(path))
        no_traceback(r)
        assert r.returncode == 1, r.stderr
        shown = r.stdout + r.stderr
        assert "sk-***" in shown or fmt != "json", shown  # (the secrets reached the report, redacted)
        assert not [leak for leak in LEAKS if leak in shown], (name, shown)
