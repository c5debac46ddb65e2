"""Triage groups joined to their playbooks' dry-run plans (above both the triage core and the playbooks)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from mosaic_diag.triage.model import Group, TriageReport

PlanFn = Callable[[str, Mapping[str, Any]], tuple[str | None, Mapping[str, Any] | None]]


def playbook_planner(directory: str | Path | None = None, config: Any = None) -> PlanFn | None:
    """A planner from the playbook core (no gathering: triage stays offline and fast); None when
    no directory is given and the shipped set is not installed. Raises on a malformed playbook.
    A set of playbooks validated before (`playbooks.files.known_valid`: the same bytes, taxonomy and
    code) is loaded only when a plan is first asked for: a run without events imports no loader."""
    from mosaic_diag.playbooks.files import SHIPPED_DIR, known_valid, remember_valid, validation_key
    from mosaic_diag.playbooks.settings import PlaybookSettings

    if not directory and not SHIPPED_DIR.is_dir():
        return None
    target = Path(directory) if directory else None
    key = validation_key(target or SHIPPED_DIR)
    store = None
    if key is None or not known_valid(key):
        store = _load_store(target, key)
        if key is not None:
            remember_valid(key)
    settings = PlaybookSettings.from_config(config, os.environ) if config is not None else None

    def planner(label: str, facts: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any] | None]:
        from mosaic_diag.playbooks.planner import plan_for

        nonlocal store
        if store is None:
            store = _load_store(target, key)
        summary = plan_for(label, facts, store, settings)
        if summary is None:
            return None, None
        data = summary.to_dict()
        return data.get("playbook"), data

    return planner


def _load_store(target: Path | None, key: str | None) -> Any:
    """The validated playbooks of `target` (None: the shipped set), kept in the on-disk cache under their validation
    `key` (when known); PlaybookError lists every problem."""
    from mosaic_diag.playbooks.store import PlaybookStore

    return PlaybookStore.load(target, key=key)


def group_facts(group: Group) -> dict[str, Any]:
    """The facts a runtime playbook sees for a triage group."""
    return {**group.rates, "count": group.count, "label": group.label, "category": group.category,
            "severity": group.severity, "stage": "runtime", "fingerprint": group.fingerprint,
            **({"starts": group.starts} if group.starts is not None else {})}


def attach_plans(report: TriageReport, planner: PlanFn | None) -> TriageReport:
    """`report` with each group's playbook and dry-run plan filled in (unchanged without a planner)."""
    if planner is None:
        return report
    groups = []
    for group in report.groups:
        playbook, plan = planner(group.label, group_facts(group))
        groups.append(replace(group, playbook=playbook, plan=plan))
    return replace(report, groups=tuple(groups))


ExecuteFn = Callable[[str, Mapping[str, Any]], tuple[str | None, tuple[Mapping[str, Any], ...]]]


def playbook_executor(directory: str | Path | None = None, config: Any = None,
                      cooldown: float | None = None) -> ExecuteFn:
    """Gather, plan and carry out the runtime playbook of a label (each action audited); returns the
    playbook id and the outcomes. The caller decides whether it may act (cool-downs, --execute);
    `cooldown` (seconds) replaces `playbooks.cooldown` for the action ledger, so the caller's cool-down
    is the one that counts."""
    from mosaic_diag.playbooks import PlaybookSettings, PlaybookStore, execute_plan, gather_and_plan

    store = PlaybookStore.load(Path(directory) if directory else None)
    settings = PlaybookSettings.from_config(config, os.environ, cooldown=cooldown)

    def execute(label: str, facts: Mapping[str, Any]) -> tuple[str | None, tuple[Mapping[str, Any], ...]]:
        playbook = store.match(label, stage="runtime")
        if playbook is None:
            return None, ()
        plan = gather_and_plan(playbook, facts, settings, taxonomy=store.taxonomy)
        return playbook.id, tuple(o.to_dict() for o in execute_plan(plan, settings))

    return execute
