"""`mosaic-diag triage FILE...`: rotated logs triaged as one log, through the real CLI in a subprocess.

The logs are written by the real `logging` module (a RotatingFileHandler, rolled over where the test says:
genuine app.log / app.log.1 / app.log.2 names, app.log.2 then gzipped as logrotate does) with real
exceptions: json.loads failures and psycopg2 refused by a closed loopback port. A filter sets each record's
time from a simulated clock, so that the log spans hours in a moment.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import logging.handlers
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_inproc import run_cli
from tests.isolation import loggers_kept
from tests.test_logs_support import pg_refused

START = 1796551200.0  # 2026-12-06 10:00:00 UTC


def _json_error(i: int) -> Exception:
    try:
        json.loads(f"{{'step': {i},}}")
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError("json.loads took a malformed document")


class _Clock(logging.Filter):
    """Sets each record's time: `now` seconds since the epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.now = START

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = self.now
        record.msecs = (self.now % 1) * 1000
        return True


class RotatedLog:
    """A RotatingFileHandler on DIR/app.log, rolled over by hand (`rotate`), with a simulated clock."""

    def __init__(self, directory: Path, fmt: str = "%(asctime)s %(levelname)s %(name)s %(message)s") -> None:
        self.dir = directory
        self.handler = logging.handlers.RotatingFileHandler(directory / "app.log", backupCount=9, encoding="utf-8")
        formatter = logging.Formatter(fmt)
        formatter.converter = time.gmtime
        self.handler.setFormatter(formatter)
        self.clock = _Clock()
        self.handler.addFilter(self.clock)
        self.loggers: dict[str, logging.Logger] = {}
        self.saved: dict[str, tuple[bool, int]] = {}  # each logger's propagate and level, put back by close()

    def log(self, minute: float, name: str, level: int, msg: str, exc: BaseException | None = None) -> None:
        self.clock.now = START + minute * 60
        logger = self.loggers.get(name)
        if logger is None:
            logger = self.loggers[name] = logging.getLogger(name)
            self.saved[name] = logger.propagate, logger.level
            logger.propagate = False
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self.handler)
        logger.log(level, msg, exc_info=exc)

    def start(self, minute: float) -> None:
        self.log(minute, "uvicorn.error", logging.INFO, "Started server process [7]")

    def rotate(self) -> None:
        self.handler.doRollover()

    def close(self, gzip_from: int | None = 2) -> None:
        """Close the log; gzip app.log.N from `gzip_from` on (logrotate's `delaycompress`)."""
        self.handler.close()
        for name, logger in self.loggers.items():
            logger.removeHandler(self.handler)
            logger.propagate, level = self.saved[name]
            logger.setLevel(level)
        n = gzip_from
        while n is not None and (self.dir / f"app.log.{n}").exists():
            plain = self.dir / f"app.log.{n}"
            (self.dir / f"app.log.{n}.gz").write_bytes(gzip.compress(plain.read_bytes()))
            plain.unlink()
            n += 1


def triage(cwd: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return run_cli(["triage", *args], cwd=cwd, stdin=stdin, text=False)  # (in this process: tests/cli_inproc.py)


def _json(r: subprocess.CompletedProcess[bytes]) -> dict:
    assert r.returncode in (0, 1), r.stderr.decode()
    return json.loads(r.stdout)


def _text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode()


@pytest.fixture(scope="module")
def incident(tmp_path_factory) -> Path:
    """Three hours of an app, rotated twice: a quiet first hour, a database outage, then a burst of
    malformed step files (an anomaly against the baseline of the hours before it)."""
    d = tmp_path_factory.mktemp("incident")
    log = RotatedLog(d)
    pg = pg_refused()
    log.start(0)
    for m in range(0, 60, 3):
        log.log(m, "uvicorn.access", logging.INFO, '10.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK')
        if m % 15 == 0:
            log.log(m + 1, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json", _json_error(m))
    log.rotate()
    log.start(60)
    for m in range(60, 120, 2):
        log.log(m, "api.storage", logging.ERROR, "database unavailable", pg)
        if m % 20 == 0:
            log.log(m + 1, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json", _json_error(m))
    log.rotate()
    log.start(120)
    for m in range(120, 180):
        log.log(m, "uvicorn.access", logging.INFO, '10.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK')
        if m % 20 == 0 or 150 <= m < 156:
            for k in range(4 if m >= 150 else 1):
                log.log(m + k / 10, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json",
                        _json_error(m))
    log.close()
    # the same log as one file, oldest first: what `zcat -f app.log.2.gz app.log.1 app.log` gives
    (d / "all.log").write_text("".join(_text(d / n) for n in ("app.log.2.gz", "app.log.1", "app.log")))
    return d


def test_rotated_logs_are_one_triage_as_if_one_log(incident):
    """Given newest first (a glob's order), the files are read oldest first: the same events, groups, rates
    and anomalies as the concatenated log; each event names its file and its line in that file."""
    multi = _json(triage(incident, "app.log", "app.log.1", "app.log.2.gz", "--format", "json"))
    one = _json(triage(incident, "all.log", "--format", "json"))
    key = ("label", "timestamp", "fingerprint", "message", "exception_type")
    assert [[e[k] for k in key] for e in multi["events"]] == [[e[k] for k in key] for e in one["events"]]
    assert multi["anomalies"] == one["anomalies"] and multi["anomalies"]
    gkey = ("label", "fingerprint", "count", "first_seen", "last_seen", "rates")
    assert [[g[k] for k in gkey] for g in multi["groups"]] == [[g[k] for k in gkey] for g in one["groups"]]
    for k in ("events", "groups", "labels", "anomalies", "lines", "bytes", "first_timestamp", "last_timestamp"):
        assert multi["summary"][k] == one["summary"][k], k
    assert multi["timeline"]["start"] == one["timeline"]["start"]
    stamps = [[m["timestamp"] for m in r["timeline"]["markers"]] for r in (multi, one)]
    assert stamps[0] == stamps[1]

    s = multi["summary"]
    assert [i["input"] for i in s["inputs"]] == ["app.log.2.gz", "app.log.1", "app.log"]
    assert s["input"] == "app.log.2.gz, app.log.1, app.log"
    for item in s["inputs"]:
        text = _text(incident / item["input"])
        assert (item["lines"], item["bytes"]) == (text.count("\n"), len(text.encode()))
    assert {e["source"] for e in multi["events"]} == {"app.log.2.gz", "app.log.1", "app.log"}
    for e in multi["events"]:
        assert list(e)[:3] == ["line", "source", "end_line"]
        line = _text(incident / e["source"]).splitlines()[e["line"] - 1]
        assert line.startswith(e["timestamp"][:19].replace("T", " ")) and "ERROR" in line, (e, line)
    for g in multi["groups"]:
        line = _text(incident / g["sample_source"]).splitlines()[g["sample_line"] - 1]
        assert line.startswith(g["first_seen"][:19].replace("T", " ")), (g, line)
    assert [(m["source"], m["line"]) for m in multi["timeline"]["markers"]] == [
        ("app.log.2.gz", 1), ("app.log.1", 1), ("app.log", 1)]
    # one file: no "source", no "inputs" (the output of a single file is what it always was)
    assert "source" not in one["events"][0] and "inputs" not in one["summary"]
    assert "sample_source" not in one["groups"][0]


def test_time_runs_forward_across_files_whatever_order_they_are_given(incident):
    """A process start an hour apart in each file is no restart loop: read newest first, time would go back
    and the three starts would look like one burst."""
    for order in (("app.log", "app.log.1", "app.log.2.gz"), ("app.log.1", "app.log.2.gz", "app.log")):
        report = _json(triage(incident, *order, "--format", "json"))
        assert [i["input"] for i in report["summary"]["inputs"]] == ["app.log.2.gz", "app.log.1", "app.log"]
        assert "RENDER_RESTART_LOOP" not in report["summary"]["labels"]
        stamps = [e["timestamp"] for e in report["events"]]
        assert stamps == sorted(stamps)


def test_a_restart_loop_across_a_rotation_is_found_and_names_its_first_file(tmp_path):
    log = RotatedLog(tmp_path)
    pg = pg_refused()
    for i, minute in enumerate((0, 2, 4)):
        if i == 2:
            log.rotate()
        log.start(minute)
        log.log(minute + 0.5, "api.storage", logging.ERROR, "database unavailable", pg)
    log.close()
    report = _json(triage(tmp_path, "app.log", "app.log.1", "--format", "json"))
    loops = [e for e in report["events"] if e["label"] == "RENDER_RESTART_LOOP"]
    assert [(e["source"], e["line"]) for e in loops] == [("app.log.1", 1)]


def test_a_last_line_without_newline_is_not_glued_to_the_next_files_first(tmp_path):
    log = RotatedLog(tmp_path)
    log.log(0, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json")
    log.rotate()
    log.log(1, "api.storage", logging.ERROR, "database unavailable")
    log.close()
    old = tmp_path / "app.log.1"
    old.write_bytes(old.read_bytes().rstrip(b"\n"))  # the process died mid-write
    report = _json(triage(tmp_path, "app.log.1", "app.log", "--format", "json"))
    assert [(e["source"], e["line"], e["message"]) for e in report["events"]] == [
        ("app.log.1", 1, "could not load prompts/ps101_steps.json"), ("app.log", 1, "database unavailable")]
    # what `cat` of the two gives, for comparison: one line, one event
    (tmp_path / "cat.log").write_bytes(old.read_bytes() + (tmp_path / "app.log").read_bytes())
    assert len(_json(triage(tmp_path, "cat.log", "--format", "json"))["events"]) == 1


def test_files_without_timestamps_or_rotation_names_keep_their_places_in_the_order_given(tmp_path):
    for name in ("b.log", "a.log"):
        h = logging.FileHandler(tmp_path / name, encoding="utf-8")
        h.setFormatter(logging.Formatter(logging.BASIC_FORMAT))  # basicConfig's: no time
        with loggers_kept(f"multifile.untimed.{name}") as (logger,):
            logger.propagate = False
            logger.addHandler(h)
            logger.error("could not load prompts/ps101_steps.json", exc_info=_json_error(1))
        h.close()
    timed = RotatedLog(tmp_path)
    timed.log(0, "api.storage", logging.ERROR, "database unavailable")
    timed.close()
    report = _json(triage(tmp_path, "b.log", "app.log", "a.log", "--format", "json"))
    assert [i["input"] for i in report["summary"]["inputs"]] == ["b.log", "app.log", "a.log"]
    assert [e["source"] for e in report["events"]] == ["b.log", "app.log", "a.log"]
    # the timed files around them are put in time order in the places left
    timed.rotate()
    timed.log(-5, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json")
    timed.close(gzip_from=None)
    (tmp_path / "app.log").rename(tmp_path / "early.log")
    report = _json(triage(tmp_path, "app.log.1", "b.log", "early.log", "--format", "json"))
    assert [i["input"] for i in report["summary"]["inputs"]] == ["early.log", "b.log", "app.log.1"]


def test_dated_rotations_are_read_by_date_and_the_bare_name_last(tmp_path):
    """logrotate's `dateext` names (`app.log-YYYYMMDD.gz`): by date, the bare name newest; a file of the set
    without a timestamp (its head all frames of a traceback) keeps its place among them."""
    log = RotatedLog(tmp_path)
    log.log(0, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json", _deep_error(60))
    log.rotate()
    log.log(60, "api.storage", logging.ERROR, "database unavailable")
    log.rotate()
    log.log(120, "api.storage", logging.ERROR, "database unavailable")
    log.close(gzip_from=None)
    text = (tmp_path / "app.log.2").read_text().splitlines(keepends=True)
    (tmp_path / "app.log-20261205.gz").write_bytes(gzip.compress("".join(text[:20]).encode()))
    (tmp_path / "app.log-20261206").write_text("".join(text[20:]))
    (tmp_path / "app.log.2").unlink()
    (tmp_path / "app.log.1").rename(tmp_path / "app.log-20261207")
    names = ["app.log", "app.log-20261205.gz", "app.log-20261206", "app.log-20261207"]
    report = _json(triage(tmp_path, *names, "--format", "json"))
    assert [i["input"] for i in report["summary"]["inputs"]] == [*names[1:], "app.log"]
    assert report["summary"]["inputs"][1]["first_timestamp"] is None
    assert [(e["source"], e["line"]) for e in report["events"]] == [
        ("app.log-20261205.gz", 1), ("app.log-20261207", 1), ("app.log", 1)]


def test_stdin_is_one_of_the_inputs(incident):
    """`zcat app.log.2.gz | mosaic-diag triage - app.log.1`: stdin's head is peeked at too (it is the oldest)."""
    r = triage(incident, "app.log.1", "-", "--format", "json", stdin=(incident / "app.log.2.gz").read_bytes())
    report = _json(r)
    assert [i["input"] for i in report["summary"]["inputs"]] == ["<stdin>", "app.log.1"]
    assert report["events"][0]["source"] == "<stdin>"
    alone = _json(triage(incident, "app.log.2.gz", "--format", "json"))
    assert report["summary"]["inputs"][0]["lines"] == alone["summary"]["lines"]


@pytest.mark.parametrize("case", ["missing", "directory", "zstd", "stdin twice", "same file twice", "render"])
def test_a_bad_input_is_one_line_naming_it_before_any_output(incident, tmp_path, case):
    args = {"missing": ["app.log.1", str(tmp_path / "app.log.3.gz"), "app.log"],
            "directory": ["app.log.1", str(tmp_path)],
            "zstd": ["app.log.1", str(tmp_path / "app.log.3.zst")],
            "stdin twice": ["-", "app.log", "-"],
            "same file twice": ["app.log", "app.log.1", "./app.log"],
            "render": ["--render", "app.log", "app.log.1"]}[case]
    (tmp_path / "app.log.3.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 64)
    for fmt in ("json", "table"):
        r = triage(incident, *args, "--format", fmt, stdin=b"")
        assert r.returncode == 2 and r.stdout == b"", (case, r.stdout[:200])
        err = r.stderr.decode()
        assert err.count("\n") == 1 and err.startswith("mosaic-diag: error: "), err
        want = {"missing": "app.log.3.gz: no such file", "directory": "is a directory",
                "zstd": "app.log.3.zst: zstd-compressed", "stdin twice": "- (stdin) is given more than once",
                "same file twice": "./app.log: given twice (as app.log)",
                "render": "give either a log file or --render, not both"}[case]
        assert want in err, err


def test_table_markdown_and_html_name_the_file_of_each_line(incident, tmp_path):
    files = ("app.log", "app.log.1", "app.log.2.gz")
    table = triage(incident, *files, "--no-playbooks").stdout.decode()
    head = table.splitlines()[:4]
    assert head[0].startswith("3 files: ") and " lines, " in head[0]
    assert [h.split(":")[0].strip() for h in head[1:4]] == ["app.log.2.gz", "app.log.1", "app.log"]
    lines = _text(incident / "app.log.1").count("\n")
    assert f"  app.log.1: {lines:,} lines, " in table
    assert re.search(r"│ +app\.log(\.1|\.2\.gz)?:\d+ │", table), table  # the Line column
    assert "line app.log.2.gz:" in table
    md = triage(incident, *files, "--format", "markdown", "--no-playbooks").stdout.decode()
    assert md.startswith("# Triage: 3 files\n") and "  - app.log.2.gz: " in md
    assert "| line app.log.2.gz:" in md or "| line app.log.1:" in md
    out = tmp_path / "r.html"
    triage(incident, *files, "--format", "html", "-o", str(out), "--no-playbooks")
    page = out.read_text()
    assert "<li>app.log.2.gz: " in page and "line app.log." in page


def test_progress_runs_over_all_files_to_their_total_size(incident):
    """The progress of a run over several files: bytes read of all the files' sizes (compressed bytes for the
    gzip), growing; with stdin among them (no size to read towards), lines read so far, growing."""
    from mosaic_diag.triage import open_triage

    files = [str(incident / n) for n in ("app.log", "app.log.1", "app.log.2.gz")]
    seen: list[tuple[int, int | None]] = []
    with open_triage(files, on_progress=lambda done, total: seen.append((done, total))) as run:
        for _ in run.events:
            pass
        report = run.finish()
    total = sum((incident / n).stat().st_size for n in ("app.log", "app.log.1", "app.log.2.gz"))
    assert {t for _, t in seen} == {total} and seen[-1][0] == total
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    seen.clear()
    stdin = io.BytesIO((incident / "app.log.2.gz").read_bytes())  # (no file behind it, as a pipe)
    with open_triage([files[0], "-"], stdin=stdin, on_progress=lambda d, t: seen.append((d, t))) as run:
        for _ in run.events:
            pass
        piped = run.finish()
    assert {t for _, t in seen} == {None}
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1][0] == piped.summary["lines"] < report.summary["lines"]


class _JsonLines(logging.Formatter):
    """A JSON-lines formatter (what python-json-logger writes): time, level, logger, message, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out)


def test_notes_on_the_input_name_their_file(tmp_path):
    """A truncated gzip and a JSON record cut mid-line: the warning starts with its file's name, the corrupt
    sample is [line, reason, file], and the table says NAME:LINE."""
    log = RotatedLog(tmp_path)
    log.handler.setFormatter(_JsonLines())
    for m in range(0, 40):
        log.log(m, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json", _json_error(m))
        if m == 19:
            log.rotate()
    log.close(gzip_from=1)
    packed = tmp_path / "app.log.1.gz"
    packed.write_bytes(packed.read_bytes()[:-30])  # copied while logrotate was still writing it
    lines = (tmp_path / "app.log").read_text().splitlines(keepends=True)
    lines[4] = lines[4][:60] + "\n"
    (tmp_path / "app.log").write_text("".join(lines))
    report = _json(triage(tmp_path, "app.log", "app.log.1.gz", "--format", "json"))
    s = report["summary"]
    assert [w.split(":")[0] for w in s["warnings"]] == ["app.log.1.gz"] and "truncated gzip" in s["warnings"][0]
    # (the gzip's last line, cut by the truncation, is a corrupt line of its own)
    assert [c[2] for c in s["corrupt_samples"]] == ["app.log.1.gz", "app.log"] == [i["input"] for i in s["inputs"]]
    assert s["corrupt_samples"][1][:2] == [5, "JSON line cut off or not one object"]
    assert s["corrupt_samples"][0][0] == s["inputs"][0]["lines"] > 1
    table = triage(tmp_path, "app.log", "app.log.1.gz", "--no-playbooks").stdout.decode()
    assert "warning: app.log.1.gz: truncated gzip" in table and "corrupt line app.log:5: " in table


def test_a_pipe_among_the_files_is_read_once(incident, tmp_path):
    """`mosaic-diag triage <(zcat app.log.2.gz) app.log.1 app.log`: a named pipe's head is peeked at and read
    again, not lost (a pipe cannot be opened twice)."""
    import os
    import threading

    fifo = tmp_path / "old.fifo"
    os.mkfifo(fifo)
    data = gzip.decompress((incident / "app.log.2.gz").read_bytes())

    def write() -> None:
        with open(fifo, "wb") as w:
            w.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    report = _json(triage(incident, "app.log", str(fifo), "app.log.1", "--format", "json"))
    writer.join(10)
    alone = _json(triage(incident, "app.log.2.gz", "--format", "json"))
    inputs = report["summary"]["inputs"]
    assert [i["input"] for i in inputs] == [str(fifo), "app.log.1", "app.log"]
    assert (inputs[0]["lines"], inputs[0]["bytes"]) == (alone["summary"]["lines"], len(data))
    assert [e["line"] for e in report["events"] if e["source"] == str(fifo)] == [e["line"] for e in alone["events"]]


def _deep_error(depth: int) -> Exception:
    """A real exception raised under `depth` alternating frames (a long traceback Python does not fold)."""

    def a(n: int) -> object:
        return json.loads("{'step': 1,}") if n == 0 else b(n - 1)

    def b(n: int) -> object:
        return a(n - 1)

    try:
        a(depth)
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError("json.loads took a malformed document")


def test_a_file_that_starts_mid_traceback_is_still_placed_by_its_first_timestamp(tmp_path):
    """copytruncate can leave a file starting inside a long traceback: hundreds of lines without a timestamp
    come before its first record's."""
    log = RotatedLog(tmp_path)
    log.log(0, "api.steps", logging.ERROR, "could not load prompts/ps101_steps.json", _deep_error(300))
    log.log(1, "api.storage", logging.ERROR, "database unavailable")
    log.rotate()
    log.log(5, "api.storage", logging.ERROR, "database unavailable")
    log.close(gzip_from=None)
    old = tmp_path / "app.log.1"
    lines = old.read_text().splitlines(keepends=True)
    assert len(lines) > 500
    old.write_text("".join(lines[200:]))
    report = _json(triage(tmp_path, "app.log", "app.log.1", "--format", "json"))
    assert [i["input"] for i in report["summary"]["inputs"]] == ["app.log.1", "app.log"]
    # the traceback's tail (an event without a time) first, then the records in time order
    assert [(e["source"], e["timestamp"] and e["timestamp"][11:16]) for e in report["events"]] == [
        ("app.log.1", None), ("app.log.1", "10:01"), ("app.log", "10:05")]
