"""The results of a golden run (frozen dataclasses) and their stable JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mosaic_diag.errors import ExitCode

OUTCOME_ORDER = {"error": 0, "fail": 1, "flaky": 2, "pass": 3}


@dataclass(frozen=True)
class Attempt:
    """One request of a case (after its backoff retries)."""

    status: int | None
    latency_ms: float
    failures: tuple[str, ...] = ()
    error: str | None = None
    body_excerpt: str = ""
    retries: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "latency_ms": round(self.latency_ms, 1), "ok": self.ok,
                "failures": list(self.failures), "error": self.error, "retries": self.retries,
                "body_excerpt": self.body_excerpt}


@dataclass(frozen=True)
class LabelRef:
    """One label found in a failed case's error, and the playbook for it."""

    label: str
    category: str
    severity: str
    playbook: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "category": self.category, "severity": self.severity,
                "playbook": self.playbook}


@dataclass(frozen=True)
class Explanation:
    """What the shared classifier made of a failed case's error, and the playbook for it.

    `label` .. `playbook` are the primary (most severe, then first) of `labels`: every distinct
    label of the error (an app that failed over from one provider to another reports both).
    """

    label: str
    category: str
    severity: str
    explanation: str
    playbook: str | None
    labels: tuple[LabelRef, ...] = ()

    @property
    def all_labels(self) -> tuple[LabelRef, ...]:
        return self.labels or (LabelRef(self.label, self.category, self.severity, self.playbook),)

    @property
    def names(self) -> str:
        """The labels, primary first: `OPENAI_RATE_LIMIT + ANTHROPIC_OVERLOADED`."""
        return " + ".join(ref.label for ref in self.all_labels)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "category": self.category, "severity": self.severity,
                "explanation": self.explanation, "playbook": self.playbook,
                "labels": [ref.to_dict() for ref in self.all_labels]}


@dataclass(frozen=True)
class CaseResult:
    """A case over all its repeats: `outcome` pass | flaky | fail | error; `ok` decides exit."""

    case_id: str
    file: str
    line: int
    tags: tuple[str, ...]
    outcome: str
    ok: bool
    passes: int
    runs: int
    min_pass: int
    failures: tuple[str, ...]
    latency_p50_ms: float
    latency_p95_ms: float
    attempts: tuple[Attempt, ...] = ()
    explanation: Explanation | None = None
    weight: float = 1.0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.case_id, "file": self.file, "line": self.line, "tags": list(self.tags),
            "outcome": self.outcome, "ok": self.ok, "passes": self.passes, "runs": self.runs,
            "min_pass": self.min_pass, "failures": list(self.failures),
            "latency_ms": {"p50": round(self.latency_p50_ms, 1), "p95": round(self.latency_p95_ms, 1)},
            "weight": self.weight,
            "classification": self.explanation.to_dict() if self.explanation else None,
            "attempts": [a.to_dict() for a in self.attempts],
        }


@dataclass(frozen=True)
class BaselineDiff:
    """A run compared with the blessed baseline."""

    path: str
    regressions: tuple[str, ...]
    fixes: tuple[str, ...]
    newly_flaky: tuple[str, ...]
    known_failures: tuple[str, ...]
    new_cases: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "regressions": list(self.regressions), "fixes": list(self.fixes),
                "newly_flaky": list(self.newly_flaky), "known_failures": list(self.known_failures),
                "new_cases": list(self.new_cases)}


@dataclass(frozen=True)
class GoldenReport:
    """One run: every case's result, failures first."""

    target: str
    started_at: str
    duration_ms: float
    results: tuple[CaseResult, ...]
    baseline: BaselineDiff | None = None
    pass_rate_min: float | None = None  # None: every case must be ok

    @property
    def pass_rate(self) -> float:
        """The weighted share of ok cases (1.0 when there is no weight at all)."""
        total = sum(r.weight for r in self.results)
        return sum(r.weight for r in self.results if r.ok) / total if total else 1.0

    @property
    def unfinished(self) -> bool:
        """Whether a run was cut by the global timeout (a request may still be in flight)."""
        return any(a.error and a.error.startswith(("not finished", "not run")) for r in self.results
                   for a in r.attempts)

    @property
    def summary(self) -> dict[str, Any]:
        counts = {k: 0 for k in ("pass", "flaky", "fail", "error")}
        for r in self.results:
            counts[r.outcome] += 1
        return {"total": len(self.results), "passed": counts["pass"], "flaky": counts["flaky"],
                "failed": counts["fail"], "errors": counts["error"],
                "not_ok": sum(1 for r in self.results if not r.ok),
                "pass_rate": round(self.pass_rate, 4), "pass_rate_min": self.pass_rate_min}

    @property
    def exit_code(self) -> int:
        if self.baseline is not None:
            return ExitCode.FINDINGS if self.baseline.regressions else ExitCode.OK
        if self.pass_rate_min is not None:
            return ExitCode.FINDINGS if self.pass_rate + 1e-9 < self.pass_rate_min else ExitCode.OK
        return ExitCode.FINDINGS if any(not r.ok for r in self.results) else ExitCode.OK

    def sorted_results(self) -> list[CaseResult]:
        """Failures first (error, fail, flaky, pass), then file order."""
        return sorted(self.results, key=lambda r: (r.ok, OUTCOME_ORDER[r.outcome], r.file, r.line))

    def with_baseline(self, diff: BaselineDiff) -> GoldenReport:
        return GoldenReport(self.target, self.started_at, self.duration_ms, self.results, diff, self.pass_rate_min)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 1), "summary": self.summary,
            "exit_code": int(self.exit_code),
            "cases": [r.to_dict() for r in self.sorted_results()],
            "baseline": self.baseline.to_dict() if self.baseline else None,
        }
