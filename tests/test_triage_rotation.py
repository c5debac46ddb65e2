"""A traceback that log rotation cut between two files: `mosaic-diag triage app.log.1 app.log` reads it as one
event, as if the files were one log (`cat app.log.1 app.log | mosaic-diag triage -`), except that each event names
the file and line it starts on.

The log is written by the real `logging` module with real exceptions (a chained json.loads failure, psycopg2
refused by a closed loopback port, a deep recursion), then cut at the lines where rotation can fall: after the
error record, after the traceback's header, in its frames, before its exception line, at a chain's separator.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mosaic_diag.logs.assemble import MAX_DETAIL_LINES
from mosaic_diag.triage import open_triage
from tests.cli_inproc import run_cli
from tests.test_logs_support import pg_refused
from tests.test_triage_multifile import RotatedLog, _deep_error


def _chained_error() -> Exception:
    """A RuntimeError raised while handling a json.loads failure (two tracebacks and a separator)."""
    try:
        try:
            json.loads("{'step': 1,}")
        except json.JSONDecodeError as exc:
            raise RuntimeError("prompts/ps101_steps.json is not valid JSON") from exc
    except RuntimeError as exc:
        return exc
    raise AssertionError("json.loads took a malformed document")


@pytest.fixture(scope="module")
def log_text(tmp_path_factory) -> str:
    """An app's log: access lines, a chained traceback, psycopg2's, a record with a multi-line message."""
    d = tmp_path_factory.mktemp("whole")
    log = RotatedLog(d)
    log.start(0)
    log.log(1, "uvicorn.access", logging.INFO, '10.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK')
    log.log(2, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json", _chained_error())
    log.log(3, "api.storage", logging.ERROR, "database unavailable", pg_refused())
    log.log(4, "uvicorn.access", logging.INFO, '10.0.0.1:5000 - "GET /steps HTTP/1.1" 500 Internal Server Error')
    log.log(5, "api.billing", logging.ERROR, "charge failed\nDETAIL: card declined\nHINT: ask for another card")
    log.log(6, "uvicorn.access", logging.INFO, '10.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK')
    log.close(gzip_from=None)
    return (d / "app.log").read_text()


def _cuts(text: str) -> dict[str, int]:
    """Where rotation may cut the log: the number of lines left in the older file."""
    lines = text.splitlines()
    header = lines.index("Traceback (most recent call last):")
    chain = next(i for i, t in enumerate(lines) if t.startswith("The above exception was the direct cause"))
    first_exc = next(i for i, t in enumerate(lines) if t.startswith("json.decoder.JSONDecodeError"))
    pg_exc = next(i for i, t in enumerate(lines) if t.startswith("psycopg2.OperationalError"))
    detail = next(i for i, t in enumerate(lines) if t.startswith("DETAIL: card declined"))
    assert lines[header - 1].endswith("ERROR api.steps could not load prompts/ps101_steps.json")
    assert lines[header + 1].startswith("  File ") and lines[pg_exc - 1].startswith(" ")
    return {"after the record": header, "after the header": header + 1, "in the frames": header + 3,
            "before the exception line": first_exc, "at the separator": chain, "after the separator": chain + 2,
            "before psycopg2's exception line": pg_exc, "in the exception's message": pg_exc + 1,
            "in a message's detail": detail, "after a whole record": header - 1}


def _write(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())


def _events(paths: list[str], stdin: bytes | None = None) -> tuple[list[dict[str, Any]], Any]:
    with open_triage(paths, stdin=io.BytesIO(stdin) if stdin is not None else None) as run:
        events = [e.to_dict() for e in run.events]
        return events, run.finish()


def _as_joined(events: list[dict[str, Any]], offsets: dict[str, int]) -> list[dict[str, Any]]:
    """The events of a run over several files, numbered as in the files joined (`offsets`: a file's first line's)."""
    out = []
    for e in events:
        e = dict(e)
        shift = offsets[e.pop("source")]
        e["line"] += shift
        e["end_line"] += shift
        out.append(e)
    return out


def _split(tmp: Path, text: str, cuts: list[int], names: list[str]) -> dict[str, int]:
    """Write `text` cut after the given numbers of lines into the files `names` (oldest first); their offsets."""
    lines = text.splitlines(keepends=True)
    bounds = [0, *cuts, len(lines)]
    offsets = {}
    for name, a, b in zip(names, bounds, bounds[1:], strict=False):
        assert len(names) == len(bounds) - 1
        _write(tmp / name, "".join(lines[a:b]))
        offsets[str(tmp / name)] = a
    return offsets


CUTS = ["after the record", "after the header", "in the frames", "before the exception line", "at the separator",
        "after the separator", "before psycopg2's exception line", "in the exception's message",
        "in a message's detail", "after a whole record"]


@pytest.mark.parametrize("where", CUTS)
@pytest.mark.parametrize("packed", ["plain", "older gzipped", "both gzipped"])
def test_a_traceback_cut_by_rotation_is_one_event_as_in_the_files_joined(tmp_path, log_text, where, packed):
    n = _cuts(log_text)[where]
    names = {"plain": ["app.log.1", "app.log"], "older gzipped": ["app.log.1.gz", "app.log"],
             "both gzipped": ["app.log.2.gz", "app.log.1.gz"]}[packed]
    offsets = _split(tmp_path, log_text, [n], names)
    joined, whole = _events(["-"], stdin=log_text.encode())
    assert len(joined) == 3 and joined[0]["end_line"] - joined[0]["line"] > 10  # (the chain: one event)
    events, report = _events(list(reversed(offsets)))  # (given newest first: read oldest first)
    assert _as_joined(events, offsets) == joined, where
    starts = [(Path(e["source"]).name, e["line"]) for e in events]
    first = names[0] if n > _cuts(log_text)["after a whole record"] else names[1]
    assert starts[0] == (first, 3 if first == names[0] else 1)
    for k in ("events", "groups", "labels", "lines", "bytes", "first_timestamp", "last_timestamp"):
        assert report.summary[k] == whole.summary[k], k
    assert [(g.label, g.fingerprint, g.count, g.message) for g in report.groups] == [
        (g.label, g.fingerprint, g.count, g.message) for g in whole.groups]


def test_a_deep_traceback_over_three_files_and_an_empty_one_is_one_event(tmp_path):
    """A traceback of hundreds of frames that two rotations cut (the middle file all frames), with an empty file
    between (a rotation with nothing written). The files without a timestamp keep their place in the rotation set
    (`plan_inputs`): given newest first, as a glob gives them, they are read oldest first."""
    d = tmp_path / "w"
    d.mkdir()
    log = RotatedLog(d)
    log.log(0, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json", _deep_error(300))
    log.log(1, "api.storage", logging.ERROR, "database unavailable")
    log.close(gzip_from=None)
    text = (d / "app.log").read_text()
    names = ["app.log.4.gz", "app.log.3", "app.log.2", "app.log.1"]
    offsets = _split(tmp_path, text, [200, 400, 400], names)
    assert (tmp_path / "app.log.2").read_bytes() == b""
    joined, _ = _events(["-"], stdin=text.encode())
    events, report = _events(list(reversed(offsets)))
    assert [Path(i["input"]).name for i in report.summary["inputs"]] == names
    assert len(joined) == 2 and joined[0]["end_line"] > 600
    assert _as_joined(events, offsets) == joined
    assert [(Path(e["source"]).name, e["line"]) for e in events] == [
        ("app.log.4.gz", 1), ("app.log.1", joined[1]["line"] - 400)]
    assert [i["lines"] for i in report.summary["inputs"]] == [200, 200, 0, text.count("\n") - 400]


def test_leading_lines_without_a_prefix_are_bounded_as_in_the_files_joined(tmp_path):
    """A record without a traceback, then more lines without a record prefix than a message's continuation takes:
    the next file's lead is taken as far as it would be in the files joined, no further."""
    d = tmp_path / "w"
    d.mkdir()
    log = RotatedLog(d)
    lines = "\n".join(f"  row {i}: value out of range" for i in range(MAX_DETAIL_LINES + 20))
    log.log(0, "api.import", logging.ERROR, f"import failed\n{lines}")
    log.log(1, "api.storage", logging.ERROR, "database unavailable")
    log.close(gzip_from=None)
    text = (d / "app.log").read_text()
    offsets = _split(tmp_path, text, [10], ["app.log.1", "app.log"])
    joined, _ = _events(["-"], stdin=text.encode())
    events, _ = _events(list(offsets))
    assert _as_joined(events, offsets) == joined
    assert joined[0]["end_line"] < text.count("\n") - 1  # (bounded: the event stops before the last lines)


@pytest.mark.parametrize("shape", ["render-text", "plain", "uvicorn", "json", "syslog"])
def test_every_cut_of_a_log_of_each_shape_reads_as_the_files_joined(tmp_path, shape):
    """Each shape the reader knows (Render's text export, logging's, uvicorn's, JSON lines, syslog; two instances'
    records interleaved where the shape names them), cut after every one of its lines."""
    import traceback

    from tests.test_logs_support import Rec, render

    def tb(exc: BaseException) -> str:
        return "".join(traceback.format_exception(exc)).rstrip("\n")

    recs = [Rec("ERROR", "api.steps", "could not load prompts/ps101_steps.json", tb(_chained_error()), "srv-a"),
            Rec("ERROR", "api.storage", "database unavailable", tb(pg_refused()), "srv-b"),
            Rec("INFO", "uvicorn.access", '10.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK', None, "srv-a"),
            Rec("ERROR", "api.steps", "could not load prompts/ps101_steps.json", tb(_chained_error()), "srv-b"),
            Rec("INFO", "uvicorn.access", '10.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK', None, "srv-b")]
    data, _ = render(shape, recs, interleave=shape in ("render-text", "syslog"))
    text = data.decode()
    joined, _ = _events(["-"], stdin=data)
    assert len(joined) >= 3
    for cut in range(1, text.count("\n")):
        d = tmp_path / str(cut)
        d.mkdir()
        offsets = _split(d, text, [cut], ["app.log.1", "app.log"])
        events, _ = _events(list(offsets))
        assert _as_joined(events, offsets) == joined, cut


def _cli(cwd: Path, *args: str, stdin: bytes | None = None) -> list[dict[str, Any]]:
    r = run_cli(["triage", *args, "--format", "json"], cwd=cwd, stdin=stdin, text=False)  # (in this process)
    assert r.returncode in (0, 1), r.stderr.decode()
    return json.loads(r.stdout)["events"]


def test_the_cli_reads_a_cut_traceback_as_cat_of_the_files_does(tmp_path, log_text):
    n = _cuts(log_text)["in the frames"]
    _split(tmp_path, log_text, [n], ["app.log.1.gz", "app.log"])
    joined = _cli(tmp_path, "-", stdin=log_text.encode())
    events = _cli(tmp_path, "app.log", "app.log.1.gz")
    assert [(e.pop("source"), e["line"], e["end_line"]) for e in events] == [
        ("app.log.1.gz", 3, joined[0]["end_line"]), ("app.log", joined[1]["line"] - n, joined[1]["end_line"] - n),
        ("app.log", joined[2]["line"] - n, joined[2]["end_line"] - n)]
    assert [{k: v for k, v in e.items() if "line" not in k} for e in events] == [
        {k: v for k, v in e.items() if "line" not in k} for e in joined]


@pytest.mark.parametrize("given", ["logs", "logs/"])
def test_a_directory_is_one_line_that_shows_how_to_give_its_logs(tmp_path, given):
    """A directory may hold several logs (the app's, its access log): they are not one log read in turn. The error
    names it and shows each log's files as the shell's glob gives them; exit 2, nothing on stdout."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("app.log", "app.log.1", "app.log.2.gz", "access.log", "access.log-20261205.gz", "README.md"):
        (logs / name).write_text("")
    (logs / "old").mkdir()
    (tmp_path / "empty").mkdir()
    for args, want in (([given], f"{given}: is a directory, not a log file (give one log's files, e.g. "
                                 f"{Path(given) / 'access.log'}* or {Path(given) / 'app.log'}*)"),
                       (["app.log", given], f"{given}: is a directory"),
                       (["empty"], "empty: is a directory, not a log file (it holds no log files)")):
        (tmp_path / "app.log").write_text("")
        r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", *args, "--format", "json"], cwd=tmp_path,
                           capture_output=True, timeout=120)
        err = r.stderr.decode()
        assert r.returncode == 2 and r.stdout == b"" and err.count("\n") == 1, err
        assert err.startswith("mosaic-diag: error: ") and want in err, err


@pytest.mark.parametrize("given", [["app.log", "app.log.1", "app.log.2"], ["app.log.1", "app.log", "app.log.2"]])
def test_a_rotation_set_whose_middle_file_has_no_timestamp_is_read_in_rotation_order(tmp_path, log_text, given):
    """app.log.1 holds only frames of psycopg2's traceback (two rotations cut it): it has no timestamp, yet it is
    read between app.log.2 and app.log (its set's order), and the traceback is one event over the three files."""
    lines = log_text.splitlines()
    cuts = _cuts(log_text)
    end = cuts["before psycopg2's exception line"] - 1  # (app.log: the last frame's caret line, the exception's)
    first = max(i for i in range(end) if lines[i] == "Traceback (most recent call last):") + 1
    assert all(t.startswith("  ") for t in lines[first:end]) and end - first >= 4
    _split(tmp_path, log_text, [first, end], ["app.log.2", "app.log.1", "app.log"])
    joined = _cli(tmp_path, "-", stdin=log_text.encode())
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", *given, "--format", "json"], cwd=tmp_path,
                       capture_output=True, timeout=120)
    assert r.returncode == 1, r.stderr.decode()
    report = json.loads(r.stdout)
    assert [i["input"] for i in report["summary"]["inputs"]] == ["app.log.2", "app.log.1", "app.log"]
    events = report["events"]
    assert [(e["source"], e["line"], e["end_line"]) for e in events] == [
        ("app.log.2", 3, joined[0]["end_line"]), ("app.log.2", joined[1]["line"], joined[1]["end_line"]),
        ("app.log", joined[2]["line"] - end, joined[2]["end_line"] - end)]
    assert events[1]["end_line"] > end  # (psycopg2's traceback: from app.log.2 through app.log.1 into app.log)
    assert [{k: v for k, v in e.items() if "line" not in k and k != "source"} for e in events] == [
        {k: v for k, v in e.items() if "line" not in k and k != "source"} for e in joined]


@pytest.mark.parametrize("given", [["app.log.2", "frames.txt", "app.log.1", "app.log"],
                                   ["app.log", "frames.txt", "app.log.2", "app.log.1"]])
def test_an_untimed_file_given_among_a_rotation_set_does_not_split_it(tmp_path, log_text, given):
    """frames.txt (only a traceback's frames: no timestamp, no rotation name) given between the files of a set: the
    set is read in one run, in its order, where its first file given stands (frames.txt after it), so the
    traceback that rotation cut between app.log.2 and app.log.1 is one event as in the set's files joined."""
    cut = _cuts(log_text)["in the frames"]
    offsets = _split(tmp_path, log_text, [cut, cut + 8], ["app.log.2", "app.log.1", "app.log"])
    frames = [t for t in log_text.splitlines(keepends=True) if t.startswith("  File ")][:3]
    (tmp_path / "frames.txt").write_text("".join(frames))
    joined = _cli(tmp_path, "-", stdin=log_text.encode())
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", *given, "--format", "json"], cwd=tmp_path,
                       capture_output=True, timeout=120)
    assert r.returncode == 1, r.stderr.decode()
    report = json.loads(r.stdout)
    assert [i["input"] for i in report["summary"]["inputs"]] == ["app.log.2", "app.log.1", "app.log", "frames.txt"]
    events = [e for e in report["events"] if e["source"] != "frames.txt"]
    offsets = {Path(k).name: v for k, v in offsets.items()}
    assert _as_joined(events, offsets) == joined


def test_a_set_mixing_numbered_and_dated_names_is_read_in_the_order_of_their_timestamps(tmp_path):
    """logrotate's `dateext` turned on, then off (or the other way): app.log-20261201 and app.log.1 are of one set;
    their first timestamps say which is older, whichever kind of name it has; a traceback cut between them is one
    event. Without a timestamp in one of the two compared, the numbered name is read first."""
    log = RotatedLog(tmp_path)
    log.log(0, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json", _deep_error(30))
    log.rotate()
    log.log(60, "api.storage", logging.ERROR, "database unavailable", pg_refused())
    log.rotate()
    log.log(120, "api.storage", logging.ERROR, "database unavailable")
    log.close(gzip_from=None)
    whole = "".join((tmp_path / n).read_text() for n in ("app.log.2", "app.log.1", "app.log"))
    joined = _cli(tmp_path, "-", stdin=whole.encode())
    for older, newer in (("app.log-20261201", "app.log.1"), ("app.log.1", "app.log-20261201")):
        for f in tmp_path.glob("app.log?*"):
            f.unlink()
        log = RotatedLog(tmp_path)  # (a fresh app.log, written again; the rotated ones below)
        log.close(gzip_from=None)
        lines = whole.splitlines(keepends=True)
        head = next(i for i, t in enumerate(lines) if t.startswith("Traceback")) + 4  # (cut in the first frames)
        tail = next(i for i, t in enumerate(lines) if "12:00:00" in t[:20])  # (the last record)
        (tmp_path / older).write_text("".join(lines[:head]))
        (tmp_path / newer).write_text("".join(lines[head:tail]))
        (tmp_path / "app.log").write_text("".join(lines[tail:]))
        events = _cli(tmp_path, "app.log", "app.log.1", "app.log-20261201")
        assert [e["source"] for e in events] == [older, newer, "app.log"]
        offsets = {older: 0, newer: head, "app.log": tail}
        assert _as_joined(events, offsets) == joined
    # the older holding only frames (no timestamp): the rule, not the content, decides: the numbered name first
    (tmp_path / "app.log-20261201").write_text("".join(lines[head - 3:head]))
    report = json.loads(subprocess.run(
        [sys.executable, "-m", "mosaic_diag", "triage", "app.log-20261201", "app.log.1", "app.log", "--format",
         "json"], cwd=tmp_path, capture_output=True, timeout=120).stdout)
    assert [i["input"] for i in report["summary"]["inputs"]] == ["app.log.1", "app.log-20261201", "app.log"]


THREAD_AFTER_RECORDS = """\
import json, logging, threading
logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s", level=logging.INFO)
log = logging.getLogger("api.steps")
try:
    json.loads("{'step': 1,}")
except json.JSONDecodeError:
    log.exception("could not load prompts/ps101_steps.json")
log.info("retrying in 5 s")
t = threading.Thread(target=json.loads, args=("{x",))
t.start()
t.join()
"""


def test_a_thread_s_traceback_at_a_file_s_start_starts_at_its_line(tmp_path):
    """The older file ends with an error record's event closed and an INFO record; the newer one starts with a
    thread's uncaught exception (`Exception in thread …:`, then its traceback): that event starts at the thread's
    line, as in the files joined (the older file's last event's end line, not renumbered for the newer file, kept
    the line out of it)."""
    proc = subprocess.run([sys.executable, "-c", THREAD_AFTER_RECORDS], capture_output=True, text=True, timeout=60,
                          check=False)
    text = proc.stderr
    lines = text.splitlines()
    n = next(i for i, t in enumerate(lines) if t.startswith("Exception in thread "))
    assert lines[n - 1].endswith("INFO api.steps retrying in 5 s") and n > 5
    offsets = _split(tmp_path, text, [n], ["app.log.1", "app.log"])
    joined, _ = _events(["-"], stdin=text.encode())
    assert [e["line"] for e in joined] == [1, n + 1]
    events, _ = _events(list(reversed(offsets)))
    assert _as_joined(events, offsets) == joined
    assert (Path(events[1]["source"]).name, events[1]["line"]) == ("app.log", 1)
