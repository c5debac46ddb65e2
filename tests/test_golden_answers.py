"""Golden sees bad answers: the example app in-process, the LLM stand-in answering truncated JSON,
prose, an array or other keys, a provider matrix that makes a failover visible, the harness's own
timeout (APP_TIMEOUT), SDK retries off by default, and start-up failures classified."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from examples.llm_standin import ANSWER_MODES
from mosaic_diag.cli import main
from tests.test_example_app import app_env

ROOT = Path(__file__).resolve().parent.parent
SHAPE_CASE = "model-answer-is-the-json-asked-for"


def golden(tmp_path: Path, *extra: str) -> list[str]:
    return ["golden", "--app", "examples.mosaic_app.main:app", "--cases", str(ROOT / "golden" / "wimd.yml"),
            "--state-dir", str(tmp_path / "state"), "--retries", "0", "--format", "json", *extra]


@pytest.fixture
def env(tmp_path, llm, monkeypatch):
    for key, value in app_env(tmp_path, llm).items():
        monkeypatch.setenv(key, value)
    return llm


def run_json(capsys, args: list[str]) -> tuple[int, dict]:
    code = main(args)
    return code, json.loads(capsys.readouterr().out)


def test_the_shipped_wimd_cases_pass_against_good_answers(tmp_path, env, capsys):
    code, data = run_json(capsys, golden(tmp_path))
    assert code == 0, [c for c in data["cases"] if not c["ok"]]
    assert data["summary"]["total"] >= 11


@pytest.mark.parametrize("mode", ANSWER_MODES)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_answers_that_are_not_the_json_asked_for_fail(tmp_path, env, capsys, mode, provider):
    """The app answers 200 with json_valid false and the raw text: the shipped cases fail."""
    env.set_failure(provider, mode)
    code, data = run_json(capsys, golden(tmp_path, "--provider", provider))
    assert code == 1
    by_id = {c["id"]: c for c in data["cases"]}
    shape = by_id[f"{SHAPE_CASE}[{provider}]"]
    assert not shape["ok"] and "json_path $.json_valid: false != true" in shape["failures"]
    assert all(a["status"] == 200 for a in shape["attempts"])  # the app itself did not notice
    refused = {i for i, c in by_id.items() if i.startswith("refuses-")}
    asked_the_model = [c for i, c in by_id.items() if i not in refused and not i.startswith("empty-prompt")]
    assert asked_the_model and not any(c["ok"] for c in asked_the_model)  # the schema's json_valid: const true
    assert all(by_id[i]["ok"] for i in refused)  # no model call: still fine


def test_provider_matrix_makes_a_failover_visible(tmp_path, env, capsys):
    """OpenAI (the primary) is dead; the app fails over to Anthropic and every case passes. Per
    provider, the OpenAI run fails with OpenAI's label and the Anthropic run passes."""
    env.set_failure("openai", "auth")
    code, _ = run_json(capsys, golden(tmp_path, "-k", SHAPE_CASE))
    assert code == 0  # the failover hides the dead provider
    code, data = run_json(capsys, golden(tmp_path, "-k", SHAPE_CASE, "--provider", "all"))
    assert code == 1
    by_id = {c["id"]: c for c in data["cases"]}
    assert set(by_id) == {f"{SHAPE_CASE}[openai]", f"{SHAPE_CASE}[anthropic]"}
    dead, alive = by_id[f"{SHAPE_CASE}[openai]"], by_id[f"{SHAPE_CASE}[anthropic]"]
    assert alive["ok"] and not dead["ok"]
    assert dead["attempts"][0]["status"] == 503 and dead["classification"]["label"] == "OPENAI_INVALID_KEY"
    asked = [r["path"] for r in env.requests if r["path"] != "/v1/models"]
    assert asked.count("/v1/messages") == 2  # the failover run and the anthropic run; none for the openai run


def test_the_harness_timeout_is_app_timeout_and_a_junit_error(tmp_path, env, capsys):
    env.set_failure("all", "slow", delay=2)
    junit = tmp_path / "g.xml"
    code, data = run_json(capsys, golden(tmp_path, "-k", SHAPE_CASE, "--timeout", "0.5", "--junit", str(junit)))
    deadline = time.monotonic() + 20  # the app's call still in flight: let it land before the next test
    while not any(r["path"] == "/v1/chat/completions" for r in env.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert code == 1
    [case] = data["cases"]
    assert case["outcome"] == "error" and case["classification"]["label"] == "APP_TIMEOUT"
    assert case["classification"]["playbook"] == "app-timeout"
    assert "the app did not answer within 0.5s" in case["failures"][0]
    text = junit.read_text()
    assert 'errors="1"' in text and "<error " in text and "<failure" not in text
    xmlschema = pytest.importorskip("xmlschema")
    xmlschema.XMLSchema(str(Path(__file__).with_name("junit.xsd"))).validate(text)


def limited_chats(llm) -> int:
    """Chat requests answered 429 (a slow answer of an earlier test may still land in the log)."""
    return sum(1 for r in llm.requests if r["path"] == "/v1/chat/completions" and r["status"] == 429)


def test_rate_limited_run_has_no_sdk_retries_unless_asked(tmp_path, env, capsys, monkeypatch):
    monkeypatch.delenv("LLM_MAX_RETRIES")  # the default: the golden run sets 0
    env.set_failure("all", "rate_limit")
    code, data = run_json(capsys, golden(tmp_path, "-k", SHAPE_CASE))  # (also imports both SDKs in the app)
    assert code == 1 and limited_chats(env) == 1
    env.reset()
    env.set_failure("all", "rate_limit")
    start = time.monotonic()
    code, data = run_json(capsys, golden(tmp_path, "-t", "ps101"))
    elapsed = time.monotonic() - start
    assert code == 1 and data["cases"]
    assert limited_chats(env) == len(data["cases"])  # one try per case: no SDK retries (the SDKs' default is 2)
    assert elapsed < 60, elapsed  # a liveness bound (the count above is the check: the SDKs would retry twice)
    env.reset()
    env.set_failure("all", "rate_limit")
    code, data = run_json(capsys, golden(tmp_path, "-k", SHAPE_CASE, "--sdk-retries", "1"))
    assert code == 1
    assert limited_chats(env) == 2  # asked for: 1 retry


STARTS_BADLY = '''
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI


@asynccontextmanager
async def lifespan(app):
    os.environ["MOSAIC_TEST_REQUIRED_SETTING"]  # a required setting that is not set
    yield


app = FastAPI(lifespan=lifespan)
'''


def test_an_app_that_fails_to_start_is_classified(tmp_path, capsys, monkeypatch):
    (tmp_path / "bad_start_app.py").write_text(STARTS_BADLY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOSAIC_TEST_REQUIRED_SETTING", raising=False)
    code = main(["golden", "--app", "bad_start_app:app", "--cases", str(ROOT / "golden" / "wimd.yml"),
                 "--state-dir", str(tmp_path / "state")])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err
    assert "the app failed to start: KeyError: 'MOSAIC_TEST_REQUIRED_SETTING'" in err
    assert "[label ENV_VAR_MISSING, playbook " in err


def test_an_app_that_fails_at_import_is_classified_too(tmp_path, capsys, monkeypatch):
    """A required setting read at module level: exit 2 (cannot import), with its label as a failed start has."""
    (tmp_path / "bad_import_app.py").write_text("import os\n\nDSN = os.environ['MOSAIC_TEST_REQUIRED_SETTING']\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOSAIC_TEST_REQUIRED_SETTING", raising=False)
    common = ["--cases", str(ROOT / "golden" / "wimd.yml"), "--state-dir", str(tmp_path / "state")]
    assert main(["golden", "--app", "bad_import_app:app", *common]) == 2
    err = capsys.readouterr().err
    assert "cannot import 'bad_import_app': KeyError: 'MOSAIC_TEST_REQUIRED_SETTING' [label ENV_VAR_MISSING" in err
    assert main(["golden", "--app", "no_such_app_module:app", *common]) == 2
    err = capsys.readouterr().err
    assert "ModuleNotFoundError" in err and "[label" not in err


BARE_ASGI = '''
async def app(scope, receive, send):
    {guard}
    await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}})
    await send({{"type": "http.response.body", "body": b'{{"answer": "ok"}}'}})
'''


@pytest.mark.parametrize(("guard", "why"), [('assert scope["type"] == "http"', "AssertionError"),
                                           ('if scope["type"] != "http":\n        return', "it returned")])
def test_an_app_without_the_lifespan_protocol_is_run_as_uvicorn_runs_it(tmp_path, capsys, monkeypatch, guard, why):
    """A bare ASGI app serving `http` only (uvicorn's default `--lifespan auto` runs it, saying the protocol is
    unsupported) failed to start under `golden --app`: `TypeError: 'NoneType' object is not subscriptable`, from
    Starlette's test client. It is run without a lifespan and a note says so; its cases are judged."""
    (tmp_path / "bare_asgi_app.py").write_text(BARE_ASGI.format(guard=guard))
    (tmp_path / "cases.yml").write_text("cases:\n  - {id: bare, path: /ask, method: GET, expect: {status: 200}}\n")
    monkeypatch.chdir(tmp_path)
    code = main(["golden", "--app", "bare_asgi_app:app", "--cases", "cases.yml", "--state-dir", str(tmp_path / "st"),
                 "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err, err
    assert f"the app does not take part in the ASGI lifespan protocol ({why} before its start-up)" in err, err
    assert json.loads(out)["summary"]["passed"] == 1, out


def test_the_stand_in_answer_modes_spoil_the_json_each_its_own_way():
    from examples.llm_standin import answer_text

    good = json.loads(answer_text("q", as_json=True))
    assert set(good) == {"answer", "question"}
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer_text("q", as_json=True, shape="truncated_json"))
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer_text("q", as_json=True, shape="prose"))
    assert isinstance(json.loads(answer_text("q", as_json=True, shape="json_array")), list)
    assert "answer" not in json.loads(answer_text("q", as_json=True, shape="wrong_shape"))
