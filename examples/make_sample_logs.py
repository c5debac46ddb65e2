"""Generate realistic sample logs from REAL exceptions (python -m examples.make_sample_logs [--out DIR]).

Starts a throwaway PostgreSQL and the LLM stand-in, collects the real-error corpus
(`examples.realerrors`), and writes, interleaved with access-log and INFO noise and a few
WARNINGs:

- ``render-sample.log``: Render's text export of one hour with an incident: a burst of
  OpenAI rate limits, then a bad deploy whose database URL lacks SSL, so the service
  restarts in a loop (``Started server process`` again and again) until it is rolled back.
- ``uvicorn.log``, ``app-json.log``, ``render-api.jsonl``, ``syslog.log``: one file per shape.
- ``mixed.log.gz``: render-text, plain and JSON lines mixed in one gzip file.

Output is deterministic given the same exceptions: fixed timestamps from a fixed start and a
seeded random generator.
"""

from __future__ import annotations

import argparse
import gzip
import random
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from examples.logshapes import access_message, format_raw, format_record
from examples.realerrors import RealError

START = datetime(2026, 11, 27, 14, 0, 0, tzinfo=UTC)
INSTANCES = ("srv-d0mosaic-7f9c", "srv-d0mosaic-k2lq")
ROUTES = [("GET", "/health", 200, "OK"), ("POST", "/wimd/ask", 200, "OK"), ("GET", "/ps101/steps/3", 200, "OK"),
          ("POST", "/auth/login", 200, "OK"), ("GET", "/jobs/search?q=analyst", 200, "OK"),
          ("POST", "/ps101/progress", 200, "OK"), ("GET", "/prompts/next", 200, "OK"),
          ("POST", "/auth/login", 401, "Unauthorized"), ("GET", "/static/app.js", 304, "Not Modified")]
INFO_MESSAGES = [("api.wimd", "Answered /wimd/ask via openai in {ms} ms"),
                 ("api.ps101", "User {uid} advanced to PS101 step {step}"),
                 ("api.auth", "Login ok for user {uid}"),
                 ("api.job_sources", "Fetched {n} jobs from greenhouse board mosaic"),
                 ("api.storage", "Connection pool: {n} of 10 in use")]
WARNINGS = [("api.wimd", "Model answer is not valid JSON ({ms} chars); wrapping it"),
            ("openai._base_client", "Retrying request to /chat/completions in 0.{step}00000 seconds"),
            ("api.embeddings", "Embedding cache miss rate {step}0% over the last 5 minutes"),
            ("api.prompts", "Prompt selector confidence low ({step}0%) for a user question")]


@dataclass(frozen=True)
class Record:
    """One log record (or, with `raw`, one line Render itself printed)."""

    ts: datetime
    level: str
    logger: str
    message: str
    exc_text: str | None = None
    instance: str = INSTANCES[0]
    raw: bool = False


def _intro(error: RealError) -> str:
    """The message a `logger.exception(...)` call would carry: the log message up to its colon."""
    return error.log_message.split(":", 1)[0]


def error_records(error: RealError, ts: datetime, rng: random.Random, *, instance: str = INSTANCES[0],
                  style: str | None = None) -> list[Record]:
    """The records one real error leaves in a log, in one of three styles."""
    single_line = "\n" not in error.log_message
    style = style or rng.choice(["exception", "exception", "message", "asgi"] if single_line else ["exception", "asgi"])
    if style == "message" and single_line:
        return [Record(ts, "ERROR", error.logger, error.log_message, instance=instance)]
    if style == "asgi":
        client = f"10.204.{rng.randint(0, 9)}.{rng.randint(2, 250)}:{rng.randint(30000, 60000)}"
        return [Record(ts, "INFO", "uvicorn.access",
                       access_message(client, "POST", "/wimd/ask", 500, "Internal Server Error"), instance=instance),
                Record(ts + timedelta(milliseconds=2), "ERROR", "uvicorn.error", "Exception in ASGI application",
                       error.text, instance=instance)]
    return [Record(ts, "ERROR", error.logger, _intro(error), error.text, instance=instance)]


def noise(start: datetime, end: datetime, rng: random.Random, *, mean_gap: float,
          instance: str = INSTANCES[0], warnings: int = 0) -> list[Record]:
    """Access lines and INFO records between `start` and `end`, and `warnings` WARNING records."""
    records: list[Record] = []
    ts = start
    while True:
        ts += timedelta(seconds=rng.expovariate(1 / mean_gap), microseconds=rng.randint(0, 999) * 1000)
        if ts >= end:
            break
        if rng.random() < 0.82:
            method, path, status, phrase = rng.choice(ROUTES)
            client = f"10.204.{rng.randint(0, 9)}.{rng.randint(2, 250)}:{rng.randint(30000, 60000)}"
            records.append(Record(ts, "INFO", "uvicorn.access", access_message(client, method, path, status, phrase),
                                  instance=instance))
        else:
            logger, template = rng.choice(INFO_MESSAGES)
            records.append(Record(ts, "INFO", logger, _fill(template, rng), instance=instance))
    span = (end - start).total_seconds()
    for _ in range(warnings):
        logger, template = rng.choice(WARNINGS)
        records.append(Record(start + timedelta(seconds=rng.uniform(0, span)), "WARNING", logger,
                              _fill(template, rng), instance=instance))
    return records


def _fill(template: str, rng: random.Random) -> str:
    return template.format(ms=rng.randint(300, 2400), uid=rng.randint(100, 999), step=rng.randint(1, 9),
                           n=rng.randint(1, 40))


def boot(ts: datetime, pid: int, *, instance: str = INSTANCES[0], fails_with: RealError | None = None) -> list[Record]:
    """uvicorn starting the app; with `fails_with`, startup fails and the process exits."""
    records = [Record(ts, "INFO", "uvicorn.error", f"Started server process [{pid}]", instance=instance),
               Record(ts + timedelta(milliseconds=3), "INFO", "uvicorn.error", "Waiting for application startup.",
                      instance=instance)]
    if fails_with is None:
        return records + [
            Record(ts + timedelta(milliseconds=410), "INFO", "api.storage", "Database: postgresql (pool 10)",
                   instance=instance),
            Record(ts + timedelta(milliseconds=420), "INFO", "uvicorn.error", "Application startup complete.",
                   instance=instance),
            Record(ts + timedelta(milliseconds=421), "INFO", "uvicorn.error",
                   "Uvicorn running on http://0.0.0.0:10000 (Press CTRL+C to quit)", instance=instance)]
    t = ts + timedelta(milliseconds=180)
    return records + [
        Record(t, "ERROR", "api.storage", "Database init failed", fails_with.text, instance=instance),
        Record(t + timedelta(milliseconds=5), "ERROR", "uvicorn.error", "Application startup failed. Exiting.",
               instance=instance),
        Record(t + timedelta(seconds=1), "ERROR", "render", "==> Exited with status 3 while running your code.",
               instance=instance, raw=True)]


def render_sample(errors: dict[str, RealError], rng: random.Random) -> list[Record]:
    """One hour of a Render service with an incident (see the module doc)."""
    at = lambda minutes: START + timedelta(minutes=minutes)  # noqa: E731 - a local shorthand
    records = [Record(at(0), "INFO", "render", "==> Deploying...", raw=True), *boot(at(0) + timedelta(seconds=4), 41),
               Record(at(0) + timedelta(seconds=9), "INFO", "render", "==> Your service is live 🎉", raw=True)]
    records += noise(at(0.2), at(60), rng, mean_gap=2.35, warnings=14)
    sporadic = [(3.4, "upload_missing"), (7.9, "linkedin_429_requests"), (11.2, "ps101_prompt_index"),
                (15.6, "missing_column"), (17.1, "session_missing_field")]
    burst = [20.0 + i * 0.45 + rng.uniform(0, 0.2) for i in range(13)]
    records += [r for minute in burst for r in error_records(errors["openai_rate_limit"], at(minute), rng)]
    records += [Record(at(m) + timedelta(milliseconds=40), "INFO", "api.wimd", "Failing over to anthropic")
                for m in burst]
    records += error_records(errors["anthropic_overloaded"], at(25.3), rng, style="exception")
    # a bad deploy: DATABASE_URL without sslmode against an SSL-only database -> restart loop
    records.append(Record(at(30), "INFO", "render", "==> Deploying...", raw=True))
    for i, minute in enumerate((30.2, 31.9, 34.1, 36.6)):
        records += boot(at(minute), 7 + i, fails_with=errors["pg_ssl_required"])
    records.append(Record(at(38.5), "ERROR", "render", "==> Timed out: Port scan timeout reached, no open ports "
                          "detected. Bind your service to at least one port. If you don't need to receive traffic on "
                          "any port, create a background worker instead.", raw=True))
    records.append(Record(at(39), "INFO", "render", "==> Rolling back to the previous deploy", raw=True))
    records += boot(at(39.2), 12)
    sporadic += [(42.3, "greenhouse_503_requests"), (42.9, "greenhouse_503_requests"), (45.0, "duplicate_key"),
                 (47.7, "embeddings_rate_limit"), (50.2, "missing_column"), (53.8, "user_data_null"),
                 (56.1, "prompts_csv_corrupt"), (58.4, "openai_timeout")]
    for minute, key in sporadic:
        records += error_records(errors[key], at(minute), rng)
    # the restart window only has its own lines (the service is down)
    down = (at(30.1), at(39.2))
    return [r for r in records if r.raw or r.logger in ("uvicorn.error", "api.storage", "render")
            or not down[0] <= r.ts < down[1]]


def shape_sample(errors: list[RealError], rng: random.Random, *, minutes: int, instances: Iterable[str],
                 mean_gap: float) -> list[Record]:
    """A shorter log with every real error once, spread over `minutes`, across `instances`."""
    instances = list(instances)
    records: list[Record] = []
    for n, instance in enumerate(instances):
        records += boot(START + timedelta(seconds=n), 41 + n, instance=instance)
        records += noise(START + timedelta(seconds=5), START + timedelta(minutes=minutes), rng, mean_gap=mean_gap,
                         instance=instance, warnings=3)
    for i, error in enumerate(errors):
        ts = START + timedelta(seconds=10 + i * (minutes * 60 - 20) / max(1, len(errors)))
        records += error_records(error, ts, rng, instance=instances[i % len(instances)])
    return records


def render_lines(records: list[Record], shape: str) -> list[str]:
    """Every record in `shape`, in time order; records of two instances at one moment interleave line by line."""
    ordered = sorted(records, key=lambda r: r.ts)
    out: list[str] = []
    for seq, record in enumerate(ordered):
        if record.raw:
            if shape in ("uvicorn", "json", "plain"):
                continue
            out += format_raw(shape, ts=record.ts, lines=[record.message], level=record.level,
                              instance=record.instance, seq=seq)
            continue
        record_shape = shape
        ts: datetime | None = record.ts
        if shape == "uvicorn":
            record_shape, ts = ("uvicorn", None) if record.logger.startswith("uvicorn") else ("plain", None)
        out += format_record(record_shape, ts=ts, level=record.level, logger=record.logger, message=record.message,
                             exc_text=record.exc_text, instance=record.instance, seq=seq)
    return out


def interleave_instances(records: list[Record], shape: str) -> list[str]:
    """Like `render_lines`, but an error of one instance is interleaved line by line with the next record
    of the other instance (the way Render's log API and log streams deliver them)."""
    lines_by_record = [(r, render_lines([r], shape)) for r in sorted(records, key=lambda r: r.ts)]
    out: list[str] = []
    i = 0
    while i < len(lines_by_record):
        record, lines = lines_by_record[i]
        nxt = lines_by_record[i + 1] if i + 1 < len(lines_by_record) else None
        if record.exc_text and nxt is not None and nxt[0].instance != record.instance:
            other = nxt[1]
            for k in range(max(len(lines), len(other))):
                out += lines[k:k + 1] + other[k:k + 1]
            i += 2
            continue
        out += lines
        i += 1
    return out


def mixed_lines(records: list[Record], rng: random.Random) -> list[str]:
    out: list[str] = []
    for seq, record in enumerate(sorted(records, key=lambda r: r.ts)):
        shape = rng.choice(("render-text", "plain", "json"))
        if record.raw:
            out += format_raw("render-text", ts=record.ts, lines=[record.message], level=record.level)
            continue
        out += format_record(shape, ts=record.ts, level=record.level, logger=record.logger, message=record.message,
                             exc_text=record.exc_text, instance=record.instance, seq=seq)
    return out


def _write(path: Path, lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".gz":
        with open(tmp, "wb") as raw, gzip.GzipFile(filename=path.stem, mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(data)
    else:
        tmp.write_bytes(data)
    tmp.replace(path)


def write_samples(errors: list[RealError], out: Path, *, seed: int = 20261127) -> dict[str, int]:
    """Write every sample file into `out`; returns {file name: line count}."""
    out.mkdir(parents=True, exist_ok=True)
    by_key = {e.key: e for e in errors}
    files = {
        "render-sample.log": render_lines(render_sample(by_key, random.Random(seed)), "render-text"),
        "uvicorn.log": render_lines(shape_sample(errors, random.Random(seed + 1), minutes=30, instances=INSTANCES[:1],
                                                 mean_gap=5.0), "uvicorn"),
        "app-json.log": render_lines(shape_sample(errors, random.Random(seed + 2), minutes=30,
                                                  instances=INSTANCES[:1], mean_gap=8.0), "json"),
        "render-api.jsonl": interleave_instances(shape_sample(errors, random.Random(seed + 3), minutes=30,
                                                              instances=INSTANCES, mean_gap=30.0), "render-api"),
        "syslog.log": interleave_instances(shape_sample(errors, random.Random(seed + 4), minutes=30,
                                                        instances=INSTANCES, mean_gap=30.0), "syslog"),
        "mixed.log.gz": mixed_lines(shape_sample(errors, random.Random(seed + 5), minutes=20, instances=INSTANCES[:1],
                                                 mean_gap=10.0), random.Random(seed + 6)),
    }
    for name, lines in files.items():
        _write(out / name, lines)
    return {name: len(lines) for name, lines in files.items()}


def main(argv: list[str] | None = None) -> int:
    from examples.llm_standin import LLMStandIn
    from examples.pgtemp import TempPostgres
    from examples.realerrors import collect

    parser = argparse.ArgumentParser(prog="python -m examples.make_sample_logs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "logs")
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args(argv)
    with (tempfile.TemporaryDirectory(prefix="mosaic-samples-") as tmp, TempPostgres(Path(tmp) / "pg") as pg,
          LLMStandIn() as standin):
        errors = collect(pg, standin, Path(tmp) / "work")
    counts = write_samples(errors, args.out, seed=args.seed)
    for name, count in counts.items():
        print(f"{args.out / name}: {count} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
