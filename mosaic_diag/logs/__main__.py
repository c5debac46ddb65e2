"""`python -m mosaic_diag.logs FILE|-`: print the raw events of a log as JSON lines (a debugging aid)."""

from __future__ import annotations

import json
import os
import sys

from mosaic_diag.errors import DiagError
from mosaic_diag.logs import ReadStats, open_source, read_events


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mosaic_diag.logs FILE|-", file=sys.stderr)
        return 2
    stats = ReadStats()
    try:
        with open_source(args[0]) as src:
            for ev in read_events(src, stats, name=args[0]):
                d = {k: getattr(ev, k) for k in ev.__slots__}
                d["timestamp"] = ev.timestamp.isoformat() if ev.timestamp else None
                print(json.dumps(d))
        summary = {"lines": stats.lines, "bytes": stats.bytes, "corrupt": stats.corrupt,
                   "corrupt_samples": stats.corrupt_samples, "warnings": stats.warnings,
                   "shapes": dict(stats.shapes), "levels": dict(stats.levels)}
        print(json.dumps({"stats": summary}))
        sys.stdout.flush()
    except DiagError as e:
        print(f"mosaic-diag: error: {e}", file=sys.stderr)
        return int(e.exit_code)
    except BrokenPipeError:  # `| head`: the reader went away; the exit-time flush must not say it again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("mosaic-diag: error: output closed early (broken pipe)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
