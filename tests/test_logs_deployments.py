# ruff: noqa: E501  (the real lines are kept whole, as the users pasted them)
"""Record layouts and traceback shapes of real deployments' logs (held-out round 2, tests/realworld/README.md).

Each text is a real user's paste (its thread in the test's docstring), shortened to the lines the test needs;
`tests/realworld/layouts.yml` holds the whole excerpts.
"""

from __future__ import annotations

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.logs.lines import parse_line
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.test_logs_support import read

BLOCKS = (None, 7)


def _errors(text: str, block_size: int | None = None) -> list[RawEvent]:
    kw = {} if block_size is None else {"block_size": block_size}
    events, _ = read(text.encode(), **kw)
    return [e for e in events if e.kind == "error"]


def _label(raw: RawEvent) -> str:
    return EventClassifier(Classifier.default()).event(raw).label


# https://github.com/WikiWatershed/model-my-watershed/pull/3088
CELERY = """\
[2019-02-20 13:58:35,634: ERROR/MainProcess] Task a8dc7519-21e4-42db-b3aa-33ff69240367 run from job 73134 raised exception: Worker exited prematurely: signal 11 (SIGSEGV).
None
[2019-02-20 13:58:35,710: ERROR/MainProcess] Failed to save job error status. Job will appear hung.                      Job Id: 73134
[2019-02-20 13:58:35,710: ERROR/MainProcess] Pool callback raised exception: AttributeError("'IntegrityError' object has no attribute 'errno'",)
Traceback (most recent call last):
  File "/usr/local/lib/python2.7/dist-packages/billiard/pool.py", line 1747, in safe_apply_callback
    fun(*args, **kwargs)
  File "/usr/local/lib/python2.7/dist-packages/celery/canvas.py", line 178, in __call__
    return self.type(*args, **kwargs)
[2019-02-20 13:58:36,001: INFO/MainProcess] Received task: tasks.run[c5ad3e3d]
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_celery_worker_records(block_size: int | None) -> None:
    """Celery's `[TS: LEVEL/Process] message`: three ERROR records, the traceback belongs to the third."""
    got = _errors(CELERY, block_size)
    assert [(e.line, e.end_line, e.level) for e in got] == [(1, 2, "ERROR"), (3, 3, "ERROR"), (4, 9, "ERROR")]
    assert got[0].message.startswith("Task a8dc7519-21e4-42db-b3aa-33ff69240367 run from job 73134 raised")
    assert got[0].detail == "None"
    assert got[1].message.startswith("Failed to save job error status.")
    assert got[2].message.startswith("Pool callback raised exception: AttributeError(")
    assert got[2].traceback is not None and got[2].traceback.startswith("Traceback (most recent call last):")
    assert got[0].timestamp is not None and got[0].timestamp.isoformat() == "2019-02-20T13:58:35.634000+00:00"


def test_celery_warning_record_is_not_an_event() -> None:
    (ln,) = parse_line("[2023-04-05 13:17:06,012: WARNING/ForkPoolWorker-6]   File \"/x/prefork.py\", line 109")
    assert (ln.record, ln.level) == (True, "WARNING")
    assert _errors("[2023-04-05 13:17:06,012: WARNING/ForkPoolWorker-6] retrying in 5s\n") == []


# https://github.com/globocom/GloboNetworkAPI/issues/123 and https://github.com/dmm-com/pagoda/pull/464
LEVEL_FIRST = """\
[ERROR] 25/Sep/2017:16:17:34 +0000 - U:NoRequestUser, P:/favicon.ico, C:NoRequestContext, N:gunicorn.error:143 , T:K2FKCI4UQESMBIQ1ZFGOUA, MSG:Error handling request
Traceback (most recent call last):
  File "/root/virtualenvs/networkapi_env/lib/python2.7/site-packages/gunicorn/workers/sync.py", line 102, in handle_request
    respiter = self.wsgi(environ, resp.start_response)
  File "/root/virtualenvs/networkapi_env/lib/python2.7/site-packages/django/utils/importlib.py", line 35, in import_module
    __import__(name)
"""
LEVEL_FIRST_MULTILINE = """\
[ERROR] asctime:2022-03-29 12:28:34,521 module:celery   message:
Task Name: entity.tasks.create_entity
Task ID: 4664ba5a-a05e-43dc-a092-40d0fb61e603

raised exception:
DataError(1406, "Data too long for column 'name' at row 1")
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_level_first_in_brackets(block_size: int | None) -> None:
    """`[ERROR] anything`: a record; its traceback, or the lines of its message, follow."""
    (e,) = _errors(LEVEL_FIRST, block_size)
    assert (e.line, e.end_line, e.level) == (1, 6, "ERROR")
    assert e.message.startswith("25/Sep/2017:16:17:34 +0000 - U:NoRequestUser")
    assert e.traceback is not None and e.traceback.endswith("__import__(name)")
    (m,) = _errors(LEVEL_FIRST_MULTILINE, block_size)
    assert (m.line, m.end_line, m.level) == (1, 6, "ERROR")
    assert m.detail is not None and m.detail.endswith("""DataError(1406, "Data too long for column 'name' at row 1")""")
    assert _errors("[INFO] Starting gunicorn 19.3.0\n[WARNING] slow request\n") == []


# https://github.com/wger-project/docker/issues/154
LOGFMT = """\
web-1    | [2026-03-04 14:03:42 -0800] [27] [INFO] Booting worker with pid: 27
web-1    | level=ERROR ts=2026-03-04 14:03:46,952 module=log path=/home/wger/.local/lib/python3.12/site-packages/django/utils/log.py line=253 message=Internal Server Error: /
nginx-1  | 192.168.160.1 - - [04/Mar/2026:22:03:46 +0000] "GET / HTTP/1.1" 500 2889 "-" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/145.0.0.0 Safari/537.36" "-"
web-1    | level=ERROR ts=2026-03-04 14:03:47,011 module=log path=/home/wger/.local/lib/python3.12/site-packages/django/utils/log.py line=253 message=Internal Server Error: /
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_logfmt_records_behind_compose(block_size: int | None) -> None:
    got = _errors(LOGFMT, block_size)
    assert [(e.line, e.level, e.message, e.instance) for e in got] == [
        (2, "ERROR", "Internal Server Error: /", "web-1"), (4, "ERROR", "Internal Server Error: /", "web-1")]
    assert got[0].timestamp is not None and got[0].timestamp.isoformat() == "2026-03-04T14:03:46.952000+00:00"


def test_logfmt_quoted_message_and_lines_that_are_not_records() -> None:
    (ln,) = parse_line('time=2024-05-01T10:00:00Z level=error msg="db down: \\"x\\"" logger=app.db err=timeout')
    assert (ln.record, ln.level, ln.message, ln.logger, ln.ts) == (
        True, "ERROR", 'db down: "x": timeout', "app.db", "2024-05-01T10:00:00Z")  # (its error beside the message)
    for text in ("level=5 of 9 done", "time=12s elapsed", "sqlalchemy.exc.OperationalError: (x) y"):
        (ln,) = parse_line(text)
        assert not ln.record, text


# https://github.com/aquasecurity/kube-hunter/issues/465
def test_asctime_level_then_a_dotted_logger_without_colon() -> None:
    (ln,) = parse_line("2021-06-26 14:08:07,371 ERROR kube_hunter.modules.discovery.kubernetes_client "
                       "Failed to initiate Kubernetes client")
    assert (ln.level, ln.logger, ln.message) == (
        "ERROR", "kube_hunter.modules.discovery.kubernetes_client", "Failed to initiate Kubernetes client")
    (ln,) = parse_line("2026-11-27 14:00:00,500 ERROR app.worker: Request failed")
    assert (ln.logger, ln.message) == ("app.worker", "Request failed")
    (ln,) = parse_line("2026-11-27 14:00:00,500 ERROR Request failed for e.g. this")
    assert (ln.logger, ln.message) == (None, "Request failed for e.g. this")


# https://github.com/ameerbadri/twilio-taskrouter-realtime-dashboard/issues/3
HEROKU_DEDENTED = """\
Z:\\>heroku logs --tail --app twilioflexdash
2019-09-18T13:31:13.946164+00:00 app[web.1]: Arbiter(self).run()
2019-09-18T13:31:13.946166+00:00 app[web.1]: File "/app/.heroku/python/lib/python3.6/site-packages/gunicorn/arbiter.py", line 231, in run
2019-09-18T13:31:13.946353+00:00 app[web.1]: self.halt(reason=inst.reason, exit_status=inst.exit_status)
2019-09-18T13:31:13.948580+00:00 app[web.1]: File "/app/.heroku/python/lib/python3.6/site-packages/gunicorn/arbiter.py", line 524, in reap_workers
2019-09-18T13:31:13.948967+00:00 app[web.1]: raise HaltServer(reason, self.WORKER_BOOT_ERROR)
2019-09-18T13:31:13.948972+00:00 app[web.1]: gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>
2019-09-18T13:31:14.000000+00:00 app[api]: Build succeed
"""
# https://github.com/psycopg/psycopg2/issues/215 (in a record, as the corpus test's inline layout puts it)
DEDENTED_BLANKS = """\
2026-11-27 14:00:00,500 ERROR app.worker: Request failed: Traceback (most recent call last):

File "/opt/py3.2_dj1.6/lib/python3.2/site-packages/django/db/backends/util.py", line 53, in execute
return self.cursor.execute(sql, params)

psycopg2.OperationalError: terminating connection due to administrator command
SSL connection has been closed unexpectedly
2026-11-27 15:00:00,000 INFO app.main: done
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_frames_that_lost_their_indentation(block_size: int | None) -> None:
    """`File "…", line N, in f` at a line's start is a frame; the line after it its source, not the exception."""
    (e,) = _errors(HEROKU_DEDENTED, block_size)
    assert (e.line, e.end_line, e.instance) == (3, 7, "web.1")
    assert e.traceback is not None and e.traceback.splitlines()[-1] == \
        "gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>"
    assert e.message == "gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>"
    (d,) = _errors(DEDENTED_BLANKS, block_size)
    assert (d.line, d.end_line) == (1, 7)
    assert _label(d) == "PG_CONNECTION_FAILED"


# https://github.com/chatchat-space/Langchain-Chatchat/issues/3800
FASTCHAT = """\
2024-04-18 15:17:12 | INFO | stdout | INFO:     127.0.0.1:37822 - "POST /worker_generate_stream HTTP/1.1" 200 OK
2024-04-18 15:17:12 | INFO | httpx | HTTP Request: POST http://127.0.0.1:20002/worker_generate_stream "HTTP/1.1 200 OK"
2024-04-18 15:17:12 | ERROR | stderr | ERROR:    Exception in ASGI application
2024-04-18 15:17:12 | ERROR | stderr | Traceback (most recent call last):
2024-04-18 15:17:12 | ERROR | stderr |   File "/usr/lib/python3.10/site-packages/uvicorn/protocols/http/h11_impl.py", line 408, in run_asgi
2024-04-18 15:17:12 | ERROR | stderr |     result = await app(  # type: ignore[func-returns-value]
2024-04-18 15:17:12 | ERROR | stderr | ValueError: boom
2024-04-18 15:17:13 | INFO | controller | names: ['http://127.0.0.1:20002']
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_redirected_stderr_logged_a_line_a_record(block_size: int | None) -> None:
    """FastChat's `TS | LEVEL | name | message` logs every stderr line as an ERROR record: the lines of one
    traceback are one event; the third column is the logger."""
    (e,) = _errors(FASTCHAT, block_size)
    assert (e.line, e.end_line, e.level, e.message) == (3, 7, "ERROR", "Exception in ASGI application")
    assert e.traceback is not None and e.traceback.splitlines()[-1] == "ValueError: boom"
    (ln,) = parse_line(FASTCHAT.splitlines()[1])
    assert (ln.logger, ln.message) == ("httpx", 'HTTP Request: POST http://127.0.0.1:20002/worker_generate_stream '
                                                '"HTTP/1.1 200 OK"')


# https://github.com/SamR1/docker-fittrackee/issues/18
PORTAINER = """\
Traceback (most recent call last):,
  File "/usr/src/app/.venv/lib/python3.9/site-packages/gunicorn/arbiter.py", line 525, in reap_workers,
    raise HaltServer(reason, self.WORKER_BOOT_ERROR),
gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>,
,
During handling of the above exception, another exception occurred:,
,
Traceback (most recent call last):,
  File "/usr/src/app/.venv/lib/python3.9/site-packages/gunicorn/arbiter.py", line 642, in kill_worker,
    os.kill(pid, sig),
ProcessLookupError: [Errno 3] No such process,
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_comma_after_every_line_keeps_the_chain_whole(block_size: int | None) -> None:
    (e,) = _errors(PORTAINER, block_size)
    assert (e.line, e.end_line) == (1, 11)


# https://github.com/realpython/flask-boilerplate/issues/14 (`heroku logs` in an 80-column Windows console)
HEROKU_WRAPPED = """\
2021-01-11T15:02:54.217181+00:00 app[web.1]: [2021-01-11 15:02:54 +0000] [10] [I
NFO] Booting worker with pid: 10
2021-01-11T15:02:54.234018+00:00 app[web.1]: [2021-01-11 15:02:54 +0000] [10] [E
RROR] Exception in worker process
2021-01-11T15:02:54.234035+00:00 app[web.1]: Traceback (most recent call last):
2021-01-11T15:02:54.234040+00:00 app[web.1]: File "/app/.heroku/python/lib/pytho
n3.6/site-packages/gunicorn/arbiter.py", line 583, in spawn_worker
2021-01-11T15:02:54.234045+00:00 app[web.1]: worker.init_process()
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_an_error_record_wrapped_by_the_terminal_before_its_traceback(block_size: int | None) -> None:
    (e,) = _errors(HEROKU_WRAPPED, block_size)
    assert (e.line, e.level, e.message, e.instance) == (3, "ERROR", "Exception in worker process", "web.1")
    assert e.traceback is not None and e.traceback.startswith("Traceback (most recent call last):")
    # an INFO record wrapped the same way stays no event; a wrapped line alone is no record
    assert _errors(HEROKU_WRAPPED.replace("[E\nRROR]", "[I\nNFO]")) != []  # the traceback is still a crash
    (crash,) = _errors(HEROKU_WRAPPED.replace("[E\nRROR]", "[I\nNFO]"))
    assert (crash.line, crash.level) == (5, None)


@pytest.mark.parametrize("block_size", BLOCKS)
def test_render_failure_sentences_without_the_deploy_log_marker(block_size: int | None) -> None:
    """Render's dashboard event and notification e-mail say it without `==> ` (FlowiseAI/Flowise#1932,
    documenso/documenso#931); in Render's text export or alone, each is a platform failure line. The same words
    inside prose, and Render's progress and live notices, are not events (held-out round 6)."""
    text = ("Server unhealthy. Ran out of memory (used over 2GB) while running your code.\n"
            "2026-12-06T10:00:00Z Exited with status 1 while building your code. Check your deploy logs for more information.\n"
            "Port scan timeout reached, no open ports detected. Bind your service to at least one port.\n"
            "the deploy said Exited with status 1 while running your code\n"
            "Your service is live 🎉\n"
            "==> No open ports detected, continuing to scan...\n")
    events, _ = read(text.encode(), **({} if block_size is None else {"block_size": block_size}))
    platform = [e for e in events if e.kind == "platform"]
    assert [e.line for e in platform] == [1, 2, 3]
    assert [e.kind for e in events if e.kind in ("error", "platform")] == ["platform"] * 3
    assert [_label(e) for e in platform] == ["RENDER_OUT_OF_MEMORY", "RENDER_DEPLOY_FAILED", "RENDER_HEALTHCHECK_TIMEOUT"]
