"""Load and validate playbook files: every problem is a `file:line: reason`, all found before anything runs.

A file holds one playbook (a mapping) or several (a list). Shape::

    - id: pg-connection-failed-startup        # optional; default <file stem>[-<n>]
      description: ...
      match: {label: PG_CONNECTION_FAILED, stage: startup}   # label|labels, stage, category
      severity: critical                       # default: the (first) label's severity
      alert: pager_high
      gather: [{log_tail: 200}, {env: [DATABASE_URL]}, {postgres: true}]
      diagnose:
        - check: "database_url.scheme in ['postgresql', 'postgres']"
          fail_label: PG_URL_MALFORMED
          recommendation: ...
      remediate:
        - action: alert_ops
          when: "rate_5m > 1"
          message: ...
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mosaic_diag.errors import ConfigError
from mosaic_diag.errors import FileProblem as FileProblem  # re-exported: `mosaic_diag.playbooks` finds it here
from mosaic_diag.platform.yamlpos import line_of, load_yaml
from mosaic_diag.playbooks.actions import ACTIONS, PLACEHOLDER, param_problem
from mosaic_diag.playbooks.conditions import Condition, ConditionError, parse, type_problems
from mosaic_diag.playbooks.files import playbook_files
from mosaic_diag.playbooks.model import STAGES, Check, GatherStep, Match, Playbook, Remedy
from mosaic_diag.playbooks.vocabulary import GATHERER_ALIASES, GATHERER_BY_NAME, fact, gatherer_of, is_name

MAX_FILE_BYTES = 512_000
MAX_PLAYBOOKS_PER_FILE = 200
SEVERITIES = ("critical", "high", "medium", "low")
PLAYBOOK_KEYS = ("id", "description", "match", "severity", "alert", "gather", "diagnose", "remediate")
MATCH_KEYS = ("label", "labels", "stage", "category")
CHECK_KEYS = ("name", "check", "fail_label", "recommendation")
REMEDY_KEYS = ("action", "when", "params", "message", "log")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")

_RATE_AS_COUNT = re.compile(r"\{rate_(1m|5m|15m)\}\s*in\s*\d+\s*min")
_COUNT_PER_MINUTE = re.compile(r"\{count_(1m|5m|15m)\}\s*(?:/|per)\s*min")


class PlaybookError(ConfigError):
    """Validation failed; `issues` holds every problem found."""

    def __init__(self, issues: list[FileProblem]) -> None:
        self.issues = tuple(issues)
        first = issues[0]
        more = f" (and {len(issues) - 1} more; run `mosaic-diag playbook validate`)" if len(issues) > 1 else ""
        super().__init__(first.message + more, path=first.path, line=first.line)


class _Checker:
    """Validates one file's playbooks, collecting issues."""

    def __init__(self, path: str, taxonomy: Any, issues: list[FileProblem]) -> None:
        self.path = path
        self.tax = taxonomy
        self.issues = issues

    def bad(self, obj: Any, key: str | int | None, reason: str) -> None:
        self.issues.append(FileProblem(self.path, line_of(obj, key), reason))

    def unknown_keys(self, raw: dict[Any, Any], known: tuple[str, ...], what: str) -> None:
        for key in raw:
            if key not in known:
                self.bad(raw, key, f"unknown key {key!r} in {what} (known: {', '.join(known)})")

    def strings(self, raw: dict[Any, Any], key: str, what: str) -> list[str] | None:
        value = raw[key]
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(i, str) and i for i in items):
            self.bad(raw, key, f"{what} must be a string or a list of strings")
            return None
        return items

    def text(self, raw: dict[Any, Any], key: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.bad(raw, key, f"`{key}` must be text")
            return None
        self.placeholders(raw, key, value)
        return value

    def placeholders(self, raw: Any, key: str, value: str) -> None:
        for m in PLACEHOLDER.finditer(value):
            if not is_name(m.group(1)):
                self.bad(raw, key, f"unknown placeholder {{{m.group(1)}}} in `{key}`")
        for m in _RATE_AS_COUNT.finditer(value):  # a per-minute rate shown as a count of the window
            self.bad(raw, key, f"{{rate_{m.group(1)}}} is per minute, not a count: write {{count_{m.group(1)}}} "
                               f"in {m.group(1).rstrip('m')} min or {{rate_{m.group(1)}}}/min")
        for m in _COUNT_PER_MINUTE.finditer(value):  # a count shown as a rate: "11/min" when the peak minute had 3
            window = m.group(1)
            self.bad(raw, key, f"{{count_{window}}} is a count (errors in {window.rstrip('m')} minutes), not per "
                               f"minute: write {{rate_{window}}}/min or {{count_{window}}} in {window.rstrip('m')} min")

    def label(self, raw: dict[Any, Any], key: str, name: Any) -> str | None:
        if not isinstance(name, str) or not self.tax.is_label(name):
            self.bad(raw, key, f"unknown label {name!r} (see `mosaic-diag labels`)")
            return None
        return self.tax.resolve(name).name

    def condition(self, raw: dict[Any, Any], key: str, gathered: set[str]) -> Condition | None:
        value = raw.get(key)
        if isinstance(value, bool):  # YAML `when: true`
            value = "always" if value else "never"
        if not isinstance(value, str):
            self.bad(raw, key, f"`{key}` must be a condition string")
            return None
        try:
            cond = parse(value, is_name)
        except ConditionError as exc:
            self.bad(raw, key, f"bad condition {value!r}: {exc}")
            return None
        problems = type_problems(cond, lambda name: getattr(fact(name), "type", None))
        if problems:
            self.bad(raw, key, f"bad condition {value!r}: {problems[0]}")
            return None
        for name in cond.names:
            spec = gatherer_of(name)
            if spec is not None and spec.name not in gathered:
                self.bad(raw, key, f"{name} comes from gatherer `{spec.name}`, which this playbook does not "
                                   "gather (add it under `gather:`)")
        return cond

    # -- parts ----------------------------------------------------------------------------------
    def match(self, raw: dict[Any, Any]) -> Match | None:
        m = raw.get("match")
        if not isinstance(m, dict):
            self.bad(raw, "match" if "match" in raw else None,
                     "a playbook needs `match:` as a mapping (label, labels, stage, category)")
            return None
        self.unknown_keys(m, MATCH_KEYS, "match")
        labels: list[str] = []
        for key in ("label", "labels"):
            if key in m:
                for name in self.strings(m, key, f"match.{key}") or []:
                    resolved = self.label(m, key, name)
                    if resolved and resolved not in labels:
                        labels.append(resolved)
        stages = self.strings(m, "stage", "match.stage") if "stage" in m else []
        for stage in stages or []:
            if stage not in STAGES:
                self.bad(m, "stage", f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
        cats = self.strings(m, "category", "match.category") if "category" in m else []
        from mosaic_diag.classifier.taxonomy import CATEGORIES

        for cat in cats or []:
            if cat not in CATEGORIES:
                self.bad(m, "category", f"unknown category {cat!r} (known: {', '.join(CATEGORIES)})")
        if not any(k in m for k in ("label", "labels", "category")):
            self.bad(raw, "match", "match needs `label`, `labels` or `category`")
        return Match(tuple(labels), tuple(stages or ()), tuple(cats or ()))

    def gather(self, raw: dict[Any, Any]) -> tuple[GatherStep, ...]:
        value = raw.get("gather", [])
        if not isinstance(value, list):
            self.bad(raw, "gather", "`gather` must be a list such as [{postgres: true}, {log_tail: 200}]")
            return ()
        steps: list[GatherStep] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                item_map: dict[Any, Any] = {item: True}
            elif isinstance(item, dict) and len(item) == 1:
                item_map = item
            else:
                self.bad(value, i, "each gather item is one `gatherer: argument` pair (or a gatherer name)")
                continue
            (name, arg), = item_map.items()
            canonical = GATHERER_ALIASES.get(name, name)
            spec = GATHERER_BY_NAME.get(canonical)
            if spec is None:
                self.bad(value, i, f"unknown gatherer {name!r} (known: {', '.join(sorted(GATHERER_BY_NAME))})")
                continue
            params, problem = spec.normalize(arg)
            if problem:
                self.bad(value, i, problem)
                continue
            if any(s.gatherer == canonical for s in steps):
                self.bad(value, i, f"gatherer {canonical} listed twice")
                continue
            steps.append(GatherStep(canonical, params or {}, line_of(value, i)))
        return tuple(steps)

    def checks(self, raw: dict[Any, Any], gathered: set[str]) -> tuple[Check, ...]:
        value = raw.get("diagnose", [])
        if not isinstance(value, list):
            self.bad(raw, "diagnose", "`diagnose` must be a list of checks")
            return ()
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.bad(value, i, "each diagnose item must be a mapping with `check`")
                continue
            self.unknown_keys(item, CHECK_KEYS, "a diagnose check")
            if "check" not in item:
                self.bad(value, i, "a diagnose check needs `check`")
                continue
            cond = self.condition(item, "check", gathered)
            fail_label = self.label(item, "fail_label", item["fail_label"]) if "fail_label" in item else None
            rec = self.text(item, "recommendation") or ""
            name = item.get("name", f"check-{i + 1}")
            if not isinstance(name, str):
                self.bad(item, "name", "`name` must be text")
            if cond is not None:
                out.append(Check(cond, fail_label, rec, str(name), line_of(value, i)))
        return tuple(out)

    def remedies(self, raw: dict[Any, Any], gathered: set[str]) -> tuple[Remedy, ...]:
        value = raw.get("remediate", [])
        if not isinstance(value, list):
            self.bad(raw, "remediate", "`remediate` must be a list of actions")
            return ()
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.bad(value, i, "each remediate item must be a mapping with `action`")
                continue
            self.unknown_keys(item, REMEDY_KEYS, "a remediate step")
            action = item.get("action")
            if not isinstance(action, str) or (spec := ACTIONS.get(action)) is None:
                self.bad(item if "action" in item else value, "action" if "action" in item else i,
                         f"unknown action {action!r} (known: {', '.join(sorted(ACTIONS))})")
                continue
            if "when" not in item:
                item_when: Condition | None = parse("always", is_name)
            else:
                item_when = self.condition(item, "when", gathered)
            params = item.get("params", {})
            if not isinstance(params, dict):
                self.bad(item, "params", "`params` must be a mapping")
                params = {}
            for key, pv in params.items():
                problem = param_problem(spec, str(key), pv)
                if problem:
                    self.bad(params, key, problem)
                elif isinstance(pv, str):
                    self.placeholders(params, str(key), pv)
            for key in spec.required:
                if key not in params:
                    self.bad(item, "params" if "params" in item else "action",
                             f"action {action} needs params.{key}")
            message, log = self.text(item, "message"), self.text(item, "log")
            if spec.needs_message and not message:
                self.bad(item, "action", f"action {action} needs `message`")
            if item_when is not None:
                out.append(Remedy(action, item_when, dict(params), message, log, line_of(value, i)))
        return tuple(out)

    def playbook(self, raw: Any, index: int, holder: Any, default_id: str, order: int) -> Playbook | None:
        if not isinstance(raw, dict):
            self.bad(holder, index if isinstance(holder, list) else None,
                     f"a playbook must be a mapping, got {type(raw).__name__}")
            return None
        before = len(self.issues)
        self.unknown_keys(raw, PLAYBOOK_KEYS, "a playbook")
        pid = raw.get("id", default_id)
        if not isinstance(pid, str) or not _ID.match(pid):
            self.bad(raw, "id", "`id` must be a word of letters, digits, - _ . :")
            pid = default_id
        match = self.match(raw)
        gather = self.gather(raw)
        gathered = {g.gatherer for g in gather}
        checks = self.checks(raw, gathered)
        remedies = self.remedies(raw, gathered)
        severity = raw.get("severity")
        if severity is None:
            first = match.labels[0] if match and match.labels else None
            severity = self.tax.labels[first].severity if first else "medium"
        elif not isinstance(severity, str) or severity.lower() not in SEVERITIES:
            self.bad(raw, "severity", f"severity must be one of {', '.join(SEVERITIES)}")
            severity = "medium"
        alert = raw.get("alert")
        if alert is not None and not isinstance(alert, str):
            self.bad(raw, "alert", "`alert` must be text")
        description = self.text(raw, "description") or ""
        if not remedies and not checks and len(self.issues) == before:
            self.bad(raw, None, "a playbook needs `diagnose` checks or `remediate` steps")
        if len(self.issues) > before or match is None:
            return None
        return Playbook(pid, match, severity.lower(), description.strip(), alert, gather, checks, remedies,
                        self.path, line_of(raw), order)


def load_file(path: Path, taxonomy: Any, issues: list[FileProblem], *, order_start: int = 0,
              shown: str | None = None) -> list[Playbook]:
    """The valid playbooks of one file; problems are appended to `issues`."""
    name = shown or str(path)
    try:
        data = load_yaml(path, max_bytes=MAX_FILE_BYTES)
    except ConfigError as exc:
        reason = str(exc)
        prefix = f"{exc.path}:{exc.line}: " if exc.line else f"{exc.path}: "
        issues.append(FileProblem(name, exc.line, reason[len(prefix):] if reason.startswith(prefix) else reason))
        return []
    if data is None:
        issues.append(FileProblem(name, None, "empty playbook file"))
        return []
    checker = _Checker(name, taxonomy, issues)
    items = data if isinstance(data, list) else [data]
    if len(items) > MAX_PLAYBOOKS_PER_FILE:
        issues.append(FileProblem(name, line_of(data), f"more than {MAX_PLAYBOOKS_PER_FILE} playbooks in one file"))
        return []
    out = []
    for i, raw in enumerate(items):
        default_id = path.stem.replace("_", "-") + ("" if i == 0 else f"-{i + 1}")
        pb = checker.playbook(raw, i, data, default_id, order_start + i)
        if pb is not None:
            out.append(pb)
    return out


def load_playbooks(targets: list[Path], taxonomy: Any = None,
                   shown: Callable[[Path], str] = str) -> tuple[list[Playbook], list[FileProblem]]:
    """Every valid playbook of `targets` and every problem found (ids must be unique across files)."""
    if taxonomy is None:
        from mosaic_diag.classifier.taxonomy import load_taxonomy

        taxonomy = load_taxonomy()
    issues: list[FileProblem] = []
    playbooks: list[Playbook] = []
    files = [f for t in targets for f in playbook_files(t)]
    if not files:
        issues.extend(FileProblem(str(t), None, "no playbook files (*.yml, *.yaml)") for t in targets)
    for f in files:
        playbooks += load_file(f, taxonomy, issues, order_start=len(playbooks), shown=shown(f))
    seen: dict[str, Playbook] = {}
    for pb in playbooks:
        if pb.id in seen:
            issues.append(FileProblem(pb.source, pb.line,
                                      f"duplicate playbook id {pb.id!r} (first at {seen[pb.id].where})"))
        else:
            seen[pb.id] = pb
    issues.sort(key=lambda i: (i.path, i.line or 0))
    return playbooks, issues
