"""The cost of the triage progress bar: the same triage with and without a live Rich bar.

    python bench/generate.py --lines 1000000 --shapes render-text
    python bench/bench_progress.py [bench/out/render-text-1M.log] [--runs 5]

Runs alternate (no bar, bar, no bar, ...) in one process so the page cache and the interpreter are
the same for both; the bar is a real `rich.progress.Progress` (the command's columns) on a console
forced to be a terminal, writing to /dev/null, refreshed by its own thread as in the command.
Prints the fastest run of each (wall and CPU time, the bar's refresh thread included in CPU) and
the overhead in percent (of the minimum, which a shared box disturbs least, and of the median).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one(path: Path, bar: bool) -> tuple[float, float]:
    from rich.console import Console

    import mosaic_diag.render.console as console
    from mosaic_diag.render.progress import progress
    from mosaic_diag.triage import open_triage

    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    t, cpu = time.perf_counter(), time.process_time()
    if bar:
        term = Console(file=devnull, force_terminal=True, width=100)
        orig = console.err
        console.err = lambda: term  # type: ignore[assignment]
        try:
            with progress("triage", enabled=True, unit="bytes") as cb, open_triage(str(path), on_progress=cb) as s:
                for _ in s.events:
                    pass
                s.finish()
        finally:
            console.err = orig  # type: ignore[assignment]
    else:
        with open_triage(str(path)) as s:
            for _ in s.events:
                pass
            s.finish()
    took = time.perf_counter() - t, time.process_time() - cpu
    devnull.close()
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", type=Path, default=ROOT / "bench" / "out" / "render-text-1M.log")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not args.file.is_file():
        print(f"{args.file}: no such file (python bench/generate.py first)", file=sys.stderr)
        return 2
    one(args.file, False)  # warm the page cache and the imports
    plain, bar = [], []
    for _ in range(args.runs):
        plain.append(one(args.file, False))
        bar.append(one(args.file, True))
    row: dict[str, object] = {"file": args.file.name, "runs": args.runs}
    for i, what in ((0, "wall"), (1, "cpu")):
        a = min(x[i] for x in plain)
        b = min(x[i] for x in bar)
        row[f"{what}_min_without_s"], row[f"{what}_min_with_bar_s"] = round(a, 3), round(b, 3)
        row[f"{what}_overhead_pct"] = round((b - a) / a * 100, 2)
        row[f"{what}_median_overhead_pct"] = round(
            (statistics.median(x[i] for x in bar) / statistics.median(x[i] for x in plain) - 1) * 100, 2)
    row.update(_unit_costs(args.file, min(x[0] for x in plain)))
    print(json.dumps(row))


def _unit_costs(path: Path, seconds: float) -> dict[str, object]:
    """What the bar costs, from its parts (steady on a noisy box): one refresh (a render of the
    line) and one callback, times the refreshes (4 per second) and the blocks (4 MB) of a run."""
    from rich.console import Console
    from rich.progress import Progress

    import mosaic_diag.render.console as console
    from mosaic_diag.render.progress import progress

    with open(os.devnull, "w") as devnull:
        term = Console(file=devnull, force_terminal=True, width=100)
        orig = console.err
        console.err = lambda: term  # type: ignore[assignment]
        try:
            with progress("triage", enabled=True, unit="bytes") as cb:
                assert cb is not None
                bar = cb.__closure__[0].cell_contents  # type: ignore[union-attr]
                assert isinstance(bar, Progress)
                t = time.perf_counter()
                for i in range(1000):
                    cb(i * 4 << 20, 1 << 40)
                per_call = (time.perf_counter() - t) / 1000
                t = time.perf_counter()
                for _ in range(200):
                    bar.refresh()
                per_refresh = (time.perf_counter() - t) / 200
        finally:
            console.err = orig  # type: ignore[assignment]
    blocks = path.stat().st_size / (4 << 20) + 1
    cost = blocks * per_call + (seconds * 4 + 2) * per_refresh
    return {"per_callback_us": round(per_call * 1e6, 1), "per_refresh_us": round(per_refresh * 1e6, 1),
            "estimated_cost_s": round(cost, 4), "estimated_overhead_pct": round(cost / seconds * 100, 3)}
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
