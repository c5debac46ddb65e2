"""Benchmark: what checking the pushed commit's checkout adds to `mosaic-diag deploy`.

Run by hand: `python bench/bench_deploy_checkout.py [--repeat 5] [--before DIR]`, DIR holding the code
to compare with (e.g. `git archive <commit> | tar -x -C DIR`).
It seeds the example app's repository (examples/local_render.py's seed_app_repo) with a bare remote, its
golden case against the in-process app (GET /health, SQLite, no provider), and a new commit; then times,
alternately with the code at --before (the working tree checked) and this checkout's code:
`deploy --dry-run` (no predeploy: the same either way) and the predeploy step of a real deploy, which a
pre-push hook that refuses ends right after (nothing is pushed). Figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PREDEPLOY = 'skip = ["settings", "database", "schema", "providers"]\ngolden_app = "examples.mosaic_app.main:app"\n'


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _deploy(code: Path, work: Path, env: dict[str, str], *args: str) -> tuple[float, dict]:
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "deploy", "--health-url", "http://127.0.0.1:9/health",
                        "--format", "json", *args], cwd=work, env={**env, "PYTHONPATH": str(code)},
                       capture_output=True, text=True, timeout=600)
    return time.perf_counter() - started, json.loads(r.stdout)


def main() -> int:
    from examples.local_render import seed_app_repo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", type=Path, required=True, help="a directory holding the code to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        remote, work = Path(tmp) / "remote.git", Path(tmp) / "work"
        _git(Path(tmp), "init", "-q", "--bare", "-b", "main", str(remote))
        seed_app_repo(work, remote)
        # (the seeded file ends in its [tool.mosaic-diag.predeploy] table)
        (work / "pyproject.toml").write_text((work / "pyproject.toml").read_text() + PREDEPLOY)
        (work / "golden").mkdir()
        (work / "golden" / "health.yml").write_text("cases:\n  - id: health\n    path: /health\n"
                                                    "    expect: {status: 200}\n")
        _git(work, "add", "-A")
        _git(work, "commit", "-q", "-m", "golden case")
        hook = work / ".git" / "hooks" / "pre-push"
        hook.write_text("#!/bin/sh\nexit 1\n")
        hook.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOSAIC_DIAG_", "RENDER_", "DATABASE_URL"))
               and k != "PYTHONDONTWRITEBYTECODE"}  # (as an operator's shell: both codes' bytecode written once)
        env.update(SQLITE_PATH=str(Path(tmp) / "app.sqlite3"), GIT_AUTHOR_NAME="b", GIT_COMMITTER_NAME="b",
                   GIT_AUTHOR_EMAIL="b@example.invalid", GIT_COMMITTER_EMAIL="b@example.invalid")
        figures: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
        for code in (args.before, ROOT, args.before, ROOT):  # (not counted: the bytecode of both is written)
            _deploy(code, work, env)
        for _ in range(args.repeat):
            for name, code in (("before", args.before), ("after", ROOT)):
                seconds, _ = _deploy(code, work, env, "--dry-run")
                figures[name].setdefault("dry-run (whole process)", []).append(seconds)
                seconds, report = _deploy(code, work, env)
                step = next(s for s in report["steps"] if s["step"] == "predeploy")
                if step["status"] != "ok":
                    raise SystemExit(f"{name}: predeploy {step['status']}: {step['message']}")
                figures[name].setdefault("deploy (whole process, ends at the push)", []).append(seconds)
                figures[name].setdefault("predeploy step", []).append(step["seconds"])
    for name, rows in figures.items():
        for what, values in rows.items():
            print(f"{name:6} {what}: median {statistics.median(values):.3f} s, max {max(values):.3f} s "
                  f"over {len(values)} runs")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
