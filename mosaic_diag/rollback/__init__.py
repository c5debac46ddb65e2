"""Safe rollback: plan (frozen, dry-run by nature), then execute; automatic on a spent error budget.

Strategies: `revert` (default; a commit whose tree is the target's, pushed as a fast-forward while the
branch is where the plan saw it: history kept), `reset` (moves the branch with
`--force-with-lease=refs/heads/<branch>:<seen sha>`), `render-api` (autodeploy off, then Render's
rollback to its earlier deploy of the commit, or a rebuild by commit when there is none). Never `--force`.

Safety: remote and branch are validated before any git call (no option injection); targets must be on
the remote branch's first-parent history and not recorded bad (unless allowed); names such as HEAD~1
are read on the remote branch; `--auto` acts only on the commit it judged. The audit log gets the
intent before acting and the result after; after a successful push, failures are warnings.

Exit codes of `mosaic-diag rollback`:
- 0: rolled back (warnings included), nothing to do (target already deployed), a dry run with an
  acceptable plan, or `--auto` with the error rate within budget (or too little traffic to judge);
- 1: refused for safety (see `Refusal` codes: dirty_tree, not_ancestor, off_branch, recorded_bad,
  schema_change, verdict_not_head, no_previous, ...; a stale log; the user said no), the remote
  rejected the push (a hook: its message quoted), the remote moved (someone pushed since: nothing
  moved), or `--auto` found the budget spent but did not execute (dry run);
- 2: usage or configuration: unknown sha, bad option, invalid remote or branch, an unwritable audit
  log, render-api without its service id/key or with a deploy id of another commit, a Render API 4xx, a
  revert commit that cannot be signed (commit.gpgSign set and signing fails: nothing committed or pushed);
- 3: the git remote, the health URL, the database or the Render API could not be reached.
"""

from __future__ import annotations

from mosaic_diag.rollback.budget import ErrorBudgetReading, StaleLog, read_health, read_log
from mosaic_diag.rollback.execute import RollbackInterrupted, RollbackResult, audit_log_path, execute_rollback
from mosaic_diag.rollback.plan import STRATEGIES, Refusal, RollbackPlan, Step, deployed_record, plan_rollback

__all__ = ["STRATEGIES", "ErrorBudgetReading", "Refusal", "RollbackInterrupted", "RollbackPlan", "RollbackResult",
           "StaleLog", "Step",
           "audit_log_path", "deployed_record", "execute_rollback", "plan_rollback", "read_health", "read_log"]
