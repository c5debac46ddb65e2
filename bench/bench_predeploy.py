"""Benchmark: `mosaic-diag predeploy` on the example app, as a whole process. Target: < 5 s.

Run by hand: `python bench/bench_predeploy.py [--repeat 5]`. It starts a temporary PostgreSQL
(examples/pgtemp.py) with the app's schema.sql applied and the LLM stand-in
(examples/llm_standin.py), then times `mosaic-diag predeploy` in examples/mosaic_app (settings,
database, schema, prompt files, providers, lint, manifest; golden is skipped unless configured).
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
            times, codes = [], set()
            for _ in range(args.repeat):
                started = time.perf_counter()
                r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy"], cwd=app, env=env,
                                   capture_output=True, text=True)
                times.append(time.perf_counter() - started)
                codes.add(r.returncode)
            print(r.stdout[-2500:])
        finally:
            standin.stop()
    print(f"predeploy on the example app: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
          f"over {args.repeat} runs (exit codes {sorted(codes)}); target < 5 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
