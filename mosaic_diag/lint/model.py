"""The values the linter produces and the shape every rule has."""

from __future__ import annotations

import ast
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from mosaic_diag.lint.context import FileContext

# where Python ends a line (line numbers and columns count by these; str.splitlines also ends lines at a form
# feed, U+2028 and others)
PY_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, order=True)
class Finding:
    """One rule violation at file:line:col (1-based line and column)."""

    path: str
    line: int
    col: int
    code: str
    message: str
    name: str = ""
    fixes: tuple[Edit, ...] = field(default=(), compare=False)

    def to_text(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "col": self.col, "code": self.code,
                "name": self.name, "message": self.message, "fixable": bool(self.fixes)}


@dataclass(frozen=True)
class ParseFailure:
    """A file that is not valid Python (the linter cannot judge it)."""

    path: str
    line: int
    message: str


@dataclass(frozen=True)
class LintResult:
    """Findings over a set of files, and the files that did not parse."""

    findings: tuple[Finding, ...]
    failures: tuple[ParseFailure, ...]
    files: int
    unknown_tables: tuple[str, ...] = ()  # `path:line: table` of INSERTs into tables no schema declares
    digests: dict[str, str] = field(default_factory=dict, compare=False)  # path -> hash of the text linted


@dataclass(frozen=True)
class Edit:
    """A certainly-safe rewrite: at line:col (1-based, characters) the text `old` becomes `new`."""

    line: int
    col: int
    old: str
    new: str


@dataclass(frozen=True)
class Hit:
    """What a rule reports: the node at fault and why (line/col override the node's start)."""

    node: ast.AST
    message: str
    line: int | None = None
    col: int | None = None
    fixes: tuple[Edit, ...] = ()


class Rule(ABC):
    """A code rule: a stable `code`, a kebab-case `name`, and the class docstring as documentation."""

    code: ClassVar[str]
    name: ClassVar[str]

    @abstractmethod
    def check(self, ctx: FileContext) -> Iterator[Hit]:
        """The findings of this rule in one file."""

    @classmethod
    def summary(cls) -> str:
        """The first paragraph of the documentation, on one line."""
        return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
