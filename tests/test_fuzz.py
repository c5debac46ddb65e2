"""Property-based fuzzing (hypothesis) of the parsers that read untrusted text: the condition language,
DATABASE_URL and the log line parsers. Whatever the input: a result or the documented error, never a
traceback, never a hang (bounded input sizes and example counts; no timing asserts)."""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.logshapes import SHAPES, make_tracebacks
from mosaic_diag.checks.database import sanity
from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.errors import ConfigError
from mosaic_diag.logs.lines import line_timestamp, parse_line
from mosaic_diag.logs.model import RawEvent, ReadStats
from mosaic_diag.logs.reader import read_events
from mosaic_diag.logs.source import UnreadableInput, compression_of
from mosaic_diag.platform.dsn import dsn_facts
from mosaic_diag.platform.redact import redact_dsn, redact_text, redact_with_dsn
from mosaic_diag.platform.yamlpos import load_yaml_text
from mosaic_diag.playbooks.conditions import ConditionError, parse
from mosaic_diag.playbooks.gatherers import GatherContext, gather_database_url
from mosaic_diag.playbooks.settings import PlaybookSettings
from mosaic_diag.triage.model import ErrorEvent
from mosaic_diag.triage.run import TriageRun
from tests.test_logs_support import Rec, access, render

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
NAMES = ("rate_5m", "count", "stage", "label", "env.OPENAI_API_KEY.set", "database_url.host")
TOKENS = st.sampled_from([*NAMES, "and", "or", "not", "in", "not in", "==", "!=", "<", "<=", ">", ">=",
                          "startswith", "contains", "(", ")", "[", "]", ",", "1", "-2.5", "1e309", "'x'", '"y\\"',
                          "true", "false", "null", "always", "never", "auto", "__class__", "f(", "unknown.name", "@"])


def _is_name(name: str) -> bool:
    return name in NAMES


def _condition(text: str) -> None:
    try:
        cond = parse(text, _is_name)
    except ConditionError as exc:
        assert "\n" not in str(exc)
        return
    for facts in ({}, {"rate_5m": 3, "count": 1, "stage": "runtime", "label": "X"},
                  {"rate_5m": "high", "count": None, "stage": [1], "env.OPENAI_API_KEY.set": True}):
        verdict = cond.evaluate(facts)
        assert verdict.state in ("true", "false", "unknown") and isinstance(verdict.reason, str)


@FUZZ
@given(st.text(max_size=300))
def test_conditions_from_any_text(text: str) -> None:
    _condition(text)


@FUZZ
@given(st.lists(TOKENS, max_size=60).map(" ".join))
def test_conditions_from_token_soup(text: str) -> None:
    _condition(text)


@FUZZ
@given(st.integers(min_value=1, max_value=2000), st.sampled_from(["(", "[", "not ", "- ", "(x in ["]))
def test_deep_nesting_is_an_error_not_a_recursion(depth: int, opener: str) -> None:
    _condition("rate_5m > 1 and " + opener * depth + "1")


DSN_PART = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)


def _dsn(text: str) -> None:
    facts = dsn_facts(text)
    assert isinstance(facts.host, str) and (facts.port is None or 0 < facts.port < 65536)
    list(sanity(text))
    redact_dsn(text)
    redact_with_dsn(text, text)
    gather_database_url({}, GatherContext(PlaybookSettings(env={"DATABASE_URL": text})))


@FUZZ
@given(st.text(max_size=200))
def test_dsn_from_any_text(text: str) -> None:
    _dsn(text)


@FUZZ
@given(st.sampled_from(["postgresql", "postgres", "mysql", "http", ""]), DSN_PART, DSN_PART, DSN_PART,
       st.one_of(st.none(), st.integers(min_value=-5, max_value=99999).map(str), DSN_PART), DSN_PART, DSN_PART)
def test_dsn_from_url_parts(scheme: str, user: str, password: str, host: str, port: str | None, db: str,
                            query: str) -> None:
    text = f"{scheme}://{user}:{password}@{host}{':' + port if port is not None else ''}/{db}?{query}"
    _dsn(text)


@FUZZ
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$&*+=",
               min_size=6, max_size=30).filter(lambda p: "@" not in p))
def test_a_url_dsn_password_never_shows(password: str) -> None:
    dsn = f"postgresql://mosaic:{password}@db.example.com:5432/mosaic"
    shown = [redact_dsn(dsn), redact_with_dsn(f"could not connect: {dsn}", dsn), redact_text(f"dsn={dsn}")]
    assert all(password not in s for s in shown), shown


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
LOG_KEYS = st.sampled_from(["message", "msg", "level", "levelname", "timestamp", "time", "logger", "exc_info",
                            "exception", "labels", "logs", "stack_trace", "error"])


@FUZZ
@given(st.text(max_size=400))
def test_log_lines_from_any_text(text: str) -> None:
    for line in parse_line(text):
        assert isinstance(line.message, str)
    line_timestamp(text)


@FUZZ
@given(st.dictionaries(LOG_KEYS, JSON_VALUES, max_size=6))
def test_json_log_lines(obj: dict) -> None:
    for line in parse_line(json.dumps(obj)):
        assert isinstance(line.message, str)


@FUZZ
@given(st.integers(min_value=1, max_value=20_000))
def test_deeply_nested_json_lines(depth: int) -> None:
    (line,) = parse_line("{" + '"a":[' * depth + "1" + "]" * depth + "}")
    assert line.message is not None


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=120), st.sampled_from([
    "Traceback (most recent call last):", '  File "x.py", line 1, in <module>', "ValueError: bad",
    "2026-01-01 12:00:00,000 ERROR api: boom", '{"level": "error", "message": "x"}', "<11>1 - - - - - x",
    "During handling of the above exception, another exception occurred:", "    raise X", "LINE 1: SELECT"])),
    max_size=40), st.integers(min_value=16, max_value=4096))
def test_the_reader_over_any_lines(lines: list[str], block_size: int) -> None:
    data = "\n".join(lines).encode("utf-8", "replace")
    stats = ReadStats()
    events = list(read_events(io.BytesIO(data), stats, block_size=block_size))
    classifier = Classifier.default()
    for event in events[:5]:
        classifier.classify_text(getattr(event, "text", "") or "")
    assert stats.lines >= 0


@FUZZ
@given(st.binary(max_size=2000))
def test_the_reader_over_any_bytes(data: bytes) -> None:
    """Any bytes are read, or refused as one line when they open with the magic of a compression it has no codec
    for (7z, zip, zstd, lz4: hypothesis finds those magics among the reader's constants)."""
    try:
        list(read_events(io.BytesIO(data), ReadStats(), block_size=64))
    except UnreadableInput as exc:
        assert "\n" not in str(exc) and compression_of(data[:16]) in ("7z", "zip", "zstd", "lz4"), (str(exc), data)


@FUZZ
@given(st.text(max_size=300))
def test_yaml_from_any_text(text: str) -> None:
    try:
        load_yaml_text(text, "f.yml")
    except ConfigError as exc:
        assert str(exc).startswith("f.yml")


@FUZZ
@given(st.integers(min_value=1, max_value=5000),
       st.sampled_from(["2026-01-01 12:00:00 ", "web | ", "2026-01-01T00:00:00Z web-1  | ", "app[web.1]: "]))
def test_lines_of_many_wrappers(n: int, prefix: str) -> None:
    """Thousands of leading timestamps or Compose prefixes: read as text, never a RecursionError."""
    for line in parse_line(prefix * n + "ERROR api: boom"):
        assert isinstance(line.message, str)


# -- the reader's results do not depend on how its input is cut -------------------------------------------------
# Logs of real records (examples/logshapes.py, real tracebacks raised in this run), roughed up the way real files are:
# CRLF line ends, blank lines, invalid UTF-8, NUL bytes, lines past the line cap, a last line cut without its newline,
# the lines of several instances interleaved. Read in blocks of odd sizes, through a pipe that returns short reads,
# from a file, gzipped: the same events and the same statistics.

CUT_FUZZ = settings(FUZZ, max_examples=150)
CAP = 1 << 10  # the line cap the logs are read with: some lines are past it, and cut
INSTANCES = ("srv-d0abc-7f9c", "srv-d0abc-2b1e", "srv-d0abc-99aa")
RECORDS = (("ERROR", "uvicorn.error", "Exception in ASGI application"),
           ("ERROR", "api.storage", "Database init failed"),
           ("CRITICAL", "api.session", "Session handler crashed"), ("WARNING", "api.llm", "Retrying request"),
           ("INFO", "api.app", "PS101 step 2 completed"), ("DEBUG", "api.db", "pool size 5"),
           ("ERROR", "api.llm", "OpenAI call failed: Error code: 429 - Rate limit reached"))
ROUGH = ("crlf", "blank", "bad utf-8", "nul", "long", "long error", "traceback", "other")


@functools.cache
def _tracebacks() -> tuple[str, ...]:
    return tuple(make_tracebacks().values())


@st.composite
def rough_logs(draw: st.DrawFn) -> bytes:
    """A log of records in one shape, then roughed up line by line (`ROUGH`)."""
    tbs = _tracebacks()
    recs = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        instance = draw(st.sampled_from(INSTANCES))
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            rec = access(draw(st.sampled_from((200, 500))))
            rec.instance = instance
        else:
            level, logger, message = draw(st.sampled_from(RECORDS))
            exc = draw(st.one_of(st.none(), st.sampled_from(tbs)))
            rec = Rec(level, logger, message, exc, instance)
        recs.append(rec)
    shape = draw(st.sampled_from(SHAPES))
    data, _ = render(shape, recs, interleave=draw(st.booleans()))
    lines = data.split(b"\n")[:-1]
    for at, how in draw(st.lists(st.tuples(st.integers(min_value=0, max_value=len(lines) - 1), st.sampled_from(ROUGH)),
                                 max_size=8)):
        line = lines[at]
        lines[at] = {"crlf": line + b"\r", "blank": b"\n" + line, "bad utf-8": line[:9] + b"\xff\xfe" + line[9:],
                     "nul": line[:5] + b"\0" + line[5:], "long": line + b" " + b"x" * CAP + b" WARNING",
                     "long error": b"y" * CAP + b" ERROR boom\n" + line,
                     "traceback": line + b"\n" + tbs[at % len(tbs)].encode(),
                     "other": b"2026-11-27 14:03:11,123 ERROR api: boom\n" + line}[how]
    if draw(st.booleans()):
        lines = [ln.replace(b"\n", b"\r\n") + b"\r" for ln in lines]
    text = b"\n".join(lines) + b"\n"
    cut = draw(st.sampled_from((0, 0, 1, 7)))  # the last line's newline, or more, cut off
    return text[:len(text) - cut] if cut < len(text) else text


def _outcome(events: list[RawEvent], stats: ReadStats) -> tuple:
    """What a read gives: its events and all of its statistics (every level's and every shape's count: the lines passed
    over between candidates are one run however the blocks cut them, `_Reader._skip`)."""
    return events, stats


def _read(src: BinaryIO, **kw: int) -> tuple:
    stats = ReadStats()
    events = list(read_events(src, stats, line_cap=CAP, **kw))
    return _outcome(events, stats)


class _ShortReads(io.RawIOBase):
    """A non-seekable stream that returns at most `most` bytes a read (a pipe that has not filled up)."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data, self.most, self.pos = data, most, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray) -> int:  # type: ignore[override]
        n = min(len(buf), self.most, len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


@CUT_FUZZ
@given(rough_logs())
def test_the_reader_reads_the_same_in_any_block_size(data: bytes) -> None:
    whole = _read(io.BytesIO(data))
    for block_size in (17, 61, 257, 4096):
        assert _read(io.BytesIO(data), block_size=block_size) == whole, block_size


@CUT_FUZZ
@given(rough_logs(), st.integers(min_value=1, max_value=300), st.integers(min_value=0, max_value=100))
def test_the_reader_reads_the_same_from_a_file_a_pipe_and_gzip(data: bytes, most: int, split: int) -> None:
    whole = _read(io.BytesIO(data))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "app.log")
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb", buffering=0) as f:
            assert _read(f) == whole
    assert _read(_ShortReads(data, most)) == whole
    r, w = os.pipe()
    writer = threading.Thread(target=_write_all, args=(w, data))
    writer.start()
    with open(r, "rb") as pipe:  # (a real pipe, as stdin: not seekable)
        assert _read(pipe) == whole
    writer.join()
    at = len(data) * split // 100  # one gzip member, or two (concatenated: another cut of the text)
    packed = gzip.compress(data) if split == 100 else gzip.compress(data[:at]) + gzip.compress(data[at:])
    assert _read(io.BytesIO(packed)) == whole
    assert _read(_ShortReads(packed, most)) == whole


def _write_all(fd: int, data: bytes) -> None:
    with open(fd, "wb") as f:
        f.write(data)


def _triaged(data: bytes) -> list[ErrorEvent]:
    run = TriageRun(Classifier.default())
    return list(run.process(read_events(io.BytesIO(data), ReadStats(), line_cap=CAP)))


@CUT_FUZZ
@given(rough_logs(), st.integers(min_value=0, max_value=100))
def test_triage_of_a_log_s_head_is_that_of_the_whole_log_up_to_its_cut(data: bytes, share: int) -> None:
    """The first N lines give the events (classified) of the whole log that start before the first event still going
    at line N: an event closes on lines at or before its last one, and the reader looks back, never ahead."""
    lines = data.split(b"\n")
    n = max(1, len(lines) * share // 100)
    head = b"\n".join(lines[:n]) + b"\n"
    whole, part = _triaged(data), _triaged(head)
    going = min((e.line for e in whole if e.end_line >= n), default=n + 1)
    assert [e for e in part if e.line < going] == [e for e in whole if e.line < going]


# -- pasted tracebacks: real Python and IPython output, cut anywhere and pasted one after the other ----------------

PASTES_FUZZ = settings(FUZZ, max_examples=200)


@functools.cache
def _pastes() -> tuple[tuple[str, ...], ...]:
    """Real tracebacks as terminals and notebooks print them, as lists of lines: IPython's (`%xmode Context` with a
    chain, `Verbose`, `Plain`, coloured), a thread's, asyncio's and multiprocessing's uncaught exceptions, logging's."""
    from tests.test_logs_ipython import ASYNCIO_NEVER_RETRIEVED, IPythonCells

    chain = "import json\ntry:\n    json.loads('{bad')\nexcept ValueError as e:\n    raise KeyError('settings') from e"
    python = ("import threading, json\nt = threading.Thread(target=json.loads, args=('{x',))\nt.start()\nt.join()",
              ASYNCIO_NEVER_RETRIEVED,
              "import json, multiprocessing as mp\nif __name__ == '__main__':\n"
              "    p = mp.Process(target=json.loads, args=('{x',))\n    p.start()\n    p.join()",
              "import json, logging\nlogging.basicConfig(format='%(asctime)s %(levelname)s %(name)s: %(message)s')\n"
              "try:\n    json.loads('{x')\nexcept ValueError:\n    logging.getLogger('app').exception('bad body')")
    with tempfile.TemporaryDirectory() as tmp:
        ipython = IPythonCells(Path(tmp))
        try:
            texts = [ipython(chain), ipython(chain, mode="Verbose"), ipython("{'a': 1}['b']", mode="Plain"),
                     ipython(chain, colors="Linux")]
        finally:
            ipython.close()
        for code in python:
            proc = subprocess.run([sys.executable, "-c", code], cwd=tmp, capture_output=True, text=True, timeout=120,
                                  check=False)
            texts.append(proc.stderr.rstrip("\n"))
    return tuple(tuple(text.split("\n")) for text in texts)


@st.composite
def pasted_tracebacks(draw: st.DrawFn) -> bytes:
    """Pieces of real tracebacks (each whole, or cut at its head, its tail or both), pasted one after the other with or
    without a blank or another program's line between them."""
    pastes = _pastes()
    lines: list[str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        paste = draw(st.sampled_from(pastes))
        a = draw(st.integers(min_value=0, max_value=len(paste) - 1)) if draw(st.booleans()) else 0
        b = draw(st.integers(min_value=a + 1, max_value=len(paste))) if draw(st.booleans()) else len(paste)
        lines += paste[a:b]
        lines += draw(st.sampled_from(([], [""], ["epoch 3: loss 0.25"], ["-" * 75])))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.slow
@PASTES_FUZZ
@given(pasted_tracebacks())
def test_no_line_of_pasted_tracebacks_is_two_events(data: bytes) -> None:
    """Each line is at most one event's (the lines an event starts with, looked back on, are none of the event before
    it), the events in line order, the same in any block size."""
    events, _ = whole = _read(io.BytesIO(data))
    assert all(b.line > a.end_line for a, b in zip(events, events[1:], strict=False)), [
        (e.line, e.end_line, e.message[:40]) for e in events]
    for block_size in (7, 61):
        assert _read(io.BytesIO(data), block_size=block_size) == whole, block_size
