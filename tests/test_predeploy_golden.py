"""The predeploy golden check end to end: the example app in-process, the LLM stand-in, PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mosaic_diag.checks.predeploy import predeploy as predeploy_in_process

ROOT = Path(__file__).resolve().parents[1]


def run_predeploy(target: Path, env: dict[str, str], *timeout: str) -> subprocess.CompletedProcess[str]:
    """`mosaic-diag predeploy --only golden` as a user runs it, with only `env` of the app's variables."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "OPENAI_", "ANTHROPIC_", "CLAUDE_", "MOSAIC_DIAG_", "LLM_"))}
    return subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--only", "golden", "--format", "json",
                           *timeout], cwd=target, env={**base, "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=180)


def predeploy(target: Path, env: dict[str, str]) -> tuple[int, dict]:
    r = run_predeploy(target, env, "--timeout", "60")
    # the app runs in-process: its log records are counted by the check, not printed
    assert "mosaic-diag: error" not in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "ERROR:" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


@pytest.mark.parametrize("cases", ["copied", "absolute"])
@pytest.mark.slow
def test_golden_check_passes_then_fails_with_the_providers_label(tmp_path, llm, pg_db, cases):
    target = tmp_path / "mosaic"
    target.mkdir()
    if cases == "copied":  # a relative `golden_cases`, resolved against the target repository
        shutil.copytree(ROOT / "golden", target / "golden")
        cases_dir = target / "golden"
    else:  # an absolute one, outside the target
        cases_dir = ROOT / "golden"
    (target / "pyproject.toml").write_text(
        '[tool.mosaic-diag.predeploy]\ngolden_app = "examples.mosaic_app.main:app"\n'
        f'golden_cases = "{"golden" if cases == "copied" else cases_dir}"\n')
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.openai_base_url,
           "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": llm.anthropic_base_url, "DATABASE_URL": pg_db,
           "LLM_MAX_RETRIES": "0"}
    code, data = predeploy(target, env)
    golden = next(c for c in data["checks"] if c["check"] == "golden")
    assert code == 0, golden
    assert golden["status"] == "passed" and golden["results"] == []
    assert any(r["path"] == "/v1/chat/completions" for r in llm.requests)  # the app really asked the stand-in

    llm.set_failure("all", "rate_limit")
    code, data = predeploy(target, env)
    golden = next(c for c in data["checks"] if c["check"] == "golden")
    assert code == 1 and golden["status"] == "failed" and data["summary"]["exit_code"] == 1
    logged = [r for r in golden["results"] if r["id"] == "MD-GOLDEN003"]
    cases_failed = [r for r in golden["results"] if r["id"] != "MD-GOLDEN003"]
    failed = {r["message"].split(":")[0] for r in cases_failed}
    assert "case framework-stuck-in-career" in failed
    # both providers fail: the first (most severe, then first seen) is the result's label; all are named
    assert {r["label"] for r in cases_failed} == {"OPENAI_RATE_LIMIT"}
    assert all(r["message"].endswith("(OPENAI_RATE_LIMIT + ANTHROPIC_RATE_LIMIT)") for r in cases_failed)
    assert {r["id"] for r in cases_failed} == {"MD-GOLDEN001"}
    (note,) = logged  # the app's own error records, counted (two per failed case: one per provider)
    assert note["level"] == "info" and f"logged {2 * len(cases_failed)} error record(s)" in note["message"]
    assert "openai.RateLimitError" in note["message"] and "sk-test" not in json.dumps(data)
    for r in cases_failed:  # each failure points at its case: file:line of the `- id:` line
        file, line = r["location"].rsplit(":", 1)
        assert Path(file).resolve().parent == cases_dir.resolve()
        case_id = r["message"].split(":")[0].removeprefix("case ")
        assert Path(file).read_text().splitlines()[int(line) - 1].strip() == f"- id: {case_id}"


def test_golden_check_with_a_broken_cases_file_is_golden002(tmp_path, llm, pg_db):
    target = tmp_path / "mosaic"
    (target / "golden").mkdir(parents=True)
    (target / "golden" / "broken.yml").write_text("cases:\n  - id: a\n    request: [unclosed\n")
    (target / "pyproject.toml").write_text(
        '[tool.mosaic-diag.predeploy]\ngolden_app = "examples.mosaic_app.main:app"\n')
    code, data = predeploy(target, {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.openai_base_url,
                                    "DATABASE_URL": pg_db})
    golden = next(c for c in data["checks"] if c["check"] == "golden")
    assert code == 1 and [r["id"] for r in golden["results"]] == ["MD-GOLDEN002"]
    bad = golden["results"][0]
    assert bad["location"] == f"{target / 'golden' / 'broken.yml'}:4" and bad["message"].startswith("invalid YAML")
    assert llm.requests == []  # nothing was run


@pytest.mark.slow
def test_rate_limited_golden_check_is_quiet_fast_and_keeps_the_app_errors(tmp_path, llm, pg_db):
    """Both providers rate-limited and no LLM_MAX_RETRIES: the app's tracebacks are counted in the check's
    details, not printed, and the SDKs do not retry (one request per provider and case: what kept a
    rate-limited run from eating the default 10 s timeout; its speed is measured in bench/, not here)."""
    target = tmp_path / "mosaic"
    target.mkdir()
    (target / "pyproject.toml").write_text(
        '[tool.mosaic-diag.predeploy]\ngolden_app = "examples.mosaic_app.main:app"\n'
        f'golden_cases = "{ROOT / "golden"}"\n')
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.openai_base_url,
           "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": llm.anthropic_base_url, "DATABASE_URL": pg_db}
    llm.set_failure("all", "rate_limit")
    r = run_predeploy(target, env, "--timeout", "120")  # a busy machine must not turn this into a timeout
    assert r.stderr == "", r.stderr  # no traceback, no log line: nothing of the app on the terminal
    data = json.loads(r.stdout)
    (golden,) = data["checks"]
    assert r.returncode == 1 and golden["status"] == "failed", golden
    cases_failed = [x for x in golden["results"] if x["id"] == "MD-GOLDEN001"]
    assert cases_failed and all(x["label"] == "OPENAI_RATE_LIMIT" for x in cases_failed)
    # one request per provider and failed case: the in-process app ran without SDK retries
    asked = [q["path"] for q in llm.requests]
    assert asked.count("/v1/chat/completions") == asked.count("/v1/messages") == len(cases_failed)

    (note,) = [x for x in golden["results"] if x["id"] == "MD-GOLDEN003"]
    assert note["level"] == "info"
    message = note["message"]
    assert f"the app logged {2 * len(cases_failed)} error record(s)" in message  # a failover + a last resort
    n = len(cases_failed)
    assert ("ERROR:api.ai_clients:[FAILOVER] openai call failed, trying anthropic (openai.RateLimitError: "
            "Error code: 429 - Rate limit reached for") in message
    assert f") ({n}x) | ERROR:api.ai_clients:anthropic call failed; no provider left (anthropic.RateLimitError: " \
           in message
    assert "Traceback" not in message and "sk-test" not in r.stdout


def _one_case_target(tmp_path: Path) -> Path:
    """A target repository with one golden case (POST /wimd/ask) against the in-process example app."""
    target = tmp_path / "mosaic"
    (target / "golden").mkdir(parents=True)
    (target / "golden" / "ask.yml").write_text(
        'cases:\n  - id: ask\n    path: /wimd/ask\n    method: POST\n    prompt: "I feel stuck"\n'
        '    expect: {status: 200}\n')
    (target / "pyproject.toml").write_text(
        '[tool.mosaic-diag.predeploy]\ngolden_app = "examples.mosaic_app.main:app"\n')
    return target


def test_a_user_set_llm_max_retries_is_kept(tmp_path, llm, pg_db):
    """The user's LLM_MAX_RETRIES wins over the check's default of none: one SDK retry per provider."""
    target = _one_case_target(tmp_path)
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.openai_base_url, "ANTHROPIC_API_KEY": "test",
           "ANTHROPIC_BASE_URL": llm.anthropic_base_url, "DATABASE_URL": pg_db, "LLM_MAX_RETRIES": "1"}
    llm.set_failure("all", "overloaded")  # retried by both SDKs, after a short backoff
    r = run_predeploy(target, env, "--timeout", "30")
    assert r.stderr == "", r.stderr
    (golden,) = json.loads(r.stdout)["checks"]
    assert [x["id"] for x in golden["results"]] == ["MD-GOLDEN001", "MD-GOLDEN003"], golden
    asked = [q["path"] for q in llm.requests]
    assert asked.count("/v1/chat/completions") == asked.count("/v1/messages") == 2


def test_in_process_check_restores_logging_and_environment(tmp_path, llm, pg_db, monkeypatch, capfd):
    """predeploy in this process: a terminal handler on the root logger and an app logger with a
    handler of its own print nothing while the check runs, and everything is as before afterwards."""
    target = _one_case_target(tmp_path)
    for key, value in {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.openai_base_url,
                       "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": llm.anthropic_base_url,
                       "DATABASE_URL": pg_db, "SQLITE_PATH": str(tmp_path / "fallback.sqlite3")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LLM_MAX_RETRIES", raising=False)
    llm.set_failure("openai", "rate_limit")
    llm.set_failure("anthropic", "auth")
    monkeypatch.setattr(sys, "path", list(sys.path))  # (the golden app's directory goes first in it, for good)

    root, app_logger = logging.getLogger(), logging.getLogger("api")
    terminal = logging.StreamHandler(sys.stderr)  # what `logging.basicConfig` puts on the root logger
    own = logging.StreamHandler(sys.stderr)       # an app logger that prints by itself
    root.addHandler(terminal)
    app_logger.addHandler(own)
    monkeypatch.setattr(app_logger, "propagate", False)
    root_level = root.level
    root.setLevel(logging.CRITICAL)  # a quiet root logger: the error records are still counted
    before = (root.handlers[:], app_logger.handlers[:])
    try:
        capfd.readouterr()
        # (a timeout no loaded machine reaches: past it the check's thread is left running with the capture on)
        report = predeploy_in_process(target, dict(os.environ), only=["golden"], timeout=60)
        err = capfd.readouterr().err
        after = (root.handlers[:], app_logger.handlers[:])
        levels = root.level, app_logger.propagate
    finally:
        root.removeHandler(terminal)
        app_logger.removeHandler(own)
        root.setLevel(root_level)
    assert err == "", err
    assert after == before and levels == (logging.CRITICAL, False)
    assert "LLM_MAX_RETRIES" not in os.environ
    (outcome,) = report.outcomes
    ids = [x.id for x in outcome.results]
    assert ids == ["MD-GOLDEN001", "MD-GOLDEN003"], outcome
    assert outcome.results[0].label == "ANTHROPIC_INVALID_KEY"  # most severe of the two
    assert "ANTHROPIC_INVALID_KEY + OPENAI_RATE_LIMIT" in outcome.results[0].message
    note = outcome.results[1].message
    assert note.startswith("the app logged 2 error record(s)")
    assert "(openai.RateLimitError: " in note and "(anthropic.AuthenticationError: " in note
    assert [q["path"] for q in llm.requests].count("/v1/chat/completions") == 1  # no SDK retry

    # afterwards the app's records reach the handlers again
    logging.getLogger("api.ai_clients").error("after the check")
    assert "after the check" in capfd.readouterr().err


@pytest.mark.slow
def test_a_hanging_provider_stops_the_golden_run_in_time_with_its_cases_named(tmp_path, llm, pg_db):
    """The provider never answers: the golden run stops at its budget (here `golden.global_timeout`, starting the
    app included) and names the case it did not finish; it was MD-TIMEOUT, the report lost, because closing the
    in-process app waited for the request still in flight."""
    target = _one_case_target(tmp_path)
    # a run budget wide enough for a busy machine's start of the example app (up to 5.5 s seen under load), far
    # short of the hang; the check's timeout leaves 22 seconds after it to judge, explain and close (the
    # default, a fifth of the timeout, was overrun once on a machine running the suite and more beside it)
    with (target / "pyproject.toml").open("a") as f:
        f.write("\n[tool.mosaic-diag.golden]\nglobal_timeout = 8\n")
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.openai_base_url, "ANTHROPIC_API_KEY": "test",
           "ANTHROPIC_BASE_URL": llm.anthropic_base_url, "DATABASE_URL": pg_db}
    llm.set_failure("all", "slow", delay=600)  # (cut short when the session's stand-in stops)
    r = run_predeploy(target, env, "--timeout", "30")
    assert "Traceback" not in r.stderr and "MD-TIMEOUT" not in r.stdout, r.stderr
    (golden,) = json.loads(r.stdout)["checks"]
    assert [x["id"] for x in golden["results"]] == ["MD-GOLDEN001"], golden
    assert golden["results"][0]["message"].startswith("case ask: error: not finished: the global timeout (8s)")
