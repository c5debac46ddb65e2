"""Benchmark: the pre-commit hook path on 50 staged files, interpreter start included.

Run by hand: `python bench/bench_lint.py [--files 50] [--repeat 5]`. It writes a throwaway git
repository under a temp dir with generated Mosaic-like modules (about 120 lines each, a few
findings), stages them, and times `python -m mosaic_diag.lint.hook run` (what the installed hook
executes) and `mosaic-diag lint` over the same files, as whole processes. Target: < 0.5 s.
"""

from __future__ import annotations

import argparse
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


def timed(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, float, int]:
    times, code = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        code = subprocess.run(cmd, cwd=cwd, capture_output=True).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_repo(root, args.files)
        lines = sum(len(p.read_text().splitlines()) for p in root.glob("*.py"))
        print(f"{args.files} staged files, {lines} lines")
        for label, cmd in (
            ("python -c pass (interpreter start)", [sys.executable, "-c", "pass"]),
            ("hook run (python -m mosaic_diag.lint.hook run)", [sys.executable, "-m", "mosaic_diag.lint.hook", "run"]),
            ("mosaic-diag lint . (full CLI)", [sys.executable, "-m", "mosaic_diag", "lint", "."]),
        ):
            median, best, code = timed(cmd, root, args.repeat)
            print(f"{label:45s} median {median * 1000:7.1f} ms  best {best * 1000:7.1f} ms  exit {code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
