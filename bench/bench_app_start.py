"""Start-up of the example app under uvicorn: wall and CPU from the spawn to uvicorn's "Application startup
complete" (ready), and to the first /health answered, in one or more source trees, rounds alternating.

`python bench/bench_app_start.py [--rounds 7] [--providers dead|live] [TREE ...]` (default: this checkout). Both AI
keys are set; their base URLs point at a closed loopback port (`dead`, the default: the /health probes fail at once,
as with a dead provider) or at the loopback provider stand-in run in this process (`live`: the probes answer 200);
bytecode caching is on, as an installed app runs; one uncounted round per tree first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
READY = "Application startup complete"
TICK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def one_start(tree: Path, tmp: Path, bases: tuple[str, str] | None = None) -> dict[str, float]:
    """Spawn the app from `tree`, return wall/CPU at ready and at the first /health answer; `bases`: the
    (OpenAI, Anthropic) base URLs, else a closed loopback port."""
    port, dead = _free_port(), _free_port()
    openai_base, anthropic_base = bases or (f"http://127.0.0.1:{dead}/v1", f"http://127.0.0.1:{dead}")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": str(tree), "SQLITE_PATH": str(tmp / "app.sqlite3"), "RENDER_GIT_COMMIT": "0" * 40,
            "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": openai_base,
            "ANTHROPIC_API_KEY": "sk-ant-bench", "ANTHROPIC_BASE_URL": anthropic_base,
            "LLM_MAX_RETRIES": "0", "HEALTH_AI_PROBE_TTL": "0"}
    env.pop("DATABASE_URL", None)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "examples.mosaic_app", "--port", str(port)], cwd=tree,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready = threading.Event()
    found: dict[str, float] = {}

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if READY in line and not ready.is_set():
                found["ready_wall"] = time.perf_counter() - start
                found["ready_cpu"] = _cpu(proc.pid)
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(120):
            raise RuntimeError(f"{tree}: the app never became ready")
        answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=60)
        found["health_wall"] = time.perf_counter() - start
        found["health_cpu"] = _cpu(proc.pid)
        found["health_status"] = answer.status_code
        found["ai"] = answer.json().get("ai")
    finally:
        proc.terminate()
        proc.wait(10)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("trees", nargs="*", type=Path, default=[ROOT])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--providers", choices=("dead", "live"), default="dead")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {str(t): [] for t in args.trees}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        bases = None
        if args.providers == "live":
            sys.path.insert(0, str(ROOT))
            from examples.llm_standin import LLMStandIn

            standin = stack.enter_context(LLMStandIn())
            bases = (standin.openai_base_url, standin.anthropic_base_url)
        for tree in args.trees:
            one_start(tree, Path(tmp), bases)  # writes the bytecode caches; not counted
        for _ in range(args.rounds):
            for tree in args.trees:
                runs[str(tree)].append(one_start(tree, Path(tmp), bases))
    report: dict[str, Any] = {"load_average": os.getloadavg(), "providers": args.providers}
    for tree, rows in runs.items():
        report[tree] = {key: round(statistics.median(r[key] for r in rows), 3)
                        for key in ("ready_wall", "ready_cpu", "health_wall", "health_cpu")}
        report[tree]["health_status"] = sorted({r["health_status"] for r in rows})
        report[tree]["ai"] = sorted({json.dumps(r["ai"], sort_keys=True) for r in rows})
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
