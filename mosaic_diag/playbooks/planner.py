"""Planning: a playbook + facts -> a Plan (a dry run). Running: gather, plan, and only on request execute."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mosaic_diag.errors import DiagError
from mosaic_diag.platform.redact import redact_text
from mosaic_diag.playbooks.actions import describe
from mosaic_diag.playbooks.model import GatherResult, Plan, PlannedAction, Playbook
from mosaic_diag.playbooks.settings import PlaybookSettings


def incident_facts(playbook: Playbook, facts: Mapping[str, Any], taxonomy: Any = None,
                   label: str | None = None) -> dict[str, Any]:
    """The facts with `label`, `category`, `severity` filled in when the caller did not give them."""
    out = dict(facts)
    name = label or out.get("label") or (playbook.match.labels[0] if playbook.match.labels else None)
    if name is not None:
        out.setdefault("label", name)
    if taxonomy is not None and out.get("label") in taxonomy.labels:
        out.setdefault("category", taxonomy.labels[out["label"]].category)
    out.setdefault("severity", playbook.severity)
    for minutes in (1, 5, 15):  # a context that gives one of a window's count and rate gives the other
        count, rate = f"count_{minutes}m", f"rate_{minutes}m"
        if _number(out.get(rate)) and count not in out:
            out[count] = out[rate] * minutes
        elif _number(out.get(count)) and rate not in out:
            out[rate] = round(out[count] / minutes, 3)
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def plan_playbook(playbook: Playbook, facts: Mapping[str, Any], settings: PlaybookSettings | None = None,
                  gathered: tuple[GatherResult, ...] = ()) -> Plan:
    """Evaluate every check and remediation step against `facts`; describe each effect; do nothing."""
    settings = settings or PlaybookSettings()
    findings = playbook.diagnose(facts)
    actions = []
    for step in playbook.remediate:
        verdict = step.when.evaluate(facts)
        effect = describe(step, facts, settings, verdict.reason)
        actions.append(PlannedAction(step.action, step.when.source, verdict, effect, dict(step.params)))
    return Plan(playbook.id, str(facts.get("label", "")), facts.get("stage"), playbook.severity, playbook.alert,
                findings, tuple(actions), _redacted(dict(facts)), tuple(gathered), playbook.where)


@dataclass(frozen=True)
class PlanSummary:
    """What triage shows for a group: the playbook, its severity and the dry-run plan, as plain data."""

    playbook: str
    label: str
    severity: str
    alert: str | None
    actions: tuple[dict[str, Any], ...]
    findings: tuple[dict[str, Any], ...] = ()
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"playbook": self.playbook, "label": self.label, "severity": self.severity, "alert": self.alert,
                "source": self.source, "actions": [dict(a) for a in self.actions],
                "findings": [dict(f) for f in self.findings]}


def plan_for(label: str, facts: Mapping[str, Any], store: Any,
             settings: PlaybookSettings | None = None) -> PlanSummary | None:
    """The dry-run plan of the playbook that answers `label` (stage from facts); no gathering, no I/O."""
    stage = facts.get("stage")
    playbook = store.match(label, stage=stage if isinstance(stage, str) else None)
    if playbook is None:
        return None
    full = incident_facts(playbook, facts, store.taxonomy, store.taxonomy.resolve(label).name
                          if store.taxonomy.is_label(label) else label)
    plan = plan_playbook(playbook, full, settings)
    return PlanSummary(plan.playbook, plan.label, plan.severity, plan.alert,
                       tuple(a.to_dict() for a in plan.actions),
                       tuple(f.to_dict() for f in plan.findings if f.verdict.value is not None), plan.source)


@dataclass(frozen=True)
class ActionOutcome:
    """What executing one action did (`skipped`: done within the cool-down, not repeated)."""

    action: str
    ok: bool
    detail: str
    record: Mapping[str, Any] = field(default_factory=dict)
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "ok": self.ok, "detail": self.detail, "skipped": self.skipped}


class ActionsStopped(DiagError):
    """The audit log could not be written: no further action was run (`outcomes`: what ran before)."""

    def __init__(self, message: str, outcomes: tuple[ActionOutcome, ...], *, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.outcomes = outcomes


def incident_fingerprint(plan: Plan) -> str:
    """What makes two runs "the same incident": the triage fingerprint when given, else label and stage."""
    given = plan.facts.get("fingerprint")
    if isinstance(given, str) and given:
        return given
    return f"{plan.label or '-'}@{plan.stage or '-'}"


def execute_plan(plan: Plan, settings: PlaybookSettings, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> tuple[ActionOutcome, ...]:
    """Carry out the actions whose `when` holds. The only effectful path.

    Runs are serialised (the ledger's lock); each action is audited BEFORE it runs (an audit log that cannot
    be written stops the run before that action) and its result after; an effectful action already done for
    the same playbook and incident within the cool-down is skipped, not repeated.
    """
    from mosaic_diag.platform.audit import append_audit
    from mosaic_diag.playbooks.executors import execute_effect
    from mosaic_diag.playbooks.ledger import DEDUP_KINDS, action_key, open_ledger

    audit_path = settings.path(settings.audit_log)
    fingerprint = incident_fingerprint(plan)
    outcomes: list[ActionOutcome] = []

    def audit(step: Any, **record: Any) -> dict[str, Any]:
        try:
            return append_audit(audit_path, {
                "label": plan.label, "playbook": plan.playbook, "fingerprint": fingerprint, "action": step.action,
                "params": dict(step.params), "reason": step.verdict.reason, "effect": step.effect.summary, **record,
            }, clock=clock)
        except OSError as exc:
            done = sum(1 for o in outcomes if not o.skipped)
            raise ActionsStopped(f"cannot write the audit log ({exc.strerror or exc}): {step.action} and the "
                                 f"actions after it were not run ({done} ran before, each audited)",
                                 tuple(outcomes), path=str(audit_path)) from exc

    database_url = settings.env.get("DATABASE_URL") or None
    with open_ledger(settings.path(settings.state_file), database_url) as ledger:
        for step in plan.to_run:
            effect = step.effect
            key = action_key(plan.playbook, fingerprint, step.action, effect.target)
            dedup = effect.kind in DEDUP_KINDS and settings.cooldown > 0
            now = clock()
            last = ledger.last_done(key) if dedup else None
            # within the cool-down before or after now: a time further ahead is none this clock wrote within it (a
            # clock set a year ahead, or another machine's sharing the PostgreSQL ledger), and must not hold the
            # action back until then (as the watch's state, watch.state._within)
            if last is not None and abs(now - last) < timedelta(seconds=settings.cooldown):
                until = last + timedelta(seconds=settings.cooldown)
                detail = (f"already done at {last.isoformat()} for this incident; cool-down "
                          f"{settings.cooldown:g}s (until {until.isoformat()})")
                record = audit(step, outcome="skipped", detail=detail)
                outcomes.append(ActionOutcome(step.action, True, detail, record, skipped=True))
                continue
            audit(step, outcome="intent", detail=f"about to run ({ledger.where})")
            try:
                ok, detail = execute_effect(effect, plan, settings, clock=clock)
            except KeyboardInterrupt:  # Ctrl-C / SIGTERM while it ran: its intent is audited, so is this
                try:
                    audit(step, outcome="interrupted", detail="interrupted while it ran: whether it took effect "
                                                              "is not known")
                except ActionsStopped as exc:  # the audit log refused: the interruption goes on all the same
                    import logging

                    logging.getLogger(__name__).warning("the interruption of %s was not audited: %s", step.action,
                                                        exc)
                raise
            if ok and dedup:
                try:
                    ledger.record(key, now)
                except Exception as exc:  # noqa: BLE001 - the action ran; not remembering it is a warning
                    detail += f" (WARNING: not remembered in {ledger.where}: {redact_text(str(exc))})"
            if ledger.note:
                detail += f" (note: {ledger.note})"
                ledger.note = None
            try:
                record = audit(step, outcome="ok" if ok else "failed", detail=detail)
            except ActionsStopped as stopped:  # the action ran and its intent is audited: report it, then stop
                outcomes.append(ActionOutcome(step.action, ok, detail + " (result not audited)"))
                raise ActionsStopped(str(stopped).split(": ", 1)[-1], tuple(outcomes),
                                     path=str(audit_path)) from stopped
            outcomes.append(ActionOutcome(step.action, ok, detail, record))
    return tuple(outcomes)


def gather_and_plan(playbook: Playbook, facts: Mapping[str, Any], settings: PlaybookSettings, *,
                    gather: bool = True, taxonomy: Any = None, log_lines: tuple[str, ...] | None = None,
                    classify: Callable[[BaseException], str] | None = None) -> Plan:
    """Run the playbook's gatherers (unless `gather` is false), then plan. Facts given by the caller
    win over gathered ones (a context file can pin a fact); gathered facts fill in the rest."""
    from mosaic_diag.playbooks.gatherers import GatherContext, run_gatherers

    full = incident_facts(playbook, facts, taxonomy)
    results: tuple[GatherResult, ...] = ()
    if gather and playbook.gather:
        results = run_gatherers(playbook.gather, GatherContext(settings, log_lines, classify))
        for result in results:
            for key, value in result.facts.items():
                full.setdefault(key, value)
    return plan_playbook(playbook, full, settings, results)
