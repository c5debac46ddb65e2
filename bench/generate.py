"""Write benchmark logs: every shape, 1M and 5M lines, about 1% of records error events.

    python bench/generate.py                    # all shapes, 1M and 5M lines, into bench/out/
    python bench/generate.py --lines 1000000 --shapes render-text render-api
    python bench/generate.py --lines 1000000 --shapes render-text --profile incident

The calm profile: about 1% of records are errors, half of them with a traceback. The incident
profile (`<shape>-incident-<N>.log`): one record in 50 is an error, every one with a real chained
traceback through a deep call stack, so that about a third of the lines are traceback lines.

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


def _deep(depth: int, fn):
    """Call `fn` `depth` frames down (a realistic stack: handlers, services, clients)."""
    return fn() if depth <= 0 else _deep(depth - 1, fn)


def incident_tracebacks() -> list[tuple[str, str, str]]:
    """Real chained tracebacks through deep stacks, as an incident's log is full of them."""
    import json
    import os
    import traceback

    def chain(depth: int, inner, outer: str) -> str:
        try:
            try:
                _deep(depth, inner)
            except Exception as exc:
                raise RuntimeError(outer) from exc
        except RuntimeError as exc:
            return "".join(traceback.format_exception(exc)).rstrip("\n")
        raise AssertionError("no error")

    def during(depth: int) -> str:
        try:
            try:
                _deep(depth, lambda: json.loads("{'goals': ['ux']}"))
            except ValueError:
                _deep(depth // 2, lambda: {}["user_id"])
        except KeyError as exc:
            return "".join(traceback.format_exception(exc)).rstrip("\n")
        raise AssertionError("no error")

    return [
        ("api.session", "Session handler crashed", chain(3, lambda: json.loads("{'goals': 1}"), "session load failed")),
        ("api.config", "Missing configuration", chain(3, lambda: os.environ["MOSAIC_NO_SUCH_VAR"], "settings failed")),
        ("uvicorn.error", "Exception in ASGI application", during(2)),
        ("api.metrics", "Metrics failed", chain(3, lambda: 1 / 0, "metrics export failed")),
    ]


def records(rng: random.Random, tracebacks: list[tuple[str, str, str]], error_rate: float,
            traceback_share: float = 0.5):
    """Endless (level, logger, message, exc_text) records."""
    n = 0
    while True:
        n += 1
        r = rng.random()
        if r < error_rate * traceback_share:
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


def generate(shape: str, total: int, path: Path, seed: int = 7, error_rate: float = 0.01,
             profile: str = "calm") -> dict[str, int]:
    rng = random.Random(seed)
    tbs = make_tracebacks()
    tracebacks = incident_tracebacks() if profile == "incident" else [
        ("uvicorn.error", "Exception in ASGI application", tbs["chained_from"]),
        ("api.storage", "Database init failed", tbs["psycopg2_refused"]),
        ("api.ps101", "Could not load PS101 steps", tbs["json_decode"]),
        ("api.config", "Missing configuration", tbs["key_error"]),
        ("api.session", "Session handler crashed", tbs["chained_during"]),
        ("api.metrics", "Metrics failed", tbs["zero_division"]),
    ]
    if profile == "incident":
        gen = records(rng, tracebacks, 0.02, traceback_share=1.0)
    else:
        gen = records(rng, tracebacks, error_rate)
    t0 = datetime(2026, 11, 27, 0, 0, 0, tzinfo=UTC)
    counts = {"lines": 0, "records": 0, "error_records": 0, "traceback_lines": 0}
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
                    counts["traceback_lines"] += exc.count("\n") + 1 if exc else 0
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
    ap.add_argument("--profile", choices=("calm", "incident"), default="calm")
    args = ap.parse_args(argv)
    for total in args.lines:
        for shape in args.shapes:
            tag = "-incident" if args.profile == "incident" else ""
            path = args.out / f"{shape}{tag}-{total // 1_000_000 or total}{'M' if total >= 1_000_000 else ''}.log"
            counts = generate(shape, total, path, error_rate=args.error_rate, profile=args.profile)
            print(f"{path}: {counts['lines']} lines, {counts['records']} records, "
                  f"{counts['error_records']} error records, "
                  f"{counts['traceback_lines'] / max(counts['lines'], 1):.0%} of lines in tracebacks", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
