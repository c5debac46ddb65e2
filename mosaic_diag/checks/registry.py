"""The registry of predeploy checks (one module per area) and `--only` / `--skip` selection."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module

from mosaic_diag.checks.model import Check, CheckId
from mosaic_diag.errors import UsageError

CHECK_MODULES = ("config", "settings", "database", "schema", "prompts", "providers", "golden", "lint", "manifest",
                 "render")


TIMEOUT_ID = CheckId("MD-TIMEOUT", "error", "A check did not finish within its timeout (the check is named)",
                     "raise predeploy.timeout or --timeout, or look at what the check waits for")


def all_checks() -> tuple[Check, ...]:
    """Every registered check, in run order (modules import their heavy libraries lazily)."""
    out: list[Check] = []
    for name in CHECK_MODULES:
        module = import_module(f"mosaic_diag.checks.{name}")
        out.extend(getattr(module, "CHECKS", None) or (module.CHECK,))
    return tuple(out)


@dataclass(frozen=True)
class Selection:
    """Which checks run, and which message ids of them are kept."""

    checks: tuple[Check, ...]
    only_ids: frozenset[str]     # empty: all ids of the selected checks
    skip_ids: frozenset[str]

    def keeps(self, check: Check, message_id: str) -> bool:
        if message_id in self.skip_ids:
            return False
        own = {i.id for i in check.ids} & self.only_ids
        return not own or message_id in own


def _tokens(values: Iterable[str]) -> list[str]:
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def select(checks: tuple[Check, ...], only: Iterable[str] = (), skip: Iterable[str] = ()) -> Selection:
    """`--only` / `--skip` by check name, tag or message id (case-insensitive)."""
    only_t, skip_t = [t.lower() for t in _tokens(only)], [t.lower() for t in _tokens(skip)]
    names = {c.name.lower() for c in checks} | {t.lower() for c in checks for t in c.tags}
    ids = {i.id.lower(): i.id for c in checks for i in c.ids}
    for token in (*only_t, *skip_t):
        if token not in names and token not in ids:
            known = ", ".join(sorted({c.name for c in checks} | {t for c in checks for t in c.tags}))
            raise UsageError(f"unknown check, tag or id {token!r}; checks and tags: {known}")

    def by_name_or_tag(check: Check, tokens: list[str]) -> bool:
        return any(t == check.name.lower() or t in {x.lower() for x in check.tags} for t in tokens)

    def by_id(check: Check, tokens: list[str]) -> bool:
        return any(i.id.lower() in tokens for i in check.ids)

    chosen = tuple(c for c in checks
                   if (not only_t or by_name_or_tag(c, only_t) or by_id(c, only_t)) and not by_name_or_tag(c, skip_t))
    return Selection(chosen,
                     frozenset(ids[t] for t in only_t if t in ids),
                     frozenset(ids[t] for t in skip_t if t in ids))
