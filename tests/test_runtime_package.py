"""The runtime package stays light: no Typer, Rich or CLI, and heavy parts load only when used."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import mosaic_diag.runtime as runtime

ROOT = Path(__file__).resolve().parent.parent


def loaded_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return {name.split(".")[0] for name in json.loads(out.stdout)} | set(json.loads(out.stdout))


def test_importing_the_kit_loads_no_cli_and_nothing_heavy():
    loaded = loaded_after("from mosaic_diag.runtime import llm_call, failover, classify_exception, RetryPolicy")
    for name in ("typer", "rich", "click", "mosaic_diag.cli", "mosaic_diag.commands", "fastapi", "psycopg2",
                 "pydantic", "pybreaker", "tenacity", "openai", "anthropic"):
        assert name not in loaded, name


def test_every_export_resolves():
    for name in runtime.__all__:
        value = getattr(runtime, name)
        assert (name == "instrument") == isinstance(value, types.ModuleType), name
    assert hasattr(runtime.instrument, "Middleware")
