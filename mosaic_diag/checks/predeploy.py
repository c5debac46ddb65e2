"""`predeploy`: the deploy gate. Select checks, run them in parallel, return a frozen Report.

Exit codes: 0 nothing at or above the fail level, 1 something failed (a database that
cannot be reached is a failed check, so 1, not 3: the command itself reached everything it
needed; 3 is for a target of the command proper, such as the golden app URL given on the
command line), 2 usage or configuration errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from mosaic_diag.checks.model import LEVELS, CheckContext, Report
from mosaic_diag.checks.registry import all_checks, select
from mosaic_diag.checks.runner import run_checks
from mosaic_diag.config import MAX_SECONDS, Config, load_config
from mosaic_diag.errors import UsageError
from mosaic_diag.platform.redact import register_env_secrets

DEFAULT_TIMEOUT = 10.0


def predeploy(root: Path, env: Mapping[str, str], *, only: Iterable[str] = (), skip: Iterable[str] = (),
              fail_level: str | None = None, timeout: float | None = None,
              on_progress: Callable[[int, int], None] | None = None, config: Config | None = None) -> Report:
    """Run the predeploy checks of the repository at `root` with environment `env`
    (`on_progress(done, total)` as checks finish). `config`: the settings to use (default: `root`'s own;
    a deploy's checkout of the commit it pushes reads the operator's, `Config.reading_from`)."""
    if not root.exists():
        raise UsageError(f"--root {root}: no such directory")
    if not root.is_dir():
        raise UsageError(f"--root {root}: not a directory")
    register_env_secrets(env)  # a provider may echo a key of no known shape back in its error
    config = config if config is not None else load_config(root, env)
    level = (fail_level or str(config.get("predeploy.fail_level", "error"))).lower()
    if level not in LEVELS:
        if fail_level is None:
            raise config.error("predeploy.fail_level", f"must be one of {', '.join(LEVELS)}, got {level!r}")
        raise UsageError(f"fail level must be one of {', '.join(LEVELS)}, got {level!r}")
    silence = config.get("predeploy.silence", [])
    if not isinstance(silence, list) or not all(isinstance(s, str) for s in silence):
        raise config.error("predeploy.silence", f"must be a list of check ids, got {silence!r}")
    per_check = timeout if timeout is not None else config.seconds("predeploy.timeout", DEFAULT_TIMEOUT)
    if not math.isfinite(per_check) or not 0 < per_check <= MAX_SECONDS:  # (nan: every check timed out at once)
        raise UsageError(f"--timeout must be a positive number of seconds (at most 100 years), got {per_check:g}")
    selection = select(all_checks(), only or config.get("predeploy.only", []), skip or config.get("predeploy.skip", []))
    if not selection.checks:  # (`--only golden --skip golden`: a gate that checks nothing passed)
        raise UsageError("no check left to run: --only / --skip (or predeploy.only / predeploy.skip) leave none")
    ctx = CheckContext(root=root, env=dict(env), config=config, timeout=per_check)
    if on_progress is not None:
        on_progress(0, len(selection.checks))
    return run_checks(selection, ctx, silence=silence, fail_level=level, on_progress=on_progress)
