"""The forms layouts round 27 found the reader missing, produced by the real libraries in the test run (the `r27l-`
entries of tests/realworld/layouts.yml, and round 26's known misses): a record whose Docker Compose column the user's
selection left out, over its traceback in the service's stream."""

from __future__ import annotations

import io
import logging

import pytest

from tests.isolation import loggers_kept
from tests.realworld.test_layouts_corpus import load_layouts
from tests.test_logs_support import BLOCKS, error_events


def _excerpt(entry: str) -> list[tuple[int, int, str | None, str]]:
    """(line, end line, level, message) of the error events of the layouts corpus' entry `entry`, read whole and in
    7-byte blocks (the same)."""
    (ex,) = [e for e in load_layouts() if e.id == entry]
    got = [[(e.line, e.end_line, e.level, e.message) for e in error_events(ex.text, block)] for block in BLOCKS]
    assert got[0] == got[1]
    return got[0]


def _connect(dsn: str) -> None:
    raise ConnectionRefusedError(111, f"Connection refused: {dsn}")


def _logged(fmt: str, name: str = "celery.app.trace") -> list[str]:
    """The lines stdlib logging writes for an error record logged with its traceback (`log.exception`) in `fmt`."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(fmt))
    with loggers_kept(name):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.propagate = False
        log.setLevel(logging.INFO)
        try:
            _connect("db:5432")
        except OSError:
            log.exception("Task analyze_async[ace75c29] raised unexpected: OperationalError()")
    return buf.getvalue().rstrip("\n").split("\n")


_CELERY = "[%(asctime)s: %(levelname)s/ForkPoolWorker-3] %(message)s"


def _compose(lines: list[str], service: str = "worker_1") -> list[str]:
    """Docker Compose's prefix (v1: `worker_1  | `, the name padded to the widest service's) in front of each line."""
    return [f"{service:<10}| {line}" for line in lines]


@pytest.mark.parametrize("service", ["worker_1", "worker-1"])
def test_a_record_whose_compose_column_the_selection_left_out_keeps_its_traceback(service: str) -> None:
    """A paste whose first line lost its Compose column (the selection started past it), its traceback in the
    service's stream under it: one event, the record's, lines 1 to the exception line."""
    lines = _logged(_CELERY)
    assert lines[1] == "Traceback (most recent call last):"
    text = "\n".join([lines[0], *_compose(lines[1:], service)]) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.level, e.message[:28]) for e in events] == \
            [(1, len(lines), "ERROR", "Task analyze_async[ace75c29]")], block
        assert events[0].traceback is not None and events[0].traceback.endswith(
            "ConnectionRefusedError: [Errno 111] Connection refused: db:5432")


def test_an_unprefixed_record_further_down_keeps_its_own_stream() -> None:
    """Only the input's first line can have lost its column to a selection: an unprefixed error record after other
    lines, then another service's traceback, stays two events (guards)."""
    lines = _logged(_CELERY)
    text = "\n".join(["web_1     | starting", lines[0], *_compose(lines[1:])]) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line) for e in events] == [(2, 2), (3, len(lines) + 1)], block


def test_a_first_record_with_its_own_lines_then_a_prefixed_traceback_stays_apart() -> None:
    """A first-line record whose message goes on under it (its own unprefixed lines) is no cut column: the
    traceback in the service's stream is an event of its own (guard)."""
    lines = _logged(_CELERY)
    text = "\n".join([lines[0], "detail: the record's own line", *_compose(lines[1:])]) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line) for e in events] == [(1, 2), (3, len(lines) + 1)], block


@pytest.mark.parametrize(("entry", "end", "message"), [
    ("r26l-compose-celery-record-without-column-over-prefixed-traceback-cut", 12, "Task analyze_async[ace75c29"),
    ("r24l-compose-first-line-unprefixed-worker-exception-cut", 14, "Exception in worker process"),
])
def test_the_pasted_records_that_lost_their_compose_column(entry: str, end: int, message: str) -> None:
    """pubtrends#83's celery record and brick-example-server#5's gunicorn record, their column cut by the selection:
    one event each, from the record to the traceback's last line."""
    ((line, last, level, msg),) = _excerpt(entry)
    assert (line, last, level) == (1, end, "ERROR") and msg.startswith(message)


@pytest.mark.parametrize(("fmt", "datefmt"), [
    ("%(asctime)s--%(levelname)-7s %(name)s: %(message)s", "%b-%d %H:%M:%S"),  # (happypanda: `Mar-03 …--ERROR  …`)
    ("%(asctime)s: %(name)s %(levelname)s: %(message)s", "%d-%b-%y %H:%M:%S"),  # (quart's: `12-Nov-18 09:33:04: …`)
    ("%(asctime)s|%(levelname)s %(message)s", "%d-%b-%Y %H:%M:%S"),
])
def test_a_datefmt_naming_the_month_and_a_separator_glued_to_the_stamp(fmt: str, datefmt: str) -> None:
    """Records whose `datefmt` names the month and whose format glues a separator to the time stamp are records: the
    error one with its traceback is one event from its line, dated when the stamp has a year; the warning one's
    traceback is its own (no event)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(fmt, datefmt))
    with loggers_kept("happypanda.core.commands.database_cmd"):
        log = logging.getLogger("happypanda.core.commands.database_cmd")
        log.handlers[:] = [handler]
        log.propagate = False
        log.setLevel(logging.INFO)
        for level in (logging.WARNING, logging.ERROR):
            try:
                _connect("db:5432")
            except OSError:
                log.log(level, "Item import failed", exc_info=True)
    lines = buf.getvalue().rstrip("\n").split("\n")
    second = next(i for i, line in enumerate(lines) if "ERROR" in line) + 1
    assert second > 1 and lines[second] == "Traceback (most recent call last):"
    text = "\n".join(lines) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.level, e.message) for e in events] == \
            [(second, len(lines), "ERROR", "Item import failed")], block
        assert (events[0].timestamp is not None) == ("%y" in datefmt or "%Y" in datefmt)


@pytest.mark.parametrize(("entry", "events"), [
    ("r26l-plain-month-day-dash-level-traceback-as-list-repr-cut", [(17, 21, "ERROR")]),
    ("r24l-hypercorn-quart-markdown-quoted-two-lifespan-tracebacks", [(1, 7, "ERROR"), (8, 14, "ERROR")]),
])
def test_the_pasted_records_with_a_month_named_stamp(entry: str, events: list[tuple[int, int, str | None]]) -> None:
    """happypanda#260's `Mar-03 23:49:27--ERROR  [command]…: [` record (its traceback a list's lines under it) and
    quart#34's `12-Nov-18 09:33:04: quart.serving ERROR: …` record over its traceback are records (quart's first,
    levelless `[asctime] message` record is one since layouts round 28: `test_logs_layouts28.py`)."""
    assert [(line, end, level) for line, end, level, _ in _excerpt(entry)] == events


_DJANGO_APP = '''
import sys

import django
from django.conf import settings
from django.core import signing
from django.urls import path


def view(request, n):
    print("Error on Load", flush=True)  # (the app's print, to stdout)
    return signing.loads("not-a-signed-value")


urlpatterns = [path("department/<int:n>/", view)]
settings.configure(DEBUG=True, ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=__name__, SECRET_KEY="k" * 50)
django.setup()
from django.test import Client

Client(raise_request_exception=False).get("/department/19/")
'''


@pytest.fixture(scope="module")
def django_500(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str]]:
    """A Django app's stdout (its view's print) and stderr (Django's default console logging of the request's
    uncaught exception: `Internal Server Error: /department/19/`, then the traceback), run for real."""
    import subprocess
    import sys

    app = tmp_path_factory.mktemp("django") / "app.py"
    app.write_text(_DJANGO_APP, encoding="utf-8")
    run = subprocess.run([sys.executable, str(app)], capture_output=True, text=True, timeout=120, check=True,
                         cwd=app.parent)
    return run.stdout.rstrip("\n").split("\n"), run.stderr.rstrip("\n").split("\n")


@pytest.mark.parametrize("between", [0, 1, 3])
def test_djangos_request_record_starts_its_tracebacks_event(django_500: tuple[list[str], list[str]],
                                                             between: int) -> None:
    """Django's `django.request` record of an uncaught exception prints no level (its console handler's
    `%(message)s`): with its traceback under it, the prints a container's log merged in between them too, it is the
    event's record, at ERROR, the prints its lines."""
    out, err = django_500
    assert out == ["Error on Load"] and err[0] == "Internal Server Error: /department/19/"
    assert err[1] == "Traceback (most recent call last):" and err[-1].startswith("django.core.signing.BadSignature")
    merged = [err[0], *(out * between), *err[1:]]
    text = "\n".join(f"tcf_django  | {line}" for line in merged) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.level, e.logger, e.message) for e in events] == \
            [(1, len(merged), "ERROR", "django.request", "Internal Server Error: /department/19/")], block
        assert events[0].traceback is not None and events[0].traceback.startswith("Traceback (most recent")
        assert events[0].detail == ("\n".join(out * between) or None)


def test_a_record_between_djangos_line_and_a_traceback_parts_them(django_500: tuple[list[str], list[str]]) -> None:
    """A record between Django's line and a traceback (another logger's INFO): the traceback is no longer the request
    record's, its event starts at its header (guard)."""
    _, err = django_500
    info = logging.Formatter(logging.BASIC_FORMAT).format(
        logging.makeLogRecord({"levelno": logging.INFO, "levelname": "INFO", "name": "app", "msg": "cache miss"}))
    merged = [err[0], info, *err[1:]]
    for block in BLOCKS:
        events = error_events("\n".join(merged) + "\n", block)
        assert [(e.line, e.end_line, e.level) for e in events] == [(3, len(merged), None)], block


def test_djangos_record_in_the_pasted_compose_log() -> None:
    """theCourseForum2#890: Django's record, a print's line, then the traceback in the `tcf_django` stream: one
    event from the record's line."""
    ((line, end, level, msg),) = _excerpt("r26l-compose-django-internal-server-error-print-lines-between")
    assert (line, end, level, msg) == (2, 13, "ERROR", "Internal Server Error: /department/19/Fall+2024/")


_CHILD = '''
import multiprocessing
import threading


def work():
    raise RuntimeError("boom")


if __name__ == "__main__":
    p = multiprocessing.Process(target=work)
    p.start()
    p.join()
    t = threading.Thread(target=work, name="Thread-1")
    t.start()
    t.join()
'''


@pytest.fixture(scope="module")
def uncaught(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """What Python prints to stderr for an uncaught exception in a multiprocessing child (`Process Process-1:` and its
    traceback) and in a thread (`Exception in thread Thread-1 (work):` and its traceback), run for real."""
    import subprocess
    import sys

    script = tmp_path_factory.mktemp("uncaught") / "child.py"
    script.write_text(_CHILD, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    return run.stderr.rstrip("\n").split("\n")


def _error_record(message: str) -> str:
    """An ERROR record's line as `logging.basicConfig()` writes it."""
    return logging.Formatter(logging.BASIC_FORMAT).format(
        logging.makeLogRecord({"levelno": logging.ERROR, "levelname": "ERROR", "name": "app", "msg": message}))


def test_pythons_own_line_after_an_error_record_starts_the_uncaught_tracebacks_event(uncaught: list[str]) -> None:
    """An error record, then Python's own line before an uncaught exception's traceback (multiprocessing's `Process
    Process-1:`, threading's `Exception in thread …:`): logging prints no such line, so the traceback is no part of
    the record; each is an event of its own from Python's line (reflex#7196's JSON record then `Process
    granian-worker:`)."""
    assert uncaught[0].startswith("Process ") and uncaught[1] == "Traceback (most recent call last):"
    second = next(i for i, line in enumerate(uncaught) if line.startswith("Exception in thread "))
    text = "\n".join([_error_record("Unexpected exit from worker-1"), *uncaught[:second],
                      _error_record("thread died"), *uncaught[second:]]) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.level, e.message) for e in events] == [
            (1, 1, "ERROR", "Unexpected exit from worker-1"),
            (2, second + 1, None, "RuntimeError: boom"),
            (second + 2, second + 2, "ERROR", "thread died"),
            (second + 3, len(uncaught) + 2, None, "RuntimeError: boom"),
        ], block


def _stamp(i: int) -> str:
    """The Actions runner's time stamp (seven digits of a second's fraction)."""
    return f"2026-06-22T03:21:{15 + i // 10:02d}.{i % 10}{i:06d}Z"


def test_gh_run_view_log_columns_are_a_stream_per_jobs_step(uncaught: list[str]) -> None:
    """`gh run view --log`'s `JOB\\tSTEP\\tTIMESTAMP line`: the runner's line read behind the columns, one stream per
    job's step: a traceback ends at its exception line, the next step's lines are none of it."""
    tb = uncaught[1:next(i for i, line in enumerate(uncaught) if line.startswith("Exception in thread "))]
    assert tb[0] == "Traceback (most recent call last):" and tb[-1] == "RuntimeError: boom"
    lines = [f"crawl\tRun step1\t{_stamp(i)} {line}" for i, line in enumerate(["starting", *tb])]
    lines += [f"crawl\tUpload log\t{_stamp(len(lines) + i)} {line}" for i, line in enumerate(["uploading", "done"])]
    for block in BLOCKS:
        events = error_events("\n".join(lines) + "\n", block)
        assert [(e.line, e.end_line, e.instance, e.message) for e in events] == \
            [(2, len(tb) + 1, "crawl/Run step1", "RuntimeError: boom")], block
        stamp = events[0].timestamp
        assert stamp is not None and stamp.isoformat().startswith("2026-06-22T03:21:15.1")


@pytest.mark.parametrize("columns", [True, False])
def test_a_level_then_a_tab_is_a_record(columns: bool) -> None:
    """Lambda's Node.js layout, `TIME\\tREQUEST_ID\\tLEVEL\\tmessage` (here stdlib logging's, a process id the second
    column), and a copy without its first two columns (`LEVEL\\tmessage`): records; the error one is an event with
    its lines under it."""
    fmt = "%(levelname)s\t%(message)s"
    if columns:
        fmt = "%(asctime)s.%(msecs)03dZ\t%(process)d\t" + fmt
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(fmt, "%Y-%m-%dT%H:%M:%S"))
    with loggers_kept("lambda"):
        log = logging.getLogger("lambda")
        log.handlers[:] = [handler]
        log.propagate = False
        log.setLevel(logging.INFO)
        log.info("START")
        log.error("Uncaught Exception\t{\n    \"errorType\": \"Runtime.ImportModuleError\"\n}")
        log.info("END")
    lines = buf.getvalue().rstrip("\n").split("\n")
    assert len(lines) == 5
    for block in BLOCKS:
        events = error_events("\n".join(lines) + "\n", block)
        assert [(e.line, e.end_line, e.level, e.message) for e in events] == \
            [(2, 4, "ERROR", "Uncaught Exception\t{")], block
        assert (events[0].timestamp is not None) == columns


@pytest.mark.parametrize(("entry", "events"), [
    ("r27l-github-actions-log-failed-job-step-columns-traceback-then-error", [(4, 7, None), (8, 8, "ERROR")]),
    ("r27l-json-granian-record-elided-then-process-traceback", [(1, 1, "ERROR"), (2, 11, None)]),
    ("r27l-cloudwatch-lambda-node-tab-columns-uncaught-exception-json-body", [(1, 17, "ERROR")]),
    ("r23l-netlify-lambda-node-uncaught-exception-cut", [(1, 1, "ERROR")]),
])
def test_the_round_27_excerpts(entry: str, events: list[tuple[int, int, str | None]]) -> None:
    """crawl_cars' `gh run view --log-failed` copy, reflex#7196's record then `Process granian-worker:`, retro-tag#14's
    and netlify/functions#340's Lambda Node.js records."""
    assert [(line, end, level) for line, end, level, _ in _excerpt(entry)] == events
