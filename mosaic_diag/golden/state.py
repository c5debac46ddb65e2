"""Files a run leaves behind: the last run (for --only-failed and bless) and the baseline."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mosaic_diag.errors import ConfigError, UsageError
from mosaic_diag.golden.report import BaselineDiff, CaseResult, GoldenReport
from mosaic_diag.platform.atomic import read_state, write_atomic

LAST_RUN = "golden-last-run.json"
BASELINE_VERSION = 1




def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(read_state(path).decode("utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(f"no {what}", path=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc.msg}", path=str(path),
                          line=exc.lineno) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} is not UTF-8 text", path=str(path)) from exc
    except RecursionError as exc:
        raise ConfigError(f"{what}: JSON nested too deeply", path=str(path)) from exc


def save_last_run(state_dir: Path, report: GoldenReport) -> Path:
    path = state_dir / LAST_RUN
    write_atomic(path, json.dumps(report.to_dict(), indent=2) + "\n")
    return path


def load_last_run(state_dir: Path) -> dict[str, Any]:
    data = _read_json(state_dir / LAST_RUN, "last golden run (run `mosaic-diag golden` first)")
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise ConfigError("not a golden run report", path=str(state_dir / LAST_RUN))
    for number, case in enumerate(data["cases"], 1):  # (what failed_ids and bless read of each)
        if not (isinstance(case, dict) and isinstance(case.get("id"), str) and isinstance(case.get("outcome"), str)
                and isinstance(case.get("ok"), bool) and isinstance(case.get("passes"), int)
                and isinstance(case.get("runs"), int)):
            raise ConfigError(f"not a golden run report (case {number} is not a mapping with an id, outcome, ok, "
                              "passes and runs)", path=str(state_dir / LAST_RUN))
    return data


def failed_ids(last_run: Mapping[str, Any]) -> set[str]:
    """Ids of the cases that were not ok in the last run."""
    return {c["id"] for c in last_run["cases"] if not c.get("ok")}


def _entry(case: Mapping[str, Any]) -> dict[str, Any]:
    return {"outcome": case["outcome"], "ok": bool(case["ok"]), "passes": case["passes"],
            "runs": case["runs"]}


def bless(last_run: Mapping[str, Any], baseline_path: Path, now: str, *,
          include_errors: bool = False) -> tuple[Path, int, list[str]]:
    """Write the baseline from the last run (merged into an existing baseline); returns the path, how many
    cases were blessed and the ids left out: a case that got no answer at all (outcome `error`: the app was
    down, the run timed out) is no verdict on the app, and blessed as a known failure it would hide every
    later regression of that case. `include_errors` blesses them too."""
    existing: dict[str, Any] = {}
    if baseline_path.exists():
        existing = dict(load_baseline(baseline_path)["cases"])
    skipped = [c["id"] for c in last_run["cases"] if c.get("outcome") == "error" and not include_errors]
    blessed = [c for c in last_run["cases"] if c["id"] not in skipped]
    for case in blessed:
        existing[case["id"]] = _entry(case)
    doc = {"version": BASELINE_VERSION, "blessed_at": now, "target": last_run.get("target"),
           "cases": dict(sorted(existing.items()))}
    write_atomic(baseline_path, json.dumps(doc, indent=2) + "\n")
    return baseline_path, len(blessed), skipped


def load_baseline(path: Path) -> dict[str, Any]:
    data = _read_json(path, "baseline (write one with `mosaic-diag golden bless`)")
    if not isinstance(data, dict) or data.get("version") != BASELINE_VERSION \
            or not isinstance(data.get("cases"), dict):
        raise ConfigError(f"not a golden baseline (version {BASELINE_VERSION})", path=str(path))
    bad = next((case for case, entry in data["cases"].items() if not isinstance(entry, dict)), None)
    if bad is not None:
        raise ConfigError(f"not a golden baseline (version {BASELINE_VERSION}): case {bad!r} is not a mapping",
                          path=str(path))
    return data


def compare(results: Iterable[CaseResult], baseline: Mapping[str, Any], path: str) -> BaselineDiff:
    """Regressions (ok before, not now; or new and failing), fixes, newly flaky cases."""
    regressions, fixes, flaky, known, new = [], [], [], [], []
    cases = baseline["cases"]
    for r in results:
        before = cases.get(r.case_id)
        if before is None:
            new.append(r.case_id)
            if not r.ok:
                regressions.append(r.case_id)
        elif before.get("ok") and not r.ok:
            regressions.append(r.case_id)
        elif not before.get("ok") and r.ok:
            fixes.append(r.case_id)
        elif not before.get("ok") and not r.ok:
            known.append(r.case_id)
        if r.ok and r.outcome == "flaky" and before is not None and before.get("outcome") == "pass":
            flaky.append(r.case_id)
    return BaselineDiff(path, tuple(regressions), tuple(fixes), tuple(flaky), tuple(known),
                        tuple(new))
