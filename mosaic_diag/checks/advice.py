"""Labels and playbook advice for check failures, through the shared classifier and playbook core.

A predeploy failure is an incident at stage `predeploy`: the playbook that answers its label
(`PlaybookStore.match`) is evaluated against the facts the check already has (label, category,
severity, stage and, for the database, `database_url.*` / `postgres.*`). Nothing is gathered:
`Playbook.plan` is a dry run that judges the diagnose checks and describes each remediation step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mosaic_diag.platform.redact import redact_text

STAGE = "predeploy"


@dataclass(frozen=True)
class Advice:
    """What the taxonomy and the matching playbook say about one label, given the check's facts."""

    label: str | None
    category: str | None = None
    severity: str | None = None
    playbook: str | None = None
    diagnosis: str | None = None          # the playbook's description
    recommendation: str | None = None     # the recommendations of its diagnose checks that fail
    plan: tuple[str, ...] = ()            # the dry-run plan, one line per remediation step


def classify(exc: BaseException) -> str | None:
    """The shared classifier's label for a caught exception (None if the classifier fails)."""
    try:
        from mosaic_diag.classifier.classify import Classifier

        return Classifier.default().classify_exception(exc).label
    except Exception:  # noqa: BLE001 - classification is best effort here  # mosaic-diag: ignore[MD006]
        return None


PREDEPLOY_ACTIONS = frozenset({"advise", "alert_ops", "open_incident"})  # the rest act on a running app


def plan_lines(plan: Any) -> tuple[str, ...]:
    """The plan's steps that can apply before a deploy, as text: an action that acts on a running app
    (fallback, retry, breaker, failover, rollback) or whose `when` does not hold here is left out."""
    return tuple(redact_text(f"-> {step.action}: {step.effect.summary} [{step.reason}]")
                 for step in plan.actions if step.would_run and step.action in PREDEPLOY_ACTIONS)


def recommendations(plan: Any) -> str | None:
    """The recommendations of the diagnose checks that fail on the facts (in playbook order, unique)."""
    seen: list[str] = []
    for finding in plan.findings:
        if finding.failed and finding.recommendation and finding.recommendation not in seen:
            seen.append(finding.recommendation)
    return redact_text(" ".join(seen)) if seen else None


class Advisor:
    """The playbook store and settings of one predeploy run; `advise` never raises."""

    def __init__(self, store: Any = None, settings: Any = None, taxonomy: Any = None) -> None:
        self.store = store
        self.settings = settings
        self.taxonomy = taxonomy if taxonomy is not None else getattr(store, "taxonomy", None)

    @classmethod
    def for_config(cls, config: Any, env: Mapping[str, str]) -> Advisor:
        """The store of `playbooks.dir` (an invalid configured set is a ConfigError naming file:line),
        else the shipped one (missing or invalid: no playbook advice, labels only)."""

        from mosaic_diag.playbooks import SHIPPED_DIR, PlaybookError, PlaybookSettings, PlaybookStore

        settings = PlaybookSettings.from_config(config, env)
        configured = config.path("playbooks.dir")
        if configured is not None:
            return cls(PlaybookStore.load(configured), settings)
        if not SHIPPED_DIR.is_dir():
            return cls(None, settings, _taxonomy())
        try:
            return cls(PlaybookStore.load(None), settings)
        except PlaybookError:
            return cls(None, settings, _taxonomy())

    def advise(self, label: str | None, facts: Mapping[str, Any] | None = None) -> Advice:
        """Category/severity from the taxonomy; playbook id, failing checks' advice and the dry-run plan."""
        if label is None:
            return Advice(None)
        category = severity = None
        if self.taxonomy is not None:  # (no taxonomy: the label alone)
            try:
                info = self.taxonomy.resolve(label)
                label, category, severity = info.name, info.category, info.severity
            except Exception:  # noqa: BLE001 - unknown label: keep the label  # mosaic-diag: ignore[MD006]
                pass
        if self.store is None:
            return Advice(label, category, severity)
        try:
            pb = self.store.match(label, stage=STAGE, category=category)
            if pb is None:
                return Advice(label, category, severity)
            full = {**(facts or {}), "label": label, "stage": STAGE}
            full.update({k: v for k, v in (("category", category), ("severity", severity)) if v is not None})
            plan = pb.plan(full, self.settings)
        except Exception:  # noqa: BLE001 - advice is best effort  # mosaic-diag: ignore[MD006]
            return Advice(label, category, severity)
        description = " ".join(pb.description.split()) if pb.description else None
        return Advice(label, category, severity, pb.id, redact_text(description) if description else None,
                      recommendations(plan), plan_lines(plan))


def _taxonomy() -> Any:
    try:
        from mosaic_diag.classifier.taxonomy import load_taxonomy

        return load_taxonomy()
    except Exception:  # noqa: BLE001 - labels without category/severity  # mosaic-diag: ignore[MD006]
        return None


def env_facts(env: Mapping[str, str], names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """`env.<NAME>.set` (and the redacted `.value`) as the playbooks' `env` gatherer reports them."""
    from mosaic_diag.playbooks.gatherers import GatherContext, gather_env
    from mosaic_diag.playbooks.settings import PlaybookSettings

    return gather_env({"names": list(names)}, GatherContext(PlaybookSettings(env=dict(env))))
