"""The predeploy golden check end to end: the example app in-process, the LLM stand-in, PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def predeploy(target: Path, env: dict[str, str]) -> tuple[int, dict]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "OPENAI_", "ANTHROPIC_", "CLAUDE_", "MOSAIC_DIAG_"))}
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--only", "golden", "--format", "json",
                        "--timeout", "60"], cwd=target, env={**base, "PYTHONPATH": str(ROOT), **env},
                       capture_output=True, text=True, timeout=180)
    # the app runs in-process and logs its own tracebacks on stderr; mosaic-diag's output is the JSON
    assert "mosaic-diag: error" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_golden_check_passes_then_fails_with_the_providers_label(tmp_path, llm, pg_db):
    target = tmp_path / "mosaic"
    shutil.copytree(ROOT / "golden", target / "golden")
    (target / "pyproject.toml").write_text(
        '[tool.mosaic-diag.predeploy]\ngolden_app = "examples.mosaic_app.main:app"\ngolden_cases = "golden"\n')
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.openai_base_url,
           "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": llm.anthropic_base_url, "DATABASE_URL": pg_db,
           "LLM_MAX_RETRIES": "0"}
    code, data = predeploy(target, env)
    golden = next(c for c in data["checks"] if c["check"] == "golden")
    assert code == 0, golden
    assert golden["status"] == "passed" and golden["results"] == []
    llm.set_failure("all", "rate_limit")
    code, data = predeploy(target, env)
    golden = next(c for c in data["checks"] if c["check"] == "golden")
    assert code == 1
    failed = {r["message"].split(":")[0] for r in golden["results"]}
    assert "case framework-stuck-in-career" in failed
    assert {r["label"] for r in golden["results"]} == {"OPENAI_RATE_LIMIT"}
    assert all(r["id"] == "MD-GOLDEN001" and r["location"].startswith("golden/") or "golden" in r["location"]
               for r in golden["results"])
