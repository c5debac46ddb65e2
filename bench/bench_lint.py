"""Benchmark: `mosaic-diag lint` against `ruff check`, and the pre-commit hook on 50 staged files.

Run by hand: `python bench/bench_lint.py [--files 50] [--repeat 5]`. Whole processes, interpreter
start included, medians over `--repeat` runs, all in one run of this script:

1. the project's own `mosaic_diag/` + `examples/`: `mosaic-diag lint --no-cache` (cold: every file
   parsed, every SQL string through PostgreSQL's parser) against `ruff check --no-cache`, and the
   warm run (the content-hash cache primed) against `ruff check` with its cache. Targets (issue 15):
   cold <= 4x ruff without its cache, warm < 150 ms.
2. a throwaway git repository with `--files` generated Mosaic-like modules (about 120 lines each, a
   few findings), staged: `python -m mosaic_diag.lint.hook run` (what the installed hook executes)
   cold and warm, and `mosaic-diag lint` over the same files. Target: < 0.5 s.

The commands run with their bytecode cached (`PYTHONPYCACHEPREFIX` in a temporary directory, each
command run once untimed first), as an installed package has it; `--no-bytecode-cache` keeps the
environment as it is (with `PYTHONDONTWRITEBYTECODE=1` every run compiles the modules it imports).
The load average is printed before and after: on a shared machine, read the figures with it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULE = '''"""Generated module {n}."""

import logging
import uuid

logger = logging.getLogger(__name__)


def get_user_{n}(email: str):
    with get_conn() as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT id, email FROM users WHERE email = %s", (email,))
        return cursor.fetchone()


def create_user_{n}(email: str, password_hash: str) -> str:
    user_id = str(uuid.uuid4())
    with get_conn() as conn:
        cursor = conn.cursor()
        cursor.execute("""
            INSERT INTO users (id, email, password_hash, created_at)
            VALUES (%s, %s, %s, NOW())
            ON CONFLICT (email) DO NOTHING
            RETURNING id
        """, (user_id, email, password_hash))
        row = cursor.fetchone()
    return row[0] if row else user_id


def bad_{n}(email):
    conn = get_conn()
    return conn.execute("SELECT * FROM users WHERE email = ?", (email,))

'''

FILLER = '''
def helper_{n}_{i}(values: list[int]) -> int:
    total = 0
    for value in values:
        try:
            total += int(value)
        except ValueError:
            logger.warning("skipping %r", value)
    return total
'''


def make_repo(root: Path, files: int) -> None:
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / "schema.sql").write_text("CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT UNIQUE);\n")
    for n in range(files):
        body = MODULE.format(n=n) + "".join(FILLER.format(n=n, i=i) for i in range(8))
        (root / f"module_{n:03d}.py").write_text(body)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)


ENV: dict[str, str] = dict(os.environ)  # the environment of the timed commands (see main)
CPU: list[float] = []  # CPU seconds (user + sys, children included) of the last timed() call, per run


def timed(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, float, int]:
    """(median wall s, best wall s, exit code); the CPU time of each run goes to CPU (a figure that a
    busy machine disturbs less than wall time)."""
    times, code = [], 0
    CPU.clear()
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        code = subprocess.run(cmd, cwd=cwd, capture_output=True, env=ENV).returncode
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), min(times), code


ROOT = Path(__file__).resolve().parent.parent


def project(repeat: int) -> None:
    """Part 1: the project's own code, against ruff."""
    targets = ["mosaic_diag", "examples"]
    files = sum(1 for t in targets for p in (ROOT / t).rglob("*") if p.suffix in {".py", ".sql"})
    print(f"project: {' + '.join(targets)} ({files} .py/.sql files)")
    ruff = shutil.which("ruff")
    rows: list[tuple[str, list[str]]] = [
        ("python -c pass (interpreter start)", [sys.executable, "-c", "pass"]),
        ("mosaic-diag lint --no-cache (cold)", [sys.executable, "-m", "mosaic_diag", "lint", "--no-cache", *targets]),
        ("mosaic-diag lint (warm cache)", [sys.executable, "-m", "mosaic_diag", "lint", *targets]),
    ]
    if ruff:
        rows += [("ruff check --no-cache", [ruff, "check", "--no-cache", "-q", *targets]),
                 ("ruff check (warm cache)", [ruff, "check", "-q", *targets])]
    figures: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for label, cmd in rows:
        subprocess.run(cmd, cwd=ROOT, capture_output=True, env=ENV)  # the cache primed, the bytecode written
        median, best, code = timed(cmd, ROOT, repeat)
        figures[label] = median
        cpu[label] = statistics.median(CPU)
        print(f"  {label:42s} median {median * 1000:7.1f} ms  best {best * 1000:7.1f} ms  "
              f"cpu {cpu[label] * 1000:7.1f} ms  exit {code}")
    if ruff:
        cold = figures["mosaic-diag lint --no-cache (cold)"] / figures["ruff check --no-cache"]
        cold_cpu = cpu["mosaic-diag lint --no-cache (cold)"] / cpu["ruff check --no-cache"]
        warm = figures["mosaic-diag lint (warm cache)"]
        print(f"  cold / ruff --no-cache: {cold:.1f}x wall, {cold_cpu:.1f}x cpu (target <= 4x); "
              f"warm: {warm * 1000:.0f} ms (target < 150 ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="run the commands in this environment as it is (PYTHONDONTWRITEBYTECODE kept)")
    args = parser.parse_args()
    pycache = tempfile.TemporaryDirectory()
    if not args.no_bytecode_cache:
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        ENV["PYTHONPYCACHEPREFIX"] = pycache.name
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; bytecode "
          f"{'as the environment has it' if args.no_bytecode_cache else 'cached'}")
    project(args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_repo(root, args.files)
        lines = sum(len(p.read_text().splitlines()) for p in root.glob("*.py"))
        print(f"hook: {args.files} staged files, {lines} lines")
        hook = [sys.executable, "-m", "mosaic_diag.lint.hook", "run"]
        for label, cmd, cold in (
            ("python -c pass (interpreter start)", [sys.executable, "-c", "pass"], False),
            ("hook run, cold (no cache)", hook, True),
            ("hook run, warm (cache primed)", hook, False),
            ("mosaic-diag lint . (full CLI, warm)", [sys.executable, "-m", "mosaic_diag", "lint", "."], False),
        ):
            times, cpus = [], []
            subprocess.run(cmd, cwd=root, capture_output=True, env=ENV)  # the bytecode written
            for _ in range(args.repeat):
                if cold:
                    shutil.rmtree(root / ".mosaic-diag", ignore_errors=True)
                median, _best, code = timed(cmd, root, 1)
                times.append(median)
                cpus.extend(CPU)
            print(f"  {label:42s} median {statistics.median(times) * 1000:7.1f} ms  best {min(times) * 1000:7.1f} ms"
                  f"  cpu {statistics.median(cpus) * 1000:7.1f} ms  exit {code}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    pycache.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
