"""The predeploy golden check end to end: the example app in-process, the LLM stand-in, PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def predeploy(target: Path, env: dict[str, str]) -> tuple[int, dict]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "OPENAI_", "ANTHROPIC_", "CLAUDE_", "MOSAIC_DIAG_"))}
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--only", "golden", "--format", "json",
                        "--timeout", "60"], cwd=target, env={**base, "PYTHONPATH": str(ROOT), **env},
                       capture_output=True, text=True, timeout=180)
    # the app runs in-process: its log records are counted by the check, not printed
    assert "mosaic-diag: error" not in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "ERROR:" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


@pytest.mark.parametrize("cases", ["copied", "absolute"])
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
