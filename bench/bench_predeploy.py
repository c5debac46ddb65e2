"""Benchmark: `mosaic-diag predeploy` on the example app, as a whole process. Target: < 2 s.

Run by hand: `python bench/bench_predeploy.py [--repeat 5] [--golden]`. It starts a temporary
PostgreSQL (examples/pgtemp.py) with the app's schema.sql applied and the LLM stand-in
(examples/llm_standin.py), then times `mosaic-diag predeploy` in examples/mosaic_app (settings,
database, schema, prompt files, providers, lint, manifest; golden is skipped unless configured:
`--golden` configures it through the environment, the app in-process against golden/).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from examples.llm_standin import LLMStandIn
    from examples.pgtemp import TempPostgres

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--golden", action="store_true", help="also run the golden cases against the app")
    args = parser.parse_args()
    app = ROOT / "examples" / "mosaic_app"
    with tempfile.TemporaryDirectory() as tmp, TempPostgres(Path(tmp) / "pg") as pg:
        import psycopg2

        dsn = pg.dsn("mosaic", sslmode="prefer")
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute((app / "schema.sql").read_text())
        standin = LLMStandIn().start()
        try:
            env = {**os.environ, "DATABASE_URL": dsn, "OPENAI_API_KEY": "sk-bench", "ANTHROPIC_API_KEY": "bench",
                   "OPENAI_BASE_URL": standin.openai_base_url, "ANTHROPIC_BASE_URL": standin.anthropic_base_url}
            if args.golden:
                env.update({"MOSAIC_DIAG_PREDEPLOY_GOLDEN_APP": "examples.mosaic_app.main:app",
                            "MOSAIC_DIAG_PREDEPLOY_GOLDEN_CASES": str(ROOT / "golden"),
                            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))})
            times, cpu, codes = [], [], set()
            for _ in range(args.repeat):
                before = os.times()
                started = time.perf_counter()
                r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy"], cwd=app, env=env,
                                   capture_output=True, text=True)
                times.append(time.perf_counter() - started)
                after = os.times()
                cpu.append(after.children_user + after.children_system - before.children_user
                           - before.children_system)
                codes.add(r.returncode)
            print(r.stdout[-2500:])
        finally:
            standin.stop()
    what = "predeploy on the example app" + (" with golden" if args.golden else "")
    print(f"{what}: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
          f"over {args.repeat} runs (exit codes {sorted(codes)}); target < 2 s")
    print(f"CPU time of the command (user + system): median {statistics.median(cpu):.2f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
