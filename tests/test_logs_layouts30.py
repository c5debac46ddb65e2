"""The forms layouts round 30 found the reader missing, produced by the real libraries in the test run and written in
the layout each tool shows them in: a container's name in brackets before the runtime's nanosecond stamp, k9s's log
pane (its borders around every line), a buildpack's deploy output (a container's lines indented under `-----> `
steps), and an HTTP server's line for the failed request right after the exception's message (Django's `runserver`)."""

from __future__ import annotations

import importlib
import io
import logging
import traceback

import pytest

from mosaic_diag.logs.lines import parse_line
from tests.isolation import loggers_kept
from tests.test_logs_support import BLOCKS, error_events

_MISSING = "no_such_module_layouts30"


def _import_error() -> list[str]:
    """The lines of a real uncaught ModuleNotFoundError's traceback, as Python prints it."""
    try:
        importlib.import_module(_MISSING)
    except ModuleNotFoundError as e:
        return "".join(traceback.format_exception(e)).rstrip("\n").split("\n")
    raise AssertionError("imported")


def _logged(fmt: str, name: str, emit: str, datefmt: str | None = None) -> list[str]:
    """The lines stdlib logging writes in `fmt`: `emit` "error" is one ERROR record without a traceback, "exception"
    one logged with the real ModuleNotFoundError's traceback (`log.exception`)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(fmt, datefmt))
    with loggers_kept(name):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.propagate = False
        if emit == "error":
            log.error("Can't locate revision identified by '821203926422'")
        else:
            try:
                importlib.import_module(_MISSING)
            except ModuleNotFoundError:
                log.exception("Exception in worker process")
    return buf.getvalue().rstrip("\n").split("\n")


def _spans(text: str) -> list[list[tuple[int, int, str | None, str]]]:
    return [[(e.line, e.end_line, e.level, e.message) for e in error_events(text, block)] for block in BLOCKS]


def test_the_real_lines_are_what_the_tests_take_them_for() -> None:
    tb = _import_error()
    assert tb[0] == "Traceback (most recent call last):"
    assert tb[-1] == f"ModuleNotFoundError: No module named '{_MISSING}'"
    (rec,) = _logged("%(levelname)-5.5s [%(name)s] %(message)s", "alembic.util.messaging", "error")
    assert rec == "ERROR [alembic.util.messaging] Can't locate revision identified by '821203926422'"


# -- a container's name in brackets before the runtime's stamp --------------------------------------------------------

def _named(name: str, i: int, line: str) -> str:
    return f"[{name}] 2026-04-18T07:24:32.{389431243 + 1013 * i:09d}Z {line}"


def test_a_containers_name_in_brackets_before_its_stamp_is_its_stream() -> None:
    """alembic's real ERROR record (`%(levelname)-5.5s [%(name)s] %(message)s`) in one container's stream and a
    real uncaught traceback in another's, their lines interleaved, each behind `[NAME] RFC3339-nano `: the record
    is an event at ERROR, the traceback one of its own stream (before, the prefix was no layout: the record was
    no record, and the interleaved lines broke the traceback)."""
    (rec,) = _logged("%(levelname)-5.5s [%(name)s] %(message)s", "alembic.util.messaging", "error")
    tb = _import_error()
    lines = [_named("worker", 0, tb[0]), _named("medical-records-app", 1, rec)]
    lines += [_named("worker", i + 2, t) for i, t in enumerate(tb[1:])]
    assert _spans("\n".join(lines) + "\n") == [[
        (1, len(lines), None, tb[-1]),
        (2, 2, "ERROR", "Can't locate revision identified by '821203926422'")]] * 2


def test_a_level_in_brackets_before_a_stamp_is_no_containers_name() -> None:
    """Guard: `[ERROR] 2024-…` is a level in brackets, not a stream's name."""
    (ln,) = parse_line("[ERROR] 2026-04-18T07:24:32.389431243Z worker lost")
    assert ln.stream is None
    (ln,) = parse_line("[web] 2026-04-18T07:24:32.389431243Z ERROR [app.db] worker lost")
    assert (ln.stream, ln.level, ln.logger, ln.message) == ("web", "ERROR", "app.db", "worker lost")


# -- k9s's log pane ---------------------------------------------------------------------------------------------------

def _pane(lines: list[str], width: int = 118, left: bool = True) -> list[str]:
    """`lines` as k9s's log view shows them, copied: `│ ` before each (the first line's left border lost in the
    copy, its space kept; every line's when `left` is False), padded to the pane's width, then `│`."""
    return [(" " if i == 0 or not left else "│ ") + line.ljust(width) + "│" for i, line in enumerate(lines)]


@pytest.mark.parametrize("left", [True, False])
def test_a_traceback_copied_from_k9ss_log_pane_is_one_event(left: bool) -> None:
    """A real uncaught traceback in k9s's pane, its borders on each line (the left one lost on the first line, or on
    every line): one event from the header to the exception line, its message the exception line (before, no event
    with both borders; with the right one only, its message kept the lost border's space)."""
    tb = _import_error()
    assert _spans("\n".join(_pane(tb, left=left)) + "\n") == [[(1, len(tb), None, tb[-1])]] * 2


def test_a_rich_box_cut_above_is_no_pane() -> None:
    """Guard: a real Rich traceback box whose top edge (and header) a paste cut off starts with a box side; its
    sides stay the box's (its first side holds neither a traceback's header nor a record), read as before."""
    from rich.console import Console
    from rich.traceback import Traceback

    try:
        importlib.import_module(_MISSING)
    except ModuleNotFoundError as e:
        buf = io.StringIO()
        Console(file=buf, width=100, color_system=None).print(Traceback.from_exception(type(e), e, e.__traceback__))
    lines = buf.getvalue().rstrip("\n").split("\n")
    assert lines[0].startswith("╭") and lines[1].startswith("│ ") and lines[-1].startswith("ModuleNotFoundError")
    cut = lines[1:]
    assert _spans("\n".join(cut) + "\n") == [[(1, len(cut), None, cut[-1])]] * 2


# -- a buildpack's deploy output --------------------------------------------------------------------------------------

_GUNICORN = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"


def test_a_containers_output_under_a_buildpacks_steps_is_read_without_the_indent() -> None:
    """dokku's deploy output (`-----> ` steps, the container's output indented by the arrow's width under them):
    gunicorn's real ERROR record of a worker's exception is the event's record (before, the indented record was no
    record and the event started at the traceback's header, without a level)."""
    rec = _logged(_GUNICORN, "gunicorn.error", "exception", "%Y-%m-%d %H:%M:%S %z")
    head = ["-----> Deploying app...", "-----> Waiting for 10 seconds ...", "=====> app web container output:"]
    lines = head + ["       " + t for t in rec]
    assert rec[0].endswith("[ERROR] Exception in worker process") and rec[1] == "Traceback (most recent call last):"
    assert _spans("\n".join(lines) + "\n") == [[(4, len(lines), "ERROR", "Exception in worker process")]] * 2


def test_indented_lines_without_a_buildpacks_arrow_first_are_read_as_before() -> None:
    """Guard: the same indented lines with no `-----> ` line first keep their indentation (the traceback alone)."""
    rec = _logged(_GUNICORN, "gunicorn.error", "exception", "%Y-%m-%d %H:%M:%S %z")
    lines = ["=====> app web container output:"] + ["       " + t for t in rec]
    ((line, _, level, _),) = _spans("\n".join(lines) + "\n")[0]
    assert (line, level) == (3, None)


# -- an HTTP server's line after the exception's message --------------------------------------------------------------

_DJANGO_SERVER = '''
import threading
import urllib.request

import django
from django.conf import settings
from django.urls import path


def view(request):
    raise Exception("!     User wharf does not have permissions to run apps:list\\n !     Access denied")


urlpatterns = [path("", view)]
settings.configure(DEBUG=True, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="k" * 50)
django.setup()
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application

httpd = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
httpd.set_app(get_wsgi_application())
serve = threading.Thread(target=httpd.handle_request)
serve.start()
try:
    urllib.request.urlopen(f"http://127.0.0.1:{httpd.server_port}/", timeout=30)
except Exception:
    pass
serve.join()
httpd.server_close()
'''


@pytest.fixture(scope="module")
def django_runserver(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The stderr of Django's development server answering one request whose view raises (run for real): Django's
    `Internal Server Error: /` record, the traceback (its exception's message on two lines), then the server's
    `[date] "GET / HTTP/1.1" 500 …` line."""
    import subprocess
    import sys

    app = tmp_path_factory.mktemp("django_server") / "app.py"
    app.write_text(_DJANGO_SERVER, encoding="utf-8")
    run = subprocess.run([sys.executable, str(app)], capture_output=True, text=True, timeout=120, check=True,
                         cwd=app.parent)
    return run.stderr.rstrip("\n").split("\n")


@pytest.mark.parametrize("stamped", [True, False])
def test_the_servers_line_for_the_failed_request_ends_the_exceptions_message(django_runserver: list[str],
                                                                            stamped: bool) -> None:
    """The server's line for the request (as Django prints it, `[server_time] "GET / …" 500 N`, and as a
    `%(message)s` handler prints it) right after the exception's two-line message is no line of the message: the
    event ends at the message's last line (before, the server's line went on as the message's)."""
    err = django_runserver
    (exc_at,) = [i for i, t in enumerate(err) if t.startswith("Exception: !")]
    assert err[0] == "Internal Server Error: /" and err[exc_at + 1] == " !     Access denied"
    served = err[exc_at + 2]
    assert served.startswith("[") and served.endswith('"GET / HTTP/1.1" 500 ' + served.rsplit(" ", 1)[1])
    lines = err[:exc_at + 2] + [served if stamped else served.split("] ", 1)[1]]
    assert _spans("\n".join(lines) + "\n") == [[(1, exc_at + 2, "ERROR", "Internal Server Error: /")]] * 2


# -- the pasted excerpts ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("entry", "events"), [
    ("r30l-k9s-log-pane-box-borders-modulenotfound-stream-closed",
     [(1, 9, None, "ModuleNotFoundError: No module named 'uvicorn'")]),
    ("r30l-docker-name-brackets-alembic-error-record-then-failed-line",
     [(1, 2, "ERROR", "Can't locate revision identified by '821203926422'")]),
    ("r30l-dokku-deploy-container-output-indented-gunicorn-worker-traceback-cut",
     [(19, 24, "ERROR", "Exception in worker process:")]),
    ("r30l-plain-django-traceback-exception-message-bang-lines-then-access-lines",
     [(1, 11, None, "Exception: !     User wharf does not have permissions to run apps:list")]),
])
def test_the_pasted_excerpts(entry: str, events: list[tuple[int, int, str | None, str]]) -> None:
    """NVIDIA/GenerativeAIExamples#102's k9s pane, MediKeep#743's bracketed container, dokku#1266's deploy output and
    wharf#134's exception before the server's lines (k9s's own `Stream closed EOF …` line after the exception line
    still reads as its message's: a known miss)."""
    from tests.realworld.test_layouts_corpus import load_layouts

    (ex,) = [e for e in load_layouts() if e.id == entry]
    assert _spans(ex.text) == [events] * 2
