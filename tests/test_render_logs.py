"""`triage --render`: Render's log API read page by page from a loopback stand-in that answers like it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from examples.loopback import SERVE
from examples.render_logs_standin import RenderLogsStandIn
from mosaic_diag.errors import ConfigError, UnreachableError
from mosaic_diag.platform.render_logs import EntryStream, RenderLogs
from mosaic_diag.platform.render_settings import RenderSettings
from tests.cli_inproc import run_cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "logs" / "uvicorn.log"
T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
KEY = "rnd_Zq8sTandInSecretKey000"


@pytest.fixture
def render_api() -> Iterator[RenderLogsStandIn]:
    api = RenderLogsStandIn(key=KEY, page_size=37).start()
    try:
        yield api
    finally:
        api.stop()


def settings(api: RenderLogsStandIn, **kw: str) -> RenderSettings:
    return RenderSettings(api_url=api.base_url, service_id=kw.get("service", "srv-mosaic"),
                          owner_id="tea-owner", api_key=kw.get("key", KEY))


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MOSAIC_DIAG_", "RENDER_"))}
    full.update(env)
    return run_cli(args, cwd=cwd, env=full, replace_env=True)  # (in this process: tests/cli_inproc.py)


def test_pages_are_read_in_order_without_loss(render_api: RenderLogsStandIn) -> None:
    lines = [f"INFO:api:line {i}" for i in range(200)]
    render_api.add_log_lines("srv-mosaic", "srv-mosaic-a", lines, start=T0)
    render_api.add_log_lines("srv-other", "srv-other-a", ["INFO:x:not ours"] * 5, start=T0)
    logs = RenderLogs(settings(render_api), T0, T0 + timedelta(hours=1))
    got = [e["message"] for e in logs.entries()]
    assert got == lines
    assert logs.pages == 6  # 200 entries, 37 a page
    first = render_api.requests[0].params
    assert first["resource"] == "srv-mosaic" and first["ownerId"] == "tea-owner"
    assert first["direction"] == "forward" and first["startTime"] == "2026-11-27T14:00:00.000Z"
    # each next page asks for the window the previous answer named
    assert [r.params["startTime"] for r in render_api.requests[1:3]] == [
        "2026-11-27T14:00:00.370Z", "2026-11-27T14:00:00.740Z"]


def test_entries_sharing_a_time_across_a_page_edge_are_not_repeated(render_api: RenderLogsStandIn) -> None:
    for i in range(80):  # eight entries a millisecond: page edges fall inside a shared time
        render_api.add_entry("srv-mosaic", "a", T0 + timedelta(milliseconds=i // 8), f"entry {i}")
    got = [e["message"] for e in RenderLogs(settings(render_api), T0, T0 + timedelta(minutes=1)).entries()]
    assert got == [f"entry {i}" for i in range(80)]


def test_a_429_waits_as_told_and_a_5xx_backs_off(render_api: RenderLogsStandIn) -> None:
    render_api.add_log_lines("srv-mosaic", "a", ["INFO:x:one", "INFO:x:two"], start=T0)
    render_api.fail_next(429, retry_after=7)
    render_api.fail_next(503)
    waits: list[float] = []
    logs = RenderLogs(settings(render_api), T0, T0 + timedelta(minutes=1), sleep=waits.append)
    assert [e["message"] for e in logs.entries()] == ["INFO:x:one", "INFO:x:two"]
    assert waits[0] == 7.0 and 0 < waits[1] <= 8
    assert [r.status for r in render_api.requests] == [429, 503, 200]


def test_a_server_that_stays_down_is_unreachable(render_api: RenderLogsStandIn) -> None:
    render_api.fail_next(502, times=10)
    logs = RenderLogs(settings(render_api), T0, T0 + timedelta(minutes=1), attempts=3, sleep=lambda s: None)
    with pytest.raises(UnreachableError, match=r"answered 502 \(gave up after 3 attempts\)"):
        list(logs.entries())


def test_a_refused_key_is_a_configuration_error_that_does_not_print_it(render_api: RenderLogsStandIn) -> None:
    logs = RenderLogs(settings(render_api, key="rnd_wrong"), T0, T0 + timedelta(minutes=1))
    with pytest.raises(ConfigError) as info:
        list(logs.entries())
    assert "401" in str(info.value) and "rnd_wrong" not in str(info.value)


def test_entry_stream_reads_in_any_chunk_size() -> None:
    entries = [{"id": str(i), "message": "x" * i} for i in range(30)]
    stream = EntryStream(iter(entries))
    out = b""
    while chunk := stream.read(7):
        out += chunk
    assert [json.loads(line) for line in out.splitlines()] == entries


def test_settings_from_config_env_and_deprecated_aliases() -> None:
    class Cfg:
        def __init__(self, values: dict[str, str]) -> None:
            self.values = values

        def get(self, key: str, default: object = None) -> object:
            return self.values.get(key, default)

    old = RenderSettings.from_config(Cfg({"rollback.render_api_url": "http://127.0.0.1:1/",
                                          "rollback.render_service_id": "srv-old"}), {})
    assert (old.api_url, old.service_id, old.api_key) == ("http://127.0.0.1:1", "srv-old", None)
    assert len(old.notes) == 2 and "use render.api_url" in old.notes[0]
    new = RenderSettings.from_config(Cfg({"render.service_id": "srv-cfg", "render.owner_id": "tea-1"}),
                                     {"RENDER_SERVICE_ID": "srv-env", "RENDER_API_KEY": "rnd_k"})
    assert (new.service_id, new.owner_id, new.notes, new.missing()) == ("srv-env", "tea-1", (), [])
    assert "rnd_k" not in repr(new)


def test_triage_render_reads_the_api_as_it_reads_the_file(render_api: RenderLogsStandIn, tmp_path: Path) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    render_api.add_log_lines("srv-mosaic", "srv-mosaic-7f9c", lines, start=T0)
    env = {"RENDER_API_KEY": KEY, "RENDER_SERVICE_ID": "srv-mosaic", "MOSAIC_DIAG_RENDER_API_URL": render_api.base_url}
    api = cli(["triage", "--render", "--since", "2026-11-27T13:59:00Z", "--until", "2026-11-27T15:00:00Z",
               "--format", "json", "--no-playbooks"], env, tmp_path)
    assert api.returncode == 1, api.stderr
    from_file = cli(["triage", str(SAMPLE), "--format", "json", "--no-playbooks"], {}, tmp_path)
    got, want = json.loads(api.stdout), json.loads(from_file.stdout)
    assert want["summary"]["events"] > 5
    assert Counter(e["label"] for e in got["events"]) == Counter(e["label"] for e in want["events"])
    assert got["summary"]["input"] == "render:srv-mosaic"
    assert len(render_api.requests) > 1 and KEY not in api.stdout + api.stderr


@pytest.mark.parametrize(("args", "env", "code", "says"), [
    (["--render"], {"RENDER_SERVICE_ID": "srv-1"}, 2, "--render needs RENDER_API_KEY"),
    (["--render"], {}, 2, "--render needs --render-service, RENDER_SERVICE_ID or render.service_id; RENDER_API_KEY"),
    (["app.log", "--render"], {}, 2, "either a log file or --render"),
    (["--render-service", "srv-1", "app.log"], {}, 2, "--render-service needs --render"),
    ([], {}, 2, "give a log file"),
])
def test_bad_render_usage_is_one_line(args: list[str], env: dict[str, str], code: int, says: str,
                                      tmp_path: Path) -> None:
    r = cli(["triage", *args], env, tmp_path)
    assert r.returncode == code and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_render_api_down_is_exit_3(render_api: RenderLogsStandIn, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 3 after the backoff between the attempts (the waits asked for are recorded, not slept: the CLI runs
    in this process)."""
    from mosaic_diag.platform import render_logs

    waits: list[float] = []
    monkeypatch.setattr(render_logs, "_sleep", waits.append)
    port = render_api.base_url.rsplit(":", 1)[1]
    render_api.stop()
    env = {"RENDER_API_KEY": KEY, "RENDER_SERVICE_ID": "srv-mosaic",
           "MOSAIC_DIAG_RENDER_API_URL": f"http://127.0.0.1:{port}"}
    r = cli(["triage", "--render", "--since", "10m"], env, tmp_path)
    assert r.returncode == 3 and "unreachable" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "gave up after 5 attempts" in r.stderr and waits == [0.5, 1.0, 2.0, 4.0], (r.stderr, waits)


@pytest.mark.parametrize(("config", "args", "says"), [
    ('[tool.mosaic-diag.render]\napi_url = "https://api.render.com.example.net"\n', [], "is not Render's API"),
    ('[tool.mosaic-diag.render]\napi_url = "http://api.render.com"\n', [], "is not Render's API"),
    ('[tool.mosaic-diag.rollback]\nrender_api_url = "https://user:pw@collector.example.org/x"\n', [],
     "is not Render's API"),
    ("", ["--render-service", "srv-1/../../owners"], "is not a Render id"),
    ('[tool.mosaic-diag.render]\nowner_id = "tea-1?x=1"\n', [], "is not a Render id"),
])
def test_a_committed_config_cannot_send_the_key_elsewhere(config: str, args: list[str], says: str,
                                                          tmp_path: Path) -> None:
    """A repository's config (committed by anyone) naming another host than Render's API gets one line and exit 2
    before any request: RENDER_API_KEY goes only to https://api.render.com, a loopback stand-in, or a URL the
    environment names; the ids become URL paths, so they are Render ids."""
    (tmp_path / "pyproject.toml").write_text(config)
    env = {"RENDER_API_KEY": KEY, "RENDER_SERVICE_ID": "srv-mosaic"}
    r = cli(["triage", "--render", *args, "--since", "10m"], env, tmp_path)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and KEY not in r.stderr + r.stdout and "pw@" not in r.stderr


def test_the_environment_may_name_another_api_host() -> None:
    from mosaic_diag.platform.render_settings import RenderSettings, trusted_api_url

    assert trusted_api_url("https://api.render.com") and trusted_api_url("http://127.0.0.1:8123")
    assert trusted_api_url("http://[::1]:8123") and trusted_api_url("http://localhost:1")
    assert not trusted_api_url("https://api.render.com@evil.example") and not trusted_api_url("file:///etc/passwd")
    s = RenderSettings.from_config(None, {"MOSAIC_DIAG_RENDER_API_URL": "https://proxy.internal.example/render"})
    assert s.api_url == "https://api.render.com"  # (without a config the variable is read by Config, not here)


class _Hostile:
    """A loopback HTTP server answering every request `status` (200) with `body`."""

    def __init__(self, body: bytes, status: int = 200) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        answer = body
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _answer(self) -> None:
                paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client stopped reading: what the test wants
                    self.wfile.write(answer)

            do_GET = do_POST = _answer  # noqa: N815 - http.server's names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs=SERVE, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


_HUGE = b'{"logs": [], "hasMore": false, "pad": "' + b"x" * (3 << 20) + b'"}'
_DEEP = b'{"logs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize(("body", "says"), ((_HUGE, "longer than 1,048,576 bytes"), (_DEEP, "not a page of logs")))
def test_a_hostile_log_page_is_one_error_not_memory_or_a_traceback(body: bytes, says: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Render's answer is read at most to PAGE_BYTES and as strict JSON: a page of any length was read whole into
    memory, and one nested past the parser ended the watch or triage with a RecursionError traceback."""
    from mosaic_diag.platform import render_logs

    monkeypatch.setattr(render_logs, "PAGE_BYTES", 1 << 20, raising=False)
    server = _Hostile(body)
    try:
        logs = RenderLogs(RenderSettings(api_url=server.url, service_id="srv-mosaic", owner_id=None, api_key=KEY),
                          T0, T0 + timedelta(minutes=1))
        with pytest.raises(UnreachableError, match=says):
            list(logs.entries())
    finally:
        server.close()


def test_a_key_across_the_cut_of_an_answer_that_is_not_json_is_masked_whole() -> None:
    """An error answer that is not JSON (a proxy's page quoting the request) is shown by its first 200 characters:
    cut before the redactor saw them, a key across the cut was too short to be known as one (`rnd_` and 16
    characters) and its first half was in the error, of the log reader and of the deploy/rollback client both."""
    from mosaic_diag.platform.render_api import RenderApi, RenderTarget

    page = "x" * (200 - 1 - len("invalid key ") - len(KEY) // 2) + f" invalid key {KEY} for this service"
    server = _Hostile(page.encode(), status=400)
    try:
        logs = RenderLogs(RenderSettings(api_url=server.url, service_id="srv-mosaic", owner_id=None, api_key=KEY),
                          T0, T0 + timedelta(minutes=1))
        with pytest.raises(ConfigError, match="answered 400: x+ invalid key rnd") as from_logs:
            list(logs.entries())
        with pytest.raises(ConfigError, match="answered 400: x+ invalid key rnd") as from_api:
            RenderApi(RenderTarget(server.url, "srv-mosaic", KEY)).get_service()
    finally:
        server.close()
    for caught in (from_logs, from_api):
        assert KEY[4:len(KEY) // 2] not in str(caught.value), str(caught.value)


@pytest.mark.parametrize("body", (_HUGE, _DEEP))
def test_a_hostile_render_api_answer_is_bounded(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rollback/deploy client reads an answer at most to ANSWER_BYTES and as strict JSON (it was read whole;
    nesting past the parser was a RecursionError traceback)."""
    from mosaic_diag.platform import render_api
    from mosaic_diag.platform.render_api import RenderApi, RenderTarget

    monkeypatch.setattr(render_api, "ANSWER_BYTES", 1 << 20, raising=False)
    server = _Hostile(body)
    try:
        api = RenderApi(RenderTarget(server.url, "srv-mosaic", KEY))
        if body is _HUGE:
            with pytest.raises(UnreachableError, match="longer than 1,048,576 bytes"):
                api.get_service()
        else:
            assert "logs" not in api.get_service()  # not JSON: shown as a message, not parsed
    finally:
        server.close()


def test_an_entry_dated_ahead_does_not_blind_the_watch() -> None:
    """The poll's next window starts at the newest entry seen, but never past the window it asked for: an entry
    dated 9000 made every later window start after its end (nothing read again, nothing said)."""
    import threading
    from urllib.parse import parse_qs, urlsplit

    from mosaic_diag.platform.render_logs import IDLE, poll_entries

    entry = {"id": "e1", "timestamp": "9000-01-01T00:00:00Z", "message": "INFO:x:hi", "labels": []}
    server = _Hostile(json.dumps({"logs": [entry], "hasMore": False}).encode())
    now = [T0]
    stop = threading.Event()
    try:
        polls = poll_entries(RenderSettings(api_url=server.url, service_id="srv-mosaic", owner_id=None, api_key=KEY),
                             T0 - timedelta(minutes=1), stop, interval=0, clock=lambda: now[0])
        assert next(polls) == entry and next(polls) is IDLE
        now[0] += timedelta(minutes=1)
        assert next(polls) is IDLE  # (the same id: not repeated)
    finally:
        stop.set()
        server.close()
    starts = [parse_qs(urlsplit(p).query)["startTime"][0] for p in server.paths]
    ends = [parse_qs(urlsplit(p).query)["endTime"][0] for p in server.paths]
    assert starts[1] <= ends[1] and starts[1] == "2026-11-27T14:00:00.000Z", (starts, ends)


@pytest.mark.parametrize("ident", ([1], {"n": 1}))
def test_an_entry_id_that_is_no_text_is_read_not_a_traceback(ident: object) -> None:
    """An entry's `id` that is a list or an object (unhashable) ended the read, of triage --render and of the watch's
    polls alike, with a TypeError traceback; such an entry is read as one without an id."""
    import threading

    from mosaic_diag.platform.render_logs import IDLE, poll_entries

    entry = {"id": ident, "timestamp": "2026-11-27T14:00:30Z", "message": "INFO:x:hi", "labels": []}
    server = _Hostile(json.dumps({"logs": [entry, {**entry, "message": "INFO:x:again"}], "hasMore": False}).encode())
    stop = threading.Event()
    settings = RenderSettings(api_url=server.url, service_id="srv-mosaic", owner_id=None, api_key=KEY)
    try:
        assert [e["message"] for e in RenderLogs(settings, T0, T0 + timedelta(minutes=1)).entries()] == \
            ["INFO:x:hi", "INFO:x:again"]
        polls = poll_entries(settings, T0, stop, interval=0, clock=lambda: T0 + timedelta(minutes=1))
        assert [next(polls)["message"], next(polls)["message"], next(polls)] == ["INFO:x:hi", "INFO:x:again", IDLE]
    finally:
        stop.set()
        server.close()


class _Redirecting:
    """A loopback API answering every request 302 (or `status`) to `target`, with an empty body; what each request
    carried is kept."""

    def __init__(self, target: str, status: int = 302) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict[str, str]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _answer(self) -> None:
                requests.append(dict(self.headers))
                self.send_response(status)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PATCH = _answer  # noqa: N815 - http.server's names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_refused_and_never_carries_the_key_elsewhere(status: int) -> None:
    """A 3xx of Render's API is a configuration error naming where it pointed: never followed (the key goes to
    render.api_url only), and its empty body is no answer (the logs' page read as empty for ever, saying nothing;
    a rollback's POST taken as done)."""
    from mosaic_diag.platform.render_api import RenderApi, RenderTarget

    elsewhere = _Redirecting("http://127.0.0.1:9")  # (never asked: it would redirect in turn)
    api = _Redirecting(elsewhere.url.replace("127.0.0.1", "localhost"), status)
    try:
        logs = RenderLogs(RenderSettings(api_url=api.url, service_id="srv-mosaic", owner_id=None, api_key=KEY),
                          T0, T0 + timedelta(minutes=1))
        with pytest.raises(ConfigError, match=rf"answered {status}, a redirect to localhost: not followed"):
            list(logs.entries())
        with pytest.raises(ConfigError, match=rf"answered {status}, a redirect to localhost"):
            RenderApi(RenderTarget(api.url, "srv-mosaic", KEY)).rollback_to_deploy("dep-1")
    finally:
        api.close()
        elsewhere.close()
    assert len(api.requests) == 2 and elsewhere.requests == []
    assert all(KEY not in str(r) for r in elsewhere.requests)


class _Slow:
    """A loopback API that answers a 429 with a long retry-after (`mode` "429") or drips its answer a byte at a
    time (`mode` "drip"); `asked` is set at the first request."""

    def __init__(self, mode: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.asked = threading.Event()
        self.done = threading.Event()
        asked, done = self.asked, self.done

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                asked.set()
                if mode == "429":
                    self.send_response(429)
                    self.send_header("Retry-After", "3600")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"logs": [], "hasMore": False, "pad": "x" * 5000}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    for i in range(len(body)):
                        if done.wait(0.05):
                            return
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.done.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("mode", ["429", "drip"])
def test_a_watch_polling_a_slow_api_stops_when_told(mode: str) -> None:
    """Ctrl-C / SIGTERM set the watch's stop: a 429's wait (up to a minute, five times) and an answer dripped a
    byte at a time (for as long as the server liked) went on regardless; both end at once now."""
    import threading

    from mosaic_diag.platform.render_logs import poll_entries

    server = _Slow(mode)
    stop = threading.Event()
    got: list[object] = []
    problems: list[str] = []
    polls = poll_entries(RenderSettings(api_url=server.url, service_id="srv-mosaic", owner_id=None, api_key=KEY),
                         T0, stop, interval=0, clock=lambda: T0 + timedelta(minutes=1), on_problem=problems.append)
    poller = threading.Thread(target=lambda: got.extend(polls), daemon=True)
    try:
        poller.start()
        assert server.asked.wait(60)
        stop.set()
        poller.join(timeout=30)  # (a bound on a hang, not a speed: it ends within one chunk or wait)
        assert not poller.is_alive()
    finally:
        server.close()
    assert got == [] and problems == []


def test_an_answer_dripped_past_its_time_is_retried_then_unreachable() -> None:
    server = _Slow("drip")
    try:
        logs = RenderLogs(RenderSettings(api_url=server.url, service_id="srv-mosaic", owner_id=None, api_key=KEY),
                          T0, T0 + timedelta(minutes=1), attempts=2, sleep=lambda _s: None, page_seconds=0.2)
        with pytest.raises(UnreachableError, match=r"took more than 0.2s to answer \(gave up after 2 attempts\)"):
            list(logs.entries())
    finally:
        server.close()
