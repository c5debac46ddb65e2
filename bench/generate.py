"""Write benchmark logs: every shape, 1M and 5M lines, about 1% of records error events.

    python bench/generate.py                    # all shapes, 1M and 5M lines, into bench/out/
    python bench/generate.py --lines 1000000 --shapes render-text render-api

Records are rendered with examples/logshapes.py. Tracebacks are real: produced by raising real
exceptions (json.loads of bad text, chained exceptions, os.environ KeyError, a psycopg2 connect to
a closed loopback port) when the generator starts. render-api and syslog interleave the lines of
three instances one by one, the way Render's log API returns them. Output is deterministic for a
given seed. bench/out/ is git-ignored: never commit it.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.logshapes import SHAPES, access_message, format_raw, format_record, make_tracebacks  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
INSTANCES = ("srv-d0abc-7f9c", "srv-d0abc-2k4m", "srv-d0abc-x81q")
PATHS = ("/wimd/ask", "/health", "/ps101/step", "/session/start", "/jobs/search", "/auth/login")
INFO_MESSAGES = (
    "Prompt selector matched prompt {n}", "Session {n} loaded from postgres", "Cache hit for embeddings batch {n}",
    "PS101 step {n} completed", "Job search returned {n} results", "User {n} logged in",
)
WARNING_MESSAGES = (
    "Retrying request to /chat/completions in 0.{n} seconds", "Slow query took {n} ms",
    "Prompt selector fell back to the generic prompt for {n}",
)
ERROR_MESSAGES = (
    "OpenAI call failed: Error code: 429 - Rate limit reached for gpt-4o-mini in organization org-{n}",
    "Session {n} expired (TTL exceeded)", "Greenhouse API returned 503 for board {n}",
    "Error code: 401 - Incorrect API key provided: sk-...{n}",
)


def records(rng: random.Random, tracebacks: list[tuple[str, str, str]], error_rate: float):
    """Endless (level, logger, message, exc_text) records."""
    n = 0
    while True:
        n += 1
        r = rng.random()
        if r < error_rate / 2:
            logger, message, exc = tracebacks[rng.randrange(len(tracebacks))]
            yield "ERROR", logger, message, exc
        elif r < error_rate:
            yield "ERROR", "api.llm", rng.choice(ERROR_MESSAGES).format(n=n), None
        elif r < 0.05:
            yield "WARNING", "api.llm", rng.choice(WARNING_MESSAGES).format(n=n % 997), None
        elif r < 0.55:
            status = 200 if rng.random() < 0.98 else 404
            msg = access_message(f"10.0.{n % 200}.{n % 250}:{40000 + n % 20000}", rng.choice(("GET", "POST")),
                                 rng.choice(PATHS), status, "OK" if status == 200 else "Not Found")
            yield "INFO", "uvicorn.access", msg, None
        else:
            yield "INFO", "api.app", rng.choice(INFO_MESSAGES).format(n=n), None


def generate(shape: str, total: int, path: Path, seed: int = 7, error_rate: float = 0.01) -> dict[str, int]:
    rng = random.Random(seed)
    tbs = make_tracebacks()
    tracebacks = [
        ("uvicorn.error", "Exception in ASGI application", tbs["chained_from"]),
        ("api.storage", "Database init failed", tbs["psycopg2_refused"]),
        ("api.ps101", "Could not load PS101 steps", tbs["json_decode"]),
        ("api.config", "Missing configuration", tbs["key_error"]),
        ("api.session", "Session handler crashed", tbs["chained_during"]),
        ("api.metrics", "Metrics failed", tbs["zero_division"]),
    ]
    gen = records(rng, tracebacks, error_rate)
    t0 = datetime(2026, 11, 27, 0, 0, 0, tzinfo=UTC)
    counts = {"lines": 0, "records": 0, "error_records": 0}
    interleave = shape in ("render-api", "syslog")
    pending: dict[str, list[str]] = {i: [] for i in INSTANCES}
    seq = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8", buffering=1 << 20) as f:
        buf: list[str] = []
        while counts["lines"] < total:
            instance = rng.choice(INSTANCES) if interleave else INSTANCES[0]
            queue = pending[instance]
            if not queue:
                seq += 1
                ts = t0 + timedelta(milliseconds=37 * seq)
                if seq % 200_000 == 1:
                    lines = format_record(shape, ts=ts, level="INFO", logger="uvicorn.error",
                                          message=f"Started server process [{seq % 30000 + 7}]", instance=instance,
                                          seq=seq)
                    lines += format_raw(shape, ts=ts, lines=["==> Your service is live 🎉"], instance=instance,
                                        seq=seq)
                else:
                    level, logger, message, exc = next(gen)
                    counts["error_records"] += level == "ERROR"
                    lines = format_record(shape, ts=ts, level=level, logger=logger, message=message, exc_text=exc,
                                          instance=instance, seq=seq)
                counts["records"] += 1
                if not interleave:
                    buf.extend(lines)
                    counts["lines"] += len(lines)
                    if len(buf) > 10000:
                        f.write("\n".join(buf) + "\n")
                        buf.clear()
                    continue
                queue.extend(reversed(lines))
            buf.append(queue.pop())
            counts["lines"] += 1
            if len(buf) > 10000:
                f.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            f.write("\n".join(buf) + "\n")
    tmp.replace(path)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 5_000_000])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--error-rate", type=float, default=0.01)
    args = ap.parse_args(argv)
    for total in args.lines:
        for shape in args.shapes:
            path = args.out / f"{shape}-{total // 1_000_000 or total}{'M' if total >= 1_000_000 else ''}.log"
            counts = generate(shape, total, path, error_rate=args.error_rate)
            print(f"{path}: {counts['lines']} lines, {counts['records']} records, "
                  f"{counts['error_records']} error records", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
