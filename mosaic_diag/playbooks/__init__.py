"""Playbooks as code: a validated YAML store, a closed condition language, gatherers, dry-run actions.

    store = PlaybookStore.load()                      # the shipped playbooks/ (or a directory)
    pb = store.match("PG_CONNECTION_FAILED", stage="startup")
    plan = pb.plan({"rate_5m": 3.2, "stage": "startup"})   # a dry run; nothing happens
    plan_for(label, facts, store)                      # what triage shows (no gathering)

The names are imported on first use (a triage that needs no plan imports no more than `settings` and `files`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mosaic_diag.playbooks.conditions import Condition, ConditionError, Verdict, parse
    from mosaic_diag.playbooks.files import SHIPPED_DIR
    from mosaic_diag.playbooks.loader import FileProblem, PlaybookError, load_playbooks
    from mosaic_diag.playbooks.model import Effect, GatherResult, Plan, PlannedAction, Playbook
    from mosaic_diag.playbooks.planner import (
        PlanSummary,
        execute_plan,
        gather_and_plan,
        incident_facts,
        plan_for,
        plan_playbook,
    )
    from mosaic_diag.playbooks.settings import PlaybookSettings
    from mosaic_diag.playbooks.store import PlaybookStore

_WHERE = {
    **dict.fromkeys(("Condition", "ConditionError", "Verdict", "parse"), "conditions"),
    "SHIPPED_DIR": "files",
    **dict.fromkeys(("FileProblem", "PlaybookError", "load_playbooks"), "loader"),
    **dict.fromkeys(("Effect", "GatherResult", "Plan", "PlannedAction", "Playbook"), "model"),
    **dict.fromkeys(("PlanSummary", "execute_plan", "gather_and_plan", "incident_facts", "plan_for", "plan_playbook"),
                    "planner"),
    "PlaybookSettings": "settings",
    "PlaybookStore": "store",
}

__all__ = ["SHIPPED_DIR", "Condition", "ConditionError", "Effect", "GatherResult", "FileProblem", "Plan", "PlanSummary",
           "PlannedAction", "Playbook", "PlaybookError", "PlaybookSettings", "PlaybookStore", "Verdict",
           "execute_plan", "gather_and_plan", "incident_facts", "load_playbooks", "parse", "plan_for", "plan_playbook"]


def __getattr__(name: str) -> Any:
    """One of `__all__`, imported from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
