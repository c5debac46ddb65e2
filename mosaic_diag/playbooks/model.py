"""Playbooks and what planning one produces: frozen values, plain data out (`to_dict`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mosaic_diag.playbooks.conditions import Condition, Verdict

STAGES = ("startup", "deploy", "runtime", "predeploy", "golden")


@dataclass(frozen=True)
class Match:
    """Which incidents a playbook is for: labels (canonical names) and/or a category, and stages."""

    labels: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "stages": list(self.stages), "categories": list(self.categories)}


@dataclass(frozen=True)
class GatherStep:
    """`- postgres: true`: one gatherer with its arguments."""

    gatherer: str
    params: Mapping[str, Any]
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"gatherer": self.gatherer, "params": dict(self.params)}


@dataclass(frozen=True)
class Check:
    """A diagnose check: `check` should hold in a healthy system; when it is false, report the finding."""

    check: Condition
    fail_label: str | None
    recommendation: str
    name: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "check": self.check.source, "fail_label": self.fail_label,
                "recommendation": self.recommendation}


@dataclass(frozen=True)
class Remedy:
    """A remediation step: an action, when it applies, and its parameters."""

    action: str
    when: Condition
    params: Mapping[str, Any] = field(default_factory=dict)
    message: str | None = None
    log: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "when": self.when.source, "params": dict(self.params)}
        if self.message:
            out["message"] = self.message
        if self.log:
            out["log"] = self.log
        return out


@dataclass(frozen=True)
class Effect:
    """What an action would do, described completely before anything happens.

    `kind` decides the executor: http_post (payload to target URL), set_flag (merge into the
    JSON flags file at target), write_note (Markdown file under target dir), log, advice,
    rollback_plan (hand over to the rollback planner; never executed from here).
    """

    kind: str
    summary: str
    target: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None  # set when the action cannot run (e.g. no webhook configured)

    def to_dict(self) -> dict[str, Any]:
        from mosaic_diag.platform.redact import redact_text

        return {"kind": self.kind, "summary": redact_text(self.summary), "target": redact_text(self.target or "")
                or None, "problem": redact_text(self.problem or "") or None}


@dataclass(frozen=True)
class CheckResult:
    """What a playbook's check found."""

    name: str
    check: str
    verdict: Verdict
    fail_label: str | None
    recommendation: str

    @property
    def failed(self) -> bool:
        return self.verdict.value is False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "check": self.check, "result": {True: "pass", False: "fail", None: "unknown"}[
            self.verdict.value], "reason": self.verdict.reason, "fail_label": self.fail_label,
            "recommendation": self.recommendation}


@dataclass(frozen=True)
class PlannedAction:
    """One remediation step of a plan: whether its `when` holds, why, and what it would do."""

    action: str
    when: str
    verdict: Verdict
    effect: Effect
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def would_run(self) -> bool:
        """The `when` holds (an Effect with a `problem`, e.g. no webhook configured, would then fail)."""
        return self.verdict.holds

    @property
    def reason(self) -> str:
        reason = self.verdict.reason
        if self.verdict.value is False:
            return f"not: {reason}"
        if self.verdict.value is None:
            return f"unknown: {reason}"
        return reason + (f"; cannot run: {self.effect.problem}" if self.effect.problem else "")

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "when": self.when, "condition": self.verdict.state,
                "would_run": self.would_run, "blocked": self.effect.problem, "reason": self.reason,
                "description": self.effect.summary,
                "effect": self.effect.to_dict(), "params": dict(self.params)}


@dataclass(frozen=True)
class GatherResult:
    """What one gatherer found; a failure is data (`ok` false, `error`), never an exception."""

    gatherer: str
    ok: bool
    facts: Mapping[str, Any]
    error: str | None = None
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"gatherer": self.gatherer, "ok": self.ok, "error": self.error, "elapsed_ms": round(self.elapsed_ms, 1),
                "facts": dict(self.facts)}


@dataclass(frozen=True)
class Playbook:
    """One playbook: match, severity, alert, gather, diagnose, remediate; where it came from."""

    id: str
    match: Match
    severity: str
    description: str = ""
    alert: str | None = None
    gather: tuple[GatherStep, ...] = ()
    checks: tuple[Check, ...] = ()  # the YAML's `diagnose` list
    remediate: tuple[Remedy, ...] = ()
    source: str = ""
    line: int | None = None
    order: int = 0

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source

    def diagnose(self, facts: Mapping[str, Any]) -> tuple[CheckResult, ...]:
        """Run the diagnose checks against `facts` (no gathering)."""
        return tuple(CheckResult(c.name, c.check.source, c.check.evaluate(facts), c.fail_label, c.recommendation)
                     for c in self.checks)

    def plan(self, facts: Mapping[str, Any], settings: Any = None) -> Plan:
        """A dry run: every check and remediation step evaluated against `facts`; nothing happens."""
        from mosaic_diag.playbooks.planner import plan_playbook

        return plan_playbook(self, facts, settings)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "match": self.match.to_dict(), "severity": self.severity,
                "description": self.description, "alert": self.alert,
                "gather": [g.to_dict() for g in self.gather], "diagnose": [c.to_dict() for c in self.checks],
                "remediate": [r.to_dict() for r in self.remediate], "source": self.where}


@dataclass(frozen=True)
class Plan:
    """A playbook evaluated against an incident: findings and the actions it would take."""

    playbook: str
    label: str
    stage: str | None
    severity: str
    alert: str | None
    findings: tuple[CheckResult, ...]
    actions: tuple[PlannedAction, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    gathered: tuple[GatherResult, ...] = ()
    source: str = ""

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        return tuple(f for f in self.findings if f.failed)

    @property
    def to_run(self) -> tuple[PlannedAction, ...]:
        return tuple(a for a in self.actions if a.would_run)

    def to_dict(self) -> dict[str, Any]:
        return {"playbook": self.playbook, "label": self.label, "stage": self.stage, "severity": self.severity,
                "alert": self.alert, "source": self.source, "findings": [f.to_dict() for f in self.findings],
                "actions": [a.to_dict() for a in self.actions],
                "gathered": [g.to_dict() for g in self.gathered], "facts": dict(self.facts)}
