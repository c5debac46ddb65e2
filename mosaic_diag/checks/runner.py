"""Run the selected checks in parallel, each with a timeout; resolve levels, labels, silencing.

Each check runs in a daemon thread of its own (not a ThreadPoolExecutor: its worker threads
are joined at interpreter exit, so one hung check would hang the command after its timeout).
The checks also pass the timeout to their clients (connect_timeout, HTTP timeouts), so a
thread left behind ends by itself soon after.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable

from mosaic_diag.checks.advice import Advisor, classify
from mosaic_diag.checks.model import (
    LEVELS,
    Check,
    CheckContext,
    Message,
    Outcome,
    Report,
    Result,
    Skip,
    level_rank,
)
from mosaic_diag.checks.registry import TIMEOUT_ID, Selection
from mosaic_diag.errors import ConfigError
from mosaic_diag.platform.redact import redact_text


def _resolve(check: Check, msg: Message, silenced: frozenset[str], advisor: Advisor) -> Result:
    info = check.id_info(msg.id)
    level = msg.level or (info.level if info else "error")
    label = msg.label
    if label is None and msg.exc is not None:
        label = classify(msg.exc)
    adv = advisor.advise(label, dict(msg.facts))
    return Result(
        id=msg.id, level=level, message=redact_text(msg.message),
        hint=redact_text(msg.hint if msg.hint is not None else (info.hint if info else "")),
        location=msg.location, label=adv.label, category=adv.category, severity=adv.severity,
        playbook=adv.playbook, diagnosis=adv.diagnosis, recommendation=adv.recommendation, plan=adv.plan,
        silenced=msg.id in silenced,
    )


def _status(results: tuple[Result, ...]) -> str:
    live = [r for r in results if not r.silenced]
    worst = max((level_rank(r.level) for r in live), default=-1)
    return "failed" if worst == LEVELS.index("error") else "warning" if worst == LEVELS.index("warning") else "passed"


def run_checks(selection: Selection, ctx: CheckContext, *, silence: Iterable[str] = (), fail_level: str = "error",
               clock: Callable[[], float] = time.monotonic, advisor: Advisor | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> Report:
    """Run every selected check concurrently; a check past `ctx.timeout` seconds is a timeout.
    Labelled results carry the advice of `advisor` (default: the playbooks of `ctx.config`).
    `on_progress(done, total)` is called (from this thread) as each check finishes."""
    if advisor is None:
        advisor = Advisor.for_config(ctx.config, ctx.env)
    silenced = frozenset(silence)
    done: queue.Queue[tuple[int, str, object, float]] = queue.Queue()
    started = clock()

    def work(index: int, check: Check) -> None:
        t0 = clock()
        try:
            payload: object = list(check.run(ctx))
            kind = "ok"
        except Skip as skip:
            payload, kind = str(skip), "skip"
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failed check, classified
            payload, kind = exc, "crash"
        done.put((index, kind, payload, clock() - t0))

    checks = selection.checks
    for index, check in enumerate(checks):
        threading.Thread(target=work, args=(index, check), name=f"check-{check.name}", daemon=True).start()
    raw: dict[int, tuple[str, object, float]] = {}
    deadline = started + ctx.timeout
    while len(raw) < len(checks):
        remaining = deadline - clock()
        if remaining <= 0:
            break
        try:
            index, kind, payload, duration = done.get(timeout=remaining)
        except queue.Empty:
            break
        raw[index] = (kind, payload, duration)
        if on_progress is not None:
            on_progress(len(raw), len(checks))

    for index in sorted(raw):  # a check's configuration value that cannot be used: the command's error (exit 2),
        kind, payload, _ = raw[index]  # one line naming the file and line, as every other command says it
        if kind == "crash" and isinstance(payload, ConfigError):
            raise payload
    outcomes = []
    for index, check in enumerate(checks):
        if index not in raw:  # its own id, not one of the check's: a timeout says nothing about the app
            timed_out = Check(check.name, check.tags, (TIMEOUT_ID,), check.run)
            msg = Message(TIMEOUT_ID.id, f"the {check.name} check did not finish within {ctx.timeout:g}s")
            outcomes.append(Outcome(check.name, check.tags, "timeout", ctx.timeout,
                                    (_resolve(timed_out, msg, silenced, advisor),)))
            continue
        kind, payload, duration = raw[index]
        if kind == "skip":
            outcomes.append(Outcome(check.name, check.tags, "skipped", duration, (), redact_text(str(payload))))
            continue
        if kind == "crash":
            exc = payload if isinstance(payload, BaseException) else RuntimeError(str(payload))
            messages: list[Message] = [Message(check.ids[0].id, f"{check.name} check failed: "
                                               f"{type(exc).__name__}: {exc}", level="error", exc=exc)]
        else:
            messages = list(payload)  # type: ignore[call-overload]
        results = tuple(_resolve(check, m, silenced, advisor) for m in messages if selection.keeps(check, m.id))
        outcomes.append(Outcome(check.name, check.tags, _status(results), duration, results))
    return Report(tuple(outcomes), clock() - started, fail_level)
