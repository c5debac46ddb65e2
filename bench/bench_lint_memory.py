"""Benchmark: the peak memory of `mosaic-diag lint --no-cache` on generated sources.

Run by hand: `python bench/bench_lint_memory.py [--functions 12000] [--files 50]`. Two throwaway
repositories, each linted once in one process (`taskset -c 0`: no worker fork, the parent holds it all):

1. one big generated file (about 7 MB at 12000: functions with SQL strings and `get_conn` calls, then a
   list literal of 60000 tuples): the syntax tree of a single file, parsed in pieces (`engine.parse_module`);
2. `--files` files of about 130 KB, each declaring a table in a CREATE TABLE string: the trees kept from
   reading the tables to linting (`engine.KEEP_TREES_BYTES`).

Peak RSS from `/usr/bin/time -f %M` (the process's own maximum resident set, KB), and its CPU time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FUNCTIONS = '''
def get_user_{i}(email: str):
    with get_conn() as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT id, email FROM users WHERE email = %s AND n = {i}", (email,))
        return cursor.fetchone()


def add_user_{i}(email: str):
    conn = get_conn()
    conn.execute("INSERT INTO users (email) VALUES (%s)", (email,))
    try:
        conn.commit()
    except Exception:
        pass
'''


def generated(functions: int) -> str:
    head = "import logging\n\nlogger = logging.getLogger(__name__)\n\n"
    data = "DATA = [\n" + "".join(f"    ({i}, 'item-{i}', {i * 0.5}),\n" for i in range(functions * 5)) + "]\n"
    return head + "".join(FUNCTIONS.format(i=i) for i in range(functions)) + data


def measure(label: str, cwd: Path, *targets: str) -> None:
    cmd = ["/usr/bin/time", "-f", "%M %U %S", "taskset", "-c", "0", sys.executable, "-m", "mosaic_diag", "lint",
           "--no-cache", *targets]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    kb, user, system = r.stderr.strip().splitlines()[-1].split()
    source = sum(p.stat().st_size for p in cwd.glob("*.py"))
    print(f"  {label:<44} source {source / 2**20:5.1f} MB  peak RSS {int(kb) / 1024:6.0f} MB "
          f"({int(kb) * 1024 / source:4.0f}x)  cpu {float(user) + float(system):5.2f} s  exit {r.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=12000)
    parser.add_argument("--files", type=int, default=50)
    args = parser.parse_args()
    if not (shutil.which("taskset") and Path("/usr/bin/time").exists()):
        sys.exit("needs /usr/bin/time and taskset")
    with tempfile.TemporaryDirectory() as tmp:
        big, many = Path(tmp) / "big", Path(tmp) / "many"
        for repo in (big, many):
            repo.mkdir()
            (repo / ".git").mkdir()
            (repo / "schema.sql").write_text("CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE);\n")
        (big / "gen_big.py").write_text(generated(args.functions))
        per_file = generated(args.functions // 50)
        for n in range(args.files):
            (many / f"m{n}.py").write_text(per_file + f"DDL = 'CREATE TABLE t{n} (id int PRIMARY KEY)'\n")
        measure("one big file", big, "gen_big.py")
        measure(f"{args.files} files declaring a table", many, ".")


if __name__ == "__main__":
    main()
