"""The runner against a real loopback HTTP server: repeats, flaky, backoff, timeouts, baseline."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from examples.loopback import QuietServer
from mosaic_diag.cli import main
from mosaic_diag.errors import UnreachableError
from mosaic_diag.golden import RunOptions, SystemClock, load_cases, open_target, run_cases

LEAKED_PASSWORD = "pw-" + "c94e7ad6d8a943b1" * 4
LEAKED_DSN = f"postgresql://mosaic:{LEAKED_PASSWORD}@db.internal:5432/mosaic"
LEAKED_KEY = "sk-proj-" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789" * 2
SPELLED = {"name": "Pw7" + "e1f0a9b8c7d6" * 2, "dsn": "Pw8" + "a9b8c7d6e1f0" * 2, "query": "Tk9" + "c7d6e1f0a9b8" * 2,
           "header": "Hk1" + "d6e1f0a9b8c7" * 2}
# JSON whose keys and URLs are spelled with escapes (a key's letter as \u00XX; every `/` as `\/`, as PHP's json_encode
# writes it), a token in a percent-encoded return URL, a gateway's key in a logged request's header
ESCAPED_LEAK = ('{{"error": "login failed", "\\u0070assword": "{name}", '
                '"db": "postgresql:\\/\\/mosaic:{dsn}@db.internal\\/mosaic", '
                '"next": "\\/login?next=https%3A%2F%2Fapp.example%2Fcb%3Ftoken%3D{query}%26s%3D1", '
                '"request": "GET \\/v1\\nx-goog-api-key: {header}"}}'.format(**SPELLED)).encode()

# a generated password with an '@' in it, written into the DSN unescaped: libpq takes what follows the first '@' for
# the host and quotes it, the password's tail, in its error
TAILED_PASSWORD = "Pw9" + "b8c7d6e1f0a9" * 2 + "@" + "Tail" + "f0a9b8c7d6e1" * 2


class Scripted(BaseHTTPRequestHandler):
    """Answers by path; `server.state` decides (counts per path, a switchable mode)."""

    def log_message(self, *args):  # keep pytest output clean
        return

    def _answer(self):
        state = self.server.state
        with state["lock"]:
            n = state["hits"][self.path] = state["hits"].get(self.path, 0) + 1
        status, body, headers, delay = 200, {"a": 1, "text": "hello"}, {}, 0.0
        if self.path == "/flaky" and n % 2 == 0:
            body = {"text": "hello"}  # lost the key `a`
        elif self.path == "/throttled" and n == 1:
            status, headers = 429, {"Retry-After": "3"}
            body = {"error": {"message": "slow down"}}
        elif self.path.startswith("/slow"):
            delay = 2.0
        elif self.path.startswith("/stall"):  # far past any timeout of the run's (cut short by the fixture's stop)
            delay = 120.0
        elif self.path == "/long":  # a long answer a careless pattern backtracks on for ever
            body = {"a": 1, "text": "a" * 30_000 + "b"}
        elif self.path == "/brackets":  # prose of unclosed lists: each bracket a start the decoder reads on from
            body = (("[" + "1," * 2_000) * 400).encode()
        elif self.path == "/leak":  # an answer that quotes the app's secrets (an error page, a debug dump)
            body = {"answer": f"db {LEAKED_DSN} key {LEAKED_KEY}", "env": os.environ.get("GATEWAY_API_KEY", "")}
        elif self.path == "/switch" and state["mode"] == "broken":
            body = {"text": "hello"}
        elif self.path == "/leak-spelled":  # the same secrets as a hostile (or PHP) app spells them
            body = ESCAPED_LEAK
        elif self.path == "/leak-explained":  # libpq's error about a DSN whose password holds an unescaped '@'
            import psycopg2

            try:
                psycopg2.connect(f"postgresql://app:{TAILED_PASSWORD}@db.invalid:5432/app", connect_timeout=5)
            except psycopg2.OperationalError as exc:
                status, body = 500, {"error": f"psycopg2.OperationalError: {exc}"}
        elif self.path.startswith("/charset/"):  # UTF-8 text said to be in a charset named by the path
            data = "caf\u00e9 ok".encode()
            self.send_response(200)
            self.send_header("Content-Type", f"text/plain; charset={self.path.rsplit('/', 1)[1]}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.server.stopping.wait(delay)  # cut short when the fixture stops the server
        try:
            self._send(status, body, headers)
        except (BrokenPipeError, ConnectionResetError):  # the runner timed out and hung up
            return

    def _send(self, status, body, headers):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer
    do_POST = _answer


@pytest.fixture
def server():
    srv = QuietServer.start_on_loopback(Scripted)  # handler threads joined, their errors kept off stderr
    srv.state = {"hits": {}, "mode": "ok", "lock": threading.Lock()}
    yield srv
    srv.stop()


def url_of(srv) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


CASES = """
defaults:
  expect:
    json_path: {$.a: {equals: 1}}
cases:
  - {id: ok, path: /ok, tags: [basic]}
  - {id: flaky, path: /flaky}
  - {id: throttled, path: /throttled, tags: [basic]}
  - {id: slow, path: /slow, timeout: 0.3}
  - {id: switch, path: /switch, tags: [switch]}
"""


@pytest.fixture
def cases_file(tmp_path) -> Path:
    path = tmp_path / "cases.yml"
    path.write_text(CASES)
    return path


class RecordingClock(SystemClock):
    """Real time, but backoff sleeps are recorded instead of slept (the one allowed double)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def run(srv, cases_file, **opts):
    clock = RecordingClock()
    target = open_target(url=url_of(srv))
    try:
        report = run_cases(load_cases([cases_file]), target, RunOptions(explain=False, **opts), clock)
    finally:
        target.close()
    return report, clock, {r.case_id: r for r in report.results}


def test_repeat_flaky_backoff_and_timeout(server, cases_file):
    report, clock, by_id = run(server, cases_file, repeat=4, min_pass=2, retries=1, concurrency=3)
    assert (by_id["ok"].outcome, by_id["ok"].passes, by_id["ok"].ok) == ("pass", 4, True)
    flaky = by_id["flaky"]
    assert (flaky.outcome, flaky.passes, flaky.runs, flaky.ok) == ("flaky", 2, 4, True)
    assert flaky.failures == ("json_path $.a: missing",)
    # the first request of /throttled got 429 + Retry-After: 3, then passed on the retry
    assert by_id["throttled"].outcome == "pass" and clock.sleeps == [3.0]
    assert sum(a.retries for a in by_id["throttled"].attempts) == 1
    slow = by_id["slow"]
    assert slow.outcome == "error" and not slow.ok
    assert slow.failures[0].startswith("timeout: the app did not answer within 0.3s")
    from mosaic_diag.golden.explain import explain

    assert explain(slow.attempts[0]).label == "APP_TIMEOUT"  # the harness's timeout, not UNKNOWN_ERROR
    # failures first
    assert [r.case_id for r in report.sorted_results()][:1] == ["slow"]
    assert report.exit_code == 1


def test_min_pass_defaults_to_every_run(server, cases_file):
    _, _, by_id = run(server, cases_file, repeat=2, retries=0)
    assert by_id["flaky"].outcome == "flaky" and not by_id["flaky"].ok


def test_global_timeout_stops_the_run(server, tmp_path):
    path = tmp_path / "slow.yml"
    path.write_text("cases:\n" + "".join(f"  - {{id: s{i}, path: /stall{i}}}\n" for i in range(4)))
    start = time.monotonic()
    _, _, by_id = run(server, path, concurrency=1, global_timeout=0.5, timeout=100)
    assert time.monotonic() - start < 60  # (a liveness bound: without the global timeout, 4 x 100 s)
    assert all(not r.ok for r in by_id.values())
    assert any("global timeout (0.5s)" in r.failures[0] for r in by_id.values())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_url_exits_3(cases_file, capsys, refused_port):
    port = refused_port
    with pytest.raises(UnreachableError):
        open_target(url=f"http://127.0.0.1:{port}")
    assert main(["golden", "--url", f"http://127.0.0.1:{port}", "--cases", str(cases_file)]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"mosaic-diag: error: cannot reach http://127.0.0.1:{port}: ConnectError")


def test_cli_junit_baseline_bless_only_failed(server, cases_file, tmp_path, capsys):
    state, junit, base = tmp_path / "state", tmp_path / "golden.xml", tmp_path / "base.json"
    common = ["golden", "--url", url_of(server), "--cases", str(cases_file), "--state-dir", str(state),
              "--retries", "0"]
    # 1. only the `switch` case, good -> exit 0, bless it
    assert main([*common, "-t", "switch", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["total"] == 1 and data["exit_code"] == 0
    assert main(["golden", "bless", "--baseline", str(base), "--state-dir", str(state)]) == 0
    assert "blessed 1 cases" in capsys.readouterr().out
    # 2. the app breaks: `switch` loses its key -> exit 1, junit names the case
    server.state["mode"] = "broken"
    assert main([*common, "-k", "switch", "--junit", str(junit)]) == 1
    case = ET.parse(junit).getroot().find(".//testcase[@name='switch']")
    assert case is not None and case.get("classname") == "cases"
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "json_path $.a: missing"
    assert f"{cases_file}:" in failure.text
    # 3. against the baseline it is a regression (exit 1); the markdown report says so
    capsys.readouterr()
    assert main([*common, "-k", "switch", "--baseline", str(base), "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "1 regressions" in out and "- **Regressions**: `switch`" in out
    # 4. --only-failed runs just the failed case; fixed -> exit 0 and reported as a fix
    server.state["mode"] = "ok"
    assert main([*common, "--only-failed", "--baseline", str(base), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in data["cases"]] == ["switch"]
    assert data["baseline"]["fixes"] == [] and data["baseline"]["regressions"] == []
    # 5. a case the baseline knew as failing that now passes is a fix
    bad = json.loads(base.read_text())
    bad["cases"]["switch"].update(ok=False, outcome="fail")
    base.write_text(json.dumps(bad))
    assert main([*common, "-k", "switch", "--baseline", str(base), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["baseline"]["fixes"] == ["switch"]


def test_a_url_with_a_password_is_not_written_to_the_junit_file_or_the_state(server, cases_file, tmp_path, capsys):
    """`--url https://user:pw@host` sends the password to the app only: the JUnit file (a CI artifact) and the last
    run's state named the target with it, in clear (the terminal's report was redacted, the files were not)."""
    state, junit = tmp_path / "state", tmp_path / "golden.xml"
    port = server.server_address[1]
    code = main(["golden", "--url", f"http://ci-bot:Hunter2pw@127.0.0.1:{port}", "--cases", str(cases_file),
                 "--state-dir", str(state), "--retries", "0", "-t", "switch", "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 0, out
    written = junit.read_text() + "".join(p.read_text() for p in state.iterdir())
    assert "Hunter2pw" not in written + out
    assert f"http://ci-bot:***@127.0.0.1:{port}" in junit.read_text()
    assert json.loads((state / "golden-last-run.json").read_text())["target"] == f"http://ci-bot:***@127.0.0.1:{port}"


def test_a_url_with_a_query_sends_it_with_every_case_after_the_cases_path(server, tmp_path, capsys):
    """`--url 'https://host/?token=…'` (a token the app or its gateway reads from the query): httpx appends a
    request's path to the base URL's raw path, which holds the query, so every case asked for the app's / with
    the query `token=abc/ok` (every case the same request, the token spoiled). The case's own query goes too."""
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {id: plain, path: /ok}\n  - {id: queried, path: /switch, query: {q: x}}\n")
    port = server.server_address[1]
    assert main(["golden", "--url", f"http://127.0.0.1:{port}/?token=abc", "--cases", str(cases),
                 "--state-dir", str(tmp_path / "st"), "--retries", "0"]) == 0, capsys.readouterr().out
    assert sorted(server.state["hits"]) == ["/health?token=abc", "/ok?token=abc", "/switch?token=abc&q=x"]


def test_a_query_written_in_a_cases_path_is_sent(server, tmp_path, capsys):
    """`path: /search?q=engineer` is the natural way to write a case, and httpx replaces a URL's query with a request's
    `params`, empty ones too: every such case asked for /search, over HTTP and in-process alike (the example app's
    /jobs/search without its `q` answered all ten jobs). The path's query is sent, with the case's `query` after it (a
    name of both: the case's)."""
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {id: own, path: '/ok?q=engineer&x=1'}\n"
                     "  - {id: both, path: '/switch?q=engineer&x=1', query: {x: '2'}}\n")
    assert main(["golden", "--url", url_of(server), "--cases", str(cases), "--state-dir", str(tmp_path / "st"),
                 "--retries", "0"]) == 0, capsys.readouterr().out
    assert sorted(server.state["hits"]) == ["/health", "/ok?q=engineer&x=1", "/switch?q=engineer&x=2"]
    capsys.readouterr()
    jobs = tmp_path / "jobs.yml"
    jobs.write_text("cases:\n  - {id: none, path: '/jobs/search?q=astronaut', expect: {json_path: {$.count: "
                    "{equals: 0}}}}\n")
    assert main(["golden", "--app", "examples.mosaic_app.main:app", "--cases", str(jobs), "--state-dir",
                 str(tmp_path / "st"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["cases"][0]["outcome"] == "pass"


def test_a_report_is_not_written_over_a_case_file_the_state_or_the_other_report(server, cases_file, tmp_path,
                                                                               capsys):
    """`golden -f html -o golden/cases.yml` ran every case, then replaced the case file with the report (the cases
    lost); `-o` naming the last run's state, or the same file as `--junit`, lost one of the two. Refused before a
    request is sent, exit 2, the files as they were."""
    state = tmp_path / "state"
    before = cases_file.read_text()
    common = ["golden", "--url", url_of(server), "--cases", str(cases_file), "--state-dir", str(state), "-t", "basic"]
    assert main([*common, "--format", "html", "-o", str(cases_file)]) == 2
    assert capsys.readouterr().err.strip() == (f"mosaic-diag: error: {cases_file}: is an input of this run: the report "
                                               "would replace it; write it elsewhere")
    assert cases_file.read_text() == before and server.state["hits"] == {}
    report = tmp_path / "golden.html"
    assert main([*common, "--format", "html", "-o", str(report), "--junit", str(report)]) == 2
    assert f"{report}: is named twice ({report} too)" in capsys.readouterr().err
    assert main(common) == 0 and (state / "golden-last-run.json").is_file()
    kept = (state / "golden-last-run.json").read_text()
    assert main([*common, "--format", "html", "-o", str(state / "golden-last-run.json")]) == 2
    assert "golden-last-run.json: is an input of this run" in capsys.readouterr().err
    assert (state / "golden-last-run.json").read_text() == kept


def test_bless_after_a_run_that_got_no_answers_leaves_those_cases_out(server, cases_file, tmp_path, capsys):
    """A careless bless: the last run timed out (or the app was down), so a case got no answer at all. Blessed
    as a known failure it would hide every later regression of that case; it is left out (its earlier entry
    kept) and named, unless --include-errors."""
    state, base = tmp_path / "state", tmp_path / "base.json"
    common = ["golden", "--url", url_of(server), "--cases", str(cases_file), "--state-dir", str(state),
              "--retries", "0"]
    assert main([*common, "-k", "ok"]) == 0  # `ok` passes: bless it
    assert main(["golden", "bless", "--baseline", str(base), "--state-dir", str(state)]) == 0
    assert main([*common, "-k", "slow"]) == 1  # `slow` times out: no answer
    capsys.readouterr()
    assert main(["golden", "bless", "--baseline", str(base), "--state-dir", str(state), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"baseline": str(base), "cases": 0, "not_blessed": ["slow"]}
    assert "1 case(s) got no answer" in err and "slow" in err
    assert set(json.loads(base.read_text())["cases"]) == {"ok"}
    assert main(["golden", "bless", "--baseline", str(base), "--state-dir", str(state), "--include-errors"]) == 0
    assert json.loads(base.read_text())["cases"]["slow"]["outcome"] == "error"


def test_a_catastrophic_regex_fails_its_case_naming_file_and_line_and_the_run_goes_on(server, tmp_path, capsys):
    """`(a+)+$` on 30,000 `a`s then `b` would backtrack for ages (the stdlib's re has no deadline): each regex
    assertion gives up after its own deadline, the case fails with a one-line reason naming FILE:LINE, and
    the other cases are run and judged."""
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n"
                     "  - {id: ok, path: /ok, expect: {regex: ['hel+o']}}\n"
                     "  - {id: body, path: /long, expect: {regex: ['(a+)+$'], contains: [zzz]}}\n"
                     "  - {id: field, path: /long, expect: {json_path: {$.text: {matches: '(a+)+$'}}}}\n"
                     "  - {id: after, path: /long, expect: {regex: ['a{30000}b'], json_path: {$.a: {equals: 1}}}}\n")
    assert main(["golden", "--url", url_of(server), "--cases", str(cases), "--state-dir", str(tmp_path / "s"),
                 "--retries", "0", "--format", "json"]) == 1
    data = {c["id"]: c for c in json.loads(capsys.readouterr().out)["cases"]}
    assert data["ok"]["outcome"] == "pass" and data["after"]["outcome"] == "pass"
    for case, line, what, chars in (("body", 3, "regex: /(a+)+$/", "30,021"),  # the JSON body
                                    ("field", 4, "json_path $.text matches: /(a+)+$/", "30,001")):  # its field
        assert data[case]["outcome"] == "fail"
        [gave_up] = [f for f in data[case]["failures"] if "gave up" in f]
        assert gave_up.startswith(what + " gave up after") and gave_up.endswith(f"[{cases}:{line}]")
        assert f" on {chars} chars " in gave_up and "\n" not in gave_up
    assert "contains: missing 'zzz'" in data["body"]["failures"]  # the other assertions are still judged


def test_a_search_for_json_in_an_answer_gives_up_at_the_regex_deadline(server, tmp_path, capsys):
    """contains_json tries the JSON decoder at each bracket, which reads on to the end of the answer in the worst case:
    an answer of 400 unclosed lists in 1.6 MB was searched for 15 s (one of 16 MiB for hours, past the run's global
    timeout, its CPU held). The search stops at the case's regex deadline, a failure naming FILE:LINE; a JSON found
    early passes as before."""
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n"
                     "  - {id: brackets, path: /brackets, regex_timeout: 0.2, expect: {contains_json: true}}\n"
                     "  - {id: found, path: /ok, regex_timeout: 0.2,"
                     "     expect: {contains_json: {schema: {required: [a]}}}}\n")
    assert main(["golden", "--url", url_of(server), "--cases", str(cases), "--state-dir", str(tmp_path / "s"),
                 "--retries", "0", "--format", "json"]) == 1
    data = {c["id"]: c for c in json.loads(capsys.readouterr().out)["cases"]}
    assert data["found"]["outcome"] == "pass"
    assert data["brackets"]["failures"] == [f"contains_json: the search for JSON in the body gave up after 0.2s on "
                                            f"1,600,400 chars [{cases}:2]"]


@pytest.mark.slow
def test_the_regex_deadline_is_set_per_case_in_defaults_in_config_and_by_flag(server, tmp_path, capsys,
                                                                                monkeypatch):
    """A case's `regex_timeout` wins over the file's defaults, which win over --regex-timeout, then
    golden.regex_timeout (config or MOSAIC_DIAG_GOLDEN_REGEX_TIMEOUT), then 2 s; the failure says which applied."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOSAIC_DIAG_GOLDEN_REGEX_TIMEOUT", raising=False)
    plain = tmp_path / "plain.yml"
    plain.write_text("cases:\n"
                     "  - {id: own, path: /long, regex_timeout: 0.05, expect: {regex: ['(a+)+$']}}\n"
                     "  - {id: run, path: /long, expect: {json_path: {$.text: {matches: '(a+)+$'}}}}\n")
    defaulted = tmp_path / "defaulted.yml"
    defaulted.write_text("defaults: {regex_timeout: 0.15}\n"
                         "cases:\n  - {id: dflt, path: /long, expect: {regex: ['(a+)+$']}}\n")

    def gave_up(*args: str) -> dict[str, str]:
        assert main(["golden", "--url", url_of(server), "--cases", str(plain), "--cases", str(defaulted),
                     "--state-dir", str(tmp_path / "s"), "--retries", "0", "--format", "json", *args]) == 1
        cases = json.loads(capsys.readouterr().out)["cases"]
        return {c["id"]: next(f for f in c["failures"] if "gave up" in f).split(" gave up after ")[1].split(" on ")[0]
                for c in cases}

    (tmp_path / "mosaic-diag.toml").write_text("[golden]\nregex_timeout = 0.2\n")
    assert gave_up() == {"own": "0.05s", "run": "0.2s", "dflt": "0.15s"}
    assert gave_up("--regex-timeout", "0.25") == {"own": "0.05s", "run": "0.25s", "dflt": "0.15s"}
    monkeypatch.setenv("MOSAIC_DIAG_GOLDEN_REGEX_TIMEOUT", "0.3")
    assert gave_up()["run"] == "0.3s"
    monkeypatch.delenv("MOSAIC_DIAG_GOLDEN_REGEX_TIMEOUT")
    (tmp_path / "mosaic-diag.toml").unlink()
    assert gave_up()["run"] == "2s"


_POSITIVE = "golden.regex_timeout must be a number > 0, got"


@pytest.mark.parametrize(("toml", "env", "error"), [
    ("[golden]\nurl = 'x'\nregex_timeout = 0\n", None, f"mosaic-diag.toml:3: {_POSITIVE} 0"),
    ("[golden]\nregex_timeout = -0.5\n", None, f"mosaic-diag.toml:2: {_POSITIVE} -0.5"),
    ("golden.regex_timeout = inf\n", None, "mosaic-diag.toml:1: golden.regex_timeout must be a finite number, got inf"),
    ("[golden]\nregex_timeout = '2s'\n", None, "mosaic-diag.toml:2: golden.regex_timeout must be a number, got '2s'"),
    ("", "0", "MOSAIC_DIAG_GOLDEN_REGEX_TIMEOUT (golden.regex_timeout) must be a number > 0, got 0.0"),
    ("", "soon", "MOSAIC_DIAG_GOLDEN_REGEX_TIMEOUT must be a number, got 'soon'"),
])
def test_a_bad_regex_deadline_in_config_is_one_line_naming_file_and_line(server, cases_file, tmp_path, capsys,
                                                                          monkeypatch, toml, env, error):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mosaic-diag.toml").write_text(toml)
    if env is None:
        monkeypatch.delenv("MOSAIC_DIAG_GOLDEN_REGEX_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("MOSAIC_DIAG_GOLDEN_REGEX_TIMEOUT", env)
    assert main(["golden", "--url", url_of(server), "--cases", str(cases_file), "--state-dir",
                 str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"mosaic-diag: error: {tmp_path / error}" if env is None
                                        else f"mosaic-diag: error: {error}"]


def test_the_table_shows_case_ids_as_they_are(server, tmp_path, capsys):
    """A provider matrix's ids (`case[openai]`, README) are text in the table, not Rich markup."""
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {id: ok, path: /ok}\n")
    assert main(["golden", "--url", url_of(server), "--cases", str(cases), "--state-dir", str(tmp_path / "state"),
                 "--provider", "all", "--format", "table"]) == 0
    out = capsys.readouterr().out
    for provider in ("openai", "anthropic"):
        assert f"ok[{provider}]" in out


def test_newly_flaky_does_not_fail_against_baseline(server, cases_file, tmp_path, capsys):
    state, base = tmp_path / "state", tmp_path / "base.json"
    common = ["golden", "--url", url_of(server), "--cases", str(cases_file), "--state-dir", str(state),
              "-k", "flaky"]
    assert main([*common, "--repeat", "1"]) == 0  # the first hit of /flaky passes
    assert main(["golden", "bless", "--baseline", str(base), "--state-dir", str(state)]) == 0
    capsys.readouterr()
    code = main([*common, "--repeat", "4", "--min-pass", "2", "--baseline", str(base), "-f", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["baseline"]["newly_flaky"] == ["flaky"]


def test_selection_errors_are_usage_errors(server, cases_file, capsys):
    assert main(["golden", "--url", url_of(server), "--cases", str(cases_file), "-t", "nope"]) == 2
    assert "no case matches" in capsys.readouterr().err
    assert main(["golden", "--url", url_of(server), "--cases", str(cases_file), "--repeat", "2",
                 "--min-pass", "3"]) == 2
    assert main(["golden", "--cases", str(cases_file)]) == 2
    assert "give --url" in capsys.readouterr().err


def test_global_timeout_is_honoured_with_requests_in_flight(server, cases_file, tmp_path, capsys):
    """Requests still in flight at --global-timeout do not hold the run (the server answers /stall
    after 120 s; the per-request timeout is 100 s)."""
    slow = tmp_path / "slow.yml"
    slow.write_text("cases:\n" + "".join(f"  - {{id: s{i}, path: /stall{i}}}\n" for i in range(6)))
    start = time.monotonic()
    code = main(["golden", "--url", url_of(server), "--cases", str(slow), "--state-dir", str(tmp_path / "st"),
                 "--timeout", "100", "--global-timeout", "0.5", "--concurrency", "2", "--format", "json"])
    elapsed = time.monotonic() - start
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and elapsed < 60, elapsed  # a liveness bound: held by the requests, it would take 100 s
    assert {c["outcome"] for c in data["cases"]} == {"error"}
    errors = {a["error"] for c in data["cases"] for a in c["attempts"]}
    assert any("not finished: the global timeout (0.5s)" in e or "did not answer within 0.5s" in e for e in errors)


def _junit_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(Path(__file__).with_name("junit.xsd")))


def test_junit_errors_failures_and_control_characters_validate_against_the_xsd(tmp_path):
    from mosaic_diag.golden.junit import junit_xml
    from mosaic_diag.golden.report import Attempt, CaseResult, GoldenReport

    def result(case_id: str, outcome: str, message: str) -> CaseResult:
        ok = outcome == "pass"
        attempt = Attempt(None if outcome == "error" else 200, 12.0, () if ok or outcome == "error" else (message,),
                          message if outcome == "error" else None)
        return CaseResult(case_id, "golden/x.yml", 3, (), outcome, ok, int(ok), 1, 1,
                          () if ok else (message,), 12.0, 12.0, (attempt,))

    report = GoldenReport("app:x", "2026-12-06T03:00:00.123456+00:00", 40.0, (
        result("fine", "pass", ""),
        result("wrong", "fail", "json_path $.answer: 'bell \x07 esc \x1b[31m nul \x00' does not match"),
        result("timed-out", "error", "timeout: the app did not answer within 0.5s (AppTimeoutError)"),
    ))
    text = junit_xml(report)
    root = ET.fromstring(text)  # well-formed although the message held control characters
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    assert (root.get("failures"), root.get("errors")) == ("1", "1")
    assert root.find(".//testcase[@name='timed-out']/error") is not None
    assert root.find(".//testcase[@name='timed-out']/failure") is None
    failure = root.find(".//testcase[@name='wrong']/failure")
    assert "\\x07" in failure.get("message") and "\\x1b[31m" in failure.get("message") and "\\x00" in failure.text
    _junit_schema().validate(text)


def test_predeploy_junit_validates_against_the_xsd(tmp_path):
    from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message
    from mosaic_diag.checks.registry import select
    from mosaic_diag.checks.report import as_junit
    from mosaic_diag.checks.runner import run_checks
    from mosaic_diag.config import load_config

    def bad(_: CheckContext) -> list[Message]:
        return [Message("MD-X001", "a \x1b[1mcontrol\x1b[0m character\x00")]

    release = threading.Event()

    def hang(_: CheckContext) -> list[Message]:  # (past the timeout whatever the load; ended before the next test)
        release.wait(60)
        return []

    checks = (Check("bad", ("x",), (CheckId("MD-X001", "error", "x"),), bad),
              Check("hang", ("x",), (CheckId("MD-X002", "error", "x"),), hang))
    try:
        report = run_checks(select(checks), CheckContext(tmp_path, {}, load_config(tmp_path, {}), 0.3))
    finally:
        release.set()
        for thread in threading.enumerate():
            if thread.name == "check-hang":
                thread.join(60)
    text = as_junit(report)
    suite = ET.fromstring(text).find("testsuite")
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")
    _junit_schema().validate(text)


def test_weighted_pass_rate_decides_the_exit_code(server, cases_file, tmp_path, capsys):
    weighted = tmp_path / "weighted.yml"
    weighted.write_text("defaults:\n  expect:\n    json_path: {$.a: {gte: 1}}\ncases:\n"
                        "  - {id: heavy, path: /ok, weight: 3}\n"
                        "  - {id: light, path: /switch, weight: 1}\n")
    server.state["mode"] = "broken"  # /switch loses `a`: the light case fails
    common = ["golden", "--url", url_of(server), "--cases", str(weighted), "--state-dir", str(tmp_path / "st"),
              "--retries", "0", "--format", "json"]
    assert main(common) == 1  # by default every case must pass
    assert main([*common, "--pass-rate", "0.75"]) == 0  # 3 of 4 weight units
    data = json.loads(capsys.readouterr().out.split("\n}\n")[-2] + "\n}")
    assert data["summary"]["pass_rate"] == 0.75 and data["summary"]["pass_rate_min"] == 0.75
    assert main([*common, "--pass-rate", "0.8"]) == 1


def test_response_cache_answers_unchanged_requests(server, cases_file, tmp_path, capsys):
    state = tmp_path / "st"
    common = ["golden", "--url", url_of(server), "--cases", str(cases_file), "--state-dir", str(state),
              "-k", "ok", "--retries", "0", "--format", "json"]
    assert main([*common, "--cache"]) == 0
    assert server.state["hits"]["/ok"] == 1 and (state / "golden-cache.json").is_file()
    assert main([*common, "--cache"]) == 0  # every case answered from the cache (only /health is probed)
    assert {k: v for k, v in server.state["hits"].items() if k != "/health"} == {"/ok": 1}
    assert main(common) == 0  # off by default: the app is asked again
    assert server.state["hits"]["/ok"] == 2
    changed = tmp_path / "changed.yml"  # another request (a header): not cached
    changed.write_text("cases:\n  - {id: ok, path: /ok, headers: {X-Try: '2'}}\n")
    assert main(["golden", "--url", url_of(server), "--cases", str(changed), "--state-dir", str(state),
                 "--cache"]) == 0
    assert server.state["hits"]["/ok"] == 3


@pytest.mark.parametrize(("word", "cached"), [("yes", True), (" ON ", True), ("1", True), ("off", False), ("0", False),
                                            ("", False)])
def test_the_cache_switch_from_the_environment_reads_its_words(server, cases_file, tmp_path, monkeypatch, word, cached):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOSAIC_DIAG_GOLDEN_CACHE", word)
    state = tmp_path / "st"
    assert main(["golden", "--url", url_of(server), "--cases", str(cases_file), "--state-dir", str(state),
                 "-k", "ok", "--retries", "0", "--format", "json"]) == 0
    assert (state / "golden-cache.json").is_file() is cached


@pytest.mark.parametrize("word", ["treu", "enabled", "y es"])
def test_a_misspelt_cache_switch_is_one_line_not_a_cache_silently_off(server, cases_file, tmp_path, capsys,
                                                                       monkeypatch, word):
    """A boolean read from the environment that is no boolean word is an error naming its variable (it was read as
    false: `MOSAIC_DIAG_GOLDEN_CACHE=treu` turned the cache off, unseen)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOSAIC_DIAG_GOLDEN_CACHE", word)
    state = tmp_path / "st"
    assert main(["golden", "--url", url_of(server), "--cases", str(cases_file), "--state-dir", str(state),
                 "-k", "ok", "--retries", "0", "--format", "json"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"mosaic-diag: error: MOSAIC_DIAG_GOLDEN_CACHE must be true or false (1/0, yes/no, on/off), got {word!r}"]
    assert server.state["hits"].get("/ok", 0) == 0 and not (state / "golden-cache.json").exists()


def test_a_failover_is_visible_with_a_provider_matrix() -> None:
    from mosaic_diag.golden.runner import _provider_failures
    from mosaic_diag.golden.targets import Answer

    answer = Answer(200, json.dumps({"provider": "anthropic", "answer": "x"}), {})
    assert _provider_failures(None, answer) == ()
    assert _provider_failures("anthropic", answer) == ()
    assert _provider_failures("openai", answer) == ("provider: answered by anthropic, not openai "
                                                    "(the app failed over)",)
    assert _provider_failures("openai", Answer(503, '{"provider": "anthropic"}', {})) == ()


class Endless(BaseHTTPRequestHandler):
    """Answers /endless with a chunked body that never ends (and /health with a short one); counts what
    it wrote before the client hung up."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        return

    def do_GET(self):
        if self.path == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"x" * 65536
        frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        try:
            while not self.server.stopping.is_set():
                self.wfile.write(frame)
                self.server.written += len(chunk)
        except (BrokenPipeError, ConnectionResetError):  # the runner stopped reading and hung up
            return


def test_an_endless_answer_is_cut_at_the_cap_not_read_into_memory(tmp_path):
    """A hostile or broken app answering forever: the runner stops reading at MAX_ANSWER_BYTES, the case
    errors saying so, and the connection is closed (the server is not read on after the run)."""
    from mosaic_diag.golden.targets import MAX_ANSWER_BYTES

    srv = QuietServer.start_on_loopback(Endless)
    srv.written = 0
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {id: endless, path: /endless, timeout: 60, expect: {status: 200}}\n")
    try:
        target = open_target(url=url_of(srv))
        try:
            report = run_cases(load_cases([cases]), target, RunOptions(explain=False), RecordingClock())
        finally:
            target.close()
        [result] = report.results
        assert result.outcome == "error"
        assert any(f"larger than {MAX_ANSWER_BYTES // 2**20} MiB" in f for f in result.failures), result.failures
        written = srv.written
    finally:
        srv.stop()
    assert written < MAX_ANSWER_BYTES + 8 * 2**20  # (socket buffers): the body was not read on


ENDLESS_APP = """
WRITTEN = [0]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if scope["path"] == "/health":
        await send({"type": "http.response.body", "body": b"ok"})
        return
    chunk = b"x" * 65536
    while True:  # an answer without end
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        WRITTEN[0] += len(chunk)
"""


def test_an_endless_in_process_answer_is_cut_at_the_cap_too(tmp_path, monkeypatch):
    """`--app`: the in-process answer is read as the app sends it and cut at MAX_ANSWER_BYTES as a URL's is
    (it was read whole, into memory, without end); the case errors saying so and the app is stopped."""
    import sys

    from mosaic_diag.golden.targets import MAX_ANSWER_BYTES

    (tmp_path / "endless_asgi_app.py").write_text(ENDLESS_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {id: endless, path: /endless, expect: {status: 200}}\n"
                     "  - {id: health, path: /health, expect: {contains: [ok]}}\n")
    target = open_target(app="endless_asgi_app:app", app_dir=tmp_path)
    try:
        report = run_cases(load_cases([cases]), target, RunOptions(explain=False, concurrency=1), RecordingClock())
    finally:
        target.close()
        app = sys.modules.pop("endless_asgi_app", None)  # (the app the target imported: this test's own)
    results = {r.case_id: r for r in report.results}
    assert results["endless"].outcome == "error"
    assert any(f"larger than {MAX_ANSWER_BYTES // 2**20} MiB" in f for f in results["endless"].failures)
    assert results["health"].outcome == "pass"
    assert app is not None
    written = app.WRITTEN[0]
    assert MAX_ANSWER_BYTES <= written < MAX_ANSWER_BYTES + 4 * 2**20  # the app was not read on


def test_an_answer_quoting_secrets_is_redacted_in_every_report_and_the_state(server, tmp_path, capsys,
                                                                            monkeypatch):
    """A failure message quotes the answer cut at 80 characters: the cut fell inside the DSN's password (no `@`
    left for the redactor to see) and a schema error quoted it whole, and neither was redacted in JUnit, the
    JSON report or the last run kept for --only-failed (the terminal's output guard hid it on stdout). A key of
    no known shape in a secret-named variable (a gateway's) is masked too."""
    gateway_key = "gw.tenant9." + "Zm9vYmFy" * 3
    monkeypatch.setenv("GATEWAY_API_KEY", gateway_key)
    cases = tmp_path / "leak.yml"
    cases.write_text("cases:\n  - id: leak\n    path: /leak\n    expect:\n      json_path: {$.answer: {equals: x}}\n"
                     "      json_schema: {properties: {answer: {type: integer}, env: {type: integer}}}\n"
                     "      not_contains: [key]\n")
    state, junit = tmp_path / "state", tmp_path / "golden.xml"
    assert main(["golden", "--url", url_of(server), "--cases", str(cases), "--state-dir", str(state), "--retries",
                 "0", "--junit", str(junit), "--format", "json"]) == 1
    out = capsys.readouterr().out
    (case,) = json.loads(out)["cases"]
    assert len(case["failures"]) == 4, case
    for where, text in (("json", out), ("junit", junit.read_text()),
                        *((f.name, f.read_text()) for f in state.iterdir())):
        for secret in (LEAKED_PASSWORD[:12], LEAKED_KEY[8:20], gateway_key):
            assert secret not in text, (where, secret)
    assert "postgresql://mosaic:***@db.internal" in out


def _one_failed_case(server, tmp_path: Path, capsys, path: str, expect: str) -> tuple[dict, str, Path, Path]:
    """One case (`id: leak`) against `path`, expected to fail, run by the CLI with --state-dir and --junit: its JSON
    case, the JSON report, the state directory and the JUnit file."""
    cases = tmp_path / "leak.yml"
    cases.write_text(f"cases:\n  - {{id: leak, path: {path}, expect: {expect}}}\n")
    state, junit = tmp_path / "state", tmp_path / "golden.xml"
    assert main(["golden", "--url", url_of(server), "--cases", str(cases), "--state-dir", str(state), "--retries",
                 "0", "--junit", str(junit), "--format", "json"]) == 1
    out = capsys.readouterr().out
    (case,) = json.loads(out)["cases"]
    return case, out, state, junit


def test_secrets_spelled_with_escapes_are_redacted_in_every_report_and_the_state(server, tmp_path, capsys):
    """A hostile app's answer (or a PHP app's: its JSON writes `/` as `\\/`) spelling a secret's name or a DSN's `://`
    with JSON escapes (`"\\u0070assword"`), a token in a percent-encoded return URL (`%3Ftoken%3D…`) and a key in a
    hyphenated header (`x-goog-api-key: …`): none of the patterns matched, and the JSON report, JUnit and the last
    run kept for --only-failed showed them."""
    assert json.loads(ESCAPED_LEAK)["password"] == SPELLED["name"]  # (what the app said, as its reader reads it)
    case, out, state, junit = _one_failed_case(server, tmp_path, capsys, "/leak-spelled", "{contains: [welcome]}")
    (attempt,) = case["attempts"]
    shown = json.loads(attempt["body_excerpt"])  # (still JSON)
    assert shown["password"] == "***" and shown["db"] == "postgresql://mosaic:***@db.internal/mosaic", shown
    for where, text in (("json", out), ("junit", junit.read_text()),
                        *((f.name, f.read_text()) for f in state.iterdir())):
        for what, secret in SPELLED.items():
            assert secret not in text, (where, what)


def test_an_answer_in_a_charset_that_is_no_text_encoding_is_read_as_utf8(server, tmp_path) -> None:
    """`Content-Type: text/plain; charset=rot13` (or hex, idna, punycode, undefined: codecs Python knows, which httpx
    keeps): decoding the body raised LookupError or UnicodeError, and a 200 answer was reported as no answer at all
    (outcome error, its status lost, a JUnit <error>, left out of `golden bless`)."""
    charsets = ("rot13", "hex", "idna", "punycode", "undefined", "latin-1")
    cases = tmp_path / "charsets.yml"
    cases.write_text("cases:\n" + "".join(f"  - {{id: cs-{name}, path: /charset/{name}, expect: {{status: 200, "
                                          "contains: [ok]}}\n" for name in charsets))
    target = open_target(url=url_of(server))
    try:
        report = run_cases(load_cases([cases]), target, RunOptions(explain=False, retries=0), RecordingClock())
    finally:
        target.close()
    results = {r.case_id: r for r in report.results}
    for name in charsets:
        result = results[f"cs-{name}"]
        assert (result.outcome, result.attempts[0].status) == ("pass", 200), (name, result.failures)
    assert results["cs-rot13"].attempts[0].body_excerpt == "caf\u00e9 ok"
    assert results["cs-latin-1"].attempts[0].body_excerpt == "caf\u00c3\u00a9 ok"  # (a real charset is honoured)


def test_a_case_file_named_with_control_characters_leaves_the_junit_file_xml(server, tmp_path, capsys) -> None:
    """A case file's name is a repository's text (git takes an escape sequence in it): written raw into JUnit's
    `file` and `classname` it made the document not XML (ExpatError: not well-formed), which the CI cannot read."""
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "a\x1b[31mb\x01.yml").write_text("cases:\n  - {id: switch, path: /switch, expect: {contains: [nope]}}\n")
    junit = tmp_path / "golden.xml"
    assert main(["golden", "--url", url_of(server), "--cases", str(cases), "--state-dir", str(tmp_path / "state"),
                 "--retries", "0", "--junit", str(junit)]) == 1
    capsys.readouterr()
    case = ET.parse(junit).getroot().find(".//testcase[@name='switch']")
    assert case is not None and case.get("classname") == "a\\x1b[31mb\\x01", case.attrib
    assert case.get("file") == str(cases / "a\\x1b[31mb\\x01.yml")


def test_a_classifier_hit_quoting_a_secret_is_redacted_in_the_last_run_kept(server, tmp_path, capsys):
    """A failed case's classification quotes what its rule matched in the answer (`message matched 'could not
    translate host name "TAIL@'`: libpq quoting the tail of a password cut at its '@'); the last run kept for
    --only-failed and bless (a file no output guard sees) showed it."""
    tail = TAILED_PASSWORD.split("@", 1)[1]
    case, out, state, junit = _one_failed_case(server, tmp_path, capsys, "/leak-explained", "{status: 200}")
    assert case["classification"]["label"] == "PG_URL_MALFORMED", case
    assert 'host name "***@' in case["classification"]["explanation"], case
    files = list(state.iterdir())
    assert files and any("PG_URL_MALFORMED" in f.read_text() for f in files)
    for where, text in (("json", out), ("junit", junit.read_text()), *((f.name, f.read_text()) for f in files)):
        assert tail not in text, where


def test_an_unwritable_report_or_state_path_is_refused_before_any_case_runs(server, cases_file, tmp_path, capsys):
    """`--junit` naming a directory, `--state-dir` naming a file: the whole run went out to the app, then the
    write at its end failed (exit 2) and the run's results were lost; now nothing is sent."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    common = ["golden", "--url", url_of(server), "--cases", str(cases_file), "-t", "basic", "--retries", "0"]
    for extra, says in ((["--junit", str(tmp_path)], f"{tmp_path}: cannot write (Is a directory)"),
                        (["--format", "html", "-o", str(tmp_path)], f"{tmp_path}: cannot write (Is a directory)"),
                        (["--state-dir", str(a_file)],
                         f"{a_file}/golden-last-run.json: cannot write ({a_file} is not a directory)"),
                        (["--junit", str(a_file / "golden.xml")],
                         f"{a_file}/golden.xml: cannot write ({a_file} is not a directory)")):
        assert main([*common, *extra]) == 2, extra
        assert capsys.readouterr().err == f"mosaic-diag: error: {says}\n"
        assert server.state["hits"] == {}, extra  # not even the probe of /health


def test_a_timeout_past_100_years_is_one_line_not_a_traceback(server, cases_file, tmp_path, capsys, monkeypatch):
    """`--global-timeout inf` or `1e300` (flag or config) was an OverflowError traceback (a thread's wait past
    time_t); a case's `timeout: 1.0e+300` passed validation; a case's `regex_timeout` that large "gave up" at once."""
    common = ["golden", "--url", url_of(server), "--cases", str(cases_file), "--state-dir", str(tmp_path / "s")]
    for value in ("inf", "1e300"):
        assert main([*common, "--global-timeout", value]) == 2
        assert "--global-timeout: takes 3153600000 or less (mosaic-diag golden)" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mosaic-diag.toml").write_text("[golden]\nglobal_timeout = 1e300\n")
    assert main(common) == 2
    assert capsys.readouterr().err == (f"mosaic-diag: error: {tmp_path / 'mosaic-diag.toml'}:2: golden.global_timeout "
                                       "must be at most 100 years (3153600000 s), got 1e+300\n")
    (tmp_path / "mosaic-diag.toml").unlink()
    huge = tmp_path / "huge.yml"
    huge.write_text("cases:\n  - id: a\n    path: /ok\n    timeout: 1.0e+300\n    regex_timeout: 1.0e+300\n")
    assert main(["golden", "validate", str(huge)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{huge}:4: timeout must be at most 100 years (3153600000 s), got 1e+300",
        f"{huge}:5: regex_timeout must be at most 100 years (3153600000 s), got 1e+300"]
    assert server.state["hits"] == {}


def test_golden_settings_of_the_wrong_type_or_size_are_one_line(server, cases_file, tmp_path, capsys, monkeypatch):
    """`golden.url = 5` was an AttributeError traceback; `golden.concurrency = 100000` ran as many threads as cases
    where the flag stops at 64."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "mosaic-diag.toml"
    for text, says in (("[golden]\nurl = 5\n", "golden.url must be a string, got 5"),
                       (f"[golden]\nconcurrency = 100000\nurl = '{url_of(server)}'\n",
                        "golden.concurrency must be a whole number from 1 to 64, "
                                                          "got 100000")):
        config.write_text(text)
        assert main(["golden", "--cases", str(cases_file), "--state-dir", str(tmp_path / "s")]) == 2
        assert capsys.readouterr().err == f"mosaic-diag: error: {config}:2: {says}\n"
    assert server.state["hits"] == {}


def test_the_default_state_is_kept_at_the_repositorys_top_from_any_subdirectory(server, cases_file, tmp_path,
                                                                                capsys, monkeypatch):
    """A run from a subdirectory made a `.mosaic-diag/` of its own there: `--only-failed` and `bless` from the top
    found no last run. The default state directory (and bless's baseline) is the repository's, as its config."""
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    sub = tmp_path / "repo" / "api" / "routes"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert main(["golden", "--url", url_of(server), "--cases", str(cases_file), "-t", "switch", "--retries", "0",
                 "--format", "json"]) == 0
    capsys.readouterr()
    top = tmp_path / "repo" / ".mosaic-diag"
    assert (top / "golden-last-run.json").is_file() and not (sub / ".mosaic-diag").exists()
    monkeypatch.chdir(tmp_path / "repo")
    assert main(["golden", "bless"]) == 0
    assert "blessed 1 cases" in capsys.readouterr().out
    assert (top / "golden-baseline.json").is_file()


def test_the_start_probe_waits_for_the_request_timeout_and_says_so(cases_file, capsys):
    """A waking instance (Render's free tier takes tens of seconds) answers the start's probe late: the probe waits
    --timeout, not a fixed 5 s, and an app that never answers is said to be one, in the classifier's wording."""
    with socket.socket() as server:  # accepts (the backlog) and never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert main(["golden", "--url", f"http://127.0.0.1:{port}", "--cases", str(cases_file),
                     "--timeout", "0.3"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"mosaic-diag: error: cannot reach http://127.0.0.1:{port}: the app did not answer "
                          "within 0.3s (GET /health, ReadTimeout; --timeout sets it)"), err
    assert main(["classify", err.strip().removeprefix("mosaic-diag: error: ")]) == 0
    assert "APP_TIMEOUT" in capsys.readouterr().out


def test_a_planted_response_cache_is_not_trusted(server, cases_file, tmp_path, capsys):
    """A cache committed to (or planted in) the repository's state directory would pass every case without asking
    the app: only a file this user's runs signed is read; a planted one is said, not used, and replaced."""
    state = tmp_path / "st"
    common = ["golden", "--url", url_of(server), "--cases", str(cases_file), "--state-dir", str(state),
              "-k", "ok", "--retries", "0", "--format", "json", "--cache"]
    assert main(common) == 0 and server.state["hits"]["/ok"] == 1
    signed = (state / "golden-cache.json").read_text()
    mac, _, body = signed.partition("\n")
    assert len(mac) == 64 and json.loads(body)["answers"]  # this user's run: signed, and read back
    server.state["mode"] = "broken"
    planted = json.loads(body)
    for answer in planted["answers"].values():  # the attacker's answers pass the case whatever the app says
        answer["body"] = json.dumps({"a": 1, "text": "hello"})
    for forged in (json.dumps(planted), f"{'0' * 64}\n{json.dumps(planted)}"):  # unsigned, or a made-up signature
        (state / "golden-cache.json").write_text(forged)
        capsys.readouterr()
        main(common)
        err = capsys.readouterr().err
        assert "not written by this user's runs: not used as the response cache" in err, err
        assert server.state["hits"]["/ok"] >= 2  # the app was asked
    assert (state / "golden-cache.json").read_text().partition("\n")[0] != "0" * 64  # replaced by a signed file


class _Deep(BaseHTTPRequestHandler):
    """An app whose error answer is JSON nested `server.depth` deep (a string at the bottom)."""

    def log_message(self, *args):
        return

    def do_GET(self):
        depth = self.server.depth
        data = ("[" * depth + '"RuntimeError: deep down"' + "]" * depth).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.mark.parametrize("depth", [600, 100_000])
def test_an_answer_nested_past_the_decoder_or_the_walk_fails_its_case_not_the_run(tmp_path, capsys, depth):
    """The explanation of a failed case reads the answer's JSON strings: an answer nested past the decoder
    (100,000 brackets) or decoded but then walked by recursion (600 levels) raised RecursionError after the run,
    which ended as `input nested too deeply` (exit 2): no report, no last run kept, every case's result lost."""
    srv = QuietServer.start_on_loopback(_Deep)
    srv.depth = depth
    cases = tmp_path / "cases.yml"
    cases.write_text("cases:\n  - {id: deep, path: /deep}\n  - {id: also, path: /also}\n")
    try:
        code = main(["golden", "--url", url_of(srv), "--cases", str(cases), "--retries", "0", "--format", "json",
                     "--state-dir", str(tmp_path / "state")])
    finally:
        srv.stop()
    out, err = capsys.readouterr()
    assert code == 1, err
    report = json.loads(out)
    assert sorted((c["id"], c["outcome"]) for c in report["cases"]) == [("also", "fail"), ("deep", "fail")], report
    assert all(c["classification"]["label"] for c in report["cases"]), report
    assert (tmp_path / "state" / "golden-last-run.json").is_file()
