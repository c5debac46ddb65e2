"""Under CI (`CI=true`, as `.ci/run` runs) a skipped test is a failed one.

Every skip in this suite guards a missing tool or package (`localedef`, a locale source, `requests`), and
`.ci/run` installs them all: a skip there means an install step went missing, and a test that silently
stopped running can no longer fail. Off CI (a developer's machine without `locales`) skips stay skips.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


def strict() -> bool:
    """True when skips count as failures: `CI` set to a true value, or `MOSAIC_DIAG_STRICT_SKIPS=1`."""
    flags = (os.environ.get("CI", ""), os.environ.get("MOSAIC_DIAG_STRICT_SKIPS", ""))
    return any(flag.strip().lower() in {"1", "true", "yes"} for flag in flags)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, None]:
    """Turn a skip (not an xfail) into a failure that names the skip's reason, when `strict()`."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not (report.skipped and strict()) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI, where every test must run (an install step in .ci/run is missing?): {reason}"
