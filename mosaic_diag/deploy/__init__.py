"""`mosaic-diag deploy`: the framework's deploy workflow as one guarded command.

Exit codes: 0 the deploy was judged good (or a dry run); 1 bad (a failed deploy, a deploy judged bad,
rolled back or not) or blocked before the push (a tracked file changed, not a fast-forward, predeploy failed);
2 usage or configuration (no way to tell when the commit serves, a refused Render key...); 3 a target
could not be reached (the git remote, the Render API, /health of a rollback) - before the push,
nothing was pushed -, or the deploy was not judged: not seen serving within the wait (recorded `unjudged`),
or replaced by a newer deploy before it was judged (`superseded`); neither is `bad`, neither is rolled back.
"""

from __future__ import annotations

from mosaic_diag.deploy.model import DeployOptions, DeployReport, StepRecord
from mosaic_diag.deploy.workflow import STEPS, run_deploy

__all__ = ["STEPS", "DeployOptions", "DeployReport", "StepRecord", "run_deploy"]
