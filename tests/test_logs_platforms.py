# ruff: noqa: E501  (the real lines are kept whole, as the users pasted them)
"""Log layouts of hosting platforms and process managers (held-out round 9, tests/realworld/README.md): journald
in the locale's language, Fly.io's `fly logs`, Azure App Service's platform log, supervisord's own log, pm2's
prefix, Docker's json-file lines, Google Cloud Logging entries, a JSON record with its traceback in its message.

Each text is a real user's paste (its thread above it), shortened to the lines a test needs;
`tests/realworld/layouts.yml` holds the whole excerpts. Every text is read whole and in 7-byte blocks.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from mosaic_diag.logs.lines import parse_line
from tests.test_logs_support import BLOCKS, error_events, read

_errors = error_events


# https://github.com/systemd-cron/systemd-cron/issues/58 (journalctl under a German locale)
JOURNAL_DE = """\
Dez 28 06:43:00 XXX systemd[1]: Starting systemd-cron OnFailure for cron-XXX-root-5...
Dez 28 06:43:00 XXX mail_on_failure[9777]: Traceback (most recent call last):
Dez 28 06:43:00 XXX mail_on_failure[9777]:   File "/lib/systemd-cron/mail_on_failure", line 50, in <module>
Dez 28 06:43:00 XXX mail_on_failure[9777]:     systemctl = subprocess.check_output(['systemctl','status',job], universal_newlines=True)
Dez 28 06:43:00 XXX mail_on_failure[9777]:   File "/usr/lib/python3.5/subprocess.py", line 385, in run
Dez 28 06:43:00 XXX mail_on_failure[9777]:     stdout, stderr = process.communicate(input, timeout=timeout)
Dez 28 06:43:00 XXX systemd[1]: cron-failure@cron-XXX-root-5.service: Main process exited, code=exited, status=1/FAILURE
Dez 28 06:43:00 XXX systemd[1]: Failed to start systemd-cron OnFailure for cron-XXX-root-5.
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_journal_month_in_the_locale_s_language(block_size: int | None) -> None:
    """`journalctl` names the month as the locale does (`Dez`): the prefix is peeled, the traceback is its process's
    stream, systemd's own lines are not in it."""
    (e,) = _errors(JOURNAL_DE, block_size)
    assert (e.line, e.end_line, e.instance) == (2, 6, "mail_on_failure[9777]")
    assert e.traceback is not None and e.traceback.startswith(
        'Traceback (most recent call last):\n  File "/lib/systemd-cron/mail_on_failure", line 50, in <module>\n')
    assert "systemd[1]" not in e.traceback and "Main process exited" not in e.traceback
    (ln,) = parse_line("déc. 28 06:43:00 host app[12]: ERROR:root:boom")
    assert (ln.stream, ln.level, ln.message) == ("app[12]", "ERROR", "boom")
    (prose,) = parse_line("Note 12 10:00:00 is when the job ran")
    assert (prose.shape, prose.record) == ("", False)


# https://github.com/ClusterHQ/flocker/pull/1420 (Twisted's log through eliot, in the journal; the paste is cut)
TWISTED_JSON = """\
May 18 11:36:43 node1 flocker-dataset-agent[2012]: {"task_uuid": "0e08892a-7221-4396-b6e0-5505061814d4", "error": false, "timestamp": 1431974203.083844, "message": "Main loop terminated.", "message_type": "twisted:log", "task_level": [4]}
May 18 11:36:43 node1 flocker-dataset-agent[2012]: {"task_uuid": "0e08892a-7221-4396-b6e0-5505061814d4", "error": true, "timestamp": 1431974203.083727, "message": "main function encountered error\\nTraceback (most recent call last):\\n  File \\"/opt/flocker/lib/python2.7/site-packages/flocker/node/script.py\\", line 275,
...
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_json_record_with_its_traceback_in_its_message(block_size: int | None) -> None:
    """No traceback key, no level: the traceback written into the message is the record's, an error event (also when
    the line is cut off); the record's message is the first line."""
    (e,) = _errors(TWISTED_JSON, block_size)
    assert (e.line, e.end_line, e.level, e.message) == (2, 2, None, "main function encountered error")
    assert e.traceback is not None and e.traceback.startswith("Traceback (most recent call last):\n  File \"/opt/flocker/")
    whole = {"message": "main function encountered error\nTraceback (most recent call last):\n  File \"x.py\", line 1, in f\nKeyError: 'k'\n"}
    (w,) = _errors(json.dumps(whole) + "\n", block_size)
    assert w.traceback is not None and w.traceback.endswith("KeyError: 'k'")
    assert _errors(json.dumps({**whole, "level": "info"}) + "\n", block_size) == []
    assert _errors(json.dumps({"message": "see Traceback (most recent call last): in the docs"}) + "\n") == []


# https://github.com/zauberzeug/fly_fastapi_socketio (README: the app's `fly logs`)
FLY = """\
2023-07-30T07:13:11Z app[6e82932a759e18] fra [info]ERROR:    Exception in ASGI application
2023-07-30T07:13:11Z app[6e82932a759e18] fra [info]Traceback (most recent call last):
2023-07-30T07:13:11Z app[6e82932a759e18] fra [info]  File "/usr/local/lib/python3.11/site-packages/uvicorn/protocols/websockets/websockets_impl.py", line 247, in run_asgi
2023-07-30T07:13:11Z app[6e82932a759e18] fra [info]    result = await self.app(self.scope, self.asgi_receive, self.asgi_send)
2023-07-30T07:13:11Z app[6e82932a759e18] fra [info]             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
2023-07-30T07:13:11Z app[6e82932a759e18] fra [info]  File "/usr/local/lib/python3.11/site-packages/uvicorn/protocols/websockets/websockets_impl.py", line 310, in asgi_send
2023-07-30T07:13:11Z app[6e82932a759e18] fra [info]    raise RuntimeError(msg % message_type)
2023-07-30T07:13:11Z app[6e82932a759e18] fra [info]RuntimeError: Expected ASGI message 'websocket.accept' or 'websocket.close', but got 'http.response.start'.
2023-07-30T07:13:11Z app[6e82932a759e18] fra [info]INFO:     connection open
"""
# https://github.com/remix-run/indie-stack/issues/200 and https://github.com/dwyl/phoenix-liveview-todo-list-tutorial/issues/66
# (newer flyctl: the timestamp without its zone, a space after the level)
FLY_PLATFORM = """\
2023-03-13T17:20:22.736 app[ff091a8a] gdl [info] npm WARN exec The following package was not found and will be installed: prisma@4.11.0

2023-03-13T17:20:26.836 health[ff091a8a] gdl [error] Health check on port 8080 has failed. Your app is not responding properly. Services exposed on ports [80, 443] will have intermittent failures until the health check passes.

2023-11-15T03:55:24.067 app[683d92dce34dd8] lhr [info] WARN hallpass exited, pid: 306, status: signal: 15 (SIGTERM)

2023-11-15T03:55:25.830 runner[683d92dce34dd8] lhr [info] machine has reached its max restart count (10)
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_fly_logs(block_size: int | None) -> None:
    """`TIMESTAMP app[MACHINE] REGION [level]line`: the app's line is read as its own (uvicorn's record, a traceback
    keeping its indent), one stream per machine; Fly's [info] says nothing, its [error] is the line's level."""
    (e,) = _errors(FLY, block_size)
    assert (e.line, e.end_line, e.level, e.message, e.instance) == (1, 8, "ERROR", "Exception in ASGI application", "6e82932a759e18")
    assert e.traceback is not None and e.traceback.startswith("Traceback (most recent call last):\n  File \"/usr/local/lib/python3.11/")
    assert e.traceback.endswith("but got 'http.response.start'.")
    assert e.timestamp is not None and e.timestamp.isoformat() == "2023-07-30T07:13:11+00:00"
    (h,) = _errors(FLY_PLATFORM, block_size)
    assert (h.line, h.level, h.instance) == (3, "ERROR", "health/ff091a8a")
    assert h.message.startswith("Health check on port 8080 has failed.")
    (init,) = parse_line("2023-11-15T03:55:24.063 app[683d92dce34dd8] lhr [info] INFO Main child exited normally with code: 1")
    assert (init.stream, init.level, init.text) == ("683d92dce34dd8", None, "INFO Main child exited normally with code: 1")
    assert init.ts == "2023-11-15T03:55:24.063"
    # https://github.com/bitjerry/Microsoft-365-bot/issues/1 (older flyctl: a zoned timestamp, no space after the level)
    (runner,) = parse_line("2022-09-06T11:20:43Z runner[f7d972e9] nrt [info]Configuring virtual machine")
    assert (runner.stream, runner.level, runner.text) == ("runner/f7d972e9", None, "Configuring virtual machine")
    proxy = "2022-09-06T11:20:50Z proxy[f7d972e9] nrt [error]could not make HTTP request to instance: connection error: timed out\n"
    (p,) = _errors(proxy, block_size)
    assert (p.level, p.instance, p.message) == ("ERROR", "proxy/f7d972e9", "could not make HTTP request to instance: connection error: timed out")


# https://github.com/Azure-Samples/azure-search-openai-demo/issues/963 (App Service's platform log, blank lines between)
AZURE = """\
2023-11-16T11:17:33.812Z INFO - Initiating warmup request to container app-backend-sbha6da264jow_0_0d51af4d for site app-backend-sbha6da264jow

2023-11-16T11:17:54.469Z ERROR - Container app-backend-sbha6da264jow_0_0d51af4d for site app-backend-sbha6da264jow has exited, failing site start

2023-11-16T11:17:57.123Z ERROR - Container app-backend-sbha6da264jow_0_0d51af4d didn't respond to HTTP pings on port: 8000, failing site star
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_level_then_a_dash_before_the_message(block_size: int | None) -> None:
    """`%(asctime)s %(levelname)s - %(message)s` (Azure App Service's platform log): the dash is no part of the message."""
    got = _errors(AZURE, block_size)
    assert [(e.line, e.level, e.message[:48]) for e in got] == [
        (3, "ERROR", "Container app-backend-sbha6da264jow_0_0d51af4d f"),
        (5, "ERROR", "Container app-backend-sbha6da264jow_0_0d51af4d d")]


# https://github.com/Supervisor/supervisor/issues/578
SUPERVISORD = """\
2015-02-13 01:32:25,470 CRIT Supervisor running as root (no user in config file)
2015-02-13 01:32:25,471 INFO RPC interface 'supervisor' initialized
2015-02-13 01:32:25,471 CRIT Server 'unix_http_server' running without any HTTP authentication checking
2015-02-13 01:32:26,564 INFO exited: shadowsocks (exit status 1; not expected)
2015-02-13 01:32:33,846 INFO gave up: shadowsocks entered FATAL state, too many start retries too quickly
"""
SPAWNED = "2015-02-13 01:32:26,473 INFO spawned: 'shadowsocks' with pid 9378\n"


@pytest.mark.parametrize("block_size", BLOCKS)
def test_supervisord_four_letter_levels(block_size: int | None) -> None:
    """supervisord's CRIT / ERRO are its critical and error levels: records, found by the block scan once its log is
    seen (a CRIT line among a long run of its INFO lines, no other candidate in the block); DEBG is debug."""
    got = _errors(SUPERVISORD, block_size)
    assert [(e.line, e.level, e.message[:26]) for e in got] == [
        (1, "CRITICAL", "Supervisor running as root"), (3, "CRITICAL", "Server 'unix_http_server' ")]
    long = SPAWNED * 3000 + "2015-02-13 01:32:27,001 ERRO pool listener event buffer overflowed\n" + SPAWNED * 3000
    (e,) = _errors(long, block_size if block_size is None else 1 << 14)
    assert (e.line, e.level, e.message) == (3001, "ERROR", "pool listener event buffer overflowed")
    (ln,) = parse_line("2012-03-08 12:06:36,177 DEBG received SIGCLD indicating a child quit")
    assert (ln.record, ln.level) == (True, "DEBUG")


# https://github.com/Unitech/pm2/issues/4817 (`pm2 logs`, a blank line after every line)
PM2 = """\
--- Logging error ---
0|tc-c  | Traceback (most recent call last):

0|tc-c  |   File "C:\\Users\\p1875\\AppData\\Local\\Programs\\Python\\Python39\\lib\\logging\\__init__.py", line 1086, in emit

0|tc-c  |     stream.write(msg + self.terminator)

0|tc-c  | ValueError: underlying buffer has been detached
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_pm2_prefix(block_size: int | None) -> None:
    """pm2's `ID|NAME  | ` prefix is peeled like Docker Compose's: one stream per process, so the blank lines between
    (no prefix) do not cut its traceback."""
    (e,) = _errors(PM2, block_size)
    assert (e.line, e.end_line, e.instance, e.message) == (2, 8, "0|tc-c", "ValueError: underlying buffer has been detached")
    assert e.traceback == ("Traceback (most recent call last):\n"
                           '  File "C:\\Users\\p1875\\AppData\\Local\\Programs\\Python\\Python39\\lib\\logging\\__init__.py", line 1086, in emit\n'
                           "    stream.write(msg + self.terminator)\n"
                           "ValueError: underlying buffer has been detached")


# https://github.com/moby/moby/issues/16386 and https://github.com/docker-library/docker/issues/224
DOCKER_JSON = """\
{"log":"Error\\n","stream":"stderr","time":"2015-09-18T04:27:28.135894927Z"}
{"log":"All Good\\n","stream":"stdout","time":"2015-09-18T04:27:28.136186603Z"}
{"log":"time=\\"2020-04-10T14:04:50.847895963Z\\" level=info msg=\\"stopping event stream following graceful shutdown\\" error=\\"context canceled\\" module=libcontainerd namespace=moby\\n","stream":"stderr","time":"2020-04-10T14:04:50.849264619Z"}
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_docker_json_file_lines(block_size: int | None) -> None:
    """Docker's json-file driver: each entry's `log` is a line the container wrote, read as such (dockerd's logfmt
    record at info; a traceback over several entries of stderr), stamped with the entry's time."""
    events, stats = read(DOCKER_JSON.encode(), **({} if block_size is None else {"block_size": block_size}))
    assert [e for e in events if e.kind == "error"] == []
    assert stats.corrupt == 0 and stats.levels["INFO"] >= 1
    tb = ["ERROR:    Exception in ASGI application", "Traceback (most recent call last):",
          '  File "/var/task/vc__handler__python.py", line 67, in vc_handler', "    res = conn.getresponse()",
          "http.client.RemoteDisconnected: Remote end closed connection without response"]
    lines = [json.dumps({"log": t + "\n", "stream": "stderr", "time": f"2024-06-20T10:00:0{i}.5Z"}) for i, t in enumerate(tb)]
    lines.insert(2, json.dumps({"log": "print from the handler\n", "stream": "stdout", "time": "2024-06-20T10:00:01.7Z"}))
    (e,) = _errors("\n".join(lines) + "\n", block_size)
    assert (e.line, e.end_line, e.level, e.message, e.instance) == (1, 6, "ERROR", "Exception in ASGI application", "stderr")
    assert e.traceback is not None and e.traceback.endswith("RemoteDisconnected: Remote end closed connection without response")
    assert e.timestamp is not None and e.timestamp.isoformat() == "2024-06-20T10:00:00.500000+00:00"


# https://github.com/1Password/scim-examples/issues/309 (a Cloud Logging entry copied from the Logs Explorer)
CLOUD_LOGGING = """\
{
  "textPayload": "Default STARTUP TCP probe failed 1 time consecutively for container \\"scim\\" on port 3002. The instance was not started.",
  "insertId": "66546baa000ef654df0930ba",
  "resource": {
    "type": "cloud_run_revision",
    "labels": {
      "service_name": "op-scim-bridge"
    }
  },
  "timestamp": "2024-05-27T11:16:58.980564Z",
  "severity": "ERROR",
  "logName": "projects/one-password-bridge-400219/logs/run.googleapis.com%2Fvarlog%2Fsystem"
}
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_cloud_logging_entry_text_payload(block_size: int | None) -> None:
    """Google Cloud Logging's LogEntry: `severity` its level, `textPayload` its message."""
    (e,) = _errors(CLOUD_LOGGING, block_size)
    assert (e.line, e.end_line, e.level) == (1, 13, "ERROR")
    assert e.message.startswith('Default STARTUP TCP probe failed 1 time consecutively for container "scim"')
    assert _errors(CLOUD_LOGGING.replace('"ERROR"', '"INFO"'), block_size) == []


# -- the kernel's OOM killer, and the layouts probed for (after round 9) ------------------------------------------
def _oom_kill_texts() -> list[tuple[str, str]]:
    from tests.realworld.corpus import load_corpus

    return [(e.id, e.text) for e in load_corpus()
            if e.expected == "RENDER_OUT_OF_MEMORY" and "ut of memory: Kill" in e.text]


@pytest.mark.parametrize(("entry", "text"), _oom_kill_texts())
def test_the_kernel_s_oom_kill_line_is_an_event_of_its_own(entry: str, text: str) -> None:
    """dmesg (uptime or `-T` time first), journald's `kernel: `, Fly's `[info]` line, a bare notice: the line
    that says the kernel killed the app for memory is a platform failure event, labelled by the classifier."""
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.triage.events import EventClassifier

    events, _ = read(text.encode())
    kills = [e for e in events if e.kind == "platform" and "Out of memory: Kill" in e.message]
    assert len(kills) == text.count("Out of memory: Kill"), (entry, events)
    assert {EventClassifier(Classifier.default()).event(k).label for k in kills} == {"RENDER_OUT_OF_MEMORY"}


def test_a_platform_sentence_in_the_middle_of_a_log_is_found() -> None:
    """Render's failure sentences without `==> `, logfmt's lower-case levels and supervisord's levels are looked
    for only where a probe saw them: in the first megabyte of a log, so a log up to 1 MB (here 225 KB of
    other lines around each) misses none of them."""
    filler = "".join(f"2026-11-27 14:03:{i % 60:02d},000 INFO api.app request {i} ok\n" for i in range(5000))
    middle = ("Exited with status 1 while running your code.\n"
              'time=2026-11-27T14:04:01Z level=error msg="worker lost its queue"\n')
    events, _ = read((filler + middle + filler).encode())
    assert [(e.line, e.kind) for e in events] == [(5001, "platform"), (5002, "error")]
    assert events[1].message == "worker lost its queue"


# the kernel's OOM killer in a container's memory cgroup: dmesg (https://github.com/reportportal/kubernetes/issues/203),
# journald with dmesg's uptime (https://github.com/docker/for-linux/issues/1001), an older kernel's "Kill process …
# or sacrifice child" under `dmesg -T` (https://github.com/DFO-Ocean-Navigator/Ocean-Data-Map-Project/issues/771)
CGROUP_OOM = [
    """\
[ 7063.247407] Memory cgroup out of memory: Killed process 63214 (uwsgi) total-vm:3149468kB, anon-rss:164992kB, file-rss:52176kB, shmem-rss:92kB, UID:0 pgtables:1372kB oom_score_adj:986
[ 7063.263325] oom_reaper: reaped process 63214 (uwsgi), now anon-rss:0kB, file-rss:0kB, shmem-rss:92kB
[ 7093.543707] uwsgi invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=986
[ 7093.543711] CPU: 4 PID: 63635 Comm: uwsgi Not tainted 5.4.0-77-generic #86-Ubuntu
[ 7093.543712] Call Trace:
[ 7093.543721]  dump_stack+0x6d/0x8b
""",
    """\
May 15 23:09:27 ubuntu-s-1vcpu-2gb-ams3-01 kernel: [  514.682838] Memory cgroup out of memory: Killed process 15617 (python3) total-vm:11892kB, anon-rss:4292kB, file-rss:3428kB, shmem-rss:0kB
May 15 23:09:27 ubuntu-s-1vcpu-2gb-ams3-01 kernel: [  514.686093] oom_reaper: reaped process 15617 (python3), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB
May 15 23:09:27 ubuntu-s-1vcpu-2gb-ams3-01 kernel: [  514.686269] Memory cgroup out of memory: Killed process 15674 (python3) total-vm:11892kB, anon-rss:4292kB, file-rss:3424kB, shmem-rss:0kB
""",
    """\
[Wed Dec  2 05:51:21 2020] Memory cgroup out of memory: Kill process 12744 (gunicorn) score 107 or sacrifice child
[Wed Dec  2 05:51:58 2020] Memory cgroup out of memory: Kill process 16026 (gunicorn) score 109 or sacrifice child
""",
]


@pytest.mark.parametrize("text", CGROUP_OOM)
@pytest.mark.parametrize("block_size", BLOCKS)
def test_memory_cgroup_oom_kills(text: str, block_size: int | None) -> None:
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.triage.events import EventClassifier

    kw = {} if block_size is None else {"block_size": block_size}
    events, _ = read(text.encode(), **kw)
    kills = [i for i, line in enumerate(text.splitlines(), 1) if "ut of memory: Kill" in line]
    assert [(e.line, e.kind) for e in events] == [(i, "platform") for i in kills]
    assert {EventClassifier(Classifier.default()).event(e).label for e in events} == {"RENDER_OUT_OF_MEMORY"}


# https://github.com/DataBiosphere/azul/issues/6424: AWS Lambda's Python runtime record copied out of the console (a
# blank in front of it, its message wrapped by the user under the request id; its trailing blanks written `\x20`),
# then the traceback it logged
LAMBDA_WARNING_WRAPPED = """\
 [WARNING]\t2024-07-19T04:27:40.502Z\t4d83bc02-e260-5b94-8f7a-e3110f31cf5d
\tazul.indexer.index_controller\tWorker failed to handle message\x20
\t{'action': 'add', 'notification': {'transaction_id': '8b58869c-6707-45c5-92cf-fd9bb60d7b41',\x20
\t'entity_type': 'biosample'}}, 'catalog': 'anvil7'}.


Traceback (most recent call last):
  File "/var/task/azul/indexer/index_controller.py", line 180, in contribute
    contributions, replicas = self.transform(catalog, notification, delete)
                              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/var/task/azul/indexer/index_controller.py", line 232, in transform
    bundle = service.fetch_bundle(catalog, bundle_fqid)
"""


def test_lambda_record_with_a_blank_before_it_is_a_record() -> None:
    (ln,) = parse_line(LAMBDA_WARNING_WRAPPED.splitlines()[0])
    assert (ln.record, ln.level, ln.ts, ln.message) == (True, "WARNING", "2024-07-19T04:27:40.502Z", "")


@pytest.mark.parametrize("block_size", BLOCKS)
def test_lambda_warning_record_keeps_its_wrapped_lines_and_traceback(block_size: int) -> None:
    # logger.warning(…, exc_info=True): the traceback after the record's wrapped lines and blanks is the record's
    assert _errors(LAMBDA_WARNING_WRAPPED, block_size) == []


@pytest.mark.parametrize("block_size", BLOCKS)
def test_lambda_error_record_takes_its_wrapped_lines_and_traceback(block_size: int) -> None:
    text = LAMBDA_WARNING_WRAPPED.replace("[WARNING]", "[ERROR]")
    (ev,) = _errors(text, block_size)
    assert (ev.line, ev.end_line, ev.level) == (1, 12, "ERROR")
    assert "fetch_bundle" in ev.traceback


@pytest.mark.parametrize("block_size", BLOCKS)
def test_traceback_after_an_info_record_and_indented_lines_is_an_event(block_size: int) -> None:
    # only a WARNING record takes the traceback that follows its lines: after INFO it is a crash of its own
    text = LAMBDA_WARNING_WRAPPED.replace("[WARNING]", "[INFO]")
    (ev,) = _errors(text, block_size)
    assert ev.line == 7 and ev.level is None


# https://github.com/pandora-next/deploy/issues/156: a Render build log copied out of the dashboard
RENDER_DASHBOARD_BUILD = """\
Nov 26 10:43:07 PM  ERROR: Could not open requirements file: [Errno 2] No such file or directory: 'requirements.txt'
Nov 26 10:43:07 PM  WARNING: You are using pip version 20.1.1; however, version 23.3.1 is available.
Nov 26 10:43:07 PM  You should consider upgrading via the '/opt/render/project/src/.venv/bin/python -m pip install --upgrade pip' command.
Nov 26 10:43:07 PM  ==> Build failed 😞
"""


def _render_dashboard(text: str, stamp: str = "Dec 9 03:03:10 PM") -> str:
    """`text` as Render's dashboard shows it when copied: its time (month, day, 12-hour time) and two blanks."""
    return "".join(f"{stamp}  {line}\n" for line in text.splitlines())


@pytest.mark.parametrize("block_size", BLOCKS)
def test_render_dashboard_copy_is_read_behind_its_time_column(block_size: int | None) -> None:
    """The dashboard's `Nov 26 10:43:07 PM  ` before each line is peeled: pip's `ERROR:` line is an error record, the
    deploy log's `==> Build failed` Render's failure line, and a real traceback behind the column one event with its
    exception line (labelled as without the column); prose that starts with a month is no such line."""
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.triage.events import EventClassifier

    kw = {} if block_size is None else {"block_size": block_size}
    events, _ = read(RENDER_DASHBOARD_BUILD.encode(), **kw)
    assert [(e.kind, e.line, e.level) for e in events] == [("error", 1, "ERROR"), ("platform", 4, None)]
    assert events[0].message.startswith("Could not open requirements file")
    classify = EventClassifier(Classifier.default())
    assert classify.event(events[1]).label == "RENDER_DEPLOY_FAILED"

    try:
        __import__("no_such_module_for_render_dashboard")
    except ModuleNotFoundError:
        import traceback

        tb = traceback.format_exc()
    text = _render_dashboard("==> Running 'python app.py'\n" + tb + "==> Exited with status 1 while running your code")
    events, _ = read(text.encode(), **kw)
    n = len(text.splitlines())
    assert [(e.kind, e.line, e.end_line) for e in events] == [("error", 2, n - 1), ("platform", n, n)]
    assert events[0].traceback == tb.rstrip("\n")
    bare, _ = read(tb.encode())
    assert classify.event(events[0]).label == classify.event(bare[0]).label
    assert classify.event(events[1]).label == "RENDER_DEPLOY_FAILED"
    (prose,) = parse_line("Nov 26 10:43:07 PM is when the deploy ran")
    assert (prose.shape, prose.record) == ("", False)


def _apache(text: str, head: str = "[Mon Jun 29 06:14:08.188280 2020] [wsgi:error] [pid 7:tid 11] [remote 10.0.0.1:5]",
            tail: str = "") -> str:
    """`text` as Apache's error log holds what mod_wsgi writes: each line behind the time, module and level, process and
    client columns (`tail`: what Apache appends to each, a request's `, referer: URL`)."""
    return "".join(f"{head} {line}{tail}\n" for line in text.splitlines())


def _json_traceback() -> str:
    try:
        json.loads("{'a': 1}")
    except json.JSONDecodeError:
        import traceback

        return traceback.format_exc()
    raise AssertionError("no error")


@pytest.mark.parametrize("block_size", BLOCKS)
@pytest.mark.parametrize("head", [
    "[Mon Jun 29 06:14:08.188280 2020] [wsgi:error] [pid 7:tid 11] [remote 10.0.0.1:5]",  # 2.4, daemon mode
    "[Tue Oct 03 08:10:17.241809 2017] [:error] [pid 7] [client 10.0.0.1:5]",  # an older mod_wsgi: no module name
    "[Mon Jun 12 00:42:36 2017] [error] [client 10.0.0.1]",  # Apache 2.2
])
@pytest.mark.parametrize("tail", ["", ", referer: https://app.example.com/"])
def test_apache_error_log_mod_wsgi_traceback_is_its_record_s(head: str, tail: str, block_size: int | None) -> None:
    """Apache's error log is a layout of records: mod_wsgi's `Exception occurred processing WSGI script …` line starts
    the event of the real traceback under it (its lines the app's stderr, one line of the log each), and the next
    request's mod_wsgi line right after the exception line is an event of its own, not more of the exception's message;
    Apache's own notices are no events. Labelled as the traceback without the log's columns."""
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.triage.events import EventClassifier

    kw = {} if block_size is None else {"block_size": block_size}
    tb = _json_traceback()
    intro = "mod_wsgi (pid=7): Exception occurred processing WSGI script '/srv/app/wsgi.py'."
    nxt = head.replace(":tid 11", ":tid 12").replace("10.0.0.1", "10.0.0.2")
    text = (_apache(intro + "\n" + tb, head, tail)
            + f"{nxt} mod_wsgi (pid=7): Target WSGI script '/srv/app/wsgi.py' cannot be loaded as Python module.{tail}\n"
            + "[Mon Jun 29 06:14:09.000001 2020] [core:notice] [pid 6] AH00094: Command line: '/usr/sbin/apache2'\n")
    n = len(tb.splitlines()) + 1
    events, _ = read(text.encode(), **kw)
    assert [(e.kind, e.line, e.end_line, e.level) for e in events] == [("error", 1, n, "ERROR"),
                                                                       ("error", n + 1, n + 1, "ERROR")]
    assert events[0].message == intro
    assert events[0].traceback == tb.rstrip("\n")
    assert events[1].message.startswith("mod_wsgi (pid=7): Target WSGI script")
    stamp = re.sub(r"\.\d+", "", head[1:head.index("]")])  # (the log's time, without its fraction)
    when = datetime.strptime(stamp, "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    assert events[0].timestamp is not None and events[0].timestamp.replace(microsecond=0) == when
    classify = EventClassifier(Classifier.default())
    bare, _ = read(tb.encode())
    assert classify.event(events[0]).label == classify.event(bare[0]).label

    # a paste that starts at a frame (its header cut off): one event from that frame, its exception line its message
    cut = _apache("\n".join(tb.splitlines()[1:]), head, tail)
    (event,) = read(cut.encode(), **kw)[0]
    assert (event.line, event.end_line) == (1, n - 2)
    assert event.message == tb.splitlines()[-1]


@pytest.mark.parametrize("block_size", BLOCKS)
def test_heroku_frame_lines_a_terminal_broke_are_joined_across_the_prefix(block_size: int | None) -> None:
    """Heroku's CLI at 80 columns broke each `app[web.1]: File "…` line inside the file's name, its rest on a line with
    no prefix (https://github.com/realpython/flask-boilerplate/issues/14, `layouts.yml`): the rest is joined to the one
    dyno's open frame, so the frames are read; with two dynos' frames open at once, the rest is joined to neither."""
    from mosaic_diag.classifier.tracebacks import parse_traceback_text
    from tests.realworld.test_layouts_corpus import load_layouts

    (ex,) = [e for e in load_layouts() if e.id == "heroku-terminal-wrapped-gunicorn-boot"]
    (event,) = error_events(ex.text, block_size)
    assert (event.line, event.level) == (14, "ERROR")
    assert (event.traceback or "").split("\n")[1::2] == [
        'File "/app/.heroku/python/lib/python3.6/site-packages/gunicorn/arbiter.py", line 583, in spawn_worker',
        'File "/app/.heroku/python/lib/python3.6/site-packages/gunicorn/workers/base.py", line 119, in init_process']
    (exc,) = parse_traceback_text(event.traceback or "")
    assert exc.frames[0].file.endswith("/gunicorn/arbiter.py") and exc.frames[0].function == "spawn_worker"

    lines = ex.text.splitlines()
    at = next(k for k, t in enumerate(lines) if t.endswith('File "/app/.heroku/python/lib/pytho'))
    web2 = [lines[at - 1].replace("web.1", "web.2"), lines[at].replace("web.1", "web.2")]  # (its header, its frame)
    both = [*lines[:at], web2[0], lines[at], web2[1], *lines[at + 1:]]
    events = error_events("\n".join(both), block_size)
    tb = next(e for e in events if e.line == 14).traceback or ""
    assert "pytho\n" in tb and "/gunicorn/arbiter.py" not in tb.split("\n")[1]
