# ruff: noqa: E501  (the real lines are kept whole, as the users pasted them)
"""Logs of CI runners and more platforms (held-out round 11, tests/realworld/README.md): Heroku's own lines (its
router's logfmt `at=error code=H12 …`, the older `Error H12 (…) -> …`, the dyno manager's `Error R14` / `Error R15`,
through a syslog drain too), Ruby's Logger records among them, GitHub Actions job logs (`##[group]`, seven-digit
fractions, the runner's `##[error]` after a step's traceback), and a Vercel dashboard copy whose traceback lost its line
breaks.

Each text is a real user's paste (its thread above it), shortened to the lines a test needs;
`tests/realworld/layouts.yml` holds the whole excerpts. Every text is read whole and in 7-byte blocks.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.logs.lines import flattened_traceback_at, parse_line
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.driven_process import END, DrivenProcess
from tests.test_logs_support import BLOCKS, error_events, read

_errors = error_events


def _labels(events: list[RawEvent]) -> list[str]:
    classify = EventClassifier(Classifier.default())
    return [classify.event(e).label for e in events]


# https://github.com/rails-girls-summer-of-code/rgsoc-teams/issues/49 (unicorn on Heroku: the router's H12, Ruby's Logger)
HEROKU_ROUTER = """\
2013-08-27T16:10:25.513588+00:00 app[web.1]: Started GET "/users" for xxx.xxx.xxx.xxx at 2013-08-27 16:10:25 +0000
2013-08-27T16:10:37.244807+00:00 heroku[router]: at=error code=H12 desc="Request timeout" method=GET path=/users?sort=&direction=&role= host=teams.railsgirlssummerofcode.org fwd="xxx.xxx.xxx.xxx" dyno=web.1 connect=65ms service=30008ms status=503 bytes=0
2013-08-27T16:10:55.848055+00:00 app[web.1]: Started GET "/users" for xxx.xxx.xxx.xxx at 2013-08-27 16:10:55 +0000
2013-08-27T16:10:56.821128+00:00 app[web.1]: E, [2013-08-27T16:10:56.820747 #2] ERROR -- : worker=0 PID:7773 timeout (31s > 30s), killing
2013-08-27T16:10:56.885656+00:00 app[web.1]: E, [2013-08-27T16:10:56.885362 #2] ERROR -- : reaped #<Process::Status: pid 7773 SIGKILL (signal 9)> worker=0
"""
# https://github.com/rjjfox/ab-test-calculator/issues/3 (the router's at=info lines are access lines, not events)
HEROKU_H10 = """\
2020-12-02T17:55:32.004219+00:00 heroku[router]: at=info method=GET path="/stream" host=abtestcalculator.herokuapp.com request_id=a07d1d46-eeb0-4f56-b346-372e71abaa39 fwd="86.26.169.205" dyno=web.1 connect=3ms service=7089ms status=101 bytes=3704 protocol=https
2020-12-02T18:31:57.909981+00:00 heroku[web.1]: Process exited with status 0
2020-12-04T23:48:36.484998+00:00 heroku[router]: at=error code=H10 desc="App crashed" method=GET path="/robots.txt" host=testcalculator.rfoxdata.co.uk request_id=e6332438-f459-4454-95a5-da0723859f0a fwd="66.249.64.131" dyno= connect= service= status=503 bytes= protocol=http
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_heroku_router_error_lines(block_size: int | None) -> None:
    """`at=error code=…` is the router's error record, its whole line the message (the code and description are the
    evidence): H12 is the app not answering in time, H10 a crashed app (no label of its own); `at=info` is no event.
    Ruby's Logger records (`E, [TS #pid] ERROR -- : message`) are records with their level."""
    got = _errors(HEROKU_ROUTER, block_size)
    assert [(e.line, e.end_line, e.level, e.instance) for e in got] == [
        (2, 2, "ERROR", "router"), (4, 4, "ERROR", "web.1"), (5, 5, "ERROR", "web.1")]
    assert got[0].message.startswith('at=error code=H12 desc="Request timeout" method=GET path=/users')
    assert got[0].logger == "heroku"
    assert got[1].message == "worker=0 PID:7773 timeout (31s > 30s), killing"
    assert got[2].message.startswith("reaped #<Process::Status: pid 7773 SIGKILL")
    assert got[0].timestamp is not None and got[0].timestamp.isoformat() == "2013-08-27T16:10:37.244807+00:00"
    assert _labels(got) == ["APP_TIMEOUT", "APP_TIMEOUT", "UNKNOWN_ERROR"]
    (h10,) = _errors(HEROKU_H10, block_size)
    assert (h10.line, h10.level) == (3, "ERROR") and h10.message.startswith('at=error code=H10 desc="App crashed"')
    assert _labels([h10]) == ["UNKNOWN_ERROR"]


# https://github.com/ukd1/node-twilio/issues/20 (the router's older wording)
HEROKU_OLD_ROUTER = """\
2012-01-20T02:10:47+00:00 heroku[router]: Error H12 (Request timeout) -> POST morning-dawn-8986.herokuapp.com/autoprovision/58 dyno=web.1 queue= wait= service=30000ms status=503 bytes=0
2012-01-20T02:10:48+00:00 heroku[router]: Error H12 (Request timeout) -> POST morning-dawn-8986.herokuapp.com/autoprovision/59 dyno=web.1 queue= wait= service=30000ms status=503 bytes=0
"""
# https://github.com/fayasnoushad/gofile-bot/issues/37 (a Python worker: R14 warns, R15 kills)
HEROKU_MEMORY = """\
2024-03-29T07:45:49.417152+00:00 heroku[worker.1]: Process running mem=1022M(199.7%)
2024-03-29T07:45:49.419070+00:00 heroku[worker.1]: Error R14 (Memory quota exceeded)
2024-03-29T07:46:09.722737+00:00 heroku[worker.1]: Process running mem=1189M(232.4%)
2024-03-29T07:46:09.724617+00:00 heroku[worker.1]: Error R15 (Memory quota vastly exceeded)
2024-03-29T07:46:09.726312+00:00 heroku[worker.1]: Stopping process with SIGKILL
2024-03-29T07:46:09.878167+00:00 heroku[worker.1]: Process exited with status 137
2024-03-29T07:46:09.905294+00:00 heroku[worker.1]: State changed from up to crashed
"""
# https://github.com/mrluanma/shadowsocks-heroku/issues/2 (a syslog drain: `heroku/web.1:` and two spaces)
HEROKU_DRAIN = (  # (the drain's lines end with a space)
    "Jan 08 10:55:11 warm-cliffs-8392 heroku/web.1:  Process running mem=1210M(236.5%) \n"
    "Jan 08 10:55:11 warm-cliffs-8392 heroku/web.1:  Error R14 (Memory quota exceeded) \n"
)


@pytest.mark.parametrize("block_size", BLOCKS)
def test_heroku_error_codes_without_a_level(block_size: int | None) -> None:
    """`Error H12 (Request timeout) -> …`, `Error R14 (Memory quota exceeded)`: Heroku's own error lines carry no level
    word, they are error records all the same (also behind a syslog drain's prefix). R15 is the dyno killed for
    memory (RENDER_OUT_OF_MEMORY); R14 only warns that it swaps (no label of its own)."""
    old = _errors(HEROKU_OLD_ROUTER, block_size)
    assert [(e.line, e.level, e.message[:27]) for e in old] == [
        (1, "ERROR", "Error H12 (Request timeout)"), (2, "ERROR", "Error H12 (Request timeout)")]
    assert _labels(old) == ["APP_TIMEOUT", "APP_TIMEOUT"]
    mem = _errors(HEROKU_MEMORY, block_size)
    assert [(e.line, e.end_line, e.message) for e in mem] == [
        (2, 2, "Error R14 (Memory quota exceeded)"), (4, 4, "Error R15 (Memory quota vastly exceeded)")]
    assert _labels(mem) == ["UNKNOWN_ERROR", "RENDER_OUT_OF_MEMORY"]
    (drain,) = _errors(HEROKU_DRAIN, block_size)
    assert (drain.line, drain.level, drain.message, drain.instance) == (
        2, "ERROR", "Error R14 (Memory quota exceeded)", "heroku/web.1")


def test_heroku_lines_are_found_in_the_middle_of_a_long_log() -> None:
    """The block scan looks for Heroku's error lines from the block whose head or tail shows Heroku's log on: in the
    whole first block, so a log up to a block's size misses none of them; a log that never shows it pays nothing."""
    filler = "".join(f"2024-03-29T07:4{i % 10}:00.000000+00:00 app[web.1]: GET /items/{i} 200\n" for i in range(5000))
    events, _ = read((filler + HEROKU_MEMORY + filler).encode())
    assert [(e.line, e.kind) for e in events if e.kind == "error"] == [(5002, "error"), (5004, "error")]
    plain = filler.replace("app[web.1]: ", "")
    events, _ = read((plain + "2024-03-29T07:45:49.419070+00:00 Error R14 (Memory quota exceeded)\n" + plain).encode())
    # (no Heroku source in sight: the line is no candidate of the block scan, as before)
    assert [e for e in events if e.kind == "error"] == []


def test_heroku_and_ruby_shapes_stay_narrow() -> None:
    """Only Heroku's error codes (H, R, L and two digits, then the description in parentheses) and Ruby's Logger prefix
    read so; prose that starts alike stays plain text."""
    for text in ("Error handling request /x", "Error H1 (x)", "at=error msg=boom", "Error R14 memory",
                 "E, [not a time #2] ERROR -- : x", "E, [2013-08-27T16:10:56.820747 #2] LOUD -- : x"):
        (ln,) = parse_line(text)
        assert (ln.record, ln.level) == (False, None), text
    (ln,) = parse_line("W, [2013-08-27T16:10:56.820747 #2]  WARN -- app: slow")
    assert (ln.level, ln.logger, ln.message, ln.ts) == ("WARNING", "app", "slow", "2013-08-27T16:10:56.820747")


# https://github.com/anmol098/waka-readme-stats/issues/425 (a GitHub Actions job log: seven-digit fractions, ##[group])
GITHUB_ACTIONS = """\
2023-05-25T03:14:07.8472674Z Current runner version: '2.304.0'
2023-05-25T03:14:07.8523417Z ##[group]Operating System
2023-05-25T03:14:07.8524245Z Ubuntu
2023-05-25T03:14:07.8524711Z 22.04.2
2023-05-25T03:14:07.8525672Z ##[endgroup]
2023-05-25T03:14:07.8526574Z Image: ubuntu-22.04
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_github_actions_group_lines_are_no_events(block_size: int | None) -> None:
    """The runner's timestamp (seven-digit fraction) is Render's shape; `##[group]` / `##[endgroup]` lines are plain."""
    events, stats = read(GITHUB_ACTIONS.encode(), **({} if block_size is None else {"block_size": block_size}))
    assert events == [] and stats.lines == 6
    (ln,) = parse_line("2023-05-25T03:14:07.8523417Z ##[group]Operating System")
    assert (ln.record, ln.level, ln.text) == (False, None, "##[group]Operating System")


# https://github.com/maltfield/awesome-lemmy-instances/issues/39 (a Python step's traceback, then the runner's error)
GITHUB_ACTIONS_ERROR = """\
2023-08-19T06:34:24.0560176Z Traceback (most recent call last):
2023-08-19T06:34:24.0564873Z   File "/home/runner/work/awesome-lemmy-instances/awesome-lemmy-instances/./generate_readme.py", line 114, in <module>
2023-08-19T06:34:24.0565728Z     instances_with_blocked = [x for x in data['instance_details'] if x['federated_instances']['federated_instances']['blocked'] != [] ]
2023-08-19T06:34:24.0569114Z KeyError: 'federated_instances'
2023-08-19T06:34:25.0501530Z ##[error]Process completed with exit code 1.
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_github_actions_error_annotation_after_a_step_s_traceback(block_size: int | None) -> None:
    """The step's traceback is an event of its own; the runner's `##[error]` line is an error record (its `##[warning]`
    a warning), as a platform's failure line after a crash is. A dict's lower-case KeyError is no environment
    variable (the rule's upper-case name is matched as written)."""
    tb, runner = _errors(GITHUB_ACTIONS_ERROR, block_size)
    assert (tb.line, tb.end_line, tb.level) == (1, 4, None)
    assert tb.traceback is not None and tb.traceback.endswith("KeyError: 'federated_instances'")
    assert (runner.line, runner.end_line, runner.level, runner.message) == (
        5, 5, "ERROR", "Process completed with exit code 1.")
    assert _labels([tb, runner]) == ["UNKNOWN_ERROR", "UNKNOWN_ERROR"]
    env = "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    x = cfg['DATABASE_URL']\nKeyError: 'DATABASE_URL'\n"
    assert _labels(_errors(env, block_size)) == ["ENV_VAR_MISSING"]
    (warn,) = parse_line("2023-08-19T06:34:25.0501530Z ##[warning]The process '/usr/bin/git' failed with exit code 128")
    assert (warn.record, warn.level) == (True, "WARNING")
    (plain,) = parse_line("##[error]Process completed with exit code 2.")
    assert (plain.level, plain.message) == ("ERROR", "Process completed with exit code 2.")


# https://github.com/itsdeka/vercelfastapi/issues/1 (Vercel's dashboard copy: the line breaks of the record lost)
VERCEL_FLAT = """\
[GET] /
11:12:06:33

using Asynchronous Server Gateway Interface (ASGI)[ERROR] AttributeError: 'list' object has no attribute 'encode'Traceback (most recent call last):  File "/var/task/vc__handler__python.py", line 288, in vc_handler    'headers': [[k.lower().encode(), v.encode()] for k, v in headers.items()],  File "/var/task/vc__handler__python.py", line 288, in <listcomp>    'headers': [[k.lower().encode(), v.encode()] for k, v in headers.items()],
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_traceback_flattened_after_other_text_starts_an_event(block_size: int | None) -> None:
    """A header inside a line with a frame right after it (the traceback flattened onto the line) is a traceback
    glued to other text, as one glued to a line's end; a header named in prose is not."""
    (e,) = _errors(VERCEL_FLAT, block_size)
    assert (e.line, e.end_line) == (4, 4)
    assert e.traceback is not None and e.traceback.startswith('Traceback (most recent call last):  File "/var/task/')
    assert flattened_traceback_at("see Traceback (most recent call last): in the docs") == -1
    assert flattened_traceback_at('x Traceback (most recent call last): File "a.py", line 1, in f') == 2
    assert _errors("see Traceback (most recent call last): in the docs\n", block_size) == []


# ------------------------------------------------------------------ pytest's report in a CI job's log
PYTEST_TESTS = '''\
import json
import logging
import os

import psycopg2
import pytest


def connect():
    return psycopg2.connect(host="127.0.0.1", port={port}, dbname="m", user="u", password="p", connect_timeout=5)


def test_db():
    logging.getLogger("api.db").error("session store unavailable")
    connect()


class TestConfig:
    @pytest.mark.parametrize("raw", ["", "{{"])
    def test_load(self, raw):
        json.loads(raw)


def test_count():
    assert [1, 2] == [1, 3]


@pytest.fixture
def database_url():
    return os.environ["MOSAIC_DATABASE_URL"]


def test_env(database_url):
    assert database_url


def test_ok():  # (the run's one passing test: its report says "1 passed")
    assert json.loads("[1]") == [1]
'''


def _pytest_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "MOSAIC_DATABASE_URL" and not k.startswith("PYTEST_")}


_PYTEST_ARGS = ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly"]
# `python -m pytest ARGS test_app.py` in a folder, session after session in one process (`pytest.main`): the folder
# first on sys.path (as `-m` has it), its `test_app` imported anew, COLUMNS the run's. Its reports are those of a
# process each, but for their times and the addresses in reprs (which differ from one process to the next too).
_PYTEST_SESSIONS = f"""\
import json, os, sys
import pytest
path = sys.path[1:]
while line := sys.stdin.readline():
    cwd, args, columns = json.loads(line)
    os.chdir(cwd)
    os.environ["COLUMNS"] = str(columns)
    sys.path[:] = [cwd, *path]
    sys.modules.pop("test_app", None)
    code = pytest.main(args)
    sys.stdout.flush()
    sys.stdout.write({END!r} + str(int(code)) + "\\n")
    sys.stdout.flush()
"""


@pytest.fixture(scope="module")
def pytest_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., str]]:
    """What a real pytest run of `PYTEST_TESTS` with `args` prints (a psycopg2 refusal, two JSON errors, an assertion,
    a fixture's KeyError), as a CI job's log holds it (`columns`: the terminal's width, 80 on a CI runner): each
    report made once a module (a text, read by every block size), all by one pytest process that runs a session for
    each (a process a report took seconds, most of them importing pytest's plugins), its psycopg2 connection refused
    by a loopback port this module holds bound and never listening, so no server another test starts meanwhile can
    take it."""
    made: dict[tuple[tuple[str, ...], int], str] = {}
    sessions: list[DrivenProcess] = []
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]

        def report(*args: str, columns: int = 80) -> str:
            if (args, columns) not in made:
                if not sessions:
                    home = tmp_path_factory.mktemp("pytest-sessions")
                    sessions.append(DrivenProcess(_PYTEST_SESSIONS, [], cwd=home, env=_pytest_env(),
                                                  stderr=home / "stderr"))
                work = tmp_path_factory.mktemp("pytest-report")
                (work / "test_app.py").write_text(PYTEST_TESTS.format(port=port))
                text, code = sessions[0].ask([str(work), [*_PYTEST_ARGS, *args, "test_app.py"], columns])
                assert code == "1" and "4 failed, 1 passed, 1 error" in text, sessions[0].said(text.encode())
                made[args, columns] = text
            return made[args, columns]

        try:
            yield report
        finally:
            for session in sessions:
                session.close()


_PYTEST_LABELS = ["ENV_VAR_MISSING", "PG_CONNECTION_FAILED", "UNKNOWN_ERROR", "UNKNOWN_ERROR", "UNKNOWN_ERROR"]


@pytest.mark.parametrize("tb", ("auto", "short"))
@pytest.mark.parametrize("block_size", BLOCKS)
def test_pytest_failure_sections_are_events_with_their_e_lines(tb: str, block_size: int | None,
                                                               pytest_report: Callable[..., str]) -> None:
    """Each failure section of pytest's report (`____ test_db ____`, `____ ERROR at setup of test_env ____`) is one
    error event from its header to its end, its `E` lines the evidence (the exception whose location line names the
    type: `AssertionError: assert …`), the test's captured log under them (`ERROR    api.db:…`) its own; the short
    summary's `FAILED …` / `ERROR …` lines repeat them: no events."""
    text = pytest_report(f"--tb={tb}")
    lines = text.splitlines()
    events = _errors(text, block_size)
    headers = [i for i, ln in enumerate(lines, 1) if ln.startswith("_") and ln.endswith("_") and " _ _" not in ln]
    assert [e.line for e in events] == headers and len(headers) == 5, text
    summary = next(i for i, ln in enumerate(lines, 1) if "short test summary info" in ln)
    assert all(e.end_line < summary for e in events) and {e.logger for e in events} == {"pytest"}
    env, db, load1, load2, count = events
    assert env.message == "KeyError: 'MOSAIC_DATABASE_URL'"
    assert db.message.startswith('psycopg2.OperationalError: connection to server at "127.0.0.1"')
    assert db.detail is not None and "Is the server running on that host" in db.detail
    assert load1.message == "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
    assert load2.message.startswith("json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes")
    assert count.message == "AssertionError: assert [1, 2] == [1, 3]"
    assert _labels(events) == _PYTEST_LABELS


@pytest.mark.parametrize("tb", ("no", "line"))
@pytest.mark.parametrize("block_size", BLOCKS)
def test_pytest_summary_lines_are_events_when_no_section_was_printed(tb: str, block_size: int | None,
                                                                      pytest_report: Callable[..., str]) -> None:
    """`--tb=no` prints no failure sections (`--tb=line` only the setup error's): each `FAILED …` / `ERROR …` line of
    the short summary with no section of its test read is the test's error event, its message the exception it names
    (as wide as the terminal lets pytest print it)."""
    text = pytest_report(f"--tb={tb}", "-rfE", columns=200)
    lines = text.splitlines()
    events = _errors(text, block_size)
    summary = {i for i, ln in enumerate(lines, 1) if ln.startswith(("FAILED ", "ERROR "))}
    sections = {i for i, ln in enumerate(lines, 1) if ln.startswith("_") and ln.endswith("_")}
    assert len(events) == 5 and all(e.line in summary | sections for e in events), text
    assert len([e for e in events if e.line in summary]) == (5 if tb == "no" else 4)
    db = next(e for e in events if "psycopg2" in e.message)
    assert db.message.startswith('psycopg2.OperationalError: connection to server at "127.0.0.1"')
    assert sorted(_labels(events)) == sorted(_PYTEST_LABELS)


def test_pytest_report_behind_the_runner_s_timestamps(pytest_report: Callable[..., str]) -> None:
    """The same report in a GitHub Actions job log (the runner's seven-digit timestamp on every line) reads the same."""
    text = pytest_report("--tb=auto")  # (pytest's default)
    stamped = "".join(f"2023-08-19T06:34:{i % 60:02d}.0560176Z {ln}\n" for i, ln in enumerate(text.splitlines()))
    plain, ci = _errors(text), _errors(stamped)
    assert [(e.line, e.message) for e in ci] == [(e.line, e.message) for e in plain] and len(ci) == 5
    assert _labels(ci) == _PYTEST_LABELS


# https://github.com/psycopg/psycopg/issues/53 (a packager's run of psycopg2 2.8.6's test suite with no server)
PYTEST_SUMMARY_PASTE = """\
FAILED tests/test_sql.py::ComposedTest::test_sum_inplace - psycopg2.OperationalError: could not connect to server: No such file or directory
FAILED tests/test_sql.py::PlaceholderTest::test_repr - psycopg2.OperationalError: could not connect to server: No such file or directory
FAILED tests/test_transaction.py::TransactionTests::test_commit - psycopg2.OperationalError: could not connect to server: No such file or directory
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_pasted_pytest_summary_is_one_event_a_line(block_size: int | None) -> None:
    events = _errors(PYTEST_SUMMARY_PASTE, block_size)
    assert [(e.line, e.level, e.logger) for e in events] == [(1, "ERROR", "pytest"), (2, "ERROR", "pytest"),
                                                            (3, "ERROR", "pytest")]
    assert events[0].message == "psycopg2.OperationalError: could not connect to server: No such file or directory"
    assert _labels(events) == ["PG_CONNECTION_FAILED"] * 3


@pytest.mark.parametrize("block_size", BLOCKS)
def test_lines_that_only_look_like_pytest_s_are_no_events(block_size: int | None) -> None:
    """A banner centred in underscores with no `E` line under it, a `FAILED` word with no node id, an exception line
    whose type starts with an underscore: no events of pytest's."""
    text = ("= FAILURES =\n_____ setup _____\nnothing to see\nFAILED to start worker\n"
            "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n_pickle.UnpicklingError: x\n")
    (e,) = _errors(text, block_size)
    assert (e.line, e.logger, e.traceback is not None) == (5, None, True)
    assert e.traceback.endswith("_pickle.UnpicklingError: x")
    # a traceback whose header was cut, right under such a banner: its frames are no section's
    (e,) = _errors("= FAILURES =\n_____ setup _____\n  File \"a.py\", line 1, in <module>\nValueError: x\n", block_size)
    assert (e.line, e.logger) == (3, None) and e.traceback is not None and e.traceback.endswith("ValueError: x")
