"""`mosaic-diag golden`: regression cases posted to the app, checked, compared with a baseline.

The core is usable without Typer or Rich (predeploy calls it):

    cases = load_cases([Path("golden")])
    target = open_target(url="http://127.0.0.1:8000")   # or app="examples.mosaic_app.main:app"
    report = run_cases(cases, target, RunOptions())     # -> GoldenReport (frozen)
"""

from __future__ import annotations

from pathlib import Path

from mosaic_diag.golden.cases import Case, load_cases, validate
from mosaic_diag.golden.report import CaseResult, GoldenReport
from mosaic_diag.golden.runner import RunOptions, SystemClock, run_cases
from mosaic_diag.golden.targets import Target

__all__ = ["Case", "CaseResult", "GoldenReport", "RunOptions", "SystemClock",
           "Target", "load_cases", "open_target", "run_cases", "select", "validate"]


def open_target(*, url: str | None = None, app: str | None = None, app_dir: Path | None = None,
                probe_path: str = "/health", probe_timeout: float = 5.0) -> Target:
    """A started target: the app at `url`, or `app` ("module:attr") in this process.

    Raises UnreachableError (exit 3) when nothing answers at the URL or the app cannot start.
    """
    from mosaic_diag.errors import UsageError
    from mosaic_diag.golden.targets import AppTarget, UrlTarget

    if (url is None) == (app is None):
        raise UsageError("give exactly one of --url and --app")
    target: Target = UrlTarget(url) if url else AppTarget(app or "", app_dir or Path.cwd())
    target.probe(probe_path, probe_timeout)
    return target


def select(cases: list[Case], *, tags: list[str] | None = None, keyword: str | None = None,
           only: set[str] | None = None) -> list[Case]:
    """Cases with any of `tags`, whose id/description holds `keyword`, and within `only`."""
    out = cases
    if tags:
        out = [c for c in out if set(tags) & set(c.tags)]
    if keyword:
        k = keyword.lower()
        out = [c for c in out if k in c.id.lower() or k in c.description.lower()]
    if only is not None:
        out = [c for c in out if c.id in only]
    return out
