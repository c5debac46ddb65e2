"""The values of the predeploy checks (Django `check` style): ids, messages, outcomes, the report."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaic_diag.config import Config

LEVELS = ("info", "warning", "error")


def level_rank(level: str) -> int:
    return LEVELS.index(level)


@dataclass(frozen=True)
class CheckId:
    """A stable message id with its default level, a title and a hint (the documentation)."""

    id: str
    level: str
    title: str
    hint: str = ""


@dataclass(frozen=True)
class Message:
    """What a check reports. `label` presets the taxonomy label; else `exc` is classified."""

    id: str
    message: str
    level: str | None = None          # default: the id's level
    hint: str | None = None           # default: the id's hint
    location: str | None = None       # file:line:col when it has one
    label: str | None = None
    exc: BaseException | None = field(default=None, compare=False, repr=False)
    facts: Mapping[str, Any] = field(default_factory=dict, compare=False)


class Skip(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a check that cannot run here (the reason is shown)."""


@dataclass(frozen=True)
class CheckContext:
    """Everything a check may look at: the target repo, its config and environment."""

    root: Path
    env: Mapping[str, str]
    config: Config
    timeout: float = 10.0


@dataclass(frozen=True)
class Check:
    """A registered check: a name, tags, the ids it may report, and the function."""

    name: str
    tags: tuple[str, ...]
    ids: tuple[CheckId, ...]
    run: Callable[[CheckContext], Iterable[Message]]
    description: str = ""

    def id_info(self, message_id: str) -> CheckId | None:
        return next((i for i in self.ids if i.id == message_id), None)


@dataclass(frozen=True)
class Result:
    """One reported message, resolved: level, hint, label, playbook advice and plan, silenced or not."""

    id: str
    level: str
    message: str
    hint: str
    location: str | None
    label: str | None
    category: str | None
    severity: str | None
    playbook: str | None
    diagnosis: str | None
    recommendation: str | None
    plan: tuple[str, ...] = ()       # the playbook's dry-run plan, one line per remediation step
    silenced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "plan": list(self.plan)}

    @property
    def located(self) -> str:
        """`location: message`, the message's own leading `file: ` left out when the location names that file
        (`s.json:1:1: 9 steps, expected 10`, not `s.json:1:1: s.json: 9 steps, …`)."""
        if not self.location:
            return self.message
        file = self.location.split(":", 1)[0]
        return f"{self.location}: {self.message.removeprefix(f'{file}: ')}"

    def advice(self) -> list[str]:
        """What a reader should do, one line each: hint, label, playbook, diagnosis, recommendation, plan."""
        lines = [self.hint] if self.hint else []
        if self.label:
            lines.append(f"label {self.label}" + (f" ({self.severity})" if self.severity else ""))
        if self.playbook:
            lines.append(f"playbook {self.playbook}")
        lines += [t for t in (self.diagnosis, self.recommendation) if t]
        return lines + [f"plan {line}" for line in self.plan]


@dataclass(frozen=True)
class Outcome:
    """One check's run."""

    check: str
    tags: tuple[str, ...]
    status: str            # passed | failed | warning | skipped | timeout
    duration: float
    results: tuple[Result, ...] = ()
    reason: str | None = None   # why it was skipped

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "tags": list(self.tags), "status": self.status,
                "duration": round(self.duration, 3), "reason": self.reason,
                "results": [r.to_dict() for r in self.results]}


@dataclass(frozen=True)
class Report:
    """All outcomes of a predeploy run."""

    outcomes: tuple[Outcome, ...]
    wall_time: float
    fail_level: str

    @property
    def failing(self) -> tuple[Result, ...]:
        return tuple(r for o in self.outcomes for r in o.results
                     if not r.silenced and level_rank(r.level) >= level_rank(self.fail_level))

    @property
    def exit_code(self) -> int:
        return 1 if self.failing else 0

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return {"checks": [o.to_dict() for o in self.outcomes],
                "summary": {"fail_level": self.fail_level, "failing": len(self.failing),
                            "statuses": counts, "wall_time": round(self.wall_time, 3),
                            "exit_code": self.exit_code}}
