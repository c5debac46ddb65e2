"""Time the log reader (and `mosaic-diag triage`) on the generated logs; run by hand, never in tests.

    python bench/generate.py --lines 1000000 5000000
    python bench/run.py                          # every bench/out/*.log
    python bench/run.py bench/out/render-text-1M.log --no-triage

The code measured is the `mosaic_diag` this interpreter imports (printed first): run with
`PYTHONPATH=<tree>` to measure a worktree or an export of another commit; the children, the installed
`mosaic-diag` script included, inherit the environment, and a path on PYTHONPATH comes before an
editable install (the reader's child runs with `-P`: its working directory, this checkout, would come
first otherwise).

Each measurement runs in a child process (peak RSS and CPU time from
resource.getrusage(RUSAGE_CHILDREN) of that child alone). `grep -c ERROR` on the same file gives a
floor for comparison; the framework document's per-line `classify_error` loop (bench/naive.py) is
the baseline: `triage_vs_naive` is triage's CPU over the naive loop's CPU, both whole processes, in
the same run; `per_line_vs_naive` subtracts each command's CPU on an empty file (start-up) first.
Also times `mosaic-diag --help` (start-up) over 10 runs.

`--repeat N` (default 3) runs the naive loop and triage N times each on every file, alternating, and
reports the median of the N ratios (`triage_vs_naive`, with each run's `naive/triage` CPU seconds in
`runs`) and the ratio of the least CPU each took (`min_vs_min`: a neighbour's burst only ever adds CPU
time, so the least of N runs is the least disturbed). The load average
is printed before and after. Children run with bytecode caching on (PYTHONDONTWRITEBYTECODE dropped,
the package compiled first), as an installed package runs.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"

_READER = r"""
import json, sys, time
from mosaic_diag.logs import ReadStats, open_source, read_events
t = time.perf_counter()
stats = ReadStats(); n = 0
with open_source(sys.argv[1]) as src:
    for _ in read_events(src, stats, name=sys.argv[1]):
        n += 1
print(json.dumps({"seconds": time.perf_counter() - t, "lines": stats.lines, "events": n}))
"""


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
LAST_CPU = [0.0]  # CPU seconds (user + system) of the last run_child


def run_child(cmd: list[str]) -> tuple[float, float, int, bytes]:
    """(wall seconds, peak RSS MB, exit code, stdout) of `cmd`, measured through a helper process
    (its CPU seconds in LAST_CPU[0])."""
    helper = [sys.executable, "-c",
              "import json,resource,subprocess,sys,time;"
              "t=time.perf_counter();"
              "p=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE,stderr=subprocess.DEVNULL);"
              "w=time.perf_counter()-t;"
              "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
              "sys.stdout.buffer.write(json.dumps({'wall':w,'rss_kb':u.ru_maxrss,'cpu':u.ru_utime+u.ru_stime,"
              "'rc':p.returncode}).encode()+b'\\n'+p.stdout)",
              *cmd]
    proc = subprocess.run(helper, stdout=subprocess.PIPE, cwd=ROOT, check=True, env=ENV)
    head, _, rest = proc.stdout.partition(b"\n")
    meta = json.loads(head)
    LAST_CPU[0] = meta["cpu"]
    return meta["wall"], meta["rss_kb"] / 1024, meta["rc"], rest


def _script() -> str | None:
    """The installed console script: the one beside this interpreter (not a version manager's shim,
    whose own start-up is not the command's), else whatever PATH finds."""
    here = Path(sys.executable).parent / "mosaic-diag"
    return str(here) if here.is_file() else shutil.which("mosaic-diag")


def bench_file(path: Path, *, triage: bool, repeat: int = 3) -> dict[str, object]:
    row: dict[str, object] = {"file": path.name, "mb": round(path.stat().st_size / 1e6, 1)}
    # -P: the current directory (the worktree run.py sits in) does not come before PYTHONPATH's tree
    wall, rss, rc, out = run_child([sys.executable, "-P", "-c", _READER, str(path)])
    res = json.loads(out)
    row.update(lines=res["lines"], events=res["events"], reader_s=round(res["seconds"], 2),
               reader_lines_per_s=int(res["lines"] / res["seconds"]), reader_rss_mb=round(rss, 1))
    if shutil.which("grep"):
        wall, _, _, _ = run_child(["grep", "-c", "ERROR", str(path)])
        row["grep_c_s"] = round(wall, 2)
    exe = _script()
    if not (triage and exe and _has_triage()):
        run_child([sys.executable, str(NAIVE), str(path)])
        row["naive_cpu_s"] = round(LAST_CPU[0], 2)
        return row
    runs = []
    for _ in range(max(1, repeat)):
        run_child([sys.executable, str(NAIVE), str(path)])
        naive_cpu = LAST_CPU[0]
        wall, rss, rc, out = run_child([exe, "triage", str(path), "--format", "json"])
        runs.append((naive_cpu, LAST_CPU[0], wall, rss, rc))
    ratios = [t / n for n, t, *_ in runs]
    mid = sorted(range(len(runs)), key=lambda i: ratios[i])[len(runs) // 2]
    naive_cpu, cpu, wall, rss, rc = runs[mid]
    row.update(naive_cpu_s=round(naive_cpu, 2), triage_s=round(wall, 2), triage_cpu_s=round(cpu, 2),
               triage_lines_per_s=int(res["lines"] / wall), triage_rss_mb=round(max(r[3] for r in runs), 1),
               triage_rc=rc, triage_vs_naive=round(ratios[mid], 2),
               min_vs_min=round(min(r[1] for r in runs) / min(r[0] for r in runs), 2),
               runs=[f"{n:.2f}/{t:.2f}" for n, t, *_ in runs])
    start = _startup_cpu(exe)
    row.update(startup_cpu_s={k: round(v, 3) for k, v in start.items()},
               per_line_vs_naive=round((cpu - start["triage"]) / max(naive_cpu - start["naive"], 1e-9), 2))
    return row


NAIVE = Path(__file__).resolve().parent / "naive.py"
_STARTUP: dict[str, float] = {}


def _startup_cpu(exe: str) -> dict[str, float]:
    """CPU seconds of triage and of the naive loop on an empty file (the median of 3 runs each)."""
    if not _STARTUP:
        empty = OUT / "empty.txt"
        empty.parent.mkdir(parents=True, exist_ok=True)
        empty.write_text("")
        for name, cmd in (("triage", [exe, "triage", str(empty), "--format", "json"]),
                          ("naive", [sys.executable, str(NAIVE), str(empty)])):
            cpus = []
            for _ in range(3):
                run_child(cmd)
                cpus.append(LAST_CPU[0])
            _STARTUP[name] = statistics.median(cpus)
    return _STARTUP


def _has_triage() -> bool:
    try:
        import mosaic_diag.commands.triage  # noqa: F401
    except ImportError:
        return False
    return True


def help_startup(runs: int = 10) -> dict[str, float] | None:
    exe = _script()
    if not exe:
        return None
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([exe, "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
        times.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--no-triage", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="naive / triage runs per file, alternating")
    args = ap.parse_args(argv)
    files = args.files or sorted(OUT.glob("*.log"))
    if not files:
        print("no logs: run python bench/generate.py first", file=sys.stderr)
        return 2
    import mosaic_diag

    package = Path(mosaic_diag.__file__).parent  # the code measured: PYTHONPATH's first (children inherit it)
    compileall.compile_dir(str(package), quiet=1)
    print(json.dumps({"python": sys.version.split()[0], "cpus_used": 1, "load_average": os.getloadavg(),
                      "mosaic_diag": str(package)}))
    for path in files:
        print(json.dumps(bench_file(path, triage=not args.no_triage, repeat=args.repeat)), flush=True)
    print(json.dumps({"mosaic-diag --help": help_startup(), "load_average": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
