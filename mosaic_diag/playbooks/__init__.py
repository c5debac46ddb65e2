"""Playbooks as code: a validated YAML store, a closed condition language, gatherers, dry-run actions.

    store = PlaybookStore.load()                      # the shipped playbooks/ (or a directory)
    pb = store.match("PG_CONNECTION_FAILED", stage="startup")
    plan = pb.plan({"rate_5m": 3.2, "stage": "startup"})   # a dry run; nothing happens
    plan_for(label, facts, store)                      # what triage shows (no gathering)
"""

from mosaic_diag.playbooks.conditions import Condition, ConditionError, Verdict, parse
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
from mosaic_diag.playbooks.store import SHIPPED_DIR, PlaybookStore

__all__ = ["SHIPPED_DIR", "Condition", "ConditionError", "Effect", "GatherResult", "FileProblem", "Plan", "PlanSummary",
           "PlannedAction", "Playbook", "PlaybookError", "PlaybookSettings", "PlaybookStore", "Verdict",
           "execute_plan", "gather_and_plan", "incident_facts", "load_playbooks", "parse", "plan_for", "plan_playbook"]
