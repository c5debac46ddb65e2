"""Safe rollback: plan (frozen, dry-run by nature), then execute; automatic on a spent error budget.

Strategies: `revert` (default; a commit whose tree is the target's, pushed as a fast-forward:
history kept), `reset` (moves the branch with `--force-with-lease=refs/heads/<branch>:<seen sha>`),
`render-api` (autodeploy off, then deploy the commit through Render's API). Never `--force`.

Exit codes of `mosaic-diag rollback`:
- 0: rolled back, nothing to do (target already deployed), a dry run with an acceptable plan,
  or `--auto` with the error rate within budget (or too little traffic to judge);
- 1: refused for safety (dirty tree, target not an ancestor of the deployed branch, schema
  change without --allow-schema-change, no earlier recorded deploy, the user said no), the
  remote refused the push (someone pushed since: lease or fast-forward failed, nothing
  moved), or `--auto` found the budget spent but did not execute (dry run);
- 2: usage or configuration: unknown sha, bad option, render-api without its service id/key,
  a Render API 4xx;
- 3: the git remote, the health URL, the database or the Render API could not be reached.
"""

from __future__ import annotations

from mosaic_diag.rollback.budget import ErrorBudgetReading, StaleLog, read_health, read_log
from mosaic_diag.rollback.execute import RollbackResult, execute_rollback
from mosaic_diag.rollback.plan import STRATEGIES, Refusal, RollbackPlan, Step, deployed_record, plan_rollback

__all__ = ["STRATEGIES", "ErrorBudgetReading", "Refusal", "RollbackPlan", "RollbackResult", "StaleLog", "Step",
           "deployed_record", "execute_rollback", "plan_rollback", "read_health", "read_log"]
